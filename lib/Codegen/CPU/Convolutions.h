//===- Convolutions.h - Convolutions as Kiln lowers them --------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_LIB_CODEGEN_CPU_CONVOLUTIONS_H
#define KILN_LIB_CODEGEN_CPU_CONVOLUTIONS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"

#include "mlir/IR/PatternMatch.h"

#include <array>
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

/// The map that reads an NHWC input at (n, oh*sh + kh*dh, ow*sw + kw*dw, c),
/// with the loops n, oh, ow, kh, kw, c at positions `at` of `numDims`.
AffineMap inputReadMap(MLIRContext *context, unsigned numDims,
                       std::array<unsigned, 6> at, ArrayRef<int64_t> strides,
                       ArrayRef<int64_t> dilations);

/// A tensor of `type` whose element at each index is the element of `input`
/// that `read` maps the index to (a copy of the image's windows: im2col and
/// its window-major variant). An open extent of `type` (the first, the
/// images) is `input`'s first.
Value copyWindows(RewriterBase &rewriter, Location loc, Value input,
                  RankedTensorType type, AffineMap read);

/// Whether every operand of `op` has a static shape and floating-point
/// elements.
bool hasStaticFloatOperands(Operation *op);

/// Whether the operands of a convolution or filter gradient `op` have
/// floating-point elements and static shapes but for an open batch (the
/// first extent of the images, the output and its gradient): everything but
/// the filter, operand `filterOperand`, which is static.
bool hasFloatOperandsOpenInBatch(Operation *op, unsigned filterOperand);

} // namespace mlir::kiln::cpu

#endif // KILN_LIB_CODEGEN_CPU_CONVOLUTIONS_H
