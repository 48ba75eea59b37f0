//===- ScheduleLinalg.cpp - Loop order and serial kernels for linalg ops --===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-schedule-linalg: in the GPU entries, every linalg op's parallel
// loops become its outermost ones (so that they, not a reduction around
// them, become the grid), and an op with no parallel loop at all runs in a
// kernel of one thread (see the pass description).
//
//===----------------------------------------------------------------------===//

#include "GpuEntries.h"
#include "GpuMemory.h"
#include "Reductions.h"

#include "kiln/Codegen/GPU/Passes.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUSCHEDULELINALG
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

/// The loop order with the parallel loops first, each group in its order,
/// or nothing if they are first already.
std::optional<SmallVector<unsigned>> parallelFirst(linalg::LinalgOp op) {
  SmallVector<unsigned> order;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  for (unsigned i = 0, e = iterators.size(); i < e; ++i)
    if (linalg::isParallelIterator(iterators[i]))
      order.push_back(i);
  for (unsigned i = 0, e = iterators.size(); i < e; ++i)
    if (!linalg::isParallelIterator(iterators[i]))
      order.push_back(i);
  for (unsigned i = 0, e = order.size(); i < e; ++i)
    if (order[i] != i)
      return order;
  return std::nullopt;
}

/// Threads of the block that reduces a whole tensor.
constexpr int64_t kReduceThreads = 256;

/// The combiner of a reduction whose every loop reduces into one scalar
/// output (`out = combine(f(inputs), out)`), if it is one that may be
/// reordered (commutative and associative), with its neutral element.
std::optional<std::pair<Operation *, TypedAttr>>
scalarReduction(linalg::GenericOp op) {
  if (op.getNumDpsInits() != 1 || op.getNumLoops() == 0 ||
      op.getNumReductionLoops() != op.getNumLoops())
    return std::nullopt;
  auto out = dyn_cast<MemRefType>(op.getDpsInitOperand(0)->get().getType());
  if (!out || out.getRank() != 0)
    return std::nullopt;
  return kiln::reorderableCombiner(op);
}

/// `combiner` applied to `a` and `b` (it is commutative).
Value combine(OpBuilder &builder, Operation *combiner, Value a, Value b) {
  Operation *op = builder.clone(*combiner);
  op->setOperands({a, b});
  return op->getResult(0);
}

/// Replaces `op`, a reduction of a whole tensor to a scalar, by one block
/// of kReduceThreads threads: each accumulates a strided share of the
/// iterations from the neutral element, the partial results meet in shared
/// memory and are combined in a tree (a barrier between levels), and thread
/// 0 combines the total with the output's value.
void reduceInOneBlock(RewriterBase &rewriter, linalg::GenericOp op,
                      Operation *combiner, TypedAttr neutral) {
  Location loc = op.getLoc();
  MLIRContext *context = rewriter.getContext();
  rewriter.setInsertionPoint(op);
  Type element = neutral.getType();
  SmallVector<Value> sizes;
  for (Range range : cast<linalg::LinalgOp>(op.getOperation())
                          .createLoopRanges(rewriter, loc))
    sizes.push_back(getValueOrCreateConstantIndexOp(rewriter, loc, range.size));
  Value total = sizes.front();
  for (Value size : ArrayRef(sizes).drop_front())
    total = rewriter.createOrFold<arith::MulIOp>(loc, total, size);
  Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
  Value threads = arith::ConstantIndexOp::create(rewriter, loc, kReduceThreads);
  auto shared = MemRefType::get(
      {kReduceThreads}, element, MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(context, gpu::AddressSpace::Workgroup));
  auto launch = gpu::LaunchOp::create(
      rewriter, loc, one, one, one, threads, one, one,
      /*dynamicSharedMemorySize=*/nullptr, /*asyncTokenType=*/nullptr,
      /*asyncDependencies=*/ValueRange{}, /*workgroupAttributions=*/
      TypeRange{shared});
  Block &body = launch.getBody().front();
  rewriter.setInsertionPointToEnd(&body);
  auto terminator = gpu::TerminatorOp::create(rewriter, loc);
  rewriter.setInsertionPoint(terminator);
  Value tid = launch.getThreadIds().x;
  Value partials = launch.getWorkgroupAttributions().front();
  Value start = arith::ConstantOp::create(rewriter, loc, neutral);
  // The thread's share: iterations tid, tid + 256, ... in row-major order.
  auto loop = scf::ForOp::create(
      rewriter, loc, tid, total, threads, ValueRange{start},
      [&](OpBuilder &b, Location l, Value flat, ValueRange acc) {
        SmallVector<Value> ivs(sizes.size());
        Value rest = flat;
        for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
          ivs[d] = d == 0 ? rest : arith::RemUIOp::create(b, l, rest, sizes[d]);
          if (d > 0)
            rest = arith::DivUIOp::create(b, l, rest, sizes[d]);
        }
        IRMapping mapping;
        Block *opBody = op.getBlock();
        for (OpOperand *input : op.getDpsInputOperands()) {
          AffineMap map = op.getMatchingIndexingMap(input);
          SmallVector<Value> indices;
          for (unsigned r = 0; r < map.getNumResults(); ++r)
            indices.push_back(affine::AffineApplyOp::create(
                b, l, map.getSubMap({r}), ivs));
          Value value;
          if (isa<MemRefType>(input->get().getType()))
            value = memref::LoadOp::create(b, l, input->get(), indices);
          else
            value = input->get(); // a scalar input
          mapping.map(opBody->getArgument(input->getOperandNumber()), value);
        }
        mapping.map(op.getRegionOutputArgs().front(), acc.front());
        for (Operation &inner : opBody->without_terminator()) {
          if (auto index = dyn_cast<linalg::IndexOp>(inner)) {
            mapping.map(index.getResult(), ivs[index.getDim()]);
            continue;
          }
          b.clone(inner, mapping);
        }
        Value next = mapping.lookupOrDefault(
            opBody->getTerminator()->getOperand(0));
        scf::YieldOp::create(b, l, next);
      });
  memref::StoreOp::create(rewriter, loc, loop.getResult(0), partials, tid);
  gpu::BarrierOp::create(rewriter, loc);
  for (int64_t stride = kReduceThreads / 2; stride >= 1; stride /= 2) {
    Value s = arith::ConstantIndexOp::create(rewriter, loc, stride);
    Value active = arith::CmpIOp::create(rewriter, loc,
                                         arith::CmpIPredicate::ult, tid, s);
    scf::IfOp::create(rewriter, loc, active, [&](OpBuilder &b, Location l) {
      Value other = arith::AddIOp::create(b, l, tid, s);
      Value mine = memref::LoadOp::create(b, l, partials, tid);
      Value theirs = memref::LoadOp::create(b, l, partials, other);
      memref::StoreOp::create(b, l, combine(b, combiner, mine, theirs),
                              partials, tid);
      scf::YieldOp::create(b, l);
    });
    gpu::BarrierOp::create(rewriter, loc);
  }
  Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value first = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq,
                                      tid, zero);
  Value out = op.getDpsInitOperand(0)->get();
  scf::IfOp::create(rewriter, loc, first, [&](OpBuilder &b, Location l) {
    Value sum = memref::LoadOp::create(b, l, partials, zero);
    Value old = memref::LoadOp::create(b, l, out, ValueRange{});
    memref::StoreOp::create(b, l, combine(b, combiner, old, sum), out,
                            ValueRange{});
    scf::YieldOp::create(b, l);
  });
  rewriter.eraseOp(op);
}

struct GPUScheduleLinalgPass
    : public mlir::kiln::impl::KilnGPUScheduleLinalgBase<
          GPUScheduleLinalgPass> {
  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (!kiln::isGpuFunction(func))
        continue;
      SmallVector<linalg::LinalgOp> ops;
      func.walk([&](linalg::LinalgOp op) {
        if (!op->getParentOfType<gpu::LaunchOp>())
          ops.push_back(op);
      });
      for (linalg::LinalgOp op : ops) {
        if (op.getNumParallelLoops() == 0) {
          // A whole-tensor reduction: a block of threads; anything else (a
          // 0-d computation, an argmax to a scalar): one thread.
          auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
          if (!generic && op.getNumLoops() > 0 && op.getNumDpsInits() == 1) {
            rewriter.setInsertionPoint(op);
            FailureOr<linalg::GenericOp> general =
                linalg::generalizeNamedOp(rewriter, op);
            if (succeeded(general))
              generic = *general;
          }
          if (generic)
            if (auto reduction = scalarReduction(generic)) {
              reduceInOneBlock(rewriter, generic, reduction->first,
                               reduction->second);
              continue;
            }
          kiln::runInOneThread(rewriter, generic ? generic.getOperation()
                                                 : op.getOperation());
          continue;
        }
        std::optional<SmallVector<unsigned>> order = parallelFirst(op);
        if (!order)
          continue;
        auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
        rewriter.setInsertionPoint(op);
        if (!generic) {
          FailureOr<linalg::GenericOp> general =
              linalg::generalizeNamedOp(rewriter, op);
          if (failed(general)) {
            op->emitError() << "'" << op->getName()
                            << "': cannot reorder its loops for the GPU (it "
                               "has no generic form)";
            return signalPassFailure();
          }
          generic = *general;
        }
        if (failed(linalg::interchangeGenericOp(rewriter, generic, *order))) {
          generic->emitError("cannot reorder the loops of this linalg op "
                             "for the GPU");
          return signalPassFailure();
        }
      }
    }
  }
};

} // namespace
