//===- ObjectCode.h - LLVM IR to native object files -------------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Shared by the compiler library's sources (not installed): LLVM's
// optimization pipeline and code generator run on a module, whole or split
// into partitions compiled on several threads at once.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_LIB_COMPILER_OBJECTCODE_H
#define KILN_LIB_COMPILER_OBJECTCODE_H

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/Error.h"
#include "llvm/Target/TargetMachine.h"

#include <memory>
#include <vector>

namespace mlir::kiln {

/// One object file's bytes.
using ObjectFile = llvm::SmallVector<char, 0>;

/// Optimizes `module` at `optLevel` (LLVM's O0-O3 pipeline for `machine`)
/// and appends its object file to `object`.
llvm::Error emitObject(llvm::Module &module, llvm::TargetMachine &machine,
                       unsigned optLevel, llvm::SmallVectorImpl<char> &object);

/// How many partitions `module` is compiled in: a property of the module
/// alone (its function definitions and their sizes), never of the machine,
/// so that a module compiles to the same code everywhere. `forced` (not 0)
/// asks for that many, limited by the number of function definitions.
unsigned codegenPartitions(const llvm::Module &module, unsigned forced = 0);

/// Compiles `module` (its triple and data layout set) to `parts` object
/// files, optimized and generated on up to `threads` threads, each
/// partition in its own LLVMContext with a target machine from
/// `makeMachine` (called once per partition, on its thread). Function
/// definitions are dealt out by size; small functions are also copied
/// into the other partitions as `available_externally`, so they stay
/// inlinable everywhere, and so are small constants, so loads of them
/// still fold. With one partition the module is compiled in place.
llvm::Error emitObjects(
    std::unique_ptr<llvm::Module> module, unsigned parts, unsigned threads,
    llvm::function_ref<llvm::Expected<std::unique_ptr<llvm::TargetMachine>>()>
        makeMachine,
    unsigned optLevel, std::vector<ObjectFile> &objects);

/// The threads compilation may use: KILN_COMPILE_THREADS when set (a
/// positive number), else the CPUs this process may run on.
unsigned compileThreads();

} // namespace mlir::kiln

#endif // KILN_LIB_COMPILER_OBJECTCODE_H
