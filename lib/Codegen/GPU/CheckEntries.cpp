//===- CheckEntries.cpp - What the GPU target cannot compile yet ----------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-check-entries: errors, at the op's location, for what the first
// GPU code generator does not handle in an entry compiled for a GPU (see the
// pass description).
//
//===----------------------------------------------------------------------===//

#include "GpuEntries.h"

#include "kiln/Codegen/GPU/Passes.h"

#include "kiln/Dialect/Kiln/KilnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUCHECKENTRIES
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

/// The reason `op`, at an entry's top level, cannot be compiled for the
/// GPU, or nothing.
std::optional<std::string> unsupported(Operation *op) {
  if (isa<memref::AllocOp, memref::AllocaOp>(op))
    return std::string("needs a temporary buffer in host memory (not one "
                       "kiln-gpu-allocate-temporaries moves to the GPU)");
  // Temporaries in GPU memory and the streams they are made on.
  if (isa<gpu::AllocOp, gpu::DeallocOp, gpu::WaitOp>(op))
    return std::nullopt;
  // Kernels (kiln-gpu-schedule-linalg and the passes after it).
  if (isa<linalg::LinalgOp>(op))
    return std::nullopt;
  // Views of the entry's buffers, constants and the constant buffers that
  // kiln-gpu-sink-into-kernels moves into the kernels, deallocations of
  // nothing, the return: host code that touches no GPU memory.
  if (isa<ViewLikeOpInterface, memref::CastOp, memref::DeallocOp,
          memref::GetGlobalOp, func::ReturnOp>(op) ||
      op->hasTrait<OpTrait::ConstantLike>())
    return std::nullopt;
  if (op->getNumRegions() > 0)
    return std::string("is control flow around kernels, which the GPU "
                       "target does not compile yet");
  if (isa<arith::ArithDialect>(op->getDialect()))
    return std::nullopt; // index arithmetic for views
  return std::string("would run on the host and touch GPU memory");
}

struct GPUCheckEntriesPass
    : public mlir::kiln::impl::KilnGPUCheckEntriesBase<GPUCheckEntriesPass> {
  using Base::Base;

  void runOnOperation() override {
    bool failed = false;
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (!kiln::isGpuEntry(func))
        continue;
      if (afterMapping) {
        func.walk([&](Operation *op) {
          if (isa<scf::ParallelOp, scf::ForOp, scf::WhileOp>(op) &&
              !op->getParentOfType<gpu::LaunchOp>()) {
            op->emitError() << "'" << op->getName() << "' in '"
                            << func.getName()
                            << "', compiled for the GPU, was not turned into "
                               "a kernel and would run on the CPU";
            failed = true;
          }
        });
        continue;
      }
      for (Operation &op : func.getBody().getOps()) {
        if (std::optional<std::string> why = unsupported(&op)) {
          op.emitError() << "'" << op.getName() << "' in '" << func.getName()
                         << "', compiled for the GPU, " << *why;
          failed = true;
        }
      }
    }
    if (failed)
      signalPassFailure();
  }
};

} // namespace
