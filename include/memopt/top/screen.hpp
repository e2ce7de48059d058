#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "memopt/render/top.hpp"

// The terminal behind `memopt top`: drawn by the memopt-top.so module (ncurses), loaded at run
// time by the executable only for `top`, so no other command maps a terminal library. The
// module is this interface and nothing of memopt's core: the frame is laid out by
// render::render_top in the executable, the module only draws lines and reads keys.
namespace memopt::top {

/// What key() returns besides a typed character (0-255): render::TopKey, which apply_key reads.
enum Key : int {
  kNoKey = render::kTopNoKey,    ///< nothing within the timeout
  kResize = render::kTopResize,  ///< the terminal changed size (ncurses' KEY_RESIZE)
  kEnter = render::kTopEnter,
  kEscape = render::kTopEscape,
  kBackspace = render::kTopBackspace,
  kOtherKey = render::kTopOtherKey,  ///< a function key top has no use for
  kUp = render::kTopUp,
  kDown = render::kTopDown,
};

/// A terminal in full-screen mode from construction to destruction.
class Screen {
 public:
  virtual ~Screen() = default;
  /// The terminal's size now: columns, rows.
  [[nodiscard]] virtual std::size_t columns() const = 0;
  [[nodiscard]] virtual std::size_t rows() const = 0;
  /// Draws `lines` from the top, only what changed since the last draw (no flicker).
  virtual void draw(const std::vector<render::TopLine>& lines) = 0;
  /// The next key, waiting up to `timeout` (0: only what is already typed).
  [[nodiscard]] virtual int key(std::chrono::milliseconds timeout) = 0;
};

/// `memopt_top_open`: takes the terminal (color false: bold and reverse only, for NO_COLOR);
/// null with `error` set when it cannot (no terminfo entry for $TERM, ...).
using OpenFunction = Screen* (*)(bool color, std::string* error);
/// `memopt_top_close`: gives the terminal back as it was.
using CloseFunction = void (*)(Screen* screen);

}  // namespace memopt::top
