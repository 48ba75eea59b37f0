//===- SplitReductions.cpp - Row reductions as vector accumulators --------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-cpu-split-reductions: a reduction along the innermost, contiguous
// loop (a row's sum or maximum: softmax, log-sum-exp, a mean over
// features) cannot be vectorized in place without reordering its sums, and
// LLVM leaves it scalar. Upstream's splitReduction, with the inner part
// parallel, rewrites it as V accumulators per row (V lanes, a multiple of
// the vector width) that each sum every V-th element, then one small
// reduction of the accumulators: the first loop's innermost loop is now
// parallel and contiguous, so kiln-cpu-vectorize-loops makes it vector
// adds. The order of the sums changes (the same for every run and thread
// count).
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNCPUSPLITREDUCTIONS
#include "kiln/Codegen/CPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

/// Accumulators per row for a reduction of `extent` elements with `lanes`
/// per vector: four vectors where the extent splits into them (independent
/// chains of adds), else two, else one; 0 when the row is shorter than two
/// vectors or does not split evenly (it stays as it is).
int64_t accumulatorsFor(int64_t extent, int64_t lanes) {
  for (int64_t vectors : {4, 2, 1})
    if (extent % (vectors * lanes) == 0 && extent >= 2 * vectors * lanes)
      return vectors * lanes;
  return 0;
}

/// The accumulator count for `op` if it is a row reduction this pass
/// splits: a generic with one floating-point output and one reduction
/// loop, the innermost, static, read contiguously by every input that
/// depends on it, whose body does not read its indices; else 0.
int64_t rowReductionSplit(linalg::GenericOp op, int64_t vectorBits) {
  // Upstream's split reads every map result as a loop index: a broadcast
  // through a constant (a keepdims mean read as (d0, 0)) is left alone.
  if (!op.hasPureTensorSemantics() || !llvm::all_of(op.getIndexingMapsArray(),
                   [](AffineMap map) { return map.isProjectedPermutation(); }) ||
      op.getNumDpsInits() != 1 ||
      op.getNumReductionLoops() != 1 || linalg::isaContractionOpInterface(op))
    return 0;
  // A body that reads its position (linalg.index: a label compared with
  // the class, a row picked by index) would see the split loops' indices.
  if (!op.getBody()->getOps<linalg::IndexOp>().empty() ||
      !op.getBody()->getOps<tensor::ExtractOp>().empty())
    return 0;
  unsigned innermost = op.getNumLoops() - 1;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  if (iterators[innermost] != utils::IteratorType::reduction)
    return 0;
  auto outType = dyn_cast<RankedTensorType>(op.getDpsInits()[0].getType());
  if (!outType ||
      !(outType.getElementType().isF32() || outType.getElementType().isF64()))
    return 0;
  int64_t extent = op.getStaticLoopRanges()[innermost];
  if (ShapedType::isDynamic(extent))
    return 0;
  for (OpOperand *input : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(input);
    for (auto [position, expr] : llvm::enumerate(map.getResults()))
      if (expr.isFunctionOfDim(innermost) &&
          (!isa<AffineDimExpr>(expr) || position + 1 != map.getNumResults()))
        return 0;
    if (!isa<RankedTensorType>(input->get().getType()))
      return 0;
  }
  int64_t lanes =
      std::max<int64_t>(vectorBits / outType.getElementTypeBitWidth(), 1);
  return accumulatorsFor(extent, lanes);
}

struct CPUSplitReductionsPass
    : public mlir::kiln::impl::KilnCPUSplitReductionsBase<
          CPUSplitReductionsPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<std::pair<linalg::GenericOp, int64_t>> candidates;
    getOperation().walk([&](linalg::GenericOp op) {
      if (int64_t accumulators = rowReductionSplit(op, vectorBits))
        candidates.push_back({op, accumulators});
    });
    IRRewriter rewriter(&getContext());
    for (auto [op, count] : candidates) {
      int64_t accumulators = count;
      unsigned outRank = cast<RankedTensorType>(op.getDpsInits()[0].getType())
                             .getRank();
      rewriter.setInsertionPoint(op);
      // The accumulators are the last (contiguous) dimension of the
      // partial result.
      (void)linalg::splitReduction(
          rewriter, op, [&](linalg::LinalgOp) {
            return linalg::SplitReductionOptions{accumulators, outRank,
                                                 /*innerParallel=*/true};
          });
    }
  }
};

} // namespace
