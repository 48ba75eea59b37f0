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
//     => func @f(args..., vars...) -> (results..., new values of assigned)
//        {kiln.variables = [@v...], kiln.assigned = [@a...]}
//
// where `vars` are the variables f reads or assigns, in declaration order,
// and the extra results are the final values of those it assigns. Reads
// become the variable's current value (the argument, or the last value
// assigned before the read); calls pass the callee's variables and take the
// new values of those it assigns. The declarations move to the module
// attribute `kiln.variables` (name -> type) and a public function
// @kiln_init_variables assigns the initial values.
//
// The CPU pipeline then binds each variable argument to the store's buffer
// and writes the assigned values into it in place (see
// kiln-materialize-variable-updates).
//
//===----------------------------------------------------------------------===//

#include "kiln/Transforms/Passes.h"

#include "Kiln/KilnDialect.h"
#include "Kiln/KilnOps.h"

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
    module->setAttr("kiln.variables", b.getDictionaryAttr(declared));
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
          "kiln.variable", FlatSymbolRefAttr::get(name)));
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

    for (Operation &op : llvm::make_early_inc_range(entry)) {
      // Inside regions, reads see the value current at the enclosing op;
      // assigning there is not supported yet.
      if (op.getNumRegions()) {
        SmallVector<Operation *> nested;
        op.walk([&](Operation *inner) {
          if (inner != &op)
            nested.push_back(inner);
        });
        for (Operation *inner : nested) {
          if (auto read = dyn_cast<ReadVariableOp>(inner)) {
            read.replaceAllUsesWith(
                current.lookup(read.getVariableAttr().getAttr()));
            read.erase();
          } else if (isa<AssignVariableOp>(inner)) {
            return inner->emitError()
                   << "assigning a variable inside '" << op.getName()
                   << "' is not supported yet: carry the new value out of "
                      "the region and assign it after '"
                   << op.getName() << "'";
          } else if (auto call = dyn_cast<func::CallOp>(inner)) {
            const Binding *callee = calleeBinding(call);
            if (!callee)
              continue;
            if (!callee->assigned.empty())
              return call.emitError()
                     << "@" << call.getCallee()
                     << " assigns variables, which is not supported inside '"
                     << op.getName() << "' yet";
            rewriteCall(call, *callee);
          }
        }
        continue;
      }
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
      } else if (auto ret = dyn_cast<func::ReturnOp>(op)) {
        SmallVector<Value> values(ret.getOperands());
        for (StringAttr name : binding.assigned)
          values.push_back(current.lookup(name));
        OpBuilder b(ret);
        func::ReturnOp::create(b, ret.getLoc(), values);
        ret.erase();
      }
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
    func->setAttr("kiln.variables", refs(binding.variables));
    func->setAttr("kiln.assigned", refs(binding.assigned));
    return success();
  }
};

} // namespace
