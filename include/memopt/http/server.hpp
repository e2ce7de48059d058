#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

// A small read-only HTTP server for `memopt monitor --listen`: it serves what the monitor last
// published and never reads the machine itself, so a scrape never triggers a process scan.
namespace memopt::http {

/// What the monitor publishes after each sample; every field is ready to send.
struct Snapshot {
  std::string report_json;  ///< the memopt.report/1 document (/api/report)
  std::string metrics;      ///< Prometheus text format 0.0.4 (/metrics)
  std::string
      history_json;  ///< [{t, used_bytes, limit_bytes, available_bytes, level}] (/api/history)
  std::string events_json;  ///< the most recent events, oldest first (/api/events)
  /// `monitor --record`: [{id, at, kind, summary}] (/api/postmortems; empty: not recording)...
  std::string postmortems_json;
  /// ...and each post-mortem's document by id (/api/postmortems/ID).
  std::shared_ptr<const std::map<std::int64_t, std::string>> postmortems;
};

/// The latest Snapshot, handed from the monitor's thread to the server's threads.
class SharedState {
 public:
  /// Replaces the snapshot readers get from now on; readers holding the old one keep it.
  void publish(Snapshot snapshot) {
    auto next = std::make_shared<const Snapshot>(std::move(snapshot));
    const std::lock_guard lock(mutex_);
    latest_ = std::move(next);
  }
  /// The latest snapshot, or null before the first publish().
  [[nodiscard]] std::shared_ptr<const Snapshot> latest() const {
    const std::lock_guard lock(mutex_);
    return latest_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> latest_;
};

/// Where to listen.
struct Endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
};

/// Parses `--listen`: "HOST:PORT", ":PORT" or "PORT" (host 127.0.0.1), "[::1]:PORT".
/// Throws Error(kUsage) on anything else.
[[nodiscard]] Endpoint parse_endpoint(std::string_view text);

/// "HOST:PORT" as --listen takes it, an IPv6 host in brackets: "[::1]:9101".
[[nodiscard]] inline std::string format_endpoint(const Endpoint& endpoint) {
  const bool v6 = endpoint.host.find(':') != std::string::npos;
  return (v6 ? "[" + endpoint.host + "]" : endpoint.host) + ":" + std::to_string(endpoint.port);
}

/// Limits that keep the server's threads and memory bounded whatever clients do.
struct ServerLimits {
  std::size_t threads = 1;            ///< epoll threads; each serves many connections at once
  std::size_t max_connections = 256;  ///< more are closed at accept
  int listen_backlog = 256;           ///< connections the kernel holds before accept
  /// A whole request, from the connection's start (or the end of its previous request) to the
  /// last byte of its answer: a client sending a byte a second is closed after this, as is an
  /// idle keep-alive connection.
  int request_timeout_seconds = 5;
  /// From 7/8 of max_connections on, connections idle (between requests, or still sending
  /// one) for this long are closed, so that new clients get in.
  int idle_under_pressure_ms = 1000;
  std::size_t max_request_line = 8 << 10;  ///< longer: 414, and the connection is closed
  std::size_t max_headers = 64 << 10;      ///< more header bytes: 431, and closed
};

/// Serves /metrics, /healthz, /api/report, /api/history, /api/events, /api/postmortems[/ID]
/// and / (the live page) on a thread of its own. Only GET and HEAD; anything else is 405 (and
/// the connection closed, its body unread), unknown paths 404; Range is ignored (200, the whole
/// body). The HTTP code (libmicrohttpd and what it needs) lives in a module, memopt-http.so,
/// loaded only when a server starts, so other commands do not map it. Looked for in
/// $MEMOPT_HTTP_MODULE, next to the executable, then in ../lib/memopt/ from it.
class Server {
 public:
  /// Loads the module, binds `endpoint` and starts serving `state`; throws Error when the
  /// module cannot be loaded or the endpoint cannot be bound (saying why: "port 9101 is in
  /// use").
  Server(const Endpoint& endpoint, const SharedState& state, const ServerLimits& limits = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// The bound port (the chosen one when the endpoint's port was 0).
  [[nodiscard]] std::uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The module's entry points, memopt_http_start and memopt_http_stop (C names, for dlsym).
/// Starts a server; returns its handle, or null with `error` set.
using StartFunction = void* (*)(const Endpoint* endpoint, const SharedState* state,
                                const ServerLimits* limits, std::uint16_t* port,
                                std::string* error);
/// Stops and frees a server started by StartFunction.
using StopFunction = void (*)(void* server);

}  // namespace memopt::http
