//===- FunctionBuilder.cpp - Building Kiln functions op by op -------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Compiler/FunctionBuilder.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"

#include <memory>

using namespace mlir;
using namespace mlir::kiln;

FunctionBuilder::FunctionBuilder(MLIRContext &context, llvm::StringRef name,
                                 llvm::ArrayRef<Type> argumentTypes)
    : context(context), builder(&context) {
  Location loc = UnknownLoc::get(&context);
  ownedModule = ModuleOp::create(loc);
  module = *ownedModule;
  builder.setInsertionPointToEnd(module.getBody());
  auto func = func::FuncOp::create(builder, loc, name,
                                   builder.getFunctionType(argumentTypes, {}));
  body = func.addEntryBlock();
  builder.setInsertionPointToStart(body);
}

FunctionBuilder::FunctionBuilder(FunctionBuilder &other, llvm::StringRef name,
                                 llvm::ArrayRef<Type> argumentTypes)
    : context(other.context), module(other.module), builder(&context) {
  Location loc = UnknownLoc::get(&context);
  builder.setInsertionPointToEnd(module.getBody());
  auto func = func::FuncOp::create(builder, loc, name,
                                   builder.getFunctionType(argumentTypes, {}));
  body = func.addEntryBlock();
  builder.setInsertionPointToStart(body);
}

void FunctionBuilder::finishFunction(llvm::ArrayRef<Value> results) {
  func::ReturnOp::create(builder, UnknownLoc::get(&context), results);
  auto func = cast<func::FuncOp>(body->getParentOp());
  func.setType(builder.getFunctionType(func.getArgumentTypes(),
                                       ValueRange(results).getTypes()));
}

Value FunctionBuilder::argument(unsigned i) { return body->getArgument(i); }

namespace {
/// Collects the diagnostics emitted while it lives as one message.
struct Collector {
  explicit Collector(MLIRContext &context)
      : handler(&context, [this](Diagnostic &d) {
          if (!text.empty())
            text += "\n";
          text += d.str();
          for (Diagnostic &note : d.getNotes())
            text += "\n  note: " + note.str();
          return success();
        }) {}
  std::string text;
  ScopedDiagnosticHandler handler;
};
} // namespace

FailureOr<SmallVector<Value>>
FunctionBuilder::addOp(llvm::StringRef op, llvm::ArrayRef<Value> operands,
                       DictionaryAttr attributes,
                       llvm::ArrayRef<Type> resultTypes, Location loc,
                       std::string &error) {
  std::string fullName = op.contains('.') ? op.str() : ("kiln." + op).str();
  OperationName name(fullName, &context);
  std::optional<RegisteredOperationName> info = name.getRegisteredInfo();
  if (!info) {
    error = "unknown op '" + fullName + "'";
    return failure();
  }
  if (!attributes)
    attributes = DictionaryAttr::get(&context);
  Collector diagnostics(context);
  SmallVector<Type> types(resultTypes);
  if (auto *iface = info->getInterface<InferTypeOpInterface>()) {
    // Inference reads the op's properties: build them from the attributes
    // as the parser does.
    int size = info->getOpPropertyByteSize();
    std::unique_ptr<char[]> storage(new char[size > 0 ? size : 1]);
    OpaqueProperties properties(size > 0 ? storage.get() : nullptr);
    if (size > 0)
      info->initOpProperties(properties, OpaqueProperties(nullptr));
    auto emitError = [&]() { return mlir::emitError(loc); };
    bool ok = size == 0 || info->setOpPropertiesFromAttribute(
                                   name, properties, attributes, emitError)
                               .succeeded();
    SmallVector<Type> inferred;
    ok = ok && iface->inferReturnTypes(&context, loc, ValueRange(operands),
                                       attributes, properties, RegionRange(),
                                       inferred)
                   .succeeded();
    if (size > 0)
      info->destroyOpProperties(properties);
    if (!ok) {
      error = diagnostics.text.empty() ? "'" + fullName +
                                             "': cannot infer the result types"
                                       : diagnostics.text;
      return failure();
    }
    if (types.empty())
      types = inferred;
  }
  OperationState state(loc, name);
  state.addOperands(operands);
  state.addAttributes(attributes.getValue());
  state.addTypes(types);
  Operation *created = builder.create(state);
  if (failed(verify(created))) {
    error = diagnostics.text.empty() ? "'" + fullName + "' is invalid"
                                     : diagnostics.text;
    created->erase();
    return failure();
  }
  return SmallVector<Value>(created->getResults());
}

OwningOpRef<ModuleOp> FunctionBuilder::finish(llvm::ArrayRef<Value> results,
                                              std::string &error) {
  finishFunction(results);
  return takeModule(error);
}

OwningOpRef<ModuleOp> FunctionBuilder::takeModule(std::string &error) {
  Collector diagnostics(context);
  if (!ownedModule) {
    error = "only the builder that created the module can hand it over";
    return nullptr;
  }
  if (failed(verify(*ownedModule))) {
    error = diagnostics.text;
    return nullptr;
  }
  return std::move(ownedModule);
}
