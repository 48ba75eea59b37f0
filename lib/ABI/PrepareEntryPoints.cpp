//===- PrepareEntryPoints.cpp - Record the signatures of entry points ----===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-prepare-entry-points runs while the signatures are still tensors: it
// checks that every public function can be called through the C ABI (see
// EmitEntryPoints.cpp) and records, as a #kiln.entry attribute, what the
// runtime needs to call it.
//
//===----------------------------------------------------------------------===//

#include "kiln/ABI/EntryPoints.h"
#include "kiln/ABI/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNPREPAREENTRYPOINTS
#include "kiln/ABI/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;

/// The signature of entry point `func` for the runtime, or failure (after
/// reporting the first argument or result that the ABI cannot pass).
static FailureOr<EntryAttr> describeEntry(func::FuncOp func, Device device) {
  if (!isCIdentifier(func.getName()))
    return func.emitError() << "entry point name '" << func.getName()
                            << "' is not a C identifier";
  // Inputs, then the variables the function binds (its last arguments);
  // outputs, then the new values of assigned variables (written in place,
  // not returned).
  ArrayAttr assigned = getAssignedVariables(func);
  unsigned numVars = 0;
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
    if (getBoundVariable(func, i))
      ++numVars;
  unsigned numIn = func.getNumArguments() - numVars;
  unsigned numOut = func.getNumResults() - (assigned ? assigned.size() : 0);

  auto check = [&](Type type, StringRef kind, unsigned i) -> LogicalResult {
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor || !getDtype(tensor.getElementType()))
      return func.emitError()
             << "entry point '" << func.getName() << "': " << kind << " #" << i
             << " has type " << type
             << "; entry points take and return ranked tensors of "
             << kDtypeList;
    if (kind == "variable" && !tensor.hasStaticShape())
      return func.emitError() << "entry point '" << func.getName()
                              << "': variable #" << i << " has type " << type
                              << "; variables have static shapes";
    return success();
  };
  TypeRange argTypes = func.getArgumentTypes();
  TypeRange resultTypes = func.getResultTypes();
  for (unsigned i = 0; i < numIn; ++i)
    if (failed(check(argTypes[i], "input", i)))
      return failure();
  SmallVector<BindingAttr> bindings;
  for (unsigned k = 0; k < numVars; ++k) {
    if (failed(check(argTypes[numIn + k], "variable", k)))
      return failure();
    FlatSymbolRefAttr name = getBoundVariable(func, numIn + k);
    if (!name)
      return func.emitError()
             << "entry point '" << func.getName() << "': argument #"
             << numIn + k
             << " is not bound to a variable, but an earlier argument is; "
                "the arguments bound to variables come last";
    bool written = assigned && llvm::is_contained(assigned, name);
    bindings.push_back(BindingAttr::get(
        func.getContext(), name, cast<RankedTensorType>(argTypes[numIn + k]),
        written ? Access::read_write : Access::read));
  }
  for (unsigned j = 0; j < numOut; ++j)
    if (failed(check(resultTypes[j], "output", j)))
      return failure();
  return EntryAttr::get(func.getContext(), argTypes.take_front(numIn),
                        resultTypes.take_front(numOut), bindings,
                        /*checks=*/{}, device);
}

namespace {

struct PrepareEntryPointsPass
    : public mlir::kiln::impl::KilnPrepareEntryPointsBase<PrepareEntryPointsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // The module's variables must be describable too.
    bool ok = succeeded(buildManifest(module));
    KilnDialect::EntryAttrHelper entries(&getContext());
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isPrivate() || func.isExternal())
        continue;
      FailureOr<EntryAttr> entry = describeEntry(func, device);
      if (failed(entry)) {
        ok = false;
        continue;
      }
      entries.setAttr(func, *entry);
    }
    if (!ok)
      signalPassFailure();
  }
};

} // namespace
