//===- RefineShapes.cpp - Propagate known shapes through Kiln ops
//----------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Transforms/Passes.h"

#include "kiln/Dialect/Kiln/KilnDialect.h"
#include "kiln/Dialect/Kiln/KilnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNREFINESHAPES
#include "kiln/Transforms/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;

/// The most refined type both `a` and `b` describe, if it is more refined
/// than `b` (the current type); null otherwise.
static RankedTensorType refinement(Type a, Type b) {
  auto inferred = dyn_cast<RankedTensorType>(a);
  auto current = dyn_cast<RankedTensorType>(b);
  if (!inferred || !current || inferred == current ||
      inferred.getElementType() != current.getElementType() ||
      inferred.getRank() != current.getRank())
    return {};
  SmallVector<int64_t> shape;
  bool tighter = false;
  for (auto [x, y] : llvm::zip_equal(inferred.getShape(), current.getShape())) {
    if (!ShapedType::isDynamic(y)) {
      if (!ShapedType::isDynamic(x) && x != y)
        return {}; // incompatible: leave it to the verifier
      shape.push_back(y);
      continue;
    }
    tighter |= !ShapedType::isDynamic(x);
    shape.push_back(x);
  }
  return tighter ? RankedTensorType::get(shape, current.getElementType())
                 : RankedTensorType();
}

/// True if `user` accepts an operand whose type became more refined: Kiln ops
/// check compatibility, not equality, and returns are handled with their
/// function's signature.
static bool acceptsRefinedOperand(Operation *user) {
  return isa<KilnDialect>(user->getDialect()) || isa<func::ReturnOp>(user);
}

/// Gives `value` the type `refined`; other users keep the old type through a
/// tensor.cast.
static void retype(Value value, RankedTensorType refined) {
  Type old = value.getType();
  value.setType(refined);
  Value cast;
  for (OpOperand &use : llvm::make_early_inc_range(value.getUses())) {
    if (acceptsRefinedOperand(use.getOwner()))
      continue;
    if (!cast) {
      OpBuilder builder(value.getContext());
      builder.setInsertionPointAfterValue(value);
      cast = tensor::CastOp::create(builder, value.getLoc(), old, value);
    }
    use.set(cast);
  }
}

/// Tightens the result types of one Kiln op; returns true if any changed.
static bool refineOp(Operation *op) {
  auto infer = dyn_cast<InferTypeOpInterface>(op);
  if (!infer || !isa<KilnDialect>(op->getDialect()))
    return false;
  SmallVector<Type> inferred;
  if (failed(infer.inferReturnTypes(
          op->getContext(), op->getLoc(), op->getOperands(),
          op->getRawDictionaryAttrs(), op->getPropertiesStorage(),
          op->getRegions(), inferred)))
    return false;
  bool changed = false;
  for (auto [result, type] : llvm::zip_equal(op->getResults(), inferred)) {
    if (RankedTensorType refined = refinement(type, result.getType())) {
      retype(result, refined);
      changed = true;
    }
  }
  return changed;
}

/// Tightens function result types to what their returns produce, and the
/// result types of the calls to them.
static bool refineFunctions(ModuleOp module) {
  bool changed = false;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isExternal() || !func.getBody().hasOneBlock())
      continue;
    auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
    SmallVector<Type> results(func.getResultTypes());
    bool tighter = false;
    for (auto [i, operand] : llvm::enumerate(ret.getOperands())) {
      if (RankedTensorType refined =
              refinement(operand.getType(), results[i])) {
        results[i] = refined;
        tighter = true;
      }
    }
    if (!tighter)
      continue;
    func.setType(
        FunctionType::get(func.getContext(), func.getArgumentTypes(), results));
    if (std::optional<SymbolTable::UseRange> uses =
            SymbolTable::getSymbolUses(func, module)) {
      for (const SymbolTable::SymbolUse &use : *uses) {
        auto call = dyn_cast<func::CallOp>(use.getUser());
        if (!call)
          continue;
        for (auto [result, type] : llvm::zip_equal(call.getResults(), results))
          if (RankedTensorType refined = refinement(type, result.getType()))
            retype(result, refined);
      }
    }
    changed = true;
  }
  return changed;
}

namespace {
struct RefineShapesPass
    : public kiln::impl::KilnRefineShapesBase<RefineShapesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Each round refines ops in program order and then function signatures;
    // a refined signature can refine callers, so repeat to a fixed point.
    // Every round makes at least one dimension static, so this terminates.
    bool changed = true;
    while (changed) {
      changed = false;
      module.walk([&](Operation *op) { changed |= refineOp(op); });
      changed |= refineFunctions(module);
    }
  }
};
} // namespace
