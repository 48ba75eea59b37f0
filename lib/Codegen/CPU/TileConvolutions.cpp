//===- TileConvolutions.cpp - Direct convolutions for the CPU -------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-cpu-tile-convolutions: convolutions and filter gradients computed
// directly from the images, without a copy of their patches. Both are sums
// of small matrix products over the window:
//
//   Y[n, oh, ow0:ow0+OWT, f0:f0+NR] +=
//     X[n, oh*sh + kh*dh, (ow0:ow0+OWT)*sw + kw*dw, :]   (OWT x C rows)
//     @ F[kh, kw, :, f0:f0+NR]                            (C x NR)
//
//   dW[kh, kw, c0:c0+CT, f0:f0+NR] +=
//     X[n, oh*sh + kh*dh, (0:OW)*sw + kw*dw, c0:c0+CT]^T  (CT x OW)
//     @ dY[n, oh, 0:OW, f0:f0+NR]                         (OW x NR)
//
// Each product is a register tile (a linalg.matmul on slices of the
// operands, marked for kiln-cpu-tile-contractions, which vectorizes it);
// the loops around it over the window (kh, kw) or the pixels (n, oh) are
// marked so that the accumulator stays in registers across them. The
// independent output tiles are scf.forall loops, with the convolution's
// fill and elementwise epilogue fused, through TilingInterface. A filter
// gradient sums its images in groups, the group the outermost parallel
// loop, and adds the groups' partial gradients in order.
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/CPU/Passes.h"

#include "Convolutions.h"
#include "Tiling.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNCPUTILECONVOLUTIONS
#include "kiln/Codegen/CPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

/// A register tile: `rows` x `columns` accumulator elements, the columns a
/// whole number of vectors.
struct RegisterTile {
  int64_t rows = 0, columns = 0;
};

/// The register tile for products with `n` output columns (the filters),
/// rows chosen among the divisors of `m` so that every tile is full: NR is
/// two vectors when N splits into them, else one; the rows are the largest
/// divisor of M that keeps the accumulators within the register budget,
/// if it is at least `minRows`. Nothing if N is not a whole number of
/// vectors or M has no such divisor.
std::optional<RegisterTile> chooseRegisterTile(int64_t vectorBits,
                                               unsigned bits, int64_t m,
                                               int64_t n, int64_t minRows) {
  int64_t lanes = std::max<int64_t>(vectorBits / bits, 1);
  if (n % lanes != 0)
    return std::nullopt;
  RegisterTile tile;
  tile.columns = n % (2 * lanes) == 0 ? 2 * lanes : lanes;
  int64_t limit =
      kiln::cpu::accumulatorRegisters(vectorBits) / (tile.columns / lanes);
  for (int64_t rows = std::min(limit, m); rows >= 1; --rows)
    if (m % rows == 0) {
      tile.rows = rows;
      break;
    }
  if (tile.rows < minRows)
    return std::nullopt;
  return tile;
}

/// Rows of a register tile, fewer than this, leave the FMA units waiting
/// (each accumulator is a chain of dependent FMAs); such shapes keep the
/// patch-copy strategy.
constexpr int64_t kMinRows = 4;

/// Element type width of `op`'s result.
unsigned resultBits(linalg::LinalgOp op) {
  return cast<ShapedType>(op.getDpsInits()[0].getType())
      .getElementTypeBitWidth();
}

/// `value` (leading unit dimensions) as the matrix of its last two, every
/// `stride`-th row.
Value matrixOf(RewriterBase &rewriter, Location loc, Value value, int64_t rows,
               int64_t columns, int64_t stride) {
  auto type = cast<RankedTensorType>(value.getType());
  auto matrix =
      RankedTensorType::get({rows, columns}, type.getElementType());
  int64_t rank = type.getRank();
  auto index = [&](ArrayRef<int64_t> last, int64_t leading) {
    SmallVector<int64_t> values(rank - 2, leading);
    llvm::append_range(values, last);
    return getAsIndexOpFoldResult(rewriter.getContext(), values);
  };
  return tensor::ExtractSliceOp::create(
      rewriter, loc, matrix, value, index({0, 0}, 0),
      index({rows, columns}, 1), index({stride, 1}, 1));
}

/// Replaces `op` by the matrix product `lhs @ rhs` accumulated into its
/// result, with `maps` for (m, n, k) (none: a plain matmul), marked as a
/// register tile. The result is a matrix, or a tile with leading unit
/// dimensions (a convolution's), read and written as the matrix of the
/// last two.
void replaceByProduct(RewriterBase &rewriter, linalg::LinalgOp op, Value lhs,
                      Value rhs, ArrayRef<AffineMap> maps) {
  Location loc = op.getLoc();
  Value out = op.getDpsInits()[0];
  auto outType = cast<RankedTensorType>(out.getType());
  bool matrix = outType.getRank() == 2;
  int64_t rows = outType.getDimSize(outType.getRank() - 2),
          columns = outType.getDimSize(outType.getRank() - 1);
  Value acc = matrix ? out : matrixOf(rewriter, loc, out, rows, columns, 1);
  SmallVector<NamedAttribute> attributes;
  if (!maps.empty())
    attributes.push_back(rewriter.getNamedAttr(
        "indexing_maps",
        rewriter.getArrayAttr(llvm::map_to_vector(
            maps, [](AffineMap map) -> Attribute {
              return AffineMapAttr::get(map);
            }))));
  auto product = linalg::MatmulOp::create(rewriter, loc,
                                          TypeRange{acc.getType()},
                                          ValueRange{lhs, rhs},
                                          ValueRange{acc}, attributes);
  product->setAttr(kiln::cpu::kRegisterTileAttr, rewriter.getUnitAttr());
  if (matrix) {
    rewriter.replaceOp(op, product->getResults());
    return;
  }
  int64_t rank = outType.getRank();
  auto index = [&](ArrayRef<int64_t> last, int64_t leading) {
    SmallVector<int64_t> values(rank - 2, leading);
    llvm::append_range(values, last);
    return getAsIndexOpFoldResult(rewriter.getContext(), values);
  };
  rewriter.replaceOpWithNewOp<tensor::InsertSliceOp>(
      op, product.getResult(0), out, index({0, 0}, 0),
      index({rows, columns}, 1), index({1, 1}, 1));
}

/// Tiles `op` into scf.for loops of `sizes` and marks the loops of its
/// reduction dimensions as accumulating. Returns the op inside the loops.
linalg::LinalgOp tileWindowLoops(RewriterBase &rewriter, linalg::LinalgOp op,
                                 ArrayRef<int64_t> sizes) {
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  FailureOr<scf::SCFTilingResult> tiled =
      kiln::cpu::tileWithLoops(rewriter, op, sizes);
  if (failed(tiled) || tiled->tiledOps.size() != 1)
    return {};
  // One loop per tiled dimension, outermost first.
  SmallVector<unsigned> dims;
  for (auto [dim, size] : llvm::enumerate(sizes))
    if (size != 0)
      dims.push_back(dim);
  if (dims.size() == tiled->loops.size())
    for (auto [dim, loop] : llvm::zip_equal(dims, tiled->loops))
      if (iterators[dim] == utils::IteratorType::reduction)
        loop->setAttr(kiln::cpu::kAccumulatingLoopAttr,
                      rewriter.getUnitAttr());
  return dyn_cast<linalg::LinalgOp>(tiled->tiledOps.front());
}

/// Whether every operand of tile `op` has a static shape.
bool isStatic(linalg::LinalgOp op) {
  return llvm::all_of(op->getOperandTypes(), [](Type type) {
    auto shaped = dyn_cast<ShapedType>(type);
    return !shaped || shaped.hasStaticShape();
  });
}

/// A zero-filled tensor of `type`: the partial sums of image groups.
Value zeros(RewriterBase &rewriter, Location loc, RankedTensorType type) {
  Type element = type.getElementType();
  Value zero = arith::ConstantOp::create(rewriter, loc, element,
                                         rewriter.getZeroAttr(element));
  Value empty =
      tensor::EmptyOp::create(rewriter, loc, type.getShape(), element);
  return linalg::FillOp::create(rewriter, loc, zero, ValueRange{empty})
      .getResult(0);
}

/// `init` plus the partial sums (the rows of `partials`, S x init's
/// shape), added one after the other in the order of their index: the
/// same sums for any number of threads.
Value addInOrder(RewriterBase &rewriter, Location loc, Value partials,
                 Value init) {
  return linalg::ReduceOp::create(
             rewriter, loc, ValueRange{partials}, ValueRange{init},
             ArrayRef<int64_t>{0},
             [](OpBuilder &b, Location l, ValueRange args) {
               linalg::YieldOp::create(
                   b, l,
                   ValueRange{arith::AddFOp::create(b, l, args[1], args[0])});
             })
      ->getResult(0);
}

/// `value` (images first) as `groups` groups of images: S x N/S x ....
/// (An open batch is one group.)
Value groupedImages(RewriterBase &rewriter, Location loc, Value value,
                    int64_t groups) {
  auto type = cast<RankedTensorType>(value.getType());
  assert((!type.isDynamicDim(0) || groups == 1) && "an open batch is one group");
  SmallVector<int64_t> shape = {groups, type.isDynamicDim(0)
                                            ? ShapedType::kDynamic
                                            : type.getDimSize(0) / groups};
  llvm::append_range(shape, type.getShape().drop_front());
  SmallVector<ReassociationIndices> reassociation = {{0, 1}};
  for (int64_t dim = 2; dim <= type.getRank(); ++dim)
    reassociation.push_back({dim});
  return tensor::ExpandShapeOp::create(
      rewriter, loc, RankedTensorType::get(shape, type.getElementType()),
      value, reassociation);
}

/// The number of image groups a filter gradient sums separately: at most
/// 8, a divisor of the batch, each group at least kGroupPixels output
/// pixels (fewer would cost more to merge and start than they save). An
/// open batch is one group (the groups are fixed when the code is made).
int64_t imageGroups(int64_t images, int64_t pixelsPerImage) {
  constexpr int64_t kMaxGroups = 8, kGroupPixels = 2048;
  if (ShapedType::isDynamic(images))
    return 1;
  int64_t groups = std::min<int64_t>(
      {kMaxGroups, images, images * pixelsPerImage / kGroupPixels});
  while (groups > 1 && images % groups != 0)
    --groups;
  return std::max<int64_t>(groups, 1);
}

class ConvolutionTiler {
public:
  ConvolutionTiler(RewriterBase &rewriter, int64_t vectorBits)
      : rewriter(rewriter), vectorBits(vectorBits) {}

  /// conv_2d_nhwc_hwcf: a forall over the output rows (n, oh), loops over
  /// the register tiles of the row (ow, f) and the window (kh, kw), and
  /// the product over the channels inside.
  void tileForward(linalg::Conv2DNhwcHwcfOp conv) {
    auto outType = cast<RankedTensorType>(conv.getOutputs()[0].getType());
    auto filterType = cast<RankedTensorType>(conv.getInputs()[1].getType());
    std::optional<RegisterTile> tile = chooseRegisterTile(
        vectorBits, resultBits(conv), outType.getDimSize(2),
        outType.getDimSize(3), kMinRows);
    if (!tile)
      return;
    int64_t sw = conv.getStrides().getValues<int64_t>()[1];
    int64_t c = filterType.getDimSize(2);
    // Loops (n, oh, ow, f, kh, kw, c).
    linalg::LinalgOp row = kiln::cpu::tileWithEpilogue(
        rewriter, conv, {1, 1, 0, 0, 0, 0, 0}, [](Operation *op) {
          return isa<linalg::Conv2DNhwcHwcfOp>(op);
        });
    if (!row)
      return;
    linalg::LinalgOp inner = tileWindowLoops(
        rewriter, row, {0, 0, tile->rows, tile->columns, 1, 1, 0});
    if (!inner || !isStatic(inner))
      return;
    rewriter.setInsertionPoint(inner);
    Location loc = inner.getLoc();
    Value lhs = matrixOf(rewriter, loc, inner.getDpsInputs()[0], tile->rows,
                         c, sw);
    Value rhs = matrixOf(rewriter, loc, inner.getDpsInputs()[1], c,
                         tile->columns, 1);
    replaceByProduct(rewriter, inner, lhs, rhs, {});
  }

  /// A filter gradient: a forall over the register tiles of the result
  /// (kh, kw, c, f), loops over the output rows (n, oh), and the product
  /// over the pixels of the row inside.
  /// Returns whether the op was tiled (false: no register tile fits).
  bool tileFilterGradient(linalg::GenericOp op, int64_t sw) {
    auto resultType = cast<RankedTensorType>(op.getDpsInits()[0].getType());
    auto dyType = cast<RankedTensorType>(op.getDpsInputs()[1].getType());
    std::optional<RegisterTile> tile = chooseRegisterTile(
        vectorBits, resultBits(op), resultType.getDimSize(2),
        resultType.getDimSize(3), kMinRows);
    if (!tile)
      return false;
    int64_t ow = dyType.getDimSize(2);
    // The images summed in groups, when the batch allows: loops
    // (s, kh, kw, c, f, n, oh, ow), else (kh, kw, c, f, n, oh, ow).
    linalg::GenericOp target = op;
    int64_t groups =
        imageGroups(dyType.getDimSize(0), dyType.getDimSize(1) * ow);
    if (groups > 1)
      target = sumImageGroups(op, groups);
    SmallVector<int64_t> blockSizes = {1, 1, tile->rows, tile->columns,
                                       0, 0, 0};
    SmallVector<int64_t> rowSizes = {0, 0, 0, 0, 1, 1, 0};
    if (groups > 1) {
      blockSizes.insert(blockSizes.begin(), 1);
      rowSizes.insert(rowSizes.begin(), 0);
    }
    unsigned loops = target.getNumLoops();
    linalg::LinalgOp block = kiln::cpu::tileWithEpilogue(
        rewriter, target, blockSizes, [loops](Operation *tiled) {
          auto generic = dyn_cast<linalg::GenericOp>(tiled);
          return generic && generic.getNumLoops() == loops &&
                 generic.getNumDpsInputs() == 2;
        });
    if (!block)
      return true;
    linalg::LinalgOp inner = tileWindowLoops(rewriter, block, rowSizes);
    if (!inner || !isStatic(inner))
      return true;
    rewriter.setInsertionPoint(inner);
    Location loc = inner.getLoc();
    Value lhs =
        matrixOf(rewriter, loc, inner.getDpsInputs()[0], ow, tile->rows, sw);
    Value rhs =
        matrixOf(rewriter, loc, inner.getDpsInputs()[1], ow, tile->columns, 1);
    // (m, n, k) = (channel, filter, pixel): the image rows read transposed.
    MLIRContext *context = op.getContext();
    AffineExpr m = getAffineDimExpr(0, context),
               n = getAffineDimExpr(1, context),
               k = getAffineDimExpr(2, context);
    replaceByProduct(rewriter, inner, lhs, rhs,
                     {AffineMap::get(3, 0, {k, m}, context),
                      AffineMap::get(3, 0, {k, n}, context),
                      AffineMap::get(3, 0, {m, n}, context)});
    return true;
  }

  /// The filter gradient `op` (loops kh, kw, c, f, n, oh, ow) as the sum
  /// of `groups` partial gradients, each over its own group of images, that
  /// a generic with an outer group loop s computes (returned) and a
  /// linalg.reduce adds in order into `op`'s result. The threads each run
  /// their own groups, so a thread reads the images and gradients of its
  /// own part of the batch, the part the other loops of a step (split by
  /// images too) left in its caches; across (kh, kw) alone, each thread read
  /// the whole batch, and the 9 blocks of a 3 x 3 window split 5 / 4.
  linalg::GenericOp sumImageGroups(linalg::GenericOp op, int64_t groups) {
    MLIRContext *context = op.getContext();
    Location loc = op.getLoc();
    rewriter.setInsertionPoint(op);
    Value input = groupedImages(rewriter, loc, op.getDpsInputs()[0], groups);
    Value dy = groupedImages(rewriter, loc, op.getDpsInputs()[1], groups);
    auto resultType = cast<RankedTensorType>(op.getDpsInits()[0].getType());
    SmallVector<int64_t> partialShape = {groups};
    llvm::append_range(partialShape, resultType.getShape());
    auto partialType =
        RankedTensorType::get(partialShape, resultType.getElementType());
    // Every loop moves in by one; the image index n (now d5) becomes the
    // group and the image within it.
    AffineExpr s = getAffineDimExpr(0, context);
    AffineExpr image = getAffineDimExpr(5, context);
    SmallVector<AffineMap> maps;
    for (AffineMap map : op.getIndexingMapsArray()) {
      AffineMap shifted = map.shiftDims(1);
      SmallVector<AffineExpr> results = {s};
      llvm::append_range(results, shifted.getResults());
      maps.push_back(AffineMap::get(shifted.getNumDims(), 0, results, context));
    }
    SmallVector<utils::IteratorType> iterators = {
        utils::IteratorType::parallel};
    llvm::append_range(iterators, op.getIteratorTypesArray());
    auto grouped = linalg::GenericOp::create(
        rewriter, loc, TypeRange{partialType}, ValueRange{input, dy},
        ValueRange{zeros(rewriter, loc, partialType)}, maps, iterators);
    rewriter.cloneRegionBefore(op.getRegion(), grouped.getRegion(),
                               grouped.getRegion().end());
    // The operands' maps read (n, ...): with the group in front, (s, n, ...)
    // as the grouped operands are laid out.
    for (unsigned i = 0; i < 2; ++i)
      if (maps[i].getResult(1) != image) {
        rewriter.eraseOp(grouped);
        return op;
      }
    Value merged =
        addInOrder(rewriter, loc, grouped.getResult(0), op.getDpsInits()[0]);
    rewriter.replaceOp(op, merged);
    return grouped;
  }

  /// A filter gradient with too few input channels for register rows (a
  /// first layer on one-channel images): the image is copied once into
  /// window-major rows, P[n, oh, (kh, kw, c), ow] with the pixels
  /// contiguous, so that a register tile's rows are the KH*KW*C window
  /// positions: dW[(kh, kw, c), f] = sum over (n, oh) of P[n, oh] @ dY[n, oh],
  /// accumulated in registers across the output rows. (im2col would write
  /// the same elements with the window innermost, a scatter per pixel.)
  void tileNarrowFilterGradient(linalg::GenericOp op, ArrayRef<int64_t> strides,
                                ArrayRef<int64_t> dilations) {
    Value input = op.getDpsInputs()[0], dy = op.getDpsInputs()[1];
    auto resultType = cast<RankedTensorType>(op.getDpsInits()[0].getType());
    auto dyType = cast<RankedTensorType>(dy.getType());
    int64_t kh = resultType.getDimSize(0), kw = resultType.getDimSize(1),
            c = resultType.getDimSize(2), f = resultType.getDimSize(3);
    int64_t n = dyType.getDimSize(0), oh = dyType.getDimSize(1),
            ow = dyType.getDimSize(2);
    int64_t window = kh * kw * c;
    std::optional<RegisterTile> tile =
        chooseRegisterTile(vectorBits, resultBits(op), window, f, kMinRows);
    if (!tile)
      return;
    MLIRContext *context = op.getContext();
    Location loc = op.getLoc();
    Type element = resultType.getElementType();
    rewriter.setInsertionPoint(op);
    // P[n, oh, kh, kw, c, ow] = X[n, oh*sh + kh*dh, ow*sw + kw*dw, c]
    // (an open n: the images').
    auto patchType = RankedTensorType::get({n, oh, kh, kw, c, ow}, element);
    Value patches = kiln::cpu::copyWindows(
        rewriter, loc, input, patchType,
        kiln::cpu::inputReadMap(context, 6, {0, 1, 5, 2, 3, 4}, strides,
                                dilations));
    Value rows = tensor::CollapseShapeOp::create(
        rewriter, loc, patches,
        ArrayRef<ReassociationIndices>{{0}, {1}, {2, 3, 4}, {5}});
    // The images split into S groups, each summed into its own partial
    // result (rows of an S x window x F tensor) in parallel, the partials
    // then added in order: the result has one register tile, which would
    // otherwise run on one thread. S depends on the shape only.
    int64_t groups = imageGroups(n, oh * ow);
    Value groupedRows = groupedImages(rewriter, loc, rows, groups);
    Value groupedDy = groupedImages(rewriter, loc, dy, groups);
    auto partialType = RankedTensorType::get({groups, window, f}, element);
    Value partialInit = zeros(rewriter, loc, partialType);
    // (s, m, f, n, oh, ow): partial[s, m, f] += P[s, n, oh, m, ow] *
    // dY[s, n, oh, ow, f].
    auto map = [&](ArrayRef<unsigned> dims) {
      return AffineMap::get(6, 0,
                            llvm::map_to_vector(dims, [&](unsigned i) {
                              return getAffineDimExpr(i, context);
                            }),
                            context);
    };
    auto product = linalg::GenericOp::create(
        rewriter, loc, TypeRange{partialType},
        ValueRange{groupedRows, groupedDy}, ValueRange{partialInit},
        ArrayRef<AffineMap>{map({0, 3, 4, 1, 5}), map({0, 3, 4, 5, 2}),
                            map({0, 1, 2})},
        {utils::IteratorType::parallel, utils::IteratorType::parallel,
         utils::IteratorType::parallel, utils::IteratorType::reduction,
         utils::IteratorType::reduction, utils::IteratorType::reduction},
        [](OpBuilder &b, Location l, ValueRange args) {
          Value mul = arith::MulFOp::create(b, l, args[0], args[1]);
          linalg::YieldOp::create(b, l,
                                  ValueRange{arith::AddFOp::create(
                                      b, l, args[2], mul)});
        });
    Value init = tensor::CollapseShapeOp::create(
        rewriter, loc, op.getDpsInits()[0],
        ArrayRef<ReassociationIndices>{{0, 1, 2}, {3}});
    Value merge = addInOrder(rewriter, loc, product.getResult(0), init);
    rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(
        op, resultType, merge,
        ArrayRef<ReassociationIndices>{{0, 1, 2}, {3}});
    linalg::LinalgOp block = kiln::cpu::tileWithEpilogue(
        rewriter, product, {1, tile->rows, tile->columns, 0, 0, 0},
        [](Operation *tiled) {
          auto generic = dyn_cast<linalg::GenericOp>(tiled);
          return generic && generic.getNumLoops() == 6;
        });
    if (!block)
      return;
    linalg::LinalgOp inner =
        tileWindowLoops(rewriter, block, {0, 0, 0, 1, 1, 0});
    if (!inner || !isStatic(inner))
      return;
    // The step: (rows x OW) @ (OW x NR) into the register tile.
    rewriter.setInsertionPoint(inner);
    Value lhs = matrixOf(rewriter, loc, inner.getDpsInputs()[0], tile->rows,
                         ow, 1);
    Value rhs = matrixOf(rewriter, loc, inner.getDpsInputs()[1], ow,
                         tile->columns, 1);
    replaceByProduct(rewriter, inner, lhs, rhs, {});
  }

private:
  RewriterBase &rewriter;
  int64_t vectorBits;
};

struct CPUTileConvolutionsPass
    : public mlir::kiln::impl::KilnCPUTileConvolutionsBase<
          CPUTileConvolutionsPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<linalg::Conv2DNhwcHwcfOp> convolutions;
    SmallVector<std::tuple<linalg::GenericOp, SmallVector<int64_t>,
                           SmallVector<int64_t>>>
        gradients;
    getOperation().walk([&](Operation *op) {
      // Static but for an open batch (each tile is static: the loops
      // around it take one image at a time), floating-point and not empty
      // (an empty output would give the tiles' image slices negative sizes;
      // im2col handles it; an open batch of 0 runs no loop).
      if (llvm::any_of(op->getOperandTypes(), [](Type type) {
            auto shaped = dyn_cast<ShapedType>(type);
            return !shaped || llvm::is_contained(shaped.getShape(), 0);
          }))
        return;
      if (auto conv = dyn_cast<linalg::Conv2DNhwcHwcfOp>(op)) {
        if (conv.hasPureTensorSemantics() &&
            kiln::cpu::hasFloatOperandsOpenInBatch(conv, 1))
          convolutions.push_back(conv);
      } else if (auto generic = dyn_cast<linalg::GenericOp>(op)) {
        if (!kiln::cpu::hasFloatOperandsOpenInBatch(generic, 2))
          return;
        if (auto geometry = kiln::cpu::matchFilterGradient(generic))
          gradients.push_back(
              {generic, geometry->first, geometry->second});
      }
    });
    IRRewriter rewriter(&getContext());
    ConvolutionTiler tiler(rewriter, vectorBits);
    for (linalg::Conv2DNhwcHwcfOp conv : convolutions)
      tiler.tileForward(conv);
    for (auto &[op, strides, dilations] : gradients)
      if (!tiler.tileFilterGradient(op, strides[1]))
        tiler.tileNarrowFilterGradient(op, strides, dilations);
  }
};

} // namespace
