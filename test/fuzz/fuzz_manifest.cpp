//===- fuzz_manifest.cpp - libFuzzer target: the manifest parser ----------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Any text as a manifest: parseManifest fails with a status or succeeds;
// a manifest it accepts prints (printManifest) to text that parses again to
// the same printed form (the printer and parser agree).
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Manifest.h"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size); // NUL-terminated
  kiln::runtime::Manifest manifest;
  if (kiln_status_t status = kiln::runtime::parseManifest(text.c_str(), manifest)) {
    kiln_status_free(status);
    return 0;
  }
  std::string printed = kiln::runtime::printManifest(manifest);
  kiln::runtime::Manifest again;
  if (kiln_status_t status = kiln::runtime::parseManifest(printed.c_str(), again)) {
    kiln_status_free(status);
    std::abort(); // the printer wrote what the parser refuses
  }
  if (kiln::runtime::printManifest(again) != printed)
    std::abort(); // not a fixed point
  return 0;
}
