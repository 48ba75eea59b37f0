//===- ManifestLinkCheck.cpp - KilnManifest as the compiler links it ------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Built with the compiler's flags (LLVM's include paths and definitions,
// llvm_update_compile_flags) and linked with KilnManifest alone, as a
// compiler library links it: the manifest library must bring everything it
// needs (the runtime's C API) with it. Exits 0 if a printed manifest parses
// back.
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Manifest.h"

#include <cstdio>

int main() {
  using namespace kiln::runtime;
  Manifest manifest;
  EntrySpec entry;
  entry.name = "f";
  entry.device = KILN_DEVICE_CUDA;
  entry.inputs.push_back({KILN_F32, {kDynamicExtent, 3}});
  entry.checks.push_back("a\ncheck");
  manifest.entries.push_back(entry);
  std::string text = printManifest(manifest);
  Manifest back;
  if (kiln_status_t s = parseManifest(text.c_str(), back)) {
    std::fprintf(stderr, "%s\n", kiln_status_message(s));
    kiln_status_free(s);
    return 1;
  }
  bool same = back.entries.size() == 1 &&
              back.entries[0].device == KILN_DEVICE_CUDA &&
              back.entries[0].inputs[0].shape == entry.inputs[0].shape &&
              back.entries[0].checks[0] == "a check" && isIdentifier("f") &&
              !isIdentifier("9f") && printManifest(back) == text;
  if (!same)
    std::fprintf(stderr, "the manifest did not round-trip:\n%s", text.c_str());
  return same ? 0 : 1;
}
