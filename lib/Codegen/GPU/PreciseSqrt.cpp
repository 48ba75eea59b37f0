//===- PreciseSqrt.cpp - Correctly rounded square roots in the kernels ----===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-precise-sqrt: the kernels' calls of libdevice's __nv_sqrtf
// become llvm.intr.sqrt, which the NVPTX backend emits as sqrt.rn.f32 (see
// the pass description).
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/GPU/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUPRECISESQRT
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

constexpr llvm::StringLiteral kSqrtf = "__nv_sqrtf";

struct GPUPreciseSqrtPass
    : public mlir::kiln::impl::KilnGPUPreciseSqrtBase<GPUPreciseSqrtPass> {
  void runOnOperation() override {
    gpu::GPUModuleOp module = getOperation();
    SmallVector<LLVM::CallOp> calls;
    module.walk([&](LLVM::CallOp call) {
      if (call.getCallee() == kSqrtf && call.getNumOperands() == 1 &&
          call.getNumResults() == 1)
        calls.push_back(call);
    });
    IRRewriter rewriter(&getContext());
    for (LLVM::CallOp call : calls) {
      rewriter.setInsertionPoint(call);
      rewriter.replaceOpWithNewOp<LLVM::SqrtOp>(call, call.getOperand(0));
    }
    // The declaration, now unused.
    if (auto declaration = module.lookupSymbol<LLVM::LLVMFuncOp>(kSqrtf))
      if (declaration.isExternal() &&
          SymbolTable::symbolKnownUseEmpty(declaration, module))
        rewriter.eraseOp(declaration);
  }
};

} // namespace
