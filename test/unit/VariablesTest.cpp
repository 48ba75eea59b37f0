//===- VariablesTest.cpp - Tests of variable stores -----------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Variable stores and safetensors checkpoints (Variables.cpp): every dtype,
// subsets, replacement, and damaged checkpoints that must change nothing.
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Runtime.h"

#include "RuntimeTestUtils.h"

#include "gtest/gtest.h"

#include <cstring>
#include <string>
#include <vector>

using namespace kiln::runtime::test;

namespace {

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
  std::string m =
      describe(kiln_variables_save(store, subset.c_str(), 1, missing));
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
      {header("{\"w\": {\"dtype\": \"U64\", \"shape\": [1], "
              "\"data_offsets\": [0, 1]}}") +
           "x",
       "has dtype 'U64'"},
      {header("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], "
              "\"data_offsets\": [0, 4]}}") +
           "abcd",
       "has 4 bytes of data but its dtype and shape need 8"},
      {header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], "
              "\"data_offsets\": [0, 4]}, \"v\": {\"dtype\": \"F32\", "
              "\"shape\": [1], \"data_offsets\": [2, 6]}}") +
           "abcdef",
       "overlaps another tensor's"},
      {header("{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], "
              "\"data_offsets\": [0, 4]}}") +
           "abcd",
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
  EXPECT_EQ(
      code(kiln_variables_load(store, tempPath("absent").c_str(), nullptr)),
      KILN_NOT_FOUND);
  kiln_variables_destroy(store);
}

} // namespace
