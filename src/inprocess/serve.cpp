#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>

#include "inprocess/self.hpp"
#include "memopt/error.hpp"
#include "memopt/inprocess.hpp"
#include "memopt/protocol/wire.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/process.hpp"
#include "memopt/sys/runtime_dir.hpp"
#include "memopt/sys/self.hpp"
#include "memopt/sys/socket.hpp"

namespace memopt {

namespace {

constexpr auto kRequestTimeout = std::chrono::milliseconds(2000);
constexpr auto kPollInterval = std::chrono::milliseconds(1000);
constexpr int kMaxClients = 8;  // answered at once; more get "busy"

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

// The answer line (without its newline) to one request line.
std::string reply_to(std::string_view line) {
  using protocol::Request;
  const auto request = protocol::parse_request(line);
  if (!request) {
    return protocol::encode_error_answer(
        "unknown request (expected 'cleanup', 'shed', 'leaks', 'stats' or 'ping')");
  }
  switch (*request) {
    case Request::kCleanup:
      return cleanup_result_json(cleanup());
    case Request::kShed:
      return cleanup_result_json(shed());
    case Request::kPing:
      return protocol::encode_ping_answer({sys::self_pid(), inprocess::self_rss_bytes(), {}});
    case Request::kLeaks:
      return leak_report_json();
    case Request::kStats:
      return stats_json();
  }
  return protocol::encode_error_answer("unknown request");  // unreachable: every case returns
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
        [[maybe_unused]] const int err = connection->send_all(
            protocol::encode_error_answer("busy: too many clients at once") + "\n");
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
      const auto refusal = peer ? "refused: peer uid " + std::to_string(peer->uid) +
                                      " is neither " + std::to_string(own_uid) + " nor root"
                                : std::string("refused: peer credentials unknown");
      [[maybe_unused]] const int err =
          connection.send_all(protocol::encode_error_answer(refusal) + "\n");
      return;
    }
    const auto request = connection.receive_line(kRequestTimeout, protocol::kMaxRequestBytes);
    if (!request) return;
    const auto reply = reply_to(*request);
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

std::unique_ptr<CleanupServer> serve_cleanup() {
  const auto dir = sys::runtime_directory();
  remove_stale_sockets(dir);
  return std::make_unique<SocketServer>(dir + "/" + sys::cleanup_socket_name(sys::self_pid()));
}

}  // namespace memopt
