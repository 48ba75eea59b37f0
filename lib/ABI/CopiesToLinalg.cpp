//===- CopiesToLinalg.cpp - memref.copy -> linalg.copy -------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-copies-to-linalg: compiled modules call nothing of MLIR's runner
// utilities (see the pass description).
//
//===----------------------------------------------------------------------===//

#include "kiln/ABI/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNCOPIESTOLINALG
#include "kiln/ABI/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {
struct CopiesToLinalgPass
    : public kiln::impl::KilnCopiesToLinalgBase<CopiesToLinalgPass> {
  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    getOperation()->walk([&](memref::CopyOp copy) { copies.push_back(copy); });
    for (memref::CopyOp copy : copies) {
      OpBuilder b(copy);
      linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(),
                             copy.getTarget());
      copy.erase();
    }
  }
};
} // namespace
