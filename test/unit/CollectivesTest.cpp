//===- CollectivesTest.cpp - Tests of the runtime's collectives -----------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Collectives.cpp in a world of one process (no mpirun, MPI never loaded):
// started all-reduces on the communication thread (forced on with
// KILN_COLLECTIVE_OVERLAP=1) from several threads at once, mixed with
// blocking ones, and a wait for a buffer nobody started. The collectives
// between processes are tested under mpirun by
// test/integration/test_collectives.py.
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Runtime.h"

#include "gtest/gtest.h"

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

/// A rank-1 memref descriptor over `data` (what compiled code passes).
struct Descriptor1 {
  float *allocated, *aligned;
  int64_t offset, size, stride;
};

const std::string kGroup = "world";
const std::string kWhere = "test.mlir:1:1: kiln.all_reduce";

int64_t address(const std::string &text) {
  return static_cast<int64_t>(reinterpret_cast<intptr_t>(text.data()));
}
int64_t length(const std::string &text) {
  return static_cast<int64_t>(text.size());
}

void start(Descriptor1 &d, int64_t reduction) {
  kiln_all_reduce_start_f32(reduction, address(kGroup), length(kGroup),
                            address(kWhere), length(kWhere), 1, &d);
}
void done(Descriptor1 &d) {
  kiln_all_reduce_done_f32(address(kGroup), length(kGroup), address(kWhere),
                           length(kWhere), 1, &d);
}
void blocking(Descriptor1 &d, int64_t reduction) {
  kiln_all_reduce_f32(reduction, address(kGroup), length(kGroup),
                      address(kWhere), length(kWhere), 1, &d);
}

TEST(Collectives, StartedAllReducesFromManyThreadsInAGroupOfOne) {
  // Read once, at the first start: the communication thread is used.
  setenv("KILN_COLLECTIVE_OVERLAP", "1", 1);
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t, &wrong] {
      for (int i = 0; i < 200; ++i) {
        // Two in flight at once, every other time a blocking one between
        // (it waits for the started ones first), then both waited for.
        std::vector<float> a(1000 + i, float(t + i)), b(7, -1.5f);
        std::vector<float> c(3, 2.0f);
        Descriptor1 da{a.data(), a.data(), 0, int64_t(a.size()), 1};
        Descriptor1 db{b.data(), b.data(), 0, int64_t(b.size()), 1};
        Descriptor1 dc{c.data(), c.data(), 0, int64_t(c.size()), 1};
        start(da, /*sum*/ 0);
        start(db, /*mean*/ 1);
        if (i % 2)
          blocking(dc, /*max*/ 2);
        done(db);
        done(da);
        // One process: every reduction is the identity.
        for (float v : a)
          wrong[t] += v != float(t + i);
        for (float v : b)
          wrong[t] += v != -1.5f;
        for (float v : c)
          wrong[t] += v != 2.0f;
      }
    });
  for (std::thread &thread : threads)
    thread.join();
  for (int t = 0; t < 4; ++t)
    EXPECT_EQ(wrong[t], 0) << "thread " << t;
}

TEST(Collectives, WaitingForABufferNobodyStartedIsReported) {
  std::vector<float> a(4, 1.0f);
  Descriptor1 d{a.data(), a.data(), 0, 4, 1};
  // Outside a call the runtime made, the failure goes to standard error.
  testing::internal::CaptureStderr();
  done(d);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("test.mlir:1:1: kiln.all_reduce: no all-reduce was "
                     "started on this buffer"),
            std::string::npos)
      << err;
}

} // namespace
