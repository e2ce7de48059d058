// The engine driven through a scripted series: a v2 tree whose memory.current changes under
// it, fake clocks, no kernel notifications. At every step, every output — the sample lines,
// the events, the served report, /metrics, /api/history and the engine's own level — must
// show the same level.
#include "memopt/engine.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "engine/groups.hpp"
#include "memopt/analysis/process_groups.hpp"
#include "memopt/http/snapshot.hpp"
#include "memopt/units.hpp"
#include "support/events.hpp"
#include "support/tree.hpp"

namespace memopt {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

class RecordingSink final : public EngineSink {
 public:
  void on_sample(const analysis::Report& report) override {
    samples.push_back(std::string(analysis::to_string(report.status.level)));
    // A sample never shows a level that no event announced.
    if (!events.empty() || samples.size() > 1) {
      EXPECT_EQ(samples.back(), last_event_level.value_or(samples.front()));
    }
  }
  void on_event(const analysis::Event& event) override {
    events.push_back(event);
    if (event.kind() == analysis::EventKind::kLevelChanged)
      last_event_level = analysis::to_string(event.level);
  }
  // Rendered as the monitor's server gets it: the documents are checked, not the structs.
  void on_publish(const EngineSnapshot& snapshot) override { last = documents.render(snapshot); }
  void on_notice(std::string_view message) override { notices.emplace_back(message); }
  void on_groups(const std::vector<analysis::ProcessGroup>& found) override {
    EXPECT_EQ(found_after_samples, samples.size() - 1) << "groups come after their sample";
    ++found_after_samples;
    groups = found;
  }

  std::vector<std::string> samples;
  std::vector<analysis::ProcessGroup> groups;
  std::size_t found_after_samples = 0;
  std::vector<analysis::Event> events;
  std::optional<std::string> last_event_level;
  http::SnapshotRenderer documents;
  http::Snapshot last;
  std::vector<std::string> notices;
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tree_.write("proc/meminfo",
                "MemTotal:       16777216 kB\nMemFree:        8388608 kB\n"
                "MemAvailable:   12582912 kB\nSwapTotal:             0 kB\nSwapFree: 0 kB\n");
    tree_.write("proc/self/cgroup", "0::/ctr\n");
    tree_.write("proc/pressure/memory",
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
                "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
    tree_.write("sys/fs/cgroup/cgroup.controllers", "memory\n");
    tree_.write("sys/fs/cgroup/cgroup.procs", "");
    tree_.write("sys/fs/cgroup/ctr/cgroup.procs", "");
    tree_.write("sys/fs/cgroup/ctr/memory.max", std::to_string(1000 * kMiB) + "\n");
    tree_.write("sys/fs/cgroup/ctr/memory.events", "oom 0\noom_kill 0\n");
    set_used(500 * kMiB);
  }

  void set_used(std::uint64_t bytes) {
    tree_.write("sys/fs/cgroup/ctr/memory.current", std::to_string(bytes) + "\n");
    tree_.write("sys/fs/cgroup/ctr/memory.stat",
                "anon " + std::to_string(bytes) + "\nfile 0\ninactive_file 0\nactive_file 0\n");
  }

  EngineOptions options() {
    EngineOptions o;
    o.roots = {tree_.path("proc"), tree_.path("sys")};
    o.publish = true;
    o.kernel_notifications = false;
    o.config.interval = std::chrono::seconds(60);
    o.clock.wall = [this] { return wall_; };
    o.clock.steady = [this] { return steady_; };
    return o;
  }

  void advance(std::chrono::seconds by) {
    wall_ += by;
    steady_ += by;
  }

  /// The level each output shows now.
  void expect_all_agree(const Engine& engine, const RecordingSink& sink, std::string_view level) {
    EXPECT_EQ(analysis::to_string(engine.level()), level);
    ASSERT_NE(engine.report(), nullptr);
    EXPECT_EQ(analysis::to_string(engine.report()->status.level), level);
    const auto report = Json::parse(sink.last.report_json);
    EXPECT_EQ(report["status"]["level"], level) << sink.last.report_json;
    static const std::vector<std::string> kLevels = {"normal", "acceptable", "warning", "severe",
                                                     "danger"};
    const auto index = std::find(kLevels.begin(), kLevels.end(), level) - kLevels.begin();
    EXPECT_THAT(sink.last.metrics,
                HasSubstr("memopt_status_level " + std::to_string(index) + "\n"));
    const auto history = Json::parse(sink.last.history_json);
    ASSERT_FALSE(history.empty());
    EXPECT_EQ(history.back()["level"], level);
    if (sink.last_event_level) {
      EXPECT_EQ(*sink.last_event_level, level);
    }
    // No stale advice beside the level: below the minimum only while it is true.
    const bool below_minimum =
        report["memory"]["available_bytes"].get<std::uint64_t>() < 200 * kMiB;
    bool advised = false;
    for (const auto& a : report["advice"]) advised |= a["id"] == "available_below_minimum";
    EXPECT_EQ(advised, below_minimum) << sink.last.report_json;
  }

  testing::TempTree tree_;
  std::chrono::system_clock::time_point wall_{std::chrono::seconds(1'800'000'000)};
  std::chrono::steady_clock::time_point steady_{std::chrono::seconds(1000)};
};

TEST_F(EngineTest, EveryOutputAgreesOnTheLevelAtEveryStep) {
  RecordingSink sink;
  Engine engine(options(), sink);
  engine.step();  // the first full sample
  ASSERT_EQ(sink.samples.size(), 1u);
  expect_all_agree(engine, sink, "normal");

  // (used MiB of 1000, the level it must show): up through warning and danger, then down
  // through the hysteresis margin (2 points; 16 MiB above the danger mark).
  const std::vector<std::pair<std::uint64_t, std::string>> script = {
      {720, "acceptable"}, {805, "warning"}, {790, "warning"},  // 79.0%: held by the margin
      {960, "danger"},     {905, "severe"},  {779, "acceptable"}, {500, "normal"}};
  for (const auto& [used, level] : script) {
    set_used(used * kMiB);
    advance(std::chrono::seconds(2));  // past the 1 s publish cadence
    engine.step();
    advance(std::chrono::seconds(2));  // a fall is said at the second reading that shows it
    engine.step();
    SCOPED_TRACE("used " + std::to_string(used) + " MiB");
    expect_all_agree(engine, sink, level);
    // The full sample at each minute shows the same level too.
    advance(std::chrono::seconds(60));
    engine.step();
    EXPECT_EQ(sink.samples.back(), level);
    expect_all_agree(engine, sink, level);
  }
  std::vector<std::string> changes;
  for (const auto& e : sink.events) {
    if (e.kind() == analysis::EventKind::kLevelChanged)
      changes.emplace_back(analysis::to_string(e.level));
  }
  EXPECT_EQ(changes, (std::vector<std::string>{"acceptable", "warning", "danger", "severe",
                                               "acceptable", "normal"}));
  const auto events = Json::parse(sink.last.events_json);
  EXPECT_EQ(events.back()["level"], "normal");
}

TEST_F(EngineTest, HeldLevelSaysWhy) {
  RecordingSink sink;
  Engine engine(options(), sink);
  engine.step();
  set_used(805 * kMiB);
  advance(std::chrono::seconds(2));
  engine.step();
  set_used(790 * kMiB);
  advance(std::chrono::seconds(61));
  engine.step();
  ASSERT_NE(engine.report(), nullptr);
  const auto& reasons = engine.report()->status.reasons;
  EXPECT_THAT(reasons.back(), HasSubstr("hysteresis"));
}

TEST_F(EngineTest, ATargetThatVanishesIsUnknownUntilItReturns) {
  RecordingSink sink;
  Engine engine(options(), sink);
  engine.step();
  tree_.remove("sys/fs/cgroup/ctr");
  tree_.write("proc/self/cgroup", "0::/ctr\n");
  advance(std::chrono::seconds(2));
  engine.step();
  EXPECT_EQ(engine.level(), analysis::Level::kUnknown);
  EXPECT_EQ(Json::parse(sink.last.report_json)["status"]["level"], "unknown");
  EXPECT_THAT(sink.last.metrics, HasSubstr("memopt_up 0\n"));
}

// Issue 25: a usage file that does not parse ended the monitor (exit 1) from its quick reading;
// and once a full sample had failed on it, the quick readings lost the limit and showed the
// host's memory as the container's. The reading is unknown while the file is odd, never the
// host's, and the container is back with its limit when the file is sound.
TEST_F(EngineTest, AMalformedUsageFileIsUnknownWhileItLastsNeverTheHost) {
  RecordingSink sink;
  Engine engine(options(), sink);
  engine.step();
  ASSERT_EQ(engine.level(), analysis::Level::kNormal);
  tree_.write("sys/fs/cgroup/ctr/memory.current", "garbage\n");
  for (int i = 0; i < 3; ++i) {  // a quick reading, a full sample, a quick reading
    advance(std::chrono::seconds(i == 1 ? 61 : 2));
    ASSERT_NO_THROW(engine.step());
    SCOPED_TRACE(i);
    EXPECT_EQ(engine.level(), analysis::Level::kUnknown);
    const auto report = Json::parse(sink.last.report_json);
    EXPECT_TRUE(report["memory"].is_null()) << report["memory"].dump();
    EXPECT_THAT(sink.last.metrics, HasSubstr("memopt_up 0\n"));
  }
  set_used(850 * kMiB);
  advance(std::chrono::seconds(2));
  engine.step();
  EXPECT_EQ(engine.level(), analysis::Level::kWarning);
  const auto report = Json::parse(sink.last.report_json);
  EXPECT_EQ(report["memory"]["scope"], "container");
  EXPECT_EQ(report["memory"]["limit_bytes"].get<std::uint64_t>(), 1000 * kMiB);
  for (const auto& e : sink.events) {
    EXPECT_NE(e.memory.scope, analysis::Scope::kHost)
        << analysis::to_string(e.kind()) << ": " << e.message;
    EXPECT_NE(e.kind(), analysis::EventKind::kTargetLost) << "an odd file is not a gone container";
  }
}

// Issue 25, item 5: the DaemonSet's exporter (`--cgroup / monitor --listen --containers`)
// serves every container's series and /api/report's containers, from the full samples.
/// The sidecar fixture's node (--cgroup /), served, with or without --containers.
EngineOptions node_options(bool containers) {
  EngineOptions o;
  const auto root = testing::fixture("v2-sidecar-pod");
  o.roots = {root + "/proc", root + "/sys"};
  o.target = {model::Target::Kind::kCgroup, 0, "/"};
  o.publish = true;
  o.kernel_notifications = false;
  o.config.containers = containers;
  return o;
}

TEST_F(EngineTest, EachFullSampleGivesItsSinksTheGroupsFoundInIt) {
  // A python3 parent (pid 10) with one worker of the same executable (11) in the container.
  const auto python = tree_.write("bin/python3", "interpreter");
  for (const auto& [pid, ppid] : {std::pair{10, 1}, std::pair{11, 10}}) {
    const auto dir = "proc/" + std::to_string(pid);
    tree_.write(dir + "/cgroup", "0::/ctr\n");
    tree_.write(dir + "/comm", "python3\n");
    tree_.write(dir + "/statm", "1000 100 10 1 0 50 0\n");
    tree_.write(dir + "/stat", std::to_string(pid) + " (python3) S " + std::to_string(ppid) +
                                   " 1 1 0 -1 4194560 100 0 0 0 5 1 0 0 20 0 1 0 " +
                                   std::to_string(1000 + pid) + " 12345 678\n");
    tree_.write(dir + "/smaps_rollup",
                "Rss: 400 kB\nPss: 300 kB\nPrivate_Clean: 0 kB\nPrivate_Dirty: 200 kB\n"
                "Anonymous: 200 kB\n");
    std::filesystem::create_symlink(python, tree_.path(dir + "/exe"));
  }
  RecordingSink sink;
  auto o = options();
  o.target.kind = model::Target::Kind::kCgroup;
  o.target.cgroup = "/ctr";
  Engine engine(o, sink);
  engine.step();
  ASSERT_EQ(sink.samples.size(), 1u);
  ASSERT_EQ(sink.groups.size(), 1u);
  ASSERT_TRUE(sink.groups[0].parent);
  EXPECT_EQ(sink.groups[0].parent->memory.pid, 10);
  ASSERT_EQ(sink.groups[0].members.size(), 1u);
  // The worker leaves: the next full sample's groups say so.
  tree_.remove("proc/11");
  advance(std::chrono::seconds(60));
  engine.step();
  ASSERT_EQ(sink.samples.size(), 2u);
  EXPECT_TRUE(sink.groups.empty());
}

/// A python3 parent (pid 10, 300 MiB anonymous) and four workers (11-14) in the container,
/// each worker holding `worker_private` of its own and sharing the rest of the parent's heap.
void write_dataloader(const testing::TempTree& tree, std::uint64_t worker_private) {
  const auto python = tree.path("bin/python3");
  if (!std::filesystem::exists(python)) tree.write("bin/python3", "interpreter");
  for (int pid = 10; pid <= 14; ++pid) {
    const auto dir = "proc/" + std::to_string(pid);
    const int ppid = pid == 10 ? 1 : 10;
    const std::uint64_t own_kib = (pid == 10 ? 300 * kMiB : worker_private) / 1024;
    tree.write(dir + "/cgroup", "0::/ctr\n");
    tree.write(dir + "/comm", "python3\n");
    tree.write(dir + "/statm", "100000 " + std::to_string(own_kib / 4) + " 10 1 0 50 0\n");
    tree.write(dir + "/stat", std::to_string(pid) + " (python3) S " + std::to_string(ppid) +
                                  " 1 1 0 -1 4194560 100 0 0 0 5 1 0 0 20 0 1 0 " +
                                  std::to_string(1000 + pid) + " 12345 678\n");
    tree.write(dir + "/smaps_rollup", fmt::format("Rss: {} kB\nPss: {} kB\nPrivate_Clean: 0 kB\n"
                                                  "Private_Dirty: {} kB\nAnonymous: {} kB\n",
                                                  300 * 1024, own_kib, own_kib, 300 * 1024));
    if (!std::filesystem::is_symlink(tree.path(dir + "/exe"))) {
      std::filesystem::create_symlink(python, tree.path(dir + "/exe"));
    }
  }
}

TEST_F(EngineTest, WorkersCopyingBetweenFullSamplesAreNamedWithoutWaitingForTheInterval) {
  // Full samples a minute apart (the monitor's default); the workers copy 25 MiB a second each,
  // so four copies pass the limit long before the next full sample.
  RecordingSink sink;
  auto o = options();
  o.target.kind = model::Target::Kind::kCgroup;
  o.target.cgroup = "/ctr";
  std::uint64_t worker_private = 10 * kMiB;
  write_dataloader(tree_, worker_private);
  set_used(300 * kMiB + 4 * worker_private);
  Engine engine(o, sink);
  engine.step();  // the full sample: the group, one point of its curve
  std::optional<int> named_after;
  for (int second = 1; second < 20 && !named_after; ++second) {
    advance(std::chrono::seconds(1));
    worker_private += 25 * kMiB;
    write_dataloader(tree_, worker_private);
    set_used(300 * kMiB + 4 * worker_private);
    engine.step();
    for (const auto& e : sink.events) {
      if (e.kind() == analysis::EventKind::kWorkersCopy) named_after = second;
    }
  }
  ASSERT_TRUE(named_after) << "no workers_copy within 20 s of one full sample";
  EXPECT_LE(*named_after, 3) << "the curve's third point is a second apart, not a minute";
  EXPECT_EQ(sink.samples.size(), 1u) << "no full sample was taken for it";
}

TEST_F(EngineTest, GroupsAreLookedAtCloselyOnlyWhileUnjudgedOrCopyingOrWhenTheTargetGrew) {
  readers::CollectOptions collect;
  collect.target.kind = model::Target::Kind::kCgroup;
  collect.target.cgroup = "/ctr";
  engine::GroupTracker tracker(options().roots);
  analysis::EffectiveMemory memory;
  memory.scope = analysis::Scope::kContainer;
  memory.limit_bytes = 1000 * kMiB;
  memory.used_bytes = 340 * kMiB;
  const auto look = [&](engine::SteadyTime now) {
    return tracker.observe_again(collect, wall_, memory, analysis::Level::kNormal, now);
  };
  write_dataloader(tree_, 10 * kMiB);
  const engine::SteadyTime t0 = steady_;
  EXPECT_TRUE(look(t0).empty());
  EXPECT_TRUE(tracker.watching()) << "one point: its shape is not known yet";
  EXPECT_FALSE(tracker.due(t0 + std::chrono::milliseconds(500), memory)) << "a second apart";
  EXPECT_TRUE(tracker.due(t0 + std::chrono::seconds(1), memory));
  // Workers that hold what they hold: stable after three points, no closer look...
  EXPECT_TRUE(look(t0 + std::chrono::seconds(1)).empty());
  EXPECT_TRUE(look(t0 + std::chrono::seconds(2)).empty());
  ASSERT_EQ(tracker.assessments().size(), 1u);
  EXPECT_EQ(tracker.assessments()[0].shape, analysis::GroupShape::kStable);
  EXPECT_FALSE(tracker.watching());
  EXPECT_FALSE(tracker.due(t0 + std::chrono::seconds(10), memory));
  // ...until the target's working set grows past 2% of the limit (20 MiB) since the last look.
  memory.used_bytes += 16 * kMiB;
  EXPECT_FALSE(tracker.due(t0 + std::chrono::seconds(10), memory)) << "under 20 MiB";
  memory.used_bytes += 8 * kMiB;
  EXPECT_TRUE(tracker.due(t0 + std::chrono::seconds(10), memory));
  // The workers gone: nothing to watch.
  tree_.remove("proc/11");
  tree_.remove("proc/12");
  tree_.remove("proc/13");
  tree_.remove("proc/14");
  EXPECT_TRUE(look(t0 + std::chrono::seconds(11)).empty());
  EXPECT_FALSE(tracker.watching());
}

TEST(EngineContainers, TheNodeViewServesEveryContainersSeriesAndList) {
  RecordingSink sink;
  Engine engine(node_options(true), sink);
  engine.step();
  EXPECT_THAT(sink.last.metrics,
              HasSubstr("memopt_container_status_level{cgroup=\"/kubepods/pod1/ctr\",name=\"ctr\"} "
                        "1\n"));
  EXPECT_THAT(sink.last.metrics, HasSubstr("memopt_container_memory_limit_bytes{cgroup=\"/"
                                           "kubepods/pod1/memopt\",name=\"memopt\"} 67108864\n"));
  const auto report = Json::parse(sink.last.report_json);
  ASSERT_EQ(report["containers"].size(), 2u) << sink.last.report_json;
  EXPECT_EQ(report["containers"][0]["cgroup"], "/kubepods/pod1/ctr");
  EXPECT_EQ(report["containers"][0]["level"], "acceptable");
  engine.step();  // a quick reading keeps the last full sample's containers
  EXPECT_EQ(Json::parse(sink.last.report_json)["containers"].size(), 2u);
  EXPECT_THAT(sink.last.metrics, HasSubstr("memopt_container_memory_used_ratio{"));
}

TEST(EngineContainers, WithoutTheOptionNoContainerIsRead) {
  RecordingSink sink;
  Engine engine(node_options(false), sink);
  engine.step();
  EXPECT_THAT(sink.last.metrics, Not(HasSubstr("memopt_container_")));
  EXPECT_FALSE(Json::parse(sink.last.report_json).contains("containers"));
}

TEST_F(EngineTest, ReloadKeepsTheOldConfigurationOnABadFile) {
  const auto path =
      tree_.write("memopt.toml", "[thresholds]\nacceptable_percent = 50\nwarning_percent = 60\n");
  auto o = options();
  o.config_path = path;
  RecordingSink sink;
  Engine engine(std::move(o), sink);
  engine.step();
  set_used(650 * kMiB);
  engine.reload();
  advance(std::chrono::seconds(2));
  engine.step();
  EXPECT_EQ(engine.level(), analysis::Level::kWarning) << "the reloaded 60% applies";
  tree_.write("memopt.toml", "[thresholds]\nwarning_percent = 'high'\n");
  engine.reload();
  EXPECT_THAT(sink.notices.back(), HasSubstr("keeping the old configuration"));
  EXPECT_THAT(sink.notices.back(), HasSubstr("warning_percent"));
  advance(std::chrono::seconds(2));
  engine.step();
  EXPECT_EQ(engine.level(), analysis::Level::kWarning);
}

// A file that vanished since the start: the notice names who named it, as the start's error does.
TEST_F(EngineTest, AReloadThatCannotReadTheFileNamesItsOrigin) {
  const auto path = tree_.write("memopt.toml", "[thresholds]\nwarning_percent = 60\n");
  auto o = options();
  o.config_path = path;
  o.config_origin = "$MEMOPT_CONFIG";
  RecordingSink sink;
  Engine engine(std::move(o), sink);
  engine.step();
  tree_.remove("memopt.toml");
  engine.reload();
  ASSERT_FALSE(sink.notices.empty());
  EXPECT_THAT(sink.notices.back(), HasSubstr("keeping the old configuration: $MEMOPT_CONFIG: "
                                             "cannot read " +
                                             path));
  EXPECT_THAT(sink.notices.back(), Not(HasSubstr("--config")));
}

// The auto-cleanup's event says what it released the way `memopt cleanup` does: a change within
// noise (here none: the fixture's usage does not move) is "nothing", never "0 B" or "-4 KiB".
TEST_F(EngineTest, ACleanupThatReleasedNothingSaysNothing) {
  auto o = options();
  o.config.auto_cleanup = analysis::Level::kWarning;
  RecordingSink sink;
  Engine engine(std::move(o), sink);
  engine.step();
  set_used(850 * kMiB);
  advance(std::chrono::seconds(61));
  const auto cleanup_event = [&sink]() -> const analysis::CleanupRan* {
    for (const auto& e : sink.events) {
      if (const auto* cleanup = e.payload_if<analysis::CleanupRan>()) return cleanup;
    }
    return nullptr;
  };
  const auto cleanup_message = [&sink] {
    for (const auto& e : sink.events) {
      if (e.kind() == analysis::EventKind::kCleanup) return e.message;
    }
    return std::string();
  };
  // The cleanup runs on its own thread (writes into the fixture tree); a later step reports it.
  for (int i = 0; i < 1000 && cleanup_event() == nullptr; ++i) {
    engine.step();
    if (cleanup_event() == nullptr) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto* cleanup = cleanup_event();
  ASSERT_NE(cleanup, nullptr) << "no cleanup event after 10 s";
  ASSERT_TRUE(cleanup->released_bytes.has_value());
  EXPECT_EQ(*cleanup->released_bytes, 0);
  EXPECT_THAT(cleanup_message(), HasSubstr("cleanup at warning: released nothing ("));
  EXPECT_THAT(cleanup_message(), Not(HasSubstr("released 0 B")));
}

TEST_F(EngineTest, StartedAboveNormalSaysSoAtOnceMarkedInitial) {
  set_used(850 * kMiB);
  RecordingSink sink;
  Engine engine(options(), sink);
  engine.step();
  ASSERT_FALSE(sink.events.empty());
  EXPECT_EQ(sink.events[0].kind(), analysis::EventKind::kLevelChanged);
  EXPECT_EQ(sink.events[0].level, analysis::Level::kWarning);
  const auto& change = testing::payload_of<analysis::LevelChange>(sink.events[0]);
  EXPECT_TRUE(change.initial);
  EXPECT_FALSE(change.previous.has_value());
  EXPECT_THAT(sink.last.events_json, HasSubstr("\"initial\":true"));
}

/// The target's lifecycle on a v1 host, as a sidecar sees it: `--pid 42`, the model, runs in
/// /model (limit 1000 MiB); the host's root cgroup has OOM kills of its own (other
/// containers'). When 42 exits its /proc/42/cgroup reads "/" (a zombie on v1).
class EngineLifecycleTest : public EngineTest {
 protected:
  void SetUp() override {
    tree_.write("proc/meminfo",
                "MemTotal:       16777216 kB\nMemFree:        8388608 kB\n"
                "MemAvailable:   12582912 kB\nSwapTotal:             0 kB\nSwapFree: 0 kB\n");
    tree_.write("proc/self/stat", "7 (memopt) R 1 7 7 0 -1 4194560 0 0 0 0\n");
    tree_.write("proc/self/cgroup", "4:memory:/sidecar\n");
    run_model(42);
    const std::string root = "sys/fs/cgroup/memory/";
    tree_.write(root + "cgroup.sane_behavior", "0\n");
    tree_.write(root + "release_agent", "\n");
    tree_.write(root + "cgroup.procs", "1\n");
    tree_.write(root + "memory.usage_in_bytes", std::to_string(9000 * kMiB) + "\n");
    tree_.write(root + "memory.limit_in_bytes", "9223372036854771712\n");
    tree_.write(root + "memory.stat", "total_inactive_file 0\n");
    tree_.write(root + "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n");
    tree_.write(kModel + "memory.limit_in_bytes", std::to_string(1000 * kMiB) + "\n");
    tree_.write(kModel + "memory.stat", "total_inactive_file 0\n");
    tree_.write(kModel + "memory.usage_in_bytes", std::to_string(500 * kMiB) + "\n");
    set_model_kills(0);
  }

  void run_model(int pid) {
    tree_.write("proc/" + std::to_string(pid) + "/stat",
                std::to_string(pid) + " (python) S 1 1 1 0 -1 4194304 0 0 0 0\n");
    tree_.write("proc/" + std::to_string(pid) + "/cgroup", "4:memory:/model\n");
    tree_.write(kModel + "cgroup.procs", std::to_string(pid) + "\n");
  }

  /// Exited, not yet reaped: v1 moves a zombie out of its cgroup and its file reads "/".
  void zombie(int pid) {
    tree_.write("proc/" + std::to_string(pid) + "/stat",
                std::to_string(pid) + " (python) Z 1 1 1 0 -1 4227084 0 0 0 0\n");
    tree_.write("proc/" + std::to_string(pid) + "/cgroup", "4:memory:/\n");
    tree_.write(kModel + "cgroup.procs", "");
  }

  void set_model_kills(int kills) {
    tree_.write(kModel + "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill " + std::to_string(kills) + "\n");
  }

  EngineOptions pid_options() {
    auto o = options();
    o.target.kind = model::Target::Kind::kPid;
    o.target.pid = 42;
    return o;
  }

  static std::vector<std::string> names(const RecordingSink& sink) {
    std::vector<std::string> out;
    for (const auto& e : sink.events) out.emplace_back(analysis::to_string(e.kind()));
    return out;
  }

  const std::string kModel = "sys/fs/cgroup/memory/model/";
};

TEST_F(EngineLifecycleTest, AModelThatExitsIsUnknownNeverTheHostAndKillsNobody) {
  RecordingSink sink;
  Engine engine(pid_options(), sink);
  engine.step();
  ASSERT_EQ(engine.level(), analysis::Level::kNormal);
  zombie(42);
  for (int i = 0; i < 3; ++i) {  // quick readings, then a full sample
    advance(std::chrono::seconds(i == 2 ? 61 : 2));
    engine.step();
    SCOPED_TRACE(i);
    EXPECT_EQ(engine.level(), analysis::Level::kUnknown);
    const auto report = Json::parse(sink.last.report_json);
    EXPECT_EQ(report["status"]["level"], "unknown");
    EXPECT_TRUE(report["memory"].is_null()) << report["memory"].dump();
    EXPECT_TRUE(report["cgroup"].is_null()) << "never the root's figures";
    EXPECT_THAT(sink.last.metrics, HasSubstr("memopt_up 0\n"));
  }
  EXPECT_EQ(sink.samples.back(), "unknown");
  const auto events = names(sink);
  EXPECT_THAT(events, ::testing::Contains("target_lost"));
  EXPECT_THAT(events, Not(::testing::Contains("oom_kill")));
  for (const auto& e : sink.events) {
    if (e.kind() == analysis::EventKind::kTargetLost) {
      EXPECT_THAT(e.message, HasSubstr("pid 42"));
    }
  }
}

TEST_F(EngineLifecycleTest, ARestartedModelInTheSameCgroupIsFoundAgain) {
  RecordingSink sink;
  Engine engine(pid_options(), sink);
  engine.step();
  zombie(42);
  advance(std::chrono::seconds(2));
  engine.step();
  ASSERT_EQ(engine.level(), analysis::Level::kUnknown);
  tree_.remove("proc/42");
  run_model(43);  // the restarted model, in the cgroup 42 was in
  tree_.write(kModel + "memory.usage_in_bytes", std::to_string(850 * kMiB) + "\n");
  advance(std::chrono::seconds(2));
  engine.step();
  EXPECT_EQ(engine.level(), analysis::Level::kWarning);
  const auto report = Json::parse(sink.last.report_json);
  EXPECT_EQ(report["memory"]["scope"], "container");
  EXPECT_EQ(report["memory"]["limit_bytes"].get<std::uint64_t>(), 1000 * kMiB);
  EXPECT_EQ(names(sink), (std::vector<std::string>{"target_lost", "level_changed", "target_found",
                                                   "level_changed"}));
  // The model's own kill after it is back is one event; the root's count never was one.
  set_model_kills(1);
  advance(std::chrono::seconds(2));
  engine.step();
  const auto all = names(sink);
  EXPECT_EQ(std::count(all.begin(), all.end(), "oom_kill"), 1);
}

TEST_F(EngineLifecycleTest, ARemovedCgroupTargetIsLostAndFoundWhenItIsBack) {
  auto o = options();
  o.target.kind = model::Target::Kind::kCgroup;
  o.target.cgroup = "/model";
  RecordingSink sink;
  Engine engine(std::move(o), sink);
  engine.step();
  ASSERT_EQ(engine.level(), analysis::Level::kNormal);
  tree_.remove("sys/fs/cgroup/memory/model");
  advance(std::chrono::seconds(2));
  engine.step();
  EXPECT_EQ(engine.level(), analysis::Level::kUnknown);
  SetUp();  // the container again, at the same path
  advance(std::chrono::seconds(2));
  engine.step();
  EXPECT_EQ(engine.level(), analysis::Level::kNormal);
  EXPECT_EQ(names(sink), (std::vector<std::string>{"target_lost", "level_changed", "target_found",
                                                   "level_changed"}));
}

}  // namespace
}  // namespace memopt
