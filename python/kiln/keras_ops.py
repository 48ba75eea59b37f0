"""kiln.keras.ops: Keras 3's backend-neutral ops (`from keras import ops`)
on Kiln tensors, with NumPy's conventions as Keras 3 has them: `axis=None`
reduces everything, `transpose(x)` reverses the dimensions, `split` takes
NumPy's section count or split points, `take` without an axis indexes the
flattened tensor. Each is a Kiln op (or a few), so it runs eagerly, compiles
and differentiates like the rest."""

import numpy as np

from . import activations, bitwise, control_flow, linalg, math_ops, nest, nn, ops
from .dtypes import as_dtype, float32
from .tensor import Tensor as _Tensor, convert_to_tensor as _tensor


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


def _widened(fn):
    """A bitwise op of Keras 3: integer operands of different widths meet
    at the wider (its result_type), then TensorFlow's op."""
    def apply(x, y):
        x = _tensor(x) if not isinstance(x, (int, _Tensor)) else x
        y = _tensor(y) if not isinstance(y, (int, _Tensor)) else y
        if isinstance(x, _Tensor) and isinstance(y, _Tensor) and x.dtype != y.dtype:
            if x.dtype.is_integer and y.dtype.is_integer:
                x, y = ops.cast(x, "int64"), ops.cast(y, "int64")
        return fn(x, y)
    apply.__name__ = fn.__name__
    return apply


bitwise_and = _widened(bitwise.bitwise_and)
bitwise_or = _widened(bitwise.bitwise_or)
bitwise_xor = _widened(bitwise.bitwise_xor)
bitwise_left_shift = left_shift = _widened(bitwise.left_shift)
bitwise_right_shift = right_shift = _widened(bitwise.right_shift)
bitwise_invert = bitwise_not = bitwise.invert


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


def unstack(x, num=None, axis=0):
    """The slices of x along `axis` as a list (keras.ops.unstack)."""
    return math_ops.unstack(x, num=num, axis=axis)


def vectorized_map(function, elements):
    """function applied to each slice of `elements` along the first axis,
    the results stacked (keras.ops.vectorized_map; one loop over them)."""
    return control_flow.vectorized_map(function, elements)


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
    """The static shape (None where an extent is open: a symbolic tensor's)."""
    return tuple(x.shape) if _symbolic(x) else tuple(_tensor(x).shape)


def ndim(x):
    return len(x.shape) if _symbolic(x) else _tensor(x).ndim


def _symbolic(x):
    return type(x).__name__ == "KerasTensor"


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



# --- More of Keras 3's ops --------------------------------------------------

rsqrt, reciprocal = math_ops.rsqrt, math_ops.reciprocal
meshgrid, in_top_k = math_ops.meshgrid, math_ops.in_top_k
relu6, selu, softsign = nn.relu6, nn.selu, nn.softsign
log_sigmoid = math_ops.log_sigmoid
scatter = math_ops.scatter_nd
scatter_update = math_ops.tensor_scatter_nd_update
cond = control_flow.cond
hard_sigmoid, hard_silu, hard_swish = (activations.hard_sigmoid, activations.hard_silu,
                                       activations.hard_swish)
mish, celu, glu, sparsemax = (activations.mish, activations.celu, activations.glu,
                              activations.sparsemax)


def convert_to_numpy(x):
    return np.asarray(_tensor(x).numpy())


def leaky_relu(x, negative_slope=0.2):
    return nn.leaky_relu(x, alpha=negative_slope)


def elu(x, alpha=1.0):
    x = _tensor(x)
    return ops.where(ops.greater(x, 0.0), x, alpha * nn.elu(x))   # (nn.elu: expm1 of x <= 0)


def swapaxes(x, axis1, axis2):
    x = _tensor(x)
    perm = list(range(x.ndim))
    perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    return ops.transpose(x, perm)


def moveaxis(x, source, destination):
    """x with axes `source` moved to `destination` (NumPy's)."""
    x = _tensor(x)
    source = [s % x.ndim for s in (source if isinstance(source, (list, tuple)) else [source])]
    target = [d % x.ndim for d in (destination if isinstance(destination, (list, tuple))
                                   else [destination])]
    rest = [a for a in range(x.ndim) if a not in source]
    perm = [None] * x.ndim
    for s, d in zip(source, target):
        perm[d] = s
    fill = iter(rest)
    return ops.transpose(x, [p if p is not None else next(fill) for p in perm])


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """NaN, +inf and -inf replaced (by 0 and the type's largest and
    smallest finite values by default), as NumPy."""
    x = _tensor(x)
    if not x.dtype.is_floating:
        return x
    info = np.finfo(x.dtype.as_numpy_dtype)
    high = info.max if posinf is None else posinf
    low = info.min if neginf is None else neginf
    zero = math_ops.zeros_like(x)
    infinite = math_ops.is_inf(x)
    out = ops.where(math_ops.is_nan(x), zero + nan, x)
    out = ops.where(ops.logical_and(infinite, ops.greater(x, 0.0)), zero + high, out)
    return ops.where(ops.logical_and(infinite, ops.less(x, 0.0)), zero + low, out)


def _triangle(x, k, upper):
    x = _tensor(x)
    rows, cols = x.shape[-2], x.shape[-1]
    keep = np.triu(np.ones((rows, cols), bool), k) if upper else \
        np.tril(np.ones((rows, cols), bool), k)
    return ops.where(_tensor(keep), x, math_ops.zeros_like(x))


def triu(x, k=0):
    """The upper triangle of the last two axes from diagonal k (NumPy's)."""
    return _triangle(x, k, True)


def tril(x, k=0):
    return _triangle(x, k, False)


def pad(x, pad_width, mode="constant", constant_values=None):
    """NumPy's pad: pad_width an int, a (before, after) pair or one per
    axis; modes constant, reflect, symmetric."""
    x = _tensor(x)
    widths = np.broadcast_to(np.asarray(pad_width, np.int64).reshape(-1, 2)
                             if np.ndim(pad_width) else [[pad_width, pad_width]],
                             (x.ndim, 2))
    if mode not in ("constant", "reflect", "symmetric"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect' or 'symmetric', got {mode!r}")
    if constant_values is not None and mode != "constant":
        raise ValueError("pad: constant_values needs mode='constant'")
    return math_ops.pad(x, widths.tolist(), mode=mode.upper(),
                        constant_values=0 if constant_values is None else constant_values)


def slice(inputs, start_indices, shape):
    """The block of `shape` from start_indices (Keras' slice)."""
    return math_ops.slice_(inputs, start_indices, shape)


def slice_update(inputs, start_indices, updates):
    """inputs with the block at start_indices replaced by `updates`."""
    x, updates = _tensor(inputs), _tensor(updates)
    start = [int(s) for s in start_indices]
    index = np.indices(updates.shape).reshape(updates.ndim, -1).T + np.asarray(start)
    return math_ops.tensor_scatter_nd_update(x, _tensor(index),
                                            ops.reshape(updates, [-1]))


def moments(x, axes, keepdims=False, synchronized=False):
    """(mean, variance) over `axes`."""
    return nn.moments(_tensor(x), list(axes) if isinstance(axes, (list, tuple)) else [axes],
                      keepdims=keepdims)


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """body(*vars) while cond(*vars) (Keras' while_loop, a tuple of loop
    variables); maximum_iterations bounds the steps."""
    single = not isinstance(loop_vars, (list, tuple))
    values = [loop_vars] if single else list(loop_vars)
    if maximum_iterations is None:
        out = control_flow.while_loop(lambda *v: cond(*v), lambda *v: _as_list(body(*v)),
                                      values)
        return out[0] if single else tuple(out)
    limit = int(maximum_iterations)
    out = control_flow.while_loop(
        lambda i, *v: ops.logical_and(ops.less(i, limit), _tensor(cond(*v))),
        lambda i, *v: [i + 1] + _as_list(body(*v)), [_tensor(0)] + values)
    return out[1] if single else tuple(out[1:])


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def fori_loop(lower, upper, body_fun, init_val):
    """body_fun(i, value) for i from lower to upper (Keras' fori_loop)."""
    out = control_flow.while_loop(lambda i, v: ops.less(i, upper),
                                  lambda i, v: [i + 1, body_fun(i, v)],
                                  [_tensor(lower), init_val])
    return out[1]


def binary_crossentropy(target, output, from_logits=False):
    """Elementwise -(t log p + (1 - t) log(1 - p)) (Keras' op: not averaged;
    probabilities clipped to [1e-7, 1 - 1e-7])."""
    output = _tensor(output)
    target = _tensor(target, output.dtype)
    if from_logits:
        return nn.sigmoid_cross_entropy_with_logits(labels=target, logits=output)
    p = math_ops.clip_by_value(output, 1e-7, 1.0 - 1e-7)
    return -(target * ops.log(p) + (1.0 - target) * ops.log(1.0 - p))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """-sum(t log p) along `axis` (probabilities normalized and clipped, as
    Keras)."""
    output = _tensor(output)
    target = _tensor(target, output.dtype)
    if from_logits:
        log_p = nn.log_softmax(output, axis=axis)
    else:
        p = output / ops.reduce_sum(output, axis=axis, keepdims=True)
        log_p = ops.log(math_ops.clip_by_value(p, 1e-7, 1.0 - 1e-7))
    return -ops.reduce_sum(target * log_p, axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    output = _tensor(output)
    hot = ops.one_hot(ops.cast(_tensor(target), "int64"), output.shape[axis],
                      dtype=output.dtype)
    if axis not in (-1, output.ndim - 1):
        hot = moveaxis(hot, -1, axis)
    return categorical_crossentropy(hot, output, from_logits, axis)


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None,
                          is_causal=False):
    """Scaled dot-product attention over [batch, steps, heads, dim] (Keras
    3's op): softmax(q k^T * scale + bias, masked) v, scale 1/sqrt(dim) by
    default; `mask` (broadcast to [batch, heads, q steps, k steps]) keeps
    the True entries; is_causal keeps keys at or before each query; fewer
    key/value heads than query heads are repeated (grouped queries)."""
    q, k, v = _tensor(query), _tensor(key), _tensor(value)
    heads, kv_heads = q.shape[2], k.shape[2]
    if heads % kv_heads:
        raise ValueError(f"dot_product_attention: {heads} query heads are not a multiple of "
                         f"{kv_heads} key heads")
    if kv_heads != heads:
        k = math_ops.repeat(k, heads // kv_heads, axis=2)
        v = math_ops.repeat(v, heads // kv_heads, axis=2)
    scale = 1.0 / float(np.sqrt(q.shape[-1])) if scale is None else float(scale)
    logits = math_ops.einsum("btnh,bsnh->bnts", q, k) * scale
    if bias is not None:
        logits = logits + _tensor(bias, logits.dtype)
    keep = None if mask is None else _tensor(mask)
    if is_causal:
        causal = _tensor(np.tril(np.ones((q.shape[1], k.shape[1]), bool)))
        keep = causal if keep is None else ops.logical_and(keep, causal)
    if keep is not None:
        # (Keras' large negative: -0.7 of the type's largest, finite in float16)
        lowest = -0.7 * float(np.finfo(logits.dtype.as_numpy_dtype).max)
        logits = ops.where(keep, logits, math_ops.zeros_like(logits) + lowest)
    weights = nn.softmax(logits, axis=-1)
    return math_ops.einsum("bnts,bsnh->btnh", weights, v)


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """JAX's and Keras 3's scan: carry, y = f(carry, x) over the first axis
    of xs (structures too; xs None: `length` steps with x None), returning
    the last carry and the ys stacked in the xs' order (reverse runs from
    the end). One compiled loop (kiln's scan); f is traced once more to
    learn the ys' structure."""
    given = xs is not None
    if not given:
        if length is None:
            raise ValueError("scan: give xs or length")
        xs = arange(int(length), dtype="int32")
    leaves = nest.flatten(xs)
    steps = leaves[0].shape[0] if hasattr(leaves[0], "shape") else len(leaves[0])
    if steps == 0:
        raise ValueError("scan: xs has no steps (the ys' structure would be unknown)")
    first = nest.pack_sequence_as(xs, [_tensor(l)[0] for l in leaves])
    if length is not None and int(length) != steps:
        raise ValueError(f"scan: length {length} but xs has {steps} steps")
    _, y0 = f(init, first if given else None)
    if y0 is None:   # (JAX's idiom: only the carry)
        carries = control_flow.scan(lambda acc, x: f(acc, x if given else None)[0], xs,
                                    initializer=init, reverse=reverse)
        last = 0 if reverse else -1
        return nest.pack_sequence_as(init, [c[last] for c in nest.flatten(carries)]), None
    zeros_y = nest.pack_sequence_as(y0, [math_ops.zeros_like(_tensor(y))
                                         for y in nest.flatten(y0)])

    def step(acc, x):
        carry, y = f(acc[0], x if given else None)
        return (carry, y)
    carries, ys = control_flow.scan(step, xs, initializer=(init, zeros_y), reverse=reverse)
    last = 0 if reverse else -1
    final = nest.pack_sequence_as(init, [c[last] for c in nest.flatten(carries)])
    return final, ys
