//===- Device.cpp - Kiln device types -------------------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The names of the device types, as manifests and messages write them.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"

#include <cstring>

namespace {

/// Indexed by kiln_device_type_t.
const char *const kDeviceTypeNames[] = {"cpu", "cuda"};
constexpr unsigned kNumDeviceTypes =
    sizeof(kDeviceTypeNames) / sizeof(*kDeviceTypeNames);

} // namespace

extern "C" {

const char *kiln_device_type_name(kiln_device_type_t type) {
  if (static_cast<unsigned>(type) >= kNumDeviceTypes)
    return "?";
  return kDeviceTypeNames[type];
}

kiln_status_t kiln_device_type_parse(const char *name,
                                     kiln_device_type_t *out) {
  if (!name || !out)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_device_type_parse: NULL argument");
  for (unsigned i = 0; i < kNumDeviceTypes; ++i) {
    if (std::strcmp(name, kDeviceTypeNames[i]) == 0) {
      *out = static_cast<kiln_device_type_t>(i);
      return nullptr;
    }
  }
  return kiln_status_create(KILN_INVALID_ARGUMENT,
                            "unknown device type '%s' (expected cpu or cuda)",
                            name);
}

} // extern "C"
