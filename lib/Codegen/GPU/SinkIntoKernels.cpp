//===- SinkIntoKernels.cpp - Constants and globals into the kernels -------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-sink-into-kernels: the host values a gpu.launch body uses that
// are cheap to recompute (constants, index arithmetic) or only name device
// data (memref.get_global of a constant) are cloned into the body, so that
// they are not kernel arguments and constants travel in the kernel's module
// (see the pass description).
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/GPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Utils/GPUUtils.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Iterators.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUSINKINTOKERNELS
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

bool worthSinking(Operation *op) {
  return isa<arith::ConstantOp, arith::SelectOp, arith::CmpIOp,
             arith::IndexCastOp, memref::DimOp, memref::GetGlobalOp>(op);
}

struct GPUSinkIntoKernelsPass
    : public mlir::kiln::impl::KilnGPUSinkIntoKernelsBase<
          GPUSinkIntoKernelsPass> {
  void runOnOperation() override {
    SmallVector<gpu::LaunchOp> launches;
    getOperation().walk([&](gpu::LaunchOp launch) {
      launches.push_back(launch);
    });
    for (gpu::LaunchOp launch : launches)
      if (failed(sinkOperationsIntoLaunchOp(launch, worthSinking)))
        return signalPassFailure();
    // What only the kernels used is dead on the host now.
    getOperation().walk<WalkOrder::PostOrder, ReverseIterator>(
        [](Operation *op) {
          if (worthSinking(op) && isOpTriviallyDead(op))
            op->erase();
        });
  }
};

} // namespace
