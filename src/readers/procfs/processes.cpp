#include <fmt/format.h>

#include <algorithm>

#include "memopt/error.hpp"
#include "memopt/printable.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/descriptors.hpp"
#include "memopt/sys/pidfd.hpp"
#include "readers/text.hpp"

// <procfs>/<pid>/: every process's memory (smaps_rollup, statm as the cheap change test and
// the fallback) and name (comm), with the cache a monitor keeps between scans.
namespace memopt::readers {

using detail::trim;

std::optional<std::string> read_process_name(const Roots& roots, int pid) {
  std::string text;
  if (sys::read_into(fmt::format("{}/{}/comm", roots.procfs, pid), text) != 0) return std::nullopt;
  return printable(trim(text));
}

ProcessReader::ProcessReader(Roots roots, ProcessCache* cache, ProcessCache::Clock::time_point now)
    : roots_(std::move(roots)), cache_(cache), now_(now) {
  if (cache_ != nullptr) {
    ++cache_->scan_;
    cache_->hits_ = 0;
    cache_->misses_ = 0;
    if (!cache_->max_kept_files_) {
      // A captured tree's files can be replaced between scans; the live procfs's cannot.
      cache_->max_kept_files_ = sys::is_live_procfs(roots_.procfs)
                                    ? sys::descriptor_budget(sys::kKeptStatmBudgetDivisor)
                                    : 0;
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
  const bool kernel_thread =
      err == 0 && parse_statm_rss(statm_, roots_.page_size_bytes, path_) == 0;
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
  process.rss_bytes = parse_statm_rss(text_, roots_.page_size_bytes, path_);
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

std::vector<model::ProcessMemory> read_processes(const Roots& roots,
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
