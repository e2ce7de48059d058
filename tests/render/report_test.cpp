#include "memopt/render/report.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "memopt/units.hpp"
#include "memopt/version.hpp"

namespace memopt::render {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

analysis::Report sample_report() {
  model::Sample sample;
  sample.timestamp = std::chrono::system_clock::from_time_t(1795000000);  // 2026-11-18T11:06:40Z
  sample.host = {24 * kGiB, 10 * kGiB, 20 * kGiB, false, 100 * kMiB, 4 * kGiB, 8 * kMiB, 0, 0};
  model::CgroupMemory cg;
  cg.version = 2;
  cg.path = "/kubepods/pod1/ctr";
  cg.limit_bytes = kGiB;
  cg.usage_bytes = 900 * kMiB;
  cg.inactive_file_bytes = 40 * kMiB;
  cg.working_set_bytes = 860 * kMiB;
  cg.anon_bytes = 800 * kMiB;
  // Unknowns on purpose: no peak, no swap accounting, no PSI.
  sample.cgroup = cg;
  for (int i = 0; i < 8; ++i) {
    sample.processes.push_back({100 + i, "worker" + std::to_string(i), (80 - i) * kMiB,
                                (70 - i) * kMiB, (60 - i) * kMiB, 0});
  }
  sample.processes.push_back(
      {200, "sandboxed", 5 * kMiB, std::nullopt, std::nullopt, std::nullopt});
  sample.gpus.push_back({0,
                         "NVIDIA H100",
                         "GPU-abc",
                         80 * kGiB,
                         30 * kGiB,
                         50 * kGiB,
                         500 * kMiB,
                         true,
                         {{4242, "python3", 29 * kGiB}, {77, std::nullopt, std::nullopt}}});
  return analysis::analyze(std::move(sample), {});
}

TEST(RenderJson, FollowsTheReportSchema) {
  const auto doc = nlohmann::ordered_json::parse(render_json(sample_report(), {}));
  EXPECT_EQ(doc["schema"], "memopt.report/1");
  EXPECT_EQ(doc["timestamp"], "2026-11-18T11:06:40Z");
  EXPECT_EQ(doc["status"]["level"], "warning");
  EXPECT_EQ(doc["memory"]["scope"], "container");
  EXPECT_EQ(doc["memory"]["limit_bytes"], kGiB);
  EXPECT_EQ(doc["memory"]["used_bytes"], 860 * kMiB);
  EXPECT_EQ(doc["memory"]["available_bytes"], 164 * kMiB);
  EXPECT_DOUBLE_EQ(doc["memory"]["used_percent"].get<double>(), 83.98);
  EXPECT_EQ(doc["cgroup"]["version"], 2);
  EXPECT_TRUE(doc["cgroup"]["peak_bytes"].is_null());
  EXPECT_TRUE(doc["cgroup"]["swap_usage_bytes"].is_null());
  EXPECT_TRUE(doc["cgroup"]["pressure"].is_null());
  EXPECT_TRUE(doc["cgroup"]["active_file_bytes"].is_null());
  EXPECT_EQ(doc["processes"].size(), 5u);  // --top defaults to 5
  EXPECT_EQ(doc["processes"][0]["pid"], 100);
  EXPECT_EQ(doc["gpus"][0]["reserved_bytes"], 500 * kMiB);
  EXPECT_TRUE(doc["gpus"][0]["processes"][1]["name"].is_null());
  EXPECT_TRUE(doc["gpus"][0]["processes"][1]["used_bytes"].is_null());
  EXPECT_TRUE(doc["fragmentation"].is_null());
  EXPECT_EQ(doc["memopt_version"], std::string(memopt::version()));
  const std::vector<std::string> keys = {
      "schema",     "memopt_version", "timestamp",     "status", "target",
      "thresholds", "memory",         "host",          "cgroup", "processes_scope",
      "processes",  "gpus",           "fragmentation", "advice", "gpu_verdicts"};
  std::vector<std::string> actual;
  for (const auto& [key, value] : doc.items()) actual.push_back(key);
  EXPECT_EQ(actual, keys);
}

TEST(RenderJson, TopNAndUnknownProcessValuesAreNull) {
  RenderOptions options;
  options.top = 100;
  const auto doc = nlohmann::json::parse(render_json(sample_report(), options));
  ASSERT_EQ(doc["processes"].size(), 9u);
  EXPECT_EQ(doc["processes"][8]["name"], "sandboxed");
  EXPECT_TRUE(doc["processes"][8]["pss_bytes"].is_null());
  EXPECT_EQ(doc["processes"][8]["rss_bytes"], 5 * kMiB);
  options.pretty = false;
  const auto line = render_json(sample_report(), options);
  EXPECT_EQ(line.find('\n'), line.size() - 1);  // one line, for JSON Lines
}

TEST(RenderText, SaysUnknownRatherThanZero) {
  const auto text = render_text(sample_report(), {});
  EXPECT_THAT(text, HasSubstr("status       WARNING"));
  EXPECT_THAT(text, HasSubstr("limit 1.00 GiB   used 860 MiB (84.0%)   available 164 MiB"));
  EXPECT_THAT(text, HasSubstr("peak unknown"));
  EXPECT_THAT(text, HasSubstr("swap unknown (limit unknown)"));
  EXPECT_THAT(text, Not(HasSubstr("sandboxed")));  // sixth and beyond are cut by --top 5
  EXPECT_THAT(text, HasSubstr("NVIDIA H100  used 30.0 GiB of 80.0 GiB (37.5%)"));
  EXPECT_THAT(text, HasSubstr("(not visible)"));
  EXPECT_THAT(text, Not(HasSubstr("\033[")));
}

TEST(RenderText, UnknownProcessValuesReadUnknown) {
  RenderOptions options;
  options.top = 100;
  EXPECT_THAT(render_text(sample_report(), options),
              ::testing::ContainsRegex("200  sandboxed +unknown +unknown +5.00 MiB +unknown"));
}

TEST(RenderText, ColoursOnlyWhenAsked) {
  RenderOptions options;
  options.color = true;
  EXPECT_THAT(render_text(sample_report(), options), HasSubstr("\033[33mWARNING\033[0m"));
}

TEST(RenderCheck, PluginLineAndExitCodes) {
  EXPECT_THAT(render_check(sample_report()),
              HasSubstr("MEMOPT WARNING - used 84.0% of the container limit"));
  EXPECT_THAT(render_check(sample_report()), HasSubstr("| used_percent=83.98%;80;90;0;100"));
  EXPECT_EQ(check_exit_code(analysis::Level::kNormal), 0);
  EXPECT_EQ(check_exit_code(analysis::Level::kAcceptable), 0);
  EXPECT_EQ(check_exit_code(analysis::Level::kWarning), 1);
  EXPECT_EQ(check_exit_code(analysis::Level::kSevere), 2);
  EXPECT_EQ(check_exit_code(analysis::Level::kDanger), 2);
}

TEST(RenderCheck, ProtectionProblemsComeFirstAndRaiseANormalLevelToAWarning) {
  auto report = sample_report();
  EXPECT_THAT(render_check(report, {"protect: pid file /run/a.pid holds no pid"}),
              HasSubstr("MEMOPT WARNING - protect: pid file /run/a.pid holds no pid; used 84.0%"));
  report.status.level = analysis::Level::kNormal;
  report.status.reasons = {"used 10.0% of the container limit"};
  EXPECT_THAT(render_check(report, {"protect: x"}),
              HasSubstr("MEMOPT WARNING - protect: x; used 10.0% of the container limit"));
  EXPECT_THAT(render_check(report), HasSubstr("MEMOPT NORMAL - used 10.0%"));
  EXPECT_EQ(check_exit_code(analysis::Level::kNormal, true), 1);
  EXPECT_EQ(check_exit_code(analysis::Level::kAcceptable, true), 1);
  EXPECT_EQ(check_exit_code(analysis::Level::kWarning, true), 1);
  EXPECT_EQ(check_exit_code(analysis::Level::kDanger, true), 2);
  EXPECT_EQ(check_exit_code(analysis::Level::kUnknown, true), 3);
}

}  // namespace
}  // namespace memopt::render

namespace memopt::render {
namespace {

analysis::Report shm_report() {
  auto report = sample_report();
  report.sample.cgroup->shmem_bytes = 100 * kMiB;
  model::ShmLedger shm;
  shm.path = "/proc/42/root/dev/shm";
  shm.via_pid = 42;
  shm.tmpfs = true;
  shm.size_bytes = 64 * kMiB;
  shm.used_bytes = 48 * kMiB;
  shm.file_count = 3;
  shm.owners_judged = true;
  shm.orphan_bytes = 16 * kMiB;
  shm.orphan_files = 1;
  shm.files.push_back(
      {"torch_7_1_0", "regular", 16 * kMiB, 16 * kMiB, 11, false, 7, false, {}, true});
  shm.files.push_back(
      {"torch_42_1_1", "regular", 8 * kMiB, 8 * kMiB, 12, false, 42, true, {42, 43}, false});
  shm.files.push_back(
      {"bad\x1bname", "symlink", 0, 0, 13, false, std::nullopt, std::nullopt, {}, false});
  report.sample.shm = shm;
  return report;
}

TEST(RenderShm, TextShowsUseOrphansTheShmemSplitAndTheLargestFiles) {
  const auto text = render_text(shm_report(), {});
  EXPECT_THAT(text, HasSubstr("/dev/shm     48.0 MiB used of 64.0 MiB (75.0%)   3 file(s)   seen "
                              "through pid 42"));
  EXPECT_THAT(text, HasSubstr("orphans 16.0 MiB in 1 file(s)"));
  EXPECT_THAT(text, HasSubstr("cgroup shmem 100 MiB = /dev/shm 48.0 MiB + 52.0 MiB elsewhere "
                              "(memfd"));
  EXPECT_THAT(text, HasSubstr("7 dead"));
  EXPECT_THAT(text, HasSubstr("42 +1"));
  EXPECT_THAT(text, HasSubstr("orphan"));
  EXPECT_THAT(text, HasSubstr("bad\\x1bname (symlink)"));
  EXPECT_THAT(text, Not(HasSubstr("\x1b")));
}

TEST(RenderShm, JsonListsTheLedger) {
  const auto doc = nlohmann::json::parse(render_json(shm_report(), {}));
  const auto& shm = doc["dev_shm"];
  EXPECT_EQ(shm["size_bytes"], 64 * kMiB);
  EXPECT_EQ(shm["used_bytes"], 48 * kMiB);
  EXPECT_EQ(shm["via_pid"], 42);
  EXPECT_EQ(shm["orphan_bytes"], 16 * kMiB);
  EXPECT_EQ(shm["shmem_split"]["other_bytes"], 52 * kMiB);
  ASSERT_EQ(shm["files"].size(), 3u);
  EXPECT_EQ(shm["files"][0]["owner_alive"], false);
  EXPECT_EQ(shm["files"][0]["orphan"], true);
  EXPECT_EQ(shm["files"][1]["holders"], nlohmann::json::array({42, 43}));
  EXPECT_TRUE(shm["files"][2]["owner_pid"].is_null());
  EXPECT_EQ(shm["files"][2]["name"], "bad\\x1bname");
}

TEST(RenderShm, NoLedgerNoSection) {
  const auto report = sample_report();
  EXPECT_THAT(render_text(report, {}), Not(HasSubstr("/dev/shm")));
  EXPECT_FALSE(nlohmann::json::parse(render_json(report, {})).contains("dev_shm"));
}

}  // namespace
}  // namespace memopt::render
