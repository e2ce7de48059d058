#include "memopt/readers/nvml.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "memopt/printable.hpp"
#include "memopt/readers/gpu_attribution.hpp"
#include "memopt/readers/nvml_session.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/dynamic_library.hpp"
#include "memopt/sys/self.hpp"
#include "memopt/units.hpp"

namespace memopt::readers {
namespace detail {
namespace {

// NVML's C ABI as in nvml.h (CUDA 12), restated so the build needs no CUDA headers.
using NvmlReturn = int;
struct NvmlDeviceOpaque;
using NvmlDevice = NvmlDeviceOpaque*;

constexpr NvmlReturn kNvmlSuccess = 0;
constexpr NvmlReturn kNvmlErrorNotSupported = 3;
constexpr NvmlReturn kNvmlErrorNoPermission = 4;
constexpr NvmlReturn kNvmlErrorNotFound = 6;
constexpr NvmlReturn kNvmlErrorInsufficientSize = 7;
constexpr NvmlReturn kNvmlErrorDriverNotLoaded = 9;
constexpr NvmlReturn kNvmlErrorLibRmVersionMismatch = 18;

constexpr unsigned long long kNvmlValueNotAvailable = ~0ULL;
constexpr unsigned kNvmlDeviceMigEnable = 1;
constexpr unsigned kNameBufferSize = 96;           // NVML_DEVICE_NAME_V2_BUFFER_SIZE
constexpr unsigned kUuidBufferSize = 96;           // NVML_DEVICE_UUID_V2_BUFFER_SIZE
constexpr unsigned kDriverVersionBufferSize = 80;  // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE

// nvmlMemory_t: `used` includes the memory the driver reserves for itself.
struct NvmlMemoryV1 {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};

// nvmlMemory_v2_t: `used` excludes `reserved`.
struct NvmlMemoryV2 {
  unsigned int version;
  unsigned long long total;
  unsigned long long reserved;
  unsigned long long free;
  unsigned long long used;
};

// NVML_STRUCT_VERSION(Memory, 2): the struct's size in the low bits, the version in the top byte.
constexpr unsigned kNvmlMemoryV2Version = static_cast<unsigned>(sizeof(NvmlMemoryV2)) | (2U << 24);
static_assert(kNvmlMemoryV2Version == 0x02000028, "nvmlMemory_v2 layout differs from nvml.h");

// nvmlProcessInfo_v1_t, used by the unversioned process-list functions.
struct NvmlProcessInfoV1 {
  unsigned int pid;
  unsigned long long used_gpu_memory;
};
static_assert(sizeof(NvmlProcessInfoV1) == 16);

// nvmlProcessInfo_v2_t, the layout of both the _v2 and the _v3 process-list functions.
struct NvmlProcessInfoV2 {
  unsigned int pid;
  unsigned long long used_gpu_memory;
  unsigned int gpu_instance_id;
  unsigned int compute_instance_id;
};
static_assert(sizeof(NvmlProcessInfoV2) == 24);

template <typename Info>
using ProcessListFunction = NvmlReturn (*)(NvmlDevice, unsigned*, Info*);

// A resolved entry point and the symbol it came from, so messages name what was called.
template <typename Function>
struct Entry {
  Function call = nullptr;
  const char* name = "";

  explicit operator bool() const noexcept { return call != nullptr; }
};

// One kind of running-process list (compute, graphics, MPS compute) in every version the
// library has, newest first: a driver whose _v3 fails may still answer an older version.
struct ProcessListEntries {
  Entry<ProcessListFunction<NvmlProcessInfoV2>> v3;
  Entry<ProcessListFunction<NvmlProcessInfoV2>> v2;  // the same layout as _v3
  Entry<ProcessListFunction<NvmlProcessInfoV1>> v1;
};

struct NvmlApi {
  Entry<NvmlReturn (*)()> init;
  Entry<NvmlReturn (*)()> shutdown;
  Entry<const char* (*)(NvmlReturn)> error_string;
  Entry<NvmlReturn (*)(char*, unsigned)> driver_version;
  Entry<NvmlReturn (*)(unsigned*)> device_count;
  Entry<NvmlReturn (*)(unsigned, NvmlDevice*)> handle_by_index;
  Entry<NvmlReturn (*)(NvmlDevice, char*, unsigned)> name;
  Entry<NvmlReturn (*)(NvmlDevice, char*, unsigned)> uuid;
  Entry<NvmlReturn (*)(NvmlDevice, NvmlMemoryV2*)> memory_v2;
  Entry<NvmlReturn (*)(NvmlDevice, NvmlMemoryV1*)> memory_v1;
  ProcessListEntries compute;
  ProcessListEntries graphics;
  ProcessListEntries mps;  // clients of the MPS server, which the compute list may not show
  Entry<NvmlReturn (*)(NvmlDevice, unsigned*, unsigned*)> mig_mode;
  Entry<NvmlReturn (*)(NvmlDevice, unsigned*)> max_mig_device_count;
  Entry<NvmlReturn (*)(NvmlDevice, unsigned, NvmlDevice*)> mig_device_handle;
  Entry<NvmlReturn (*)(NvmlDevice, unsigned*)> minor_number;  // N of /dev/nvidiaN
};

// The first of `names` the library exports; newer symbols come first.
template <typename Function>
Entry<Function> resolve(const sys::DynamicLibrary& library,
                        std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (auto call = library.symbol<Function>(name)) return {call, name};
  }
  return {};
}

// The _v3, _v2 and unversioned symbols of one process-list function.
ProcessListEntries resolve_lists(const sys::DynamicLibrary& lib, const char* v3, const char* v2,
                                 const char* v1) {
  ProcessListEntries entries;
  entries.v3 = resolve<ProcessListFunction<NvmlProcessInfoV2>>(lib, {v3});
  entries.v2 = resolve<ProcessListFunction<NvmlProcessInfoV2>>(lib, {v2});
  entries.v1 = resolve<ProcessListFunction<NvmlProcessInfoV1>>(lib, {v1});
  return entries;
}

NvmlApi resolve_api(const sys::DynamicLibrary& lib) {
  NvmlApi api;
  api.init = resolve<decltype(api.init.call)>(lib, {"nvmlInit_v2", "nvmlInit"});
  api.shutdown = resolve<decltype(api.shutdown.call)>(lib, {"nvmlShutdown"});
  api.error_string = resolve<decltype(api.error_string.call)>(lib, {"nvmlErrorString"});
  api.driver_version =
      resolve<decltype(api.driver_version.call)>(lib, {"nvmlSystemGetDriverVersion"});
  api.device_count = resolve<decltype(api.device_count.call)>(
      lib, {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"});
  api.handle_by_index = resolve<decltype(api.handle_by_index.call)>(
      lib, {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"});
  api.name = resolve<decltype(api.name.call)>(lib, {"nvmlDeviceGetName"});
  api.uuid = resolve<decltype(api.uuid.call)>(lib, {"nvmlDeviceGetUUID"});
  api.memory_v2 = resolve<decltype(api.memory_v2.call)>(lib, {"nvmlDeviceGetMemoryInfo_v2"});
  api.memory_v1 = resolve<decltype(api.memory_v1.call)>(lib, {"nvmlDeviceGetMemoryInfo"});
  api.compute = resolve_lists(lib, "nvmlDeviceGetComputeRunningProcesses_v3",
                              "nvmlDeviceGetComputeRunningProcesses_v2",
                              "nvmlDeviceGetComputeRunningProcesses");
  api.graphics = resolve_lists(lib, "nvmlDeviceGetGraphicsRunningProcesses_v3",
                               "nvmlDeviceGetGraphicsRunningProcesses_v2",
                               "nvmlDeviceGetGraphicsRunningProcesses");
  api.mps = resolve_lists(lib, "nvmlDeviceGetMPSComputeRunningProcesses_v3",
                          "nvmlDeviceGetMPSComputeRunningProcesses_v2",
                          "nvmlDeviceGetMPSComputeRunningProcesses");
  api.mig_mode = resolve<decltype(api.mig_mode.call)>(lib, {"nvmlDeviceGetMigMode"});
  api.max_mig_device_count =
      resolve<decltype(api.max_mig_device_count.call)>(lib, {"nvmlDeviceGetMaxMigDeviceCount"});
  api.mig_device_handle =
      resolve<decltype(api.mig_device_handle.call)>(lib, {"nvmlDeviceGetMigDeviceHandleByIndex"});
  api.minor_number = resolve<decltype(api.minor_number.call)>(lib, {"nvmlDeviceGetMinorNumber"});
  return api;
}

// The NVML the user asked for, else the driver's usual names. An explicit path is never
// silently replaced by another library.
std::optional<sys::DynamicLibrary> open_library(std::string& error) {
  if (auto path = sys::environment("MEMOPT_NVML_LIBRARY"); path && !path->empty()) {
    return sys::DynamicLibrary::open(*path, error);
  }
  auto library = sys::DynamicLibrary::open("libnvidia-ml.so.1", error);
  if (library) return library;
  std::string ignored;
  return sys::DynamicLibrary::open("libnvidia-ml.so", ignored);
}

std::string describe(const NvmlApi& api, NvmlReturn rc) {
  const char* text = api.error_string ? api.error_string.call(rc) : nullptr;
  if (text == nullptr) return fmt::format("error {}", rc);
  return fmt::format("{} ({})", text, rc);
}

// What a container user can do about the common init failures.
const char* init_hint(NvmlReturn rc) {
  switch (rc) {
    case kNvmlErrorDriverNotLoaded:
      return "; no NVIDIA driver is reachable (is the container started with --gpus?)";
    case kNvmlErrorNoPermission:
      return "; the GPU device files are not accessible";
    case kNvmlErrorLibRmVersionMismatch:
      return "; the libnvidia-ml in this container does not match the host's kernel driver";
    default:
      return "";
  }
}

void add_error(std::vector<model::Note>& notes, const NvmlApi& api, const char* function,
               std::string_view where, NvmlReturn rc) {
  notes.push_back(
      {"nvml_error", fmt::format("NVML: {} on {} failed: {}", function, where, describe(api, rc))});
}

// A fixed-size string out of NVML; empty (with a note) when the call fails.
std::string read_string(const Entry<NvmlReturn (*)(NvmlDevice, char*, unsigned)>& entry,
                        NvmlDevice handle, unsigned size, const NvmlApi& api,
                        std::string_view where, std::vector<model::Note>& notes) {
  if (!entry) return {};
  std::string buffer(size, '\0');
  const NvmlReturn rc = entry.call(handle, buffer.data(), size);
  if (rc != kNvmlSuccess) {
    add_error(notes, api, entry.name, where, rc);
    return {};
  }
  buffer.resize(std::min<std::size_t>(buffer.find('\0'), size));
  return printable(buffer);  // a driver's bytes, printed in every output
}

// Fills total/used/free/reserved of a device or MIG instance. Returns NVML's answer: on
// failure, that of the last call tried, and `failed` names it.
NvmlReturn read_memory(const NvmlApi& api, NvmlDevice handle, model::GpuDevice& device,
                       const char*& failed) {
  NvmlReturn rc = kNvmlSuccess;
  if (api.memory_v2) {
    NvmlMemoryV2 memory{};
    memory.version = kNvmlMemoryV2Version;
    rc = api.memory_v2.call(handle, &memory);
    if (rc == kNvmlSuccess) {
      device.total_bytes = memory.total;
      device.used_bytes = memory.used;
      device.free_bytes = memory.free;
      device.reserved_bytes = memory.reserved;
      return rc;
    }
    // Drivers older than the struct version refuse it; v1 still answers.
    failed = api.memory_v2.name;
  }
  if (api.memory_v1) {
    NvmlMemoryV1 memory{};
    rc = api.memory_v1.call(handle, &memory);
    if (rc == kNvmlSuccess) {
      device.total_bytes = memory.total;
      device.used_bytes = memory.used;
      device.free_bytes = memory.free;
      device.reserved_bytes.reset();
      return rc;
    }
    failed = api.memory_v1.name;
  }
  return rc;
}

// The upper bounds keep a misbehaving driver from looping or allocating without end.
constexpr int kMaxListAttempts = 5;
constexpr std::size_t kListSlack = 4;
constexpr std::size_t kMaxListEntries = 1 << 16;

// NVML's two-step list protocol: ask with no buffer for the count, then fetch; the list can
// grow in between, so INSUFFICIENT_SIZE is retried with the newly reported count.
template <typename Info>
NvmlReturn fetch_list(ProcessListFunction<Info> call, NvmlDevice handle, std::vector<Info>& out) {
  out.clear();
  unsigned count = 0;
  NvmlReturn rc = call(handle, &count, nullptr);
  for (int attempt = 0; rc == kNvmlErrorInsufficientSize && attempt < kMaxListAttempts; ++attempt) {
    out.resize(std::min<std::size_t>(count, kMaxListEntries) + kListSlack);
    count = static_cast<unsigned>(out.size());
    rc = call(handle, &count, out.data());
  }
  if (rc == kNvmlSuccess) {
    out.resize(std::min<std::size_t>(count, out.size()));
  } else {
    out.clear();
  }
  return rc;
}

// Pid -> bytes, merging duplicates: a pid in both lists (or twice in one) is one process.
using ProcessBytes = std::map<std::uint32_t, std::optional<std::uint64_t>>;

void merge(ProcessBytes& processes, unsigned pid, unsigned long long used) {
  std::optional<std::uint64_t> bytes;
  if (used != kNvmlValueNotAvailable) bytes = used;
  auto [it, inserted] = processes.try_emplace(pid, bytes);
  if (!inserted && bytes && (!it->second || *it->second < *bytes)) it->second = bytes;
}

// One version of a list, unless an earlier version answered, or gave up on a list that kept
// changing (INSUFFICIENT_SIZE to the end): an older version would not see it settle either.
template <typename Info>
void try_list(const Entry<ProcessListFunction<Info>>& entry, NvmlDevice handle,
              ProcessBytes& processes, NvmlReturn& rc, const char*& used) {
  if (!entry || rc == kNvmlSuccess || rc == kNvmlErrorInsufficientSize) return;
  std::vector<Info> infos;
  rc = fetch_list(entry.call, handle, infos);
  used = entry.name;
  for (const Info& info : infos) merge(processes, info.pid, info.used_gpu_memory);
}

// One list, newest version first, falling back to older ones when a version fails. Returns
// the last answer and sets `used` to the symbol that gave it.
NvmlReturn read_list(const ProcessListEntries& entries, NvmlDevice handle, ProcessBytes& processes,
                     const char*& used) {
  NvmlReturn rc = kNvmlErrorNotSupported;
  try_list(entries.v3, handle, processes, rc, used);
  try_list(entries.v2, handle, processes, rc, used);
  try_list(entries.v1, handle, processes, rc, used);
  return rc;
}

// The processes of a device or MIG instance: compute, graphics and MPS clients, merged by pid.
// `known` turns false when a list that should answer does not: the compute list failing in
// any way (NOT_SUPPORTED on MIG under vGPU), or another list failing with a real error.
// NOT_SUPPORTED from the graphics or MPS list means "no such list here" and is quiet.
std::vector<model::GpuProcess> device_processes(const NvmlApi& api, NvmlDevice handle,
                                                std::string_view where, bool& known,
                                                std::vector<model::Note>& notes) {
  ProcessBytes bytes;
  known = true;
  for (const auto* entries : {&api.compute, &api.graphics, &api.mps}) {
    const char* used = "";
    const NvmlReturn rc = read_list(*entries, handle, bytes, used);
    if (rc == kNvmlSuccess) continue;
    const bool compute = entries == &api.compute;
    if (rc == kNvmlErrorNotSupported && !compute) continue;
    if (!entries->v3 && !entries->v2 && !entries->v1) {
      if (compute) known = false;  // a library without the compute list cannot say
      continue;
    }
    known = false;
    if (rc == kNvmlErrorNotSupported) {
      notes.push_back({"gpu_processes_unknown",
                       fmt::format("NVML: {} does not list its processes ({} answers {}); the "
                                   "GPU memory of each process there is unknown",
                                   where, used, describe(api, rc))});
    } else {
      notes.push_back({"nvml_error", fmt::format("NVML: {} on {} failed: {}; the GPU memory of "
                                                 "each process there is unknown",
                                                 used, where, describe(api, rc))});
    }
  }
  std::vector<model::GpuProcess> processes;
  processes.reserve(bytes.size());
  for (const auto& [pid, used] : bytes) {
    model::GpuProcess& process = processes.emplace_back();
    process.pid = pid;
    process.used_bytes = used;
  }
  // Largest first; unknown sizes last, so a top-N view shows what is known to be big.
  std::stable_sort(processes.begin(), processes.end(), [](const auto& a, const auto& b) {
    return a.used_bytes.value_or(0) > b.used_bytes.value_or(0) || (a.used_bytes && !b.used_bytes);
  });
  return processes;
}

// The MIG instances of a device with MIG mode on, by slot; empty when MIG is off or the
// library cannot enumerate instances.
std::vector<std::pair<unsigned, NvmlDevice>> mig_instances(const NvmlApi& api, NvmlDevice handle,
                                                           std::string_view where,
                                                           std::vector<model::Note>& notes) {
  std::vector<std::pair<unsigned, NvmlDevice>> instances;
  if (!api.mig_mode || !api.max_mig_device_count || !api.mig_device_handle) return instances;
  unsigned current = 0;
  unsigned pending = 0;
  if (api.mig_mode.call(handle, &current, &pending) != kNvmlSuccess ||
      current != kNvmlDeviceMigEnable) {
    return instances;
  }
  unsigned max_count = 0;
  NvmlReturn rc = api.max_mig_device_count.call(handle, &max_count);
  if (rc != kNvmlSuccess) {
    add_error(notes, api, api.max_mig_device_count.name, where, rc);
    return instances;
  }
  for (unsigned slot = 0; slot < max_count; ++slot) {
    NvmlDevice instance = nullptr;
    rc = api.mig_device_handle.call(handle, slot, &instance);
    // Unused slots answer NOT_FOUND.
    if (rc == kNvmlErrorNotFound) continue;
    if (rc != kNvmlSuccess) {
      add_error(notes, api, api.mig_device_handle.name, fmt::format("{} MIG {}", where, slot), rc);
      continue;
    }
    instances.emplace_back(slot, instance);
  }
  return instances;
}

// Reads every device; a device that fails is left out with a note, the rest still count.
std::vector<model::GpuDevice> read_devices(const NvmlApi& api, std::vector<model::Note>& notes) {
  std::vector<model::GpuDevice> gpus;
  unsigned count = 0;
  NvmlReturn rc = api.device_count.call(&count);
  if (rc != kNvmlSuccess) {
    add_error(notes, api, api.device_count.name, "this system", rc);
    return gpus;
  }
  if (count == 0) {
    std::string driver;
    if (api.driver_version) {
      char version[kDriverVersionBufferSize] = {};
      if (api.driver_version.call(version, sizeof version) == kNvmlSuccess) {
        driver =
            fmt::format(" (driver {})", std::string(version, strnlen(version, sizeof version)));
      }
    }
    notes.push_back({"no_gpu", fmt::format("NVML{} reports no GPU", driver)});
    return gpus;
  }
  for (unsigned index = 0; index < count; ++index) {
    const std::string where = fmt::format("GPU {}", index);
    NvmlDevice handle = nullptr;
    rc = api.handle_by_index.call(index, &handle);
    if (rc == kNvmlErrorNoPermission) {
      // The _v2 count includes the host's GPUs that were not given to this container.
      notes.push_back(
          {"gpu_not_ours", fmt::format("NVML: {} is not accessible here ({} answers {}): a GPU not "
                                       "given to this container; left out",
                                       where, api.handle_by_index.name, describe(api, rc))});
      continue;
    }
    if (rc != kNvmlSuccess) {
      notes.push_back(
          {"nvml_error", fmt::format("NVML: {} on {} failed: {}; {} left out",
                                     api.handle_by_index.name, where, describe(api, rc), where)});
      continue;
    }
    model::GpuDevice device;
    device.index = index;
    const char* memory_call = "";
    rc = read_memory(api, handle, device, memory_call);
    // Listed whatever the parent's memory read says: a container given a MIG slice may not
    // read its parent, and the slices are what it has.
    const auto instances = mig_instances(api, handle, where, notes);
    if (rc != kNvmlSuccess) {
      if (instances.empty()) {
        notes.push_back({"nvml_error", fmt::format("NVML: {} on {} failed: {}; {} left out",
                                                   memory_call, where, describe(api, rc), where)});
        continue;
      }
      device.memory_known = false;
      notes.push_back({rc == kNvmlErrorNoPermission ? "gpu_memory_not_visible" : "nvml_error",
                       fmt::format("NVML: {} on {} failed: {}; its memory is unknown, its {} MIG "
                                   "instance{} listed",
                                   memory_call, where, describe(api, rc), instances.size(),
                                   instances.size() == 1 ? " is" : "s are")});
    }
    if (unsigned minor = 0;
        api.minor_number && api.minor_number.call(handle, &minor) == kNvmlSuccess) {
      device.minor_number = minor;
    }
    device.name = read_string(api.name, handle, kNameBufferSize, api, where, notes);
    device.uuid = read_string(api.uuid, handle, kUuidBufferSize, api, where, notes);
    // With MIG on, processes are listed under the instance they run in; the parent's
    // aggregate list would count them twice.
    if (instances.empty()) {
      device.processes = device_processes(api, handle, where, device.processes_known, notes);
    }
    const std::string parent_name = device.name;
    const auto parent_minor = device.minor_number;
    gpus.push_back(std::move(device));
    for (const auto& [slot, instance] : instances) {
      const std::string instance_where = fmt::format("{} MIG {}", where, slot);
      model::GpuDevice mig;
      mig.index = index;
      rc = read_memory(api, instance, mig, memory_call);
      if (rc != kNvmlSuccess) {
        notes.push_back(
            {"nvml_error", fmt::format("NVML: {} on {} failed: {}; {} left out", memory_call,
                                       instance_where, describe(api, rc), instance_where)});
        continue;
      }
      mig.name = fmt::format("{} MIG {}", parent_name, slot);
      mig.minor_number = parent_minor;  // a slice's processes open its parent's device file
      mig.uuid = read_string(api.uuid, instance, kUuidBufferSize, api, instance_where, notes);
      mig.processes = device_processes(api, instance, instance_where, mig.processes_known, notes);
      gpus.push_back(std::move(mig));
    }
  }
  return gpus;
}

// Attributes NVML's pids directly where they mean the same process here: NVML gives pids of
// the initial pid namespace, so only a procfs of that namespace may be searched for them (in a
// container, pid 7 of the host and pid 7 here are different processes). A procfs without
// self/ns/pid (a captured tree) is taken as the host's.
void name_processes(const Roots& roots, std::vector<model::GpuDevice>& gpus,
                    std::vector<model::Note>& notes) {
  const bool same_namespace = sys::in_initial_pid_namespace(roots.procfs).value_or(true);
  for (auto& gpu : gpus) {
    for (auto& process : gpu.processes) {
      if (!same_namespace) continue;
      const int pid = static_cast<int>(process.pid);
      process.name = read_process_name(roots, pid);
      if (process.name) {
        process.attributed_by = model::GpuAttribution::kPid;
        process.local_pid = pid;
      }
    }
  }
  note_unattributed_gpu_processes(roots, gpus, notes);
}

}  // namespace
}  // namespace detail

void note_unattributed_gpu_processes(const Roots& roots, const std::vector<model::GpuDevice>& gpus,
                                     std::vector<model::Note>& notes) {
  std::erase_if(notes, [](const auto& note) { return note.id == "gpu_processes_not_visible"; });
  std::size_t hidden = 0;
  std::uint64_t hidden_bytes = 0;
  std::string pids;
  for (const auto& gpu : gpus) {
    for (const auto& process : gpu.processes) {
      if (process.attributed_by != model::GpuAttribution::kNone) continue;
      ++hidden;
      hidden_bytes = saturating_add(hidden_bytes, process.used_bytes.value_or(0));
      pids += fmt::format("{}{}", pids.empty() ? "" : ", ", process.pid);
    }
  }
  if (hidden == 0) return;
  notes.push_back(
      {"gpu_processes_not_visible",
       fmt::format("{} GPU process{} (NVML pid{} {}) not matched to a process in {} (another PID "
                   "namespace) hold{} {} bytes ({}) of GPU memory",
                   hidden, hidden == 1 ? "" : "es", hidden == 1 ? "" : "s", pids, roots.procfs,
                   hidden == 1 ? "s" : "", hidden_bytes, format_bytes(hidden_bytes))});
}

struct NvmlSession::State {
  std::optional<sys::DynamicLibrary> library;
  detail::NvmlApi api;
  bool initialized = false;
  // Why there is no GPU data, repeated on every read.
  std::vector<model::Note> failure;

  // Runs before the members are destroyed, so nvmlShutdown precedes dlclose.
  ~State() {
    if (initialized) api.shutdown.call();
  }
};

NvmlSession::NvmlSession() : state_(std::make_unique<State>()) {
  using namespace detail;
  State& s = *state_;
  std::string error;
  s.library = open_library(error);
  if (!s.library) {
    s.failure.push_back({"no_nvml", fmt::format("NVML not loaded ({}); no GPU data", error)});
    return;
  }
  s.api = resolve_api(*s.library);
  const NvmlApi& api = s.api;
  if (!api.init || !api.shutdown || !api.device_count || !api.handle_by_index ||
      (!api.memory_v2 && !api.memory_v1)) {
    s.failure.push_back(
        {"no_nvml", fmt::format("NVML: {} lacks the functions memopt needs "
                                "(nvmlInit, nvmlDeviceGetMemoryInfo, ...); no GPU data",
                                s.library->path())});
    s.api = {};
    s.library.reset();
    return;
  }
  const NvmlReturn rc = api.init.call();
  if (rc != kNvmlSuccess) {
    s.failure.push_back({"nvml_init_failed", fmt::format("NVML: {} failed: {}{}", api.init.name,
                                                         describe(api, rc), init_hint(rc))});
    s.api = {};
    s.library.reset();
    return;
  }
  s.initialized = true;
}

NvmlSession::~NvmlSession() = default;
NvmlSession::NvmlSession(NvmlSession&&) noexcept = default;
NvmlSession& NvmlSession::operator=(NvmlSession&&) noexcept = default;

bool NvmlSession::ready() const noexcept { return state_ != nullptr && state_->initialized; }

std::vector<model::GpuDevice> NvmlSession::read(const Roots& roots,
                                                std::vector<model::Note>& notes) {
  if (!ready()) {
    if (state_ != nullptr)
      notes.insert(notes.end(), state_->failure.begin(), state_->failure.end());
    return {};
  }
  auto gpus = detail::read_devices(state_->api, notes);
  detail::name_processes(roots, gpus, notes);
  read_gpu_process_lives(roots, gpus);
  return gpus;
}

std::vector<model::GpuDevice> read_gpus(const Roots& roots, std::vector<model::Note>& notes) {
  NvmlSession session;
  return session.read(roots, notes);
}

std::optional<std::uint64_t> gpu_bytes_of(const std::vector<model::GpuDevice>& gpus,
                                          const std::set<int>& pids, const std::string& procfs) {
  if (gpus.empty()) return std::nullopt;
  const auto initial = sys::in_initial_pid_namespace(procfs);
  // NVML's pids are the host's: one equal to a pid here is that process only when procfs is of
  // the host's namespace (or says nothing of it: a captured tree).
  const bool host_pids_are_ours = initial.value_or(true);
  std::uint64_t total = 0;
  bool listed = false;
  for (const auto& gpu : gpus) {
    // An unreadable list could hold any of `pids`: the sum would be made up.
    if (!gpu.processes_known) return std::nullopt;
    for (const auto& process : gpu.processes) {
      // A matched entry counts for the process it was matched to (its pid here).
      if (!process.local_pid && !host_pids_are_ours) continue;
      const int pid = process.local_pid.value_or(static_cast<int>(process.pid));
      if (process.used_bytes && pids.count(pid) != 0) {
        total = saturating_add(total, *process.used_bytes);
        listed = true;
      }
    }
  }
  if (!listed && !initial.value_or(false)) return std::nullopt;
  return total;
}

}  // namespace memopt::readers
