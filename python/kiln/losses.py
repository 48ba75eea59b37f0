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


def _squeeze_last(x):
    return ops.reshape(x, x.shape[:-1])


def _match(y_true, y_pred):
    """Keras' rule: predictions (B, 1) against targets (B,) (or the other
    way round) drop the trailing 1 instead of broadcasting to (B, B)."""
    y_true, y_pred = convert_to_tensor(y_true), convert_to_tensor(y_pred)
    if y_true.dtype != y_pred.dtype:
        y_true = ops.cast(y_true, y_pred.dtype)
    if len(y_pred.shape) == len(y_true.shape) + 1 and y_pred.shape[-1] == 1:
        y_pred = _squeeze_last(y_pred)
    elif len(y_true.shape) == len(y_pred.shape) + 1 and y_true.shape[-1] == 1:
        y_true = _squeeze_last(y_true)
    return y_true, y_pred

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
