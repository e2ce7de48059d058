#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/analysis/watch.hpp"

// The TOML configuration every command reads (`--config FILE`, else $MEMOPT_CONFIG):
// defaults < $MEMOPT_CONFIG < --config FILE < the command line's flags.
namespace memopt::config {

/// [protect] (`monitor --protect`): the escalation past cleanup. Off unless enabled.
struct ProtectConfig {
  bool enabled = false;     ///< [protect] enabled / --protect: shed, then kill one victim
  bool dry_run = false;     ///< [protect] dry_run / --dry-run: log each decision, act on nothing
  bool allow_host = false;  ///< [protect] allow_host / --allow-host: may act without a cgroup
  /// [protect] shed_level: ask cooperating processes to shed at this level (default severe).
  analysis::Level shed_level = analysis::Level::kSevere;
  std::chrono::seconds shed_cooldown{
      10};  ///< [protect] shed_cooldown_seconds: at most one per this
  /// [protect] forecast_seconds: also kill at severe when usage, at its rate over the last second,
  /// reaches the limit within this many seconds (0: only at danger).
  double forecast_seconds = 1.0;
  std::chrono::milliseconds grace{2000};  ///< [protect] grace_ms: SIGTERM, then SIGKILL
  std::vector<std::string> prefer;        ///< [protect] prefer / --prefer: glob on comm/cmdline
  std::vector<std::string> protect;       ///< [protect] protect_process / --protect-process
  std::vector<std::string> pid_files;     ///< [protect] protect_pidfile / --protect-pidfile
};

/// `monitor --record`: how long the history keeps each resolution, and how large it may grow.
struct RecordConfig {
  std::chrono::seconds full{3600};         ///< [record] full_seconds: every observation and sample
  std::chrono::seconds ten_second{86400};  ///< [record] ten_second_seconds: 10 s buckets
  std::chrono::seconds minute{8 * 86400};  ///< [record] minute_seconds: 1 min buckets, then gone
  std::uint64_t max_bytes = 256ull << 20;  ///< [record] max_size: oldest rows go first above it
  std::size_t processes = 10;              ///< [record] processes: per full sample, by PSS
};

/// Everything the monitor can be configured with.
struct MonitorConfig {
  analysis::WatchParams watch;
  std::chrono::seconds interval{60};              ///< [monitor] interval_seconds: full samples
  std::chrono::milliseconds watch_interval{250};  ///< [monitor] watch_ms: the cheap counter
  std::size_t top = 5;                            ///< [monitor] top: processes per sample
  /// [monitor] containers / --containers: every limited leaf cgroup under the target in each
  /// full sample (a node's view: /metrics' memopt_container_* and /api/report's containers).
  bool containers = false;
  std::optional<std::string> on_alert;     ///< [hooks] on_alert: a command line
  std::chrono::seconds alert_timeout{10};  ///< [hooks] timeout_seconds
  /// [cleanup] auto_cleanup / --auto-cleanup: run `memopt cleanup` when the level reaches this one
  /// (none: never).
  std::optional<analysis::Level> auto_cleanup;
  std::chrono::seconds cleanup_cooldown{300};  ///< [cleanup] cooldown_seconds: at most one per this
  ProtectConfig protect;                       ///< [protect]
  RecordConfig record;                         ///< [record]
  /// One warning per old key spelling the file used ("FILE:LINE: [monitor] interval_s is
  /// deprecated, write interval_seconds"), for the front end to print (docs/naming.md).
  std::vector<std::string> deprecated_keys;
};

/// What `monitor`'s flags set over the file: applied after every load, reloads included
/// (defaults < file < flags). Lists add to the file's.
struct MonitorOverrides {
  std::optional<unsigned> interval_s;          ///< INTERVAL_S
  bool containers = false;                     ///< --containers
  std::optional<std::string> on_alert;         ///< --on-alert
  std::optional<std::string> auto_cleanup;     ///< --auto-cleanup: a level name, checked on apply
  bool protect = false;                        ///< --protect
  bool dry_run = false;                        ///< --dry-run
  bool allow_host = false;                     ///< --allow-host
  std::vector<std::string> prefer;             ///< --prefer
  std::vector<std::string> protect_processes;  ///< --protect-process
  std::vector<std::string> protect_pid_files;  ///< --protect-pidfile
};

/// Applies `overrides` to `config`; a bad --auto-cleanup level throws Error(kUsage).
void apply_overrides(const MonitorOverrides& overrides, MonitorConfig& config);

/// Refuses (Error(kUsage)) the flags that only shape protection (--dry-run, --allow-host,
/// --prefer, --protect-process, --protect-pidfile) when neither --protect nor the file's
/// [protect] enabled turns it on: accepted silently, `--dry-run` alone would read as a safe
/// rehearsal while nothing is rehearsed. `config` is the configuration with `overrides` applied.
void check_overrides(const MonitorOverrides& overrides, const MonitorConfig& config);

/// The environment variable that names the configuration when no --config is given.
inline constexpr const char* kConfigVariable = "MEMOPT_CONFIG";

/// Where a configuration comes from: its path and who named it ("--config", "$MEMOPT_CONFIG",
/// "config=" for Python), which errors about an unreadable file name.
struct ConfigSource {
  std::string path;
  std::string origin;
};

/// The configuration file in force: `given` (--config FILE, Python's config=) when set, else
/// $MEMOPT_CONFIG when set and not empty, else none (the defaults). `given_origin` is how
/// `given` is named in errors.
[[nodiscard]] std::optional<ConfigSource> find_config(const std::optional<std::string>& given,
                                                      std::string_view given_origin = "--config");

/// The configuration every command reads: the file find_config() names, parsed over `base`;
/// `base` when there is none. A file that cannot be read or parsed throws Error(kUsage)
/// naming it (and the line), the same in every command.
[[nodiscard]] MonitorConfig load_config(const std::optional<ConfigSource>& source,
                                        MonitorConfig base = {});

/// What `monitor` (and Python's Monitor) starts with: load_config(), then the flags'
/// `overrides` (apply_overrides()), then check_overrides().
[[nodiscard]] MonitorConfig monitor_config(const std::optional<ConfigSource>& source,
                                           const MonitorOverrides& overrides,
                                           MonitorConfig base = {});

/// The levels --auto-cleanup and [cleanup] auto_cleanup accept, as help, errors and the shell
/// completion list them.
inline constexpr std::string_view kCleanupLevels = "acceptable, warning, severe, danger";

/// Parses an --auto-cleanup / [cleanup] auto_cleanup value: acceptable, warning, severe or
/// danger ("normal" would clean up every cooldown). Throws Error(kUsage) naming `what`.
[[nodiscard]] analysis::Level parse_cleanup_level(std::string_view name, std::string_view what);

/// Parses a --shed-level / [protect] shed_level value: warning, severe or danger. Throws
/// Error(kUsage) naming `what`.
[[nodiscard]] analysis::Level parse_shed_level(std::string_view name, std::string_view what);

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
/// key on a syntax error, an unknown table or key, a wrong type or an out-of-range value, and
/// on both spellings of one renamed key; an old spelling alone is read, with a warning in
/// `deprecated_keys` (docs/naming.md has the table).
///
///   [thresholds] acceptable_percent, warning_percent, severe_percent (0-100, increasing),
///                danger_available ("50M" or bytes), margin_percent, danger_margin ("16M")
///   [monitor]    interval_seconds (1-86400), watch_ms (50-1000), top (0-1000)
///   [pressure]   some_avg10_percent, full_avg10_percent (0: that one is off)
///   [leak]       window_seconds, min_slope_mib_per_hour, min_r2 (0-1), processes
///   [forecast]   window_seconds, horizon_seconds, min_r2 (0-1)
///   [hooks]      on_alert (command line), timeout_seconds (1-3600)
///   [cleanup]    auto_cleanup (acceptable, warning, severe, danger), cooldown_seconds
///                (10-86400)
///   [protect]    enabled, dry_run, allow_host (booleans), shed_level (warning, severe,
///                danger), shed_cooldown_seconds (1-3600), forecast_seconds (0-60), grace_ms
///                (100-60000), prefer, protect_process, protect_pidfile (arrays of strings)
///   [record]     full_seconds (60-86400), ten_second_seconds, minute_seconds (each at least
///                the one before, at most 366 days), max_size ("256M", at least 1M),
///                processes (1-1000)
[[nodiscard]] MonitorConfig parse_monitor_config(std::string_view text, std::string_view source,
                                                 MonitorConfig base = {});

/// Reads the file `path` and parses it over `base`; a file that cannot be read throws
/// Error(kUsage) naming `origin` (who named the file: "--config", "$MEMOPT_CONFIG"), the file
/// and why.
[[nodiscard]] MonitorConfig load_monitor_config(const std::string& path, MonitorConfig base = {},
                                                std::string_view origin = "--config");

}  // namespace memopt::config
