//===- RuntimeTestUtils.h - Helpers shared by the runtime tests -*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Helpers and shared test data for the runtime's unit tests
// (kiln-runtime-tests: one file per runtime source file), which link the
// runtime and the manifest library only: no MLIR, no LLVM, as a program
// running an ahead-of-time compiled module would. Definitions in
// RuntimeTestUtils.cpp (and the malformed manifests in ManifestTest.cpp).
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

/// A directory private to this test process, removed when it exits.
const std::string &tempDir();

/// `name` in tempDir().
std::string tempPath(const std::string &name);

/// Writes bytes to a file.
void writeFile(const std::string &path, const std::string &bytes);

/// Runs a shell command and returns its standard output.
std::string capture(const std::string &command);

/// Fills a host buffer with distinct valid values of its dtype.
void fill(kiln_buffer_t *b);

/// A module written by hand, as the compiler would emit it (version 1):
///   add(x: f32[2, 3], y: f32[2, 3]) -> f32[2, 3]
///   split(x: i32[]) -> (i64[], i1[2])
///   broken() -> i32[]  (always fails with code 7)
extern const char *const kManifest;

/// The symbol lookup of kManifest's entries; expects &lookups as its
/// context and counts its calls there.
void *lookup(void *ctx, const char *name);
extern int lookups;

/// The symbol lookup of an entry with open extents and its shape function,
/// addv(x: f32[?], y: f32[?]) -> f32[?] (the shape function fails with
/// check 1 if x and y differ in length); any context.
void *dynamicLookup(void *ctx, const char *name);

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
