//===- Dtypes.cpp - Kiln element types as runtime dtypes ------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Dialect/Kiln/Dtypes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;

std::optional<kiln_dtype_t> mlir::kiln::getDtype(Type type) {
  if (type.isF32())
    return KILN_F32;
  if (type.isF64())
    return KILN_F64;
  if (type.isF16())
    return KILN_F16;
  if (type.isBF16())
    return KILN_BF16;
  if (type.isSignlessInteger(1))
    return KILN_I1;
  if (type.isSignlessInteger(32))
    return KILN_I32;
  if (type.isSignlessInteger(64))
    return KILN_I64;
  if (type.isSignlessInteger(8))
    return KILN_I8;
  if (type.isSignlessInteger(16))
    return KILN_I16;
  if (type.isUnsignedInteger(8))
    return KILN_UI8;
  if (type.isUnsignedInteger(16))
    return KILN_UI16;
  if (type.isUnsignedInteger(32))
    return KILN_UI32;
  return std::nullopt;
}

Type mlir::kiln::getElementType(MLIRContext *context, kiln_dtype_t dtype) {
  Builder b(context);
  switch (dtype) {
  case KILN_F32:
    return b.getF32Type();
  case KILN_F64:
    return b.getF64Type();
  case KILN_F16:
    return b.getF16Type();
  case KILN_BF16:
    return b.getBF16Type();
  case KILN_I1:
    return b.getI1Type();
  case KILN_I32:
    return b.getI32Type();
  case KILN_I64:
    return b.getI64Type();
  case KILN_I8:
    return b.getI8Type();
  case KILN_I16:
    return b.getI16Type();
  case KILN_UI8:
    return b.getIntegerType(8, /*isSigned=*/false);
  case KILN_UI16:
    return b.getIntegerType(16, /*isSigned=*/false);
  case KILN_UI32:
    return b.getIntegerType(32, /*isSigned=*/false);
  }
  return Type();
}
