"""kiln.mixed_precision: Keras' mixed precision (tf.keras.mixed_precision).

A dtype policy says in which type a layer computes and in which it keeps
its variables. Under "mixed_float16" or "mixed_bfloat16" layers keep
float32 variables (the optimizer updates them in float32) and compute in
the half type: floating inputs are cast to it, and inside the layer's call
its variables read as the half type (the cast is part of the gradient, so
gradients arrive in float32). On the GPU the half-type products run on the
tensor cores.

    kiln.mixed_precision.set_global_policy("mixed_float16")
    model = kiln.Sequential([kiln.layers.Dense(256, activation="relu"),
                             kiln.layers.Dense(10),
                             kiln.layers.Activation("softmax", dtype="float32")])

float16's range is small: a gradient below 2**-24 becomes zero. A
LossScaleOptimizer multiplies the loss by a large factor before the
gradient is taken and divides the gradients by it before they are applied;
the factor halves after a step with a non-finite gradient (which is then
skipped) and doubles after `dynamic_growth_steps` good steps. Model.compile
wraps the optimizer in one when the model's policy is "mixed_float16", as
Keras does; bfloat16 has float32's range and needs none.
"""

from . import control_flow, math_ops, ops
from ._state import local
from .dtypes import as_dtype, float32, int64
from .optimizers import Optimizer, get, given_gradients, wraps
from .tensor import constant, convert_to_tensor
from .variables import Variable

_POLICIES = {
    "float16": ("float16", "float16"), "bfloat16": ("bfloat16", "bfloat16"),
    "float32": ("float32", "float32"), "float64": ("float64", "float64"),
    "mixed_float16": ("float16", "float32"),
    "mixed_bfloat16": ("bfloat16", "float32"),
}


class Policy:
    """A dtype policy: `compute_dtype` (what the layer computes in) and
    `variable_dtype` (what its variables hold), both dtype names.
    "mixed_float16" and "mixed_bfloat16" compute in the half type with
    float32 variables; a plain dtype name uses that dtype for both."""

    def __init__(self, name):
        if isinstance(name, Policy):
            name = name.name
        if not isinstance(name, str):
            try:
                name = as_dtype(name).name
            except TypeError:
                raise TypeError(f"a dtype policy is a name, got {name!r}") from None
        if name not in _POLICIES:
            raise ValueError(
                f"unknown dtype policy {name!r}; known: "
                f"{', '.join(sorted(_POLICIES))}")
        self._name = name
        self._compute, self._variable = _POLICIES[name]

    @property
    def name(self):
        return self._name

    @property
    def compute_dtype(self):
        return self._compute

    @property
    def variable_dtype(self):
        return self._variable

    def __eq__(self, other):
        return isinstance(other, Policy) and other._name == self._name

    def __hash__(self):
        return hash(self._name)

    def __repr__(self):
        return f'<Policy "{self._name}">'


_global = [Policy("float32")]


def set_global_policy(policy):
    """The policy of layers made from now on without a `dtype` (None:
    float32 again). Layers already made keep theirs."""
    _global[0] = Policy("float32" if policy is None else policy)


def global_policy():
    return _global[0]


# Keras 3's names for the same.
DTypePolicy = Policy
set_dtype_policy = set_global_policy
dtype_policy = global_policy


def policy_of(dtype):
    """The policy a layer's `dtype` argument names (None: the global
    policy)."""
    return global_policy() if dtype is None else Policy(dtype)


class autocast_scope:
    """Inside a layer's call: floating variables made by layers with a
    mixed policy read as `dtype` (None: as they are)."""

    def __init__(self, dtype):
        self._dtype = None if dtype is None else as_dtype(dtype)

    def __enter__(self):
        self._outer = local.autocast
        local.autocast = self._dtype

    def __exit__(self, *exc):
        local.autocast = self._outer


class LossScaleOptimizer:
    """Wraps an optimizer with loss scaling (Keras' LossScaleOptimizer).

    `get_scaled_loss(loss)` is loss * loss_scale; `get_unscaled_gradients`
    divides gradients by it; `apply_gradients` applies them with the
    wrapped optimizer when all are finite, else skips the step. Dynamic
    scaling (the default) halves the scale after a skipped step (never
    below 1) and doubles it after `dynamic_growth_steps` applied steps in a
    row; `dynamic=False` keeps `initial_scale`. `minimize` and Model.fit
    scale and unscale by themselves. The scale and the count of good steps
    are variables: compiled steps update them, checkpoints save them.
    Anything else is the wrapped optimizer's."""

    def __init__(self, inner_optimizer, dynamic=True, initial_scale=None,
                 dynamic_growth_steps=None):
        inner = get(inner_optimizer)
        if wraps(inner, LossScaleOptimizer):
            raise ValueError("LossScaleOptimizer: the optimizer already "
                             "scales its loss")
        if not dynamic and dynamic_growth_steps is not None:
            raise ValueError("LossScaleOptimizer: dynamic_growth_steps is "
                             "for dynamic=True")
        if initial_scale is None:
            if not dynamic:
                raise ValueError("LossScaleOptimizer: dynamic=False needs an "
                                 "initial_scale")
            initial_scale = 2.0 ** 15
        scale = float(initial_scale)
        if not scale >= 1.0 or scale == float("inf"):
            raise ValueError(f"LossScaleOptimizer: initial_scale must be a "
                             f"finite number >= 1, got {initial_scale}")
        growth = 2000 if dynamic_growth_steps is None else int(dynamic_growth_steps)
        if growth < 1:
            raise ValueError(f"LossScaleOptimizer: dynamic_growth_steps must "
                             f"be >= 1, got {dynamic_growth_steps}")
        self._optimizer = inner
        self._dynamic = bool(dynamic)
        self._initial_scale = scale
        self._growth_steps = growth
        name = getattr(inner, "name", "optimizer")
        self._scale = Variable(constant(scale, float32), name=f"{name}/loss_scale",
                               trainable=False)
        self._good_steps = Variable(constant(0, int64), name=f"{name}/good_steps",
                                    trainable=False)

    @property
    def inner_optimizer(self):
        return self._optimizer

    # What model.compile, optimizers.get and checkpoints see through
    # wrappers (as kiln.distribute.DistributedOptimizer's).
    wrapped_optimizer = inner_optimizer

    @property
    def dynamic(self):
        return self._dynamic

    @property
    def initial_scale(self):
        return self._initial_scale

    @property
    def dynamic_growth_steps(self):
        return self._growth_steps if self._dynamic else None

    @property
    def loss_scale(self):
        """The current scale (a float32 tensor)."""
        return self._scale.value()

    @property
    def dynamic_counter(self):
        """Applied steps since the scale last changed."""
        return self._good_steps.value()

    def get_scaled_loss(self, loss):
        loss = convert_to_tensor(loss)
        return loss * ops.cast(self._scale.value(), loss.dtype)

    def get_unscaled_gradients(self, grads):
        inverse = 1.0 / self._scale.value()
        return [None if g is None else g * ops.cast(inverse, g.dtype)
                for g in grads]

    # Keras 3's name.
    scale_loss = get_scaled_loss

    # The hooks Optimizer.minimize and Model.fit's step call.
    _scale_loss = get_scaled_loss
    _unscale_gradients = get_unscaled_gradients

    def apply_gradients(self, grads_and_vars):
        pairs = given_gradients(grads_and_vars)
        if not self._dynamic:
            return self._optimizer.apply_gradients(pairs)
        optimizer = self._optimizer
        reduce = getattr(optimizer, "_reduce_gradients", None)
        if reduce is not None:
            # kiln.distribute.DistributedOptimizer inside: all-reduce first,
            # so that every process decides on the same gradients (and so
            # takes the same branch: no collective is left waiting).
            pairs = reduce(pairs)
            optimizer = optimizer.wrapped_optimizer
        finite = math_ops.reduce_all(ops.stack(
            [math_ops.reduce_all(math_ops.is_finite(convert_to_tensor(g)))
             for g, _ in pairs]))
        growth = self._growth_steps

        def apply():
            optimizer.apply_gradients(pairs)
            count = self._good_steps.value() + 1
            grow = count >= growth
            scale = self._scale.value()
            doubled = scale * 2.0
            # (A scale that would overflow stays: Keras' rule.)
            self._scale.assign(ops.where(
                ops.logical_and(grow, math_ops.is_finite(doubled)),
                doubled, scale))
            self._good_steps.assign(ops.where(grow, constant(0, int64), count))
            return constant(True)

        def skip():
            self._scale.assign(ops.maximum(self._scale.value() * 0.5, 1.0))
            self._good_steps.assign(constant(0, int64))
            # A skipped step still counts, as in Keras (schedules go on).
            optimizer.iterations.assign_add(constant(1, int64))
            return constant(False)

        control_flow.cond(finite, apply, skip)
        return optimizer.iterations

    # The wrapped optimizer's, scaling through the hooks above.
    minimize = Optimizer.minimize

    @property
    def variables(self):
        return self._optimizer.variables + [self._scale, self._good_steps]

    def _state_variables(self):
        return {**self._optimizer._state_variables(),
                "loss_scale": self._scale, "good_steps": self._good_steps}

    @property
    def learning_rate(self):
        return self._optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._optimizer.learning_rate = value

    def __getattr__(self, name):
        if name.startswith("__") or name == "_optimizer":
            raise AttributeError(name)
        return getattr(self._optimizer, name)

    def __repr__(self):
        return f"<LossScaleOptimizer of {self._optimizer!r}>"


__all__ = ["DTypePolicy", "LossScaleOptimizer", "Policy", "dtype_policy",
           "global_policy", "set_dtype_policy", "set_global_policy"]
