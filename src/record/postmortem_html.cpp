// The post-mortem as a self-contained page: cards drawn from the struct with the text's own
// formatting, the text itself, and the document (its one serialization) for the charts.
#include <fmt/format.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "memopt/record/postmortem.hpp"
#include "memopt/render/html.hpp"
#include "record/postmortem_words.hpp"

namespace memopt::record {

namespace {

template <typename T>
std::string card_bytes(const std::optional<T>& value) {
  return value ? detail::mib(static_cast<double>(*value)) : std::string("unknown");
}

/// The classification as the page shows it: "unbounded growth", "spike between samples".
std::string card_class_words(const analysis::Postmortem& pm) {
  std::string cls = pm.classification ? pm.classification->cls : std::string("unknown");
  std::replace(cls.begin(), cls.end(), '_', ' ');
  return cls;
}

/// /dev/shm at the last sample in a card's words: "48.0 MiB of 64.0 MiB, orphans 8.00 MiB".
std::string shm_words(const std::optional<analysis::PostmortemShm>& shm) {
  if (!shm) return "not read";
  std::string words = fmt::format("{} of {}", detail::mib(static_cast<double>(shm->used_bytes)),
                                  detail::mib(static_cast<double>(shm->size_bytes)));
  if (shm->orphan_bytes > 0)
    words += ", orphans " + detail::mib(static_cast<double>(shm->orphan_bytes));
  return words;
}

std::string held_words(const analysis::Postmortem& pm) {
  if (!pm.prevention) return "unknown";
  if (const auto* larger = std::get_if<analysis::PostmortemLargerLimit>(&*pm.prevention))
    return detail::mib(static_cast<double>(larger->limit_bytes));
  return "none: it grew without bound";
}

/// The cards at the top, drawn with the text's own formatting, so that the page, the text and
/// the JSON say the same (and a name reaches the page escaped).
std::string cards(const analysis::Postmortem& pm) {
  const bool kill = pm.is_kill();
  std::string victim = kill ? "not in the kernel log" : "none";
  if (!pm.victims.empty()) {
    const auto& v = pm.victims.back();
    victim = fmt::format("{} (pid {})", v.name, v.pid);
  }
  std::string grower = "none";
  if (pm.classification && !pm.classification->growers.empty()) {
    const auto& g = pm.classification->growers.front();
    grower = fmt::format("{} (pid {}, +{})", g.name, g.pid, detail::mib(g.growth_bytes));
  }
  const bool orphans = pm.dev_shm && pm.dev_shm->orphan_files > 0;
  const std::vector<std::tuple<std::string, std::string, std::string, const char*>> rows{
      {kill ? "OOM kill" : "danger", pm.at, "at", "oom"},
      {"victim", victim, "victim", pm.victims.empty() ? "" : "oom"},
      {"what happened", card_class_words(pm), "class", ""},
      {"peak used", pm.peak ? detail::mib(static_cast<double>(pm.peak->used_bytes)) : "unknown",
       "peak", ""},
      {"kernel's peak",
       pm.classification ? card_bytes(pm.classification->kernel_peak_bytes) : "unknown",
       "kernel-peak", ""},
      {"limit", card_bytes(pm.limit_bytes), "limit", ""},
      {"limit that would have held", held_words(pm), "prevention", ""},
      {"what grew most", grower, "grower", ""},
      {"/dev/shm", shm_words(pm.dev_shm), "dev-shm", orphans ? "oom" : ""},
  };
  std::string out;
  for (const auto& [label, value, id, cls] : rows) {
    out += fmt::format(R"(<div class="card {}" id="card-{}"><span>{}</span><b>{}</b></div>)", cls,
                       id, render::escape_html(label), render::escape_html(value));
  }
  return out;
}

}  // namespace

std::string render_postmortem_html(const analysis::Postmortem& pm) {
  return render::fill_page("postmortem.html",
                           {{"title", render::escape_html(pm.summary.value_or("post-mortem"))},
                            {"cards", cards(pm)},
                            {"text", render::escape_html(render_postmortem_text(pm))},
                            {"what", pm.is_kill() ? "OOM kill" : "end of the episode"},
                            {"data", render::script_json(postmortem_to_json(pm))}});
}

}  // namespace memopt::record
