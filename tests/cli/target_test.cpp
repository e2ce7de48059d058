// The target of every command (--cgroup, --pid, --cgroup /, --containers) on captured trees:
// the sidecar layout of tests/fixtures/v2-sidecar-pod, where memopt runs in its own 64 MiB
// container beside the model's 488 MiB one in the same pod (1 GiB).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "memopt/units.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"

namespace memopt::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using Json = nlohmann::json;

const std::string kNoNvml = "MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1";

testing::RunResult memopt_in(const std::string& root, std::vector<std::string> args) {
  std::vector<std::string> all{"--procfs", root + "/proc", "--sysfs", root + "/sys"};
  all.insert(all.end(), args.begin(), args.end());
  return testing::run_memopt(all, {kNoNvml});
}

testing::RunResult sidecar(std::vector<std::string> args) {
  return memopt_in(testing::fixture("v2-sidecar-pod"), std::move(args));
}

std::vector<int> pids_of(const Json& doc) {
  std::vector<int> pids;
  for (const auto& p : doc["processes"]) pids.push_back(p["pid"].get<int>());
  return pids;
}

// The model's container: 372 MiB working set of 488 MiB (76.2%), its two processes only.
void expect_model_container(const Json& doc) {
  EXPECT_EQ(doc["memory"]["scope"], "container");
  EXPECT_EQ(doc["memory"]["limit_bytes"].get<std::uint64_t>(), 488 * kMiB);
  EXPECT_EQ(doc["memory"]["used_bytes"].get<std::uint64_t>(), 372 * kMiB);
  EXPECT_EQ(doc["status"]["level"], "acceptable");
  EXPECT_EQ(doc["cgroup"]["path"], "/kubepods/pod1/ctr");
  EXPECT_EQ(doc["processes_scope"], "cgroup");
  EXPECT_THAT(pids_of(doc), UnorderedElementsAre(1, 7));
}

TEST(Target, CgroupPathAsProcWritesIt) {
  const auto result = sidecar({"report", "--json", "--cgroup", "/kubepods/pod1/ctr"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto doc = Json::parse(result.out);
  expect_model_container(doc);
  EXPECT_EQ(doc["target"]["kind"], "cgroup");
  EXPECT_EQ(doc["target"]["cgroup"], "/kubepods/pod1/ctr");
}

TEST(Target, CgroupDirectoryUnderTheMount) {
  const std::string root = testing::fixture("v2-sidecar-pod");
  const auto result =
      sidecar({"report", "--json", "--cgroup", root + "/sys/fs/cgroup/kubepods/pod1/ctr/"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  expect_model_container(Json::parse(result.out));
}

TEST(Target, PidNamesItsCgroup) {
  const auto result = sidecar({"report", "--json", "--pid", "7"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto doc = Json::parse(result.out);
  expect_model_container(doc);
  EXPECT_EQ(doc["target"]["kind"], "pid");
  EXPECT_EQ(doc["target"]["pid"], 7);
}

TEST(Target, DefaultIsMemoptsOwnContainerAndItsProcesses) {
  const auto result = sidecar({"report", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto doc = Json::parse(result.out);
  EXPECT_EQ(doc["target"]["kind"], "self");
  EXPECT_EQ(doc["cgroup"]["path"], "/kubepods/pod1/memopt");
  EXPECT_EQ(doc["memory"]["limit_bytes"].get<std::uint64_t>(), 64 * kMiB);
  EXPECT_EQ(pids_of(doc), std::vector<int>{30});
}

TEST(Target, HostListsEveryProcessLabelledHostWide) {
  const auto result = sidecar({"report", "--json", "--cgroup", "/"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto doc = Json::parse(result.out);
  EXPECT_EQ(doc["target"]["kind"], "host");
  EXPECT_EQ(doc["memory"]["scope"], "host");
  EXPECT_TRUE(doc["cgroup"].is_null());
  EXPECT_EQ(doc["processes_scope"], "host");
  EXPECT_THAT(pids_of(doc), UnorderedElementsAre(1, 7, 30));
  const auto text = sidecar({"report", "--cgroup", "/"});
  EXPECT_THAT(text.out, HasSubstr("(host-wide)"));
}

TEST(Target, ContainersListsEachLimitedLeafFullestFirst) {
  const auto result = sidecar({"report", "--json", "--cgroup", "/", "--containers"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto doc = Json::parse(result.out);
  ASSERT_EQ(doc["containers"].size(), 2u);
  EXPECT_EQ(doc["containers"][0]["cgroup"], "/kubepods/pod1/ctr");
  EXPECT_EQ(doc["containers"][0]["level"], "acceptable");
  EXPECT_EQ(doc["containers"][0]["limit_bytes"].get<std::uint64_t>(), 488 * kMiB);
  EXPECT_EQ(doc["containers"][1]["cgroup"], "/kubepods/pod1/memopt");
  EXPECT_EQ(doc["containers"][1]["level"], "normal");

  const auto metrics =
      sidecar({"report", "--format", "prometheus", "--cgroup", "/", "--containers"});
  ASSERT_EQ(metrics.exit_code, 0) << metrics.err;
  EXPECT_THAT(metrics.out,
              HasSubstr("memopt_container_status_level{cgroup=\"/kubepods/pod1/ctr\",name=\"ctr\"} "
                        "1\n"));
  EXPECT_THAT(metrics.out, HasSubstr("memopt_container_memory_limit_bytes{cgroup=\"/kubepods/"
                                     "pod1/memopt\",name=\"memopt\"} 67108864\n"));
}

// Issue 25, item 5: a node holds containers of several runtimes; `--containers` names each as
// `docker stats` and `kubectl top` users know it, from the cgroup path alone. The sidecar
// fixture's model container is copied under the paths Docker (systemd driver), Kubernetes with
// containerd (systemd driver) and with CRI-O (cgroupfs driver) write.
TEST(Target, ContainersAreNamedByRuntimeContainerIdPodAndQosClass) {
  testing::TempTree tree;
  tree.copy_fixture("v2-sidecar-pod");
  const std::string id(64, 'a');
  const std::string other(64, 'b');
  const std::string third = "0123456789abcdef" + std::string(48, 'c');
  const std::string uid = "48b54914-fb86-4e62-ae9e-a4b97f5242ee";
  std::string systemd_uid = uid;
  std::replace(systemd_uid.begin(), systemd_uid.end(), '-', '_');
  const std::string model = tree.path("sys/fs/cgroup/kubepods/pod1/ctr");
  for (const std::string& path : {"system.slice/docker-" + id + ".scope",
                                  "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                                      systemd_uid + ".slice/cri-containerd-" + other + ".scope",
                                  "kubepods/besteffort/pod" + uid + "/crio-" + third}) {
    std::filesystem::create_directories(tree.path("sys/fs/cgroup/" + path));
    std::filesystem::copy(model, tree.path("sys/fs/cgroup/" + path),
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::overwrite_existing);
  }
  const auto json = memopt_in(tree.root(), {"report", "--json", "--cgroup", "/", "--containers"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto doc = Json::parse(json.out);
  std::map<std::string, Json> by_runtime;
  for (const auto& c : doc["containers"]) {
    by_runtime[c["runtime"].is_null() ? "" : c["runtime"].get<std::string>()] = c;
  }
  EXPECT_EQ(by_runtime["docker"]["container_id"], id);
  EXPECT_EQ(by_runtime["docker"]["name"], "docker aaaaaaaaaaaa");
  EXPECT_TRUE(by_runtime["docker"]["pod_uid"].is_null());
  EXPECT_EQ(by_runtime["containerd"]["pod_uid"], uid);
  EXPECT_EQ(by_runtime["containerd"]["qos_class"], "burstable");
  EXPECT_EQ(by_runtime["containerd"]["name"], "pod 48b54914/bbbbbbbbbbbb");
  EXPECT_EQ(by_runtime["cri-o"]["qos_class"], "besteffort");
  EXPECT_EQ(by_runtime["cri-o"]["container_id"], third);
  for (const auto& c : doc["containers"]) {  // the fixture's own names say nothing more
    if (c["cgroup"] != "/kubepods/pod1/ctr") continue;
    EXPECT_EQ(c["name"], "ctr");
    EXPECT_TRUE(c["runtime"].is_null());
    EXPECT_TRUE(c["container_id"].is_null());
  }

  const auto text = memopt_in(tree.root(), {"report", "--cgroup", "/", "--containers"});
  EXPECT_THAT(text.out, HasSubstr("pod 48b54914/bbbbbbbbbbbb"));
  const auto metrics =
      memopt_in(tree.root(), {"report", "--format", "prometheus", "--cgroup", "/", "--containers"});
  EXPECT_THAT(
      metrics.out,
      HasSubstr(",name=\"pod 48b54914/bbbbbbbbbbbb\",runtime=\"containerd\",container_id=\"" +
                other + "\",pod_uid=\"" + uid + "\",qos_class=\"burstable\"} "));
  EXPECT_THAT(metrics.out, HasSubstr("name=\"docker aaaaaaaaaaaa\",runtime=\"docker\","
                                     "container_id=\"" +
                                     id + "\"} "));
}

TEST(Target, HostPressureNeverUnderTheContainersNames) {
  const auto result = sidecar({"report", "--format", "prometheus", "--cgroup", "/"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("memopt_host_pressure_some_avg10_ratio "));
  EXPECT_THAT(result.out, ::testing::Not(HasSubstr("memopt_pressure_some_avg10_ratio ")));
  const auto json = Json::parse(sidecar({"report", "--json", "--cgroup", "/"}).out);
  EXPECT_TRUE(json["host"]["pressure"].is_object());
}

TEST(Target, UnknownCgroupIsUnknownNeverTheHost) {
  const auto result = sidecar({"report", "--json", "--cgroup", "/kubepods/pod1/typo"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("not found"));
  const auto doc = Json::parse(result.out);
  EXPECT_EQ(doc["status"]["level"], "unknown");
  EXPECT_TRUE(doc["memory"].is_null());
  EXPECT_THAT(doc["target"]["unreadable"].get<std::string>(), HasSubstr("typo"));
  EXPECT_TRUE(doc["processes"].empty());

  const auto check = sidecar({"report", "--check", "--pid", "999"});
  EXPECT_EQ(check.exit_code, 3);
  EXPECT_THAT(check.out, HasSubstr("MEMOPT UNKNOWN"));
  EXPECT_THAT(check.out, HasSubstr("no process 999"));

  const auto metrics = sidecar({"report", "--format", "prometheus", "--pid", "999"});
  EXPECT_THAT(metrics.out, HasSubstr("memopt_up 0\n"));
  EXPECT_THAT(metrics.out, ::testing::Not(HasSubstr("memopt_status_level")));
  EXPECT_THAT(metrics.out, ::testing::Not(HasSubstr("memopt_memory_used_bytes")));
}

// The case: inside a limited container, a --sysfs that is not there must not turn the
// report green with the host's figures.
TEST(Target, UnreadableSysfsIsUnknownForTheCheck) {
  const std::string root = testing::fixture("v1-limited");
  const auto result = testing::run_memopt(
      {"--procfs", root + "/proc", "--sysfs", "/nonexistent", "report", "--check"}, {kNoNvml});
  EXPECT_EQ(result.exit_code, 3) << result.out;
  EXPECT_THAT(result.out, HasSubstr("MEMOPT UNKNOWN"));
  EXPECT_THAT(result.out, HasSubstr("no memory hierarchy is mounted"));
}

TEST(Target, ConflictingOrBadTargetsAreUsageErrors) {
  EXPECT_EQ(sidecar({"report", "--cgroup", "/a", "--pid", "1"}).exit_code, 2);
  EXPECT_EQ(sidecar({"report", "--pid", "0"}).exit_code, 2);
  EXPECT_EQ(sidecar({"report", "--cgroup", "relative/path"}).exit_code, 2);
}

TEST(Target, DiagnoseReadsTheTargetsEnvironmentNotItsOwn) {
  testing::TempTree tree;
  tree.copy_fixture("v2-sidecar-pod");
  tree.write("proc/1/environ", std::string("HOME=/root\0MALLOC_ARENA_MAX=2\0", 30));
  tree.write("proc/7/environ", std::string("HOME=/root\0", 11));
  const auto result =
      memopt_in(tree.root(), {"diagnose", "--json", "--cgroup", "/kubepods/pod1/ctr"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("in the environment of python3 (pid 1)"));
  EXPECT_THAT(result.out, ::testing::Not(HasSubstr("memopt (pid 30)")));
}

// The seed's PYTHONUNBUFFERED / PYTHONDONTWRITEBYTECODE, checked in the target's own Python
// process (found by its comm or by the interpreter in its maps), never in memopt's.
TEST(Target, DiagnoseChecksPythonSettingsInTheTargetsPythonProcess) {
  const auto finding_ids = [](const Json& doc) {
    std::vector<std::string> ids;
    for (const auto& f : doc["findings"]) ids.push_back(f["id"].get<std::string>());
    return ids;
  };
  const auto evidence_of = [](const Json& doc, const std::string& id) {
    for (const auto& f : doc["findings"]) {
      if (f["id"] == id) return f["evidence"].get<std::string>();
    }
    return std::string();
  };
  const std::vector<std::string> args = {"diagnose", "--json", "--cgroup", "/kubepods/pod1/ctr"};
  testing::TempTree tree;
  tree.copy_fixture("v2-sidecar-pod");
  tree.write("proc/1/environ", std::string("HOME=/root\0PYTHONUNBUFFERED=1\0", 31));
  auto result = memopt_in(tree.root(), args);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto doc = Json::parse(result.out);
  EXPECT_EQ(doc["environment"]["PYTHONUNBUFFERED"], "1");
  EXPECT_TRUE(doc["environment"]["PYTHONDONTWRITEBYTECODE"].is_null());
  EXPECT_EQ(doc["environment"]["read_from"]["pid"], 1);
  EXPECT_EQ(doc["environment"]["runs_python"], true);
  EXPECT_THAT(finding_ids(doc), ::testing::Contains("python_dont_write_bytecode"));
  EXPECT_THAT(finding_ids(doc), ::testing::Not(::testing::Contains("python_unbuffered")));
  EXPECT_THAT(evidence_of(doc, "python_dont_write_bytecode"),
              HasSubstr("in the environment of python3 (pid 1)"));

  // A console script (its comm is not "python..."): the interpreter in its maps says Python.
  tree.write("proc/1/comm", "uvicorn\n");
  tree.write("proc/1/environ", std::string("HOME=/root\0PYTHONUNBUFFERED=\0", 30));
  tree.write("proc/1/maps",
             "7f0000000000-7f0000100000 r-xp 00000000 08:01 1234   "
             "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0\n");
  result = memopt_in(tree.root(), args);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  doc = Json::parse(result.out);
  // Empty is unset for Python.
  EXPECT_THAT(finding_ids(doc), ::testing::Contains("python_unbuffered"));
  EXPECT_THAT(evidence_of(doc, "python_unbuffered"), HasSubstr("uvicorn (pid 1)"));

  // Not Python: nothing to say about Python's settings.
  tree.write("proc/1/maps", "7f0000000000-7f0000100000 r-xp 00000000 08:01 1234   /usr/bin/node\n");
  result = memopt_in(tree.root(), args);
  doc = Json::parse(result.out);
  EXPECT_EQ(doc["environment"]["runs_python"], false);
  EXPECT_THAT(finding_ids(doc), ::testing::Not(::testing::Contains("python_unbuffered")));
  EXPECT_THAT(finding_ids(doc), ::testing::Not(::testing::Contains("python_dont_write_bytecode")));

  // No environment readable: a note, no finding.
  tree.remove("proc/1/environ");
  tree.write("proc/1/comm", "python3\n");
  result = memopt_in(tree.root(), args);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  doc = Json::parse(result.out);
  EXPECT_THAT(result.out, HasSubstr("environ could be read"));
  EXPECT_TRUE(doc["environment"]["read_from"].is_null());
  EXPECT_THAT(finding_ids(doc), ::testing::Not(::testing::Contains("python_unbuffered")));
}

}  // namespace
}  // namespace memopt::cli

namespace memopt::cli {
namespace {

// cgroup v2 with a private cgroup namespace (Kubernetes' default): the model's process reads
// "0::/../ctr" from the sidecar. With the host's tree mounted at --sysfs, memopt finds the
// cgroup whose cgroup.procs lists the pid.
TEST(Target, PidOutsideTheCgroupNamespaceIsFoundByItsProcsFile) {
  testing::TempTree tree;
  tree.copy_fixture("v2-sidecar-pod");
  tree.write("proc/self/cgroup", "0::/\n");
  tree.write("proc/7/cgroup", "0::/../ctr\n");
  tree.write("sys/fs/cgroup/kubepods/pod1/ctr/cgroup.procs", "1\n7\n");
  const auto result = memopt_in(tree.root(), {"report", "--json", "--pid", "7"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto doc = Json::parse(result.out);
  EXPECT_EQ(doc["cgroup"]["path"], "/kubepods/pod1/ctr");
  EXPECT_EQ(doc["memory"]["limit_bytes"].get<std::uint64_t>(), 488 * kMiB);

  tree.write("sys/fs/cgroup/kubepods/pod1/ctr/cgroup.procs", "1\n");  // nowhere to be found
  const auto lost = memopt_in(tree.root(), {"report", "--check", "--pid", "7"});
  EXPECT_EQ(lost.exit_code, 3);
  EXPECT_THAT(lost.out, HasSubstr("outside memopt's cgroup namespace"));
}

}  // namespace
}  // namespace memopt::cli
