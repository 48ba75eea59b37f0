//===- RuntimeTest.cpp - Unit tests for the Kiln runtime C API
//-------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// This test links the runtime only (no MLIR, no LLVM), as a program running
// an ahead-of-time compiled module would.
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Runtime.h"

#include "gtest/gtest.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <unistd.h>

namespace {

const kiln_device_t kCpu = {KILN_DEVICE_CPU, 0};

/// Takes a status, returns its message ("" for success) and frees it.
std::string message(kiln_status_t status) {
  std::string text = kiln_status_message(status);
  kiln_status_free(status);
  return text;
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

std::string tempPath(const std::string &name) {
  static std::string dir = [] {
    char tmpl[] = "/tmp/kiln-runtime-test-XXXXXX";
    return std::string(mkdtemp(tmpl));
  }();
  return dir + "/" + name;
}

TEST(Status, CodesAndMessages) {
  EXPECT_EQ(kiln_status_create(KILN_OK, "ignored"), nullptr);
  EXPECT_EQ(kiln_status_code(nullptr), KILN_OK);
  EXPECT_STREQ(kiln_status_message(nullptr), "");
  kiln_status_t s = kiln_status_create(KILN_NOT_FOUND, "no %s #%d", "entry", 3);
  EXPECT_EQ(kiln_status_code(s), KILN_NOT_FOUND);
  s = kiln_status_annotate(s, "loading %s", "m.so");
  EXPECT_EQ(message(s), "loading m.so: no entry #3");
}

TEST(Dtype, NamesAndSizes) {
  kiln_dtype_t d;
  for (kiln_dtype_t t :
       {KILN_F32, KILN_F64, KILN_F16, KILN_BF16, KILN_I1, KILN_I32, KILN_I64}) {
    EXPECT_EQ(kiln_dtype_parse(kiln_dtype_name(t), &d), nullptr);
    EXPECT_EQ(d, t);
  }
  EXPECT_EQ(kiln_dtype_size(KILN_I1), 1u);
  EXPECT_EQ(kiln_dtype_size(KILN_BF16), 2u);
  EXPECT_EQ(kiln_dtype_size(KILN_I64), 8u);
  EXPECT_TRUE(
      contains(message(kiln_dtype_parse("f8", &d)), "unknown dtype 'f8'"));
}

TEST(Buffer, CreateAndQuery) {
  int64_t shape[] = {2, 3};
  kiln_buffer_t *b = nullptr;
  ASSERT_EQ(kiln_buffer_create_zeroed(kCpu, KILN_F32, 2, shape, &b), nullptr);
  EXPECT_EQ(kiln_buffer_rank(b), 2);
  EXPECT_EQ(kiln_buffer_shape(b)[1], 3);
  EXPECT_EQ(kiln_buffer_element_count(b), 6);
  EXPECT_EQ(kiln_buffer_byte_size(b), 24u);
  auto *data = static_cast<float *>(kiln_buffer_host_data(b));
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(data) % 64, 0u);
  EXPECT_EQ(data[5], 0.0f);
  kiln_buffer_retain(b);
  kiln_buffer_release(b);
  kiln_buffer_release(b);
  kiln_buffer_t *scalar = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_I64, 0, nullptr, &scalar), nullptr);
  EXPECT_EQ(kiln_buffer_element_count(scalar), 1);
  kiln_buffer_release(scalar);
}

TEST(Buffer, Errors) {
  kiln_buffer_t *b = nullptr;
  int64_t negative[] = {2, -1};
  EXPECT_TRUE(
      contains(message(kiln_buffer_create(kCpu, KILN_F32, 2, negative, &b)),
               "negative extent"));
  int64_t huge[] = {1LL << 40, 1LL << 40};
  EXPECT_TRUE(contains(message(kiln_buffer_create(kCpu, KILN_F32, 2, huge, &b)),
                       "too large"));
  int64_t shape[] = {4};
  EXPECT_TRUE(
      contains(message(kiln_buffer_create(kiln_device_t{KILN_DEVICE_CUDA, 0},
                                          KILN_F32, 1, shape, &b)),
               "not available"));
  EXPECT_EQ(b, nullptr);
}

TEST(Buffer, PoolReusesMemory) {
  kiln_pool_trim();
  int64_t shape[] = {1000};
  kiln_buffer_t *a = nullptr, *b = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 1, shape, &a), nullptr);
  void *first = kiln_buffer_host_data(a);
  kiln_buffer_release(a);
  kiln_pool_stats_t before;
  kiln_pool_stats(&before);
  EXPECT_GT(before.bytes_cached, 0u);
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 1, shape, &b), nullptr);
  kiln_pool_stats_t after;
  kiln_pool_stats(&after);
  EXPECT_EQ(after.reuses, before.reuses + 1);
  EXPECT_EQ(kiln_buffer_host_data(b), first);
  kiln_buffer_release(b);
  kiln_pool_trim();
  kiln_pool_stats(&after);
  EXPECT_EQ(after.bytes_cached, 0u);
}

TEST(Buffer, WrapCallsRelease) {
  static int released = 0;
  float data[3] = {1, 2, 3};
  int64_t shape[] = {3};
  kiln_buffer_t *b = nullptr;
  ASSERT_EQ(kiln_buffer_wrap_host(
                KILN_F32, 1, shape, data,
                [](void *ctx, void *p) {
                  ++*static_cast<int *>(ctx);
                  (void)p;
                },
                &released, &b),
            nullptr);
  EXPECT_EQ(kiln_buffer_host_data(b), data);
  kiln_buffer_release(b);
  EXPECT_EQ(released, 1);
}

/// Writes bytes to a file.
void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(Npy, RoundTripEveryDtype) {
  for (kiln_dtype_t t :
       {KILN_F32, KILN_F64, KILN_F16, KILN_I1, KILN_I32, KILN_I64}) {
    int64_t shape[] = {2, 3};
    kiln_buffer_t *b = nullptr;
    ASSERT_EQ(kiln_buffer_create_zeroed(kCpu, t, 2, shape, &b), nullptr);
    auto *bytes = static_cast<unsigned char *>(kiln_buffer_host_data(b));
    for (size_t i = 0; i < kiln_buffer_byte_size(b); ++i)
      bytes[i] = t == KILN_I1 ? (i % 2) : static_cast<unsigned char>(i * 7);
    std::string path =
        tempPath(std::string("rt_") + kiln_dtype_name(t) + ".npy");
    ASSERT_EQ(kiln_npy_write(path.c_str(), b), nullptr);
    kiln_buffer_t *back = nullptr;
    ASSERT_EQ(kiln_npy_read(path.c_str(), &back), nullptr)
        << kiln_dtype_name(t);
    EXPECT_EQ(kiln_buffer_dtype(back), t);
    EXPECT_EQ(kiln_buffer_rank(back), 2);
    EXPECT_EQ(std::memcmp(kiln_buffer_host_data(back), bytes,
                          kiln_buffer_byte_size(b)),
              0);
    kiln_buffer_release(b);
    kiln_buffer_release(back);
  }
}

TEST(Npy, ReadsWhatNumPyWrites) {
  std::string path = tempPath("numpy.npy");
  std::string cmd = "/usr/bin/python3 -c \"import numpy as np; "
                    "np.save('" +
                    path +
                    "', np.arange(6, dtype=np.int32)."
                    "reshape(2, 3))\"";
  if (std::system(cmd.c_str()) != 0)
    GTEST_SKIP() << "NumPy is not available";
  kiln_buffer_t *b = nullptr;
  ASSERT_EQ(kiln_npy_read(path.c_str(), &b), nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_I32);
  EXPECT_EQ(static_cast<int32_t *>(kiln_buffer_host_data(b))[5], 5);
  kiln_buffer_release(b);
  // Rank 0 and version 2.0 headers.
  cmd =
      "/usr/bin/python3 -c \"import numpy as np; from numpy.lib import format; "
      "f = open('" +
      path +
      "', 'wb'); "
      "format.write_array(f, np.array(2.5), version=(2, 0)); f.close()\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  ASSERT_EQ(kiln_npy_read(path.c_str(), &b), nullptr);
  EXPECT_EQ(kiln_buffer_rank(b), 0);
  EXPECT_EQ(static_cast<double *>(kiln_buffer_host_data(b))[0], 2.5);
  kiln_buffer_release(b);
}

TEST(Npy, Errors) {
  kiln_buffer_t *b = nullptr;
  EXPECT_TRUE(
      contains(message(kiln_npy_read(tempPath("absent.npy").c_str(), &b)),
               "cannot open"));
  std::string bad = tempPath("bad.npy");
  writeFile(bad, "NOTNUMPYxxxxxxxxxxxx");
  EXPECT_TRUE(contains(message(kiln_npy_read(bad.c_str(), &b)), "bad magic"));
  writeFile(bad, std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_TRUE(contains(message(kiln_npy_read(bad.c_str(), &b)),
                       "truncated header length"));
  std::string header =
      "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }";
  std::string file = std::string("\x93NUMPY\x01\x00", 8);
  file += static_cast<char>(header.size());
  file += '\0';
  writeFile(bad, file + header);
  EXPECT_TRUE(contains(message(kiln_npy_read(bad.c_str(), &b)), "Fortran"));
  header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  file = std::string("\x93NUMPY\x01\x00", 8);
  file += static_cast<char>(header.size());
  file += '\0';
  writeFile(bad, file + header + std::string(12, '\0'));
  EXPECT_TRUE(contains(message(kiln_npy_read(bad.c_str(), &b)),
                       "data is shorter than shape [2, 2]"));
  header = "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }";
  file = std::string("\x93NUMPY\x01\x00", 8);
  file += static_cast<char>(header.size());
  file += '\0';
  writeFile(bad, file + header + std::string(8, '\0'));
  EXPECT_TRUE(contains(message(kiln_npy_read(bad.c_str(), &b)),
                       "dtype '<c8' is not supported"));
  int64_t shape[] = {2};
  kiln_buffer_t *bf = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_BF16, 1, shape, &bf), nullptr);
  EXPECT_TRUE(contains(message(kiln_npy_write(tempPath("bf.npy").c_str(), bf)),
                       "bf16 has no NumPy dtype"));
  kiln_buffer_release(bf);
  EXPECT_EQ(b, nullptr);
}

// An entry point written by hand: y = x + 1 over f32[2, 3].
int32_t addOne(void **args) {
  auto *x = static_cast<const float *>(args[0]);
  auto *y = static_cast<float *>(args[1]);
  for (int i = 0; i < 6; ++i)
    y[i] = x[i] + 1;
  return 0;
}
int32_t failing(void **) { return 7; }

void *lookup(void *, const char *name) {
  if (std::strcmp(name, "kiln_entry_add_one") == 0)
    return reinterpret_cast<void *>(&addOne);
  if (std::strcmp(name, "kiln_entry_broken") == 0)
    return reinterpret_cast<void *>(&failing);
  return nullptr;
}

const char *kManifest = "kiln-manifest 1\n"
                        "entry add_one 1 1\nin f32 2 2 3\nout f32 2 2 3\nend\n"
                        "entry broken 0 1\nout i32 0\nend\n";

TEST(Executable, InvokeAndSignature) {
  static bool released = false;
  kiln_executable_t *e = nullptr;
  ASSERT_EQ(
      kiln_executable_create(
          kManifest, lookup, nullptr, [](void *) { released = true; }, &e),
      nullptr);
  EXPECT_EQ(kiln_executable_entry_count(e), 2);
  int32_t index = kiln_executable_find_entry(e, "add_one");
  ASSERT_EQ(index, 0);
  EXPECT_EQ(kiln_executable_find_entry(e, "nope"), -1);
  kiln_dtype_t dtype;
  int32_t rank;
  const int64_t *shape;
  kiln_entry_arg(e, index, 1, 0, &dtype, &rank, &shape);
  EXPECT_EQ(dtype, KILN_F32);
  EXPECT_EQ(rank, 2);
  EXPECT_EQ(shape[1], 3);

  int64_t dims[] = {2, 3};
  kiln_buffer_t *x = nullptr;
  ASSERT_EQ(kiln_buffer_create_zeroed(kCpu, KILN_F32, 2, dims, &x), nullptr);
  kiln_buffer_t *y = nullptr;
  ASSERT_EQ(kiln_executable_invoke(e, "add_one", 1, &x, 1, &y), nullptr);
  ASSERT_NE(y, nullptr);
  EXPECT_EQ(static_cast<float *>(kiln_buffer_host_data(y))[4], 1.0f);
  // A provided output is written in place.
  ASSERT_EQ(kiln_executable_invoke(e, "add_one", 1, &y, 1, &y), nullptr);
  EXPECT_EQ(static_cast<float *>(kiln_buffer_host_data(y))[4], 2.0f);
  kiln_buffer_release(y);

  kiln_buffer_t *out[1] = {nullptr};
  EXPECT_EQ(message(kiln_executable_invoke(e, "nope", 1, &x, 1, out)),
            "no entry named 'nope' (entries: add_one, broken)");
  EXPECT_EQ(message(kiln_executable_invoke(e, "add_one", 0, nullptr, 1, out)),
            "entry 'add_one' takes 1 inputs, got 0");
  int64_t wrong[] = {3, 2};
  kiln_buffer_t *w = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 2, wrong, &w), nullptr);
  EXPECT_EQ(
      message(kiln_executable_invoke(e, "add_one", 1, &w, 1, out)),
      "entry 'add_one': input #0 has shape [3, 2] but [2, 3] is expected");
  kiln_buffer_release(w);
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_I32, 2, dims, &w), nullptr);
  EXPECT_EQ(message(kiln_executable_invoke(e, "add_one", 1, &w, 1, out)),
            "entry 'add_one': input #0 has dtype i32 but f32 is expected");
  kiln_buffer_release(w);
  EXPECT_EQ(message(kiln_executable_invoke(e, "broken", 0, nullptr, 1, out)),
            "entry 'broken' failed with code 7");
  EXPECT_EQ(out[0], nullptr);
  kiln_buffer_release(x);
  kiln_executable_release(e);
  EXPECT_TRUE(released);
}

TEST(Executable, ManifestErrors) {
  kiln_executable_t *e = nullptr;
  struct {
    const char *manifest;
    const char *expected;
  } cases[] = {
      {"kiln-manifest 2\n", "expected the header 'kiln-manifest 1'"},
      {"kiln-manifest 1\nentry f 1 0\nin q8 1 2\nend\n", "unknown dtype"},
      {"kiln-manifest 1\nentry f 1 0\nend\n",
       "does not close a complete entry"},
      {"kiln-manifest 1\nentry f 0 1\nout f32 1 -2\nend\n", "bad dimension"},
      {"kiln-manifest 1\nvar w f32 0\n", "unknown keyword"},
      {"kiln-manifest 1\nentry f 0 0\n", "missing 'end'"},
      {"kiln-manifest 1\nentry g 0 0\nend\n", "has no symbol kiln_entry_g"},
  };
  for (auto &c : cases) {
    std::string m = message(
        kiln_executable_create(c.manifest, lookup, nullptr, nullptr, &e));
    EXPECT_TRUE(contains(m, c.expected)) << m;
    EXPECT_EQ(e, nullptr);
  }
}

TEST(Executable, LoadLibrary) {
  kiln_executable_t *e = nullptr;
  ASSERT_EQ(kiln_executable_load_library(KILN_FAKE_MODULE_PATH, &e), nullptr);
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
  kiln_buffer_release(x);
  kiln_buffer_release(s);
  kiln_buffer_release(y);
  kiln_executable_release(e);
  EXPECT_TRUE(
      contains(message(kiln_executable_load_library("/nonexistent.so", &e)),
               "cannot load /nonexistent.so"));
}

} // namespace
