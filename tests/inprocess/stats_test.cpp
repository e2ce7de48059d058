// The `stats` request: what a process embedding memopt answers (torch's allocator through the
// provider, its ModelCaches' models), the client that asks every socket of the target, and
// `memopt report` showing it (text, JSON, Prometheus) and using it to match a GPU entry that
// NVML lists under a pid not visible here.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "memopt/actions/process_stats.hpp"
#include "memopt/inprocess.hpp"
#include "memopt/units.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

// Two CUDA devices as the Python package's provider would describe them: 1 GiB of 2 GiB
// reserved in use on cuda:0 (whose UUID is NVML's GPU-bbbb-1111), nothing else.
constexpr const char* kTorchDevices =
    R"([{"device":0,"uuid":"bbbb-1111","allocated_bytes":1073741824,"reserved_bytes":2147483648,)"
    R"("peak_allocated_bytes":1610612736}])";

// MEMOPT_RUNTIME_DIR set to a private directory for the test's lifetime, the torch provider
// installed, and a ModelCache holding "llama" (charged 300 MiB by the fake measure).
class StatsTest : public ::testing::Test {
 protected:
  StatsTest() : dir_(tree_.mkdir("run")) {
    ::setenv("MEMOPT_RUNTIME_DIR", dir_.c_str(), 1);
    set_torch_stats_provider([] { return std::string(kTorchDevices); });
    cache_.add<int>("llama", [this] {
      measured_ += 300 * kMiB;
      return std::make_shared<int>(7);
    });
    (void)cache_.get<int>("llama");
  }
  ~StatsTest() override {
    set_torch_stats_provider({});
    ::unsetenv("MEMOPT_RUNTIME_DIR");
  }

  testing::TempTree tree_;
  std::string dir_;
  std::uint64_t measured_ = kGiB;
  ModelCache cache_{10 * kGiB, [this] { return measured_; }};
};

TEST_F(StatsTest, AnswersTorchFiguresAndModels) {
  const auto answer = Json::parse(stats_json());
  EXPECT_EQ(answer.at("pid"), ::getpid());
  ASSERT_EQ(answer.at("torch").size(), 1u);
  EXPECT_EQ(answer.at("torch")[0].at("reserved_bytes"), 2 * kGiB);
  ASSERT_EQ(answer.at("models").size(), 1u);
  EXPECT_EQ(answer.at("models")[0].at("name"), "llama");
  EXPECT_EQ(answer.at("models")[0].at("bytes"), 300 * kMiB);
  EXPECT_GE(answer.at("models")[0].at("idle_seconds").get<double>(), 0.0);
  {
    const auto in_use = cache_.get<int>("llama");  // held: in use, so no idle time
    EXPECT_TRUE(Json::parse(stats_json()).at("models")[0].at("idle_seconds").is_null());
  }
}

TEST_F(StatsTest, AFailingProviderIsReportedNotThrown) {
  set_torch_stats_provider([]() -> std::string { throw std::runtime_error("torch broke"); });
  EXPECT_THAT(Json::parse(stats_json()).at("torch_error").get<std::string>(),
              HasSubstr("torch broke"));
  set_torch_stats_provider([] { return std::string(R"({"device":0})"); });
  EXPECT_THAT(Json::parse(stats_json()).at("torch_error").get<std::string>(),
              HasSubstr("not a JSON array"));
  // What a client would refuse is not sent as figures: the server reads by the clients' rules.
  set_torch_stats_provider(
      [] { return std::string(R"([{"device":0,"allocated_bytes":3,"reserved_bytes":2}])"); });
  EXPECT_THAT(Json::parse(stats_json()).at("torch_error").get<std::string>(),
              HasSubstr("allocated more than it reserved"));
  set_torch_stats_provider({});
  EXPECT_EQ(Json::parse(stats_json()).at("torch"), Json::array());
}

TEST_F(StatsTest, TheTorchVersionIsAnsweredOnceSetAndAskedForByDiagnose) {
  EXPECT_FALSE(Json::parse(stats_json()).contains("torch_version"));
  set_torch_version("1.13.0a0");
  EXPECT_EQ(Json::parse(stats_json()).at("torch_version"), "1.13.0a0");
  EXPECT_EQ(actions::torch_version_of_stats_answer(stats_json()), "1.13.0a0");

  const auto server = serve_cleanup();
  const auto versions =
      actions::ask_torch_versions(sys::default_roots(), {}, {dir_}, std::chrono::seconds(5));
  ASSERT_EQ(versions.size(), 1u);
  EXPECT_EQ(versions[0].pid, ::getpid());
  EXPECT_EQ(versions[0].version, "1.13.0a0");
  EXPECT_EQ(versions[0].major, 1u);
  EXPECT_EQ(versions[0].minor, 13u);
  EXPECT_EQ(versions[0].source, "its stats answer");
  server->stop();

  set_torch_version("");
  EXPECT_FALSE(Json::parse(stats_json()).contains("torch_version"));
  EXPECT_FALSE(actions::torch_version_of_stats_answer(R"({"torch_version":3})"));
  EXPECT_FALSE(actions::torch_version_of_stats_answer("not json"));
}

TEST(ApplyStatsAnswer, RefusesWhatCannotBeTrue) {
  const auto error_of = [](const std::string& answer) {
    model::ProcessStats stats;
    actions::apply_stats_answer(answer, stats);
    EXPECT_TRUE(stats.torch.empty() && stats.models.empty()) << answer;
    return stats.error.value_or("");
  };
  EXPECT_THAT(error_of("not json"), HasSubstr("not JSON"));
  EXPECT_THAT(error_of(R"({"error":"unknown request"})"), HasSubstr("unknown request"));
  EXPECT_THAT(error_of(R"({"pid":1,"torch":[],"torch_error":"boom","models":[]})"),
              HasSubstr("boom"));
  EXPECT_THAT(error_of(R"({"pid":1})"), HasSubstr("not a stats answer"));
  EXPECT_THAT(
      error_of(R"({"torch":[{"device":0,"allocated_bytes":2,"reserved_bytes":1}],"models":[]})"),
      HasSubstr("allocated more than it reserved"));
  EXPECT_THAT(
      error_of(R"({"torch":[{"device":0,"allocated_bytes":-1,"reserved_bytes":1}],"models":[]})"),
      HasSubstr("lacks a whole"));
  EXPECT_THAT(error_of(R"({"torch":[],"models":[{"bytes":1}]})"), HasSubstr("name"));

  model::ProcessStats stats;
  actions::apply_stats_answer(R"({"torch":[{"device":1,"allocated_bytes":1,"reserved_bytes":3}],)"
                              R"("models":[{"name":"m","bytes":5,"idle_seconds":1.5}]})",
                              stats);
  EXPECT_EQ(stats.error, std::nullopt);
  ASSERT_EQ(stats.torch.size(), 1u);
  EXPECT_EQ(stats.torch[0].device, 1u);
  EXPECT_EQ(stats.torch[0].peak_allocated_bytes, std::nullopt);
  ASSERT_EQ(stats.models.size(), 1u);
  EXPECT_EQ(stats.models[0].bytes, 5u);
  EXPECT_EQ(stats.models[0].idle_seconds, 1.5);

  // A name is printed in every output: no terminal escapes get through.
  model::ProcessStats escaped;
  actions::apply_stats_answer(R"({"torch":[],"models":[{"name":"a\u001b[2Jb"}]})", escaped);
  ASSERT_EQ(escaped.models.size(), 1u);
  EXPECT_EQ(escaped.models[0].name.find('\x1b'), std::string::npos) << escaped.models[0].name;
}

TEST_F(StatsTest, TheClientAsksEverySocketAndSaysWhoDidNotAnswer) {
  auto server = serve_cleanup();
  // A live process (our parent) with a socket file nobody listens on.
  (void)tree_.write("run/" + std::to_string(::getppid()) + ".sock", "");
  const auto all =
      actions::ask_process_stats(sys::default_roots(), {}, {dir_}, std::chrono::milliseconds(2000));
  ASSERT_EQ(all.size(), 2u);
  const auto& ours = all[0].pid == ::getpid() ? all[0] : all[1];
  const auto& silent = all[0].pid == ::getpid() ? all[1] : all[0];
  EXPECT_EQ(ours.error, std::nullopt);
  ASSERT_EQ(ours.torch.size(), 1u);
  EXPECT_EQ(ours.torch[0].allocated_bytes, kGiB);
  EXPECT_EQ(ours.torch[0].reserved_bytes, 2 * kGiB);
  EXPECT_EQ(ours.torch[0].peak_allocated_bytes, 3 * kGiB / 2);
  EXPECT_EQ(ours.torch[0].uuid, "bbbb-1111");
  ASSERT_EQ(ours.models.size(), 1u);
  EXPECT_EQ(ours.models[0].name, "llama");
  EXPECT_EQ(ours.models[0].bytes, 300 * kMiB);
  EXPECT_EQ(silent.pid, ::getppid());
  EXPECT_THAT(silent.error.value_or(""), HasSubstr("nobody listens"));
}

TEST_F(StatsTest, ReportShowsThemAndMatchesTheGpuEntryBySelfReport) {
  auto server = serve_cleanup();
  // NVML lists pid 4194305 (above any pid_max: never visible) with 2.5 GiB on GPU-bbbb-1111:
  // 2 GiB reserved + the default 512 MiB context of our report. The 6 GiB entry fits nothing.
  const std::string nvml = R"(count 1
device 0 85899345920 536870912 70000000000 9000000000 GPU-bbbb-1111 NVIDIA A100
process 0 compute 4194305 2684354560
process 0 compute 4194304 6442450944
)";
  const std::vector<std::string> env{
      "MEMOPT_NVML_LIBRARY=" + std::string(MEMOPT_FAKE_NVML_DIR) + "/full/libnvidia-ml.so.1",
      "FAKE_NVML_SCRIPT=" + tree_.write("nvml", nvml), "MEMOPT_RUNTIME_DIR=" + dir_};
  const auto pid = std::to_string(::getpid());
  auto comm = testing::slurp("/proc/self/comm");
  comm.pop_back();  // the newline

  const auto json = testing::run_memopt({"report", "--json"}, env);
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto report = Json::parse(json.out);
  const auto& processes = report.at("gpus").at(0).at("processes");
  ASSERT_EQ(processes.size(), 2u) << report.dump(2);
  EXPECT_EQ(processes[1].at("pid"), 4194305);
  EXPECT_EQ(processes[1].at("attributed_by"), "self_report");
  EXPECT_EQ(processes[1].at("local_pid"), ::getpid());
  EXPECT_EQ(processes[1].at("name"), comm);
  EXPECT_TRUE(processes[0].at("attributed_by").is_null());
  const auto& in_process = report.at("in_process");
  ASSERT_EQ(in_process.size(), 1u) << report.dump(2);
  EXPECT_EQ(in_process[0].at("pid"), ::getpid());
  EXPECT_EQ(in_process[0].at("torch")[0].at("cache_bytes"), kGiB);
  EXPECT_EQ(in_process[0].at("models")[0].at("name"), "llama");

  const auto text = testing::run_memopt({"report"}, env);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("in-process   pid " + pid + " " + comm + "\n"));
  EXPECT_THAT(text.out,
              HasSubstr("cuda:0   allocated 1.00 GiB   reserved 2.00 GiB   cache 1.00 GiB"));
  EXPECT_THAT(text.out, HasSubstr("model llama"));
  EXPECT_THAT(text.out, HasSubstr("pid " + pid + " here, by self-report"));

  const auto metrics = testing::run_memopt({"report", "--format", "prometheus"}, env);
  ASSERT_EQ(metrics.exit_code, 0) << metrics.err;
  EXPECT_THAT(metrics.out, HasSubstr("memopt_process_torch_allocated_bytes{pid=\"" + pid +
                                     "\",device=\"0\"} 1073741824\n"));
  EXPECT_THAT(metrics.out, HasSubstr("memopt_process_torch_reserved_bytes{pid=\"" + pid +
                                     "\",device=\"0\"} 2147483648\n"));
  EXPECT_THAT(metrics.out,
              HasSubstr("memopt_model_bytes{pid=\"" + pid + "\",model=\"llama\"} 314572800\n"));
}

TEST_F(StatsTest, CleanupSaysHowMuchIsReclaimableTorchCache) {
  auto server = serve_cleanup();
  const std::vector<std::string> env{"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1",
                                     "MEMOPT_RUNTIME_DIR=" + dir_};
  const auto json = testing::run_memopt({"cleanup", "--dry-run", "--json"}, env);
  const auto answer = Json::parse(json.out);
  ASSERT_EQ(answer.at("processes").size(), 1u) << json.out << json.err;
  EXPECT_EQ(answer.at("processes")[0].at("pid"), ::getpid());
  EXPECT_EQ(answer.at("processes")[0].at("torch_cache_bytes"), kGiB);  // 2 GiB - 1 GiB
  const auto text = testing::run_memopt({"cleanup", "--dry-run"}, env);
  EXPECT_THAT(text.out, HasSubstr("torch cache 1.00 GiB reclaimable")) << text.err;
}

TEST_F(StatsTest, ReportSaysWhenAProcessDoesNotAnswer) {
  (void)tree_.write("run/" + std::to_string(::getppid()) + ".sock", "");
  const auto text = testing::run_memopt(
      {"report"},
      {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1", "MEMOPT_RUNTIME_DIR=" + dir_});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("in-process   pid " + std::to_string(::getppid())));
  EXPECT_THAT(text.out, HasSubstr(": no answer (nobody listens"));
}

}  // namespace
}  // namespace memopt
