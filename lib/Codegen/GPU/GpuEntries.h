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

/// Whether `func` has a body and runs on the host of a GPU, its buffers in
/// GPU memory: an entry compiled for a GPU, or a function of the module
/// that such entries call (marked by kiln-gpu-mark-functions before
/// bufferization, so not the helpers bufferization adds, which work on
/// host memory).
inline bool isGpuFunction(func::FuncOp func) {
  return isGpuEntry(func) ||
         (!func.isExternal() &&
          func->hasAttr(KilnDialect::GpuFunctionAttrHelper::getNameStr()));
}

} // namespace mlir::kiln

#endif // KILN_LIB_CODEGEN_GPU_GPUENTRIES_H
