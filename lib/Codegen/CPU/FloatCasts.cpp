//===- FloatCasts.cpp - Casts between float types round as typed ---------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-cpu-float-casts: no `contract` on float casts (so that extf(truncf)
// never folds away a rounding), and f64 -> f16/bf16 through f32 rounded to
// odd (see the pass description).
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Transforms/DialectConversion.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNCPUFLOATCASTS
#include "kiln/Codegen/CPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

/// `element`, or a vector of it shaped like `like` when that is a vector.
Type shapedLike(Type like, Type element) {
  if (auto vector = dyn_cast<VectorType>(like))
    return vector.clone(element);
  return element;
}

/// x (f64 or a vector of f64) rounded to `resultType` (f16 or bf16
/// elements): first to f32 rounding to odd, then to nearest even. Rounding
/// to odd keeps a sticky last bit for what the first step dropped, so the
/// second step rounds as if from x itself (f32 keeps at least two bits
/// more than either half type, subnormals included).
Value roundF64ToHalf(OpBuilder &b, Location loc, Value x, Type resultType) {
  Type f32 = shapedLike(x.getType(), b.getF32Type());
  Type i32 = shapedLike(x.getType(), b.getI32Type());
  TypedAttr oneAttr = b.getI32IntegerAttr(1);
  if (auto vector = dyn_cast<VectorType>(i32))
    oneAttr = DenseElementsAttr::get(vector, oneAttr);
  Value one = arith::ConstantOp::create(b, loc, oneAttr);
  Value nearest = arith::TruncFOp::create(b, loc, f32, x);
  Value back = arith::ExtFOp::create(b, loc, x.getType(), nearest);
  // Ordered: false for NaN, which keeps the NaN of the first step.
  Value inexact = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE,
                                        back, x);
  Value away = arith::CmpFOp::create(
      b, loc, arith::CmpFPredicate::OGT, math::AbsFOp::create(b, loc, back),
      math::AbsFOp::create(b, loc, x));
  // Toward zero: one step down in magnitude where rounding went away from
  // it (the bits of a float order its magnitude); then the sticky bit.
  Value bits = arith::BitcastOp::create(b, loc, i32, nearest);
  Value towardZero = arith::SelectOp::create(
      b, loc, away, arith::SubIOp::create(b, loc, bits, one), bits);
  Value odd = arith::BitcastOp::create(
      b, loc, f32, arith::OrIOp::create(b, loc, towardZero, one));
  Value rounded = arith::SelectOp::create(b, loc, inexact, odd, nearest);
  return arith::TruncFOp::create(b, loc, resultType, rounded);
}

/// `contract` removed from a cast's fast-math flags.
void dropContract(Operation *op) {
  auto flags = cast<arith::ArithFastMathInterface>(op);
  arith::FastMathFlagsAttr attr = flags.getFastMathFlagsAttr();
  if (!attr)
    return;
  arith::FastMathFlags kept =
      arith::bitEnumClear(attr.getValue(), arith::FastMathFlags::contract);
  if (kept == arith::FastMathFlags::none)
    op->removeAttr(flags.getFastMathAttrName());
  else
    op->setAttr(flags.getFastMathAttrName(),
                arith::FastMathFlagsAttr::get(op->getContext(), kept));
}

bool isBF16(Type type) { return getElementTypeOrSelf(type).isBF16(); }

/// math.fma on f16 or bf16 as one f32 fma of the widened operands, rounded
/// once (math-extend-to-supported-types leaves math.fma alone; LLVM would
/// widen an f16 one to f64 and call __truncdfhf2).
void widenHalfFmas(Operation *root) {
  SmallVector<math::FmaOp> fmas;
  root->walk([&](math::FmaOp fma) {
    if (isa<Float16Type, BFloat16Type>(getElementTypeOrSelf(fma.getType())))
      fmas.push_back(fma);
  });
  for (math::FmaOp fma : fmas) {
    OpBuilder b(fma);
    Type f32 = shapedLike(fma.getType(), b.getF32Type());
    SmallVector<Value, 3> wide;
    for (Value operand : fma->getOperands())
      wide.push_back(arith::ExtFOp::create(b, fma.getLoc(), f32, operand));
    Value product = math::FmaOp::create(b, fma.getLoc(), wide[0], wide[1],
                                        wide[2], fma.getFastmathAttr());
    fma.replaceAllUsesWith(
        arith::TruncFOp::create(b, fma.getLoc(), fma.getType(), product)
            .getResult());
    fma.erase();
  }
}

struct CPUFloatCastsPass
    : public mlir::kiln::impl::KilnCPUFloatCastsBase<CPUFloatCastsPass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    widenHalfFmas(getOperation());
    // bf16 arithmetic in f32, each result rounded (LLVM would promote it
    // the same way, calling __truncsfbf2 for the rounding).
    TypeConverter converter;
    arith::populateEmulateUnsupportedFloatsConversions(
        converter, {BFloat16Type::get(context)}, Float32Type::get(context));
    ConversionTarget target(*context);
    arith::populateEmulateUnsupportedFloatsLegality(target, converter);
    RewritePatternSet emulate(context);
    arith::populateEmulateUnsupportedFloatsPatterns(emulate, converter);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(emulate))))
      return signalPassFailure();

    SmallVector<arith::TruncFOp> toHalf;
    getOperation().walk([&](Operation *op) {
      if (!isa<arith::ExtFOp, arith::TruncFOp>(op))
        return;
      dropContract(op);
      auto trunc = dyn_cast<arith::TruncFOp>(op);
      if (trunc && getElementTypeOrSelf(trunc.getIn().getType()).isF64() &&
          isa<Float16Type, BFloat16Type>(getElementTypeOrSelf(trunc.getType())))
        toHalf.push_back(trunc);
    });
    for (arith::TruncFOp trunc : toHalf) {
      OpBuilder b(trunc);
      trunc.replaceAllUsesWith(
          roundF64ToHalf(b, trunc.getLoc(), trunc.getIn(), trunc.getType()));
      trunc.erase();
    }

    // f32 <-> bf16 as integer operations: x86 has an instruction for the
    // rounding only with AVX512-BF16; elsewhere LLVM calls __truncsfbf2,
    // which Debian 12's libgcc lacks (a JIT that fails to load, a library
    // with an undefined symbol).
    SmallVector<Operation *> bf16Casts;
    getOperation().walk([&](Operation *op) {
      if ((isa<arith::TruncFOp>(op) && isBF16(op->getResult(0).getType())) ||
          (isa<arith::ExtFOp>(op) && isBF16(op->getOperand(0).getType())))
        bf16Casts.push_back(op);
    });
    if (!bf16Casts.empty()) {
      RewritePatternSet expand(context);
      arith::populateExpandBFloat16Patterns(expand);
      GreedyRewriteConfig config;
      config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
      if (failed(applyOpPatternsGreedily(bf16Casts, std::move(expand),
                                         config)))
        return signalPassFailure();
    }
  }
};

} // namespace
