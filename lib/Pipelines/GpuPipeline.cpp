//===- GpuPipeline.cpp - The NVIDIA GPU codegen stage ---------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-codegen-pipeline: linalg on tensors (kiln-tensor-pipeline with
// device=cuda) to host code in the LLVM dialect that launches kernels, the
// kernels compiled through NVVM to PTX (or a cubin) in a gpu.binary. This
// first version maps every linalg op to one kernel of independent threads
// (one per element of its parallel loops, each running its reduction
// loops): elementwise chains, broadcasts, reductions along a dimension;
// matrix products are tiled through shared memory first
// (kiln-gpu-tile-contractions). Tiling of convolutions, warp reductions
// and tensor cores come later; what it cannot compile is an error at the
// op's location (kiln-gpu-check-entries).
//
//===----------------------------------------------------------------------===//

#include "BufferizationStage.h"

#include "kiln/ABI/Passes.h"
#include "kiln/Codegen/CPU/Passes.h"
#include "kiln/Codegen/GPU/Passes.h"
#include "kiln/Pipelines/Pipelines.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace mlir::kiln;

#ifndef KILN_CUDA_TOOLKIT
#define KILN_CUDA_TOOLKIT ""
#endif

/// 90 for "sm_90" or "sm_90a"; 0 for what is not an architecture.
static int getSmVersion(llvm::StringRef chip) {
  unsigned version = 0;
  if (!chip.consume_front("sm_"))
    return 0;
  chip.consume_back("a");
  return chip.getAsInteger(10, version) ? 0 : static_cast<int>(version);
}

int64_t mlir::kiln::gpuMultiprocessors(llvm::StringRef chip) {
  switch (getSmVersion(chip)) {
  case 70:
    return 80; // V100
  case 75:
    return 40; // T4
  case 80:
    return 108; // A100
  case 86:
    return 84; // A40 (RTX 3090: 82)
  case 89:
    return 142; // L40S (RTX 4090: 128)
  case 100:
    return 148; // B200
  default:
    return 132; // H100 / H200 SXM
  }
}

void mlir::kiln::buildGpuCodegenPipeline(OpPassManager &pm,
                                         const GpuCodegenOptions &options) {
  // The functions the entries call work on GPU memory too.
  pm.addPass(createKilnGPUMarkFunctions());
  // Convolutions as a patch gather (one coalesced kernel) and a matrix
  // product (tiled below); the rewrite is the CPU stage's, target-neutral
  // on tensors.
  if (options.tileContractions)
    pm.addNestedPass<func::FuncOp>(createKilnCPUConvolutionsToGemm());
  // The same buffers and entry ABI as the CPU's: outputs into the caller's
  // buffers (GPU memory), variables updated in place.
  addEntryBufferization(pm);
  pm.addPass(createKilnCopiesToLinalg());
  pm.addPass(createKilnGPUAllocateTemporaries());
  pm.addPass(createKilnGPUHostAccess());
  pm.addPass(createKilnGPUCheckEntries());
  if (options.tileContractions) {
    KilnGPUTileContractionsOptions contractions;
    contractions.tensorCores =
        options.tensorCores && getSmVersion(options.chip) >= 80;
    // TMA and wgmma: the architecture-specific sm_90a only.
    contractions.wgmma = llvm::StringRef(options.chip) == "sm_90a";
    contractions.allowTf32 = options.allowTf32;
    // cp.async (double-buffered tiles): sm_80 and later.
    contractions.asyncCopies = getSmVersion(options.chip) >= 80;
    contractions.multiprocessors = gpuMultiprocessors(options.chip);
    pm.addPass(createKilnGPUTileContractions(contractions));
  }
  // Softmax-like runs of row-wise ops: one kernel, a warp per row.
  pm.addPass(createKilnGPURowKernels());
  pm.addPass(createKilnGPUWarpReductions());
  // Neighbouring elementwise loops over the same points: one kernel.
  pm.addPass(createKilnGPUFuseAdjacent());
  // Their elements four at a time per thread (16-byte accesses).
  pm.addPass(createKilnGPUVectorizeElementwise());
  pm.addPass(createKilnGPUScheduleLinalg());
  // Every linalg op a grid of blocks of threads.
  OpPassManager &functions = pm.nest<func::FuncOp>();
  functions.addPass(createConvertLinalgToParallelLoopsPass());
  KilnGPUMapLoopsOptions map;
  map.blockSize = options.blockSize;
  functions.addPass(createKilnGPUMapLoops(map));
  functions.addPass(createConvertParallelLoopToGpuPass());
  functions.addPass(createCanonicalizerPass());
  KilnGPUCheckEntriesOptions mapped;
  mapped.afterMapping = true;
  pm.addPass(createKilnGPUCheckEntries(mapped));
  // Neighbouring independent kernels of small grids: one launch.
  if (options.mergeLaunches) {
    KilnGPUMergeLaunchesOptions merge;
    merge.multiprocessors = gpuMultiprocessors(options.chip);
    pm.addPass(createKilnGPUMergeLaunches(merge));
  }
  // Kernels outlined into a gpu.module, with the index arithmetic (not
  // its constants as arguments) and the constant buffers inside; the
  // host's copies of those buffers go.
  pm.addNestedPass<func::FuncOp>(createKilnGPUSinkIntoKernels());
  // Math ops with no NVVM instruction or libdevice function (integer
  // powers) become calls of functions that the outliner copies into the
  // kernels' modules.
  pm.addPass(createConvertMathToFuncs());
  // nvgpu's ops (the sm_90a kernel's TMA, mbarriers and wgmma, and the
  // TMA descriptors its host code makes) to NVVM and runtime calls, in
  // place, before the kernels are outlined (as upstream's pipeline does).
  pm.addPass(createConvertNVGPUToNVVMPass());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createKilnGPUMergeKernelModules());
  // Barriers and warp collectives only where every thread that must meet
  // there arrives (a fault of the passes above otherwise, which only a GPU
  // would show).
  pm.addNestedPass<gpu::GPUModuleOp>(createKilnGPUCheckUniformity());
  pm.addPass(createSymbolDCEPass());
  std::string toolkit =
      options.toolkit.empty() ? KILN_CUDA_TOOLKIT : options.toolkit;
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  target.optLevel = 3;
  // libdevice for math functions (expf, logf, ...): without it they stay
  // unresolved externs that only ptxas would report.
  if (!toolkit.empty()) {
    llvm::SmallString<256> libdevice(toolkit);
    llvm::sys::path::append(libdevice, "nvvm", "libdevice",
                            "libdevice.10.bc");
    if (llvm::sys::fs::exists(libdevice))
      target.linkLibs.push_back(libdevice.str().str());
  }
  pm.addPass(createGpuNVVMAttachTarget(target));
  // Views become explicit offsets and strides (affine.apply), then every
  // affine op arithmetic, then structured control flow branches.
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createKilnGPUContractFma());
  kernels.addPass(createConvertGpuOpsToNVVMOps());
  kernels.addPass(createKilnGPUPreciseSqrt());
  kernels.addPass(createKilnGPUExternDynamicShared());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  kernels.addPass(createReconcileUnrealizedCastsPass());
  // The host side: the entry functions (views, launches) in the LLVM
  // dialect.
  pm.addPass(createGpuToLLVMConversionPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = options.format;
  binary.toolkitPath = toolkit;
  pm.addPass(createGpuModuleToBinaryPass(binary));
  KilnEmitEntryPointsOptions entries;
  entries.device = Device::cuda;
  pm.addPass(createKilnEmitEntryPoints(entries));
}

void mlir::kiln::buildGpuPipeline(OpPassManager &pm,
                                  const GpuPipelineOptions &options) {
  TensorPipelineOptions tensor = options.tensor;
  tensor.device = Device::cuda;
  tensor.tiledProducts = options.codegen.tileContractions;
  buildTensorPipeline(pm, tensor);
  buildGpuCodegenPipeline(pm, options.codegen);
}
