//===- RuntimeTest.cpp - Unit tests for the Kiln runtime C API ------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// This test links the runtime only (no MLIR, no LLVM), as a program running
// an ahead-of-time compiled module would. NumPy interoperability is checked
// with /usr/bin/python3 when it has NumPy (skipped otherwise).
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Runtime.h"

#include "RuntimeTestUtils.h"

#include "gtest/gtest.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern "C" int kiln_test_c_api(void);

using namespace kiln::runtime::test;

namespace {

/// A directory private to this test process, removed when it exits.
const std::string &tempDir() {
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

std::string tempPath(const std::string &name) { return tempDir() + "/" + name; }

/// Writes bytes to a file.
void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

/// Runs a Python script with /usr/bin/python3; returns its exit status.
int runPython(const std::string &script) {
  static int counter = 0;
  std::string path = tempPath("script" + std::to_string(counter++) + ".py");
  writeFile(path, script);
  return std::system(("/usr/bin/python3 " + path + " 2>&1").c_str());
}

/// Whether /usr/bin/python3 can import numpy.
bool haveNumPy() {
  static bool have = std::system("/usr/bin/python3 -c 'import numpy' "
                                 ">/dev/null 2>&1") == 0;
  return have;
}

/// Runs a shell command and returns its standard output.
std::string capture(const std::string &command) {
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

/// Builds a .npy file: magic, version, header length and header as given
/// (no padding added), then `data`.
std::string npyFile(const std::string &header, const std::string &data = "",
                    int major = 1) {
  std::string file("\x93NUMPY", 6);
  file += static_cast<char>(major);
  file += '\0';
  size_t n = header.size();
  file += static_cast<char>(n & 0xff);
  file += static_cast<char>((n >> 8) & 0xff);
  if (major != 1) {
    file += static_cast<char>((n >> 16) & 0xff);
    file += static_cast<char>((n >> 24) & 0xff);
  }
  return file + header + data;
}

/// A header dict for npyFile.
std::string dict(const std::string &descr, const std::string &fortran,
                 const std::string &shape) {
  return "{'descr': " + descr + ", 'fortran_order': " + fortran +
         ", 'shape': " + shape + ", }\n";
}

/// Reads `path` and expects a failure with `expected` code and message part.
void expectReadError(const std::string &path, kiln_status_code_t expected,
                     const std::string &part) {
  kiln_buffer_t *b = reinterpret_cast<kiln_buffer_t *>(1);
  kiln_status_t s = kiln_npy_read(path.c_str(), &b);
  EXPECT_EQ(b, nullptr);
  EXPECT_EQ(kiln_status_code(s), expected) << kiln_status_message(s);
  std::string m = message(s);
  EXPECT_TRUE(contains(m, part)) << m;
  EXPECT_TRUE(contains(m, path)) << m;
}

/// Writes `file` to a fresh path and expects reading it to fail.
void expectFileError(const std::string &file, kiln_status_code_t expected,
                     const std::string &part) {
  static int counter = 0;
  std::string path = tempPath("bad" + std::to_string(counter++) + ".npy");
  writeFile(path, file);
  expectReadError(path, expected, part);
}

//===----------------------------------------------------------------------===//
// Status and dtypes
//===----------------------------------------------------------------------===//

TEST(Status, CodesAndMessages) {
  EXPECT_EQ(kiln_status_create(KILN_OK, "ignored"), nullptr);
  EXPECT_EQ(kiln_status_code(nullptr), KILN_OK);
  EXPECT_STREQ(kiln_status_message(nullptr), "");
  kiln_status_free(nullptr);
  EXPECT_EQ(kiln_status_annotate(nullptr, "context"), nullptr);
  kiln_status_t s = kiln_status_create(KILN_NOT_FOUND, "no %s #%d", "entry", 3);
  EXPECT_EQ(kiln_status_code(s), KILN_NOT_FOUND);
  s = kiln_status_annotate(s, "loading %s", "m.so");
  s = kiln_status_annotate(s, "run");
  EXPECT_EQ(kiln_status_code(s), KILN_NOT_FOUND);
  EXPECT_EQ(message(s), "run: loading m.so: no entry #3");
  std::string big(10000, 'x');
  EXPECT_EQ(message(kiln_status_create(KILN_INTERNAL, "%s", big.c_str())), big);
}

TEST(Status, UsableFromC) { EXPECT_EQ(kiln_test_c_api(), 0); }

TEST(Dtype, NamesAndSizes) {
  kiln_dtype_t d;
  const kiln_dtype_t all[] = {KILN_F32, KILN_F64, KILN_F16, KILN_BF16,
                              KILN_I1,  KILN_I32, KILN_I64};
  const char *names[] = {"f32", "f64", "f16", "bf16", "i1", "i32", "i64"};
  const size_t sizes[] = {4, 8, 2, 2, 1, 4, 8};
  for (int i = 0; i < 7; ++i) {
    EXPECT_STREQ(kiln_dtype_name(all[i]), names[i]);
    EXPECT_EQ(kiln_dtype_size(all[i]), sizes[i]);
    ASSERT_EQ(kiln_dtype_parse(names[i], &d), nullptr);
    EXPECT_EQ(d, all[i]);
  }
  // 7 is within the enum's range (so valid C++) but names no dtype.
  EXPECT_STREQ(kiln_dtype_name(static_cast<kiln_dtype_t>(7)), "?");
  EXPECT_EQ(kiln_dtype_size(static_cast<kiln_dtype_t>(7)), 0u);
  kiln_status_t s = kiln_dtype_parse("f8", &d);
  EXPECT_EQ(kiln_status_code(s), KILN_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(message(s), "unknown dtype 'f8'"));
}

//===----------------------------------------------------------------------===//
// Buffers and the pool
//===----------------------------------------------------------------------===//

TEST(Buffer, CreateAndQuery) {
  int64_t shape[] = {2, 3};
  kiln_buffer_t *b = nullptr;
  ASSERT_EQ(kiln_buffer_create_zeroed(kCpu, KILN_F32, 2, shape, &b), nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_F32);
  EXPECT_EQ(kiln_buffer_rank(b), 2);
  EXPECT_EQ(kiln_buffer_shape(b)[0], 2);
  EXPECT_EQ(kiln_buffer_shape(b)[1], 3);
  EXPECT_EQ(kiln_buffer_element_count(b), 6);
  EXPECT_EQ(kiln_buffer_byte_size(b), 24u);
  EXPECT_EQ(kiln_buffer_device(b).type, KILN_DEVICE_CPU);
  EXPECT_EQ(kiln_buffer_device(b).ordinal, 0);
  auto *data = static_cast<float *>(kiln_buffer_host_data(b));
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(data) % 64, 0u);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(data[i], 0.0f);
  kiln_buffer_retain(b);
  kiln_buffer_release(b);
  EXPECT_EQ(kiln_buffer_rank(b), 2); // still alive
  kiln_buffer_release(b);
  kiln_buffer_release(nullptr);
  kiln_buffer_retain(nullptr);

  kiln_buffer_t *scalar = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_I64, 0, nullptr, &scalar), nullptr);
  EXPECT_EQ(kiln_buffer_rank(scalar), 0);
  EXPECT_NE(kiln_buffer_shape(scalar), nullptr);
  EXPECT_EQ(kiln_buffer_element_count(scalar), 1);
  EXPECT_EQ(kiln_buffer_byte_size(scalar), 8u);
  kiln_buffer_release(scalar);

  int64_t empty[] = {0, 5};
  kiln_buffer_t *none = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_I1, 2, empty, &none), nullptr);
  EXPECT_EQ(kiln_buffer_element_count(none), 0);
  EXPECT_EQ(kiln_buffer_byte_size(none), 0u);
  kiln_buffer_release(none);

  int64_t big[KILN_MAX_RANK];
  for (int64_t &d : big)
    d = 1;
  kiln_buffer_t *deep = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_BF16, KILN_MAX_RANK, big, &deep),
            nullptr);
  EXPECT_EQ(kiln_buffer_byte_size(deep), 2u);
  kiln_buffer_release(deep);
}

TEST(Buffer, Errors) {
  kiln_buffer_t *b = reinterpret_cast<kiln_buffer_t *>(1);
  int64_t negative[] = {2, -1};
  EXPECT_EQ(describe(kiln_buffer_create(kCpu, KILN_F32, 2, negative, &b)),
            "1: shape [2, -1] has a negative extent");
  EXPECT_EQ(b, nullptr);
  int64_t huge[] = {1LL << 40, 1LL << 40};
  EXPECT_EQ(describe(kiln_buffer_create(kCpu, KILN_F32, 2, huge, &b)),
            "1: shape [1099511627776, 1099511627776] is too large");
  int64_t overflow[] = {0, INT64_MAX};
  EXPECT_EQ(code(kiln_buffer_create(kCpu, KILN_F32, 2, overflow, &b)),
            KILN_INVALID_ARGUMENT);
  int64_t wide[] = {1LL << 61};
  EXPECT_TRUE(
      contains(message(kiln_buffer_create_zeroed(kCpu, KILN_F64, 1, wide, &b)),
               "too large"));
  int64_t shape[KILN_MAX_RANK + 1] = {};
  EXPECT_EQ(describe(kiln_buffer_create(kCpu, KILN_F32, KILN_MAX_RANK + 1,
                                        shape, &b)),
            "1: rank 17 is outside [0, 16]");
  EXPECT_EQ(code(kiln_buffer_create(kCpu, KILN_F32, -1, shape, &b)),
            KILN_INVALID_ARGUMENT);
  EXPECT_EQ(describe(kiln_buffer_create(kCpu, KILN_F32, 2, nullptr, &b)),
            "1: shape is NULL");
  EXPECT_EQ(code(kiln_buffer_create(kCpu, static_cast<kiln_dtype_t>(7), 1,
                                    shape, &b)),
            KILN_INVALID_ARGUMENT);
  kiln_status_t s = kiln_buffer_create(kiln_device_t{KILN_DEVICE_CUDA, 1},
                                       KILN_F32, 1, shape, &b);
  EXPECT_EQ(kiln_status_code(s), KILN_UNAVAILABLE);
  EXPECT_EQ(message(s), "device cuda:1 is not available: no CUDA device: "
                        "this runtime was built without CUDA support");
  EXPECT_EQ(code(kiln_buffer_create_zeroed(kiln_device_t{KILN_DEVICE_CUDA, 0},
                                           KILN_F32, 1, shape, &b)),
            KILN_UNAVAILABLE);
  EXPECT_EQ(b, nullptr);
}

TEST(Pool, ReusesMemory) {
  kiln_pool_trim();
  int64_t shape[] = {1000};
  kiln_buffer_t *a = nullptr, *b = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 1, shape, &a), nullptr);
  void *first = kiln_buffer_host_data(a);
  kiln_pool_stats_t start;
  kiln_pool_stats(&start);
  EXPECT_GE(start.bytes_in_use, 4000u);
  kiln_buffer_release(a);
  kiln_pool_stats_t before;
  kiln_pool_stats(&before);
  EXPECT_GE(before.bytes_cached, 4000u);
  EXPECT_EQ(before.bytes_in_use + before.bytes_cached,
            start.bytes_in_use + start.bytes_cached);
  // Same size class (4000 and 3900 bytes both round to 4096), any dtype.
  int64_t similar[] = {975};
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_I32, 1, similar, &b), nullptr);
  kiln_pool_stats_t after;
  kiln_pool_stats(&after);
  EXPECT_EQ(after.reuses, before.reuses + 1);
  EXPECT_EQ(after.allocations, before.allocations);
  EXPECT_EQ(kiln_buffer_host_data(b), first);
  kiln_buffer_release(b);
  kiln_pool_trim();
  kiln_pool_stats(&after);
  EXPECT_EQ(after.bytes_cached, 0u);
}

TEST(Pool, ReusesLargeBlocks) {
  kiln_pool_trim();
  int64_t shape[] = {64, 1024, 1024}; // 256 MiB of f32
  kiln_buffer_t *a = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 3, shape, &a), nullptr);
  void *first = kiln_buffer_host_data(a);
  kiln_buffer_release(a);
  kiln_pool_stats_t before, after;
  kiln_pool_stats(&before);
  EXPECT_EQ(before.bytes_cached, 256u << 20);
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 3, shape, &a), nullptr);
  kiln_pool_stats(&after);
  EXPECT_EQ(after.reuses, before.reuses + 1);
  EXPECT_EQ(kiln_buffer_host_data(a), first);
  kiln_buffer_release(a);
  kiln_pool_trim();
}

TEST(Pool, SizeClassesWasteAtMostAQuarter) {
  kiln_pool_trim();
  for (int64_t bytes : {1, 64, 65, 200, 257, 1000, 4097, 5000, 100000,
                        (1 << 20) + 1, 3 << 20}) {
    kiln_pool_stats_t before, after;
    kiln_pool_stats(&before);
    kiln_buffer_t *b = nullptr;
    ASSERT_EQ(kiln_buffer_create(kCpu, KILN_I1, 1, &bytes, &b), nullptr);
    kiln_pool_stats(&after);
    uint64_t block = after.bytes_in_use - before.bytes_in_use;
    EXPECT_GE(block, static_cast<uint64_t>(bytes));
    EXPECT_EQ(block % 64, 0u);
    if (bytes > 256)
      EXPECT_LE(block, static_cast<uint64_t>(bytes) * 5 / 4 + 64) << bytes;
    kiln_buffer_release(b);
  }
  kiln_pool_trim();
}

TEST(Pool, ThreadSafe) {
  kiln_pool_trim();
  kiln_pool_stats_t before;
  kiln_pool_stats(&before);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &failures] {
      for (int i = 0; i < 2000; ++i) {
        int64_t shape[] = {1 + (i * 7 + t) % 300};
        kiln_buffer_t *b = nullptr;
        if (kiln_status_t s =
                kiln_buffer_create(kCpu, KILN_F32, 1, shape, &b)) {
          kiln_status_free(s);
          ++failures;
          continue;
        }
        static_cast<float *>(kiln_buffer_host_data(b))[0] = 1.0f;
        kiln_buffer_retain(b);
        kiln_buffer_release(b);
        kiln_buffer_release(b);
      }
    });
  }
  for (std::thread &thread : threads)
    thread.join();
  EXPECT_EQ(failures.load(), 0);
  kiln_pool_stats_t after;
  kiln_pool_stats(&after);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
  EXPECT_GT(after.reuses, before.reuses);
  kiln_pool_trim();
}

// Runs only in a child process started by Pool.LimitEvictsOldest, with
// KILN_POOL_LIMIT_MB=1 set before the pool exists.
TEST(PoolLimitChild, Run) {
  if (!std::getenv("KILN_RUNTIME_TEST_CHILD"))
    GTEST_SKIP() << "runs as a child of Pool.LimitEvictsOldest";
  int64_t third[] = {300 * 1024}; // bytes, i1: three fit in 1 MiB, four not
  kiln_buffer_t *b[4] = {};
  for (kiln_buffer_t *&buffer : b)
    ASSERT_EQ(kiln_buffer_create(kCpu, KILN_I1, 1, third, &buffer), nullptr);
  void *oldest = kiln_buffer_host_data(b[0]);
  void *newest = kiln_buffer_host_data(b[3]);
  for (kiln_buffer_t *buffer : b)
    kiln_buffer_release(buffer);
  kiln_pool_stats_t stats;
  kiln_pool_stats(&stats);
  EXPECT_LE(stats.bytes_cached, 1u << 20);
  EXPECT_GT(stats.bytes_cached, 0u);
  // The newest block is still cached (taken first), the oldest is gone.
  kiln_buffer_t *again = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_I1, 1, third, &again), nullptr);
  EXPECT_EQ(kiln_buffer_host_data(again), newest);
  kiln_buffer_release(again);
  std::vector<kiln_buffer_t *> all(3);
  for (kiln_buffer_t *&buffer : all)
    ASSERT_EQ(kiln_buffer_create(kCpu, KILN_I1, 1, third, &buffer), nullptr);
  for (kiln_buffer_t *buffer : all)
    EXPECT_NE(kiln_buffer_host_data(buffer), oldest);
  for (kiln_buffer_t *buffer : all)
    kiln_buffer_release(buffer);
  // A block above the limit is never cached.
  int64_t huge[] = {2 << 20};
  kiln_buffer_t *h = nullptr;
  kiln_pool_stats(&stats);
  uint64_t cached = stats.bytes_cached;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_I1, 1, huge, &h), nullptr);
  kiln_buffer_release(h);
  kiln_pool_stats(&stats);
  EXPECT_EQ(stats.bytes_cached, cached);
}

TEST(Pool, LimitEvictsOldest) {
  std::string command =
      "KILN_RUNTIME_TEST_CHILD=1 KILN_POOL_LIMIT_MB=1 /proc/" +
      std::to_string(getpid()) +
      "/exe --gtest_filter=PoolLimitChild.Run >/dev/null 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0)
      << "rerun with --gtest_filter=PoolLimitChild.Run and "
         "KILN_RUNTIME_TEST_CHILD=1 KILN_POOL_LIMIT_MB=1 to see why";
}

TEST(Buffer, WrapCallsReleaseOnce) {
  struct Ctx {
    int calls = 0;
    void *data = nullptr;
  } ctx;
  auto release = [](void *c, void *p) {
    auto *state = static_cast<Ctx *>(c);
    state->calls++;
    state->data = p;
  };
  float data[6] = {1, 2, 3, 4, 5, 6};
  int64_t shape[] = {2, 3};
  kiln_buffer_t *b = nullptr;
  ASSERT_EQ(kiln_buffer_wrap_host(KILN_F32, 2, shape, data, release, &ctx, &b),
            nullptr);
  EXPECT_EQ(kiln_buffer_host_data(b), data);
  EXPECT_EQ(kiln_buffer_byte_size(b), 24u);
  EXPECT_EQ(kiln_buffer_device(b).type, KILN_DEVICE_CPU);
  kiln_buffer_retain(b);
  kiln_buffer_release(b);
  EXPECT_EQ(ctx.calls, 0);
  kiln_buffer_release(b);
  EXPECT_EQ(ctx.calls, 1);
  EXPECT_EQ(ctx.data, data);

  // No callback; an empty buffer may wrap NULL; failures call nothing.
  ASSERT_EQ(
      kiln_buffer_wrap_host(KILN_F32, 2, shape, data, nullptr, nullptr, &b),
      nullptr);
  kiln_buffer_release(b);
  int64_t empty[] = {0};
  ASSERT_EQ(
      kiln_buffer_wrap_host(KILN_F32, 1, empty, nullptr, release, &ctx, &b),
      nullptr);
  kiln_buffer_release(b);
  EXPECT_EQ(ctx.calls, 2);
  EXPECT_EQ(describe(kiln_buffer_wrap_host(KILN_F32, 2, shape, nullptr, release,
                                           &ctx, &b)),
            "1: cannot wrap a NULL pointer");
  int64_t negative[] = {-3};
  EXPECT_EQ(code(kiln_buffer_wrap_host(KILN_F32, 1, negative, data, release,
                                       &ctx, &b)),
            KILN_INVALID_ARGUMENT);
  EXPECT_EQ(ctx.calls, 2);
  EXPECT_EQ(b, nullptr);
}

//===----------------------------------------------------------------------===//
// .npy files
//===----------------------------------------------------------------------===//

/// Fills a buffer with distinct valid values of its dtype.
void fill(kiln_buffer_t *b) {
  auto *bytes = static_cast<unsigned char *>(kiln_buffer_host_data(b));
  for (size_t i = 0; i < kiln_buffer_byte_size(b); ++i)
    bytes[i] = kiln_buffer_dtype(b) == KILN_I1
                   ? static_cast<unsigned char>(i % 3 == 0)
                   : static_cast<unsigned char>(i * 7 + 1);
}

TEST(Npy, RoundTripEveryDtypeAndRank) {
  const std::vector<std::vector<int64_t>> shapes = {
      {}, {5}, {2, 3}, {0, 4}, {2, 1, 3, 1}};
  for (kiln_dtype_t t :
       {KILN_F32, KILN_F64, KILN_F16, KILN_I1, KILN_I32, KILN_I64}) {
    for (const std::vector<int64_t> &shape : shapes) {
      int32_t rank = static_cast<int32_t>(shape.size());
      kiln_buffer_t *b = nullptr;
      ASSERT_EQ(kiln_buffer_create(kCpu, t, rank, shape.data(), &b), nullptr);
      fill(b);
      std::string path = tempPath(std::string("rt_") + kiln_dtype_name(t) +
                                  "_" + std::to_string(rank) + ".npy");
      ASSERT_EQ(kiln_npy_write(path.c_str(), b), nullptr);
      kiln_buffer_t *back = nullptr;
      ASSERT_EQ(kiln_npy_read(path.c_str(), &back), nullptr)
          << kiln_dtype_name(t);
      EXPECT_EQ(kiln_buffer_dtype(back), t);
      ASSERT_EQ(kiln_buffer_rank(back), rank);
      for (int32_t i = 0; i < rank; ++i)
        EXPECT_EQ(kiln_buffer_shape(back)[i], shape[i]);
      ASSERT_EQ(kiln_buffer_byte_size(back), kiln_buffer_byte_size(b));
      EXPECT_EQ(std::memcmp(kiln_buffer_host_data(back),
                            kiln_buffer_host_data(b), kiln_buffer_byte_size(b)),
                0);
      kiln_buffer_release(b);
      kiln_buffer_release(back);
    }
  }
}

TEST(Npy, WriteIsAtomicAndAligned) {
  std::string path = tempPath("atomic.npy");
  int64_t shape[] = {3};
  kiln_buffer_t *b = nullptr;
  ASSERT_EQ(kiln_buffer_create_zeroed(kCpu, KILN_F64, 1, shape, &b), nullptr);
  writeFile(path, "old contents");
  ASSERT_EQ(kiln_npy_write(path.c_str(), b), nullptr);
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  // The header is padded so that the data starts at a multiple of 64.
  ASSERT_EQ(bytes.size(), 128u + 24u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_EQ(static_cast<unsigned char>(bytes[8]) + 256 * bytes[9], 118);
  EXPECT_EQ(bytes[127], '\n');
  EXPECT_TRUE(contains(bytes, "{'descr': '<f8', 'fortran_order': False, "
                              "'shape': (3,), }"));
  // No temporary files are left behind.
  std::string stray = capture("ls " + tempDir() + " | grep -c tmp");
  EXPECT_EQ(stray, "0\n");
  // A failed write leaves the old file and no temporary.
  std::string inDir = tempPath("no-such-dir/x.npy");
  kiln_status_t s = kiln_npy_write(inDir.c_str(), b);
  EXPECT_EQ(kiln_status_code(s), KILN_IO_ERROR);
  EXPECT_TRUE(contains(message(s), "cannot write " + inDir));
  std::string dir = tempPath("a-directory");
  mkdir(dir.c_str(), 0755);
  EXPECT_EQ(code(kiln_npy_write(dir.c_str(), b)), KILN_IO_ERROR);
  EXPECT_EQ(capture("ls " + tempDir() + " | grep -c tmp"), "0\n");
  kiln_buffer_release(b);
}

TEST(Npy, ReadsWhatNumPyWrites) {
  if (!haveNumPy())
    GTEST_SKIP() << "/usr/bin/python3 has no NumPy";
  std::string dir = tempDir();
  ASSERT_EQ(
      runPython(
          "import numpy as np\n"
          "from numpy.lib import format\n"
          "d = '" +
          dir +
          "'\n"
          "np.save(d + '/np_f32.npy', np.arange(6, dtype=np.float32)"
          ".reshape(2, 3) / 4)\n"
          "np.save(d + '/np_f64.npy', np.array([1.5, -2.25, 1e300]))\n"
          "np.save(d + '/np_f16.npy', np.array([0.5, -1, 65504], np.float16))\n"
          "np.save(d + '/np_bool.npy', np.array([[True, False], [False, "
          "True]]))\n"
          "np.save(d + '/np_i32.npy', np.array([-7, 0, 2**31 - 1], np.int32))\n"
          "np.save(d + '/np_i64.npy', np.array([-2**63, 5], np.int64))\n"
          "np.save(d + '/np_scalar.npy', np.float32(3.25))\n"
          "np.save(d + '/np_empty.npy', np.zeros((0, 3), np.int32))\n"
          "np.save(d + '/np_fortran_1d.npy', np.asfortranarray(np.ones(3)))\n"
          "np.save(d + '/np_transposed.npy', np.arange(6.0).reshape(2, 3).T)\n"
          "for v in [(1, 0), (2, 0), (3, 0)]:\n"
          "    with open(d + '/np_v%d.npy' % v[0], 'wb') as f:\n"
          "        format.write_array(f, np.array([[1, 2]], np.int64), "
          "version=v)\n"),
      0);

  auto read = [&](const char *name) {
    kiln_buffer_t *b = nullptr;
    kiln_status_t s = kiln_npy_read((dir + "/" + name).c_str(), &b);
    EXPECT_EQ(s, nullptr) << name << ": " << kiln_status_message(s);
    kiln_status_free(s);
    return b;
  };
  kiln_buffer_t *b = read("np_f32.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_F32);
  EXPECT_EQ(kiln_buffer_rank(b), 2);
  EXPECT_EQ(static_cast<float *>(kiln_buffer_host_data(b))[5], 1.25f);
  kiln_buffer_release(b);

  b = read("np_f64.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_F64);
  EXPECT_EQ(static_cast<double *>(kiln_buffer_host_data(b))[1], -2.25);
  EXPECT_EQ(static_cast<double *>(kiln_buffer_host_data(b))[2], 1e300);
  kiln_buffer_release(b);

  b = read("np_f16.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_F16);
  auto *half = static_cast<uint16_t *>(kiln_buffer_host_data(b));
  EXPECT_EQ(half[0], 0x3800u); // 0.5
  EXPECT_EQ(half[1], 0xbc00u); // -1
  EXPECT_EQ(half[2], 0x7bffu); // 65504
  kiln_buffer_release(b);

  b = read("np_bool.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_I1);
  auto *flags = static_cast<uint8_t *>(kiln_buffer_host_data(b));
  EXPECT_EQ(flags[0] + 2 * flags[1] + 4 * flags[2] + 8 * flags[3], 9);
  kiln_buffer_release(b);

  b = read("np_i32.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_I32);
  EXPECT_EQ(static_cast<int32_t *>(kiln_buffer_host_data(b))[0], -7);
  EXPECT_EQ(static_cast<int32_t *>(kiln_buffer_host_data(b))[2], INT32_MAX);
  kiln_buffer_release(b);

  b = read("np_i64.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_I64);
  EXPECT_EQ(static_cast<int64_t *>(kiln_buffer_host_data(b))[0], INT64_MIN);
  kiln_buffer_release(b);

  b = read("np_scalar.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_rank(b), 0);
  EXPECT_EQ(*static_cast<float *>(kiln_buffer_host_data(b)), 3.25f);
  kiln_buffer_release(b);

  b = read("np_empty.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_element_count(b), 0);
  EXPECT_EQ(kiln_buffer_shape(b)[1], 3);
  kiln_buffer_release(b);

  // A 1-D array is both C and Fortran contiguous; NumPy writes it as C order.
  b = read("np_fortran_1d.npy");
  kiln_buffer_release(b);
  expectReadError(dir + "/np_transposed.npy", KILN_UNIMPLEMENTED,
                  "Fortran-ordered arrays are not supported");

  for (const char *name : {"np_v1.npy", "np_v2.npy", "np_v3.npy"}) {
    b = read(name);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(kiln_buffer_rank(b), 2);
    EXPECT_EQ(static_cast<int64_t *>(kiln_buffer_host_data(b))[1], 2) << name;
    kiln_buffer_release(b);
  }
}

TEST(Npy, NumPyReadsWhatKilnWrites) {
  if (!haveNumPy())
    GTEST_SKIP() << "/usr/bin/python3 has no NumPy";
  struct Case {
    kiln_dtype_t dtype;
    std::vector<int64_t> shape;
    const char *name;
  } cases[] = {{KILN_F32, {2, 3}, "k_f32"}, {KILN_F64, {}, "k_f64"},
               {KILN_F16, {4}, "k_f16"},    {KILN_I1, {3, 1}, "k_i1"},
               {KILN_I32, {0}, "k_i32"},    {KILN_I64, {2, 2, 2}, "k_i64"}};
  std::string checks = "import numpy as np\nd = '" + tempDir() + "'\n";
  const char *numpyNames[] = {"float32", "float64", "float16", "bf16",
                              "bool_",   "int32",   "int64"};
  for (const Case &c : cases) {
    kiln_buffer_t *b = nullptr;
    ASSERT_EQ(kiln_buffer_create(kCpu, c.dtype,
                                 static_cast<int32_t>(c.shape.size()),
                                 c.shape.data(), &b),
              nullptr);
    fill(b);
    std::string path = tempPath(std::string(c.name) + ".npy");
    ASSERT_EQ(kiln_npy_write(path.c_str(), b), nullptr);
    // Compare with the raw bytes NumPy sees.
    std::string hex;
    auto *bytes = static_cast<unsigned char *>(kiln_buffer_host_data(b));
    char digits[3];
    for (size_t i = 0; i < kiln_buffer_byte_size(b); ++i) {
      std::snprintf(digits, sizeof(digits), "%02x", bytes[i]);
      hex += digits;
    }
    std::string shape = "(";
    for (int64_t d : c.shape)
      shape += std::to_string(d) + ",";
    shape += ")";
    checks += "a = np.load(d + '/" + std::string(c.name) +
              ".npy')\n"
              "assert a.dtype == np." +
              numpyNames[c.dtype] + ", a.dtype\n" +
              "assert a.shape == " + shape + ", a.shape\n" +
              "assert a.tobytes().hex() == '" + hex + "'\n";
    kiln_buffer_release(b);
  }
  EXPECT_EQ(runPython(checks), 0);
}

TEST(Npy, Errors) {
  // Files that cannot be read.
  expectReadError(tempPath("absent.npy"), KILN_NOT_FOUND, "cannot open");
  std::string dir = tempPath("dir.npy");
  mkdir(dir.c_str(), 0755);
  expectReadError(dir, KILN_IO_ERROR, "cannot read");

  // Corrupt or truncated files.
  expectFileError("", KILN_DATA_LOSS, "shorter than the 8-byte preamble");
  expectFileError("NOTNUMPYxxxxxxxxxxxx", KILN_DATA_LOSS,
                  "not a valid .npy file: bad magic");
  expectFileError(std::string("\x93NUMPY\x01\x00", 8), KILN_DATA_LOSS,
                  "truncated header length");
  expectFileError(std::string("\x93NUMPY\x02\x00\x10\x00", 10), KILN_DATA_LOSS,
                  "truncated header length");
  std::string header = dict("'<f4'", "False", "(2,)");
  expectFileError(npyFile(header).substr(0, 20), KILN_DATA_LOSS,
                  "truncated header");
  expectFileError(
      npyFile(dict("'<f4'", "False", "(2, 2)"), std::string(12, '\0')),
      KILN_DATA_LOSS, "data is shorter than shape [2, 2] needs (16 bytes)");
  expectFileError(npyFile(dict("'<f8'", "False", "()")), KILN_DATA_LOSS,
                  "data is shorter than shape [] needs (8 bytes)");
  // A header claiming a huge array fails before allocating it.
  expectFileError(npyFile(dict("'<f4'", "False", "(1000000000000,)")),
                  KILN_DATA_LOSS, "data is shorter than shape");
  expectFileError(npyFile(dict("'|b1'", "False", "(2,)"), "\x01\x02"),
                  KILN_DATA_LOSS, "boolean element 1 is neither 0 nor 1");

  // Header dicts that do not parse or lack what is needed.
  expectFileError(npyFile("not a dict"), KILN_DATA_LOSS,
                  "cannot parse the header dict: expected '{'");
  expectFileError(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': "
                          "(2,)"),
                  KILN_DATA_LOSS, "cannot parse the header dict");
  expectFileError(npyFile("{'descr': '<f4' 'fortran_order': False}"),
                  KILN_DATA_LOSS, "expected ',' or '}'");
  expectFileError(npyFile("{'descr': '<f4, 'shape': ()}"), KILN_DATA_LOSS,
                  "cannot parse the header dict");
  expectFileError(npyFile(dict("'<f4'", "False", "(2,)") + "x"), KILN_DATA_LOSS,
                  "unexpected text after the closing '}'");
  expectFileError(npyFile("{'descr': '<f4', 'shape': (2,)}"), KILN_DATA_LOSS,
                  "the header lacks 'fortran_order'");
  expectFileError(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': "
                          "(1,), 'extra': 1}"),
                  KILN_DATA_LOSS, "unexpected header key 'extra'");
  expectFileError(npyFile("{'descr': '<f4', 'descr': '<f4', 'fortran_order': "
                          "False, 'shape': (1,)}"),
                  KILN_DATA_LOSS, "duplicate header key 'descr'");
  expectFileError(npyFile(dict("'<f4'", "False", "(2, -1)")), KILN_DATA_LOSS,
                  "shape (2, -1) is not a tuple of non-negative integers");
  expectFileError(npyFile(dict("'<f4'", "False", "(2)")), KILN_DATA_LOSS,
                  "shape (2) is not a tuple");
  expectFileError(npyFile(dict("'<f4'", "False", "[2]")), KILN_DATA_LOSS,
                  "is not a tuple");
  expectFileError(npyFile(dict("'<f4'", "False", "(99999999999999999999,)")),
                  KILN_DATA_LOSS, "is not a tuple of non-negative integers");
  expectFileError(npyFile(dict("'<f4'", "0", "(2,)")), KILN_DATA_LOSS,
                  "fortran_order is 0");
  expectFileError(npyFile(dict("4", "False", "(2,)")), KILN_DATA_LOSS,
                  "descr 4 is not a string");

  // Valid files Kiln does not take.
  expectFileError(npyFile(dict("'<f4'", "True", "(2,)"), std::string(8, '\0')),
                  KILN_UNIMPLEMENTED,
                  "Fortran-ordered arrays are not supported");
  expectFileError(npyFile(dict("'<c8'", "False", "(1,)"), std::string(8, '\0')),
                  KILN_INVALID_ARGUMENT, "dtype '<c8' is not supported");
  expectFileError(npyFile(dict("'<u2'", "False", "(1,)"), std::string(2, '\0')),
                  KILN_INVALID_ARGUMENT, "dtype '<u2' is not supported");
  expectFileError(npyFile(dict("'>f4'", "False", "(1,)"), std::string(4, '\0')),
                  KILN_INVALID_ARGUMENT, "dtype '>f4' is big-endian");
  expectFileError(npyFile(dict("[('a', '<f4')]", "False", "(1,)")),
                  KILN_INVALID_ARGUMENT, "structured dtypes are not supported");
  std::string rank17 = "(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)";
  expectFileError(npyFile(dict("'<f4'", "False", rank17), std::string(4, '\0')),
                  KILN_INVALID_ARGUMENT, "rank 17 exceeds");
  std::string v4 =
      npyFile(dict("'<f4'", "False", "(1,)"), std::string(4, '\0'), 2);
  v4[6] = 4;
  expectFileError(v4, KILN_UNIMPLEMENTED,
                  ".npy format version 4.0 is not supported");

  // Accepted variants: '=' and '|' byte orders, double quotes, Python 2
  // longs, no trailing comma, version 2.0 written by hand.
  for (const std::string &file :
       {npyFile(dict("'=i4'", "False", "(1,)"), std::string(4, '\x05')),
        npyFile(dict("'|i4'", "False", "(1L,)"), std::string(4, '\x05')),
        npyFile("{\"descr\": \"<i4\", \"fortran_order\": False, \"shape\": "
                "(1,)}",
                std::string(4, '\x05')),
        npyFile(dict("'<i4'", "False", "(1,)"), std::string(4, '\x05'), 2)}) {
    std::string path = tempPath("variant.npy");
    writeFile(path, file);
    kiln_buffer_t *b = nullptr;
    ASSERT_EQ(kiln_npy_read(path.c_str(), &b), nullptr) << file;
    EXPECT_EQ(kiln_buffer_dtype(b), KILN_I32);
    EXPECT_EQ(*static_cast<int32_t *>(kiln_buffer_host_data(b)), 0x05050505);
    kiln_buffer_release(b);
  }

  // bf16 has no NumPy dtype.
  int64_t shape[] = {2};
  kiln_buffer_t *bf = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_BF16, 1, shape, &bf), nullptr);
  kiln_status_t s = kiln_npy_write(tempPath("bf.npy").c_str(), bf);
  EXPECT_EQ(kiln_status_code(s), KILN_UNIMPLEMENTED);
  EXPECT_TRUE(contains(message(s), "bf16 has no NumPy dtype"));
  kiln_buffer_release(bf);
  struct stat info;
  EXPECT_NE(stat(tempPath("bf.npy").c_str(), &info), 0);
}

//===----------------------------------------------------------------------===//
// Executables
//===----------------------------------------------------------------------===//

// Entry points written by hand, as the compiler would emit them.

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

int lookups = 0;

void *lookup(void *ctx, const char *name) {
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

const char *kManifest = "kiln-manifest 1\n"
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

void *dynamicLookup(void *, const char *name) {
  if (std::strcmp(name, "kiln_entry_addv") == 0)
    return reinterpret_cast<void *>(&addv);
  if (std::strcmp(name, "kiln_shape_addv") == 0)
    return reinterpret_cast<void *>(&addvShape);
  return nullptr;
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

TEST(Instance, CallsVariablesAndErrors) {
  // A module with one variable and an entry that reads it.
  const char *manifest = "kiln-manifest 2\n"
                         "variable w f32 1 2\n"
                         "entry add 2 1 0\n"
                         "in f32 2 2 3\n"
                         "in f32 2 2 3\n"
                         "out f32 2 2 3\n"
                         "end\n";
  kiln_instance_t *model = nullptr;
  ASSERT_EQ(kiln_instance_create(manifest, lookup, &lookups, &model), nullptr);
  float x[6] = {1, 2, 3, 4, 5, 6}, y[6] = {10, 10, 10, 10, 10, 10}, z[6] = {};
  void *args[] = {x, y, z};
  EXPECT_EQ(kiln_instance_call(model, "add", args), KILN_OK);
  EXPECT_STREQ(kiln_instance_error(model), "");
  EXPECT_EQ(z[5], 16.0f);
  EXPECT_EQ(kiln_instance_call(model, "sub", args), KILN_NOT_FOUND);
  EXPECT_STREQ(kiln_instance_error(model), "no entry named 'sub'");
  void *missing[] = {x, nullptr, z};
  EXPECT_EQ(kiln_instance_call(model, "add", missing), KILN_INVALID_ARGUMENT);
  EXPECT_STREQ(kiln_instance_error(model), "entry 'add': input #1 is NULL");

  // Variables: absent until initialized; sizes are checked.
  float w[2] = {0, 0};
  EXPECT_EQ(kiln_instance_get_variable(model, "w", w, sizeof w), KILN_NOT_FOUND);
  ASSERT_EQ(kiln_instance_initialize(model), KILN_OK);
  float ones[2] = {1, 1};
  EXPECT_EQ(kiln_instance_set_variable(model, "w", ones, sizeof ones), KILN_OK);
  EXPECT_EQ(kiln_instance_get_variable(model, "w", w, sizeof w), KILN_OK);
  EXPECT_EQ(w[1], 1.0f);
  EXPECT_EQ(kiln_instance_set_variable(model, "w", ones, 4),
            KILN_INVALID_ARGUMENT);
  EXPECT_STREQ(kiln_instance_error(model),
               "variable 'w' is f32 [2] (8 bytes) but 4 bytes were given");

  // Checkpoints round-trip; a missing file is an error naming it.
  std::string path = tempPath("instance.safetensors");
  EXPECT_EQ(kiln_instance_save(model, path.c_str()), KILN_OK);
  float twos[2] = {2, 2};
  kiln_instance_set_variable(model, "w", twos, sizeof twos);
  EXPECT_EQ(kiln_instance_load(model, path.c_str()), KILN_OK);
  kiln_instance_get_variable(model, "w", w, sizeof w);
  EXPECT_EQ(w[0], 1.0f);
  EXPECT_EQ(kiln_instance_load(model, "/nonexistent/x.safetensors"),
            KILN_NOT_FOUND);
  EXPECT_TRUE(contains(kiln_instance_error(model), "/nonexistent/x.safetensors"));
  kiln_instance_destroy(model);
  kiln_instance_destroy(nullptr);
  std::remove(path.c_str());
}

TEST(Instance, OpenExtentsNeedTheBufferApi) {
  kiln_instance_t *model = nullptr;
  ASSERT_EQ(kiln_instance_create("kiln-manifest 3\n"
                                 "entry addv 2 1 0\n"
                                 "in f32 1 ?\n"
                                 "in f32 1 ?\n"
                                 "out f32 1 ?\n"
                                 "end\n",
                                 dynamicLookup, nullptr, &model),
            nullptr);
  float x[2] = {1, 2}, z[2];
  void *args[] = {x, x, z};
  EXPECT_EQ(kiln_instance_call(model, "addv", args), KILN_UNIMPLEMENTED);
  EXPECT_STREQ(kiln_instance_error(model),
               "entry 'addv': input #0 has an open extent; call it through "
               "kiln_executable_invoke with buffers");
  kiln_instance_destroy(model);
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

//===----------------------------------------------------------------------===//
// Variable stores and checkpoints
//===----------------------------------------------------------------------===//

TEST(Variables, SetFindAndSaveLoadEveryDtype) {
  kiln_variables_t *store = nullptr;
  ASSERT_EQ(kiln_variables_create(&store), nullptr);
  const std::vector<int64_t> shape = {2, 3};
  std::vector<kiln_buffer_t *> values;
  const kiln_dtype_t dtypes[] = {KILN_F32, KILN_F64, KILN_F16, KILN_BF16,
                                 KILN_I1,  KILN_I32, KILN_I64};
  for (kiln_dtype_t t : dtypes) {
    kiln_buffer_t *b = nullptr;
    ASSERT_EQ(kiln_buffer_create(kCpu, t, 2, shape.data(), &b), nullptr);
    fill(b);
    std::string name = std::string("v_") + kiln_dtype_name(t);
    ASSERT_EQ(kiln_variables_set(store, name.c_str(), b), nullptr);
    // The store holds a copy.
    EXPECT_NE(kiln_variables_find(store, name.c_str()), b);
    values.push_back(b);
  }
  ASSERT_EQ(kiln_variables_count(store), 7);
  // Names are sorted.
  for (int32_t i = 1; i < 7; ++i)
    EXPECT_LT(std::string(kiln_variables_name(store, i - 1)),
              std::string(kiln_variables_name(store, i)));
  EXPECT_EQ(kiln_variables_name(store, 7), nullptr);
  std::string path = tempPath("all.safetensors");
  ASSERT_EQ(kiln_variables_save(store, path.c_str(), 0, nullptr), nullptr);

  kiln_variables_t *back = nullptr;
  ASSERT_EQ(kiln_variables_create(&back), nullptr);
  ASSERT_EQ(kiln_variables_load(back, path.c_str(), nullptr), nullptr);
  ASSERT_EQ(kiln_variables_count(back), 7);
  for (size_t i = 0; i < values.size(); ++i) {
    std::string name = std::string("v_") + kiln_dtype_name(dtypes[i]);
    kiln_buffer_t *b = kiln_variables_find(back, name.c_str());
    ASSERT_NE(b, nullptr) << name;
    EXPECT_EQ(kiln_buffer_dtype(b), dtypes[i]);
    ASSERT_EQ(kiln_buffer_rank(b), 2);
    EXPECT_EQ(kiln_buffer_shape(b)[1], 3);
    EXPECT_EQ(std::memcmp(kiln_buffer_host_data(b),
                          kiln_buffer_host_data(values[i]),
                          kiln_buffer_byte_size(b)),
              0)
        << name;
    kiln_buffer_release(values[i]);
  }
  // A subset, and a name the store lacks.
  const char *some[] = {"v_f32", "v_i64"};
  std::string subset = tempPath("some.safetensors");
  ASSERT_EQ(kiln_variables_save(store, subset.c_str(), 2, some), nullptr);
  kiln_variables_t *part = nullptr;
  ASSERT_EQ(kiln_variables_create(&part), nullptr);
  ASSERT_EQ(kiln_variables_load(part, subset.c_str(), nullptr), nullptr);
  EXPECT_EQ(kiln_variables_count(part), 2);
  const char *missing[] = {"nope"};
  std::string m = describe(kiln_variables_save(store, subset.c_str(), 1, missing));
  EXPECT_TRUE(contains(m, "no variable 'nope' in the store")) << m;
  // Setting replaces, also with another shape.
  kiln_buffer_t *scalar = nullptr;
  ASSERT_EQ(kiln_buffer_create_zeroed(kCpu, KILN_F32, 0, nullptr, &scalar),
            nullptr);
  ASSERT_EQ(kiln_variables_set(store, "v_f32", scalar), nullptr);
  EXPECT_EQ(kiln_buffer_rank(kiln_variables_find(store, "v_f32")), 0);
  kiln_buffer_release(scalar);
  m = describe(kiln_variables_set(store, "not a name", scalar));
  EXPECT_TRUE(contains(m, "is not a C identifier")) << m;
  kiln_variables_destroy(part);
  kiln_variables_destroy(back);
  kiln_variables_destroy(store);
}

TEST(Variables, CorruptCheckpointsChangeNothing) {
  kiln_variables_t *store = nullptr;
  ASSERT_EQ(kiln_variables_create(&store), nullptr);
  kiln_buffer_t *b = nullptr;
  const int64_t n = 4;
  ASSERT_EQ(kiln_buffer_create_zeroed(kCpu, KILN_F32, 1, &n, &b), nullptr);
  ASSERT_EQ(kiln_variables_set(store, "w", b), nullptr);
  kiln_buffer_release(b);
  auto header = [](const std::string &json) {
    std::string text = json;
    text.append((8 - text.size() % 8) % 8, ' ');
    std::string size(8, '\0');
    for (int i = 0; i < 8; ++i)
      size[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
    return size + text;
  };
  struct Case {
    std::string bytes, expected;
  } cases[] = {
      {"", "shorter than the 8-byte header size"},
      {header("{\"w\": 1}"), "is not described by an object"},
      {header("[1, 2]"), "not a JSON object"},
      {header("{\"w\": {\"dtype\": \"U8\", \"shape\": [1], "
              "\"data_offsets\": [0, 1]}}") + "x",
       "has dtype 'U8'"},
      {header("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], "
              "\"data_offsets\": [0, 4]}}") + "abcd",
       "has 4 bytes of data but its dtype and shape need 8"},
      {header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], "
              "\"data_offsets\": [0, 4]}, \"v\": {\"dtype\": \"F32\", "
              "\"shape\": [1], \"data_offsets\": [2, 6]}}") + "abcdef",
       "overlaps another tensor's"},
      {header("{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], "
              "\"data_offsets\": [0, 4]}}") + "abcd",
       "not a non-negative integer"},
      {header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}") + "abcd",
       "needs 'dtype'"},
  };
  int i = 0;
  for (const Case &c : cases) {
    std::string path = tempPath("bad" + std::to_string(i++) + ".safetensors");
    writeFile(path, c.bytes);
    kiln_status_t s = kiln_variables_load(store, path.c_str(), nullptr);
    EXPECT_EQ(kiln_status_code(s), KILN_DATA_LOSS) << c.expected;
    std::string m = message(s);
    EXPECT_TRUE(contains(m, c.expected)) << m;
    EXPECT_TRUE(contains(m, path)) << m;
    // Nothing changed.
    ASSERT_EQ(kiln_variables_count(store), 1);
    EXPECT_EQ(kiln_buffer_shape(kiln_variables_find(store, "w"))[0], 4);
  }
  EXPECT_EQ(code(kiln_variables_load(store, tempPath("absent").c_str(),
                                     nullptr)),
            KILN_NOT_FOUND);
  kiln_variables_destroy(store);
}

TEST(Idx, ReadsBytesAsNumbers) {
  std::string path = tempPath("small-idx2-ubyte");
  // 00 00 08 02, dims 3 x 2, then six bytes.
  writeFile(path, std::string("\0\0\x08\x02\0\0\0\x03\0\0\0\x02", 12) +
                      std::string("\x01\x02\x03\x04\x05\xff", 6));
  kiln_buffer_t *b = nullptr;
  ASSERT_EQ(kiln_idx_read(path.c_str(), KILN_F32, -1, &b), nullptr);
  ASSERT_EQ(kiln_buffer_rank(b), 2);
  EXPECT_EQ(kiln_buffer_shape(b)[0], 3);
  EXPECT_EQ(static_cast<float *>(kiln_buffer_host_data(b))[5], 255.0f);
  kiln_buffer_release(b);
  ASSERT_EQ(kiln_idx_read(path.c_str(), KILN_I64, 2, &b), nullptr);
  EXPECT_EQ(kiln_buffer_shape(b)[0], 2);
  EXPECT_EQ(static_cast<int64_t *>(kiln_buffer_host_data(b))[3], 4);
  kiln_buffer_release(b);
  writeFile(path, std::string("\0\0\x08\x01\0\0\0\x09\x01", 9));
  std::string m = describe(kiln_idx_read(path.c_str(), KILN_F32, -1, &b));
  EXPECT_TRUE(contains(m, "the data is truncated (expected 9 bytes)")) << m;
  writeFile(path, std::string("\0\0\x0d\x01", 4));
  m = describe(kiln_idx_read(path.c_str(), KILN_F32, -1, &b));
  EXPECT_TRUE(contains(m, "does not announce unsigned bytes")) << m;
  EXPECT_EQ(code(kiln_idx_read(tempPath("none.gz").c_str(), KILN_F32, -1, &b)),
            KILN_NOT_FOUND);
  m = describe(kiln_idx_read(path.c_str(), KILN_I1, -1, &b));
  EXPECT_TRUE(contains(m, "is not f32, f64, i32 or i64")) << m;
}

//===----------------------------------------------------------------------===//
// The shared library itself
//===----------------------------------------------------------------------===//

TEST(Library, LinksOnlySystemLibraries) {
  std::string out = capture("ldd " KILN_RUNTIME_LIBRARY_PATH " 2>&1");
  ASSERT_FALSE(out.empty());
  std::istringstream lines(out);
  std::string line;
  const char *allowed[] = {"linux-vdso.so", "libc.so",     "libstdc++.so",
                           "libm.so",       "libgcc_s.so", "libdl.so",
                           "libpthread.so", "ld-linux",    "librt.so",
                           "libclang_rt.",  "libasan.so",  "libubsan.so",
                           "libz.so"};
  while (std::getline(lines, line)) {
    bool ok = false;
    for (const char *name : allowed)
      ok = ok || contains(line, name);
    EXPECT_TRUE(ok) << "unexpected dependency: " << line;
  }
}

TEST(Library, ExportsOnlyTheCApi) {
  std::string out =
      capture("nm -D --defined-only " KILN_RUNTIME_LIBRARY_PATH " 2>/dev/null");
  if (out.empty())
    GTEST_SKIP() << "nm is not available";
  std::istringstream lines(out);
  std::string address, type, name;
  int count = 0;
  while (lines >> address >> type >> name) {
    EXPECT_EQ(name.rfind("kiln_", 0), 0u) << "exported: " << name;
    ++count;
  }
  EXPECT_EQ(count, 68);
}

} // namespace
