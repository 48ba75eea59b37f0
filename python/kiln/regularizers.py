"""kiln.regularizers: penalties on weights, added to the training loss
through `model.losses` (Keras' kernel_regularizer / bias_regularizer)."""

from . import ops
from .tensor import convert_to_tensor


class Regularizer:
    def __call__(self, x):
        raise NotImplementedError


class L1L2(Regularizer):
    """l1 * sum(|x|) + l2 * sum(x^2)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        x = convert_to_tensor(x)
        penalty = None
        if self.l1:
            penalty = self.l1 * ops.reduce_sum(ops.abs(x))
        if self.l2:
            term = self.l2 * ops.reduce_sum(ops.square(x))
            penalty = term if penalty is None else penalty + term
        return penalty if penalty is not None else ops.reduce_sum(x * 0.0)


def L1(l1=0.01):
    return L1L2(l1=l1)


def L2(l2=0.01):
    return L1L2(l2=l2)


l1, l2, l1_l2 = L1, L2, L1L2


def get(identifier):
    """A regularizer from a name ("l1", "l2", "l1_l2"), an instance or a
    function of the weight."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        table = {"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(0.01, 0.01)}
        try:
            return table[identifier]()
        except KeyError:
            raise ValueError(f"unknown regularizer {identifier!r}; known: "
                             f"{', '.join(sorted(table))}") from None
    if callable(identifier):
        return identifier
    raise TypeError(f"cannot use {identifier!r} as a regularizer")
