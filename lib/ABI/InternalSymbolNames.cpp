//===- InternalSymbolNames.cpp - Functions out of the C namespace ---------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// A module's functions are named by its author (`@erf`, `@exp`, a traced
// Python function's name). Lowering calls C library functions by name: math
// without an LLVM intrinsic becomes a libm call, and LLVM's own intrinsics
// become libm calls when the object is generated. A function of the module
// named like one of them would be found instead (math-to-libm reuses an
// existing symbol `@erf` and calls it with a float: an invalid call), so
// before lowering every function the module defines is renamed
// `kiln.fn.NAME` (declarations of functions defined elsewhere, such as the
// runtime's, keep their names): the dots make a
// name no C symbol can have. Entry points keep their public name in the
// `kiln.entry_name` attribute, from which kiln-emit-entry-points names
// `kiln_entry_NAME` and `kiln_shape_NAME`; symbol uses (calls, shape-function
// references) follow the rename.
//
//===----------------------------------------------------------------------===//

#include "kiln/ABI/EntryPoints.h"
#include "kiln/ABI/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AttrTypeSubElements.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringSet.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNINTERNALSYMBOLNAMES
#include "kiln/ABI/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;

namespace {
struct InternalSymbolNamesPass
    : public mlir::kiln::impl::KilnInternalSymbolNamesBase<
          InternalSymbolNamesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    Builder b(&getContext());
    KilnDialect::EntryNameAttrHelper entryName(&getContext());
    // Every new name first, then one walk that updates the references:
    // renaming one function at a time walks the module once per function,
    // which a step outlined into thousands of functions cannot afford.
    llvm::DenseMap<StringAttr, StringAttr> renames;
    llvm::StringSet<> taken;
    SmallVector<func::FuncOp> renamed;
    for (auto func : module.getOps<func::FuncOp>()) {
      StringRef name = func.getSymName();
      // Declarations name what the runtime or a library defines (a
      // `kiln_parallel_for`): they keep their names.
      if (func.isExternal() || name.starts_with(kInternalPrefix))
        continue; // (or the pass ran already)
      if (func.isPublic() && !entryName.isAttrPresent(func))
        entryName.setAttr(func, b.getStringAttr(name));
      std::string fresh = (kInternalPrefix + name).str();
      for (unsigned n = 1; symbols.lookup(fresh) || taken.contains(fresh); ++n)
        fresh = (kInternalPrefix + name + "." + llvm::Twine(n)).str();
      taken.insert(fresh);
      renames[func.getSymNameAttr()] = b.getStringAttr(fresh);
      renamed.push_back(func);
    }
    if (renames.empty())
      return;
    AttrTypeReplacer replacer;
    // (Only a reference's root names a function of this module: its nested
    // references name symbols inside another table, left alone.)
    replacer.addReplacement(
        [&](SymbolRefAttr ref) -> std::pair<Attribute, WalkResult> {
          auto it = renames.find(ref.getRootReference());
          if (it == renames.end())
            return {ref, WalkResult::skip()};
          return {SymbolRefAttr::get(it->second, ref.getNestedReferences()),
                  WalkResult::skip()};
        });
    module.walk([&](Operation *op) {
      replacer.replaceElementsIn(op, /*replaceAttrs=*/true, /*replaceLocs=*/false,
                                 /*replaceTypes=*/false);
    });
    for (func::FuncOp func : renamed)
      func.setSymNameAttr(renames[func.getSymNameAttr()]);
  }
};
} // namespace
