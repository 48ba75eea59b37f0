//===- Device.h - Device backends of the runtime ----------------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Every device type has a backend: a table of the operations that buffers,
// the pool and calls need from a device (like the drivers behind IREE's
// HAL). The public API never asks "is this the CPU?"; it looks up the
// backend of a buffer's or an entry's device type and calls it, so a CUDA
// backend fills in its table without changing the API or its callers.
//
// The host backend is the buffer pool (Buffer.cpp); the CUDA backend
// (Cuda.cpp) drives GPUs through the CUDA driver, which it loads at run
// time.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_LIB_RUNTIME_DEVICE_H
#define KILN_LIB_RUNTIME_DEVICE_H

#include "kiln/Runtime/Runtime.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace kiln::runtime {

/// A block of device memory as its backend handed it out: what a buffer
/// keeps to give it back.
struct Allocation {
  /// The address in the device's memory (what compiled code receives).
  void *data = nullptr;
  /// The size the backend reserved (the host pool's size class), at least
  /// the size asked for.
  size_t size = 0;
  /// Backend-private (the host pool's size class index).
  unsigned tag = 0;
};

/// The operations of one device type. Every function is thread-safe. An
/// `ordinal` passed to one has been checked (0 <= ordinal < the count from
/// `probe`). Copies are complete when they return (a CUDA backend
/// synchronizes), so callers need no notion of streams yet. Pointers are
/// addresses in the device's memory unless named host.
struct DeviceBackend {
  /// The device type's name in manifests and messages: "cpu", "cuda".
  const char *name;
  /// Whether the device's memory is host memory: its buffers have a
  /// kiln_buffer_host_data, and host code may read them directly.
  bool hostMemory;
  /// Stores how many devices of this type are present (NULL status), or
  /// explains why none can be used (KILN_UNAVAILABLE: no driver, built
  /// without support).
  kiln_status_t (*probe)(int32_t *count);
  /// Allocates at least `bytes` bytes (any number, 0 included), 64-byte
  /// aligned; KILN_OUT_OF_MEMORY if the device has no room.
  kiln_status_t (*allocate)(int32_t ordinal, size_t bytes, Allocation *out);
  /// Gives back an allocation from `allocate` (of the same ordinal).
  void (*release)(int32_t ordinal, const Allocation &allocation);
  /// Copies `bytes` bytes from host memory to device memory.
  kiln_status_t (*copyFromHost)(int32_t ordinal, void *dst, const void *host,
                                size_t bytes);
  /// Copies `bytes` bytes from device memory to host memory.
  kiln_status_t (*copyToHost)(int32_t ordinal, void *host, const void *src,
                              size_t bytes);
  /// Copies `bytes` bytes between two devices of this type (or within
  /// one); the ranges may overlap only if they are the same device.
  kiln_status_t (*copyOnDevice)(int32_t dstOrdinal, void *dst,
                                int32_t srcOrdinal, const void *src,
                                size_t bytes);
  /// Sets `bytes` bytes to zero.
  kiln_status_t (*zero)(int32_t ordinal, void *data, size_t bytes);
  /// Copies the counters of the device's cache of freed blocks to `*out`.
  void (*stats)(int32_t ordinal, kiln_pool_stats_t *out);
  /// Gives the device's cached blocks back to the system (or driver).
  void (*trim)(int32_t ordinal);
};

/// The host backend: the buffer pool (Buffer.cpp).
extern const DeviceBackend kHostBackend;

/// The CUDA backend: the driver API, loaded at run time (Cuda.cpp).
extern const DeviceBackend kCudaBackend;

/// The first failure of a kernel call (module load, launch, the stream's
/// synchronization: the mgpu* functions compiled GPU code calls) on this
/// thread since the last call, or NULL; clears it (Cuda.cpp).
kiln_status_t takeKernelError();

/// The GPU the kernel calls of this thread go to (the entry being called
/// sets it; Cuda.cpp).
void setKernelDevice(int32_t ordinal);

/// Waits for the kernels this thread's GPU call queued (they run in order
/// on one stream, not one by one); a failure is recorded for
/// takeKernelError.
void finishKernelCall();

/// The backend of `type`, or NULL if `type` is not a device type.
const DeviceBackend *deviceBackend(kiln_device_type_t type);

/// "cpu:0", "cuda:1" ("?:N" for an invalid type), for messages.
std::string formatDevice(kiln_device_t device);

/// Whether two devices are the same one.
inline bool sameDevice(kiln_device_t a, kiln_device_t b) {
  return a.type == b.type && a.ordinal == b.ordinal;
}

} // namespace kiln::runtime

#endif // KILN_LIB_RUNTIME_DEVICE_H
