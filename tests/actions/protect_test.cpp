// The --protect policy: the victim choice on fixture process lists (pure), the candidates read
// from a fixture tree, and the escalation (shed, one SIGTERM, SIGKILL after the grace, never two
// within it, never on a stale reading, nothing in a dry run) through a recording signaller.
#include "memopt/actions/protect.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include "memopt/sys/self.hpp"
#include "memopt/units.hpp"
#include "support/events.hpp"
#include "support/signaller.hpp"
#include "support/tree.hpp"

namespace memopt::actions {
namespace {

using namespace std::string_literals;

using std::chrono::milliseconds;
using testing::RecordingSignaller;

Candidate process(int pid, std::string name, std::uint64_t pss_mib,
                  std::optional<double> growth_mib_per_s = std::nullopt) {
  Candidate c;
  c.pid = pid;
  c.name = name;
  c.cmdline = "/usr/bin/" + name;
  c.pss_bytes = pss_mib * kMiB;
  if (growth_mib_per_s) c.growth_bytes_per_second = *growth_mib_per_s * kMiB;
  c.oom_score_adj = 0;
  return c;
}

const Excluded* excluded(const VictimChoice& choice, int pid) {
  for (const auto& x : choice.excluded) {
    if (x.pid == pid) return &x;
  }
  return nullptr;
}

TEST(ProtectChoice, PreferredProcessFirstEvenWhenSmaller) {
  VictimPolicy policy;
  policy.prefer = {"pt_data_worker"};
  const auto choice = choose_victim({process(10, "server", 250), process(11, "pt_data_worker", 40),
                                     process(12, "pt_data_worker", 60)},
                                    policy);
  ASSERT_TRUE(choice.victim);
  EXPECT_EQ(choice.victim->pid, 12);
  EXPECT_NE(choice.why.find("preferred (pattern 'pt_data_worker')"), std::string::npos);
  ASSERT_EQ(choice.alternatives.size(), 2U);
  EXPECT_EQ(choice.alternatives[0].pid, 10);  // largest first
}

TEST(ProtectChoice, PreferMatchesTheStartOfTheCommandLine) {
  auto celery = process(20, "python3", 30);
  celery.cmdline = "python3 -m celery worker -c 4";
  auto other = process(21, "python3", 90);
  other.cmdline = "python3 serve.py";
  EXPECT_TRUE(matches_process("python3 -m celery", celery));
  EXPECT_FALSE(matches_process("python3 -m celery", other));
  EXPECT_TRUE(matches_process("*celery*", celery));
  EXPECT_TRUE(matches_process("python*", other));  // comm
  VictimPolicy policy;
  policy.prefer = {"python3 -m celery"};
  EXPECT_EQ(choose_victim({celery, other}, policy).victim->pid, 20);
}

TEST(ProtectChoice, FastestGrowerAmongTheLargestElseTheLargest) {
  const VictimPolicy policy;
  // 200 and 150 are "the largest" (at least half of 200); 150 grows fastest there. 20 grows
  // faster still but is small: not a candidate for "fastest grower".
  auto choice = choose_victim(
      {process(1 + 30, "a", 200, 1.0), process(32, "b", 150, 30.0), process(33, "c", 20, 90.0)},
      policy);
  ASSERT_TRUE(choice.victim);
  EXPECT_EQ(choice.victim->pid, 32);
  EXPECT_NE(choice.why.find("fastest grower"), std::string::npos);
  choice = choose_victim({process(31, "a", 200), process(32, "b", 150)}, policy);
  EXPECT_EQ(choice.victim->pid, 31);
  EXPECT_NE(choice.why.find("the largest"), std::string::npos);
}

TEST(ProtectChoice, NeverSelfNeverNamespaceInitNeverProtectedNeverOutside) {
  VictimPolicy policy;
  policy.self_pid = 40;
  policy.protect = {"server*"};
  policy.never_pids = {45};
  policy.prefer = {"*"};  // even preferring everything
  auto init = process(41, "tini", 500);
  init.namespace_init = true;
  auto adj = process(42, "sidecar", 400);
  adj.oom_score_adj = -1000;
  auto outside = process(43, "neighbour", 900);
  outside.in_target = false;
  const auto choice = choose_victim(
      {process(40, "memopt", 999), init, adj, outside, process(44, "server-main", 300),
       process(45, "pidfile-held", 350), process(46, "worker", 5)},
      policy);
  ASSERT_TRUE(choice.victim);
  EXPECT_EQ(choice.victim->pid, 46);
  EXPECT_TRUE(choice.alternatives.empty());
  ASSERT_NE(excluded(choice, 40), nullptr);
  EXPECT_EQ(excluded(choice, 40)->why, "memopt itself");
  EXPECT_EQ(excluded(choice, 41)->why, "pid 1 of its pid namespace");
  EXPECT_EQ(excluded(choice, 42)->why, "protected (oom_score_adj -1000)");
  EXPECT_EQ(excluded(choice, 43)->why, "outside the target cgroup");
  EXPECT_EQ(excluded(choice, 44)->why, "protected (pattern 'server*')");
  EXPECT_EQ(excluded(choice, 45)->why, "protected (the target's pid or a pid file's)");
}

TEST(ProtectChoice, ACopyingWorkerWithTheMostPrivateMemoryBeforeItsParentAndBigStableOnes) {
  // The DataLoader's parent (pid 60) is the largest and grows a little; a big stable server
  // (pid 61); three workers of a copy-on-read group. Without the group the parent would go.
  auto parent = process(60, "python3", 900, 2.0);
  parent.start_ticks = 1000;
  auto w1 = process(62, "pt_data_worker", 300, 5.0);
  w1.start_ticks = 1100;
  auto w2 = process(63, "pt_data_worker", 320, 5.0);
  w2.start_ticks = 1101;
  auto w3 = process(64, "pt_data_worker", 310, 5.0);
  w3.start_ticks = 1102;
  const std::vector<Candidate> candidates{parent, process(61, "server", 800), w1, w2, w3};
  VictimPolicy policy;
  EXPECT_EQ(choose_victim(candidates, policy).victim->pid, 60);

  // Private sizes rank the workers, not PSS: 62 holds the most private memory.
  policy.group_workers = {{63, 1101, 60, 150 * kMiB, true},
                          {62, 1100, 60, 260 * kMiB, true},
                          {64, 1102, 60, 200 * kMiB, true}};
  auto choice = choose_victim(candidates, policy);
  ASSERT_TRUE(choice.victim);
  EXPECT_EQ(choice.victim->pid, 62);
  EXPECT_NE(choice.why.find("copying its parent's memory (parent pid 60"), std::string::npos)
      << choice.why;
  EXPECT_EQ(choice.alternatives.size(), 4U);

  // A worker that is no longer eligible (protected) or whose pid now names another process
  // (another start) is passed over for the next one.
  policy.protect = {"pt_data_worker"};
  EXPECT_EQ(choose_victim(candidates, policy).victim->pid, 60);
  policy.protect.clear();
  policy.group_workers[1].start_ticks = 999;  // pid 62 reused
  EXPECT_EQ(choose_victim(candidates, policy).victim->pid, 64);

  // The user's preference still comes first.
  policy.prefer = {"server"};
  EXPECT_EQ(choose_victim(candidates, policy).victim->pid, 61);
}

TEST(ProtectChoice, AParentGivesWayToItsGrowingWorkerBeforeTheGroupIsClassified) {
  // Measured on a real DataLoader a few seconds after its workers started copying (issue 26's
  // "protection without hints ends the big stable server"): the parent's PSS rises only
  // because its workers stop sharing its pages.
  auto parent = process(60, "python3", 152, 1.0);
  parent.start_ticks = 1000;
  std::vector<Candidate> candidates{parent};
  for (int i = 0; i < 4; ++i) {
    auto w = process(61 + i, "python3", 59, i == 2 ? 2.6 : 2.4);
    w.start_ticks = 1100 + i;
    candidates.push_back(w);
  }
  VictimPolicy policy;
  EXPECT_EQ(choose_victim(candidates, policy).victim->pid, 60) << "without groups: the parent";

  for (int i = 0; i < 4; ++i) policy.group_workers.push_back({61 + i, 1100 + i, 60, 40 * kMiB});
  auto choice = choose_victim(candidates, policy);
  ASSERT_TRUE(choice.victim);
  EXPECT_EQ(choice.victim->pid, 63) << "the fastest-growing worker";
  EXPECT_NE(choice.why.find("a worker of python3 (pid 60"), std::string::npos) << choice.why;
  EXPECT_NE(choice.why.find("ending the parent would end every worker"), std::string::npos)
      << choice.why;

  // A parent that grows faster than its workers is the grower: it goes.
  candidates[0].growth_bytes_per_second = 8.0 * kMiB;
  EXPECT_EQ(choose_victim(candidates, policy).victim->pid, 60);
  candidates[0].growth_bytes_per_second = 1.0 * kMiB;
  // Workers that do not grow leave the parent chosen.
  for (std::size_t i = 1; i < candidates.size(); ++i) candidates[i].growth_bytes_per_second = 0.0;
  EXPECT_EQ(choose_victim(candidates, policy).victim->pid, 60);
  // A worker pid reused by another process is not the parent's worker.
  candidates[3].growth_bytes_per_second = 3.0 * kMiB;
  policy.group_workers[2].start_ticks = 999;
  EXPECT_EQ(choose_victim(candidates, policy).victim->pid, 60);
  policy.group_workers[2].start_ticks = 1102;
  EXPECT_EQ(choose_victim(candidates, policy).victim->pid, 63);
  // The user's preference still decides.
  policy.prefer = {"python3"};
  EXPECT_EQ(choose_victim(candidates, policy).victim->pid, 60);
}

TEST(ProtectChoice, NobodyEligibleIsNoVictim) {
  VictimPolicy policy;
  policy.protect = {"*"};
  const auto choice = choose_victim({process(50, "server", 300)}, policy);
  EXPECT_FALSE(choice.victim);
  EXPECT_EQ(choice.excluded.size(), 1U);
  EXPECT_FALSE(choose_victim({}, policy).victim);
}

TEST(ProtectPidFiles, ReadsTheFirstWordAndSaysWhatItCannotRead) {
  const testing::TempTree tree;
  const auto good = tree.write("server.pid", "4242\n");
  const auto junk = tree.write("junk.pid", "not a pid\n");
  std::vector<std::string> problems;
  const auto pids = read_pid_files({good, junk, tree.path("missing.pid")}, problems);
  EXPECT_EQ(pids, std::vector<int>{4242});
  ASSERT_EQ(problems.size(), 2U);
  EXPECT_NE(problems[0].find("holds no pid"), std::string::npos);
  EXPECT_NE(problems[1].find("cannot be read"), std::string::npos);
}

// A v1 container "/ctr" with three processes (its init, a server and a worker) and one
// process outside it that is listed in cgroup.procs by mistake (moved out since).
struct Container {
  testing::TempTree tree;
  readers::CgroupLocation location;

  Container() {
    tree.write("proc/self/cgroup", "7:memory:/\n");
    add(100, "tini", "tini -- serve", 1, 0, "/ctr");
    add(101, "server", "python3 serve.py", 250, 0, "/ctr");
    add(102, "worker", "python3 -m celery worker", 60, 0, "/ctr");
    add(103, "moved", "moved", 500, 0, "/elsewhere");
    tree.write("sys/fs/cgroup/memory/ctr/cgroup.procs", "100\n101\n102\n103\n");
    location.version = 1;
    location.mount = tree.path("sys/fs/cgroup/memory");
    location.dir = tree.path("sys/fs/cgroup/memory/ctr");
    location.path = "/ctr";
  }

  void add(int pid, const std::string& comm, std::string cmdline, unsigned pss_mib, int adj,
           const std::string& cgroup) {
    const std::string dir = "proc/" + std::to_string(pid) + "/";
    tree.write(dir + "comm", comm + "\n");
    for (auto& ch : cmdline) {
      if (ch == ' ') ch = '\0';
    }
    tree.write(dir + "cmdline", cmdline + std::string(1, '\0'));
    tree.write(dir + "smaps_rollup",
               "00400000-7fff0000 ---p 00000000 00:00 0 [rollup]\nRss: " +
                   std::to_string(pss_mib * 1024) + " kB\nPss: " + std::to_string(pss_mib * 1024) +
                   " kB\nPrivate_Clean: 0 kB\nPrivate_Dirty: " + std::to_string(pss_mib * 1024) +
                   " kB\nSwap: 0 kB\n");
    tree.write(dir + "oom_score_adj", std::to_string(adj) + "\n");
    tree.write(dir + "status", "Name:\t" + comm + "\nNSpid:\t" + std::to_string(pid) + "\t" +
                                   std::to_string(pid == 100 ? 1 : pid - 99) + "\n");
    tree.write(dir + "cgroup", "7:memory:" + cgroup + "\n");
    set_start(pid, comm, 1000 + static_cast<unsigned>(pid));
  }

  /// /proc/PID/stat with start time `ticks` (field 22); the comm holds ") " as a trap.
  void set_start(int pid, const std::string& comm, unsigned ticks) const {
    std::string stat = std::to_string(pid) + " (" + comm + ") x) S";
    for (int field = 4; field < 22; ++field) stat += " 0";
    tree.write("proc/" + std::to_string(pid) + "/stat",
               stat + " " + std::to_string(ticks) + " 4096 0\n");
  }

  [[nodiscard]] Roots roots() const { return {tree.path("proc"), tree.path("sys")}; }
};

TEST(ProtectCandidates, ReadFromTheCgroupWithPssInitAndMembership) {
  const Container c;
  std::vector<std::string> dropped;
  const auto candidates = read_candidates(c.roots(), c.location, dropped);
  EXPECT_TRUE(dropped.empty());
  EXPECT_EQ(candidates[1].start_ticks, 1101U);
  ASSERT_EQ(candidates.size(), 4U);
  EXPECT_EQ(candidates[0].pid, 100);
  EXPECT_TRUE(candidates[0].namespace_init);
  EXPECT_EQ(candidates[1].name, "server");
  EXPECT_EQ(candidates[1].pss_bytes, 250 * kMiB);
  EXPECT_FALSE(candidates[1].namespace_init);
  EXPECT_EQ(candidates[2].cmdline, "python3 -m celery worker");
  EXPECT_EQ(candidates[2].oom_score_adj, 0);
  EXPECT_TRUE(candidates[2].in_target);
  EXPECT_FALSE(candidates[3].in_target);  // listed, but its own cgroup file says elsewhere
}

struct Escalation {
  Container c;
  RecordingSignaller signaller;
  config::ProtectConfig config;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();

  Escalation() {
    signaller.set_procfs(c.roots().procfs);
    config.enabled = true;
    config.grace = milliseconds(2000);
    config.shed_cooldown = std::chrono::seconds(10);
  }

  Protector make() {
    return Protector(config, c.roots(), c.location, model::Target{}, {}, signaller);
  }

  ProtectReading reading(analysis::Level level, milliseconds at, std::uint64_t available_mib) {
    ProtectReading r;
    r.taken = t0 + at;
    r.level = level;
    r.memory.scope = analysis::Scope::kContainer;
    r.memory.limit_bytes = 512 * kMiB;
    r.memory.available_bytes = available_mib * kMiB;
    r.memory.used_bytes = r.memory.limit_bytes - r.memory.available_bytes;
    return r;
  }
};

std::vector<analysis::Event> step(Protector& p, const ProtectReading& r, milliseconds age = {},
                                  std::vector<std::string>* said = nullptr) {
  std::vector<analysis::Event> events;
  std::vector<std::string> notices;
  p.step(r, r.taken + age, events, notices);
  if (said) said->insert(said->end(), notices.begin(), notices.end());
  return events;
}

bool mentions(const std::vector<std::string>& notices, std::string_view text) {
  for (const auto& n : notices) {
    if (n.find(text) != std::string::npos) return true;
  }
  return false;
}

const analysis::KillChosen& kill_of(const analysis::Event& e) {
  return testing::payload_of<analysis::KillChosen>(e);
}

std::size_t kills(const std::vector<analysis::Event>& events) {
  std::size_t n = 0;
  for (const auto& e : events) n += e.kind() == analysis::EventKind::kKill ? 1 : 0;
  return n;
}

std::vector<analysis::Event> wait_shed(Protector& p) {
  std::vector<analysis::Event> events;
  p.finish(events, true);
  return events;
}

TEST(ProtectEscalation, ShedAtSevereThenOneKillAtDangerThenSigkillAfterTheGrace) {
  Escalation x;
  x.config.prefer = {"worker"};
  x.config.forecast_seconds = 0;
  auto p = x.make();
  EXPECT_TRUE(step(p, x.reading(analysis::Level::kWarning, milliseconds(0), 150)).empty());
  EXPECT_TRUE(x.signaller.sent().empty());
  // Severe: a shed request (nobody listens here), no signal.
  EXPECT_TRUE(step(p, x.reading(analysis::Level::kSevere, milliseconds(250), 60)).empty());
  const auto shed = wait_shed(p);
  ASSERT_EQ(shed.size(), 1U);
  EXPECT_EQ(shed[0].kind(), analysis::EventKind::kShed);
  EXPECT_TRUE(x.signaller.sent().empty());
  // Danger: the preferred worker gets SIGTERM, with its PSS, why and the alternatives.
  auto events = step(p, x.reading(analysis::Level::kDanger, milliseconds(500), 30));
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].kind(), analysis::EventKind::kKill);
  EXPECT_EQ(kill_of(events[0]).process.pid, 102);
  EXPECT_EQ(kill_of(events[0]).pss_bytes, 60 * kMiB);
  EXPECT_EQ(kill_of(events[0]).signal, "SIGTERM");
  EXPECT_NE(kill_of(events[0]).reason->find("preferred"), std::string::npos);
  ASSERT_EQ(kill_of(events[0]).alternatives.size(), 1U);  // the server; not tini, not the moved one
  EXPECT_NE(kill_of(events[0]).alternatives[0].find("server"), std::string::npos);
  ASSERT_EQ(x.signaller.sent().size(), 1U);
  EXPECT_EQ(x.signaller.sent()[0].signal, SIGTERM);
  // Still danger, within the grace: nobody else is signalled.
  EXPECT_TRUE(step(p, x.reading(analysis::Level::kDanger, milliseconds(1500), 30)).empty());
  EXPECT_EQ(x.signaller.sent().size(), 1U);
  // After the grace, the worker (which ignored SIGTERM) gets SIGKILL; still one victim.
  events = step(p, x.reading(analysis::Level::kDanger, milliseconds(2600), 30));
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(kill_of(events[0]).signal, "SIGKILL");
  ASSERT_EQ(x.signaller.sent().size(), 2U);
  EXPECT_EQ(x.signaller.sent()[1].pid, 102);
  EXPECT_EQ(x.signaller.sent()[1].signal, SIGKILL);
}

// A dry-run shed asks nobody to free anything: it says what it would release, as an estimate,
// and never "released" nor a released_bytes that memory moving meanwhile would make up.
TEST(ProtectEscalation, ADryRunShedSaysWouldReleaseNeverReleased) {
  Escalation x;
  x.config.dry_run = true;
  // Memory the shed's measure can read (host and the cgroup), so that only the wording is tested.
  x.c.tree.write("proc/meminfo",
                 "MemTotal: 4194304 kB\nMemFree: 1048576 kB\n"
                 "MemAvailable: 2097152 kB\nBuffers: 0 kB\nCached: 0 kB\n");
  x.c.tree.write("sys/fs/cgroup/memory/memory.usage_in_bytes", "104857600\n");
  x.c.tree.write("sys/fs/cgroup/memory/memory.stat", "total_inactive_file 0\n");
  auto p = x.make();
  EXPECT_TRUE(step(p, x.reading(analysis::Level::kSevere, milliseconds(0), 60)).empty());
  const auto shed = wait_shed(p);
  ASSERT_EQ(shed.size(), 1U);
  EXPECT_EQ(shed[0].kind(), analysis::EventKind::kShed);
  EXPECT_NE(shed[0].message.find("would release (estimate)"), std::string::npos) << shed[0].message;
  EXPECT_EQ(shed[0].message.find("released"), std::string::npos) << shed[0].message;
  EXPECT_FALSE(testing::payload_of<analysis::ShedRan>(shed[0]).released_bytes.has_value());
}

TEST(ProtectEscalation, NeverTwiceWithinTheGraceEvenWhenTheVictimExitedAtOnce) {
  Escalation x;
  x.config.prefer = {"worker"};
  x.signaller.set_exit_on(SIGTERM);
  auto p = x.make();
  ASSERT_EQ(kills(step(p, x.reading(analysis::Level::kDanger, milliseconds(0), 30))), 1U);
  // Gone, memory back to severe, then danger again within the grace: no second kill.
  EXPECT_EQ(kills(step(p, x.reading(analysis::Level::kSevere, milliseconds(250), 80))), 0U);
  EXPECT_EQ(kills(step(p, x.reading(analysis::Level::kDanger, milliseconds(1000), 30))), 0U);
  EXPECT_EQ(x.signaller.sent().size(), 1U);
  // After the grace, a new decision: the worker was read again (still in the fixture).
  EXPECT_EQ(kills(step(p, x.reading(analysis::Level::kDanger, milliseconds(2100), 30))), 1U);
  wait_shed(p);
  EXPECT_EQ(x.signaller.sent().size(), 2U);
}

TEST(ProtectEscalation, NoDecisionOnAStaleReading) {
  Escalation x;
  auto p = x.make();
  std::vector<analysis::Event> events;
  std::vector<std::string> notices;
  const auto r = x.reading(analysis::Level::kDanger, milliseconds(0), 10);
  p.step(r, r.taken + milliseconds(251), events, notices);
  p.finish(events, true);
  EXPECT_TRUE(x.signaller.sent().empty());
  ASSERT_FALSE(notices.empty());
  EXPECT_NE(notices.back().find("251 ms old"), std::string::npos);
  p.step(r, r.taken + milliseconds(250), events, notices);
  EXPECT_EQ(x.signaller.sent().size(), 1U);  // at 250 ms it is still fresh
}

TEST(ProtectEscalation, DryRunDecidesAndSignalsNothing) {
  Escalation x;
  x.config.dry_run = true;
  auto p = x.make();
  const auto events = step(p, x.reading(analysis::Level::kDanger, milliseconds(0), 10));
  wait_shed(p);
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(kill_of(events[0]).dry_run, true);
  EXPECT_EQ(kill_of(events[0]).process.pid, 101);  // no prefer: the largest eligible one
  EXPECT_NE(events[0].message.find("would end"), std::string::npos);
  EXPECT_TRUE(x.signaller.sent().empty());
}

TEST(ProtectEscalation, ForecastKillsAtSevereWhenTheLimitIsSecondsAway) {
  Escalation x;
  x.config.forecast_seconds = 1.0;
  x.config.shed_level = analysis::Level::kDanger;  // keep shed out of this test
  auto p = x.make();
  // 100 MiB/s with 60 MiB left: 0.6 s to the limit.
  EXPECT_TRUE(step(p, x.reading(analysis::Level::kSevere, milliseconds(0), 110)).empty());
  const auto events = step(p, x.reading(analysis::Level::kSevere, milliseconds(500), 60));
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].kind(), analysis::EventKind::kKill);
  EXPECT_NE(events[0].message.find("under 1 s"), std::string::npos);
  // Slow growth (10 MiB/s, 6 s left): no kill.
  Escalation slow;
  slow.config.shed_level = analysis::Level::kDanger;
  auto q = slow.make();
  step(q, slow.reading(analysis::Level::kSevere, milliseconds(0), 65));
  EXPECT_TRUE(step(q, slow.reading(analysis::Level::kSevere, milliseconds(500), 60)).empty());
}

// --- issue 31: nothing one process or one pid file holds stops protection ------------------

TEST(ProtectCandidates, AFiveMiBCommandLineIsReadInPartAndNobodyIsLeftOut) {
  Container c;
  // A long argv: 5 MiB, more than any kernel file memopt reads whole.
  c.tree.write("proc/102/cmdline", "python3\0-m\0celery\0"s + std::string(5 << 20, 'x'));
  std::vector<std::string> dropped;
  const auto candidates = read_candidates(c.roots(), c.location, dropped);
  ASSERT_EQ(candidates.size(), 4U);
  EXPECT_TRUE(dropped.empty());
  EXPECT_EQ(candidates[2].cmdline.size(), kMaxCmdlineBytes);
  EXPECT_EQ(candidates[2].cmdline.rfind("python3 -m celery x", 0), 0U);
  EXPECT_TRUE(matches_process("python3 -m celery", candidates[2]));
}

TEST(ProtectCandidates, AProcessWhoseFilesCannotBeReadIsLeftOutWithANote) {
  Container c;
  // A FIFO where smaps_rollup should be, a directory where cmdline should be: neither blocks
  // nor ends the reading; those two processes are left out, the others are read.
  c.tree.remove("proc/101/smaps_rollup");
  ASSERT_EQ(::mkfifo(c.tree.path("proc/101/smaps_rollup").c_str(), 0600), 0);
  c.tree.remove("proc/102/cmdline");
  c.tree.mkdir("proc/102/cmdline");
  std::vector<std::string> dropped;
  const auto candidates = read_candidates(c.roots(), c.location, dropped);
  ASSERT_EQ(candidates.size(), 2U);
  EXPECT_EQ(candidates[0].pid, 100);
  EXPECT_EQ(candidates[1].pid, 103);
  ASSERT_EQ(dropped.size(), 2U);
  EXPECT_NE(dropped[0].find("proc/101/smaps_rollup"), std::string::npos) << dropped[0];
  EXPECT_NE(dropped[1].find("proc/102/cmdline"), std::string::npos) << dropped[1];
}

TEST(ProtectPidFiles, AFifoDevZeroOrHugePidFileIsAProblemNeverABlockOrAnError) {
  const testing::TempTree tree;
  const auto fifo = tree.path("fifo.pid");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);  // nobody writes: a blocking open would hang
  const auto zero = tree.path("zero.pid");
  ASSERT_EQ(::symlink("/dev/zero", zero.c_str()), 0);
  const auto huge = tree.write("huge.pid", "4242" + std::string(5 << 20, ' '));
  const auto good = tree.write("good.pid", "77\n");
  std::vector<std::string> problems;
  const auto pids = read_pid_files({fifo, zero, huge, good}, problems);
  EXPECT_EQ(pids, std::vector<int>{77});
  ASSERT_EQ(problems.size(), 3U);
  EXPECT_NE(problems[0].find("fifo.pid cannot be read"), std::string::npos) << problems[0];
  EXPECT_NE(problems[1].find("zero.pid cannot be read"), std::string::npos) << problems[1];
  EXPECT_NE(problems[2].find("huge.pid cannot be read"), std::string::npos) << problems[2];
}

TEST(ProtectEscalation, ABadPidFileIsSaidAtStartAndItsLastPidStaysProtected) {
  Escalation x;
  const auto missing = x.c.tree.path("missing.pid");
  const auto server = x.c.tree.write("server.pid", "101\n");
  x.config.pid_files = {missing, server};
  x.config.dry_run = true;
  auto p = x.make();
  auto problems = p.check_pid_files();
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_NE(problems[0].find("missing.pid cannot be read"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("no process is protected by it"), std::string::npos);
  // The server's pid file turns to garbage: said at the next decision, and 101 stays protected.
  x.c.tree.write("server.pid", "garbage\n");
  std::vector<std::string> notices;
  const auto events =
      step(p, x.reading(analysis::Level::kDanger, milliseconds(0), 10), {}, &notices);
  ASSERT_EQ(kills(events), 1U);
  EXPECT_EQ(kill_of(events[0]).process.pid, 102);  // not the larger server
  EXPECT_TRUE(mentions(notices,
                       "server.pid holds no pid; pid 101 read from it before stays "
                       "protected"));
  EXPECT_FALSE(mentions(notices, "missing.pid"));  // said at start already
  wait_shed(p);
}

TEST(ProtectEscalation, ACandidateThatCannotBeReadDoesNotStopTheDecision) {
  Escalation x;
  x.c.tree.remove("proc/101/smaps_rollup");
  ASSERT_EQ(::mkfifo(x.c.tree.path("proc/101/smaps_rollup").c_str(), 0600), 0);
  auto p = x.make();
  std::vector<std::string> notices;
  const auto events =
      step(p, x.reading(analysis::Level::kDanger, milliseconds(0), 10), {}, &notices);
  wait_shed(p);
  ASSERT_EQ(kills(events), 1U);
  EXPECT_EQ(kill_of(events[0]).process.pid, 102);
  EXPECT_TRUE(mentions(notices, "left out of the candidates"));
  ASSERT_EQ(x.signaller.sent().size(), 1U);
}

// --- issue 31: the process signalled is the one chosen, checked through its handle -----------

TEST(ProtectEscalation, APidReusedBetweenTheChoiceAndTheSignalIsNotSignalled) {
  Escalation x;
  x.config.prefer = {"worker"};
  x.signaller.on_hold = [&x](int pid) { x.c.set_start(pid, "worker", 99999); };
  auto p = x.make();
  std::vector<std::string> notices;
  const auto events =
      step(p, x.reading(analysis::Level::kDanger, milliseconds(0), 10), {}, &notices);
  wait_shed(p);
  EXPECT_EQ(kills(events), 0U);
  EXPECT_TRUE(x.signaller.sent().empty());
  EXPECT_TRUE(mentions(notices, "pid 102 is now another process"))
      << ::testing::PrintToString(notices);
}

TEST(ProtectEscalation, AProcessTheLiveKernelPutsOutsideTheTargetIsNotSignalled) {
  Escalation x;
  x.config.prefer = {"worker"};
  x.signaller.on_hold = [&x](int pid) {
    x.c.tree.write("proc/" + std::to_string(pid) + "/cgroup", "7:memory:/elsewhere\n");
  };
  auto p = x.make();
  std::vector<std::string> notices;
  step(p, x.reading(analysis::Level::kDanger, milliseconds(0), 10), {}, &notices);
  wait_shed(p);
  EXPECT_TRUE(x.signaller.sent().empty());
  EXPECT_TRUE(mentions(notices, "outside /ctr")) << ::testing::PrintToString(notices);
}

TEST(ProtectEscalation, AProcessGoneBeforeTheSignalIsAlreadyGoneNotEnded) {
  Escalation x;
  x.config.prefer = {"worker"};
  x.signaller.gone = {102};
  auto p = x.make();
  std::vector<std::string> notices;
  const auto events =
      step(p, x.reading(analysis::Level::kDanger, milliseconds(0), 10), {}, &notices);
  wait_shed(p);
  EXPECT_EQ(kills(events), 0U);
  EXPECT_TRUE(mentions(notices, "worker (pid 102, PSS 60.0 MiB) was already gone"))
      << ::testing::PrintToString(notices);
  // Gone from the tree too: the next reading decides again, on the server.
  x.signaller.gone.clear();
  x.c.tree.remove("proc/102");
  x.c.tree.write("sys/fs/cgroup/memory/ctr/cgroup.procs", "100\n101\n");
  const auto again = step(p, x.reading(analysis::Level::kDanger, milliseconds(250), 10));
  ASSERT_EQ(kills(again), 1U);
  EXPECT_EQ(kill_of(again[0]).process.pid, 101);
}

TEST(ProtectEscalation, ATreeThatIsNotTheLiveProcIsNeverSignalled) {
  Escalation x;
  x.signaller.set_reaches(false);
  auto p = x.make();
  std::vector<std::string> notices;
  step(p, x.reading(analysis::Level::kDanger, milliseconds(0), 10), {}, &notices);
  wait_shed(p);
  EXPECT_TRUE(x.signaller.sent().empty());
  EXPECT_TRUE(mentions(notices, "is not the live /proc")) << ::testing::PrintToString(notices);
  // What the system signaller answers: this tree is not the live /proc; /proc is.
  SystemSignaller system;
  EXPECT_FALSE(system.reaches(x.c.roots().procfs));
  EXPECT_TRUE(system.reaches("/proc"));
}

TEST(ProtectSignaller, ReadsTheLiveProcessThroughItsPidfdAndSaysWhenItIsGone) {
  const pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  SystemSignaller system;
  ASSERT_EQ(system.hold(child), 0);
  sys::LiveProcess live;
  ASSERT_EQ(system.inspect(child, live), 0);
  EXPECT_EQ(live.stat.rfind(std::to_string(child) + " (", 0), 0U);
  EXPECT_FALSE(live.cgroup.empty());
  EXPECT_EQ(live.exe, sys::self_executable());  // a fork of this test runs its executable
  ASSERT_EQ(system.send(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  // Reaped: its pid may be anyone's now, yet the held handle still names only it.
  EXPECT_TRUE(system.exited(child));
  EXPECT_EQ(system.inspect(child, live), ESRCH);
  EXPECT_EQ(system.send(child, SIGTERM), ESRCH);
  system.release(child);
}

// --- issue 26: memopt is never a candidate; the grower is known at the first danger reading ---

TEST(ProtectChoice, AProcessRunningMemoptsExecutableIsNeverChosen) {
  Container c;
  // A second memopt (a flight recorder), named otherwise: its exe is this very executable.
  c.add(104, "recorder", "recorder --record", 900, 0, "/ctr");
  const auto self = std::filesystem::read_symlink("/proc/self/exe");
  ASSERT_EQ(::symlink(self.c_str(), c.tree.path("proc/104/exe").c_str()), 0);
  c.tree.write("sys/fs/cgroup/memory/ctr/cgroup.procs", "100\n101\n102\n104\n");
  std::vector<std::string> dropped;
  const auto candidates = read_candidates(c.roots(), c.location, dropped);
  VictimPolicy policy;
  policy.self_exe = sys::self_executable();
  const auto choice = choose_victim(candidates, policy);
  ASSERT_TRUE(choice.victim);
  EXPECT_EQ(choice.victim->pid, 101);
  ASSERT_NE(excluded(choice, 104), nullptr);
  EXPECT_EQ(excluded(choice, 104)->why, "a memopt process (runs memopt's executable)");
}

TEST(ProtectChoice, WhenOnlyAProtectedProcessGrowsNoSubstituteIsEnded) {
  VictimPolicy policy;
  policy.protect = {"hog"};
  // The hog grows and is protected; ending the small steady one would not stop it.
  auto choice =
      choose_victim({process(60, "hog", 900, 300.0), process(61, "innocent", 24, 0.0)}, policy);
  EXPECT_FALSE(choice.victim);
  ASSERT_TRUE(choice.refused);
  EXPECT_NE(choice.refused->find("hog (pid 60"), std::string::npos) << *choice.refused;
  EXPECT_NE(choice.refused->find("protected (pattern 'hog')"), std::string::npos);
  // A protected steady server and a growing worker: the worker, as protection is meant to.
  choice = choose_victim({process(60, "hog", 900, 0.0), process(61, "worker", 24, 30.0)}, policy);
  ASSERT_TRUE(choice.victim);
  EXPECT_EQ(choice.victim->pid, 61);
  // Nobody grows: the largest eligible, as before.
  choice = choose_victim({process(60, "hog", 900), process(61, "worker", 24)}, policy);
  ASSERT_TRUE(choice.victim);
  EXPECT_EQ(choice.victim->pid, 61);
}

TEST(ProtectEscalation, TheFirstDangerReadingKnowsWhoGrowsFromTheFullSamples) {
  Escalation x;
  x.c.add(104, "grower", "python3 leak.py", 200, 0, "/ctr");
  x.c.tree.write("sys/fs/cgroup/memory/ctr/cgroup.procs", "100\n101\n102\n104\n");
  auto p = x.make();
  // Full samples a second apart before any danger: the server steady at 250 MiB, the grower
  // from 140 to 170 MiB; at danger (t0 + 2 s) it holds 200 MiB: +30 MiB/s.
  const auto sample = [](std::uint64_t server_mib, std::uint64_t grower_mib) {
    std::vector<model::ProcessMemory> processes(2);
    processes[0].pid = 101;
    processes[0].name = "server";
    processes[0].pss_bytes = server_mib * kMiB;
    processes[1].pid = 104;
    processes[1].name = "grower";
    processes[1].pss_bytes = grower_mib * kMiB;
    return processes;
  };
  p.observe(x.t0, sample(250, 140));
  p.observe(x.t0 + milliseconds(1000), sample(250, 170));
  const auto events = step(p, x.reading(analysis::Level::kDanger, milliseconds(2000), 10));
  wait_shed(p);
  ASSERT_EQ(kills(events), 1U);
  EXPECT_EQ(kill_of(events[0]).process.pid, 104);
  EXPECT_NE(kill_of(events[0]).reason->find(
                "the fastest grower among the largest (+30.0 MiB/s over 2.0 s, "
                "from 140 MiB to 200 MiB)"),
            std::string::npos)
      << *kill_of(events[0]).reason;
  // The server is an alternative, with its (zero) growth as evidence.
  ASSERT_FALSE(kill_of(events[0]).alternatives.empty());
  EXPECT_NE(kill_of(events[0]).alternatives[0].find("server (pid 101, PSS 250 MiB, +0.0 MiB/s"),
            std::string::npos)
      << kill_of(events[0]).alternatives[0];
}

}  // namespace
}  // namespace memopt::actions
