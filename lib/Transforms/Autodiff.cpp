//===- Autodiff.cpp - Reverse-mode autodiff on the Kiln dialect
//------------===//
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

#include "kiln/Dialect/Kiln/KilnDialect.h"
#include "kiln/Dialect/Kiln/KilnOps.h"

#include "mlir/Dialect/Func/Extensions/InlinerExtension.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/Inliner.h"
#include "mlir/Transforms/InliningUtils.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNAUTODIFF
#include "kiln/Transforms/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;

/// A tensor of `like`'s type filled with `value`: a constant, or for
/// extents known only at run time a scalar broadcast like `like`.
static Value filledLike(OpBuilder &b, Location loc, Value like, double value) {
  auto t = cast<RankedTensorType>(like.getType());
  auto scalarType = RankedTensorType::get({}, t.getElementType());
  auto type = t.hasStaticShape() ? t : scalarType;
  Value filled = ConstantOp::create(
      b, loc,
      DenseElementsAttr::get(type, b.getFloatAttr(t.getElementType(), value)));
  if (t.hasStaticShape())
    return filled;
  return BroadcastToOp::create(b, loc, t, filled, like);
}

static Value zerosOf(OpBuilder &b, Location loc, Value like) {
  return filledLike(b, loc, like, 0.0);
}

namespace {

/// Reverse-mode differentiation of one block: the function body, or a branch
/// of a kiln.cond.
class Differentiator {
public:
  Differentiator(DenseSet<Value> &varied, LoopStrategy strategy)
      : varied(varied), strategy(strategy) {}

  /// Marks values that depend on varied values, in program order.
  static void propagateVaried(Block &block, DenseSet<Value> &varied) {
    for (Operation &op : block) {
      bool dependent = llvm::any_of(
          op.getOperands(), [&](Value v) { return varied.contains(v); });
      if (!dependent && op.getNumRegions()) {
        // Values from above used inside regions count too.
        SetVector<Value> captured;
        for (Region &region : op.getRegions())
          getUsedValuesDefinedAbove(region, captured);
        dependent =
            llvm::any_of(captured, [&](Value v) { return varied.contains(v); });
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
      if (auto loop = dyn_cast<ForOp>(op)) {
        if (failed(backwardFor(b, loop, resultGrads)))
          return failure();
        continue;
      }
      if (auto loop = dyn_cast<WhileOp>(op)) {
        if (failed(backwardWhile(b, loop, resultGrads)))
          return failure();
        continue;
      }
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
    SmallVector<Type> types =
        llvm::map_to_vector(targets, [](Value v) { return v.getType(); });
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
      Differentiator inner(innerVaried, strategy);
      auto yield = cast<YieldOp>(fwd.getTerminator());
      for (auto [value, grad] : llvm::zip_equal(yield.getValues(), resultGrads))
        if (grad)
          inner.accumulate(b, map.lookupOrDefault(value), grad);
      if (failed(inner.backward(b, cloned)))
        return failure();
      SmallVector<Value> yields;
      for (Value t : targets) {
        Value g = inner.adjoint(t);
        yields.push_back(g ? g : zerosOf(b, loc, t));
      }
      YieldOp::create(b, loc, yields);
    }
    for (auto [t, g] : llvm::zip_equal(targets, reverse.getResults()))
      accumulate(b, t, g);
    return success();
  }

  /// A rank-1 i64 constant.
  static Value indexVector(OpBuilder &b, Location loc, Value scalarI64) {
    return ReshapeOp::create(b, loc, RankedTensorType::get({1}, b.getI64Type()),
                             scalarI64);
  }

  static Value i64Constant(OpBuilder &b, Location loc, int64_t v) {
    auto type = RankedTensorType::get({}, b.getI64Type());
    return ConstantOp::create(
        b, loc, DenseElementsAttr::get(type, b.getI64IntegerAttr(v)));
  }

  /// The trip count of a kiln.for, max(0, ceil((ub - lb) / step)) (zero
  /// for a step that is not positive, as in the lowering), built at `b`;
  /// a constant when the bounds are.
  static Value tripCount(OpBuilder &b, ForOp loop) {
    Location loc = loop.getLoc();
    DenseIntElementsAttr lbAttr, ubAttr, stepAttr;
    if (matchPattern(loop.getLower(), m_Constant(&lbAttr)) &&
        matchPattern(loop.getUpper(), m_Constant(&ubAttr)) &&
        matchPattern(loop.getStep(), m_Constant(&stepAttr))) {
      int64_t lb = (*lbAttr.value_begin<APInt>()).getSExtValue();
      int64_t ub = (*ubAttr.value_begin<APInt>()).getSExtValue();
      int64_t step = (*stepAttr.value_begin<APInt>()).getSExtValue();
      int64_t trips = ub > lb && step > 0 ? (ub - lb + step - 1) / step : 0;
      return i64Constant(b, loc, trips);
    }
    Value lb = loop.getLower(), ub = loop.getUpper(), step = loop.getStep();
    Value one = i64Constant(b, loc, 1), zero = i64Constant(b, loc, 0);
    Value safeStep = MaximumOp::create(b, loc, step, one);
    Value span = SubOp::create(b, loc, ub, lb);
    Value trips = DivOp::create(
        b, loc,
        AddOp::create(b, loc, span, SubOp::create(b, loc, safeStep, one)),
        safeStep);
    trips = MaximumOp::create(b, loc, trips, zero);
    Value positive =
        CompareOp::create(b, loc, CompareDirection::gt, step, zero);
    return SelectOp::create(b, loc, positive, trips, zero);
  }

  /// The cotangent of a kiln.for: its trip count is computed before it, its
  /// iterations are numbered j = 0 .. trips-1 with counter lb + j * step.
  LogicalResult backwardFor(OpBuilder &b, ForOp loop,
                            ArrayRef<Value> resultGrads) {
    Location loc = loop.getLoc();
    OpBuilder fb(loop);
    Value trips = tripCount(fb, loop);
    Value lb = loop.getLower(), step = loop.getStep();
    auto counterOf = [&](OpBuilder &nb, Value j) -> Value {
      return AddOp::create(nb, loc, lb, MulOp::create(nb, loc, j, step));
    };
    if (failed(backwardLoop(b, fb, loop, loop.getBody().front(),
                            loop.getInitArgs(), loop.getResults(), trips,
                            counterOf, resultGrads)))
      return failure();
    if (strategy == LoopStrategy::Tape) // the taped loop took its place
      loop.erase();
    return success();
  }

  /// The tape type saving one value of type `type` per iteration.
  static RankedTensorType tapeTypeOf(Type type) {
    auto t = cast<RankedTensorType>(type);
    SmallVector<int64_t> shape = {ShapedType::kDynamic};
    llvm::append_range(shape, t.getShape());
    return RankedTensorType::get(shape, t.getElementType());
  }

  /// The cotangent of a loop of `trips` iterations (a rank-0 i64 value
  /// available at `fb`) whose body takes (counter, carried...) when
  /// `counterOf` is given (counterOf(j): the counter of iteration j), else
  /// (carried...). With tapes (the default), a forward loop built at `fb`
  /// writes each iteration's carried values into a tape of `trips` rows, and
  /// the reverse loop, for k = 0 .. trips-1 with j = trips-1-k, reads row j,
  /// recomputes the body once from it and runs the body's backward pass:
  /// O(trips * carried size) memory, one extra body evaluation per iteration.
  /// Without tapes each iteration's carried values are recomputed from the
  /// initial ones: O(1) memory, O(trips^2) body evaluations.
  ///
  /// `results` are the original loop's results; when the taped forward loop
  /// can stand in for the loop (a kiln.for) their uses move to it.
  LogicalResult backwardLoop(OpBuilder &b, OpBuilder &fb, Operation *loop,
                             Block &body, ValueRange inits, ValueRange results,
                             Value trips,
                             function_ref<Value(OpBuilder &, Value)> counterOf,
                             ArrayRef<Value> resultGrads) {
    Location loc = loop->getLoc();
    size_t n = inits.size();
    SmallVector<size_t> floats;
    for (size_t k = 0; k < n; ++k)
      if (isFloatTensor(inits[k]))
        floats.push_back(k);
    // Values captured from above whose cotangents the reverse loop sums.
    SetVector<Value> captured;
    getUsedValuesDefinedAbove(*body.getParent(), captured);
    SmallVector<Value> targets;
    for (Value v : captured)
      if (varied.contains(v))
        targets.push_back(v);

    SmallVector<Value> tapes;
    if (strategy == LoopStrategy::Tape) {
      // The forward loop with tapes; for a kiln.for it replaces the loop.
      // (Rows with open extents, an open batch, take them from the
      // initial value: the carried values keep their type.)
      for (Value init : inits)
        tapes.push_back(TapeNewOp::create(
            fb, loc, tapeTypeOf(init.getType()), trips,
            cast<RankedTensorType>(init.getType()).hasStaticShape() ? Value()
                                                                    : init));
      SmallVector<Value> forwardInits(inits);
      llvm::append_range(forwardInits, tapes);
      auto taped = ForOp::create(fb, loc, i64Constant(fb, loc, 0), trips,
                                 i64Constant(fb, loc, 1), forwardInits);
      {
        OpBuilder::InsertionGuard guard(fb);
        Block *block = fb.createBlock(&taped.getBody());
        Value j = block->addArgument(RankedTensorType::get({}, fb.getI64Type()),
                                     loc);
        for (Value v : forwardInits)
          block->addArgument(v.getType(), loc);
        SmallVector<Value> args;
        if (counterOf)
          args.push_back(counterOf(fb, j));
        llvm::append_range(args, block->getArguments().slice(1, n));
        IRMapping map;
        SmallVector<Value> next = cloneBody(fb, body, args, map, nullptr);
        for (size_t k = 0; k < n; ++k)
          next.push_back(TapeWriteOp::create(fb, loc,
                                             block->getArgument(1 + n + k), j,
                                             block->getArgument(1 + k)));
        YieldOp::create(fb, loc, next);
      }
      if (counterOf) {
        for (size_t k = 0; k < n; ++k) {
          results[k].replaceAllUsesWith(taped.getResult(k));
          if (varied.contains(results[k]))
            varied.insert(taped.getResult(k));
        }
      }
      tapes.assign(taped.getResults().begin() + n, taped.getResults().end());
    }

    SmallVector<Value> reverseInits;
    for (size_t k : floats)
      reverseInits.push_back(resultGrads[k]
                                 ? resultGrads[k]
                                 : zerosOf(b, loc, inits[k]));
    for (Value t : targets)
      reverseInits.push_back(zerosOf(b, loc, t));
    Value zero = i64Constant(b, loc, 0), one = i64Constant(b, loc, 1);
    auto reverse = ForOp::create(b, loc, zero, trips, one, reverseInits);
    {
      OpBuilder::InsertionGuard guard(b);
      Block *block = b.createBlock(&reverse.getBody());
      block->addArgument(RankedTensorType::get({}, b.getI64Type()), loc);
      for (Value v : reverseInits)
        block->addArgument(v.getType(), loc);
      Value j = SubOp::create(b, loc, SubOp::create(b, loc, trips, one),
                              block->getArgument(0));
      SmallVector<Value> carried;
      if (strategy == LoopStrategy::Tape) {
        for (size_t c = 0; c < n; ++c)
          carried.push_back(
              TapeReadOp::create(b, loc, inits[c].getType(), tapes[c], j));
      } else {
        // Recompute the carried values of iteration j: j iterations from
        // the initial values.
        auto replay = ForOp::create(b, loc, zero, j, one, inits);
        OpBuilder::InsertionGuard inner(b);
        Block *rb = b.createBlock(&replay.getBody());
        rb->addArgument(RankedTensorType::get({}, b.getI64Type()), loc);
        for (Value v : inits)
          rb->addArgument(v.getType(), loc);
        SmallVector<Value> args;
        if (counterOf)
          args.push_back(counterOf(b, rb->getArgument(0)));
        llvm::append_range(args, rb->getArguments().drop_front());
        IRMapping map;
        YieldOp::create(b, loc, cloneBody(b, body, args, map, nullptr));
        carried.assign(replay.getResults().begin(), replay.getResults().end());
      }
      SmallVector<Value> args;
      if (counterOf)
        args.push_back(counterOf(b, j));
      llvm::append_range(args, carried);
      IRMapping map;
      SmallVector<Operation *> cloned;
      SmallVector<Value> next = cloneBody(b, body, args, map, &cloned);
      if (failed(reverseIteration(b, block, carried, next, floats, targets,
                                  cloned)))
        return failure();
    }
    finishReverseLoop(b, reverse, inits, floats, targets);
    return success();
  }

  /// Clones a loop body at `b` with its block arguments mapped to `args`;
  /// returns the values it yields (and the clones in `cloned`, if given).
  static SmallVector<Value> cloneBody(OpBuilder &b, Block &body,
                                      ValueRange args, IRMapping &map,
                                      SmallVectorImpl<Operation *> *cloned) {
    map.map(body.getArguments(), args);
    for (Operation &op : body.without_terminator()) {
      Operation *copy = b.clone(op, map);
      if (cloned)
        cloned->push_back(copy);
    }
    // A kiln.yield's values, or a kiln.condition's predicate and values.
    return llvm::map_to_vector(body.getTerminator()->getOperands(),
                               [&](Value v) { return map.lookupOrDefault(v); });
  }

  /// The body of one reverse-loop iteration, shared by the taped and the
  /// recomputing loop gradients. `block` is the reverse loop's body, whose
  /// arguments are (k, cotangents of the float carried values, sums of the
  /// captured values' cotangents); `carried` are this iteration's carried
  /// values and `next` what the recomputed body yields from them (`cloned`).
  /// Runs the body's backward pass and yields the carried cotangents and
  /// the updated sums.
  LogicalResult reverseIteration(OpBuilder &b, Block *block,
                                 ArrayRef<Value> carried, ArrayRef<Value> next,
                                 ArrayRef<size_t> floats,
                                 ArrayRef<Value> targets,
                                 ArrayRef<Operation *> cloned) {
    Location loc = block->getParentOp()->getLoc();
    DenseSet<Value> innerVaried = varied;
    for (size_t c : floats)
      innerVaried.insert(carried[c]);
    propagateVaried(*block, innerVaried);
    Differentiator inner(innerVaried, strategy);
    for (auto [idx, c] : llvm::enumerate(floats))
      inner.accumulate(b, next[c], block->getArgument(1 + idx));
    if (failed(inner.backward(b, cloned)))
      return failure();
    SmallVector<Value> yields;
    for (size_t c : floats) {
      Value g = inner.adjoint(carried[c]);
      yields.push_back(g ? g : zerosOf(b, loc, carried[c]));
    }
    for (auto [idx, t] : llvm::enumerate(targets)) {
      Value sum = block->getArgument(1 + floats.size() + idx);
      Value g = inner.adjoint(t);
      yields.push_back(g ? Value(AddOp::create(b, loc, sum, g)) : sum);
    }
    YieldOp::create(b, loc, yields);
    return success();
  }

  /// Hands the reverse loop's results to the loop's initial values and to
  /// the captured values.
  void finishReverseLoop(OpBuilder &b, ForOp reverse, ValueRange inits,
                         ArrayRef<size_t> floats, ArrayRef<Value> targets) {
    for (auto [idx, c] : llvm::enumerate(floats))
      accumulate(b, inits[c], reverse.getResult(idx));
    for (auto [idx, t] : llvm::enumerate(targets))
      accumulate(b, t, reverse.getResult(floats.size() + idx));
  }

  /// kiln.while: the forward loop is replaced by one that also counts its
  /// iterations; with tapes, a kiln.for of that many iterations then runs
  /// the body again to fill them (see backwardLoop).
  LogicalResult backwardWhile(OpBuilder &b, WhileOp loop,
                              ArrayRef<Value> resultGrads) {
    Location loc = loop.getLoc();
    // The reverse pass replays the body from the carried values: the
    // condition must pass those on as they are.
    Block &cond = loop.getCondRegion().front();
    if (cast<ConditionOp>(cond.getTerminator()).getArgs() !=
        ValueRange(cond.getArguments()))
      return loop.emitError()
             << "cannot differentiate a kiln.while whose condition passes on "
                "other values than its arguments: the reverse pass replays "
                "the body from the carried values";
    OpBuilder fb(loop);
    SmallVector<Value> inits(loop.getInitArgs());
    inits.push_back(i64Constant(fb, loc, 0));
    auto counted = WhileOp::create(fb, loc, inits);
    size_t n = loop.getInitArgs().size();
    for (auto [forward, region] :
         llvm::zip_equal(loop->getRegions(), counted->getRegions())) {
      OpBuilder::InsertionGuard guard(fb);
      Block *block = fb.createBlock(&region);
      for (Value v : inits)
        block->addArgument(v.getType(), loc);
      IRMapping map;
      SmallVector<Value> yields =
          cloneBody(fb, forward.front(), block->getArguments().take_front(n),
                    map, nullptr);
      if (&forward == &loop.getCondRegion()) {
        // The same predicate; the values (and the count) go on unchanged.
        ConditionOp::create(fb, loc, yields.front(), block->getArguments());
        continue;
      }
      yields.push_back(AddOp::create(fb, loc, block->getArgument(n),
                                     i64Constant(fb, loc, 1)));
      YieldOp::create(fb, loc, yields);
    }
    for (size_t k = 0; k < n; ++k) {
      loop.getResult(k).replaceAllUsesWith(counted.getResult(k));
      if (varied.contains(loop.getResult(k)))
        varied.insert(counted.getResult(k));
    }
    // The taped forward loop (if any) goes after the counting one.
    OpBuilder after(counted->getBlock(), ++Block::iterator(counted));
    if (failed(backwardLoop(b, after, loop, loop.getBodyRegion().front(),
                            loop.getInitArgs(), counted.getResults().take_front(n),
                            counted.getResult(n), nullptr, resultGrads)))
      return failure();
    loop.erase();
    return success();
  }

  DenseSet<Value> &varied;
  LoopStrategy strategy;
  DenseMap<Value, Value> adjoints;
};

/// The uses of `known`'s computed operand that `known` dominates (other
/// than `known` itself) read `value` instead.
static void readInstead(KnownValueOp known, Value value) {
  Block *block = known->getBlock();
  known.getComputed().replaceUsesWithIf(value, [&](OpOperand &use) {
    Operation *user = block->findAncestorOpInBlock(*use.getOwner());
    return user && user != known.getOperation() &&
           known->isBeforeInBlock(user);
  });
}

/// Builds (or finds) the gradient function of one request signature.
class GradientBuilder {
public:
  GradientBuilder(ModuleOp module, SymbolTable &symbols, LoopStrategy loops)
      : module(module), symbols(symbols), loops(loops) {}

  /// The gradient function of `callee` for arguments `wrt` and `variables`
  /// (seeded: taking one cotangent per result), built on first use. It takes
  /// the callee's arguments, then the values of `variables` (which replace
  /// their reads), then the seeds; it returns the callee's results, then
  /// the gradients of `wrt`, then those of `variables`. With `knownInputs`,
  /// its known values are their known operands once it is built (see
  /// kiln.grad's `known_inputs`).
  FailureOr<func::FuncOp> get(Operation *request, func::FuncOp callee,
                              ArrayRef<int64_t> wrt,
                              ArrayRef<FlatSymbolRefAttr> variables,
                              bool seeded, bool knownInputs) {
    return get(request, callee, wrt, variables, seeded, knownInputs, loops);
  }

private:
  FailureOr<func::FuncOp> get(Operation *request, func::FuncOp callee,
                              ArrayRef<int64_t> wrt,
                              ArrayRef<FlatSymbolRefAttr> variables,
                              bool seeded, bool knownInputs,
                              LoopStrategy strategy) {
    std::string name = (callee.getName() + "_vjp").str();
    for (int64_t i : wrt)
      name += "_" + std::to_string(i);
    for (FlatSymbolRefAttr v : variables)
      name += "_" + v.getValue().str();
    if (seeded)
      name += "_seeded";
    if (knownInputs)
      name += "_known_inputs";
    if (strategy == LoopStrategy::Recompute)
      name += "_recompute";
    // (The name alone is not proof: a variable may be called `seeded`.
    // Another function by that name makes build() pick a fresh one.)
    if (auto existing = symbols.lookup<func::FuncOp>(name))
      if (isGradientOf(existing, callee, wrt, variables, seeded, knownInputs))
        return existing;
    FailureOr<func::FuncOp> grad =
        build(request, callee, wrt, variables, seeded, strategy, name);
    if (succeeded(grad) && knownInputs)
      takeKnownOperands(*grad);
    return grad;
  }

  /// Whether `func` is the gradient function of `callee` for this
  /// signature, by the attributes build() gives it.
  static bool isGradientOf(func::FuncOp func, func::FuncOp callee,
                           ArrayRef<int64_t> wrt,
                           ArrayRef<FlatSymbolRefAttr> variables, bool seeded,
                           bool knownInputs) {
    MLIRContext *context = func.getContext();
    FlatSymbolRefAttr of =
        KilnDialect::GradientOfAttrHelper(context).getAttr(func);
    DenseI64ArrayAttr funcWrt =
        KilnDialect::GradientWrtAttrHelper(context).getAttr(func);
    ArrayAttr funcVariables =
        KilnDialect::GradientVariablesAttrHelper(context).getAttr(func);
    SmallVector<Attribute> expected(variables.begin(), variables.end());
    return of && of.getValue() == callee.getName() && funcWrt &&
           funcWrt.asArrayRef() == wrt &&
           (funcVariables ? funcVariables.getValue()
                          : ArrayRef<Attribute>()) == ArrayRef(expected) &&
           KilnDialect::GradientSeededAttrHelper(context).isAttrPresent(
               func) == seeded &&
           KilnDialect::GradientKnownInputsAttrHelper(context).isAttrPresent(
               func) == knownInputs;
  }

  /// Each kiln.known_value in `grad` (built) becomes its known operand,
  /// the other uses of its computed operand that it dominates too: a
  /// gradient of `grad` then flows into the known values, and what computed
  /// them is dead.
  static void takeKnownOperands(func::FuncOp grad) {
    MLIRContext *context = grad.getContext();
    KilnDialect::GradientKnownInputsAttrHelper(context).setAttr(
        grad, UnitAttr::get(context));
    SmallVector<KnownValueOp> knowns;
    grad.walk([&](KnownValueOp known) { knowns.push_back(known); });
    for (KnownValueOp known : knowns) {
      OpBuilder b(known);
      // (The types may differ in which extents are fixed.)
      Value value = reshapeTo(b, known.getLoc(), known.getKnown(),
                              known.getType(), known.getComputed());
      readInstead(known, value);
      known.replaceAllUsesWith(value);
      known.erase();
    }
  }

  /// The function a call inlined for differentiation runs. A generated
  /// gradient function that saves loop iterations on tapes is replaced by
  /// its tape-free twin (loops recomputed): tapes are not differentiated
  /// themselves, so a gradient of a gradient differentiates the twin.
  FailureOr<func::FuncOp> inlinedCallee(func::CallOp call,
                                        func::FuncOp callee) {
    bool taped = callee
                     .walk([](Operation *op) {
                       return isa<TapeNewOp, TapeWriteOp, TapeReadOp>(op)
                                  ? WalkResult::interrupt()
                                  : WalkResult::advance();
                     })
                     .wasInterrupted();
    MLIRContext *context = callee.getContext();
    FlatSymbolRefAttr of =
        KilnDialect::GradientOfAttrHelper(context).getAttr(callee);
    DenseI64ArrayAttr wrt =
        KilnDialect::GradientWrtAttrHelper(context).getAttr(callee);
    if (!taped || !of || !wrt)
      return callee;
    auto original = symbols.lookup<func::FuncOp>(of.getValue());
    if (!original)
      return call.emitError()
             << "cannot differentiate through @" << callee.getName()
             << ": it saves loop iterations on tapes, and @" << of.getValue()
             << ", from which a tape-free version would be built, is gone";
    SmallVector<FlatSymbolRefAttr> variables;
    if (ArrayAttr attr =
            KilnDialect::GradientVariablesAttrHelper(context).getAttr(callee))
      variables = llvm::to_vector(attr.getAsRange<FlatSymbolRefAttr>());
    return get(call, original, wrt.asArrayRef(), variables,
               KilnDialect::GradientSeededAttrHelper(context).isAttrPresent(
                   callee),
               KilnDialect::GradientKnownInputsAttrHelper(context)
                   .isAttrPresent(callee),
               LoopStrategy::Recompute);
  }

  /// Inlines every func.call in `func` (whose callees have one block), so
  /// that the backward pass sees one straight body. Recursion is an error.
  LogicalResult inlineCalls(func::FuncOp func) {
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
          return call.emitError()
                 << "cannot differentiate through the call of @"
                 << call.getCallee() << ": it is not a function with one block";
        FailureOr<func::FuncOp> inlined = inlinedCallee(call, callee);
        if (failed(inlined))
          return failure();
        // MLIR's inliner, with the func and Kiln dialects' interfaces.
        InlinerInterface interface(func.getContext());
        InlinerConfig config;
        if (failed(inlineCall(interface, config.getCloneCallback(), call,
                              *inlined, &inlined->getBody())))
          return call.emitError()
                 << "cannot differentiate through the call of @"
                 << call.getCallee() << ": it cannot be inlined";
        call.erase();
      }
    }
  }

private:
  FailureOr<func::FuncOp> build(Operation *request, func::FuncOp callee,
                                ArrayRef<int64_t> wrt,
                                ArrayRef<FlatSymbolRefAttr> variables,
                                bool seeded, LoopStrategy strategy,
                                StringRef name) {
    if (!callee.getBody().hasOneBlock())
      return request->emitError()
             << "cannot differentiate @" << callee.getName()
             << ": its body must be one block of structured ops";
    FunctionType type = callee.getFunctionType();
    SmallVector<Type> variableTypes;
    for (FlatSymbolRefAttr v : variables) {
      auto variable = symbols.lookup<VariableOp>(v.getValue());
      if (!variable)
        return request->emitError() << v << " is not a kiln.variable";
      variableTypes.push_back(variable.getType());
    }
    unsigned numArgs = type.getNumInputs();
    unsigned numVariables = variables.size();
    SmallVector<Type> inputs(type.getInputs());
    llvm::append_range(inputs, variableTypes);
    if (seeded)
      llvm::append_range(inputs, type.getResults());
    SmallVector<Type> results(type.getResults());
    for (int64_t i : wrt)
      results.push_back(type.getInput(i));
    llvm::append_range(results, variableTypes);

    OpBuilder b(module.getContext());
    b.setInsertionPointAfter(callee);
    auto grad = func::FuncOp::create(
        b, callee.getLoc(), name,
        FunctionType::get(b.getContext(), inputs, results));
    grad.setPrivate();
    MLIRContext *context = grad.getContext();
    KilnDialect::GradientOfAttrHelper(context).setAttr(
        grad, FlatSymbolRefAttr::get(callee));
    KilnDialect::GradientWrtAttrHelper(context).setAttr(
        grad, b.getDenseI64ArrayAttr(wrt));
    if (!variables.empty())
      KilnDialect::GradientVariablesAttrHelper(context).setAttr(
          grad, b.getArrayAttr(SmallVector<Attribute>(variables.begin(),
                                                      variables.end())));
    if (seeded)
      KilnDialect::GradientSeededAttrHelper(context).setAttr(grad,
                                                             b.getUnitAttr());
    symbols.insert(grad);

    // Forward pass: the callee's body.
    Block *block = grad.addEntryBlock();
    IRMapping map;
    Block &body = callee.getBody().front();
    map.map(body.getArguments(), block->getArguments().take_front(numArgs));
    b.setInsertionPointToStart(block);
    for (Operation &op : body.without_terminator())
      b.clone(op, map);
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    SmallVector<Value> values = llvm::map_to_vector(
        ret.getOperands(), [&](Value v) { return map.lookupOrDefault(v); });
    auto newRet = func::ReturnOp::create(b, callee.getLoc(), values);
    if (failed(inlineCalls(grad)))
      return failure();
    // The differentiated variables enter as arguments: their reads (calls
    // are inlined by now) become those arguments.
    DenseMap<Attribute, Value> variableArgs;
    for (auto [k, v] : llvm::enumerate(variables))
      variableArgs[v.getAttr()] = block->getArgument(numArgs + k);
    WalkResult walk = grad.walk([&](Operation *op) {
      if (auto read = dyn_cast<ReadVariableOp>(op)) {
        if (Value arg = variableArgs.lookup(read.getVariableAttr().getAttr())) {
          read.replaceAllUsesWith(arg);
          read.erase();
        }
      } else if (auto assign = dyn_cast<AssignVariableOp>(op)) {
        if (variableArgs.count(assign.getVariableAttr().getAttr())) {
          request->emitError()
              << "cannot differentiate @" << callee.getName()
              << " with respect to " << assign.getVariableAttr()
              << ": it assigns that variable";
          return WalkResult::interrupt();
        }
      }
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return failure();

    // Backward pass, before the return.
    DenseSet<Value> varied;
    for (int64_t i : wrt)
      varied.insert(block->getArgument(i));
    for (unsigned k = 0; k < numVariables; ++k)
      varied.insert(block->getArgument(numArgs + k));
    Differentiator::propagateVaried(*block, varied);
    Differentiator diff(varied, strategy);
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
        seed = block->getArgument(numArgs + numVariables + k);
      } else {
        seed = filledLike(b, loc, value, 1.0);
      }
      diff.accumulate(b, value, seed);
    }
    if (failed(diff.backward(b, forward)))
      return failure();
    // The backward pass may have replaced forward ops (loops get a taped
    // version): read the returned values again.
    values = llvm::to_vector(newRet.getOperands());
    // A gradient has its argument's type: one inferred with more (or fewer)
    // fixed extents, e.g. a matmul's with its inner extent known from the
    // other operand, is reshaped to it (a view; run-time checked).
    auto gradientOf = [&](Value arg) -> Value {
      Value g = diff.adjoint(arg);
      return g ? reshapeTo(b, loc, g, cast<RankedTensorType>(arg.getType()),
                           arg)
               : zerosOf(b, loc, arg);
    };
    for (int64_t i : wrt)
      values.push_back(gradientOf(block->getArgument(i)));
    for (unsigned k = 0; k < numVariables; ++k)
      values.push_back(gradientOf(block->getArgument(numArgs + k)));
    func::ReturnOp::create(b, loc, values);
    newRet.erase();
    return grad;
  }

  ModuleOp module;
  SymbolTable &symbols;
  LoopStrategy loops;
};

/// True if `func`, or a function it calls (directly or not), contains a
/// gradient request: such a request must be lowered before `func` can be
/// differentiated.
bool hasRequests(func::FuncOp func, SymbolTable &symbols,
                 DenseSet<Operation *> &visited) {
  if (!visited.insert(func).second)
    return false;
  return func
      .walk([&](Operation *op) {
        if (isa<GradOp, ValueAndGradOp>(op))
          return WalkResult::interrupt();
        if (auto call = dyn_cast<func::CallOp>(op))
          if (auto callee = symbols.lookup<func::FuncOp>(call.getCallee()))
            if (hasRequests(callee, symbols, visited))
              return WalkResult::interrupt();
        return WalkResult::advance();
      })
      .wasInterrupted();
}

struct AutodiffPass : public kiln::impl::KilnAutodiffBase<AutodiffPass> {
  using KilnAutodiffBase::KilnAutodiffBase;

  /// Calls are inlined with MLIR's inliner: func's inliner interface must
  /// be there, whoever runs the pass.
  void getDependentDialects(DialectRegistry &registry) const override {
    KilnAutodiffBase::getDependentDialects(registry);
    registry.insert<func::FuncDialect>();
    func::registerInlinerExtension(registry);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    requested.clear();
    GradientBuilder builder(module, symbols, loops);
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
            cast<SymbolUserOpInterface>(op)
                ->getAttrOfType<FlatSymbolRefAttr>("callee")
                .getValue());
        DenseSet<Operation *> visited;
        if (callee && !hasRequests(callee, symbols, visited))
          ready.push_back(op);
      });
      if (!pending)
        break;
      if (ready.empty()) {
        pending->emitError("gradient requests form a cycle: a function "
                           "requests its own gradient");
        return signalPassFailure();
      }
      for (Operation *op : ready) {
        requested.insert(
            op->getAttrOfType<FlatSymbolRefAttr>("callee").getAttr());
        if (failed(lower(op, builder, symbols)))
          return signalPassFailure();
      }
    }
    useKnownValues(module);
    if (inlineGradients && (failed(inlineGenerated(module, symbols)) ||
                            failed(inlineCustomGradients(module, symbols))))
      signalPassFailure();
  }

  /// Erases the private functions among `candidates` that nothing uses,
  /// until none is left (a function may be the only user of another).
  static void eraseUnused(const llvm::SetVector<StringAttr> &candidates,
                          ModuleOp module, SymbolTable &symbols) {
    for (bool erased = true; erased;) {
      erased = false;
      for (StringAttr name : candidates)
        if (auto func = symbols.lookup<func::FuncOp>(name))
          if (func.isPrivate() &&
              SymbolTable::symbolKnownUseEmpty(func, module)) {
            symbols.erase(func);
            erased = true;
          }
    }
  }

  /// With every gradient taken, a kiln.custom_vjp is its forward
  /// computation and its backward function an ordinary callee: both are
  /// inlined where they are used (nested ones too), so that their ops meet
  /// the rest of the entry (run-time shape checks on open extents reach
  /// the entry point, fusion and CSE see through them), and the functions
  /// die.
  LogicalResult inlineCustomGradients(ModuleOp module, SymbolTable &symbols) {
    MLIRContext *context = module.getContext();
    llvm::SetVector<StringAttr> custom;
    module.walk([&](CustomVjpOp op) {
      custom.insert(op.getForwardAttr().getAttr());
      custom.insert(op.getBackwardAttr().getAttr());
    });
    if (custom.empty())
      return success();
    InlinerInterface interface(context);
    InlinerConfig config;
    for (bool changed = true; changed;) {
      changed = false;
      SmallVector<func::CallOp> calls;
      SmallVector<CustomVjpOp> ops;
      module.walk([&](Operation *op) {
        if (auto vjp = dyn_cast<CustomVjpOp>(op))
          ops.push_back(vjp);
        else if (auto call = dyn_cast<func::CallOp>(op);
                 call && custom.contains(call.getCalleeAttr().getAttr()))
          calls.push_back(call);
      });
      for (CustomVjpOp op : ops) {
        OpBuilder b(op);
        auto call = func::CallOp::create(b, op.getLoc(), op.getForwardAttr(),
                                         op.getResultTypes(), op.getInputs());
        op.replaceAllUsesWith(call.getResults());
        op.erase();
        calls.push_back(call);
      }
      for (func::CallOp call : calls) {
        auto callee = symbols.lookup<func::FuncOp>(call.getCallee());
        if (!callee || !callee.getBody().hasOneBlock())
          continue;
        if (failed(inlineCall(interface, config.getCloneCallback(), call,
                              callee, &callee.getBody())))
          return call.emitError("cannot inline the custom gradient's "
                                "function @")
                 << callee.getSymName();
        call.erase();
        changed = true;
      }
    }
    eraseUnused(custom, module, symbols);
    return success();
  }

  /// Every use of a kiln.known_value's computed operand that the known
  /// value dominates reads the known value instead: the same value (by the
  /// op's promise) and the same derivative (it flows back to the computed
  /// operand). A rule that reads its op's own result (tanh's, exp's) then
  /// reads the known value, and the op itself dies with the lowering.
  static void useKnownValues(ModuleOp module) {
    module.walk([](KnownValueOp known) { readInstead(known, known); });
  }

  /// Whether a function's signature has an open extent. The run-time
  /// checks that such extents agree can only be made in an entry point
  /// (kiln-split-shape-functions computes them from its inputs' extents),
  /// so a generated function taking or giving one is inlined wherever it
  /// is called: a second-order gradient (a gradient penalty over an open
  /// batch) calls the first gradient from the entry and from the second.
  static bool hasOpenExtents(func::FuncOp func) {
    auto open = [](Type type) {
      auto ranked = dyn_cast<RankedTensorType>(type);
      return ranked && !ranked.hasStaticShape();
    };
    FunctionType type = func.getFunctionType();
    return llvm::any_of(type.getInputs(), open) ||
           llvm::any_of(type.getResults(), open);
  }

  /// Inlines each generated function called from one place into its
  /// caller, and one with open extents into every caller (innermost
  /// first: a call the inlined body brings is inlined in a later round);
  /// erases generated functions nothing calls any more and the private
  /// functions that only gradient requests referred to.
  LogicalResult inlineGenerated(ModuleOp module, SymbolTable &symbols) {
    MLIRContext *context = module.getContext();
    SmallVector<func::FuncOp> generated;
    for (auto func : module.getOps<func::FuncOp>())
      if (KilnDialect::GradientOfAttrHelper(context).isAttrPresent(func))
        generated.push_back(func);
    InlinerInterface interface(context);
    InlinerConfig config;
    auto inlineAt = [&](func::CallOp call, func::FuncOp func) {
      if (failed(inlineCall(interface, config.getCloneCallback(), call, func,
                            &func.getBody())))
        return LogicalResult(call.emitError(
            "cannot inline the gradient function @")
                             << func.getSymName());
      call.erase();
      return success();
    };
    for (func::FuncOp func : generated) {
      std::optional<SymbolTable::UseRange> uses =
          SymbolTable::getSymbolUses(func, module);
      if (!uses)
        continue;
      SmallVector<SymbolTable::SymbolUse> all(uses->begin(), uses->end());
      auto call = all.size() == 1 ? dyn_cast<func::CallOp>(all[0].getUser())
                                  : func::CallOp();
      if (call && func.getBody().hasOneBlock() && failed(inlineAt(call, func)))
        return failure();
    }
    // Generated functions cannot call themselves (a cycle of gradient
    // requests is refused above), so each round inlines a level and the
    // rounds end; the bound is a guard, not a limit met in practice.
    for (unsigned round = 0; round <= generated.size(); ++round) {
      SmallVector<std::pair<func::CallOp, func::FuncOp>> calls;
      module.walk([&](func::CallOp call) {
        auto callee = symbols.lookup<func::FuncOp>(call.getCallee());
        if (callee && llvm::is_contained(generated, callee) &&
            callee.getBody().hasOneBlock() && hasOpenExtents(callee) &&
            call->getParentOfType<func::FuncOp>() != callee)
          calls.push_back({call, callee});
      });
      if (calls.empty())
        break;
      for (auto [call, callee] : calls)
        if (failed(inlineAt(call, callee)))
          return failure();
    }
    // Drop what is dead now, generated functions first (they may be the
    // only users of a requested function).
    llvm::SetVector<StringAttr> candidates(requested.begin(), requested.end());
    for (func::FuncOp func : generated)
      candidates.insert(func.getSymNameAttr());
    eraseUnused(candidates, module, symbols);
    return success();
  }

  /// The callees of the gradient requests lowered.
  llvm::SetVector<StringAttr> requested;

  LogicalResult lower(Operation *op, GradientBuilder &builder,
                      SymbolTable &symbols) {
    auto calleeName = op->getAttrOfType<FlatSymbolRefAttr>("callee").getValue();
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
    SymbolTableCollection tables;
    FailureOr<SmallVector<VariableOp>> variables =
        getRequestedVariables(op, tables);
    if (failed(variables))
      return failure();
    SmallVector<FlatSymbolRefAttr> names = llvm::map_to_vector(
        *variables, [](VariableOp v) { return FlatSymbolRefAttr::get(v); });
    FailureOr<func::FuncOp> grad =
        builder.get(op, callee, wrt, names, !seeds.empty(),
                    op->hasAttr("known_inputs"));
    if (failed(grad))
      return failure();
    OpBuilder b(op);
    SmallVector<Value> operands(args);
    // The variables' current values, read where the request is.
    for (VariableOp v : *variables)
      operands.push_back(ReadVariableOp::create(
          b, op->getLoc(), v.getType(), FlatSymbolRefAttr::get(v)));
    llvm::append_range(operands, seeds);
    auto call = func::CallOp::create(b, op->getLoc(), *grad, operands);
    unsigned skip = withValues ? 0 : callee.getNumResults();
    op->replaceAllUsesWith(call.getResults().drop_front(skip));
    op->erase();
    return success();
  }
};

} // namespace
