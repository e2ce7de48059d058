#include "memopt/record/postmortem.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdio>

#include "cli/options.hpp"
#include "memopt/actions/output.hpp"
#include "memopt/error.hpp"
#include "memopt/exit_status.hpp"
#include "memopt/printable.hpp"
#include "memopt/record/recorder.hpp"

namespace memopt::cli {

namespace {

struct PostmortemFlags {
  std::string db;
  bool list = false;
  bool last = false;
  std::optional<std::string> id;
  OutputFormat output_format;
  std::string html;
  bool format_given = false;  ///< --format or --json on the command line
};

void print_notes(const record::History& history) {
  for (const auto& note : history.notes()) {
    std::fputs(fmt::format("memopt: note: {}\n", note).c_str(), stderr);
  }
}

int run_postmortem(const PostmortemFlags& flags) {
  const std::string path = flags.db.empty() ? record::default_database_path() : flags.db;
  record::History history(path);
  if (flags.list || (!flags.last && !flags.id)) {
    actions::write_output(
        "", record::render_postmortem_list(history.postmortems(), flags.output_format.is_json()));
    print_notes(history);
    return exit_status::kSuccess;
  }
  std::int64_t id = 0;
  if (flags.id) {
    const auto& text = *flags.id;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec != std::errc() || end != text.data() + text.size() || id <= 0) {
      throw Error(fmt::format("postmortem: expected an id from `memopt postmortem --list`, got "
                              "'{}'",
                              text),
                  Error::Kind::kUsage);
    }
  } else {
    const auto entries = history.postmortems();
    if (entries.empty()) throw Error(fmt::format("no post-mortem in {} yet", path));
    id = entries.back().id;
  }
  const auto json = history.postmortem_json(id);
  if (!json) throw Error(fmt::format("no post-mortem {} in {} (see --list)", id, path));
  const auto postmortem = record::parse_postmortem(*json);
  if (!flags.html.empty())
    actions::write_output(flags.html, record::render_postmortem_html(postmortem));
  // --html alone writes only the page; --format or --json with it prints as well.
  const bool print = flags.html.empty() || flags.format_given;
  if (flags.output_format.is_json()) {
    actions::write_output("", record::render_postmortem_json(postmortem));
  } else if (print) {
    // Names in the document were printable when written; a hand-edited one is made so here.
    actions::write_output("", printable(record::render_postmortem_text(postmortem), true));
  }
  print_notes(history);
  return exit_status::kSuccess;
}

}  // namespace

void add_postmortem_command(CLI::App& app, const GlobalOptions& /*global*/, Action& action) {
  auto flags = std::make_shared<PostmortemFlags>();
  auto* cmd = app.add_subcommand(
      "postmortem", "The minutes before an OOM kill or danger episode, from the flight recorder");
  cmd->add_option("id", flags->id, "The post-mortem to show (see --list)");
  cmd->add_option("--db", flags->db, "The history database (as for `memopt history`)");
  auto* list = cmd->add_flag("--list", flags->list, "List the post-mortems (the default)");
  auto* last = cmd->add_flag("--last", flags->last, "Show the latest post-mortem");
  list->excludes(last);
  auto* json = add_format_options(*cmd, flags->output_format, {"text", "json"},
                                  "Same as --format json: the post-mortem's JSON document");
  cmd->add_option("--html", flags->html,
                  "Write a self-contained page with the chart of the minutes before to FILE "
                  "(and print nothing unless --format is given)");
  cmd->callback([&action, flags, cmd, json] {
    flags->format_given = cmd->count("--format") > 0 || json->count() > 0;
    if (flags->id && (flags->list || flags->last)) {
      throw CLI::ValidationError("postmortem", "give an ID, --list or --last, not several");
    }
    action = [flags] { return run_postmortem(*flags); };
  });
}

}  // namespace memopt::cli
