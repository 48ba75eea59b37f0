//===- DeviceTest.cpp - Tests of devices, buffer data and copies ----------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The device model through the C API (Device.cpp and the device paths of
// buffers, executables and instances): device types, counts and checks;
// buffers and entries for a device this runtime lacks (CUDA, without a
// driver): they are KILN_UNAVAILABLE, never a crash, and a module with such
// an entry still loads.
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Runtime.h"

#include "RuntimeTestUtils.h"

#include "gtest/gtest.h"

#include <cstring>
#include <string>

using namespace kiln::runtime::test;

namespace {

constexpr kiln_device_t kCuda0 = {KILN_DEVICE_CUDA, 0};

// kiln_device_type_t has no invalid value in its range (0 and 1), and
// making one outside it is undefined behaviour in C++ (UBSan's -fsanitize=
// enum flags it), so invalid device types are not tested here.

/// These tests run without a CUDA driver, wherever they run (CudaTest.cpp
/// tests the backend with a test double of the driver): set before any
/// test asks for a CUDA device, since the runtime loads the driver once.
const bool kNoDriver = [] {
  setenv("KILN_CUDA_DRIVER", "/nonexistent/libcuda.so.1", /*overwrite=*/1);
  return true;
}();

/// What every CUDA device says without a driver (dlerror's words follow).
const std::string kNoCuda = std::string(kNoDriver ? "" : "?") +
                            "no CUDA driver: cannot load "
                            "/nonexistent/libcuda.so.1 (/nonexistent/"
                            "libcuda.so.1: cannot open shared object file";

TEST(DeviceType, NamesAndParse) {
  EXPECT_STREQ(kiln_device_type_name(KILN_DEVICE_CPU), "cpu");
  EXPECT_STREQ(kiln_device_type_name(KILN_DEVICE_CUDA), "cuda");
  kiln_device_type_t type = KILN_DEVICE_CPU;
  ASSERT_EQ(kiln_device_type_parse("cuda", &type), nullptr);
  EXPECT_EQ(type, KILN_DEVICE_CUDA);
  ASSERT_EQ(kiln_device_type_parse("cpu", &type), nullptr);
  EXPECT_EQ(type, KILN_DEVICE_CPU);
  EXPECT_EQ(describe(kiln_device_type_parse("gpu", &type)),
            "1: unknown device type 'gpu' (expected cpu or cuda)");
  EXPECT_EQ(code(kiln_device_type_parse(nullptr, &type)),
            KILN_INVALID_ARGUMENT);
  EXPECT_EQ(code(kiln_device_type_parse("cpu", nullptr)),
            KILN_INVALID_ARGUMENT);
  EXPECT_EQ(type, KILN_DEVICE_CPU);
}

TEST(Device, CountsAndChecks) {
  EXPECT_EQ(kiln_device_count(KILN_DEVICE_CPU), 1);
  EXPECT_EQ(kiln_device_count(KILN_DEVICE_CUDA), 0);

  EXPECT_EQ(kiln_device_check(kCpu), nullptr);
  EXPECT_EQ(describe(kiln_device_check({KILN_DEVICE_CPU, 1})),
            "8: device cpu:1 is not available: there is 1 cpu device");
  EXPECT_EQ(code(kiln_device_check({KILN_DEVICE_CPU, -1})), KILN_UNAVAILABLE);
  EXPECT_TRUE(contains(describe(kiln_device_check(kCuda0)),
                       "8: device cuda:0 is not available: " + kNoCuda));
  EXPECT_TRUE(contains(describe(kiln_device_check({KILN_DEVICE_CUDA, 3})),
                       "8: device cuda:3 is not available: " + kNoCuda));
}

TEST(Device, CudaBuffersAreUnavailable) {
  kiln_pool_stats_t before, after;
  kiln_pool_stats(&before);
  int64_t shape[] = {2, 3};
  for (kiln_device_t device : {kCuda0, kiln_device_t{KILN_DEVICE_CUDA, 1}}) {
    kiln_buffer_t *b = reinterpret_cast<kiln_buffer_t *>(1);
    kiln_status_t s = kiln_buffer_create(device, KILN_F32, 2, shape, &b);
    EXPECT_EQ(kiln_status_code(s), KILN_UNAVAILABLE);
    EXPECT_TRUE(contains(message(s), kNoCuda));
    EXPECT_EQ(b, nullptr);
    b = reinterpret_cast<kiln_buffer_t *>(1);
    EXPECT_EQ(code(kiln_buffer_create_zeroed(device, KILN_F32, 2, shape, &b)),
              KILN_UNAVAILABLE);
    EXPECT_EQ(b, nullptr);
  }
  // The CPU has one device.
  kiln_buffer_t *b = nullptr;
  EXPECT_EQ(describe(kiln_buffer_create({KILN_DEVICE_CPU, 1}, KILN_F32, 2,
                                        shape, &b)),
            "8: device cpu:1 is not available: there is 1 cpu device");
  kiln_pool_stats(&after);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
}

/// How often the entries below ran.
int calls = 0;

/// negate(x: f32[2]) -> f32[2], compiled for the CPU or (by its manifest)
/// for CUDA: the runtime must never call it in the second case.
int32_t negate(void **args, const int64_t *) {
  ++calls;
  auto *x = static_cast<const float *>(args[0]);
  auto *y = static_cast<float *>(args[1]);
  y[0] = -x[0];
  y[1] = -x[1];
  return 0;
}

void *negateLookup(void *, const char *name) {
  if (std::strcmp(name, "kiln_entry_negate") == 0 ||
      std::strcmp(name, "kiln_entry_negate_gpu") == 0)
    return reinterpret_cast<void *>(&negate);
  return nullptr;
}

/// A module with one CPU entry and one CUDA entry.
const char *const kMixedManifest = "kiln-manifest 4\n"
                                   "entry negate 1 1 0 cpu\n"
                                   "in f32 1 2\n"
                                   "out f32 1 2\n"
                                   "end\n"
                                   "entry negate_gpu 1 1 0 cuda\n"
                                   "in f32 1 2\n"
                                   "out f32 1 2\n"
                                   "end\n";

TEST(Device, CudaEntryLoadsButCannotRun) {
  kiln_executable_t *e = nullptr;
  ASSERT_EQ(kiln_executable_create(kMixedManifest, negateLookup, nullptr,
                                   nullptr, &e),
            nullptr);
  ASSERT_EQ(kiln_executable_entry_count(e), 2);
  kiln_device_t device = kiln_entry_device(e, 0);
  EXPECT_EQ(device.type, KILN_DEVICE_CPU);
  EXPECT_EQ(device.ordinal, 0);
  device = kiln_entry_device(e, 1);
  EXPECT_EQ(device.type, KILN_DEVICE_CUDA);
  EXPECT_EQ(device.ordinal, 0);
  EXPECT_EQ(kiln_entry_device(e, 2).ordinal, -1);
  EXPECT_EQ(kiln_entry_device(e, -1).ordinal, -1);

  // The CPU entry runs; its output is allocated on the CPU.
  float values[2] = {1, -2};
  int64_t shape[] = {2};
  kiln_buffer_t *x = nullptr;
  ASSERT_EQ(
      kiln_buffer_wrap_host(KILN_F32, 1, shape, values, nullptr, nullptr, &x),
      nullptr);
  kiln_buffer_t *y = nullptr;
  calls = 0;
  ASSERT_EQ(kiln_executable_invoke(e, "negate", 1, &x, 1, &y), nullptr);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(kiln_buffer_device(y).type, KILN_DEVICE_CPU);
  EXPECT_EQ(static_cast<float *>(kiln_buffer_host_data(y))[1], 2.0f);

  // The CUDA entry does not: nothing is allocated, the code is not called.
  kiln_buffer_t *z = nullptr;
  kiln_status_t s = kiln_executable_invoke(e, "negate_gpu", 1, &x, 1, &z);
  EXPECT_EQ(kiln_status_code(s), KILN_UNAVAILABLE);
  std::string text = message(s);
  EXPECT_TRUE(contains(text, "entry 'negate_gpu' was compiled for cuda, which "
                             "this runtime cannot run: device cuda:0 is not "
                             "available: " +
                                 kNoCuda))
      << text;
  EXPECT_EQ(z, nullptr);
  kiln_buffer_t *kept = y;
  EXPECT_EQ(code(kiln_executable_invoke(e, "negate_gpu", 1, &x, 1, &kept)),
            KILN_UNAVAILABLE);
  EXPECT_EQ(kept, y);
  EXPECT_EQ(calls, 1);
  kiln_buffer_release(y);
  kiln_buffer_release(x);
  kiln_executable_release(e);
}

TEST(Device, CudaEntryIsUnavailableToInstances) {
  kiln_instance_t *model = nullptr;
  ASSERT_EQ(kiln_instance_create(kMixedManifest, negateLookup, nullptr, &model),
            nullptr);
  float x[2] = {3, 4}, y[2] = {0, 0};
  void *args[] = {x, y};
  calls = 0;
  EXPECT_EQ(kiln_instance_call(model, "negate", args), KILN_OK);
  EXPECT_EQ(y[1], -4.0f);
  EXPECT_EQ(kiln_instance_call(model, "negate_gpu", args), KILN_UNAVAILABLE);
  EXPECT_TRUE(contains(kiln_instance_error(model),
                       "entry 'negate_gpu' was compiled for cuda"));
  EXPECT_EQ(calls, 1);
  kiln_instance_destroy(model);
}

TEST(Device, OlderManifestEntriesAreCpuEntries) {
  kiln_executable_t *e = nullptr;
  ASSERT_EQ(kiln_executable_create("kiln-manifest 3\n"
                                   "entry negate 1 1 0\n"
                                   "in f32 1 2\n"
                                   "out f32 1 2\n"
                                   "end\n",
                                   negateLookup, nullptr, nullptr, &e),
            nullptr);
  kiln_device_t device = kiln_entry_device(e, 0);
  EXPECT_EQ(device.type, KILN_DEVICE_CPU);
  EXPECT_EQ(device.ordinal, 0);
  kiln_executable_release(e);
  // The fake module's manifest is version 1.
  ASSERT_EQ(kiln_executable_load_library(KILN_FAKE_MODULE_PATH, &e), nullptr);
  EXPECT_EQ(kiln_entry_device(e, 0).type, KILN_DEVICE_CPU);
  kiln_executable_release(e);
}

} // namespace
