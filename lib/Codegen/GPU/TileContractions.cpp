//===- TileContractions.cpp - Shared-memory tiled matrix products ---------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-tile-contractions: in the GPU entries, each linalg contraction
// with one M, one N and one K loop (and at most one batch loop) whose body
// is `acc + a * b` -- a matmul, a batched matmul, either with transposed
// operands -- becomes one kernel that stages tiles of both operands through
// shared memory and keeps a block of outputs per thread in registers (see
// the pass description).
//
//===----------------------------------------------------------------------===//

#include "GpuEntries.h"
#include "GpuMemory.h"
#include "Wgmma.h"

#include "kiln/Codegen/GPU/Passes.h"
#include "kiln/Transforms/MultiplyAdd.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUTILECONTRACTIONS
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

// The tiling: a block of 16 x 16 threads computes a square tile of the
// output, p x p elements per thread (rows and columns: see sharedIndex;
// groups of four per thread from p = 4, for vector loads from shared
// memory, whose buffers kiln-gpu-merge-kernel-modules aligns to 16 bytes;
// ty + 16 i for p = 1, 2), walking K through two
// shared tiles: 16 p x 16 p outputs, K steps of 16 for p = 1, 2, 4 and of 8
// for p = 8. A larger p reads fewer values from shared memory per
// multiply-add (2 / p) but makes fewer blocks; see tilingFor for the
// choice.
constexpr int64_t kThreads = 16; // per block, in x and in y
constexpr int64_t kPad = 1;      // shared rows padded: no bank conflicts

struct Tiling {
  int64_t perThread; // rows (and columns) of outputs per thread
  int64_t tileK;     // K per step
  int64_t tile;      // rows (and columns) of outputs per block
  // Split K: `splits` blocks per output tile, each `chunk` of the depth
  // into its own slice of a workspace, which a second kernel adds up.
  int64_t splits = 1, chunk = 0;
};
constexpr Tiling kSmallTiles = {4, 16, 64};
constexpr Tiling kLargeTiles = {8, 8, 128};
// For products too small to fill the GPU with 64 x 64 tiles.
constexpr Tiling kFmaTiles[] = {{1, 16, 16}, {2, 16, 32}, kSmallTiles,
                                kLargeTiles};
constexpr int64_t kMaximumGridY = 65535;

/// What computes the products: the threads' FMA units, or the tensor cores
/// through `mma.sync` (sm_80 and later): m16n8k16 on f16 or bf16 operands,
/// m16n8k8 on f32 operands rounded to TF32 (opt-in), both accumulating in
/// f32 (the FMA units sum f16 and bf16 in f32 too). With tensor cores
/// the block's 8 warps form a 4 x 2 grid over the output tile (64 x 64 or
/// 128 x 128), each warp a 16 x 32 or 32 x 64 part of it in 16 x 8 mma
/// tiles, and K steps of 32 (halves) or 16 (TF32).
enum class Unit { Fma, F16, BF16, TF32 };
constexpr int64_t kWarpsM = 4, kWarpsN = 2;
constexpr int64_t kMmaM = 16, kMmaN = 8;

/// A contraction this pass tiles: its loops and the multiply and add of
/// its body.
struct Contraction {
  linalg::LinalgOp op;
  unsigned m, n, k;
  std::optional<unsigned> batch;
  Operation *multiply, *add;
};

std::optional<Contraction> matchContraction(linalg::LinalgOp op) {
  if (!op.hasPureBufferSemantics())
    return std::nullopt;
  for (OpOperand &operand : op->getOpOperands())
    if (!isa<MemRefType>(operand.get().getType()))
      return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims = kiln::matmulShapedLoops(op);
  if (failed(dims))
    return std::nullopt;
  std::optional<std::pair<Operation *, Operation *>> body = kiln::matchMultiplyAdd(op);
  if (!body)
    return std::nullopt;
  Contraction c{op, dims->m.front(), dims->n.front(), dims->k.front(),
                std::nullopt, body->first, body->second};
  if (!dims->batch.empty())
    c.batch = dims->batch.front();
  return c;
}

/// Builds the tiled kernel of one contraction.
class TiledKernel {
public:
  TiledKernel(RewriterBase &rewriter, Contraction c, Tiling tiling,
              Unit unit, bool asyncCopies)
      : rewriter(rewriter), c(c), loc(c.op.getLoc()), unit(unit),
        asyncCopies(asyncCopies),
        perThread(tiling.perThread), tileK(tiling.tileK), tileM(tiling.tile),
        tileN(tiling.tile), splits(tiling.splits), chunk(tiling.chunk),
        element(cast<MemRefType>(c.op.getDpsInitOperand(0)->get().getType())
                    .getElementType()),
        accumulator(unit == Unit::Fma && !isa<Float16Type, BFloat16Type>(element)
                        ? element
                        : Float32Type::get(c.op.getContext())) {
    if (unit == Unit::Fma) {
      // From 4 x 4 outputs per thread, each reads its operands' values
      // for a depth step as 16-byte vectors (see sharedIndex).
      vectorShared = perThread >= 4 && perThread % 4 == 0 &&
                     element.isIntOrFloat() &&
                     llvm::is_contained({16u, 32u, 64u},
                                        element.getIntOrFloatBitWidth());
      // Rows padded to keep them 16-byte aligned: 16 bytes (4 f32, 2 f64,
      // 8 f16), which also spreads a depth-major copy over the banks.
      pad = vectorShared ? 128 / element.getIntOrFloatBitWidth() : kPad;
      return;
    }
    perElement = unit == Unit::TF32 ? 1 : 2;
    mmaK = 8 * perElement;
    warpTileM = tileM / kWarpsM;
    warpTileN = tileN / kWarpsN;
    mTiles = warpTileM / kMmaM;
    nTiles = warpTileN / kMmaN;
    if (unit == Unit::TF32)
      return;
    // Halves: the fragments come from shared memory through ldmatrix,
    // whose row addresses must be 16-byte aligned: rows padded by 8 halves
    // (16 bytes), which also puts the 8 rows of each 8 x 8 matrix on
    // distinct banks. An operand whose innermost index is K keeps its tile
    // K-contiguous ([m][k] or [n][k]), so that the copy's consecutive
    // threads write consecutive addresses and ldmatrix reads the rows
    // untransposed; the others stay depth-major and ldmatrix transposes.
    ldmatrix = true;
    pad = 128 / element.getIntOrFloatBitWidth();
  }

  /// Replaces the contraction by its kernel; with `emulate`, by loops on
  /// the host that run the same kernel block by block, each phase between
  /// two barriers for all threads of the block in turn (a test of the
  /// kernel's indexing on the CPU).
  void build(bool emulate) {
    rewriter.setInsertionPoint(c.op);
    // A fill of the output just before the product (a zeroed accumulator)
    // becomes the accumulators' starting value: one kernel fewer. (FMA
    // units only: the tensor cores' fragments load the output.)
    // (Not when the product also reads the filled buffer.)
    auto fill = dyn_cast_or_null<linalg::FillOp>(c.op->getPrevNode());
    Value output = c.op.getDpsInitOperand(0)->get();
    if (unit == Unit::Fma && fill && fill.hasPureBufferSemantics() &&
        fill.getDpsInitOperand(0)->get() == output &&
        fill.getDpsInputOperand(0)->get().getType() == element &&
        c.op.getDpsInputOperand(0)->get() != output &&
        c.op.getDpsInputOperand(1)->get() != output)
      initial = fill.getDpsInputOperand(0)->get();
    else
      fill = nullptr;
    SmallVector<Value> sizes;
    for (Range range : c.op.createLoopRanges(rewriter, loc))
      sizes.push_back(
          getValueOrCreateConstantIndexOp(rewriter, loc, range.size));
    sizeM = sizes[c.m];
    sizeN = sizes[c.n];
    sizeK = totalK = sizes[c.k];
    kBegin = index(0);
    Value one = index(1);
    // At least one block, so that an empty output still launches.
    auto blocks = [&](Value size, int64_t tile) {
      Value count = arith::CeilDivUIOp::create(rewriter, loc, size, index(tile));
      return arith::MaxUIOp::create(rewriter, loc, count, one).getResult();
    };
    Value gridX = blocks(sizeN, tileN), gridY = blocks(sizeM, tileM);
    Value gridZ = c.batch ? arith::MaxUIOp::create(rewriter, loc,
                                                   sizes[*c.batch], one)
                                .getResult()
                          : one;
    if (splits > 1) {
      gridZ = index(splits);
      allocateWorkspace(emulate);
    }
    // Double-buffered tiles where both operands' copies can be cp.async
    // (sm_80 and later).
    stages = asyncCopies && copiesAsync(true) && copiesAsync(false) ? 2 : 1;
    {
      // (Back before the contraction, after the kernel, when done.)
      OpBuilder::InsertionGuard guard(rewriter);
      emulating = emulate;
      if (emulate)
        buildEmulation(gridX, gridY, gridZ);
      else
        buildLaunch(gridX, gridY, gridZ);
    }
    if (splits > 1)
      addSplits(emulate);
    rewriter.eraseOp(c.op);
    if (fill)
      rewriter.eraseOp(fill);
  }

private:
  /// The loop that indexes the operand's innermost dimension.
  unsigned innermostLoop(bool operandA) {
    AffineMap map =
        c.op.getMatchingIndexingMap(c.op.getDpsInputOperand(operandA ? 0 : 1));
    return cast<AffineDimExpr>(map.getResults().back()).getPosition();
  }

  /// Whether the operand's shared tile is K-contiguous ([m][k], [n][k]):
  /// with ldmatrix, for an operand whose innermost index is K (see the
  /// constructor); depth-major ([k][m], [k][n]) otherwise.
  bool kContiguous(bool operandA) {
    return ldmatrix && innermostLoop(operandA) == c.k;
  }

  /// An operand's shared tile: [k][m] ([k][n] for B), or [m][k] ([n][k])
  /// where kContiguous; rows padded by `pad`.
  MemRefType sharedType(bool operandA, Attribute memorySpace) {
    int64_t extent = operandA ? tileM : tileN;
    SmallVector<int64_t, 3> shape = {tileK, extent + pad};
    if (kContiguous(operandA))
      shape = {extent, tileK + pad};
    if (stages > 1)
      shape.insert(shape.begin(), stages);
    return MemRefType::get(shape, element, MemRefLayoutAttrInterface(),
                           memorySpace);
  }

  /// Stage `stage` of a double-buffered shared tile (a 2-d view).
  Value stageOf(Value buffer, Value stage) {
    auto type = cast<MemRefType>(buffer.getType());
    SmallVector<OpFoldResult> offsets = {stage, rewriter.getIndexAttr(0),
                                         rewriter.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes = {rewriter.getIndexAttr(1),
                                       rewriter.getIndexAttr(type.getDimSize(1)),
                                       rewriter.getIndexAttr(type.getDimSize(2))};
    SmallVector<OpFoldResult> strides(3, rewriter.getIndexAttr(1));
    auto viewType = memref::SubViewOp::inferRankReducedResultType(
        type.getShape().drop_front(), type, offsets, sizes, strides);
    return memref::SubViewOp::create(rewriter, loc, cast<MemRefType>(viewType),
                                     buffer, offsets, sizes, strides);
  }

  /// Sets the thread's ids from `tid` = tx + 16 ty.
  void setThread(Value x, Value y) {
    tx = x;
    ty = y;
    tid = arith::AddIOp::create(
        rewriter, loc, tx,
        arith::MulIOp::create(rewriter, loc, ty, index(kThreads)));
    if (unit == Unit::Fma)
      return;
    // Warps are formed from consecutive linear ids; in PTX's terms a lane
    // is thread `quad` of group `group` (lane = 4 group + quad).
    Value warp = arith::DivUIOp::create(rewriter, loc, tid, index(32));
    lane = arith::RemUIOp::create(rewriter, loc, tid, index(32));
    warpRow = arith::MulIOp::create(
        rewriter, loc,
        arith::DivUIOp::create(rewriter, loc, warp, index(kWarpsN)),
        index(warpTileM));
    warpCol = arith::MulIOp::create(
        rewriter, loc,
        arith::RemUIOp::create(rewriter, loc, warp, index(kWarpsN)),
        index(warpTileN));
    group = arith::DivUIOp::create(rewriter, loc, lane, index(4));
    quad = arith::RemUIOp::create(rewriter, loc, lane, index(4));
  }

  void setBlock(Value x, Value y, Value z) {
    rowBase = arith::MulIOp::create(rewriter, loc, y, index(tileM));
    colBase = arith::MulIOp::create(rewriter, loc, x, index(tileN));
    if (c.batch)
      batchIndex = z;
    if (splits > 1) {
      // The block's part of the depth: [z chunk, min(K, (z + 1) chunk)).
      split = z;
      kBegin = arith::MulIOp::create(rewriter, loc, z, index(chunk));
      sizeK = arith::MinUIOp::create(
          rewriter, loc, totalK,
          arith::AddIOp::create(rewriter, loc, kBegin, index(chunk)));
    }
  }

  //===--------------------------------------------------------------===//
  // Split K
  //===--------------------------------------------------------------===//

  /// The partial products, [splits, M, N] (static: splits are chosen only
  /// for extents known at compile time); GPU memory on a GPU.
  void allocateWorkspace(bool emulate) {
    auto type = MemRefType::get(
        {splits, *getConstantIntValue(sizeM), *getConstantIntValue(sizeN)},
        accumulator);
    if (emulate) {
      workspace = memref::AllocOp::create(rewriter, loc, type);
      return;
    }
    auto tokenType = gpu::AsyncTokenType::get(rewriter.getContext());
    workspace =
        kiln::createWaitedFor(rewriter, loc, [&](Value start) {
          return gpu::AllocOp::create(rewriter, loc, type, tokenType,
                                      ValueRange{start}, ValueRange{},
                                      ValueRange{}, /*hostShared=*/false)
              .getOperation();
        })->getResult(0);
  }

  /// The second kernel: each output is its initial value plus the splits'
  /// partial sums, in split order (one thread per output, 256 per block);
  /// then the workspace is freed.
  void addSplits(bool emulate) {
    int64_t rows = *getConstantIntValue(sizeM);
    int64_t cols = *getConstantIntValue(sizeN);
    OpOperand *out = c.op.getDpsInitOperand(0);
    auto body = [&](Value r, Value q) {
      SmallVector<Value> at = indices(out, loopValues(r, q, index(0)));
      Value sum = widen(
          initial ? initial
                  : memref::LoadOp::create(rewriter, loc, out->get(), at)
                        .getResult());
      for (int64_t z = 0; z < splits; ++z) {
        Value part = memref::LoadOp::create(rewriter, loc, workspace,
                                            ValueRange{index(z), r, q});
        IRMapping mapping;
        mapping.map(c.op.getBlock()->getArgument(2), sum);
        mapping.map(c.multiply->getResult(0), part);
        sum = cloneInAccumulator(rewriter, *c.add, mapping);
      }
      memref::StoreOp::create(rewriter, loc, narrow(sum), out->get(), at);
    };
    if (emulate) {
      loop(index(0), index(rows), index(1), [&](Value r) {
        loop(index(0), index(cols), index(1), [&](Value q) { body(r, q); });
      });
      memref::DeallocOp::create(rewriter, loc, workspace);
      return;
    }
    {
      OpBuilder::InsertionGuard guard(rewriter);
      Value i = kiln::createFlatLaunch(rewriter, loc, index(rows * cols), 256);
      scf::IfOp::create(
          rewriter, loc, inRange(i, index(rows * cols)),
          [&](OpBuilder &b, Location l) {
            OpBuilder::InsertionGuard inner(rewriter);
            rewriter.setInsertionPoint(b.getInsertionBlock(),
                                       b.getInsertionPoint());
            body(arith::DivUIOp::create(rewriter, loc, i, index(cols)),
                 arith::RemUIOp::create(rewriter, loc, i, index(cols)));
            scf::YieldOp::create(rewriter, loc);
          });
    }
    auto tokenType = gpu::AsyncTokenType::get(rewriter.getContext());
    kiln::createWaitedFor(rewriter, loc, [&](Value start) {
      return gpu::DeallocOp::create(rewriter, loc, tokenType,
                                    ValueRange{start}, workspace)
          .getOperation();
    });
  }

  void buildLaunch(Value gridX, Value gridY, Value gridZ) {
    Attribute workgroup = gpu::AddressSpaceAttr::get(
        rewriter.getContext(), gpu::AddressSpace::Workgroup);
    Value threads = index(kThreads);
    auto launch = gpu::LaunchOp::create(
        rewriter, loc, gridX, gridY, gridZ, threads, threads, index(1),
        /*dynamicSharedMemorySize=*/nullptr, /*asyncTokenType=*/nullptr,
        /*asyncDependencies=*/ValueRange{},
        /*workgroupAttributions=*/
        TypeRange{sharedType(/*operandA=*/true, workgroup),
                  sharedType(/*operandA=*/false, workgroup)});
    Block &body = launch.getBody().front();
    rewriter.setInsertionPointToEnd(&body);
    auto terminator = gpu::TerminatorOp::create(rewriter, loc);
    rewriter.setInsertionPoint(terminator);
    // Inside the kernel, constants are made here (the values of the host
    // code around the launch become kernel arguments).
    setBlock(launch.getBlockIds().x, launch.getBlockIds().y,
             launch.getBlockIds().z);
    setThread(launch.getThreadIds().x, launch.getThreadIds().y);
    sharedA = launch.getWorkgroupAttributions()[0];
    sharedB = launch.getWorkgroupAttributions()[1];
    SmallVector<Value> acc = loadOutputs();
    if (stages > 1) {
      storeOutputs(pipelinedLoop(acc));
      return;
    }
    storeOutputs(kLoop(acc, [&](Value k0, ValueRange carried) {
      loadTile(/*operandA=*/true, k0, sharedA);
      loadTile(/*operandA=*/false, k0, sharedB);
      gpu::BarrierOp::create(rewriter, loc);
      SmallVector<Value> next = computeTile(k0, carried);
      gpu::BarrierOp::create(rewriter, loc);
      return next;
    }));
  }

  /// The kernel's K loop, from kBegin to sizeK by tileK, carrying the
  /// accumulators: `body(k0, carried)` builds a step with the rewriter
  /// and returns the next accumulators.
  template <typename Body> ValueRange kLoop(ValueRange acc, Body &&body) {
    auto loop = scf::ForOp::create(
        rewriter, loc, kBegin, sizeK, index(tileK), acc,
        [&](OpBuilder &b, Location, Value k0, ValueRange carried) {
          OpBuilder::InsertionGuard guard(rewriter);
          rewriter.setInsertionPoint(b.getInsertionBlock(),
                                     b.getInsertionPoint());
          SmallVector<Value> next = body(k0, carried);
          scf::YieldOp::create(rewriter, loc, next);
        });
    return loop.getResults();
  }

  /// The stage the K step at depth `k0` multiplies, and the other one
  /// (which the next step's copies fill meanwhile).
  std::pair<Value, Value> stagesAt(Value k0) {
    Value stage = rem(div(sub(k0, kBegin), tileK), 2);
    return {stage, sub(index(1), stage)};
  }

  /// The K loop with double-buffered tiles: the copy of the next K step's
  /// tiles (cp.async, into the other stage) runs while this step's tiles
  /// are multiplied. Before the loop, step 0's copy; in step i, the copy
  /// of step i + 1 (zeros past the depth: no special last step), a wait
  /// for all but that newest group of copies (step i's tiles are in this
  /// thread's part), a barrier (and in every thread's), the products on
  /// stage i % 2, a barrier (no thread starts step i + 1's copy, into the
  /// stage just read, before all are done with it). After the loop, a
  /// wait for every copy: the last step's (zeros past the depth) are still
  /// in flight, and with an empty depth step 0's.
  ValueRange pipelinedLoop(ValueRange acc) {
    Value buffers[2] = {sharedA, sharedB};
    auto copyStage = [&](Value stage, Value k0) {
      SmallVector<Value> tokens;
      for (bool operandA : {true, false})
        loadTile(operandA, k0, stageOf(buffers[operandA ? 0 : 1], stage),
                 &tokens);
      return nvgpu::DeviceAsyncCreateGroupOp::create(
                 rewriter, loc,
                 nvgpu::DeviceAsyncTokenType::get(rewriter.getContext()),
                 tokens)
          .getResult();
    };
    Value first = copyStage(index(0), kBegin);
    ValueRange results = kLoop(acc, [&](Value k0, ValueRange carried) {
      auto [stage, other] = stagesAt(k0);
      Value group = copyStage(other, add(k0, tileK));
      nvgpu::DeviceAsyncWaitOp::create(rewriter, loc, group,
                                       rewriter.getI32IntegerAttr(1));
      gpu::BarrierOp::create(rewriter, loc);
      sharedA = stageOf(buffers[0], stage);
      sharedB = stageOf(buffers[1], stage);
      SmallVector<Value> next = computeTile(k0, carried);
      gpu::BarrierOp::create(rewriter, loc);
      return next;
    });
    // No copy outlives the kernel (the last step's group, or step 0's when
    // the depth is empty, was never waited for).
    nvgpu::DeviceAsyncWaitOp::create(rewriter, loc, first,
                                     rewriter.getI32IntegerAttr(0));
    return results;
  }

  /// An scf.for from `lower` to `upper` by `step` whose body `body(iv)`
  /// builds with the rewriter; the rewriter ends up after the loop.
  template <typename Body>
  void loop(Value lower, Value upper, Value step, Body &&body) {
    auto forOp = scf::ForOp::create(rewriter, loc, lower, upper, step);
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(forOp.getBody()->getTerminator());
    body(forOp.getInductionVar());
  }

  /// Every thread of the block in turn (tid 0 .. 255).
  template <typename Body> void eachThread(Body &&body) {
    loop(index(0), index(kThreads * kThreads), index(1), [&](Value t) {
      setThread(arith::RemUIOp::create(rewriter, loc, t, index(kThreads)),
                arith::DivUIOp::create(rewriter, loc, t, index(kThreads)));
      body();
    });
  }

  void buildEmulation(Value gridX, Value gridY, Value gridZ) {
    sharedA = memref::AllocaOp::create(rewriter, loc,
                                       sharedType(true, Attribute()));
    sharedB = memref::AllocaOp::create(rewriter, loc,
                                       sharedType(false, Attribute()));
    Value buffers[2] = {sharedA, sharedB};
    // The threads' registers: accumulators by thread (and with tensor
    // cores, the operand fragments by thread).
    int64_t count = accumulators();
    registers = memref::AllocaOp::create(
        rewriter, loc,
        MemRefType::get({kThreads * kThreads, count}, accumulator));
    if (unit != Unit::Fma) {
      fragmentsA = memref::AllocaOp::create(
          rewriter, loc,
          MemRefType::get({kThreads * kThreads, mTiles * 4 * perElement},
                          element));
      fragmentsB = memref::AllocaOp::create(
          rewriter, loc,
          MemRefType::get({kThreads * kThreads, nTiles * 2 * perElement},
                          element));
      if (ldmatrix) // (each thread's row addresses, by load)
        addresses = memref::AllocaOp::create(
            rewriter, loc,
            MemRefType::get({kThreads * kThreads, mTiles + nTiles / 2, 2},
                            rewriter.getIndexType()));
    }
    auto save = [&](ValueRange acc) {
      for (int64_t q = 0; q < count; ++q)
        memref::StoreOp::create(rewriter, loc, acc[q], registers,
                                ValueRange{tid, index(q)});
    };
    auto restore = [&] {
      SmallVector<Value> acc;
      for (int64_t q = 0; q < count; ++q)
        acc.push_back(memref::LoadOp::create(rewriter, loc, registers,
                                             ValueRange{tid, index(q)}));
      return acc;
    };
    Value zero = index(0), one = index(1);
    loop(zero, gridZ, one, [&](Value z) {
      loop(zero, gridY, one, [&](Value y) {
        loop(zero, gridX, one, [&](Value x) {
          setBlock(x, y, z);
          eachThread([&] { save(loadOutputs()); });
          // (Double-buffered: step 0's tiles into stage 0, then in step i
          // step i + 1's into the other stage before step i's products.)
          if (stages > 1)
            eachThread([&] {
              for (bool operandA : {true, false})
                loadTile(operandA, kBegin,
                         stageOf(buffers[operandA ? 0 : 1], index(0)));
            });
          loop(kBegin, sizeK, index(tileK), [&](Value k0) {
            if (stages > 1) {
              Value stage, other;
              std::tie(stage, other) = stagesAt(k0);
              eachThread([&] {
                for (bool operandA : {true, false})
                  loadTile(operandA, add(k0, tileK),
                           stageOf(buffers[operandA ? 0 : 1], other));
              });
              sharedA = stageOf(buffers[0], stage);
              sharedB = stageOf(buffers[1], stage);
            } else {
              eachThread([&] {
                loadTile(/*operandA=*/true, k0, sharedA);
                loadTile(/*operandA=*/false, k0, sharedB);
              });
            }
            // (barrier)
            if (unit == Unit::Fma)
              eachThread([&] { save(computeTile(k0, restore())); });
            else
              emulateMmaTile();
            // (barrier)
          });
          eachThread([&] { storeOutputs(restore()); });
        });
      });
    });
  }

  Value index(int64_t v) {
    return arith::ConstantIndexOp::create(rewriter, loc, v);
  }

  /// The indices into `operand` for the loop values `ivs` (by loop dim).
  SmallVector<Value> indices(OpOperand *operand, ArrayRef<Value> ivs) {
    AffineMap map = c.op.getMatchingIndexingMap(operand);
    SmallVector<Value> out;
    for (AffineExpr e : map.getResults())
      out.push_back(ivs[cast<AffineDimExpr>(e).getPosition()]);
    return out;
  }

  /// Loop values for row `row`, column `col`, depth `depth` of the product.
  SmallVector<Value> loopValues(Value row, Value col, Value depth) {
    SmallVector<Value> ivs(c.op.getNumLoops());
    ivs[c.m] = row;
    ivs[c.n] = col;
    ivs[c.k] = depth;
    if (c.batch)
      ivs[*c.batch] = batchIndex;
    return ivs;
  }

  Value zeroAccumulator() {
    return arith::ConstantOp::create(rewriter, loc,
                                     rewriter.getZeroAttr(accumulator));
  }

  /// An element (or a vector of them) in the accumulator's type, and back:
  /// f16 and bf16 are added up in f32 (the FMA tiles as the tensor cores),
  /// rounded once when stored.
  Value widen(OpBuilder &b, Location l, Value value) {
    if (element == accumulator)
      return value;
    Type type = accumulator;
    if (auto vector = dyn_cast<VectorType>(value.getType()))
      type = vector.clone(accumulator);
    return arith::ExtFOp::create(b, l, type, value);
  }
  Value widen(Value value) { return widen(rewriter, loc, value); }
  Value narrow(Value value) {
    if (element == accumulator)
      return value;
    return arith::TruncFOp::create(rewriter, loc, element, value);
  }

  /// A clone of the body's multiply or add (its fastmath flags kept) on
  /// the accumulator's type.
  Value cloneInAccumulator(OpBuilder &b, Operation &op, IRMapping &mapping) {
    Operation *clone = b.clone(op, mapping);
    clone->getResult(0).setType(accumulator);
    return clone->getResult(0);
  }

  Value inRange(Value i, Value size) {
    return arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ult, i,
                                 size);
  }

  /// `memref[at]` if `condition`, else zero, loaded only if `condition`;
  /// with `vector`, a vector of elements from `at` (claiming `alignment`).
  Value guardedLoad(Value condition, Value memref, ValueRange at,
                    VectorType vector = {}, llvm::MaybeAlign alignment = {}) {
    auto guard = scf::IfOp::create(
        rewriter, loc, condition,
        [&](OpBuilder &b, Location l) {
          Value loaded =
              vector ? vector::LoadOp::create(b, l, vector, memref, at,
                                              /*nontemporal=*/false, alignment)
                           .getResult()
                     : memref::LoadOp::create(b, l, memref, at).getResult();
          scf::YieldOp::create(b, l, loaded);
        },
        [&](OpBuilder &b, Location l) {
          Type type = vector ? Type(vector) : element;
          scf::YieldOp::create(
              b, l,
              arith::ConstantOp::create(b, l, b.getZeroAttr(type)).getResult());
        });
    return guard.getResult(0);
  }

  /// Where in the tile the thread's i-th row (with `t` = ty) or column
  /// (`t` = tx) lies: t + 16 i, so that a half-warp touches 16 neighbours;
  /// with vectorShared, groups of four: 4 t + 64 (i / 4) + i % 4, so that
  /// each group is one 16-byte load from the shared tile per depth step
  /// (four times fewer shared loads per multiply-add).
  Value sharedIndex(OpBuilder &b, Location l, Value t, int64_t i) {
    auto constant = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, l, v);
    };
    if (!vectorShared)
      return arith::AddIOp::create(b, l, t, constant(kThreads * i));
    Value group = arith::MulIOp::create(b, l, t, constant(4));
    return arith::AddIOp::create(
        b, l, group, constant(kThreads * 4 * (i / 4) + i % 4));
  }

  /// The thread's output rows and columns.
  Value row(int64_t i) {
    return arith::AddIOp::create(rewriter, loc, rowBase,
                                 sharedIndex(rewriter, loc, ty, i));
  }
  Value col(int64_t j) {
    return arith::AddIOp::create(rewriter, loc, colBase,
                                 sharedIndex(rewriter, loc, tx, j));
  }

  /// The accumulators start from the output's values (the contraction adds
  /// to its output); outside the output, zero.
  SmallVector<Value> loadOutputs() {
    if (unit != Unit::Fma)
      return loadMmaOutputs();
    OpOperand *out = c.op.getDpsInitOperand(0);
    SmallVector<Value> acc;
    // A split's partial sum starts from zero (the output's value is added
    // once, by addSplits); a folded fill's value needs no load.
    if (splits > 1)
      return SmallVector<Value>(perThread * perThread, zeroAccumulator());
    if (initial)
      return SmallVector<Value>(perThread * perThread, widen(initial));
    for (int64_t i = 0; i < perThread; ++i)
      for (int64_t j = 0; j < perThread; ++j) {
        Value r = row(i), q = col(j);
        Value inside = arith::AndIOp::create(rewriter, loc, inRange(r, sizeM),
                                             inRange(q, sizeN));
        acc.push_back(widen(guardedLoad(
            inside, out->get(), indices(out, loopValues(r, q, index(0))))));
      }
    return acc;
  }

  void storeOutputs(ValueRange acc) {
    if (unit != Unit::Fma)
      return storeMmaOutputs(acc);
    OpOperand *out = c.op.getDpsInitOperand(0);
    for (int64_t i = 0; i < perThread; ++i)
      for (int64_t j = 0; j < perThread; ++j) {
        Value r = row(i), q = col(j);
        Value inside = arith::AndIOp::create(rewriter, loc, inRange(r, sizeM),
                                             inRange(q, sizeN));
        // (A split's partial sum stays in the accumulator's type.)
        Value value = acc[i * perThread + j];
        if (splits == 1)
          value = narrow(value);
        scf::IfOp::create(rewriter, loc, inside, [&](OpBuilder &b, Location l) {
          if (splits > 1)
            memref::StoreOp::create(b, l, value, workspace,
                                    ValueRange{split, r, q});
          else
            memref::StoreOp::create(b, l, value, out->get(),
                                    indices(out, loopValues(r, q, index(0))));
          scf::YieldOp::create(b, l);
        });
      }
  }

  /// Elements per copy of the operand's tile from global memory: a
  /// 16-byte vector (8 halves, 4 f32, 2 f64) when the copy's fast index
  /// (the operand's innermost) walks contiguous memory whose rows are a
  /// whole number of vectors, so every vector of the tile starts aligned
  /// (tile origins are multiples of the vector) and lies wholly inside or
  /// wholly outside the operand; the buffer must start aligned (an entry's
  /// argument or an allocation, no view with an offset), and the tile
  /// must split into the block's threads by vectors. 1 otherwise.
  int64_t copyWidth(bool operandA) {
    OpOperand *operand = c.op.getDpsInputOperand(operandA ? 0 : 1);
    auto type = cast<MemRefType>(operand->get().getType());
    unsigned innermost = innermostLoop(operandA);
    if (innermost != c.k && innermost != (operandA ? c.m : c.n))
      return 1;
    unsigned bits = element.isIntOrFloat() ? element.getIntOrFloatBitWidth() : 0;
    if (!llvm::is_contained({8u, 16u, 32u, 64u}, bits))
      return 1;
    int64_t width = 128 / bits;
    int64_t row = type.getShape().back();
    int64_t fastExtent = innermost == c.k ? tileK : tileM;
    if (!type.getLayout().isIdentity() || ShapedType::isDynamic(row) ||
        row % width != 0 || fastExtent % width != 0 ||
        (tileK * tileM) % (kThreads * kThreads * width) != 0 ||
        !kiln::startsAligned(operand->get()))
      return 1;
    return width;
  }

  /// Whether the operand's copies store whole 16-byte vectors into the
  /// shared tile: vector copies (copyWidth) along the index the shared
  /// rows run along, rows 16-byte aligned.
  bool storesVectors(bool operandA) {
    bool depthFastest = innermostLoop(operandA) == c.k;
    bool inner = kContiguous(operandA);
    int64_t sharedRow = inner ? tileK + pad : (operandA ? tileM : tileN) + pad;
    return copyWidth(operandA) > 1 && inner == depthFastest &&
           (sharedRow * element.getIntOrFloatBitWidth() / 8) % 16 == 0;
  }

  /// Whether the operand's tile can be copied with cp.async, which moves
  /// 4, 8 or 16 bytes from global to shared memory without the thread
  /// waiting: 16-byte vectors stored as they are, or elements of 4 or 8
  /// bytes (not TF32, rounded on the way in).
  bool copiesAsync(bool operandA) {
    if (unit == Unit::TF32 || !element.isIntOrFloat())
      return false;
    unsigned bits = element.getIntOrFloatBitWidth();
    return storesVectors(operandA) || bits == 32 || bits == 64;
  }

  /// Copies the operand's tile at depth `k0` into shared memory, zero
  /// outside the operand: A[rowBase : +tileM, k0 : +tileK] into
  /// sharedA[k][m], B[k0 : +tileK, colBase : +tileN] into sharedB[k][n]
  /// (sharedA[m][k], sharedB[n][k] where kContiguous; several elements
  /// per thread). Consecutive threads take consecutive elements (vectors,
  /// see copyWidth) of the operand's innermost index (coalesced loads); the
  /// padded shared rows keep their stores free of bank conflicts either
  /// way. A vector goes to shared memory as one store where the shared
  /// rows run along the same index (and are 16-byte aligned), else element
  /// by element. With `tokens`, by cp.async instead (copiesAsync; out of
  /// the operand: no bytes read, zeros written, from a clamped address),
  /// the copies' tokens added to `tokens`.
  void loadTile(bool operandA, Value k0, Value shared,
                SmallVectorImpl<Value> *tokens = nullptr) {
    OpOperand *operand = c.op.getDpsInputOperand(operandA ? 0 : 1);
    unsigned outer = operandA ? c.m : c.n; // the tile's M or N dimension
    int64_t extent = operandA ? tileM : tileN;
    bool depthFastest = innermostLoop(operandA) == c.k;
    bool inner = kContiguous(operandA);
    Value base = operandA ? rowBase : colBase;
    Value size = operandA ? sizeM : sizeN;
    int64_t width = copyWidth(operandA);
    bool vectorStore = storesVectors(operandA);
    bool async = tokens && !emulating;
    int64_t fastExtent = depthFastest ? tileK : extent;
    int64_t loads = tileK * tileM / (kThreads * kThreads * width);
    auto vectorType = VectorType::get({width}, element);
    llvm::MaybeAlign alignment;
    if (!emulating) // (global vectors and shared rows are 16-byte aligned)
      alignment = llvm::Align(16);
    for (int64_t r = 0; r < loads; ++r) {
      Value linear = arith::AddIOp::create(rewriter, loc, tid,
                                           index(r * kThreads * kThreads));
      Value fast = mul(rem(linear, fastExtent / width), width);
      Value slow = div(linear, fastExtent / width);
      Value depth = depthFastest ? fast : slow; // 0 .. tileK
      Value across = depthFastest ? slow : fast; // 0 .. extent
      Value globalDepth = arith::AddIOp::create(rewriter, loc, k0, depth);
      Value globalAcross = arith::AddIOp::create(rewriter, loc, base, across);
      Value inside = arith::AndIOp::create(rewriter, loc,
                                           inRange(globalDepth, sizeK),
                                           inRange(globalAcross, size));
      SmallVector<Value> ivs(c.op.getNumLoops());
      ivs[outer] = globalAcross;
      ivs[c.k] = globalDepth;
      if (c.batch)
        ivs[*c.batch] = batchIndex;
      SmallVector<Value> at = indices(operand, ivs);
      auto sharedAt = [&](Value d, Value a) {
        return inner ? SmallVector<Value>{a, d} : SmallVector<Value>{d, a};
      };
      // Where element q of the thread's vector goes in the shared tile.
      auto sharedElement = [&](int64_t q) {
        return depthFastest ? sharedAt(add(depth, q), across)
                            : sharedAt(depth, add(across, q));
      };
      if (async) {
        // Whole vectors, or element by element; outside the operand no
        // byte is read (the source elements count is 0) and the address
        // is the operand's first element.
        Value zero = index(0);
        auto copy = [&](ValueRange from, ValueRange to, int64_t count) {
          SmallVector<Value> clamped;
          for (Value i : from)
            clamped.push_back(
                arith::SelectOp::create(rewriter, loc, inside, i, zero));
          Value read = arith::SelectOp::create(rewriter, loc, inside,
                                               index(count), zero);
          tokens->push_back(nvgpu::DeviceAsyncCopyOp::create(
              rewriter, loc,
              nvgpu::DeviceAsyncTokenType::get(rewriter.getContext()),
              shared, to, operand->get(), clamped,
              rewriter.getIndexAttr(count), read,
              /*bypassL1=*/count * element.getIntOrFloatBitWidth() == 128
                  ? rewriter.getUnitAttr()
                  : UnitAttr()));
        };
        if (vectorStore) {
          copy(at, sharedAt(depth, across), width);
          continue;
        }
        for (int64_t q = 0; q < width; ++q) {
          SmallVector<Value> point = ivs;
          unsigned fastDim = depthFastest ? c.k : outer;
          if (q > 0)
            point[fastDim] = add(point[fastDim], q);
          copy(indices(operand, point), sharedElement(q), 1);
        }
        continue;
      }
      if (width == 1) {
        Value value = guardedLoad(inside, operand->get(), at);
        if (unit == Unit::TF32)
          value = roundToTf32(value);
        memref::StoreOp::create(rewriter, loc, value, shared,
                                sharedAt(depth, across));
        continue;
      }
      Value loaded =
          guardedLoad(inside, operand->get(), at, vectorType, alignment);
      if (vectorStore && unit != Unit::TF32) {
        vector::StoreOp::create(rewriter, loc, loaded, shared,
                                sharedAt(depth, across),
                                /*nontemporal=*/false, alignment);
        continue;
      }
      for (int64_t q = 0; q < width; ++q) {
        Value value = vector::ExtractOp::create(rewriter, loc, loaded, q);
        if (unit == Unit::TF32)
          value = roundToTf32(value);
        memref::StoreOp::create(rewriter, loc, value, shared,
                                sharedElement(q));
      }
    }
  }

  /// acc + a * b with the contraction's own multiply and add, on the
  /// accumulator's type (x and y widened already).
  Value multiplyAdd(OpBuilder &b, Value acc, Value x, Value y) {
    Block *body = c.op.getBlock();
    IRMapping mapping;
    mapping.map(body->getArgument(0), x);
    mapping.map(body->getArgument(1), y);
    mapping.map(body->getArgument(2), acc);
    cloneInAccumulator(b, *c.multiply, mapping);
    return cloneInAccumulator(b, *c.add, mapping);
  }

  /// One depth step `kk` of the thread's outer product.
  SmallVector<Value> step(OpBuilder &b, Location l, Value kk,
                          ArrayRef<Value> acc) {
    SmallVector<Value> a, bs;
    if (vectorShared) {
      // One 4-element vector per group of the thread's rows (columns).
      auto vectorType = VectorType::get({4}, element);
      llvm::MaybeAlign alignment;
      if (!emulating) // (shared buffers are 16-byte aligned on the GPU)
        alignment = llvm::Align(
            std::min<int64_t>(16, 4 * element.getIntOrFloatBitWidth() / 8));
      auto loadGroups = [&](Value shared, Value t, SmallVector<Value> &out) {
        for (int64_t g = 0; g < perThread; g += 4) {
          Value v = widen(b, l,
                          vector::LoadOp::create(
                              b, l, vectorType, shared,
                              ValueRange{kk, sharedIndex(b, l, t, g)},
                              /*nontemporal=*/false, alignment));
          for (int64_t q = 0; q < 4; ++q)
            out.push_back(vector::ExtractOp::create(b, l, v, q));
        }
      };
      loadGroups(sharedA, ty, a);
      loadGroups(sharedB, tx, bs);
    } else {
      for (int64_t i = 0; i < perThread; ++i) {
        a.push_back(widen(b, l, memref::LoadOp::create(
            b, l, sharedA, ValueRange{kk, sharedIndex(b, l, ty, i)})));
        bs.push_back(widen(b, l, memref::LoadOp::create(
            b, l, sharedB, ValueRange{kk, sharedIndex(b, l, tx, i)})));
      }
    }
    SmallVector<Value> next;
    for (int64_t i = 0; i < perThread; ++i)
      for (int64_t j = 0; j < perThread; ++j)
        next.push_back(multiplyAdd(b, acc[i * perThread + j], a[i], bs[j]));
    return next;
  }

  /// The tile's depth steps: all tileK of them unrolled when the tile is
  /// whole; a loop over the remaining depth for the last, partial tile
  /// (the zeros loaded beyond K are not added, so every sum has exactly
  /// the terms of the untiled product, in the same order).
  SmallVector<Value> computeTile(Value k0, ValueRange carried) {
    if (unit != Unit::Fma)
      return computeMmaTile(carried);
    Value left = arith::SubIOp::create(rewriter, loc, sizeK, k0);
    Value whole = arith::CmpIOp::create(rewriter, loc,
                                        arith::CmpIPredicate::uge, left,
                                        index(tileK));
    TypeRange types = carried.getTypes();
    auto choice = scf::IfOp::create(
        rewriter, loc, types, whole, /*addThenBlock=*/true,
        /*addElseBlock=*/true);
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(choice.thenBlock());
      SmallVector<Value> acc(carried.begin(), carried.end());
      for (int64_t kk = 0; kk < tileK; ++kk)
        acc = step(rewriter, loc, index(kk), acc);
      scf::YieldOp::create(rewriter, loc, acc);
      rewriter.setInsertionPointToStart(choice.elseBlock());
      auto partial = scf::ForOp::create(
          rewriter, loc, index(0), left, index(1), carried,
          [&](OpBuilder &b, Location l, Value kk, ValueRange acc) {
            SmallVector<Value> in(acc.begin(), acc.end());
            scf::YieldOp::create(b, l, step(b, l, kk, in));
          });
      scf::YieldOp::create(rewriter, loc, partial.getResults());
    }
    return SmallVector<Value>(choice.getResults());
  }

  //===--------------------------------------------------------------===//
  // Tensor cores
  //===--------------------------------------------------------------===//

  int64_t accumulators() const {
    return unit == Unit::Fma ? perThread * perThread
                             : mTiles * nTiles * 4;
  }

  Value add(Value a, Value b) {
    return arith::AddIOp::create(rewriter, loc, a, b);
  }
  Value add(Value a, int64_t b) { return add(a, index(b)); }
  Value sub(Value a, Value b) {
    return arith::SubIOp::create(rewriter, loc, a, b);
  }
  Value mul(Value a, int64_t b) {
    return arith::MulIOp::create(rewriter, loc, a, index(b));
  }
  Value div(Value a, int64_t b) {
    return arith::DivUIOp::create(rewriter, loc, a, index(b));
  }
  Value rem(Value a, int64_t b) {
    return arith::RemUIOp::create(rewriter, loc, a, index(b));
  }

  /// The output row and column of accumulator `q` (0 .. 3) of the
  /// thread's mma tile (mi, ni): PTX's layout of the f32 C and D
  /// fragments, row group + 8 (q / 2), column 2 quad + q % 2.
  std::pair<Value, Value> mmaOutput(int64_t mi, int64_t ni, int64_t q) {
    Value r = add(add(rowBase, warpRow), add(group, mi * kMmaM + 8 * (q / 2)));
    Value col = add(add(colBase, warpCol), add(mul(quad, 2), ni * kMmaN + q % 2));
    return {r, col};
  }

  /// Calls `body(slot, inside, at)` for each output the thread holds: its
  /// accumulator's index, whether it lies inside the result, and its
  /// indices in the output operand.
  template <typename Body> void eachMmaOutput(Body &&body) {
    OpOperand *out = c.op.getDpsInitOperand(0);
    for (int64_t mi = 0; mi < mTiles; ++mi)
      for (int64_t ni = 0; ni < nTiles; ++ni)
        for (int64_t q = 0; q < 4; ++q) {
          Value r, col;
          std::tie(r, col) = mmaOutput(mi, ni, q);
          Value inside = arith::AndIOp::create(
              rewriter, loc, inRange(r, sizeM), inRange(col, sizeN));
          body((mi * nTiles + ni) * 4 + q, inside,
               indices(out, loopValues(r, col, index(0))));
        }
  }

  SmallVector<Value> loadMmaOutputs() {
    Value out = c.op.getDpsInitOperand(0)->get();
    SmallVector<Value> acc;
    eachMmaOutput([&](int64_t, Value inside, ValueRange at) {
      acc.push_back(widen(guardedLoad(inside, out, at)));
    });
    return acc;
  }

  void storeMmaOutputs(ValueRange acc) {
    Value out = c.op.getDpsInitOperand(0)->get();
    eachMmaOutput([&](int64_t slot, Value inside, ValueRange at) {
      Value value = narrow(acc[slot]);
      scf::IfOp::create(rewriter, loc, inside, [&](OpBuilder &b, Location l) {
        memref::StoreOp::create(b, l, value, out, at);
        scf::YieldOp::create(b, l);
      });
    });
  }

  /// An f32 rounded to TF32 (10 bits of mantissa, to nearest, ties away
  /// from zero, as cvt.rna.tf32.f32 does); infinities and NaNs unchanged.
  Value roundToTf32(Value value) {
    Type i32 = rewriter.getI32Type();
    auto constant = [&](uint32_t v) {
      return arith::ConstantOp::create(
          rewriter, loc, rewriter.getI32IntegerAttr(static_cast<int32_t>(v)));
    };
    Value bits = arith::BitcastOp::create(rewriter, loc, i32, value);
    Value rounded = arith::AndIOp::create(
        rewriter, loc,
        arith::AddIOp::create(rewriter, loc, bits, constant(0x1000)),
        constant(0xFFFFE000u));
    Value exponent =
        arith::AndIOp::create(rewriter, loc, bits, constant(0x7F800000u));
    Value finite = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ne,
                                         exponent, constant(0x7F800000u));
    Value result =
        arith::SelectOp::create(rewriter, loc, finite, rounded, bits);
    return arith::BitcastOp::create(rewriter, loc, value.getType(), result);
  }

  /// The thread's part of the A fragment of mma tile row `mi` at K step
  /// `ks`, in register order (register `reg`, element `j` of it): PTX's
  /// layout for row-major A, row group + 8 (reg % 2), column
  /// E quad + j + 4 E (reg / 2) with E elements per 32-bit register.
  /// (TF32 only: halves take theirs with ldmatrix, from tiles that may be
  /// K-contiguous; these read the depth-major [k][m] and [k][n].)
  SmallVector<Value> fragmentA(int64_t mi, int64_t ks) {
    SmallVector<Value> values;
    for (int64_t reg = 0; reg < 4; ++reg)
      for (int64_t j = 0; j < perElement; ++j) {
        Value m = add(warpRow, add(group, mi * kMmaM + 8 * (reg % 2)));
        Value k = add(mul(quad, perElement),
                      ks * mmaK + j + 4 * perElement * (reg / 2));
        values.push_back(
            memref::LoadOp::create(rewriter, loc, sharedA, ValueRange{k, m}));
      }
    return values;
  }

  /// B's fragment of mma tile column `ni` (column-major B): column group,
  /// row E quad + j + 4 E reg.
  SmallVector<Value> fragmentB(int64_t ni, int64_t ks) {
    SmallVector<Value> values;
    for (int64_t reg = 0; reg < 2; ++reg)
      for (int64_t j = 0; j < perElement; ++j) {
        Value n = add(warpCol, add(group, ni * kMmaN));
        Value k = add(mul(quad, perElement),
                      ks * mmaK + j + 4 * perElement * reg);
        values.push_back(
            memref::LoadOp::create(rewriter, loc, sharedB, ValueRange{k, n}));
      }
    return values;
  }

  //===--------------------------------------------------------------===//
  // ldmatrix
  //===--------------------------------------------------------------===//
  //
  // With halves, each K step of mmaK (16) reads the fragments with
  // `ldmatrix.x4`: four 8 x 8 matrices of 16-bit elements, lane l giving
  // the address of row l % 8 of matrix l / 8 (8 contiguous elements, 16
  // bytes), register i of lane t receiving two elements of matrix i: row
  // t / 4, columns 2 (t % 4) and 2 (t % 4) + 1; with `.trans`, column
  // t / 4 of rows 2 (t % 4) and 2 (t % 4) + 1. One load gives an mma
  // tile's A fragment (matrices: rows 0-7 and 8-15 of the tile at depth
  // 0-7, then both at depth 8-15: registers a0 .. a3), or the B fragments
  // of two neighbouring mma tiles (tile 2p at depth 0-7 and 8-15, then
  // tile 2p + 1: b0, b1 of each). A K-contiguous tile holds the matrices'
  // rows as they are (row = m or n, 8 depths along it); a depth-major
  // one holds them transposed, and ldmatrix transposes them back.

  /// Where lane `laneId`'s row of load `t` (A: mma tile row t; B: the
  /// pair of mma tile columns 2t, 2t + 1) at K step `ks` begins in the
  /// operand's shared tile: its indices (row, column).
  std::pair<Value, Value> matrixRow(bool operandA, int64_t t, int64_t ks,
                                    Value laneId) {
    Value matrix = div(laneId, 8), row = rem(laneId, 8);
    Value across, depth;
    if (operandA) {
      across = add(warpRow, add(mul(rem(matrix, 2), 8), t * kMmaM));
      depth = add(mul(div(matrix, 2), 8), ks * mmaK);
    } else {
      across = add(warpCol, add(mul(div(matrix, 2), kMmaN), 2 * t * kMmaN));
      depth = add(mul(rem(matrix, 2), 8), ks * mmaK);
    }
    if (kContiguous(operandA))
      return {add(across, row), depth};
    return {add(depth, row), across};
  }

  /// One ldmatrix.x4 (see matrixRow): the four registers, as mma.sync
  /// takes them (vector<2xf16>, or i32 for bf16).
  SmallVector<Value> loadMatrices(bool operandA, int64_t t, int64_t ks) {
    auto [row, col] = matrixRow(operandA, t, ks, lane);
    Value loaded = nvgpu::LdMatrixOp::create(
        rewriter, loc, VectorType::get({4, 2}, element),
        operandA ? sharedA : sharedB, ValueRange{row, col},
        /*transpose=*/!kContiguous(operandA), /*numTiles=*/4);
    SmallVector<Value> regs;
    for (int64_t i = 0; i < 4; ++i) {
      Value reg = vector::ExtractOp::create(rewriter, loc, loaded, i);
      if (unit == Unit::BF16)
        reg = LLVM::BitcastOp::create(rewriter, loc, rewriter.getI32Type(),
                                      reg);
      regs.push_back(reg);
    }
    return regs;
  }

  /// The emulation of a K step's ldmatrix loads: every thread stores the
  /// row addresses it gives (matrixRow), then every thread takes its
  /// registers' elements from the rows its warp's lanes gave, by PTX's
  /// definition of ldmatrix above (not by the mma fragment layouts, which
  /// the emulated mma applies in the other direction), into the slots
  /// where the scalar fragment loads would put them.
  void emulateLdmatrix(int64_t ks) {
    int64_t sizeA = 4 * perElement, sizeB = 2 * perElement;
    int64_t loads = mTiles + nTiles / 2;
    auto eachLoad = [&](auto &&body) {
      for (int64_t q = 0; q < loads; ++q) {
        bool operandA = q < mTiles;
        body(q, operandA, operandA ? q : q - mTiles);
      }
    };
    eachThread([&] {
      eachLoad([&](int64_t q, bool operandA, int64_t t) {
        auto [row, col] = matrixRow(operandA, t, ks, lane);
        memref::StoreOp::create(rewriter, loc, row, addresses,
                                ValueRange{tid, index(q), index(0)});
        memref::StoreOp::create(rewriter, loc, col, addresses,
                                ValueRange{tid, index(q), index(1)});
      });
    });
    eachThread([&] {
      Value firstLane = sub(tid, lane);
      eachLoad([&](int64_t q, bool operandA, int64_t t) {
        bool transpose = !kContiguous(operandA);
        for (int64_t i = 0; i < 4; ++i)
          for (int64_t j = 0; j < 2; ++j) {
            // Row 2 (t % 4) + j, column t / 4 with .trans; row t / 4,
            // column 2 (t % 4) + j without.
            Value row = transpose ? add(mul(quad, 2), j) : group;
            Value column = transpose ? group : add(mul(quad, 2), j);
            Value source = add(firstLane, add(row, 8 * i));
            Value r = memref::LoadOp::create(
                rewriter, loc, addresses,
                ValueRange{source, index(q), index(0)});
            Value c0 = memref::LoadOp::create(
                rewriter, loc, addresses,
                ValueRange{source, index(q), index(1)});
            Value value = memref::LoadOp::create(
                rewriter, loc, operandA ? sharedA : sharedB,
                ValueRange{r, add(c0, column)});
            if (operandA)
              memref::StoreOp::create(
                  rewriter, loc, value, fragmentsA,
                  ValueRange{tid, index(t * sizeA + i * perElement + j)});
            else
              memref::StoreOp::create(
                  rewriter, loc, value, fragmentsB,
                  ValueRange{tid, index((2 * t + i / 2) * sizeB +
                                        (i % 2) * perElement + j)});
          }
      });
    });
  }

  /// A fragment's elements as the 32-bit registers mma.sync takes: two
  /// halves packed (the first in the low bits) as vector<2xf16> for f16 and
  /// as i32 for bf16; a TF32 value's bits as i32.
  SmallVector<Value> registersOf(ArrayRef<Value> elements) {
    Type i32 = rewriter.getI32Type();
    SmallVector<Value> regs;
    if (unit == Unit::TF32) {
      for (Value e : elements)
        regs.push_back(arith::BitcastOp::create(rewriter, loc, i32, e));
      return regs;
    }
    Type i16 = rewriter.getI16Type();
    auto bits = [&](Value half) {
      return arith::ExtUIOp::create(
          rewriter, loc, i32, arith::BitcastOp::create(rewriter, loc, i16, half));
    };
    Value sixteen = arith::ConstantOp::create(rewriter, loc,
                                              rewriter.getI32IntegerAttr(16));
    for (size_t e = 0; e < elements.size(); e += 2) {
      Value high =
          arith::ShLIOp::create(rewriter, loc, bits(elements[e + 1]), sixteen);
      Value packed = arith::OrIOp::create(rewriter, loc, high, bits(elements[e]));
      if (unit == Unit::F16)
        packed = LLVM::BitcastOp::create(
            rewriter, loc, VectorType::get({2}, rewriter.getF16Type()), packed);
      regs.push_back(packed);
    }
    return regs;
  }

  /// One warp-wide mma.sync: D = A B + C on the tile's fragments (as
  /// registers).
  SmallVector<Value> mma(ArrayRef<Value> a, ArrayRef<Value> b,
                         ArrayRef<Value> acc) {
    MLIRContext *ctx = rewriter.getContext();
    Type f32 = rewriter.getF32Type();
    auto result = LLVM::LLVMStructType::getLiteral(ctx, {f32, f32, f32, f32});
    NVVM::MMATypes types = unit == Unit::TF32  ? NVVM::MMATypes::tf32
                           : unit == Unit::F16 ? NVVM::MMATypes::f16
                                               : NVVM::MMATypes::bf16;
    auto op = NVVM::MmaOp::create(
        rewriter, loc, result, a, b, acc,
        {kMmaM, kMmaN, mmaK}, std::nullopt, std::nullopt,
        std::array<NVVM::MMATypes, 2>{types, types},
        std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                       NVVM::MMALayout::col});
    SmallVector<Value> out;
    for (int64_t q = 0; q < 4; ++q)
      out.push_back(LLVM::ExtractValueOp::create(rewriter, loc, op, q));
    return out;
  }

  /// The block's K step on the tensor cores: each warp's mma tiles, K
  /// steps of mmaK through the shared tiles. The zeros loaded beyond K add
  /// nothing, so there is no partial step.
  SmallVector<Value> computeMmaTile(ValueRange carried) {
    SmallVector<Value> acc(carried.begin(), carried.end());
    for (int64_t ks = 0; ks < tileK / mmaK; ++ks) {
      SmallVector<SmallVector<Value>> a, b;
      if (ldmatrix) {
        for (int64_t mi = 0; mi < mTiles; ++mi)
          a.push_back(loadMatrices(/*operandA=*/true, mi, ks));
        for (int64_t pair = 0; pair < nTiles / 2; ++pair) {
          SmallVector<Value> regs = loadMatrices(/*operandA=*/false, pair, ks);
          b.push_back({regs[0], regs[1]});
          b.push_back({regs[2], regs[3]});
        }
      } else {
        for (int64_t mi = 0; mi < mTiles; ++mi)
          a.push_back(registersOf(fragmentA(mi, ks)));
        for (int64_t ni = 0; ni < nTiles; ++ni)
          b.push_back(registersOf(fragmentB(ni, ks)));
      }
      for (int64_t mi = 0; mi < mTiles; ++mi)
        for (int64_t ni = 0; ni < nTiles; ++ni) {
          int64_t first = (mi * nTiles + ni) * 4;
          SmallVector<Value> d =
              mma(a[mi], b[ni], ArrayRef<Value>(acc).slice(first, 4));
          std::copy(d.begin(), d.end(), acc.begin() + first);
        }
    }
    return acc;
  }

  /// The emulation of a K step on the tensor cores: every thread stores
  /// its fragments (as the kernel loads them), then each warp's mma.sync
  /// is computed from them in f32. The mma finds each element of A, B and
  /// C in the lane and register slot where PTX's fragment layouts put it,
  /// written here the other way round (from the matrix position to the
  /// lane) so that a mistake in either direction shows.
  void emulateMmaTile() {
    int64_t sizeA = 4 * perElement, sizeB = 2 * perElement;
    for (int64_t ks = 0; ks < tileK / mmaK; ++ks) {
      if (ldmatrix) {
        emulateLdmatrix(ks);
      } else {
        eachThread([&] {
          for (int64_t mi = 0; mi < mTiles; ++mi)
            for (auto [slot, value] : llvm::enumerate(fragmentA(mi, ks)))
              memref::StoreOp::create(
                  rewriter, loc, value, fragmentsA,
                  ValueRange{tid, index(mi * sizeA + slot)});
          for (int64_t ni = 0; ni < nTiles; ++ni)
            for (auto [slot, value] : llvm::enumerate(fragmentB(ni, ks)))
              memref::StoreOp::create(
                  rewriter, loc, value, fragmentsB,
                  ValueRange{tid, index(ni * sizeB + slot)});
        });
      }
      int64_t e = perElement;
      loop(index(0), index(kThreads * kThreads / 32), index(1), [&](Value w) {
        Value firstLane = mul(w, 32);
        for (int64_t mi = 0; mi < mTiles; ++mi)
          for (int64_t ni = 0; ni < nTiles; ++ni)
            loop(index(0), index(kMmaM), index(1), [&](Value r) {
              loop(index(0), index(kMmaN), index(1), [&](Value col) {
                // C[r][col]: lane 4 (r % 8) + col / 2, slot
                // col % 2 + 2 (r / 8).
                Value laneC = add(mul(rem(r, 8), 4), div(col, 2));
                Value slotC = add(rem(col, 2), mul(div(r, 8), 2));
                Value thread = add(firstLane, laneC);
                Value q = add(slotC, (mi * nTiles + ni) * 4);
                Value initial = memref::LoadOp::create(
                    rewriter, loc, registers, ValueRange{thread, q});
                auto sum = scf::ForOp::create(
                    rewriter, loc, index(0), index(mmaK), index(1),
                    ValueRange{initial},
                    [&](OpBuilder &builder, Location, Value k,
                        ValueRange partial) {
                      OpBuilder::InsertionGuard guard(rewriter);
                      rewriter.setInsertionPoint(builder.getInsertionBlock(),
                                                 builder.getInsertionPoint());
                      // A[r][k]: lane 4 (r % 8) + (k % 4E) / E, slot
                      // k % E + E (r / 8) + 2E (k / 4E).
                      Value laneA = add(mul(rem(r, 8), 4), div(rem(k, 4 * e), e));
                      Value slotA = add(add(rem(k, e), mul(div(r, 8), e)),
                                        mul(div(k, 4 * e), 2 * e));
                      // B[k][col]: lane 4 col + (k % 4E) / E, slot
                      // k % E + E (k / 4E).
                      Value laneB = add(mul(col, 4), div(rem(k, 4 * e), e));
                      Value slotB = add(rem(k, e), mul(div(k, 4 * e), e));
                      Value a = memref::LoadOp::create(
                          rewriter, loc, fragmentsA,
                          ValueRange{add(firstLane, laneA),
                                     add(slotA, mi * sizeA)});
                      Value b = memref::LoadOp::create(
                          rewriter, loc, fragmentsB,
                          ValueRange{add(firstLane, laneB),
                                     add(slotB, ni * sizeB)});
                      a = widen(a);
                      b = widen(b);
                      Value product = arith::MulFOp::create(rewriter, loc, a, b);
                      scf::YieldOp::create(
                          rewriter, loc,
                          arith::AddFOp::create(rewriter, loc, partial[0],
                                                product)
                              .getResult());
                    });
                memref::StoreOp::create(rewriter, loc, sum.getResult(0),
                                        registers, ValueRange{thread, q});
              });
            });
      });
    }
  }

  RewriterBase &rewriter;
  Contraction c;
  Location loc;
  Unit unit;
  bool asyncCopies; // (cp.async exists: sm_80 and later)
  int64_t perThread, tileK, tileM, tileN, splits, chunk;
  Type element, accumulator;
  // FMA tiles of 4 x 4 or more outputs per thread: shared loads as vectors
  // (sharedIndex), the shared rows padded by 4 (aligned rows) instead of 1.
  bool vectorShared = false;
  int64_t pad = kPad;
  bool emulating = false; // (no alignment claims on host buffers)
  // Shared tiles per operand: 2 when double-buffered (pipelinedLoop).
  int64_t stages = 1;
  // With tensor cores: elements per 32-bit register, K of one mma, the
  // warp's part of the tile and its mma tiles.
  int64_t perElement = 0, mmaK = 0, warpTileM = 0, warpTileN = 0,
          mTiles = 0, nTiles = 0;
  // sizeK: where the block's depth ends (totalK, or its split's end).
  Value sizeM, sizeN, sizeK, totalK, kBegin;
  Value split, workspace; // (split K)
  Value initial;          // the folded fill's value, if any
  Value tx, ty, tid, rowBase, colBase, batchIndex, sharedA, sharedB;
  Value warpRow, warpCol, lane, group, quad;
  bool ldmatrix = false; // (halves on the tensor cores)
  Value registers, fragmentsA, fragmentsB, addresses; // (emulation)
};

struct GPUTileContractionsPass
    : public mlir::kiln::impl::KilnGPUTileContractionsBase<
          GPUTileContractionsPass> {
  using Base::Base;

  /// The tiling of a product. With tensor cores: 128 x 128 tiles for a
  /// product of at least `largeTilesFrom` outputs (the batch counted),
  /// known at compile time, 64 x 64 otherwise. With the FMA units and
  /// `multiprocessors` > 0, for extents known at compile time, the p of
  /// {1, 2, 4, 8} (8 only from `largeTilesFrom`) with the least time in a
  /// simple model: a block's time grows as p (its 16 p x 16 p tile over K
  /// at a rate of 16 p multiply-adds per cycle, what an SM's one
  /// warp-wide shared load per cycle feeds), and the blocks run in
  /// ceil(blocks / multiprocessors) waves; ties go to the larger p. So a
  /// small product gets many small tiles (a 256 x 128 one 128 blocks of
  /// 16 x 16, not 8 of 64 x 64) and a large one keeps the large tiles.
  /// Open extents, or `multiprocessors` = 0: 64 x 64, 128 x 128 from
  /// `largeTilesFrom`.
  Tiling tilingFor(Contraction &c, Unit unit) {
    SmallVector<int64_t> sizes = c.op.getStaticLoopRanges();
    int64_t outputs = 1;
    bool known = true;
    for (unsigned dim : {c.m, c.n}) {
      if (ShapedType::isDynamic(sizes[dim]))
        known = false;
      else
        outputs *= sizes[dim];
    }
    int64_t batch = 1;
    if (c.batch && !ShapedType::isDynamic(sizes[*c.batch]))
      batch = std::max<int64_t>(sizes[*c.batch], 1);
    outputs *= batch;
    bool large = known && outputs >= largeTilesFrom;
    if (unit != Unit::Fma) {
      // Tensor cores: two mma K steps per shared tile.
      int64_t tileK = unit == Unit::TF32 ? 16 : 32;
      return Tiling{0, tileK, large ? int64_t(128) : int64_t(64)};
    }
    if (!known || multiprocessors <= 0)
      return large ? kLargeTiles : kSmallTiles;
    // Costs in units of a block's time per unit of depth.
    int64_t depth = ShapedType::isDynamic(sizes[c.k])
                        ? 0
                        : std::max<int64_t>(sizes[c.k], 1);
    Tiling best = large ? kLargeTiles : kSmallTiles, bestSplit = best;
    int64_t bestCost = -1, splitCost = -1;
    for (const Tiling &t : kFmaTiles) {
      if (t.perThread == kLargeTiles.perThread && !large)
        continue;
      // M tiles are the grid's y, at most 65535 blocks (CUDA's limit).
      if (llvm::divideCeil(sizes[c.m], t.tile) > kMaximumGridY)
        continue;
      int64_t blocks = llvm::divideCeil(std::max<int64_t>(sizes[c.m], 1), t.tile) *
                       llvm::divideCeil(std::max<int64_t>(sizes[c.n], 1), t.tile) *
                       batch;
      int64_t cost = llvm::divideCeil(blocks, multiprocessors) * t.perThread *
                     std::max<int64_t>(depth, 1);
      if (bestCost < 0 || cost <= bestCost) {
        best = t;
        bestCost = cost;
      }
      Tiling split = t;
      if (depth && !c.batch && outputs > 0) {
        int64_t splitTime = chooseSplits(split, blocks, outputs, depth);
        if (splitTime >= 0 && (splitCost < 0 || splitTime < splitCost)) {
          bestSplit = split;
          splitCost = splitTime;
        }
      }
    }
    // Split K only for a clear gain over the best unsplit tiling: the model
    // is rough.
    if (splitCost >= 0 && 10 * splitCost < 9 * bestCost)
      return bestSplit;
    return best;
  }

  /// Split K (for depths known at compile time, no batch): the cheapest
  /// `splits` blocks per output tile of `t`, each a `chunk` of the depth
  /// (a multiple of the K step, at least `kMinimumChunk`), set in `t`; its
  /// cost (waves x p x chunk plus the second kernel's launch, worth about
  /// `kSplitOverhead` units of a block's time per unit of depth: a unit is
  /// about 16 cycles, so some 4 us), or -1 when no split fits. The
  /// workspace is bounded (2^24 partial sums).
  static constexpr int64_t kSplitOverhead = 512, kMinimumChunk = 64,
                           kMaximumPartials = int64_t(1) << 24;
  int64_t chooseSplits(Tiling &t, int64_t blocks, int64_t outputs,
                       int64_t depth) {
    int64_t cost = -1;
    for (int64_t want = 2; want <= 4 * multiprocessors; ++want) {
      int64_t chunk = llvm::alignTo(llvm::divideCeil(depth, want), t.tileK);
      if (chunk < kMinimumChunk)
        break;
      int64_t splits = llvm::divideCeil(depth, chunk);
      if (splits < 2 || splits * outputs > kMaximumPartials)
        continue;
      int64_t split = llvm::divideCeil(blocks * splits, multiprocessors) *
                          t.perThread * chunk +
                      kSplitOverhead;
      if (cost < 0 || split < cost) {
        cost = split;
        t.splits = splits;
        t.chunk = chunk;
      }
    }
    return cost;
  }

  /// Tensor cores for f16 and bf16 products, and for f32 ones when TF32
  /// is allowed; the FMA units otherwise.
  Unit unitFor(Contraction &c) {
    if (!tensorCores)
      return Unit::Fma;
    Type element = getElementTypeOrSelf(c.op.getDpsInitOperand(0)->get());
    if (element.isF16())
      return Unit::F16;
    if (element.isBF16())
      return Unit::BF16;
    if (element.isF32() && allowTf32)
      return Unit::TF32;
    return Unit::Fma;
  }

  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (!emulate && !kiln::isGpuFunction(func))
        continue;
      SmallVector<Contraction> found;
      func.walk([&](linalg::LinalgOp op) {
        if (op->getParentOfType<gpu::LaunchOp>())
          return;
        if (std::optional<Contraction> c = matchContraction(op))
          found.push_back(*c);
      });
      for (Contraction &c : found) {
        // Hopper: TMA and wgmma (not emulated: no CPU model of them).
        if (wgmma && tensorCores && !emulate && !c.batch &&
            kiln::fitsWgmma(c.op, c.m, c.n, c.k)) {
          kiln::buildWgmmaKernel(rewriter, c.op);
          continue;
        }
        Unit unit = unitFor(c);
        TiledKernel(rewriter, c, tilingFor(c, unit), unit, asyncCopies)
            .build(emulate);
      }
    }
  }
};

} // namespace
