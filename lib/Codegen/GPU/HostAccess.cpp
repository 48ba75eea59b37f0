//===- HostAccess.cpp - Host reads and writes of GPU memory ---------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-host-access: the scalar loads and stores that host code of a GPU
// entry makes on GPU memory (a branch's predicate, a loop's bound, a loop
// counter stored into a tensor) become a kernel of one thread and, for a
// load, a copy of the value to host memory (see the pass description).
//
//===----------------------------------------------------------------------===//

#include "GpuEntries.h"
#include "GpuMemory.h"

#include "kiln/Codegen/GPU/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUHOSTACCESS
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

/// `%v = memref.load %gpu[...]` in host code becomes: a GPU scalar written
/// by a kernel of one thread, copied into a host scalar, read there.
void readOnHost(IRRewriter &rewriter, memref::LoadOp load, func::FuncOp func) {
  Location loc = load.getLoc();
  auto tokenType = gpu::AsyncTokenType::get(rewriter.getContext());
  auto scalar = MemRefType::get({}, load.getType());
  // The host scalar at the function's start: no stack growth in loops.
  rewriter.setInsertionPointToStart(&func.getBody().front());
  Value host = memref::AllocaOp::create(rewriter, loc, scalar);
  rewriter.setInsertionPoint(load);
  Value gpu = kiln::createWaitedFor(rewriter, loc, [&](Value start) {
                return gpu::AllocOp::create(rewriter, loc, scalar, tokenType,
                                            ValueRange{start}, ValueRange{},
                                            ValueRange{},
                                            /*hostShared=*/false)
                    .getOperation();
              })->getResult(0);
  gpu::LaunchOp launch = kiln::createOneThreadLaunch(rewriter, loc);
  Operation *inKernel = rewriter.clone(*load);
  memref::StoreOp::create(rewriter, loc, inKernel->getResult(0), gpu,
                          ValueRange{});
  rewriter.setInsertionPointAfter(launch);
  kiln::createWaitedFor(rewriter, loc, [&](Value start) {
    return gpu::MemcpyOp::create(rewriter, loc, tokenType, ValueRange{start},
                                 host, gpu)
        .getOperation();
  });
  kiln::createWaitedFor(rewriter, loc, [&](Value start) {
    return gpu::DeallocOp::create(rewriter, loc, tokenType, ValueRange{start},
                                  gpu)
        .getOperation();
  });
  rewriter.replaceOpWithNewOp<memref::LoadOp>(load, host, ValueRange{});
}

struct GPUHostAccessPass
    : public mlir::kiln::impl::KilnGPUHostAccessBase<GPUHostAccessPass> {
  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (!kiln::isGpuFunction(func))
        continue;
      SmallVector<Operation *> accesses;
      func.walk([&](Operation *op) {
        if (kiln::inKernelCode(op))
          return;
        if (auto load = dyn_cast<memref::LoadOp>(op)) {
          if (kiln::holdsGpuMemory(load.getMemRef()))
            accesses.push_back(op);
        } else if (auto store = dyn_cast<memref::StoreOp>(op)) {
          if (kiln::holdsGpuMemory(store.getMemRef()))
            accesses.push_back(op);
        }
      });
      for (Operation *op : accesses) {
        if (auto load = dyn_cast<memref::LoadOp>(op))
          readOnHost(rewriter, load, func);
        else
          kiln::runInOneThread(rewriter, op); // the value is an argument
      }
    }
  }
};

} // namespace
