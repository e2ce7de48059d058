#include "cli/options.hpp"

#include <cstdio>

namespace memopt::cli {

analysis::AnalysisOptions GlobalOptions::analysis_options(
    const config::MonitorConfig& config) const {
  analysis::AnalysisOptions options;
  options.thresholds = config.watch.thresholds;
  if (model) options.model = analysis::find_model(*model);
  return options;
}

std::optional<config::ConfigSource> GlobalOptions::config_source() const {
  return config::find_config(config_file);
}

config::MonitorConfig GlobalOptions::load_config() const {
  auto config = config::load_config(config_source());
  warn_deprecated_keys(config);
  return config;
}

void warn_deprecated_keys(const config::MonitorConfig& config) {
  for (const auto& warning : config.deprecated_keys) {
    std::fputs(("memopt: warning: " + warning + "\n").c_str(), stderr);
  }
}

model::Target GlobalOptions::target() const { return model::make_target(cgroup, pid); }

CLI::Option* add_format_options(CLI::App& command, OutputFormat& output,
                                const std::vector<std::string>& formats,
                                const std::string& json_help) {
  output.format = formats.front();
  std::string names;
  for (const auto& f : formats) names += (names.empty() ? "" : ", ") + f;
  command.add_option("--format", output.format, "Output format: " + names)
      ->check(CLI::IsMember(formats))
      ->capture_default_str();
  return command.add_flag("--json", output.json, json_help);
}

void add_global_options(CLI::App& app, GlobalOptions& global) {
  app.add_option("--procfs", global.roots.procfs, "Where procfs is mounted")
      ->default_str(global.roots.procfs);
  app.add_option("--sysfs", global.roots.sysfs, "Where sysfs is mounted")
      ->default_str(global.roots.sysfs);
  app.add_option("--model", global.model,
                 "Compare with this model's size (maptr, petr, streampetr, topomlp, vad)");
  app.add_option("--cgroup", global.cgroup,
                 "Watch this cgroup: a path as /proc/PID/cgroup writes it (/kubepods/pod1/ctr) or "
                 "a directory under /sys/fs/cgroup; / watches the host (default: memopt's own)");
  app.add_option("--pid", global.pid, "Watch the cgroup of this process (a sidecar: the model's)");
  app.add_option("--config", global.config_file,
                 "TOML settings that every command reads (thresholds; the monitor's cadences, "
                 "hooks, cleanup, protection, recording); default: $MEMOPT_CONFIG");
}

}  // namespace memopt::cli
