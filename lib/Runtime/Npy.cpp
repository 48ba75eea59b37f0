//===- Npy.cpp - Reading and writing NumPy .npy files
//----------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Format: "\x93NUMPY", major, minor, header length (uint16 for 1.x, uint32 for
// 2.x/3.x, little-endian), then a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// padded to a multiple of 64 bytes, then the raw data.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

using kiln::runtime::checkShape;

namespace {

struct File {
  FILE *f = nullptr;
  ~File() {
    if (f)
      std::fclose(f);
  }
};

kiln_status_t corrupt(const char *path, const std::string &why) {
  return kiln_status_create(KILN_DATA_LOSS, "%s: not a valid .npy file: %s",
                            path, why.c_str());
}

/// The value after `'key':` in the header dict, up to the next top-level
/// comma or closing brace.
bool dictValue(const std::string &header, const std::string &key,
               std::string &value) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos)
    at = header.find("\"" + key + "\"");
  if (at == std::string::npos)
    return false;
  size_t colon = header.find(':', at);
  if (colon == std::string::npos)
    return false;
  size_t i = colon + 1;
  int depth = 0;
  size_t start = i;
  for (; i < header.size(); ++i) {
    char c = header[i];
    if (c == '(')
      depth++;
    else if (c == ')')
      depth--;
    else if ((c == ',' || c == '}') && depth == 0)
      break;
  }
  value = header.substr(start, i - start);
  // Trim spaces.
  size_t b = value.find_first_not_of(" \t");
  size_t e = value.find_last_not_of(" \t");
  value = b == std::string::npos ? "" : value.substr(b, e - b + 1);
  return true;
}

bool parseDescr(std::string descr, kiln_dtype_t *dtype) {
  if (descr.size() < 2 || (descr.front() != '\'' && descr.front() != '"'))
    return false;
  descr = descr.substr(1, descr.size() - 2);
  // '=' means native order (little-endian here); '|' means not applicable.
  struct {
    const char *names[3];
    kiln_dtype_t dtype;
  } table[] = {
      {{"<f4", "=f4", nullptr}, KILN_F32}, {{"<f8", "=f8", nullptr}, KILN_F64},
      {{"<f2", "=f2", nullptr}, KILN_F16}, {{"|b1", "<b1", "=b1"}, KILN_I1},
      {{"<i4", "=i4", nullptr}, KILN_I32}, {{"<i8", "=i8", nullptr}, KILN_I64}};
  for (auto &row : table)
    for (const char *name : row.names)
      if (name && descr == name) {
        *dtype = row.dtype;
        return true;
      }
  return false;
}

const char *descrOf(kiln_dtype_t dtype) {
  switch (dtype) {
  case KILN_F32:
    return "<f4";
  case KILN_F64:
    return "<f8";
  case KILN_F16:
    return "<f2";
  case KILN_I1:
    return "|b1";
  case KILN_I32:
    return "<i4";
  case KILN_I64:
    return "<i8";
  case KILN_BF16:
    return nullptr;
  }
  return nullptr;
}

} // namespace

extern "C" {

kiln_status_t kiln_npy_read(const char *path, kiln_buffer_t **out) {
  *out = nullptr;
  File file;
  file.f = std::fopen(path, "rb");
  if (!file.f)
    return kiln_status_create(KILN_NOT_FOUND, "cannot open %s: %s", path,
                              std::strerror(errno));
  unsigned char prefix[8];
  if (std::fread(prefix, 1, 8, file.f) != 8)
    return corrupt(path, "shorter than the 8-byte preamble");
  if (std::memcmp(prefix, "\x93NUMPY", 6) != 0)
    return corrupt(path, "bad magic (expected \\x93NUMPY)");
  unsigned major = prefix[6];
  uint32_t headerLen = 0;
  if (major == 1) {
    unsigned char len[2];
    if (std::fread(len, 1, 2, file.f) != 2)
      return corrupt(path, "truncated header length");
    headerLen = len[0] | (len[1] << 8);
  } else if (major == 2 || major == 3) {
    unsigned char len[4];
    if (std::fread(len, 1, 4, file.f) != 4)
      return corrupt(path, "truncated header length");
    headerLen = len[0] | (len[1] << 8) | (len[2] << 16) |
                (static_cast<uint32_t>(len[3]) << 24);
  } else {
    return kiln_status_create(KILN_UNIMPLEMENTED,
                              "%s: .npy format version %u is not supported",
                              path, major);
  }
  if (headerLen > (1u << 24))
    return corrupt(path, "header length " + std::to_string(headerLen) +
                             " is implausible");
  std::string header(headerLen, '\0');
  if (std::fread(header.data(), 1, headerLen, file.f) != headerLen)
    return corrupt(path, "truncated header");

  std::string descr, fortran, shapeText;
  if (!dictValue(header, "descr", descr) ||
      !dictValue(header, "fortran_order", fortran) ||
      !dictValue(header, "shape", shapeText))
    return corrupt(path, "header lacks descr, fortran_order or shape");
  kiln_dtype_t dtype;
  if (!parseDescr(descr, &dtype))
    return kiln_status_create(KILN_UNIMPLEMENTED,
                              "%s: dtype %s is not supported (Kiln reads "
                              "<f4, <f8, <f2, |b1, <i4, <i8)",
                              path, descr.c_str());
  if (fortran == "True")
    return kiln_status_create(KILN_UNIMPLEMENTED,
                              "%s: Fortran-ordered arrays are not supported "
                              "(save with numpy.ascontiguousarray)",
                              path);
  if (fortran != "False")
    return corrupt(path, "fortran_order is '" + fortran + "'");
  if (shapeText.size() < 2 || shapeText.front() != '(' ||
      shapeText.back() != ')')
    return corrupt(path, "shape '" + shapeText + "' is not a tuple");
  std::vector<int64_t> shape;
  {
    std::string inner = shapeText.substr(1, shapeText.size() - 2);
    size_t i = 0;
    while (i < inner.size()) {
      while (i < inner.size() && (inner[i] == ' ' || inner[i] == ','))
        ++i;
      if (i >= inner.size())
        break;
      char *end = nullptr;
      errno = 0;
      long long v = std::strtoll(inner.c_str() + i, &end, 10);
      if (end == inner.c_str() + i || errno || v < 0)
        return corrupt(path, "shape '" + shapeText +
                                 "' is not a tuple of "
                                 "non-negative integers");
      shape.push_back(v);
      i = static_cast<size_t>(end - inner.c_str());
    }
  }
  if (shape.size() > KILN_MAX_RANK)
    return corrupt(path, "rank " + std::to_string(shape.size()) +
                             " exceeds the maximum");
  kiln_buffer_t *buffer = nullptr;
  if (kiln_status_t s = kiln_buffer_create({KILN_DEVICE_CPU, 0}, dtype,
                                           static_cast<int32_t>(shape.size()),
                                           shape.data(), &buffer))
    return kiln_status_annotate(s, "%s", path);
  size_t bytes = kiln_buffer_byte_size(buffer);
  if (std::fread(kiln_buffer_host_data(buffer), 1, bytes, file.f) != bytes) {
    kiln_buffer_release(buffer);
    return corrupt(path,
                   "data is shorter than shape " +
                       kiln::runtime::formatShape(shape.data(), shape.size()) +
                       " needs (" + std::to_string(bytes) + " bytes)");
  }
  if (dtype == KILN_I1) {
    auto *p = static_cast<unsigned char *>(kiln_buffer_host_data(buffer));
    for (size_t i = 0; i < bytes; ++i)
      if (p[i] > 1) {
        kiln_buffer_release(buffer);
        return corrupt(path, "a boolean element is neither 0 nor 1");
      }
  }
  *out = buffer;
  return nullptr;
}

kiln_status_t kiln_npy_write(const char *path, kiln_buffer_t *buffer) {
  const char *descr = descrOf(kiln_buffer_dtype(buffer));
  if (!descr)
    return kiln_status_create(KILN_UNIMPLEMENTED,
                              "%s: %s has no NumPy dtype; cast to f32 first",
                              path, kiln_dtype_name(kiln_buffer_dtype(buffer)));
  const void *data = kiln_buffer_host_data(buffer);
  if (!data)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "%s: the buffer is not in host memory", path);
  std::string shape = "(";
  for (int32_t i = 0; i < kiln_buffer_rank(buffer); ++i)
    shape += std::to_string(kiln_buffer_shape(buffer)[i]) + ", ";
  if (kiln_buffer_rank(buffer) > 1)
    shape.resize(shape.size() - 2);
  else if (kiln_buffer_rank(buffer) == 1)
    shape.resize(shape.size() - 1);
  shape += ")";
  std::string header = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string preamble = "\x93NUMPY";
  preamble += '\x01';
  preamble += '\x00';
  preamble += static_cast<char>(header.size() & 0xff);
  preamble += static_cast<char>((header.size() >> 8) & 0xff);

  std::string tmp = std::string(path) + ".tmp." + std::to_string(getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return kiln_status_create(KILN_IO_ERROR, "cannot create %s: %s",
                              tmp.c_str(), std::strerror(errno));
  auto writeAll = [&](const void *p, size_t n) {
    const char *c = static_cast<const char *>(p);
    while (n) {
      ssize_t w = ::write(fd, c, n);
      if (w < 0) {
        if (errno == EINTR)
          continue;
        return false;
      }
      c += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  };
  bool ok = writeAll(preamble.data(), preamble.size()) &&
            writeAll(header.data(), header.size()) &&
            writeAll(data, kiln_buffer_byte_size(buffer)) && ::fsync(fd) == 0;
  int err = errno;
  ok = (::close(fd) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path) != 0) {
    if (ok)
      err = errno;
    ::unlink(tmp.c_str());
    return kiln_status_create(KILN_IO_ERROR, "cannot write %s: %s", path,
                              std::strerror(err));
  }
  return nullptr;
}

} // extern "C"
