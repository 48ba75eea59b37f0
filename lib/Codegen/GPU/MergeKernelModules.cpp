//===- MergeKernelModules.cpp - One gpu.module for all the kernels --------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-merge-kernel-modules: the outliner makes a gpu.module per
// kernel; they become one, so that the kernels are compiled by one ptxas run
// and loaded by one module load (see the pass description).
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/GPU/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUMERGEKERNELMODULES
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

struct GPUMergeKernelModulesPass
    : public mlir::kiln::impl::KilnGPUMergeKernelModulesBase<
          GPUMergeKernelModulesPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::GPUModuleOp> kernelModules(
        module.getOps<gpu::GPUModuleOp>());
    if (kernelModules.empty())
      return;
    // The merged module takes the first one's place and attributes (its
    // targets, which nvvm-attach-target sets later for all alike).
    OpBuilder builder(kernelModules.front());
    auto merged = gpu::GPUModuleOp::create(builder, module.getLoc(),
                                           moduleName.getValue());
    merged->setAttrs(kernelModules.front()->getAttrs());
    merged.setName(moduleName);
    SymbolTable mergedSymbols(merged);
    SymbolTable topSymbols(module);
    for (gpu::GPUModuleOp kernels : kernelModules) {
      StringAttr oldModule = kernels.getNameAttr();
      for (Operation &op :
           llvm::make_early_inc_range(kernels.getBody()->getOperations())) {
        auto symbol = dyn_cast<SymbolOpInterface>(op);
        if (!symbol)
          continue;
        if (auto kernel = dyn_cast<gpu::GPUFuncOp>(op);
            kernel && kernel.isKernel()) {
          // Shared buffers start 16-byte aligned, so that the kernels'
          // vector accesses to them (the FMA tiles' loads) may claim it.
          for (unsigned i = 0; i < kernel.getNumWorkgroupAttributions(); ++i) {
            StringRef alignName = LLVM::LLVMDialect::getAlignAttrName();
            int64_t align = 16;
            if (auto given = dyn_cast_or_null<IntegerAttr>(
                    kernel.getWorkgroupAttributionAttr(i, alignName)))
              align = std::max<int64_t>(align, given.getInt());
            kernel.setWorkgroupAttributionAttr(i, alignName,
                                               builder.getI64IntegerAttr(align));
          }
          // Each kernel is named after its old module (unique), and its
          // launches follow it.
          StringAttr oldName = kernel.getNameAttr();
          op.moveBefore(merged.getBody(), merged.getBody()->end());
          kernel.setName(oldModule);
          auto oldRef =
              SymbolRefAttr::get(oldModule, FlatSymbolRefAttr::get(oldName));
          auto newRef = SymbolRefAttr::get(
              merged.getNameAttr(), FlatSymbolRefAttr::get(oldModule));
          module.walk([&](gpu::LaunchFuncOp launch) {
            if (launch.getKernelAttr() == oldRef)
              launch.setKernelAttr(newRef);
          });
          continue;
        }
        // Globals and functions the outliner copied from the host module:
        // the same symbol in every kernel module; one copy is kept.
        if (mergedSymbols.lookup(symbol.getNameAttr()))
          continue;
        op.moveBefore(merged.getBody(), merged.getBody()->end());
        mergedSymbols.insert(&op);
      }
      kernels.erase();
    }
    // The merged module's own name must not clash with a host symbol.
    if (topSymbols.lookup(merged.getNameAttr()) != merged) {
      merged.emitError() << "kiln-gpu-merge-kernel-modules: the name '"
                         << moduleName.getValue() << "' is taken";
      return signalPassFailure();
    }
  }
};

} // namespace
