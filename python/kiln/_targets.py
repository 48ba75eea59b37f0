"""Targets against predictions, as Keras' losses and metrics read them."""

import numpy as np

from . import ops
from .core import attributes, bind1
from .dtypes import widen_targets, widened
from .tensor import convert_to_tensor


def _labels(y):
    """Integer labels as a tensor (unsigned types widened)."""
    if isinstance(y, np.ndarray):
        return convert_to_tensor(widen_targets(y))
    y = convert_to_tensor(y)
    return ops.cast(y, widened(y.dtype.mlir)) if y.dtype.is_storage else y


def _squeeze_last(x):
    """x without its last dimension, of extent 1 (other extents may be
    open: no reshape)."""
    return bind1("squeeze", [x], attributes(axes=[x.ndim - 1]))


def _match(y_true, y_pred):
    """Keras' rule for ranks that differ by a trailing 1: predictions (B, 1)
    against targets (B,) (or the other way round) compare as (B, 1), not
    broadcast to (B, B); higher ranks drop the trailing 1."""
    y_true, y_pred = convert_to_tensor(y_true), convert_to_tensor(y_pred)
    if y_true.dtype != y_pred.dtype:
        y_true = ops.cast(y_true, y_pred.dtype)
    # (Keras 3's squeeze_or_expand_to_same_rank: a rank-1 side gains the 1
    # instead, so per-example losses stay one per example, [B, 1] -> [B].)
    if len(y_pred.shape) == len(y_true.shape) + 1 and y_pred.shape[-1] == 1:
        if len(y_true.shape) == 1:
            y_true = bind1("expand_dims", [y_true], attributes(axis=1))
        else:
            y_pred = _squeeze_last(y_pred)
    elif len(y_true.shape) == len(y_pred.shape) + 1 and y_true.shape[-1] == 1:
        if len(y_pred.shape) == 1:
            y_pred = bind1("expand_dims", [y_pred], attributes(axis=1))
        else:
            y_true = _squeeze_last(y_true)
    return y_true, y_pred
