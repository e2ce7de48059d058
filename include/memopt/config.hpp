#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "memopt/analysis/watch.hpp"

// `memopt monitor --config FILE`: TOML settings. Defaults < file < flags.
namespace memopt::config {

/// Everything the monitor can be configured with.
struct MonitorConfig {
  analysis::WatchParams watch;
  std::chrono::seconds interval{60};              ///< [monitor] interval_s: full samples
  std::chrono::milliseconds watch_interval{250};  ///< [monitor] watch_ms: the cheap counter
  std::size_t top = 5;                            ///< [monitor] top: processes per sample
  std::optional<std::string> on_alert;            ///< [hooks] on_alert: a command line
  std::chrono::seconds alert_timeout{10};         ///< [hooks] timeout_s
  /// [cleanup] auto_level: run `memopt cleanup` when the level reaches this one (none: never).
  std::optional<analysis::Level> auto_cleanup;
  std::chrono::seconds cleanup_cooldown{300};  ///< [cleanup] cooldown_s: at most one per this
};

/// Parses an --auto-cleanup / [cleanup] auto_level value: acceptable, warning, severe or
/// danger ("normal" would clean up every cooldown). Throws Error(kUsage) naming `what`.
[[nodiscard]] analysis::Level parse_cleanup_level(std::string_view name, std::string_view what);

/// Refuses, before toml++ sees it, input that Debian's toml++ 3.3 cannot parse safely: bytes
/// that are not UTF-8; outside comments, the code points whose whitespace lookup in toml++ is
/// undefined behaviour (U+00A1-U+0499, U+2C5E-U+3057 but U+3000, U+FB26-U+FEFE: U+FEFE,
/// U+032A of marzer/tomlplusplus #295, U+3001, U+00E9...; in a string write them as \uXXXX);
/// other non-ASCII characters outside strings and comments (invalid TOML anyway) and right
/// after a backslash in a multi-line basic string; a table header that does not start with a
/// key character ("[=x]", an assertion in toml++). Throws Error(kUsage) naming `source`, the
/// line and the code point. parse_monitor_config() calls it first.
void check_toml_input(std::string_view text, std::string_view source);

/// Parses a TOML config over `base`. Throws Error(kUsage) naming `source`, the line and the
/// key on a syntax error, an unknown table or key, a wrong type or an out-of-range value.
///
///   [thresholds] acceptable_percent, warning_percent, severe_percent (0-100, increasing),
///                danger_available ("50M" or bytes), margin_percent, danger_margin ("16M")
///   [monitor]    interval_s (1-86400), watch_ms (50-1000), top (0-1000)
///   [pressure]   some_avg10, full_avg10 (percent; 0: that one is off)
///   [leak]       window_s, min_slope_mib_per_hour, min_r2 (0-1), processes
///   [forecast]   window_s, horizon_s, min_r2 (0-1)
///   [hooks]      on_alert (command line), timeout_s (1-3600)
///   [cleanup]    auto_level (acceptable, warning, severe, danger), cooldown_s (10-86400)
[[nodiscard]] MonitorConfig parse_monitor_config(std::string_view text, std::string_view source,
                                                 MonitorConfig base = {});

}  // namespace memopt::config
