//===- MarkFunctions.cpp - The functions GPU entries call -----------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-mark-functions: the functions of a module compiled for the GPU
// that are not entries (those its entries call) are marked as GPU functions
// before bufferization adds host helpers (see the pass description).
//
//===----------------------------------------------------------------------===//

#include "GpuEntries.h"

#include "kiln/Codegen/GPU/Passes.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUMARKFUNCTIONS
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

struct GPUMarkFunctionsPass
    : public mlir::kiln::impl::KilnGPUMarkFunctionsBase<GPUMarkFunctionsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto functions = module.getOps<func::FuncOp>();
    if (llvm::none_of(functions, kiln::isGpuEntry))
      return;
    UnitAttr unit = UnitAttr::get(&getContext());
    for (func::FuncOp func : functions)
      if (!func.isExternal() &&
          !func->hasAttr(kiln::KilnDialect::EntryAttrHelper::getNameStr()))
        func->setAttr(kiln::KilnDialect::GpuFunctionAttrHelper::getNameStr(),
                      unit);
  }
};

} // namespace
