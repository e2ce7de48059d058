#pragma once

#include <string>
#include <string_view>

namespace memopt {

/// Bytes from the outside world (a process's `comm`, a GPU name, a command argument, a path
/// in an error message) made safe to print in every output: valid UTF-8 passes unchanged;
/// each byte of an invalid sequence, each C0 control character, DEL, each C1 control
/// (U+0080..U+009F) and each bidirectional formatting character (U+061C, U+200E, U+200F,
/// U+202A..U+202E, U+2066..U+2069: they reorder the text shown after them) is written as
/// `\xNN` per byte (two lowercase hex digits). The result is valid UTF-8 without control
/// characters, so JSON, Prometheus labels, text and HTML can carry it.
///
/// The kernel cuts `comm` at 15 bytes and may split a multi-byte character: `ab模型推理服务器`
/// reads back as `ab模型推理` plus `\xe6`. A backslash is kept as it is, so the mapping is
/// for people to read, not to reverse.
///
/// `keep_line_breaks` keeps "\n" and "\t" (for multi-line error messages).
[[nodiscard]] std::string printable(std::string_view bytes, bool keep_line_breaks = false);

/// True when `printable(bytes, keep_line_breaks)` would return `bytes` unchanged.
[[nodiscard]] bool is_printable(std::string_view bytes, bool keep_line_breaks = false) noexcept;

}  // namespace memopt
