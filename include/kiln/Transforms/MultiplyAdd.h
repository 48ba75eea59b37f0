//===- MultiplyAdd.h - The body of a plain contraction ----------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Shared by the CPU and GPU code generators (and by kiln-widen-half-
// accumulators, which leaves such bodies to the GPU's kernels): which
// linalg contractions are plain `acc + a * b`, so that their operands can
// be handed to a matmul kernel (or renamed linalg.matmul) without the body. Upstream's
// isaContractionOpInterface is not enough for that: it also accepts chains
// of unary ops on the operands (a negation fused into the product, say),
// which such a kernel would drop.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TRANSFORMS_MULTIPLYADD_H
#define KILN_TRANSFORMS_MULTIPLYADD_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"

#include <optional>
#include <utility>

namespace mlir::kiln {

/// The multiply and add of a body that is exactly `yield acc + a * b`
/// (either order of each, float or integer, one element type) over the
/// block's arguments a, b and acc; nullopt for any other body.
inline std::optional<std::pair<Operation *, Operation *>>
matchMultiplyAdd(linalg::LinalgOp op) {
  Block *body = op.getBlock();
  if (body->getNumArguments() != 3 ||
      !llvm::all_equal(body->getArgumentTypes()) ||
      body->getOperations().size() != 3)
    return std::nullopt;
  auto yield = cast<linalg::YieldOp>(body->getTerminator());
  Operation *add = yield.getOperand(0).getDefiningOp();
  if (!add || !isa<arith::AddFOp, arith::AddIOp>(add) ||
      add->getBlock() != body)
    return std::nullopt;
  Value acc = body->getArgument(2);
  Value product = add->getOperand(0) == acc   ? add->getOperand(1)
                  : add->getOperand(1) == acc ? add->getOperand(0)
                                              : Value();
  Operation *multiply = product ? product.getDefiningOp() : nullptr;
  if (!multiply || multiply->getBlock() != body ||
      !(isa<arith::AddFOp>(add) ? isa<arith::MulFOp>(multiply)
                                : isa<arith::MulIOp>(multiply)))
    return std::nullopt;
  Value a = body->getArgument(0), b = body->getArgument(1);
  if (!((multiply->getOperand(0) == a && multiply->getOperand(1) == b) ||
        (multiply->getOperand(0) == b && multiply->getOperand(1) == a)))
    return std::nullopt;
  return std::make_pair(multiply, add);
}

/// The loops of a matrix product, possibly batched, that the GPU's tiled
/// kernels take: one M, one N and one K loop, at most one batch loop and
/// no other, every operand read through a projected permutation.
inline FailureOr<linalg::ContractionDimensions>
matmulShapedLoops(linalg::LinalgOp op) {
  if (op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      !llvm::all_of(op.getIndexingMapsArray(),
                    [](AffineMap map) { return map.isProjectedPermutation(); }))
    return failure();
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.size() != 1 || dims->n.size() != 1 ||
      dims->k.size() != 1 || dims->batch.size() > 1 ||
      op.getNumLoops() != 3 + dims->batch.size())
    return failure();
  return dims;
}

} // namespace mlir::kiln

#endif // KILN_TRANSFORMS_MULTIPLYADD_H
