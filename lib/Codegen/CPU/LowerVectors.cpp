//===- LowerVectors.cpp - Vector ops to register-sized operations ---------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/CPU/Passes.h"

#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <limits>

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNCPULOWERVECTORS
#include "kiln/Codegen/CPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {
struct CPULowerVectorsPass
    : public mlir::kiln::impl::KilnCPULowerVectorsBase<CPULowerVectorsPass> {
  /// exp, log, log1p and tanh on vectors of f32 become polynomial
  /// approximations built from vector arithmetic (upstream's, within a few
  /// ulp of libm), instead of one libm call per lane. Scalars keep libm.
  LogicalResult approximateVectorMath() {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns, [](StringRef name) {
      return llvm::is_contained(
          {math::ExpOp::getOperationName(), math::LogOp::getOperationName(),
           math::Log1pOp::getOperationName(),
           math::TanhOp::getOperationName()},
          name);
    });
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (isa<math::MathDialect>(op->getDialect()) &&
          op->getNumResults() == 1) {
        auto type = dyn_cast<VectorType>(op->getResult(0).getType());
        if (type && type.getElementType().isF32())
          ops.push_back(op);
      }
    });
    // The approximation of log treats subnormal inputs as the smallest
    // normal number; scaled by 2^24 first, they are normal.
    IRRewriter rewriter(&getContext());
    for (Operation *&op : ops) {
      if (auto log = dyn_cast<math::LogOp>(op))
        op = scaleSubnormals(rewriter, log);
      else if (auto exp = dyn_cast<math::ExpOp>(op))
        op = scaleSubnormalResults(rewriter, exp);
    }
    if (ops.empty())
      return success();
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
    return applyOpPatternsGreedily(ops, std::move(patterns), config);
  }

  /// log(x) as select(s, log(x * 2^24) - 24 ln 2, log(x)) with s = (|x| is
  /// subnormal); returns the new log.
  static Operation *scaleSubnormals(RewriterBase &rewriter, math::LogOp log) {
    Location loc = log.getLoc();
    Value x = log.getOperand();
    auto type = cast<VectorType>(x.getType());
    rewriter.setInsertionPoint(log);
    auto splat = [&](float value) -> Value {
      return arith::ConstantOp::create(
          rewriter, loc, DenseElementsAttr::get(type, rewriter.getF32FloatAttr(value)));
    };
    Value tiny = arith::CmpFOp::create(
        rewriter, loc, arith::CmpFPredicate::OLT, x,
        splat(std::numeric_limits<float>::min()));
    Value scaled = arith::MulFOp::create(rewriter, loc, x, splat(16777216.0f));
    Value input = arith::SelectOp::create(rewriter, loc, tiny, scaled, x);
    auto newLog = math::LogOp::create(rewriter, loc, input, log.getFastmath());
    Value shifted = arith::SubFOp::create(rewriter, loc, newLog,
                                          splat(24.0f * 0.69314718055994530942f));
    Value result =
        arith::SelectOp::create(rewriter, loc, tiny, shifted, newLog);
    rewriter.replaceOp(log, result);
    return newLog;
  }

  /// exp(x) as select(s, exp(x + 24 ln 2) * 2^-24, exp(x)) with s = (x below
  /// -87, where the result is subnormal): the approximation returns 0 there
  /// (libm returns subnormals down to about e^-103.9). Returns the new exp.
  static Operation *scaleSubnormalResults(RewriterBase &rewriter,
                                          math::ExpOp exp) {
    Location loc = exp.getLoc();
    Value x = exp.getOperand();
    auto type = cast<VectorType>(x.getType());
    rewriter.setInsertionPoint(exp);
    auto splat = [&](float value) -> Value {
      return arith::ConstantOp::create(
          rewriter, loc,
          DenseElementsAttr::get(type, rewriter.getF32FloatAttr(value)));
    };
    Value tiny = arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::OLT,
                                       x, splat(-87.0f));
    Value shifted = arith::AddFOp::create(
        rewriter, loc, x, splat(24.0f * 0.69314718055994530942f));
    Value input = arith::SelectOp::create(rewriter, loc, tiny, shifted, x);
    auto newExp = math::ExpOp::create(rewriter, loc, input, exp.getFastmath());
    Value scaled = arith::MulFOp::create(rewriter, loc, newExp,
                                         splat(1.0f / 16777216.0f));
    Value result = arith::SelectOp::create(rewriter, loc, tiny, scaled, newExp);
    rewriter.replaceOp(exp, result);
    return newExp;
  }

  void runOnOperation() override {
    MLIRContext *context = &getContext();
    if (failed(approximateVectorMath()))
      return signalPassFailure();
    // Canonicalization stays out of this set: with it, the rewrites of the
    // unrolled contraction grow without bound on large tiles.
    RewritePatternSet patterns(context);
    vector::populateVectorContractLoweringPatterns(
        patterns, vector::VectorContractLowering::OuterProduct);
    vector::populateVectorOuterProductLoweringPatterns(patterns);
    vector::populateVectorMultiReductionLoweringPatterns(
        patterns, vector::VectorMultiReductionLowering::InnerParallel);
    vector::populateVectorTransferPermutationMapLoweringPatterns(patterns);
    // Transfers of several dimensions are unrolled into one-dimensional
    // ones (not loops: a loop would keep its vector on the stack), which
    // become plain loads and stores.
    populateVectorToSCFConversionPatterns(
        patterns, VectorTransferToSCFOptions().enableFullUnroll());
    vector::populateVectorTransferLoweringPatterns(patterns,
                                                   /*maxTransferRank=*/1);
    vector::populateVectorBroadcastLoweringPatterns(patterns);
    // vector.step (from vectorized linalg.index) becomes a constant.
    vector::populateVectorStepLoweringPatterns(patterns);
    vector::populateVectorShapeCastLoweringPatterns(patterns);
    vector::populateVectorTransposeLoweringPatterns(
        patterns, vector::VectorTransposeLowering::EltWise);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
