//===- ParallelChunks.cpp - Large loops split for the threads -------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-cpu-parallel-chunks: every linalg op on tensors with enough work that
// is not already inside a parallel loop (elementwise chains, reductions,
// transposes, the patch copies of convolutions) is tiled along one parallel
// loop into an scf.forall of chunks, which kiln-cpu-parallel-loops later
// hands to the runtime's threads. A fill that initializes the op's output
// is fused into the chunks. Each chunk computes its outputs exactly as the
// whole op would (reductions stay inside a chunk, in their order), so the
// result is the same for any number of threads. A reduction whose parallel
// loops are too short to split becomes partial sums over chunks of its
// outermost reduction loop, combined in a fixed order.
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNCPUPARALLELCHUNKS
#include "kiln/Codegen/CPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

/// Ops with fewer loop iterations than this stay whole: a parallel loop
/// costs a few microseconds to start and a worker may join late, so a chunk
/// should be worth much more. Measured: the 784 x 128 (100352-iteration)
/// optimizer updates of an MLP step ran faster whole than in three chunks,
/// on one thread and on two.
constexpr int64_t kMinIterations = 1 << 18;
/// A copy (a body that yields one of its inputs: a convolution's patches)
/// moves memory and nothing else; it pays to split from half as many
/// iterations.
constexpr int64_t kMinCopyIterations = 1 << 17;

/// Whether `op`'s body only yields one of its inputs.
bool isCopy(linalg::LinalgOp op) {
  Block *body = op.getBlock();
  if (!body || body->getOperations().size() != 1)
    return false;
  auto yield = dyn_cast<linalg::YieldOp>(body->getTerminator());
  if (!yield || yield.getNumOperands() != 1)
    return false;
  auto argument = dyn_cast<BlockArgument>(yield.getOperand(0));
  return argument && argument.getOwner() == body &&
         argument.getArgNumber() < op.getNumDpsInputs();
}
/// The work of one chunk, in loop iterations, and the most chunks.
constexpr int64_t kChunkIterations = 1 << 15;
constexpr int64_t kMaxChunks = 64;
/// An open extent counts as this many iterations.
constexpr int64_t kOpenExtent = 1 << 10;

/// The loop of `op` to split and its chunk size, or nothing.
std::optional<std::pair<unsigned, int64_t>> chooseSplit(linalg::LinalgOp op) {
  // An operand with a fixed 0 extent means a loop of no iterations (an
  // extent of 0 never broadcasts), whatever the other operands' open
  // extents say: nothing to split. (Its slices would also break upstream's
  // rule that an offset lies inside a static dimension, even 0 of 0.)
  if (llvm::any_of(op->getOperands(), [](Value operand) {
        auto type = dyn_cast<ShapedType>(operand.getType());
        return type && type.hasRank() && llvm::is_contained(type.getShape(), 0);
      }))
    return std::nullopt;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  int64_t iterations = 1;
  for (int64_t range : ranges)
    iterations *= ShapedType::isDynamic(range) ? kOpenExtent : range;
  if (iterations < (isCopy(op) ? kMinCopyIterations : kMinIterations))
    return std::nullopt;
  // The outermost parallel loop with more than one iteration.
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  for (auto [loop, iterator] : llvm::enumerate(iterators)) {
    if (iterator != utils::IteratorType::parallel || ranges[loop] == 1)
      continue;
    int64_t extent =
        ShapedType::isDynamic(ranges[loop]) ? kOpenExtent : ranges[loop];
    int64_t chunks = std::min<int64_t>(
        {extent, iterations / kChunkIterations, kMaxChunks});
    if (chunks < 2)
      return std::nullopt;
    int64_t size = llvm::divideCeil(extent, chunks);
    // A loop that walks an operand's innermost dimension (the innermost
    // loop; the input's rows of a transpose) is split at whole cache lines'
    // worth of iterations, so that the vector body (one vector, or a square
    // block for a transpose) stays whole.
    AffineExpr dim = getAffineDimExpr(loop, op.getContext());
    if (loop + 1 == iterators.size() ||
        llvm::any_of(op.getIndexingMapsArray(), [&](AffineMap map) {
          return map.getNumResults() > 0 && map.getResults().back() == dim;
        }))
      size = llvm::alignTo(size, 64);
    // A loop too short for two such chunks is no split.
    if (size >= extent)
      return std::nullopt;
    return std::make_pair(static_cast<unsigned>(loop), size);
  }
  return std::nullopt;
}

/// The most partial results of a split reduction: each is a copy of the
/// output, combined in order at the end.
constexpr int64_t kMaxPartials = 8;

/// For an op with enough work whose parallel loops cannot be chunked (a sum
/// over the batch and the pixels into one value per channel, the bias
/// gradient of a convolution): its outermost reduction loop and the chunk
/// size that makes a few partial results, or nothing.
std::optional<std::pair<unsigned, int64_t>>
chooseReductionSplit(linalg::LinalgOp op) {
  if (op.getNumDpsInits() != 1 || op.getNumReductionLoops() == 0)
    return std::nullopt;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (llvm::any_of(ranges, ShapedType::isDynamic))
    return std::nullopt;
  int64_t iterations = 1, outputs = 1;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  for (auto [range, iterator] : llvm::zip_equal(ranges, iterators)) {
    iterations *= range;
    if (iterator == utils::IteratorType::parallel)
      outputs *= range;
  }
  if (iterations < kMinIterations)
    return std::nullopt;
  for (auto [loop, iterator] : llvm::enumerate(iterators)) {
    if (iterator != utils::IteratorType::reduction || ranges[loop] == 1)
      continue;
    // Few partials, each much larger than the merge that reads them, and
    // as many as divide the loop (every chunk the same static size).
    int64_t partials = std::min<int64_t>(
        {ranges[loop], iterations / kChunkIterations, kMaxPartials,
         iterations / (64 * outputs)});
    while (partials >= 2 && ranges[loop] % partials != 0)
      --partials;
    if (partials < 2)
      return std::nullopt;
    return std::make_pair(static_cast<unsigned>(loop),
                          ranges[loop] / partials);
  }
  return std::nullopt;
}

/// (Upstream's partial-reduction tiling, ReductionTilingStrategy::
/// PartialReductionOuterParallel, puts the partials' dimension innermost:
/// each chunk then writes its output with a stride, which the vectorizer
/// skips. Here the partials are rows.)
/// Splits the reduction of `op` into parallel partial results, an
/// scf.forall whose iteration `s` reduces chunk `s` of loop `split.first`
/// into row `s` of a partials tensor (S x output, rows contiguous), then
/// combines the rows in order (a linalg.reduce over them, into `op`'s own
/// output): the sums no longer run in one sequence, but they are the same
/// for any number of threads. Only a reduction whose output is a plain
/// accumulator (its body combines the output element with one value, by
/// addition, maximum or minimum) is split.
LogicalResult splitReduction(RewriterBase &rewriter, linalg::LinalgOp op,
                             std::pair<unsigned, int64_t> split) {
  auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
  // Each chunk is a copy of the op on slices of its inputs: a body that
  // reads its indices (linalg.index, tensor.extract) would see the chunk's
  // positions, and a map that reads the split loop twice or through an
  // expression cannot be sliced along it.
  if (!generic || !llvm::all_of(generic.getIndexingMapsArray(),
                   [](AffineMap map) { return map.isProjectedPermutation(); }) ||
      !generic.getBody()->getOps<linalg::IndexOp>().empty() ||
      !generic.getBody()->getOps<tensor::ExtractOp>().empty() ||
      llvm::any_of(generic.getDpsInputs(), [](Value input) {
        return !isa<RankedTensorType>(input.getType());
      }))
    return failure();
  // The combiner: yield(combine(out, value)).
  Block &body = generic.getRegion().front();
  BlockArgument out = body.getArguments().back();
  Operation *combiner =
      cast<linalg::YieldOp>(body.getTerminator()).getOperand(0).getDefiningOp();
  if (!combiner ||
      !isa<arith::AddFOp, arith::MaximumFOp, arith::MinimumFOp, arith::AddIOp>(
          combiner) ||
      !llvm::is_contained(combiner->getOperands(), Value(out)) ||
      !out.hasOneUse())
    return failure();
  // The partials start from the combiner's identity.
  auto outType = cast<RankedTensorType>(op.getDpsInits()[0].getType());
  Type element = outType.getElementType();
  std::optional<TypedAttr> identity =
      arith::getNeutralElement(combiner);
  if (!identity)
    return failure();
  Location loc = op.getLoc();
  MLIRContext *context = op.getContext();
  int64_t extent = op.getStaticLoopRanges()[split.first];
  if (extent % split.second != 0)
    return failure(); // keep every chunk static
  int64_t count = extent / split.second;
  rewriter.setInsertionPoint(op);
  SmallVector<int64_t> partialShape = {count};
  llvm::append_range(partialShape, outType.getShape());
  Value empty = tensor::EmptyOp::create(rewriter, loc, partialShape, element);
  Value zero = arith::ConstantOp::create(rewriter, loc, *identity);
  Value partials =
      linalg::FillOp::create(rewriter, loc, zero, empty).getResult(0);
  auto forall = scf::ForallOp::create(
      rewriter, loc, ArrayRef<OpFoldResult>{rewriter.getIndexAttr(count)},
      ValueRange{partials}, std::nullopt);
  {
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPointToStart(forall.getBody());
    Value s = forall.getInductionVar(0);
    Value shared = forall.getRegionIterArgs()[0];
    AffineExpr d0 = getAffineDimExpr(0, context);
    Value begin = affine::AffineApplyOp::create(
        rewriter, loc, AffineMap::get(1, 0, d0 * split.second), ValueRange{s});
    // Each input: the chunk of the split loop where its map reads it.
    SmallVector<Value> inputs;
    for (OpOperand *input : op.getDpsInputOperands()) {
      auto type = cast<RankedTensorType>(input->get().getType());
      AffineMap map = op.getMatchingIndexingMap(input);
      SmallVector<OpFoldResult> offsets(type.getRank(),
                                        rewriter.getIndexAttr(0));
      SmallVector<OpFoldResult> sizes = getAsIndexOpFoldResult(
          context, type.getShape());
      SmallVector<OpFoldResult> strides(type.getRank(),
                                        rewriter.getIndexAttr(1));
      if (std::optional<unsigned> position = map.getResultPosition(
              getAffineDimExpr(split.first, context))) {
        offsets[*position] = begin;
        sizes[*position] = rewriter.getIndexAttr(split.second);
      }
      inputs.push_back(tensor::ExtractSliceOp::create(
          rewriter, loc, input->get(), offsets, sizes, strides));
    }
    // The output: row s of the partials.
    SmallVector<OpFoldResult> offsets(partialShape.size(),
                                      rewriter.getIndexAttr(0));
    offsets[0] = s;
    SmallVector<OpFoldResult> sizes =
        getAsIndexOpFoldResult(context, partialShape);
    sizes[0] = rewriter.getIndexAttr(1);
    SmallVector<OpFoldResult> strides(partialShape.size(),
                                      rewriter.getIndexAttr(1));
    Value row = tensor::ExtractSliceOp::create(rewriter, loc, outType, shared,
                                               offsets, sizes, strides);
    Operation *chunk = rewriter.clone(*op.getOperation());
    auto chunkOp = cast<linalg::LinalgOp>(chunk);
    for (auto [operand, input] :
         llvm::zip_equal(chunkOp.getDpsInputOperands(), inputs))
      operand->set(input);
    chunkOp.getDpsInitOperand(0)->set(row);
    chunk->getResult(0).setType(outType);
    rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
    tensor::ParallelInsertSliceOp::create(rewriter, loc, chunk->getResult(0),
                                          shared, offsets, sizes, strides);
  }
  // Combine the rows in order into the op's output (its init, a fill or
  // the value it accumulates onto).
  rewriter.setInsertionPointAfter(forall);
  auto merge = linalg::ReduceOp::create(
      rewriter, loc, ValueRange{forall.getResult(0)},
      ValueRange{op.getDpsInits()[0]}, ArrayRef<int64_t>{0},
      [&](OpBuilder &b, Location l, ValueRange args) {
        IRMapping mapping;
        mapping.map(combiner->getOperand(0), args[0]);
        mapping.map(combiner->getOperand(1), args[1]);
        Operation *combined = b.clone(*combiner, mapping);
        linalg::YieldOp::create(b, l, combined->getResult(0));
      });
  rewriter.replaceOp(op, merge->getResults());
  return success();
}

/// Splits `op`, on buffers, along loop `split.first` into an scf.forall of
/// chunks of `split.second` iterations through upstream's TilingInterface
/// (each chunk the op on subviews of its operands): bufferization's copies
/// and fills are only seen here.
LogicalResult chunkOnBuffers(RewriterBase &rewriter, linalg::LinalgOp op,
                             std::pair<unsigned, int64_t> split) {
  SmallVector<int64_t> sizes(op.getNumLoops(), 0);
  sizes[split.first] = split.second;
  scf::SCFTilingOptions options;
  options.setTileSizes(getAsIndexOpFoldResult(op.getContext(), sizes));
  options.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
  rewriter.setInsertionPoint(op);
  FailureOr<scf::SCFTilingResult> tiled = scf::tileUsingSCF(
      rewriter, cast<TilingInterface>(op.getOperation()), options);
  if (failed(tiled))
    return failure();
  rewriter.eraseOp(op);
  return success();
}

struct CPUParallelChunksPass
    : public mlir::kiln::impl::KilnCPUParallelChunksBase<
          CPUParallelChunksPass> {
  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    // On buffers (after bufferization): the large ops at the function's top
    // level, fills included, each one forall of chunks.
    SmallVector<linalg::LinalgOp> bufferOps;
    for (Operation &op : getOperation().getBody().getOps())
      if (auto linalgOp = dyn_cast<linalg::LinalgOp>(&op))
        if (linalgOp.hasPureBufferSemantics() && linalgOp.getNumLoops() > 0 &&
            linalgOp.getNumDpsInits() == 1 &&
            linalgOp.getNumParallelLoops() == linalgOp.getNumLoops())
          bufferOps.push_back(linalgOp);
    for (linalg::LinalgOp op : bufferOps)
      if (std::optional<std::pair<unsigned, int64_t>> split = chooseSplit(op))
        (void)chunkOnBuffers(rewriter, op, *split);

    SmallVector<linalg::LinalgOp> candidates;
    getOperation()->walk([&](linalg::LinalgOp op) {
      if (op.hasPureTensorSemantics() && !op->getParentOfType<scf::ForallOp>() &&
          !isa<linalg::FillOp>(op.getOperation()) && op.getNumLoops() > 0)
        candidates.push_back(op);
    });
    for (linalg::LinalgOp op : candidates) {
      std::optional<std::pair<unsigned, int64_t>> split = chooseSplit(op);
      if (!split) {
        if (std::optional<std::pair<unsigned, int64_t>> reduction =
                chooseReductionSplit(op))
          (void)splitReduction(rewriter, op, *reduction);
        continue;
      }
      SmallVector<int64_t> sizes(op.getNumLoops(), 0);
      sizes[split->first] = split->second;
      scf::SCFTileAndFuseOptions options;
      options.tilingOptions.setTileSizes(
          getAsIndexOpFoldResult(&getContext(), sizes));
      options.tilingOptions.setLoopType(
          scf::SCFTilingOptions::LoopType::ForallOp);
      // Fuse the fill of an accumulator; other producers stay whole (they
      // would be recomputed per chunk).
      options.setFusionControlFn(
          [](tensor::ExtractSliceOp, OpResult producer, bool)
              -> std::optional<scf::SCFTileAndFuseOptions::ControlFnResult> {
            if (isa<linalg::FillOp>(producer.getOwner()))
              return scf::SCFTileAndFuseOptions::ControlFnResult{};
            return std::nullopt;
          });
      rewriter.setInsertionPoint(op);
      FailureOr<scf::SCFTileAndFuseResult> tiled =
          scf::tileConsumerAndFuseProducersUsingSCF(
              rewriter, cast<TilingInterface>(op.getOperation()), options);
      if (failed(tiled))
        continue;
      SmallVector<Operation *> fused;
      for (OpResult result : op->getResults())
        if (Value replacement = tiled->replacements.lookup(result))
          rewriter.replaceAllUsesWith(result, replacement);
      for (Value init : op.getDpsInits())
        if (Operation *producer = init.getDefiningOp())
          fused.push_back(producer);
      rewriter.eraseOp(op);
      for (Operation *producer : fused)
        if (producer->use_empty() && isa<linalg::FillOp>(producer))
          rewriter.eraseOp(producer);
    }
  }
};

} // namespace
