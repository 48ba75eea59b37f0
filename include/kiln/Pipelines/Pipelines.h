//===- Pipelines.h - Kiln's compilation pipelines ---------------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// A module is compiled in two stages:
//
//   kiln-tensor-pipeline        shared by every target: optimizer updates,
//                               autodiff, variables, shapes, entry points,
//                               Kiln -> linalg on tensors, shape functions,
//                               elementwise fusion
//   kiln-<target>-codegen-pipeline
//                               one per target: target heuristics, the
//                               variable and output ABI around bufferization,
//                               lowering to the target's code, the C entry
//                               points and the manifest
//
// and `kiln-<target>-pipeline` is both. The builders below add typed passes
// (no pass-pipeline text); the same pipelines are registered for tools with
// typed options.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PIPELINES_PIPELINES_H
#define KILN_PIPELINES_PIPELINES_H

#include "kiln/Dialect/Kiln/KilnDialect.h"
#include "kiln/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"

#include <string>

namespace mlir::kiln {

/// What code is generated for. Each target has its codegen stage.
enum class Target {
  /// The host's CPU architecture, through linalg, vector and LLVM.
  CPU,
  /// NVIDIA GPUs: kernels through NVVM (PTX), launched by host code.
  CUDA,
};

/// The name of `target` as tools spell it ("cpu").
llvm::StringRef stringifyTarget(Target target);

/// Parses a name from stringifyTarget.
std::optional<Target> parseTarget(llvm::StringRef name);

/// Options of the tensor-level stage.
struct TensorPipelineOptions {
  /// Fuse chains of elementwise linalg ops (one loop nest, no temporaries).
  bool fuseElementwise = true;
  /// How kiln-autodiff differentiates loops.
  LoopStrategy autodiffLoops = LoopStrategy::Tape;
  /// The device the entry points are compiled for (recorded in their
  /// descriptions); each codegen pipeline sets its own.
  Device device = Device::cpu;
  /// f16/bf16 matrix products and convolutions computed in f32 (the CPU's;
  /// the GPU's tiled kernels accumulate in f32 themselves, and so does
  /// their emulation on the CPU).
  bool widenHalfProducts = true;
  /// Whether the codegen stage tiles plain matrix products into kernels of
  /// its own (the GPU's kiln-gpu-tile-contractions, which sum halves in
  /// f32); without them (GPU tile-contractions=false), half products are
  /// widened here as on the CPU.
  bool tiledProducts = true;
};

/// Options of the CPU codegen stage.
struct CpuCodegenOptions {
  /// The CPU the code is for: "host" or an LLVM CPU name ("x86-64-v3").
  std::string targetCpu = "host";
  /// Tile, fuse and vectorize contractions for the CPU's caches and
  /// registers (off: plain loops, left to LLVM's vectorizer).
  bool tileContractions = true;
  /// Run parallel loops on the runtime's thread pool (off: on the calling
  /// thread only).
  bool threads = true;
  /// A test of the GPU's kernels on the CPU: matrix products and row
  /// reductions are built as the GPU kernels would compute them, in host
  /// loops (kiln-gpu-tile-contractions and kiln-gpu-warp-reductions with
  /// `emulate`), instead of being compiled for the CPU.
  bool emulateGpuKernels = false;
  /// With emulateGpuKernels: f32 products as the GPU computes them with
  /// TF32 allowed.
  bool allowTf32 = false;
  /// With emulateGpuKernels: f16 and bf16 products as the tensor cores
  /// compute them (on: sm_80 and later) or as the FMA units do (off).
  bool tensorCores = true;
};

/// Options of the whole CPU pipeline.
struct CpuPipelineOptions {
  TensorPipelineOptions tensor;
  CpuCodegenOptions codegen;
};

/// Adds the tensor-level stage, which every target shares: it takes a
/// module of Kiln (and upstream tensor-level) ops to linalg on tensors, with
/// entry points recorded and shape functions split off.
/// The NVIDIA GPU stage's options.
struct GpuCodegenOptions {
  /// The GPU architecture the kernels are compiled for ("sm_90").
  std::string chip = "sm_90";
  /// PTX features ("+ptx80": PTX ISA 8.0, which sm_90 needs).
  std::string features = "+ptx80";
  /// What the kernels are serialized to: "isa" (PTX text), "bin" (a cubin,
  /// by the toolkit's ptxas), "fatbin" (cubin and PTX, by ptxas and
  /// fatbinary) or "llvm" (NVVM IR).
  std::string format = "isa";
  /// The CUDA toolkit (ptxas, fatbinary, libdevice); empty: the one found
  /// when Kiln was configured.
  std::string toolkit;
  /// Threads per block of an elementwise kernel.
  int64_t blockSize = 256;
  /// Tile matrix products through shared memory
  /// (kiln-gpu-tile-contractions); off: one thread per output element.
  bool tileContractions = true;
  /// f16 and bf16 products on the tensor cores where the chip has them
  /// (sm_80 and later); off: on the FMA units like f32.
  bool tensorCores = true;
  /// f32 products on the tensor cores too, operands rounded to TF32 (like
  /// torch.backends.cuda.matmul.allow_tf32); off by default.
  bool allowTf32 = false;
  /// Neighbouring independent kernels of small grids as one launch
  /// (kiln-gpu-merge-launches).
  bool mergeLaunches = true;
};

struct GpuPipelineOptions {
  TensorPipelineOptions tensor;
  GpuCodegenOptions codegen;
};

void buildTensorPipeline(OpPassManager &pm,
                         const TensorPipelineOptions &options);

/// The NVIDIA GPU stage: linalg on tensors (from kiln-tensor-pipeline with
/// device=cuda) to host code in the LLVM dialect that launches kernels,
/// with the kernels serialized in a gpu.binary.
void buildGpuCodegenPipeline(OpPassManager &pm,
                             const GpuCodegenOptions &options);

void buildGpuPipeline(OpPassManager &pm, const GpuPipelineOptions &options);

/// The multiprocessors of the usual data-centre part of a GPU architecture
/// ("sm_90": 132, the H100 and H200 SXM; "sm_80": 108, the A100), which
/// kiln-gpu-tile-contractions sizes its grids for; 132 for one not listed.
int64_t gpuMultiprocessors(llvm::StringRef chip);

/// Adds the CPU codegen stage: from linalg on tensors (the tensor stage's
/// output) to the LLVM dialect with Kiln's C entry points and manifest.
void buildCpuCodegenPipeline(OpPassManager &pm,
                             const CpuCodegenOptions &options);

/// Adds both stages for the CPU.
void buildCpuPipeline(OpPassManager &pm, const CpuPipelineOptions &options);

/// Registers the named pipelines (`kiln-tensor-pipeline`,
/// `kiln-cpu-codegen-pipeline`, `kiln-cpu-pipeline`) for tools. Idempotent.
void registerKilnPipelines();

/// Registers every Kiln pass (transforms, conversions, ABI, codegen) and the
/// pipelines. Idempotent.
void registerAllKilnPasses();

} // namespace mlir::kiln

#endif // KILN_PIPELINES_PIPELINES_H
