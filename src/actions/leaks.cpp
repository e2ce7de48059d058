// The leaking process's own view of its leak, for the monitor's leak_suspected event: a
// `leaks` request on its cleanup socket, answered by the memopt.leak_check() running in it.
#include "memopt/actions/leaks.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "memopt/actions/cleanup.hpp"
#include "memopt/error.hpp"
#include "memopt/units.hpp"

namespace memopt::actions {

namespace {

template <typename T>
T number_or(const nlohmann::json& object, const char* key, T fallback) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<T>() : fallback;
}

std::string string_or(const nlohmann::json& object, const char* key, const char* fallback) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string(fallback);
}

}  // namespace

LeakSitesAnswer parse_leak_sites(std::string_view answer, std::size_t top) {
  LeakSitesAnswer out;
  const auto json = nlohmann::json::parse(answer, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    out.note = "its answer is not a leak report: " + std::string(answer.substr(0, 200));
    return out;
  }
  if (const auto error = json.find("error"); error != json.end()) {
    out.note =
        error->is_string() ? error->get<std::string>() : std::string("its leak check failed");
    return out;
  }
  const auto sites = json.find("sites");
  if (sites != json.end() && sites->is_array()) {
    for (const auto& site : *sites) {
      if (out.sites.size() >= top) break;
      if (!site.is_object()) continue;
      analysis::LeakSite s;
      s.file = string_or(site, "file", "?");
      s.line = number_or(site, "line", 0);
      s.kind = string_or(site, "kind", "?");
      s.size_bytes = number_or<std::uint64_t>(site, "size_bytes", 0);
      s.count = number_or<std::uint64_t>(site, "count", 0);
      s.growth_bytes_per_hour = number_or(site, "growth_bytes_per_hour", 0.0);
      s.r2 = number_or(site, "r2", 0.0);
      out.sites.push_back(std::move(s));
    }
  }
  if (out.sites.empty()) {
    const auto checkpoints = number_or(json, "checkpoints", 0);
    out.note = checkpoints < 3
                   ? fmt::format("its leak check has {} checkpoint(s); a steady growth needs 3",
                                 checkpoints)
                   : std::string(
                         "its leak check sees no allocation site growing steadily "
                         "(native memory outside torch tensors is not traced)");
  }
  return out;
}

LeakSitesAnswer ask_leak_sites(const sys::Roots& roots, int pid,
                               const std::vector<std::string>& runtime_dirs,
                               std::chrono::milliseconds timeout, std::size_t top) {
  try {
    return parse_leak_sites(ask_cooperating_process(roots, pid, runtime_dirs, "leaks", timeout),
                            top);
  } catch (const Error& e) {
    LeakSitesAnswer out;
    out.note = std::string(e.what()) +
               "; with memopt.leak_check() running in it too, this event would name its "
               "growing sites";
    return out;
  }
}

std::string leak_sites_text(const LeakSitesAnswer& answer) {
  if (answer.sites.empty()) return answer.note.value_or("");
  std::string out;
  for (const auto& site : answer.sites) {
    out += fmt::format("{}{}:{} {} {} in {}, +{}/h", out.empty() ? "" : "; ", site.file, site.line,
                       site.kind, format_bytes(site.size_bytes), site.count,
                       format_bytes(static_cast<std::uint64_t>(
                           site.growth_bytes_per_hour > 0 ? site.growth_bytes_per_hour : 0)));
  }
  return out;
}

}  // namespace memopt::actions
