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

// --- worker groups ---------------------------------------------------------------------------

model::ProcessNode group_node(int pid, int ppid, std::string name, std::uint64_t uss_mib,
                              std::uint64_t rss_mib, std::optional<std::uint64_t> anon_mib = {}) {
  model::ProcessNode n;
  n.memory.pid = pid;
  n.memory.name = std::move(name);
  n.memory.rss_bytes = rss_mib * kMiB;
  n.memory.uss_bytes = uss_mib * kMiB;
  n.memory.pss_bytes = (uss_mib + (rss_mib - uss_mib) / 2) * kMiB;
  if (anon_mib) n.anon_bytes = *anon_mib * kMiB;
  n.ppid = ppid;
  n.start_ticks = 100 + static_cast<std::uint64_t>(pid);
  n.exe = model::ExecutableId{2049, 77};
  return n;
}

// A DataLoader parent with 300 MiB anonymous and four workers holding `private_mib` each.
std::vector<ProcessGroup> loader(std::uint64_t private_mib) {
  std::vector<model::ProcessNode> nodes{group_node(42, 1, "python3", 330, 360, 300)};
  for (int pid = 43; pid <= 46; ++pid) {
    nodes.push_back(group_node(pid, 42, "pt_data_worker", private_mib, private_mib + 250));
  }
  return group_processes(nodes);
}

TEST(DiagnoseGroups, WorkersHoldingCopiesAreNamedWithTheNumWorkersThatFitsAndTheFixes) {
  // 1 GiB limit, 950 MiB used: 4 x 150 MiB held, 350 MiB besides; each worker could copy 150
  // MiB more: 1550 MiB at the end, over the limit.
  const auto report = container_report(kGiB, 950 * kMiB, 0);
  const auto findings = diagnose_groups(loader(150), report.memory);
  ASSERT_EQ(findings.size(), 1u);
  const auto& f = findings[0];
  EXPECT_EQ(f.id, "workers_copy");
  EXPECT_EQ(f.severity, "critical");
  EXPECT_THAT(f.title, HasSubstr("python3 (pid 42) + 4 workers"));
  EXPECT_THAT(f.evidence, HasSubstr("150 MiB"));
  EXPECT_THAT(f.evidence, HasSubstr("50% of the parent's 300 MiB"));
  EXPECT_THAT(f.evidence, HasSubstr("1.51 GiB against a limit of 1.00 GiB"));
  // (921.6 - 350) / 300 = 1.
  EXPECT_THAT(f.fix, HasSubstr("num_workers=1 fits"));
  EXPECT_THAT(f.fix, HasSubstr("serialize_data"));
  EXPECT_THAT(f.fix, HasSubstr("persistent_workers=True"));
}

TEST(DiagnoseGroups, ACopyThatFitsIsInfoAndWorkersThatShareAreNotAFinding) {
  // 4 GiB limit: 350 + 4 x 300 MiB fits under 90%.
  const auto roomy = container_report(4 * kGiB, 950 * kMiB, 0);
  const auto findings = diagnose_groups(loader(150), roomy.memory);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].severity, "info");
  EXPECT_THAT(findings[0].fix, HasSubstr("num_workers=11 fits"));  // (3686.4 - 350) / 300
  // Workers that still share the parent's pages (20 MiB private each): nothing to say.
  EXPECT_TRUE(diagnose_groups(loader(20), roomy.memory).empty());
  // No parent's anonymous size (smaps_rollup unreadable): no made-up ratio.
  std::vector<model::ProcessNode> nodes{group_node(42, 1, "python3", 330, 360)};
  nodes.push_back(group_node(43, 42, "pt_data_worker", 150, 400));
  EXPECT_TRUE(diagnose_groups(group_processes(nodes), roomy.memory).empty());
}

}  // namespace
}  // namespace memopt::analysis
