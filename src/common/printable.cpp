#include "memopt/printable.hpp"

#include <cstdint>

namespace memopt {

namespace {

// The length of the valid UTF-8 sequence at the start of `s` (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF), or 0 when the first byte does not start one.
std::size_t utf8_sequence(std::string_view s) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(s[i]); };
  const auto cont = [&](std::size_t i) { return i < s.size() && (byte(i) & 0xC0) == 0x80; };
  const std::uint8_t b0 = byte(0);
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (b0 == 0xE0 && byte(1) < 0xA0) return 0;   // overlong
    if (b0 == 0xED && byte(1) >= 0xA0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (b0 == 0xF0 && byte(1) < 0x90) return 0;   // overlong
    if (b0 == 0xF4 && byte(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;  // a continuation byte, 0xC0/0xC1 or 0xF5..0xFF
}

// The bidirectional formatting characters (Unicode TR9): they reorder what a terminal or page
// shows after them ("Trojan Source"), so text from outside never carries them raw. U+061C
// ALM; U+200E LRM, U+200F RLM; U+202A..U+202E embeddings and overrides; U+2066..U+2069
// isolates.
bool is_bidi_control(std::string_view sequence) noexcept {
  if (sequence.size() == 2) return sequence == "\xd8\x9c";
  if (sequence.size() != 3 || static_cast<std::uint8_t>(sequence[0]) != 0xE2) return false;
  const auto b1 = static_cast<std::uint8_t>(sequence[1]);
  const auto b2 = static_cast<std::uint8_t>(sequence[2]);
  if (b1 == 0x80) return b2 == 0x8E || b2 == 0x8F || (b2 >= 0xAA && b2 <= 0xAE);
  return b1 == 0x81 && b2 >= 0xA6 && b2 <= 0xA9;
}

bool is_control(std::string_view sequence, bool keep_line_breaks) noexcept {
  const auto b0 = static_cast<std::uint8_t>(sequence[0]);
  if (sequence.size() == 1) {
    if (keep_line_breaks && (b0 == '\n' || b0 == '\t')) return false;
    return b0 < 0x20 || b0 == 0x7F;
  }
  // U+0080..U+009F are encoded as C2 80..C2 9F.
  if (sequence.size() == 2 && b0 == 0xC2) return static_cast<std::uint8_t>(sequence[1]) < 0xA0;
  return is_bidi_control(sequence);
}

void escape(std::string& out, std::string_view bytes) {
  constexpr char kHex[] = "0123456789abcdef";
  for (const char c : bytes) {
    const auto b = static_cast<std::uint8_t>(c);
    out += "\\x";
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  }
}

}  // namespace

bool is_printable(std::string_view bytes, bool keep_line_breaks) noexcept {
  while (!bytes.empty()) {
    const std::size_t n = utf8_sequence(bytes);
    if (n == 0 || is_control(bytes.substr(0, n), keep_line_breaks)) return false;
    bytes.remove_prefix(n);
  }
  return true;
}

std::string printable(std::string_view bytes, bool keep_line_breaks) {
  if (is_printable(bytes, keep_line_breaks)) return std::string(bytes);
  std::string out;
  out.reserve(bytes.size() + 16);
  while (!bytes.empty()) {
    const std::size_t n = utf8_sequence(bytes);
    if (n == 0) {
      escape(out, bytes.substr(0, 1));
      bytes.remove_prefix(1);
      continue;
    }
    const std::string_view sequence = bytes.substr(0, n);
    if (is_control(sequence, keep_line_breaks))
      escape(out, sequence);
    else
      out += sequence;
    bytes.remove_prefix(n);
  }
  return out;
}

}  // namespace memopt
