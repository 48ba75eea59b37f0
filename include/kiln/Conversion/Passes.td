//===- Passes.td - Kiln conversion passes ---------------------*- tablegen -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CONVERSION_PASSES_TD
#define KILN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertKilnToLinalg : Pass<"convert-kiln-to-linalg"> {
  let summary = "Lowers Kiln ops to linalg, tensor, arith, math and scf";
  let description = [{
    Rewrites every Kiln op into upstream tensor-level dialects, still with
    value semantics, so that upstream fusion, tiling, vectorization and
    bufferization apply to the result:

    - elementwise ops (with broadcasting) become `linalg.generic` ops whose
      indexing maps implement NumPy broadcasting, so elementwise fusion can
      merge chains of them;
    - reductions become `linalg.generic` reductions over a filled init;
    - matmul, convolution and pooling use linalg's named ops where they
      exist; convolution gradients are built from them (input gradient) or
      as a contraction (filter gradient);
    - gather, one-hot and iota are `linalg.generic` ops that compute indices
      in their bodies; scatter-add and the pooling gradients, which linalg
      cannot express, become `scf.for` nests over tensors;
    - softmax and the cross-entropies subtract the maximum and use
      log-sum-exp, so large logits do not overflow;
    - control flow becomes `scf.if`, `scf.while` and `scf.for`.

    Elementwise ops, casts, comparisons, select, reductions, argmax/argmin,
    matmul, softmax and the cross-entropies also take dynamic (`?`)
    extents: results take their extents from the operands, only a static 1
    broadcasts, and extents that must agree at run time get a `cf.assert`
    naming the op's location (moved into the entry's shape function by
    `kiln-split-shape-functions`). Other ops need static shapes and say so.
    Ops that other passes should see first (for example autodiff) must run
    before this pass.
  }];
  let options = [
    Option<"runtimeChecks", "runtime-checks", "bool", /*default=*/"true",
           "Value checks at run time (a gather with bounds_check, integer "
           "division, sparse labels) call kiln_check_failed, which makes "
           "the call return InvalidArgumentError; off for GPU code (kernels "
           "cannot call the runtime)">,
    Option<"widenHalfProducts", "widen-half-products", "bool",
           /*default=*/"true",
           "Matrix products and convolutions of f16 or bf16 are computed in "
           "f32 (operands cast up, the result cast back once), so their "
           "sums accumulate in f32 as TensorFlow's and PyTorch's do (in "
           "f16 a sum of 3000 products near 1 stops at 2048); off for GPU "
           "code, whose tiled products accumulate f16 and bf16 in f32 "
           "themselves (tensor cores)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::cf::ControlFlowDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

#endif // KILN_CONVERSION_PASSES_TD
