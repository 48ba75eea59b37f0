//===- Print.cpp - kiln.print's output, called by compiled code -----------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Formats tensors as tf.print does (nested brackets, spaces between
// elements, `...` where a long dimension is summarized) from the unranked
// memrefs compiled code passes, and writes them to standard output or
// standard error.
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Runtime.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

/// The ranked memref descriptor an unranked memref points to.
struct Descriptor {
  const char *allocated;
  const char *aligned;
  int64_t offset;
  int64_t rest[]; // sizes[rank], then strides[rank]
};

float halfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exponent = (h >> 10) & 0x1f,
           mantissa = h & 0x3ff, bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else { // subnormal: normalize
      exponent = 127 - 15 + 1;
      while (!(mantissa & 0x400)) {
        mantissa <<= 1;
        --exponent;
      }
      bits = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
    }
  } else if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

float bfloatToFloat(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// A float as TensorFlow's summaries write it (FloatToBuffer and
// DoubleToBuffer): %.6g, or %.9g when that does not read back as the same
// float (doubles: %.15g, else %.17g). Half and bfloat16 values are
// widened to float first.
void appendFloat(std::string &out, double v, bool isDouble) {
  if (std::isnan(v)) {
    out += "nan";
    return;
  }
  if (std::isinf(v)) {
    out += v < 0 ? "-inf" : "inf";
    return;
  }
  char buffer[48];
  if (isDouble) {
    std::snprintf(buffer, sizeof buffer, "%.15g", v);
    if (std::strtod(buffer, nullptr) != v)
      std::snprintf(buffer, sizeof buffer, "%.17g", v);
  } else {
    float f = static_cast<float>(v);
    std::snprintf(buffer, sizeof buffer, "%.6g", static_cast<double>(f));
    if (std::strtof(buffer, nullptr) != f)
      std::snprintf(buffer, sizeof buffer, "%.9g", static_cast<double>(f));
  }
  out += buffer;
}

enum class Kind { F32, F64, F16, BF16, I1, I32, I64 };

void appendElement(std::string &out, Kind kind, const char *p) {
  switch (kind) {
  case Kind::F32: {
    float v;
    std::memcpy(&v, p, sizeof v);
    appendFloat(out, v, /*isDouble=*/false);
    return;
  }
  case Kind::F64: {
    double v;
    std::memcpy(&v, p, sizeof v);
    appendFloat(out, v, /*isDouble=*/true);
    return;
  }
  case Kind::F16:
  case Kind::BF16: {
    uint16_t v;
    std::memcpy(&v, p, sizeof v);
    appendFloat(out, kind == Kind::F16 ? halfToFloat(v) : bfloatToFloat(v),
                /*isDouble=*/false);
    return;
  }
  case Kind::I1:
    out += *p ? "1" : "0";
    return;
  case Kind::I32: {
    int32_t v;
    std::memcpy(&v, p, sizeof v);
    out += std::to_string(v);
    return;
  }
  case Kind::I64: {
    int64_t v;
    std::memcpy(&v, p, sizeof v);
    out += std::to_string(v);
    return;
  }
  }
}

size_t elementBytes(Kind kind) {
  switch (kind) {
  case Kind::F64:
  case Kind::I64:
    return 8;
  case Kind::F32:
  case Kind::I32:
    return 4;
  case Kind::F16:
  case Kind::BF16:
    return 2;
  case Kind::I1:
    return 1;
  }
  return 1;
}

/// Appends dimension `d` onwards of the tensor starting at element `at`
/// (NumPy's layout: rows of the innermost dimension on one line, blocks of
/// the outer ones separated by as many newlines as they have dimensions
/// below them minus one, continuation lines indented under the bracket),
/// with at most `limit` elements at each end of a dimension and `...`
/// between when it is longer than twice that (TensorFlow's
/// PrintOneDimV2).
void appendDims(std::string &out, Kind kind, const char *base,
                const int64_t *sizes, const int64_t *strides, int64_t rank,
                int64_t d, int64_t at, int64_t limit) {
  if (d == rank) {
    appendElement(out, kind, base + at * elementBytes(kind));
    return;
  }
  out += '[';
  int64_t n = sizes[d];
  std::string separator = d + 1 == rank ? " " : "";
  if (d + 1 < rank) {
    separator.assign(static_cast<size_t>(rank - d - 1), '\n');
    separator.append(static_cast<size_t>(d + 1), ' ');
  }
  auto row = [&](int64_t i) {
    appendDims(out, kind, base, sizes, strides, rank, d + 1,
               at + i * strides[d], limit);
  };
  for (int64_t i = 0; i < limit && i < n; ++i) {
    if (i > 0)
      out += separator;
    row(i);
  }
  if (n > 2 * limit) {
    out += separator;
    out += "...";
  }
  for (int64_t i = std::max(limit, n - limit); i < n; ++i) {
    out += separator;
    row(i);
  }
  out += ']';
}

void write(int64_t stream, const std::string &text) {
  FILE *file = stream == 1 ? stdout : stderr;
  std::fwrite(text.data(), 1, text.size(), file);
  std::fflush(file);
}

void printTensor(Kind kind, int64_t stream, int64_t summarize, int64_t rank,
                 void *descriptor) {
  auto *d = static_cast<const Descriptor *>(descriptor);
  // TensorFlow's SummarizeValue: `summarize` (all when negative) capped by
  // the element count is the number printed at each end of a dimension;
  // a scalar with none to print is "...", a bool tensor nothing.
  int64_t count = 1;
  for (int64_t i = 0; i < rank; ++i)
    count *= d->rest[i];
  int64_t limit = summarize < 0 ? count : std::min(summarize, count);
  std::string out;
  if (limit == 0 && kind == Kind::I1)
    ; // (TensorFlow's SummarizeArray<bool> with no data to read: nothing)
  else if (rank == 0 && limit == 0)
    out = "...";
  else
    appendDims(out, kind, d->aligned + d->offset * elementBytes(kind),
               d->rest, d->rest + rank, rank, 0, 0, limit);
  write(stream, out);
}

} // namespace

extern "C" {

KILN_RUNTIME_EXPORT void kiln_print_text(int64_t stream, int64_t rank,
                                         void *descriptor) {
  auto *d = static_cast<const Descriptor *>(descriptor);
  if (rank != 1)
    return;
  const char *text = d->aligned + d->offset;
  int64_t size = d->rest[0], stride = d->rest[1];
  std::string out;
  for (int64_t i = 0; i < size; ++i)
    out += text[i * stride];
  write(stream, out);
}

#define KILN_PRINT_TENSOR(SUFFIX, KIND)                                        \
  KILN_RUNTIME_EXPORT void kiln_print_tensor_##SUFFIX(                         \
      int64_t stream, int64_t summarize, int64_t rank, void *descriptor) {     \
    printTensor(Kind::KIND, stream, summarize, rank, descriptor);              \
  }

KILN_PRINT_TENSOR(f32, F32)
KILN_PRINT_TENSOR(f64, F64)
KILN_PRINT_TENSOR(f16, F16)
KILN_PRINT_TENSOR(bf16, BF16)
KILN_PRINT_TENSOR(i1, I1)
KILN_PRINT_TENSOR(i32, I32)
KILN_PRINT_TENSOR(i64, I64)

#undef KILN_PRINT_TENSOR

KILN_RUNTIME_EXPORT void kiln_summary_scalar(int64_t path, int64_t pathLength,
                                             int64_t tag, int64_t tagLength,
                                             double value, int64_t step) {
  std::string file(reinterpret_cast<const char *>(path),
                   static_cast<size_t>(pathLength));
  std::string name(reinterpret_cast<const char *>(tag),
                   static_cast<size_t>(tagLength));
  if (name.find_first_of(",\"\r\n") != std::string::npos) {
    // Quoted as Python's csv module quotes (its reader reads both).
    std::string quoted = "\"";
    for (char c : name)
      quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    name = quoted + "\"";
  }
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  char row[512];
  int n = std::snprintf(row, sizeof row, "%lld,%s,%.17g,%.3f\r\n",
                        static_cast<long long>(step), name.c_str(), value,
                        now.tv_sec + now.tv_nsec * 1e-9);
  // One append per row (O_APPEND: rows from Python's writer and from here
  // never overwrite each other).
  if (FILE *out = std::fopen(file.c_str(), "ab")) {
    std::fwrite(row, 1, static_cast<size_t>(std::min(n, 511)), out);
    std::fclose(out);
  } else {
    std::fprintf(stderr, "kiln: cannot append a summary to %s\n", file.c_str());
  }
}

} // extern "C"
