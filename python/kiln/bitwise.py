"""kiln.bitwise: TensorFlow's tf.bitwise on int32 and int64 tensors.

The shifts are TensorFlow's: the amount is clamped to [0, bit width - 1]
first, so a negative amount leaves x as it is and a too large one shifts by
the width less one (`left_shift(1, 40)` on int32 is 1 << 31, `right_shift(-8,
99)` is -1). The `<<` and `>>` operators on tensors shift as NumPy does
instead (everything out).
"""

from . import ops
from .ops import bitwise_and, bitwise_or, bitwise_xor

__all__ = ["bitwise_and", "bitwise_or", "bitwise_xor", "invert", "left_shift",
           "right_shift"]


def invert(x, name=None):
    """~x: every bit of an integer tensor flipped."""
    return ops.bitwise_not(x)


def _clamped(x, y):
    x, y = ops._integers("a shift", x, y)
    return x, ops.minimum(ops.maximum(y, 0), x.dtype.size * 8 - 1)


def left_shift(x, y, name=None):
    """x << y elementwise (wrapping), the amount clamped to [0, width - 1]."""
    return ops.shift_left(*_clamped(x, y))


def right_shift(x, y, name=None):
    """x >> y elementwise, filling with the sign bit (int32 and int64 are
    signed), the amount clamped to [0, width - 1]."""
    return ops.shift_right_arithmetic(*_clamped(x, y))
