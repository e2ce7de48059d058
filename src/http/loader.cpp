#include <fmt/format.h>

#include <charconv>

#include "memopt/error.hpp"
#include "memopt/http/server.hpp"
#include "memopt/sys/module.hpp"

namespace memopt::http {

Endpoint parse_endpoint(std::string_view text) {
  Endpoint endpoint;
  std::string_view port = text;
  if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    std::string_view host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    if (!host.empty()) endpoint.host = std::string(host);
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    throw Error(fmt::format("--listen: expected HOST:PORT, :PORT or PORT, got '{}'", text),
                Error::Kind::kUsage);
  }
  endpoint.port = static_cast<std::uint16_t>(value);
  return endpoint;
}

struct Server::Impl {
  sys::DynamicLibrary module;
  StopFunction stop = nullptr;
  void* running = nullptr;
  std::uint16_t port = 0;
};

namespace {

sys::DynamicLibrary load_module() {
  return sys::load_module("memopt-http.so", "MEMOPT_HTTP_MODULE",
                          "--listen: cannot load the HTTP module");
}

}  // namespace

Server::Server(const Endpoint& endpoint, const SharedState& state, const ServerLimits& limits)
    : impl_(std::make_unique<Impl>(Impl{load_module()})) {
  const auto start = impl_->module.symbol<StartFunction>("memopt_http_start");
  impl_->stop = impl_->module.symbol<StopFunction>("memopt_http_stop");
  if (start == nullptr || impl_->stop == nullptr) {
    throw Error(fmt::format("--listen: {} is not memopt's HTTP module", impl_->module.path()));
  }
  std::string error;
  impl_->running = start(&endpoint, &state, &limits, &impl_->port, &error);
  if (impl_->running == nullptr) throw Error(error);
}

Server::~Server() {
  if (impl_->running != nullptr) impl_->stop(impl_->running);
}

std::uint16_t Server::port() const { return impl_->port; }

}  // namespace memopt::http
