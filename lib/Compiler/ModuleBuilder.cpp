//===- ModuleBuilder.cpp - Building traced modules by value ids -----------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Compiler/ModuleBuilder.h"

#include "kiln/Dialect/Kiln/KilnOps.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::kiln;

FunctionBuilder *ModuleBuilder::at(size_t function, std::string &error) {
  if (function >= functions.size()) {
    error = "no function " + std::to_string(function) + " in this module";
    return nullptr;
  }
  return functions[function].get();
}

FailureOr<Value> ModuleBuilder::value(size_t id, std::string &error) {
  if (id >= ids.size()) {
    error = "no value " + std::to_string(id) + " in this module";
    return failure();
  }
  return ids[id];
}

FailureOr<SmallVector<Value>>
ModuleBuilder::values(llvm::ArrayRef<size_t> list, std::string &error) {
  SmallVector<Value> out;
  for (size_t id : list) {
    FailureOr<Value> v = value(id, error);
    if (failed(v))
      return failure();
    out.push_back(*v);
  }
  return out;
}

FailureOr<SmallVector<Type>>
ModuleBuilder::types(llvm::ArrayRef<TensorTypeSpec> specs,
                     std::string &error) {
  SmallVector<Type> out;
  for (const TensorTypeSpec &spec : specs) {
    FailureOr<RankedTensorType> t = buildTensorType(context, spec, error);
    if (failed(t))
      return failure();
    out.push_back(*t);
  }
  return out;
}

size_t ModuleBuilder::add(Value v) {
  ids.push_back(v);
  firstId.try_emplace(v, ids.size() - 1);
  return ids.size() - 1;
}

void ModuleBuilder::collectDefined(Block *block, SmallVectorImpl<Value> &out) {
  llvm::append_range(out, block->getArguments());
  for (Operation &op : *block) {
    llvm::append_range(out, op.getResults());
    for (Region &region : op.getRegions())
      for (Block &inner : region)
        collectDefined(&inner, out);
  }
}

void ModuleBuilder::forget(llvm::ArrayRef<Value> erased) {
  for (Value v : erased)
    firstId.erase(v);
}

std::vector<size_t> ModuleBuilder::addAll(ValueRange values) {
  std::vector<size_t> out;
  for (Value v : values)
    out.push_back(add(v));
  return out;
}

Location ModuleBuilder::locationOf(llvm::StringRef file, unsigned line) {
  if (file.empty())
    return UnknownLoc::get(&context);
  return FileLineColLoc::get(&context, file, line, 0);
}

FailureOr<size_t> ModuleBuilder::function(llvm::StringRef name,
                                          llvm::ArrayRef<TensorTypeSpec> args,
                                          bool isPrivate, std::string &error) {
  FailureOr<SmallVector<Type>> argTypes = types(args, error);
  if (failed(argTypes)) {
    error = "function @" + name.str() + ": " + error;
    return failure();
  }
  if (functions.empty())
    functions.push_back(
        std::make_unique<FunctionBuilder>(context, name, *argTypes));
  else
    functions.push_back(std::make_unique<FunctionBuilder>(*functions.front(),
                                                          name, *argTypes));
  if (isPrivate && functions.size() > 1) // (never the module's entry)
    functions.back()->setPrivate();
  return functions.size() - 1;
}

FailureOr<size_t> ModuleBuilder::argument(size_t function, unsigned i,
                                          std::string &error) {
  FunctionBuilder *f = at(function, error);
  if (!f)
    return failure();
  return add(f->argument(i));
}

FailureOr<std::vector<size_t>>
ModuleBuilder::op(size_t function, llvm::StringRef name,
                  llvm::ArrayRef<size_t> operands,
                  const OpAttributes &attributes,
                  llvm::ArrayRef<TensorTypeSpec> results, llvm::StringRef file,
                  unsigned line, bool outermost, std::string &error) {
  FunctionBuilder *f = at(function, error);
  if (!f)
    return failure();
  std::string what = "'" + name.str() + "': ";
  FailureOr<SmallVector<Value>> args = values(operands, error);
  FailureOr<DictionaryAttr> attrs =
      succeeded(args) ? buildAttributes(context, attributes.list(), error)
                      : FailureOr<DictionaryAttr>(failure());
  FailureOr<SmallVector<Type>> resultTypes =
      succeeded(attrs) ? types(results, error)
                       : FailureOr<SmallVector<Type>>(failure());
  if (failed(resultTypes)) {
    error = what + error;
    return failure();
  }
  if (outermost)
    f->setOutermost(true);
  FailureOr<SmallVector<Value>> made =
      f->addOp(name, *args, *attrs, *resultTypes, locationOf(file, line), error);
  if (outermost)
    f->setOutermost(false);
  if (failed(made))
    return failure();
  return addAll(*made);
}

FailureOr<size_t> ModuleBuilder::constant(size_t function,
                                          const TensorTypeSpec &spec,
                                          llvm::ArrayRef<char> bytes,
                                          std::string &error) {
  FunctionBuilder *f = at(function, error);
  if (!f)
    return failure();
  FailureOr<RankedTensorType> type = buildTensorType(context, spec, error);
  if (failed(type))
    return failure();
  if (!type->hasStaticShape()) {
    error = "a constant needs a static shape";
    return failure();
  }
  int64_t count = type->getNumElements();
  int64_t width = spec.dtype == KILN_I1 ? 1 : kiln_dtype_size(spec.dtype);
  if (static_cast<int64_t>(bytes.size()) != count * width) {
    error = "a constant of " + std::to_string(count) + " elements given " +
            std::to_string(bytes.size()) + " bytes";
    return failure();
  }
  DenseElementsAttr value;
  if (spec.dtype == KILN_I1) {
    // MLIR packs booleans into bits; the runtime keeps one byte each.
    SmallVector<bool> flags;
    for (char c : bytes)
      flags.push_back(c != 0);
    value = DenseElementsAttr::get(*type, flags);
  } else {
    value = DenseElementsAttr::getFromRawBuffer(*type, bytes);
  }
  Builder b(&context);
  FailureOr<SmallVector<Value>> made =
      f->addOp("constant", {}, b.getDictionaryAttr(b.getNamedAttr("value", value)),
               {*type}, UnknownLoc::get(&context), error);
  if (failed(made))
    return failure();
  return add(made->front());
}

LogicalResult ModuleBuilder::declareVariable(llvm::StringRef name,
                                             const TensorTypeSpec &spec,
                                             std::string &error) {
  if (functions.empty()) {
    error = "declare a variable after the first function";
    return failure();
  }
  FailureOr<RankedTensorType> type = buildTensorType(context, spec, error);
  if (failed(type)) {
    error = "variable @" + name.str() + ": " + error;
    return failure();
  }
  ModuleOp module = functions.front()->getModule();
  if (Operation *existing = SymbolTable::lookupSymbolIn(module, name)) {
    auto var = dyn_cast<VariableOp>(existing);
    if (var && var.getType() == *type)
      return success();
    error = "@" + name.str() +
            (var ? " is declared with another type" : " is not a variable");
    return failure();
  }
  OpBuilder b(&context);
  b.setInsertionPointToStart(module.getBody());
  VariableOp::create(b, UnknownLoc::get(&context), b.getStringAttr(name),
                     TypeAttr::get(*type), ElementsAttr());
  return success();
}

FailureOr<std::pair<size_t, std::vector<size_t>>>
ModuleBuilder::pushBlock(size_t function,
                         llvm::ArrayRef<TensorTypeSpec> arguments,
                         std::string &error) {
  FunctionBuilder *f = at(function, error);
  if (!f)
    return failure();
  FailureOr<SmallVector<Type>> argTypes = types(arguments, error);
  if (failed(argTypes))
    return failure();
  Block *block = f->pushBlock(*argTypes);
  blocks.push_back(block);
  return std::make_pair(blocks.size() - 1, addAll(block->getArguments()));
}

LogicalResult ModuleBuilder::popBlock(size_t function,
                                      llvm::ArrayRef<size_t> results,
                                      llvm::StringRef terminator,
                                      std::string &error) {
  FunctionBuilder *f = at(function, error);
  if (!f)
    return failure();
  if (terminator != "yield" && terminator != "condition") {
    error = "a region ends in kiln.yield or kiln.condition, not kiln." +
            terminator.str();
    return failure();
  }
  FailureOr<SmallVector<Value>> yields = values(results, error);
  if (failed(yields))
    return failure();
  f->popBlock(*yields, terminator);
  return success();
}

LogicalResult ModuleBuilder::discardBlock(size_t function, size_t handle,
                                          std::string &error) {
  FunctionBuilder *f = at(function, error);
  if (!f)
    return failure();
  if (handle >= blocks.size() || !blocks[handle]) {
    error = "no block " + std::to_string(handle) + " to discard";
    return failure();
  }
  // (A block an op took, or that a failed op destroyed, is not walked.)
  if (f->holdsBlock(blocks[handle])) {
    SmallVector<Value> erased;
    collectDefined(blocks[handle], erased);
    f->discardBlock(blocks[handle]);
    forget(erased);
  }
  blocks[handle] = nullptr;
  return success();
}

FailureOr<std::vector<size_t>>
ModuleBuilder::regionOp(size_t function, llvm::StringRef name,
                        llvm::ArrayRef<size_t> operands,
                        llvm::ArrayRef<size_t> handles,
                        llvm::ArrayRef<TensorTypeSpec> results,
                        llvm::StringRef file, unsigned line,
                        std::string &error) {
  FunctionBuilder *f = at(function, error);
  if (!f)
    return failure();
  FailureOr<SmallVector<Value>> args = values(operands, error);
  if (failed(args))
    return failure();
  SmallVector<Block *> regionBlocks;
  for (size_t h : handles) {
    if (h >= blocks.size() || !blocks[h]) {
      error = "no block " + std::to_string(h) + " for '" + name.str() + "'";
      return failure();
    }
    regionBlocks.push_back(blocks[h]);
  }
  FailureOr<SmallVector<Type>> resultTypes = types(results, error);
  if (failed(resultTypes))
    return failure();
  // A failed op destroys the blocks it took: what they defined is
  // forgotten (those it did not take stay, with their ids). Blocks another
  // op took are not walked.
  SmallVector<SmallVector<Value>> inside(regionBlocks.size());
  for (auto [block, values] : llvm::zip(regionBlocks, inside))
    if (f->holdsBlock(block))
      collectDefined(block, values);
  FailureOr<SmallVector<Value>> made =
      f->addRegionOp(name, *args, DictionaryAttr(), regionBlocks,
                     *resultTypes, locationOf(file, line), error);
  if (failed(made))
    for (auto [block, values] : llvm::zip(regionBlocks, inside))
      if (!f->holdsBlock(block))
        forget(values);
  // Handles of blocks the op took (or destroyed) are spent.
  for (size_t h : handles)
    if (!f->holdsBlock(blocks[h]))
      blocks[h] = nullptr;
  if (failed(made))
    return failure();
  return addAll(*made);
}

FailureOr<std::pair<std::vector<size_t>, std::vector<bool>>>
ModuleBuilder::outline(size_t function, size_t target,
                       llvm::ArrayRef<size_t> sources, llvm::StringRef name,
                       bool knownValues,
                       llvm::ArrayRef<std::pair<size_t, size_t>> recorded,
                       std::string &error) {
  FunctionBuilder *f = at(function, error);
  if (!f)
    return failure();
  FailureOr<Value> t = value(target, error);
  FailureOr<SmallVector<Value>> srcs =
      succeeded(t) ? values(sources, error)
                   : FailureOr<SmallVector<Value>>(failure());
  if (failed(srcs))
    return failure();
  SmallVector<Value> captures;
  SmallVector<bool> reached;
  // Made while the tape did not record: an op result that got its first id
  // outside every recorded range (values the builder did not hand out, and
  // block arguments, are never cut).
  auto unrecorded = [&](Value v) {
    if (recorded.empty() || !v.getDefiningOp())
      return false;
    auto it = firstId.find(v);
    if (it == firstId.end())
      return false;
    return llvm::none_of(recorded, [&](const std::pair<size_t, size_t> &r) {
      return r.first <= it->second && it->second < r.second;
    });
  };
  if (failed(f->outline(*t, *srcs, name, captures, reached, error,
                        knownValues, unrecorded)))
    return failure();
  return std::make_pair(addAll(captures),
                        std::vector<bool>(reached.begin(), reached.end()));
}

FailureOr<TensorTypeSpec> ModuleBuilder::type(size_t id, std::string &error) {
  FailureOr<Value> v = value(id, error);
  if (failed(v))
    return failure();
  FailureOr<TensorTypeSpec> spec = tensorTypeSpec(v->getType());
  if (failed(spec)) {
    std::string text;
    llvm::raw_string_ostream os(text);
    v->getType().print(os);
    error = "value " + std::to_string(id) + " has type " + text +
            ", not a tensor of a Kiln dtype";
  }
  return spec;
}

LogicalResult ModuleBuilder::finishFunction(size_t function,
                                            llvm::ArrayRef<size_t> results,
                                            std::string &error) {
  FunctionBuilder *f = at(function, error);
  if (!f)
    return failure();
  FailureOr<SmallVector<Value>> vals = values(results, error);
  if (failed(vals))
    return failure();
  f->finishFunction(*vals);
  return success();
}

std::string ModuleBuilder::text() {
  if (functions.empty())
    return "";
  std::string out;
  llvm::raw_string_ostream os(out);
  functions.front()->getModule()->print(os);
  return out;
}

OwningOpRef<ModuleOp> ModuleBuilder::takeModule(std::string &error) {
  if (functions.empty()) {
    error = "the module has no function";
    return nullptr;
  }
  return functions.front()->takeModule(error);
}
