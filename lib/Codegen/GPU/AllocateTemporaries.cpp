//===- AllocateTemporaries.cpp - Temporaries of GPU entries in GPU memory -===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-allocate-temporaries: memref.alloc / memref.dealloc at the top
// level of a GPU entry become gpu.alloc / gpu.dealloc, each on a stream
// that is waited for (see the pass description).
//
//===----------------------------------------------------------------------===//

#include "GpuEntries.h"
#include "GpuMemory.h"

#include "kiln/Codegen/GPU/Passes.h"

#include "kiln/Dialect/Kiln/KilnDialect.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUALLOCATETEMPORARIES
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

struct GPUAllocateTemporariesPass
    : public mlir::kiln::impl::KilnGPUAllocateTemporariesBase<
          GPUAllocateTemporariesPass> {
  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    auto tokenType = gpu::AsyncTokenType::get(&getContext());
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (!kiln::isGpuFunction(func))
        continue;
      // Decide first, rewrite after: whether a deallocation frees GPU
      // memory depends on its allocation.
      SmallVector<memref::AllocOp> allocs;
      SmallVector<memref::DeallocOp> deallocs;
      func.walk([&](Operation *op) {
        if (kiln::inKernelCode(op))
          return;
        if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
          // A symbol operand is left for kiln-gpu-check-entries to report.
          if (alloc.getSymbolOperands().empty() && !kiln::isHostScratch(alloc))
            allocs.push_back(alloc);
        } else if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
          if (kiln::holdsGpuMemory(dealloc.getMemref()))
            deallocs.push_back(dealloc);
        }
      });
      for (memref::DeallocOp dealloc : deallocs) {
        rewriter.setInsertionPoint(dealloc);
        kiln::createWaitedFor(rewriter, dealloc.getLoc(), [&](Value start) {
          return gpu::DeallocOp::create(rewriter, dealloc.getLoc(), tokenType,
                                        ValueRange{start}, dealloc.getMemref())
              .getOperation();
        });
        rewriter.eraseOp(dealloc);
      }
      for (memref::AllocOp alloc : allocs) {
        rewriter.setInsertionPoint(alloc);
        Operation *gpuAlloc =
            kiln::createWaitedFor(rewriter, alloc.getLoc(), [&](Value start) {
              return gpu::AllocOp::create(
                         rewriter, alloc.getLoc(), alloc.getType(), tokenType,
                         ValueRange{start}, alloc.getDynamicSizes(),
                         ValueRange{}, /*hostShared=*/false)
                  .getOperation();
            });
        rewriter.replaceOp(alloc, gpuAlloc->getResult(0));
      }
    }
  }
};

} // namespace
