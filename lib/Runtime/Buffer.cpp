//===- Buffer.cpp - Kiln runtime buffers and the buffer pool
//---------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Pooled memory comes in power-of-two size classes (at least 64 bytes, 64-byte
// aligned). A released block goes back to the free list of its class and the
// next request of that class takes it: a program that calls the same
// function again and again stops touching fresh pages (first-touch page
// faults cost ~11 us per 4 KiB here) after the first call.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <vector>

using kiln::runtime::checkShape;

namespace {

struct Pool {
  std::mutex mutex;
  std::map<size_t, std::vector<void *>> free; // size class -> blocks
  kiln_pool_stats_t stats = {0, 0, 0, 0};
  uint64_t limit;

  Pool() {
    uint64_t mb = 1024;
    if (const char *env = std::getenv("KILN_POOL_LIMIT_MB"))
      mb = std::strtoull(env, nullptr, 10);
    limit = mb << 20;
  }

  static size_t sizeClass(size_t bytes) {
    size_t c = 64;
    while (c < bytes)
      c <<= 1;
    return c;
  }

  void *take(size_t bytes, size_t *classOut) {
    size_t c = sizeClass(bytes ? bytes : 1);
    *classOut = c;
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto it = free.find(c);
      if (it != free.end() && !it->second.empty()) {
        void *p = it->second.back();
        it->second.pop_back();
        stats.reuses++;
        stats.bytes_cached -= c;
        stats.bytes_in_use += c;
        return p;
      }
    }
    void *p = std::aligned_alloc(64, c);
    if (!p)
      return nullptr;
    std::lock_guard<std::mutex> lock(mutex);
    stats.allocations++;
    stats.bytes_in_use += c;
    return p;
  }

  void give(void *p, size_t c) {
    std::lock_guard<std::mutex> lock(mutex);
    stats.bytes_in_use -= c;
    if (stats.bytes_cached + c > limit) {
      std::free(p);
      return;
    }
    free[c].push_back(p);
    stats.bytes_cached += c;
  }

  void trim() {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto &entry : free)
      for (void *p : entry.second)
        std::free(p);
    free.clear();
    stats.bytes_cached = 0;
  }
};

Pool &pool() {
  // Leaked on purpose: buffers may be released by static destructors of
  // other libraries after ours would have run.
  static Pool *instance = new Pool();
  return *instance;
}

} // namespace

struct kiln_buffer_s {
  std::atomic<int64_t> refs{1};
  kiln_dtype_t dtype;
  int32_t rank;
  int64_t shape[KILN_MAX_RANK];
  int64_t elements;
  size_t bytes;
  kiln_device_t device;
  void *data;
  size_t sizeClass;                // nonzero for pooled memory
  void (*release)(void *, void *); // borrowed memory
  void *releaseCtx;
};

static kiln_status_t createBuffer(kiln_device_t device, kiln_dtype_t dtype,
                                  int32_t rank, const int64_t *shape, bool zero,
                                  kiln_buffer_t **out) {
  *out = nullptr;
  if (device.type != KILN_DEVICE_CPU)
    return kiln_status_create(KILN_UNAVAILABLE,
                              "device type %d ordinal %d is not available: "
                              "this runtime has CPU buffers only",
                              static_cast<int>(device.type), device.ordinal);
  size_t elementSize = kiln_dtype_size(dtype);
  if (!elementSize)
    return kiln_status_create(KILN_INVALID_ARGUMENT, "invalid dtype %d",
                              static_cast<int>(dtype));
  int64_t elements;
  size_t bytes;
  if (kiln_status_t s = checkShape(rank, shape, elementSize, &elements, &bytes))
    return s;
  auto *b = new (std::nothrow) kiln_buffer_s();
  if (!b)
    return kiln_status_create(KILN_OUT_OF_MEMORY, "out of memory");
  b->data = pool().take(bytes, &b->sizeClass);
  if (!b->data) {
    delete b;
    return kiln_status_create(KILN_OUT_OF_MEMORY,
                              "cannot allocate %zu bytes for a buffer", bytes);
  }
  if (zero)
    std::memset(b->data, 0, bytes);
  b->dtype = dtype;
  b->rank = rank;
  for (int32_t i = 0; i < rank; ++i)
    b->shape[i] = shape[i];
  b->elements = elements;
  b->bytes = bytes;
  b->device = device;
  b->release = nullptr;
  b->releaseCtx = nullptr;
  *out = b;
  return nullptr;
}

extern "C" {

kiln_status_t kiln_buffer_create(kiln_device_t device, kiln_dtype_t dtype,
                                 int32_t rank, const int64_t *shape,
                                 kiln_buffer_t **out) {
  return createBuffer(device, dtype, rank, shape, false, out);
}

kiln_status_t kiln_buffer_create_zeroed(kiln_device_t device,
                                        kiln_dtype_t dtype, int32_t rank,
                                        const int64_t *shape,
                                        kiln_buffer_t **out) {
  return createBuffer(device, dtype, rank, shape, true, out);
}

kiln_status_t kiln_buffer_wrap_host(kiln_dtype_t dtype, int32_t rank,
                                    const int64_t *shape, void *data,
                                    void (*release_fn)(void *, void *),
                                    void *ctx, kiln_buffer_t **out) {
  *out = nullptr;
  size_t elementSize = kiln_dtype_size(dtype);
  if (!elementSize)
    return kiln_status_create(KILN_INVALID_ARGUMENT, "invalid dtype %d",
                              static_cast<int>(dtype));
  int64_t elements;
  size_t bytes;
  if (kiln_status_t s = checkShape(rank, shape, elementSize, &elements, &bytes))
    return s;
  if (!data && bytes)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "cannot wrap a NULL pointer");
  auto *b = new (std::nothrow) kiln_buffer_s();
  if (!b)
    return kiln_status_create(KILN_OUT_OF_MEMORY, "out of memory");
  b->dtype = dtype;
  b->rank = rank;
  for (int32_t i = 0; i < rank; ++i)
    b->shape[i] = shape[i];
  b->elements = elements;
  b->bytes = bytes;
  b->device = {KILN_DEVICE_CPU, 0};
  b->data = data;
  b->sizeClass = 0;
  b->release = release_fn;
  b->releaseCtx = ctx;
  *out = b;
  return nullptr;
}

void kiln_buffer_retain(kiln_buffer_t *b) {
  if (b)
    b->refs.fetch_add(1, std::memory_order_relaxed);
}

void kiln_buffer_release(kiln_buffer_t *b) {
  if (!b || b->refs.fetch_sub(1, std::memory_order_acq_rel) != 1)
    return;
  if (b->sizeClass)
    pool().give(b->data, b->sizeClass);
  else if (b->release)
    b->release(b->releaseCtx, b->data);
  delete b;
}

kiln_dtype_t kiln_buffer_dtype(const kiln_buffer_t *b) { return b->dtype; }
int32_t kiln_buffer_rank(const kiln_buffer_t *b) { return b->rank; }
const int64_t *kiln_buffer_shape(const kiln_buffer_t *b) { return b->shape; }
int64_t kiln_buffer_element_count(const kiln_buffer_t *b) {
  return b->elements;
}
size_t kiln_buffer_byte_size(const kiln_buffer_t *b) { return b->bytes; }
kiln_device_t kiln_buffer_device(const kiln_buffer_t *b) { return b->device; }
void *kiln_buffer_host_data(kiln_buffer_t *b) {
  return b->device.type == KILN_DEVICE_CPU ? b->data : nullptr;
}

void kiln_pool_stats(kiln_pool_stats_t *out) {
  Pool &p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  *out = p.stats;
}

void kiln_pool_trim(void) { pool().trim(); }

} // extern "C"
