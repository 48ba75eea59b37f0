//===- EmitEntryPoints.cpp - Kiln's C entry points and manifest ----------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Every compiled module exposes the same C ABI, whether it is JIT-compiled or
// built ahead of time:
//
//   const char kiln_manifest[];       // signatures, see docs/runtime.md
//   int32_t kiln_entry_NAME(void **args, const int64_t *dims);
//                                     // inputs, outputs, variables; the
//                                     // dynamic extents of inputs, outputs
//   int32_t kiln_shape_NAME(const int64_t *in_dims, int64_t *out_dims);
//                                     // only for entries with `?` extents
//
// kiln-emit-entry-points runs last, on the LLVM dialect: it wraps each
// lowered entry (memref descriptors, out-parameters) in that ABI.
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
#define GEN_PASS_DEF_KILNEMITENTRYPOINTS
#include "kiln/ABI/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;

static constexpr llvm::StringLiteral kEntryAttr = "kiln.entry";
static constexpr llvm::StringLiteral kManifestAttr = "kiln.manifest";
static constexpr llvm::StringLiteral kShapeFunctionAttr = "kiln.shape_function";

/// Appends the memref descriptor fields (allocated, aligned, offset, sizes,
/// strides) of a dense row-major buffer at `data` with `shape`; dynamic
/// extents are the i64s at `dims[next]`, `dims[next + 1]`, ...
static void appendDescriptor(OpBuilder &b, Location loc, Value data,
                             ArrayRef<int64_t> shape, Value dims,
                             int64_t &next, SmallVectorImpl<Value> &args) {
  Type i64 = b.getI64Type();
  auto ptr = LLVM::LLVMPointerType::get(b.getContext());
  auto constant = [&](int64_t v) -> Value {
    return LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(v));
  };
  SmallVector<Value> sizes;
  for (int64_t d : shape) {
    if (!ShapedType::isDynamic(d)) {
      sizes.push_back(constant(d));
      continue;
    }
    Value at = LLVM::GEPOp::create(
        b, loc, ptr, i64, dims,
        ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(next++)});
    sizes.push_back(LLVM::LoadOp::create(b, loc, i64, at));
  }
  // Strides of the row-major layout, constants while the extents are.
  SmallVector<Value> strides(shape.size());
  int64_t known = 1;
  Value stride;
  for (size_t k = shape.size(); k-- > 0;) {
    strides[k] = stride ? stride : constant(known);
    if (!stride && !ShapedType::isDynamic(shape[k]))
      known *= shape[k];
    else
      stride = LLVM::MulOp::create(b, loc, strides[k], sizes[k]);
  }
  args.append({data, data, constant(0)});
  args.append(sizes.begin(), sizes.end());
  args.append(strides.begin(), strides.end());
}

/// The number of dynamic extents in `shape`.
static int64_t numDynamic(ArrayRef<int64_t> shape) {
  return llvm::count_if(shape,
                        [](int64_t d) { return ShapedType::isDynamic(d); });
}

/// Checks that `func` was lowered with one descriptor per shape in `shapes`.
static bool hasDescriptors(LLVM::LLVMFuncOp func, ArrayAttr shapes) {
  int64_t expected = 0;
  for (Attribute s : shapes)
    expected += 3 + 2 * cast<DenseI64ArrayAttr>(s).size();
  return static_cast<int64_t>(func.getFunctionType().getNumParams()) ==
         expected;
}

namespace {

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

    SmallVector<LLVM::LLVMFuncOp> entries, shapeFns;
    for (auto func : module.getOps<LLVM::LLVMFuncOp>()) {
      if (func->hasAttr(kEntryAttr))
        entries.push_back(func);
      if (func->hasAttr(kShapeFunctionAttr))
        shapeFns.push_back(func);
    }
    for (LLVM::LLVMFuncOp func : entries) {
      auto entry = func->getAttrOfType<DictionaryAttr>(kEntryAttr);
      auto shapes = entry.getAs<ArrayAttr>("shapes");
      ArrayRef<int64_t> slots =
          entry.getAs<DenseI64ArrayAttr>("slots").asArrayRef();
      if (!hasDescriptors(func, shapes) ||
          !isa<LLVM::LLVMVoidType>(func.getFunctionType().getReturnType())) {
        func.emitError() << "entry point '" << func.getName()
                         << "' was not lowered to the memref calling "
                            "convention with out-parameters";
        return signalPassFailure();
      }
      // The dynamic extents come in slot order (inputs, outputs, variables):
      // where each parameter's start.
      SmallVector<int64_t> firstDim(slots.size(), 0), bySlot(slots.size());
      for (auto [i, slot] : llvm::enumerate(slots))
        bySlot[slot] = static_cast<int64_t>(i);
      int64_t count = 0;
      for (int64_t param : bySlot) {
        firstDim[param] = count;
        count += numDynamic(
            cast<DenseI64ArrayAttr>(shapes[param]).asArrayRef());
      }
      auto wrapper = LLVM::LLVMFuncOp::create(
          b, func.getLoc(), ("kiln_entry_" + func.getName()).str(),
          LLVM::LLVMFunctionType::get(i32, {ptr, ptr}));
      Block *block = wrapper.addEntryBlock(b);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(block);
      Value argv = block->getArgument(0), dims = block->getArgument(1);
      SmallVector<Value> args;
      for (auto [i, attr] : llvm::enumerate(shapes)) {
        Value slot = LLVM::GEPOp::create(
            b, loc, ptr, ptr, argv,
            ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(slots[i])});
        Value data = LLVM::LoadOp::create(b, loc, ptr, slot);
        int64_t next = firstDim[i];
        appendDescriptor(b, loc, data,
                         cast<DenseI64ArrayAttr>(attr).asArrayRef(), dims,
                         next, args);
      }
      LLVM::CallOp::create(b, loc, func, args);
      LLVM::ReturnOp::create(b, loc,
                             ValueRange{LLVM::ConstantOp::create(
                                 b, loc, i32, b.getI32IntegerAttr(0))});
      func.setLinkage(LLVM::Linkage::Internal);
      func->removeAttr(kEntryAttr);
    }

    for (LLVM::LLVMFuncOp func : shapeFns) {
      auto info = func->getAttrOfType<DictionaryAttr>(kShapeFunctionAttr);
      auto shapes = info.getAs<ArrayAttr>("shapes");
      StringRef name = info.getAs<StringAttr>("entry").getValue();
      Type result = func.getFunctionType().getReturnType();
      auto results = dyn_cast<LLVM::LLVMStructType>(result);
      if (!hasDescriptors(func, shapes) ||
          !(result == i32 || (results && results.getBody().front() == i32))) {
        func.emitError() << "the shape function of '" << name
                         << "' was not lowered as expected";
        return signalPassFailure();
      }
      auto wrapper = LLVM::LLVMFuncOp::create(
          b, func.getLoc(), ("kiln_shape_" + name).str(),
          LLVM::LLVMFunctionType::get(i32, {ptr, ptr}));
      Block *block = wrapper.addEntryBlock(b);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(block);
      Value inDims = block->getArgument(0), outDims = block->getArgument(1);
      Value null = LLVM::ZeroOp::create(b, loc, ptr);
      SmallVector<Value> args;
      int64_t next = 0;
      for (Attribute attr : shapes)
        appendDescriptor(b, loc, null,
                         cast<DenseI64ArrayAttr>(attr).asArrayRef(), inDims,
                         next, args);
      Value returned = LLVM::CallOp::create(b, loc, func, args).getResult();
      Value status = returned;
      if (results) {
        status = LLVM::ExtractValueOp::create(b, loc, returned, 0);
        for (unsigned j = 1; j < results.getBody().size(); ++j) {
          Value at = LLVM::GEPOp::create(
              b, loc, ptr, i64, outDims,
              ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(j - 1)});
          LLVM::StoreOp::create(
              b, loc, LLVM::ExtractValueOp::create(b, loc, returned, j), at);
        }
      }
      LLVM::ReturnOp::create(b, loc, ValueRange{status});
      func.setLinkage(LLVM::Linkage::Internal);
      func->removeAttr(kShapeFunctionAttr);
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
