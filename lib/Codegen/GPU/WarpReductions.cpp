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
// A reduction along outer loops (a column sum): a block takes 32 outputs,
// 8 threads each (slices of the reduction), and the reduction is split
// over blocks until the chip has work.
constexpr int64_t kColumns = 32;
constexpr int64_t kSlices = 8;
constexpr int64_t kColumnPerThread = 32; // elements per thread before splits
constexpr int64_t kColumnBlocks = 512;   // blocks the splits aim at
constexpr int64_t kMaxSplits = 64;       // partial results per output

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

/// Along which loops a reduction's inputs are contiguous.
enum class Along { Rows, Columns };

/// A reduction with parallel loops whose every input array is indexed
/// innermost by a reduction loop (`Rows`: the lanes of a warp read
/// neighbouring elements of one row) or by a parallel one (`Columns`:
/// neighbouring outputs read neighbouring elements).
std::optional<RowReduction> matchReduction(linalg::GenericOp op,
                                           Along along) {
  if (op.getNumDpsInits() != 1 || !op.hasPureBufferSemantics() ||
      op.getNumParallelLoops() == 0 || op.getNumReductionLoops() == 0)
    return std::nullopt;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  bool any = false;
  for (OpOperand *input : op.getDpsInputOperands()) {
    auto type = dyn_cast<MemRefType>(input->get().getType());
    if (!type || type.getRank() == 0)
      continue;
    auto last = dyn_cast<AffineDimExpr>(
        op.getMatchingIndexingMap(input).getResults().back());
    if (!last || linalg::isReductionIterator(iterators[last.getPosition()]) !=
                     (along == Along::Rows))
      return std::nullopt;
    any = true;
  }
  if (!any)
    return std::nullopt;
  auto out = dyn_cast<MemRefType>(op.getDpsInitOperand(0)->get().getType());
  Type element = out ? out.getElementType() : Type();
  if (!element || !shuffleType(element))
    return std::nullopt;
  if (!op.getMatchingIndexingMap(op.getDpsInitOperand(0))
           .isProjectedPermutation())
    return std::nullopt;
  // Short static reductions keep a thread per output.
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

class ReductionKernel {
public:
  ReductionKernel(RewriterBase &rewriter, RowReduction r)
      : rewriter(rewriter), r(r), loc(r.op.getLoc()) {}

  /// Replaces the reduction by its kernel (`columns`: a reduction along
  /// outer loops); with `emulate`, by host loops that run each warp's
  /// lanes (or each block's threads) in turn and the shuffles as exchanges
  /// through a buffer (a test of the kernel's indexing on the CPU).
  void build(bool emulate, bool columns = false) {
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
        outputs = rewriter.createOrFold<arith::MulIOp>(loc, outputs, size);
      } else {
        reduction.push_back(i);
        length = rewriter.createOrFold<arith::MulIOp>(loc, length, size);
      }
    }
    total = outputs;
    rowLength = length;
    if (columns)
      buildColumns(emulate);
    else if (parallel.empty())
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

  /// A loop over i = lower, lower + stride, ... < upper carrying a value
  /// from the neutral element: `next(value, i)` (built at the rewriter's
  /// insertion point) gives the next one. Returns the last.
  template <typename Next>
  Value accumulate(Value lower, Value upper, Value stride, Next &&next) {
    Value start = arith::ConstantOp::create(rewriter, loc, r.neutral);
    auto loop = scf::ForOp::create(
        rewriter, loc, lower, upper, stride, ValueRange{start},
        [&](OpBuilder &b, Location l, Value i, ValueRange acc) {
          OpBuilder::InsertionGuard guard(rewriter);
          rewriter.setInsertionPoint(b.getInsertionBlock(),
                                     b.getInsertionPoint());
          scf::YieldOp::create(rewriter, l, next(acc.front(), i));
        });
    return loop.getResult(0);
  }

  /// Elements first, first + step, ... of output `output`'s row, combined
  /// from the neutral element.
  Value share(Value output, Value first, Value step) {
    SmallVector<Value> outer(r.op.getNumLoops());
    delinearize(output, parallel, outer);
    return accumulate(first, rowLength, step, [&](Value acc, Value flat) {
      SmallVector<Value> ivs = outer;
      delinearize(flat, reduction, ivs);
      return kiln::inlineBody(rewriter, loc, r.op, ivs, acc);
    });
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
      return accumulate(lane, warps, index(kWarp), [&](Value acc, Value i) {
        return combine(acc, memref::LoadOp::create(rewriter, loc, partials, i));
      });
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

  /// A reduction along outer loops (the inputs contiguous along the
  /// outputs: a bias gradient's sum over the batch). Block (g, s) of a
  /// grid of ceil(outputs / 32) x S blocks of 256 threads takes outputs
  /// 32 g to 32 g + 31, thread t output 32 g + t % 32 and slice t / 32:
  /// elements 8 s + slice, then every 8 S further, of its output's
  /// reduction (so a warp reads 32 neighbouring elements); the 8 slices
  /// meet in shared memory and slice 0 combines them in order. With one
  /// split it combines the total with the output; with S splits it writes
  /// partials[s][output], and a second kernel (a thread per output)
  /// combines the S partials in order with the output.
  void buildColumns(bool emulate) {
    Value zero = index(0), one = index(1);
    auto folded = [&](auto op, Value a, Value b) -> Value {
      return rewriter.createOrFold<decltype(op)>(loc, a, b);
    };
    // (At least one group, and one partial per split, when the outputs
    // are none at run time: a grid has blocks, and 512 / groups is
    // defined.)
    Value groups = folded(arith::MaxUIOp(),
                          folded(arith::CeilDivUIOp(), total, index(kColumns)),
                          one);
    // S = clamp(min(length / (8 x 32), 512 / groups), 1, 64), rounded up.
    Value splits = folded(
        arith::MaxUIOp(),
        folded(arith::MinUIOp(),
             folded(arith::MinUIOp(),
                  folded(arith::CeilDivUIOp(), rowLength,
                       index(kSlices * kColumnPerThread)),
                  folded(arith::CeilDivUIOp(), index(kColumnBlocks), groups)),
             index(kMaxSplits)),
        one);
    std::optional<int64_t> constantSplits = getConstantIntValue(splits);
    bool oneSplit = constantSplits && *constantSplits == 1;
    Value step = folded(arith::MulIOp(), splits, index(kSlices));
    Type element = r.neutral.getType();
    auto partialsType = MemRefType::get({ShapedType::kDynamic}, element);
    Value partialCount = folded(arith::MulIOp(), splits,
                                folded(arith::MaxUIOp(), total, one));

    // Thread (column, slice) of block (group, split): its share, or the
    // neutral element past the last output.
    auto output = [&](Value group, Value column) -> Value {
      return arith::AddIOp::create(
          rewriter, loc,
          arith::MulIOp::create(rewriter, loc, group, index(kColumns)),
          column);
    };
    auto inside = [&](Value out) -> Value {
      return arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ult,
                                   out, total);
    };
    auto threadShare = [&](Value out, Value split, Value slice) -> Value {
      auto branch = scf::IfOp::create(rewriter, loc, TypeRange{element},
                                      inside(out), /*withElse=*/true);
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(branch.thenBlock());
      Value first = arith::AddIOp::create(
          rewriter, loc,
          arith::MulIOp::create(rewriter, loc, split, index(kSlices)), slice);
      scf::YieldOp::create(rewriter, loc, share(out, first, step));
      rewriter.setInsertionPointToStart(branch.elseBlock());
      scf::YieldOp::create(
          rewriter, loc,
          Value(arith::ConstantOp::create(rewriter, loc, r.neutral)));
      return branch.getResult(0);
    };
    auto sharedSlot = [&](Value slice, Value column) -> Value {
      return arith::AddIOp::create(
          rewriter, loc,
          arith::MulIOp::create(rewriter, loc, slice, index(kColumns)),
          column);
    };
    // Slice 0 of a column with an output: the slices' values in order,
    // then the output (one split) or the partial.
    auto finishColumn = [&](Value shared, Value out, Value split,
                            Value column, Value partials) {
      Value acc = memref::LoadOp::create(rewriter, loc, shared,
                                         sharedSlot(zero, column));
      for (int64_t slice = 1; slice < kSlices; ++slice)
        acc = combine(acc,
                      memref::LoadOp::create(rewriter, loc, shared,
                                             sharedSlot(index(slice), column)));
      if (oneSplit) {
        storeOutput(out, acc);
        return;
      }
      Value at = arith::AddIOp::create(
          rewriter, loc, arith::MulIOp::create(rewriter, loc, split, total),
          out);
      memref::StoreOp::create(rewriter, loc, acc, partials, at);
    };
    // The second kernel's thread for output `out`: the partials in order.
    auto finishOutput = [&](Value partials, Value out) {
      storeOutput(out, accumulate(zero, splits, one, [&](Value acc, Value s) {
        Value at = arith::AddIOp::create(
            rewriter, loc, arith::MulIOp::create(rewriter, loc, s, total),
            out);
        return combine(acc,
                       memref::LoadOp::create(rewriter, loc, partials, at));
      }));
    };
    auto ifThen = [&](Value condition, auto &&body) {
      auto branch = scf::IfOp::create(rewriter, loc, condition);
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPoint(branch.thenBlock()->getTerminator());
      body();
    };

    if (emulate) {
      Value partials;
      if (!oneSplit)
        partials = memref::AllocOp::create(rewriter, loc, partialsType,
                                           ValueRange{partialCount});
      Value shared = memref::AllocaOp::create(
          rewriter, loc, MemRefType::get({kSlices * kColumns}, element));
      loop(zero, splits, [&](Value split) {
        loop(zero, groups, [&](Value group) {
          loop(zero, index(kSlices), [&](Value slice) {
            loop(zero, index(kColumns), [&](Value column) {
              Value value = threadShare(output(group, column), split, slice);
              memref::StoreOp::create(rewriter, loc, value, shared,
                                      sharedSlot(slice, column));
            });
          });
          loop(zero, index(kColumns), [&](Value column) {
            Value out = output(group, column);
            ifThen(inside(out), [&] {
              finishColumn(shared, out, split, column, partials);
            });
          });
        });
      });
      if (!oneSplit) {
        loop(zero, total, [&](Value out) { finishOutput(partials, out); });
        memref::DeallocOp::create(rewriter, loc, partials);
      }
      return;
    }
    auto tokenType = gpu::AsyncTokenType::get(rewriter.getContext());
    Value partials;
    if (!oneSplit)
      partials = kiln::createWaitedFor(rewriter, loc, [&](Value start) {
                   return gpu::AllocOp::create(
                              rewriter, loc, partialsType, tokenType,
                              ValueRange{start}, ValueRange{partialCount},
                              ValueRange{}, /*hostShared=*/false)
                       .getOperation();
                 })->getResult(0);
    {
      OpBuilder::InsertionGuard guard(rewriter);
      auto sharedType = MemRefType::get(
          {kSlices * kColumns}, element, MemRefLayoutAttrInterface(),
          gpu::AddressSpaceAttr::get(rewriter.getContext(),
                                     gpu::AddressSpace::Workgroup));
      auto launch = gpu::LaunchOp::create(
          rewriter, loc, groups, splits, one, index(kSlices * kColumns), one,
          one, /*dynamicSharedMemorySize=*/nullptr, /*asyncTokenType=*/nullptr,
          /*asyncDependencies=*/ValueRange{},
          /*workgroupAttributions=*/TypeRange{sharedType});
      rewriter.setInsertionPointToEnd(&launch.getBody().front());
      auto terminator = gpu::TerminatorOp::create(rewriter, loc);
      rewriter.setInsertionPoint(terminator);
      Value shared = launch.getWorkgroupAttributions().front();
      Value tid = launch.getThreadIds().x;
      Value column = arith::RemUIOp::create(rewriter, loc, tid,
                                            index(kColumns));
      Value slice = arith::DivUIOp::create(rewriter, loc, tid,
                                           index(kColumns));
      Value split = launch.getBlockIds().y;
      Value out = output(launch.getBlockIds().x, column);
      memref::StoreOp::create(rewriter, loc, threadShare(out, split, slice),
                              shared, tid);
      gpu::BarrierOp::create(rewriter, loc);
      Value first = arith::AndIOp::create(
          rewriter, loc,
          arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq,
                                slice, zero),
          inside(out));
      ifThen(first,
             [&] { finishColumn(shared, out, split, column, partials); });
    }
    if (oneSplit)
      return;
    {
      OpBuilder::InsertionGuard guard(rewriter);
      Value out = kiln::createFlatLaunch(rewriter, loc, total,
                                         kSlices * kColumns);
      ifThen(inside(out), [&] { finishOutput(partials, out); });
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
        if (auto row = matchReduction(generic, Along::Rows))
          ReductionKernel(rewriter, *row).build(emulate);
        else if (auto column = matchReduction(generic, Along::Columns))
          ReductionKernel(rewriter, *column).build(emulate, /*columns=*/true);
        else if (auto whole = matchWholeReduction(generic))
          ReductionKernel(rewriter, *whole).build(emulate);
      }
    }
  }
};

} // namespace
