"""More of TensorFlow's everyday ops: shapes and arrays, reductions,
elementwise math, clipping, norms and products (kiln.math and kiln.linalg
re-export them under TensorFlow's names).

Each is a Kiln dialect op through the dispatch core, or a composite of them,
so it runs eagerly, inside @kiln.function and under gradient tapes, and is
differentiable wherever its parts are. Composites that select between
branches (`where`) keep both branches finite, so no NaN leaks into a
gradient through the branch not taken.
"""

import builtins
import collections

import numpy as np

from . import _dispatch, core, errors
from ._targets import _labels
from .core import attributes, bind1, enum_case, tensor_type, widen
from .dtypes import as_dtype, bool as bool_, float32, float64, int32, int64
from .ops import (_axes, _check_at_run_time, _extent, _known_values, _like, _pair, _unary,
                  abs, cast, concat, equal, exp, floordiv, floormod, gather, greater,
                  greater_equal, less, stack, logical_not,
                  less_equal, log, logical_and, logical_or, matmul, maximum, minimum, not_equal,
                  one_hot, reduce_max, reduce_mean, reduce_min, reduce_sum, reshape, sqrt,
                  square, stop_gradient, transpose, where)
from .ops import pow as _pow
from .tensor import (Tensor, _OpenExtent, _open_entries, _partial_extents, _record_extents,
                     _static_extents,
                     constant, convert_to_tensor, ones as _ones, zeros as _zeros)

log1p = _unary("log1p")
expm1 = _unary("expm1")
rsqrt = _unary("rsqrt")
floor = _unary("floor")
ceil = _unary("ceil")
reciprocal = _unary("reciprocal")


def _float_test(name, test):
    def fn(x, name=None):
        x = convert_to_tensor(x)
        if not x.dtype.is_floating:
            raise errors.InvalidArgumentError(
                f"{fn.__name__}: takes a floating-point tensor, got "
                f"{x.dtype.name}", errors.user_location())
        return test(x)
    fn.__name__ = name
    fn.__doc__ = f"tf.math.{name}: elementwise, a bool tensor."
    return fn


# NaN compares unequal to itself and fails every ordered comparison.
is_nan = _float_test("is_nan", lambda x: not_equal(x, x))
is_inf = _float_test("is_inf", lambda x: equal(abs(x), float("inf")))
is_finite = _float_test("is_finite", lambda x: less(abs(x), float("inf")))
erf = _unary("erf")
erfc = _unary("erfc")
tan = _unary("tan")
asin = _unary("asin")
acos = _unary("acos")
atan = _unary("atan")
sinh = _unary("sinh")
cosh = _unary("cosh")
asinh = _unary("asinh")
acosh = _unary("acosh")
atanh = _unary("atanh")
lgamma = _unary("lgamma")
digamma = _unary("digamma")
erfinv = _unary("erfinv")
lgamma.__doc__ = "ln|Gamma(x)| elementwise (tf.math.lgamma); +inf at 0, -1, -2, ..."
digamma.__doc__ = ("psi(x), the derivative of lgamma, elementwise (tf.math.digamma); "
                   "NaN at 0, -1, -2, ...")
erfinv.__doc__ = ("The inverse of erf elementwise (tf.math.erfinv): +-inf at +-1, NaN "
                  "outside [-1, 1].")


def polygamma(a, x, name=None):
    """psi^(a)(x), the a-th derivative of digamma, elementwise with
    broadcasting (tf.math.polygamma). The orders must be known while
    tracing (one compiled function per distinct order); an order that is
    not a whole number or is negative gives NaN, as in TensorFlow; orders
    above 100 are an UnimplementedError (in float32, n! overflows from
    order 35 on, so large orders give inf there)."""
    x = convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"polygamma: takes a floating-point x, got {x.dtype.name}",
            errors.user_location())
    if isinstance(a, Tensor):
        if a._symbolic:
            raise errors.UnimplementedError(
                "polygamma: the order `a` must be known while tracing (each order "
                "is its own compiled expansion); pass a number or a NumPy array",
                errors.user_location())
        a = a.numpy()
    orders = np.asarray(a, np.float64)
    if np.any((orders == np.floor(orders)) & (orders > 100)):
        raise errors.UnimplementedError(
            f"polygamma: orders above 100 are not supported (got {orders.max():g})",
            errors.user_location())
    valid = (orders == np.floor(orders)) & (orders >= 0)
    if orders.ndim == 0:
        if not valid:
            return x * float("nan")
        return bind1("polygamma", [x], attributes(order=int(orders)))
    # (Per-element orders: each distinct one computed over the broadcast
    # shape, picked by where; invalid ones NaN.)
    shape = np.broadcast_shapes(orders.shape, tuple(1 if d is None else d for d in x.shape))
    picked = constant(np.broadcast_to(orders, shape).astype(x.dtype.as_numpy_dtype))
    result = picked * float("nan") + x * 0.0
    for n in np.unique(orders[valid]):
        result = where(equal(picked, float(n)),
                       bind1("polygamma", [x], attributes(order=int(n))), result)
    return result


def atan2(y, x, name=None):
    """The angle of the point (x, y) in [-pi, pi], elementwise with
    broadcasting (tf.math.atan2: y first)."""
    y, x = _pair(y, x)
    return bind1("atan2", [y, x])


def _static(x, what):
    """x's shape, every extent known (an error naming `what` otherwise)."""
    if None in x.shape:
        raise errors.UnimplementedError(
            f"{what} needs every extent of its input known while tracing; "
            f"this one has shape {list(x.shape)}", errors.user_location())
    return x.shape


def _known_extent(x, axis, what):
    """Extent `axis` of x, which must be known while tracing (others may
    be open: an UnimplementedError naming `what` otherwise)."""
    if x.shape[axis] is None:
        raise errors.UnimplementedError(
            f"{what} along dimension {axis} of a tensor of shape {list(x.shape)}: "
            "that extent is known only when the code runs; Kiln needs it "
            "while tracing", errors.user_location())
    return x.shape[axis]


def _axis(axis, rank, what):
    """A single axis in [-rank, rank) as a non-negative index."""
    axis = int(axis)
    if not -rank <= axis < rank:
        raise errors.InvalidArgumentError(
            f"{what}: axis {axis} is out of range for a tensor of rank {rank}",
            errors.user_location())
    return axis % rank


# --- Shapes and arrays --------------------------------------------------

def identity(input, name=None):
    """`input` (tensors are immutable: the same values)."""
    return convert_to_tensor(input)


def _full_like(input, value, dtype):
    """`value` in `input`'s shape (extents known only at run time too)."""
    x = convert_to_tensor(input)
    dtype = as_dtype(dtype or x.dtype)
    scalar = convert_to_tensor(np.asarray(value, dtype.as_numpy_dtype), dtype)
    return bind1("broadcast_to", [scalar, x], None, [tensor_type(x.shape, dtype)])


def _shape_holder(entries, what):
    """For a shape (ints and _OpenExtents) with open extents: a traced
    tensor of that shape, to take them from when the code runs (None for a
    static shape). The tensor whose extents these are when one has exactly
    this shape; otherwise one built from the sources' extents (a reduction
    of each to the extent it gives, reshaped into place, added to the
    others), which only has its extents read, so the code computing it dies
    in the compiled program (`zeros([kiln.shape(x)[0], 7])`)."""
    if any(d is None for d in entries):
        raise errors.InvalidArgumentError(
            f"{what}: the shape {list(entries)} has unknown extents (None); pass "
            "kiln.shape(x) to take them from a tensor when the code runs",
            errors.user_location())
    opens = [(i, d) for i, d in enumerate(entries) if isinstance(d, _OpenExtent)]
    if not opens:
        return None
    first = opens[0][1].tensor()
    if len(first.shape) == len(entries) and all(
            d.of(first, i) if isinstance(d, _OpenExtent) else d == first.shape[i]
            for i, d in enumerate(entries)):
        return first
    if any(int(d) < 0 for d in entries if not isinstance(d, _OpenExtent)):
        raise errors.InvalidArgumentError(
            f"{what}: negative extent in shape {list(entries)}", errors.user_location())
    rank = len(entries)
    holder = None
    for i, d in opens:
        source = d.tensor()
        column = _full_like(source, 0, int32)
        others = [a for a in builtins.range(source.ndim) if a != d.axis]
        if others:
            column = bind1("reduce_sum", [column], attributes(axes=others))
        place = [1] * rank
        place[i] = None
        column = bind1("reshape", [column], None, [tensor_type(place, int32)])
        holder = column if holder is None else holder + column
    fixed = [1 if isinstance(d, _OpenExtent) else int(d) for d in entries]
    if any(d != 1 for d in fixed):
        holder = holder + constant(np.zeros(fixed, np.int32))
    return holder


def _filled(shape, value, dtype, what):
    """`value` in `shape`; a shape with extents open at run time is taken
    from the tensor that has it (kiln.zeros(kiln.shape(x)))."""
    if isinstance(shape, (Tensor, list, tuple)):
        entries = _static_extents(shape, what, open_extents=True)
        holder = _shape_holder(entries, what)
        if holder is not None:
            return _full_like(holder, value, dtype)
        shape = entries
    return (_zeros if value == 0 else _ones)(shape, dtype)


def zeros(shape, dtype=float32, name=None):
    """A tensor of zeros (tf.zeros); `shape` may be kiln.shape(x) of a
    tensor with open extents."""
    return _filled(shape, 0, dtype, "zeros")


def ones(shape, dtype=float32, name=None):
    """A tensor of ones (tf.ones); `shape` may be kiln.shape(x) of a tensor
    with open extents."""
    return _filled(shape, 1, dtype, "ones")


def zeros_like(input, dtype=None, name=None):
    return _full_like(input, 0, dtype)


def ones_like(input, dtype=None, name=None):
    return _full_like(input, 1, dtype)


def fill(dims, value, dtype=None, name=None):
    """A tensor of shape `dims` holding `value` (dtype from the value, or
    `dtype`)."""
    entries = _static_extents(dims, "fill", open_extents=True) \
        if isinstance(dims, (Tensor, list, tuple)) else [dims]
    if isinstance(value, Tensor):
        # (A tensor of another dtype is cast, as TensorFlow's fill does.)
        scalar = value if dtype is None else cast(value, dtype)
    else:
        scalar = convert_to_tensor(value, dtype)
    if scalar.shape:
        raise errors.InvalidArgumentError(
            f"fill: the value must be a scalar, got shape {scalar.shape}",
            errors.user_location())
    holder = _shape_holder(entries, "fill")
    if holder is not None:  # (open extents: the holder's, when the code runs)
        return bind1("broadcast_to", [scalar, holder], None,
                     [tensor_type(holder.shape, scalar.dtype)])
    dims = tuple(int(d) for d in entries)
    if scalar._symbolic:
        return bind1("broadcast_to", [scalar], None, [tensor_type(dims, scalar.dtype)])
    return constant(np.full(dims, scalar.numpy(), scalar.dtype.as_numpy_dtype),
                    scalar.dtype)


def rank(input, name=None):
    return constant(convert_to_tensor(input).ndim, int32)


def _extents(x):
    return [_extent(x, i) for i in builtins.range(x.ndim)]


def size(input, out_type=int32, name=None):
    """The number of elements (tf.size); computed when the code runs for
    open extents."""
    x = convert_to_tensor(input)
    if None not in x.shape:
        return constant(int(np.prod(x.shape, dtype=np.int64)), out_type)
    total = constant(1, int64)
    for extent in _extents(x):
        total = total * extent
    return cast(total, out_type)


def shape(input, out_type=int32, name=None):
    """The extents as a 1-D tensor (tf.shape): constants where known, read
    when the compiled code runs where open (an input_signature's None), so
    `kiln.shape(x)[0]` is the batch size of each call."""
    x = convert_to_tensor(input)
    if None not in x.shape:
        return constant(np.array(x.shape, np.int64), out_type)
    out = cast(concat([reshape(e, [1]) for e in _extents(x)], 0), out_type)
    return _record_extents(out, _open_entries(x))


def ensure_shape(x, shape, name=None):
    """x, after checking its shape against `shape` (None entries, or None
    for the whole shape, match anything), as tf.ensure_shape: extents known
    while tracing are checked at once, open ones when the code runs; an
    open extent that `shape` fixes becomes known to the ops after (when
    all of them are)."""
    x = convert_to_tensor(x)
    if shape is None:
        return x
    want = [None if d is None else int(d) for d in
            (shape.numpy().tolist() if isinstance(shape, Tensor) else shape)]
    text = (f"Shape of tensor {name or 'x'} {list(x.shape)} is not compatible "
            f"with expected shape {want}")
    if len(want) != x.ndim:
        raise errors.InvalidArgumentError(text, errors.user_location())
    for i, (have, w) in enumerate(zip(x.shape, want)):
        if w is None:
            continue
        if have is not None:
            if have != w:
                raise errors.InvalidArgumentError(text, errors.user_location())
        else:
            _check_at_run_time(equal(_extent(x, i), constant(w, int64)),
                               f"{text}: dimension {i} differs")
    refined = [h if w is None else w for h, w in zip(x.shape, want)]
    if None in x.shape and None not in refined:
        x = reshape(x, refined)
    return x


def expand_dims(input, axis, name=None):
    """Inserts an extent-1 dimension at `axis` (in [-rank - 1, rank])."""
    x = convert_to_tensor(input)
    a = _axis(axis, x.ndim + 1, "expand_dims")
    return bind1("expand_dims", [x], attributes(axis=a))


def squeeze(input, axis=None, name=None):
    """Removes dimensions of extent 1 (those in `axis`, or all)."""
    x = convert_to_tensor(input)
    if axis is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    else:
        axes = sorted({_axis(a, x.ndim, "squeeze") for a in
                       (axis if isinstance(axis, (list, tuple)) else [axis])})
        for a in axes:
            if x.shape[a] != 1:
                raise errors.InvalidArgumentError(
                    f"squeeze: dimension {a} has extent {x.shape[a]}, not 1",
                    errors.user_location())
    if not axes:
        return x
    return bind1("squeeze", [x], attributes(axes=axes))


def linspace(start, stop, num, name=None, axis=0):
    """`num` evenly spaced values from `start` to `stop` (both included)."""
    num = int(num)
    dtype = float32 if isinstance(start, (int, float)) and \
        isinstance(stop, (int, float)) else convert_to_tensor(start).dtype
    start = float(convert_to_tensor(start).numpy())
    stop = float(convert_to_tensor(stop).numpy())
    return constant(np.linspace(start, stop, num), dtype)


def broadcast_to(input, shape, name=None):
    """`input` broadcast to `shape` by NumPy's rules (tf.broadcast_to):
    extents of 1 stretch, leading dimensions are added."""
    x = convert_to_tensor(input)
    _static(x, "broadcast_to")
    entries = _static_extents(shape, "broadcast_to", open_extents=True)
    # (Open extents: those of the tensor that has the target shape.)
    holder = _shape_holder(entries, "broadcast_to")
    target = tuple(None if isinstance(d, _OpenExtent) else int(d) for d in entries)
    fits = len(target) >= x.ndim and all(
        a == 1 or a == b for a, b in zip(reversed(x.shape), reversed(target)))
    if not fits or any(d is not None and d < 0 for d in target):
        raise errors.InvalidArgumentError(
            f"broadcast_to: cannot broadcast shape {list(x.shape)} to {list(target)}",
            errors.user_location())
    if target == tuple(x.shape):
        return x
    operands = [x] if holder is None else [x, holder]
    return bind1("broadcast_to", operands, None, [tensor_type(target, x.dtype)])


def tile(input, multiples, name=None):
    """`input` repeated `multiples[i]` times along dimension i."""
    x = convert_to_tensor(input)
    _static(x, "tile")
    multiples = [int(m) for m in (multiples.numpy() if isinstance(multiples, Tensor)
                                  else multiples)]
    if len(multiples) != x.ndim:
        raise errors.InvalidArgumentError(
            f"tile: {len(multiples)} multiples for a tensor of rank {x.ndim}",
            errors.user_location())
    out = x
    for axis, m in enumerate(multiples):
        if m != 1:
            out = concat([out] * m, axis) if m else _empty_along(out, axis)
    return out


def _empty_along(x, axis):
    shape_ = list(x.shape)
    shape_[axis] = 0
    return constant(np.zeros(shape_, x.dtype.as_numpy_dtype), x.dtype)


def _slice_axis(x, axis, start, stop):
    key = [builtins.slice(None)] * x.ndim
    key[axis] = builtins.slice(start, stop)
    return x[tuple(key)]


def split(value, num_or_size_splits, axis=0, num=None, name=None):
    """Pieces of `value` along `axis`: `num_or_size_splits` equal ones, or
    ones of the given sizes (one of them may be -1: the rest)."""
    x = convert_to_tensor(value)
    a = _axis(axis, x.ndim, "split")
    if x.shape[a] is None and isinstance(num_or_size_splits, (int, np.integer)) \
            and x.shape.count(None) == 1:
        return _split_open(x, a, int(num_or_size_splits))
    extent = _known_extent(x, a, "split")
    if isinstance(num_or_size_splits, (int, np.integer)):
        n = int(num_or_size_splits)
        if n <= 0 or extent % n:
            raise errors.InvalidArgumentError(
                f"split: dimension {a} of extent {extent} does not split into "
                f"{n} equal pieces", errors.user_location())
        sizes = [extent // n] * n
    else:
        sizes = [int(s) for s in (num_or_size_splits.numpy()
                                  if isinstance(num_or_size_splits, Tensor)
                                  else num_or_size_splits)]
        if sizes.count(-1) > 1:
            raise errors.InvalidArgumentError(
                "split: only one size can be -1", errors.user_location())
        if -1 in sizes:
            sizes[sizes.index(-1)] = extent - (builtins.sum(sizes) + 1)
        if builtins.sum(sizes) != extent or builtins.min(sizes) < 0:
            raise errors.InvalidArgumentError(
                f"split: sizes {sizes} do not add up to dimension {a}'s "
                f"extent {extent}", errors.user_location())
    out, start = [], 0
    for s in sizes:
        out.append(_slice_axis(x, a, start, start + s))
        start += s
    return out


def _split_open(x, a, n):
    """split(x, n, axis=a) where that extent, x's only open one, is known
    only when the code runs: x reshaped to [.., n, extent / n, ..] (the
    reshape checks that n divides it), then the n slices."""
    if n <= 0:
        raise errors.InvalidArgumentError(
            f"split: cannot split into {n} pieces", errors.user_location())
    shape = list(x.shape)
    parts = reshape(x, shape[:a] + [n, -1] + shape[a + 1:])
    return [squeeze(_slice_axis(parts, a, i, i + 1), [a]) for i in range(n)]


def unstack(value, num=None, axis=0, name=None):
    """The slices of `value` along `axis`, that dimension removed."""
    x = convert_to_tensor(value)
    a = _axis(axis, x.ndim, "unstack")
    n = _known_extent(x, a, "unstack")
    if num is not None and int(num) != n:
        raise errors.InvalidArgumentError(
            f"unstack: num={num} but dimension {a} has extent {n}",
            errors.user_location())
    return [squeeze(_slice_axis(x, a, i, i + 1), a) for i in range(n)]


def repeat(input, repeats, axis=None, name=None):
    """Each element repeated (numpy.repeat): `repeats` a number or one per
    element along `axis` (None: of the flattened input)."""
    x = convert_to_tensor(input)
    if axis is None:
        x = reshape(x, [-1])
        axis = 0
    a = _axis(axis, x.ndim, "repeat")
    extent = _known_extent(x, a, "repeat")  # (the other extents may be open)
    counts = np.asarray(repeats.numpy() if isinstance(repeats, Tensor) else repeats)
    counts = np.broadcast_to(counts, (extent,)) if counts.ndim == 0 else counts
    if counts.shape != (extent,) or (counts < 0).any():
        raise errors.InvalidArgumentError(
            f"repeat: repeats {counts.tolist()} do not fit dimension {a} of "
            f"extent {extent}", errors.user_location())
    indices = np.repeat(np.arange(extent), counts)
    return gather(x, constant(indices.astype(np.int32)), axis=a)


def reverse(tensor, axis, name=None):
    """`tensor` with the order of the given dimensions reversed."""
    x = convert_to_tensor(tensor)
    for a in sorted({_axis(a, x.ndim, "reverse") for a in axis}):
        extent = _known_extent(x, a, "reverse")
        x = gather(x, constant(np.arange(extent - 1, -1, -1, dtype=np.int32)), axis=a)
    return x


def pad(tensor, paddings, mode="CONSTANT", constant_values=0, name=None):
    """`tensor` padded by `paddings[i] = [before, after]` along dimension i:
    with `constant_values`, or mirrored ("REFLECT" leaves the edge out,
    "SYMMETRIC" repeats it), as tf.pad."""
    x = convert_to_tensor(tensor)
    paddings = np.asarray(paddings.numpy() if isinstance(paddings, Tensor)
                          else paddings, np.int64)
    if paddings.shape != (x.ndim, 2) or (paddings < 0).any():
        raise errors.InvalidArgumentError(
            f"pad: paddings must be {x.ndim} pairs of non-negative numbers, got "
            f"{paddings.tolist()}", errors.user_location())
    mode = mode.upper()
    if mode == "CONSTANT":
        value = constant_values.numpy() if isinstance(constant_values, Tensor) \
            else constant_values
        return bind1("pad", [x], attributes(low=paddings[:, 0].tolist(),
                                            high=paddings[:, 1].tolist(),
                                            value=float(value)))
    if mode not in ("REFLECT", "SYMMETRIC"):
        raise errors.InvalidArgumentError(
            f"pad: mode must be CONSTANT, REFLECT or SYMMETRIC, got {mode!r}",
            errors.user_location())
    edge = 1 if mode == "REFLECT" else 0
    for a, (before, after) in enumerate(paddings.tolist()):
        if not before and not after:
            continue
        n = _known_extent(x, a, "pad")
        if before > n - edge or after > n - edge:
            raise errors.InvalidArgumentError(
                f"pad: {mode} padding of {[before, after]} along dimension {a} "
                f"needs an extent above {builtins.max(before, after) + edge - 1}, "
                f"got {n}", errors.user_location())
        # (The mirrored indices, gathered: differentiable like any gather.)
        index = np.concatenate([np.arange(before + edge - 1, edge - 1, -1),
                                np.arange(n),
                                np.arange(n - 1 - edge, n - 1 - edge - after, -1)])
        x = gather(x, constant(index.astype(np.int32)), axis=a)
    return x


def argmin(input, axis=0, output_type=int64, name=None):
    x = convert_to_tensor(input)
    r = bind1("argmin", [x], attributes(axis=_axis(axis, x.ndim, "argmin")))
    return r if as_dtype(output_type) == int64 else cast(r, output_type)


# --- Reductions ------------------------------------------------------------

def reduce_prod(input_tensor, axis=None, keepdims=False, name=None):
    x = convert_to_tensor(input_tensor)
    attrs = attributes(axes=_axes(x, axis), keepdims=True) if keepdims \
        else attributes(axes=_axes(x, axis))
    return bind1("reduce_prod", [x], attrs)


def _bool_reduce(reduce, what):
    def apply(input_tensor, axis=None, keepdims=False, name=None):
        x = convert_to_tensor(input_tensor, bool_)
        if x.dtype != bool_:
            raise TypeError(f"{what} takes a bool tensor, got {x.dtype.name}")
        r = reduce(cast(x, int32), axis, keepdims)
        # (An empty reduction gives the int32 extreme: INT_MIN for any,
        # False; INT_MAX for all, True.)
        return equal(r, 1) if reduce is reduce_max else not_equal(r, 0)
    apply.__name__ = what
    return apply


reduce_any = _bool_reduce(reduce_max, "reduce_any")
reduce_all = _bool_reduce(reduce_min, "reduce_all")


def reduce_logsumexp(input_tensor, axis=None, keepdims=False, name=None):
    """log(sum(exp(x))) along `axis`, computed stably (the largest value
    taken out first; infinite maxima leave the result infinite)."""
    x = convert_to_tensor(input_tensor)
    m = stop_gradient(reduce_max(x, axis, keepdims=True))
    m = where(equal(m - m, 0.0), m, 0.0)  # (inf - inf is NaN: not finite)
    out = log(reduce_sum(exp(x - m), axis, keepdims=True)) + m
    return out if keepdims else _drop_axes(out, x, axis)


def _drop_axes(reduced, x, axis):
    """A keepdims=True reduction of x with those dimensions removed."""
    axes = [a % x.ndim for a in _axes(x, axis)] if x.ndim else []
    return reshape(reduced, [d for i, d in enumerate(reduced.shape) if i not in axes])


def reduce_variance(input_tensor, axis=None, keepdims=False, name=None):
    """The mean squared deviation from the mean along `axis`."""
    x = convert_to_tensor(input_tensor)
    if not x.dtype.is_floating:
        raise TypeError(f"reduce_variance takes a floating-point tensor, got "
                        f"{x.dtype.name}")
    mean = reduce_mean(x, axis, keepdims=True)
    return reduce_mean(square(x - mean), axis, keepdims)


def reduce_std(input_tensor, axis=None, keepdims=False, name=None):
    return sqrt(reduce_variance(input_tensor, axis, keepdims))


# --- Elementwise math --------------------------------------------------------

def round(x, name=None):
    """Rounds half to even (TensorFlow's and NumPy's rule: 2.5 -> 2)."""
    x = convert_to_tensor(x)
    if x.dtype.is_integer:
        return x
    low = floor(x)
    frac = x - low
    up = low + 1.0
    even_low = equal(low - 2.0 * floor(low * 0.5), 0.0)
    tie = where(even_low, low, up)
    out = where(greater(frac, 0.5), up, where(greater(0.5, frac), low, tie))
    return where(equal(out, 0.0), x * 0.0, out)  # (-0.4 rounds to -0.0)


def softplus(features, name=None):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): no overflow for large
    x, no cut-off (x + log1p(e^-x) keeps every digit in float64 too), and
    the gradient is sigmoid(x) everywhere, 0.5 at 0 (the where()s route it;
    -|x| as abs() would give 0 at 0)."""
    x = convert_to_tensor(features)
    positive = greater(x, 0.0)
    tail = log1p(exp(where(positive, -x, x)))
    return where(positive, x + tail, tail)


def softsign(features, name=None):
    x = convert_to_tensor(features)
    return x / (1.0 + abs(x))


def log_sigmoid(x, name=None):
    return -softplus(-convert_to_tensor(x))


def group(*inputs, name=None):
    """tf.group: Kiln runs ops when they are called (eagerly) or in program
    order (compiled), so there is nothing to group: None."""
    return None


def no_op(name=None):
    """tf.no_op: nothing to do; None."""
    return None


def tuple_(tensors, name=None, control_inputs=None):
    """The tensors, as a list (tf.tuple's grouping is implicit in Kiln)."""
    return [None if t is None else identity(t) for t in tensors]


def numpy_function(func, inp, Tout, stateful=True, name=None):
    """func applied to the NumPy values of `inp` (tf.numpy_function):
    eagerly only; inside @kiln.function an UnimplementedError naming the
    line (compiled code cannot call back into Python)."""
    tensors = [convert_to_tensor(t) for t in inp]
    if builtins.any(t._symbolic for t in tensors):
        raise errors.UnimplementedError(
            "numpy_function/py_function: compiled code cannot call Python; call it "
            "outside @kiln.function", errors.user_location())
    out = func(*[t.numpy() for t in tensors])
    if isinstance(Tout, (list, builtins.tuple)):
        return [convert_to_tensor(np.asarray(v), dtype) for v, dtype in zip(out, Tout)]
    return convert_to_tensor(np.asarray(out), Tout)


def py_function(func, inp, Tout, name=None):
    """func applied to the eager tensors `inp` (tf.py_function), eagerly
    only, as numpy_function."""
    tensors = [convert_to_tensor(t) for t in inp]
    if builtins.any(t._symbolic for t in tensors):
        raise errors.UnimplementedError(
            "numpy_function/py_function: compiled code cannot call Python; call it "
            "outside @kiln.function", errors.user_location())
    out = func(*tensors)
    if isinstance(Tout, (list, builtins.tuple)):
        return [convert_to_tensor(v, dtype) for v, dtype in zip(out, Tout)]
    return convert_to_tensor(out, Tout)


def is_tensor(x):
    """Whether x is a Kiln tensor (or variable)."""
    from . import variables
    return isinstance(x, (Tensor, variables.Variable))


def get_static_value(tensor, partial=False):
    """The value as a NumPy array when it is known now (an eager tensor, or
    a constant while tracing), else None (tf.get_static_value)."""
    if not isinstance(tensor, Tensor):
        return np.asarray(tensor)
    if not tensor._symbolic:
        return tensor.numpy()
    try:
        return _known_values(tensor, "get_static_value")
    except errors.UnimplementedError:
        return None


def identity_n(input, name=None):
    """Each tensor of the list, unchanged."""
    return [identity(t) for t in input]


def shape_n(input, out_type=int32, name=None):
    """kiln.shape of each tensor of the list."""
    return [shape(t, out_type) for t in input]


def broadcast_static_shape(shape_x, shape_y):
    """The shape two shapes broadcast to (NumPy's rule; None for an open
    extent), as a tuple."""
    x, y = list(shape_x), list(shape_y)
    out = []
    for i in builtins.range(1, builtins.max(len(x), len(y)) + 1):
        a = x[-i] if i <= len(x) else 1
        b = y[-i] if i <= len(y) else 1
        if a == 1 or a == b:
            out.append(b)
        elif b == 1:
            out.append(a)
        elif a is None or b is None:
            out.append(a if b is None else b)
        else:
            raise ValueError(f"broadcast_static_shape: {list(shape_x)} and {list(shape_y)} "
                             "do not broadcast")
    return tuple(reversed(out))


def broadcast_dynamic_shape(shape_x, shape_y):
    """The broadcast of two shape vectors, as a tensor (their values must
    be known)."""
    x = _known_values(convert_to_tensor(shape_x), "broadcast_dynamic_shape")
    y = _known_values(convert_to_tensor(shape_y), "broadcast_dynamic_shape")
    return constant(np.array(broadcast_static_shape(x.tolist(), y.tolist()),
                             x.dtype if x.size else np.int32))


def _slice_begin(begin, rank):
    """tf.slice's `begin` as one entry per dimension (ints and int scalar
    tensors) when some entry is known only when the compiled code runs;
    None when all are known while tracing."""
    if isinstance(begin, Tensor):
        if not begin._symbolic or begin.ndim != 1:
            return None
        entries = _partial_extents(begin)
        if entries is not None and all(isinstance(e, (int, np.integer)) for e in entries):
            return None
        if begin.shape[0] != rank:
            return [None] * (rank + 1)   # (the size error below)
        return [int(entries[d]) if entries is not None and
                isinstance(entries[d], (int, np.integer)) else gather(begin, d)
                for d in range(rank)]
    if isinstance(begin, (list, tuple)) and any(
            isinstance(b, Tensor) and b._symbolic for b in begin):
        return list(begin)
    return None


def _dynamic_slice(x, starts, size):
    """tf.slice with a begin computed when the code runs: the block of
    `size` (known while tracing) from `starts`, one gather of consecutive
    positions per such dimension; the code checks that the block fits, as
    TensorFlow does."""
    if len(starts) != x.ndim or len(size) != x.ndim:
        raise errors.InvalidArgumentError(
            f"slice: begin and size {size} need one entry per dimension of "
            f"{list(x.shape)}", errors.user_location())
    out = x
    for d, (b, n) in enumerate(zip(starts, size)):
        extent = x.shape[d]
        if not isinstance(b, Tensor):
            b = int(b)
            end = extent if n == -1 else b + n
            if b < 0 or n < -1 or (extent is not None and end > extent):
                raise errors.InvalidArgumentError(
                    f"slice: a block of {n} from {b} does not fit dimension {d} of "
                    f"{list(x.shape)}", errors.user_location())
            if (b, end) != (0, extent):
                out = _slice_axis(out, d, b, end)
            continue
        if n == -1 or extent is None:
            raise errors.UnimplementedError(
                f"slice: dimension {d}'s begin is computed when the code runs, so "
                "its size must be given (not -1) and the dimension's extent known "
                "while tracing: Kiln compiles static shapes", errors.user_location())
        if b.shape or not b.dtype.is_integer:
            raise errors.InvalidArgumentError(
                "slice: each begin must be an integer scalar", errors.user_location())
        b = cast(b, int64)
        ok = logical_and(greater_equal(b, 0), less_equal(b + n, extent))
        _check_at_run_time(ok, f"slice: a block of {n} does not fit dimension {d} of "
                               f"{list(x.shape)} from the begin given")
        out = gather(out, b + constant(np.arange(n, dtype=np.int64), int64), axis=d)
    return out


def slice_(input_, begin, size, name=None):
    """The block of `size` elements from `begin` in each dimension (a size
    of -1: the rest), as tf.slice."""
    x = convert_to_tensor(input_)
    size = [int(n) for n in _static_extents(size, "slice")]
    starts = _slice_begin(begin, x.ndim)
    if starts is not None:
        return _dynamic_slice(x, starts, size)
    begin = [int(b) for b in _static_extents(begin, "slice")]
    if len(begin) != x.ndim or len(size) != x.ndim:
        raise errors.InvalidArgumentError(
            f"slice: begin {begin} and size {size} need one entry per dimension of "
            f"{list(x.shape)}", errors.user_location())
    key = []
    for d, (b, n) in enumerate(zip(begin, size)):
        extent = x.shape[d]
        end = extent if n == -1 else b + n
        if b < 0 or n < -1 or (extent is not None and end > extent):
            raise errors.InvalidArgumentError(
                f"slice: begin {begin} and size {size} do not fit a tensor of shape "
                f"{list(x.shape)}", errors.user_location())
        key.append(builtins.slice(b, None if n == -1 else end))
    return x[tuple(key)]


def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0,
                  ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0, name=None):
    """x[begin:end:strides] per dimension, as tf.strided_slice: a set bit i
    of begin_mask / end_mask ignores begin[i] / end[i], of shrink_axis_mask
    takes the single element begin[i] (dropping the dimension), of
    new_axis_mask inserts a dimension of 1, of ellipsis_mask stands for the
    dimensions not named."""
    x = convert_to_tensor(input_)
    begin = [int(b) for b in _static_extents(begin, "strided_slice")]
    end = [int(e) for e in _static_extents(end, "strided_slice")]
    strides = [1] * len(begin) if strides is None else \
        [int(v) for v in _static_extents(strides, "strided_slice")]
    key = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides)):
        bit = 1 << i
        if ellipsis_mask & bit:
            key.append(Ellipsis)
        elif new_axis_mask & bit:
            key.append(None)
        elif shrink_axis_mask & bit:
            key.append(b)
        else:
            key.append(builtins.slice(None if begin_mask & bit else b,
                                      None if end_mask & bit else e, s))
    return x[tuple(key)]


def saturate_cast(value, dtype, name=None):
    """value cast to `dtype`, clamped first to the range dtype holds."""
    x = convert_to_tensor(value)
    dtype = as_dtype(dtype)
    bits = {"float16": 16, "bfloat16": 16, "float32": 32, "float64": 64}
    if dtype.is_integer and x.dtype.is_floating:
        info = np.iinfo(dtype.as_numpy_dtype)
        x = minimum(maximum(x, constant(float(info.min), x.dtype)),
                    constant(float(info.max), x.dtype))
    elif dtype.is_integer and x.dtype.is_integer:
        # (The part of the target's range that x's type holds.)
        to, of = np.iinfo(dtype.as_numpy_dtype), np.iinfo(x.dtype.as_numpy_dtype)
        if of.min < to.min:
            x = maximum(x, constant(to.min, x.dtype))
        if of.max > to.max:
            x = minimum(x, constant(to.max, x.dtype))
    elif dtype.is_floating and x.dtype.is_floating and bits[x.dtype.name] > bits[dtype.name]:
        top = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38,
               "float32": float(np.finfo(np.float32).max)}[dtype.name]
        x = minimum(maximum(x, constant(-top, x.dtype)), constant(top, x.dtype))
    return cast(x, dtype)


def truncatediv(x, y, name=None):
    """x / y rounded toward zero (integers; floats are divided then
    truncated)."""
    x, y = _pair(x, y)
    if x.dtype.is_integer:
        return bind1("div", [x, y])  # (kiln.div of integers truncates)
    q = x / y
    return where(less(q, zeros_like(q)), ceil(q), floor(q))


def realdiv(x, y, name=None):
    """x / y of floating-point tensors."""
    x, y = _pair(x, y)
    if not x.dtype.is_floating:
        raise TypeError(f"realdiv takes floating-point tensors, got {x.dtype.name}")
    return x / y


def scalar_mul(scalar, x, name=None):
    """scalar * x."""
    x = convert_to_tensor(x)
    return convert_to_tensor(scalar, x.dtype) * x


def reverse_sequence(input, seq_lengths, seq_axis=None, batch_axis=0, name=None):
    """For each example along batch_axis, its first seq_lengths[i] entries
    along seq_axis reversed, the rest left as they are (tf.reverse_sequence):
    a gather by positions computed from the lengths."""
    x = convert_to_tensor(input)
    if seq_axis is None:
        raise ValueError("reverse_sequence needs seq_axis")
    s, b = int(seq_axis) % x.ndim, int(batch_axis) % x.ndim
    if s == b:
        raise errors.InvalidArgumentError(
            "reverse_sequence: seq_axis and batch_axis must differ", errors.user_location())
    steps = _static(x, "reverse_sequence")[s]
    lengths = cast(convert_to_tensor(seq_lengths), int32)
    if lengths.shape != (x.shape[b],):
        raise errors.InvalidArgumentError(
            f"reverse_sequence: seq_lengths has shape {list(lengths.shape)}, not "
            f"[{x.shape[b]}] (one length per example)", errors.user_location())
    _check_at_run_time(logical_and(greater_equal(lengths, 0), less_equal(lengths, steps)),
                       f"reverse_sequence: a length is outside [0, {steps}]")
    t = constant(np.arange(steps, dtype=np.int32))
    # source position of step t for example i: len - 1 - t where t < len
    lens = expand_dims(lengths, 1)                            # [batch, 1]
    source = where(less(t, lens), lens - 1 - t, t + zeros_like(lens))  # [batch, steps]
    # Move batch and seq axes to the front, gather per example, move back.
    perm = [b, s] + [a for a in builtins.range(x.ndim) if a not in (b, s)]
    moved = transpose(x, perm)
    rows = _gather_rows(moved, source)
    inverse = [perm.index(a) for a in builtins.range(x.ndim)]
    return transpose(rows, inverse)


def _gather_rows(x, positions):
    """out[i, t] = x[i, positions[i, t]] for x [batch, steps, ...]: one
    gather over the flattened (batch, steps) rows."""
    batch, steps = x.shape[0], x.shape[1]
    flat = reshape(x, [-1] + list(x.shape[2:]))
    offsets = expand_dims(constant(np.arange(batch, dtype=np.int32) * steps), 1)
    return reshape(gather(flat, reshape(positions + offsets, [-1])),
                   [batch, steps] + list(x.shape[2:]))


def add_n(inputs, name=None):
    """The elementwise sum of a list of tensors of one shape (tf.add_n)."""
    tensors = [convert_to_tensor(t) for t in inputs]
    if not tensors:
        raise errors.InvalidArgumentError("add_n: needs at least one tensor",
                                          errors.user_location())
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1 and not builtins.all(None in s for s in shapes):
        raise errors.InvalidArgumentError(
            f"add_n: the tensors have different shapes {sorted(map(list, shapes))}",
            errors.user_location())
    total = tensors[0]
    for t in tensors[1:]:
        total = total + t
    return total



def accumulate_n(inputs, shape=None, tensor_dtype=None, name=None):
    """tf.math.accumulate_n: add_n's sum (TensorFlow's own is add_n with
    the shape and dtype checked)."""
    total = add_n(inputs)
    if shape is not None and not total.shape.is_compatible_with(shape):
        raise ValueError(f"accumulate_n: the inputs have shape {list(total.shape)}, "
                         f"not compatible with the given {list(shape)}")
    if tensor_dtype is not None and total.dtype != as_dtype(tensor_dtype):
        raise TypeError(f"accumulate_n: the inputs are {total.dtype.name}, not "
                        f"{as_dtype(tensor_dtype).name}")
    return total

def divide_no_nan(x, y, name=None):
    """x / y, 0 where y is 0 (even for x 0 or infinite)."""
    x, y = _pair(x, y)
    zero = equal(y, 0)
    return where(zero, zeros_like(x / y), x / where(zero, ones_like(y), y))


def multiply_no_nan(x, y, name=None):
    """x * y, 0 where y is 0 (even for x infinite or NaN)."""
    x, y = _pair(x, y)
    product = x * y
    return where(equal(y, 0), zeros_like(product), product)


def reciprocal_no_nan(x, name=None):
    """1 / x, 0 where x is 0."""
    x = convert_to_tensor(x)
    return divide_no_nan(ones_like(x), x)


def xlogy(x, y, name=None):
    """x * log(y), 0 where x is 0 (the convention of entropies)."""
    x, y = _pair(x, y)
    product = x * log(where(equal(x, 0), ones_like(y), y))
    return where(equal(x, 0), zeros_like(product), product)


def xlog1py(x, y, name=None):
    """x * log1p(y), 0 where x is 0."""
    x, y = _pair(x, y)
    product = x * log1p(where(equal(x, 0), zeros_like(y), y))
    return where(equal(x, 0), zeros_like(product), product)


def xdivy(x, y, name=None):
    """x / y, 0 where x is 0."""
    x, y = _pair(x, y)
    quotient = x / where(equal(x, 0), ones_like(y), y)
    return where(equal(x, 0), zeros_like(quotient), quotient)


def count_nonzero(input, axis=None, keepdims=False, dtype=int64, name=None):
    """How many entries are not 0 (False, ""), over `axis` (all for None)."""
    x = convert_to_tensor(input)
    return reduce_sum(cast(not_equal(x, zeros_like(x)), as_dtype(dtype)), axis=axis,
                      keepdims=keepdims)


def reduce_euclidean_norm(input_tensor, axis=None, keepdims=False, name=None):
    """sqrt of the sum of squares over `axis` (all for None); of moduli for
    complex tensors (a complex result, as TensorFlow's)."""
    return _euclidean(convert_to_tensor(input_tensor), axis, keepdims)


def rint(x, name=None):
    """The nearest integer, halves to even (as round)."""
    return round(x)


def zero_fraction(value, name=None):
    """The fraction of entries that are 0, as float32."""
    x = convert_to_tensor(value)
    return reduce_mean(cast(equal(x, zeros_like(x)), float32))


def _logaddexp(a, b):
    """log(exp(a) + exp(b)) without overflow or underflow: the larger plus
    log1p of the smaller's exp relative to it (-inf with -inf stays)."""
    high, low = maximum(a, b), minimum(a, b)
    gap = where(equal(high, low), zeros_like(high), low - high)   # (<= 0; -inf - -inf)
    return high + log1p(exp(gap))


def cumulative_logsumexp(x, axis=0, exclusive=False, reverse=False, name=None):
    """log(cumsum(exp(x))) along `axis` as a scan of log-add-exp (every
    prefix keeps its own scale: no underflow to -inf however far its
    values lie below the rest)."""
    return _scan(x, axis, exclusive, reverse, _logaddexp, float("-inf"),
                 "cumulative_logsumexp")


def polyval(coeffs, x, name=None):
    """coeffs[0] x^(n-1) + ... + coeffs[n-1] by Horner's rule (a list of
    tensors or numbers)."""
    x = convert_to_tensor(x)
    if not len(coeffs):
        return zeros_like(x)
    out = convert_to_tensor(coeffs[0], x.dtype) if not isinstance(coeffs[0], Tensor) \
        else coeffs[0]
    for c in coeffs[1:]:
        out = out * x + (c if isinstance(c, Tensor) else convert_to_tensor(c, x.dtype))
    return out


def is_non_decreasing(x, name=None):
    """Whether x's elements in row-major order never decrease."""
    flat = reshape(convert_to_tensor(x), [-1])
    if flat.shape[0] is not None and flat.shape[0] < 2:
        return constant(True)
    return reduce_all(less_equal(flat[:-1], flat[1:]))


def is_strictly_increasing(x, name=None):
    """Whether x's elements in row-major order always increase."""
    flat = reshape(convert_to_tensor(x), [-1])
    if flat.shape[0] is not None and flat.shape[0] < 2:
        return constant(True)
    return reduce_all(less(flat[:-1], flat[1:]))


def invert_permutation(x, name=None):
    """y with y[x[i]] = i for a permutation x of 0..n-1 (known values, or
    compiled: a scatter)."""
    p = convert_to_tensor(x)
    n = _static(p, "invert_permutation")[0]
    inside = logical_and(greater_equal(p, 0), less(p, n))
    hits = bind1("scatter_add", [zeros_like(p), where(inside, p, zeros_like(p) - 1),
                                 ones_like(p)], attributes(axis=0))
    _check_at_run_time(equal(hits, ones_like(hits)),
                       f"invert_permutation: x is not a permutation of 0..{n - 1}")
    positions = constant(np.arange(n), p.dtype)
    return bind1("scatter_add", [zeros_like(p), p, positions], attributes(axis=0))


def unravel_index(indices, dims, name=None):
    """The coordinates of flat `indices` in an array of shape `dims`
    ([len(dims)] + indices.shape), as np.unravel_index stacked."""
    flat = convert_to_tensor(indices)
    dims = [int(d) for d in (dims.numpy() if isinstance(dims, Tensor) else dims)]
    coords, rest = [], flat
    for d in reversed(dims):
        coords.append(floormod(rest, constant(d, flat.dtype)))
        rest = floordiv(rest, constant(d, flat.dtype))
    return stack(list(reversed(coords)), axis=0)


def confusion_matrix(labels, predictions, num_classes=None, weights=None, dtype=int32,
                     name=None):
    """counts[i, j]: how often label i was predicted as j (weighted by
    `weights`), as tf.math.confusion_matrix; num_classes defaults to the
    largest label or prediction plus one (then the values must be known)."""
    labels = reshape(convert_to_tensor(labels), [-1])
    predictions = reshape(convert_to_tensor(predictions), [-1])
    if num_classes is None:
        known = np.concatenate([_known_values(labels, "confusion_matrix without num_classes"),
                                _known_values(predictions,
                                              "confusion_matrix without num_classes")])
        num_classes = int(known.max()) + 1 if known.size else 0
    n = int(num_classes)
    labels, predictions = cast(labels, int32), cast(predictions, int32)
    ok = logical_and(logical_and(greater_equal(labels, 0), less(labels, n)),
                     logical_and(greater_equal(predictions, 0), less(predictions, n)))
    _check_at_run_time(ok, f"confusion_matrix: a label or prediction is outside [0, {n})")
    cells = labels * n + predictions
    counts = cast(ones_like(cells), as_dtype(dtype)) if weights is None else \
        cast(reshape(convert_to_tensor(weights), [-1]), as_dtype(dtype))
    return reshape(unsorted_segment_sum(counts, cells, n * n), [n, n])


def squared_difference(x, y, name=None):
    x, y = _pair(x, y)
    return square(x - y)


def l2_normalize(x, axis=None, epsilon=1e-12, name=None):
    """x / sqrt(max(sum(x**2), epsilon)) along `axis`."""
    x = convert_to_tensor(x)
    total = reduce_sum(square(x), axis, keepdims=True)
    return x * rsqrt(maximum(total, _like(float(epsilon), x.dtype)))


# --- Clipping -------------------------------------------------------------------

def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    t = convert_to_tensor(t)
    return minimum(maximum(t, clip_value_min), clip_value_max)


def clip_by_norm(t, clip_norm, axes=None, name=None):
    """t scaled so its L2 norm (along `axes`) is at most `clip_norm`."""
    t = convert_to_tensor(t)
    l2 = sqrt(reduce_sum(square(t), axes, keepdims=True))
    clip = convert_to_tensor(clip_norm, t.dtype)
    return t * clip / maximum(l2, clip)


def global_norm(t_list, name=None):
    """sqrt of the sum of squares of every element of every tensor (None
    entries skipped)."""
    terms = [reduce_sum(square(convert_to_tensor(t))) for t in t_list if t is not None]
    if not terms:
        return constant(0.0)
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return sqrt(total)


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name=None):
    """(the tensors scaled by clip_norm / max(global_norm, clip_norm), the
    global norm), as tf.clip_by_global_norm; None entries stay None."""
    if isinstance(t_list, Tensor):
        raise TypeError("clip_by_global_norm takes a list of tensors")
    norm = global_norm(t_list) if use_norm is None else convert_to_tensor(use_norm)
    clip = convert_to_tensor(clip_norm, norm.dtype)
    scale = clip / maximum(norm, clip)
    clipped = [None if t is None else
               convert_to_tensor(t) * cast(scale, convert_to_tensor(t).dtype)
               for t in t_list]
    return clipped, norm


# --- Products and norms ---------------------------------------------------------

def tensordot(a, b, axes, name=None):
    """Sums a and b over `axes` (an int: a's last and b's first that many
    dimensions; or a pair of lists), as numpy.tensordot."""
    a, b = _pair(a, b)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        a_axes, b_axes = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        a_axes, b_axes = axes
        a_axes = [a_axes] if isinstance(a_axes, (int, np.integer)) else list(a_axes)
        b_axes = [b_axes] if isinstance(b_axes, (int, np.integer)) else list(b_axes)
    a_axes = [_axis(x, a.ndim, "tensordot") for x in a_axes]
    b_axes = [_axis(x, b.ndim, "tensordot") for x in b_axes]
    sa, sb = _static(a, "tensordot"), _static(b, "tensordot")
    if [sa[i] for i in a_axes] != [sb[i] for i in b_axes]:
        raise errors.InvalidArgumentError(
            f"tensordot: extents {[sa[i] for i in a_axes]} of a and "
            f"{[sb[i] for i in b_axes]} of b do not match", errors.user_location())
    a_free = [i for i in range(a.ndim) if i not in a_axes]
    b_free = [i for i in range(b.ndim) if i not in b_axes]
    k = int(np.prod([sa[i] for i in a_axes], dtype=np.int64))
    m = int(np.prod([sa[i] for i in a_free], dtype=np.int64))
    n = int(np.prod([sb[i] for i in b_free], dtype=np.int64))
    a2 = reshape(transpose(a, a_free + a_axes), [m, k])
    b2 = reshape(transpose(b, b_axes + b_free), [k, n])
    return reshape(matmul(a2, b2), [sa[i] for i in a_free] + [sb[i] for i in b_free])


def _euclidean(x, axis, keepdims):
    """sqrt(sum |x|^2) over `axis`; of complex x the norm of the moduli,
    as a complex number (TensorFlow's dtype)."""
    if x.dtype.is_complex:
        return cast(sqrt(reduce_sum(square(abs(x)), axis, keepdims)), x.dtype)
    return sqrt(reduce_sum(square(x), axis, keepdims))


def norm(tensor, ord="euclidean", axis=None, keepdims=False, name=None):
    """tf.norm: over one axis (or all, axis=None) the vector norms
    ('euclidean'/2, 1, np.inf, any p > 0); over a pair of axes the matrix
    norms 'fro'/'euclidean' (Frobenius), 1 (the largest column sum of
    moduli), np.inf (the largest row sum). Complex tensors take moduli
    (the euclidean norms then a complex result, the others real, as
    TensorFlow's)."""
    x = convert_to_tensor(tensor)
    pair = isinstance(axis, (list, tuple)) and len(axis) == 2
    if isinstance(axis, (list, tuple)) and len(axis) not in (1, 2):
        raise errors.InvalidArgumentError(
            f"norm: axis must be an int or a pair of ints, got {axis!r}", errors.user_location())
    if isinstance(axis, (list, tuple)) and len(axis) == 1:
        axis = axis[0]
    if ord in ("euclidean", "fro") or (ord in (2, 2.0) and not pair):
        if ord == "fro" and not pair and x.ndim != 2:
            raise errors.InvalidArgumentError(
                "norm: 'fro' is a matrix norm: give axis a pair of axes", errors.user_location())
        return _euclidean(x, list(axis) if pair else axis, keepdims)
    if pair:
        rows, cols = (int(a) % builtins.max(x.ndim, 1) for a in axis)
        if rows == cols:
            raise errors.InvalidArgumentError(f"norm: the axes {list(axis)} must differ",
                                              errors.user_location())
        if ord in (2, 2.0):
            raise errors.UnimplementedError(
                "norm: the spectral norm (ord=2 over two axes) is not supported; "
                "kiln.linalg.svd(x, compute_uv=False)[..., 0] is that norm",
                errors.user_location())
        if ord not in (1, 1.0, np.inf):
            raise errors.InvalidArgumentError(
                f"norm: a matrix norm's ord must be 'fro', 'euclidean', 1, 2 or np.inf, "
                f"got {ord!r}", errors.user_location())
        # ord 1: the largest sum down a column; inf: along a row.
        summed, maxed = (rows, cols) if ord != np.inf else (cols, rows)
        out = reduce_max(reduce_sum(abs(x), summed, keepdims=True), maxed, keepdims=True)
        if not keepdims:
            out = reshape(out, [d for a, d in enumerate(out.shape) if a not in (rows, cols)])
        return out   # (of moduli: real, as TensorFlow's for complex input)
    if ord in (1, 1.0):
        out = reduce_sum(abs(x), axis, keepdims)
    elif ord == np.inf:
        out = reduce_max(abs(x), axis, keepdims)
    elif isinstance(ord, (int, float, np.integer, np.floating)) and \
            not isinstance(ord, bool) and 0 < ord < np.inf:
        magnitude = abs(x)
        out = _pow(reduce_sum(_pow(magnitude, convert_to_tensor(float(ord), magnitude.dtype)),
                              axis, keepdims),
                   convert_to_tensor(1.0 / float(ord), magnitude.dtype))
    else:
        raise errors.InvalidArgumentError(
            f"norm: ord must be 'euclidean', 'fro', np.inf or a number > 0, got {ord!r}",
            errors.user_location())
    return out   # (of moduli: real, as TensorFlow's for complex input)


# --- Scans -----------------------------------------------------------------

def _scan(x, axis, exclusive, reverse_, combine, identity, what):
    """An inclusive scan along `axis` by doubling (Hillis-Steele): log2(n)
    rounds of x = combine(x, x shifted by 2^k, filled with `identity`), all
    differentiable Kiln ops."""
    x = convert_to_tensor(x)
    a = _axis(axis, x.ndim, what)
    n = _static(x, what)[a]
    if reverse_:
        x = reverse(x, [a])
    if exclusive:
        x = _shift(x, a, 1, identity)
    k = 1
    while k < n:
        x = combine(x, _shift(x, a, k, identity))
        k *= 2
    return reverse(x, [a]) if reverse_ else x


def _shift(x, axis, k, fill_value):
    """x moved k places along `axis` (toward higher indices), the first k
    filled with `fill_value`."""
    n = x.shape[axis]
    if k >= n:
        return fill(x.shape, fill_value, x.dtype)
    kept = _slice_axis(x, axis, 0, n - k)
    padding = [[0, 0]] * x.ndim
    padding[axis] = [k, 0]
    return pad(kept, padding, constant_values=fill_value)


def cumsum(x, axis=0, exclusive=False, reverse=False, name=None):
    """Running sums along `axis` (exclusive: each element left out of its
    own sum; reverse: from the end), as tf.math.cumsum; of complex
    tensors, of both parts."""
    x = convert_to_tensor(x)
    if x.dtype.is_complex:
        return core.complex_ops["complex"](
            *(cumsum(part, axis, exclusive, reverse) for part in (x._impl.real, x._impl.imag)))
    return _scan(x, axis, exclusive, reverse, lambda a, b: a + b, 0, "cumsum")


def cumprod(x, axis=0, exclusive=False, reverse=False, name=None):
    """Running products along `axis`, as tf.math.cumprod (real tensors)."""
    x = convert_to_tensor(x)
    if x.dtype.is_complex:
        raise errors.UnimplementedError(
            "cumprod of a complex tensor is not supported (cumsum is); multiply the "
            "polar forms: the cumsum of the logs' parts", errors.user_location())
    return _scan(x, axis, exclusive, reverse, lambda a, b: a * b, 1, "cumprod")


# --- N-dimensional gathers and scatters -----------------------------------------

def _flat_indices(indices, shape, what):
    """Row indices into `shape`'s first K dimensions flattened, for
    `indices` [..., K]; every component must be in range (checked where the
    values are: now, or when compiled code runs)."""
    k = indices.shape[-1]
    if k is None or k > len(shape):
        raise errors.InvalidArgumentError(
            f"{what}: indices of depth {k} for a tensor of rank {len(shape)}",
            errors.user_location())
    dims = [int(d) for d in shape[:k]]
    if not indices.dtype.is_integer:
        raise TypeError(f"{what}: indices must be integers, got {indices.dtype.name}")
    indices = widen(indices)  # (uint8 indices: no wrap)
    bounds = constant(np.array(dims, np.int64), indices.dtype)
    ok = logical_and(greater_equal(indices, 0), less(indices, bounds))
    _check_at_run_time(ok, f"{what}: an index is out of range for the shape {dims}")
    strides = np.cumprod([1] + dims[:0:-1])[::-1].astype(np.int64)
    flat = reduce_sum(indices * constant(strides, indices.dtype), axis=-1)
    rows = int(np.prod(dims, dtype=np.int64))
    return flat, rows, k


def _with_batch_coordinates(params, indices, batch_dims, inner, what):
    """indices [B..., X..., m] (X: the `inner` - batch_dims axes after the
    batch) with each entry's batch position prepended: [B..., X..., k + m],
    for a gather_nd over the whole params. The batch extents must be known
    and equal in both."""
    batch = list(params.shape[:batch_dims])
    if not 0 < batch_dims <= min(params.ndim - 1, inner) or None in batch or \
            list(indices.shape[:batch_dims]) != batch:
        raise errors.InvalidArgumentError(
            f"{what}: batch_dims={batch_dims} needs the first {batch_dims} extents of params "
            f"{list(params.shape)} and indices {list(indices.shape)} known and equal",
            errors.user_location())
    extra = list(indices.shape[batch_dims:inner])
    if None in extra:
        raise errors.UnimplementedError(
            f"{what}: with batch_dims, the indices' extents must be known while tracing, "
            f"got {list(indices.shape)}", errors.user_location())
    coordinates = np.moveaxis(np.indices(batch), 0, -1).reshape(
        batch + [1] * len(extra) + [batch_dims])
    coordinates = np.broadcast_to(coordinates, batch + extra + [batch_dims])
    positions = indices if indices.ndim > inner else expand_dims(indices, -1)
    return concat([constant(np.ascontiguousarray(coordinates), positions.dtype), positions],
                  axis=-1)


def gather_nd(params, indices, batch_dims=0, name=None):
    """params[indices[..., :]]: for indices [..., K], slices of params taken
    at K-dimensional positions (result: indices.shape[:-1] +
    params.shape[K:])."""
    params, indices = convert_to_tensor(params), convert_to_tensor(indices)
    if batch_dims:
        return gather_nd(params, _with_batch_coordinates(params, indices, int(batch_dims),
                                                         indices.ndim - 1, "gather_nd"))
    shape_ = _static(params, "gather_nd")
    flat, rows, k = _flat_indices(indices, shape_, "gather_nd")
    table = reshape(params, [rows] + list(shape_[k:]))
    return gather(table, flat, axis=0)


def scatter_nd(indices, updates, shape, name=None):
    """A zero tensor of `shape` with `updates` added at `indices` (repeated
    indices add up), as tf.scatter_nd."""
    updates, indices = convert_to_tensor(updates), convert_to_tensor(indices)
    if isinstance(shape, Tensor) and shape._symbolic:
        base = zeros(shape, updates.dtype)       # (known when the code runs)
    else:
        shape_ = [int(d) for d in (shape.numpy() if isinstance(shape, Tensor) else shape)]
        base = constant(np.zeros(shape_, updates.dtype.as_numpy_dtype), updates.dtype)
    return tensor_scatter_nd_add(base, indices, updates)


def _scatter_rows(tensor, indices, what):
    """(table, row of each index, back): `tensor` seen as rows indexed by
    the first K dimensions for `indices` [..., K], and the function giving
    a table of that form `tensor`'s shape again. Indices of depth 1 index
    the first dimension itself, whose extent (and the others') may be
    known only when the code runs; deeper indices need their K extents
    known while tracing."""
    k = indices.shape[-1]
    if k == 1 and tensor.ndim >= 1:
        if not indices.dtype.is_integer:
            raise TypeError(f"{what}: indices must be integers, got {indices.dtype.name}")
        rows = widen(indices)
        bound = tensor.shape[0] if tensor.shape[0] is not None else \
            cast(shape(tensor)[0], rows.dtype)
        ok = logical_and(greater_equal(rows, 0), less(rows, bound))
        _check_at_run_time(ok, f"{what}: an index is out of range for the first dimension "
                               f"of a tensor of shape {list(tensor.shape)}")
        return tensor, squeeze(rows, axis=-1), lambda out: out
    if k is not None and k <= len(tensor.shape) and None in tensor.shape[:k]:
        _static(tensor, what)
    shape_ = list(tensor.shape)
    flat, rows, k = _flat_indices(indices, shape_, what)
    if None in shape_[k:]:
        _static(tensor, what)
    table = reshape(tensor, [rows] + shape_[k:])
    return table, flat, lambda out: reshape(out, shape_)


def _tensor_scatter_nd(what, tensor, indices, updates, reduction=None):
    """`tensor` with `updates` combined in at `indices`: added, or by
    kiln.scatter_reduce's `reduction`."""
    tensor = convert_to_tensor(tensor)
    indices, updates = convert_to_tensor(indices), convert_to_tensor(updates, tensor.dtype)
    if reduction and tensor.dtype == bool_:
        raise TypeError(f"{what}: the tensor must be numeric, got bool")
    table, flat, back = _scatter_rows(tensor, indices, what)
    if reduction is None:
        out = bind1("scatter_add", [table, flat, updates], attributes(axis=0))
    else:
        out = bind1("scatter_reduce", [table, flat, updates],
                    attributes(reduction=enum_case("scatter_reduction", reduction), axis=0))
    return back(out)


def tensor_scatter_nd_add(tensor, indices, updates, name=None):
    """`tensor` with `updates` added at `indices` (repeated indices add up)."""
    return _tensor_scatter_nd("tensor_scatter_nd_add", tensor, indices, updates)


def tensor_scatter_nd_sub(tensor, indices, updates, name=None):
    """`tensor` with `updates` subtracted at `indices`
    (tf.tensor_scatter_nd_sub)."""
    tensor = convert_to_tensor(tensor)
    return _tensor_scatter_nd("tensor_scatter_nd_sub", tensor, indices,
                              -convert_to_tensor(updates, tensor.dtype))


def tensor_scatter_nd_max(tensor, indices, updates, name=None):
    """`tensor` with each position at `indices` the maximum of what it
    holds and its updates (tf.tensor_scatter_nd_max)."""
    return _tensor_scatter_nd("tensor_scatter_nd_max", tensor, indices, updates, "max")


def tensor_scatter_nd_min(tensor, indices, updates, name=None):
    """`tensor` with each position at `indices` the minimum of what it
    holds and its updates (tf.tensor_scatter_nd_min)."""
    return _tensor_scatter_nd("tensor_scatter_nd_min", tensor, indices, updates, "min")


def tensor_scatter_nd_update(tensor, indices, updates, name=None):
    """`tensor` with the slices at `indices` replaced by `updates`. Each
    position must appear once (TensorFlow leaves the winner of repeated
    positions unspecified; Kiln reports them as an error)."""
    tensor = convert_to_tensor(tensor)
    indices, updates = convert_to_tensor(indices), convert_to_tensor(updates, tensor.dtype)
    table, flat, back = _scatter_rows(tensor, indices, "tensor_scatter_nd_update")
    if flat.ndim != 1:         # (indices [a, b, ..., K]: one list of rows)
        flat = reshape(flat, [-1])
        updates = reshape(updates, [-1] + list(table.shape[1:]))
    rows = table.shape[0] if table.shape[0] is not None else shape(table)[:1]
    counts = bind1("scatter_add", [zeros(rows, int32), cast(flat, int32),
                                   ones_like(flat, int32)], attributes(axis=0))
    _check_at_run_time(less_equal(counts, 1),
                       "tensor_scatter_nd_update: a position is updated twice")
    # The updates scattered onto -0.0 (x + -0.0 is x exactly, -0.0 included)
    # replace their rows: the old values are never added to (an inf or NaN
    # there must not leak into the result, nor rounding).
    kind = table.dtype
    if kind == bool_:
        table, updates = cast(table, int32), cast(updates, int32)
    base = _full_like(table, -0.0 if table.dtype.is_floating else 0, table.dtype)
    picked = bind1("scatter_add", [base, flat, updates], attributes(axis=0))
    mask = reshape(greater(counts, 0), [-1] + [1] * (table.ndim - 1))
    return back(cast(where(mask, picked, table), kind))


# --- Segments ------------------------------------------------------------------------

def _segment_layout(data, segment_ids, what):
    """(data as [n] + rest, ids as [n], rest) for ids whose shape is a
    prefix of data's (TF's rule), every extent of `rest` known."""
    data, ids = convert_to_tensor(data), convert_to_tensor(segment_ids)
    if not ids.dtype.is_integer:
        raise TypeError(f"{what}: segment_ids must be integers, got {ids.dtype.name}")
    ids = widen(ids)
    r = ids.ndim
    if r == 0 or len(data.shape) < r or any(
            a is not None and b is not None and a != b
            for a, b in zip(ids.shape, data.shape[:r])):
        raise errors.InvalidArgumentError(
            f"{what}: segment_ids of shape {list(ids.shape)} must be a prefix "
            f"of data's shape {list(data.shape)}", errors.user_location())
    rest = list(data.shape[r:])
    if None in rest:
        _static(data, what)
    return reshape(data, [-1] + rest), reshape(ids, [-1]), rest


def _num_segments(num_segments, ids, what):
    """num_segments as an int (known when traced); ids of num_segments or
    more are an InvalidArgumentError when the code runs."""
    n = int(_known_values(num_segments, f"{what}'s num_segments")
            if isinstance(num_segments, Tensor) else num_segments)
    if n < 0:
        raise errors.InvalidArgumentError(f"{what}: num_segments is {n}",
                                          errors.user_location())
    _check_at_run_time(less(ids, constant(n, ids.dtype)),
                       f"{what}: a segment id is not below num_segments = {n}")
    return n


def unsorted_segment_sum(data, segment_ids, num_segments, name=None):
    """out[s] = sum of data[i] over the i with segment_ids[i] == s
    (tf.math.unsorted_segment_sum): out is [num_segments] +
    data.shape[segment_ids.ndim:]; a negative id drops its row, an id of
    num_segments or more is an InvalidArgumentError (now, or when the
    compiled code runs); empty segments are 0."""
    what = "unsorted_segment_sum"
    rows, ids, rest = _segment_layout(data, segment_ids, what)
    n = _num_segments(num_segments, ids, what)
    keep = greater_equal(ids, constant(0, ids.dtype))
    safe = where(keep, ids, zeros_like(ids))
    kept = where(reshape(keep, [-1] + [1] * len(rest)), rows, zeros_like(rows))
    base = constant(np.zeros([n] + rest, rows.dtype.as_numpy_dtype), rows.dtype)
    return bind1("scatter_add", [base, safe, kept], attributes(axis=0))


def bincount(arr, weights=None, minlength=None, maxlength=None, dtype=int32, name=None,
             axis=None, binary_output=False):
    """How often each value 0, 1, ... appears in the non-negative integers
    `arr` (tf.math.bincount), or the sum of their `weights`: [length] with
    length = max(arr) + 1 (at least minlength, at most maxlength, values
    from maxlength up not counted). Without both bounds equal the length
    depends on the values, which must then be known (eagerly, or constants
    while tracing); with minlength == maxlength it is fixed. axis=-1 counts
    each row of a 2-D arr ([rows, length]); binary_output gives 1 where a
    value appears."""
    if axis not in (None, 0, -1):
        raise errors.InvalidArgumentError(
            f"bincount: axis must be None, 0 or -1 (TensorFlow's), got {axis!r}",
            errors.user_location())
    if binary_output and weights is not None:
        raise errors.InvalidArgumentError(
            "bincount: binary_output and weights exclude each other", errors.user_location())
    values = convert_to_tensor(arr)
    rows = None
    if axis == -1:
        if values.ndim != 2 or values.shape[0] is None:
            raise errors.InvalidArgumentError(
                f"bincount: axis=-1 counts the rows of a 2-D tensor with a known number "
                f"of rows, got shape {list(values.shape)}", errors.user_location())
        rows = values.shape[0]
    if not values.dtype.is_integer:
        raise TypeError(f"bincount: arr must be integers, got {values.dtype.name}")
    values = widen(values)  # (ids, not values: uint8 ones counted as int32)
    if minlength is not None and maxlength is not None and int(minlength) == int(maxlength):
        length = int(minlength)
    else:
        known = _known_values(values, "bincount without minlength == maxlength")
        if known.size and known.min() < 0:
            raise errors.InvalidArgumentError(
                "bincount: arr holds a negative value", errors.user_location())
        length = int(known.max()) + 1 if known.size else 0
        if minlength is not None:
            length = builtins.max(length, int(minlength))
        if maxlength is not None:
            length = builtins.min(length, int(maxlength))
    flat = reshape(values, [-1])
    _check_at_run_time(greater_equal(flat, constant(0, flat.dtype)),
                       "bincount: arr holds a negative value")
    if weights is None:
        counts = cast(ones_like(flat), dtype)
    else:
        counts = reshape(convert_to_tensor(weights), [-1])
        if counts.shape[0] is not None and flat.shape[0] is not None and \
                counts.shape[0] != flat.shape[0]:
            raise errors.InvalidArgumentError(
                f"bincount: {counts.shape[0]} weights for {flat.shape[0]} values",
                errors.user_location())
    # Values of `length` or more are not counted (ids outside the table).
    inside = less(flat, constant(length, flat.dtype))
    if rows is not None:   # (each row's values offset into its own table)
        row = constant(np.repeat(np.arange(rows), values.shape[1]).astype(
            flat.dtype.as_numpy_dtype), flat.dtype)
        flat = flat + row * constant(length, flat.dtype)
    ids = where(inside, flat, constant(-1, flat.dtype))
    out = unsorted_segment_sum(counts, ids, length * (rows or 1))
    if rows is not None:
        out = reshape(out, [rows, length])
    return cast(greater(out, zeros_like(out)), dtype) if binary_output else out


def searchsorted(sorted_sequence, values, side="left", out_type=int32, name=None):
    """Where each of `values` would go in the ascending rows of
    `sorted_sequence` (tf.searchsorted): the count of entries below it
    ('left') or not above it ('right'); the leading dimensions match. A
    comparison of every value with every entry (n * m), which suits the
    bucket boundaries and short rows it is used with."""
    seq, vals = convert_to_tensor(sorted_sequence), convert_to_tensor(values)
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    if seq.ndim != vals.ndim or seq.ndim == 0:
        raise errors.InvalidArgumentError(
            f"searchsorted: sorted_sequence {list(seq.shape)} and values "
            f"{list(vals.shape)} need the same rank (at least 1)", errors.user_location())
    vals = cast(vals, seq.dtype) if vals.dtype != seq.dtype else vals
    before = (less if side == "left" else less_equal)(
        expand_dims(seq, -2), expand_dims(vals, -1))   # [..., m, n]
    return reduce_sum(cast(before, as_dtype(out_type)), axis=-1)


def histogram_fixed_width(values, value_range, nbins=100, dtype=int32, name=None):
    """Counts of `values` in `nbins` equal bins spanning value_range = [lo,
    hi] (tf.histogram_fixed_width): the bin computed in double as
    TensorFlow's kernel does, values below lo in the first bin and from hi
    up in the last; lo >= hi, or a NaN value, is an InvalidArgumentError
    where the values are."""
    x = cast(reshape(convert_to_tensor(values), [-1]), float64)
    bounds = cast(convert_to_tensor(value_range), float64)
    nbins = int(nbins)
    if nbins <= 0:
        raise errors.InvalidArgumentError(f"histogram_fixed_width: nbins is {nbins}",
                                          errors.user_location())
    lo, hi = bounds[0], bounds[1]
    _check_at_run_time(less(lo, hi), "histogram_fixed_width: value_range needs lo < hi")
    _check_at_run_time(reduce_all(equal(x, x)), "histogram_fixed_width: a value is NaN")
    step = (hi - lo) / float(nbins)
    scaled = floor((maximum(x, lo) - lo) / step)
    bins = cast(minimum(scaled, float(nbins - 1)), int32)
    return unsorted_segment_sum(cast(ones_like(bins), as_dtype(dtype)), bins, nbins)


def histogram_fixed_width_bins(values, value_range, nbins=100, dtype=int32, name=None):
    """The bin of each value among `nbins` equal bins spanning value_range
    (tf.histogram_fixed_width_bins): floor(nbins (v - lo) / (hi - lo)) in
    the values' dtype, clipped to [0, nbins - 1]; the values' shape."""
    x = convert_to_tensor(values)
    if not x.dtype.is_floating:
        x = cast(x, float64)   # (float32 would round integers above 2^24)
    bounds = cast(convert_to_tensor(value_range), x.dtype)
    nbins = int(nbins)
    if nbins <= 0:
        raise errors.InvalidArgumentError(f"histogram_fixed_width_bins: nbins is {nbins}",
                                          errors.user_location())
    scaled = (x - bounds[0]) / (bounds[1] - bounds[0])
    index = floor(scaled * float(nbins))
    return cast(minimum(maximum(index, 0.0), float(nbins - 1)), as_dtype(dtype))


def _block_arguments(x, block_shape, pairs, what, name):
    block = [int(b) for b in np.asarray(get_static_value(block_shape) if isinstance(
        block_shape, Tensor) else block_shape).reshape(-1)]
    pairs = np.asarray(get_static_value(pairs) if isinstance(pairs, Tensor) else pairs,
                       np.int64).reshape(-1, 2)
    m = len(block)
    if m < 1 or len(pairs) != m or any(b < 1 for b in block) or (pairs < 0).any() or \
            len(x.shape) < m + 1 or None in x.shape[1:m + 1]:
        raise errors.InvalidArgumentError(
            f"{what}: block_shape of M >= 1 positive extents, {name} [M, 2] of non-negative "
            f"amounts and an input of rank > M with known spatial extents; got "
            f"block_shape {block}, {name} {pairs.tolist()}, input {list(x.shape)}",
            errors.user_location())
    return block, pairs


def space_to_batch_nd(input, block_shape, paddings, name=None):  # noqa: A002 (TF's name)
    """The spatial dimensions 1..M zero-padded, then cut into blocks of
    block_shape whose offsets go to the batch (tf.space_to_batch_nd): out
    [prod(block) * batch, padded_i / block_i ..., rest], its batch index
    (offset row-major over the block) * batch + b."""
    x = convert_to_tensor(input)
    block, pads = _block_arguments(x, block_shape, paddings, "space_to_batch_nd", "paddings")
    m = len(block)
    padded = pad(x, [[0, 0]] + pads.tolist() + [[0, 0]] * (len(x.shape) - m - 1))
    sizes = padded.shape[1:m + 1]
    if any(s % b for s, b in zip(sizes, block)):
        raise errors.InvalidArgumentError(
            f"space_to_batch_nd: padded spatial extents {list(sizes)} are not multiples of "
            f"block_shape {block}", errors.user_location())
    batch, rest = x.shape[0], list(padded.shape[m + 1:])
    split = [batch if batch is not None else -1]
    for s, b in zip(sizes, block):
        split += [s // b, b]
    y = reshape(padded, split + rest)
    perm = [2 + 2 * i for i in range(m)] + [0] + [1 + 2 * i for i in range(m)] + \
        list(range(1 + 2 * m, 1 + 2 * m + len(rest)))
    y = transpose(y, perm)
    return reshape(y, [-1] + [s // b for s, b in zip(sizes, block)] + rest)


def space_to_batch(input, block_shape, paddings, name=None):  # noqa: A002
    """tf.space_to_batch (TensorFlow 2's: the same as space_to_batch_nd)."""
    return space_to_batch_nd(input, block_shape, paddings)


def batch_to_space(input, block_shape, crops, name=None):  # noqa: A002
    """The inverse of space_to_batch_nd (tf.batch_to_space): the batch's
    block offsets put back into the spatial dimensions, then `crops`
    removed from their starts and ends."""
    x = convert_to_tensor(input)
    block, crops = _block_arguments(x, block_shape, crops, "batch_to_space", "crops")
    m = len(block)
    count = int(np.prod(block))
    if x.shape[0] is not None and x.shape[0] % count:
        raise errors.InvalidArgumentError(
            f"batch_to_space: the batch ({x.shape[0]}) must be a multiple of "
            f"prod(block_shape) = {count}", errors.user_location())
    # (An open batch is divided when the code runs: -1 in the reshapes.)
    batch = None if x.shape[0] is None else x.shape[0] // count
    sizes, rest = list(x.shape[1:m + 1]), list(x.shape[m + 1:])
    y = reshape(x, block + [-1] + sizes + rest)
    perm = [m]
    for i in range(m):
        perm += [m + 1 + i, i]
    perm += list(range(2 * m + 1, 2 * m + 1 + len(rest)))
    y = reshape(transpose(y, perm), [-1] + [s * b for s, b in zip(sizes, block)] + rest)
    size = [s * b - int(c[0]) - int(c[1]) for s, b, c in zip(sizes, block, crops)]
    if any(s < 0 for s in size):
        raise errors.InvalidArgumentError(f"batch_to_space: crops {crops.tolist()} exceed the "
                                          "spatial extents", errors.user_location())
    if not crops.any():
        return y
    begin = [0] + [int(c[0]) for c in crops] + [0] * len(rest)
    return slice_(y, begin, [-1 if batch is None else batch] + size + [-1] * len(rest))


def timestamp(name=None):
    """Seconds since the epoch as a float64 scalar (tf.timestamp), eagerly:
    compiled code cannot read the clock (an UnimplementedError there)."""
    import time
    from .core import current_trace
    if current_trace() is not None:
        raise errors.UnimplementedError("timestamp: compiled code cannot read the clock; "
                                        "call it outside @kiln.function",
                                        errors.user_location())
    return constant(time.time(), float64)


# kiln.scatter_reduce's reduction: what an empty segment holds (TF's rule).
_SEGMENT_IDENTITY = {
    "max": lambda dtype: dtype.min,
    "min": lambda dtype: dtype.max,
    "prod": lambda dtype: 1,
}


def _unsorted_segment_reduce(kind, data, segment_ids, num_segments, what=None,
                             empty_value=None):
    """One kiln.scatter_reduce of the rows; an empty segment holds
    `empty_value` (default: TensorFlow's for unsorted segments)."""
    what = what or f"unsorted_segment_{kind}"
    rows, ids, rest = _segment_layout(data, segment_ids, what)
    if rows.dtype == bool_:
        raise TypeError(f"{what}: data must be numeric, got bool")
    n = _num_segments(num_segments, ids, what)
    identity = _SEGMENT_IDENTITY[kind]
    empty_value = identity(rows.dtype) if empty_value is None else empty_value
    # A floating max/min starts from -inf/+inf, which no row ties with
    # unless it is infinite itself (the gradient goes to the rows alone,
    # as TensorFlow's), and fills the empty segments afterwards.
    floating_extremum = kind != "prod" and rows.dtype.is_floating
    start = {"max": -np.inf, "min": np.inf}[kind] if floating_extremum \
        else identity(rows.dtype)
    base = fill([n] + rest, start, rows.dtype)
    # (Negative ids are out of range for the scatter, which drops them.)
    out = bind1("scatter_reduce", [base, ids, rows],
                attributes(reduction=enum_case("scatter_reduction", kind), axis=0))
    if start == empty_value:
        return out
    filled = greater(_segment_counts(ids, n, int32), constant(0, int32))
    return where(_per_segment(filled, out), out, fill([n] + rest, empty_value, rows.dtype))


def unsorted_segment_max(data, segment_ids, num_segments, name=None):
    """The elementwise maximum of each segment's rows
    (tf.math.unsorted_segment_max); an empty segment holds the dtype's
    lowest value, NaN propagates. The gradient goes to the rows equal to
    their segment's maximum, split evenly among ties."""
    return _unsorted_segment_reduce("max", data, segment_ids, num_segments)


def unsorted_segment_min(data, segment_ids, num_segments, name=None):
    """The elementwise minimum of each segment's rows
    (tf.math.unsorted_segment_min); an empty segment holds the dtype's
    largest value."""
    return _unsorted_segment_reduce("min", data, segment_ids, num_segments)


def unsorted_segment_prod(data, segment_ids, num_segments, name=None):
    """The elementwise product of each segment's rows
    (tf.math.unsorted_segment_prod); an empty segment holds 1. The
    gradient is exact where a segment holds zeros."""
    return _unsorted_segment_reduce("prod", data, segment_ids, num_segments)


def _segment_counts(ids, n, dtype):
    """How many ids fall in each of the n segments (negative ids in
    none), as `dtype`."""
    flat = reshape(convert_to_tensor(ids), [-1])
    return bind1("scatter_add", [constant(np.zeros(n, as_dtype(dtype).as_numpy_dtype), dtype),
                                 flat, ones_like(flat, dtype)], attributes(axis=0))


def _per_segment(values, like):
    """[n] values reshaped to broadcast over `like`'s rows."""
    return reshape(values, [-1] + [1] * (like.ndim - 1))


def _normalized_segment_sum(what, data, segment_ids, num_segments, scale):
    """Each segment's sum divided by scale(its size, at least 1); 0 for an
    empty segment."""
    data = convert_to_tensor(data)
    if not data.dtype.is_floating:
        raise TypeError(f"{what}: data must be floating point, got {data.dtype.name}")
    ids = convert_to_tensor(segment_ids)
    sums = unsorted_segment_sum(data, ids, num_segments)
    counts = _segment_counts(ids, sums.shape[0], data.dtype)
    return sums / _per_segment(scale(maximum(counts, constant(1, data.dtype))), sums)


def unsorted_segment_mean(data, segment_ids, num_segments, name=None):
    """The mean of each segment's rows (tf.math.unsorted_segment_mean);
    0 for an empty segment."""
    return _normalized_segment_sum("unsorted_segment_mean", data, segment_ids,
                                   num_segments, lambda n: n)


def unsorted_segment_sqrt_n(data, segment_ids, num_segments, name=None):
    """Each segment's sum over the square root of its size
    (tf.math.unsorted_segment_sqrt_n); 0 for an empty segment."""
    return _normalized_segment_sum("unsorted_segment_sqrt_n", data, segment_ids,
                                   num_segments, sqrt)


def _sorted_segments(segment_ids, what):
    """(ids, number of segments) for tf.math.segment_*: the ids must be
    known when traced, sorted and non-negative; max(ids) + 1 segments."""
    ids = convert_to_tensor(segment_ids)
    values = _known_values(ids, what).reshape(-1)
    if values.size and ((values < 0).any() or (np.diff(values) < 0).any()):
        raise errors.InvalidArgumentError(
            f"{what}: segment_ids must be sorted and non-negative "
            f"(unsorted_{what} takes any order)", errors.user_location())
    return ids, int(values.max()) + 1 if values.size else 0


def segment_sum(data, segment_ids, name=None):
    """unsorted_segment_sum for sorted ids (tf.math.segment_sum): the
    result has max(segment_ids) + 1 rows, so the ids must be known when
    traced; unsorted or negative ids are an InvalidArgumentError."""
    return unsorted_segment_sum(data, *_sorted_segments(segment_ids, "segment_sum"))


def segment_mean(data, segment_ids, name=None):
    """unsorted_segment_mean for sorted ids (tf.math.segment_mean)."""
    return unsorted_segment_mean(data, *_sorted_segments(segment_ids, "segment_mean"))


def segment_prod(data, segment_ids, name=None):
    """unsorted_segment_prod for sorted ids (tf.math.segment_prod); an
    empty segment holds 1."""
    return unsorted_segment_prod(data, *_sorted_segments(segment_ids, "segment_prod"))


def _sparse_segment(what, reduce, data, indices, segment_ids, num_segments):
    """reduce over segments of data's rows `indices` (tf.sparse_segment_*):
    row j of the gathered rows belongs to segment segment_ids[j]; sorted
    ids and max(ids) + 1 segments unless num_segments is given."""
    rows = gather(convert_to_tensor(data), indices, axis=0)
    if num_segments is None:
        ids, num_segments = _sorted_segments(segment_ids, what)
    else:
        ids = segment_ids
    return reduce(rows, ids, num_segments)


def sparse_segment_sum(data, indices, segment_ids, num_segments=None, name=None):
    """Sums of data's rows picked by `indices`, by segment
    (tf.sparse.segment_sum; the embedding-bag pattern)."""
    return _sparse_segment("sparse_segment_sum", unsorted_segment_sum, data, indices,
                           segment_ids, num_segments)


def sparse_segment_mean(data, indices, segment_ids, num_segments=None, name=None):
    """Means of data's rows picked by `indices`, by segment (0 for an
    empty one)."""
    return _sparse_segment("sparse_segment_mean", unsorted_segment_mean, data, indices,
                           segment_ids, num_segments)


def sparse_segment_sqrt_n(data, indices, segment_ids, num_segments=None, name=None):
    """Sums of the picked rows by segment over the square root of the
    segment's size."""
    return _sparse_segment("sparse_segment_sqrt_n", unsorted_segment_sqrt_n, data, indices,
                           segment_ids, num_segments)


def _sorted_extremum(kind, data, segment_ids):
    # TF's sorted segment max/min leave an empty segment 0, not the
    # dtype's lowest/largest value as the unsorted ones do.
    ids, n = _sorted_segments(segment_ids, f"segment_{kind}")
    return _unsorted_segment_reduce(kind, data, ids, n, f"segment_{kind}", 0)


def segment_max(data, segment_ids, name=None):
    """The maximum of each segment's rows for sorted ids
    (tf.math.segment_max); an empty segment holds 0."""
    return _sorted_extremum("max", data, segment_ids)


def segment_min(data, segment_ids, name=None):
    """The minimum of each segment's rows for sorted ids
    (tf.math.segment_min); an empty segment holds 0."""
    return _sorted_extremum("min", data, segment_ids)


# --- Grids, masks, shifts -----------------------------------------------------------

def eye(num_rows, num_columns=None, batch_shape=None, dtype=float32, name=None):
    """The identity matrix [num_rows, num_columns] (tf.eye), repeated over
    `batch_shape`."""
    rows = int(num_rows)
    cols = rows if num_columns is None else int(num_columns)
    dtype = as_dtype(dtype)
    value = np.eye(rows, cols, dtype=dtype.as_numpy_dtype)
    if batch_shape is not None:
        value = np.broadcast_to(value, tuple(int(d) for d in batch_shape) + value.shape)
    return constant(np.ascontiguousarray(value), dtype)


def meshgrid(*args, indexing="xy", name=None):
    """Coordinate grids from 1-D tensors (tf.meshgrid): with N inputs of
    lengths n1..nN, N tensors of shape (n2, n1, n3, ...) for "xy"
    (Cartesian) or (n1, n2, ...) for "ij" (matrix) indexing."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    xs = [convert_to_tensor(a) for a in args]
    for x in xs:
        if x.ndim != 1:
            raise errors.InvalidArgumentError(
                f"meshgrid takes 1-D tensors, got shape {list(x.shape)}",
                errors.user_location())
    lengths = [_static(x, "meshgrid")[0] for x in xs]
    order = list(builtins.range(len(xs)))
    if indexing == "xy" and len(xs) >= 2:
        order[0], order[1] = 1, 0
    shape_ = [lengths[i] for i in order]
    out = []
    for i, x in enumerate(xs):
        where_i = order.index(i)
        view = [1] * len(xs)
        view[where_i] = lengths[i]
        out.append(broadcast_to(reshape(x, view), shape_))
    return out


def roll(input, shift, axis, name=None):
    """Elements shifted along axes, those pushed off one end coming back at
    the other (tf.roll, numpy.roll); `shift` and `axis` ints or matching
    lists (shifts along a repeated axis add up)."""
    x = convert_to_tensor(input)
    shifts = np.atleast_1d(_known_values(shift, "roll") if isinstance(shift, Tensor)
                           else np.asarray(shift)).astype(np.int64)
    axes = np.atleast_1d(_known_values(axis, "roll") if isinstance(axis, Tensor)
                         else np.asarray(axis)).astype(np.int64)
    if shifts.shape != axes.shape or shifts.ndim != 1:
        raise errors.InvalidArgumentError(
            f"roll: shift {shifts.tolist()} and axis {axes.tolist()} must have "
            "the same length", errors.user_location())
    total = collections.OrderedDict()
    for s, a in zip(shifts.tolist(), axes.tolist()):
        a = _axis(a, x.ndim, "roll")
        total[a] = total.get(a, 0) + s
    extents = _static(x, "roll")  # (a gather, which lowers with static shapes)
    for a, s in total.items():
        n = extents[a]
        if n and s % n:
            perm = (np.arange(n) - s) % n
            x = gather(x, constant(perm.astype(np.int32)), axis=a)
    return x


def _positions(like, axis, dtype=int32):
    """Each element's index along `axis` in a tensor shaped like `like`
    (kiln.iota): constants for a known shape, otherwise computed when the
    code runs with the open extents read from `like` (never its elements)."""
    like = convert_to_tensor(like)
    if None not in like.shape:
        view = [-1 if i == axis else 1 for i in builtins.range(like.ndim)]
        index = np.broadcast_to(np.arange(like.shape[axis]).reshape(view), like.shape)
        return constant(np.ascontiguousarray(index), dtype)
    return bind1("iota", [like], attributes(dimension=axis),
                 [tensor_type(like.shape, dtype)])


def sequence_mask(lengths, maxlen=None, dtype=bool_, name=None):
    """mask[..., j] = j < lengths[...] (tf.sequence_mask): shape
    lengths.shape + (maxlen,); maxlen defaults to max(lengths), which must
    then be known when traced."""
    lengths = convert_to_tensor(lengths)
    if not lengths.dtype.is_integer:
        raise TypeError(f"sequence_mask: lengths must be integers, got {lengths.dtype.name}")
    if maxlen is None:
        values = _known_values(lengths, "sequence_mask without maxlen")
        maxlen = int(values.max()) if values.size else 0
    elif isinstance(maxlen, Tensor) and maxlen._symbolic and \
            _partial_extents(maxlen) is not None:
        # An open extent (kiln.shape(x)[1]): positions as long as it when
        # the code runs.
        (maxlen,) = _static_extents(maxlen, "sequence_mask's maxlen", open_extents=True)
    else:
        maxlen = int(_known_values(maxlen, "sequence_mask's maxlen")
                     if isinstance(maxlen, Tensor) else maxlen)
    if isinstance(maxlen, _OpenExtent):
        positions = _positions(_shape_holder([maxlen], "sequence_mask"), 0, lengths.dtype)
    elif maxlen < 0:
        raise errors.InvalidArgumentError(f"sequence_mask: maxlen is {maxlen}",
                                          errors.user_location())
    else:
        positions = constant(np.arange(maxlen, dtype=np.int64), lengths.dtype)
    mask = less(positions, expand_dims(lengths, -1))
    dtype = as_dtype(dtype)
    return mask if dtype == bool_ else cast(mask, dtype)


# --- einsum --------------------------------------------------------------------------

def _einsum_ellipses(equation, tensors):
    """`equation` with each "..." replaced by letters of its own (upper
    case ones the equation does not use), aligned from the right as NumPy
    broadcasts them: (operand specs, output spec or None for implicit, the
    ellipsis letters)."""
    if "->" in equation:
        lhs, out = equation.split("->", 1)
    else:
        lhs, out = equation, None
    specs = lhs.split(",")
    if len(specs) != len(tensors):
        raise errors.InvalidArgumentError(
            f"einsum: {equation!r} names {len(specs)} operands, got {len(tensors)}",
            errors.user_location())
    if "..." not in equation:
        return specs, out, ""
    if builtins.any(spec.count("...") > 1 for spec in specs + [out or ""]) or \
            "." in equation.replace("...", ""):
        raise errors.InvalidArgumentError(
            f"einsum: {equation!r} has a stray '.' or more than one '...' in an operand",
            errors.user_location())
    ranks = [t.ndim - (len(spec) - 3) for spec, t in zip(specs, tensors) if "..." in spec]
    if builtins.any(r < 0 for r in ranks):
        raise errors.InvalidArgumentError(
            f"einsum: {equation!r} names more dimensions than an operand has",
            errors.user_location())
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
            if c not in equation]
    rank = builtins.max(ranks, default=0)
    if rank > len(free):
        raise errors.UnimplementedError(
            f"einsum: {equation!r} leaves too few letters for its '...'",
            errors.user_location())
    dots = "".join(free[:rank])
    specs = [spec.replace("...", dots[rank - (t.ndim - (len(spec) - 3)):])
             if "..." in spec else spec for spec, t in zip(specs, tensors)]
    if out is not None:
        out = out.replace("...", dots)
    return specs, out, dots


def _einsum_diagonal(spec, t):
    """An operand whose letters repeat ("ii", "bii"): its diagonal along
    each repeated pair (the elements where the positions agree, summed
    over the second of the pair), so each letter appears once."""
    while len(set(spec)) != len(spec):
        c = next(c for c in spec if spec.count(c) > 1)
        p = spec.index(c)
        q = spec.index(c, p + 1)
        if t.shape[p] is not None and t.shape[q] is not None and t.shape[p] != t.shape[q]:
            raise errors.InvalidArgumentError(
                f"einsum: letter {c!r} has extents {t.shape[p]} and {t.shape[q]}",
                errors.user_location())
        if t.shape[p] is None or t.shape[q] is None:
            _check_at_run_time(equal(_extent(t, p), _extent(t, q)),
                               f"einsum: the two extents of letter {c!r} differ")
        on_diagonal = equal(_positions(t, p), _positions(t, q))
        t = reduce_sum(where(on_diagonal, t, zeros_like(t)), q)
        spec = spec[:q] + spec[q + 1:]
    return spec, t


def einsum(equation, *inputs, name=None):
    """Einstein summation over one or more operands ("ij,jk->ik",
    "bij,bjk->bik", "...ij,jk->...ik", "ii->i" for a diagonal, "ii" a
    trace). A "..." stands for the dimensions no letter names, broadcast as
    NumPy does. Two operands at a time become a (batch)
    matrix product: summed letters contracted, shared output letters
    batched."""
    equation = equation.replace(" ", "")
    tensors = [convert_to_tensor(t) for t in inputs]
    specs, out, dots = _einsum_ellipses(equation, tensors)
    if out is None:  # (implicit output: "..." then letters seen once, sorted)
        letters = "".join(specs)
        out = dots + "".join(sorted(c for c in set(letters)
                                    if letters.count(c) == 1 and c not in dots))
    for i, (spec, t) in enumerate(zip(specs, tensors)):
        if len(spec) != t.ndim or not spec.isalpha() and spec:
            raise errors.InvalidArgumentError(
                f"einsum: operand {spec!r} does not fit a tensor of shape "
                f"{list(t.shape)} (one letter per dimension)",
                errors.user_location())
        if len(set(spec)) != len(spec):  # ("ii->i": a diagonal)
            specs[i], tensors[i] = _einsum_diagonal(spec, t)
    # A "..." dimension of extent 1 broadcasts against the others': it is
    # dropped from its operand.
    for c in dots:
        extents = {t.shape[spec.index(c)] for spec, t in zip(specs, tensors) if c in spec}
        if 1 in extents and len(extents) > 1:
            for i, (spec, t) in enumerate(zip(specs, tensors)):
                if c in spec and t.shape[spec.index(c)] == 1:
                    tensors[i] = squeeze(t, [spec.index(c)])
                    specs[i] = spec.replace(c, "")
    sizes = {}
    for spec, t in zip(specs, tensors):
        for c, d in zip(spec, t.shape):
            # (An extent known only when the code runs, None, meets any:
            # the products check it then.)
            seen = sizes.setdefault(c, d)
            if seen is None:
                sizes[c] = d
            elif d is not None and seen != d:
                what = "a '...' dimension" if c in dots else f"letter {c!r}"
                raise errors.InvalidArgumentError(
                    f"einsum: {what} has extents {sizes[c]} and {d}",
                    errors.user_location())
    if any(c not in sizes for c in out) or len(set(out)) != len(out):
        raise errors.InvalidArgumentError(
            f"einsum: output {out!r} names a letter no operand has (or twice)",
            errors.user_location())
    spec, acc = specs[0], tensors[0]
    for i in range(1, len(tensors)):
        later = "".join(specs[i + 1:]) + out
        spec, acc = _contract(spec, acc, specs[i], tensors[i], later, sizes)
    # Sum letters the output does not keep, then order the rest.
    summed = [spec.index(c) for c in spec if c not in out]
    if summed:
        acc = reduce_sum(acc, summed)
        spec = "".join(c for c in spec if c in out)
    if spec != out:
        acc = transpose(acc, [spec.index(c) for c in out])
    return acc


def _contract(sa, a, sb, b, keep, sizes):
    """a (letters sa) times b (letters sb), summed over the letters they
    share that `keep` does not need: (letters of the result, result)."""
    # Letters only one side has and nothing later needs: summed first.
    for side in (0, 1):
        s, t, other = (sa, a, sb) if side == 0 else (sb, b, sa)
        drop = [s.index(c) for c in s if c not in other and c not in keep]
        if drop:
            t = reduce_sum(t, drop)
            s = "".join(c for c in s if c in other or c in keep)
        if side == 0:
            sa, a = s, t
        else:
            sb, b = s, t
    batch = [c for c in sa if c in sb and c in keep]
    contracted = [c for c in sa if c in sb and c not in keep]
    a_free = [c for c in sa if c not in sb]
    b_free = [c for c in sb if c not in sa]
    groups = (batch, a_free, contracted, b_free)
    opened = [c for c in sa + sb if sizes[c] is None]
    if len(set(opened)) > 1 and builtins.any(
            len(g) > 1 and builtins.any(sizes[c] is None for c in g) for g in groups):
        return _contract_broadcast(sa, a, sb, b, batch, a_free, contracted, b_free, sizes)

    def size(letters):  # (None where an extent is open)
        extents = [sizes[c] for c in letters]
        return None if None in extents else int(np.prod(extents, dtype=np.int64))
    a3 = reshape(transpose(a, [sa.index(c) for c in batch + a_free + contracted]),
                 [size(batch), size(a_free), size(contracted)])
    b3 = reshape(transpose(b, [sb.index(c) for c in batch + contracted + b_free]),
                 [size(batch), size(contracted), size(b_free)])
    product = matmul(a3, b3)
    letters = batch + a_free + b_free
    return "".join(letters), reshape(product, [sizes[c] for c in letters])


def _contract_broadcast(sa, a, sb, b, batch, a_free, contracted, b_free, sizes):
    """_contract where merging letters would join extents known only at
    run time: a batched product that keeps the letters apart instead. Each
    side's free letters but its last become batch dimensions that the
    other side has as 1s (batch_matmul broadcasts them); contracted letters
    are merged only when all their extents are known, else all but the last
    become batch dimensions, summed after the product."""
    if not a_free and not b_free:
        # Nothing free on either side: elementwise products, summed.
        order = batch + contracted
        a = transpose(a, [sa.index(c) for c in order])
        b = transpose(b, [sb.index(c) for c in order])
        product = a * b
        if contracted:
            product = reduce_sum(product, list(builtins.range(len(batch), len(order))))
        return "".join(batch), product
    if builtins.all(sizes[c] is not None for c in contracted):
        extra, inner = [], contracted
    else:
        extra, inner = contracted[:-1], contracted[-1:]

    def merged(spec, t):
        """t with the `inner` letters joined into one, "#" (known extents,
        so the reshape keeps every open one)."""
        if len(inner) <= 1:
            return spec.replace(inner[0], "#") if inner else spec, t
        rest = [c for c in spec if c not in inner]
        t = transpose(t, [spec.index(c) for c in rest + inner])
        known = int(np.prod([sizes[c] for c in inner], dtype=np.int64))
        return "".join(rest) + "#", reshape(t, [sizes[c] for c in rest] + [known])

    def arranged(spec, t, dims):
        """t's letters in the order `dims`, None a new extent of 1."""
        t = transpose(t, [spec.index(c) for c in dims if c is not None])
        for position, c in enumerate(dims):
            if c is None:
                t = expand_dims(t, position)
        return t

    sa, a = merged(sa, a)
    sb, b = merged(sb, b)
    k = ["#"] if inner else [None]
    a_outer, a_last = a_free[:-1], a_free[-1:] or [None]
    b_outer, b_last = b_free[:-1], b_free[-1:] or [None]
    lhs = arranged(sa, a, batch + extra + a_outer + [None] * len(b_outer) + a_last + k)
    rhs = arranged(sb, b, batch + extra + [None] * len(a_outer) + b_outer + k + b_last)
    product = matmul(lhs, rhs)
    letters = batch + extra + a_outer + b_outer + a_last + b_last
    # Sum the extra contracted letters; drop the 1s that stand for no letter.
    if extra:
        product = reduce_sum(product, [letters.index(c) for c in extra])
        letters = [c for c in letters if c not in extra]
    if None in letters:
        product = squeeze(product, [i for i, c in enumerate(letters) if c is None])
        letters = [c for c in letters if c is not None]
    return "".join(letters), product


# --- Sorting ----------------------------------------------------------------

# kiln.sort sorts f32, f64, i32 and i64 rows; half-precision floats are
# sorted as float32, which holds them exactly.
_SORTED_AS = {"float16": float32, "bfloat16": float32}


def _sort(x, axis, direction, what):
    """(values, indices) of kiln.sort along `axis` of `x`."""
    from .core import bind, unit
    x = convert_to_tensor(x)
    if direction not in ("ASCENDING", "DESCENDING"):
        raise ValueError(f"{what}: direction must be 'ASCENDING' or "
                         f"'DESCENDING', got {direction!r}")
    if x.dtype == bool_ or not (x.dtype.is_floating or x.dtype.is_integer):
        raise TypeError(f"{what}: cannot sort {x.dtype.name} values")
    if x.ndim == 0:
        raise errors.InvalidArgumentError(
            f"{what}: a scalar has no axis to sort along", errors.user_location())
    a = _axis(axis, x.ndim, what)
    wide = _SORTED_AS.get(x.dtype.name)
    data = cast(x, wide) if wide is not None else x
    perm = list(builtins.range(x.ndim))
    if a != x.ndim - 1:
        perm[a], perm[-1] = perm[-1], perm[a]
        data = transpose(data, perm)
    attrs = attributes(descending=unit()) if direction == "DESCENDING" else None
    values, indices = bind("sort", [data], attrs)
    if a != x.ndim - 1:  # the swap is its own inverse
        values, indices = transpose(values, perm), transpose(indices, perm)
    if wide is not None:
        values = cast(values, x.dtype)
    return values, indices


def sort(values, axis=-1, direction="ASCENDING", name=None):
    """`values` sorted along `axis`, as tf.sort. Stable; NaN sorts after
    every number when ascending (NumPy's order), first when descending.
    Differentiable: the gradient goes back to where each value came from."""
    return _sort(values, axis, direction, "sort")[0]


def argsort(values, axis=-1, direction="ASCENDING", stable=False, name=None):
    """The int32 indices that sort `values` along `axis`, as tf.argsort.
    Always stable (equal values keep their order), whatever `stable` says."""
    return _sort(values, axis, direction, "argsort")[1]


def in_top_k(targets, predictions, k, name=None):
    """Whether each example's target class is among the k largest
    predictions ([batch] ids, [batch, classes] scores), as tf.math.in_top_k:
    classes tied at the boundary count as in; a target out of range, or a
    row holding a non-finite score, is False."""
    predictions = convert_to_tensor(predictions)
    labels = _labels(targets)
    if not labels.dtype.is_integer:
        raise TypeError(f"in_top_k: targets must be integers, got {labels.dtype.name}")
    if predictions.ndim != 2 or labels.ndim != 1 or None not in (
            predictions.shape[0], labels.shape[0]) and predictions.shape[0] != labels.shape[0]:
        raise errors.InvalidArgumentError(
            f"in_top_k: needs targets [batch] and predictions [batch, classes], got "
            f"{list(labels.shape)} and {list(predictions.shape)}", errors.user_location())
    n = _static(predictions, "in_top_k")[1]
    valid = logical_and(greater_equal(labels, 0), less(labels, constant(n, labels.dtype)))
    safe = where(valid, labels, zeros_like(labels))
    # The target's own score, read (not summed through a one-hot, which a
    # non-finite score elsewhere would spoil).
    target = reduce_sum(where(equal(one_hot(safe, n, dtype=int32), 1), predictions,
                              zeros_like(predictions)), axis=1, keepdims=True)
    above = reduce_sum(cast(greater(predictions, target), int32), axis=1)
    finite = reduce_all(is_finite(predictions), axis=1)
    return logical_and(logical_and(valid, finite), less(above, constant(int(k), int32)))



# top_k's result, as tf.math.top_k's: (values, indices), also by name.
TopKV2 = collections.namedtuple("TopKV2", ["values", "indices"])


def top_k(input, k=1, sorted=True, index_type=int32, name=None):
    """The k largest entries of the last dimension and their int32 indices,
    as tf.math.top_k: largest first; among equal values the lower index
    comes first. (A whole-row sort: O(n log n) per row, not O(n log k).)"""
    x = convert_to_tensor(input)
    if isinstance(k, Tensor):
        if k._symbolic:
            raise errors.InvalidArgumentError(
                "top_k: k must be known while tracing (it sets the result's "
                "shape)", errors.user_location())
        k = k.numpy()
    k = int(k)
    if x.ndim == 0:
        raise errors.InvalidArgumentError(
            "top_k: the input must have rank >= 1", errors.user_location())
    n = x.shape[-1]
    if k < 0 or (n is not None and k > n):
        raise errors.InvalidArgumentError(
            f"top_k: k = {k} is not in [0, {n}] (the last dimension's extent)",
            errors.user_location())
    values, indices = _sort(x, -1, "DESCENDING", "top_k")
    if k != n:
        values, indices = values[..., :k], indices[..., :k]
    if as_dtype(index_type) != int32:
        indices = cast(indices, index_type)
    return TopKV2(values, indices)


# --- Value-dependent shapes ------------------------------------------------

def boolean_mask(tensor, mask, axis=None, name=None):
    """The entries of `tensor` where the boolean `mask` (its shape is that
    of `tensor`'s dimensions axis .. axis + mask.ndim) is true, as
    tf.boolean_mask: those dimensions become one. The mask's values must be
    known (eagerly, or constant while tracing); the gather that takes the
    entries is differentiable."""
    x = convert_to_tensor(tensor)
    m = convert_to_tensor(mask)
    if m.dtype != bool_:
        raise TypeError(f"boolean_mask: the mask must be bool, got {m.dtype.name}")
    k = m.ndim
    if k == 0:
        raise ValueError("boolean_mask: the mask cannot be a scalar")
    a = 0 if axis is None else _axis(axis, x.ndim, "boolean_mask")
    shape_ = list(_static(x, "boolean_mask"))
    if list(m.shape) != shape_[a:a + k]:
        raise errors.InvalidArgumentError(
            f"boolean_mask: a mask of shape {list(m.shape)} for dimensions "
            f"{a}..{a + k - 1} of a tensor of shape {shape_}",
            errors.user_location())
    picked = np.flatnonzero(_known_values(m, "boolean_mask")).astype(np.int32)
    rows = int(np.prod(shape_[a:a + k], dtype=np.int64))
    flat = reshape(x, shape_[:a] + [rows] + shape_[a + k:])
    return gather(flat, constant(picked), axis=a)


def dynamic_partition(data, partitions, num_partitions, name=None):
    """data's slices split by `partitions` (ints in [0, num_partitions),
    shaped like data's leading dimensions): output i holds, in order, the
    slices whose partition is i (tf.dynamic_partition). The partitions'
    values must be known (eagerly, or constant while tracing): they set
    the outputs' shapes. Each output is a gather, so gradients flow back to
    data."""
    x = convert_to_tensor(data)
    p = convert_to_tensor(partitions)
    if not p.dtype.is_integer:
        raise errors.InvalidArgumentError(
            f"dynamic_partition: partitions must be integers, got {p.dtype.name}",
            errors.user_location())
    k = p.ndim
    shape_ = list(_static(x, "dynamic_partition"))
    if list(p.shape) != shape_[:k]:
        raise errors.InvalidArgumentError(
            f"dynamic_partition: partitions of shape {list(p.shape)} do not match the "
            f"leading dimensions of data {shape_}", errors.user_location())
    ids = np.asarray(_known_values(p, "dynamic_partition")).reshape(-1)
    n = int(num_partitions)
    bad = ids[(ids < 0) | (ids >= n)]
    if bad.size:
        raise errors.InvalidArgumentError(
            f"dynamic_partition: partition {int(bad[0])} is not in [0, {n})",
            errors.user_location())
    flat = reshape(x, [int(np.prod(shape_[:k], dtype=np.int64))] + shape_[k:])
    return [gather(flat, constant(np.flatnonzero(ids == i).astype(np.int32)))
            for i in builtins.range(n)]


def dynamic_stitch(indices, data, name=None):
    """merged[indices[m][i...]] = data[m][i...] (tf.dynamic_stitch): the
    result has max(indices) + 1 rows, a later (m, i) winning over an
    earlier one at the same index, rows no index names 0. The indices'
    values must be known (eagerly, or constant while tracing); the result
    is one gather from the data, so gradients flow back to it."""
    if len(indices) != len(data) or not indices:
        raise errors.InvalidArgumentError(
            f"dynamic_stitch: {len(indices)} index tensors for {len(data)} data tensors",
            errors.user_location())
    ids = [np.asarray(_known_values(convert_to_tensor(i), "dynamic_stitch"))
           for i in indices]
    values = [convert_to_tensor(d) for d in data]
    dtype = values[0].dtype
    if any(v.dtype != dtype for v in values):
        raise errors.InvalidArgumentError(
            f"dynamic_stitch: the data tensors have different dtypes "
            f"{sorted({v.dtype.name for v in values})}", errors.user_location())
    inner = None
    rows = []
    for i, v in zip(ids, values):
        if not np.issubdtype(i.dtype, np.integer):
            raise errors.InvalidArgumentError("dynamic_stitch: indices must be integers",
                                              errors.user_location())
        vs = list(_static(v, "dynamic_stitch"))
        if vs[:i.ndim] != list(i.shape) or (inner is not None and vs[i.ndim:] != inner):
            raise errors.InvalidArgumentError(
                f"dynamic_stitch: data of shape {vs} does not fit indices of shape "
                f"{list(i.shape)}", errors.user_location())
        inner = vs[i.ndim:]
        rows.append(reshape(cast(v, dtype), [-1] + inner))
    flat_ids = np.concatenate([i.reshape(-1) for i in ids]).astype(np.int64)
    if flat_ids.size and flat_ids.min() < 0:
        raise errors.InvalidArgumentError(
            f"dynamic_stitch: index {int(flat_ids.min())} is negative",
            errors.user_location())
    size = int(flat_ids.max()) + 1 if flat_ids.size else 0
    # Which row of the concatenated data each output row takes (the last
    # writer); rows nobody writes read an appended row of zeros.
    source = np.full(size, -1, np.int64)
    np.maximum.at(source, flat_ids, np.arange(flat_ids.size))     # (the last wins)
    source[source < 0] = flat_ids.size
    table = concat(rows + [_zeros([1] + inner, dtype)], axis=0)
    return gather(table, constant(source.astype(np.int32)))


# unique's result, as tf.unique's: (y, idx), also by name.
Unique = collections.namedtuple("Unique", ["y", "idx"])


UniqueWithCounts = collections.namedtuple("UniqueWithCounts", ["y", "idx", "count"])


def unique_with_counts(x, out_idx=int32, name=None):
    """unique's (y, idx) and how often each value of y appears."""
    y, idx = unique(x, out_idx)
    counts = np.bincount(_known_values(idx, "unique_with_counts"), minlength=y.shape[0])
    return UniqueWithCounts(y, idx, constant(counts.astype(as_dtype(out_idx).as_numpy_dtype)))


def unique(x, out_idx=int32, name=None):
    """The distinct values of the 1-D `x` in order of first appearance, and
    for each element the position of its value in them, as tf.unique.
    Needs `x`'s values (eagerly, or constant while tracing). Not
    differentiable (as in TensorFlow)."""
    t = convert_to_tensor(x)
    if t.ndim != 1:
        raise errors.InvalidArgumentError(
            f"unique: x must be 1-D, got shape {list(t.shape)}",
            errors.user_location())
    values = _known_values(t, "unique")
    # NaN != NaN: each NaN is its own value, as in TensorFlow.
    _, first, inverse = np.unique(values, return_index=True, return_inverse=True,
                                  equal_nan=False)
    order = np.argsort(first, kind="stable")  # groups by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    y = gather(t, constant(first[order].astype(np.int32)))
    idx = constant(rank[np.ravel(inverse)].astype(as_dtype(out_idx).as_numpy_dtype))
    return Unique(stop_gradient(y), idx)


def lbeta(x, name=None):
    """ln|B(x)| over the last axis: sum(lgamma(x)) - lgamma(sum(x))
    (tf.math.lbeta, the same formula)."""
    x = convert_to_tensor(x)
    if x.ndim == 0:
        raise errors.InvalidArgumentError("lbeta: needs a tensor of rank >= 1",
                                          errors.user_location())
    return reduce_sum(lgamma(x), axis=-1) - lgamma(reduce_sum(x, axis=-1))


# Acklam's rational approximation of the normal quantile (relative error
# 1.2e-9), refined by one Halley step on erfc.
_ACKLAM_A = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
_ACKLAM_B = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
             6.680131188771972e+01, -1.328068155288572e+01]
_ACKLAM_C = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
_ACKLAM_D = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
             3.754408661907416e+00]


def _horner(coefficients, x):
    acc = x * 0.0 + coefficients[0]
    for c in coefficients[1:]:
        acc = acc * x + c
    return acc


def erfcinv(x, name=None):
    """The inverse of erfc on [0, 2] (tf.math.erfcinv): -ndtri(x / 2) /
    sqrt 2, so it keeps its digits near 0 and 2 (where 1 - x would lose
    them); +inf at 0, -inf at 2, NaN outside."""
    x = convert_to_tensor(x)
    if not x.dtype.is_floating:
        x = cast(x, float32)
    return -ndtri(x * 0.5) * float(1 / np.sqrt(2.0))


def nextafter(x1, x2, name=None):
    """The float after x1 in the direction of x2 (tf.math.nextafter, C's
    nextafter): x2 when they are equal, NaN if either is, the smallest
    subnormal with x2's sign from zero; else x1's bits one step away from
    or toward zero (a bitcast to the same-width integer)."""
    from .ops import bitcast
    a, b = _pair(x1, x2)
    if a.dtype not in (float32, float64) or a.dtype != b.dtype:
        raise TypeError(f"nextafter takes two float32 or float64 tensors of one dtype, got "
                        f"{a.dtype.name} and {b.dtype.name}")
    bits_type = int32 if a.dtype == float32 else int64
    bits = bitcast(a, bits_type)
    away = equal(greater(b, a), greater(a, 0.0))        # (|x1| grows)
    stepped = bitcast(where(away, bits + 1, bits - 1), a.dtype)
    tiny = bitcast(constant(1, bits_type), a.dtype)
    from_zero = where(greater(b, 0.0), tiny + zeros_like(a), -tiny + zeros_like(a))
    out = where(equal(a, 0.0), from_zero, stepped)
    out = where(equal(a, b), b, out)
    return where(logical_or(not_equal(a, a), not_equal(b, b)), a + b, out)


def approx_max_k(operand, k, reduction_dimension=-1, recall_target=0.95,
                 reduction_input_size_override=-1, aggregate_to_topk=True, name=None):
    """(values, indices) of the k largest along reduction_dimension
    (tf.math.approx_max_k): Kiln computes them exactly (recall 1, as
    TensorFlow does on the CPU)."""
    return _extreme_k(convert_to_tensor(operand), k, reduction_dimension, 1.0)


def approx_min_k(operand, k, reduction_dimension=-1, recall_target=0.95,
                 reduction_input_size_override=-1, aggregate_to_topk=True, name=None):
    """(values, indices) of the k smallest, ascending (tf.math.approx_min_k;
    exact)."""
    return _extreme_k(convert_to_tensor(operand), k, reduction_dimension, -1.0)


def _extreme_k(x, k, axis, sign):
    rank = len(x.shape)
    axis = int(axis) % rank if rank else 0
    last = rank - 1
    if axis != last:
        perm = list(range(rank))
        perm[axis], perm[last] = last, axis
        x = transpose(x, perm)
    values, indices = top_k(x * sign if sign < 0 else x, k=int(k))
    values = values * sign if sign < 0 else values
    if axis != last:
        values, indices = transpose(values, perm), transpose(indices, perm)
    return values, indices


def ndtri(x, name=None):
    """The standard normal quantile Phi^-1(x) (tf.math.ndtri): -inf at 0,
    +inf at 1, NaN outside [0, 1]; accurate in the tails (the smaller of x
    and 1 - x is used, 1 - x being exact above 1/2)."""
    p = convert_to_tensor(x)
    if not p.dtype.is_floating:
        raise errors.InvalidArgumentError(f"ndtri: takes floats, got {p.dtype.name}",
                                          errors.user_location())
    work = p if p.dtype == float64 else cast(p, float64)   # (exp(z^2/2) overflows f32)
    upper = greater(work, 0.5)
    q = where(upper, 1.0 - work, work)                  # in [0, 1/2]
    inside = logical_and(greater(q, 0.0), less_equal(q, 0.5))
    safe = where(inside, q, q * 0.0 + 0.25)
    # Acklam: the lower tail below 0.02425, the central region above.
    t = sqrt(-2.0 * log(safe))
    tail = _horner(_ACKLAM_C, t) / (_horner(_ACKLAM_D, t) * t + 1.0)
    r = (safe - 0.5) * (safe - 0.5)
    central = (safe - 0.5) * _horner(_ACKLAM_A, r) / (_horner(_ACKLAM_B, r) * r + 1.0)
    z = where(less(safe, 0.02425), tail, central)      # (z <= 0)
    # Halley: e = Phi(z) - q with Phi(z) = erfc(-z / sqrt 2) / 2.
    e = 0.5 * erfc(-z * float(1 / np.sqrt(2))) - safe
    u = e * float(np.sqrt(2 * np.pi)) * exp(0.5 * z * z)
    z = z - u / (1.0 + 0.5 * z * u)
    z = where(upper, -z, z)
    # (the edge values as constants: no gradient path through them)
    zero = zeros_like(work)
    z = where(inside, z, where(equal(work, 0.0), zero - np.inf,
                               where(equal(work, 1.0), zero + np.inf, zero + float("nan"))))
    return z if z.dtype == p.dtype else cast(z, p.dtype)


def log_ndtr(x, name=None):
    """ln Phi(x), accurate far into both tails (tf.math.log_ndtr): log1p of
    -Phi(-x) above 0, the log of erfc below, and the asymptotic series
    below -20 where erfc underflows."""
    x = convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise errors.InvalidArgumentError(f"log_ndtr: takes floats, got {x.dtype.name}",
                                          errors.user_location())
    w = x if x.dtype in (float32, float64) else cast(x, float32)
    s = float(1 / np.sqrt(2))
    # (the series below -20 in float64, -10 in float32, where erfc underflows
    # from about -13)
    cut = -20.0 if w.dtype == float64 else -10.0
    # (each branch on its own clamped input: no branch meets an infinity,
    # whose zero cotangent would make a NaN)
    high = log1p(-0.5 * erfc(maximum(w, 0.0) * s))
    mid_x = minimum(maximum(w, cut), 0.0)
    mid = log(0.5 * erfc(-mid_x * s))
    low_x = minimum(w, cut)
    z2 = 1.0 / (low_x * low_x)
    series = 1.0 - z2 + 3.0 * z2 * z2 - 15.0 * z2 * z2 * z2 + 105.0 * z2 * z2 * z2 * z2
    low = -0.5 * low_x * low_x - log(-low_x) - float(0.5 * np.log(2 * np.pi)) + log(series)
    out = where(greater(w, 0.0), high, where(less(w, cut), low, mid))
    return out if out.dtype == x.dtype else cast(out, x.dtype)


def lower_bound_search(keys, tokens):
    """For each token, the position of the first of the sorted `keys`
    (NumPy int64) not below it: a binary search of ceil(log2(n + 1))
    gather-and-compare steps, memory linear in the tokens."""
    table = constant(keys)
    lo = zeros_like(tokens)
    hi = lo + len(keys)
    for _ in range(builtins.max(1, int(np.ceil(np.log2(len(keys) + 1))))):
        active = less(lo, hi)
        mid = (lo + hi) >> 1
        right = logical_and(active, less(
            gather(table, minimum(mid, len(keys) - 1)), tokens))
        left = logical_and(active, logical_not(right))
        lo = where(right, mid + 1, lo)
        hi = where(left, mid, hi)
    return lo


# The ops that RaggedTensor dispatches on (kiln._dispatch).
_dispatch.dispatching(globals(), [
    "log1p", "expm1", "rsqrt", "floor", "ceil", "reciprocal", "is_nan", "is_inf",
    "is_finite", "erf", "erfc", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh",
    "acosh", "atanh", "lgamma", "digamma", "erfinv", "atan2", "identity", "zeros_like",
    "ones_like", "size", "reduce_prod", "reduce_any", "reduce_all", "reduce_variance",
    "reduce_std", "round", "rint",
    "softplus", "softsign", "log_sigmoid", "squared_difference", "clip_by_value",
    "divide_no_nan", "multiply_no_nan", "xlogy", "xdivy", "reciprocal_no_nan"])


def _register_variable_scatters():
    from . import variables
    variables._SCATTERS.update(update=tensor_scatter_nd_update, add=tensor_scatter_nd_add,
                               sub=tensor_scatter_nd_sub, broadcast=broadcast_to)


_register_variable_scatters()
