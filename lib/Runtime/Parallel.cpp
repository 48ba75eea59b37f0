//===- Parallel.cpp - The runtime's thread pool ---------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Compiled code runs the iterations of its parallel loops (the cache tiles of
// a contraction, chunks of an elementwise loop) through kiln_parallel_for.
// One pool per process: `threads - 1` workers and the calling thread share
// the iterations of one loop at a time, each claiming the next iteration
// from an atomic counter. Every iteration writes its own part of the
// output, so results do not depend on which thread ran what: they are
// bitwise identical for any thread count.
//
// A loop started while another runs (from a worker, or from a second
// calling thread) runs on its caller alone. Idle workers spin briefly
// before they sleep, because a training step starts many short loops back
// to back and waking a sleeping thread costs tens of microseconds.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include <sched.h>

namespace {

using Body = void (*)(void *, int64_t, int64_t);

/// CPUs this process may run on (its affinity mask), at least 1.
int availableCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int count = CPU_COUNT(&set);
    if (count > 0)
      return count;
  }
  unsigned hardware = std::thread::hardware_concurrency();
  return hardware ? static_cast<int>(hardware) : 1;
}

/// The thread count from KILN_NUM_THREADS, else the available CPUs.
int initialThreads() {
  if (const char *text = std::getenv("KILN_NUM_THREADS")) {
    char *end = nullptr;
    long value = std::strtol(text, &end, 10);
    if (end != text && *end == '\0' && value >= 1 && value <= 1024)
      return static_cast<int>(value);
  }
  return availableCpus();
}

thread_local bool insideLoop = false;

class Pool {
public:
  Pool() : wanted(initialThreads()) {}

  int threads() const { return wanted.load(std::memory_order_relaxed); }

  void setThreads(int count) {
    std::lock_guard<std::mutex> lock(run);
    stopWorkers();
    wanted.store(count, std::memory_order_relaxed);
  }

  void parallelFor(Body body, void *context, int64_t count) {
    if (count <= 0)
      return;
    if (count == 1 || threads() == 1 || insideLoop) {
      body(context, 0, count);
      return;
    }
    std::unique_lock<std::mutex> lock(run, std::try_to_lock);
    if (!lock.owns_lock()) {
      // Another thread's loop has the workers: this one runs alone.
      body(context, 0, count);
      return;
    }
    startWorkers();
    // Publish the loop, then wake the workers.
    job.body = body;
    job.context = context;
    job.count = count;
    next.store(0, std::memory_order_relaxed);
    int helpers = static_cast<int>(
        std::min<int64_t>(count - 1, static_cast<int64_t>(workers.size())));
    pending.store(helpers, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> guard(sleepLock);
      joinable = helpers;
      generation.fetch_add(1, std::memory_order_release);
    }
    wake.notify_all();
    insideLoop = true;
    work();
    insideLoop = false;
    // Wait for the helpers to finish their last iteration.
    while (pending.load(std::memory_order_acquire) != 0)
      std::this_thread::yield();
  }

private:
  struct Job {
    Body body = nullptr;
    void *context = nullptr;
    int64_t count = 0;
  };

  /// Claims and runs iterations until none is left.
  void work() {
    for (;;) {
      int64_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= job.count)
        return;
      job.body(job.context, i, i + 1);
    }
  }

  void startWorkers() {
    int count = threads() - 1;
    if (static_cast<int>(workers.size()) == count)
      return;
    // A worker starts from the generation before the loop about to be
    // published (it may start running after the publication).
    uint64_t current = generation.load(std::memory_order_acquire);
    for (int i = static_cast<int>(workers.size()); i < count; ++i)
      workers.emplace_back([this, current] { workerLoop(current); });
  }

  /// Called with `run` held.
  void stopWorkers() {
    {
      std::lock_guard<std::mutex> guard(sleepLock);
      stopping = true;
      generation.fetch_add(1, std::memory_order_release);
    }
    wake.notify_all();
    for (std::thread &worker : workers)
      worker.join();
    workers.clear();
    stopping = false;
  }

  void workerLoop(uint64_t seen) {
    insideLoop = true;
    for (;;) {
      // Spin for a while (a new loop usually follows shortly), then sleep.
      uint64_t now = seen;
      auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
      for (int spin = 0;; ++spin) {
        now = generation.load(std::memory_order_acquire);
        if (now != seen ||
            ((spin & 63) == 0 && std::chrono::steady_clock::now() > until))
          break;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
      std::unique_lock<std::mutex> lock(sleepLock);
      if (now == seen)
        wake.wait(lock, [&] {
          return generation.load(std::memory_order_acquire) != seen;
        });
      seen = generation.load(std::memory_order_acquire);
      if (stopping)
        return;
      // Only as many workers as the loop has spare iterations join it.
      if (joinable == 0)
        continue;
      --joinable;
      lock.unlock();
      work();
      pending.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  std::atomic<int> wanted;
  std::mutex run;                 // held by the thread whose loop runs
  std::vector<std::thread> workers;
  Job job;
  std::atomic<int64_t> next{0};
  std::atomic<int> pending{0};
  std::mutex sleepLock;           // guards joinable, stopping, sleeping
  std::condition_variable wake;
  std::atomic<uint64_t> generation{0};
  int joinable = 0;
  bool stopping = false;
};

Pool &pool() {
  // Never destroyed: compiled code may still run a loop while the process
  // exits (another thread, a static destructor), and joining workers from
  // a destructor at exit can deadlock.
  static Pool *instance = new Pool();
  return *instance;
}

} // namespace

extern "C" {

KILN_RUNTIME_EXPORT void kiln_parallel_for(void (*body)(void *, int64_t,
                                                        int64_t),
                                           void *context, int64_t count) {
  pool().parallelFor(body, context, count);
}

KILN_RUNTIME_EXPORT int32_t kiln_num_threads(void) { return pool().threads(); }

KILN_RUNTIME_EXPORT kiln_status_t kiln_set_num_threads(int32_t count) {
  if (count < 1 || count > 1024)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "thread count %d is not between 1 and 1024",
                              static_cast<int>(count));
  pool().setThreads(count);
  return nullptr;
}

} // extern "C"
