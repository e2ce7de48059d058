// The sidecar layout for real: two sibling memory cgroups, memopt in one (its own small
// container), the model — a holder process — in the other, as deploy/kubernetes/sidecar.yaml
// lays them out. memopt must report the model's container when told to (--cgroup, --pid), its
// own when not, and list both with --containers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/cgroup.hpp"
#include "support/run.hpp"
#include "test_paths.hpp"

namespace memopt::testing {
namespace {

using ::testing::Contains;
using ::testing::Not;
using Json = nlohmann::json;

constexpr std::uint64_t kMiB = 1 << 20;
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

}  // namespace
}  // namespace memopt::testing
