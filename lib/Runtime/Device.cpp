//===- Device.cpp - Kiln device types and their backends ------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The table of device backends, indexed by kiln_device_type_t, and the C
// functions that query it. The host backend lives with the buffer pool in
// Buffer.cpp. The CUDA backend below is the placeholder of a build without
// CUDA: it has no devices, and every operation says why. A CUDA build
// replaces it with one that implements the same operations on the driver
// API (cuMemAlloc, cuMemcpyHtoD, ...), and nothing else changes: buffers,
// copies and calls already go through the table.
//
//===----------------------------------------------------------------------===//

#include "Device.h"

#include <cstring>

using kiln::runtime::Allocation;
using kiln::runtime::DeviceBackend;

namespace {

/// Why no CUDA device can be used in this build.
constexpr const char *kNoCuda =
    "no CUDA device: this runtime was built without CUDA support";

/// The status every operation of the CUDA placeholder returns.
kiln_status_t noCuda() {
  return kiln_status_create(KILN_UNAVAILABLE, "%s", kNoCuda);
}

// The operations of the CUDA placeholder: none can succeed.

/// No devices, and why.
kiln_status_t cudaProbe(int32_t *count) {
  *count = 0;
  return noCuda();
}

/// Unreachable (no ordinal passes the device check), but safe.
kiln_status_t cudaAllocate(int32_t, size_t, Allocation *) { return noCuda(); }

/// Nothing was ever allocated, so there is nothing to give back.
void cudaRelease(int32_t, const Allocation &) {}

/// Host to device and device to host.
kiln_status_t cudaCopy(int32_t, void *, const void *, size_t) {
  return noCuda();
}

/// Device to device.
kiln_status_t cudaCopyOnDevice(int32_t, void *, int32_t, const void *, size_t) {
  return noCuda();
}

/// Zeroing.
kiln_status_t cudaZero(int32_t, void *, size_t) { return noCuda(); }

/// The CUDA row of the table in a build without CUDA.
const DeviceBackend kCudaBackend = {
    /*name=*/"cuda",
    /*hostMemory=*/false,
    /*probe=*/cudaProbe,
    /*allocate=*/cudaAllocate,
    /*release=*/cudaRelease,
    /*copyFromHost=*/cudaCopy,
    /*copyToHost=*/cudaCopy,
    /*copyOnDevice=*/cudaCopyOnDevice,
    /*zero=*/cudaZero,
};

/// Indexed by kiln_device_type_t.
const DeviceBackend *const kBackends[] = {&kiln::runtime::kHostBackend,
                                          &kCudaBackend};
constexpr unsigned kNumDeviceTypes = sizeof(kBackends) / sizeof(*kBackends);

} // namespace

const DeviceBackend *kiln::runtime::deviceBackend(kiln_device_type_t type) {
  if (static_cast<unsigned>(type) >= kNumDeviceTypes)
    return nullptr;
  return kBackends[type];
}

std::string kiln::runtime::formatDevice(kiln_device_t device) {
  return std::string(kiln_device_type_name(device.type)) + ":" +
         std::to_string(device.ordinal);
}

extern "C" {

const char *kiln_device_type_name(kiln_device_type_t type) {
  const DeviceBackend *backend = kiln::runtime::deviceBackend(type);
  return backend ? backend->name : "?";
}

kiln_status_t kiln_device_type_parse(const char *name,
                                     kiln_device_type_t *out) {
  if (!name || !out)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_device_type_parse: NULL argument");
  for (unsigned i = 0; i < kNumDeviceTypes; ++i) {
    if (std::strcmp(name, kBackends[i]->name) == 0) {
      *out = static_cast<kiln_device_type_t>(i);
      return nullptr;
    }
  }
  return kiln_status_create(KILN_INVALID_ARGUMENT,
                            "unknown device type '%s' (expected cpu or cuda)",
                            name);
}

int32_t kiln_device_count(kiln_device_type_t type) {
  const DeviceBackend *backend = kiln::runtime::deviceBackend(type);
  if (!backend)
    return 0;
  int32_t count = 0;
  if (kiln_status_t s = backend->probe(&count)) {
    kiln_status_free(s);
    return 0;
  }
  return count;
}

kiln_status_t kiln_device_check(kiln_device_t device) {
  const DeviceBackend *backend = kiln::runtime::deviceBackend(device.type);
  if (!backend)
    return kiln_status_create(KILN_INVALID_ARGUMENT, "invalid device type %d",
                              static_cast<int>(device.type));
  // Every call checks its entry's device: the message is only formatted
  // when there is one to give.
  int32_t count = 0;
  if (kiln_status_t s = backend->probe(&count))
    return kiln_status_annotate(s, "device %s is not available",
                                kiln::runtime::formatDevice(device).c_str());
  if (device.ordinal < 0 || device.ordinal >= count)
    return kiln_status_create(
        KILN_UNAVAILABLE,
        "device %s is not available: there %s %d %s device%s",
        kiln::runtime::formatDevice(device).c_str(),
        count == 1 ? "is" : "are", count, backend->name,
        count == 1 ? "" : "s");
  return nullptr;
}

} // extern "C"
