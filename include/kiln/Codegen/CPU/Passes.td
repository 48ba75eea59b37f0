//===- Passes.td - CPU code generation passes -*- tablegen -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_CPU_PASSES_TD
#define KILN_CODEGEN_CPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def KilnContractionLoopOrder
    : Pass<"kiln-contraction-loop-order", "::mlir::ModuleOp"> {
  let summary = "Puts a contraction's reduction loops outside its last parallel loop";
  let description = [{
    A matmul lowered as written, `for m, n, k: C[m, n] += A[m, k] * B[k, n]`,
    walks B with a stride in its innermost loop, which neither the cache
    nor LLVM's vectorizer likes. For linalg ops whose loops end with
    reductions and whose last parallel loop walks the result's innermost
    dimension (matmul, batch matmul and their transposed forms,
    convolutions, pooling windows), this pass moves that parallel loop
    innermost: `for m, k, n`, or for a convolution `for n, oh, ow, kh, kw, c,
    f`. The innermost loop is then contiguous in the result (and in B or the
    filter) and vectorizes. Named ops are generalized first. A first step of
    the CPU performance work; tiling and explicit vectorization come later.
  }];
}

def KilnCopiesToLinalg : Pass<"kiln-copies-to-linalg"> {
  let summary = "Rewrites memref.copy as linalg.copy";
  let description = [{
    The LLVM lowering of `memref.copy` calls `memrefCopy` from MLIR's C runner
    utilities whenever the copy is not a plain contiguous one. Compiled Kiln
    modules must run with nothing but the Kiln runtime, so copies become
    `linalg.copy` ops that lower to loops like every other linalg op.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def KilnCPUTarget : Pass<"kiln-cpu-target", "::mlir::ModuleOp"> {
  let summary = "Records the CPU that the code is generated for";
  let description = [{
    LLVM chooses instructions (vector width, FMA, AVX-512) per function,
    from its `target-cpu` attribute. This pass, run on the LLVM dialect,
    sets `target_cpu` on every function with a body: `cpu=host` (the
    default; `native` is the same) is the CPU of the machine that compiles, which is what a JIT
    wants; an LLVM CPU name such as `x86-64-v3` or `skylake-avx512` makes
    code that runs on every CPU of that kind, which is what a library built
    for other machines wants. The JIT and `tensor-compile` create their LLVM
    target machines for the same CPU. Whether the name is known to LLVM is
    checked where a target machine is created, not here.

    ```
    tensor-opt lowered.mlir --kiln-cpu-target=cpu=x86-64-v3
    ```
  }];
  let options = [
    Option<"cpu", "cpu", "std::string", /*default=*/"\"host\"",
           "The CPU to generate code for: 'host' or an LLVM CPU name">,
  ];
}

#endif // KILN_CODEGEN_CPU_PASSES_TD
