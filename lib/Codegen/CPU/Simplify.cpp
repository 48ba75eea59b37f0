//===- Simplify.cpp - Clean-up shared by the CPU tiling passes ------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "Simplify.h"

#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/CSE.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

using namespace mlir;

LogicalResult mlir::kiln::cpu::simplifyTiles(Operation *root,
                                             bool lowerMultiReductions) {
  MLIRContext *context = root->getContext();
  RewritePatternSet patterns(context);
  vector::populateCastAwayVectorLeadingOneDimPatterns(patterns);
  // Masked reads and writes (of open-extent tiles) carry their masks as
  // operands.
  vector::populateVectorMaskLoweringPatternsForSideEffectingOps(patterns);
  if (lowerMultiReductions)
    vector::populateVectorMultiReductionLoweringPatterns(
        patterns, vector::VectorMultiReductionLowering::InnerParallel);
  for (RegisteredOperationName name : context->getRegisteredOperations())
    name.getCanonicalizationPatterns(patterns, context);
  for (Dialect *dialect : context->getLoadedDialects())
    dialect->getCanonicalizationPatterns(patterns);
  if (failed(applyPatternsGreedily(root, std::move(patterns))))
    return failure();
  IRRewriter rewriter(context);
  DominanceInfo dominance(root);
  eliminateCommonSubExpressions(rewriter, dominance, root);
  return success();
}
