#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

// Typed reads of JSON values that another program (or an older memopt) wrote: the cleanup
// socket's answers (protocol) and stored post-mortems (record). A value that is missing or not
// of its type reads as absent: never an exception, never a made-up figure. Templates over the
// JSON type: nlohmann::json (protocol) and nlohmann::ordered_json (record) alike.
namespace memopt {

/// `object[key]`, or a null value when `object` is not an object or has no such member.
template <class Json>
[[nodiscard]] const Json& member(const Json& object, const char* key) {
  static const Json kAbsent;
  if (!object.is_object()) return kAbsent;
  const auto it = object.find(key);
  return it == object.end() ? kAbsent : *it;
}

/// A string.
template <class Json>
[[nodiscard]] std::optional<std::string> text_of(const Json& value) {
  if (!value.is_string()) return std::nullopt;
  return value.template get<std::string>();
}

/// A finite number (an integer read as a double).
template <class Json>
[[nodiscard]] std::optional<double> real_of(const Json& value) {
  if (!value.is_number()) return std::nullopt;
  const auto real = value.template get<double>();
  if (!std::isfinite(real)) return std::nullopt;
  return real;
}

/// An integer that fits int64: one written unsigned at 2^63 or above is absent, not wrapped.
template <class Json>
[[nodiscard]] std::optional<std::int64_t> signed_of(const Json& value) {
  if (value.is_number_unsigned()) {
    const auto whole = value.template get<std::uint64_t>();
    if (whole > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::nullopt;
    return static_cast<std::int64_t>(whole);
  }
  if (value.is_number_integer()) return value.template get<std::int64_t>();
  return std::nullopt;
}

/// A count written as a whole number from 0 to 2^63 - 1; a float, a negative number or a figure
/// past int64 is absent, not rounded. What a peer's answer must hold (protocol).
template <class Json>
[[nodiscard]] std::optional<std::uint64_t> whole_of(const Json& value) {
  if (!value.is_number_integer()) return std::nullopt;
  const auto whole = signed_of(value);
  if (!whole || *whole < 0) return std::nullopt;
  return static_cast<std::uint64_t>(*whole);
}

/// A count written as any number: an unsigned integer, or a finite number from 0 to below
/// 1.8e19 taken whole (documents an older memopt wrote hold some counts as doubles).
template <class Json>
[[nodiscard]] std::optional<std::uint64_t> count_of(const Json& value) {
  if (value.is_number_unsigned()) return value.template get<std::uint64_t>();
  const auto real = real_of(value);
  if (!real || *real < 0 || *real >= 1.8e19) return std::nullopt;
  return static_cast<std::uint64_t>(*real);
}

/// The same read of `object[key]` (absent when `object` is not an object or lacks it).
template <class Json>
[[nodiscard]] std::optional<std::string> text_at(const Json& object, const char* key) {
  return text_of(member(object, key));
}
template <class Json>
[[nodiscard]] std::optional<double> real_at(const Json& object, const char* key) {
  return real_of(member(object, key));
}
template <class Json>
[[nodiscard]] std::optional<std::int64_t> signed_at(const Json& object, const char* key) {
  return signed_of(member(object, key));
}
template <class Json>
[[nodiscard]] std::optional<std::uint64_t> whole_at(const Json& object, const char* key) {
  return whole_of(member(object, key));
}

}  // namespace memopt
