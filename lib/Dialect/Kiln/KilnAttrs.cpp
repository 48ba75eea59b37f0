//===- KilnAttrs.cpp - Kiln dialect attributes ----------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Dialect/Kiln/Dtypes.h"
#include "kiln/Dialect/Kiln/KilnDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"

using namespace mlir;
using namespace mlir::kiln;

/// Whether `type` is one of the element types an entry point can exchange
/// with the runtime (Kiln_Element in KilnBase.td).
static bool isKilnElement(Type type) { return getDtype(type).has_value(); }

/// Whether `attr` is a TypeAttr holding a ranked tensor of a Kiln element.
static bool isKilnTensor(Attribute attr) {
  auto type = dyn_cast<TypeAttr>(attr);
  auto tensor = type ? dyn_cast<RankedTensorType>(type.getValue())
                     : RankedTensorType();
  return tensor && isKilnElement(tensor.getElementType());
}

LogicalResult EntryAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                ArrayAttr inputs, ArrayAttr outputs,
                                ArrayAttr variables, ArrayAttr checks,
                                Device) {
  for (auto [what, list] : {std::make_pair("inputs", inputs),
                            std::make_pair("outputs", outputs)})
    for (auto [i, attr] : llvm::enumerate(list))
      if (!isKilnTensor(attr))
        return emitError() << "#kiln.entry: " << what << " #" << i << " is "
                           << attr << ", not a ranked tensor type of "
                           << kDtypeList;
  for (auto [i, attr] : llvm::enumerate(variables)) {
    auto binding = dyn_cast<BindingAttr>(attr);
    if (!binding)
      return emitError() << "#kiln.entry: variables #" << i << " is " << attr
                         << ", not a #kiln.binding";
    if (!isKilnElement(binding.getType().getElementType()) ||
        !binding.getType().hasStaticShape())
      return emitError() << "#kiln.entry: variable " << binding.getVariable()
                         << " has type " << binding.getType()
                         << "; variables are statically shaped tensors of "
                         << kDtypeList;
  }
  for (auto [i, attr] : llvm::enumerate(checks))
    if (!isa<StringAttr>(attr))
      return emitError() << "#kiln.entry: checks #" << i << " is " << attr
                         << ", not a string";
  return success();
}

EntryAttr EntryAttr::get(MLIRContext *context, TypeRange inputs,
                         TypeRange outputs, ArrayRef<BindingAttr> variables,
                         ArrayRef<StringRef> checks, Device device) {
  Builder b(context);
  auto types = [&](TypeRange range) {
    return b.getArrayAttr(llvm::map_to_vector(
        range, [](Type t) -> Attribute { return TypeAttr::get(t); }));
  };
  return get(context, types(inputs), types(outputs),
             b.getArrayAttr(SmallVector<Attribute>(variables.begin(),
                                                   variables.end())),
             b.getStrArrayAttr(checks), device);
}

/// The tensor types held by an array of TypeAttrs.
static SmallVector<RankedTensorType> tensorTypes(ArrayAttr types) {
  return llvm::map_to_vector(types, [](Attribute attr) {
    return cast<RankedTensorType>(cast<TypeAttr>(attr).getValue());
  });
}

SmallVector<RankedTensorType> EntryAttr::getInputTypes() const {
  return tensorTypes(getInputs());
}

SmallVector<RankedTensorType> EntryAttr::getOutputTypes() const {
  return tensorTypes(getOutputs());
}

SmallVector<BindingAttr> EntryAttr::getBindings() const {
  return llvm::to_vector(getVariables().getAsRange<BindingAttr>());
}

SmallVector<StringRef> EntryAttr::getCheckMessages() const {
  return llvm::map_to_vector(getChecks(), [](Attribute attr) {
    return cast<StringAttr>(attr).getValue();
  });
}

EntryAttr EntryAttr::withChecks(ArrayRef<StringRef> messages) const {
  SmallVector<Attribute> checks(getChecks().begin(), getChecks().end());
  for (StringRef message : messages)
    checks.push_back(StringAttr::get(getContext(), message));
  return get(getContext(), getInputs(), getOutputs(), getVariables(),
             ArrayAttr::get(getContext(), checks), getDevice());
}

bool EntryAttr::hasOpenExtents() const {
  auto open = [](RankedTensorType type) { return !type.hasStaticShape(); };
  return llvm::any_of(getInputTypes(), open) ||
         llvm::any_of(getOutputTypes(), open);
}
