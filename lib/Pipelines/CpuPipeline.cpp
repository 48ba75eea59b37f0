//===- CpuPipeline.cpp - The CPU codegen stage ----------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "BufferizationStage.h"

#include "kiln/ABI/Passes.h"
#include "kiln/Codegen/CPU/Passes.h"
#include "kiln/Codegen/GPU/Passes.h"
#include "kiln/Codegen/CPU/Target.h"
#include "kiln/Pipelines/Pipelines.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace mlir::kiln;

void mlir::kiln::buildCpuCodegenPipeline(OpPassManager &pm,
                                         const CpuCodegenOptions &options) {
  // Contractions tiled for the caches and the registers, with their fill
  // and epilogue fused and their register tiles vectorized (on tensors);
  // their cache tiles are parallel loops. Other large loops are split into
  // chunks for the threads.
  OpPassManager &functions = pm.nest<func::FuncOp>();
  int64_t vectorBits = getCpuVectorBits(options.targetCpu);
  if (options.tileContractions && !options.emulateGpuKernels) {
    // Convolutions are computed directly where their shapes give full
    // register tiles; the others become a patch copy and a contraction,
    // tiled below.
    KilnCPUTileConvolutionsOptions convolutions;
    convolutions.vectorBits = vectorBits;
    functions.addPass(createKilnCPUTileConvolutions(convolutions));
    functions.addPass(createKilnCPUConvolutionsToGemm());
    KilnCPUTileContractionsOptions tiling;
    tiling.vectorBits = vectorBits;
    functions.addPass(createKilnCPUTileContractions(tiling));
  } else if (options.emulateGpuKernels) {
    // As the GPU stage does: convolutions become products, tiled below.
    functions.addPass(createKilnCPUConvolutionsToGemm());
  }
  // Row reductions become vector-wide accumulators (vectorized below).
  KilnCPUSplitReductionsOptions reductions;
  reductions.vectorBits = vectorBits;
  functions.addPass(createKilnCPUSplitReductions(reductions));
  // (Emulated GPU kernels take whole ops, as on the GPU.)
  if (options.threads && !options.emulateGpuKernels)
    functions.addPass(createKilnCPUParallelChunks());
  // What is left of them (edge tiles) and convolutions loop with their last
  // parallel dimension innermost, so LLVM's vectorizer gets contiguous
  // loops (named ops become generics here, on the CPU only).
  pm.addPass(createKilnContractionLoopOrder());
  // Variables updated in place, outputs into caller buffers, temporaries
  // freed: the part of the ABI that lives around bufferization.
  addEntryBufferization(pm);
  if (options.emulateGpuKernels) {
    KilnGPUTileContractionsOptions contractions;
    contractions.emulate = true;
    contractions.tensorCores = options.tensorCores;
    contractions.allowTf32 = options.allowTf32;
    // The tiles (and double buffers) the GPU pipeline picks for its
    // default chip (sm_90).
    contractions.asyncCopies = true;
    contractions.multiprocessors = gpuMultiprocessors("sm_90");
    pm.addPass(createKilnGPUTileContractions(contractions));
    KilnGPURowKernelsOptions rows;
    rows.emulate = true;
    pm.addPass(createKilnGPURowKernels(rows));
    KilnGPUWarpReductionsOptions reductions;
    reductions.emulate = true;
    pm.addPass(createKilnGPUWarpReductions(reductions));
    KilnGPUFuseAdjacentOptions fuse;
    fuse.everywhere = true;
    pm.addPass(createKilnGPUFuseAdjacent(fuse));
    KilnGPUVectorizeElementwiseOptions vectorize;
    vectorize.everywhere = true;
    pm.addPass(createKilnGPUVectorizeElementwise(vectorize));
  }
  // Copies that bufferization made (a padded or sliced tensor written in
  // place) become linalg.copy, then, like elementwise and reduction loops,
  // are vectorized along their innermost loop (on buffers: see the pass).
  pm.addPass(createKilnCopiesToLinalg());
  // Large fills, copies and elementwise ops that only exist on buffers (a
  // padded gradient's zeros, a copy bufferization made) are split into
  // chunks for the threads too.
  if (options.threads && !options.emulateGpuKernels)
    pm.addNestedPass<func::FuncOp>(createKilnCPUParallelChunks());
  KilnCPUVectorizeLoopsOptions vectorize;
  vectorize.vectorBits = vectorBits;
  pm.addNestedPass<func::FuncOp>(createKilnCPUVectorizeLoops(vectorize));
  // Parallel loops (cache tiles) run on the runtime's thread pool.
  KilnCPUParallelLoopsOptions parallel;
  parallel.threads = options.threads;
  pm.addPass(createKilnCPUParallelLoops(parallel));
  // memref.copy would call MLIR's runner utilities; compiled modules need
  // nothing but the Kiln runtime.
  // The vectorized register tiles become FMAs on register-sized vectors.
  pm.addNestedPass<func::FuncOp>(createKilnCPULowerVectors());
  pm.addPass(createKilnCopiesToLinalg());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // A whole network's step is one function, too large for LLVM's loop
  // passes to finish in reasonable time: its loop nests become functions.
  pm.addPass(createKilnCPUOutlineLoops());
  pm.addPass(createSCFToControlFlowPass());
  // Math without an LLVM intrinsic becomes libm calls; f16/bf16 math is
  // computed in f32. The module's own functions leave the C namespace
  // first, so a function named `erf` is not taken for libm's.
  pm.addPass(createKilnInternalSymbolNames());
  pm.addPass(math::createMathExtendToSupportedTypes());
  // Each half op's result is rounded to its type (the casts just added
  // must not fold away); f64 to bf16 needs no libgcc function.
  pm.addPass(createKilnCPUFloatCasts());
  pm.addPass(createConvertMathToFuncs());
  // expm1 and log1p call libm: convert-math-to-llvm would compute them as
  // exp(x) - 1 and log(1 + x), losing every digit near 0.
  pm.addPass(createKilnCPUPreciseMath());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  // Temporaries come from the runtime's pool (MLIR's generic allocation
  // functions, which the runtime defines), not from malloc: a step run again
  // reuses them instead of faulting in fresh pages.
  FinalizeMemRefToLLVMConversionPassOptions memrefs;
  memrefs.useGenericFunctions = true;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefs));
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  // bf16 loads, stores and phis as i16 (no helper call on x86 without
  // AVX512-BF16).
  pm.addPass(createKilnCPUBF16Bits());
  KilnCPUTargetOptions target;
  target.cpu = options.targetCpu;
  pm.addPass(createKilnCPUTarget(target));
  pm.addPass(createKilnEmitEntryPoints());
}

void mlir::kiln::buildCpuPipeline(OpPassManager &pm,
                                  const CpuPipelineOptions &options) {
  TensorPipelineOptions tensor = options.tensor;
  tensor.device = Device::cpu;
  // The emulated GPU kernels take half products as the GPU does.
  if (options.codegen.emulateGpuKernels)
    tensor.widenHalfProducts = false;
  buildTensorPipeline(pm, tensor);
  buildCpuCodegenPipeline(pm, options.codegen);
}
