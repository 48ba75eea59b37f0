//===- BF16Bits.cpp - bf16 values in memory and between blocks as bits ---===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-cpu-bf16-bits: LLVM loads, stores and block arguments of bf16 (and
// vectors of it) carry i16 instead (see the pass description).
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/CPU/Passes.h"

#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNCPUBF16BITS
#include "kiln/Codegen/CPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

/// The i16 type (or vector of it) that carries the bits of a bf16 value;
/// null for other types.
Type bitsOf(Type type) {
  Builder b(type.getContext());
  if (type.isBF16())
    return b.getI16Type();
  if (auto vector = dyn_cast<VectorType>(type))
    if (vector.getElementType().isBF16())
      return vector.clone(b.getI16Type());
  return nullptr;
}

/// `operand` (a bf16 value) replaced by its bits, cast before `user`.
void useBits(OpOperand &operand) {
  Type bits = bitsOf(operand.get().getType());
  if (!bits)
    return;
  OpBuilder b(operand.getOwner());
  operand.set(LLVM::BitcastOp::create(b, operand.getOwner()->getLoc(), bits,
                                      operand.get()));
}

/// `value` (a bf16 result or block argument) made its bits; its users read
/// a cast back, made at `b`.
void produceBits(Value value, OpBuilder &b) {
  Type type = value.getType();
  Type bits = bitsOf(type);
  if (!bits)
    return;
  value.setType(bits);
  auto cast = LLVM::BitcastOp::create(b, value.getLoc(), type, value);
  value.replaceAllUsesExcept(cast, cast);
}

struct CPUBF16BitsPass
    : public mlir::kiln::impl::KilnCPUBF16BitsBase<CPUBF16BitsPass> {
  void runOnOperation() override {
    SmallVector<Operation *> memoryOps;
    SmallVector<Block *> blocks;
    getOperation().walk([&](Operation *op) {
      if (isa<LLVM::LoadOp, LLVM::StoreOp, LLVM::MaskedLoadOp,
              LLVM::MaskedStoreOp>(op))
        memoryOps.push_back(op);
      for (Region &region : op->getRegions())
        for (Block &block : region)
          if (!block.isEntryBlock() &&
              llvm::any_of(block.getArgumentTypes(),
                            [](Type type) { return bool(bitsOf(type)); }))
            blocks.push_back(&block);
    });
    for (Operation *op : memoryOps) {
      if (auto store = dyn_cast<LLVM::StoreOp>(op)) {
        useBits(store.getValueMutable());
      } else if (auto store = dyn_cast<LLVM::MaskedStoreOp>(op)) {
        useBits(store.getValueMutable());
      } else {
        // A masked load's pass-through value has the loaded type.
        if (auto masked = dyn_cast<LLVM::MaskedLoadOp>(op))
          for (OpOperand &passThru : masked.getPassThruMutable())
            useBits(passThru);
        OpBuilder b(op->getContext());
        b.setInsertionPointAfter(op);
        produceBits(op->getResult(0), b);
      }
    }
    for (Block *block : blocks) {
      // Each predecessor must name the operands it forwards.
      if (!llvm::all_of(block->getUses(), [](BlockOperand &use) {
            auto branch = dyn_cast<BranchOpInterface>(use.getOwner());
            return branch &&
                   branch.getSuccessorOperands(use.getOperandNumber())
                           .getProducedOperandCount() == 0;
          }))
        continue;
      for (BlockArgument argument : block->getArguments()) {
        if (!bitsOf(argument.getType()))
          continue;
        for (BlockOperand &use : block->getUses())
          useBits(cast<BranchOpInterface>(use.getOwner())
                      .getSuccessorOperands(use.getOperandNumber())
                      .getMutableForwardedOperands()[argument.getArgNumber()]);
        OpBuilder b = OpBuilder::atBlockBegin(block);
        produceBits(argument, b);
      }
    }
    // A cast of a cast back to the first type folds to the first value
    // (llvm.bitcast's folder; LLVM would fold it too, but not at -O0,
    // where the bf16 in between would still be rounded through a helper).
    SmallVector<Operation *> casts;
    getOperation().walk([&](LLVM::BitcastOp cast) { casts.push_back(cast); });
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingOps);
    (void)applyOpPatternsGreedily(casts, FrozenRewritePatternSet(), config);
  }
};

} // namespace
