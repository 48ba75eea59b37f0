"""kiln.optimizers: SGD (with momentum) and Adam.

Updates are the compiler's optimizer ops (kiln.apply_gradient_descent,
kiln.apply_momentum, kiln.apply_adam), expanded by kiln-expand-optimizers:
inside @kiln.function they become part of the one compiled training step;
called eagerly, apply_gradients runs a small compiled update (one per set of
variables and hyperparameters, cached). Slots (momentum, Adam's moments) and
the step counter `iterations` are kiln.Variables, so checkpoints save them.
"""

from . import errors, tracing
from .core import attributes, symbol, unit
from .dtypes import float32, int64
from .ops import cast
from .gradients import GradientTape
from .tensor import constant, convert_to_tensor, zeros
from .variables import Variable


class Optimizer:
    # slot name -> store-key suffix, as kiln-expand-optimizers names them
    _slot_suffixes = {}

    def __init__(self, learning_rate, name):
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
    def _slot(self, variable, slot):
        key = (id(variable), slot)
        if key not in self._slots:
            value = zeros(variable.shape, variable.dtype)
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
        return list(self._slot_suffixes)

    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = value
        if not callable(value):
            self._set_rate(value)

    def _set_rate(self, value):
        value = float(value)
        if value != self._lr_value:
            self._lr.assign(constant(value, float32))
            self._lr_value = value

    @property
    def variables(self):
        return [self.iterations] + [s for _, s in self._slots.values()]

    def _named_slots(self):
        """(primary variable, slot name, slot Variable) for checkpoints."""
        for (_, slot), (variable, value) in self._slots.items():
            yield variable, slot, value

    # -- updates ---------------------------------------------------------
    def apply_gradients(self, grads_and_vars):
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            raise ValueError("apply_gradients: no gradient is given for any "
                             "variable (do the variables affect the loss?)")
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
            grads.append(g)
            variables.append(v)
        hyper = self._hyperparameters()
        if callable(self._learning_rate):
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

    def minimize(self, loss, var_list=None):
        """Computes the gradient of `loss()` (a callable) with respect to
        `var_list` (default: the trainable variables it reads; a callable
        is called after the loss, so it may name variables the loss
        creates) and applies it. Returns the loss value."""
        if not callable(loss):
            raise TypeError("minimize takes the loss as a callable (eager "
                            "execution needs to run it under a tape)")
        with GradientTape(watch_accessed_variables=var_list is None
                          or callable(var_list)) as tape:
            if var_list is not None and not callable(var_list):
                for v in var_list:
                    tape.watch(v)
            value = loss()
        if callable(var_list):
            var_list = var_list()
        variables = list(var_list) if var_list is not None else \
            [v for v in tape.watched_variables() if v.trainable]
        grads = tape.gradient(value, variables)
        self.apply_gradients(zip(grads, variables))
        return value

    def _apply_traced(self, grads, variables, hyper):
        trace = tracing.current_trace()
        self.iterations.assign_add(constant(1, int64))
        step = self.iterations.value()
        rates = {}
        location = errors.user_location()
        rate = self._lr.value()
        for g, v in zip(grads, variables):
            if v.dtype not in rates:
                rates[v.dtype] = rate if v.dtype == float32 else cast(rate, v.dtype)
            key = trace.bind_variable(v)
            for slot in self._slot_suffixes:
                trace.bind_variable(self._slot(v, slot))
            op, operands, attrs = self._op(g, rates[v.dtype], step, hyper)
            trace.op(op, operands, attributes(variable=symbol(key), **attrs),
                     [], location)

    def _hyperparameters(self):
        return {}


class SGD(Optimizer):
    """Gradient descent, with (Nesterov) momentum if momentum > 0."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False,
                 name="SGD"):
        if momentum < 0:
            raise ValueError(f"momentum must be >= 0, got {momentum}")
        self.momentum = float(momentum)
        self.nesterov = nesterov
        self._slot_suffixes = {"momentum": "_momentum"} if momentum else {}
        super().__init__(learning_rate, name)

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
                 epsilon=1e-7, name="Adam"):
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        super().__init__(learning_rate, name)

    def _hyperparameters(self):
        return {**super()._hyperparameters(), "beta_1": float(self.beta_1),
                "beta_2": float(self.beta_2), "epsilon": float(self.epsilon)}

    def _op(self, grad, lr, step, hyper):
        return "apply_adam", [grad, lr, step], {
            "beta1": float(hyper["beta_1"]), "beta2": float(hyper["beta_2"]),
            "epsilon": float(hyper["epsilon"])}


def get(identifier):
    """An Optimizer from a Keras name ("sgd", "adam") or an Optimizer."""
    if isinstance(identifier, Optimizer):
        return identifier
    table = {"sgd": SGD, "adam": Adam}
    if isinstance(identifier, str):
        if identifier.lower() in table:
            return table[identifier.lower()]()
        raise ValueError(
            f"optimizer {identifier!r} is not available in Kiln yet; known: "
            f"{', '.join(sorted(table))} (Keras' default 'rmsprop' is not: "
            "pass optimizer='adam' or an optimizer object)")
    raise TypeError(f"cannot use {identifier!r} as an optimizer")
