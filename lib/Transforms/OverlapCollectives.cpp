//===- OverlapCollectives.cpp - All-reduces that run behind computation ---===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-overlap-collectives: each kiln.all_reduce becomes
//
//   %p = kiln.all_reduce_start <reduction>, %x   (at the all-reduce's place)
//   ... ops that do not need the result ...
//   %r = kiln.all_reduce_done %p                 (before the first user)
//
// The runtime runs started all-reduces on its communication thread, in the
// order they start, while the code between start and done computes: after
// kiln-schedule-collectives and kiln-bucket-collectives, a step's gradient
// buckets start as the backward pass produces them and are waited for at
// the optimizer's updates (a bucket's slices and reshapes move down to
// where each part is used). An all-reduce whose result is needed by the
// next op stays one blocking call (a hand-off to the thread costs more).
//
//===----------------------------------------------------------------------===//

#include "kiln/Dialect/Kiln/KilnOps.h"
#include "kiln/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNOVERLAPCOLLECTIVES
#include "kiln/Transforms/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;

namespace {

/// The first op of `block` that uses one of `values` or holds a user in
/// its regions; the terminator when none does.
Operation *firstUse(Block *block, ValueRange values) {
  Operation *first = block->getTerminator();
  for (Value value : values)
    for (Operation *user : value.getUsers()) {
      Operation *here = block->findAncestorOpInBlock(*user);
      if (here && here->isBeforeInBlock(first))
        first = here;
    }
  return first;
}

/// Moves the pure ops of `op`'s block that compute from its result alone
/// (with values from before it) -- a bucket's slices and reshapes -- down
/// to just before their own first uses, so that the wait can go there.
void sinkViews(Operation *op) {
  Block *block = op->getBlock();
  llvm::SmallPtrSet<Operation *, 8> derived{op};
  SmallVector<Operation *> views;
  for (Operation *next = op->getNextNode(); next && next != block->getTerminator();
       next = next->getNextNode()) {
    bool fromOp = false, fromLater = false;
    for (Value operand : next->getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (def && derived.contains(def))
        fromOp = true;
      else if (def && def->getBlock() == block && op->isBeforeInBlock(def))
        fromLater = true;
    }
    if (fromOp && !fromLater && next->getNumRegions() == 0 && isPure(next)) {
      derived.insert(next);
      views.push_back(next);
    }
  }
  for (Operation *view : llvm::reverse(views)) {
    Operation *use = firstUse(block, view->getResults());
    if (use != view->getNextNode())
      view->moveBefore(use);
  }
}

struct OverlapCollectivesPass
    : public kiln::impl::KilnOverlapCollectivesBase<OverlapCollectivesPass> {
  void runOnOperation() override {
    SmallVector<AllReduceOp> reduces;
    getOperation()->walk([&](AllReduceOp op) { reduces.push_back(op); });
    for (AllReduceOp op : reduces) {
      Block *block = op->getBlock();
      if (!block->mightHaveTerminator())
        continue; // (a graph region has no "before")
      sinkViews(op);
      Operation *use = firstUse(block, op.getResult());
      if (op->getNextNode() == use)
        continue; // nothing to overlap with: one blocking call is cheaper
      OpBuilder b(op);
      auto start = AllReduceStartOp::create(b, op.getLoc(), op.getReduction(),
                                            op.getInput(), op.getGroupAttr());
      b.setInsertionPoint(use);
      auto done = AllReduceDoneOp::create(b, op.getLoc(), op.getType(),
                                          start.getPending());
      op.getResult().replaceAllUsesWith(done.getResult());
      op.erase();
    }
  }
};

} // namespace
