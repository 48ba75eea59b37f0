//===- VectorizeElementwise.cpp - Several consecutive elements per thread -===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-vectorize-elementwise: an elementwise linalg.generic on buffers
// whose operands run contiguously along its innermost loop becomes a
// parallel loop over groups of consecutive elements along that loop, each
// group loaded and stored as one vector (a 16-byte access per operand on
// the GPU; see the pass description).
//
//===----------------------------------------------------------------------===//

#include "GpuEntries.h"
#include "GpuMemory.h"

#include "kiln/Codegen/GPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUVECTORIZEELEMENTWISE
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

/// Bytes per vector access (one 128-bit load or store per thread).
constexpr int64_t kVectorBytes = 16;

/// How an operand is read or written across the lanes of a group.
enum class Access {
  Contiguous, // `width` consecutive elements: a vector
  Uniform,    // the same element for every lane: a scalar (a broadcast)
  Value       // not a buffer: the value itself
};

/// Elements of the innermost loop handled per thread, or 0 when `op` is
/// not vectorized: only parallel loops of static extents, every operand a
/// buffer whose map keeps the innermost loop last, at unit stride
/// (contiguous), or does not use it (uniform), or a scalar input; outputs
/// cover every loop. `aligned`: contiguous buffers must be whole ones that
/// start aligned (the accesses then claim it).
int64_t widthFor(linalg::GenericOp op, bool aligned,
                 SmallVectorImpl<Access> &accesses) {
  if (!op.hasPureBufferSemantics() ||
      op.getNumLoops() != op.getNumParallelLoops() || op.getNumLoops() == 0 ||
      op.hasDynamicShape() || op.hasIndexSemantics())
    return 0;
  unsigned innermost = op.getNumLoops() - 1;
  int64_t widest = 1;
  for (OpOperand &operand : op->getOpOperands()) {
    AffineMap map = op.getMatchingIndexingMap(&operand);
    auto type = dyn_cast<MemRefType>(operand.get().getType());
    if (!type) {
      if (op.isDpsInit(&operand))
        return 0;
      accesses.push_back(Access::Value);
      continue;
    }
    if (!map.isProjectedPermutation())
      return 0;
    bool usesInnermost = map.isFunctionOfDim(innermost);
    if (op.isDpsInit(&operand) &&
        (map.getNumResults() != op.getNumLoops() || !usesInnermost))
      return 0;
    if (!usesInnermost) {
      accesses.push_back(Access::Uniform);
      continue;
    }
    auto last = dyn_cast<AffineDimExpr>(map.getResults().back());
    if (!last || last.getPosition() != innermost)
      return 0; // transposed: the lanes are not neighbours
    Type element = type.getElementType();
    // Whole bytes, a power of two of them (a vector of i24 would be
    // packed, unlike the buffer's elements).
    unsigned bits = isa<FloatType, IntegerType>(element)
                        ? element.getIntOrFloatBitWidth()
                        : 0;
    if (bits < 8 || bits > 64 || !llvm::isPowerOf2_32(bits))
      return 0;
    // Consecutive elements along the innermost loop: unit stride. On the
    // GPU, whole buffers only (their groups start aligned).
    SmallVector<int64_t> strides;
    int64_t offset;
    if (failed(type.getStridesAndOffset(strides, offset)) ||
        strides.back() != 1)
      return 0;
    if (aligned &&
        (!type.getLayout().isIdentity() || !kiln::startsAligned(operand.get())))
      return 0;
    widest = std::max<int64_t>(widest, element.getIntOrFloatBitWidth() / 8);
    accesses.push_back(Access::Contiguous);
  }
  // An input in a buffer an output may share is read at the output's own
  // elements only (the same value and map), or a lane could read what an
  // earlier lane of the group wrote.
  for (OpOperand *input : op.getDpsInputOperands()) {
    if (!isa<MemRefType>(input->get().getType()))
      continue;
    for (OpOperand &output : op.getDpsInitsMutable())
      if (kiln::mayAlias(kiln::rootOf(input->get()),
                         kiln::rootOf(output.get())) &&
          (input->get() != output.get() ||
           op.getMatchingIndexingMap(input) !=
               op.getMatchingIndexingMap(&output)))
        return 0;
  }
  int64_t extent = op.getStaticLoopRanges()[innermost];
  int64_t width = kVectorBytes / widest;
  while (width > 1 && extent % width != 0)
    width /= 2;
  return width > 1 ? width : 0;
}

/// Rewrites `op` (see widthFor) as an scf.parallel over the loop points
/// with the innermost index stepping by `width`.
void vectorize(RewriterBase &rewriter, linalg::GenericOp op, int64_t width,
               ArrayRef<Access> accesses, bool aligned) {
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  SmallVector<int64_t> extents = op.getStaticLoopRanges();
  SmallVector<Value> lower, upper, steps;
  for (size_t d = 0; d < extents.size(); ++d) {
    lower.push_back(arith::ConstantIndexOp::create(rewriter, loc, 0));
    upper.push_back(arith::ConstantIndexOp::create(rewriter, loc, extents[d]));
    steps.push_back(arith::ConstantIndexOp::create(
        rewriter, loc, d + 1 == extents.size() ? width : 1));
  }
  auto loop = scf::ParallelOp::create(rewriter, loc, lower, upper, steps);
  OpBuilder b = OpBuilder::atBlockBegin(loop.getBody());
  SmallVector<Value> point = loop.getInductionVars();
  auto indicesFor = [&](OpOperand &operand) {
    AffineMap map = op.getMatchingIndexingMap(&operand);
    SmallVector<Value> indices;
    for (AffineExpr result : map.getResults())
      indices.push_back(point[cast<AffineDimExpr>(result).getPosition()]);
    return indices;
  };
  auto alignment = [&](Value memref) -> llvm::MaybeAlign {
    if (!aligned)
      return llvm::MaybeAlign();
    int64_t bytes =
        cast<MemRefType>(memref.getType()).getElementTypeBitWidth() / 8;
    return llvm::Align(std::min(kVectorBytes, bytes * width));
  };
  // What each block argument of the body is, per lane.
  SmallVector<Value> vectors(op->getNumOperands()), scalars(op->getNumOperands());
  Block *body = op.getBlock();
  for (OpOperand &operand : op->getOpOperands()) {
    unsigned n = operand.getOperandNumber();
    BlockArgument arg = body->getArgument(n);
    if (arg.use_empty())
      continue; // (an output the body does not read)
    switch (accesses[n]) {
    case Access::Value:
      scalars[n] = operand.get();
      break;
    case Access::Uniform:
      scalars[n] =
          memref::LoadOp::create(b, loc, operand.get(), indicesFor(operand));
      break;
    case Access::Contiguous: {
      auto type = VectorType::get({width}, arg.getType());
      vectors[n] = vector::LoadOp::create(b, loc, type, operand.get(),
                                          indicesFor(operand), /*nontemporal=*/false,
                                          alignment(operand.get()));
      break;
    }
    }
  }
  auto yield = cast<linalg::YieldOp>(body->getTerminator());
  SmallVector<SmallVector<Value>> results(yield.getNumOperands());
  for (int64_t lane = 0; lane < width; ++lane) {
    IRMapping mapping;
    for (unsigned n = 0; n < op->getNumOperands(); ++n) {
      BlockArgument arg = body->getArgument(n);
      if (vectors[n])
        mapping.map(arg, vector::ExtractOp::create(b, loc, vectors[n], lane)
                             .getResult());
      else if (scalars[n])
        mapping.map(arg, scalars[n]);
    }
    for (Operation &inner : body->without_terminator())
      b.clone(inner, mapping);
    for (auto [i, value] : llvm::enumerate(yield.getOperands()))
      results[i].push_back(mapping.lookupOrDefault(value));
  }
  for (auto [i, output] : llvm::enumerate(op.getDpsInitsMutable())) {
    Value vector = vector::FromElementsOp::create(
        b, loc, VectorType::get({width}, results[i].front().getType()),
        results[i]);
    vector::StoreOp::create(b, loc, vector, output.get(), indicesFor(output),
                            /*nontemporal=*/false, alignment(output.get()));
  }
  rewriter.eraseOp(op);
}

struct GPUVectorizeElementwisePass
    : public mlir::kiln::impl::KilnGPUVectorizeElementwiseBase<
          GPUVectorizeElementwisePass> {
  using Base::Base;

  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    getOperation().walk([&](func::FuncOp func) {
      if (!everywhere && !kiln::isGpuFunction(func))
        return;
      SmallVector<linalg::LinalgOp> candidates;
      func.walk([&](linalg::LinalgOp op) {
        // Top-level ops only: one inside another op's body is part of
        // that op's kernel.
        if (isa<linalg::GenericOp, linalg::FillOp, linalg::CopyOp>(op) &&
            !op->getParentOfType<linalg::LinalgOp>() &&
            !op->getParentOfType<gpu::LaunchOp>())
          candidates.push_back(op);
      });
      for (linalg::LinalgOp candidate : candidates) {
        // Fills (a gradient's zeros) and copies as the generics they are.
        auto op = dyn_cast<linalg::GenericOp>(candidate.getOperation());
        if (!op) {
          if (!candidate.hasPureBufferSemantics() ||
              candidate.hasDynamicShape() || candidate.getNumLoops() == 0 ||
              candidate.getStaticLoopRanges().back() % 2 != 0)
            continue;
          rewriter.setInsertionPoint(candidate);
          FailureOr<linalg::GenericOp> generic =
              linalg::generalizeNamedOp(rewriter, candidate);
          if (failed(generic))
            continue;
          op = *generic;
        }
        SmallVector<Access> accesses;
        if (int64_t width = widthFor(op, !everywhere, accesses))
          vectorize(rewriter, op, width, accesses, !everywhere);
      }
    });
  }
};

} // namespace
