"""Complex tensors: kiln.complex64 and kiln.complex128 (tf.complex64/128).

A complex tensor is the pair of its real and imaginary parts, float32 (or
float64) tensors (tensor.ComplexParts). Kiln's dialect and runtime have no
complex type: every op on complex tensors is computed here on the parts
with real ops, which the dispatch core runs eagerly, adds to a trace or
records on a tape like any other. So complex arithmetic compiles, and
gradients flow through it to the real tensors it was made from (the
parts are what a tape sees; a complex tensor is not itself a source of
gradients).

    z = kiln.complex(x, y)              # x + iy
    kiln.abs(z), kiln.math.angle(z), kiln.math.conj(z)
    spectrum = kiln.signal.rfft(frames)  # complex64

The rules cover the ops that move elements (reshape, slicing, gather,
concat, where, ...), `+ - * /`, negation, sums and means, matrix products,
`==`/`!=`, abs, exp, log, sqrt, square, reciprocal, sign, sin, cos and
casts. Any other op on a complex tensor is an error naming it.
"""

import numpy as np

from . import core, errors, math_ops, ops
from .dtypes import as_dtype, complex64, float32, float64
from .tensor import ComplexParts, Tensor, convert_to_tensor


def _part_dtype(dtype):
    return float32 if as_dtype(dtype) is complex64 else float64


def _make(real, imag):
    return Tensor(ComplexParts(real, imag))


def _own(part, given):
    """`part`, or a new tensor of its values when it is one of the tensors
    `given` by the caller: a complex tensor's parts are its own, so a
    gradient with respect to it counts only the paths through it."""
    if any(part is g for g in given):
        return ops.add(part, ops._like(0, part.dtype))
    return part


def _is_complex(t):
    return isinstance(t, Tensor) and type(t._impl) is ComplexParts


def _parts(t, part, convert=False):
    """(real, imaginary) parts of `t`; a real tensor of the parts' dtype
    `part` (any real tensor with `convert`, as casts take) with zeros. A
    real operand of another float type is an error, as in TensorFlow."""
    if _is_complex(t):
        return t._impl.real, t._impl.imag
    if not convert and t.dtype != part and t.dtype.is_floating:
        raise TypeError(f"cannot combine a {t.dtype.name} tensor with "
                        f"{'complex64' if part is float32 else 'complex128'} ones (cast first)")
    real = ops.cast(t, part)
    return real, math_ops.zeros_like(real)


def _part_of(inputs):
    for t in inputs:
        if _is_complex(t):
            return _part_dtype(t.dtype)
    return float32


def _refuse(op):
    raise errors.InvalidArgumentError(
        f"kiln.{op} does not take complex tensors (Kiln computes complex numbers on "
        "their real and imaginary parts, and has rules for the element-moving ops, "
        "+ - * /, sums, means, matmul, abs, exp, log, sqrt, sin, cos and casts)",
        errors.user_location())


def _part_results(results, part):
    return tuple((shape, part.mlir if dtype in ("complex64", "complex128") else dtype)
                 for shape, dtype in results)


def _rules(op, inputs, attrs, results):
    """core.complex_rules: `op` on inputs that include complex tensors."""
    part = _part_of(inputs)
    if op in core._MOVING:
        data = core._MOVING[op] or range(len(inputs))
        # (a complex input that only gives a shape, as broadcast_to's
        # second one, gives its real part)
        re = [t._impl.real if _is_complex(t) else t for t in inputs]
        im = list(re)
        for i in data:
            re[i], im[i] = _parts(inputs[i], part)
        results = _part_results(results, part)
        real = core.bind(op, re, attrs, results)
        if op == "dim":
            return real
        imag = core.bind(op, im, attrs, results)
        return [_make(r, i) for r, i in zip(real, imag)]
    rule = _RULES.get(op)
    if rule is None:
        _refuse(op)
    return [rule(inputs, attrs, results, part)]


def _add(inputs, attrs, results, part):
    (ar, ai), (br, bi) = (_parts(t, part) for t in inputs)
    return _make(ar + br, ai + bi)


def _sub(inputs, attrs, results, part):
    (ar, ai), (br, bi) = (_parts(t, part) for t in inputs)
    return _make(ar - br, ai - bi)


def _mul(inputs, attrs, results, part):
    a, b = inputs
    if not _is_complex(b):  # (a real factor scales both parts exactly)
        b = _parts(b, part)[0]
        return _make(a._impl.real * b, a._impl.imag * b)
    if not _is_complex(a):
        a = _parts(a, part)[0]
        return _make(a * b._impl.real, a * b._impl.imag)
    ar, ai, br, bi = a._impl.real, a._impl.imag, b._impl.real, b._impl.imag
    return _make(ar * br - ai * bi, ar * bi + ai * br)


def _div(inputs, attrs, results, part):
    a, b = inputs
    if not _is_complex(b):
        b = _parts(b, part)[0]
        return _make(a._impl.real / b, a._impl.imag / b)
    (ar, ai), (br, bi) = _parts(a, part), (b._impl.real, b._impl.imag)
    # Smith's algorithm: no overflow from squaring |b|.
    big = ops.greater_equal(ops.abs(br), ops.abs(bi))
    ratio = ops.where(big, bi / ops.where(big, br, 1.0), br / ops.where(big, 1.0, bi))
    scale = ops.where(big, br + bi * ratio, bi + br * ratio)
    real = ops.where(big, ar + ai * ratio, ar * ratio + ai) / scale
    imag = ops.where(big, ai - ar * ratio, ai * ratio - ar) / scale
    return _make(real, imag)


def _neg(inputs, attrs, results, part):
    re, im = _parts(inputs[0], part)
    return _make(-re, -im)


def _partwise(op):
    def rule(inputs, attrs, results, part):
        re, im = _parts(inputs[0], part)
        results = _part_results(results, part)
        return _make(core.bind1(op, [re], attrs, results), core.bind1(op, [im], attrs, results))
    return rule


def _matmul(op):
    def rule(inputs, attrs, results, part):
        (ar, ai), (br, bi) = (_parts(t, part) for t in inputs)
        results = _part_results(results, part)

        def product(x, y):
            return core.bind1(op, [x, y], attrs, results)
        return _make(product(ar, br) - product(ai, bi), product(ar, bi) + product(ai, br))
    return rule


def _modulus(re, im):
    """|re + i im| without overflow or underflow in the squares: scaled
    by s = max(|re|, |im|), held constant for the gradient (so it is
    (re, im) / |z| everywhere, ties included, and 0 at 0 as TensorFlow's);
    infinite when a part is, even if the other is NaN."""
    scale = ops.stop_gradient(ops.maximum(ops.abs(re), ops.abs(im)))
    nonzero = ops.greater(scale, 0.0)
    safe = ops.where(nonzero, scale, 1.0)
    u, v = re / safe, im / safe
    root = ops.sqrt(ops.where(nonzero, u * u + v * v, 1.0))
    size = ops.where(nonzero, safe * root, 0.0)
    infinite = ops.logical_or(math_ops.is_inf(re), math_ops.is_inf(im))
    return ops.where(infinite, math_ops.ones_like(re) * float("inf"), size)  # (C's hypot)


def _abs(inputs, attrs, results, part):
    return _modulus(*_parts(inputs[0], part))


def _exp(inputs, attrs, results, part):
    re, im = _parts(inputs[0], part)
    scale = ops.exp(re)
    return _make(scale * ops.cos(im), scale * ops.sin(im))


def _log(inputs, attrs, results, part):
    re, im = _parts(inputs[0], part)
    return _make(ops.log(_modulus(re, im)), _atan2(im, re))


def _atan2(y, x):
    return math_ops.atan2(y, x)


def _sqrt(inputs, attrs, results, part):
    # The principal root (cut along the negative reals, as NumPy's):
    # t = sqrt((|z| + |re|) / 2); re >= 0: (t, im / 2t), else (|im| / 2t, ±t).
    re, im = _parts(inputs[0], part)
    t = ops.sqrt((_modulus(re, im) + ops.abs(re)) * 0.5)
    safe = ops.where(ops.greater(t, 0.0), t, 1.0)
    half = im / (2.0 * safe)
    positive = ops.greater_equal(re, 0.0)
    # (the sign of a zero imaginary part counts, as in C's csqrt: -0 is below)
    below = ops.logical_or(ops.less(im, 0.0), ops.logical_and(
        ops.equal(im, 0.0), ops.less(math_ops.reciprocal(im), 0.0)))
    one = math_ops.ones_like(t)
    sign = ops.where(below, -one, one)
    real = ops.where(positive, t, ops.abs(half))
    imag = ops.where(positive, half, sign * t)
    zero = ops.equal(t, 0.0)
    return _make(ops.where(zero, 0.0, real), ops.where(zero, 0.0, imag))


def _square(inputs, attrs, results, part):
    return _mul([inputs[0], inputs[0]], attrs, results, part)


def _reciprocal(inputs, attrs, results, part):
    re, _ = _parts(inputs[0], part)
    return _div([math_ops.ones_like(re), inputs[0]], attrs, results, part)


def _sign(inputs, attrs, results, part):
    re, im = _parts(inputs[0], part)
    size = _modulus(re, im)
    safe = ops.where(ops.greater(size, 0.0), size, 1.0)
    return _make(re / safe, im / safe)


def _sin(inputs, attrs, results, part):
    re, im = _parts(inputs[0], part)
    return _make(ops.sin(re) * math_ops.cosh(im), ops.cos(re) * math_ops.sinh(im))


def _cos(inputs, attrs, results, part):
    re, im = _parts(inputs[0], part)
    return _make(ops.cos(re) * math_ops.cosh(im), -(ops.sin(re) * math_ops.sinh(im)))


_RULES = {"add": _add, "sub": _sub, "mul": _mul, "div": _div, "neg": _neg,
          "reduce_sum": _partwise("reduce_sum"), "reduce_mean": _partwise("reduce_mean"),
          "matmul": _matmul("matmul"), "batch_matmul": _matmul("batch_matmul"),
          "abs": _abs, "exp": _exp, "log": _log, "sqrt": _sqrt, "square": _square,
          "reciprocal": _reciprocal, "sign": _sign, "sin": _sin, "cos": _cos}


def cast(x, dtype):
    """ops.cast where `x` or `dtype` is complex: complex to complex casts
    the parts, complex to real keeps the real part (as TensorFlow), real to
    complex takes zero imaginary parts."""
    dtype = as_dtype(dtype)
    if dtype.is_complex:
        part = _part_dtype(dtype)
        re, im = _parts(x, part, convert=True)
        re, im = ops.cast(re, part), ops.cast(im, part)
        given = [x] + ([x._impl.real, x._impl.imag] if _is_complex(x) else [])
        return _make(_own(re, given), _own(im, given))
    return ops.cast(x._impl.real, dtype)


def complex(real, imag, name=None):  # noqa: A001 (TensorFlow's name)
    """The complex tensor real + i·imag (tf.complex): float32 parts give
    complex64, float64 parts complex128; the shapes broadcast."""
    real, imag = convert_to_tensor(real), convert_to_tensor(imag, dtype_hint=float32)
    given = [real, imag]
    if real.dtype != imag.dtype or real.dtype not in (float32, float64):
        raise TypeError(f"kiln.complex: the parts must both be float32 or both float64, got "
                        f"{real.dtype.name} and {imag.dtype.name}")
    if real.shape != imag.shape:
        shape = np.broadcast_shapes(real.shape, imag.shape)
        real, imag = math_ops.broadcast_to(real, shape), math_ops.broadcast_to(imag, shape)
    real = _own(real, given)
    return _make(real, _own(imag, given + [real]))


def real(input, name=None):  # noqa: A002
    """The real part (a real tensor itself)."""
    x = convert_to_tensor(input)
    return x._impl.real if _is_complex(x) else x


def imag(input, name=None):  # noqa: A002
    """The imaginary part (zeros for a real tensor)."""
    x = convert_to_tensor(input)
    return x._impl.imag if _is_complex(x) else x * 0


def conj(x, name=None):
    """The complex conjugate (a real tensor itself)."""
    x = convert_to_tensor(x)
    return _make(x._impl.real, -x._impl.imag) if _is_complex(x) else x


def angle(input, name=None):  # noqa: A002
    """The argument atan2(imag, real), in (-pi, pi]; of a real tensor, pi
    where it is negative and 0 elsewhere (NaN included), as TensorFlow's."""
    x = convert_to_tensor(input)
    if _is_complex(x):
        return _atan2(x._impl.imag, x._impl.real)
    if not x.dtype.is_floating:
        x = ops.cast(x, float32)
    zeros = math_ops.zeros_like(x)
    return ops.where(ops.less(x, zeros), math_ops.ones_like(x) * np.pi, zeros)


def _compare(direction, x, y):
    """== and != of complex tensors (or one complex, one real): both parts
    equal. Complex numbers have no order."""
    if direction not in ("eq", "ne"):
        raise TypeError("complex numbers are not ordered: only == and != compare them")
    part = _part_of([x, y])
    (xr, xi), (yr, yi) = _parts(x, part), _parts(y, part)
    same = ops.logical_and(ops.equal(xr, yr), ops.equal(xi, yi))
    return same if direction == "eq" else ops.logical_not(same)


core.complex_rules = _rules
core.complex_ops.update(cast=cast, compare=_compare, conj=conj, complex=complex)
