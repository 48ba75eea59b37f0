//===- Reductions.h - Reductions the GPU kernels may reorder ----*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The GPU kernels of reductions (a block through shared memory, a warp
// through shuffles) combine partial results in another order than the
// loops would: only combiners that allow it qualify.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_LIB_CODEGEN_GPU_REDUCTIONS_H
#define KILN_LIB_CODEGEN_GPU_REDUCTIONS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"

#include <optional>
#include <utility>

namespace mlir::kiln {

/// The combiner of `op`'s reduction into its only output
/// (`out = combine(f(inputs), out)`), if it is commutative and associative
/// (`addf`, `addi`, `mulf`, `muli`, `maximumf`, `minimumf`, `maxnumf`,
/// `minnumf`, `max/minsi`, `max/minui`, `andi`, `ori`, `xori`), with its
/// neutral element.
std::optional<std::pair<Operation *, TypedAttr>>
reorderableCombiner(linalg::GenericOp op);

} // namespace mlir::kiln

#endif // KILN_LIB_CODEGEN_GPU_REDUCTIONS_H
