//===- EntryPoints.cpp - Kiln's entry-point ABI
//----------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Every compiled module exposes the same C ABI, whether it is JIT-compiled or
// built ahead of time:
//
//   const char kiln_manifest[];            // signatures, see docs/runtime.md
//   int32_t kiln_entry_NAME(void **args);  // inputs, outputs, variables
//
// kiln-prepare-entry-points records the signatures while they are tensors;
// kiln-emit-entry-points writes the wrappers once the module is LLVM.
//
//===----------------------------------------------------------------------===//

#include "kiln/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/StringExtras.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNPREPAREENTRYPOINTS
#define GEN_PASS_DEF_KILNEMITENTRYPOINTS
#include "kiln/Pipelines/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;

static constexpr llvm::StringLiteral kEntryAttr = "kiln.entry";
static constexpr llvm::StringLiteral kManifestAttr = "kiln.manifest";

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

static bool isCIdentifier(StringRef name) {
  if (name.empty() || !(llvm::isAlpha(name[0]) || name[0] == '_'))
    return false;
  return llvm::all_of(name,
                      [](char c) { return llvm::isAlnum(c) || c == '_'; });
}

namespace {

struct PrepareEntryPointsPass
    : public kiln::impl::KilnPrepareEntryPointsBase<PrepareEntryPointsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string manifest = "kiln-manifest 2\n";
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
        for (int64_t d : tensor.getShape())
          manifest += " " + std::to_string(d);
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
        if (!tensor || !tensor.hasStaticShape() || dtype.empty()) {
          func.emitError() << "entry point '" << func.getName() << "': " << kind
                           << " #" << i << " has type " << type
                           << "; entry points take and return statically "
                              "shaped tensors of f32, f64, f16, bf16, i1, "
                              "i32 or i64";
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
        for (int64_t d : tensor.getShape())
          lines += " " + std::to_string(d);
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

struct EmitEntryPointsPass
    : public kiln::impl::KilnEmitEntryPointsBase<EmitEntryPointsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *context = &getContext();
    auto manifest = module->getAttrOfType<StringAttr>(kManifestAttr);
    if (!manifest) {
      module.emitError("no Kiln manifest: run kiln-prepare-entry-points "
                       "before lowering");
      return signalPassFailure();
    }
    OpBuilder b(context);
    b.setInsertionPointToEnd(module.getBody());
    Location loc = module.getLoc();
    auto ptr = LLVM::LLVMPointerType::get(context);
    Type i32 = b.getI32Type(), i64 = b.getI64Type();

    SmallVector<LLVM::LLVMFuncOp> entries;
    for (auto func : module.getOps<LLVM::LLVMFuncOp>())
      if (func->hasAttr(kEntryAttr))
        entries.push_back(func);
    for (LLVM::LLVMFuncOp func : entries) {
      auto entry = func->getAttrOfType<DictionaryAttr>(kEntryAttr);
      auto shapes = entry.getAs<ArrayAttr>("shapes");
      ArrayRef<int64_t> slots =
          entry.getAs<DenseI64ArrayAttr>("slots").asArrayRef();
      // Each memref argument was expanded into
      // (allocated, aligned, offset, sizes..., strides...).
      int64_t expected = 0;
      for (Attribute s : shapes)
        expected += 3 + 2 * cast<DenseI64ArrayAttr>(s).size();
      LLVM::LLVMFunctionType type = func.getFunctionType();
      if (static_cast<int64_t>(type.getNumParams()) != expected ||
          !isa<LLVM::LLVMVoidType>(type.getReturnType())) {
        func.emitError() << "entry point '" << func.getName()
                         << "' was not lowered to the memref calling "
                            "convention with out-parameters";
        return signalPassFailure();
      }
      auto wrapper = LLVM::LLVMFuncOp::create(
          b, func.getLoc(), ("kiln_entry_" + func.getName()).str(),
          LLVM::LLVMFunctionType::get(i32, {ptr}));
      Block *block = wrapper.addEntryBlock(b);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(block);
      Value argv = block->getArgument(0);
      SmallVector<Value> args;
      auto constant = [&](int64_t v) -> Value {
        return LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(v));
      };
      for (auto [i, attr] : llvm::enumerate(shapes)) {
        ArrayRef<int64_t> shape = cast<DenseI64ArrayAttr>(attr).asArrayRef();
        Value slot = LLVM::GEPOp::create(
            b, loc, ptr, ptr, argv,
            ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(slots[i])});
        Value data = LLVM::LoadOp::create(b, loc, ptr, slot);
        args.append({data, data, constant(0)});
        for (int64_t d : shape)
          args.push_back(constant(d));
        int64_t stride = 1;
        SmallVector<Value> strides;
        for (int64_t d : llvm::reverse(shape)) {
          strides.push_back(constant(stride));
          stride *= d;
        }
        args.append(strides.rbegin(), strides.rend());
      }
      LLVM::CallOp::create(b, loc, func, args);
      LLVM::ReturnOp::create(b, loc,
                             ValueRange{LLVM::ConstantOp::create(
                                 b, loc, i32, b.getI32IntegerAttr(0))});
      func.setLinkage(LLVM::Linkage::Internal);
      func->removeAttr(kEntryAttr);
    }

    std::string text = manifest.getValue().str();
    text.push_back('\0');
    LLVM::GlobalOp::create(b, loc,
                           LLVM::LLVMArrayType::get(b.getI8Type(), text.size()),
                           /*isConstant=*/true, LLVM::Linkage::External,
                           "kiln_manifest", b.getStringAttr(text));
    module->removeAttr(kManifestAttr);
  }
};

} // namespace
