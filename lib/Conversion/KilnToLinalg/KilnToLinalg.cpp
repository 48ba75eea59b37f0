//===- KilnToLinalg.cpp - The convert-kiln-to-linalg pass
//------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Conversion/KilnToLinalg/KilnToLinalg.h"
#include "kiln/Conversion/Passes.h"

#include "Common.h"

#include "kiln/Dialect/Kiln/KilnDialect.h"

#include "llvm/ADT/TypeSwitch.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/AttrTypeSubElements.h"

#include <cmath>

namespace mlir::kiln {
#define GEN_PASS_DEF_CONVERTKILNTOLINALG
#include "kiln/Conversion/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;
using namespace mlir::kiln::lowering;

//===----------------------------------------------------------------------===//
// Shared helpers
//===----------------------------------------------------------------------===//

Value lowering::emptyTensor(OpBuilder &b, Location loc, RankedTensorType type) {
  assert(type.hasStaticShape() && "dynamic extents need extentsOf");
  return tensor::EmptyOp::create(b, loc, type.getShape(),
                                 type.getElementType());
}

SmallVector<OpFoldResult> lowering::extentsOf(OpBuilder &b, Location loc,
                                              Value tensor) {
  return tensor::getMixedSizes(b, loc, tensor);
}

SmallVector<OpFoldResult> lowering::extentsLike(OpBuilder &b, Location loc,
                                                RankedTensorType type,
                                                Value like) {
  SmallVector<OpFoldResult> extents;
  for (int64_t d = 0; d < type.getRank(); ++d)
    extents.push_back(
        type.isDynamicDim(d)
            ? OpFoldResult(tensor::DimOp::create(b, loc, like, d).getResult())
            : OpFoldResult(b.getIndexAttr(type.getDimSize(d))));
  return extents;
}

Value lowering::emptyTensor(OpBuilder &b, Location loc,
                            ArrayRef<OpFoldResult> extents, Type element) {
  return tensor::EmptyOp::create(b, loc, extents, element);
}

Value lowering::filledTensor(OpBuilder &b, Location loc,
                             ArrayRef<OpFoldResult> extents, Value value) {
  Value empty = emptyTensor(b, loc, extents, value.getType());
  return linalg::FillOp::create(b, loc, ValueRange{value}, ValueRange{empty})
      .getResult(0);
}

std::string lowering::locationPrefix(Location loc) {
  std::string text;
  loc->walk([&](Location inner) {
    if (auto file = dyn_cast<FileLineColLoc>(inner)) {
      // (Traced Python has no columns: "file:line: ".)
      text = (file.getFilename().getValue() + ":" + Twine(file.getLine()) +
              (file.getColumn() ? ":" + Twine(file.getColumn()) : Twine()) +
              ": ")
                 .str();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return text;
}

void lowering::checkSameExtent(OpBuilder &b, Location loc, OpFoldResult lhs,
                               OpFoldResult rhs, const Twine &what) {
  std::optional<int64_t> l = getConstantIntValue(lhs);
  std::optional<int64_t> r = getConstantIntValue(rhs);
  if ((l && r) || lhs == rhs)
    return;
  Value lv = getValueOrCreateConstantIndexOp(b, loc, lhs);
  Value rv = getValueOrCreateConstantIndexOp(b, loc, rhs);
  Value same =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lv, rv);
  cf::AssertOp::create(b, loc, same, (locationPrefix(loc) + what).str());
}

Value lowering::filledTensor(OpBuilder &b, Location loc, RankedTensorType type,
                             Value value) {
  assert(type.hasStaticShape() && "dynamic extents need extentsOf");
  return filledTensor(b, loc, getAsIndexOpFoldResult(b.getContext(), type.getShape()), value);
}

Type lowering::accumulatorType(Type element) {
  if (element.isF16() || element.isBF16())
    return Float32Type::get(element.getContext());
  return element;
}

Value lowering::toElementType(OpBuilder &b, Location loc, Value value,
                              Type element) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getElementType() == element)
    return value;
  return buildElementwise(b, loc, type.clone(element), ValueRange{value},
                          [&](OpBuilder &nb, Location nl, ValueRange s) {
                            return castScalar(nb, nl, s[0], element);
                          });
}

Value lowering::scalarConstant(OpBuilder &b, Location loc, Type type,
                               double value) {
  if (auto floatType = dyn_cast<FloatType>(type))
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(floatType, value));
  return arith::ConstantOp::create(
      b, loc, b.getIntegerAttr(type, static_cast<int64_t>(value)));
}

Value lowering::lowestValue(OpBuilder &b, Location loc, Type type) {
  if (auto floatType = dyn_cast<FloatType>(type))
    return arith::ConstantOp::create(
        b, loc,
        b.getFloatAttr(floatType,
                       APFloat::getInf(floatType.getFloatSemantics(), true)));
  unsigned width = type.getIntOrFloatBitWidth();
  APInt v = width == 1 ? APInt(1, 0) : APInt::getSignedMinValue(width);
  return arith::ConstantOp::create(b, loc, b.getIntegerAttr(type, v));
}

Value lowering::highestValue(OpBuilder &b, Location loc, Type type) {
  if (auto floatType = dyn_cast<FloatType>(type))
    return arith::ConstantOp::create(
        b, loc,
        b.getFloatAttr(floatType,
                       APFloat::getInf(floatType.getFloatSemantics(), false)));
  unsigned width = type.getIntOrFloatBitWidth();
  APInt v = width == 1 ? APInt(1, 1) : APInt::getSignedMaxValue(width);
  return arith::ConstantOp::create(b, loc, b.getIntegerAttr(type, v));
}

AffineMap lowering::broadcastMap(MLIRContext *context, ArrayRef<int64_t> shape,
                                 ArrayRef<int64_t> resultShape) {
  // Operand dimension j is aligned with result dimension offset + j; an
  // extent of 1 facing a larger extent always reads index 0.
  size_t offset = resultShape.size() - shape.size();
  SmallVector<AffineExpr> exprs;
  for (auto [j, dim] : llvm::enumerate(shape)) {
    if (dim == 1 && resultShape[offset + j] != 1)
      exprs.push_back(getAffineConstantExpr(0, context));
    else
      exprs.push_back(getAffineDimExpr(offset + j, context));
  }
  return AffineMap::get(resultShape.size(), 0, exprs, context);
}

Value lowering::buildElementwise(OpBuilder &b, Location loc,
                                 RankedTensorType resultType,
                                 ValueRange operands, ScalarBuilder body,
                                 ArrayRef<OpFoldResult> givenExtents) {
  MLIRContext *context = b.getContext();
  ArrayRef<int64_t> resultShape = resultType.getShape();
  int64_t rank = resultType.getRank();
  SmallVector<AffineMap> maps;
  for (Value operand : operands)
    maps.push_back(broadcastMap(
        context, cast<RankedTensorType>(operand.getType()).getShape(),
        resultShape));
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, context));
  // Each result extent: static, or that of an operand dynamic there. Every
  // operand that is not broadcast (a static 1) must have the same extent.
  SmallVector<OpFoldResult> extents =
      getAsIndexOpFoldResult(context, resultShape);
  SmallVector<SmallVector<OpFoldResult>> operandExtents;
  for (Value operand : operands)
    operandExtents.push_back(extentsOf(b, loc, operand));
  for (int64_t i = 0; i < rank; ++i) {
    if (!ShapedType::isDynamic(resultShape[i]))
      continue;
    if (!givenExtents.empty()) {
      extents[i] = givenExtents[i];
      continue;
    }
    // An operand dynamic there; else (a result type written less refined
    // than its operands) the operands' static extent.
    int64_t known = 1;
    bool found = false;
    for (auto [k, operand] : llvm::enumerate(operands)) {
      auto type = cast<RankedTensorType>(operand.getType());
      int64_t j = i - (rank - type.getRank());
      if (j < 0)
        continue;
      if (type.isDynamicDim(j)) {
        extents[i] = operandExtents[k][j];
        found = true;
        break;
      }
      // (Not a max: a fixed 0 is the extent, not the 1 it meets.)
      if (type.getDimSize(j) != 1)
        known = type.getDimSize(j);
    }
    if (!found)
      extents[i] = b.getIndexAttr(known);
  }
  for (auto [k, operand] : llvm::enumerate(operands)) {
    auto type = cast<RankedTensorType>(operand.getType());
    for (int64_t j = 0; j < type.getRank(); ++j) {
      int64_t i = j + (rank - type.getRank());
      if (type.getDimSize(j) == 1 && resultShape[i] != 1)
        continue; // broadcast
      checkSameExtent(b, loc, operandExtents[k][j], extents[i],
                      "dimension " + Twine(i) + " of operand #" + Twine(k) +
                          " does not match the other operands");
    }
  }
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  Value init = emptyTensor(b, loc, extents, resultType.getElementType());
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, operands, ValueRange{init}, maps,
      iterators, [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        Value result = body(nested, nestedLoc, args.drop_back());
        linalg::YieldOp::create(nested, nestedLoc, result);
      });
  Value result = generic.getResult(0);
  if (result.getType() != resultType) // a result type less refined
    result = tensor::CastOp::create(b, loc, resultType, result);
  return result;
}

Value lowering::castScalar(OpBuilder &b, Location loc, Value value, Type to,
                           bool unsignedInput, bool unsignedResult) {
  Type from = value.getType();
  if (from == to)
    return value;
  auto fromFloat = dyn_cast<FloatType>(from);
  auto toFloat = dyn_cast<FloatType>(to);
  if (to.isInteger(1)) {
    // Anything to bool tests for nonzero (NaN is nonzero).
    Value zero = scalarConstant(b, loc, from, 0);
    if (fromFloat)
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, value,
                                   zero);
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, value, zero);
  }
  if (fromFloat && toFloat) {
    if (fromFloat.getWidth() < toFloat.getWidth())
      return arith::ExtFOp::create(b, loc, to, value);
    if (fromFloat.getWidth() > toFloat.getWidth())
      return arith::TruncFOp::create(b, loc, to, value);
    // f16 <-> bf16: go through f32.
    Value wide = arith::ExtFOp::create(b, loc, b.getF32Type(), value);
    return arith::TruncFOp::create(b, loc, to, wide);
  }
  if (fromFloat) {
    // Defined for every input (LLVM's fptosi/fptoui are not): NaN is 0,
    // values at or beyond the type's range saturate to its minimum or
    // maximum. The bounds -2^(w-1) and 2^(w-1) (0 and 2^w unsigned) are
    // exact in every float type, or infinite in f16, where every finite
    // value fits.
    unsigned width = to.getIntOrFloatBitWidth();
    double low = unsignedResult ? 0.0 : -std::ldexp(1.0, static_cast<int>(width) - 1);
    double high = std::ldexp(1.0, static_cast<int>(width) - (unsignedResult ? 0 : 1));
    Value converted =
        unsignedResult ? Value(arith::FPToUIOp::create(b, loc, to, value))
                       : Value(arith::FPToSIOp::create(b, loc, to, value));
    Value below = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT,
                                        value, scalarConstant(b, loc, from, low));
    Value above = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE,
                                        value,
                                        scalarConstant(b, loc, from, high));
    Value nan = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, value,
                                      value);
    auto intConstant = [&](const APInt &v) -> Value {
      return arith::ConstantOp::create(b, loc, b.getIntegerAttr(to, v));
    };
    Value result = arith::SelectOp::create(
        b, loc, below,
        intConstant(unsignedResult ? APInt(width, 0)
                                   : APInt::getSignedMinValue(width)),
        converted);
    result = arith::SelectOp::create(
        b, loc, above,
        intConstant(unsignedResult ? APInt::getMaxValue(width)
                                   : APInt::getSignedMaxValue(width)),
        result);
    return arith::SelectOp::create(b, loc, nan, intConstant(APInt(width, 0)),
                                   result);
  }
  // Booleans and unsigned integers zero-extend; other integers are signed.
  bool zeroExtend = from.isInteger(1) || unsignedInput;
  if (toFloat)
    return zeroExtend ? Value(arith::UIToFPOp::create(b, loc, to, value))
                      : Value(arith::SIToFPOp::create(b, loc, to, value));
  unsigned fromWidth = from.getIntOrFloatBitWidth();
  unsigned toWidth = to.getIntOrFloatBitWidth();
  if (fromWidth == toWidth) // (a signless and an unsigned view of the bits)
    return value;
  if (fromWidth > toWidth)
    return arith::TruncIOp::create(b, loc, to, value);
  return zeroExtend ? Value(arith::ExtUIOp::create(b, loc, to, value))
                    : Value(arith::ExtSIOp::create(b, loc, to, value));
}

Value lowering::extractScalar(OpBuilder &b, Location loc, Value tensor) {
  return tensor::ExtractOp::create(b, loc, tensor, ValueRange{});
}

std::optional<std::pair<SmallVector<ReassociationIndices>,
                        SmallVector<ReassociationIndices>>>
lowering::openReshapeGroups(ArrayRef<int64_t> from, ArrayRef<int64_t> to) {
  if (llvm::is_contained(from, 0) || llvm::is_contained(to, 0))
    return std::nullopt;
  SmallVector<ReassociationIndices> fromGroups, toGroups;
  size_t i = 0, j = 0;
  while (i < from.size() || j < to.size()) {
    ReassociationIndices f, t;
    int64_t fp = 1, tp = 1;
    int fd = 0, td = 0;
    auto take = [](ArrayRef<int64_t> shape, size_t &k, ReassociationIndices &group,
                   int64_t &product, int &open) {
      group.push_back(static_cast<int64_t>(k));
      if (ShapedType::isDynamic(shape[k]))
        ++open;
      else
        product *= shape[k];
      ++k;
    };
    // Take dimensions from the side behind until both sides hold the same
    // open extents and static product, with at least one dimension each.
    while (f.empty() || t.empty() || fd != td || fp != tp) {
      bool fromSide = f.empty() || (!t.empty() && (fd < td || (fd == td && fp < tp)));
      if (fromSide ? i >= from.size() : j >= to.size())
        return std::nullopt;
      if (fromSide)
        take(from, i, f, fp, fd);
      else
        take(to, j, t, tp, td);
      if (fd > 1 || td > 1)
        return std::nullopt;
    }
    // Extents of 1 after the group join it (trailing ones end the shape).
    while (i < from.size() && from[i] == 1 &&
           (j >= to.size() || to[j] != 1))
      take(from, i, f, fp, fd);
    while (j < to.size() && to[j] == 1 && (i >= from.size() || from[i] != 1))
      take(to, j, t, tp, td);
    fromGroups.push_back(f);
    toGroups.push_back(t);
  }
  return std::make_pair(fromGroups, toGroups);
}

Value lowering::reshapeTensor(OpBuilder &b, Location loc, Value value,
                              RankedTensorType type, Value like) {
  auto source = cast<RankedTensorType>(value.getType());
  if (source == type)
    return value;
  if (!like && type.getNumDynamicDims() > 1)
    if (auto groups = openReshapeGroups(source.getShape(), type.getShape())) {
      // Collapse each group to one dimension, then expand it to the
      // target's; an open extent of the target is its source's.
      SmallVector<int64_t> middle;
      SmallVector<OpFoldResult> extents;
      for (auto [f, t] : llvm::zip_equal(groups->first, groups->second)) {
        std::optional<int64_t> open;
        int64_t product = 1;
        for (int64_t d : f) {
          if (source.isDynamicDim(d))
            open = d;
          else
            product *= source.getDimSize(d);
        }
        middle.push_back(open ? ShapedType::kDynamic : product);
        for (int64_t d : t)
          extents.push_back(
              type.isDynamicDim(d)
                  ? OpFoldResult(tensor::DimOp::create(b, loc, value, *open)
                                     .getResult())
                  : OpFoldResult(b.getIndexAttr(type.getDimSize(d))));
      }
      auto middleType = RankedTensorType::get(middle, type.getElementType());
      Value collapsed =
          middleType == source
              ? value
              : tensor::CollapseShapeOp::create(b, loc, middleType, value,
                                                groups->first)
                    .getResult();
      if (middleType == type)
        return collapsed;
      return tensor::ExpandShapeOp::create(b, loc, type, collapsed,
                                           groups->second, extents);
    }
  if (llvm::is_contained(source.getShape(), 0)) {
    // No elements, whatever the open extents: an empty tensor, whose open
    // extents are like's, or 0 (the count over the fixed extents). (Views
    // of it would mix open and empty extents in one group, which
    // memref.collapse_shape refuses.)
    SmallVector<OpFoldResult> extents =
        getAsIndexOpFoldResult(b.getContext(), type.getShape());
    for (auto [i, d] : llvm::enumerate(type.getShape()))
      if (ShapedType::isDynamic(d))
        extents[i] = like ? OpFoldResult(tensor::DimOp::create(b, loc, like, i)
                                             .getResult())
                          : OpFoldResult(b.getIndexAttr(0));
    Value empty = emptyTensor(b, loc, extents, type.getElementType());
    if (empty.getType() != type)
      empty = tensor::CastOp::create(b, loc, type, empty);
    return empty;
  }
  // Go through a rank-1 view: every reshape of a contiguous tensor is a
  // collapse and an expand, and bufferization turns both into views.
  auto flatType = RankedTensorType::get(
      {source.hasStaticShape() ? source.getNumElements() : ShapedType::kDynamic},
      source.getElementType());
  auto allDims = [](int64_t rank) {
    SmallVector<ReassociationIndices> reassoc;
    if (rank > 0)
      reassoc.push_back(llvm::to_vector(llvm::seq<int64_t>(0, rank)));
    return reassoc;
  };
  Value flat = value;
  if (source.getRank() == 0)
    flat = tensor::ExpandShapeOp::create(b, loc, flatType, value, allDims(0));
  else if (source.getRank() > 1)
    flat = tensor::CollapseShapeOp::create(b, loc, flatType, value,
                                           allDims(source.getRank()));
  std::string shown;
  llvm::raw_string_ostream(shown) << type;
  if (type.hasStaticShape() && !source.hasStaticShape()) {
    // An open input to a fixed result: its element count is checked at run
    // time (a view of the wrong size would read out of bounds).
    int64_t count = type.getNumElements();
    checkSameExtent(b, loc, tensor::DimOp::create(b, loc, flat, 0).getResult(),
                    b.getIndexAttr(count),
                    "kiln.reshape: the input does not have the " +
                        Twine(count) + " elements of " + shown);
    flat = tensor::CastOp::create(
        b, loc, RankedTensorType::get({count}, type.getElementType()), flat);
  }
  if (!type.hasStaticShape() && source.hasStaticShape())
    flat = tensor::CastOp::create(
        b, loc,
        RankedTensorType::get({ShapedType::kDynamic}, type.getElementType()),
        flat);
  // The product of the result's fixed extents.
  int64_t known = 1;
  for (int64_t d : type.getShape())
    if (!ShapedType::isDynamic(d))
      known *= d;
  if (like && !type.hasStaticShape() &&
      (type.getNumDynamicDims() > 1 || known == 0)) {
    // The open extents are like's; their product with the fixed ones must
    // be the element count.
    SmallVector<OpFoldResult> extents =
        getAsIndexOpFoldResult(b.getContext(), type.getShape());
    Value product = arith::ConstantIndexOp::create(b, loc, known);
    for (auto [i, d] : llvm::enumerate(type.getShape())) {
      if (!ShapedType::isDynamic(d))
        continue;
      Value extent = tensor::DimOp::create(b, loc, like, i);
      extents[i] = extent;
      product = arith::MulIOp::create(b, loc, product, extent);
    }
    checkSameExtent(b, loc, tensor::DimOp::create(b, loc, flat, 0).getResult(),
                    product,
                    "kiln.reshape: the input's element count differs from "
                    "that of 'like' in the shape " +
                        shown);
    if (type.getRank() == 1)
      return flat;
    // (tensor.reshape with the extents as a shape operand: upstream's
    // lowering of an expand_shape with several open extents in one group
    // crashes.)
    SmallVector<Value> shapeValues;
    for (OpFoldResult extent : extents)
      shapeValues.push_back(getValueOrCreateConstantIndexOp(b, loc, extent));
    Value shape = tensor::FromElementsOp::create(b, loc, shapeValues);
    return tensor::ReshapeOp::create(b, loc, type, flat, shape);
  }
  if (type.getRank() == 1)
    return flat;
  if (type.getRank() == 0)
    return tensor::CollapseShapeOp::create(b, loc, type, flat, allDims(0));
  if (type.hasStaticShape())
    return tensor::ExpandShapeOp::create(b, loc, type, flat,
                                         allDims(type.getRank()));
  // The one dynamic extent is the element count over the static ones, which
  // must divide it.
  assert(type.getNumDynamicDims() == 1 && "one dynamic extent at most");
  Value count = tensor::DimOp::create(b, loc, flat, 0);
  Value knownValue = arith::ConstantIndexOp::create(b, loc, known);
  if (!source.hasStaticShape() && known != 1)
    checkSameExtent(b, loc,
                    arith::RemUIOp::create(b, loc, count, knownValue).getResult(),
                    b.getIndexAttr(0),
                    "kiln.reshape: the input's element count is not a "
                    "multiple of " +
                        Twine(known) + ", as " + shown + " needs");
  Value missing = arith::DivUIOp::create(b, loc, count, knownValue);
  SmallVector<OpFoldResult> extents =
      getAsIndexOpFoldResult(b.getContext(), type.getShape());
  for (auto [i, d] : llvm::enumerate(type.getShape()))
    if (ShapedType::isDynamic(d))
      extents[i] = missing;
  return tensor::ExpandShapeOp::create(b, loc, type, flat,
                                       allDims(type.getRank()), extents);
}

Value lowering::padSpatial(OpBuilder &b, Location loc, Value input,
                           ArrayRef<int64_t> low, ArrayRef<int64_t> high,
                           Value value) {
  if (llvm::all_of(low, [](int64_t v) { return v == 0; }) &&
      llvm::all_of(high, [](int64_t v) { return v == 0; }))
    return input;
  auto type = cast<RankedTensorType>(input.getType());
  assert(!type.isDynamicDim(1) && !type.isDynamicDim(2) &&
         "spatial extents are static");
  // (An open batch or channel extent stays what the input's is.)
  SmallVector<OpFoldResult> sizes = extentsOf(b, loc, input);
  SmallVector<OpFoldResult> padded(sizes);
  padded[1] = b.getIndexAttr(type.getDimSize(1) + low[0] + high[0]);
  padded[2] = b.getIndexAttr(type.getDimSize(2) + low[1] + high[1]);
  Value filled = filledTensor(b, loc, padded, value);
  SmallVector<OpFoldResult> offsets = {
      b.getIndexAttr(0), b.getIndexAttr(low[0]), b.getIndexAttr(low[1]),
      b.getIndexAttr(0)};
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  return tensor::InsertSliceOp::create(b, loc, input, filled, offsets, sizes,
                                       strides);
}

LogicalResult lowering::requireStatic(Operation *op,
                                      ConversionPatternRewriter &rewriter) {
  auto isStatic = [](Type t) {
    auto tensor = dyn_cast<RankedTensorType>(t);
    return !tensor || tensor.hasStaticShape();
  };
  if (llvm::all_of(op->getOperandTypes(), isStatic) &&
      llvm::all_of(op->getResultTypes(), isStatic))
    return success();
  return rewriter.notifyMatchFailure(op, "dynamic shapes are not lowered yet");
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

void mlir::kiln::populateKilnToLinalgPatterns(MLIRContext *,
                                              RewritePatternSet &patterns) {
  populateElementwisePatterns(patterns);
  populateReductionPatterns(patterns);
  populateShapePatterns(patterns);
  populateNNPatterns(patterns);
  populateControlFlowPatterns(patterns);
  populatePrintPatterns(patterns);
  populateSortPatterns(patterns);
  populateCollectivePatterns(patterns);
}

void mlir::kiln::configureKilnToLinalgTarget(ConversionTarget &target) {
  target.addIllegalDialect<KilnDialect>();
  target.addLegalDialect<arith::ArithDialect, cf::ControlFlowDialect,
                         linalg::LinalgDialect,
                         math::MathDialect, scf::SCFDialect,
                         tensor::TensorDialect, func::FuncDialect>();
}

/// Whether `op` is a random op or an iota that reads its open extents
/// from `like`.
static bool generatorTakesOpenExtents(Operation *op) {
  return TypeSwitch<Operation *, bool>(op)
      .Case<RandomUniformOp, RandomNormalOp, TruncatedNormalOp, IotaOp>(
          [](auto random) { return static_cast<bool>(random.getLike()); })
      .Default([](Operation *) { return false; });
}

namespace {
struct ConvertKilnToLinalgPass
    : public kiln::impl::ConvertKilnToLinalgBase<ConvertKilnToLinalgPass> {
  using Base::Base;
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    // Say plainly why an op cannot be lowered instead of the generic
    // "failed to legalize" that the conversion driver would report.
    WalkResult dynamic = getOperation()->walk([](Operation *op) {
      if (!isa<KilnDialect>(op->getDialect()))
        return WalkResult::advance();
      // Ops with the OpenExtents trait lower with any extents; a broadcast
      // or a random op with `like` and a reshape to one open extent too.
      if (op->hasTrait<kiln::OpTrait::OpenExtents>())
        return WalkResult::advance();
      if (auto broadcast = dyn_cast<BroadcastToOp>(op);
          broadcast && broadcast.getLike())
        return WalkResult::advance();
      if (auto reshape = dyn_cast<ReshapeOp>(op);
          reshape && reshape.getLike())
        return WalkResult::advance();
      if (generatorTakesOpenExtents(op))
        return WalkResult::advance();
      // A gather, and a scatter, static along their axis take open extents
      // from their indices, table, base and updates.
      if (auto gather = dyn_cast<GatherOp>(op);
          gather && lowering::gatherTakesOpenExtents(gather))
        return WalkResult::advance();
      if (lowering::scatterTakesOpenExtents(op))
        return WalkResult::advance();
      if (lowering::windowTakesOpenBatch(op))
        return WalkResult::advance();
      if (isa<Conv2DOp, Conv2DBackpropInputOp, Conv2DBackpropFilterOp,
              MaxPool2DOp, AvgPool2DOp, MaxPool2DGradOp, MaxPool2DSelectOp,
              AvgPool2DGradOp>(op) &&
          llvm::any_of(llvm::concat<Type>(op->getOperandTypes(),
                                          op->getResultTypes()),
                       [](Type t) {
                         return !cast<RankedTensorType>(t).hasStaticShape();
                       })) {
        op->emitError() << "cannot lower '" << op->getName()
                        << "' with open extents other than the batch: "
                           "convolutions and pooling take an open batch "
                           "(the first extent of the images), their other "
                           "extents and the filter's must be known";
        return WalkResult::interrupt();
      }
      // expand_dims and squeeze only add or drop extents of 1.
      if (isa<ExpandDimsOp, SqueezeOp>(op))
        return WalkResult::advance();
      // A reshape to one open extent, or to several that each keep their
      // value (openReshapeGroups).
      if (isa<ReshapeOp>(op)) {
        auto from = cast<RankedTensorType>(op->getOperand(0).getType());
        auto to = cast<RankedTensorType>(op->getResult(0).getType());
        if (to.getNumDynamicDims() <= 1 ||
            lowering::openReshapeGroups(from.getShape(), to.getShape()))
          return WalkResult::advance();
      }
      for (Type type :
           llvm::concat<Type>(op->getOperandTypes(), op->getResultTypes())) {
        auto tensor = dyn_cast<RankedTensorType>(type);
        if (tensor && !tensor.hasStaticShape()) {
          op->emitError() << "cannot lower '" << op->getName()
                          << "' with dynamic shape " << type
                          << ": this op is lowered with static shapes only "
                             "(run --kiln-refine-shapes, or give the entry "
                             "point static argument shapes; elementwise ops, "
                             "reductions, matmul and softmax take dynamic "
                             "extents; convolutions and pooling an open "
                             "batch)";
          return WalkResult::interrupt();
        }
      }
      return WalkResult::advance();
    });
    if (dynamic.wasInterrupted())
      return signalPassFailure();
    // Without run-time checks (GPU code), the checked ops lower like the
    // others.
    if (!runtimeChecks) {
      getOperation()->walk([](GatherOp op) { op.removeBoundsCheckAttr(); });
      getOperation()->walk(
          [](SparseSoftmaxCrossEntropyOp op) { op.removeBoundsCheckAttr(); });
      getOperation()->walk([](AssertOp op) { op.erase(); });
    }
    if (widenHalfProducts)
      widenHalfProductsToF32();
    eraseSignedness();
    ConversionTarget target(*context);
    configureKilnToLinalgTarget(target);
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    target.addIllegalDialect<KilnDialect>();
    RewritePatternSet patterns(context);
    populateKilnToLinalgPatterns(context, patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }

  /// Unsigned storage types (ui8, ui16, ui32) become signless, as arith
  /// and linalg want them: each kiln.cast from or to one keeps what it
  /// read or wrote as a flag, then every type and attribute of the module
  /// (function types, block arguments, constants) loses its signedness,
  /// but for what describes the runtime's buffers: entry signatures and
  /// variable declarations. Only casts depend on it: the other ops that take storage
  /// types move elements.
  void eraseSignedness() {
    auto isUnsigned = [](Type type) {
      return getElementTypeOrSelf(type).isUnsignedInteger();
    };
    getOperation()->walk([&](CastOp op) {
      if (isUnsigned(op.getInput().getType()))
        op.setUnsignedInput(true);
      if (isUnsigned(op.getType()))
        op.setUnsignedResult(true);
    });
    AttrTypeReplacer replacer;
    replacer.addReplacement([](IntegerType type) -> std::optional<Type> {
      if (!type.isUnsigned())
        return std::nullopt;
      return IntegerType::get(type.getContext(), type.getWidth());
    });
    // (Dense constants hold their type as raw data, which the walk does
    // not reach: the same bits, retyped.)
    replacer.addReplacement(
        [](DenseIntOrFPElementsAttr dense) -> std::optional<Attribute> {
          auto type = dyn_cast<IntegerType>(dense.getElementType());
          if (!type || !type.isUnsigned())
            return std::nullopt;
          return dense.bitcast(
              IntegerType::get(type.getContext(), type.getWidth()));
        });
    // The entry signatures keep the caller's types: the runtime checks the
    // buffers it is given (a ui8 image) against them.
    replacer.addReplacement(
        [](EntryAttr entry) -> std::pair<Attribute, WalkResult> {
          return {entry, WalkResult::skip()};
        });
    // Variable declarations (kiln.variable ops, and the module's record of
    // them once they are externalized), like the entries, describe the
    // runtime's buffers.
    getOperation()->walk([&](Operation *op) {
      if (!isa<VariableOp>(op) && op != getOperation())
        replacer.replaceElementsIn(op, /*replaceAttrs=*/true,
                                   /*replaceLocs=*/false, /*replaceTypes=*/true);
    });
  }

  /// Products and convolutions with f16 or bf16 results: the same op on
  /// f32 operands (kiln.cast up), its result cast back.
  void widenHalfProductsToF32() {
    SmallVector<Operation *> ops;
    getOperation()->walk([&](Operation *op) {
      if (isa<MatmulOp, BatchMatmulOp, Conv2DOp, Conv2DBackpropInputOp,
              Conv2DBackpropFilterOp>(op) &&
          op->getNumResults() == 1 &&
          accumulatorType(getElementTypeOrSelf(op->getResult(0).getType())) !=
              getElementTypeOrSelf(op->getResult(0).getType()))
        ops.push_back(op);
    });
    OpBuilder b(&getContext());
    for (Operation *op : ops) {
      b.setInsertionPoint(op);
      Location loc = op->getLoc();
      auto widen = [&](Type type) -> Type {
        auto tensor = dyn_cast<RankedTensorType>(type);
        if (!tensor ||
            accumulatorType(tensor.getElementType()) == tensor.getElementType())
          return type;
        return tensor.clone(accumulatorType(tensor.getElementType()));
      };
      SmallVector<Value> operands;
      for (Value operand : op->getOperands()) {
        Type wide = widen(operand.getType());
        operands.push_back(wide == operand.getType()
                               ? operand
                               : CastOp::create(b, loc, wide, operand)
                                     .getResult());
      }
      OperationState state(loc, op->getName(), operands,
                           {widen(op->getResult(0).getType())},
                           op->getAttrs());
      Operation *wide = b.create(state);
      Value narrow = CastOp::create(b, loc, op->getResult(0).getType(),
                                    wide->getResult(0));
      op->getResult(0).replaceAllUsesWith(narrow);
      op->erase();
    }
  }
};
} // namespace
