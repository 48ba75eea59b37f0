//===- Collectives.cpp - Lowering collectives to the runtime's MPI layer --===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Each collective becomes one call of the runtime on fresh row-major
// buffers (the runtime hands them to MPI as they are):
//
//   kiln.all_reduce      %buf = memref.alloc, a copy of the input
//                        kiln_all_reduce_<T>(reduction, group, where, %buf)
//                        result: bufferization.to_tensor %buf
//   kiln.all_reduce_start  the same with kiln_all_reduce_start_<T>, which
//                        returns at once; the buffer is the pending value
//   kiln.all_reduce_done kiln_all_reduce_done_<T>(group, where, %buf) waits;
//                        result: another bufferization.to_tensor %buf
//   kiln.broadcast_from  the same with kiln_broadcast_from_<T>(root, ...)
//   kiln.all_gather      %in = a copy of the input, %out = memref.alloc
//                        kiln_all_gather_<T>(axis, group, where, %in, %out)
//   kiln.reduce_scatter  kiln_reduce_scatter_<T>(reduction, axis, ...)
//   kiln.group_rank/size i64 kiln_group_rank/size(group, where)
//
// Texts (the group's name; "file:line:col: kiln.all_reduce" for messages)
// are constant globals passed as address and length. An open extent of
// all_gather's result is the input's times kiln_group_size; of
// reduce_scatter's, the input's divided by it (the runtime checks that the
// buffers fit the group). The buffers belong to the op alone (`restrict`),
// so bufferization uses them as the results' memory; the deallocation
// pipeline frees them and the copies of the inputs.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::kiln;
using namespace mlir::kiln::lowering;

namespace {

/// What every collective call starts its arguments with, after its own
/// integers: the group's name and where the op is, as texts.
SmallVector<Value> texts(OpBuilder &b, Operation *op, StringRef group) {
  auto module = op->getParentOfType<ModuleOp>();
  auto [groupText, groupLength] =
      constantText(b, op->getLoc(), module, group);
  // A split all-reduce is named as the user wrote it.
  std::string name = isa<AllReduceStartOp, AllReduceDoneOp>(op)
                         ? AllReduceOp::getOperationName().str()
                         : op->getName().getStringRef().str();
  std::string where = locationPrefix(op->getLoc()) + name;
  auto [whereText, whereLength] =
      constantText(b, op->getLoc(), module, where);
  return {groupText, groupLength, whereText, whereLength};
}

Value i64Constant(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIntOp::create(b, loc, b.getI64Type(), value);
}

/// A fresh buffer of `type`'s shape (`extents` for its open extents).
Value allocate(OpBuilder &b, Location loc, RankedTensorType type,
               ValueRange extents) {
  return memref::AllocOp::create(
      b, loc, MemRefType::get(type.getShape(), type.getElementType()),
      extents);
}

/// A fresh row-major buffer holding a copy of `tensor`.
Value copyOf(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  SmallVector<Value> extents;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      extents.push_back(tensor::DimOp::create(b, loc, tensor, d));
  Value buffer = allocate(b, loc, type, extents);
  bufferization::MaterializeInDestinationOp::create(
      b, loc, TypeRange{}, tensor, buffer, /*restrict=*/true,
      /*writable=*/true);
  return buffer;
}

Value unranked(OpBuilder &b, Location loc, Value buffer) {
  auto type = cast<MemRefType>(buffer.getType());
  return memref::CastOp::create(
      b, loc, UnrankedMemRefType::get(type.getElementType(), 0), buffer);
}

Value asTensor(OpBuilder &b, Location loc, Type type, Value buffer) {
  return bufferization::ToTensorOp::create(b, loc, type, buffer,
                                           /*restrict=*/true,
                                           /*writable=*/true);
}

/// Calls runtime function `prefix<T>` (T the element suffix of `element`)
/// with `integers`, the texts and the buffers (as unranked memrefs).
LogicalResult callRuntime(ConversionPatternRewriter &rewriter, Operation *op,
                          StringRef prefix, Type element, StringRef group,
                          ArrayRef<int64_t> integers, ValueRange buffers) {
  std::optional<StringRef> suffix = elementSuffix(element);
  if (!suffix)
    return rewriter.notifyMatchFailure(op, "an element type the runtime's "
                                           "collectives do not take");
  Location loc = op->getLoc();
  SmallVector<Value> args;
  for (int64_t v : integers)
    args.push_back(i64Constant(rewriter, loc, v));
  args.append(texts(rewriter, op, group));
  for (Value buffer : buffers)
    args.push_back(unranked(rewriter, loc, buffer));
  func::FuncOp callee =
      declareRuntime(rewriter, loc, op->getParentOfType<ModuleOp>(),
                     (prefix + *suffix).str(), ValueRange(args).getTypes());
  func::CallOp::create(rewriter, loc, callee, args);
  return success();
}

/// kiln_group_rank / kiln_group_size: an i64 of the group.
Value groupQuery(OpBuilder &b, Operation *op, StringRef name,
                 StringRef group) {
  Location loc = op->getLoc();
  auto module = op->getParentOfType<ModuleOp>();
  SmallVector<Value> args = texts(b, op, group);
  auto callee = module.lookupSymbol<func::FuncOp>(name);
  if (!callee) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    callee = func::FuncOp::create(
        b, loc, name,
        b.getFunctionType(ValueRange(args).getTypes(), {b.getI64Type()}));
    callee.setPrivate();
  }
  return func::CallOp::create(b, loc, callee, args).getResult(0);
}

int64_t reductionCode(CollectiveReduction reduction) {
  return static_cast<int64_t>(reduction);
}

/// all_reduce and broadcast_from: the runtime works in place on a copy of
/// the input, which becomes the result.
template <typename OpTy>
LogicalResult lowerInPlace(OpTy op, Value input,
                           ConversionPatternRewriter &rewriter,
                           StringRef prefix, int64_t integer) {
  auto type = cast<RankedTensorType>(op.getType());
  Value buffer = copyOf(rewriter, op.getLoc(), input);
  if (failed(callRuntime(rewriter, op, prefix, type.getElementType(),
                         op.getGroup(), {integer}, {buffer})))
    return failure();
  rewriter.replaceOp(op, asTensor(rewriter, op.getLoc(), type, buffer));
  return success();
}

/// kiln.all_reduce (kiln_all_reduce_<T>) and kiln.all_reduce_start
/// (kiln_all_reduce_start_<T>, which returns at once: the buffer is the
/// pending value).
template <typename OpTy>
struct AllReduceLowering : OpConversionPattern<OpTy> {
  AllReduceLowering(MLIRContext *context, StringRef prefix)
      : OpConversionPattern<OpTy>(context), prefix(prefix) {}
  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    return lowerInPlace(op, adaptor.getInput(), rewriter, prefix,
                        reductionCode(op.getReduction()));
  }
  std::string prefix;
};

/// kiln.all_reduce_done: waits for the all-reduce on its start's buffer,
/// which then is the result.
struct AllReduceDoneLowering : OpConversionPattern<AllReduceDoneOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(AllReduceDoneOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto pending =
        adaptor.getPending().getDefiningOp<bufferization::ToTensorOp>();
    auto start = op.getPending().getDefiningOp<AllReduceStartOp>();
    if (!pending || !start)
      return rewriter.notifyMatchFailure(op, "its start is not lowered");
    auto type = cast<RankedTensorType>(op.getType());
    Value buffer = pending.getBuffer();
    if (failed(callRuntime(rewriter, op, "kiln_all_reduce_done_",
                           type.getElementType(), start.getGroup(), {},
                           {buffer})))
      return failure();
    rewriter.replaceOp(op, asTensor(rewriter, op.getLoc(), type, buffer));
    return success();
  }
};

struct BroadcastFromLowering : OpConversionPattern<BroadcastFromOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(BroadcastFromOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    return lowerInPlace(op, adaptor.getInput(), rewriter,
                        "kiln_broadcast_from_",
                        static_cast<int64_t>(op.getRoot()));
  }
};

/// The open extents of `result` (all_gather's or reduce_scatter's): the
/// input's, times (gather) or divided by (scatter) the group's size along
/// `axis`.
SmallVector<Value> partExtents(OpBuilder &b, Operation *op, Value input,
                               RankedTensorType result, int64_t axis,
                               StringRef group, bool gather) {
  Location loc = op->getLoc();
  SmallVector<Value> extents;
  for (int64_t d = 0; d < result.getRank(); ++d) {
    if (!result.isDynamicDim(d))
      continue;
    Value extent = tensor::DimOp::create(b, loc, input, d);
    if (d == axis) {
      Value size = arith::IndexCastOp::create(
          b, loc, b.getIndexType(),
          groupQuery(b, op, "kiln_group_size", group));
      extent = gather ? Value(arith::MulIOp::create(b, loc, extent, size))
                      : Value(arith::DivUIOp::create(b, loc, extent, size));
    }
    extents.push_back(extent);
  }
  return extents;
}

int64_t normalizedAxis(int64_t axis, int64_t rank) {
  return axis < 0 ? axis + rank : axis;
}

/// all_gather and reduce_scatter: a copy of the input, a fresh buffer for
/// the result, one call.
template <typename OpTy>
LogicalResult lowerParts(OpTy op, Value input,
                         ConversionPatternRewriter &rewriter, StringRef prefix,
                         SmallVector<int64_t> integers, bool gather) {
  Location loc = op.getLoc();
  auto type = cast<RankedTensorType>(op.getType());
  int64_t axis = normalizedAxis(op.getAxis(), type.getRank());
  integers.push_back(axis);
  Value copy = copyOf(rewriter, loc, input);
  Value output = allocate(
      rewriter, loc, type,
      partExtents(rewriter, op, input, type, axis, op.getGroup(), gather));
  if (failed(callRuntime(rewriter, op, prefix, type.getElementType(),
                         op.getGroup(), integers, {copy, output})))
    return failure();
  rewriter.replaceOp(op, asTensor(rewriter, loc, type, output));
  return success();
}

struct AllGatherLowering : OpConversionPattern<AllGatherOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(AllGatherOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    return lowerParts(op, adaptor.getInput(), rewriter, "kiln_all_gather_",
                      {}, /*gather=*/true);
  }
};

struct ReduceScatterLowering : OpConversionPattern<ReduceScatterOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ReduceScatterOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    return lowerParts(op, adaptor.getInput(), rewriter,
                      "kiln_reduce_scatter_",
                      {reductionCode(op.getReduction())}, /*gather=*/false);
  }
};

template <typename OpTy>
struct GroupQueryLowering : OpConversionPattern<OpTy> {
  GroupQueryLowering(MLIRContext *context, StringRef function)
      : OpConversionPattern<OpTy>(context), function(function) {}
  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value value = groupQuery(rewriter, op, function, op.getGroup());
    rewriter.replaceOpWithNewOp<tensor::FromElementsOp>(
        op, op.getType(), ValueRange{value});
    return success();
  }
  std::string function;
};

} // namespace

void lowering::populateCollectivePatterns(RewritePatternSet &patterns) {
  MLIRContext *context = patterns.getContext();
  patterns.add<AllReduceDoneLowering, BroadcastFromLowering,
               AllGatherLowering, ReduceScatterLowering>(context);
  patterns.add<AllReduceLowering<AllReduceOp>>(context, "kiln_all_reduce_");
  patterns.add<AllReduceLowering<AllReduceStartOp>>(context,
                                                    "kiln_all_reduce_start_");
  patterns.add<GroupQueryLowering<GroupRankOp>>(context, "kiln_group_rank");
  patterns.add<GroupQueryLowering<GroupSizeOp>>(context, "kiln_group_size");
}
