//===- PreciseMath.cpp - Math ops LLVM would compute imprecisely, to libm -===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/CPU/Passes.h"

#include "mlir/Conversion/MathToLibm/MathToLibm.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNCPUPRECISEMATH
#include "kiln/Codegen/CPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {
struct CPUPreciseMathPass
    : public mlir::kiln::impl::KilnCPUPreciseMathBase<CPUPreciseMathPass> {
  void runOnOperation() override {
    // Only these ops: the rest of the math dialect keeps its LLVM
    // intrinsics (exp, log, floor, ...), which are exact or call libm
    // anyway, and whose vector forms LLVM may keep as vectors.
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (isa<math::ExpM1Op, math::Log1pOp>(op))
        ops.push_back(op);
    });
    if (ops.empty())
      return;
    RewritePatternSet patterns(&getContext());
    populateMathToLibmConversionPatterns(patterns);
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
    if (failed(applyOpPatternsGreedily(ops, std::move(patterns), config)))
      return signalPassFailure();
    // f16 and bf16 have no libm function: math-extend-to-supported-types
    // must have widened them first.
    WalkResult left = getOperation().walk([&](Operation *op) {
      if (!isa<math::ExpM1Op, math::Log1pOp>(op))
        return WalkResult::advance();
      op->emitOpError("has no libm function for its type ")
          << op->getResult(0).getType();
      return WalkResult::interrupt();
    });
    if (left.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
