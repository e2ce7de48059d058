#include "memopt/actions/protect.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fnmatch.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <system_error>

#include "memopt/actions/actuator.hpp"
#include "memopt/error.hpp"
#include "memopt/protocol/wire.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/self.hpp"
#include "memopt/units.hpp"

namespace memopt::actions {

namespace {

using std::chrono::steady_clock;

/// Growth is measured over at least this long (two readings 10 ms apart say nothing)...
constexpr std::chrono::milliseconds kMinGrowthSpan{200};
/// ...over the last few seconds when readings that old are kept ("fastest grower" means now,
/// not since start)...
constexpr std::chrono::seconds kGrowthWindow{5};
/// ...else since the newest reading of at most this age (full samples a minute apart).
constexpr std::chrono::minutes kMaxSeriesAge{10};
/// The usage rate behind forecast_s is taken over the last second of readings.
constexpr std::chrono::seconds kRateWindow{1};
/// How long the shed request may take.
constexpr std::chrono::milliseconds kShedTimeout{2000};

std::string mib(std::uint64_t bytes) { return format_bytes(bytes); }

std::string rate(double bytes_per_second) {
  return fmt::format("{:+.1f} MiB/s", bytes_per_second / (1024.0 * 1024.0));
}

std::string describe(const Candidate& c) {
  std::string text = fmt::format("{} (pid {}, PSS {}", c.name, c.pid, mib(c.pss_bytes));
  if (c.growth_bytes_per_second) {
    text += fmt::format(", {} over {:.1f} s", rate(*c.growth_bytes_per_second), c.growth_seconds);
  }
  return text + ")";
}

// A process's start time from its stat text: absent when the line does not give it.
std::optional<std::uint64_t> start_ticks_of(std::string_view stat) {
  try {
    return readers::parse_proc_stat(stat, "stat").start_ticks;
  } catch (const Error&) {
    return std::nullopt;
  }
}

// What read_pid_files and read_candidates say for a read that failed.
std::string cannot_read(const std::string& path, int err) {
  return fmt::format("{} cannot be read: {}", path, sys::error_text(err));
}

// The first word of a file, as a pid.
std::optional<int> parse_pid(std::string_view text) {
  const auto start = text.find_first_not_of(" \t\n");
  if (start == std::string_view::npos) return std::nullopt;
  int pid = 0;
  std::size_t i = start;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    if (pid > 100'000'000) return std::nullopt;
    pid = pid * 10 + (text[i] - '0');
  }
  if (i == start || pid <= 0) return std::nullopt;
  return pid;
}

void collect_cgroup_pids(const std::string& dir, std::vector<int>& pids, int depth) {
  if (depth > 32) return;
  std::string text;
  if (sys::read_into(dir + "/cgroup.procs", text) == 0) {
    std::string_view rest(text);
    while (!rest.empty()) {
      const auto end = rest.find('\n');
      if (const auto pid = parse_pid(rest.substr(0, end))) pids.push_back(*pid);
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
  }
  for (const auto& name : sys::list_directory(dir)) {
    const auto child = dir + "/" + name;
    if (sys::is_directory(child)) collect_cgroup_pids(child, pids, depth + 1);
  }
}

// "NSpid:\t4242\t1": the last field is the pid in the innermost namespace.
bool is_namespace_init(int pid, const std::optional<std::string>& status) {
  if (pid == 1) return true;
  if (!status) return false;
  const auto at = status->find("\nNSpid:");
  if (at == std::string::npos) return false;
  const auto end = status->find('\n', at + 1);
  const std::string line = status->substr(at + 7, end == std::string::npos ? end : end - at - 7);
  const auto last = line.find_last_of(" \t");
  return line.substr(last == std::string::npos ? 0 : last + 1) == "1";
}

/// The eligible process that is worker `w` (the same pid, and the same start when both are
/// known: a reused pid is another process); null when it is not eligible.
const Candidate* eligible_worker(const std::vector<Candidate>& eligible, const GroupWorker& w) {
  const auto c = std::find_if(eligible.begin(), eligible.end(), [&](const Candidate& e) {
    return e.pid == w.pid && (!w.start_ticks || !e.start_ticks || *w.start_ticks == *e.start_ticks);
  });
  return c == eligible.end() ? nullptr : &*c;
}

}  // namespace

bool matches_process(std::string_view pattern, const Candidate& c) {
  const std::string p(pattern);
  if (::fnmatch(p.c_str(), c.name.c_str(), 0) == 0) return true;
  if (c.cmdline.empty()) return false;
  if (::fnmatch(p.c_str(), c.cmdline.c_str(), 0) == 0) return true;
  return c.cmdline.size() > p.size() && c.cmdline.compare(0, p.size(), p) == 0 &&
         c.cmdline[p.size()] == ' ';
}

VictimChoice choose_victim(const std::vector<Candidate>& candidates, const VictimPolicy& policy) {
  VictimChoice choice;
  std::vector<Candidate> eligible;
  for (const auto& c : candidates) {
    std::string why;
    if (c.pid == policy.self_pid) {
      why = "memopt itself";
    } else if (policy.self_exe && c.exe && *c.exe == *policy.self_exe) {
      why = "a memopt process (runs memopt's executable)";
    } else if (!c.in_target) {
      why = "outside the target cgroup";
    } else if (c.namespace_init) {
      why = "pid 1 of its pid namespace";
    } else if (std::find(policy.never_pids.begin(), policy.never_pids.end(), c.pid) !=
               policy.never_pids.end()) {
      why = "protected (the target's pid or a pid file's)";
    } else if (c.oom_score_adj && *c.oom_score_adj == -1000) {
      why = "protected (oom_score_adj -1000)";
    } else if (c.cmdline.empty() && c.pss_bytes == 0) {
      why = "a kernel thread";
    } else {
      for (const auto& pattern : policy.protect) {
        if (matches_process(pattern, c)) {
          why = fmt::format("protected (pattern '{}')", pattern);
          break;
        }
      }
    }
    if (why.empty()) {
      eligible.push_back(c);
    } else {
      choice.excluded.push_back({c.pid, c.name, std::move(why)});
    }
  }
  std::sort(eligible.begin(), eligible.end(), [](const Candidate& a, const Candidate& b) {
    return a.pss_bytes != b.pss_bytes ? a.pss_bytes > b.pss_bytes : a.pid < b.pid;
  });
  if (eligible.empty()) return choice;

  std::vector<const Candidate*> pool;
  std::string preferred_by;
  for (const auto& c : eligible) {
    for (const auto& pattern : policy.prefer) {
      if (matches_process(pattern, c)) {
        pool.push_back(&c);
        if (preferred_by.empty()) preferred_by = pattern;
        break;
      }
    }
  }
  std::string why = preferred_by.empty() ? std::string("no preferred process; ")
                                         : fmt::format("preferred (pattern '{}'); ", preferred_by);
  // No preference said: a worker of a copy-on-read group, the one with the most private
  // memory, before its parent (the job) and before any other process.
  bool copying = false;
  if (pool.empty()) {
    const GroupWorker* chosen = nullptr;
    const Candidate* worker = nullptr;
    for (const auto& w : policy.group_workers) {
      if (!w.copying) continue;
      const auto* c = eligible_worker(eligible, w);
      if (c == nullptr) continue;
      if (!chosen || w.private_bytes > chosen->private_bytes) chosen = &w, worker = c;
    }
    if (worker) {
      pool.push_back(worker);
      copying = true;
      why = fmt::format(
          "a worker copying its parent's memory (parent pid {}, copy-on-read), the one with the "
          "most private memory ({}): ending it frees its copy and its parent lives on",
          chosen->parent_pid, mib(chosen->private_bytes));
    }
  }
  if (pool.empty()) {
    for (const auto& c : eligible) pool.push_back(&c);
  }
  // oomd's kill_by_memory_size_or_growth: the processes with at least half the largest one's
  // PSS are "the largest"; among them the fastest grower, else the largest.
  const std::uint64_t largest = pool.front()->pss_bytes;
  const Candidate* victim = pool.front();
  double fastest = 0;
  for (const auto* c : pool) {
    if (c->pss_bytes * 2 < largest) break;
    if (c->growth_bytes_per_second && *c->growth_bytes_per_second > fastest) {
      fastest = *c->growth_bytes_per_second;
      victim = c;
    }
  }
  if (!copying) why += fastest > 0 ? "the fastest grower among the largest" : "the largest";
  if (fastest > 0 && !copying) {
    why += fmt::format(" ({} over {:.1f} s, from {} to {})", rate(fastest), victim->growth_seconds,
                       mib(victim->growth_from_bytes), mib(victim->pss_bytes));
  }
  // A parent of workers gives way to its fastest-growing worker: its own PSS rises as its
  // workers stop sharing its pages (copy-on-write, before the group is classified), and ending
  // it would end every worker with it.
  if (!copying && preferred_by.empty()) {
    const double parent_growth = victim->growth_bytes_per_second.value_or(0);
    const Candidate* worker = nullptr;
    for (const auto& w : policy.group_workers) {
      if (w.parent_pid != victim->pid) continue;
      const auto* c = eligible_worker(eligible, w);
      const double growth = c ? c->growth_bytes_per_second.value_or(0) : 0;
      if (growth < kGrowingBytesPerSecond || growth <= parent_growth) continue;
      if (!worker || growth > *worker->growth_bytes_per_second) worker = c;
    }
    if (worker) {
      why = fmt::format(
          "no preferred process; a worker of {} that grows ({} over {:.1f} s, from {} to {}), "
          "before its parent: ending the parent would end every worker, and its own growth is "
          "its workers' copies of its pages",
          describe(*victim), rate(*worker->growth_bytes_per_second), worker->growth_seconds,
          mib(worker->growth_from_bytes), mib(worker->pss_bytes));
      victim = worker;
    }
  }
  for (const auto& c : eligible) {
    if (c.pid != victim->pid) choice.alternatives.push_back(c);
  }
  // The one that grows may not be ended: a small steady victim would only be a substitute, and
  // the kernel would still end the grower.
  const Candidate* grower = nullptr;
  for (const auto& c : candidates) {
    const bool memopt = c.pid == policy.self_pid || (policy.self_exe && c.exe == policy.self_exe);
    if (memopt || !c.in_target || !c.growth_bytes_per_second ||
        *c.growth_bytes_per_second < kGrowingBytesPerSecond) {
      continue;
    }
    if (!grower || *c.growth_bytes_per_second > *grower->growth_bytes_per_second) grower = &c;
  }
  const double victim_growth = victim->growth_bytes_per_second.value_or(0);
  if (grower && grower->pid != victim->pid &&
      victim_growth * 4 < *grower->growth_bytes_per_second) {
    const auto x = std::find_if(choice.excluded.begin(), choice.excluded.end(),
                                [&](const Excluded& e) { return e.pid == grower->pid; });
    if (x != choice.excluded.end()) {
      choice.refused = fmt::format(
          "the process that grows, {}, may not be ended ({}); ending {} instead would not stop "
          "it",
          describe(*grower), x->why, describe(*victim));
      choice.alternatives.push_back(*victim);
      return choice;
    }
  }
  choice.victim = *victim;
  choice.why = std::move(why);
  return choice;
}

std::vector<Candidate> read_candidates(const Roots& roots,
                                       const std::optional<readers::CgroupLocation>& location,
                                       std::vector<std::string>& dropped) {
  std::vector<int> pids;
  if (location) {
    collect_cgroup_pids(location->dir, pids, 0);
    std::sort(pids.begin(), pids.end());
    pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  } else {
    pids = sys::list_pids(roots.procfs);
  }
  std::optional<readers::CgroupMembership> members;
  if (location) members.emplace(*location);
  std::vector<Candidate> out;
  std::string text;
  for (const int pid : pids) {
    const std::string dir = roots.procfs + "/" + std::to_string(pid);
    Candidate c;
    c.pid = pid;
    // One process's files never end the decision: what cannot be read drops that process.
    try {
      const auto name = readers::read_process_name(roots, pid);
      if (!name) continue;  // exited
      c.name = *name;
      bool truncated = false;
      int err = sys::read_head(dir + "/cmdline", kMaxCmdlineBytes, text, truncated);
      if (err == 0) {
        std::replace(text.begin(), text.end(), '\0', ' ');
        while (!text.empty() && text.back() == ' ') text.pop_back();
        c.cmdline = text;
      } else if (!sys::is_absent_errno(err)) {
        dropped.push_back(cannot_read(dir + "/cmdline", err));
        continue;
      }
      err = sys::read_into(dir + "/smaps_rollup", text);
      if (err == 0) {
        if (const auto rollup = readers::parse_smaps_rollup(text, dir + "/smaps_rollup")) {
          c.pss_bytes = rollup->pss_bytes;
        }
      } else if (sys::is_absent_errno(err) && (err = sys::read_into(dir + "/statm", text)) == 0) {
        c.pss_bytes = readers::parse_statm_rss(text, roots.page_size_bytes, dir + "/statm");
      }
      if (err != 0) {
        if (!sys::is_absent_errno(err)) dropped.push_back(cannot_read(dir + "/smaps_rollup", err));
        continue;  // exited while read, or nothing says how large it is
      }
      if (sys::read_into(dir + "/oom_score_adj", text) == 0) {
        const std::string_view adj(text);
        const bool negative = !adj.empty() && adj.front() == '-';
        if (const auto value = parse_pid(negative ? adj.substr(1) : adj)) {
          c.oom_score_adj = negative ? -*value : *value;
        } else if (adj.find_first_not_of("0\n") == std::string_view::npos && !adj.empty()) {
          c.oom_score_adj = 0;
        }
      }
      std::optional<std::string> status;
      if (sys::read_into(dir + "/status", text) == 0) status = text;
      c.namespace_init = is_namespace_init(pid, status);
      if (sys::read_into(dir + "/stat", text) == 0) c.start_ticks = start_ticks_of(text);
      c.exe = sys::file_id(dir + "/exe");
      // Moved out since cgroup.procs was read: not the target's any more.
      if (members) c.in_target = members->contains_pid(roots.procfs, pid).value_or(false);
    } catch (const std::exception& e) {
      dropped.push_back(
          fmt::format("{} (pid {}): {}", c.name.empty() ? "?" : c.name, pid, e.what()));
      continue;
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<int> read_pid_files(const std::vector<std::string>& pid_files,
                                std::vector<std::string>& problems) {
  std::vector<int> pids;
  std::string text;
  for (const auto& file : pid_files) {
    if (const int err = sys::read_into(file, text); err != 0) {
      problems.push_back(fmt::format("pid file {}", cannot_read(file, err)));
      continue;
    }
    if (const auto pid = parse_pid(text)) {
      pids.push_back(*pid);
    } else {
      problems.push_back(fmt::format("pid file {} holds no pid", file));
    }
  }
  return pids;
}

std::vector<std::string> pid_file_problems(const Roots& roots,
                                           const std::vector<std::string>& pid_files) {
  std::vector<std::string> problems;
  for (const auto& file : pid_files) {
    for (const int pid : read_pid_files({file}, problems)) {
      if (!sys::exists(fmt::format("{}/{}", roots.procfs, pid))) {
        problems.push_back(fmt::format(
            "pid file {} names pid {}, which is not running: it protects nothing", file, pid));
      }
    }
  }
  return problems;
}

// --- signallers -----------------------------------------------------------------------------

int SystemSignaller::hold(int pid) {
  sys::Pidfd fd(pid);
  if (!fd.valid()) return fd.error();
  held_.insert_or_assign(pid, std::move(fd));
  return 0;
}

int SystemSignaller::inspect(int pid, sys::LiveProcess& out) {
  const auto it = held_.find(pid);
  return it == held_.end() ? EBADF : it->second.read_live(out);
}

bool SystemSignaller::reaches(const std::string& procfs) { return sys::is_live_procfs(procfs); }

int SystemSignaller::send(int pid, int signal) {
  const auto it = held_.find(pid);
  return it == held_.end() ? EBADF : it->second.send(signal);
}

bool SystemSignaller::exited(int pid) {
  const auto it = held_.find(pid);
  return it == held_.end() || it->second.exited();
}

void SystemSignaller::release(int pid) { held_.erase(pid); }

// --- the escalation ---------------------------------------------------------------------------

Protector::Protector(config::ProtectConfig config, Roots roots,
                     std::optional<readers::CgroupLocation> location, model::Target target,
                     std::vector<std::string> runtime_dirs, Signaller& signaller)
    : config_(std::move(config)),
      roots_(std::move(roots)),
      location_(std::move(location)),
      target_(std::move(target)),
      runtime_dirs_(std::move(runtime_dirs)),
      signaller_(signaller) {}

Protector::~Protector() {
  if (shed_ && shed_->result.valid()) shed_->result.wait();
}

void Protector::track_growth(const ProtectReading& reading) {
  usage_.emplace_back(reading.taken, reading.memory.used_bytes);
  while (!usage_.empty() && reading.taken - usage_.front().first > kRateWindow) {
    usage_.erase(usage_.begin());
  }
}

bool Protector::kill_due(const ProtectReading& reading) const {
  if (reading.level == analysis::Level::kDanger) return true;
  if (config_.forecast_seconds <= 0 || reading.level < analysis::Level::kSevere) return false;
  if (usage_.size() < 2) return false;
  const auto& [t0, u0] = usage_.front();
  const auto& [t1, u1] = usage_.back();
  const double span = std::chrono::duration<double>(t1 - t0).count();
  if (span <= 0 || u1 <= u0) return false;
  const double rate = static_cast<double>(u1 - u0) / span;
  const double seconds = static_cast<double>(reading.memory.available_bytes) / rate;
  return seconds < config_.forecast_seconds;
}

void Protector::step(const ProtectReading& reading, steady_clock::time_point now,
                     std::vector<analysis::Event>& events, std::vector<std::string>& notices) {
  track_growth(reading);
  finish(events, false);
  if (victim_) follow_victim(reading, now, events, notices);
  if (reading.level >= config_.shed_level) start_shed(reading, now, notices);
  if (!victim_ && kill_due(reading)) decide(reading, now, events, notices);
}

void Protector::start_shed(const ProtectReading& reading, steady_clock::time_point now,
                           std::vector<std::string>& notices) {
  if (shed_ || (last_shed_ && now - *last_shed_ < config_.shed_cooldown)) return;
  last_shed_ = now;
  RunningShed running;
  running.event = analysis::Event(analysis::ShedRan{}, reading.at, reading.level, reading.memory);
  CleanupOptions options;
  options.target = target_;
  options.runtime_dirs = runtime_dirs_;
  options.request = protocol::request_name(protocol::Request::kShed);
  options.request_timeout = kShedTimeout;
  options.dry_run = config_.dry_run;
  try {
    running.result = std::async(
        std::launch::async, [roots = roots_, options] { return run_cooperative(roots, options); });
  } catch (const std::system_error& e) {
    notices.push_back(fmt::format("cannot start the shed request: {}", e.what()));
    return;
  }
  shed_ = std::move(running);
}

void Protector::finish(std::vector<analysis::Event>& events, bool wait) {
  if (!shed_) return;
  if (!wait && shed_->result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
  auto e = std::move(shed_->event);
  auto& shed = *e.payload_if<analysis::ShedRan>();
  const auto level = std::string(analysis::to_string(e.level));
  try {
    const auto report = shed_->result.get();
    const auto& step = report.steps.front();
    shed.steps.push_back({"shed", step.status});
    std::vector<std::string> asked;
    for (const auto& p : report.processes) {
      asked.push_back(fmt::format("{} (pid {}) {}", p.name.value_or("?"), p.pid, p.status));
    }
    // The working set across the shed step alone (never what a concurrent cleanup freed); a
    // dry run released nothing, so it gives only an estimate and no released_bytes.
    std::string outcome;
    if (config_.dry_run) {
      outcome = report.would_release_estimate_bytes
                    ? "would release (estimate): at most " +
                          format_bytes(*report.would_release_estimate_bytes) +
                          " (the RSS of the processes that would be asked)"
                    : "would release (estimate): nothing, no process would be asked";
    } else {
      shed.released_bytes = step.released_bytes.value_or(0);
      outcome = "released " + format_released(*shed.released_bytes, "the working set");
    }
    e.message = fmt::format("shed at {}{}: {}; {}{}", level, config_.dry_run ? " (dry run)" : "",
                            step.reason, outcome,
                            asked.empty() ? "" : fmt::format(" ({})", fmt::join(asked, ", ")));
  } catch (const std::exception& err) {
    e.message = fmt::format("shed at {} failed: {}", level, err.what());
  }
  shed_.reset();
  events.push_back(std::move(e));
}

void Protector::record_pss(int pid, const std::string& name, steady_clock::time_point at,
                           std::uint64_t bytes) {
  auto& series = series_[pid];
  if (series.name != name) series = Series{name, {}};
  auto& points = series.points;
  if (!points.empty() && points.back().first >= at) return;
  points.emplace_back(at, bytes);
  while (points.size() > kSeriesPoints || at - points.front().first > kMaxSeriesAge) {
    points.pop_front();
  }
}

void Protector::forget_absent(const std::vector<int>& present) {
  for (auto it = series_.begin(); it != series_.end();) {
    if (std::binary_search(present.begin(), present.end(), it->first)) {
      ++it;
    } else {
      it = series_.erase(it);
    }
  }
}

void Protector::observe(steady_clock::time_point now,
                        const std::vector<model::ProcessMemory>& processes) {
  std::vector<int> present;
  present.reserve(processes.size());
  for (const auto& p : processes) {
    present.push_back(p.pid);
    record_pss(p.pid, p.name, now, p.pss_bytes.value_or(p.rss_bytes));
  }
  std::sort(present.begin(), present.end());
  forget_absent(present);
}

void Protector::measure_growth(Candidate& c, steady_clock::time_point now) const {
  const auto it = series_.find(c.pid);
  if (it == series_.end() || it->second.name != c.name) return;
  // The oldest reading of the last few seconds, else the newest one older than that.
  using Point = std::pair<steady_clock::time_point, std::uint64_t>;
  const Point* from = nullptr;
  const Point* older = nullptr;
  for (const auto& point : it->second.points) {
    const auto age = now - point.first;
    if (age < kMinGrowthSpan) break;
    if (age <= kGrowthWindow) {
      from = &point;
      break;
    }
    older = &point;
  }
  if (!from) from = older;
  if (!from) return;
  const double span = std::chrono::duration<double>(now - from->first).count();
  c.growth_bytes_per_second =
      (static_cast<double>(c.pss_bytes) - static_cast<double>(from->second)) / span;
  c.growth_seconds = span;
  c.growth_from_bytes = from->second;
}

std::vector<int> Protector::protected_pids(std::vector<std::string>& problems) {
  std::vector<int> pids;
  for (const auto& file : config_.pid_files) {
    std::vector<std::string> said;
    const auto read = read_pid_files({file}, said);
    if (!read.empty()) {
      pid_file_pids_[file] = read.front();
      pids.push_back(read.front());
      continue;
    }
    const auto last = pid_file_pids_.find(file);
    problems.push_back(
        fmt::format("protect: {}; {}", said.front(),
                    last == pid_file_pids_.end()
                        ? std::string("no process is protected by it")
                        : fmt::format("pid {} read from it before stays protected", last->second)));
    if (last != pid_file_pids_.end()) pids.push_back(last->second);
  }
  return pids;
}

std::vector<std::string> Protector::check_pid_files() {
  std::vector<std::string> problems;
  (void)protected_pids(problems);
  said_ = problems;
  return problems;
}

std::optional<std::string> Protector::verify(const Candidate& v,
                                             const sys::LiveProcess& live) const {
  const auto ticks = start_ticks_of(live.stat);
  if (!v.start_ticks || !ticks) return "its start time cannot be read, so its identity is unsure";
  if (*ticks != *v.start_ticks) {
    return fmt::format("pid {} is now another process (started at tick {}, the one chosen at {})",
                       v.pid, *ticks, *v.start_ticks);
  }
  if (location_ && !readers::CgroupMembership(*location_).contains(live.cgroup).value_or(false)) {
    return fmt::format("the live kernel puts it outside {}", location_->path);
  }
  if (live.exe && v.exe && *live.exe != *v.exe) return "it runs another executable now";
  if (live.exe && live.exe == sys::self_executable()) return "it runs memopt's executable";
  return std::nullopt;
}

void Protector::decide(const ProtectReading& reading, steady_clock::time_point now,
                       std::vector<analysis::Event>& events, std::vector<std::string>& notices) {
  const auto say_once = [&](std::string message) {
    if (message != last_notice_) notices.push_back(message);
    last_notice_ = std::move(message);
  };
  // Problems that last (a bad pid file, a process whose files cannot be read): said when they
  // first appear, not at every decision.
  std::vector<std::string> problems;
  const auto say_new = [&](const std::vector<std::string>& now_problems) {
    for (const auto& p : now_problems) {
      if (std::find(said_.begin(), said_.end(), p) == said_.end()) notices.push_back(p);
    }
    said_ = now_problems;
  };
  VictimPolicy policy;
  policy.self_pid = sys::self_pid();
  policy.self_exe = sys::self_executable();
  policy.prefer = config_.prefer;
  policy.protect = config_.protect;
  policy.group_workers = group_workers_;
  if (target_.kind == model::Target::Kind::kPid && target_.pid > 0) {
    policy.never_pids.push_back(target_.pid);
  }
  for (const int pid : protected_pids(problems)) policy.never_pids.push_back(pid);
  std::vector<Candidate> candidates;
  std::vector<std::string> dropped;
  try {
    candidates = read_candidates(roots_, location_, dropped);
  } catch (const std::exception& e) {
    say_new(problems);
    say_once(fmt::format("protect: at {} but the target's processes cannot be listed: {}",
                         analysis::to_string(reading.level), e.what()));
    return;
  }
  for (const auto& d : dropped) {
    problems.push_back(fmt::format("protect: left out of the candidates: {}", d));
  }
  say_new(problems);
  std::vector<int> present;
  for (auto& c : candidates) {
    measure_growth(c, now);
    record_pss(c.pid, c.name, now, c.pss_bytes);
    present.push_back(c.pid);
  }
  std::sort(present.begin(), present.end());
  forget_absent(present);
  // Reading the processes took time: the level it acts on must still be fresh.
  const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - reading.taken);
  if (age > kMaxReadingAge) {
    say_once(fmt::format("protect: no decision on a reading {} ms old (at most {} ms)", age.count(),
                         kMaxReadingAge.count()));
    return;
  }
  auto choice = choose_victim(candidates, policy);
  if (!choice.victim) {
    if (choice.refused) {
      say_once(fmt::format("protect: at {} but no process is ended: {}",
                           analysis::to_string(reading.level), *choice.refused));
      return;
    }
    std::vector<std::string> why;
    for (const auto& x : choice.excluded) why.push_back(fmt::format("{} {}", x.name, x.why));
    say_once(fmt::format("protect: at {} but no process may be ended ({})",
                         analysis::to_string(reading.level), fmt::join(why, "; ")));
    return;
  }
  const auto& v = *choice.victim;
  const auto kill_event = [&](analysis::KillChosen kill) {
    kill.process = {v.pid, v.name};
    return analysis::Event(std::move(kill), reading.at, reading.level, reading.memory);
  };
  if (!config_.dry_run) {
    if (!signaller_.reaches(roots_.procfs)) {
      say_once(fmt::format(
          "protect: at {} but {} is not the live /proc of memopt's pid namespace: its pids may "
          "name other processes here, so none is signalled (--dry-run shows the decisions)",
          analysis::to_string(reading.level), roots_.procfs));
      return;
    }
    // Hold it first, then check through the hold that it is still the process chosen.
    int err = signaller_.hold(v.pid);
    sys::LiveProcess live;
    if (err == 0) err = signaller_.inspect(v.pid, live);
    std::optional<std::string> wrong;
    if (err == 0) wrong = verify(v, live);
    if (err == 0 && !wrong) err = signaller_.send(v.pid, SIGTERM);
    if (err == ESRCH) {
      signaller_.release(v.pid);
      series_.erase(v.pid);
      notices.push_back(
          fmt::format("protect: {} was already gone when it was to be signalled; "
                      "deciding again on the next reading",
                      describe(v)));
      return;
    }
    if (wrong) {
      signaller_.release(v.pid);
      series_.erase(v.pid);
      say_once(fmt::format("protect: {} not signalled: {}", describe(v), *wrong));
      return;
    }
    if (err != 0) {
      auto e = kill_event({});
      e.message = fmt::format("protect: cannot end {}: {}", describe(v), sys::error_text(err));
      events.push_back(std::move(e));
      signaller_.release(v.pid);
      return;
    }
  }
  analysis::KillChosen kill{.pss_bytes = v.pss_bytes,
                            .reason = choice.why,
                            .signal = "SIGTERM",
                            .dry_run = config_.dry_run};
  for (const auto& a : choice.alternatives) kill.alternatives.push_back(describe(a));
  const std::string alternatives =
      kill.alternatives.empty()
          ? std::string("; no alternative")
          : fmt::format("; alternatives: {}", fmt::join(kill.alternatives, ", "));
  auto e = kill_event(std::move(kill));
  const std::string trigger =
      reading.level == analysis::Level::kDanger
          ? std::string("danger")
          : fmt::format("severe with the limit under {:g} s away", config_.forecast_seconds);
  e.message = fmt::format("{} {} at {} ({} available): {}{}",
                          config_.dry_run ? "would end" : "ended", describe(v), trigger,
                          mib(reading.memory.available_bytes), choice.why, alternatives);
  events.push_back(std::move(e));
  victim_ = Victim{v, now, std::nullopt, std::nullopt, config_.dry_run};
}

void Protector::sweep_victim_shm(const ProtectReading& reading,
                                 std::vector<analysis::Event>& events) {
  const auto& victim = victim_->process;
  CleanupOptions options;
  options.target = target_;
  options.shm_owner = victim.pid;
  CleanupReport report;
  SystemActuator actuator;
  try {
    sweep_shm_orphans(roots_, actuator, options, report);
  } catch (const Error& err) {
    report.steps.push_back({"shm_orphans", "failed", err.what(), std::nullopt});
  }
  const auto& step = report.steps.back();
  if (report.shm_removals.empty() && step.status != "failed") return;  // nothing of its there
  std::uint64_t removed = 0;
  std::vector<std::string> lines;
  for (const auto& r : report.shm_removals) {
    if (r.status == "removed") removed += r.bytes;
    lines.push_back(r.status == "removed" ? fmt::format("{} {}", r.name, format_bytes(r.bytes))
                                          : fmt::format("{} {}: {}", r.name, r.status, r.reason));
  }
  analysis::Event e(
      analysis::ShmSwept{.process = {victim.pid, victim.name}, .released_bytes = removed},
      reading.at, reading.level, reading.memory);
  e.message =
      report.shm_removals.empty()
          ? fmt::format("/dev/shm sweep after {} failed: {}", describe(victim), step.reason)
          : fmt::format("removed {} of {}'s orphan file(s) from {} ({}): {}", format_bytes(removed),
                        describe(victim), report.shm_dir.value_or("/dev/shm"), step.reason,
                        fmt::join(lines, ", "));
  events.push_back(std::move(e));
}

void Protector::follow_victim(const ProtectReading& reading, steady_clock::time_point now,
                              std::vector<analysis::Event>& events,
                              std::vector<std::string>& notices) {
  auto& v = *victim_;
  if (v.dry_run) {
    // Nothing was sent: the decision stands for one grace period, as a real one would.
    if (now - v.term_at >= config_.grace) victim_.reset();
    return;
  }
  if (!v.gone_at && signaller_.exited(v.process.pid)) {
    v.gone_at = now;
    sweep_victim_shm(reading, events);
  }
  if (!v.gone_at) {
    if (!v.kill_at && now - v.term_at >= config_.grace) {
      v.kill_at = now;
      const int err = signaller_.send(v.process.pid, SIGKILL);
      if (err == ESRCH) {  // it left on its own just now: nothing was ended by this signal
        v.gone_at = now;
        sweep_victim_shm(reading, events);
        return;
      }
      const std::string reason = "still running after SIGTERM and a grace of " +
                                 std::to_string(config_.grace.count()) + " ms";
      analysis::Event e(analysis::KillChosen{.process = {v.process.pid, v.process.name},
                                             .pss_bytes = v.process.pss_bytes,
                                             .reason = reason,
                                             .signal = "SIGKILL"},
                        reading.at, reading.level, reading.memory);
      e.message = err == 0 ? fmt::format("ended {} with SIGKILL: {}", describe(v.process), reason)
                           : fmt::format("cannot SIGKILL {}: {}", describe(v.process),
                                         sys::error_text(err));
      events.push_back(std::move(e));
    } else if (v.kill_at && now - *v.kill_at >= config_.grace) {
      notices.push_back(
          fmt::format("protect: {} has not exited {} ms after SIGKILL (stuck in the "
                      "kernel?); deciding again",
                      describe(v.process), config_.grace.count()));
      signaller_.release(v.process.pid);
      victim_.reset();
    }
    return;
  }
  // Gone: the next decision waits for a reading taken after it left (its memory is back in
  // the figures), and never comes within one grace period of the last kill.
  if (now - v.term_at < config_.grace) return;
  if (reading.level < analysis::Level::kDanger || reading.taken > *v.gone_at) {
    signaller_.release(v.process.pid);
    series_.erase(v.process.pid);
    victim_.reset();
  }
}

}  // namespace memopt::actions
