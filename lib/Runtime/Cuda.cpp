//===- Cuda.cpp - The CUDA device backend ---------------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The CUDA row of the device table (Device.h) on the CUDA driver API. The
// runtime links nothing from CUDA: the driver (libcuda.so.1, or the file
// named by KILN_CUDA_DRIVER, e.g. a test double) is opened with dlopen the
// first time a CUDA device is asked for, and its functions are looked up by
// the versioned names cuda.h maps them to (cuMemAlloc is cuMemAlloc_v2).
// Without a driver, or with one that finds no usable GPU, every operation
// is KILN_UNAVAILABLE and says what is missing.
//
// Each device runs in its primary context (the one the CUDA runtime API
// uses too), retained on the device's first use. Device memory comes from a
// caching allocator like PyTorch's: a freed block stays with its device,
// in the host pool's size classes, for the next allocation of its class;
// when the driver runs out of memory, the device's cached blocks are freed
// and the allocation tried once more. Copies and zeroing are complete when
// they return (a memset is followed by a synchronize).
//
// Large copies between host and device memory go through pinned staging:
// each GPU has two page-locked host buffers (KILN_CUDA_STAGING_CHUNK bytes
// each, default 4 MiB) and two streams, and a copy moves chunk by chunk,
// the host-side memcpy of one chunk overlapping the DMA of the other, at
// the bandwidth of page-locked memory. Small copies, a copy while another
// thread holds the GPU's staging buffers, and drivers or machines that
// cannot give page-locked memory use the driver's synchronous copies from
// pageable memory; KILN_CUDA_STAGING=0 turns staging off.
//
//===----------------------------------------------------------------------===//

#include "Device.h"
#include "Internal.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

using kiln::runtime::Allocation;
using kiln::runtime::DeviceBackend;

namespace {

// The part of the driver API the backend uses, declared here so that the
// runtime builds without the CUDA toolkit (cuda.h declares the same).
using CUresult = int;
using CUdevice = int;
using CUcontext = struct CUctx_st *;
using CUdeviceptr = unsigned long long;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
constexpr CUresult kSuccess = 0;           // CUDA_SUCCESS
constexpr CUresult kOutOfMemory = 2;       // CUDA_ERROR_OUT_OF_MEMORY
constexpr CUresult kNotSupported = 801;    // CUDA_ERROR_NOT_SUPPORTED
constexpr CUresult kNoDevice = 100;        // CUDA_ERROR_NO_DEVICE

/// The driver's entry points.
struct Driver {
  CUresult (*init)(unsigned);
  CUresult (*getErrorName)(CUresult, const char **);
  CUresult (*getErrorString)(CUresult, const char **);
  CUresult (*deviceGetCount)(int *);
  CUresult (*deviceGet)(CUdevice *, int);
  CUresult (*primaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*ctxPushCurrent)(CUcontext);
  CUresult (*ctxPopCurrent)(CUcontext *);
  CUresult (*ctxSynchronize)();
  CUresult (*memAlloc)(CUdeviceptr *, size_t);
  CUresult (*memFree)(CUdeviceptr);
  CUresult (*memcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*memcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*memcpyDtoD)(CUdeviceptr, CUdeviceptr, size_t);
  CUresult (*memcpy)(CUdeviceptr, CUdeviceptr, size_t); // unified addresses
  CUresult (*memcpyPeer)(CUdeviceptr, CUcontext, CUdeviceptr, CUcontext,
                         size_t);
  CUresult (*memsetD8)(CUdeviceptr, unsigned char, size_t);
  CUresult (*moduleLoadData)(CUmodule *, const void *);
  CUresult (*moduleUnload)(CUmodule);
  CUresult (*moduleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*launchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                           unsigned, unsigned, unsigned, CUstream, void **,
                           void **);
  CUresult (*streamCreate)(CUstream *, unsigned);
  CUresult (*streamDestroy)(CUstream);
  CUresult (*streamSynchronize)(CUstream);
  // Optional: without them, no pinned staging.
  CUresult (*memHostAlloc)(void **, size_t, unsigned);
  CUresult (*memFreeHost)(void *);
  CUresult (*memcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
  CUresult (*memcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
  // Optional: TMA descriptors (CUDA 12 drivers) and kernels with more than
  // 48 KiB of dynamic shared memory.
  CUresult (*tensorMapEncodeTiled)(void *, int, uint32_t, void *,
                                   const uint64_t *, const uint64_t *,
                                   const uint32_t *, const uint32_t *, int,
                                   int, int, int);
  CUresult (*funcSetAttribute)(CUfunction, int, int);
};

/// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES; what a block may use
/// without it.
constexpr int kMaxDynamicSharedAttribute = 8;
constexpr int32_t kDefaultSharedLimit = 48 * 1024;

/// Bytes per element of CUtensorMapDataType 0 .. 12 (uint8 .. tf32_ftz).
constexpr size_t kTensorMapElementBytes[] = {1, 2, 4, 4, 8, 8, 2,
                                             4, 8, 2, 4, 4, 4};

/// A GPU's pinned staging: two page-locked buffers and a stream for each,
/// used by one copy at a time.
struct Staging {
  std::mutex busy;
  void *buffers[2] = {nullptr, nullptr};
  CUstream streams[2] = {nullptr, nullptr};
  bool ready = false, failed = false; // set up; could not be set up
};

/// A module of compiled GPU code: its image (a cubin, a fat binary or PTX
/// text), loaded on each GPU the first time a kernel of it is looked up
/// there (a module belongs to one context), or why that failed.
struct KernelModule {
  const void *image = nullptr;
  std::map<int32_t, CUmodule> loaded;     // by ordinal
  std::map<int32_t, std::string> failed;  // by ordinal: the load's error
};

/// One GPU: its driver handle, its primary context once retained, and its
/// cache of free blocks by size class.
struct Gpu {
  CUdevice device = 0;
  CUcontext context = nullptr; // retained on first use
  std::multimap<unsigned, CUdeviceptr> cached; // size class -> free block
  kiln_pool_stats_t stats = {0, 0, 0, 0};
  std::unique_ptr<Staging> staging = std::make_unique<Staging>();
};

/// The backend's state: the driver, or why there is none, and the GPUs.
class Cuda {
public:
  static Cuda &get() {
    // Never destroyed: buffers may be released by other libraries' static
    // destructors after ours would have run.
    static Cuda *instance = new Cuda();
    return *instance;
  }

  /// NULL if the driver is loaded and initialized; else why not (a new
  /// status each time).
  kiln_status_t available() const {
    if (unavailable.empty())
      return nullptr;
    return kiln_status_create(KILN_UNAVAILABLE, "%s", unavailable.c_str());
  }

  int32_t count() const { return static_cast<int32_t>(gpus.size()); }

  kiln_status_t allocate(int32_t ordinal, size_t bytes, Allocation *out) {
    unsigned index = 0;
    size_t size = kiln::runtime::sizeClass(bytes == 0 ? 1 : bytes, &index);
    std::lock_guard<std::mutex> guard(lock);
    Gpu &gpu = gpus[ordinal];
    if (kiln_status_t s = enter(gpu))
      return s;
    auto cached = gpu.cached.find(index);
    if (cached != gpu.cached.end()) {
      out->data = reinterpret_cast<void *>(cached->second);
      gpu.cached.erase(cached);
      gpu.stats.bytes_cached -= size;
      ++gpu.stats.reuses;
    } else {
      CUdeviceptr pointer = 0;
      CUresult result = driver.memAlloc(&pointer, size);
      if (result == kOutOfMemory && !gpu.cached.empty()) {
        // Give the cache back to the driver and try once more.
        trimLocked(gpu);
        result = driver.memAlloc(&pointer, size);
      }
      if (result != kSuccess) {
        leave();
        return error(result,
                     result == kOutOfMemory ? KILN_OUT_OF_MEMORY
                                            : KILN_INTERNAL,
                     "cannot allocate " + std::to_string(bytes) +
                         " bytes on cuda:" + std::to_string(ordinal));
      }
      out->data = reinterpret_cast<void *>(pointer);
      ++gpu.stats.allocations;
    }
    leave();
    out->size = size;
    out->tag = index;
    gpu.stats.bytes_in_use += size;
    return nullptr;
  }

  void release(int32_t ordinal, const Allocation &allocation) {
    std::lock_guard<std::mutex> guard(lock);
    Gpu &gpu = gpus[ordinal];
    gpu.cached.emplace(allocation.tag,
                       reinterpret_cast<CUdeviceptr>(allocation.data));
    gpu.stats.bytes_in_use -= allocation.size;
    gpu.stats.bytes_cached += allocation.size;
  }

  kiln_status_t copyFromHost(int32_t ordinal, void *dst, const void *host,
                             size_t bytes) {
    if (kiln_status_t s = staged(ordinal, dst, host, bytes, /*toDevice=*/true);
        s != kNotStaged)
      return s;
    return inContext(ordinal, "copy to the device", [&] {
      return driver.memcpyHtoD(reinterpret_cast<CUdeviceptr>(dst), host,
                               bytes);
    });
  }

  kiln_status_t copyToHost(int32_t ordinal, void *host, const void *src,
                           size_t bytes) {
    if (kiln_status_t s = staged(ordinal, host, src, bytes, /*toDevice=*/false);
        s != kNotStaged)
      return s;
    return inContext(ordinal, "copy from the device", [&] {
      return driver.memcpyDtoH(host, reinterpret_cast<CUdeviceptr>(src),
                               bytes);
    });
  }

  kiln_status_t copyOnDevice(int32_t dstOrdinal, void *dst, int32_t srcOrdinal,
                             const void *src, size_t bytes) {
    auto to = reinterpret_cast<CUdeviceptr>(dst);
    auto from = reinterpret_cast<CUdeviceptr>(src);
    if (dstOrdinal == srcOrdinal)
      return inContext(dstOrdinal, "copy on the device", [&] {
        return driver.memcpyDtoD(to, from, bytes);
      });
    // Between two GPUs: both contexts exist first.
    {
      std::lock_guard<std::mutex> guard(lock);
      for (int32_t ordinal : {srcOrdinal, dstOrdinal}) {
        if (kiln_status_t s = enter(gpus[ordinal]))
          return s;
        leave();
      }
    }
    return inContext(dstOrdinal, "copy between devices", [&] {
      return driver.memcpyPeer(to, gpus[dstOrdinal].context, from,
                               gpus[srcOrdinal].context, bytes);
    });
  }

  kiln_status_t zero(int32_t ordinal, void *data, size_t bytes) {
    return inContext(ordinal, "zero device memory", [&] {
      CUresult result =
          driver.memsetD8(reinterpret_cast<CUdeviceptr>(data), 0, bytes);
      return result == kSuccess ? driver.ctxSynchronize() : result;
    });
  }

  void stats(int32_t ordinal, kiln_pool_stats_t *out) {
    std::lock_guard<std::mutex> guard(lock);
    *out = gpus[ordinal].stats;
  }

  void trim(int32_t ordinal) {
    std::lock_guard<std::mutex> guard(lock);
    Gpu &gpu = gpus[ordinal];
    if (gpu.cached.empty() || enter(gpu))
      return;
    trimLocked(gpu);
    leave();
  }

  // Kernels: the host calls that compiled GPU code makes (see below). They
  // run on the GPU of the entry being called (setKernelDevice; cuda:0
  // outside a call), in its primary context. A failure is recorded for
  // kiln_executable_invoke to report (the generated code has no status to
  // return it through).

  /// The GPU the kernel calls of this thread run on.
  static void setKernelDevice(int32_t ordinal) { kernelOrdinal = ordinal; }

  /// A module (a cubin, a fat binary or PTX text, which the driver
  /// compiles for the GPU): loaded on a GPU when a kernel of it is first
  /// looked up there.
  KernelModule *loadModule(const void *data) {
    auto *module = new KernelModule;
    module->image = data;
    return module;
  }

  void unloadModule(KernelModule *module) {
    if (!module)
      return;
    for (auto &[ordinal, loaded] : module->loaded) {
      {
        std::lock_guard<std::mutex> guard(lock);
        if (enter(gpus[static_cast<size_t>(ordinal)]))
          continue;
      }
      (void)driver.moduleUnload(loaded);
      leave();
    }
    delete module;
  }

  CUfunction function(KernelModule *module, const char *name) {
    std::string what = std::string("cannot find kernel '") + name + "'";
    if (kiln_status_t s = startKernelCall())
      return fail(s), nullptr;
    int32_t ordinal = kernelOrdinal;
    CUmodule loaded = nullptr;
    {
      std::lock_guard<std::mutex> guard(moduleLock);
      auto found = module->loaded.find(ordinal);
      if (found != module->loaded.end()) {
        loaded = found->second;
      } else if (auto why = module->failed.find(ordinal);
                 why != module->failed.end()) {
        leave();
        fail(KILN_UNAVAILABLE, what + ": the module's kernels were not "
                                      "loaded (" +
                                   why->second + ")");
        return nullptr;
      } else {
        CUresult result = driver.moduleLoadData(&loaded, module->image);
        if (result != kSuccess) {
          kiln_status_t status = error(
              result, KILN_INTERNAL,
              "cannot load the module's GPU kernels on " + device(ordinal));
          module->failed[ordinal] = kiln_status_message(status);
          leave();
          fail(status);
          return nullptr;
        }
        module->loaded[ordinal] = loaded;
      }
    }
    CUfunction function = nullptr;
    CUresult result = driver.moduleGetFunction(&function, loaded, name);
    leave();
    if (result != kSuccess)
      fail(error(result, KILN_INTERNAL, what));
    return function;
  }

  /// The stream compiled code asks for: the thread's stream on the kernel
  /// device, made at its first use and kept. Every kernel of a call goes
  /// to it in order, without waiting for the previous one; the call waits
  /// once, at its end (finishCall), or before the host reads what a kernel
  /// wrote (copyForKernels). (A thread's streams outlive it: the driver
  /// reclaims them at exit.)
  CUstream createStream() {
    if (kiln_status_t s = startKernelCall())
      return fail(s), nullptr;
    CUstream &stream = threadStream(kernelOrdinal);
    if (!stream)
      if (CUresult result = driver.streamCreate(&stream, 0)) {
        stream = nullptr;
        fail(error(result, KILN_INTERNAL,
                   "cannot create a stream on " + device(kernelOrdinal)));
      }
    leave();
    return stream;
  }

  /// Waits for the kernels this thread's call queued on its stream; a
  /// failure is the call's error.
  void finishCall() {
    if (unfinished) {
      unfinished = false;
      if (kiln_status_t s = startKernelCall()) {
        // Kernels may still read the call's freed temporaries: keep them
        // out of the shared cache (lost, rather than handed out in use).
        fail(s);
        streamFreed.clear();
        return;
      } else {
        CUresult result =
            driver.streamSynchronize(threadStream(kernelOrdinal));
        leave();
        if (result != kSuccess)
          fail(error(result, KILN_INTERNAL,
                     "a kernel on " + device(kernelOrdinal) +
                         " failed (reported when the call's kernels "
                         "finished; CUDA_LAUNCH_BLOCKING=1 reports it at "
                         "its launch)"));
      }
    }
    // The temporaries the call freed are idle now: back to the cache that
    // every thread shares.
    for (auto &[ordinal, allocation] : streamFreed)
      release(ordinal, allocation);
    streamFreed.clear();
  }

  void launch(CUfunction function, const intptr_t grid[3],
              const intptr_t block[3], int32_t sharedBytes, CUstream stream,
              void **params, void **extra) {
    if (!function)
      return; // the reason is recorded already
    for (int i = 0; i < 3; ++i)
      if (grid[i] < 1 || block[i] < 1 || grid[i] > 0x7fffffff ||
          block[i] > 1024) {
        fail(KILN_INTERNAL,
             "cannot launch a kernel with a grid of " +
                 std::to_string(grid[0]) + " x " + std::to_string(grid[1]) +
                 " x " + std::to_string(grid[2]) + " blocks of " +
                 std::to_string(block[0]) + " x " +
                 std::to_string(block[1]) + " x " +
                 std::to_string(block[2]) + " threads");
        return;
      }
    if (pending)
      return; // the call failed already (a missing temporary, a descriptor)
    if (kiln_status_t s = startKernelCall())
      return fail(s);
    int32_t ordinal = kernelOrdinal;
    if (sharedBytes > kDefaultSharedLimit) {
      // A block past 48 KiB of dynamic shared memory must be allowed first.
      CUresult allowed =
          driver.funcSetAttribute
              ? driver.funcSetAttribute(function, kMaxDynamicSharedAttribute,
                                        sharedBytes)
              : kNotSupported;
      if (allowed != kSuccess) {
        leave();
        return fail(error(allowed, KILN_INTERNAL,
                          "cannot give a kernel " +
                              std::to_string(sharedBytes) +
                              " bytes of shared memory on " +
                              device(ordinal)));
      }
    }
    CUresult result = driver.launchKernel(
        function, static_cast<unsigned>(grid[0]),
        static_cast<unsigned>(grid[1]), static_cast<unsigned>(grid[2]),
        static_cast<unsigned>(block[0]), static_cast<unsigned>(block[1]),
        static_cast<unsigned>(block[2]), static_cast<unsigned>(sharedBytes),
        stream, params, extra);
    leave();
    if (result != kSuccess)
      fail(error(result, KILN_INTERNAL,
                 "cannot launch a kernel on " + device(ordinal)));
    else
      unfinished = true;
  }

  bool isThreadStream(CUstream stream) {
    return stream && static_cast<size_t>(kernelOrdinal) < threadStreams.size() &&
           threadStreams[static_cast<size_t>(kernelOrdinal)] == stream;
  }

  /// A stream's synchronization (gpu.wait, the end of a launch): deferred
  /// to the end of the call for the thread's stream.
  void synchronize(CUstream stream) {
    if (isThreadStream(stream))
      return;
    if (kiln_status_t s = startKernelCall())
      return fail(s);
    CUresult result = driver.streamSynchronize(stream);
    leave();
    if (result != kSuccess)
      fail(error(result, KILN_INTERNAL,
                 "a kernel on " + device(kernelOrdinal) +
                     " failed (reported when its stream finished)"));
  }

  /// A copy that compiled GPU code makes (gpu.memcpy: a value a kernel
  /// computed, read by the host code that decides a branch or a loop); the
  /// driver tells host from device memory by the addresses. Complete when
  /// this returns.
  void copyForKernels(void *dst, const void *src, size_t bytes) {
    if (bytes == 0)
      return;
    finishCall(); // the kernels that computed the value first
    if (kiln_status_t s = startKernelCall())
      return fail(s);
    CUresult result = driver.memcpy(reinterpret_cast<CUdeviceptr>(dst),
                                    reinterpret_cast<CUdeviceptr>(src), bytes);
    leave();
    if (result != kSuccess)
      fail(error(result, KILN_INTERNAL,
                 "cannot copy " + std::to_string(bytes) +
                     " bytes for compiled code on " + device(kernelOrdinal)));
  }

  void destroyStream(CUstream stream) {
    if (!stream || isThreadStream(stream) || enterKernelDevice())
      return;
    (void)driver.streamDestroy(stream);
    leave();
  }

  /// A temporary of compiled GPU code (gpu.alloc): a block of the kernel
  /// device's cache, remembered until `freeForKernels`.
  void *allocateForKernels(uint64_t bytes) {
    int32_t ordinal = kernelOrdinal;
    // First what this call freed, in stream order (a later kernel of the
    // stream cannot start before the last reader of the block is done).
    unsigned sizeIndex = 0;
    kiln::runtime::sizeClass(bytes == 0 ? 1 : static_cast<size_t>(bytes),
                             &sizeIndex);
    for (auto it = streamFreed.begin(); it != streamFreed.end(); ++it)
      if (it->first == ordinal && it->second.tag == sizeIndex) {
        std::pair<int32_t, Allocation> reused = *it;
        streamFreed.erase(it);
        std::lock_guard<std::mutex> guard(lock);
        temporaries[reused.second.data] = reused;
        return reused.second.data;
      }
    kiln_status_t s = available();
    if (!s && static_cast<size_t>(ordinal) >= gpus.size())
      s = kiln_status_create(KILN_UNAVAILABLE,
                             "there is no CUDA device %s for temporaries",
                             device(ordinal).c_str());
    Allocation allocation;
    if (!s)
      s = allocate(ordinal, static_cast<size_t>(bytes), &allocation);
    if (s) {
      fail(kiln_status_annotate(s, "cannot allocate a temporary"));
      return nullptr;
    }
    std::lock_guard<std::mutex> guard(lock);
    temporaries[allocation.data] = {ordinal, allocation};
    return allocation.data;
  }

  void freeForKernels(void *data) {
    std::pair<int32_t, Allocation> temporary;
    {
      std::lock_guard<std::mutex> guard(lock);
      auto found = temporaries.find(data);
      if (found == temporaries.end())
        return;
      temporary = found->second;
      temporaries.erase(found);
    }
    // Kernels queued on this thread's stream may still read it: the
    // shared cache gets it when the call's kernels are done (finishCall).
    streamFreed.push_back(temporary);
  }

  /// A TMA descriptor (CUtensorMap) of a memref in the kernel GPU's
  /// memory, for `nvgpu.tma.create.descriptor`: `descriptor` is the ranked
  /// memref descriptor (allocated and aligned pointers, offset, sizes,
  /// strides), `box` the box's sizes in the memref's order. The map is
  /// encoded by the driver and copied to GPU memory, where kernels read it;
  /// one per distinct memref and box, kept for the process (a training
  /// step asks for the same ones at every call).
  void *tensorMap(int64_t rank, void *descriptor, int64_t dataType,
                  int64_t interleave, int64_t swizzle, int64_t l2Promotion,
                  int64_t oobFill, const int64_t *box) {
    if (rank < 1 || rank > 5 || dataType < 0 || dataType > 12 || !descriptor) {
      fail(KILN_INTERNAL, "cannot describe a tensor of rank " +
                              std::to_string(rank) + " for TMA (1 to 5)");
      return nullptr;
    }
    if (kiln_status_t s = available()) {
      fail(s);
      return nullptr;
    }
    if (!driver.tensorMapEncodeTiled) {
      fail(KILN_UNAVAILABLE, "the CUDA driver has no cuTensorMapEncodeTiled "
                             "(TMA needs a CUDA 12 driver and an sm_90 GPU)");
      return nullptr;
    }
    // The ranked descriptor: {allocated, aligned, offset, sizes[rank],
    // strides[rank]}; the driver wants the innermost dimension first.
    auto *fields = static_cast<int64_t *>(descriptor);
    size_t bytes = kTensorMapElementBytes[dataType];
    char *address = reinterpret_cast<char *>(fields[1]) +
                    fields[2] * static_cast<int64_t>(bytes);
    const int64_t *sizes = fields + 3, *strides = fields + 3 + rank;
    uint64_t dims[5] = {1, 1, 1, 1, 1}, byteStrides[5] = {0};
    uint32_t boxDims[5] = {1, 1, 1, 1, 1}, elementStrides[5] = {1, 1, 1, 1, 1};
    std::string key = std::to_string(kernelOrdinal) + ":" +
                      std::to_string(reinterpret_cast<uintptr_t>(address));
    for (int64_t i = 0; i < rank; ++i) {
      dims[i] = static_cast<uint64_t>(sizes[rank - 1 - i]);
      boxDims[i] = static_cast<uint32_t>(box[rank - 1 - i]);
      if (i + 1 < rank)
        byteStrides[i] =
            static_cast<uint64_t>(strides[rank - 2 - i]) * bytes;
      key += ":" + std::to_string(dims[i]) + "/" +
             std::to_string(byteStrides[i]) + "/" + std::to_string(boxDims[i]);
    }
    key += ":" + std::to_string(dataType) + "," + std::to_string(interleave) +
           "," + std::to_string(swizzle) + "," + std::to_string(l2Promotion) +
           "," + std::to_string(oobFill);
    {
      std::lock_guard<std::mutex> guard(lock);
      auto found = tensorMaps.find(key);
      if (found != tensorMaps.end())
        return reinterpret_cast<void *>(found->second);
    }
    std::string shape;
    for (int64_t i = 0; i < rank; ++i)
      shape += (i ? " x " : "") + std::to_string(sizes[i]);
    std::string what = "cannot describe a " + shape + " tensor (box " +
                       std::to_string(box[0]);
    for (int64_t i = 1; i < rank; ++i)
      what += " x " + std::to_string(box[i]);
    what += ") for TMA on " + device(kernelOrdinal);
    alignas(64) unsigned char map[128] = {};
    if (kiln_status_t s = startKernelCall()) {
      fail(s);
      return nullptr;
    }
    CUresult result = driver.tensorMapEncodeTiled(
        map, static_cast<int>(dataType), static_cast<uint32_t>(rank),
        address, dims, byteStrides, boxDims, elementStrides,
        static_cast<int>(interleave), static_cast<int>(swizzle),
        static_cast<int>(l2Promotion), static_cast<int>(oobFill));
    CUdeviceptr copy = 0;
    if (result == kSuccess)
      result = driver.memAlloc(&copy, sizeof map);
    if (result == kSuccess) {
      result = driver.memcpyHtoD(copy, map, sizeof map);
      if (result != kSuccess)
        (void)driver.memFree(copy);
    }
    leave();
    if (result != kSuccess) {
      fail(error(result, KILN_INTERNAL, what));
      return nullptr;
    }
    std::lock_guard<std::mutex> guard(lock);
    auto [it, inserted] = tensorMaps.emplace(key, copy);
    if (!inserted && enter(gpus[static_cast<size_t>(kernelOrdinal)]) == nullptr) {
      (void)driver.memFree(copy); // another thread made the same one
      leave();
    }
    return reinterpret_cast<void *>(it->second);
  }

  /// The first failure recorded on this thread since the last call, or
  /// NULL; clears it.
  static kiln_status_t takeError() {
    kiln_status_t status = pending;
    pending = nullptr;
    return status;
  }

private:
  /// What `staged` returns for a copy it leaves to the plain path.
  static inline const kiln_status_t kNotStaged =
      reinterpret_cast<kiln_status_t>(static_cast<uintptr_t>(1));

  /// A copy between host memory and GPU `ordinal` through the GPU's pinned
  /// staging buffers: NULL when done, an error, or kNotStaged when it is
  /// small, staging is off or unavailable, or another thread is staging.
  kiln_status_t staged(int32_t ordinal, void *dst, const void *src,
                       size_t bytes, bool toDevice) {
    if (stagingChunk == 0 || bytes < std::min<size_t>(stagingChunk, 256 << 10))
      return kNotStaged;
    Gpu &gpu = gpus[static_cast<size_t>(ordinal)];
    Staging &staging = *gpu.staging;
    std::unique_lock<std::mutex> busy(staging.busy, std::try_to_lock);
    if (!busy.owns_lock() || staging.failed)
      return kNotStaged;
    {
      std::lock_guard<std::mutex> guard(lock);
      if (kiln_status_t s = enter(gpu))
        return s;
    }
    if (!staging.ready && !setUpStaging(staging)) {
      leave();
      return kNotStaged;
    }
    CUresult result = toDevice ? stageToDevice(staging, dst, src, bytes)
                               : stageToHost(staging, dst, src, bytes);
    // Whatever happened, nothing may still be copying into or out of the
    // buffers when the next copy takes them.
    for (CUstream stream : staging.streams)
      if (CUresult r = driver.streamSynchronize(stream); r && !result)
        result = r;
    leave();
    if (result != kSuccess)
      return error(result, KILN_INTERNAL,
                   std::string("cannot copy ") + std::to_string(bytes) +
                       " bytes " + (toDevice ? "to" : "from") +
                       " the device through pinned staging (cuda:" +
                       std::to_string(ordinal) + ")");
    return nullptr;
  }

  /// Allocates the staging buffers and streams (in the GPU's context); on
  /// failure frees what it got and marks staging unavailable for good.
  bool setUpStaging(Staging &staging) {
    bool ok = driver.memHostAlloc && driver.memFreeHost &&
              driver.memcpyHtoDAsync && driver.memcpyDtoHAsync;
    for (int k = 0; ok && k < 2; ++k)
      ok = driver.memHostAlloc(&staging.buffers[k], stagingChunk, 0) ==
               kSuccess &&
           driver.streamCreate(&staging.streams[k], 0) == kSuccess;
    if (ok)
      return staging.ready = true;
    for (int k = 0; k < 2; ++k) {
      if (staging.buffers[k])
        (void)driver.memFreeHost(staging.buffers[k]);
      if (staging.streams[k])
        (void)driver.streamDestroy(staging.streams[k]);
      staging.buffers[k] = nullptr;
      staging.streams[k] = nullptr;
    }
    staging.failed = true;
    return false;
  }

  /// Host to device, chunk i through buffer i % 2: the memcpy into one
  /// buffer overlaps the DMA out of the other.
  CUresult stageToDevice(Staging &staging, void *dst, const void *src,
                         size_t bytes) {
    auto to = reinterpret_cast<CUdeviceptr>(dst);
    const char *from = static_cast<const char *>(src);
    size_t chunk = 0;
    for (size_t offset = 0; offset < bytes; offset += stagingChunk, ++chunk) {
      int k = static_cast<int>(chunk % 2);
      size_t n = std::min(stagingChunk, bytes - offset);
      if (chunk >= 2) // the buffer's previous chunk has left it
        if (CUresult r = driver.streamSynchronize(staging.streams[k]))
          return r;
      std::memcpy(staging.buffers[k], from + offset, n);
      if (CUresult r = driver.memcpyHtoDAsync(to + offset, staging.buffers[k],
                                              n, staging.streams[k]))
        return r;
    }
    return kSuccess;
  }

  /// Device to host: the DMA of chunk i + 1 overlaps the memcpy of chunk i
  /// out of the other buffer.
  CUresult stageToHost(Staging &staging, void *dst, const void *src,
                       size_t bytes) {
    char *to = static_cast<char *>(dst);
    auto from = reinterpret_cast<CUdeviceptr>(src);
    size_t chunks = (bytes + stagingChunk - 1) / stagingChunk;
    auto start = [&](size_t chunk) {
      size_t offset = chunk * stagingChunk;
      int k = static_cast<int>(chunk % 2);
      return driver.memcpyDtoHAsync(staging.buffers[k], from + offset,
                                    std::min(stagingChunk, bytes - offset),
                                    staging.streams[k]);
    };
    if (CUresult r = start(0))
      return r;
    for (size_t chunk = 0; chunk < chunks; ++chunk) {
      if (chunk + 1 < chunks)
        if (CUresult r = start(chunk + 1))
          return r;
      int k = static_cast<int>(chunk % 2);
      if (CUresult r = driver.streamSynchronize(staging.streams[k]))
        return r;
      size_t offset = chunk * stagingChunk;
      std::memcpy(to + offset, staging.buffers[k],
                  std::min(stagingChunk, bytes - offset));
    }
    return kSuccess;
  }

  static std::string device(int32_t ordinal) {
    return "cuda:" + std::to_string(ordinal);
  }

  /// Makes the kernel device's context current for a kernel call, or says
  /// why not.
  kiln_status_t startKernelCall() {
    if (kiln_status_t s = available())
      return s;
    if (static_cast<size_t>(kernelOrdinal) >= gpus.size())
      return kiln_status_create(KILN_UNAVAILABLE,
                                "there is no CUDA device %s to run kernels on",
                                device(kernelOrdinal).c_str());
    std::lock_guard<std::mutex> guard(lock);
    return enter(gpus[static_cast<size_t>(kernelOrdinal)]);
  }

  /// startKernelCall for calls that only clean up: true if it failed.
  bool enterKernelDevice() {
    if (kiln_status_t s = startKernelCall()) {
      kiln_status_free(s);
      return true;
    }
    return false;
  }

  /// Records `status` as this thread's pending failure (the first one
  /// wins).
  static void fail(kiln_status_t status) {
    if (pending)
      kiln_status_free(status);
    else
      pending = status;
  }

  static void fail(kiln_status_code_t code, const std::string &message) {
    fail(kiln_status_create(code, "%s", message.c_str()));
  }

  /// This thread's kernel stream on GPU `ordinal` (null until made).
  static CUstream &threadStream(int32_t ordinal) {
    if (threadStreams.size() <= static_cast<size_t>(ordinal))
      threadStreams.resize(static_cast<size_t>(ordinal) + 1, nullptr);
    return threadStreams[static_cast<size_t>(ordinal)];
  }

  static thread_local kiln_status_t pending;
  static thread_local int32_t kernelOrdinal;
  static thread_local std::vector<CUstream> threadStreams;
  static thread_local bool unfinished; // kernels queued, not waited for
  // Temporaries freed during this thread's call (reused by the call, in
  // stream order; released at its end).
  static thread_local std::vector<std::pair<int32_t, Allocation>> streamFreed;
  std::mutex moduleLock; // guards the KernelModules' loads
  // Temporaries of compiled code, with their GPU (under lock).
  std::map<void *, std::pair<int32_t, Allocation>> temporaries;
  // TMA descriptors in GPU memory, by GPU, tensor and box (under lock).
  std::map<std::string, CUdeviceptr> tensorMaps;

  Cuda() {
    const char *path = std::getenv("KILN_CUDA_DRIVER");
    if (!path || !*path)
      path = "libcuda.so.1";
    library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
      const char *why = dlerror();
      unavailable = std::string("no CUDA driver: cannot load ") + path + " (" +
                    (why ? why : "unknown error") +
                    "); install the NVIDIA driver, or set KILN_CUDA_DRIVER";
      return;
    }
    std::string missing;
    auto symbol = [&](auto &function, const char *name) {
      function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(
          dlsym(library, name));
      if (!function && missing.empty())
        missing = name;
    };
    symbol(driver.init, "cuInit");
    symbol(driver.getErrorName, "cuGetErrorName");
    symbol(driver.getErrorString, "cuGetErrorString");
    symbol(driver.deviceGetCount, "cuDeviceGetCount");
    symbol(driver.deviceGet, "cuDeviceGet");
    symbol(driver.primaryCtxRetain, "cuDevicePrimaryCtxRetain");
    symbol(driver.ctxPushCurrent, "cuCtxPushCurrent_v2");
    symbol(driver.ctxPopCurrent, "cuCtxPopCurrent_v2");
    symbol(driver.ctxSynchronize, "cuCtxSynchronize");
    symbol(driver.memAlloc, "cuMemAlloc_v2");
    symbol(driver.memFree, "cuMemFree_v2");
    symbol(driver.memcpyHtoD, "cuMemcpyHtoD_v2");
    symbol(driver.memcpyDtoH, "cuMemcpyDtoH_v2");
    symbol(driver.memcpyDtoD, "cuMemcpyDtoD_v2");
    symbol(driver.memcpy, "cuMemcpy");
    symbol(driver.memcpyPeer, "cuMemcpyPeer");
    symbol(driver.memsetD8, "cuMemsetD8_v2");
    symbol(driver.moduleLoadData, "cuModuleLoadData");
    symbol(driver.moduleUnload, "cuModuleUnload");
    symbol(driver.moduleGetFunction, "cuModuleGetFunction");
    symbol(driver.launchKernel, "cuLaunchKernel");
    symbol(driver.streamCreate, "cuStreamCreate");
    symbol(driver.streamDestroy, "cuStreamDestroy_v2");
    symbol(driver.streamSynchronize, "cuStreamSynchronize");
    // Optional (pinned staging).
    auto optional = [&](auto &function, const char *name) {
      function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(
          dlsym(library, name));
    };
    optional(driver.memHostAlloc, "cuMemHostAlloc");
    optional(driver.memFreeHost, "cuMemFreeHost");
    optional(driver.memcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
    optional(driver.memcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
    optional(driver.tensorMapEncodeTiled, "cuTensorMapEncodeTiled");
    optional(driver.funcSetAttribute, "cuFuncSetAttribute");
    stagingChunk = 4 << 20;
    if (const char *off = std::getenv("KILN_CUDA_STAGING"); off && !std::strcmp(off, "0"))
      stagingChunk = 0;
    else if (const char *chunk = std::getenv("KILN_CUDA_STAGING_CHUNK"))
      if (long long n = std::atoll(chunk); n >= 64)
        stagingChunk = static_cast<size_t>(n);
    if (!missing.empty()) {
      unavailable = std::string("no usable CUDA driver: ") + path +
                    " has no function " + missing +
                    " (a driver older than CUDA 4.0?)";
      return;
    }
    CUresult result = driver.init(0);
    int count = 0;
    if (result == kSuccess)
      result = driver.deviceGetCount(&count);
    if (result == kNoDevice) {
      count = 0; // a driver without GPUs: no devices, not an error
    } else if (result != kSuccess) {
      unavailable = "the CUDA driver (" + std::string(path) +
                    ") failed to initialize: " + describe(result);
      return;
    }
    for (int i = 0; i < count; ++i) {
      Gpu gpu;
      if (CUresult r = driver.deviceGet(&gpu.device, i)) {
        unavailable = "the CUDA driver cannot open device " +
                      std::to_string(i) + ": " + describe(r);
        gpus.clear();
        return;
      }
      gpus.push_back(std::move(gpu));
    }
  }

  /// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)", from the driver.
  std::string describe(CUresult result) const {
    const char *name = nullptr, *text = nullptr;
    if (driver.getErrorName(result, &name) != kSuccess || !name)
      name = "unknown CUDA error";
    if (driver.getErrorString(result, &text) != kSuccess || !text)
      text = "no description";
    return std::string(name) + " (" + text + ", code " +
           std::to_string(result) + ")";
  }

  kiln_status_t error(CUresult result, kiln_status_code_t code,
                      const std::string &what) const {
    return kiln_status_create(code, "%s: %s", what.c_str(),
                              describe(result).c_str());
  }

  /// Makes `gpu`'s primary context current on this thread (retained on the
  /// GPU's first use); `leave` undoes it. Called with `lock` held or from
  /// `inContext`.
  kiln_status_t enter(Gpu &gpu) {
    if (!gpu.context) {
      CUcontext context = nullptr;
      if (CUresult r = driver.primaryCtxRetain(&context, gpu.device))
        return error(r, KILN_UNAVAILABLE,
                     "cannot create a context on cuda:" +
                         std::to_string(&gpu - gpus.data()));
      gpu.context = context;
    }
    if (CUresult r = driver.ctxPushCurrent(gpu.context))
      return error(r, KILN_INTERNAL, "cannot make the CUDA context current");
    return nullptr;
  }

  void leave() {
    CUcontext popped = nullptr;
    (void)driver.ctxPopCurrent(&popped);
  }

  /// Runs `operation` (a driver call) in the context of GPU `ordinal`.
  template <typename Operation>
  kiln_status_t inContext(int32_t ordinal, const char *what,
                          Operation &&operation) {
    {
      std::lock_guard<std::mutex> guard(lock);
      if (kiln_status_t s = enter(gpus[ordinal]))
        return s;
    }
    CUresult result = operation();
    leave();
    if (result != kSuccess)
      return error(result, KILN_INTERNAL,
                   std::string("cannot ") + what + " (cuda:" +
                       std::to_string(ordinal) + ")");
    return nullptr;
  }

  /// Frees `gpu`'s cached blocks, in its context. Called with `lock` held.
  void trimLocked(Gpu &gpu) {
    for (auto &[index, pointer] : gpu.cached)
      (void)driver.memFree(pointer);
    gpu.cached.clear();
    gpu.stats.bytes_cached = 0;
  }

  void *library = nullptr;
  size_t stagingChunk = 0; // bytes per staging buffer; 0: no staging
  Driver driver = {};
  std::string unavailable; // empty: the driver is usable
  std::vector<Gpu> gpus;   // fixed after construction
  std::mutex lock;         // guards the GPUs' contexts, caches and stats
};

thread_local kiln_status_t Cuda::pending = nullptr;
thread_local int32_t Cuda::kernelOrdinal = 0;
thread_local std::vector<CUstream> Cuda::threadStreams;
thread_local bool Cuda::unfinished = false;
thread_local std::vector<std::pair<int32_t, Allocation>> Cuda::streamFreed;

// The table's functions.

kiln_status_t cudaProbe(int32_t *count) {
  Cuda &cuda = Cuda::get();
  *count = cuda.count();
  return cuda.available();
}

kiln_status_t cudaAllocate(int32_t ordinal, size_t bytes, Allocation *out) {
  return Cuda::get().allocate(ordinal, bytes, out);
}

void cudaRelease(int32_t ordinal, const Allocation &allocation) {
  Cuda::get().release(ordinal, allocation);
}

kiln_status_t cudaCopyFromHost(int32_t ordinal, void *dst, const void *host,
                               size_t bytes) {
  return Cuda::get().copyFromHost(ordinal, dst, host, bytes);
}

kiln_status_t cudaCopyToHost(int32_t ordinal, void *host, const void *src,
                             size_t bytes) {
  return Cuda::get().copyToHost(ordinal, host, src, bytes);
}

kiln_status_t cudaCopyOnDevice(int32_t dstOrdinal, void *dst,
                               int32_t srcOrdinal, const void *src,
                               size_t bytes) {
  return Cuda::get().copyOnDevice(dstOrdinal, dst, srcOrdinal, src, bytes);
}

kiln_status_t cudaZero(int32_t ordinal, void *data, size_t bytes) {
  return Cuda::get().zero(ordinal, data, bytes);
}

void cudaStats(int32_t ordinal, kiln_pool_stats_t *out) {
  Cuda::get().stats(ordinal, out);
}

void cudaTrim(int32_t ordinal) { Cuda::get().trim(ordinal); }

} // namespace

const DeviceBackend kiln::runtime::kCudaBackend = {
    /*name=*/"cuda",
    /*hostMemory=*/false,
    /*probe=*/cudaProbe,
    /*allocate=*/cudaAllocate,
    /*release=*/cudaRelease,
    /*copyFromHost=*/cudaCopyFromHost,
    /*copyToHost=*/cudaCopyToHost,
    /*copyOnDevice=*/cudaCopyOnDevice,
    /*zero=*/cudaZero,
    /*stats=*/cudaStats,
    /*trim=*/cudaTrim,
};

kiln_status_t kiln::runtime::takeKernelError() { return Cuda::takeError(); }

void kiln::runtime::setKernelDevice(int32_t ordinal) {
  Cuda::setKernelDevice(ordinal);
}

void kiln::runtime::finishKernelCall() { Cuda::get().finishCall(); }

// The host side of compiled GPU code. `gpu-to-llvm` and the LLVM
// translation of `gpu.launch_func` emit calls to these functions (the names
// and signatures of MLIR's CUDA runtime wrappers, which Debian does not
// ship): a module constructor registers the kernels' image, each launch
// gets its function (the image loaded on the GPU at its first use there),
// a stream, launches, synchronizes and destroys the stream -- here the
// thread's one stream, whose synchronization waits until the call ends, so
// a call's kernels run back to back; temporaries are allocated and freed
// (gpu.alloc, gpu.dealloc) in stream order. The runtime implements
// them over the driver it loads, on the GPU of the entry being called.

extern "C" {

KILN_RUNTIME_EXPORT void *mgpuModuleLoad(void *data, size_t /*size*/) {
  return Cuda::get().loadModule(data);
}

/// PTX text: the driver compiles it for the GPU (the optimization level
/// is the driver's default).
KILN_RUNTIME_EXPORT void *mgpuModuleLoadJIT(void *data, int /*optLevel*/) {
  return Cuda::get().loadModule(data);
}

KILN_RUNTIME_EXPORT void mgpuModuleUnload(void *module) {
  Cuda::get().unloadModule(static_cast<KernelModule *>(module));
}

KILN_RUNTIME_EXPORT void *mgpuModuleGetFunction(void *module,
                                                const char *name) {
  return Cuda::get().function(static_cast<KernelModule *>(module), name);
}

KILN_RUNTIME_EXPORT void *mgpuStreamCreate() {
  return Cuda::get().createStream();
}

KILN_RUNTIME_EXPORT void mgpuStreamDestroy(void *stream) {
  Cuda::get().destroyStream(static_cast<CUstream>(stream));
}

KILN_RUNTIME_EXPORT void mgpuStreamSynchronize(void *stream) {
  Cuda::get().synchronize(static_cast<CUstream>(stream));
}

/// A temporary of compiled code (gpu.alloc); the stream is not used: the
/// allocation is complete when this returns.
KILN_RUNTIME_EXPORT void *mgpuMemAlloc(uint64_t bytes, void * /*stream*/,
                                       bool /*hostShared*/) {
  return Cuda::get().allocateForKernels(bytes);
}

KILN_RUNTIME_EXPORT void mgpuMemFree(void *data, void * /*stream*/) {
  Cuda::get().freeForKernels(data);
}

/// gpu.memcpy; the copy is complete when this returns.
KILN_RUNTIME_EXPORT void mgpuMemcpy(void *dst, void *src, size_t bytes,
                                    void * /*stream*/) {
  Cuda::get().copyForKernels(dst, src, bytes);
}

/// nvgpu.tma.create.descriptor: a CUtensorMap in GPU memory (see
/// Cuda::tensorMap).
KILN_RUNTIME_EXPORT void *
mgpuTensorMapEncodeTiledMemref(int64_t rank, void *descriptor,
                               int64_t dataType, int64_t interleave,
                               int64_t swizzle, int64_t l2Promotion,
                               int64_t oobFill, int64_t *box) {
  return Cuda::get().tensorMap(rank, descriptor, dataType, interleave,
                               swizzle, l2Promotion, oobFill, box);
}

KILN_RUNTIME_EXPORT void mgpuLaunchKernel(void *function, intptr_t gridX,
                                          intptr_t gridY, intptr_t gridZ,
                                          intptr_t blockX, intptr_t blockY,
                                          intptr_t blockZ, int32_t smem,
                                          void *stream, void **params,
                                          void **extra, size_t /*count*/) {
  const intptr_t grid[3] = {gridX, gridY, gridZ};
  const intptr_t block[3] = {blockX, blockY, blockZ};
  Cuda::get().launch(static_cast<CUfunction>(function), grid, block, smem,
                     static_cast<CUstream>(stream), params, extra);
}

} // extern "C"
