//===- Elementwise.cpp - Lowering Kiln's elementwise ops and generators
//----===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Every elementwise op becomes one linalg.generic over the result shape:
//
//   for (i...) in result.shape:            // all parallel
//     result[i...] = f(lhs[bcast(i...)], rhs[bcast(i...)])
//
// where bcast() drops leading dimensions and reads index 0 along extents of
// 1 (the operand's indexing map). The scalar function f is built below, one
// overload per op.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "mlir/Dialect/Utils/StructuredOpsUtils.h"

#include <cmath>

using namespace mlir;
using namespace mlir::kiln;
using namespace mlir::kiln::lowering;

static bool isFloat(Value v) { return isa<FloatType>(v.getType()); }

static Value cst(OpBuilder &b, Location loc, Value like, double value) {
  return scalarConstant(b, loc, like.getType(), value);
}

//===----------------------------------------------------------------------===//
// Scalar bodies
//===----------------------------------------------------------------------===//

static Value scalar(NegOp, OpBuilder &b, Location loc, ValueRange s) {
  if (isFloat(s[0]))
    return arith::NegFOp::create(b, loc, s[0]);
  return arith::SubIOp::create(b, loc, cst(b, loc, s[0], 0), s[0]);
}
static Value scalar(AbsOp, OpBuilder &b, Location loc, ValueRange s) {
  if (isFloat(s[0]))
    return math::AbsFOp::create(b, loc, s[0]);
  return math::AbsIOp::create(b, loc, s[0]);
}
static Value scalar(ExpOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::ExpOp::create(b, loc, s[0]);
}
static Value scalar(LogOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::LogOp::create(b, loc, s[0]);
}
static Value scalar(ErfOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::ErfOp::create(b, loc, s[0]);
}
static Value scalar(ErfcOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::ErfcOp::create(b, loc, s[0]);
}
static Value scalar(LgammaOp, OpBuilder &b, Location loc, ValueRange s) {
  return lgammaOf(b, loc, s[0]);
}
static Value scalar(DigammaOp, OpBuilder &b, Location loc, ValueRange s) {
  return digammaOf(b, loc, s[0]);
}
static Value scalar(PolygammaOp op, OpBuilder &b, Location loc, ValueRange s) {
  return polygammaOf(b, loc, s[0], static_cast<int64_t>(op.getOrder()));
}
static Value scalar(ErfinvOp, OpBuilder &b, Location loc, ValueRange s) {
  return erfinvOf(b, loc, s[0]);
}
static Value scalar(Log1pOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::Log1pOp::create(b, loc, s[0]);
}
static Value scalar(Expm1Op, OpBuilder &b, Location loc, ValueRange s) {
  return math::ExpM1Op::create(b, loc, s[0]);
}
static Value scalar(SqrtOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::SqrtOp::create(b, loc, s[0]);
}
static Value scalar(RsqrtOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::RsqrtOp::create(b, loc, s[0]);
}
static Value scalar(TanhOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::TanhOp::create(b, loc, s[0]);
}
static Value scalar(SigmoidOp, OpBuilder &b, Location loc, ValueRange s) {
  // With e = e^-|x| (never overflows) and t = 1 / (1 + e): t for x >= 0,
  // e t for x < 0. (1 / (1 + e^-x) flushed the results below the type's
  // smallest normal to 0, where e^-x overflowed first: sigmoid(-95) is
  // 5.5e-42 in f32.) NaN takes the second branch and stays NaN.
  Value x = s[0];
  Value e = math::ExpOp::create(
      b, loc, arith::NegFOp::create(b, loc, math::AbsFOp::create(b, loc, x)));
  Value one = cst(b, loc, x, 1);
  Value t = arith::DivFOp::create(b, loc, one,
                                  arith::AddFOp::create(b, loc, one, e));
  Value positive = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE, x,
                                         cst(b, loc, x, 0));
  return arith::SelectOp::create(b, loc, positive, t,
                                 arith::MulFOp::create(b, loc, e, t));
}
static Value scalar(ReluOp, OpBuilder &b, Location loc, ValueRange s) {
  Value zero = cst(b, loc, s[0], 0);
  if (isFloat(s[0])) // maximumf propagates NaN
    return arith::MaximumFOp::create(b, loc, s[0], zero);
  return arith::MaxSIOp::create(b, loc, s[0], zero);
}
static Value scalar(SinOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::SinOp::create(b, loc, s[0]);
}
static Value scalar(TanOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::TanOp::create(b, loc, s[0]);
}
static Value scalar(AsinOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::AsinOp::create(b, loc, s[0]);
}
static Value scalar(AcosOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::AcosOp::create(b, loc, s[0]);
}
static Value scalar(AtanOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::AtanOp::create(b, loc, s[0]);
}
static Value scalar(SinhOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::SinhOp::create(b, loc, s[0]);
}
static Value scalar(CoshOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::CoshOp::create(b, loc, s[0]);
}
static Value scalar(AsinhOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::AsinhOp::create(b, loc, s[0]);
}
static Value scalar(AcoshOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::AcoshOp::create(b, loc, s[0]);
}
static Value scalar(AtanhOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::AtanhOp::create(b, loc, s[0]);
}
static Value scalar(Atan2Op, OpBuilder &b, Location loc, ValueRange s) {
  return math::Atan2Op::create(b, loc, s[0], s[1]);
}
static Value scalar(CosOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::CosOp::create(b, loc, s[0]);
}
static Value scalar(SignOp, OpBuilder &b, Location loc, ValueRange s) {
  Value x = s[0], zero = cst(b, loc, x, 0);
  Value one = cst(b, loc, x, 1), minusOne = cst(b, loc, x, -1);
  if (isFloat(x)) {
    // sign(+-0) = +-0 and sign(NaN) = NaN: keep x unless strictly signed.
    Value pos =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x, zero);
    Value neg =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, x, zero);
    Value r = arith::SelectOp::create(b, loc, neg, minusOne, x);
    return arith::SelectOp::create(b, loc, pos, one, r);
  }
  Value pos = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, x, zero);
  Value neg = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, x, zero);
  Value r = arith::SelectOp::create(b, loc, neg, minusOne, zero);
  return arith::SelectOp::create(b, loc, pos, one, r);
}
static Value scalar(StopGradientOp, OpBuilder &, Location, ValueRange s) {
  return s[0];
}
static Value scalar(FloorOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::FloorOp::create(b, loc, s[0]);
}
static Value scalar(CeilOp, OpBuilder &b, Location loc, ValueRange s) {
  return math::CeilOp::create(b, loc, s[0]);
}
static Value scalar(SquareOp, OpBuilder &b, Location loc, ValueRange s) {
  if (isFloat(s[0]))
    return arith::MulFOp::create(b, loc, s[0], s[0]);
  return arith::MulIOp::create(b, loc, s[0], s[0]);
}
static Value scalar(ReciprocalOp, OpBuilder &b, Location loc, ValueRange s) {
  return arith::DivFOp::create(b, loc, cst(b, loc, s[0], 1), s[0]);
}
static Value scalar(LogicalNotOp, OpBuilder &b, Location loc, ValueRange s) {
  return arith::XOrIOp::create(b, loc, s[0], cst(b, loc, s[0], 1));
}
static Value scalar(BitwiseNotOp, OpBuilder &b, Location loc, ValueRange s) {
  return arith::XOrIOp::create(b, loc, s[0], cst(b, loc, s[0], -1));
}

static Value scalar(AddOp, OpBuilder &b, Location loc, ValueRange s) {
  if (isFloat(s[0]))
    return arith::AddFOp::create(b, loc, s[0], s[1]);
  return arith::AddIOp::create(b, loc, s[0], s[1]);
}
static Value scalar(SubOp, OpBuilder &b, Location loc, ValueRange s) {
  if (isFloat(s[0]))
    return arith::SubFOp::create(b, loc, s[0], s[1]);
  return arith::SubIOp::create(b, loc, s[0], s[1]);
}
static Value scalar(MulOp, OpBuilder &b, Location loc, ValueRange s) {
  if (isFloat(s[0]))
    return arith::MulFOp::create(b, loc, s[0], s[1]);
  return arith::MulIOp::create(b, loc, s[0], s[1]);
}
/// Integer division and remainder trap on x86 for a zero divisor and for
/// INT_MIN / -1: Kiln's define those two cases themselves and divide by the
/// divisor only where it is safe (1 elsewhere).
struct IntDivisor {
  Value zero, isZero, isMinusOne, safe;
  IntDivisor(OpBuilder &b, Location loc, Value y) {
    zero = cst(b, loc, y, 0);
    isZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, y, zero);
    isMinusOne = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, y,
                                       cst(b, loc, y, -1));
    Value unsafe = arith::OrIOp::create(b, loc, isZero, isMinusOne);
    safe = arith::SelectOp::create(b, loc, unsafe, cst(b, loc, y, 1), y);
  }
};

static Value scalar(DivOp, OpBuilder &b, Location loc, ValueRange s) {
  if (isFloat(s[0]))
    return arith::DivFOp::create(b, loc, s[0], s[1]);
  // x / 0 = 0 and x / -1 = -x (wrapping).
  Value x = s[0];
  IntDivisor d(b, loc, s[1]);
  Value q = arith::DivSIOp::create(b, loc, x, d.safe);
  Value negated = arith::SubIOp::create(b, loc, d.zero, x);
  q = arith::SelectOp::create(b, loc, d.isMinusOne, negated, q);
  return arith::SelectOp::create(b, loc, d.isZero, d.zero, q);
}
static Value scalar(RemOp, OpBuilder &b, Location loc, ValueRange s) {
  // arith.remf is fmod: exact (LLVM calls fmodf on the CPU, libdevice's
  // __nv_fmodf on the GPU), unlike x - trunc(x / y) * y, whose quotient
  // rounds once |x / y| passes 2^24 in f32.
  if (isFloat(s[0]))
    return arith::RemFOp::create(b, loc, s[0], s[1]);
  // x rem 0 = x and x rem -1 = 0, so that x = (x / y) y + x rem y.
  Value x = s[0];
  IntDivisor d(b, loc, s[1]);
  Value r = arith::RemSIOp::create(b, loc, x, d.safe);
  r = arith::SelectOp::create(b, loc, d.isMinusOne, d.zero, r);
  return arith::SelectOp::create(b, loc, d.isZero, x, r);
}
static Value scalar(PowOp, OpBuilder &b, Location loc, ValueRange s) {
  if (isFloat(s[0]))
    return math::PowFOp::create(b, loc, s[0], s[1]);
  return math::IPowIOp::create(b, loc, s[0], s[1]);
}
static Value scalar(MaximumOp, OpBuilder &b, Location loc, ValueRange s) {
  if (isFloat(s[0]))
    return arith::MaximumFOp::create(b, loc, s[0], s[1]);
  return arith::MaxSIOp::create(b, loc, s[0], s[1]);
}
static Value scalar(MinimumOp, OpBuilder &b, Location loc, ValueRange s) {
  if (isFloat(s[0]))
    return arith::MinimumFOp::create(b, loc, s[0], s[1]);
  return arith::MinSIOp::create(b, loc, s[0], s[1]);
}
static Value scalar(LogicalAndOp, OpBuilder &b, Location loc, ValueRange s) {
  return arith::AndIOp::create(b, loc, s[0], s[1]);
}
static Value scalar(LogicalOrOp, OpBuilder &b, Location loc, ValueRange s) {
  return arith::OrIOp::create(b, loc, s[0], s[1]);
}
static Value scalar(BitwiseAndOp, OpBuilder &b, Location loc, ValueRange s) {
  return arith::AndIOp::create(b, loc, s[0], s[1]);
}
static Value scalar(BitwiseOrOp, OpBuilder &b, Location loc, ValueRange s) {
  return arith::OrIOp::create(b, loc, s[0], s[1]);
}
static Value scalar(BitwiseXorOp, OpBuilder &b, Location loc, ValueRange s) {
  return arith::XOrIOp::create(b, loc, s[0], s[1]);
}
/// arith's shifts are poison for an amount of at least the bit width (and
/// for a negative one, read as unsigned): Kiln's shifts define those, so the
/// amount is compared unsigned with the width and the shift itself only
/// ever sees an amount in range.
static Value shiftInRange(OpBuilder &b, Location loc, Value y) {
  unsigned width = y.getType().getIntOrFloatBitWidth();
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, y,
                               cst(b, loc, y, width));
}
/// x shifted by an in-range amount, 0 for the others.
template <typename ArithShift>
static Value shiftOrZero(OpBuilder &b, Location loc, ValueRange s) {
  Value inRange = shiftInRange(b, loc, s[1]);
  Value amount =
      arith::SelectOp::create(b, loc, inRange, s[1], cst(b, loc, s[1], 0));
  Value shifted = ArithShift::create(b, loc, s[0], amount);
  return arith::SelectOp::create(b, loc, inRange, shifted,
                                 cst(b, loc, s[0], 0));
}
static Value scalar(ShiftLeftOp, OpBuilder &b, Location loc, ValueRange s) {
  return shiftOrZero<arith::ShLIOp>(b, loc, s);
}
static Value scalar(ShiftRightLogicalOp, OpBuilder &b, Location loc,
                    ValueRange s) {
  return shiftOrZero<arith::ShRUIOp>(b, loc, s);
}
static Value scalar(ShiftRightArithmeticOp, OpBuilder &b, Location loc,
                    ValueRange s) {
  // Shifting by width - 1 leaves only copies of the sign bit: -1 or 0.
  unsigned width = s[1].getType().getIntOrFloatBitWidth();
  Value amount = arith::SelectOp::create(b, loc, shiftInRange(b, loc, s[1]),
                                         s[1], cst(b, loc, s[1], width - 1));
  return arith::ShRSIOp::create(b, loc, s[0], amount);
}
static Value scalar(SelectOp, OpBuilder &b, Location loc, ValueRange s) {
  return arith::SelectOp::create(b, loc, s[0], s[1], s[2]);
}

static Value scalar(CompareOp op, OpBuilder &b, Location loc, ValueRange s) {
  CompareDirection d = op.getDirection();
  if (isFloat(s[0])) {
    // Ordered predicates: false when NaN is involved, except for `ne`.
    arith::CmpFPredicate p;
    switch (d) {
    case CompareDirection::eq:
      p = arith::CmpFPredicate::OEQ;
      break;
    case CompareDirection::ne:
      p = arith::CmpFPredicate::UNE;
      break;
    case CompareDirection::lt:
      p = arith::CmpFPredicate::OLT;
      break;
    case CompareDirection::le:
      p = arith::CmpFPredicate::OLE;
      break;
    case CompareDirection::gt:
      p = arith::CmpFPredicate::OGT;
      break;
    case CompareDirection::ge:
      p = arith::CmpFPredicate::OGE;
      break;
    }
    return arith::CmpFOp::create(b, loc, p, s[0], s[1]);
  }
  // Booleans order false < true (unsigned); other integers are signed.
  bool isBool = s[0].getType().isInteger(1);
  arith::CmpIPredicate p;
  switch (d) {
  case CompareDirection::eq:
    p = arith::CmpIPredicate::eq;
    break;
  case CompareDirection::ne:
    p = arith::CmpIPredicate::ne;
    break;
  case CompareDirection::lt:
    p = isBool ? arith::CmpIPredicate::ult : arith::CmpIPredicate::slt;
    break;
  case CompareDirection::le:
    p = isBool ? arith::CmpIPredicate::ule : arith::CmpIPredicate::sle;
    break;
  case CompareDirection::gt:
    p = isBool ? arith::CmpIPredicate::ugt : arith::CmpIPredicate::sgt;
    break;
  case CompareDirection::ge:
    p = isBool ? arith::CmpIPredicate::uge : arith::CmpIPredicate::sge;
    break;
  }
  return arith::CmpIOp::create(b, loc, p, s[0], s[1]);
}

/// Builds a linalg.generic with no inputs that computes each element of
/// `type` from its indices.
Value mlir::kiln::lowering::buildFromIndices(
    OpBuilder &b, Location loc, RankedTensorType type,
    function_ref<Value(OpBuilder &, Location, ArrayRef<Value>)> body,
    ArrayRef<OpFoldResult> extents) {
  MLIRContext *context = b.getContext();
  SmallVector<AffineMap> maps = {
      AffineMap::getMultiDimIdentityMap(type.getRank(), context)};
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{type}, ValueRange{},
      ValueRange{extents.empty()
                     ? emptyTensor(b, loc, type)
                     : emptyTensor(b, loc, extents, type.getElementType())},
      maps, iterators,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange) {
        SmallVector<Value> indices;
        for (int64_t d = 0; d < type.getRank(); ++d)
          indices.push_back(linalg::IndexOp::create(nested, nestedLoc, d));
        linalg::YieldOp::create(nested, nestedLoc,
                                body(nested, nestedLoc, indices));
      });
  return generic.getResult(0);
}

namespace {

/// Lowers an elementwise op whose scalar body is given by `scalar()`.
template <typename OpTy>
struct ElementwiseLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value result = buildElementwise(
        rewriter, op.getLoc(), cast<RankedTensorType>(op.getType()),
        adaptor.getOperands(), [&](OpBuilder &b, Location loc, ValueRange s) {
          return scalar(op, b, loc, s);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// The known value itself: what computed the other operand is then dead.
struct KnownValueLowering : OpConversionPattern<KnownValueOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(KnownValueOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value known = adaptor.getKnown();
    // (Compatible types: a `?` where the result has a size, or the other
    // way round.)
    if (known.getType() != op.getType())
      known = tensor::CastOp::create(rewriter, op.getLoc(), op.getType(), known);
    rewriter.replaceOp(op, known);
    return success();
  }
};

struct CastLowering : OpConversionPattern<CastOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(CastOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Type to = op.getType().getElementType();
    rewriter.replaceOp(
        op, buildElementwise(rewriter, op.getLoc(), op.getType(),
                             adaptor.getOperands(),
                             [&](OpBuilder &b, Location loc, ValueRange s) {
                               return castScalar(b, loc, s[0], to,
                                                 op.getUnsignedInput(),
                                                 op.getUnsignedResult());
                             }));
    return success();
  }
};

/// kiln.bitcast: arith.bitcast elementwise for equal widths; otherwise each
/// result element is cut from (narrower) or assembled from (wider) the
/// operand's bits through integers of the two widths, little-endian.
struct BitcastLowering : OpConversionPattern<BitcastOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(BitcastOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    auto type = cast<RankedTensorType>(op.getType());
    Type from = cast<RankedTensorType>(input.getType()).getElementType();
    Type to = type.getElementType();
    unsigned in = from.getIntOrFloatBitWidth(), out = to.getIntOrFloatBitWidth();
    Type inInt = rewriter.getIntegerType(in), outInt = rewriter.getIntegerType(out);
    auto asInt = [&](OpBuilder &b, Value v, Type intType) {
      return v.getType() == intType ? v
                                    : arith::BitcastOp::create(b, loc, intType, v);
    };
    auto fromInt = [&](OpBuilder &b, Value v) {
      return v.getType() == to ? v : arith::BitcastOp::create(b, loc, to, v);
    };
    if (in == out) {
      rewriter.replaceOp(op, buildElementwise(rewriter, loc, type, {input},
                                              [&](OpBuilder &b, Location,
                                                  ValueRange s) {
                                                return fromInt(b, asInt(b, s[0], inInt));
                                              }));
      return success();
    }
    SmallVector<OpFoldResult> extents = extentsOf(rewriter, loc, input);
    if (in > out)
      extents.push_back(rewriter.getIndexAttr(in / out));
    else
      extents.pop_back();
    Value result = buildFromIndices(
        rewriter, loc, type,
        [&](OpBuilder &b, Location, ArrayRef<Value> idx) -> Value {
          if (in > out) {
            // Piece k of the element: its bits from k * out up.
            Value element = tensor::ExtractOp::create(b, loc, input, idx.drop_back());
            Value k = arith::IndexCastOp::create(b, loc, inInt, idx.back());
            Value shift = arith::MulIOp::create(
                b, loc, k, arith::ConstantOp::create(b, loc, b.getIntegerAttr(inInt, out)));
            Value bits = arith::ShRUIOp::create(b, loc, asInt(b, element, inInt), shift);
            return fromInt(b, arith::TruncIOp::create(b, loc, outInt, bits));
          }
          SmallVector<Value> at(idx);
          at.push_back(Value());
          Value word = arith::ConstantOp::create(b, loc, b.getIntegerAttr(outInt, 0));
          for (unsigned k = 0; k < out / in; ++k) {
            at.back() = arith::ConstantIndexOp::create(b, loc, k);
            Value piece = tensor::ExtractOp::create(b, loc, input, at);
            Value wide = arith::ExtUIOp::create(b, loc, outInt, asInt(b, piece, inInt));
            Value placed = arith::ShLIOp::create(
                b, loc, wide,
                arith::ConstantOp::create(b, loc, b.getIntegerAttr(outInt, k * in)));
            word = arith::OrIOp::create(b, loc, word, placed);
          }
          return fromInt(b, word);
        },
        extents);
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct ConstantLowering : OpConversionPattern<ConstantOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ConstantOp op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOpWithNewOp<arith::ConstantOp>(
        op, cast<TypedAttr>(op.getValueAttr()));
    return success();
  }
};

struct IotaLowering : OpConversionPattern<IotaOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(IotaOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    // Open extents come from `like`.
    Value like = adaptor.getLike();
    if (!like && failed(requireStatic(op, rewriter)))
      return failure();
    int64_t dim = static_cast<int64_t>(op.getDimension());
    Type element = op.getType().getElementType();
    rewriter.replaceOp(
        op,
        buildFromIndices(
            rewriter, op.getLoc(), op.getType(),
            [&](OpBuilder &b, Location loc, ArrayRef<Value> idx) {
              Value i =
                  arith::IndexCastOp::create(b, loc, b.getI64Type(), idx[dim]);
              return castScalar(b, loc, i, element);
            },
            extentsLike(rewriter, op.getLoc(), op.getType(), like)));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Counter-based random numbers
//===----------------------------------------------------------------------===//
//
// Element `i` (row-major) of a random tensor is a function of (seed, i) only:
//
//   key  = mix(seed ^ 0x6A09E667F3BCC909)
//   bits = mix(key + (c + 1) * 0x9E3779B97F4A7C15)     // c: a counter
//   u    = (bits >> 11) * 2^-53                         // uniform in [0, 1)
//
// with mix() the SplitMix64 finalizer. Uniform values use c = i; normal
// values use the Box-Muller transform on c = 2i and 2i + 1. Truncated
// normals draw up to 12 normals per element (6 Box-Muller pairs on counters
// 12i ... 12i + 11) and take the first within two standard deviations; the
// chance that all 12 miss is about 1e-16, and then the last draw is clamped.
// The arithmetic is in f64 and rounds to the element type at the end, so any
// backend that follows these formulas gives the same numbers.

static Value i64c(OpBuilder &b, Location loc, uint64_t v) {
  return arith::ConstantOp::create(
      b, loc, b.getIntegerAttr(b.getI64Type(), static_cast<int64_t>(v)));
}

static Value mix64(OpBuilder &b, Location loc, Value x) {
  auto shiftXor = [&](Value v, uint64_t shift) {
    return arith::XOrIOp::create(
        b, loc, v, arith::ShRUIOp::create(b, loc, v, i64c(b, loc, shift)));
  };
  x = shiftXor(x, 30);
  x = arith::MulIOp::create(b, loc, x, i64c(b, loc, 0xBF58476D1CE4E5B9ULL));
  x = shiftXor(x, 27);
  x = arith::MulIOp::create(b, loc, x, i64c(b, loc, 0x94D049BB133111EBULL));
  return shiftXor(x, 31);
}

/// A uniform f64 in [0, 1) for counter `c` under `key`.
static Value uniform01(OpBuilder &b, Location loc, Value key, Value c) {
  Value n = arith::AddIOp::create(b, loc, c, i64c(b, loc, 1));
  n = arith::MulIOp::create(b, loc, n, i64c(b, loc, 0x9E3779B97F4A7C15ULL));
  Value bits = mix64(b, loc, arith::AddIOp::create(b, loc, key, n));
  bits = arith::ShRUIOp::create(b, loc, bits, i64c(b, loc, 11));
  Value f = arith::UIToFPOp::create(b, loc, b.getF64Type(), bits);
  return arith::MulFOp::create(
      b, loc, f, scalarConstant(b, loc, b.getF64Type(), std::ldexp(1.0, -53)));
}

/// Two independent standard normals (Box-Muller) from counters c and c + 1.
static std::pair<Value, Value> normalPair(OpBuilder &b, Location loc, Value key,
                                          Value c) {
  Type f64 = b.getF64Type();
  Value u1 = uniform01(b, loc, key, c);
  Value u2 =
      uniform01(b, loc, key, arith::AddIOp::create(b, loc, c, i64c(b, loc, 1)));
  // 1 - u1 is in (0, 1], so the logarithm is finite.
  u1 = arith::SubFOp::create(b, loc, scalarConstant(b, loc, f64, 1.0), u1);
  Value r = math::SqrtOp::create(
      b, loc,
      arith::MulFOp::create(b, loc, scalarConstant(b, loc, f64, -2.0),
                            math::LogOp::create(b, loc, u1)));
  Value theta = arith::MulFOp::create(
      b, loc, scalarConstant(b, loc, f64, 2.0 * M_PI), u2);
  return {arith::MulFOp::create(b, loc, r, math::CosOp::create(b, loc, theta)),
          arith::MulFOp::create(b, loc, r, math::SinOp::create(b, loc, theta))};
}

/// The random key for an op: from its seed attribute or seed operand.
template <typename OpTy>
static Value randomKey(OpTy op, Value seedOperand, OpBuilder &b, Location loc) {
  Value seed = seedOperand
                   ? extractScalar(b, loc, seedOperand)
                   : i64c(b, loc, static_cast<uint64_t>(*op.getStaticSeed()));
  return mix64(
      b, loc,
      arith::XOrIOp::create(b, loc, seed, i64c(b, loc, 0x6A09E667F3BCC909ULL)));
}

/// The row-major linear index of the current element, as i64.
static Value linearIndex(OpBuilder &b, Location loc,
                         ArrayRef<OpFoldResult> extents,
                         ArrayRef<Value> indices) {
  Value linear = i64c(b, loc, 0);
  for (auto [extent, index] : llvm::zip_equal(extents, indices)) {
    Value i = arith::IndexCastOp::create(b, loc, b.getI64Type(), index);
    std::optional<int64_t> fixed = getConstantIntValue(extent);
    Value size = fixed ? i64c(b, loc, static_cast<uint64_t>(*fixed))
                       : arith::IndexCastOp::create(b, loc, b.getI64Type(),
                                                    cast<Value>(extent))
                             .getResult();
    linear = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, linear, size), i);
  }
  return linear;
}

/// Rounds an f64 sample to the element type.
static Value toElement(OpBuilder &b, Location loc, Value v, Type element) {
  if (element.isF64())
    return v;
  return arith::TruncFOp::create(b, loc, element, v);
}

struct RandomUniformLowering : OpConversionPattern<RandomUniformOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(RandomUniformOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    // Open extents come from `like`.
    Value like = adaptor.getLike();
    if (!like && failed(requireStatic(op, rewriter)))
      return failure();
    RankedTensorType type = op.getType();
    SmallVector<OpFoldResult> extents =
        extentsLike(rewriter, op.getLoc(), type, like);
    auto element = cast<FloatType>(type.getElementType());
    double lo = op.getMinval().convertToDouble();
    double hi = op.getMaxval().convertToDouble();
    // Rounding to a narrow type can reach `hi`; such values become the
    // largest representable value below it, keeping the range half-open.
    APFloat top(hi);
    bool losesInfo = false;
    top.convert(element.getFloatSemantics(), APFloat::rmTowardZero, &losesInfo);
    APFloat below = top;
    below.next(/*nextDown=*/true);
    Value seed = adaptor.getSeed();
    rewriter.replaceOp(
        op, buildFromIndices(
                rewriter, op.getLoc(), type,
                [&](OpBuilder &b, Location loc, ArrayRef<Value> idx) {
                  Value key = randomKey(op, seed, b, loc);
                  Value u =
                      uniform01(b, loc, key, linearIndex(b, loc, extents, idx));
                  Type f64 = b.getF64Type();
                  Value v = arith::AddFOp::create(
                      b, loc, scalarConstant(b, loc, f64, lo),
                      arith::MulFOp::create(
                          b, loc, u, scalarConstant(b, loc, f64, hi - lo)));
                  v = toElement(b, loc, v, element);
                  Value topV = arith::ConstantOp::create(
                      b, loc, b.getFloatAttr(element, top));
                  Value belowV = arith::ConstantOp::create(
                      b, loc, b.getFloatAttr(element, below));
                  Value tooBig = arith::CmpFOp::create(
                      b, loc, arith::CmpFPredicate::OGE, v, topV);
                  return arith::SelectOp::create(b, loc, tooBig, belowV, v)
                      .getResult();
                },
                extents));
    return success();
  }
};

/// Shared by random_normal and truncated_normal.
template <typename OpTy, bool Truncated>
struct NormalLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value like = adaptor.getLike();
    if (!like && failed(requireStatic(op, rewriter)))
      return failure();
    RankedTensorType type = op.getType();
    SmallVector<OpFoldResult> extents =
        extentsLike(rewriter, op.getLoc(), type, like);
    Type element = type.getElementType();
    double mean = op.getMean().convertToDouble();
    double stddev = op.getStddev().convertToDouble();
    Value seed = adaptor.getSeed();
    rewriter.replaceOp(
        op,
        buildFromIndices(
            rewriter, op.getLoc(), type,
            [&](OpBuilder &b, Location loc, ArrayRef<Value> idx) {
              Type f64 = b.getF64Type();
              Value key = randomKey(op, seed, b, loc);
              Value i = linearIndex(b, loc, extents, idx);
              Value z;
              if (!Truncated) {
                Value c = arith::MulIOp::create(b, loc, i, i64c(b, loc, 2));
                z = normalPair(b, loc, key, c).first;
              } else {
                constexpr int kPairs = 6;
                Value base =
                    arith::MulIOp::create(b, loc, i, i64c(b, loc, 2 * kPairs));
                SmallVector<Value> draws;
                for (int k = 0; k < kPairs; ++k) {
                  Value c =
                      arith::AddIOp::create(b, loc, base, i64c(b, loc, 2 * k));
                  auto [z0, z1] = normalPair(b, loc, key, c);
                  draws.push_back(z0);
                  draws.push_back(z1);
                }
                Value two = scalarConstant(b, loc, f64, 2.0);
                Value minusTwo = scalarConstant(b, loc, f64, -2.0);
                // Fallback: the last draw, clamped; then earlier accepted
                // draws take precedence, first one last.
                z = arith::MinimumFOp::create(
                    b, loc,
                    arith::MaximumFOp::create(b, loc, draws.back(), minusTwo),
                    two);
                for (Value d : llvm::reverse(draws)) {
                  Value ok = arith::CmpFOp::create(
                      b, loc, arith::CmpFPredicate::OLE,
                      math::AbsFOp::create(b, loc, d), two);
                  z = arith::SelectOp::create(b, loc, ok, d, z);
                }
              }
              Value v = arith::AddFOp::create(
                  b, loc, scalarConstant(b, loc, f64, mean),
                  arith::MulFOp::create(
                      b, loc, scalarConstant(b, loc, f64, stddev), z));
              return toElement(b, loc, v, element);
            },
            extents));
    return success();
  }
};

} // namespace

void lowering::populateElementwisePatterns(RewritePatternSet &patterns) {
  MLIRContext *context = patterns.getContext();
  patterns
      .add<ElementwiseLowering<NegOp>, ElementwiseLowering<AbsOp>,
           ElementwiseLowering<ExpOp>, ElementwiseLowering<LogOp>,
           ElementwiseLowering<Log1pOp>, ElementwiseLowering<Expm1Op>,
           ElementwiseLowering<ErfOp>, ElementwiseLowering<ErfcOp>,
           ElementwiseLowering<LgammaOp>, ElementwiseLowering<DigammaOp>,
           ElementwiseLowering<PolygammaOp>, ElementwiseLowering<ErfinvOp>,
           ElementwiseLowering<SqrtOp>,
           ElementwiseLowering<RsqrtOp>, ElementwiseLowering<TanhOp>,
           ElementwiseLowering<SigmoidOp>, ElementwiseLowering<ReluOp>,
           ElementwiseLowering<SinOp>, ElementwiseLowering<CosOp>,
           ElementwiseLowering<TanOp>, ElementwiseLowering<AsinOp>,
           ElementwiseLowering<AcosOp>, ElementwiseLowering<AtanOp>,
           ElementwiseLowering<SinhOp>, ElementwiseLowering<CoshOp>,
           ElementwiseLowering<AsinhOp>, ElementwiseLowering<AcoshOp>,
           ElementwiseLowering<AtanhOp>, ElementwiseLowering<Atan2Op>,
           ElementwiseLowering<SignOp>, ElementwiseLowering<FloorOp>,
           ElementwiseLowering<StopGradientOp>,
           ElementwiseLowering<CeilOp>, ElementwiseLowering<SquareOp>,
           ElementwiseLowering<ReciprocalOp>, ElementwiseLowering<LogicalNotOp>,
           ElementwiseLowering<AddOp>, ElementwiseLowering<SubOp>,
           ElementwiseLowering<MulOp>, ElementwiseLowering<DivOp>,
           ElementwiseLowering<RemOp>,
           ElementwiseLowering<PowOp>, ElementwiseLowering<MaximumOp>,
           ElementwiseLowering<MinimumOp>, ElementwiseLowering<LogicalAndOp>,
           ElementwiseLowering<LogicalOrOp>, ElementwiseLowering<BitwiseNotOp>,
           ElementwiseLowering<BitwiseAndOp>, ElementwiseLowering<BitwiseOrOp>,
           ElementwiseLowering<BitwiseXorOp>, ElementwiseLowering<ShiftLeftOp>,
           ElementwiseLowering<ShiftRightLogicalOp>,
           ElementwiseLowering<ShiftRightArithmeticOp>,
           ElementwiseLowering<SelectOp>,
           ElementwiseLowering<CompareOp>, KnownValueLowering, CastLowering,
           BitcastLowering,
           ConstantLowering,
           IotaLowering, RandomUniformLowering,
           NormalLowering<RandomNormalOp, false>,
           NormalLowering<TruncatedNormalOp, true>>(context);
}
