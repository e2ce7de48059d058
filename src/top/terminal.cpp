#include "memopt/top/terminal.hpp"

#include <fmt/format.h>

#include <string>

#include "memopt/config/command.hpp"
#include "memopt/error.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/module.hpp"

namespace memopt::top {

struct Terminal::Impl {
  // Declared first, destroyed last: the screen's close function is the module's.
  sys::DynamicLibrary module;
  std::unique_ptr<Screen, CloseFunction> screen{nullptr, nullptr};
};

namespace {

sys::DynamicLibrary load_terminal_module() {
  if (!sys::is_terminal(1)) {
    throw Error(
        "top: standard output is not a terminal; use `memopt top --once` for one frame, "
        "`memopt report` for a snapshot or `memopt monitor` for a stream of lines",
        Error::Kind::kUsage);
  }
  return sys::load_module("memopt-top.so", "MEMOPT_TOP_MODULE",
                          "top: cannot load the terminal module");
}

}  // namespace

Terminal::Terminal() : impl_(std::make_unique<Impl>(Impl{load_terminal_module()})) {
  const auto open = impl_->module.symbol<OpenFunction>("memopt_top_open");
  const auto close = impl_->module.symbol<CloseFunction>("memopt_top_close");
  if (open == nullptr || close == nullptr) {
    throw Error(fmt::format("top: {} is not memopt's terminal module", impl_->module.path()));
  }
  std::string error;
  impl_->screen =
      std::unique_ptr<Screen, CloseFunction>(open(config::color_allowed(), &error), close);
  if (!impl_->screen) throw Error(fmt::format("top: {}", error));
}

Terminal::~Terminal() = default;

Screen& Terminal::screen() noexcept { return *impl_->screen; }

}  // namespace memopt::top
