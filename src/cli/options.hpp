#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "memopt/analysis/report.hpp"
#include "memopt/config.hpp"
#include "memopt/model/target.hpp"
#include "memopt/roots.hpp"

// What every subcommand shares: the global flags and how a subcommand plugs in.
namespace memopt::cli {

/// Flags that apply to every subcommand.
struct GlobalOptions {
  Roots roots;  ///< --procfs, --sysfs; the page size their tree carries (config::tree_roots)
  std::optional<std::string> model;        ///< --model NAME (seed sizing table)
  std::optional<std::string> cgroup;       ///< --cgroup PATH: watch this cgroup ("/": the host)
  std::optional<int> pid;                  ///< --pid PID: watch this process's cgroup
  std::optional<std::string> config_file;  ///< --config FILE (else $MEMOPT_CONFIG)

  /// The target these flags name (throws Error(kUsage) when they conflict).
  [[nodiscard]] model::Target target() const;

  /// The configuration file in force: --config, else $MEMOPT_CONFIG, else none.
  [[nodiscard]] std::optional<config::ConfigSource> config_source() const;

  /// The configuration every command reads (defaults without a file); a bad file throws
  /// Error(kUsage) naming it and the line.
  [[nodiscard]] config::MonitorConfig load_config() const;

  /// The analysis options these flags ask for, with `config`'s thresholds (resolves --model;
  /// throws Error(kUsage)).
  [[nodiscard]] analysis::AnalysisOptions analysis_options(
      const config::MonitorConfig& config) const;

  /// The same with the configuration load_config() reads.
  [[nodiscard]] analysis::AnalysisOptions analysis_options() const {
    return analysis_options(load_config());
  }
};

/// Prints a warning on stderr for each old key spelling `config`'s file used.
void warn_deprecated_keys(const config::MonitorConfig& config);

/// What a command prints: `--format FORMAT`, with `--json` as the alias of `--format json`
/// (docs/naming.md), as `report` has them.
struct OutputFormat {
  std::string format = "text";
  bool json = false;  ///< --json: wins over --format, as in `report --format text --json`
  [[nodiscard]] bool is_json() const { return json || format == "json"; }
};

/// Adds `--format` (one of `formats`, the first the default) and `--json` to `command`.
/// Returns the `--json` option (for needs()/excludes()).
CLI::Option* add_format_options(CLI::App& command, OutputFormat& output,
                                const std::vector<std::string>& formats,
                                const std::string& json_help = "Same as --format json");

/// The action a parsed subcommand runs; returns the process exit code.
using Action = std::function<int()>;

/// Adds the global flags (--procfs, --sysfs, --model, --cgroup, --pid, --config) to `app`.
void add_global_options(CLI::App& app, GlobalOptions& global);

/// Registers `memopt report` on `app`; sets `action` when it is chosen.
void add_report_command(CLI::App& app, const GlobalOptions& global, Action& action);

/// Registers `memopt run`.
void add_run_command(CLI::App& app, const GlobalOptions& global, Action& action);

/// Registers `memopt monitor`.
void add_monitor_command(CLI::App& app, const GlobalOptions& global, Action& action);

/// Registers `memopt diagnose`.
void add_diagnose_command(CLI::App& app, const GlobalOptions& global, Action& action);

/// Registers `memopt top`.
void add_top_command(CLI::App& app, const GlobalOptions& global, Action& action);

/// Registers `memopt cleanup`.
void add_cleanup_command(CLI::App& app, const GlobalOptions& global, Action& action);

/// Registers `memopt recommend`.
void add_recommend_command(CLI::App& app, const GlobalOptions& global, Action& action);

/// Registers `memopt history`.
void add_history_command(CLI::App& app, const GlobalOptions& global, Action& action);

/// Registers `memopt postmortem`.
void add_postmortem_command(CLI::App& app, const GlobalOptions& global, Action& action);

}  // namespace memopt::cli
