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

/// The scalars through which a function's host code reads values of one
/// element type from GPU memory: one in host memory, one in GPU memory,
/// both made once at the function's start (not per read: a loop condition
/// is read every iteration), the GPU one freed before each return.
struct Staging {
  Value host, gpu;
};

Staging stagingFor(IRRewriter &rewriter, func::FuncOp func, Type element,
                   llvm::DenseMap<Type, Staging> &made) {
  auto found = made.find(element);
  if (found != made.end())
    return found->second;
  Location loc = func.getLoc();
  auto tokenType = gpu::AsyncTokenType::get(rewriter.getContext());
  auto scalar = MemRefType::get({}, element);
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointToStart(&func.getBody().front());
  Staging staging;
  staging.host = memref::AllocaOp::create(rewriter, loc, scalar);
  staging.gpu = kiln::createWaitedFor(rewriter, loc, [&](Value start) {
                  return gpu::AllocOp::create(rewriter, loc, scalar, tokenType,
                                              ValueRange{start}, ValueRange{},
                                              ValueRange{},
                                              /*hostShared=*/false)
                      .getOperation();
                })->getResult(0);
  for (auto ret : func.getBody().getOps<func::ReturnOp>()) {
    rewriter.setInsertionPoint(ret);
    kiln::createWaitedFor(rewriter, loc, [&](Value start) {
      return gpu::DeallocOp::create(rewriter, loc, tokenType, ValueRange{start},
                                    staging.gpu)
          .getOperation();
    });
  }
  made[element] = staging;
  return staging;
}

/// `%v = memref.load %gpu[...]` in host code becomes: a kernel of one thread
/// that copies the element into the GPU scalar, a copy of that into the
/// host scalar, and a host load of it.
void readOnHost(IRRewriter &rewriter, memref::LoadOp load, Staging staging) {
  Location loc = load.getLoc();
  auto tokenType = gpu::AsyncTokenType::get(rewriter.getContext());
  rewriter.setInsertionPoint(load);
  gpu::LaunchOp launch = kiln::createOneThreadLaunch(rewriter, loc);
  Operation *inKernel = rewriter.clone(*load);
  memref::StoreOp::create(rewriter, loc, inKernel->getResult(0), staging.gpu,
                          ValueRange{});
  rewriter.setInsertionPointAfter(launch);
  kiln::createWaitedFor(rewriter, loc, [&](Value start) {
    return gpu::MemcpyOp::create(rewriter, loc, tokenType, ValueRange{start},
                                 staging.host, staging.gpu)
        .getOperation();
  });
  rewriter.replaceOpWithNewOp<memref::LoadOp>(load, staging.host,
                                              ValueRange{});
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
      llvm::DenseMap<Type, Staging> staging;
      for (Operation *op : accesses) {
        if (auto load = dyn_cast<memref::LoadOp>(op))
          readOnHost(rewriter, load,
                     stagingFor(rewriter, func, load.getType(), staging));
        else
          kiln::runInOneThread(rewriter, op); // the value is an argument
      }
    }
  }
};

} // namespace
