//===- CopiesToLinalg.cpp - memref.copy -> linalg.copy
//---------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Pipelines/Pipelines.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/Builders.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNCOPIESTOLINALG
#define GEN_PASS_DEF_KILNDISTINCTRESULTS
#define GEN_PASS_DEF_KILNCONTRACTIONLOOPORDER
#include "kiln/Pipelines/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {
struct CopiesToLinalgPass
    : public kiln::impl::KilnCopiesToLinalgBase<CopiesToLinalgPass> {
  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    getOperation()->walk([&](memref::CopyOp copy) { copies.push_back(copy); });
    for (memref::CopyOp copy : copies) {
      OpBuilder b(copy);
      linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(),
                             copy.getTarget());
      copy.erase();
    }
  }
};

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

struct DistinctResultsPass
    : public kiln::impl::KilnDistinctResultsBase<DistinctResultsPass> {
  void runOnOperation() override {
    getOperation().walk([](func::ReturnOp ret) {
      DenseSet<Value> seen;
      OpBuilder b(ret);
      for (OpOperand &operand : ret->getOpOperands()) {
        Value v = operand.get();
        auto type = dyn_cast<RankedTensorType>(v.getType());
        // A value also materialized into a variable's buffer lives there:
        // an output needs its own copy, taken before that write.
        Operation *write = nullptr;
        for (Operation *user : v.getUsers())
          if (isa<bufferization::MaterializeInDestinationOp>(user) &&
              user->getBlock() == ret->getBlock() &&
              (!write || user->isBeforeInBlock(write)))
            write = user;
        bool fresh = seen.insert(v).second && !isa<BlockArgument>(v) && !write;
        if (fresh || !type)
          continue;
        OpBuilder::InsertionGuard guard(b);
        if (write)
          b.setInsertionPoint(write);
        Value empty = tensor::EmptyOp::create(
            b, ret.getLoc(), tensor::getMixedSizes(b, ret.getLoc(), v),
            type.getElementType());
        operand.set(
            linalg::CopyOp::create(b, ret.getLoc(), v, empty).getResult(0));
      }
    });
  }
};
} // namespace
