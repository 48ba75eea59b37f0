//===- CpuPipeline.cpp - The kiln-cpu-pipeline
//------------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Conversion/Passes.h"
#include "kiln/Pipelines/Pipelines.h"
#include "kiln/Transforms/Passes.h"

#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassRegistry.h"

#include <mutex>

using namespace mlir;
using namespace mlir::kiln;

/// The pipeline is written as text, so every pass it names must be
/// registered, whoever builds it (a tool, the compiler library, Python).
static void registerPipelinePasses() {
  static std::once_flag once;
  std::call_once(once, [] {
    registerAllPasses();
    registerKilnPasses();
    registerKilnConversionPasses();
    registerKilnPipelinesPasses();
  });
}

void mlir::kiln::buildCpuPipeline(OpPassManager &pm,
                                  const CpuPipelineOptions &options) {
  registerPipelinePasses();
  // Each stage and why:
  //  - optimizer updates become Kiln math on variables;
  //  - materialize gradient requests (reverse-mode autodiff);
  //  - variables become arguments (bound to the runtime's store) and their
  //    new values extra results;
  //  - make shapes static where the signature determines them (a traced
  //    function may leave `?` inside);
  //  - record entry signatures while they are tensors;
  //  - Kiln -> linalg/tensor/scf, then clean up; entries with dynamic
  //    extents get shape functions (output extents and run-time shape
  //    checks, run by the runtime before each call); fuse elementwise chains
  //    (one loop nest instead of one per op, no temporaries between them);
  //  - variable updates are materialized in the variables' buffers (in
  //    place; other arguments are read-only);
  //  - one-shot bufferization of the whole module (function boundaries with
  //    identity layouts, loops may yield new buffers), results become
  //    caller-provided out-parameters so outputs are written in place, and
  //    the deallocation pipeline frees temporaries;
  //  - linalg to loops, then everything to the LLVM dialect; math functions
  //    that have no LLVM intrinsic become libm calls (f16/bf16 computed in
  //    f32);
  //  - finally the C entry points and the manifest.
  std::string pipeline =
      "kiln-expand-optimizers,kiln-autodiff,kiln-externalize-variables,"
      "kiln-refine-shapes,"
      "kiln-prepare-entry-points,"
      "convert-kiln-to-linalg,"
      "canonicalize,kiln-split-shape-functions,";
  if (options.fuseElementwise)
    pipeline += "kiln-fuse-elementwise,";
  pipeline += "kiln-contraction-loop-order,";
  pipeline +=
      "cse,eliminate-empty-tensors,kiln-materialize-variable-updates,"
      "eliminate-empty-tensors,kiln-distinct-results,"
      "one-shot-bufferize{bufferize-function-boundaries=true "
      "function-boundary-type-conversion=identity-layout-map "
      "allow-return-allocs-from-loops=true},kiln-drop-variable-results,"
      "buffer-results-to-out-params{hoist-static-allocs=true "
      "hoist-dynamic-allocs=true "
      "modify-public-functions=true},"
      "buffer-deallocation-pipeline,convert-bufferization-to-memref,"
      "kiln-copies-to-linalg,func.func(convert-linalg-to-loops),"
      "expand-strided-metadata,"
      "lower-affine,convert-scf-to-cf,math-extend-to-supported-types,"
      "convert-math-to-funcs,convert-math-to-llvm,convert-math-to-libm,"
      "convert-to-llvm,reconcile-unrealized-casts,kiln-emit-entry-points";
  if (failed(parsePassPipeline(pipeline, pm)))
    llvm::report_fatal_error("kiln: the CPU pipeline text does not parse");
}

void mlir::kiln::registerKilnPipelines() {
  static std::once_flag once;
  std::call_once(once, [] {
    registerPipelinePasses();
    PassPipelineRegistration<>(
        "kiln-cpu-pipeline",
        "Lower Kiln (and upstream tensor-level ops) to the LLVM dialect with "
        "Kiln's C entry points",
        [](OpPassManager &pm) { buildCpuPipeline(pm, CpuPipelineOptions{}); });
  });
}
