//===- EntryPoints.h - What the ABI passes share ----------------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The compiler's side of the contract with the runtime: element types as
// runtime dtypes, the entry description (#kiln.entry) read and written with
// typed accessors, and the manifest built from it. The manifest's text, its
// dtype names and its identifier rule belong to the runtime
// (kiln/Runtime/Manifest.h); the compiler only fills its structures.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_ABI_ENTRYPOINTS_H
#define KILN_ABI_ENTRYPOINTS_H

#include "kiln/Dialect/Kiln/Dtypes.h"
#include "kiln/Dialect/Kiln/KilnDialect.h"
#include "kiln/Runtime/Manifest.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <optional>

namespace mlir::kiln {

/// The runtime's description of a ranked tensor type with a Kiln element
/// type (open extents as kDynamicExtent), or nothing.
std::optional<::kiln::runtime::TensorSpec> getTensorSpec(Type type);

/// Whether `name` can become a C symbol (the runtime's identifier rule).
bool isCIdentifier(llvm::StringRef name);

/// kiln-internal-symbol-names renames functions `kiln.fn.NAME` and keeps an
/// entry point's public NAME in its `kiln.entry_name` attribute.
inline constexpr llvm::StringLiteral kInternalPrefix = "kiln.fn.";

/// The name an entry point is known by outside the module (its
/// `kiln.entry_name`, else its symbol name).
llvm::StringRef publicName(Operation *func);

/// The entry description of a function (func.func or llvm.func), or null.
EntryAttr getEntry(Operation *func);

/// The names of the variables `func` assigns (its last results, in order),
/// or null if it assigns none.
ArrayAttr getAssignedVariables(func::FuncOp func);

/// The variable bound to argument `index` of `func`, or null.
FlatSymbolRefAttr getBoundVariable(func::FuncOp func, unsigned index);

/// The index of the argument of `func` bound to variable `name`, or -1.
int64_t getVariableArgument(func::FuncOp func, Attribute name);

/// The manifest of `module`: the variables it declares (`kiln.variables`)
/// and every function carrying a `kiln.entry`, in module order. Reports at
/// the offending op and fails if something cannot be described (a name that
/// is not a C identifier, a type without a dtype).
FailureOr<::kiln::runtime::Manifest> buildManifest(ModuleOp module);

} // namespace mlir::kiln

#endif // KILN_ABI_ENTRYPOINTS_H
