//===- FuseElementwise.cpp - Fusion that leaves contractions alone -------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-fuse-elementwise is upstream's linalg-fuse-elementwise-ops with one
// difference: a reshape is folded into a linalg op (by expanding its
// iteration space) only when that op is elementwise. Folding the reshape of
// a flattened image into the matmul that follows turns a 2-D contraction
// over 784 into one over 28 x 28 x 1 whose innermost loop has one iteration:
// the vectorizer gives up and a Flatten + Dense training step ran 5x slower.
//
// And no producer is fused into a contraction (a matrix product, a
// convolution or its filter gradient): the code generators hand those
// whose body is exactly `acc + a * b` to their matmul and convolution
// kernels (kiln::matchMultiplyAdd, matchFilterGradient), and any other
// body runs as plain loops. Upstream fuses a single-use elementwise
// producer into any generic consumer; the casts that widen bf16 and f16
// operands to f32 (one per product) were fused that way: a mixed_bfloat16
// MLP's step ran 5.8x slower than in float32, a mixed_float16 CNN's 1.9x.
// (Fused, the producer would also be recomputed for every output column.)
// A copy along the product's batch loops (a broadcast matrix) still fuses:
// the body stays a multiply-add and no copy per batch is made.
//
//===----------------------------------------------------------------------===//

#include "kiln/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNFUSEELEMENTWISE
#include "kiln/Transforms/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

/// Whether `op` is a linalg op with a reduction loop (a contraction, a
/// reduction): reshapes stay outside those.
static bool reduces(Operation *op) {
  auto linalgOp = dyn_cast_or_null<linalg::LinalgOp>(op);
  return linalgOp &&
         linalgOp.getNumLoops() != linalgOp.getNumParallelLoops();
}

/// Whether `op` is a contraction of two inputs: a matrix product, batched
/// or not, or a convolution or its gradients.
static bool contracts(Operation *op) {
  auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
  return linalgOp && linalgOp.getNumDpsInputs() == 2 && reduces(op) &&
         (linalg::isaContractionOpInterface(linalgOp) ||
          linalg::isaConvolutionOpInterface(linalgOp,
                                            /*allowEmptyConvolvedDims=*/true));
}

/// Whether fusing the producer of `operand` into its consumer, a
/// contraction, only drops batch loops from the operand's indexing: the
/// producer copies its input (a broadcast along batch dimensions, a
/// transpose), so the fused body stays `acc + a * b`, and the batch loops
/// then read the same matrix (batch_matmul's own broadcasting) instead of
/// a materialized copy per batch. A broadcast along a matrix dimension
/// stays out (the kernels take whole matrices).
static bool copiesAlongBatches(OpOperand *operand) {
  auto producer = operand->get().getDefiningOp<linalg::GenericOp>();
  auto consumer = dyn_cast<linalg::LinalgOp>(operand->getOwner());
  if (!producer || !consumer || producer.getNumDpsInputs() != 1 ||
      producer.getNumDpsInits() != 1 ||
      producer.getNumLoops() != producer.getNumParallelLoops())
    return false;
  Block *body = producer.getBlock();
  auto yield = cast<linalg::YieldOp>(body->getTerminator());
  if (body->getOperations().size() != 1 ||
      yield.getOperand(0) != body->getArgument(0))
    return false;
  AffineMap output =
      producer.getMatchingIndexingMap(producer.getDpsInitOperand(0));
  if (!output.isPermutation())
    return false;
  AffineMap read = consumer.getMatchingIndexingMap(operand);
  AffineMap fused =
      producer.getMatchingIndexingMap(producer.getDpsInputOperand(0))
          .compose(inversePermutation(output))
          .compose(read);
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(consumer);
  if (!fused.isProjectedPermutation() || failed(dims))
    return false;
  for (AffineExpr expr : read.getResults()) {
    unsigned loop = cast<AffineDimExpr>(expr).getPosition();
    if (!fused.isFunctionOfDim(loop) && !llvm::is_contained(dims->batch, loop))
      return false;
  }
  return true;
}

/// Whether a reshape (tensor.collapse_shape or expand_shape; false for any
/// other op) has two open extents in one group of its expanded type.
/// Folding it by expansion reshapes the consumer's other operands the same
/// way, and upstream's lowering of such a memref.expand_shape
/// (expand-strided-metadata, LLVM 22) crashes; found by the random
/// programs: (x: ?x?) compared with reshape(expand_dims(x, 1), [-1]).
static bool groupsOpenExtents(Operation *op) {
  RankedTensorType expanded;
  SmallVector<ReassociationIndices> groups;
  if (auto collapse = dyn_cast_if_present<tensor::CollapseShapeOp>(op)) {
    expanded = collapse.getSrcType();
    groups = collapse.getReassociationIndices();
  } else if (auto expand = dyn_cast_if_present<tensor::ExpandShapeOp>(op)) {
    expanded = expand.getResultType();
    groups = expand.getReassociationIndices();
  } else {
    return false;
  }
  return llvm::any_of(groups, [&](const ReassociationIndices &group) {
    return llvm::count_if(group, [&](int64_t d) {
             return expanded.isDynamicDim(d);
           }) > 1;
  });
}

namespace {
struct FuseElementwisePass
    : public kiln::impl::KilnFuseElementwiseBase<FuseElementwisePass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    RewritePatternSet patterns(context);
    // As upstream: fuse a producer into its consumer when it has one use,
    // except into a contraction (but for copies along its batch loops).
    linalg::ControlFusionFn fuseSingleUse = [](OpOperand *operand) {
      Operation *producer = operand->get().getDefiningOp();
      return producer && producer->hasOneUse() &&
             (!contracts(operand->getOwner()) || copiesAlongBatches(operand));
    };
    linalg::ControlFusionFn foldReshape = [](OpOperand *operand) {
      Operation *producer = operand->get().getDefiningOp();
      return producer && producer->hasOneUse() && !reduces(producer) &&
             !reduces(operand->getOwner()) && !groupsOpenExtents(producer) &&
             !groupsOpenExtents(operand->getOwner());
    };
    linalg::populateElementwiseOpsFusionPatterns(patterns, fuseSingleUse);
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, foldReshape);
    affine::AffineApplyOp::getCanonicalizationPatterns(patterns, context);
    linalg::GenericOp::getCanonicalizationPatterns(patterns, context);
    tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, context);
    tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, context);
    context->getLoadedDialect<linalg::LinalgDialect>()
        ->getCanonicalizationPatterns(patterns);
    linalg::populateConstantFoldLinalgOperations(patterns, fuseSingleUse);
    (void)applyPatternsGreedily(getOperation(), std::move(patterns),
                                GreedyRewriteConfig().setUseTopDownTraversal());
  }
};
} // namespace
