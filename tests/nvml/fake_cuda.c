/*
 * A stand-in for the CUDA driver (libcuda.so.1, soname libcuda.so.1), built by the test suite
 * to check that memopt's cleanup never starts CUDA.
 *
 * It models what matters for that: before cuInit every call answers
 * CUDA_ERROR_NOT_INITIALIZED (3), as the real driver does. cuInit reads
 *   FAKE_CUDA_DEVICES   how many devices cuDeviceGetCount reports (default 2)
 *   FAKE_CUDA_ACTIVE    the ordinals whose primary context is active, comma-separated
 * Every call is appended as "FUNCTION" or "FUNCTION DEVICE" to the file named by
 * FAKE_CUDA_LOG. When FAKE_CUDA_TRIM_FROM and FAKE_CUDA_TRIM_TO are set, a successful
 * cuMemPoolTrimTo renames the first over the second (a fake NVML script showing the memory
 * released), so a test can see the release measured. Context-creating calls
 * (cuDevicePrimaryCtxRetain, cuCtxCreate_v2, cuCtxSetCurrent) are exported too, so a test sees them
 * in the log if anything calls them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef struct CUmemPoolFake* CUmemoryPool;
typedef void* CUcontext;

enum {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_NOT_INITIALIZED = 3,
  CUDA_ERROR_INVALID_DEVICE = 101
};

#define MAX_DEVICES 8

struct CUmemPoolFake {
  int device;
};

static struct {
  int initialized;
  int devices;
  int active[MAX_DEVICES];
  struct CUmemPoolFake pools[MAX_DEVICES];
} state;

static void log_call(const char* function, int device) {
  const char* path = getenv("FAKE_CUDA_LOG");
  if (path == NULL || *path == '\0') return;
  FILE* file = fopen(path, "a");
  if (file == NULL) return;
  if (device >= 0) {
    fprintf(file, "%s %d\n", function, device);
  } else {
    fprintf(file, "%s\n", function);
  }
  fclose(file);
}

static CUresult check_device(CUdevice device) {
  if (!state.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (device < 0 || device >= state.devices) return CUDA_ERROR_INVALID_DEVICE;
  return CUDA_SUCCESS;
}

CUresult cuInit(unsigned flags) {
  log_call("cuInit", -1);
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  const char* devices = getenv("FAKE_CUDA_DEVICES");
  state.devices = devices != NULL ? atoi(devices) : 2;
  if (state.devices < 0 || state.devices > MAX_DEVICES) state.devices = MAX_DEVICES;
  memset(state.active, 0, sizeof state.active);
  const char* active = getenv("FAKE_CUDA_ACTIVE");
  for (const char* p = active; p != NULL && *p != '\0';) {
    const int ordinal = atoi(p);
    if (ordinal >= 0 && ordinal < MAX_DEVICES) state.active[ordinal] = 1;
    p = strchr(p, ',');
    if (p != NULL) ++p;
  }
  for (int i = 0; i < MAX_DEVICES; ++i) state.pools[i].device = i;
  state.initialized = 1;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int* count) {
  log_call("cuDeviceGetCount", -1);
  if (!state.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (count == NULL) return CUDA_ERROR_INVALID_VALUE;
  *count = state.devices;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice* device, int ordinal) {
  log_call("cuDeviceGet", ordinal);
  const CUresult rc = check_device(ordinal);
  if (rc != CUDA_SUCCESS) return rc;
  if (device == NULL) return CUDA_ERROR_INVALID_VALUE;
  *device = ordinal;
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxGetState(CUdevice device, unsigned* flags, int* active) {
  log_call("cuDevicePrimaryCtxGetState", device);
  const CUresult rc = check_device(device);
  if (rc != CUDA_SUCCESS) return rc;
  if (flags == NULL || active == NULL) return CUDA_ERROR_INVALID_VALUE;
  *flags = 0;
  *active = state.active[device];
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetMemPool(CUmemoryPool* pool, CUdevice device) {
  log_call("cuDeviceGetMemPool", device);
  const CUresult rc = check_device(device);
  if (rc != CUDA_SUCCESS) return rc;
  if (pool == NULL) return CUDA_ERROR_INVALID_VALUE;
  *pool = &state.pools[device];
  return CUDA_SUCCESS;
}

CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t keep) {
  const int device = pool != NULL ? pool->device : -1;
  log_call("cuMemPoolTrimTo", device);
  if (!state.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (pool == NULL || keep != 0) return CUDA_ERROR_INVALID_VALUE;
  const char* from = getenv("FAKE_CUDA_TRIM_FROM");
  const char* to = getenv("FAKE_CUDA_TRIM_TO");
  if (from != NULL && to != NULL) rename(from, to);
  return CUDA_SUCCESS;
}

/* Calls that create or bind a context: memopt's cleanup must never make them. */
CUresult cuDevicePrimaryCtxRetain(CUcontext* context, CUdevice device) {
  log_call("cuDevicePrimaryCtxRetain", device);
  const CUresult rc = check_device(device);
  if (rc != CUDA_SUCCESS) return rc;
  state.active[device] = 1;
  if (context != NULL) *context = &state.pools[device];
  return CUDA_SUCCESS;
}

CUresult cuCtxCreate_v2(CUcontext* context, unsigned flags, CUdevice device) {
  (void)flags;
  log_call("cuCtxCreate_v2", device);
  const CUresult rc = check_device(device);
  if (rc != CUDA_SUCCESS) return rc;
  if (context != NULL) *context = &state.pools[device];
  return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(CUcontext context) {
  (void)context;
  log_call("cuCtxSetCurrent", -1);
  return state.initialized ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED;
}

CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total_bytes) {
  log_call("cuMemGetInfo_v2", -1);
  if (!state.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (free_bytes != NULL) *free_bytes = 0;
  if (total_bytes != NULL) *total_bytes = 0;
  return CUDA_SUCCESS;
}
