//===- Reductions.cpp - Lowering Kiln reductions
//---------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// A reduction over `axes` is one linalg.generic:
//
//   acc[kept...] = identity                    // linalg.fill
//   for (i...) in input.shape:                 // axes are "reduction" loops
//     acc[kept(i)...] = combine(acc[kept(i)...], input[i...])
//
// followed by a reshape when `keepdims` keeps the reduced axes as extent 1,
// and a division by the element count for reduce_mean.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "kiln/Dialect/Kiln/ShapeUtils.h"

using namespace mlir;
using namespace mlir::kiln;
using namespace mlir::kiln::lowering;

namespace {

enum class Combiner { Sum, Prod, Max, Min };

Value combine(OpBuilder &b, Location loc, Combiner kind, Value acc, Value x) {
  bool isFloat = isa<FloatType>(x.getType());
  switch (kind) {
  case Combiner::Sum:
    return isFloat ? Value(arith::AddFOp::create(b, loc, acc, x))
                   : Value(arith::AddIOp::create(b, loc, acc, x));
  case Combiner::Prod:
    return isFloat ? Value(arith::MulFOp::create(b, loc, acc, x))
                   : Value(arith::MulIOp::create(b, loc, acc, x));
  case Combiner::Max: // NaN-propagating, as numpy.max
    return isFloat ? Value(arith::MaximumFOp::create(b, loc, acc, x))
                   : Value(arith::MaxSIOp::create(b, loc, acc, x));
  case Combiner::Min:
    return isFloat ? Value(arith::MinimumFOp::create(b, loc, acc, x))
                   : Value(arith::MinSIOp::create(b, loc, acc, x));
  }
  llvm_unreachable("unknown combiner");
}

Value identity(OpBuilder &b, Location loc, Combiner kind, Type type) {
  switch (kind) {
  case Combiner::Sum:
    return scalarConstant(b, loc, type, 0);
  case Combiner::Prod:
    return scalarConstant(b, loc, type, 1);
  case Combiner::Max:
    return lowestValue(b, loc, type);
  case Combiner::Min:
    return highestValue(b, loc, type);
  }
  llvm_unreachable("unknown combiner");
}

/// Maps and iterator types of a reduction of a rank-`rank` input over
/// `axes`, with the output indexed by the kept dimensions.
void reductionMaps(MLIRContext *context, int64_t rank, ArrayRef<int64_t> axes,
                   SmallVectorImpl<AffineMap> &maps,
                   SmallVectorImpl<utils::IteratorType> &iterators) {
  SmallVector<AffineExpr> kept;
  for (int64_t d = 0; d < rank; ++d) {
    bool reduced = llvm::is_contained(axes, d);
    iterators.push_back(reduced ? utils::IteratorType::reduction
                                : utils::IteratorType::parallel);
    if (!reduced)
      kept.push_back(getAffineDimExpr(d, context));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, context));
  maps.push_back(AffineMap::get(rank, 0, kept, context));
}

/// The extents of `input` without the (normalized) `axes`.
SmallVector<OpFoldResult> keptExtents(OpBuilder &b, Location loc, Value input,
                                      ArrayRef<int64_t> axes) {
  SmallVector<OpFoldResult> kept;
  for (auto [d, extent] : llvm::enumerate(extentsOf(b, loc, input)))
    if (!llvm::is_contained(axes, static_cast<int64_t>(d)))
      kept.push_back(extent);
  return kept;
}

/// Reduces `input` over normalized `axes`, returning the keepdims=false
/// result; sums and products of f16 and bf16 come back in f32 (see
/// accumulatorType).
Value reduce(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> axes,
             Combiner kind) {
  auto type = cast<RankedTensorType>(input.getType());
  Type element = type.getElementType();
  bool widened = false;
  if (kind == Combiner::Sum || kind == Combiner::Prod) {
    widened = accumulatorType(element) != element;
    element = accumulatorType(element);
  }
  auto resultType =
      RankedTensorType::get(reduceShape(type.getShape(), axes, false), element);
  Value init = filledTensor(b, loc, keptExtents(b, loc, input, axes),
                            identity(b, loc, kind, element));
  SmallVector<AffineMap> maps;
  SmallVector<utils::IteratorType> iterators;
  reductionMaps(b.getContext(), type.getRank(), axes, maps, iterators);
  return linalg::GenericOp::create(
             b, loc, TypeRange{resultType}, ValueRange{input}, ValueRange{init},
             maps, iterators,
             [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
               Value x = args[0];
               if (widened)
                 x = arith::ExtFOp::create(nested, nestedLoc, element, x);
               linalg::YieldOp::create(
                   nested, nestedLoc,
                   combine(nested, nestedLoc, kind, args[1], x));
             })
      .getResult(0);
}

template <typename OpTy, Combiner Kind, bool Mean = false>
struct ReduceLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getInput().getType());
    Shape axes = llvm::cantFail(normalizeAxes(op.getAxes(), type.getRank()));
    Value result = reduce(rewriter, loc, adaptor.getInput(), axes, Kind);
    if (Mean) {
      // The element count: a constant unless a reduced extent is dynamic.
      // The division is in the accumulator's type (f32 for f16: a mean of
      // 10^5 ones is 1, though their sum is no f16).
      Type element = accumulatorType(type.getElementType());
      int64_t known = 1;
      Value count;
      for (int64_t axis : axes) {
        if (!type.isDynamicDim(axis)) {
          known *= type.getDimSize(axis);
          continue;
        }
        Value extent =
            tensor::DimOp::create(rewriter, loc, adaptor.getInput(), axis);
        count = count ? arith::MulIOp::create(rewriter, loc, count, extent)
                      : extent;
      }
      Value divisor =
          scalarConstant(rewriter, loc, element, static_cast<double>(known));
      if (count)
        divisor = arith::MulFOp::create(
            rewriter, loc, divisor,
            arith::UIToFPOp::create(
                rewriter, loc, element,
                arith::IndexCastUIOp::create(rewriter, loc,
                                             rewriter.getI64Type(), count)));
      auto reducedType = cast<RankedTensorType>(result.getType());
      result =
          buildElementwise(rewriter, loc, reducedType, ValueRange{result},
                           [&](OpBuilder &b, Location l, ValueRange s) {
                             return arith::DivFOp::create(b, l, s[0], divisor);
                           });
    }
    result = toElementType(rewriter, loc, result, type.getElementType());
    // keepdims: the input gives the open extents (which an element count
    // of 0 could not).
    auto resultType = cast<RankedTensorType>(op.getType());
    Value like =
        type.getRank() == resultType.getRank() ? adaptor.getInput() : Value();
    rewriter.replaceOp(op,
                       reshapeTensor(rewriter, loc, result, resultType, like));
    return success();
  }
};

/// argmax / argmin: a reduction carrying (best value, its index). A later
/// element replaces the best only if strictly better, so ties keep the first
/// index; NaN counts as better than any number (numpy's rule).
template <typename OpTy, bool Max>
struct ArgReduceLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getInput().getType());
    int64_t axis = llvm::cantFail(
        normalizeAxis(static_cast<int64_t>(op.getAxis()), type.getRank()));
    Type element = type.getElementType();
    auto indexType = cast<RankedTensorType>(op.getType());
    auto valueType = RankedTensorType::get(indexType.getShape(), element);
    SmallVector<OpFoldResult> kept =
        keptExtents(rewriter, loc, adaptor.getInput(), {axis});
    Value initValue = filledTensor(rewriter, loc, kept,
                                   Max ? lowestValue(rewriter, loc, element)
                                       : highestValue(rewriter, loc, element));
    Value initIndex =
        filledTensor(rewriter, loc, kept,
                     scalarConstant(rewriter, loc, rewriter.getI64Type(), 0));
    SmallVector<AffineMap> maps;
    SmallVector<utils::IteratorType> iterators;
    reductionMaps(rewriter.getContext(), type.getRank(), {axis}, maps,
                  iterators);
    maps.push_back(maps.back());
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{valueType, indexType},
        ValueRange{adaptor.getInput()}, ValueRange{initValue, initIndex}, maps,
        iterators, [&](OpBuilder &b, Location l, ValueRange args) {
          Value x = args[0], best = args[1], bestIndex = args[2];
          Value better;
          if (isa<FloatType>(element)) {
            better = arith::CmpFOp::create(b, l,
                                           Max ? arith::CmpFPredicate::OGT
                                               : arith::CmpFPredicate::OLT,
                                           x, best);
            Value xNaN =
                arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNO, x, x);
            Value bestNumber = arith::CmpFOp::create(
                b, l, arith::CmpFPredicate::ORD, best, best);
            better = arith::OrIOp::create(
                b, l, better, arith::AndIOp::create(b, l, xNaN, bestNumber));
          } else {
            better = arith::CmpIOp::create(b, l,
                                           Max ? arith::CmpIPredicate::sgt
                                               : arith::CmpIPredicate::slt,
                                           x, best);
          }
          Value index = arith::IndexCastOp::create(
              b, l, b.getI64Type(), linalg::IndexOp::create(b, l, axis));
          linalg::YieldOp::create(
              b, l,
              ValueRange{
                  arith::SelectOp::create(b, l, better, x, best),
                  arith::SelectOp::create(b, l, better, index, bestIndex)});
        });
    rewriter.replaceOp(op, generic.getResult(1));
    return success();
  }
};

} // namespace

void lowering::populateReductionPatterns(RewritePatternSet &patterns) {
  patterns.add<ReduceLowering<ReduceSumOp, Combiner::Sum>,
               ReduceLowering<ReduceMeanOp, Combiner::Sum, true>,
               ReduceLowering<ReduceMaxOp, Combiner::Max>,
               ReduceLowering<ReduceMinOp, Combiner::Min>,
               ReduceLowering<ReduceProdOp, Combiner::Prod>,
               ArgReduceLowering<ArgMaxOp, true>,
               ArgReduceLowering<ArgMinOp, false>>(patterns.getContext());
}
