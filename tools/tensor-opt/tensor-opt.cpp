//===- tensor-opt.cpp - Kiln's mlir-opt -----------------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// mlir-opt with the Kiln dialect, passes and pipelines added: reads .mlir,
// runs passes, prints the result. Every upstream dialect, pass, extension
// and LLVM IR translation is registered too, so modules may mix Kiln with
// anything upstream and pipelines may run all the way to a GPU binary.
//
//===----------------------------------------------------------------------===//

#include "kiln/Dialect/Kiln/KilnDialect.h"
#include "kiln/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  // A tool may register everything; the Kiln libraries register only what
  // they build pipelines from.
  mlir::registerAllPasses();
  mlir::kiln::registerAllKilnPasses();

  mlir::DialectRegistry registry;
  registry.insert<mlir::kiln::KilnDialect>();
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::registerAllToLLVMIRTranslations(registry);

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "Kiln optimizer driver (tensor-opt)\n", registry));
}
