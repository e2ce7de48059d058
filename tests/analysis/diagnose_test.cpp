#include "memopt/analysis/diagnose.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>

#include "memopt/units.hpp"

namespace memopt::analysis {
namespace {

using ::testing::HasSubstr;

Report container_report(std::uint64_t limit, std::uint64_t used,
                        std::optional<std::uint64_t> oom_kills) {
  model::Sample sample;
  sample.host.total_bytes = 24 * kGiB;
  sample.host.available_bytes = 20 * kGiB;
  sample.host.swap_total_bytes = 4 * kGiB;
  model::CgroupMemory cg;
  cg.version = 2;
  cg.path = "/kubepods/pod1/ctr";
  cg.limit_bytes = limit;
  cg.usage_bytes = used;
  cg.working_set_bytes = used;
  cg.oom_kill_events = oom_kills;
  sample.cgroup = cg;
  return analyze(std::move(sample), {});
}

model::Facts quiet_facts() {
  model::Facts facts;
  facts.malloc_trim_threshold = "10000";
  facts.shm = model::Mount{"/dev/shm", "tmpfs", 8 * kGiB};
  return facts;
}

const Finding* find(const std::vector<Finding>& findings, std::string_view id) {
  const auto it =
      std::find_if(findings.begin(), findings.end(), [&](const auto& f) { return f.id == id; });
  return it == findings.end() ? nullptr : &*it;
}

TEST(Diagnose, AHealthyContainerHasNoFindings) {
  EXPECT_TRUE(diagnose(container_report(2 * kGiB, 500 * kMiB, 0), quiet_facts(), {}).empty());
}

TEST(Diagnose, OomKillsComeFirstWithEvidenceAndAFix) {
  auto facts = quiet_facts();
  facts.shm->size_bytes = 64 * kMiB;
  facts.kernel_oom_kills =
      std::vector<model::OomKill>{{4242, "python3", "/kubepods/pod1/ctr", 12.5, 900 * kMiB, "..."}};
  const auto findings = diagnose(container_report(kGiB, 950 * kMiB, 2), facts, {});
  ASSERT_GE(findings.size(), 4u);
  // 74 MiB available: below the seed's 200 MiB minimum, the most urgent short of danger.
  EXPECT_EQ(findings[0].id, "available_below_minimum");
  EXPECT_THAT(findings[0].evidence, HasSubstr("74.0 MiB available"));
  EXPECT_EQ(findings[1].id, "oom_killed");
  EXPECT_EQ(findings[1].severity, "critical");
  EXPECT_THAT(findings[1].title, HasSubstr("killed 2 process(es) in this container"));
  EXPECT_THAT(findings[1].evidence, HasSubstr("oom_kill counter is 2"));
  EXPECT_THAT(findings[1].evidence, HasSubstr("python3 (pid 4242) holding 900 MiB"));
  EXPECT_THAT(findings[1].fix, HasSubstr("docker update --memory=2g --memory-swap=4g"));
  EXPECT_EQ(findings[2].id, "memory_severe");
  const auto* shm = find(findings, "small_dev_shm");
  ASSERT_NE(shm, nullptr);
  EXPECT_EQ(shm->severity, "warning");
  EXPECT_THAT(shm->fix, HasSubstr("--shm-size=1g"));
  // Ranked: no warning after an info, no critical after a warning.
  for (std::size_t i = 1; i < findings.size(); ++i) {
    const auto rank = [](const std::string& s) {
      return s == "critical" ? 0 : s == "warning" ? 1 : 2;
    };
    EXPECT_LE(rank(findings[i - 1].severity), rank(findings[i].severity));
  }
}

TEST(Diagnose, EnvironmentChecks) {
  auto facts = quiet_facts();
  facts.malloc_trim_threshold.reset();
  facts.most_threads = model::ThreadCount{10, "python3", 64};
  facts.environment_of = model::ThreadCount{10, "python3", 0};
  auto report = container_report(4 * kGiB, kGiB, 0);
  report.sample.gpus.push_back(
      {0, "H100", "GPU-1", 80 * kGiB, 10 * kGiB, 70 * kGiB, std::nullopt, {}});
  const auto findings = diagnose(report, facts, {});
  ASSERT_NE(find(findings, "malloc_arenas"), nullptr);
  EXPECT_THAT(find(findings, "malloc_arenas")->fix, HasSubstr("MALLOC_ARENA_MAX=2"));
  ASSERT_NE(find(findings, "malloc_trim_threshold"), nullptr);
  ASSERT_NE(find(findings, "pytorch_cuda_alloc_conf"), nullptr);
  facts.malloc_arena_max = "2";
  EXPECT_EQ(find(diagnose(report, facts, {}), "malloc_arenas"), nullptr);
  facts.shm->size_bytes.reset();  // tmpfs default: half of RAM
  EXPECT_EQ(find(diagnose(report, facts, {}), "small_dev_shm"), nullptr);
  // No environment could be read: nothing is claimed about it.
  facts.environment_of.reset();
  facts.malloc_arena_max.reset();
  const auto unknown = diagnose(report, facts, {});
  EXPECT_EQ(find(unknown, "malloc_arenas"), nullptr);
  EXPECT_EQ(find(unknown, "malloc_trim_threshold"), nullptr);
}

TEST(Diagnose, PythonSettingsOnlyForAPythonProcessWhoseEnvironmentWasRead) {
  auto facts = quiet_facts();
  facts.environment_of = model::ThreadCount{10, "python3", 0};
  facts.environment_is_python = true;
  facts.python_unbuffered = "1";
  const auto report = container_report(4 * kGiB, kGiB, 0);
  auto findings = diagnose(report, facts, {});
  EXPECT_EQ(find(findings, "python_unbuffered"), nullptr);
  ASSERT_NE(find(findings, "python_dont_write_bytecode"), nullptr);
  EXPECT_THAT(find(findings, "python_dont_write_bytecode")->evidence,
              HasSubstr("in the environment of python3 (pid 10)"));
  EXPECT_THAT(find(findings, "python_dont_write_bytecode")->fix,
              HasSubstr("PYTHONDONTWRITEBYTECODE=1"));
  facts.python_unbuffered = "";  // Python reads an empty value as unset
  facts.python_dont_write_bytecode = "1";
  findings = diagnose(report, facts, {});
  ASSERT_NE(find(findings, "python_unbuffered"), nullptr);
  EXPECT_EQ(find(findings, "python_dont_write_bytecode"), nullptr);
  facts.environment_is_python = false;
  EXPECT_EQ(find(diagnose(report, facts, {}), "python_unbuffered"), nullptr);
  facts.environment_is_python = true;
  facts.environment_of.reset();
  EXPECT_EQ(find(diagnose(report, facts, {}), "python_unbuffered"), nullptr);
}

TEST(Diagnose, DangerComesFirst) {
  const auto findings = diagnose(container_report(512 * kMiB, 480 * kMiB, 3), quiet_facts(), {});
  ASSERT_GE(findings.size(), 3u);
  EXPECT_EQ(findings[0].id, "memory_danger");
  EXPECT_EQ(findings[1].id, "available_below_minimum");
  EXPECT_EQ(findings[2].id, "oom_killed");
}

TEST(Diagnose, ModelMinimumAndPressure) {
  AnalysisOptions options;
  options.model = find_model("vad");
  auto report = container_report(kGiB, 100 * kMiB, 0);
  report.sample.cgroup->pressure = model::Pressure{30, 20, 10, 15, 5, 1};
  const auto findings = diagnose(report, quiet_facts(), options);
  ASSERT_NE(find(findings, "limit_below_model_minimum"), nullptr);
  EXPECT_THAT(find(findings, "limit_below_model_minimum")->fix, HasSubstr("--memory=3g"));
  ASSERT_NE(find(findings, "memory_pressure"), nullptr);
  EXPECT_EQ(find(findings, "memory_pressure")->severity, "critical");
}

// A GPU, PYTORCH_CUDA_ALLOC_CONF unset, and the environment of pid 10 read.
struct TorchCase {
  Report report = container_report(4 * kGiB, kGiB, 0);
  model::Facts facts = quiet_facts();
  TorchCase() {
    facts.environment_of = model::ThreadCount{10, "python3", 0};
    report.sample.gpus.push_back(
        {0, "H100", "GPU-1", 80 * kGiB, 10 * kGiB, 70 * kGiB, std::nullopt, {}});
  }
  void torch(std::string version, unsigned major, unsigned minor) {
    facts.torch = model::TorchVersion{10,    "python3", std::move(version),
                                      major, minor,     "/venv/torch/version.py"};
  }
};

TEST(DiagnoseTorch, ExpandableSegmentsOnlyFromTorch21) {
  TorchCase c;
  c.torch("2.1.0", 2, 1);
  auto findings = diagnose(c.report, c.facts, {});
  ASSERT_NE(find(findings, "pytorch_cuda_alloc_conf"), nullptr);
  EXPECT_THAT(find(findings, "pytorch_cuda_alloc_conf")->fix,
              HasSubstr("PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True"));
  EXPECT_THAT(find(findings, "pytorch_cuda_alloc_conf")->evidence,
              HasSubstr("torch 2.1.0 in python3 (pid 10, from /venv/torch/version.py)"));

  for (const auto& [version, major, minor] :
       {std::tuple{"2.0.1", 2u, 0u}, std::tuple{"1.13.0a0", 1u, 13u},
        std::tuple{"1.9.1", 1u, 9u}}) {
    SCOPED_TRACE(version);
    c.torch(version, major, minor);
    findings = diagnose(c.report, c.facts, {});
    const auto* finding = find(findings, "pytorch_cuda_alloc_conf");
    ASSERT_NE(finding, nullptr);
    EXPECT_THAT(finding->fix, ::testing::Not(HasSubstr("expandable_segments")));
    EXPECT_THAT(finding->evidence, HasSubstr(version));
  }
  c.torch("1.13.0a0", 1, 13);
  EXPECT_THAT(find(diagnose(c.report, c.facts, {}), "pytorch_cuda_alloc_conf")->fix,
              HasSubstr("max_split_size_mb:128"));
  // 1.9 predates every option memopt advises: leave the variable unset.
  c.torch("1.9.1", 1, 9);
  findings = diagnose(c.report, c.facts, {});
  const auto* old = find(findings, "pytorch_cuda_alloc_conf");
  ASSERT_NE(old, nullptr);
  EXPECT_THAT(old->fix, ::testing::Not(HasSubstr("max_split_size_mb")));
  EXPECT_THAT(old->fix, HasSubstr("leave PYTORCH_CUDA_ALLOC_CONF unset"));
}

TEST(DiagnoseTorch, AnUnknownVersionIsSaidAndNoOptionNamed) {
  TorchCase c;
  c.facts.torch_unknown = "none of the target's 1 largest processes maps a torch library";
  const auto findings = diagnose(c.report, c.facts, {});
  const auto* finding = find(findings, "pytorch_cuda_alloc_conf");
  ASSERT_NE(finding, nullptr);
  EXPECT_THAT(finding->title, HasSubstr("torch version is unknown"));
  EXPECT_THAT(finding->evidence, HasSubstr("maps a torch library"));
  EXPECT_THAT(finding->fix, ::testing::Not(HasSubstr("expandable_segments")));
  EXPECT_THAT(finding->fix, ::testing::Not(HasSubstr("max_split_size_mb")));
  EXPECT_THAT(finding->fix, HasSubstr("memopt.cleanup_gpu_memory()"));
}

TEST(DiagnoseTorch, NoGpuNoAllocatorAdvice) {
  TorchCase c;
  c.torch("2.3.0", 2, 3);
  c.report.sample.gpus.clear();
  EXPECT_EQ(find(diagnose(c.report, c.facts, {}), "pytorch_cuda_alloc_conf"), nullptr);
}

TEST(DiagnoseTorch, AnOptionTheTorchLacksIsCritical) {
  TorchCase c;
  c.torch("1.13.0a0", 1, 13);
  c.facts.pytorch_cuda_alloc_conf = "max_split_size_mb:128,expandable_segments:True";
  auto findings = diagnose(c.report, c.facts, {});
  const auto* finding = find(findings, "pytorch_cuda_alloc_conf_unsupported");
  ASSERT_NE(finding, nullptr);
  EXPECT_EQ(finding->severity, "critical");
  EXPECT_THAT(finding->evidence, HasSubstr("expandable_segments (from torch 2.1)"));
  EXPECT_THAT(finding->evidence, ::testing::Not(HasSubstr("max_split_size_mb (")));
  EXPECT_THAT(finding->evidence, HasSubstr("Unrecognized CachingAllocator option"));
  EXPECT_EQ(find(findings, "pytorch_cuda_alloc_conf"), nullptr);
  // Known to the version, or the version unknown: nothing to say.
  c.torch("2.3.0", 2, 3);
  EXPECT_EQ(find(diagnose(c.report, c.facts, {}), "pytorch_cuda_alloc_conf_unsupported"), nullptr);
  c.facts.torch.reset();
  EXPECT_EQ(find(diagnose(c.report, c.facts, {}), "pytorch_cuda_alloc_conf_unsupported"), nullptr);
}

}  // namespace
}  // namespace memopt::analysis

namespace memopt::analysis {
namespace {

model::ShmFile shm_file(std::string name, std::uint64_t bytes, std::optional<int> owner,
                        std::optional<bool> alive, bool orphan) {
  model::ShmFile f;
  f.name = std::move(name);
  f.type = "regular";
  f.size_bytes = f.allocated_bytes = bytes;
  f.owner_pid = owner;
  f.owner_alive = alive;
  f.orphan = orphan;
  return f;
}

TEST(DiagnoseShm, TheLedgerShowsFillingUndersizedAndOrphans) {
  auto report = container_report(2 * kGiB, 500 * kMiB, 0);
  model::ShmLedger shm;
  shm.path = "/dev/shm";
  shm.size_bytes = 64 * kMiB;
  shm.used_bytes = 56 * kMiB;
  shm.owners_judged = true;
  shm.orphan_files = 1;
  shm.orphan_bytes = 8 * kMiB;
  for (int w = 0; w < 4; ++w)
    shm.files.push_back(
        shm_file("torch_" + std::to_string(100 + w) + "_1_0", 20 * kMiB, 100 + w, true, false));
  shm.files.push_back(shm_file("torch_9_1_0", 8 * kMiB, 9, false, true));
  report.sample.shm = shm;
  const auto findings = diagnose(report, quiet_facts(), {});
  const auto* filling = find(findings, "dev_shm_filling");
  ASSERT_NE(filling, nullptr);
  EXPECT_THAT(filling->evidence, HasSubstr("88% full"));
  const auto* undersized = find(findings, "dev_shm_undersized");
  ASSERT_NE(undersized, nullptr);  // 4 workers x 20 MiB = 80 MiB > 64 MiB
  EXPECT_THAT(undersized->fix, HasSubstr("--shm-size=256m"));
  const auto* orphans = find(findings, "dev_shm_orphans");
  ASSERT_NE(orphans, nullptr);
  EXPECT_THAT(orphans->fix, HasSubstr("memopt cleanup"));
  EXPECT_THAT(orphans->evidence, HasSubstr("8.00 MiB"));
  // The ledger's own size wins over memopt's mount (8 GiB in quiet_facts): small_dev_shm too.
  EXPECT_NE(find(findings, "small_dev_shm"), nullptr);
}

TEST(DiagnoseShm, AQuietLedgerHasNoFindings) {
  auto report = container_report(2 * kGiB, 500 * kMiB, 0);
  model::ShmLedger shm;
  shm.size_bytes = 2 * kGiB;
  shm.used_bytes = 10 * kMiB;
  shm.owners_judged = true;
  shm.files.push_back(shm_file("torch_100_1_0", 10 * kMiB, 100, true, false));
  report.sample.shm = shm;
  EXPECT_TRUE(diagnose(report, quiet_facts(), {}).empty());
}

}  // namespace
}  // namespace memopt::analysis
