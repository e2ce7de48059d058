// The cleanup socket against neighbours on the same machine. Each test runs as root in a
// private mount namespace (`unshare --mount`, fresh tmpfs on /tmp and /run, drop_caches and
// compact_memory bound to a scratch file so no test touches the host's caches), with hostile
// servers run as a second uid (`setpriv --reuid=65534`) where the attack needs one. They skip,
// saying why, where this is not possible (not root, no unshare, no mount).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>

#include "support/run.hpp"
#include "test_paths.hpp"

namespace memopt {
namespace {

using ::testing::HasSubstr;

const std::string kFake = std::string(MEMOPT_HOSTILE_DIR) + "/fake_cleanup_server.py";

struct Outcome {
  bool skipped = false;
  std::string why;
  int memopt_exit = -1;
  std::string memopt_out;
  std::string memopt_err;
  double seconds = 0;  // how long memopt ran (reported, never asserted)
};

// Runs `script` (sh) in a private mount namespace after the prelude; the script ends by
// running memopt through `measure ARGS...`.
Outcome in_namespace(const std::string& script) {
  if (::geteuid() != 0) return {true, "needs root (unshare --mount, setpriv)"};
  const std::string prelude = R"sh(
set -u
mount --make-rprivate / 2>/dev/null
# The fake server and memopt may live under /tmp (a CI clone), which the tmpfs below hides:
# copy them to a private tmpfs first.
mount -t tmpfs -o mode=0755 memopt-hostile-stage /mnt || exit 77
cp )sh" + kFake + R"sh( /mnt/fake_cleanup_server.py || exit 77
cp )sh" + MEMOPT_BINARY + R"sh( /mnt/memopt || exit 77
mount -t tmpfs -o mode=1777 memopt-hostile /tmp || exit 77
mount -t tmpfs -o mode=0755 memopt-hostile /run || exit 77
: > /tmp/vm
mount --bind /tmp/vm /proc/sys/vm/drop_caches || exit 77
mount --bind /tmp/vm /proc/sys/vm/compact_memory || exit 77
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"
PY=/usr/bin/python3
FAKE=/mnt/fake_cleanup_server.py
MEMOPT=/mnt/memopt
FAKES=""
N=0
start() {  # start a fake server in the background and wait for its "ready"
  N=$((N + 1))
  out=/tmp/fake.$N
  "$@" > "$out" &
  FAKES="$FAKES $!"
  for i in $(seq 400); do grep -q ready "$out" 2>/dev/null && return 0; sleep 0.05; done
  echo "fake server did not start: $*" >&2; exit 78
}
measure() {
  t0=$(date +%s.%N)
  timeout 60 "$@" > /tmp/memopt.out 2> /tmp/memopt.err
  rc=$?
  t1=$(date +%s.%N)
  for p in $FAKES; do kill $p 2>/dev/null; done
  cat /tmp/memopt.out; echo "@@err"; cat /tmp/memopt.err
  echo "@@rc=$rc"; echo "@@seconds=$(echo "$t1 - $t0" | bc)"
}
)sh";
  const auto r = testing::run_command({"unshare", "--mount", "sh", "-c", prelude + script});
  if (r.exit_code == 77) return {true, "cannot make a private mount namespace here: " + r.err};
  Outcome o;
  const auto err_at = r.out.find("@@err\n");
  const auto rc_at = r.out.find("@@rc=");
  const auto sec_at = r.out.find("@@seconds=");
  if (err_at == std::string::npos || rc_at == std::string::npos) {
    ADD_FAILURE() << "script failed (" << r.exit_code << "): " << r.out << r.err;
    return o;
  }
  o.memopt_out = r.out.substr(0, err_at);
  o.memopt_err = r.out.substr(err_at + 6, rc_at - err_at - 6);
  o.memopt_exit = std::stoi(r.out.substr(rc_at + 5));
  if (sec_at != std::string::npos) o.seconds = std::stod("0" + r.out.substr(sec_at + 10));
  ::testing::Test::RecordProperty("memopt_seconds", std::to_string(o.seconds));
  return o;
}

#define SKIP_UNLESS_RAN(o) \
  if ((o).skipped) GTEST_SKIP() << (o).why

nlohmann::json parse(const Outcome& o) {
  auto doc = nlohmann::json::parse(o.memopt_out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << o.memopt_out << o.memopt_err;
  return doc;
}

// uid nobody makes /tmp/memopt-0 before root ever runs and puts in 1.sock, a server that never
// accepts. Root's cleanup used to block in connect() forever (and print what a fake answered).
TEST(HostileCleanupSocket, RootNeverScansAnotherUsersTmpDirectory) {
  const auto o = in_namespace(R"sh(
$NOBODY mkdir -m 0755 /tmp/memopt-0
start $NOBODY $PY $FAKE never-accept /tmp/memopt-0 1 1
measure $MEMOPT cleanup --json --timeout 2
)sh");
  SKIP_UNLESS_RAN(o);
  ASSERT_NE(o.memopt_exit, 124) << "root's cleanup hung on nobody's socket";
  const auto doc = parse(o);
  EXPECT_TRUE(doc["processes"].empty()) << doc.dump();
}

// A fake 1.sock in root's own directory, served by some other process: SO_PEERCRED says the
// server is not pid 1, so its answer (909 TiB released) is refused.
TEST(HostileCleanupSocket, ServerWhosePidIsNotTheSocketsNameIsRefused) {
  const auto o = in_namespace(R"sh(
mkdir -m 0755 /run/memopt
start $PY $FAKE forge /run/memopt 1 1
measure $MEMOPT cleanup --json --timeout 2
)sh");
  SKIP_UNLESS_RAN(o);
  const auto doc = parse(o);
  ASSERT_EQ(doc["processes"].size(), 1u) << doc.dump();
  const auto& p = doc["processes"][0];
  EXPECT_EQ(p["pid"], 1);
  EXPECT_EQ(p["status"], "failed");
  EXPECT_THAT(p["reason"].get<std::string>(), HasSubstr("refused"));
  EXPECT_TRUE(p["released_bytes"].is_null());
  EXPECT_TRUE(p["gpu_released_bytes"].is_null());
}

// The server is the pid its socket names, but runs as another uid than the directory's owner.
TEST(HostileCleanupSocket, ServerOfAnotherUidIsRefused) {
  const auto o = in_namespace(R"sh(
mkdir -m 0755 /run/memopt
start env FAKE_UID=65534 $PY $FAKE forge /run/memopt 1
measure $MEMOPT cleanup --json --timeout 2
)sh");
  SKIP_UNLESS_RAN(o);
  const auto doc = parse(o);
  ASSERT_EQ(doc["processes"].size(), 1u) << doc.dump();
  EXPECT_EQ(doc["processes"][0]["status"], "failed");
  EXPECT_THAT(doc["processes"][0]["reason"].get<std::string>(), HasSubstr("uid 65534"));
}

// The right pid and uid, but an answer no process could give: more released than it held.
TEST(HostileCleanupSocket, ImplausibleAnswersAreRefused) {
  const auto o = in_namespace(R"sh(
mkdir -m 0755 /run/memopt
start $PY $FAKE forge /run/memopt 1
measure $MEMOPT cleanup --json --timeout 2
)sh");
  SKIP_UNLESS_RAN(o);
  const auto doc = parse(o);
  ASSERT_EQ(doc["processes"].size(), 1u) << doc.dump();
  EXPECT_EQ(doc["processes"][0]["status"], "failed");
  EXPECT_THAT(doc["processes"][0]["reason"].get<std::string>(), HasSubstr("implausible"));
  EXPECT_TRUE(doc["processes"][0]["released_bytes"].is_null());
}

// 50 servers that accept and never answer: asked in parallel under one deadline, so the whole
// cleanup costs the timeout once (it cost 50 timeouts, one after another).
TEST(HostileCleanupSocket, FiftySilentServersCostOneTimeout) {
  const auto o = in_namespace(R"sh(
mkdir -m 0755 /run/memopt
start $PY $FAKE silent /run/memopt 50
measure $MEMOPT cleanup --json --timeout 2
)sh");
  SKIP_UNLESS_RAN(o);
  ASSERT_NE(o.memopt_exit, 124) << "50 x 2 s one after another runs past 60 s";
  const auto doc = parse(o);
  ASSERT_EQ(doc["processes"].size(), 50u);
  for (const auto& p : doc["processes"]) {
    EXPECT_EQ(p["status"], "failed");
    EXPECT_THAT(p["reason"].get<std::string>(), HasSubstr("no answer within 2000 ms"));
  }
  std::cout << "cleanup with 50 silent servers took " << o.seconds << " s\n";
}

// Sockets of processes that exited are skipped and counted apart from those asked.
TEST(HostileCleanupSocket, DeadPidsAreCountedApart) {
  const auto o = in_namespace(R"sh(
mkdir -m 0755 /run/memopt
for pid in 3999997 3999998; do
  [ -e /proc/$pid ] && exit 79
  $PY -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" /run/memopt/$pid.sock
done
measure $MEMOPT cleanup --json --timeout 2
)sh");
  SKIP_UNLESS_RAN(o);
  const auto doc = parse(o);
  EXPECT_TRUE(doc["processes"].empty()) << doc.dump();
  EXPECT_EQ(doc["stale_sockets"], 2);
  EXPECT_THAT(doc["steps"][0]["reason"].get<std::string>(), HasSubstr("2 stale socket(s)"));
}

// A non-root cleanup does not ask (or fail on) other users' processes.
TEST(HostileCleanupSocket, NonRootSkipsOtherUsersProcesses) {
  const auto o = in_namespace(R"sh(
$NOBODY mkdir -m 0700 /tmp/nobody-rt
start $NOBODY $PY $FAKE forge /tmp/nobody-rt 1 1
measure $NOBODY env MEMOPT_RUNTIME_DIR=/tmp/nobody-rt $MEMOPT cleanup --json --timeout 2
)sh");
  SKIP_UNLESS_RAN(o);
  EXPECT_EQ(o.memopt_exit, 0) << o.memopt_err;
  const auto doc = parse(o);
  ASSERT_EQ(doc["processes"].size(), 1u) << doc.dump();
  EXPECT_EQ(doc["processes"][0]["status"], "skipped");
  EXPECT_THAT(doc["processes"][0]["reason"].get<std::string>(),
              HasSubstr("another user's process"));
}

// MEMOPT_RUNTIME_DIR is held to the same rule as the default directories.
TEST(HostileCleanupSocket, RuntimeDirWritableByOthersIsRefused) {
  const auto o = in_namespace(R"sh(
mkdir -m 1777 /tmp/open
measure env MEMOPT_RUNTIME_DIR=/tmp/open $MEMOPT cleanup --json --timeout 2
)sh");
  SKIP_UNLESS_RAN(o);
  EXPECT_EQ(o.memopt_exit, 1);
  EXPECT_THAT(o.memopt_err, HasSubstr("MEMOPT_RUNTIME_DIR /tmp/open is not used"));
  EXPECT_THAT(o.memopt_err, HasSubstr("others may write to it"));
}

}  // namespace
}  // namespace memopt
