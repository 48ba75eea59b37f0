//===- CudaTest.cpp - Tests of the CUDA device backend --------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The runtime's CUDA backend (Cuda.cpp) against a test double of the driver
// (fake_cuda.c: the driver's functions and rules on host memory), through
// the C API: device discovery, the primary context retained once and made
// current around every driver call, buffers and copies in every direction,
// zeroing, the per-device cache of freed blocks and its accounting, running
// out of device memory, and a driver that fails, has no GPU or is not a
// driver at all. The driver is loaded once per process, so those last
// cases run in child processes of this test binary.
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Runtime.h"

#include "RuntimeTestUtils.h"

#include "gtest/gtest.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace kiln::runtime::test;

namespace {

/// Points the runtime at the test double (before any test asks for a CUDA
/// device), with two GPUs unless a parent process said otherwise.
const bool kDriverSet = [] {
  setenv("KILN_CUDA_DRIVER", KILN_FAKE_CUDA_PATH, /*overwrite=*/0);
  setenv("FAKE_CUDA_DEVICES", "2", /*overwrite=*/0);
  // Pinned staging in chunks of 4 KiB, so that small test copies take it.
  setenv("KILN_CUDA_STAGING_CHUNK", "4096", /*overwrite=*/0);
  return true;
}();

constexpr kiln_device_t kGpu0 = {KILN_DEVICE_CUDA, 0};
constexpr kiln_device_t kGpu1 = {KILN_DEVICE_CUDA, 1};

/// The test double's own functions (the runtime has loaded the same
/// library: dlopen returns the same handle).
struct Fake {
  Fake() {
    handle = dlopen(KILN_FAKE_CUDA_PATH, RTLD_NOW | RTLD_LOCAL);
    log = reinterpret_cast<char *(*)()>(dlsym(handle, "fake_cuda_log"));
    used = reinterpret_cast<size_t (*)(int)>(dlsym(handle, "fake_cuda_used"));
    retained =
        reinterpret_cast<int (*)(int)>(dlsym(handle, "fake_cuda_retained"));
    pinned = reinterpret_cast<int (*)()>(dlsym(handle, "fake_cuda_pinned"));
  }
  /// The driver calls made so far, separated by spaces.
  std::string calls() const {
    char *text = log();
    std::string copy = text;
    std::free(text);
    return copy;
  }
  void *handle;
  char *(*log)();
  size_t (*used)(int);
  int (*retained)(int);
  int (*pinned)();
};

const Fake &fake() {
  static Fake instance;
  return instance;
}

/// The driver calls made after `mark` (a length of `fake().calls()`).
std::string callsSince(size_t mark) {
  std::string all = fake().calls();
  return mark < all.size() ? all.substr(mark + (mark ? 1 : 0)) : "";
}

/// Whether `words` occur in `text` in this order (other words between).
bool inOrder(const std::string &text, const std::vector<std::string> &words) {
  size_t at = 0;
  for (const std::string &word : words) {
    at = text.find(word, at);
    if (at == std::string::npos)
      return false;
    at += word.size();
  }
  return true;
}

kiln_buffer_t *create(kiln_device_t device, int64_t elements,
                      bool zeroed = false) {
  int64_t shape[] = {elements};
  kiln_buffer_t *b = nullptr;
  kiln_status_t s =
      zeroed ? kiln_buffer_create_zeroed(device, KILN_F32, 1, shape, &b)
             : kiln_buffer_create(device, KILN_F32, 1, shape, &b);
  EXPECT_EQ(s, nullptr) << message(s);
  return b;
}

kiln_pool_stats_t stats(kiln_device_t device) {
  kiln_pool_stats_t out = {};
  EXPECT_EQ(kiln_device_memory_stats(device, &out), nullptr);
  return out;
}

/// Runs this binary's test `name` in a child process with `environment`
/// (assignments) in front: the driver is loaded once per process.
int runChild(const std::string &environment, const std::string &name) {
  std::string command = "KILN_CUDA_TEST_CHILD=1 " + environment + " /proc/" +
                        std::to_string(getpid()) + "/exe --gtest_filter=" +
                        name + " >/dev/null 2>&1";
  return std::system(command.c_str());
}

TEST(Cuda, DevicesFromTheDriver) {
  ASSERT_TRUE(kDriverSet);
  EXPECT_EQ(kiln_device_count(KILN_DEVICE_CUDA), 2);
  EXPECT_EQ(kiln_device_check(kGpu0), nullptr);
  EXPECT_EQ(kiln_device_check(kGpu1), nullptr);
  EXPECT_EQ(describe(kiln_device_check({KILN_DEVICE_CUDA, 2})),
            "8: device cuda:2 is not available: there are 2 cuda devices");
  // Discovery initializes the driver first, then opens each device; no
  // context exists before a device is used.
  EXPECT_TRUE(inOrder(fake().calls(), {"cuInit", "cuDeviceGetCount",
                                       "cuDeviceGet", "cuDeviceGet"}))
      << fake().calls();
}

TEST(Cuda, CopiesInEveryDirection) {
  std::vector<float> values(1000);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = 0.5f * static_cast<float>(i) - 7.0f;
  int64_t shape[] = {1000};
  kiln_buffer_t *host = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 1, shape, &host), nullptr);
  std::memcpy(kiln_buffer_host_data(host), values.data(), 4000);
  kiln_buffer_t *a = create(kGpu0, 1000), *b = create(kGpu0, 1000),
                *c = create(kGpu1, 1000);
  // Device memory is not host memory.
  EXPECT_EQ(kiln_buffer_host_data(a), nullptr);
  EXPECT_EQ(kiln_buffer_device(c).ordinal, 1);
  size_t mark = fake().calls().size();
  ASSERT_EQ(kiln_buffer_copy(a, host), nullptr);  // host -> cuda:0
  ASSERT_EQ(kiln_buffer_copy(b, a), nullptr);     // within cuda:0
  ASSERT_EQ(kiln_buffer_copy(c, b), nullptr);     // cuda:0 -> cuda:1
  kiln_buffer_t *back = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 1, shape, &back), nullptr);
  ASSERT_EQ(kiln_buffer_copy(back, c), nullptr);  // cuda:1 -> host
  EXPECT_EQ(std::memcmp(kiln_buffer_host_data(back), values.data(), 4000), 0);
  // Every driver call runs in a context made current for it.
  EXPECT_TRUE(inOrder(callsSince(mark),
                      {"cuCtxPushCurrent_v2", "cuMemcpyHtoD_v2",
                       "cuCtxPopCurrent_v2", "cuCtxPushCurrent_v2",
                       "cuMemcpyDtoD_v2", "cuCtxPopCurrent_v2",
                       "cuCtxPushCurrent_v2", "cuMemcpyPeer",
                       "cuCtxPopCurrent_v2", "cuCtxPushCurrent_v2",
                       "cuMemcpyDtoH_v2", "cuCtxPopCurrent_v2"}))
      << callsSince(mark);
  // One primary context per device used, retained once.
  EXPECT_EQ(fake().retained(0), 1);
  EXPECT_EQ(fake().retained(1), 1);
  for (kiln_buffer_t *buffer : {host, a, b, c, back})
    kiln_buffer_release(buffer);
}

TEST(Cuda, CopyToMovesContentsBetweenDevices) {
  int64_t shape[] = {2, 3};
  float values[6] = {1, -2, 3, -4, 5, -6};
  kiln_buffer_t *host = nullptr;
  ASSERT_EQ(kiln_buffer_wrap_host(KILN_F32, 2, shape, values, nullptr,
                                  nullptr, &host),
            nullptr);
  kiln_buffer_t *gpu = nullptr, *back = nullptr;
  ASSERT_EQ(kiln_buffer_copy_to(host, kGpu1, &gpu), nullptr);
  EXPECT_EQ(kiln_buffer_device(gpu).type, KILN_DEVICE_CUDA);
  EXPECT_EQ(kiln_buffer_device(gpu).ordinal, 1);
  EXPECT_EQ(kiln_buffer_rank(gpu), 2);
  EXPECT_EQ(kiln_buffer_shape(gpu)[1], 3);
  EXPECT_EQ(kiln_buffer_host_data(gpu), nullptr);
  ASSERT_EQ(kiln_buffer_copy_to(gpu, kCpu, &back), nullptr);
  EXPECT_EQ(std::memcmp(kiln_buffer_host_data(back), values, sizeof values),
            0);
  // A device that does not exist: the buffer layer's error, no buffer.
  kiln_buffer_t *none = host;
  kiln_status_t s =
      kiln_buffer_copy_to(host, kiln_device_t{KILN_DEVICE_CUDA, 7}, &none);
  EXPECT_NE(s, nullptr);
  EXPECT_EQ(none, nullptr);
  kiln_status_free(s);
  for (kiln_buffer_t *b : {host, gpu, back})
    kiln_buffer_release(b);
}

/// Copies `values` to `device` and back; returns what came back.
std::vector<float> roundTrip(const std::vector<float> &values,
                             kiln_device_t device) {
  int64_t shape[] = {static_cast<int64_t>(values.size())};
  kiln_buffer_t *host = nullptr, *gpu = nullptr, *back = nullptr;
  EXPECT_EQ(kiln_buffer_wrap_host(KILN_F32, 1, shape,
                                  const_cast<float *>(values.data()), nullptr,
                                  nullptr, &host),
            nullptr);
  kiln_status_t s = kiln_buffer_copy_to(host, device, &gpu);
  EXPECT_EQ(s, nullptr) << message(s);
  s = kiln_buffer_copy_to(gpu, kCpu, &back);
  EXPECT_EQ(s, nullptr) << message(s);
  std::vector<float> out(values.size());
  if (back)
    std::memcpy(out.data(), kiln_buffer_host_data(back),
                values.size() * sizeof(float));
  for (kiln_buffer_t *b : {host, gpu, back})
    kiln_buffer_release(b);
  return out;
}

TEST(Cuda, LargeCopiesGoThroughPinnedStaging) {
  // 5.5 chunks of 4 KiB (the test's chunk size): the double only completes
  // an asynchronous copy when its stream is synchronized, so a chunk read
  // or overwritten too early shows up as wrong values.
  std::vector<float> values(5 * 1024 + 512);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>(i) * 0.5f - 7;
  size_t mark = fake().calls().size();
  EXPECT_EQ(roundTrip(values, kGpu1), values);
  std::string calls = callsSince(mark);
  auto count = [&](const std::string &name) {
    size_t n = 0;
    for (size_t at = calls.find(name); at != std::string::npos;
         at = calls.find(name, at + 1))
      ++n;
    return n;
  };
  EXPECT_EQ(count("cuMemcpyHtoDAsync_v2"), 6u) << calls;
  EXPECT_EQ(count("cuMemcpyDtoHAsync_v2"), 6u) << calls;
  EXPECT_EQ(count("cuMemcpyHtoD_v2 "), 0u) << calls;
  EXPECT_TRUE(inOrder(calls, {"cuMemHostAlloc", "cuStreamCreate",
                              "cuMemHostAlloc", "cuStreamCreate",
                              "cuMemcpyHtoDAsync_v2", "cuStreamSynchronize",
                              "cuMemcpyDtoHAsync_v2", "cuStreamSynchronize"}))
      << calls;
  // The buffers stay for the next copy (two per GPU, made once).
  int pinned = fake().pinned();
  mark = fake().calls().size();
  std::vector<float> more(values.rbegin(), values.rend());
  EXPECT_EQ(roundTrip(more, kGpu1), more);
  EXPECT_EQ(callsSince(mark).find("cuMemHostAlloc"), std::string::npos);
  EXPECT_EQ(fake().pinned(), pinned);
  // Exactly one chunk, and less than one: still exact.
  for (size_t n : {size_t(1024), size_t(1023), size_t(2049)}) {
    std::vector<float> part(values.begin(), values.begin() + n);
    EXPECT_EQ(roundTrip(part, kGpu0), part) << n;
  }
  // Small copies use the driver's plain copies.
  mark = fake().calls().size();
  std::vector<float> small(values.begin(), values.begin() + 100);
  EXPECT_EQ(roundTrip(small, kGpu0), small);
  EXPECT_NE(callsSince(mark).find("cuMemcpyHtoD_v2"), std::string::npos);
  EXPECT_EQ(callsSince(mark).find("Async"), std::string::npos);
}

TEST(CudaChild, NoPinnedMemory) {
  if (!std::getenv("KILN_CUDA_TEST_CHILD"))
    GTEST_SKIP() << "runs as a child of Cuda.DriverFailures";
  // Page-locked memory refused: large copies take the plain path, exactly.
  std::vector<float> values(3 * 1024 + 5);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>(i);
  size_t mark = fake().calls().size();
  EXPECT_EQ(roundTrip(values, kGpu0), values);
  EXPECT_EQ(roundTrip(values, kGpu0), values);
  std::string calls = callsSince(mark);
  EXPECT_NE(calls.find("cuMemHostAlloc"), std::string::npos);
  EXPECT_EQ(calls.find("cuMemHostAlloc"), calls.rfind("cuMemHostAlloc"))
      << "tried once: " << calls;
  EXPECT_EQ(calls.find("Async"), std::string::npos) << calls;
  EXPECT_EQ(fake().pinned(), 0);
}

TEST(Cuda, VariablesMoveToTheirDevice) {
  int64_t shape[] = {3};
  float values[3] = {1.5f, -2, 7};
  kiln_buffer_t *host = nullptr;
  ASSERT_EQ(kiln_buffer_wrap_host(KILN_F32, 1, shape, values, nullptr,
                                  nullptr, &host),
            nullptr);
  kiln_variables_t *store = nullptr;
  ASSERT_EQ(kiln_variables_create(&store), nullptr);
  ASSERT_EQ(kiln_variables_set(store, "w", host), nullptr);
  EXPECT_EQ(kiln_buffer_device(kiln_variables_find(store, "w")).type,
            KILN_DEVICE_CPU);
  ASSERT_EQ(kiln_variables_place(store, "w", kGpu1), nullptr);
  kiln_buffer_t *onGpu = kiln_variables_find(store, "w");
  EXPECT_EQ(kiln_buffer_device(onGpu).type, KILN_DEVICE_CUDA);
  EXPECT_EQ(kiln_buffer_device(onGpu).ordinal, 1);
  // Already there: the same buffer, no copy.
  size_t mark = fake().calls().size();
  ASSERT_EQ(kiln_variables_place(store, "w", kGpu1), nullptr);
  EXPECT_EQ(kiln_variables_find(store, "w"), onGpu);
  EXPECT_EQ(callsSince(mark).find("cuMemcpy"), std::string::npos);
  // A new value keeps the variable on the GPU; back on the host, it holds
  // that value.
  float next[3] = {4, 5, 6};
  kiln_buffer_t *nextHost = nullptr;
  ASSERT_EQ(kiln_buffer_wrap_host(KILN_F32, 1, shape, next, nullptr, nullptr,
                                  &nextHost),
            nullptr);
  ASSERT_EQ(kiln_variables_set(store, "w", nextHost), nullptr);
  EXPECT_EQ(kiln_buffer_device(kiln_variables_find(store, "w")).type,
            KILN_DEVICE_CUDA);
  ASSERT_EQ(kiln_variables_place(store, "w", kCpu), nullptr);
  kiln_buffer_t *back = kiln_variables_find(store, "w");
  EXPECT_EQ(kiln_buffer_device(back).type, KILN_DEVICE_CPU);
  EXPECT_EQ(std::memcmp(kiln_buffer_host_data(back), next, sizeof next), 0);
  // Errors: no such variable, no such device (the variable stays).
  EXPECT_EQ(code(kiln_variables_place(store, "nope", kGpu0)), KILN_NOT_FOUND);
  EXPECT_EQ(code(kiln_variables_place(store, "w", {KILN_DEVICE_CUDA, 9})),
            KILN_UNAVAILABLE);
  EXPECT_EQ(kiln_variables_find(store, "w"), back);
  EXPECT_EQ(code(kiln_variables_place(nullptr, "w", kCpu)),
            KILN_INVALID_ARGUMENT);
  kiln_variables_destroy(store);
  kiln_buffer_release(host);
  kiln_buffer_release(nextHost);
}

TEST(Cuda, ZeroedBuffersAreZero) {
  // A block that held data, released to the cache, comes back zeroed.
  kiln_buffer_t *first = create(kGpu0, 333);
  std::vector<float> ones(333, 1.0f);
  int64_t shape[] = {333};
  kiln_buffer_t *host = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_F32, 1, shape, &host), nullptr);
  std::memcpy(kiln_buffer_host_data(host), ones.data(), ones.size() * 4);
  ASSERT_EQ(kiln_buffer_copy(first, host), nullptr);
  kiln_buffer_release(first);
  size_t mark = fake().calls().size();
  kiln_buffer_t *zeroed = create(kGpu0, 333, /*zeroed=*/true);
  EXPECT_TRUE(inOrder(callsSince(mark), {"cuMemsetD8_v2", "cuCtxSynchronize"}))
      << callsSince(mark);
  ASSERT_EQ(kiln_buffer_copy(host, zeroed), nullptr);
  const float *data = static_cast<const float *>(kiln_buffer_host_data(host));
  for (int i = 0; i < 333; ++i)
    ASSERT_EQ(data[i], 0.0f) << i;
  kiln_buffer_release(zeroed);
  kiln_buffer_release(host);
}

TEST(Cuda, FreedBlocksAreCachedPerDevice) {
  // 3 MB buffers: a size class no other test uses.
  constexpr int64_t kElements = 750'000;
  kiln_pool_stats_t before = stats(kGpu0);
  kiln_pool_stats_t otherBefore = stats(kGpu1);
  size_t mark = fake().calls().size();
  std::vector<kiln_buffer_t *> buffers;
  for (int i = 0; i < 3; ++i)
    buffers.push_back(create(kGpu0, kElements));
  kiln_pool_stats_t live = stats(kGpu0);
  EXPECT_EQ(live.allocations, before.allocations + 3);
  uint64_t blocks = live.bytes_in_use - before.bytes_in_use;
  EXPECT_GE(blocks, 3u * 4 * kElements);
  EXPECT_LE(blocks, 3u * 5 * kElements); // classes waste at most 25%
  for (kiln_buffer_t *buffer : buffers)
    kiln_buffer_release(buffer);
  kiln_pool_stats_t freed = stats(kGpu0);
  EXPECT_EQ(freed.bytes_in_use, before.bytes_in_use);
  EXPECT_EQ(freed.bytes_cached, before.bytes_cached + blocks);
  // Still the driver's: freeing is caching.
  EXPECT_EQ(callsSince(mark).find("cuMemFree_v2"), std::string::npos);
  // The next buffer of the class reuses a block: no driver allocation.
  mark = fake().calls().size();
  kiln_buffer_t *again = create(kGpu0, kElements);
  EXPECT_EQ(callsSince(mark).find("cuMemAlloc_v2"), std::string::npos);
  EXPECT_EQ(stats(kGpu0).reuses, freed.reuses + 1);
  // The other device's cache is its own.
  EXPECT_EQ(stats(kGpu1).bytes_cached, otherBefore.bytes_cached);
  kiln_buffer_release(again);
  // Trimming gives the blocks back to the driver.
  size_t usedBefore = fake().used(0);
  ASSERT_EQ(kiln_device_memory_trim(kGpu0), nullptr);
  EXPECT_EQ(stats(kGpu0).bytes_cached, 0u);
  EXPECT_EQ(fake().used(0), usedBefore - freed.bytes_cached);
  EXPECT_EQ(code(kiln_device_memory_stats({KILN_DEVICE_CUDA, 5}, &live)),
            KILN_UNAVAILABLE);
}

TEST(Cuda, OutOfMemoryFreesTheCacheFirst) {
  ASSERT_EQ(kiln_device_memory_trim(kGpu0), nullptr);
  // The device has 8 MiB more than is in use now.
  size_t base = fake().used(0);
  setenv("FAKE_CUDA_MEMORY", std::to_string(base + (8 << 20)).c_str(), 1);
  kiln_buffer_t *six = create(kGpu0, (6 << 20) / 4);
  kiln_buffer_release(six); // cached: the device still holds 6 MiB
  size_t mark = fake().calls().size();
  // 7 MiB do not fit next to the cached 6: the cache goes, then it fits.
  kiln_buffer_t *seven = create(kGpu0, (7 << 20) / 4);
  EXPECT_NE(seven, nullptr);
  EXPECT_TRUE(inOrder(callsSince(mark),
                      {"cuMemAlloc_v2", "cuMemFree_v2", "cuMemAlloc_v2"}))
      << callsSince(mark);
  // 20 MiB never fit: the driver's error, with the size and the device.
  int64_t shape[] = {(20 << 20) / 4};
  kiln_buffer_t *huge = nullptr;
  kiln_status_t s = kiln_buffer_create(kGpu0, KILN_F32, 1, shape, &huge);
  EXPECT_EQ(kiln_status_code(s), KILN_OUT_OF_MEMORY);
  std::string text = message(s);
  EXPECT_TRUE(contains(text, "cannot allocate 20971520 bytes on cuda:0: "
                             "CUDA_ERROR_OUT_OF_MEMORY (out of memory, code 2)"))
      << text;
  EXPECT_EQ(huge, nullptr);
  kiln_buffer_release(seven);
  unsetenv("FAKE_CUDA_MEMORY");
}

// What compiled GPU code calls (MLIR's CUDA wrapper names; the runtime
// implements them over the driver).
extern "C" {
void *mgpuModuleLoadJIT(void *data, int optLevel);
void *mgpuModuleGetFunction(void *module, const char *name);
void *mgpuStreamCreate();
void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t count);
void mgpuStreamSynchronize(void *stream);
void mgpuStreamDestroy(void *stream);
void mgpuModuleUnload(void *module);
void *mgpuMemAlloc(uint64_t bytes, void *stream, bool hostShared);
void mgpuMemFree(void *data, void *stream);
void mgpuMemcpy(void *dst, void *src, size_t bytes, void *stream);
void *mgpuTensorMapEncodeTiledMemref(int64_t rank, void *descriptor,
                                     int64_t dataType, int64_t interleave,
                                     int64_t swizzle, int64_t l2Promotion,
                                     int64_t oobFill, int64_t *box);
}

/// PTX as the GPU pipeline writes it (the double reads the kernel names).
const char kPtx[] = "//\n.version 8.0\n.target sm_90\n.address_size 64\n"
                    ".visible .entry negate_kernel(\n.param .u64 a,\n"
                    ".param .u64 b\n)\n{\nret;\n}\n";

/// An entry's host code as the GPU pipeline generates it: the module
/// loaded once (a module constructor does it in compiled code), then a
/// stream, the launch of `kernel` over 3 blocks of 128 threads, and the
/// stream's synchronization.
int32_t launch(void **args, const char *kernel, intptr_t threads = 128) {
  static void *module = mgpuModuleLoadJIT(const_cast<char *>(kPtx), 3);
  void *function = mgpuModuleGetFunction(module, kernel);
  void *stream = mgpuStreamCreate();
  void *params[] = {&args[0], &args[1]};
  mgpuLaunchKernel(function, 3, 1, 1, threads, 1, 1, 0, stream, params,
                   nullptr, 2);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
  return 0;
}

int32_t negateEntry(void **args, const int64_t *) {
  return launch(args, "negate_kernel");
}

int32_t missingEntry(void **args, const int64_t *) {
  return launch(args, "no_such_kernel");
}

int32_t oversizedEntry(void **args, const int64_t *) {
  return launch(args, "negate_kernel", /*threads=*/2048);
}

void *lookupEntry(void *, const char *name) {
  if (std::strcmp(name, "kiln_entry_oversized_gpu") == 0)
    return reinterpret_cast<void *>(&oversizedEntry);
  if (std::strcmp(name, "kiln_entry_negate_gpu") == 0)
    return reinterpret_cast<void *>(&negateEntry);
  if (std::strcmp(name, "kiln_entry_missing_gpu") == 0)
    return reinterpret_cast<void *>(&missingEntry);
  return nullptr;
}

const char *const kGpuManifest = "kiln-manifest 4\n"
                                 "entry negate_gpu 1 1 0 cuda\n"
                                 "in f32 1 300\n"
                                 "out f32 1 300\n"
                                 "end\n"
                                 "entry missing_gpu 1 1 0 cuda\n"
                                 "in f32 1 300\n"
                                 "out f32 1 300\n"
                                 "end\n"
                                 "entry oversized_gpu 1 1 0 cuda\n"
                                 "in f32 1 300\n"
                                 "out f32 1 300\n"
                                 "end\n";

/// The executable of kGpuManifest, or null (a test failure).
kiln_executable_t *gpuExecutable() {
  kiln_executable_t *e = nullptr;
  kiln_status_t s =
      kiln_executable_create(kGpuManifest, lookupEntry, nullptr, nullptr, &e);
  EXPECT_EQ(s, nullptr) << message(s);
  return e;
}

TEST(Cuda, EntriesLaunchKernels) {
  kiln_executable_t *e = gpuExecutable();
  ASSERT_NE(e, nullptr);
  kiln_buffer_t *x = create(kGpu0, 300);
  kiln_buffer_t *y = nullptr;
  size_t mark = fake().calls().size();
  kiln_status_t s = kiln_executable_invoke(e, "negate_gpu", 1, &x, 1, &y);
  ASSERT_EQ(s, nullptr) << message(s);
  // The output was allocated on the entry's device.
  ASSERT_NE(y, nullptr);
  EXPECT_EQ(kiln_buffer_device(y).type, KILN_DEVICE_CUDA);
  EXPECT_EQ(kiln_buffer_host_data(y), nullptr);
  // The module is loaded, the kernel found, launched on the thread's
  // stream (made now, kept), which the call waits for at its end, each in a
  // context.
  EXPECT_TRUE(inOrder(callsSince(mark),
                      {"cuModuleLoadData", "cuModuleGetFunction",
                       "cuStreamCreate", "cuCtxPushCurrent_v2",
                       "cuLaunchKernel", "cuCtxPopCurrent_v2",
                       "cuStreamSynchronize"}))
      << callsSince(mark);
  EXPECT_EQ(callsSince(mark).find("cuStreamDestroy"), std::string::npos);
  auto lastLaunch = reinterpret_cast<const char *(*)()>(
      dlsym(fake().handle, "fake_cuda_last_launch"));
  auto streams =
      reinterpret_cast<int (*)()>(dlsym(fake().handle, "fake_cuda_streams"));
  EXPECT_STREQ(lastLaunch(), "negate_kernel 3x1x1 128x1x1 0");
  EXPECT_EQ(streams(), 1); // the thread's stream

  // A failed launch is the call's error, with the driver's words; the
  // output the call allocated is released.
  setenv("FAKE_CUDA_LAUNCH_ERROR", "1", 1);
  kiln_buffer_t *z = nullptr;
  s = kiln_executable_invoke(e, "negate_gpu", 1, &x, 1, &z);
  unsetenv("FAKE_CUDA_LAUNCH_ERROR");
  EXPECT_EQ(kiln_status_code(s), KILN_INTERNAL);
  std::string text = message(s);
  EXPECT_TRUE(contains(text, "entry 'negate_gpu': cannot launch a kernel on "
                             "cuda:0: CUDA_ERROR_LAUNCH_FAILED (unspecified "
                             "launch failure, code 719)"))
      << text;
  EXPECT_EQ(z, nullptr);
  EXPECT_EQ(streams(), 1); // the thread's stream

  // A kernel the module does not have.
  s = kiln_executable_invoke(e, "missing_gpu", 1, &x, 1, &z);
  text = message(s);
  EXPECT_TRUE(contains(text, "entry 'missing_gpu': cannot find kernel "
                             "'no_such_kernel': CUDA_ERROR_NOT_FOUND (named "
                             "symbol not found, code 500)"))
      << text;
  // More threads per block than a GPU has: refused before the driver.
  text = message(kiln_executable_invoke(e, "oversized_gpu", 1, &x, 1, &z));
  EXPECT_TRUE(contains(text, "entry 'oversized_gpu': cannot launch a kernel "
                             "with a grid of 3 x 1 x 1 blocks of 2048 x 1 x 1 "
                             "threads"))
      << text;
  EXPECT_EQ(streams(), 1); // the thread's stream
  // The next call starts clean.
  EXPECT_EQ(kiln_executable_invoke(e, "negate_gpu", 1, &x, 1, &y), nullptr);
  kiln_buffer_release(y);
  kiln_buffer_release(x);
  kiln_executable_release(e);
}

TEST(Cuda, EntriesRunOnTheChosenGpu) {
  kiln_executable_t *e = gpuExecutable();
  ASSERT_NE(e, nullptr);
  ASSERT_EQ(kiln_executable_set_device(e, kGpu1), nullptr);
  EXPECT_EQ(kiln_entry_device(e, 0).ordinal, 1);
  // Inputs in another GPU's memory are refused, naming both devices.
  kiln_buffer_t *x0 = create(kGpu0, 300);
  kiln_buffer_t *y = nullptr;
  std::string text =
      message(kiln_executable_invoke(e, "negate_gpu", 1, &x0, 1, &y));
  EXPECT_TRUE(contains(text, "cuda:0")) << text;
  EXPECT_TRUE(contains(text, "cuda:1")) << text;
  // On the second GPU: the module is loaded there (a module belongs to one
  // context), the kernel launched in its context, the output allocated in
  // its memory.
  kiln_buffer_t *x1 = create(kGpu1, 300);
  size_t mark = fake().calls().size();
  kiln_status_t s = kiln_executable_invoke(e, "negate_gpu", 1, &x1, 1, &y);
  ASSERT_EQ(s, nullptr) << message(s);
  EXPECT_EQ(kiln_buffer_device(y).ordinal, 1);
  EXPECT_NE(callsSince(mark).find("cuModuleLoadData"), std::string::npos)
      << callsSince(mark);
  auto lastDevice = reinterpret_cast<int (*)()>(
      dlsym(fake().handle, "fake_cuda_last_launch_device"));
  EXPECT_EQ(lastDevice(), 1);
  // A second call loads nothing.
  kiln_buffer_release(y);
  y = nullptr;
  mark = fake().calls().size();
  ASSERT_EQ(kiln_executable_invoke(e, "negate_gpu", 1, &x1, 1, &y), nullptr);
  EXPECT_EQ(callsSince(mark).find("cuModuleLoadData"), std::string::npos);
  EXPECT_EQ(lastDevice(), 1);
  // Errors: another device type, a GPU that is not there.
  EXPECT_EQ(code(kiln_executable_set_device(e, kCpu)), KILN_INVALID_ARGUMENT);
  EXPECT_EQ(code(kiln_executable_set_device(e, {KILN_DEVICE_CUDA, 5})),
            KILN_UNAVAILABLE);
  EXPECT_EQ(code(kiln_executable_set_device(nullptr, kGpu0)),
            KILN_INVALID_ARGUMENT);
  EXPECT_EQ(kiln_entry_device(e, 0).ordinal, 1); // unchanged by the errors
  // Back on the first GPU, the same module runs there too.
  ASSERT_EQ(kiln_executable_set_device(e, kGpu0), nullptr);
  kiln_buffer_release(y);
  y = nullptr;
  ASSERT_EQ(kiln_executable_invoke(e, "negate_gpu", 1, &x0, 1, &y), nullptr);
  EXPECT_EQ(lastDevice(), 0);
  for (kiln_buffer_t *b : {x0, x1, y})
    kiln_buffer_release(b);
  kiln_executable_release(e);
}

/// What chainEntry saw.
struct ChainRecord {
  void *first = nullptr, *second = nullptr, *stream = nullptr;
  size_t inUse = 0;
  size_t callsBeforeRead = 0;
} chain;

/// An entry with two kernels, a temporary freed and a new one of its size
/// taken between them, and a value read by the host before the second.
int32_t chainEntry(void **args, const int64_t *) {
  static void *module = mgpuModuleLoadJIT(const_cast<char *>(kPtx), 3);
  void *function = mgpuModuleGetFunction(module, "negate_kernel");
  void *params[] = {&args[0], &args[1]};
  void *stream = mgpuStreamCreate();
  chain.stream = stream;
  void *temporary = mgpuMemAlloc(5000, stream, false);
  chain.first = temporary;
  mgpuLaunchKernel(function, 3, 1, 1, 128, 1, 1, 0, stream, params, nullptr,
                   2);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
  mgpuMemFree(temporary, nullptr);
  chain.second = mgpuMemAlloc(5000, nullptr, false);
  mgpuMemFree(chain.second, nullptr);
  chain.inUse = stats(kGpu0).bytes_in_use;
  chain.callsBeforeRead = fake().calls().size();
  float value = 0;
  mgpuMemcpy(&value, args[1], sizeof value, nullptr);
  stream = mgpuStreamCreate();
  if (stream != chain.stream)
    chain.stream = nullptr;
  mgpuLaunchKernel(function, 3, 1, 1, 128, 1, 1, 0, stream, params, nullptr,
                   2);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
  return 0;
}

size_t count(const std::string &text, const std::string &word) {
  size_t n = 0;
  for (size_t at = text.find(word); at != std::string::npos;
       at = text.find(word, at + word.size()))
    ++n;
  return n;
}

TEST(Cuda, KernelsOfACallShareOneStream) {
  kiln_executable_t *e = nullptr;
  ASSERT_EQ(kiln_executable_create("kiln-manifest 4\n"
                                   "entry chain_gpu 1 1 0 cuda\n"
                                   "in f32 1 300\n"
                                   "out f32 1 300\n"
                                   "end\n",
                                   [](void *, const char *name) -> void * {
                                     return std::strcmp(name,
                                                        "kiln_entry_chain_gpu")
                                                ? nullptr
                                                : reinterpret_cast<void *>(
                                                      &chainEntry);
                                   },
                                   nullptr, nullptr, &e),
            nullptr);
  kiln_buffer_t *x = create(kGpu0, 300);
  kiln_pool_stats_t before = stats(kGpu0);
  kiln_buffer_t *y = nullptr;
  size_t mark = fake().calls().size();
  ASSERT_EQ(kiln_executable_invoke(e, "chain_gpu", 1, &x, 1, &y), nullptr);
  std::string calls = callsSince(mark);
  // Both launches on one stream, never destroyed; the call waits twice:
  // before the host reads what the first kernel wrote, and at its end.
  EXPECT_NE(chain.stream, nullptr);
  EXPECT_EQ(count(calls, "cuLaunchKernel"), 2u) << calls;
  EXPECT_EQ(count(calls, "cuStreamSynchronize"), 2u) << calls;
  EXPECT_EQ(count(calls, "cuStreamDestroy"), 0u) << calls;
  std::string fromRead = callsSince(chain.callsBeforeRead);
  EXPECT_TRUE(inOrder(fromRead, {"cuStreamSynchronize", "cuMemcpy",
                                 "cuLaunchKernel", "cuStreamSynchronize"}))
      << fromRead;
  // The freed temporary served the next one of its size at once (stream
  // order makes that safe), and stayed the call's until its end; then it
  // is back in the shared cache.
  EXPECT_EQ(chain.second, chain.first);
  EXPECT_GE(chain.inUse, before.bytes_in_use + 5000);
  kiln_buffer_release(y);
  EXPECT_EQ(stats(kGpu0).bytes_in_use, before.bytes_in_use);
  void *reused = mgpuMemAlloc(5000, nullptr, false);
  EXPECT_EQ(reused, chain.first);
  // Freeing what compiled code did not allocate does nothing.
  mgpuMemFree(&before, nullptr);
  mgpuMemFree(reused, nullptr);

  // A kernel that fails after its launch is the call's error, reported
  // when the call waits for its kernels.
  setenv("FAKE_CUDA_SYNC_ERROR", "1", 1);
  kiln_buffer_t *z = nullptr;
  kiln_status_t s = kiln_executable_invoke(e, "chain_gpu", 1, &x, 1, &z);
  unsetenv("FAKE_CUDA_SYNC_ERROR");
  std::string text = message(s);
  EXPECT_TRUE(contains(text, "entry 'chain_gpu': a kernel on cuda:0 failed "
                             "(reported when the call's kernels finished"))
      << text;
  EXPECT_EQ(z, nullptr);
  kiln_buffer_release(x);
  kiln_executable_release(e);
}

/// What tmaEntry saw: descriptors asked for twice, for another box, the
/// first one's words as the driver double encoded them.
struct TmaRecord {
  void *first = nullptr, *again = nullptr, *other = nullptr;
  uint64_t words[16] = {};
} tma;

/// The input's memory as a 256 x 512 f16 matrix (row-major), boxes of
/// `rows` x 64 with 128-byte swizzling; then a launch with `shared` bytes
/// of dynamic shared memory.
int32_t tmaCall(void **args, int64_t rows, int32_t shared) {
  static void *module = mgpuModuleLoadJIT(const_cast<char *>(kPtx), 3);
  int64_t descriptor[7] = {reinterpret_cast<int64_t>(args[0]),
                           reinterpret_cast<int64_t>(args[0]), 0, 256, 512,
                           512, 1};
  int64_t box[2] = {rows, 64};
  tma.first = mgpuTensorMapEncodeTiledMemref(2, descriptor, 6, 0, 3, 0, 0, box);
  tma.again = mgpuTensorMapEncodeTiledMemref(2, descriptor, 6, 0, 3, 0, 0, box);
  int64_t other[2] = {64, 64};
  tma.other =
      mgpuTensorMapEncodeTiledMemref(2, descriptor, 6, 0, 3, 0, 0, other);
  if (tma.first)
    mgpuMemcpy(tma.words, tma.first, sizeof tma.words, nullptr);
  void *function = mgpuModuleGetFunction(module, "negate_kernel");
  void *stream = mgpuStreamCreate();
  void *params[] = {&args[0], &args[1]};
  mgpuLaunchKernel(function, 1, 1, 1, 128, 1, 1, shared, stream, params,
                   nullptr, 2);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
  return 0;
}

/// A box 128 halves (256 bytes) across, wider than the 128-byte swizzle,
/// then a launch that must not happen.
int32_t wideBoxEntry(void **args, const int64_t *) {
  int64_t descriptor[7] = {reinterpret_cast<int64_t>(args[0]),
                           reinterpret_cast<int64_t>(args[0]), 0, 256, 512,
                           512, 1};
  int64_t box[2] = {64, 128};
  tma.first = mgpuTensorMapEncodeTiledMemref(2, descriptor, 6, 0, 3, 0, 0, box);
  return launch(args, "negate_kernel");
}

TEST(Cuda, TensorMapsAndLargeSharedMemory) {
  kiln_executable_t *e = nullptr;
  ASSERT_EQ(
      kiln_executable_create(
          "kiln-manifest 4\n"
          "entry tma_gpu 1 1 0 cuda\nin f32 1 65536\nout f32 1 1\nend\n"
          "entry wide_box_gpu 1 1 0 cuda\nin f32 1 65536\nout f32 1 1\nend\n"
          "entry too_much_shared_gpu 1 1 0 cuda\nin f32 1 65536\nout f32 1 "
          "1\nend\n",
          [](void *, const char *name) -> void * {
            std::string entry = name;
            if (entry == "kiln_entry_tma_gpu")
              return reinterpret_cast<void *>(
                  +[](void **args, const int64_t *) {
                    return tmaCall(args, 128, 96 * 1024);
                  });
            if (entry == "kiln_entry_wide_box_gpu")
              return reinterpret_cast<void *>(&wideBoxEntry);
            if (entry == "kiln_entry_too_much_shared_gpu")
              return reinterpret_cast<void *>(
                  +[](void **args, const int64_t *) {
                    return tmaCall(args, 128, 240 * 1024);
                  });
            return nullptr;
          },
          nullptr, nullptr, &e),
      nullptr);
  kiln_buffer_t *x = create(kGpu0, 65536);
  kiln_buffer_t *y = nullptr;
  size_t mark = fake().calls().size();
  kiln_status_t s = kiln_executable_invoke(e, "tma_gpu", 1, &x, 1, &y);
  ASSERT_EQ(s, nullptr) << message(s);
  std::string calls = callsSince(mark);
  // The driver got the innermost dimension first: 512 halves of 1024-byte
  // rows, 256 rows, boxes of 64 x 128, 128-byte swizzling (3), f16 (6); the
  // map lives in GPU memory, made once for the same tensor and box.
  EXPECT_EQ(tma.words[0], 2u);
  EXPECT_EQ(tma.words[1], 6u);
  EXPECT_EQ(tma.words[2], 3u);
  EXPECT_EQ(tma.words[3], 512u);
  EXPECT_EQ(tma.words[4], 256u);
  EXPECT_EQ(tma.words[8], 1024u);
  EXPECT_EQ(tma.words[13], 64u);
  EXPECT_EQ(tma.words[14], 128u);
  EXPECT_NE(tma.first, nullptr);
  EXPECT_EQ(tma.again, tma.first);
  EXPECT_NE(tma.other, tma.first);
  EXPECT_EQ(count(calls, "cuTensorMapEncodeTiled"), 2u) << calls;
  // 96 KiB of dynamic shared memory: allowed before the launch.
  EXPECT_TRUE(inOrder(calls, {"cuFuncSetAttribute", "cuLaunchKernel"}))
      << calls;
  kiln_buffer_release(y);
  y = nullptr;

  // A box the driver refuses: the call's error, and no kernel launched.
  mark = fake().calls().size();
  std::string text =
      message(kiln_executable_invoke(e, "wide_box_gpu", 1, &x, 1, &y));
  EXPECT_TRUE(contains(text, "entry 'wide_box_gpu': cannot describe a 256 x "
                             "512 tensor (box 64 x 128) for TMA on cuda:0: "
                             "CUDA_ERROR_INVALID_VALUE"))
      << text;
  EXPECT_EQ(y, nullptr);
  EXPECT_EQ(tma.first, nullptr);
  EXPECT_EQ(count(callsSince(mark), "cuLaunchKernel"), 0u) << callsSince(mark);
  // More shared memory than a block can have.
  text = message(kiln_executable_invoke(e, "too_much_shared_gpu", 1, &x, 1, &y));
  EXPECT_TRUE(contains(text, "cannot give a kernel 245760 bytes of shared "
                             "memory on cuda:0"))
      << text;
  kiln_buffer_release(x);
  kiln_executable_release(e);
}

TEST(Cuda, CopiesOfCompiledCode) {
  // gpu.memcpy: a scalar a kernel wrote, copied to the host that branches
  // on it (the driver tells the directions from the addresses).
  void *gpu = mgpuMemAlloc(8, nullptr, false);
  ASSERT_NE(gpu, nullptr);
  double in = 2.5, out = 0;
  size_t mark = fake().calls().size();
  mgpuMemcpy(gpu, &in, sizeof in, nullptr);
  mgpuMemcpy(&out, gpu, sizeof out, nullptr);
  EXPECT_EQ(out, 2.5);
  EXPECT_TRUE(inOrder(callsSince(mark),
                      {"cuCtxPushCurrent_v2", "cuMemcpy", "cuCtxPopCurrent_v2",
                       "cuCtxPushCurrent_v2", "cuMemcpy",
                       "cuCtxPopCurrent_v2"}))
      << callsSince(mark);
  // Past the end of the allocation: the driver refuses, nothing is copied
  // (the error is recorded for the entry that made the copy, which the
  // next GPU call clears or returns).
  out = 7;
  mgpuMemcpy(&out, static_cast<char *>(gpu) + 4, 8 * 1024, nullptr);
  EXPECT_EQ(out, 7);
  mgpuMemFree(gpu, nullptr);
}

// The driver failing, missing or without GPUs: each in a child process
// (KILN_CUDA_TEST_CHILD set), started by the test after it.

TEST(CudaChild, InitFails) {
  if (!std::getenv("KILN_CUDA_TEST_CHILD"))
    GTEST_SKIP() << "runs as a child of Cuda.DriverFailures";
  EXPECT_EQ(kiln_device_count(KILN_DEVICE_CUDA), 0);
  kiln_status_t s = kiln_device_check(kGpu0);
  EXPECT_EQ(kiln_status_code(s), KILN_UNAVAILABLE);
  std::string text = message(s);
  EXPECT_TRUE(contains(text, "device cuda:0 is not available: the CUDA "
                             "driver (" KILN_FAKE_CUDA_PATH
                             ") failed to initialize: CUDA_ERROR_UNKNOWN "
                             "(unknown error, code 999)"))
      << text;
  kiln_buffer_t *b = nullptr;
  int64_t shape[] = {4};
  EXPECT_EQ(code(kiln_buffer_create(kGpu0, KILN_F32, 1, shape, &b)),
            KILN_UNAVAILABLE);
  EXPECT_EQ(b, nullptr);
}

TEST(CudaChild, NoGpu) {
  if (!std::getenv("KILN_CUDA_TEST_CHILD"))
    GTEST_SKIP() << "runs as a child of Cuda.DriverFailures";
  // A driver that finds no GPU: no devices, and that is all.
  EXPECT_EQ(kiln_device_count(KILN_DEVICE_CUDA), 0);
  EXPECT_EQ(describe(kiln_device_check(kGpu0)),
            "8: device cuda:0 is not available: there are 0 cuda devices");
}

TEST(CudaChild, NotADriver) {
  if (!std::getenv("KILN_CUDA_TEST_CHILD"))
    GTEST_SKIP() << "runs as a child of Cuda.DriverFailures";
  std::string text = message(kiln_device_check(kGpu0));
  EXPECT_TRUE(contains(text, "no usable CUDA driver: " KILN_FAKE_MODULE_PATH
                             " has no function cuInit"))
      << text;
}

TEST(CudaChild, NoDriver) {
  if (!std::getenv("KILN_CUDA_TEST_CHILD"))
    GTEST_SKIP() << "runs as a child of Cuda.DriverFailures";
  std::string text = message(kiln_device_check(kGpu0));
  EXPECT_TRUE(contains(text, "device cuda:0 is not available: no CUDA "
                             "driver: cannot load /nonexistent/libcuda.so.1 "
                             "(/nonexistent/libcuda.so.1: cannot open"))
      << text;
  EXPECT_TRUE(contains(text, "set KILN_CUDA_DRIVER")) << text;
  EXPECT_EQ(kiln_device_count(KILN_DEVICE_CUDA), 0);
}

TEST(CudaChild, ModuleLoadFails) {
  if (!std::getenv("KILN_CUDA_TEST_CHILD"))
    GTEST_SKIP() << "runs as a child of Cuda.DriverFailures";
  kiln_executable_t *e = gpuExecutable();
  ASSERT_NE(e, nullptr);
  kiln_buffer_t *x = create(kGpu0, 300);
  kiln_buffer_t *y = nullptr;
  std::string text =
      message(kiln_executable_invoke(e, "negate_gpu", 1, &x, 1, &y));
  EXPECT_TRUE(contains(text, "entry 'negate_gpu': cannot load the module's "
                             "GPU kernels on cuda:0: CUDA_ERROR_INVALID_IMAGE "
                             "(device kernel image is invalid, code 200)"))
      << text;
  // Later calls still say why.
  text = message(kiln_executable_invoke(e, "negate_gpu", 1, &x, 1, &y));
  EXPECT_TRUE(contains(text, "cannot find kernel 'negate_kernel': the "
                             "module's kernels were not loaded (cannot load "
                             "the module's GPU kernels on cuda:0"))
      << text;
  EXPECT_EQ(y, nullptr);
  kiln_buffer_release(x);
  kiln_executable_release(e);
}

TEST(Cuda, DriverFailures) {
  EXPECT_EQ(runChild("FAKE_CUDA_PINNED_ERROR=1", "CudaChild.NoPinnedMemory"), 0)
      << "rerun with KILN_CUDA_TEST_CHILD=1 FAKE_CUDA_PINNED_ERROR=1 "
         "--gtest_filter=CudaChild.NoPinnedMemory to see why";
  EXPECT_EQ(runChild("FAKE_CUDA_IMAGE_ERROR=1", "CudaChild.ModuleLoadFails"),
            0)
      << "rerun with KILN_CUDA_TEST_CHILD=1 FAKE_CUDA_IMAGE_ERROR=1 "
         "--gtest_filter=CudaChild.ModuleLoadFails to see why";
  EXPECT_EQ(runChild("FAKE_CUDA_INIT_ERROR=999", "CudaChild.InitFails"), 0)
      << "rerun with KILN_CUDA_TEST_CHILD=1 FAKE_CUDA_INIT_ERROR=999 "
         "--gtest_filter=CudaChild.InitFails to see why";
  EXPECT_EQ(runChild("FAKE_CUDA_DEVICES=0", "CudaChild.NoGpu"), 0)
      << "rerun with KILN_CUDA_TEST_CHILD=1 FAKE_CUDA_DEVICES=0 "
         "--gtest_filter=CudaChild.NoGpu to see why";
  EXPECT_EQ(runChild("KILN_CUDA_DRIVER=" KILN_FAKE_MODULE_PATH,
                     "CudaChild.NotADriver"),
            0)
      << "rerun CudaChild.NotADriver with KILN_CUDA_TEST_CHILD=1 and "
         "KILN_CUDA_DRIVER=" KILN_FAKE_MODULE_PATH " to see why";
  EXPECT_EQ(runChild("KILN_CUDA_DRIVER=/nonexistent/libcuda.so.1",
                     "CudaChild.NoDriver"),
            0)
      << "rerun CudaChild.NoDriver with KILN_CUDA_TEST_CHILD=1 and "
         "KILN_CUDA_DRIVER=/nonexistent/libcuda.so.1 to see why";
}

} // namespace
