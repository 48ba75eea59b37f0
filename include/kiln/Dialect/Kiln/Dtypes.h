//===- Dtypes.h - Kiln element types as runtime dtypes ----------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The one mapping between the MLIR element types Kiln supports and the
// runtime's dtypes (kiln_dtype_t), whose names (kiln_dtype_name) are MLIR's
// spellings. Only the runtime's C header is needed: the runtime is the
// bottom layer, below the dialect.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_DIALECT_KILN_DTYPES_H
#define KILN_DIALECT_KILN_DTYPES_H

#include "kiln/Runtime/Runtime.h"

#include "mlir/IR/Types.h"

#include <optional>

namespace mlir::kiln {

/// The runtime dtype of an element type, if it is one Kiln supports (f32,
/// f64, f16, bf16, i1, i32, i64, and the storage types i8, i16, ui8, ui16,
/// ui32).
std::optional<kiln_dtype_t> getDtype(Type elementType);

/// The element types getDtype accepts, for messages.
inline constexpr const char kDtypeList[] =
    "f32, f64, f16, bf16, i1, i32, i64, i8, i16, ui8, ui16 or ui32";

/// The element type of a runtime dtype.
Type getElementType(MLIRContext *context, kiln_dtype_t dtype);

} // namespace mlir::kiln

#endif // KILN_DIALECT_KILN_DTYPES_H
