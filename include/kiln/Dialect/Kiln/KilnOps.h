//===- KilnOps.h - Kiln dialect operations ----------------------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_DIALECT_KILN_KILNOPS_H
#define KILN_DIALECT_KILN_KILNOPS_H

#include "kiln/Dialect/Kiln/KilnDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/LoopLikeInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/SetVector.h"

#include "kiln/Dialect/Kiln/KilnInterfaces.h.inc"

namespace mlir::kiln {
/// Fails, naming the type, when a tensor operand or result of `op` holds
/// more than 2^63 - 1 bytes (its size in bytes overflows int64).
LogicalResult verifyBoundedExtents(Operation *op);
} // namespace mlir::kiln

namespace mlir::kiln::OpTrait {
/// Marks ops whose lowering takes open (`?`) extents (see KilnBase.td).
template <typename ConcreteType>
class OpenExtents
    : public ::mlir::OpTrait::TraitBase<ConcreteType, OpenExtents> {};

/// Every Kiln op: its tensors' sizes in bytes fit in int64 (see KilnBase.td).
template <typename ConcreteType>
class BoundedExtents
    : public ::mlir::OpTrait::TraitBase<ConcreteType, BoundedExtents> {
public:
  static LogicalResult verifyTrait(Operation *op) {
    return ::mlir::kiln::verifyBoundedExtents(op);
  }
};
} // namespace mlir::kiln::OpTrait

namespace mlir::kiln {

/// True if each type in `inferred` may describe the same values as the one in
/// `actual`: same element type, same rank, equal extents where both are known.
bool areCompatibleReturnTypes(TypeRange inferred, TypeRange actual);

/// Infers the type of an elementwise op over broadcast `operands`. The
/// operands must share an element type; the result has `resultElement`, or
/// that shared type when `resultElement` is null.
LogicalResult inferBroadcastType(std::optional<Location> loc,
                                 ArrayRef<Type> operands, Type resultElement,
                                 SmallVectorImpl<Type> &types);

/// Infers the type of a reduction of `input` over `axes`.
LogicalResult inferReduceType(std::optional<Location> loc, Type input,
                              ArrayRef<int64_t> axes, bool keepDims,
                              SmallVectorImpl<Type> &types);

/// Infers the result types of a loop: each is the most refined type that
/// covers both the initial value and what the body yields (the carried value
/// of any iteration). Before the body exists, the initial types.
LogicalResult inferLoopTypes(TypeRange inits, Region &body,
                             SmallVectorImpl<Type> &types);

/// Emits an error at `loc` (when given) unless `axis` is valid for `rank`.
LogicalResult checkAxis(std::optional<Location> loc, int64_t axis,
                        int64_t rank);

/// The variables `func` reads and assigns, directly or through the functions
/// it calls, as sets of variable symbol names.
struct VariableAccesses {
  llvm::SetVector<StringAttr> read, assigned;
};
VariableAccesses collectVariableAccesses(Operation *func,
                                         SymbolTableCollection &tables);

/// Whether `op` is an optimizer update (kiln.apply_*): it reads and assigns
/// the variable its `variable` attribute names, and its slot variables.
bool isOptimizerUpdate(Operation *op);

/// Checks an optimizer update: the variable exists and has the gradient's
/// type; the learning rate is a scalar of its element type.
LogicalResult verifyOptimizerUpdate(Operation *op, FlatSymbolRefAttr name,
                                    Value grad, Value learningRate,
                                    SymbolTableCollection &tables);

} // namespace mlir::kiln

#define GET_OP_CLASSES
#include "kiln/Dialect/Kiln/KilnOps.h.inc"

namespace mlir::kiln {

/// `x` as a value of `type` (the same elements): `x` itself, or a
/// kiln.reshape; `like`, a value of `type`'s shape, gives the extents when
/// more than one is known only at run time. What gradients use to come
/// back to an operand's or an argument's type.
Value reshapeTo(OpBuilder &b, Location loc, Value x, RankedTensorType type,
                Value like);

/// Whether `v` is a ranked tensor of floats: what carries a gradient.
bool isFloatTensor(Value v);

} // namespace mlir::kiln

namespace mlir::kiln {

/// The variables whose gradients a kiln.grad / kiln.value_and_grad requests,
/// in result order: `wrt_variables`, or with `wrt_all_variables` every
/// floating-point variable the callee reads (directly or through calls), in
/// declaration order. Fails (reporting on the op) for an unknown name.
FailureOr<SmallVector<VariableOp>>
getRequestedVariables(Operation *request, SymbolTableCollection &tables);

} // namespace mlir::kiln

#endif // KILN_DIALECT_KILN_KILNOPS_H
