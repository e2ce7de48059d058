// Reading a process's answer to a `leaks` request (memopt.leak_check()'s report), apart from
// the socket code so that the parser can be fuzzed on its own.
#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <utility>

#include "actions/answer.hpp"
#include "memopt/actions/leaks.hpp"
#include "memopt/printable.hpp"
#include "memopt/units.hpp"

namespace memopt::actions {

namespace {

// A number of type T, else `fallback`: a figure that does not fit T (a float for a count,
// 1e300 for a line) is not one, and converting it would be undefined.
template <typename T>
T number_or(const nlohmann::json& object, const char* key, T fallback) {
  const auto it = object.find(key);
  if (it == object.end()) return fallback;
  if constexpr (std::is_floating_point_v<T>) {
    return it->is_number() ? it->get<T>() : fallback;
  } else {
    if (it->is_number_unsigned()) {
      const auto value = it->get<std::uint64_t>();
      return std::in_range<T>(value) ? static_cast<T>(value) : fallback;
    }
    if (it->is_number_integer()) {
      const auto value = it->get<std::int64_t>();
      return std::in_range<T>(value) ? static_cast<T>(value) : fallback;
    }
    if (it->is_number_float()) {  // in range and whole: 1e6 is a count, 1e300 is not
      const auto value = it->get<double>();
      const bool fits = value >= static_cast<double>(std::numeric_limits<T>::min()) &&
                        value < 2.0 * static_cast<double>(std::numeric_limits<T>::max() / 2 + 1);
      return fits ? static_cast<T>(value) : fallback;
    }
    return fallback;
  }
}

std::string string_or(const nlohmann::json& object, const char* key, const char* fallback) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string(fallback);
}

}  // namespace

LeakSitesAnswer parse_leak_sites(std::string_view answer, std::size_t top) {
  LeakSitesAnswer out;
  const auto parsed = parse_answer(answer);  // every string in it printable already
  if (!parsed.error.empty()) {
    out.note = "its answer is not a leak report (" + parsed.error +
               "): " + printable(answer.substr(0, 200));
    return out;
  }
  const auto& json = parsed.json;
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
