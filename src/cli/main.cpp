#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/options.hpp"
#include "memopt/error.hpp"
#include "memopt/version.hpp"

namespace {

/// The seed's `memory_optimizer.py --report | --cleanup | --monitor N` flags, kept working by
/// rewriting them into subcommands before parsing.
std::vector<std::string> translate_seed_flags(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (auto& arg : args) {
    if (arg == "--report")
      arg = "report";
    else if (arg == "--cleanup")
      arg = "cleanup";
    else if (arg == "--monitor")
      arg = "monitor";
    else
      continue;
    break;
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  using memopt::Error;
  memopt::cli::GlobalOptions global;
  memopt::cli::Action action;

  CLI::App app{"memopt: the memory guard for AI-model inference containers", "memopt"};
  app.require_subcommand(1);
  // Global flags may follow the subcommand too (`memopt report --procfs DIR`).
  app.fallthrough();
  app.set_version_flag(
      "--version", fmt::format("memopt {} (revision {})", memopt::version(), memopt::revision()),
      "Print memopt's version and git revision, then exit");
  memopt::cli::add_global_options(app, global);
  memopt::cli::add_report_command(app, global, action);
  memopt::cli::add_run_command(app, global, action);
  memopt::cli::add_recommend_command(app, global, action);
  memopt::cli::add_diagnose_command(app, global, action);
  memopt::cli::add_monitor_command(app, global, action);
  memopt::cli::add_cleanup_command(app, global, action);
  memopt::cli::add_history_command(app, global, action);
  memopt::cli::add_postmortem_command(app, global, action);

  auto args = translate_seed_flags(argc, argv);
  std::vector<char*> translated{argv[0]};
  for (auto& arg : args) translated.push_back(arg.data());
  try {
    app.parse(static_cast<int>(translated.size()), translated.data());
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    return action();
  } catch (const Error& e) {
    std::fputs(fmt::format("memopt: {}\n", e.what()).c_str(), stderr);
    return e.kind() == Error::Kind::kUsage ? 2 : 1;
  }
}
