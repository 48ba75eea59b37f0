"""kiln.losses: Keras-style loss objects, `loss(y_true, y_pred)` -> the mean
over the batch (a scalar tensor)."""

from . import nn, ops
from .dtypes import int64
from .metrics import _labels, _match, _squeeze_last
from .tensor import convert_to_tensor


class Loss:
    def __init__(self, name=None):
        self.name = name or type(self).__name__

    def __call__(self, y_true, y_pred):
        return ops.reduce_mean(self.call(y_true, y_pred))

    def call(self, y_true, y_pred):
        raise NotImplementedError


def _log_probabilities(y_pred):
    """Logits whose softmax is `y_pred` (probabilities), clipped away
    from 0 as Keras does."""
    p = ops.maximum(convert_to_tensor(y_pred), 1e-7)
    return ops.log(p)


class SparseCategoricalCrossentropy(Loss):
    """Integer labels against logits (from_logits=True) or probabilities."""

    def __init__(self, from_logits=False, name=None):
        super().__init__(name)
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        logits = y_pred if self.from_logits else _log_probabilities(y_pred)
        labels = ops.cast(_labels(y_true), int64)
        if len(labels.shape) == len(convert_to_tensor(logits).shape) and \
                labels.shape[-1] == 1:  # (B, 1) labels, as Keras accepts
            labels = _squeeze_last(labels)
        return nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                           logits=logits)


class CategoricalCrossentropy(Loss):
    """One-hot (or soft) labels against logits or probabilities."""

    def __init__(self, from_logits=False, name=None):
        super().__init__(name)
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        logits = y_pred if self.from_logits else _log_probabilities(y_pred)
        return nn.softmax_cross_entropy_with_logits(labels=y_true, logits=logits)


class MeanSquaredError(Loss):
    def call(self, y_true, y_pred):
        y_true, y_pred = _match(y_true, y_pred)
        return ops.square(y_pred - y_true)


class Huber(Loss):
    """0.5 e^2 where |e| <= delta, else delta (|e| - delta / 2)."""

    def __init__(self, delta=1.0, name=None):
        super().__init__(name)
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        y_true, y_pred = _match(y_true, y_pred)
        error = ops.abs(y_pred - y_true)
        quadratic = 0.5 * ops.square(error)
        linear = self.delta * (error - 0.5 * self.delta)
        return ops.where(error <= self.delta, quadratic, linear)


MSE = MeanSquaredError


class MeanAbsoluteError(Loss):
    def call(self, y_true, y_pred):
        y_true, y_pred = _match(y_true, y_pred)
        return ops.abs(y_pred - y_true)


MAE = MeanAbsoluteError


class _FunctionLoss(Loss):
    """A function of (y_true, y_pred) giving per-example losses."""

    def __init__(self, fn):
        super().__init__(getattr(fn, "__name__", "loss"))
        self.fn = fn

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
}


def get(identifier):
    """A Loss from a Keras name, a Loss, or a function of (y_true, y_pred)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier]()
        except KeyError:
            raise ValueError(f"unknown loss {identifier!r}; known: "
                             f"{', '.join(sorted(_BY_NAME))}") from None
    if callable(identifier):
        return _FunctionLoss(identifier)
    raise TypeError(f"cannot use {identifier!r} as a loss")
