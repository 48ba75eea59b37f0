//===- KilnToLinalg.h - Lowering Kiln to linalg -----------------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CONVERSION_KILNTOLINALG_KILNTOLINALG_H
#define KILN_CONVERSION_KILNTOLINALG_KILNTOLINALG_H

#include "llvm/ADT/StringRef.h"

namespace mlir {
class ConversionTarget;
class MLIRContext;
class Operation;
class RewritePatternSet;

namespace kiln {

/// Adds the patterns that lower every Kiln op to linalg/tensor/arith/math/scf.
void populateKilnToLinalgPatterns(MLIRContext *context,
                                  RewritePatternSet &patterns);

/// Marks the Kiln dialect illegal and the dialects it lowers to legal.
void configureKilnToLinalgTarget(ConversionTarget &target);

/// Whether `callee` is one of the runtime's collectives that the lowering
/// calls (kiln_all_reduce_f32, ...): a call that communicates, which a
/// shape function must not make and the GPU target does not compile.
inline bool isCollectiveRuntimeCall(llvm::StringRef callee) {
  return callee.starts_with("kiln_all_reduce_") ||
         callee.starts_with("kiln_broadcast_from_") ||
         callee.starts_with("kiln_all_gather_") ||
         callee.starts_with("kiln_reduce_scatter_");
}

} // namespace kiln
} // namespace mlir

#endif // KILN_CONVERSION_KILNTOLINALG_KILNTOLINALG_H
