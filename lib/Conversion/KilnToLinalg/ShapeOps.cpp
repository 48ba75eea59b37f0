//===- ShapeOps.cpp - Lowering Kiln's shape ops, gather and scatter
//--------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "kiln/Dialect/Kiln/ShapeUtils.h"

#include "mlir/Dialect/SCF/Utils/Utils.h"

using namespace mlir;
using namespace mlir::kiln;
using namespace mlir::kiln::lowering;

namespace {

SmallVector<OpFoldResult> indexAttrs(OpBuilder &b, ArrayRef<int64_t> values) {
  return llvm::map_to_vector(
      values, [&](int64_t v) -> OpFoldResult { return b.getIndexAttr(v); });
}

/// reshape, expand_dims and squeeze all keep the row-major element order.
/// kiln.expand_dims / kiln.squeeze with several open extents, as
/// tensor.expand_shape / collapse_shape: each dimension of the smaller
/// shape forms a group with the extents of 1 added or dropped beside it
/// (one open extent per group, which upstream's reshapes take). The two
/// shapes differ only by those 1s, so matching equal extents in order finds
/// them (where a kept extent is 1 too, either choice is the same reshape).
template <typename OpTy>
static Value reshapeUnitExtents(OpBuilder &b, OpTy op, Value input) {
  constexpr bool expand = std::is_same_v<OpTy, ExpandDimsOp>;
  Location loc = op.getLoc();
  RankedTensorType type = op.getType();
  auto inputType = cast<RankedTensorType>(input.getType());
  ArrayRef<int64_t> larger = (expand ? type : inputType).getShape();
  ArrayRef<int64_t> smaller = (expand ? inputType : type).getShape();
  SmallVector<bool> unit(larger.size(), true);
  for (size_t d = 0, k = 0; d < larger.size(); ++d)
    if (k < smaller.size() && larger[d] == smaller[k]) {
      unit[d] = false;
      ++k;
    }
  SmallVector<ReassociationIndices> groups;
  ReassociationIndices group;
  bool kept = false;
  for (int64_t d = 0; d < static_cast<int64_t>(larger.size()); ++d) {
    if (!unit[d] && kept) {
      groups.push_back(group);
      group.clear();
      kept = false;
    }
    group.push_back(d);
    kept |= !unit[d];
  }
  groups.push_back(group);
  if constexpr (expand) {
    SmallVector<OpFoldResult> in = extentsOf(b, loc, input), out;
    for (size_t d = 0, k = 0; d < larger.size(); ++d)
      out.push_back(unit[d] ? OpFoldResult(b.getIndexAttr(1)) : in[k++]);
    return tensor::ExpandShapeOp::create(b, loc, type, input, groups, out);
  } else {
    return tensor::CollapseShapeOp::create(b, loc, type, input, groups);
  }
}

template <typename OpTy>
struct ReshapeLikeLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    // One dynamic extent at most in the result: it is the element count
    // over the static extents (which must then not be 0). More come from
    // `like`.
    auto type = cast<RankedTensorType>(op.getType());
    Value like;
    if constexpr (std::is_same_v<OpTy, ReshapeOp>)
      like = adaptor.getLike();
    int64_t known = 1;
    for (int64_t d : type.getShape())
      if (!ShapedType::isDynamic(d))
        known *= d;
    if constexpr (!std::is_same_v<OpTy, ReshapeOp>) {
      if (!type.hasStaticShape()) {
        rewriter.replaceOp(op, reshapeUnitExtents(rewriter, op, adaptor.getInput()));
        return success();
      }
    }
    auto source = cast<RankedTensorType>(adaptor.getInput().getType());
    if (!like &&
        ((type.getNumDynamicDims() > 1 &&
          !openReshapeGroups(source.getShape(), type.getShape())) ||
         (type.getNumDynamicDims() == 1 && known == 0)))
      return rewriter.notifyMatchFailure(
          op, "a reshape to more than one dynamic extent");
    rewriter.replaceOp(op, reshapeTensor(rewriter, op.getLoc(),
                                         adaptor.getInput(), type, like));
    return success();
  }
};

struct TransposeLowering : OpConversionPattern<TransposeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(TransposeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    // Open extents move with their dimensions.
    SmallVector<OpFoldResult> in =
        extentsOf(rewriter, op.getLoc(), adaptor.getInput());
    SmallVector<OpFoldResult> extents;
    for (int64_t p : op.getPermutation())
      extents.push_back(in[p]);
    Value init = emptyTensor(rewriter, op.getLoc(), extents,
                             op.getType().getElementType());
    rewriter.replaceOp(op, linalg::TransposeOp::create(rewriter, op.getLoc(),
                                                       adaptor.getInput(), init,
                                                       op.getPermutation())
                               .getResult());
    return success();
  }
};

/// kiln.dim: tensor.dim of the converted input, as an i64 0-d tensor.
struct DimLowering : OpConversionPattern<DimOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(DimOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value extent = tensor::DimOp::create(rewriter, loc, adaptor.getInput(),
                                         op.getAxis());
    Value value = arith::IndexCastOp::create(rewriter, loc,
                                             rewriter.getI64Type(), extent);
    rewriter.replaceOpWithNewOp<tensor::FromElementsOp>(op, op.getType(),
                                                        ValueRange{value});
    return success();
  }
};

struct BroadcastToLowering : OpConversionPattern<BroadcastToOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(BroadcastToOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    // Dynamic result extents come from `like`.
    SmallVector<OpFoldResult> extents;
    if (Value like = adaptor.getLike())
      extents = extentsOf(rewriter, op.getLoc(), like);
    else if (failed(requireStatic(op, rewriter)))
      return failure();
    rewriter.replaceOp(
        op, buildElementwise(
                rewriter, op.getLoc(), op.getType(), adaptor.getInput(),
                [](OpBuilder &, Location, ValueRange s) { return s[0]; },
                extents));
    return success();
  }
};

} // namespace

/// The axis of a concatenation, in [0, rank).
static int64_t concatAxis(ConcatOp op) {
  return llvm::cantFail(normalizeAxis(static_cast<int64_t>(op.getAxis()),
                                      op.getType().getRank()));
}

/// a + b, folded when both are known.
static OpFoldResult addExtents(OpBuilder &b, Location loc, OpFoldResult lhs,
                               OpFoldResult rhs) {
  std::optional<int64_t> l = getConstantIntValue(lhs);
  std::optional<int64_t> r = getConstantIntValue(rhs);
  if (l && r)
    return b.getIndexAttr(*l + *r);
  if (r && *r == 0)
    return lhs;
  if (l && *l == 0)
    return rhs;
  return arith::AddIOp::create(b, loc,
                               getValueOrCreateConstantIndexOp(b, loc, lhs),
                               getValueOrCreateConstantIndexOp(b, loc, rhs))
      .getResult();
}

/// An extent as `type` wants it in dimension `d`: a value where the type's
/// extent is open (a static sum in a less refined type included), the
/// type's own where it is static (a more refined result type than the
/// operands give: checked equal when the code runs).
static OpFoldResult asTypeExtent(OpBuilder &b, Location loc,
                                 OpFoldResult extent, RankedTensorType type,
                                 int64_t d, const Twine &what) {
  if (type.isDynamicDim(d))
    return getValueOrCreateConstantIndexOp(b, loc, extent);
  OpFoldResult fixed = b.getIndexAttr(type.getDimSize(d));
  checkSameExtent(b, loc, extent, fixed,
                  what + ": dimension " + Twine(d) + " is not the result's " +
                      Twine(type.getDimSize(d)));
  return fixed;
}

namespace {

struct ConcatLowering : OpConversionPattern<ConcatOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ConcatOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    int64_t axis = concatAxis(op);
    // The result's extents: static ones, and open ones (every input has
    // them open there) from the first input; along the axis, the sum of
    // the inputs' extents. Each input's other extents must agree with them
    // when the code runs.
    ValueRange inputs = adaptor.getInputs();
    SmallVector<OpFoldResult> extents =
        extentsLike(rewriter, loc, type, inputs.front());
    SmallVector<OpFoldResult> offsets;
    OpFoldResult total = rewriter.getIndexAttr(0);
    for (auto [i, input] : llvm::enumerate(inputs)) {
      SmallVector<OpFoldResult> own = extentsOf(rewriter, loc, input);
      for (int64_t d = 0; d < type.getRank(); ++d)
        if (d != axis && !(i == 0 && type.isDynamicDim(d)))
          checkSameExtent(rewriter, loc, own[d], extents[d],
                          "kiln.concat: operand " + Twine(i) +
                              " differs from the others in dimension " +
                              Twine(d));
      offsets.push_back(total);
      total = addExtents(rewriter, loc, total, own[axis]);
    }
    extents[axis] =
        asTypeExtent(rewriter, loc, total, type, axis, "kiln.concat");
    Value result = emptyTensor(rewriter, loc, extents, type.getElementType());
    for (auto [input, offset] : llvm::zip(inputs, offsets)) {
      auto inputType = cast<RankedTensorType>(input.getType());
      // An input without elements adds nothing (and its offset may be the
      // extent itself, which tensor.insert_slice refuses).
      if (llvm::is_contained(inputType.getShape(), 0))
        continue;
      SmallVector<OpFoldResult> at(type.getRank(), rewriter.getIndexAttr(0));
      at[axis] = offset;
      result = tensor::InsertSliceOp::create(
          rewriter, loc, input, result, at, extentsOf(rewriter, loc, input),
          indexAttrs(rewriter, SmallVector<int64_t>(type.getRank(), 1)));
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// kiln.split: consecutive extract_slices along the axis, each as long as
/// its `like` operand there; the lengths must add up to the input's.
struct SplitLowering : OpConversionPattern<SplitOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(SplitOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    auto inputType = cast<RankedTensorType>(input.getType());
    int64_t rank = inputType.getRank();
    int64_t axis = llvm::cantFail(
        normalizeAxis(static_cast<int64_t>(op.getAxis()), rank));
    SmallVector<OpFoldResult> inputExtents = extentsOf(rewriter, loc, input);
    SmallVector<Value> results;
    OpFoldResult offset = rewriter.getIndexAttr(0);
    for (auto [like, result] : llvm::zip(adaptor.getLike(), op.getResults())) {
      auto type = cast<RankedTensorType>(result.getType());
      SmallVector<OpFoldResult> sizes = inputExtents;
      sizes[axis] = extentsOf(rewriter, loc, like)[axis];
      // The type's open extents as values (a static extent in a less
      // refined result type included).
      for (int64_t d = 0; d < rank; ++d)
        sizes[d] = asTypeExtent(rewriter, loc, sizes[d], type, d, "kiln.split");
      if (llvm::is_contained(type.getShape(), 0)) {
        results.push_back(
            emptyTensor(rewriter, loc, sizes, type.getElementType()));
      } else {
        SmallVector<OpFoldResult> at(rank, rewriter.getIndexAttr(0));
        at[axis] = offset;
        results.push_back(tensor::ExtractSliceOp::create(
            rewriter, loc, type, input, at, sizes,
            indexAttrs(rewriter, SmallVector<int64_t>(rank, 1))));
      }
      offset = addExtents(rewriter, loc, offset, sizes[axis]);
    }
    checkSameExtent(rewriter, loc, offset, inputExtents[axis],
                    "kiln.split: the pieces' extents along axis " +
                        Twine(axis) + " do not add up to the input's");
    rewriter.replaceOp(op, results);
    return success();
  }
};

struct SliceLowering : OpConversionPattern<SliceOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(SliceOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    // Dimensions of open extent are taken whole (the verifier's rule).
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    SmallVector<OpFoldResult> sizes =
        extentsLike(rewriter, loc, type, adaptor.getInput());
    // Nothing taken (its start may be the extent itself, which
    // tensor.extract_slice refuses).
    if (llvm::is_contained(type.getShape(), 0)) {
      rewriter.replaceOp(
          op, emptyTensor(rewriter, loc, sizes, type.getElementType()));
      return success();
    }
    rewriter.replaceOpWithNewOp<tensor::ExtractSliceOp>(
        op, type, adaptor.getInput(), indexAttrs(rewriter, op.getStart()),
        sizes, indexAttrs(rewriter, op.getStride()));
    return success();
  }
};

struct PadLowering : OpConversionPattern<PadOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(PadOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    // Dimensions of open extent are not padded (the verifier's rule): the
    // result has the input's extent there.
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    Value value = scalarConstant(rewriter, loc, type.getElementType(),
                                 op.getValue().convertToDouble());
    SmallVector<OpFoldResult> in = extentsOf(rewriter, loc, adaptor.getInput());
    SmallVector<OpFoldResult> extents =
        extentsLike(rewriter, loc, type, adaptor.getInput());
    Value filled = filledTensor(rewriter, loc, extents, value);
    auto inputType = cast<RankedTensorType>(adaptor.getInput().getType());
    if (llvm::is_contained(inputType.getShape(), 0)) { // only padding
      rewriter.replaceOp(op, filled);
      return success();
    }
    rewriter.replaceOpWithNewOp<tensor::InsertSliceOp>(
        op, adaptor.getInput(), filled, indexAttrs(rewriter, op.getLow()), in,
        indexAttrs(rewriter, SmallVector<int64_t>(type.getRank(), 1)));
    return success();
  }
};

/// Converts an integer index to `index`, clamped into [0, size), and says
/// whether it was in range.
std::pair<Value, Value> clampIndex(OpBuilder &b, Location loc, Value index,
                                   int64_t size) {
  Value i = arith::IndexCastOp::create(b, loc, b.getIndexType(), index);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value last =
      arith::ConstantIndexOp::create(b, loc, std::max<int64_t>(size - 1, 0));
  Value inRange =
      size == 0
          ? Value(arith::ConstantIntOp::create(b, loc, b.getI1Type(), 0))
          : Value(arith::AndIOp::create(
                b, loc,
                arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, i,
                                      zero),
                arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, i,
                                      last)));
  Value clamped = arith::MinSIOp::create(
      b, loc, arith::MaxSIOp::create(b, loc, i, zero), last);
  return {clamped, inRange};
}

/// The same for an extent known at run time only (`size`, an index): the
/// clamped index is 0 when the extent is 0 (where nothing may be read: the
/// callers read under `inRange` only).
std::pair<Value, Value> clampIndex(OpBuilder &b, Location loc, Value index,
                                   Value size) {
  Value i = arith::IndexCastOp::create(b, loc, b.getIndexType(), index);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value inRange = arith::AndIOp::create(
      b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, i, zero),
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, i, size));
  Value last = arith::MaxSIOp::create(
      b, loc, arith::SubIOp::create(b, loc, size, one), zero);
  Value clamped = arith::MinSIOp::create(
      b, loc, arith::MaxSIOp::create(b, loc, i, zero), last);
  return {clamped, inRange};
}

} // namespace

namespace {

/// What the two scatters (kiln.scatter_add, kiln.scatter_reduce) share.
struct Scatter {
  Value base, indices, updates, result;
  int64_t axis;
};

std::optional<Scatter> asScatter(Operation *op) {
  if (auto add = dyn_cast<ScatterAddOp>(op))
    return Scatter{add.getBase(), add.getIndices(), add.getUpdates(),
                   add.getResult(), static_cast<int64_t>(add.getAxis())};
  if (auto reduce = dyn_cast<ScatterReduceOp>(op))
    return Scatter{reduce.getBase(), reduce.getIndices(), reduce.getUpdates(),
                   reduce.getResult(), static_cast<int64_t>(reduce.getAxis())};
  return std::nullopt;
}

} // namespace

bool lowering::scatterTakesOpenExtents(Operation *op) {
  std::optional<Scatter> scatter = asScatter(op);
  if (!scatter)
    return false;
  auto baseType = cast<RankedTensorType>(scatter->base.getType());
  if (scatter->result.getType() != baseType)
    return false;
  int64_t axis = scatter->axis;
  if (axis < 0)
    axis += baseType.getRank();
  // The positions along the axis are checked against its extent (read at
  // run time where it is open); every other extent may be open: the loops
  // run over the updates', the slices take theirs, and the base's are
  // checked against them.
  return axis >= 0 && axis < baseType.getRank();
}

bool lowering::gatherTakesOpenExtents(GatherOp op) {
  auto paramsType = cast<RankedTensorType>(op.getParams().getType());
  auto indicesType = cast<RankedTensorType>(op.getIndices().getType());
  int64_t axis = static_cast<int64_t>(op.getAxis());
  if (axis < 0)
    axis += paramsType.getRank();
  // The indices are checked against the axis's extent (read at run time
  // where it is open); the table's other extents may be open (the result
  // takes them).
  if (axis < 0 || axis >= paramsType.getRank())
    return false;
  // The result type must be exactly what the operands give (no `?` where
  // the table is static, the indices' own extents where they are open).
  SmallVector<int64_t> shape(paramsType.getShape().take_front(axis));
  llvm::append_range(shape, indicesType.getShape());
  llvm::append_range(shape, paramsType.getShape().drop_front(axis + 1));
  return op.getType().getShape() == ArrayRef<int64_t>(shape);
}

namespace {

/// The indexing map that reads `indices` (rank k) at result dims
/// [axis, axis + k) of a rank-`rank` iteration space, skipping dimension
/// `skip` of that space when it is not -1.
AffineMap indicesMap(MLIRContext *context, int64_t rank, int64_t axis,
                     int64_t k) {
  SmallVector<AffineExpr> exprs;
  for (int64_t d = axis; d < axis + k; ++d)
    exprs.push_back(getAffineDimExpr(d, context));
  return AffineMap::get(rank, 0, exprs, context);
}

//   for (a..., i..., b...) in result.shape:
//     j = indices[i...]
//     result[a..., i..., b...] = 0 <= j < n ? params[a..., j, b...] : 0
struct GatherLowering : OpConversionPattern<GatherOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(GatherOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    auto paramsType = cast<RankedTensorType>(op.getParams().getType());
    auto indicesType = cast<RankedTensorType>(op.getIndices().getType());
    // Open extents may come from the indices (a batch of ids); the table
    // is static.
    if (!gatherTakesOpenExtents(op) && failed(requireStatic(op, rewriter)))
      return failure();
    int64_t axis = llvm::cantFail(normalizeAxis(
        static_cast<int64_t>(op.getAxis()), paramsType.getRank()));
    int64_t k = indicesType.getRank();
    if (type.hasStaticShape() && type.getNumElements() == 0) {
      rewriter.replaceOp(op, emptyTensor(rewriter, loc, type));
      return success();
    }
    SmallVector<OpFoldResult> extents;
    SmallVector<OpFoldResult> indexExtents =
        extentsOf(rewriter, loc, adaptor.getIndices());
    SmallVector<OpFoldResult> tableExtents =
        extentsOf(rewriter, loc, adaptor.getParams());
    for (int64_t d = 0; d < type.getRank(); ++d)
      extents.push_back(d < axis       ? tableExtents[d]
                        : d < axis + k ? indexExtents[d - axis]
                                       : tableExtents[d - k + 1]);
    // An empty table: every index is out of range (no element to read).
    bool emptyAxis = paramsType.getDimSize(axis) == 0;
    // An open axis: its extent at run time, and every read under a branch
    // (the table may be empty there).
    bool openAxis = paramsType.isDynamicDim(axis);
    Value axisExtent =
        openAxis ? cast<Value>(tableExtents[axis]) : Value();
    MLIRContext *context = rewriter.getContext();
    SmallVector<AffineMap> maps = {
        indicesMap(context, type.getRank(), axis, k),
        AffineMap::getMultiDimIdentityMap(type.getRank(), context)};
    SmallVector<utils::IteratorType> iterators(type.getRank(),
                                               utils::IteratorType::parallel);
    Value params = adaptor.getParams();
    auto module = op->getParentOfType<ModuleOp>();
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type}, ValueRange{adaptor.getIndices()},
        ValueRange{emptyTensor(rewriter, loc, extents, type.getElementType())},
        maps, iterators,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value j, inRange;
          std::tie(j, inRange) =
              openAxis ? clampIndex(b, l, args[0], axisExtent)
                       : clampIndex(b, l, args[0], paramsType.getDimSize(axis));
          if (op.getBoundsCheck()) {
            if (openAxis)
              checkAtRunTime(b, l, module, inRange,
                             "gather: an index is out of range", args[0],
                             axisExtent);
            else
              checkAtRunTime(b, l, module, inRange,
                             "gather: an index is out of range", args[0],
                             paramsType.getDimSize(axis));
          }
          Value zero = scalarConstant(b, l, type.getElementType(), 0);
          if (emptyAxis) {
            linalg::YieldOp::create(b, l, zero);
            return;
          }
          // (The positions are read in the generic's body: linalg.index
          // has to be its direct child.)
          SmallVector<Value> at;
          for (int64_t d = 0; d < axis; ++d)
            at.push_back(linalg::IndexOp::create(b, l, d));
          at.push_back(j);
          for (int64_t d = axis + k; d < type.getRank(); ++d)
            at.push_back(linalg::IndexOp::create(b, l, d));
          auto read = [&](OpBuilder &r) -> Value {
            return tensor::ExtractOp::create(r, l, params, at);
          };
          if (!openAxis) {
            linalg::YieldOp::create(
                b, l,
                ValueRange{arith::SelectOp::create(b, l, inRange, read(b),
                                                   zero)});
            return;
          }
          auto ifOp = scf::IfOp::create(b, l, TypeRange{zero.getType()},
                                        inRange, /*withElseRegion=*/true);
          OpBuilder then = ifOp.getThenBodyBuilder();
          scf::YieldOp::create(then, l, read(then));
          OpBuilder otherwise = ifOp.getElseBodyBuilder();
          scf::YieldOp::create(otherwise, l, zero);
          linalg::YieldOp::create(b, l, ifOp.getResult(0));
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

// linalg has no scatter, so this is a loop nest over tensors (bufferization
// makes the updates in place). The dimensions after the indexed ones are a
// slice that one linalg op updates (vectorized and split like any
// elementwise op on the CPU); the loops before it keep the updates' order,
// so repeated indices add up in the same order every time:
//
//   result = base
//   for (a..., i...) in updates.shape[: axis + k]:
//     j = indices[i...]
//     if 0 <= j < n: result[a..., j, :] += updates[a..., i..., :]
//
// Without trailing dimensions the body adds one element. kiln.scatter_reduce
// is the same nest combining by max, min or product instead of +.
template <typename OpTy>
struct ScatterLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  using OpAdaptor = typename OpTy::Adaptor;

  /// How the update `y` combines with what the position holds, `x`.
  static Value combine(OpTy op, OpBuilder &b, Location l, Value x, Value y) {
    bool isFloat = isa<FloatType>(x.getType());
    if constexpr (std::is_same_v<OpTy, ScatterReduceOp>) {
      switch (op.getReduction()) {
      case ScatterReduction::max:
        return isFloat ? Value(arith::MaximumFOp::create(b, l, x, y))
                       : Value(arith::MaxSIOp::create(b, l, x, y));
      case ScatterReduction::min:
        return isFloat ? Value(arith::MinimumFOp::create(b, l, x, y))
                       : Value(arith::MinSIOp::create(b, l, x, y));
      case ScatterReduction::prod:
        return isFloat ? Value(arith::MulFOp::create(b, l, x, y))
                       : Value(arith::MulIOp::create(b, l, x, y));
      }
      llvm_unreachable("unknown scatter reduction");
    }
    return isFloat ? Value(arith::AddFOp::create(b, l, x, y))
                   : Value(arith::AddIOp::create(b, l, x, y));
  }

  LogicalResult
  matchAndRewrite(OpTy op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    StringRef name = op->getName().stripDialect();
    Location loc = op.getLoc();
    auto baseType = cast<RankedTensorType>(op.getBase().getType());
    auto updatesType = cast<RankedTensorType>(op.getUpdates().getType());
    int64_t axis = llvm::cantFail(
        normalizeAxis(static_cast<int64_t>(op.getAxis()), baseType.getRank()));
    int64_t k = cast<RankedTensorType>(op.getIndices().getType()).getRank();
    // Open extents may be the loops' (a batch of updates) and the slices'
    // (taken whole); the base's along the axis is static.
    if (!scatterTakesOpenExtents(op) && failed(requireStatic(op, rewriter)))
      return failure();
    // No row to add into (every index is out of range), or nothing to add:
    // the base. (Slices of an empty dimension are out of bounds for the
    // tensor dialect, even empty ones.)
    if (baseType.getDimSize(axis) == 0 ||
        llvm::is_contained(updatesType.getShape(), 0) ||
        llvm::is_contained(baseType.getShape(), 0)) {
      rewriter.replaceOp(op, adaptor.getBase());
      return success();
    }
    int64_t outer = axis + k;
    ArrayRef<int64_t> slice = updatesType.getShape().drop_front(outer);
    // The loops run over the updates; the indices must have as many, and
    // the base as many before the axis and the slices' extents after it.
    SmallVector<OpFoldResult> u = extentsOf(rewriter, loc, adaptor.getUpdates());
    {
      SmallVector<OpFoldResult> i = extentsOf(rewriter, loc, adaptor.getIndices());
      SmallVector<OpFoldResult> base = extentsOf(rewriter, loc, adaptor.getBase());
      for (int64_t d = 0; d < k; ++d)
        checkSameExtent(rewriter, loc, u[axis + d], i[d],
                        name + ": dimension " + Twine(axis + d) +
                            " of the updates does not match the indices");
      for (int64_t d = 0; d < baseType.getRank(); ++d)
        if (d != axis)
          checkSameExtent(rewriter, loc, u[d < axis ? d : d - 1 + k], base[d],
                          name + ": dimension " + Twine(d < axis ? d : d - 1 + k) +
                              " of the updates does not match dimension " +
                              Twine(d) + " of the base");
    }
    SmallVector<OpFoldResult> sliceExtents(u.begin() + outer, u.end());
    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
    SmallVector<Value> lbs(outer, zero);
    SmallVector<Value> steps(outer, one);
    SmallVector<Value> ubs;
    for (auto [d, extent] :
         llvm::enumerate(updatesType.getShape().take_front(outer)))
      ubs.push_back(ShapedType::isDynamic(extent)
                        ? Value(tensor::DimOp::create(rewriter, loc,
                                                      adaptor.getUpdates(), d))
                        : Value(arith::ConstantIndexOp::create(rewriter, loc,
                                                               extent)));
    Value indices = adaptor.getIndices(), updates = adaptor.getUpdates();
    Type element = baseType.getElementType();
    // The update at the position `ivs` (one loop per outer dimension).
    auto body = [&](OpBuilder &b, Location l, ValueRange ivs,
                    Value acc) -> Value {
      Value j = tensor::ExtractOp::create(b, l, indices, ivs.slice(axis, k));
      auto [clamped, inRange] =
          baseType.isDynamicDim(axis)
              ? clampIndex(b, l, j,
                           Value(tensor::DimOp::create(b, l, acc, axis)))
              : clampIndex(b, l, j, baseType.getDimSize(axis));
      auto ifOp = scf::IfOp::create(
          b, l, TypeRange{acc.getType()}, inRange, /*withElseRegion=*/true);
      OpBuilder inside = ifOp.getThenBodyBuilder();
      SmallVector<OpFoldResult> at(ivs.take_front(axis));
      at.push_back(clamped);
      SmallVector<OpFoldResult> from(ivs.begin(), ivs.end());
      auto index = [&](int64_t v) -> OpFoldResult { return b.getIndexAttr(v); };
      SmallVector<OpFoldResult> sizes(outer - k + 1, index(1));
      SmallVector<OpFoldResult> fromSizes(outer, index(1));
      for (OpFoldResult extent : sliceExtents) {
        at.push_back(index(0));
        from.push_back(index(0));
        sizes.push_back(extent);
        fromSizes.push_back(extent);
      }
      SmallVector<OpFoldResult> ones(at.size(), index(1));
      SmallVector<OpFoldResult> fromOnes(from.size(), index(1));
      auto sliceType = RankedTensorType::get(slice, element);
      Value target = tensor::ExtractSliceOp::create(inside, l, sliceType, acc,
                                                    at, sizes, ones);
      Value source = tensor::ExtractSliceOp::create(
          inside, l, sliceType, updates, from, fromSizes, fromOnes);
      auto identity = AffineMap::getMultiDimIdentityMap(slice.size(),
                                                        b.getContext());
      Value sum =
          linalg::GenericOp::create(
              inside, l, TypeRange{sliceType}, ValueRange{source},
              ValueRange{target}, ArrayRef<AffineMap>{identity, identity},
              SmallVector<utils::IteratorType>(slice.size(),
                                               utils::IteratorType::parallel),
              [&](OpBuilder &g, Location gl, ValueRange args) {
                linalg::YieldOp::create(g, gl,
                                        combine(op, g, gl, args[1], args[0]));
              })
              .getResult(0);
      Value updated = tensor::InsertSliceOp::create(inside, l, sum, acc, at,
                                                    sizes, ones);
      scf::YieldOp::create(inside, l, updated);
      OpBuilder otherwise = ifOp.getElseBodyBuilder();
      scf::YieldOp::create(otherwise, l, acc);
      return ifOp.getResult(0);
    };
    if (outer == 0) {
      // One index (a rank-0 indices tensor) and no loop.
      rewriter.replaceOp(op, body(rewriter, loc, {}, adaptor.getBase()));
      return success();
    }
    scf::LoopNest nest = scf::buildLoopNest(
        rewriter, loc, lbs, ubs, steps, ValueRange{adaptor.getBase()},
        [&](OpBuilder &b, Location l, ValueRange ivs,
            ValueRange iterArgs) -> scf::ValueVector {
          return {body(b, l, ivs, iterArgs[0])};
        });
    rewriter.replaceOp(op, nest.results.front());
    return success();
  }
};

//   for (i...) in result.shape:
//     result[i...] = indices[i without axis] == i[axis] ? on : off
struct OneHotLowering : OpConversionPattern<OneHotOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OneHotOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    int64_t axis = llvm::cantFail(
        normalizeAxis(static_cast<int64_t>(op.getAxis()), type.getRank()));
    // The result's extents: the indices' (open ones read at run time), and
    // the depth on the axis.
    SmallVector<OpFoldResult> indexExtents =
        extentsOf(rewriter, loc, adaptor.getIndices());
    SmallVector<OpFoldResult> extents;
    for (int64_t d = 0, j = 0; d < type.getRank(); ++d)
      extents.push_back(d == axis ? OpFoldResult(rewriter.getIndexAttr(
                                        type.getDimSize(axis)))
                                  : indexExtents[j++]);
    MLIRContext *context = rewriter.getContext();
    SmallVector<AffineExpr> exprs;
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (d != axis)
        exprs.push_back(getAffineDimExpr(d, context));
    SmallVector<AffineMap> maps = {
        AffineMap::get(type.getRank(), 0, exprs, context),
        AffineMap::getMultiDimIdentityMap(type.getRank(), context)};
    SmallVector<utils::IteratorType> iterators(type.getRank(),
                                               utils::IteratorType::parallel);
    double on = op.getOnValue().convertToDouble();
    double off = op.getOffValue().convertToDouble();
    Value init = emptyTensor(rewriter, loc, extents, type.getElementType());
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{init.getType()},
        ValueRange{adaptor.getIndices()}, ValueRange{init}, maps, iterators,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value position = arith::IndexCastOp::create(
              b, l, args[0].getType(), linalg::IndexOp::create(b, l, axis));
          Value hit = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq,
                                            args[0], position);
          Type element = type.getElementType();
          linalg::YieldOp::create(
              b, l,
              ValueRange{arith::SelectOp::create(
                  b, l, hit, scalarConstant(b, l, element, on),
                  scalarConstant(b, l, element, off))});
        });
    Value result = generic.getResult(0);
    if (result.getType() != type)
      result = tensor::CastOp::create(rewriter, loc, type, result);
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void lowering::populateShapePatterns(RewritePatternSet &patterns) {
  patterns
      .add<ReshapeLikeLowering<ReshapeOp>, ReshapeLikeLowering<ExpandDimsOp>,
           ReshapeLikeLowering<SqueezeOp>, TransposeLowering,
           BroadcastToLowering, DimLowering, ConcatLowering, SplitLowering, SliceLowering, PadLowering,
           GatherLowering, ScatterLowering<ScatterAddOp>,
           ScatterLowering<ScatterReduceOp>, OneHotLowering>(
          patterns.getContext());
}
