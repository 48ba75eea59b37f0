//===- Wgmma.cpp - Matrix products on Hopper's warpgroup MMA --------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// A block of one warpgroup (128 threads) computes a 128 x 128 tile of
// C += A B. For each K step of 64, thread 0 has TMA copy the A tile
// (128 x 64) and the B tile (64 x 128, as two 64 x 64 boxes: 128-byte
// swizzling limits a box to 128 bytes across) into shared memory, counted
// by an mbarrier; the warpgroup waits on it, multiplies the tiles into its
// f32 accumulators with wgmma (B is N-major: transposed), waits for the
// wgmma and for every warp before a later copy overwrites the tiles. The
// tiles have two stages, each with its own mbarrier: step i + 1's copies
// are issued (into the other stage) before step i waits for its own, so
// they run while step i multiplies.
// TMA fills what lies outside the operands with zeros. At the end the
// accumulators go to shared memory, and each thread adds a column of them
// to the output, rounded to its type, inside the result only.
//
//===----------------------------------------------------------------------===//

#include "Wgmma.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;

namespace {

constexpr int64_t kTile = 128;           // outputs per block, each way
constexpr int64_t kStep = 64;            // K per step (128 bytes of halves)
constexpr int64_t kAlign = 1024;         // the 128-byte swizzle's period
constexpr int64_t kTileBytes = 128 * 64 * 2; // an operand tile of halves
constexpr int64_t kStages = 2;           // tiles in flight
constexpr int64_t kStageBytes = 2 * kTileBytes; // A's and B's tiles
static_assert(kStages * kStageBytes <= kTile * kTile * 4,
              "the stages share the accumulators' staging bytes");

/// The indexing map's results as loop dims, or empty.
SmallVector<unsigned> dims(AffineMap map) {
  SmallVector<unsigned> out;
  for (AffineExpr e : map.getResults()) {
    auto dim = dyn_cast<AffineDimExpr>(e);
    if (!dim)
      return {};
    out.push_back(dim.getPosition());
  }
  return out;
}

bool contiguous(Value v) {
  auto type = dyn_cast<MemRefType>(v.getType());
  return type && type.hasStaticShape() && type.getLayout().isIdentity() &&
         !type.getMemorySpace();
}

} // namespace

bool mlir::kiln::fitsWgmma(linalg::LinalgOp op, unsigned m, unsigned n,
                           unsigned k) {
  if (op.getNumLoops() != 3)
    return false;
  Value a = op.getDpsInputOperand(0)->get(), b = op.getDpsInputOperand(1)->get();
  Value c = op.getDpsInitOperand(0)->get();
  if (!contiguous(a) || !contiguous(b) || !contiguous(c))
    return false;
  Type element = getElementTypeOrSelf(c);
  if (!element.isF16() && !element.isBF16())
    return false;
  if (dims(op.getMatchingIndexingMap(op.getDpsInputOperand(0))) !=
          SmallVector<unsigned>{m, k} ||
      dims(op.getMatchingIndexingMap(op.getDpsInputOperand(1))) !=
          SmallVector<unsigned>{k, n} ||
      dims(op.getMatchingIndexingMap(op.getDpsInitOperand(0))) !=
          SmallVector<unsigned>{m, n})
    return false;
  ArrayRef<int64_t> shapeB = cast<MemRefType>(b.getType()).getShape();
  int64_t rows = cast<MemRefType>(a.getType()).getShape()[0];
  // Nothing empty (TMA describes no empty tensor); M tiles within a grid's
  // y extent.
  return rows > 0 && shapeB[0] > 0 && shapeB[1] > 0 && shapeB[0] % 8 == 0 &&
         shapeB[1] % 8 == 0 && (rows + kTile - 1) / kTile <= 65535;
}

void mlir::kiln::buildWgmmaKernel(RewriterBase &rewriter,
                                  linalg::LinalgOp op) {
  MLIRContext *ctx = rewriter.getContext();
  Location loc = op.getLoc();
  Value a = op.getDpsInputOperand(0)->get(), b = op.getDpsInputOperand(1)->get();
  Value c = op.getDpsInitOperand(0)->get();
  auto typeA = cast<MemRefType>(a.getType());
  auto typeB = cast<MemRefType>(b.getType());
  Type element = typeA.getElementType();
  int64_t sizeM = typeA.getShape()[0], sizeK = typeA.getShape()[1],
          sizeN = typeB.getShape()[1];
  rewriter.setInsertionPoint(op);
  auto index = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(rewriter, loc, v);
  };

  // The TMA descriptors (host code): boxes of 128 x 64 of A, 64 x 64 of B.
  Attribute smemSpace = rewriter.getI64IntegerAttr(3);
  auto tensorMap = [&](int64_t rows) {
    return nvgpu::TensorMapDescriptorType::get(
        ctx, MemRefType::get({rows, kStep}, element, MemRefLayoutAttrInterface(), smemSpace),
        nvgpu::TensorMapSwizzleKind::SWIZZLE_128B,
        nvgpu::TensorMapL2PromoKind::L2PROMO_NONE,
        nvgpu::TensorMapOOBKind::OOB_ZERO,
        nvgpu::TensorMapInterleaveKind::INTERLEAVE_NONE);
  };
  auto unranked = UnrankedMemRefType::get(element, Attribute());
  auto mapA = tensorMap(kTile), mapB = tensorMap(kStep);
  Value tmaA = nvgpu::TmaCreateDescriptorOp::create(
      rewriter, loc, mapA, memref::CastOp::create(rewriter, loc, unranked, a),
      ValueRange{index(kTile), index(kStep)});
  Value tmaB = nvgpu::TmaCreateDescriptorOp::create(
      rewriter, loc, mapB, memref::CastOp::create(rewriter, loc, unranked, b),
      ValueRange{index(kStep), index(kStep)});

  // The launch: N tiles in x, M tiles in y; 64 KiB of f32 accumulators
  // staged at the end (the operand tiles, two stages of 32 KiB, fit in the
  // same bytes),
  // plus room to align the start to 1024 bytes.
  int64_t sharedBytes = kTile * kTile * 4 + kAlign;
  Value one = index(1);
  auto launch = gpu::LaunchOp::create(
      rewriter, loc, index((sizeN + kTile - 1) / kTile),
      index((sizeM + kTile - 1) / kTile), one, index(kTile), one, one,
      arith::ConstantIntOp::create(rewriter, loc, sharedBytes, 32));
  rewriter.setInsertionPointToEnd(&launch.getBody().front());
  auto terminator = gpu::TerminatorOp::create(rewriter, loc);
  rewriter.setInsertionPoint(terminator);
  Value tid = launch.getThreadIds().x;
  Value zero = index(0);
  Value row0 = arith::MulIOp::create(rewriter, loc, launch.getBlockIds().y,
                                     index(kTile));
  Value col0 = arith::MulIOp::create(rewriter, loc, launch.getBlockIds().x,
                                     index(kTile));
  Value col1 = arith::AddIOp::create(rewriter, loc, col0, index(kStep));
  Value first = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq,
                                      tid, zero);

  // An mbarrier per stage, initialized by thread 0 before anyone waits.
  Attribute workgroup =
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  auto barrierType =
      nvgpu::MBarrierGroupType::get(ctx, workgroup, kStages);
  Value barrier = nvgpu::MBarrierCreateOp::create(rewriter, loc, barrierType);
  for (int64_t stage = 0; stage < kStages; ++stage)
    nvgpu::MBarrierInitOp::create(rewriter, loc, barrier, one, index(stage),
                                  first);
  nvgpu::TmaPrefetchOp::create(rewriter, loc, tmaA, first);
  nvgpu::TmaPrefetchOp::create(rewriter, loc, tmaB, first);
  gpu::BarrierOp::create(rewriter, loc);

  // Shared memory from a 1024-byte boundary (the swizzle's period, which
  // the wgmma descriptors assume): stage s at 32 s KiB, its A tile first,
  // B's two boxes 16 and 24 KiB in.
  auto bytesType = MemRefType::get({ShapedType::kDynamic},
                                   rewriter.getI8Type(),
                                   MemRefLayoutAttrInterface(), workgroup);
  Value dynamic = gpu::DynamicSharedMemoryOp::create(rewriter, loc, bytesType);
  Value base =
      memref::ExtractAlignedPointerAsIndexOp::create(rewriter, loc, dynamic);
  Value shift = arith::RemUIOp::create(
      rewriter, loc,
      arith::SubIOp::create(
          rewriter, loc, index(kAlign),
          arith::RemUIOp::create(rewriter, loc, base, index(kAlign))),
      index(kAlign));
  auto view = [&](Value offset, ArrayRef<int64_t> shape, Type type) {
    Value at = arith::AddIOp::create(rewriter, loc, shift, offset);
    return memref::ViewOp::create(
               rewriter, loc,
               MemRefType::get(shape, type, MemRefLayoutAttrInterface(),
                               workgroup),
               dynamic, at, ValueRange{})
        .getResult();
  };
  // A stage's tiles (its bytes start at `stage` x 32 KiB).
  struct Tiles {
    Value a, b, boxB1, boxB2;
  };
  auto tilesOf = [&](Value stage) {
    Value start = arith::MulIOp::create(rewriter, loc, stage,
                                        index(kStageBytes));
    auto at = [&](int64_t offset) {
      return arith::AddIOp::create(rewriter, loc, start, index(offset))
          .getResult();
    };
    return Tiles{view(at(0), {kTile, kStep}, element),
                 view(at(kTileBytes), {kStep, kTile}, element),
                 view(at(kTileBytes), {kStep, kStep}, element),
                 view(at(kTileBytes + kTileBytes / 2), {kStep, kStep},
                      element)};
  };
  // Thread 0 has TMA copy K step `k0`'s tiles into `stage` (when `copy`),
  // counted by the stage's mbarrier.
  auto copyStep = [&](Value stage, Value k0, Value copy) {
    Tiles tiles = tilesOf(stage);
    nvgpu::MBarrierArriveExpectTxOp::create(
        rewriter, loc, barrier, index(2 * kTileBytes), stage, copy);
    // Coordinates innermost first.
    nvgpu::TmaAsyncLoadOp::create(rewriter, loc, tiles.a, barrier, tmaA,
                                  ValueRange{k0, row0}, stage, Value(), copy);
    nvgpu::TmaAsyncLoadOp::create(rewriter, loc, tiles.boxB1, barrier, tmaB,
                                  ValueRange{col0, k0}, stage, Value(), copy);
    nvgpu::TmaAsyncLoadOp::create(rewriter, loc, tiles.boxB2, barrier, tmaB,
                                  ValueRange{col1, k0}, stage, Value(), copy);
  };

  auto accType = nvgpu::WarpgroupAccumulatorType::get(
      ctx, VectorType::get({kTile, kTile}, rewriter.getF32Type()));
  Value initial = nvgpu::WarpgroupMmaInitAccumulatorOp::create(rewriter, loc,
                                                               accType);
  // Step 0's copies; then in step i (stage i % 2, whose mbarrier
  // completes for the (i / 2)-th time: parity (i / 2) % 2), step i + 1's
  // copies into the other stage, whose tiles step i - 1 read (it waited
  // for its wgmma and every warp), then the wait for this step's tiles.
  copyStep(zero, zero, first);
  auto loop = scf::ForOp::create(
      rewriter, loc, zero, index(sizeK), index(kStep), ValueRange{initial},
      [&](OpBuilder &builder, Location l, Value k0, ValueRange carried) {
        OpBuilder::InsertionGuard guard(rewriter);
        rewriter.setInsertionPoint(builder.getInsertionBlock(),
                                   builder.getInsertionPoint());
        Value step = arith::DivUIOp::create(rewriter, l, k0, index(kStep));
        Value stage = arith::RemUIOp::create(rewriter, l, step, index(2));
        Value other = arith::SubIOp::create(rewriter, l, one, stage);
        Value next = arith::AddIOp::create(rewriter, l, k0, index(kStep));
        Value more = arith::CmpIOp::create(
            rewriter, l, arith::CmpIPredicate::ult, next, index(sizeK));
        // (A branch, not a predicate: the last step's copies are dropped
        // whole, and a predicate folded to false would reach the PTX as
        // "@0", which ptxas refuses.)
        auto ifMore = scf::IfOp::create(rewriter, l, more);
        {
          OpBuilder::InsertionGuard inner(rewriter);
          rewriter.setInsertionPoint(ifMore.thenBlock()->getTerminator());
          copyStep(other, next, first);
        }
        Value use = arith::DivUIOp::create(rewriter, l, step, index(2));
        Value parity = arith::CmpIOp::create(
            rewriter, l, arith::CmpIPredicate::ne,
            arith::RemUIOp::create(rewriter, l, use, index(2)), zero);
        nvgpu::MBarrierTryWaitParityOp::create(rewriter, l, barrier, parity,
                                               index(10000000), stage);
        Tiles tiles = tilesOf(stage);
        auto descriptor = [&](Value tile, Value map) {
          return nvgpu::WarpgroupGenerateDescriptorOp::create(
                     rewriter, l,
                     nvgpu::WarpgroupMatrixDescriptorType::get(
                         ctx, cast<MemRefType>(tile.getType())),
                     tile, map)
              .getResult();
        };
        Value product = nvgpu::WarpgroupMmaOp::create(
            rewriter, l, accType, descriptor(tiles.a, tmaA),
            descriptor(tiles.b, tmaB), IntegerAttr(), UnitAttr(),
            rewriter.getUnitAttr(), carried[0]);
        // The tiles are read before a later copy replaces them.
        NVVM::WgmmaWaitGroupSyncOp::create(rewriter, l,
                                           rewriter.getI64IntegerAttr(0));
        gpu::BarrierOp::create(rewriter, l);
        scf::YieldOp::create(rewriter, l, ValueRange{product});
      });

  // The accumulators through shared memory; each thread a column of the
  // tile, added to the output where the output is.
  Value staged = view(zero, {kTile, kTile}, rewriter.getF32Type());
  nvgpu::WarpgroupMmaStoreOp::create(rewriter, loc, loop.getResult(0), staged);
  gpu::BarrierOp::create(rewriter, loc);
  Value col = arith::AddIOp::create(rewriter, loc, col0, tid);
  Value colInside = arith::CmpIOp::create(
      rewriter, loc, arith::CmpIPredicate::ult, col, index(sizeN));
  auto store = scf::ForOp::create(rewriter, loc, zero, index(kTile), one);
  {
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(store.getBody()->getTerminator());
    Value i = store.getInductionVar();
    Value row = arith::AddIOp::create(rewriter, loc, row0, i);
    Value inside = arith::AndIOp::create(
        rewriter, loc, colInside,
        arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ult, row,
                              index(sizeM)));
    auto guarded = scf::IfOp::create(rewriter, loc, inside);
    rewriter.setInsertionPoint(guarded.thenBlock()->getTerminator());
    SmallVector<Value> at(2);
    at[0] = row;
    at[1] = col;
    Value sum = memref::LoadOp::create(rewriter, loc, staged,
                                       ValueRange{i, tid});
    Value loaded = memref::LoadOp::create(rewriter, loc, c, at);
    Value old =
        arith::ExtFOp::create(rewriter, loc, rewriter.getF32Type(), loaded);
    Value total = arith::AddFOp::create(rewriter, loc, old, sum);
    memref::StoreOp::create(
        rewriter, loc, arith::TruncFOp::create(rewriter, loc, element, total),
        c, at);
  }
  rewriter.eraseOp(op);
}
