//===- DropVariableResults.cpp - Variable updates leave the results ------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// After bufferization, the new values that kiln-materialize-variable-updates
// wrote into the variables' buffers are returned as those buffers (the
// entry's own arguments). This pass drops them from the results, so that an
// entry's results are its outputs only.
//
//===----------------------------------------------------------------------===//

#include "kiln/ABI/EntryPoints.h"
#include "kiln/ABI/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNDROPVARIABLERESULTS
#include "kiln/ABI/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;

namespace {

struct DropVariableResultsPass
    : public mlir::kiln::impl::KilnDropVariableResultsBase<DropVariableResultsPass> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      ArrayAttr assigned = getAssignedVariables(func);
      if (func.isPrivate() || func.isExternal() || !assigned ||
          assigned.empty())
        continue;
      auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
      unsigned first = ret.getNumOperands() - assigned.size();
      for (auto [k, name] : llvm::enumerate(assigned)) {
        int64_t arg = getVariableArgument(func, name);
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
