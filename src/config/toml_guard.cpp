#include <fmt/format.h>

#include <cstdint>
#include <string>

#include "memopt/config.hpp"
#include "memopt/error.hpp"
#include "memopt/printable.hpp"

namespace memopt::config {

namespace {

enum class State { kCode, kComment, kBasic, kLiteral, kMultiBasic, kMultiLiteral };

// The length of the UTF-8 sequence at `s` when it is valid (as printable() judges), else 0.
std::size_t sequence_length(std::string_view s) {
  const auto b0 = static_cast<std::uint8_t>(s[0]);
  const std::size_t n = b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
  if (n > s.size() || b0 >= 0xF5 || (b0 >= 0x80 && b0 < 0xC2)) return 0;
  const std::string_view sequence = s.substr(0, n);
  // printable() leaves a valid sequence as it is (C0/C1 controls aside, checked by length).
  if (n == 1) return 1;
  for (std::size_t i = 1; i < n; ++i) {
    if ((static_cast<std::uint8_t>(sequence[i]) & 0xC0) != 0x80) return 0;
  }
  const auto b1 = static_cast<std::uint8_t>(sequence[1]);
  if ((b0 == 0xE0 && b1 < 0xA0) || (b0 == 0xED && b1 >= 0xA0) || (b0 == 0xF0 && b1 < 0x90) ||
      (b0 == 0xF4 && b1 >= 0x90)) {
    return 0;
  }
  return n;
}

// How many of `quote` start `text` at `i` (at most `limit`).
std::size_t run_of(std::string_view text, std::size_t i, char quote, std::size_t limit) {
  std::size_t n = 0;
  while (i + n < text.size() && n < limit && text[i + n] == quote) ++n;
  return n;
}

// The code point of a valid multi-byte sequence.
std::uint32_t decode(std::string_view sequence) {
  auto value = static_cast<std::uint32_t>(static_cast<std::uint8_t>(sequence[0]) &
                                          (0xFF >> (sequence.size() + 1)));
  for (std::size_t k = 1; k < sequence.size(); ++k)
    value = (value << 6) | (static_cast<std::uint8_t>(sequence[k]) & 0x3F);
  return value;
}

// "U+FEFE" for a valid multi-byte sequence.
std::string code_point(std::string_view sequence) {
  return fmt::format("U+{:04X}", decode(sequence));
}

// The code points for which toml++ 3.3's is_non_ascii_horizontal_whitespace() reaches
// __builtin_unreachable: its table's blocks 0, 11 and 63 (of 0x3FA code points from U+00A0)
// except the three spaces it names. The parser asks that question of characters it scans
// ahead over (values, error recovery), inside quotes too, so these are refused everywhere
// but in comments.
bool unsafe_for_tomlpp(std::uint32_t c) {
  if (c == 0xA0 || c == 0x3000 || c == 0xFEFF) return false;
  return (c > 0xA0 && c < 0xA0 + 0x3FA) || (c >= 0xA0 + 11 * 0x3FA && c < 0xA0 + 12 * 0x3FA) ||
         (c >= 0xA0 + 63 * 0x3FA && c < 0xFEFF);
}

bool is_key_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '"' || c == '\'';
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

void check_toml_input(std::string_view text, std::string_view source) {
  const auto refuse = [&](int line, std::string_view what) {
    throw Error(fmt::format("{}:{}: {}", source, line, what), Error::Kind::kUsage);
  };
  State state = State::kCode;
  int line = 1;
  bool after_backslash = false;  // multi-line basic string: the character after a '\'
  bool skipping = false;         // multi-line basic string: the blank run after a line-ending '\'
  bool line_start = true;        // only blanks since the start of this line (outside strings)
  // A leading byte order mark is skipped by toml++ itself.
  std::size_t i = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  while (i < text.size()) {
    const std::size_t n = sequence_length(text.substr(i));
    if (n == 0) {
      refuse(line, fmt::format("bytes that are not UTF-8 ({})", printable(text.substr(i, 1))));
    }
    const char c = text[i];
    const bool ascii = n == 1;
    std::size_t step = n;
    if (!ascii && state != State::kComment && unsafe_for_tomlpp(decode(text.substr(i, n)))) {
      const auto cp = code_point(text.substr(i, n));
      refuse(line, fmt::format("{}: toml++ 3.3 cannot read this character safely outside a "
                               "comment; in a string, write it as \\u{}",
                               cp, cp.substr(2)));
    }
    switch (state) {
      case State::kCode:
        if (!ascii) {
          refuse(line, fmt::format("{} outside a string or comment (keys and values other than "
                                   "strings are ASCII in TOML)",
                                   code_point(text.substr(i, n))));
        }
        if (c == '[' && line_start) {
          // toml++ 3.3 parses a table header's key without checking its first character
          // (an assertion, an assumption in release builds): "[=x]" is undefined behaviour.
          std::size_t k = i + 1;
          if (k < text.size() && text[k] == '[') ++k;
          while (k < text.size() && (text[k] == ' ' || text[k] == '\t')) ++k;
          if (k < text.size() && !is_key_start(text[k]) && text[k] != ']') {
            refuse(line,
                   "a table header must start with a key (letters, digits, '_', '-' or a "
                   "quoted name)");
          }
        }
        if (c != ' ' && c != '\t') line_start = c == '\n';
        if (c == '#') state = State::kComment;
        if (c == '"' || c == '\'') {
          const std::size_t quotes = run_of(text, i, c, 3);
          if (quotes == 3) {
            state = c == '"' ? State::kMultiBasic : State::kMultiLiteral;
            step = 3;
          } else {
            state = c == '"' ? State::kBasic : State::kLiteral;
          }
        }
        break;
      case State::kComment:
        if (c == '\n') {
          state = State::kCode;
          line_start = true;
        }
        break;
      case State::kBasic:
        // An escaped ASCII character is stepped over (`\"` does not end the string); anything
        // else after the backslash is read next, checked like every other character.
        if (c == '\\' && i + 1 < text.size()) {
          if (sequence_length(text.substr(i + 1)) == 1) step = 2;
        } else if (c == '"' || c == '\n') {
          state = State::kCode;
        }
        break;
      case State::kLiteral:
        if (c == '\'' || c == '\n') state = State::kCode;
        break;
      case State::kMultiBasic:
        // toml++ 3.3 asks its Unicode whitespace table about the character after a '\' and
        // the blank run after a line-ending '\': for some non-ASCII characters (U+032A,
        // U+3001, U+FEFE, ...) that lookup reaches __builtin_unreachable (marzer/tomlplusplus
        // #295, fixed upstream in #305). Refuse them there; elsewhere in strings they are fine.
        if ((after_backslash || skipping) && !ascii) {
          refuse(line, fmt::format("{} right after a backslash in a multi-line string: toml++ "
                                   "cannot read it safely there; start the line with an ASCII "
                                   "character",
                                   code_point(text.substr(i, n))));
        }
        if (after_backslash) {
          after_backslash = false;
          skipping = is_space(c);
        } else if (skipping && !is_space(c)) {
          skipping = false;
        }
        if (!skipping && c == '\\') {
          after_backslash = true;
        } else if (!skipping && c == '"' && run_of(text, i, '"', 3) == 3) {
          step = run_of(text, i, '"', 5);  // up to two quotes belong to the string
          state = State::kCode;
        }
        break;
      case State::kMultiLiteral:
        if (c == '\'' && run_of(text, i, '\'', 3) == 3) {
          step = run_of(text, i, '\'', 5);
          state = State::kCode;
        }
        break;
    }
    for (std::size_t k = i; k < i + step && k < text.size(); ++k) {
      if (text[k] == '\n') ++line;
    }
    i += step;
  }
}

}  // namespace memopt::config
