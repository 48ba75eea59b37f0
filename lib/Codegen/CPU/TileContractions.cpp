//===- TileContractions.cpp - Contractions tiled for the CPU --------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-cpu-tile-contractions: cache and register tiling of every contraction
// on tensors, with its accumulator's fill and its elementwise consumer fused
// into the cache tiles, through upstream's TilingInterface; full register
// tiles vectorized into vector.contract with the accumulator kept in
// registers across the K loop. See the pass description for the loop nest.
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/CPU/Passes.h"

#include "Simplify.h"

#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Transforms/CSE.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/LoopInvariantCodeMotionUtils.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNCPUTILECONTRACTIONS
#include "kiln/Codegen/CPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

/// Tile sizes of one contraction, by role of the loop.
struct TileSizes {
  /// Register tile: MR rows of the accumulator, NR columns (a multiple of
  /// the vector width).
  int64_t mr, nr;
  /// Cache tiles: the C tile a thread owns (MC x NC) and the depth of the
  /// B panel (KC x NC) streamed through it.
  int64_t mc, nc, kc;
};

/// The role of each loop of a contraction.
enum class Role { Batch, M, N, K };

/// Vector registers available for accumulators: 32 zmm registers with
/// AVX-512 (16 accumulators leave room for B, a broadcast of A and
/// addresses), 16 ymm registers with AVX2 (12).
int64_t accumulatorRegisters(int64_t vectorBits) {
  return vectorBits >= 512 ? 16 : 12;
}

/// The extents of a contraction's batch, M, N and K loops (products over
/// the loops of one role; an open extent counts as `kOpenExtent`).
constexpr int64_t kOpenExtent = 1 << 20;
struct Extents {
  int64_t batch = 1, m = 1, n = 1, k = 1;
  bool staticM = true, staticN = true;
};

Extents extentsOf(ArrayRef<Role> roles, ArrayRef<int64_t> bounds) {
  Extents e;
  for (auto [role, bound] : llvm::zip_equal(roles, bounds)) {
    bool open = ShapedType::isDynamic(bound);
    int64_t extent = open ? kOpenExtent : bound;
    switch (role) {
    case Role::Batch:
      e.batch *= extent;
      break;
    case Role::M:
      e.m *= extent;
      e.staticM = e.staticM && !open;
      break;
    case Role::N:
      e.n *= extent;
      e.staticN = e.staticN && !open;
      break;
    case Role::K:
      e.k *= extent;
      break;
    }
  }
  return e;
}

/// A tile of at most `limit` (a multiple of `unit`) for a loop of `extent`:
/// the largest multiple of `unit` that divides the extent, if one is at
/// least half the limit, so that every cache tile is full and has static
/// shapes; else the limit (the last tile is partial).
int64_t evenTile(int64_t extent, bool isStatic, int64_t limit, int64_t unit) {
  if (!isStatic || extent <= limit)
    return limit;
  for (int64_t size = limit; size >= std::max(unit, limit / 2); size -= unit)
    if (extent % size == 0)
      return size;
  return limit;
}

/// A contraction of at least `kMinSplitFlops` gets at least `kMinTiles`
/// cache tiles, for the threads to share.
constexpr int64_t kMinTiles = 4;
constexpr int64_t kMinSplitFlops = 4 << 20;

/// The tile sizes for a contraction of `extents` on elements of `bits`
/// bits with `vectorBits`-bit vector registers.
///
/// Register tile: NR is two vectors (one when N fits in one) and MR as many
/// rows as keep the accumulators within the register budget: 8 x 2 zmm
/// with AVX-512, 6 x 2 ymm with AVX2, 16 x 1 and 12 x 1 for narrow N
/// (a 16-channel convolution), so that enough independent FMAs are in
/// flight. Cache tiles: up to 8 register tiles each way, made to divide M
/// and N where possible (no partial tile with dynamic shapes); K panels of
/// 256 keep a KC x NR micro-panel of B in L1 (32 KiB at f32, NR = 32).
/// Then, for the threads, NC shrinks down to 2 NR and MC down to MR until
/// there are `kMinTiles` tiles. The sizes depend on the shape alone, never
/// on the thread count, so neither do the results.
TileSizes chooseTileSizes(int64_t vectorBits, unsigned bits,
                          const Extents &extents) {
  int64_t lanes = std::max<int64_t>(vectorBits / bits, 1);
  TileSizes sizes;
  bool narrow = extents.staticN && extents.n <= lanes;
  sizes.nr = narrow ? lanes : 2 * lanes;
  sizes.mr = accumulatorRegisters(vectorBits) / (sizes.nr / lanes);
  sizes.kc = 256;
  sizes.mc = evenTile(extents.m, extents.staticM, 8 * sizes.mr, sizes.mr);
  sizes.nc = evenTile(extents.n, extents.staticN, 8 * sizes.nr, sizes.nr);
  if (2 * extents.batch * extents.m * extents.n * extents.k < kMinSplitFlops)
    return sizes;
  auto tiles = [&] {
    return extents.batch * llvm::divideCeil(extents.m, sizes.mc) *
           llvm::divideCeil(extents.n, sizes.nc);
  };
  auto half = [](int64_t size, int64_t unit) {
    return std::max(unit, size / 2 / unit * unit);
  };
  while (tiles() < kMinTiles) {
    if (sizes.nc > 2 * sizes.nr && extents.n > 2 * sizes.nr)
      sizes.nc = evenTile(extents.n, extents.staticN, half(sizes.nc, sizes.nr),
                          sizes.nr);
    else if (sizes.mc > sizes.mr)
      sizes.mc = evenTile(extents.m, extents.staticM, half(sizes.mc, sizes.mr),
                          sizes.mr);
    else
      break;
  }
  return sizes;
}

/// Whether `op` is a contraction this pass tiles: tensors, one M, one N and
/// one K loop (any number of batch loops), floating-point elements.
std::optional<SmallVector<Role>> contractionRoles(linalg::LinalgOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInits() != 1 ||
      op.getNumDpsInputs() != 2)
    return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.empty() || dims->n.empty() ||
      dims->k.size() != 1 || !linalg::isaContractionOpInterface(op))
    return std::nullopt;
  auto type = cast<RankedTensorType>(op.getDpsInits()[0].getType());
  if (!isa<FloatType>(type.getElementType()))
    return std::nullopt;
  // Several M (or N) loops, e.g. the images and the pixels of a
  // convolution's patches: the one innermost in the result is the tiles'
  // M (N); the others are walked one index at a time, like batches.
  AffineMap result = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  auto innermost = [&](ArrayRef<unsigned> loops) {
    unsigned best = loops.front();
    int64_t bestPosition = -1;
    for (unsigned loop : loops)
      if (std::optional<unsigned> position =
              result.getResultPosition(getAffineDimExpr(loop, op.getContext()));
          position && static_cast<int64_t>(*position) > bestPosition) {
        best = loop;
        bestPosition = *position;
      }
    return best;
  };
  SmallVector<Role> roles(op.getNumLoops(), Role::Batch);
  roles[innermost(dims->m)] = Role::M;
  roles[innermost(dims->n)] = Role::N;
  roles[dims->k.front()] = Role::K;
  return roles;
}

/// A generic contraction with one M, one N and one K loop (a matmul with
/// transposed operands, as Kiln lowers them) as a linalg.matmul with the
/// same indexing maps: the vectorizer turns named contractions, not
/// generics, into vector.contract. Leaves other ops alone.
void nameMatmul(RewriterBase &rewriter, linalg::GenericOp op) {
  if (op.getNumLoops() != 3 || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || !linalg::isaContractionOpInterface(op))
    return;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.size() != 1 || dims->n.size() != 1 ||
      dims->k.size() != 1 || !dims->batch.empty())
    return;
  // linalg.matmul iterates (m, n, k); its maps say which operand is
  // transposed.
  MLIRContext *context = op.getContext();
  SmallVector<AffineExpr> canonical(3);
  canonical[dims->m.front()] = getAffineDimExpr(0, context);
  canonical[dims->n.front()] = getAffineDimExpr(1, context);
  canonical[dims->k.front()] = getAffineDimExpr(2, context);
  SmallVector<Attribute> maps;
  for (AffineMap map : op.getIndexingMapsArray()) {
    if (!map.isProjectedPermutation() || map.getNumResults() != 2)
      return;
    maps.push_back(
        AffineMapAttr::get(map.replaceDimsAndSymbols(canonical, {}, 3, 0)));
  }
  rewriter.setInsertionPoint(op);
  auto matmul = linalg::MatmulOp::create(
      rewriter, op.getLoc(), op->getResultTypes(), op.getDpsInputs(),
      op.getDpsInits(),
      {rewriter.getNamedAttr("indexing_maps", rewriter.getArrayAttr(maps))});
  if (failed(mlir::verify(matmul))) {
    rewriter.eraseOp(matmul);
    return;
  }
  rewriter.replaceOp(op, matmul->getResults());
}

/// The elementwise op that is the only user of `op`'s result and reads it
/// with the same iteration space (bias add, activation), or null.
linalg::GenericOp epilogueOf(linalg::LinalgOp op) {
  Value result = op->getResult(0);
  if (!result.hasOneUse())
    return {};
  auto user = dyn_cast<linalg::GenericOp>(*result.getUsers().begin());
  if (!user || !user.hasPureTensorSemantics() || user.getNumDpsInits() != 1 ||
      user.getNumLoops() != user.getNumParallelLoops())
    return {};
  OpOperand &use = *result.getUses().begin();
  OpOperand *init = user.getDpsInitOperand(0);
  if (user.isDpsInit(&use))
    return user.getMatchingIndexingMap(&use).isIdentity() ? user
                                                          : linalg::GenericOp();
  AffineMap read = user.getMatchingIndexingMap(&use);
  AffineMap write = user.getMatchingIndexingMap(init);
  if (!read.isIdentity() || !write.isIdentity() ||
      user->getResult(0).getType() != result.getType() ||
      !user.getMatchingBlockArgument(init).use_empty())
    return {};
  return user;
}

/// Rewrites epilogue `user` of `op` to update the contraction's result in
/// place: `generic ins(%c, %bias) outs(%empty)` becomes `generic ins(%bias)
/// outs(%c)`, its body reading the element from the output. The
/// contraction then accumulates into the final buffer and the epilogue
/// rewrites each element where it is, with no temporary tile.
linalg::GenericOp makeInPlace(RewriterBase &rewriter, linalg::LinalgOp op,
                              linalg::GenericOp user) {
  Value result = op->getResult(0);
  OpOperand &use = *result.getUses().begin();
  if (user.isDpsInit(&use))
    return user;
  unsigned position = use.getOperandNumber();
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  for (OpOperand *input : user.getDpsInputOperands())
    if (input->getOperandNumber() != position) {
      inputs.push_back(input->get());
      maps.push_back(user.getMatchingIndexingMap(input));
    }
  maps.push_back(user.getMatchingIndexingMap(user.getDpsInitOperand(0)));
  rewriter.setInsertionPoint(user);
  auto inPlace = linalg::GenericOp::create(
      rewriter, user.getLoc(), user->getResultTypes(), inputs,
      ValueRange{result}, maps, user.getIteratorTypesArray());
  // The body: the old one, with the contraction's element now the output
  // argument (the old output argument was unused).
  Region &body = inPlace.getRegion();
  rewriter.inlineRegionBefore(user.getRegion(), body, body.end());
  Block &block = body.front();
  BlockArgument element = block.getArgument(position);
  BlockArgument oldOutput = block.getArguments().back();
  rewriter.replaceAllUsesWith(element, oldOutput);
  block.eraseArgument(position);
  rewriter.replaceOp(user, inPlace->getResults());
  return inPlace;
}

/// Tile sizes as OpFoldResults.
SmallVector<OpFoldResult> asSizes(MLIRContext *context,
                                  ArrayRef<int64_t> sizes) {
  return getAsIndexOpFoldResult(context, sizes);
}

/// Tiles `op` with `sizes` (0: not tiled) using scf.for and replaces it.
FailureOr<scf::SCFTilingResult>
tile(RewriterBase &rewriter, linalg::LinalgOp op, ArrayRef<int64_t> sizes) {
  scf::SCFTilingOptions options;
  options.setTileSizes(asSizes(op.getContext(), sizes));
  rewriter.setInsertionPoint(op);
  FailureOr<scf::SCFTilingResult> tiled = scf::tileUsingSCF(
      rewriter, cast<TilingInterface>(op.getOperation()), options);
  if (failed(tiled))
    return failure();
  rewriter.replaceOp(op, tiled->replacements);
  return tiled;
}

/// The linalg op of `ops` that is a contraction (the tiled one), or null.
linalg::LinalgOp findContraction(ArrayRef<Operation *> ops) {
  for (Operation *op : ops)
    if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op))
      if (contractionRoles(linalgOp))
        return linalgOp;
  return {};
}

class ContractionTiler {
public:
  ContractionTiler(RewriterBase &rewriter, int64_t vectorBits)
      : rewriter(rewriter), vectorBits(vectorBits) {}

  /// Tiles one contraction (and what is fused with it). Leaves the IR
  /// valid, tiled or not, whatever step fails.
  void run(linalg::LinalgOp op) {
    std::optional<SmallVector<Role>> roles = contractionRoles(op);
    if (!roles)
      return;
    auto type = cast<RankedTensorType>(op.getDpsInits()[0].getType());
    TileSizes sizes =
        chooseTileSizes(vectorBits, type.getElementTypeBitWidth(),
                        extentsOf(*roles, op.getStaticLoopRanges()));
    linalg::LinalgOp cacheTile = tileCaches(op, *roles, sizes);
    if (!cacheTile)
      return;
    // Inside the cache tile: the K panel, then the register tiles.
    auto bySize = [&](int64_t batch, int64_t m, int64_t n, int64_t k) {
      return llvm::map_to_vector(*roles, [&](Role role) {
        switch (role) {
        case Role::Batch:
          return batch;
        case Role::M:
          return m;
        case Role::N:
          return n;
        case Role::K:
          return k;
        }
        return int64_t(0);
      });
    };
    FailureOr<scf::SCFTilingResult> panel =
        tile(rewriter, cacheTile, bySize(0, 0, 0, sizes.kc));
    if (failed(panel))
      return;
    linalg::LinalgOp inPanel = findContraction(panel->tiledOps);
    if (!inPanel)
      return;
    // The last panel is shorter when KC does not divide K: peeled off, every
    // panel has a static depth (a dynamic one would keep its register tiles
    // from being vectorized).
    SmallVector<linalg::LinalgOp> panels = {inPanel};
    for (LoopLikeOpInterface loop : panel->loops)
      if (auto forOp = dyn_cast<scf::ForOp>(loop.getOperation())) {
        scf::ForOp partial;
        if (succeeded(
                scf::peelForLoopAndSimplifyBounds(rewriter, forOp, partial)))
          partial.walk([&](linalg::LinalgOp inner) {
            if (contractionRoles(inner))
              panels.push_back(inner);
          });
      }
    for (linalg::LinalgOp inner : panels)
      tileRegisters(inner, bySize(1, sizes.mr, sizes.nr, 0));
  }

  /// Tiles a panel's contraction into register tiles, the full ones peeled
  /// from the edges (they have static shapes and vectorize without masks).
  void tileRegisters(linalg::LinalgOp op, ArrayRef<int64_t> sizes) {
    FailureOr<scf::SCFTilingResult> registers = tile(rewriter, op, sizes);
    if (failed(registers))
      return;
    for (LoopLikeOpInterface loop : llvm::reverse(registers->loops)) {
      auto forOp = dyn_cast<scf::ForOp>(loop.getOperation());
      scf::ForOp partial;
      if (forOp)
        (void)scf::peelForLoopAndSimplifyBounds(rewriter, forOp, partial);
    }
  }

  /// Vectorizes `op` if it is a register tile: static shapes no larger
  /// than MR x NR (one batch index). One step of K per iteration, the
  /// accumulator a vector; larger or dynamic ones stay loops.
  void vectorizeRegisterTile(linalg::LinalgOp op) {
    std::optional<SmallVector<Role>> roles = contractionRoles(op);
    if (!roles || !op.hasPureTensorSemantics() ||
        llvm::any_of(op->getOperandTypes(), [](Type t) {
          auto shaped = dyn_cast<ShapedType>(t);
          return shaped && !shaped.hasStaticShape();
        }))
      return;
    auto type = cast<RankedTensorType>(op.getDpsInits()[0].getType());
    int64_t lanes =
        std::max<int64_t>(vectorBits / type.getElementTypeBitWidth(), 1);
    SmallVector<int64_t> bounds = op.getStaticLoopRanges();
    SmallVector<int64_t> kByOne;
    int64_t m = 1, n = 1;
    for (auto [role, bound] : llvm::zip_equal(*roles, bounds)) {
      if (role == Role::Batch && bound != 1)
        return;
      if (role == Role::M)
        m = bound;
      if (role == Role::N)
        n = bound;
      kByOne.push_back(role == Role::K ? 1 : 0);
    }
    // A register tile: its accumulators fit in the register budget.
    if (m * ((n + lanes - 1) / lanes) > accumulatorRegisters(vectorBits))
      return;
    linalg::LinalgOp step = op;
    if (bounds[llvm::find(*roles, Role::K) - roles->begin()] > 1) {
      FailureOr<scf::SCFTilingResult> steps = tile(rewriter, op, kByOne);
      if (failed(steps))
        return;
      step = findContraction(steps->tiledOps);
    }
    if (!step || failed(linalg::vectorizeOpPrecondition(step)))
      return;
    rewriter.setInsertionPoint(step);
    FailureOr<linalg::VectorizationResult> vectorized = linalg::vectorize(
        rewriter, step, /*inputVectorSizes=*/{}, /*inputScalableVecDims=*/{},
        /*vectorizeNDExtract=*/false, /*flatten1DDepthwiseConv=*/false,
        /*assumeDynamicDimsMatchVecSizes=*/false,
        /*createNamedContraction=*/true);
    if (succeeded(vectorized))
      rewriter.replaceOp(step, vectorized->replacements);
  }

private:
  /// Tiles the contraction, or its epilogue with the contraction fused in,
  /// into MC x NC tiles (one per batch index); the accumulator's fill is
  /// fused too. Returns the contraction inside the tile.
  linalg::LinalgOp tileCaches(linalg::LinalgOp op, ArrayRef<Role> roles,
                              const TileSizes &sizes) {
    linalg::GenericOp epilogue = epilogueOf(op);
    if (epilogue)
      epilogue = makeInPlace(rewriter, op, epilogue);
    Operation *root = epilogue ? epilogue.getOperation() : op.getOperation();
    // The root's loops: the contraction's own, or the epilogue's, which
    // follow the contraction's result dimensions (its maps are identities).
    SmallVector<int64_t> rootSizes;
    auto sizeOf = [&](Role role) -> int64_t {
      return role == Role::Batch ? 1
             : role == Role::M   ? sizes.mc
             : role == Role::N   ? sizes.nc
                                 : 0;
    };
    if (epilogue) {
      AffineMap result = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
      for (AffineExpr expr : result.getResults())
        rootSizes.push_back(
            sizeOf(roles[cast<AffineDimExpr>(expr).getPosition()]));
    } else {
      for (Role role : roles)
        rootSizes.push_back(sizeOf(role));
    }
    Operation *init = op.getDpsInits()[0].getDefiningOp();
    scf::SCFTileAndFuseOptions options;
    options.tilingOptions.setTileSizes(asSizes(op.getContext(), rootSizes));
    // The cache tiles are independent: they run in parallel
    // (kiln-cpu-parallel-loops hands them to the runtime's threads).
    options.tilingOptions.setLoopType(
        scf::SCFTilingOptions::LoopType::ForallOp);
    // Fuse the contraction into its epilogue's tiles and the fill into the
    // contraction's; the operands' producers would be recomputed per tile.
    options.setFusionControlFn(
        [&](tensor::ExtractSliceOp, OpResult producer, bool)
            -> std::optional<scf::SCFTileAndFuseOptions::ControlFnResult> {
          Operation *owner = producer.getOwner();
          if (owner == op.getOperation() ||
              (owner == init && isa<linalg::FillOp>(owner)))
            return scf::SCFTileAndFuseOptions::ControlFnResult{};
          return std::nullopt;
        });
    rewriter.setInsertionPoint(root);
    FailureOr<scf::SCFTileAndFuseResult> fused =
        scf::tileConsumerAndFuseProducersUsingSCF(
            rewriter, cast<TilingInterface>(root), options);
    if (failed(fused))
      return {};
    for (OpResult result : root->getResults())
      if (Value replacement = fused->replacements.lookup(result))
        rewriter.replaceAllUsesWith(result, replacement);
    SmallVector<Operation *> originals = {root};
    if (epilogue)
      originals.push_back(op);
    if (init)
      originals.push_back(init);
    for (Operation *original : originals)
      if (original->use_empty())
        rewriter.eraseOp(original);
    return findContraction(llvm::to_vector(fused->tiledAndFusedOps));
  }

  RewriterBase &rewriter;
  int64_t vectorBits;
};

struct CPUTileContractionsPass
    : public mlir::kiln::impl::KilnCPUTileContractionsBase<
          CPUTileContractionsPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    IRRewriter rewriter(&getContext());
    SmallVector<linalg::GenericOp> generics;
    func.walk([&](linalg::GenericOp op) { generics.push_back(op); });
    for (linalg::GenericOp op : generics)
      nameMatmul(rewriter, op);
    SmallVector<linalg::LinalgOp> contractions;
    func.walk([&](linalg::LinalgOp op) {
      if (contractionRoles(op))
        contractions.push_back(op);
    });
    if (contractions.empty())
      return;
    ContractionTiler tiler(rewriter, vectorBits);
    for (linalg::LinalgOp op : contractions)
      tiler.run(op);
    // The tiles' sizes fold to constants where the loops' bounds allow (all
    // full tiles, and edge tiles of static shapes).
    if (failed(kiln::cpu::simplifyTiles(func, /*lowerMultiReductions=*/false)))
      return signalPassFailure();
    // Then every register tile (full tiles and static edge tiles alike).
    SmallVector<linalg::LinalgOp> tiles;
    func.walk([&](linalg::LinalgOp op) {
      if (contractionRoles(op))
        tiles.push_back(op);
    });
    for (linalg::LinalgOp op : tiles)
      tiler.vectorizeRegisterTile(op);
    if (failed(kiln::cpu::simplifyTiles(func, /*lowerMultiReductions=*/false)))
      return signalPassFailure();
    // Keep the accumulator in registers: its read and write of the C tile
    // move out of the K loop (the loop then carries a vector).
    SmallVector<LoopLikeOpInterface> loops;
    func.walk([&](scf::ForOp loop) {
      if (!loop.getBody()->getOps<vector::ContractionOp>().empty())
        loops.push_back(loop);
    });
    for (LoopLikeOpInterface loop : loops) {
      moveLoopInvariantCode(loop);
      (void)hoistLoopInvariantSubsets(rewriter, loop);
    }
    if (failed(kiln::cpu::simplifyTiles(func, /*lowerMultiReductions=*/false)))
      signalPassFailure();
  }
};

} // namespace
