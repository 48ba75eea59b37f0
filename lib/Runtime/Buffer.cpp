//===- Buffer.cpp - Kiln runtime buffers and the buffer pool --------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Pooled memory comes in size classes: 64, 128 and 256 bytes, then four
// classes per power of two (for 2^k < n <= 2^(k+1): multiples of 2^(k-2)),
// so a block wastes at most 25% and every class is a multiple of 64. Blocks
// are 64-byte aligned. A released block goes to the free list of its class
// and the next request of that class takes it: a program that calls the same
// function again and again stops touching fresh pages (first-touch page
// faults cost ~11 us per 4 KiB here) after the first call.
//
// The cache is bounded (KILN_POOL_LIMIT_MB, default 1 GiB): when it would
// grow beyond the limit, the blocks cached longest ago are freed first, so
// the shapes in current use stay cached. The free lists are intrusive -- a
// cached block holds its own list links -- so the pool allocates nothing but
// the blocks themselves and never fails halfway.
//
// The pool is the host's device backend (Device.h): buffers allocate,
// zero, copy and free through the backend of their device, the host's
// included, so a device buffer needs nothing here but its own backend.
//
//===----------------------------------------------------------------------===//

#include "Device.h"
#include "Internal.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#include <sys/mman.h>

using kiln::runtime::Allocation;
using kiln::runtime::checkShape;
using kiln::runtime::DeviceBackend;
using kiln::runtime::formatDevice;
using kiln::runtime::formatShape;
using kiln::runtime::sizeClass;

namespace {

/// Number of size classes: 3 small ones, then 4 per power of two from
/// (2^8, 2^9] up to (2^61, 2^62] (checkShape keeps sizes below 2^62).
constexpr unsigned kNumClasses = 3 + 4 * (61 - 8 + 1);

} // namespace

size_t kiln::runtime::sizeClass(size_t bytes, unsigned *index) {
  if (bytes <= 256) {
    unsigned i = bytes <= 64 ? 0 : bytes <= 128 ? 1 : 2;
    *index = i;
    return size_t(64) << i;
  }
  // 2^k < bytes <= 2^(k+1) with k >= 8; classes are multiples of 2^(k-2).
  unsigned k = 63 - static_cast<unsigned>(
                        __builtin_clzll(static_cast<uint64_t>(bytes - 1)));
  size_t step = size_t(1) << (k - 2);
  size_t size = (bytes + step - 1) & ~(step - 1);
  *index = 3 + 4 * (k - 8) +
           static_cast<unsigned>((size - (size_t(1) << k)) / step - 1);
  return size;
}

namespace {

/// The header a cached block holds in its own (at least 64) bytes.
struct FreeBlock {
  FreeBlock *next, *prev;   // the free list of its class, newest first
  FreeBlock *newer, *older; // all cached blocks, in caching order
  size_t size;
  unsigned index;
};
static_assert(sizeof(FreeBlock) <= 64, "a cached block holds its header");

/// The process-wide cache of freed pooled blocks.
class Pool {
public:
  /// Reads KILN_POOL_LIMIT_MB (a decimal number of MiB; malformed values
  /// are ignored).
  Pool() {
    uint64_t mb = 1024;
    if (const char *env = std::getenv("KILN_POOL_LIMIT_MB")) {
      uint64_t v = 0;
      bool valid = *env != '\0';
      for (const char *c = env; *c && valid; ++c) {
        valid = *c >= '0' && *c <= '9';
        v = v >= (uint64_t(1) << 43) ? v : v * 10 + uint64_t(*c - '0');
      }
      if (valid)
        mb = v;
    }
    limit = mb >= (uint64_t(1) << 43) ? UINT64_MAX : mb << 20;
  }

  /// Returns a 64-byte aligned block of at least `bytes` bytes (a cached one
  /// if its class has one) and its class size and index; NULL if the system
  /// has no memory.
  void *take(size_t bytes, size_t *sizeOut, unsigned *indexOut) {
    unsigned index;
    size_t size = sizeClass(bytes, &index);
    *sizeOut = size;
    *indexOut = index;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (FreeBlock *block = heads[index]) {
        unlink(block);
        stats.reuses++;
        stats.bytes_cached -= size;
        stats.bytes_in_use += size;
        return block;
      }
    }
    void *p = allocate(size);
    if (!p)
      return nullptr;
    std::lock_guard<std::mutex> lock(mutex);
    stats.allocations++;
    stats.bytes_in_use += size;
    return p;
  }

  /// Blocks of at least this size are placed on 2 MiB boundaries and
  /// offered to the kernel for transparent huge pages: a first touch then
  /// faults once per 2 MiB instead of once per 4 KiB page, and a large
  /// operand (a convolution's patch matrix) takes 512 times fewer TLB
  /// entries. Smaller blocks would waste most of a huge page.
  static constexpr size_t kHugePage = size_t(2) << 20;
  static constexpr size_t kHugeMinimum = 2 * kHugePage;

  /// A new block of `size` bytes (a class size), from the system.
  static void *allocate(size_t size) {
    if (size < kHugeMinimum)
      return std::aligned_alloc(64, size);
    // aligned_alloc wants a multiple of the alignment; the class size
    // (a multiple of at least 1 MiB here) is rounded up.
    size_t rounded = (size + kHugePage - 1) & ~(kHugePage - 1);
    void *p = std::aligned_alloc(kHugePage, rounded);
#ifdef MADV_HUGEPAGE
    // Advice only: where the kernel has no huge pages (or refuses), the
    // block is ordinary memory.
    if (p)
      (void)madvise(p, rounded, MADV_HUGEPAGE);
#endif
    return p;
  }

  /// Takes back a block from `take`; caches it, or frees it (or older
  /// blocks) to stay within the limit.
  void give(void *p, size_t size, unsigned index) {
    FreeBlock *evicted = nullptr; // freed after unlocking
    {
      std::lock_guard<std::mutex> lock(mutex);
      stats.bytes_in_use -= size;
      if (size > limit) {
        std::free(p);
        return;
      }
      auto *block = static_cast<FreeBlock *>(p);
      block->size = size;
      block->index = index;
      block->prev = nullptr;
      block->next = heads[index];
      if (block->next)
        block->next->prev = block;
      heads[index] = block;
      block->newer = nullptr;
      block->older = newest;
      if (newest)
        newest->newer = block;
      newest = block;
      if (!oldest)
        oldest = block;
      stats.bytes_cached += size;
      while (stats.bytes_cached > limit) {
        FreeBlock *victim = oldest;
        unlink(victim);
        stats.bytes_cached -= victim->size;
        victim->next = evicted;
        evicted = victim;
      }
    }
    freeChain(evicted);
  }

  /// Frees every cached block.
  void trim() {
    FreeBlock *all = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex);
      while (FreeBlock *victim = oldest) {
        unlink(victim);
        victim->next = all;
        all = victim;
      }
      stats.bytes_cached = 0;
    }
    freeChain(all);
  }

  /// A copy of the counters.
  kiln_pool_stats_t getStats() {
    std::lock_guard<std::mutex> lock(mutex);
    return stats;
  }

private:
  /// Removes a cached block from its class list and the caching order.
  /// Requires the mutex.
  void unlink(FreeBlock *block) {
    if (block->prev)
      block->prev->next = block->next;
    else
      heads[block->index] = block->next;
    if (block->next)
      block->next->prev = block->prev;
    if (block->newer)
      block->newer->older = block->older;
    else
      newest = block->older;
    if (block->older)
      block->older->newer = block->newer;
    else
      oldest = block->newer;
  }

  /// Frees a chain of blocks linked through `next`.
  static void freeChain(FreeBlock *block) {
    while (block) {
      FreeBlock *next = block->next;
      std::free(block);
      block = next;
    }
  }

  std::mutex mutex;
  FreeBlock *heads[kNumClasses] = {};
  FreeBlock *newest = nullptr, *oldest = nullptr;
  kiln_pool_stats_t stats = {0, 0, 0, 0};
  uint64_t limit;
};

/// The pool, constructed on first use and never destroyed: buffers may be
/// released by static destructors of other libraries after ours would have
/// run. Cached blocks stay reachable from it, so leak checkers are quiet.
Pool &pool() {
  alignas(Pool) static unsigned char storage[sizeof(Pool)];
  static Pool *instance = new (storage) Pool();
  return *instance;
}

// The host backend's operations: memory from the pool, copies and zeroing
// by the C library.

/// One host device.
kiln_status_t hostProbe(int32_t *count) {
  *count = 1;
  return nullptr;
}

/// A block of the pool.
kiln_status_t hostAllocate(int32_t, size_t bytes, Allocation *out) {
  out->data = pool().take(bytes, &out->size, &out->tag);
  if (!out->data)
    return kiln_status_create(
        KILN_OUT_OF_MEMORY, "cannot allocate %zu bytes of host memory", bytes);
  return nullptr;
}

/// Back to the pool.
void hostRelease(int32_t, const Allocation &allocation) {
  pool().give(allocation.data, allocation.size, allocation.tag);
}

/// Host to host, in every direction: memmove, so that overlapping wrapped
/// buffers copy as if through a temporary.
kiln_status_t hostCopy(int32_t, void *dst, const void *src, size_t bytes) {
  std::memmove(dst, src, bytes);
  return nullptr;
}

/// hostCopy between two "devices" (there is one host).
kiln_status_t hostCopyOnDevice(int32_t, void *dst, int32_t, const void *src,
                               size_t bytes) {
  return hostCopy(0, dst, src, bytes);
}

/// memset.
kiln_status_t hostZero(int32_t, void *data, size_t bytes) {
  std::memset(data, 0, bytes);
  return nullptr;
}

/// The pool's counters.
void hostStats(int32_t, kiln_pool_stats_t *out) { *out = pool().getStats(); }

/// The pool's cached blocks back to the system.
void hostTrim(int32_t) { pool().trim(); }

} // namespace

/// The host row of the backend table (Device.cpp).
const DeviceBackend kiln::runtime::kHostBackend = {
    /*name=*/"cpu",
    /*hostMemory=*/true,
    /*probe=*/hostProbe,
    /*allocate=*/hostAllocate,
    /*release=*/hostRelease,
    /*copyFromHost=*/hostCopy,
    /*copyToHost=*/hostCopy,
    /*copyOnDevice=*/hostCopyOnDevice,
    /*zero=*/hostZero,
    /*stats=*/hostStats,
    /*trim=*/hostTrim,
};

struct kiln_buffer_s {
  std::atomic<int64_t> refs{1};
  kiln_dtype_t dtype = KILN_F32;
  int32_t rank = 0;
  int64_t shape[KILN_MAX_RANK] = {};
  int64_t elements = 0;
  size_t bytes = 0;
  kiln_device_t device = {KILN_DEVICE_CPU, 0};
  void *data = nullptr;
  bool owned = false;                        // the device's backend allocated
  Allocation allocation;                     // owned: what to give back
  void (*release)(void *, void *) = nullptr; // wrapped memory
  void *releaseCtx = nullptr;
};

/// Allocates the buffer object and fills in its metadata after checking
/// dtype and shape; the data pointer is left to the caller.
static kiln_status_t newBuffer(kiln_dtype_t dtype, int32_t rank,
                               const int64_t *shape, kiln_buffer_t **out) {
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
    return kiln_status_create(KILN_OUT_OF_MEMORY,
                              "out of memory for a buffer object");
  b->dtype = dtype;
  b->rank = rank;
  for (int32_t i = 0; i < rank; ++i)
    b->shape[i] = shape[i];
  b->elements = elements;
  b->bytes = bytes;
  *out = b;
  return nullptr;
}

/// The backend of a buffer's device (never NULL: buffers are only made on
/// devices that have one).
static const DeviceBackend &backendOf(const kiln_buffer_t *b) {
  return *kiln::runtime::deviceBackend(b->device.type);
}

/// kiln_buffer_create and kiln_buffer_create_zeroed.
static kiln_status_t createBuffer(kiln_device_t device, kiln_dtype_t dtype,
                                  int32_t rank, const int64_t *shape, bool zero,
                                  kiln_buffer_t **out) {
  if (!out)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_buffer_create: out is NULL");
  *out = nullptr;
  if (kiln_status_t s = kiln_device_check(device))
    return s;
  kiln_buffer_t *b = nullptr;
  if (kiln_status_t s = newBuffer(dtype, rank, shape, &b))
    return s;
  b->device = device;
  const DeviceBackend &backend = backendOf(b);
  if (kiln_status_t s =
          backend.allocate(device.ordinal, b->bytes, &b->allocation)) {
    delete b;
    return kiln_status_annotate(s, "a buffer of shape %s on %s",
                                formatShape(shape, rank).c_str(),
                                formatDevice(device).c_str());
  }
  b->owned = true;
  b->data = b->allocation.data;
  if (zero && b->bytes)
    if (kiln_status_t s = backend.zero(device.ordinal, b->data, b->bytes)) {
      kiln_buffer_release(b);
      return s;
    }
  *out = b;
  return nullptr;
}

/// Copies `bytes` bytes between the contents of two buffers, whichever
/// devices hold them: each direction is its backend's business, and
/// between two device types that share nothing the bytes pass through
/// host memory.
static kiln_status_t copyContents(kiln_buffer_t *dst, const kiln_buffer_t *src,
                                  size_t bytes) {
  const DeviceBackend &from = backendOf(src), &to = backendOf(dst);
  kiln_device_t d = dst->device, s = src->device;
  if (from.hostMemory && to.hostMemory)
    return kiln::runtime::kHostBackend.copyOnDevice(0, dst->data, 0, src->data,
                                                    bytes);
  if (from.hostMemory)
    return to.copyFromHost(d.ordinal, dst->data, src->data, bytes);
  if (to.hostMemory)
    return from.copyToHost(s.ordinal, dst->data, src->data, bytes);
  if (d.type == s.type)
    return to.copyOnDevice(d.ordinal, dst->data, s.ordinal, src->data, bytes);
  const DeviceBackend &host = kiln::runtime::kHostBackend;
  Allocation staging;
  if (kiln_status_t status = host.allocate(0, bytes, &staging))
    return status;
  kiln_status_t status =
      from.copyToHost(s.ordinal, staging.data, src->data, bytes);
  if (!status)
    status = to.copyFromHost(d.ordinal, dst->data, staging.data, bytes);
  host.release(0, staging);
  return status;
}

bool kiln::runtime::isHostBuffer(const kiln_buffer_t *buffer) {
  return backendOf(buffer).hostMemory;
}

extern "C" {

kiln_status_t kiln_buffer_create(kiln_device_t device, kiln_dtype_t dtype,
                                 int32_t rank, const int64_t *shape,
                                 kiln_buffer_t **out) {
  return createBuffer(device, dtype, rank, shape, /*zero=*/false, out);
}

kiln_status_t kiln_buffer_create_zeroed(kiln_device_t device,
                                        kiln_dtype_t dtype, int32_t rank,
                                        const int64_t *shape,
                                        kiln_buffer_t **out) {
  return createBuffer(device, dtype, rank, shape, /*zero=*/true, out);
}

kiln_status_t kiln_buffer_wrap_host(kiln_dtype_t dtype, int32_t rank,
                                    const int64_t *shape, void *data,
                                    void (*release_fn)(void *, void *),
                                    void *ctx, kiln_buffer_t **out) {
  if (!out)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_buffer_wrap_host: out is NULL");
  *out = nullptr;
  kiln_buffer_t *b = nullptr;
  if (kiln_status_t s = newBuffer(dtype, rank, shape, &b))
    return s;
  if (!data && b->bytes) {
    delete b;
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "cannot wrap a NULL pointer");
  }
  b->data = data;
  b->release = release_fn;
  b->releaseCtx = ctx;
  *out = b;
  return nullptr;
}

void kiln_buffer_retain(kiln_buffer_t *b) {
  if (b)
    b->refs.fetch_add(1, std::memory_order_relaxed);
}

int64_t kiln_buffer_refcount(const kiln_buffer_t *b) {
  return b ? b->refs.load(std::memory_order_acquire) : 0;
}

void kiln_buffer_release(kiln_buffer_t *b) {
  if (!b || b->refs.fetch_sub(1, std::memory_order_acq_rel) != 1)
    return;
  if (b->owned)
    backendOf(b).release(b->device.ordinal, b->allocation);
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
  return kiln::runtime::isHostBuffer(b) ? b->data : nullptr;
}

void *kiln_buffer_data(kiln_buffer_t *b) { return b->data; }

kiln_status_t kiln_buffer_copy(kiln_buffer_t *dst, const kiln_buffer_t *src) {
  if (!dst || !src)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_buffer_copy: the %s is NULL",
                              dst ? "source" : "destination");
  if (dst->dtype != src->dtype || dst->rank != src->rank ||
      !std::equal(dst->shape, dst->shape + dst->rank, src->shape))
    return kiln_status_create(
        KILN_INVALID_ARGUMENT,
        "kiln_buffer_copy: the source is %s %s but the destination is %s %s",
        kiln_dtype_name(src->dtype), formatShape(src->shape, src->rank).c_str(),
        kiln_dtype_name(dst->dtype),
        formatShape(dst->shape, dst->rank).c_str());
  if (dst == src || dst->bytes == 0)
    return nullptr;
  return kiln_status_annotate(
      copyContents(dst, src, dst->bytes), "kiln_buffer_copy from %s to %s",
      formatDevice(src->device).c_str(), formatDevice(dst->device).c_str());
}

kiln_status_t kiln_buffer_copy_to(const kiln_buffer_t *src,
                                  kiln_device_t device, kiln_buffer_t **out) {
  if (!out || !src)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_buffer_copy_to: %s is NULL",
                              out ? "the source" : "out");
  *out = nullptr;
  kiln_buffer_t *copy = nullptr;
  if (kiln_status_t s =
          kiln_buffer_create(device, src->dtype, src->rank, src->shape, &copy))
    return s;
  if (kiln_status_t s = kiln_buffer_copy(copy, src)) {
    kiln_buffer_release(copy);
    return s;
  }
  *out = copy;
  return nullptr;
}

void kiln_pool_stats(kiln_pool_stats_t *out) {
  if (out)
    *out = pool().getStats();
}

void kiln_pool_trim(void) { pool().trim(); }

//===----------------------------------------------------------------------===//
// Temporaries of compiled code
//===----------------------------------------------------------------------===//
//
// Compiled code allocates its temporaries (memref.alloc) through these three
// functions, the names MLIR's memref lowering calls with
// use-generic-functions: from the pool, so that a step run again reuses the
// blocks of the last run instead of touching fresh pages (first-touch page
// faults cost ~11 us per 4 KiB here, and the C library returns large blocks
// to the system on free). Each block starts with a 64-byte header that
// records where the pool's block begins and its class.

namespace {
/// What a temporary records in the 64 bytes before its data.
struct TemporaryHeader {
  void *block;
  size_t size;
  unsigned index;
};
static_assert(sizeof(TemporaryHeader) <= 64, "the header fits its slot");

/// A temporary of `bytes` bytes aligned to `alignment` (a power of two).
void *allocateTemporary(size_t bytes, size_t alignment) {
  if (alignment < 64)
    alignment = 64;
  size_t size = 0;
  unsigned index = 0;
  size_t extra = 64 + (alignment > 64 ? alignment : 0);
  if (bytes > SIZE_MAX - extra)
    return nullptr;
  void *block = pool().take(bytes + extra, &size, &index);
  if (!block)
    return nullptr;
  uintptr_t start = reinterpret_cast<uintptr_t>(block) + 64;
  uintptr_t data = (start + alignment - 1) & ~(uintptr_t(alignment) - 1);
  auto *header = reinterpret_cast<TemporaryHeader *>(data - 64);
  header->block = block;
  header->size = size;
  header->index = index;
  return reinterpret_cast<void *>(data);
}
} // namespace

KILN_RUNTIME_EXPORT void *_mlir_memref_to_llvm_alloc(size_t bytes) {
  return allocateTemporary(bytes, 64);
}

KILN_RUNTIME_EXPORT void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment,
                                                             size_t bytes) {
  if (alignment & (alignment - 1))
    return nullptr;
  return allocateTemporary(bytes, alignment);
}

KILN_RUNTIME_EXPORT void _mlir_memref_to_llvm_free(void *data) {
  if (!data)
    return;
  auto *header = reinterpret_cast<TemporaryHeader *>(
      reinterpret_cast<uintptr_t>(data) - 64);
  pool().give(header->block, header->size, header->index);
}

} // extern "C"
