//===- ExternalizeVariables.cpp - Variables become bound buffers ----------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Variables live in the runtime's variable store, not in the compiled code.
// This pass rewrites every function that touches variables (directly or
// through calls) into a pure function of them:
//
//   func @f(args...) -> (results...)
//     => func @f(args..., vars {kiln.variable = @v}...)
//            -> (results..., new values of assigned) {kiln.assigned = [@a...]}
//
// where `vars` are the variables f reads or assigns, in declaration order,
// and the extra results are the final values of those it assigns. Reads
// become the variable's current value (the argument, or the last value
// assigned before the read); calls pass the callee's variables and take the
// new values of those it assigns; a kiln.cond, kiln.for or kiln.while that
// assigns a variable inside yields or carries its value. The declarations move to the module
// attribute `kiln.variables` (name -> type) and a public function
// @kiln_init_variables assigns the initial values.
//
// The codegen pipelines then bind each variable argument to the store's buffer
// and writes the assigned values into it in place (see
// kiln-materialize-variable-updates).
//
//===----------------------------------------------------------------------===//

#include "kiln/Transforms/Passes.h"

#include "kiln/Dialect/Kiln/KilnDialect.h"
#include "kiln/Dialect/Kiln/KilnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNEXTERNALIZEVARIABLES
#include "kiln/Transforms/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;

namespace {

/// The variables a function binds, in declaration order.
struct Binding {
  SmallVector<StringAttr> variables; // read or assigned
  SmallVector<StringAttr> assigned;
};

struct ExternalizeVariablesPass
    : public kiln::impl::KilnExternalizeVariablesBase<
          ExternalizeVariablesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<VariableOp> declarations(module.getOps<VariableOp>());
    if (declarations.empty()) {
      // Without declarations, any access is to an unknown variable; the
      // verifier has already said so for well-formed input.
      return;
    }
    if (failed(addInitializer(module, declarations)))
      return signalPassFailure();

    SymbolTableCollection tables;
    DenseMap<Operation *, Binding> bindings;
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      VariableAccesses acc = collectVariableAccesses(func, tables);
      Binding binding;
      for (VariableOp v : declarations) {
        StringAttr name = v.getSymNameAttr();
        if (acc.read.contains(name) || acc.assigned.contains(name))
          binding.variables.push_back(name);
        if (acc.assigned.contains(name))
          binding.assigned.push_back(name);
      }
      if (!binding.variables.empty())
        bindings[func] = std::move(binding);
    }
    DenseMap<StringAttr, Type> types;
    for (VariableOp v : declarations)
      types[v.getSymNameAttr()] = v.getType();

    for (auto func : llvm::to_vector(module.getOps<func::FuncOp>())) {
      auto it = bindings.find(func);
      if (it == bindings.end())
        continue;
      if (failed(rewrite(func, it->second, bindings, types, tables)))
        return signalPassFailure();
    }

    // Record the declarations for the manifest, then drop them.
    Builder b(module.getContext());
    SmallVector<NamedAttribute> declared;
    for (VariableOp v : declarations) {
      declared.push_back(b.getNamedAttr(v.getSymName(), v.getTypeAttr()));
      v.erase();
    }
    KilnDialect::VariablesAttrHelper(module.getContext())
        .setAttr(module, b.getDictionaryAttr(declared));
  }

  /// Adds `func @kiln_init_variables()`, which assigns every variable that
  /// has an initial value.
  LogicalResult addInitializer(ModuleOp module,
                               ArrayRef<VariableOp> declarations) {
    static constexpr StringLiteral kName = "kiln_init_variables";
    if (auto existing = SymbolTable::lookupSymbolIn(module, kName))
      return existing->emitError()
             << "@" << kName
             << " is reserved for the variables' initializer in a module that "
                "declares variables";
    OpBuilder b(module.getContext());
    b.setInsertionPointToEnd(module.getBody());
    Location loc = module.getLoc();
    auto init = func::FuncOp::create(b, loc, kName,
                                     b.getFunctionType(TypeRange{}, {}));
    b.setInsertionPointToStart(init.addEntryBlock());
    for (VariableOp v : declarations) {
      auto value = v.getInitialValueAttr();
      if (!value)
        continue;
      auto constant = ConstantOp::create(b, v.getLoc(), value);
      AssignVariableOp::create(b, v.getLoc(), FlatSymbolRefAttr::get(v),
                               constant);
    }
    func::ReturnOp::create(b, loc);
    return success();
  }

  using CalleeBindingFn = function_ref<const Binding *(func::CallOp)>;
  using RewriteCallFn = function_ref<void(func::CallOp, const Binding &)>;

  /// The variables assigned inside `op`'s regions (directly or by calls),
  /// in a stable order.
  SmallVector<StringAttr> assignedInside(Operation *op,
                                         CalleeBindingFn calleeBinding) {
    SetVector<StringAttr> names;
    op->walk([&](Operation *inner) {
      if (inner == op)
        return;
      if (auto assign = dyn_cast<AssignVariableOp>(inner))
        names.insert(assign.getVariableAttr().getAttr());
      else if (auto call = dyn_cast<func::CallOp>(inner))
        if (const Binding *callee = calleeBinding(call))
          names.insert(callee->assigned.begin(), callee->assigned.end());
    });
    SmallVector<StringAttr> sorted(names.begin(), names.end());
    llvm::sort(sorted, [](StringAttr a, StringAttr b) {
      return a.getValue() < b.getValue();
    });
    return sorted;
  }

  /// Rewrites the variable accesses of `block` in order; `current` maps each
  /// variable to its value at the point reached. A kiln.cond, kiln.for or
  /// kiln.while that assigns variables inside carries them: the cond yields
  /// their values from both branches, a loop carries them as extra
  /// iteration values.
  LogicalResult processBlock(Block &block, DenseMap<StringAttr, Value> &current,
                             CalleeBindingFn calleeBinding,
                             RewriteCallFn rewriteCall,
                             const DenseMap<StringAttr, Type> &types) {
    for (Operation &op : llvm::make_early_inc_range(block)) {
      if (auto read = dyn_cast<ReadVariableOp>(op)) {
        read.replaceAllUsesWith(
            current.lookup(read.getVariableAttr().getAttr()));
        read.erase();
      } else if (auto assign = dyn_cast<AssignVariableOp>(op)) {
        current[assign.getVariableAttr().getAttr()] = assign.getValue();
        assign.erase();
      } else if (auto call = dyn_cast<func::CallOp>(op)) {
        if (const Binding *callee = calleeBinding(call))
          rewriteCall(call, *callee);
      } else if (isa<CondOp, ForOp, WhileOp>(op)) {
        if (failed(processControlFlow(&op, current, calleeBinding,
                                      rewriteCall, types)))
          return failure();
      } else if (op.getNumRegions()) {
        // Any other op with regions: reads only.
        WalkResult walk = op.walk([&](Operation *inner) {
          if (auto r = dyn_cast<ReadVariableOp>(inner)) {
            r.replaceAllUsesWith(current.lookup(r.getVariableAttr().getAttr()));
            r.erase();
          } else if (isa<AssignVariableOp, func::CallOp>(inner)) {
            inner->emitError() << "variables cannot be assigned or bound "
                                  "inside '"
                               << op.getName() << "'";
            return WalkResult::interrupt();
          }
          return WalkResult::advance();
        });
        if (walk.wasInterrupted())
          return failure();
      }
    }
    return success();
  }

  /// Adds `values` to the kiln.yield ending `block`.
  static void extendYield(Block &block, ArrayRef<Value> values) {
    auto yield = cast<YieldOp>(block.getTerminator());
    SmallVector<Value> operands(yield.getValues());
    llvm::append_range(operands, values);
    OpBuilder b(yield);
    YieldOp::create(b, yield.getLoc(), operands);
    yield.erase();
  }

  LogicalResult processControlFlow(Operation *op,
                                   DenseMap<StringAttr, Value> &current,
                                   CalleeBindingFn calleeBinding,
                                   RewriteCallFn rewriteCall,
                                   const DenseMap<StringAttr, Type> &types) {
    SmallVector<StringAttr> carried = assignedInside(op, calleeBinding);
    SmallVector<Type> carriedTypes = llvm::map_to_vector(
        carried, [&](StringAttr n) { return types.lookup(n); });
    auto process = [&](Block &block, DenseMap<StringAttr, Value> inner)
        -> FailureOr<SmallVector<Value>> {
      if (failed(processBlock(block, inner, calleeBinding, rewriteCall,
                              types)))
        return failure();
      return llvm::map_to_vector(carried,
                                 [&](StringAttr n) { return inner.lookup(n); });
    };
    // A loop's initial values followed by the carried variables' values.
    auto withCarried = [&](ValueRange inits) {
      SmallVector<Value> all(inits);
      for (StringAttr name : carried)
        all.push_back(current.lookup(name));
      return all;
    };
    OpBuilder b(op);
    unsigned n = op->getNumResults();
    SmallVector<Type> resultTypes(op->getResultTypes());
    llvm::append_range(resultTypes, carriedTypes);
    Operation *replacement = nullptr;

    if (auto cond = dyn_cast<CondOp>(op)) {
      for (Region &region : cond->getRegions()) {
        FailureOr<SmallVector<Value>> out = process(region.front(), current);
        if (failed(out))
          return failure();
        if (!carried.empty())
          extendYield(region.front(), *out);
      }
      if (carried.empty())
        return success();
      auto next = CondOp::create(b, cond.getLoc(), resultTypes, cond.getPred());
      next.getThenRegion().takeBody(cond.getThenRegion());
      next.getElseRegion().takeBody(cond.getElseRegion());
      replacement = next;
    } else if (auto loop = dyn_cast<ForOp>(op)) {
      Block &body = loop.getBody().front();
      DenseMap<StringAttr, Value> inner = current;
      for (auto [name, type] : llvm::zip_equal(carried, carriedTypes))
        inner[name] = body.addArgument(type, loop.getLoc());
      FailureOr<SmallVector<Value>> out = process(body, inner);
      if (failed(out))
        return failure();
      if (carried.empty())
        return success();
      extendYield(body, *out);
      auto next = ForOp::create(b, loop.getLoc(), resultTypes, loop.getLower(),
                                loop.getUpper(), loop.getStep(),
                                withCarried(loop.getInitArgs()));
      next.getBody().takeBody(loop.getBody());
      replacement = next;
    } else {
      auto whileOp = cast<WhileOp>(op);
      Block &condBlock = whileOp.getCondRegion().front();
      Block &body = whileOp.getBodyRegion().front();
      for (Operation &inner : condBlock)
        if (!assignedInside(&inner, calleeBinding).empty() ||
            isa<AssignVariableOp>(inner) ||
            (isa<func::CallOp>(inner) &&
             calleeBinding(cast<func::CallOp>(inner)) &&
             !calleeBinding(cast<func::CallOp>(inner))->assigned.empty()))
          return inner.emitError("a kiln.while condition cannot assign "
                                 "variables");
      DenseMap<StringAttr, Value> condCurrent = current, bodyCurrent = current;
      for (auto [name, type] : llvm::zip_equal(carried, carriedTypes)) {
        condCurrent[name] = condBlock.addArgument(type, whileOp.getLoc());
        bodyCurrent[name] = body.addArgument(type, whileOp.getLoc());
      }
      if (failed(process(condBlock, condCurrent)))
        return failure();
      // The condition passes the carried variables on with the other values.
      cast<ConditionOp>(condBlock.getTerminator())
          .getArgsMutable()
          .append(condBlock.getArguments().take_back(carried.size()));
      FailureOr<SmallVector<Value>> out = process(body, bodyCurrent);
      if (failed(out))
        return failure();
      if (carried.empty())
        return success();
      extendYield(body, *out);
      auto next = WhileOp::create(b, whileOp.getLoc(), resultTypes,
                                  withCarried(whileOp.getInitArgs()));
      next.getCondRegion().takeBody(whileOp.getCondRegion());
      next.getBodyRegion().takeBody(whileOp.getBodyRegion());
      replacement = next;
    }
    op->replaceAllUsesWith(replacement->getResults().take_front(n));
    for (auto [k, name] : llvm::enumerate(carried))
      current[name] = replacement->getResult(n + k);
    op->erase();
    return success();
  }

  LogicalResult rewrite(func::FuncOp func, const Binding &binding,
                        const DenseMap<Operation *, Binding> &bindings,
                        const DenseMap<StringAttr, Type> &types,
                        SymbolTableCollection &tables) {
    if (func.getBody().getBlocks().size() != 1)
      return func.emitError()
             << "cannot bind variables in @" << func.getName()
             << ": its body must be one block of structured ops";
    Block &entry = func.getBody().front();
    Location loc = func.getLoc();
    Builder builder(func.getContext());
    DenseMap<StringAttr, Value> current;
    for (StringAttr name : binding.variables) {
      unsigned index = func.getNumArguments();
      auto attrs = builder.getDictionaryAttr(builder.getNamedAttr(
          KilnDialect::VariableAttrHelper::getNameStr(),
          FlatSymbolRefAttr::get(name)));
      if (failed(func.insertArgument(index, types.lookup(name), attrs, loc)))
        return func.emitError("cannot add the variable arguments");
      current[name] = entry.getArgument(index);
    }

    // The binding of a call's callee, or null.
    auto calleeBinding = [&](func::CallOp call) -> const Binding * {
      Operation *callee =
          tables.lookupNearestSymbolFrom(call, call.getCalleeAttr());
      auto it = callee ? bindings.find(callee) : bindings.end();
      return it == bindings.end() ? nullptr : &it->second;
    };
    // Rewrites a call to a function with variables: its variables become
    // operands, the new values of those it assigns extra results.
    auto rewriteCall = [&](func::CallOp call, const Binding &callee) {
      OpBuilder b(call);
      SmallVector<Value> operands(call.getOperands());
      for (StringAttr name : callee.variables)
        operands.push_back(current.lookup(name));
      SmallVector<Type> resultTypes(call.getResultTypes());
      for (StringAttr name : callee.assigned)
        resultTypes.push_back(types.lookup(name));
      auto replacement = func::CallOp::create(
          b, call.getLoc(), call.getCalleeAttr(), resultTypes, operands);
      unsigned n = call.getNumResults();
      call.replaceAllUsesWith(replacement.getResults().take_front(n));
      for (auto [k, name] : llvm::enumerate(callee.assigned))
        current[name] = replacement.getResult(n + k);
      call.erase();
    };

    if (failed(processBlock(entry, current, calleeBinding, rewriteCall,
                            types)))
      return failure();
    auto ret = cast<func::ReturnOp>(entry.getTerminator());
    {
      SmallVector<Value> values(ret.getOperands());
      for (StringAttr name : binding.assigned)
        values.push_back(current.lookup(name));
      OpBuilder b(ret);
      func::ReturnOp::create(b, ret.getLoc(), values);
      ret.erase();
    }

    // The new results and what the function binds.
    for (StringAttr name : binding.assigned)
      if (failed(func.insertResult(func.getNumResults(), types.lookup(name),
                                   builder.getDictionaryAttr({}))))
        return func.emitError("cannot add the variable results");
    auto refs = [&](ArrayRef<StringAttr> names) {
      return builder.getArrayAttr(llvm::map_to_vector(names, [](StringAttr n) {
        return Attribute(FlatSymbolRefAttr::get(n));
      }));
    };
    // The arguments carry the variables they are bound to; the results'
    // order is recorded here.
    KilnDialect::AssignedAttrHelper(func.getContext())
        .setAttr(func, refs(binding.assigned));
    return success();
  }
};

} // namespace
