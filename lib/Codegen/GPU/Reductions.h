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
#include "mlir/IR/PatternMatch.h"

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

/// The body of `op` cloned at the rewriter's insertion point for the loop
/// values `ivs` (linalg.index gives them): each input is `input(operand)`
/// when that returns a value, else loaded from its memref where the
/// operand's indexing map puts `ivs` (scalars as they are); the output
/// argument is `out`. Returns the yielded value.
Value inlineBody(RewriterBase &rewriter, Location loc, linalg::GenericOp op,
                 ArrayRef<Value> ivs, Value out,
                 llvm::function_ref<Value(OpOperand *)> input = nullptr);

/// `combiner` (a binary op of a reduction body) cloned at the rewriter's
/// insertion point on `a` and `b`.
Value combineWith(RewriterBase &rewriter, Operation *combiner, Value a,
                  Value b);

/// In a kernel: five xor shuffles, after which every lane of the warp holds
/// the combination of all 32 lanes' `acc`.
Value warpTotal(RewriterBase &rewriter, Location loc, Operation *combiner,
                Value acc);

/// The same on the host, a test of a kernel's indexing: `laneValue(lane)`
/// for the 32 lanes into `lanes` (a memref<32xT>), then each shuffle step
/// as an exchange through `swapped` (the same type); returns lane 0's
/// value.
Value emulatedWarpTotal(RewriterBase &rewriter, Location loc,
                        Operation *combiner, Value lanes, Value swapped,
                        llvm::function_ref<Value(Value)> laneValue);

} // namespace mlir::kiln

#endif // KILN_LIB_CODEGEN_GPU_REDUCTIONS_H
