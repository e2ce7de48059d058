// Every number in every JSON document memopt writes is named with its unit (docs/naming.md):
// each document is produced for real — the binary against captured fixture trees, a history
// written through the Recorder, a post-mortem built from recorder rows and read back by the
// binary, the leak check's answer, the documents `monitor --listen` serves — and every key
// whose value is a number must end in a unit, a rate, a count, or be one of the plain names the
// table lists. A key renamed to follow the table is still written for one release, but only
// beside its new spelling.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "memopt/analysis/report.hpp"
#include "memopt/analysis/watch.hpp"
#include "memopt/engine.hpp"
#include "memopt/http/snapshot.hpp"
#include "memopt/protocol/leaks.hpp"
#include "memopt/readers/collect.hpp"
#include "memopt/record/postmortem.hpp"
#include "memopt/record/recorder.hpp"
#include "memopt/units.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"

namespace memopt::testing {
namespace {

using Json = nlohmann::json;
using record::TimePoint;

const std::string kNoNvml = "MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1";

/// What a numeric key may end in ("_" + one of these, or be one of these): units, rates, counts
/// (docs/naming.md, "Numeric JSON keys carry their unit").
const std::vector<std::string>& units() {
  static const std::vector<std::string> kUnits = {
      "bytes", "seconds", "ms", "percent", "ratio", "t",
      // rates
      "bytes_per_second", "bytes_per_hour", "bytes_per_item", "mib_per_hour", "seconds_per_gib",
      // counts
      "count", "events", "kills", "files", "processes", "sockets", "observations", "checkpoints",
      "steps", "samples", "frames", "workers", "threads",
      // identifiers and fits named by their kind
      "pid", "r2"};
  return kUnits;
}

/// Numbers by what they name (docs/naming.md lists each and why).
const std::set<std::string>& plain_names() {
  static const std::set<std::string> kNames = {
      "index",      "device",     "gpu",  "expected_gpu",   "rank",
      "local_rank", "world_size", "id",   "sequence",       "version",
      "exit_code",  "signal",     "line", "item",           "limit_item",
      "total",      "weight",     "top",  "confidence_days"};
  return kNames;
}

/// Keys renamed to follow the table, old -> new: written beside the new one for one release.
const std::map<std::string, std::string>& deprecated() {
  static const std::map<std::string, std::string> kRenamed = {
      {"some_avg10", "some_avg10_percent"},
      {"some_avg60", "some_avg60_percent"},
      {"some_avg300", "some_avg300_percent"},
      {"full_avg10", "full_avg10_percent"},
      {"full_avg60", "full_avg60_percent"},
      {"full_avg300", "full_avg300_percent"},
      {"unusable_free_percent_order9", "unusable_free_order9_percent"},
      {"psi_some_avg10", "psi_some_avg10_percent"},
      {"psi_full_avg10", "psi_full_avg10_percent"},
      {"resolution_s", "resolution_seconds"},
      {"duration_s", "duration_seconds"},
      {"seconds_left", "time_left_seconds"},
      {"processes_at_peak", "peak_process_count"},
      {"seconds_to_limit", "time_to_limit_seconds"},
      {"shm_seconds_to_full", "shm_time_to_full_seconds"},
      {"interval_s", "interval_seconds"},
      {"cooldown_s", "cooldown_seconds"},
      {"timeout_s", "timeout_seconds"},
      {"full_s", "full_seconds"},
      {"ten_second_s", "ten_second_seconds"},
      {"minute_s", "minute_seconds"},
  };
  return kRenamed;
}

/// Objects that pass on what the kernel wrote, under the kernel's own names (docs/naming.md).
bool kernel_passthrough(const std::string& key) { return key == "cgroup_files"; }

bool named_with_unit(const std::string& key) {
  if (plain_names().count(key) > 0) return true;
  return std::any_of(units().begin(), units().end(), [&key](const std::string& unit) {
    return key == unit || key.ends_with("_" + unit);
  });
}

/// Adds "DOCUMENT: PATH (why)" to `offences` for each numeric key that breaks the table.
/// `unit_from_parent`: the object is a map keyed by names whose own key carries the unit.
void check(const Json& value, const std::string& document, const std::string& path,
           bool unit_from_parent, std::vector<std::string>& offences) {
  if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) {
      check(value[i], document, path + "[" + std::to_string(i) + "]", false, offences);
    }
    return;
  }
  if (!value.is_object()) return;
  for (const auto& [key, member] : value.items()) {
    const std::string where = path + "." + key;
    if (const auto renamed = deprecated().find(key); renamed != deprecated().end()) {
      if (!value.contains(renamed->second)) {
        offences.push_back(document + ": " + where + " (an old spelling without its new one, " +
                           renamed->second + ")");
      }
      continue;  // the new spelling beside it is checked
    }
    if (kernel_passthrough(key)) continue;
    if (member.is_number() && !unit_from_parent && !named_with_unit(key)) {
      offences.push_back(document + ": " + where + " (a number without its unit)");
    }
    check(member, document, where, named_with_unit(key), offences);
  }
}

/// Checks one document; `text` may be JSON Lines (each line a document).
void expect_named(const std::string& document, const std::string& text) {
  std::vector<std::string> offences;
  std::istringstream lines(text);
  std::size_t checked = 0;
  if (Json::accept(text)) {
    check(Json::parse(text), document, "", false, offences);
    ++checked;
  } else {
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      ASSERT_TRUE(Json::accept(line)) << document << ": not JSON: " << line;
      check(Json::parse(line), document + " line " + std::to_string(checked + 1), "", false,
            offences);
      ++checked;
    }
  }
  EXPECT_GT(checked, 0u) << document << ": no document";
  EXPECT_THAT(offences, ::testing::IsEmpty()) << "docs/naming.md";
}

std::vector<std::string> on_tree(const std::string& root, std::vector<std::string> args) {
  args.insert(args.end(), {"--procfs", root + "/proc", "--sysfs", root + "/sys"});
  return args;
}

const std::vector<std::string> kScenarios = {
    "hybrid-v1-this-machine", "v2-nested-parent-limit", "v1-limited",
    "no-memory-controller",   "shared-workers",         "v2-oom-killed-small-shm",
    "v2-sidecar-pod",         "buddyinfo-malformed",    "v2-without-optional-files"};

TEST(Naming, TheTableItselfAcceptsAndRefuses) {
  EXPECT_TRUE(named_with_unit("used_bytes"));
  EXPECT_TRUE(named_with_unit("bytes"));
  EXPECT_TRUE(named_with_unit("growth_bytes_per_hour"));
  EXPECT_TRUE(named_with_unit("pid"));
  EXPECT_TRUE(named_with_unit("owner_pid"));
  EXPECT_FALSE(named_with_unit("interval_s"));
  EXPECT_FALSE(named_with_unit("some_avg10"));
  EXPECT_FALSE(named_with_unit("percent_order9"));
  std::vector<std::string> offences;
  check(Json::parse(R"({"a": {"some_avg10": 1}, "b": {"some_avg10": 1, "some_avg10_percent": 1},
                        "time_at_level_seconds": {"normal": 2}, "c": [{"n": 3}]})"),
        "doc", "", false, offences);
  EXPECT_THAT(offences, ::testing::ElementsAre(::testing::HasSubstr("doc: .a.some_avg10"),
                                               ::testing::HasSubstr("doc: .c[0].n")));
}

TEST(Naming, ReportAndDiagnoseOnEveryScenario) {
  for (const auto& scenario : kScenarios) {
    const auto root = fixture(scenario);
    const auto report = run_memopt(on_tree(root, {"report", "--json", "--containers"}), {kNoNvml});
    expect_named("report " + scenario, report.out);
    const auto diagnose = run_memopt(on_tree(root, {"diagnose", "--format", "json"}), {kNoNvml});
    expect_named("diagnose " + scenario, diagnose.out);
  }
}

TEST(Naming, CleanupAndMonitor) {
  TempTree tree;
  tree.copy_fixture("v2-oom-killed-small-shm");
  const auto cleanup =
      run_memopt(on_tree(tree.root(), {"cleanup", "--dry-run", "--format", "json"}),
                 {kNoNvml, "MEMOPT_RUNTIME_DIR=" + tree.mkdir("run")});
  ASSERT_EQ(cleanup.exit_code, 0) << cleanup.err;
  expect_named("cleanup", cleanup.out);

  // Samples, the initial level_changed event (the fixture is above normal) and the summary.
  const auto monitor = run_memopt(
      on_tree(tree.root(), {"monitor", "1", "--format", "json", "--duration", "1.5"}), {kNoNvml});
  ASSERT_EQ(monitor.exit_code, 0) << monitor.err;
  expect_named("monitor", monitor.out);
}

TEST(Naming, Run) {
  TempTree tree;
  // --force: where memopt may not make a cgroup, the command runs without the limit.
  const auto run = run_memopt({"run", "--format", "json", "--force", "--output",
                               tree.path("run.json"), "--", "sh", "-c", "exit 0"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  expect_named("run", slurp(tree.path("run.json")));
}

const TimePoint kStart = TimePoint(std::chrono::sys_days(std::chrono::year{2026} / 11 / 1));

analysis::QuickObservation observation(TimePoint at, std::uint64_t used) {
  analysis::QuickObservation o;
  o.at = at;
  o.memory.scope = analysis::Scope::kContainer;
  o.memory.limit_bytes = 2 * kGiB;
  o.memory.used_bytes = used;
  o.memory.available_bytes = 2 * kGiB - used;
  o.oom_kills = 0;
  o.pressure = model::Pressure{1.5, 1.0, 0.5, 0.25, 0.1, 0.0};
  return o;
}

/// A full sample with one process and one GPU.
analysis::Report a_sample(TimePoint at) {
  analysis::Report r;
  r.sample.timestamp = at;
  r.memory.scope = analysis::Scope::kContainer;
  r.memory.used_bytes = 300 * kMiB;
  r.memory.limit_bytes = 2 * kGiB;
  model::ProcessMemory p;
  p.pid = 7;
  p.name = "python3";
  p.rss_bytes = 300 * kMiB;
  p.pss_bytes = 280 * kMiB;
  r.sample.processes.push_back(p);
  model::GpuDevice gpu;
  gpu.index = 0;
  gpu.name = "NVIDIA H200";
  gpu.total_bytes = 143771 * kMiB;
  gpu.used_bytes = 20 * kGiB;
  r.sample.gpus.push_back(gpu);
  return r;
}

/// A post-mortem of a kill after a steady climb, as the recorder builds it.
record::Postmortem a_postmortem() {
  record::PostmortemInput in;
  in.kind = "oom_kill";
  in.target = "cgroup /test";
  model::OomKill victim;
  victim.pid = 4242;
  victim.name = "python3";
  victim.anon_rss_bytes = 900 * kMiB;
  victim.line = "Killed process 4242 (python3)";
  in.event = analysis::Event(analysis::OomKills{.count = 1, .victims = {victim}},
                             kStart + std::chrono::minutes(10));
  in.started = in.event.at;
  in.config_json = record::config_json(config::MonitorConfig{});
  for (int s = -120; s <= 0; s += 10) {
    record::ObservationRow o;
    o.at = in.event.at + std::chrono::seconds(s);
    o.used_bytes = static_cast<std::uint64_t>(1024 + s) * kMiB - 64 * kMiB;
    o.limit_bytes = kGiB;
    o.available_bytes = kGiB - *o.used_bytes;
    o.pressure_some_avg10 = 12.5;
    o.oom_kills = s == 0 ? 1 : 0;
    in.observations.push_back(o);
    record::SampleRow sample;
    sample.at = o.at;
    sample.limit_bytes = kGiB;
    sample.used_bytes = o.used_bytes;
    record::ProcessRow p;
    p.pid = 4242;
    p.name = "python3";
    p.rss_bytes = *o.used_bytes;
    p.pss_bytes = p.rss_bytes;
    sample.processes.push_back(p);
    in.samples.push_back(sample);
  }
  in.cgroup_files["memory.events"] = "oom 1\noom_kill 1\n";
  return record::build_postmortem(in);
}

/// Two hours at 1 s and then a minute apart, a full sample each hour, one post-mortem.
std::string write_history(const std::string& path) {
  TimePoint now = kStart;
  record::Recorder recorder(path, {}, [&now] { return now; });
  for (auto t = kStart; t < kStart + std::chrono::hours(2); t += std::chrono::seconds(30)) {
    now = t;
    recorder.observe(observation(now, 300 * kMiB), analysis::Level::kNormal);
    if ((t - kStart) % std::chrono::hours(1) == std::chrono::seconds(0))
      recorder.sample(a_sample(now));
  }
  const auto pm = a_postmortem();
  recorder.add_postmortem(kStart + std::chrono::minutes(10), "oom_kill", pm.summary, pm.json);
  recorder.flush();
  return path;
}

TEST(Naming, HistoryRecommendAndPostmortem) {
  TempTree tree;
  const auto db = write_history(tree.path("state/history.db"));
  // kStart is in the past: everything since 520 weeks ago.
  const auto history = run_memopt({"history", "--db", db, "--since", "520w", "--format", "json"});
  ASSERT_EQ(history.exit_code, 0) << history.err;
  expect_named("history", history.out);

  const auto recommend = run_memopt({"recommend", "--from-history", db, "--format", "json"});
  ASSERT_NE(recommend.out, "") << recommend.err;
  expect_named("recommend --from-history", recommend.out);

  const auto list = run_memopt({"postmortem", "--db", db, "--list", "--format", "json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  expect_named("postmortem --list", list.out);
  const auto last = run_memopt({"postmortem", "--db", db, "--last", "--json"});
  ASSERT_EQ(last.exit_code, 0) << last.err;
  expect_named("postmortem", last.out);
  expect_named("postmortem as stored", a_postmortem().json);

  // --html alone writes only the page; with --format the post-mortem is printed as well.
  const auto page = run_memopt({"postmortem", "--db", db, "--last", "--html", tree.path("p.html")});
  ASSERT_EQ(page.exit_code, 0) << page.err;
  EXPECT_EQ(page.out, "");
  EXPECT_THAT(slurp(tree.path("p.html")), ::testing::HasSubstr("<html"));
  const auto both = run_memopt(
      {"postmortem", "--db", db, "--last", "--html", tree.path("p.html"), "--format", "text"});
  EXPECT_THAT(both.out, ::testing::HasSubstr("What happened"));
}

TEST(Naming, AConfigWithAnOldKeyStillWorksWithAWarningNamingTheFileAndTheKey) {
  TempTree tree;
  const auto old = tree.write("old.toml", "[cleanup]\ncooldown_s = 60\n");
  const auto root = fixture("v1-limited");
  const auto report = run_memopt(on_tree(root, {"report", "--config", old}), {kNoNvml});
  EXPECT_EQ(report.exit_code, 0) << report.err;
  EXPECT_THAT(
      report.err,
      ::testing::HasSubstr(old + ":2: [cleanup] cooldown_s is deprecated, write cooldown_seconds"));
  const auto both = tree.write("both.toml", "[cleanup]\ncooldown_seconds = 60\ncooldown_s = 60\n");
  const auto refused = run_memopt(on_tree(root, {"report", "--config", both}), {kNoNvml});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err,
              ::testing::HasSubstr("cooldown_s: given together with cooldown_seconds"));
}

TEST(Naming, EveryCommandThatPrintsTakesFormatWithJsonAsItsAlias) {
  const auto root = fixture("v1-limited");
  for (const std::string command :
       {"report", "diagnose", "cleanup", "monitor", "run", "recommend", "postmortem", "history"}) {
    const auto help = run_memopt({command, "--help"});
    EXPECT_THAT(help.out, ::testing::HasSubstr("--format")) << command;
    if (command != "history") {
      EXPECT_THAT(help.out, ::testing::HasSubstr("Same as --format json")) << command;
    }
    const auto bad = run_memopt(on_tree(root, {command, "--format", "yaml"}), {kNoNvml});
    EXPECT_EQ(bad.exit_code, 2) << command << ": " << bad.err;
    EXPECT_THAT(bad.err, ::testing::HasSubstr("yaml")) << command;
  }
  const auto text = run_memopt(on_tree(root, {"diagnose", "--format", "text"}), {kNoNvml});
  EXPECT_FALSE(Json::accept(text.out));
  EXPECT_THAT(text.out, ::testing::HasSubstr("status       WARNING"));
  const auto json = run_memopt(on_tree(root, {"diagnose", "--json"}), {kNoNvml});
  EXPECT_TRUE(Json::accept(json.out)) << json.out;
  // recommend's table and --from-run are text: JSON only from the history.
  const auto table = run_memopt({"recommend", "--format", "json"});
  EXPECT_EQ(table.exit_code, 2);
  EXPECT_THAT(table.err, ::testing::HasSubstr("--from-history"));
}

TEST(Naming, TheLeakChecksAnswer) {
  protocol::LeaksAnswer answer;
  answer.pid = 42;
  answer.checkpoints = 8;
  answer.duration_s = 70.5;
  answer.rss_growth_bytes = 30 * kMiB;
  answer.python_growth_bytes = 20 * kMiB;
  answer.torch_cpu_growth_bytes = 0;
  answer.unexplained_native_growth_bytes = 10 * kMiB;
  answer.sites.push_back({"train.py", 12, "python", 20 * kMiB, 1000, 40.0 * kMiB, 0.99});
  expect_named("leaks answer", protocol::encode_leaks_answer(answer));
}

TEST(Naming, TheHttpApi) {
  readers::CollectOptions collect;
  const auto root = fixture("v2-oom-killed-small-shm");
  Roots roots;
  roots.procfs = root + "/proc";
  roots.sysfs = root + "/sys";
  auto report = analysis::analyze(readers::collect(roots, collect), {});
  analysis::Watcher watcher{analysis::WatchParams{}};
  std::deque<analysis::Event> events;
  EngineSnapshot snapshot;
  snapshot.report = &report;
  snapshot.summary = &watcher.summary();
  snapshot.history = &watcher.history();
  snapshot.events = &events;
  snapshot.cleanup_reclaimed_bytes = 4096;
  http::SnapshotRenderer renderer;
  const auto served = renderer.render(snapshot);
  expect_named("/api/report", served.report_json);
  expect_named("/api/history", served.history_json);
  expect_named("/api/events", served.events_json);
}

}  // namespace
}  // namespace memopt::testing
