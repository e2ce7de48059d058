#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <tuple>
#include <vector>

#include "memopt/record/postmortem.hpp"
#include "memopt/render/html.hpp"
#include "memopt/units.hpp"

namespace memopt::record {

namespace {

using PageJson = nlohmann::json;

std::string bytes_text(const PageJson& v) {
  return v.is_number() ? format_bytes(static_cast<std::uint64_t>(std::max(0.0, v.get<double>())))
                       : std::string("unknown");
}

/// The classification as the page shows it: "unbounded growth", "spike between samples".
std::string class_words(const PageJson& c) {
  std::string cls = c.is_object() && c.contains("class") && c["class"].is_string()
                        ? c["class"].get<std::string>()
                        : std::string("unknown");
  std::replace(cls.begin(), cls.end(), '_', ' ');
  return cls;
}

/// /dev/shm at the last sample in a card's words: "48.0 MiB of 64.0 MiB, orphans 8.00 MiB".
std::string shm_words(const PageJson& shm) {
  if (!shm.is_object()) return "not read";
  std::string words =
      fmt::format("{} of {}", bytes_text(shm["used_bytes"]), bytes_text(shm["size_bytes"]));
  if (shm["orphan_bytes"].is_number() && shm["orphan_bytes"].get<double>() > 0)
    words += ", orphans " + bytes_text(shm["orphan_bytes"]);
  return words;
}

/// The cards at the top, drawn here from the document with the text's own formatting, so that
/// the page, the text and the JSON say the same (and a name reaches the page escaped).
std::string cards(PageJson doc) {  // a copy: a missing key reads as null
  const bool kill = doc["kind"] == "oom_kill";
  auto& victims = doc["victims"];
  std::string victim = kill ? "not in the kernel log" : "none";
  if (victims.is_array() && !victims.empty()) {
    auto& v = victims.back();
    victim = fmt::format("{} (pid {})", v["name"].is_string() ? v["name"].get<std::string>() : "?",
                         v["pid"].dump());
  }
  auto& c = doc["classification"];
  auto& p = doc["prevention"];
  std::string held = "unknown";
  if (p.is_object()) {
    held = p["limit_bytes"].is_null() ? std::string("none: it grew without bound")
                                      : bytes_text(p["limit_bytes"]);
  }
  const bool orphans = doc["dev_shm"].is_object() && doc["dev_shm"]["orphan_files"].is_number() &&
                       doc["dev_shm"]["orphan_files"].get<double>() > 0;
  std::string grower = "none";
  if (c.is_object() && c["growers"].is_array() && !c["growers"].empty()) {
    auto& g = c["growers"][0];
    grower =
        fmt::format("{} (pid {}, +{})", g["name"].is_string() ? g["name"].get<std::string>() : "?",
                    g["pid"].dump(), bytes_text(g["growth_bytes"]));
  }
  const std::vector<std::tuple<std::string, std::string, std::string, const char*>> rows{
      {kill ? "OOM kill" : "danger", doc["at"].is_string() ? doc["at"].get<std::string>() : "?",
       "at", "oom"},
      {"victim", victim, "victim", victims.is_array() && !victims.empty() ? "oom" : ""},
      {"what happened", class_words(c), "class", ""},
      {"peak used", doc["peak"].is_object() ? bytes_text(doc["peak"]["used_bytes"]) : "unknown",
       "peak", ""},
      {"kernel's peak", c.is_object() ? bytes_text(c["kernel_peak_bytes"]) : "unknown",
       "kernel-peak", ""},
      {"limit", bytes_text(doc["limit_bytes"]), "limit", ""},
      {"limit that would have held", held, "prevention", ""},
      {"what grew most", grower, "grower", ""},
      {"/dev/shm", shm_words(doc["dev_shm"]), "dev-shm", orphans ? "oom" : ""},
  };
  std::string out;
  for (const auto& [label, value, id, cls] : rows) {
    out += fmt::format(R"(<div class="card {}" id="card-{}"><span>{}</span><b>{}</b></div>)", cls,
                       id, render::escape_html(label), render::escape_html(value));
  }
  return out;
}

}  // namespace

std::string render_postmortem_html(const std::string& json) {
  auto doc = PageJson::parse(json);  // not const: a missing key reads as null
  return render::fill_page(
      "postmortem.html",
      {{"title", render::escape_html(doc.value("summary", std::string("post-mortem")))},
       {"cards", cards(doc)},
       {"text", render::escape_html(render_postmortem_text(json))},
       {"what", doc["kind"] == "oom_kill" ? "OOM kill" : "end of the episode"},
       {"data", render::script_json(json)}});
}

}  // namespace memopt::record
