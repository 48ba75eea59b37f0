"""kiln.losses: Keras-style loss objects, `loss(y_true, y_pred)` -> the mean
over the batch (a scalar tensor)."""

from . import nn, ops
from .dtypes import int64
from .metrics import _labels
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
        return ops.square(convert_to_tensor(y_pred) - y_true)


class Huber(Loss):
    """0.5 e^2 where |e| <= delta, else delta (|e| - delta / 2)."""

    def __init__(self, delta=1.0, name=None):
        super().__init__(name)
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        error = ops.abs(convert_to_tensor(y_pred) - y_true)
        quadratic = 0.5 * ops.square(error)
        linear = self.delta * (error - 0.5 * self.delta)
        return ops.where(error <= self.delta, quadratic, linear)


MSE = MeanSquaredError
