#include "memopt/http/server.hpp"

// Debian's httplib.h declares; libcpp-httplib.so implements (built with its defaults: listen
// backlog 5, URI limit 8 KiB, headers 8 KiB), so CPPHTTPLIB_* limits cannot be changed here.
#include <fmt/format.h>
#include <httplib.h>
#include <sys/socket.h>

#include <charconv>
#include <condition_variable>
#include <deque>
#include <thread>

#include "memopt/error.hpp"
#include "memopt/render/live_page.hpp"
#include "memopt/render/prometheus.hpp"

namespace memopt::http {

namespace {

/// Connections the kernel holds while the workers are busy: enough for a burst of scrapers.
constexpr int kListenBacklog = 256;

/// httplib's ThreadPool queues without bound; this one makes the accepting thread wait instead,
/// so that extra connections wait in the kernel's backlog and memory stays bounded.
class BoundedPool : public httplib::TaskQueue {
 public:
  BoundedPool(std::size_t threads, std::size_t queue) : capacity_(queue) {
    for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
  }
  ~BoundedPool() override = default;

  void enqueue(std::function<void()> fn) override {
    std::unique_lock lock(mutex_);
    space_.wait(lock, [this] { return jobs_.size() < capacity_ || shutdown_; });
    jobs_.push_back(std::move(fn));
    lock.unlock();
    ready_.notify_one();
  }

  void shutdown() override {
    {
      const std::lock_guard lock(mutex_);
      shutdown_ = true;
    }
    ready_.notify_all();
    space_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [this] { return !jobs_.empty() || shutdown_; });
        if (jobs_.empty()) return;
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      space_.notify_one();
      fn();
    }
  }

  std::size_t capacity_;
  std::vector<std::thread> threads_;
  std::deque<std::function<void()>> jobs_;
  bool shutdown_ = false;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::condition_variable space_;
};

void no_store(httplib::Response& res) {
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Content-Type-Options", "nosniff");
}

}  // namespace

/// A running server: httplib's, and the thread that accepts.
struct Running {
  httplib::Server server;
  std::thread thread;
  int port = 0;

  Running(const Endpoint& endpoint, const SharedState& state, const ServerLimits& limits);
  ~Running() {
    server.stop();
    if (thread.joinable()) thread.join();
  }
};

Running::Running(const Endpoint& endpoint, const SharedState& state, const ServerLimits& limits) {
  auto& s = server;
  s.new_task_queue = [limits] { return new BoundedPool(limits.threads, limits.queue); };
  s.set_read_timeout(limits.io_timeout_seconds, 0);
  s.set_write_timeout(limits.io_timeout_seconds, 0);
  s.set_keep_alive_timeout(limits.keep_alive_seconds);
  s.set_keep_alive_max_count(20);
  s.set_payload_max_length(limits.max_payload);

  s.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    if (req.method == "GET" || req.method == "HEAD")
      return httplib::Server::HandlerResponse::Unhandled;
    res.status = 405;
    res.set_header("Allow", "GET, HEAD");
    res.set_content("only GET and HEAD\n", "text/plain; charset=utf-8");
    return httplib::Server::HandlerResponse::Handled;
  });
  // Every endpoint answers from the latest snapshot; before the first one, 503.
  auto serve = [&state](std::string (*pick)(const Snapshot&), const char* type) {
    return [&state, pick, type](const httplib::Request&, httplib::Response& res) {
      no_store(res);
      const auto snapshot = state.latest();
      if (!snapshot) {
        res.status = 503;
        res.set_content("no sample yet\n", "text/plain; charset=utf-8");
        return;
      }
      res.set_content(pick(*snapshot), type);
    };
  };
  // A literal: the handler keeps the pointer for the server's life.
  s.Get("/metrics",
        serve([](const Snapshot& x) { return x.metrics; }, render::kPrometheusContentType.data()));
  s.Get("/api/report", serve([](const Snapshot& x) { return x.report_json; }, "application/json"));
  s.Get("/api/history",
        serve([](const Snapshot& x) { return x.history_json; }, "application/json"));
  s.Get("/api/events", serve([](const Snapshot& x) { return x.events_json; }, "application/json"));
  // The recorder's post-mortems (`monitor --record`); 404 when not recording.
  s.Get("/api/postmortems", [&state](const httplib::Request&, httplib::Response& res) {
    no_store(res);
    const auto snapshot = state.latest();
    if (!snapshot || snapshot->postmortems_json.empty()) {
      res.status = 404;
      res.set_content("not recording (monitor --record)\n", "text/plain; charset=utf-8");
      return;
    }
    res.set_content(snapshot->postmortems_json, "application/json");
  });
  s.Get(R"(/api/postmortems/(\d{1,18}))",
        [&state](const httplib::Request& req, httplib::Response& res) {
          no_store(res);
          const auto snapshot = state.latest();
          const auto id = std::stoll(req.matches[1].str());
          if (!snapshot || !snapshot->postmortems || !snapshot->postmortems->contains(id)) {
            res.status = 404;
            res.set_content("no such post-mortem\n", "text/plain; charset=utf-8");
            return;
          }
          res.set_content(snapshot->postmortems->at(id), "application/json");
        });
  s.Get("/healthz", [&state](const httplib::Request&, httplib::Response& res) {
    no_store(res);
    if (!state.latest()) {
      res.status = 503;
      res.set_content("starting\n", "text/plain; charset=utf-8");
      return;
    }
    res.set_content("ok\n", "text/plain; charset=utf-8");
  });
  // The page is the same for every request: render it once.
  auto page = std::make_shared<const std::string>(render::render_live_page());
  s.Get("/", [page](const httplib::Request&, httplib::Response& res) {
    no_store(res);
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                   "connect-src 'self'; img-src data:");
    res.set_content(*page, "text/html; charset=utf-8");
  });
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      res.set_content(
          res.status == 404 ? std::string("not found\n") : fmt::format("error {}\n", res.status),
          "text/plain; charset=utf-8");
    }
  });

  // Debian's prebuilt httplib listens with a backlog of 5: a burst of clients then waits out
  // SYN-ACK retransmit back-off (seconds). Keep the socket and raise the backlog after bind;
  // listen(2) on a listening socket just updates it.
  int listen_fd = -1;
  s.set_socket_options([&listen_fd](socket_t sock) {
    listen_fd = sock;
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  port = endpoint.port == 0 ? s.bind_to_any_port(endpoint.host)
                            : (s.bind_to_port(endpoint.host, endpoint.port) ? endpoint.port : -1);
  if (port < 0) {
    throw Error(fmt::format("--listen: cannot listen on {}:{}", endpoint.host, endpoint.port));
  }
  if (listen_fd >= 0) ::listen(listen_fd, kListenBacklog);
  thread = std::thread([this] { server.listen_after_bind(); });
}

}  // namespace memopt::http

extern "C" __attribute__((visibility("default"))) void* memopt_http_start(
    const memopt::http::Endpoint* endpoint, const memopt::http::SharedState* state,
    const memopt::http::ServerLimits* limits, std::uint16_t* port, std::string* error) {
  try {
    auto* running = new memopt::http::Running(*endpoint, *state, *limits);
    *port = static_cast<std::uint16_t>(running->port);
    return running;
  } catch (const std::exception& e) {
    *error = e.what();
    return nullptr;
  }
}

extern "C" __attribute__((visibility("default"))) void memopt_http_stop(void* server) {
  delete static_cast<memopt::http::Running*>(server);
}
