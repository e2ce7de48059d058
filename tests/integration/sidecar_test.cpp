// The sidecar layout for real: two sibling memory cgroups, memopt in one (its own small
// container), the model — a holder process — in the other, as deploy/kubernetes/sidecar.yaml
// lays them out. memopt must report the model's container when told to (--cgroup, --pid), its
// own when not, and list both with --containers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "memopt/record/sqlite.hpp"
#include "memopt/units.hpp"
#include "support/cgroup.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt::testing {
namespace {

using ::testing::Contains;
using ::testing::Not;
using Json = nlohmann::json;

const std::string kNoNvml = "MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1";

class Sidecar : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why_not;
    model_ = TestCgroup::create(&why_not);
    if (model_) sidecar_ = TestCgroup::create(&why_not);
    if (!model_ || !sidecar_) GTEST_SKIP() << "cannot create memory cgroups here: " << why_not;
    model_->set_limit(256 * kMiB);
    sidecar_->set_limit(64 * kMiB);
    model_->add(holder_.pid());
    ASSERT_TRUE(holder_.hold(150));
  }

  /// memopt run inside the sidecar's cgroup.
  Json report_from_sidecar(std::vector<std::string> args, int expected_exit = 0) {
    auto argv = sidecar_->enter_command();
    argv.insert(argv.end(), {MEMOPT_BINARY, "report", "--json", "--top", "50"});
    argv.insert(argv.end(), args.begin(), args.end());
    const auto result = run_command(argv, {kNoNvml});
    EXPECT_EQ(result.exit_code, expected_exit) << result.err;
    return Json::parse(result.out);
  }

  static std::vector<int> pids(const Json& doc) {
    std::vector<int> out;
    for (const auto& p : doc["processes"]) out.push_back(p["pid"].get<int>());
    return out;
  }

  void expect_model(const Json& doc) {
    EXPECT_EQ(doc["memory"]["scope"], "container");
    EXPECT_EQ(doc["memory"]["limit_bytes"].get<std::uint64_t>(), 256 * kMiB);
    const auto used = doc["memory"]["used_bytes"].get<std::uint64_t>();
    EXPECT_GE(used, 150 * kMiB);
    EXPECT_LE(used, 170 * kMiB);
    EXPECT_EQ(doc["processes_scope"], "cgroup");
    EXPECT_EQ(pids(doc), std::vector<int>{holder_.pid()}) << "the model's processes only";
  }

  std::unique_ptr<TestCgroup> model_;
  std::unique_ptr<TestCgroup> sidecar_;
  Holder holder_;
};

TEST_F(Sidecar, CgroupDirectoryNamesTheModelsContainer) {
  expect_model(report_from_sidecar({"--cgroup", model_->dir()}));
}

TEST_F(Sidecar, PidNamesTheModelsContainer) {
  const auto doc = report_from_sidecar({"--pid", std::to_string(holder_.pid())});
  expect_model(doc);
  EXPECT_EQ(doc["target"]["kind"], "pid");
}

TEST_F(Sidecar, WithoutATargetItReportsItsOwnContainer) {
  const auto doc = report_from_sidecar({});
  EXPECT_EQ(doc["memory"]["limit_bytes"].get<std::uint64_t>(), 64 * kMiB);
  EXPECT_LT(doc["memory"]["used_bytes"].get<std::uint64_t>(), 32 * kMiB);
  EXPECT_THAT(pids(doc), Not(Contains(holder_.pid())));
  ASSERT_EQ(doc["processes"].size(), 1u) << doc["processes"].dump();
  EXPECT_EQ(doc["processes"][0]["name"], "memopt");
}

TEST_F(Sidecar, ContainersListsBothSiblings) {
  // Their parent: this test's own cgroup, named by its directory.
  const std::string parent = model_->dir().substr(0, model_->dir().rfind('/'));
  const auto doc = report_from_sidecar({"--cgroup", parent, "--containers"});
  std::map<std::string, Json> by_path;
  for (const auto& c : doc["containers"]) by_path[c["cgroup"].get<std::string>()] = c;
  const auto name = [](const std::string& dir) { return dir.substr(dir.rfind('/')); };
  std::string model_path;
  std::string sidecar_path;
  for (const auto& [path, c] : by_path) {
    if (path.size() >= name(model_->dir()).size() &&
        path.substr(path.size() - name(model_->dir()).size()) == name(model_->dir()))
      model_path = path;
    if (path.size() >= name(sidecar_->dir()).size() &&
        path.substr(path.size() - name(sidecar_->dir()).size()) == name(sidecar_->dir()))
      sidecar_path = path;
  }
  ASSERT_FALSE(model_path.empty()) << doc["containers"].dump();
  ASSERT_FALSE(sidecar_path.empty()) << doc["containers"].dump();
  EXPECT_EQ(by_path[model_path]["limit_bytes"].get<std::uint64_t>(), 256 * kMiB);
  EXPECT_EQ(by_path[model_path]["level"], "normal");  // ~150 of 256 MiB: 59%
  EXPECT_EQ(by_path[sidecar_path]["limit_bytes"].get<std::uint64_t>(), 64 * kMiB);
  // Fullest first.
  EXPECT_EQ(doc["containers"][0]["cgroup"], model_path);
}

TEST_F(Sidecar, AGoneModelIsUnknownNotGreen) {
  auto argv = sidecar_->enter_command();
  argv.insert(argv.end(),
              {MEMOPT_BINARY, "report", "--check", "--cgroup", model_->dir() + "-not-there"});
  const auto result = run_command(argv, {kNoNvml});
  EXPECT_EQ(result.exit_code, 3) << result.out;
}

// A sidecar watching a model that exits and whose parent (this test) reaps it late: a zombie,
// whose /proc/PID/cgroup reads "/" on v1. memopt says unknown, never the host; it writes no
// OOM-kill event and no post-mortem; a model restarted in the same cgroup is found again.
TEST_F(Sidecar, AModelThatExitsIsUnknownUntilItsRestartIsFound) {
  TempTree tmp;
  const std::string db_path = tmp.path("state/history.db");
  const pid_t model = holder_.pid();
  auto argv = sidecar_->enter_command();
  argv.insert(argv.end(), {MEMOPT_BINARY, "--pid", std::to_string(model), "monitor", "1", "--json",
                           "--record=" + db_path});
  Background monitor(argv, {kNoNvml, "MEMOPT_KERNEL_LOG=/dev/null"});
  const auto first = next_json_line(monitor, "sample", "", 10000);
  ASSERT_FALSE(first.is_null());
  ASSERT_EQ(first["memory"]["scope"], "container") << first.dump();

  ASSERT_EQ(::kill(model, SIGKILL), 0);  // not reaped yet: a zombie for 3 s
  std::vector<Json> seen;
  const auto read_for = [&](std::chrono::milliseconds span) {
    const auto end = std::chrono::steady_clock::now() + span;
    while (std::chrono::steady_clock::now() < end) {
      if (auto line = monitor.read_line(200)) {
        if (const auto doc = Json::parse(*line, nullptr, false); !doc.is_discarded()) {
          seen.push_back(doc);
        }
      }
    }
  };
  read_for(std::chrono::seconds(3));
  int status = 0;
  ASSERT_EQ(::waitpid(model, &status, 0), model);
  read_for(std::chrono::seconds(2));

  bool lost = false;
  bool unknown_sample = false;
  for (const auto& doc : seen) {
    EXPECT_NE(doc.value("event", ""), "oom_kill") << doc.dump();
    if (doc.value("event", "") == "target_lost") lost = true;
    if (doc["type"] == "sample" && lost) {
      EXPECT_EQ(doc["status"]["level"], "unknown") << doc.dump();
      EXPECT_TRUE(doc["memory"].is_null()) << "never the host's figures: " << doc.dump();
      unknown_sample = true;
    }
    if (doc["type"] == "sample" && !doc["memory"].is_null()) {
      EXPECT_EQ(doc["memory"]["scope"], "container") << doc.dump();
    }
  }
  EXPECT_TRUE(lost) << "no target_lost event";
  EXPECT_TRUE(unknown_sample) << "no sample after the model exited";

  // The model restarts in the same cgroup.
  Holder restarted;
  model_->add(restarted.pid());
  ASSERT_TRUE(restarted.hold(100));
  const auto found = next_json_line(monitor, "event", "target_found", 10000);
  ASSERT_FALSE(found.is_null()) << "the restarted model was not found";
  const auto back = next_json_line(
      monitor, [](const Json& doc) { return doc["type"] == "sample" && !doc["memory"].is_null(); },
      10000);
  ASSERT_FALSE(back.is_null());
  EXPECT_EQ(back["memory"]["scope"], "container");
  EXPECT_EQ(back["memory"]["limit_bytes"].get<std::uint64_t>(), 256 * kMiB);
  EXPECT_EQ(monitor.stop(SIGTERM), 0);

  record::Database db(db_path, false);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM postmortems"), 0);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events WHERE name = 'oom_kill'"), 0);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events WHERE name = 'target_lost'"), 1);
  // The gap is a gap: unknown rows carry no figures.
  EXPECT_EQ(db.scalar("SELECT count(*) FROM observations WHERE level = -1 AND used_bytes IS NOT "
                      "NULL"),
            0);
  EXPECT_GT(db.scalar("SELECT count(*) FROM observations WHERE level = -1"), 0);
}

// A pid whose cgroup was removed (a zombie reaped late; its cgroup taken away meanwhile) is
// unknown in every command, with the README's exit codes.
TEST_F(Sidecar, APidWhoseCgroupWasRemovedIsUnknownEverywhere) {
  // A child that moves itself into its own cgroup and exits at once; not reaped yet.
  std::string why_not;
  auto gone = TestCgroup::create(&why_not, "lifecycle-gone");
  ASSERT_NE(gone, nullptr) << why_not;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    gone->add(::getpid());
    ::_exit(0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  gone.reset();  // removes the cgroup: the zombie is no longer in it
  const std::string pid = std::to_string(child);
  const auto run = [&](std::vector<std::string> args) {
    auto argv = sidecar_->enter_command();
    argv.insert(argv.end(), {MEMOPT_BINARY, "--pid", pid});
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, {kNoNvml, "MEMOPT_KERNEL_LOG=/dev/null"});
  };
  const auto report = run({"report", "--json"});
  EXPECT_EQ(report.exit_code, 1) << report.err;
  const auto doc = Json::parse(report.out);
  EXPECT_EQ(doc["status"]["level"], "unknown");
  EXPECT_TRUE(doc["memory"].is_null());
  EXPECT_EQ(run({"report", "--check"}).exit_code, 3);
  const auto metrics = run({"report", "--format", "prometheus"});
  EXPECT_THAT(metrics.out, ::testing::HasSubstr("memopt_up 0\n"));
  const auto monitor = run({"monitor", "1", "--duration", "1"});
  EXPECT_THAT(monitor.out, ::testing::HasSubstr("unknown"));
  EXPECT_THAT(monitor.out + monitor.err, Not(::testing::HasSubstr("0 B of 0 B")));
  EXPECT_THAT(monitor.out + monitor.err, Not(::testing::HasSubstr("peak used 0 B")));
  const auto diagnose = run({"diagnose", "--json"});
  EXPECT_EQ(diagnose.exit_code, 1) << diagnose.err;
  EXPECT_THAT(diagnose.out, Not(::testing::HasSubstr("\"oom_killed\"")));
  EXPECT_THAT(diagnose.out, ::testing::HasSubstr("memory_unknown"));
  const auto cleanup = run({"cleanup", "--dry-run", "--json"});
  EXPECT_EQ(cleanup.exit_code, 1) << cleanup.out;
  EXPECT_THAT(cleanup.out, ::testing::HasSubstr("acts on nothing outside the target"));
  EXPECT_THAT(cleanup.out, Not(::testing::HasSubstr("\"planned\"")));
  int status = 0;
  ::waitpid(child, &status, 0);
}

}  // namespace
}  // namespace memopt::testing
