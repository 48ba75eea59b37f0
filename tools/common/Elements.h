//===- Elements.h - Buffer elements as doubles, for the tools ---*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TOOLS_COMMON_ELEMENTS_H
#define KILN_TOOLS_COMMON_ELEMENTS_H

#include "kiln/Runtime/Runtime.h"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace kiln::tools {

/// One element of a buffer as a double (f16/bf16 converted).
inline double element(const kiln_buffer_t *b, const void *data, int64_t i) {
  switch (kiln_buffer_dtype(b)) {
  case KILN_F32:
    return static_cast<const float *>(data)[i];
  case KILN_F64:
    return static_cast<const double *>(data)[i];
  case KILN_I1:
    return static_cast<const uint8_t *>(data)[i];
  case KILN_I32:
    return static_cast<const int32_t *>(data)[i];
  case KILN_I64:
    return static_cast<double>(static_cast<const int64_t *>(data)[i]);
  case KILN_I8:
    return static_cast<const int8_t *>(data)[i];
  case KILN_I16:
    return static_cast<const int16_t *>(data)[i];
  case KILN_UI8:
    return static_cast<const uint8_t *>(data)[i];
  case KILN_UI16:
    return static_cast<const uint16_t *>(data)[i];
  case KILN_UI32:
    return static_cast<const uint32_t *>(data)[i];
  case KILN_BF16: {
    uint32_t bits =
        static_cast<uint32_t>(static_cast<const uint16_t *>(data)[i]) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    return f;
  }
  case KILN_F16: {
    uint16_t h = static_cast<const uint16_t *>(data)[i];
    int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    double sign = (h & 0x8000) ? -1.0 : 1.0;
    if (exponent == 0)
      return sign * std::ldexp(mantissa, -24);
    if (exponent == 31)
      return mantissa ? NAN : sign * INFINITY;
    return sign * std::ldexp(mantissa + 1024, exponent - 25);
  }
  }
  return 0;
}

} // namespace kiln::tools

#endif // KILN_TOOLS_COMMON_ELEMENTS_H
