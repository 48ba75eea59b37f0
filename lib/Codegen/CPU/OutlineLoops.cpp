//===- OutlineLoops.cpp - Loop nests of huge functions into functions -----===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNCPUOUTLINELOOPS
#include "kiln/Codegen/CPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

/// The number of operations in `op`, itself included.
int64_t countOps(Operation *op) {
  int64_t n = 0;
  op->walk([&](Operation *) { ++n; });
  return n;
}

struct CPUOutlineLoopsPass
    : public mlir::kiln::impl::KilnCPUOutlineLoopsBase<CPUOutlineLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> large;
    for (func::FuncOp func : module.getOps<func::FuncOp>())
      if (!func.isExternal() && func.getBody().hasOneBlock() &&
          countOps(func) >= static_cast<int64_t>(minOps))
        large.push_back(func);
    for (func::FuncOp func : large)
      outlineLoops(func, symbols);
  }

  void outlineLoops(func::FuncOp func, SymbolTable &symbols) {
    SmallVector<Operation *> nests;
    for (Operation &op : func.getBody().front())
      if (isa<scf::ForOp, scf::ParallelOp>(op) && op.getNumResults() == 0 &&
          countOps(&op) >= static_cast<int64_t>(minLoopOps))
        nests.push_back(&op);
    unsigned count = 0;
    Operation *after = func; // (the functions in the nests' order)
    for (Operation *nest : nests)
      after = outline(func, nest, symbols, count++, after);
  }

  /// Moves `nest` into a new function placed after `after`; returns it.
  Operation *outline(func::FuncOp func, Operation *nest, SymbolTable &symbols,
                     unsigned index, Operation *after) {
    MLIRContext *context = func.getContext();
    // What the nest reads from around it: constants are copied in, the rest
    // become arguments.
    SetVector<Value> above(nest->getOperands().begin(),
                           nest->getOperands().end()); // (the bounds)
    getUsedValuesDefinedAbove(nest->getRegions(), above);
    SmallVector<Value> arguments;
    SmallVector<Operation *> constants;
    for (Value value : above) {
      Operation *def = value.getDefiningOp();
      if (def && def->getNumResults() == 1 && matchPattern(def, m_Constant()))
        constants.push_back(def);
      else
        arguments.push_back(value);
    }
    OpBuilder b(func);
    b.setInsertionPointAfter(after);
    auto type = FunctionType::get(
        context, ValueRange(arguments).getTypes(), TypeRange{});
    auto outlined = func::FuncOp::create(
        b, nest->getLoc(),
        (func.getName() + "_loop_" + std::to_string(index)).str(), type);
    outlined.setPrivate();
    // LLVM would inline a function called once straight back.
    outlined->setAttr("passthrough",
                      b.getArrayAttr({b.getStringAttr("noinline")}));
    symbols.insert(outlined);
    Block *body = outlined.addEntryBlock();
    OpBuilder inside = OpBuilder::atBlockBegin(body);
    IRMapping mapping;
    for (auto [value, argument] : llvm::zip(arguments, body->getArguments()))
      mapping.map(value, argument);
    for (Operation *constant : constants)
      inside.clone(*constant, mapping);
    inside.clone(*nest, mapping);
    func::ReturnOp::create(inside, nest->getLoc());
    OpBuilder at(nest);
    func::CallOp::create(at, nest->getLoc(), outlined, arguments);
    nest->erase();
    return outlined;
  }
};

} // namespace
