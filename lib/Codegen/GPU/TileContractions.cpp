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

#include "kiln/Codegen/GPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUTILECONTRACTIONS
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

// The tiling: a block of 16 x 16 threads computes a square tile of the
// output, p x p elements per thread (rows ty + 16 i, columns tx + 16 j, so
// that a half-warp stores 16 consecutive elements), walking K through two
// shared tiles: 64 x 64 outputs with p = 4 and K steps of 16, or for large
// products 128 x 128 with p = 8 and K steps of 8 (twice the multiply-adds
// per value read from shared memory, fewer blocks).
constexpr int64_t kThreads = 16; // per block, in x and in y
constexpr int64_t kPad = 1;      // shared rows padded: no bank conflicts

struct Tiling {
  int64_t perThread; // rows (and columns) of outputs per thread
  int64_t tileK;     // K per step
  int64_t tile() const { return kThreads * perThread; } // outputs per block
};
constexpr Tiling kSmallTiles = {4, 16};
constexpr Tiling kLargeTiles = {8, 8};

/// A contraction this pass tiles: its loops and the multiply and add of
/// its body.
struct Contraction {
  linalg::LinalgOp op;
  unsigned m, n, k;
  std::optional<unsigned> batch;
  Operation *multiply, *add;
};

/// The multiply and add of a body `yield acc + a * b` (either order, float
/// or integer, one element type), or nullopt.
std::optional<std::pair<Operation *, Operation *>>
multiplyAdd(linalg::LinalgOp op) {
  Block *body = op.getBlock();
  if (body->getNumArguments() != 3 ||
      !llvm::all_equal(body->getArgumentTypes()))
    return std::nullopt;
  auto yield = cast<linalg::YieldOp>(body->getTerminator());
  Operation *add = yield.getOperand(0).getDefiningOp();
  if (!add || !isa<arith::AddFOp, arith::AddIOp>(add) ||
      add->getBlock() != body)
    return std::nullopt;
  Value acc = body->getArgument(2);
  Value product = add->getOperand(0) == acc   ? add->getOperand(1)
                  : add->getOperand(1) == acc ? add->getOperand(0)
                                              : Value();
  Operation *multiply = product ? product.getDefiningOp() : nullptr;
  if (!multiply || multiply->getBlock() != body ||
      !(isa<arith::AddFOp>(add) ? isa<arith::MulFOp>(multiply)
                                : isa<arith::MulIOp>(multiply)))
    return std::nullopt;
  Value a = body->getArgument(0), b = body->getArgument(1);
  bool operands = (multiply->getOperand(0) == a &&
                   multiply->getOperand(1) == b) ||
                  (multiply->getOperand(0) == b && multiply->getOperand(1) == a);
  // Nothing else in the body: `mul`, `add`, `yield`.
  if (!operands || body->getOperations().size() != 3)
    return std::nullopt;
  return std::make_pair(multiply, add);
}

std::optional<Contraction> matchContraction(linalg::LinalgOp op) {
  if (op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      !op.hasPureBufferSemantics())
    return std::nullopt;
  for (OpOperand &operand : op->getOpOperands())
    if (!isa<MemRefType>(operand.get().getType()))
      return std::nullopt;
  if (!llvm::all_of(op.getIndexingMapsArray(),
                    [](AffineMap map) { return map.isProjectedPermutation(); }))
    return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.size() != 1 || dims->n.size() != 1 ||
      dims->k.size() != 1 || dims->batch.size() > 1 ||
      op.getNumLoops() != 3 + dims->batch.size())
    return std::nullopt;
  std::optional<std::pair<Operation *, Operation *>> body = multiplyAdd(op);
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
  TiledKernel(RewriterBase &rewriter, Contraction c, Tiling tiling)
      : rewriter(rewriter), c(c), loc(c.op.getLoc()),
        perThread(tiling.perThread), tileK(tiling.tileK),
        tileM(tiling.tile()), tileN(tiling.tile()),
        element(cast<MemRefType>(c.op.getDpsInitOperand(0)->get().getType())
                    .getElementType()) {}

  /// Replaces the contraction by its kernel; with `emulate`, by loops on
  /// the host that run the same kernel block by block, each phase between
  /// two barriers for all threads of the block in turn (a test of the
  /// kernel's indexing on the CPU).
  void build(bool emulate) {
    rewriter.setInsertionPoint(c.op);
    SmallVector<Value> sizes;
    for (Range range : c.op.createLoopRanges(rewriter, loc))
      sizes.push_back(
          getValueOrCreateConstantIndexOp(rewriter, loc, range.size));
    sizeM = sizes[c.m];
    sizeN = sizes[c.n];
    sizeK = sizes[c.k];
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
    if (emulate)
      buildEmulation(gridX, gridY, gridZ);
    else
      buildLaunch(gridX, gridY, gridZ);
    rewriter.eraseOp(c.op);
  }

private:
  MemRefType sharedType(int64_t extent, Attribute memorySpace) {
    return MemRefType::get({tileK, extent + kPad}, element,
                           MemRefLayoutAttrInterface(), memorySpace);
  }

  /// Sets the thread's ids from `tid` = tx + 16 ty.
  void setThread(Value x, Value y) {
    tx = x;
    ty = y;
    tid = arith::AddIOp::create(
        rewriter, loc, tx,
        arith::MulIOp::create(rewriter, loc, ty, index(kThreads)));
  }

  void setBlock(Value x, Value y, Value z) {
    rowBase = arith::MulIOp::create(rewriter, loc, y, index(tileM));
    colBase = arith::MulIOp::create(rewriter, loc, x, index(tileN));
    if (c.batch)
      batchIndex = z;
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
        TypeRange{sharedType(tileM, workgroup),
                  sharedType(tileN, workgroup)});
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
    auto kLoop = scf::ForOp::create(
        rewriter, loc, index(0), sizeK, index(tileK), acc,
        [&](OpBuilder &b, Location, Value k0, ValueRange carried) {
          OpBuilder::InsertionGuard guard(rewriter);
          rewriter.setInsertionPoint(b.getInsertionBlock(),
                                     b.getInsertionPoint());
          loadTile(/*operandA=*/true, k0);
          loadTile(/*operandA=*/false, k0);
          gpu::BarrierOp::create(rewriter, loc);
          SmallVector<Value> next = computeTile(k0, carried);
          gpu::BarrierOp::create(rewriter, loc);
          scf::YieldOp::create(rewriter, loc, next);
        });
    storeOutputs(kLoop.getResults());
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
                                       sharedType(tileM, Attribute()));
    sharedB = memref::AllocaOp::create(rewriter, loc,
                                       sharedType(tileN, Attribute()));
    // The threads' registers: accumulators by thread.
    int64_t count = perThread * perThread;
    Value registers = memref::AllocaOp::create(
        rewriter, loc,
        MemRefType::get({kThreads * kThreads, count}, element));
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
          loop(index(0), sizeK, index(tileK), [&](Value k0) {
            eachThread([&] {
              loadTile(/*operandA=*/true, k0);
              loadTile(/*operandA=*/false, k0);
            });
            // (barrier)
            eachThread([&] { save(computeTile(k0, restore())); });
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

  Value zeroElement() {
    return arith::ConstantOp::create(rewriter, loc,
                                     rewriter.getZeroAttr(element));
  }

  Value inRange(Value i, Value size) {
    return arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ult, i,
                                 size);
  }

  /// `value` if `condition`, else zero, loaded only if `condition`.
  Value guardedLoad(Value condition, Value memref, ValueRange at) {
    auto guard = scf::IfOp::create(
        rewriter, loc, condition,
        [&](OpBuilder &b, Location l) {
          scf::YieldOp::create(b, l,
                               memref::LoadOp::create(b, l, memref, at)
                                   .getResult());
        },
        [&](OpBuilder &b, Location l) {
          scf::YieldOp::create(
              b, l,
              arith::ConstantOp::create(b, l, b.getZeroAttr(element))
                  .getResult());
        });
    return guard.getResult(0);
  }

  /// The thread's output rows and columns.
  Value row(int64_t i) {
    return arith::AddIOp::create(
        rewriter, loc, rowBase,
        arith::AddIOp::create(rewriter, loc, ty, index(kThreads * i)));
  }
  Value col(int64_t j) {
    return arith::AddIOp::create(
        rewriter, loc, colBase,
        arith::AddIOp::create(rewriter, loc, tx, index(kThreads * j)));
  }

  /// The accumulators start from the output's values (the contraction adds
  /// to its output); outside the output, zero.
  SmallVector<Value> loadOutputs() {
    OpOperand *out = c.op.getDpsInitOperand(0);
    SmallVector<Value> acc;
    for (int64_t i = 0; i < perThread; ++i)
      for (int64_t j = 0; j < perThread; ++j) {
        Value r = row(i), q = col(j);
        Value inside = arith::AndIOp::create(rewriter, loc, inRange(r, sizeM),
                                             inRange(q, sizeN));
        acc.push_back(guardedLoad(inside, out->get(),
                                  indices(out, loopValues(r, q, index(0)))));
      }
    return acc;
  }

  void storeOutputs(ValueRange acc) {
    OpOperand *out = c.op.getDpsInitOperand(0);
    for (int64_t i = 0; i < perThread; ++i)
      for (int64_t j = 0; j < perThread; ++j) {
        Value r = row(i), q = col(j);
        Value inside = arith::AndIOp::create(rewriter, loc, inRange(r, sizeM),
                                             inRange(q, sizeN));
        Value value = acc[i * perThread + j];
        scf::IfOp::create(rewriter, loc, inside, [&](OpBuilder &b, Location l) {
          memref::StoreOp::create(b, l, value, out->get(),
                                  indices(out, loopValues(r, q, index(0))));
          scf::YieldOp::create(b, l);
        });
      }
  }

  /// Copies the operand's tile at depth `k0` into shared memory, zero
  /// outside the operand: A[rowBase : +tileM, k0 : +tileK] into
  /// sharedA[k][m], B[k0 : +tileK, colBase : +tileN] into sharedB[k][n]
  /// (4 elements per thread with either tiling). Consecutive threads
  /// take consecutive elements of the operand's innermost index (coalesced
  /// loads); the padded shared rows keep their stores free of bank
  /// conflicts either way.
  void loadTile(bool operandA, Value k0) {
    OpOperand *operand = c.op.getDpsInputOperand(operandA ? 0 : 1);
    unsigned outer = operandA ? c.m : c.n; // the tile's M or N dimension
    int64_t extent = operandA ? tileM : tileN;
    AffineMap map = c.op.getMatchingIndexingMap(operand);
    unsigned innermost =
        cast<AffineDimExpr>(map.getResults().back()).getPosition();
    bool depthFastest = innermost == c.k;
    Value base = operandA ? rowBase : colBase;
    Value size = operandA ? sizeM : sizeN;
    Value shared = operandA ? sharedA : sharedB;
    int64_t loads = tileK * tileM / (kThreads * kThreads);
    for (int64_t r = 0; r < loads; ++r) {
      Value linear = arith::AddIOp::create(rewriter, loc, tid,
                                           index(r * kThreads * kThreads));
      int64_t fastExtent = depthFastest ? tileK : extent;
      Value fast = arith::RemUIOp::create(rewriter, loc, linear,
                                          index(fastExtent));
      Value slow = arith::DivUIOp::create(rewriter, loc, linear,
                                          index(fastExtent));
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
      Value value = guardedLoad(inside, operand->get(), indices(operand, ivs));
      memref::StoreOp::create(rewriter, loc, value, shared,
                              ValueRange{depth, across});
    }
  }

  /// acc + a * b with the contraction's own multiply and add.
  Value multiplyAdd(OpBuilder &b, Value acc, Value x, Value y) {
    Block *body = c.op.getBlock();
    IRMapping mapping;
    mapping.map(body->getArgument(0), x);
    mapping.map(body->getArgument(1), y);
    mapping.map(body->getArgument(2), acc);
    b.clone(*c.multiply, mapping);
    return b.clone(*c.add, mapping)->getResult(0);
  }

  /// One depth step `kk` of the thread's outer product.
  SmallVector<Value> step(OpBuilder &b, Location l, Value kk,
                          ArrayRef<Value> acc) {
    SmallVector<Value> a, bs;
    for (int64_t i = 0; i < perThread; ++i) {
      Value m = arith::AddIOp::create(
          b, l, ty, arith::ConstantIndexOp::create(b, l, kThreads * i));
      a.push_back(memref::LoadOp::create(b, l, sharedA, ValueRange{kk, m}));
      Value n = arith::AddIOp::create(
          b, l, tx, arith::ConstantIndexOp::create(b, l, kThreads * i));
      bs.push_back(memref::LoadOp::create(b, l, sharedB, ValueRange{kk, n}));
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

  RewriterBase &rewriter;
  Contraction c;
  Location loc;
  int64_t perThread, tileK, tileM, tileN;
  Type element;
  Value sizeM, sizeN, sizeK;
  Value tx, ty, tid, rowBase, colBase, batchIndex, sharedA, sharedB;
};

struct GPUTileContractionsPass
    : public mlir::kiln::impl::KilnGPUTileContractionsBase<
          GPUTileContractionsPass> {
  using Base::Base;

  /// Large tiles for a product of at least `largeTilesFrom` outputs (the
  /// batch counted), known at compile time: enough blocks of 128 x 128 to
  /// fill a large GPU twice over; small tiles otherwise.
  Tiling tilingFor(Contraction &c) {
    SmallVector<int64_t> sizes = c.op.getStaticLoopRanges();
    int64_t outputs = 1;
    for (unsigned dim : {c.m, c.n}) {
      if (ShapedType::isDynamic(sizes[dim]))
        return kSmallTiles;
      outputs *= sizes[dim];
    }
    if (c.batch && !ShapedType::isDynamic(sizes[*c.batch]))
      outputs *= sizes[*c.batch];
    return outputs >= largeTilesFrom ? kLargeTiles : kSmallTiles;
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
      for (Contraction &c : found)
        TiledKernel(rewriter, c, tilingFor(c)).build(emulate);
    }
  }
};

} // namespace
