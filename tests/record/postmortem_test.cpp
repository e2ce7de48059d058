// The post-mortem's reasoning, against constructed recorder data: each class of episode (a
// bounded spike, an unbounded leak, several processes together, a spike between two samples,
// a second kill soon after a first), what would have prevented it (never the limit that failed,
// nothing for growth without bound), the grower (alive in this episode), and the text, JSON and
// page saying the same. Names that are not UTF-8 never stop a post-mortem being written.
#include "memopt/record/postmortem.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <variant>

#include "memopt/error.hpp"
#include "memopt/render/html.hpp"
#include "memopt/units.hpp"

namespace memopt::record {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

constexpr std::uint64_t kLimit = 1024 * kMiB;

/// Recorder rows built by hand: times in seconds before the event (t = 0).
struct Scenario {
  TimePoint at = TimePoint(std::chrono::sys_days(std::chrono::year{2026} / 11 / 1));
  PostmortemInput in;

  Scenario() {
    in.kind = "oom_kill";
    in.target = "cgroup /test";
    in.event = analysis::Event(analysis::OomKills{.count = 1}, at);
    in.started = at;
  }
  [[nodiscard]] TimePoint time(double t) const {
    return at + std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(t));
  }
  void observe(double t, double used_mib, std::uint64_t kills = 0) {
    ObservationRow o;
    o.at = time(t);
    o.used_bytes = static_cast<std::uint64_t>(used_mib * kMiB);
    o.limit_bytes = kLimit;
    o.available_bytes = kLimit - std::min(kLimit, *o.used_bytes);
    o.oom_kills = kills;
    in.observations.push_back(o);
  }
  /// A full sample; its used is the processes' sum.
  void sample(double t, const std::vector<std::tuple<int, std::string, double>>& processes) {
    SampleRow s;
    s.at = time(t);
    s.limit_bytes = kLimit;
    std::uint64_t used = 0;
    for (const auto& [pid, name, mib] : processes) {
      ProcessRow p;
      p.pid = pid;
      p.name = name;
      p.rss_bytes = static_cast<std::uint64_t>(mib * kMiB);
      p.pss_bytes = p.rss_bytes;
      used += p.rss_bytes;
      s.processes.push_back(p);
    }
    s.used_bytes = used;
    in.samples.push_back(s);
  }
  void victim(int pid, const std::string& name, double anon_mib) {
    model::OomKill v;
    v.pid = pid;
    v.name = name;
    v.anon_rss_bytes = static_cast<std::uint64_t>(anon_mib * kMiB);
    v.line = fmt::format("Killed process {} ({})", pid, name);
    in.event.payload_if<analysis::OomKills>()->victims.push_back(v);
  }
  void kernel_peak(std::uint64_t bytes) {
    in.cgroup_files["memory.max_usage_in_bytes"] = fmt::format("{}\n", bytes);
    in.cgroup_files["memory.stat"] = "cache 0\nrss 0\ntotal_inactive_file 0\n";
    in.cgroup_files["memory.failcnt"] = "1234\n";
  }
};

/// The three views of one post-mortem.
struct Views {
  Json doc;
  std::string text;
  std::string html;
};

/// Builds the post-mortem and checks what must hold for every class: prevention strictly above
/// the limit that failed and the kernel's own peak (or null, for growth without bound), no
/// negative growth, and the text and the page saying what the JSON says, in formatted units.
Views build_and_check(const Scenario& s) {
  const auto pm = build_postmortem(s.in);
  Views v;
  v.doc = Json::parse(pm.json);
  v.text = render_postmortem_text(parse_postmortem(pm.json));
  v.html = render_postmortem_html(parse_postmortem(pm.json));
  const auto& doc = v.doc;
  const auto& c = doc["classification"];
  const auto& p = doc["prevention"];
  const std::string cls = c["class"];

  EXPECT_THAT(v.text, HasSubstr("What happened: " + c["description"].get<std::string>()));
  EXPECT_THAT(v.html, HasSubstr(render::escape_html(c["description"].get<std::string>())));
  auto words = cls;
  std::replace(words.begin(), words.end(), '_', ' ');
  EXPECT_THAT(v.html, HasSubstr("<span>what happened</span><b>" + words + "</b>"));
  EXPECT_THAT(pm.summary, HasSubstr(cls == "spike_between_samples" ? "a spike between samples"
                                    : cls == "unbounded_growth"    ? "unbounded growth"
                                    : cls == "many_processes"      ? "many processes together"
                                                                   : "a bounded peak"));

  if (cls == "unbounded_growth") {
    EXPECT_TRUE(p["limit_bytes"].is_null()) << p.dump();
    EXPECT_THAT(v.text, HasSubstr("What would have prevented it: no larger limit."));
    EXPECT_THAT(v.html, HasSubstr("<b>none: it grew without bound</b>"));
    EXPECT_THAT(v.text, Not(HasSubstr("a limit of at least")));
  } else {
    const auto limit = p["limit_bytes"].get<std::uint64_t>();
    EXPECT_GT(limit, doc["limit_bytes"].get<std::uint64_t>())
        << "at or below the limit that failed";
    if (c["kernel_peak_bytes"].is_number()) {
      EXPECT_GT(limit, c["kernel_peak_bytes"].get<std::uint64_t>())
          << "not above the kernel's peak";
    }
    EXPECT_EQ(limit % kMiB, 0u);
    EXPECT_THAT(v.text, HasSubstr("a limit of at least " + format_bytes(limit) + " ("));
    EXPECT_THAT(v.html, HasSubstr("<span>limit that would have held</span><b>" +
                                  format_bytes(limit) + "</b>"));
  }
  if (!c["growers"].empty()) {
    const auto& g = c["growers"][0];
    const auto who = fmt::format("{} (pid {}", g["name"].get<std::string>(), g["pid"].get<int>());
    EXPECT_THAT(v.text, HasSubstr("What grew most: " + who + "), +" +
                                  format_bytes(g["growth_bytes"].get<std::uint64_t>())));
    EXPECT_THAT(v.html, HasSubstr("<b>" + who + ", +"));
    if (cls == "unbounded_growth") {
      EXPECT_EQ(p["grower"]["pid"], g["pid"]);
    }
  }
  for (const auto& q : doc["processes"]) EXPECT_GE(q["growth_bytes"].get<double>(), 0) << q.dump();
  for (const auto& q : doc["victims"]) {
    if (q["sampled"].get<bool>()) {
      EXPECT_GE(q["growth_bytes"].get<double>(), 0) << q.dump();
    }
  }
  // Units everywhere: no raw byte counts, no signed growth, no MiB/min for a fast grower.
  EXPECT_THAT(v.text, Not(HasSubstr("value ")));
  EXPECT_THAT(v.text, Not(HasSubstr("(-")));
  EXPECT_THAT(v.text, Not(HasSubstr("1073741824")));
  return v;
}

TEST(Postmortem, ABoundedSpikeGetsALimitAboveTheKernelsPeakWithHeadroom) {
  Scenario s;
  for (int t = -300; t <= -4; ++t) s.observe(t, 400);
  s.observe(-3, 600);
  s.observe(-2, 800);
  s.observe(-1, 1000);
  s.observe(0, 360, 1);
  for (int t = -300; t <= -6; t += 5) s.sample(t, {{10, "server", 350}, {20, "batch", 50}});
  s.sample(-1, {{10, "server", 350}, {20, "batch", 640}});
  s.victim(20, "batch", 670);
  s.kernel_peak(kLimit);
  const auto v = build_and_check(s);
  EXPECT_EQ(v.doc["classification"]["class"], "bounded_peak") << v.text;
  // The basis: 1000 MiB sampled + the 30 MiB the victim took after its last sample = 1030 MiB,
  // above the kernel's peak and the limit (1024 MiB); the larger of +100 MiB and ×1.2 is
  // 1236 MiB.
  EXPECT_EQ(v.doc["prevention"]["limit_bytes"], 1236 * kMiB);
  EXPECT_EQ(v.doc["classification"]["growers"][0]["pid"], 20);
  // The cgroup's rise over the active window only: 400 -> 1000 MiB in 3 s, not over 5 minutes.
  EXPECT_NEAR(v.doc["growth"]["bytes_per_second"].get<double>(), 200.0 * kMiB, kMiB);
  EXPECT_THAT(v.text, HasSubstr("memory.max_usage_in_bytes at the time: 1.00 GiB\n"));
  EXPECT_THAT(v.text, HasSubstr("memory.failcnt at the time: 1234\n"));
}

TEST(Postmortem, DevShmAtTheLastSampleAndItsEventsAreInEveryView) {
  Scenario s;
  for (int t = -60; t <= -1; ++t) s.observe(t, 400);
  s.observe(0, 300, 1);
  for (int t = -60; t <= -5; t += 5) s.sample(t, {{10, "python3", 400}});
  s.victim(10, "python3", 400);
  model::ShmLedger shm;
  shm.path = "/proc/10/root/dev/shm";
  shm.size_bytes = 64 * kMiB;
  shm.used_bytes = 60 * kMiB;
  shm.file_count = 2;
  shm.orphan_bytes = 8 * kMiB;
  shm.orphan_files = 1;
  shm.owners_judged = true;
  model::ShmFile dead;
  dead.name = "torch_41_1_0";
  dead.allocated_bytes = 8 * kMiB;
  dead.owner_pid = 41;
  dead.owner_alive = false;
  shm.files.push_back(dead);
  s.in.dev_shm = shm;
  s.in.shm_events = {
      R"({"event":"shm_filling","timestamp":"2026-10-31T23:59:30Z","message":"/dev/shm 90% full"})",
      R"({"event":"level_changed","timestamp":"2026-10-31T23:59:31Z","message":"not this one"})",
      "not json"};
  const auto v = build_and_check(s);
  const auto& doc_shm = v.doc["dev_shm"];
  EXPECT_EQ(doc_shm["used_bytes"], 60 * kMiB);
  EXPECT_EQ(doc_shm["orphan_bytes"], 8 * kMiB);
  EXPECT_EQ(doc_shm["largest_files"][0]["owner_pid"], 41);
  ASSERT_EQ(v.doc["dev_shm_events"].size(), 1u) << "only shm events, only lines that read";
  EXPECT_EQ(v.doc["dev_shm_events"][0]["event"], "shm_filling");
  EXPECT_THAT(v.text, HasSubstr("/dev/shm at the last sample: 60.0 MiB used of 64.0 MiB, 2 "
                                "file(s); orphans 8.00 MiB in 1 file(s)"));
  EXPECT_THAT(v.text,
              HasSubstr("/dev/shm before it, at 2026-10-31T23:59:30Z: /dev/shm 90% full\n"));
  EXPECT_THAT(v.html, HasSubstr("<span>/dev/shm</span><b>60.0 MiB of 64.0 MiB, orphans 8.00 MiB"));

  Scenario without;  // not read (a tree without /dev/shm): said, never zeros
  for (int t = -10; t <= 0; ++t) without.observe(t, 400);
  const auto w = build_and_check(without);
  EXPECT_TRUE(w.doc["dev_shm"].is_null());
  EXPECT_THAT(w.text, Not(HasSubstr("/dev/shm")));
  EXPECT_THAT(w.html, HasSubstr("<span>/dev/shm</span><b>not read</b>"));
}

TEST(Postmortem, AnUnboundedLeakPromisesNoLimitAndNamesTheGrowerAndItsRealRate) {
  Scenario s;
  // Idle at 300 MiB for 460 s, then 5 MiB/s until the kill.
  for (int t = -600; t <= -140; ++t) s.observe(t, 300);
  for (int t = -139; t <= -1; ++t) s.observe(t, 300 + 5.0 * (140 + t));
  s.observe(0, 100, 1);
  for (int t = -600; t <= -1; t += 10) {
    const double leaker = t <= -140 ? 200 : 200 + 5.0 * (140 + t);
    s.sample(t, {{30, "leaker", leaker}, {31, "server", 100}});
  }
  s.victim(30, "leaker", 900);
  s.kernel_peak(kLimit);
  const auto v = build_and_check(s);
  const auto& c = v.doc["classification"];
  EXPECT_EQ(c["class"], "unbounded_growth") << v.text;
  EXPECT_TRUE(v.doc["prevention"]["limit_bytes"].is_null());
  EXPECT_EQ(v.doc["prevention"]["grower"]["pid"], 30);
  EXPECT_EQ(v.doc["prevention"]["grower"]["name"], "leaker");
  // 5 MiB/s while it grew, not the window's average (about 1.2 MiB/s).
  EXPECT_NEAR(v.doc["prevention"]["bytes_per_second"].get<double>(), 5.0 * kMiB, 0.05 * kMiB);
  EXPECT_NEAR(v.doc["prevention"]["seconds_per_gib"].get<double>(), 1024.0 / 5.0, 2.0);
  EXPECT_THAT(v.text, HasSubstr("5.0 MiB/s"));
  EXPECT_THAT(v.text, HasSubstr("a larger limit only delays the kill by 3.4 min per GiB"));
  EXPECT_NEAR(v.doc["victims"][0]["bytes_per_second"].get<double>(), 5.0 * kMiB, 0.1 * kMiB);
}

TEST(Postmortem, SeveralProcessesTogetherAreTheSumNotOneCulprit) {
  Scenario s;
  // Four workers grow together from 100 to 235 MiB each in 20 s, then hold.
  const auto workers = [](double each) {
    std::vector<std::tuple<int, std::string, double>> out;
    for (int i = 0; i < 4; ++i) out.emplace_back(40 + i, fmt::format("worker-{}", i), each);
    out.emplace_back(50, "sidecar", 60);
    return out;
  };
  for (int t = -300; t <= -100; ++t) s.observe(t, 460);
  for (int t = -99; t <= -80; ++t) s.observe(t, 460 + 27.0 * (100 + t));
  for (int t = -79; t <= -1; ++t) s.observe(t, 1000);
  s.observe(0, 760, 1);
  for (int t = -300; t <= -100; t += 10) s.sample(t, workers(100));
  for (int t = -90; t <= -1; t += 10) s.sample(t, workers(t <= -80 ? 100 + 6.75 * (100 + t) : 235));
  s.victim(41, "worker-1", 235);
  s.kernel_peak(kLimit);
  const auto v = build_and_check(s);
  const auto& c = v.doc["classification"];
  EXPECT_EQ(c["class"], "many_processes") << v.text;
  EXPECT_EQ(c["processes_at_peak"], 5);
  EXPECT_EQ(c["processes_sum_bytes"].get<double>(), 1000.0 * kMiB);
  EXPECT_EQ(c["growers"].size(), 3u);  // the three largest named
  EXPECT_THAT(v.text, HasSubstr("5 processes held 1000 MiB at the peak sample"));
  // The sum (1000 MiB) is under the kernel's peak and the limit it reached (1024 MiB):
  // 1024 × 1.2 = 1228.8, up to 1229 MiB.
  EXPECT_EQ(v.doc["prevention"]["limit_bytes"], 1229 * kMiB);
}

TEST(Postmortem, ASpikeBetweenSamplesIsToldFromTheKernelsPeak) {
  Scenario s;
  for (int t = -300; t <= -1; ++t) s.observe(t, 400);
  s.observe(0, 380, 1);
  // The victim even shrank in its samples (336 -> 300 MiB): no negative "grew".
  for (int t = -300; t <= -1; t += 5)
    s.sample(t, {{60, "spiky", t < -150 ? 336 : 300}, {61, "helper", 64}});
  s.victim(60, "spiky", 600);
  s.kernel_peak(kLimit);
  const auto v = build_and_check(s);
  const auto& c = v.doc["classification"];
  EXPECT_EQ(c["class"], "spike_between_samples") << v.text;
  EXPECT_EQ(c["unseen_bytes"].get<double>(), 624.0 * kMiB);
  EXPECT_THAT(v.text, HasSubstr("624 MiB more came and went between two samples"));
  EXPECT_THAT(v.text, HasSubstr("It did not grow in the samples before the kill (300 MiB"));
  EXPECT_THAT(v.text, Not(HasSubstr("What grew most")));
  EXPECT_EQ(v.doc["victims"][0]["growth_bytes"].get<double>(), 0);
  EXPECT_TRUE(c["growers"].empty());
  EXPECT_EQ(v.doc["prevention"]["limit_bytes"], 1229 * kMiB);
}

TEST(Postmortem, TheSecondOfTwoKillsBlamesTheLiveGrowerNotThePreviousVictim) {
  Scenario s;
  s.in.event.payload_if<analysis::OomKills>()->count = 1;
  // First episode: "first" grows 100 -> 1000 MiB and is killed at -300.
  for (int t = -600; t <= -401; ++t) s.observe(t, 100);
  for (int t = -400; t <= -301; ++t) s.observe(t, 100 + 9.0 * (400 + t));
  s.observe(-300, 200, 1);
  // Second: "second" grows 300 -> 1000 MiB from -70, killed now.
  for (int t = -299; t <= -71; ++t) s.observe(t, 300, 1);
  for (int t = -70; t <= -1; ++t) s.observe(t, 300 + 10.0 * (70 + t), 1);
  s.observe(0, 200, 2);
  for (int t = -600; t <= -305; t += 5) {
    const double first = t < -400 ? 100 : 100 + 9.0 * (400 + t);
    s.sample(t, {{70, "first", first}});
  }
  for (int t = -295; t <= -1; t += 5) {
    const double second = t < -70 ? 200 : 200 + 10.0 * (70 + t);
    s.sample(t, {{80, "second", second}, {81, "idle", 100}});
  }
  s.victim(80, "second", 900);
  s.kernel_peak(kLimit);
  const auto v = build_and_check(s);
  const auto& c = v.doc["classification"];
  EXPECT_NEAR(v.doc["previous_kill_t"].get<double>(), -300, 0.01);
  EXPECT_EQ(c["class"], "unbounded_growth") << v.text;
  ASSERT_FALSE(c["growers"].empty());
  EXPECT_EQ(c["growers"][0]["pid"], 80);
  EXPECT_EQ(v.doc["prevention"]["grower"]["pid"], 80);
  for (const auto& p : v.doc["processes"]) EXPECT_NE(p["pid"], 70) << "the previous victim";
  EXPECT_THAT(v.text, HasSubstr("What grew most: second (pid 80)"));
  EXPECT_THAT(v.text, Not(HasSubstr("first (pid 70)")));
  EXPECT_THAT(v.text, HasSubstr("An earlier OOM kill came 5.0 min before"));
  // This episode's growth, not the first one's.
  EXPECT_NEAR(v.doc["growth"]["from_bytes"].get<double>(), 300.0 * kMiB, kMiB);
}

TEST(Postmortem, ADangerEpisodeKeepsThePeakUnderTheWarningLevelAboveTheLimit) {
  Scenario s;
  s.in.kind = "danger";
  s.in.event = analysis::Event(analysis::LevelChange{}, s.in.event.at);
  s.in.started = s.time(-30);
  for (int t = -300; t <= -40; ++t) s.observe(t, 500);
  s.observe(-39, 990);
  for (int t = -38; t <= -1; ++t) s.observe(t, 1000);
  s.observe(0, 500);
  for (int t = -300; t <= -1; t += 10)
    s.sample(t, {{90, "model", t < -39 ? 450.0 : 950.0}, {91, "api", 50}});
  const auto v = build_and_check(s);
  EXPECT_EQ(v.doc["classification"]["class"], "bounded_peak") << v.text;
  // 1000 MiB / 80% = 1250 MiB.
  EXPECT_EQ(v.doc["prevention"]["limit_bytes"], 1250 * kMiB);
}

TEST(Postmortem, ADocumentFromAnOlderMemoptStillRenders) {
  Scenario s;
  for (int t = -60; t <= -1; ++t) s.observe(t, 400 + 10.0 * (60 + t));
  s.observe(0, 100, 1);
  for (int t = -60; t <= -1; t += 5) s.sample(t, {{7, "old", 300 + 10.0 * (60 + t)}});
  s.victim(7, "old", 1000);
  auto doc = Json::parse(build_postmortem(s.in).json);
  // memopt.postmortem/1 as the first recorder wrote it: no classification, no episode, growth
  // from first to last sample.
  for (const char* key : {"classification", "previous_kill_t", "episode_start_t"}) doc.erase(key);
  for (auto& p : doc["processes"]) {
    for (const char* key : {"growth_seconds", "growth_from_bytes", "growth_to_bytes"}) p.erase(key);
  }
  for (auto& v : doc["victims"]) {
    for (const char* key : {"growth_seconds", "growth_from_bytes", "growth_to_bytes"}) v.erase(key);
  }
  doc["prevention"].erase("grower");
  std::string text;
  ASSERT_NO_THROW(text = render_postmortem_text(parse_postmortem(doc.dump())));
  EXPECT_THAT(text, HasSubstr("Killed: old (pid 7)"));
  std::string html;
  ASSERT_NO_THROW(html = render_postmortem_html(parse_postmortem(doc.dump())));
  EXPECT_THAT(html, HasSubstr("<span>what happened</span><b>unknown</b>"));
}

TEST(Postmortem, NamesThatAreNotUtf8NeverStopThePostmortem) {
  Scenario s;
  s.in.target = "cgroup /kubepods/bad\xff\xfe-name";
  for (int t = -60; t <= -1; ++t) s.observe(t, 400 + 10.0 * (60 + t));
  s.observe(0, 100, 1);
  for (int t = -60; t <= -1; t += 5) s.sample(t, {{7, "py\xc3(thon", 300 + 10.0 * (60 + t)}});
  s.victim(7, "py\xc3(thon", 1000);
  s.in.cgroup_files["memory.events"] = "oom_kill 1\nweird \xff\xff\n";
  Postmortem pm;
  ASSERT_NO_THROW(pm = build_postmortem(s.in));
  const auto doc = Json::parse(pm.json);  // valid UTF-8 throughout
  EXPECT_EQ(doc["target"], "cgroup /kubepods/bad\xEF\xBF\xBD\xEF\xBF\xBD-name");
  EXPECT_EQ(doc["victims"][0]["name"], "py\xEF\xBF\xBD(thon");
  EXPECT_THAT(pm.summary, HasSubstr("bad\xEF\xBF\xBD\xEF\xBF\xBD-name"));
  EXPECT_NO_THROW((void)Json(pm.summary).dump());  // the summary is valid UTF-8 too
  EXPECT_NO_THROW((void)render_postmortem_text(parse_postmortem(pm.json)));
  EXPECT_NO_THROW((void)render_postmortem_html(parse_postmortem(pm.json)));
  EXPECT_NO_THROW((void)render_postmortem_json(parse_postmortem(pm.json)));
  // A summary stored by an older memopt, raw bytes and all, lists.
  const std::vector<PostmortemEntry> entries{{1, s.at, "oom_kill", "OOM kill in bad\xff name"}};
  std::string list;
  ASSERT_NO_THROW(list = render_postmortem_list(entries, true));
  EXPECT_EQ(Json::parse(list)[0]["summary"], "OOM kill in bad\xEF\xBF\xBD name");
  EXPECT_THAT(render_postmortem_list(entries, false), HasSubstr("bad\xEF\xBF\xBD name"));
  // A hook command that is not UTF-8 in the configuration.
  config::MonitorConfig config;
  config.on_alert = "/bin/notify \xff";
  std::string config_text;
  ASSERT_NO_THROW(config_text = config_json(config));
  EXPECT_EQ(Json::parse(config_text)["hooks"]["on_alert"], "/bin/notify \xEF\xBF\xBD");
}

// --- the struct, its one serializer and its one parser ---------------------------------------

/// A kill with every part of the document filled: processes, victims, cgroup files, GPUs,
/// /dev/shm, its events and loop forecasts.
Scenario full_scenario() {
  Scenario s;
  s.in.config_json = config_json(config::MonitorConfig{});
  for (int t = -120; t <= -4; ++t) s.observe(t, 400);
  s.observe(-3, 700);
  s.observe(-1, 1000);
  s.observe(0, 360, 1);
  for (int t = -120; t <= -6; t += 5) s.sample(t, {{10, "server", 350}, {20, "batch", 50}});
  s.sample(-1, {{10, "server", 350}, {20, "batch", 640}});
  s.in.samples.back().gpus.push_back({0, "H100", 10 * kMiB, 80 * kMiB});
  s.victim(20, "batch", 670);
  s.victim(99, "unsampled", 5);
  s.kernel_peak(kLimit);
  s.in.cgroup_files["memory.events"] = "low 0\nhigh 2\nmax some text\n";
  model::ShmLedger shm;
  shm.path = "/dev/shm";
  shm.size_bytes = 64 * kMiB;
  shm.used_bytes = 60 * kMiB;
  shm.file_count = 1;
  model::ShmFile file;
  file.name = "torch_41_1_0";
  file.allocated_bytes = 8 * kMiB;
  file.owner_pid = 41;
  shm.files.push_back(file);
  s.in.dev_shm = shm;
  s.in.shm_events = {R"({"event":"shm_sweep","timestamp":"2026-10-31T23:59:30Z"})"};
  s.in.loop_forecasts = {
      R"({"event":"loop_forecast","timestamp":"2026-10-31T23:59:00Z","pid":42,"name":"python3",)"
      R"("bytes_per_item":2097152.0,"item":21,"limit_item":236,"total":null,"seconds_left":22.0,)"
      R"("limit_bytes":1073741824,"forecast_at":"2026-10-31T23:58:59Z","message":"it will not fit"})"};
  return s;
}

TEST(PostmortemDocument, WhatTheRecorderWritesReadsBackToTheSameStructAndTheSameBytes) {
  auto danger = full_scenario();
  danger.in.kind = "danger";
  danger.in.started = danger.time(-30);
  for (const auto& s : {full_scenario(), danger, Scenario()}) {
    auto pm = analyze_postmortem(s.in);
    const auto json = postmortem_to_json(pm);
    EXPECT_EQ(json, build_postmortem(s.in).json);
    const auto back = parse_postmortem(json);
    EXPECT_EQ(postmortem_to_json(back), json);
    // What the views read survives the trip, typed.
    EXPECT_EQ(back.victims.size(), pm.victims.size());
    EXPECT_EQ(back.processes.size(), pm.processes.size());
    EXPECT_EQ(back.summary, pm.summary);
    EXPECT_EQ(back.prevention.has_value(), pm.prevention.has_value());
    // The text of the struct and of the stored document are the same text.
    EXPECT_EQ(render_postmortem_text(back), render_postmortem_text(pm));
    // The recorder adds its id; it is read back and named in the text.
    pm.id = 12;
    const auto stored = postmortem_to_json(pm);
    EXPECT_EQ(stored, json.substr(0, json.size() - 1) + R"(,"id":12})");
    EXPECT_EQ(parse_postmortem(stored).id, 12);
    EXPECT_THAT(render_postmortem_text(parse_postmortem(stored)), HasSubstr("Post-mortem 12: "));
  }
  const auto pm = parse_postmortem(build_postmortem(full_scenario().in).json);
  ASSERT_EQ(pm.victims.size(), 2u);
  EXPECT_TRUE(pm.victims[0].sampled.has_value());
  EXPECT_FALSE(pm.victims[1].sampled.has_value()) << "not in the samples";
  ASSERT_TRUE(pm.prevention.has_value());
  EXPECT_EQ(std::get<analysis::PostmortemLargerLimit>(*pm.prevention).limit_bytes % kMiB, 0u);
  ASSERT_EQ(pm.loop_forecasts.size(), 1u);
  EXPECT_EQ(pm.loop_forecasts[0].limit_item, 236u);
  EXPECT_FALSE(pm.loop_forecasts[0].total.has_value()) << "null stays absent";
  ASSERT_EQ(pm.gpus_at_peak.size(), 1u);
  EXPECT_EQ(pm.gpus_at_peak[0].name, "H100");
  ASSERT_TRUE(pm.config_json.has_value());
  EXPECT_EQ(*pm.config_json, config_json(config::MonitorConfig{}));
  const auto events = std::find_if(
      pm.cgroup_files.begin(), pm.cgroup_files.end(),
      [](const analysis::PostmortemCgroupFile& f) { return f.name == "memory.events"; });
  ASSERT_NE(events, pm.cgroup_files.end());
  ASSERT_EQ(events->values.size(), 3u);
  EXPECT_EQ(std::get<std::uint64_t>(events->values[1].second), 2u);
  EXPECT_EQ(std::get<std::string>(events->values[2].second), "some text");
}

TEST(PostmortemDocument, AnOlderDocumentReadsWithItsMissingMembersAbsentAndWritesStably) {
  auto doc = Json::parse(build_postmortem(full_scenario().in).json);
  for (const char* key : {"classification", "previous_kill_t", "episode_start_t", "loop_forecasts",
                          "dev_shm", "dev_shm_events", "summary", "gpus_at_peak"})
    doc.erase(key);
  for (auto& p : doc["processes"]) p.erase("growth_seconds");
  const auto pm = parse_postmortem(doc.dump());
  EXPECT_FALSE(pm.classification.has_value());
  EXPECT_FALSE(pm.summary.has_value());
  EXPECT_FALSE(pm.dev_shm.has_value());
  EXPECT_FALSE(pm.processes.at(0).growth_seconds.has_value()) << "absent, not 0";
  // Written again: missing members are null (the summary stays absent), and stay so.
  const auto once = postmortem_to_json(pm);
  EXPECT_EQ(Json::parse(once)["classification"], nullptr);
  EXPECT_FALSE(Json::parse(once).contains("summary"));
  EXPECT_EQ(postmortem_to_json(parse_postmortem(once)), once);
  EXPECT_THAT(render_postmortem_html(pm), HasSubstr("<span>what happened</span><b>unknown</b>"));
}

TEST(PostmortemDocument, TheParserRefusesADamagedDocumentWithAnErrorNamingWhy) {
  const auto good = Json::parse(build_postmortem(full_scenario().in).json);
  std::vector<std::pair<std::string, std::string>> damaged{
      {"garbage", "not json"},
      {"an empty object", "{}"},
      {"truncated", good.dump().substr(0, good.dump().size() / 2)},
      {"deep", std::string(100, '[') + std::string(100, ']')},
      {"a string", R"("x")"}};
  const auto edit = [&](const std::string& name, const std::function<void(Json&)>& change) {
    auto d = good;
    change(d);
    damaged.emplace_back(name, d.dump());
  };
  edit("victims a string", [](Json& d) { d["victims"] = "x"; });
  edit("a victim's name a number", [](Json& d) { d["victims"][0]["name"] = 5; });
  edit("a pid a string", [](Json& d) { d["processes"][0]["pid"] = "100"; });
  edit("no kind", [](Json& d) { d.erase("kind"); });
  edit("prevention wrong", [](Json& d) { d["prevention"] = {{"grower", 1}}; });
  edit("cgroup files a list", [](Json& d) { d["cgroup_files"] = {1, 2}; });
  for (const auto& [name, json] : damaged) {
    try {
      (void)parse_postmortem(json);
      ADD_FAILURE() << name << ": a damaged document was read";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("post-mortem document: ")) << name;
    }
  }
}

TEST(PostmortemDocument, AMemberTheViewsDoNotCheckReadsAsAbsentWhenItIsOfTheWrongType) {
  auto doc = Json::parse(build_postmortem(full_scenario().in).json);
  doc["previous_kill_t"] = "yesterday";
  doc["dev_shm"] = 5;
  doc["loop_forecasts"] = Json::array({Json{{"pid", "x"}, {"message", "said"}}, 7});
  doc["classification"]["growers"] = "none";
  doc["cgroup_files"]["memory.events"] = Json::array({1});
  doc["id"] = "one";
  analysis::Postmortem pm;
  ASSERT_NO_THROW(pm = parse_postmortem(doc.dump()));
  EXPECT_FALSE(pm.previous_kill_t.has_value());
  EXPECT_FALSE(pm.dev_shm.has_value());
  ASSERT_EQ(pm.loop_forecasts.size(), 1u) << "an entry that is not an object is left out";
  EXPECT_FALSE(pm.loop_forecasts[0].pid.has_value());
  EXPECT_TRUE(pm.classification->growers.empty());
  EXPECT_FALSE(pm.id.has_value());
  const auto text = render_postmortem_text(pm);
  EXPECT_THAT(text, Not(HasSubstr("An earlier OOM kill")));
  EXPECT_THAT(text, HasSubstr("Post-mortem ?: "));
  EXPECT_THAT(text, HasSubstr("Forecast before it, at null: said\n"));
  EXPECT_THAT(text, Not(HasSubstr("memory.events at the time")));
}
}  // namespace
}  // namespace memopt::record
