#include "memopt/render/prometheus.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "memopt/units.hpp"
#include "memopt/version.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"

namespace memopt::render {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

analysis::Report sample_report() {
  model::Sample sample;
  sample.timestamp = std::chrono::system_clock::from_time_t(1795000000);
  sample.host = {24 * kGiB, 10 * kGiB, 20 * kGiB, false, 100 * kMiB, 4 * kGiB, 8 * kMiB, 0, 0};
  sample.host_pressure = model::Pressure{1.5, 2, 3, 0.25, 0, 0};
  model::CgroupMemory cg;
  cg.version = 2;
  cg.path = "/kubepods/pod1/ctr";
  cg.limit_bytes = kGiB;
  cg.usage_bytes = 900 * kMiB;
  cg.inactive_file_bytes = 40 * kMiB;
  cg.working_set_bytes = 860 * kMiB;
  cg.oom_kill_events = 3;
  sample.cgroup = cg;
  sample.processes.push_back({100, "python3", 80 * kMiB, 70 * kMiB, 60 * kMiB, 0});
  sample.processes.push_back(
      {101, "we\"ird\\name\n", 50 * kMiB, std::nullopt, std::nullopt, std::nullopt});
  sample.processes.push_back({102, "third", 10 * kMiB, 9 * kMiB, 8 * kMiB, 0});
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

/// Every sample line's metric name, and the HELP/TYPE names, from an exposition.
struct Parsed {
  std::set<std::string> help, type, samples;
};

Parsed parse(const std::string& text) {
  Parsed p;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# HELP ", 0) == 0) {
      p.help.insert(line.substr(7, line.find(' ', 7) - 7));
    } else if (line.rfind("# TYPE ", 0) == 0) {
      p.type.insert(line.substr(7, line.find(' ', 7) - 7));
    } else if (!line.empty()) {
      p.samples.insert(line.substr(0, line.find_first_of("{ ")));
    }
  }
  return p;
}

TEST(RenderPrometheus, EveryFamilyHasHelpAndType) {
  MetricsExtras extras;
  extras.events = std::map<std::string, std::uint64_t>{{"level_changed", 2}};
  const auto text = render_prometheus(sample_report(), extras);
  const auto p = parse(text);
  EXPECT_EQ(p.help, p.samples);
  EXPECT_EQ(p.type, p.samples);
  EXPECT_EQ(text.back(), '\n');
}

TEST(RenderPrometheus, EffectiveViewAndCgroup) {
  const auto text = render_prometheus(sample_report(), {});
  EXPECT_THAT(text, HasSubstr("\nmemopt_memory_limit_bytes 1073741824\n"));
  EXPECT_THAT(text, HasSubstr(fmt::format("\nmemopt_memory_used_bytes {}\n", 860 * kMiB)));
  EXPECT_THAT(text, HasSubstr(fmt::format("\nmemopt_memory_available_bytes {}\n", 164 * kMiB)));
  EXPECT_THAT(text,
              HasSubstr("# TYPE memopt_memory_used_ratio gauge\nmemopt_memory_used_ratio 0.8398"));
  EXPECT_THAT(text, HasSubstr("\nmemopt_status_level 2\n"));  // 84% of the limit: warning
  EXPECT_THAT(
      text,
      HasSubstr("# TYPE memopt_cgroup_oom_kills_total counter\nmemopt_cgroup_oom_kills_total 3\n"));
  EXPECT_THAT(text, HasSubstr("\nmemopt_cgroup_limit_bytes 1073741824\n"));
  // The host's stalls under the host's names only: this container has no PSI of its own.
  EXPECT_THAT(text, HasSubstr("\nmemopt_host_pressure_some_avg10_ratio 0.015\n"));
  EXPECT_THAT(text, Not(HasSubstr("\nmemopt_pressure_some_avg10_ratio")));
  EXPECT_THAT(text, HasSubstr("\nmemopt_up 1\n"));
  EXPECT_THAT(text, HasSubstr(fmt::format(
                        "# TYPE memopt_build_info gauge\nmemopt_build_info{{version=\"{}\","
                        "revision=\"{}\"}} 1\n",
                        memopt::version(), memopt::revision())));
  // Unknown: no peak, no oom events counter, no swap; never a made-up 0.
  EXPECT_THAT(text, Not(HasSubstr("memopt_cgroup_peak_bytes")));
  EXPECT_THAT(text, Not(HasSubstr("memopt_cgroup_oom_events_total")));
  EXPECT_THAT(text, Not(HasSubstr("memopt_cgroup_swap_usage_bytes")));
  EXPECT_THAT(text, Not(HasSubstr("memopt_events_total")));
  EXPECT_THAT(text, Not(HasSubstr("memopt_cleanup_reclaimed_bytes_total")));
}

TEST(RenderPrometheus, NoCgroupLimitMeansNoLimitMetric) {
  auto report = sample_report();
  report.sample.cgroup->limit_bytes.reset();
  const auto text = render_prometheus(analysis::analyze(report.sample, {}), {});
  EXPECT_THAT(text, Not(HasSubstr("memopt_cgroup_limit_bytes")));
  EXPECT_THAT(text, HasSubstr("memopt_memory_limit_bytes 25769803776\n"));
}

TEST(RenderPrometheus, ProcessesCarryPidAndNameEscaped) {
  MetricsExtras extras;
  extras.top = 2;
  const auto text = render_prometheus(sample_report(), extras);
  EXPECT_THAT(text,
              HasSubstr(fmt::format("memopt_process_pss_bytes{{pid=\"100\",name=\"python3\"}} {}\n",
                                    70 * kMiB)));
  EXPECT_THAT(
      text,
      HasSubstr("memopt_process_rss_bytes{pid=\"101\",name=\"we\\\"ird\\\\name\\n\"} 52428800\n"));
  EXPECT_THAT(text,
              Not(HasSubstr("pid=\"101\",name=\"we\\\"ird\\\\name\\n\"} 0")));  // no made-up PSS
  EXPECT_THAT(text, Not(HasSubstr("third")));                                   // top 2 only
}

TEST(RenderPrometheus, Gpus) {
  const auto text = render_prometheus(sample_report(), {});
  EXPECT_THAT(
      text, HasSubstr(fmt::format("memopt_gpu_memory_used_bytes{{gpu=\"0\",uuid=\"GPU-abc\"}} {}\n",
                                  30 * kGiB)));
  EXPECT_THAT(text,
              HasSubstr(fmt::format(
                  "memopt_gpu_memory_total_bytes{{gpu=\"0\",uuid=\"GPU-abc\"}} {}\n", 80 * kGiB)));
  EXPECT_THAT(
      text,
      HasSubstr(fmt::format(
          "memopt_gpu_process_memory_used_bytes{{gpu=\"0\",pid=\"4242\",name=\"python3\"}} {}\n",
          29 * kGiB)));
  EXPECT_THAT(text, Not(HasSubstr("pid=\"77\"")));
}

TEST(RenderPrometheus, EventsAndCleanupCountersWhenKnown) {
  MetricsExtras extras;
  extras.events = std::map<std::string, std::uint64_t>{{"oom_kill", 2}};
  extras.cleanup_reclaimed_bytes = 4096;
  const auto text = render_prometheus(sample_report(), extras);
  EXPECT_THAT(text, HasSubstr("# TYPE memopt_events_total counter\n"));
  EXPECT_THAT(text, HasSubstr("memopt_events_total{event=\"oom_kill\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("memopt_events_total{event=\"leak_suspected\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("memopt_cleanup_reclaimed_bytes_total 4096\n"));
}

TEST(EscapeLabelValue, EscapesBackslashQuoteNewline) {
  EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(escape_label_value("plain"), "plain");
}

const char* promtool() {
  return ::access("/usr/bin/promtool", X_OK) == 0 ? "/usr/bin/promtool" : nullptr;
}

/// `promtool check metrics` reads the exposition on standard input.
testing::RunResult promtool_check(const std::string& text) {
  testing::TempTree tmp;
  const auto path = tmp.path("metrics.txt");
  std::ofstream(path) << text;
  return testing::run_command(
      {"/bin/sh", "-c", std::string(promtool()) + " check metrics < " + path});
}

TEST(RenderPrometheus, PassesPromtoolOnASyntheticReport) {
  if (promtool() == nullptr)
    GTEST_SKIP() << "promtool is not installed (Debian package prometheus)";
  MetricsExtras extras;
  extras.events = std::map<std::string, std::uint64_t>{{"oom_kill", 1}};
  extras.cleanup_reclaimed_bytes = 0;
  const auto check = promtool_check(render_prometheus(sample_report(), extras));
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_EQ(check.out + check.err, "");
}

TEST(ReportFormatPrometheus, PassesPromtoolOnThisMachine) {
  if (promtool() == nullptr)
    GTEST_SKIP() << "promtool is not installed (Debian package prometheus)";
  const auto report = testing::run_memopt({"report", "--format", "prometheus", "--top", "10"},
                                          {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_THAT(report.out, HasSubstr("\nmemopt_memory_limit_bytes "));
  const auto check = promtool_check(report.out);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_EQ(check.out + check.err, "");
}

}  // namespace
}  // namespace memopt::render

namespace memopt::render {
namespace {

TEST(RenderPrometheus, DevShmLedgerAndTheShmemOutsideIt) {
  auto report = sample_report();
  report.sample.cgroup->shmem_bytes = 100 * kMiB;
  model::ShmLedger shm;
  shm.size_bytes = 64 * kMiB;
  shm.used_bytes = 48 * kMiB;
  shm.file_count = 3;
  shm.owners_judged = true;
  shm.orphan_bytes = 16 * kMiB;
  shm.orphan_files = 1;
  report.sample.shm = shm;
  const auto text = render_prometheus(report, {});
  EXPECT_THAT(text, HasSubstr("memopt_dev_shm_size_bytes 67108864\n"));
  EXPECT_THAT(text, HasSubstr("memopt_dev_shm_used_bytes 50331648\n"));
  EXPECT_THAT(text, HasSubstr("memopt_dev_shm_files 3\n"));
  EXPECT_THAT(text, HasSubstr("memopt_dev_shm_orphan_bytes 16777216\n"));
  EXPECT_THAT(text, HasSubstr("memopt_cgroup_shmem_outside_dev_shm_bytes 54525952\n"));
  report.sample.shm->owners_judged = false;  // unknown is absent, never 0
  EXPECT_THAT(render_prometheus(report, {}), Not(HasSubstr("memopt_dev_shm_orphan_bytes")));
}

}  // namespace
}  // namespace memopt::render
