//===- FunctionBuilder.cpp - Building Kiln functions op by op -------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Compiler/FunctionBuilder.h"
#include "kiln/Dialect/Kiln/KilnOps.h"
#include "Diagnostics.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/Verifier.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Transforms/RegionUtils.h"

#include <memory>

using namespace mlir;
using namespace mlir::kiln;

FunctionBuilder::FunctionBuilder(MLIRContext &context, llvm::StringRef name,
                                 llvm::ArrayRef<Type> argumentTypes)
    : context(context), builder(&context) {
  Location loc = UnknownLoc::get(&context);
  ownedModule = ModuleOp::create(loc);
  module = *ownedModule;
  startFunction(name, argumentTypes);
}

FunctionBuilder::FunctionBuilder(FunctionBuilder &other, llvm::StringRef name,
                                 llvm::ArrayRef<Type> argumentTypes)
    : context(other.context), module(other.module), builder(&context) {
  startFunction(name, argumentTypes);
}

void FunctionBuilder::startFunction(llvm::StringRef name,
                                    llvm::ArrayRef<Type> argumentTypes) {
  builder.setInsertionPointToEnd(module.getBody());
  auto func =
      func::FuncOp::create(builder, UnknownLoc::get(&context), name,
                           builder.getFunctionType(argumentTypes, {}));
  body = func.addEntryBlock();
  builder.setInsertionPointToStart(body);
  blockStack.push_back(body);
}

void FunctionBuilder::setPrivate() {
  cast<func::FuncOp>(body->getParentOp()).setPrivate();
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
FunctionBuilder::createVerified(OperationState &state, llvm::StringRef fullName,
                                const std::string &diagnostics,
                                std::string &error) {
  Operation *created = builder.create(state);
  // Inside a region block still being built (a kiln.cond branch, a loop
  // body), the op is not yet under the function: dominance cannot be
  // checked (the verifier would walk up into a region without a parent and
  // crash: a kiln.cond inside another's branch did). Its own invariants are
  // checked now, the rest when the function is finished.
  bool detached = false;
  for (Block *block = created->getBlock(); block;) {
    Operation *parent = block->getParent() ? block->getParent()->getParentOp()
                                           : nullptr;
    if (!parent) {
      detached = true;
      break;
    }
    block = parent->getBlock();
  }
  LogicalResult valid =
      detached ? success(succeeded(created->getName().verifyInvariants(created)) &&
                         succeeded(created->getName().verifyRegionInvariants(
                             created)))
               : verify(created);
  if (failed(valid)) {
    error = diagnostics.empty() ? "'" + fullName.str() + "' is invalid"
                                : diagnostics;
    created->erase();
    return failure();
  }
  return SmallVector<Value>(created->getResults());
}

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
  return createVerified(state, fullName, diagnostics.text, error);
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

Block *FunctionBuilder::pushBlock(llvm::ArrayRef<Type> argumentTypes) {
  auto region = std::make_unique<Region>();
  Block *block = new Block();
  region->push_back(block);
  for (Type t : argumentTypes)
    block->addArgument(t, UnknownLoc::get(&context));
  enclosing.push_back(builder.saveInsertionPoint());
  builder.setInsertionPointToEnd(block);
  detached.push_back(std::move(region));
  blockStack.push_back(block);
  return block;
}

void FunctionBuilder::popBlock(llvm::ArrayRef<Value> values,
                               llvm::StringRef terminator) {
  OperationState state(UnknownLoc::get(&context),
                       ("kiln." + terminator).str());
  state.addOperands(values);
  builder.create(state);
  builder.restoreInsertionPoint(enclosing.back());
  enclosing.pop_back();
  blockStack.pop_back();
}

bool FunctionBuilder::holdsBlock(Block *block) const {
  return llvm::any_of(detached, [&](const std::unique_ptr<Region> &r) {
    return &r->front() == block;
  });
}

void FunctionBuilder::discardBlock(Block *block) {
  auto it = llvm::find_if(detached, [&](const std::unique_ptr<Region> &r) {
    return &r->front() == block;
  });
  if (it == detached.end())
    return;
  (*it)->dropAllReferences();
  detached.erase(it);
}

FailureOr<SmallVector<Value>> FunctionBuilder::addRegionOp(
    llvm::StringRef op, llvm::ArrayRef<Value> operands,
    DictionaryAttr attributes, llvm::ArrayRef<Block *> blocks,
    llvm::ArrayRef<Type> resultTypes, Location loc, std::string &error) {
  std::string fullName = op.contains('.') ? op.str() : ("kiln." + op).str();
  OperationName name(fullName, &context);
  if (!name.getRegisteredInfo()) {
    error = "unknown op '" + fullName + "'";
    return failure();
  }
  // Take the detached regions of `blocks`.
  SmallVector<std::unique_ptr<Region>> regions;
  for (Block *block : blocks) {
    auto it = llvm::find_if(detached, [&](const std::unique_ptr<Region> &r) {
      return &r->front() == block;
    });
    if (it == detached.end()) {
      error = "'" + fullName + "': a region block was not built here";
      return failure();
    }
    regions.push_back(std::move(*it));
    detached.erase(it);
  }
  Collector diagnostics(context);
  OperationState state(loc, name);
  state.addOperands(operands);
  if (attributes)
    state.addAttributes(attributes.getValue());
  for (auto &region : regions)
    state.addRegion(std::move(region));
  SmallVector<Type> types(resultTypes);
  if (types.empty()) {
    if (auto *iface =
            name.getRegisteredInfo()->getInterface<InferTypeOpInterface>()) {
      SmallVector<Region *> raw;
      for (auto &r : state.regions)
        raw.push_back(r.get());
      if (failed(iface->inferReturnTypes(
              &context, loc, ValueRange(operands),
              attributes ? attributes : DictionaryAttr::get(&context),
              OpaqueProperties(nullptr), RegionRange(raw), types))) {
        error = diagnostics.text;
        return failure();
      }
    }
  }
  state.addTypes(types);
  return createVerified(state, fullName, diagnostics.text, error);
}

LogicalResult FunctionBuilder::outline(Value target, ArrayRef<Value> sources,
                                       StringRef name,
                                       SmallVectorImpl<Value> &captures,
                                       SmallVectorImpl<bool> &reached,
                                       std::string &error, bool knownValues,
                                       function_ref<bool(Value)> unrecorded) {
  DenseMap<Value, unsigned> sourceIndex;
  for (auto [i, s] : llvm::enumerate(sources))
    sourceIndex.try_emplace(s, i);
  reached.assign(sources.size(), false);
  // The ops the target depends on, and the values it takes from outside.
  SetVector<Operation *> ops;
  SetVector<Value> outside;
  SmallVector<Value> work = {target};
  DenseSet<Value> seen;
  while (!work.empty()) {
    Value v = work.pop_back_val();
    if (!seen.insert(v).second)
      continue;
    if (auto it = sourceIndex.find(v); it != sourceIndex.end()) {
      reached[it->second] = true;
      continue;
    }
    Operation *def = v.getDefiningOp();
    // A variable's value is the one the forward computation read: copied,
    // the read would run where the gradient is requested, after any
    // assignment made in between (a stateful RNN's new state, a counter).
    if (!def || isa<kiln::ReadVariableOp>(def) || (unrecorded && unrecorded(v))) {
      outside.insert(v);
      continue;
    }
    if (!ops.insert(def))
      continue;
    llvm::append_range(work, def->getOperands());
    SetVector<Value> above;
    for (Region &region : def->getRegions())
      getUsedValuesDefinedAbove(region, above);
    llvm::append_range(work, above);
  }
  // Program order: blocks being built nest inside one another, so an op of
  // an outer block comes before one of an inner block.
  auto level = [&](Operation *op) -> int {
    for (auto [i, block] : llvm::enumerate(blockStack))
      if (op->getBlock() == block)
        return static_cast<int>(i);
    return -1;
  };
  SmallVector<Operation *> ordered(ops.begin(), ops.end());
  for (Operation *op : ordered)
    if (level(op) < 0) {
      error = "the gradient's target uses a value from a finished region";
      return failure();
    }
  for (Value v : outside)
    if (auto read = v.getDefiningOp<kiln::ReadVariableOp>(); read && level(read) < 0) {
      error = "the gradient's target uses a value from a finished region";
      return failure();
    }
  // A loop or branch the target depends on is copied whole: a variable it
  // assigns would be assigned again when the gradient runs (silently wrong
  // state and gradients), so that is refused.
  for (Operation *op : ordered) {
    Operation *writer = nullptr;
    op->walk([&](Operation *nested) {
      if (nested != op && nested->hasAttr("variable") &&
          !isa<kiln::ReadVariableOp>(nested)) {
        writer = nested;
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (writer) {
      std::string where;
      llvm::raw_string_ostream os(where);
      printLocation(os, writer->getLoc());
      error = "the gradient's computation assigns variable " +
              writer->getAttrOfType<FlatSymbolRefAttr>("variable")
                  .getValue()
                  .str() +
              " inside a loop or branch (" + where +
              ") that the gradient would run again, assigning it twice: assign "
              "it outside the loop, or after tape.gradient";
      return failure();
    }
  }
  llvm::sort(ordered, [&](Operation *a, Operation *b) {
    int la = level(a), lb = level(b);
    if (la != lb)
      return la < lb;
    return a->isBeforeInBlock(b);
  });
  captures.assign(outside.begin(), outside.end());
  // The known values: results of the copied ops that other copied ops
  // read (as operands or from inside their regions), and the target.
  SetVector<Value> known;
  if (knownValues) {
    for (Operation *op : ordered) {
      SetVector<Value> read(op->getOperands().begin(),
                            op->getOperands().end());
      for (Region &region : op->getRegions())
        getUsedValuesDefinedAbove(region, read);
      for (Value value : read)
        if (Operation *def = value.getDefiningOp();
            def && ops.contains(def) && isFloatTensor(value))
          known.insert(value);
    }
    if (ops.contains(target.getDefiningOp()) && isFloatTensor(target))
      known.insert(target);
  }
  DenseMap<Value, unsigned> knownArgument;
  for (Value v : known)
    knownArgument[v] = sources.size() + captures.size() + knownArgument.size();
  captures.append(known.begin(), known.end());

  SmallVector<Type> types;
  for (Value v : sources)
    types.push_back(v.getType());
  for (Value v : captures)
    types.push_back(v.getType());
  OpBuilder b(&context);
  b.setInsertionPointToEnd(module.getBody());
  Location loc = UnknownLoc::get(&context);
  auto func = func::FuncOp::create(b, loc, name,
                                   b.getFunctionType(types, target.getType()));
  func.setPrivate();
  Block *entry = func.addEntryBlock();
  IRMapping map;
  for (auto [i, v] : llvm::enumerate(sources))
    map.map(v, entry->getArgument(i));
  for (auto [i, v] : llvm::enumerate(captures))
    map.map(v, entry->getArgument(sources.size() + i));
  b.setInsertionPointToStart(entry);
  for (Operation *op : ordered) {
    Operation *copy = b.clone(*op, map);
    for (auto [result, copied] :
         llvm::zip(op->getResults(), copy->getResults())) {
      auto it = knownArgument.find(result);
      if (it == knownArgument.end())
        continue;
      Value saved = entry->getArgument(it->second);
      map.map(result, kiln::KnownValueOp::create(b, copy->getLoc(), copied,
                                                 saved)
                          .getResult());
    }
  }
  func::ReturnOp::create(b, loc, map.lookupOrDefault(target));
  // Prints and summaries inside the copied loops and branches ran with the
  // forward computation; the gradient does not repeat them.
  SmallVector<Operation *> effects;
  func.walk([&](Operation *op) {
    if (isa<kiln::PrintOp, kiln::SummaryScalarOp>(op))
      effects.push_back(op);
  });
  for (Operation *op : effects)
    op->erase();
  return success();
}

void FunctionBuilder::setOutermost(bool outermost) {
  if (outermost && !suspended && !enclosing.empty()) {
    suspended = builder.saveInsertionPoint();
    builder.restoreInsertionPoint(enclosing.front());
  } else if (!outermost && suspended) {
    // Later outermost ops go after this one.
    enclosing.front() = builder.saveInsertionPoint();
    builder.restoreInsertionPoint(*suspended);
    suspended.reset();
  }
}
