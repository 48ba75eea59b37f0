//===- VectorizeLoops.cpp - Elementwise and reduction loops vectorized ----===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-cpu-vectorize-loops: linalg ops on buffers that are not
// contractions (elementwise chains, reductions over outer dimensions,
// broadcasts, patch copies) are tiled into one vector along their innermost
// loop and vectorized with the linalg vectorizer, instead of being left to
// LLVM's loop vectorizer: that one often unrolls a short innermost loop (the
// 16 channels of a feature map) before it vectorizes, and then vectorizes
// the next loop out with gathers and scatters.
//
// It runs after bufferization: tile loops on tensors whose init is a
// variable's buffer defeat one-shot bufferization's analysis (an scf.for
// whose result is materialized into its own init is reported as a RaW
// conflict), and loops would keep the variables' updates from being computed
// in place. On buffers the tiles are subviews and nothing is copied.
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/CPU/Passes.h"

#include "Simplify.h"
#include "Tiling.h"

#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/CSE.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNCPUVECTORIZELOOPS
#include "kiln/Codegen/CPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

/// Marks the tiles this pass made until they are vectorized.
constexpr llvm::StringLiteral kTileMarker = "kiln.vector_tile";

/// Upstream's vectorizer (LLVM 22) takes an op whose body combines its
/// output's old value (add, mul, ...) with a value computed from
/// linalg.index for a reduction even when every loop is parallel: the index
/// vector has only the innermost dimension, the shapes differ, and it builds
/// a vector.multi_reduction over no dimensions that does not verify. An
/// all-parallel op on buffers reads each output element at the iteration
/// that writes it, so the old value is read through an input on the same
/// buffer instead (a one-hot mask applied in place to a product's result
/// came out like this).
void readOutputThroughInput(RewriterBase &rewriter, linalg::GenericOp op) {
  if (op.getNumReductionLoops() != 0 || op.getNumDpsInits() != 1 ||
      op.getBody()->getOps<linalg::IndexOp>().empty())
    return;
  OpOperand *init = op.getDpsInitOperand(0);
  BlockArgument old = op.getMatchingBlockArgument(init);
  if (old.use_empty())
    return;
  unsigned position = op.getNumDpsInputs();
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  maps.insert(maps.begin() + position, op.getMatchingIndexingMap(init));
  rewriter.modifyOpInPlace(op, [&] {
    op.getInputsMutable().append(init->get());
    op.setIndexingMapsAttr(rewriter.getAffineMapArrayAttr(maps));
    BlockArgument input = op.getBody()->insertArgument(
        position, old.getType(), old.getLoc());
    old.replaceAllUsesWith(input);
  });
}

/// The vector width in elements of `op`'s output, or 0 if `op` is not a
/// candidate: buffers, one output, every operand of int or float elements
/// of at least 8 bits (a vector of i1 in memory is packed bits, not bytes),
/// projected permutation maps, a parallel innermost loop of at least 4
/// iterations that every operand either walks contiguously (its last
/// dimension) or does not use (a broadcast), and not a contraction or
/// convolution (those have their own strategies).
int64_t candidateLanes(linalg::LinalgOp op, int64_t vectorBits) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInits() != 1 ||
      op.getNumLoops() == 0 || linalg::isaContractionOpInterface(op) ||
      linalg::isaConvolutionOpInterface(op))
    return 0;
  for (OpOperand &operand : op->getOpOperands()) {
    Type element = getElementTypeOrSelf(operand.get().getType());
    if (!element.isIntOrFloat() || element.getIntOrFloatBitWidth() < 8)
      return 0;
  }
  unsigned last = op.getNumLoops() - 1;
  if (op.getIteratorTypesArray()[last] != utils::IteratorType::parallel)
    return 0;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (!ShapedType::isDynamic(ranges[last]) && ranges[last] < 4)
    return 0;
  AffineExpr innermost = getAffineDimExpr(last, op.getContext());
  for (OpOperand &operand : op->getOpOperands()) {
    AffineMap map = op.getMatchingIndexingMap(&operand);
    if (!map.isProjectedPermutation())
      return 0;
    if (map.isFunctionOfDim(last) &&
        (map.getNumResults() == 0 || map.getResults().back() != innermost))
      return 0;
    // The innermost dimension of each buffer must be contiguous.
    if (auto type = dyn_cast<MemRefType>(operand.get().getType()))
      if (type.getRank() > 0 && !type.getLayout().isIdentity()) {
        SmallVector<int64_t> strides;
        int64_t offset;
        if (failed(type.getStridesAndOffset(strides, offset)) ||
            strides.back() != 1)
          return 0;
      }
  }
  Type element = getElementTypeOrSelf(op.getDpsInits()[0].getType());
  return std::max<int64_t>(vectorBits / element.getIntOrFloatBitWidth(), 1);
}

/// For a transpose (one input whose innermost dimension is walked by a loop
/// other than the output's innermost one, every loop parallel, static
/// or open extents of at least `lanes` along both loops, contiguous innermost
/// dimensions, elements of at least 8 bits): the loop that walks the
/// input's innermost dimension. Such an op fails `candidateLanes` (the
/// input is not contiguous along the innermost loop); it is tiled into
/// `lanes` x `lanes` blocks instead, each a vector read along the input's
/// rows, a vector.transpose and a vector write along the output's rows.
std::optional<unsigned> transposedLoop(linalg::LinalgOp op, int64_t lanes) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInits() != 1 ||
      op.getNumDpsInputs() != 1 || op.getNumLoops() < 2 ||
      op.getNumParallelLoops() != op.getNumLoops())
    return std::nullopt;
  unsigned last = op.getNumLoops() - 1;
  AffineMap in = op.getMatchingIndexingMap(op.getDpsInputOperand(0));
  AffineMap out = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  if (!in.isProjectedPermutation() || !out.isPermutation() ||
      in.getNumResults() < 2 || out.getDimPosition(out.getNumResults() - 1) !=
                                     last)
    return std::nullopt;
  unsigned t = in.getDimPosition(in.getNumResults() - 1);
  if (t == last || !in.isFunctionOfDim(last))
    return std::nullopt;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  for (unsigned loop : {t, last})
    if (!ShapedType::isDynamic(ranges[loop]) && ranges[loop] < lanes)
      return std::nullopt;
  for (OpOperand &operand : op->getOpOperands()) {
    auto type = cast<MemRefType>(operand.get().getType());
    Type element = type.getElementType();
    if (!element.isIntOrFloat() || element.getIntOrFloatBitWidth() < 8)
      return std::nullopt;
    SmallVector<int64_t> strides;
    int64_t offset;
    if (failed(type.getStridesAndOffset(strides, offset)) ||
        strides.back() != 1)
      return std::nullopt;
  }
  return t;
}

struct CPUVectorizeLoopsPass
    : public mlir::kiln::impl::KilnCPUVectorizeLoopsBase<
          CPUVectorizeLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    // Each candidate with its vector width and, for a transpose, the loop
    // that walks its input's innermost dimension.
    struct Candidate {
      linalg::LinalgOp op;
      int64_t lanes;
      std::optional<unsigned> transposed;
    };
    SmallVector<Candidate> candidates;
    getOperation()->walk([&](linalg::LinalgOp op) {
      if (int64_t lanes = candidateLanes(op, vectorBits)) {
        candidates.push_back({op, lanes, std::nullopt});
        return;
      }
      if (!op.hasPureBufferSemantics() || op.getNumDpsInits() != 1)
        return;
      Type element = getElementTypeOrSelf(op.getDpsInits()[0].getType());
      if (!element.isIntOrFloat())
        return;
      int64_t lanes =
          std::max<int64_t>(vectorBits / element.getIntOrFloatBitWidth(), 1);
      if (std::optional<unsigned> t = transposedLoop(op, lanes))
        candidates.push_back({op, lanes, t});
    });
    IRRewriter rewriter(&getContext());
    bool tiledAny = false;
    for (auto [op, lanes, transposed] : candidates) {
      // One vector along the innermost loop, one iteration of the others; a
      // transpose, a square block of lanes x lanes.
      SmallVector<int64_t> sizes(op.getNumLoops(), 1);
      sizes.back() = lanes;
      if (transposed)
        sizes[*transposed] = lanes;
      linalg::LinalgTilingOptions options;
      options.setTileSizes(sizes);
      rewriter.setInsertionPoint(op);
      FailureOr<linalg::TiledLinalgOp> tiled =
          linalg::tileLinalgOp(rewriter, op, options);
      if (failed(tiled))
        continue;
      rewriter.eraseOp(op);
      // The marker names the transposed loop of a transpose's block.
      tiled->op->setAttr(kTileMarker,
                         transposed ? Attribute(rewriter.getI64IntegerAttr(
                                          *transposed))
                                    : Attribute(rewriter.getUnitAttr()));
      tiledAny = true;
      // The partial vector at the end of the innermost loop is peeled off
      // (the copy of the body keeps the marker): it has a static size when
      // the extent is static. So are a transpose's partial blocks.
      for (Operation *loop : llvm::reverse(tiled->loops)) {
        auto forOp = dyn_cast<scf::ForOp>(loop);
        scf::ForOp partial;
        if (forOp && (loop == tiled->loops.back() ||
                      (transposed && !isConstantIntValue(
                                         forOp.getStep(), 1))))
          (void)scf::peelForLoopAndSimplifyBounds(rewriter, forOp, partial);
      }
    }
    if (!tiledAny)
      return;
    if (failed(kiln::cpu::simplifyTiles(getOperation(),
                                        /*lowerMultiReductions=*/true)))
      return signalPassFailure();
    // Simplified, the tiles have static shapes where the extents are
    // static: one iteration of every loop but the innermost, which has at
    // most one vector. Those are vectorized. The remainder of an open
    // innermost extent is vectorized with masks when its elements are
    // floats (masked-off lanes compute on padding; an integer division
    // there could trap); the others stay scalar loops.
    SmallVector<std::pair<linalg::LinalgOp, SmallVector<int64_t>>> tiles;
    getOperation()->walk([&](linalg::LinalgOp op) {
      Attribute marker = op->removeAttr(kTileMarker);
      if (!marker)
        return;
      std::optional<int64_t> transposed;
      if (auto loop = dyn_cast<IntegerAttr>(marker))
        transposed = loop.getInt();
      int64_t lanes = std::max<int64_t>(
          vectorBits / getElementTypeOrSelf(op.getDpsInits()[0].getType())
                           .getIntOrFloatBitWidth(),
          1);
      SmallVector<int64_t> ranges = op.getStaticLoopRanges();
      SmallVector<int64_t> bounds = kiln::cpu::loopUpperBounds(op);
      for (auto [i, bound] : llvm::enumerate(bounds)) {
        bool vectorLoop = i + 1 == bounds.size() ||
                          (transposed && static_cast<int64_t>(i) == *transposed);
        if (ShapedType::isDynamic(bound) ||
            (vectorLoop ? bound > lanes : bound != 1))
          return;
      }
      bool open = llvm::any_of(ranges, ShapedType::isDynamic);
      if (open && !llvm::all_of(op->getOperandTypes(), [](Type type) {
            return isa<FloatType>(getElementTypeOrSelf(type));
          }))
        return;
      // A partial block of a transpose of rank 3 or more stays a scalar
      // loop: its read is masked, and upstream's lowering of a masked read
      // whose permutation skips a unit dimension ((d2, d0) of a 16x1x16
      // tile) applies the mask transposed (LLVM 22; found by the random
      // programs: a [1, 2, 0] transpose of 20x3x37 lost 300 elements).
      if (transposed && op.getNumLoops() > 2 &&
          (open || bounds.back() != lanes || bounds[*transposed] != lanes))
        return;
      if (open)
        bounds.back() = llvm::alignTo(bounds.back(), lanes);
      tiles.push_back({op, open ? bounds : SmallVector<int64_t>()});
    });
    for (auto &[op, vectorSizes] : tiles) {
      if (auto generic = dyn_cast<linalg::GenericOp>(op.getOperation()))
        readOutputThroughInput(rewriter, generic);
      if (failed(linalg::vectorizeOpPrecondition(op, vectorSizes)))
        continue;
      rewriter.setInsertionPoint(op);
      // One flag per vector size (the vectorizer reads them when it masks).
      SmallVector<bool> scalable(vectorSizes.size(), false);
      FailureOr<linalg::VectorizationResult> vectorized =
          linalg::vectorize(rewriter, op, vectorSizes, scalable);
      if (succeeded(vectorized))
        rewriter.eraseOp(op);
    }
    if (failed(kiln::cpu::simplifyTiles(getOperation(),
                                        /*lowerMultiReductions=*/true)))
      signalPassFailure();
  }
};

} // namespace
