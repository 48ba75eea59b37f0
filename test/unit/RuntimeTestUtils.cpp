//===- RuntimeTestUtils.cpp - Helpers shared by the runtime tests ---------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The definitions behind RuntimeTestUtils.h: files in a private temporary
// directory, and a module written by hand (entry points as the compiler
// would emit them, and the lookups that hand them to the runtime).
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtils.h"

#include "gtest/gtest.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

using namespace kiln::runtime::test;

namespace {

/// add(x: f32[2, 3], y: f32[2, 3]) -> f32[2, 3]
int32_t add(void **args, const int64_t *) {
  auto *x = static_cast<const float *>(args[0]);
  auto *y = static_cast<const float *>(args[1]);
  auto *z = static_cast<float *>(args[2]);
  for (int i = 0; i < 6; ++i)
    z[i] = x[i] + y[i];
  return 0;
}

/// split(x: i32[]) -> (i64[], i1[2])
int32_t split(void **args, const int64_t *) {
  int32_t x = *static_cast<const int32_t *>(args[0]);
  *static_cast<int64_t *>(args[1]) = int64_t(x) * 1000000000;
  static_cast<uint8_t *>(args[2])[0] = x > 0;
  static_cast<uint8_t *>(args[2])[1] = x < 0;
  return 0;
}

/// broken() -> i32[]: always fails.
int32_t broken(void **, const int64_t *) { return 7; }

// An entry with open extents, as the compiler would emit it:
// addv(x: f32[?], y: f32[?]) -> f32[?], with its shape function.
int32_t addv(void **args, const int64_t *dims) {
  auto *x = static_cast<const float *>(args[0]);
  auto *y = static_cast<const float *>(args[1]);
  auto *z = static_cast<float *>(args[2]);
  // dims: x's extent, y's, then z's.
  for (int64_t i = 0; i < dims[2]; ++i)
    z[i] = x[i] + y[i];
  return 0;
}

int32_t addvShape(const int64_t *in, int64_t *out) {
  if (in[0] != in[1])
    return 1;
  out[0] = in[0];
  return 0;
}

} // namespace

const std::string &kiln::runtime::test::tempDir() {
  // Leaked, so that it outlives the exit handler that removes it.
  static const std::string &dir = *new std::string([] {
    char tmpl[] = "/tmp/kiln-runtime-test-XXXXXX";
    const char *made = mkdtemp(tmpl);
    if (!made)
      return std::string("/tmp");
    std::atexit([] {
      std::string command = "rm -rf '" + tempDir() + "'";
      if (std::system(command.c_str()) != 0)
        std::fprintf(stderr, "cannot remove %s\n", tempDir().c_str());
    });
    return std::string(made);
  }());
  return dir;
}

std::string kiln::runtime::test::tempPath(const std::string &name) {
  return tempDir() + "/" + name;
}

void kiln::runtime::test::writeFile(const std::string &path,
                                    const std::string &bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string kiln::runtime::test::capture(const std::string &command) {
  std::string out;
  if (FILE *pipe = popen(command.c_str(), "r")) {
    char chunk[4096];
    size_t n;
    while ((n = std::fread(chunk, 1, sizeof(chunk), pipe)) > 0)
      out.append(chunk, n);
    pclose(pipe);
  }
  return out;
}

void kiln::runtime::test::fill(kiln_buffer_t *b) {
  auto *bytes = static_cast<unsigned char *>(kiln_buffer_host_data(b));
  for (size_t i = 0; i < kiln_buffer_byte_size(b); ++i)
    bytes[i] = kiln_buffer_dtype(b) == KILN_I1
                   ? static_cast<unsigned char>(i % 3 == 0)
                   : static_cast<unsigned char>(i * 7 + 1);
}

int kiln::runtime::test::lookups = 0;

void *kiln::runtime::test::lookup(void *ctx, const char *name) {
  ++lookups;
  EXPECT_EQ(ctx, &lookups);
  if (std::strcmp(name, "kiln_entry_add") == 0)
    return reinterpret_cast<void *>(&add);
  if (std::strcmp(name, "kiln_entry_split") == 0)
    return reinterpret_cast<void *>(&split);
  if (std::strcmp(name, "kiln_entry_broken") == 0)
    return reinterpret_cast<void *>(&broken);
  return nullptr;
}

const char *const kiln::runtime::test::kManifest = "kiln-manifest 1\n"
                                                   "entry add 2 1\n"
                                                   "in f32 2 2 3\n"
                                                   "in f32 2 2 3\n"
                                                   "out f32 2 2 3\n"
                                                   "end\n"
                                                   "entry split 1 2\n"
                                                   "in i32 0\n"
                                                   "out i64 0\n"
                                                   "out i1 1 2\n"
                                                   "end\n"
                                                   "entry broken 0 1\n"
                                                   "out i32 0\n"
                                                   "end\n";

void *kiln::runtime::test::dynamicLookup(void *, const char *name) {
  if (std::strcmp(name, "kiln_entry_addv") == 0)
    return reinterpret_cast<void *>(&addv);
  if (std::strcmp(name, "kiln_shape_addv") == 0)
    return reinterpret_cast<void *>(&addvShape);
  return nullptr;
}
