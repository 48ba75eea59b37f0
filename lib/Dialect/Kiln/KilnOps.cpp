//===- KilnOps.cpp - Kiln op verification and type inference --------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Type inference doubles as verification: InferTypeOpInterface checks the
// inferred types against the written ones, so every rule about shapes, axes
// and attributes lives in one inferReturnTypes (or verify) function and says
// in words what is wrong. Inference is also called from builders, before any
// verifier ran, so it never assumes its operands are well-formed.
//
//===----------------------------------------------------------------------===//

#include "kiln/Dialect/Kiln/KilnOps.h"
#include "kiln/Dialect/Kiln/ShapeUtils.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/CallInterfaces.h"

using namespace mlir;
using namespace mlir::kiln;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// Reports an llvm::Error from ShapeUtils at `loc`.
static LogicalResult report(std::optional<Location> loc, llvm::Error err) {
  if (!err)
    return success();
  std::string message = llvm::toString(std::move(err));
  return emitOptionalError(loc, message);
}

/// Unwraps an llvm::Expected from ShapeUtils, reporting its error at `loc`.
template <typename T>
static FailureOr<T> unwrap(std::optional<Location> loc,
                           llvm::Expected<T> value) {
  if (value)
    return std::move(*value);
  (void)report(loc, value.takeError());
  return failure();
}

/// Normalizes the axis of an op that inserts a dimension (expand_dims,
/// one_hot): it indexes the result, one rank above the input, which the
/// message says.
/// Reports on `op` when given (a verifier), else at `loc` (inference).
static FailureOr<int64_t> insertedAxis(std::optional<Location> loc,
                                       int64_t axis, int64_t inputRank,
                                       Operation *op = nullptr) {
  llvm::Expected<int64_t> normalized = normalizeAxis(axis, inputRank + 1);
  if (normalized)
    return *normalized;
  std::string message = llvm::toString(normalized.takeError()) +
                        "; the new axis indexes the result, which has one "
                        "more dimension than the input (rank " +
                        std::to_string(inputRank) + ")";
  if (op)
    return op->emitOpError() << message;
  (void)emitOptionalError(loc, message);
  return failure();
}

/// Returns `type` as a ranked tensor, or reports that it is not one.
static FailureOr<RankedTensorType> ranked(std::optional<Location> loc,
                                          Type type, StringRef name) {
  if (auto tensor = dyn_cast_if_present<RankedTensorType>(type))
    return tensor;
  (void)emitOptionalError(loc, name, " must be a ranked tensor, got ", type);
  return failure();
}

/// Reports unless `a` and `b` have the same element type.
static LogicalResult sameElement(std::optional<Location> loc,
                                 RankedTensorType a, RankedTensorType b,
                                 StringRef what) {
  if (a.getElementType() == b.getElementType())
    return success();
  return emitOptionalError(loc, what, " must have the same element type, got ",
                           a.getElementType(), " and ", b.getElementType());
}

static RankedTensorType tensorOf(ArrayRef<int64_t> shape, Type element) {
  return RankedTensorType::get(shape, element);
}

bool mlir::kiln::areCompatibleReturnTypes(TypeRange inferred,
                                          TypeRange actual) {
  if (inferred.size() != actual.size())
    return false;
  for (auto [a, b] : llvm::zip_equal(inferred, actual)) {
    auto ta = dyn_cast<RankedTensorType>(a);
    auto tb = dyn_cast<RankedTensorType>(b);
    if (!ta || !tb) {
      if (a != b)
        return false;
      continue;
    }
    if (ta.getElementType() != tb.getElementType() ||
        !areCompatibleShapes(ta.getShape(), tb.getShape()))
      return false;
  }
  return true;
}

LogicalResult mlir::kiln::checkAxis(std::optional<Location> loc, int64_t axis,
                                    int64_t rank) {
  return report(loc, normalizeAxis(axis, rank).takeError());
}

/// Broadcasts the shapes of `operands` together.
static FailureOr<Shape> broadcastAll(std::optional<Location> loc,
                                     ArrayRef<RankedTensorType> operands) {
  Shape shape;
  for (RankedTensorType operand : operands) {
    FailureOr<Shape> next =
        unwrap(loc, broadcastShapes(shape, operand.getShape()));
    if (failed(next))
      return failure();
    shape = *next;
  }
  return shape;
}

LogicalResult mlir::kiln::inferBroadcastType(std::optional<Location> loc,
                                             ArrayRef<Type> operands,
                                             Type resultElement,
                                             SmallVectorImpl<Type> &types) {
  SmallVector<RankedTensorType> tensors;
  for (auto [i, type] : llvm::enumerate(operands)) {
    FailureOr<RankedTensorType> t =
        ranked(loc, type, "operand #" + std::to_string(i));
    if (failed(t))
      return failure();
    if (!tensors.empty() &&
        failed(sameElement(loc, tensors.front(), *t, "operands")))
      return failure();
    tensors.push_back(*t);
  }
  FailureOr<Shape> shape = broadcastAll(loc, tensors);
  if (failed(shape))
    return failure();
  types.push_back(tensorOf(*shape, resultElement
                                       ? resultElement
                                       : tensors.front().getElementType()));
  return success();
}

LogicalResult mlir::kiln::inferReduceType(std::optional<Location> loc,
                                          Type input, ArrayRef<int64_t> axes,
                                          bool keepDims,
                                          SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> type = ranked(loc, input, "input");
  if (failed(type))
    return failure();
  FailureOr<Shape> norm = unwrap(loc, normalizeAxes(axes, type->getRank()));
  if (failed(norm))
    return failure();
  types.push_back(tensorOf(reduceShape(type->getShape(), *norm, keepDims),
                           type->getElementType()));
  return success();
}

/// Reports unless `actual` is compatible with the shape `expected` that the
/// op's other operands imply.
static LogicalResult expectShape(Operation *op, StringRef what,
                                 RankedTensorType actual,
                                 ArrayRef<int64_t> expected) {
  if (areCompatibleShapes(actual.getShape(), expected))
    return success();
  return op->emitOpError() << what << " has shape "
                           << formatShape(actual.getShape())
                           << " but the other operands imply "
                           << formatShape(expected);
}

//===----------------------------------------------------------------------===//
// Constants and generators
//===----------------------------------------------------------------------===//

LogicalResult ConstantOp::inferReturnTypes(MLIRContext *,
                                           std::optional<Location> loc,
                                           Adaptor adaptor,
                                           SmallVectorImpl<Type> &types) {
  ElementsAttr value = adaptor.getValueAttr();
  if (!value)
    return emitOptionalError(loc, "requires a 'value' attribute");
  types.push_back(value.getType());
  return success();
}

static LogicalResult verifyLike(Operation *op, RankedTensorType likeType,
                                RankedTensorType out);

LogicalResult IotaOp::verify() {
  int64_t rank = getType().getRank();
  int64_t dimension = static_cast<int64_t>(getDimension());
  if (dimension < 0 || dimension >= rank)
    return emitOpError() << "dimension " << dimension
                         << " is out of range for a result of rank " << rank;
  if (Value like = getLike())
    return verifyLike(*this, cast<RankedTensorType>(like.getType()), getType());
  return success();
}

LogicalResult PolygammaOp::verify() {
  // (The lowering unrolls about 10 + order steps of the recurrence; n! of
  // a larger order overflows f64 anyway beyond 170.)
  int64_t order = static_cast<int64_t>(getOrder());
  if (order < 0 || order > 100)
    return emitOpError() << "order " << order << " is not in [0, 100]";
  return success();
}

/// Checks the seed of a random op (an operand or an attribute, not both)
/// and its `like` tensor.
template <typename OpTy>
static LogicalResult verifySeed(OpTy op) {
  if (static_cast<bool>(op.getSeed()) == op.getStaticSeed().has_value())
    return op.emitOpError(
        "needs exactly one seed: a 'static_seed' attribute or a seed operand");
  if (Value like = op.getLike())
    return verifyLike(op, cast<RankedTensorType>(like.getType()), op.getType());
  return success();
}

LogicalResult RandomUniformOp::verify() {
  if (failed(verifySeed(*this)))
    return failure();
  if (!(getMinval().convertToDouble() < getMaxval().convertToDouble()))
    return emitOpError() << "needs minval < maxval, got ["
                         << getMinval().convertToDouble() << ", "
                         << getMaxval().convertToDouble() << ")";
  return success();
}

/// Checks the parameters of a normal distribution.
template <typename OpTy>
static LogicalResult verifyNormal(OpTy op) {
  if (failed(verifySeed(op)))
    return failure();
  if (!(op.getStddev().convertToDouble() >= 0.0))
    return op.emitOpError() << "needs a non-negative stddev, got "
                            << op.getStddev().convertToDouble();
  return success();
}

LogicalResult RandomNormalOp::verify() { return verifyNormal(*this); }
LogicalResult TruncatedNormalOp::verify() { return verifyNormal(*this); }

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

LogicalResult SelectOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> cond =
      ranked(loc, adaptor.getCond().getType(), "condition");
  FailureOr<RankedTensorType> onTrue =
      ranked(loc, adaptor.getOnTrue().getType(), "on_true");
  FailureOr<RankedTensorType> onFalse =
      ranked(loc, adaptor.getOnFalse().getType(), "on_false");
  if (failed(cond) || failed(onTrue) || failed(onFalse) ||
      failed(sameElement(loc, *onTrue, *onFalse, "on_true and on_false")))
    return failure();
  FailureOr<Shape> shape = broadcastAll(loc, {*cond, *onTrue, *onFalse});
  if (failed(shape))
    return failure();
  types.push_back(tensorOf(*shape, onTrue->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

/// Shared by argmax and argmin.
template <typename Adaptor>
static LogicalResult
inferArgReduce(MLIRContext *context, std::optional<Location> loc,
               Adaptor adaptor, SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> type =
      ranked(loc, adaptor.getInput().getType(), "input");
  if (failed(type))
    return failure();
  FailureOr<int64_t> axis =
      unwrap(loc, normalizeAxis(adaptor.getAxis(), type->getRank()));
  if (failed(axis))
    return failure();
  // (NumPy raises too: no element is the largest of none.)
  if (type->getDimSize(*axis) == 0)
    return emitOptionalError(loc, "the index of the largest or smallest "
                                  "element along an empty axis (axis ",
                             *axis, " of ", *type, ") does not exist");
  types.push_back(tensorOf(reduceShape(type->getShape(), {*axis}, false),
                           IntegerType::get(context, 64)));
  return success();
}

LogicalResult ArgMaxOp::inferReturnTypes(MLIRContext *context,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  return inferArgReduce(context, loc, adaptor, types);
}

LogicalResult ArgMinOp::inferReturnTypes(MLIRContext *context,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  return inferArgReduce(context, loc, adaptor, types);
}

LogicalResult mlir::kiln::verifyBoundedExtents(Operation *op) {
  for (Type type :
       llvm::concat<Type>(op->getOperandTypes(), op->getResultTypes())) {
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor)
      continue;
    Type element = tensor.getElementType();
    int64_t bytes = element.isIntOrIndexOrFloat()
                        ? std::max<int64_t>(
                              1, (element.isIndex()
                                      ? 64
                                      : element.getIntOrFloatBitWidth()) /
                                     8)
                        : 1;
    for (int64_t extent : tensor.getShape()) {
      if (ShapedType::isDynamic(extent))
        continue;
      if (llvm::MulOverflow(bytes, extent, bytes))
        return op->emitOpError()
               << "has a tensor too large to address: " << tensor
               << " holds more than 2^63 - 1 bytes";
    }
  }
  return success();
}

LogicalResult SortOp::inferReturnTypes(MLIRContext *context,
                                       std::optional<Location> loc,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> input =
      ranked(loc, adaptor.getInput().getType(), "input");
  if (failed(input))
    return failure();
  if (input->getRank() == 0)
    return emitOptionalError(loc, "cannot sort a rank-0 tensor (it has no "
                                  "axis to sort along)");
  int64_t n = input->getShape().back();
  if (!ShapedType::isDynamic(n) && n > std::numeric_limits<int32_t>::max())
    return emitOptionalError(loc, "cannot sort rows of ", n,
                             " elements: the indices are i32");
  types.push_back(*input);
  types.push_back(tensorOf(input->getShape(), IntegerType::get(context, 32)));
  return success();
}

//===----------------------------------------------------------------------===//
// Shape manipulation
//===----------------------------------------------------------------------===//

/// `like` of reshape and broadcast_to: a tensor of the result's rank whose
/// fixed extents agree with the result's.
static LogicalResult verifyLike(Operation *op, RankedTensorType likeType,
                                RankedTensorType out) {
  if (likeType.getRank() != out.getRank())
    return op->emitOpError() << "'like' has rank " << likeType.getRank()
                             << " but the result has rank " << out.getRank();
  for (int64_t d = 0; d < out.getRank(); ++d)
    if (!likeType.isDynamicDim(d) && !out.isDynamicDim(d) &&
        likeType.getDimSize(d) != out.getDimSize(d))
      return op->emitOpError()
             << "dimension " << d << " of 'like' is " << likeType.getDimSize(d)
             << " but the result's is " << out.getDimSize(d);
  return success();
}

void ReshapeOp::build(OpBuilder &builder, OperationState &state, Value input,
                      ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(input.getType());
  build(builder, state, tensorOf(shape, type.getElementType()), input);
}

bool mlir::kiln::isFloatTensor(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && isa<FloatType>(t.getElementType());
}

Value mlir::kiln::reshapeTo(OpBuilder &b, Location loc, Value x,
                           RankedTensorType type, Value like) {
  if (x.getType() == type)
    return x;
  // Several open extents, or one beside a fixed 0 (no count to divide),
  // are taken from `like`.
  bool ambiguous = type.getNumDynamicDims() > 1 ||
                   (type.getNumDynamicDims() == 1 &&
                    llvm::is_contained(type.getShape(), 0));
  return ReshapeOp::create(b, loc, type, x, ambiguous ? like : Value());
}

LogicalResult ReshapeOp::verify() {
  RankedTensorType in = getInput().getType(), out = getType();
  if (failed(sameElement(getLoc(), in, out, "input and result")))
    return failure();
  // (A fixed extent of 0 makes the count 0 whatever the open extents.)
  auto count = [](ArrayRef<int64_t> shape) {
    int64_t n = numElements(shape);
    return n != kOverflow && llvm::is_contained(shape, 0) ? 0 : n;
  };
  int64_t a = count(in.getShape()), b = count(out.getShape());
  if (a == kOverflow || b == kOverflow)
    return emitOpError() << "has more elements than fit in a 64-bit count";
  if (isStatic(a) && isStatic(b) && a != b)
    return emitOpError() << "cannot reshape " << formatShape(in.getShape())
                         << " (" << a << " elements) to "
                         << formatShape(out.getShape()) << " (" << b
                         << " elements)";
  if (Value like = getLike())
    return verifyLike(*this, cast<RankedTensorType>(like.getType()), out);
  return success();
}

LogicalResult TransposeOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> type =
      ranked(loc, adaptor.getInput().getType(), "input");
  if (failed(type) ||
      failed(report(
          loc, checkPermutation(adaptor.getPermutation(), type->getRank()))))
    return failure();
  types.push_back(
      tensorOf(permuteShape(type->getShape(), adaptor.getPermutation()),
               type->getElementType()));
  return success();
}

void BroadcastToOp::build(OpBuilder &builder, OperationState &state,
                          Value input, ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(input.getType());
  build(builder, state, tensorOf(shape, type.getElementType()), input,
        Value());
}

LogicalResult BroadcastToOp::verify() {
  RankedTensorType in = getInput().getType(), out = getType();
  if (failed(sameElement(getLoc(), in, out, "input and result")))
    return failure();
  if (Value like = getLike())
    if (failed(verifyLike(*this, cast<RankedTensorType>(like.getType()), out)))
      return failure();
  return report(getLoc(), checkBroadcastableTo(in.getShape(), out.getShape()));
}

LogicalResult ExpandDimsOp::inferReturnTypes(MLIRContext *,
                                             std::optional<Location> loc,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> type =
      ranked(loc, adaptor.getInput().getType(), "input");
  if (failed(type))
    return failure();
  FailureOr<int64_t> axis =
      insertedAxis(loc, adaptor.getAxis(), type->getRank());
  if (failed(axis))
    return failure();
  Shape shape(type->getShape());
  shape.insert(shape.begin() + *axis, 1);
  types.push_back(tensorOf(shape, type->getElementType()));
  return success();
}

LogicalResult CastOp::verify() {
  // A flag reads its side's signless integer as unsigned: i8, i16 or i32
  // (the widths of the unsigned storage types).
  auto check = [&](bool flag, RankedTensorType type,
                   llvm::StringRef name) -> LogicalResult {
    Type element = type.getElementType();
    if (!flag || (element.isSignlessInteger() &&
                  llvm::is_contained({8u, 16u, 32u},
                                     element.getIntOrFloatBitWidth())))
      return success();
    return emitOpError() << name << " needs a signless i8, i16 or i32 "
                         << (name == "unsigned_input" ? "input" : "result")
                         << ", not " << element;
  };
  return failure(failed(check(getUnsignedInput(), getInput().getType(),
                              "unsigned_input")) ||
                 failed(check(getUnsignedResult(), getType(),
                              "unsigned_result")));
}

LogicalResult BitcastOp::verify() {
  auto from = cast<RankedTensorType>(getInput().getType());
  auto to = cast<RankedTensorType>(getType());
  if (from.getElementType().isInteger(1) || to.getElementType().isInteger(1))
    return emitOpError("bools (i1) have no bit layout to reinterpret");
  unsigned in = from.getElementType().getIntOrFloatBitWidth();
  unsigned out = to.getElementType().getIntOrFloatBitWidth();
  ArrayRef<int64_t> shape = from.getShape();
  SmallVector<int64_t> expected(shape);
  if (in > out) {
    expected.push_back(in / out);
  } else if (in < out) {
    if (shape.empty() || shape.back() != static_cast<int64_t>(out / in))
      return emitOpError("joining ")
             << from.getElementType() << " elements into "
             << to.getElementType() << " needs a last dimension of "
             << out / in << ", got " << formatShape(shape);
    expected.pop_back();
  }
  if (!areCompatibleShapes(to.getShape(), expected))
    return emitOpError("a bitcast of ")
           << formatShape(shape) << " " << from.getElementType() << " to "
           << to.getElementType() << " has shape " << formatShape(expected)
           << ", not " << formatShape(to.getShape());
  return success();
}

LogicalResult DimOp::verify() {
  int64_t rank = cast<RankedTensorType>(getInput().getType()).getRank();
  int64_t axis = static_cast<int64_t>(getAxis());
  if (axis < 0 || axis >= rank)
    return emitOpError("axis ") << axis
                                << " is out of range for a tensor of rank "
                                << rank;
  return success();
}

LogicalResult SqueezeOp::inferReturnTypes(MLIRContext *,
                                          std::optional<Location> loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> type =
      ranked(loc, adaptor.getInput().getType(), "input");
  if (failed(type))
    return failure();
  ArrayRef<int64_t> shape = type->getShape();
  Shape axes;
  if (adaptor.getAxes().empty()) {
    for (auto [i, dim] : llvm::enumerate(shape)) {
      if (!isStatic(dim))
        return emitOptionalError(
            loc, "cannot squeeze all size-1 dimensions of ", formatShape(shape),
            ": dimension ", i, " has unknown size (list the axes)");
      if (dim == 1)
        axes.push_back(i);
    }
  } else {
    FailureOr<Shape> norm =
        unwrap(loc, normalizeAxes(adaptor.getAxes(), type->getRank()));
    if (failed(norm))
      return failure();
    axes = *norm;
    for (int64_t axis : axes) {
      if (shape[axis] == 1)
        continue;
      return emitOptionalError(loc, "cannot squeeze dimension ", axis, " of ",
                               formatShape(shape),
                               isStatic(shape[axis])
                                   ? ": its size is not 1"
                                   : ": its size is unknown (it must be 1)");
    }
  }
  types.push_back(
      tensorOf(reduceShape(shape, axes, false), type->getElementType()));
  return success();
}

LogicalResult ConcatOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  if (adaptor.getInputs().empty())
    return emitOptionalError(loc, "needs at least one operand");
  SmallVector<Shape> shapes;
  RankedTensorType first;
  for (Value input : adaptor.getInputs()) {
    FailureOr<RankedTensorType> type = ranked(loc, input.getType(), "operand");
    if (failed(type))
      return failure();
    if (!first)
      first = *type;
    else if (failed(sameElement(loc, first, *type, "operands")))
      return failure();
    shapes.push_back(Shape(type->getShape()));
  }
  if (first.getRank() == 0)
    return emitOptionalError(loc, "cannot concatenate rank-0 tensors");
  FailureOr<int64_t> axis =
      unwrap(loc, normalizeAxis(adaptor.getAxis(), first.getRank()));
  if (failed(axis))
    return failure();
  FailureOr<Shape> shape = unwrap(loc, concatShape(shapes, *axis));
  if (failed(shape))
    return failure();
  types.push_back(tensorOf(*shape, first.getElementType()));
  return success();
}

LogicalResult SplitOp::inferReturnTypes(MLIRContext *,
                                        std::optional<Location> loc,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> input =
      ranked(loc, adaptor.getInput().getType(), "input");
  if (failed(input))
    return failure();
  if (input->getRank() == 0)
    return emitOptionalError(loc, "cannot split a rank-0 tensor");
  if (adaptor.getLike().empty())
    return emitOptionalError(loc, "needs at least one 'like' operand");
  FailureOr<int64_t> axis =
      unwrap(loc, normalizeAxis(adaptor.getAxis(), input->getRank()));
  if (failed(axis))
    return failure();
  int64_t total = 0;
  bool known = true;
  for (auto [i, like] : llvm::enumerate(adaptor.getLike())) {
    FailureOr<RankedTensorType> type =
        ranked(loc, like.getType(), "'like' operand");
    if (failed(type))
      return failure();
    if (type->getRank() != input->getRank())
      return emitOptionalError(loc, "'like' operand ", i, " has rank ",
                               type->getRank(), " but the input has rank ",
                               input->getRank());
    Shape shape(input->getShape());
    shape[*axis] = type->getDimSize(*axis);
    if (ShapedType::isDynamic(shape[*axis]))
      known = false;
    else if (__builtin_add_overflow(total, shape[*axis], &total))
      return emitOptionalError(loc, "the pieces' extents overflow");
    types.push_back(tensorOf(shape, input->getElementType()));
  }
  if (known && !input->isDynamicDim(*axis) && total != input->getDimSize(*axis))
    return emitOptionalError(loc, "the pieces' extents along axis ", *axis,
                             " add up to ", total, ", not the input's ",
                             input->getDimSize(*axis));
  return success();
}

LogicalResult SliceOp::inferReturnTypes(MLIRContext *,
                                        std::optional<Location> loc,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> type =
      ranked(loc, adaptor.getInput().getType(), "input");
  if (failed(type))
    return failure();
  FailureOr<Shape> shape =
      unwrap(loc, sliceShape(type->getShape(), adaptor.getStart(),
                             adaptor.getLimit(), adaptor.getStride()));
  if (failed(shape))
    return failure();
  types.push_back(tensorOf(*shape, type->getElementType()));
  return success();
}

LogicalResult PadOp::inferReturnTypes(MLIRContext *,
                                      std::optional<Location> loc,
                                      Adaptor adaptor,
                                      SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> type =
      ranked(loc, adaptor.getInput().getType(), "input");
  if (failed(type))
    return failure();
  FailureOr<Shape> shape = unwrap(
      loc, padShape(type->getShape(), adaptor.getLow(), adaptor.getHigh()));
  if (failed(shape))
    return failure();
  types.push_back(tensorOf(*shape, type->getElementType()));
  return success();
}

LogicalResult GatherOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> params =
      ranked(loc, adaptor.getParams().getType(), "params");
  FailureOr<RankedTensorType> indices =
      ranked(loc, adaptor.getIndices().getType(), "indices");
  if (failed(params) || failed(indices))
    return failure();
  if (params->getRank() == 0)
    return emitOptionalError(loc, "cannot gather from a rank-0 tensor");
  FailureOr<int64_t> axis =
      unwrap(loc, normalizeAxis(adaptor.getAxis(), params->getRank()));
  if (failed(axis))
    return failure();
  types.push_back(
      tensorOf(gatherShape(params->getShape(), indices->getShape(), *axis),
               params->getElementType()));
  return success();
}

/// The result type of a scatter (kiln.scatter_add, kiln.scatter_reduce):
/// the base's, once the updates have the shape a gather of the base with
/// these indices would have.
template <typename Adaptor>
static LogicalResult inferScatterType(std::optional<Location> loc,
                                      Adaptor adaptor,
                                      SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> base =
      ranked(loc, adaptor.getBase().getType(), "base");
  FailureOr<RankedTensorType> indices =
      ranked(loc, adaptor.getIndices().getType(), "indices");
  FailureOr<RankedTensorType> updates =
      ranked(loc, adaptor.getUpdates().getType(), "updates");
  if (failed(base) || failed(indices) || failed(updates) ||
      failed(sameElement(loc, *base, *updates, "base and updates")))
    return failure();
  if (base->getRank() == 0)
    return emitOptionalError(loc, "cannot scatter into a rank-0 tensor");
  FailureOr<int64_t> axis =
      unwrap(loc, normalizeAxis(adaptor.getAxis(), base->getRank()));
  if (failed(axis))
    return failure();
  Shape expected = gatherShape(base->getShape(), indices->getShape(), *axis);
  if (!areCompatibleShapes(updates->getShape(), expected))
    return emitOptionalError(
        loc, "updates have shape ", formatShape(updates->getShape()),
        " but base and indices imply ", formatShape(expected));
  types.push_back(*base);
  return success();
}

LogicalResult ScatterAddOp::inferReturnTypes(MLIRContext *,
                                             std::optional<Location> loc,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &types) {
  return inferScatterType(loc, adaptor, types);
}

LogicalResult ScatterReduceOp::inferReturnTypes(MLIRContext *,
                                                std::optional<Location> loc,
                                                Adaptor adaptor,
                                                SmallVectorImpl<Type> &types) {
  return inferScatterType(loc, adaptor, types);
}

LogicalResult OneHotOp::verify() {
  ArrayRef<int64_t> in = getIndices().getType().getShape();
  int64_t depth = static_cast<int64_t>(getDepth());
  if (depth < 0)
    return emitOpError() << "depth must be non-negative, got " << depth;
  FailureOr<int64_t> axis =
      insertedAxis(getLoc(), getAxis(), static_cast<int64_t>(in.size()),
                   getOperation());
  if (failed(axis))
    return failure();
  Shape expected(in);
  expected.insert(expected.begin() + *axis, depth);
  return expectShape(*this, "result", getType(), expected);
}

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

LogicalResult MatmulOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> lhs =
      ranked(loc, adaptor.getLhs().getType(), "lhs");
  FailureOr<RankedTensorType> rhs =
      ranked(loc, adaptor.getRhs().getType(), "rhs");
  if (failed(lhs) || failed(rhs) ||
      failed(sameElement(loc, *lhs, *rhs, "operands")))
    return failure();
  FailureOr<Shape> shape = unwrap(
      loc, matmulShape(lhs->getShape(), rhs->getShape(),
                       adaptor.getTransposeLhs(), adaptor.getTransposeRhs()));
  if (failed(shape))
    return failure();
  types.push_back(tensorOf(*shape, lhs->getElementType()));
  return success();
}

LogicalResult BatchMatmulOp::inferReturnTypes(MLIRContext *,
                                              std::optional<Location> loc,
                                              Adaptor adaptor,
                                              SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> lhs =
      ranked(loc, adaptor.getLhs().getType(), "lhs");
  FailureOr<RankedTensorType> rhs =
      ranked(loc, adaptor.getRhs().getType(), "rhs");
  if (failed(lhs) || failed(rhs) ||
      failed(sameElement(loc, *lhs, *rhs, "operands")))
    return failure();
  FailureOr<Shape> shape =
      unwrap(loc, batchMatmulShape(lhs->getShape(), rhs->getShape()));
  if (failed(shape))
    return failure();
  types.push_back(tensorOf(*shape, lhs->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Neural-network ops
//===----------------------------------------------------------------------===//

static bool isSame(Padding padding) { return padding == Padding::SAME; }

LogicalResult Conv2DOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> input =
      ranked(loc, adaptor.getInput().getType(), "input");
  FailureOr<RankedTensorType> filter =
      ranked(loc, adaptor.getFilter().getType(), "filter");
  if (failed(input) || failed(filter) ||
      failed(sameElement(loc, *input, *filter, "input and filter")))
    return failure();
  FailureOr<Shape> shape =
      unwrap(loc, conv2dShape(input->getShape(), filter->getShape(),
                              adaptor.getStrides(), adaptor.getDilations(),
                              isSame(adaptor.getPadding())));
  if (failed(shape))
    return failure();
  types.push_back(tensorOf(*shape, input->getElementType()));
  return success();
}

/// Checks a convolution gradient op: the forward convolution of `input` and
/// `filter` must produce the shape of `out_backprop`.
template <typename OpTy>
static LogicalResult verifyConvGrad(OpTy op, RankedTensorType input,
                                    RankedTensorType filter) {
  RankedTensorType grad = op.getOutBackprop().getType();
  if (failed(sameElement(op.getLoc(), input, filter, "operands and result")) ||
      failed(sameElement(op.getLoc(), input, grad, "operands and result")))
    return failure();
  FailureOr<Shape> forward =
      unwrap(op.getLoc(),
             conv2dShape(input.getShape(), filter.getShape(), op.getStrides(),
                         op.getDilations(), isSame(op.getPadding())));
  if (failed(forward))
    return failure();
  return expectShape(op, "out_backprop", grad, *forward);
}

LogicalResult Conv2DBackpropInputOp::verify() {
  return verifyConvGrad(*this, getType(), getFilter().getType());
}

LogicalResult Conv2DBackpropFilterOp::verify() {
  return verifyConvGrad(*this, getInput().getType(), getType());
}

/// Shared by the pooling ops.
template <typename Adaptor>
static LogicalResult inferPool(std::optional<Location> loc, Adaptor adaptor,
                               SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> input =
      ranked(loc, adaptor.getInput().getType(), "input");
  if (failed(input))
    return failure();
  FailureOr<Shape> shape = unwrap(
      loc, pool2dShape(input->getShape(), adaptor.getWindow(),
                       adaptor.getStrides(), isSame(adaptor.getPadding())));
  if (failed(shape))
    return failure();
  types.push_back(tensorOf(*shape, input->getElementType()));
  return success();
}

LogicalResult MaxPool2DOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  return inferPool(loc, adaptor, types);
}

LogicalResult AvgPool2DOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  return inferPool(loc, adaptor, types);
}

LogicalResult MaxPool2DSelectOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> input =
      ranked(loc, adaptor.getInput().getType(), "input");
  FailureOr<RankedTensorType> source =
      ranked(loc, adaptor.getSource().getType(), "source");
  if (failed(input) || failed(source) ||
      failed(sameElement(loc, *input, *source, "input and source")))
    return failure();
  if (!areCompatibleShapes(input->getShape(), source->getShape()))
    return emitOptionalError(loc, "source has shape ",
                             formatShape(source->getShape()),
                             " but input has shape ",
                             formatShape(input->getShape()));
  return inferPool(loc, adaptor, types);
}

LogicalResult MaxPool2DGradOp::inferReturnTypes(MLIRContext *,
                                                std::optional<Location> loc,
                                                Adaptor adaptor,
                                                SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> input =
      ranked(loc, adaptor.getInput().getType(), "input");
  FailureOr<RankedTensorType> grad =
      ranked(loc, adaptor.getOutBackprop().getType(), "out_backprop");
  if (failed(input) || failed(grad) ||
      failed(sameElement(loc, *input, *grad, "input and out_backprop")))
    return failure();
  FailureOr<Shape> pooled = unwrap(
      loc, pool2dShape(input->getShape(), adaptor.getWindow(),
                       adaptor.getStrides(), isSame(adaptor.getPadding())));
  if (failed(pooled))
    return failure();
  if (!areCompatibleShapes(grad->getShape(), *pooled))
    return emitOptionalError(
        loc, "out_backprop has shape ", formatShape(grad->getShape()),
        " but pooling the input gives ", formatShape(*pooled));
  types.push_back(*input);
  return success();
}

LogicalResult AvgPool2DGradOp::verify() {
  RankedTensorType input = getType(), grad = getOutBackprop().getType();
  if (failed(sameElement(getLoc(), input, grad, "out_backprop and result")))
    return failure();
  FailureOr<Shape> pooled =
      unwrap(getLoc(), pool2dShape(input.getShape(), getWindow(), getStrides(),
                                   isSame(getPadding())));
  if (failed(pooled))
    return failure();
  return expectShape(*this, "out_backprop", grad, *pooled);
}

/// Checks logits of a cross-entropy op and returns the per-example shape.
static FailureOr<Shape> exampleShape(std::optional<Location> loc,
                                     RankedTensorType logits) {
  if (logits.getRank() == 0)
    return emitOptionalError(loc, "logits need a class dimension, got rank 0");
  return Shape(logits.getShape().drop_back());
}

LogicalResult SoftmaxCrossEntropyOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> logits =
      ranked(loc, adaptor.getLogits().getType(), "logits");
  FailureOr<RankedTensorType> labels =
      ranked(loc, adaptor.getLabels().getType(), "labels");
  if (failed(logits) || failed(labels) ||
      failed(sameElement(loc, *logits, *labels, "logits and labels")))
    return failure();
  if (!areCompatibleShapes(logits->getShape(), labels->getShape()))
    return emitOptionalError(
        loc, "labels have shape ", formatShape(labels->getShape()),
        " but logits have shape ", formatShape(logits->getShape()));
  FailureOr<Shape> shape = exampleShape(loc, *logits);
  if (failed(shape))
    return failure();
  types.push_back(tensorOf(*shape, logits->getElementType()));
  return success();
}

LogicalResult SparseSoftmaxCrossEntropyOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> logits =
      ranked(loc, adaptor.getLogits().getType(), "logits");
  FailureOr<RankedTensorType> labels =
      ranked(loc, adaptor.getLabels().getType(), "labels");
  if (failed(logits) || failed(labels))
    return failure();
  FailureOr<Shape> shape = exampleShape(loc, *logits);
  if (failed(shape))
    return failure();
  if (!areCompatibleShapes(labels->getShape(), *shape))
    return emitOptionalError(
        loc, "labels have shape ", formatShape(labels->getShape()),
        " but logits of shape ", formatShape(logits->getShape()),
        " need labels of shape ", formatShape(*shape));
  types.push_back(tensorOf(*shape, logits->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Control flow
//===----------------------------------------------------------------------===//

/// Checks that `types` (what a region passes) match `expected`, one by one.
static LogicalResult checkTypes(Operation *op, StringRef what, TypeRange types,
                                TypeRange expected) {
  if (types.size() != expected.size())
    return op->emitOpError()
           << what << " has " << types.size() << " value(s) but "
           << expected.size() << " are expected";
  for (auto [i, pair] : llvm::enumerate(llvm::zip_equal(types, expected)))
    if (!areCompatibleReturnTypes(std::get<0>(pair), std::get<1>(pair)))
      return op->emitOpError()
             << what << " value #" << i << " has type " << std::get<0>(pair)
             << " but " << std::get<1>(pair) << " is expected";
  return success();
}

/// The least refined of two compatible tensor types (unknown where they
/// differ).
static Type join(Type a, Type b) {
  auto ta = dyn_cast<RankedTensorType>(a), tb = dyn_cast<RankedTensorType>(b);
  if (!ta || !tb || ta.getRank() != tb.getRank() ||
      ta.getElementType() != tb.getElementType())
    return a;
  Shape shape;
  for (auto [x, y] : llvm::zip_equal(ta.getShape(), tb.getShape()))
    shape.push_back(x == y ? x : ShapedType::kDynamic);
  return tensorOf(shape, ta.getElementType());
}

LogicalResult mlir::kiln::inferLoopTypes(TypeRange inits, Region &body,
                                         SmallVectorImpl<Type> &types) {
  llvm::append_range(types, inits);
  if (body.empty() || body.front().empty())
    return success();
  auto yield = dyn_cast<YieldOp>(body.front().getTerminator());
  if (!yield || yield.getValues().size() != inits.size())
    return success(); // the verifier reports the mismatch
  for (auto [type, yielded] : llvm::zip_equal(types, yield.getValues()))
    type = join(type, yielded.getType());
  return success();
}

/// The kiln.yield ending a single-block region, or null (after reporting
/// on `op`) when the region ends otherwise.
static YieldOp terminator(Operation *op, Region &region, StringRef name) {
  Block &block = region.front();
  auto yield = block.empty() ? YieldOp() : dyn_cast<YieldOp>(block.back());
  if (!yield)
    op->emitOpError() << "the " << name << " must end with kiln.yield";
  return yield;
}

// kiln.cond and kiln.while parse their regions straight into `result`: the
// parser drops the uses of every value defined in the state's regions when
// the op fails to parse, so a forward reference from above to a value of a
// region that parsed is let go before that region is freed. (ODS's
// generated parser holds finished regions elsewhere until the end.)

ParseResult CondOp::parse(OpAsmParser &parser, OperationState &result) {
  OpAsmParser::UnresolvedOperand pred;
  SmallVector<Type> types;
  if (parser.parseOperand(pred))
    return failure();
  if (succeeded(parser.parseOptionalArrow()) &&
      (parser.parseLParen() || parser.parseTypeList(types) ||
       parser.parseRParen()))
    return failure();
  Region *thenRegion = result.addRegion();
  Region *elseRegion = result.addRegion();
  if (parser.parseRegion(*thenRegion) || parser.parseKeyword("else") ||
      parser.parseRegion(*elseRegion) ||
      parser.parseOptionalAttrDict(result.attributes))
    return failure();
  result.addTypes(types);
  Type predType = RankedTensorType::get({}, parser.getBuilder().getI1Type());
  return parser.resolveOperand(pred, predType, result.operands);
}

void CondOp::print(OpAsmPrinter &p) {
  p << ' ' << getPred();
  if (!getResults().empty())
    p << " -> (" << getResults().getTypes() << ")";
  p << ' ';
  p.printRegion(getThenRegion());
  p << " else ";
  p.printRegion(getElseRegion());
  p.printOptionalAttrDict((*this)->getAttrs());
}

ParseResult WhileOp::parse(OpAsmParser &parser, OperationState &result) {
  SmallVector<OpAsmParser::UnresolvedOperand> inits;
  SmallVector<Type> initTypes;
  SMLoc initsLoc = parser.getCurrentLocation();
  if (succeeded(parser.parseOptionalLParen())) {
    initsLoc = parser.getCurrentLocation();
    if (parser.parseOperandList(inits) || parser.parseColon() ||
        parser.parseTypeList(initTypes) || parser.parseRParen())
      return failure();
  }
  if (parser.parseOptionalAttrDict(result.attributes))
    return failure();
  Region *condRegion = result.addRegion();
  Region *bodyRegion = result.addRegion();
  if (parser.parseKeyword("cond") || parser.parseRegion(*condRegion) ||
      parser.parseKeyword("do") || parser.parseRegion(*bodyRegion) ||
      parser.resolveOperands(inits, initTypes, initsLoc, result.operands))
    return failure();
  SmallVector<Type> types;
  if (failed(inferLoopTypes(initTypes, *bodyRegion, types)))
    return failure();
  result.addTypes(types);
  return success();
}

void WhileOp::print(OpAsmPrinter &p) {
  if (!getInitArgs().empty())
    p << "(" << getInitArgs() << " : " << getInitArgs().getTypes() << ")";
  p.printOptionalAttrDict((*this)->getAttrs());
  p << " cond ";
  p.printRegion(getCondRegion());
  p << " do ";
  p.printRegion(getBodyRegion());
}

LogicalResult CondOp::verify() {
  YieldOp thenYield = terminator(*this, getThenRegion(), "'then' region");
  YieldOp elseYield = terminator(*this, getElseRegion(), "'else' region");
  if (!thenYield || !elseYield ||
      failed(checkTypes(*this, "the 'then' region's yield",
                        thenYield.getValues().getTypes(), getResultTypes())))
    return failure();
  return checkTypes(*this, "the 'else' region's yield",
                    elseYield.getValues().getTypes(), getResultTypes());
}

LogicalResult WhileOp::verify() {
  TypeRange carried = getInitArgs().getTypes();
  Block &cond = getCondRegion().front();
  Block &body = getBodyRegion().front();
  if (failed(checkTypes(*this, "the 'cond' region's arguments",
                        cond.getArgumentTypes(), carried)) ||
      failed(checkTypes(*this, "the 'do' region's arguments",
                        body.getArgumentTypes(), carried)))
    return failure();
  auto condition =
      cond.empty() ? ConditionOp() : dyn_cast<ConditionOp>(cond.back());
  if (!condition)
    return emitOpError() << "the 'cond' region must end with kiln.condition "
                            "(the predicate, then the region's arguments: "
                            "`kiln.condition(%p) %x : tensor<f32>`)";
  if (failed(checkTypes(*this, "the values kiln.condition passes on",
                        condition.getArgs().getTypes(), carried)))
    return failure();
  YieldOp bodyYield = terminator(*this, getBodyRegion(), "'do' region");
  if (!bodyYield)
    return failure();
  return checkTypes(*this, "the 'do' region's yield",
                    bodyYield.getValues().getTypes(), carried);
}

LogicalResult ForOp::verify() {
  Block &body = getBody().front();
  SmallVector<Type> expected{getLower().getType()};
  llvm::append_range(expected, getInitArgs().getTypes());
  YieldOp yield = terminator(*this, getBody(), "body");
  if (!yield ||
      failed(checkTypes(*this, "the body's arguments (counter, then carried)",
                        body.getArgumentTypes(), expected)) ||
      failed(checkTypes(*this, "the body's yield", yield.getValues().getTypes(),
                        getInitArgs().getTypes())))
    return failure();
  // A constant step must be positive; a computed one is checked at run time.
  DenseIntElementsAttr step;
  if (matchPattern(getStep(), m_Constant(&step)) &&
      (*step.value_begin<APInt>()).getSExtValue() <= 0)
    return emitOpError() << "step must be positive, got "
                         << (*step.value_begin<APInt>()).getSExtValue();
  return success();
}

//===----------------------------------------------------------------------===//
// Control flow: region and loop interfaces
//===----------------------------------------------------------------------===//
//
// The flow of values these ops expose to MLIR's analyses (dataflow, LICM,
// inlining):
//
//   kiln.cond    parent -> then | else;  a branch's kiln.yield -> results
//   kiln.while   inits -> cond args;  kiln.condition's values -> do args
//                or results;  do's kiln.yield -> cond args
//   kiln.for     inits -> body args after the counter (and -> results when
//                the loop runs no iteration);  body's kiln.yield -> body
//                args after the counter, or -> results
//

/// Whether two types may describe the same values (the regions' types may be
/// less refined than the values flowing in).
static bool compatible(Type lhs, Type rhs) {
  return areCompatibleReturnTypes(lhs, rhs);
}

/// The value of a constant rank-0 `i1` predicate, if `attr` is one.
static std::optional<bool> constantPredicate(Attribute attr) {
  auto elements = dyn_cast_if_present<DenseIntElementsAttr>(attr);
  if (!elements || !elements.isSplat() ||
      !elements.getElementType().isInteger(1))
    return std::nullopt;
  return elements.getSplatValue<bool>();
}

void CondOp::getSuccessorRegions(RegionBranchPoint point,
                                 SmallVectorImpl<RegionSuccessor> &regions) {
  // A branch's yield leaves the op: its values are the results.
  if (!point.isParent()) {
    regions.push_back(RegionSuccessor(getOperation(), getResults()));
    return;
  }
  regions.push_back(RegionSuccessor(&getThenRegion()));
  regions.push_back(RegionSuccessor(&getElseRegion()));
}

void CondOp::getEntrySuccessorRegions(
    ArrayRef<Attribute> operands, SmallVectorImpl<RegionSuccessor> &regions) {
  // A constant predicate picks its branch.
  if (std::optional<bool> pred = constantPredicate(operands.front())) {
    regions.push_back(
        RegionSuccessor(*pred ? &getThenRegion() : &getElseRegion()));
    return;
  }
  getSuccessorRegions(RegionBranchPoint::parent(), regions);
}

void CondOp::getRegionInvocationBounds(
    ArrayRef<Attribute> operands, SmallVectorImpl<InvocationBounds> &bounds) {
  if (std::optional<bool> pred = constantPredicate(operands.front())) {
    bounds.emplace_back(*pred ? 1 : 0, *pred ? 1 : 0);
    bounds.emplace_back(*pred ? 0 : 1, *pred ? 0 : 1);
    return;
  }
  bounds.assign(2, InvocationBounds(0, 1));
}

bool CondOp::areTypesCompatible(Type lhs, Type rhs) {
  return compatible(lhs, rhs);
}

OperandRange WhileOp::getEntrySuccessorOperands(RegionSuccessor) {
  return getInitArgs();
}

void WhileOp::getSuccessorRegions(RegionBranchPoint point,
                                  SmallVectorImpl<RegionSuccessor> &regions) {
  Block &cond = getCondRegion().front();
  Block &body = getBodyRegion().front();
  // The inits and each body's yield go to the condition.
  if (point.isParent() ||
      point.getTerminatorPredecessorOrNull()->getParentRegion() ==
          &getBodyRegion()) {
    regions.push_back(RegionSuccessor(&getCondRegion(), cond.getArguments()));
    return;
  }
  // The condition passes its values on to the body or out of the loop.
  regions.push_back(RegionSuccessor(&getBodyRegion(), body.getArguments()));
  regions.push_back(RegionSuccessor(getOperation(), getResults()));
}

bool WhileOp::areTypesCompatible(Type lhs, Type rhs) {
  return compatible(lhs, rhs);
}

SmallVector<Region *> WhileOp::getLoopRegions() {
  return {&getCondRegion(), &getBodyRegion()};
}

OperandRange ForOp::getEntrySuccessorOperands(RegionSuccessor) {
  return getInitArgs();
}

void ForOp::getSuccessorRegions(RegionBranchPoint point,
                                SmallVectorImpl<RegionSuccessor> &regions) {
  // On entry and after each iteration the loop either runs the body (whose
  // first argument, the counter, is not a forwarded value) or ends.
  Block &body = getBody().front();
  regions.push_back(
      RegionSuccessor(&getBody(), body.getArguments().drop_front()));
  regions.push_back(RegionSuccessor(getOperation(), getResults()));
}

bool ForOp::areTypesCompatible(Type lhs, Type rhs) {
  return compatible(lhs, rhs);
}

SmallVector<Region *> ForOp::getLoopRegions() { return {&getBody()}; }

MutableOperandRange YieldOp::getMutableSuccessorOperands(RegionSuccessor) {
  // Whatever the successor (results or the next iteration), all values.
  return getValuesMutable();
}

MutableOperandRange
ConditionOp::getMutableSuccessorOperands(RegionSuccessor) {
  // The predicate decides; the values after it are passed on.
  return getArgsMutable();
}

//===----------------------------------------------------------------------===//
// Variables
//===----------------------------------------------------------------------===//

LogicalResult VariableOp::verify() {
  auto type = dyn_cast<RankedTensorType>(getType());
  if (!type || !type.hasStaticShape() ||
      !isa<FloatType, IntegerType>(type.getElementType()))
    return emitOpError() << "variable @" << getSymName()
                         << " must have a statically shaped tensor type, got "
                         << getType();
  if (auto init = getInitialValueAttr()) {
    if (init.getType() != type)
      return emitOpError() << "initial value of @" << getSymName()
                           << " has type " << init.getType()
                           << ", but the variable is " << type;
  }
  return success();
}

// kiln.variable @name : type (= value)?  -- the value is written without
// its type, which is the variable's.
ParseResult VariableOp::parse(OpAsmParser &parser, OperationState &result) {
  StringAttr name;
  Type type;
  if (parser.parseSymbolName(name, getSymNameAttrName(result.name),
                             result.attributes) ||
      parser.parseColonType(type))
    return failure();
  result.addAttribute(getTypeAttrName(result.name), TypeAttr::get(type));
  if (succeeded(parser.parseOptionalEqual())) {
    Attribute value;
    if (parser.parseAttribute(value, type))
      return failure();
    result.addAttribute(getInitialValueAttrName(result.name), value);
  }
  return parser.parseOptionalAttrDict(result.attributes);
}

void VariableOp::print(OpAsmPrinter &p) {
  p << ' ';
  p.printSymbolName(getSymName());
  p << " : " << getType();
  if (auto value = getInitialValueAttr()) {
    p << " = ";
    p.printAttributeWithoutType(value);
  }
  p.printOptionalAttrDict((*this)->getAttrs(),
                          {getSymNameAttrName(), getTypeAttrName(),
                           getInitialValueAttrName()});
}

/// The kiln.variable that `op` names, checked against `type`.
static FailureOr<VariableOp> lookupVariable(Operation *op,
                                            FlatSymbolRefAttr name, Type type,
                                            SymbolTableCollection &tables,
                                            StringRef verb) {
  auto variable = tables.lookupNearestSymbolFrom<VariableOp>(op, name);
  if (!variable)
    return op->emitOpError() << "refers to " << name
                             << ", which is not a kiln.variable in this module";
  if (type != variable.getType())
    return op->emitOpError() << verb << " " << type << " but " << name
                             << " is " << variable.getType();
  return variable;
}

LogicalResult
ReadVariableOp::verifySymbolUses(SymbolTableCollection &tables) {
  return lookupVariable(*this, getVariableAttr(), getType(), tables,
                        "reads a");
}

LogicalResult
AssignVariableOp::verifySymbolUses(SymbolTableCollection &tables) {
  return lookupVariable(*this, getVariableAttr(), getValue().getType(),
                        tables, "assigns a");
}

//===----------------------------------------------------------------------===//
// Collectives
//===----------------------------------------------------------------------===//

/// The group a collective names: not empty, no NUL (the runtime takes it
/// as a C string).
static LogicalResult verifyGroup(std::optional<Location> loc,
                                 StringRef group) {
  if (group.empty() || group.contains('\0'))
    return emitOptionalError(loc, "a collective's group must be a non-empty "
                                  "name without NUL characters, got \"",
                             group, "\"");
  return success();
}

/// all_reduce and reduce_scatter: a mean of integers has no exact value.
static LogicalResult verifyReduction(std::optional<Location> loc,
                                     CollectiveReduction reduction,
                                     RankedTensorType input) {
  if (reduction == CollectiveReduction::mean &&
      !isa<FloatType>(input.getElementType()))
    return emitOptionalError(loc, "a mean across processes needs "
                                  "floating-point values, not ",
                             input.getElementType(),
                             " (reduce with sum and divide)");
  return success();
}

/// The group of a collective being parsed or built: defaulted attributes
/// are not filled in yet when the parser infers the result type.
static StringRef groupOf(StringAttr group) {
  return group ? group.getValue() : StringRef("world");
}

/// all_reduce and all_reduce_start: the input's type.
template <typename Adaptor>
static LogicalResult inferAllReduce(std::optional<Location> loc,
                                    Adaptor adaptor,
                                    SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> input =
      ranked(loc, adaptor.getInput().getType(), "input");
  if (failed(input) ||
      failed(verifyGroup(loc, groupOf(adaptor.getGroupAttr()))) ||
      failed(verifyReduction(loc, adaptor.getReduction(), *input)))
    return failure();
  types.push_back(*input);
  return success();
}

LogicalResult AllReduceOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  return inferAllReduce(loc, adaptor, types);
}

LogicalResult AllReduceStartOp::inferReturnTypes(MLIRContext *,
                                                 std::optional<Location> loc,
                                                 Adaptor adaptor,
                                                 SmallVectorImpl<Type> &types) {
  return inferAllReduce(loc, adaptor, types);
}

// A started all-reduce's buffer is complete only after its done: the
// pending value has exactly one user, a done after it in its block.
LogicalResult AllReduceStartOp::verify() {
  Value pending = getPending();
  if (!pending.hasOneUse() || !isa<AllReduceDoneOp>(*pending.user_begin()))
    return emitOpError() << "needs exactly one user, its "
                            "kiln.all_reduce_done (the pending value is not "
                            "the result until then)";
  return success();
}

LogicalResult AllReduceDoneOp::verify() {
  auto start = getPending().getDefiningOp<AllReduceStartOp>();
  if (!start)
    return emitOpError() << "waits for a value that no kiln.all_reduce_start "
                            "produced";
  if (start->getBlock() != (*this)->getBlock())
    return emitOpError() << "must be in the block of its "
                            "kiln.all_reduce_start";
  return success();
}

LogicalResult BroadcastFromOp::inferReturnTypes(MLIRContext *,
                                                std::optional<Location> loc,
                                                Adaptor adaptor,
                                                SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> input =
      ranked(loc, adaptor.getInput().getType(), "input");
  if (failed(input) ||
      failed(verifyGroup(loc, groupOf(adaptor.getGroupAttr()))))
    return failure();
  if (IntegerAttr root = adaptor.getRootAttr();
      root && (root.getInt() < 0 || root.getInt() > INT32_MAX))
    return emitOptionalError(loc, "root ", root.getInt(),
                             " is not a process rank");
  types.push_back(*input);
  return success();
}

/// all_gather and reduce_scatter: `part` is one process's share of `whole`
/// along `axis` (whole = group size x part there, equal elsewhere).
static LogicalResult verifyParts(Operation *op, int64_t &axis,
                                 RankedTensorType part,
                                 RankedTensorType whole, StringRef partName,
                                 StringRef wholeName) {
  if (part.getElementType() != whole.getElementType())
    return op->emitOpError() << "the result's element type "
                             << cast<RankedTensorType>(
                                    op->getResult(0).getType())
                                    .getElementType()
                             << " differs from the input's";
  if (part.getRank() != whole.getRank() || part.getRank() == 0)
    return op->emitOpError()
           << "needs an input and a result of the same rank, at least 1; got "
           << op->getOperand(0).getType() << " and "
           << op->getResult(0).getType();
  llvm::Expected<int64_t> normalized = normalizeAxis(axis, part.getRank());
  if (!normalized)
    return op->emitOpError() << llvm::toString(normalized.takeError());
  axis = *normalized;
  for (int64_t d = 0; d < part.getRank(); ++d) {
    int64_t p = part.getDimSize(d), w = whole.getDimSize(d);
    if (ShapedType::isDynamic(p) || ShapedType::isDynamic(w))
      continue;
    if (d != axis && p != w)
      return op->emitOpError()
             << "the input and the result differ in extent " << d
             << " (not the axis, " << axis << "): " << op->getOperand(0).getType()
             << " and " << op->getResult(0).getType();
    if (d == axis && (p == 0 ? w != 0 : w % p != 0))
      return op->emitOpError()
             << "the " << wholeName << "'s extent " << w << " along axis "
             << axis << " is not a multiple of the " << partName << "'s, "
             << p;
  }
  return success();
}

LogicalResult AllGatherOp::verify() {
  if (failed(verifyGroup(getLoc(), getGroup())))
    return failure();
  int64_t axis = getAxis();
  return verifyParts(*this, axis, cast<RankedTensorType>(getInput().getType()),
                     cast<RankedTensorType>(getResult().getType()), "input",
                     "result");
}

LogicalResult ReduceScatterOp::verify() {
  auto input = cast<RankedTensorType>(getInput().getType());
  if (failed(verifyGroup(getLoc(), getGroup())) ||
      failed(verifyReduction(getLoc(), getReduction(), input)))
    return failure();
  int64_t axis = getAxis();
  return verifyParts(*this, axis, cast<RankedTensorType>(getResult().getType()),
                     input, "result", "input");
}

LogicalResult GroupRankOp::verify() { return verifyGroup(getLoc(), getGroup()); }

LogicalResult GroupSizeOp::verify() { return verifyGroup(getLoc(), getGroup()); }

LogicalResult mlir::kiln::verifyOptimizerUpdate(Operation *op,
                                                FlatSymbolRefAttr name,
                                                Value grad, Value learningRate,
                                                SymbolTableCollection &tables) {
  if (failed(lookupVariable(op, name, grad.getType(), tables,
                            "applies a gradient of type")))
    return failure();
  auto lr = cast<RankedTensorType>(learningRate.getType());
  auto element = cast<RankedTensorType>(grad.getType()).getElementType();
  if (lr.getRank() != 0 || lr.getElementType() != element)
    return op->emitOpError() << "learning rate must be a rank-0 tensor of "
                             << element << ", got " << lr;
  return success();
}

LogicalResult
ApplyGradientDescentOp::verifySymbolUses(SymbolTableCollection &tables) {
  return verifyOptimizerUpdate(*this, getVariableAttr(), getGrad(),
                               getLearningRate(), tables);
}

LogicalResult ApplyMomentumOp::verifySymbolUses(SymbolTableCollection &tables) {
  return verifyOptimizerUpdate(*this, getVariableAttr(), getGrad(),
                               getLearningRate(), tables);
}

LogicalResult ApplyAdamOp::verifySymbolUses(SymbolTableCollection &tables) {
  return verifyOptimizerUpdate(*this, getVariableAttr(), getGrad(),
                               getLearningRate(), tables);
}

LogicalResult ApplyNadamOp::verify() {
  auto product = cast<RankedTensorType>(getUProduct().getType());
  if (product.getRank() != 0 ||
      product.getElementType() != getGrad().getType().getElementType())
    return emitOpError("takes u_product as a scalar of the gradient's "
                       "element type, not ")
           << product;
  return success();
}

bool mlir::kiln::isOptimizerUpdate(Operation *op) {
  return isa<ApplyGradientDescentOp, ApplyMomentumOp, ApplyAdamOp,
             ApplyRmspropOp, ApplyAdagradOp, ApplyAdadeltaOp, ApplyAdamaxOp,
             ApplyNadamOp, ApplyFtrlOp, ApplyLionOp>(op);
}

static void collectInto(Operation *func, SymbolTableCollection &tables,
                        VariableAccesses &acc, DenseSet<Operation *> &seen) {
  if (!seen.insert(func).second)
    return;
  func->walk([&](Operation *op) {
    if (auto read = dyn_cast<ReadVariableOp>(op)) {
      acc.read.insert(read.getVariableAttr().getAttr());
    } else if (auto assign = dyn_cast<AssignVariableOp>(op)) {
      acc.assigned.insert(assign.getVariableAttr().getAttr());
    } else if (isOptimizerUpdate(op)) {
      auto name = op->getAttrOfType<FlatSymbolRefAttr>("variable").getAttr();
      acc.read.insert(name);
      acc.assigned.insert(name);
    } else if (auto call = dyn_cast<CallOpInterface>(op)) {
      if (auto sym = dyn_cast_if_present<SymbolRefAttr>(
              call.getCallableForCallee()))
        if (Operation *callee = tables.lookupNearestSymbolFrom(op, sym))
          collectInto(callee, tables, acc, seen);
    }
  });
}

VariableAccesses mlir::kiln::collectVariableAccesses(
    Operation *func, SymbolTableCollection &tables) {
  VariableAccesses acc;
  DenseSet<Operation *> seen;
  collectInto(func, tables, acc, seen);
  return acc;
}

template <typename OpTy>
static FailureOr<SmallVector<VariableOp>>
requestedVariables(OpTy op, SymbolTableCollection &tables) {
  SmallVector<VariableOp> result;
  if (op.getWrtAllVariables()) {
    if (op.getWrtVariablesAttr())
      return op.emitOpError(
          "takes 'wrt_variables' or 'wrt_all_variables', not both");
    auto callee =
        tables.lookupNearestSymbolFrom<func::FuncOp>(op, op.getCalleeAttr());
    if (!callee)
      return failure();
    VariableAccesses acc = collectVariableAccesses(callee, tables);
    auto module = op->template getParentOfType<ModuleOp>();
    for (auto variable : module.template getOps<VariableOp>())
      if (acc.read.contains(variable.getSymNameAttr()) &&
          isa<FloatType>(variable.getTensorType().getElementType()))
        result.push_back(variable);
    return result;
  }
  if (!op.getWrtVariablesAttr())
    return result;
  DenseSet<Attribute> seen;
  for (auto name : op.getWrtVariablesAttr().template getAsRange<FlatSymbolRefAttr>()) {
    auto variable = tables.lookupNearestSymbolFrom<VariableOp>(op, name);
    if (!variable)
      return op.emitOpError() << "wrt_variables names " << name
                              << ", which is not a kiln.variable in this module";
    if (!seen.insert(name).second)
      return op.emitOpError() << "wrt_variables lists " << name << " twice";
    if (!isa<FloatType>(variable.getTensorType().getElementType()))
      return op.emitOpError()
             << "cannot differentiate with respect to " << name << " of type "
             << variable.getType()
             << ": only floating-point variables have gradients";
    result.push_back(variable);
  }
  return result;
}

FailureOr<SmallVector<VariableOp>>
mlir::kiln::getRequestedVariables(Operation *request,
                                  SymbolTableCollection &tables) {
  if (auto op = dyn_cast<GradOp>(request))
    return requestedVariables(op, tables);
  return requestedVariables(cast<ValueAndGradOp>(request), tables);
}

//===----------------------------------------------------------------------===//
// Tapes
//===----------------------------------------------------------------------===//

/// Checks that `tape` is a tape type (a `?` leading dimension, then the
/// row dimensions) and returns its row type.
static FailureOr<RankedTensorType> tapeRowType(Operation *op, Type type) {
  auto tape = cast<RankedTensorType>(type);
  if (tape.getRank() < 1 || !tape.isDynamicDim(0))
    return op->emitOpError()
           << "a tape has a dynamic leading dimension (the rows), like "
              "tensor<?x3xf32>; got "
           << type;
  return RankedTensorType::get(tape.getShape().drop_front(),
                               tape.getElementType());
}

LogicalResult TapeNewOp::verify() {
  FailureOr<RankedTensorType> row = tapeRowType(*this, getType());
  if (failed(row))
    return failure();
  if (getLike() && getLike().getType() != *row)
    return emitOpError() << "takes the open extents of its rows from a "
                         << getLike().getType() << ", not of the row type "
                         << *row;
  if (!getLike() && !row->hasStaticShape())
    return emitOpError() << "rows " << *row
                         << " with open extents need `like`, a tensor of "
                            "the row type to take them from";
  return success();
}

LogicalResult TapeWriteOp::verify() {
  FailureOr<RankedTensorType> row = tapeRowType(*this, getTape().getType());
  if (failed(row))
    return failure();
  if (getValue().getType() != *row)
    return emitOpError() << "writes a " << getValue().getType()
                         << " into a tape whose rows are " << *row;
  return success();
}

LogicalResult TapeReadOp::verify() {
  FailureOr<RankedTensorType> row = tapeRowType(*this, getTape().getType());
  if (failed(row))
    return failure();
  if (getType() != *row)
    return emitOpError() << "result " << getType()
                         << " is not the tape's row type " << *row;
  return success();
}

//===----------------------------------------------------------------------===//
// Gradient requests
//===----------------------------------------------------------------------===//

/// Checks a grad / value_and_grad request against its callee. `values` is
/// the number of leading results that are the callee's results.
template <typename OpTy>
static LogicalResult verifyGradRequest(OpTy op, SymbolTableCollection &tables,
                                       bool withValues) {
  auto callee =
      tables.lookupNearestSymbolFrom<func::FuncOp>(op, op.getCalleeAttr());
  if (!callee)
    return op.emitOpError() << "refers to '" << op.getCallee()
                            << "', which is not a function in this module";
  FunctionType type = callee.getFunctionType();
  if (TypeRange(type.getInputs()) != op.getArgs().getTypes())
    return op.emitOpError()
           << "arguments " << op.getArgs().getTypes() << " do not match @"
           << op.getCallee() << "'s " << type.getInputs();
  SmallVector<Type> expected;
  if (withValues)
    llvm::append_range(expected, type.getResults());
  SmallVector<bool> seen(type.getNumInputs(), false);
  for (int64_t index : op.getWrt()) {
    if (index < 0 || index >= static_cast<int64_t>(type.getNumInputs()))
      return op.emitOpError()
             << "wrt index " << index << " is out of range: @" << op.getCallee()
             << " has " << type.getNumInputs() << " arguments";
    if (seen[index])
      return op.emitOpError() << "wrt lists argument #" << index << " twice";
    seen[index] = true;
    auto argType = cast<RankedTensorType>(type.getInput(index));
    if (!isa<FloatType>(argType.getElementType()))
      return op.emitOpError()
             << "cannot differentiate with respect to argument #" << index
             << " of type " << argType
             << ": only floating-point arguments have gradients";
    expected.push_back(argType);
  }
  FailureOr<SmallVector<VariableOp>> variables =
      getRequestedVariables(op, tables);
  if (failed(variables))
    return failure();
  for (VariableOp variable : *variables)
    expected.push_back(variable.getType());
  if (op.getWrt().empty() && variables->empty())
    return op.emitOpError(
        op.getWrtAllVariables()
            ? Twine("has nothing to differentiate: @") + op.getCallee() +
                  " reads no floating-point variable"
            : Twine("needs at least one argument in 'wrt' or variable in "
                    "'wrt_variables'"));
  if (op.getSeeds().empty()) {
    auto result = type.getNumResults() == 1
                      ? dyn_cast<RankedTensorType>(type.getResult(0))
                      : RankedTensorType();
    if (!result || result.getRank() != 0 ||
        !isa<FloatType>(result.getElementType()))
      return op.emitOpError()
             << "@" << op.getCallee() << " returns " << type.getResults()
             << "; without seeds (one cotangent per result) the gradient is "
                "only defined for a function returning one floating-point "
                "scalar";
  } else if (op.getSeeds().getTypes() != TypeRange(type.getResults())) {
    return op.emitOpError()
           << "seeds " << op.getSeeds().getTypes() << " must match @"
           << op.getCallee() << "'s results " << type.getResults();
  }
  if (TypeRange(expected) != op.getResultTypes())
    return op.emitOpError() << "results " << op.getResultTypes()
                            << " should be " << TypeRange(expected);
  return success();
}

LogicalResult GradOp::verifySymbolUses(SymbolTableCollection &tables) {
  return verifyGradRequest(*this, tables, /*withValues=*/false);
}

LogicalResult ValueAndGradOp::verifySymbolUses(SymbolTableCollection &tables) {
  return verifyGradRequest(*this, tables, /*withValues=*/true);
}

#define GET_OP_CLASSES
#include "kiln/Dialect/Kiln/KilnOps.cpp.inc"

LogicalResult PrintOp::verify() {
  if (getTexts().size() != getInputs().size() + 1)
    return emitOpError() << "needs one more text than inputs (text, input, "
                            "text, ..., text), got "
                         << getTexts().size() << " texts for "
                         << getInputs().size() << " inputs";
  if (getStream() != 1 && getStream() != 2)
    return emitOpError() << "stream is 1 (standard output) or 2 (standard "
                            "error), got "
                         << getStream();
  if (static_cast<int64_t>(getSummarize()) < -1)
    return emitOpError() << "summarize is -1 (everything) or a count, got "
                         << static_cast<int64_t>(getSummarize());
  return success();
}

LogicalResult CustomVjpOp::verifySymbolUses(SymbolTableCollection &tables) {
  auto function = [&](FlatSymbolRefAttr name,
                      StringRef role) -> FailureOr<FunctionType> {
    auto callee = tables.lookupNearestSymbolFrom<func::FuncOp>(*this, name);
    if (!callee) {
      emitOpError() << "refers to '" << name.getValue() << "' as its " << role
                    << ", which is not a function in this module";
      return failure();
    }
    return callee.getFunctionType();
  };
  FailureOr<FunctionType> forward = function(getForwardAttr(), "forward");
  if (failed(forward))
    return failure();
  if (TypeRange(forward->getInputs()) != getInputs().getTypes() ||
      TypeRange(forward->getResults()) != getResults().getTypes())
    return emitOpError() << "@" << getForward() << " has type " << *forward
                         << ", but the op takes " << getInputs().getTypes()
                         << " and gives " << getResults().getTypes();
  FailureOr<FunctionType> backward = function(getBackwardAttr(), "backward");
  if (failed(backward))
    return failure();
  SmallVector<Type> inputs(getInputs().getTypes());
  llvm::append_range(inputs, getResults().getTypes());
  llvm::append_range(inputs, getResults().getTypes());
  if (TypeRange(backward->getInputs()) != TypeRange(inputs) ||
      TypeRange(backward->getResults()) != getInputs().getTypes())
    return emitOpError() << "@" << getBackward() << " has type " << *backward
                         << ", but a backward function takes the inputs, the "
                            "results and their cotangents "
                         << TypeRange(inputs)
                         << " and gives one cotangent per input "
                         << getInputs().getTypes();
  return success();
}

LogicalResult SummaryScalarOp::verify() {
  if (getValue().getType().getRank() != 0 || getStep().getType().getRank() != 0)
    return emitOpError() << "takes a rank-0 value and step, got "
                         << getValue().getType() << " and "
                         << getStep().getType();
  return success();
}

LogicalResult AssertOp::verify() {
  if (getCondition().getType().getRank() != 0)
    return emitOpError() << "takes a rank-0 condition, got "
                         << getCondition().getType();
  return success();
}
