//===- KilnFolds.cpp - Kiln folders and canonicalization patterns
//----------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Folders: algebraic identities (x + 0, x * 1, reshape of reshape, transpose
// of transpose, ...) and constant folding of elementwise ops. Constant folding
// is limited to small tensors (kFoldLimit elements) or splats, so that folding
// never turns into evaluating a large program at compile time.
//
// Identities with floating point ignore the sign of zero (x + 0 -> x even for
// x = -0.0), as other tensor compilers do.
//
//===----------------------------------------------------------------------===//

#include "kiln/Dialect/Kiln/KilnOps.h"
#include "kiln/Dialect/Kiln/ShapeUtils.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

#include "llvm/ADT/APSInt.h"

#include <cmath>
#include <optional>

using namespace mlir;
using namespace mlir::kiln;

/// Constants with more elements than this are not folded (splats always are).
static constexpr int64_t kFoldLimit = 1024;

using FloatFn = function_ref<std::optional<APFloat>(const APFloat &)>;
using IntFn = function_ref<std::optional<APInt>(const APInt &)>;
using FloatFn2 =
    function_ref<std::optional<APFloat>(const APFloat &, const APFloat &)>;
using IntFn2 = function_ref<std::optional<APInt>(const APInt &, const APInt &)>;

//===----------------------------------------------------------------------===//
// Folding helpers
//===----------------------------------------------------------------------===//

/// True if `attr` is a splat constant equal to `value`.
static bool isSplatOf(Attribute attr, double value) {
  auto dense = dyn_cast_if_present<DenseElementsAttr>(attr);
  if (!dense || !dense.isSplat())
    return false;
  if (isa<FloatType>(dense.getElementType()))
    return dense.getSplatValue<APFloat>().convertToDouble() == value;
  APInt v = dense.getSplatValue<APInt>();
  int64_t asInt = v.getBitWidth() == 1 ? static_cast<int64_t>(v.getZExtValue())
                                       : v.getSExtValue();
  return static_cast<double>(asInt) == value;
}

/// Applies a double-precision function to a float of any width, rounding the
/// result back to that width.
static APFloat applyDouble(const APFloat &x, double (*fn)(double)) {
  APFloat result(fn(x.convertToDouble()));
  bool losesInfo = false;
  result.convert(x.getSemantics(), APFloat::rmNearestTiesToEven, &losesInfo);
  return result;
}

/// Maps every element of a constant through `fn`.
template <typename T, typename Fn>
static Attribute mapElements(DenseElementsAttr attr, ShapedType resultType,
                             Fn fn) {
  if (attr.isSplat()) {
    auto value = fn(attr.getSplatValue<T>());
    if (!value)
      return {};
    return DenseElementsAttr::get(resultType, ArrayRef(*value));
  }
  if (attr.getNumElements() > kFoldLimit)
    return {};
  using Out = typename decltype(fn(attr.getSplatValue<T>()))::value_type;
  SmallVector<Out> out;
  for (T v : attr.getValues<T>()) {
    auto r = fn(v);
    if (!r)
      return {};
    out.push_back(*r);
  }
  return DenseElementsAttr::get(resultType, out);
}

/// Folds a unary elementwise op over a constant operand.
static Attribute foldUnary(Attribute operand, FloatFn floatFn, IntFn intFn) {
  auto attr = dyn_cast_if_present<DenseElementsAttr>(operand);
  if (!attr)
    return {};
  if (isa<FloatType>(attr.getElementType()))
    return floatFn ? mapElements<APFloat>(attr, attr.getType(), floatFn)
                   : Attribute();
  return intFn ? mapElements<APInt>(attr, attr.getType(), intFn) : Attribute();
}

/// Folds a float-only unary op computed in double precision.
static Attribute foldMath(Attribute operand, double (*fn)(double)) {
  return foldUnary(
      operand,
      [fn](const APFloat &x) -> std::optional<APFloat> {
        return applyDouble(x, fn);
      },
      nullptr);
}

/// For each element of `resultShape`, the linear index into an operand of
/// shape `shape` broadcast to it (NumPy rules).
static SmallVector<int64_t> broadcastIndices(ArrayRef<int64_t> shape,
                                             ArrayRef<int64_t> resultShape) {
  size_t rank = resultShape.size(), offset = rank - shape.size();
  SmallVector<int64_t> strides(rank, 0);
  int64_t stride = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    strides[offset + d] = shape[d] == 1 ? 0 : stride;
    stride *= shape[d];
  }
  int64_t n = numElements(resultShape);
  SmallVector<int64_t> indices(n, 0);
  SmallVector<int64_t> coord(rank, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t index = 0;
    for (size_t d = 0; d < rank; ++d)
      index += coord[d] * strides[d];
    indices[i] = index;
    for (size_t d = rank; d-- > 0;) // increment the row-major counter
      if (++coord[d] < resultShape[d])
        break;
      else
        coord[d] = 0;
  }
  return indices;
}

/// Folds a binary elementwise op with broadcasting over constant operands.
template <typename In, typename Fn>
static Attribute foldBroadcast(Attribute lhsAttr, Attribute rhsAttr,
                               ShapedType resultType, Fn fn) {
  auto lhs = dyn_cast_if_present<DenseElementsAttr>(lhsAttr);
  auto rhs = dyn_cast_if_present<DenseElementsAttr>(rhsAttr);
  if (!lhs || !rhs || !resultType.hasStaticShape())
    return {};
  using Out = typename decltype(fn(lhs.getSplatValue<In>(),
                                   rhs.getSplatValue<In>()))::value_type;
  if (lhs.isSplat() && rhs.isSplat()) {
    auto r = fn(lhs.getSplatValue<In>(), rhs.getSplatValue<In>());
    if (!r)
      return {};
    return DenseElementsAttr::get(resultType, ArrayRef<Out>(*r));
  }
  if (resultType.getNumElements() > kFoldLimit)
    return {};
  SmallVector<int64_t> li =
      broadcastIndices(lhs.getType().getShape(), resultType.getShape());
  SmallVector<int64_t> ri =
      broadcastIndices(rhs.getType().getShape(), resultType.getShape());
  auto lv = lhs.getValues<In>();
  auto rv = rhs.getValues<In>();
  SmallVector<Out> out;
  for (auto [l, r] : llvm::zip_equal(li, ri)) {
    auto v = fn(lv[l], rv[r]);
    if (!v)
      return {};
    out.push_back(*v);
  }
  return DenseElementsAttr::get(resultType, out);
}

/// Folds a binary arithmetic op: `floatFn` for floats, `intFn` for integers
/// (either may be null when the op does not apply to that kind).
static Attribute foldBinary(Attribute lhs, Attribute rhs, Type resultType,
                            FloatFn2 floatFn, IntFn2 intFn) {
  auto type = cast<ShapedType>(resultType);
  if (isa<FloatType>(type.getElementType()))
    return floatFn ? foldBroadcast<APFloat>(lhs, rhs, type, floatFn)
                   : Attribute();
  return intFn ? foldBroadcast<APInt>(lhs, rhs, type, intFn) : Attribute();
}

/// Returns `value` if its type is the op's result type (so that an identity
/// does not drop a broadcast).
static OpFoldResult ifSameType(Value value, Type resultType) {
  return value.getType() == resultType ? OpFoldResult(value) : OpFoldResult();
}

//===----------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------===//

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValueAttr(); }

//===----------------------------------------------------------------------===//
// Unary ops
//===----------------------------------------------------------------------===//

OpFoldResult NegOp::fold(FoldAdaptor adaptor) {
  if (auto inner = getOperand().getDefiningOp<NegOp>())
    return inner.getOperand();
  return foldUnary(
      adaptor.getOperand(),
      [](const APFloat &x) -> std::optional<APFloat> { return -x; },
      [](const APInt &x) -> std::optional<APInt> { return -x; });
}

OpFoldResult AbsOp::fold(FoldAdaptor adaptor) {
  if (auto inner = getOperand().getDefiningOp<AbsOp>())
    return inner.getResult();
  return foldUnary(
      adaptor.getOperand(),
      [](const APFloat &x) -> std::optional<APFloat> { return abs(x); },
      [](const APInt &x) -> std::optional<APInt> { return x.abs(); });
}

OpFoldResult ExpOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::exp(x); });
}
OpFoldResult LogOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::log(x); });
}
OpFoldResult TanOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::tan(x); });
}
OpFoldResult AsinOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::asin(x); });
}
OpFoldResult AcosOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::acos(x); });
}
OpFoldResult AtanOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::atan(x); });
}
OpFoldResult SinhOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::sinh(x); });
}
OpFoldResult CoshOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::cosh(x); });
}
OpFoldResult AsinhOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::asinh(x); });
}
OpFoldResult AcoshOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::acosh(x); });
}
OpFoldResult AtanhOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::atanh(x); });
}
OpFoldResult ErfOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::erf(x); });
}

OpFoldResult LgammaOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::lgamma(x); });
}
// digamma and erfinv have no C++ library function: constants go through
// the lowering's expansion like every other value (one algorithm).
OpFoldResult DigammaOp::fold(FoldAdaptor) { return {}; }
OpFoldResult ErfinvOp::fold(FoldAdaptor) { return {}; }

OpFoldResult ErfcOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::erfc(x); });
}
OpFoldResult Log1pOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::log1p(x); });
}
OpFoldResult Expm1Op::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::expm1(x); });
}
OpFoldResult SqrtOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::sqrt(x); });
}
OpFoldResult RsqrtOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return 1.0 / std::sqrt(x); });
}
OpFoldResult TanhOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::tanh(x); });
}
OpFoldResult SigmoidOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(),
                  [](double x) { return 1.0 / (1.0 + std::exp(-x)); });
}
OpFoldResult SinOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::sin(x); });
}
OpFoldResult CosOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::cos(x); });
}
// Not folded: autodiff must still see it (the lowering makes it a copy).
OpFoldResult StopGradientOp::fold(FoldAdaptor) { return {}; }
// Only the trivial promise folds (autodiff must still see the others).
OpFoldResult KnownValueOp::fold(FoldAdaptor) {
  return getComputed() == getKnown() ? getKnown() : Value();
}
OpFoldResult FloorOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::floor(x); });
}
OpFoldResult CeilOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return std::ceil(x); });
}
OpFoldResult ReciprocalOp::fold(FoldAdaptor a) {
  return foldMath(a.getOperand(), [](double x) { return 1.0 / x; });
}

OpFoldResult ReluOp::fold(FoldAdaptor adaptor) {
  if (auto inner = getOperand().getDefiningOp<ReluOp>())
    return inner.getResult();
  return foldUnary(
      adaptor.getOperand(),
      [](const APFloat &x) -> std::optional<APFloat> {
        return x.isNegative() && !x.isNaN() ? APFloat::getZero(x.getSemantics())
                                            : x;
      },
      [](const APInt &x) -> std::optional<APInt> {
        return x.isNegative() ? APInt::getZero(x.getBitWidth()) : x;
      });
}

OpFoldResult SignOp::fold(FoldAdaptor adaptor) {
  return foldUnary(
      adaptor.getOperand(),
      [](const APFloat &x) -> std::optional<APFloat> {
        if (x.isNaN() || x.isZero())
          return x;
        return applyDouble(x, [](double v) { return v < 0 ? -1.0 : 1.0; });
      },
      [](const APInt &x) -> std::optional<APInt> {
        int64_t s = x.isNegative() ? -1 : (x.isZero() ? 0 : 1);
        return APInt(x.getBitWidth(), s, /*isSigned=*/true);
      });
}

OpFoldResult SquareOp::fold(FoldAdaptor adaptor) {
  return foldUnary(
      adaptor.getOperand(),
      [](const APFloat &x) -> std::optional<APFloat> { return x * x; },
      [](const APInt &x) -> std::optional<APInt> { return x * x; });
}

OpFoldResult LogicalNotOp::fold(FoldAdaptor adaptor) {
  if (auto inner = getOperand().getDefiningOp<LogicalNotOp>())
    return inner.getOperand();
  return foldUnary(adaptor.getOperand(), nullptr,
                   [](const APInt &x) -> std::optional<APInt> { return ~x; });
}

OpFoldResult BitwiseNotOp::fold(FoldAdaptor adaptor) {
  if (auto inner = getOperand().getDefiningOp<BitwiseNotOp>())
    return inner.getOperand();
  return foldUnary(adaptor.getOperand(), nullptr,
                   [](const APInt &x) -> std::optional<APInt> { return ~x; });
}

//===----------------------------------------------------------------------===//
// Binary ops
//===----------------------------------------------------------------------===//

OpFoldResult AddOp::fold(FoldAdaptor adaptor) {
  if (isSplatOf(adaptor.getRhs(), 0))
    if (OpFoldResult r = ifSameType(getLhs(), getType()))
      return r;
  if (isSplatOf(adaptor.getLhs(), 0))
    if (OpFoldResult r = ifSameType(getRhs(), getType()))
      return r;
  return foldBinary(
      adaptor.getLhs(), adaptor.getRhs(), getType(),
      [](const APFloat &a, const APFloat &b) -> std::optional<APFloat> {
        return a + b;
      },
      [](const APInt &a, const APInt &b) -> std::optional<APInt> {
        return a + b;
      });
}

OpFoldResult SubOp::fold(FoldAdaptor adaptor) {
  if (isSplatOf(adaptor.getRhs(), 0))
    if (OpFoldResult r = ifSameType(getLhs(), getType()))
      return r;
  return foldBinary(
      adaptor.getLhs(), adaptor.getRhs(), getType(),
      [](const APFloat &a, const APFloat &b) -> std::optional<APFloat> {
        return a - b;
      },
      [](const APInt &a, const APInt &b) -> std::optional<APInt> {
        return a - b;
      });
}

OpFoldResult MulOp::fold(FoldAdaptor adaptor) {
  if (isSplatOf(adaptor.getRhs(), 1))
    if (OpFoldResult r = ifSameType(getLhs(), getType()))
      return r;
  if (isSplatOf(adaptor.getLhs(), 1))
    if (OpFoldResult r = ifSameType(getRhs(), getType()))
      return r;
  return foldBinary(
      adaptor.getLhs(), adaptor.getRhs(), getType(),
      [](const APFloat &a, const APFloat &b) -> std::optional<APFloat> {
        return a * b;
      },
      [](const APInt &a, const APInt &b) -> std::optional<APInt> {
        return a * b;
      });
}

OpFoldResult DivOp::fold(FoldAdaptor adaptor) {
  if (isSplatOf(adaptor.getRhs(), 1))
    if (OpFoldResult r = ifSameType(getLhs(), getType()))
      return r;
  return foldBinary(
      adaptor.getLhs(), adaptor.getRhs(), getType(),
      [](const APFloat &a, const APFloat &b) -> std::optional<APFloat> {
        return a / b;
      },
      [](const APInt &a, const APInt &b) -> std::optional<APInt> {
        // Division by zero and INT_MIN / -1 are left for run time.
        if (b.isZero() || (a.isMinSignedValue() && b.isAllOnes()))
          return std::nullopt;
        return a.sdiv(b);
      });
}

OpFoldResult RemOp::fold(FoldAdaptor adaptor) {
  return foldBinary(
      adaptor.getLhs(), adaptor.getRhs(), getType(),
      [](const APFloat &a, const APFloat &b) -> std::optional<APFloat> {
        APFloat r = a;
        r.mod(b); // fmod: exact
        return r;
      },
      [](const APInt &a, const APInt &b) -> std::optional<APInt> {
        if (b.isZero())
          return a;
        if (b.isAllOnes())
          return APInt::getZero(a.getBitWidth());
        return a.srem(b);
      });
}

/// fn of two floats computed in double, rounded to the operands' type.
static APFloat inDouble(const APFloat &a, const APFloat &b,
                        double (*fn)(double, double)) {
  APFloat r(fn(a.convertToDouble(), b.convertToDouble()));
  bool losesInfo = false;
  r.convert(a.getSemantics(), APFloat::rmNearestTiesToEven, &losesInfo);
  return r;
}

OpFoldResult PowOp::fold(FoldAdaptor adaptor) {
  if (isSplatOf(adaptor.getRhs(), 1))
    if (OpFoldResult r = ifSameType(getLhs(), getType()))
      return r;
  return foldBinary(
      adaptor.getLhs(), adaptor.getRhs(), getType(),
      [](const APFloat &a, const APFloat &b) -> std::optional<APFloat> {
        return inDouble(a, b, [](double x, double y) { return std::pow(x, y); });
      },
      [](const APInt &a, const APInt &b) -> std::optional<APInt> {
        if (b.isNegative())
          return std::nullopt; // integer x^-n is left for run time
        APInt result(a.getBitWidth(), 1), base = a;
        for (uint64_t e = b.getZExtValue(); e; e >>= 1, base *= base)
          if (e & 1)
            result *= base;
        return result;
      });
}

OpFoldResult Atan2Op::fold(FoldAdaptor adaptor) {
  return foldBinary(
      adaptor.getLhs(), adaptor.getRhs(), getType(),
      [](const APFloat &a, const APFloat &b) -> std::optional<APFloat> {
        return inDouble(a, b, [](double x, double y) { return std::atan2(x, y); });
      },
      nullptr);
}

OpFoldResult MaximumOp::fold(FoldAdaptor adaptor) {
  if (getLhs() == getRhs())
    return ifSameType(getLhs(), getType());
  return foldBinary(
      adaptor.getLhs(), adaptor.getRhs(), getType(),
      [](const APFloat &a, const APFloat &b) -> std::optional<APFloat> {
        return maximum(a, b);
      },
      [](const APInt &a, const APInt &b) -> std::optional<APInt> {
        return llvm::APIntOps::smax(a, b);
      });
}

OpFoldResult MinimumOp::fold(FoldAdaptor adaptor) {
  if (getLhs() == getRhs())
    return ifSameType(getLhs(), getType());
  return foldBinary(
      adaptor.getLhs(), adaptor.getRhs(), getType(),
      [](const APFloat &a, const APFloat &b) -> std::optional<APFloat> {
        return minimum(a, b);
      },
      [](const APInt &a, const APInt &b) -> std::optional<APInt> {
        return llvm::APIntOps::smin(a, b);
      });
}

OpFoldResult LogicalAndOp::fold(FoldAdaptor adaptor) {
  if (isSplatOf(adaptor.getRhs(), 1))
    if (OpFoldResult r = ifSameType(getLhs(), getType()))
      return r;
  return foldBinary(adaptor.getLhs(), adaptor.getRhs(), getType(), nullptr,
                    [](const APInt &a, const APInt &b) -> std::optional<APInt> {
                      return a & b;
                    });
}

OpFoldResult LogicalOrOp::fold(FoldAdaptor adaptor) {
  if (isSplatOf(adaptor.getRhs(), 0))
    if (OpFoldResult r = ifSameType(getLhs(), getType()))
      return r;
  return foldBinary(adaptor.getLhs(), adaptor.getRhs(), getType(), nullptr,
                    [](const APInt &a, const APInt &b) -> std::optional<APInt> {
                      return a | b;
                    });
}

OpFoldResult BitwiseAndOp::fold(FoldAdaptor adaptor) {
  if (getLhs() == getRhs())
    return ifSameType(getLhs(), getType());
  if (isSplatOf(adaptor.getRhs(), -1))
    if (OpFoldResult r = ifSameType(getLhs(), getType()))
      return r;
  return foldBinary(adaptor.getLhs(), adaptor.getRhs(), getType(), nullptr,
                    [](const APInt &a, const APInt &b) -> std::optional<APInt> {
                      return a & b;
                    });
}

OpFoldResult BitwiseOrOp::fold(FoldAdaptor adaptor) {
  if (getLhs() == getRhs())
    return ifSameType(getLhs(), getType());
  if (isSplatOf(adaptor.getRhs(), 0))
    if (OpFoldResult r = ifSameType(getLhs(), getType()))
      return r;
  return foldBinary(adaptor.getLhs(), adaptor.getRhs(), getType(), nullptr,
                    [](const APInt &a, const APInt &b) -> std::optional<APInt> {
                      return a | b;
                    });
}

OpFoldResult BitwiseXorOp::fold(FoldAdaptor adaptor) {
  if (isSplatOf(adaptor.getRhs(), 0))
    if (OpFoldResult r = ifSameType(getLhs(), getType()))
      return r;
  return foldBinary(adaptor.getLhs(), adaptor.getRhs(), getType(), nullptr,
                    [](const APInt &a, const APInt &b) -> std::optional<APInt> {
                      return a ^ b;
                    });
}

/// The shifts' folds follow their lowering: an amount outside [0, width),
/// read as unsigned, gives `outOfRange(x)`.
template <typename Shift, typename OutOfRange>
static OpFoldResult foldShift(Value lhs, Attribute lhsValue, Attribute rhsValue,
                              Type type, Shift shift, OutOfRange outOfRange) {
  if (isSplatOf(rhsValue, 0))
    if (OpFoldResult r = ifSameType(lhs, type))
      return r;
  return foldBinary(lhsValue, rhsValue, type, nullptr,
                    [&](const APInt &a, const APInt &b) -> std::optional<APInt> {
                      if (b.uge(a.getBitWidth()))
                        return outOfRange(a);
                      return shift(a, static_cast<unsigned>(b.getZExtValue()));
                    });
}

OpFoldResult ShiftLeftOp::fold(FoldAdaptor adaptor) {
  return foldShift(
      getLhs(), adaptor.getLhs(), adaptor.getRhs(), getType(),
      [](const APInt &a, unsigned n) { return a.shl(n); },
      [](const APInt &a) { return APInt::getZero(a.getBitWidth()); });
}

OpFoldResult ShiftRightLogicalOp::fold(FoldAdaptor adaptor) {
  return foldShift(
      getLhs(), adaptor.getLhs(), adaptor.getRhs(), getType(),
      [](const APInt &a, unsigned n) { return a.lshr(n); },
      [](const APInt &a) { return APInt::getZero(a.getBitWidth()); });
}

OpFoldResult ShiftRightArithmeticOp::fold(FoldAdaptor adaptor) {
  return foldShift(
      getLhs(), adaptor.getLhs(), adaptor.getRhs(), getType(),
      [](const APInt &a, unsigned n) { return a.ashr(n); },
      [](const APInt &a) { return a.ashr(a.getBitWidth() - 1); });
}

/// Evaluates a comparison given the ordering of two values.
static bool compareResult(CompareDirection direction, bool unordered, bool less,
                          bool equal) {
  if (unordered) // NaN involved: only `ne` holds
    return direction == CompareDirection::ne;
  switch (direction) {
  case CompareDirection::eq:
    return equal;
  case CompareDirection::ne:
    return !equal;
  case CompareDirection::lt:
    return less;
  case CompareDirection::le:
    return less || equal;
  case CompareDirection::gt:
    return !less && !equal;
  case CompareDirection::ge:
    return !less;
  }
  llvm_unreachable("unknown comparison");
}

OpFoldResult CompareOp::fold(FoldAdaptor adaptor) {
  auto type = cast<ShapedType>(getType());
  CompareDirection direction = getDirection();
  if (isa<FloatType>(getLhs().getType().getElementType()))
    return foldBroadcast<APFloat>(
        adaptor.getLhs(), adaptor.getRhs(), type,
        [&](const APFloat &a, const APFloat &b) -> std::optional<APInt> {
          APFloat::cmpResult c = a.compare(b);
          return APInt(1, compareResult(direction, c == APFloat::cmpUnordered,
                                        c == APFloat::cmpLessThan,
                                        c == APFloat::cmpEqual));
        });
  bool isBool = getLhs().getType().getElementType().isInteger(1);
  return foldBroadcast<APInt>(
      adaptor.getLhs(), adaptor.getRhs(), type,
      [&](const APInt &a, const APInt &b) -> std::optional<APInt> {
        bool less = isBool ? a.ult(b) : a.slt(b);
        return APInt(1, compareResult(direction, false, less, a == b));
      });
}

OpFoldResult SelectOp::fold(FoldAdaptor adaptor) {
  if (getOnTrue() == getOnFalse())
    return ifSameType(getOnTrue(), getType());
  if (isSplatOf(adaptor.getCond(), 1))
    return ifSameType(getOnTrue(), getType());
  if (isSplatOf(adaptor.getCond(), 0))
    return ifSameType(getOnFalse(), getType());
  return {};
}

OpFoldResult CastOp::fold(FoldAdaptor adaptor) {
  if (getInput().getType() == getType())
    return getInput();
  auto attr = dyn_cast_if_present<DenseElementsAttr>(adaptor.getInput());
  if (!attr || (!attr.isSplat() && attr.getNumElements() > kFoldLimit))
    return {};
  Type from = attr.getElementType(), to = getType().getElementType();
  auto toFloat = dyn_cast<FloatType>(to);
  // (Unsigned storage types, or a flag that reads a side as unsigned.)
  bool fromUnsigned = from.isUnsignedInteger() || getUnsignedInput();
  bool toUnsigned = to.isUnsignedInteger() || getUnsignedResult();
  auto convert = [&](auto value) -> std::optional<Attribute> {
    // value is APFloat or APInt; produce an attribute of type `to`.
    using V = std::decay_t<decltype(value)>;
    if constexpr (std::is_same_v<V, APFloat>) {
      if (toFloat) {
        bool losesInfo = false;
        APFloat r = value;
        r.convert(toFloat.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                  &losesInfo);
        return FloatAttr::get(to, r);
      }
      unsigned width = to.getIntOrFloatBitWidth();
      if (width == 1)
        return IntegerAttr::get(to, APInt(1, !value.isZero()));
      // As the lowering: NaN is 0, values beyond the type saturate.
      if (value.isNaN())
        return IntegerAttr::get(to, APInt(width, 0));
      APSInt r(width, /*isUnsigned=*/toUnsigned);
      bool exact = false;
      if (value.isInfinity() ||
          (value.convertToInteger(r, APFloat::rmTowardZero, &exact) &
           APFloat::opInvalidOp))
        return IntegerAttr::get(
            to, toUnsigned ? (value.isNegative() ? APInt(width, 0)
                                                 : APInt::getMaxValue(width))
                           : (value.isNegative() ? APInt::getSignedMinValue(width)
                                                 : APInt::getSignedMaxValue(width)));
      return IntegerAttr::get(to, r);
    } else {
      bool zeroExtend = from.isInteger(1) || fromUnsigned;
      if (toFloat) {
        APFloat r(toFloat.getFloatSemantics());
        r.convertFromAPInt(value, /*isSigned=*/!zeroExtend,
                           APFloat::rmNearestTiesToEven);
        return FloatAttr::get(to, r);
      }
      unsigned width = to.getIntOrFloatBitWidth();
      if (width == 1)
        return IntegerAttr::get(to, APInt(1, !value.isZero()));
      return IntegerAttr::get(to, zeroExtend ? value.zextOrTrunc(width)
                                             : value.sextOrTrunc(width));
    }
  };
  SmallVector<Attribute> out;
  auto append = [&](auto values) -> bool {
    for (auto v : values) {
      std::optional<Attribute> r = convert(v);
      if (!r)
        return false;
      out.push_back(*r);
      if (attr.isSplat())
        break;
    }
    return true;
  };
  bool ok = isa<FloatType>(from) ? append(attr.getValues<APFloat>())
                                 : append(attr.getValues<APInt>());
  if (!ok)
    return {};
  if (attr.isSplat())
    return DenseElementsAttr::get(getType(), out.front());
  return DenseElementsAttr::get(getType(), out);
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

/// A reduction over no axes is the identity.
template <typename OpTy>
static OpFoldResult foldReduce(OpTy op) {
  if (op.getAxes().empty())
    return ifSameType(op.getInput(), op.getType());
  return {};
}

OpFoldResult ReduceSumOp::fold(FoldAdaptor) { return foldReduce(*this); }
OpFoldResult ReduceMeanOp::fold(FoldAdaptor) { return foldReduce(*this); }
OpFoldResult ReduceMaxOp::fold(FoldAdaptor) { return foldReduce(*this); }
OpFoldResult ReduceMinOp::fold(FoldAdaptor) { return foldReduce(*this); }
OpFoldResult ReduceProdOp::fold(FoldAdaptor) { return foldReduce(*this); }

//===----------------------------------------------------------------------===//
// Shape manipulation
//===----------------------------------------------------------------------===//

OpFoldResult ReshapeOp::fold(FoldAdaptor adaptor) {
  if (getInput().getType() == getType())
    return getInput();
  // reshape(reshape(x)) -> reshape(x): only the final shape matters, unless
  // the inner one checks a count at run time (an open input, or `like`).
  if (auto inner = getInput().getDefiningOp<ReshapeOp>();
      inner && !inner.getLike() && inner.getInput().getType().hasStaticShape()) {
    getInputMutable().assign(inner.getInput());
    return getResult();
  }
  if (auto attr = dyn_cast_if_present<DenseElementsAttr>(adaptor.getInput()))
    if (getType().hasStaticShape())
      return attr.reshape(getType());
  return {};
}

OpFoldResult TransposeOp::fold(FoldAdaptor adaptor) {
  ArrayRef<int64_t> perm = getPermutation();
  if (llvm::equal(perm, llvm::seq<int64_t>(0, perm.size())))
    return ifSameType(getInput(), getType());
  // transpose(transpose(x, p), q) -> transpose(x, p o q).
  if (auto inner = getInput().getDefiningOp<TransposeOp>()) {
    SmallVector<int64_t> composed;
    for (int64_t q : perm)
      composed.push_back(inner.getPermutation()[q]);
    getInputMutable().assign(inner.getInput());
    setPermutation(composed);
    return getResult();
  }
  if (auto attr = dyn_cast_if_present<DenseElementsAttr>(adaptor.getInput()))
    if (attr.isSplat() && getType().hasStaticShape())
      return attr.resizeSplat(getType());
  return {};
}

OpFoldResult BroadcastToOp::fold(FoldAdaptor adaptor) {
  if (getInput().getType() == getType())
    return getInput();
  if (auto attr = dyn_cast_if_present<DenseElementsAttr>(adaptor.getInput()))
    if (attr.isSplat() && getType().hasStaticShape())
      return attr.resizeSplat(getType());
  return {};
}

OpFoldResult DimOp::fold(FoldAdaptor) {
  auto type = cast<RankedTensorType>(getInput().getType());
  int64_t axis = static_cast<int64_t>(getAxis());
  if (axis < 0 || axis >= type.getRank() || type.isDynamicDim(axis))
    return {};
  return DenseElementsAttr::get(cast<ShapedType>(getType()),
                                APInt(64, type.getDimSize(axis)));
}

OpFoldResult ConcatOp::fold(FoldAdaptor) {
  if (getInputs().size() == 1)
    return ifSameType(getInputs().front(), getType());
  return {};
}

OpFoldResult SliceOp::fold(FoldAdaptor adaptor) {
  // Everything taken: the whole of every dimension, or a static extent
  // from 0 in steps of 1.
  ArrayRef<int64_t> shape = getInput().getType().getShape();
  if (getInput().getType() == getType() &&
      llvm::all_of(llvm::seq<size_t>(0, shape.size()), [&](size_t d) {
        return getStart()[d] == 0 && getStride()[d] == 1 &&
               (getLimit()[d] == -1 || getLimit()[d] == shape[d]);
      }))
    return getInput();
  if (auto attr = dyn_cast_if_present<DenseElementsAttr>(adaptor.getInput()))
    if (attr.isSplat() && getType().hasStaticShape())
      return attr.resizeSplat(getType());
  return {};
}

OpFoldResult PadOp::fold(FoldAdaptor) {
  auto isZero = [](int64_t v) { return v == 0; };
  if (llvm::all_of(getLow(), isZero) && llvm::all_of(getHigh(), isZero))
    return ifSameType(getInput(), getType());
  return {};
}

//===----------------------------------------------------------------------===//
// Canonicalization patterns
//===----------------------------------------------------------------------===//

/// expand_dims and squeeze only move dimensions of extent 1: with static
/// shapes they are reshapes, which fold with neighbouring reshapes.
template <typename OpTy>
static LogicalResult toReshape(OpTy op, PatternRewriter &rewriter) {
  if (!op.getType().hasStaticShape())
    return failure();
  rewriter.replaceOpWithNewOp<ReshapeOp>(op, op.getType(), op.getInput());
  return success();
}

void ExpandDimsOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                               MLIRContext *) {
  results.add(toReshape<ExpandDimsOp>);
}

void SqueezeOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                            MLIRContext *) {
  results.add(toReshape<SqueezeOp>);
}
