//===- Npy.cpp - Reading and writing NumPy .npy files ---------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Format: "\x93NUMPY", major, minor, header length (uint16 for 1.0, uint32 for
// 2.0 and 3.0, little-endian), then a Python dict literal such as
//
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
//
// padded with spaces and ended by '\n', then the raw data. The dict is parsed
// as the Python literal it is (strings, booleans, integers, tuples, lists),
// strictly: exactly the three keys, nothing after the closing brace but
// padding.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using kiln::runtime::checkShape;
using kiln::runtime::formatShape;

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .npy code assumes a little-endian host"
#endif

namespace {

/// Closes a FILE on scope exit.
struct File {
  FILE *f = nullptr;
  File() = default;
  File(const File &) = delete;
  File &operator=(const File &) = delete;
  ~File() {
    if (f)
      std::fclose(f);
  }
};

/// A corrupt file: KILN_DATA_LOSS naming the file and the problem.
kiln_status_t corrupt(const char *path, const std::string &why) {
  return kiln_status_create(KILN_DATA_LOSS, "%s: not a valid .npy file: %s",
                            path, why.c_str());
}

/// A Python literal from a .npy header.
struct PyValue {
  enum Kind { String, Bool, Int, Tuple, List, None } kind = None;
  std::string text;      // the source text, for messages
  std::string string;    // String
  bool boolean = false;  // Bool
  long long integer = 0; // Int
  bool integerOverflow = false;
  std::vector<PyValue> items; // Tuple, List
};

/// A recursive-descent parser for the header dict.
class HeaderParser {
public:
  explicit HeaderParser(const std::string &text) : s(text) {}

  /// Parses `{key: value, ...}` followed by whitespace only into parallel
  /// key and value lists; on failure returns false and sets `error`.
  bool parseDict(std::vector<std::string> &keys, std::vector<PyValue> &values) {
    skipSpace();
    if (!consume('{'))
      return fail("expected '{'");
    skipSpace();
    while (!consume('}')) {
      PyValue key;
      if (!parseValue(key, 0))
        return false;
      if (key.kind != PyValue::String)
        return fail("a key is not a string");
      skipSpace();
      if (!consume(':'))
        return fail("expected ':' after '" + key.string + "'");
      PyValue value;
      if (!parseValue(value, 0))
        return false;
      keys.push_back(key.string);
      values.push_back(std::move(value));
      skipSpace();
      if (consume(','))
        skipSpace();
      else if (peek() != '}')
        return fail("expected ',' or '}'");
    }
    skipSpace();
    if (pos != s.size())
      return fail("unexpected text after the closing '}'");
    return true;
  }

  std::string error;

private:
  /// Parses one literal, at most 32 nested tuples or lists deep.
  bool parseValue(PyValue &v, int depth) {
    if (depth > 32)
      return fail("nested too deeply");
    skipSpace();
    size_t start = pos;
    char c = peek();
    if (c == '\'' || c == '"') {
      ++pos;
      v.kind = PyValue::String;
      while (pos < s.size() && s[pos] != c) {
        if (s[pos] == '\\' && pos + 1 < s.size())
          ++pos;
        v.string += s[pos++];
      }
      if (!consume(c))
        return fail("unterminated string");
    } else if (c == '(' || c == '[') {
      char close = c == '(' ? ')' : ']';
      ++pos;
      bool sawComma = false;
      skipSpace();
      while (!consume(close)) {
        PyValue item;
        if (!parseValue(item, depth + 1))
          return false;
        v.items.push_back(std::move(item));
        skipSpace();
        if (consume(',')) {
          sawComma = true;
          skipSpace();
        } else if (peek() != close) {
          return fail(std::string("expected ',' or '") + close + "'");
        }
      }
      if (c == '(' && v.items.size() == 1 && !sawComma) {
        PyValue inner = std::move(v.items[0]); // (x) is just x
        v = std::move(inner);
      } else {
        v.kind = c == '(' ? PyValue::Tuple : PyValue::List;
      }
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      bool negative = consume('-');
      if (!(peek() >= '0' && peek() <= '9'))
        return fail("expected a digit");
      unsigned long long magnitude = 0;
      while (peek() >= '0' && peek() <= '9') {
        unsigned digit = static_cast<unsigned>(s[pos++] - '0');
        if (magnitude >
            (static_cast<unsigned long long>(INT64_MAX) - digit) / 10)
          v.integerOverflow = true;
        else
          magnitude = magnitude * 10 + digit;
      }
      consume('L'); // Python 2 longs
      v.kind = PyValue::Int;
      v.integer = negative ? -static_cast<long long>(magnitude)
                           : static_cast<long long>(magnitude);
    } else if (word("True")) {
      v.kind = PyValue::Bool;
      v.boolean = true;
    } else if (word("False")) {
      v.kind = PyValue::Bool;
    } else if (word("None")) {
      v.kind = PyValue::None;
    } else {
      return fail("unexpected character '" + std::string(1, c) + "'");
    }
    v.text = s.substr(start, pos - start);
    return true;
  }

  char peek() const { return pos < s.size() ? s[pos] : '\0'; }

  bool consume(char c) {
    if (peek() != c)
      return false;
    ++pos;
    return true;
  }

  /// Consumes the identifier `w` if it comes next, whole.
  bool word(const char *w) {
    size_t n = std::strlen(w);
    if (s.compare(pos, n, w) != 0)
      return false;
    char after = pos + n < s.size() ? s[pos + n] : '\0';
    if ((after >= 'a' && after <= 'z') || (after >= 'A' && after <= 'Z') ||
        (after >= '0' && after <= '9') || after == '_')
      return false;
    pos += n;
    return true;
  }

  void skipSpace() {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t' ||
                              s[pos] == '\n' || s[pos] == '\r'))
      ++pos;
  }

  bool fail(const std::string &why) {
    error = why + " at offset " + std::to_string(pos);
    return false;
  }

  const std::string &s;
  size_t pos = 0;
};

/// Maps a NumPy dtype string to a Kiln dtype. Returns a status naming the
/// problem if there is none; `path` is for messages.
kiln_status_t parseDescr(const char *path, const std::string &descr,
                         kiln_dtype_t *dtype) {
  static const struct {
    const char *code;
    kiln_dtype_t dtype;
  } table[] = {{"f4", KILN_F32}, {"f8", KILN_F64}, {"f2", KILN_F16},
               {"b1", KILN_I1},  {"i4", KILN_I32}, {"i8", KILN_I64},
               {"i1", KILN_I8},  {"i2", KILN_I16}, {"u1", KILN_UI8},
               {"u2", KILN_UI16}, {"u4", KILN_UI32}};
  if (descr.size() == 3) {
    char order = descr[0];
    std::string code = descr.substr(1);
    for (const auto &row : table) {
      if (code != row.code)
        continue;
      // '<' little-endian, '=' native (little-endian here), '|' not
      // applicable (NumPy reads '|i4' as native too); '>' is fine for bytes.
      if (order == '<' || order == '=' || order == '|' ||
          (order == '>' && kiln_dtype_size(row.dtype) == 1)) {
        *dtype = row.dtype;
        return nullptr;
      }
      if (order == '>')
        return kiln_status_create(KILN_INVALID_ARGUMENT,
                                  "%s: dtype '%s' is big-endian; Kiln reads "
                                  "little-endian data only (convert with "
                                  "array.astype('<%s'))",
                                  path, descr.c_str(), row.code);
    }
  }
  return kiln_status_create(KILN_INVALID_ARGUMENT,
                            "%s: dtype '%s' is not supported (Kiln reads "
                            "<f4, <f8, <f2, |b1, <i4, <i8, |i1, <i2, |u1, <u2, <u4)",
                            path, descr.c_str());
}

/// The NumPy dtype string of a Kiln dtype, or NULL if it has none.
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
  case KILN_I8:
    return "|i1";
  case KILN_I16:
    return "<i2";
  case KILN_UI8:
    return "|u1";
  case KILN_UI16:
    return "<u2";
  case KILN_UI32:
    return "<u4";
  case KILN_BF16:
    return nullptr;
  }
  return nullptr;
}

/// Reads exactly `n` bytes; on failure returns a status (IO error or
/// truncation, the latter described by `what`).
kiln_status_t readExactly(FILE *f, const char *path, void *into, size_t n,
                          const std::string &what) {
  if (std::fread(into, 1, n, f) == n)
    return nullptr;
  if (std::ferror(f))
    return kiln_status_create(KILN_IO_ERROR, "cannot read %s: %s", path,
                              std::strerror(errno));
  return corrupt(path, what);
}

} // namespace

extern "C" {

kiln_status_t kiln_npy_read(const char *path, kiln_buffer_t **out) {
  if (!out || !path)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_npy_read: %s is NULL",
                              out ? "path" : "out");
  *out = nullptr;
  File file;
  file.f = std::fopen(path, "rb");
  if (!file.f)
    return kiln_status_create(errno == ENOENT ? KILN_NOT_FOUND : KILN_IO_ERROR,
                              "cannot open %s: %s", path, std::strerror(errno));
  // The size of a regular file bounds what its header can claim.
  struct stat info;
  bool knownSize = ::fstat(fileno(file.f), &info) == 0 && S_ISREG(info.st_mode);
  uint64_t fileSize = knownSize ? static_cast<uint64_t>(info.st_size) : 0;

  unsigned char prefix[8];
  if (kiln_status_t s = readExactly(file.f, path, prefix, 8,
                                    "shorter than the 8-byte preamble"))
    return s;
  if (std::memcmp(prefix, "\x93NUMPY", 6) != 0)
    return corrupt(path, "bad magic (expected \\x93NUMPY)");
  unsigned major = prefix[6], minor = prefix[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    return kiln_status_create(KILN_UNIMPLEMENTED,
                              "%s: .npy format version %u.%u is not supported "
                              "(Kiln reads 1.0, 2.0 and 3.0)",
                              path, major, minor);
  unsigned char len[4] = {0, 0, 0, 0};
  size_t lenBytes = major == 1 ? 2 : 4;
  if (kiln_status_t s =
          readExactly(file.f, path, len, lenBytes, "truncated header length"))
    return s;
  uint32_t headerLen = len[0] | (len[1] << 8) | (len[2] << 16) |
                       (static_cast<uint32_t>(len[3]) << 24);
  uint64_t dataOffset = 6 + 2 + lenBytes + uint64_t(headerLen);
  if (headerLen > (1u << 24) || (knownSize && dataOffset > fileSize))
    return corrupt(path, "truncated header (it claims " +
                             std::to_string(headerLen) + " bytes)");
  std::string header(headerLen, '\0');
  if (kiln_status_t s = readExactly(file.f, path, header.data(), headerLen,
                                    "truncated header"))
    return s;

  // The dict.
  std::vector<std::string> keys;
  std::vector<PyValue> values;
  HeaderParser parser(header);
  if (!parser.parseDict(keys, values))
    return corrupt(path, "cannot parse the header dict: " + parser.error);
  const PyValue *descr = nullptr, *fortran = nullptr, *shapeValue = nullptr;
  for (size_t i = 0; i < keys.size(); ++i) {
    const PyValue **slot = keys[i] == "descr"           ? &descr
                           : keys[i] == "fortran_order" ? &fortran
                           : keys[i] == "shape"         ? &shapeValue
                                                        : nullptr;
    if (!slot)
      return corrupt(path, "unexpected header key '" + keys[i] + "'");
    if (*slot)
      return corrupt(path, "duplicate header key '" + keys[i] + "'");
    *slot = &values[i];
  }
  if (!descr || !fortran || !shapeValue)
    return corrupt(path, std::string("the header lacks '") +
                             (!descr     ? "descr"
                              : !fortran ? "fortran_order"
                                         : "shape") +
                             "'");
  if (descr->kind == PyValue::List)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "%s: structured dtypes are not supported", path);
  if (descr->kind != PyValue::String)
    return corrupt(path, "descr " + descr->text + " is not a string");
  kiln_dtype_t dtype;
  if (kiln_status_t s = parseDescr(path, descr->string, &dtype))
    return s;
  if (fortran->kind != PyValue::Bool)
    return corrupt(path, "fortran_order is " + fortran->text);
  if (fortran->boolean)
    return kiln_status_create(KILN_UNIMPLEMENTED,
                              "%s: Fortran-ordered arrays are not supported "
                              "(save with numpy.ascontiguousarray)",
                              path);
  std::vector<int64_t> shape;
  bool shapeOk = shapeValue->kind == PyValue::Tuple;
  for (const PyValue &d : shapeValue->items) {
    shapeOk = shapeOk && d.kind == PyValue::Int && !d.integerOverflow &&
              d.integer >= 0;
    shape.push_back(d.integer);
  }
  if (!shapeOk)
    return corrupt(path, "shape " + shapeValue->text +
                             " is not a tuple of non-negative integers");
  if (shape.size() > KILN_MAX_RANK)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "%s: rank %zu exceeds Kiln's maximum of %d", path,
                              shape.size(), KILN_MAX_RANK);
  int32_t rank = static_cast<int32_t>(shape.size());
  int64_t elements;
  size_t bytes;
  if (kiln_status_t s = checkShape(rank, shape.data(), kiln_dtype_size(dtype),
                                   &elements, &bytes))
    return kiln_status_annotate(s, "%s", path);
  std::string shorter = "data is shorter than shape " +
                        formatShape(shape.data(), rank) + " needs (" +
                        std::to_string(bytes) + " bytes)";
  // Check before allocating: a truncated file must not cost a huge buffer.
  if (knownSize && fileSize - dataOffset < bytes)
    return corrupt(path, shorter);

  kiln_buffer_t *buffer = nullptr;
  if (kiln_status_t s = kiln_buffer_create({KILN_DEVICE_CPU, 0}, dtype, rank,
                                           shape.data(), &buffer))
    return kiln_status_annotate(s, "%s", path);
  auto *data = static_cast<unsigned char *>(kiln_buffer_host_data(buffer));
  if (kiln_status_t s = readExactly(file.f, path, data, bytes, shorter)) {
    kiln_buffer_release(buffer);
    return s;
  }
  if (dtype == KILN_I1) {
    for (size_t i = 0; i < bytes; ++i) {
      if (data[i] > 1) {
        kiln_buffer_release(buffer);
        return corrupt(path, "boolean element " + std::to_string(i) +
                                 " is neither 0 nor 1");
      }
    }
  }
  *out = buffer;
  return nullptr;
}

kiln_status_t kiln_npy_write(const char *path, const kiln_buffer_t *buffer) {
  if (!path || !buffer)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_npy_write: %s is NULL",
                              path ? "buffer" : "path");
  kiln_dtype_t dtype = kiln_buffer_dtype(buffer);
  const char *descr = descrOf(dtype);
  if (!descr)
    return kiln_status_create(KILN_UNIMPLEMENTED,
                              "%s: %s has no NumPy dtype; cast to f32 first",
                              path, kiln_dtype_name(dtype));
  if (!kiln::runtime::isHostBuffer(buffer))
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "%s: the buffer is not in host memory", path);
  // Only read through this pointer.
  const void *data = kiln_buffer_host_data(const_cast<kiln_buffer_t *>(buffer));
  size_t bytes = kiln_buffer_byte_size(buffer);

  int32_t rank = kiln_buffer_rank(buffer);
  const int64_t *dims = kiln_buffer_shape(buffer);
  std::string shape = "(";
  for (int32_t i = 0; i < rank; ++i)
    shape += (i ? ", " : "") + std::to_string(dims[i]);
  shape += rank == 1 ? ",)" : ")";
  std::string header = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces so that the data starts at a multiple of 64 bytes.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string preamble("\x93NUMPY\x01\x00", 8);
  preamble += static_cast<char>(header.size() & 0xff);
  preamble += static_cast<char>((header.size() >> 8) & 0xff);

  std::pair<const void *, size_t> pieces[] = {
      {preamble.data(), preamble.size()},
      {header.data(), header.size()},
      {data, bytes}};
  return kiln::runtime::writeFileAtomically(path, pieces, 3);
}

} // extern "C"
