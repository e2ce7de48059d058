#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>

#include "memopt/config.hpp"
#include "memopt/error.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/units.hpp"

namespace memopt::config {

namespace {

/// A key renamed to follow docs/naming.md: the old spelling is read for one release.
struct Rename {
  std::string_view old_key;
  std::string_view new_key;
};

/// The renamed keys of table `name`.
std::vector<Rename> renames_of(std::string_view name) {
  if (name == "monitor") return {{"interval_s", "interval_seconds"}};
  if (name == "pressure")
    return {{"some_avg10", "some_avg10_percent"}, {"full_avg10", "full_avg10_percent"}};
  if (name == "leak") return {{"window_s", "window_seconds"}};
  if (name == "forecast") return {{"window_s", "window_seconds"}, {"horizon_s", "horizon_seconds"}};
  if (name == "shm") return {{"horizon_s", "horizon_seconds"}};
  if (name == "hooks") return {{"timeout_s", "timeout_seconds"}};
  if (name == "cleanup")
    return {{"auto_level", "auto_cleanup"}, {"cooldown_s", "cooldown_seconds"}};
  if (name == "protect") {
    return {{"shed_cooldown_s", "shed_cooldown_seconds"},
            {"forecast_s", "forecast_seconds"},
            {"protect", "protect_process"},
            {"pid_files", "protect_pidfile"}};
  }
  if (name == "record") {
    return {{"full_s", "full_seconds"},
            {"ten_second_s", "ten_second_seconds"},
            {"minute_s", "minute_seconds"}};
  }
  return {};
}

/// Reads typed, range-checked values out of one TOML table, naming file, line and key in
/// every error.
class Table {
 public:
  Table(const toml::table& table, std::string_view name, std::string_view source)
      : table_(table), name_(name), source_(source), renames_(renames_of(name)) {}

  /// The key's node, under its name or its old spelling.
  [[nodiscard]] const toml::node* find(std::string_view key) const {
    if (const toml::node* node = table_.get(key)) return node;
    for (const auto& r : renames_) {
      if (r.new_key == key) return table_.get(r.old_key);
    }
    return nullptr;
  }

  /// The key as the file spells it: its old spelling where only that is given.
  [[nodiscard]] std::string_view spelling(std::string_view key) const {
    if (table_.get(key) != nullptr) return key;
    for (const auto& r : renames_) {
      if (r.new_key == key && table_.get(r.old_key) != nullptr) return r.old_key;
    }
    return key;
  }

  /// Each old spelling used is a warning naming the file, the line and both keys; both
  /// spellings of one key are an error naming both.
  void check_renames(std::vector<std::string>& warnings) const {
    for (const auto& r : renames_) {
      const toml::node* old_node = table_.get(r.old_key);
      if (old_node == nullptr) continue;
      if (table_.get(r.new_key) != nullptr) {
        fail(*old_node, r.old_key,
             fmt::format("given together with {}, its new spelling: keep only {}", r.new_key,
                         r.new_key));
      }
      warnings.push_back(fmt::format("{}:{}: [{}] {} is deprecated, write {} (docs/naming.md)",
                                     source_, old_node->source().begin.line, name_, r.old_key,
                                     r.new_key));
    }
  }

  [[noreturn]] void fail(const toml::node& node, std::string_view key,
                         std::string_view what) const {
    throw Error(
        fmt::format("{}:{}: [{}] {}: {}", source_, node.source().begin.line, name_, key, what),
        Error::Kind::kUsage);
  }

  void number(std::string_view key, double& out, double min, double max) const {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    const auto value = node->value<double>();  // integers convert too
    if (!value) fail(*node, spelling(key), "expected a number");
    // NaN compares false with both bounds and would pass the range check below.
    if (!std::isfinite(*value))
      fail(*node, spelling(key), fmt::format("expected a finite number, got {}", *value));
    if (*value < min || *value > max)
      fail(*node, spelling(key), fmt::format("{} is out of range [{}, {}]", *value, min, max));
    out = *value;
  }

  template <typename Integer>
  void integer(std::string_view key, Integer& out, std::int64_t min, std::int64_t max) const {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    const auto value = node->value_exact<std::int64_t>();
    if (!value) fail(*node, spelling(key), "expected a whole number");
    if (*value < min || *value > max)
      fail(*node, spelling(key), fmt::format("{} is out of range [{}, {}]", *value, min, max));
    out = static_cast<Integer>(*value);
  }

  void size(std::string_view key, std::uint64_t& out) const {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    if (const auto bytes = node->value_exact<std::int64_t>()) {
      if (*bytes < 0) fail(*node, spelling(key), "a size cannot be negative");
      out = static_cast<std::uint64_t>(*bytes);
      return;
    }
    const auto text = node->value_exact<std::string>();
    if (!text) fail(*node, spelling(key), "expected a size such as \"50M\" or a number of bytes");
    try {
      out = parse_size(*text, spelling(key));
    } catch (const Error& e) {
      fail(*node, spelling(key), e.what());
    }
  }

  void string(std::string_view key, std::optional<std::string>& out) const {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    const auto value = node->value_exact<std::string>();
    if (!value || value->empty()) fail(*node, spelling(key), "expected a non-empty string");
    out = *value;
  }

  void boolean(std::string_view key, bool& out) const {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    const auto value = node->value_exact<bool>();
    if (!value) fail(*node, spelling(key), "expected true or false");
    out = *value;
  }

  void strings(std::string_view key, std::vector<std::string>& out) const {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    const toml::array* array = node->as_array();
    if (array == nullptr)
      fail(*node, spelling(key), "expected an array of strings such as [\"celery\"]");
    std::vector<std::string> values;
    for (const auto& item : *array) {
      const auto value = item.value_exact<std::string>();
      if (!value || value->empty()) fail(item, spelling(key), "expected non-empty strings");
      values.push_back(*value);
    }
    out = std::move(values);
  }

  /// Rejects keys not in `known`: a typo must not silently fall back to a default.
  void only(std::initializer_list<std::string_view> known) const {
    for (const auto& [key, node] : table_) {
      // A copy of the name: clang does not capture a structured binding.
      const std::string name(key.str());
      const bool renamed = std::any_of(renames_.begin(), renames_.end(),
                                       [&name](const Rename& r) { return r.old_key == name; });
      if (!renamed && std::find(known.begin(), known.end(), key.str()) == known.end()) {
        fail(node, key.str(), "unknown key");
      }
    }
  }

 private:
  const toml::table& table_;
  std::string_view name_;
  std::string_view source_;
  std::vector<Rename> renames_;
};

}  // namespace

analysis::Level parse_cleanup_level(std::string_view name, std::string_view what) {
  const auto bad = [&](std::string_view why) {
    return Error(fmt::format("{}: '{}' {} (expected one of: {})", what, name, why, kCleanupLevels),
                 Error::Kind::kUsage);
  };
  analysis::Level level{};
  try {
    level = analysis::parse_level(name, what);
  } catch (const Error&) {
    // parse_level's list includes normal, which is no cleanup level: the one list instead.
    throw bad("is not a level");
  }
  if (level == analysis::Level::kNormal) throw bad("would clean up all the time");
  return level;
}

analysis::Level parse_shed_level(std::string_view name, std::string_view what) {
  const auto level = analysis::parse_level(name, what);
  if (level < analysis::Level::kWarning) {
    throw Error(fmt::format("{}: '{}' would shed all the time (expected one of: warning, severe, "
                            "danger)",
                            what, name),
                Error::Kind::kUsage);
  }
  return level;
}

MonitorConfig parse_monitor_config(std::string_view text, std::string_view source,
                                   MonitorConfig base) {
  check_toml_input(text, source);
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw Error(fmt::format("{}:{}: {}", source, e.source().begin.line, e.description()),
                Error::Kind::kUsage);
  }
  MonitorConfig config = std::move(base);
  auto& t = config.watch.thresholds;
  for (const auto& [key, node] : root) {
    const toml::table* table = node.as_table();
    const std::string name(key.str());
    if (table == nullptr) {
      throw Error(fmt::format("{}:{}: {}: expected a table such as [thresholds]", source,
                              node.source().begin.line, name),
                  Error::Kind::kUsage);
    }
    const Table tab(*table, name, source);
    tab.check_renames(config.deprecated_keys);
    if (name == "thresholds") {
      tab.only({"acceptable_percent", "warning_percent", "severe_percent", "danger_available",
                "margin_percent", "danger_margin"});
      tab.number("acceptable_percent", t.acceptable_percent, 0, 100);
      tab.number("warning_percent", t.warning_percent, 0, 100);
      tab.number("severe_percent", t.severe_percent, 0, 100);
      tab.size("danger_available", t.danger_available_bytes);
      tab.number("margin_percent", config.watch.level_margin_percent, 0, 50);
      tab.size("danger_margin", config.watch.danger_margin_bytes);
      if (!(t.acceptable_percent <= t.warning_percent && t.warning_percent <= t.severe_percent)) {
        tab.fail(node, "warning_percent",
                 "thresholds must increase: acceptable <= warning <= severe");
      }
    } else if (name == "monitor") {
      tab.only({"interval_seconds", "watch_ms", "top", "containers"});
      tab.integer("interval_seconds", config.interval, 1, 86400);
      tab.integer("watch_ms", config.watch_interval, 50, 1000);
      tab.integer("top", config.top, 0, 1000);
      tab.boolean("containers", config.containers);
    } else if (name == "pressure") {
      tab.only({"some_avg10_percent", "full_avg10_percent"});
      tab.number("some_avg10_percent", config.watch.pressure_some_avg10, 0, 100);
      tab.number("full_avg10_percent", config.watch.pressure_full_avg10, 0, 100);
    } else if (name == "leak") {
      tab.only({"window_seconds", "min_slope_mib_per_hour", "min_r2", "processes"});
      tab.number("window_seconds", config.watch.leak.window_seconds, 10, 7 * 86400);
      tab.number("min_slope_mib_per_hour", config.watch.leak.min_slope_mib_per_hour, 0, 1e9);
      tab.number("min_r2", config.watch.leak.min_r2, 0, 1);
      tab.integer("processes", config.watch.leak_processes, 1, 1000);
    } else if (name == "forecast") {
      tab.only({"window_seconds", "horizon_seconds", "min_r2"});
      tab.number("window_seconds", config.watch.forecast.window_seconds, 10, 86400);
      tab.number("horizon_seconds", config.watch.forecast.horizon_seconds, 1, 7 * 86400);
      tab.number("min_r2", config.watch.forecast.min_r2, 0, 1);
    } else if (name == "shm") {
      tab.only({"filling_percent", "horizon_seconds"});
      tab.number("filling_percent", config.watch.shm.used_percent, 0, 100);
      tab.number("horizon_seconds", config.watch.shm.horizon_seconds, 0, 7 * 86400);
    } else if (name == "hooks") {
      tab.only({"on_alert", "timeout_seconds"});
      tab.string("on_alert", config.on_alert);
      tab.integer("timeout_seconds", config.alert_timeout, 1, 3600);
    } else if (name == "cleanup") {
      tab.only({"auto_cleanup", "cooldown_seconds"});
      std::optional<std::string> level;
      tab.string("auto_cleanup", level);
      if (level) {
        try {
          config.auto_cleanup = parse_cleanup_level(*level, "auto_cleanup");
        } catch (const Error&) {
          tab.fail(*tab.find("auto_cleanup"), tab.spelling("auto_cleanup"),
                   fmt::format("'{}' is not a cleanup level (expected one of: {})", *level,
                               kCleanupLevels));
        }
      }
      tab.integer("cooldown_seconds", config.cleanup_cooldown, 10, 86400);
    } else if (name == "protect") {
      auto& p = config.protect;
      tab.only({"enabled", "dry_run", "allow_host", "shed_level", "shed_cooldown_seconds",
                "forecast_seconds", "grace_ms", "prefer", "protect_process", "protect_pidfile"});
      tab.boolean("enabled", p.enabled);
      tab.boolean("dry_run", p.dry_run);
      tab.boolean("allow_host", p.allow_host);
      std::optional<std::string> level;
      tab.string("shed_level", level);
      if (level) {
        try {
          p.shed_level = parse_shed_level(*level, "shed_level");
        } catch (const Error&) {
          tab.fail(*table->get("shed_level"), "shed_level",
                   fmt::format("'{}' is not a shed level (expected one of: warning, severe, "
                               "danger)",
                               *level));
        }
      }
      tab.integer("shed_cooldown_seconds", p.shed_cooldown, 1, 3600);
      tab.number("forecast_seconds", p.forecast_seconds, 0, 60);
      tab.integer("grace_ms", p.grace, 100, 60000);
      tab.strings("prefer", p.prefer);
      tab.strings("protect_process", p.protect);
      tab.strings("protect_pidfile", p.pid_files);
    } else if (name == "record") {
      auto& r = config.record;
      tab.only({"full_seconds", "ten_second_seconds", "minute_seconds", "max_size", "processes"});
      constexpr std::int64_t kYear = 366 * 86400;
      tab.integer("full_seconds", r.full, 60, 86400);
      tab.integer("ten_second_seconds", r.ten_second, 60, kYear);
      tab.integer("minute_seconds", r.minute, 60, kYear);
      tab.size("max_size", r.max_bytes);
      tab.integer("processes", r.processes, 1, 1000);
      if (!(r.full <= r.ten_second && r.ten_second <= r.minute)) {
        tab.fail(node, tab.spelling("ten_second_seconds"),
                 "retention must not shrink: full_seconds <= ten_second_seconds <= "
                 "minute_seconds");
      }
      if (r.max_bytes < (1u << 20)) tab.fail(node, "max_size", "at least 1M");
    } else {
      throw Error(fmt::format("{}:{}: [{}]: unknown table (known: thresholds, monitor, pressure, "
                              "leak, forecast, shm, hooks, cleanup, protect, record)",
                              source, node.source().begin.line, name),
                  Error::Kind::kUsage);
    }
  }
  return config;
}

MonitorConfig load_monitor_config(const std::string& path, MonitorConfig base,
                                  std::string_view origin) {
  std::string text;
  if (const int err = sys::read_into(path, text); err != 0) {
    throw Error(fmt::format("{}: cannot read {}: {}", origin, path, sys::error_text(err)),
                Error::Kind::kUsage);
  }
  return parse_monitor_config(text, path, std::move(base));
}

std::optional<ConfigSource> find_config(const std::optional<std::string>& given,
                                        std::string_view given_origin) {
  if (given) return ConfigSource{*given, std::string(given_origin)};
  // Set but empty reads as unset, as a shell's `MEMOPT_CONFIG= memopt report` means.
  if (auto path = sys::environment(kConfigVariable); path && !path->empty()) {
    return ConfigSource{std::move(*path), fmt::format("${}", kConfigVariable)};
  }
  return std::nullopt;
}

MonitorConfig load_config(const std::optional<ConfigSource>& source, MonitorConfig base) {
  if (!source) return base;
  return load_monitor_config(source->path, std::move(base), source->origin);
}

MonitorConfig monitor_config(const std::optional<ConfigSource>& source,
                             const MonitorOverrides& overrides, MonitorConfig base) {
  auto config = load_config(source, std::move(base));
  apply_overrides(overrides, config);
  check_overrides(overrides, config);
  return config;
}

void check_overrides(const MonitorOverrides& o, const MonitorConfig& config) {
  if (config.protect.enabled) return;
  std::string given;
  int count = 0;
  const auto add = [&](bool set, std::string_view flag) {
    if (set) given += fmt::format("{}{}", count++ == 0 ? "" : ", ", flag);
  };
  add(o.dry_run, "--dry-run");
  add(o.allow_host, "--allow-host");
  add(!o.prefer.empty(), "--prefer");
  add(!o.protect_processes.empty(), "--protect-process");
  add(!o.protect_pid_files.empty(), "--protect-pidfile");
  if (given.empty()) return;
  throw Error(fmt::format("{} only {} with --protect (or [protect] enabled = true in the "
                          "config); add --protect, or leave {} out",
                          given, count == 1 ? "applies" : "apply", count == 1 ? "it" : "them"),
              Error::Kind::kUsage);
}

void apply_overrides(const MonitorOverrides& overrides, MonitorConfig& config) {
  const auto& o = overrides;
  if (o.interval_s) config.interval = std::chrono::seconds(*o.interval_s);
  config.containers = config.containers || o.containers;
  if (o.on_alert) config.on_alert = o.on_alert;
  if (o.auto_cleanup) config.auto_cleanup = parse_cleanup_level(*o.auto_cleanup, "--auto-cleanup");
  auto& p = config.protect;
  p.enabled = p.enabled || o.protect;
  p.dry_run = p.dry_run || o.dry_run;
  p.allow_host = p.allow_host || o.allow_host;
  p.prefer.insert(p.prefer.end(), o.prefer.begin(), o.prefer.end());
  p.protect.insert(p.protect.end(), o.protect_processes.begin(), o.protect_processes.end());
  p.pid_files.insert(p.pid_files.end(), o.protect_pid_files.begin(), o.protect_pid_files.end());
}

}  // namespace memopt::config
