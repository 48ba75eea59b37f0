"""kiln.linalg: TensorFlow's tf.linalg names for Kiln's products and norms."""

from .math_ops import einsum, eye, l2_normalize, norm, tensordot
from .ops import _swap_last, matmul
from .tensor import convert_to_tensor


def matrix_transpose(a, name=None):
    """`a` with its last two dimensions swapped."""
    return _swap_last(convert_to_tensor(a))


__all__ = ["einsum", "eye", "l2_normalize", "matmul", "matrix_transpose", "norm",
           "tensordot"]
