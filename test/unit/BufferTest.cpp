//===- BufferTest.cpp - Tests of buffers and the pool ---------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Buffers and the buffer pool (Buffer.cpp): creation, queries, errors,
// wrapping, kiln_buffer_data and kiln_buffer_copy on the host, the size
// classes, reuse, thread safety and the cache limit (in a child process).
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Runtime.h"

#include "RuntimeTestUtils.h"

#include "gtest/gtest.h"

#include <cstdio>
#include <fstream>
#include <string>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace kiln::runtime::test;

namespace {

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
  EXPECT_EQ(code(kiln_buffer_create(kCpu, static_cast<kiln_dtype_t>(12), 1,
                                    shape, &b)),
            KILN_INVALID_ARGUMENT);
  kiln_status_t s = kiln_buffer_create(kiln_device_t{KILN_DEVICE_CUDA, 1},
                                       KILN_F32, 1, shape, &b);
  EXPECT_EQ(kiln_status_code(s), KILN_UNAVAILABLE);
  // DeviceTest.cpp points KILN_CUDA_DRIVER at a file that does not exist.
  EXPECT_TRUE(contains(message(s), "device cuda:1 is not available: no CUDA "
                                   "driver: cannot load "
                                   "/nonexistent/libcuda.so.1"));
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

/// Kilobytes of transparent huge pages backing the mapping that holds
/// `address` (its AnonHugePages line in /proc/self/smaps), or -1.
long hugePagesAt(const void *address) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  auto at = reinterpret_cast<uintptr_t>(address);
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t begin = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &begin, &end) == 2 &&
        line.find('-') < line.find(' ')) {
      inside = begin <= at && at < end;
      continue;
    }
    long kb = 0;
    if (inside && std::sscanf(line.c_str(), "AnonHugePages: %ld kB", &kb) == 1)
      return kb;
  }
  return -1;
}

/// Whether the kernel gives transparent huge pages to memory that asks.
bool hugePagesOnRequest() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  std::getline(f, modes);
  return modes.find("[always]") != std::string::npos ||
         modes.find("[madvise]") != std::string::npos;
}

TEST(Pool, LargeBlocksOnHugePages) {
  kiln_pool_trim();
  int64_t shape[] = {4 << 20}; // 16 MiB of f32
  kiln_buffer_t *a = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 1, shape, &a), nullptr);
  auto *data = static_cast<float *>(kiln_buffer_host_data(a));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(data) % (2 << 20), 0u);
  for (int64_t i = 0; i < shape[0]; i += 1024)
    data[i] = 1.0f; // first touch
  if (hugePagesOnRequest())
    EXPECT_GT(hugePagesAt(data), 0)
        << "a 16 MiB pooled block has no transparent huge page";
  // A small block keeps the ordinary alignment (no 2 MiB of waste).
  int64_t small[] = {1000};
  kiln_buffer_t *b = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 1, small, &b), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(kiln_buffer_host_data(b)) % 64, 0u);
  kiln_buffer_release(b);
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

TEST(Buffer, DataIsTheDeviceAddress) {
  int64_t shape[] = {3};
  kiln_buffer_t *pooled = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_I32, 1, shape, &pooled), nullptr);
  ASSERT_NE(kiln_buffer_data(pooled), nullptr);
  // On the CPU, the device address is the host address.
  EXPECT_EQ(kiln_buffer_data(pooled), kiln_buffer_host_data(pooled));
  kiln_buffer_release(pooled);

  int32_t values[3] = {1, 2, 3};
  kiln_buffer_t *wrapped = nullptr;
  ASSERT_EQ(kiln_buffer_wrap_host(KILN_I32, 1, shape, values, nullptr, nullptr,
                                  &wrapped),
            nullptr);
  EXPECT_EQ(kiln_buffer_data(wrapped), values);
  kiln_buffer_release(wrapped);
  int64_t empty[] = {0};
  ASSERT_EQ(kiln_buffer_wrap_host(KILN_I32, 1, empty, nullptr, nullptr, nullptr,
                                  &wrapped),
            nullptr);
  EXPECT_EQ(kiln_buffer_data(wrapped), nullptr);
  kiln_buffer_release(wrapped);
}

TEST(Buffer, CopyBetweenHostBuffers) {
  int64_t shape[] = {2, 3};
  float source[6] = {1, 2, 3, 4, 5, 6};
  kiln_buffer_t *src = nullptr, *dst = nullptr;
  ASSERT_EQ(
      kiln_buffer_wrap_host(KILN_F32, 2, shape, source, nullptr, nullptr, &src),
      nullptr);
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 2, shape, &dst), nullptr);
  ASSERT_EQ(kiln_buffer_copy(dst, src), nullptr);
  EXPECT_EQ(std::memcmp(kiln_buffer_host_data(dst), source, sizeof source), 0);
  // Onto itself: nothing happens.
  EXPECT_EQ(kiln_buffer_copy(dst, dst), nullptr);
  EXPECT_EQ(static_cast<float *>(kiln_buffer_host_data(dst))[5], 6.0f);

  // Overlapping wrapped buffers copy as if through a temporary.
  int32_t overlapping[5] = {1, 2, 3, 4, 5};
  int64_t four[] = {4};
  kiln_buffer_t *low = nullptr, *high = nullptr;
  ASSERT_EQ(kiln_buffer_wrap_host(KILN_I32, 1, four, overlapping, nullptr,
                                  nullptr, &low),
            nullptr);
  ASSERT_EQ(kiln_buffer_wrap_host(KILN_I32, 1, four, overlapping + 1, nullptr,
                                  nullptr, &high),
            nullptr);
  ASSERT_EQ(kiln_buffer_copy(high, low), nullptr);
  EXPECT_EQ(overlapping[4], 4);
  EXPECT_EQ(overlapping[1], 1);
  kiln_buffer_release(low);
  kiln_buffer_release(high);

  // Empty buffers copy nothing (and may have NULL data).
  int64_t empty[] = {0, 3};
  kiln_buffer_t *none = nullptr, *alsoNone = nullptr;
  ASSERT_EQ(kiln_buffer_wrap_host(KILN_F32, 2, empty, nullptr, nullptr, nullptr,
                                  &none),
            nullptr);
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 2, empty, &alsoNone), nullptr);
  EXPECT_EQ(kiln_buffer_copy(alsoNone, none), nullptr);
  EXPECT_EQ(kiln_buffer_copy(none, alsoNone), nullptr);
  kiln_buffer_release(none);
  kiln_buffer_release(alsoNone);

  // Mismatches name both sides.
  int64_t transposed[] = {3, 2};
  kiln_buffer_t *other = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 2, transposed, &other), nullptr);
  EXPECT_EQ(describe(kiln_buffer_copy(other, src)),
            "1: kiln_buffer_copy: the source is f32 [2, 3] but the "
            "destination is f32 [3, 2]");
  kiln_buffer_release(other);
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_I32, 2, shape, &other), nullptr);
  EXPECT_EQ(describe(kiln_buffer_copy(other, src)),
            "1: kiln_buffer_copy: the source is f32 [2, 3] but the "
            "destination is i32 [2, 3]");
  kiln_buffer_release(other);
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 1, shape, &other), nullptr);
  EXPECT_EQ(code(kiln_buffer_copy(other, src)), KILN_INVALID_ARGUMENT);
  kiln_buffer_release(other);
  EXPECT_EQ(describe(kiln_buffer_copy(nullptr, src)),
            "1: kiln_buffer_copy: the destination is NULL");
  EXPECT_EQ(describe(kiln_buffer_copy(dst, nullptr)),
            "1: kiln_buffer_copy: the source is NULL");
  kiln_buffer_release(src);
  kiln_buffer_release(dst);
}

} // namespace
