//===- Diagnostics.h - MLIR diagnostics as runtime statuses -----*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Shared by the compiler library's sources (not installed): errors reported
// with emitError become the text of a kiln_status_t, located as
// "file:line:col: error: message".
//
//===----------------------------------------------------------------------===//

#ifndef KILN_LIB_COMPILER_DIAGNOSTICS_H
#define KILN_LIB_COMPILER_DIAGNOSTICS_H

#include "kiln/Runtime/Runtime.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace mlir::kiln {

/// Prints a location as "file:line:col" when it has one (looking through
/// names, call sites and fused locations), else MLIR's own form.
inline void printLocation(llvm::raw_ostream &os, Location loc) {
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

} // namespace mlir::kiln

#endif // KILN_LIB_COMPILER_DIAGNOSTICS_H
