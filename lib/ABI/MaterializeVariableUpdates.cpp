//===- MaterializeVariableUpdates.cpp - Variable updates in place -------===//
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
//    writable and every other argument of an entry point read-only. A value
//    computed after the last read of the old one (and of its views) is
//    materialized directly, and eliminate-empty-tensors then lets its op
//    write the variable's buffer: no copy. Any other value is first copied
//    into a fresh allocation (bufferization.alloc_tensor, which empty-tensor
//    elimination leaves alone) at the end of the function, all copies before
//    any write, so one-shot bufferization never has to write a variable's
//    buffer while its old value is still needed (a swap stays correct).
//  - kiln-drop-variable-results (after bufferization) removes the returned
//    new values, which are now the variable buffers themselves.
//
//===----------------------------------------------------------------------===//

#include "kiln/ABI/EntryPoints.h"
#include "kiln/ABI/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Transforms/RegionUtils.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNMATERIALIZEVARIABLEUPDATES
#include "kiln/ABI/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;

/// The values that may share the buffer of `arg` once bufferized: the
/// argument, views of it, results of ops with regions that use one (a loop
/// may yield it), and results of destination-style ops writing into one.
static DenseSet<Value> possibleAliases(Block &body, Value arg) {
  DenseSet<Value> aliases = {arg};
  for (Operation &op : body) {
    bool touches = llvm::any_of(op.getOperands(),
                                [&](Value v) { return aliases.contains(v); });
    if (!touches && op.getNumRegions()) {
      SetVector<Value> above;
      for (Region &region : op.getRegions())
        getUsedValuesDefinedAbove(region, above);
      touches = llvm::any_of(above, [&](Value v) { return aliases.contains(v); });
    }
    if (!touches)
      continue;
    bool aliasing = isa<tensor::ExtractSliceOp, tensor::ExpandShapeOp,
                        tensor::CollapseShapeOp, tensor::CastOp,
                        tensor::ReshapeOp>(op);
    if (auto dps = dyn_cast<DestinationStyleOpInterface>(op))
      // A linalg op writes into its inits; its body is not a region that
      // could hand a buffer out.
      aliasing |= llvm::any_of(dps.getDpsInits(), [&](Value v) {
        return aliases.contains(v);
      });
    else
      aliasing |= op.getNumRegions() > 0;
    if (aliasing)
      for (Value r : op.getResults())
        aliases.insert(r);
  }
  return aliases;
}

/// Whether the new value `value` of the variable bound to `arg` may be
/// computed straight into the variable's buffer: it comes from an op of the
/// function body, and no later op (the return included) reads the old value
/// or anything that may alias it. Then no copy is needed.
static bool canUpdateInPlace(Block &body, Value arg, Value value) {
  Operation *producer = value.getDefiningOp();
  if (!producer || producer->getBlock() != &body ||
      isa<tensor::EmptyOp>(producer))
    return false;
  DenseSet<Value> aliases = possibleAliases(body, arg);
  if (aliases.contains(value))
    return false;
  for (Operation *op = producer->getNextNode(); op; op = op->getNextNode()) {
    bool reads = false;
    op->walk([&](Operation *inner) {
      for (Value v : inner->getOperands())
        reads |= aliases.contains(v);
    });
    if (reads)
      return false;
  }
  return true;
}

namespace {

struct MaterializeVariableUpdatesPass
    : public mlir::kiln::impl::KilnMaterializeVariableUpdatesBase<
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
      // (Other references, such as its shape function's, stay.)
      ArrayAttr assignedHere = getAssignedVariables(func);
      SmallVector<func::CallOp> calls;
      if (std::optional<SymbolTable::UseRange> uses =
              SymbolTable::getSymbolUses(func, module))
        for (const SymbolTable::SymbolUse &use : *uses)
          if (auto call = dyn_cast<func::CallOp>(use.getUser()))
            calls.push_back(call);
      if (assignedHere && !assignedHere.empty() && !calls.empty()) {
        auto copy = func.clone();
        copy.setName((func.getName() + "_impl").str());
        copy.setPrivate();
        KilnDialect::EntryAttrHelper(context).removeAttr(copy);
        symbols.insert(copy, ++Block::iterator(func));
        for (func::CallOp call : calls)
          call.setCallee(copy.getName());
      }
      // Only the buffers of assigned variables may be written.
      for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
        func.setArgAttr(i, "bufferization.writable", writable(false));
      ArrayAttr assigned = getAssignedVariables(func);
      if (!assigned || assigned.empty())
        continue;
      auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
      unsigned first = ret.getNumOperands() - assigned.size();
      OpBuilder b(ret);
      Location loc = ret.getLoc();
      // A new value computed after the last read of the old one goes
      // straight into the variable's buffer; the others are copied first
      // (every copy before any write: they may read old values).
      Block &entry = func.getBody().front();
      SmallVector<std::pair<Value, int64_t>> updates;
      for (auto [k, name] : llvm::enumerate(assigned)) {
        int64_t arg = getVariableArgument(func, name);
        if (arg < 0) {
          func.emitError() << "@" << func.getName() << " assigns " << name
                           << " but has no argument bound to it";
          return signalPassFailure();
        }
        func.setArgAttr(arg, "bufferization.writable", writable(true));
        Value value = ret.getOperand(first + k);
        if (canUpdateInPlace(entry, func.getArgument(arg), value)) {
          updates.push_back({value, arg});
          continue;
        }
        // A real allocation (not tensor.empty, which empty-tensor
        // elimination would turn into the variable's buffer again).
        auto type = cast<RankedTensorType>(value.getType());
        Value fresh = bufferization::AllocTensorOp::create(b, loc, type,
                                                           ValueRange{});
        updates.push_back(
            {linalg::CopyOp::create(b, loc, value, fresh).getResult(0), arg});
      }
      // An output that may alias a variable's buffer (the variable's value
      // after a loop that updated it in place, returned as well) is read
      // after the writes: it gets its own copy before them.
      for (unsigned i = 0; i < first; ++i) {
        Value out = ret.getOperand(i);
        auto type = dyn_cast<RankedTensorType>(out.getType());
        if (!type)
          continue;
        bool aliased = llvm::any_of(updates, [&](auto &update) {
          return possibleAliases(entry, func.getArgument(update.second))
              .contains(out);
        });
        if (!aliased)
          continue;
        SmallVector<Value> extents;
        for (int64_t d = 0; d < type.getRank(); ++d)
          if (type.isDynamicDim(d))
            extents.push_back(tensor::DimOp::create(b, loc, out, d));
        Value fresh =
            bufferization::AllocTensorOp::create(b, loc, type, extents);
        ret->setOperand(i,
                        linalg::CopyOp::create(b, loc, out, fresh).getResult(0));
      }
      for (auto [k, update] : llvm::enumerate(updates)) {
        auto write = bufferization::MaterializeInDestinationOp::create(
            b, loc, update.first, func.getArgument(update.second));
        ret->setOperand(first + k, write.getResult());
      }
    }
  }
};

} // namespace
