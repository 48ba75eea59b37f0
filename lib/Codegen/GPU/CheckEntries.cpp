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
#include "GpuMemory.h"

#include "kiln/Codegen/GPU/Passes.h"
#include "kiln/Conversion/KilnToLinalg/KilnToLinalg.h"

#include "kiln/Dialect/Kiln/KilnDialect.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
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

/// The reason `op`, in an entry's host code, cannot be compiled for the
/// GPU, or nothing.
std::optional<std::string> unsupported(Operation *op) {
  if (isa<memref::AllocOp, memref::AllocaOp>(op) && !kiln::isHostScratch(op))
    return std::string("needs a temporary buffer in host memory (not one "
                       "kiln-gpu-allocate-temporaries moves to the GPU)");
  // Kernels, temporaries in GPU memory, copies to the host and the streams
  // they are made on.
  if (isa<gpu::GPUDialect>(op->getDialect()))
    return std::nullopt;
  // Kernels (kiln-gpu-schedule-linalg and the passes after it).
  if (isa<linalg::LinalgOp>(op))
    return std::nullopt;
  // Control flow around kernels, deciding on values copied to the host.
  if (isa<scf::IfOp, scf::ForOp, scf::WhileOp, scf::YieldOp,
          scf::ConditionOp>(op))
    return std::nullopt;
  // Host memory: the deallocation's flags and pointer lists, host copies of
  // GPU scalars.
  if (auto load = dyn_cast<memref::LoadOp>(op))
    if (!kiln::holdsGpuMemory(load.getMemRef()))
      return std::nullopt;
  if (auto store = dyn_cast<memref::StoreOp>(op))
    if (!kiln::holdsGpuMemory(store.getMemRef()))
      return std::nullopt;
  if (isa<memref::AllocOp, memref::AllocaOp>(op))
    return std::nullopt; // host scratch (above)
  if (auto call = dyn_cast<func::CallOp>(op)) {
    // kiln.print's runtime calls read the tensor on the host.
    if (call.getCallee().starts_with("kiln_print_tensor_"))
      return std::string("is a kiln.print of a tensor, which the GPU target "
                         "does not compile yet (print it in a function that "
                         "runs on the CPU)");
    StringRef name = call.getCallee();
    if (kiln::isCollectiveRuntimeCall(name)) {
      // kiln_all_reduce_start_f32: the op as written, kiln.all_reduce.
      StringRef op = name.drop_front(5).rsplit('_').first;
      op.consume_back("_start");
      op.consume_back("_done");
      return std::string("is a collective (kiln.") + op.str() +
             "), which the GPU target does not compile yet (NCCL is the "
             "plan, docs/distributed.md; run the step on the CPU)";
    }
    if (call.getCallee().starts_with("kiln_sort_"))
      return std::string("is a kiln.sort, which the GPU target does not "
                         "compile yet (sort in a function that runs on the "
                         "CPU)");
    // A function of the module, compiled for the GPU like the entries; the
    // deallocation's helper, which reads pointers and flags, not the
    // buffers they point to.
    auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
        call, call.getCalleeAttr());
    if (callee && kiln::isGpuFunction(callee))
      return std::nullopt;
    if (llvm::none_of(call.getOperands(), [](Value operand) {
          return isa<MemRefType>(operand.getType()) &&
                 kiln::holdsGpuMemory(operand);
        }))
      return std::nullopt;
  }
  // Views of the entry's buffers, their extents and addresses (in the
  // descriptor, on the host), constants and the
  // constant buffers that kiln-gpu-sink-into-kernels moves into the
  // kernels, deallocations (of host scratch: GPU memory is freed by
  // gpu.dealloc), the return: host code that touches no GPU memory.
  if (isa<ViewLikeOpInterface, memref::CastOp, memref::DeallocOp,
          memref::DimOp, memref::GetGlobalOp, memref::ExtractStridedMetadataOp,
          memref::ExtractAlignedPointerAsIndexOp, func::ReturnOp>(op) ||
      op->hasTrait<OpTrait::ConstantLike>())
    return std::nullopt;
  if (isa<arith::ArithDialect>(op->getDialect()) ||
      isa<affine::AffineApplyOp, affine::AffineMinOp, affine::AffineMaxOp>(
          op))
    return std::nullopt; // index arithmetic, host scalars
  return std::string("would run on the host and touch GPU memory");
}

/// Whether `op`, host code of a GPU entry after the loops became kernels,
/// is a loop or an access that did not become a kernel.
bool leftOnHost(Operation *op) {
  if (isa<scf::ParallelOp>(op))
    return true;
  if (auto load = dyn_cast<memref::LoadOp>(op))
    return kiln::holdsGpuMemory(load.getMemRef());
  if (auto store = dyn_cast<memref::StoreOp>(op))
    return kiln::holdsGpuMemory(store.getMemRef());
  return false;
}

struct GPUCheckEntriesPass
    : public mlir::kiln::impl::KilnGPUCheckEntriesBase<GPUCheckEntriesPass> {
  using Base::Base;

  void runOnOperation() override {
    bool failed = false;
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (!kiln::isGpuFunction(func))
        continue;
      func.walk<WalkOrder::PreOrder>([&](Operation *op) {
        if (isa<gpu::LaunchOp, linalg::LinalgOp>(op))
          return WalkResult::skip(); // kernels and their code
        if (op == func.getOperation())
          return WalkResult::advance();
        if (afterMapping) {
          if (leftOnHost(op)) {
            op->emitError() << "'" << op->getName() << "' in '"
                            << func.getName()
                            << "', compiled for the GPU, was not turned into "
                               "a kernel and would run on the CPU";
            failed = true;
            return WalkResult::skip();
          }
          return WalkResult::advance();
        }
        if (std::optional<std::string> why = unsupported(op)) {
          op->emitError() << "'" << op->getName() << "' in '" << func.getName()
                          << "', compiled for the GPU, " << *why;
          failed = true;
          return WalkResult::skip();
        }
        return WalkResult::advance();
      });
    }
    if (failed)
      signalPassFailure();
  }
};

} // namespace
