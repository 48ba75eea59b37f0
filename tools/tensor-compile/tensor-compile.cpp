//===- tensor-compile.cpp - Compile a Kiln module ahead of time -----------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
//   tensor-compile model.mlir -o out/mlp [--target=cpu] [--target-cpu=x86-64-v3] [-O2]
//   tensor-compile model.mlir -o out/mlp --target=cuda [--chip=sm_90]
//
// writes out/libmlp.so, out/mlp.h and, next to them, the Kiln runtime the
// header calls (out/libkiln_runtime.so, out/kiln/Runtime/Runtime.h). See
// docs/aot.md.
//
//===----------------------------------------------------------------------===//

#include "kiln/Compiler/Aot.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>

using namespace llvm;

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<file.mlir>"),
                                      cl::Required);
static cl::opt<std::string>
    output("o", cl::desc("Output: <dir>/<name> gives <dir>/lib<name>.so and "
                         "<dir>/<name>.h"),
           cl::value_desc("dir/name"), cl::Required);
static cl::opt<mlir::kiln::Target>
    target("target", cl::desc("What to generate code for"),
           cl::init(mlir::kiln::Target::CPU),
           cl::values(clEnumValN(mlir::kiln::Target::CPU, "cpu",
                                 "the host's CPU architecture (default)"),
                      clEnumValN(mlir::kiln::Target::CUDA, "cuda",
                                 "NVIDIA GPUs: kernels for --chip, host "
                                 "code for the host CPU")));
static cl::opt<std::string>
    chip("chip",
         cl::desc("With --target=cuda: the GPU architecture (sm_80, sm_90, "
                  "sm_90a, ...; default sm_90)"),
         cl::init("sm_90"));
static cl::opt<std::string> gpuFormat(
    "gpu-format",
    cl::desc("With --target=cuda: fatbin (a cubin for --chip plus PTX for "
             "newer GPUs; default), bin (the cubin only) or isa (PTX only)"),
    cl::init("fatbin"));
static cl::opt<bool> mergeLaunches(
    "merge-launches",
    cl::desc("With the GPU: run neighbouring independent small kernels as "
             "one launch (default; =false keeps one launch per kernel)"),
    cl::init(true));
static cl::opt<bool> allowTf32(
    "allow-tf32",
    cl::desc("With --target=cuda: f32 matrix products on the tensor cores "
             "with operands rounded to TF32 (sm_80 and later)"),
    cl::init(false));
static cl::opt<bool> tensorCores(
    "tensor-cores",
    cl::desc("With --target=cuda: f16 and bf16 matrix products on the "
             "tensor cores (sm_80 and later; default); false: on the FMA "
             "units"),
    cl::init(true));
static cl::opt<std::string>
    targetCpu("target-cpu",
              cl::desc("CPU to generate code for: native (default) or an "
                       "LLVM CPU name such as x86-64-v3"),
              cl::init("native"));
static cl::opt<unsigned> codegenPartitions(
    "codegen-partitions",
    cl::desc("CPU: compile the LLVM module in this many partitions, one "
             "thread each (default 0: chosen from the module's size)"),
    cl::init(0));
static cl::opt<unsigned> optLevel("O", cl::desc("Optimization level (0-3)"),
                                  cl::init(3), cl::Prefix);
static cl::opt<std::string>
    linker("linker", cl::desc("C compiler driver used to link the shared "
                              "object (default: $CC, else cc)"));
static cl::opt<bool> timing("time", cl::desc("Print the compile time"));

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(
      argc, argv,
      "Kiln ahead-of-time compiler: a module in the Kiln dialect to a shared "
      "library and a C header\n");
  auto start = std::chrono::steady_clock::now();
  auto fail = [](kiln_status_t status) {
    errs() << "tensor-compile: " << kiln_status_message(status) << "\n";
    kiln_status_free(status);
    return 1;
  };
  ErrorOr<std::unique_ptr<MemoryBuffer>> file =
      MemoryBuffer::getFile(inputFile);
  if (!file) {
    errs() << "tensor-compile: cannot open " << inputFile << ": "
           << file.getError().message() << "\n";
    return 1;
  }
  mlir::kiln::Compiler compiler;
  kiln_status_t status = nullptr;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      compiler.parse((*file)->getBuffer(), inputFile, &status);
  if (!module)
    return fail(status);
  mlir::kiln::AotOptions options;
  options.name = sys::path::filename(output).str();
  options.target = target;
  options.targetCpu = targetCpu;
  options.gpuChip = chip;
  options.gpuFormat = gpuFormat;
  options.allowTf32 = allowTf32;
  options.tensorCores = tensorCores;
  options.mergeLaunches = mergeLaunches;
  options.optLevel = optLevel;
  options.codegenPartitions = codegenPartitions;
  options.sourceName = sys::path::filename(inputFile).str();
  std::string dir = sys::path::parent_path(output).str();
  if (dir.empty())
    dir = ".";
  if (kiln_status_t s =
          mlir::kiln::compileLibrary(compiler, *module, options, dir, linker))
    return fail(s);
  if (timing)
    outs() << "compiled in "
           << std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                            start)
                  .count()
           << " s\n";
  outs() << "wrote " << dir << "/lib" << options.name << ".so, " << dir << "/"
         << options.name << ".h (with libkiln_runtime.so and "
                            "kiln/Runtime/Runtime.h)\n";
  return 0;
}
