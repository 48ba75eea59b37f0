//===- ShapeUtils.cpp - Shape rules shared by Kiln ops --------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Dialect/Kiln/ShapeUtils.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>

using namespace mlir::kiln;
using llvm::ArrayRef;

static llvm::Error error(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

static std::string formatDim(int64_t dim) {
  return isStatic(dim) ? std::to_string(dim) : std::string("?");
}

std::string mlir::kiln::formatShape(ArrayRef<int64_t> shape) {
  std::string out = "[";
  for (auto [i, dim] : llvm::enumerate(shape)) {
    if (i)
      out += ", ";
    out += formatDim(dim);
  }
  return out + "]";
}

std::string mlir::kiln::formatList(ArrayRef<int64_t> values) {
  std::string out = "[";
  for (auto [i, v] : llvm::enumerate(values)) {
    if (i)
      out += ", ";
    out += std::to_string(v);
  }
  return out + "]";
}

int64_t mlir::kiln::numElements(ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t dim : shape) {
    if (!isStatic(dim))
      return kDynamic;
    if (__builtin_mul_overflow(n, dim, &n))
      return kOverflow;
  }
  return n;
}

llvm::Expected<Shape> mlir::kiln::broadcastShapes(ArrayRef<int64_t> lhs,
                                                  ArrayRef<int64_t> rhs) {
  size_t rank = std::max(lhs.size(), rhs.size());
  Shape result(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    // Align at the right: position i counts from the end.
    int64_t a = i < lhs.size() ? lhs[lhs.size() - 1 - i] : 1;
    int64_t b = i < rhs.size() ? rhs[rhs.size() - 1 - i] : 1;
    int64_t &out = result[rank - 1 - i];
    if (a == 1) {
      out = b;
    } else if (b == 1) {
      out = a;
    } else if (!isStatic(a)) {
      out = b; // b is known (> 1) or unknown; it decides.
    } else if (!isStatic(b) || a == b) {
      out = a;
    } else {
      return error("shapes " + formatShape(lhs) + " and " + formatShape(rhs) +
                   " are not broadcast-compatible: dimension " +
                   std::to_string(rank - 1 - i) + " of the result would be " +
                   std::to_string(a) + " and " + std::to_string(b));
    }
  }
  return result;
}

llvm::Error mlir::kiln::checkBroadcastableTo(ArrayRef<int64_t> from,
                                             ArrayRef<int64_t> to) {
  if (from.size() > to.size())
    return error("cannot broadcast shape " + formatShape(from) + " to " +
                 formatShape(to) + ": the target has fewer dimensions");
  size_t offset = to.size() - from.size();
  for (auto [i, dim] : llvm::enumerate(from)) {
    int64_t target = to[offset + i];
    if (dim == 1 || !isStatic(dim) || !isStatic(target) || dim == target)
      continue;
    return error("cannot broadcast shape " + formatShape(from) + " to " +
                 formatShape(to) + ": dimension " + std::to_string(i) + " is " +
                 std::to_string(dim) + " but the target has " +
                 std::to_string(target));
  }
  return llvm::Error::success();
}

llvm::Expected<int64_t> mlir::kiln::normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return error(llvm::formatv("axis {0} is out of range for rank {1} "
                               "(expected {2} <= axis < {1})",
                               axis, rank, -rank)
                     .str());
  return axis < 0 ? axis + rank : axis;
}

llvm::Expected<Shape> mlir::kiln::normalizeAxes(ArrayRef<int64_t> axes,
                                                int64_t rank) {
  Shape result;
  for (int64_t axis : axes) {
    llvm::Expected<int64_t> norm = normalizeAxis(axis, rank);
    if (!norm)
      return norm.takeError();
    if (llvm::is_contained(result, *norm))
      return error("axis " + std::to_string(axis) + " appears twice in " +
                   formatList(axes));
    result.push_back(*norm);
  }
  llvm::sort(result);
  return result;
}

Shape mlir::kiln::reduceShape(ArrayRef<int64_t> shape, ArrayRef<int64_t> axes,
                              bool keepDims) {
  Shape result;
  for (auto [i, dim] : llvm::enumerate(shape)) {
    if (!llvm::is_contained(axes, static_cast<int64_t>(i)))
      result.push_back(dim);
    else if (keepDims)
      result.push_back(1);
  }
  return result;
}

llvm::Error mlir::kiln::checkPermutation(ArrayRef<int64_t> perm, int64_t rank) {
  if (static_cast<int64_t>(perm.size()) != rank)
    return error("permutation " + formatList(perm) + " has " +
                 std::to_string(perm.size()) +
                 " entries but the input has rank " + std::to_string(rank));
  llvm::SmallVector<bool> seen(rank, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p])
      return error("permutation " + formatList(perm) +
                   " is not a permutation of [0, " + std::to_string(rank) +
                   ")");
    seen[p] = true;
  }
  return llvm::Error::success();
}

Shape mlir::kiln::permuteShape(ArrayRef<int64_t> shape,
                               ArrayRef<int64_t> perm) {
  Shape result;
  for (int64_t p : perm)
    result.push_back(shape[p]);
  return result;
}

bool mlir::kiln::areCompatibleShapes(ArrayRef<int64_t> lhs,
                                     ArrayRef<int64_t> rhs) {
  if (lhs.size() != rhs.size())
    return false;
  for (auto [a, b] : llvm::zip_equal(lhs, rhs))
    if (isStatic(a) && isStatic(b) && a != b)
      return false;
  return true;
}

/// Checks that an attribute list has one entry per dimension.
static llvm::Error checkLength(llvm::StringRef what, ArrayRef<int64_t> list,
                               size_t rank) {
  if (list.size() == rank)
    return llvm::Error::success();
  return error(what + " " + formatList(list) + " has " +
               std::to_string(list.size()) +
               " entries but the input has rank " + std::to_string(rank));
}

llvm::Expected<Shape> mlir::kiln::sliceShape(ArrayRef<int64_t> shape,
                                             ArrayRef<int64_t> start,
                                             ArrayRef<int64_t> limit,
                                             ArrayRef<int64_t> stride) {
  if (auto err = checkLength("start", start, shape.size()))
    return std::move(err);
  if (auto err = checkLength("limit", limit, shape.size()))
    return std::move(err);
  if (auto err = checkLength("stride", stride, shape.size()))
    return std::move(err);
  Shape result;
  for (size_t i = 0; i < shape.size(); ++i) {
    std::string where = " in dimension " + std::to_string(i);
    if (stride[i] < 1)
      return error("stride " + std::to_string(stride[i]) + where +
                   " must be positive");
    if (limit[i] == -1) { // the whole dimension, whatever its extent
      if (start[i] != 0 || stride[i] != 1)
        return error("a limit of -1" + where +
                     " (the whole dimension) needs start 0 and stride 1");
      result.push_back(shape[i]);
      continue;
    }
    if (!isStatic(shape[i]))
      return error("dimension " + std::to_string(i) +
                   " has an open extent: a slice takes it whole (start 0, "
                   "limit -1, stride 1)");
    if (start[i] < 0 || start[i] > limit[i])
      return error("slice [" + std::to_string(start[i]) + ", " +
                   std::to_string(limit[i]) + ")" + where +
                   " must satisfy 0 <= start <= limit");
    if (isStatic(shape[i]) && limit[i] > shape[i])
      return error("limit " + std::to_string(limit[i]) + where +
                   " exceeds the dimension size " + std::to_string(shape[i]));
    // ceil((limit - start) / stride), written so that it cannot overflow.
    result.push_back(limit[i] == start[i]
                         ? 0
                         : (limit[i] - start[i] - 1) / stride[i] + 1);
  }
  return result;
}

llvm::Expected<Shape> mlir::kiln::padShape(ArrayRef<int64_t> shape,
                                           ArrayRef<int64_t> low,
                                           ArrayRef<int64_t> high) {
  if (auto err = checkLength("low padding", low, shape.size()))
    return std::move(err);
  if (auto err = checkLength("high padding", high, shape.size()))
    return std::move(err);
  Shape result;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (low[i] < 0 || high[i] < 0)
      return error("padding in dimension " + std::to_string(i) +
                   " must be non-negative (use slice to crop)");
    if (!isStatic(shape[i]) && (low[i] || high[i]))
      return error("dimension " + std::to_string(i) +
                   " has an open extent and cannot be padded");
    int64_t size = 0;
    if (isStatic(shape[i]) &&
        (__builtin_add_overflow(shape[i], low[i], &size) ||
         __builtin_add_overflow(size, high[i], &size)))
      return error("padding dimension " + std::to_string(i) +
                   " overflows a 64-bit size");
    result.push_back(isStatic(shape[i]) ? size : kDynamic);
  }
  return result;
}

llvm::Expected<Shape> mlir::kiln::concatShape(ArrayRef<Shape> shapes,
                                              int64_t axis) {
  Shape result(shapes.front().begin(), shapes.front().end());
  for (auto [n, shape] : llvm::enumerate(shapes.drop_front())) {
    std::string which = "operand " + std::to_string(n + 1);
    if (shape.size() != result.size())
      return error(which + " has rank " + std::to_string(shape.size()) +
                   " but operand 0 has rank " + std::to_string(result.size()));
    for (size_t d = 0; d < shape.size(); ++d) {
      if (static_cast<int64_t>(d) == axis) {
        result[d] = isStatic(result[d]) && isStatic(shape[d])
                        ? result[d] + shape[d]
                        : kDynamic;
        continue;
      }
      if (isStatic(result[d]) && isStatic(shape[d]) && result[d] != shape[d])
        return error(which + " has shape " + formatShape(shape) +
                     ", which differs from " + formatShape(shapes.front()) +
                     " in dimension " + std::to_string(d) +
                     " (only the concatenation axis " + std::to_string(axis) +
                     " may differ)");
      if (!isStatic(result[d]))
        result[d] = shape[d];
    }
  }
  return result;
}

Shape mlir::kiln::gatherShape(ArrayRef<int64_t> params,
                              ArrayRef<int64_t> indices, int64_t axis) {
  Shape result(params.begin(), params.begin() + axis);
  result.append(indices.begin(), indices.end());
  result.append(params.begin() + axis + 1, params.end());
  return result;
}

/// Two extents that must agree (contraction dims, channels, ...).
static bool mismatch(int64_t a, int64_t b) {
  return isStatic(a) && isStatic(b) && a != b;
}

llvm::Expected<Shape> mlir::kiln::matmulShape(ArrayRef<int64_t> lhs,
                                              ArrayRef<int64_t> rhs,
                                              bool transposeLhs,
                                              bool transposeRhs) {
  if (lhs.size() != 2 || rhs.size() != 2)
    return error("matmul expects rank-2 operands, got " + formatShape(lhs) +
                 " and " + formatShape(rhs) + " (use batch_matmul for more)");
  int64_t m = transposeLhs ? lhs[1] : lhs[0];
  int64_t k = transposeLhs ? lhs[0] : lhs[1];
  int64_t k2 = transposeRhs ? rhs[1] : rhs[0];
  int64_t n = transposeRhs ? rhs[0] : rhs[1];
  if (mismatch(k, k2))
    return error("contraction dimensions differ: " + formatShape(lhs) +
                 (transposeLhs ? "^T" : "") + " x " + formatShape(rhs) +
                 (transposeRhs ? "^T" : "") + " contracts " +
                 std::to_string(k) + " with " + std::to_string(k2));
  return Shape{m, n};
}

llvm::Expected<Shape> mlir::kiln::batchMatmulShape(ArrayRef<int64_t> lhs,
                                                   ArrayRef<int64_t> rhs) {
  if (lhs.size() < 2 || rhs.size() < 2)
    return error("batch_matmul expects operands of rank >= 2, got " +
                 formatShape(lhs) + " and " + formatShape(rhs));
  llvm::Expected<Shape> batch =
      broadcastShapes(lhs.drop_back(2), rhs.drop_back(2));
  if (!batch)
    return error("batch dimensions: " + llvm::toString(batch.takeError()));
  int64_t k = lhs[lhs.size() - 1], k2 = rhs[rhs.size() - 2];
  if (mismatch(k, k2))
    return error("contraction dimensions differ: " + formatShape(lhs) + " x " +
                 formatShape(rhs) + " contracts " + std::to_string(k) +
                 " with " + std::to_string(k2));
  Shape result = *batch;
  result.push_back(lhs[lhs.size() - 2]);
  result.push_back(rhs[rhs.size() - 1]);
  return result;
}

llvm::Expected<WindowDim> mlir::kiln::windowDim(int64_t input, int64_t window,
                                                int64_t stride,
                                                int64_t dilation,
                                                bool samePadding) {
  if (window < 1 || stride < 1 || dilation < 1)
    return error("window size, stride and dilation must be positive (got " +
                 std::to_string(window) + ", " + std::to_string(stride) + ", " +
                 std::to_string(dilation) + ")");
  int64_t effective = 0;
  if (__builtin_mul_overflow(window - 1, dilation, &effective) ||
      __builtin_add_overflow(effective, 1, &effective))
    return error("window " + std::to_string(window) + " with dilation " +
                 std::to_string(dilation) + " overflows a 64-bit size");
  if (!isStatic(input))
    return WindowDim{kDynamic, 0, 0};
  if (samePadding) {
    int64_t output = (input + stride - 1) / stride;
    int64_t total =
        std::max<int64_t>((output - 1) * stride + effective - input, 0);
    return WindowDim{output, total / 2, total - total / 2};
  }
  if (input < effective)
    return error("window of effective size " + std::to_string(effective) +
                 " does not fit in an input of size " + std::to_string(input) +
                 " with VALID padding");
  return WindowDim{(input - effective) / stride + 1, 0, 0};
}

/// Checks a two-entry attribute (strides, dilations, window).
static llvm::Error checkPair(llvm::StringRef what, ArrayRef<int64_t> list) {
  if (list.size() != 2)
    return error(what + " must have 2 entries (height, width), got " +
                 formatList(list));
  return llvm::Error::success();
}

llvm::Expected<Shape> mlir::kiln::conv2dShape(ArrayRef<int64_t> input,
                                              ArrayRef<int64_t> filter,
                                              ArrayRef<int64_t> strides,
                                              ArrayRef<int64_t> dilations,
                                              bool samePadding) {
  if (input.size() != 4)
    return error("input must have rank 4 (NHWC), got " + formatShape(input));
  if (filter.size() != 4)
    return error("filter must have rank 4 (HWIO), got " + formatShape(filter));
  if (auto err = checkPair("strides", strides))
    return std::move(err);
  if (auto err = checkPair("dilations", dilations))
    return std::move(err);
  if (mismatch(input[3], filter[2]))
    return error("input has " + std::to_string(input[3]) +
                 " channels but the filter expects " +
                 std::to_string(filter[2]));
  Shape result{input[0], 0, 0, filter[3]};
  for (int i = 0; i < 2; ++i) {
    if (!isStatic(filter[i]))
      return error("filter spatial dimensions must be static");
    llvm::Expected<WindowDim> dim = windowDim(
        input[1 + i], filter[i], strides[i], dilations[i], samePadding);
    if (!dim)
      return dim.takeError();
    result[1 + i] = dim->output;
  }
  return result;
}

llvm::Expected<Shape> mlir::kiln::pool2dShape(ArrayRef<int64_t> input,
                                              ArrayRef<int64_t> window,
                                              ArrayRef<int64_t> strides,
                                              bool samePadding) {
  if (input.size() != 4)
    return error("input must have rank 4 (NHWC), got " + formatShape(input));
  if (auto err = checkPair("window", window))
    return std::move(err);
  if (auto err = checkPair("strides", strides))
    return std::move(err);
  Shape result{input[0], 0, 0, input[3]};
  for (int i = 0; i < 2; ++i) {
    llvm::Expected<WindowDim> dim =
        windowDim(input[1 + i], window[i], strides[i], 1, samePadding);
    if (!dim)
      return dim.takeError();
    result[1 + i] = dim->output;
  }
  return result;
}
