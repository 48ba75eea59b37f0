"""Keras' weight constraints (tf.keras.constraints): functions applied to a
variable after each optimizer step (`kernel_constraint=` of a layer,
`add_weight(constraint=...)`, `kiln.Variable(constraint=...)`), inside the
compiled update."""

from . import math_ops, ops
from .tensor import convert_to_tensor

_EPSILON = 1e-7   # (Keras' backend.epsilon())


class Constraint:
    """Base class: `__call__(w)` returns the constrained value."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _norms(w, axis):
    return ops.sqrt(math_ops.reduce_sum(ops.square(w), axis=axis, keepdims=True))


class MaxNorm(Constraint):
    """Each slice along `axis` (the incoming weights of a unit, axis 0 for
    a Dense kernel, [0, 1, 2] for a Conv2D one) rescaled to norm at most
    max_value."""

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = float(max_value), axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = ops.minimum(norms, self.max_value)
        return w * (desired / (_EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Negative weights set to zero."""

    def __call__(self, w):
        return w * ops.cast(ops.greater_equal(w, 0.0), w.dtype)


class UnitNorm(Constraint):
    """Each slice along `axis` rescaled to unit norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return w / (_EPSILON + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Each slice's norm moved into [min_value, max_value]: `rate` of the
    way there per step (1: all the way)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value = float(min_value), float(max_value)
        self.rate, self.axis = float(rate), axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        clipped = ops.minimum(ops.maximum(norms, self.min_value), self.max_value)
        desired = self.rate * clipped + (1.0 - self.rate) * norms
        return w * (desired / (_EPSILON + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


# Keras' short names.
max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

_BY_NAME = {"max_norm": MaxNorm, "maxnorm": MaxNorm, "non_neg": NonNeg, "nonneg": NonNeg,
            "unit_norm": UnitNorm, "unitnorm": UnitNorm, "min_max_norm": MinMaxNorm,
            "minmaxnorm": MinMaxNorm}


def get(identifier):
    """A constraint from a name ("max_norm", "non_neg", ...), a config
    dict, a Constraint or any callable; None stays None."""
    if identifier is None or callable(identifier):
        return identifier
    if isinstance(identifier, dict):
        cls = _BY_NAME.get(str(identifier.get("class_name", "")).lower())
        if cls is None:
            raise ValueError(f"unknown constraint {identifier!r}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _BY_NAME:
            raise ValueError(f"unknown constraint {identifier!r}; known: {sorted(_BY_NAME)}")
        return _BY_NAME[key]()
    raise ValueError(f"cannot use {identifier!r} as a constraint")


def serialize(constraint):
    return {"class_name": type(constraint).__name__, "config": constraint.get_config()}


def _applied(variable, value):
    """The value a variable takes after an update: its constraint's output
    when it has one (same shape and dtype)."""
    constraint = getattr(variable, "constraint", None)
    if constraint is None:
        return None
    out = convert_to_tensor(constraint(value))
    if tuple(out.shape) != tuple(variable.shape) or out.dtype != variable.dtype:
        raise ValueError(f"the constraint of {variable.name} changed its shape or dtype "
                         f"({list(variable.shape)} {variable.dtype.name} -> "
                         f"{list(out.shape)} {out.dtype.name})")
    return out
