#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <string_view>

#include "cli/options.hpp"
#include "memopt/error.hpp"
#include "memopt/exit_status.hpp"
#include "memopt/record/history_render.hpp"

namespace memopt::cli {

namespace {

struct HistoryFlags {
  std::string db;
  std::string since = "1h";
  std::optional<std::string> until;
  std::string format = "text";
};

int run_history(const HistoryFlags& flags) {
  const auto range = record::time_range(flags.since, flags.until);
  record::History history(flags.db.empty() ? record::default_database_path() : flags.db);
  // Written as it is read, in pieces of about 64 KiB: a week at 1 s is hundreds of MB of JSON.
  std::string pending;
  const auto flush = [&pending] {
    std::fwrite(pending.data(), 1, pending.size(), stdout);
    pending.clear();
  };
  record::write_history(history, range.from, range.to, flags.format, [&](std::string_view part) {
    pending += part;
    if (pending.size() >= 64 * 1024) flush();
  });
  flush();
  std::fflush(stdout);
  for (const auto& note : history.notes()) {
    std::fputs(fmt::format("memopt: note: {}\n", note).c_str(), stderr);
  }
  return exit_status::kSuccess;
}

}  // namespace

void add_history_command(CLI::App& app, const GlobalOptions& /*global*/, Action& action) {
  auto flags = std::make_shared<HistoryFlags>();
  auto* cmd = app.add_subcommand(
      "history", "What the flight recorder kept (`monitor --record`): observations and events");
  cmd->add_option("--db", flags->db,
                  "The history database (default: $MEMOPT_STATE_DIR/history.db, "
                  "/var/lib/memopt/history.db as root, else ~/.local/state/memopt/history.db)");
  cmd->add_option("--since", flags->since,
                  "From this long ago (90s, 30m, 1h, 2d, 1w) or this UTC time (default 1h)");
  cmd->add_option("--until", flags->until, "Up to this long ago or this UTC time (default: now)");
  cmd->add_option("--format", flags->format, "text, json or csv")
      ->check(CLI::IsMember({"text", "json", "csv"}));
  cmd->callback([&action, flags] { action = [flags] { return run_history(*flags); }; });
}

}  // namespace memopt::cli
