"""kiln.debugging: tf.debugging's checks. Each raises an
InvalidArgumentError naming the caller's line when its condition fails:
at once for eager values, and when the compiled code runs inside
@kiln.function (a kiln.assert). Static conditions (ranks, dtypes) are
checked while tracing. Eagerly the messages also show the first offending
values."""

import numpy as np

from . import errors, math_ops, ops
from .dtypes import as_dtype
from .ops import _check_at_run_time
from .tensor import convert_to_tensor

__all__ = ["Assert", "assert_all_finite", "assert_equal", "assert_greater",
           "assert_greater_equal", "assert_integer", "assert_less",
           "assert_less_equal", "assert_near", "assert_negative",
           "assert_non_negative", "assert_non_positive", "assert_none_equal",
           "assert_positive", "assert_rank", "assert_scalar", "assert_type",
           "check_numerics"]


def _fail(text):
    raise errors.InvalidArgumentError(text, errors.user_location())


def _prefix(message):
    return f"{message}: " if message else ""


def _check(ok, text, values=None, summarize=3):
    """ok (a bool tensor) all true, else `text` (with, eagerly, the first
    `summarize` positions where it is false and the values there)."""
    if ok._symbolic or values is None:
        _check_at_run_time(ok, text)
        return
    flags = np.asarray(ok.numpy())
    if flags.all():
        return
    bad = np.argwhere(~flags)[: max(int(summarize or 3), 1)]
    shown = []
    for where in bad:
        at = tuple(int(i) for i in where)
        parts = [f"{name}={np.asarray(v.numpy())[at] if v.shape else v.numpy()}"
                 for name, v in values]
        shown.append(f"[{', '.join(map(str, at))}]: {', '.join(parts)}")
    _fail(f"{text} (first failing: {'; '.join(shown)})")


def Assert(condition, data, summarize=None, name=None):  # noqa: N802 (TensorFlow's name)
    """tf.debugging.Assert: an InvalidArgumentError unless the bool
    `condition` holds (all of it), its message the items of `data`
    (strings as they are; tensors' values eagerly, their dtype and shape
    in compiled code, whose checks carry a fixed message)."""
    ok = convert_to_tensor(condition)
    if ok.dtype.name != "bool":
        raise TypeError(f"Assert: the condition must be a bool tensor, got {ok.dtype.name}")
    items = list(data) if isinstance(data, (list, tuple)) else [data]
    if not ok._symbolic:
        if bool(np.all(ok.numpy())):
            return None
        from .printing import _format
        limit = 3 if summarize is None else int(summarize)
        parts = [_format(np.asarray(v.numpy()), limit) if hasattr(v, "numpy") else str(v)
                 for v in items]
        _fail("assertion failed: " + " ".join(parts))
    parts = [f"<{v.dtype.name}{list(v.shape)}>" if hasattr(v, "dtype") and
             hasattr(v, "shape") and not isinstance(v, (str, bytes)) else str(v)
             for v in items]
    _check_at_run_time(ok, "assertion failed: " + " ".join(parts))
    return None


def _pair(x, y, what):
    x = convert_to_tensor(x)
    y = convert_to_tensor(y, x.dtype)
    try:
        shape = tuple(np.broadcast_shapes(
            tuple(d if d is not None else 1 for d in x.shape),
            tuple(d if d is not None else 1 for d in y.shape)))
    except ValueError:
        _fail(f"{what}: shapes {list(x.shape)} and {list(y.shape)} do not broadcast")
    if None not in x.shape and None not in y.shape and not x._symbolic \
            and not y._symbolic:
        x = math_ops.broadcast_to(x, shape) if x.shape != shape else x
        y = math_ops.broadcast_to(y, shape) if y.shape != shape else y
    return x, y


def _holds(compare, symbol, name, x, y, summarize, message, shown):
    """compare(x, y) everywhere, else "<name>: x <symbol> did not hold"."""
    _check(compare(x, y), f"{_prefix(message)}{name}: x {symbol} did not hold",
           shown, summarize)


def _comparison(compare, symbol, name):
    def check(x, y, data=None, summarize=None, message=None, name=None):
        x, y = _pair(x, y, check.__name__)
        _holds(compare, f"{symbol} y", check.__name__, x, y, summarize, message,
               [("x", x), ("y", y)])
    check.__name__ = name
    check.__doc__ = f"x {symbol} y everywhere (tf.debugging.{name})."
    return check


assert_equal = _comparison(ops.equal, "==", "assert_equal")
assert_none_equal = _comparison(ops.not_equal, "!=", "assert_none_equal")
assert_less = _comparison(ops.less, "<", "assert_less")
assert_less_equal = _comparison(ops.less_equal, "<=", "assert_less_equal")
assert_greater = _comparison(ops.greater, ">", "assert_greater")
assert_greater_equal = _comparison(ops.greater_equal, ">=", "assert_greater_equal")


def _sign(compare, symbol, name):
    def check(x, data=None, summarize=None, message=None, name=None):
        x = convert_to_tensor(x)
        _holds(compare, f"{symbol} 0", check.__name__, x,
               convert_to_tensor(0, x.dtype), summarize, message, [("x", x)])
    check.__name__ = name
    check.__doc__ = f"x {symbol} 0 everywhere (tf.debugging.{name})."
    return check


assert_positive = _sign(ops.greater, ">", "assert_positive")
assert_negative = _sign(ops.less, "<", "assert_negative")
assert_non_negative = _sign(ops.greater_equal, ">=", "assert_non_negative")
assert_non_positive = _sign(ops.less_equal, "<=", "assert_non_positive")


def assert_near(x, y, rtol=None, atol=None, data=None, summarize=None,
                message=None, name=None):
    """|x - y| <= atol + rtol * |y| everywhere (tf.debugging.assert_near;
    the default tolerances are 10 eps of the dtype, as TF's)."""
    x, y = _pair(x, y, "assert_near")
    if not x.dtype.is_floating:
        raise TypeError(f"assert_near compares floating-point tensors, got {x.dtype.name}")
    eps = float(np.finfo(np.float32 if x.dtype.name == "bfloat16"
                         else x.dtype.as_numpy_dtype).eps)
    rtol = 10 * eps if rtol is None else float(rtol)
    atol = 10 * eps if atol is None else float(atol)
    bound = ops.add(convert_to_tensor(atol, x.dtype),
                    ops.multiply(convert_to_tensor(rtol, x.dtype), ops.abs(y)))
    _check(ops.less_equal(ops.abs(ops.subtract(x, y)), bound),
           f"{_prefix(message)}assert_near: |x - y| <= {atol:g} + {rtol:g} |y| "
           "did not hold", [("x", x), ("y", y)], summarize)


def check_numerics(tensor, message, name=None):
    """`tensor` itself when it holds no NaN or infinity; otherwise an
    InvalidArgumentError "<message> : Tensor had NaN values" (or Inf, or
    Inf and NaN), as tf.debugging.check_numerics."""
    t = convert_to_tensor(tensor)
    if not t.dtype.is_floating:
        raise TypeError(f"check_numerics takes floating-point tensors, got {t.dtype.name}")
    if t._symbolic:
        _check_at_run_time(math_ops.is_finite(t),
                           f"{message} : Tensor had Inf or NaN values")
        return t
    values = np.asarray(t.numpy(), np.float64)
    nan, inf = np.isnan(values).any(), np.isinf(values).any()
    if nan or inf:
        kind = "Inf and NaN" if nan and inf else "NaN" if nan else "Inf"
        _fail(f"{message} : Tensor had {kind} values")
    return t


def assert_all_finite(t, msg, name=None):
    """check_numerics under TF2's name."""
    return check_numerics(t, msg)


def assert_rank(x, rank, message=None, name=None):
    """x has rank `rank` (checked while tracing: ranks are static)."""
    x = convert_to_tensor(x)
    if x.ndim != int(rank):
        _fail(f"{_prefix(message)}assert_rank: the tensor has rank {x.ndim} "
              f"(shape {list(x.shape)}), not {int(rank)}")


def assert_scalar(tensor, message=None, name=None):
    assert_rank(tensor, 0, message)
    return convert_to_tensor(tensor)


def assert_type(tensor, tf_type, message=None, name=None):
    """tensor's dtype is `tf_type` (a TypeError otherwise, as TF)."""
    t = convert_to_tensor(tensor)
    want = as_dtype(tf_type)
    if t.dtype != want:
        raise TypeError(f"{_prefix(message)}assert_type: the tensor is "
                        f"{t.dtype.name}, not {want.name}")


def assert_integer(x, message=None, name=None):
    """x has an integer dtype (a TypeError otherwise)."""
    t = convert_to_tensor(x)
    if not t.dtype.is_integer:
        raise TypeError(f"{_prefix(message)}assert_integer: the tensor is "
                        f"{t.dtype.name}, not an integer type")
