//===- Compiler.h - Compile Kiln modules to runnable code -------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The compiler library: parses or takes a module in the Kiln dialect, runs
// the pipeline of a target (the CPU today) and JIT-compiles the result with
// MLIR's ExecutionEngine.
// What it returns is a runtime executable (kiln_executable_t), called through
// the same entry-point ABI as an ahead-of-time compiled library, so code that
// runs modules does not care how they were compiled.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_COMPILER_COMPILER_H
#define KILN_COMPILER_COMPILER_H

#include "kiln/Pipelines/Pipelines.h"
#include "kiln/Runtime/Runtime.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"

#include "llvm/ADT/StringMap.h"

#include <memory>
#include <string>

namespace llvm::orc {
class JITTargetMachineBuilder;
} // namespace llvm::orc

namespace mlir::kiln {

/// Options for compiling a module.
struct CompileOptions {
  /// What code is generated for.
  Target target = Target::CPU;
  /// The CPU the code is for: "host" (the JIT's default; "native" is the
  /// same) or an LLVM CPU name such as "x86-64-v3".
  std::string targetCpu = "host";
  /// LLVM optimization level for the generated code (0-3).
  unsigned optLevel = 3;
  /// Fuse elementwise linalg ops (see TensorPipelineOptions).
  bool fuseElementwise = true;
  /// Tile and vectorize contractions for the CPU (see CpuCodegenOptions).
  bool tileContractions = true;
  /// Run parallel loops on the runtime's threads (see CpuCodegenOptions).
  bool threads = true;
  /// For Target::CPU: run matrix products and row reductions as the GPU's
  /// kernels compute them, in host loops: a test of the GPU kernels (see
  /// CpuCodegenOptions).
  bool emulateGpuKernels = false;
  /// f32 matrix products on the GPU's tensor cores with operands rounded to
  /// TF32 (sm_80 and later; with emulateGpuKernels, as they compute it).
  /// Off by default: f32 keeps f32 precision.
  bool allowTf32 = false;
  /// f16 and bf16 matrix products on the GPU's tensor cores where the chip
  /// has them (sm_80 and later); off: on the FMA units, summed in f32 all
  /// the same (with emulateGpuKernels, as either computes them).
  bool tensorCores = true;
  /// For Target::CUDA: neighbouring independent kernels of small grids as
  /// one launch (kiln-gpu-merge-launches); off to tell a merged kernel's
  /// fault from its parts'.
  bool mergeLaunches = true;
  /// For Target::CUDA: the GPU architecture the kernels are compiled for
  /// (sm_80, sm_90, sm_90a, ...) and their form: "isa" (PTX, which the
  /// driver compiles for the GPU it runs on), "bin" (a cubin for `gpuChip`
  /// only) or "fatbin" (the cubin plus the PTX, for newer GPUs).
  std::string gpuChip = "sm_90";
  std::string gpuFormat = "isa";
  /// For Target::CPU: how many partitions LLVM optimizes and compiles the
  /// module in, one thread each; 0 chooses from the module's size (big
  /// training steps are split, eager kernels are not).
  unsigned codegenPartitions = 0;
  /// Print the IR after every pass to stderr (debugging aid).
  bool printIRAfterAll = false;
};

/// Owns an MLIRContext with the Kiln dialect, every upstream dialect and the
/// LLVM IR translations registered. Not thread-safe: use one per thread.
class Compiler {
public:
  Compiler();
  ~Compiler();
  Compiler(const Compiler &) = delete;
  Compiler &operator=(const Compiler &) = delete;

  /// The context modules must live in to be compiled by this compiler.
  MLIRContext &getContext() { return *context; }

  /// Parses `source` (named `filename` in diagnostics). On failure returns a
  /// null module and a KILN_INVALID_ARGUMENT status whose message holds the
  /// diagnostics with file:line:col.
  OwningOpRef<ModuleOp> parse(llvm::StringRef source, llvm::StringRef filename,
                              kiln_status_t *status);

  /// Runs the pipeline of `options.target` on `module` (in place), up to the
  /// LLVM dialect with Kiln's entry points. Diagnostics go into the returned
  /// status, prefixed by their locations.
  kiln_status_t lower(ModuleOp module, const CompileOptions &options = {});

  /// Runs the textual pass pipeline `pipeline` (as `tensor-opt
  /// --pass-pipeline='builtin.module(...)'` would, e.g.
  /// "kiln-freeze-variables{checkpoint=w.safetensors}") on `module` in
  /// place. The pipeline may name Kiln's passes and pipelines and MLIR's
  /// generic transforms (canonicalize, cse, inline, ...). Errors carry the
  /// diagnostics, as for lower.
  kiln_status_t runPasses(ModuleOp module, llvm::StringRef pipeline);

  /// Lowers `module` and JIT-compiles it into a new executable (`*out`,
  /// released by the caller). The module is consumed (lowered in place).
  kiln_status_t jit(ModuleOp module, const CompileOptions &options,
                    kiln_executable_t **out);

  /// Like jit, with an on-disk cache of compiled code: when `cacheDir`
  /// holds an object for `cacheKey` (built by this same Kiln build), it is
  /// loaded without compiling anything and `module` is left alone; else the
  /// module is compiled and its object saved there (atomically; a cache
  /// that cannot be written is ignored). `*fromCache` says which happened.
  /// With `variableNames`, the executable binds each variable named in the
  /// compiled code (a key of the map) under the mapped name instead: a
  /// module compiled with names that every process gives it (see
  /// canonicalizeVariableNames) serves each process's own names.
  kiln_status_t
  jitCached(ModuleOp module, const CompileOptions &options,
            llvm::StringRef cacheKey, llvm::StringRef cacheDir,
            kiln_executable_t **out, bool *fromCache,
            const llvm::StringMap<std::string> *variableNames = nullptr);

  /// jitCached's CPU code generation after lowering: LLVM IR compiled to
  /// object files (in partitions on several threads for a big module), then
  /// linked by a JIT and cached.
  kiln_status_t
  jitObjects(ModuleOp module, const CompileOptions &options,
             llvm::orc::JITTargetMachineBuilder &builder,
             llvm::StringRef cacheKey, llvm::StringRef cacheDir,
             kiln_executable_t **out,
             const llvm::StringMap<std::string> *variableNames,
             double *mlirSeconds);

  /// Loads the object cached for `cacheKey` in `cacheDir`, if any: returns
  /// null with `*out` null when there is none.
  kiln_status_t
  loadCached(const CompileOptions &options, llvm::StringRef cacheKey,
             llvm::StringRef cacheDir, kiln_executable_t **out,
             const llvm::StringMap<std::string> *variableNames = nullptr);

  /// Renames the variables of `module` (its kiln.variable symbols and every
  /// reference to them) `kiln_var_0`, `kiln_var_1`, ... in the order they
  /// are declared, and returns the map from the new names to the old ones.
  /// Traced modules name variables after Python objects, which differ from
  /// one process to the next; renamed, the same program has the same text
  /// (and disk cache key) in every process.
  static llvm::StringMap<std::string>
  canonicalizeVariableNames(ModuleOp module);

  /// parse + jit.
  kiln_status_t jitSource(llvm::StringRef source, llvm::StringRef filename,
                          const CompileOptions &options,
                          kiln_executable_t **out);

private:
  std::unique_ptr<MLIRContext> context;
};

} // namespace mlir::kiln

#endif // KILN_COMPILER_COMPILER_H
