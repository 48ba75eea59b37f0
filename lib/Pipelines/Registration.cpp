//===- Registration.cpp - Kiln's pipelines and passes for tools -----------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The pipelines are registered with typed options, e.g.
//
//   tensor-opt m.mlir --kiln-cpu-pipeline="fuse-elementwise=false target-cpu=x86-64-v3"
//   tensor-opt m.mlir --pass-pipeline="builtin.module(kiln-tensor-pipeline)"
//
// Each stage's options are declared once, as a group that the registered
// option structs of that stage and of the whole pipeline both contain.
//
//===----------------------------------------------------------------------===//

#include "kiln/ABI/Passes.h"
#include "kiln/Codegen/CPU/Passes.h"
#include "kiln/Codegen/GPU/Passes.h"
#include "kiln/Conversion/Passes.h"
#include "kiln/Pipelines/Pipelines.h"
#include "kiln/Transforms/Passes.h"

#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"

#include <mutex>

using namespace mlir;
using namespace mlir::kiln;

namespace {

/// The tensor stage's options, declared on whichever option struct holds
/// them.
struct TensorStageOptions {
  explicit TensorStageOptions(mlir::detail::PassOptions &owner)
      : fuseElementwise(owner, "fuse-elementwise",
                        llvm::cl::desc("Fuse chains of elementwise linalg ops"),
                        llvm::cl::init(true)),
        autodiffLoops(
            owner, "autodiff-loops",
            llvm::cl::desc("How reverse loops get each iteration's values"),
            llvm::cl::init(LoopStrategy::Tape),
            llvm::cl::values(
                clEnumValN(LoopStrategy::Tape, "tape",
                           "saved per iteration by the forward pass"),
                clEnumValN(LoopStrategy::Recompute, "recompute",
                           "recomputed from the loop's initial values"))) {}

  TensorPipelineOptions get() const {
    TensorPipelineOptions options;
    options.fuseElementwise = fuseElementwise;
    options.autodiffLoops = autodiffLoops;
    return options;
  }

  mlir::detail::PassOptions::Option<bool> fuseElementwise;
  mlir::detail::PassOptions::Option<LoopStrategy> autodiffLoops;
};

/// The CPU codegen stage's options.
struct CpuCodegenStageOptions {
  explicit CpuCodegenStageOptions(mlir::detail::PassOptions &owner)
      : targetCpu(owner, "target-cpu",
                  llvm::cl::desc("The CPU to generate code for: 'host' or an "
                                 "LLVM CPU name such as x86-64-v3"),
                  llvm::cl::init("host")),
        tileContractions(
            owner, "tile-contractions",
            llvm::cl::desc("Tile, fuse and vectorize contractions for the "
                           "CPU's caches and registers"),
            llvm::cl::init(true)),
        threads(owner, "threads",
                llvm::cl::desc("Run parallel loops on the runtime's thread "
                               "pool (false: on the calling thread only)"),
                llvm::cl::init(true)),
        emulateGpuKernels(
            owner, "emulate-gpu-kernels",
            llvm::cl::desc("Run matrix products and row reductions as the "
                           "GPU's kernels do, in host loops (a test of the "
                           "GPU kernels)"),
            llvm::cl::init(false)),
        allowTf32(owner, "allow-tf32",
                  llvm::cl::desc("With emulate-gpu-kernels: f32 products as "
                                 "the GPU's tensor cores compute them with "
                                 "TF32 operands"),
                  llvm::cl::init(false)),
        tensorCores(owner, "tensor-cores",
                    llvm::cl::desc("With emulate-gpu-kernels: f16 and bf16 "
                                   "products as the tensor cores compute "
                                   "them (false: as the FMA units do)"),
                    llvm::cl::init(true)) {}

  CpuCodegenOptions get() const {
    CpuCodegenOptions options;
    options.targetCpu = targetCpu;
    options.tileContractions = tileContractions;
    options.threads = threads;
    options.emulateGpuKernels = emulateGpuKernels;
    options.allowTf32 = allowTf32;
    options.tensorCores = tensorCores;
    return options;
  }

  mlir::detail::PassOptions::Option<std::string> targetCpu;
  mlir::detail::PassOptions::Option<bool> tileContractions;
  mlir::detail::PassOptions::Option<bool> threads;
  mlir::detail::PassOptions::Option<bool> emulateGpuKernels;
  mlir::detail::PassOptions::Option<bool> allowTf32;
  mlir::detail::PassOptions::Option<bool> tensorCores;
};

/// The GPU codegen stage's options.
struct GpuCodegenStageOptions {
  explicit GpuCodegenStageOptions(mlir::detail::PassOptions &owner)
      : chip(owner, "chip",
             llvm::cl::desc("The NVIDIA GPU architecture (sm_80, sm_90, "
                            "sm_90a)"),
             llvm::cl::init("sm_90")),
        features(owner, "features",
                 llvm::cl::desc("PTX features (+ptx80: PTX ISA 8.0)"),
                 llvm::cl::init("+ptx80")),
        format(owner, "format",
               llvm::cl::desc("Kernels as 'isa' (PTX), 'bin' (cubin), "
                              "'fatbin' or 'llvm' (NVVM IR)"),
               llvm::cl::init("isa")),
        toolkit(owner, "toolkit",
                llvm::cl::desc("The CUDA toolkit (ptxas, libdevice); "
                               "default: the one found at configure time"),
                llvm::cl::init("")),
        blockSize(owner, "block-size",
                  llvm::cl::desc("Threads per block"), llvm::cl::init(256)),
        tileContractions(owner, "tile-contractions",
                         llvm::cl::desc("Tile matrix products through shared "
                                        "memory"),
                         llvm::cl::init(true)),
        tensorCores(owner, "tensor-cores",
                    llvm::cl::desc("f16 and bf16 products on the tensor "
                                   "cores (sm_80 and later)"),
                    llvm::cl::init(true)),
        allowTf32(owner, "allow-tf32",
                  llvm::cl::desc("f32 products on the tensor cores with "
                                 "operands rounded to TF32"),
                  llvm::cl::init(false)),
        mergeLaunches(owner, "merge-launches",
                      llvm::cl::desc("Merge neighbouring independent small "
                                     "kernels into one launch"),
                      llvm::cl::init(true)) {}

  GpuCodegenOptions get() const {
    GpuCodegenOptions options;
    options.chip = chip;
    options.features = features;
    options.format = format;
    options.toolkit = toolkit;
    options.blockSize = blockSize;
    options.tileContractions = tileContractions;
    options.tensorCores = tensorCores;
    options.allowTf32 = allowTf32;
    options.mergeLaunches = mergeLaunches;
    return options;
  }

  mlir::detail::PassOptions::Option<std::string> chip;
  mlir::detail::PassOptions::Option<std::string> features;
  mlir::detail::PassOptions::Option<std::string> format;
  mlir::detail::PassOptions::Option<std::string> toolkit;
  mlir::detail::PassOptions::Option<int64_t> blockSize;
  mlir::detail::PassOptions::Option<bool> tileContractions;
  mlir::detail::PassOptions::Option<bool> tensorCores;
  mlir::detail::PassOptions::Option<bool> allowTf32;
  mlir::detail::PassOptions::Option<bool> mergeLaunches;
};

struct GpuCodegenPipelineCLOptions
    : public PassPipelineOptions<GpuCodegenPipelineCLOptions> {
  GpuCodegenStageOptions codegen{*this};
};

struct GpuPipelineCLOptions
    : public PassPipelineOptions<GpuPipelineCLOptions> {
  TensorStageOptions tensor{*this};
  GpuCodegenStageOptions codegen{*this};
};

struct TensorPipelineCLOptions
    : public PassPipelineOptions<TensorPipelineCLOptions> {
  TensorStageOptions tensor{*this};
  // Alone, the tensor stage does not know its target: it is told the device.
  Option<Device> device{
      *this, "device",
      llvm::cl::desc("The device the entry points are compiled for"),
      llvm::cl::init(Device::cpu),
      llvm::cl::values(clEnumValN(Device::cpu, "cpu", "the host CPU"),
                       clEnumValN(Device::cuda, "cuda", "an NVIDIA GPU"))};
};

struct CpuCodegenPipelineCLOptions
    : public PassPipelineOptions<CpuCodegenPipelineCLOptions> {
  CpuCodegenStageOptions codegen{*this};
};

struct CpuPipelineCLOptions
    : public PassPipelineOptions<CpuPipelineCLOptions> {
  TensorStageOptions tensor{*this};
  CpuCodegenStageOptions codegen{*this};
};

} // namespace

void mlir::kiln::registerKilnPipelines() {
  static std::once_flag once;
  std::call_once(once, [] {
    PassPipelineRegistration<TensorPipelineCLOptions>(
        "kiln-tensor-pipeline",
        "The stage every target shares: Kiln (and upstream tensor-level "
        "ops) to linalg on tensors, with gradients, variables, entry "
        "points and shape functions",
        [](OpPassManager &pm, const TensorPipelineCLOptions &options) {
          TensorPipelineOptions tensor = options.tensor.get();
          tensor.device = options.device;
          buildTensorPipeline(pm, tensor);
        });
    PassPipelineRegistration<CpuCodegenPipelineCLOptions>(
        "kiln-cpu-codegen-pipeline",
        "The CPU stage: linalg on tensors (from kiln-tensor-pipeline) to the "
        "LLVM dialect with Kiln's C entry points and manifest",
        [](OpPassManager &pm, const CpuCodegenPipelineCLOptions &options) {
          buildCpuCodegenPipeline(pm, options.codegen.get());
        });
    PassPipelineRegistration<CpuPipelineCLOptions>(
        "kiln-cpu-pipeline",
        "kiln-tensor-pipeline, then kiln-cpu-codegen-pipeline",
        [](OpPassManager &pm, const CpuPipelineCLOptions &options) {
          CpuPipelineOptions both;
          both.tensor = options.tensor.get();
          both.codegen = options.codegen.get();
          buildCpuPipeline(pm, both);
        });
    PassPipelineRegistration<GpuCodegenPipelineCLOptions>(
        "kiln-gpu-codegen-pipeline",
        "The NVIDIA GPU stage: linalg on tensors (from "
        "kiln-tensor-pipeline{device=cuda}) to host code in the LLVM dialect "
        "that launches kernels compiled through NVVM",
        [](OpPassManager &pm, const GpuCodegenPipelineCLOptions &options) {
          buildGpuCodegenPipeline(pm, options.codegen.get());
        });
    PassPipelineRegistration<GpuPipelineCLOptions>(
        "kiln-gpu-pipeline",
        "kiln-tensor-pipeline{device=cuda}, then kiln-gpu-codegen-pipeline",
        [](OpPassManager &pm, const GpuPipelineCLOptions &options) {
          GpuPipelineOptions both;
          both.tensor = options.tensor.get();
          both.codegen = options.codegen.get();
          buildGpuPipeline(pm, both);
        });
  });
}

void mlir::kiln::registerAllKilnPasses() {
  static std::once_flag once;
  std::call_once(once, [] {
    registerKilnTransformsPasses();
    registerKilnConversionPasses();
    registerKilnABIPasses();
    registerKilnCPUCodegenPasses();
    registerKilnGPUCodegenPasses();
  });
  registerKilnPipelines();
}
