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
    through the branch that ran. Loops (`kiln.for` with constant or
    run-time bounds, `kiln.while` with a data-dependent trip count) save each
    iteration's loop-carried values on a tape (`kiln.tape_*`, sized at run
    time; a `kiln.while` is first run to count its iterations) and a reverse
    loop reads the tape backwards. With `loops=recompute` nothing is saved:
    each iteration's values are recomputed from the loop's initial values
    (O(1) memory, quadratic time).

    Requests inside a function that is itself differentiated are lowered
    first, and generated functions are ordinary Kiln functions, so running
    the pass on requests of generated functions gives higher-order
    gradients. One generated function serves every request with the same
    callee, `wrt` and seeding. Tapes are not differentiated: when a
    gradient function is differentiated again, its tape-free twin
    (`..._recompute`) is built and differentiated instead.

    With `inline=true` (the pipelines' setting), a generated function
    called from one place is then inlined there and the functions that
    only gradient requests referred to are erased. The forward that the
    gradient function recomputes is then next to the caller's own (a
    training step computes its loss, then asks for the gradient) and a CSE
    pass merges the two.
  }];
  let options = [
    Option<"inlineGradients", "inline", "bool", /*default=*/"false",
           "Inline generated functions called from one place">,
    Option<"loops", "loops", "::mlir::kiln::LoopStrategy",
           /*default=*/"::mlir::kiln::LoopStrategy::Tape",
           "How reverse loops get each iteration's carried values",
           [{::llvm::cl::values(
             clEnumValN(::mlir::kiln::LoopStrategy::Tape, "tape",
                        "saved per iteration by the forward pass"),
             clEnumValN(::mlir::kiln::LoopStrategy::Recompute, "recompute",
                        "recomputed from the loop's initial values"))}]>,
  ];
}

def KilnExternalizeVariables : Pass<"kiln-externalize-variables", "::mlir::ModuleOp"> {
  let summary = "Turns variable reads and assigns into arguments and results";
  let description = [{
    Variables live in the runtime's store. Every function that reads or
    assigns variables, directly or through calls, gets one argument per such
    variable (declaration order; argument attribute `kiln.variable`) and one
    extra result per variable it assigns (the final value, in the order of
    the function attribute `kiln.assigned`). Reads become
    the variable's current value at that point; calls pass their callee's
    variables along and take back the assigned ones. The declarations are
    recorded in the module attribute `kiln.variables` and removed, and
    `@kiln_init_variables` (public, no arguments) assigns every declared
    initial value. A `kiln.cond` that assigns variables in a branch yields
    their values from both branches; a `kiln.for` or `kiln.while` that
    assigns them carries them as extra loop-carried values.
  }];
}

def KilnExpandOptimizers : Pass<"kiln-expand-optimizers", "::mlir::ModuleOp"> {
  let summary = "Writes optimizer updates out as variable reads, math and assigns";
  let description = [{
    Expands the optimizer updates (`kiln.apply_gradient_descent`,
    `apply_momentum`, `apply_adam` (with AdamW's decay), `apply_rmsprop`,
    `apply_adagrad`, `apply_adadelta`, `apply_adamax`, `apply_nadam`, `apply_ftrl`,
    `apply_lion`) into `kiln.read_variable`, elementwise
    Kiln ops and `kiln.assign_variable`, declaring each optimizer slot
    variable (`@<var>_momentum`, `@<var>_adam_m`, `@<var>_adam_v`,
    `@<var>_rms`, `@<var>_rms_mg`, `@<var>_rms_momentum`, `@<var>_adagrad`,
    `@<var>_adadelta_g`, `@<var>_adadelta_d`, `@<var>_adamax_m`,
    `@<var>_adamax_u`, `@<var>_lion_m`, ..., of the variable's type: zeros, or
    Adagrad's initial accumulator value) next to the variable unless the
    module has it already (a slot of another type is an error). This is the optimizer library
    that hand-written modules and the Python optimizers share: a training
    step with its updates compiles into one function.
  }];
}

def KilnFreezeVariables : Pass<"kiln-freeze-variables", "::mlir::ModuleOp"> {
  let summary = "Replaces variables by their values from a checkpoint";
  let description = [{
    Makes a stateless inference module: every `kiln.read_variable` becomes a
    `kiln.constant` with the variable's value from the safetensors file
    `checkpoint` (or the declared initial value when the file lacks it; a
    variable with neither is an error where it is read), assignments and
    optimizer updates are removed, and so are the declarations. A stored
    tensor whose dtype or shape differs from the declaration is an error
    naming the variable. Functions that request gradients with respect to
    variables (training steps) are removed, with a warning; a call of one
    that remains is an error.

        tensor-opt model.mlir --kiln-freeze-variables=checkpoint=model.safetensors
  }];
  let options = [
    Option<"checkpoint", "checkpoint", "std::string", /*default=*/"",
           "The safetensors file holding the variables' values">,
  ];
}

def KilnFuseElementwise : Pass<"kiln-fuse-elementwise"> {
  let summary = "Fuses elementwise linalg ops; reshapes fold only into elementwise ops, nothing into contractions";
  let description = [{
    Upstream's `linalg-fuse-elementwise-ops` (producers with one use fuse
    into their consumers; reshapes fold by expanding iteration spaces;
    constant folding), except that a reshape is never folded into a linalg
    op with reduction loops: a flattened input stays a plain 2-D operand of
    the matmul that follows instead of becoming a contraction over the
    unflattened dimensions with a one-iteration inner loop, which defeats
    vectorization. And no producer fuses into a contraction (a matrix
    product, a convolution or its gradients): the code generators give only
    bodies that are exactly `acc + a * b` to their matmul and convolution
    kernels, so a fused operand cast (the CPU's widening of bf16 and f16
    products) or negation would leave the product as plain loops. Only a
    copy along the product's batch loops still fuses (a matrix broadcast to
    every batch of a batch_matmul is then read in place, not copied).
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::affine::AffineDialect"];
}

def KilnWidenHalfAccumulators : Pass<"kiln-widen-half-accumulators"> {
  let summary = "Makes reductions of f16 and bf16 accumulate in f32";
  let description = [{
    A `linalg.generic` on tensors with reduction loops and f16 or bf16
    outputs that sums or multiplies (the accumulator's new value an add,
    subtract, multiply or divide; maxima are exact in any width), such as
    a half-typed product or a sum with its producers fused into it, becomes the same loop
    nest accumulating in f32: its
    inits are extended, its body computes in f32 from the first value that
    depends on a widened one (a cast to half inside it still rounds there),
    and each result is rounded to half once, as TensorFlow and PyTorch
    reduce half types (in f16 a sum of 3000 values near 1 stops at 2048).
    Bodies with an op that cannot take an f32 operand in place of a half
    one (or with regions that read a widened value) stay as they are.
    With `keep-plain-contractions`, bodies that are exactly `acc + a * b`
    over matmul-shaped loops (M, N, K, at most one batch loop), or over
    several reduction loops (a filter gradient, which the GPU stage turns
    into a patch gather and a product), are left to the GPU's tiled
    products, which accumulate in f32 (on the tensor cores or the FMA
    units). The Kiln lowering already accumulates
    sums, means, products and softmax sums in f32; this pass runs after
    elementwise fusion.
  }];
  let options = [
    Option<"keepPlainContractions", "keep-plain-contractions", "bool",
           /*default=*/"false",
           "Leave `acc + a * b` bodies alone (the GPU tiles them)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def KilnScheduleCollectives : Pass<"kiln-schedule-collectives"> {
  let summary = "Moves each all-reduce up to where its input is computed";
  let description = [{
    Each `kiln.all_reduce` moves to just after the op that computes its
    input (to the start of its block when the input comes from outside
    it). A data-parallel step asks for its gradients' all-reduces after the
    whole backward pass; moved up, they appear in the order the backward
    pass produces the gradients (the last layer's first), so that
    `kiln-bucket-collectives` fills buckets in that order and
    `kiln-overlap-collectives` can start each one while the rest of the
    backward pass runs. Every process compiles the same module with the
    same passes, so the collectives keep one order on every process.
  }];
}

def KilnOverlapCollectives : Pass<"kiln-overlap-collectives"> {
  let summary = "Splits all-reduces into a start and a wait placed apart";
  let description = [{
    Each `kiln.all_reduce` becomes a `kiln.all_reduce_start` at its place
    and a `kiln.all_reduce_done` just before the first op of its block
    that uses the result (or the block's terminator): the runtime carries
    out the all-reduce on its communication thread while the ops between
    the two compute. Other collectives keep their place; the runtime runs
    them after every all-reduce started before them, so the order of
    collectives stays the program's on every process. An all-reduce whose
    result the next op needs stays as it is.
  }];
}

def KilnBucketCollectives : Pass<"kiln-bucket-collectives"> {
  let summary = "Merges consecutive all-reduces into one per bucket";
  let description = [{
    Consecutive `kiln.all_reduce` ops of a block with the same reduction,
    group and element type and fixed shapes (the gradients a data-parallel
    step averages) become one all-reduce of their flattened inputs joined
    together, sliced back into the results: one collective per bucket of
    up to `bucket-bytes` bytes instead of one per tensor, as Horovod's
    tensor fusion and PyTorch DDP's buckets do. The all-reduce is
    elementwise, so the results are the same. A bucket ends at another
    collective, at an op with regions, at the first use of one of its
    results, and when full; the merged op takes the place of the bucket's
    last all-reduce, so the order of the collectives is the same on every
    process. The first bucket of a block holds at most `first-bucket-bytes`
    (the gradients computed first, after `kiln-schedule-collectives`), so
    that communication can start early in the backward pass.
  }];
  let options = [
    Option<"bucketBytes", "bucket-bytes", "int64_t", /*default=*/"33554432",
           "The largest bucket in bytes (0: no merging)">,
    Option<"firstBucketBytes", "first-bucket-bytes", "int64_t",
           /*default=*/"1048576",
           "The largest first bucket of a block in bytes: a small first "
           "bucket starts communicating early (as PyTorch DDP's)">
  ];
}

#endif // KILN_TRANSFORMS_PASSES_TD
