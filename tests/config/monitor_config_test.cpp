#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "memopt/config.hpp"
#include "memopt/error.hpp"
#include "memopt/units.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"

namespace memopt::config {
namespace {

using ::testing::HasSubstr;

TEST(MonitorConfig, AGoodFileSetsEverything) {
  const auto c = parse_monitor_config(R"(
[thresholds]
acceptable_percent = 60
warning_percent = 75.5
severe_percent = 85
danger_available = "100M"
margin_percent = 3
danger_margin = 33554432
[monitor]
interval_s = 5
watch_ms = 100
top = 10
containers = true
[pressure]
some_avg10 = 20
full_avg10 = 8
[leak]
window_s = 900
min_slope_mib_per_hour = 5
min_r2 = 0.9
processes = 7
[forecast]
window_s = 120
horizon_s = 600
min_r2 = 0.5
[hooks]
on_alert = "logger -t memopt"
timeout_s = 3
)",
                                      "memopt.toml");
  EXPECT_EQ(c.watch.thresholds.acceptable_percent, 60);
  EXPECT_EQ(c.watch.thresholds.warning_percent, 75.5);
  EXPECT_EQ(c.watch.thresholds.danger_available_bytes, 100 * kMiB);
  EXPECT_EQ(c.watch.danger_margin_bytes, 32 * kMiB);
  EXPECT_EQ(c.interval, std::chrono::seconds(5));
  EXPECT_EQ(c.watch_interval, std::chrono::milliseconds(100));
  EXPECT_EQ(c.top, 10u);
  EXPECT_TRUE(c.containers);
  EXPECT_FALSE(MonitorConfig().containers);
  EXPECT_EQ(c.watch.pressure_some_avg10, 20);
  EXPECT_EQ(c.watch.leak.window_seconds, 900);
  EXPECT_EQ(c.watch.leak_processes, 7u);
  EXPECT_EQ(c.watch.forecast.horizon_seconds, 600);
  EXPECT_EQ(c.on_alert, "logger -t memopt");
  EXPECT_EQ(c.alert_timeout, std::chrono::seconds(3));
}

TEST(MonitorConfig, CleanupIsOffByDefaultAndSetByItsTable) {
  const MonitorConfig defaults;
  EXPECT_FALSE(defaults.auto_cleanup);
  EXPECT_EQ(defaults.cleanup_cooldown, std::chrono::seconds(300));
  const auto c =
      parse_monitor_config("[cleanup]\nauto_level = \"severe\"\ncooldown_s = 120\n", "memopt.toml");
  EXPECT_EQ(c.auto_cleanup, analysis::Level::kSevere);
  EXPECT_EQ(c.cleanup_cooldown, std::chrono::seconds(120));
}

TEST(MonitorConfig, OldKeySpellingsAreReadWithAWarningNamingTheFileAndTheKey) {
  const auto current = parse_monitor_config(
      "[monitor]\ninterval_seconds = 5\n[cleanup]\nauto_cleanup = \"severe\"\n"
      "cooldown_seconds = 120\n[protect]\nprotect_process = [\"server*\"]\n"
      "protect_pidfile = [\"/run/s.pid\"]\n[record]\nfull_seconds = 600\n"
      "[pressure]\nsome_avg10_percent = 20\n",
      "memopt.toml");
  EXPECT_EQ(current.interval, std::chrono::seconds(5));
  EXPECT_EQ(current.auto_cleanup, analysis::Level::kSevere);
  EXPECT_EQ(current.cleanup_cooldown, std::chrono::seconds(120));
  EXPECT_THAT(current.protect.protect, ::testing::ElementsAre("server*"));
  EXPECT_THAT(current.protect.pid_files, ::testing::ElementsAre("/run/s.pid"));
  EXPECT_EQ(current.record.full, std::chrono::seconds(600));
  EXPECT_EQ(current.watch.pressure_some_avg10, 20);
  EXPECT_THAT(current.deprecated_keys, ::testing::IsEmpty());

  const auto old = parse_monitor_config(
      "[monitor]\ninterval_s = 5\n[protect]\npid_files = [\"/run/s.pid\"]\n", "old.toml");
  EXPECT_EQ(old.interval, std::chrono::seconds(5));
  EXPECT_THAT(old.protect.pid_files, ::testing::ElementsAre("/run/s.pid"));
  EXPECT_THAT(old.deprecated_keys,
              ::testing::ElementsAre(
                  "old.toml:2: [monitor] interval_s is deprecated, write interval_seconds "
                  "(docs/naming.md)",
                  "old.toml:4: [protect] pid_files is deprecated, write protect_pidfile "
                  "(docs/naming.md)"));

  try {
    (void)parse_monitor_config("[hooks]\ntimeout_seconds = 3\ntimeout_s = 4\n", "both.toml");
    ADD_FAILURE() << "both spellings accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUsage);
    EXPECT_THAT(e.what(), HasSubstr("both.toml:3: [hooks] timeout_s: given together with "
                                    "timeout_seconds"));
  }
}

TEST(MonitorConfig, ShmFillingHasDefaultsAndItsTable) {
  const MonitorConfig defaults;
  EXPECT_EQ(defaults.watch.shm.used_percent, 80);
  EXPECT_EQ(defaults.watch.shm.horizon_seconds, 60);
  const auto c =
      parse_monitor_config("[shm]\nfilling_percent = 90\nhorizon_s = 30\n", "memopt.toml");
  EXPECT_EQ(c.watch.shm.used_percent, 90);
  EXPECT_EQ(c.watch.shm.horizon_seconds, 30);
  EXPECT_THROW((void)parse_monitor_config("[shm]\nfilling_percent = 120\n", "memopt.toml"), Error);
  EXPECT_THROW((void)parse_monitor_config("[shm]\nsize = 1\n", "memopt.toml"), Error);
}

TEST(MonitorConfig, ProtectIsOffByDefaultAndSetByItsTable) {
  const MonitorConfig defaults;
  EXPECT_FALSE(defaults.protect.enabled);
  const auto c = parse_monitor_config(
      "[protect]\nenabled = true\ndry_run = true\nallow_host = true\nshed_level = \"danger\"\n"
      "shed_cooldown_s = 5\nforecast_s = 0.5\ngrace_ms = 1500\n"
      "prefer = [\"pt_data_worker\", \"python3 -m celery\"]\nprotect = [\"server*\"]\n"
      "pid_files = [\"/run/server.pid\"]\n",
      "memopt.toml");
  EXPECT_TRUE(c.protect.enabled);
  EXPECT_TRUE(c.protect.dry_run);
  EXPECT_TRUE(c.protect.allow_host);
  EXPECT_EQ(c.protect.shed_level, analysis::Level::kDanger);
  EXPECT_EQ(c.protect.shed_cooldown, std::chrono::seconds(5));
  EXPECT_EQ(c.protect.forecast_seconds, 0.5);
  EXPECT_EQ(c.protect.grace, std::chrono::milliseconds(1500));
  EXPECT_THAT(c.protect.prefer, ::testing::ElementsAre("pt_data_worker", "python3 -m celery"));
  EXPECT_THAT(c.protect.protect, ::testing::ElementsAre("server*"));
  EXPECT_THAT(c.protect.pid_files, ::testing::ElementsAre("/run/server.pid"));
}

TEST(MonitorConfig, ABadAutoCleanupLevelIsAUsageErrorNamingTheFlag) {
  for (const char* level : {"sever", "normal"}) {
    SCOPED_TRACE(level);
    const auto result =
        testing::run_memopt({"monitor", "--auto-cleanup", level, "--duration", "1"});
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_THAT(result.out, ::testing::IsEmpty());
    EXPECT_THAT(result.err, HasSubstr("--auto-cleanup"));
    EXPECT_THAT(result.err, HasSubstr("expected one of"));
  }
  EXPECT_EQ(parse_cleanup_level("danger", "--auto-cleanup"), analysis::Level::kDanger);
}

TEST(MonitorConfig, FlagsOverTheFileAndListsAddToItsOwn) {
  const std::string file =
      "[monitor]\ninterval_s = 30\n[hooks]\non_alert = \"logger file\"\n"
      "[cleanup]\nauto_level = \"danger\"\n"
      "[protect]\ndry_run = true\nprefer = [\"worker\"]\nprotect = [\"server*\"]\n";
  MonitorOverrides flags;
  flags.interval_s = 5;
  flags.on_alert = "logger flag";
  flags.auto_cleanup = "warning";
  flags.protect = true;
  flags.prefer = {"celery"};
  flags.protect_pid_files = {"/run/model.pid"};
  // Applied after the load and again after every reload of the same file: the same result.
  for (int load = 0; load < 2; ++load) {
    auto c = parse_monitor_config(file, "memopt.toml");
    apply_overrides(flags, c);
    EXPECT_EQ(c.interval, std::chrono::seconds(5));
    EXPECT_EQ(c.on_alert, "logger flag");
    EXPECT_EQ(c.auto_cleanup, analysis::Level::kWarning);
    EXPECT_TRUE(c.protect.enabled);
    EXPECT_TRUE(c.protect.dry_run) << "a flag left off does not turn the file's setting off";
    EXPECT_FALSE(c.protect.allow_host);
    EXPECT_THAT(c.protect.prefer, ::testing::ElementsAre("worker", "celery"));
    EXPECT_THAT(c.protect.protect, ::testing::ElementsAre("server*"));
    EXPECT_THAT(c.protect.pid_files, ::testing::ElementsAre("/run/model.pid"));
  }
  auto untouched = parse_monitor_config(file, "memopt.toml");
  apply_overrides(MonitorOverrides{}, untouched);
  EXPECT_EQ(untouched.interval, std::chrono::seconds(30));
  EXPECT_EQ(untouched.on_alert, "logger file");
  EXPECT_EQ(untouched.auto_cleanup, analysis::Level::kDanger);

  flags.auto_cleanup = "sever";
  MonitorConfig c;
  try {
    apply_overrides(flags, c);
    ADD_FAILURE() << "a bad level was applied";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUsage);
    EXPECT_THAT(e.what(), HasSubstr("--auto-cleanup"));
  }
}

TEST(MonitorConfig, AnEmptyFileKeepsTheBase) {
  MonitorConfig base;
  base.interval = std::chrono::seconds(7);
  const auto c = parse_monitor_config("# nothing\n", "empty.toml", base);
  EXPECT_EQ(c.interval, std::chrono::seconds(7));
  EXPECT_EQ(c.watch.thresholds.warning_percent, 80);
}

TEST(MonitorConfig, EveryBadValueNamesTheFileLineAndKey) {
  struct Case {
    const char* text;
    const char* expect;
  };
  const Case cases[] = {
      {"[thresholds]\nwarning_percent = \"high\"\n",
       "bad.toml:2: [thresholds] warning_percent: expected a number"},
      {"[thresholds]\nwarning_percent = 180\n",
       "bad.toml:2: [thresholds] warning_percent: 180 is out of range"},
      {"[thresholds]\nacceptable_percent = 95\n", "thresholds must increase"},
      {"[thresholds]\ndanger_available = \"lots\"\n", "bad.toml:2: [thresholds] danger_available"},
      {"[thresholds]\ndanger_available = -5\n", "cannot be negative"},
      {"[monitor]\ninterval_s = 0\n", "bad.toml:2: [monitor] interval_s: 0 is out of range"},
      {"[monitor]\ninterval_s = 1.5\n", "expected a whole number"},
      {"[monitor]\nwatch_ms = 5000\n", "watch_ms: 5000 is out of range"},
      {"[monitor]\nintervall_s = 5\n", "bad.toml:2: [monitor] intervall_s: unknown key"},
      {"[monitr]\ninterval_s = 5\n", "bad.toml:1: [monitr]: unknown table"},
      {"interval_s = 5\n", "bad.toml:1: interval_s: expected a table"},
      {"[leak]\nmin_r2 = 2\n", "[leak] min_r2: 2 is out of range"},
      {"[hooks]\non_alert = \"\"\n", "[hooks] on_alert: expected a non-empty string"},
      {"[hooks]\non_alert = 5\n", "expected a non-empty string"},
      {"[monitor\n", "bad.toml:1:"},
      {"[monitor]\ninterval_s = = 5\n", "bad.toml:2:"},
      {"[cleanup]\nauto_level = \"sever\"\n",
       "bad.toml:2: [cleanup] auto_level: 'sever' is not a cleanup level"},
      {"[cleanup]\nauto_level = \"normal\"\n", "[cleanup] auto_level: 'normal' is not"},
      {"[cleanup]\nauto_level = 3\n", "[cleanup] auto_level: expected a non-empty string"},
      {"[cleanup]\ncooldown_s = 5\n", "bad.toml:2: [cleanup] cooldown_s: 5 is out of range"},
      {"[cleanup]\ncooldown = 60\n", "[cleanup] cooldown: unknown key"},
      {"[protect]\nenabled = 1\n", "bad.toml:2: [protect] enabled: expected true or false"},
      {"[protect]\nshed_level = \"normal\"\n",
       "[protect] shed_level: 'normal' is not a shed level"},
      {"[protect]\ngrace_ms = 10\n", "[protect] grace_ms: 10 is out of range"},
      {"[protect]\nforecast_s = -1\n", "[protect] forecast_s: -1 is out of range"},
      {"[protect]\nprefer = \"worker\"\n", "[protect] prefer: expected an array of strings"},
      {"[protect]\nprotect = [\"\"]\n", "[protect] protect: expected non-empty strings"},
      {"[protect]\nkill = true\n", "[protect] kill: unknown key"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    try {
      (void)parse_monitor_config(c.text, "bad.toml");
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kUsage);
      EXPECT_THAT(e.what(), HasSubstr(c.expect));
    }
  }
}

TEST(MonitorConfig, TheCommandLineExitsTwoOnABadFileAndFlagsOverrideTheFile) {
  testing::TempTree tmp;
  const auto bad = tmp.write("bad.toml", "[monitor]\ninterval_s = -3\n");
  const auto result = testing::run_memopt({"monitor", "--config", bad, "--duration", "1"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("bad.toml:2: [monitor] interval_s"));
  EXPECT_EQ(
      testing::run_memopt({"monitor", "--config", tmp.path("missing.toml"), "--duration", "1"})
          .exit_code,
      2);

  // The file says 1 s, the flag says 3 s: in 2.5 s the flag gives one sample, the file three
  // (two at least on a loaded machine, where a host-wide sample takes its time).
  const auto good = tmp.write("good.toml", "[monitor]\ninterval_s = 1\n");
  const std::vector<std::string> env{"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"};
  const auto from_file =
      testing::run_memopt({"monitor", "--json", "--config", good, "--duration", "2.5"}, env);
  const auto from_flag =
      testing::run_memopt({"monitor", "3", "--json", "--config", good, "--duration", "2.5"}, env);
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  ASSERT_EQ(from_flag.exit_code, 0) << from_flag.err;
  const auto samples = [](const std::string& out) {
    std::size_t n = 0;
    for (std::size_t pos = 0; (pos = out.find("{\"type\":\"sample\"", pos)) != std::string::npos;
         ++pos)
      ++n;
    return n;
  };
  EXPECT_EQ(samples(from_flag.out), 1u);
  EXPECT_GE(samples(from_file.out), 2u);
}

// The config layer, not the monitor's CLI file, decides which file is in force and which
// protection flags need protection: Python's Monitor goes through the same functions.
TEST(ConfigSource, TheGivenFileWinsOverTheEnvironmentWhichWinsOverNone) {
  const char* saved = std::getenv(kConfigVariable);
  const std::string restore = saved ? saved : "";
  ::unsetenv(kConfigVariable);
  EXPECT_FALSE(find_config(std::nullopt).has_value());
  ::setenv(kConfigVariable, "", 1);
  EXPECT_FALSE(find_config(std::nullopt).has_value()) << "set and empty is unset";
  ::setenv(kConfigVariable, "/etc/memopt.toml", 1);
  const auto from_env = find_config(std::nullopt);
  ASSERT_TRUE(from_env.has_value());
  EXPECT_EQ(from_env->path, "/etc/memopt.toml");
  EXPECT_EQ(from_env->origin, "$MEMOPT_CONFIG");
  const auto given = find_config(std::string("mine.toml"), "config=");
  ASSERT_TRUE(given.has_value());
  EXPECT_EQ(given->path, "mine.toml");
  EXPECT_EQ(given->origin, "config=");
  try {
    static_cast<void>(load_config(from_env));
    ADD_FAILURE() << "read a file that is not there";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUsage);
    EXPECT_THAT(e.what(), HasSubstr("$MEMOPT_CONFIG: cannot read /etc/memopt.toml"));
  }
  if (saved) {
    ::setenv(kConfigVariable, restore.c_str(), 1);
  } else {
    ::unsetenv(kConfigVariable);
  }
}

TEST(ConfigSource, ProtectionFlagsNeedProtectionFromAFlagOrTheFile) {
  MonitorOverrides overrides;
  overrides.dry_run = true;
  overrides.prefer = {"python*"};
  try {
    static_cast<void>(monitor_config(std::nullopt, overrides));
    ADD_FAILURE() << "accepted --dry-run and --prefer without --protect";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUsage);
    EXPECT_THAT(e.what(), HasSubstr("--dry-run, --prefer only apply with --protect"));
  }
  MonitorConfig enabled;
  enabled.protect.enabled = true;
  EXPECT_NO_THROW(check_overrides(overrides, enabled));
  overrides.protect = true;
  EXPECT_TRUE(monitor_config(std::nullopt, overrides).protect.dry_run);
}

}  // namespace
}  // namespace memopt::config
