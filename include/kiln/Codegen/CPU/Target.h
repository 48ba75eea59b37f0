//===- Target.h - What Kiln knows about the CPU it compiles for -*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_CPU_TARGET_H
#define KILN_CODEGEN_CPU_TARGET_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>

namespace mlir::kiln {

/// The width in bits of the widest vector registers that code for `cpu`
/// ("host", "native" or an LLVM CPU name such as "x86-64-v3") may use: 512
/// with AVX-512, 256 with AVX2/AVX, else 128. An unknown CPU gets 128.
int64_t getCpuVectorBits(llvm::StringRef cpu);

} // namespace mlir::kiln

#endif // KILN_CODEGEN_CPU_TARGET_H
