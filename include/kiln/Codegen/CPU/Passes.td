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

def KilnCPUTileContractions
    : Pass<"kiln-cpu-tile-contractions", "::mlir::func::FuncOp"> {
  let summary = "Tiles, fuses and vectorizes contractions for the CPU's caches and registers";
  let description = [{
    Runs on linalg on tensors, before bufferization. For every contraction
    (a linalg op whose loops split into batch, one M, one N and one K
    dimension: matmul, batch matmul, their transposed forms, contraction
    generics) on floating-point tensors:

    ```
    for m0 in 0..M step MC, n0 in 0..N step NC:      // cache tile (forall)
      C[m0:, n0:] = fill                              // producer fused
      for k0 in 0..K step KC:                         // B panel KC x NC
        [P = pack(B[k0:, n0:])]                       // NC/NR x KC x NR
        for m1 in m0..m0+MC step MR:                  // register tile,
          for n1 in n0..n0+NC step NR:                // full tiles peeled
            acc = C[m1:m1+MR, n1:n1+NR]               // vector<MRxNRxf32>
            for k in k0..k0+KC: acc += A[m1:, k] (x) B[k, n1:]  // or P[n1/NR, k]
            C[m1:, n1:] = acc
      D[m0:, n0:] = epilogue(C[m0:, n0:])             // consumer fused
    ```

    The elementwise op that consumes the contraction's result, when it is
    its only user, is tiled with it (a bias add and an activation run on
    the tile while it is in cache); the fill of the accumulator is fused
    too. Producers of the operands are not (they would be recomputed for
    every tile). The register tile is MR x NR with NR two vectors wide
    (`vector-bits`: 512 for AVX-512, 256 for AVX2), vectorized into
    `vector.contract` on full tiles; the accumulator stays in registers
    across the K loop. Partial tiles at the edges are peeled off; those of
    static shape are vectorized as they are, those of an open extent at
    their largest size with masked reads and writes (the product itself
    needs no mask), and a K panel of open depth still steps through K one
    row at a time. Cache tiles are MC = 8 register rows, or 32 when B is
    larger than 8 MiB (B is then streamed through the caches once per cache
    row of C, so taller rows stream it fewer times). With such a B whose
    rows are at least 1024 elements apart, each full K panel of B is packed
    into contiguous KC x NR micro-panels (`tensor.expand_shape` and
    `linalg.transpose`, once per panel and cache tile, reused by the 32
    register rows): the register tiles then read B sequentially instead of
    one row per page. A matmul whose B is stored N x K (`transpose_rhs`,
    as the gradient of a dense layer's input has it) and that has at least
    16 rows (or an open M) first gets one transposed copy of B (a
    `linalg.transpose` into K x N, which `kiln-cpu-vectorize-loops` moves
    in square blocks) and is tiled as a plain matmul on it: a register
    tile would otherwise gather each of its B rows from NR rows of memory,
    4x to 12x slower. Everything else is left as it is.
  }];
  let options = [
    Option<"vectorBits", "vector-bits", "int64_t", /*default=*/"512",
           "Width of the CPU's vector registers in bits (128, 256, 512)">,
  ];
  let dependentDialects = ["::mlir::affine::AffineDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::vector::VectorDialect"];
}

def KilnCPUTileConvolutions
    : Pass<"kiln-cpu-tile-convolutions", "::mlir::func::FuncOp"> {
  let summary = "Computes convolutions and filter gradients directly, as register-tiled products";
  let description = [{
    Runs on linalg on tensors, before `kiln-cpu-convolutions-to-gemm` and
    `kiln-cpu-tile-contractions`. A `linalg.conv_2d_nhwc_hwcf` with static
    shapes becomes, per output row, a sum over the window of products of
    image rows and filter taps, with no copy of the patches:

    ```
    forall n, oh:                                   // fill, epilogue fused
      for ow0 in 0..OW step OWT, f0 in 0..F step NR:
        for kh, kw:                                 // accumulating loops
          Y[n, oh, ow0:+OWT, f0:+NR] +=
            X[n, oh*sh + kh*dh, (ow0:+OWT)*sw + kw*dw, :]   // OWT x C
            @ F[kh, kw, :, f0:+NR]                          // C x NR
    ```

    and Kiln's filter gradient (a seven-loop generic) becomes, per register
    tile of the result, a sum over the output rows:

    ```
    forall s, kh, kw, c0 step CT, f0 step NR:       // s: image group
      for n in group s, oh:                         // accumulating loops
        P[s, kh, kw, c0:+CT, f0:+NR] +=
          X[n, oh*sh + kh*dh, (0:OW)*sw + kw*dw, c0:+CT]^T  // CT x OW
          @ dY[n, oh, :, f0:+NR]                            // OW x NR
    dW = dW + P[0] + P[1] + ...                     // linalg.reduce, in order
    ```

    The images are summed in S groups (at most 8, a divisor of the batch,
    each of at least 2048 output pixels; S = 1 drops the group loop), the
    group outermost: each thread then reads the images and gradients of
    its own part of the batch, the part that the step's other loops (split
    by images too) left in its caches, and the partial results are added
    in the same order for any thread count.

    Each product is a `linalg.matmul` on slices, marked
    `kiln_register_tile`: `kiln-cpu-tile-contractions` vectorizes it and
    keeps its accumulator in registers across the loops marked
    `kiln_accumulating_loop`. NR is one or two vectors; OWT (CT) is the
    largest divisor of OW (C) that fits the register budget. A filter
    gradient over fewer channels copies the image once into window-major
    rows `P[n, oh, (kh, kw, c), ow]` (pixels innermost) and takes the
    KH x KW x C window positions as the register rows, its images summed
    in groups the same way (its result is a single register tile: without
    the groups, one thread would compute it alone). A shape without
    such a tile (filters not a whole number of vectors, fewer than 4 rows)
    is left to the patch-copy strategy. The images are read in place (a
    row of pixels is contiguous), where im2col copies them KH x KW times.
  }];
  let options = [
    Option<"vectorBits", "vector-bits", "int64_t", /*default=*/"512",
           "Width of the CPU's vector registers in bits (128, 256, 512)">,
  ];
  let dependentDialects = ["::mlir::affine::AffineDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

def KilnCPUConvolutionsToGemm
    : Pass<"kiln-cpu-convolutions-to-gemm", "::mlir::func::FuncOp"> {
  let summary = "Rewrites convolutions as an im2col gather and a matrix product";
  let description = [{
    A convolution of N x H x W x C images with KH x KW x C x F filters is the
    matrix product of the image patches, N x (OH * OW) x (KH * KW * C), with
    the filters seen as (KH * KW * C) x F. This pass rewrites every
    `linalg.conv_2d_nhwc_hwcf` with static shapes (the forward convolution,
    and the input gradient, which Kiln lowers to one) into a copy of the
    patches (channels innermost, so it runs at copy speed) and a
    `linalg.matmul`, and the filter gradient (a seven-loop generic) into
    the patches read transposed times the output gradient;
    `kiln-cpu-tile-contractions` then tiles and vectorizes the products
    like any other contraction.
    The gather costs a copy of the patches (KH * KW times the image); the
    product then runs at matrix-multiply speed instead of the speed of six
    nested scalar loops.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def KilnCPUSplitReductions
    : Pass<"kiln-cpu-split-reductions", "::mlir::func::FuncOp"> {
  let summary = "Splits row reductions into vector-wide accumulators";
  let description = [{
    Runs on linalg on tensors, before `kiln-cpu-parallel-chunks`. A generic
    whose only reduction loop is its innermost one (a row's sum, maximum or
    log-sum-exp), static and read contiguously, on f32 or f64, becomes
    upstream's split reduction with the inner part parallel: V partial
    results per row, partial `j` combining elements `j, j + V, ...`, then a
    reduction of the V partials. V is four, two or one vectors (64, 32 or 16
    f32 with AVX-512), the largest that divides the row into at least two
    steps; other rows stay as they are. The first op's innermost loop is
    then parallel and contiguous, and `kiln-cpu-vectorize-loops` makes it
    vector operations. The order of the sums changes, the same way in every
    run and for every thread count.
  }];
  let options = [
    Option<"vectorBits", "vector-bits", "int64_t", /*default=*/"512",
           "Width of the CPU's vector registers in bits (128, 256, 512)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def KilnCPUParallelChunks
    : Pass<"kiln-cpu-parallel-chunks", "::mlir::func::FuncOp"> {
  let summary = "Splits large linalg ops into chunks for the threads";
  let description = [{
    Runs on linalg on tensors, after `kiln-cpu-tile-contractions`, and on
    buffers after bufferization (below). Every
    linalg op with at least 262144 loop iterations (131072 for a copy, whose
    body yields one of its inputs: it only moves memory) that is not already
    inside a parallel loop (elementwise chains, reductions, transposes, the
    patch copies of convolutions) is tiled along its outermost parallel
    loop into an `scf.forall` of at most 64 chunks of about 32768
    iterations each (an open extent counts as 1024); a split loop that
    walks some operand's innermost dimension (the innermost loop, or the
    input's rows of a transpose) is cut at multiples of 64 so its vectors
    and blocks stay whole. The fill that
    initializes a reduction's output is fused into the chunks. A chunk
    computes its outputs exactly as the whole op would, reductions in the
    same order, so the result does not depend on the number of threads.

    A reduction whose parallel loops are too short to split (a
    convolution's bias gradient: 32 x 24 x 24 pixels summed into 16
    channels) is split along its outermost reduction loop instead, into at
    most 8 partial results, as many as divide the loop evenly (chunks of
    at least 32768 iterations, each much larger than the output), when the
    body combines the output with one value (addition, maximum, minimum)
    and does not read its indices: an
    `scf.forall` writes the partials as the rows of an `S x output` tensor,
    and a `linalg.reduce` adds them in order into the op's own output. The
    sums then run in a different order than in one sequence, but in the
    same order for any number of threads.

    On buffers (the CPU pipeline runs the pass again right after
    bufferization), every linalg op at the function's top level whose loops
    are all parallel and that has enough iterations (bufferization's fills
    of padded tensors and copies, included) is split the same way into an
    `scf.forall` of the same op on subviews of its operands.
    `kiln-cpu-parallel-loops` later runs the chunks on the runtime's pool.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::affine::AffineDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

def KilnCPUVectorizeLoops
    : Pass<"kiln-cpu-vectorize-loops", "::mlir::func::FuncOp"> {
  let summary = "Vectorizes elementwise and reduction loops along their innermost loop";
  let description = [{
    Runs on linalg on buffers, right after bufferization. Every linalg op
    that is not a contraction or convolution, whose innermost loop is
    parallel, open or at least 4 long, and walked contiguously by every
    operand that uses it (elementwise chains, bias adds, reductions over
    outer dimensions such as a sum over the batch, the patch copies of
    convolutions), with elements of at least 8 bits, is tiled into one
    vector along that loop (16 f32 with AVX-512, 8 with AVX2; `vector-bits`)
    and one iteration of each other loop; the partial vector at the end is
    peeled off, so every tile has a static shape when the extent does. The
    tiles are vectorized by the linalg vectorizer (transfer reads and
    writes of one-dimensional vectors after unit dimensions are dropped).
    The partial vector of an open innermost extent is vectorized at one
    whole vector under a mask when every operand holds floats; for integers
    it stays a scalar loop (a lane past the end would compute on padding,
    and an integer division by it would trap).

    A transpose (one input, every loop parallel, the input's innermost
    dimension walked by a loop other than the innermost one, both loops
    open or at least one vector long) is tiled instead into square blocks
    of one vector each way (16 x 16 f32 with AVX-512), partial blocks
    peeled: each block is a transposing read along the input's rows and a
    write along the output's rows (`kiln-cpu-lower-vectors` turns the
    16 x 16 ones into shuffles). Element by element, each read of a
    1024 x 1024 transpose touched a new page: 3.9 ms against 0.21 ms in
    blocks.
    On tensors, the tile loops of an op writing a variable's buffer defeat
    one-shot bufferization (and would stop the update being computed in
    place), hence buffers.
    Left to LLVM instead, a short innermost loop (the 16 channels of a
    feature map) was unrolled first and the next loop out vectorized with
    gathers and scatters.
  }];
  let options = [
    Option<"vectorBits", "vector-bits", "int64_t", /*default=*/"512",
           "Width of the CPU's vector registers in bits (128, 256, 512)">,
  ];
  let dependentDialects = ["::mlir::affine::AffineDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::vector::VectorDialect"];
}

def KilnCPUParallelLoops
    : Pass<"kiln-cpu-parallel-loops", "::mlir::ModuleOp"> {
  let summary = "Runs scf.forall loops on the runtime's thread pool";
  let description = [{
    Runs after bufferization, on `scf.forall` loops over memrefs (the cache
    tiles of contractions, chunks of elementwise loops). Each outermost one
    becomes a call of the runtime:
    ```
    kiln_parallel_for(@f_parallel_0, %context, %iterations)
    ```
    where `@f_parallel_0(%context: !llvm.ptr, %begin: i64, %end: i64)` runs
    iterations [begin, end) of the loop, linearized (the last dimension
    fastest), and `%context` points to a stack struct holding every value the
    body uses from outside, in its LLVM form (memref descriptors, i64 for
    index). A forall nested in another one becomes sequential loops: its
    parent's iterations already fill the threads. Iterations write disjoint
    parts of their outputs, so the result does not depend on the number of
    threads that ran them.
    With `threads=false`, every forall becomes sequential loops instead
    (code that runs on the calling thread only).
  }];
  let options = [
    Option<"threads", "threads", "bool", /*default=*/"true",
           "Call the runtime's thread pool (false: sequential loops)">,
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::scf::SCFDialect"];
}

def KilnCPUFloatCasts : Pass<"kiln-cpu-float-casts", "::mlir::ModuleOp"> {
  let summary = "Half-precision code rounds as its types say, with no libgcc helper";
  let description = [{
    Runs after `math-extend-to-supported-types`, which computes f16 and
    bf16 math in f32 and marks the casts it adds `contract`: with that flag
    on both, `arith.extf` of an `arith.truncf` folds to the unrounded f32
    value, so a chain of half-precision ops would skip the rounding of each
    result (`floor(erf(3))` in f16 was 0: erf's 0.99998 was never rounded
    to 1). Kiln's half ops round each result to its type, as NumPy and
    TensorFlow do. The pass:

    1. computes bf16 arithmetic (`arith.addf`, `arith.maximumf`, ...) in
       f32, each result rounded to bf16 (upstream's
       `arith-emulate-unsupported-floats`; LLVM would do the same, calling
       a helper for the rounding);
    2. drops `contract` from every `arith.extf` and `arith.truncf`;
    3. rounds `arith.truncf` from f64 to f16 or bf16 in two steps: to f32
       rounding to odd (toward zero, the last bit set when anything was
       dropped), then to the half type to nearest even, which is the
       correctly rounded result (f32 keeps more than two bits beyond
       either half type's);
    4. turns casts between f32 and bf16 into integer operations (a shift;
       a rounding bias added to the bits, NaN made bf16's quiet NaN);
    5. computes `math.fma` on f16 or bf16 as one f32 fma, rounded once.

    x86 rounds f32 to bf16 in one instruction only with AVX512-BF16, and
    has none for f64 to a half type: LLVM calls `__truncsfbf2`,
    `__truncdfbf2` or `__truncdfhf2`. Debian 12's libgcc has neither bf16
    helper (a JIT that fails to load on such hosts, an AOT library for
    `--target-cpu=x86-64-v3` with an undefined symbol), and a JIT inside
    Python does not find libgcc's `__truncdfhf2`. f32/f16 conversions stay
    LLVM's (F16C instructions; for older targets libgcc's `__extendhfsf2`
    and `__truncsfhf2`, which tensor-compile links into the library).
    Vectors are rewritten lane-wise.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

def KilnCPUBF16Bits : Pass<"kiln-cpu-bf16-bits", "::mlir::ModuleOp"> {
  let summary = "bf16 values in memory and between blocks travel as i16 bits";
  let description = [{
    Runs on the LLVM dialect, after the conversion. Loads and stores of
    bf16 (and vectors of it; masked ones too) load and store i16, and block
    arguments of those types become i16, with `llvm.bitcast` where a bf16
    value is made or used (LLVM folds the casts away). After
    `kiln-cpu-float-casts` no bf16 arithmetic or rounding is left, but on x86
    without AVX512-BF16 LLVM still keeps a bf16 value that goes from a load
    through a phi to a store in f32 and rounds it back with
    `__truncsfbf2`, which Debian 12's libgcc lacks: bounds-checked loads of
    the emulated tensor-core kernels did, and such modules failed to load.
    As bits, the value is only copied.
  }];
}

def KilnCPUOutlineLoops : Pass<"kiln-cpu-outline-loops", "::mlir::ModuleOp"> {
  let summary = "Moves the loop nests of very large functions into functions of their own";
  let description = [{
    A whole training step lowers to one function; for a network of a hundred
    layers that is hundreds of thousands of LLVM instructions and thousands
    of loops, and LLVM's loop passes (induction variable simplification,
    scalar evolution) take time that grows faster than the function: a
    MobileNetV2 step was still compiling after eleven minutes (80 s once
    outlined). This pass runs
    on loops (before `convert-scf-to-cf`): in every function with at least
    `min-ops` operations, each top-level `scf.for` / `scf.parallel` nest
    without results and with at least `min-loop-ops` operations becomes a
    private function `<function>_loop_<n>` marked `noinline`, called where
    the nest was. Values the nest reads from around it become arguments,
    except constants, which are copied in (loop bounds stay known to LLVM).
    Functions below the threshold are left as they are.
  }];
  let options = [
    Option<"minOps", "min-ops", "unsigned", /*default=*/"20000",
           "Outline the loops of functions with at least this many operations">,
    Option<"minLoopOps", "min-loop-ops", "unsigned", /*default=*/"8",
           "Outline only loop nests of at least this many operations">
  ];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def KilnCPUPreciseMath : Pass<"kiln-cpu-precise-math", "::mlir::ModuleOp"> {
  let summary = "Calls libm for the math ops that LLVM's lowering computes imprecisely";
  let description = [{
    `math.expm1` and `math.log1p` become calls of libm's `expm1f`/`expm1`
    and `log1pf`/`log1p` (one call per lane for vectors), declared in the
    module. Upstream's `convert-math-to-llvm` computes them as `exp(x) - 1`
    and `log(1 + x)`, which lose every digit for |x| near the float
    epsilon: expm1(1e-7) would be 1.19e-7 in f32, 19% off. Runs after
    `kiln-cpu-lower-vectors` (f32 vectors were approximated there, with
    the same care); f16 and bf16 are computed in f32; other math ops are
    left to `convert-math-to-llvm`. A type libm has no function for (f80,
    f128) is an error.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::vector::VectorDialect"];
}

def KilnCPULowerVectors : Pass<"kiln-cpu-lower-vectors", "::mlir::func::FuncOp"> {
  let summary = "Lowers vector contractions and transfers to FMAs on vector registers";
  let description = [{
    Runs after bufferization, on what `kiln-cpu-tile-contractions`
    produced: `vector.contract` becomes outer products and those become
    `vector.fma` on one-dimensional vectors (one broadcast element of A
    times a row of B per FMA), transfers become one-dimensional loads and
    stores, broadcasts, shape casts and transposes their one-dimensional
    forms, so that LLVM sees register-sized vector operations only. A
    transposed 16 x 16 block of 32-bit elements (a transpose's block from
    `kiln-cpu-vectorize-loops`) becomes 64 two-source shuffles (upstream's
    unpack and 128-bit lane permutation sequence); other transposes, one
    element at a time.

    First, `math.exp`, `math.log`, `math.log1p`, `math.expm1` and `math.tanh` on vectors
    of f32 (from vectorized elementwise loops: softmax, cross-entropy,
    sigmoid) become upstream's polynomial approximations, vector
    arithmetic within a few ulp of libm with libm's results at infinities,
    NaN and overflow; LLVM would otherwise call libm once per lane. The
    approximation of `log` treats subnormal inputs as the smallest normal
    number, so they are scaled by 2^24 first (and 24 ln 2 subtracted); that
    of `exp` returns 0 where the result is subnormal, so below -87 it
    computes exp(x + 16.5) * e^-16.5 (the sum is exact there, so the
    result stays within 2 ulp). Scalars and f64 keep libm.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect",
                           "::mlir::memref::MemRefDialect"];
}

#endif // KILN_CODEGEN_CPU_PASSES_TD
