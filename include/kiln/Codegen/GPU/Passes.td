//===- Passes.td - GPU code generation passes -*- tablegen -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_GPU_PASSES_TD
#define KILN_CODEGEN_GPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def KilnGPUCheckEntries : Pass<"kiln-gpu-check-entries", "::mlir::ModuleOp"> {
  let summary = "Reports what the GPU target cannot compile, at its location";
  let description = [{
    Runs on buffers, after `kiln-gpu-host-access`, on the entry points
    compiled for a GPU (`#kiln.entry<..., device = cuda>`). Their arguments
    and results live in GPU memory, and their linalg ops become kernels.
    Host code around the kernels may branch and loop (`scf.if`, `scf.for`,
    `scf.while`) on host scalars, and use host scratch buffers (the flags
    and pointer lists of the deallocation pipeline, host copies of GPU
    scalars). What else host code does is an error naming the op and where
    it came from, never host code touching GPU memory or a silent fallback
    to the CPU:

    - a temporary buffer that `kiln-gpu-allocate-temporaries` did not move
      to GPU memory (`memref.alloc` with symbol operands, `memref.alloca`
      that kernels use);
    - a load or store of GPU memory, or a call that passes GPU memory to a
      host function;
    - any other op that is not index arithmetic, a view, a constant or
      control flow.

    With `after-mapping`, it runs after the loops became kernels instead,
    and reports a parallel loop left in an entry's host code (one that
    `convert-parallel-loops-to-gpu` did not convert) and any host load or
    store of GPU memory (a reduction loop left outside its kernel): it
    would run on the CPU, reading GPU memory.
  }];
  let options = [
    Option<"afterMapping", "after-mapping", "bool", /*default=*/"false",
           "Check that no loop is left in the entries' host code">,
  ];
}

def KilnGPUCheckUniformity
    : Pass<"kiln-gpu-check-uniformity", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Refuses collective operations under divergent control flow";
  let description = [{
    Runs on the outlined kernels (structured control flow still in place).
    A barrier (`gpu.barrier`; a warpgroup's `nvvm.wgmma.*`) must be reached
    by every thread of the block, and a warp's collective ops (`gpu.shuffle`,
    `nvvm.mma.sync`, `nvvm.ldmatrix`) by every lane of the warp; otherwise
    the GPU deadlocks or computes garbage, and nothing short of a GPU shows
    it (the emulation runs each phase for every thread in turn). Such an op
    under an `scf.if`, `scf.for`, `scf.while` or `scf.index_switch` whose
    condition or bounds may differ between the threads (or lanes) that must
    meet there is an error naming the op, the kernel and the condition's
    location: a fault of the code generator, reported at compile time.

    Which values differ between threads is a forward analysis over three
    levels: the same in the whole block (kernel arguments, constants, block
    ids and dimensions, and what is computed from them only), the same in
    each warp (a thread id `x` divided by a multiple of 32 when warps are
    whole rows of `x`, per the kernel's `known_block_size`; `y` and `z`
    when `x`'s extent is a multiple of 32), and per thread (thread and lane
    ids, shuffled values, atomics, values loaded from per-thread
    addresses). Results of a loop or a branch take the level of their
    condition or bounds too.
  }];
}

def KilnGPUAllocateTemporaries
    : Pass<"kiln-gpu-allocate-temporaries", "::mlir::ModuleOp"> {
  let summary = "Puts the temporaries of GPU entries in GPU memory";
  let description = [{
    Runs on buffers, after bufferization and the deallocation pipeline, on
    the entry points compiled for a GPU. Each `memref.alloc` in an entry's
    host code, inside branches and loops too (a softmax's row maxima, an
    intermediate that fusion could not remove, a buffer a loop carries),
    becomes a `gpu.alloc` of GPU memory, and each `memref.dealloc` of GPU
    memory (traced through views, casts, loop arguments and branch results
    to its allocation) a `gpu.dealloc`, each on a stream of its own that is
    waited for, so that they are complete when the host code goes on.
    `gpu-to-llvm` turns them into calls of `mgpuMemAlloc` / `mgpuMemFree`,
    which the runtime implements with its cache of device memory (a step
    run again reuses the same blocks). Host scratch stays in host memory: a
    buffer that only host code loads, stores, passes to a call or frees
    (the ownership flags and pointer lists that the deallocation pipeline
    fills for its helper function).
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def KilnGPUExternDynamicShared
    : Pass<"kiln-gpu-extern-dynamic-shared", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Declares the kernels' dynamic shared memory external, "
                "1024-byte aligned";
  let description = [{
    Runs on the kernels after `convert-gpu-to-nvvm`, which gives
    `gpu.dynamic_shared_memory` an internal zero-length array in shared
    memory. The NVPTX backend prints that as a one-byte static variable,
    which ptxas places among the other static ones (an mbarrier), so the
    bytes after it are not the block's dynamic shared memory. Here it
    becomes what CUDA's `extern __shared__ char smem[]` is: an external
    declaration (`.extern .shared .b8 ...[]`), which starts the dynamic
    region after the static variables, aligned to 1024 bytes (what TMA's
    128-byte swizzle and the wgmma descriptors assume).
  }];
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
    are kept; without `contract`, LLVM keeps them separate. Casts
    (`arith.extf`, `arith.truncf`) are left alone: with `contract` on both,
    `arith.extf` of an `arith.truncf` folds to the unrounded value, and a
    cast to f16 and back (or an f16 op's result read as f32) would skip the
    rounding its type asks for. The CPU's code is not affected.
  }];
}

def KilnGPUPreciseSqrt
    : Pass<"kiln-gpu-precise-sqrt", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Correctly rounded square roots in the kernels, as nvcc's default";
  let description = [{
    Runs on the outlined kernels (`gpu.module`), after
    `convert-gpu-to-nvvm`. Each call of libdevice's `__nv_sqrtf` (what
    that conversion makes of `math.sqrt` on `f32`, and on `f16`/`bf16`
    extended to `f32`) becomes `llvm.intr.sqrt`, which the NVPTX backend
    emits as `sqrt.rn.f32`: the correctly rounded root, as the CPU computes
    it and as nvcc does by default (`-prec-sqrt=true`); for halves, one more
    rounding of it is their correctly rounded root. `__nv_sqrtf` chooses
    between that and `sqrt.approx.f32` by
    `__nvvm_reflect("__CUDA_PREC_SQRT")`, which LLVM's NVVMReflect answers
    with 0 (it knows only `__CUDA_FTZ` and `__CUDA_ARCH`), so the
    approximation was taken: sqrt(x * x) need not be x. (Before the
    conversion would not do: it marks `llvm.intr.sqrt` illegal.) `f64`
    keeps libdevice's `__nv_sqrt`, which is always `sqrt.rn.f64`.
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

def KilnGPUHostAccess : Pass<"kiln-gpu-host-access", "::mlir::ModuleOp"> {
  let summary = "Turns host reads and writes of GPU memory into kernels and "
                "copies";
  let description = [{
    Runs on buffers, after `kiln-gpu-allocate-temporaries`, on the entry
    points compiled for a GPU. Host code that decides control flow reads
    scalars that kernels computed (the predicate of a `kiln.cond`, a
    `kiln.while` condition, the bounds of a `kiln.for`) and writes scalars
    that kernels read (a loop counter made a tensor). On the GPU those
    scalars are in GPU memory, which host code cannot touch, so:

    - `memref.load` of GPU memory outside a kernel becomes a kernel of one
      thread that loads the value and stores it into a GPU scalar, a
      `gpu.memcpy` of that scalar into a host scalar, and a host load of
      it. The two scalars are made once per element type at the
      function's start (a `memref.alloca` and a `gpu.alloc`, freed before
      each return), not per read: a loop condition is read every
      iteration;
    - `memref.store` into GPU memory outside a kernel becomes a kernel of
      one thread that stores the value (passed as the kernel's argument).

    Buffers that only host code uses (the flags and pointer lists of the
    ownership-based deallocation) are host memory and left alone. Each copy
    is complete before the host goes on (a stream that is waited for).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect"];
}

def KilnGPUMarkFunctions
    : Pass<"kiln-gpu-mark-functions", "::mlir::ModuleOp"> {
  let summary = "Marks the functions that GPU entries call as GPU functions";
  let description = [{
    Runs first in the GPU codegen stage, on tensors. In a module whose
    entries are compiled for a GPU, every other function with a body (a
    loss that a training step calls, a gradient function, the private copy
    of an entry that another entry calls) gets the unit attribute
    `kiln.gpu_function`: its buffer arguments are GPU memory, its linalg
    ops become kernels and its temporaries go to GPU memory, as in an
    entry. Functions that bufferization adds later (the deallocation
    helper, which works on host memory) are not marked. Calls stay calls:
    inlining every callee would make a finite-difference check of N
    perturbations one function with N copies of the model, which one-shot
    bufferization analyzes in quadratic time.
  }];
}

def KilnGPUMergeKernelModules
    : Pass<"kiln-gpu-merge-kernel-modules", "::mlir::ModuleOp"> {
  let summary = "Merges the outlined kernels into one gpu.module";
  let description = [{
    Runs after `gpu-kernel-outlining`, which puts every kernel in a
    `gpu.module` of its own. They are merged into one, named `module-name`:
    each kernel takes its old module's name (unique), the launches are
    renamed to match, and the globals and functions the outliner copied
    into several modules (a constant used by several kernels) are kept
    once. A module of a few hundred kernels (a finite-difference check
    inlines its function for each perturbation) is then one `ptxas` run
    and one module load at run time instead of hundreds.
    Each kernel's shared buffers (workgroup attributions) get
    `llvm.align = 16`, so that vector loads from them may claim 16-byte
    alignment (`kiln-gpu-tile-contractions`' FMA tiles).
  }];
  let options = [
    Option<"moduleName", "module-name", "std::string",
           /*default=*/"\"kiln_kernels\"",
           "The name of the merged gpu.module">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def KilnGPUTileContractions
    : Pass<"kiln-gpu-tile-contractions", "::mlir::ModuleOp"> {
  let summary = "Tiles matrix products through shared memory, a block of "
                "outputs per thread";
  let description = [{
    Runs on buffers, before `kiln-gpu-schedule-linalg`, on the entry points
    compiled for a GPU. Each linalg contraction with one M, one N and one K
    loop and at most one batch loop, indexed by projected permutations
    (`linalg.matmul`, a batched matmul, either operand transposed), whose
    body is `acc + a * b` in one element type, becomes one `gpu.launch`:

    - a block of 16 x 16 threads computes a 64 x 64 tile of the output
      (grid: N tiles in x, M tiles in y, the batch in z), each thread a
      4 x 4 block of it in registers: rows `4 ty + 64 (i / 4) + i % 4`,
      columns likewise with `tx`, so that each depth step reads a group of
      four rows (columns) from a shared tile as one 16-byte vector (with
      1 or 2 per thread: rows `ty + 16 i`, scalar loads);
      a product with at least `large-tiles-from` outputs known at compile
      time (default 2^22, e.g. 2048 x 2048) gets 128 x 128 tiles, 8 x 8
      per thread, K steps of 8: twice the multiply-adds per value read
      from shared memory;
    - with `multiprocessors` > 0 (the pipelines give the chip's count) and
      extents known at compile time, the outputs per thread p x p are
      chosen from p = 1, 2, 4, 8 (tiles of 16 p x 16 p; p = 8 only from
      `large-tiles-from`) by a model: a block's time grows as p (16 p x
      16 p outputs at 16 p multiply-adds per cycle, what one warp-wide
      shared load per cycle feeds), the blocks run in
      ceil(blocks / multiprocessors) waves; the least time wins, ties the
      larger p. A small product thus gets many small blocks (256 x 128:
      128 blocks of 16 x 16 outputs on 132 multiprocessors instead of 8
      of 64 x 64), a large one keeps the large tiles; tiles that would
      need more than 65535 rows of blocks (CUDA's grid y) are skipped;
    - in the same model, a product with few output tiles over a depth
      known at compile time (a convolution's filter gradient: 9 x 16
      outputs over 43264) splits K (no batch loop): `splits` blocks per
      output tile, each a chunk of the depth (a multiple of the K step, at
      least 64) summed from zero into its slice of a workspace
      [splits, M, N] (`gpu.alloc`), then a second kernel, one thread per
      output, adds the parts in split order to the output's value, and the
      workspace is freed. Its cost counts the second kernel as 512 units
      (about 4 us); the cheapest split (of any tile size) is taken only
      when it is at least 10% cheaper than the cheapest unsplit tiling,
      never for an empty output.
      The sums are then not in the untiled order (a different rounding, as
      with the tensor cores; exact for integers);
    - K is walked in steps of 16: the block copies the A tile (64 x 16) and
      the B tile (16 x 64) into shared memory (workgroup attributions,
      depth-major, rows padded by 16 bytes (one element with 1 or 2
      outputs per thread) so that rows stay 16-byte aligned and the copies
      conflict on banks at most two ways; the vector loads rely on
      `kiln-gpu-merge-kernel-modules` aligning the buffers to 16 bytes), consecutive threads taking
      consecutive elements of each operand's innermost index -- 16-byte
      vectors where that index runs along contiguous rows of a whole
      number of vectors in a buffer that starts aligned (an entry's
      argument or an allocation) and the tile splits into whole vectors
      for each of the 256 threads, stored as vectors where the shared rows
      run along the same index; a barrier;
      16 steps of the 4 x 4 outer product from shared memory, unrolled;
      a barrier;
    - with `async-copies` (sm_80 and later), when both operands' copies
      can be `cp.async` (16-byte vectors stored whole, or elements of 4 or
      8 bytes; not TF32, which rounds on the way in), the shared tiles are
      double-buffered: step 0's copy before the K loop; in step i, the
      copy of step i + 1 into the other stage (`nvgpu.device_async_copy`,
      zero-filled past the operands: no bytes read, a clamped address),
      a wait for all but that newest group, a barrier, the products on
      stage i % 2, a barrier; after the loop a wait for every copy. The
      global loads of the next step so overlap this step's multiply-adds;
    - a `linalg.fill` of the output right before the product (of the
      output's element type, the product not reading that buffer as an
      operand) is folded into the FMA kernel: the accumulators start at
      its value, the output is not loaded (the tensor cores' kernels keep
      the fill);
    - elements outside the operands are loaded as zero, and the last,
      partial K step runs a loop over the depth that is left, so every
      output is its initial value plus exactly the untiled product's terms
      in the same order; outputs outside the result are not stored;
    - `f16` and `bf16` products are summed in f32, like the tensor cores
      do: the operands are extended as they leave shared memory, the
      accumulators (and a split's partial sums) are f32, and each output is
      rounded to its type once, when stored (a sum of 3000 f16 ones is
      3000, not 2048).

    With `tensor-cores` (sm_80 and later), `f16` and `bf16` products, and
    `f32` products with `allow-tf32`, run on the tensor cores instead
    (`nvvm.mma.sync`, PTX `mma.sync.aligned`): m16n8k16 on halves,
    m16n8k8 on TF32, accumulating in f32 either way (an f16 or bf16 result
    is rounded once, at the end). The same 256 threads are 8 warps in a
    4 x 2 grid over the block's tile (64 x 64, or 128 x 128 from
    `large-tiles-from`), each warp 16 x 32 (or 32 x 64) outputs in 16 x 8
    mma tiles, K steps of 32 (halves) or 16 (TF32) through the same shared
    tiles. On halves the fragments come from shared memory through
    `nvgpu.ldmatrix` (x4: one per mma tile row of A, one per pair of mma
    tile columns of B); an operand whose innermost index is K then keeps
    a K-contiguous tile ([m][k], [n][k]) read as it is, the others a
    depth-major one read transposed; rows padded by 8 halves (16-byte
    aligned row addresses, the 8 rows of a matrix on distinct banks). On
    TF32 each lane reads its fragments element by element in PTX's
    register layout. TF32 operands are rounded to nearest (ties away) as they enter
    shared memory, as `cvt.rna.tf32.f32` would. Sums are not in the
    untiled order (the tensor cores add in their own order): results
    differ from the FMA kernel within the type's rounding.

    With `wgmma` too (sm_90a), an f16 or bf16 product A[M, K] B[K, N] into
    C[M, N] of contiguous, static operands with K and N multiples of 8 gets
    Hopper's kernel instead: TMA descriptors made on the host
    (`nvgpu.tma.create.descriptor`), a block of one warpgroup per 128 x 128
    tile, thread 0 copying each K step's tiles (A 128 x 64, B as two 64 x 64
    boxes, 128-byte swizzled, zero outside the operands) with TMA under an
    mbarrier, the warpgroup multiplying them with `wgmma.mma_async`
    (`nvgpu.warpgroup.mma`, B N-major) into f32 accumulators, which go
    through 64 KiB of dynamic shared memory to the output at the end. The
    emulation has no model of TMA and wgmma: with `emulate` those products
    take the mma.sync kernel.

    Other contractions (several M/N/K loops, other bodies, mixed types)
    keep the generic mapping: one thread per output element.

    With `emulate`, the same kernel is built as host loops instead, in every
    function (for the CPU pipeline): block by block, each phase between two
    barriers run for all 256 threads in turn, the shared tiles and the
    threads' accumulators in stack buffers. It computes what the kernel
    computes, with the same indices, so the tests check the kernel's
    tiling against NumPy on a machine without a GPU. An emulated mma.sync
    takes each element of A, B and C from the lane and register where
    PTX's fragment layouts put it, a mapping written in the opposite
    direction from the kernel's loads; an emulated ldmatrix gives each
    lane the elements of the rows its warp's lanes address, by the
    instruction's definition.
  }];
  let options = [
    Option<"emulate", "emulate", "bool", /*default=*/"false",
           "Build the kernel as host loops (a test on the CPU)">,
    Option<"tensorCores", "tensor-cores", "bool", /*default=*/"false",
           "f16 and bf16 products (f32 with allow-tf32) on the tensor "
           "cores (sm_80 and later)">,
    Option<"allowTf32", "allow-tf32", "bool", /*default=*/"false",
           "With tensor-cores: f32 products with operands rounded to TF32">,
    Option<"asyncCopies", "async-copies", "bool", /*default=*/"false",
           "Double-buffered shared tiles filled by cp.async where both "
           "operands' copies allow it (sm_80 and later)">,
    Option<"wgmma", "wgmma", "bool", /*default=*/"false",
           "With tensor-cores: f16 and bf16 products on sm_90a's TMA and "
           "warpgroup MMA where they fit">,
    Option<"largeTilesFrom", "large-tiles-from", "int64_t",
           /*default=*/"4194304",
           "Outputs (known at compile time) from which a product gets "
           "128 x 128 tiles">,
    Option<"multiprocessors", "multiprocessors", "int64_t",
           /*default=*/"0",
           "The GPU's multiprocessors: FMA products known at compile time "
           "get the outputs per thread that fill them best (0: 64 x 64 "
           "tiles, 128 x 128 from large-tiles-from)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::NVVM::NVVMDialect",
                           "::mlir::nvgpu::NVGPUDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect"];
}

def KilnGPURowKernels : Pass<"kiln-gpu-row-kernels", "::mlir::ModuleOp"> {
  let summary = "Fuses the row-wise ops of a softmax, a cross-entropy or a "
                "normalization into one kernel, a warp per row";
  let description = [{
    Runs on buffers, before `kiln-gpu-warp-reductions`, on the entry points
    compiled for a GPU. A run of consecutive linalg ops in one block that
    all go row by row over the same rows (their leading parallel dims,
    static) becomes one `gpu.launch`, where the ops are:

    - fills of a per-row buffer (the initial value of a reduction),
    - reductions of the rows' elements (the inner dims, the same for the
      whole run) into a per-row buffer, with one commutative, associative
      combiner (the list of `kiln-gpu-warp-reductions`),
    - elementwise ops over the rows' elements, and over per-row values.

    At least one reduction and two ops make a run; only pure ops
    (constants, index arithmetic) may sit between its members, and the
    kernel takes the place of the last one. A softmax (row maxima, sums of
    exponentials, quotients: five ops and kernels), a log-softmax, the
    forward of a cross-entropy up to its per-row losses, a softmax's
    gradient and a layer normalization's statistics each become one kernel.

    Each row gets a warp (8 per block of 256 threads) when it has 32
    elements or more and every per-row reduction has an `f32`, `f64`, `i32`
    or `i64` result; a thread otherwise. Lane `l` takes the row's elements
    `l`, `l + 32`, ... in every member, so an element one member writes is
    read by a later one only in the lane that wrote it; reductions end with
    xor shuffles, so every lane holds each per-row value, kept in registers
    for the later members; after a warp-wide sync (an earlier member may
    still be reading their old values in other lanes), lane 0 stores the
    per-row values at the end.

    The run is fused only when that is sound: every buffer a member writes
    is an argument of an entry point (the runtime refuses overlapping ones;
    a function an entry calls may be given views of one buffer, so its
    runs are left alone) or an allocation, not a view; within the run it is
    read only at the reader's own row (per-row values) or own element (the
    rows' elements); buffers read anywhere else (a gather of a label's
    logit, a broadcast vector, one element for every row) are never written
    by the run; a buffer of unknown origin (loop-carried, selected, a
    call's result) may be any of them, so reading one ends the run. Fills
    whose value is of another type than the buffer's are left alone.

    With `emulate`, the same kernel is built as host loops over the rows,
    the lanes in turn, and each shuffle an exchange through a buffer (for
    the CPU pipeline's `emulate-gpu-kernels`).
  }];
  let options = [
    Option<"emulate", "emulate", "bool", /*default=*/"false",
           "Build the kernel as host loops (a test on the CPU)">,
  ];
  let dependentDialects = ["::mlir::affine::AffineDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::NVVM::NVVMDialect",
                           "::mlir::scf::SCFDialect"];
}

def KilnGPUWarpReductions
    : Pass<"kiln-gpu-warp-reductions", "::mlir::ModuleOp"> {
  let summary = "Reductions spread over warps and blocks: a warp per row, "
                "blocks of columns, a grid for a whole tensor";
  let description = [{
    Runs on buffers, before `kiln-gpu-schedule-linalg`, on the entry points
    compiled for a GPU. A linalg op with one output, parallel and reduction
    loops, every input array indexed innermost by a reduction loop (a row
    of contiguous elements: a softmax's maxima and sums, a log-sum-exp, a
    mean over the last axis),
    a row of at least 32 elements (or of open length), one commutative,
    associative combiner (the list of `kiln-gpu-schedule-linalg`) and an
    `f32`, `f64`, `i32` or `i64` output becomes one `gpu.launch` with a
    warp per output element, 8 warps per block: lane `l` combines elements
    `l`, `l + 32`, ... of its row (row-major over the reduction loops,
    starting from the combiner's neutral element, through the op's own
    body), five `gpu.shuffle xor` steps give every lane the row's total,
    and lane 0 combines it with the output element. The whole warp takes
    the same output, so the bounds check keeps its lanes together.

    A reduction along outer loops (every input array indexed innermost by
    a parallel loop: a column sum, a bias gradient's sum over the batch),
    of at least 32 elements per output (or of open length), with the same
    combiners and types, becomes a grid of `ceil(outputs / 32)` x `S`
    blocks of 256 threads: thread `t` of block `(g, s)` takes output
    `32 g + t % 32` and slice `t / 32`, combining elements `8 s + slice`,
    then every `8 S` further, of that output's reduction (row-major over
    the reduction loops, from the neutral element, through the op's body),
    so each warp reads 32 neighbouring elements; the 8 slices meet in
    shared memory and, after a barrier, slice 0 combines them in order.
    `S = clamp(min(ceil(length / 256), ceil(512 / groups)), 1, 64)`: with
    one split slice 0 combines the total with the output element; with
    more it writes `partials[s][output]` (a `gpu.alloc`ed buffer) and a
    second kernel, a thread per output, combines the `S` partials in order
    with the output. (A thread per output walking the whole reduction,
    which these replace, stored its running value after every element and
    waited a memory latency per element: tens of thousands of them for a
    convolution's bias gradient.)

    A whole tensor reduced to a scalar (a loss's sum, a global norm) of at
    least 16384 elements, or of open size, becomes two kernels instead of
    one block: a grid of `min(ceil(n / 4096), 1024)` blocks of 8 warps,
    warp `w`'s lanes combining elements `32 w + lane`, then every
    `32 x warps` further, each warp's total (five shuffles) written to a
    `gpu.alloc`ed buffer of partials; then one warp combines the partials
    and lane 0 the total with the output.

    With `emulate`, the kernel is built as host loops in every function:
    output by output, each lane's share in turn, then each shuffle step as
    an exchange through a buffer of 32 values; a column reduction block by
    block, its 256 threads' shares into a buffer standing for shared
    memory, then slice 0's combination (a test of the kernel's indexing on
    the CPU).
  }];
  let options = [
    Option<"emulate", "emulate", "bool", /*default=*/"false",
           "Build the kernel as host loops (a test on the CPU)">,
  ];
  let dependentDialects = ["::mlir::affine::AffineDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
}

def KilnGPUFuseAdjacent
    : Pass<"kiln-gpu-fuse-adjacent", "::mlir::ModuleOp"> {
  let summary = "Fuses neighbouring elementwise loops on buffers into one "
                "op (one kernel)";
  let description = [{
    Runs on buffers, after the passes that make their own kernels (tiled
    products, row kernels, warp reductions) and before
    `kiln-gpu-schedule-linalg`, at the top level of the entry points
    compiled for a GPU (of every function with `everywhere`, for the
    emulation). Tensor-level fusion joins a producer with its consumer only
    when the consumer is its one use; a training step keeps many separate
    loops over the same points after bufferization: a layer's bias add and
    its relu (the pre-activation is read again by the gradient), Adam's
    in-place updates of the first and second moments and of the weight.
    Each becomes a kernel of its own. This pass joins two such
    `linalg.generic` ops when:

    - both have only parallel loops with the same static extents, and
      every operand of each is indexed by that op's point map (the same
      permutation for both), except inputs read as broadcasts;
    - they write different buffers, and each reads the other's outputs
      only at the loop point, through the same value (not a broadcast or
      another view), and not at all by a `memref.load` in its body (a
      gather reads its table at computed points, which one loop would
      reach before or after the other op writes them); a body with other
      memory effects is not fused;
    - every op between them is a linalg op (whose accesses include what
      its body loads) or has no memory effects, and neither writes what
      the first reads nor touches what it writes (the first moves down to
      the second).

    The fused op runs the first body then the second at each point; the
    second reads the first's new values directly. Buffers are told apart by
    their roots (through views): distinct allocations and distinct
    arguments of an entry point do not alias (Kiln's entry ABI passes
    separate buffers), nor do distinct globals; arguments of other
    functions (a caller may pass one buffer twice) and anything else are
    assumed to. Ops with scalar
    operands are left alone, and a fused op has at most 32 operands (its
    kernel's parameters and registers). In Adam's step three kernels per weight
    become one (two where the learning-rate scalar is computed between).
  }];
  let options = [
    Option<"everywhere", "everywhere", "bool", /*default=*/"false",
           "Fuse in every function, not only GPU entries (the emulation)">,
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def KilnGPUVectorizeElementwise
    : Pass<"kiln-gpu-vectorize-elementwise", "::mlir::ModuleOp"> {
  let summary = "Elementwise loops on buffers: several consecutive elements "
                "per thread, each operand accessed as one vector";
  let description = [{
    Runs on buffers, after `kiln-gpu-fuse-adjacent` and before
    `kiln-gpu-schedule-linalg`, on the functions compiled for a GPU (every
    function with `everywhere`, for the emulation). One element per thread
    leaves each thread one 4-byte load in flight per operand, too few bytes
    to cover the latency of a GPU's memory at its full bandwidth; 16-byte
    loads and stores carry four times as much per instruction (what CUDA
    libraries do with `float4`). A `linalg.generic` becomes an
    `scf.parallel` over its loop points whose innermost index steps by a
    width w, the body cloned once per lane, when:

    - its loops are all parallel, of static extents, without `linalg.index`;
    - each buffer operand has the identity layout and is either contiguous
      along the innermost loop (its map ends with that loop: w consecutive
      elements, one `vector.load` / `vector.store`) or does not use it (an
      input broadcast along it: one `memref.load` for the group); outputs
      use every loop; scalar inputs are used as they are;
    - the contiguous operands have 8-, 16-, 32- or 64-bit elements, and, on
      the GPU, start where their allocation does (an entry's argument or an
      allocation, through reshapes and casts): the accesses then claim an
      alignment of min(16, w x element size) bytes, which lets the NVPTX
      backend emit `ld.global.v4` / `st.global.v4`.

    w is 16 bytes over the widest contiguous element (4 for f32), halved
    until it divides the innermost extent; below 2 the op is left alone.
    The lanes of a group run in order in one thread, each lane reading its
    inputs before the group's stores, so an output updated in place (Adam's
    moments) reads its old values as the loop did. With `everywhere` (the
    emulation) no alignment is claimed, and the host's buffers need none.
  }];
  let options = [
    Option<"everywhere", "everywhere", "bool", /*default=*/"false",
           "Vectorize in every function, without alignment claims (the "
           "emulation)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect"];
}

def KilnGPUMergeLaunches
    : Pass<"kiln-gpu-merge-launches", "::mlir::ModuleOp"> {
  let summary = "Merges neighbouring independent kernel launches of small "
                "grids into one launch (horizontal fusion)";
  let description = [{
    Runs on `gpu.launch` ops in host code, after the loops are mapped to
    blocks and threads and before outlining. A training step launches many
    kernels of a few blocks each (Adam's update of every weight and bias,
    fills, a bias gradient next to a relu gradient); each launch costs the
    host a few microseconds and the GPU a gap between kernels, more than
    such a kernel runs. Neighbouring launches become one when:

    - each has constant grid and block extents, at most
      `blocks-per-multiprocessor` x `multiprocessors` blocks, one block of
      body, no async tokens, clusters or dynamic shared memory, takes only
      buffers and scalars from the host (no address taken from a buffer),
      and reaches memory only through those buffers (no call, no global,
      no access through a pointer) and its ids only through the launch's
      (no `nvvm.read.ptx.sreg.*`);
    - no buffer written by one is read or written by another (buffers told
      apart by their roots, as in `kiln-gpu-fuse-adjacent`; a use inside a
      body whose effect is not known counts as a write);
    - every op between them is free of memory effects, a `gpu.alloc` or a
      `gpu.wait` (the earlier launches move down to the last);
    - their blocks have the same number of threads, or none of them uses
      barriers, warp-level ops or shared memory (the merged block has the
      most threads; the others' extra threads skip their body);
    - their static shared memory adds up to at most 48 KiB, and there are
      at most `max-kernels` of them.

    The merged launch has a 1-d grid, the sum of the blocks: the first
    body's blocks come first, then the second's, each body finding its own
    3-d block and thread ids from the linear ones (x fastest, as CUDA orders
    them, so warps hold the same threads as before) and its own grid and
    block extents as constants. Blocks of different bodies run in any
    order, which independence allows.

    Neighbouring kernels of one block of one thread each (a training
    step's scalar work: a loss's mean, Adam's step count and step size)
    merge whether or not they depend on each other: the merged launch is
    one thread running their bodies in program order, which keeps every
    dependence (the other conditions above still apply, the buffers
    aside).
  }];
  let options = [
    Option<"multiprocessors", "multiprocessors", "int64_t",
           /*default=*/"132",
           "The GPU's multiprocessors (the pipelines give the chip's count)">,
    Option<"blocksPerMultiprocessor", "blocks-per-multiprocessor", "int64_t",
           /*default=*/"4",
           "Grids of at most this many blocks per multiprocessor are merged">,
    Option<"maxKernels", "max-kernels", "int64_t", /*default=*/"8",
           "Kernels merged into one launch at most">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
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
    - a reduction of a whole tensor to a scalar with one commutative,
      associative combiner (`addf`, `addi`, `mulf`, `muli`, `maximumf`,
      `minimumf`, `maxnumf`, `minnumf`, `max/minsi`, `max/minui`, `andi`,
      `ori`, `xori`: a sum, a mean's sum, a product, a maximum) becomes one
      block of 256 threads: each accumulates a strided share of the
      iterations (row-major, from the combiner's neutral element), the
      partial results meet in shared memory (a workgroup attribution) and
      are combined in a tree of 8 levels with a barrier after each, and
      thread 0 combines the total with the output's value. (Tensors of
      16384 elements or more, in the types a shuffle carries, are spread
      over a grid by `kiln-gpu-warp-reductions` first);
    - any other op with no parallel loop (a 0-d computation, an argmax to a
      scalar) is put into a `gpu.launch` of one block of one thread, which
      runs it as loops.
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
