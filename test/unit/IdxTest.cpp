//===- IdxTest.cpp - Tests of the idx reader ------------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// idx files (Idx.cpp): bytes as numbers, limits, truncated and foreign
// files, damaged gzip streams.
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Runtime.h"

#include "RuntimeTestUtils.h"

#include "gtest/gtest.h"

#include <zlib.h>

#include <fstream>
#include <iterator>
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
  // As they are in the file (Keras' MNIST arrays are uint8).
  ASSERT_EQ(kiln_idx_read(path.c_str(), KILN_UI8, -1, &b), nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_UI8);
  EXPECT_EQ(static_cast<uint8_t *>(kiln_buffer_host_data(b))[5], 255);
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
  EXPECT_TRUE(contains(m, "is not f32, f64, i32, i64 or ui8")) << m;
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Idx, ChecksTheGzipStream) {
  // Four rows of one byte, gzip-compressed by zlib.
  std::string path = tempPath("rows-idx1-ubyte.gz");
  std::string idx = std::string("\0\0\x08\x01\0\0\0\x04\x01\x02\x03\x04", 12);
  gzFile g = gzopen(path.c_str(), "wb");
  ASSERT_NE(g, nullptr);
  ASSERT_EQ(gzwrite(g, idx.data(), static_cast<unsigned>(idx.size())), 12);
  ASSERT_EQ(gzclose(g), Z_OK);
  std::string gz = readFile(path);
  kiln_buffer_t *b = nullptr;
  ASSERT_EQ(kiln_idx_read(path.c_str(), KILN_F32, -1, &b), nullptr);
  EXPECT_EQ(static_cast<float *>(kiln_buffer_host_data(b))[3], 4.0f);
  kiln_buffer_release(b);

  // The trailer (CRC-32, length) cut off: the data reads, the end does not.
  writeFile(path, gz.substr(0, gz.size() - 8));
  std::string m = describe(kiln_idx_read(path.c_str(), KILN_F32, -1, &b));
  EXPECT_TRUE(contains(m, "the gzip stream ends early")) << m;
  EXPECT_EQ(code(kiln_idx_read(path.c_str(), KILN_F32, -1, &b)), KILN_DATA_LOSS);
  // A wrong checksum.
  std::string damaged = gz;
  damaged[damaged.size() - 8] ^= 0x5a;
  writeFile(path, damaged);
  m = describe(kiln_idx_read(path.c_str(), KILN_F32, -1, &b));
  EXPECT_TRUE(contains(m, "the gzip stream is corrupted (incorrect data check)")) << m;
  // Damage inside the compressed data is named as such, not as a short
  // header.
  damaged = gz;
  for (size_t i = 10; i < damaged.size() - 8; ++i)
    damaged[i] = static_cast<char>(0xff);
  writeFile(path, damaged);
  m = describe(kiln_idx_read(path.c_str(), KILN_F32, -1, &b));
  EXPECT_TRUE(contains(m, "the gzip stream is corrupted")) << m;
  EXPECT_FALSE(contains(m, "no 4-byte header")) << m;
  // A header announcing 2^31 x 65286 bytes over a 4-byte file (found by
  // scripts/fuzz.sh idx): truncated, without reserving the memory first.
  writeFile(path, std::string("\0\0\x08\x02\x80\0\0\x03\0\0\xff\x06", 12) +
                      "abcd");
  m = describe(kiln_idx_read(path.c_str(), KILN_F32, -1, &b));
  EXPECT_TRUE(contains(m, "the data is truncated (expected 140200617639186 bytes)"))
      << m;
  // Bytes after the data of an uncompressed file.
  writeFile(path, idx + "x");
  m = describe(kiln_idx_read(path.c_str(), KILN_F32, -1, &b));
  EXPECT_TRUE(contains(m, "there are bytes after the data")) << m;
}

} // namespace
