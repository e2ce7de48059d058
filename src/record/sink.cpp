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
#include "memopt/sys/process.hpp"
#include "memopt/sys/state_file.hpp"
#include "memopt/timestamp.hpp"

namespace memopt::record {

namespace {

/// The cgroup files a post-mortem keeps, by controller version.
constexpr std::array<const char*, 3> kV2Files{"memory.events", "memory.stat", "memory.peak"};
constexpr std::array<const char*, 4> kV1Files{"memory.oom_control", "memory.stat", "memory.failcnt",
                                              "memory.max_usage_in_bytes"};

/// A danger episode that began this close to an OOM kill (or after it) is the kill's story.
constexpr std::chrono::seconds kKillCoversEpisode{10};

std::string file_stamp(TimePoint at) {
  auto s = rfc3339(at);
  std::erase(s, ':');
  std::erase(s, '-');
  return s;
}

}  // namespace

RecordingSink::RecordingSink(EngineSink& next, Options options)
    : next_(next), options_(std::move(options)) {
  if (!options_.clock) options_.clock = [] { return sys::wall_now(); };
  queued_at_ = options_.clock();
  try {
    // The writer's now is when its latest write was asked for: the clock is the engine's.
    recorder_ = std::make_unique<Recorder>(options_.path, options_.config.record,
                                           [this] { return queued_at_.load(); });
    options_.path = recorder_->path();
    // A restart continues the same history: its post-mortems are served again.
    load_postmortems();
    notice(fmt::format("recording to {}", recorder_->path()));
    recording_ = true;
  } catch (const std::exception& e) {
    // memopt::Error, or what a library threw on a stored record: the monitor goes on.
    recorder_.reset();
    fail(printable(e.what()));
  }
  deliver();
  if (recording_) writer_ = std::jthread([this](const std::stop_token& stop) { write_loop(stop); });
}

RecordingSink::~RecordingSink() {
  if (writer_.joinable()) {
    writer_.request_stop();
    writer_.join();
  }
}

// --- the engine's thread ------------------------------------------------------------------------

void RecordingSink::enqueue(std::function<void()> run, bool droppable) {
  if (!writer_.joinable() || !recording_) return;
  {
    std::scoped_lock lock(mutex_);
    if (droppable && queue_.size() >= kMaxQueued) {
      ++dropped_;
      return;
    }
    queued_at_ = options_.clock();
    queue_.push_back(Job{std::move(run), droppable});
  }
  wake_.notify_one();
}

void RecordingSink::deliver() {
  Outbox said;
  std::uint64_t dropped = 0;
  {
    std::scoped_lock lock(mutex_);
    std::swap(said, outbox_);
    std::swap(dropped, dropped_);
  }
  for (const auto& n : said.notices) next_.on_notice(n);
  if (dropped > 0) {
    next_.on_notice(fmt::format(
        "recording is behind (the database is slow or locked): {} readings not recorded", dropped));
  }
  if (said.list_json) list_json_ = std::move(*said.list_json);
  if (said.documents) documents_ = std::move(said.documents);
  for (const auto& e : said.events) next_.on_event(e);
  if (said.failure && !failure_said_) {
    failure_said_ = true;
    next_.on_notice(fmt::format("not recording: {}; monitoring goes on", *said.failure));
    analysis::Event e(analysis::RecordingFailed{}, options_.clock(), level_, memory_);
    e.message = fmt::format("not recording: {}", *said.failure);
    next_.on_event(e);
  }
}

void RecordingSink::settle() {
  if (writer_.joinable()) {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
  }
  deliver();
}

void RecordingSink::on_sample(const analysis::Report& report) {
  deliver();
  next_.on_sample(report);
  memory_ = report.memory;
  if (report.sample.shm) shm_ = report.sample.shm;
  enqueue([this, report] { guarded([&] { recorder_->sample(report); }); }, true);
}

void RecordingSink::on_observation(const analysis::QuickObservation& o, analysis::Level level) {
  deliver();
  next_.on_observation(o, level);
  // A change of level is always kept: it is what a post-mortem's timeline is made of.
  const bool droppable = level == level_;
  level_ = level;
  memory_ = o.memory;
  enqueue([this, o, level] { guarded([&] { recorder_->observe(o, level); }); }, droppable);
}

void RecordingSink::on_event(const analysis::Event& event) {
  deliver();
  next_.on_event(event);
  auto line = render::render_event(event, true);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  enqueue(
      [this, event, line = std::move(line)] { guarded([&] { recorder_->event(event, line); }); },
      false);
  if (event.kind() == analysis::EventKind::kOomKill) {
    request_postmortem("oom_kill", event, event.at);
    last_kill_ = event.at;
  } else if (event.kind() == analysis::EventKind::kLevelChanged) {
    if (event.level == analysis::Level::kDanger && !danger_since_) {
      danger_since_ = event.at;
    } else if (event.level != analysis::Level::kDanger && danger_since_) {
      if (!kill_covers_episode()) request_postmortem("danger", event, *danger_since_);
      danger_since_.reset();
    }
  }
}

void RecordingSink::on_publish(const EngineSnapshot& snapshot) {
  deliver();
  if (list_json_.empty()) {
    next_.on_publish(snapshot);
    return;
  }
  EngineSnapshot with = snapshot;
  with.postmortems_json = list_json_;
  with.postmortems = documents_;
  with.postmortems_written = written_.load();
  next_.on_publish(with);
}

void RecordingSink::on_notice(std::string_view message) {
  deliver();
  next_.on_notice(message);
}

void RecordingSink::set_config(const config::MonitorConfig& config) {
  options_.config = config;
  enqueue(
      [this, record = config.record] {
        if (recorder_) recorder_->set_config(record);
      },
      false);
}

void RecordingSink::request_postmortem(const std::string& kind, const analysis::Event& event,
                                       TimePoint started) {
  if (!writer_.joinable()) return;
  PostmortemInput input;
  input.kind = kind;
  input.event = event;
  input.started = started;
  input.target = options_.target.describe();
  input.config_json = config_json(options_.config);
  input.dev_shm = shm_;
  // The cgroup's own accounting at the time, read here: within a second of the kill, however
  // far behind the writer is.
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
  enqueue([this, input = std::move(input),
           level = level_]() mutable { postmortem(std::move(input), level); },
          false);
}

void RecordingSink::finish() {
  // A monitor stopped while the fall after a kill settles is still in the kill's episode.
  if (danger_since_ && !kill_covers_episode()) {
    analysis::Event end(analysis::MonitorStopped{}, options_.clock(), level_);
    end.message = "the monitor stopped during the danger episode";
    request_postmortem("danger", end, *danger_since_);
  }
  danger_since_.reset();
  enqueue([this] { guarded([&] { recorder_->flush(); }); }, false);
  settle();
}

// --- the writer thread --------------------------------------------------------------------------

void RecordingSink::write_loop(const std::stop_token& stop) {
  const sys::AsyncSignalsBlocked blocked;  // the monitor's main thread takes its signals
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, stop, [this] { return !queue_.empty(); });
    if (queue_.empty()) break;  // stopped, and nothing left to write
    auto job = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    if (recorder_) job.run();
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
  busy_ = false;
  idle_.notify_all();
}

void RecordingSink::notice(std::string message) {
  std::scoped_lock lock(mutex_);
  outbox_.notices.push_back(std::move(message));
}

void RecordingSink::fail(const std::string& why) {
  recorder_.reset();
  recording_ = false;
  std::scoped_lock lock(mutex_);
  if (!outbox_.failure) outbox_.failure = why;
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

bool RecordingSink::kill_covers_episode() const {
  // An episode that ended in an OOM kill has its post-mortem: the kill's.
  return last_kill_ && danger_since_ && *last_kill_ >= *danger_since_ - kKillCoversEpisode;
}

void RecordingSink::load_postmortems() {
  History history(recorder_->path());
  const auto entries = history.postmortems();
  auto documents = std::make_shared<std::map<std::int64_t, std::string>>();
  for (const auto& e : entries) {
    try {
      if (auto json = history.postmortem_json(e.id)) (*documents)[e.id] = std::move(*json);
    } catch (const Error& damaged) {
      notice(fmt::format("post-mortem {} is not served: {}", e.id, damaged.what()));
    }
  }
  for (const auto& note : history.notes()) notice(note);
  auto list = render_postmortem_list(entries, true);
  while (!list.empty() && list.back() == '\n') list.pop_back();
  std::scoped_lock lock(mutex_);
  outbox_.documents = std::move(documents);
  outbox_.list_json = std::move(list);
}

void RecordingSink::postmortem(PostmortemInput input, analysis::Level level) {
  guarded([&] {
    const auto& event = input.event;
    const auto from = event.at - kPostmortemWindow;
    recorder_->flush();
    input.observations = recorder_->observations(from, event.at);
    input.samples = recorder_->samples(from, event.at);
    for (auto& line : recorder_->events(from, event.at)) {
      if (line.find("\"loop_forecast\"") != std::string::npos) {
        input.loop_forecasts.push_back(std::move(line));
      } else if (line.find("\"shm_filling\"") != std::string::npos ||
                 line.find("\"shm_sweep\"") != std::string::npos) {
        input.shm_events.push_back(std::move(line));
      }
    }
    analysis::Postmortem analysed;
    Postmortem pm;
    try {
      analysed = analyze_postmortem(input);
      pm = {postmortem_to_json(analysed), analysed.summary.value_or("")};
    } catch (const std::exception& e) {
      // A document that cannot be built (a name a library refuses) loses this post-mortem,
      // not the recording.
      notice(fmt::format("post-mortem not written: {}", printable(e.what())));
      return;
    }
    const auto id = recorder_->add_postmortem(event.at, input.kind, pm.summary, pm.json);
    // The id goes into the stored document too, so that every view can name it.
    analysed.id = id;
    pm.json = postmortem_to_json(analysed);
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
      notice(fmt::format("post-mortem {} is in the database, but not beside it: {}", id, e.what()));
      written = recorder_->path();
    }
    load_postmortems();
    analysis::Event e(analysis::PostmortemWritten{}, event.at, level, event.memory);
    e.message = fmt::format("post-mortem {} ({}) written to {}: `memopt postmortem {}`", id,
                            pm.summary, written, id);
    std::scoped_lock lock(mutex_);
    outbox_.events.push_back(std::move(e));
  });
}

}  // namespace memopt::record
