/*
 * A scripted stand-in for libnvidia-ml.so.1, built by the test suite.
 *
 * The script is read at nvmlInit from the file named by FAKE_NVML_SCRIPT (no variable: a
 * system with no GPU), and again at nvmlDeviceGetCount once the file was replaced or changed,
 * as a live driver's figures change under a session kept open. One directive a line, '#'
 * starts a comment:
 *
 *   count N                          devices nvmlDeviceGetCount reports (records 0..N-1)
 *   driver VERSION                   nvmlSystemGetDriverVersion
 *   device REC TOTAL RESERVED FREE USED UUID NAME...   memory in bytes, v2 semantics
 *                                    (v1 `used` is USED + RESERVED, as in real drivers)
 *   process REC compute|graphics|mps PID BYTES|na      na = NVML_VALUE_NOT_AVAILABLE; mps: a
 *                                    client of the MPS server (nvmlDeviceGetMPSCompute...)
 *   grow REC compute|graphics BY TIMES                 each INSUFFICIENT_SIZE answer adds BY
 *                                    processes (pid 70000+, 1 MiB each), at most TIMES times
 *   lost REC                         every call on this device answers GPU_IS_LOST (15)
 *   mig REC MODE MAX                 nvmlDeviceGetMigMode current=MODE, MaxMigDeviceCount=MAX
 *   migslot REC SLOT INSTANCE_REC    MIG slot SLOT of REC is the device record INSTANCE_REC
 *   fail FUNCTION REC|-1 RC          FUNCTION answers RC (for device REC, or any)
 *   minor REC N                      nvmlDeviceGetMinorNumber answers N (/dev/nvidiaN); without
 *                                    it, NOT_SUPPORTED
 *
 * Every call is appended as a line "FUNCTION" or "FUNCTION REC" to the file named by
 * FAKE_NVML_LOG, so tests can see which symbol versions were used and that nvmlShutdown
 * balanced nvmlInit.
 *
 * Variants (compile definitions) leave symbols out, as older drivers do:
 *   FAKE_NVML_NO_V3          no *RunningProcesses_v3
 *   FAKE_NVML_NO_MEMORY_V2   no nvmlDeviceGetMemoryInfo_v2
 *   FAKE_NVML_V1_ONLY        only the unversioned functions, no MIG, no MPS, no nvmlErrorString
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifdef FAKE_NVML_V1_ONLY
#define FAKE_NVML_NO_V3
#define FAKE_NVML_NO_MEMORY_V2
#endif

typedef int nvmlReturn_t;

enum {
  NVML_SUCCESS = 0,
  NVML_ERROR_UNINITIALIZED = 1,
  NVML_ERROR_INVALID_ARGUMENT = 2,
  NVML_ERROR_NOT_SUPPORTED = 3,
  NVML_ERROR_NO_PERMISSION = 4,
  NVML_ERROR_NOT_FOUND = 6,
  NVML_ERROR_INSUFFICIENT_SIZE = 7,
  NVML_ERROR_DRIVER_NOT_LOADED = 9,
  NVML_ERROR_GPU_IS_LOST = 15,
  NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
  NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
  NVML_ERROR_UNKNOWN = 999
};

#define NVML_VALUE_NOT_AVAILABLE (~0ULL)

typedef struct {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
} nvmlMemory_t;

typedef struct {
  unsigned int version;
  unsigned long long total;
  unsigned long long reserved;
  unsigned long long free;
  unsigned long long used;
} nvmlMemory_v2_t;

#define nvmlMemory_v2 ((unsigned int)(sizeof(nvmlMemory_v2_t) | (2u << 24)))

typedef struct {
  unsigned int pid;
  unsigned long long usedGpuMemory;
} nvmlProcessInfo_v1_t;

typedef struct {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
} nvmlProcessInfo_v2_t;

#define MAX_RECORDS 16
#define MAX_PROCESSES 256
#define MAX_FAILURES 16
#define MAX_SLOTS 8
#define TEXT_SIZE 96

enum { COMPUTE = 0, GRAPHICS = 1, MPS = 2, KINDS = 3 };

struct FakeProcess {
  unsigned pid;
  unsigned long long used;
};

struct FakeList {
  struct FakeProcess items[MAX_PROCESSES];
  unsigned count;
  unsigned grow_by;
  unsigned grow_times;
};

struct FakeDevice {
  int defined;
  int lost;
  char name[TEXT_SIZE];
  char uuid[TEXT_SIZE];
  unsigned long long total, reserved, free, used;
  int has_mig;
  unsigned mig_mode;
  unsigned max_mig;
  int mig_slots[MAX_SLOTS];
  int has_minor;
  unsigned minor;
  struct FakeList lists[KINDS];
};

typedef struct FakeDevice* nvmlDevice_t;

struct Failure {
  char function[64];
  int record;
  int rc;
};

static struct {
  int initialized;
  unsigned count;
  char driver[TEXT_SIZE];
  struct FakeDevice devices[MAX_RECORDS];
  struct Failure failures[MAX_FAILURES];
  unsigned failure_count;
  unsigned next_grown_pid;
} state;

/* The script file as last read: a replaced or rewritten file is read again. */
static struct stat script_read;

static void log_call(const char* function, int record) {
  const char* path = getenv("FAKE_NVML_LOG");
  if (path == NULL || *path == '\0') return;
  FILE* file = fopen(path, "a");
  if (file == NULL) return;
  if (record >= 0) {
    fprintf(file, "%s %d\n", function, record);
  } else {
    fprintf(file, "%s\n", function);
  }
  fclose(file);
}

static int injected(const char* function, int record) {
  for (unsigned i = 0; i < state.failure_count; ++i) {
    const struct Failure* f = &state.failures[i];
    if (strcmp(f->function, function) == 0 && (f->record < 0 || f->record == record)) {
      return f->rc;
    }
  }
  return NVML_SUCCESS;
}

static struct FakeDevice* record_at(long index) {
  if (index < 0 || index >= MAX_RECORDS) return NULL;
  return &state.devices[index];
}

static int parse_kind(const char* text) {
  if (strcmp(text, "compute") == 0) return COMPUTE;
  if (strcmp(text, "graphics") == 0) return GRAPHICS;
  if (strcmp(text, "mps") == 0) return MPS;
  return -1;
}

static int parse_line(char* line) {
  char word[32];
  int used = 0;
  if (sscanf(line, "%31s%n", word, &used) != 1 || word[0] == '#') return 1;
  const char* rest = line + used;
  long rec = 0;
  if (strcmp(word, "count") == 0) {
    return sscanf(rest, "%u", &state.count) == 1;
  }
  if (strcmp(word, "driver") == 0) {
    return sscanf(rest, "%95s", state.driver) == 1;
  }
  if (strcmp(word, "device") == 0) {
    struct FakeDevice d;
    memset(&d, 0, sizeof d);
    int name_at = 0;
    if (sscanf(rest, "%ld %llu %llu %llu %llu %95s %n", &rec, &d.total, &d.reserved, &d.free,
               &d.used, d.uuid, &name_at) < 6) {
      return 0;
    }
    struct FakeDevice* target = record_at(rec);
    if (target == NULL) return 0;
    snprintf(d.name, sizeof d.name, "%s", rest + name_at);
    d.name[strcspn(d.name, "\r\n")] = '\0';
    d.defined = 1;
    for (int i = 0; i < MAX_SLOTS; ++i) d.mig_slots[i] = -1;
    *target = d;
    return 1;
  }
  if (strcmp(word, "process") == 0) {
    char kind[16];
    char bytes[32];
    unsigned pid = 0;
    if (sscanf(rest, "%ld %15s %u %31s", &rec, kind, &pid, bytes) != 4) return 0;
    struct FakeDevice* d = record_at(rec);
    const int k = parse_kind(kind);
    if (d == NULL || k < 0 || d->lists[k].count >= MAX_PROCESSES) return 0;
    struct FakeProcess* p = &d->lists[k].items[d->lists[k].count++];
    p->pid = pid;
    p->used = strcmp(bytes, "na") == 0 ? NVML_VALUE_NOT_AVAILABLE : strtoull(bytes, NULL, 10);
    return 1;
  }
  if (strcmp(word, "grow") == 0) {
    char kind[16];
    unsigned by = 0;
    unsigned times = 0;
    if (sscanf(rest, "%ld %15s %u %u", &rec, kind, &by, &times) != 4) return 0;
    struct FakeDevice* d = record_at(rec);
    const int k = parse_kind(kind);
    if (d == NULL || k < 0) return 0;
    d->lists[k].grow_by = by;
    d->lists[k].grow_times = times;
    return 1;
  }
  if (strcmp(word, "lost") == 0) {
    if (sscanf(rest, "%ld", &rec) != 1 || record_at(rec) == NULL) return 0;
    record_at(rec)->lost = 1;
    return 1;
  }
  if (strcmp(word, "mig") == 0) {
    unsigned mode = 0;
    unsigned max = 0;
    if (sscanf(rest, "%ld %u %u", &rec, &mode, &max) != 3 || record_at(rec) == NULL ||
        max > MAX_SLOTS) {
      return 0;
    }
    record_at(rec)->has_mig = 1;
    record_at(rec)->mig_mode = mode;
    record_at(rec)->max_mig = max;
    return 1;
  }
  if (strcmp(word, "migslot") == 0) {
    unsigned slot = 0;
    int instance = 0;
    if (sscanf(rest, "%ld %u %d", &rec, &slot, &instance) != 3 || record_at(rec) == NULL ||
        slot >= MAX_SLOTS || record_at(instance) == NULL) {
      return 0;
    }
    record_at(rec)->mig_slots[slot] = instance;
    return 1;
  }
  if (strcmp(word, "minor") == 0) {
    unsigned minor = 0;
    if (sscanf(rest, "%ld %u", &rec, &minor) != 2) return 0;
    struct FakeDevice* target = record_at(rec);
    if (target == NULL) return 0;
    target->has_minor = 1;
    target->minor = minor;
    return 1;
  }
  if (strcmp(word, "fail") == 0) {
    if (state.failure_count >= MAX_FAILURES) return 0;
    struct Failure* f = &state.failures[state.failure_count];
    if (sscanf(rest, "%63s %d %d", f->function, &f->record, &f->rc) != 3) return 0;
    ++state.failure_count;
    return 1;
  }
  return 0;
}

/* Replaces the state with the script's; NVML_ERROR_UNKNOWN (with a message) on a bad line. */
static nvmlReturn_t load_script(void) {
  memset(&state, 0, sizeof state);
  state.next_grown_pid = 70000;
  const char* path = getenv("FAKE_NVML_SCRIPT");
  if (path == NULL || *path == '\0') return NVML_SUCCESS;
  FILE* file = fopen(path, "r");
  if (file == NULL || fstat(fileno(file), &script_read) != 0) {
    fprintf(stderr, "fake_nvml: cannot open script %s\n", path);
    if (file != NULL) fclose(file);
    return NVML_ERROR_UNKNOWN;
  }
  char line[512];
  int number = 0;
  nvmlReturn_t rc = NVML_SUCCESS;
  while (fgets(line, sizeof line, file) != NULL) {
    ++number;
    if (!parse_line(line)) {
      fprintf(stderr, "fake_nvml: %s:%d: bad line: %s", path, number, line);
      rc = NVML_ERROR_UNKNOWN;
      break;
    }
  }
  fclose(file);
  return rc;
}

static nvmlReturn_t init(const char* function) {
  log_call(function, -1);
  /* Real NVML counts nested inits; the script is read on the first. */
  if (state.initialized == 0) {
    nvmlReturn_t rc = load_script();
    if (rc != NVML_SUCCESS) return rc;
  }
  nvmlReturn_t rc = injected(function, -1);
  if (rc != NVML_SUCCESS) return rc;
  ++state.initialized;
  return NVML_SUCCESS;
}

static int record_of(nvmlDevice_t device) {
  if (device < state.devices || device >= state.devices + MAX_RECORDS) return -1;
  return (int)(device - state.devices);
}

/* The checks every per-device call makes, in NVML's order. */
static nvmlReturn_t enter(const char* function, nvmlDevice_t device) {
  const int record = record_of(device);
  log_call(function, record);
  if (state.initialized == 0) return NVML_ERROR_UNINITIALIZED;
  if (record < 0 || !device->defined) return NVML_ERROR_INVALID_ARGUMENT;
  if (device->lost) return NVML_ERROR_GPU_IS_LOST;
  return injected(function, record);
}

static nvmlReturn_t enter_global(const char* function) {
  log_call(function, -1);
  if (state.initialized == 0) return NVML_ERROR_UNINITIALIZED;
  return injected(function, -1);
}

static nvmlReturn_t copy_text(const char* text, char* out, unsigned length) {
  if (out == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  if (strlen(text) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
  memcpy(out, text, strlen(text) + 1);
  return NVML_SUCCESS;
}

/* Reads the script again, keeping the session, when its file is not the one read last. */
static void follow_script(void) {
  const char* path = getenv("FAKE_NVML_SCRIPT");
  struct stat now;
  if (path == NULL || *path == '\0' || stat(path, &now) != 0) return;
  if (now.st_ino == script_read.st_ino && now.st_dev == script_read.st_dev &&
      now.st_mtim.tv_sec == script_read.st_mtim.tv_sec &&
      now.st_mtim.tv_nsec == script_read.st_mtim.tv_nsec && now.st_size == script_read.st_size) {
    return;
  }
  const int initialized = state.initialized;
  (void)load_script(); /* a bad line is said on stderr; the devices are then gone */
  state.initialized = initialized;
}

static nvmlReturn_t get_count(const char* function, unsigned* count) {
  if (state.initialized != 0) follow_script();
  nvmlReturn_t rc = enter_global(function);
  if (rc != NVML_SUCCESS) return rc;
  if (count == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  *count = state.count;
  return NVML_SUCCESS;
}

static nvmlReturn_t get_handle(const char* function, unsigned index, nvmlDevice_t* device) {
  log_call(function, (int)index);
  if (state.initialized == 0) return NVML_ERROR_UNINITIALIZED;
  if (device == NULL || index >= state.count || index >= MAX_RECORDS) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  nvmlReturn_t rc = injected(function, (int)index);
  if (rc != NVML_SUCCESS) return rc;
  if (state.devices[index].lost) return NVML_ERROR_GPU_IS_LOST;
  if (!state.devices[index].defined) return NVML_ERROR_INVALID_ARGUMENT;
  *device = &state.devices[index];
  return NVML_SUCCESS;
}

/* NVML's list protocol: too small a buffer answers INSUFFICIENT_SIZE with the needed count. */
static nvmlReturn_t get_processes(const char* function, nvmlDevice_t device, int kind,
                                  unsigned* count, void* infos, int wide) {
  nvmlReturn_t rc = enter(function, device);
  if (rc != NVML_SUCCESS) return rc;
  if (count == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  struct FakeList* list = &device->lists[kind];
  if (*count < list->count) {
    *count = list->count;
    if (list->grow_times > 0) {
      --list->grow_times;
      for (unsigned i = 0; i < list->grow_by && list->count < MAX_PROCESSES; ++i) {
        list->items[list->count].pid = state.next_grown_pid++;
        list->items[list->count].used = 1048576ULL;
        ++list->count;
      }
    }
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  if (infos == NULL && list->count > 0) return NVML_ERROR_INVALID_ARGUMENT;
  for (unsigned i = 0; i < list->count; ++i) {
    if (wide) {
      nvmlProcessInfo_v2_t* out = (nvmlProcessInfo_v2_t*)infos + i;
      out->pid = list->items[i].pid;
      out->usedGpuMemory = list->items[i].used;
      out->gpuInstanceId = 0xFFFFFFFFu;
      out->computeInstanceId = 0xFFFFFFFFu;
    } else {
      nvmlProcessInfo_v1_t* out = (nvmlProcessInfo_v1_t*)infos + i;
      out->pid = list->items[i].pid;
      out->usedGpuMemory = list->items[i].used;
    }
  }
  *count = list->count;
  return NVML_SUCCESS;
}

/* ---- the exported NVML API ---- */

#ifndef FAKE_NVML_V1_ONLY
nvmlReturn_t nvmlInit_v2(void) { return init("nvmlInit_v2"); }
#endif

nvmlReturn_t nvmlInit(void) { return init("nvmlInit"); }

nvmlReturn_t nvmlShutdown(void) {
  log_call("nvmlShutdown", -1);
  if (state.initialized == 0) return NVML_ERROR_UNINITIALIZED;
  --state.initialized;
  return NVML_SUCCESS;
}

#ifndef FAKE_NVML_V1_ONLY
const char* nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
    case NVML_SUCCESS:
      return "Success";
    case NVML_ERROR_UNINITIALIZED:
      return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT:
      return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED:
      return "Not Supported";
    case NVML_ERROR_NO_PERMISSION:
      return "Insufficient Permissions";
    case NVML_ERROR_NOT_FOUND:
      return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE:
      return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED:
      return "Driver Not Loaded";
    case NVML_ERROR_GPU_IS_LOST:
      return "GPU is lost";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH:
      return "RM has detected an NVML/RM version mismatch.";
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH:
      return "Argument version mismatch";
    default:
      return "Unknown Error";
  }
}
#endif

nvmlReturn_t nvmlSystemGetDriverVersion(char* version, unsigned int length) {
  nvmlReturn_t rc = enter_global("nvmlSystemGetDriverVersion");
  if (rc != NVML_SUCCESS) return rc;
  return copy_text(state.driver, version, length);
}

#ifndef FAKE_NVML_V1_ONLY
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count) {
  return get_count("nvmlDeviceGetCount_v2", count);
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* device) {
  return get_handle("nvmlDeviceGetHandleByIndex_v2", index, device);
}
#endif

nvmlReturn_t nvmlDeviceGetCount(unsigned int* count) {
  return get_count("nvmlDeviceGetCount", count);
}

nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t* device) {
  return get_handle("nvmlDeviceGetHandleByIndex", index, device);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned int length) {
  nvmlReturn_t rc = enter("nvmlDeviceGetName", device);
  return rc != NVML_SUCCESS ? rc : copy_text(device->name, name, length);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char* uuid, unsigned int length) {
  nvmlReturn_t rc = enter("nvmlDeviceGetUUID", device);
  return rc != NVML_SUCCESS ? rc : copy_text(device->uuid, uuid, length);
}

nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int* minor) {
  nvmlReturn_t rc = enter("nvmlDeviceGetMinorNumber", device);
  if (rc != NVML_SUCCESS) return rc;
  if (minor == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  if (!device->has_minor) return NVML_ERROR_NOT_SUPPORTED;
  *minor = device->minor;
  return NVML_SUCCESS;
}

#ifndef FAKE_NVML_NO_MEMORY_V2
nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t* memory) {
  nvmlReturn_t rc = enter("nvmlDeviceGetMemoryInfo_v2", device);
  if (rc != NVML_SUCCESS) return rc;
  if (memory == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  /* Real drivers check the version word; a caller passing the literal 2 gets this. */
  if (memory->version != nvmlMemory_v2) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  memory->total = device->total;
  memory->reserved = device->reserved;
  memory->free = device->free;
  memory->used = device->used;
  return NVML_SUCCESS;
}
#endif

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* memory) {
  nvmlReturn_t rc = enter("nvmlDeviceGetMemoryInfo", device);
  if (rc != NVML_SUCCESS) return rc;
  if (memory == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  memory->total = device->total;
  memory->free = device->free;
  memory->used = device->used + device->reserved;
  return NVML_SUCCESS;
}

#ifndef FAKE_NVML_NO_V3
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int* count,
                                                     nvmlProcessInfo_v2_t* infos) {
  return get_processes("nvmlDeviceGetComputeRunningProcesses_v3", device, COMPUTE, count, infos, 1);
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device, unsigned int* count,
                                                      nvmlProcessInfo_v2_t* infos) {
  return get_processes("nvmlDeviceGetGraphicsRunningProcesses_v3", device, GRAPHICS, count, infos,
                       1);
}
#endif

#ifndef FAKE_NVML_V1_ONLY
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device, unsigned int* count,
                                                     nvmlProcessInfo_v2_t* infos) {
  return get_processes("nvmlDeviceGetComputeRunningProcesses_v2", device, COMPUTE, count, infos, 1);
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v2(nvmlDevice_t device, unsigned int* count,
                                                      nvmlProcessInfo_v2_t* infos) {
  return get_processes("nvmlDeviceGetGraphicsRunningProcesses_v2", device, GRAPHICS, count, infos,
                       1);
}
#endif

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device, unsigned int* count,
                                                  nvmlProcessInfo_v1_t* infos) {
  return get_processes("nvmlDeviceGetComputeRunningProcesses", device, COMPUTE, count, infos, 0);
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses(nvmlDevice_t device, unsigned int* count,
                                                   nvmlProcessInfo_v1_t* infos) {
  return get_processes("nvmlDeviceGetGraphicsRunningProcesses", device, GRAPHICS, count, infos, 0);
}

#ifndef FAKE_NVML_NO_V3
nvmlReturn_t nvmlDeviceGetMPSComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int* count,
                                                        nvmlProcessInfo_v2_t* infos) {
  return get_processes("nvmlDeviceGetMPSComputeRunningProcesses_v3", device, MPS, count, infos, 1);
}
#endif

#ifndef FAKE_NVML_V1_ONLY
nvmlReturn_t nvmlDeviceGetMPSComputeRunningProcesses(nvmlDevice_t device, unsigned int* count,
                                                     nvmlProcessInfo_v1_t* infos) {
  return get_processes("nvmlDeviceGetMPSComputeRunningProcesses", device, MPS, count, infos, 0);
}

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int* current,
                                  unsigned int* pending) {
  nvmlReturn_t rc = enter("nvmlDeviceGetMigMode", device);
  if (rc != NVML_SUCCESS) return rc;
  if (!device->has_mig) return NVML_ERROR_NOT_SUPPORTED;
  if (current == NULL || pending == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  *current = device->mig_mode;
  *pending = device->mig_mode;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int* count) {
  nvmlReturn_t rc = enter("nvmlDeviceGetMaxMigDeviceCount", device);
  if (rc != NVML_SUCCESS) return rc;
  if (!device->has_mig) return NVML_ERROR_NOT_SUPPORTED;
  if (count == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  *count = device->max_mig;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                 nvmlDevice_t* instance) {
  nvmlReturn_t rc = enter("nvmlDeviceGetMigDeviceHandleByIndex", device);
  if (rc != NVML_SUCCESS) return rc;
  if (!device->has_mig) return NVML_ERROR_NOT_SUPPORTED;
  if (instance == NULL || index >= device->max_mig) return NVML_ERROR_INVALID_ARGUMENT;
  if (device->mig_slots[index] < 0) return NVML_ERROR_NOT_FOUND;
  *instance = &state.devices[device->mig_slots[index]];
  return NVML_SUCCESS;
}
#endif
