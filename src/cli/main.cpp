#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "cli/options.hpp"
#include "memopt/error.hpp"
#include "memopt/printable.hpp"
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

struct Command {
  std::string_view name;
  void (*add)(CLI::App&, const memopt::cli::GlobalOptions&, memopt::cli::Action&);
};

// In the order `memopt --help` lists them.
constexpr std::array kCommands{
    Command{"report", memopt::cli::add_report_command},
    Command{"run", memopt::cli::add_run_command},
    Command{"recommend", memopt::cli::add_recommend_command},
    Command{"diagnose", memopt::cli::add_diagnose_command},
    Command{"monitor", memopt::cli::add_monitor_command},
    Command{"cleanup", memopt::cli::add_cleanup_command},
    Command{"history", memopt::cli::add_history_command},
    Command{"postmortem", memopt::cli::add_postmortem_command},
};

/// Whether the arguments name `command`.
bool named(const Command& command, const std::vector<std::string>& args) {
  return std::find(args.begin(), args.end(), command.name) != args.end();
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
  auto args = translate_seed_flags(argc, argv);
  // Only the commands named are defined, every one when none is (`memopt --help` lists them
  // all, an error names what is missing): the others' option setup never runs, fewer pages of
  // code are touched at every start. A name that is only some flag's value defines a command
  // needlessly, never wrongly.
  const bool none_named = std::none_of(kCommands.begin(), kCommands.end(),
                                       [&](const Command& c) { return named(c, args); });
  for (const auto& command : kCommands) {
    if (none_named || named(command, args)) command.add(app, global, action);
  }

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
  } catch (const std::exception& e) {
    // What a library threw past the readers (nlohmann on a stored document, the allocator):
    // a runtime error with its words, never an abort.
    std::fputs(fmt::format("memopt: {}\n", memopt::printable(e.what())).c_str(), stderr);
    return 1;
  }
}
