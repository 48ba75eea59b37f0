"""kiln.metrics: running means over a training epoch. The totals are
kiln.Variables, so a metric can be updated eagerly or inside
@kiln.function (where its update becomes part of the compiled step)."""

import numpy as np

from . import ops
from .dtypes import float32, int64, widen_unsigned
from .tensor import constant, convert_to_tensor
from .variables import Variable


def _labels(y):
    """Integer labels as a tensor (NumPy's unsigned types widened)."""
    return convert_to_tensor(widen_unsigned(y) if isinstance(y, np.ndarray) else y)


def _count(t):
    n = 1
    for d in t.shape:
        n *= d
    return n


class Metric:
    def __init__(self, name=None):
        self.name = name or type(self).__name__
        self.total = Variable(constant(0.0, float32), name=f"{self.name}/total",
                              trainable=False)
        self.count = Variable(constant(0.0, float32), name=f"{self.name}/count",
                              trainable=False)

    @property
    def variables(self):
        return [self.total, self.count]

    def reset_state(self):
        self.total.assign(constant(0.0, float32))
        self.count.assign(constant(0.0, float32))

    reset_states = reset_state

    def _add(self, total, count):
        self.total.assign_add(ops.cast(total, float32))
        self.count.assign_add(ops.cast(count, float32))

    def result(self):
        """The mean so far (0 before any update)."""
        return self.total.value() / ops.maximum(self.count.value(), 1e-30)

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()


class Mean(Metric):
    """The (weighted) mean of every value passed to update_state."""

    def update_state(self, values, sample_weight=None):
        values = ops.cast(convert_to_tensor(values), float32)
        if sample_weight is None:
            self._add(ops.reduce_sum(values), constant(float(_count(values))))
            return
        w = ops.cast(convert_to_tensor(sample_weight), float32)
        # A weight per sample of (batch, ...) values: broadcast it along the
        # trailing dimensions, as Keras does.
        while len(w.shape) < len(values.shape):
            w = ops.reshape(w, (*w.shape, 1))
        w = w + values * 0.0
        self._add(ops.reduce_sum(values * w), ops.reduce_sum(w))


class SparseCategoricalAccuracy(Metric):
    """How often argmax(y_pred) equals the integer label."""

    def update_state(self, y_true, y_pred):
        y_pred = convert_to_tensor(y_pred)
        labels = ops.cast(ops.reshape(_labels(y_true), (-1,)), int64)
        predicted = ops.argmax(ops.reshape(y_pred, (-1, y_pred.shape[-1])), axis=1)
        hits = ops.cast(ops.equal(predicted, labels), float32)
        self._add(ops.reduce_sum(hits), constant(float(_count(labels))))
