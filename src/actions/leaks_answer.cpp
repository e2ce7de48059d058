// Reading a process's answer to a `leaks` request (memopt.leak_check()'s report) into the sites
// a leak_suspected event names; the protocol's decoder reads the wire.
#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <utility>

#include "memopt/actions/leaks.hpp"
#include "memopt/error.hpp"
#include "memopt/printable.hpp"
#include "memopt/protocol/leaks.hpp"
#include "memopt/units.hpp"

namespace memopt::actions {

namespace {

// The site as the analysis keeps it; absent when the process left out a figure (a site with
// no size or no line is not one to name, and no figure is made up for it).
std::optional<analysis::LeakSite> site_of(const protocol::LeakSiteAnswer& site) {
  if (!site.file || !site.line || !site.kind || !site.size_bytes || !site.count ||
      !site.growth_bytes_per_hour || !site.r2) {
    return std::nullopt;
  }
  analysis::LeakSite s;
  s.file = *site.file;
  s.line = *site.line;
  s.kind = *site.kind;
  s.size_bytes = *site.size_bytes;
  s.count = *site.count;
  s.growth_bytes_per_hour = *site.growth_bytes_per_hour;
  s.r2 = *site.r2;
  return s;
}

}  // namespace

LeakSitesAnswer parse_leak_sites(std::string_view answer, std::size_t top) {
  LeakSitesAnswer out;
  protocol::LeaksAnswer decoded;
  try {
    decoded = protocol::decode_leaks_answer(answer);
  } catch (const Error& e) {
    out.note = std::string("its answer is not a leak report (") + e.what() +
               "): " + printable(answer.substr(0, 200));
    return out;
  }
  if (decoded.error) {
    out.note = *decoded.error;
    return out;
  }
  std::size_t incomplete = 0;
  for (const auto& site : decoded.sites) {
    if (out.sites.size() >= top) break;
    if (auto s = site_of(site)) {
      out.sites.push_back(std::move(*s));
    } else {
      ++incomplete;
    }
  }
  if (out.sites.empty() && incomplete > 0) {
    out.note = fmt::format(
        "its leak check sent {} site(s) without a whole file, line, kind, size, count, growth "
        "and fit",
        incomplete);
  } else if (out.sites.empty() && decoded.checkpoints.value_or(0) < 3) {
    out.note = decoded.checkpoints
                   ? fmt::format("its leak check has {} checkpoint(s); a steady growth needs 3",
                                 *decoded.checkpoints)
                   : std::string(
                         "its leak check says no number of checkpoints; a steady "
                         "growth needs 3");
  } else if (out.sites.empty()) {
    out.note =
        "its leak check sees no allocation site growing steadily (native memory outside torch "
        "tensors is not traced)";
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
