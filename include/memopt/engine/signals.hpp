#pragma once

#include <memory>

#include "memopt/engine.hpp"

// The signals a front end's engine obeys, the same in `monitor` and `top`.
namespace memopt::engine {

/// SIGTERM, SIGINT and SIGHUP (and SIGCHLD, ignored) blocked for as long as it lives and read
/// between the engine's steps. Construct it before any thread starts: a thread started earlier
/// (an HTTP server's) would take a SIGTERM with its default action and exit 143.
class EngineSignals {
 public:
  EngineSignals();
  ~EngineSignals();
  EngineSignals(const EngineSignals&) = delete;
  EngineSignals& operator=(const EngineSignals&) = delete;

  /// Makes a signal end `engine`'s wait between steps (Engine::wake_on), so a calm engine that
  /// sleeps until its next sample still stops at once.
  void wake(Engine& engine) const;

  /// Takes every signal that arrived: SIGHUP asks `engine` to reload its configuration, SIGTERM
  /// and SIGINT to stop. Returns whether it was asked to stop. For Engine::set_poll.
  bool obey(Engine& engine) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace memopt::engine
