//===- KilnVJP.cpp - Vector-Jacobian products of Kiln ops
//------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// One rule per differentiable op: given the cotangent `g` of the result, the
// cotangents of the operands, built from Kiln ops (so gradients can be
// differentiated again). Conventions:
//  - a broadcasting operand gets the cotangent summed over the broadcast
//    dimensions (`unbroadcast`);
//  - maximum/minimum/relu send a tie to one side (the left operand, or the
//    positive side), reduce_max/reduce_min split it evenly among the tied
//    elements: deterministic, and the sum over ties is the cotangent;
//  - integer and boolean operands get no cotangent (null).
//
//===----------------------------------------------------------------------===//

#include "kiln/Dialect/Kiln/KilnOps.h"
#include "kiln/Dialect/Kiln/ShapeUtils.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::kiln;

namespace {

RankedTensorType tensorType(Value v) {
  return cast<RankedTensorType>(v.getType());
}

/// Small builder for rules; every Kiln op infers its result type.
struct Rule {
  OpBuilder &b;
  Location loc;

  Value constant(RankedTensorType type, double v) {
    return ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(type, b.getFloatAttr(type.getElementType(), v)));
  }
  Value scalar(Value like, double v) {
    return constant(
        RankedTensorType::get({}, tensorType(like).getElementType()), v);
  }
  /// A tensor of `v`'s shape filled with `value` (extents known only at run
  /// time are read from `v`).
  Value filledLike(Value v, double value) {
    RankedTensorType type = tensorType(v);
    if (type.hasStaticShape())
      return constant(type, value);
    return broadcastTo(scalar(v, value), type, v);
  }
  Value zerosLike(Value v) { return filledLike(v, 0.0); }
  Value add(Value x, Value y) { return AddOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return SubOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return MulOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return DivOp::create(b, loc, x, y); }
  Value neg(Value x) { return NegOp::create(b, loc, x); }
  Value cmp(CompareDirection d, Value x, Value y) {
    return CompareOp::create(b, loc, d, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return SelectOp::create(b, loc, c, x, y);
  }
  /// `x` reshaped to `type`; `like` (a value of that shape) gives the
  /// extents when more than one is known only at run time.
  Value reshape(Value x, RankedTensorType type, Value like = {}) {
    return reshapeTo(b, loc, x, type, like);
  }
  Value sum(Value x, ArrayRef<int64_t> axes, bool keepDims) {
    return ReduceSumOp::create(b, loc, x, b.getDenseI64ArrayAttr(axes),
                               b.getBoolAttr(keepDims));
  }
  /// `x` broadcast to `type`; `like` (a value of that shape) gives the
  /// extents known only at run time.
  Value broadcastTo(Value x, RankedTensorType type, Value like) {
    if (x.getType() == type)
      return x;
    return BroadcastToOp::create(b, loc, type, x,
                                 type.hasStaticShape() ? Value() : like);
  }

  /// Sums `g` (of the broadcast result's shape) down to the shape of
  /// `operand` (which gives the extents known only at run time).
  Value unbroadcast(Value g, Value operand) {
    auto type = tensorType(operand);
    auto gType = tensorType(g);
    if (gType == type)
      return g;
    int64_t offset = gType.getRank() - type.getRank();
    SmallVector<int64_t> axes;
    for (int64_t d = 0; d < gType.getRank(); ++d)
      if (d < offset ||
          (type.getDimSize(d - offset) == 1 && gType.getDimSize(d) != 1))
        axes.push_back(d);
    Value reduced = axes.empty() ? g : sum(g, axes, /*keepDims=*/true);
    return reshape(reduced, type, operand);
  }

  /// Brings a reduced value (reduction of `input` over `axes`, with or
  /// without keepdims) back to `input`'s shape.
  Value expandReduced(Value reduced, ArrayRef<int64_t> axes, Value input) {
    RankedTensorType inputType = tensorType(input);
    auto keptType = RankedTensorType::get(
        reduceShape(inputType.getShape(), axes, /*keepDims=*/true),
        tensorType(reduced).getElementType());
    Value kept = reduced;
    bool ambiguous = keptType.getNumDynamicDims() > 1 ||
                     (keptType.getNumDynamicDims() == 1 &&
                      llvm::is_contained(keptType.getShape(), 0));
    if (ambiguous && tensorType(reduced).getRank() < keptType.getRank()) {
      // Open extents a reshape could not recompute (several, or one beside
      // a fixed 0): the 1s go back in with expand_dims (`input` has the
      // reduced extents, not 1s, so it cannot be a reshape's `like`).
      SmallVector<int64_t> sorted(axes);
      llvm::sort(sorted);
      for (int64_t axis : sorted)
        kept = ExpandDimsOp::create(b, loc, kept, b.getI64IntegerAttr(axis));
    } else {
      kept = reshape(kept, keptType, input);
    }
    return broadcastTo(
        kept,
        RankedTensorType::get(inputType.getShape(), keptType.getElementType()),
        input);
  }
};

/// The normalized reduction axes of a reduction op.
template <typename OpTy>
Shape axesOf(OpTy op) {
  return llvm::cantFail(
      normalizeAxes(op.getAxes(), tensorType(op.getInput()).getRank()));
}

/// Fills `grads` with one null per operand.
void noGrads(Operation *op, SmallVectorImpl<Value> &grads) {
  grads.assign(op->getNumOperands(), Value());
}

} // namespace

//===----------------------------------------------------------------------===//
// Elementwise unary
//===----------------------------------------------------------------------===//

/// Defines the VJP of a float unary op as `g * f'(x, y)`, where `y` is the
/// op's result; integer operands get no cotangent.
#define UNARY_VJP(OP, BODY)                                                    \
  LogicalResult OP::buildVJP(OpBuilder &b, ValueRange resultGrads,             \
                             SmallVectorImpl<Value> &grads) {                  \
    noGrads(*this, grads);                                                     \
    Value g = resultGrads[0];                                                  \
    if (!g || !isFloatTensor(getOperand()))                                    \
      return success();                                                        \
    Rule r{b, getLoc()};                                                       \
    Value x = getOperand(), y = getResult();                                   \
    (void)r;                                                                   \
    (void)x;                                                                   \
    (void)y;                                                                   \
    grads[0] = (BODY);                                                         \
    return success();                                                          \
  }

UNARY_VJP(NegOp, r.neg(g))
UNARY_VJP(AbsOp, r.mul(g, SignOp::create(b, r.loc, x)))
UNARY_VJP(ExpOp, r.mul(g, y))
UNARY_VJP(LogOp, r.div(g, x))
UNARY_VJP(Log1pOp, r.div(g, r.add(x, r.scalar(x, 1.0))))
// d expm1(x)/dx = e^x = expm1(x) + 1
UNARY_VJP(Expm1Op, r.mul(g, r.add(y, r.scalar(x, 1.0))))
// d erf(x)/dx = 2/sqrt(pi) * exp(-x^2)
UNARY_VJP(ErfOp, r.mul(g, r.mul(r.scalar(x, 1.1283791670955126),
                                ExpOp::create(b, r.loc, r.neg(r.mul(x, x))))))
// d erfc(x)/dx = -2/sqrt(pi) * exp(-x^2)
UNARY_VJP(ErfcOp, r.mul(g, r.mul(r.scalar(x, -1.1283791670955126),
                                 ExpOp::create(b, r.loc, r.neg(r.mul(x, x))))))
// lgamma' = digamma, digamma' = polygamma(1), polygamma(n)' =
// polygamma(n + 1); erfinv'(x) = sqrt(pi)/2 * exp(erfinv(x)^2).
UNARY_VJP(LgammaOp, r.mul(g, DigammaOp::create(b, r.loc, x)))
UNARY_VJP(DigammaOp, r.mul(g, PolygammaOp::create(b, r.loc, x, 1)))
LogicalResult PolygammaOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                    SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g)
    return success();
  if (getOrder() >= 100)
    return emitOpError() << "the gradient of order " << getOrder()
                         << " would need order " << getOrder() + 1
                         << ", beyond the largest (100)";
  Rule r{b, getLoc()};
  grads[0] = r.mul(g, PolygammaOp::create(b, r.loc, getOperand(), getOrder() + 1));
  return success();
}
UNARY_VJP(ErfinvOp, r.mul(g, r.mul(r.scalar(x, 0.88622692545275801),
                                   ExpOp::create(b, r.loc, r.mul(y, y)))))
UNARY_VJP(SqrtOp, r.div(r.mul(g, r.scalar(x, 0.5)), y))
UNARY_VJP(RsqrtOp, r.mul(r.mul(g, r.scalar(x, -0.5)), r.mul(y, r.mul(y, y))))
UNARY_VJP(TanhOp, r.mul(g, r.sub(r.scalar(x, 1.0), r.mul(y, y))))
UNARY_VJP(SigmoidOp, r.mul(g, r.mul(y, r.sub(r.scalar(x, 1.0), y))))
UNARY_VJP(ReluOp, r.select(r.cmp(CompareDirection::gt, x, r.scalar(x, 0.0)), g,
                           r.zerosLike(g)))
UNARY_VJP(SinOp, r.mul(g, CosOp::create(b, r.loc, x)))
UNARY_VJP(CosOp, r.neg(r.mul(g, SinOp::create(b, r.loc, x))))
// tan' = 1 + tan^2; asin' = 1 / sqrt(1 - x^2) = -acos'; atan' = 1 / (1 +
// x^2); sinh' = cosh, cosh' = sinh; asinh' = 1 / sqrt(x^2 + 1); acosh' =
// 1 / sqrt((x - 1)(x + 1)); atanh' = 1 / (1 - x^2).
UNARY_VJP(TanOp, r.mul(g, r.add(r.scalar(x, 1.0), r.mul(y, y))))
UNARY_VJP(AsinOp, r.div(g, SqrtOp::create(b, r.loc,
                                          r.sub(r.scalar(x, 1.0), r.mul(x, x)))))
UNARY_VJP(AcosOp, r.neg(r.div(g, SqrtOp::create(
                                     b, r.loc, r.sub(r.scalar(x, 1.0), r.mul(x, x))))))
UNARY_VJP(AtanOp, r.div(g, r.add(r.scalar(x, 1.0), r.mul(x, x))))
UNARY_VJP(SinhOp, r.mul(g, CoshOp::create(b, r.loc, x)))
UNARY_VJP(CoshOp, r.mul(g, SinhOp::create(b, r.loc, x)))
UNARY_VJP(AsinhOp, r.div(g, SqrtOp::create(b, r.loc,
                                           r.add(r.mul(x, x), r.scalar(x, 1.0)))))
UNARY_VJP(AcoshOp,
          r.div(g, SqrtOp::create(b, r.loc,
                                  r.mul(r.sub(x, r.scalar(x, 1.0)),
                                        r.add(x, r.scalar(x, 1.0))))))
UNARY_VJP(AtanhOp, r.div(g, r.sub(r.scalar(x, 1.0), r.mul(x, x))))
UNARY_VJP(SignOp, r.zerosLike(g))
UNARY_VJP(FloorOp, r.zerosLike(g))
UNARY_VJP(StopGradientOp, r.zerosLike(g))
UNARY_VJP(CeilOp, r.zerosLike(g))
UNARY_VJP(SquareOp, r.mul(g, r.mul(x, r.scalar(x, 2.0))))
UNARY_VJP(ReciprocalOp, r.neg(r.mul(g, r.mul(y, y))))
UNARY_VJP(LogicalNotOp, Value())

#undef UNARY_VJP

// The cotangent goes to the computation the known value stands for.
LogicalResult KnownValueOp::buildVJP(OpBuilder &, ValueRange resultGrads,
                                     SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (isFloatTensor(getComputed()))
    grads[0] = resultGrads[0];
  return success();
}

//===----------------------------------------------------------------------===//
// Elementwise binary
//===----------------------------------------------------------------------===//

/// Defines the VJP of a float binary op from the full-shape cotangents
/// `DX` and `DY`, which are then summed over broadcast dimensions.
#define BINARY_VJP(OP, DX, DY)                                                 \
  LogicalResult OP::buildVJP(OpBuilder &b, ValueRange resultGrads,             \
                             SmallVectorImpl<Value> &grads) {                  \
    noGrads(*this, grads);                                                     \
    Value g = resultGrads[0];                                                  \
    if (!g || !isFloatTensor(getLhs()))                                        \
      return success();                                                        \
    Rule r{b, getLoc()};                                                       \
    Value x = getLhs(), y = getRhs(), z = getResult();                         \
    (void)z;                                                                   \
    grads[0] = r.unbroadcast((DX), x);                                         \
    grads[1] = r.unbroadcast((DY), y);                                         \
    return success();                                                          \
  }

BINARY_VJP(AddOp, g, g)
BINARY_VJP(SubOp, g, r.neg(g))
BINARY_VJP(MulOp, r.mul(g, y), r.mul(g, x))
BINARY_VJP(DivOp, r.div(g, y), r.neg(r.div(r.mul(g, z), y)))
// rem = x - trunc(x / y) y: d/dx = 1, d/dy = -trunc(x / y) = (rem - x) / y.
BINARY_VJP(RemOp, g, r.div(r.mul(g, r.sub(z, x)), y))
// d/dx x^y = y x^(y-1); d/dy x^y = x^y log(x), taken as 0 where x <= 0.
BINARY_VJP(
    PowOp,
    r.mul(g, r.mul(y, PowOp::create(b, r.loc, x, r.sub(y, r.scalar(y, 1.0))))),
    r.mul(g, r.mul(z, r.select(r.cmp(CompareDirection::gt, x, r.scalar(x, 0.0)),
                               LogOp::create(b, r.loc, x), r.zerosLike(x)))))
// atan2(x, y) (x the y coordinate): d/dx = y / (x^2 + y^2), d/dy = -x /
// (x^2 + y^2).
BINARY_VJP(Atan2Op, r.div(r.mul(g, y), r.add(r.mul(x, x), r.mul(y, y))),
           r.neg(r.div(r.mul(g, x), r.add(r.mul(x, x), r.mul(y, y)))))
// Ties go to the left operand.
BINARY_VJP(MaximumOp,
           r.select(r.cmp(CompareDirection::ge, x, y), g, r.zerosLike(g)),
           r.select(r.cmp(CompareDirection::ge, x, y), r.zerosLike(g), g))
BINARY_VJP(MinimumOp,
           r.select(r.cmp(CompareDirection::le, x, y), g, r.zerosLike(g)),
           r.select(r.cmp(CompareDirection::le, x, y), r.zerosLike(g), g))

#undef BINARY_VJP

LogicalResult LogicalAndOp::buildVJP(OpBuilder &, ValueRange,
                                     SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  return success();
}

// Integer results carry no gradient.
#define NO_VJP(OP)                                                             \
  LogicalResult OP::buildVJP(OpBuilder &, ValueRange,                          \
                             SmallVectorImpl<Value> &grads) {                  \
    noGrads(*this, grads);                                                     \
    return success();                                                          \
  }
NO_VJP(BitcastOp)
NO_VJP(BitwiseNotOp)
NO_VJP(BitwiseAndOp)
NO_VJP(BitwiseOrOp)
NO_VJP(BitwiseXorOp)
NO_VJP(ShiftLeftOp)
NO_VJP(ShiftRightLogicalOp)
NO_VJP(ShiftRightArithmeticOp)
#undef NO_VJP

LogicalResult LogicalOrOp::buildVJP(OpBuilder &, ValueRange,
                                    SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  return success();
}

LogicalResult SelectOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                 SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g || !isFloatTensor(getOnTrue()))
    return success();
  Rule r{b, getLoc()};
  Value zero = r.zerosLike(g);
  grads[1] = r.unbroadcast(r.select(getCond(), g, zero), getOnTrue());
  grads[2] =
      r.unbroadcast(r.select(getCond(), zero, g), getOnFalse());
  return success();
}

LogicalResult CastOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                               SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g || !isFloatTensor(getInput()) || !isFloatTensor(getResult()))
    return success();
  grads[0] = CastOp::create(b, getLoc(), getInput().getType(), g);
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

LogicalResult ReduceSumOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                    SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (!resultGrads[0] || !isFloatTensor(getInput()))
    return success();
  Rule r{b, getLoc()};
  grads[0] = r.expandReduced(resultGrads[0], axesOf(*this), getInput());
  return success();
}

LogicalResult ReduceMeanOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                     SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (!resultGrads[0])
    return success();
  Rule r{b, getLoc()};
  Value input = getInput();
  RankedTensorType type = tensorType(input);
  Shape axes = axesOf(*this);
  Value spread = r.expandReduced(resultGrads[0], axes, input);
  int64_t count = 1;
  bool dynamic = false;
  for (int64_t a : axes) {
    dynamic |= type.isDynamicDim(a);
    count *= type.getDimSize(a);
  }
  if (dynamic) {
    // The count is known at run time only: that of ones over the axes.
    Value ones = r.filledLike(input, 1.0);
    grads[0] = r.div(spread, r.expandReduced(r.sum(ones, axes, false), axes,
                                             input));
    return success();
  }
  grads[0] = r.div(spread, r.scalar(spread, static_cast<double>(count)));
  return success();
}

/// reduce_max / reduce_min: the cotangent goes to the elements equal to the
/// result, split evenly among ties.
template <typename OpTy>
static LogicalResult extremumVJP(OpTy op, OpBuilder &b, ValueRange resultGrads,
                                 SmallVectorImpl<Value> &grads) {
  noGrads(op, grads);
  if (!resultGrads[0] || !isFloatTensor(op.getInput()))
    return success();
  Rule r{b, op.getLoc()};
  Value input = op.getInput();
  Shape axes = axesOf(op);
  Value y = r.expandReduced(op.getResult(), axes, input);
  Value hit = CastOp::create(b, r.loc, tensorType(input),
                             r.cmp(CompareDirection::eq, input, y));
  Value ties = r.expandReduced(r.sum(hit, axes, false), axes, input);
  Value g = r.expandReduced(resultGrads[0], axes, input);
  grads[0] = r.div(r.mul(g, hit), ties);
  return success();
}

LogicalResult ReduceMaxOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                    SmallVectorImpl<Value> &grads) {
  return extremumVJP(*this, b, resultGrads, grads);
}

LogicalResult ReduceMinOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                    SmallVectorImpl<Value> &grads) {
  return extremumVJP(*this, b, resultGrads, grads);
}

// d prod / d x_i = product of the other elements: prod / x_i where x_i != 0;
// at a zero, the product of the nonzero elements if it is the only zero,
// else 0.
LogicalResult ReduceProdOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                     SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (!resultGrads[0] || !isFloatTensor(getInput()))
    return success();
  Rule r{b, getLoc()};
  Value x = getInput();
  Shape axes = axesOf(*this);
  Value zero = r.zerosLike(x), one = r.filledLike(x, 1.0);
  Value isZero = r.cmp(CompareDirection::eq, x, zero);
  Value nonZero = r.select(isZero, one, x);
  Value prodNonZero = r.expandReduced(
      ReduceProdOp::create(b, r.loc, nonZero, b.getDenseI64ArrayAttr(axes),
                           b.getBoolAttr(false)),
      axes, x);
  Value zeros = r.expandReduced(
      r.sum(CastOp::create(b, r.loc, tensorType(x), isZero), axes, false), axes, x);
  Value onlyZero = r.cmp(CompareDirection::eq, zeros, one);
  Value prod = r.expandReduced(getResult(), axes, x);
  Value partial = r.select(isZero, r.select(onlyZero, prodNonZero, zero),
                           r.div(prod, nonZero));
  grads[0] = r.mul(r.expandReduced(resultGrads[0], axes, x), partial);
  return success();
}

//===----------------------------------------------------------------------===//
// Shape manipulation
//===----------------------------------------------------------------------===//

/// Ops that only move elements: the cotangent takes the input's shape back.
#define RESHAPE_VJP(OP)                                                        \
  LogicalResult OP::buildVJP(OpBuilder &b, ValueRange resultGrads,             \
                             SmallVectorImpl<Value> &grads) {                  \
    noGrads(*this, grads);                                                     \
    if (!resultGrads[0] || !isFloatTensor(getInput()))                         \
      return success();                                                        \
    Rule r{b, getLoc()};                                                       \
    grads[0] = r.reshape(resultGrads[0], tensorType(getInput()), getInput());  \
    return success();                                                          \
  }

RESHAPE_VJP(ReshapeOp)
RESHAPE_VJP(ExpandDimsOp)
RESHAPE_VJP(SqueezeOp)

#undef RESHAPE_VJP

LogicalResult TransposeOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                    SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (!resultGrads[0] || !isFloatTensor(getInput()))
    return success();
  ArrayRef<int64_t> perm = getPermutation();
  SmallVector<int64_t> inverse(perm.size());
  for (auto [i, p] : llvm::enumerate(perm))
    inverse[p] = i;
  grads[0] = TransposeOp::create(b, getLoc(), resultGrads[0],
                                 b.getDenseI64ArrayAttr(inverse));
  return success();
}

LogicalResult BroadcastToOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                      SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (!resultGrads[0] || !isFloatTensor(getInput()))
    return success();
  Rule r{b, getLoc()};
  grads[0] = r.unbroadcast(resultGrads[0], getInput());
  return success();
}

LogicalResult ConcatOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                 SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g || !isFloatTensor(getResult()))
    return success();
  RankedTensorType type = getType();
  int64_t axis = llvm::cantFail(
      normalizeAxis(static_cast<int64_t>(getAxis()), type.getRank()));
  // Along an open axis the pieces' offsets are known only at run time:
  // kiln.split cuts them as long as the inputs.
  if (llvm::any_of(getInputs(), [&](Value input) {
        return tensorType(input).isDynamicDim(axis);
      })) {
    auto split = SplitOp::create(b, getLoc(), g, getInputs(), getAxis());
    for (auto [i, input] : llvm::enumerate(getInputs()))
      if (isFloatTensor(input))
        grads[i] = split.getResult(i);
    return success();
  }
  // Static offsets along the axis: slices (other dimensions whole).
  int64_t offset = 0;
  for (auto [i, input] : llvm::enumerate(getInputs())) {
    RankedTensorType inputType = tensorType(input);
    SmallVector<int64_t> start(type.getRank(), 0), limit;
    for (int64_t d = 0; d < type.getRank(); ++d)
      limit.push_back(type.isDynamicDim(d) ? -1 : type.getDimSize(d));
    SmallVector<int64_t> stride(type.getRank(), 1);
    start[axis] = offset;
    limit[axis] = offset + inputType.getDimSize(axis);
    offset = limit[axis];
    grads[i] = SliceOp::create(b, getLoc(), g, b.getDenseI64ArrayAttr(start),
                               b.getDenseI64ArrayAttr(limit),
                               b.getDenseI64ArrayAttr(stride));
  }
  return success();
}

// The pieces' cotangents joined back; a piece without one is zeros. The
// `like` operands only give extents.
LogicalResult SplitOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (!isFloatTensor(getInput()) ||
      llvm::all_of(resultGrads, [](Value g) { return !g; }))
    return success();
  Rule r{b, getLoc()};
  SmallVector<Value> pieces;
  for (auto [g, result] : llvm::zip(resultGrads, getResults()))
    pieces.push_back(g ? g : r.zerosLike(result));
  grads[0] = ConcatOp::create(b, getLoc(), pieces, getAxis());
  return success();
}

// A slice's cotangent puts each element back at its position and zeros
// elsewhere. A strided dimension first spreads the cotangent to every
// stride-th position: reshape [k] to [k, 1], pad to [k, stride], reshape to
// [k * stride] and keep what fits in the input. Then one kiln.pad puts
// zeros before `start` and after the last position, in every dimension.
// Only copies: no index tables (whose size would be the input's extent).
LogicalResult SliceOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g || !isFloatTensor(getInput()))
    return success();
  Rule r{b, getLoc()};
  // Nothing taken: zeros (spreading an empty cotangent beside an open
  // extent would reshape a tensor without elements to an open one).
  if (llvm::is_contained(getType().getShape(), 0)) {
    grads[0] = r.zerosLike(getInput());
    return success();
  }
  RankedTensorType input = tensorType(getInput());
  Type element = input.getElementType();
  int64_t rank = input.getRank();
  ArrayRef<int64_t> start = getStart(), stride = getStride();
  SmallVector<int64_t> low(rank, 0), high(rank, 0);
  for (int64_t d = 0; d < rank; ++d) {
    if (getLimit()[d] == -1)
      continue; // the whole dimension (perhaps of open extent): no padding
    int64_t size = input.getDimSize(d);
    SmallVector<int64_t> shape(tensorType(g).getShape());
    int64_t taken = shape[d];
    if (stride[d] != 1) {
      SmallVector<int64_t> expanded(shape);
      expanded.insert(expanded.begin() + d + 1, 1);
      g = r.reshape(g, RankedTensorType::get(expanded, element));
      SmallVector<int64_t> none(rank + 1, 0), gaps(rank + 1, 0);
      gaps[d + 1] = stride[d] - 1;
      g = PadOp::create(b, r.loc, g, b.getDenseI64ArrayAttr(none),
                        b.getDenseI64ArrayAttr(gaps), b.getF64FloatAttr(0.0));
      shape[d] = taken * stride[d];
      g = r.reshape(g, RankedTensorType::get(shape, element));
      taken = std::min(shape[d], size - start[d]);
      if (taken < shape[d]) {
        // (Other dimensions whole: -1 where their extent is open.)
        SmallVector<int64_t> limit;
        for (int64_t e : shape)
          limit.push_back(ShapedType::isDynamic(e) ? -1 : e);
        limit[d] = taken;
        g = SliceOp::create(b, r.loc, g,
                            b.getDenseI64ArrayAttr(SmallVector<int64_t>(rank, 0)),
                            b.getDenseI64ArrayAttr(limit),
                            b.getDenseI64ArrayAttr(SmallVector<int64_t>(rank, 1)));
      }
    }
    low[d] = start[d];
    high[d] = size - start[d] - taken;
  }
  if (llvm::any_of(low, [](int64_t v) { return v != 0; }) ||
      llvm::any_of(high, [](int64_t v) { return v != 0; }))
    g = PadOp::create(b, r.loc, g, b.getDenseI64ArrayAttr(low),
                      b.getDenseI64ArrayAttr(high), b.getF64FloatAttr(0.0));
  grads[0] = g;
  return success();
}

LogicalResult PadOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                              SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (!resultGrads[0] || !isFloatTensor(getInput()))
    return success();
  RankedTensorType input = tensorType(getInput());
  SmallVector<int64_t> limit;
  for (int64_t d = 0; d < input.getRank(); ++d)
    limit.push_back(input.isDynamicDim(d) ? -1 // (not padded: whole)
                                          : getLow()[d] + input.getDimSize(d));
  grads[0] = SliceOp::create(
      b, getLoc(), resultGrads[0], b.getDenseI64ArrayAttr(getLow()),
      b.getDenseI64ArrayAttr(limit),
      b.getDenseI64ArrayAttr(SmallVector<int64_t>(input.getRank(), 1)));
  return success();
}

LogicalResult GatherOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                 SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (!resultGrads[0] || !isFloatTensor(getParams()))
    return success();
  Rule r{b, getLoc()};
  grads[0] = ScatterAddOp::create(b, getLoc(), r.zerosLike(getParams()),
                                  getIndices(), resultGrads[0], getAxisAttr());
  return success();
}

LogicalResult ScatterAddOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                     SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g || !isFloatTensor(getBase()))
    return success();
  grads[0] = g;
  // Out-of-range indices were dropped; gather reads 0 for them: consistent.
  grads[2] = GatherOp::create(b, getLoc(), g, getIndices(), getAxisAttr());
  return success();
}

// Every base element and every in-range update is a factor of one result
// position p (the base's own position, indices[i] for an update); with
// g, y and the other per-position values read at p:
//   max/min: dx = x == y ? g / ties : 0, ties counting the factors equal to
//            y (a select, so a NaN result or an infinite g reaches no
//            factor that is not the extremum, as in TensorFlow);
//   prod:    dx = g * y / x when p has no zero factor, g times the product of
//            p's other factors for the one zero of a position with one zero,
//            0 when p has two zeros or more.
// Out-of-range updates read 0 through the gathers, so they get 0.
LogicalResult ScatterReduceOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                        SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g || !isFloatTensor(getBase()))
    return success();
  Rule r{b, getLoc()};
  Value base = getBase(), updates = getUpdates(), indices = getIndices();
  IntegerAttr axis = getAxisAttr();
  auto atUpdates = [&](Value perPosition) -> Value {
    return GatherOp::create(b, r.loc, perPosition, indices, axis);
  };
  auto asFloat = [&](Value predicate, Value like) -> Value {
    return CastOp::create(b, r.loc, tensorType(like), predicate);
  };
  // Per position: how many of its factors satisfy `test` (base, updates).
  auto count = [&](Value inBase, Value inUpdates) -> Value {
    return ScatterAddOp::create(b, r.loc, asFloat(inBase, base), indices,
                                asFloat(inUpdates, updates), axis);
  };
  Value y = getResult();
  if (getReduction() != ScatterReduction::prod) {
    Value hitBase = r.cmp(CompareDirection::eq, base, y);
    Value hitUpdates = r.cmp(CompareDirection::eq, updates, atUpdates(y));
    Value share = r.div(g, count(hitBase, hitUpdates));
    grads[0] = r.select(hitBase, share, r.zerosLike(base));
    grads[2] = r.select(hitUpdates, atUpdates(share), r.zerosLike(updates));
    return success();
  }
  Value zeroBase = r.cmp(CompareDirection::eq, base, r.zerosLike(base));
  Value zeroUpdates =
      r.cmp(CompareDirection::eq, updates, r.zerosLike(updates));
  Value oneBase = r.filledLike(base, 1.0), oneUpdates = r.filledLike(updates, 1.0);
  Value safeBase = r.select(zeroBase, oneBase, base);
  Value safeUpdates = r.select(zeroUpdates, oneUpdates, updates);
  Value zeros = count(zeroBase, zeroUpdates);
  Value othersProduct =
      ScatterReduceOp::create(b, r.loc, ScatterReduction::prod, safeBase,
                              indices, safeUpdates, getAxis());
  auto factor = [&](Value x, Value isZero, Value safe, Value zerosAt,
                    Value yAt, Value othersAt) -> Value {
    Value none = r.cmp(CompareDirection::eq, zerosAt, r.zerosLike(zerosAt));
    Value one = r.cmp(CompareDirection::eq, zerosAt, r.filledLike(zerosAt, 1.0));
    Value zero = r.zerosLike(x);
    return r.select(none, r.div(yAt, safe),
                    r.select(one, r.select(isZero, othersAt, zero), zero));
  };
  grads[0] = r.mul(g, factor(base, zeroBase, safeBase, zeros, y, othersProduct));
  grads[2] = r.mul(atUpdates(g),
                   factor(updates, zeroUpdates, safeUpdates, atUpdates(zeros),
                          atUpdates(y), atUpdates(othersProduct)));
  return success();
}

// The values' cotangent goes back to where each value came from:
//   dinput[r, indices[r, j]] = g[r, j]
// as one scatter into the flattened input (row r's indices offset by r * n).
// The indices have no cotangent.
LogicalResult SortOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                               SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g || !isFloatTensor(getInput()))
    return success();
  RankedTensorType type = tensorType(getInput());
  if (!type.hasStaticShape())
    return emitOpError("differentiating kiln.sort needs static extents, "
                       "not ")
           << type;
  Rule r{b, getLoc()};
  int64_t n = type.getShape().back();
  int64_t count = type.getNumElements();
  int64_t rows = n ? count / n : 0;
  auto i32 = b.getI32Type();
  auto rowsType = RankedTensorType::get({rows, n}, i32);
  auto flatType = RankedTensorType::get({count}, i32);
  Value row =
      IotaOp::create(b, r.loc, rowsType, Value(), b.getI64IntegerAttr(0));
  Value offset = r.mul(
      row, ConstantOp::create(b, r.loc,
                              DenseElementsAttr::get(
                                  rowsType, b.getIntegerAttr(i32, n))));
  Value flat = r.reshape(
      r.add(r.reshape(getIndices(), rowsType), offset), flatType);
  auto valuesType = RankedTensorType::get({count}, type.getElementType());
  Value scattered =
      ScatterAddOp::create(b, r.loc, r.constant(valuesType, 0.0), flat,
                           r.reshape(g, valuesType), b.getI64IntegerAttr(0));
  grads[0] = r.reshape(scattered, type);
  return success();
}

//===----------------------------------------------------------------------===//
// Collectives
//===----------------------------------------------------------------------===//
//
// Each process holds its own x_p and its own cotangent g_p of the result;
// the gradient of sum_p <g_p, y_p> with respect to x_q needs the cotangents
// of every process, so each rule is itself a collective of the same group.

namespace {

Value allReduce(Rule &r, CollectiveReduction reduction, Value x,
                StringAttr group) {
  return AllReduceOp::create(r.b, r.loc, reduction, x, group);
}

/// 1 where `x` equals the extremum `y` (of `x`'s shape), else 0, as `x`'s
/// element type.
Value holdsExtremum(Rule &r, Value x, Value y) {
  return CastOp::create(r.b, r.loc, tensorType(x),
                        r.cmp(CompareDirection::eq, x, y));
}

/// A scalar (a group's size, a predicate) as a scalar of `like`'s element
/// type.
Value scalarAs(Rule &r, Value scalar, Value like) {
  return CastOp::create(
      r.b, r.loc,
      RankedTensorType::get({}, tensorType(like).getElementType()), scalar);
}

bool isExtremum(CollectiveReduction reduction) {
  return reduction == CollectiveReduction::max ||
         reduction == CollectiveReduction::min;
}

} // namespace

// sum: dx_q = sum_p g_p; mean: that over the group's size, which is the
// mean of the g_p; max/min: sum_p g_p to the processes holding the extremum,
// split evenly among ties (as reduce_max does among elements).
LogicalResult AllReduceOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                    SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g || !isFloatTensor(getInput()))
    return success();
  Rule r{b, getLoc()};
  if (!isExtremum(getReduction())) {
    grads[0] = allReduce(r, getReduction(), g, getGroupAttr());
    return success();
  }
  Value holds = holdsExtremum(r, getInput(), getResult());
  Value ties = allReduce(r, CollectiveReduction::sum, holds, getGroupAttr());
  Value total = allReduce(r, CollectiveReduction::sum, g, getGroupAttr());
  grads[0] = r.div(r.mul(total, holds), ties);
  return success();
}

// dx_q = sum_p g_p on the root, 0 elsewhere.
LogicalResult BroadcastFromOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                        SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g || !isFloatTensor(getInput()))
    return success();
  Rule r{b, getLoc()};
  Value rank = GroupRankOp::create(b, r.loc, getGroupAttr());
  Value root = ConstantOp::create(
      b, r.loc,
      DenseElementsAttr::get(RankedTensorType::get({}, b.getI64Type()),
                             b.getI64IntegerAttr(getRoot())));
  Value isRoot = scalarAs(r, r.cmp(CompareDirection::eq, rank, root), g);
  grads[0] = r.mul(allReduce(r, CollectiveReduction::sum, g, getGroupAttr()),
                   isRoot);
  return success();
}

// Process q's part of every g_p, summed: a reduce_scatter of the cotangents.
LogicalResult AllGatherOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                    SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g || !isFloatTensor(getInput()))
    return success();
  grads[0] = ReduceScatterOp::create(b, getLoc(), getInput().getType(),
                                     CollectiveReduction::sum, g, getAxis(),
                                     getGroup());
  return success();
}

// sum: every process's part of the cotangent, gathered; mean: that over the
// group's size; max/min: the gathered cotangent to the processes holding
// the extremum, split evenly among ties.
LogicalResult ReduceScatterOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                        SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g || !isFloatTensor(getInput()))
    return success();
  Rule r{b, getLoc()};
  Type whole = getInput().getType();
  auto gather = [&](Value part) -> Value {
    return AllGatherOp::create(b, r.loc, whole, part, getAxis(), getGroup());
  };
  Value gathered = gather(g);
  switch (getReduction()) {
  case CollectiveReduction::sum:
    grads[0] = gathered;
    break;
  case CollectiveReduction::mean:
    grads[0] = r.div(gathered,
                     scalarAs(r, GroupSizeOp::create(b, r.loc, getGroupAttr()),
                              g));
    break;
  case CollectiveReduction::max:
  case CollectiveReduction::min: {
    Value holds = holdsExtremum(r, getInput(), gather(getResult()));
    Value ties = allReduce(r, CollectiveReduction::sum, holds, getGroupAttr());
    grads[0] = r.div(r.mul(gathered, holds), ties);
    break;
  }
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

// C = op(A) op(B) with op = identity or transpose:
//   tl tr | dA                 | dB
//   -  -  | dC B^T             | A^T dC
//   -  T  | dC B               | dC^T A
//   T  -  | B dC^T             | A dC
//   T  T  | B^T dC^T           | dC^T A^T
LogicalResult MatmulOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                 SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g || !isFloatTensor(getLhs()))
    return success();
  Location loc = getLoc();
  Value a = getLhs(), bb = getRhs();
  bool tl = getTransposeLhs(), tr = getTransposeRhs();
  auto mm = [&](Value x, Value y, bool tx, bool ty) -> Value {
    return MatmulOp::create(b, loc, x, y, b.getBoolAttr(tx), b.getBoolAttr(ty));
  };
  if (!tl && !tr) {
    grads[0] = mm(g, bb, false, true);
    grads[1] = mm(a, g, true, false);
  } else if (!tl && tr) {
    grads[0] = mm(g, bb, false, false);
    grads[1] = mm(g, a, true, false);
  } else if (tl && !tr) {
    grads[0] = mm(bb, g, false, true);
    grads[1] = mm(a, g, false, false);
  } else {
    grads[0] = mm(bb, g, true, true);
    grads[1] = mm(g, a, true, true);
  }
  return success();
}

/// Swaps the last two dimensions.
static Value transposeLast2(OpBuilder &b, Location loc, Value x) {
  int64_t rank = tensorType(x).getRank();
  SmallVector<int64_t> perm = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  std::swap(perm[rank - 1], perm[rank - 2]);
  return TransposeOp::create(b, loc, x, b.getDenseI64ArrayAttr(perm));
}

LogicalResult BatchMatmulOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                      SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g || !isFloatTensor(getLhs()))
    return success();
  Rule r{b, getLoc()};
  Value da =
      BatchMatmulOp::create(b, r.loc, g, transposeLast2(b, r.loc, getRhs()));
  Value db =
      BatchMatmulOp::create(b, r.loc, transposeLast2(b, r.loc, getLhs()), g);
  grads[0] = r.unbroadcast(da, getLhs());
  grads[1] = r.unbroadcast(db, getRhs());
  return success();
}

//===----------------------------------------------------------------------===//
// Neural-network ops
//===----------------------------------------------------------------------===//

LogicalResult Conv2DOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                 SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g)
    return success();
  grads[0] = Conv2DBackpropInputOp::create(b, getLoc(), getInput().getType(),
                                           getFilter(), g, getDilationsAttr(),
                                           getStridesAttr(), getPaddingAttr());
  grads[1] = Conv2DBackpropFilterOp::create(b, getLoc(), getFilter().getType(),
                                            getInput(), g, getDilationsAttr(),
                                            getStridesAttr(), getPaddingAttr());
  return success();
}

// dx = B(w, dy) is bilinear; <ddx, B(w, dy)> = <conv(ddx, w), dy>, so
// d(dy) = conv(ddx, w) and d(w) = backprop_filter(ddx, dy).
LogicalResult Conv2DBackpropInputOp::buildVJP(OpBuilder &b,
                                              ValueRange resultGrads,
                                              SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g)
    return success();
  grads[0] = Conv2DBackpropFilterOp::create(
      b, getLoc(), getFilter().getType(), g, getOutBackprop(),
      getDilationsAttr(), getStridesAttr(), getPaddingAttr());
  grads[1] = Conv2DOp::create(b, getLoc(), g, getFilter(), getDilationsAttr(),
                              getStridesAttr(), getPaddingAttr());
  return success();
}

// dw = F(x, dy); <ddw, F(x, dy)> = <conv(x, ddw), dy>, so
// d(dy) = conv(x, ddw) and d(x) = backprop_input(ddw, dy).
LogicalResult Conv2DBackpropFilterOp::buildVJP(OpBuilder &b,
                                               ValueRange resultGrads,
                                               SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g)
    return success();
  grads[0] = Conv2DBackpropInputOp::create(b, getLoc(), getInput().getType(), g,
                                           getOutBackprop(), getDilationsAttr(),
                                           getStridesAttr(), getPaddingAttr());
  grads[1] = Conv2DOp::create(b, getLoc(), getInput(), g, getDilationsAttr(),
                              getStridesAttr(), getPaddingAttr());
  return success();
}

LogicalResult MaxPool2DOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                    SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (!resultGrads[0])
    return success();
  grads[0] = MaxPool2DGradOp::create(b, getLoc(), getInput(), resultGrads[0],
                                     getWindowAttr(), getStridesAttr(),
                                     getPaddingAttr());
  return success();
}

LogicalResult AvgPool2DOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                    SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (!resultGrads[0])
    return success();
  grads[0] = AvgPool2DGradOp::create(b, getLoc(), getInput().getType(),
                                     resultGrads[0], getWindowAttr(),
                                     getStridesAttr(), getPaddingAttr());
  return success();
}

// max_pool2d_grad is linear in out_backprop (its adjoint picks each window's
// maximum position) and piecewise constant in input: the input gets no
// gradient, as the positions of the maxima do not move under small changes.
LogicalResult MaxPool2DGradOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                        SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (!resultGrads[0])
    return success();
  grads[1] = MaxPool2DSelectOp::create(b, getLoc(), getInput(), resultGrads[0],
                                       getWindowAttr(), getStridesAttr(),
                                       getPaddingAttr());
  return success();
}

// max_pool2d_select is linear in source, with max_pool2d_grad as adjoint;
// like max_pool2d_grad it is piecewise constant in input.
LogicalResult MaxPool2DSelectOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                          SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (!resultGrads[0])
    return success();
  grads[1] = MaxPool2DGradOp::create(b, getLoc(), getInput(), resultGrads[0],
                                     getWindowAttr(), getStridesAttr(),
                                     getPaddingAttr());
  return success();
}

// avg_pool2d_grad is the adjoint of the linear map avg_pool2d.
LogicalResult AvgPool2DGradOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                        SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (!resultGrads[0])
    return success();
  grads[0] = AvgPool2DOp::create(b, getLoc(), resultGrads[0], getWindowAttr(),
                                 getStridesAttr(), getPaddingAttr());
  return success();
}

/// The normalized axis of a softmax-like op.
template <typename OpTy>
static int64_t softmaxAxis(OpTy op) {
  return llvm::cantFail(normalizeAxis(static_cast<int64_t>(op.getAxis()),
                                      tensorType(op.getInput()).getRank()));
}

// dx = y * (g - sum(g * y))
LogicalResult SoftmaxOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                  SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g)
    return success();
  Rule r{b, getLoc()};
  Value y = getResult();
  Value s = r.sum(r.mul(g, y), {softmaxAxis(*this)}, /*keepDims=*/true);
  grads[0] = r.mul(y, r.sub(g, s));
  return success();
}

// dx = g - exp(y) * sum(g)
LogicalResult LogSoftmaxOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                     SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  Value g = resultGrads[0];
  if (!g)
    return success();
  Rule r{b, getLoc()};
  Value s = r.sum(g, {softmaxAxis(*this)}, /*keepDims=*/true);
  grads[0] = r.sub(g, r.mul(ExpOp::create(b, r.loc, getResult()), s));
  return success();
}

// loss = sum_c labels * (lse - logits):
//   dlogits = g * (softmax(logits) * sum_c labels - labels)
//   dlabels = g * (-log_softmax(logits))
LogicalResult SoftmaxCrossEntropyOp::buildVJP(OpBuilder &b,
                                              ValueRange resultGrads,
                                              SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (!resultGrads[0])
    return success();
  Rule r{b, getLoc()};
  RankedTensorType type = tensorType(getLogits());
  int64_t axis = type.getRank() - 1;
  Value g = r.expandReduced(resultGrads[0], {axis}, getLogits());
  Value p = SoftmaxOp::create(b, r.loc, getLogits(), b.getI64IntegerAttr(-1));
  Value labelSum = r.sum(getLabels(), {axis}, /*keepDims=*/true);
  grads[0] = r.mul(g, r.sub(r.mul(p, labelSum), getLabels()));
  Value logP =
      LogSoftmaxOp::create(b, r.loc, getLogits(), b.getI64IntegerAttr(-1));
  grads[1] = r.neg(r.mul(g, logP));
  return success();
}

// dlogits = g * (softmax(logits) - one_hot(labels))
LogicalResult
SparseSoftmaxCrossEntropyOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                      SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (!resultGrads[0])
    return success();
  Rule r{b, getLoc()};
  RankedTensorType type = tensorType(getLogits());
  int64_t axis = type.getRank() - 1;
  Value g = r.expandReduced(resultGrads[0], {axis}, getLogits());
  Value p = SoftmaxOp::create(b, r.loc, getLogits(), b.getI64IntegerAttr(-1));
  Value hot = OneHotOp::create(
      b, r.loc, type, getLabels(), b.getI64IntegerAttr(type.getDimSize(axis)),
      b.getI64IntegerAttr(-1), b.getF64FloatAttr(1.0), b.getF64FloatAttr(0.0));
  grads[0] = r.mul(g, r.sub(p, hot));
  return success();
}

// The backward function gives the cotangents; results nobody differentiates
// get zero cotangents.
LogicalResult CustomVjpOp::buildVJP(OpBuilder &b, ValueRange resultGrads,
                                    SmallVectorImpl<Value> &grads) {
  noGrads(*this, grads);
  if (llvm::all_of(resultGrads, [](Value g) { return !g; }))
    return success();
  Rule r{b, getLoc()};
  SmallVector<Value> operands(getInputs());
  llvm::append_range(operands, getResults());
  for (auto [g, result] : llvm::zip(resultGrads, getResults()))
    operands.push_back(g ? g : r.zerosLike(result));
  auto call = func::CallOp::create(b, getLoc(), getBackwardAttr(),
                                   getInputs().getTypes(), operands);
  for (auto [i, input] : llvm::enumerate(getInputs()))
    if (isFloatTensor(input))
      grads[i] = call.getResult(i);
  return success();
}
