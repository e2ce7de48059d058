#include "memopt/record/sink.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "memopt/error.hpp"
#include "memopt/printable.hpp"
#include "memopt/readers/cgroupfs.hpp"
#include "memopt/record/postmortem.hpp"
#include "memopt/render/monitor.hpp"
#include "memopt/sys/clock.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/state_file.hpp"

namespace memopt::record {

namespace {

/// The cgroup files a post-mortem keeps, by controller version.
constexpr std::array<const char*, 3> kV2Files{"memory.events", "memory.stat", "memory.peak"};
constexpr std::array<const char*, 4> kV1Files{"memory.oom_control", "memory.stat", "memory.failcnt",
                                              "memory.max_usage_in_bytes"};

/// A danger episode that began this close to an OOM kill (or after it) is the kill's story.
constexpr std::chrono::seconds kKillCoversEpisode{10};

std::string file_stamp(TimePoint at) {
  auto s = render::rfc3339(at);
  std::erase(s, ':');
  std::erase(s, '-');
  return s;
}

}  // namespace

RecordingSink::RecordingSink(EngineSink& next, Options options)
    : next_(next), options_(std::move(options)) {
  if (!options_.clock) options_.clock = [] { return sys::wall_now(); };
  try {
    recorder_ = std::make_unique<Recorder>(options_.path, options_.config.record, options_.clock);
    options_.path = recorder_->path();
    // A restart continues the same history: its post-mortems are served again.
    load_postmortems();
    next_.on_notice(fmt::format("recording to {}", recorder_->path()));
  } catch (const std::exception& e) {
    // memopt::Error, or what a library threw on a stored record: the monitor goes on.
    recorder_.reset();
    fail(printable(e.what()));
  }
}

RecordingSink::~RecordingSink() = default;

void RecordingSink::fail(const std::string& why) {
  recorder_.reset();
  next_.on_notice(fmt::format("not recording: {}; monitoring goes on", why));
  analysis::Event e;
  e.name = "recording_failed";
  e.at = options_.clock();
  e.level = level_;
  e.memory = memory_;
  e.message = fmt::format("not recording: {}", why);
  next_.on_event(e);
}

template <typename F>
void RecordingSink::guarded(F&& write) {
  if (!recorder_) return;
  try {
    write();
  } catch (const std::exception& e) {
    fail(printable(e.what()));
  }
}

void RecordingSink::on_sample(const analysis::Report& report) {
  next_.on_sample(report);
  memory_ = report.memory;
  guarded([&] { recorder_->sample(report); });
}

void RecordingSink::on_observation(const analysis::QuickObservation& o, analysis::Level level) {
  next_.on_observation(o, level);
  level_ = level;
  memory_ = o.memory;
  guarded([&] { recorder_->observe(o, level); });
}

void RecordingSink::on_event(const analysis::Event& event) {
  next_.on_event(event);
  guarded([&] {
    auto line = render::render_event(event, true);
    while (!line.empty() && line.back() == '\n') line.pop_back();
    recorder_->event(event, line);
  });
  if (event.name == "oom_kill") {
    postmortem("oom_kill", event, event.at);
    last_kill_ = event.at;
  } else if (event.name == "level_changed") {
    if (event.level == analysis::Level::kDanger && !danger_since_) {
      danger_since_ = event.at;
    } else if (event.level != analysis::Level::kDanger && danger_since_) {
      if (!kill_covers_episode()) postmortem("danger", event, *danger_since_);
      danger_since_.reset();
    }
  }
}

void RecordingSink::on_publish(const EngineSnapshot& snapshot) {
  if (list_json_.empty()) {
    next_.on_publish(snapshot);
    return;
  }
  EngineSnapshot with = snapshot;
  with.postmortems_json = list_json_;
  with.postmortems = documents_;
  with.metrics += fmt::format(
      "# HELP memopt_postmortems_total Post-mortems the flight recorder wrote (OOM kills and "
      "danger episodes) since the monitor started.\n"
      "# TYPE memopt_postmortems_total counter\n"
      "memopt_postmortems_total {}\n",
      written_);
  next_.on_publish(with);
}

void RecordingSink::on_notice(std::string_view message) { next_.on_notice(message); }

void RecordingSink::set_config(const config::MonitorConfig& config) {
  options_.config = config;
  if (recorder_) recorder_->set_config(config.record);
}

bool RecordingSink::kill_covers_episode() const {
  // An episode that ended in an OOM kill has its post-mortem: the kill's.
  return last_kill_ && danger_since_ && *last_kill_ >= *danger_since_ - kKillCoversEpisode;
}

void RecordingSink::finish() {
  // A monitor stopped while the fall after a kill settles is still in the kill's episode.
  if (danger_since_ && !kill_covers_episode()) {
    analysis::Event end;
    end.name = "monitor_stopped";
    end.at = options_.clock();
    end.level = level_;
    end.message = "the monitor stopped during the danger episode";
    postmortem("danger", end, *danger_since_);
  }
  danger_since_.reset();
  guarded([&] { recorder_->flush(); });
}

void RecordingSink::load_postmortems() {
  History history(recorder_->path());
  const auto entries = history.postmortems();
  auto documents = std::make_shared<std::map<std::int64_t, std::string>>();
  for (const auto& e : entries) {
    try {
      if (auto json = history.postmortem_json(e.id)) (*documents)[e.id] = std::move(*json);
    } catch (const Error& damaged) {
      next_.on_notice(fmt::format("post-mortem {} is not served: {}", e.id, damaged.what()));
    }
  }
  for (const auto& note : history.notes()) next_.on_notice(note);
  documents_ = std::move(documents);
  list_json_ = render_postmortem_list(entries, true);
  while (!list_json_.empty() && list_json_.back() == '\n') list_json_.pop_back();
}

void RecordingSink::postmortem(const std::string& kind, const analysis::Event& event,
                               TimePoint started) {
  if (!recorder_) return;
  PostmortemInput input;
  input.kind = kind;
  input.event = event;
  input.started = started;
  input.target = options_.target.describe();
  input.config_json = config_json(options_.config);
  // The cgroup's own accounting at the time (read now, within a second of the kill).
  std::vector<model::Note> notes;
  const auto target = readers::locate_target(options_.roots, options_.target, notes);
  if (target.location) {
    const auto& dir = target.location->dir;
    const auto read = [&](const char* name) {
      if (auto text = sys::read_optional(dir + "/" + name)) input.cgroup_files[name] = *text;
    };
    if (target.location->version == 2) {
      for (const char* name : kV2Files) read(name);
    } else {
      for (const char* name : kV1Files) read(name);
    }
  }
  guarded([&] {
    const auto from = event.at - kPostmortemWindow;
    recorder_->flush();
    input.observations = recorder_->observations(from, event.at);
    input.samples = recorder_->samples(from, event.at);
    Postmortem pm;
    try {
      pm = build_postmortem(input);
    } catch (const std::exception& e) {
      // A document that cannot be built (a name a library refuses) loses this post-mortem,
      // not the recording.
      next_.on_notice(fmt::format("post-mortem not written: {}", printable(e.what())));
      return;
    }
    const auto id = recorder_->add_postmortem(event.at, kind, pm.summary, pm.json);
    // The id goes into the stored document too, so that every view can name it.
    auto doc = nlohmann::ordered_json::parse(pm.json);
    doc["id"] = id;
    pm.json = doc.dump();
    recorder_->set_postmortem_json(id, pm.json);
    ++written_;
    std::string beside = recorder_->path();
    beside = beside.substr(0, beside.rfind('/') + 1) +
             fmt::format("postmortem-{}-{}.json", id, file_stamp(event.at));
    std::string written = beside;
    try {
      // A new file, never through a link: one planted under this name stays as it was.
      sys::create_new_file(beside, pm.json + "\n");
    } catch (const Error& e) {
      next_.on_notice(
          fmt::format("post-mortem {} is in the database, but not beside it: {}", id, e.what()));
      written = recorder_->path();
    }
    load_postmortems();
    analysis::Event e;
    e.name = "postmortem";
    e.at = event.at;
    e.level = level_;
    e.memory = event.memory;
    e.message = fmt::format("post-mortem {} ({}) written to {}: `memopt postmortem {}`", id,
                            pm.summary, written, id);
    next_.on_event(e);
  });
}

}  // namespace memopt::record
