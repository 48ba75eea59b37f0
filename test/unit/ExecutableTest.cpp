//===- ExecutableTest.cpp - Tests of executables and calls ----------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Executables (Executable.cpp): signatures, calls and their checks, open
// extents, concurrent calls, manifest and symbol errors, and modules loaded
// from shared libraries (fake_module.c).
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Runtime.h"

#include "RuntimeTestUtils.h"

#include "gtest/gtest.h"

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace kiln::runtime::test;

namespace {

/// An f32[2, 3] buffer holding start, start + 1, ...
kiln_buffer_t *iota(float start) {
  int64_t dims[] = {2, 3};
  kiln_buffer_t *b = nullptr;
  EXPECT_EQ(kiln_buffer_create(kCpu, KILN_F32, 2, dims, &b), nullptr);
  for (int i = 0; i < 6; ++i)
    static_cast<float *>(kiln_buffer_host_data(b))[i] = start + i;
  return b;
}

/// Creates the executable of kManifest.
kiln_executable_t *makeExecutable() {
  kiln_executable_t *e = nullptr;
  EXPECT_EQ(kiln_executable_create(kManifest, lookup, &lookups, nullptr, &e),
            nullptr);
  return e;
}

TEST(Executable, SignatureQueries) {
  static int released = 0;
  kiln_executable_t *e = nullptr;
  ASSERT_EQ(kiln_executable_create(
                kManifest, lookup, &lookups,
                [](void *ctx) {
                  EXPECT_EQ(ctx, &lookups);
                  ++released;
                },
                &e),
            nullptr);
  EXPECT_EQ(kiln_executable_entry_count(e), 3);
  EXPECT_STREQ(kiln_executable_entry_name(e, 0), "add");
  EXPECT_STREQ(kiln_executable_entry_name(e, 2), "broken");
  EXPECT_EQ(kiln_executable_entry_name(e, 3), nullptr);
  EXPECT_EQ(kiln_executable_entry_name(e, -1), nullptr);
  EXPECT_EQ(kiln_executable_find_entry(e, "split"), 1);
  EXPECT_EQ(kiln_executable_find_entry(e, "nope"), -1);
  EXPECT_EQ(kiln_entry_input_count(e, 1), 1);
  EXPECT_EQ(kiln_entry_output_count(e, 1), 2);
  EXPECT_EQ(kiln_entry_input_count(e, 3), -1);
  EXPECT_EQ(kiln_entry_output_count(e, -1), -1);

  kiln_dtype_t dtype;
  int32_t rank;
  const int64_t *shape;
  kiln_entry_arg(e, 0, 1, 0, &dtype, &rank, &shape);
  EXPECT_EQ(dtype, KILN_F32);
  ASSERT_EQ(rank, 2);
  EXPECT_EQ(shape[0], 2);
  EXPECT_EQ(shape[1], 3);
  kiln_entry_arg(e, 1, 0, 0, &dtype, &rank, &shape);
  EXPECT_EQ(dtype, KILN_I32);
  EXPECT_EQ(rank, 0);
  kiln_entry_arg(e, 1, 1, 1, &dtype, &rank, nullptr);
  EXPECT_EQ(dtype, KILN_I1);
  EXPECT_EQ(rank, 1);
  kiln_entry_arg(e, 1, 1, 2, &dtype, &rank, &shape);
  EXPECT_EQ(rank, -1);
  EXPECT_EQ(shape, nullptr);
  kiln_entry_arg(e, 9, 0, 0, &dtype, &rank, &shape);
  EXPECT_EQ(rank, -1);

  kiln_executable_retain(e);
  kiln_executable_release(e);
  EXPECT_EQ(released, 0);
  kiln_executable_release(e);
  EXPECT_EQ(released, 1);
  kiln_executable_release(nullptr);
}

TEST(Executable, Invoke) {
  kiln_executable_t *e = makeExecutable();
  ASSERT_NE(e, nullptr);
  kiln_buffer_t *x = iota(0), *y = iota(10);
  kiln_buffer_t *in[] = {x, y};

  // A NULL output is allocated.
  kiln_buffer_t *z = nullptr;
  ASSERT_EQ(kiln_executable_invoke(e, "add", 2, in, 1, &z), nullptr);
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(kiln_buffer_rank(z), 2);
  EXPECT_EQ(static_cast<float *>(kiln_buffer_host_data(z))[4], 18.0f);
  // A provided output is written in place.
  void *zData = kiln_buffer_host_data(z);
  kiln_buffer_t *swapped[] = {y, y};
  ASSERT_EQ(kiln_executable_invoke(e, "add", 2, swapped, 1, &z), nullptr);
  EXPECT_EQ(kiln_buffer_host_data(z), zData);
  EXPECT_EQ(static_cast<float *>(kiln_buffer_host_data(z))[4], 28.0f);

  // Rank-0 arguments and several outputs, one provided and one not.
  int32_t value = -3;
  kiln_buffer_t *scalar = nullptr;
  ASSERT_EQ(kiln_buffer_wrap_host(KILN_I32, 0, nullptr, &value, nullptr,
                                  nullptr, &scalar),
            nullptr);
  kiln_buffer_t *big = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_I64, 0, nullptr, &big), nullptr);
  kiln_buffer_t *outs[] = {big, nullptr};
  ASSERT_EQ(kiln_executable_invoke(e, "split", 1, &scalar, 2, outs), nullptr);
  EXPECT_EQ(outs[0], big);
  EXPECT_EQ(*static_cast<int64_t *>(kiln_buffer_host_data(big)), -3000000000);
  ASSERT_NE(outs[1], nullptr);
  EXPECT_EQ(kiln_buffer_dtype(outs[1]), KILN_I1);
  EXPECT_EQ(static_cast<uint8_t *>(kiln_buffer_host_data(outs[1]))[1], 1);
  kiln_buffer_release(outs[1]);
  kiln_buffer_release(big);
  kiln_buffer_release(scalar);

  kiln_buffer_release(z);
  kiln_buffer_release(x);
  kiln_buffer_release(y);
  kiln_executable_release(e);
}

TEST(Executable, InvokeErrors) {
  kiln_executable_t *e = makeExecutable();
  ASSERT_NE(e, nullptr);
  kiln_buffer_t *x = iota(0), *y = iota(10);
  kiln_buffer_t *in[] = {x, y};
  kiln_buffer_t *out[1] = {nullptr};

  kiln_status_t s = kiln_executable_invoke(e, "nope", 2, in, 1, out);
  EXPECT_EQ(kiln_status_code(s), KILN_NOT_FOUND);
  EXPECT_EQ(message(s), "no entry named 'nope' (entries: add, split, broken)");
  EXPECT_EQ(describe(kiln_executable_invoke(e, "add", 1, in, 1, out)),
            "1: entry 'add' takes 2 inputs, got 1");
  kiln_buffer_t *three[] = {x, y, x};
  EXPECT_EQ(describe(kiln_executable_invoke(e, "add", 3, three, 1, out)),
            "1: entry 'add' takes 2 inputs, got 3");
  EXPECT_EQ(describe(kiln_executable_invoke(e, "add", 2, in, 2, out)),
            "1: entry 'add' returns 1 output, got room for 2");
  EXPECT_EQ(describe(kiln_executable_invoke(e, "split", 0, nullptr, 2, out)),
            "1: entry 'split' takes 1 input, got 0");
  EXPECT_EQ(describe(kiln_executable_invoke(e, "add", 2, nullptr, 1, out)),
            "1: entry 'add': the inputs array is NULL");
  kiln_buffer_t *withNull[] = {x, nullptr};
  EXPECT_EQ(describe(kiln_executable_invoke(e, "add", 2, withNull, 1, out)),
            "1: entry 'add': input #1 is NULL");

  int64_t wrongDims[] = {3, 2};
  kiln_buffer_t *w = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 2, wrongDims, &w), nullptr);
  kiln_buffer_t *wrongShape[] = {x, w};
  EXPECT_EQ(describe(kiln_executable_invoke(e, "add", 2, wrongShape, 1, out)),
            "1: entry 'add': input #1 has shape [3, 2] but [2, 3] is "
            "expected");
  kiln_buffer_release(w);
  int64_t flat[] = {6};
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 1, flat, &w), nullptr);
  wrongShape[0] = w;
  EXPECT_EQ(describe(kiln_executable_invoke(e, "add", 2, wrongShape, 1, out)),
            "1: entry 'add': input #0 has shape [6] but [2, 3] is expected");
  kiln_buffer_release(w);
  int64_t dims[] = {2, 3};
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_I32, 2, dims, &w), nullptr);
  kiln_buffer_t *wrongDtype[] = {w, y};
  EXPECT_EQ(describe(kiln_executable_invoke(e, "add", 2, wrongDtype, 1, out)),
            "1: entry 'add': input #0 has dtype i32 but f32 is expected");
  // A provided output is checked too.
  EXPECT_EQ(describe(kiln_executable_invoke(e, "add", 2, in, 1, &w)),
            "1: entry 'add': output #0 has dtype i32 but f32 is expected");
  kiln_buffer_release(w);

  // Outputs may not alias inputs or each other.
  kiln_buffer_t *alias = x;
  EXPECT_EQ(describe(kiln_executable_invoke(e, "add", 2, in, 1, &alias)),
            "1: entry 'add': output #0 shares memory with input #0; outputs "
            "may not alias inputs");
  float shared[6];
  int64_t pair[] = {2};
  kiln_buffer_t *tail = nullptr;
  ASSERT_EQ(kiln_buffer_wrap_host(KILN_I1, 1, pair, &shared[5], nullptr,
                                  nullptr, &tail),
            nullptr);
  int32_t zero = 0;
  kiln_buffer_t *scalar = nullptr;
  ASSERT_EQ(kiln_buffer_wrap_host(KILN_I32, 0, nullptr, &zero, nullptr, nullptr,
                                  &scalar),
            nullptr);
  kiln_buffer_t *i64 = nullptr;
  ASSERT_EQ(kiln_buffer_wrap_host(KILN_I64, 0, nullptr, &shared[4], nullptr,
                                  nullptr, &i64),
            nullptr);
  kiln_buffer_t *overlapping[] = {i64, tail};
  EXPECT_EQ(
      describe(kiln_executable_invoke(e, "split", 1, &scalar, 2, overlapping)),
      "1: entry 'split': output #1 shares memory with output #0");
  kiln_buffer_release(tail);
  kiln_buffer_release(i64);
  kiln_buffer_release(scalar);

  // A failing entry: allocated outputs are released and reset, provided
  // ones stay.
  s = kiln_executable_invoke(e, "broken", 0, nullptr, 1, out);
  EXPECT_EQ(kiln_status_code(s), KILN_INTERNAL);
  EXPECT_EQ(message(s), "entry 'broken' failed with code 7");
  EXPECT_EQ(out[0], nullptr);
  kiln_buffer_t *provided = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_I32, 0, nullptr, &provided), nullptr);
  kiln_buffer_t *kept = provided;
  EXPECT_EQ(code(kiln_executable_invoke(e, "broken", 0, nullptr, 1, &kept)),
            KILN_INTERNAL);
  EXPECT_EQ(kept, provided);
  kiln_buffer_release(provided);

  EXPECT_EQ(code(kiln_executable_invoke(nullptr, "add", 2, in, 1, out)),
            KILN_INVALID_ARGUMENT);
  EXPECT_EQ(code(kiln_executable_invoke(e, nullptr, 2, in, 1, out)),
            KILN_INVALID_ARGUMENT);
  kiln_buffer_release(x);
  kiln_buffer_release(y);
  kiln_executable_release(e);
}

TEST(Executable, ConcurrentInvokes) {
  kiln_executable_t *e = makeExecutable();
  ASSERT_NE(e, nullptr);
  kiln_buffer_t *x = iota(0), *y = iota(1);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      kiln_buffer_t *in[] = {x, y};
      for (int i = 0; i < 500; ++i) {
        kiln_buffer_t *z = nullptr;
        kiln_status_t s = kiln_executable_invoke(e, "add", 2, in, 1, &z);
        if (s || static_cast<float *>(kiln_buffer_host_data(z))[5] != 11.0f)
          ++wrong;
        kiln_status_free(s);
        kiln_buffer_release(z);
      }
    });
  }
  for (std::thread &thread : threads)
    thread.join();
  EXPECT_EQ(wrong.load(), 0);
  kiln_buffer_release(x);
  kiln_buffer_release(y);
  kiln_executable_release(e);
}

TEST(Executable, ManifestErrors) {
  // kiln_executable_create reports what the parser reports...
  for (const MalformedManifest &c : malformedManifests()) {
    kiln_executable_t *e = reinterpret_cast<kiln_executable_t *>(1);
    kiln_status_t s =
        kiln_executable_create(c.text, lookup, &lookups, nullptr, &e);
    EXPECT_EQ(kiln_status_code(s), c.code) << c.text;
    std::string m = message(s);
    EXPECT_TRUE(contains(m, c.expected)) << c.text << " -> " << m;
    EXPECT_EQ(e, nullptr);
  }
  // ... and the symbols the code lacks.
  struct Case {
    const char *manifest;
    const char *expected;
  } cases[] = {
      {"kiln-manifest 3\nentry add 1 0 0\nin f32 1 ?\nend\n",
       "the manifest declares entry 'add' but the code has no symbol "
       "kiln_shape_add"},
      {"kiln-manifest 1\nentry g 0 0\nend\n",
       "the manifest declares entry 'g' but the code has no symbol "
       "kiln_entry_g"},
  };
  for (const Case &c : cases) {
    kiln_executable_t *e = reinterpret_cast<kiln_executable_t *>(1);
    kiln_status_t s =
        kiln_executable_create(c.manifest, lookup, &lookups, nullptr, &e);
    EXPECT_EQ(kiln_status_code(s), KILN_NOT_FOUND) << c.manifest;
    EXPECT_EQ(message(s), c.expected);
    EXPECT_EQ(e, nullptr);
  }
  // The release function runs exactly once, also on failure.
  static int releases = 0;
  kiln_executable_t *e = nullptr;
  kiln_status_free(kiln_executable_create(
      "kiln-manifest 9\n", lookup, &lookups, [](void *) { ++releases; }, &e));
  EXPECT_EQ(releases, 1);
  kiln_status_free(kiln_executable_create(
      nullptr, lookup, &lookups, [](void *) { ++releases; }, &e));
  EXPECT_EQ(releases, 2);
  // A manifest with no entries is valid; so is one without a final newline.
  ASSERT_EQ(
      kiln_executable_create("kiln-manifest 1", lookup, &lookups, nullptr, &e),
      nullptr);
  EXPECT_EQ(kiln_executable_entry_count(e), 0);
  EXPECT_EQ(message(kiln_executable_invoke(e, "f", 0, nullptr, 0, nullptr)),
            "no entry named 'f' (entries: none)");
  kiln_executable_release(e);
}

/// An f32[n] buffer holding start, start + 1, ...
kiln_buffer_t *vector(int64_t n, float start) {
  kiln_buffer_t *b = nullptr;
  EXPECT_EQ(kiln_buffer_create(kCpu, KILN_F32, 1, &n, &b), nullptr);
  for (int64_t i = 0; i < n; ++i)
    static_cast<float *>(kiln_buffer_host_data(b))[i] = start + float(i);
  return b;
}

TEST(Executable, OpenExtents) {
  kiln_executable_t *e = nullptr;
  ASSERT_EQ(kiln_executable_create("kiln-manifest 3\n"
                                   "entry addv 2 1 0\n"
                                   "in f32 1 ?\n"
                                   "in f32 1 ?\n"
                                   "out f32 1 ?\n"
                                   "check x and y differ in length\n"
                                   "end\n",
                                   dynamicLookup, nullptr, nullptr, &e),
            nullptr);
  const int64_t *shape = nullptr;
  int32_t rank = 0;
  kiln_entry_arg(e, 0, 1, 0, nullptr, &rank, &shape);
  ASSERT_EQ(rank, 1);
  EXPECT_EQ(shape[0], -1);

  // One entry, any length: the outputs are sized by the shape function.
  for (int64_t n : {0, 3, 1000}) {
    kiln_buffer_t *x = vector(n, 0), *y = vector(n, 100);
    kiln_buffer_t *in[] = {x, y};
    kiln_buffer_t *z = nullptr;
    ASSERT_EQ(kiln_executable_invoke(e, "addv", 2, in, 1, &z), nullptr);
    ASSERT_EQ(kiln_buffer_rank(z), 1);
    EXPECT_EQ(kiln_buffer_shape(z)[0], n);
    if (n > 2)
      EXPECT_EQ(static_cast<float *>(kiln_buffer_host_data(z))[2], 104.0f);
    // A provided output must have the computed shape.
    kiln_buffer_t *wrong = vector(n + 1, 0);
    EXPECT_EQ(message(kiln_executable_invoke(e, "addv", 2, in, 1, &wrong)),
              "entry 'addv': output #0 has shape [" + std::to_string(n + 1) +
                  "] but [" + std::to_string(n) + "] is expected");
    kiln_buffer_release(wrong);
    kiln_buffer_release(z);
    kiln_buffer_release(x);
    kiln_buffer_release(y);
  }

  // A failed check is the caller's error, with its message.
  kiln_buffer_t *x = vector(3, 0), *y = vector(4, 0);
  kiln_buffer_t *in[] = {x, y};
  kiln_buffer_t *z = nullptr;
  kiln_status_t s = kiln_executable_invoke(e, "addv", 2, in, 1, &z);
  EXPECT_EQ(kiln_status_code(s), KILN_INVALID_ARGUMENT);
  EXPECT_EQ(message(s), "entry 'addv': the input shapes do not fit together: "
                        "x and y differ in length");
  EXPECT_EQ(z, nullptr);
  // The rank is still fixed.
  kiln_buffer_t *matrix = iota(0);
  kiln_buffer_t *bad[] = {matrix, y};
  EXPECT_EQ(message(kiln_executable_invoke(e, "addv", 2, bad, 1, &z)),
            "entry 'addv': input #0 has shape [2, 3] but [?] is expected");
  kiln_buffer_release(matrix);
  kiln_buffer_release(x);
  kiln_buffer_release(y);
  kiln_executable_release(e);
}

TEST(Executable, LoadLibrary) {
  kiln_executable_t *e = nullptr;
  ASSERT_EQ(kiln_executable_load_library(KILN_FAKE_MODULE_PATH, &e), nullptr);
  EXPECT_EQ(kiln_executable_entry_count(e), 1);
  int64_t shape[] = {4};
  kiln_buffer_t *x = nullptr, *s = nullptr, *y = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 1, shape, &x), nullptr);
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 0, nullptr, &s), nullptr);
  for (int i = 0; i < 4; ++i)
    static_cast<float *>(kiln_buffer_host_data(x))[i] = static_cast<float>(i);
  *static_cast<float *>(kiln_buffer_host_data(s)) = 3.0f;
  kiln_buffer_t *in[] = {x, s};
  ASSERT_EQ(kiln_executable_invoke(e, "scale", 2, in, 1, &y), nullptr);
  EXPECT_EQ(static_cast<float *>(kiln_buffer_host_data(y))[3], 9.0f);
  kiln_buffer_t *swapped[] = {s, x};
  EXPECT_EQ(message(kiln_executable_invoke(e, "scale", 2, swapped, 1, &y)),
            "entry 'scale': input #0 has shape [] but [4] is expected");
  kiln_buffer_release(x);
  kiln_buffer_release(s);
  kiln_buffer_release(y);
  // Loading twice gives two executables; each closes its own handle.
  kiln_executable_t *again = nullptr;
  ASSERT_EQ(kiln_executable_load_library(KILN_FAKE_MODULE_PATH, &again),
            nullptr);
  kiln_executable_release(e);
  EXPECT_EQ(kiln_executable_entry_count(again), 1);
  kiln_executable_release(again);
}

TEST(Executable, LoadLibraryErrors) {
  kiln_executable_t *e = reinterpret_cast<kiln_executable_t *>(1);
  kiln_status_t s = kiln_executable_load_library("/nonexistent/m.so", &e);
  EXPECT_EQ(kiln_status_code(s), KILN_NOT_FOUND);
  std::string m = message(s);
  EXPECT_TRUE(contains(m, "cannot load /nonexistent/m.so: ")) << m;
  EXPECT_TRUE(contains(m, "No such file")) << m;
  EXPECT_EQ(e, nullptr);

  std::string text = tempPath("not-a-library.so");
  writeFile(text, "hello");
  s = kiln_executable_load_library(text.c_str(), &e);
  EXPECT_EQ(kiln_status_code(s), KILN_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(message(s), "cannot load " + text));

  s = kiln_executable_load_library(KILN_RUNTIME_LIBRARY_PATH, &e);
  EXPECT_EQ(kiln_status_code(s), KILN_INVALID_ARGUMENT);
  EXPECT_EQ(message(s), std::string(KILN_RUNTIME_LIBRARY_PATH) +
                            " is not a Kiln module: it exports no "
                            "kiln_manifest");

  s = kiln_executable_load_library(KILN_FAKE_MODULE_BROKEN_PATH, &e);
  EXPECT_EQ(kiln_status_code(s), KILN_NOT_FOUND);
  EXPECT_EQ(message(s), std::string(KILN_FAKE_MODULE_BROKEN_PATH) +
                            ": the manifest declares entry 'missing' but the "
                            "code has no symbol kiln_entry_missing");
  EXPECT_EQ(e, nullptr);
}

} // namespace
