//===- fuzz_idx.cpp - libFuzzer target: the idx(.gz) reader ---------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Any bytes as an idx file, plain or gzip (zlib decides by the magic): the
// first byte picks the dtype and a row limit, the rest is the file.
//
//===----------------------------------------------------------------------===//

#include "FuzzFiles.h"

#include "kiln/Runtime/Runtime.h"

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  const kiln_dtype_t dtypes[] = {KILN_F32, KILN_F64, KILN_I32, KILN_I64};
  kiln_dtype_t dtype = dtypes[data[0] & 3];
  int64_t limit = (data[0] >> 2) == 0 ? -1 : (data[0] >> 2) - 1;
  kiln_buffer_t *buffer = nullptr;
  kiln_status_t status = kiln_idx_read(
      kiln::fuzz::asFile(data + 1, size - 1, ".idx"), dtype, limit, &buffer);
  if (status) {
    kiln_status_free(status);
    return 0;
  }
  if (limit >= 0 && kiln_buffer_shape(buffer)[0] > limit)
    std::abort(); // more rows than asked for
  kiln::fuzz::readEvery(buffer);
  kiln_buffer_release(buffer);
  return 0;
}
