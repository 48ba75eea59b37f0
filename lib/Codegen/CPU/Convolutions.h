//===- Convolutions.h - Convolutions as Kiln lowers them --------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_LIB_CODEGEN_CPU_CONVOLUTIONS_H
#define KILN_LIB_CODEGEN_CPU_CONVOLUTIONS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"

#include <optional>
#include <utility>

namespace mlir::kiln::cpu {

/// The strides and dilations of a filter gradient, as Kiln lowers it:
///
///   (i, j, c, o, n, y, x):
///     dw[i, j, c, o] += x[n, y*sh + i*dh, x*sw + j*dw, c] * dy[n, y, x, o]
///
/// or nothing if `op` is not one.
std::optional<std::pair<SmallVector<int64_t>, SmallVector<int64_t>>>
matchFilterGradient(linalg::GenericOp op);

/// Whether every operand of `op` has a static shape and floating-point
/// elements.
bool hasStaticFloatOperands(Operation *op);

} // namespace mlir::kiln::cpu

#endif // KILN_LIB_CODEGEN_CPU_CONVOLUTIONS_H
