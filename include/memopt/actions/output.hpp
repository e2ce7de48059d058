#pragma once

#include <string>
#include <string_view>

// Where a command's document goes: standard output, or the file a flag names (--output,
// --timeline, --html).
namespace memopt::actions {

/// Writes `content` to standard output (flushed) when `path` is empty, else creates or replaces
/// the file `path` with it; throws Error naming the path when it cannot.
void write_output(const std::string& path, std::string_view content);

}  // namespace memopt::actions
