#include "memopt/render/top.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <memory>
#include <optional>
#include <tuple>
#include <utility>

#include "cli/options.hpp"
#include "memopt/actions/output.hpp"
#include "memopt/engine.hpp"
#include "memopt/engine/signals.hpp"
#include "memopt/error.hpp"
#include "memopt/exit_status.hpp"
#include "memopt/top/screen.hpp"
#include "memopt/top/terminal.hpp"
#include "memopt/top/view_sink.hpp"

namespace memopt::cli {

namespace {

/// The width of `--once`'s frame.
constexpr std::size_t kOnceWidth = 120;

struct TopFlags {
  unsigned interval_s = 2;
  bool once = false;
  bool containers = false;
};

/// A viewer: the configuration's levels and thresholds, none of its actions (hooks, cleanup,
/// protection), which the monitor already runs; two of them acting at once would do it twice.
void viewer_only(config::MonitorConfig& config) {
  config.on_alert.reset();
  config.auto_cleanup.reset();
  config.protect.enabled = false;
}

/// The engine for the view: the command line's target, or the container opened in the node
/// view (`opened`: its cgroup path), which lists no containers of its own.
EngineOptions engine_options(const GlobalOptions& global, const TopFlags& flags,
                             const std::optional<std::string>& opened = std::nullopt) {
  EngineOptions options;
  options.roots = global.roots;
  options.target = opened ? model::make_target(opened, std::nullopt) : global.target();
  const auto source = global.config_source();
  config::MonitorOverrides overrides;
  overrides.interval_s = flags.interval_s;
  overrides.containers = flags.containers && !opened;
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

int run_once(const GlobalOptions& global, const TopFlags& flags) {
  auto options = engine_options(global, flags);
  options.kernel_notifications = false;
  top::ViewSink sink;
  Engine engine(std::move(options), sink);
  engine.step();
  render::TopView view;
  view.width = kOnceWidth;
  view.height = 0;
  view.interval = std::chrono::seconds(flags.interval_s);
  view.containers = flags.containers;
  actions::write_output(
      "", render::top_text(render::render_top(engine.report(), sink.groups(), sink.events(), view,
                                              &sink.history())));
  return exit_status::kSuccess;
}

int run_top(const GlobalOptions& global, const TopFlags& flags) {
  if (flags.once) return run_once(global, flags);
  auto options = engine_options(global, flags);
  const engine::EngineSignals signals;
  top::Terminal terminal;
  top::Screen* const screen = &terminal.screen();

  top::ViewSink sink;
  render::TopView view;
  view.interval = std::chrono::seconds(flags.interval_s);
  view.containers = flags.containers;
  bool quit = false;
  // Opening a container of the node view (or going back) runs a new engine on the new target.
  while (!quit) {
    Engine engine(std::move(options), sink);
    bool retarget = false;
    bool redraw = true;
    // The figures last drawn: the quick observations between samples move them.
    std::optional<std::tuple<std::uint64_t, std::uint64_t, analysis::Level>> drawn;
    engine.set_poll([&] {
      if (signals.obey(engine)) quit = true;
      for (int key = screen->key(std::chrono::milliseconds(0)); key != top::kNoKey;
           key = screen->key(std::chrono::milliseconds(0))) {
        const bool was_paused = view.paused;
        // The rows on the screen now: what Up/Down and Enter move among.
        const auto now = sink.frame(engine.report());
        const auto rows = now.report ? render::top_rows(*now.report, now.groups, view, &now.history)
                                     : std::vector<render::TopRow>{};
        const auto containers = now.report ? render::top_containers(*now.report, view)
                                           : std::vector<const analysis::ContainerView*>{};
        const auto action = render::apply_key(key, view, rows, containers);
        if (action == render::TopAction::kQuit) {
          quit = true;
          engine.request_stop();
          return;
        }
        if (action == render::TopAction::kOpen || action == render::TopAction::kBack) {
          retarget = true;
          engine.request_stop();
          return;
        }
        if (view.paused && !was_paused && engine.report()) sink.freeze(*engine.report());
        if (!view.paused && was_paused) sink.resume();
        redraw = true;
      }
      if (sink.take_changed()) redraw = true;
      if (const analysis::Report* live = engine.report()) {
        const std::tuple now{live->memory.used_bytes, live->memory.limit_bytes, live->status.level};
        if (drawn != now) redraw = true;
        drawn = now;
      }
      if (!redraw) return;
      view.width = screen->columns();
      view.height = screen->rows();
      const auto frame = sink.frame(engine.report());
      screen->draw(
          render::render_top(frame.report, frame.groups, frame.events, view, &frame.history));
      redraw = false;
    });
    engine.run();
    if (!retarget) break;
    sink.clear();
    view.paused = false;
    options = engine_options(global, flags, view.opened);
  }
  return exit_status::kSuccess;
}

}  // namespace

void add_top_command(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto flags = std::make_shared<TopFlags>();
  auto* cmd = app.add_subcommand(
      "top",
      "A live terminal view: the level, used/limit/available, PSI, swap, GPUs, the processes "
      "(groups folded, growth per minute), the time to the limit and the last events; keys "
      "p/u/r/g/m sort (PSS, USS, RSS, GPU, growth), Up/Down select, Enter expands a group, / "
      "filter, space pause, ? help, q quit; --containers: one row per container, Enter opens "
      "it, Esc goes back");
  cmd->add_option("interval", flags->interval_s,
                  "Seconds between full samples (processes, GPUs; default 2); the header's "
                  "figures refresh every [monitor] watch_ms")
      ->check(CLI::Range(1u, 86400u));
  cmd->add_flag("--once", flags->once,
                "Print one frame as plain text (120 columns, every process) and exit");
  cmd->add_flag("--containers", flags->containers,
                "The node view: one row per container (leaf memory cgroup with a limit) under the "
                "target, as `report --containers` lists them (--cgroup / for the whole node); "
                "Enter opens one, Esc or Backspace goes back to the list");
  cmd->callback(
      [&global, &action, flags] { action = [&global, flags] { return run_top(global, *flags); }; });
}

}  // namespace memopt::cli
