//===- BufferizationStage.h - Bufferization with the entry ABI --*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_LIB_PIPELINES_BUFFERIZATIONSTAGE_H
#define KILN_LIB_PIPELINES_BUFFERIZATIONSTAGE_H

#include "mlir/Pass/PassManager.h"

namespace mlir::kiln {

/// Adds one-shot bufferization of the whole module with the ABI passes that
/// surround it, for any target that bufferizes to plain memrefs: new
/// variable values materialized in the variables' buffers (written in place
/// by their producers where possible), one buffer per entry output,
/// identity layouts at function boundaries, results turned into
/// caller-provided out-parameters, temporaries deallocated.
void addEntryBufferization(OpPassManager &pm);

} // namespace mlir::kiln

#endif // KILN_LIB_PIPELINES_BUFFERIZATIONSTAGE_H
