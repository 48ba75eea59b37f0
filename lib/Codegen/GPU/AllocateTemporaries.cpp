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
      if (!kiln::isGpuEntry(func))
        continue;
      for (Operation &op : llvm::make_early_inc_range(func.getBody().getOps())) {
        Location loc = op.getLoc();
        rewriter.setInsertionPoint(&op);
        if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
          if (!alloc.getSymbolOperands().empty())
            continue; // left for kiln-gpu-check-entries to report
          Value start = gpu::WaitOp::create(rewriter, loc, tokenType,
                                            ValueRange{})
                            .getAsyncToken();
          auto gpuAlloc = gpu::AllocOp::create(
              rewriter, loc, alloc.getType(), tokenType, ValueRange{start},
              alloc.getDynamicSizes(), ValueRange{}, /*hostShared=*/false);
          gpu::WaitOp::create(rewriter, loc, Type(),
                              ValueRange{gpuAlloc.getAsyncToken()});
          rewriter.replaceOp(alloc, gpuAlloc.getMemref());
        } else if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
          if (!dealloc.getMemref().getDefiningOp<gpu::AllocOp>())
            continue;
          Value start = gpu::WaitOp::create(rewriter, loc, tokenType,
                                            ValueRange{})
                            .getAsyncToken();
          auto gpuDealloc = gpu::DeallocOp::create(
              rewriter, loc, tokenType, ValueRange{start}, dealloc.getMemref());
          gpu::WaitOp::create(rewriter, loc, Type(),
                              ValueRange{gpuDealloc.getAsyncToken()});
          rewriter.eraseOp(dealloc);
        }
      }
    }
  }
};

} // namespace
