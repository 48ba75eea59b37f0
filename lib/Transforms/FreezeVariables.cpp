//===- FreezeVariables.cpp - Variables become constants from a checkpoint -===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Freezing turns a stateful module into a stateless inference module (what
// TensorFlow called freezing a graph into a .pb): every kiln.read_variable
// becomes a kiln.constant holding the variable's value from a safetensors
// checkpoint (or its declared initial value when the checkpoint lacks it),
// every assignment and optimizer update is removed, and so are the
// declarations and the functions that differentiate with respect to
// variables (training steps). The checkpoint is read with the runtime's own reader, so a
// file that tensor-run or a generated library saved freezes exactly.
//
//===----------------------------------------------------------------------===//

#include "kiln/Transforms/Passes.h"

#include "kiln/Dialect/Kiln/Dtypes.h"
#include "kiln/Dialect/Kiln/KilnDialect.h"
#include "kiln/Dialect/Kiln/KilnOps.h"
#include "kiln/Runtime/Runtime.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/SymbolTable.h"

#include <memory>

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNFREEZEVARIABLES
#include "kiln/Transforms/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;

namespace {

struct StoreDeleter {
  void operator()(kiln_variables_t *store) const {
    kiln_variables_destroy(store);
  }
};

struct FreezeVariablesPass
    : public kiln::impl::KilnFreezeVariablesBase<FreezeVariablesPass> {
  using KilnFreezeVariablesBase::KilnFreezeVariablesBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *context = &getContext();
    if (checkpoint.empty()) {
      module.emitError("kiln-freeze-variables needs checkpoint=<file>");
      return signalPassFailure();
    }
    kiln_variables_t *raw = nullptr;
    if (kiln_status_t s = kiln_variables_create(&raw)) {
      module.emitError() << kiln_status_message(s);
      kiln_status_free(s);
      return signalPassFailure();
    }
    std::unique_ptr<kiln_variables_t, StoreDeleter> store(raw);
    if (kiln_status_t s =
            kiln_variables_load(store.get(), checkpoint.c_str(), nullptr)) {
      module.emitError() << "cannot freeze variables: "
                         << kiln_status_message(s);
      kiln_status_free(s);
      return signalPassFailure();
    }

    // The value of every declared variable.
    DenseMap<StringAttr, ElementsAttr> values;
    bool ok = true;
    for (auto variable : module.getOps<VariableOp>()) {
      RankedTensorType type = variable.getTensorType();
      kiln_buffer_t *b =
          kiln_variables_find(store.get(), variable.getSymName().str().c_str());
      if (!b) {
        if (auto init = variable.getInitialValueAttr()) {
          values[variable.getSymNameAttr()] = init;
          continue;
        }
        // Reported only if something reads it (below).
        continue;
      }
      SmallVector<int64_t> shape(kiln_buffer_shape(b),
                                 kiln_buffer_shape(b) + kiln_buffer_rank(b));
      auto stored = RankedTensorType::get(
          shape, getElementType(context, kiln_buffer_dtype(b)));
      if (stored != type) {
        variable.emitError() << "cannot freeze @" << variable.getSymName()
                             << ": the checkpoint " << checkpoint << " holds "
                             << stored << " but the variable is " << type;
        ok = false;
        continue;
      }
      const char *data =
          static_cast<const char *>(kiln_buffer_host_data(b));
      size_t bytes = kiln_buffer_byte_size(b);
      if (type.getElementType().isInteger(1)) {
        // Dense i1 data is bit-packed in MLIR; the store has one byte each.
        SmallVector<bool> bits(data, data + bytes);
        values[variable.getSymNameAttr()] = DenseElementsAttr::get(type, bits);
      } else {
        values[variable.getSymNameAttr()] =
            DenseElementsAttr::getFromRawBuffer(type, ArrayRef<char>(data, bytes));
      }
    }
    if (!ok)
      return signalPassFailure();

    // Training steps (gradients with respect to variables) have no meaning
    // once the variables are constants: they are dropped, with a warning.
    for (auto func : llvm::to_vector(module.getOps<func::FuncOp>())) {
      bool trains = func.walk([](Operation *op) {
                          return isa<GradOp, ValueAndGradOp>(op) &&
                                         (op->hasAttr("wrt_variables") ||
                                          op->hasAttr("wrt_all_variables"))
                                     ? WalkResult::interrupt()
                                     : WalkResult::advance();
                        })
                        .wasInterrupted();
      if (!trains)
        continue;
      func.emitWarning() << "kiln-freeze-variables removed @" << func.getName()
                         << ": it differentiates with respect to variables, "
                            "which the frozen module no longer has";
      if (!SymbolTable::symbolKnownUseEmpty(func, module)) {
        func.emitError() << "cannot remove @" << func.getName()
                         << ": other functions call it";
        return signalPassFailure();
      }
      func.erase();
    }

    SmallVector<Operation *> erase;
    WalkResult walk = module.walk([&](Operation *op) {
      if (auto read = dyn_cast<ReadVariableOp>(op)) {
        ElementsAttr value = values.lookup(read.getVariableAttr().getAttr());
        if (!value) {
          read.emitError() << "cannot freeze " << read.getVariableAttr()
                           << ": the checkpoint " << checkpoint
                           << " has no such variable and it has no initial "
                              "value";
          return WalkResult::interrupt();
        }
        OpBuilder b(read);
        read.replaceAllUsesWith(
            ConstantOp::create(b, read.getLoc(), value).getResult());
        erase.push_back(read);
      } else if (isa<AssignVariableOp>(op) || isOptimizerUpdate(op)) {
        erase.push_back(op);
      }
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();
    for (Operation *op : erase)
      op->erase();
    for (auto variable : llvm::to_vector(module.getOps<VariableOp>()))
      variable.erase();
  }
};

} // namespace
