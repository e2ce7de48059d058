#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <thread>

#include "inprocess/self.hpp"
#include "memopt/error.hpp"
#include "memopt/inprocess.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/self.hpp"
#include "memopt/sys/socket.hpp"

namespace memopt {

namespace {

constexpr const char* kSystemRuntimeDir = "/run/memopt";
constexpr std::size_t kMaxRequest = 256;
constexpr auto kRequestTimeout = std::chrono::milliseconds(2000);
constexpr auto kPollInterval = std::chrono::milliseconds(1000);

std::string user_runtime_dir() { return "/tmp/memopt-" + std::to_string(sys::effective_uid()); }

// A directory we may put our socket in: ours (or root's system one), not writable by others.
bool usable_dir(const std::string& dir) {
  uid_t owner = 0;
  mode_t mode = 0;
  if (!sys::file_owner(dir, owner, mode) || !S_ISDIR(mode)) return false;
  if (owner != sys::effective_uid() && owner != 0) return false;
  if (dir != kSystemRuntimeDir && (mode & 0022) != 0) return false;
  return sys::is_writable(dir);
}

void remove_stale_sockets(const std::string& dir) {
  const auto procfs = sys::default_roots().procfs;
  for (const auto& name : sys::list_directory(dir)) {
    const auto pid = sys::cleanup_socket_pid(name);
    if (pid && !sys::exists(procfs + "/" + std::to_string(*pid))) {
      // A socket left by a process that died without stopping its server; losing the race
      // with another process removing it too is fine.
      [[maybe_unused]] const int err = sys::remove_file(dir + "/" + name);
    }
  }
}

class SocketServer final : public CleanupServer {
 public:
  explicit SocketServer(std::string path)
      : path_(std::move(path)), listener_(sys::Socket::listen(path_, 0600)) {
    thread_ = std::thread([this] { serve(); });
  }
  ~SocketServer() override { stop(); }

  void stop() override {
    if (stopping_.exchange(true)) return;
    wake_.signal();
    if (thread_.joinable()) thread_.join();
    [[maybe_unused]] const int err = sys::remove_file(path_);
  }

  [[nodiscard]] const std::string& socket_path() const override { return path_; }

 private:
  void serve() {
    while (!stopping_.load()) {
      auto connection = listener_.accept(kPollInterval, wake_.fd());
      if (connection) answer(*connection);
    }
  }

  static void answer(const sys::Socket& connection) {
    const auto peer = connection.peer();
    const auto own_uid = sys::effective_uid();
    if (!peer || (peer->uid != own_uid && peer->uid != 0)) {
      const nlohmann::json refusal = {
          {"error", peer ? "refused: peer uid " + std::to_string(peer->uid) + " is neither " +
                               std::to_string(own_uid) + " nor root"
                         : std::string("refused: peer credentials unknown")}};
      [[maybe_unused]] const int err = connection.send_all(refusal.dump() + "\n");
      return;
    }
    const auto request = connection.receive_line(kRequestTimeout, kMaxRequest);
    if (!request) return;
    std::string reply;
    if (*request == "cleanup") {
      reply = cleanup_result_json(cleanup());
    } else if (*request == "ping") {
      reply = nlohmann::json{{"pid", sys::self_pid()}, {"rss_bytes", inprocess::self_rss_bytes()}}
                  .dump();
    } else {
      reply = nlohmann::json{{"error", "unknown request (expected 'cleanup' or 'ping')"}}.dump();
    }
    [[maybe_unused]] const int err = connection.send_all(reply + "\n");
  }

  std::string path_;
  sys::Socket listener_;
  sys::WakeEvent wake_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace

std::string runtime_directory() {
  if (auto dir = sys::environment("MEMOPT_RUNTIME_DIR"); dir && !dir->empty()) {
    if (!sys::is_directory(*dir)) {
      if (const int err = sys::make_directory_mode(*dir, 0700); err != 0 && err != EEXIST) {
        throw Error("cannot create runtime directory " + *dir + ": " + sys::error_text(err));
      }
    }
    return *dir;
  }
  if (!sys::is_directory(kSystemRuntimeDir)) {
    // Only root can make it; everyone else falls through to a private one under /tmp.
    [[maybe_unused]] const int err = sys::make_directory_mode(kSystemRuntimeDir, 0755);
  }
  if (usable_dir(kSystemRuntimeDir)) return kSystemRuntimeDir;
  const auto dir = user_runtime_dir();
  if (!sys::is_directory(dir)) {
    if (const int err = sys::make_directory_mode(dir, 0700); err != 0 && err != EEXIST) {
      throw Error("cannot create runtime directory " + dir + ": " + sys::error_text(err));
    }
  }
  if (!usable_dir(dir)) {
    throw Error("runtime directory " + dir + " belongs to another user or is writable by others");
  }
  return dir;
}

std::vector<std::string> runtime_directories_to_scan() {
  if (auto dir = sys::environment("MEMOPT_RUNTIME_DIR"); dir && !dir->empty()) return {*dir};
  std::vector<std::string> dirs;
  for (const auto& dir : {std::string(kSystemRuntimeDir), user_runtime_dir()}) {
    if (sys::is_directory(dir)) dirs.push_back(dir);
  }
  return dirs;
}

std::unique_ptr<CleanupServer> serve_cleanup() {
  const auto dir = runtime_directory();
  remove_stale_sockets(dir);
  return std::make_unique<SocketServer>(dir + "/" + sys::cleanup_socket_name(sys::self_pid()));
}

}  // namespace memopt
