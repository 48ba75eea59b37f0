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
// The tapes that kiln-autodiff threads through loops lower to tensors with a
// dynamic leading dimension, which bufferize to one buffer written in place:
//
//   kiln.tape_new %n        -> tensor.empty(max(n, 1)) + linalg.fill 0
//   kiln.tape_write t[i], v -> scf.if (i in range) tensor.insert_slice
//   kiln.tape_read t[i]     -> tensor.extract_slice at clamp(i)
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

/// Requires each value `terminator` passes on (`nextValues`: a body's
/// yield, a while condition's values) to keep the open extents of the
/// corresponding one of `carried` (the block's arguments):
/// a loop variable keeps its extents, so the extents of the loop's results
/// are those of its initial values (kiln-split-shape-functions relies on
/// it). Checked when the code runs, where they are not the same value.
void checkCarriedExtents(ConversionPatternRewriter &rewriter,
                         Operation *terminator, ValueRange nextValues,
                         ValueRange carried, StringRef loop) {
  rewriter.setInsertionPoint(terminator);
  for (auto [k, next, current] : llvm::enumerate(nextValues, carried)) {
    auto type = dyn_cast<RankedTensorType>(current.getType());
    if (!type || type.hasStaticShape() || next == current)
      continue;
    Location loc = terminator->getLoc();
    SmallVector<OpFoldResult> got = extentsOf(rewriter, loc, next);
    SmallVector<OpFoldResult> had = extentsOf(rewriter, loc, current);
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.isDynamicDim(d))
        checkSameExtent(rewriter, loc, got[d], had[d],
                        loop + ": loop variable #" + Twine(k) +
                            " changes its extent in dimension " + Twine(d) +
                            " (a loop variable keeps its shape)");
  }
}

/// The i64 value of a rank-0 tensor<i64>, as an index.
Value indexOf(OpBuilder &b, Location loc, Value scalar) {
  return arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                    extractScalar(b, loc, scalar));
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
                                        adaptor.getInitArgs());
    rewriter.inlineRegionBefore(op.getCondRegion(), whileOp.getBefore(),
                                whileOp.getBefore().end());
    rewriter.inlineRegionBefore(op.getBodyRegion(), whileOp.getAfter(),
                                whileOp.getAfter().end());
    // The condition passes the carried values on (with their extents:
    // checked where it passes something else), and so does the body.
    Block &before = whileOp.getBefore().front();
    auto condition = cast<ConditionOp>(before.getTerminator());
    checkCarriedExtents(rewriter, condition, condition.getArgs(),
                        before.getArguments(), "kiln.while");
    rewriter.setInsertionPoint(condition);
    Value pred = extractScalar(rewriter, loc, condition.getPred());
    rewriter.replaceOpWithNewOp<scf::ConditionOp>(condition, pred,
                                                  condition.getArgs());
    Block &after = whileOp.getAfter().front();
    checkCarriedExtents(rewriter, after.getTerminator(),
                        cast<YieldOp>(after.getTerminator()).getValues(),
                        after.getArguments(), "kiln.while");
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
    auto toIndex = [&](Value t) { return indexOf(rewriter, loc, t); };
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
        rewriter, loc, lower, upper, step, adaptor.getInitArgs(),
        [](OpBuilder &, Location, Value, ValueRange) {});
    Block *newBody = forOp.getBody();
    rewriter.setInsertionPointToStart(newBody);
    Value counter = tensor::FromElementsOp::create(
        rewriter, loc, RankedTensorType::get({}, rewriter.getI64Type()),
        ValueRange{arith::IndexCastOp::create(
            rewriter, loc, rewriter.getI64Type(), forOp.getInductionVar())});
    SmallVector<Value> replacements = {counter};
    llvm::append_range(replacements, forOp.getRegionIterArgs());
    // (Before the merge: the yield still names the body's own arguments.)
    checkCarriedExtents(rewriter, body.getTerminator(),
                        cast<YieldOp>(body.getTerminator()).getValues(),
                        body.getArguments().drop_front(), "kiln.for");
    rewriter.mergeBlocks(&body, newBody, replacements);
    replaceYield(rewriter, *newBody);
    rewriter.replaceOp(op, forOp.getResults());
    return success();
  }
};


/// Whether a tape's rows have no elements (a fixed extent of 0 after the
/// row dimension).
bool hasNoElements(RankedTensorType tape) {
  return llvm::is_contained(tape.getShape().drop_front(), 0);
}

/// Offsets/sizes/strides selecting row `row` of a tape with extents
/// `rowExtents` (its own, the first one unused: open row extents as
/// tensor.dim of the tape; rank-reducing).
void rowSlice(OpBuilder &b, RankedTensorType tape,
              ArrayRef<OpFoldResult> rowExtents, Value row,
              SmallVectorImpl<OpFoldResult> &offsets,
              SmallVectorImpl<OpFoldResult> &sizes,
              SmallVectorImpl<OpFoldResult> &strides) {
  offsets.push_back(row);
  sizes.push_back(b.getIndexAttr(1));
  for (OpFoldResult extent : ArrayRef<OpFoldResult>(rowExtents).drop_front()) {
    offsets.push_back(b.getIndexAttr(0));
    sizes.push_back(extent);
  }
  strides.assign(tape.getRank(), b.getIndexAttr(1));
}

struct TapeNewLowering : OpConversionPattern<TapeNewOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(TapeNewOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getType());
    Value rows = arith::MaxSIOp::create(
        rewriter, loc, indexOf(rewriter, loc, adaptor.getSize()),
        arith::ConstantIndexOp::create(rewriter, loc, 1));
    // Open row extents are those of `like` (the verifier requires it).
    SmallVector<OpFoldResult> extents = {rows};
    if (adaptor.getLike())
      llvm::append_range(extents, extentsOf(rewriter, loc, adaptor.getLike()));
    else
      for (int64_t d : type.getShape().drop_front())
        extents.push_back(rewriter.getIndexAttr(d));
    Value empty =
        tensor::EmptyOp::create(rewriter, loc, extents, type.getElementType());
    Value zero = scalarConstant(rewriter, loc, type.getElementType(), 0);
    rewriter.replaceOp(
        op, linalg::FillOp::create(rewriter, loc, zero, empty).getResult(0));
    return success();
  }
};

struct TapeWriteLowering : OpConversionPattern<TapeWriteOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(TapeWriteOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getType());
    Value tape = adaptor.getTape();
    // Rows without elements are not written (a slice at any offset of an
    // empty dimension is out of bounds for the tensor dialect).
    if (hasNoElements(type)) {
      rewriter.replaceOp(op, tape);
      return success();
    }
    Value row = indexOf(rewriter, loc, adaptor.getIndex());
    Value rows = tensor::DimOp::create(rewriter, loc, tape, 0);
    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value inRange = arith::AndIOp::create(
        rewriter, loc,
        arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::sge, row,
                              zero),
        arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::slt, row,
                              rows));
    auto ifOp = scf::IfOp::create(
        rewriter, loc, inRange,
        [&](OpBuilder &b, Location l) {
          SmallVector<OpFoldResult> offsets, sizes, strides;
          rowSlice(b, type, extentsOf(b, l, tape), row, offsets, sizes,
                   strides);
          Value written = tensor::InsertSliceOp::create(
              b, l, adaptor.getValue(), tape, offsets, sizes, strides);
          scf::YieldOp::create(b, l, written);
        },
        [&](OpBuilder &b, Location l) { scf::YieldOp::create(b, l, tape); });
    rewriter.replaceOp(op, ifOp.getResults());
    return success();
  }
};

struct TapeReadLowering : OpConversionPattern<TapeReadOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(TapeReadOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value tape = adaptor.getTape();
    auto tapeType = cast<RankedTensorType>(tape.getType());
    if (hasNoElements(tapeType)) {
      SmallVector<OpFoldResult> extents = extentsOf(rewriter, loc, tape);
      rewriter.replaceOpWithNewOp<tensor::EmptyOp>(
          op, ArrayRef<OpFoldResult>(extents).drop_front(),
          tapeType.getElementType());
      return success();
    }
    Value row = indexOf(rewriter, loc, adaptor.getIndex());
    Value last = arith::SubIOp::create(
        rewriter, loc, tensor::DimOp::create(rewriter, loc, tape, 0),
        arith::ConstantIndexOp::create(rewriter, loc, 1));
    row = arith::MaxSIOp::create(
        rewriter, loc,
        arith::MinSIOp::create(rewriter, loc, row, last),
        arith::ConstantIndexOp::create(rewriter, loc, 0));
    SmallVector<OpFoldResult> offsets, sizes, strides;
    rowSlice(rewriter, tapeType, extentsOf(rewriter, loc, tape), row, offsets,
             sizes, strides);
    rewriter.replaceOpWithNewOp<tensor::ExtractSliceOp>(
        op, cast<RankedTensorType>(op.getType()), tape, offsets, sizes,
        strides);
    return success();
  }
};

} // namespace

void lowering::populateControlFlowPatterns(RewritePatternSet &patterns) {
  patterns.add<CondLowering, WhileLowering, ForLowering, TapeNewLowering,
               TapeWriteLowering, TapeReadLowering>(patterns.getContext());
}
