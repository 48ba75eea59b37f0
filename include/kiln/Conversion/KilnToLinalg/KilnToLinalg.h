//===- KilnToLinalg.h - Lowering Kiln to linalg -----------------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CONVERSION_KILNTOLINALG_KILNTOLINALG_H
#define KILN_CONVERSION_KILNTOLINALG_KILNTOLINALG_H

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

} // namespace kiln
} // namespace mlir

#endif // KILN_CONVERSION_KILNTOLINALG_KILNTOLINALG_H
