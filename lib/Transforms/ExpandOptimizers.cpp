//===- ExpandOptimizers.cpp - Optimizer updates as Kiln ops ---------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln.apply_gradient_descent / apply_momentum / apply_adam name a variable
// and give its gradient; this pass writes the update out as reads, Kiln
// arithmetic and assigns, declaring the optimizer's slot variables (zeros)
// next to the variable. The formulas are in the ops' descriptions. Being
// plain Kiln ops afterwards, an update fuses with the rest of the training
// step and compiles into the same function.
//
//===----------------------------------------------------------------------===//

#include "kiln/Transforms/Passes.h"

#include "kiln/Dialect/Kiln/KilnDialect.h"
#include "kiln/Dialect/Kiln/KilnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNEXPANDOPTIMIZERS
#include "kiln/Transforms/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;

namespace {

/// Builds the update arithmetic at one insertion point.
struct Update {
  OpBuilder &b;
  Location loc;
  Type element;

  Value scalar(double v) {
    auto type = RankedTensorType::get({}, element);
    return ConstantOp::create(
        b, loc, DenseElementsAttr::get(type, b.getFloatAttr(element, v)));
  }
  Value add(Value x, Value y) { return AddOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return SubOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return MulOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return DivOp::create(b, loc, x, y); }
  Value read(VariableOp v) {
    return ReadVariableOp::create(b, loc, v.getType(),
                                  FlatSymbolRefAttr::get(v));
  }
  void assign(VariableOp v, Value value) {
    AssignVariableOp::create(b, loc, FlatSymbolRefAttr::get(v), value);
  }
};

struct ExpandOptimizersPass
    : public kiln::impl::KilnExpandOptimizersBase<ExpandOptimizersPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<Operation *> updates;
    module.walk([&](Operation *op) {
      if (isa<ApplyGradientDescentOp, ApplyMomentumOp, ApplyAdamOp>(op))
        updates.push_back(op);
    });
    for (Operation *op : updates) {
      if (failed(expand(op, symbols)))
        return signalPassFailure();
      op->erase();
    }
  }

  /// The slot variable `name` of `param`'s type, declared (zeros) after
  /// `param` unless it exists.
  FailureOr<VariableOp> slot(Operation *op, VariableOp param, StringRef suffix,
                             SymbolTable &symbols) {
    std::string name = (param.getSymName() + suffix).str();
    if (Operation *existing = symbols.lookup(name)) {
      auto variable = dyn_cast<VariableOp>(existing);
      if (!variable || variable.getType() != param.getType())
        return op->emitError()
               << "the optimizer slot @" << name << " of @"
               << param.getSymName() << " must be a kiln.variable of type "
               << param.getType() << ", but the module has another @" << name;
      return variable;
    }
    OpBuilder b(param->getBlock(), ++Block::iterator(param));
    RankedTensorType type = param.getTensorType();
    auto zeros = DenseElementsAttr::get(
        type, b.getFloatAttr(type.getElementType(), 0.0));
    auto variable = VariableOp::create(b, param.getLoc(), b.getStringAttr(name),
                                       TypeAttr::get(type), zeros);
    symbols.insert(variable);
    return variable;
  }

  LogicalResult expand(Operation *op, SymbolTable &symbols) {
    auto name = op->getAttrOfType<FlatSymbolRefAttr>("variable");
    auto param = symbols.lookup<VariableOp>(name.getValue());
    if (!param)
      return op->emitError() << name << " is not a kiln.variable";
    OpBuilder b(op);
    Value grad = op->getOperand(0), lr = op->getOperand(1);
    Update u{b, op->getLoc(),
             cast<RankedTensorType>(grad.getType()).getElementType()};
    Value w = u.read(param);
    if (isa<ApplyGradientDescentOp>(op)) {
      u.assign(param, u.sub(w, u.mul(grad, lr)));
      return success();
    }
    if (auto momentum = dyn_cast<ApplyMomentumOp>(op)) {
      FailureOr<VariableOp> velocity = slot(op, param, "_momentum", symbols);
      if (failed(velocity))
        return failure();
      Value mu = u.scalar(momentum.getMomentum().convertToDouble());
      Value step = u.mul(grad, lr);
      Value v = u.sub(u.mul(u.read(*velocity), mu), step);
      u.assign(*velocity, v);
      Value delta = momentum.getNesterov() ? u.sub(u.mul(v, mu), step) : v;
      u.assign(param, u.add(w, delta));
      return success();
    }
    auto adam = cast<ApplyAdamOp>(op);
    FailureOr<VariableOp> mSlot = slot(op, param, "_adam_m", symbols);
    FailureOr<VariableOp> vSlot = slot(op, param, "_adam_v", symbols);
    if (failed(mSlot) || failed(vSlot))
      return failure();
    double beta1 = adam.getBeta1().convertToDouble();
    double beta2 = adam.getBeta2().convertToDouble();
    Value b1 = u.scalar(beta1), b2 = u.scalar(beta2), one = u.scalar(1.0);
    Value t = CastOp::create(b, u.loc, RankedTensorType::get({}, u.element),
                             adam.getStep());
    Value m = u.add(u.mul(u.read(*mSlot), b1), u.mul(grad, u.scalar(1 - beta1)));
    Value v = u.add(u.mul(u.read(*vSlot), b2),
                    u.mul(u.mul(grad, grad), u.scalar(1 - beta2)));
    u.assign(*mSlot, m);
    u.assign(*vSlot, v);
    Value correction =
        u.div(SqrtOp::create(b, u.loc,
                             u.sub(one, PowOp::create(b, u.loc, b2, t))),
              u.sub(one, PowOp::create(b, u.loc, b1, t)));
    Value denom = u.add(SqrtOp::create(b, u.loc, v),
                        u.scalar(adam.getEpsilon().convertToDouble()));
    u.assign(param, u.sub(w, u.mul(u.mul(lr, correction), u.div(m, denom))));
    return success();
  }
};

} // namespace
