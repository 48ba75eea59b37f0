//===- TensorPipeline.cpp - The stage every target shares -----------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/ABI/Passes.h"
#include "kiln/Conversion/Passes.h"
#include "kiln/Pipelines/Pipelines.h"
#include "kiln/Transforms/Passes.h"

#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace mlir::kiln;

llvm::StringRef mlir::kiln::stringifyTarget(Target target) {
  switch (target) {
  case Target::CPU:
    return "cpu";
  case Target::CUDA:
    return "cuda";
  }
  llvm_unreachable("unknown target");
}

std::optional<Target> mlir::kiln::parseTarget(llvm::StringRef name) {
  if (name == "cpu")
    return Target::CPU;
  if (name == "cuda")
    return Target::CUDA;
  return std::nullopt;
}

void mlir::kiln::buildTensorPipeline(OpPassManager &pm,
                                     const TensorPipelineOptions &options) {
  // Optimizer updates become Kiln math on variables, so that autodiff and
  // the variable passes see ordinary ops.
  pm.addPass(createKilnExpandOptimizers());
  // Gradient requests become generated functions (reverse mode).
  KilnAutodiffOptions autodiff;
  autodiff.loops = options.autodiffLoops;
  // Gradient functions called once are inlined into their callers, and the
  // forward they recompute merges with the caller's own (a training step
  // computes the loss, then asks for its gradient: without this, the whole
  // forward pass ran twice).
  autodiff.inlineGradients = true;
  pm.addPass(createKilnAutodiff(autodiff));
  pm.addPass(createCSEPass());
  // Data-parallel steps: each gradient's all-reduce where the backward pass
  // produces it, one all-reduce per bucket of them, each started there and
  // waited for where its result is needed (the runtime communicates while
  // the rest of the backward pass computes).
  pm.addPass(createKilnScheduleCollectives());
  pm.addPass(createKilnBucketCollectives());
  pm.addPass(createKilnOverlapCollectives());
  // Variables become arguments bound to the runtime's store; the new values
  // of assigned ones extra results.
  pm.addPass(createKilnExternalizeVariables());
  // Static shapes wherever the signature determines them (a traced function
  // may leave `?` inside).
  pm.addPass(createKilnRefineShapes());
  // Entry signatures are recorded while they are still tensors.
  KilnPrepareEntryPointsOptions entries;
  entries.device = options.device;
  pm.addPass(createKilnPrepareEntryPoints(entries));
  // Run-time checks call the runtime: CPU code only.
  ConvertKilnToLinalgOptions lowering;
  lowering.runtimeChecks = options.device == Device::cpu;
  lowering.widenHalfProducts =
      options.widenHalfProducts &&
      (options.device == Device::cpu || !options.tiledProducts);
  pm.addPass(createConvertKilnToLinalg(lowering));
  // Extents read from a tensor (`tensor.dim`, e.g. of the `like` of a
  // broadcast or random op) are taken from the ops' operands, so code that
  // only supplies extents dies instead of being computed.
  pm.addPass(memref::createResolveRankedShapeTypeResultDimsPass());
  pm.addPass(createCanonicalizerPass());
  // Entries with open extents get shape functions (output extents and the
  // run-time shape checks, run by the runtime before each call).
  pm.addPass(createKilnSplitShapeFunctions());
  // One loop nest per elementwise chain, no temporaries between its ops.
  if (options.fuseElementwise)
    pm.addPass(createKilnFuseElementwise());
  // What fusion made of f16/bf16 reductions accumulates in f32; plain
  // half products that the lowering left in half are the tiled kernels'
  // (the GPU's, or their emulation), which sum in f32 themselves.
  KilnWidenHalfAccumulatorsOptions half;
  half.keepPlainContractions =
      options.tiledProducts && !lowering.widenHalfProducts;
  pm.addPass(createKilnWidenHalfAccumulators(half));
  pm.addPass(createCSEPass());
}
