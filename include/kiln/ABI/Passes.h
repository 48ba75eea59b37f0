//===- Passes.h - Kiln's entry-point ABI passes -----------------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The passes that give a compiled module its calling convention, whatever
// the target: entry signatures recorded while they are tensors, shape
// functions for open extents, variable updates written in place, distinct
// output buffers, and the C entry points and manifest at the end.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_ABI_PASSES_H
#define KILN_ABI_PASSES_H

#include "kiln/Dialect/Kiln/KilnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::kiln {

#define GEN_PASS_DECL
#include "kiln/ABI/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "kiln/ABI/Passes.h.inc"

} // namespace mlir::kiln

#endif // KILN_ABI_PASSES_H
