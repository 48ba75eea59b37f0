//===- ContractFma.cpp - Multiplies and adds of kernels fuse into FMAs ----===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-contract-fma: the `contract` fast-math flag on every
// floating-point arith op of the kernels (see the pass description).
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/GPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUCONTRACTFMA
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

struct GPUContractFmaPass
    : public mlir::kiln::impl::KilnGPUContractFmaBase<GPUContractFmaPass> {
  void runOnOperation() override {
    getOperation().walk([](arith::ArithFastMathInterface op) {
      // Not casts: arith.extf folds away an arith.truncf it reads when both
      // may contract, and a value rounded to f16 would come back unrounded.
      if (isa<arith::ExtFOp, arith::TruncFOp>(op))
        return;
      arith::FastMathFlagsAttr flags = op.getFastMathFlagsAttr();
      arith::FastMathFlags value =
          flags ? flags.getValue() : arith::FastMathFlags::none;
      op->setAttr(op.getFastMathAttrName(),
                  arith::FastMathFlagsAttr::get(
                      op->getContext(), value | arith::FastMathFlags::contract));
    });
  }
};

} // namespace
