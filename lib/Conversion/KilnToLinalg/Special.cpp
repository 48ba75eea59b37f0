//===- Special.cpp - Special functions as scalar arithmetic ---------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// lgamma, digamma, polygamma and erfinv have no op in the math dialect (and
// libdevice has no digamma): each is expanded here into arith and math ops
// on one element, so one body serves the CPU and the GPU and is vectorized
// like any elementwise chain (no branch, no loop). 16-bit floats are
// computed in f32 (the coefficients and sums need its precision).
//
//   lgamma, digamma: the Lanczos approximation (g = 7, nine terms, about
//     1e-15 relative in f64) of log Gamma(z + 1) and of its derivative, and
//     the reflection formulas below 1/2.
//   polygamma(n, x), n >= 1: (-1)^(n+1) n! zeta(n + 1, x), x stepped up by
//     the recurrence to 10 + n (unrolled, each step masked), then the
//     Euler-Maclaurin expansion of the Hurwitz zeta function; negative x
//     through the n-th derivative of the reflection psi(1-x) - psi(x) =
//     pi cot(pi x), a polynomial in cot(pi x) built here.
//   erfinv: Giles' single-precision approximation ("Approximating the erfinv
//     function", GPU Computing Gems, 2011), then for f64 Newton steps on
//     erf (on ln erfc beyond 1/2, where 1 - |x| is exact).
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include <cmath>

using namespace mlir;
using namespace mlir::kiln;
using namespace mlir::kiln::lowering;

namespace {

constexpr double kPi = 3.14159265358979323846264338327950288;

/// Scalar arithmetic on values of one float type.
struct Scalar {
  OpBuilder &b;
  Location loc;
  Type type;

  Value c(double v) { return scalarConstant(b, loc, type, v); }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value neg(Value x) { return arith::NegFOp::create(b, loc, x); }
  Value cmp(arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b, loc, p, x, y);
  }
  Value lt(Value x, Value y) { return cmp(arith::CmpFPredicate::OLT, x, y); }
  Value le(Value x, Value y) { return cmp(arith::CmpFPredicate::OLE, x, y); }
  Value gt(Value x, Value y) { return cmp(arith::CmpFPredicate::OGT, x, y); }
  Value eq(Value x, Value y) { return cmp(arith::CmpFPredicate::OEQ, x, y); }
  Value both(Value p, Value q) { return arith::AndIOp::create(b, loc, p, q); }
  Value select(Value p, Value x, Value y) {
    return arith::SelectOp::create(b, loc, p, x, y);
  }
  Value log(Value x) { return math::LogOp::create(b, loc, x); }
  Value log1p(Value x) { return math::Log1pOp::create(b, loc, x); }
  Value exp(Value x) { return math::ExpOp::create(b, loc, x); }
  Value sin(Value x) { return math::SinOp::create(b, loc, x); }
  Value cos(Value x) { return math::CosOp::create(b, loc, x); }
  Value sqrt(Value x) { return math::SqrtOp::create(b, loc, x); }
  Value abs(Value x) { return math::AbsFOp::create(b, loc, x); }
  Value floor(Value x) { return math::FloorOp::create(b, loc, x); }
  Value erf(Value x) { return math::ErfOp::create(b, loc, x); }
  Value erfc(Value x) { return math::ErfcOp::create(b, loc, x); }
  Value inf() { return c(std::numeric_limits<double>::infinity()); }
  Value nan() { return c(std::numeric_limits<double>::quiet_NaN()); }
  Value isFinite(Value x) { return lt(abs(x), inf()); }
  Value isInf(Value x) { return eq(abs(x), inf()); }
  /// x^k for a known k >= 1 (binary powering).
  Value pow(Value x, int64_t k) {
    Value result;
    for (Value p = x; k; k >>= 1) {
      if (k & 1)
        result = result ? mul(result, p) : p;
      if (k > 1)
        p = mul(p, p);
    }
    return result;
  }
  /// sum of coefficients[i] * x^i (Horner).
  Value poly(ArrayRef<double> coefficients, Value x) {
    Value acc = c(coefficients.back());
    for (double k : llvm::reverse(coefficients.drop_back()))
      acc = add(mul(acc, x), c(k));
    return acc;
  }
  /// Whether x is 0, -1, -2, ... (a pole of the gamma family).
  Value isPole(Value x) { return both(le(x, c(0)), eq(x, floor(x))); }
};

/// fn(x) computed in x's type, or in a float of at least `minWidth` bits
/// (f32 or f64) when x's is narrower, rounded back.
Value inWideType(OpBuilder &b, Location loc, Value x,
                 llvm::function_ref<Value(Scalar &, Value)> fn,
                 unsigned minWidth = 32) {
  auto type = cast<FloatType>(x.getType());
  if (type.getWidth() >= minWidth) {
    Scalar s{b, loc, type};
    return fn(s, x);
  }
  FloatType wideType = minWidth > 32 ? FloatType(b.getF64Type())
                                     : FloatType(b.getF32Type());
  Scalar s{b, loc, wideType};
  Value wide = arith::ExtFOp::create(b, loc, wideType, x);
  return arith::TruncFOp::create(b, loc, type, fn(s, wide));
}

// Lanczos' approximation with g = 7 and nine terms:
// Gamma(z + 1) = sqrt(2 pi) t^(z + 1/2) e^-t A(z), t = z + g + 1/2,
// A(z) = c0 + sum_i c_i / (z + i).
constexpr double kLanczosG = 7.0;
constexpr double kLanczosC0 = 0.99999999999980993227684700473478;
constexpr double kLanczosC[] = {
    676.520368121885098567009190444019, -1259.13921672240287047156078755283,
    771.3234287776530788486528258894,   -176.61502916214059906584551354,
    12.507343278686904814458936853,     -0.13857109526572011689554707,
    9.984369578019570859563e-6,         1.50563273514931155834e-7};

/// z for the Lanczos sums of x (x - 1, or -x where x < 1/2 is reflected),
/// and whether x is reflected.
std::pair<Value, Value> lanczosArgument(Scalar &s, Value x) {
  Value reflect = s.lt(x, s.c(0.5));
  return {s.select(reflect, s.neg(x), s.sub(x, s.c(1))), reflect};
}

/// ln t for t = z + g + 1/2, accurate for small z.
Value lanczosLogT(Scalar &s, Value z) {
  double half = kLanczosG + 0.5;
  return s.add(s.c(std::log(half)), s.log1p(s.div(z, s.c(half))));
}

Value lgamma(Scalar &s, Value x) {
  auto [z, reflect] = lanczosArgument(s, x);
  Value sum = s.c(kLanczosC0);
  for (auto [i, k] : llvm::enumerate(kLanczosC))
    sum = s.add(sum, s.div(s.c(k), s.add(z, s.c(static_cast<double>(i) + 1))));
  Value t = s.add(z, s.c(kLanczosG + 0.5));
  Value logT = lanczosLogT(s, z);
  // ln Gamma(z + 1) = ln sqrt(2 pi) + (z + 1/2) ln t - t + ln A(z)
  Value logY = s.add(
      s.add(s.c(0.5 * std::log(2 * kPi)),
            s.mul(s.sub(s.add(z, s.c(0.5)), s.div(t, logT)), logT)),
      s.log(sum));
  // Below 1/2: ln|Gamma(x)| = ln pi - ln|sin(pi x)| - ln Gamma(1 - x), the
  // sine's argument reduced to [0, 1/2] (it is 0 at the poles: +inf).
  Value magnitude = s.abs(x);
  Value fraction = s.sub(magnitude, s.floor(magnitude));
  Value reduced = s.select(s.gt(fraction, s.c(0.5)), s.sub(s.c(1), fraction),
                           fraction);
  Value logSin = s.log(s.sin(s.mul(s.c(kPi), reduced)));
  Value reflected =
      s.select(s.isFinite(logSin), s.sub(s.sub(s.c(std::log(kPi)), logSin), logY),
               s.neg(logSin));
  Value result = s.select(reflect, reflected, logY);
  return s.select(s.isInf(x), s.inf(), result);
}

Value digamma(Scalar &s, Value x) {
  auto [z, reflect] = lanczosArgument(s, x);
  // d/dz ln A(z) = num / denom.
  Value num = s.c(0), denom = s.c(kLanczosC0);
  for (auto [i, k] : llvm::enumerate(kLanczosC)) {
    Value d = s.add(z, s.c(static_cast<double>(i) + 1));
    num = s.sub(num, s.div(s.c(k), s.mul(d, d)));
    denom = s.add(denom, s.div(s.c(k), d));
  }
  Value t = s.add(z, s.c(kLanczosG + 0.5));
  Value y = s.sub(s.add(lanczosLogT(s, z), s.div(num, denom)),
                  s.div(s.c(kLanczosG), t));
  // Below 1/2: psi(x) = psi(1 - x) - pi cot(pi x), with x moved by whole
  // numbers into [-1/2, 1/2) first (cot has period 1 there).
  Value reduced = s.sub(x, s.floor(s.add(x, s.c(0.5))));
  Value angle = s.mul(s.c(kPi), reduced);
  Value reflected =
      s.sub(y, s.div(s.mul(s.c(kPi), s.cos(angle)), s.sin(angle)));
  Value result = s.select(reflect, reflected, y);
  return s.select(s.isPole(x), s.nan(), result);
}

/// Q_n with d^n/du^n cot(u) = Q_n(cot u): Q_0(c) = c, Q_{k+1}(c) =
/// -(1 + c^2) Q_k'(c). Coefficients from the constant term up.
SmallVector<double> cotDerivative(int64_t n) {
  SmallVector<double> q = {0.0, 1.0};
  for (int64_t k = 0; k < n; ++k) {
    SmallVector<double> derivative(std::max<size_t>(q.size() - 1, 1), 0.0);
    for (size_t i = 1; i < q.size(); ++i)
      derivative[i - 1] = static_cast<double>(i) * q[i];
    SmallVector<double> next(derivative.size() + 2, 0.0);
    for (size_t i = 0; i < derivative.size(); ++i) {
      next[i] -= derivative[i];
      next[i + 2] -= derivative[i];
    }
    q = std::move(next);
  }
  return q;
}

/// zeta(n + 1, w) for w > 0: the recurrence to w >= 10 + n, unrolled with
/// masked steps, then Euler-Maclaurin with the Bernoulli numbers B2..B14.
Value hurwitzZeta(Scalar &s, Value w, int64_t n) {
  int64_t power = n + 1;
  double threshold = 10.0 + static_cast<double>(n);
  Value acc = s.c(0);
  for (int64_t step = 0; step < static_cast<int64_t>(threshold); ++step) {
    Value below = s.lt(w, s.c(threshold));
    Value term = s.pow(s.div(s.c(1), w), power);
    acc = s.select(below, s.add(acc, term), acc);
    w = s.select(below, s.add(w, s.c(1)), w);
  }
  // zeta(p, w) ~ w^(1-p) / (p-1) + w^-p / 2 + sum_k B_2k / (2k)!
  //              * p (p+1) ... (p+2k-2) * w^-(p+2k-1)
  //            = r^(p-1) [1 / (p-1) + r (1/2 + r sum_k C_k (r^2)^(k-1))]
  // (r^(p-1) first: r^p alone underflows where the result does not).
  static constexpr double bernoulli[] = {1.0 / 6,   -1.0 / 30,     1.0 / 42,
                                         -1.0 / 30, 5.0 / 66,      -691.0 / 2730,
                                         7.0 / 6};
  SmallVector<double> coefficients;
  double rising = static_cast<double>(power), factorial = 2.0;
  for (auto [k, bk] : llvm::enumerate(bernoulli)) {
    if (k > 0) {
      double j = 2.0 * static_cast<double>(k);
      rising *= (power + j - 1) * (power + j);
      factorial *= (j + 1) * (j + 2);
    }
    coefficients.push_back(bk * rising / factorial);
  }
  Value r = s.div(s.c(1), w);
  Value series = s.mul(r, s.poly(coefficients, s.mul(r, r)));
  Value bracket = s.add(s.c(1.0 / static_cast<double>(power - 1)),
                        s.mul(r, s.add(s.c(0.5), series)));
  return s.add(acc, s.mul(s.pow(r, power - 1), bracket));
}

Value polygamma(Scalar &s, Value x, int64_t n) {
  if (n == 0)
    return digamma(s, x);
  double factorial = 1.0;
  for (int64_t k = 2; k <= n; ++k)
    factorial *= static_cast<double>(k);
  double sign = (n % 2) ? 1.0 : -1.0; // (-1)^(n+1)
  // Negative x: psi^(n)(x) = (-1)^n psi^(n)(1 - x) - pi^(n+1) Q_n(cot pi x).
  Value reflect = s.lt(x, s.c(0));
  Value w = s.select(reflect, s.sub(s.c(1), x), x);
  Value direct = s.mul(s.c(sign * factorial), hurwitzZeta(s, w, n));
  Value reduced = s.sub(x, s.floor(s.add(x, s.c(0.5))));
  Value angle = s.mul(s.c(kPi), reduced);
  Value cot = s.div(s.cos(angle), s.sin(angle));
  Value cotTerm = s.mul(s.c(std::pow(kPi, static_cast<double>(n + 1))),
                        s.poly(cotDerivative(n), cot));
  Value reflected =
      s.sub(s.mul(s.c(n % 2 ? -1.0 : 1.0), direct), cotTerm);
  Value result = s.select(reflect, reflected, direct);
  // psi^(n)(+inf) = 0; at a pole both sides go to +inf for odd n and
  // to opposite infinities for even n.
  result = s.select(s.eq(x, s.inf()), s.c(0), result);
  return s.select(s.isPole(x), n % 2 ? s.inf() : s.nan(), result);
}

Value erfinv(Scalar &s, Value x) {
  // w = -ln((1 - x)(1 + x)); two polynomials in w (central) and sqrt(w)
  // (tails), each times x.
  Value w = s.neg(s.log(s.mul(s.sub(s.c(1), x), s.add(s.c(1), x))));
  static constexpr double central[] = {
      1.50140941,      0.246640727,     -0.00417768164,
      -0.00125372503,  0.00021858087,   -4.39150654e-06,
      -3.5233877e-06,  3.43273939e-07,  2.81022636e-08};
  static constexpr double tail[] = {
      2.83297682,     1.00167406,      0.00943887047,
      -0.0076224613,  0.00573950773,   -0.00367342844,
      0.00134934322,  0.000100950558,  -0.000200214257};
  Value p = s.select(s.lt(w, s.c(5)), s.poly(central, s.sub(w, s.c(2.5))),
                     s.poly(tail, s.sub(s.sqrt(w), s.c(3))));
  Value y = s.mul(p, x);
  if (cast<FloatType>(s.type).getWidth() > 32) {
    // f64: Newton steps from Giles' value (about 1e-7 relative where f32
    // inputs reach, a few percent where only f64 inputs do: 1 - |x| down
    // to 1e-16). On |x| <= 1/2, two steps on erf(y) = |x|; beyond, four
    // on ln erfc(y) = ln(1 - |x|) (1 - |x| exact, the logarithm nearly
    // quadratic in y, so the steps converge from the far tail too).
    Value magnitude = s.abs(x);
    Value start = s.abs(y);
    auto slope = [&](Value v) {
      return s.mul(s.c(2 / std::sqrt(kPi)), s.exp(s.neg(s.mul(v, v))));
    };
    Value inner = start;
    for (int i = 0; i < 2; ++i)
      inner = s.sub(inner, s.div(s.sub(s.erf(inner), magnitude), slope(inner)));
    Value outer = start;
    Value q = s.sub(s.c(1), magnitude);
    for (int i = 0; i < 4; ++i) {
      Value e = s.erfc(outer);
      outer = s.add(outer, s.div(s.mul(s.log(s.div(e, q)), e), slope(outer)));
    }
    y = math::CopySignOp::create(
        s.b, s.loc, s.select(s.le(magnitude, s.c(0.5)), inner, outer), x);
  }
  // +-1: +-inf (the polynomial's value is not).
  return s.select(s.eq(s.abs(x), s.c(1)), s.mul(x, s.inf()), y);
}

} // namespace

// lgamma and digamma in f64 for every narrower type: near their zeros (1
// and 2, 1.46) the Lanczos sums cancel terms of a few units, an absolute
// error of a few f32 ulp of those, so the f32 results would lose relative
// accuracy there.
Value lowering::lgammaOf(OpBuilder &b, Location loc, Value x) {
  return inWideType(
      b, loc, x, [](Scalar &s, Value v) { return lgamma(s, v); }, 64);
}

Value lowering::digammaOf(OpBuilder &b, Location loc, Value x) {
  return inWideType(
      b, loc, x, [](Scalar &s, Value v) { return digamma(s, v); }, 64);
}

Value lowering::polygammaOf(OpBuilder &b, Location loc, Value x, int64_t order) {
  return inWideType(b, loc, x, [&](Scalar &s, Value v) {
    return polygamma(s, v, order);
  });
}

Value lowering::erfinvOf(OpBuilder &b, Location loc, Value x) {
  return inWideType(b, loc, x, [](Scalar &s, Value v) { return erfinv(s, v); });
}
