//===- WidenHalfAccumulators.cpp - f16/bf16 reductions accumulate in f32 --===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-widen-half-accumulators: a linalg.generic with reduction loops and
// f16 or bf16 outputs (a half-typed product, a sum whose elementwise
// producers were fused into it) accumulates in f32: its init is extended,
// its body computes in f32 from the first value that depends on a widened
// one, and its result is rounded back once. The Kiln lowering already
// builds sums, means and softmax sums this way; this catches what fusion
// made of the rest.
//
//===----------------------------------------------------------------------===//

#include "kiln/Transforms/MultiplyAdd.h"
#include "kiln/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNWIDENHALFACCUMULATORS
#include "kiln/Transforms/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

bool isHalf(Type type) { return type.isF16() || type.isBF16(); }

Type widened(Type type) {
  return isHalf(type) ? Float32Type::get(type.getContext()) : type;
}

/// Ops that compute the same function on f32 operands with an f32 result:
/// float arithmetic, selects and the math dialect's elementwise functions.
bool retypes(Operation *op) {
  if (op->getNumResults() != 1 || op->getNumRegions() != 0)
    return false;
  if (isa<arith::AddFOp, arith::SubFOp, arith::MulFOp, arith::DivFOp,
          arith::RemFOp, arith::MaximumFOp, arith::MinimumFOp,
          arith::MaxNumFOp, arith::MinNumFOp, arith::NegFOp,
          arith::SelectOp>(op))
    return true;
  return isa<math::MathDialect>(op->getDialect()) &&
         llvm::all_of(op->getOperandTypes(), [&](Type t) {
           return t == op->getResult(0).getType();
         });
}

/// Ops whose result does not depend on their operands' width beyond their
/// values: comparisons and conversions to integers.
bool takesWideOperands(Operation *op) {
  return isa<arith::CmpFOp, arith::FPToSIOp, arith::FPToUIOp>(op);
}

/// Builds the f32 body of `op` into `block` (arguments already f32 where
/// `op`'s were half); false if some op cannot take a widened operand.
bool widenBody(linalg::GenericOp op, Block *block, OpBuilder &b) {
  IRMapping map;
  DenseSet<Value> wide; // values of the new body that replace a half value
  Block *old = op.getBody();
  b.setInsertionPointToStart(block);
  for (auto [from, to] :
       llvm::zip(old->getArguments(), block->getArguments())) {
    // Half inputs are used in f32 (products of them too, as cuBLAS and
    // PyTorch compute them); the accumulators are f32 already.
    Value v = to;
    if (isHalf(to.getType()) && !from.use_empty())
      v = arith::ExtFOp::create(b, to.getLoc(), widened(to.getType()), to);
    map.map(from, v);
    if (from.getType() != v.getType())
      wide.insert(v);
  }
  for (Operation &inner : old->without_terminator()) {
    Location loc = inner.getLoc();
    bool widenedOperand = llvm::any_of(inner.getOperands(), [&](Value v) {
      return wide.contains(map.lookupOrDefault(v));
    });
    // An op with regions that reads a widened value inside them would need
    // its regions widened too: such bodies stay as they are.
    if (inner.getNumRegions() != 0) {
      WalkResult nested = inner.walk([&](Operation *op) {
        for (Value v : op->getOperands())
          if (wide.contains(map.lookupOrDefault(v)))
            return WalkResult::interrupt();
        return WalkResult::advance();
      });
      if (nested.wasInterrupted() || widenedOperand)
        return false;
    }
    if (!widenedOperand) {
      // Unchanged; a half result is used in f32 from here on.
      Operation *copy = b.clone(inner, map);
      for (auto [from, to] : llvm::zip(inner.getResults(), copy->getResults()))
        if (isHalf(to.getType())) {
          Value ext = arith::ExtFOp::create(b, loc, widened(to.getType()), to);
          map.map(from, ext);
          wide.insert(ext);
        }
      continue;
    }
    Type result =
        inner.getNumResults() == 1 ? inner.getResult(0).getType() : Type();
    if (auto ext = dyn_cast<arith::ExtFOp>(inner)) {
      // half -> f32 of a value already f32; half -> f64 from f32.
      Value in = map.lookup(ext.getIn());
      Value out = in.getType() == result
                      ? in
                      : arith::ExtFOp::create(b, loc, result, in).getResult();
      map.map(ext.getResult(), out);
      continue;
    }
    if (auto trunc = dyn_cast<arith::TruncFOp>(inner)) {
      // A cast to half inside the body rounds as it did, then computes on.
      Value in = map.lookup(trunc.getIn());
      Value rounded = in.getType() == result
                          ? in
                          : arith::TruncFOp::create(b, loc, result, in)
                                .getResult();
      if (isHalf(result)) {
        rounded = arith::ExtFOp::create(b, loc, widened(result), rounded);
        wide.insert(rounded);
      }
      map.map(trunc.getResult(), rounded);
      continue;
    }
    bool retyped = retypes(&inner);
    if (retyped || takesWideOperands(&inner)) {
      // Every half operand in f32: one next to widened ones (a hoisted
      // constant from outside the body, a select's other branch) joins
      // them. Arithmetic then computes in f32; a comparison or conversion
      // keeps its result type.
      OperationState state(loc, inner.getName());
      for (Value operand : inner.getOperands()) {
        Value v = map.lookupOrDefault(operand);
        if (isHalf(v.getType()))
          v = arith::ExtFOp::create(b, loc, widened(v.getType()), v);
        state.addOperands(v);
      }
      state.addAttributes(inner.getAttrs());
      if (retyped)
        state.addTypes(widened(result));
      else
        state.addTypes(inner.getResultTypes());
      Operation *copy = b.create(state);
      map.map(inner.getResults(), copy->getResults());
      if (retyped && isHalf(result))
        wide.insert(copy->getResult(0));
      continue;
    }
    return false;
  }
  SmallVector<Value> yielded;
  for (Value v : old->getTerminator()->getOperands()) {
    Value mapped = map.lookupOrDefault(v);
    if (isHalf(mapped.getType()))
      mapped = arith::ExtFOp::create(b, v.getLoc(), widened(mapped.getType()),
                                     mapped);
    yielded.push_back(mapped);
  }
  linalg::YieldOp::create(b, old->getTerminator()->getLoc(), yielded);
  return true;
}

/// `value` (a tensor) with its elements extended or truncated to
/// `element`: an elementwise linalg.generic into a tensor.empty.
linalg::GenericOp convertElements(OpBuilder &b, Location loc, Value value,
                                  Type element) {
  auto type = cast<RankedTensorType>(value.getType());
  auto result = type.clone(element);
  Value empty = tensor::EmptyOp::create(
      b, loc, tensor::getMixedSizes(b, loc, value), element);
  SmallVector<AffineMap> maps(2, b.getMultiDimIdentityMap(type.getRank()));
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  bool extend = element.getIntOrFloatBitWidth() >
                type.getElementType().getIntOrFloatBitWidth();
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{result}, ValueRange{value}, ValueRange{empty}, maps,
      iterators, [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value v = extend ? arith::ExtFOp::create(nb, nl, element, args[0])
                               .getResult()
                         : arith::TruncFOp::create(nb, nl, element, args[0])
                               .getResult();
        linalg::YieldOp::create(nb, nl, v);
      });
  return generic;
}

struct WidenHalfAccumulatorsPass
    : public mlir::kiln::impl::KilnWidenHalfAccumulatorsBase<
          WidenHalfAccumulatorsPass> {
  using Base::Base;

  /// Whether `op` is a reduction of half outputs this pass widens.
  bool wants(linalg::GenericOp op) {
    if (!op.hasPureTensorSemantics() || op.getNumReductionLoops() == 0)
      return false;
    if (!llvm::all_of(op.getDpsInits(), [](Value init) {
          return isHalf(getElementTypeOrSelf(init.getType()));
        }))
      return false;
    // Maxima and minima are exact in any width: only sums and products
    // (the accumulator's new value an add, subtract, multiply or divide)
    // are widened.
    Block *body = op.getBody();
    for (auto [index, yielded] :
         llvm::enumerate(body->getTerminator()->getOperands())) {
      Operation *def = yielded.getDefiningOp();
      if (!def || def->getBlock() != body ||
          !isa<arith::AddFOp, arith::SubFOp, arith::MulFOp, arith::DivFOp>(def))
        return false;
    }
    // The GPU's tiled products take plain `acc + a * b` bodies over
    // matmul-shaped loops and accumulate in f32 themselves,
    // and plain bodies with several reduction loops (a filter gradient)
    // become a patch gather and such a product there
    // (kiln-cpu-convolutions-to-gemm). Other contractions (two batch
    // loops) run as plain loops on the GPU and are widened.
    if (keepPlainContractions && kiln::matchMultiplyAdd(op) &&
        (succeeded(kiln::matmulShapedLoops(op)) ||
         op.getNumReductionLoops() > 1))
      return false;
    return true;
  }

  void runOnOperation() override {
    SmallVector<linalg::GenericOp> ops;
    getOperation()->walk([&](linalg::GenericOp op) {
      if (wants(op))
        ops.push_back(op);
    });
    OpBuilder b(&getContext());
    for (linalg::GenericOp op : ops) {
      Location loc = op.getLoc();
      b.setInsertionPoint(op);
      // The inits in f32 (elementwise extensions, fused later).
      SmallVector<Operation *> created;
      SmallVector<Value> inits;
      for (Value init : op.getDpsInits()) {
        linalg::GenericOp extend = convertElements(
            b, loc, init, widened(getElementTypeOrSelf(init.getType())));
        created.push_back(extend.getDpsInits()[0].getDefiningOp());
        created.push_back(extend);
        inits.push_back(extend.getResult(0));
      }
      SmallVector<Type> resultTypes;
      for (Value init : inits)
        resultTypes.push_back(init.getType());
      auto wide = linalg::GenericOp::create(
          b, loc, resultTypes, op.getDpsInputs(), inits,
          op.getIndexingMapsArray(), op.getIteratorTypesArray());
      SmallVector<Type> argTypes;
      SmallVector<Location> argLocs;
      for (BlockArgument arg : op.getBody()->getArguments()) {
        bool isInit = arg.getArgNumber() >= op.getNumDpsInputs();
        argTypes.push_back(isInit ? widened(arg.getType()) : arg.getType());
        argLocs.push_back(arg.getLoc());
      }
      Block *block =
          b.createBlock(&wide.getRegion(), {}, argTypes, argLocs);
      if (!widenBody(op, block, b)) {
        wide.erase();
        for (Operation *unused : llvm::reverse(created))
          unused->erase();
        continue;
      }
      // Rounded back to half once.
      b.setInsertionPointAfter(wide);
      for (auto [result, wideResult] :
           llvm::zip(op.getResults(), wide.getResults()))
        result.replaceAllUsesWith(
            convertElements(b, loc, wideResult,
                            getElementTypeOrSelf(result.getType()))
                .getResult(0));
      op.erase();
    }
  }
};

} // namespace
