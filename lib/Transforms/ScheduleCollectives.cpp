//===- ScheduleCollectives.cpp - All-reduces where their inputs are ready -===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-schedule-collectives: each kiln.all_reduce moves up to just after the
// op computing its input (the start of its block when the input is defined
// outside it). A data-parallel step all-reduces its gradients after the
// backward pass; moved up, each sits where the backward pass produces it,
// in the order it does, which is the order the bucket and overlap passes
// need. The all-reduce reads nothing but its input and writes nothing but
// its result, so the move changes no value; it changes the order of
// collectives identically in every process (all compile the same module).
//
//===----------------------------------------------------------------------===//

#include "kiln/Dialect/Kiln/KilnOps.h"
#include "kiln/Transforms/Passes.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNSCHEDULECOLLECTIVES
#include "kiln/Transforms/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;

namespace {

struct ScheduleCollectivesPass
    : public kiln::impl::KilnScheduleCollectivesBase<
          ScheduleCollectivesPass> {
  void runOnOperation() override {
    SmallVector<AllReduceOp> reduces;
    getOperation()->walk([&](AllReduceOp op) { reduces.push_back(op); });
    // Last first: two all-reduces of one input, each moved just after it,
    // keep their order.
    for (AllReduceOp op : llvm::reverse(reduces)) {
      Block *block = op->getBlock();
      Operation *def = op.getInput().getDefiningOp();
      if (def && def->getBlock() == block) {
        if (def->getNextNode() != op)
          op->moveAfter(def);
      } else if (&block->front() != op.getOperation()) {
        op->moveBefore(&block->front());
      }
    }
  }
};

} // namespace
