#include "memopt/top/view_sink.hpp"

#include <chrono>
#include <string>

namespace memopt::top {

void ViewSink::on_sample(const analysis::Report& report) {
  history_.observe_processes(report.sample.timestamp, report.sample.processes);
  changed_ = true;
}

void ViewSink::on_groups(const std::vector<analysis::ProcessGroup>& groups) {
  groups_ = groups;
  changed_ = true;
}

void ViewSink::on_observation(const analysis::QuickObservation& observation,
                              analysis::Level /*level*/) {
  history_.observe(observation.at, observation.memory);
}

void ViewSink::on_notice(std::string_view message) {
  analysis::Event notice(analysis::Notice{}, std::chrono::system_clock::now(),
                         analysis::Level::kUnknown);
  notice.message = std::string(message);
  keep(notice);
}

void ViewSink::freeze(const analysis::Report& report) {
  frozen_ = Frozen{report, groups_, events_, history_};
}

Frame ViewSink::frame(const analysis::Report* live) const {
  if (frozen_) return {&frozen_->report, frozen_->groups, frozen_->events, frozen_->history};
  return {live, groups_, events_, history_};
}

void ViewSink::clear() {
  groups_.clear();
  events_.clear();
  history_.clear();
  frozen_.reset();
  changed_ = true;
}

void ViewSink::keep(const analysis::Event& event) {
  events_.push_back(event);
  if (events_.size() > kEventsKept) events_.pop_front();
  changed_ = true;
}

}  // namespace memopt::top
