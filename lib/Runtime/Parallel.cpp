//===- Parallel.cpp - The runtime's thread pool ---------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Compiled code runs the iterations of its parallel loops (the cache tiles of
// a contraction, chunks of an elementwise loop) through kiln_parallel_for.
// One pool per process: `threads - 1` workers and the calling thread share
// the iterations of one loop at a time. Each thread owns a contiguous range
// of the iterations and claims blocks of it from an atomic counter, then
// helps with what is left of the others' ranges. Every iteration writes its own part of the
// output, so results do not depend on which thread ran what: they are
// bitwise identical for any thread count.
//
// A loop started while another runs (from a worker, or from a second
// calling thread) runs on its caller alone. Idle workers spin for a
// millisecond before they sleep, because a training step starts many short
// loops back to back and waking a sleeping thread costs tens of
// microseconds (sometimes over a hundred on a virtual machine). The caller
// waits only for iterations a worker has claimed: a worker that wakes up
// after the caller has claimed the last iteration does not hold it up.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sched.h>

namespace {

using Body = void (*)(void *, int64_t, int64_t);

} // namespace

int kiln::runtime::availableCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int count = CPU_COUNT(&set);
    if (count > 0)
      return count;
  }
  unsigned hardware = std::thread::hardware_concurrency();
  return hardware ? static_cast<int>(hardware) : 1;
}

namespace {

/// The thread count from KILN_NUM_THREADS, else the available CPUs.
int initialThreads() {
  if (const char *text = std::getenv("KILN_NUM_THREADS")) {
    char *end = nullptr;
    long value = std::strtol(text, &end, 10);
    if (end != text && *end == '\0' && value >= 1 && value <= 1024)
      return static_cast<int>(value);
  }
  return kiln::runtime::availableCpus();
}

thread_local bool insideLoop = false;
thread_local kiln::runtime::CheckSlot *checks = nullptr;

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
    if (count == 1 || threads() == 1 || insideLoop || count > 0xffffffffLL) {
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
    // Publish the loop (under the lock a joining worker takes to read it),
    // then wake the workers.
    int helpers = static_cast<int>(
        std::min<int64_t>(count - 1, static_cast<int64_t>(workers.size())));
    done.store(0, std::memory_order_relaxed);
    Job current;
    {
      std::lock_guard<std::mutex> guard(sleepLock);
      uint64_t id = generation.load(std::memory_order_relaxed) + 1;
      int parts = static_cast<int>(workers.size()) + 1;
      // Iterations are claimed in blocks (see claimSize), a quarter of what
      // is left of a range at a time and at least an eighth of this grain:
      // a claim is an atomic update, too costly per iteration when an
      // iteration is a microsecond (a row of a convolution), while short
      // last blocks even out a late or slow thread. Measured against fixed
      // blocks of the grain: ~2.5% faster CNN step on two threads.
      int64_t grain = std::max<int64_t>(1, count / (8 * parts));
      current = Job{body, context, count, id, grain, parts, checks};
      job = current;
      for (int part = 0; part < parts; ++part)
        ranges[part].next.store((id << 32) |
                                    static_cast<uint64_t>(current.start(part)),
                                std::memory_order_release);
      joinable = helpers;
      generation.store(id, std::memory_order_release);
    }
    wake.notify_all();
    insideLoop = true;
    work(current, 0);
    insideLoop = false;
    // Wait for the iterations other threads claimed; a worker that wakes up
    // late finds none left and does not hold the loop up. The wait is
    // usually a few microseconds: spin first (a yield is a system call,
    // which costs about as much on a virtual machine), then yield in case
    // the worker shares this CPU.
    for (int spin = 0; done.load(std::memory_order_acquire) != count; ++spin) {
      if (spin < 4096) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  }

private:
  struct Job {
    Body body = nullptr;
    void *context = nullptr;
    int64_t count = 0;
    uint64_t id = 0; // the generation that published it
    int64_t grain = 1; // iterations per claim
    int parts = 1;     // one contiguous range of iterations per thread
    kiln::runtime::CheckSlot *checks = nullptr; // the caller's (see Internal.h)

    int64_t start(int part) const { return count * part / parts; }
  };

  /// The next unclaimed iteration of one thread's range, on a cache line of
  /// its own: the loop's generation (high 32 bits) and the iteration (low
  /// 32 bits), so a worker still holding an older loop can never claim an
  /// iteration of a newer one.
  struct alignas(64) Range {
    std::atomic<uint64_t> next{0};
  };

  /// The iterations to claim from a range with `left` unclaimed ones: a
  /// quarter of them (few claims while much is left), down to an eighth of
  /// the loop's block, so that the last blocks are short and the threads
  /// finish together (the caller waits for the blocks others still run).
  static int64_t claimSize(const Job &loop, int64_t left) {
    return std::max<int64_t>(std::max<int64_t>(1, loop.grain / 8), left / 4);
  }

  /// Runs blocks of iterations of `loop`: first those of range `part`, then,
  /// once it is exhausted, what is left of the others (a late or slow
  /// thread's). Each thread starting on its own contiguous range keeps the
  /// same part of the data on the same core from one loop to the next
  /// (consecutive loops usually split the same batch dimension), where a
  /// single shared counter handed the blocks out in arrival order and made
  /// the cores exchange cache lines: on two threads, the memory-bound loops
  /// of a CNN step took 2-2.5 times the CPU time of one thread.
  void work(const Job &loop, int part) {
    // Checks that fail in this loop report to its caller's call.
    kiln::runtime::CheckSlot *saved = checks;
    checks = loop.checks;
    struct Restore {
      kiln::runtime::CheckSlot *&slot, *value;
      ~Restore() { slot = value; }
    } restore{checks, saved};
    uint64_t mine = loop.id & 0xffffffffu;
    for (int i = 0; i < loop.parts; ++i) {
      int range = (part + i) % loop.parts;
      int64_t last = loop.start(range + 1);
      std::atomic<uint64_t> &next = ranges[range].next;
      for (;;) {
        uint64_t t = next.load(std::memory_order_acquire);
        int64_t begin, end;
        do {
          begin = static_cast<int64_t>(t & 0xffffffffu);
          if ((t >> 32) != mine)
            return; // a newer loop
          if (begin >= last)
            break;
          end = std::min(last, begin + claimSize(loop, last - begin));
        } while (!next.compare_exchange_weak(
            t, t + static_cast<uint64_t>(end - begin),
            std::memory_order_acq_rel));
        if (begin >= last)
          break;
        loop.body(loop.context, begin, end);
        done.fetch_add(end - begin, std::memory_order_acq_rel);
      }
    }
  }

  void startWorkers() {
    int count = threads() - 1;
    if (static_cast<int>(workers.size()) == count)
      return;
    // A worker starts from the generation before the loop about to be
    // published (it may start running after the publication).
    uint64_t current = generation.load(std::memory_order_acquire);
    if (rangeCount < count + 1) {
      ranges = std::make_unique<Range[]>(count + 1);
      rangeCount = count + 1;
    }
    for (int i = static_cast<int>(workers.size()); i < count; ++i)
      workers.emplace_back(
          [this, current, i] { workerLoop(current, /*part=*/i + 1); });
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

  void workerLoop(uint64_t seen, int part) {
    insideLoop = true;
    for (;;) {
      // Spin for a while (a new loop usually follows shortly), then sleep.
      uint64_t now = seen;
      auto until =
          std::chrono::steady_clock::now() + std::chrono::microseconds(1000);
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
      Job loop = job;
      lock.unlock();
      work(loop, part);
    }
  }

  std::atomic<int> wanted;
  std::mutex run; // held by the thread whose loop runs
  std::vector<std::thread> workers;
  Job job; // the current loop (under sleepLock)
  std::unique_ptr<Range[]> ranges; // one per thread (workers + caller)
  int rangeCount = 0;
  std::atomic<int64_t> done{0}; // iterations of the current loop finished
  std::mutex sleepLock;         // guards job, joinable, stopping
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

kiln::runtime::CheckSlot *kiln::runtime::currentChecks() { return checks; }

void kiln::runtime::setCurrentChecks(CheckSlot *slot) { checks = slot; }

void kiln::runtime::reportFailure(kiln_status_code_t code,
                                  std::string message) {
  CheckSlot *slot = checks;
  if (!slot) {
    // Not inside a call the runtime made (a hand-written caller of the
    // compiled function): say it, do not stop the process.
    std::fprintf(stderr, "kiln: compiled code failed: %s\n",
                 message.c_str());
    return;
  }
  if (!slot->failed.exchange(true, std::memory_order_acq_rel)) {
    slot->code = code;
    slot->message = std::move(message);
  }
}

extern "C" {

KILN_RUNTIME_EXPORT void kiln_parallel_for(void (*body)(void *, int64_t,
                                                        int64_t),
                                           void *context, int64_t count) {
  pool().parallelFor(body, context, count);
}

KILN_RUNTIME_EXPORT int32_t kiln_num_threads(void) { return pool().threads(); }

KILN_RUNTIME_EXPORT void kiln_check_failed(int64_t message, int64_t length,
                                           int64_t value, int64_t bound) {
  std::string text(reinterpret_cast<const char *>(message),
                   static_cast<size_t>(length));
  if (bound >= 0)
    text += " (" + std::to_string(value) + " is not in [0, " +
            std::to_string(bound) + "))";
  kiln::runtime::reportFailure(KILN_INVALID_ARGUMENT, std::move(text));
}

KILN_RUNTIME_EXPORT kiln_status_t kiln_set_num_threads(int32_t count) {
  if (count < 1 || count > 1024)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "thread count %d is not between 1 and 1024",
                              static_cast<int>(count));
  pool().setThreads(count);
  return nullptr;
}

} // extern "C"
