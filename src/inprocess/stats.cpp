// The `stats` request of the cleanup socket: what this process holds, as it knows it.
#include "memopt/protocol/stats.hpp"

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include "memopt/forecast.hpp"
#include "memopt/inprocess.hpp"
#include "memopt/sys/self.hpp"

namespace memopt {

namespace {

std::mutex g_provider_mutex;
std::function<std::string()> g_torch_provider;
std::string g_torch_version;  // guarded by g_provider_mutex

}  // namespace

void set_torch_stats_provider(std::function<std::string()> provider) {
  {
    const std::lock_guard lock(g_provider_mutex);
    std::swap(g_torch_provider, provider);
  }
  // The old provider is let go of here, outside the lock: a Python one takes the GIL to go.
}

void set_torch_version(std::string version) {
  const std::lock_guard lock(g_provider_mutex);
  g_torch_version = std::move(version);
}

std::string stats_json() {
  std::function<std::string()> provider;
  {
    const std::lock_guard lock(g_provider_mutex);
    provider = g_torch_provider;
  }
  protocol::StatsAnswer answer;
  answer.pid = sys::self_pid();
  if (provider) {
    try {
      // Read by the clients' own rules: what the provider says is what a client will accept.
      answer.torch = protocol::decode_torch_devices(provider());
    } catch (const std::exception& e) {
      answer.torch_error = std::string("the torch figures failed: ") + e.what();
    }
  }
  {
    // Read after the provider ran: the Python one records the version as it goes.
    const std::lock_guard lock(g_provider_mutex);
    if (!g_torch_version.empty()) answer.torch_version = g_torch_version;
  }
  for (const auto& held : ModelCache::held_everywhere()) {
    answer.models.push_back(
        {held.name, held.cost_bytes,
         held.in_use ? std::nullopt
                     : std::optional<double>(std::chrono::duration<double>(held.idle).count())});
  }
  for (const auto& said : said_forecasts()) {
    const auto& p = said.prediction;
    model::LoopForecastReport f;
    f.sequence = said.sequence;
    f.at_unix_seconds = std::chrono::duration<double>(said.at.time_since_epoch()).count();
    f.bytes_per_item = p.bytes_per_item;
    f.item = p.item;
    f.limit_item = p.limit_item;
    f.total = p.total;
    f.seconds_left = p.seconds_left;
    f.limit_bytes = p.limit_bytes;
    f.message = said.message;
    answer.forecasts.push_back(std::move(f));
  }
  return protocol::encode_stats_answer(answer);
}

}  // namespace memopt
