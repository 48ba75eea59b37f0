//===- Passes.td - Kiln transformation passes ----------------*- tablegen -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TRANSFORMS_PASSES_TD
#define KILN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def KilnRefineShapes : Pass<"kiln-refine-shapes", "::mlir::ModuleOp"> {
  let summary = "Propagates known shapes through Kiln ops and function calls";
  let description = [{
    Kiln ops accept result types that are less refined than what their
    operands imply (`tensor<?x10xf32>` where `tensor<32x10xf32>` follows).
    That is how a dynamic batch dimension enters a program, and how a traced
    function stays valid when it is later specialized to concrete shapes. This
    pass re-runs every op's shape inference in program order and tightens
    result types to what is inferred, then tightens function result types to
    what their returns produce and updates the calls. It iterates to a fixed
    point.

    Users outside the Kiln dialect that need the old type exactly (ops of
    other dialects, calls into functions not refined) get a `tensor.cast` back
    to it, so the module stays valid whatever the mix of dialects.

    Example: with `%x : tensor<4x3xf32>`,
    `kiln.exp %x : tensor<?x3xf32>` becomes `kiln.exp %x : tensor<4x3xf32>`.
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
}

#endif // KILN_TRANSFORMS_PASSES_TD
