// memopt-top.so: the ncurses screen of `memopt top` (include/memopt/top/screen.hpp).
#include <curses.h>

#include <algorithm>
#include <clocale>
#include <cstdlib>
#include <string>
#include <utility>

#include "memopt/top/screen.hpp"

namespace memopt::top {
namespace {

/// The colour pair of each level; the same colours as `report`'s text.
short level_pair(analysis::Level level) {
  switch (level) {
    case analysis::Level::kNormal:
      return 1;
    case analysis::Level::kAcceptable:
      return 2;
    case analysis::Level::kWarning:
      return 3;
    case analysis::Level::kSevere:
      return 4;
    case analysis::Level::kDanger:
      return 5;
    case analysis::Level::kUnknown:
      return 6;
  }
  return 0;
}

class CursesScreen final : public Screen {
 public:
  CursesScreen(SCREEN* screen, bool color) : screen_(screen) {
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    curs_set(0);
    set_escdelay(25);
    if (color && has_colors()) {
      start_color();
      use_default_colors();
      init_pair(1, COLOR_GREEN, -1);
      init_pair(2, COLOR_CYAN, -1);
      init_pair(3, COLOR_YELLOW, -1);
      init_pair(4, COLOR_RED, -1);
      init_pair(5, COLOR_WHITE, COLOR_RED);
      init_pair(6, COLOR_MAGENTA, -1);
      color_ = true;
    }
  }
  ~CursesScreen() override {
    endwin();
    delscreen(screen_);
  }
  CursesScreen(const CursesScreen&) = delete;
  CursesScreen& operator=(const CursesScreen&) = delete;

  [[nodiscard]] std::size_t columns() const override {
    return static_cast<std::size_t>(std::max(getmaxx(stdscr), 0));
  }
  [[nodiscard]] std::size_t rows() const override {
    return static_cast<std::size_t>(std::max(getmaxy(stdscr), 0));
  }

  void draw(const std::vector<render::TopLine>& lines) override {
    erase();
    // After a resize the terminal's content is not what ncurses remembers (tmux keeps the
    // bottom lines when it shrinks a pane, ncurses the top ones): repaint every cell once.
    if (std::exchange(repaint_, false)) clearok(stdscr, TRUE);
    const int height = getmaxy(stdscr);
    for (std::size_t y = 0; y < lines.size() && static_cast<int>(y) < height; ++y) {
      const auto& line = lines[y];
      const std::string& text = line.text;
      const std::size_t begin = std::min(line.mark_begin, text.size());
      const std::size_t end = std::clamp(line.mark_end, begin, text.size());
      move(static_cast<int>(y), 0);
      put(text.substr(0, begin), attributes(line.tone, line.level));
      put(text.substr(begin, end - begin), attributes(line.mark, line.level));
      put(text.substr(end), attributes(line.tone, line.level));
      if (line.tone == render::TopTone::kTableHeader || line.tone == render::TopTone::kSelected) {
        // The header's and the selection's reverse video runs the whole width.
        attrset(attributes(line.tone, line.level));
        const int y_now = getcury(stdscr);
        for (int x = getcurx(stdscr); x < getmaxx(stdscr) && getcury(stdscr) == y_now; ++x)
          addch(' ');
      }
      attrset(A_NORMAL);
    }
    refresh();
  }

  [[nodiscard]] int key(std::chrono::milliseconds timeout) override {
    timeout(static_cast<int>(timeout.count()));
    const int c = getch();
    switch (c) {
      case ERR:
        return kNoKey;
      case KEY_RESIZE:
        repaint_ = true;
        return kResize;
      case KEY_ENTER:
      case '\n':
      case '\r':
        return kEnter;
      case 27:
        return kEscape;
      case KEY_UP:
        return kUp;
      case KEY_DOWN:
        return kDown;
      case KEY_BACKSPACE:
      case 127:
      case 8:
        return kBackspace;
      default:
        return c >= 0 && c < 256 ? c : kOtherKey;
    }
  }

 private:
  [[nodiscard]] attr_t attributes(render::TopTone tone, analysis::Level level) const {
    switch (tone) {
      case render::TopTone::kPlain:
        return A_NORMAL;
      case render::TopTone::kTitle:
        return A_BOLD;
      case render::TopTone::kTableHeader:
        return A_REVERSE;
      case render::TopTone::kDim:
        return A_DIM;
      case render::TopTone::kSelected:
        return A_REVERSE | A_BOLD;
      case render::TopTone::kLevel:
        return color_ ? (A_BOLD | COLOR_PAIR(level_pair(level))) : A_BOLD;
    }
    return A_NORMAL;
  }

  static void put(const std::string& text, attr_t attributes) {
    if (text.empty()) return;
    attrset(attributes);
    // The last cell of the last line would scroll the screen: never write it.
    const bool last_line = getcury(stdscr) == getmaxy(stdscr) - 1;
    const int room = getmaxx(stdscr) - getcurx(stdscr) - (last_line ? 1 : 0);
    if (room > 0) addnstr(text.c_str(), std::min(static_cast<int>(text.size()), room));
  }

  SCREEN* screen_;
  bool color_ = false;
  bool repaint_ = false;
};

}  // namespace
}  // namespace memopt::top

extern "C" __attribute__((visibility("default"))) memopt::top::Screen* memopt_top_open(
    bool color, std::string* error) {
  std::setlocale(LC_ALL, "");
  // newterm, unlike initscr, returns an error instead of exiting the process.
  SCREEN* screen = newterm(nullptr, stdout, stdin);
  if (screen == nullptr) {
    const char* term = std::getenv("TERM");
    *error = std::string("cannot use the terminal: no terminfo entry for TERM=") +
             (term != nullptr ? term : "(unset)");
    return nullptr;
  }
  set_term(screen);
  return new memopt::top::CursesScreen(screen, color);
}

extern "C" __attribute__((visibility("default"))) void memopt_top_close(
    memopt::top::Screen* screen) {
  delete screen;
}
