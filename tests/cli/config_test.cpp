// One configuration for every command: `--config FILE` (before or after the command), else
// $MEMOPT_CONFIG, read by report, --check, diagnose, run, cleanup, monitor and --listen alike.
// Once only the monitor read it, and a tuned sidecar and `memopt report` disagreed on the level.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

const std::string kNoNvml = "MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1";

// shared-workers: 2.05 GiB of 8 GiB used, 25.6%: normal by default, a warning above 10%.
constexpr const char* kFixture = "shared-workers";
constexpr const char* kWarnAt10 = "[thresholds]\nacceptable_percent = 5\nwarning_percent = 10\n";

/// `memopt ARGS --procfs TREE/proc --sysfs TREE/sys`, without NVML.
RunResult on_tree(const TempTree& tree, std::vector<std::string> args,
                  std::vector<std::string> env = {}) {
  args.insert(args.end(), {"--procfs", tree.path("proc"), "--sysfs", tree.path("sys")});
  env.push_back(kNoNvml);
  return run_memopt(args, env);
}

std::string report_level(const RunResult& result) {
  return nlohmann::json::parse(result.out)["status"]["level"].get<std::string>();
}

/// The level of the first sample `monitor --json` printed.
std::string first_sample_level(const RunResult& result) {
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) {
    const auto json = nlohmann::json::parse(line);
    if (json["type"] == "sample") return json["status"]["level"].get<std::string>();
  }
  return "no sample in: " + result.out;
}

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// The body of GET `path` on loopback `port`, or "" when nothing answered 200.
std::string http_get(std::uint16_t port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request =
        "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) response.append(buffer, n);
    }
  }
  ::close(fd);
  if (response.rfind("HTTP/1.1 200", 0) != 0) return "";
  const auto body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

/// The value of the unlabelled series `name` in a Prometheus text page, or "" when absent.
std::string metric(const std::string& page, const std::string& name) {
  std::istringstream in(page);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + " ", 0) == 0) return line.substr(name.size() + 1);
  }
  return "";
}

TEST(OneConfig, EveryCommandSeesTheLevelTheFileSets) {
  TempTree tree;
  tree.copy_fixture(kFixture);
  const auto config = tree.write("memopt.toml", kWarnAt10);
  // The defaults first: the file, not the fixture, makes the warning below.
  ASSERT_EQ(report_level(on_tree(tree, {"report", "--json"})), "normal");

  // --config as a global flag before the command and after it.
  const auto report = on_tree(tree, {"--config", config, "report", "--json"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_EQ(report_level(report), "warning");
  EXPECT_EQ(nlohmann::json::parse(report.out)["thresholds"]["warning_percent"], 10);

  const auto check = on_tree(tree, {"report", "--check", "--config", config});
  EXPECT_EQ(check.exit_code, 1) << check.out << check.err;  // the plugin's warning
  EXPECT_THAT(check.out, HasSubstr("MEMOPT WARNING - used 25.6%"));
  EXPECT_THAT(check.out, HasSubstr("used_percent=25.63%;10;90;"));

  const auto diagnose = on_tree(tree, {"diagnose", "--json", "--config", config});
  ASSERT_EQ(diagnose.exit_code, 0) << diagnose.err;
  EXPECT_EQ(nlohmann::json::parse(diagnose.out)["report"]["status"]["level"], "warning");

  const auto monitor = on_tree(tree, {"monitor", "--json", "--duration", "1", "--config", config});
  ASSERT_EQ(monitor.exit_code, 0) << monitor.err;
  EXPECT_EQ(first_sample_level(monitor), "warning");

  // --listen: the exporter's /api/report and /metrics.
#if defined(__SANITIZE_ADDRESS__)
  // ASan's dlopen interceptor resolves $ORIGIN against libasan's directory, so the sanitized
  // memopt cannot load its HTTP module; the HTTP tests are integration tests, run unsanitized.
  GTEST_SKIP() << "--listen under ASan: the HTTP module is not found through $ORIGIN";
#endif
  const auto port = std::to_string(free_port());
  Background listen(
      {MEMOPT_BINARY, "monitor", "60", "--config", config, "--listen", "127.0.0.1:" + port,
       "--procfs", tree.path("proc"), "--sysfs", tree.path("sys")},
      {kNoNvml});
  std::string api;
  for (int i = 0; i < 200 && api.empty(); ++i) {
    api = http_get(static_cast<std::uint16_t>(std::stoi(port)), "/api/report");
    if (api.empty()) std::this_thread::sleep_for(50ms);
  }
  ASSERT_FALSE(api.empty()) << "nothing served /api/report on port " << port;
  EXPECT_EQ(nlohmann::json::parse(api)["status"]["level"], "warning");
  const auto metrics = http_get(static_cast<std::uint16_t>(std::stoi(port)), "/metrics");
  EXPECT_EQ(metric(metrics, "memopt_status_level"), "2") << metrics;  // 2: warning
}

// Issue 31: a pid file that protects nothing was said only on the monitor's stderr. A check
// with the same file says it, and a normal level becomes the plugin's warning.
TEST(OneConfig, CheckSaysWhichPidFilesProtectNothing) {
  TempTree tree;
  tree.copy_fixture(kFixture);
  const auto good = tree.write("server.pid", "100\n");  // a process of the fixture
  const auto stale = tree.write("stale.pid", "99999\n");
  const auto garbage = tree.write("garbage.pid", "not a pid\n");
  const auto missing = tree.path("missing.pid");
  const auto files = fmt::format(R"(["{}", "{}", "{}", "{}"])", good, stale, garbage, missing);

  const auto bad = on_tree(
      tree, {"report", "--check", "--config",
             tree.write("bad.toml", "[protect]\nenabled = true\npid_files = " + files + "\n")});
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_THAT(bad.out, HasSubstr("MEMOPT WARNING - protect: pid file " + stale +
                                 " names pid 99999, which is not running: it protects nothing; "
                                 "protect: pid file " +
                                 garbage + " holds no pid; protect: pid file " + missing +
                                 " cannot be read: "));
  EXPECT_THAT(bad.out, HasSubstr("; used 25.6%"));
  EXPECT_THAT(bad.out, Not(HasSubstr(good)));

  const auto sound = on_tree(
      tree, {"report", "--check", "--config",
             tree.write("good.toml",
                        fmt::format("[protect]\nenabled = true\npid_files = [\"{}\"]\n", good))});
  EXPECT_EQ(sound.exit_code, 0) << sound.out << sound.err;
  EXPECT_THAT(sound.out, HasSubstr("MEMOPT NORMAL - used 25.6%"));

  // Protection off: its pid files are nobody's concern.
  const auto off = on_tree(
      tree, {"report", "--check", "--config",
             tree.write("off.toml", "[protect]\nenabled = false\npid_files = " + files + "\n")});
  EXPECT_EQ(off.exit_code, 0) << off.out << off.err;

  // Beside a warning level the problems come first, and the exit code stays the level's.
  const auto warn = on_tree(
      tree, {"report", "--check", "--config",
             tree.write("warn.toml", std::string(kWarnAt10) + "[protect]\nenabled = true\n" +
                                         "pid_files = [\"" + missing + "\"]\n")});
  EXPECT_EQ(warn.exit_code, 1) << warn.out;
  EXPECT_THAT(warn.out, HasSubstr("MEMOPT WARNING - protect: pid file " + missing));
}

TEST(OneConfig, TheFlagOverridesTheEnvironmentWhichOverridesTheDefaults) {
  TempTree tree;
  tree.copy_fixture(kFixture);
  const auto warn = tree.write("warn.toml", kWarnAt10);
  // A file that moves nothing the level depends on: the defaults' thresholds.
  const auto plain = tree.write("plain.toml", "[monitor]\ntop = 3\n");

  const auto from_env = on_tree(tree, {"report", "--json"}, {"MEMOPT_CONFIG=" + warn});
  ASSERT_EQ(from_env.exit_code, 0) << from_env.err;
  EXPECT_EQ(report_level(from_env), "warning");
  const auto check = on_tree(tree, {"report", "--check"}, {"MEMOPT_CONFIG=" + warn});
  EXPECT_EQ(check.exit_code, 1) << check.out;
  const auto monitor =
      on_tree(tree, {"monitor", "--json", "--duration", "1"}, {"MEMOPT_CONFIG=" + warn});
  EXPECT_EQ(first_sample_level(monitor), "warning");

  const auto flag_wins =
      on_tree(tree, {"report", "--json", "--config", plain}, {"MEMOPT_CONFIG=" + warn});
  ASSERT_EQ(flag_wins.exit_code, 0) << flag_wins.err;
  EXPECT_EQ(report_level(flag_wins), "normal");
  const auto monitor_flag_wins = on_tree(
      tree, {"monitor", "--json", "--duration", "1", "--config", plain}, {"MEMOPT_CONFIG=" + warn});
  EXPECT_EQ(first_sample_level(monitor_flag_wins), "normal");

  // Set and empty is unset.
  const auto empty = on_tree(tree, {"report", "--json"}, {"MEMOPT_CONFIG="});
  ASSERT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_EQ(report_level(empty), "normal");
}

TEST(OneConfig, ABadFileIsTheSameErrorAndExitCodeInEveryCommand) {
  TempTree tree;
  tree.copy_fixture(kFixture);
  const auto bad =
      tree.write("bad.toml", "[thresholds]\nwarning_percent = 10\nsevere_percent = \"high\"\n");
  const std::string why = bad + ":3: [thresholds] severe_percent: expected a number";
  const auto marker = tree.path("ran");
  const std::vector<std::vector<std::string>> commands{
      {"report"},
      {"report", "--json"},
      {"report", "--check"},
      {"report", "--format", "prometheus"},
      {"diagnose"},
      {"monitor", "--duration", "1"},
      {"monitor", "--duration", "1", "--listen", "127.0.0.1:" + std::to_string(free_port())},
      {"cleanup", "--dry-run"},
      {"run", "--", "touch", marker},
  };
  for (const auto& command : commands) {
    for (const bool from_env : {false, true}) {
      SCOPED_TRACE(command.front() + (command.size() > 1 ? " " + command[1] : "") +
                   (from_env ? " with $MEMOPT_CONFIG" : " with --config"));
      auto args = command;
      std::vector<std::string> env;
      if (from_env) {
        env.push_back("MEMOPT_CONFIG=" + bad);
      } else {
        args.insert(args.begin(), {"--config", bad});
      }
      const auto result = on_tree(tree, args, env);
      EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
      EXPECT_EQ(result.err, "memopt: " + why + "\n");
      EXPECT_EQ(result.out, "") << "it went on with a bad config";
    }
  }
  EXPECT_FALSE(std::filesystem::exists(marker)) << "run started the command";
}

TEST(OneConfig, AFileThatCannotBeReadIsNamedWithWhoNamedIt) {
  TempTree tree;
  tree.copy_fixture(kFixture);
  const auto missing = tree.path("missing.toml");
  for (const char* command : {"report", "diagnose", "cleanup"}) {
    SCOPED_TRACE(command);
    const auto by_flag = on_tree(tree, {command, "--config", missing});
    EXPECT_EQ(by_flag.exit_code, 2);
    EXPECT_THAT(by_flag.err, HasSubstr("--config: cannot read " + missing));
    const auto by_env = on_tree(tree, {command}, {"MEMOPT_CONFIG=" + missing});
    EXPECT_EQ(by_env.exit_code, 2);
    EXPECT_THAT(by_env.err, HasSubstr("$MEMOPT_CONFIG: cannot read " + missing));
  }
}

}  // namespace
}  // namespace memopt::testing
