//===- Passes.h - Kiln transformation passes --------------------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TRANSFORMS_PASSES_H
#define KILN_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::kiln {

/// How the reverse pass of a loop gets each iteration's carried values
/// (`kiln-autodiff{loops=...}`).
enum class LoopStrategy {
  /// Saved per iteration by the forward pass: O(n) time, memory for n
  /// iterations' carried values.
  Tape,
  /// Recomputed from the loop's initial values: O(1) memory, O(n^2) time.
  Recompute,
};

#define GEN_PASS_DECL
#include "kiln/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "kiln/Transforms/Passes.h.inc"

} // namespace mlir::kiln

#endif // KILN_TRANSFORMS_PASSES_H
