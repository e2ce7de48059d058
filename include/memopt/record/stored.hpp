#pragma once

#include <optional>
#include <string>
#include <string_view>

// Checks of documents read back from the history database: whatever is stored there (a damaged
// file, another program's rows, a hand edit) is validated before a view reads it.
namespace memopt::record {

/// Why a stored post-mortem document (memopt.postmortem/1) cannot be shown, or nullopt when it
/// has every member, of the right type and range, that the text, JSON and HTML views read, and
/// nests no deeper than 64 levels.
[[nodiscard]] std::optional<std::string> postmortem_problem(std::string_view json);

/// A stored event line's fields that the history views show.
struct StoredEvent {
  std::string timestamp;  ///< RFC 3339, as rendered
  std::string name;       ///< "level_changed", "oom_kill", ...
  std::string message;
};

/// Decodes a stored event line (the monitor's JSON line); nullopt when it is not JSON, not an
/// object, nests deeper than 64 levels, or lacks a string "timestamp", "event" or "message".
[[nodiscard]] std::optional<StoredEvent> decode_event_line(std::string_view json);

}  // namespace memopt::record
