//===- ContractionLoopOrder.cpp - Loop order of contractions on the CPU --===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNCONTRACTIONLOOPORDER
#include "kiln/Codegen/CPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {
struct ContractionLoopOrderPass
    : public kiln::impl::KilnContractionLoopOrderBase<
          ContractionLoopOrderPass> {
  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> candidates;
    getOperation()->walk([&](linalg::LinalgOp op) {
      SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
      if (iterators.size() < 3 || op.getNumReductionLoops() == 0 ||
          iterators.back() != utils::IteratorType::reduction ||
          !op.hasPureTensorSemantics() || op.getNumDpsInits() != 1)
        return;
      // The last parallel loop must walk the output's innermost dimension
      // (contiguous in it): it becomes the innermost loop.
      int64_t lastParallel = -1;
      for (auto [d, it] : llvm::enumerate(iterators))
        if (it == utils::IteratorType::parallel)
          lastParallel = static_cast<int64_t>(d);
      AffineMap out = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
      if (lastParallel < 0 || out.getNumResults() == 0 ||
          out.getResults().back() !=
              getAffineDimExpr(static_cast<unsigned>(lastParallel),
                               op.getContext()))
        return;
      candidates.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::LinalgOp op : candidates) {
      rewriter.setInsertionPoint(op);
      linalg::GenericOp generic = dyn_cast<linalg::GenericOp>(op.getOperation());
      if (!generic) {
        FailureOr<linalg::GenericOp> g = linalg::generalizeNamedOp(rewriter, op);
        if (failed(g))
          continue;
        generic = *g;
      }
      // (p..., p_last, r...) -> (p..., r..., p_last): matmul (m, n, k) ->
      // (m, k, n); conv (n, oh, ow, f, kh, kw, c) -> (n, oh, ow, kh, kw, c, f).
      SmallVector<utils::IteratorType> iterators =
          generic.getIteratorTypesArray();
      unsigned lastParallel = 0;
      for (auto [d, it] : llvm::enumerate(iterators))
        if (it == utils::IteratorType::parallel)
          lastParallel = d;
      SmallVector<unsigned> order;
      for (unsigned d = 0; d < iterators.size(); ++d)
        if (d != lastParallel)
          order.push_back(d);
      order.push_back(lastParallel);
      (void)linalg::interchangeGenericOp(rewriter, generic, order);
    }
  }
};
} // namespace
