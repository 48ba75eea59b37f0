"""kiln.keras.ops: Keras 3's backend-neutral ops (`from keras import ops`)
on Kiln tensors, with NumPy's conventions as Keras 3 has them: `axis=None`
reduces everything, `transpose(x)` reverses the dimensions, `split` takes
NumPy's section count or split points, `take` without an axis indexes the
flattened tensor. Each is a Kiln op (or a few), so it runs eagerly, compiles
and differentiates like the rest."""

import numpy as np

from . import linalg, math_ops, nn, ops
from .dtypes import as_dtype, float32
from .tensor import convert_to_tensor as _tensor


def _axis_list(axis):
    return None if axis is None else list(axis) if isinstance(axis, (list, tuple)) else axis


def _reduction(fn):
    def reduce(x, axis=None, keepdims=False):
        return fn(_tensor(x), axis=_axis_list(axis), keepdims=keepdims)
    reduce.__name__ = fn.__name__
    return reduce


# Elementwise: the same functions as kiln's.
abs = absolute = ops.abs
add, subtract, multiply = ops.add, ops.subtract, ops.multiply
divide = true_divide = ops.divide
floor_divide, mod = math_ops.floordiv, math_ops.floormod
power, negative = ops.pow, ops.negative
exp, log, sqrt, square = ops.exp, ops.log, ops.sqrt, ops.square
expm1, log1p = math_ops.expm1, math_ops.log1p
sign, sin, cos, tan = ops.sign, ops.sin, ops.cos, math_ops.tan
arcsin, arccos, arctan, arctan2 = math_ops.asin, math_ops.acos, math_ops.atan, math_ops.atan2
sinh, cosh, tanh = math_ops.sinh, math_ops.cosh, ops.tanh
floor, ceil, round = math_ops.floor, math_ops.ceil, math_ops.round
maximum, minimum, where = ops.maximum, ops.minimum, ops.where
equal, not_equal = ops.equal, ops.not_equal
greater, greater_equal, less, less_equal = (ops.greater, ops.greater_equal, ops.less,
                                            ops.less_equal)
logical_and, logical_or, logical_not = ops.logical_and, ops.logical_or, ops.logical_not
isnan, isinf, isfinite = math_ops.is_nan, math_ops.is_inf, math_ops.is_finite
erf, erfinv = math_ops.erf, math_ops.erfinv
sigmoid, relu, softplus = ops.sigmoid, nn.relu, nn.softplus
silu = swish = nn.silu
stop_gradient, cast = ops.stop_gradient, ops.cast
matmul, einsum, tensordot = ops.matmul, math_ops.einsum, math_ops.tensordot
zeros_like, ones_like = math_ops.zeros_like, math_ops.ones_like
expand_dims, broadcast_to, tile = math_ops.expand_dims, math_ops.broadcast_to, math_ops.tile
cumsum, cumprod, sort, argsort = (math_ops.cumsum, math_ops.cumprod, math_ops.sort,
                                  math_ops.argsort)
one_hot = ops.one_hot


def convert_to_tensor(x, dtype=None, sparse=None):
    return _tensor(x, dtype)


def log2(x):
    return ops.log(x) * float(1 / np.log(2))


def log10(x):
    return ops.log(x) * float(1 / np.log(10))


def clip(x, x_min, x_max):
    return math_ops.clip_by_value(x, x_min, x_max)


def gelu(x, approximate=True):
    """Keras 3's gelu: the tanh approximation by default."""
    return nn.gelu(x, approximate=approximate)


def softmax(x, axis=-1):
    return nn.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    return nn.log_softmax(x, axis=axis)


sum = _reduction(ops.reduce_sum)
mean = _reduction(ops.reduce_mean)
max = amax = _reduction(ops.reduce_max)
min = amin = _reduction(ops.reduce_min)
prod = _reduction(math_ops.reduce_prod)
std = _reduction(math_ops.reduce_std)
var = _reduction(math_ops.reduce_variance)
all = _reduction(math_ops.reduce_all)
any = _reduction(math_ops.reduce_any)
logsumexp = _reduction(math_ops.reduce_logsumexp)


def _flat_or(x, axis):
    x = _tensor(x)
    return (ops.reshape(x, [-1]), 0) if axis is None else (x, axis)


def argmax(x, axis=None, keepdims=False):
    x, axis = _flat_or(x, axis)
    out = ops.argmax(x, axis=axis)
    return math_ops.expand_dims(out, axis) if keepdims else out


def argmin(x, axis=None, keepdims=False):
    x, axis = _flat_or(x, axis)
    out = math_ops.argmin(x, axis=axis)
    return math_ops.expand_dims(out, axis) if keepdims else out


def reshape(x, newshape):
    return ops.reshape(x, newshape)


def transpose(x, axes=None):
    x = _tensor(x)
    return ops.transpose(x, list(range(x.ndim))[::-1] if axes is None else list(axes))


def squeeze(x, axis=None):
    x = _tensor(x)
    if axis is None:
        axis = [i for i, d in enumerate(x.shape) if d == 1]
    return math_ops.squeeze(x, axis if isinstance(axis, (list, tuple)) else [axis])


def concatenate(xs, axis=0):
    return ops.concat(list(xs), axis=axis)


def stack(x, axis=0):
    return ops.stack(list(x), axis=axis)


def split(x, indices_or_sections, axis=0):
    """NumPy's split: a number of equal sections, or the split points."""
    x = _tensor(x)
    if isinstance(indices_or_sections, (int, np.integer)):
        return math_ops.split(x, int(indices_or_sections), axis=axis)
    n = x.shape[axis]
    points = [0] + [int(i) for i in indices_or_sections] + [n]
    return math_ops.split(x, [b - a for a, b in zip(points[:-1], points[1:])], axis=axis)


def take(x, indices, axis=None):
    x, axis = _flat_or(x, axis)
    return ops.gather(x, indices, axis=axis)


def take_along_axis(x, indices, axis=None):
    """NumPy's take_along_axis: x's entries at `indices` along `axis` (one
    per position), by a one-hot selection over that axis moved last."""
    x, indices = _tensor(x), _tensor(indices)
    if axis is None:
        return ops.gather(ops.reshape(x, [-1]), ops.reshape(indices, [-1]))
    axis = axis % x.ndim
    perm = [d for d in range(x.ndim) if d != axis] + [axis]
    xt, it = ops.transpose(x, perm), ops.transpose(indices, perm)       # [..., n], [..., k]
    hot = ops.one_hot(it, x.shape[axis], dtype=x.dtype)                 # [..., k, n]
    out = ops.reduce_sum(math_ops.expand_dims(xt, -2) * hot, axis=-1)  # [..., k]
    return ops.transpose(out, [int(i) for i in np.argsort(perm)])


def flip(x, axis=None):
    x = _tensor(x)
    axes = list(range(x.ndim)) if axis is None else (
        list(axis) if isinstance(axis, (list, tuple)) else [axis])
    return math_ops.reverse(x, axes)


def roll(x, shift, axis=None):
    x = _tensor(x)
    if axis is None:
        return ops.reshape(math_ops.roll(ops.reshape(x, [-1]), shift, 0), x.shape)
    return math_ops.roll(x, shift, axis)


def repeat(x, repeats, axis=None):
    x, axis = _flat_or(x, axis)
    return math_ops.repeat(x, repeats, axis=axis)


def shape(x):
    return tuple(_tensor(x).shape)


def ndim(x):
    return _tensor(x).ndim


def zeros(shape, dtype=None):
    return math_ops.zeros(shape, dtype or float32)


def ones(shape, dtype=None):
    return _tensor(np.ones(shape, as_dtype(dtype or float32).as_numpy_dtype))


def full(shape, fill_value, dtype=None):
    return math_ops.fill(shape, fill_value, dtype or float32)


def full_like(x, fill_value, dtype=None):
    x = _tensor(x)
    return ops.cast(math_ops.zeros_like(x), dtype or x.dtype) + fill_value


def arange(start, stop=None, step=1, dtype=None):
    if stop is None:
        start, stop = 0, start
    values = np.arange(start, stop, step)
    return _tensor(values if dtype is None else values.astype(as_dtype(dtype).as_numpy_dtype))


def linspace(start, stop, num=50, endpoint=True, dtype=None):
    values = np.linspace(start, stop, int(num), endpoint=endpoint)
    return _tensor(values.astype(as_dtype(dtype or float32).as_numpy_dtype))


def eye(N, M=None, k=0, dtype=None):
    return _tensor(np.eye(N, M, k, dtype=as_dtype(dtype or float32).as_numpy_dtype))


def dot(x, y):
    """NumPy's dot: products of vectors and matrices, the last axis of x
    with the second-to-last of y."""
    x, y = _tensor(x), _tensor(y)
    if x.ndim == 0 or y.ndim == 0:
        return x * y
    if y.ndim == 1:
        return math_ops.tensordot(x, y, [[x.ndim - 1], [0]])
    return math_ops.tensordot(x, y, [[x.ndim - 1], [y.ndim - 2]])


def outer(x, y):
    return ops.reshape(_tensor(x), [-1, 1]) * ops.reshape(_tensor(y), [1, -1])


def norm(x, ord=None, axis=None, keepdims=False):
    return linalg.norm(x, ord="euclidean" if ord is None else ord,
                       axis=_axis_list(axis), keepdims=keepdims)


def top_k(x, k, sorted=True):
    return math_ops.top_k(x, k, sorted=sorted)

