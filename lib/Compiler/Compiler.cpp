//===- Compiler.cpp - Compile Kiln modules to runnable code
//----------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Compiler/Compiler.h"
#include "kiln/Pipelines/Pipelines.h"

#include "Kiln/KilnDialect.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"

#include <mutex>

using namespace mlir;
using namespace mlir::kiln;

/// Prints a location as "file:line:col" when it has one (looking through
/// names, call sites and fused locations), else MLIR's own form.
static void printLocation(llvm::raw_ostream &os, Location loc) {
  FileLineColLoc file;
  loc->walk([&](Location inner) {
    if (auto flc = dyn_cast<FileLineColLoc>(inner)) {
      file = flc;
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (file)
    os << file.getFilename().getValue() << ":" << file.getLine() << ":"
       << file.getColumn();
  else
    os << loc;
}

/// Collects diagnostics as text ("file:line:col: error: message").
namespace {
class DiagnosticCollector {
public:
  explicit DiagnosticCollector(MLIRContext &context)
      : handler(&context, [this](Diagnostic &diag) {
          llvm::raw_string_ostream os(text);
          if (!text.empty())
            os << "\n";
          printLocation(os, diag.getLocation());
          os << ": ";
          switch (diag.getSeverity()) {
          case DiagnosticSeverity::Error:
            os << "error: ";
            break;
          case DiagnosticSeverity::Warning:
            os << "warning: ";
            break;
          case DiagnosticSeverity::Note:
            os << "note: ";
            break;
          case DiagnosticSeverity::Remark:
            os << "remark: ";
            break;
          }
          os << diag.str();
          return success();
        }) {}

  /// A status holding the collected text, prefixed by `what`.
  kiln_status_t status(kiln_status_code_t code, llvm::StringRef what) const {
    std::string message = what.str();
    if (!text.empty())
      message += ":\n" + text;
    return kiln_status_create(code, "%s", message.c_str());
  }

private:
  std::string text;
  ScopedDiagnosticHandler handler;
};
} // namespace

static void initializeLLVMOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

Compiler::Compiler() {
  initializeLLVMOnce();
  DialectRegistry registry;
  registry.insert<KilnDialect>();
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  context = std::make_unique<MLIRContext>(registry);
  context->loadAllAvailableDialects();
  // Pipelines are built from text: their passes must be registered.
  static std::once_flag once;
  std::call_once(once, [] { registerKilnPipelines(); });
}

Compiler::~Compiler() = default;

OwningOpRef<ModuleOp> Compiler::parse(llvm::StringRef source,
                                      llvm::StringRef filename,
                                      kiln_status_t *status) {
  DiagnosticCollector diagnostics(*context);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(source, filename), llvm::SMLoc());
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(sourceMgr, ParserConfig(context.get()));
  *status = module ? nullptr
                   : diagnostics.status(KILN_INVALID_ARGUMENT,
                                        ("cannot parse " + filename).str());
  return module;
}

kiln_status_t Compiler::lower(ModuleOp module, const CompileOptions &options) {
  DiagnosticCollector diagnostics(*context);
  PassManager pm(context.get());
  if (options.printIRAfterAll) {
    context->disableMultithreading();
    pm.enableIRPrinting();
  }
  CpuPipelineOptions pipelineOptions;
  pipelineOptions.fuseElementwise = options.fuseElementwise;
  buildCpuPipeline(pm, pipelineOptions);
  if (failed(pm.run(module)))
    return diagnostics.status(KILN_INVALID_ARGUMENT, "compilation failed");
  return nullptr;
}

static void *lookupSymbol(void *ctx, const char *name) {
  auto *engine = static_cast<ExecutionEngine *>(ctx);
  llvm::Expected<void *> address = engine->lookup(name);
  if (!address) {
    llvm::consumeError(address.takeError());
    return nullptr;
  }
  return *address;
}

static void releaseEngine(void *ctx) {
  delete static_cast<ExecutionEngine *>(ctx);
}

kiln_status_t Compiler::jit(ModuleOp module, const CompileOptions &options,
                            kiln_executable_t **out) {
  *out = nullptr;
  if (kiln_status_t status = lower(module, options))
    return status;
  DiagnosticCollector diagnostics(*context);
  // The transformer is a function_ref: keep it alive through create().
  std::function<llvm::Error(llvm::Module *)> transformer =
      makeOptimizingTransformer(options.optLevel, /*sizeLevel=*/0,
                                /*targetMachine=*/nullptr);
  ExecutionEngineOptions engineOptions;
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel =
      static_cast<llvm::CodeGenOptLevel>(std::min(options.optLevel, 3u));
  engineOptions.enableGDBNotificationListener = false;
  engineOptions.enablePerfNotificationListener = false;
  auto engine = ExecutionEngine::create(module, engineOptions);
  if (!engine) {
    std::string message = llvm::toString(engine.takeError());
    return kiln_status_create(KILN_INTERNAL, "JIT compilation failed: %s",
                              message.c_str());
  }
  ExecutionEngine *raw = engine->release();
  auto *manifest =
      static_cast<const char *>(lookupSymbol(raw, "kiln_manifest"));
  if (!manifest) {
    delete raw;
    return kiln_status_create(KILN_INTERNAL,
                              "compiled module has no kiln_manifest");
  }
  return kiln_executable_create(manifest, lookupSymbol, raw, releaseEngine,
                                out);
}

kiln_status_t Compiler::jitSource(llvm::StringRef source,
                                  llvm::StringRef filename,
                                  const CompileOptions &options,
                                  kiln_executable_t **out) {
  *out = nullptr;
  kiln_status_t status = nullptr;
  OwningOpRef<ModuleOp> module = parse(source, filename, &status);
  if (!module)
    return status;
  return jit(*module, options, out);
}
