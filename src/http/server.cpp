#include "memopt/http/server.hpp"

// libmicrohttpd (Debian libmicrohttpd-dev) in epoll mode: one thread serves every connection, so
// a slow client costs a socket and a buffer, never a worker (cpp-httplib, before it, held a
// thread per connection with a per-read timeout, and buffered a request line of any length).
// What the library does not bound itself is bounded here: a whole-request deadline, the request
// line and header sizes, idle connections near the connection limit.
#include <fmt/format.h>
#include <microhttpd.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "memopt/error.hpp"
#include "memopt/render/live_page.hpp"
#include "memopt/render/prometheus.hpp"

namespace memopt::http {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kText = "text/plain; charset=utf-8";
/// How often deadlines are checked: a late connection lives at most this much past its deadline.
constexpr auto kReaperTick = std::chrono::milliseconds(100);
/// MHD's per-connection memory holds the request line and headers, its own header list and the
/// answer's headers: the two caps plus room for the rest. Past it MHD answers 414/431 itself.
constexpr std::size_t kConnectionMemorySlack = 16 << 10;
/// A request's context after its first call (it held the URI's length until then).
void* const kHeadersChecked = reinterpret_cast<void*>(~std::uintptr_t{0});

/// A route: a path and the snapshot field it serves. Add an endpoint here (and its field).
struct Route {
  const char* path;
  const std::string Snapshot::*body;
  const char* content_type;
};
constexpr Route kRoutes[] = {
    {"/metrics", &Snapshot::metrics, render::kPrometheusContentType.data()},
    {"/api/report", &Snapshot::report_json, "application/json"},
    {"/api/history", &Snapshot::history_json, "application/json"},
    {"/api/events", &Snapshot::events_json, "application/json"},
};

std::string why_not(int err, const Endpoint& endpoint) {
  switch (err) {
    case EADDRINUSE:
      return fmt::format("port {} is in use (another process listens on it)", endpoint.port);
    case EACCES:
      return "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
    case EADDRNOTAVAIL:
      return fmt::format("{} is not an address of this machine", endpoint.host);
    default:
      return std::strerror(err);
  }
}

/// Binds and listens on `endpoint` itself, so that a failure says why; MHD gets the socket.
int listen_on(const Endpoint& endpoint, int backlog, int& family) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const auto where = format_endpoint(endpoint);
  const auto port = std::to_string(endpoint.port);
  if (const int rc = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &list); rc != 0) {
    throw Error(fmt::format("--listen: cannot listen on {}: {}", where, ::gai_strerror(rc)));
  }
  int err = EADDRNOTAVAIL;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    const int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, backlog) == 0) {
      family = ai->ai_family;
      ::freeaddrinfo(list);
      return fd;
    }
    err = errno;
    ::close(fd);
  }
  ::freeaddrinfo(list);
  throw Error(fmt::format("--listen: cannot listen on {}: {}", where, why_not(err, endpoint)));
}

std::uint16_t bound_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

/// Queues `response` (freeing our reference); Connection: close when `close`.
MHD_Result queue(MHD_Connection* connection, unsigned status, MHD_Response* response,
                 bool close = false) {
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, "Cache-Control", "no-store");
  MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
  if (close) MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
  const auto result = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);
  return result;
}

MHD_Response* text(const char* body, const char* type = kText) {
  auto* response = MHD_create_response_from_buffer(std::strlen(body), const_cast<char*>(body),
                                                   MHD_RESPMEM_PERSISTENT);
  if (response != nullptr) MHD_add_response_header(response, "Content-Type", type);
  return response;
}

/// An answer of `body`, which lies inside `snapshot`: it points into the snapshot and keeps it
/// alive until MHD has sent it, so nothing is copied.
MHD_Response* from_snapshot(std::shared_ptr<const Snapshot> snapshot, const std::string& body,
                            const char* type) {
  auto* keep = new std::shared_ptr<const Snapshot>(std::move(snapshot));
  auto* response = MHD_create_response_from_buffer_with_free_callback_cls(
      body.size(), const_cast<char*>(body.data()),
      [](void* p) { delete static_cast<std::shared_ptr<const Snapshot>*>(p); }, keep);
  if (response == nullptr) {
    delete keep;
    return nullptr;
  }
  MHD_add_response_header(response, "Content-Type", type);
  return response;
}

}  // namespace

/// A running server: MHD's daemon, and the thread that enforces deadlines.
class Running {
 public:
  Running(const Endpoint& endpoint, const SharedState& state, const ServerLimits& limits);
  ~Running();
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;

  std::uint16_t port = 0;

 private:
  struct Tracked {
    int fd = -1;
    Clock::time_point since;  ///< start, or end of the previous request
    bool answering = false;   ///< the request is in; its answer is being written
    bool closing = false;     ///< shut down, waiting for MHD to notice
  };

  static MHD_Result answer(void* cls, MHD_Connection* connection, const char* url,
                           const char* method, const char* version, const char* upload_data,
                           std::size_t* upload_data_size, void** request);
  static void* log_uri(void* cls, const char* uri, MHD_Connection* connection);
  static void on_connection(void* cls, MHD_Connection* connection, void** socket_context,
                            MHD_ConnectionNotificationCode code);
  static void on_completed(void* cls, MHD_Connection* connection, void** request,
                           MHD_RequestTerminationCode code);
  MHD_Result route(MHD_Connection* connection, std::string_view url);
  void reap();

  const SharedState& state_;
  const ServerLimits limits_;
  const std::string page_ = render::render_live_page();
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::unordered_map<MHD_Connection*, Tracked> connections_;
  MHD_Daemon* daemon_ = nullptr;
  std::thread reaper_;
};

Running::Running(const Endpoint& endpoint, const SharedState& state, const ServerLimits& limits)
    : state_(state), limits_(limits) {
  int family = AF_INET;
  const int fd = listen_on(endpoint, limits.listen_backlog, family);
  port = bound_port(fd);
  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD;
  if (family == AF_INET6) flags |= MHD_USE_IPv6;
  const auto timeout = static_cast<unsigned>(limits.request_timeout_seconds);
  daemon_ = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &Running::answer, this,  //
      MHD_OPTION_LISTEN_SOCKET, fd,                        //
      MHD_OPTION_THREAD_POOL_SIZE, static_cast<unsigned>(limits.threads > 1 ? limits.threads : 0),
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(limits.max_connections),
      MHD_OPTION_CONNECTION_TIMEOUT, timeout,  // between reads; the reaper bounds the whole
      MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      limits.max_request_line + limits.max_headers + kConnectionMemorySlack,
      MHD_OPTION_URI_LOG_CALLBACK, &Running::log_uri, this,         //
      MHD_OPTION_NOTIFY_CONNECTION, &Running::on_connection, this,  //
      MHD_OPTION_NOTIFY_COMPLETED, &Running::on_completed, this,    //
      MHD_OPTION_END);
  if (daemon_ == nullptr) {
    ::close(fd);
    throw Error(fmt::format("--listen: cannot serve on {}: libmicrohttpd did not start",
                            format_endpoint(endpoint)));
  }
  reaper_ = std::thread([this] { reap(); });
}

Running::~Running() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  reaper_.join();
  MHD_stop_daemon(daemon_);  // closes the listening socket and every connection
}

void* Running::log_uri(void* /*cls*/, const char* uri, MHD_Connection* /*connection*/) {
  // The raw URI's length (query string included; MHD later splits and unescapes it) is all a
  // request needs to carry to the handler: kept in the pointer itself, so nothing is allocated.
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(std::strlen(uri)));
}

void Running::on_connection(void* cls, MHD_Connection* connection, void** /*socket_context*/,
                            MHD_ConnectionNotificationCode code) {
  auto* self = static_cast<Running*>(cls);
  const std::lock_guard lock(self->mutex_);
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const auto* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (info != nullptr) self->connections_[connection] = {info->connect_fd, Clock::now()};
  } else {
    // MHD closes the socket only after this: the reaper never touches a reused descriptor.
    self->connections_.erase(connection);
  }
}

void Running::on_completed(void* cls, MHD_Connection* connection, void** /*request*/,
                           MHD_RequestTerminationCode /*code*/) {
  auto* self = static_cast<Running*>(cls);
  const std::lock_guard lock(self->mutex_);
  if (auto it = self->connections_.find(connection); it != self->connections_.end()) {
    it->second.since = Clock::now();
    it->second.answering = false;
  }
}

void Running::reap() {
  const auto deadline = std::chrono::seconds(limits_.request_timeout_seconds);
  const auto idle = std::chrono::milliseconds(limits_.idle_under_pressure_ms);
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, kReaperTick, [this] { return stopping_; })) {
    const auto now = Clock::now();
    const bool pressure = connections_.size() * 8 >= limits_.max_connections * 7;
    for (auto& [connection, tracked] : connections_) {
      if (tracked.closing) continue;
      const auto age = now - tracked.since;
      if (age >= deadline || (pressure && !tracked.answering && age >= idle)) {
        // MHD sees end-of-file (or EPIPE while writing) and closes the connection itself.
        ::shutdown(tracked.fd, SHUT_RDWR);
        tracked.closing = true;
      }
    }
  }
}

MHD_Result Running::answer(void* cls, MHD_Connection* connection, const char* url,
                           const char* method, const char* version, const char* /*upload_data*/,
                           std::size_t* upload_data_size, void** request) {
  auto* self = static_cast<Running*>(cls);
  // MHD calls once when the headers are in, then for the body, then once more with none left.
  // A refusal is queued at the first call: MHD then closes the connection without reading the
  // body. An answer is queued at the last: queued earlier, MHD would close a keep-alive
  // connection too.
  if (*request == kHeadersChecked) {
    if (*upload_data_size != 0) {
      *upload_data_size = 0;  // a GET with a body: the body is read and dropped
      return MHD_YES;
    }
    return self->route(connection, url);
  }
  {
    const std::lock_guard lock(self->mutex_);
    if (auto it = self->connections_.find(connection); it != self->connections_.end())
      it->second.answering = true;
  }
  const auto uri_length = reinterpret_cast<std::uintptr_t>(*request);
  const auto line = std::strlen(method) + uri_length + std::strlen(version) + 1;  // 2 spaces
  if (line > self->limits_.max_request_line) {
    return queue(connection, MHD_HTTP_URI_TOO_LONG, text("request line too long\n"), true);
  }
  std::size_t header_bytes = 0;
  MHD_get_connection_values(
      connection, MHD_HEADER_KIND,
      [](void* total, MHD_ValueKind, const char* key, const char* value) {
        *static_cast<std::size_t*>(total) += std::strlen(key) + std::strlen(value) + 4;
        return MHD_YES;
      },
      &header_bytes);
  if (header_bytes > self->limits_.max_headers) {
    return queue(connection, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                 text("request headers too large\n"), true);
  }
  const std::string_view m = method;
  if (m != MHD_HTTP_METHOD_GET && m != MHD_HTTP_METHOD_HEAD) {
    auto* response = text("only GET and HEAD\n");
    if (response != nullptr) MHD_add_response_header(response, "Allow", "GET, HEAD");
    return queue(connection, MHD_HTTP_METHOD_NOT_ALLOWED, response, true);
  }
  *request = kHeadersChecked;
  return MHD_YES;
}

MHD_Result Running::route(MHD_Connection* connection, std::string_view url) {
  if (url == "/") {
    auto* response = MHD_create_response_from_buffer(page_.size(), const_cast<char*>(page_.data()),
                                                     MHD_RESPMEM_PERSISTENT);
    if (response != nullptr) {
      MHD_add_response_header(response, "Content-Type", "text/html; charset=utf-8");
      MHD_add_response_header(response, "Content-Security-Policy",
                              "default-src 'none'; script-src 'unsafe-inline'; style-src "
                              "'unsafe-inline'; connect-src 'self'; img-src data:");
    }
    return queue(connection, MHD_HTTP_OK, response);
  }
  auto snapshot = state_.latest();
  if (url == "/healthz") {
    return snapshot ? queue(connection, MHD_HTTP_OK, text("ok\n"))
                    : queue(connection, MHD_HTTP_SERVICE_UNAVAILABLE, text("starting\n"));
  }
  for (const auto& r : kRoutes) {
    if (url != r.path) continue;
    if (!snapshot) return queue(connection, MHD_HTTP_SERVICE_UNAVAILABLE, text("no sample yet\n"));
    const std::string& body = (*snapshot).*r.body;
    return queue(connection, MHD_HTTP_OK, from_snapshot(std::move(snapshot), body, r.content_type));
  }
  // The recorder's post-mortems (`monitor --record`): 404 when not recording.
  constexpr std::string_view kPostmortems = "/api/postmortems";
  if (url.substr(0, kPostmortems.size()) == kPostmortems) {
    const auto id_text = url.substr(kPostmortems.size());
    if (id_text.empty()) {
      if (!snapshot || snapshot->postmortems_json.empty()) {
        return queue(connection, MHD_HTTP_NOT_FOUND, text("not recording (monitor --record)\n"));
      }
      const std::string& body = snapshot->postmortems_json;
      return queue(connection, MHD_HTTP_OK,
                   from_snapshot(std::move(snapshot), body, "application/json"));
    }
    std::int64_t id = 0;
    const auto digits = id_text.substr(1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
    const bool valid = id_text[0] == '/' && !digits.empty() && digits.size() <= 18 &&
                       ec == std::errc{} && end == digits.data() + digits.size();
    if (valid && snapshot && snapshot->postmortems && snapshot->postmortems->contains(id)) {
      const std::string& body = snapshot->postmortems->at(id);
      return queue(connection, MHD_HTTP_OK,
                   from_snapshot(std::move(snapshot), body, "application/json"));
    }
    return queue(connection, MHD_HTTP_NOT_FOUND, text("no such post-mortem\n"));
  }
  return queue(connection, MHD_HTTP_NOT_FOUND, text("not found\n"));
}

}  // namespace memopt::http

extern "C" __attribute__((visibility("default"))) void* memopt_http_start(
    const memopt::http::Endpoint* endpoint, const memopt::http::SharedState* state,
    const memopt::http::ServerLimits* limits, std::uint16_t* port, std::string* error) {
  try {
    auto* running = new memopt::http::Running(*endpoint, *state, *limits);
    *port = running->port;
    return running;
  } catch (const std::exception& e) {
    *error = e.what();
    return nullptr;
  }
}

extern "C" __attribute__((visibility("default"))) void memopt_http_stop(void* server) {
  delete static_cast<memopt::http::Running*>(server);
}
