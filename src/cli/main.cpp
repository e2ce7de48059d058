#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/options.hpp"
#include "memopt/config/command.hpp"
#include "memopt/error.hpp"
#include "memopt/exit_status.hpp"
#include "memopt/printable.hpp"
#include "memopt/version.hpp"

namespace {

/// Whether `arg` is a global option that takes the next argument as its value.
bool takes_value(std::string_view arg) {
  return arg == "--procfs" || arg == "--sysfs" || arg == "--model" || arg == "--cgroup" ||
         arg == "--pid" || arg == "--config";
}

/// The seed's `memory_optimizer.py --report | --cleanup | --monitor N` flags, kept working by
/// rewriting them into subcommands before parsing: only where the subcommand belongs (after the
/// global options), never a word of a command's own arguments (`memopt run -- python3
/// memory_optimizer.py --report` runs the child with its `--report`).
std::vector<std::string> translate_seed_flags(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string& arg = args[i];
    if (takes_value(arg)) {
      ++i;
      continue;
    }
    if (arg == "--report")
      arg = "report";
    else if (arg == "--cleanup")
      arg = "cleanup";
    else if (arg == "--monitor")
      arg = "monitor";
    else if (arg != "--" && arg.starts_with('-'))
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
    Command{"top", memopt::cli::add_top_command},
    Command{"cleanup", memopt::cli::add_cleanup_command},
    Command{"history", memopt::cli::add_history_command},
    Command{"postmortem", memopt::cli::add_postmortem_command},
};

/// Whether the arguments name `command`.
bool named(const Command& command, const std::vector<std::string>& args) {
  return std::find(args.begin(), args.end(), command.name) != args.end();
}

/// Edit distance (insertions, deletions, substitutions, adjacent swaps) between two words.
std::size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min(
          {d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

/// The word where the subcommand belongs when it is none (`memopt reprot`): CLI11 alone would
/// only say "A subcommand is required". Global options and their values are skipped.
std::optional<std::string> unknown_command(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") return std::nullopt;
    if (takes_value(arg)) {
      ++i;
      continue;
    }
    if (arg.empty() || arg[0] == '-') continue;
    const bool known = std::any_of(kCommands.begin(), kCommands.end(),
                                   [&](const Command& c) { return c.name == arg; });
    return known ? std::nullopt : std::optional<std::string>(arg);
  }
  return std::nullopt;
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
  if (const auto word = unknown_command(args)) {
    std::string names;
    const Command* nearest = nullptr;
    for (const auto& c : kCommands) {
      names += fmt::format("{}{}", names.empty() ? "" : ", ", c.name);
      if (distance(*word, c.name) <= 2 &&
          (!nearest || distance(*word, c.name) < distance(*word, nearest->name)))
        nearest = &c;
    }
    std::fputs(fmt::format("memopt: unknown command '{}'{} (commands: {}; memopt --help)\n",
                           memopt::printable(*word),
                           nearest ? fmt::format(": did you mean '{}'?", nearest->name) : "", names)
                   .c_str(),
               stderr);
    return memopt::exit_status::kUsage;
  }
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
    return code == 0 ? memopt::exit_status::kSuccess : memopt::exit_status::kUsage;
  }
  try {
    // A tree captured from another kernel carries its page size; a malformed one is a runtime
    // error naming the file, as any file of the tree.
    global.roots = memopt::config::tree_roots(global.roots.procfs, global.roots.sysfs);
    return action();
  } catch (const Error& e) {
    std::fputs(fmt::format("memopt: {}\n", e.what()).c_str(), stderr);
    return e.kind() == Error::Kind::kUsage ? memopt::exit_status::kUsage
                                           : memopt::exit_status::kFailure;
  } catch (const std::exception& e) {
    // What a library threw past the readers (nlohmann on a stored document, the allocator):
    // a runtime error with its words, never an abort.
    std::fputs(fmt::format("memopt: {}\n", memopt::printable(e.what())).c_str(), stderr);
    return memopt::exit_status::kFailure;
  }
}
