//===- Collectives.cpp - Collectives over MPI, loaded at run time ---------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The collectives of compiled code (kiln.all_reduce, kiln.broadcast_from,
// kiln.all_gather, kiln.reduce_scatter, kiln.group_rank/size) and the host
// API that sets them up (kiln_collectives_init, kiln_group_define,
// kiln_group_info).
//
// MPI is Open MPI's libmpi.so.40 (or KILN_MPI_LIBRARY), opened with dlopen
// the first time a process launched by mpirun needs it: nothing links
// against MPI, and a process not launched by mpirun (no
// OMPI_COMM_WORLD_SIZE in its environment) is a world of one process that
// never loads it. Open MPI's handles are the addresses of its predefined
// objects (MPI_COMM_WORLD is &ompi_mpi_comm_world), found with dlsym; the
// library must be Open MPI's ABI.
//
// Every collective
//   - first checks, with one small all-reduce, that every process of the
//     group is running the same collective on the same type and shape (a
//     mismatch is an error on every process; KILN_COLLECTIVE_CHECKS=0 skips
//     it);
//   - runs as MPI's blocking collective (Open MPI's tuned algorithms; its
//     nonblocking ones were 1.5x slower on a 4 MB all-reduce) under a
//     watchdog: past KILN_COLLECTIVE_TIMEOUT seconds (600 by default) a
//     process has stopped or runs other code, MPI cannot cancel a
//     collective, and the process ends with a message naming the op, so
//     that mpirun ends the job;
//   - is deterministic for a fixed process count: Open MPI picks its
//     algorithm from the size of the message and of the group, and its
//     all-reduce algorithms (recursive doubling, ring, reduce-scatter +
//     all-gather) combine each element in the same order on every process,
//     so every process gets the same bits (the tests check it for 2 and 3
//     processes).
// Collectives are serialized by a mutex (MPI runs one at a time per
// communicator, in the same order on every process).
//
// kiln.all_reduce_start / kiln.all_reduce_done (kiln-overlap-collectives)
// overlap all-reduces with computation: a start hands its all-reduce to one
// communication thread and returns; the thread runs the started ones in
// the order they were started, reporting failures into the starting call's
// check slot; a done waits for the one on its buffer. Every other
// collective first waits until the started ones have finished, so the
// collectives run in program order on every process.
// The thread is used when the process has a CPU to spare beyond its
// compute threads; otherwise (and with KILN_COLLECTIVE_OVERLAP=0) each
// started all-reduce runs at its start. KILN_COLLECTIVE_OVERLAP=1 forces
// the thread.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Handle = void *;

/// Open MPI's constants (mpi.h of Open MPI 4 and 5).
constexpr int kThreadMultiple = 3;
constexpr int kUndefined = -32766;
constexpr int kSuccess = 0;
void *const kInPlace = reinterpret_cast<void *>(1); // MPI_IN_PLACE

/// The MPI functions and handles Kiln uses.
struct Mpi {
  int (*Initialized)(int *);
  int (*Finalized)(int *);
  int (*Init_thread)(int *, char ***, int, int *);
  int (*Finalize)();
  int (*Comm_rank)(Handle, int *);
  int (*Comm_size)(Handle, int *);
  int (*Comm_split)(Handle, int, int, Handle *);
  int (*Comm_set_errhandler)(Handle, Handle);
  int (*Allreduce)(const void *, void *, int, Handle, Handle, Handle);
  int (*Bcast)(void *, int, Handle, int, Handle);
  int (*Allgather)(const void *, int, Handle, void *, int, Handle, Handle);
  int (*Reduce_scatter_block)(const void *, void *, int, Handle, Handle,
                              Handle);
  int (*Error_string)(int, char *, int *);
  int (*Abort)(Handle, int);
  Handle commWorld, commNull, errorsReturn, opSum, opMax, opMin;
  Handle f32, f64, i32, i64;
};

/// One group: its communicator (null in a world of one process), this
/// process's rank and the size; rank -1 when this process is not in it.
struct Group {
  Handle comm = nullptr;
  int rank = 0;
  int size = 1;
};

enum class Reduction : int64_t { Sum = 0, Mean = 1, Max = 2, Min = 3 };
enum class Element { F32, F64, I32, I64 };

const char *elementName(Element e) {
  switch (e) {
  case Element::F32:
    return "f32";
  case Element::F64:
    return "f64";
  case Element::I32:
    return "i32";
  case Element::I64:
    return "i64";
  }
  return "?";
}

size_t elementSize(Element e) {
  return e == Element::F32 || e == Element::I32 ? 4 : 8;
}

struct State {
  std::mutex mutex; // held by every collective and every setup call
  bool ready = false;
  kiln_status_t failure = nullptr; // why setting up failed (kept)
  bool mpi = false;                // false: a world of one process
  bool initializedByUs = false;
  Mpi api{};
  std::map<std::string, Group> groups;
  double timeout = 600.0;
  bool checks = true;
  std::vector<char> scratch; // reused between calls (no page faults)
};

State &state() {
  static State *s = new State(); // never destroyed: atexit order
  return *s;
}

std::string mpiError(int code) {
  State &s = state();
  char text[512];
  int length = 0;
  if (s.api.Error_string &&
      s.api.Error_string(code, text, &length) == kSuccess && length > 0)
    return std::string(text, static_cast<size_t>(length));
  return "MPI error " + std::to_string(code);
}

void finalizeAtExit() {
  State &s = state();
  int finalized = 0;
  if (s.mpi && s.initializedByUs && s.api.Finalized(&finalized) == kSuccess &&
      !finalized)
    s.api.Finalize();
}

/// Loads MPI and sets up the world group; called with the mutex held.
kiln_status_t setUp() {
  State &s = state();
  if (s.ready)
    return nullptr;
  if (s.failure)
    return kiln_status_create(kiln_status_code(s.failure), "%s",
                              kiln_status_message(s.failure));
  if (const char *t = std::getenv("KILN_COLLECTIVE_TIMEOUT")) {
    char *end = nullptr;
    double seconds = std::strtod(t, &end);
    if (end == t || *end || !(seconds > 0))
      return kiln_status_create(KILN_INVALID_ARGUMENT,
                                "KILN_COLLECTIVE_TIMEOUT=%s is not a positive "
                                "number of seconds",
                                t);
    s.timeout = seconds;
  }
  if (const char *c = std::getenv("KILN_COLLECTIVE_CHECKS"))
    s.checks = std::strcmp(c, "0") != 0;
  const char *launched = std::getenv("OMPI_COMM_WORLD_SIZE");
  const char *path = std::getenv("KILN_MPI_LIBRARY");
  if (!launched && !path) {
    s.groups["world"] = Group{};
    s.ready = true;
    return nullptr;
  }
  if (!path)
    path = "libmpi.so.40";
  auto fail = [&](kiln_status_t status) {
    s.failure = status;
    return kiln_status_create(kiln_status_code(status), "%s",
                              kiln_status_message(status));
  };
  // RTLD_GLOBAL: Open MPI's plugins resolve symbols of libmpi.
  void *library = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
  if (!library)
    return fail(kiln_status_create(
        KILN_UNAVAILABLE,
        "collectives need MPI: cannot load %s (%s); install Open MPI "
        "(apt-get install openmpi-bin) or name the library "
        "in KILN_MPI_LIBRARY",
        path, dlerror()));
  Mpi &m = s.api;
  const char *missing = nullptr;
  auto find = [&](const char *name) -> void * {
    void *p = dlsym(library, name);
    if (!p && !missing)
      missing = name;
    return p;
  };
#define KILN_MPI_FUNCTION(name)                                                \
  m.name = reinterpret_cast<decltype(m.name)>(find("MPI_" #name))
  KILN_MPI_FUNCTION(Initialized);
  KILN_MPI_FUNCTION(Finalized);
  KILN_MPI_FUNCTION(Init_thread);
  KILN_MPI_FUNCTION(Finalize);
  KILN_MPI_FUNCTION(Comm_rank);
  KILN_MPI_FUNCTION(Comm_size);
  KILN_MPI_FUNCTION(Comm_split);
  KILN_MPI_FUNCTION(Comm_set_errhandler);
  KILN_MPI_FUNCTION(Allreduce);
  KILN_MPI_FUNCTION(Bcast);
  KILN_MPI_FUNCTION(Allgather);
  KILN_MPI_FUNCTION(Reduce_scatter_block);
  KILN_MPI_FUNCTION(Error_string);
  KILN_MPI_FUNCTION(Abort);
#undef KILN_MPI_FUNCTION
  m.commWorld = find("ompi_mpi_comm_world");
  m.commNull = find("ompi_mpi_comm_null");
  m.errorsReturn = find("ompi_mpi_errors_return");
  m.opSum = find("ompi_mpi_op_sum");
  m.opMax = find("ompi_mpi_op_max");
  m.opMin = find("ompi_mpi_op_min");
  m.f32 = find("ompi_mpi_float");
  m.f64 = find("ompi_mpi_double");
  m.i32 = find("ompi_mpi_int32_t");
  m.i64 = find("ompi_mpi_int64_t");
  if (missing)
    return fail(kiln_status_create(
        KILN_UNAVAILABLE,
        "%s is not Open MPI's library: it has no %s (Kiln uses Open MPI's "
        "ABI)",
        path, missing));
  int initialized = 0;
  m.Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    int rc = m.Init_thread(nullptr, nullptr, kThreadMultiple, &provided);
    if (rc != kSuccess)
      return fail(kiln_status_create(KILN_UNAVAILABLE,
                                     "MPI_Init_thread failed: %s",
                                     mpiError(rc).c_str()));
    s.initializedByUs = true;
    std::atexit(finalizeAtExit);
  }
  // Errors come back as codes (the default aborts the job).
  m.Comm_set_errhandler(m.commWorld, m.errorsReturn);
  Group world;
  world.comm = m.commWorld;
  m.Comm_rank(m.commWorld, &world.rank);
  m.Comm_size(m.commWorld, &world.size);
  s.groups["world"] = world;
  s.mpi = true;
  s.ready = true;
  return nullptr;
}

/// Ends the process when a collective runs past the timeout: MPI cannot
/// cancel a blocking collective, and a process that never arrives would
/// keep the others waiting forever. mpirun then stops the whole job (a
/// process exited with an error). One thread, started with the first
/// collective, looks every tenth of the timeout (10 ms to 1 s); arming and
/// disarming are two atomic stores (waking a thread per collective cost
/// 20 us when it shared the core).
class Watchdog {
public:
  void arm(const std::string *where, const std::string *group, int rank,
           double seconds) {
    if (!started.load(std::memory_order_acquire))
      start(seconds);
    this->where = where;
    this->group = group;
    this->rank = rank;
    since.store(now(), std::memory_order_release);
  }

  void disarm() { since.store(0, std::memory_order_release); }

private:
  static int64_t now() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
               .count() +
           1; // never 0 (0: disarmed)
  }

  void start(double seconds) {
    std::lock_guard<std::mutex> lock(mutex);
    if (started.load(std::memory_order_relaxed))
      return;
    this->seconds = seconds;
    std::thread([this] { watch(); }).detach();
    started.store(true, std::memory_order_release);
  }

  void watch() {
    auto period = std::chrono::duration<double>(
        std::min(1.0, std::max(0.01, seconds / 10)));
    for (;;) {
      std::this_thread::sleep_for(period);
      int64_t armed = since.load(std::memory_order_acquire);
      if (armed && (now() - armed) * 1e-9 > seconds) {
        std::fprintf(stderr,
                     "kiln: %s on process %d of group '%s' did not complete "
                     "in %g s: a process has stopped or is running other "
                     "collectives (KILN_COLLECTIVE_TIMEOUT); ending the "
                     "job\n",
                     where->c_str(), rank, group->c_str(), seconds);
        std::fflush(stderr);
        std::_Exit(1);
      }
    }
  }

  std::mutex mutex; // starting the thread
  std::atomic<bool> started{false};
  std::atomic<int64_t> since{0}; // when the running collective began
  // The running collective (written before `since`; collectives are
  // serialized, and the strings live until it returns).
  const std::string *where = nullptr, *group = nullptr;
  int rank = 0;
  double seconds = 0;
};

Watchdog &watchdog() {
  static Watchdog *w = new Watchdog(); // never destroyed: its thread runs on
  return *w;
}

Handle datatype(Element e) {
  Mpi &m = state().api;
  switch (e) {
  case Element::F32:
    return m.f32;
  case Element::F64:
    return m.f64;
  case Element::I32:
    return m.i32;
  case Element::I64:
    return m.i64;
  }
  return nullptr;
}

Handle mpiOp(Reduction r) {
  Mpi &m = state().api;
  return r == Reduction::Max ? m.opMax : r == Reduction::Min ? m.opMin
                                                             : m.opSum;
}

/// The ranked memref descriptor an unranked memref points to.
struct Descriptor {
  char *allocated;
  char *aligned;
  int64_t offset;
  int64_t rest[]; // sizes[rank], then strides[rank]
};

/// A contiguous buffer of compiled code (the lowering hands the runtime
/// fresh row-major buffers).
struct Buffer {
  char *data = nullptr;
  std::vector<int64_t> shape;
  int64_t count = 1;
};

Buffer view(int64_t rank, void *descriptor, Element e) {
  auto *d = static_cast<Descriptor *>(descriptor);
  Buffer b;
  b.data = d->aligned + d->offset * static_cast<int64_t>(elementSize(e));
  b.shape.assign(d->rest, d->rest + rank);
  for (int64_t extent : b.shape)
    b.count *= extent;
  return b;
}

std::string shapeText(const std::vector<int64_t> &shape, Element e) {
  std::string text = "tensor<";
  for (int64_t extent : shape)
    text += std::to_string(extent) + "x";
  return text + elementName(e) + ">";
}

/// One collective's call from compiled code.
struct Call {
  std::string where; // "file:line:col: kiln.all_reduce"
  std::string group;
  Group g;
  bool failed = false;

  Call(int64_t groupText, int64_t groupLength, int64_t whereText,
       int64_t whereLength)
      : where(reinterpret_cast<const char *>(whereText),
              static_cast<size_t>(whereLength)),
        group(reinterpret_cast<const char *>(groupText),
              static_cast<size_t>(groupLength)) {}

  void fail(kiln_status_code_t code, const std::string &why) {
    if (!failed)
      kiln::runtime::reportFailure(code, where + ": " + why);
    failed = true;
  }

  /// Sets up MPI and finds the group; false (reported) on failure.
  bool begin() {
    State &s = state();
    if (kiln_status_t status = setUp()) {
      fail(kiln_status_code(status), kiln_status_message(status));
      kiln_status_free(status);
      return false;
    }
    auto it = s.groups.find(group);
    if (it == s.groups.end()) {
      fail(KILN_INVALID_ARGUMENT,
           "no group '" + group +
               "' (define it with kiln_group_define or "
               "kiln.distribute.new_group first)");
      return false;
    }
    g = it->second;
    if (g.rank < 0) {
      fail(KILN_INVALID_ARGUMENT,
           "this process is not a member of group '" + group + "'");
      return false;
    }
    return true;
  }

  bool check(int rc) {
    if (rc != kSuccess)
      fail(KILN_UNAVAILABLE, "MPI failed: " + mpiError(rc));
    return rc == kSuccess;
  }

  /// Every process of the group runs the same collective on the same
  /// type and shape: compares a signature (and the element count, for the
  /// message) with one all-reduce of maxima.
  bool agree(uint64_t signature, int64_t count, const std::string &what) {
    State &s = state();
    if (!s.mpi || g.size == 1 || !s.checks)
      return true;
    int64_t sig = static_cast<int64_t>(signature >> 1);
    int64_t mine[4] = {sig, -sig, count, -count}, all[4];
    if (!run([&] {
          return s.api.Allreduce(mine, all, 4, s.api.i64, s.api.opMax,
                                 g.comm);
        }))
      return false;
    if (all[0] == -all[1])
      return true;
    fail(KILN_INVALID_ARGUMENT,
         std::string("the processes of group '") + group +
             "' disagree: this process (rank " + std::to_string(g.rank) +
             ") runs " + what + ", others run another collective or "
             "another type or shape (element counts from " +
             std::to_string(-all[3]) + " to " + std::to_string(all[2]) + ")");
    return false;
  }

  /// Runs one blocking MPI collective under the watchdog.
  template <typename F> bool run(F &&collective) {
    watchdog().arm(&where, &group, g.rank, state().timeout);
    int rc = collective();
    watchdog().disarm();
    return check(rc);
  }
};

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}

uint64_t signatureOf(const char *kind, Element e,
                     const std::vector<int64_t> &shape,
                     std::initializer_list<int64_t> extra) {
  uint64_t h = 1469598103934665603ull;
  for (const char *c = kind; *c; ++c)
    h = mix(h, static_cast<unsigned char>(*c));
  h = mix(h, static_cast<uint64_t>(e));
  h = mix(h, shape.size());
  for (int64_t extent : shape)
    h = mix(h, static_cast<uint64_t>(extent));
  for (int64_t v : extra)
    h = mix(h, static_cast<uint64_t>(v));
  return h;
}

template <typename T> void divide(char *data, int64_t count, int size) {
  T *v = reinterpret_cast<T *>(data);
  for (int64_t i = 0; i < count; ++i)
    v[i] = static_cast<T>(v[i] / static_cast<T>(size));
}

void divideBySize(char *data, int64_t count, int size, Element e) {
  if (e == Element::F32)
    divide<float>(data, count, size);
  else if (e == Element::F64)
    divide<double>(data, count, size);
}

char *scratch(size_t bytes) {
  std::vector<char> &s = state().scratch;
  if (s.size() < bytes)
    s.resize(bytes);
  return s.data();
}

bool countFits(int64_t count, Call &call) {
  if (count <= INT32_MAX)
    return true;
  call.fail(KILN_INVALID_ARGUMENT,
            "a collective of " + std::to_string(count) +
                " elements is larger than MPI's count (2^31 - 1)");
  return false;
}

/// The all-reduce of `b` in place (a mean is a sum divided by the size).
void allReduceBuffer(Call &call, Element e, int64_t reduction,
                     const Buffer &b) {
  auto r = static_cast<Reduction>(reduction);
  std::lock_guard<std::mutex> lock(state().mutex);
  if (!call.begin() ||
      !call.agree(signatureOf("all_reduce", e, b.shape, {reduction}),
                  b.count, "kiln.all_reduce of a " + shapeText(b.shape, e)))
    return;
  if (call.g.size == 1 || b.count == 0)
    return;
  if (!countFits(b.count, call))
    return;
  State &s = state();
  if (call.run([&] {
        return s.api.Allreduce(kInPlace, b.data, static_cast<int>(b.count),
                               datatype(e), mpiOp(r), call.g.comm);
      }) &&
      r == Reduction::Mean)
    divideBySize(b.data, b.count, call.g.size, e);
}

/// The communication thread of started all-reduces (see the top).
class Progress {
public:
  /// Runs `work` on the thread after the all-reduces started before it;
  /// `key` (the buffer) names it for finish(). Runs it now when overlap
  /// is off.
  void start(char *key, std::function<void()> work) {
    auto request = std::make_shared<Request>();
    request->work = std::move(work);
    std::unique_lock<std::mutex> lock(mutex);
    if (!overlap()) {
      lock.unlock();
      request->work();
      lock.lock();
      request->done = true;
      pending[key] = request;
      return;
    }
    if (!thread) {
      std::thread([this] { serve(); }).detach();
      thread = true;
    }
    pending[key] = request;
    queue.push_back(request);
    wake.notify_one();
  }

  /// Waits for the all-reduce started on `key`; false when none was.
  bool finish(char *key) {
    std::unique_lock<std::mutex> lock(mutex);
    auto it = pending.find(key);
    if (it == pending.end())
      return false;
    std::shared_ptr<Request> request = it->second;
    pending.erase(it);
    finished.wait(lock, [&] { return request->done; });
    return true;
  }

  /// Waits until every started all-reduce has run (before any other
  /// collective: the program's order).
  void drain() {
    std::unique_lock<std::mutex> lock(mutex);
    finished.wait(lock, [&] { return queue.empty() && !busy; });
  }

private:
  struct Request {
    std::function<void()> work;
    bool done = false; // under the mutex
  };

  bool overlap() {
    if (setting < 0) {
      const char *o = std::getenv("KILN_COLLECTIVE_OVERLAP");
      setting = o ? std::strcmp(o, "0") != 0 : coreToSpare();
    }
    return setting == 1;
  }

  /// Whether this process has a CPU its compute threads leave free for the
  /// communication thread: Open MPI's blocking all-reduce polls, so on a
  /// CPU the step computes on, the thread slows the step more than overlap
  /// gains (measured, docs/distributed.md). A process whose affinity is
  /// the whole machine shares it with the other processes on the node.
  static bool coreToSpare() {
    int cpus = kiln::runtime::availableCpus();
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (const char *local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE"))
      if (online > 0 && cpus >= online)
        cpus /= std::max(1, std::atoi(local));
    return cpus > kiln_num_threads();
  }

  void serve() {
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      wake.wait(lock, [&] { return !queue.empty(); });
      std::shared_ptr<Request> request = queue.front();
      queue.pop_front();
      busy = true;
      lock.unlock();
      request->work();
      lock.lock();
      busy = false;
      request->done = true;
      finished.notify_all();
    }
  }

  std::mutex mutex;
  std::condition_variable wake, finished;
  std::deque<std::shared_ptr<Request>> queue;
  std::map<char *, std::shared_ptr<Request>> pending;
  bool busy = false;   // the thread is running a request
  bool thread = false; // started
  int setting = -1;    // KILN_COLLECTIVE_OVERLAP, read once
};

Progress &progress() {
  static Progress *p = new Progress(); // never destroyed: its thread runs on
  return *p;
}

void allReduce(Element e, int64_t reduction, int64_t groupText,
               int64_t groupLength, int64_t whereText, int64_t whereLength,
               int64_t rank, void *descriptor) {
  Call call(groupText, groupLength, whereText, whereLength);
  Buffer b = view(rank, descriptor, e);
  progress().drain();
  allReduceBuffer(call, e, reduction, b);
}

/// kiln.all_reduce_start: the buffer and texts are read now (the
/// descriptor is the caller's, the texts are constants of the loaded
/// code); failures go to the starting call's check slot.
void allReduceStart(Element e, int64_t reduction, int64_t groupText,
                    int64_t groupLength, int64_t whereText,
                    int64_t whereLength, int64_t rank, void *descriptor) {
  auto call = std::make_shared<Call>(groupText, groupLength, whereText,
                                     whereLength);
  Buffer b = view(rank, descriptor, e);
  kiln::runtime::CheckSlot *slot = kiln::runtime::currentChecks();
  progress().start(b.data, [call, e, reduction, b, slot] {
    kiln::runtime::CheckSlot *before = kiln::runtime::currentChecks();
    kiln::runtime::setCurrentChecks(slot);
    allReduceBuffer(*call, e, reduction, b);
    kiln::runtime::setCurrentChecks(before);
  });
}

void allReduceDone(Element e, int64_t groupText, int64_t groupLength,
                   int64_t whereText, int64_t whereLength, int64_t rank,
                   void *descriptor) {
  Buffer b = view(rank, descriptor, e);
  if (!progress().finish(b.data))
    Call(groupText, groupLength, whereText, whereLength)
        .fail(KILN_INTERNAL,
              "no all-reduce was started on this buffer (the compiled "
              "code's kiln.all_reduce_start and done do not match)");
}

void broadcastFrom(Element e, int64_t root, int64_t groupText,
                   int64_t groupLength, int64_t whereText,
                   int64_t whereLength, int64_t rank, void *descriptor) {
  Call call(groupText, groupLength, whereText, whereLength);
  Buffer b = view(rank, descriptor, e);
  progress().drain();
  std::lock_guard<std::mutex> lock(state().mutex);
  if (!call.begin() ||
      !call.agree(signatureOf("broadcast_from", e, b.shape, {root}), b.count,
                  "kiln.broadcast_from of a " + shapeText(b.shape, e)))
    return;
  if (root >= call.g.size) {
    call.fail(KILN_INVALID_ARGUMENT,
              "root " + std::to_string(root) + " is not a rank of group '" +
                  call.group + "' (" + std::to_string(call.g.size) +
                  " processes)");
    return;
  }
  if (call.g.size == 1 || b.count == 0 || !countFits(b.count, call))
    return;
  State &s = state();
  call.run([&] {
    return s.api.Bcast(b.data, static_cast<int>(b.count), datatype(e),
                       static_cast<int>(root), call.g.comm);
  });
}

/// Outer (extents before `axis`) and inner (from `axis` on) element counts.
std::pair<int64_t, int64_t> split(const std::vector<int64_t> &shape,
                                  int64_t axis) {
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < shape.size(); ++d)
    (static_cast<int64_t>(d) < axis ? outer : inner) *= shape[d];
  return {outer, inner};
}

/// all_gather and reduce_scatter: `whole` is `part` with `size` times its
/// extent along `axis`; false (reported) otherwise.
bool checkParts(Call &call, const Buffer &part, const Buffer &whole,
                int64_t axis, const char *partName, const char *wholeName) {
  bool ok = part.shape.size() == whole.shape.size() && axis >= 0 &&
            axis < static_cast<int64_t>(part.shape.size());
  for (size_t d = 0; ok && d < part.shape.size(); ++d)
    ok = whole.shape[d] == (static_cast<int64_t>(d) == axis
                                ? part.shape[d] * call.g.size
                                : part.shape[d]);
  if (!ok) {
    std::string text = "the " + std::string(wholeName) + " has extent " +
                       std::to_string(whole.shape.empty()
                                          ? 0
                                          : whole.shape[static_cast<size_t>(
                                                std::max<int64_t>(axis, 0))]) +
                       " along axis " + std::to_string(axis) + ", not " +
                       std::to_string(call.g.size) + " (the processes of "
                       "group '" + call.group + "') times the " + partName +
                       "'s";
    call.fail(KILN_INVALID_ARGUMENT, text);
  }
  return ok;
}

void allGather(Element e, int64_t axis, int64_t groupText,
               int64_t groupLength, int64_t whereText, int64_t whereLength,
               int64_t inRank, void *inDescriptor, int64_t outRank,
               void *outDescriptor) {
  Call call(groupText, groupLength, whereText, whereLength);
  Buffer in = view(inRank, inDescriptor, e);
  Buffer out = view(outRank, outDescriptor, e);
  progress().drain();
  std::lock_guard<std::mutex> lock(state().mutex);
  if (!call.begin() ||
      !call.agree(signatureOf("all_gather", e, in.shape, {axis}), in.count,
                  "kiln.all_gather of a " + shapeText(in.shape, e)) ||
      !checkParts(call, in, out, axis, "input", "result"))
    return;
  size_t width = elementSize(e);
  if (call.g.size == 1 || in.count == 0) {
    std::memcpy(out.data, in.data, static_cast<size_t>(in.count) * width);
    return;
  }
  if (!countFits(out.count, call))
    return;
  auto [outer, inner] = split(in.shape, axis);
  // MPI gathers rank-major blocks; along an inner axis they are then
  // interleaved: out[o][p][i] = block p's [o][i].
  char *gathered = outer == 1 ? out.data
                              : scratch(static_cast<size_t>(out.count) * width);
  State &s = state();
  if (!call.run([&] {
        return s.api.Allgather(in.data, static_cast<int>(in.count),
                               datatype(e), gathered,
                               static_cast<int>(in.count), datatype(e),
                               call.g.comm);
      }))
    return;
  if (outer == 1)
    return;
  size_t row = static_cast<size_t>(inner) * width;
  for (int p = 0; p < call.g.size; ++p)
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(out.data + (o * call.g.size + p) * row,
                  gathered + (p * outer + o) * row, row);
}

void reduceScatter(Element e, int64_t reduction, int64_t axis,
                   int64_t groupText, int64_t groupLength, int64_t whereText,
                   int64_t whereLength, int64_t inRank, void *inDescriptor,
                   int64_t outRank, void *outDescriptor) {
  Call call(groupText, groupLength, whereText, whereLength);
  Buffer in = view(inRank, inDescriptor, e);
  Buffer out = view(outRank, outDescriptor, e);
  auto r = static_cast<Reduction>(reduction);
  progress().drain();
  std::lock_guard<std::mutex> lock(state().mutex);
  if (!call.begin() ||
      !call.agree(signatureOf("reduce_scatter", e, in.shape,
                              {reduction, axis}),
                  in.count,
                  "kiln.reduce_scatter of a " + shapeText(in.shape, e)) ||
      !checkParts(call, out, in, axis, "result", "input"))
    return;
  size_t width = elementSize(e);
  if (call.g.size == 1 || in.count == 0) {
    std::memcpy(out.data, in.data, static_cast<size_t>(in.count) * width);
    return;
  }
  if (!countFits(in.count, call))
    return;
  auto [outer, inner] = split(out.shape, axis);
  // Blocks for MPI are rank-major: block p is [o][i] of part p.
  char *blocks = in.data;
  if (outer != 1) {
    blocks = scratch(static_cast<size_t>(in.count) * width);
    size_t row = static_cast<size_t>(inner) * width;
    for (int p = 0; p < call.g.size; ++p)
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(blocks + (p * outer + o) * row,
                    in.data + (o * call.g.size + p) * row, row);
  }
  State &s = state();
  if (!call.run([&] {
        return s.api.Reduce_scatter_block(blocks, out.data,
                                          static_cast<int>(out.count),
                                          datatype(e), mpiOp(r), call.g.comm);
      }))
    return;
  if (r == Reduction::Mean)
    divideBySize(out.data, out.count, call.g.size, e);
}

int64_t groupQuery(bool size, int64_t groupText, int64_t groupLength,
                   int64_t whereText, int64_t whereLength) {
  Call call(groupText, groupLength, whereText, whereLength);
  std::lock_guard<std::mutex> lock(state().mutex);
  if (!call.begin())
    return size ? 1 : 0;
  return size ? call.g.size : call.g.rank;
}

} // namespace

extern "C" {

#define KILN_COLLECTIVES(suffix, element)                                      \
  KILN_RUNTIME_EXPORT void kiln_all_reduce_##suffix(                           \
      int64_t reduction, int64_t group, int64_t group_length, int64_t where,   \
      int64_t where_length, int64_t rank, void *data) {                        \
    allReduce(element, reduction, group, group_length, where, where_length,    \
              rank, data);                                                     \
  }                                                                            \
  KILN_RUNTIME_EXPORT void kiln_all_reduce_start_##suffix(                     \
      int64_t reduction, int64_t group, int64_t group_length, int64_t where,   \
      int64_t where_length, int64_t rank, void *data) {                        \
    allReduceStart(element, reduction, group, group_length, where,             \
                   where_length, rank, data);                                  \
  }                                                                            \
  KILN_RUNTIME_EXPORT void kiln_all_reduce_done_##suffix(                      \
      int64_t group, int64_t group_length, int64_t where,                      \
      int64_t where_length, int64_t rank, void *data) {                        \
    allReduceDone(element, group, group_length, where, where_length, rank,     \
                  data);                                                       \
  }                                                                            \
  KILN_RUNTIME_EXPORT void kiln_broadcast_from_##suffix(                       \
      int64_t root, int64_t group, int64_t group_length, int64_t where,        \
      int64_t where_length, int64_t rank, void *data) {                        \
    broadcastFrom(element, root, group, group_length, where, where_length,     \
                  rank, data);                                                 \
  }                                                                            \
  KILN_RUNTIME_EXPORT void kiln_all_gather_##suffix(                           \
      int64_t axis, int64_t group, int64_t group_length, int64_t where,        \
      int64_t where_length, int64_t input_rank, void *input,                   \
      int64_t output_rank, void *output) {                                     \
    allGather(element, axis, group, group_length, where, where_length,         \
              input_rank, input, output_rank, output);                         \
  }                                                                            \
  KILN_RUNTIME_EXPORT void kiln_reduce_scatter_##suffix(                       \
      int64_t reduction, int64_t axis, int64_t group, int64_t group_length,    \
      int64_t where, int64_t where_length, int64_t input_rank, void *input,    \
      int64_t output_rank, void *output) {                                     \
    reduceScatter(element, reduction, axis, group, group_length, where,        \
                  where_length, input_rank, input, output_rank, output);       \
  }

KILN_COLLECTIVES(f32, Element::F32)
KILN_COLLECTIVES(f64, Element::F64)
KILN_COLLECTIVES(i32, Element::I32)
KILN_COLLECTIVES(i64, Element::I64)
#undef KILN_COLLECTIVES

KILN_RUNTIME_EXPORT int64_t kiln_group_rank(int64_t group,
                                            int64_t group_length,
                                            int64_t where,
                                            int64_t where_length) {
  return groupQuery(false, group, group_length, where, where_length);
}

KILN_RUNTIME_EXPORT int64_t kiln_group_size(int64_t group,
                                            int64_t group_length,
                                            int64_t where,
                                            int64_t where_length) {
  return groupQuery(true, group, group_length, where, where_length);
}

KILN_RUNTIME_EXPORT kiln_status_t kiln_collectives_init(void) {
  std::lock_guard<std::mutex> lock(state().mutex);
  return setUp();
}

KILN_RUNTIME_EXPORT kiln_status_t kiln_group_info(const char *name,
                                                  int32_t *rank,
                                                  int32_t *size) {
  if (!name || !rank || !size)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_group_info: an argument is NULL");
  std::lock_guard<std::mutex> lock(state().mutex);
  if (kiln_status_t s = setUp())
    return s;
  auto it = state().groups.find(name);
  if (it == state().groups.end())
    return kiln_status_create(KILN_NOT_FOUND, "no group '%s'", name);
  *rank = it->second.rank;
  *size = it->second.size;
  return nullptr;
}

KILN_RUNTIME_EXPORT kiln_status_t kiln_group_define(const char *name,
                                                    const int32_t *ranks,
                                                    int32_t count) {
  if (!name || !*name || (!ranks && count > 0) || count < 1)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_group_define: a group needs a name and "
                              "at least one rank");
  std::lock_guard<std::mutex> lock(state().mutex);
  if (kiln_status_t s = setUp())
    return s;
  State &st = state();
  if (st.groups.count(name))
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "group '%s' is already defined", name);
  const Group &world = st.groups["world"];
  int position = -1;
  for (int32_t i = 0; i < count; ++i) {
    if (ranks[i] < 0 || ranks[i] >= world.size)
      return kiln_status_create(KILN_INVALID_ARGUMENT,
                                "group '%s': rank %d is not a process of the "
                                "world (%d processes)",
                                name, static_cast<int>(ranks[i]),
                                world.size);
    for (int32_t j = 0; j < i; ++j)
      if (ranks[j] == ranks[i])
        return kiln_status_create(KILN_INVALID_ARGUMENT,
                                  "group '%s' lists rank %d twice", name,
                                  static_cast<int>(ranks[i]));
    if (ranks[i] == world.rank)
      position = i;
  }
  Group g;
  g.size = count;
  g.rank = position;
  if (st.mpi) {
    // Every process of the world takes part; those outside get no
    // communicator. The key orders the group's ranks as listed.
    Handle comm = nullptr;
    int rc = st.api.Comm_split(world.comm, position < 0 ? kUndefined : 1,
                               position < 0 ? 0 : position, &comm);
    if (rc != kSuccess)
      return kiln_status_create(KILN_UNAVAILABLE,
                                "group '%s': MPI_Comm_split failed: %s", name,
                                mpiError(rc).c_str());
    if (position >= 0) {
      st.api.Comm_set_errhandler(comm, st.api.errorsReturn);
      g.comm = comm;
    }
  }
  st.groups[name] = g;
  return nullptr;
}

} // extern "C"
