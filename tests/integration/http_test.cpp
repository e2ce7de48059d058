// `memopt monitor --listen`: a real monitor process serving on loopback, probed with raw
// sockets (many at once, slow, garbage), checked by promtool, scraped by a real Prometheus,
// and its live page rendered by headless Chromium.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string_view>
#include <thread>

#include "support/cgroup.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

extern char** environ;

namespace memopt::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

/// A child process that runs until this object goes; output goes to files.
class Child {
 public:
  Child(std::vector<std::string> argv, const std::string& out, const std::string& err,
        const std::vector<std::string>& env = {}) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
    env_strings.insert(env_strings.end(), env.begin(), env.end());
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<char*> argp;
    for (auto& a : argv) argp.push_back(a.data());
    argp.push_back(nullptr);
    if (posix_spawn(&pid_, argp[0], &actions, nullptr, argp.data(), envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Child() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(50ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] bool alive() const {
    int status = 0;
    return pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == 0;
  }

 private:
  pid_t pid_ = -1;
};

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

int connect_to(std::uint16_t port, int timeout_s = 30) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

struct Response {
  int status = 0;  ///< 0: no answer
  std::string headers;
  std::string body;
};

/// Sends `request` as is and reads until the server closes.
Response send_raw(std::uint16_t port, const std::string& request, int timeout_s = 30) {
  Response r;
  const int fd = connect_to(port, timeout_s);
  if (fd < 0) return r;
  std::size_t sent = 0;
  while (sent < request.size()) {
    const auto n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  std::string all;
  char buf[65536];
  for (;;) {
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    all.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto end = all.find("\r\n\r\n");
  if (all.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return r;
  r.status = std::stoi(all.substr(9, 3));
  r.headers = all.substr(0, end);
  r.body = all.substr(end + 4);
  return r;
}

Response get(std::uint16_t port, const std::string& path, const std::string& method = "GET") {
  return send_raw(
      port, method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
}

std::optional<double> metric(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return std::nullopt;
}

std::uint64_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

const char* executable(const char* path) { return ::access(path, X_OK) == 0 ? path : nullptr; }

class Http : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempTree;
    port_ = free_port();
    monitor_ = new Child(
        {MEMOPT_BINARY, "monitor", "1", "--json", "--listen", "127.0.0.1:" + std::to_string(port_)},
        tmp_->path("monitor.out"), tmp_->path("monitor.err"),
        {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
    for (int i = 0; i < 300 && get(port_, "/healthz").status != 200; ++i)
      std::this_thread::sleep_for(50ms);
  }
  static void TearDownTestSuite() {
    delete monitor_;
    delete tmp_;
  }
  void SetUp() override {
    ASSERT_EQ(get(port_, "/healthz").status, 200)
        << "the monitor did not come up: " << slurp(tmp_->path("monitor.err"));
  }
  void TearDown() override { EXPECT_TRUE(monitor_->alive()) << slurp(tmp_->path("monitor.err")); }

  static inline TempTree* tmp_ = nullptr;
  static inline Child* monitor_ = nullptr;
  static inline std::uint16_t port_ = 0;
};

TEST_F(Http, MetricsPassPromtoolAndAgreeWithTheReport) {
  // Two identical scrapes around the report: all three come from the same snapshot.
  Response m1, report, m2;
  for (int i = 0; i < 20; ++i) {
    m1 = get(port_, "/metrics");
    report = get(port_, "/api/report");
    m2 = get(port_, "/metrics");
    if (m1.body == m2.body) break;
  }
  ASSERT_EQ(m1.status, 200);
  ASSERT_EQ(m1.body, m2.body);
  EXPECT_THAT(m1.headers, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  const auto doc = nlohmann::json::parse(report.body);
  EXPECT_EQ(*metric(m1.body, "memopt_memory_limit_bytes"),
            doc["memory"]["limit_bytes"].get<double>());
  EXPECT_EQ(*metric(m1.body, "memopt_memory_used_bytes"),
            doc["memory"]["used_bytes"].get<double>());
  EXPECT_EQ(*metric(m1.body, "memopt_memory_available_bytes"),
            doc["memory"]["available_bytes"].get<double>());
  EXPECT_EQ(*metric(m1.body, "memopt_up"), 1);
  EXPECT_THAT(m1.body, HasSubstr("memopt_events_total{event=\"level_changed\"}"));
  EXPECT_EQ(m1.body.find("cmdline"), std::string::npos);

  if (executable("/usr/bin/promtool") == nullptr)
    GTEST_SKIP() << "promtool is not installed (Debian prometheus)";
  const auto path = tmp_->write("metrics.txt", m1.body);
  const auto check = run_command({"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + path});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_EQ(check.out + check.err, "");
}

TEST_F(Http, ApiEndpointsAndErrors) {
  // The first point arrives with the first quick observation after the first sample.
  Response history;
  nlohmann::json h;
  for (int i = 0; i < 100 && (h.is_null() || h.empty()); ++i) {
    if (i > 0) std::this_thread::sleep_for(100ms);
    history = get(port_, "/api/history");
    ASSERT_EQ(history.status, 200);
    h = nlohmann::json::parse(history.body);
  }
  ASSERT_TRUE(h.is_array());
  ASSERT_FALSE(h.empty());
  for (const char* key : {"t", "used_bytes", "limit_bytes", "available_bytes", "level"}) {
    EXPECT_TRUE(h.back().contains(key)) << key;
  }
  const auto events = get(port_, "/api/events");
  ASSERT_EQ(events.status, 200);
  EXPECT_TRUE(nlohmann::json::parse(events.body).is_array());
  const auto page = get(port_, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_THAT(page.body, HasSubstr("uPlot"));
  EXPECT_EQ(page.body.find("<script src="), std::string::npos) << "the page must not load anything";

  EXPECT_EQ(get(port_, "/nope").status, 404);
  EXPECT_EQ(get(port_, "/metrics/../etc/passwd").status, 404);
  EXPECT_EQ(get(port_, "/metrics", "POST").status, 405);
  EXPECT_EQ(get(port_, "/metrics", "DELETE").status, 405);
  const auto head = get(port_, "/metrics", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
}

TEST_F(Http, PostmortemsAreNotFoundWhenNotRecording) {
  const auto list = get(port_, "/api/postmortems");
  EXPECT_EQ(list.status, 404);
  EXPECT_THAT(list.body, HasSubstr("not recording"));
  for (const char* path : {"/api/postmortems/1", "/api/postmortems/x", "/api/postmortems/"}) {
    EXPECT_EQ(get(port_, path).status, 404) << path;
  }
}

// monitor --record: the list is served (empty before any OOM kill); an id that is not one,
// or does not fit, is 404; /metrics counts the post-mortems.
TEST(HttpRecord, PostmortemsAreListedAndUnknownIdsAreNotFound) {
  TempTree tmp;
  const auto port = free_port();
  Child monitor({MEMOPT_BINARY, "monitor", "1", "--json", "--record=" + tmp.path("history.db"),
                 "--listen", "127.0.0.1:" + std::to_string(port)},
                tmp.path("out"), tmp.path("err"),
                {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
  for (int i = 0; i < 300 && get(port, "/healthz").status != 200; ++i)
    std::this_thread::sleep_for(50ms);
  const auto list = get(port, "/api/postmortems");
  ASSERT_EQ(list.status, 200) << slurp(tmp.path("err"));
  EXPECT_EQ(nlohmann::json::parse(list.body), nlohmann::json::array());
  for (const char* path : {"/api/postmortems/1", "/api/postmortems/-1", "/api/postmortems/1x",
                           "/api/postmortems/99999999999999999999", "/api/postmortemsX"}) {
    EXPECT_EQ(get(port, path).status, 404) << path;
  }
  EXPECT_THAT(get(port, "/metrics").body, HasSubstr("memopt_postmortems_total 0"));
  EXPECT_THAT(get(port, "/").body, HasSubstr("fetch('api/postmortems'"));
  EXPECT_TRUE(monitor.alive()) << slurp(tmp.path("err"));
}

// Issue 25, item 5, as the DaemonSet runs it: real sibling containers (a Docker scope, a
// Kubernetes pod's containerd scope, a CRI-O container of another pod) under one parent, each
// with a limit and a process; `--cgroup PARENT monitor --containers --listen` serves each one's
// series, named, and promtool accepts the page.
TEST(HttpNode, RealSiblingContainersEachHaveTheirNamedSeries) {
  std::string why_not;
  const auto node = testing::TestCgroup::create(&why_not, "node");
  if (!node) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  const std::vector<std::pair<std::string, std::string>> containers{
      {"docker-" + std::string(64, 'a') + ".scope", "docker aaaaaaaaaaaa"},
      {"cri-containerd-" + std::string(64, 'b') + ".scope", "containerd"},
      {"crio-" + std::string(64, 'c'), "cri-o"}};
  // Children first out: the holders end, then the directories go, then the node.
  struct Children {
    std::vector<std::string> dirs;
    ~Children() {
      for (const auto& d : dirs) ::rmdir(d.c_str());
    }
  } children;
  std::vector<std::unique_ptr<testing::Holder>> holders;
  const std::string limit_file = node->version() == 1 ? "memory.limit_in_bytes" : "memory.max";
  for (const auto& container : containers) {
    const auto dir = node->dir() + "/" + container.first;
    ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << dir;
    children.dirs.push_back(dir);
    std::ofstream(dir + "/" + limit_file) << (64u << 20);
    holders.push_back(std::make_unique<testing::Holder>());
    std::ofstream(dir + "/cgroup.procs") << holders.back()->pid();
    ASSERT_TRUE(holders.back()->hold(8));
  }
  TempTree tmp;
  const auto port = free_port();
  Child monitor({MEMOPT_BINARY, "--cgroup", node->dir(), "monitor", "1", "--containers", "--listen",
                 "127.0.0.1:" + std::to_string(port)},
                tmp.path("out"), tmp.path("err"),
                {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
  for (int i = 0; i < 300 && get(port, "/healthz").status != 200; ++i)
    std::this_thread::sleep_for(50ms);
  const auto metrics = get(port, "/metrics");
  ASSERT_EQ(metrics.status, 200) << slurp(tmp.path("err"));
  for (const auto& [name, label] : containers) {
    EXPECT_THAT(metrics.body, HasSubstr(name + "\",name=\"")) << metrics.body;
    EXPECT_THAT(metrics.body, HasSubstr(label)) << name;
  }
  std::istringstream lines(metrics.body);
  int levels = 0;
  for (std::string line; std::getline(lines, line);) {
    levels += line.starts_with("memopt_container_status_level{") ? 1 : 0;
  }
  EXPECT_EQ(levels, 3);
  const auto report = nlohmann::json::parse(get(port, "/api/report").body);
  EXPECT_EQ(report["containers"].size(), 3u);
  if (executable("/usr/bin/promtool") != nullptr) {
    const auto path = tmp.write("metrics.txt", metrics.body);
    const auto check = run_command({"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + path});
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  }
  EXPECT_TRUE(monitor.alive()) << slurp(tmp.path("err"));
}

TEST_F(Http, SurvivesGarbageAndOversizedRequests) {
  std::string garbage(4096, '\0');
  for (std::size_t i = 0; i < garbage.size(); ++i)
    garbage[i] = static_cast<char>((i * 7919 + 13) % 256);
  send_raw(port_, garbage, 10);
  send_raw(port_, "\r\n\r\n\r\n", 10);
  send_raw(port_, "GET /" + std::string(1 << 20, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", 10);
  send_raw(port_, "GET / HTTP/1.1\r\nX-Big: " + std::string(1 << 20, 'b') + "\r\n\r\n", 10);
  const auto big =
      send_raw(port_,
               "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n" +
                   std::string(1 << 20, 'c'),
               10);
  EXPECT_NE(big.status, 200);
  send_raw(port_, "GET /metrics HTTP/9.9\r\n\r\n", 10);
  EXPECT_TRUE(monitor_->alive());
  EXPECT_EQ(get(port_, "/healthz").status, 200);
}

TEST_F(Http, TwoHundredConcurrentClientsAllGetAnswers) {
  const auto before = rss_kib(monitor_->pid());
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 200; ++i) {
    clients.emplace_back([&ok, i] {
      if (get(port_, i % 2 == 0 ? "/metrics" : "/api/report").status == 200) ++ok;
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(ok.load(), 200);
  const auto after = rss_kib(monitor_->pid());
  RecordProperty("rss_kib_before", static_cast<int>(before));
  RecordProperty("rss_kib_after", static_cast<int>(after));
  EXPECT_LT(after, 64u * 1024) << "the monitor's RSS grew to " << after << " KiB";
}

TEST_F(Http, ASlowClientDoesNotBlockOthersAndIsDroppedAfterTheTimeout) {
  const int slow = connect_to(port_);
  ASSERT_GE(slow, 0);
  const std::string partial = "GET /metr";
  ASSERT_EQ(::send(slow, partial.data(), partial.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(partial.size()));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(get(port_, "/healthz").status, 200);
  char c = 0;
  EXPECT_EQ(::recv(slow, &c, 1, MSG_DONTWAIT), -1)
      << "the slow client was answered or closed early";
  // The server's request deadline (5 s) closes it; the socket's own timeout (30 s) bounds the wait.
  const auto n = ::recv(slow, &c, 1, 0);
  EXPECT_LE(n, 0);
  ::close(slow);
  EXPECT_EQ(get(port_, "/healthz").status, 200);
}

TEST_F(Http, ARealPrometheusScrapesIt) {
  const char* prometheus = executable("/usr/bin/prometheus");
  if (prometheus == nullptr)
    GTEST_SKIP() << "prometheus is not installed (Debian package prometheus)";
  const auto prom_port = free_port();
  const auto config = tmp_->write("prometheus.yml",
                                  "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                                  "scrape_configs:\n  - job_name: memopt\n    static_configs:\n"
                                  "      - targets: ['127.0.0.1:" +
                                      std::to_string(port_) + "']\n");
  Child server({prometheus, "--config.file=" + config, "--storage.tsdb.path=" + tmp_->mkdir("tsdb"),
                "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
               tmp_->path("prometheus.out"), tmp_->path("prometheus.err"));
  std::optional<nlohmann::json> result;
  for (int i = 0; i < 120 && !result; ++i) {
    std::this_thread::sleep_for(250ms);
    const auto r = get(prom_port, "/api/v1/query?query=memopt_memory_limit_bytes");
    if (r.status != 200) continue;
    const auto doc = nlohmann::json::parse(r.body, nullptr, false);
    if (!doc.is_discarded() && doc["status"] == "success" && !doc["data"]["result"].empty())
      result = doc;
  }
  ASSERT_TRUE(result) << slurp(tmp_->path("prometheus.err"));
  const auto report = nlohmann::json::parse(get(port_, "/api/report").body);
  const auto value = (*result)["data"]["result"][0]["value"][1].get<std::string>();
  EXPECT_EQ(std::stod(value), report["memory"]["limit_bytes"].get<double>());
  const auto up = get(prom_port, "/api/v1/query?query=up%7Bjob%3D%22memopt%22%7D");
  EXPECT_THAT(up.body, HasSubstr("\"1\"]")) << up.body;
}

TEST_F(Http, TheLivePageRendersInHeadlessChromium) {
  if (chromium() == nullptr)
    GTEST_SKIP() << "chromium is not installed (scripts/setup.sh installs it)";
  const std::string url = "http://127.0.0.1:" + std::to_string(port_) + "/";

  auto dump = headless_chromium(tmp_->mkdir("profile"), 5000);
  dump.insert(dump.end(), {"--dump-dom", url});
  const auto dom = run_command(dump);
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  EXPECT_THAT(dom.out, HasSubstr("data-rendered=\"yes\"")) << "the page script did not finish";
  EXPECT_THAT(dom.out, HasSubstr("class=\"uplot"));
  EXPECT_THAT(dom.out, HasSubstr("<canvas"));
  const auto report = nlohmann::json::parse(get(port_, "/api/report").body);
  const auto limit = report["memory"]["limit_bytes"].get<std::uint64_t>();
  EXPECT_THAT(dom.out, HasSubstr("id=\"limit\" data-bytes=\"" + std::to_string(limit) + "\""));
  EXPECT_THAT(dom.out, HasSubstr("data-level=\""));
  // The /dev/shm panel, with the report's own figures (the size; used moves with other users),
  // or hidden when the report has none.
  if (report["dev_shm"].is_object()) {
    const auto shm_size = report["dev_shm"]["size_bytes"].get<std::uint64_t>();
    EXPECT_THAT(dom.out,
                HasSubstr("id=\"shm-size\" data-bytes=\"" + std::to_string(shm_size) + "\""));
    EXPECT_THAT(dom.out, HasSubstr("id=\"shm-used\" data-bytes=\""));
    EXPECT_THAT(dom.out, HasSubstr("id=\"shm-orphans\""));
    EXPECT_THAT(dom.out, ::testing::Not(HasSubstr("id=\"shm-section\" hidden")));
  } else {
    EXPECT_THAT(dom.out, HasSubstr("id=\"shm-section\" hidden"));
  }

  const std::filesystem::path artifacts = std::filesystem::path(MEMOPT_ARTIFACTS);
  std::filesystem::create_directories(artifacts);
  auto shot = headless_chromium(tmp_->mkdir("profile2"), 5000);
  shot.insert(shot.end(), {"--window-size=1200,900",
                           "--screenshot=" + (artifacts / "live_page.png").string(), url});
  const auto screenshot = run_command(shot);
  EXPECT_EQ(screenshot.exit_code, 0) << screenshot.err;
  EXPECT_GT(std::filesystem::file_size(artifacts / "live_page.png"), 10'000u)
      << "blank screenshot?";
}

// --- Slow and greedy clients (issue 18). Each of these failed against the cpp-httplib server.

/// Sends `data`, ignoring a reset (the server may close before reading it all).
void send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

/// What came back before the server closed; `closed` false when the socket's timeout ran out.
struct Received {
  std::string data;
  bool closed = false;
};

Received read_until_closed(int fd) {
  Received r;
  char buf[65536];
  for (;;) {
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      r.data.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    r.closed = n == 0 || errno == ECONNRESET;
    return r;
  }
}

int status_of(const std::string& data) {
  return data.rfind("HTTP/1.1 ", 0) == 0 ? std::stoi(data.substr(9, 3)) : 0;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::size_t open_sockets(pid_t pid) {
  std::size_t n = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(entry.path(), ec).string().rfind("socket:", 0) == 0) ++n;
  }
  return n;
}

/// A header line of 1 KiB.
std::string header_line(int i) {
  auto line = "X-Filler-" + std::to_string(i) + ": ";
  return line + std::string(1024 - line.size() - 2, 'f') + "\r\n";
}

/// Slow-loris sockets, each sending a byte a second of a request that never ends, until stopped.
class SlowClients {
 public:
  SlowClients(std::uint16_t port, int n) {
    for (int i = 0; i < n; ++i) {
      const int fd = connect_to(port, 60);
      if (fd < 0) continue;
      send_all(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n");
      fds_.push_back(fd);
    }
    thread_ = std::thread([this] {
      for (int tick = 0; !stop_; ++tick) {
        for (const int fd : fds_) ::send(fd, "X", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(100ms);
      }
    });
  }
  ~SlowClients() {
    stop_ = true;
    thread_.join();
    for (const int fd : fds_) ::close(fd);
  }
  SlowClients(const SlowClients&) = delete;
  SlowClients& operator=(const SlowClients&) = delete;
  [[nodiscard]] const std::vector<int>& fds() const { return fds_; }

 private:
  std::vector<int> fds_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(Http, TwoHundredSlowLorisClientsDoNotStopMetrics) {
  const SlowClients slow(port_, 200);
  ASSERT_EQ(slow.fds().size(), 200u);
  std::this_thread::sleep_for(500ms);
  // Each probe has 10 s (connect_to's socket timeouts): the old server answered none of them.
  int answered = 0;
  for (int i = 0; i < 10; ++i) {
    if (send_raw(port_, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 10)
            .status == 200)
      ++answered;
  }
  EXPECT_EQ(answered, 10);
}

TEST_F(Http, AClientSendingAByteASecondIsClosedByTheWholeRequestDeadline) {
  const SlowClients slow(port_, 3);
  ASSERT_EQ(slow.fds().size(), 3u);
  // Every read gets a byte within a second, so a per-read timeout never fires; the 5 s
  // deadline on the whole request does. Each socket's own timeout (60 s) bounds the wait.
  for (const int fd : slow.fds()) {
    const auto got = read_until_closed(fd);
    EXPECT_TRUE(got.closed) << "still open after 60 s of trickling";
    EXPECT_EQ(status_of(got.data), 0) << got.data;  // closed, not answered
  }
}

TEST_F(Http, AnOverlongRequestLineIs414AndClosed) {
  // Up to 8 KiB is served.
  const std::string fits = "/metrics?" + std::string(8000, 'a');
  EXPECT_EQ(get(port_, fits).status, 200);

  const int fd = connect_to(port_, 10);
  ASSERT_GE(fd, 0);
  send_all(fd, "GET /metrics?" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto got = read_until_closed(fd);
  ::close(fd);
  EXPECT_EQ(status_of(got.data), 414) << got.data.substr(0, 200);
  EXPECT_TRUE(got.closed);
  EXPECT_EQ(count(got.data, "HTTP/1.1 "), 1u);
}

TEST_F(Http, AHugeRequestLineIsRefusedWithoutBeingBuffered) {
  // 64 MiB without a newline: the server must answer (or reset) and close long before the end;
  // the old one read all of it (and kept the memory).
  const int fd = connect_to(port_, 10);
  ASSERT_GE(fd, 0);
  std::size_t taken = 0;
  std::thread sender([fd, &taken] {
    send_all(fd, "GET /");
    const std::string chunk(1 << 20, 'a');
    for (int i = 0; i < 64; ++i) {
      if (::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) <= 0) return;
      taken += chunk.size();
    }
  });
  const auto got = read_until_closed(fd);
  sender.join();
  ::close(fd);
  EXPECT_TRUE(got.closed) << "the server kept reading the request line";
  // What the kernel's socket buffers hold is at most a few MiB.
  EXPECT_LT(taken, 16u << 20) << "bytes of the request line the server took";
  if (!got.data.empty()) {
    EXPECT_EQ(status_of(got.data), 414) << got.data.substr(0, 200);
  }
  EXPECT_EQ(get(port_, "/healthz").status, 200);
}

TEST_F(Http, HeadersOver64KiBAre431AndClosed) {
  std::string headers;
  for (int i = 0; i < 40; ++i) headers += header_line(i);
  // 40 KiB of headers is served...
  EXPECT_EQ(
      send_raw(port_,
               "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers + "\r\n", 10)
          .status,
      200);
  // ...70 KiB is not.
  for (int i = 40; i < 70; ++i) headers += header_line(i);
  const int fd = connect_to(port_, 10);
  ASSERT_GE(fd, 0);
  send_all(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n");
  const auto got = read_until_closed(fd);
  ::close(fd);
  EXPECT_EQ(status_of(got.data), 431) << got.data.substr(0, 200);
  EXPECT_TRUE(got.closed);
}

TEST_F(Http, ConnectionLimitIsHonouredAndNewClientsStillGetIn) {
  // 400 idle connections, more than the 256 allowed: the extra ones are closed at once, idle
  // ones near the limit soon after, and a scrape still gets through.
  std::vector<int> idle;
  for (int i = 0; i < 400; ++i) {
    const int fd = connect_to(port_, 10);
    if (fd >= 0) idle.push_back(fd);
  }
  std::this_thread::sleep_for(300ms);
  const auto held = open_sockets(monitor_->pid());
  EXPECT_LE(held, 256u + 8u) << "sockets open in the monitor";
  const auto probe =
      send_raw(port_, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 10);
  EXPECT_EQ(probe.status, 200);
  for (const int fd : idle) ::close(fd);
}

TEST_F(Http, RangeIsIgnoredOnMetrics) {
  const auto r = send_raw(
      port_, "GET /metrics HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.headers, ::testing::Not(HasSubstr("Content-Range")));
  EXPECT_GT(r.body.size(), 10u);
  EXPECT_THAT(r.body, HasSubstr("memopt_up"));
}

TEST_F(Http, AChunkedPostBodyIsNotParsedAsFurtherRequests) {
  const std::string inner = "GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n";
  char size[16];
  std::snprintf(size, sizeof size, "%zx", inner.size());
  const std::string body = std::string(size) + "\r\n" + inner + "\r\n0\r\n\r\n";
  // Refused, closed, the body never read.
  const int fd = connect_to(port_, 10);
  ASSERT_GE(fd, 0);
  send_all(fd, "POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body);
  const auto got = read_until_closed(fd);
  ::close(fd);
  EXPECT_EQ(status_of(got.data), 405) << got.data.substr(0, 300);
  EXPECT_EQ(count(got.data, "HTTP/1.1 "), 1u) << got.data.substr(0, 600);
  EXPECT_TRUE(got.closed);
  // A GET with a chunked body: answered once; the body is read as a body.
  const auto get_with_body = send_raw(port_,
                                      "GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                                      "chunked\r\nConnection: close\r\n\r\n" +
                                          body,
                                      10);
  EXPECT_EQ(get_with_body.status, 200);
  EXPECT_EQ(count(get_with_body.body, "HTTP/1.1 "), 0u);
}

}  // namespace
}  // namespace memopt::testing

namespace memopt::testing {
namespace {

TEST(HttpListen, APortInUseIsSaid) {
  const int taken = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(taken, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(taken, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(taken, reinterpret_cast<sockaddr*>(&addr), &len);
  const auto port = std::to_string(ntohs(addr.sin_port));
  const auto r = run_memopt({"monitor", "1", "--duration", "1", "--listen", "127.0.0.1:" + port},
                            {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
  ::close(taken);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err,
              HasSubstr("cannot listen on 127.0.0.1:" + port + ": port " + port + " is in use"));
}

TEST(HttpListen, IPv6AddressesArePrintedWithBrackets) {
  const int taken = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  if (taken < 0 || ::bind(taken, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (taken >= 0) ::close(taken);
    GTEST_SKIP() << "no IPv6 loopback here";
  }
  ASSERT_EQ(::listen(taken, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(taken, reinterpret_cast<sockaddr*>(&addr), &len);
  const auto port = std::to_string(ntohs(addr.sin6_port));
  const std::vector<std::string> env = {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"};
  const auto in_use =
      run_memopt({"monitor", "1", "--duration", "1", "--listen", "[::1]:" + port}, env);
  ::close(taken);
  EXPECT_THAT(in_use.err, HasSubstr("cannot listen on [::1]:" + port + ": port " + port));

  // Free now: served, and announced with brackets.
  const auto served =
      run_memopt({"monitor", "1", "--duration", "1", "--listen", "[::1]:" + port}, env);
  EXPECT_EQ(served.exit_code, 0) << served.err;
  EXPECT_THAT(served.err, HasSubstr("serving http://[::1]:" + port + "/"));
}

}  // namespace
}  // namespace memopt::testing

namespace memopt::testing {
namespace {

// The sidecar layout with the exporter: memopt in its own cgroup watches the model's with
// --listen. At a warning, every output — the printed event, the sample line, /api/report,
// /metrics, /api/history and /api/events — says warning; back down, every one says normal.
TEST(HttpSidecar, EveryOutputAgreesOnTheTargetsLevel) {
  std::string why_not;
  const auto model = TestCgroup::create(&why_not);
  const auto sidecar = model ? TestCgroup::create(&why_not) : nullptr;
  if (!model || !sidecar) GTEST_SKIP() << "cannot create memory cgroups here: " << why_not;
  model->set_limit(512ull << 20);
  sidecar->set_limit(64ull << 20);
  Holder holder;
  model->add(holder.pid());
  ASSERT_TRUE(holder.hold(100));

  TempTree tmp;
  const auto port = free_port();
  auto argv = sidecar->enter_command();
  argv[0] = "/bin/sh";  // Child uses posix_spawn, which does not search PATH
  argv.insert(argv.end(), {MEMOPT_BINARY, "monitor", "60", "--json", "--cgroup", model->dir(),
                           "--listen", "127.0.0.1:" + std::to_string(port)});
  Child monitor(argv, tmp.path("out"), tmp.path("err"),
                {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
  for (int i = 0; i < 300 && get(port, "/api/report").status != 200; ++i)
    std::this_thread::sleep_for(50ms);

  const auto level_everywhere = [&](const std::string& level) {
    std::string seen;
    for (int i = 0; i < 100; ++i) {  // the snapshot follows within a second
      const auto report = nlohmann::json::parse(get(port, "/api/report").body);
      const auto metrics = get(port, "/metrics").body;
      const auto history = nlohmann::json::parse(get(port, "/api/history").body);
      const std::vector<std::string> names = {"normal", "acceptable", "warning", "severe",
                                              "danger"};
      const auto index = std::find(names.begin(), names.end(), level) - names.begin();
      const bool agree = report["status"]["level"] == level &&
                         metric(metrics, "memopt_status_level") == static_cast<double>(index) &&
                         !history.empty() && history.back()["level"] == level;
      seen = report["status"]["level"].dump();
      if (agree) return true;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "not every output says " << level << "; the report says " << seen;
    return false;
  };
  ASSERT_TRUE(level_everywhere("normal")) << slurp(tmp.path("err"));

  ASSERT_TRUE(holder.hold(430));  // ~84.5% of 512 MiB: a warning, 78 MiB above danger
  EXPECT_TRUE(level_everywhere("warning"));
  const auto events = nlohmann::json::parse(get(port, "/api/events").body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back()["level"], "warning");
  EXPECT_THAT(slurp(tmp.path("out")), HasSubstr("\"event\":\"level_changed\""));

  ASSERT_TRUE(holder.hold(100));
  EXPECT_TRUE(level_everywhere("normal"));
  const auto metrics = get(port, "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("memopt_target_info{kind=\"cgroup\""));
}

}  // namespace
}  // namespace memopt::testing
