//===- ExpandOptimizers.cpp - Optimizer updates as Kiln ops ---------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln.apply_* (gradient_descent, momentum, adam, rmsprop, adagrad, adadelta,
// adamax, nadam, ftrl) name a variable
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
  Value sqrt(Value x) { return SqrtOp::create(b, loc, x); }
  /// a * x + (1 - a) * y: an exponential moving average's step.
  Value mix(double a, Value x, Value y) {
    return add(mul(x, scalar(a)), mul(y, scalar(1.0 - a)));
  }
  Value power(Value base, Value exponent) {
    return PowOp::create(b, loc, base, exponent);
  }
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
      if (isOptimizerUpdate(op))
        updates.push_back(op);
    });
    for (Operation *op : updates) {
      if (failed(expand(op, symbols)))
        return signalPassFailure();
      op->erase();
    }
  }

  /// The slot variable `name` of `param`'s type, declared (filled with
  /// `initial`) after `param` unless it exists.
  FailureOr<VariableOp> slot(Operation *op, VariableOp param, StringRef suffix,
                             SymbolTable &symbols, double initial = 0.0) {
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
    auto filled = DenseElementsAttr::get(
        type, b.getFloatAttr(type.getElementType(), initial));
    auto variable = VariableOp::create(b, param.getLoc(), b.getStringAttr(name),
                                       TypeAttr::get(type), filled);
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
    if (auto rms = dyn_cast<ApplyRmspropOp>(op))
      return expandRmsprop(rms, u, param, w, grad, lr, symbols);
    if (auto adagrad = dyn_cast<ApplyAdagradOp>(op)) {
      FailureOr<VariableOp> acc =
          slot(op, param, "_adagrad", symbols,
               adagrad.getInitialAccumulatorValue().convertToDouble());
      if (failed(acc))
        return failure();
      Value total = u.add(u.read(*acc), u.mul(grad, grad));
      u.assign(*acc, total);
      Value denom = u.sqrt(
          u.add(total, u.scalar(adagrad.getEpsilon().convertToDouble())));
      u.assign(param, u.sub(w, u.div(u.mul(lr, grad), denom)));
      return success();
    }
    if (auto adadelta = dyn_cast<ApplyAdadeltaOp>(op)) {
      FailureOr<VariableOp> gSlot = slot(op, param, "_adadelta_g", symbols);
      FailureOr<VariableOp> dSlot = slot(op, param, "_adadelta_d", symbols);
      if (failed(gSlot) || failed(dSlot))
        return failure();
      double rho = adadelta.getRho().convertToDouble();
      Value eps = u.scalar(adadelta.getEpsilon().convertToDouble());
      Value g2 = u.mix(rho, u.read(*gSlot), u.mul(grad, grad));
      Value d2 = u.read(*dSlot);
      Value delta = u.mul(u.div(u.sqrt(u.add(d2, eps)), u.sqrt(u.add(g2, eps))),
                          grad);
      u.assign(*gSlot, g2);
      u.assign(*dSlot, u.mix(rho, d2, u.mul(delta, delta)));
      u.assign(param, u.sub(w, u.mul(lr, delta)));
      return success();
    }
    if (auto adamax = dyn_cast<ApplyAdamaxOp>(op)) {
      FailureOr<VariableOp> mSlot = slot(op, param, "_adamax_m", symbols);
      FailureOr<VariableOp> uSlot = slot(op, param, "_adamax_u", symbols);
      if (failed(mSlot) || failed(uSlot))
        return failure();
      double beta1 = adamax.getBeta1().convertToDouble();
      Value t = CastOp::create(b, u.loc, RankedTensorType::get({}, u.element),
                               adamax.getStep());
      Value m = u.mix(beta1, u.read(*mSlot), grad);
      Value norm = MaximumOp::create(
          b, u.loc, u.mul(u.read(*uSlot),
                          u.scalar(adamax.getBeta2().convertToDouble())),
          AbsOp::create(b, u.loc, grad));
      u.assign(*mSlot, m);
      u.assign(*uSlot, norm);
      Value correction = u.sub(u.scalar(1.0), u.power(u.scalar(beta1), t));
      Value denom = u.mul(
          correction,
          u.add(norm, u.scalar(adamax.getEpsilon().convertToDouble())));
      u.assign(param, u.sub(w, u.div(u.mul(lr, m), denom)));
      return success();
    }
    if (auto nadam = dyn_cast<ApplyNadamOp>(op))
      return expandNadam(nadam, u, param, w, grad, lr, symbols);
    if (auto ftrl = dyn_cast<ApplyFtrlOp>(op))
      return expandFtrl(ftrl, u, param, w, grad, lr, symbols);
    if (auto lion = dyn_cast<ApplyLionOp>(op)) {
      FailureOr<VariableOp> mSlot = slot(op, param, "_lion_m", symbols);
      if (failed(mSlot))
        return failure();
      if (double decay = lion.getWeightDecay().convertToDouble())
        w = u.sub(w, u.mul(u.mul(lr, u.scalar(decay)), w)); // (decoupled)
      Value m = u.read(*mSlot);
      Value direction = SignOp::create(
          b, u.loc, u.mix(lion.getBeta1().convertToDouble(), m, grad));
      u.assign(param, u.sub(w, u.mul(lr, direction)));
      u.assign(*mSlot, u.mix(lion.getBeta2().convertToDouble(), m, grad));
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
    if (double decay = adam.getWeightDecay().convertToDouble())
      w = u.sub(w, u.mul(u.mul(lr, u.scalar(decay)), w)); // (decoupled)
    Value m = u.mix(beta1, u.read(*mSlot), grad);
    Value v = u.mix(beta2, u.read(*vSlot), u.mul(grad, grad));
    u.assign(*mSlot, m);
    u.assign(*vSlot, v);
    Value correction = u.div(u.sqrt(u.sub(one, u.power(b2, t))),
                             u.sub(one, u.power(b1, t)));
    Value denom =
        u.add(u.sqrt(v), u.scalar(adam.getEpsilon().convertToDouble()));
    u.assign(param, u.sub(w, u.mul(u.mul(lr, correction), u.div(m, denom))));
    return success();
  }

  LogicalResult expandNadam(ApplyNadamOp op, Update &u, VariableOp param,
                            Value w, Value grad, Value lr,
                            SymbolTable &symbols) {
    FailureOr<VariableOp> mSlot = slot(op, param, "_nadam_m", symbols);
    FailureOr<VariableOp> vSlot = slot(op, param, "_nadam_v", symbols);
    if (failed(mSlot) || failed(vSlot))
      return failure();
    double beta1 = op.getBeta1().convertToDouble();
    double beta2 = op.getBeta2().convertToDouble();
    Value one = u.scalar(1.0), b1 = u.scalar(beta1);
    Value t = CastOp::create(u.b, u.loc, RankedTensorType::get({}, u.element),
                             op.getStep());
    // Dozat's momentum schedule at steps t and t + 1.
    auto schedule = [&](Value step) {
      Value decay = u.power(u.scalar(0.96), step);
      return u.mul(b1, u.sub(one, u.mul(u.scalar(0.5), decay)));
    };
    Value ut = schedule(t), ut1 = schedule(u.add(t, one));
    Value product = op.getUProduct();
    Value m = u.mix(beta1, u.read(*mSlot), grad);
    Value v = u.mix(beta2, u.read(*vSlot), u.mul(grad, grad));
    u.assign(*mSlot, m);
    u.assign(*vSlot, v);
    Value mHat =
        u.add(u.div(u.mul(ut1, m), u.sub(one, u.mul(product, ut1))),
              u.div(u.mul(u.sub(one, ut), grad), u.sub(one, product)));
    Value vHat = u.div(v, u.sub(one, u.power(u.scalar(beta2), t)));
    Value denom =
        u.add(u.sqrt(vHat), u.scalar(op.getEpsilon().convertToDouble()));
    u.assign(param, u.sub(w, u.div(u.mul(lr, mHat), denom)));
    return success();
  }

  LogicalResult expandFtrl(ApplyFtrlOp op, Update &u, VariableOp param,
                           Value w, Value grad, Value lr,
                           SymbolTable &symbols) {
    FailureOr<VariableOp> accSlot =
        slot(op, param, "_ftrl_accumulator", symbols,
             op.getInitialAccumulatorValue().convertToDouble());
    FailureOr<VariableOp> linSlot = slot(op, param, "_ftrl_linear", symbols);
    if (failed(accSlot) || failed(linSlot))
      return failure();
    double p = -op.getLearningRatePower().convertToDouble();
    // accumulator^p (a square root for the default power -0.5).
    auto raised = [&](Value x) {
      return p == 0.5 ? u.sqrt(x) : u.power(x, u.scalar(p));
    };
    Value shrunk = grad;
    if (double shrinkage = op.getL2Shrinkage().convertToDouble())
      shrunk = u.add(grad, u.mul(u.scalar(2.0 * shrinkage), w));
    Value acc = u.read(*accSlot);
    Value newAcc = u.add(acc, u.mul(grad, grad));
    Value sigma = u.div(u.sub(raised(newAcc), raised(acc)), lr);
    Value linear = u.sub(u.add(u.read(*linSlot), shrunk), u.mul(sigma, w));
    Value l2 = u.add(u.scalar(op.getL2().convertToDouble()),
                     u.div(u.scalar(op.getBeta().convertToDouble()),
                           u.mul(u.scalar(2.0), lr)));
    Value quadratic =
        u.add(u.div(raised(newAcc), lr), u.mul(u.scalar(2.0), l2));
    Value l1 = u.scalar(op.getL1().convertToDouble());
    Value clipped = MinimumOp::create(
        u.b, u.loc, MaximumOp::create(u.b, u.loc, linear, NegOp::create(u.b, u.loc, l1)),
        l1);
    u.assign(*linSlot, linear);
    u.assign(*accSlot, newAcc);
    u.assign(param, u.div(u.sub(clipped, linear), quadratic));
    return success();
  }

  LogicalResult expandRmsprop(ApplyRmspropOp op, Update &u, VariableOp param,
                              Value w, Value grad, Value lr,
                              SymbolTable &symbols) {
    double rho = op.getRho().convertToDouble();
    double momentum = op.getMomentum().convertToDouble();
    FailureOr<VariableOp> rmsSlot = slot(op, param, "_rms", symbols);
    if (failed(rmsSlot))
      return failure();
    Value rms = u.mix(rho, u.read(*rmsSlot), u.mul(grad, grad));
    u.assign(*rmsSlot, rms);
    Value denom = rms;
    if (op.getCentered()) {
      FailureOr<VariableOp> mgSlot = slot(op, param, "_rms_mg", symbols);
      if (failed(mgSlot))
        return failure();
      Value mg = u.mix(rho, u.read(*mgSlot), grad);
      u.assign(*mgSlot, mg);
      denom = u.sub(denom, u.mul(mg, mg));
    }
    denom = u.sqrt(u.add(denom, u.scalar(op.getEpsilon().convertToDouble())));
    Value increment = u.div(u.mul(lr, grad), denom);
    if (momentum > 0) {
      FailureOr<VariableOp> momSlot = slot(op, param, "_rms_momentum", symbols);
      if (failed(momSlot))
        return failure();
      increment =
          u.add(u.mul(u.read(*momSlot), u.scalar(momentum)), increment);
      u.assign(*momSlot, increment);
    }
    u.assign(param, u.sub(w, increment));
    return success();
  }
};

} // namespace
