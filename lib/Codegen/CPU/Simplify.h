//===- Simplify.h - Clean-up shared by the CPU tiling passes ----*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_LIB_CODEGEN_CPU_SIMPLIFY_H
#define KILN_LIB_CODEGEN_CPU_SIMPLIFY_H

#include "mlir/IR/Operation.h"
#include "mlir/Support/LLVM.h"

namespace mlir::kiln::cpu {

/// Canonicalizes `root` with the leading unit dimensions of vectors dropped
/// (a batch of one, a row of one), then CSE. With `lowerMultiReductions`,
/// vector.multi_reduction over outer dimensions also becomes elementwise
/// ops (the vectorized sums over a batch).
LogicalResult simplifyTiles(Operation *root, bool lowerMultiReductions);

} // namespace mlir::kiln::cpu

#endif // KILN_LIB_CODEGEN_CPU_SIMPLIFY_H
