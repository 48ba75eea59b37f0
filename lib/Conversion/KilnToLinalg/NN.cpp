//===- NN.cpp - Lowering matmul, convolution, pooling, softmax
//-------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "kiln/Dialect/Kiln/ShapeUtils.h"

#include "mlir/Dialect/SCF/Utils/Utils.h"

#include <limits>

using namespace mlir;
using namespace mlir::kiln;
using namespace mlir::kiln::lowering;

namespace {

Value zeroFilled(OpBuilder &b, Location loc, RankedTensorType type) {
  return filledTensor(b, loc, type,
                      scalarConstant(b, loc, type.getElementType(), 0));
}

Value zeroFilled(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> extents,
                 Type element) {
  return filledTensor(b, loc, extents, scalarConstant(b, loc, element, 0));
}

Value multiplyAdd(OpBuilder &b, Location loc, Value acc, Value x, Value y) {
  if (isa<FloatType>(acc.getType()))
    return arith::AddFOp::create(b, loc, acc,
                                 arith::MulFOp::create(b, loc, x, y));
  return arith::AddIOp::create(b, loc, acc,
                               arith::MulIOp::create(b, loc, x, y));
}

/// A contraction as a linalg.generic: `result += lhs * rhs` over the
/// reduction dimensions of the iteration space.
Value contraction(OpBuilder &b, Location loc, RankedTensorType type, Value lhs,
                  Value rhs, ArrayRef<AffineMap> maps,
                  ArrayRef<utils::IteratorType> iterators,
                  Value init = Value()) {
  if (!init)
    init = zeroFilled(b, loc, type);
  return linalg::GenericOp::create(
             b, loc, TypeRange{type}, ValueRange{lhs, rhs},
             ValueRange{init}, maps, iterators,
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               linalg::YieldOp::create(
                   nb, nl, multiplyAdd(nb, nl, args[2], args[0], args[1]));
             })
      .getResult(0);
}

AffineExpr dim(MLIRContext *context, unsigned d) {
  return getAffineDimExpr(d, context);
}

/// The result extents of a matmul, {m, n}, after checking at run time
/// that the contraction extents of its operands agree.
SmallVector<OpFoldResult> matmulExtents(OpBuilder &b, Location loc,
                                        MatmulOp op, Value lhsValue,
                                        Value rhsValue) {
  // op(lhs) is m x k, op(rhs) is k x n.
  SmallVector<OpFoldResult> lhs = extentsOf(b, loc, lhsValue);
  SmallVector<OpFoldResult> rhs = extentsOf(b, loc, rhsValue);
  bool tl = op.getTransposeLhs(), tr = op.getTransposeRhs();
  checkSameExtent(b, loc, lhs[tl ? 0 : 1], rhs[tr ? 1 : 0],
                  "the contraction dimensions of 'kiln.matmul' differ");
  return {lhs[tl ? 1 : 0], rhs[tr ? 0 : 1]};
}

/// The result extents of a batch_matmul: static ones; an open batch
/// extent from an operand open there (a static 1 broadcasts, anything else
/// must agree, checked when the code runs); m from lhs, n from rhs, and
/// lhs's k checked against rhs's.
SmallVector<OpFoldResult> batchMatmulExtents(OpBuilder &b, Location loc,
                                             BatchMatmulOp op, Value lhsValue,
                                             Value rhsValue) {
  RankedTensorType type = op.getType();
  int64_t rank = type.getRank(), batch = rank - 2;
  SmallVector<OpFoldResult> lhs = extentsOf(b, loc, lhsValue);
  SmallVector<OpFoldResult> rhs = extentsOf(b, loc, rhsValue);
  SmallVector<OpFoldResult> extents =
      getAsIndexOpFoldResult(b.getContext(), type.getShape());
  // An operand's extent along batch dimension i of the result (1 where it
  // has fewer batch dimensions).
  auto operandBatch = [&](Value v, ArrayRef<OpFoldResult> own,
                          int64_t i) -> std::pair<int64_t, OpFoldResult> {
    auto t = cast<RankedTensorType>(v.getType());
    int64_t j = i - (batch - (t.getRank() - 2));
    if (j < 0)
      return {1, b.getIndexAttr(1)};
    return {t.getDimSize(j), own[j]};
  };
  for (int64_t i = 0; i < batch; ++i) {
    if (!type.isDynamicDim(i))
      continue;
    auto [l, lv] = operandBatch(lhsValue, lhs, i);
    extents[i] =
        ShapedType::isDynamic(l) ? lv : operandBatch(rhsValue, rhs, i).second;
  }
  for (int64_t i = 0; i < batch; ++i)
    for (auto [which, v, own] :
         {std::make_tuple("lhs", lhsValue, ArrayRef<OpFoldResult>(lhs)),
          std::make_tuple("rhs", rhsValue, ArrayRef<OpFoldResult>(rhs))}) {
      auto [d, dv] = operandBatch(v, own, i);
      if (d == 1 && type.getDimSize(i) != 1)
        continue; // broadcast
      checkSameExtent(b, loc, dv, extents[i],
                      "batch dimension " + Twine(i) + " of the " + which +
                          " of 'kiln.batch_matmul' does not match");
    }
  if (type.isDynamicDim(batch))
    extents[batch] = lhs[lhs.size() - 2];
  if (type.isDynamicDim(batch + 1))
    extents[batch + 1] = rhs.back();
  checkSameExtent(b, loc, lhs.back(), rhs[rhs.size() - 2],
                  "the contraction dimensions of 'kiln.batch_matmul' differ");
  return extents;
}

/// A contraction with nothing to add up or nothing to produce (a zero
/// extent in an operand or the result): the result is zeros, or empty. The
/// CPU and GPU tilers are never given loops without iterations. (A matmul
/// may have open extents too: an eager kernel's is open in the leading
/// ones, e.g. 2x0 times 0x3 is compiled as ?x0 times ?x3.)
template <typename OpTy>
struct EmptyContractionLowering : OpConversionPattern<OpTy> {
  EmptyContractionLowering(MLIRContext *context)
      : OpConversionPattern<OpTy>(context, /*benefit=*/2) {}
  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = dyn_cast<RankedTensorType>(op->getResult(0).getType());
    if (!type)
      return failure();
    auto empty = [](Type t) {
      auto tensor = dyn_cast<RankedTensorType>(t);
      return tensor && llvm::is_contained(tensor.getShape(), 0);
    };
    if (!llvm::any_of(op->getOperandTypes(), empty) && !empty(type))
      return failure();
    Location loc = op.getLoc();
    SmallVector<OpFoldResult> extents =
        getAsIndexOpFoldResult(rewriter.getContext(), type.getShape());
    if (!type.hasStaticShape()) {
      if constexpr (std::is_same_v<OpTy, MatmulOp>)
        extents = matmulExtents(rewriter, loc, op, adaptor.getLhs(),
                                adaptor.getRhs());
      else if constexpr (std::is_same_v<OpTy, BatchMatmulOp>)
        extents = batchMatmulExtents(rewriter, loc, op, adaptor.getLhs(),
                                     adaptor.getRhs());
      else
        return failure();
    }
    Value result =
        empty(type) ? emptyTensor(rewriter, loc, extents, type.getElementType())
                    : filledTensor(rewriter, loc, extents,
                                   scalarConstant(rewriter, loc,
                                                  type.getElementType(), 0));
    if (result.getType() != type)
      result = tensor::CastOp::create(rewriter, loc, type, result);
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct MatmulLowering : OpConversionPattern<MatmulOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(MatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    bool tl = op.getTransposeLhs(), tr = op.getTransposeRhs();
    SmallVector<OpFoldResult> extents = matmulExtents(
        rewriter, loc, op, adaptor.getLhs(), adaptor.getRhs());
    Value init = zeroFilled(rewriter, loc, extents, type.getElementType());
    if (!tl && !tr) {
      rewriter.replaceOp(op, linalg::MatmulOp::create(
                                 rewriter, loc, TypeRange{type},
                                 ValueRange{adaptor.getLhs(), adaptor.getRhs()},
                                 ValueRange{init})
                                 .getResult(0));
      return success();
    }
    // (m, n, k): result[m, n] += op(lhs)[m, k] * op(rhs)[k, n]
    MLIRContext *c = rewriter.getContext();
    AffineExpr m = dim(c, 0), n = dim(c, 1), k = dim(c, 2);
    SmallVector<AffineMap> maps = {
        AffineMap::get(3, 0,
                       op.getTransposeLhs() ? ArrayRef<AffineExpr>{k, m}
                                            : ArrayRef<AffineExpr>{m, k},
                       c),
        AffineMap::get(3, 0,
                       op.getTransposeRhs() ? ArrayRef<AffineExpr>{n, k}
                                            : ArrayRef<AffineExpr>{k, n},
                       c),
        AffineMap::get(3, 0, {m, n}, c)};
    rewriter.replaceOp(op, contraction(rewriter, loc, type, adaptor.getLhs(),
                                       adaptor.getRhs(), maps,
                                       {utils::IteratorType::parallel,
                                        utils::IteratorType::parallel,
                                        utils::IteratorType::reduction},
                                       init));
    return success();
  }
};

// (batch..., m, n, k): result[batch, m, n] += lhs[bcast(batch), m, k] *
//                                            rhs[bcast(batch), k, n]
struct BatchMatmulLowering : OpConversionPattern<BatchMatmulOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(BatchMatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    MLIRContext *c = rewriter.getContext();
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    int64_t rank = type.getRank(), batch = rank - 2, loops = rank + 1;
    ArrayRef<int64_t> batchShape = type.getShape().take_front(batch);
    auto operandMap = [&](Value v, AffineExpr row, AffineExpr col) {
      ArrayRef<int64_t> shape = cast<RankedTensorType>(v.getType()).getShape();
      ArrayRef<int64_t> own = shape.drop_back(2);
      AffineMap b = broadcastMap(c, own, batchShape);
      SmallVector<AffineExpr> exprs(b.getResults());
      exprs.push_back(row);
      exprs.push_back(col);
      return AffineMap::get(loops, 0, exprs, c);
    };
    AffineExpr m = dim(c, batch), n = dim(c, batch + 1), k = dim(c, rank);
    SmallVector<AffineMap> maps = {
        operandMap(adaptor.getLhs(), m, k), operandMap(adaptor.getRhs(), k, n),
        AffineMap::get(loops, 0,
                       AffineMap::getMultiDimIdentityMap(rank, c).getResults(),
                       c)};
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    iterators.push_back(utils::IteratorType::reduction);
    Value init = zeroFilled(
        rewriter, loc,
        batchMatmulExtents(rewriter, loc, op, adaptor.getLhs(), adaptor.getRhs()),
        type.getElementType());
    rewriter.replaceOp(op, contraction(rewriter, loc, type, adaptor.getLhs(),
                                       adaptor.getRhs(), maps, iterators,
                                       init));
    return success();
  }
};

/// The padding of the two spatial dimensions of a window op.
struct Padding2D {
  SmallVector<int64_t, 2> low, high, output;
};

Padding2D windowPadding(ArrayRef<int64_t> inputShape, ArrayRef<int64_t> window,
                        ArrayRef<int64_t> strides, ArrayRef<int64_t> dilations,
                        Padding padding) {
  Padding2D p;
  for (int i = 0; i < 2; ++i) {
    WindowDim d =
        llvm::cantFail(windowDim(inputShape[1 + i], window[i], strides[i],
                                 dilations[i], padding == Padding::SAME));
    p.low.push_back(d.padLow);
    p.high.push_back(d.padHigh);
    p.output.push_back(d.output);
  }
  return p;
}

DenseIntElementsAttr i64Vector(OpBuilder &b, ArrayRef<int64_t> values) {
  return DenseIntElementsAttr::get(
      RankedTensorType::get({static_cast<int64_t>(values.size())},
                            b.getI64Type()),
      values);
}

Value idx(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

/// The extents of a window op's result of `type` (rank 4, NHWC or a
/// filter): its static ones, an open batch read from `like` (NHWC too). A
/// static batch of `type` that `like` has open is checked at run time.
SmallVector<OpFoldResult> batchExtents(OpBuilder &b, Location loc,
                                       RankedTensorType type, Value like,
                                       StringRef op) {
  SmallVector<OpFoldResult> extents = extentsLike(b, loc, type, like);
  if (!type.isDynamicDim(0) &&
      cast<RankedTensorType>(like.getType()).isDynamicDim(0))
    checkSameExtent(b, loc, extentsOf(b, loc, like)[0], extents[0],
                    "the batch extent of the result of '" + op +
                        "' differs from its operand's");
  return extents;
}

/// Requires two NHWC operands of a window op to have the same batch extent
/// (at run time where one is open).
void checkSameBatch(OpBuilder &b, Location loc, Value lhs, Value rhs,
                    StringRef op, StringRef lhsName, StringRef rhsName) {
  checkSameExtent(b, loc, extentsOf(b, loc, lhs)[0], extentsOf(b, loc, rhs)[0],
                  "the batch extents of " + lhsName + " and " + rhsName +
                      " of '" + op + "' differ");
}

/// Fails the conversion of a window op unless its shapes are static but
/// for an open batch (windowTakesOpenBatch); the pass has said why first.
LogicalResult requireWindowShapes(Operation *op,
                                  ConversionPatternRewriter &rewriter) {
  if (windowTakesOpenBatch(op))
    return success();
  return requireStatic(op, rewriter);
}

/// The number of real (unpadded) input positions in the window that starts
/// at `y*stride - low` and spans `size` elements of an input of `limit`.
Value realWindowExtent(OpBuilder &b, Location l, Value y, int64_t stride,
                       int64_t low, int64_t size, int64_t limit) {
  Value start = arith::SubIOp::create(
      b, l, arith::MulIOp::create(b, l, y, idx(b, l, stride)), idx(b, l, low));
  Value end = arith::MinSIOp::create(
      b, l, arith::AddIOp::create(b, l, start, idx(b, l, size)),
      idx(b, l, limit));
  start = arith::MaxSIOp::create(b, l, start, idx(b, l, 0));
  return arith::SubIOp::create(b, l, end, start);
}

/// conv_2d_nhwc_hwcf(input, filter) with the given strides and dilations
/// (an open batch of `type` is the input's).
Value convNhwcHwcf(OpBuilder &b, Location loc, RankedTensorType type,
                   Value input, Value filter, ArrayRef<int64_t> strides,
                   ArrayRef<int64_t> dilations) {
  SmallVector<NamedAttribute> attrs = {
      b.getNamedAttr("strides", i64Vector(b, strides)),
      b.getNamedAttr("dilations", i64Vector(b, dilations))};
  Value init = zeroFilled(b, loc, extentsLike(b, loc, type, input),
                          type.getElementType());
  return linalg::Conv2DNhwcHwcfOp::create(b, loc, TypeRange{type},
                                          ValueRange{input, filter},
                                          ValueRange{init}, attrs)
      .getResult(0);
}

struct Conv2DLowering : OpConversionPattern<Conv2DOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(Conv2DOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (failed(requireWindowShapes(op, rewriter)))
      return failure();
    Location loc = op.getLoc();
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    auto filterShape =
        cast<RankedTensorType>(op.getFilter().getType()).getShape();
    Padding2D p =
        windowPadding(inputType.getShape(), filterShape.take_front(2),
                      op.getStrides(), op.getDilations(), op.getPadding());
    Value zero = scalarConstant(rewriter, loc, inputType.getElementType(), 0);
    Value input =
        padSpatial(rewriter, loc, adaptor.getInput(), p.low, p.high, zero);
    // (Only its check: a static result batch against an open input's.)
    (void)batchExtents(rewriter, loc, op.getType(), input, "kiln.conv2d");
    rewriter.replaceOp(op, convNhwcHwcf(rewriter, loc, op.getType(), input,
                                        adaptor.getFilter(), op.getStrides(),
                                        op.getDilations()));
    return success();
  }
};

// The input gradient is a stride-1 convolution of the output gradient,
// dilated by the forward strides and padded, with the filter flipped in
// space and its channel dimensions swapped:
//
//   dyd = zeros(N, (OH-1)*sh + 1, (OW-1)*sw + 1, O); dyd[:, ::sh, ::sw] = dy
//   wf[i, j, o, c] = w[KH-1-i, KW-1-j, c, o]
//   dx = conv(pad(dyd, keff-1-pad_low, ...), wf, dilations)[:, :H, :W]
struct Conv2DBackpropInputLowering
    : OpConversionPattern<Conv2DBackpropInputOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(Conv2DBackpropInputOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (failed(requireWindowShapes(op, rewriter)))
      return failure();
    Location loc = op.getLoc();
    MLIRContext *c = rewriter.getContext();
    RankedTensorType type = op.getType();
    auto dyType = cast<RankedTensorType>(op.getOutBackprop().getType());
    auto filterShape =
        cast<RankedTensorType>(op.getFilter().getType()).getShape();
    Type element = type.getElementType();
    ArrayRef<int64_t> strides = op.getStrides(), dilations = op.getDilations();
    Padding2D p = windowPadding(type.getShape(), filterShape.take_front(2),
                                strides, dilations, op.getPadding());

    // Dilate dy by the strides.
    SmallVector<int64_t> dilatedShape(dyType.getShape());
    for (int i = 0; i < 2; ++i)
      dilatedShape[1 + i] = (dyType.getDimSize(1 + i) - 1) * strides[i] + 1;
    Value dy = adaptor.getOutBackprop();
    auto dilatedType = RankedTensorType::get(dilatedShape, element);
    if (dilatedType != dyType) {
      SmallVector<OpFoldResult> offsets(4, rewriter.getIndexAttr(0));
      SmallVector<OpFoldResult> sizes = extentsOf(rewriter, loc, dy), steps;
      steps = {rewriter.getIndexAttr(1), rewriter.getIndexAttr(strides[0]),
               rewriter.getIndexAttr(strides[1]), rewriter.getIndexAttr(1)};
      Value zeros = zeroFilled(
          rewriter, loc, extentsLike(rewriter, loc, dilatedType, dy), element);
      dy = tensor::InsertSliceOp::create(rewriter, loc, dy, zeros, offsets,
                                         sizes, steps);
    }
    // Pad so that a VALID stride-1 convolution yields at least H x W.
    SmallVector<int64_t> low, high;
    SmallVector<int64_t> convShape(type.getShape());
    for (int i = 0; i < 2; ++i) {
      int64_t keff = (filterShape[i] - 1) * dilations[i] + 1;
      int64_t lo = keff - 1 - p.low[i];
      int64_t hi = type.getDimSize(1 + i) - dilatedShape[1 + i] - lo + keff - 1;
      low.push_back(lo);
      high.push_back(std::max<int64_t>(hi, 0));
      convShape[1 + i] = dilatedShape[1 + i] + lo + high.back() - keff + 1;
    }
    dy = padSpatial(rewriter, loc, dy, low, high,
                    scalarConstant(rewriter, loc, element, 0));

    // Flip the filter in space and swap its channel dimensions.
    auto flippedType = RankedTensorType::get(
        {filterShape[0], filterShape[1], filterShape[3], filterShape[2]},
        element);
    AffineExpr i = dim(c, 0), j = dim(c, 1), o = dim(c, 2), ch = dim(c, 3);
    SmallVector<AffineMap> maps = {
        AffineMap::get(4, 0,
                       {getAffineConstantExpr(filterShape[0] - 1, c) - i,
                        getAffineConstantExpr(filterShape[1] - 1, c) - j, ch,
                        o},
                       c),
        AffineMap::getMultiDimIdentityMap(4, c)};
    Value flipped =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{flippedType},
            ValueRange{adaptor.getFilter()},
            ValueRange{emptyTensor(rewriter, loc, flippedType)}, maps,
            SmallVector<utils::IteratorType>(4, utils::IteratorType::parallel),
            [](OpBuilder &b, Location l, ValueRange args) {
              linalg::YieldOp::create(b, l, args[0]);
            })
            .getResult(0);

    convShape[0] = dyType.getDimSize(0);
    auto convType = RankedTensorType::get(convShape, element);
    Value dx =
        convNhwcHwcf(rewriter, loc, convType, dy, flipped, {1, 1}, dilations);
    SmallVector<OpFoldResult> sizes =
        batchExtents(rewriter, loc, type, dx, "kiln.conv2d_backprop_input");
    if (convType != type) {
      SmallVector<OpFoldResult> offsets(4, rewriter.getIndexAttr(0));
      SmallVector<OpFoldResult> steps(4, rewriter.getIndexAttr(1));
      dx = tensor::ExtractSliceOp::create(rewriter, loc, type, dx, offsets,
                                          sizes, steps);
    }
    rewriter.replaceOp(op, dx);
    return success();
  }
};

// (i, j, c, o, n, y, x):
//   dw[i, j, c, o] += in_padded[n, y*sh + i*dh, x*sw + j*dw, c] * dy[n, y, x,
//   o]
struct Conv2DBackpropFilterLowering
    : OpConversionPattern<Conv2DBackpropFilterOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(Conv2DBackpropFilterOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (failed(requireWindowShapes(op, rewriter)))
      return failure();
    Location loc = op.getLoc();
    MLIRContext *c = rewriter.getContext();
    RankedTensorType type = op.getType();
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    ArrayRef<int64_t> strides = op.getStrides(), dilations = op.getDilations();
    Padding2D p =
        windowPadding(inputType.getShape(), type.getShape().take_front(2),
                      strides, dilations, op.getPadding());
    checkSameBatch(rewriter, loc, adaptor.getInput(), adaptor.getOutBackprop(),
                   "kiln.conv2d_backprop_filter", "input", "out_backprop");
    Value input =
        padSpatial(rewriter, loc, adaptor.getInput(), p.low, p.high,
                   scalarConstant(rewriter, loc, type.getElementType(), 0));
    AffineExpr i = dim(c, 0), j = dim(c, 1), ch = dim(c, 2), o = dim(c, 3),
               n = dim(c, 4), y = dim(c, 5), x = dim(c, 6);
    SmallVector<AffineMap> maps = {
        AffineMap::get(7, 0,
                       {n, y * strides[0] + i * dilations[0],
                        x * strides[1] + j * dilations[1], ch},
                       c),
        AffineMap::get(7, 0, {n, y, x, o}, c),
        AffineMap::get(7, 0, {i, j, ch, o}, c)};
    SmallVector<utils::IteratorType> iterators(4,
                                               utils::IteratorType::parallel);
    iterators.append(3, utils::IteratorType::reduction);
    rewriter.replaceOp(op,
                       contraction(rewriter, loc, type, input,
                                   adaptor.getOutBackprop(), maps, iterators));
    return success();
  }
};

/// max_pool2d / avg_pool2d. Max pads with -inf, so padding never wins; avg
/// sums with zero padding and divides by the number of real elements in each
/// window:
///   count(y, x) = (min(y*sh - top + kh, H) - max(y*sh - top, 0)) * (same in x)
template <typename OpTy, bool Max>
struct PoolLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (failed(requireWindowShapes(op, rewriter)))
      return failure();
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    Type element = type.getElementType();
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    ArrayRef<int64_t> window = op.getWindow(), strides = op.getStrides();
    Padding2D p = windowPadding(inputType.getShape(), window, strides, {1, 1},
                                op.getPadding());
    Value padValue = Max ? lowestValue(rewriter, loc, element)
                         : scalarConstant(rewriter, loc, element, 0);
    Value input =
        padSpatial(rewriter, loc, adaptor.getInput(), p.low, p.high, padValue);
    Value init = filledTensor(
        rewriter, loc,
        batchExtents(rewriter, loc, type, input, op->getName().getStringRef()),
        padValue);
    Value windowTensor =
        tensor::EmptyOp::create(rewriter, loc, window, element);
    SmallVector<NamedAttribute> attrs = {
        rewriter.getNamedAttr("strides", i64Vector(rewriter, strides)),
        rewriter.getNamedAttr("dilations", i64Vector(rewriter, {1, 1}))};
    Value pooled;
    if (Max)
      pooled = linalg::PoolingNhwcMaxOp::create(rewriter, loc, TypeRange{type},
                                                ValueRange{input, windowTensor},
                                                ValueRange{init}, attrs)
                   .getResult(0);
    else
      pooled = linalg::PoolingNhwcSumOp::create(rewriter, loc, TypeRange{type},
                                                ValueRange{input, windowTensor},
                                                ValueRange{init}, attrs)
                   .getResult(0);
    if (!Max) {
      int64_t height = inputType.getDimSize(1), width = inputType.getDimSize(2);
      pooled = buildElementwise(
          rewriter, loc, type, ValueRange{pooled},
          [&](OpBuilder &b, Location l, ValueRange s) {
            Value count = arith::MulIOp::create(
                b, l,
                realWindowExtent(b, l, linalg::IndexOp::create(b, l, 1),
                                 strides[0], p.low[0], window[0], height),
                realWindowExtent(b, l, linalg::IndexOp::create(b, l, 2),
                                 strides[1], p.low[1], window[1], width));
            Value asInt =
                arith::IndexCastOp::create(b, l, b.getI64Type(), count);
            Value asFloat = arith::SIToFPOp::create(b, l, element, asInt);
            return arith::DivFOp::create(b, l, s[0], asFloat).getResult();
          });
    }
    rewriter.replaceOp(op, pooled);
    return success();
  }
};

/// The pooling windows along one dimension that contain input position
/// `h`: windows y with y*stride - low <= h < y*stride - low + size, at most
/// ceil(size / stride) of them, in increasing y. Each is returned clamped to
/// [0, outSize) (so it can be read) with whether it is a real window.
SmallVector<std::pair<Value, Value>>
windowsContaining(OpBuilder &b, Location loc, Value h, int64_t stride,
                  int64_t low, int64_t size, int64_t outSize) {
  // The last window starting at or before h: (h + low) / stride (h + low
  // is never negative: low is padding).
  Value last = arith::DivUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, h, idx(b, loc, low)),
      idx(b, loc, stride));
  int64_t count = (size + stride - 1) / stride;
  SmallVector<std::pair<Value, Value>> windows;
  for (int64_t a = count - 1; a >= 0; --a) {
    // y = last - a, a real window if 0 <= y < outSize and h lies in it:
    // h + low - y*stride < size.
    Value y = arith::SubIOp::create(b, loc, last, idx(b, loc, a));
    Value offset = arith::SubIOp::create(
        b, loc, arith::AddIOp::create(b, loc, h, idx(b, loc, low)),
        arith::MulIOp::create(b, loc, y, idx(b, loc, stride)));
    Value real = arith::AndIOp::create(
        b, loc,
        arith::AndIOp::create(
            b, loc,
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, y,
                                  idx(b, loc, 0)),
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, y,
                                  idx(b, loc, outSize))),
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, offset,
                              idx(b, loc, size)));
    Value clamped = arith::MinSIOp::create(
        b, loc, arith::MaxSIOp::create(b, loc, y, idx(b, loc, 0)),
        idx(b, loc, outSize - 1));
    windows.push_back({clamped, real});
  }
  return windows;
}

/// Position `y*stride - low + i` in the input, and whether it is inside
/// [0, size); the position is clamped so that it can always be read.
std::pair<Value, Value> windowPosition(OpBuilder &b, Location loc, Value y,
                                       Value i, int64_t stride, int64_t low,
                                       int64_t size) {
  Value h = arith::AddIOp::create(
      b, loc,
      arith::SubIOp::create(
          b, loc, arith::MulIOp::create(b, loc, y, idx(b, loc, stride)),
          idx(b, loc, low)),
      i);
  Value inside = arith::AndIOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, h,
                            idx(b, loc, 0)),
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, h,
                            idx(b, loc, size)));
  Value clamped = arith::MinSIOp::create(
      b, loc, arith::MaxSIOp::create(b, loc, h, idx(b, loc, 0)),
      idx(b, loc, size - 1));
  return {clamped, inside};
}

// The pooling gradients scatter (each window sends its gradient to its
// input positions); they are written in gather form instead, one
// independent computation per input position summing over the few windows
// that contain it, in increasing (y, x): the order the scatter added them,
// so the sums are the same to the bit.
//
/// The position (h, w) of the first maximum, in row-major order, of
/// `input` in the pooling window of output position ivs = (n, y, x, c).
static std::pair<Value, Value>
firstMaxPosition(OpBuilder &b, Location l, Value input, ValueRange ivs,
                 ArrayRef<int64_t> window, ArrayRef<int64_t> strides,
                 const Padding2D &p, int64_t height, int64_t width) {
  Value n = ivs[0], y = ivs[1], x = ivs[2], ch = ivs[3];
  Type element = cast<RankedTensorType>(input.getType()).getElementType();
  Value best = lowestValue(b, l, element);
  Value bestH =
      windowPosition(b, l, y, idx(b, l, 0), strides[0], p.low[0], height)
          .first;
  Value bestW =
      windowPosition(b, l, x, idx(b, l, 0), strides[1], p.low[1], width).first;
  for (int64_t i = 0; i < window[0]; ++i) {
    for (int64_t j = 0; j < window[1]; ++j) {
      auto [h, insideH] =
          windowPosition(b, l, y, idx(b, l, i), strides[0], p.low[0], height);
      auto [w, insideW] =
          windowPosition(b, l, x, idx(b, l, j), strides[1], p.low[1], width);
      Value v = tensor::ExtractOp::create(b, l, input, ValueRange{n, h, w, ch});
      Value better = arith::AndIOp::create(
          b, l, arith::AndIOp::create(b, l, insideH, insideW),
          arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, v, best));
      best = arith::SelectOp::create(b, l, better, v, best);
      bestH = arith::SelectOp::create(b, l, better, h, bestH);
      bestW = arith::SelectOp::create(b, l, better, w, bestW);
    }
  }
  return {bestH, bestW};
}

//   result[n, y, x, c] = source[n, h*, w*, c], (h*, w*) the first position
//   of the maximum of input in window (y, x)
struct MaxPool2DSelectLowering : OpConversionPattern<MaxPool2DSelectOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(MaxPool2DSelectOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (failed(requireWindowShapes(op, rewriter)))
      return failure();
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    ArrayRef<int64_t> window = op.getWindow(), strides = op.getStrides();
    Padding2D p = windowPadding(inputType.getShape(), window, strides, {1, 1},
                                op.getPadding());
    int64_t height = inputType.getDimSize(1), width = inputType.getDimSize(2);
    Value input = adaptor.getInput(), source = adaptor.getSource();
    checkSameBatch(rewriter, loc, input, source, "kiln.max_pool2d_select",
                   "input", "source");
    SmallVector<OpFoldResult> extents =
        batchExtents(rewriter, loc, type, input, "kiln.max_pool2d_select");
    Value result = buildFromIndices(
        rewriter, loc, type,
        [&](OpBuilder &b, Location l, ArrayRef<Value> ivs) {
          auto [h, w] = firstMaxPosition(b, l, input, ivs, window, strides, p,
                                         height, width);
          return tensor::ExtractOp::create(b, l, source,
                                           ValueRange{ivs[0], h, w, ivs[3]})
              .getResult();
        },
        extents);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// A pooling gradient's geometry: the input's (and gradient's) extents,
/// the window, the strides and the padding.
struct PoolGeometry {
  ArrayRef<int64_t> window, strides;
  Padding2D p;
  int64_t height, width, outHeight, outWidth;
};

/// The gradient `dx` of a pooling op in gather form: dx[n, h, w, c] sums,
/// over the windows (y, x) that contain (h, w), in increasing (y, x),
/// `term(n, y, x, c)` where `term` says it applies. `term` returns the value
/// and whether it applies (null: always). An open batch is `like`'s.
template <typename OpTy>
LogicalResult lowerPoolGradient(
    OpTy op, ConversionPatternRewriter &rewriter, Value like,
    function_ref<std::pair<Value, Value>(OpBuilder &, Location, ValueRange,
                                         Value, Value, const PoolGeometry &)>
        term) {
  if (failed(requireWindowShapes(op, rewriter)))
    return failure();
  RankedTensorType type = op.getType();
  Type element = type.getElementType();
  auto dyType = cast<RankedTensorType>(op.getOutBackprop().getType());
  PoolGeometry g{op.getWindow(),
                 op.getStrides(),
                 windowPadding(type.getShape(), op.getWindow(),
                               op.getStrides(), {1, 1}, op.getPadding()),
                 type.getDimSize(1),
                 type.getDimSize(2),
                 dyType.getDimSize(1),
                 dyType.getDimSize(2)};
  SmallVector<OpFoldResult> extents =
      batchExtents(rewriter, op.getLoc(), type, like,
                   op->getName().getStringRef());
  Value result = buildFromIndices(
      rewriter, op.getLoc(), type,
      [&](OpBuilder &b, Location l, ArrayRef<Value> ivs) {
        Value n = ivs[0], h = ivs[1], w = ivs[2], ch = ivs[3];
        Value sum = scalarConstant(b, l, element, 0);
        for (auto [y, realY] : windowsContaining(b, l, h, g.strides[0],
                                                 g.p.low[0], g.window[0],
                                                 g.outHeight))
          for (auto [x, realX] : windowsContaining(b, l, w, g.strides[1],
                                                   g.p.low[1], g.window[1],
                                                   g.outWidth)) {
            auto [value, applies] =
                term(b, l, ValueRange{n, y, x, ch}, h, w, g);
            Value real = arith::AndIOp::create(b, l, realY, realX);
            if (applies)
              real = arith::AndIOp::create(b, l, real, applies);
            sum = arith::SelectOp::create(
                b, l, real, arith::AddFOp::create(b, l, sum, value), sum);
          }
        return sum;
      },
      extents);
  rewriter.replaceOp(op, result);
  return success();
}

//   dx[n, h, w, c] = sum of dy[n, y, x, c] over the windows (y, x) that
//   contain (h, w) and whose first maximum is there
struct MaxPool2DGradLowering : OpConversionPattern<MaxPool2DGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(MaxPool2DGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value input = adaptor.getInput(), dy = adaptor.getOutBackprop();
    if (windowTakesOpenBatch(op))
      checkSameBatch(rewriter, op.getLoc(), input, dy, "kiln.max_pool2d_grad",
                     "input", "out_backprop");
    return lowerPoolGradient(
        op, rewriter, input,
        [&](OpBuilder &b, Location l, ValueRange at, Value h, Value w,
            const PoolGeometry &g) -> std::pair<Value, Value> {
          auto [bestH, bestW] = firstMaxPosition(
              b, l, input, at, g.window, g.strides, g.p, g.height, g.width);
          Value there = arith::AndIOp::create(
              b, l,
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, bestH, h),
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, bestW, w));
          return {tensor::ExtractOp::create(b, l, dy, at), there};
        });
  }
};

//   dx[n, h, w, c] = sum of dy[n, y, x, c] / count(y, x) over the windows
//   (y, x) that contain (h, w)
struct AvgPool2DGradLowering : OpConversionPattern<AvgPool2DGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(AvgPool2DGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value dy = adaptor.getOutBackprop();
    Type element = op.getType().getElementType();
    return lowerPoolGradient(
        op, rewriter, dy,
        [&](OpBuilder &b, Location l, ValueRange at, Value, Value,
            const PoolGeometry &g) -> std::pair<Value, Value> {
          Value count = arith::MulIOp::create(
              b, l,
              realWindowExtent(b, l, at[1], g.strides[0], g.p.low[0],
                               g.window[0], g.height),
              realWindowExtent(b, l, at[2], g.strides[1], g.p.low[1],
                               g.window[1], g.width));
          Value countF = arith::SIToFPOp::create(
              b, l, element,
              arith::IndexCastOp::create(b, l, b.getI64Type(), count));
          return {arith::DivFOp::create(
                      b, l, tensor::ExtractOp::create(b, l, dy, at), countF),
                  Value()};
        });
  }
};

//===----------------------------------------------------------------------===//
// Softmax and cross-entropy
//===----------------------------------------------------------------------===//

/// The map of a tensor that lacks dimension `axis` of a rank-`rank` space.
AffineMap dropAxisMap(MLIRContext *c, int64_t rank, int64_t axis) {
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < rank; ++d)
    if (d != axis)
      exprs.push_back(getAffineDimExpr(d, c));
  return AffineMap::get(rank, 0, exprs, c);
}

/// One linalg.generic over a rank-`rank` space: `full` operands cover the
/// whole space (and must agree in extent), `reduced` ones lack `axis` (and
/// come from the full ones). If `reduceAxis`, the result lacks `axis` and
/// accumulates from `init`; otherwise it is full-sized.
Value axisGeneric(OpBuilder &b, Location loc, RankedTensorType fullType,
                  int64_t axis, ValueRange full, ValueRange reduced,
                  bool reduceAxis, Value initValue,
                  function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  MLIRContext *c = b.getContext();
  int64_t rank = fullType.getRank();
  AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, c);
  AffineMap dropped = dropAxisMap(c, rank, axis);
  SmallVector<AffineMap> maps;
  SmallVector<Value> inputs;
  for (Value v : full) {
    maps.push_back(identity);
    inputs.push_back(v);
  }
  for (Value v : reduced) {
    maps.push_back(dropped);
    inputs.push_back(v);
  }
  SmallVector<OpFoldResult> extents = extentsOf(b, loc, full.front());
  for (Value v : full.drop_front()) {
    SmallVector<OpFoldResult> other = extentsOf(b, loc, v);
    for (int64_t d = 0; d < rank; ++d)
      checkSameExtent(b, loc, other[d], extents[d],
                      "the operands differ in dimension " + Twine(d));
  }
  auto resultType = fullType;
  Value init;
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  if (reduceAxis) {
    resultType =
        RankedTensorType::get(reduceShape(fullType.getShape(), {axis}, false),
                              fullType.getElementType());
    SmallVector<OpFoldResult> kept(extents);
    kept.erase(kept.begin() + axis);
    init = filledTensor(b, loc, kept, initValue);
    maps.push_back(dropped);
    iterators[axis] = utils::IteratorType::reduction;
  } else {
    init = emptyTensor(b, loc, extents, fullType.getElementType());
    maps.push_back(identity);
  }
  return linalg::GenericOp::create(
             b, loc, TypeRange{resultType}, inputs, ValueRange{init}, maps,
             iterators,
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               linalg::YieldOp::create(nb, nl, body(nb, nl, args));
             })
      .getResult(0);
}

/// `value` as a scalar of `type` (extended; the same value if it is one).
Value widen(OpBuilder &b, Location loc, Value value, Type type) {
  if (value.getType() == type)
    return value;
  return arith::ExtFOp::create(b, loc, type, value);
}

/// max over `axis` and log(sum(exp(x - max))) over `axis`; the sum and the
/// log in the accumulator type (f32 for f16 and bf16 logits).
std::pair<Value, Value> maxAndLogSumExp(OpBuilder &b, Location loc, Value x,
                                        int64_t axis) {
  auto type = cast<RankedTensorType>(x.getType());
  Type element = type.getElementType();
  Type acc = accumulatorType(element);
  Value max = axisGeneric(
      b, loc, type, axis, {x}, {}, true, lowestValue(b, loc, element),
      [](OpBuilder &nb, Location nl, ValueRange a) {
        return arith::MaximumFOp::create(nb, nl, a[1], a[0]).getResult();
      });
  Value sum = axisGeneric(
      b, loc, type.clone(acc), axis, {x}, {max}, true,
      scalarConstant(b, loc, acc, 0),
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value e = math::ExpOp::create(
            nb, nl,
            arith::SubFOp::create(nb, nl, widen(nb, nl, a[0], acc),
                                  widen(nb, nl, a[1], acc)));
        return arith::AddFOp::create(nb, nl, a[2], e).getResult();
      });
  auto reducedType = cast<RankedTensorType>(sum.getType());
  Value logSum = buildElementwise(
      b, loc, reducedType, {sum}, [](OpBuilder &nb, Location nl, ValueRange a) {
        return math::LogOp::create(nb, nl, a[0]).getResult();
      });
  return {max, logSum};
}

template <typename OpTy, bool Log>
struct SoftmaxLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getType());
    int64_t axis = llvm::cantFail(
        normalizeAxis(static_cast<int64_t>(op.getAxis()), type.getRank()));
    auto [max, logSum] =
        maxAndLogSumExp(rewriter, loc, adaptor.getInput(), axis);
    Type element = type.getElementType();
    Type acc = accumulatorType(element);
    // log_softmax = x - max - log(sum); softmax = exp(that); in the
    // accumulator type, rounded to the element type once.
    Value result = axisGeneric(
        rewriter, loc, type, axis, {adaptor.getInput()}, {max, logSum}, false,
        Value(), [&](OpBuilder &nb, Location nl, ValueRange a) {
          Value shifted = arith::SubFOp::create(
              nb, nl,
              arith::SubFOp::create(nb, nl, widen(nb, nl, a[0], acc),
                                    widen(nb, nl, a[1], acc)),
              a[2]);
          Value value =
              Log ? shifted : math::ExpOp::create(nb, nl, shifted).getResult();
          return castScalar(nb, nl, value, element);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

// loss[b] = sum_c labels[b, c] * (logsum[b] - (logits[b, c] - max[b])):
// the logit's distance from the row's maximum first, as TensorFlow does, so
// that large logits do not round the loss (max + logsum - logit loses the
// digits of logsum below max's ulp).
struct SoftmaxCrossEntropyLowering
    : OpConversionPattern<SoftmaxCrossEntropyOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(SoftmaxCrossEntropyOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getLogits().getType());
    int64_t axis = type.getRank() - 1;
    auto [max, logSum] =
        maxAndLogSumExp(rewriter, loc, adaptor.getLogits(), axis);
    Type element = type.getElementType();
    Type acc = accumulatorType(element);
    Value loss = axisGeneric(
        rewriter, loc, type.clone(acc), axis,
        {adaptor.getLogits(), adaptor.getLabels()}, {max, logSum}, true,
        scalarConstant(rewriter, loc, acc, 0),
        [&](OpBuilder &nb, Location nl, ValueRange a) {
          Value shifted =
              arith::SubFOp::create(nb, nl, widen(nb, nl, a[0], acc),
                                    widen(nb, nl, a[2], acc));
          Value nll = arith::SubFOp::create(nb, nl, a[3], shifted);
          return arith::AddFOp::create(
                     nb, nl, a[4],
                     arith::MulFOp::create(nb, nl, widen(nb, nl, a[1], acc),
                                           nll))
              .getResult();
        });
    rewriter.replaceOp(op, toElementType(rewriter, loc, loss, element));
    return success();
  }
};

// loss[b] = 0 <= label[b] < C ? logsum[b] - (logits[b, label[b]] - max[b])
//                              : NaN
struct SparseSoftmaxCrossEntropyLowering
    : OpConversionPattern<SparseSoftmaxCrossEntropyOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(SparseSoftmaxCrossEntropyOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto logitsType = cast<RankedTensorType>(op.getLogits().getType());
    int64_t axis = logitsType.getRank() - 1;
    Value logits = adaptor.getLogits();
    Value classes = tensor::DimOp::create(rewriter, loc, logits, axis);
    auto [max, logSum] = maxAndLogSumExp(rewriter, loc, logits, axis);
    RankedTensorType type = op.getType();
    Type element = type.getElementType();
    Type acc = accumulatorType(element);
    auto module = op->getParentOfType<ModuleOp>();
    Value loss = buildElementwise(
        rewriter, loc, type, {adaptor.getLabels(), max, logSum},
        [&](OpBuilder &b, Location l, ValueRange s) {
          Value label =
              arith::IndexCastOp::create(b, l, b.getIndexType(), s[0]);
          Value inRange = arith::AndIOp::create(
              b, l,
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, label,
                                    idx(b, l, 0)),
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, label,
                                    classes));
          Value safe =
              arith::SelectOp::create(b, l, inRange, label, idx(b, l, 0));
          if (op.getBoundsCheck())
            checkAtRunTime(b, l, module, inRange,
                           "sparse softmax cross-entropy: a label is out of "
                           "the classes' range",
                           s[0], logitsType.getDimSize(axis));
          SmallVector<Value> at;
          for (int64_t d = 0; d < axis; ++d)
            at.push_back(linalg::IndexOp::create(b, l, d));
          at.push_back(safe);
          Value picked = tensor::ExtractOp::create(b, l, logits, at);
          Value lossValue = arith::SubFOp::create(
              b, l, s[2],
              arith::SubFOp::create(b, l, widen(b, l, picked, acc),
                                    widen(b, l, s[1], acc)));
          Value nan = arith::ConstantOp::create(
              b, l,
              b.getFloatAttr(
                  acc, APFloat::getNaN(
                           cast<FloatType>(acc).getFloatSemantics())));
          return castScalar(
              b, l, arith::SelectOp::create(b, l, inRange, lossValue, nan),
              element);
        });
    rewriter.replaceOp(op, loss);
    return success();
  }
};

} // namespace

bool lowering::windowTakesOpenBatch(Operation *op) {
  // The filter (an operand, or the result of the filter gradient) is
  // static; NHWC tensors may be open in their batch only.
  Value filter;
  if (auto conv = dyn_cast<Conv2DOp>(op))
    filter = conv.getFilter();
  else if (auto conv = dyn_cast<Conv2DBackpropInputOp>(op))
    filter = conv.getFilter();
  else if (auto conv = dyn_cast<Conv2DBackpropFilterOp>(op))
    filter = conv.getResult();
  else if (!isa<MaxPool2DOp, AvgPool2DOp, MaxPool2DGradOp, MaxPool2DSelectOp,
                AvgPool2DGradOp>(op))
    return false;
  for (Value v : llvm::concat<Value>(op->getOperands(), op->getResults())) {
    auto type = dyn_cast<RankedTensorType>(v.getType());
    if (!type || type.getRank() != 4)
      return false;
    ArrayRef<int64_t> shape = type.getShape();
    if (v == filter ? !type.hasStaticShape()
                    : llvm::any_of(shape.drop_front(), ShapedType::isDynamic))
      return false;
  }
  return true;
}

void lowering::populateNNPatterns(RewritePatternSet &patterns) {
  patterns.add<EmptyContractionLowering<MatmulOp>,
               EmptyContractionLowering<BatchMatmulOp>,
               EmptyContractionLowering<Conv2DOp>,
               EmptyContractionLowering<Conv2DBackpropInputOp>,
               EmptyContractionLowering<Conv2DBackpropFilterOp>>(
      patterns.getContext());
  patterns.add<MatmulLowering, BatchMatmulLowering, Conv2DLowering,
               Conv2DBackpropInputLowering, Conv2DBackpropFilterLowering,
               PoolLowering<MaxPool2DOp, true>,
               PoolLowering<AvgPool2DOp, false>, MaxPool2DGradLowering,
               MaxPool2DSelectLowering,
               AvgPool2DGradLowering, SoftmaxLowering<SoftmaxOp, false>,
               SoftmaxLowering<LogSoftmaxOp, true>, SoftmaxCrossEntropyLowering,
               SparseSoftmaxCrossEntropyLowering>(patterns.getContext());
}
