#include "memopt/engine/signals.hpp"

#include <csignal>

#include "memopt/sys/process.hpp"

namespace memopt::engine {

struct EngineSignals::Impl {
  sys::SignalWaiter waiter;
};

EngineSignals::EngineSignals() : impl_(std::make_unique<Impl>()) {}

EngineSignals::~EngineSignals() = default;

void EngineSignals::wake(Engine& engine) const { engine.wake_on(impl_->waiter.fd()); }

bool EngineSignals::obey(Engine& engine) const {
  bool stop = false;
  while (const auto received = impl_->waiter.wait(std::chrono::milliseconds(0))) {
    if (received->signal == SIGHUP) {
      engine.request_reload();
    } else if (received->signal != SIGCHLD) {
      stop = true;
      engine.request_stop();
    }
  }
  return stop;
}

}  // namespace memopt::engine
