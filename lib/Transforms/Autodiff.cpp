//===- Autodiff.cpp - Reverse-mode autodiff on the Kiln dialect ------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// For a request `kiln.grad @f(args) {wrt = [i...]}` this pass builds
//
//   func.func private @f_vjp_i...(args..., seeds...) -> (results..., grads...)
//     <f's body, calls inlined>                 // forward pass
//     adjoint[result_k] = seed_k (1.0 for a scalar loss)
//     for op in reverse(forward ops):           // backward pass
//       if op is varied and useful:
//         operand cotangents = op.buildVJP(result cotangents)
//         adjoint[operand] += cotangent          // fan-out sums
//     return results..., adjoint[arg_i]...
//
// and replaces the request by a call of it.
//
//===----------------------------------------------------------------------===//

#include "kiln/Transforms/Passes.h"

#include "Kiln/KilnDialect.h"
#include "Kiln/KilnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNAUTODIFF
#include "kiln/Transforms/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;

static bool isFloatTensor(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && isa<FloatType>(t.getElementType());
}

static Value zerosOf(OpBuilder &b, Location loc, Type type) {
  auto t = cast<RankedTensorType>(type);
  return ConstantOp::create(
      b, loc, DenseElementsAttr::get(t, b.getFloatAttr(t.getElementType(), 0)));
}

/// Inlines every func.call in `func` (whose callees have one block), so that
/// the backward pass sees one straight body. Recursion is an error.
static LogicalResult inlineCalls(func::FuncOp func, SymbolTable &symbols) {
  for (int depth = 0;; ++depth) {
    SmallVector<func::CallOp> calls;
    func.walk([&](func::CallOp call) { calls.push_back(call); });
    if (calls.empty())
      return success();
    if (depth == 64)
      return calls.front().emitError()
             << "calls nest more than 64 deep (recursion?): a recursive "
                "function cannot be differentiated";
    for (func::CallOp call : calls) {
      auto callee = symbols.lookup<func::FuncOp>(call.getCallee());
      if (!callee || callee.isExternal() || !callee.getBody().hasOneBlock())
        return call.emitError() << "cannot differentiate through the call of @"
                                << call.getCallee()
                                << ": it is not a function with one block";
      IRMapping map;
      Block &body = callee.getBody().front();
      map.map(body.getArguments(), call.getOperands());
      OpBuilder b(call);
      for (Operation &op : body.without_terminator())
        b.clone(op, map);
      auto ret = cast<func::ReturnOp>(body.getTerminator());
      for (auto [result, value] :
           llvm::zip_equal(call.getResults(), ret.getOperands()))
        result.replaceAllUsesWith(map.lookupOrDefault(value));
      call.erase();
    }
  }
}

namespace {

/// Reverse-mode differentiation of one block: the function body, or a branch
/// of a kiln.cond.
class Differentiator {
public:
  explicit Differentiator(DenseSet<Value> &varied) : varied(varied) {}

  /// Marks values that depend on varied values, in program order.
  static void propagateVaried(Block &block, DenseSet<Value> &varied) {
    for (Operation &op : block) {
      bool dependent = llvm::any_of(op.getOperands(), [&](Value v) {
        return varied.contains(v);
      });
      if (!dependent && op.getNumRegions()) {
        // Values from above used inside regions count too.
        SetVector<Value> captured;
        for (Region &region : op.getRegions())
          getUsedValuesDefinedAbove(region, captured);
        dependent = llvm::any_of(captured,
                                 [&](Value v) { return varied.contains(v); });
      }
      if (!dependent)
        continue;
      for (Value result : op.getResults())
        if (isFloatTensor(result))
          varied.insert(result);
    }
  }

  /// adjoint[v] += g.
  void accumulate(OpBuilder &b, Value v, Value g) {
    if (!g || !varied.contains(v))
      return;
    auto it = adjoints.find(v);
    if (it == adjoints.end()) {
      adjoints[v] = g;
      return;
    }
    it->second = AddOp::create(b, g.getLoc(), it->second, g);
  }

  Value adjoint(Value v) const { return adjoints.lookup(v); }

  /// Builds the backward pass of `ops` (forward order) at `b`'s insertion
  /// point.
  LogicalResult backward(OpBuilder &b, ArrayRef<Operation *> ops) {
    for (Operation *op : llvm::reverse(ops)) {
      SmallVector<Value> resultGrads;
      bool any = false;
      for (Value r : op->getResults()) {
        resultGrads.push_back(adjoint(r));
        any |= static_cast<bool>(resultGrads.back());
      }
      if (!any)
        continue;
      if (auto cond = dyn_cast<CondOp>(op)) {
        if (failed(backwardCond(b, cond, resultGrads)))
          return failure();
        continue;
      }
      bool variedOperand = llvm::any_of(
          op->getOperands(), [&](Value v) { return varied.contains(v); });
      if (isa<WhileOp, ForOp>(op))
        return op->emitError()
               << "gradients through '" << op->getName()
               << "' are not implemented yet (kiln.cond is)";
      auto diff = dyn_cast<DifferentiableOpInterface>(op);
      if (!diff) {
        if (!variedOperand)
          continue;
        return op->emitError() << "'" << op->getName()
                               << "' has no gradient rule, but the requested "
                                  "gradient depends on it";
      }
      if (!variedOperand)
        continue;
      SmallVector<Value> operandGrads;
      if (failed(diff.buildVJP(b, resultGrads, operandGrads)))
        return failure();
      for (auto [operand, grad] :
           llvm::zip_equal(op->getOperands(), operandGrads))
        accumulate(b, operand, grad);
    }
    return success();
  }

private:
  /// The cotangent of a kiln.cond: a kiln.cond on the same predicate whose
  /// branches recompute their forward values, run the backward pass with the
  /// results' cotangents, and yield the cotangents of the varied values they
  /// use from above.
  LogicalResult backwardCond(OpBuilder &b, CondOp cond,
                             ArrayRef<Value> resultGrads) {
    SetVector<Value> captured;
    for (Region &region : cond->getRegions())
      getUsedValuesDefinedAbove(region, captured);
    SmallVector<Value> targets;
    for (Value v : captured)
      if (varied.contains(v))
        targets.push_back(v);
    if (targets.empty())
      return success();
    Location loc = cond.getLoc();
    SmallVector<Type> types = llvm::map_to_vector(
        targets, [](Value v) { return v.getType(); });
    auto reverse = CondOp::create(b, loc, types, cond.getPred());
    for (auto [forward, region] :
         llvm::zip_equal(cond->getRegions(), reverse->getRegions())) {
      OpBuilder::InsertionGuard guard(b);
      Block *block = b.createBlock(&region);
      IRMapping map;
      SmallVector<Operation *> cloned;
      Block &fwd = forward.front();
      for (Operation &op : fwd.without_terminator())
        cloned.push_back(b.clone(op, map));
      DenseSet<Value> innerVaried = varied;
      propagateVaried(*block, innerVaried);
      Differentiator inner(innerVaried);
      auto yield = cast<YieldOp>(fwd.getTerminator());
      for (auto [value, grad] : llvm::zip_equal(yield.getValues(), resultGrads))
        if (grad)
          inner.accumulate(b, map.lookupOrDefault(value), grad);
      if (failed(inner.backward(b, cloned)))
        return failure();
      SmallVector<Value> yields;
      for (Value t : targets) {
        Value g = inner.adjoint(t);
        yields.push_back(g ? g : zerosOf(b, loc, t.getType()));
      }
      YieldOp::create(b, loc, yields);
    }
    for (auto [t, g] : llvm::zip_equal(targets, reverse.getResults()))
      accumulate(b, t, g);
    return success();
  }

  DenseSet<Value> &varied;
  DenseMap<Value, Value> adjoints;
};

/// Builds (or finds) the gradient function of one request signature.
class GradientBuilder {
public:
  GradientBuilder(ModuleOp module, SymbolTable &symbols)
      : module(module), symbols(symbols) {}

  FailureOr<func::FuncOp> get(Operation *request, func::FuncOp callee,
                              ArrayRef<int64_t> wrt, bool seeded) {
    std::string name = (callee.getName() + "_vjp").str();
    for (int64_t i : wrt)
      name += "_" + std::to_string(i);
    if (seeded)
      name += "_seeded";
    if (auto existing = symbols.lookup<func::FuncOp>(name))
      if (existing->hasAttr("kiln.gradient_of"))
        return existing;
    return build(request, callee, wrt, seeded, name);
  }

private:
  FailureOr<func::FuncOp> build(Operation *request, func::FuncOp callee,
                                ArrayRef<int64_t> wrt, bool seeded,
                                StringRef name) {
    if (!callee.getBody().hasOneBlock())
      return request->emitError()
             << "cannot differentiate @" << callee.getName()
             << ": its body must be one block of structured ops";
    FunctionType type = callee.getFunctionType();
    SmallVector<Type> inputs(type.getInputs());
    if (seeded)
      llvm::append_range(inputs, type.getResults());
    SmallVector<Type> results(type.getResults());
    for (int64_t i : wrt)
      results.push_back(type.getInput(i));

    OpBuilder b(module.getContext());
    b.setInsertionPointAfter(callee);
    auto grad = func::FuncOp::create(
        b, callee.getLoc(), name, FunctionType::get(b.getContext(), inputs,
                                                    results));
    grad.setPrivate();
    grad->setAttr("kiln.gradient_of", FlatSymbolRefAttr::get(callee));
    symbols.insert(grad);

    // Forward pass: the callee's body.
    Block *block = grad.addEntryBlock();
    IRMapping map;
    Block &body = callee.getBody().front();
    map.map(body.getArguments(),
            block->getArguments().take_front(type.getNumInputs()));
    b.setInsertionPointToStart(block);
    for (Operation &op : body.without_terminator())
      b.clone(op, map);
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    SmallVector<Value> values = llvm::map_to_vector(
        ret.getOperands(), [&](Value v) { return map.lookupOrDefault(v); });
    auto newRet = func::ReturnOp::create(b, callee.getLoc(), values);
    if (failed(inlineCalls(grad, symbols)))
      return failure();

    // Backward pass, before the return.
    DenseSet<Value> varied;
    for (int64_t i : wrt)
      varied.insert(block->getArgument(i));
    Differentiator::propagateVaried(*block, varied);
    Differentiator diff(varied);
    b.setInsertionPoint(newRet);
    SmallVector<Operation *> forward;
    for (Operation &op : block->without_terminator())
      forward.push_back(&op);
    values = llvm::to_vector(newRet.getOperands());
    Location loc = callee.getLoc();
    for (auto [k, value] : llvm::enumerate(values)) {
      if (!isFloatTensor(value))
        continue;
      Value seed;
      if (seeded) {
        seed = block->getArgument(type.getNumInputs() + k);
      } else {
        auto t = cast<RankedTensorType>(value.getType());
        seed = ConstantOp::create(
            b, loc,
            DenseElementsAttr::get(t, b.getFloatAttr(t.getElementType(), 1)));
      }
      diff.accumulate(b, value, seed);
    }
    if (failed(diff.backward(b, forward)))
      return failure();
    for (int64_t i : wrt) {
      Value g = diff.adjoint(block->getArgument(i));
      values.push_back(g ? g : zerosOf(b, loc, type.getInput(i)));
    }
    func::ReturnOp::create(b, loc, values);
    newRet.erase();
    return grad;
  }

  ModuleOp module;
  SymbolTable &symbols;
};

/// True if `func` contains a gradient request.
bool hasRequests(func::FuncOp func) {
  return func
      .walk([](Operation *op) {
        return isa<GradOp, ValueAndGradOp>(op) ? WalkResult::interrupt()
                                               : WalkResult::advance();
      })
      .wasInterrupted();
}

struct AutodiffPass : public kiln::impl::KilnAutodiffBase<AutodiffPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    GradientBuilder builder(module, symbols);
    // Lower requests whose callee has none left first: a request for the
    // gradient of a function that itself takes gradients differentiates the
    // already-lowered body (higher-order gradients).
    while (true) {
      SmallVector<Operation *> ready;
      Operation *pending = nullptr;
      module.walk([&](Operation *op) {
        if (!isa<GradOp, ValueAndGradOp>(op))
          return;
        if (!pending)
          pending = op;
        auto callee = symbols.lookup<func::FuncOp>(
            cast<SymbolUserOpInterface>(op)->getAttrOfType<FlatSymbolRefAttr>(
                "callee").getValue());
        if (callee && !hasRequests(callee))
          ready.push_back(op);
      });
      if (!pending)
        return;
      if (ready.empty()) {
        pending->emitError("gradient requests form a cycle: a function "
                           "requests its own gradient");
        return signalPassFailure();
      }
      for (Operation *op : ready)
        if (failed(lower(op, builder, symbols)))
          return signalPassFailure();
    }
  }

  LogicalResult lower(Operation *op, GradientBuilder &builder,
                      SymbolTable &symbols) {
    auto calleeName =
        op->getAttrOfType<FlatSymbolRefAttr>("callee").getValue();
    auto callee = symbols.lookup<func::FuncOp>(calleeName);
    ArrayRef<int64_t> wrt =
        op->getAttrOfType<DenseI64ArrayAttr>("wrt").asArrayRef();
    ValueRange args, seeds;
    bool withValues = isa<ValueAndGradOp>(op);
    if (auto g = dyn_cast<GradOp>(op)) {
      args = g.getArgs();
      seeds = g.getSeeds();
    } else {
      auto vg = cast<ValueAndGradOp>(op);
      args = vg.getArgs();
      seeds = vg.getSeeds();
    }
    FailureOr<func::FuncOp> grad =
        builder.get(op, callee, wrt, !seeds.empty());
    if (failed(grad))
      return failure();
    OpBuilder b(op);
    SmallVector<Value> operands(args);
    llvm::append_range(operands, seeds);
    auto call = func::CallOp::create(b, op->getLoc(), *grad, operands);
    unsigned skip = withValues ? 0 : callee.getNumResults();
    op->replaceAllUsesWith(call.getResults().drop_front(skip));
    op->erase();
    return success();
  }
};

} // namespace
