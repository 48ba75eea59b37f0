//===- SetTarget.cpp - The CPU that code is generated for -----------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/CPU/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "llvm/TargetParser/Host.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNCPUTARGET
#include "kiln/Codegen/CPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {
struct CPUTargetPass : public kiln::impl::KilnCPUTargetBase<CPUTargetPass> {
  using Base::Base;

  void runOnOperation() override {
    bool host = cpu == "host" || cpu == "native";
    std::string name = host ? llvm::sys::getHostCPUName().str() : cpu;
    if (name.empty()) {
      getOperation().emitError("kiln-cpu-target: no CPU name given");
      return signalPassFailure();
    }
    auto attr = StringAttr::get(&getContext(), name);
    getOperation().walk([&](LLVM::LLVMFuncOp func) {
      if (!func.isExternal())
        func.setTargetCpuAttr(attr);
    });
  }
};
} // namespace
