// The client side of the `stats` request: a process's answer, read by the protocol's decoder
// into the model's ProcessStats.
#include <string>

#include "memopt/actions/process_stats.hpp"
#include "memopt/error.hpp"
#include "memopt/protocol/stats.hpp"

namespace memopt::actions {

namespace {

void fail(model::ProcessStats& stats, std::string reason) {
  stats.torch.clear();
  stats.models.clear();
  stats.forecasts.clear();
  stats.forecasts_note.reset();
  stats.error = std::move(reason);
}

}  // namespace

std::optional<std::string> torch_version_of_stats_answer(std::string_view answer) {
  return protocol::torch_version_of(answer);
}

void apply_stats_answer(std::string_view answer, model::ProcessStats& stats) {
  protocol::StatsAnswer decoded;
  try {
    decoded = protocol::decode_stats_answer(answer);
  } catch (const Error& e) {
    return fail(stats, e.what());
  }
  if (decoded.error) return fail(stats, *decoded.error);
  if (decoded.torch_error) return fail(stats, *decoded.torch_error);
  stats.torch = std::move(decoded.torch);
  stats.models = std::move(decoded.models);
  stats.forecasts = std::move(decoded.forecasts);
  stats.forecasts_note = std::move(decoded.forecasts_note);
}

}  // namespace memopt::actions
