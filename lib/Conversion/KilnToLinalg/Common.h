//===- Common.h - Helpers shared by the Kiln-to-linalg patterns -*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_LIB_CONVERSION_KILNTOLINALG_COMMON_H
#define KILN_LIB_CONVERSION_KILNTOLINALG_COMMON_H

#include "kiln/Dialect/Kiln/KilnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::kiln::lowering {

/// Builds the scalar body of an elementwise op from its scalar operands.
using ScalarBuilder =
    function_ref<Value(OpBuilder &, Location, ValueRange scalars)>;

/// An uninitialized tensor of the statically shaped `type` (tensor.empty).
Value emptyTensor(OpBuilder &b, Location loc, RankedTensorType type);

/// A tensor of the statically shaped `type` filled with `value`.
Value filledTensor(OpBuilder &b, Location loc, RankedTensorType type,
                   Value value);

// Dynamic shapes. A `?` extent is never broadcast (only a static 1 is), so
// extents that must agree but are only known at run time are checked then:
// checkSameExtent emits a cf.assert, which kiln-split-shape-functions moves
// into the entry point's shape function (from inside a loop or a branch
// too, when it reads only extents known before them; see docs/pipeline.md).

/// The extents of a ranked tensor: attributes where static, tensor.dim where
/// dynamic.
SmallVector<OpFoldResult> extentsOf(OpBuilder &b, Location loc, Value tensor);

/// The extents of `type`: its static ones, and its open ones read from the
/// same dimensions of `like` (a tensor of its rank; unused, and may be null,
/// when `type` is static).
SmallVector<OpFoldResult> extentsLike(OpBuilder &b, Location loc,
                                      RankedTensorType type, Value like);

/// An uninitialized tensor with `extents` and `element` type.
Value emptyTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> extents,
                  Type element);

/// A tensor with `extents` filled with `value`.
Value filledTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> extents,
                   Value value);

/// Requires `a == b` at run time unless both are static (then the verifier
/// has already checked them); `what` says which extents, for the error.
void checkSameExtent(OpBuilder &b, Location loc, OpFoldResult lhs,
                     OpFoldResult rhs, const Twine &what);

/// A scalar constant of element type `type` (float or integer) equal to
/// `value`; for integers `value` is truncated toward zero.
Value scalarConstant(OpBuilder &b, Location loc, Type type, double value);

/// The type sums and products of `element` accumulate in: f32 for f16 and
/// bf16 (as TensorFlow and PyTorch reduce them: in f16 a sum of ones stops
/// at 2048, in bf16 at 256), `element` otherwise.
Type accumulatorType(Type element);

/// `value` (of the accumulator type) converted to `element` where they
/// differ, elementwise.
Value toElementType(OpBuilder &b, Location loc, Value value, Type element);

/// The smallest / largest value of `type` (-inf / +inf for floats): the
/// identity of max / min reductions.
Value lowestValue(OpBuilder &b, Location loc, Type type);
Value highestValue(OpBuilder &b, Location loc, Type type);

/// The indexing map that reads an operand of `shape` broadcast (NumPy rules)
/// to a result of `resultShape`.
AffineMap broadcastMap(MLIRContext *context, ArrayRef<int64_t> shape,
                       ArrayRef<int64_t> resultShape);

/// Builds a linalg.generic producing `resultType` from `operands` broadcast
/// to it, with `body` computing each element. A dynamic extent of the result
/// is taken from an operand that is dynamic there; operands that are not
/// broadcast must match the result (checked at run time where dynamic).
/// `extents`, when given, are the result's extents (where the operands
/// cannot tell them: a broadcast to a dynamic shape).
Value buildElementwise(OpBuilder &b, Location loc, RankedTensorType resultType,
                       ValueRange operands, ScalarBuilder body,
                       ArrayRef<OpFoldResult> extents = {});

/// Builds a linalg.generic with no inputs that computes each element of
/// `type` from its indices (the body reads what it needs with
/// tensor.extract): every element is independent, so the CPU stage splits
/// it for threads like any elementwise op. `extents`, when given, size the
/// result (open extents of `type` included).
Value buildFromIndices(
    OpBuilder &b, Location loc, RankedTensorType type,
    function_ref<Value(OpBuilder &, Location, ArrayRef<Value>)> body,
    ArrayRef<OpFoldResult> extents = {});

/// Converts a scalar between element types with Kiln's cast semantics;
/// `unsignedInput` / `unsignedResult` read that side's signless integer as
/// unsigned (kiln.cast's flags once signedness is erased).
Value castScalar(OpBuilder &b, Location loc, Value value, Type to,
                 bool unsignedInput = false, bool unsignedResult = false);

/// Reads the element of a rank-0 tensor.
Value extractScalar(OpBuilder &b, Location loc, Value tensor);

/// Reshapes `value` (same elements, row-major) to `type` with
/// tensor.collapse_shape / tensor.expand_shape. `type` may have one dynamic
/// extent: the element count divided by the static ones; or any number,
/// taken from the same dimensions of `like`. Counts known only at run time
/// are checked then.
Value reshapeTensor(OpBuilder &b, Location loc, Value value,
                    RankedTensorType type, Value like = {});

/// For a reshape with several open extents and no `like`: the groups of
/// `from`'s and `to`'s dimensions (as many of each) where each group holds
/// at most one open extent on each side, on both sides or neither, and
/// static extents of the same product (no 0), extents of 1 joining a
/// neighbour. Each open extent then keeps its value: [?, ?, 4, 2] to
/// [?, ?, 8], what a slice's cotangent builds. None if the shapes do not
/// split so.
std::optional<std::pair<SmallVector<ReassociationIndices>,
                        SmallVector<ReassociationIndices>>>
openReshapeGroups(ArrayRef<int64_t> from, ArrayRef<int64_t> to);

/// Pads a rank-4 NHWC tensor spatially with `value`.
Value padSpatial(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> low,
                 ArrayRef<int64_t> high, Value value);

/// Reports that an op cannot be lowered because a shape is dynamic.
LogicalResult requireStatic(Operation *op, ConversionPatternRewriter &rewriter);

/// Whether a convolution or pooling op (or one of their gradients) lowers
/// with the open extents it has: an open batch, everything else static.
bool windowTakesOpenBatch(Operation *op);

/// Whether a kiln.scatter_add / kiln.scatter_reduce (false for any other
/// op) lowers with the open extents it has: every extent but the base's
/// along the axis may be open (the loops run over the updates, the slices
/// take the updates' extents, the base's are checked against them).
bool scatterTakesOpenExtents(Operation *op);

/// Whether a gather lowers with the open extents it has: the table static
/// along the axis (the indices are checked against it), open extents
/// elsewhere from the table and the indices, the result type the operands
/// give.
bool gatherTakesOpenExtents(GatherOp op);

void populateElementwisePatterns(RewritePatternSet &patterns);
void populateReductionPatterns(RewritePatternSet &patterns);
void populateShapePatterns(RewritePatternSet &patterns);
void populateNNPatterns(RewritePatternSet &patterns);
void populateControlFlowPatterns(RewritePatternSet &patterns);
void populatePrintPatterns(RewritePatternSet &patterns); // and custom_vjp
void populateSortPatterns(RewritePatternSet &patterns);
void populateCollectivePatterns(RewritePatternSet &patterns);

/// Runtime function `name` with `inputs`, declared in `module` on first
/// use (private, no results).
func::FuncOp declareRuntime(OpBuilder &b, Location loc, ModuleOp module,
                            StringRef name, TypeRange inputs);

/// The suffix naming `element` in the runtime's per-type functions
/// (kiln_print_tensor_f32, kiln_sort_i64, ...), or nothing.
std::optional<StringRef> elementSuffix(Type element);

/// The address (i64) and length (i64) of `text`, a constant global of
/// `module` (one per distinct text), read at `b`'s insertion point.
std::pair<Value, Value> constantText(OpBuilder &b, Location loc,
                                     ModuleOp module, StringRef text);

/// "file:line:col: " for the first file location in `loc` ("file:line: "
/// without a column), else "".
std::string locationPrefix(Location loc);

/// Where `ok` is false at run time, reports "<file:line>: <what>" through
/// the runtime's kiln_check_failed (the call then returns
/// InvalidArgumentError); `value` (an integer, or null) and `bound` (>= 0:
/// the valid range is [0, bound)) complete the message; the message and
/// the runtime function are declared in `module`. CPU code only.
void checkAtRunTime(OpBuilder &b, Location loc, ModuleOp module, Value ok,
                    StringRef what, Value value, int64_t bound);
/// The same with the bound known at run time only (an index or integer
/// value: an open extent).
void checkAtRunTime(OpBuilder &b, Location loc, ModuleOp module, Value ok,
                    StringRef what, Value value, Value bound);

/// The special functions on one element (Special.cpp): arith and math ops
/// only, so the same body runs on every target.
Value lgammaOf(OpBuilder &b, Location loc, Value x);
Value digammaOf(OpBuilder &b, Location loc, Value x);
Value polygammaOf(OpBuilder &b, Location loc, Value x, int64_t order);
Value erfinvOf(OpBuilder &b, Location loc, Value x);

} // namespace mlir::kiln::lowering

#endif // KILN_LIB_CONVERSION_KILNTOLINALG_COMMON_H
