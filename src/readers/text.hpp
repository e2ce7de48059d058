#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

// Small text helpers shared by the parsers: splitting without allocation, strict numbers.
namespace memopt::readers::detail {

/// Iterates the lines of `text` ("\n"-separated; a final line without "\n" counts), with
/// 1-based numbers for error messages.
class Lines {
 public:
  explicit Lines(std::string_view text) : rest_(text) {}

  /// The next line, or std::nullopt at the end.
  std::optional<std::string_view> next() {
    if (rest_.empty()) return std::nullopt;
    const auto nl = rest_.find('\n');
    std::string_view line = rest_.substr(0, nl);
    rest_ = nl == std::string_view::npos ? std::string_view{} : rest_.substr(nl + 1);
    ++number_;
    return line;
  }
  [[nodiscard]] int number() const { return number_; }

 private:
  std::string_view rest_;
  int number_ = 0;
};

/// `text` without leading and trailing spaces, tabs and newlines.
inline std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\n\r";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

/// The next whitespace-separated field of `text` (advanced past it); empty at the end.
inline std::string_view next_field(std::string_view& text) {
  const auto start = text.find_first_not_of(" \t");
  if (start == std::string_view::npos) {
    text = {};
    return {};
  }
  text.remove_prefix(start);
  const auto end = text.find_first_of(" \t");
  const std::string_view field = text.substr(0, end);
  text = end == std::string_view::npos ? std::string_view{} : text.substr(end);
  return field;
}

/// The whole of `text` as an unsigned decimal, or std::nullopt (signs, spaces, overflow and
/// trailing characters are all rejected).
inline std::optional<std::uint64_t> to_u64(std::string_view text) {
  std::uint64_t value = 0;
  if (text.empty() || text.front() == '+') return std::nullopt;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

/// The whole of `text` as a finite, non-negative decimal, or std::nullopt.
inline std::optional<double> to_non_negative_double(std::string_view text) {
  double value = 0;
  if (text.empty() || text.front() == '+' || text.front() == '-') return std::nullopt;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || !(value >= 0 && value < 1e300)) {
    return std::nullopt;
  }
  return value;
}

/// `path` is `prefix` or lies below it ("/a" contains "/a" and "/a/b", not "/ab").
inline bool path_within(std::string_view path, std::string_view prefix) {
  if (prefix == "/") return path.starts_with('/');
  return path.substr(0, prefix.size()) == prefix &&
         (path.size() == prefix.size() || path[prefix.size()] == '/');
}

}  // namespace memopt::readers::detail
