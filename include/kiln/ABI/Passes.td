//===- Passes.td - Kiln's entry-point ABI passes -*- tablegen -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_ABI_PASSES_TD
#define KILN_ABI_PASSES_TD

include "mlir/Pass/PassBase.td"

def KilnPrepareEntryPoints
    : Pass<"kiln-prepare-entry-points", "::mlir::ModuleOp"> {
  let summary = "Checks and records the signatures of a module's entry points";
  let description = [{
    Every public `func.func` with a body is an entry point of the compiled
    module. This pass checks that each takes and returns only ranked tensors
    of Kiln element types, that its variables are statically shaped and
    that its name is a C identifier (anything else is an error at the
    function), and records its signature on it as a `#kiln.entry`
    attribute: the inputs' and outputs' tensor types, the variables it
    binds (read, or read and assigned), no checks yet, and the device it is
    compiled for (`device=cpu`, the default, or `cuda`). It runs while the
    signatures are still tensors; later passes update the attribute and
    `kiln-emit-entry-points` writes the manifest from it.

    ```mlir
    func.func @affine(%x: tensor<4x3xf32>, ...) -> tensor<4x2xf32>
        attributes {kiln.entry = #kiln.entry<inputs = [tensor<4x3xf32>, ...],
                    outputs = [tensor<4x2xf32>], variables = [], checks = [],
                    device = cpu>}
    ```
  }];
  let options = [
    Option<"device", "device", "::mlir::kiln::Device",
           /*default=*/"::mlir::kiln::Device::cpu",
           "The kind of device the entry points are compiled for",
           [{::llvm::cl::values(
             clEnumValN(::mlir::kiln::Device::cpu, "cpu", "the host CPU"),
             clEnumValN(::mlir::kiln::Device::cuda, "cuda",
                        "an NVIDIA GPU"))}]>,
  ];  // It creates #kiln.entry attributes, also in modules without Kiln ops.
  let dependentDialects = ["::mlir::kiln::KilnDialect"];
}

def KilnSplitShapeFunctions
    : Pass<"kiln-split-shape-functions", "::mlir::ModuleOp"> {
  let summary = "Gives entry points with dynamic extents a shape function";
  let description = [{
    Runs right after `convert-kiln-to-linalg`. An entry point whose inputs or
    outputs have `?` extents gets a companion `@NAME_kiln_shape` taking the
    same inputs and returning an `i32` status and the outputs' dynamic
    extents. It is the entry with its results replaced by their dimensions,
    resolved back to the inputs' dimensions; what remains may read nothing
    but the inputs' extents (otherwise the outputs' shapes depend on the
    data: an error). The run-time shape checks of the lowering (`cf.assert`
    at the entry's top level) move into it: the status is 0, or 1 + the
    index of the first failed check, whose message is appended to the
    entry's `#kiln.entry` checks (a `check` line of the manifest). The shape
    function carries `kiln.shape_function = @NAME`. The runtime calls the
    shape function before every call, to check the inputs and to size the
    outputs. A check inside a loop or a branch (extents a loop carries, an
    RNN over an open batch) moves to the entry's top level before the op
    that holds it when its condition reads only extents known there, once
    the extents of loop results and region arguments are read from their
    initial values (a loop variable keeps its extents, which the lowering
    checks); it then runs before the call whether or not the loop body
    runs. A check inside a branch holds only where the branch is taken, so
    the branch's condition must be known there too. A check that cannot
    move, or one in a private function, is an error.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def KilnMaterializeVariableUpdates
    : Pass<"kiln-materialize-variable-updates", "::mlir::ModuleOp"> {
  let summary = "Writes an entry point's variable updates into the variables' buffers";
  let description = [{
    For an entry point that assigns variables (its last results, after
    `kiln-externalize-variables`), materializes each new value in the
    variable's argument (`bufferization.materialize_in_destination`), so
    bufferization writes it into the buffer the runtime bound. A value whose
    producing op comes after every read of the old value (and of views of
    it) is materialized directly: with `eliminate-empty-tensors` afterwards,
    that op writes the variable's buffer itself. Other values are first
    copied into fresh allocations at the end of the function, all copies
    before any write, so that updates that read each other's old values (a
    swap) stay correct. Marks the
    arguments of assigned variables writable and every other argument of an
    entry point read-only: the caller's inputs are never overwritten.
    Runs on tensors, just before bufferization.
  }];
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def KilnSharedOutReads : Pass<"kiln-shared-out-reads", "::mlir::ModuleOp"> {
  let summary = "Parallel loops read the slice they write from their own output";
  let description = [{
    Run after `eliminate-empty-tensors`, before bufferization. In an
    `scf.forall` whose shared output starts as a tensor `V` (a variable,
    after empty-tensor elimination), a `tensor.extract_slice` of `V` at
    exactly the slice that the iteration's `tensor.parallel_insert_slice`
    writes (the same offsets, sizes and strides) reads the shared output's
    block argument instead. The value is the same (iterations write
    disjoint slices), and one-shot bufferization then sees a read and a
    write of one subset of one buffer instead of a loop that reads a tensor
    it overwrites, which it would resolve by copying the whole tensor
    before the loop and back after it (an optimizer step fused into a
    weight gradient's tiles copied every weight matrix twice per step).
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect",
                           "::mlir::scf::SCFDialect"];
}

def KilnDistinctResults : Pass<"kiln-distinct-results", "::mlir::ModuleOp"> {
  let summary = "Gives every result of an entry point its own tensor";
  let description = [{
    Each output of an entry point is written into its own caller-provided
    buffer. When a function returns the same value twice, or returns an
    argument, or returns a value that is also written into a variable's
    buffer (`bufferization.materialize_in_destination`: the new value of a
    variable, returned as an output too), bufferization would have two
    outputs share one buffer (or an output alias an input or a variable),
    which `buffer-results-to-out-params` does not handle. This pass, run just before bufferization, copies such results
    (`linalg.copy` into a new tensor) so that every result is distinct.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def KilnDropVariableResults
    : Pass<"kiln-drop-variable-results", "::mlir::ModuleOp"> {
  let summary = "Removes the variable updates from an entry point's results";
  let description = [{
    After bufferization, the results that `kiln-materialize-variable-updates`
    wrote into variable buffers are those buffers (the function's
    arguments): they are dropped from the results, so the entry point's
    outputs are only its real outputs. A result that is not its variable's
    buffer is an error.
  }];
}

def KilnInternalSymbolNames
    : Pass<"kiln-internal-symbol-names", "::mlir::ModuleOp"> {
  let summary = "Renames the module's functions out of the C library's namespace";
  let description = [{
    Renames every `func.func` the module defines (declarations keep their
    names: the runtime or a library defines them) to `kiln.fn.NAME` before
    math and LLVM lowering,
    which call C library functions by name (`erf`, `exp`, ...): a function of
    the module with such a name would be called instead. Public functions
    keep their name in the `kiln.entry_name` attribute, which
    `kiln-emit-entry-points` uses for the C entry points; calls and other
    symbol uses follow the rename.
  }];
}

def KilnEmitEntryPoints : Pass<"kiln-emit-entry-points", "::mlir::ModuleOp"> {
  let summary = "Adds Kiln's C entry points and manifest to an LLVM-dialect module";
  let description = [{
    Runs last, on the LLVM dialect. For every function marked by
    `kiln-prepare-entry-points` it adds

    ```c
    int32_t kiln_entry_NAME(void **args, const int64_t *dims);
    ```

    which takes the data pointers of the inputs, the outputs and the
    variables (contiguous, row-major) and the dynamic extents of the inputs
    and then of the outputs (in order; NULL if there are none), builds the
    memref descriptors that the lowered function expects, calls it and
    returns 0. For an entry with a shape function it also adds

    ```c
    int32_t kiln_shape_NAME(const int64_t *in_dims, int64_t *out_dims);
    ```

    which returns its status and stores the outputs' dynamic extents. The
    lowered functions become internal. It also adds the global
    `kiln_manifest`, the NUL-terminated manifest text, written from the
    module's `kiln.variables` and the entries' `#kiln.entry` descriptions by
    the runtime's own printer (`kiln/Runtime/Manifest.h`). JIT-compiled and
    ahead-of-time compiled modules are called through exactly these symbols.

    The codegen pipeline that runs it says which device it generated code
    for (`device=cpu`, the default): an entry described for another device
    is an error, as is a module whose public functions were never described
    (`kiln-prepare-entry-points` did not run).
  }];
  let options = [
    Option<"device", "device", "::mlir::kiln::Device",
           /*default=*/"::mlir::kiln::Device::cpu",
           "The kind of device the code was generated for",
           [{::llvm::cl::values(
             clEnumValN(::mlir::kiln::Device::cpu, "cpu", "the host CPU"),
             clEnumValN(::mlir::kiln::Device::cuda, "cuda",
                        "an NVIDIA GPU"))}]>,
  ];
}

def KilnCopiesToLinalg : Pass<"kiln-copies-to-linalg"> {
  let summary = "Rewrites memref.copy as linalg.copy";
  let description = [{
    The LLVM lowering of `memref.copy` calls `memrefCopy` from MLIR's C runner
    utilities whenever the copy is not a plain contiguous one. Compiled Kiln
    modules must run with nothing but the Kiln runtime, so copies become
    `linalg.copy` ops that each target lowers like every other linalg op
    (loops or vectors on the CPU, a kernel on the GPU). Every codegen
    pipeline runs it after bufferization.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

#endif // KILN_ABI_PASSES_TD
