//===- ControlFlow.cpp - Lowering Kiln control flow to scf
//-----------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The regions move into the scf op unchanged (their Kiln ops are lowered by
// the other patterns); only the terminators and the tensor-valued
// predicates and bounds change:
//
//   kiln.cond %p            -> scf.if (tensor.extract %p)
//   kiln.while cond/do      -> scf.while, kiln.yield %p -> scf.condition
//   kiln.for %lb to %ub     -> scf.for over index, counter as tensor<i64>
//
//===----------------------------------------------------------------------===//

#include "Common.h"

using namespace mlir;
using namespace mlir::kiln;
using namespace mlir::kiln::lowering;

namespace {

/// Replaces the kiln.yield ending `block` with scf.yield.
void replaceYield(ConversionPatternRewriter &rewriter, Block &block) {
  auto yield = cast<YieldOp>(block.getTerminator());
  rewriter.setInsertionPoint(yield);
  rewriter.replaceOpWithNewOp<scf::YieldOp>(yield, yield.getValues());
}

struct CondLowering : OpConversionPattern<CondOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(CondOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value pred = extractScalar(rewriter, loc, adaptor.getPred());
    auto ifOp = scf::IfOp::create(rewriter, loc, op.getResultTypes(), pred,
                                  /*addThenBlock=*/false,
                                  /*addElseBlock=*/false);
    rewriter.inlineRegionBefore(op.getThenRegion(), ifOp.getThenRegion(),
                                ifOp.getThenRegion().end());
    rewriter.inlineRegionBefore(op.getElseRegion(), ifOp.getElseRegion(),
                                ifOp.getElseRegion().end());
    replaceYield(rewriter, ifOp.getThenRegion().front());
    replaceYield(rewriter, ifOp.getElseRegion().front());
    rewriter.replaceOp(op, ifOp.getResults());
    return success();
  }
};

struct WhileLowering : OpConversionPattern<WhileOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(WhileOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto whileOp = scf::WhileOp::create(rewriter, loc, op.getResultTypes(),
                                        adaptor.getInits());
    rewriter.inlineRegionBefore(op.getCondRegion(), whileOp.getBefore(),
                                whileOp.getBefore().end());
    rewriter.inlineRegionBefore(op.getBodyRegion(), whileOp.getAfter(),
                                whileOp.getAfter().end());
    // The condition forwards the carried values unchanged to the body.
    Block &before = whileOp.getBefore().front();
    auto yield = cast<YieldOp>(before.getTerminator());
    rewriter.setInsertionPoint(yield);
    Value pred = extractScalar(rewriter, loc, yield.getValues().front());
    rewriter.replaceOpWithNewOp<scf::ConditionOp>(yield, pred,
                                                  before.getArguments());
    replaceYield(rewriter, whileOp.getAfter().front());
    rewriter.replaceOp(op, whileOp.getResults());
    return success();
  }
};

struct ForLowering : OpConversionPattern<ForOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ForOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto toIndex = [&](Value t) -> Value {
      return arith::IndexCastOp::create(rewriter, loc, rewriter.getIndexType(),
                                        extractScalar(rewriter, loc, t));
    };
    Value lower = toIndex(adaptor.getLower());
    Value upper = toIndex(adaptor.getUpper());
    Value step = toIndex(adaptor.getStep());
    // A step that is not positive at run time runs no iteration (scf.for
    // requires a positive step).
    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
    Value positive = arith::CmpIOp::create(
        rewriter, loc, arith::CmpIPredicate::sgt, step, zero);
    upper = arith::SelectOp::create(rewriter, loc, positive, upper, lower);
    step = arith::SelectOp::create(rewriter, loc, positive, step, one);

    Block &body = op.getBody().front();
    auto forOp = scf::ForOp::create(
        rewriter, loc, lower, upper, step, adaptor.getInits(),
        [](OpBuilder &, Location, Value, ValueRange) {});
    Block *newBody = forOp.getBody();
    rewriter.setInsertionPointToStart(newBody);
    Value counter = tensor::FromElementsOp::create(
        rewriter, loc, RankedTensorType::get({}, rewriter.getI64Type()),
        ValueRange{arith::IndexCastOp::create(
            rewriter, loc, rewriter.getI64Type(), forOp.getInductionVar())});
    SmallVector<Value> replacements = {counter};
    llvm::append_range(replacements, forOp.getRegionIterArgs());
    rewriter.mergeBlocks(&body, newBody, replacements);
    replaceYield(rewriter, *newBody);
    rewriter.replaceOp(op, forOp.getResults());
    return success();
  }
};

} // namespace

void lowering::populateControlFlowPatterns(RewritePatternSet &patterns) {
  patterns.add<CondLowering, WhileLowering, ForLowering>(patterns.getContext());
}
