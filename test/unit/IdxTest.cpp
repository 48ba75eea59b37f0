//===- IdxTest.cpp - Tests of the idx reader ------------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// idx files (Idx.cpp): bytes as numbers, limits, truncated and foreign
// files.
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Runtime.h"

#include "RuntimeTestUtils.h"

#include "gtest/gtest.h"

#include <string>

using namespace kiln::runtime::test;

namespace {

TEST(Idx, ReadsBytesAsNumbers) {
  std::string path = tempPath("small-idx2-ubyte");
  // 00 00 08 02, dims 3 x 2, then six bytes.
  writeFile(path, std::string("\0\0\x08\x02\0\0\0\x03\0\0\0\x02", 12) +
                      std::string("\x01\x02\x03\x04\x05\xff", 6));
  kiln_buffer_t *b = nullptr;
  ASSERT_EQ(kiln_idx_read(path.c_str(), KILN_F32, -1, &b), nullptr);
  ASSERT_EQ(kiln_buffer_rank(b), 2);
  EXPECT_EQ(kiln_buffer_shape(b)[0], 3);
  EXPECT_EQ(static_cast<float *>(kiln_buffer_host_data(b))[5], 255.0f);
  kiln_buffer_release(b);
  ASSERT_EQ(kiln_idx_read(path.c_str(), KILN_I64, 2, &b), nullptr);
  EXPECT_EQ(kiln_buffer_shape(b)[0], 2);
  EXPECT_EQ(static_cast<int64_t *>(kiln_buffer_host_data(b))[3], 4);
  kiln_buffer_release(b);
  writeFile(path, std::string("\0\0\x08\x01\0\0\0\x09\x01", 9));
  std::string m = describe(kiln_idx_read(path.c_str(), KILN_F32, -1, &b));
  EXPECT_TRUE(contains(m, "the data is truncated (expected 9 bytes)")) << m;
  writeFile(path, std::string("\0\0\x0d\x01", 4));
  m = describe(kiln_idx_read(path.c_str(), KILN_F32, -1, &b));
  EXPECT_TRUE(contains(m, "does not announce unsigned bytes")) << m;
  EXPECT_EQ(code(kiln_idx_read(tempPath("none.gz").c_str(), KILN_F32, -1, &b)),
            KILN_NOT_FOUND);
  m = describe(kiln_idx_read(path.c_str(), KILN_I1, -1, &b));
  EXPECT_TRUE(contains(m, "is not f32, f64, i32 or i64")) << m;
}

} // namespace
