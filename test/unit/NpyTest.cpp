//===- NpyTest.cpp - Tests of the .npy reader and writer ------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// .npy files (Npy.cpp): round trips, atomic writes, the files NumPy writes
// and reads (checked with /usr/bin/python3 when it has NumPy, skipped
// otherwise), and every kind of damaged file.
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Runtime.h"

#include "RuntimeTestUtils.h"

#include "gtest/gtest.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

using namespace kiln::runtime::test;

namespace {

/// Runs a Python script with /usr/bin/python3; returns its exit status.
int runPython(const std::string &script) {
  static int counter = 0;
  std::string path = tempPath("script" + std::to_string(counter++) + ".py");
  writeFile(path, script);
  return std::system(("/usr/bin/python3 " + path + " 2>&1").c_str());
}

/// Whether /usr/bin/python3 can import numpy.
bool haveNumPy() {
  static bool have = std::system("/usr/bin/python3 -c 'import numpy' "
                                 ">/dev/null 2>&1") == 0;
  return have;
}

/// Builds a .npy file: magic, version, header length and header as given
/// (no padding added), then `data`.
std::string npyFile(const std::string &header, const std::string &data = "",
                    int major = 1) {
  std::string file("\x93NUMPY", 6);
  file += static_cast<char>(major);
  file += '\0';
  size_t n = header.size();
  file += static_cast<char>(n & 0xff);
  file += static_cast<char>((n >> 8) & 0xff);
  if (major != 1) {
    file += static_cast<char>((n >> 16) & 0xff);
    file += static_cast<char>((n >> 24) & 0xff);
  }
  return file + header + data;
}

/// A header dict for npyFile.
std::string dict(const std::string &descr, const std::string &fortran,
                 const std::string &shape) {
  return "{'descr': " + descr + ", 'fortran_order': " + fortran +
         ", 'shape': " + shape + ", }\n";
}

/// Reads `path` and expects a failure with `expected` code and message part.
void expectReadError(const std::string &path, kiln_status_code_t expected,
                     const std::string &part) {
  kiln_buffer_t *b = reinterpret_cast<kiln_buffer_t *>(1);
  kiln_status_t s = kiln_npy_read(path.c_str(), &b);
  EXPECT_EQ(b, nullptr);
  EXPECT_EQ(kiln_status_code(s), expected) << kiln_status_message(s);
  std::string m = message(s);
  EXPECT_TRUE(contains(m, part)) << m;
  EXPECT_TRUE(contains(m, path)) << m;
}

/// Writes `file` to a fresh path and expects reading it to fail.
void expectFileError(const std::string &file, kiln_status_code_t expected,
                     const std::string &part) {
  static int counter = 0;
  std::string path = tempPath("bad" + std::to_string(counter++) + ".npy");
  writeFile(path, file);
  expectReadError(path, expected, part);
}

TEST(Npy, RoundTripEveryDtypeAndRank) {
  const std::vector<std::vector<int64_t>> shapes = {
      {}, {5}, {2, 3}, {0, 4}, {2, 1, 3, 1}};
  for (kiln_dtype_t t :
       {KILN_F32, KILN_F64, KILN_F16, KILN_I1, KILN_I32, KILN_I64, KILN_I8,
        KILN_I16, KILN_UI8, KILN_UI16, KILN_UI32}) {
    for (const std::vector<int64_t> &shape : shapes) {
      int32_t rank = static_cast<int32_t>(shape.size());
      kiln_buffer_t *b = nullptr;
      ASSERT_EQ(kiln_buffer_create(kCpu, t, rank, shape.data(), &b), nullptr);
      fill(b);
      std::string path = tempPath(std::string("rt_") + kiln_dtype_name(t) +
                                  "_" + std::to_string(rank) + ".npy");
      ASSERT_EQ(kiln_npy_write(path.c_str(), b), nullptr);
      kiln_buffer_t *back = nullptr;
      ASSERT_EQ(kiln_npy_read(path.c_str(), &back), nullptr)
          << kiln_dtype_name(t);
      EXPECT_EQ(kiln_buffer_dtype(back), t);
      ASSERT_EQ(kiln_buffer_rank(back), rank);
      for (int32_t i = 0; i < rank; ++i)
        EXPECT_EQ(kiln_buffer_shape(back)[i], shape[i]);
      ASSERT_EQ(kiln_buffer_byte_size(back), kiln_buffer_byte_size(b));
      EXPECT_EQ(std::memcmp(kiln_buffer_host_data(back),
                            kiln_buffer_host_data(b), kiln_buffer_byte_size(b)),
                0);
      kiln_buffer_release(b);
      kiln_buffer_release(back);
    }
  }
}

TEST(Npy, WriteIsAtomicAndAligned) {
  std::string path = tempPath("atomic.npy");
  int64_t shape[] = {3};
  kiln_buffer_t *b = nullptr;
  ASSERT_EQ(kiln_buffer_create_zeroed(kCpu, KILN_F64, 1, shape, &b), nullptr);
  writeFile(path, "old contents");
  ASSERT_EQ(kiln_npy_write(path.c_str(), b), nullptr);
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  // The header is padded so that the data starts at a multiple of 64.
  ASSERT_EQ(bytes.size(), 128u + 24u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_EQ(static_cast<unsigned char>(bytes[8]) + 256 * bytes[9], 118);
  EXPECT_EQ(bytes[127], '\n');
  EXPECT_TRUE(contains(bytes, "{'descr': '<f8', 'fortran_order': False, "
                              "'shape': (3,), }"));
  // No temporary files are left behind.
  std::string stray = capture("ls " + tempDir() + " | grep -c tmp");
  EXPECT_EQ(stray, "0\n");
  // A failed write leaves the old file and no temporary.
  std::string inDir = tempPath("no-such-dir/x.npy");
  kiln_status_t s = kiln_npy_write(inDir.c_str(), b);
  EXPECT_EQ(kiln_status_code(s), KILN_IO_ERROR);
  EXPECT_TRUE(contains(message(s), "cannot write " + inDir));
  std::string dir = tempPath("a-directory");
  mkdir(dir.c_str(), 0755);
  EXPECT_EQ(code(kiln_npy_write(dir.c_str(), b)), KILN_IO_ERROR);
  EXPECT_EQ(capture("ls " + tempDir() + " | grep -c tmp"), "0\n");
  kiln_buffer_release(b);
}

TEST(Npy, ReadsWhatNumPyWrites) {
  if (!haveNumPy())
    GTEST_SKIP() << "/usr/bin/python3 has no NumPy";
  std::string dir = tempDir();
  ASSERT_EQ(
      runPython(
          "import numpy as np\n"
          "from numpy.lib import format\n"
          "d = '" +
          dir +
          "'\n"
          "np.save(d + '/np_f32.npy', np.arange(6, dtype=np.float32)"
          ".reshape(2, 3) / 4)\n"
          "np.save(d + '/np_f64.npy', np.array([1.5, -2.25, 1e300]))\n"
          "np.save(d + '/np_f16.npy', np.array([0.5, -1, 65504], np.float16))\n"
          "np.save(d + '/np_bool.npy', np.array([[True, False], [False, "
          "True]]))\n"
          "np.save(d + '/np_i32.npy', np.array([-7, 0, 2**31 - 1], np.int32))\n"
          "np.save(d + '/np_i64.npy', np.array([-2**63, 5], np.int64))\n"
          "np.save(d + '/np_u8.npy', np.array([0, 200, 255], np.uint8))\n"
          "np.save(d + '/np_i8.npy', np.array([-128, 127], np.int8))\n"
          "np.save(d + '/np_u16.npy', np.array([65535], np.uint16))\n"
          "np.save(d + '/np_i16.npy', np.array([-32768], np.int16))\n"
          "np.save(d + '/np_u32.npy', np.array([4000000000], np.uint32))\n"
          "np.save(d + '/np_scalar.npy', np.float32(3.25))\n"
          "np.save(d + '/np_empty.npy', np.zeros((0, 3), np.int32))\n"
          "np.save(d + '/np_fortran_1d.npy', np.asfortranarray(np.ones(3)))\n"
          "np.save(d + '/np_transposed.npy', np.arange(6.0).reshape(2, 3).T)\n"
          "for v in [(1, 0), (2, 0), (3, 0)]:\n"
          "    with open(d + '/np_v%d.npy' % v[0], 'wb') as f:\n"
          "        format.write_array(f, np.array([[1, 2]], np.int64), "
          "version=v)\n"),
      0);

  auto read = [&](const char *name) {
    kiln_buffer_t *b = nullptr;
    kiln_status_t s = kiln_npy_read((dir + "/" + name).c_str(), &b);
    EXPECT_EQ(s, nullptr) << name << ": " << kiln_status_message(s);
    kiln_status_free(s);
    return b;
  };
  kiln_buffer_t *b = read("np_f32.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_F32);
  EXPECT_EQ(kiln_buffer_rank(b), 2);
  EXPECT_EQ(static_cast<float *>(kiln_buffer_host_data(b))[5], 1.25f);
  kiln_buffer_release(b);

  b = read("np_f64.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_F64);
  EXPECT_EQ(static_cast<double *>(kiln_buffer_host_data(b))[1], -2.25);
  EXPECT_EQ(static_cast<double *>(kiln_buffer_host_data(b))[2], 1e300);
  kiln_buffer_release(b);

  b = read("np_f16.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_F16);
  auto *half = static_cast<uint16_t *>(kiln_buffer_host_data(b));
  EXPECT_EQ(half[0], 0x3800u); // 0.5
  EXPECT_EQ(half[1], 0xbc00u); // -1
  EXPECT_EQ(half[2], 0x7bffu); // 65504
  kiln_buffer_release(b);

  b = read("np_bool.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_I1);
  auto *flags = static_cast<uint8_t *>(kiln_buffer_host_data(b));
  EXPECT_EQ(flags[0] + 2 * flags[1] + 4 * flags[2] + 8 * flags[3], 9);
  kiln_buffer_release(b);

  // NumPy's one-byte types are written '|u1' and '|i1'.
  b = read("np_u8.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_UI8);
  EXPECT_EQ(static_cast<uint8_t *>(kiln_buffer_host_data(b))[1], 200);
  kiln_buffer_release(b);
  b = read("np_i8.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_I8);
  EXPECT_EQ(static_cast<int8_t *>(kiln_buffer_host_data(b))[0], -128);
  kiln_buffer_release(b);
  b = read("np_u16.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_UI16);
  EXPECT_EQ(static_cast<uint16_t *>(kiln_buffer_host_data(b))[0], 65535);
  kiln_buffer_release(b);
  b = read("np_i16.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_I16);
  EXPECT_EQ(static_cast<int16_t *>(kiln_buffer_host_data(b))[0], -32768);
  kiln_buffer_release(b);
  b = read("np_u32.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_UI32);
  EXPECT_EQ(static_cast<uint32_t *>(kiln_buffer_host_data(b))[0], 4000000000u);
  kiln_buffer_release(b);

  b = read("np_i32.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_I32);
  EXPECT_EQ(static_cast<int32_t *>(kiln_buffer_host_data(b))[0], -7);
  EXPECT_EQ(static_cast<int32_t *>(kiln_buffer_host_data(b))[2], INT32_MAX);
  kiln_buffer_release(b);

  b = read("np_i64.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_dtype(b), KILN_I64);
  EXPECT_EQ(static_cast<int64_t *>(kiln_buffer_host_data(b))[0], INT64_MIN);
  kiln_buffer_release(b);

  b = read("np_scalar.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_rank(b), 0);
  EXPECT_EQ(*static_cast<float *>(kiln_buffer_host_data(b)), 3.25f);
  kiln_buffer_release(b);

  b = read("np_empty.npy");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(kiln_buffer_element_count(b), 0);
  EXPECT_EQ(kiln_buffer_shape(b)[1], 3);
  kiln_buffer_release(b);

  // A 1-D array is both C and Fortran contiguous; NumPy writes it as C order.
  b = read("np_fortran_1d.npy");
  kiln_buffer_release(b);
  expectReadError(dir + "/np_transposed.npy", KILN_UNIMPLEMENTED,
                  "Fortran-ordered arrays are not supported");

  for (const char *name : {"np_v1.npy", "np_v2.npy", "np_v3.npy"}) {
    b = read(name);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(kiln_buffer_rank(b), 2);
    EXPECT_EQ(static_cast<int64_t *>(kiln_buffer_host_data(b))[1], 2) << name;
    kiln_buffer_release(b);
  }
}

TEST(Npy, NumPyReadsWhatKilnWrites) {
  if (!haveNumPy())
    GTEST_SKIP() << "/usr/bin/python3 has no NumPy";
  struct Case {
    kiln_dtype_t dtype;
    std::vector<int64_t> shape;
    const char *name;
  } cases[] = {{KILN_F32, {2, 3}, "k_f32"}, {KILN_F64, {}, "k_f64"},
               {KILN_F16, {4}, "k_f16"},    {KILN_I1, {3, 1}, "k_i1"},
               {KILN_I32, {0}, "k_i32"},    {KILN_I64, {2, 2, 2}, "k_i64"}};
  std::string checks = "import numpy as np\nd = '" + tempDir() + "'\n";
  const char *numpyNames[] = {"float32", "float64", "float16", "bf16",
                              "bool_",   "int32",   "int64"};
  for (const Case &c : cases) {
    kiln_buffer_t *b = nullptr;
    ASSERT_EQ(kiln_buffer_create(kCpu, c.dtype,
                                 static_cast<int32_t>(c.shape.size()),
                                 c.shape.data(), &b),
              nullptr);
    fill(b);
    std::string path = tempPath(std::string(c.name) + ".npy");
    ASSERT_EQ(kiln_npy_write(path.c_str(), b), nullptr);
    // Compare with the raw bytes NumPy sees.
    std::string hex;
    auto *bytes = static_cast<unsigned char *>(kiln_buffer_host_data(b));
    char digits[3];
    for (size_t i = 0; i < kiln_buffer_byte_size(b); ++i) {
      std::snprintf(digits, sizeof(digits), "%02x", bytes[i]);
      hex += digits;
    }
    std::string shape = "(";
    for (int64_t d : c.shape)
      shape += std::to_string(d) + ",";
    shape += ")";
    checks += "a = np.load(d + '/" + std::string(c.name) +
              ".npy')\n"
              "assert a.dtype == np." +
              numpyNames[c.dtype] + ", a.dtype\n" +
              "assert a.shape == " + shape + ", a.shape\n" +
              "assert a.tobytes().hex() == '" + hex + "'\n";
    kiln_buffer_release(b);
  }
  EXPECT_EQ(runPython(checks), 0);
}

TEST(Npy, Errors) {
  // Files that cannot be read.
  expectReadError(tempPath("absent.npy"), KILN_NOT_FOUND, "cannot open");
  std::string dir = tempPath("dir.npy");
  mkdir(dir.c_str(), 0755);
  expectReadError(dir, KILN_IO_ERROR, "cannot read");

  // Corrupt or truncated files.
  expectFileError("", KILN_DATA_LOSS, "shorter than the 8-byte preamble");
  expectFileError("NOTNUMPYxxxxxxxxxxxx", KILN_DATA_LOSS,
                  "not a valid .npy file: bad magic");
  expectFileError(std::string("\x93NUMPY\x01\x00", 8), KILN_DATA_LOSS,
                  "truncated header length");
  expectFileError(std::string("\x93NUMPY\x02\x00\x10\x00", 10), KILN_DATA_LOSS,
                  "truncated header length");
  std::string header = dict("'<f4'", "False", "(2,)");
  expectFileError(npyFile(header).substr(0, 20), KILN_DATA_LOSS,
                  "truncated header");
  expectFileError(
      npyFile(dict("'<f4'", "False", "(2, 2)"), std::string(12, '\0')),
      KILN_DATA_LOSS, "data is shorter than shape [2, 2] needs (16 bytes)");
  expectFileError(npyFile(dict("'<f8'", "False", "()")), KILN_DATA_LOSS,
                  "data is shorter than shape [] needs (8 bytes)");
  // A header claiming a huge array fails before allocating it.
  expectFileError(npyFile(dict("'<f4'", "False", "(1000000000000,)")),
                  KILN_DATA_LOSS, "data is shorter than shape");
  expectFileError(npyFile(dict("'|b1'", "False", "(2,)"), "\x01\x02"),
                  KILN_DATA_LOSS, "boolean element 1 is neither 0 nor 1");

  // Header dicts that do not parse or lack what is needed.
  expectFileError(npyFile("not a dict"), KILN_DATA_LOSS,
                  "cannot parse the header dict: expected '{'");
  expectFileError(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': "
                          "(2,)"),
                  KILN_DATA_LOSS, "cannot parse the header dict");
  expectFileError(npyFile("{'descr': '<f4' 'fortran_order': False}"),
                  KILN_DATA_LOSS, "expected ',' or '}'");
  expectFileError(npyFile("{'descr': '<f4, 'shape': ()}"), KILN_DATA_LOSS,
                  "cannot parse the header dict");
  expectFileError(npyFile(dict("'<f4'", "False", "(2,)") + "x"), KILN_DATA_LOSS,
                  "unexpected text after the closing '}'");
  expectFileError(npyFile("{'descr': '<f4', 'shape': (2,)}"), KILN_DATA_LOSS,
                  "the header lacks 'fortran_order'");
  expectFileError(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': "
                          "(1,), 'extra': 1}"),
                  KILN_DATA_LOSS, "unexpected header key 'extra'");
  expectFileError(npyFile("{'descr': '<f4', 'descr': '<f4', 'fortran_order': "
                          "False, 'shape': (1,)}"),
                  KILN_DATA_LOSS, "duplicate header key 'descr'");
  expectFileError(npyFile(dict("'<f4'", "False", "(2, -1)")), KILN_DATA_LOSS,
                  "shape (2, -1) is not a tuple of non-negative integers");
  expectFileError(npyFile(dict("'<f4'", "False", "(2)")), KILN_DATA_LOSS,
                  "shape (2) is not a tuple");
  expectFileError(npyFile(dict("'<f4'", "False", "[2]")), KILN_DATA_LOSS,
                  "is not a tuple");
  expectFileError(npyFile(dict("'<f4'", "False", "(99999999999999999999,)")),
                  KILN_DATA_LOSS, "is not a tuple of non-negative integers");
  expectFileError(npyFile(dict("'<f4'", "0", "(2,)")), KILN_DATA_LOSS,
                  "fortran_order is 0");
  expectFileError(npyFile(dict("4", "False", "(2,)")), KILN_DATA_LOSS,
                  "descr 4 is not a string");

  // Valid files Kiln does not take.
  expectFileError(npyFile(dict("'<f4'", "True", "(2,)"), std::string(8, '\0')),
                  KILN_UNIMPLEMENTED,
                  "Fortran-ordered arrays are not supported");
  expectFileError(npyFile(dict("'<c8'", "False", "(1,)"), std::string(8, '\0')),
                  KILN_INVALID_ARGUMENT, "dtype '<c8' is not supported");
  expectFileError(npyFile(dict("'<u8'", "False", "(1,)"), std::string(2, '\0')),
                  KILN_INVALID_ARGUMENT, "dtype '<u8' is not supported");
  expectFileError(npyFile(dict("'>f4'", "False", "(1,)"), std::string(4, '\0')),
                  KILN_INVALID_ARGUMENT, "dtype '>f4' is big-endian");
  expectFileError(npyFile(dict("[('a', '<f4')]", "False", "(1,)")),
                  KILN_INVALID_ARGUMENT, "structured dtypes are not supported");
  std::string rank17 = "(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)";
  expectFileError(npyFile(dict("'<f4'", "False", rank17), std::string(4, '\0')),
                  KILN_INVALID_ARGUMENT, "rank 17 exceeds");
  std::string v4 =
      npyFile(dict("'<f4'", "False", "(1,)"), std::string(4, '\0'), 2);
  v4[6] = 4;
  expectFileError(v4, KILN_UNIMPLEMENTED,
                  ".npy format version 4.0 is not supported");

  // Accepted variants: '=' and '|' byte orders, double quotes, Python 2
  // longs, no trailing comma, version 2.0 written by hand.
  for (const std::string &file :
       {npyFile(dict("'=i4'", "False", "(1,)"), std::string(4, '\x05')),
        npyFile(dict("'|i4'", "False", "(1L,)"), std::string(4, '\x05')),
        npyFile("{\"descr\": \"<i4\", \"fortran_order\": False, \"shape\": "
                "(1,)}",
                std::string(4, '\x05')),
        npyFile(dict("'<i4'", "False", "(1,)"), std::string(4, '\x05'), 2)}) {
    std::string path = tempPath("variant.npy");
    writeFile(path, file);
    kiln_buffer_t *b = nullptr;
    ASSERT_EQ(kiln_npy_read(path.c_str(), &b), nullptr) << file;
    EXPECT_EQ(kiln_buffer_dtype(b), KILN_I32);
    EXPECT_EQ(*static_cast<int32_t *>(kiln_buffer_host_data(b)), 0x05050505);
    kiln_buffer_release(b);
  }

  // bf16 has no NumPy dtype.
  int64_t shape[] = {2};
  kiln_buffer_t *bf = nullptr;
  ASSERT_EQ(kiln_buffer_create(kCpu, KILN_BF16, 1, shape, &bf), nullptr);
  kiln_status_t s = kiln_npy_write(tempPath("bf.npy").c_str(), bf);
  EXPECT_EQ(kiln_status_code(s), KILN_UNIMPLEMENTED);
  EXPECT_TRUE(contains(message(s), "bf16 has no NumPy dtype"));
  kiln_buffer_release(bf);
  struct stat info;
  EXPECT_NE(stat(tempPath("bf.npy").c_str(), &info), 0);
}

} // namespace
