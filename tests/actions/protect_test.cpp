// The --protect policy: the victim choice on fixture process lists (pure), the candidates read
// from a fixture tree, and the escalation (shed, one SIGTERM, SIGKILL after the grace, never two
// within it, never on a stale reading, nothing in a dry run) through a recording signaller.
#include "memopt/actions/protect.hpp"

#include <gtest/gtest.h>

#include <csignal>

#include "memopt/sys/self.hpp"
#include "support/tree.hpp"

namespace memopt::actions {
namespace {

using std::chrono::milliseconds;
constexpr std::uint64_t kMiB = 1 << 20;

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
  }

  [[nodiscard]] sys::Roots roots() const { return {tree.path("proc"), tree.path("sys")}; }
};

TEST(ProtectCandidates, ReadFromTheCgroupWithPssInitAndMembership) {
  const Container c;
  const auto candidates = read_candidates(c.roots(), c.location);
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

std::vector<analysis::Event> step(Protector& p, const ProtectReading& r, milliseconds age = {}) {
  std::vector<analysis::Event> events;
  std::vector<std::string> notices;
  p.step(r, r.taken + age, events, notices);
  return events;
}

std::size_t kills(const std::vector<analysis::Event>& events) {
  std::size_t n = 0;
  for (const auto& e : events) n += e.name == "kill" ? 1 : 0;
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
  EXPECT_EQ(shed[0].name, "shed");
  EXPECT_TRUE(x.signaller.sent().empty());
  // Danger: the preferred worker gets SIGTERM, with its PSS, why and the alternatives.
  auto events = step(p, x.reading(analysis::Level::kDanger, milliseconds(500), 30));
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].name, "kill");
  EXPECT_EQ(events[0].pid, 102);
  EXPECT_EQ(events[0].victim_pss_bytes, 60 * kMiB);
  EXPECT_EQ(events[0].signal, "SIGTERM");
  EXPECT_NE(events[0].reason->find("preferred"), std::string::npos);
  ASSERT_EQ(events[0].alternatives.size(), 1U);  // the server; not tini, not the moved one
  EXPECT_NE(events[0].alternatives[0].find("server"), std::string::npos);
  ASSERT_EQ(x.signaller.sent().size(), 1U);
  EXPECT_EQ(x.signaller.sent()[0].signal, SIGTERM);
  // Still danger, within the grace: nobody else is signalled.
  EXPECT_TRUE(step(p, x.reading(analysis::Level::kDanger, milliseconds(1500), 30)).empty());
  EXPECT_EQ(x.signaller.sent().size(), 1U);
  // After the grace, the worker (which ignored SIGTERM) gets SIGKILL; still one victim.
  events = step(p, x.reading(analysis::Level::kDanger, milliseconds(2600), 30));
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].signal, "SIGKILL");
  ASSERT_EQ(x.signaller.sent().size(), 2U);
  EXPECT_EQ(x.signaller.sent()[1].pid, 102);
  EXPECT_EQ(x.signaller.sent()[1].signal, SIGKILL);
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
  EXPECT_EQ(events[0].dry_run, true);
  EXPECT_EQ(events[0].pid, 101);  // no prefer: the largest eligible one
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
  EXPECT_EQ(events[0].name, "kill");
  EXPECT_NE(events[0].message.find("under 1 s"), std::string::npos);
  // Slow growth (10 MiB/s, 6 s left): no kill.
  Escalation slow;
  slow.config.shed_level = analysis::Level::kDanger;
  auto q = slow.make();
  step(q, slow.reading(analysis::Level::kSevere, milliseconds(0), 65));
  EXPECT_TRUE(step(q, slow.reading(analysis::Level::kSevere, milliseconds(500), 60)).empty());
}

}  // namespace
}  // namespace memopt::actions
