//===- EntryPoints.cpp - What the ABI passes share ------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/ABI/EntryPoints.h"
#include "kiln/Conversion/KilnToLinalg/KilnToLinalg.h"

#include "mlir/Interfaces/FunctionInterfaces.h"

using namespace mlir;
using namespace mlir::kiln;

// The dialect's device kinds are the runtime's device types.
static_assert(static_cast<int>(Device::cpu) == KILN_DEVICE_CPU &&
                  static_cast<int>(Device::cuda) == KILN_DEVICE_CUDA,
              "kiln::Device and kiln_device_type_t must agree");

std::optional<::kiln::runtime::TensorSpec> mlir::kiln::getTensorSpec(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return std::nullopt;
  std::optional<kiln_dtype_t> dtype = getDtype(tensor.getElementType());
  if (!dtype)
    return std::nullopt;
  ::kiln::runtime::TensorSpec spec;
  spec.dtype = *dtype;
  for (int64_t d : tensor.getShape())
    spec.shape.push_back(ShapedType::isDynamic(d) ? ::kiln::runtime::kDynamicExtent
                                                  : d);
  return spec;
}

bool mlir::kiln::isCIdentifier(StringRef name) {
  return ::kiln::runtime::isIdentifier(std::string_view(name.data(), name.size()));
}

EntryAttr mlir::kiln::getEntry(Operation *func) {
  return KilnDialect::EntryAttrHelper(func->getContext()).getAttr(func);
}

ArrayAttr mlir::kiln::getAssignedVariables(func::FuncOp func) {
  return KilnDialect::AssignedAttrHelper(func->getContext()).getAttr(func);
}

FlatSymbolRefAttr mlir::kiln::getBoundVariable(func::FuncOp func,
                                               unsigned index) {
  return func.getArgAttrOfType<FlatSymbolRefAttr>(
      index, KilnDialect::VariableAttrHelper::getNameStr());
}

int64_t mlir::kiln::getVariableArgument(func::FuncOp func, Attribute name) {
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
    if (getBoundVariable(func, i) == name)
      return i;
  return -1;
}

FailureOr<::kiln::runtime::Manifest> mlir::kiln::buildManifest(ModuleOp module) {
  ::kiln::runtime::Manifest manifest;
  bool ok = true;
  if (DictionaryAttr declared =
          KilnDialect::VariablesAttrHelper(module.getContext()).getAttr(module))
    for (NamedAttribute named : declared) {
      Type type = cast<TypeAttr>(named.getValue()).getValue();
      std::optional<::kiln::runtime::TensorSpec> spec = getTensorSpec(type);
      if (!spec || !cast<RankedTensorType>(type).hasStaticShape() ||
          !isCIdentifier(named.getName())) {
        module.emitError()
            << "variable @" << named.getName().getValue()
            << " cannot be bound by the runtime: it needs a C identifier as "
               "name and a statically shaped tensor of a Kiln element type";
        ok = false;
        continue;
      }
      manifest.variables.push_back({named.getName().str(), std::move(*spec)});
    }
  if (!ok)
    return failure();
  // Value checks at run time (kiln_check_failed: gathers' bounds, integer
  // division by zero) in a CPU entry that assigns variables make it atomic:
  // the runtime undoes its variable updates when a check fails. (Checked
  // per module, not per entry: conservative, and the copies are only made
  // for entries that assign variables.)
  // So do collectives, which fail when the processes disagree.
  bool checked = module.lookupSymbol("kiln_check_failed") != nullptr ||
                 llvm::any_of(module.getOps<SymbolOpInterface>(),
                              [](SymbolOpInterface f) {
                                return isCollectiveRuntimeCall(f.getName());
                              });
  for (Operation &op : *module.getBody()) {
    EntryAttr entry = getEntry(&op);
    if (!entry)
      continue;
    ::kiln::runtime::EntrySpec spec;
    spec.name = publicName(&op).str();
    spec.device = static_cast<kiln_device_type_t>(entry.getDevice());
    // The entry attribute's verifier guarantees Kiln tensor types.
    for (RankedTensorType type : entry.getInputTypes())
      spec.inputs.push_back(*getTensorSpec(type));
    for (RankedTensorType type : entry.getOutputTypes())
      spec.outputs.push_back(*getTensorSpec(type));
    for (BindingAttr binding : entry.getBindings())
      spec.variables.push_back({binding.getVariable().getValue().str(),
                                binding.isWritten(),
                                *getTensorSpec(binding.getType())});
    for (StringRef check : entry.getCheckMessages())
      spec.checks.push_back(check.str());
    spec.atomic = checked && spec.device == KILN_DEVICE_CPU &&
                  llvm::any_of(spec.variables,
                               [](const auto &v) { return v.writes; });
    manifest.entries.push_back(std::move(spec));
  }
  return manifest;
}

llvm::StringRef mlir::kiln::publicName(Operation *func) {
  KilnDialect::EntryNameAttrHelper entryName(func->getContext());
  if (StringAttr name = entryName.getAttr(func))
    return name.getValue();
  return cast<SymbolOpInterface>(func).getName();
}
