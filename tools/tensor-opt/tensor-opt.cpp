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
#include "kiln/Dialect/Kiln/SourceCheck.h"
#include "kiln/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

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

  // MlirOptMain's steps, with the input checked for text that crashes
  // MLIR's parser (an error at its position instead).
  auto [inputFilename, outputFilename] = mlir::registerAndParseCLIOptions(
      argc, argv, "Kiln optimizer driver (tensor-opt)\n", registry);
  llvm::InitLLVM init(argc, argv);
  mlir::MlirOptMainConfig config = mlir::MlirOptMainConfig::createFromCLOptions();
  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> input =
      mlir::openInputFile(inputFilename, &error);
  if (!input) {
    llvm::errs() << error << "\n";
    return EXIT_FAILURE;
  }
  if (auto bad = mlir::kiln::findUnparsableText(input->getBuffer())) {
    auto [line, column] =
        mlir::kiln::lineAndColumn(input->getBuffer(), bad->offset);
    llvm::errs() << input->getBufferIdentifier() << ":" << line << ":"
                 << column << ": error: " << bad->message << "\n";
    return EXIT_FAILURE;
  }
  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::openOutputFile(outputFilename, &error);
  if (!output) {
    llvm::errs() << error << "\n";
    return EXIT_FAILURE;
  }
  if (mlir::failed(
          mlir::MlirOptMain(output->os(), std::move(input), registry, config)))
    return EXIT_FAILURE;
  output->keep();
  return EXIT_SUCCESS;
}
