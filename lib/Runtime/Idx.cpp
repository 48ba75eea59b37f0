//===- Idx.cpp - Reading MNIST-style idx files ------------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The idx format of MNIST and Fashion-MNIST: a big-endian header -- two zero
// bytes, a type code (0x08: unsigned bytes) and the rank -- then one
// big-endian u32 per dimension, then the elements, row-major. The files are
// usually gzip-compressed; zlib reads both forms. A whole file is read to
// its end, so a gzip file's checksum and length are verified; with a limit
// on the rows, the rest is not read and not verified.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace {

kiln_status_t corruptIdx(const char *path, const std::string &why) {
  return kiln_status_create(KILN_DATA_LOSS, "%s is not a valid idx file: %s",
                            path, why.c_str());
}

/// What zlib says went wrong with `f`'s compressed stream, or "" (a plain
/// end of file, or no error).
std::string streamError(gzFile f) {
  int code = Z_OK;
  const char *message = gzerror(f, &code);
  if (code == Z_OK || code == Z_STREAM_END)
    return "";
  if (code == Z_BUF_ERROR)
    return "the gzip stream ends early (truncated file)";
  // zlib writes "<path>: <what>"; the caller names the file already.
  std::string what = message && *message ? message : "zlib error";
  if (size_t colon = what.rfind(": "); colon != std::string::npos)
    what = what.substr(colon + 2);
  return "the gzip stream is corrupted (" + what + ")";
}

/// Reads exactly `n` bytes; false at end of file or on an error (then
/// `*error` says what zlib found, or stays empty at a plain end of file).
bool readAll(gzFile f, void *into, size_t n, std::string *error) {
  auto *c = static_cast<unsigned char *>(into);
  while (n) {
    unsigned chunk = n > (1u << 30) ? (1u << 30) : static_cast<unsigned>(n);
    int got = gzread(f, c, chunk);
    if (got <= 0) {
      *error = streamError(f);
      return false;
    }
    c += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

} // namespace

extern "C" kiln_status_t kiln_idx_read(const char *path, kiln_dtype_t dtype,
                                       int64_t limit, kiln_buffer_t **out) {
  if (!path || !out)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_idx_read: %s is NULL",
                              path ? "out" : "path");
  *out = nullptr;
  if (dtype != KILN_F32 && dtype != KILN_F64 && dtype != KILN_I32 &&
      dtype != KILN_I64 && dtype != KILN_UI8)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_idx_read: %s is not f32, f64, i32, i64 "
                              "or ui8",
                              kiln_dtype_name(dtype));
  gzFile f = gzopen(path, "rb");
  if (!f)
    return kiln_status_create(errno == ENOENT ? KILN_NOT_FOUND : KILN_IO_ERROR,
                              "cannot open %s: %s", path,
                              errno ? std::strerror(errno) : "out of memory");
  auto fail = [&](kiln_status_t s) {
    gzclose(f);
    return s;
  };
  // A damaged stream is reported as such, not as the part of the file
  // that could not be read.
  std::string error;
  auto missing = [&](const std::string &what) {
    return fail(corruptIdx(path, error.empty() ? what : error));
  };
  unsigned char magic[4];
  if (!readAll(f, magic, 4, &error))
    return missing("it has no 4-byte header");
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08)
    return fail(corruptIdx(path, "the header does not announce unsigned bytes "
                                 "(00 00 08 RANK)"));
  int32_t rank = magic[3];
  if (rank < 1 || rank > KILN_MAX_RANK)
    return fail(corruptIdx(path, "rank " + std::to_string(rank)));
  std::vector<int64_t> shape(static_cast<size_t>(rank));
  for (int64_t &d : shape) {
    unsigned char b[4];
    if (!readAll(f, b, 4, &error))
      return missing("the dimensions are truncated");
    d = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) |
        int64_t{b[3]};
  }
  if (limit >= 0 && limit < shape[0])
    shape[0] = limit;
  int64_t elements = 0;
  size_t bytes = 0;
  if (kiln_status_t s = kiln::runtime::checkShape(rank, shape.data(), 1,
                                                  &elements, &bytes))
    return fail(kiln_status_annotate(s, "%s", path));
  // Read in chunks that double (64 KiB first), growing the vector as data
  // arrives: a header that announces more than the file holds fails as
  // truncated after reading at most twice what the file has, instead of
  // reserving memory for the announced size first.
  std::vector<unsigned char> raw;
  for (size_t have = 0, want = static_cast<size_t>(elements); have < want;) {
    size_t chunk = std::min<size_t>(want - have, std::max<size_t>(have, 64 << 10));
    raw.resize(have + chunk);
    if (!readAll(f, raw.data() + have, chunk, &error))
      return missing("the data is truncated (expected " +
                     std::to_string(elements) + " bytes)");
    have += chunk;
  }
  if (limit < 0) {
    // The whole file was wanted: it must end here, and a gzip file's
    // trailer (CRC-32 and length) must check out, which zlib verifies
    // when the stream ends.
    unsigned char extra;
    int got = gzread(f, &extra, 1);
    if (got > 0)
      return fail(corruptIdx(path, "there are bytes after the data"));
    if (std::string damaged = streamError(f); !damaged.empty())
      return fail(corruptIdx(path, damaged));
  }
  gzclose(f);
  kiln_buffer_t *b = nullptr;
  if (kiln_status_t s = kiln_buffer_create({KILN_DEVICE_CPU, 0}, dtype, rank,
                                           shape.data(), &b))
    return kiln_status_annotate(s, "%s", path);
  void *data = kiln_buffer_host_data(b);
  for (size_t i = 0; i < raw.size(); ++i) {
    switch (dtype) {
    case KILN_F32:
      static_cast<float *>(data)[i] = raw[i];
      break;
    case KILN_F64:
      static_cast<double *>(data)[i] = raw[i];
      break;
    case KILN_I32:
      static_cast<int32_t *>(data)[i] = raw[i];
      break;
    case KILN_UI8:
      static_cast<uint8_t *>(data)[i] = raw[i];
      break;
    default:
      static_cast<int64_t *>(data)[i] = raw[i];
      break;
    }
  }
  *out = b;
  return nullptr;
}
