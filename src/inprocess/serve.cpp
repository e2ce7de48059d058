#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <system_error>
#include <thread>

#include "inprocess/self.hpp"
#include "memopt/error.hpp"
#include "memopt/inprocess.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/process.hpp"
#include "memopt/sys/self.hpp"
#include "memopt/sys/socket.hpp"

namespace memopt {

namespace {

constexpr const char* kSystemRuntimeDir = "/run/memopt";
constexpr std::size_t kMaxRequest = 256;
constexpr auto kRequestTimeout = std::chrono::milliseconds(2000);
constexpr auto kPollInterval = std::chrono::milliseconds(1000);
constexpr int kMaxClients = 8;  // answered at once; more get "busy"

std::string user_runtime_dir() { return "/tmp/memopt-" + std::to_string(sys::effective_uid()); }

// Why `dir` may not hold cleanup sockets, or "" when it may: a real directory (not a link)
// owned by this user and writable by nobody else. Anyone who can write there could put in a
// socket that never answers, or one that answers lies.
std::string untrusted_reason(const std::string& dir) {
  uid_t owner = 0;
  mode_t mode = 0;
  if (!sys::file_owner(dir, owner, mode)) return "it does not exist";
  if (!S_ISDIR(mode)) return "it is not a directory";
  if (owner != sys::effective_uid()) {
    return "it belongs to uid " + std::to_string(owner) + ", not to uid " +
           std::to_string(sys::effective_uid());
  }
  if ((mode & 0022) != 0) return "others may write to it";
  return "";
}

// The default directories for this user: root uses /run/memopt only; other users
// /run/memopt when it is theirs (an image may hand it to the service user), else
// /tmp/memopt-<euid>.
std::vector<std::string> default_runtime_dirs() {
  if (sys::effective_uid() == 0) return {kSystemRuntimeDir};
  return {kSystemRuntimeDir, user_runtime_dir()};
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
    const sys::AsyncSignalsBlocked blocked;  // the program's threads take its signals
    thread_ = std::thread([this] { serve(); });
  }
  ~SocketServer() override { stop(); }

  void stop() override {
    if (stopping_.exchange(true)) return;
    if (sys::self_pid() != owner_pid_) {
      // A forked child: the server thread and the socket file are its parent's. Leave both
      // (joining a thread that does not exist here would hang; unlinking would unregister
      // the parent); the std::thread is leaked so that its destructor does not terminate.
      new std::thread(std::move(thread_));  // NOLINT(cppcoreguidelines-owning-memory)
      return;
    }
    wake_.signal();
    if (thread_.joinable()) thread_.join();
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return handlers_ == 0; });
    lock.unlock();
    [[maybe_unused]] const int err = sys::remove_file(path_);
  }

  [[nodiscard]] const std::string& socket_path() const override { return path_; }

 private:
  void serve() {
    while (!stopping_.load()) {
      auto connection = listener_.accept(kPollInterval, wake_.fd());
      if (!connection) continue;
      // Each client on its own thread: one that connects and stays silent holds only itself.
      std::unique_lock lock(mutex_);
      if (handlers_ >= kMaxClients) {
        lock.unlock();
        [[maybe_unused]] const int err =
            connection->send_all(R"({"error":"busy: too many clients at once"})"
                                 "\n");
        continue;
      }
      ++handlers_;
      lock.unlock();
      try {
        std::thread([this, c = std::move(*connection)] {
          answer(c);
          const std::lock_guard done(mutex_);
          --handlers_;
          idle_.notify_all();
        }).detach();
      } catch (const std::system_error&) {  // no thread to be had: this client goes unanswered
        const std::lock_guard undo(mutex_);
        --handlers_;
      }
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
    } else if (*request == "shed") {
      reply = cleanup_result_json(shed());
    } else if (*request == "ping") {
      reply = nlohmann::json{{"pid", sys::self_pid()}, {"rss_bytes", inprocess::self_rss_bytes()}}
                  .dump();
    } else if (*request == "leaks") {
      reply = leak_report_json();
    } else if (*request == "stats") {
      reply = stats_json();
    } else {
      reply = nlohmann::json{{"error",
                              "unknown request (expected 'cleanup', 'shed', 'leaks', 'stats' or "
                              "'ping')"}}
                  .dump();
    }
    [[maybe_unused]] const int err = connection.send_all(reply + "\n");
  }

  std::string path_;
  sys::Socket listener_;
  sys::WakeEvent wake_;
  const pid_t owner_pid_ = sys::self_pid();
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable idle_;
  int handlers_ = 0;
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
    if (const auto why = untrusted_reason(*dir); !why.empty())
      throw Error("MEMOPT_RUNTIME_DIR " + *dir + " is not used: " + why);
    return *dir;
  }
  std::string refusals;
  for (const auto& dir : default_runtime_dirs()) {
    if (!sys::is_directory(dir)) {
      // /run/memopt: only root can make it. /tmp/memopt-<euid>: private from the start.
      [[maybe_unused]] const int err =
          sys::make_directory_mode(dir, dir == kSystemRuntimeDir ? 0755 : 0700);
    }
    const auto why = untrusted_reason(dir);
    if (why.empty()) return dir;
    refusals += (refusals.empty() ? "" : "; ") + dir + ": " + why;
  }
  throw Error("no runtime directory for the cleanup socket (" + refusals +
              "); set MEMOPT_RUNTIME_DIR to a directory of your own");
}

std::vector<std::string> runtime_directories_to_scan() {
  if (auto dir = sys::environment("MEMOPT_RUNTIME_DIR"); dir && !dir->empty()) {
    if (!sys::is_directory(*dir)) return {};
    if (const auto why = untrusted_reason(*dir); !why.empty())
      throw Error("MEMOPT_RUNTIME_DIR " + *dir + " is not used: " + why);
    return {*dir};
  }
  std::vector<std::string> dirs;
  for (const auto& dir : default_runtime_dirs()) {
    // Another user's /tmp/memopt-0 (made before root ever ran) is never read.
    if (untrusted_reason(dir).empty()) dirs.push_back(dir);
  }
  return dirs;
}

std::unique_ptr<CleanupServer> serve_cleanup() {
  const auto dir = runtime_directory();
  remove_stale_sockets(dir);
  return std::make_unique<SocketServer>(dir + "/" + sys::cleanup_socket_name(sys::self_pid()));
}

}  // namespace memopt
