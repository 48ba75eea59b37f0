//===- Pipelines.h - Kiln's named compilation pipelines ---------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PIPELINES_PIPELINES_H
#define KILN_PIPELINES_PIPELINES_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

namespace mlir::kiln {

#define GEN_PASS_DECL
#include "kiln/Pipelines/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "kiln/Pipelines/Passes.h.inc"

/// Options of the CPU pipeline.
struct CpuPipelineOptions {
  /// Fuse chains of elementwise linalg ops before bufferization.
  bool fuseElementwise = true;
};

/// Adds the passes that take a module of Kiln (and upstream tensor-level)
/// ops to the LLVM dialect, with Kiln's entry points and manifest:
///
///   kiln-refine-shapes, kiln-prepare-entry-points, convert-kiln-to-linalg,
///   elementwise fusion,
///   one-shot bufferization, results to out-params, deallocation,
///   linalg to loops, scf/affine/math/memref/arith/func to LLVM,
///   kiln-emit-entry-points
void buildCpuPipeline(OpPassManager &pm, const CpuPipelineOptions &options);

/// Whether `name` is a C identifier (entry points, variables and library
/// names become C symbols).
bool isCIdentifier(llvm::StringRef name);

/// Registers the named pipelines (`kiln-cpu-pipeline`) for tools.
void registerKilnPipelines();

} // namespace mlir::kiln

#endif // KILN_PIPELINES_PIPELINES_H
