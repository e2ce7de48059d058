#include <cstddef>
#include <exception>
#include <mutex>
#include <nlohmann/json.hpp>

#include "inprocess/self.hpp"
#include "memopt/inprocess.hpp"
#include "memopt/sys/dynamic_library.hpp"
#include "memopt/sys/self.hpp"

namespace memopt {

namespace {

struct Hook {
  std::string name;
  std::function<void()> run;
};

std::mutex g_hooks_mutex;
std::vector<Hook> g_hooks;
std::vector<Hook> g_shed_hooks;  // under g_hooks_mutex too
std::mutex g_cleanup_mutex;      // one cleanup at a time: each step's measurement is its own

// The CUDA runtime's C ABI (cuda_runtime_api.h), restated so the build needs no CUDA.
using CudaGetDeviceCount = int (*)(int*);
using CudaGetDevice = int (*)(int*);
using CudaDeviceGetDefaultMemPool = int (*)(void**, int);
using CudaMemPoolTrimTo = int (*)(void*, std::size_t);
using CudaMemGetInfo = int (*)(std::size_t*, std::size_t*);

std::optional<sys::DynamicLibrary> loaded_cudart() {
  for (const char* name :
       {"libcudart.so.12", "libcudart.so.11.0", "libcudart.so.11", "libcudart.so"}) {
    if (auto library = sys::DynamicLibrary::open_loaded(name)) return library;
  }
  return std::nullopt;
}

std::optional<std::size_t> gpu_free(CudaMemGetInfo get_info) {
  std::size_t free = 0;
  std::size_t total = 0;
  if (get_info == nullptr || get_info(&free, &total) != 0) return std::nullopt;
  return free;
}

CleanupStep trim_cuda_pools() {
  CleanupStep step{"cuda_mem_pools", "skipped", "", 0, std::nullopt};
  auto cudart = loaded_cudart();
  if (!cudart) {
    step.reason = "the CUDA runtime is not loaded in this process";
    return step;
  }
  const auto count_devices = cudart->symbol<CudaGetDeviceCount>("cudaGetDeviceCount");
  const auto default_pool =
      cudart->symbol<CudaDeviceGetDefaultMemPool>("cudaDeviceGetDefaultMemPool");
  const auto trim_to = cudart->symbol<CudaMemPoolTrimTo>("cudaMemPoolTrimTo");
  const auto get_info = cudart->symbol<CudaMemGetInfo>("cudaMemGetInfo");
  if (count_devices == nullptr || default_pool == nullptr || trim_to == nullptr) {
    step.reason = "this CUDA runtime has no memory pools (needs CUDA 11.2+)";
    return step;
  }
  int devices = 0;
  if (const int rc = count_devices(&devices); rc != 0) {
    step.status = "failed";
    step.reason = "cudaGetDeviceCount returned error " + std::to_string(rc);
    return step;
  }
  const auto free_before = gpu_free(get_info);
  int failures = 0;
  for (int device = 0; device < devices; ++device) {
    void* pool = nullptr;
    if (default_pool(&pool, device) != 0 || trim_to(pool, 0) != 0) ++failures;
  }
  const auto free_after = gpu_free(get_info);
  if (free_before && free_after) {
    step.gpu_released_bytes =
        static_cast<std::int64_t>(*free_after) - static_cast<std::int64_t>(*free_before);
  }
  if (failures > 0) {
    step.status = "failed";
    step.reason =
        std::to_string(failures) + " of " + std::to_string(devices) + " pools could not be trimmed";
  } else {
    step.status = "done";
  }
  return step;
}

// Runs `body`, filling in the RSS it released.
template <typename Body>
CleanupStep measured(Body body) {
  const auto before = inprocess::self_rss_bytes();
  CleanupStep step = body();
  step.rss_released_bytes =
      static_cast<std::int64_t>(before) - static_cast<std::int64_t>(inprocess::self_rss_bytes());
  return step;
}

// Runs a copy of `registered` (taken under the lock), each hook a measured step "PREFIX:NAME".
void run_hooks(const std::vector<Hook>& registered, const std::string& prefix,
               CleanupResult& result) {
  std::vector<Hook> hooks;
  {
    std::lock_guard lock(g_hooks_mutex);
    hooks = registered;
  }
  for (const auto& hook : hooks) {
    result.steps.push_back(measured([&hook, &prefix] {
      CleanupStep step{prefix + ":" + hook.name, "done", "", 0, std::nullopt};
      try {
        hook.run();
      } catch (const std::exception& e) {
        step.status = "failed";
        step.reason = e.what();
      } catch (...) {
        step.status = "failed";
        step.reason = "the hook threw a non-standard exception";
      }
      return step;
    }));
  }
}

void register_in(std::vector<Hook>& hooks, std::string name, std::function<void()> hook) {
  std::lock_guard lock(g_hooks_mutex);
  for (auto& existing : hooks) {
    if (existing.name == name) {
      existing.run = std::move(hook);
      return;
    }
  }
  hooks.push_back({std::move(name), std::move(hook)});
}

bool unregister_in(std::vector<Hook>& hooks, const std::string& name) {
  std::lock_guard lock(g_hooks_mutex);
  return std::erase_if(hooks, [&name](const Hook& hook) { return hook.name == name; }) > 0;
}

CleanupStep trim_heap_step() {
  return measured([] {
    sys::malloc_trim();
    return CleanupStep{"malloc_trim", "done", "", 0, std::nullopt};
  });
}

// One cleanup or shed at a time, measured as a whole around `steps`.
template <typename Steps>
CleanupResult run_measured(Steps steps) {
  std::lock_guard cleanup_lock(g_cleanup_mutex);
  CleanupResult result;
  result.rss_before_bytes = inprocess::self_rss_bytes();
  result.heap_free_before_bytes = sys::heap_info().free_bytes;
  steps(result);
  result.rss_after_bytes = inprocess::self_rss_bytes();
  result.heap_free_after_bytes = sys::heap_info().free_bytes;
  return result;
}

CleanupResult run_cleanup(bool trim_heap) {
  return run_measured([trim_heap](CleanupResult& result) {
    run_hooks(g_hooks, "hook", result);
    result.steps.push_back(measured(trim_cuda_pools));
    if (trim_heap) result.steps.push_back(trim_heap_step());
  });
}

}  // namespace

void register_cleanup_hook(std::string name, std::function<void()> hook) {
  register_in(g_hooks, std::move(name), std::move(hook));
}

bool unregister_cleanup_hook(const std::string& name) { return unregister_in(g_hooks, name); }

void register_shed_hook(std::string name, std::function<void()> hook) {
  register_in(g_shed_hooks, std::move(name), std::move(hook));
}

bool unregister_shed_hook(const std::string& name) { return unregister_in(g_shed_hooks, name); }

CleanupResult shed() {
  return run_measured([](CleanupResult& result) {
    run_hooks(g_shed_hooks, "shed_hook", result);
    result.steps.push_back(measured([] {
      const auto evicted = ModelCache::evict_unused_everywhere();
      CleanupStep step{"model_cache", evicted.empty() ? "skipped" : "done", "", 0, std::nullopt};
      std::string names;
      for (const auto& name : evicted) names += (names.empty() ? "" : ", ") + name;
      step.reason = evicted.empty() ? "no unused model to evict" : "evicted " + names;
      return step;
    }));
    result.steps.push_back(trim_heap_step());
  });
}

CleanupResult cleanup() { return run_cleanup(true); }

CleanupResult cleanup_gpu_memory() { return run_cleanup(false); }

std::string cleanup_result_json(const CleanupResult& result) {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& step : result.steps) {
    nlohmann::json item = {{"name", step.name},
                           {"status", step.status},
                           {"rss_released_bytes", step.rss_released_bytes}};
    if (!step.reason.empty()) item["reason"] = step.reason;
    if (step.gpu_released_bytes) item["gpu_released_bytes"] = *step.gpu_released_bytes;
    steps.push_back(std::move(item));
  }
  const nlohmann::json answer = {
      {"pid", sys::self_pid()},
      {"rss_before_bytes", result.rss_before_bytes},
      {"rss_after_bytes", result.rss_after_bytes},
      {"heap_free_before_bytes", result.heap_free_before_bytes},
      {"heap_free_after_bytes", result.heap_free_after_bytes},
      {"released_bytes", static_cast<std::int64_t>(result.rss_before_bytes) -
                             static_cast<std::int64_t>(result.rss_after_bytes)},
      {"steps", std::move(steps)}};
  return answer.dump();
}

}  // namespace memopt
