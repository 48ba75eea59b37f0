//===- GpuEntries.h - Which functions the GPU passes rewrite ----*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_LIB_CODEGEN_GPU_GPUENTRIES_H
#define KILN_LIB_CODEGEN_GPU_GPUENTRIES_H

#include "kiln/Dialect/Kiln/KilnDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace mlir::kiln {

/// Whether `func` is an entry point with a body, compiled for a GPU: its
/// arguments and results live in GPU memory and its loops become kernels.
inline bool isGpuEntry(func::FuncOp func) {
  auto entry = func->getAttrOfType<EntryAttr>("kiln.entry");
  return !func.isExternal() && entry && entry.getDevice() == Device::cuda;
}

} // namespace mlir::kiln

#endif // KILN_LIB_CODEGEN_GPU_GPUENTRIES_H
