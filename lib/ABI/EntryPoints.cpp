//===- EntryPoints.cpp - What the ABI passes share ------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/ABI/EntryPoints.h"

#include "llvm/ADT/StringExtras.h"

using namespace mlir;

ArrayAttr mlir::kiln::getAssignedVariables(func::FuncOp func) {
  return func->getAttrOfType<ArrayAttr>("kiln.assigned");
}

int64_t mlir::kiln::getVariableArgument(func::FuncOp func, Attribute name) {
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
    if (func.getArgAttr(i, "kiln.variable") == name)
      return i;
  return -1;
}

bool mlir::kiln::isCIdentifier(StringRef name) {
  if (name.empty() || !(llvm::isAlpha(name[0]) || name[0] == '_'))
    return false;
  return llvm::all_of(name,
                      [](char c) { return llvm::isAlnum(c) || c == '_'; });
}
