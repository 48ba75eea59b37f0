//===- Reductions.cpp - Reductions the GPU kernels may reorder ------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "Reductions.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;

std::optional<std::pair<Operation *, TypedAttr>>
mlir::kiln::reorderableCombiner(linalg::GenericOp op) {
  if (op.getNumDpsInits() != 1)
    return std::nullopt;
  SmallVector<Operation *, 4> combiners;
  if (!matchReduction(op.getRegionOutputArgs(), 0, combiners) ||
      combiners.size() != 1)
    return std::nullopt;
  Operation *combiner = combiners.front();
  if (!isa<arith::AddFOp, arith::AddIOp, arith::MulFOp, arith::MulIOp,
           arith::MaximumFOp, arith::MinimumFOp, arith::MaxNumFOp,
           arith::MinNumFOp, arith::MaxSIOp, arith::MinSIOp, arith::MaxUIOp,
           arith::MinUIOp, arith::AndIOp, arith::OrIOp, arith::XOrIOp>(
          combiner))
    return std::nullopt;
  std::optional<TypedAttr> neutral = arith::getNeutralElement(combiner);
  if (!neutral)
    return std::nullopt;
  return std::make_pair(combiner, *neutral);
}

static constexpr int64_t kWarpLanes = 32;

Value mlir::kiln::combineWith(RewriterBase &rewriter, Operation *combiner,
                              Value a, Value b) {
  Operation *op = rewriter.clone(*combiner);
  op->setOperands({a, b});
  return op->getResult(0);
}

Value mlir::kiln::warpTotal(RewriterBase &rewriter, Location loc,
                            Operation *combiner, Value acc) {
  Value width = arith::ConstantIntOp::create(rewriter, loc, kWarpLanes, 32);
  for (int64_t offset = kWarpLanes / 2; offset >= 1; offset /= 2) {
    Value other =
        gpu::ShuffleOp::create(
            rewriter, loc, acc,
            arith::ConstantIntOp::create(rewriter, loc, offset, 32), width,
            gpu::ShuffleMode::XOR)
            .getShuffleResult();
    acc = combineWith(rewriter, combiner, acc, other);
  }
  return acc;
}

Value mlir::kiln::emulatedWarpTotal(
    RewriterBase &rewriter, Location loc, Operation *combiner, Value lanes,
    Value swapped, llvm::function_ref<Value(Value)> laneValue) {
  auto eachLane = [&](llvm::function_ref<void(Value)> body) {
    auto forOp = scf::ForOp::create(
        rewriter, loc, arith::ConstantIndexOp::create(rewriter, loc, 0),
        arith::ConstantIndexOp::create(rewriter, loc, kWarpLanes),
        arith::ConstantIndexOp::create(rewriter, loc, 1));
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(forOp.getBody()->getTerminator());
    body(forOp.getInductionVar());
  };
  eachLane([&](Value lane) {
    memref::StoreOp::create(rewriter, loc, laneValue(lane), lanes, lane);
  });
  for (int64_t offset = kWarpLanes / 2; offset >= 1; offset /= 2) {
    eachLane([&](Value lane) {
      Value partner = arith::XOrIOp::create(
          rewriter, loc, lane,
          arith::ConstantIndexOp::create(rewriter, loc, offset));
      Value mine = memref::LoadOp::create(rewriter, loc, lanes, lane);
      Value theirs = memref::LoadOp::create(rewriter, loc, lanes, partner);
      memref::StoreOp::create(rewriter, loc,
                              combineWith(rewriter, combiner, mine, theirs),
                              swapped, lane);
    });
    eachLane([&](Value lane) {
      memref::StoreOp::create(
          rewriter, loc, memref::LoadOp::create(rewriter, loc, swapped, lane),
          lanes, lane);
    });
  }
  return memref::LoadOp::create(
      rewriter, loc, lanes,
      ValueRange{arith::ConstantIndexOp::create(rewriter, loc, 0)});
}

Value mlir::kiln::inlineBody(RewriterBase &rewriter, Location loc,
                             linalg::GenericOp op, ArrayRef<Value> ivs,
                             Value out,
                             llvm::function_ref<Value(OpOperand *)> input) {
  Block *body = op.getBody();
  IRMapping mapping;
  for (OpOperand *operand : op.getDpsInputOperands()) {
    Value value = input ? input(operand) : Value();
    if (!value) {
      value = operand->get();
      if (isa<MemRefType>(value.getType())) {
        AffineMap map = op.getMatchingIndexingMap(operand);
        SmallVector<Value> indices;
        for (unsigned i = 0; i < map.getNumResults(); ++i)
          indices.push_back(affine::AffineApplyOp::create(
              rewriter, loc, map.getSubMap({i}), ivs));
        value = memref::LoadOp::create(rewriter, loc, value, indices);
      }
    }
    mapping.map(body->getArgument(operand->getOperandNumber()), value);
  }
  if (out)
    mapping.map(op.getRegionOutputArgs().front(), out);
  for (Operation &inner : body->without_terminator()) {
    if (auto index = dyn_cast<linalg::IndexOp>(inner)) {
      mapping.map(index.getResult(), ivs[index.getDim()]);
      continue;
    }
    rewriter.clone(inner, mapping);
  }
  return mapping.lookupOrDefault(body->getTerminator()->getOperand(0));
}
