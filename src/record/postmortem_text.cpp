// The post-mortem in plain words: what grew, by how much, how fast, who was killed, what would
// have prevented it. Drawn from the struct; a figure a document lacks is "unknown", never 0.
#include <fmt/format.h>

#include "memopt/record/postmortem.hpp"
#include "record/postmortem_words.hpp"

namespace memopt::record {

namespace {

using detail::how_long;
using detail::mib;
using detail::rate;

/// Bytes in words, or "unknown" where the document has no figure.
template <typename T>
std::string bytes_or_unknown(const std::optional<T>& value) {
  return value ? mib(static_cast<double>(*value)) : std::string("unknown");
}

/// A member an older document may lack, as the first views printed a missing one: "null".
std::string text_or_null(const std::optional<std::string>& value) {
  return value ? *value : std::string("null");
}

std::string victims_text(const analysis::Postmortem& pm) {
  std::string out;
  if (pm.victims.empty()) {
    out +=
        "Killed: the kernel log did not say who (memopt could not read it, or the kill was "
        "not in this cgroup).\n";
  }
  for (const auto& v : pm.victims) {
    out += fmt::format("Killed: {} (pid {}) by the kernel's OOM killer", v.name, v.pid);
    if (v.anon_rss_bytes)
      out += fmt::format(", holding {} of anonymous memory", bytes_or_unknown(v.anon_rss_bytes));
    out += ".\n";
    if (!v.sampled) continue;
    const auto& g = *v.sampled;
    if (g.growth_bytes.value_or(0) > 0) {
      out += fmt::format(
          "  It grew from {} to {} in the samples before the kill (+{} in {}{}).\n",
          bytes_or_unknown(g.growth_from_bytes), bytes_or_unknown(g.growth_to_bytes),
          bytes_or_unknown(g.growth_bytes), how_long(g.growth_seconds.value_or(0)),
          g.bytes_per_second ? fmt::format(", {}", rate(*g.bytes_per_second)) : std::string());
    } else {
      out += fmt::format("  It did not grow in the samples before the kill ({} at its last).\n",
                         bytes_or_unknown(g.last_bytes));
    }
  }
  return out;
}

std::string memory_text(const analysis::Postmortem& pm) {
  if (const auto& g = pm.growth) {
    return fmt::format(
        "Memory used grew from {} to {} in {}, ending {} before the {} (limit {}){}.\n",
        mib(g->from_bytes), mib(g->to_bytes), how_long(g->seconds), how_long(-g->end_t),
        pm.is_kill() ? "kill" : "end", bytes_or_unknown(pm.limit_bytes),
        g->bytes_per_second
            ? fmt::format(", {}{}", g->steps <= 1 ? "at least " : "", rate(*g->bytes_per_second))
            : std::string());
  }
  if (!pm.peak) return "No memory figures were recorded in the minutes before.\n";
  return fmt::format("Memory used did not grow: its peak was {} (limit {}).\n",
                     mib(static_cast<double>(pm.peak->used_bytes)),
                     bytes_or_unknown(pm.limit_bytes));
}

std::string processes_text(const analysis::Postmortem& pm) {
  if (pm.processes.empty()) return {};
  std::string out;
  const auto& p = pm.processes.front();
  if (p.growth_bytes > 0) {
    out += fmt::format(
        "What grew most: {} (pid {}), +{} in {}{}.\n", p.name, p.pid, mib(p.growth_bytes),
        how_long(p.growth_seconds.value_or(0)),
        p.bytes_per_second ? fmt::format(" ({})", rate(*p.bytes_per_second)) : std::string());
  }
  out += "Top processes at the peak (PSS; growth in this episode):\n";
  for (const auto& q : pm.processes) {
    const std::string held =
        q.at_peak ? mib(static_cast<double>(q.at_peak->pss_bytes.value_or(q.at_peak->rss_bytes)))
                  : bytes_or_unknown(q.last_bytes);
    out += fmt::format("  {:>7}  {:<16} {:>10}  +{}\n", std::to_string(q.pid), q.name, held,
                       mib(q.growth_bytes));
  }
  return out;
}

std::string shm_text(const analysis::Postmortem& pm) {
  std::string out;
  if (const auto& shm = pm.dev_shm) {
    out += fmt::format("/dev/shm at the last sample: {} used of {}, {} file(s)",
                       mib(static_cast<double>(shm->used_bytes)),
                       mib(static_cast<double>(shm->size_bytes)), shm->file_count);
    out += shm->orphan_files > 0
               ? fmt::format("; orphans {} in {} file(s) (owner dead, held by no process)\n",
                             mib(static_cast<double>(shm->orphan_bytes)), shm->orphan_files)
               : std::string("\n");
  }
  for (const auto& e : pm.dev_shm_events) {
    out += fmt::format("/dev/shm before it, at {}: {}\n", text_or_null(e.timestamp),
                       text_or_null(e.message));
  }
  return out;
}

std::string prevention_text(const analysis::Postmortem& pm) {
  if (!pm.prevention) return {};
  if (const auto* none = std::get_if<analysis::PostmortemNoLargerLimit>(&*pm.prevention)) {
    return fmt::format("What would have prevented it: no larger limit. {}.\n", none->reason);
  }
  const auto& larger = std::get<analysis::PostmortemLargerLimit>(*pm.prevention);
  return fmt::format(
      "What would have prevented it: a limit of at least {} ({}){}.\n",
      mib(static_cast<double>(larger.limit_bytes)), larger.reason,
      pm.limit_bytes ? fmt::format("; the limit was {}", mib(static_cast<double>(*pm.limit_bytes)))
                     : std::string());
}

std::string cgroup_files_text(const analysis::Postmortem& pm) {
  std::string out;
  for (const auto& file : pm.cgroup_files) {
    if (file.name == "memory.stat") continue;
    // A file of one number: bytes where the file holds bytes, else a count.
    const bool in_bytes = file.name == "memory.peak" || file.name.ends_with("_in_bytes");
    std::string line;
    for (const auto& [key, value] : file.values) {
      const std::string shown = std::visit(
          [in_bytes](const auto& v) -> std::string {
            if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::uint64_t>) {
              return in_bytes ? mib(static_cast<double>(v)) : std::to_string(v);
            } else {
              return v;
            }
          },
          value);
      line += key == "value" ? shown : fmt::format("{}{} {}", line.empty() ? "" : ", ", key, shown);
    }
    out += fmt::format("{} at the time: {}\n", file.name, line);
  }
  return out;
}

}  // namespace

std::string render_postmortem_text(const analysis::Postmortem& pm) {
  std::string out = fmt::format("Post-mortem {}: {} at {} ({})\n",
                                pm.id ? std::to_string(*pm.id) : std::string("?"),
                                pm.is_kill() ? "OOM kill" : "danger episode", pm.at, pm.target);
  if (pm.is_kill()) {
    out += victims_text(pm);
  } else {
    out += fmt::format("Danger: available memory fell below the danger mark from {} to {}.\n",
                       text_or_null(pm.started), pm.at);
  }
  if (pm.previous_kill_t) {
    out += fmt::format("An earlier OOM kill came {} before: this episode is counted from there.\n",
                       how_long(-*pm.previous_kill_t));
  }
  if (pm.classification && pm.classification->description)
    out += fmt::format("What happened: {}.\n", *pm.classification->description);
  out += memory_text(pm);
  out += processes_text(pm);
  for (const auto& f : pm.loop_forecasts) {
    out += fmt::format("Forecast before it, at {}: {}\n", text_or_null(f.timestamp),
                       text_or_null(f.message));
  }
  out += shm_text(pm);
  out += prevention_text(pm);
  out += cgroup_files_text(pm);
  return out;
}

}  // namespace memopt::record
