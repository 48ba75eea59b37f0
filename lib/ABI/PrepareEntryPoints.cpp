//===- PrepareEntryPoints.cpp - Record the signatures of entry points ----===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-prepare-entry-points runs while the signatures are still tensors: it
// checks that every public function can be called through the C ABI (see
// EmitEntryPoints.cpp) and records what the runtime needs to call it.
//
//===----------------------------------------------------------------------===//

#include "kiln/ABI/EntryPoints.h"
#include "kiln/ABI/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/StringExtras.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNPREPAREENTRYPOINTS
#include "kiln/ABI/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;

static constexpr llvm::StringLiteral kEntryAttr = "kiln.entry";
static constexpr llvm::StringLiteral kManifestAttr = "kiln.manifest";

/// Appends " D0 D1 ..." to `line`, `?` for a dynamic extent.
static void appendExtents(std::string &line, ArrayRef<int64_t> shape) {
  for (int64_t d : shape)
    line += ShapedType::isDynamic(d) ? std::string(" ?")
                                     : " " + std::to_string(d);
}

/// The manifest name of a Kiln element type, or "" if it has none.
static StringRef dtypeName(Type type) {
  if (type.isF32())
    return "f32";
  if (type.isF64())
    return "f64";
  if (type.isF16())
    return "f16";
  if (type.isBF16())
    return "bf16";
  if (type.isInteger(1))
    return "i1";
  if (type.isInteger(32))
    return "i32";
  if (type.isInteger(64))
    return "i64";
  return "";
}

namespace {

struct PrepareEntryPointsPass
    : public kiln::impl::KilnPrepareEntryPointsBase<PrepareEntryPointsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string manifest = "kiln-manifest 3\n";
    bool ok = true;
    // The variables the module declares (kiln-externalize-variables).
    if (auto declared = module->getAttrOfType<DictionaryAttr>("kiln.variables")) {
      for (NamedAttribute named : declared) {
        auto tensor = dyn_cast<RankedTensorType>(
            cast<TypeAttr>(named.getValue()).getValue());
        StringRef dtype = tensor ? dtypeName(tensor.getElementType()) : "";
        if (!tensor || dtype.empty() || !tensor.hasStaticShape() ||
            !isCIdentifier(named.getName())) {
          module.emitError() << "variable @" << named.getName()
                             << " cannot be bound by the runtime: it needs a C "
                                "identifier as name and a statically shaped "
                                "tensor of a Kiln element type";
          ok = false;
          continue;
        }
        manifest += "variable " + named.getName().str() + " " + dtype.str() +
                    " " + std::to_string(tensor.getRank());
        appendExtents(manifest, tensor.getShape());
        manifest += "\n";
      }
    }
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isPrivate() || func.isExternal())
        continue;
      if (!isCIdentifier(func.getName())) {
        func.emitError() << "entry point name '" << func.getName()
                         << "' is not a C identifier";
        ok = false;
        continue;
      }
      // Inputs, then the variables the function binds (its last
      // arguments); outputs, then the new values of assigned variables
      // (which are written in place, not returned).
      auto assigned = func->getAttrOfType<ArrayAttr>("kiln.assigned");
      unsigned numVars = 0;
      for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
        if (func.getArgAttr(i, "kiln.variable"))
          ++numVars;
      unsigned numIn = func.getNumArguments() - numVars;
      unsigned numOut =
          func.getNumResults() - (assigned ? assigned.size() : 0);
      SmallVector<Attribute> shapes;
      std::string lines;
      auto describe = [&](Type type, StringRef kind, unsigned i) {
        auto tensor = dyn_cast<RankedTensorType>(type);
        StringRef dtype = tensor ? dtypeName(tensor.getElementType()) : "";
        if (!tensor || dtype.empty()) {
          func.emitError() << "entry point '" << func.getName() << "': " << kind
                           << " #" << i << " has type " << type
                           << "; entry points take and return ranked "
                              "tensors of f32, f64, f16, bf16, i1, i32 or i64";
          return false;
        }
        if (kind == "variable" && !tensor.hasStaticShape()) {
          func.emitError() << "entry point '" << func.getName()
                           << "': variable #" << i << " has type " << type
                           << "; variables have static shapes";
          return false;
        }
        if (kind == "variable") {
          auto name = cast<FlatSymbolRefAttr>(
              func.getArgAttr(numIn + i, "kiln.variable"));
          bool written = assigned && llvm::is_contained(assigned, name);
          lines += "var " + name.getValue().str() + (written ? " rw " : " r ");
        } else {
          lines += kind == "input" ? "in " : "out ";
        }
        lines += dtype.str() + " " + std::to_string(tensor.getRank());
        appendExtents(lines, tensor.getShape());
        lines += "\n";
        shapes.push_back(
            DenseI64ArrayAttr::get(&getContext(), tensor.getShape()));
        return true;
      };
      // One error per function is enough: stop at the first bad type.
      // `shapes` and `slots` follow the lowered function's parameters:
      // inputs, variables, then the outputs' out-parameters; `slots` gives
      // each one's position in the C entry point's pointer array (inputs,
      // outputs, variables).
      bool valid = true;
      SmallVector<int64_t> slots;
      TypeRange argTypes = func.getArgumentTypes();
      TypeRange resultTypes = func.getResultTypes();
      for (unsigned i = 0; i < numIn && valid; ++i) {
        valid = describe(argTypes[i], "input", i);
        slots.push_back(i);
      }
      std::string varLines;
      std::swap(lines, varLines);
      for (unsigned k = 0; k < numVars && valid; ++k) {
        valid = describe(argTypes[numIn + k], "variable", k);
        slots.push_back(numIn + numOut + k);
      }
      std::swap(lines, varLines);
      for (unsigned j = 0; j < numOut && valid; ++j) {
        valid = describe(resultTypes[j], "output", j);
        slots.push_back(numIn + j);
      }
      if (!valid) {
        ok = false;
        continue;
      }
      manifest += "entry " + func.getName().str() + " " +
                  std::to_string(numIn) + " " + std::to_string(numOut) + " " +
                  std::to_string(numVars) + "\n" + lines + varLines + "end\n";
      Builder b(&getContext());
      func->setAttr(
          kEntryAttr,
          b.getDictionaryAttr(
              {b.getNamedAttr("shapes", b.getArrayAttr(shapes)),
               b.getNamedAttr("slots", b.getDenseI64ArrayAttr(slots))}));
    }
    if (!ok)
      return signalPassFailure();
    module->setAttr(kManifestAttr, StringAttr::get(&getContext(), manifest));
  }
};

} // namespace
