//===- ConvolutionsToGemm.cpp - Convolutions as matrix products -----------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// conv_2d_nhwc_hwcf(X, F) with strides (sh, sw) and dilations (dh, dw):
//
//   P[n, oh, ow, kh, kw, c] = X[n, oh*sh + kh*dh, ow*sw + kw*dw, c]   // copy
//   Y[n*oh*ow, f] = P[n*oh*ow, kh*kw*c] @ F[kh*kw*c, f]              // matmul
//
// The patch copy walks C innermost, contiguous in both X and P, so it runs
// at copy speed (upstream's im2col computes every index with divisions);
// the reshapes are views (the collapsed dimensions are contiguous). The
// filter gradient (Kiln lowers it to one generic over seven loops) is the
// same patches, read transposed:
//
//   dW[kh*kw*c, f] = P[n*oh*ow, kh*kw*c]^T @ dY[n*oh*ow, f]
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/CPU/Passes.h"

#include "Convolutions.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

#include <array>

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNCPUCONVOLUTIONSTOGEMM
#include "kiln/Codegen/CPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

AffineMap mlir::kiln::cpu::inputReadMap(MLIRContext *context,
                                       unsigned numDims,
                                       std::array<unsigned, 6> at,
                                       ArrayRef<int64_t> strides,
                                       ArrayRef<int64_t> dilations) {
  auto d = [&](unsigned i) { return getAffineDimExpr(at[i], context); };
  return AffineMap::get(numDims, 0,
                        {d(0), d(1) * strides[0] + d(3) * dilations[0],
                         d(2) * strides[1] + d(4) * dilations[1], d(5)},
                        context);
}

Value mlir::kiln::cpu::copyWindows(RewriterBase &rewriter, Location loc,
                                   Value input, RankedTensorType type,
                                   AffineMap read) {
  unsigned rank = type.getRank();
  SmallVector<Value> open;
  if (type.isDynamicDim(0))
    open.push_back(tensor::DimOp::create(rewriter, loc, input, 0));
  Value empty = tensor::EmptyOp::create(rewriter, loc, type.getShape(),
                                        type.getElementType(), open);
  return linalg::GenericOp::create(
             rewriter, loc, TypeRange{type}, ValueRange{input},
             ValueRange{empty},
             ArrayRef<AffineMap>{read, AffineMap::getMultiDimIdentityMap(
                                           rank, rewriter.getContext())},
             SmallVector<utils::IteratorType>(rank,
                                              utils::IteratorType::parallel),
             [](OpBuilder &b, Location l, ValueRange args) {
               linalg::YieldOp::create(b, l, args[0]);
             })
      .getResult(0);
}

/// The patches of `input` (N x H x W x C) for a KH x KW window with
/// `strides` and `dilations` and an N x OH x OW output, as the matrix
/// (N * OH * OW) x (KH * KW * C).
static Value patchMatrix(RewriterBase &rewriter, Location loc, Value input,
                         ArrayRef<int64_t> outShape, int64_t kh, int64_t kw,
                         ArrayRef<int64_t> strides,
                         ArrayRef<int64_t> dilations) {
  MLIRContext *context = rewriter.getContext();
  auto inputType = cast<RankedTensorType>(input.getType());
  Type element = inputType.getElementType();
  int64_t c = inputType.getDimSize(3);
  auto patchType = RankedTensorType::get(
      {outShape[0], outShape[1], outShape[2], kh, kw, c}, element);
  // Patch loops (n, oh, ow, kh, kw, c).
  Value patches = kiln::cpu::copyWindows(
      rewriter, loc, input, patchType,
      kiln::cpu::inputReadMap(context, 6, {0, 1, 2, 3, 4, 5}, strides,
                              dilations));
  return tensor::CollapseShapeOp::create(
      rewriter, loc, patches,
      ArrayRef<ReassociationIndices>{{0, 1, 2}, {3, 4, 5}});
}

/// `value` (rank 4) as a matrix of its first three dimensions by its last.
static Value rows(RewriterBase &rewriter, Location loc, Value value) {
  return tensor::CollapseShapeOp::create(
      rewriter, loc, value, ArrayRef<ReassociationIndices>{{0, 1, 2}, {3}});
}

/// Rewrites `conv` (static shapes but for an open batch) as a patch copy
/// and a matmul.
static void rewriteConvolution(RewriterBase &rewriter,
                               linalg::Conv2DNhwcHwcfOp conv) {
  Location loc = conv.getLoc();
  Value input = conv.getInputs()[0], filter = conv.getInputs()[1];
  Value init = conv.getOutputs()[0];
  auto filterType = cast<RankedTensorType>(filter.getType());
  auto resultType = cast<RankedTensorType>(init.getType());
  SmallVector<int64_t> strides =
      llvm::to_vector(conv.getStrides().getValues<int64_t>());
  SmallVector<int64_t> dilations =
      llvm::to_vector(conv.getDilations().getValues<int64_t>());
  rewriter.setInsertionPoint(conv);
  Value lhs = patchMatrix(rewriter, loc, input, resultType.getShape(),
                          filterType.getDimSize(0), filterType.getDimSize(1),
                          strides, dilations);
  Value acc = rows(rewriter, loc, init);
  Value product =
      linalg::MatmulOp::create(rewriter, loc, TypeRange{acc.getType()},
                               ValueRange{lhs, rows(rewriter, loc, filter)},
                               ValueRange{acc})
          .getResult(0);
  rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(
      conv, resultType, product,
      ArrayRef<ReassociationIndices>{{0, 1, 2}, {3}});
}

std::optional<std::pair<SmallVector<int64_t>, SmallVector<int64_t>>>
mlir::kiln::cpu::matchFilterGradient(linalg::GenericOp op) {
  if (op.getNumLoops() != 7 || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op.getNumParallelLoops() != 4 ||
      !op.hasPureTensorSemantics())
    return std::nullopt;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  for (unsigned i = 0; i < 7; ++i)
    if ((iterators[i] == utils::IteratorType::parallel) != (i < 4))
      return std::nullopt;
  // The body: out + in0 * in1.
  Block &body = op.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getOperand(0).getDefiningOp<arith::AddFOp>();
  auto mul = add ? add.getRhs().getDefiningOp<arith::MulFOp>()
                 : arith::MulFOp();
  if (!mul || add.getLhs() != body.getArgument(2) ||
      mul.getLhs() != body.getArgument(0) ||
      mul.getRhs() != body.getArgument(1))
    return std::nullopt;
  MLIRContext *context = op.getContext();
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  auto dims = [&](ArrayRef<unsigned> positions) {
    return AffineMap::get(7, 0,
                          llvm::map_to_vector(positions, [&](unsigned p) {
                            return getAffineDimExpr(p, context);
                          }),
                          context);
  };
  if (maps[1] != dims({4, 5, 6, 3}) || maps[2] != dims({0, 1, 2, 3}))
    return std::nullopt;
  // The input map's coefficients, read by evaluating it at unit vectors.
  auto at = [&](unsigned dim) {
    SmallVector<int64_t> point(7, 0);
    point[dim] = 1;
    return maps[0].compose(point);
  };
  SmallVector<int64_t> strides = {at(5)[1], at(6)[2]};
  SmallVector<int64_t> dilations = {at(0)[1], at(1)[2]};
  // Filter-gradient loops (kh, kw, c, f, n, oh, ow).
  AffineMap expected =
      kiln::cpu::inputReadMap(context, 7, {4, 5, 6, 0, 1, 2}, strides, dilations);
  if (maps[0] != expected)
    return std::nullopt;
  return std::make_pair(strides, dilations);
}

/// Rewrites a filter gradient as dW = P^T dY over the patches P.
static void rewriteFilterGradient(RewriterBase &rewriter, linalg::GenericOp op,
                                  ArrayRef<int64_t> strides,
                                  ArrayRef<int64_t> dilations) {
  Location loc = op.getLoc();
  MLIRContext *context = op.getContext();
  Value input = op.getDpsInputs()[0], dy = op.getDpsInputs()[1];
  Value init = op.getDpsInits()[0];
  auto dyType = cast<RankedTensorType>(dy.getType());
  auto resultType = cast<RankedTensorType>(init.getType());
  rewriter.setInsertionPoint(op);
  Value patches =
      patchMatrix(rewriter, loc, input, dyType.getShape(),
                  resultType.getDimSize(0), resultType.getDimSize(1), strides,
                  dilations);
  // (m, n, k) = (window element, filter, pixel): patches are read
  // transposed.
  AffineExpr m = getAffineDimExpr(0, context), n = getAffineDimExpr(1, context),
             k = getAffineDimExpr(2, context);
  SmallVector<Attribute> maps = {
      AffineMapAttr::get(AffineMap::get(3, 0, {k, m}, context)),
      AffineMapAttr::get(AffineMap::get(3, 0, {k, n}, context)),
      AffineMapAttr::get(AffineMap::get(3, 0, {m, n}, context))};
  Value acc = rows(rewriter, loc, init);
  Value product =
      linalg::MatmulOp::create(
          rewriter, loc, TypeRange{acc.getType()},
          ValueRange{patches, rows(rewriter, loc, dy)}, ValueRange{acc},
          {rewriter.getNamedAttr("indexing_maps", rewriter.getArrayAttr(maps))})
          .getResult(0);
  rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(
      op, resultType, product, ArrayRef<ReassociationIndices>{{0, 1, 2}, {3}});
}

bool mlir::kiln::cpu::hasStaticFloatOperands(Operation *op) {
  return llvm::all_of(op->getOperandTypes(), [](Type t) {
    auto shaped = dyn_cast<ShapedType>(t);
    return shaped && shaped.hasStaticShape() &&
           isa<FloatType>(shaped.getElementType());
  });
}

bool mlir::kiln::cpu::hasFloatOperandsOpenInBatch(Operation *op,
                                                  unsigned filterOperand) {
  for (auto [i, t] : llvm::enumerate(op->getOperandTypes())) {
    auto shaped = dyn_cast<RankedTensorType>(t);
    if (!shaped || shaped.getRank() != 4 ||
        !isa<FloatType>(shaped.getElementType()))
      return false;
    ArrayRef<int64_t> shape = shaped.getShape();
    if (i == filterOperand ? !shaped.hasStaticShape()
                           : llvm::any_of(shape.drop_front(),
                                          ShapedType::isDynamic))
      return false;
  }
  return true;
}

namespace {
struct CPUConvolutionsToGemmPass
    : public mlir::kiln::impl::KilnCPUConvolutionsToGemmBase<
          CPUConvolutionsToGemmPass> {
  void runOnOperation() override {
    SmallVector<linalg::Conv2DNhwcHwcfOp> convolutions;
    SmallVector<linalg::GenericOp> gradients;
    getOperation().walk([&](Operation *op) {
      if (auto conv = dyn_cast<linalg::Conv2DNhwcHwcfOp>(op)) {
        if (conv.hasPureTensorSemantics() &&
            kiln::cpu::hasFloatOperandsOpenInBatch(conv, 1))
          convolutions.push_back(conv);
      } else if (auto generic = dyn_cast<linalg::GenericOp>(op)) {
        if (kiln::cpu::hasFloatOperandsOpenInBatch(generic, 2) &&
            kiln::cpu::matchFilterGradient(generic))
          gradients.push_back(generic);
      }
    });
    IRRewriter rewriter(&getContext());
    for (linalg::Conv2DNhwcHwcfOp conv : convolutions)
      rewriteConvolution(rewriter, conv);
    for (linalg::GenericOp op : gradients) {
      auto [strides, dilations] = *kiln::cpu::matchFilterGradient(op);
      rewriteFilterGradient(rewriter, op, strides, dilations);
    }
  }
};
} // namespace
