//===- WarpReductions.cpp - One warp per output of a row reduction --------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-warp-reductions: in the GPU entries, a reduction along the
// innermost loops (a softmax's row maxima and sums, a cross-entropy's
// log-sum-exp, a mean over the last axis) gets one warp per output element
// instead of one thread: the 32 lanes read consecutive elements of the row
// and combine their partial results with shuffles (see the pass
// description).
//
//===----------------------------------------------------------------------===//

#include "GpuEntries.h"
#include "GpuMemory.h"
#include "Reductions.h"

#include "kiln/Codegen/GPU/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUWARPREDUCTIONS
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

constexpr int64_t kWarp = 32;         // lanes per warp
constexpr int64_t kWarpsPerBlock = 8; // a block of 256 threads
constexpr int64_t kMinReduction = 32; // shorter rows keep a thread each
constexpr int64_t kGridFrom = 16384;  // smaller scalar reductions: one block
constexpr int64_t kMaxBlocks = 1024;  // of a whole-tensor reduction
constexpr int64_t kPerThread = 16;    // elements per thread before more blocks

/// A row reduction this pass rewrites, with its combiner and the
/// combiner's neutral element.
struct RowReduction {
  linalg::GenericOp op;
  Operation *combiner;
  TypedAttr neutral;
};

/// The element types gpu.shuffle carries (64-bit ones as two halves).
bool shuffleType(Type element) {
  return element.isF32() || element.isF64() || element.isInteger(32) ||
         element.isInteger(64);
}

/// A reduction of a whole tensor to a scalar, large enough (or of open
/// size) to spread over a grid of blocks.
std::optional<RowReduction> matchWholeReduction(linalg::GenericOp op) {
  if (op.getNumDpsInits() != 1 || !op.hasPureBufferSemantics() ||
      op.getNumParallelLoops() != 0 || op.getNumReductionLoops() == 0)
    return std::nullopt;
  auto out = dyn_cast<MemRefType>(op.getDpsInitOperand(0)->get().getType());
  if (!out || out.getRank() != 0 || !shuffleType(out.getElementType()))
    return std::nullopt;
  int64_t total = 1;
  for (int64_t size : op.getStaticLoopRanges())
    total = ShapedType::isDynamic(size) || ShapedType::isDynamic(total)
                ? ShapedType::kDynamic
                : total * size;
  if (!ShapedType::isDynamic(total) && total < kGridFrom)
    return std::nullopt; // one block (kiln-gpu-schedule-linalg) will do
  std::optional<std::pair<Operation *, TypedAttr>> combiner =
      kiln::reorderableCombiner(op);
  if (!combiner)
    return std::nullopt;
  return RowReduction{op, combiner->first, combiner->second};
}

std::optional<RowReduction> matchRowReduction(linalg::GenericOp op) {
  if (op.getNumDpsInits() != 1 || !op.hasPureBufferSemantics() ||
      op.getNumParallelLoops() == 0 || op.getNumReductionLoops() == 0)
    return std::nullopt;
  // A row: every input array's innermost index is a reduction loop, so
  // the lanes read neighbouring elements. (In a column reduction it is a
  // parallel loop: a thread per output reads neighbours of its neighbours'
  // elements already.)
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  bool row = false;
  for (OpOperand *input : op.getDpsInputOperands()) {
    auto type = dyn_cast<MemRefType>(input->get().getType());
    if (!type || type.getRank() == 0)
      continue;
    auto last = dyn_cast<AffineDimExpr>(
        op.getMatchingIndexingMap(input).getResults().back());
    if (!last || !linalg::isReductionIterator(iterators[last.getPosition()]))
      return std::nullopt;
    row = true;
  }
  if (!row)
    return std::nullopt;
  auto out = dyn_cast<MemRefType>(op.getDpsInitOperand(0)->get().getType());
  Type element = out ? out.getElementType() : Type();
  if (!element || !shuffleType(element))
    return std::nullopt;
  if (!op.getMatchingIndexingMap(op.getDpsInitOperand(0))
           .isProjectedPermutation())
    return std::nullopt;
  // Short static rows keep a thread per output.
  int64_t length = 1;
  for (auto [iterator, size] :
       llvm::zip(iterators, op.getStaticLoopRanges()))
    if (linalg::isReductionIterator(iterator))
      length = ShapedType::isDynamic(size) || ShapedType::isDynamic(length)
                   ? ShapedType::kDynamic
                   : length * size;
  if (!ShapedType::isDynamic(length) && length < kMinReduction)
    return std::nullopt;
  std::optional<std::pair<Operation *, TypedAttr>> combiner =
      kiln::reorderableCombiner(op);
  if (!combiner)
    return std::nullopt;
  return RowReduction{op, combiner->first, combiner->second};
}

class WarpKernel {
public:
  WarpKernel(RewriterBase &rewriter, RowReduction r)
      : rewriter(rewriter), r(r), loc(r.op.getLoc()) {}

  /// Replaces the reduction by its kernel; with `emulate`, by host loops
  /// that run each warp's lanes in turn and the shuffles as exchanges
  /// through a buffer (a test of the kernel's indexing on the CPU).
  void build(bool emulate) {
    rewriter.setInsertionPoint(r.op);
    SmallVector<utils::IteratorType> iterators = r.op.getIteratorTypesArray();
    auto ranges = cast<linalg::LinalgOp>(r.op.getOperation())
                      .createLoopRanges(rewriter, loc);
    Value outputs = index(1), length = index(1);
    for (auto [i, range] : llvm::enumerate(ranges)) {
      Value size = getValueOrCreateConstantIndexOp(rewriter, loc, range.size);
      sizes.push_back(size);
      if (linalg::isParallelIterator(iterators[i])) {
        parallel.push_back(i);
        outputs = arith::MulIOp::create(rewriter, loc, outputs, size);
      } else {
        reduction.push_back(i);
        length = arith::MulIOp::create(rewriter, loc, length, size);
      }
    }
    total = outputs;
    rowLength = length;
    if (parallel.empty())
      buildGrid(emulate);
    else if (emulate)
      buildEmulation();
    else
      buildLaunch();
    rewriter.eraseOp(r.op);
  }

private:
  Value index(int64_t v) {
    return arith::ConstantIndexOp::create(rewriter, loc, v);
  }

  Value combine(Value a, Value b) {
    return kiln::combineWith(rewriter, r.combiner, a, b);
  }

  /// `flat` as indices over the loop dims `dims` (row-major), into `ivs`.
  void delinearize(Value flat, ArrayRef<unsigned> dims,
                   SmallVectorImpl<Value> &ivs) {
    Value rest = flat;
    for (int64_t d = static_cast<int64_t>(dims.size()) - 1; d >= 0; --d) {
      Value size = sizes[dims[d]];
      ivs[dims[d]] =
          d == 0 ? rest : arith::RemUIOp::create(rewriter, loc, rest, size);
      if (d > 0)
        rest = arith::DivUIOp::create(rewriter, loc, rest, size);
    }
  }

  /// The lane's share of output `output`'s row: elements lane, lane + 32,
  /// ... of the row (row-major over the reduction loops), combined from
  /// the neutral element by the op's own body.
  Value laneShare(Value output, Value lane) {
    return share(output, lane, index(kWarp));
  }

  /// Elements first, first + step, ... of output `output`'s row, combined
  /// from the neutral element.
  Value share(Value output, Value first, Value step) {
    SmallVector<Value> outer(r.op.getNumLoops());
    delinearize(output, parallel, outer);
    Value start = arith::ConstantOp::create(rewriter, loc, r.neutral);
    auto loop = scf::ForOp::create(
        rewriter, loc, first, rowLength, step, ValueRange{start},
        [&](OpBuilder &b, Location l, Value flat, ValueRange acc) {
          OpBuilder::InsertionGuard guard(rewriter);
          rewriter.setInsertionPoint(b.getInsertionBlock(),
                                     b.getInsertionPoint());
          SmallVector<Value> ivs = outer;
          delinearize(flat, reduction, ivs);
          scf::YieldOp::create(
              rewriter, l,
              kiln::inlineBody(rewriter, l, r.op, ivs, acc.front()));
        });
    return loop.getResult(0);
  }

  /// Combines `value` with the output element of `output` and stores it.
  void storeOutput(Value output, Value value) {
    SmallVector<Value> ivs(r.op.getNumLoops());
    delinearize(output, parallel, ivs);
    OpOperand *out = r.op.getDpsInitOperand(0);
    AffineMap map = r.op.getMatchingIndexingMap(out);
    SmallVector<Value> indices;
    for (AffineExpr e : map.getResults())
      indices.push_back(ivs[cast<AffineDimExpr>(e).getPosition()]);
    Value old = memref::LoadOp::create(rewriter, loc, out->get(), indices);
    memref::StoreOp::create(rewriter, loc, combine(old, value), out->get(),
                            indices);
  }

  Value warpTotal(Value acc) {
    return kiln::warpTotal(rewriter, loc, r.combiner, acc);
  }

  template <typename LaneValue>
  Value emulatedWarpTotal(Value lanes, Value swapped, LaneValue &&laneValue) {
    return kiln::emulatedWarpTotal(rewriter, loc, r.combiner, lanes, swapped,
                                   laneValue);
  }

  /// A whole tensor to a scalar, in two kernels: a grid of G blocks of 8
  /// warps (G = ceil(n / 4096), at most 1024), warp w's lanes combining
  /// elements 32 w + lane, then every 32 G * 8 elements further, and
  /// writing the warp's total to partials[w]; then one warp combines the
  /// partials and lane 0 the total with the output.
  void buildGrid(bool emulate) {
    Value one = index(1);
    Value blocks = arith::MinUIOp::create(
        rewriter, loc,
        arith::MaxUIOp::create(
            rewriter, loc,
            arith::CeilDivUIOp::create(
                rewriter, loc, rowLength,
                index(kWarp * kWarpsPerBlock * kPerThread)),
            one),
        index(kMaxBlocks));
    Value warps = arith::MulIOp::create(rewriter, loc, blocks,
                                        index(kWarpsPerBlock));
    Value stride = arith::MulIOp::create(rewriter, loc, warps, index(kWarp));
    Type element = r.neutral.getType();
    auto partialsType = MemRefType::get({ShapedType::kDynamic}, element);
    Value zero = index(0);
    // Lane `lane` of warp `warp` in the first kernel: its share.
    auto firstShare = [&](Value warp, Value lane) {
      Value first = arith::AddIOp::create(
          rewriter, loc,
          arith::MulIOp::create(rewriter, loc, warp, index(kWarp)), lane);
      return share(zero, first, stride);
    };
    // ... and in the second: the partials lane, lane + 32, ...
    auto secondShare = [&](Value partials, Value lane) {
      Value start = arith::ConstantOp::create(rewriter, loc, r.neutral);
      auto forOp = scf::ForOp::create(
          rewriter, loc, lane, warps, index(kWarp), ValueRange{start},
          [&](OpBuilder &b, Location l, Value i, ValueRange acc) {
            OpBuilder::InsertionGuard guard(rewriter);
            rewriter.setInsertionPoint(b.getInsertionBlock(),
                                       b.getInsertionPoint());
            Value partial = memref::LoadOp::create(rewriter, l, partials, i);
            scf::YieldOp::create(rewriter, l,
                                 combine(acc.front(), partial));
          });
      return forOp.getResult(0);
    };
    if (emulate) {
      Value partials = memref::AllocOp::create(rewriter, loc, partialsType,
                                               ValueRange{warps});
      auto lanesType = MemRefType::get({kWarp}, element);
      Value lanes = memref::AllocaOp::create(rewriter, loc, lanesType);
      Value swapped = memref::AllocaOp::create(rewriter, loc, lanesType);
      loop(zero, warps, [&](Value warp) {
        Value total = emulatedWarpTotal(
            lanes, swapped, [&](Value lane) { return firstShare(warp, lane); });
        memref::StoreOp::create(rewriter, loc, total, partials, warp);
      });
      Value total = emulatedWarpTotal(lanes, swapped, [&](Value lane) {
        return secondShare(partials, lane);
      });
      storeOutput(zero, total);
      memref::DeallocOp::create(rewriter, loc, partials);
      return;
    }
    auto tokenType = gpu::AsyncTokenType::get(rewriter.getContext());
    Value partials =
        kiln::createWaitedFor(rewriter, loc, [&](Value start) {
          return gpu::AllocOp::create(rewriter, loc, partialsType, tokenType,
                                      ValueRange{start}, ValueRange{warps},
                                      ValueRange{}, /*hostShared=*/false)
              .getOperation();
        })->getResult(0);
    {
      OpBuilder::InsertionGuard guard(rewriter);
      auto launch = gpu::LaunchOp::create(rewriter, loc, blocks, one, one,
                                          index(kWarp * kWarpsPerBlock), one,
                                          one);
      rewriter.setInsertionPointToEnd(&launch.getBody().front());
      auto terminator = gpu::TerminatorOp::create(rewriter, loc);
      rewriter.setInsertionPoint(terminator);
      Value tid = launch.getThreadIds().x;
      Value lane = arith::RemUIOp::create(rewriter, loc, tid, index(kWarp));
      Value warp = arith::AddIOp::create(
          rewriter, loc,
          arith::MulIOp::create(rewriter, loc, launch.getBlockIds().x,
                                index(kWarpsPerBlock)),
          arith::DivUIOp::create(rewriter, loc, tid, index(kWarp)));
      Value total = warpTotal(firstShare(warp, lane));
      Value first = arith::CmpIOp::create(
          rewriter, loc, arith::CmpIPredicate::eq, lane, index(0));
      auto store = scf::IfOp::create(rewriter, loc, first);
      rewriter.setInsertionPoint(store.thenBlock()->getTerminator());
      memref::StoreOp::create(rewriter, loc, total, partials, warp);
    }
    {
      OpBuilder::InsertionGuard guard(rewriter);
      auto launch = gpu::LaunchOp::create(rewriter, loc, one, one, one,
                                          index(kWarp), one, one);
      rewriter.setInsertionPointToEnd(&launch.getBody().front());
      auto terminator = gpu::TerminatorOp::create(rewriter, loc);
      rewriter.setInsertionPoint(terminator);
      Value lane = launch.getThreadIds().x;
      Value total = warpTotal(secondShare(partials, lane));
      Value first = arith::CmpIOp::create(
          rewriter, loc, arith::CmpIPredicate::eq, lane, index(0));
      auto store = scf::IfOp::create(rewriter, loc, first);
      rewriter.setInsertionPoint(store.thenBlock()->getTerminator());
      storeOutput(index(0), total);
    }
    kiln::createWaitedFor(rewriter, loc, [&](Value start) {
      return gpu::DeallocOp::create(rewriter, loc, tokenType,
                                    ValueRange{start}, partials)
          .getOperation();
    });
  }

  /// A grid of blocks of 8 warps, a warp per output: each lane takes its
  /// share of the row, a butterfly of xor shuffles gives every lane the
  /// total, and lane 0 combines it with the output.
  void buildLaunch() {
    Value one = index(1);
    Value blocks = arith::MaxUIOp::create(
        rewriter, loc,
        arith::CeilDivUIOp::create(rewriter, loc, total,
                                   index(kWarpsPerBlock)),
        one);
    auto launch = gpu::LaunchOp::create(
        rewriter, loc, blocks, one, one, index(kWarp * kWarpsPerBlock), one,
        one);
    Block &body = launch.getBody().front();
    rewriter.setInsertionPointToEnd(&body);
    auto terminator = gpu::TerminatorOp::create(rewriter, loc);
    rewriter.setInsertionPoint(terminator);
    Value tid = launch.getThreadIds().x;
    Value warp = arith::DivUIOp::create(rewriter, loc, tid, index(kWarp));
    Value lane = arith::RemUIOp::create(rewriter, loc, tid, index(kWarp));
    Value output = arith::AddIOp::create(
        rewriter, loc,
        arith::MulIOp::create(rewriter, loc, launch.getBlockIds().x,
                              index(kWarpsPerBlock)),
        warp);
    // The same for the whole warp, so its lanes shuffle together.
    Value inside = arith::CmpIOp::create(rewriter, loc,
                                         arith::CmpIPredicate::ult, output,
                                         total);
    auto guard = scf::IfOp::create(rewriter, loc, inside);
    rewriter.setInsertionPoint(guard.thenBlock()->getTerminator());
    Value acc = warpTotal(laneShare(output, lane));
    Value first = arith::CmpIOp::create(rewriter, loc,
                                        arith::CmpIPredicate::eq, lane,
                                        index(0));
    auto store = scf::IfOp::create(rewriter, loc, first);
    rewriter.setInsertionPoint(store.thenBlock()->getTerminator());
    storeOutput(output, acc);
  }

  template <typename Body>
  void loop(Value lower, Value upper, Body &&body) {
    auto forOp = scf::ForOp::create(rewriter, loc, lower, upper, index(1));
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(forOp.getBody()->getTerminator());
    body(forOp.getInductionVar());
  }

  void buildEmulation() {
    Type element = r.neutral.getType();
    auto lanesType = MemRefType::get({kWarp}, element);
    Value lanes = memref::AllocaOp::create(rewriter, loc, lanesType);
    Value swapped = memref::AllocaOp::create(rewriter, loc, lanesType);
    loop(index(0), total, [&](Value output) {
      storeOutput(output,
                  emulatedWarpTotal(lanes, swapped, [&](Value lane) {
                    return laneShare(output, lane);
                  }));
    });
  }

  RewriterBase &rewriter;
  RowReduction r;
  Location loc;
  SmallVector<Value> sizes;
  SmallVector<unsigned> parallel, reduction;
  Value total, rowLength;
};

struct GPUWarpReductionsPass
    : public mlir::kiln::impl::KilnGPUWarpReductionsBase<
          GPUWarpReductionsPass> {
  using Base::Base;

  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (!emulate && !kiln::isGpuFunction(func))
        continue;
      SmallVector<linalg::LinalgOp> candidates;
      func.walk([&](linalg::LinalgOp op) {
        if (!op->getParentOfType<gpu::LaunchOp>() &&
            op.getNumReductionLoops() > 0 && op.getNumDpsInits() == 1)
          candidates.push_back(op);
      });
      for (linalg::LinalgOp op : candidates) {
        auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
        if (!generic) {
          // Named reductions (linalg.reduce) have a generic form.
          if (!isa<linalg::ReduceOp>(op.getOperation()))
            continue;
          rewriter.setInsertionPoint(op);
          FailureOr<linalg::GenericOp> general =
              linalg::generalizeNamedOp(rewriter, op);
          if (failed(general))
            continue;
          generic = *general;
        }
        if (std::optional<RowReduction> row = matchRowReduction(generic))
          WarpKernel(rewriter, *row).build(emulate);
        else if (std::optional<RowReduction> whole =
                     matchWholeReduction(generic))
          WarpKernel(rewriter, *whole).build(emulate);
      }
    }
  }
};

} // namespace
