"""Kiln ops on eager tensors. Each runs one kernel compiled from the Kiln
dialect by the C++ compiler (see _kiln.run_op)."""

import builtins

import numpy as np

from . import _kiln, config, errors, gradients, tracing
from ._state import local as _state
from .dtypes import as_dtype, bool as bool_, int64
from .tensor import Tensor, convert_to_tensor


def _run(op, inputs, attributes="", results=()):
    """Runs kiln.<op> (or, inside @kiln.function, adds it to the trace);
    errors name the user's line; active gradient tapes record it."""
    trace = _state.trace
    if trace is not None:
        try:
            outputs = trace.op(op, inputs, attributes, results,
                               errors.user_location())
        except _kiln.NativeError as e:
            raise errors.from_native(e) from None
    else:
        device = config.current_device()
        if config.log_device_placement:
            config.log_op(op, device)
        try:
            outs = _kiln.run_op(op, [t._impl for t in inputs], attributes,
                                results, config.runtime_device(device))
        except _kiln.NativeError as e:
            raise errors.from_native(e) from None
        outputs = [Tensor(o) for o in outs]
    if _state.tapes:
        gradients.record(op, inputs, attributes, results, outputs,
                         errors.user_location())
    return outputs


def _run1(op, inputs, attributes="", results=()):
    return _run(op, inputs, attributes, results)[0]


def _tensor_type(shape, dtype):
    dims = "".join("?x" if d is None else f"{d}x" for d in shape)
    return f"tensor<{dims}{as_dtype(dtype).mlir}>"


def _pair(x, y):
    """Converts two operands; a Python number takes the other's dtype."""
    if type(x) is Tensor and type(y) is Tensor:
        return x, y
    if isinstance(x, Tensor) and not isinstance(y, Tensor):
        return x, convert_to_tensor(y, dtype=x.dtype)
    if isinstance(y, Tensor) and not isinstance(x, Tensor):
        return convert_to_tensor(x, dtype=y.dtype), y
    return convert_to_tensor(x), convert_to_tensor(y)


def _binary(op, x, y):
    x, y = _pair(x, y)
    return _run1(op, [x, y])


def _compare(direction, x, y):
    x, y = _pair(x, y)
    return _run1("compare", [x, y], f"{{direction = {direction} : i32}}")


def _unary(op):
    def apply(x, name=None):
        return _run1(op, [convert_to_tensor(x)])
    apply.__name__ = op
    apply.__doc__ = f"Elementwise kiln.{op}."
    return apply


def add(x, y, name=None): return _binary("add", x, y)
def subtract(x, y, name=None): return _binary("sub", x, y)
def multiply(x, y, name=None): return _binary("mul", x, y)
def truediv(x, y, name=None):
    """`x / y` as TensorFlow 2 computes it: floats as they are, integers
    as floats (int32 and int64 as float64, like `tf.math.truediv`), so
    `kiln.constant([1, 2, 3]) / 4` is [0.25, 0.5, 0.75], not [0, 0, 0]."""
    x, y = _pair(x, y)
    if x.dtype != y.dtype:
        raise TypeError(f"x / y: x is {x.dtype.name} and y is {y.dtype.name}; "
                        "cast one of them first")
    if x.dtype.is_integer:
        x, y = cast(x, "float64"), cast(y, "float64")
    elif not x.dtype.is_floating:
        raise TypeError(f"x / y is not defined for {x.dtype.name} tensors")
    return _run1("div", [x, y])


def divide(x, y, name=None): return truediv(x, y)
def pow(x, y, name=None): return _binary("pow", x, y)
def maximum(x, y, name=None): return _binary("maximum", x, y)
def minimum(x, y, name=None): return _binary("minimum", x, y)
def equal(x, y, name=None): return _compare(0, x, y)
def less(x, y, name=None): return _compare(2, x, y)
def greater(x, y, name=None): return _compare(4, x, y)

negative = _unary("neg")
abs = _unary("abs")
exp = _unary("exp")
log = _unary("log")
sqrt = _unary("sqrt")
tanh = _unary("tanh")
sigmoid = _unary("sigmoid")
sin = _unary("sin")
cos = _unary("cos")
square = _unary("square")
sign = _unary("sign")


def stop_gradient(input, name=None):
    """`input` itself, through which no gradient flows (tf.stop_gradient):
    on a tape and inside @kiln.function the autodiff pass gives it a zero
    cotangent."""
    return _run1("stop_gradient", [convert_to_tensor(input)])


def matmul(a, b, transpose_a=False, transpose_b=False, name=None):
    a, b = _pair(a, b)
    if transpose_a:
        a = transpose(a)
    if transpose_b:
        b = transpose(b)
    if a.ndim > 2 or b.ndim > 2:
        return _run1("batch_matmul", [a, b])
    return _run1("matmul", [a, b])


def _axes(x, axis):
    if axis is None:
        return list(range(x.ndim))
    if isinstance(axis, (list, tuple)):
        return [int(a) for a in axis]
    return [int(axis)]


def _reduce(op):
    def apply(input_tensor, axis=None, keepdims=False, name=None):
        x = convert_to_tensor(input_tensor)
        axes = ", ".join(str(a) for a in _axes(x, axis))
        attrs = f"{{axes = array<i64{': ' + axes if axes else ''}>"
        attrs += ", keepdims = true}" if keepdims else "}"
        return _run1(op, [x], attrs)
    apply.__name__ = op
    return apply


reduce_sum = _reduce("reduce_sum")
reduce_mean = _reduce("reduce_mean")
reduce_max = _reduce("reduce_max")
reduce_min = _reduce("reduce_min")


def argmax(input, axis=0, output_type=int64, name=None):
    x = convert_to_tensor(input)
    r = _run1("argmax", [x], f"{{axis = {int(axis)} : i64}}")
    return r if as_dtype(output_type) == int64 else cast(r, output_type)


def cast(x, dtype, name=None):
    x = convert_to_tensor(x)
    dtype = as_dtype(dtype)
    if dtype == x.dtype:
        return x
    return _run1("cast", [x], "", [_tensor_type(x.shape, dtype)])


def reshape(tensor, shape, name=None):
    x = convert_to_tensor(tensor)
    # None: an extent known only at run time (an input_signature's).
    shape = [None if d is None else int(d) for d in shape]
    if shape.count(-1) > 1:
        raise errors.InvalidArgumentError("reshape: only one dimension can be -1",
                                          errors.user_location())
    if -1 in shape and None in x.shape:
        shape[shape.index(-1)] = None  # computed when the code runs
    elif -1 in shape:
        known = 1
        for d in shape:
            if d != -1:
                known *= d
        total = 1
        for d in x.shape:
            total *= d
        shape[shape.index(-1)] = total // known if known else 0
    return _run1("reshape", [x], "", [_tensor_type(shape, x.dtype)])


def transpose(a, perm=None, name=None):
    x = convert_to_tensor(a)
    perm = list(reversed(range(x.ndim))) if perm is None else [int(p) for p in perm]
    body = ", ".join(str(p) for p in perm)
    return _run1("transpose", [x],
                 f"{{permutation = array<i64{': ' + body if body else ''}>}}")


def where(condition, x, y, name=None):
    c = convert_to_tensor(condition, dtype=bool_)
    x, y = _pair(x, y)
    return _run1("select", [c, x, y])


def _bools(*values):
    """The operands of a logical op: bool tensors (TensorFlow refuses
    others; Python bools are fine)."""
    out = [convert_to_tensor(v, dtype=bool_) if not isinstance(v, Tensor) else v
           for v in values]
    for t in out:
        if t.dtype != bool_:
            raise TypeError(f"logical ops take bool tensors, got {t.dtype.name}")
    return out


def logical_not(x, name=None):
    (x,) = _bools(x)
    return _run1("logical_not", [x])


def logical_and(x, y, name=None):
    x, y = _bools(x, y)
    return _run1("logical_and", [x, y])


def logical_or(x, y, name=None):
    x, y = _bools(x, y)
    return _run1("logical_or", [x, y])


def logical_xor(x, y, name=None):
    x, y = _bools(x, y)
    return not_equal(x, y)


def not_equal(x, y, name=None): return _compare(1, x, y)
def less_equal(x, y, name=None): return _compare(3, x, y)
def greater_equal(x, y, name=None): return _compare(5, x, y)


def _division_operands(x, y, what):
    x, y = _pair(x, y)
    if x.dtype != y.dtype:
        raise TypeError(f"x {what} y: x is {x.dtype.name} and y is {y.dtype.name}; "
                        "cast one of them first")
    if not (x.dtype.is_integer or x.dtype.is_floating):
        raise TypeError(f"x {what} y is not defined for {x.dtype.name} tensors")
    return x, y


def _check_at_run_time(ok, message):
    """TensorFlow's InvalidArgumentError(message) unless the bool tensor
    `ok` is all true: at once for eager values, when the code runs inside
    @kiln.function (a kiln.assert naming this line)."""
    from .tracing import current_trace
    from .printing import _mlir_string
    ok = equal(reduce_min(cast(ok, "int32")), 1) if ok.shape else ok
    trace = current_trace()
    if trace is None:
        if not bool(ok.numpy()):
            raise errors.InvalidArgumentError(message, errors.user_location())
        return
    trace.op("assert", [ok], f"{{message = {_mlir_string(message)}}}", [],
             errors.user_location())


def _floor_quotient(x, y):
    """(floor(x / y), x - floor(x / y) * y) for integers: the truncated
    quotient moved down by one where the remainder's sign differs from the
    divisor's (Python's and TensorFlow's floor division). A zero divisor is
    TensorFlow's "Integer division by zero" error."""
    _check_at_run_time(not_equal(y, convert_to_tensor(0, dtype=y.dtype)),
                       "Integer division by zero")
    q = _run1("div", [x, y])
    r = subtract(x, multiply(q, y))
    zero = convert_to_tensor(0, dtype=x.dtype)
    adjust = logical_and(not_equal(r, zero), not_equal(less(r, zero), less(y, zero)))
    one = convert_to_tensor(1, dtype=x.dtype)
    return (subtract(q, where(adjust, one, zero)), add(r, where(adjust, y, zero)))


def floordiv(x, y, name=None):
    """`x // y`: the quotient rounded down (integers stay integers, floats
    give floor(x / y)), as tf.math.floordiv."""
    x, y = _division_operands(x, y, "//")
    if x.dtype.is_integer:
        return _floor_quotient(x, y)[0]
    return _run1("floor", [_run1("div", [x, y])])


def floormod(x, y, name=None):
    """`x % y`: the remainder of floor division (its sign is the divisor's),
    as tf.math.floormod; x - floordiv(x, y) * y for floats, differentiable
    in both."""
    x, y = _division_operands(x, y, "%")
    if x.dtype.is_integer:
        return _floor_quotient(x, y)[1]
    return subtract(x, multiply(_run1("floor", [_run1("div", [x, y])]), y))


mod = floormod


def _index(x, i):
    """x[i] for an integer i (negative counts from the end)."""
    n = x.shape[0]
    if i < -n or i >= n:
        raise errors.InvalidArgumentError(
            f"index {i} is out of bounds for dimension 0 with size {n}",
            errors.user_location())
    return _getitem(x, i)


def _getitem(x, key):
    """Basic indexing (integers and slices with steps) through kiln.slice
    and kiln.reshape."""
    if isinstance(key, Tensor):
        # A tensor index (e.g. a loop counter inside @kiln.function).
        if key.shape or not key.dtype.is_integer:
            raise errors.InvalidArgumentError(
                "a tensor index must be an integer scalar", errors.user_location())
        if _concrete(key) and x.ndim:
            # As with a Python int: negative counts from the end.
            i, size = int(key.numpy()), x.shape[0]
            if i < -size or i >= size:
                raise errors.InvalidArgumentError(
                    f"index {i} is out of bounds for dimension 0 with size {size}",
                    errors.user_location())
            if i < 0:
                key = convert_to_tensor(i % size, dtype=key.dtype)
        return gather(x, key)
    if not isinstance(key, tuple):
        key = (key,)
    if len(key) > x.ndim:
        raise errors.InvalidArgumentError(
            f"too many indices ({len(key)}) for a tensor of rank {x.ndim}",
            errors.user_location())
    starts, limits, strides, keep = [], [], [], []
    for d, size in enumerate(x.shape):
        k = key[d] if d < len(key) else builtins.slice(None)
        if isinstance(k, builtins.slice):
            start, stop, step = k.indices(size)
            if step <= 0:
                raise errors.UnimplementedError(
                    "negative slice steps are not supported yet",
                    errors.user_location())
            stop = builtins.max(stop, start)
            starts.append(start); limits.append(stop); strides.append(step)
            keep.append(len(range(start, stop, step)))
        else:
            i = int(k)
            if i < -size or i >= size:
                raise errors.InvalidArgumentError(
                    f"index {i} is out of bounds for dimension {d} with size {size}",
                    errors.user_location())
            i %= size
            starts.append(i); limits.append(i + 1); strides.append(1)
    arr = lambda v: "array<i64" + (": " + ", ".join(map(str, v)) if v else "") + ">"
    sliced_shape = [len(range(s, l, st)) for s, l, st in zip(starts, limits, strides)]
    out = _run1("slice", [x], f"{{start = {arr(starts)}, limit = {arr(limits)}, "
                              f"stride = {arr(strides)}}}")
    if sliced_shape != keep:
        out = reshape(out, keep)
    return out


def concat(values, axis, name=None):
    tensors = [convert_to_tensor(v) for v in values]
    if len(tensors) > 1:
        dtype = tensors[0].dtype
        tensors = [tensors[0]] + [convert_to_tensor(v, dtype) for v in values[1:]]
    # kiln.concat infers its result type (and reports bad shapes).
    return _run1("concat", tensors, f"{{axis = {int(axis)} : i64}}")


def stack(values, axis=0, name=None):
    tensors = [convert_to_tensor(v) for v in values]
    rank = tensors[0].ndim + 1
    a = int(axis) % rank
    expanded = [reshape(t, t.shape[:a] + (1,) + t.shape[a:]) for t in tensors]
    return concat(expanded, a)


def one_hot(indices, depth, on_value=1.0, off_value=0.0, axis=-1, dtype=None,
            name=None):
    from .dtypes import float32
    x = convert_to_tensor(indices)
    dtype = as_dtype(dtype) if dtype is not None else float32
    rank = x.ndim + 1
    a = int(axis) % rank
    shape = list(x.shape)
    shape.insert(a, int(depth))
    return _run1("one_hot", [x],
                 f"{{depth = {int(depth)} : i64, axis = {int(axis)} : i64, "
                 f"on_value = {float(on_value):.17e} : f64, "
                 f"off_value = {float(off_value):.17e} : f64}}",
                 [_tensor_type(shape, dtype)])


def _concrete(t):
    """Whether `t` has a value now (eagerly), not inside a trace."""
    return not t._symbolic


def _check_indices(indices, size, what):
    """TensorFlow's InvalidArgumentError for an index outside [0, size),
    when the indices have values now. (Inside @kiln.function they are only
    known when the compiled code runs, which checks them: gather's
    bounds_check.)"""
    if not _concrete(indices) or size is None:
        return
    values = np.asarray(indices.numpy())
    bad = (values < 0) | (values >= size)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        position = ", ".join(map(str, where))
        raise errors.InvalidArgumentError(
            f"{what}: indices[{position}] = {values[where]} is not in [0, {size})",
            errors.user_location())


def gather(params, indices, axis=0, name=None):
    params, indices = convert_to_tensor(params), convert_to_tensor(indices)
    if params.ndim:
        _check_indices(indices, params.shape[int(axis) % params.ndim], "gather")
    # Indices known only when compiled code runs are checked there (an
    # InvalidArgumentError naming this line); eager ones were checked above.
    check = "" if _concrete(indices) else ", bounds_check"
    return _run1("gather", [params, indices], f"{{axis = {int(axis)} : i64{check}}}")
