//===- Passes.td - GPU code generation passes -*- tablegen -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_GPU_PASSES_TD
#define KILN_CODEGEN_GPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def KilnGPUCheckEntries : Pass<"kiln-gpu-check-entries", "::mlir::ModuleOp"> {
  let summary = "Reports what the GPU target cannot compile yet, at its location";
  let description = [{
    Runs on buffers, right after bufferization, on the entry points compiled
    for a GPU (`#kiln.entry<..., device = cuda>`). Their arguments and
    results live in GPU memory, and their loops become kernels. What this
    first GPU code generator does not handle is an error naming the op and
    where it came from, never host code touching GPU memory or a silent
    fallback to the CPU:

    - a temporary buffer that `kiln-gpu-allocate-temporaries` did not move
      to GPU memory (`memref.alloc`, `memref.alloca`);
    - a loop or branch around linalg ops at the entry's top level (control
      flow, tiled loops), since only linalg ops on the entry's buffers and
      views of them become kernels;
    - a linalg op without a parallel loop (a reduction to a scalar), which
      has no threads to spread over.

    With `after-mapping`, it runs after the loops became kernels instead,
    and reports any loop left in an entry's host code (one that
    `convert-parallel-loops-to-gpu` did not convert): it would run on the
    CPU, reading GPU memory.
  }];
  let options = [
    Option<"afterMapping", "after-mapping", "bool", /*default=*/"false",
           "Check that no loop is left in the entries' host code">,
  ];
}

def KilnGPUAllocateTemporaries
    : Pass<"kiln-gpu-allocate-temporaries", "::mlir::ModuleOp"> {
  let summary = "Puts the temporaries of GPU entries in GPU memory";
  let description = [{
    Runs on buffers, after bufferization and the deallocation pipeline, on
    the entry points compiled for a GPU. Each `memref.alloc` at an entry's
    top level (a temporary: a softmax's row maxima, an intermediate that
    fusion could not remove) becomes a `gpu.alloc` of GPU memory, and each
    `memref.dealloc` of one a `gpu.dealloc`, each on a stream of its own
    that is waited for (`gpu.wait`), so that they are complete when the
    host code goes on. `gpu-to-llvm` turns them into calls of
    `mgpuMemAlloc` / `mgpuMemFree`, which the runtime implements with its
    cache of device memory (a step run again reuses the same blocks).
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def KilnGPUContractFma
    : Pass<"kiln-gpu-contract-fma", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Lets the kernels' multiplies and adds fuse into FMAs";
  let description = [{
    Runs on the outlined kernels (`gpu.module`). Every floating-point
    arithmetic op with fast-math flags (`arith.mulf`, `arith.addf`,
    `arith.subf`, ...) gets the `contract` flag, so that the NVPTX backend
    fuses a multiply and the add that consumes it into one `fma.rn`
    instruction, as nvcc does by default (`--fmad=true`): one rounding
    instead of two, and twice the arithmetic per instruction. Other flags
    are kept; without `contract`, LLVM keeps them separate. The CPU's code
    is not affected.
  }];
}

def KilnGPUMapLoops : Pass<"kiln-gpu-map-loops", "::mlir::func::FuncOp"> {
  let summary = "Maps each parallel loop nest to a grid of thread blocks";
  let description = [{
    Runs on `scf.parallel` loops (from `convert-linalg-to-parallel-loops`).
    Each outermost parallel loop nest is collapsed into one loop over all
    its iterations, in row-major order (so consecutive threads touch
    consecutive elements of the innermost dimension: coalesced accesses),
    then tiled into blocks of `block-size` iterations: the outer loop
    becomes the grid (`block_x`), the inner one the threads of a block
    (`thread_x`), with a guard for the last, partial block. Reduction loops
    inside (`scf.for`) run in each thread. `convert-parallel-loops-to-gpu`
    then turns the mapped loops into `gpu.launch`.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "Threads per block">,
  ];
  let dependentDialects = ["::mlir::affine::AffineDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::scf::SCFDialect"];
}

def KilnGPUScheduleLinalg
    : Pass<"kiln-gpu-schedule-linalg", "::mlir::ModuleOp"> {
  let summary = "Orders each linalg op's loops for the GPU; serial kernels "
                "for ops without parallel loops";
  let description = [{
    Runs on buffers, before `convert-linalg-to-parallel-loops`, on the
    entry points compiled for a GPU. Only an op's outermost parallel loops
    become a grid of threads, so:

    - an op whose reduction loops come before parallel ones (an argmax or a
      sum over the first axis, a softmax's maxima along axis 0) is
      generalized and its loops interchanged, parallel loops first, each
      group in its original order; every thread then runs the whole
      reduction for its output elements;
    - an op with no parallel loop at all (a 0-d computation, a reduction of
      a whole tensor to a scalar) is put into a `gpu.launch` of one block
      of one thread, which runs it as loops. This is correct for every such
      op but uses one thread; a grid-wide tree reduction for large full
      reductions is the planned replacement.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::linalg::LinalgDialect"];
}

def KilnGPUSinkIntoKernels
    : Pass<"kiln-gpu-sink-into-kernels", "::mlir::func::FuncOp"> {
  let summary = "Moves constants, index arithmetic and global buffers into "
                "the kernels that use them";
  let description = [{
    Runs on `gpu.launch` ops, before `gpu-kernel-outlining`. The values a
    launch body uses that are defined on the host by constants, index
    arithmetic (`arith.cmpi`, `arith.select`, `arith.index_cast`,
    `memref.dim`) or `memref.get_global` are cloned into the body, with
    what they depend on, so that they are not passed as kernel arguments.
    For `memref.get_global` this is what makes constants work on the GPU:
    the outliner then copies the `memref.global` into the kernel's
    `gpu.module`, so the constant's data lives in the module image loaded
    onto the device, not in host memory a kernel cannot read. Host copies
    left without uses are erased.
  }];
}

#endif // KILN_CODEGEN_GPU_PASSES_TD
