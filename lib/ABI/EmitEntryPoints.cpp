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
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/StringExtras.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNEMITENTRYPOINTS
#include "kiln/ABI/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;


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

/// The shapes of the lowered entry's parameters, in order: inputs, bound
/// variables, then the outputs' out-parameters.
static SmallVector<ArrayRef<int64_t>> parameterShapes(EntryAttr entry) {
  SmallVector<ArrayRef<int64_t>> shapes;
  for (RankedTensorType type : entry.getInputTypes())
    shapes.push_back(type.getShape());
  for (BindingAttr binding : entry.getBindings())
    shapes.push_back(binding.getType().getShape());
  for (RankedTensorType type : entry.getOutputTypes())
    shapes.push_back(type.getShape());
  return shapes;
}

/// Checks that `func` was lowered with one memref descriptor per shape.
static bool hasDescriptors(LLVM::LLVMFuncOp func,
                           ArrayRef<ArrayRef<int64_t>> shapes) {
  int64_t expected = 0;
  for (ArrayRef<int64_t> shape : shapes)
    expected += 3 + 2 * static_cast<int64_t>(shape.size());
  return static_cast<int64_t>(func.getFunctionType().getNumParams()) ==
         expected;
}

namespace {

struct EmitEntryPointsPass
    : public mlir::kiln::impl::KilnEmitEntryPointsBase<EmitEntryPointsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *context = &getContext();
    // The manifest is written once, here, from the entries' descriptions.
    FailureOr<::kiln::runtime::Manifest> manifest = buildManifest(module);
    if (failed(manifest))
      return signalPassFailure();
    KilnDialect::EntryAttrHelper entryAttr(context);
    KilnDialect::ShapeFunctionAttrHelper shapeFunctionAttr(context);
    OpBuilder b(context);
    b.setInsertionPointToEnd(module.getBody());
    Location loc = module.getLoc();
    auto ptr = LLVM::LLVMPointerType::get(context);
    Type i32 = b.getI32Type(), i64 = b.getI64Type();

    SmallVector<LLVM::LLVMFuncOp> entries, shapeFns;
    for (auto func : module.getOps<LLVM::LLVMFuncOp>()) {
      if (entryAttr.isAttrPresent(func))
        entries.push_back(func);
      if (shapeFunctionAttr.isAttrPresent(func))
        shapeFns.push_back(func);
    }
    if (entries.size() != manifest->entries.size()) {
      module.emitError() << "kiln-emit-entry-points: "
                         << manifest->entries.size() - entries.size()
                         << " entry point(s) were not lowered to the LLVM "
                            "dialect";
      return signalPassFailure();
    }
    // Public functions that nobody described: the tensor stage did not run.
    if (entries.empty())
      for (auto func : module.getOps<LLVM::LLVMFuncOp>())
        if (!func.isExternal() && func.getLinkage() == LLVM::Linkage::External) {
          func.emitError() << "'" << publicName(func)
                           << "' is public but not described as an entry "
                              "point: run kiln-prepare-entry-points (the "
                              "tensor stage) before lowering";
          return signalPassFailure();
        }
    for (LLVM::LLVMFuncOp func : entries) {
      EntryAttr entry = entryAttr.getAttr(func);
      if (entry.getDevice() != device) {
        func.emitError() << "entry point '" << publicName(func)
                         << "' is described for "
                         << stringifyDevice(entry.getDevice())
                         << " but its code was generated for "
                         << stringifyDevice(device);
        return signalPassFailure();
      }
      SmallVector<ArrayRef<int64_t>> shapes = parameterShapes(entry);
      if (!hasDescriptors(func, shapes) ||
          !isa<LLVM::LLVMVoidType>(func.getFunctionType().getReturnType())) {
        func.emitError() << "entry point '" << publicName(func)
                         << "' was not lowered to the memref calling "
                            "convention with out-parameters";
        return signalPassFailure();
      }
      // The C pointer array holds inputs, outputs, variables; the lowered
      // function takes inputs, variables, outputs. `slots[i]` is parameter
      // i's place in the array.
      int64_t numIn = entry.getInputs().size();
      int64_t numOut = entry.getOutputs().size();
      int64_t numVars = entry.getVariables().size();
      SmallVector<int64_t> slots;
      for (int64_t i = 0; i < numIn; ++i)
        slots.push_back(i);
      for (int64_t k = 0; k < numVars; ++k)
        slots.push_back(numIn + numOut + k);
      for (int64_t j = 0; j < numOut; ++j)
        slots.push_back(numIn + j);
      // The dynamic extents come in slot order (inputs, outputs, variables):
      // where each parameter's start.
      SmallVector<int64_t> firstDim(slots.size(), 0), bySlot(slots.size());
      for (auto [i, slot] : llvm::enumerate(slots))
        bySlot[slot] = static_cast<int64_t>(i);
      int64_t count = 0;
      for (int64_t param : bySlot) {
        firstDim[param] = count;
        count += numDynamic(shapes[param]);
      }
      auto wrapper = LLVM::LLVMFuncOp::create(
          b, func.getLoc(), ("kiln_entry_" + publicName(func)).str(),
          LLVM::LLVMFunctionType::get(i32, {ptr, ptr}));
      Block *block = wrapper.addEntryBlock(b);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(block);
      Value argv = block->getArgument(0), dims = block->getArgument(1);
      SmallVector<Value> args;
      for (auto [i, shape] : llvm::enumerate(shapes)) {
        Value slot = LLVM::GEPOp::create(
            b, loc, ptr, ptr, argv,
            ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(slots[i])});
        Value data = LLVM::LoadOp::create(b, loc, ptr, slot);
        int64_t next = firstDim[i];
        appendDescriptor(b, loc, data, shape, dims, next, args);
      }
      LLVM::CallOp::create(b, loc, func, args);
      LLVM::ReturnOp::create(b, loc,
                             ValueRange{LLVM::ConstantOp::create(
                                 b, loc, i32, b.getI32IntegerAttr(0))});
      func.setLinkage(LLVM::Linkage::Internal);
    }

    for (LLVM::LLVMFuncOp func : shapeFns) {
      StringRef name = shapeFunctionAttr.getAttr(func).getValue();
      auto owner = dyn_cast_or_null<LLVM::LLVMFuncOp>(
          SymbolTable::lookupSymbolIn(module, name));
      EntryAttr entry = owner ? entryAttr.getAttr(owner) : EntryAttr();
      if (!entry) {
        func.emitError() << "a shape function of '" << name
                         << "', which is not an entry point";
        return signalPassFailure();
      }
      SmallVector<ArrayRef<int64_t>> shapes;
      for (RankedTensorType type : entry.getInputTypes())
        shapes.push_back(type.getShape());
      Type result = func.getFunctionType().getReturnType();
      auto results = dyn_cast<LLVM::LLVMStructType>(result);
      if (!hasDescriptors(func, shapes) ||
          !(result == i32 || (results && results.getBody().front() == i32))) {
        func.emitError() << "the shape function of '" << name
                         << "' was not lowered as expected";
        return signalPassFailure();
      }
      auto wrapper = LLVM::LLVMFuncOp::create(
          b, func.getLoc(), ("kiln_shape_" + publicName(owner)).str(),
          LLVM::LLVMFunctionType::get(i32, {ptr, ptr}));
      Block *block = wrapper.addEntryBlock(b);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(block);
      Value inDims = block->getArgument(0), outDims = block->getArgument(1);
      Value null = LLVM::ZeroOp::create(b, loc, ptr);
      SmallVector<Value> args;
      int64_t next = 0;
      for (ArrayRef<int64_t> shape : shapes)
        appendDescriptor(b, loc, null, shape, inDims, next, args);
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
      shapeFunctionAttr.removeAttr(func);
    }
    for (LLVM::LLVMFuncOp func : entries)
      entryAttr.removeAttr(func);

    std::string text = ::kiln::runtime::printManifest(*manifest);
    text.push_back('\0');
    LLVM::GlobalOp::create(b, loc,
                           LLVM::LLVMArrayType::get(b.getI8Type(), text.size()),
                           /*isConstant=*/true, LLVM::Linkage::External,
                           "kiln_manifest", b.getStringAttr(text));
  }
};

} // namespace
