"""Kiln's core ops, and the Python operators of kiln.Tensor (attached here,
in one place, at the end). Every op goes through core.bind: eagerly one
kernel compiled from the Kiln dialect, inside @kiln.function one op of the
trace, and a record on each active gradient tape."""

import builtins

import numpy as np

from . import _dispatch, core, errors
from .core import (attributes, bind1 as _run1, current_trace, enum_case,
                   tensor_type, unit)
from .dtypes import as_dtype, bool as bool_, float32, int64
from .tensor import ComplexParts, HostStrings, Tensor, convert_to_tensor


# Python numbers used as operands (the 2.0 of `2.0 * x`), converted once
# per (type, value, dtype): tensors are immutable, so one serves every use.
# Zeros (0.0 and -0.0 compare equal) and NaNs are converted each time.
_SCALARS = {}


def _like(value, dtype):
    """A Python number or array-like as an operand of `dtype`."""
    kind = type(value)
    if kind is float or kind is int or kind is bool:
        if value and value == value:
            key = (kind, value, dtype)
            t = _SCALARS.get(key)
            if t is None:
                if len(_SCALARS) > 4096:
                    _SCALARS.clear()
                t = _SCALARS[key] = convert_to_tensor(value, dtype=dtype)
            return t
    return convert_to_tensor(value, dtype=dtype)


def _pair(x, y):
    """Converts two operands; a Python number takes the other's dtype."""
    if type(x) is Tensor and type(y) is Tensor:
        return x, y
    if isinstance(x, Tensor) and not isinstance(y, Tensor):
        return x, _like(y, x.dtype)
    if isinstance(y, Tensor) and not isinstance(x, Tensor):
        return _like(x, y.dtype), y
    return convert_to_tensor(x), convert_to_tensor(y)


_COMPARE_NAMES = {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal",
                  "gt": "greater", "ge": "greater_equal"}
_COMPARE = {d: attributes(direction=enum_case("compare_direction", d))
            for d in ("eq", "ne", "lt", "le", "gt", "ge")}


def _compare(direction, x, y):
    """kiln.compare in `direction` ("eq", "lt", ...); strings compare
    equal or not on the host."""
    if type(x) is not Tensor or type(y) is not Tensor:
        cls = _dispatch.composite_of((x, y))
        if cls is not None:
            name = _COMPARE_NAMES[direction]
            return _dispatch.call(cls, name, globals()[name], (x, y), {})
    x, y = _pair(x, y)
    if (type(x._impl) is HostStrings or type(y._impl) is HostStrings) and \
            direction in ("eq", "ne"):
        if x.dtype != y.dtype:
            raise TypeError(f"cannot compare a {x.dtype.name} tensor with a "
                            f"{y.dtype.name} one")
        try:
            equal = np.equal(x._impl.array, y._impl.array).astype(bool)
        except ValueError as e:
            raise errors.InvalidArgumentError(
                f"kiln.{'equal' if direction == 'eq' else 'not_equal'}: shapes "
                f"{list(x.shape)} and {list(y.shape)} do not broadcast ({e})",
                errors.user_location()) from None
        return convert_to_tensor(equal if direction == "eq" else ~equal)
    if type(x._impl) is ComplexParts or type(y._impl) is ComplexParts:
        return core.complex_ops["compare"](direction, x, y)
    return _run1("compare", [x, y], _COMPARE[direction])


def _unary(op):
    def apply(x, name=None):
        return _run1(op, [convert_to_tensor(x)])
    apply.__name__ = op
    apply.__doc__ = f"Elementwise kiln.{op}."
    return apply


def _elementwise(op, api_name):
    """An elementwise binary op (one Python frame between the caller and
    the dispatch core when both operands are tensors)."""
    def apply(x, y, name=None):
        if type(x) is not Tensor or type(y) is not Tensor:
            cls = _dispatch.composite_of((x, y))
            if cls is not None:  # (a RaggedTensor operand)
                return _dispatch.call(cls, api_name, apply, (x, y), {})
            x, y = _pair(x, y)
        return _run1(op, [x, y])
    apply.__name__ = apply.__qualname__ = api_name
    apply.__doc__ = f"Elementwise kiln.{op} with broadcasting."
    apply._kiln_dispatches = True    # (composites, symbolic tensors included)
    return apply


add = _elementwise("add", "add")
subtract = _elementwise("sub", "subtract")
multiply = _elementwise("mul", "multiply")
def truediv(x, y, name=None):
    """`x / y` as TensorFlow 2 computes it: floats as they are, integers
    as floats (8- and 16-bit ones as float32, int32, uint32 and int64 as
    float64, like `tf.math.truediv`), so `kiln.constant([1, 2, 3]) / 4` is
    [0.25, 0.5, 0.75], not [0, 0, 0], and uint8 pixels / 255 are float32."""
    x, y = _pair(x, y)
    if x.dtype != y.dtype:
        raise TypeError(f"x / y: x is {x.dtype.name} and y is {y.dtype.name}; "
                        "cast one of them first")
    if x.dtype.is_integer:
        wide = "float32" if x.dtype.size <= 2 else "float64"
        x, y = cast(x, wide), cast(y, wide)
    elif not (x.dtype.is_floating or x.dtype.is_complex):
        raise TypeError(f"x / y is not defined for {x.dtype.name} tensors")
    return _run1("div", [x, y])


def divide(x, y, name=None): return truediv(x, y)
pow = _elementwise("pow", "pow")
maximum = _elementwise("maximum", "maximum")
minimum = _elementwise("minimum", "minimum")
def equal(x, y, name=None): return _compare("eq", x, y)
def less(x, y, name=None): return _compare("lt", x, y)
def greater(x, y, name=None): return _compare("gt", x, y)

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


def _swap_last(x):
    """x with its last two dimensions swapped."""
    perm = list(range(x.ndim))
    perm[-2], perm[-1] = perm[-1], perm[-2]
    return transpose(x, perm)


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False,
           adjoint_b=False, name=None):
    """a @ b (batched over leading dimensions), either operand transposed on
    its last two dimensions (the adjoint of a real matrix is its
    transpose), as tf.linalg.matmul."""
    a, b = _pair(a, b)
    if adjoint_a and a.dtype.is_complex:
        a = core.complex_ops["conj"](a)
    if adjoint_b and b.dtype.is_complex:
        b = core.complex_ops["conj"](b)
    if transpose_a or adjoint_a:
        a = _swap_last(a)
    if transpose_b or adjoint_b:
        b = _swap_last(b)
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
        attrs = attributes(axes=_axes(x, axis), keepdims=True) if keepdims \
            else attributes(axes=_axes(x, axis))
        return _run1(op, [x], attrs)
    apply.__name__ = op
    return apply


reduce_sum = _reduce("reduce_sum")
_reduce_mean = _reduce("reduce_mean")


def reduce_mean(input_tensor, axis=None, keepdims=False, name=None):
    """The mean over `axis` (all axes for None). Integer tensors give the
    sum divided by the count rounded toward zero, in their own type, as
    tf.reduce_mean does ([1, 2] -> 1); 8/16-bit and unsigned ones are
    summed widened (int32, int64 for uint32), so the mean of uint8
    pixels is their mean, not that of a sum wrapped modulo 256."""
    x = convert_to_tensor(input_tensor)
    if not x.dtype.is_integer:
        return _reduce_mean(x, axis, keepdims)
    if x.dtype.is_storage:
        return cast(reduce_mean(core.widen(x), axis, keepdims), x.dtype)
    axes = [a % x.ndim for a in _axes(x, axis)] if x.ndim else []
    count = 1
    for a in axes:
        if x.shape[a] is None:
            count = None
            break
        count *= x.shape[a]
    if count is None:  # an extent known only at run time: count ones
        count = reduce_sum(_run1("cast", [equal(x, x)], None,
                                 [tensor_type(x.shape, x.dtype)]), axis, keepdims)
    else:
        count = _like(count, x.dtype)
    return _run1("div", [reduce_sum(x, axis, keepdims), count])
reduce_max = _reduce("reduce_max")
reduce_min = _reduce("reduce_min")


def argmax(input, axis=0, output_type=int64, name=None):
    x = convert_to_tensor(input)
    r = _run1("argmax", [x], attributes(axis=int(axis)))
    return r if as_dtype(output_type) == int64 else cast(r, output_type)


def cast(x, dtype, name=None):
    x = convert_to_tensor(x)
    dtype = as_dtype(dtype)
    if dtype == x.dtype:
        return x
    if dtype.is_complex or x.dtype.is_complex:
        return core.complex_ops["cast"](x, dtype)
    if dtype.mlir == "string" or x.dtype.mlir == "string":
        raise TypeError(f"kiln.cast: cannot cast {x.dtype.name} to {dtype.name} (use "
                        "kiln.strings.as_string or kiln.strings.to_number)")
    return _run1("cast", [x], None, [tensor_type(x.shape, dtype)])


def bitcast(input, type, name=None):  # noqa: A002 (TensorFlow's names)
    """The elements' bits read as `type` (tf.bitcast): the same shape for
    equal widths; to a narrower type a new last dimension of the pieces
    (lowest bits first), to a wider one the last dimension (which must
    hold the right number of pieces) joined."""
    x = convert_to_tensor(input)
    dtype = as_dtype(type)
    if x.dtype == bool_ or dtype == bool_:
        raise TypeError("bitcast: bool tensors have no bit layout to reinterpret")
    wide, narrow = x.dtype.size, dtype.size
    shape = list(x.shape)
    if wide > narrow:
        shape.append(wide // narrow)
    elif wide < narrow:
        if not shape or shape[-1] != narrow // wide:
            raise errors.InvalidArgumentError(
                f"bitcast: {x.dtype.name} to {dtype.name} joins a last dimension of "
                f"{narrow // wide}, got shape {shape}", errors.user_location())
        shape.pop()
    return _run1("bitcast", [x], None, [tensor_type(shape, dtype)])


def _extent(x, i):
    """Extent i of x as an int64 scalar: a constant where known, kiln.dim
    (read when the compiled code runs) where open."""
    d = x.shape[i]
    if d is not None:
        from .tensor import constant
        return constant(d, int64)
    return _run1("dim", [x], attributes(axis=i), [tensor_type((), int64)])


def _same_open_extent(extent, x, axis):
    """Checks when the code runs that open `extent` (of a reshape target)
    is extent `axis` of x, unless it is that very extent (another tensor's:
    the same one, or the reshape is wrong)."""
    if not extent.of(x, axis):
        _check_at_run_time(
            _compare("eq", _extent(extent.tensor(), extent.axis), _extent(x, axis)),
            f"reshape: the target shape's open extent (dimension {extent.axis} of "
            f"a tensor of shape {list(extent.tensor().shape)}) differs from dimension "
            f"{axis} of the tensor reshaped, of shape {list(x.shape)}")


def _open_reshape(x, shape):
    """The target `shape` of a reshape of `x` with extents from kiln.shape
    that are open (_OpenExtents) as None, once each is matched with one of
    x's open extents: its own, or one checked equal to it when the code
    runs. A -1 then stands for what the known extents leave."""
    from .tensor import _OpenExtent
    wanted = [i for i, d in enumerate(shape) if isinstance(d, _OpenExtent)]
    if not wanted:
        return shape
    have = [i for i, d in enumerate(x.shape) if d is None]
    if len(wanted) > 1 and len(wanted) == len(have) and not builtins.any(
            shape[w].source is x._impl and shape[w].axis != h
            for w, h in zip(wanted, have)):
        # One open extent for each of x's, in order: each keeps its value
        # (another tensor's is checked equal to x's when the code runs); a
        # -1 is what the known extents leave (the lowering groups the rest).
        for w, h in zip(wanted, have):
            _same_open_extent(shape[w], x, h)
        out = [None if isinstance(d, _OpenExtent) else int(d) for d in shape]
        need = int(np.prod([d for d in x.shape if d is not None], dtype=np.int64))
        got = int(np.prod([d for d in out if d is not None and d != -1], dtype=np.int64))
        if -1 in out:
            if not got or need % got:
                raise errors.InvalidArgumentError(
                    f"reshape: cannot reshape a tensor of shape {list(x.shape)} to "
                    f"{out}: the known extents do not divide {need}",
                    errors.user_location())
            out[out.index(-1)] = need // got
        elif need != got:
            raise errors.InvalidArgumentError(
                f"reshape: cannot reshape a tensor of shape {list(x.shape)} to "
                f"{out}: beside the open extents, it holds {need} elements and "
                f"the target {got}", errors.user_location())
        return out
    if len(wanted) != 1 or len(have) != 1:
        raise errors.UnimplementedError(
            f"reshape: a target shape with {len(wanted)} extents known only when "
            f"the code runs, for a tensor of shape {list(x.shape)}: Kiln reshapes "
            "one open extent to one, or several to as many, in order (give the "
            "function a more static input_signature)",
            errors.user_location())
    extent, axis = shape[wanted[0]], have[0]
    _same_open_extent(extent, x, axis)
    known = [int(d) for i, d in enumerate(shape) if i != wanted[0] and d != -1]
    rest = [int(d) for i, d in enumerate(x.shape) if i != axis]
    need, got = int(np.prod(rest, dtype=np.int64)), int(np.prod(known, dtype=np.int64))
    out = [None if i == wanted[0] else int(d) for i, d in enumerate(shape)]
    if -1 in out and got and need % got == 0:
        out[out.index(-1)] = need // got
    elif need != got or -1 in out:
        raise errors.InvalidArgumentError(
            f"reshape: cannot reshape a tensor of shape {list(x.shape)} to "
            f"{out}: beside the open "
            f"extent, it holds {need} elements and the target {got}",
            errors.user_location())
    return out


def reshape(tensor, shape, name=None):
    x = convert_to_tensor(tensor)
    from .tensor import _static_extents
    shape = _static_extents(shape, "reshape", open_extents=True)
    if [d for d in shape if isinstance(d, (int, np.integer))].count(-1) > 1:
        raise errors.InvalidArgumentError("reshape: only one dimension can be -1",
                                          errors.user_location())
    # None: an extent known only at run time (an input_signature's).
    shape = [None if d is None else int(d) for d in _open_reshape(x, shape)]
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
        if (known == 0 and total != 0) or (known and total % known):
            # (TensorFlow's message: the shape as written, not with the -1
            # replaced by a guess.)
            raise errors.InvalidArgumentError(
                f"reshape: cannot reshape a tensor of {total} elements (shape "
                f"{list(x.shape)}) to {[int(d) for d in shape]}: the other "
                f"dimensions hold {known} elements, which does not divide "
                f"{total}", errors.user_location())
        if known == 0:
            raise errors.InvalidArgumentError(
                f"reshape: cannot infer the -1 of {[int(d) for d in shape]} for an empty "
                f"tensor (shape {list(x.shape)}) when another given dimension is 0: "
                "any extent would do (TensorFlow's rule); give it",
                errors.user_location())
        shape[shape.index(-1)] = total // known
    return _run1("reshape", [x], None, [tensor_type(shape, x.dtype)])


def transpose(a, perm=None, conjugate=False, name=None):
    """`a` with its dimensions permuted (reversed for perm=None); complex
    entries conjugated when `conjugate`."""
    x = convert_to_tensor(a)
    if conjugate and x.dtype.is_complex:
        x = core.complex_ops["conj"](x)
    perm = list(reversed(range(x.ndim))) if perm is None else [int(p) for p in perm]
    return _run1("transpose", [x], attributes(permutation=perm))


def where(condition, x=None, y=None, name=None):
    """x where `condition` holds, else y (broadcast together); with neither,
    the int64 coordinates [count, rank] of the true entries of
    `condition`, in row-major order, as tf.where (their count depends on the
    values: eagerly, or for a condition known while tracing)."""
    if x is None and y is None:
        c = convert_to_tensor(condition)
        from .tensor import constant
        found = np.argwhere(_known_values(c, "where(condition)") != 0).astype(np.int64)
        return constant(found.reshape(-1, c.ndim))
    if x is None or y is None:
        raise ValueError("where: give both x and y, or neither")
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


def _integers(what, *values):
    """The operands of a bitwise op: integer tensors of one dtype (a
    Python int takes the other operand's; TensorFlow refuses bool and
    float operands, and so does Kiln)."""
    out = list(_pair(*values)) if len(values) == 2 else [convert_to_tensor(values[0])]
    for t in out:
        if not t.dtype.is_integer:
            raise TypeError(f"{what} takes integer tensors, got {t.dtype.name}")
    if len(out) == 2 and out[0].dtype != out[1].dtype:
        raise TypeError(f"{what}: x is {out[0].dtype.name} and y is "
                        f"{out[1].dtype.name}; cast one of them first")
    return out


def _bitwise(op):
    def apply(x, y, name=None):
        return _run1(op, _integers(op, x, y))
    apply.__name__ = apply.__qualname__ = op
    apply.__doc__ = f"Elementwise kiln.{op} of two integer tensors, with broadcasting."
    return apply


bitwise_and = _bitwise("bitwise_and")
bitwise_or = _bitwise("bitwise_or")
bitwise_xor = _bitwise("bitwise_xor")
# The shifts as the dialect defines them (NumPy's and StableHLO's rule): an
# amount outside [0, bit width), negative ones included, shifts every bit
# out. tf.bitwise's shifts clamp the amount instead (kiln.bitwise).
shift_left = _bitwise("shift_left")
shift_right_arithmetic = _bitwise("shift_right_arithmetic")
shift_right_logical = _bitwise("shift_right_logical")


def bitwise_not(x, name=None):
    """~x for an integer tensor: every bit flipped."""
    return _run1("bitwise_not", _integers("bitwise_not", x))


def _logical_or_bitwise(logical, bitwise):
    """An operator that is logical on bools and bitwise on integers, as
    TensorFlow's & | ^ on tensors."""
    def apply(x, y):
        if type(x) is not Tensor or type(y) is not Tensor:
            cls = _dispatch.composite_of((x, y))
            if cls is not None:  # (a RaggedTensor of bools)
                return _dispatch.call(cls, logical.__name__, logical, (x, y), {})
        x, y = _pair(x, y)
        return logical(x, y) if x.dtype == bool_ and y.dtype == bool_ else bitwise(x, y)
    return apply


def _invert_operator(x):
    return logical_not(x) if x.dtype == bool_ else bitwise_not(x)


def not_equal(x, y, name=None): return _compare("ne", x, y)
def less_equal(x, y, name=None): return _compare("le", x, y)
def greater_equal(x, y, name=None): return _compare("ge", x, y)


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
    # (>= 1: the minimum over no elements is INT_MAX, and all of none hold)
    ok = greater_equal(reduce_min(cast(ok, "int32")), 1) if ok.shape else ok
    trace = current_trace()
    if trace is None:
        if not bool(ok.numpy()):
            raise errors.InvalidArgumentError(message, errors.user_location())
        return
    trace.op("assert", [ok], attributes(message=str(message)), [],
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
    as tf.math.floormod. Floats: the exact remainder fmod(x, y), moved by y
    where its sign differs from y's (TensorFlow's formula: exact for any
    quotient, x % inf is x or inf as in NumPy), differentiable in both."""
    x, y = _division_operands(x, y, "%")
    if x.dtype.is_integer:
        return _floor_quotient(x, y)[1]
    r = _run1("rem", [x, y])
    zero = convert_to_tensor(0, dtype=r.dtype)
    adjust = logical_and(not_equal(r, zero), not_equal(less(r, zero), less(y, zero)))
    return where(adjust, add(r, y), r)


def truncatemod(x, y, name=None):
    """The remainder of division rounded toward zero (its sign is x's), as
    tf.truncatemod: C's fmod for floats (exact; NaN for y = 0), `%` of C for
    integers (a zero divisor is TensorFlow's "Integer division by zero")."""
    x, y = _division_operands(x, y, "truncatemod")
    if x.dtype.is_integer:
        _check_at_run_time(not_equal(y, convert_to_tensor(0, dtype=y.dtype)),
                           "Integer division by zero")
    return _run1("rem", [x, y])


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
    and kiln.reshape. Indexing a shape tensor with open extents
    (kiln.shape(x)[1:]) keeps what is known: a constant where every picked
    extent is, a record of the open ones otherwise."""
    from .tensor import _partial_extents, _record_extents
    partial = _partial_extents(x)
    if partial is None or x.ndim != 1 or isinstance(key, (bool, np.bool_)) or \
            not isinstance(key, (int, np.integer, builtins.slice)):
        return _index_values(x, key)
    if isinstance(key, builtins.slice):
        picked = partial[key]
    elif -len(partial) <= key < len(partial):
        picked = (partial[key],)
    else:
        return _index_values(x, key)  # (its error)
    if builtins.all(isinstance(d, (int, np.integer)) for d in picked):
        from .tensor import constant
        values = np.array(picked, x.dtype.as_numpy_dtype)
        return constant(values if isinstance(key, builtins.slice) else values[0], x.dtype)
    return _record_extents(_index_values(x, key), picked)


def _describe_slice(k):
    part = lambda b: "" if b is None else ("<tensor>" if isinstance(b, Tensor) else str(b))  # noqa: E731
    return f"[{part(k.start)}:{part(k.stop)}" + (f":{part(k.step)}]" if k.step is not None else "]")


def _tensor_index(x, key, axis, dim=None):
    """x[..., key, ...] for an integer scalar tensor `key` at `axis` (a
    loop counter inside @kiln.function): negative counts from the end, as
    TensorFlow's strided slice; one gather, whose index the compiled code
    checks. `dim`: the dimension the user indexed, for errors."""
    if key.shape or not key.dtype.is_integer:
        raise errors.InvalidArgumentError(
            "a tensor index must be an integer scalar", errors.user_location())
    size = x.shape[axis] if x.ndim else None
    if _concrete(key) and x.ndim and size is not None:
        i = int(key.numpy())
        if i < -size or i >= size:
            raise errors.InvalidArgumentError(
                f"index {i} is out of bounds for dimension {axis if dim is None else dim} "
                f"with size {size}",
                errors.user_location())
        if i < 0:
            key = convert_to_tensor(i % size, dtype=key.dtype)
    elif not _concrete(key) and size is not None:
        bound = convert_to_tensor(size, dtype=key.dtype)
        key = where(less(key, convert_to_tensor(0, dtype=key.dtype)), add(key, bound), key)
    return gather(x, key, axis=axis) if x.ndim else gather(x, key)


def _index_values(x, key):
    if isinstance(key, Tensor):
        # A tensor index (e.g. a loop counter inside @kiln.function).
        return _tensor_index(x, key, 0)
    if not isinstance(key, tuple):
        key = (key,)
    if builtins.any(isinstance(k, Tensor) for k in key) and \
            not builtins.any(k is None or k is Ellipsis for k in key):
        # Tensor scalars among other indices (x[i, 0], x[:, i]): the rest
        # first, with those axes whole, then one gather per tensor, last
        # axis first (the positions counted among the axes that remain).
        if len(key) > x.ndim:
            raise errors.InvalidArgumentError(
                f"too many indices ({len(key)}) for a tensor of rank {x.ndim}",
                errors.user_location())
        out = _index_values(x, tuple(builtins.slice(None) if isinstance(k, Tensor) else k
                                     for k in key))
        kept = [d for d, k in enumerate(key) if not isinstance(k, (int, np.integer))]
        for d in reversed(range(len(key))):
            if isinstance(key[d], Tensor):
                out = _tensor_index(out, key[d], kept.index(d), d)
        return out
    # `...` stands for as many full slices as the other indices leave;
    # None (kiln.newaxis) inserts an extent-1 dimension.
    ellipses = builtins.sum(1 for k in key if k is Ellipsis)
    if ellipses > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if ellipses or builtins.any(k is None for k in key):
        used = builtins.sum(1 for k in key if k is not None and k is not Ellipsis)
        full = []
        for k in key:
            full.extend([builtins.slice(None)] * builtins.max(x.ndim - used, 0)
                        if k is Ellipsis else [k])
        core = tuple(k for k in full if k is not None)
        out = _getitem(x, core)
        if len(core) == len(full):
            return out
        if None in out.shape:
            # (Open extents: one expand_dims per new axis, which keeps them.)
            position = 0
            for k in full:
                if k is None:
                    out = _run1("expand_dims", [out], attributes(axis=position))
                if k is None or isinstance(k, builtins.slice):
                    position += 1
            return out
        shape, kept = [], iter(out.shape)
        for k in full:
            if k is None:
                shape.append(1)
            elif isinstance(k, builtins.slice):
                shape.append(next(kept))
        shape.extend(kept)  # dimensions after the last index
        return reshape(out, shape)
    if len(key) > x.ndim:
        raise errors.InvalidArgumentError(
            f"too many indices ({len(key)}) for a tensor of rank {x.ndim}",
            errors.user_location())
    starts, limits, strides, keep, backward = [], [], [], [], []
    for d, size in enumerate(x.shape):
        k = key[d] if d < len(key) else builtins.slice(None)
        if size is None:
            # An extent known only when the code runs: taken whole.
            if not (isinstance(k, builtins.slice) and _whole(k)):
                raise errors.UnimplementedError(
                    f"indexing dimension {d} of a tensor of shape {list(x.shape)} "
                    f"with {k!r}: that extent is known only when the code runs, "
                    "and Kiln takes such a dimension whole (':'); index the "
                    "dimensions of known extent, or give the function a more "
                    "static input_signature", errors.user_location())
            starts.append(0); limits.append(-1); strides.append(1); keep.append(None)
            continue
        if isinstance(k, builtins.slice):
            if builtins.any(isinstance(b, Tensor) and b._symbolic
                            for b in (k.start, k.stop, k.step)):
                raise errors.UnimplementedError(
                    f"a slice {_describe_slice(k)} of dimension {d} with a bound computed "
                    "when the code runs has a length known only then, and Kiln compiles "
                    "static shapes: for a block of fixed length from a computed start, "
                    "use kiln.slice(x, begin, size) (tf.slice), e.g. "
                    "kiln.slice(x, [i, 0], [2, -1]) for x[i:i + 2]", errors.user_location())
            start, stop, step = k.indices(size)
            if step < 0:
                # (The positions, in order, gathered after the slice.)
                positions = list(range(start, stop, step))
                backward.append((d, positions))
                start, stop, step = 0, size, 1
                keep.append(len(positions))
            else:
                keep.append(len(range(start, builtins.max(stop, start), step)))
            stop = builtins.max(stop, start)
            starts.append(start); limits.append(stop); strides.append(step)
        else:
            i = int(k)
            if i < -size or i >= size:
                raise errors.InvalidArgumentError(
                    f"index {i} is out of bounds for dimension {d} with size {size}",
                    errors.user_location())
            i %= size
            starts.append(i); limits.append(i + 1); strides.append(1)
    sliced_shape = [None if l == -1 else len(range(s, l, st))
                     for s, l, st in zip(starts, limits, strides)]
    out = x if sliced_shape == list(x.shape) else \
        _run1("slice", [x], attributes(start=starts, limit=limits, stride=strides))
    if backward and None in x.shape:
        raise errors.UnimplementedError(
            f"indexing a tensor of shape {list(x.shape)} with a negative step: "
            "Kiln reverses by a gather, which needs every extent known while "
            "tracing (give the function a more static input_signature)",
            errors.user_location())
    for d, positions in backward:  # negative steps (a[::-1])
        out = gather(out, convert_to_tensor(np.array(positions, np.int32)), axis=d)
        sliced_shape[d] = len(positions)
    if sliced_shape != keep:
        if None in keep:  # (the indexed dimensions, each now of extent 1)
            dropped = [d for d in builtins.range(x.ndim)
                       if d < len(key) and not isinstance(key[d], builtins.slice)]
            return _run1("squeeze", [out], attributes(axes=dropped))
        out = reshape(out, keep)
    return out


def _whole(k):
    """Whether slice `k` takes every element, in order, of any extent."""
    def known(v, *values):
        return isinstance(v, (int, np.integer)) and int(v) in values
    return (k.start is None or known(k.start, 0)) and k.stop is None and \
        (k.step is None or known(k.step, 1))


def _joined_extents(tensors, out):
    """`out`, the 1-D concatenation of `tensors` (1-D, or scalars stacked),
    with a record of its values when some are open extents and the others
    known (a shape built from kiln.shape's pieces)."""
    from .tensor import _partial_extents, _record_extents
    if not out._symbolic or out.ndim != 1 or not out.dtype.is_integer or \
            out.shape[0] is None or out.shape[0] > 32:
        return out
    entries = []
    for t in tensors:
        partial = _partial_extents(t)
        if partial is None and t._symbolic:
            return out
        entries.extend(partial if partial is not None
                       else np.asarray(t.numpy()).reshape(-1).tolist())
    return _record_extents(out, entries)


def concat(values, axis, name=None):
    tensors = [convert_to_tensor(v) for v in values]
    if len(tensors) > 1:
        dtype = tensors[0].dtype
        tensors = [tensors[0]] + [convert_to_tensor(v, dtype) for v in values[1:]]
    # kiln.concat infers its result type (and reports bad shapes).
    return _joined_extents(tensors, _run1("concat", tensors, attributes(axis=int(axis))))


def stack(values, axis=0, name=None):
    tensors = [convert_to_tensor(v) for v in values]
    rank = tensors[0].ndim + 1
    a = int(axis) % rank
    expanded = [reshape(t, t.shape[:a] + (1,) + t.shape[a:]) if None not in t.shape
                else _run1("expand_dims", [t], attributes(axis=a)) for t in tensors]
    out = concat(expanded, a)
    return _joined_extents(tensors, out) if rank == 1 else out


def one_hot(indices, depth, on_value=1.0, off_value=0.0, axis=-1, dtype=None,
            name=None):
    x = convert_to_tensor(indices)
    dtype = as_dtype(dtype) if dtype is not None else float32
    rank = x.ndim + 1
    a = int(axis) % rank
    shape = list(x.shape)
    shape.insert(a, int(depth))
    return _run1("one_hot", [x],
                 attributes(depth=int(depth), axis=int(axis),
                            on_value=float(on_value), off_value=float(off_value)),
                 [tensor_type(shape, dtype)])


def _known_values(t, what):
    """t's values as a NumPy array, for an op whose result's shape depends
    on them (where(condition), boolean_mask, unique): available eagerly, or
    inside a trace for a value known while tracing; a traced value has none
    yet (an UnimplementedError naming `what` and the line)."""
    if t._symbolic:
        raise errors.UnimplementedError(
            f"{what}: the result's shape depends on the values of a tensor "
            "that is only computed when the compiled function runs (Kiln "
            "compiles static shapes, as XLA does); call it eagerly, or keep "
            "the shape fixed (kiln.where(cond, x, y), a multiplication by the "
            "mask, kiln.math.top_k)", errors.user_location())
    return t.numpy()


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


def gather(params, indices, axis=None, batch_dims=0, name=None):
    """Slices of params along `axis` at `indices` (tf.gather). With
    batch_dims = k, the first k axes are a batch both share: each batch
    entry gathers from its own params (axis defaults to k)."""
    params, indices = convert_to_tensor(params), convert_to_tensor(indices)
    batch_dims = int(batch_dims) + (indices.ndim if int(batch_dims) < 0 else 0)
    if axis is None:
        axis = batch_dims
    elif params.ndim and not -params.ndim <= int(axis) < params.ndim:
        raise errors.InvalidArgumentError(
            f"gather: axis {axis} is out of range for params of rank {params.ndim}",
            errors.user_location())
    else:
        axis = int(axis) % builtins.max(params.ndim, 1)
    if batch_dims:
        return _batched_gather(params, indices, axis, batch_dims)
    if params.ndim:
        _check_indices(indices, params.shape[int(axis) % params.ndim], "gather")
    # Indices known only when compiled code runs are checked there (an
    # InvalidArgumentError naming this line); eager ones were checked above.
    attrs = attributes(axis=int(axis)) if _concrete(indices) else \
        attributes(axis=int(axis), bounds_check=unit())
    return _run1("gather", [params, indices], attrs)


def _batched_gather(params, indices, axis, batch_dims):
    """tf.gather with batch_dims: params with its batch flattened and
    `axis` next to it, each index offset by its batch entry's first row, one
    gather, and the result's axes put back in TensorFlow's order (the batch,
    params' axes before `axis`, the indices' own, the rest)."""
    batch = list(params.shape[:batch_dims])
    if axis < batch_dims or None in params.shape or None in indices.shape or \
            list(indices.shape[:batch_dims]) != batch:
        raise errors.InvalidArgumentError(
            f"gather: batch_dims={batch_dims} and axis {axis} need axis >= batch_dims, "
            f"known extents and the same batch in params {list(params.shape)} and indices "
            f"{list(indices.shape)}", errors.user_location())
    if not indices.dtype.is_integer:
        raise TypeError(f"gather: indices must be integers, got {indices.dtype.name}")
    size = params.shape[axis]
    _check_indices(indices, size, "gather")
    _check_at_run_time(logical_and(greater_equal(indices, 0), less(indices, size)),
                       f"gather: an index is out of range [0, {size})")
    middle = list(builtins.range(batch_dims, axis))
    rest = list(builtins.range(axis + 1, params.ndim))
    moved = transpose(params, list(builtins.range(batch_dims)) + [axis] + middle + rest)
    entries = int(np.prod(batch, dtype=np.int64))
    table = reshape(moved, [entries * size] + list(moved.shape[batch_dims + 1:]))
    own = indices.ndim - batch_dims
    first_rows = (np.arange(entries) * size).reshape(batch + [1] * own)
    taken = gather(table, indices + convert_to_tensor(first_rows, indices.dtype), axis=0)
    # taken: batch + indices' own + middle + rest
    order = list(builtins.range(batch_dims)) + \
        [batch_dims + own + i for i in builtins.range(len(middle))] + \
        [batch_dims + i for i in builtins.range(own)] + \
        list(builtins.range(batch_dims + own + len(middle), taken.ndim))
    return transpose(taken, order)


# kiln.Tensor's operators, all here.
def _iterate(self):
    if not self.shape:
        raise TypeError("iteration over a scalar (rank-0) tensor")
    for i in builtins.range(self.shape[0]):
        yield _index(self, i)


def _equal_operator(self, other):
    # As in TensorFlow 2, == and != compare elementwise (so tensors are not
    # hashable: use id(t) as a key).
    return False if other is None else _compare("eq", self, other)


def _not_equal_operator(self, other):
    return True if other is None else _compare("ne", self, other)


def _attach_operators():
    T = Tensor
    T.__add__ = add
    T.__radd__ = lambda x, y: add(y, x)
    T.__sub__ = subtract
    T.__rsub__ = lambda x, y: subtract(y, x)
    T.__mul__ = multiply
    T.__rmul__ = lambda x, y: multiply(y, x)
    T.__pow__ = pow
    T.__rpow__ = lambda x, y: pow(y, x)
    T.__truediv__ = lambda x, y: truediv(x, y)
    T.__rtruediv__ = lambda x, y: truediv(y, x)
    T.__floordiv__ = lambda x, y: floordiv(x, y)
    T.__rfloordiv__ = lambda x, y: floordiv(y, x)
    T.__mod__ = lambda x, y: floormod(x, y)
    T.__rmod__ = lambda x, y: floormod(y, x)
    T.__matmul__ = lambda x, y: matmul(x, y)
    T.__rmatmul__ = lambda x, y: matmul(y, x)
    # As in TensorFlow: ~ & | ^ are the logical ops on bool tensors and the
    # bitwise ones on integers; << and >> (which TensorFlow's tensors lack)
    # shift as NumPy and JAX do, arithmetically to the right.
    and_ = _logical_or_bitwise(logical_and, bitwise_and)
    or_ = _logical_or_bitwise(logical_or, bitwise_or)
    xor = _logical_or_bitwise(logical_xor, bitwise_xor)
    T.__invert__ = _invert_operator
    T.__and__ = and_
    T.__rand__ = lambda x, y: and_(y, x)
    T.__or__ = or_
    T.__ror__ = lambda x, y: or_(y, x)
    T.__xor__ = xor
    T.__rxor__ = lambda x, y: xor(y, x)
    T.__lshift__ = shift_left
    T.__rlshift__ = lambda x, y: shift_left(y, x)
    T.__rshift__ = shift_right_arithmetic
    T.__rrshift__ = lambda x, y: shift_right_arithmetic(y, x)
    T.__neg__ = lambda x: negative(x)
    T.__abs__ = lambda x: abs(x)
    T.__lt__ = lambda x, y: _compare("lt", x, y)
    T.__le__ = lambda x, y: _compare("le", x, y)
    T.__gt__ = lambda x, y: _compare("gt", x, y)
    T.__ge__ = lambda x, y: _compare("ge", x, y)
    T.__eq__ = _equal_operator
    T.__ne__ = _not_equal_operator
    T.__hash__ = None
    T.__iter__ = _iterate
    T.__getitem__ = lambda x, key: _getitem(x, key)


_attach_operators()


# The public ops that RaggedTensor (and other composites) dispatch on; the
# binary elementwise ops and comparisons check in their own slow path,
# so the operators on two tensors pay nothing for it.
_dispatch.dispatching(globals(), [
    "truediv", "divide", "negative", "abs", "exp", "log", "sqrt", "tanh", "sigmoid", "sin",
    "cos", "square", "sign", "stop_gradient", "reduce_sum", "reduce_mean", "reduce_max",
    "reduce_min", "cast", "where", "logical_not", "logical_and", "logical_or",
    "logical_xor", "floordiv", "floormod", "truncatemod", "concat", "gather"])


for _compared in (equal, less, greater, not_equal, less_equal, greater_equal):
    _compared._kiln_dispatches = True     # (through _compare)
