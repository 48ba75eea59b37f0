//===- FuzzFiles.h - The fuzzed bytes as a file -----------------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The runtime's readers take paths: each input is written to one file per
// process (under $TMPDIR), overwritten for every input.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TEST_FUZZ_FUZZFILES_H
#define KILN_TEST_FUZZ_FUZZFILES_H

#include "kiln/Runtime/Runtime.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace kiln::fuzz {

/// A path that holds `size` bytes of `data` (the same path every call).
inline const char *asFile(const uint8_t *data, size_t size,
                          const char *suffix) {
  static std::string path;
  if (path.empty()) {
    const char *dir = std::getenv("TMPDIR");
    path = std::string(dir && *dir ? dir : "/tmp") + "/kiln-fuzz-" +
           std::to_string(::getpid()) + suffix;
  }
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    std::abort(); // the harness itself failed: not a finding
  if (size && std::fwrite(data, 1, size, f) != size)
    std::abort();
  std::fclose(f);
  return path.c_str();
}

/// Reads every byte of a host buffer, so that ASan reports a buffer whose
/// memory is shorter than its byte size says.
inline void readEvery(kiln_buffer_t *buffer) {
  volatile unsigned char sum = 0;
  const auto *p =
      static_cast<const unsigned char *>(kiln_buffer_host_data(buffer));
  for (size_t i = 0; i < kiln_buffer_byte_size(buffer); ++i)
    sum += p[i];
}

} // namespace kiln::fuzz

#endif // KILN_TEST_FUZZ_FUZZFILES_H
