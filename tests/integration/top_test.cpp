// `memopt top` in a real terminal: tmux runs it against a real 1 GiB cgroup, keys sort, filter
// and quit, capture-pane's text is checked against `memopt report` of the same cgroup, a resize
// redraws, and a crossing of the warning threshold shows within one interval.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

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

}  // namespace
}  // namespace memopt::testing
