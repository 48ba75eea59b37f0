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

} // namespace kiln::fuzz

#endif // KILN_TEST_FUZZ_FUZZFILES_H
