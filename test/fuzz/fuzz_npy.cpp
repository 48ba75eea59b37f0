//===- fuzz_npy.cpp - libFuzzer target: the .npy reader -------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Any bytes as a .npy file: kiln_npy_read either fails with a status or
// returns a buffer whose element count matches its shape and dtype (every
// element is then read, so ASan sees a short allocation).
//
//===----------------------------------------------------------------------===//

#include "FuzzFiles.h"

#include "kiln/Runtime/Runtime.h"

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kiln_buffer_t *buffer = nullptr;
  kiln_status_t status =
      kiln_npy_read(kiln::fuzz::asFile(data, size, ".npy"), &buffer);
  if (status) {
    kiln_status_free(status);
    return 0;
  }
  int64_t elements = 1;
  for (int32_t d = 0; d < kiln_buffer_rank(buffer); ++d)
    elements *= kiln_buffer_shape(buffer)[d];
  size_t bytes = kiln_buffer_byte_size(buffer);
  if (bytes != static_cast<size_t>(elements) *
                   kiln_dtype_size(kiln_buffer_dtype(buffer)))
    std::abort(); // a buffer whose size disagrees with its shape
  kiln::fuzz::readEvery(buffer);
  kiln_buffer_release(buffer);
  return 0;
}
