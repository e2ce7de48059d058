#include "memopt/render/top.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <deque>
#include <memory>
#include <optional>
#include <tuple>
#include <utility>

#include "cli/options.hpp"
#include "cli/output.hpp"
#include "memopt/engine.hpp"
#include "memopt/error.hpp"
#include "memopt/sys/module.hpp"
#include "memopt/sys/process.hpp"
#include "memopt/top/screen.hpp"

namespace memopt::cli {

namespace {

/// The width of `--once`'s frame.
constexpr std::size_t kOnceWidth = 120;
/// Events kept for the pane (it shows the newest that fit).
constexpr std::size_t kEventsKept = 50;

struct TopFlags {
  unsigned interval_s = 2;
  bool once = false;
};

/// Keeps what the frame shows: the engine's events and notices, the groups of the last sample.
class TopSink final : public EngineSink {
 public:
  void on_sample(const analysis::Report& /*report*/) override { changed_ = true; }
  // The engine's own groups of that sample: the tree is read once per sample, by the engine.
  void on_groups(const std::vector<analysis::ProcessGroup>& groups) override {
    groups_ = groups;
    changed_ = true;
  }
  void on_event(const analysis::Event& event) override { keep(event); }
  void on_notice(std::string_view message) override {
    analysis::Event notice;
    notice.name = "notice";
    notice.at = std::chrono::system_clock::now();
    notice.level = analysis::Level::kUnknown;
    notice.message = std::string(message);
    keep(notice);
  }

  [[nodiscard]] const std::vector<analysis::ProcessGroup>& groups() const { return groups_; }
  [[nodiscard]] const std::deque<analysis::Event>& events() const { return events_; }
  /// Whether a sample or an event came since the last call.
  bool take_changed() { return std::exchange(changed_, false); }

 private:
  void keep(const analysis::Event& event) {
    events_.push_back(event);
    if (events_.size() > kEventsKept) events_.pop_front();
    changed_ = true;
  }

  std::vector<analysis::ProcessGroup> groups_;
  std::deque<analysis::Event> events_;
  bool changed_ = false;
};

/// A viewer: the configuration's levels and thresholds, none of its actions (hooks, cleanup,
/// protection), which the monitor already runs; two of them acting at once would do it twice.
void viewer_only(config::MonitorConfig& config) {
  config.on_alert.reset();
  config.auto_cleanup.reset();
  config.protect.enabled = false;
}

EngineOptions engine_options(const GlobalOptions& global, const TopFlags& flags) {
  EngineOptions options;
  options.roots = global.roots;
  options.target = global.target();
  const auto source = global.config_source();
  config::MonitorOverrides overrides;
  overrides.interval_s = flags.interval_s;
  options.config = config::monitor_config(source, overrides);
  viewer_only(options.config);
  options.analysis = global.analysis_options(options.config);
  if (source) {
    options.config_path = source->path;
    options.config_origin = source->origin;
  }
  options.config_overrides = [overrides](config::MonitorConfig& config) {
    config::apply_overrides(overrides, config);
    viewer_only(config);
  };
  return options;
}

/// What the person sees while paused: the frame's data at the moment of the pause.
struct Frozen {
  std::optional<analysis::Report> report;
  std::vector<analysis::ProcessGroup> groups;
  std::deque<analysis::Event> events;
};

/// Applies one key to the view; false when it asks to quit.
bool apply_key(int key, render::TopView& view) {
  if (view.editing_filter) {
    if (key == top::kEnter) {
      view.editing_filter = false;
    } else if (key == top::kEscape) {
      view.filter.clear();
      view.editing_filter = false;
    } else if (key == top::kBackspace) {
      if (!view.filter.empty()) view.filter.pop_back();
    } else if (key >= 32 && key < 127 && view.filter.size() < 64) {
      view.filter.push_back(static_cast<char>(key));
    }
    return true;
  }
  if (view.help) {
    view.help = false;  // any key closes the help; q still quits
    return key != 'q';
  }
  switch (key) {
    case 'q':
    case 'Q':
      return false;
    case 'p':
      view.sort = render::TopSort::kPss;
      break;
    case 'u':
      view.sort = render::TopSort::kUss;
      break;
    case 'r':
      view.sort = render::TopSort::kRss;
      break;
    case 'g':
      view.sort = render::TopSort::kGpu;
      break;
    case '/':
      view.editing_filter = true;
      break;
    case ' ':
      view.paused = !view.paused;
      break;
    case '?':
    case 'h':
      view.help = true;
      break;
    case top::kEscape:
      view.filter.clear();
      break;
    default:
      break;
  }
  return true;
}

int run_once(const GlobalOptions& global, const TopFlags& flags) {
  auto options = engine_options(global, flags);
  options.kernel_notifications = false;
  TopSink sink;
  Engine engine(std::move(options), sink);
  engine.step();
  render::TopView view;
  view.width = kOnceWidth;
  view.height = 0;
  view.interval = std::chrono::seconds(flags.interval_s);
  write_output("", render::top_text(
                       render::render_top(engine.report(), sink.groups(), sink.events(), view)));
  return 0;
}

int run_top(const GlobalOptions& global, const TopFlags& flags) {
  if (flags.once) return run_once(global, flags);
  if (!sys::is_terminal(1)) {
    throw Error(
        "top: standard output is not a terminal; use `memopt top --once` for one frame, "
        "`memopt report` for a snapshot or `memopt monitor` for a stream of lines",
        Error::Kind::kUsage);
  }
  auto options = engine_options(global, flags);
  // Loaded before the terminal is touched: a missing module leaves the terminal as it was.
  auto module = sys::load_module("memopt-top.so", "MEMOPT_TOP_MODULE",
                                 "top: cannot load the terminal module");
  const auto open = module.symbol<top::OpenFunction>("memopt_top_open");
  const auto close = module.symbol<top::CloseFunction>("memopt_top_close");
  if (open == nullptr || close == nullptr) {
    throw Error(fmt::format("top: {} is not memopt's terminal module", module.path()));
  }
  const sys::SignalWaiter signals;
  TopSink sink;
  Engine engine(std::move(options), sink);
  std::string error;
  const bool color = !sys::environment("NO_COLOR");
  std::unique_ptr<top::Screen, top::CloseFunction> screen(open(color, &error), close);
  if (!screen) throw Error(fmt::format("top: {}", error));

  render::TopView view;
  view.interval = std::chrono::seconds(flags.interval_s);
  Frozen frozen;
  bool redraw = true;
  // The figures last drawn: the quick observations between samples move them.
  std::optional<std::tuple<std::uint64_t, std::uint64_t, analysis::Level>> drawn;
  engine.set_poll([&] {
    while (const auto received = signals.wait(std::chrono::milliseconds(0))) {
      if (received->signal == SIGHUP)
        engine.request_reload();
      else if (received->signal != SIGCHLD)
        engine.request_stop();
    }
    for (int key = screen->key(std::chrono::milliseconds(0)); key != top::kNoKey;
         key = screen->key(std::chrono::milliseconds(0))) {
      const bool was_paused = view.paused;
      if (!apply_key(key, view)) {
        engine.request_stop();
        return;
      }
      if (view.paused && !was_paused && engine.report()) {
        frozen = {*engine.report(), sink.groups(), sink.events()};
      }
      redraw = true;
    }
    if (sink.take_changed()) redraw = true;
    const analysis::Report* report = engine.report();
    if (report) {
      const std::tuple now{report->memory.used_bytes, report->memory.limit_bytes,
                           report->status.level};
      if (drawn != now) redraw = true;
      drawn = now;
    }
    if (!redraw) return;
    view.width = screen->columns();
    view.height = screen->rows();
    if (view.paused && frozen.report) {
      screen->draw(render::render_top(&*frozen.report, frozen.groups, frozen.events, view));
    } else {
      screen->draw(render::render_top(report, sink.groups(), sink.events(), view));
    }
    redraw = false;
  });
  engine.run();
  return 0;
}

}  // namespace

void add_top_command(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto flags = std::make_shared<TopFlags>();
  auto* cmd = app.add_subcommand(
      "top",
      "A live terminal view: the level, used/limit/available, PSI, swap, GPUs, the processes "
      "(groups folded) and the last events; keys p/u/r/g sort, / filter, space pause, ? help, "
      "q quit");
  cmd->add_option("interval", flags->interval_s,
                  "Seconds between full samples (processes, GPUs; default 2); the header's "
                  "figures refresh every [monitor] watch_ms")
      ->check(CLI::Range(1u, 86400u));
  cmd->add_flag("--once", flags->once,
                "Print one frame as plain text (120 columns, every process) and exit");
  cmd->callback(
      [&global, &action, flags] { action = [&global, flags] { return run_top(global, *flags); }; });
}

}  // namespace memopt::cli
