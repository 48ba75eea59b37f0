"""kiln.nn: neural-network ops."""

from .ops import _run1
from .tensor import convert_to_tensor


def relu(features, name=None):
    return _run1("relu", [convert_to_tensor(features)])


def softmax(logits, axis=-1, name=None):
    return _run1("softmax", [convert_to_tensor(logits)], f"{{axis = {int(axis)} : i64}}")


def log_softmax(logits, axis=-1, name=None):
    return _run1("log_softmax", [convert_to_tensor(logits)],
                 f"{{axis = {int(axis)} : i64}}")


def sparse_softmax_cross_entropy_with_logits(labels=None, logits=None, name=None):
    return _run1("sparse_softmax_cross_entropy",
                 [convert_to_tensor(logits), convert_to_tensor(labels)])


def softmax_cross_entropy_with_logits(labels=None, logits=None, axis=-1, name=None):
    logits = convert_to_tensor(logits)
    labels = convert_to_tensor(labels, dtype=logits.dtype)
    return _run1("softmax_cross_entropy", [logits, labels])
