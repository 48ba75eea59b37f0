//===- KilnDialect.cpp - Kiln dialect registration ------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Dialect/Kiln/KilnDialect.h"
#include "kiln/Dialect/Kiln/KilnOps.h"
#include "kiln/Dialect/Kiln/ShapeUtils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Transforms/InliningUtils.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::kiln;

static_assert(kiln::kDynamic == ShapedType::kDynamic,
              "ShapeUtils must use MLIR's marker of an unknown extent");

#include "kiln/Dialect/Kiln/KilnDialect.cpp.inc"
#include "kiln/Dialect/Kiln/KilnEnums.cpp.inc"
#include "kiln/Dialect/Kiln/KilnInterfaces.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "kiln/Dialect/Kiln/KilnAttrs.cpp.inc"

namespace {
/// Kiln ops have no state tied to the function they are in: every op may be
/// inlined anywhere (variables are module symbols, reachable from any
/// function). Calls and returns are func's, handled by its own interface.
struct KilnInlinerInterface : public DialectInlinerInterface {
  using DialectInlinerInterface::DialectInlinerInterface;

  bool isLegalToInline(Operation *, Operation *, bool) const final {
    return true;
  }
  bool isLegalToInline(Region *, Region *, bool, IRMapping &) const final {
    return true;
  }
  bool isLegalToInline(Operation *, Region *, bool, IRMapping &) const final {
    return true;
  }
};
} // namespace

void KilnDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "kiln/Dialect/Kiln/KilnOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "kiln/Dialect/Kiln/KilnAttrs.cpp.inc"
      >();
  addInterfaces<KilnInlinerInterface>();
}

//===----------------------------------------------------------------------===//
// The dialect's attributes on other ops
//===----------------------------------------------------------------------===//

/// "'kiln.NAME' must be WHAT" at `op`, unless `ok`.
static LogicalResult expect(Operation *op, NamedAttribute attr, bool ok,
                            StringRef what) {
  if (ok)
    return success();
  return op->emitError() << "'" << attr.getName().getValue() << "' must be "
                         << what << ", not " << attr.getValue();
}

/// Whether `attr` is an array of flat symbol references.
static bool isSymbolList(Attribute attr) {
  auto array = dyn_cast<ArrayAttr>(attr);
  return array && llvm::all_of(array, llvm::IsaPred<FlatSymbolRefAttr>);
}

LogicalResult KilnDialect::verifyOperationAttribute(Operation *op,
                                                    NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  Attribute value = attr.getValue();
  bool onFunction = isa<FunctionOpInterface>(op);
  auto onFunctionAs = [&](bool ok, StringRef what) -> LogicalResult {
    if (!onFunction)
      return op->emitError() << "'" << name << "' belongs on a function, not "
                             << "on '" << op->getName() << "'";
    return expect(op, attr, ok, what);
  };

  if (name == VariablesAttrHelper::getNameStr()) {
    if (!isa<ModuleOp>(op))
      return op->emitError() << "'" << name << "' belongs on a module";
    auto dict = dyn_cast<DictionaryAttr>(value);
    bool ok = dict && llvm::all_of(dict, [](NamedAttribute entry) {
                auto type = dyn_cast<TypeAttr>(entry.getValue());
                return type && isa<RankedTensorType>(type.getValue());
              });
    return expect(op, attr, ok,
                  "a dictionary of variable names to tensor types");
  }
  if (name == AssignedAttrHelper::getNameStr() ||
      name == GradientVariablesAttrHelper::getNameStr())
    return onFunctionAs(isSymbolList(value), "an array of variable symbols");
  if (name == EntryAttrHelper::getNameStr())
    return onFunctionAs(isa<EntryAttr>(value), "a #kiln.entry attribute");
  if (name == EntryNameAttrHelper::getNameStr())
    return onFunctionAs(isa<StringAttr>(value), "a string (the public name)");
  if (name == ShapeFunctionAttrHelper::getNameStr() ||
      name == GradientOfAttrHelper::getNameStr())
    return onFunctionAs(isa<FlatSymbolRefAttr>(value),
                        "a function symbol (@name)");
  if (name == GradientWrtAttrHelper::getNameStr())
    return onFunctionAs(isa<DenseI64ArrayAttr>(value),
                        "an array<i64> of argument indices");
  if (name == GradientSeededAttrHelper::getNameStr() ||
      name == GradientKnownInputsAttrHelper::getNameStr() ||
      name == GpuFunctionAttrHelper::getNameStr())
    return onFunctionAs(isa<UnitAttr>(value), "a unit attribute");
  if (name == VariableAttrHelper::getNameStr())
    return op->emitError() << "'" << name
                           << "' belongs on a function argument (the "
                              "variable bound to it), not on an operation";
  return op->emitError() << "unknown attribute '" << name
                         << "' of the kiln dialect";
}

LogicalResult KilnDialect::verifyRegionArgAttribute(Operation *op, unsigned,
                                                    unsigned argIndex,
                                                    NamedAttribute attr) {
  if (attr.getName().getValue() != VariableAttrHelper::getNameStr())
    return op->emitError() << "'" << attr.getName().getValue()
                           << "' is not an argument attribute (argument #"
                           << argIndex << ")";
  return expect(op, attr, isa<FlatSymbolRefAttr>(attr.getValue()),
                "a variable symbol (@name)");
}

LogicalResult KilnDialect::verifyRegionResultAttribute(Operation *op,
                                                       unsigned,
                                                       unsigned resultIndex,
                                                       NamedAttribute attr) {
  return op->emitError() << "'" << attr.getName().getValue()
                         << "' is not a result attribute (result #"
                         << resultIndex << ")";
}

Operation *KilnDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                            Type type, Location loc) {
  auto elements = dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return ConstantOp::create(builder, loc, elements);
}
