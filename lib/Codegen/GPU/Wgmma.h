//===- Wgmma.h - Matrix products on Hopper's warpgroup MMA ------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The sm_90a kernel of kiln-gpu-tile-contractions: TMA copies the operand
// tiles into shared memory and a warpgroup multiplies them with wgmma.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_LIB_CODEGEN_GPU_WGMMA_H
#define KILN_LIB_CODEGEN_GPU_WGMMA_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::kiln {

/// Whether the contraction `op` over loops `m`, `n`, `k` (no batch) fits
/// the wgmma kernel: f16 or bf16, A[M, K] times B[K, N] into C[M, N], all
/// contiguous with static shapes, K and N multiples of 8 (TMA wants rows of
/// 16-byte multiples).
bool fitsWgmma(linalg::LinalgOp op, unsigned m, unsigned n, unsigned k);

/// Replaces `op` (which fitsWgmma) by the wgmma kernel.
void buildWgmmaKernel(RewriterBase &rewriter, linalg::LinalgOp op);

} // namespace mlir::kiln

#endif // KILN_LIB_CODEGEN_GPU_WGMMA_H
