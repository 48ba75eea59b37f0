//===- ScheduleLinalg.cpp - Loop order and serial kernels for linalg ops --===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-schedule-linalg: in the GPU entries, every linalg op's parallel
// loops become its outermost ones (so that they, not a reduction around
// them, become the grid), and an op with no parallel loop at all runs in a
// kernel of one thread (see the pass description).
//
//===----------------------------------------------------------------------===//

#include "GpuEntries.h"
#include "GpuMemory.h"

#include "kiln/Codegen/GPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUSCHEDULELINALG
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

/// The loop order with the parallel loops first, each group in its order,
/// or nothing if they are first already.
std::optional<SmallVector<unsigned>> parallelFirst(linalg::LinalgOp op) {
  SmallVector<unsigned> order;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  for (unsigned i = 0, e = iterators.size(); i < e; ++i)
    if (linalg::isParallelIterator(iterators[i]))
      order.push_back(i);
  for (unsigned i = 0, e = iterators.size(); i < e; ++i)
    if (!linalg::isParallelIterator(iterators[i]))
      order.push_back(i);
  for (unsigned i = 0, e = order.size(); i < e; ++i)
    if (order[i] != i)
      return order;
  return std::nullopt;
}

struct GPUScheduleLinalgPass
    : public mlir::kiln::impl::KilnGPUScheduleLinalgBase<
          GPUScheduleLinalgPass> {
  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (!kiln::isGpuFunction(func))
        continue;
      SmallVector<linalg::LinalgOp> ops;
      func.walk([&](linalg::LinalgOp op) {
        if (!op->getParentOfType<gpu::LaunchOp>())
          ops.push_back(op);
      });
      for (linalg::LinalgOp op : ops) {
        if (op.getNumParallelLoops() == 0) {
          kiln::runInOneThread(rewriter, op);
          continue;
        }
        std::optional<SmallVector<unsigned>> order = parallelFirst(op);
        if (!order)
          continue;
        auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
        rewriter.setInsertionPoint(op);
        if (!generic) {
          FailureOr<linalg::GenericOp> general =
              linalg::generalizeNamedOp(rewriter, op);
          if (failed(general)) {
            op->emitError() << "'" << op->getName()
                            << "': cannot reorder its loops for the GPU (it "
                               "has no generic form)";
            return signalPassFailure();
          }
          generic = *general;
        }
        if (failed(linalg::interchangeGenericOp(rewriter, generic, *order))) {
          generic->emitError("cannot reorder the loops of this linalg op "
                             "for the GPU");
          return signalPassFailure();
        }
      }
    }
  }
};

} // namespace
