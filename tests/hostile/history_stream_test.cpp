// A long history against the commands that read all of it. `memopt history --format json` over a
// week at 1 s held every row as a JSON document before writing any (3.2 GB), and `recommend
// --from-history` every observation, sample and process as objects (523 MB). Both now stream: the
// rows are written or folded as they are read, and peak RSS stays under 64 MiB however long the
// history (issue 31, item 4). The bound is asserted (a memory figure, not a timing); under ASan
// (the suite's second run) shadow memory and the quarantine of freed blocks grow with every
// allocation, so there only completeness is checked.
#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "memopt/record/recorder.hpp"
#include "memopt/record/sqlite.hpp"
#include "support/cgroup.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

extern char** environ;

namespace memopt::record {
namespace {

using memopt::testing::TempTree;

constexpr std::int64_t kMiB = 1 << 20;
// 2026-11-01T00:00:00Z, in ms: the histories start here.
constexpr std::int64_t kStartMs = 1793491200000;
constexpr long kMaxPeakRssKib = 64 * 1024;
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kRssBounded = false;
#else
constexpr bool kRssBounded = true;
#endif

struct Filled {
  std::int64_t observations = 0;
  std::int64_t samples = 0;
  std::int64_t events = 0;
};

/// `days` of history as `monitor 10 --record` keeps it with full_s raised to cover them: an
/// observation each second, a full sample every 10 s with 10 processes and a GPU, an event a
/// day. Written with SQLite directly, in one transaction (the Recorder would take minutes).
Filled fill_history(const std::string& path, int days) {
  { Recorder schema(path, {}); }
  Database db(path, true);
  db.exec("BEGIN");
  auto o = db.prepare("INSERT INTO observations VALUES(?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  auto s = db.prepare("INSERT INTO samples VALUES(?1, ?2, 0, ?3, ?4, ?5)");
  auto p = db.prepare("INSERT INTO processes VALUES(?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7)");
  auto g = db.prepare("INSERT INTO gpus VALUES(?1, 0, 'NVIDIA H100 80GB HBM3', ?2, ?3)");
  auto e = db.prepare("INSERT INTO events VALUES(?1, 'level_changed', 1, 'memory is warning', ?2)");
  const std::int64_t limit = 8192 * kMiB;
  const std::string names[] = {
      "python3",      "pt_data_worker", "pt_data_worker", "nvidia-smi", "sh",
      "tritonserver", "python3",        "uvicorn",        "redis",      "bash"};
  Filled filled;
  for (std::int64_t i = 0; i < days * 86400LL; ++i) {
    const std::int64_t t = kStartMs + i * 1000;
    // A daily sawtooth from 2 to 5 GiB, a little noise, an OOM kill every two days.
    const std::int64_t used = (2048 + (i % 86400) * 3072 / 86400 + (i * 7919) % 64) * kMiB;
    const std::int64_t level = used > 4096 * kMiB ? 1 : 0;
    o.bind(1, t).bind(2, used).bind(3, limit).bind(4, limit - used).bind(5, level);
    o.bind(6, static_cast<double>(i % 100) / 10).bind(7, static_cast<double>(i % 50) / 10);
    o.bind(8, i / 172800).run();
    ++filled.observations;
    if (i % 10 == 0) {
      const std::int64_t id = ++filled.samples;
      s.bind(1, id).bind(2, t).bind(3, used).bind(4, limit).bind(5, level).run();
      for (std::int64_t n = 0; n < 10; ++n) {
        p.bind(1, id).bind(2, 1000 + n).bind(3, std::string_view(names[n]));
        p.bind(4, used / (n + 2)).bind(5, used / (n + 2)).bind(6, used / (n + 4));
        p.bind(7, n == 0 ? std::optional<std::int64_t>(512 * kMiB) : std::nullopt).run();
      }
      g.bind(1, id).bind(2, (40000 + i % 20000) * kMiB).bind(3, 81559 * kMiB).run();
    }
    if (i % 86400 == 3600) {
      e.bind(1, t).bind(
          2, std::string_view(R"({"timestamp":"2026-11-01T01:00:00Z","event":"level_changed",)"
                              R"("level":"warning","message":"memory is warning"})"));
      e.run();
      ++filled.events;
    }
  }
  db.exec("COMMIT");
  return filled;
}

struct Measured {
  int exit_code = -1;
  long peak_rss_kib = -1;  ///< memopt's peak RSS (/usr/bin/time %M)
  std::size_t bytes = 0;
  std::size_t elements = 0;  ///< "    {\n      \"t\": ": an observation's or a sample's start
  std::string head;          ///< the first 64 KiB of standard output
  std::string tail;          ///< its last 64 bytes
  double seconds = 0;
};

/// Runs memopt with `args`; its standard output is read as it comes (never held whole).
Measured run_measured(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  // Through /usr/bin/time: a child spawned from this process would count the test's own
  // resident set too (exec takes the old address space's high-water mark into ru_maxrss).
  TempTree tmp;
  const auto rss_file = tmp.path("rss");
  std::vector<std::string> argv{"/usr/bin/time", "-q", "-f", "%M", "-o", rss_file, MEMOPT_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> argp;
  for (auto& a : argv) argp.push_back(a.data());
  argp.push_back(nullptr);
  std::vector<std::string> env{"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"};
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const auto started = std::chrono::steady_clock::now();
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argp[0], &actions, nullptr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) throw std::runtime_error("cannot start memopt");

  Measured m;
  const std::string element = "\n    {\n      \"t\": ";
  std::string carry;  // the end of the last chunk, for a start split across two reads
  std::vector<char> chunk(1 << 20);
  for (;;) {
    const auto n = ::read(fds[0], chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    const std::string_view got(chunk.data(), static_cast<std::size_t>(n));
    m.bytes += got.size();
    if (m.head.size() < 65536) m.head.append(got.substr(0, 65536 - m.head.size()));
    std::string scan = carry + std::string(got);
    for (auto at = scan.find(element); at != std::string::npos; at = scan.find(element, at + 1)) {
      ++m.elements;
    }
    const auto keep = std::min(scan.size(), element.size() - 1);
    carry = scan.substr(scan.size() - keep);
    m.tail = (m.tail + std::string(got));
    if (m.tail.size() > 64) m.tail.erase(0, m.tail.size() - 64);
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  m.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  const auto rss = testing::slurp(rss_file);
  if (const auto nl = rss.find_last_of("0123456789"); nl != std::string::npos) {
    const auto start = rss.find_last_not_of("0123456789", nl);
    m.peak_rss_kib = std::stol(rss.substr(start == std::string::npos ? 0 : start + 1));
  }
  return m;
}

struct Run {
  Filled filled;
  Measured history;
  Measured recommend;
};

Run measure(TempTree& tmp, int days) {
  const auto db = tmp.path(fmt::format("history-{}d.db", days));
  Run r;
  const auto started = std::chrono::steady_clock::now();
  r.filled = fill_history(db, days);
  const auto filled =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  r.history = run_measured({"history", "--db", db, "--since", "2026-10-01T00:00:00Z", "--until",
                            "2026-12-01T00:00:00Z", "--format", "json"});
  r.recommend = run_measured({"recommend", "--from-history", db, "--json"});
  std::cout << days << " day(s) at 1 s (" << r.filled.observations << " observations, "
            << r.filled.samples << " samples of 10 processes), written in " << filled
            << " s:\n  history --format json: " << r.history.bytes << " bytes in "
            << r.history.seconds << " s, peak RSS " << r.history.peak_rss_kib
            << " KiB\n  recommend --from-history: " << r.recommend.seconds << " s, peak RSS "
            << r.recommend.peak_rss_kib << " KiB\n";
  ::testing::Test::RecordProperty(fmt::format("history_json_{}d_peak_rss_kib", days),
                                  std::to_string(r.history.peak_rss_kib));
  ::testing::Test::RecordProperty(fmt::format("recommend_{}d_peak_rss_kib", days),
                                  std::to_string(r.recommend.peak_rss_kib));
  return r;
}

/// Everything was read: every observation and sample written, the document closed, and the
/// recommendation made from all the observations.
void expect_complete(const Run& r) {
  EXPECT_EQ(r.history.exit_code, 0);
  EXPECT_GT(r.history.peak_rss_kib, 0);
  EXPECT_GT(r.recommend.peak_rss_kib, 0);
  EXPECT_EQ(r.history.elements, static_cast<std::size_t>(r.filled.observations + r.filled.samples));
  EXPECT_THAT(r.history.head, ::testing::StartsWith("{\n  \"schema\": \"memopt.history/1\",\n"));
  EXPECT_THAT(r.history.tail,
              ::testing::EndsWith("\"message\": \"memory is warning\"\n    }\n  ]\n}\n"));
  ASSERT_EQ(r.recommend.exit_code, 0) << r.recommend.head;
  const auto doc = nlohmann::json::parse(r.recommend.head);
  EXPECT_EQ(doc["observations"], r.filled.observations);
  EXPECT_TRUE(doc["recommended_bytes"].is_number());
  EXPECT_EQ(doc["gpus"].size(), 1u);
}

TEST(LongHistory, HistoryJsonAndRecommendStayUnder64MiBAndDoNotGrowFromADayToAWeek) {
  TempTree tmp;
  const auto one = measure(tmp, 1);
  expect_complete(one);
  // Under ASan only completeness is checked: two days show it as well as seven, in far less
  // of the sanitized run's time.
  const auto week = measure(tmp, kRssBounded ? 7 : 2);
  expect_complete(week);
  if (kRssBounded) {
    // Seven times the rows, the same memory: nothing is held per row.
    EXPECT_LT(week.history.peak_rss_kib - one.history.peak_rss_kib, 8 * 1024);
    EXPECT_LT(week.recommend.peak_rss_kib - one.recommend.peak_rss_kib, 8 * 1024);
    EXPECT_LE(week.history.peak_rss_kib, kMaxPeakRssKib);
    EXPECT_LE(week.recommend.peak_rss_kib, kMaxPeakRssKib);
  }
}

/// The cgroup's count of kernel OOM kills (v1 memory.oom_control, v2 memory.events), or -1.
long kernel_oom_kills(const testing::TestCgroup& cgroup) {
  std::istringstream in(testing::slurp(
      cgroup.dir() + (cgroup.version() == 1 ? "/memory.oom_control" : "/memory.events")));
  std::string key;
  long value = 0;
  while (in >> key >> value) {
    if (key == "oom_kill") return value;
  }
  return -1;
}

// Issue 31, item 4, end to end: a restarted `monitor --protect --record` over 16 days of history
// at 1 s (~165 MiB), which its retention and size cap cut to 32 MiB at the first write, while an
// allocator climbs to the limit in 32 MiB steps as fast as the machine allows. Pruning and the
// cap are the writer thread's work, so sampling never waits for them: memopt ends the allocator
// and the kernel kills nothing. (On the engine's thread, as the issue measured, a prune of this
// size stalled sampling ~4 s and the kernel killed first.)
TEST(LongHistory, ProtectionBeatsAFastAllocatorWhile165MiBOfHistoryIsCut) {
  if (!kRssBounded) {
    GTEST_SKIP() << "a sanitized memopt holds ~500 MiB itself (shadow memory, the quarantine of "
                    "freed blocks): inside the 512 MiB cgroup it is the kernel's victim; the "
                    "plain run asserts this";
  }
  std::string why_not;
  const auto cgroup = testing::TestCgroup::create(&why_not, "history-protect");
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  cgroup->set_limit(512 * kMiB);
  TempTree tmp;
  const auto db = tmp.mkdir("state") + "/history.db";
  const auto started = std::chrono::steady_clock::now();
  const auto filled = fill_history(db, 16);
  const auto db_bytes = std::filesystem::file_size(db);
  std::cout << "16 days of history: " << db_bytes / kMiB << " MiB, written in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()
            << " s\n";
  ASSERT_GT(db_bytes, static_cast<std::uintmax_t>(150 * kMiB)) << filled.observations;
  const auto config =
      tmp.write("memopt.toml",
                "[thresholds]\nacceptable_percent = 40\nwarning_percent = 50\nsevere_percent = 60\n"
                "danger_available = \"100M\"\n"
                "[protect]\nenabled = true\nforecast_s = 0\ngrace_ms = 3000\n"
                "[record]\nmax_size = \"32M\"\n");
  testing::Holder allocator;
  cgroup->add(allocator.pid());
  ASSERT_TRUE(allocator.hold(16));

  auto argv = cgroup->enter_command();
  argv.insert(argv.end(),
              {MEMOPT_BINARY, "monitor", "1", "--json", "--config", config, "--record", db});
  const auto launched = std::chrono::steady_clock::now();
  testing::Background monitor(argv, {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1",
                                     "MEMOPT_RUNTIME_DIR=" + tmp.mkdir("run")});
  ASSERT_FALSE(testing::next_json_line(monitor, "sample", "", 20'000).is_null());
  std::cout << "first sample "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - launched).count()
            << " s after the start\n";
  // The first write (a second in) starts the cut; the allocator starts while it runs.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const auto kills_before = kernel_oom_kills(*cgroup);
  nlohmann::json kill;
  const auto climb = std::chrono::steady_clock::now();
  for (unsigned mib = 48; mib <= 1024 && kill.is_null(); mib += 32) {
    if (!allocator.hold(mib)) break;  // ended, by memopt or by the kernel
    kill = testing::next_json_line(monitor, "event", "kill", 1);
  }
  if (kill.is_null()) kill = testing::next_json_line(monitor, "event", "kill", 5'000);
  ASSERT_FALSE(kill.is_null()) << "memopt ended nobody";
  std::cout << "ended "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - climb).count()
            << " s after the climb began: " << kill["message"].get<std::string>() << "\n";
  EXPECT_EQ(kill["pid"], allocator.pid()) << kill.dump();
  EXPECT_EQ(kernel_oom_kills(*cgroup), kills_before) << "the kernel killed before memopt acted";
  // The cut is made on the writer's thread, maybe still running when the allocator is ended
  // (a sanitized memopt is slower): the pages in use come within the cap (the file keeps its
  // free pages), read through a connection of our own.
  const auto bytes_in_use = [&db] {
    Database d(db, false);
    return (d.scalar("PRAGMA page_count") - d.scalar("PRAGMA freelist_count")) *
           d.scalar("PRAGMA page_size");
  };
  const auto cut_by = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (bytes_in_use() > static_cast<std::int64_t>(32 * kMiB) &&
         std::chrono::steady_clock::now() < cut_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_LE(bytes_in_use(), static_cast<std::int64_t>(32 * kMiB));
  EXPECT_EQ(monitor.stop(SIGTERM), 0);
}

}  // namespace
}  // namespace memopt::record
