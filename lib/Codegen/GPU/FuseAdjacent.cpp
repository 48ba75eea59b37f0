//===- FuseAdjacent.cpp - One kernel for neighbouring elementwise loops ---===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-fuse-adjacent: on buffers, two elementwise linalg.generic ops of
// the same loops whose every access is at the loop point (or a read-only
// broadcast) become one op with the outputs of both, so one kernel instead
// of two (see the pass description).
//
//===----------------------------------------------------------------------===//

#include "GpuEntries.h"
#include "GpuMemory.h"

#include "kiln/Codegen/GPU/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUFUSEADJACENT
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using mlir::kiln::anyAlias;
using mlir::kiln::mayAlias;
using mlir::kiln::rootOf;

namespace {

/// An op this pass fuses: a linalg.generic on buffers with only parallel
/// loops, of static extents, whose operands are each indexed either by the
/// op's one point map (`pointMap`, a permutation) or, for inputs only, by
/// another projection (a broadcast read).
struct Elementwise {
  linalg::GenericOp op;
  AffineMap pointMap;
  SmallVector<Value> bodyLoads; // (see bodyReads)
};

/// The roots of the buffers that `op`'s body loads from by itself (a
/// gather's `memref.load` of its table at computed indices), appended to
/// `reads`; false when the body has other memory effects, or loads from a
/// buffer it makes itself (a view, a `memref.get_global`): unknown
/// accesses.
bool bodyReads(linalg::LinalgOp op, SmallVectorImpl<Value> &reads) {
  Region &region = op->getRegion(0);
  WalkResult effects = region.walk([&](Operation *inner) {
    if (auto load = dyn_cast<memref::LoadOp>(inner)) {
      Value memref = load.getMemRef();
      if (region.isAncestor(memref.getParentRegion()))
        return WalkResult::interrupt();
      reads.push_back(rootOf(memref));
      return WalkResult::advance();
    }
    return isa<linalg::YieldOp>(inner) || isMemoryEffectFree(inner)
               ? WalkResult::advance()
               : WalkResult::interrupt();
  });
  return !effects.wasInterrupted();
}

std::optional<Elementwise> matchElementwise(Operation *candidate) {
  auto op = dyn_cast_or_null<linalg::GenericOp>(candidate);
  SmallVector<Value> loads;
  if (!op || !op.hasPureBufferSemantics() ||
      op.getNumLoops() != op.getNumParallelLoops() || op.getNumLoops() == 0 ||
      op.hasDynamicShape() || op.hasIndexSemantics() || !bodyReads(op, loads))
    return std::nullopt;
  std::optional<AffineMap> point;
  for (OpOperand &operand : op->getOpOperands()) {
    if (!isa<MemRefType>(operand.get().getType()))
      return std::nullopt; // (a scalar operand)
    AffineMap map = op.getMatchingIndexingMap(&operand);
    if (!map.isProjectedPermutation())
      return std::nullopt;
    if (map.getNumResults() != op.getNumLoops()) {
      if (op.isDpsInit(&operand))
        return std::nullopt; // a broadcast output
      continue;
    }
    if (point && *point != map)
      return std::nullopt;
    point = map;
  }
  if (!point)
    return std::nullopt;
  return Elementwise{op, *point, std::move(loads)};
}

/// The roots an op reads and writes, for ops whose accesses are known:
/// linalg ops on buffers (their operands, and what their bodies load), and
/// ops without memory effects (false otherwise).
bool accesses(Operation *op, SmallVectorImpl<Value> &reads,
              SmallVectorImpl<Value> &writes) {
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op)) {
    if (!linalgOp.hasPureBufferSemantics() || !bodyReads(linalgOp, reads))
      return false;
    for (OpOperand &operand : op->getOpOperands()) {
      if (!isa<MemRefType>(operand.get().getType()))
        continue;
      reads.push_back(rootOf(operand.get()));
      if (linalgOp.isDpsInit(&operand))
        writes.push_back(rootOf(operand.get()));
    }
    return true;
  }
  return isMemoryEffectFree(op);
}

/// Whether `first` may run right before `second` instead of where it is:
/// every op between touches nothing `first` writes and writes nothing it
/// reads. (None of them defines a value `first` uses: `first` comes before
/// them.)
bool canSink(linalg::GenericOp first, Operation *second) {
  SmallVector<Value> reads, writes;
  accesses(first, reads, writes);
  for (Operation *op = first->getNextNode(); op != second;
       op = op->getNextNode()) {
    SmallVector<Value> theirReads, theirWrites;
    if (!accesses(op, theirReads, theirWrites))
      return false;
    if (anyAlias(theirReads, writes) || anyAlias(theirWrites, reads))
      return false;
  }
  return true;
}

/// Operands of a fused op at most: a kernel's parameters stay well inside
/// PTX's limits, and its registers in reach.
constexpr unsigned kMaximumOperands = 32;

/// Whether `second` may be computed in the same loop nest as `first`, just
/// after it at each point: both read and write each other's outputs only
/// at the loop point, through the same value, and write different buffers.

bool fusable(const Elementwise &first, const Elementwise &second) {
  linalg::GenericOp a = first.op, b = second.op;
  if (first.pointMap != second.pointMap ||
      a.getStaticLoopRanges() != b.getStaticLoopRanges() ||
      a->getNumOperands() + b->getNumOperands() > kMaximumOperands)
    return false;
  auto onlyAtThePoint = [](linalg::GenericOp reader, AffineMap readerPoint,
                           linalg::GenericOp writer) {
    for (OpOperand &written : writer.getDpsInitsMutable()) {
      Value root = rootOf(written.get());
      for (OpOperand &operand : reader->getOpOperands()) {
        if (!isa<MemRefType>(operand.get().getType()) ||
            !mayAlias(rootOf(operand.get()), root))
          continue;
        if (operand.get() != written.get() ||
            reader.getMatchingIndexingMap(&operand) != readerPoint)
          return false;
      }
    }
    return true;
  };
  SmallVector<Value> writesA, writesB;
  for (OpOperand &x : a.getDpsInitsMutable())
    writesA.push_back(rootOf(x.get()));
  for (OpOperand &y : b.getDpsInitsMutable())
    writesB.push_back(rootOf(y.get()));
  // Different outputs; and a body that loads elements of the other's
  // outputs (a gather) reads them at other points than its own: in one
  // loop it would see some of them before they are written (or after).
  if (anyAlias(writesA, writesB) || anyAlias(second.bodyLoads, writesA) ||
      anyAlias(first.bodyLoads, writesB))
    return false;
  // (b's outputs read by a: a reads the old value before b writes it, at
  // the same point, as when the ops run one after the other.)
  return onlyAtThePoint(b, second.pointMap, a) &&
         onlyAtThePoint(a, first.pointMap, b);
}

/// One generic computing `a`'s body, then `b`'s, at each point: its inputs
/// are both ops' inputs, except `b`'s reads of `a`'s outputs, which take
/// `a`'s new values; its outputs are both ops' outputs. Built at `b`.
linalg::GenericOp fuse(RewriterBase &rewriter, linalg::GenericOp a,
                       linalg::GenericOp b) {
  SmallVector<Value> inputs, outputs;
  SmallVector<AffineMap> inputMaps, outputMaps;
  for (OpOperand *operand : a.getDpsInputOperands()) {
    inputs.push_back(operand->get());
    inputMaps.push_back(a.getMatchingIndexingMap(operand));
  }
  auto fromA = [&](Value v) -> std::optional<unsigned> {
    for (OpOperand &init : a.getDpsInitsMutable())
      if (init.get() == v)
        return init.getOperandNumber() - a.getNumDpsInputs();
    return std::nullopt;
  };
  for (OpOperand *operand : b.getDpsInputOperands()) {
    if (fromA(operand->get()))
      continue;
    inputs.push_back(operand->get());
    inputMaps.push_back(b.getMatchingIndexingMap(operand));
  }
  for (linalg::GenericOp op : {a, b})
    for (OpOperand &init : op.getDpsInitsMutable()) {
      outputs.push_back(init.get());
      outputMaps.push_back(op.getMatchingIndexingMap(&init));
    }
  SmallVector<AffineMap> maps(inputMaps);
  maps.append(outputMaps);
  rewriter.setInsertionPoint(b);
  auto fused = linalg::GenericOp::create(
      rewriter, b.getLoc(), TypeRange{}, inputs, outputs, maps,
      a.getIteratorTypesArray());
  SmallVector<Type> argTypes;
  SmallVector<Location> argLocs;
  for (Value v : llvm::concat<Value>(inputs, outputs)) {
    argTypes.push_back(cast<MemRefType>(v.getType()).getElementType());
    argLocs.push_back(v.getLoc());
  }
  Block *body = rewriter.createBlock(&fused.getRegion(), {}, argTypes, argLocs);
  unsigned numInputs = inputs.size();
  unsigned aInputs = a.getNumDpsInputs(), aOutputs = a.getNumDpsInits();
  // a's body.
  IRMapping mapA;
  Block *blockA = a.getBlock();
  for (unsigned i = 0; i < aInputs; ++i)
    mapA.map(blockA->getArgument(i), body->getArgument(i));
  for (unsigned i = 0; i < aOutputs; ++i)
    mapA.map(blockA->getArgument(aInputs + i),
             body->getArgument(numInputs + i));
  for (Operation &op : blockA->without_terminator())
    rewriter.clone(op, mapA);
  SmallVector<Value> yields;
  for (Value v : blockA->getTerminator()->getOperands())
    yields.push_back(mapA.lookupOrDefault(v));
  // b's body, reading a's new values where it reads a's outputs.
  IRMapping mapB;
  Block *blockB = b.getBlock();
  unsigned next = aInputs;
  for (OpOperand *operand : b.getDpsInputOperands()) {
    Value arg = blockB->getArgument(operand->getOperandNumber());
    if (std::optional<unsigned> k = fromA(operand->get()))
      mapB.map(arg, yields[*k]);
    else
      mapB.map(arg, body->getArgument(next++));
  }
  for (unsigned i = 0; i < b.getNumDpsInits(); ++i)
    mapB.map(blockB->getArgument(b.getNumDpsInputs() + i),
             body->getArgument(numInputs + aOutputs + i));
  for (Operation &op : blockB->without_terminator())
    rewriter.clone(op, mapB);
  for (Value v : blockB->getTerminator()->getOperands())
    yields.push_back(mapB.lookupOrDefault(v));
  linalg::YieldOp::create(rewriter, b.getLoc(), yields);
  rewriter.eraseOp(b);
  rewriter.eraseOp(a);
  return fused;
}

struct GPUFuseAdjacentPass
    : public mlir::kiln::impl::KilnGPUFuseAdjacentBase<GPUFuseAdjacentPass> {
  using Base::Base;

  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal() || (!everywhere && !kiln::isGpuFunction(func)))
        continue;
      // The top level only (kernels are made of it); each fused op tried
      // again with what follows.
      Block &block = func.getBody().front();
      for (Operation *op = &block.front(); op;) {
        std::optional<Elementwise> first = matchElementwise(op);
        Operation *next = op->getNextNode();
        if (!first) {
          op = next;
          continue;
        }
        // The next elementwise op that the first can move down to.
        Operation *second = next;
        while (second && !matchElementwise(second)) {
          SmallVector<Value> reads, writes;
          if (!accesses(second, reads, writes))
            break;
          second = second->getNextNode();
        }
        std::optional<Elementwise> other =
            second ? matchElementwise(second) : std::nullopt;
        if (other && fusable(*first, *other) && canSink(first->op, second)) {
          op = fuse(rewriter, first->op, other->op);
          continue;
        }
        op = next;
      }
    }
  }
};

} // namespace
