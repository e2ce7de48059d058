#pragma once

#include <memory>

#include "memopt/top/screen.hpp"

// `memopt top`'s terminal, drawn by the module memopt-top.so (ncurses), which only `top` loads.
namespace memopt::top {

/// The module loaded and the terminal taken, from construction to destruction (the terminal is
/// given back before the module is unloaded).
class Terminal {
 public:
  /// Takes the terminal on standard output: coloured unless NO_COLOR is set, drawn by
  /// memopt-top.so (the path in MEMOPT_TOP_MODULE when set). Throws Error(kUsage) when
  /// standard output is not a terminal, saying what prints instead; Error when the module cannot
  /// be loaded, is not memopt's, or cannot take the terminal. Loaded before the terminal is
  /// touched: a missing module leaves the terminal as it was.
  Terminal();
  ~Terminal();
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  [[nodiscard]] Screen& screen() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace memopt::top
