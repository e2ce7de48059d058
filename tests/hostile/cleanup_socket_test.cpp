// The cleanup socket against neighbours on the same machine. Each test runs as root in a
// private mount namespace (`unshare --mount`, fresh tmpfs on /tmp and /run, drop_caches and
// compact_memory bound to a scratch file so no test touches the host's caches), with hostile
// servers run as a second uid (`setpriv --reuid=65534`) where the attack needs one. They skip,
// saying why, where this is not possible (not root, no unshare, no mount).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <iostream>
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
  double seconds = 0;     // how long memopt ran (reported; asserted only as a hang detector)
  long peak_rss_kb = -1;  // memopt's peak RSS (/usr/bin/time %M); -1 when unmeasured
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
  if [ -x /usr/bin/time ]; then
    timeout 60 /usr/bin/time -q -f %M -o /tmp/memopt.rss "$@" > /tmp/memopt.out 2> /tmp/memopt.err
  else
    timeout 60 "$@" > /tmp/memopt.out 2> /tmp/memopt.err
  fi
  rc=$?
  t1=$(date +%s.%N)
  for p in $FAKES; do kill $p 2>/dev/null; done
  cat /tmp/memopt.out; echo "@@err"; cat /tmp/memopt.err
  echo "@@rc=$rc"; echo "@@seconds=$(echo "$t1 - $t0" | bc)"
  echo "@@rss_kb=$(tail -n 1 /tmp/memopt.rss 2>/dev/null)"
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
  if (const auto rss_at = r.out.find("@@rss_kb="); rss_at != std::string::npos) {
    const auto digits = r.out.substr(rss_at + 9);
    if (!digits.empty() && std::isdigit(static_cast<unsigned char>(digits[0])))
      o.peak_rss_kb = std::stol(digits);
  }
  ::testing::Test::RecordProperty("memopt_seconds", std::to_string(o.seconds));
  ::testing::Test::RecordProperty("memopt_peak_rss_kb", std::to_string(o.peak_rss_kb));
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

// How far past its budget memopt may run before a test calls it hung. The budgets are met
// within ~0.1 s (the figures are printed); this only catches a hang or a scan that goes on
// for many seconds, never a slow machine.
constexpr double kHangSlackSeconds = 5;
// memopt's peak RSS against hostile answers: a memory bound, asserted. Under ASan (the suite's
// second run) the shadow memory alone is a few hundred MiB: the bound is the plain build's.
constexpr long kMaxPeakRssKb = 32 * 1024;
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kRssMeasurable = false;
#else
constexpr bool kRssMeasurable = true;
#endif

void expect_bounded(const Outcome& o, double budget_seconds, const std::string& what) {
  std::cout << what << ": " << o.seconds << " s (budget " << budget_seconds << " s), peak RSS "
            << o.peak_rss_kb << " KiB\n";
  EXPECT_NE(o.memopt_exit, 124) << what << " hung past 60 s";
  EXPECT_LT(o.seconds, budget_seconds + kHangSlackSeconds) << what;
  if (kRssMeasurable && o.peak_rss_kb >= 0) EXPECT_LE(o.peak_rss_kb, kMaxPeakRssKb) << what;
}

// A server that answers "[" forever as fast as memopt reads: the deadline holds for the whole
// exchange, memory stays at the 1 MiB cap, and the answer is refused naming the socket. It took
// `report --leaks --timeout 1` 9.8 s (a 16 MiB cap scanned again from the start on each read).
TEST(HostileCleanupSocket, StreamingServerCostsTheBudgetAndNoMore) {
  const auto o = in_namespace(R"sh(
mkdir -m 0755 /run/memopt
start $PY $FAKE stream /run/memopt 1
P=$(cut -d' ' -f2 /tmp/fake.1)
measure $MEMOPT report --pid $P --leaks --timeout 1
)sh");
  SKIP_UNLESS_RAN(o);
  expect_bounded(o, 1, "report --leaks against a streaming server");
  EXPECT_EQ(o.memopt_exit, 1);
  EXPECT_THAT(o.memopt_err, HasSubstr(".sock"));
  EXPECT_THAT(o.memopt_err, HasSubstr("longer than 1048576 bytes"));
}

// The same server behind `memopt report` (its in-process view, 1 s) and `memopt cleanup`
// (1 s for stats, then --timeout 1 for the cleanup request).
TEST(HostileCleanupSocket, StreamingServerDoesNotStallReportOrCleanup) {
  const auto o = in_namespace(R"sh(
mkdir -m 0755 /run/memopt
start $PY $FAKE stream /run/memopt 1
measure $MEMOPT report --json
)sh");
  SKIP_UNLESS_RAN(o);
  expect_bounded(o, 1, "report against a streaming server");
  EXPECT_THAT(o.memopt_out, HasSubstr("longer than 1048576 bytes"));

  const auto c = in_namespace(R"sh(
mkdir -m 0755 /run/memopt
start $PY $FAKE stream /run/memopt 1
measure $MEMOPT cleanup --json --timeout 1
)sh");
  SKIP_UNLESS_RAN(c);
  expect_bounded(c, 2, "cleanup against a streaming server");
  const auto doc = parse(c);
  ASSERT_EQ(doc["processes"].size(), 1u) << doc.dump();
  EXPECT_EQ(doc["processes"][0]["status"], "failed");
  EXPECT_THAT(doc["processes"][0]["reason"].get<std::string>(),
              HasSubstr("longer than 1048576 bytes"));
}

// One answer of 16 MiB of "[": refused at 1 MiB. It cost 16 s and 1.2 GB (memopt report was
// OOM-killed in a 512 MiB cgroup).
TEST(HostileCleanupSocket, SixteenMegabyteAnswerIsRefusedAtTheCap) {
  const auto o = in_namespace(R"sh(
mkdir -m 0755 /run/memopt
start $PY $FAKE big /run/memopt 1
P=$(cut -d' ' -f2 /tmp/fake.1)
measure $MEMOPT report --pid $P --leaks --timeout 1
)sh");
  SKIP_UNLESS_RAN(o);
  expect_bounded(o, 1, "report --leaks against a 16 MiB answer");
  EXPECT_EQ(o.memopt_exit, 1);
  EXPECT_THAT(o.memopt_err, HasSubstr("longer than 1048576 bytes"));

  const auto r = in_namespace(R"sh(
mkdir -m 0755 /run/memopt
start $PY $FAKE big /run/memopt 1
measure $MEMOPT report --json
)sh");
  SKIP_UNLESS_RAN(r);
  expect_bounded(r, 1, "report against a 16 MiB answer");
  EXPECT_THAT(r.memopt_out, HasSubstr("longer than 1048576 bytes"));
}

// Under the cap but nested 900K deep: refused before a JSON tree is built (it took > 32 MiB).
TEST(HostileCleanupSocket, DeeplyNestedAnswerIsRefusedUnparsed) {
  const auto o = in_namespace(R"sh(
mkdir -m 0755 /run/memopt
start $PY $FAKE deep /run/memopt 1
measure $MEMOPT cleanup --json --timeout 1
)sh");
  SKIP_UNLESS_RAN(o);
  expect_bounded(o, 2, "cleanup against a deeply nested answer");
  const auto doc = parse(o);
  ASSERT_EQ(doc["processes"].size(), 1u) << doc.dump();
  EXPECT_EQ(doc["processes"][0]["status"], "failed");
  EXPECT_THAT(doc["processes"][0]["reason"].get<std::string>(), HasSubstr("nests deeper"));
}

// 20 streaming servers at once share report's one 1 s budget. It took 189 s.
TEST(HostileCleanupSocket, TwentyStreamingServersShareOneBudget) {
  const auto o = in_namespace(R"sh(
mkdir -m 0755 /run/memopt
start $PY $FAKE stream /run/memopt 20
measure $MEMOPT report --json
)sh");
  SKIP_UNLESS_RAN(o);
  std::cout << "report against 20 streaming servers: " << o.seconds << " s (budget 1 s), peak RSS "
            << o.peak_rss_kb << " KiB\n";
  ASSERT_NE(o.memopt_exit, 124) << "hung past 60 s";
  EXPECT_LT(o.seconds, 1 + kHangSlackSeconds);
  EXPECT_THAT(o.memopt_out, HasSubstr("longer than 1048576 bytes"));
}

// A server's "error" string with a screen clear, a title change, CR/LF (a forged line) and
// bidi overrides reaches the terminal escaped, in every command that shows it.
TEST(HostileCleanupSocket, ServerErrorStringsAreEscaped) {
  const auto is_raw = [](const std::string& out) {
    return out.find('\x1b') != std::string::npos || out.find('\r') != std::string::npos ||
           out.find("\n    MEMOPT OK") != std::string::npos ||
           out.find("\nMEMOPT OK") != std::string::npos ||
           out.find("\xe2\x80\xae") != std::string::npos ||
           out.find("\xe2\x81\xa6") != std::string::npos ||
           out.find("\xc2\x9b") != std::string::npos;
  };
  for (const std::string command :
       {"$MEMOPT cleanup --timeout 1", "$MEMOPT report --pid $P --leaks --timeout 1",
        "$MEMOPT report --pid $P --leaks --json --timeout 1", "$MEMOPT report"}) {
    const auto o = in_namespace(R"sh(
mkdir -m 0755 /run/memopt
start $PY $FAKE evil-error /run/memopt 1
P=$(cut -d' ' -f2 /tmp/fake.1)
measure )sh" + command + "\n");
    SKIP_UNLESS_RAN(o);
    EXPECT_FALSE(is_raw(o.memopt_out)) << command << ":\n" << o.memopt_out;
    EXPECT_FALSE(is_raw(o.memopt_err)) << command << ":\n" << o.memopt_err;
  }
}

}  // namespace
}  // namespace memopt
