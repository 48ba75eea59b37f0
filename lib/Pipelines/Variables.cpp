//===- Variables.cpp - In-place variable updates at the function boundary -===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// After kiln-externalize-variables an entry point is a pure function
//
//   func @step(inputs..., vars...) -> (outputs..., new values of assigned)
//
// and the runtime binds each variable argument to the store's buffer. These
// two passes make the new values land in those buffers, so a training step
// does not copy the model out and back:
//
//  - kiln-materialize-variable-updates (before bufferization) writes each
//    new value into its variable's argument with
//    bufferization.materialize_in_destination, marks those arguments
//    writable and every other argument of an entry point read-only. The
//    value is first copied into a fresh tensor at the end of the function,
//    after every read of the old values, so one-shot bufferization never
//    has to write a variable's buffer while its old value is still needed
//    (a swap of two variables stays correct). It runs after
//    eliminate-empty-tensors: letting that pass write the copy straight into
//    the variable's buffer breaks exactly this guarantee. So an update
//    costs one extra copy of the variable (the value, then a memcpy).
//  - kiln-drop-variable-results (after bufferization) removes the returned
//    new values, which are now the variable buffers themselves.
//
//===----------------------------------------------------------------------===//

#include "kiln/Pipelines/Pipelines.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNMATERIALIZEVARIABLEUPDATES
#define GEN_PASS_DEF_KILNDROPVARIABLERESULTS
#include "kiln/Pipelines/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;

/// The names of the variables `func` assigns (its last results), or none.
static ArrayAttr assignedVariables(func::FuncOp func) {
  return func->getAttrOfType<ArrayAttr>("kiln.assigned");
}

/// The index of the argument bound to variable `name`, or -1.
static int64_t variableArgument(func::FuncOp func, Attribute name) {
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
    if (func.getArgAttr(i, "kiln.variable") == name)
      return i;
  return -1;
}

namespace {

struct MaterializeVariableUpdatesPass
    : public kiln::impl::KilnMaterializeVariableUpdatesBase<
          MaterializeVariableUpdatesPass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    auto writable = [&](bool value) { return BoolAttr::get(context, value); };
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    for (auto func : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (func.isPrivate() || func.isExternal())
        continue;
      // Callers of an entry point keep its functional form: they call a
      // private copy, and the entry itself is free to change its results.
      ArrayAttr assignedHere = assignedVariables(func);
      if (assignedHere && !assignedHere.empty() &&
          !SymbolTable::symbolKnownUseEmpty(func, module)) {
        auto copy = func.clone();
        copy.setName((func.getName() + "_impl").str());
        copy.setPrivate();
        copy->removeAttr("kiln.entry");
        symbols.insert(copy, ++Block::iterator(func));
        if (failed(SymbolTable::replaceAllSymbolUses(
                func, copy.getSymNameAttr(), module)))
          return signalPassFailure();
      }
      // Only the buffers of assigned variables may be written.
      for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
        func.setArgAttr(i, "bufferization.writable", writable(false));
      ArrayAttr assigned = assignedVariables(func);
      if (!assigned || assigned.empty())
        continue;
      auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
      unsigned first = ret.getNumOperands() - assigned.size();
      OpBuilder b(ret);
      Location loc = ret.getLoc();
      // First every copy (they read old values), then every write.
      SmallVector<std::pair<Value, int64_t>> updates;
      for (auto [k, name] : llvm::enumerate(assigned)) {
        int64_t arg = variableArgument(func, name);
        if (arg < 0) {
          func.emitError() << "@" << func.getName() << " assigns " << name
                           << " but has no argument bound to it";
          return signalPassFailure();
        }
        func.setArgAttr(arg, "bufferization.writable", writable(true));
        Value value = ret.getOperand(first + k);
        auto type = cast<RankedTensorType>(value.getType());
        Value empty = tensor::EmptyOp::create(b, loc, type.getShape(),
                                              type.getElementType());
        updates.push_back(
            {linalg::CopyOp::create(b, loc, value, empty).getResult(0), arg});
      }
      for (auto [k, update] : llvm::enumerate(updates)) {
        auto write = bufferization::MaterializeInDestinationOp::create(
            b, loc, update.first, func.getArgument(update.second));
        ret->setOperand(first + k, write.getResult());
      }
    }
  }
};

struct DropVariableResultsPass
    : public kiln::impl::KilnDropVariableResultsBase<DropVariableResultsPass> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      ArrayAttr assigned = assignedVariables(func);
      if (func.isPrivate() || func.isExternal() || !assigned ||
          assigned.empty())
        continue;
      auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
      unsigned first = ret.getNumOperands() - assigned.size();
      for (auto [k, name] : llvm::enumerate(assigned)) {
        int64_t arg = variableArgument(func, name);
        if (arg < 0 || ret.getOperand(first + k) != func.getArgument(arg)) {
          func.emitError() << "the new value of " << name
                           << " was not written into its buffer";
          return signalPassFailure();
        }
      }
      OpBuilder b(ret);
      func::ReturnOp::create(b, ret.getLoc(),
                             ret.getOperands().take_front(first));
      ret.erase();
      SmallVector<Type> results(func.getResultTypes().take_front(first));
      func.setType(FunctionType::get(func.getContext(), func.getArgumentTypes(),
                                     results));
      // The result attributes (if any) described the dropped results too.
      func.removeResAttrsAttr();
    }
  }
};

} // namespace
