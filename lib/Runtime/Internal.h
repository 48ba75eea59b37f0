//===- Internal.h - Runtime internals shared between its files --*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_LIB_RUNTIME_INTERNAL_H
#define KILN_LIB_RUNTIME_INTERNAL_H

#include "kiln/Runtime/Runtime.h"

#include <string>
#include <vector>

namespace kiln::runtime {

/// "[2, 3]" for diagnostics.
std::string formatShape(const int64_t *shape, int32_t rank);

/// Checks rank and extents and computes the element count (no overflow).
kiln_status_t checkShape(int32_t rank, const int64_t *shape, size_t elementSize,
                         int64_t *elements, size_t *bytes);

} // namespace kiln::runtime

#endif // KILN_LIB_RUNTIME_INTERNAL_H
