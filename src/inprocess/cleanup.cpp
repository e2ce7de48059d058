#include "memopt/protocol/cleanup.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <exception>
#include <mutex>
#include <new>

#include "inprocess/self.hpp"
#include "memopt/inprocess.hpp"
#include "memopt/sys/dynamic_library.hpp"
#include "memopt/sys/process.hpp"
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

// A fork while another thread cleans up (a DataLoader starting its workers during a shed, or
// while `memopt cleanup` is served) would leave the child both locks held by a thread that
// does not exist there: the child's own cleanup would wait forever. It starts with them free.
void free_locks_in_child() {
  new (&g_hooks_mutex) std::mutex;
  new (&g_cleanup_mutex) std::mutex;
}
[[maybe_unused]] const bool g_fork_handler = sys::on_fork_in_child(&free_locks_in_child);

// The CUDA driver API's C ABI (cuda.h), restated so the build needs no CUDA. The driver, not
// the runtime: libcudart's calls initialise CUDA and create a primary context on device 0,
// and its soname changes with every major version.
using CuResult = int;
using CuDevice = int;
struct CuMemPoolOpaque;
using CuMemoryPool = CuMemPoolOpaque*;
constexpr CuResult kCudaSuccess = 0;
constexpr CuResult kCudaErrorNotInitialized = 3;

struct CudaDriver {
  CuResult (*device_count)(int*) = nullptr;                        // cuDeviceGetCount
  CuResult (*device_get)(CuDevice*, int) = nullptr;                // cuDeviceGet
  CuResult (*primary_state)(CuDevice, unsigned*, int*) = nullptr;  // cuDevicePrimaryCtxGetState
  CuResult (*device_pool)(CuMemoryPool*, CuDevice) = nullptr;      // cuDeviceGetMemPool
  CuResult (*trim_to)(CuMemoryPool, std::size_t) = nullptr;        // cuMemPoolTrimTo
};

// Trims the memory pool of every device whose primary context is already active. Never calls
// cuInit or anything that creates a context: before cuInit every driver call answers
// CUDA_ERROR_NOT_INITIALIZED, which is the probe. The driver's errors are returned, not kept,
// so nothing sticky is left for the program's next CUDA call.
CleanupStep trim_cuda_pools() {
  CleanupStep step{"cuda_mem_pools", "skipped", "", 0, std::nullopt};
  // Only a driver the program already loaded: loading it here would be the first step of
  // starting CUDA in a process that never asked for it.
  auto library = sys::DynamicLibrary::open_loaded("libcuda.so.1");
  if (!library) {
    step.reason = "the CUDA driver (libcuda.so.1) is not loaded in this process";
    return step;
  }
  CudaDriver cu;
  cu.device_count = library->symbol<decltype(cu.device_count)>("cuDeviceGetCount");
  cu.device_get = library->symbol<decltype(cu.device_get)>("cuDeviceGet");
  cu.primary_state = library->symbol<decltype(cu.primary_state)>("cuDevicePrimaryCtxGetState");
  cu.device_pool = library->symbol<decltype(cu.device_pool)>("cuDeviceGetMemPool");
  cu.trim_to = library->symbol<decltype(cu.trim_to)>("cuMemPoolTrimTo");
  if (cu.device_count == nullptr || cu.device_get == nullptr || cu.primary_state == nullptr ||
      cu.device_pool == nullptr || cu.trim_to == nullptr) {
    step.reason = "this CUDA driver has no memory pools (needs CUDA 11.2+)";
    return step;
  }
  int devices = 0;
  if (const CuResult rc = cu.device_count(&devices); rc != kCudaSuccess) {
    if (rc == kCudaErrorNotInitialized) {
      step.reason = "CUDA is loaded but not initialised in this process";
    } else {
      step.status = "failed";
      step.reason = "cuDeviceGetCount returned CUDA error " + std::to_string(rc);
    }
    return step;
  }
  std::vector<CuMemoryPool> pools;
  int failures = 0;
  for (int ordinal = 0; ordinal < devices; ++ordinal) {
    CuDevice device = 0;
    unsigned flags = 0;
    int active = 0;
    if (cu.device_get(&device, ordinal) != kCudaSuccess ||
        cu.primary_state(device, &flags, &active) != kCudaSuccess) {
      ++failures;
      continue;
    }
    if (active == 0) continue;  // no context there: nothing cached, and none must be made
    CuMemoryPool pool = nullptr;
    if (cu.device_pool(&pool, device) != kCudaSuccess) {
      ++failures;
      continue;
    }
    pools.push_back(pool);
  }
  if (pools.empty() && failures == 0) {
    step.reason = "no device has an active CUDA context in this process";
    return step;
  }
  // NVML's figure for this pid, not the driver's free memory: asking the driver for free
  // memory needs a current context on this thread.
  const auto gpu_before = gpu_bytes_of_this_process();
  int trimmed = 0;
  for (CuMemoryPool pool : pools) {
    if (cu.trim_to(pool, 0) == kCudaSuccess) {
      ++trimmed;
    } else {
      ++failures;
    }
  }
  const auto gpu_after = gpu_before ? gpu_bytes_of_this_process() : std::nullopt;
  if (gpu_before && gpu_after) {
    step.gpu_released_bytes =
        static_cast<std::int64_t>(*gpu_before) - static_cast<std::int64_t>(*gpu_after);
  }
  if (failures > 0) {
    step.status = "failed";
    step.reason =
        fmt::format("{} of {} devices could not be trimmed", failures, trimmed + failures);
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
  result.heap_free_resident_before_bytes = inprocess::heap_free_resident_bytes(true);
  steps(result);
  result.rss_after_bytes = inprocess::self_rss_bytes();
  result.heap_free_resident_after_bytes = inprocess::heap_free_resident_bytes(true);
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
  protocol::CleanupAnswer answer;
  answer.pid = sys::self_pid();
  answer.rss_before_bytes = result.rss_before_bytes;
  answer.rss_after_bytes = result.rss_after_bytes;
  answer.heap_free_resident_before_bytes = result.heap_free_resident_before_bytes;
  answer.heap_free_resident_after_bytes = result.heap_free_resident_after_bytes;
  answer.released_bytes = static_cast<std::int64_t>(result.rss_before_bytes) -
                          static_cast<std::int64_t>(result.rss_after_bytes);
  for (const auto& step : result.steps) {
    answer.steps.push_back(
        {step.name, step.status, step.reason, step.rss_released_bytes, step.gpu_released_bytes});
  }
  return protocol::encode_cleanup_answer(answer);
}

}  // namespace memopt
