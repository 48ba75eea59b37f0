"""kiln.optimizers: Keras' optimizers (SGD with momentum, Adam, AdamW, Lion, RMSprop,
Adagrad, Adadelta, Adamax, Nadam, Ftrl, Adafactor, Lamb).

Updates are the compiler's optimizer ops (kiln.apply_gradient_descent,
kiln.apply_momentum, kiln.apply_adam), expanded by kiln-expand-optimizers:
inside @kiln.function they become part of the one compiled training step;
called eagerly, apply_gradients runs a small compiled update (one per set of
variables and hyperparameters, cached). Slots (momentum, Adam's moments) and
the step counter `iterations` are kiln.Variables, so checkpoints save them.
Adafactor and Lamb are written with tensor ops instead (their slots or
norms span a whole variable), traced into the same step.
"""

import numpy as np

from . import constraints, control_flow, errors, math_ops, ops, schedules, tracing
from .core import attributes, symbol, unit
from .dtypes import float32, int64
from .ops import cast
from .gradients import GradientTape
from .tensor import Tensor, constant, convert_to_tensor, zeros
from .variables import Variable, init_scope


def given_gradients(grads_and_vars):
    """The (gradient, variable) pairs that have a gradient; an error if
    none has."""
    pairs = [(g, v) for g, v in grads_and_vars if g is not None]
    if not pairs:
        raise ValueError("apply_gradients: no gradient is given for any "
                         "variable (do the variables affect the loss?)")
    return pairs


class Optimizer:
    # slot name -> store-key suffix, as kiln-expand-optimizers names them
    _slot_suffixes = {}

    # Whether the optimizer's own update applies `weight_decay` (AdamW,
    # Lion); for the others the base class decays the variables first.
    _decays_itself = False

    def __init__(self, learning_rate, name, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, weight_decay=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, gradient_accumulation_steps=None):
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("set at most one of clipnorm, clipvalue and "
                             "global_clipnorm")
        self.clipnorm, self.clipvalue = clipnorm, clipvalue
        self.global_clipnorm = global_clipnorm
        if not self._decays_itself:
            if weight_decay is not None and float(weight_decay) < 0:
                raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
            self.weight_decay = None if weight_decay is None else float(weight_decay)
        if not 0.0 <= float(ema_momentum) <= 1.0:
            raise ValueError(f"ema_momentum must be in [0, 1], got {ema_momentum}")
        if ema_overwrite_frequency is not None and int(ema_overwrite_frequency) <= 0:
            raise ValueError(f"ema_overwrite_frequency must be positive, got "
                             f"{ema_overwrite_frequency}")
        self.use_ema, self.ema_momentum = bool(use_ema), float(ema_momentum)
        if gradient_accumulation_steps is not None and (
                isinstance(gradient_accumulation_steps, bool) or
                int(gradient_accumulation_steps) != gradient_accumulation_steps or
                gradient_accumulation_steps < 2):
            raise ValueError("gradient_accumulation_steps must be an integer >= 2, got "
                             f"{gradient_accumulation_steps!r}")
        self.gradient_accumulation_steps = None if gradient_accumulation_steps is None \
            else int(gradient_accumulation_steps)
        self.ema_overwrite_frequency = None if ema_overwrite_frequency is None else \
            int(ema_overwrite_frequency)
        self._no_decay_ids, self._no_decay_names = set(), []
        self.name = name
        self.iterations = Variable(constant(0, int64), name=f"{name}/iterations",
                                   trainable=False)
        # The rate is a variable read by the update, so assigning
        # `optimizer.learning_rate` takes effect in compiled steps too.
        self._lr = Variable(constant(0.0, float32), name=f"{name}/learning_rate",
                            trainable=False)
        self._lr_value = None
        self.learning_rate = learning_rate
        self._slots = {}  # (id(variable), slot) -> (variable, slot Variable)
        self._update = tracing.Function(self._apply_traced,
                                        name=f"{name.lower()}_update")

    # -- slots -----------------------------------------------------------
    # slot name -> its initial value (zeros when absent)
    _slot_initial = {}

    def _slot_shape(self, variable, slot):
        """The shape of `slot` of `variable` (the variable's by default)."""
        return variable.shape

    # The slots every optimizer may have besides its update's: use_ema's
    # moving average and gradient_accumulation_steps' sum (slot -> suffix).
    _own_slots = {"average": "_ema", "accumulated": "_accumulated"}

    def _slot(self, variable, slot):
        key = (id(variable), slot)
        if key not in self._slots and slot in self._own_slots:
            # (An average starts from the variable's value, so one made
            # after training started, e.g. for a layer added later, starts
            # where it is; a sum of gradients starts at zero.)
            with init_scope():
                start = variable.read_value() if slot == "average" else \
                    zeros(variable.shape, variable.dtype)
            suffix = self._own_slots[slot]
            self._slots[key] = (variable, Variable(
                start, name=f"{variable.name[:-2]}/{slot}",
                trainable=False, _store_key=variable._key() + suffix))
            self._slots[key][1]._slot_of = (variable, suffix)
        if key not in self._slots:
            value = zeros(self._slot_shape(variable, slot), variable.dtype)
            if self._slot_initial.get(slot):  # (eagerly: maybe inside a trace)
                value = constant(np.full(variable.shape, self._slot_initial[slot],
                                         variable.dtype.as_numpy_dtype),
                                 variable.dtype)
            suffix = self._slot_suffixes[slot]
            slot_variable = Variable(
                value, name=f"{variable.name[:-2]}/{slot}", trainable=False,
                _store_key=variable._key() + suffix)
            # Which variable it belongs to (exported names follow it).
            slot_variable._slot_of = (variable, suffix)
            self._slots[key] = (variable, slot_variable)
        return self._slots[key][1]

    def get_slot(self, variable, slot):
        return self._slot(variable, slot)

    def get_slot_names(self):
        """The slots each variable has: the update's, `average` with
        use_ema and `accumulated` with gradient_accumulation_steps."""
        return list(self._slot_suffixes) + (["average"] if self.use_ema else []) + \
            (["accumulated"] if self.gradient_accumulation_steps else [])

    @property
    def learning_rate(self):
        """The rate: a float32 Variable the update reads (Keras':
        `.numpy()`, `.assign(x)`, `float()`, backend.get_value/set_value),
        or the schedule or callable it was given. Assigning a number, a
        schedule or a callable replaces it."""
        if isinstance(self._learning_rate, schedules.LearningRateSchedule) or \
                callable(self._learning_rate):
            return self._learning_rate
        self._lr_value = None   # (it may be assigned through the variable)
        return self._lr

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, Variable) and value is self._lr:
            return   # (lr = lr after an in-place change, or augmented assignment)
        if isinstance(value, (Variable, Tensor)):
            value = float(np.asarray(value))
        self._learning_rate = value
        if isinstance(value, schedules.LearningRateSchedule):
            # (Computed from the step counter inside the update.)
            self._set_rate(value(self.iterations.read_value()))
        elif not callable(value):
            self._set_rate(value)

    # Keras 2's name for learning_rate.
    lr = property(lambda self: self.learning_rate,
                  lambda self, value: setattr(self, "learning_rate", value))

    def _set_rate(self, value):
        value = float(value)
        if value != self._lr_value:
            self._lr.assign(constant(value, float32))
            self._lr_value = value

    @property
    def variables(self):
        return list(self._state_variables().values()) + \
            [s for _, s in self._slots.values()]

    def _state_variables(self):
        """The optimizer-wide variables (checkpoint name -> Variable)."""
        return {"iterations": self.iterations}

    def _named_slots(self):
        """(primary variable, slot name, slot Variable) for checkpoints."""
        for (_, slot), (variable, value) in self._slots.items():
            yield variable, slot, value

    # -- updates ---------------------------------------------------------
    def apply_gradients(self, grads_and_vars):
        pairs = given_gradients(grads_and_vars)
        grads, variables = [], []
        for g, v in pairs:
            if not isinstance(v, Variable):
                raise TypeError(f"apply_gradients: {v!r} is not a kiln.Variable")
            g = convert_to_tensor(g, v.dtype)
            if g.shape != v.shape:
                raise errors.InvalidArgumentError(
                    f"gradient of shape {g.shape} for variable {v.name} of "
                    f"shape {v.shape}", errors.user_location())
            for slot in self._slot_suffixes:
                self._slot(v, slot)
            if self.use_ema:
                self._slot(v, "average")
            if self.gradient_accumulation_steps:
                self._slot(v, "accumulated")
            grads.append(g)
            variables.append(v)
        hyper = self._hyperparameters()
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            hyper["schedule"] = id(self._learning_rate)  # (part of the trace)
        elif callable(self._learning_rate):
            # A schedule is evaluated outside the compiled code (inside a
            # trace: once, when tracing).
            from .variables import init_scope
            with init_scope():
                self._set_rate(self._learning_rate())
        if tracing.current_trace() is not None:
            self._apply_traced(grads, variables, hyper)
        else:
            self._update(grads, variables, hyper)
        return self.iterations

    def compute_gradients(self, loss, var_list=None, tape=None):
        """[(gradient, variable), ...] of `loss` with respect to `var_list`
        (TensorFlow 2.11+'s): `loss` a callable run under a new tape, or
        a tensor that `tape` recorded (var_list then required). Without
        var_list, the trainable variables the loss read; a callable
        var_list is called after the loss (it may name variables the loss
        creates)."""
        return self._gradients_of(loss, var_list, tape)[0]

    def _gradients_of(self, loss, var_list, tape):
        """(compute_gradients' pairs, the loss's value)."""
        if not callable(loss):
            if tape is None:
                raise TypeError("minimize / compute_gradients take the loss as a callable, "
                                "or as a tensor with the tape that recorded it (tape=)")
            if var_list is None:
                raise ValueError("compute_gradients: a loss tensor needs var_list")
            variables = list(var_list() if callable(var_list) else var_list)
            with tape:   # (the scaling of a LossScaleOptimizer is recorded too)
                target = self._scale_loss(loss)
            grads = self._unscale_gradients(tape.gradient(target, variables))
            return list(zip(grads, variables)), loss
        with GradientTape(watch_accessed_variables=var_list is None
                          or callable(var_list)) as tape:
            if var_list is not None and not callable(var_list):
                for v in var_list:
                    tape.watch(v)
            value = loss()
            target = self._scale_loss(value)
        if callable(var_list):
            var_list = var_list()
        variables = list(var_list) if var_list is not None else \
            [v for v in tape.watched_variables() if v.trainable]
        grads = self._unscale_gradients(tape.gradient(target, variables))
        return list(zip(grads, variables)), value

    def minimize(self, loss, var_list=None, tape=None):
        """Computes the gradient of `loss` with respect to `var_list` (see
        compute_gradients) and applies it. Returns the loss value."""
        grads_and_vars, value = self._gradients_of(loss, var_list, tape)
        self.apply_gradients(grads_and_vars)
        return value

    # Loss scaling (kiln.mixed_precision.LossScaleOptimizer): none here.
    def _scale_loss(self, loss):
        return loss

    def _unscale_gradients(self, grads):
        return grads

    def _clip(self, grads):
        """Keras' gradient clipping: each gradient to norm `clipnorm`, each
        element to [-clipvalue, clipvalue], or all together to global norm
        `global_clipnorm`."""
        if self.clipnorm is not None:
            return [math_ops.clip_by_norm(g, self.clipnorm) for g in grads]
        if self.clipvalue is not None:
            c = float(self.clipvalue)
            return [math_ops.clip_by_value(g, -c, c) for g in grads]
        if self.global_clipnorm is not None:
            return math_ops.clip_by_global_norm(grads, self.global_clipnorm)[0]
        return grads

    def _apply_traced(self, grads, variables, hyper):
        self.iterations.assign_add(constant(1, int64))
        step = self.iterations.value()
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            # Keras' rule: the schedule sees the steps applied before this one.
            rate = cast(self._learning_rate(step - 1), float32)
            self._lr.assign(rate)  # (what learning rate reads show)
            self._lr_value = None
        else:
            rate = self._lr.value()
        n = hyper.get("accumulate")
        if n:
            # Keras' gradient accumulation: every n-th step (counting every
            # call) updates with the mean of the n gradients since the last
            # update; the others only add theirs to the sums. One kiln.cond,
            # so the skipped update costs nothing.
            sums = [self._slot(v, "accumulated") for v in variables]

            def update():
                mean = [(g + s.value()) / float(n) for g, s in zip(grads, sums)]
                self._update_variables(self._clip(mean), variables, rate, step, hyper)
                for s in sums:
                    s.assign(zeros(s.shape, s.dtype))
                return constant(True)

            def accumulate():
                for g, s in zip(grads, sums):
                    s.assign(g + s.value())
                return constant(False)

            control_flow.cond(ops.equal(step % n, 0), update, accumulate)
        else:
            self._update_variables(self._clip(grads), variables, rate, step, hyper)
        if self.use_ema:
            self._update_averages(variables, step, hyper)

    def _update_variables(self, grads, variables, rate, step, hyper):
        """One step of the update proper (weight decay included) with the
        (clipped) gradients."""
        trace = tracing.current_trace()
        location = errors.user_location()
        rates = {}
        self._begin_step(step)
        for g, v in zip(grads, variables):
            if v.dtype not in rates:
                rates[v.dtype] = rate if v.dtype == float32 else cast(rate, v.dtype)
            key = trace.bind_variable(v)
            for slot in self._slot_suffixes:
                trace.bind_variable(self._slot(v, slot))
            own = hyper
            if hyper.get("decay") and self._decays(v):
                # Keras' decoupled weight decay, before the update.
                v.assign_sub(v.value() * (rates[v.dtype] * hyper["decay"]))
            elif self._decays_itself and not self._decays(v):
                own = {**hyper, "weight_decay": 0.0}      # (excluded: AdamW, Lion)
            self._update_variable(trace, key, g, v, rates[v.dtype], step, own, location)
            constrained = constraints._applied(v, v.value())
            if constrained is not None:   # (Keras: the constraint after each step)
                v.assign(constrained)

    def _update_averages(self, variables, step, hyper):
        """Keras' use_ema: each variable's moving average (the variable
        itself after the first step), and every ema_overwrite_frequency
        steps the variables set to their averages."""
        for v in variables:
            average = self._slot(v, "average")
            first = ops.equal(step, 1)
            momentum = ops.where(first, constant(0.0, v.dtype),
                                 constant(hyper["ema"][0], v.dtype))
            new = momentum * average.value() + (1.0 - momentum) * v.value()
            average.assign(new)
            if hyper["ema"][1]:
                due = ops.equal(step % hyper["ema"][1], 0)
                v.assign(ops.where(due, new, v.value()))

    def finalize_variable_values(self, var_list):
        """With use_ema, sets the variables to their moving averages (fit
        calls it when training ends, as Keras does)."""
        if not self.use_ema:
            return
        for v in var_list:
            if (id(v), "average") in self._slots:
                v.assign(self._slots[(id(v), "average")][1].value())

    def get_config(self):
        """Keras' optimizer config: its arguments (the learning rate a
        float, or a schedule as {"class_name", "config"})."""
        return schedules._init_config(self, Optimizer)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        rate = config.get("learning_rate")
        if isinstance(rate, dict) and "class_name" in rate:
            schedule = getattr(schedules, rate["class_name"], None) or \
                (custom_objects or {}).get(rate["class_name"])
            if schedule is None:
                raise ValueError(f"from_config: unknown learning-rate schedule "
                                 f"{rate['class_name']!r} (pass it in custom_objects)")
            config["learning_rate"] = schedule.from_config(rate["config"])
        return cls(**config)

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Leaves the given variables, and those whose names contain one of
        var_names, out of weight decay (Keras')."""
        self._no_decay_ids.update(id(v) for v in var_list or [])
        self._no_decay_names.extend(var_names or [])

    def _decays(self, variable):
        return id(variable) not in self._no_decay_ids and \
            not any(n in variable.name for n in self._no_decay_names)

    def _update_variable(self, trace, key, grad, variable, lr, step, hyper, location):
        """Updates `variable` (bound as `key`) and its slots from `grad`: by
        default one of the compiler's optimizer ops, which
        kiln-expand-optimizers expands."""
        op, operands, attrs = self._op(grad, lr, step, hyper)
        trace.op(op, operands, attributes(variable=symbol(key), **attrs), [], location)

    def _hyperparameters(self):
        return {"clip": (self.clipnorm, self.clipvalue, self.global_clipnorm),
                "decay": None if self._decays_itself else self.weight_decay,
                "ema": (self.ema_momentum, self.ema_overwrite_frequency) if self.use_ema
                else None, "accumulate": self.gradient_accumulation_steps}

    def _begin_step(self, step):
        """Optimizer-wide state of the step `step` (1-based, traced), before
        the variables' updates; none by default."""


class SGD(Optimizer):
    """Gradient descent, with (Nesterov) momentum if momentum > 0."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False,
                 name="SGD", **clipping):
        if momentum < 0:
            raise ValueError(f"momentum must be >= 0, got {momentum}")
        self.momentum = float(momentum)
        self.nesterov = nesterov
        self._slot_suffixes = {"momentum": "_momentum"} if momentum else {}
        super().__init__(learning_rate, name, **clipping)

    def _hyperparameters(self):
        return {**super()._hyperparameters(), "momentum": self.momentum,
                "nesterov": self.nesterov}

    def _op(self, grad, lr, step, hyper):
        if not hyper["momentum"]:
            return "apply_gradient_descent", [grad, lr], {}
        attrs = {"momentum": float(hyper["momentum"])}
        if hyper["nesterov"]:
            attrs["nesterov"] = unit()
        return "apply_momentum", [grad, lr], attrs


class Adam(Optimizer):
    """Adam with bias correction (TensorFlow's formulation)."""

    _slot_suffixes = {"m": "_adam_m", "v": "_adam_v"}

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, name="Adam", **clipping):
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.amsgrad = bool(amsgrad)
        if self.amsgrad:
            self._slot_suffixes = {**self._slot_suffixes, "vhat": "_adam_vhat"}
        super().__init__(learning_rate, name, **clipping)

    def _hyperparameters(self):
        return {**super()._hyperparameters(), "beta_1": float(self.beta_1),
                "beta_2": float(self.beta_2), "epsilon": float(self.epsilon),
                "amsgrad": self.amsgrad}

    def _update_variable(self, trace, key, grad, variable, lr, step, hyper, location):
        if not hyper["amsgrad"]:
            return super()._update_variable(trace, key, grad, variable, lr, step, hyper,
                                            location)
        # AMSGrad (Reddi et al.; Keras'): the step divides by the largest
        # second moment so far. Written with tensor ops, as _Composite's.
        step = cast(step, variable.dtype)
        decay = hyper.get("weight_decay")
        if decay and self._decays(variable):   # (AdamW: decoupled, first)
            variable.assign_sub(variable.value() * (lr * decay))
        b1, b2 = hyper["beta_1"], hyper["beta_2"]
        m, v, vhat = (self._slot(variable, s) for s in ("m", "v", "vhat"))
        m_new = m.value() + (grad - m.value()) * (1.0 - b1)
        v_new = v.value() + (ops.square(grad) - v.value()) * (1.0 - b2)
        top = ops.maximum(vhat.value(), v_new)
        m.assign(m_new)
        v.assign(v_new)
        vhat.assign(top)
        one = constant(1.0, variable.dtype)
        alpha = lr * ops.sqrt(one - ops.pow(constant(b2, variable.dtype), step)) / \
            (one - ops.pow(constant(b1, variable.dtype), step))
        variable.assign_sub(m_new * alpha / (ops.sqrt(top) + hyper["epsilon"]))

    def _op(self, grad, lr, step, hyper):
        return "apply_adam", [grad, lr, step], {
            "beta1": float(hyper["beta_1"]), "beta2": float(hyper["beta_2"]),
            "epsilon": float(hyper["epsilon"])}


class AdamW(Adam):
    """Adam with decoupled weight decay: each step first shrinks the
    variable by learning_rate * weight_decay * variable (Keras' AdamW)."""

    _decays_itself = True

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-7, amsgrad=False, name="AdamW", **clipping):
        self.weight_decay = float(weight_decay)
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name, **clipping)

    def _hyperparameters(self):
        return {**super()._hyperparameters(), "weight_decay": self.weight_decay}

    def _op(self, grad, lr, step, hyper):
        op, operands, attrs = super()._op(grad, lr, step, hyper)
        return op, operands, {**attrs, "weight_decay": float(hyper["weight_decay"])}


class RMSprop(Optimizer):
    """Keras' RMSprop (optionally centered, with momentum)."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, name="RMSprop", **clipping):
        if momentum < 0 or not 0.0 <= rho < 1.0:
            raise ValueError(f"RMSprop needs momentum >= 0 and rho in [0, 1), got "
                             f"momentum={momentum}, rho={rho}")
        self.rho, self.momentum = float(rho), float(momentum)
        self.epsilon, self.centered = float(epsilon), bool(centered)
        self._slot_suffixes = {"rms": "_rms"}
        if self.momentum:
            self._slot_suffixes["momentum"] = "_rms_momentum"
        if self.centered:
            self._slot_suffixes["mg"] = "_rms_mg"
        super().__init__(learning_rate, name, **clipping)

    def _hyperparameters(self):
        return {**super()._hyperparameters(), "rho": self.rho,
                "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}

    def _op(self, grad, lr, step, hyper):
        attrs = {"rho": hyper["rho"], "momentum": hyper["momentum"],
                 "epsilon": hyper["epsilon"]}
        if hyper["centered"]:
            attrs["centered"] = unit()
        return "apply_rmsprop", [grad, lr], attrs


class Adagrad(Optimizer):
    """Keras' Adagrad: steps shrink with the sum of squared gradients."""

    _slot_suffixes = {"accumulator": "_adagrad"}

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1,
                 epsilon=1e-7, name="Adagrad", **clipping):
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)
        self._slot_initial = {"accumulator": self.initial_accumulator_value}
        super().__init__(learning_rate, name, **clipping)

    def _hyperparameters(self):
        return {**super()._hyperparameters(), "epsilon": self.epsilon,
                "initial": self.initial_accumulator_value}

    def _op(self, grad, lr, step, hyper):
        return "apply_adagrad", [grad, lr], {
            "epsilon": hyper["epsilon"], "initial_accumulator_value": hyper["initial"]}


class Adadelta(Optimizer):
    """Keras' Adadelta: steps scaled by the ratio of the running RMS of
    updates to that of gradients."""

    _slot_suffixes = {"accumulated_grad": "_adadelta_g",
                      "accumulated_delta": "_adadelta_d"}

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, name="Adadelta",
                 **clipping):
        self.rho, self.epsilon = float(rho), float(epsilon)
        super().__init__(learning_rate, name, **clipping)

    def _hyperparameters(self):
        return {**super()._hyperparameters(), "rho": self.rho, "epsilon": self.epsilon}

    def _op(self, grad, lr, step, hyper):
        return "apply_adadelta", [grad, lr], {"rho": hyper["rho"],
                                               "epsilon": hyper["epsilon"]}


class Adamax(Optimizer):
    """Keras' Adamax: Adam with the infinity norm of past gradients."""

    _slot_suffixes = {"m": "_adamax_m", "u": "_adamax_u"}

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, name="Adamax", **clipping):
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        super().__init__(learning_rate, name, **clipping)

    def _hyperparameters(self):
        return {**super()._hyperparameters(), "beta_1": self.beta_1,
                "beta_2": self.beta_2, "epsilon": self.epsilon}

    def _op(self, grad, lr, step, hyper):
        return "apply_adamax", [grad, lr, step], {
            "beta1": hyper["beta_1"], "beta2": hyper["beta_2"],
            "epsilon": hyper["epsilon"]}


class Nadam(Optimizer):
    """Keras' Nadam: Adam with Nesterov momentum under Dozat's momentum
    schedule u_t = beta_1 * (1 - 0.5 * 0.96^t). The running product of the
    schedule is optimizer-wide state (`u_product`, checkpointed with the
    step counter)."""

    _slot_suffixes = {"m": "_nadam_m", "v": "_nadam_v"}

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, name="Nadam", **clipping):
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        super().__init__(learning_rate, name, **clipping)
        self.u_product = Variable(constant(1.0, float32), name=f"{name}/u_product",
                                  trainable=False)
        self._u_now = None

    def _state_variables(self):
        return {**super()._state_variables(), "u_product": self.u_product}

    def _hyperparameters(self):
        return {**super()._hyperparameters(), "beta_1": self.beta_1,
                "beta_2": self.beta_2, "epsilon": self.epsilon}

    def _begin_step(self, step):
        t = cast(step, float32)
        u_t = self.beta_1 * (1.0 - 0.5 * (constant(0.96, float32) ** t))
        self._u_now = self.u_product.value() * u_t
        self.u_product.assign(self._u_now)

    def _op(self, grad, lr, step, hyper):
        u = self._u_now if grad.dtype == float32 else cast(self._u_now, grad.dtype)
        return "apply_nadam", [grad, lr, step, u], {
            "beta1": hyper["beta_1"], "beta2": hyper["beta_2"],
            "epsilon": hyper["epsilon"]}


class Ftrl(Optimizer):
    """Keras' Ftrl (FTRL-proximal, McMahan et al. 2013), with L1, L2 and
    L2-shrinkage regularization; l1 > 0 makes weights exactly zero."""

    _slot_suffixes = {"accumulator": "_ftrl_accumulator", "linear": "_ftrl_linear"}

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5,
                 initial_accumulator_value=0.1, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, name="Ftrl",
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, **clipping):
        values = dict(learning_rate_power=learning_rate_power,
                      initial_accumulator_value=initial_accumulator_value,
                      l1_regularization_strength=l1_regularization_strength,
                      l2_regularization_strength=l2_regularization_strength,
                      l2_shrinkage_regularization_strength=l2_shrinkage_regularization_strength,
                      beta=beta)
        if learning_rate_power > 0:
            raise ValueError(f"Ftrl: learning_rate_power must be <= 0, got "
                             f"{learning_rate_power}")
        for key, value in values.items():
            if key != "learning_rate_power" and value < 0:
                raise ValueError(f"Ftrl: {key} must be >= 0, got {value}")
        self._ftrl = {k: float(v) for k, v in values.items()}
        for key, value in self._ftrl.items():   # (Keras' attributes, get_config's)
            setattr(self, key, value)
        self._slot_initial = {"accumulator": float(initial_accumulator_value)}
        super().__init__(learning_rate, name, **clipping)

    def _hyperparameters(self):
        return {**super()._hyperparameters(), "ftrl": tuple(sorted(self._ftrl.items()))}

    def _op(self, grad, lr, step, hyper):
        f = dict(hyper["ftrl"])
        return "apply_ftrl", [grad, lr], {
            "learning_rate_power": f["learning_rate_power"],
            "initial_accumulator_value": f["initial_accumulator_value"],
            "l1": f["l1_regularization_strength"],
            "l2": f["l2_regularization_strength"],
            "l2_shrinkage": f["l2_shrinkage_regularization_strength"],
            "beta": f["beta"]}


class Lion(Optimizer):
    """Keras' Lion: steps of the sign of an interpolation of momentum and
    gradient, the momentum updated with beta_2 after; optional decoupled
    weight decay (a smaller learning rate than Adam's is usual)."""

    _slot_suffixes = {"m": "_lion_m"}
    _decays_itself = True

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None,
                 name="Lion", **clipping):
        if not 0.0 <= float(beta_1) <= 1.0 or not 0.0 <= float(beta_2) <= 1.0:
            raise ValueError(f"Lion: beta_1 and beta_2 must be in [0, 1], got {beta_1} "
                             f"and {beta_2}")
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.weight_decay = None if weight_decay is None else float(weight_decay)
        super().__init__(learning_rate, name, **clipping)

    def _hyperparameters(self):
        return {**super()._hyperparameters(), "beta_1": self.beta_1,
                "beta_2": self.beta_2, "weight_decay": self.weight_decay}

    def _op(self, grad, lr, step, hyper):
        return "apply_lion", [grad, lr], {
            "beta1": hyper["beta_1"], "beta2": hyper["beta_2"],
            "weight_decay": float(hyper["weight_decay"] or 0.0)}


class _Composite(Optimizer):
    """An optimizer whose update is written with tensor ops (traced into the
    step like any other computation) rather than one optimizer op."""

    def _update_variable(self, trace, key, grad, variable, lr, step, hyper, location):
        self._update_step(grad, variable, lr, cast(step, variable.dtype), hyper)

    def _update_step(self, grad, variable, lr, step, hyper):
        raise NotImplementedError


def _rms(x):
    return ops.sqrt(ops.reduce_mean(ops.square(x)))


class Adafactor(_Composite):
    """Keras' Adafactor (Shazeer and Stern, 2018): the second moment of a
    matrix (or of each matrix of the last two axes) kept as its row and
    column means, steps relative to the variable's RMS, each update clipped
    to RMS `clip_threshold`. Variables of rank < 2 keep an unfactored
    second moment (their row and column slots are scalars, as in Keras)."""

    _slot_suffixes = {"r": "_adafactor_r", "c": "_adafactor_c", "v": "_adafactor_v"}

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30,
                 epsilon_2=1e-3, clip_threshold=1.0, relative_step=True,
                 name="Adafactor", **clipping):
        if float(beta_2_decay) > 0:
            raise ValueError(f"Adafactor: beta_2_decay must be <= 0 (the second moment's "
                             f"decay 1 - t^beta_2_decay), got {beta_2_decay}")
        if float(clip_threshold) <= 0:
            raise ValueError(f"Adafactor: clip_threshold must be > 0, got {clip_threshold}")
        self.beta_2_decay = float(beta_2_decay)
        self.epsilon_1, self.epsilon_2 = float(epsilon_1), float(epsilon_2)
        self.clip_threshold, self.relative_step = float(clip_threshold), bool(relative_step)
        super().__init__(learning_rate, name, **clipping)

    def _hyperparameters(self):
        return {**super()._hyperparameters(), "beta_2_decay": self.beta_2_decay,
                "epsilon_1": self.epsilon_1, "epsilon_2": self.epsilon_2,
                "clip_threshold": self.clip_threshold}

    def _slot_shape(self, variable, slot):
        shape = tuple(variable.shape)
        if slot == "v":
            return shape
        if len(shape) < 2:
            return ()
        return shape[:-1] if slot == "r" else shape[:-2] + shape[-1:]

    def _update_step(self, grad, variable, lr, step, hyper):
        r, c, v = (self._slot(variable, name) for name in ("r", "c", "v"))
        # Keras caps the rate at 1/sqrt(t) twice over (the relative step and
        # rho_t): one minimum is the same.
        rho = ops.minimum(lr, 1.0 / ops.sqrt(step))
        alpha = ops.maximum(hyper["epsilon_2"], _rms(variable.value())) * rho
        square = ops.square(grad) + hyper["epsilon_1"]
        beta_2 = 1.0 - ops.pow(step, hyper["beta_2_decay"])
        if len(variable.shape) >= 2:
            r_new = beta_2 * r.value() + (1.0 - beta_2) * ops.reduce_mean(square, axis=-1)
            c_new = beta_2 * c.value() + (1.0 - beta_2) * ops.reduce_mean(square, axis=-2)
            r.assign(r_new)
            c.assign(c_new)
            v_new = math_ops.expand_dims(
                r_new / ops.reduce_mean(r_new, axis=-1, keepdims=True), -1) * \
                math_ops.expand_dims(c_new, -2)
        else:
            v_new = beta_2 * v.value() + (1.0 - beta_2) * square
        v.assign(v_new)
        u = grad / ops.sqrt(v_new)
        u = u / ops.maximum(1.0, _rms(u) / hyper["clip_threshold"])
        variable.assign_sub(alpha * u)


class Lamb(_Composite):
    """Keras' Lamb (You et al., 2019): Adam's bias-corrected step scaled per
    variable by the trust ratio ||w|| / ||step|| (1 where either is 0)."""

    _slot_suffixes = {"m": "_lamb_m", "v": "_lamb_v"}

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name="Lamb", **clipping):
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        super().__init__(learning_rate, name, **clipping)

    def _hyperparameters(self):
        return {**super()._hyperparameters(), "beta_1": self.beta_1,
                "beta_2": self.beta_2, "epsilon": self.epsilon}

    def _update_step(self, grad, variable, lr, step, hyper):
        b1, b2 = hyper["beta_1"], hyper["beta_2"]
        m, v = self._slot(variable, "m"), self._slot(variable, "v")
        m_new = m.value() + (grad - m.value()) * (1.0 - b1)
        v_new = v.value() + (ops.square(grad) - v.value()) * (1.0 - b2)
        m.assign(m_new)
        v.assign(v_new)
        one = constant(1.0, variable.dtype)
        m_hat = m_new / (one - ops.pow(constant(b1, variable.dtype), step))
        v_hat = v_new / (one - ops.pow(constant(b2, variable.dtype), step))
        update = m_hat / (ops.sqrt(v_hat) + hyper["epsilon"])
        w_norm = ops.sqrt(ops.reduce_sum(ops.square(variable.value())))
        u_norm = ops.sqrt(ops.reduce_sum(ops.square(update)))
        positive = ops.logical_and(w_norm > 0.0, u_norm > 0.0)
        # (The division where a norm is 0 is discarded: no NaN reaches w.)
        ratio = ops.where(positive, w_norm / ops.maximum(u_norm, 1e-30), one)
        variable.assign_sub(ratio * lr * update)


def _innermost(optimizer):
    """The optimizer inside wrappers (DistributedOptimizer,
    LossScaleOptimizer, in any order)."""
    while hasattr(optimizer, "wrapped_optimizer"):
        optimizer = optimizer.wrapped_optimizer
    return optimizer


def wraps(optimizer, kind):
    """Whether `optimizer` is a `kind`, or wraps one."""
    while True:
        if isinstance(optimizer, kind):
            return True
        if not hasattr(optimizer, "wrapped_optimizer"):
            return False
        optimizer = optimizer.wrapped_optimizer


def get(identifier):
    """An Optimizer from a Keras name ("sgd", "adam", "rmsprop", ...), an
    Optimizer, or a wrapper of one (kiln.distribute.DistributedOptimizer)."""
    if isinstance(_innermost(identifier), Optimizer):
        return identifier
    table = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop,
             "adagrad": Adagrad, "adadelta": Adadelta, "adamax": Adamax,
             "nadam": Nadam, "ftrl": Ftrl, "lion": Lion, "adafactor": Adafactor,
             "lamb": Lamb}
    if isinstance(identifier, str):
        if identifier.lower() in table:
            return table[identifier.lower()]()
        raise ValueError(
            f"unknown optimizer {identifier!r}; known: {', '.join(sorted(table))}")
    if isinstance(identifier, dict) and "class_name" in identifier:
        return deserialize(identifier)
    raise TypeError(f"cannot use {identifier!r} as an optimizer")


def serialize(optimizer):
    """Keras' {"class_name", "config"} of an optimizer."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config, custom_objects=None):
    """The optimizer that serialize described (Keras' class names, or one
    in custom_objects)."""
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or next(
        (c for c in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Ftrl,
                     Lion, Adafactor, Lamb) if c.__name__.lower() == name.lower()), None)
    if cls is None:
        raise ValueError(f"deserialize: unknown optimizer class {name!r} (pass it in "
                         "custom_objects)")
    return cls.from_config(config["config"], custom_objects)
