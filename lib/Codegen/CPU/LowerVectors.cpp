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

#include <cmath>
#include <limits>

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNCPULOWERVECTORS
#include "kiln/Codegen/CPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {
struct CPULowerVectorsPass
    : public mlir::kiln::impl::KilnCPULowerVectorsBase<CPULowerVectorsPass> {
  /// exp, log, log1p, expm1 and tanh on vectors of f32 become polynomial
  /// approximations built from vector arithmetic (upstream's, within a few
  /// ulp of libm), instead of one libm call per lane. Scalars keep libm.
  LogicalResult approximateVectorMath() {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns, [](StringRef name) {
      return llvm::is_contained(
          {math::ExpOp::getOperationName(), math::LogOp::getOperationName(),
           math::Log1pOp::getOperationName(),
           math::ExpM1Op::getOperationName(),
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
    if (ops.empty())
      return success();
    // The approximations flush subnormals: log treats subnormal inputs as
    // the smallest normal number (scaled by 2^24 first, they are normal),
    // exp returns 0 below -87 where libm returns subnormals (computed as
    // exp(x + 16.5) * e^-16.5 instead). The shift is 16.5, not a multiple
    // of ln 2, because x + 16.5 is exact for x below -87 (both multiples
    // of 2^-17, the sum in the same binade) while x + 24 ln 2 would round
    // the argument by up to 2^-18, 32 ulp of the result; e^-16.5 rounded
    // to f32 costs half an ulp.
    constexpr float kScale = 16777216.0f; // 2^24
    constexpr float kLogScale = 24.0f * 0.69314718055994530942f;
    constexpr double kExpShift = 16.5;
    IRRewriter rewriter(&getContext());
    for (Operation *&op : ops) {
      if (auto log = dyn_cast<math::LogOp>(op))
        op = rescaleTail<math::LogOp, arith::MulFOp, arith::SubFOp>(
            rewriter, log, std::numeric_limits<float>::min(), kScale,
            kLogScale);
      else if (auto exp = dyn_cast<math::ExpOp>(op))
        op = rescaleTail<math::ExpOp, arith::AddFOp, arith::MulFOp>(
            rewriter, exp, -87.0f, static_cast<float>(kExpShift),
            static_cast<float>(std::exp(-kExpShift)));
    }
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
    return applyOpPatternsGreedily(ops, std::move(patterns), config);
  }

  /// `op(x)` for vectors whose lanes below `threshold` fall outside what
  /// the approximation handles (subnormal numbers), as
  /// select(x < threshold, Out(op(In(x, in)), out), op(x)): In moves those
  /// lanes' argument into range, Out undoes it on the result. Returns the
  /// new `op`, still to be approximated.
  template <typename MathOp, typename InOp, typename OutOp>
  static Operation *rescaleTail(RewriterBase &rewriter, MathOp op,
                                float threshold, float in, float out) {
    Location loc = op.getLoc();
    Value x = op.getOperand();
    auto type = cast<VectorType>(x.getType());
    rewriter.setInsertionPoint(op);
    auto splat = [&](float value) -> Value {
      return arith::ConstantOp::create(
          rewriter, loc,
          DenseElementsAttr::get(type, rewriter.getF32FloatAttr(value)));
    };
    Value tail = arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::OLT,
                                       x, splat(threshold));
    Value moved = InOp::create(rewriter, loc, x, splat(in));
    Value input = arith::SelectOp::create(rewriter, loc, tail, moved, x);
    auto inner = MathOp::create(rewriter, loc, input, op.getFastmath());
    Value undone = OutOp::create(rewriter, loc, inner, splat(out));
    rewriter.replaceOp(
        op, arith::SelectOp::create(rewriter, loc, tail, undone, inner));
    return inner;
  }

  /// The 16 x 16 blocks of 32-bit elements that transposes are tiled into
  /// (AVX-512) become 64 two-source shuffles (upstream's unpack and
  /// 128-bit-lane shuffle sequence) instead of 256 element moves. Other
  /// shapes (the partial blocks at the edges, 8 x 8 with AVX2) keep the
  /// element-wise lowering: upstream's fallback for them, one shuffle of
  /// the flattened vector, leaves shape casts that do not lower.
  LogicalResult lowerSquareTransposes() {
    // Transposing transfers (a block's read) first become a read along the
    // memory's rows and a vector.transpose.
    {
      RewritePatternSet patterns(&getContext());
      vector::populateVectorTransferPermutationMapLoweringPatterns(patterns);
      if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
        return failure();
    }
    SmallVector<Operation *> ops;
    getOperation().walk([&](vector::TransposeOp op) {
      VectorType type = op.getSourceVectorType();
      if (type.getRank() == 2 && type.getDimSize(0) == 16 &&
          type.getDimSize(1) == 16 && !type.isScalable() &&
          type.getElementType().getIntOrFloatBitWidth() == 32)
        ops.push_back(op);
    });
    if (ops.empty())
      return success();
    RewritePatternSet patterns(&getContext());
    vector::populateVectorTransposeLoweringPatterns(
        patterns, vector::VectorTransposeLowering::Shuffle16x16);
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingOps);
    return applyOpPatternsGreedily(ops, std::move(patterns), config);
  }

  void runOnOperation() override {
    MLIRContext *context = &getContext();
    if (failed(approximateVectorMath()) || failed(lowerSquareTransposes()))
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
    // The masks of open-extent tiles: row by row, then each row a
    // comparison of the lane indices with its bound.
    vector::populateVectorMaskOpLoweringPatterns(patterns);
    vector::populateVectorMaskMaterializationPatterns(
        patterns, /*force32BitVectorIndices=*/true);
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
