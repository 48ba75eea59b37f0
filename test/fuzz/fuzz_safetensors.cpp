//===- fuzz_safetensors.cpp - libFuzzer target: checkpoint loading --------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Any bytes as a safetensors checkpoint loaded into a store that holds one
// variable: a failed load must leave the store exactly as it was (the
// variable's value and shape), a successful one must give buffers whose
// bytes can all be read.
//
//===----------------------------------------------------------------------===//

#include "FuzzFiles.h"

#include "kiln/Runtime/Runtime.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kiln_variables_t *store = nullptr;
  if (kiln_variables_create(&store))
    std::abort();
  const int64_t shape[] = {3};
  kiln_buffer_t *w = nullptr;
  if (kiln_buffer_create({KILN_DEVICE_CPU, 0}, KILN_F32, 1, shape, &w))
    std::abort();
  const float values[] = {1.5f, -2.0f, 4.0f};
  std::memcpy(kiln_buffer_host_data(w), values, sizeof values);
  if (kiln_variables_set(store, "w", w))
    std::abort();
  kiln_buffer_release(w);
  kiln_status_t status = kiln_variables_load(
      store, kiln::fuzz::asFile(data, size, ".safetensors"), nullptr);
  if (status) {
    kiln_status_free(status);
    // Nothing changed.
    kiln_buffer_t *kept = kiln_variables_find(store, "w");
    if (kiln_variables_count(store) != 1 || !kept ||
        kiln_buffer_shape(kept)[0] != 3 ||
        std::memcmp(kiln_buffer_host_data(kept), values, sizeof values) != 0)
      std::abort();
  } else {
    for (int32_t i = 0; i < kiln_variables_count(store); ++i) {
      kiln::fuzz::readEvery(
          kiln_variables_find(store, kiln_variables_name(store, i)));
    }
  }
  kiln_variables_destroy(store);
  return 0;
}
