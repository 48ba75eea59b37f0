//===- Sort.cpp - Lowering kiln.sort to the runtime's row sort ------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln.sort becomes one call of the runtime on two fresh buffers:
//
//   %values = memref.alloc, a copy of the input
//   %indices = memref.alloc
//   kiln_sort_<type>(descending, memref<*xT> %values, memref<*xi32> %indices)
//   results: bufferization.to_tensor %values / %indices (restrict writable)
//
// The runtime sorts every row of %values in place (a stable merge sort) and
// writes where each value came from into %indices. The buffers belong to
// this op alone (`restrict`), so bufferization uses them as the results'
// memory and the deallocation pipeline frees them. No linalg op could
// express a sort; a comparison network would cost O(n log^2 n) compares per
// row at best and O(n^2) as a linalg reduction.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::kiln;
using namespace mlir::kiln::lowering;

namespace {

struct SortLowering : OpConversionPattern<SortOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(SortOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto module = op->getParentOfType<ModuleOp>();
    auto type = cast<RankedTensorType>(op.getValues().getType());
    Type element = type.getElementType();
    std::optional<StringRef> suffix = elementSuffix(element);
    if (!suffix)
      return rewriter.notifyMatchFailure(op, "an element type the runtime "
                                             "cannot sort");
    Value input = adaptor.getInput();
    SmallVector<Value> dynamicExtents;
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.isDynamicDim(d))
        dynamicExtents.push_back(tensor::DimOp::create(rewriter, loc, input, d));
    auto indicesType = cast<RankedTensorType>(op.getIndices().getType());
    auto valuesBuffer = MemRefType::get(type.getShape(), element);
    auto indicesBuffer =
        MemRefType::get(type.getShape(), indicesType.getElementType());
    Value values =
        memref::AllocOp::create(rewriter, loc, valuesBuffer, dynamicExtents);
    bufferization::MaterializeInDestinationOp::create(
        rewriter, loc, TypeRange{}, input, values, /*restrict=*/true,
        /*writable=*/true);
    Value indices =
        memref::AllocOp::create(rewriter, loc, indicesBuffer, dynamicExtents);
    auto unrankedValues = UnrankedMemRefType::get(element, 0);
    auto unrankedIndices =
        UnrankedMemRefType::get(indicesType.getElementType(), 0);
    func::FuncOp callee = declareRuntime(
        rewriter, loc, module, ("kiln_sort_" + *suffix).str(),
        {rewriter.getI64Type(), unrankedValues, unrankedIndices});
    Value descending = arith::ConstantIntOp::create(
        rewriter, loc, rewriter.getI64Type(), op.getDescending() ? 1 : 0);
    func::CallOp::create(
        rewriter, loc, callee,
        ValueRange{descending,
                   memref::CastOp::create(rewriter, loc, unrankedValues,
                                          values),
                   memref::CastOp::create(rewriter, loc, unrankedIndices,
                                          indices)});
    Value sorted = bufferization::ToTensorOp::create(
        rewriter, loc, type, values, /*restrict=*/true, /*writable=*/true);
    Value positions = bufferization::ToTensorOp::create(
        rewriter, loc, indicesType, indices, /*restrict=*/true,
        /*writable=*/true);
    rewriter.replaceOp(op, ValueRange{sorted, positions});
    return success();
  }
};

} // namespace

void lowering::populateSortPatterns(RewritePatternSet &patterns) {
  patterns.add<SortLowering>(patterns.getContext());
}
