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

def KilnAutodiff : Pass<"kiln-autodiff", "::mlir::ModuleOp"> {
  let summary = "Materializes gradient requests by reverse-mode autodiff";
  let description = [{
    Replaces every `kiln.grad` and `kiln.value_and_grad` with a call of a
    generated function `@<callee>_vjp_<wrt...>` that computes the callee's
    results (the forward pass, once) and then the cotangents of the
    requested arguments (the backward pass), built from each op's rule in
    `DifferentiableOpInterface`. Calls inside the differentiated function are
    inlined first. Only what the requested gradients need is differentiated:
    an op gets adjoint code only if it depends on a differentiated argument
    (varied) and influences the output (useful).

    `kiln.cond` is differentiated by a `kiln.cond` on the same predicate
    whose branches recompute their forward values and take the cotangent
    through the branch that ran. `kiln.for` with constant bounds tapes its
    loop-carried values per iteration and runs a reverse loop over the tape;
    `kiln.while` and `kiln.for` with run-time bounds count their iterations
    and recompute each iteration's inputs in the reverse loop.

    Requests inside a function that is itself differentiated are lowered
    first, and generated functions are ordinary Kiln functions, so running
    the pass on requests of generated functions gives higher-order
    gradients. One generated function serves every request with the same
    callee, `wrt` and seeding.
  }];
}

#endif // KILN_TRANSFORMS_PASSES_TD
