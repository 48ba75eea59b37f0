"""kiln.metrics: running means of values over a training epoch."""

from . import ops
from .dtypes import float64, int64
from .tensor import convert_to_tensor


class Metric:
    def __init__(self, name=None):
        self.name = name or type(self).__name__
        self.reset_state()

    def reset_state(self):
        self._total = 0.0
        self._count = 0

    reset_states = reset_state

    def result(self):
        """The mean so far (0 before any update), as a float64 tensor."""
        return convert_to_tensor(self._total / self._count if self._count
                                 else 0.0, float64)

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()


class Mean(Metric):
    """The mean of every value passed to update_state."""

    def update_state(self, values, sample_weight=None):
        values = convert_to_tensor(values)
        if sample_weight is not None:
            w = convert_to_tensor(sample_weight, values.dtype)
            self._total += float(ops.reduce_sum(values * w))
            self._count += float(ops.reduce_sum(w + values * 0))
        else:
            self._total += float(ops.reduce_sum(values))
            self._count += max(1, int(_size(values)))


def _labels(y):
    """Integer labels as a tensor (NumPy's unsigned types become int64)."""
    import numpy as np
    if isinstance(y, np.ndarray) and y.dtype.kind == "u":
        y = y.astype(np.int64)
    return convert_to_tensor(y)


def _size(t):
    n = 1
    for d in t.shape:
        n *= d
    return n


class SparseCategoricalAccuracy(Metric):
    """How often argmax(y_pred) equals the integer label."""

    def update_state(self, y_true, y_pred):
        y_pred = convert_to_tensor(y_pred)
        labels = ops.cast(ops.reshape(_labels(y_true), (-1,)), int64)
        predicted = ops.argmax(ops.reshape(y_pred, (-1, y_pred.shape[-1])), axis=1)
        hits = ops.cast(ops.equal(predicted, labels), float64)
        self._total += float(ops.reduce_sum(hits))
        self._count += _size(labels)
