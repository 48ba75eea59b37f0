//===- ParallelTest.cpp - Tests of the runtime's thread pool --------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln_parallel_for and the thread count (Parallel.cpp).
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Runtime.h"

#include "gtest/gtest.h"

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

/// What each iteration records: how often it ran and on which thread.
struct Visits {
  std::vector<std::atomic<int>> counts;
  std::vector<std::thread::id> threads;
  explicit Visits(size_t n) : counts(n), threads(n) {}
};

void visit(void *context, int64_t begin, int64_t end) {
  auto *visits = static_cast<Visits *>(context);
  for (int64_t i = begin; i < end; ++i) {
    visits->counts[i].fetch_add(1);
    visits->threads[i] = std::this_thread::get_id();
    // Enough work per iteration that the workers get a share.
    volatile double x = 1;
    for (int k = 0; k < 20000; ++k)
      x = x * 1.0000001;
  }
}

/// Restores the default thread count after each test.
class Parallel : public ::testing::Test {
protected:
  void SetUp() override { initial = kiln_num_threads(); }
  void TearDown() override { ASSERT_EQ(kiln_set_num_threads(initial), nullptr); }
  int32_t initial = 1;
};

TEST_F(Parallel, EveryIterationRunsOnceForAnyThreadCount) {
  for (int32_t threads : {1, 2, 3, 8}) {
    ASSERT_EQ(kiln_set_num_threads(threads), nullptr);
    EXPECT_EQ(kiln_num_threads(), threads);
    // 1001: claimed in blocks of many iterations, the last one partial.
    for (int64_t n : {0, 1, 2, 7, 100, 1001}) {
      Visits visits(n);
      kiln_parallel_for(visit, &visits, n);
      for (int64_t i = 0; i < n; ++i)
        EXPECT_EQ(visits.counts[i].load(), 1)
            << "iteration " << i << " of " << n << " with " << threads;
    }
  }
}

TEST_F(Parallel, OneThreadRunsOnTheCaller) {
  ASSERT_EQ(kiln_set_num_threads(1), nullptr);
  Visits visits(16);
  kiln_parallel_for(visit, &visits, 16);
  for (const std::thread::id &id : visits.threads)
    EXPECT_EQ(id, std::this_thread::get_id());
}

TEST_F(Parallel, WorkersShareTheIterations) {
  ASSERT_EQ(kiln_set_num_threads(4), nullptr);
  // Many slow iterations: the workers (spinning or woken) take some. The
  // caller alone would run them all; more than one thread must appear.
  Visits visits(256);
  kiln_parallel_for(visit, &visits, 256);
  std::set<std::thread::id> seen(visits.threads.begin(), visits.threads.end());
  EXPECT_GT(seen.size(), 1u);
}

struct Nested {
  std::atomic<int> inner{0};
};

void innerBody(void *context, int64_t begin, int64_t end) {
  static_cast<Nested *>(context)->inner.fetch_add(int(end - begin));
}

void outerBody(void *context, int64_t, int64_t) {
  // A loop inside a loop runs on the thread that started it.
  kiln_parallel_for(innerBody, context, 10);
}

TEST_F(Parallel, NestedLoopsRunInline) {
  ASSERT_EQ(kiln_set_num_threads(3), nullptr);
  Nested nested;
  kiln_parallel_for(outerBody, &nested, 20);
  EXPECT_EQ(nested.inner.load(), 200);
}

/// A loop of tiny iterations that each add their own index to a sum: a
/// worker that ran an iteration of an earlier loop with this loop's body
/// (or the reverse) would change the sum.
struct Tally {
  std::atomic<int64_t> sum{0};
  int64_t tag = 0;
};

void tally(void *context, int64_t begin, int64_t end) {
  auto *t = static_cast<Tally *>(context);
  for (int64_t i = begin; i < end; ++i)
    t->sum.fetch_add(t->tag * 1000 + i);
}

TEST_F(Parallel, ShortLoopsBackToBackNeverMixUp) {
  // Thousands of loops too short for a worker to join them all: workers
  // that wake late must neither run a finished loop's iterations nor keep
  // the caller waiting, and each loop must run exactly its own iterations.
  ASSERT_EQ(kiln_set_num_threads(2), nullptr);
  constexpr int64_t rounds = 5000;
  std::vector<Tally> tallies(rounds);
  auto countOf = [](int64_t round) { return 2 + round % 7; };
  for (int64_t round = 0; round < rounds; ++round) {
    tallies[round].tag = round;
    kiln_parallel_for(tally, &tallies[round], countOf(round));
  }
  for (int64_t round = 0; round < rounds; ++round) {
    int64_t expected = 0;
    for (int64_t i = 0; i < countOf(round); ++i)
      expected += round * 1000 + i;
    ASSERT_EQ(tallies[round].sum.load(), expected) << "loop " << round;
  }
}

TEST_F(Parallel, LoopsFromSeveralThreadsAtOnce) {
  ASSERT_EQ(kiln_set_num_threads(2), nullptr);
  // Each caller's loop completes whether or not it got the workers.
  std::vector<std::thread> callers;
  std::vector<Visits *> all;
  for (int t = 0; t < 4; ++t)
    all.push_back(new Visits(50));
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round)
        kiln_parallel_for(visit, all[t], 50);
    });
  for (std::thread &caller : callers)
    caller.join();
  for (Visits *visits : all) {
    for (const std::atomic<int> &count : visits->counts)
      EXPECT_EQ(count.load(), 5);
    delete visits;
  }
}

TEST_F(Parallel, ThreadCountsOutOfRangeAreErrors) {
  for (int32_t bad : {0, -1, 1025}) {
    kiln_status_t status = kiln_set_num_threads(bad);
    ASSERT_NE(status, nullptr);
    EXPECT_EQ(kiln_status_code(status), KILN_INVALID_ARGUMENT);
    EXPECT_NE(std::string(kiln_status_message(status)).find("between 1 and 1024"),
              std::string::npos);
    kiln_status_free(status);
  }
}

} // namespace
