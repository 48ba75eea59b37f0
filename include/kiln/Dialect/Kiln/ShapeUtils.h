//===- ShapeUtils.h - Shape rules shared by Kiln ops -----------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Pure functions that compute result shapes (NumPy broadcasting, reductions,
// convolution windows, ...) and say in words why a shape is invalid. They know
// nothing about operations, so the verifiers, the shape-refinement pass, the
// lowerings and the unit tests all share one definition of every rule.
//
// Every function accepts `mlir::ShapedType::kDynamic` for an unknown dimension
// and propagates it: a dynamic (batch) dimension can be added to the dialect
// without rewriting these rules.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_DIALECT_KILN_SHAPEUTILS_H
#define KILN_DIALECT_KILN_SHAPEUTILS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>

namespace mlir::kiln {

/// A shape as a list of extents; `kDynamic` marks an unknown extent.
using Shape = llvm::SmallVector<int64_t, 4>;

/// The marker of an unknown extent (equal to mlir::ShapedType::kDynamic).
inline constexpr int64_t kDynamic = INT64_MIN;

/// Returns true if `dim` is a known extent.
inline bool isStatic(int64_t dim) { return dim != kDynamic; }

/// Formats a shape for diagnostics, e.g. "[2, ?, 3]".
std::string formatShape(llvm::ArrayRef<int64_t> shape);

/// Formats a list of integers for diagnostics, e.g. "[0, 2]".
std::string formatList(llvm::ArrayRef<int64_t> values);

/// What numElements returns when the count does not fit in 64 bits.
inline constexpr int64_t kOverflow = -1;

/// Returns the number of elements, kDynamic if any extent is unknown, or
/// kOverflow if the count does not fit in an int64_t.
int64_t numElements(llvm::ArrayRef<int64_t> shape);

/// NumPy broadcasting of two shapes (aligned at the right; an extent of 1
/// stretches).
llvm::Expected<Shape> broadcastShapes(llvm::ArrayRef<int64_t> lhs,
                                      llvm::ArrayRef<int64_t> rhs);

/// Checks that `from` broadcasts to exactly `to` (as numpy.broadcast_to).
llvm::Error checkBroadcastableTo(llvm::ArrayRef<int64_t> from,
                                 llvm::ArrayRef<int64_t> to);

/// Maps a possibly negative axis into [0, rank).
llvm::Expected<int64_t> normalizeAxis(int64_t axis, int64_t rank);

/// Maps a list of axes into [0, rank), sorted; duplicates are an error.
llvm::Expected<Shape> normalizeAxes(llvm::ArrayRef<int64_t> axes, int64_t rank);

/// The shape left after reducing `axes` (already normalized).
Shape reduceShape(llvm::ArrayRef<int64_t> shape, llvm::ArrayRef<int64_t> axes,
                  bool keepDims);

/// Checks that `perm` is a permutation of [0, rank).
llvm::Error checkPermutation(llvm::ArrayRef<int64_t> perm, int64_t rank);

/// result[i] = shape[perm[i]] (perm must be valid).
Shape permuteShape(llvm::ArrayRef<int64_t> shape, llvm::ArrayRef<int64_t> perm);

/// Checks that two shapes may describe the same tensor: same rank and equal
/// extents wherever both are known.
bool areCompatibleShapes(llvm::ArrayRef<int64_t> lhs,
                         llvm::ArrayRef<int64_t> rhs);

/// Result shape of a strided slice [start, limit) with positive strides. A
/// limit of -1 takes the whole dimension (start 0, stride 1): the only way
/// a dimension of open extent is sliced.
llvm::Expected<Shape> sliceShape(llvm::ArrayRef<int64_t> shape,
                                 llvm::ArrayRef<int64_t> start,
                                 llvm::ArrayRef<int64_t> limit,
                                 llvm::ArrayRef<int64_t> stride);

/// Result shape of padding with non-negative `low`/`high` amounts (none in
/// a dimension of open extent).
llvm::Expected<Shape> padShape(llvm::ArrayRef<int64_t> shape,
                               llvm::ArrayRef<int64_t> low,
                               llvm::ArrayRef<int64_t> high);

/// Result shape of concatenating `shapes` along `axis` (normalized).
llvm::Expected<Shape> concatShape(llvm::ArrayRef<Shape> shapes, int64_t axis);

/// Result shape of numpy.take(params, indices, axis) (axis normalized).
Shape gatherShape(llvm::ArrayRef<int64_t> params,
                  llvm::ArrayRef<int64_t> indices, int64_t axis);

/// Result shape of a 2-D matmul with optional transposed operands.
llvm::Expected<Shape> matmulShape(llvm::ArrayRef<int64_t> lhs,
                                  llvm::ArrayRef<int64_t> rhs,
                                  bool transposeLhs, bool transposeRhs);

/// Result shape of numpy.matmul on operands of rank >= 2: the leading (batch)
/// dimensions broadcast, the last two multiply.
llvm::Expected<Shape> batchMatmulShape(llvm::ArrayRef<int64_t> lhs,
                                       llvm::ArrayRef<int64_t> rhs);

/// How a sliding window (convolution or pooling) covers one spatial dimension.
struct WindowDim {
  int64_t output;  ///< number of window positions
  int64_t padLow;  ///< implicit padding before the first element
  int64_t padHigh; ///< implicit padding after the last element
};

/// Computes one spatial dimension of a window op with TensorFlow's SAME/VALID
/// rules. SAME: output = ceil(input / stride), padding split with the extra
/// element at the end. VALID: no padding, window must fit.
llvm::Expected<WindowDim> windowDim(int64_t input, int64_t window,
                                    int64_t stride, int64_t dilation,
                                    bool samePadding);

/// Result shape of a 2-D convolution, NHWC input and HWIO filter.
llvm::Expected<Shape> conv2dShape(llvm::ArrayRef<int64_t> input,
                                  llvm::ArrayRef<int64_t> filter,
                                  llvm::ArrayRef<int64_t> strides,
                                  llvm::ArrayRef<int64_t> dilations,
                                  bool samePadding);

/// Result shape of 2-D pooling over an NHWC input.
llvm::Expected<Shape> pool2dShape(llvm::ArrayRef<int64_t> input,
                                  llvm::ArrayRef<int64_t> window,
                                  llvm::ArrayRef<int64_t> strides,
                                  bool samePadding);

} // namespace mlir::kiln

#endif // KILN_DIALECT_KILN_SHAPEUTILS_H
