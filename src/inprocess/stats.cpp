// The `stats` request of the cleanup socket: what this process holds, as it knows it.
#include <chrono>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
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
  nlohmann::json answer = {{"pid", sys::self_pid()}, {"torch", nlohmann::json::array()}};
  if (provider) {
    try {
      auto torch = nlohmann::json::parse(provider());
      if (!torch.is_array()) throw std::runtime_error("the torch figures are not a JSON array");
      answer["torch"] = std::move(torch);
    } catch (const std::exception& e) {
      answer["torch_error"] = std::string("the torch figures failed: ") + e.what();
    }
  }
  {
    // Read after the provider ran: the Python one records the version as it goes.
    const std::lock_guard lock(g_provider_mutex);
    if (!g_torch_version.empty()) answer["torch_version"] = g_torch_version;
  }
  nlohmann::json models = nlohmann::json::array();
  for (const auto& held : ModelCache::held_everywhere()) {
    models.push_back(
        {{"name", held.name},
         {"bytes", held.cost_bytes},
         {"idle_seconds", held.in_use
                              ? nlohmann::json(nullptr)
                              : nlohmann::json(std::chrono::duration<double>(held.idle).count())}});
  }
  answer["models"] = std::move(models);
  nlohmann::json forecasts = nlohmann::json::array();
  for (const auto& said : said_forecasts()) {
    const auto& p = said.prediction;
    forecasts.push_back({{"sequence", said.sequence},
                         {"at", std::chrono::duration<double>(said.at.time_since_epoch()).count()},
                         {"bytes_per_item", p.bytes_per_item},
                         {"item", p.item},
                         {"limit_item", p.limit_item},
                         {"total", p.total ? nlohmann::json(*p.total) : nlohmann::json(nullptr)},
                         {"seconds_left", p.seconds_left ? nlohmann::json(*p.seconds_left)
                                                         : nlohmann::json(nullptr)},
                         {"limit_bytes", p.limit_bytes},
                         {"message", said.message}});
  }
  answer["forecasts"] = std::move(forecasts);
  return answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace memopt
