//===- RuntimeTestUtils.h - Helpers shared by the runtime tests -*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Status helpers and shared test data for the runtime's unit tests
// (kiln-runtime-tests), which link the runtime and the manifest library
// only: no MLIR, no LLVM.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TEST_UNIT_RUNTIMETESTUTILS_H
#define KILN_TEST_UNIT_RUNTIMETESTUTILS_H

#include "kiln/Runtime/Runtime.h"

#include <string>
#include <vector>

namespace kiln::runtime::test {

/// The host device.
constexpr kiln_device_t kCpu = {KILN_DEVICE_CPU, 0};

/// Takes a status, returns its message ("" for success) and frees it.
inline std::string message(kiln_status_t status) {
  std::string text = kiln_status_message(status);
  kiln_status_free(status);
  return text;
}

/// Takes a status, returns its code and frees it.
inline kiln_status_code_t code(kiln_status_t status) {
  kiln_status_code_t c = kiln_status_code(status);
  kiln_status_free(status);
  return c;
}

/// Takes a status and returns "CODE: message" for assertions on both.
inline std::string describe(kiln_status_t status) {
  std::string text = std::to_string(kiln_status_code(status)) + ": " +
                     kiln_status_message(status);
  kiln_status_free(status);
  return text;
}

/// Whether `text` contains `part`.
inline bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

/// A manifest that parseManifest (and so kiln_executable_create) refuses,
/// with the code and a part of the message it must fail with.
struct MalformedManifest {
  const char *text;
  kiln_status_code_t code;
  const char *expected;
};

/// Every malformed manifest the tests know (ManifestTest.cpp): the parser
/// tests and the executable tests both check all of them.
const std::vector<MalformedManifest> &malformedManifests();

} // namespace kiln::runtime::test

#endif // KILN_TEST_UNIT_RUNTIMETESTUTILS_H
