//===- Tiling.h - Tiling steps shared by the CPU tiling passes --*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_LIB_CODEGEN_CPU_TILING_H
#define KILN_LIB_CODEGEN_CPU_TILING_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::kiln::cpu {

/// Vector registers available for accumulators: 32 zmm registers with
/// AVX-512 (16 accumulators leave room for B, a broadcast of A and
/// addresses), 16 ymm registers with AVX2 (12).
inline int64_t accumulatorRegisters(int64_t vectorBits) {
  return vectorBits >= 512 ? 16 : 12;
}

/// The attribute that marks a linalg op as a register tile made by a tiling
/// pass (a convolution's inner product): kiln-cpu-tile-contractions
/// vectorizes it as it is instead of tiling it for the caches again.
constexpr llvm::StringLiteral kRegisterTileAttr = "kiln_register_tile";

/// The attribute that marks a reduction loop around a register tile (a
/// convolution's window loops): kiln-cpu-tile-contractions keeps the tile's
/// accumulator in registers across it, as across the K loop.
constexpr llvm::StringLiteral kAccumulatingLoopAttr = "kiln_accumulating_loop";

/// The loop ranges of `op`, each open one replaced by its constant upper
/// bound where the IR implies one (an edge tile's `min(size, rest)`), else
/// left open: the vector sizes of a masked vectorization.
SmallVector<int64_t> loopUpperBounds(linalg::LinalgOp op);

/// Tiles `op` with `sizes` (one per loop; 0: not tiled) using scf.for and
/// replaces it.
FailureOr<scf::SCFTilingResult> tileWithLoops(RewriterBase &rewriter,
                                              linalg::LinalgOp op,
                                              ArrayRef<int64_t> sizes);

/// Tiles `op` into independent scf.forall tiles of `sizes` (one per loop of
/// `op`; reduction loops must have 0): when its result's only user is an
/// elementwise op over the same shape (bias add, activation), that op is
/// tiled and `op` fused into it, updating the result in place; the fill of
/// `op`'s accumulator is fused too. Returns the tiled `op` inside the tile,
/// the first of the tile's ops that `isTiledOp` accepts, or null.
linalg::LinalgOp
tileWithEpilogue(RewriterBase &rewriter, linalg::LinalgOp op,
                 ArrayRef<int64_t> sizes,
                 llvm::function_ref<bool(Operation *)> isTiledOp);

} // namespace mlir::kiln::cpu

#endif // KILN_LIB_CODEGEN_CPU_TILING_H
