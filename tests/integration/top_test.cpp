// `memopt top` in a real terminal: tmux runs it against a real 1 GiB cgroup, keys sort, filter
// and quit, capture-pane's text is checked against `memopt report` of the same cgroup, a resize
// redraws, and a crossing of the warning threshold shows within one interval.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "memopt/units.hpp"
#include "support/cgroup.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

const std::string kNoGpu = "MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1";

bool have_tmux() { return run_command({"sh", "-c", "command -v tmux"}).exit_code == 0; }

/// A tmux server of its own (its own socket) with one detached session running a command.
class Tmux {
 public:
  Tmux(const std::string& command, int width, int height)
      : socket_("memopt-top-test-" + std::to_string(::getpid())) {
    const auto r = tmux({"new-session", "-d", "-s", "top", "-x", std::to_string(width), "-y",
                         std::to_string(height), command});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  ~Tmux() { (void)tmux({"kill-server"}); }
  Tmux(const Tmux&) = delete;
  Tmux& operator=(const Tmux&) = delete;

  RunResult tmux(std::vector<std::string> args) const {
    args.insert(args.begin(), {"tmux", "-L", socket_, "-f", "/dev/null"});
    return run_command(args);
  }
  /// The pane's text now.
  [[nodiscard]] std::string capture() const {
    return tmux({"capture-pane", "-p", "-t", "top"}).out;
  }
  void keys(const std::vector<std::string>& keys) const {
    std::vector<std::string> args{"send-keys", "-t", "top"};
    args.insert(args.end(), keys.begin(), keys.end());
    EXPECT_EQ(tmux(args).exit_code, 0);
  }
  [[nodiscard]] bool alive() const { return tmux({"has-session", "-t", "top"}).exit_code == 0; }
  /// The pane's text once `wanted` holds for it, or its last text after `timeout`.
  std::string await(const std::function<bool(const std::string&)>& wanted,
                    std::chrono::milliseconds timeout) const {
    const auto end = Clock::now() + timeout;
    std::string text;
    do {
      text = capture();
      if (wanted(text)) return text;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (Clock::now() < end);
    return text;
  }
  std::string await_text(const std::string& needle, std::chrono::milliseconds timeout) const {
    return await([&](const std::string& t) { return t.find(needle) != std::string::npos; },
                 timeout);
  }

 private:
  std::string socket_;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

/// "300 MiB" -> bytes (format_bytes' units).
double bytes_of(const std::string& number, const std::string& unit) {
  const double value = std::stod(number);
  if (unit == "KiB") return value * 1024;
  if (unit == "MiB") return value * 1024 * 1024;
  if (unit == "GiB") return value * 1024 * 1024 * 1024;
  if (unit == "TiB") return value * 1024 * 1024 * 1024 * 1024;
  return value;
}

TEST(Top, InTmuxFollowsTheReportAndTheKeys) {
  if (!have_tmux())
    GTEST_SKIP() << "tmux is not installed (apt-get install tmux): no terminal to drive";
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not, "top");
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  cgroup->set_limit(1024 * kMiB);
  Holder holder;
  cgroup->add(holder.pid());
  ASSERT_TRUE(holder.hold(300));

  TempTree tree;
  const std::string status = tree.path("status");
  Tmux tmux(fmt::format("env {} TERM=screen {} --cgroup {} top 1; echo $? > {}", kNoGpu,
                        MEMOPT_BINARY, cgroup->dir(), status),
            120, 40);
  auto screen = tmux.await_text("PROCESSES", std::chrono::seconds(10));
  ASSERT_THAT(screen, HasSubstr("PROCESSES")) << screen;

  // The header against the report of the same cgroup at the same moment.
  const auto report =
      run_memopt({"--cgroup", cgroup->dir(), "report", "--format", "json"}, {kNoGpu});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  const auto doc = nlohmann::json::parse(report.out);
  screen = tmux.capture();
  const auto lines = lines_of(screen);
  ASSERT_GE(lines.size(), 3u) << screen;
  std::string level = doc["status"]["level"];
  for (auto& c : level) c = static_cast<char>(std::toupper(c));
  EXPECT_THAT(lines[1], ::testing::StartsWith(level)) << screen;
  static const std::regex kFigures(
      R"(used ([\d.]+) (B|KiB|MiB|GiB) of ([\d.]+) (B|KiB|MiB|GiB) \([\d.]+%\)  available ([\d.]+) (B|KiB|MiB|GiB))");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(lines[1], m, kFigures)) << lines[1];
  EXPECT_EQ(m[3].str() + " " + m[4].str(),
            format_bytes(doc["memory"]["limit_bytes"].get<std::uint64_t>()));
  // Within one sample: the holder's 300 MiB stand still, the rest moves by a few pages.
  EXPECT_NEAR(bytes_of(m[1], m[2]), doc["memory"]["used_bytes"].get<double>(), 8.0 * kMiB);
  EXPECT_NEAR(bytes_of(m[5], m[6]), doc["memory"]["available_bytes"].get<double>(), 8.0 * kMiB);
  EXPECT_THAT(screen, HasSubstr("memopt_test_hol")) << screen;
  EXPECT_THAT(screen, HasSubstr("PSS*"));

  // Sort keys.
  tmux.keys({"u"});
  EXPECT_THAT(tmux.await_text("USS*", std::chrono::seconds(3)), HasSubstr("by USS"));
  tmux.keys({"r"});
  EXPECT_THAT(tmux.await_text("RSS*", std::chrono::seconds(3)), HasSubstr("by RSS"));
  tmux.keys({"g"});
  EXPECT_THAT(tmux.await_text("GPU*", std::chrono::seconds(3)), HasSubstr("by GPU"));
  tmux.keys({"p"});
  ASSERT_THAT(tmux.await_text("PSS*", std::chrono::seconds(3)), HasSubstr("by PSS"));

  // Filter: a name that matches keeps its row, one that does not empties the table.
  tmux.keys({"/", "memopt_test", "Enter"});
  screen = tmux.await_text("name contains 'memopt_test'", std::chrono::seconds(3));
  EXPECT_THAT(screen, HasSubstr("memopt_test_hol")) << screen;
  tmux.keys({"/", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace",
             "BSpace", "BSpace", "BSpace", "zzz", "Enter"});
  screen = tmux.await_text("name contains 'zzz'", std::chrono::seconds(3));
  EXPECT_THAT(screen, HasSubstr("PROCESSES 0 rows")) << screen;
  EXPECT_THAT(screen, Not(HasSubstr("memopt_test_hol"))) << screen;
  tmux.keys({"Escape"});
  screen = tmux.await_text("memopt_test_hol", std::chrono::seconds(3));
  EXPECT_THAT(screen, Not(HasSubstr("name contains"))) << screen;

  // Help, and any key closes it.
  tmux.keys({"?"});
  EXPECT_THAT(tmux.await_text("sort by USS", std::chrono::seconds(3)), HasSubstr("q  quit"));
  tmux.keys({"x"});
  EXPECT_THAT(tmux.await_text("PROCESSES", std::chrono::seconds(3)), HasSubstr("PROCESSES"));

  // A resize redraws at the new size, a terminal too small says so, and back.
  ASSERT_EQ(tmux.tmux({"resize-window", "-t", "top", "-x", "60", "-y", "15"}).exit_code, 0);
  // Redrawn: tmux alone keeps the old frame's bottom lines (the key line among them).
  screen = tmux.await(
      [&](const std::string& t) {
        const auto l = lines_of(t);
        return l.size() == 15 && l[1].rfind(level, 0) == 0 &&
               l.back().find("q quit") != std::string::npos;
      },
      std::chrono::seconds(3));
  auto small = lines_of(screen);
  ASSERT_EQ(small.size(), 15u) << screen;
  for (const auto& line : small) EXPECT_LE(line.size(), 60u) << line;
  EXPECT_THAT(small[1], ::testing::StartsWith(level)) << screen;
  EXPECT_THAT(small.back(), HasSubstr("q quit")) << screen;
  ASSERT_EQ(tmux.tmux({"resize-window", "-t", "top", "-x", "30", "-y", "8"}).exit_code, 0);
  EXPECT_THAT(tmux.await_text("too small", std::chrono::seconds(3)), HasSubstr("too small"));
  ASSERT_EQ(tmux.tmux({"resize-window", "-t", "top", "-x", "120", "-y", "40"}).exit_code, 0);
  screen = tmux.await(
      [](const std::string& t) {
        const auto l = lines_of(t);
        return l.size() == 40 && t.find("PROCESSES") != std::string::npos;
      },
      std::chrono::seconds(3));
  EXPECT_EQ(lines_of(screen).size(), 40u) << screen;
  EXPECT_THAT(screen, Not(HasSubstr("too small")));

  // 84% of the limit: warning, and the event, within one interval (1 s) of the crossing, with
  // a second's slack for tmux and the capture.
  ASSERT_TRUE(holder.hold(860));
  screen = tmux.await(
      [](const std::string& t) {
        const auto l = lines_of(t);
        return l.size() > 1 && l[1].rfind("WARNING", 0) == 0 &&
               t.find("level_changed") != std::string::npos;
      },
      std::chrono::seconds(2));
  const auto warned = lines_of(screen);
  ASSERT_GT(warned.size(), 1u) << screen;
  EXPECT_THAT(warned[1], ::testing::StartsWith("WARNING")) << screen;
  EXPECT_THAT(screen, HasSubstr("level_changed")) << screen;

  // q quits with exit status 0 and gives the terminal back.
  tmux.keys({"q"});
  const auto end = Clock::now() + std::chrono::seconds(5);
  while (tmux.alive() && Clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(tmux.alive()) << "still running after q";
  EXPECT_EQ(slurp(status), "0\n");
}

TEST(Top, NoColorLeavesNoColourInThePane) {
  if (!have_tmux())
    GTEST_SKIP() << "tmux is not installed (apt-get install tmux): no terminal to drive";
  const std::string root = fixture("v1-limited");
  Tmux tmux(fmt::format("env {} NO_COLOR=1 TERM=screen {} --procfs {}/proc --sysfs {}/sys top 5",
                        kNoGpu, MEMOPT_BINARY, root, root),
            100, 30);
  ASSERT_THAT(tmux.await_text("PROCESSES", std::chrono::seconds(10)), HasSubstr("PROCESSES"));
  // -e keeps the attributes as escape codes: bold and reverse, never a colour (30-37, 41).
  const auto with_attributes = tmux.tmux({"capture-pane", "-p", "-e", "-t", "top"}).out;
  EXPECT_FALSE(std::regex_search(with_attributes, std::regex(R"(\x1b\[[0-9;]*(3[0-7]|4[0-7])m)")))
      << with_attributes;
  tmux.keys({"q"});
}

/// The data rows of the process table in `screen` (the lines under the column header up to the
/// first empty line): pid, growth per minute ("-", "0 B" or "+1.2 MiB") and name.
struct ShownRow {
  int pid = 0;
  std::string growth;
  std::string name;
};
std::vector<ShownRow> shown_rows(const std::string& screen) {
  static const std::regex kRow(
      R"(^\s*(\d+)\s+(\S+ \S+|-)\s+(\S+ \S+|-)\s+(\S+ \S+)\s+(\S+ \S+|-)\s+(\S+ \S+|-)  (.+?)\s*$)");
  std::vector<ShownRow> rows;
  bool in_table = false;
  for (const auto& line : lines_of(screen)) {
    if (line.find("GROW/m") != std::string::npos && line.find("PID") != std::string::npos) {
      in_table = true;
      continue;
    }
    if (!in_table) continue;
    std::smatch m;
    if (!std::regex_match(line, m, kRow)) break;
    std::string name = m[7];
    name.erase(0, name.find_first_not_of(' '));  // a group's member is indented
    rows.push_back({std::stoi(m[1]), m[6], name});
  }
  return rows;
}

/// A python3 parent holding 200 MiB and 3 forked workers (the same executable: a group),
/// started in `cgroup`; its first line is {"parent": pid, "workers": [pids]}.
std::unique_ptr<Background> start_group(const TestCgroup& cgroup) {
  auto argv = cgroup.enter_command();
  argv.insert(argv.end(), {"/usr/bin/python3", "-c", R"(
import json, os, sys, time
held = bytearray(b"x") * (200 << 20)
workers = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        time.sleep(600)
        os._exit(0)
    workers.append(pid)
print(json.dumps({"parent": os.getpid(), "workers": workers}), flush=True)
time.sleep(600)
)"});
  return std::make_unique<Background>(argv);
}

TEST(Top, InTmuxArrowsAndEnterExpandAGroupAndMSortsByGrowth) {
  if (!have_tmux())
    GTEST_SKIP() << "tmux is not installed (apt-get install tmux): no terminal to drive";
  if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not, "top-group");
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  cgroup->set_limit(1024 * kMiB);
  Holder holder;
  cgroup->add(holder.pid());
  ASSERT_TRUE(holder.hold(20));
  auto group = start_group(*cgroup);
  const auto started = next_json_line(
      *group, [](const nlohmann::json& j) { return j.contains("parent"); }, 20'000);
  ASSERT_FALSE(started.is_null()) << "the python3 group did not start";
  const int parent = started["parent"];
  std::vector<int> members{parent};
  for (const auto& w : started["workers"]) members.push_back(w.get<int>());
  std::sort(members.begin(), members.end());

  Tmux tmux(
      fmt::format("env {} TERM=screen {} --cgroup {} top 1", kNoGpu, MEMOPT_BINARY, cgroup->dir()),
      120, 40);
  // The group's row first by PSS (200 MiB against the holder's 20), the holder second.
  auto screen = tmux.await(
      [&](const std::string& t) {
        const auto rows = shown_rows(t);
        return rows.size() == 2 && rows[0].pid == parent;
      },
      std::chrono::seconds(10));
  auto rows = shown_rows(screen);
  ASSERT_EQ(rows.size(), 2u) << screen;
  EXPECT_EQ(rows[0].name, "python3 (+3 workers)") << screen;
  EXPECT_EQ(rows[1].pid, holder.pid()) << screen;
  EXPECT_THAT(screen, HasSubstr("Enter expand"));

  // Down selects the holder, where Enter expands nothing; Up and Enter expand the group: its
  // four processes, each with its own row, under it.
  tmux.keys({"Down", "Enter"});
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(shown_rows(tmux.capture()).size(), 2u) << tmux.capture();
  tmux.keys({"Up", "Enter"});
  screen = tmux.await([](const std::string& t) { return shown_rows(t).size() == 6; },
                      std::chrono::seconds(3));
  rows = shown_rows(screen);
  ASSERT_EQ(rows.size(), 6u) << screen;
  EXPECT_EQ(rows[0].pid, parent);
  std::vector<int> expanded;
  for (std::size_t i = 1; i <= 4; ++i) {
    EXPECT_EQ(rows[i].name, "- python3") << screen;
    expanded.push_back(rows[i].pid);
  }
  std::sort(expanded.begin(), expanded.end());
  EXPECT_EQ(expanded, members) << screen;
  EXPECT_EQ(rows[5].pid, holder.pid()) << screen;
  // Enter again folds it.
  tmux.keys({"Enter"});
  screen = tmux.await([](const std::string& t) { return shown_rows(t).size() == 2; },
                      std::chrono::seconds(3));
  EXPECT_EQ(shown_rows(screen).size(), 2u) << screen;

  // m sorts by growth per minute: the holder, grown by 100 MiB, comes first with a positive
  // growth; the time to the limit is a time at a positive rate (the fit sees the rise).
  tmux.keys({"m"});
  ASSERT_THAT(tmux.await_text("GROW/m*", std::chrono::seconds(3)), HasSubstr("by GROW/m"));
  // The holder keeps growing (10 MiB a second) while the view is watched: a rise that ended
  // would leave top's window of the last 8 samples on a loaded machine.
  const auto grown = [&](const std::string& t) {
    const auto r = shown_rows(t);
    return !r.empty() && r[0].pid == holder.pid() && r[0].growth.rfind('+', 0) == 0 &&
           std::regex_search(t, std::regex(R"(time to limit: \d+[smhd]( \d+[smhd])? at \+)"));
  };
  for (unsigned mib = 30; mib <= 200; mib += 10) {
    ASSERT_TRUE(holder.hold(mib));
    screen = tmux.await(grown, std::chrono::seconds(1));
    if (grown(screen)) break;
  }
  rows = shown_rows(screen);
  ASSERT_FALSE(rows.empty()) << screen;
  EXPECT_EQ(rows[0].pid, holder.pid()) << screen;
  EXPECT_THAT(rows[0].growth, ::testing::StartsWith("+")) << screen;
  EXPECT_TRUE(
      std::regex_search(screen, std::regex(R"(time to limit: \d+[smhd]( \d+[smhd])? at \+)")))
      << screen;
  tmux.keys({"q"});
}

TEST(Top, InTmuxContainersListsAChildCgroupAndEnterOpensIt) {
  if (!have_tmux())
    GTEST_SKIP() << "tmux is not installed (apt-get install tmux): no terminal to drive";
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not, "top-ctr");
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  cgroup->set_limit(256 * kMiB);
  Holder holder;
  cgroup->add(holder.pid());
  ASSERT_TRUE(holder.hold(40));
  // The node: this test's own cgroup, the test cgroup's parent.
  const std::string node = cgroup->dir().substr(0, cgroup->dir().rfind('/'));
  const std::string name = cgroup->dir().substr(cgroup->dir().rfind('/') + 1);

  Tmux tmux(fmt::format("env {} TERM=screen {} --cgroup {} top 1 --containers", kNoGpu,
                        MEMOPT_BINARY, node),
            160, 40);
  ASSERT_THAT(tmux.await_text("CONTAINERS", std::chrono::seconds(10)), HasSubstr("Enter open"));
  // Other tests' cgroups may sit beside it: the filter keeps ours.
  tmux.keys({"/", name, "Enter"});
  auto screen = tmux.await_text(fmt::format("name contains '{}'", name), std::chrono::seconds(3));
  ASSERT_THAT(screen, HasSubstr("CONTAINERS 1 of")) << screen;
  static const std::regex kContainer(R"(^normal\s+[\d.]+%\s+\S+ \S+\s+256 MiB\s+)");
  bool listed = false;
  for (const auto& line : lines_of(screen)) {
    if (line.find(name) != std::string::npos && line.find("contains") == std::string::npos) {
      listed = true;
      EXPECT_TRUE(std::regex_search(line, kContainer)) << line;
    }
  }
  EXPECT_TRUE(listed) << screen;

  // Enter opens it: its own figures (the 256 MiB limit) and its process.
  tmux.keys({"Enter"});
  screen = tmux.await(
      [&](const std::string& t) {
        return t.find("PROCESSES") != std::string::npos &&
               t.find("memopt_test_hol") != std::string::npos;
      },
      std::chrono::seconds(10));
  auto lines = lines_of(screen);
  ASSERT_GE(lines.size(), 2u) << screen;
  EXPECT_THAT(lines[0], HasSubstr(name)) << screen;
  EXPECT_THAT(lines[1], HasSubstr("of 256 MiB")) << screen;
  EXPECT_THAT(screen, HasSubstr(std::to_string(holder.pid()))) << screen;
  EXPECT_THAT(screen, HasSubstr("Esc back")) << screen;
  // Esc goes back to the list.
  tmux.keys({"Escape"});
  screen = tmux.await_text("CONTAINERS", std::chrono::seconds(10));
  EXPECT_THAT(screen, HasSubstr("CONTAINERS")) << screen;
  EXPECT_THAT(screen, Not(HasSubstr("PROCESSES"))) << screen;
  tmux.keys({"q"});
}

}  // namespace
}  // namespace memopt::testing
