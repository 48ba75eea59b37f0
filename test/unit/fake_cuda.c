/*===- fake_cuda.c - A test double of the CUDA driver API ------------------===
 *
 * Part of the Kiln project.
 *
 *===----------------------------------------------------------------------===
 *
 * The functions of libcuda.so.1 that the runtime's CUDA backend loads, under
 * the same (versioned) names and with the driver's rules that the backend
 * must respect, on host memory: calls that touch memory need a current
 * context (CUDA_ERROR_INVALID_CONTEXT otherwise), copies and frees must
 * stay inside live allocations (CUDA_ERROR_INVALID_VALUE), allocations
 * beyond a device's memory fail with CUDA_ERROR_OUT_OF_MEMORY. Built only
 * for the tests, which point KILN_CUDA_DRIVER at it.
 *
 * Configured by the environment, read at each call so that a test can
 * change it: FAKE_CUDA_DEVICES (default 2; 0 makes cuInit fail with
 * CUDA_ERROR_NO_DEVICE, as the driver does), FAKE_CUDA_MEMORY (bytes per
 * device, default 64 MiB), FAKE_CUDA_INIT_ERROR (a CUresult cuInit
 * returns). The tests read back what happened through fake_cuda_*.
 *
 *===----------------------------------------------------------------------===*/

#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef unsigned long long CUdeviceptr;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;

enum {
  SUCCESS = 0,
  INVALID_VALUE = 1,
  OUT_OF_MEMORY = 2,
  NOT_INITIALIZED = 3,
  NO_DEVICE = 100,
  INVALID_DEVICE = 101,
  INVALID_CONTEXT = 201,
  INVALID_IMAGE = 200,
  INVALID_HANDLE = 400,
  NOT_FOUND = 500,
  LAUNCH_FAILED = 719,
  UNKNOWN = 999
};

#define EXPORT __attribute__((visibility("default")))
#define MAX_DEVICES 8
#define MAX_ALLOCATIONS 4096
#define MAX_STACK 16

struct CUctx_st {
  int device;
};

struct allocation {
  char *data;
  size_t size;
  int device;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int initialized;
static struct CUctx_st contexts[MAX_DEVICES];
static int retained[MAX_DEVICES];
static size_t used[MAX_DEVICES];
static struct allocation allocations[MAX_ALLOCATIONS];
static char log_text[1 << 16];
static __thread CUcontext stack[MAX_STACK];
static __thread int depth;

static long env(const char *name, long fallback) {
  const char *text = getenv(name);
  return text && *text ? strtol(text, NULL, 10) : fallback;
}

static int devices(void) {
  long count = env("FAKE_CUDA_DEVICES", 2);
  return count < 0 ? 0 : count > MAX_DEVICES ? MAX_DEVICES : (int)count;
}

/* Appends a call's name to the log (under the lock). */
static void record(const char *name) {
  size_t length = strlen(log_text);
  if (length + strlen(name) + 2 < sizeof(log_text)) {
    if (length)
      strcat(log_text, " ");
    strcat(log_text, name);
  }
}

static CUresult called(const char *name) {
  pthread_mutex_lock(&lock);
  record(name);
  pthread_mutex_unlock(&lock);
  return SUCCESS;
}

/* The current context's device, or -1. */
static int current(void) { return depth ? stack[depth - 1]->device : -1; }

/* The live allocation holding [pointer, pointer + size), or NULL. */
static struct allocation *find(CUdeviceptr pointer, size_t size) {
  char *p = (char *)(uintptr_t)pointer;
  for (int i = 0; i < MAX_ALLOCATIONS; ++i) {
    struct allocation *a = &allocations[i];
    if (a->data && p >= a->data && size <= a->size &&
        (size_t)(p - a->data) <= a->size - size)
      return a;
  }
  return NULL;
}

EXPORT CUresult cuInit(unsigned flags) {
  called("cuInit");
  if (flags != 0)
    return INVALID_VALUE;
  long error = env("FAKE_CUDA_INIT_ERROR", 0);
  if (error)
    return (CUresult)error;
  if (devices() == 0)
    return NO_DEVICE;
  initialized = 1;
  return SUCCESS;
}

/* The errors the double returns, with the driver's names and texts. */
static const struct {
  CUresult code;
  const char *name, *text;
} errors[] = {
    {SUCCESS, "CUDA_SUCCESS", "no error"},
    {INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {NO_DEVICE, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {LAUNCH_FAILED, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {UNKNOWN, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

/* The name (or text) of `error`; an unknown code is CUDA_ERROR_INVALID_VALUE
 * with NULL, as the driver does. */
static CUresult lookup(CUresult error, const char **out, int text) {
  for (size_t i = 0; i < sizeof(errors) / sizeof(*errors); ++i)
    if (errors[i].code == error) {
      *out = text ? errors[i].text : errors[i].name;
      return SUCCESS;
    }
  *out = NULL;
  return INVALID_VALUE;
}

EXPORT CUresult cuGetErrorName(CUresult error, const char **name) {
  return lookup(error, name, 0);
}

EXPORT CUresult cuGetErrorString(CUresult error, const char **text) {
  return lookup(error, text, 1);
}

EXPORT CUresult cuDeviceGetCount(int *count) {
  called("cuDeviceGetCount");
  if (!initialized)
    return NOT_INITIALIZED;
  *count = devices();
  return SUCCESS;
}

EXPORT CUresult cuDeviceGet(CUdevice *device, int ordinal) {
  called("cuDeviceGet");
  if (!initialized)
    return NOT_INITIALIZED;
  if (ordinal < 0 || ordinal >= devices())
    return INVALID_DEVICE;
  *device = ordinal;
  return SUCCESS;
}

EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *context, CUdevice device) {
  called("cuDevicePrimaryCtxRetain");
  if (device < 0 || device >= devices())
    return INVALID_DEVICE;
  pthread_mutex_lock(&lock);
  contexts[device].device = device;
  ++retained[device];
  pthread_mutex_unlock(&lock);
  *context = &contexts[device];
  return SUCCESS;
}

EXPORT CUresult cuCtxPushCurrent_v2(CUcontext context) {
  called("cuCtxPushCurrent_v2");
  if (!context || depth == MAX_STACK)
    return INVALID_CONTEXT;
  stack[depth++] = context;
  return SUCCESS;
}

EXPORT CUresult cuCtxPopCurrent_v2(CUcontext *context) {
  called("cuCtxPopCurrent_v2");
  if (depth == 0)
    return INVALID_CONTEXT;
  CUcontext top = stack[--depth];
  if (context)
    *context = top;
  return SUCCESS;
}

EXPORT CUresult cuCtxSynchronize(void) {
  called("cuCtxSynchronize");
  return current() < 0 ? INVALID_CONTEXT : SUCCESS;
}

EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *pointer, size_t size) {
  called("cuMemAlloc_v2");
  int device = current();
  if (device < 0)
    return INVALID_CONTEXT;
  if (size == 0)
    return INVALID_VALUE;
  CUresult result = OUT_OF_MEMORY;
  pthread_mutex_lock(&lock);
  size_t memory = (size_t)env("FAKE_CUDA_MEMORY", 64 << 20);
  if (used[device] + size <= memory) {
    for (int i = 0; i < MAX_ALLOCATIONS; ++i) {
      if (allocations[i].data)
        continue;
      char *data = malloc(size);
      if (!data)
        break;
      allocations[i] = (struct allocation){data, size, device};
      used[device] += size;
      *pointer = (CUdeviceptr)(uintptr_t)data;
      result = SUCCESS;
      break;
    }
  }
  pthread_mutex_unlock(&lock);
  return result;
}

EXPORT CUresult cuMemFree_v2(CUdeviceptr pointer) {
  called("cuMemFree_v2");
  if (current() < 0)
    return INVALID_CONTEXT;
  pthread_mutex_lock(&lock);
  struct allocation *a = find(pointer, 0);
  CUresult result = INVALID_VALUE;
  if (a && a->data == (char *)(uintptr_t)pointer) {
    used[a->device] -= a->size;
    free(a->data);
    a->data = NULL;
    result = SUCCESS;
  }
  pthread_mutex_unlock(&lock);
  return result;
}

/* A copy between host memory and/or allocations; `to` / `from` are device
 * pointers when the flags say so. */
static CUresult copy(const char *name, void *to, int toDevice,
                     const void *from, int fromDevice, size_t size) {
  called(name);
  if (current() < 0)
    return INVALID_CONTEXT;
  pthread_mutex_lock(&lock);
  int valid =
      (!toDevice || find((CUdeviceptr)(uintptr_t)to, size)) &&
      (!fromDevice || find((CUdeviceptr)(uintptr_t)from, size));
  pthread_mutex_unlock(&lock);
  if (!valid)
    return INVALID_VALUE;
  memmove(to, from, size);
  return SUCCESS;
}

/* A stream: the asynchronous copies queued on it, done only when it is
 * synchronized (so code that reads a copy's result before waiting for it
 * reads stale data, as it could on a GPU). */
#define MAX_QUEUED 16
struct CUstream_st {
  int queued;
  struct {
    void *to;
    const void *from;
    size_t size;
  } copies[MAX_QUEUED];
};

/* Page-locked host memory (cuMemHostAlloc), by address. */
#define MAX_PINNED 16
static struct {
  char *data;
  size_t size;
} pinned[MAX_PINNED];
static int pinnedLive;

static int isPinned(const void *p, size_t size) {
  for (int i = 0; i < MAX_PINNED; ++i)
    if (pinned[i].data && (const char *)p >= pinned[i].data &&
        size <= pinned[i].size &&
        (size_t)((const char *)p - pinned[i].data) <= pinned[i].size - size)
      return 1;
  return 0;
}

EXPORT CUresult cuMemHostAlloc(void **pointer, size_t size, unsigned flags) {
  called("cuMemHostAlloc");
  (void)flags;
  if (current() < 0)
    return INVALID_CONTEXT;
  if (env("FAKE_CUDA_PINNED_ERROR", 0))
    return OUT_OF_MEMORY;
  pthread_mutex_lock(&lock);
  CUresult result = OUT_OF_MEMORY;
  for (int i = 0; i < MAX_PINNED; ++i)
    if (!pinned[i].data) {
      pinned[i].data = malloc(size);
      pinned[i].size = size;
      *pointer = pinned[i].data;
      ++pinnedLive;
      result = SUCCESS;
      break;
    }
  pthread_mutex_unlock(&lock);
  return result;
}

EXPORT CUresult cuMemFreeHost(void *pointer) {
  called("cuMemFreeHost");
  pthread_mutex_lock(&lock);
  CUresult result = INVALID_VALUE;
  for (int i = 0; i < MAX_PINNED; ++i)
    if (pinned[i].data && pinned[i].data == pointer) {
      free(pinned[i].data);
      pinned[i].data = NULL;
      --pinnedLive;
      result = SUCCESS;
    }
  pthread_mutex_unlock(&lock);
  return result;
}

/* An asynchronous copy between page-locked host memory and an allocation,
 * queued on `stream`. */
static CUresult copyAsync(const char *name, void *to, int toDevice,
                          const void *from, size_t size, CUstream stream) {
  called(name);
  if (current() < 0)
    return INVALID_CONTEXT;
  if (!stream)
    return INVALID_HANDLE;
  pthread_mutex_lock(&lock);
  const void *host = toDevice ? from : to;
  const void *device = toDevice ? to : from;
  int valid = isPinned(host, size) &&
              find((CUdeviceptr)(uintptr_t)device, size) != NULL &&
              stream->queued < MAX_QUEUED;
  if (valid) {
    stream->copies[stream->queued].to = to;
    stream->copies[stream->queued].from = from;
    stream->copies[stream->queued].size = size;
    ++stream->queued;
  }
  pthread_mutex_unlock(&lock);
  return valid ? SUCCESS : INVALID_VALUE;
}

EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr to, const void *from,
                                     size_t size, CUstream stream) {
  return copyAsync("cuMemcpyHtoDAsync_v2", (void *)(uintptr_t)to, 1, from,
                   size, stream);
}

EXPORT CUresult cuMemcpyDtoHAsync_v2(void *to, CUdeviceptr from, size_t size,
                                     CUstream stream) {
  return copyAsync("cuMemcpyDtoHAsync_v2", to, 0,
                   (const void *)(uintptr_t)from, size, stream);
}

/* Unified addressing: an address inside a live allocation is device
 * memory, any other host memory. */
EXPORT CUresult cuMemcpy(CUdeviceptr to, CUdeviceptr from, size_t size) {
  pthread_mutex_lock(&lock);
  int toDevice = find(to, 1) != NULL, fromDevice = find(from, 1) != NULL;
  pthread_mutex_unlock(&lock);
  return copy("cuMemcpy", (void *)(uintptr_t)to, toDevice,
              (const void *)(uintptr_t)from, fromDevice, size);
}

EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr to, const void *from, size_t size) {
  return copy("cuMemcpyHtoD_v2", (void *)(uintptr_t)to, 1, from, 0, size);
}

EXPORT CUresult cuMemcpyDtoH_v2(void *to, CUdeviceptr from, size_t size) {
  return copy("cuMemcpyDtoH_v2", to, 0, (const void *)(uintptr_t)from, 1,
              size);
}

EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr to, CUdeviceptr from, size_t size) {
  return copy("cuMemcpyDtoD_v2", (void *)(uintptr_t)to, 1,
              (const void *)(uintptr_t)from, 1, size);
}

EXPORT CUresult cuMemcpyPeer(CUdeviceptr to, CUcontext toContext,
                             CUdeviceptr from, CUcontext fromContext,
                             size_t size) {
  if (!toContext || !fromContext)
    return INVALID_CONTEXT;
  return copy("cuMemcpyPeer", (void *)(uintptr_t)to, 1,
              (const void *)(uintptr_t)from, 1, size);
}

EXPORT CUresult cuMemsetD8_v2(CUdeviceptr pointer, unsigned char value,
                              size_t size) {
  called("cuMemsetD8_v2");
  if (current() < 0)
    return INVALID_CONTEXT;
  pthread_mutex_lock(&lock);
  struct allocation *a = find(pointer, size);
  pthread_mutex_unlock(&lock);
  if (!a)
    return INVALID_VALUE;
  memset((void *)(uintptr_t)pointer, value, size);
  return SUCCESS;
}

/* Modules: a loaded image is remembered by its first line; its kernels are
 * the names after ".entry " in it (PTX text) or, for other images, any
 * name. A launch runs nothing: it is checked and recorded. */

struct CUmod_st {
  char text[1 << 20]; /* the image's text (PTX), enough for every kernel */
};

struct CUfunc_st {
  char name[128];
  int maxDynamicShared; /* CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES */
};

static struct CUfunc_st functions[64];
static int functionCount;
static char lastLaunch[256];
static int lastLaunchDevice = -1;
static int streams;

EXPORT CUresult cuModuleLoadData(CUmodule *module, const void *image) {
  called("cuModuleLoadData");
  if (current() < 0)
    return INVALID_CONTEXT;
  if (!image || env("FAKE_CUDA_IMAGE_ERROR", 0))
    return INVALID_IMAGE;
  struct CUmod_st *m = calloc(1, sizeof(*m));
  strncpy(m->text, (const char *)image, sizeof(m->text) - 1);
  if (env("FAKE_CUDA_TRACE", 0)) {
    const char *target = strstr(m->text, ".target ");
    fprintf(stderr, "fake-cuda: load %.*s\n",
            target ? (int)strcspn(target, "\n") : 14,
            target ? target : "(binary image)");
    /* Which tensor-core instruction the module uses, if any (Hopper's
     * first). */
    const char *mma = strstr(m->text, "wgmma.mma_async.");
    if (!mma)
      mma = strstr(m->text, "mma.sync.aligned.");
    if (mma)
      fprintf(stderr, "fake-cuda: module uses %.*s\n",
              (int)strcspn(mma, " \t\n"), mma);
  }
  *module = m;
  return SUCCESS;
}

EXPORT CUresult cuModuleUnload(CUmodule module) {
  called("cuModuleUnload");
  if (!module)
    return INVALID_HANDLE;
  free(module);
  return SUCCESS;
}

EXPORT CUresult cuModuleGetFunction(CUfunction *function, CUmodule module,
                                    const char *name) {
  called("cuModuleGetFunction");
  if (current() < 0)
    return INVALID_CONTEXT;
  if (!module)
    return INVALID_HANDLE;
  char entry[160];
  snprintf(entry, sizeof(entry), ".entry %s(", name);
  if (strstr(module->text, ".entry ") && !strstr(module->text, entry))
    return NOT_FOUND;
  pthread_mutex_lock(&lock);
  /* As the driver does, the same handle for the same kernel (compiled code
   * asks for it at every launch). */
  for (int i = 0; i < functionCount; ++i)
    if (!strcmp(functions[i].name, name)) {
      *function = &functions[i];
      pthread_mutex_unlock(&lock);
      return SUCCESS;
    }
  CUresult result = OUT_OF_MEMORY;
  if (functionCount < 64) {
    struct CUfunc_st *f = &functions[functionCount++];
    strncpy(f->name, name, sizeof(f->name) - 1);
    *function = f;
    result = SUCCESS;
  }
  pthread_mutex_unlock(&lock);
  return result;
}

EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy,
                               unsigned gz, unsigned bx, unsigned by,
                               unsigned bz, unsigned shared, CUstream stream,
                               void **params, void **extra) {
  called("cuLaunchKernel");
  if (current() < 0)
    return INVALID_CONTEXT;
  if (!f || !stream || (!params && !extra))
    return INVALID_VALUE;
  if ((long)bx * by * bz > 1024)
    return INVALID_VALUE;
  /* Past 48 KiB of dynamic shared memory a kernel must be allowed first
   * (and no GPU has more than 227 KiB per block). */
  if (shared > 48 * 1024 &&
      ((int)shared > f->maxDynamicShared || shared > 227 * 1024))
    return INVALID_VALUE;
  if (env("FAKE_CUDA_LAUNCH_ERROR", 0))
    return LAUNCH_FAILED;
  pthread_mutex_lock(&lock);
  snprintf(lastLaunch, sizeof(lastLaunch), "%s %ux%ux%u %ux%ux%u %u",
           f->name, gx, gy, gz, bx, by, bz, shared);
  lastLaunchDevice = current();
  if (env("FAKE_CUDA_TRACE", 0))
    fprintf(stderr, "fake-cuda: launch %s on device %d\n", lastLaunch,
            lastLaunchDevice);
  pthread_mutex_unlock(&lock);
  return SUCCESS;
}

EXPORT CUresult cuStreamCreate(CUstream *stream, unsigned flags) {
  called("cuStreamCreate");
  if (current() < 0)
    return INVALID_CONTEXT;
  (void)flags;
  pthread_mutex_lock(&lock);
  ++streams;
  pthread_mutex_unlock(&lock);
  *stream = (CUstream)calloc(1, sizeof(struct CUstream_st));
  return SUCCESS;
}

EXPORT CUresult cuStreamDestroy_v2(CUstream stream) {
  called("cuStreamDestroy_v2");
  if (!stream)
    return INVALID_HANDLE;
  pthread_mutex_lock(&lock);
  --streams;
  pthread_mutex_unlock(&lock);
  free(stream);
  return SUCCESS;
}

EXPORT CUresult cuStreamSynchronize(CUstream stream) {
  called("cuStreamSynchronize");
  if (current() < 0)
    return INVALID_CONTEXT;
  if (!stream)
    return INVALID_HANDLE;
  if (env("FAKE_CUDA_SYNC_ERROR", 0)) /* a kernel failed after its launch */
    return LAUNCH_FAILED;
  for (int i = 0; i < stream->queued; ++i)
    memmove(stream->copies[i].to, stream->copies[i].from,
            stream->copies[i].size);
  stream->queued = 0;
  return SUCCESS;
}

EXPORT CUresult cuFuncSetAttribute(CUfunction f, int attribute, int value) {
  called("cuFuncSetAttribute");
  if (!f)
    return INVALID_HANDLE;
  if (attribute != 8 || value < 0 || value > 227 * 1024)
    return INVALID_VALUE;
  f->maxDynamicShared = value;
  return SUCCESS;
}

/* cuTensorMapEncodeTiled with the driver's documented checks; the map
 * records its arguments (uint64 words: rank, data type, swizzle, then the
 * dims, the strides and the box, innermost first) for the tests. */
EXPORT CUresult cuTensorMapEncodeTiled(
    void *map, int type, unsigned rank, void *address, const uint64_t *dims,
    const uint64_t *strides, const unsigned *box, const unsigned *elementStrides,
    int interleave, int swizzle, int l2, int oob) {
  called("cuTensorMapEncodeTiled");
  static const int bytes[] = {1, 2, 4, 4, 8, 8, 2, 4, 8, 2, 4, 4, 4};
  if (!map || type < 0 || type > 12 || rank < 1 || rank > 5 ||
      ((uintptr_t)address & 15) || interleave != 0 || swizzle < 0 ||
      swizzle > 3 || l2 < 0 || l2 > 3 || oob < 0 || oob > 1)
    return INVALID_VALUE;
  for (unsigned i = 0; i < rank; ++i) {
    if (dims[i] == 0 || dims[i] > (1ull << 32) || box[i] == 0 ||
        box[i] > 256 || elementStrides[i] < 1 || elementStrides[i] > 8)
      return INVALID_VALUE;
    if (i + 1 < rank && ((strides[i] & 15) || strides[i] >= (1ull << 40)))
      return INVALID_VALUE;
  }
  unsigned inner = box[0] * (unsigned)bytes[type];
  static const unsigned swizzleBytes[] = {0, 32, 64, 128};
  if (inner % 16 || (swizzle && inner > swizzleBytes[swizzle]))
    return INVALID_VALUE;
  uint64_t *words = (uint64_t *)map;
  memset(map, 0, 128);
  words[0] = rank;
  words[1] = (uint64_t)type;
  words[2] = (uint64_t)swizzle;
  for (unsigned i = 0; i < rank; ++i) {
    words[3 + i] = dims[i];
    words[8 + i] = i + 1 < rank ? strides[i] : 0;
    /* (two words left over: the map is 16 words) */
    if (i < 3)
      words[13 + i] = box[i];
  }
  return SUCCESS;
}

/* For the tests. */

/* The last launch: "kernel gxXgyXgz bxXbyXbz sharedBytes". */
EXPORT const char *fake_cuda_last_launch(void) { return lastLaunch; }

/* The device whose context the last launch ran in. */
EXPORT int fake_cuda_last_launch_device(void) { return lastLaunchDevice; }

/* Streams created and not destroyed. */
EXPORT int fake_cuda_streams(void) { return streams; }

/* Page-locked host blocks allocated and not freed. */
EXPORT int fake_cuda_pinned(void) { return pinnedLive; }

/* The names of the calls so far, separated by spaces (a copy the caller
 * frees). */
EXPORT char *fake_cuda_log(void) {
  pthread_mutex_lock(&lock);
  char *text = strdup(log_text);
  pthread_mutex_unlock(&lock);
  return text;
}

EXPORT void fake_cuda_clear_log(void) {
  pthread_mutex_lock(&lock);
  log_text[0] = '\0';
  pthread_mutex_unlock(&lock);
}

/* Bytes of device memory live on `device`. */
EXPORT size_t fake_cuda_used(int device) {
  pthread_mutex_lock(&lock);
  size_t bytes = device >= 0 && device < MAX_DEVICES ? used[device] : 0;
  pthread_mutex_unlock(&lock);
  return bytes;
}

/* How often `device`'s primary context was retained. */
EXPORT int fake_cuda_retained(int device) {
  return device >= 0 && device < MAX_DEVICES ? retained[device] : 0;
}
