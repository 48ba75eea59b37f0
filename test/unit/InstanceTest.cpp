//===- InstanceTest.cpp - Tests of instances ------------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Instances (Instance.cpp): what the header of an ahead-of-time compiled
// library wraps: calls with raw pointers, variables, checkpoints, errors.
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Runtime.h"

#include "RuntimeTestUtils.h"

#include "gtest/gtest.h"

#include <cstdio>
#include <string>

using namespace kiln::runtime::test;

namespace {

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
  EXPECT_EQ(kiln_instance_get_variable(model, "w", w, sizeof w),
            KILN_NOT_FOUND);
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
  EXPECT_TRUE(
      contains(kiln_instance_error(model), "/nonexistent/x.safetensors"));
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

} // namespace
