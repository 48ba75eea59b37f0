"""Targets against predictions, as Keras' losses and metrics read them."""

import numpy as np

from . import ops
from .core import attributes, bind1
from .dtypes import widen_unsigned
from .tensor import convert_to_tensor


def _labels(y):
    """Integer labels as a tensor (NumPy's unsigned types widened)."""
    return convert_to_tensor(widen_unsigned(y) if isinstance(y, np.ndarray) else y)


def _squeeze_last(x):
    """x without its last dimension, of extent 1 (other extents may be
    open: no reshape)."""
    return bind1("squeeze", [x], attributes(axes=[x.ndim - 1]))


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
