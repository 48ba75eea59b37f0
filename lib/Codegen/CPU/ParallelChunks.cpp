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
// result is the same for any number of threads.
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
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
/// The work of one chunk, in loop iterations, and the most chunks.
constexpr int64_t kChunkIterations = 1 << 15;
constexpr int64_t kMaxChunks = 64;
/// An open extent counts as this many iterations.
constexpr int64_t kOpenExtent = 1 << 10;

/// The loop of `op` to split and its chunk size, or nothing.
std::optional<std::pair<unsigned, int64_t>> chooseSplit(linalg::LinalgOp op) {
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  int64_t iterations = 1;
  for (int64_t range : ranges)
    iterations *= ShapedType::isDynamic(range) ? kOpenExtent : range;
  if (iterations < kMinIterations)
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
    // A loop that is also the innermost one is split at whole cache
    // lines' worth of iterations, so that the vectorized body stays whole.
    if (loop + 1 == iterators.size())
      size = llvm::alignTo(size, 64);
    return std::make_pair(static_cast<unsigned>(loop), size);
  }
  return std::nullopt;
}

struct CPUParallelChunksPass
    : public mlir::kiln::impl::KilnCPUParallelChunksBase<
          CPUParallelChunksPass> {
  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> candidates;
    getOperation()->walk([&](linalg::LinalgOp op) {
      if (op.hasPureTensorSemantics() && !op->getParentOfType<scf::ForallOp>() &&
          !isa<linalg::FillOp>(op.getOperation()) && op.getNumLoops() > 0)
        candidates.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::LinalgOp op : candidates) {
      std::optional<std::pair<unsigned, int64_t>> split = chooseSplit(op);
      if (!split)
        continue;
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
