//===- Tiling.cpp - Tiling steps shared by the CPU tiling passes ----------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "Tiling.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Interfaces/ValueBoundsOpInterface.h"

using namespace mlir;

namespace {

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

/// Whether `value` may hold a variable's old value: a variable's argument
/// (`kiln.variable`), a loop's carried value, or a view of one. A value
/// that an op computes has its own buffer, or is the variable's new value;
/// a function's other arguments are inputs, which nothing writes (the
/// eager tape's known forward values among them).
bool mayBeVariable(Value value) {
  while (Operation *producer = value.getDefiningOp()) {
    if (!isa<tensor::CastOp, tensor::ExpandShapeOp, tensor::CollapseShapeOp,
             tensor::ExtractSliceOp, tensor::ReshapeOp>(producer))
      return false;
    value = producer->getOperand(0);
  }
  auto argument = cast<BlockArgument>(value);
  auto func = dyn_cast<func::FuncOp>(argument.getOwner()->getParentOp());
  return !func || argument.getOwner() != &func.getBody().front() ||
         func.getArgAttr(argument.getArgNumber(), "kiln.variable");
}

/// Whether `user` reads, besides `op`'s result, an operand of the result's
/// type through an identity map that may be a variable's old value.
bool readsWholeOperand(linalg::LinalgOp op, linalg::GenericOp user) {
  Value result = op->getResult(0);
  return llvm::any_of(user.getDpsInputOperands(), [&](OpOperand *input) {
    return input->get() != result &&
           input->get().getType() == result.getType() &&
           user.getMatchingIndexingMap(input).isIdentity() &&
           mayBeVariable(input->get());
  });
}

/// Rewrites epilogue `user` of `op` to update the op's result in place:
/// `generic ins(%c, %bias) outs(%empty)` becomes `generic ins(%bias)
/// outs(%c)`, its body reading the element from the output. The op then
/// accumulates into the final buffer and the epilogue rewrites each element
/// where it is, with no temporary tile.
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
  // The body: the old one, with the op's element now the output argument
  // (the old output argument was unused).
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

} // namespace

FailureOr<scf::SCFTilingResult>
mlir::kiln::cpu::tileWithLoops(RewriterBase &rewriter, linalg::LinalgOp op,
                               ArrayRef<int64_t> sizes) {
  scf::SCFTilingOptions options;
  options.setTileSizes(getAsIndexOpFoldResult(op.getContext(), sizes));
  rewriter.setInsertionPoint(op);
  FailureOr<scf::SCFTilingResult> tiled = scf::tileUsingSCF(
      rewriter, cast<TilingInterface>(op.getOperation()), options);
  if (failed(tiled))
    return failure();
  rewriter.replaceOp(op, tiled->replacements);
  return tiled;
}

linalg::LinalgOp mlir::kiln::cpu::tileWithEpilogue(
    RewriterBase &rewriter, linalg::LinalgOp op, ArrayRef<int64_t> sizes,
    llvm::function_ref<bool(Operation *)> isTiledOp) {
  linalg::GenericOp epilogue = epilogueOf(op);
  // The epilogue updates the op's result in place, unless it also reads a
  // whole tensor of the result's shape that may be a variable (an optimizer
  // step w - lr * dW): its result can then take that variable's buffer,
  // which the op's accumulation would overwrite before the epilogue reads
  // it. A computed tensor (the activation a relu gradient reads) is safe.
  if (epilogue && !readsWholeOperand(op, epilogue))
    epilogue = makeInPlace(rewriter, op, epilogue);
  Operation *root = epilogue ? epilogue.getOperation() : op.getOperation();
  // The root's loops: the op's own, or the epilogue's, which follow the
  // op's result dimensions (its maps are identities).
  SmallVector<int64_t> rootSizes;
  if (epilogue) {
    AffineMap result = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
    for (AffineExpr expr : result.getResults())
      rootSizes.push_back(sizes[cast<AffineDimExpr>(expr).getPosition()]);
  } else {
    rootSizes.assign(sizes.begin(), sizes.end());
  }
  Operation *init = op.getDpsInits()[0].getDefiningOp();
  scf::SCFTileAndFuseOptions options;
  options.tilingOptions.setTileSizes(
      getAsIndexOpFoldResult(op.getContext(), rootSizes));
  // The tiles are independent: they run in parallel (kiln-cpu-parallel-loops
  // hands them to the runtime's threads).
  options.tilingOptions.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
  // Fuse the op into its epilogue's tiles and the fill into the op's; the
  // operands' producers would be recomputed per tile.
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
  for (Operation *tiled : fused->tiledAndFusedOps)
    if (isTiledOp(tiled))
      return cast<linalg::LinalgOp>(tiled);
  return {};
}

SmallVector<int64_t> mlir::kiln::cpu::loopUpperBounds(linalg::LinalgOp op) {
  SmallVector<int64_t> bounds = op.getStaticLoopRanges();
  for (auto [loop, bound] : llvm::enumerate(bounds)) {
    if (!ShapedType::isDynamic(bound))
      continue;
    Value operand;
    unsigned dim;
    if (failed(op.mapIterationSpaceDimToOperandDim(loop, operand, dim)))
      continue;
    FailureOr<int64_t> upper = ValueBoundsConstraintSet::computeConstantBound(
        presburger::BoundType::UB, {operand, static_cast<int64_t>(dim)},
        /*stopCondition=*/nullptr, /*closedUB=*/true);
    if (succeeded(upper) && *upper > 0)
      bound = *upper;
  }
  return bounds;
}
