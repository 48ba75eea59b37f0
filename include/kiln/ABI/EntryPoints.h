//===- EntryPoints.h - What the ABI passes share ----------------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Queries on entry points that several ABI passes (and the AOT compiler)
// make: which variables an entry binds and assigns, and whether a name can
// become a C symbol.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_ABI_ENTRYPOINTS_H
#define KILN_ABI_ENTRYPOINTS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"

namespace mlir::kiln {

/// The names of the variables `func` assigns (its last results, in order),
/// or null if it assigns none.
ArrayAttr getAssignedVariables(func::FuncOp func);

/// The index of the argument of `func` bound to variable `name`, or -1.
int64_t getVariableArgument(func::FuncOp func, Attribute name);

/// Whether `name` is a C identifier (entry points, variables and library
/// names become C symbols).
bool isCIdentifier(llvm::StringRef name);

} // namespace mlir::kiln

#endif // KILN_ABI_ENTRYPOINTS_H
