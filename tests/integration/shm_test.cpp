// The /dev/shm ledger and orphan sweep in a private mount namespace with its own 64 MiB tmpfs
// on /dev/shm (`unshare -m`): memopt inside sees that tmpfs; `cleanup --dry-run` lists exactly
// the dead owner's unheld files and `cleanup` removes exactly those; a file held open by a live
// process, a live pid's file, a planted symlink and a file of another file system stay. A
// sidecar (memopt in the test's own mount namespace, `--pid`) sees the model's /dev/shm, not its
// own.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt::testing {
namespace {

const std::string kNoNvml = "MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::set<std::string> lines(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line != "." && line != "..") out.insert(line);
  return out;
}

class ShmNamespace : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (unshare -m, mount)";
    const auto probe = run_command({"unshare", "-m", "true"});
    if (probe.exit_code != 0) GTEST_SKIP() << "unshare -m fails here: " << probe.err;
  }
  TempTree out_;
};

TEST_F(ShmNamespace, CleanupRemovesExactlyTheDeadOwnersUnheldFiles) {
  const std::string out = out_.path("");
  const std::string script = R"(
set -e
M=")" + std::string(MEMOPT_BINARY) +
                             R"("
O=")" + out + R"("
OUTER=)" + std::to_string(::getpid()) +
                             R"(
mount -t tmpfs -o size=64m memopt-shm-test /dev/shm
sh -c 'exit 0' & dead=$!; wait $dead
live=$$
echo $dead > $O/dead
head -c 2097152 /dev/zero > /dev/shm/torch_${dead}_1_0
head -c 1048576 /dev/zero > /dev/shm/pym-${dead}-abc
head -c 1048576 /dev/zero > /dev/shm/torch_${live}_1_2
head -c 1048576 /dev/zero > /dev/shm/torch_${dead}_1_3
head -c 1048576 /dev/zero > /dev/shm/psm_nopid
sleep 60 3</dev/shm/torch_${dead}_1_3 & holder=$!
echo precious > $O/precious
ln -s $O/precious /dev/shm/torch_${dead}_1_4
echo other > $O/other
touch /dev/shm/torch_${dead}_1_5
mount --bind $O/other /dev/shm/torch_${dead}_1_5
"$M" cleanup --dry-run --json > $O/dry.json || true
ls -a /dev/shm > $O/after_dry
nsenter --mount=/proc/$OUTER/ns/mnt "$M" report --pid $$ --json > $O/sidecar.json || true
"$M" cleanup --json > $O/done.json || true
ls -a /dev/shm > $O/after
"$M" report --json > $O/report.json || true
cat /dev/shm/torch_${dead}_1_5 > $O/other_after
kill $holder
)";
  const auto result =
      run_command({"unshare", "-m", "--propagation", "private", "bash", "-c", script}, {kNoNvml});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  const std::string dead = lines(read_file(out + "/dead")).begin()->c_str();
  const std::set<std::string> orphans = {"torch_" + dead + "_1_0", "pym-" + dead + "-abc"};

  const auto dry = nlohmann::json::parse(read_file(out + "/dry.json"));
  EXPECT_EQ(dry["dev_shm"], "/proc/self/root/dev/shm");
  std::set<std::string> planned;
  for (const auto& r : dry["shm_removals"]) {
    EXPECT_EQ(r["status"], "planned") << r;
    planned.insert(r["name"].get<std::string>());
  }
  EXPECT_EQ(planned, orphans);
  EXPECT_EQ(lines(read_file(out + "/after_dry")).size(), 7u);  // nothing removed

  const auto done = nlohmann::json::parse(read_file(out + "/done.json"));
  std::set<std::string> removed;
  for (const auto& r : done["shm_removals"]) {
    EXPECT_EQ(r["status"], "removed") << r;
    EXPECT_GE(r["bytes"].get<std::uint64_t>(), 1u << 20) << r;
    removed.insert(r["name"].get<std::string>());
  }
  EXPECT_EQ(removed, orphans);
  const auto after = lines(read_file(out + "/after"));
  for (const auto& name : orphans) EXPECT_EQ(after.count(name), 0u) << name;
  for (const auto& kept : {"torch_" + dead + "_1_3", "torch_" + dead + "_1_4",
                           "torch_" + dead + "_1_5", std::string("psm_nopid")}) {
    EXPECT_EQ(after.count(kept), 1u) << kept;
  }
  EXPECT_EQ(after.size(), 5u);  // the live pid's file too
  EXPECT_EQ(read_file(out + "/precious"), "precious\n");
  EXPECT_EQ(read_file(out + "/other_after"), "other\n");

  // The report inside sees its own 64 MiB tmpfs, with nothing orphaned any more.
  const auto report = nlohmann::json::parse(read_file(out + "/report.json"));
  EXPECT_EQ(report["dev_shm"]["size_bytes"], 64u << 20);
  EXPECT_EQ(report["dev_shm"]["orphan_files"], 0);
  EXPECT_EQ(report["dev_shm"]["file_count"], 5);

  // The sidecar, in the host's mount namespace, saw the model's /dev/shm through its pid.
  const auto sidecar = nlohmann::json::parse(read_file(out + "/sidecar.json"));
  const auto& shm = sidecar["dev_shm"];
  EXPECT_EQ(shm["size_bytes"], 64u << 20);
  EXPECT_EQ(shm["file_count"], 7);
  EXPECT_EQ(shm["orphan_files"], 2);
  std::set<std::string> seen;
  for (const auto& f : shm["files"]) seen.insert(f["name"].get<std::string>());
  EXPECT_EQ(seen.count("torch_" + dead + "_1_0"), 1u);
  for (const auto& f : shm["files"]) {
    if (f["name"] == "torch_" + dead + "_1_3") {
      EXPECT_FALSE(f["holders"].empty()) << f;
    }
    if (f["name"] == "torch_" + dead + "_1_5") {
      EXPECT_TRUE(f["other_filesystem"]) << f;
    }
  }
}

// A writer filling a 64 MiB /dev/shm with 8 MiB files (a DataLoader's batches): the monitor,
// sampling every second, raises shm_filling while there is still room.
TEST_F(ShmNamespace, MonitorRaisesShmFillingBeforeItIsFull) {
  const std::string out = out_.path("");
  const std::string script = R"(
set -e
M=")" + std::string(MEMOPT_BINARY) +
                             R"("
O=")" + out + R"("
mount -t tmpfs -o size=64m memopt-shm-test /dev/shm
"$M" monitor 1 --json --duration 9 > $O/monitor.jsonl &
mon=$!
sleep 1.5
for i in 1 2 3 4 5 6; do head -c 8388608 /dev/zero > /dev/shm/torch_$$_1_$i; sleep 0.8; done
wait $mon || true
)";
  const auto result =
      run_command({"unshare", "-m", "--propagation", "private", "bash", "-c", script}, {kNoNvml});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  const auto text = read_file(out + "/monitor.jsonl");
  nlohmann::json event;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const auto doc = nlohmann::json::parse(line, nullptr, false);
    if (doc.is_object() && doc.value("event", "") == "shm_filling") {
      event = doc;
      break;
    }
  }
  ASSERT_FALSE(event.is_null()) << text;
  EXPECT_EQ(event["shm_size_bytes"], 64u << 20);
  EXPECT_LT(event["shm_used_bytes"].get<std::uint64_t>(), 64u << 20);
  EXPECT_GT(event["shm_bytes_per_second"].get<double>(), 0.0);
  EXPECT_NE(event["message"].get<std::string>().find("--shm-size"), std::string::npos);
}

}  // namespace
}  // namespace memopt::testing
