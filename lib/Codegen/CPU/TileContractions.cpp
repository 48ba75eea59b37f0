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
#include "kiln/Transforms/MultiplyAdd.h"

#include "Simplify.h"
#include "Tiling.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Interfaces/ValueBoundsOpInterface.h"
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
constexpr int64_t kLargeB = 8 << 20;
constexpr int64_t kMinSplitFlops = 4 << 20;

/// The tile sizes for a contraction of `extents` on elements of `bits`
/// bits with `vectorBits`-bit vector registers.
///
/// Register tile: NR is two vectors (one when N fits in one) and MR as many
/// rows as keep the accumulators within the register budget: 8 x 2 zmm
/// with AVX-512, 6 x 2 ymm with AVX2, 16 x 1 and 12 x 1 for narrow N
/// (a 16-channel convolution), so that enough independent FMAs are in
/// flight. Cache tiles: up to 8 register tiles each way (32 register rows
/// when B exceeds kLargeB: see the pass description), made to divide M
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
  sizes.mr = kiln::cpu::accumulatorRegisters(vectorBits) / (sizes.nr / lanes);
  sizes.kc = 256;
  // A B larger than kLargeB bytes does not stay in the caches between two
  // cache rows of C: taller C tiles (32 register rows) stream it fewer times.
  int64_t bBytes = extents.k * extents.n * static_cast<int64_t>(bits / 8);
  int64_t mcRows = bBytes > kLargeB ? 32 : 8;
  sizes.mc = evenTile(extents.m, extents.staticM, mcRows * sizes.mr, sizes.mr);
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
  // (Only a body that is exactly acc + a * b: a fused negation or other
  // unary op on an operand, which isaContractionOpInterface accepts, would
  // be lost in the named op.)
  if (op.getNumLoops() != 3 || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || !kiln::matchMultiplyAdd(op))
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

/// A matmul whose B is stored N x K (`transpose_rhs`, as the gradient of a
/// dense layer's input uses it) as a plain matmul that reads one transposed
/// copy of B (K x N): each register tile then reads its B rows as whole
/// vectors, instead of gathering NR elements K apart for every step of K
/// (4x to 12x slower, 13 GFLOP/s at 1024^3). The copy is a transpose in
/// square blocks (`kiln-cpu-vectorize-loops`) and costs K x N moves
/// against 2 M K N flops: matmuls of fewer than `kMinTransposeRows` rows
/// keep their strided reads (an open M counts as many rows).
constexpr int64_t kMinTransposeRows = 16;

void transposeB(RewriterBase &rewriter, linalg::MatmulOp op) {
  if (!op.hasPureTensorSemantics())
    return;
  MLIRContext *context = op.getContext();
  AffineExpr m = getAffineDimExpr(0, context), n = getAffineDimExpr(1, context),
             k = getAffineDimExpr(2, context);
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (maps.size() != 3 || maps[1] != AffineMap::get(3, 0, {n, k}, context) ||
      maps[2] != AffineMap::get(3, 0, {m, n}, context))
    return;
  int64_t rows = op.getStaticLoopRanges()[0];
  if (!ShapedType::isDynamic(rows) && rows < kMinTransposeRows)
    return;
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  Value b = op.getDpsInputs()[1];
  auto type = cast<RankedTensorType>(b.getType());
  SmallVector<OpFoldResult> extents = tensor::getMixedSizes(rewriter, loc, b);
  Value empty = tensor::EmptyOp::create(rewriter, loc,
                                        {extents[1], extents[0]},
                                        type.getElementType());
  Value transposed =
      linalg::TransposeOp::create(rewriter, loc, b, empty,
                                  ArrayRef<int64_t>{1, 0})
          ->getResult(0);
  SmallVector<Attribute> plain = {
      AffineMapAttr::get(maps[0]),
      AffineMapAttr::get(AffineMap::get(3, 0, {k, n}, context)),
      AffineMapAttr::get(maps[2])};
  auto matmul = linalg::MatmulOp::create(
      rewriter, loc, op->getResultTypes(),
      ValueRange{op.getDpsInputs()[0], transposed}, op.getDpsInits(),
      {rewriter.getNamedAttr("indexing_maps", rewriter.getArrayAttr(plain))});
  rewriter.replaceOp(op, matmul->getResults());
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
    int64_t stride = bStride(op, *roles);
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
        kiln::cpu::tileWithLoops(rewriter, cacheTile, bySize(0, 0, 0, sizes.kc));
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
    for (linalg::LinalgOp inner : panels) {
      std::optional<unsigned> b = bOperand(inner, *roles);
      Value panel = b ? inner->getOperand(*b) : Value();
      Value packed = packB(inner, *roles, sizes, stride);
      std::optional<SmallVector<linalg::LinalgOp>> tiles =
          tileRegisters(inner, bySize(1, sizes.mr, sizes.nr, 0));
      if (packed && tiles)
        readPackedB(*tiles, panel, packed, sizes.nr);
    }
  }

  /// The distance in elements between consecutive K rows of B in memory:
  /// B's innermost extent when B is a K x N operand, else 0.
  static int64_t bStride(linalg::LinalgOp op, ArrayRef<Role> roles) {
    std::optional<unsigned> b = bOperand(op, roles);
    if (!b)
      return 0;
    auto type = cast<RankedTensorType>(op->getOperand(*b).getType());
    return type.hasStaticShape() ? type.getShape().back() : 0;
  }

  /// The input of `op` that is B of a 2-D contraction (K x N, row-major: its
  /// map is (k, n)), or nothing.
  static std::optional<unsigned> bOperand(linalg::LinalgOp op,
                                          ArrayRef<Role> roles) {
    if (op.getNumLoops() != 3)
      return std::nullopt;
    for (OpOperand *input : op.getDpsInputOperands()) {
      AffineMap map = op.getMatchingIndexingMap(input);
      if (map.getNumResults() != 2 || !map.isProjectedPermutation())
        continue;
      unsigned rows = map.getDimPosition(0), cols = map.getDimPosition(1);
      if (roles[rows] == Role::K && roles[cols] == Role::N)
        return input->getOperandNumber();
    }
    return std::nullopt;
  }

  /// Packs the B panel (KC x NC) of a panel's contraction into NC / NR
  /// contiguous micro-panels (KC x NR each), where it pays: B's rows are
  /// far apart in memory (a row stride of at least kPackStride elements:
  /// each K step of a register tile would touch a new page and the same few
  /// L1 sets) and enough register rows (MC / MR) reuse each micro-panel.
  /// Returns the packed tensor (NC / NR x KC x NR) or null.
  Value packB(linalg::LinalgOp op, ArrayRef<Role> roles,
              const TileSizes &sizes, int64_t stride) {
    constexpr int64_t kPackStride = 1024;
    std::optional<unsigned> b = bOperand(op, roles);
    if (!b || stride < kPackStride || !op.hasPureTensorSemantics())
      return {};
    Value panel = op->getOperand(*b);
    auto type = cast<RankedTensorType>(panel.getType());
    auto result = cast<RankedTensorType>(op.getDpsInits()[0].getType());
    // The depth of a full K panel is a constant that the slice's type does
    // not show until canonicalization.
    if (auto slice = panel.getDefiningOp<tensor::ExtractSliceOp>();
        slice && !type.hasStaticShape())
      if (std::optional<SmallVector<int64_t>> shape =
              constantSizes(slice.getMixedSizes()))
        type = RankedTensorType::get(*shape, type.getElementType());
    if (!type.hasStaticShape() || !result.hasStaticShape())
      return {};
    int64_t kc = type.getDimSize(0), nc = type.getDimSize(1);
    AffineMap out = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
    int64_t mc = 1;
    for (auto [position, role] : llvm::enumerate(roles))
      if (role == Role::M)
        mc = result.getDimSize(*out.getResultPosition(
            getAffineDimExpr(position, op.getContext())));
    if (nc % sizes.nr != 0 || nc < 2 * sizes.nr || mc < 16 * sizes.mr)
      return {};
    Location loc = op.getLoc();
    rewriter.setInsertionPoint(op);
    if (panel.getType() != type)
      panel = tensor::CastOp::create(rewriter, loc, type, panel);
    Type element = type.getElementType();
    auto split = RankedTensorType::get({kc, nc / sizes.nr, sizes.nr}, element);
    Value rows = tensor::ExpandShapeOp::create(
        rewriter, loc, split, panel,
        ArrayRef<ReassociationIndices>{{0}, {1, 2}});
    Value empty = tensor::EmptyOp::create(
        rewriter, loc, ArrayRef<int64_t>{nc / sizes.nr, kc, sizes.nr}, element);
    return linalg::TransposeOp::create(rewriter, loc, rows, empty,
                                       ArrayRef<int64_t>{1, 0, 2})
        ->getResult(0);
  }

  /// Makes each register tile read its B micro-panel from `packed` (the
  /// micro-panel at column j is packed[j / NR]) instead of `panel`.
  void readPackedB(ArrayRef<linalg::LinalgOp> tiles, Value panel,
                   Value packed, int64_t nr) {
    auto packedType = cast<RankedTensorType>(packed.getType());
    int64_t kc = packedType.getDimSize(1);
    for (linalg::LinalgOp tile : tiles) {
      for (OpOperand *input : tile.getDpsInputOperands()) {
        auto slice = input->get().getDefiningOp<tensor::ExtractSliceOp>();
        if (!slice || !slice.hasUnitStride() ||
            constantSizes(slice.getMixedSizes()) !=
                SmallVector<int64_t>{kc, nr} ||
            !isConstantIntValue(slice.getMixedOffsets()[0], 0))
          continue;
        if (slice.getSource() != panel)
          continue;
        rewriter.setInsertionPoint(slice);
        Location loc = slice.getLoc();
        OpFoldResult column = slice.getMixedOffsets()[1];
        AffineExpr j = rewriter.getAffineDimExpr(0);
        OpFoldResult micropanel = affine::makeComposedFoldedAffineApply(
            rewriter, loc, j.floorDiv(nr), {column});
        auto microType =
            RankedTensorType::get({kc, nr}, packedType.getElementType());
        Value micro = tensor::ExtractSliceOp::create(
            rewriter, loc, microType, packed,
            {micropanel, rewriter.getIndexAttr(0), rewriter.getIndexAttr(0)},
            {rewriter.getIndexAttr(1), rewriter.getIndexAttr(kc),
             rewriter.getIndexAttr(nr)},
            {rewriter.getIndexAttr(1), rewriter.getIndexAttr(1),
             rewriter.getIndexAttr(1)});
        if (micro.getType() != slice.getType())
          micro = tensor::CastOp::create(rewriter, loc, slice.getType(), micro);
        rewriter.modifyOpInPlace(tile, [&] { input->set(micro); });
      }
    }
  }

  /// The sizes of a slice where each is a constant (a tile size the loop's
  /// bounds fix, such as a full K panel's `min(256, K - k)` in the loop
  /// peeled of its last panel), or nothing.
  static std::optional<SmallVector<int64_t>>
  constantSizes(ArrayRef<OpFoldResult> sizes) {
    SmallVector<int64_t> constants;
    for (OpFoldResult size : sizes) {
      FailureOr<int64_t> constant =
          ValueBoundsConstraintSet::computeConstantBound(
              presburger::BoundType::EQ, size);
      if (failed(constant))
        return std::nullopt;
      constants.push_back(*constant);
    }
    return constants;
  }

  /// Tiles a panel's contraction into register tiles, the full ones peeled
  /// from the edges (they have static shapes and vectorize without masks).
  /// Returns the full register tiles (the ones in the main loops).
  std::optional<SmallVector<linalg::LinalgOp>>
  tileRegisters(linalg::LinalgOp op, ArrayRef<int64_t> sizes) {
    FailureOr<scf::SCFTilingResult> registers = kiln::cpu::tileWithLoops(rewriter, op, sizes);
    if (failed(registers))
      return std::nullopt;
    SmallVector<linalg::LinalgOp> tiles;
    for (Operation *tiled : registers->tiledOps)
      if (auto linalgOp = dyn_cast<linalg::LinalgOp>(tiled))
        tiles.push_back(linalgOp);
    for (LoopLikeOpInterface loop : llvm::reverse(registers->loops)) {
      auto forOp = dyn_cast<scf::ForOp>(loop.getOperation());
      scf::ForOp partial;
      if (forOp)
        (void)scf::peelForLoopAndSimplifyBounds(rewriter, forOp, partial);
    }
    return tiles;
  }

  /// Vectorizes `op` if it is a register tile: no larger than MR x NR (one
  /// batch index), one step of K per iteration, the accumulator a vector.
  /// Tiles with an open M or N extent (the edge tiles of an open dimension)
  /// are vectorized with masks at their largest size; larger ones stay
  /// loops.
  void vectorizeRegisterTile(linalg::LinalgOp op) {
    std::optional<SmallVector<Role>> roles = contractionRoles(op);
    if (!roles || !op.hasPureTensorSemantics())
      return;
    auto type = cast<RankedTensorType>(op.getDpsInits()[0].getType());
    int64_t lanes =
        std::max<int64_t>(vectorBits / type.getElementTypeBitWidth(), 1);
    SmallVector<int64_t> bounds = kiln::cpu::loopUpperBounds(op);
    SmallVector<int64_t> kByOne;
    int64_t m = 1, n = 1;
    for (auto [role, bound] : llvm::zip_equal(*roles, bounds)) {
      if (ShapedType::isDynamic(bound) && role != Role::K)
        return;
      if (role == Role::Batch && bound != 1)
        return;
      if (role == Role::M)
        m = bound;
      if (role == Role::N)
        n = bound;
      kByOne.push_back(role == Role::K ? 1 : 0);
    }
    // A register tile: its accumulators fit in the register budget.
    if (m * ((n + lanes - 1) / lanes) >
        kiln::cpu::accumulatorRegisters(vectorBits))
      return;
    linalg::LinalgOp step = op;
    if (bounds[llvm::find(*roles, Role::K) - roles->begin()] != 1) {
      FailureOr<scf::SCFTilingResult> steps =
          kiln::cpu::tileWithLoops(rewriter, op, kByOne);
      if (failed(steps))
        return;
      step = findContraction(steps->tiledOps);
      if (!step)
        return;
    }
    // Static shapes vectorize as they are; open ones with masks, at the
    // tile's largest size.
    SmallVector<int64_t> vectorSizes;
    if (llvm::any_of(step->getOperandTypes(), [](Type t) {
          auto shaped = dyn_cast<ShapedType>(t);
          return shaped && !shaped.hasStaticShape();
        })) {
      vectorSizes = kiln::cpu::loopUpperBounds(step);
      // Whole vectors along N (the remainder of a 32-wide tile is at most
      // 31 wide).
      for (auto [role, size] : llvm::zip_equal(*roles, vectorSizes))
        if (role == Role::N && !ShapedType::isDynamic(size))
          size = llvm::alignTo(size, lanes);
    }
    if (llvm::any_of(vectorSizes, ShapedType::isDynamic) ||
        failed(linalg::vectorizeOpPrecondition(step, vectorSizes)))
      return;
    rewriter.setInsertionPoint(step);
    // One flag per vector size (the vectorizer reads them when it masks).
    SmallVector<bool> scalable(vectorSizes.size(), false);
    FailureOr<linalg::VectorizationResult> vectorized = linalg::vectorize(
        rewriter, step, vectorSizes, scalable,
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
    SmallVector<int64_t> opSizes = llvm::map_to_vector(roles, [&](Role role) {
      return role == Role::Batch ? int64_t(1)
             : role == Role::M   ? sizes.mc
             : role == Role::N   ? sizes.nc
                                 : int64_t(0);
    });
    return kiln::cpu::tileWithEpilogue(rewriter, op, opSizes,
                                       [](Operation *tiled) {
                                         auto linalgOp =
                                             dyn_cast<linalg::LinalgOp>(tiled);
                                         return linalgOp &&
                                                contractionRoles(linalgOp);
                                       });
  }

  RewriterBase &rewriter;
  int64_t vectorBits;
};

/// Masked register tiles (open extents) compute on whole vectors: the
/// masked reads and writes of A, B and C keep them in bounds, and the
/// product of one step of K needs no mask (a lane outside the tile holds a
/// value that is never written). The contractions lose their masks, which
/// the outer-product lowering and the accumulator hoisting do not expect,
/// and the reads and writes keep theirs.
void unmaskContractions(RewriterBase &rewriter, func::FuncOp func) {
  SmallVector<vector::MaskOp> masks;
  func.walk([&](vector::MaskOp mask) {
    if (isa_and_nonnull<vector::ContractionOp>(mask.getMaskableOp()))
      masks.push_back(mask);
  });
  for (vector::MaskOp mask : masks) {
    Operation *contraction = mask.getMaskableOp();
    rewriter.setInsertionPoint(mask);
    Operation *unmasked = rewriter.clone(*contraction);
    rewriter.replaceOp(mask, unmasked->getResults());
  }
}

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
    SmallVector<linalg::MatmulOp> matmuls;
    func.walk([&](linalg::MatmulOp op) { matmuls.push_back(op); });
    for (linalg::MatmulOp op : matmuls)
      transposeB(rewriter, op);
    SmallVector<linalg::LinalgOp> contractions;
    func.walk([&](linalg::LinalgOp op) {
      // Register tiles that another pass made (a convolution's) are only
      // vectorized below.
      if (contractionRoles(op) && !op->hasAttr(kiln::cpu::kRegisterTileAttr))
        contractions.push_back(op);
    });
    if (contractions.empty() &&
        !func->walk([](linalg::LinalgOp op) {
               return op->hasAttr(kiln::cpu::kRegisterTileAttr)
                          ? WalkResult::interrupt()
                          : WalkResult::advance();
             }).wasInterrupted())
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
    unmaskContractions(rewriter, func);
    if (failed(kiln::cpu::simplifyTiles(func, /*lowerMultiReductions=*/false)))
      return signalPassFailure();
    // Keep the accumulator in registers: its read and write of the C tile
    // move out of the K loop (the loop then carries a vector), and out of
    // the reduction loops around it where their bounds are invariant (a
    // convolution's window loops), innermost first.
    SmallVector<LoopLikeOpInterface> loops;
    func.walk<WalkOrder::PostOrder>([&](scf::ForOp loop) {
      if (!loop.getBody()->getOps<vector::ContractionOp>().empty() ||
          loop->hasAttr(kiln::cpu::kAccumulatingLoopAttr))
        loops.push_back(loop);
    });
    for (LoopLikeOpInterface loop : loops) {
      moveLoopInvariantCode(loop);
      // Hoisting replaces the loop (it carries the accumulator now).
      LoopLikeOpInterface hoisted = hoistLoopInvariantSubsets(rewriter, loop);
      hoisted->removeAttr(kiln::cpu::kAccumulatingLoopAttr);
    }
    if (failed(kiln::cpu::simplifyTiles(func, /*lowerMultiReductions=*/false)))
      signalPassFailure();
  }
};

} // namespace
