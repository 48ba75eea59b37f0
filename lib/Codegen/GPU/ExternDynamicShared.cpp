//===- ExternDynamicShared.cpp - Dynamic shared memory as CUDA declares it ===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-extern-dynamic-shared: the kernels' dynamic shared memory
// becomes an external declaration, aligned to 1024 bytes (see the pass
// description).
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/GPU/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUEXTERNDYNAMICSHARED
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

constexpr unsigned kSharedAddressSpace = 3;
constexpr uint64_t kAlignment = 1024;

struct GPUExternDynamicSharedPass
    : public mlir::kiln::impl::KilnGPUExternDynamicSharedBase<
          GPUExternDynamicSharedPass> {
  void runOnOperation() override {
    getOperation().walk([](LLVM::GlobalOp global) {
      auto array = dyn_cast<LLVM::LLVMArrayType>(global.getGlobalType());
      if (global.getAddrSpace() != kSharedAddressSpace || !array ||
          array.getNumElements() != 0 || !global.getInitializerRegion().empty() ||
          global.getValueAttr())
        return;
      global.setLinkage(LLVM::Linkage::External);
      global.setAlignment(std::max<uint64_t>(
          global.getAlignment().value_or(1), kAlignment));
    });
  }
};

} // namespace
