//===- DistinctResults.cpp - Every entry output gets its own tensor -------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/ABI/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNDISTINCTRESULTS
#include "kiln/ABI/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {
struct DistinctResultsPass
    : public mlir::kiln::impl::KilnDistinctResultsBase<DistinctResultsPass> {
  void runOnOperation() override {
    getOperation().walk([](func::ReturnOp ret) {
      DenseSet<Value> seen;
      OpBuilder b(ret);
      for (OpOperand &operand : ret->getOpOperands()) {
        Value v = operand.get();
        auto type = dyn_cast<RankedTensorType>(v.getType());
        // A value also materialized into a variable's buffer lives there:
        // an output needs its own copy, taken before that write.
        Operation *write = nullptr;
        for (Operation *user : v.getUsers())
          if (isa<bufferization::MaterializeInDestinationOp>(user) &&
              user->getBlock() == ret->getBlock() &&
              (!write || user->isBeforeInBlock(write)))
            write = user;
        bool fresh = seen.insert(v).second && !isa<BlockArgument>(v) && !write;
        if (fresh || !type)
          continue;
        OpBuilder::InsertionGuard guard(b);
        if (write)
          b.setInsertionPoint(write);
        Value empty = tensor::EmptyOp::create(
            b, ret.getLoc(), tensor::getMixedSizes(b, ret.getLoc(), v),
            type.getElementType());
        operand.set(
            linalg::CopyOp::create(b, ret.getLoc(), v, empty).getResult(0));
      }
    });
  }
};
} // namespace
