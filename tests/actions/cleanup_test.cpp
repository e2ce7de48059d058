// run_cleanup against fixture trees, with the recording actuator in place of the kernel:
// which files it writes, in what order, and how it words what it could not do.
#include "memopt/actions/cleanup.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "memopt/actions/actuator.hpp"
#include "memopt/error.hpp"
#include "support/shm_dir.hpp"
#include "support/tree.hpp"

namespace memopt::actions {
namespace {

using ::testing::HasSubstr;

constexpr const char* kScope =
    "sys/fs/cgroup/system.slice/"
    "docker-4c5e8a7d2b1f9e3a6d0c8b7a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e.scope";

Roots roots_of(const testing::TempTree& tree) { return {tree.path("proc"), tree.path("sys")}; }

const CleanupStepReport& step(const CleanupReport& report, const std::string& name) {
  for (const auto& s : report.steps) {
    if (s.name == name) return s;
  }
  throw std::runtime_error("no step " + name);
}

struct V2Tree {
  testing::TempTree tree;
  V2Tree() {
    tree.copy_fixture("v2-max-everywhere");
    tree.write(std::string(kScope) + "/memory.reclaim", "");
    tree.write("proc/sys/vm/drop_caches", "");
    tree.write("proc/sys/vm/compact_memory", "");
  }
};

CooperatingProcess answered(std::string_view answer, std::string_view request = "cleanup") {
  CooperatingProcess process;
  process.rss_before_bytes = 1ull << 30;
  apply_cleanup_answer(answer, request, process);
  return process;
}

TEST(CleanupAnswer, TakesWhatAPlausibleAnswerSays) {
  const auto p = answered(
      R"({"released_bytes":1048576,"steps":[{"gpu_released_bytes":5},{"gpu_released_bytes":7},{}]})");
  EXPECT_EQ(p.status, "done");
  EXPECT_EQ(p.released_bytes, std::optional<std::int64_t>(1048576));
  EXPECT_EQ(p.gpu_released_bytes, std::optional<std::int64_t>(12));
  EXPECT_EQ(answered(R"({"pid":1})", "ping").status, "planned");
}

TEST(CleanupAnswer, RefusesWhatCannotBeTrue) {
  // More than the RSS it held; more than 2^63 B in total; not JSON; an error.
  const auto more = answered(R"({"released_bytes":1099511627776})");
  EXPECT_EQ(more.status, "failed");
  EXPECT_THAT(more.reason, HasSubstr("more than the 1073741824 bytes of RSS it held"));
  EXPECT_FALSE(more.released_bytes);
  const auto wraps = answered(
      R"({"steps":[{"gpu_released_bytes":9223372036854775807},{"gpu_released_bytes":9223372036854775807}]})");
  EXPECT_EQ(wraps.status, "failed");
  EXPECT_FALSE(wraps.gpu_released_bytes);
  EXPECT_FALSE(answered(R"({"released_bytes":18446744073709551615})").released_bytes);
  EXPECT_EQ(answered("[1,2]").reason, "the answer is not JSON");
  EXPECT_EQ(answered(R"({"error":"refused: no"})").reason, "refused: no");
}

TEST(Cleanup, WritesEachControlFileInOrderThroughTheActuator) {
  V2Tree v2;
  RecordingActuator recorder;
  CleanupOptions options;
  options.aggressive = true;
  const auto report = run_cleanup(roots_of(v2.tree), recorder, options);
  ASSERT_EQ(report.steps.size(), 5u);
  EXPECT_EQ(report.steps[4].name, "shm_orphans");  // the fixture has no /dev/shm: skipped
  EXPECT_EQ(report.steps[4].status, "skipped");
  EXPECT_EQ(report.steps[0].name, "cooperative");
  EXPECT_EQ(report.steps[0].status, "skipped");
  ASSERT_EQ(recorder.writes().size(), 3u);
  // memory.reclaim asks for the cgroup's page cache ("file" in memory.stat).
  EXPECT_EQ(recorder.writes()[0].path, v2.tree.path(kScope) + "/memory.reclaim");
  EXPECT_EQ(recorder.writes()[0].value, "209715200");
  EXPECT_EQ(recorder.writes()[1].path, v2.tree.path("proc/sys/vm/drop_caches"));
  EXPECT_EQ(recorder.writes()[1].value, "3");
  EXPECT_EQ(recorder.writes()[2].path, v2.tree.path("proc/sys/vm/compact_memory"));
  EXPECT_EQ(recorder.writes()[2].value, "1");
  for (const char* name : {"cgroup_reclaim", "drop_caches", "compact_memory"}) {
    EXPECT_EQ(step(report, name).status, "done") << name;
    EXPECT_TRUE(step(report, name).reclaimed_bytes.has_value()) << name;
  }
  EXPECT_EQ(report.before.container_usage_bytes, 1288490188u);
}

TEST(Cleanup, GentleByDefault) {
  V2Tree v2;
  RecordingActuator recorder;
  const auto report = run_cleanup(roots_of(v2.tree), recorder, {});
  ASSERT_EQ(recorder.writes().size(), 2u);
  EXPECT_EQ(recorder.writes()[1].value, "1");
  EXPECT_EQ(step(report, "compact_memory").status, "skipped");
  EXPECT_EQ(step(report, "compact_memory").reason, "only with --aggressive");
}

TEST(Cleanup, PermissionDeniedAndReadOnlyAreSkippedWithAdminRightsReason) {
  V2Tree v2;
  RecordingActuator recorder;
  recorder.script(v2.tree.path(kScope) + "/memory.reclaim", EACCES);
  recorder.script(v2.tree.path("proc/sys/vm/drop_caches"), EROFS);
  const auto report = run_cleanup(roots_of(v2.tree), recorder, {});
  EXPECT_EQ(step(report, "cgroup_reclaim").status, "skipped");
  EXPECT_THAT(step(report, "cgroup_reclaim").reason, HasSubstr("needs admin rights"));
  EXPECT_EQ(step(report, "drop_caches").status, "skipped");
  EXPECT_THAT(step(report, "drop_caches").reason, HasSubstr("needs admin rights"));
  EXPECT_THAT(step(report, "drop_caches").reason, HasSubstr("Read-only file system"));
  EXPECT_FALSE(step(report, "drop_caches").reclaimed_bytes.has_value());
}

TEST(Cleanup, OtherErrorsFailAndPartialReclaimIsDone) {
  V2Tree v2;
  RecordingActuator recorder;
  recorder.script(v2.tree.path(kScope) + "/memory.reclaim", EAGAIN);
  recorder.script(v2.tree.path("proc/sys/vm/drop_caches"), EIO);
  const auto report = run_cleanup(roots_of(v2.tree), recorder, {});
  EXPECT_EQ(step(report, "cgroup_reclaim").status, "done");
  EXPECT_THAT(step(report, "cgroup_reclaim").reason, HasSubstr("less than"));
  EXPECT_EQ(step(report, "drop_caches").status, "failed");
  EXPECT_THAT(step(report, "drop_caches").reason, HasSubstr("Input/output error"));
}

TEST(Cleanup, AbsentControlFilesAreSkipped) {
  testing::TempTree tree;
  tree.copy_fixture("v2-max-everywhere");  // no memory.reclaim, no proc/sys
  RecordingActuator recorder;
  const auto report = run_cleanup(roots_of(tree), recorder, {});
  EXPECT_TRUE(recorder.writes().empty());
  EXPECT_EQ(step(report, "cgroup_reclaim").status, "skipped");
  EXPECT_THAT(step(report, "cgroup_reclaim").reason, HasSubstr("5.19"));
  EXPECT_EQ(step(report, "drop_caches").status, "skipped");
  EXPECT_THAT(step(report, "drop_caches").reason, HasSubstr("does not exist"));
}

TEST(Cleanup, CgroupV1HasNoReclaim) {
  testing::TempTree tree;
  tree.copy_fixture("v1-limited");
  tree.write("proc/sys/vm/drop_caches", "");
  RecordingActuator recorder;
  const auto report = run_cleanup(roots_of(tree), recorder, {});
  EXPECT_EQ(step(report, "cgroup_reclaim").status, "skipped");
  EXPECT_EQ(step(report, "cgroup_reclaim").reason, "cgroup v1 has no memory.reclaim");
  ASSERT_EQ(recorder.writes().size(), 1u);  // drop_caches only; never memory.force_empty
  EXPECT_THAT(recorder.writes()[0].path, HasSubstr("drop_caches"));
}

TEST(Cleanup, DryRunPlansAndReportsNoReclaim) {
  V2Tree v2;
  RecordingActuator recorder;
  CleanupOptions options;
  options.dry_run = true;
  const auto report = run_cleanup(roots_of(v2.tree), recorder, options);
  EXPECT_TRUE(report.dry_run);
  EXPECT_EQ(step(report, "cgroup_reclaim").status, "planned");
  EXPECT_EQ(step(report, "drop_caches").status, "planned");
  EXPECT_THAT(step(report, "drop_caches").reason, HasSubstr("would write '1'"));
  for (const auto& s : report.steps) EXPECT_FALSE(s.reclaimed_bytes.has_value()) << s.name;
  EXPECT_EQ(testing::slurp(v2.tree.path("proc/sys/vm/drop_caches")), "");
}

TEST(Cleanup, SocketsNobodyListensOnAreReportedNotFatal) {
  V2Tree v2;
  const auto dir = v2.tree.mkdir("run");
  v2.tree.write("run/23.sock", "");    // a live process whose socket is a plain file: refused
  v2.tree.write("run/4242.sock", "");  // the socket of a process that exited (no proc/4242)
  RecordingActuator recorder;
  CleanupOptions options;
  options.runtime_dirs = {dir};
  const auto report = run_cleanup(roots_of(v2.tree), recorder, options);
  ASSERT_EQ(report.processes.size(), 1u);
  EXPECT_EQ(report.processes[0].pid, 23);
  EXPECT_EQ(report.processes[0].status, "skipped");
  EXPECT_THAT(report.processes[0].reason, HasSubstr("stale socket"));
  EXPECT_EQ(report.stale_sockets, 1u);  // pid 4242: not asked, counted apart
  EXPECT_EQ(step(report, "cooperative").status, "skipped");
  EXPECT_THAT(step(report, "cooperative").reason, HasSubstr("1 stale socket(s) of exited"));
}

TEST(Cleanup, AProcessWithSocketsInTwoRuntimeDirectoriesIsListedOnce) {
  V2Tree v2;
  const auto first = v2.tree.mkdir("run");
  const auto second = v2.tree.mkdir("tmp/memopt");
  v2.tree.write("run/23.sock", "");
  v2.tree.write("tmp/memopt/23.sock", "");
  std::size_t stale = 0;
  const auto sockets = find_cleanup_sockets(roots_of(v2.tree), {}, {first, second}, stale);
  ASSERT_EQ(sockets.size(), 1u);
  EXPECT_EQ(sockets[0].pid, 23);
  EXPECT_EQ(sockets[0].path, first + "/23.sock");
  EXPECT_EQ(stale, 0u);
}

TEST(Cleanup, DryRunDoesNotCountAStaleSocketAsAProcessToAsk) {
  V2Tree v2;
  const auto dir = v2.tree.mkdir("run");
  v2.tree.write("run/23.sock", "");  // pid 23 lives, but nobody listens on its socket
  RecordingActuator recorder;
  CleanupOptions options;
  options.dry_run = true;
  options.runtime_dirs = {dir};
  const auto report = run_cleanup(roots_of(v2.tree), recorder, options);
  ASSERT_EQ(report.processes.size(), 1u);
  EXPECT_EQ(report.processes[0].status, "skipped");
  EXPECT_THAT(report.processes[0].reason, HasSubstr("stale socket"));
  EXPECT_EQ(step(report, "cooperative").status, "skipped");
  EXPECT_THAT(step(report, "cooperative").reason, HasSubstr("no process listens"));
  EXPECT_THAT(step(report, "cooperative").reason, ::testing::Not(HasSubstr("would ask")));
}

TEST(Cleanup, DropCachesSaysItActsOnTheWholeHost) {
  for (const bool dry_run : {true, false}) {
    V2Tree v2;
    RecordingActuator recorder;
    CleanupOptions options;
    options.dry_run = dry_run;
    options.aggressive = true;
    const auto report = run_cleanup(roots_of(v2.tree), recorder, options);
    EXPECT_THAT(step(report, "drop_caches").reason, HasSubstr("whole host")) << dry_run;
    EXPECT_THAT(step(report, "compact_memory").reason, HasSubstr("whole host")) << dry_run;
    EXPECT_THAT(step(report, "cgroup_reclaim").reason, ::testing::Not(HasSubstr("whole host")));
  }
}

TEST(Cleanup, NamesTheLargestHolderAndWhetherItCooperates) {
  V2Tree v2;
  RecordingActuator recorder;
  const auto report = run_cleanup(roots_of(v2.tree), recorder, {});
  ASSERT_TRUE(report.largest_holder.has_value());
  EXPECT_EQ(report.largest_holder->pid, 23);  // python3, 1101004 kB of PSS in the fixture
  EXPECT_EQ(report.largest_holder->name, "python3");
  EXPECT_EQ(report.largest_holder->bytes, 1101004u * 1024);
  EXPECT_FALSE(report.largest_holder->cooperates);
}

TEST(Cleanup, AskingForLeaksNamesWhyWhenThereIsNoSocket) {
  V2Tree v2;
  const auto dir = v2.tree.mkdir("run");
  // The Error's message, or "" when an answer came.
  const auto error_asking = [&](int pid) -> std::string {
    try {
      (void)ask_cooperating_process(roots_of(v2.tree), pid, {dir}, "leaks",
                                    std::chrono::milliseconds(1000));
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_THAT(error_asking(23), HasSubstr("pid 23 has no cleanup socket"));
  EXPECT_THAT(error_asking(23), HasSubstr("memopt.serve_cleanup()"));
  v2.tree.write("run/23.sock", "");
  EXPECT_THAT(error_asking(23), HasSubstr("stale socket"));
  EXPECT_THAT(error_asking(4242), HasSubstr("no process 4242"));
}

// The orphan sweep on a real tmpfs directory: only the regular, unheld files of dead owners go.
TEST(ShmSweep, RemovesOnlyTheOrphansAndSaysEachWithItsBytes) {
  testing::ShmTestDir dir;
  const auto dead = std::to_string(testing::dead_pid());
  const auto live = std::to_string(::getpid());
  dir.write("torch_" + dead + "_1_0", 2 << 20);
  dir.write("torch_" + dead + "_1_1", 1 << 20);
  dir.write("torch_" + live + "_1_2", 1 << 20);
  dir.write("psm_nopid", 4096);
  ASSERT_EQ(::symlink("/etc/hostname", (dir.path() + "/torch_" + dead + "_9_9").c_str()), 0);
  CleanupOptions options;
  options.shm_dir = dir.path();

  options.dry_run = true;
  RecordingActuator recorder;
  CleanupReport planned;
  sweep_shm_orphans(sys::default_roots(), recorder, options, planned);
  ASSERT_EQ(planned.shm_removals.size(), 2u);
  EXPECT_EQ(planned.steps.back().status, "planned");
  EXPECT_EQ(planned.shm_removals[0].name, "torch_" + dead + "_1_0");  // largest first
  EXPECT_GE(planned.shm_removals[0].bytes, 2u << 20);
  EXPECT_EQ(planned.shm_removals[0].status, "planned");
  EXPECT_EQ(recorder.writes().size(), 2u);
  EXPECT_TRUE(sys::exists(dir.path() + "/torch_" + dead + "_1_0"));  // a dry run removes nothing

  options.dry_run = false;
  SystemActuator system;
  CleanupReport done;
  sweep_shm_orphans(sys::default_roots(), system, options, done);
  ASSERT_EQ(done.shm_removals.size(), 2u);
  EXPECT_EQ(done.steps.back().status, "done");
  for (const auto& r : done.shm_removals) {
    EXPECT_EQ(r.status, "removed") << r.name << ": " << r.reason;
    EXPECT_GE(r.bytes, 1u << 20);
  }
  EXPECT_FALSE(sys::exists(dir.path() + "/torch_" + dead + "_1_0"));
  EXPECT_FALSE(sys::exists(dir.path() + "/torch_" + dead + "_1_1"));
  EXPECT_TRUE(sys::exists(dir.path() + "/torch_" + live + "_1_2"));
  EXPECT_TRUE(sys::exists(dir.path() + "/psm_nopid"));
  EXPECT_TRUE(sys::exists("/etc/hostname"));
  struct stat st {};
  EXPECT_EQ(::lstat((dir.path() + "/torch_" + dead + "_9_9").c_str(), &st), 0);  // the link stays

  CleanupReport again;
  sweep_shm_orphans(sys::default_roots(), system, options, again);
  EXPECT_TRUE(again.shm_removals.empty());
  EXPECT_EQ(again.steps.back().status, "skipped");
}

}  // namespace
}  // namespace memopt::actions
