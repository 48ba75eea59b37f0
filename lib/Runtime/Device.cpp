//===- Device.cpp - Kiln device types and their backends ------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The table of device backends, indexed by kiln_device_type_t, and the C
// functions that query it. The host backend lives with the buffer pool in
// Buffer.cpp, the CUDA backend in Cuda.cpp; buffers, copies and calls go
// through the table, never to a backend by name.
//
//===----------------------------------------------------------------------===//

#include "Device.h"

#include <cstring>

using kiln::runtime::DeviceBackend;

namespace {

/// Indexed by kiln_device_type_t.
const DeviceBackend *const kBackends[] = {&kiln::runtime::kHostBackend,
                                          &kiln::runtime::kCudaBackend};
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

kiln_status_t kiln_device_memory_stats(kiln_device_t device,
                                       kiln_pool_stats_t *out) {
  if (!out)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_device_memory_stats: NULL argument");
  if (kiln_status_t s = kiln_device_check(device))
    return s;
  kiln::runtime::deviceBackend(device.type)->stats(device.ordinal, out);
  return nullptr;
}

kiln_status_t kiln_device_memory_trim(kiln_device_t device) {
  if (kiln_status_t s = kiln_device_check(device))
    return s;
  kiln::runtime::deviceBackend(device.type)->trim(device.ordinal);
  return nullptr;
}

} // extern "C"
