#include "memopt/readers/procfs.hpp"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <bit>

#include "memopt/error.hpp"
#include "memopt/printable.hpp"
#include "memopt/readers/mountinfo.hpp"
#include "memopt/sys/pidfd.hpp"
#include "memopt/units.hpp"
#include "readers/text.hpp"

namespace memopt::readers {

using detail::Lines;
using detail::next_field;
using detail::to_u64;
using detail::trim;

namespace {

/// Parses the value of a "Key:   123 kB" line (the part after the colon) into bytes.
/// Lines without a unit (HugePages_Total) are plain counts and returned as they are, unless
/// `require_kb`: a size that lost its unit (a file cut short) must not pass for bytes.
std::optional<std::uint64_t> kb_value(std::string_view rest, bool require_kb) {
  const std::string_view number = next_field(rest);
  const std::string_view unit = next_field(rest);
  if (!trim(rest).empty()) return std::nullopt;
  const auto value = to_u64(number);
  if (!value) return std::nullopt;
  if (unit.empty()) return require_kb ? std::nullopt : value;
  if (unit != "kB" || *value > UINT64_MAX / kKiB) return std::nullopt;
  return *value * kKiB;
}

/// Splits "Key: value" at the colon; std::nullopt when there is none.
std::optional<std::pair<std::string_view, std::string_view>> split_key(std::string_view line) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  return std::pair{line.substr(0, colon), line.substr(colon + 1)};
}

/// tmpfs's `size=` super option (`size=64m`, `size=1G`, bytes); absent when not given or given
/// as a percentage of RAM.
std::optional<std::uint64_t> tmpfs_size(const std::vector<std::string>& super_options) {
  std::optional<std::uint64_t> size;
  for (const auto& option : super_options) {
    if (!option.starts_with("size=")) continue;
    std::string_view value = std::string_view(option).substr(5);
    std::uint64_t multiplier = 1;
    switch (value.empty() ? '\0' : value.back()) {
      case 'k':
      case 'K':
        multiplier = kKiB;
        break;
      case 'm':
      case 'M':
        multiplier = kMiB;
        break;
      case 'g':
      case 'G':
        multiplier = kGiB;
        break;
      default:
        break;
    }
    if (multiplier != 1) value.remove_suffix(1);
    if (const auto number = to_u64(value); number && *number <= UINT64_MAX / multiplier) {
      size = *number * multiplier;
    }
  }
  return size;
}

}  // namespace

model::HostMemory parse_meminfo(std::string_view text, std::string_view source) {
  std::optional<std::uint64_t> total, free, available, buffers, cached, shmem, swap_total,
      swap_free;
  struct Field {
    std::string_view key;
    std::optional<std::uint64_t>* value;
  };
  const Field fields[] = {{"MemTotal", &total},         {"MemFree", &free},
                          {"MemAvailable", &available}, {"Buffers", &buffers},
                          {"Cached", &cached},          {"Shmem", &shmem},
                          {"SwapTotal", &swap_total},   {"SwapFree", &swap_free}};
  Lines lines(text);
  while (const auto line = lines.next()) {
    if (trim(*line).empty()) continue;
    const auto kv = split_key(*line);
    if (!kv)
      throw parse_error(source, lines.number(),
                        fmt::format("expected 'Key: value', got '{}'", *line));
    const Field* match = nullptr;
    for (const auto& field : fields) {
      if (field.key == kv->first) match = &field;
    }
    const auto value = kb_value(kv->second, match != nullptr);
    if (!value) {
      throw parse_error(
          source, lines.number(),
          fmt::format("expected a number of kB for {}, got '{}'", kv->first, trim(kv->second)));
    }
    if (match != nullptr) *match->value = value;
  }
  if (!total) throw parse_error(source, 0, "MemTotal is missing (truncated file?)");
  if (!free) throw parse_error(source, 0, "MemFree is missing (truncated file?)");
  if (*total == 0) throw parse_error(source, 0, "MemTotal is 0");

  model::HostMemory host;
  host.total_bytes = *total;
  host.free_bytes = *free;
  host.buffers_bytes = buffers;
  host.cached_bytes = cached;
  host.shmem_bytes = shmem;
  host.swap_total_bytes = swap_total;
  host.swap_free_bytes = swap_free;
  if (available) {
    host.available_bytes = std::min(*available, *total);
  } else {
    // Kernels before 3.14: the estimate free(1) used then.
    if (!cached) throw parse_error(source, 0, "neither MemAvailable nor Cached is present");
    const std::uint64_t reclaimable =
        saturating_add(saturating_add(*free, buffers.value_or(0)), *cached);
    const std::uint64_t estimate = reclaimable - std::min(reclaimable, shmem.value_or(0));
    host.available_bytes = std::min(estimate, *total);
    host.available_estimated = true;
  }
  return host;
}

model::Pressure parse_pressure(std::string_view text, std::string_view source,
                               std::vector<SkippedLine>* skipped) {
  model::Pressure pressure;
  bool some = false;
  bool full = false;
  Lines lines(text);
  while (const auto line = lines.next()) {
    if (trim(*line).empty()) continue;
    std::string_view rest = *line;
    const std::string_view kind = next_field(rest);
    double* avg10 = nullptr;
    double* avg60 = nullptr;
    double* avg300 = nullptr;
    if (kind == "some") {
      avg10 = &pressure.some_avg10, avg60 = &pressure.some_avg60, avg300 = &pressure.some_avg300;
      some = true;
    } else if (kind == "full") {
      avg10 = &pressure.full_avg10, avg60 = &pressure.full_avg60, avg300 = &pressure.full_avg300;
      full = true;
    } else if (kind == "aggr") {
      throw parse_error(source, lines.number(),
                        "'aggr' starts the experimental PSI format of the pre-4.20 patches, not "
                        "the kernel's 'some avg10=...' lines");
    } else {
      // Newer kernels may add lines; the known ones keep their meaning.
      if (skipped != nullptr) skipped->push_back({lines.number(), std::string(trim(*line))});
      continue;
    }
    bool seen10 = false, seen60 = false, seen300 = false;
    for (std::string_view field = next_field(rest); !field.empty(); field = next_field(rest)) {
      const auto eq = field.find('=');
      if (eq == std::string_view::npos) {
        throw parse_error(source, lines.number(),
                          fmt::format("expected key=value, got '{}'", field));
      }
      const std::string_view key = field.substr(0, eq);
      const std::string_view value = field.substr(eq + 1);
      if (key == "total") {
        if (!to_u64(value))
          throw parse_error(source, lines.number(), fmt::format("bad total '{}'", value));
        continue;
      }
      const auto number = detail::to_non_negative_double(value);
      if (!number || *number > 100.0) {
        throw parse_error(source, lines.number(),
                          fmt::format("expected a percentage for {}, got '{}'", key, value));
      }
      if (key == "avg10")
        *avg10 = *number, seen10 = true;
      else if (key == "avg60")
        *avg60 = *number, seen60 = true;
      else if (key == "avg300")
        *avg300 = *number, seen300 = true;
    }
    if (!seen10 || !seen60 || !seen300) {
      throw parse_error(source, lines.number(), "expected avg10, avg60 and avg300");
    }
  }
  if (!some || !full) throw parse_error(source, 0, "expected a 'some' and a 'full' line");
  return pressure;
}

model::Fragmentation parse_buddyinfo(std::string_view text, std::uint64_t page_size,
                                     std::string_view source) {
  model::Fragmentation result;
  Lines lines(text);
  bool any = false;
  // More free pages than 2^64 bytes hold cannot be real; the cap also keeps the sums from wrapping.
  constexpr std::uint64_t kMaxFreePages = std::uint64_t{1} << 52;
  std::uint64_t all_pages = 0;
  while (const auto line = lines.next()) {
    if (trim(*line).empty()) continue;
    // "Node 0, zone   Normal    527    487 ..."
    std::string_view rest = *line;
    const std::string_view node = next_field(rest);
    const std::string_view node_id = next_field(rest);
    const std::string_view zone = next_field(rest);
    const std::string_view zone_name = next_field(rest);
    if (node != "Node" || node_id.empty() || node_id.back() != ',' || zone != "zone" ||
        zone_name.empty()) {
      throw parse_error(source, lines.number(),
                        fmt::format("expected 'Node N, zone NAME counts...', got '{}'", *line));
    }
    std::size_t order = 0;
    for (std::string_view field = next_field(rest); !field.empty();
         field = next_field(rest), ++order) {
      const auto blocks = to_u64(field);
      if (!blocks || order >= 32 || *blocks > (kMaxFreePages - all_pages) >> order) {
        throw parse_error(source, lines.number(), fmt::format("bad free-block count '{}'", field));
      }
      if (result.free_pages_by_order.size() <= order) result.free_pages_by_order.resize(order + 1);
      result.free_pages_by_order[order] += *blocks << order;
      all_pages += *blocks << order;
    }
    if (order == 0) throw parse_error(source, lines.number(), "no free-block counts");
    any = true;
  }
  if (!any) throw parse_error(source, 0, "no zones listed");

  // The order whose blocks are 2 MiB: 9 with 4 KiB pages, 5 with 64 KiB pages.
  const std::size_t huge_order =
      page_size >= 2 * kMiB ? 0 : static_cast<std::size_t>(std::countr_zero(2 * kMiB / page_size));
  std::uint64_t total = 0;
  std::uint64_t unusable = 0;
  for (std::size_t k = 0; k < result.free_pages_by_order.size(); ++k) {
    total += result.free_pages_by_order[k];
    if (k < huge_order) unusable += result.free_pages_by_order[k];
  }
  result.unusable_free_percent_order9 =
      total == 0 ? 0.0 : 100.0 * (static_cast<double>(unusable) / static_cast<double>(total));
  return result;
}

std::optional<SmapsRollup> parse_smaps_rollup(std::string_view text, std::string_view source) {
  if (trim(text).empty()) return std::nullopt;
  std::optional<std::uint64_t> rss, pss, private_clean, private_dirty, swap;
  Lines lines(text);
  while (const auto line = lines.next()) {
    const auto kv = split_key(*line);
    // The header line is a VMA range ("5555-7fff ---p 0 00:00 0 [rollup]"): no "Key:" shape.
    if (!kv || kv->first.find(' ') != std::string_view::npos) continue;
    std::optional<std::uint64_t>* target = nullptr;
    if (kv->first == "Rss")
      target = &rss;
    else if (kv->first == "Pss")
      target = &pss;
    else if (kv->first == "Private_Clean")
      target = &private_clean;
    else if (kv->first == "Private_Dirty")
      target = &private_dirty;
    else if (kv->first == "Swap")
      target = &swap;
    else
      continue;
    *target = kb_value(kv->second, true);
    if (!*target) {
      throw parse_error(
          source, lines.number(),
          fmt::format("expected a number of kB for {}, got '{}'", kv->first, trim(kv->second)));
    }
  }
  if (!rss || !pss || !private_clean || !private_dirty) {
    throw parse_error(source, 0, "expected Rss, Pss, Private_Clean and Private_Dirty lines");
  }
  return SmapsRollup{*rss, *pss, saturating_add(*private_clean, *private_dirty), swap.value_or(0)};
}

std::uint64_t parse_statm_rss(std::string_view text, std::uint64_t page_size,
                              std::string_view source) {
  std::string_view rest = trim(text);
  const std::string_view size = next_field(rest);
  const std::string_view resident = next_field(rest);
  const auto pages = to_u64(resident);
  if (!to_u64(size) || !pages || *pages > UINT64_MAX / page_size) {
    throw parse_error(source, 1,
                      fmt::format("expected 'size resident ...' in pages, got '{}'", trim(text)));
  }
  return *pages * page_size;
}

ProcStat parse_proc_stat(std::string_view text, std::string_view source) {
  text = trim(text);  // a line cut short ends in its newline
  const auto close = text.rfind(')');
  std::string_view rest =
      close == std::string_view::npos ? std::string_view{} : text.substr(close + 1);
  auto pid = [](std::string_view field) -> std::optional<int> {
    const auto n = to_u64(field);
    if (!n || *n > 0x7fffffff) return std::nullopt;
    return static_cast<int>(*n);
  };
  const std::string_view state = next_field(rest);
  const auto ppid = pid(next_field(rest));
  const bool letter = state.size() == 1 && ((state[0] >= 'A' && state[0] <= 'Z') ||
                                            (state[0] >= 'a' && state[0] <= 'z'));
  if (!letter || !ppid) throw parse_error(source, 1, "expected 'pid (comm) state ppid ...'");
  ProcStat stat;
  stat.state = state.front();
  stat.ppid = *ppid;
  stat.pgrp = pid(next_field(rest));
  stat.session = pid(next_field(rest));
  next_field(rest);  // 7: tty_nr
  next_field(rest);  // 8: tpgid, -1 without a terminal
  stat.flags = to_u64(next_field(rest));
  for (int field = 10; field < 22; ++field) next_field(rest);
  stat.start_ticks = to_u64(next_field(rest));
  return stat;
}

std::vector<int> read_process_tree(const sys::Roots& roots, int root) {
  std::vector<std::pair<int, int>> parent_of;  // (pid, ppid)
  std::string text;
  for (const int pid : sys::list_pids(roots.procfs)) {
    const std::string path = fmt::format("{}/{}/stat", roots.procfs, pid);
    if (sys::read_into(path, text) != 0) continue;
    parent_of.emplace_back(pid, parse_proc_stat(text, path).ppid);
  }
  std::vector<int> tree{root};
  // Breadth first over the parent links; trees are small, a quadratic walk is fine.
  for (std::size_t i = 0; i < tree.size(); ++i) {
    for (const auto& [pid, ppid] : parent_of) {
      if (ppid == tree[i]) tree.push_back(pid);
    }
  }
  return tree;
}

std::optional<model::Mount> parse_mount(std::string_view mountinfo, std::string_view mount_point,
                                        std::string_view source) {
  std::optional<model::Mount> found;
  for (auto& m : parse_mountinfo(mountinfo, source)) {
    if (m.mount_point != mount_point) continue;
    found =
        model::Mount{std::move(m.mount_point), std::move(m.fs_type), tmpfs_size(m.super_options)};
  }
  return found;
}

unsigned parse_status_threads(std::string_view text, std::string_view source) {
  Lines lines(text);
  while (const auto line = lines.next()) {
    const auto kv = split_key(*line);
    if (!kv || kv->first != "Threads") continue;
    const auto value = to_u64(trim(kv->second));
    if (!value || *value > 0xffffffffu) {
      throw parse_error(source, lines.number(),
                        fmt::format("expected a thread count, got '{}'", trim(kv->second)));
    }
    return static_cast<unsigned>(*value);
  }
  throw parse_error(source, 0, "Threads is missing");
}

std::optional<model::Mount> read_mount(const sys::Roots& roots, std::string_view mount_point) {
  const std::string path = roots.procfs + "/self/mountinfo";
  const auto text = sys::read_optional(path);
  if (!text) return std::nullopt;
  return parse_mount(*text, mount_point, path);
}

std::optional<unsigned> read_thread_count(const sys::Roots& roots, int pid) {
  const std::string path = fmt::format("{}/{}/status", roots.procfs, pid);
  std::string text;
  if (sys::read_into(path, text) != 0) return std::nullopt;
  return parse_status_threads(text, path);
}

std::vector<CgroupLine> parse_proc_cgroup(std::string_view text, std::string_view source) {
  std::vector<CgroupLine> result;
  Lines lines(text);
  while (const auto line = lines.next()) {
    if (trim(*line).empty()) continue;
    const auto first = line->find(':');
    const auto second = first == std::string_view::npos ? first : line->find(':', first + 1);
    if (second == std::string_view::npos) {
      throw parse_error(source, lines.number(),
                        fmt::format("expected 'ID:controllers:path', got '{}'", *line));
    }
    const auto id = to_u64(line->substr(0, first));
    const std::string_view path = line->substr(second + 1);
    if (!id || *id > 1'000'000 || path.empty() || path.front() != '/') {
      throw parse_error(source, lines.number(),
                        fmt::format("expected 'ID:controllers:/path', got '{}'", *line));
    }
    CgroupLine entry;
    entry.hierarchy_id = static_cast<int>(*id);
    entry.path = std::string(path);
    std::string_view controllers = line->substr(first + 1, second - first - 1);
    while (!controllers.empty()) {
      const auto comma = controllers.find(',');
      entry.controllers.emplace_back(controllers.substr(0, comma));
      controllers =
          comma == std::string_view::npos ? std::string_view{} : controllers.substr(comma + 1);
    }
    result.push_back(std::move(entry));
  }
  if (result.empty()) throw parse_error(source, 0, "no cgroup lines");
  return result;
}

model::HostMemory read_host_memory(const sys::Roots& roots, sys::KeptFiles* kept) {
  const std::string path = roots.procfs + "/meminfo";
  return parse_meminfo(kept != nullptr ? kept->read_required(path) : sys::read_required(path),
                       path);
}

std::optional<model::Pressure> pressure_or_note(std::string_view text, const std::string& source,
                                                std::vector<model::Note>& notes) {
  std::vector<SkippedLine> skipped;
  try {
    auto pressure = parse_pressure(text, source, &skipped);
    for (const auto& line : skipped) {
      notes.push_back({"psi_line_ignored",
                       fmt::format("{}: line {}: ignored '{}' (not a 'some' or 'full' line)",
                                   source, line.number, printable(line.text))});
    }
    return pressure;
  } catch (const Error& e) {
    notes.push_back({"psi_unreadable", fmt::format("pressure unknown: {}", e.what())});
    return std::nullopt;
  }
}

std::optional<model::Pressure> read_host_pressure(const sys::Roots& roots,
                                                  std::vector<model::Note>& notes) {
  const std::string path = roots.procfs + "/pressure/memory";
  std::optional<std::string> text;
  try {
    text = sys::read_optional(path);
  } catch (const Error& e) {
    notes.push_back({"psi_unreadable", fmt::format("pressure unknown: {}", e.what())});
    return std::nullopt;
  }
  if (!text) {
    notes.push_back(
        {"no_host_psi",
         fmt::format("no pressure stall information: {} is absent (kernel < 4.20 or psi=0)",
                     path)});
    return std::nullopt;
  }
  return pressure_or_note(*text, path, notes);
}

std::optional<model::Fragmentation> read_fragmentation(const sys::Roots& roots,
                                                       std::vector<model::Note>& notes) {
  const std::string path = roots.procfs + "/buddyinfo";
  try {
    const auto text = sys::read_optional(path);
    if (!text) {
      notes.push_back({"no_buddyinfo", fmt::format("fragmentation unknown: {} is absent", path)});
      return std::nullopt;
    }
    return parse_buddyinfo(*text, sys::page_size(), path);
  } catch (const Error& e) {
    // buddyinfo only feeds the fragmentation figures: the rest of the report stands.
    notes.push_back({"buddyinfo_unreadable", fmt::format("fragmentation unknown: {}", e.what())});
    return std::nullopt;
  }
}

std::optional<std::string> read_process_name(const sys::Roots& roots, int pid) {
  std::string text;
  if (sys::read_into(fmt::format("{}/{}/comm", roots.procfs, pid), text) != 0) return std::nullopt;
  return printable(trim(text));
}

ProcessReader::ProcessReader(sys::Roots roots, ProcessCache* cache,
                             ProcessCache::Clock::time_point now)
    : roots_(std::move(roots)), cache_(cache), now_(now) {
  if (cache_ != nullptr) {
    ++cache_->scan_;
    cache_->hits_ = 0;
    cache_->misses_ = 0;
    if (!cache_->max_kept_files_) {
      // A captured tree's files can be replaced between scans; the live procfs's cannot.
      rlimit limit{};
      cache_->max_kept_files_ =
          !sys::is_live_procfs(roots_.procfs) ? 0
          : ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY
              ? static_cast<std::size_t>(limit.rlim_cur / 4)
              : std::size_t{1} << 16;
    }
  }
}

std::optional<model::ProcessMemory> ProcessReader::read(int pid) {
  const auto said = malformed_;
  try {
    return read_cached(pid);
  } catch (const Error& e) {
    // statm does not parse: nothing about this process can be trusted, the rest stands.
    if (malformed_ == said) malformed(e.what());  // one count per process
    return std::nullopt;
  }
}

void ProcessReader::malformed(std::string_view what) {
  if (malformed_++ == 0) first_malformed_ = what;
  last_malformed_ = what;
}

std::optional<model::ProcessMemory> ProcessReader::read_cached(int pid) {
  path_ = fmt::format("{}/{}/", roots_.procfs, pid);
  const std::size_t base = path_.size();
  if (cache_ == nullptr) return read_uncached(pid, base);

  // statm is cheap; when it is as it was at the last full read, that read still holds.
  sys::KeptFile opened;
  const int err = read_statm(pid, opened);  // path_ names the statm file
  const bool kernel_thread = err == 0 && parse_statm_rss(statm_, sys::page_size(), path_) == 0;
  path_.resize(base);
  if (err != 0) return read_uncached(pid, base);  // exited, or a tree without statm
  if (kernel_thread) return std::nullopt;
  const auto keep = [&](ProcessCache::Entry& entry) {
    if (!opened.is_open()) return;
    entry.statm_file = std::move(opened);
    ++cache_->kept_files_;
  };
  const auto it = cache_->entries_.find(pid);
  if (it != cache_->entries_.end() && it->second.statm == statm_ &&
      now_ - it->second.read_at < cache_->max_age_) {
    keep(it->second);
    it->second.scan = cache_->scan_;
    ++cache_->hits_;
    if (!it->second.malformed.empty()) {
      malformed(it->second.malformed);
    } else if (!it->second.memory.pss_bytes) {
      ++without_pss_;
    }
    return it->second.memory;
  }
  ++cache_->misses_;
  const auto malformed_before = malformed_;
  auto process = read_uncached(pid, base);
  if (process) {
    auto& entry = cache_->entries_[pid];
    keep(entry);
    entry.statm = statm_;
    entry.memory = *process;
    entry.read_at = now_;
    entry.scan = cache_->scan_;
    entry.malformed = malformed_ > malformed_before ? last_malformed_ : std::string();
  }
  return process;
}

int ProcessReader::read_statm(int pid, sys::KeptFile& opened) {
  path_.append("statm");
  if (const auto it = cache_->entries_.find(pid);
      it != cache_->entries_.end() && it->second.statm_file.is_open()) {
    // The file reads the process it was opened for, or fails once that one is gone: then the
    // pid, if it is listed, is another process's, and nothing of the entry is its.
    if (it->second.statm_file.read(statm_) == 0) return 0;
    cache_->entries_.erase(it);
    --cache_->kept_files_;
  }
  int err = 0;
  if (cache_->kept_files_ < cache_->max_kept_files_.value_or(0)) {
    err = opened.open(path_);
    if (err == 0) err = opened.read(statm_);
    if (err != 0) opened = sys::KeptFile();
  } else {
    err = sys::read_small(path_, statm_);
  }
  return err;
}

std::optional<model::ProcessMemory> ProcessReader::read_uncached(int pid, std::size_t base) {
  path_.append("comm");
  if (sys::read_into(path_, text_) != 0) return std::nullopt;  // exited, or not a process
  model::ProcessMemory process;
  process.pid = pid;
  process.name = printable(trim(text_));

  path_.resize(base);
  path_.append("smaps_rollup");
  const int err = sys::read_into(path_, text_);
  bool rollup_malformed = false;
  if (err == 0) {
    try {
      const auto rollup = parse_smaps_rollup(text_, path_);
      if (!rollup) return std::nullopt;  // a kernel thread, or a process that exited as we read
      process.rss_bytes = rollup->rss_bytes;
      process.pss_bytes = rollup->pss_bytes;
      process.uss_bytes = rollup->uss_bytes;
      process.swap_bytes = rollup->swap_bytes;
      return process;
    } catch (const Error& e) {
      malformed(e.what());
      rollup_malformed = true;
    }
  }
  // Another user's process (EACCES), no smaps_rollup at all (kernel < 4.14, gVisor) or one
  // that does not parse: statm still gives RSS. Kernel threads land here too (ESRCH) and have
  // no RSS.
  path_.resize(base);
  path_.append("statm");
  if (sys::read_into(path_, text_) != 0) return std::nullopt;
  process.rss_bytes = parse_statm_rss(text_, sys::page_size(), path_);
  if (process.rss_bytes == 0) return std::nullopt;
  if (rollup_malformed) return process;  // said by the malformed note
  if (sys::is_absent_errno(err)) no_rollup_support_ = true;
  ++without_pss_;
  return process;
}

void ProcessReader::forget_unseen() {
  if (cache_ == nullptr) return;
  std::erase_if(cache_->entries_,
                [scan = cache_->scan_](const auto& item) { return item.second.scan != scan; });
  cache_->kept_files_ = static_cast<std::size_t>(
      std::count_if(cache_->entries_.begin(), cache_->entries_.end(),
                    [](const auto& item) { return item.second.statm_file.is_open(); }));
}

void ProcessReader::add_notes(std::vector<model::Note>& notes) const {
  if (malformed_ > 0) {
    notes.push_back(
        {"process_file_malformed",
         fmt::format("{} process(es) with a file that does not parse, shown by RSS or left out "
                     "(the first: {})",
                     malformed_, first_malformed_)});
  }
  if (without_pss_ == 0) return;
  notes.push_back(
      {"pss_unknown",
       fmt::format("PSS/USS unknown for {} process(es): {}; their RSS is shown instead",
                   without_pss_,
                   no_rollup_support_ ? "smaps_rollup is absent (kernel < 4.14 or a sandbox)"
                                      : "smaps_rollup is not readable (permission denied)")});
}

std::vector<model::ProcessMemory> read_processes(const sys::Roots& roots,
                                                 std::vector<model::Note>& notes,
                                                 ProcessCache* cache,
                                                 ProcessCache::Clock::time_point now,
                                                 const std::function<bool(int)>& include) {
  std::vector<model::ProcessMemory> processes;
  ProcessReader reader(roots, cache, now);
  for (const int pid : sys::list_pids(roots.procfs)) {
    if (include && !include(pid)) continue;
    if (auto process = reader.read(pid)) processes.push_back(std::move(*process));
  }
  reader.forget_unseen();
  reader.add_notes(notes);
  std::sort(processes.begin(), processes.end(), [](const auto& a, const auto& b) {
    const auto ka = a.pss_bytes.value_or(a.rss_bytes);
    const auto kb = b.pss_bytes.value_or(b.rss_bytes);
    return ka != kb ? ka > kb : a.pid < b.pid;
  });
  return processes;
}

}  // namespace memopt::readers
