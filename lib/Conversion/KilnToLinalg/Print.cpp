//===- Print.cpp - Lowering kiln.print and kiln.custom_vjp to calls --------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln.custom_vjp becomes a call of its forward function. kiln.print
// becomes one call of the runtime per piece, in order:
//
//   kiln_print_text(stream, tensor<*xi8>)                  a text (its bytes)
//   kiln_print_tensor_f32(stream, summarize, tensor<*xf32>) a tensor (one
//                                                      function per element)
//
// The tensors are cast to unranked tensors, which bufferize to unranked
// memrefs: the runtime receives (rank, descriptor) and reads the extents
// and strides from the descriptor (no MLIR inside the runtime). The
// declarations mark their tensor argument read-only, so bufferization
// neither copies it nor orders it after later writes.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::kiln;
using namespace mlir::kiln::lowering;

namespace {

/// The printing function `name(i64..., tensor<*xelement>)`: its tensor is
/// only read (bufferization neither copies nor orders it).
func::FuncOp runtimeFunction(OpBuilder &b, ModuleOp module, StringRef name,
                             unsigned scalars, Type element) {
  SmallVector<Type> inputs(scalars, b.getI64Type());
  inputs.push_back(UnrankedTensorType::get(element));
  func::FuncOp function =
      declareRuntime(b, module.getLoc(), module, name, inputs);
  function.setArgAttr(scalars, "bufferization.access", b.getStringAttr("read"));
  return function;
}

struct PrintLowering : OpConversionPattern<PrintOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(PrintOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto module = op->getParentOfType<ModuleOp>();
    Value stream = arith::ConstantIntOp::create(rewriter, loc,
                                                rewriter.getI64Type(),
                                                op.getStream());
    Value summarize = arith::ConstantIntOp::create(
        rewriter, loc, rewriter.getI64Type(),
        static_cast<int64_t>(op.getSummarize()));
    auto call = [&](func::FuncOp callee, SmallVector<Value> args,
                    Value tensor) {
      auto type = cast<RankedTensorType>(tensor.getType());
      args.push_back(tensor::CastOp::create(
          rewriter, loc, UnrankedTensorType::get(type.getElementType()),
          tensor));
      func::CallOp::create(rewriter, loc, callee, args);
    };
    ArrayAttr texts = op.getTexts();
    for (auto [i, attr] : llvm::enumerate(texts)) {
      StringRef text = cast<StringAttr>(attr).getValue();
      if (!text.empty()) {
        auto bytesType = RankedTensorType::get(
            {static_cast<int64_t>(text.size())}, rewriter.getI8Type());
        SmallVector<int8_t> bytes(text.begin(), text.end());
        Value constant = arith::ConstantOp::create(
            rewriter, loc,
            DenseElementsAttr::get(bytesType, ArrayRef<int8_t>(bytes)));
        call(runtimeFunction(rewriter, module, "kiln_print_text", 1,
                             rewriter.getI8Type()),
             {stream}, constant);
      }
      if (i + 1 == texts.size())
        break;
      Value input = adaptor.getInputs()[i];
      Type element = cast<RankedTensorType>(input.getType()).getElementType();
      std::optional<StringRef> suffix = elementSuffix(element);
      if (!suffix)
        return rewriter.notifyMatchFailure(op, "an element type kiln.print "
                                               "cannot print");
      call(runtimeFunction(rewriter, module,
                           ("kiln_print_tensor_" + *suffix).str(), 2, element),
           {stream, summarize}, input);
    }
    rewriter.eraseOp(op);
    return success();
  }
};

/// kiln.custom_vjp runs its forward function (its gradient was taken by
/// kiln-autodiff before this lowering).
struct CustomVjpLowering : OpConversionPattern<CustomVjpOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(CustomVjpOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOpWithNewOp<func::CallOp>(op, op.getForwardAttr(),
                                              op.getResultTypes(),
                                              adaptor.getInputs());
    return success();
  }
};

} // namespace

std::optional<StringRef> lowering::elementSuffix(Type element) {
  if (element.isF32())
    return StringRef("f32");
  if (element.isF64())
    return StringRef("f64");
  if (element.isF16())
    return StringRef("f16");
  if (element.isBF16())
    return StringRef("bf16");
  if (element.isInteger(1))
    return StringRef("i1");
  if (element.isInteger(32))
    return StringRef("i32");
  if (element.isInteger(64))
    return StringRef("i64");
  return std::nullopt;
}

func::FuncOp lowering::declareRuntime(OpBuilder &b, Location loc,
                                      ModuleOp module, StringRef name,
                                      TypeRange inputs) {
  if (auto existing = module.lookupSymbol<func::FuncOp>(name))
    return existing;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(module.getBody());
  auto function =
      func::FuncOp::create(b, loc, name, b.getFunctionType(inputs, {}));
  function.setPrivate();
  return function;
}

std::pair<Value, Value> lowering::constantText(OpBuilder &b, Location loc,
                                               ModuleOp module,
                                               StringRef text) {
  std::string name =
      "kiln_text_" + std::to_string(llvm::hash_value(text) & 0xffffffffffff);
  auto bytesType =
      MemRefType::get({static_cast<int64_t>(text.size())}, b.getI8Type());
  if (!module.lookupSymbol(name)) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    SmallVector<int8_t> bytes(text.begin(), text.end());
    memref::GlobalOp::create(
        b, loc, name, b.getStringAttr("private"), bytesType,
        DenseElementsAttr::get(
            RankedTensorType::get(bytesType.getShape(), b.getI8Type()),
            ArrayRef<int8_t>(bytes)),
        /*constant=*/true, /*alignment=*/IntegerAttr());
  }
  Value global = memref::GetGlobalOp::create(b, loc, bytesType, name);
  Value address = arith::IndexCastOp::create(
      b, loc, b.getI64Type(),
      memref::ExtractAlignedPointerAsIndexOp::create(b, loc, global));
  Value length =
      arith::ConstantIntOp::create(b, loc, b.getI64Type(), text.size());
  return {address, length};
}

namespace {

/// checkAtRunTime's body; `limit` makes the bound (an i64) inside the
/// branch taken on failure.
void checkAtRunTimeWith(OpBuilder &b, Location loc, ModuleOp module, Value ok,
                        StringRef what, Value value,
                        llvm::function_ref<Value(OpBuilder &)> limit) {
  std::string message = (locationPrefix(loc) + what).str();
  auto i64 = b.getI64Type();
  declareRuntime(b, loc, module, "kiln_check_failed", {i64, i64, i64, i64});
  Value failed = arith::XOrIOp::create(
      b, loc, ok, arith::ConstantIntOp::create(b, loc, 1, 1));
  auto ifOp = scf::IfOp::create(b, loc, TypeRange{}, failed,
                                /*withElseRegion=*/false);
  OpBuilder inside = ifOp.getThenBodyBuilder();
  auto [address, length] = constantText(inside, loc, module, message);
  Value shown = value ? castScalar(inside, loc, value, i64)
                      : arith::ConstantIntOp::create(inside, loc, i64, 0);
  func::CallOp::create(inside, loc, "kiln_check_failed", TypeRange{},
                       ValueRange{address, length, shown, limit(inside)});
}

} // namespace

void lowering::checkAtRunTime(OpBuilder &b, Location loc, ModuleOp module,
                              Value ok, StringRef what, Value value,
                              int64_t bound) {
  checkAtRunTimeWith(b, loc, module, ok, what, value, [&](OpBuilder &in) {
    return Value(arith::ConstantIntOp::create(in, loc, in.getI64Type(), bound));
  });
}

void lowering::checkAtRunTime(OpBuilder &b, Location loc, ModuleOp module,
                              Value ok, StringRef what, Value value,
                              Value bound) {
  checkAtRunTimeWith(b, loc, module, ok, what, value, [&](OpBuilder &in) {
    Type i64 = in.getI64Type();
    return bound.getType().isIndex()
               ? Value(arith::IndexCastOp::create(in, loc, i64, bound))
               : castScalar(in, loc, bound, i64);
  });
}

namespace {

/// kiln.assert: a run-time check of its condition (none without
/// runtime-checks: the pass drops the op for GPU code).
struct AssertLowering : OpConversionPattern<AssertOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(AssertOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value ok = extractScalar(rewriter, op.getLoc(), adaptor.getCondition());
    checkAtRunTime(rewriter, op.getLoc(), op->getParentOfType<ModuleOp>(), ok,
                   op.getMessage(), Value(), -1);
    rewriter.eraseOp(op);
    return success();
  }
};

/// kiln.summary_scalar: kiln_summary_scalar(path, tag, value as f64, step).
struct SummaryScalarLowering : OpConversionPattern<SummaryScalarOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(SummaryScalarOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto module = op->getParentOfType<ModuleOp>();
    auto i64 = rewriter.getI64Type();
    auto f64 = rewriter.getF64Type();
    declareRuntime(rewriter, loc, module, "kiln_summary_scalar",
                   {i64, i64, i64, i64, f64, i64});
    auto [path, pathLength] = constantText(rewriter, loc, module, op.getPath());
    auto [tag, tagLength] = constantText(rewriter, loc, module, op.getTag());
    Value value = castScalar(rewriter, loc,
                             extractScalar(rewriter, loc, adaptor.getValue()),
                             f64);
    Value step = castScalar(rewriter, loc,
                            extractScalar(rewriter, loc, adaptor.getStep()), i64);
    func::CallOp::create(
        rewriter, loc, "kiln_summary_scalar", TypeRange{},
        ValueRange{path, pathLength, tag, tagLength, value, step});
    rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void lowering::populatePrintPatterns(RewritePatternSet &patterns) {
  patterns.add<PrintLowering, CustomVjpLowering, SummaryScalarLowering,
               AssertLowering>(patterns.getContext());
}
