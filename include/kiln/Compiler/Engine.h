//===- Engine.h - The compiler and eager kernel cache of a process -*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// What a front end needs from the compiler at run time, without MLIR text:
//
//  - eager execution: `run` an op on runtime buffers through a kernel
//    compiled once per (op, attributes, input types, device) and kept for
//    the life of the process (shape-generic kernels serve every leading
//    extent), with the compiled code also kept on disk between processes;
//  - compiling whole traced modules through the same disk cache;
//  - merging traced modules into one (for AOT libraries);
//  - the policies behind both: where the disk cache is, how code is
//    compiled for a device (chip, TF32).
//
// Errors are runtime statuses (kiln_status_t) that name the problem.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_COMPILER_ENGINE_H
#define KILN_COMPILER_ENGINE_H

#include "kiln/Compiler/Compiler.h"
#include "kiln/Compiler/OpAttributes.h"

#include "llvm/ADT/StringMap.h"

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace mlir::kiln {

class Engine {
public:
  Engine();
  Engine(const Engine &) = delete;
  Engine &operator=(const Engine &) = delete;
  /// Kernels stay loaded: their code may still run on another thread when
  /// a process exits, so an Engine meant to live until exit is never
  /// destroyed (see the Python binding); tests destroy theirs.
  ~Engine();

  MLIRContext &getContext() { return compiler.getContext(); }
  Compiler &getCompiler() { return compiler; }

  /// Runs `op` on `inputs` on `device`, copying inputs that live elsewhere
  /// there (as TensorFlow copies an op's inputs to its device). Result
  /// types are inferred by the op unless `results` gives them. The op runs
  /// through its shape-generic kernel when it has one (leading extents
  /// open), else through the kernel for exactly these input types; both
  /// are compiled on first use. On success `outputs` holds new buffers
  /// owned by the caller.
  kiln_status_t run(llvm::StringRef op, llvm::ArrayRef<kiln_buffer_t *> inputs,
                    const OpAttributes &attributes,
                    llvm::ArrayRef<TensorTypeSpec> results,
                    kiln_device_t device,
                    std::vector<kiln_buffer_t *> &outputs);

  /// Compiles a module (a trace, a gradient) for `device` through the disk
  /// cache, keyed by the module's text with its locations (which error
  /// messages quote). Variables are compiled under names every process
  /// gives them and bound under this process's names, so a second run of
  /// a script loads its compiled steps from disk.
  kiln_status_t jit(ModuleOp module, kiln_device_t device,
                    kiln_executable_t **out);

  /// Merges modules into one: module i's single public function becomes
  /// `names[i]`, its private functions get the suffix `_names[i]` (traces
  /// never clash), variables are renamed by `renames` and shared by name
  /// (a variable declared with two types is an error).
  kiln_status_t mergeModules(llvm::ArrayRef<std::string> texts,
                             llvm::ArrayRef<std::string> names,
                             const std::map<std::string, std::string> &renames,
                             std::string &merged);

  /// tensor-compile from a front end: module `text` into
  /// `outDir`/lib`name`.so and `name`.h, with the runtime.
  kiln_status_t compileLibrary(const std::string &text,
                               const std::string &outDir,
                               const std::string &name,
                               const std::string &targetCpu);

  /// Parses `text`, runs the pass pipeline `pipeline` on it and prints the
  /// result into `out`.
  kiln_status_t runPasses(const std::string &text, const std::string &pipeline,
                          std::string &out);

  /// How code is compiled for `device`: the host CPU, or PTX for
  /// $KILN_GPU_CHIP (default sm_80, which the driver compiles for the GPU it
  /// finds), with TF32 products if allowed.
  CompileOptions compileOptions(kiln_device_t device) const;

  /// f32 products compiled for a GPU from now on use TF32 tensor cores.
  void setAllowTf32(bool enabled) { tf32.store(enabled); }
  bool allowTf32() const { return tf32.load(); }

  /// Where compiled code is kept between processes: $KILN_CACHE_DIR, else
  /// $XDG_CACHE_HOME/kiln/kernels or ~/.cache/kiln/kernels; "" (disk cache
  /// off) when KILN_CACHE_DIR is empty or "off".
  static std::string cacheDir();

  /// Counters: eager kernels compiled or loaded, eager cache hits, kernels
  /// and modules loaded from disk, modules compiled (not loaded).
  size_t kernelsCompiled() const;
  size_t cacheHits() const { return hits.load(); }
  size_t loadedFromDisk() const { return loaded.load(); }
  size_t modulesCompiled() const { return compiledModules.load(); }

private:
  /// The cached kernel for `inputs`' types (open leading extents if
  /// `generic`): compiled on first use; null if the op has no such kernel
  /// (generic only). Exact kernels that fail to build report why.
  kiln_status_t kernel(llvm::StringRef op,
                       llvm::ArrayRef<kiln_buffer_t *> inputs,
                       const OpAttributes &attributes,
                       llvm::ArrayRef<TensorTypeSpec> results,
                       kiln_device_t device, bool generic,
                       kiln_executable_t **out);
  kiln_status_t compileKernel(llvm::StringRef op,
                              llvm::ArrayRef<kiln_buffer_t *> inputs,
                              const OpAttributes &attributes,
                              llvm::ArrayRef<TensorTypeSpec> results,
                              kiln_device_t device, bool generic,
                              kiln_executable_t **out);

  Compiler compiler;
  uint64_t serial = 0; // this engine's number in the process (from 1)
  std::atomic<bool> tf32{false};
  mutable std::mutex mutex; // the kernel map, and the compiler's context
  std::unordered_map<std::string, kiln_executable_t *> kernels;
  std::atomic<size_t> hits{0}, loaded{0}, compiledModules{0};
};

} // namespace mlir::kiln

#endif // KILN_COMPILER_ENGINE_H
