//===- Aot.h - Ahead-of-time compilation to a shared library ----*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// A module in the Kiln dialect (variables, gradient requests, optimizer
// updates and all) becomes, in `outDir`:
//
//   libNAME.so      the compiled entries and manifest; depends on libc,
//                   libm and the runtime next to it (its temporaries come
//                   from the runtime's pool; symbols prefixed NAME_, so
//                   libraries coexist)
//   NAME.h          a plain C header: a typed function per entry point and
//                   an instance API (variables, checkpoints, errors) over
//                   the Kiln runtime
//   libkiln_runtime.so, kiln/Runtime/Runtime.h
//                   the runtime the header calls (no MLIR or LLVM inside)
//
// Code generation runs in-process (LLVM TargetMachine); only linking the
// shared object uses the system's C compiler driver.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_COMPILER_AOT_H
#define KILN_COMPILER_AOT_H

#include "kiln/Compiler/Compiler.h"

namespace mlir::kiln {

struct AotOptions {
  /// The library's name: libNAME.so, NAME.h, symbol prefix NAME_ (a C
  /// identifier).
  std::string name;
  /// What code is generated for.
  Target target = Target::CPU;
  /// "native" (the host CPU and its features) or an LLVM CPU name such as
  /// "x86-64-v3" (portable to every CPU of that level).
  std::string targetCpu = "native";
  unsigned optLevel = 3;
  /// For Target::CUDA: the GPU architecture and the kernels' form (see
  /// CompileOptions); by default a cubin for sm_90 plus its PTX, which
  /// newer GPUs compile when the library is loaded.
  std::string gpuChip = "sm_90";
  std::string gpuFormat = "fatbin";
  /// For Target::CUDA: f32 products on the tensor cores with TF32 operands.
  bool allowTf32 = false;
  /// For Target::CUDA: f16 and bf16 products on the tensor cores (sm_80+).
  bool tensorCores = true;
  /// For Target::CUDA: merge neighbouring small kernels (see CompileOptions).
  bool mergeLaunches = true;
  /// LLVM partitions, compiled on several threads (0: chosen from the
  /// module's size, as for the JIT; see CompileOptions).
  unsigned codegenPartitions = 0;
  /// The source, for the header's comment.
  std::string sourceName;
};

/// Lowers `module` and writes relocatable PIC objects for the host triple
/// into `objects` (one, or several for a big module: LLVM compiles it in
/// partitions on several threads, as the JIT does); exported symbols are
/// renamed NAME_manifest, NAME_entry_E and NAME_shape_E, everything else
/// stays hidden. `manifest` receives the manifest text. Entry points must
/// have static shapes (an error at the function's location otherwise).
kiln_status_t compileObjects(Compiler &compiler, ModuleOp module,
                             const AotOptions &options,
                             std::vector<llvm::SmallVector<char, 0>> &objects,
                             std::string &manifest);

/// Writes into `header` the C header of a library compiled with `options`
/// from a module with manifest text `manifest`, which is read with the
/// runtime's parser (a malformed manifest is its KILN_DATA_LOSS status).
kiln_status_t generateHeader(const AotOptions &options,
                             const std::string &manifest, std::string &header);

/// compileObjects, then writes the library, its header and the runtime into
/// `outDir` (created if needed). `linker` is the C compiler driver used to
/// link (empty: $CC, else cc, else clang-22).
kiln_status_t compileLibrary(Compiler &compiler, ModuleOp module,
                             const AotOptions &options,
                             const std::string &outDir,
                             const std::string &linker = "");

} // namespace mlir::kiln

#endif // KILN_COMPILER_AOT_H
