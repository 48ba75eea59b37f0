"""Every Kiln op compiled for the CPU and run through tensor-run, compared with
NumPy on random inputs (several shapes, broadcasting edge cases, rank 0,
size-1 dimensions, f32/f64 and integer types).

Tolerances: exact for integer, boolean and data-movement ops; for float math
rtol 1e-5 (f32) / 1e-12 (f64) unless a case says otherwise (libm
transcendental functions, reductions and contractions accumulate rounding).
"""

import re

import math

import numpy as np
import pytest
import scipy.special

from conftest import tensor_type

RNG = np.random.default_rng(1234)

F_TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}
SUM_TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}


def func(op, args, result):
    """A one-op module: `op` uses {a0}, {a1}, ... and {T0}, {T1}, ..., {R}."""
    names = {f"a{i}": f"%a{i}" for i in range(len(args))}
    types = {f"T{i}": tensor_type(a.shape, a.dtype) for i, a in enumerate(args)}
    rtype = tensor_type(*result)
    params = ", ".join(f"%a{i}: {types[f'T{i}']}" for i in range(len(args)))
    values = {**names, **types, "R": rtype}
    body = re.sub(r"\{(a\d+|T\d+|R)\}", lambda m: values[m.group(1)], op)
    return (f"func.func @f({params}) -> {rtype} {{\n"
            f"  %r = {body}\n  return %r : {rtype}\n}}\n")


def check(runner, op, args, expected, **tol):
    expected = np.asarray(expected)
    (out,) = runner.run(func(op, args, (expected.shape, expected.dtype)), args)
    assert out.shape == expected.shape
    assert out.dtype == expected.dtype
    if tol or np.issubdtype(expected.dtype, np.floating):
        np.testing.assert_allclose(out, expected, equal_nan=True, **tol)
    else:
        np.testing.assert_array_equal(out, expected)


def rand(shape, dtype=np.float32, lo=-2.0, hi=2.0):
    if np.issubdtype(dtype, np.integer):
        return RNG.integers(int(lo), int(hi) + 1, size=shape).astype(dtype)
    if dtype == np.bool_:
        return RNG.random(shape) < 0.5
    return RNG.uniform(lo, hi, size=shape).astype(dtype)


SHAPES = [(), (5,), (3, 4), (2, 1, 3)]
FLOATS = [np.float32, np.float64]

UNARY = {
    # name: (numpy reference, input range)
    "neg": (np.negative, (-3, 3)),
    "abs": (np.abs, (-3, 3)),
    "exp": (np.exp, (-5, 5)),
    "log": (np.log, (0.01, 10)),
    "log1p": (np.log1p, (-0.9, 5)),
    "expm1": (np.expm1, (-3, 3)),
    "erf": (np.vectorize(math.erf), (-4, 4)),
    "erfc": (np.vectorize(math.erfc), (-4, 9)),
    "sqrt": (np.sqrt, (0, 10)),
    "rsqrt": (lambda x: 1 / np.sqrt(x), (0.1, 10)),
    "tanh": (np.tanh, (-5, 5)),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), (-10, 10)),
    "relu": (lambda x: np.maximum(x, 0), (-3, 3)),
    "sin": (np.sin, (-6, 6)),
    "cos": (np.cos, (-6, 6)),
    "sign": (np.sign, (-3, 3)),
    "floor": (np.floor, (-3, 3)),
    "ceil": (np.ceil, (-3, 3)),
    "square": (np.square, (-3, 3)),
    "reciprocal": (np.reciprocal, (0.5, 4)),
    "tan": (np.tan, (-1.3, 1.3)),
    "asin": (np.arcsin, (-0.99, 0.99)),
    "acos": (np.arccos, (-0.99, 0.99)),
    "atan": (np.arctan, (-8, 8)),
    "sinh": (np.sinh, (-5, 5)),
    "cosh": (np.cosh, (-5, 5)),
    "asinh": (np.arcsinh, (-8, 8)),
    "acosh": (np.arccosh, (1.01, 8)),
    "atanh": (np.arctanh, (-0.99, 0.99)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES)
def test_unary_float(runner, name, dtype, shape):
    ref, (lo, hi) = UNARY[name]
    x = rand(shape, dtype, lo, hi)
    check(runner, f"kiln.{name} %a0 : {{T0}}", [x], ref(x).astype(dtype), **F_TOL[dtype])


# The special functions are expanded into arithmetic by the lowering (no
# libm function exists for most): compared with SciPy over wide ranges,
# negative arguments (reflection formulas) and their edge values. Errors
# relative to max(|expected|, 1): near the zeros of lgamma and digamma the
# error is absolute.
SPECIAL = {
    "lgamma": ("kiln.lgamma %a0 : {T0}", scipy.special.gammaln, (-7.5, 14.0),
               [0.0, -1.0, -3.0, 1.0, 2.0, 0.5, 1e-6, 1e5, np.inf, -np.inf, np.nan]),
    "digamma": ("kiln.digamma %a0 : {T0}", scipy.special.digamma, (-7.5, 14.0),
                [0.0, -2.0, 1.4616321449683622, 1e-6, -0.999, 3e4, np.inf, np.nan]),
    "trigamma": ("kiln.polygamma %a0 {order = 1 : i64} : {T0}",
                 lambda x: scipy.special.polygamma(1, x), (-7.5, 14.0),
                 [0.0, -4.0, 1e-3, 5e3, np.inf, np.nan]),
    "polygamma3": ("kiln.polygamma %a0 {order = 3 : i64} : {T0}",
                   lambda x: scipy.special.polygamma(3, x), (-4.5, 14.0),
                   [0.0, -1.0, 0.5, 40.0, np.inf]),
    "erfinv": ("kiln.erfinv %a0 : {T0}", scipy.special.erfinv, (-1.0, 1.0),
               [0.0, -0.0, 1.0, -1.0, 1.5, 0.5, 1 - 2.0 ** -20, -(1 - 2.0 ** -20), np.nan]),
}


@pytest.mark.parametrize("name", sorted(SPECIAL))
@pytest.mark.parametrize("dtype", FLOATS)
def test_special_functions(runner, name, dtype):
    op, ref, (lo, hi), edges = SPECIAL[name]
    x = np.concatenate([rand((61,), dtype, lo, hi), np.array(edges, dtype)])
    if name == "erfinv" and dtype == np.float64:  # (the far tail: 1 - |x| to 1e-16)
        x = np.concatenate([x, 1 - np.logspace(-16, -1, 12), -1 + np.logspace(-15, -2, 5)])
    expected = ref(x.astype(np.float64))
    (out,) = runner.run(func(op, [x], (x.shape, x.dtype)), [x])
    assert out.dtype == dtype
    # TensorFlow's rules where SciPy's differ: lgamma(-inf) = +inf, digamma
    # NaN at every pole (SciPy: -inf at 0, the right-hand limit).
    if name == "lgamma":
        expected[x == -np.inf] = np.inf
    if name == "digamma":
        expected[(x <= 0) & (x == np.floor(x))] = np.nan
    # (poles and limits: where the reference is inf, -inf or NaN, so is Kiln)
    special = ~np.isfinite(expected.astype(dtype))
    np.testing.assert_array_equal(out[special], expected.astype(dtype)[special])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    err = np.abs(out[~special] - expected[~special]) / np.maximum(np.abs(expected[~special]), 1)
    assert err.max() <= tol, (x[~special][np.argmax(err)], err.max())


@pytest.mark.parametrize("name,ref", [
    ("neg", np.negative), ("abs", np.abs), ("sign", np.sign),
    ("relu", lambda x: np.maximum(x, 0)), ("square", np.square)])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_unary_int(runner, name, ref, dtype):
    x = rand((3, 4), dtype, -50, 50)
    check(runner, f"kiln.{name} %a0 : {{T0}}", [x], ref(x).astype(dtype))


# Vectorized loops compute these on f32 with polynomial approximations
# (kiln-cpu-lower-vectors) instead of libm: accurate to a few ulp over the
# whole range, with libm's results at the edges (overflow, underflow,
# infinities, NaN). 4096 elements make full 16-lane vectors; the reference
# is NumPy in f64.
WIDE = {
    "exp": (np.exp, (-87.0, 88.0)),
    "log": (np.log, (1e-30, 1e30)),
    "log1p": (np.log1p, (-0.999, 1e6)),
    "expm1": (np.expm1, (-100.0, 88.0)),
    "tanh": (np.tanh, (-20.0, 20.0)),
    "sigmoid": (lambda v: 1 / (1 + np.exp(-v)), (-80.0, 80.0)),
}


@pytest.mark.parametrize("name", sorted(WIDE))
def test_vectorized_math_over_its_whole_range(runner, name):
    ref, (lo, hi) = WIDE[name]
    if lo > 0:  # log-spaced, every binade
        x = np.exp(RNG.uniform(np.log(lo), np.log(hi), 4096)).astype(np.float32)
    else:
        x = RNG.uniform(lo, hi, 4096).astype(np.float32)
    x[:8] = [0.0, -0.0, 1e-7, -1e-7, 0.5, -0.5, 1.0, 2.0] if lo < 0 else x[:8]
    expected = ref(x.astype(np.float64)).astype(np.float32)
    check(runner, f"kiln.{name} %a0 : {{T0}}", [x], expected, rtol=4e-6, atol=1e-30)
    if name == "exp":  # subnormal results, as libm gives them
        # Normal results below -87 come through the subnormal path too:
        # its argument shift must not round (it once cost 34 ulp there).
        edge = np.linspace(-87.33, -87.0, 64).astype(np.float32)
        check(runner, "kiln.exp %a0 : {T0}", [edge],
              np.exp(edge.astype(np.float64)).astype(np.float32), rtol=3e-7, atol=0)
        tail = np.linspace(-103.5, -87.5, 64).astype(np.float32)
        check(runner, "kiln.exp %a0 : {T0}", [tail],
              np.exp(tail.astype(np.float64)).astype(np.float32), rtol=1e-5, atol=2e-45)
    edges = np.array([np.inf, -np.inf, np.nan, 100.0, -100.0, 1e-40, 0.0, 1.0] * 2,
                     np.float32)
    if lo > 0:
        edges = np.abs(edges)
        edges[2] = np.nan
    with np.errstate(all="ignore"):
        expected = ref(edges.astype(np.float64)).astype(np.float32)
    check(runner, f"kiln.{name} %a0 : {{T0}}", [edges], expected, rtol=4e-6, atol=1e-30)


def test_unary_special_values(runner):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], np.float32)
    check(runner, "kiln.relu %a0 : {T0}", [x], np.array([np.nan, np.inf, 0, 0, 0], np.float32))
    check(runner, "kiln.sign %a0 : {T0}", [x], np.sign(x))
    check(runner, "kiln.sigmoid %a0 : {T0}", [np.array([-200.0, 200.0], np.float32)],
          np.array([0.0, 1.0], np.float32))


@pytest.mark.parametrize("name,ref", [("log1p", np.log1p), ("expm1", np.expm1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (3,), (2, 5), (4096,)])
def test_log1p_expm1_keep_tiny_arguments(runner, name, ref, dtype, shape):
    # log1p(x) and expm1(x) are about x for |x| much below 1; computed as
    # log(1 + x) or exp(x) - 1 they would be off by up to 20% near the
    # float epsilon. Small shapes run the scalar code (libm), 4096 elements
    # the vector code (f32: its own approximation, also checked over its
    # whole range above).
    tiny = np.array([1e-7, -3e-8, 1.1920929e-07, 2e-12, 1e-3, -0.5, 3.0, 0.0, -1e-9, 5e-5,
                     -1e-30, 7e-20])
    x = np.resize(tiny, shape).astype(dtype)
    check(runner, f"kiln.{name} %a0 : {{T0}}", [x], ref(x.astype(np.float64)).astype(dtype),
          rtol=3e-7 if dtype == np.float32 else 1e-15, atol=0)


def test_logical_not(runner):
    x = rand((7,), np.bool_)
    check(runner, "kiln.logical_not %a0 : {T0}", [x], ~x)


BROADCAST_PAIRS = [((3, 4), (4,)), ((3, 1), (1, 4)), ((), (2, 3)), ((2, 3), (2, 3)),
                   ((5, 1, 3), (4, 1)), ((1,), ())]

BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
    "pow": np.power, "maximum": np.maximum, "minimum": np.minimum, "rem": np.fmod,
    "atan2": np.arctan2,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS)
def test_binary_float(runner, name, dtype, shapes):
    lo = 0.1 if name in ("pow", "div") else -2.0
    a, b = rand(shapes[0], dtype, lo, 2), rand(shapes[1], dtype, lo, 2)
    if name == "rem":  # divisors away from 0, either sign
        b = np.where(np.abs(b) < 0.1, 0.5, b).astype(dtype)
    expected = BINARY[name](a, b).astype(dtype)
    check(runner, f"kiln.{name} %a0, %a1 : {{T0}}, {{T1}} -> {{R}}", [a, b], expected,
          **SUM_TOL[dtype] if name == "pow" else F_TOL[dtype])


def trunc_div(a, b):
    q = np.where(b == 0, 0, np.abs(a) // np.where(b == 0, 1, np.abs(b)))
    return (np.sign(a) * np.sign(b) * q).astype(a.dtype)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def trunc_rem(a, b):  # a - trunc(a / b) * b, with x rem 0 = x
    return (a - trunc_div(a, b) * b).astype(a.dtype)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_binary_int(runner, dtype):
    a, b = rand((3, 4), dtype, -20, 20), rand((4,), dtype, -5, 5)
    b[0] = 0  # division by zero is defined as 0
    for name, ref in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                      ("maximum", np.maximum), ("minimum", np.minimum), ("div", trunc_div),
                      ("rem", trunc_rem)]:
        check(runner, f"kiln.{name} %a0, %a1 : {{T0}}, {{T1}} -> {{R}}", [a, b],
              ref(a, b).astype(dtype))
    base, exponent = rand((6,), dtype, -3, 3), rand((6,), dtype, 0, 5)
    check(runner, "kiln.pow %a0, %a1 : {T0}, {T1} -> {R}", [base, exponent],
          np.power(base, exponent).astype(dtype))


def test_int_division_overflow(runner):
    a = np.array([np.iinfo(np.int32).min, 7], np.int32)
    b = np.array([-1, -1], np.int32)
    check(runner, "kiln.div %a0, %a1 : {T0}, {T1} -> {R}", [a, b],
          np.array([np.iinfo(np.int32).min, -7], np.int32))
    check(runner, "kiln.rem %a0, %a1 : {T0}, {T1} -> {R}", [a, b], np.array([0, 0], np.int32))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("size", [3, 1024])
def test_float_remainder_is_exact(runner, dtype, size):
    # fmod is exact whatever the quotient: x - trunc(x / y) * y would round
    # the quotient past 2^24 (f32) and give 0 for 1e10 rem 3. Zero and
    # infinite divisors, infinite and NaN dividends as C's fmod.
    x = np.array([1e10, -1e10, 16777215.0, 12345678.9, 5.3, -5.3, 1.0, -1.0, 3.0,
                  np.inf, np.nan, -0.0, 7.0, 1e30], dtype)
    y = np.array([3.0, 3.0, 3.0, 0.7, -2.0, 2.0, np.inf, -np.inf, 0.0,
                  2.0, 1.0, 2.0, np.nan, 1e-30], dtype)
    x, y = np.resize(x, size), np.resize(y, size)
    with np.errstate(invalid="ignore"):
        expected = np.fmod(x, y)
    check(runner, "kiln.rem %a0, %a1 : {T0}, {T1} -> {R}", [x, y], expected, rtol=0, atol=0)


def test_maximum_propagates_nan(runner):
    a = np.array([np.nan, 1.0], np.float32)
    b = np.array([0.0, np.nan], np.float32)
    check(runner, "kiln.maximum %a0, %a1 : {T0}, {T1} -> {R}", [a, b], np.maximum(a, b))
    check(runner, "kiln.minimum %a0, %a1 : {T0}, {T1} -> {R}", [a, b], np.minimum(a, b))


@pytest.mark.parametrize("direction,ref", [
    ("eq", np.equal), ("ne", np.not_equal), ("lt", np.less), ("le", np.less_equal),
    ("gt", np.greater), ("ge", np.greater_equal)])
def test_compare(runner, direction, ref):
    a = np.array([[1.0, np.nan, 3.0], [2.0, 2.0, -1.0]], np.float32)
    b = np.array([2.0, 2.0, np.nan], np.float32)
    check(runner, f"kiln.compare {direction}, %a0, %a1 : {{T0}}, {{T1}} -> {{R}}",
          [a, b], ref(a, b))
    i, j = rand((3, 4), np.int64, -3, 3), rand((4,), np.int64, -3, 3)
    check(runner, f"kiln.compare {direction}, %a0, %a1 : {{T0}}, {{T1}} -> {{R}}",
          [i, j], ref(i, j))
    p, q = rand((5,), np.bool_), rand((5,), np.bool_)
    check(runner, f"kiln.compare {direction}, %a0, %a1 : {{T0}}, {{T1}} -> {{R}}",
          [p, q], ref(p, q))


def test_logical_binary(runner):
    p, q = rand((3, 4), np.bool_), rand((4,), np.bool_)
    check(runner, "kiln.logical_and %a0, %a1 : {T0}, {T1} -> {R}", [p, q], p & q)
    check(runner, "kiln.logical_or %a0, %a1 : {T0}, {T1} -> {R}", [p, q], p | q)


def _shift_right_logical(a, b):
    unsigned = np.dtype(f"u{a.dtype.itemsize}")
    return np.right_shift(a.view(unsigned), b.view(unsigned)).view(a.dtype)


# NumPy's shifts define every amount as Kiln's do (StableHLO's rule): one
# outside [0, bit width), negative ones included, shifts everything out.
BITWISE = {"bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or,
           "bitwise_xor": np.bitwise_xor, "shift_left": np.left_shift,
           "shift_right_arithmetic": np.right_shift,
           "shift_right_logical": _shift_right_logical}


def _edge_integers(dtype, size):
    info = np.iinfo(dtype)
    edges = np.array([0, 1, -1, 2, -2, info.min, info.max, info.min + 1], dtype)
    wide = RNG.integers(info.min, info.max, size=size, dtype=dtype, endpoint=True)
    return np.concatenate([edges, wide])[:size]


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("name", sorted(BITWISE))
def test_bitwise(runner, name, dtype):
    bits = np.iinfo(dtype).bits
    a = _edge_integers(dtype, 24).reshape(3, 8)
    if name.startswith("shift"):  # every amount around the range's ends
        b = np.array([0, 1, bits - 1, bits, bits + 1, -1, -bits, 5], dtype)
        b2 = np.array([np.iinfo(dtype).min, np.iinfo(dtype).max, 2 * bits, 3,
                       bits // 2, -2, 7, bits - 2], dtype)
        b = np.stack([b, b2, RNG.integers(-4, bits + 4, size=8).astype(dtype)])[:, None, :]
    else:
        b = _edge_integers(dtype, 8)
    check(runner, f"kiln.{name} %a0, %a1 : {{T0}}, {{T1}} -> {{R}}", [a, b],
          BITWISE[name](a, b))


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_bitwise_not(runner, dtype):
    x = _edge_integers(dtype, 12).reshape(3, 4)
    check(runner, "kiln.bitwise_not %a0 : {T0}", [x], np.invert(x))


@pytest.mark.parametrize("source,target", [
    (np.float32, np.int32), (np.int64, np.float64), (np.float64, np.int32),
    (np.int32, np.float64), (np.float32, np.float16), (np.float16, np.int32),
    (np.int64, np.float32), (np.float16, np.float16)])
def test_bitcast(runner, source, target):
    # NumPy's view reads the same bytes (little-endian, as Kiln's pieces).
    wide, narrow = np.dtype(source).itemsize, np.dtype(target).itemsize
    shape = (3, 4) if wide >= narrow else (3, narrow // wide)
    bits = RNG.integers(0, 256, size=int(np.prod(shape)) * wide, dtype=np.uint8)
    x = bits.view(source).reshape(shape)
    if np.issubdtype(source, np.floating):
        x = np.where(np.isfinite(x), x, 1.5).astype(source)   # (NaN payloads may change)
    expected = x.view(target)
    if wide > narrow:
        expected = expected.reshape(shape + (wide // narrow,))
    elif wide < narrow:
        expected = expected.reshape(shape[:-1])
    out = runner.run(func("kiln.bitcast %a0 : {T0} -> {R}", [x],
                          (expected.shape, expected.dtype)), [x])[0]
    np.testing.assert_array_equal(out.view(np.uint8), expected.view(np.uint8))


def test_select(runner):
    c, a, b = rand((3, 1), np.bool_), rand((3, 4)), rand(())
    check(runner, "kiln.select %a0, %a1, %a2 : {T0}, {T1}, {T2} -> {R}", [c, a, b],
          np.where(c, a, b))


@pytest.mark.parametrize("src,dst", [
    (np.float32, np.int32), (np.int32, np.float32), (np.float32, np.bool_),
    (np.bool_, np.float32), (np.float32, np.float64), (np.float64, np.float32),
    (np.float32, np.float16), (np.float16, np.float32), (np.float64, np.float16),
    (np.float16, np.float64), (np.int64, np.int32),
    (np.int32, np.int64), (np.bool_, np.int32), (np.int32, np.bool_)])
def test_cast(runner, src, dst):
    x = rand((4, 3), src, -100, 100)
    if src == np.float32:
        x[0, 0] = 0.0
    check(runner, "kiln.cast %a0 : {T0} -> {R}", [x], x.astype(dst))


STORAGE = [np.int8, np.int16, np.uint8, np.uint16, np.uint32]


@pytest.mark.parametrize("storage", STORAGE)
@pytest.mark.parametrize("other", [np.float32, np.float64, np.int32, np.int64])
def test_cast_storage_types(runner, storage, other):
    """To and from the storage types: unsigned values zero-extend and
    convert as unsigned; between integers the low bits are kept."""
    info = np.iinfo(storage)
    x = RNG.integers(info.min, int(info.max) + 1, size=(4, 3), dtype=np.int64).astype(storage)
    x[0, :2] = [info.min, info.max]
    check(runner, "kiln.cast %a0 : {T0} -> {R}", [x], x.astype(other))
    if np.issubdtype(other, np.integer):
        y = RNG.integers(-70000, 70000, size=(5,)).astype(other)
        check(runner, "kiln.cast %a0 : {T0} -> {R}", [y], y.astype(storage))
    else:  # (whole values in range, and beyond it: saturated)
        y = np.array([info.min, info.max, 0, 1.9, info.min - 10.0, info.max + 10.0],
                     other)
        check(runner, "kiln.cast %a0 : {T0} -> {R}", [y],
              np.clip(np.trunc(y), info.min, info.max).astype(storage))


@pytest.mark.parametrize("storage", STORAGE)
def test_storage_types_move(runner, storage):
    """The ops that move elements take storage types as they are."""
    x = rand((2, 3, 4), np.int64, 0, 100).astype(storage)
    check(runner, "kiln.transpose %a0 {permutation = array<i64: 2, 0, 1>} : {T0} -> {R}",
          [x], x.transpose(2, 0, 1))
    check(runner, "kiln.reshape %a0 : {T0} -> {R}", [x], x.reshape(6, 4))
    idx = np.array([2, 0, 2], np.int32)
    check(runner, "kiln.gather %a0, %a1 {axis = 2 : i64} : {T0}, {T1} -> {R}", [x, idx],
          x[:, :, idx])
    check(runner, "kiln.concat %a0, %a1 {axis = 0 : i64} : ({T0}, {T1}) -> {R}", [x, x],
          np.concatenate([x, x]))
    check(runner, "kiln.pad %a0 {low = array<i64: 0, 1, 0>, high = array<i64: 1, 0, 2>, "
          "value = 7.0 : f64} : {T0} -> {R}", [x],
          np.pad(x, [(0, 1), (1, 0), (0, 2)], constant_values=7))


REDUCE = {"reduce_sum": np.sum, "reduce_mean": np.mean, "reduce_max": np.max,
          "reduce_min": np.min, "reduce_prod": np.prod}


@pytest.mark.parametrize("name", sorted(REDUCE))
@pytest.mark.parametrize("axes,keepdims", [((1,), False), ((0, 2), True), ((-1,), False),
                                            ((0, 1, 2), False), ((), False)])
@pytest.mark.parametrize("dtype", FLOATS)
def test_reduce_float(runner, name, axes, keepdims, dtype):
    x = rand((2, 3, 4), dtype, 0.5, 1.5)
    expected = REDUCE[name](x, axis=axes, keepdims=keepdims).astype(dtype) if axes else x
    axes_text = ": " + ", ".join(map(str, axes)) if axes else ""
    attrs = f"{{axes = array<i64{axes_text}>, keepdims = {str(keepdims).lower()}}}"
    check(runner, f"kiln.{name} %a0 {attrs} : {{T0}} -> {{R}}", [x], expected, **SUM_TOL[dtype])


@pytest.mark.parametrize("name", ["reduce_sum", "reduce_max", "reduce_min", "reduce_prod"])
def test_reduce_int(runner, name):
    x = rand((3, 5), np.int32, -4, 4)
    check(runner, f"kiln.{name} %a0 {{axes = array<i64: 0>}} : {{T0}} -> {{R}}", [x],
          REDUCE[name](x, axis=0).astype(np.int32))


# Rows long enough that the CPU splits them into vector accumulators
# (kiln-cpu-split-reductions: 64, 32 or 16 lanes of f32, half for f64), and
# lengths that stay whole (not a multiple of a vector, or too short).
@pytest.mark.parametrize("name", ["reduce_sum", "reduce_max", "reduce_min", "reduce_mean"])
@pytest.mark.parametrize("row", [256, 96, 48, 1000, 17])
@pytest.mark.parametrize("dtype", FLOATS)
def test_reduce_long_rows(runner, name, row, dtype):
    x = rand((3, row), dtype, -2, 2)
    x[1, row // 3] = 7.0  # a maximum away from the first lanes
    x[2, row - 1] = -7.0  # a minimum in the last lane
    check(runner, f"kiln.{name} %a0 {{axes = array<i64: 1>}} : {{T0}} -> {{R}}", [x],
          REDUCE[name](x.astype(np.float64), axis=1).astype(dtype), **SUM_TOL[dtype])


@pytest.mark.parametrize("row", [512, 96, 1000])
def test_softmax_long_rows(runner, row):
    x = rand((5, row), np.float32, -30, 30)
    x[0, row - 1] = 80.0
    check(runner, "kiln.softmax %a0 {axis = -1 : i64} : {T0} -> {R}", [x],
          softmax_np(x.astype(np.float64), -1).astype(np.float32), **F_TOL[np.float32])


def test_reduce_max_nan(runner):
    x = np.array([[1.0, np.nan], [2.0, 3.0]], np.float32)
    check(runner, "kiln.reduce_max %a0 {axes = array<i64: 1>} : {T0} -> {R}", [x],
          np.max(x, axis=1))


@pytest.mark.parametrize("name,ref", [("argmax", np.argmax), ("argmin", np.argmin)])
def test_arg_reduce(runner, name, ref):
    x = rand((4, 6), np.float32)
    x[1, 2] = x[1, 4] = 9.0  # ties resolve to the first index
    x[2, 0] = x[2, 5] = -9.0
    x[3, 3] = np.nan
    for axis in (0, 1, -1):
        check(runner, f"kiln.{name} %a0 {{axis = {axis} : i64}} : {{T0}} -> {{R}}", [x],
              ref(x, axis=axis).astype(np.int64))
    i = rand((5, 3), np.int32, -2, 2)
    check(runner, f"kiln.{name} %a0 {{axis = 0 : i64}} : {{T0}} -> {{R}}", [i],
          ref(i, axis=0).astype(np.int64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("shape", [(7,), (3, 1), (2, 3, 9), (4, 0), (0, 5), (2, 300)])
@pytest.mark.parametrize("descending", [False, True])
def test_sort(runner, dtype, shape, descending):
    x = rand(shape, dtype, -3, 3)  # integers in [-3, 3]: many ties
    if np.issubdtype(dtype, np.floating) and x.size > 2:
        x.flat[1] = np.nan
        x.flat[2] = x.flat[0]  # a tie
    t = tensor_type(shape, dtype)
    i = tensor_type(shape, np.int32)
    attr = " {descending}" if descending else ""
    module = (f"func.func @f(%x: {t}) -> ({t}, {i}) {{\n"
              f"  %v, %i = kiln.sort %x{attr} : {t} -> {t}, {i}\n"
              f"  return %v, %i : {t}, {i}\n}}\n")
    # (The GPU target refuses kiln.sort: test/Codegen/GPU.)
    values, indices = runner.run(module, [x], cpu_only=True)
    # The stable order (np.lexsort is stable): NaN last ascending, first
    # descending; equal values keep their positions' order both ways.
    f = x.astype(np.float64)
    nan = np.isnan(f)
    value = np.where(nan, 0.0, -f if descending else f)
    order = np.lexsort((value, ~nan if descending else nan), axis=-1) if x.size else \
        np.zeros(shape, np.int64)
    np.testing.assert_array_equal(indices, order.astype(np.int32))
    np.testing.assert_array_equal(values, np.take_along_axis(x, order, -1))
    assert values.dtype == dtype and indices.dtype == np.int32


def _to_bf16(a):
    """f32 values rounded to bfloat16 (the top 16 bits, nearest even)."""
    bits = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return rounded.astype(np.uint32).view(np.float32)


def test_bfloat16_arithmetic_rounds_to_nearest_even(runner):
    """bf16 compiled and run: every op's result is rounded to bf16, as the
    emulation in NumPy rounds it (bf16 was never executed by a test)."""
    a = np.array([1.0, 3.14159, -2.71828, 1000.5, 1e-3, 65504.0, 3.0e38, -0.0], np.float32)
    b = np.array([0.333, 7.0, 0.1, -3.0, 1e-3, 2.0, 10.0, 5.0], np.float32)
    t, h = "tensor<8xf32>", "tensor<8xbf16>"
    module = (f"func.func @f(%a: {t}, %b: {t}) -> {t} {{\n"
              f"  %x = kiln.cast %a : {t} -> {h}\n"
              f"  %y = kiln.cast %b : {t} -> {h}\n"
              f"  %p = kiln.mul %x, %y : {h}, {h} -> {h}\n"
              f"  %s = kiln.add %p, %x : {h}, {h} -> {h}\n"
              f"  %r = kiln.cast %s : {h} -> {t}\n"
              f"  return %r : {t}\n}}\n")
    (out,) = runner.run(module, [a, b])
    with np.errstate(over="ignore"):
        want = _to_bf16(_to_bf16(_to_bf16(a) * _to_bf16(b)) + _to_bf16(a))
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("half", ["f16", "bf16"])
def test_half_math_rounds_each_result(runner, half):
    """A half op's result is rounded to its type before the next op reads
    it: erf(3) is 0.99998 in f32 and 1 in f16 and bf16, so floor of it is
    1. (The casts math-extend-to-supported-types adds folded away, and the
    floor read the unrounded value: 0.)"""
    x = np.array([3.0, 4.0, 2.5, -3.0, 0.5, 1.0, -0.2, 6.0], np.float32)
    t, h = "tensor<8xf32>", f"tensor<8x{half}>"
    module = (f"func.func @f(%a: {t}) -> {t} {{\n"
              f"  %x = kiln.cast %a : {t} -> {h}\n"
              f"  %e = kiln.erf %x : {h}\n"
              f"  %f = kiln.floor %e : {h}\n"
              f"  %r = kiln.cast %f : {h} -> {t}\n"
              f"  return %r : {t}\n}}\n")
    (out,) = runner.run(module, [x])
    erf = np.array([math.erf(v) for v in x], np.float32)
    rounded = _to_bf16(erf) if half == "bf16" else erf.astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(out, np.floor(rounded))
    # erf(2.5) = 0.99959 is below 1 in f16 (whose spacing there is 2^-11)
    # and 1 in bf16 (2^-8).
    assert out[2] == (1.0 if half == "bf16" else 0.0) and out[0] == 1.0


def test_f64_to_bfloat16_rounds_once(runner):
    """f64 to bf16 is rounded once, to nearest even: through f32 rounded to
    nearest first, 1 + 2^-8 + 2^-40 would become the tie 1 + 2^-8 and then
    1. (On x86 LLVM called __truncdfbf2, which Debian's libgcc lacks.)"""
    x = np.array([1 + 2**-8 + 2**-40, 1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-8 + 2**-40),
                  np.nan, 1e300, -1e-300, 2.5], np.float64)
    want = np.array([1 + 2**-7, 1.0, 1 + 2**-6, -(1 + 2**-7), np.nan, np.inf, -0.0, 2.5],
                    np.float32)
    t, h, r = "tensor<8xf64>", "tensor<8xbf16>", "tensor<8xf32>"
    module = (f"func.func @f(%a: {t}) -> {r} {{\n"
              f"  %x = kiln.cast %a : {t} -> {h}\n"
              f"  %r = kiln.cast %x : {h} -> {r}\n"
              f"  return %r : {r}\n}}\n")
    (out,) = runner.run(module, [x])
    np.testing.assert_array_equal(out, want)
    assert np.signbit(out[6])


HALF_ACCUMULATED = {
    # op text over %h (a half tensor of 2 x 3000, or a 3000-long row) ->
    # NumPy in f32 on the half values, rounded to half once at the end.
    "reduce_sum": ("kiln.reduce_sum %h {axes = array<i64: 1>} : {H} -> {HR}",
                   lambda v: v.sum(1)),
    "reduce_mean_all": ("kiln.reduce_mean %h {axes = array<i64: 0, 1>} : {H} -> tensor<{E}>",
                        lambda v: np.float32(v.mean())),
    "reduce_prod": ("kiln.reduce_prod %h {axes = array<i64: 1>} : {H} -> {HR}",
                    lambda v: np.prod(v, 1)),
    "softmax": ("kiln.softmax %h {axis = 1 : i64} : {H} -> {H}",
                lambda v: np.exp(v - v.max(1, keepdims=True))
                / np.exp(v - v.max(1, keepdims=True)).sum(1, keepdims=True)),
    "log_softmax": ("kiln.log_softmax %h {axis = 1 : i64} : {H} -> {H}",
                    lambda v: (v - v.max(1, keepdims=True))
                    - np.log(np.exp(v - v.max(1, keepdims=True)).sum(1, keepdims=True))),
}


@pytest.mark.parametrize("name", sorted(HALF_ACCUMULATED))
@pytest.mark.parametrize("half", ["f16", "bf16"])
def test_half_precision_sums_accumulate_in_f32(runner, name, half):
    """f16 and bf16 sums, means, products and softmax sums accumulate in
    f32, as TensorFlow and PyTorch do: in f16 a sum of 3000 values near 1
    stops growing at 2048 (256 in bf16). Inputs are half values; the oracle
    computes in f32 and rounds once."""
    op, ref = HALF_ACCUMULATED[name]
    x = RNG.uniform(0.5, 1.5, (2, 3000)).astype(np.float32)
    if name == "reduce_prod":  # values near 1: the product stays in range
        x = RNG.uniform(0.99, 1.01, (2, 3000)).astype(np.float32)
    rnd = _to_bf16 if half == "bf16" else (lambda a: np.asarray(a, np.float16).astype(np.float32))
    x = rnd(x)
    h, hr = f"tensor<2x3000x{half}>", f"tensor<2x{half}>"
    text = op.replace("{H}", h).replace("{HR}", hr).replace("{E}", half)
    rtype = text.rsplit("-> ", 1)[1]
    out_t = rtype.replace(half, "f32")
    module = (f"func.func @f(%a: tensor<2x3000xf32>) -> {out_t} {{\n"
              f"  %h = kiln.cast %a : tensor<2x3000xf32> -> {h}\n"
              f"  %r = {text}\n"
              f"  %o = kiln.cast %r : {rtype} -> {out_t}\n"
              f"  return %o : {out_t}\n}}\n")
    (out,) = runner.run(module, [x])
    want = rnd(np.atleast_1d(np.asarray(ref(x.astype(np.float64)), np.float32))).reshape(out.shape)
    # One rounding to half at the end (plus f32 rounding inside): within
    # one half ulp of the f32 result.
    eps = 2.0 ** -10 if half == "f16" else 2.0 ** -7
    np.testing.assert_allclose(out, want, rtol=eps, atol=1e-7)


def _conv_nhwc_valid(x, w):
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    out = np.zeros((n, h - kh + 1, wd - kw + 1, f))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,cf->nhwf", x[:, i:i + out.shape[1], j:j + out.shape[2]], w[i, j])
    return out


@pytest.mark.parametrize("half", ["f16", "bf16"])
@pytest.mark.parametrize("case", ["matmul", "matmul_small", "batch_matmul", "conv2d"])
def test_half_precision_products_accumulate_in_f32(runner, half, case):
    """f16 and bf16 matrix products and convolutions with long sums (3000
    or 2700 terms near 1): accumulated in f32 and rounded once, as cuBLAS
    and PyTorch do (in f16 they stopped at 2048). On the GPU (and its
    emulation) tensor cores and FMA tiles accumulate in f32; the CPU
    computes them in f32."""
    rnd = _to_bf16 if half == "bf16" else (lambda a: np.asarray(a, np.float16).astype(np.float32))
    if case == "conv2d":
        a, b = (rnd(RNG.uniform(0.5, 1.5, s).astype(np.float32)) for s in [(1, 5, 5, 300), (3, 3, 300, 2)])
        op = "kiln.conv2d %x, %y " + conv_attrs((1, 1), (1, 1), False)
        want = _conv_nhwc_valid(a.astype(np.float64), b.astype(np.float64))
    else:
        m, k, n = (64, 3000, 48) if case == "matmul" else (2, 3000, 3)
        shapes = [(m, k), (k, n)] if case != "batch_matmul" else [(2, 5, k), (2, k, 3)]
        a, b = (rnd(RNG.uniform(0.5, 1.5, s).astype(np.float32)) for s in shapes)
        op = "kiln.batch_matmul %x, %y" if case == "batch_matmul" else "kiln.matmul %x, %y"
        want = a.astype(np.float64) @ b.astype(np.float64)
    want = rnd(want.astype(np.float32))
    def t(shape, e):
        return "tensor<" + "x".join(map(str, shape)) + "x" + e + ">"
    module = (f"func.func @f(%a: {t(a.shape, 'f32')}, %b: {t(b.shape, 'f32')}) -> {t(want.shape, 'f32')} {{\n"
              f"  %x = kiln.cast %a : {t(a.shape, 'f32')} -> {t(a.shape, half)}\n"
              f"  %y = kiln.cast %b : {t(b.shape, 'f32')} -> {t(b.shape, half)}\n"
              f"  %r = {op} : {t(a.shape, half)}, {t(b.shape, half)} -> {t(want.shape, half)}\n"
              f"  %o = kiln.cast %r : {t(want.shape, half)} -> {t(want.shape, 'f32')}\n"
              f"  return %o : {t(want.shape, 'f32')}\n}}\n")
    (out,) = runner.run(module, [a, b])
    eps = 2.0 ** -10 if half == "f16" else 2.0 ** -7
    np.testing.assert_allclose(out, want, rtol=eps, atol=0)


def test_reshape_family(runner):
    x = rand((2, 3, 4))
    check(runner, "kiln.reshape %a0 : {T0} -> {R}", [x], x.reshape(6, 4))
    check(runner, "kiln.reshape %a0 : {T0} -> {R}", [x], x.reshape(24))
    s = rand(())
    check(runner, "kiln.reshape %a0 : {T0} -> {R}", [s], s.reshape(1, 1))
    one = rand((1, 1))
    check(runner, "kiln.reshape %a0 : {T0} -> {R}", [one], one.reshape(()))
    check(runner, "kiln.expand_dims %a0 {axis = 1 : i64} : {T0} -> {R}", [x],
          np.expand_dims(x, 1))
    y = rand((1, 3, 1))
    check(runner, "kiln.squeeze %a0 {axes = array<i64>} : {T0} -> {R}", [y], np.squeeze(y))
    check(runner, "kiln.squeeze %a0 {axes = array<i64: -1>} : {T0} -> {R}", [y],
          np.squeeze(y, -1))


def test_transpose_broadcast(runner):
    x = rand((2, 3, 4))
    check(runner, "kiln.transpose %a0 {permutation = array<i64: 2, 0, 1>} : {T0} -> {R}",
          [x], np.transpose(x, (2, 0, 1)))
    v = rand((3, 1))
    check(runner, "kiln.broadcast_to %a0 : {T0} -> {R}", [v], np.broadcast_to(v, (2, 3, 5)))
    i = rand((4,), np.int32, -9, 9)
    check(runner, "kiln.broadcast_to %a0 : {T0} -> {R}", [i], np.broadcast_to(i, (2, 4)))


# Transposes of the innermost dimension run in square blocks of one vector
# each way (16 x 16 f32 with AVX-512): shapes with whole blocks, partial
# blocks at both edges, the split into chunks for the threads (300 x 520),
# several element widths, and permutations of higher rank.
TRANSPOSES = [((16, 16), (1, 0)), ((33, 47), (1, 0)), ((300, 520), (1, 0)),
              ((4, 50, 70), (0, 2, 1)), ((50, 4, 70), (2, 1, 0)),
              ((3, 40, 5, 33), (1, 3, 0, 2)),
              # (Partial blocks whose read skips a unit dimension: these lost
              # elements to a transposed mask until such blocks became loops.)
              ((20, 3, 37), (1, 2, 0)), ((40, 1, 37), (1, 2, 0))]


@pytest.mark.parametrize("shape,perm", TRANSPOSES)
@pytest.mark.parametrize("dtype", FLOATS + [np.int32, np.int64])
def test_transpose_blocks(runner, shape, perm, dtype):
    x = rand(shape, dtype, -100, 100)
    perm_attr = ", ".join(map(str, perm))
    check(runner, f"kiln.transpose %a0 {{permutation = array<i64: {perm_attr}>}} : {{T0}} -> {{R}}",
          [x], np.transpose(x, perm))


def test_concat_slice_pad(runner):
    a, b, c = rand((2, 3)), rand((1, 3)), rand((4, 3))
    mlir = ("func.func @f(%a: tensor<2x3xf32>, %b: tensor<1x3xf32>, %c: tensor<4x3xf32>)"
            " -> tensor<7x3xf32> {\n"
            "  %r = kiln.concat %a, %b, %c {axis = 0 : i64} : (tensor<2x3xf32>, "
            "tensor<1x3xf32>, tensor<4x3xf32>) -> tensor<7x3xf32>\n"
            "  return %r : tensor<7x3xf32>\n}\n")
    (out,) = runner.run(mlir, [a, b, c])
    np.testing.assert_array_equal(out, np.concatenate([a, b, c]))
    x = rand((10, 6))
    check(runner, "kiln.slice %a0 {start = array<i64: 1, 0>, limit = array<i64: 9, 6>, "
          "stride = array<i64: 3, 2>} : {T0} -> {R}", [x], x[1:9:3, 0:6:2])
    check(runner, "kiln.pad %a0 {low = array<i64: 1, 0>, high = array<i64: 2, 3>, "
          "value = -1.5 : f64} : {T0} -> {R}", [x],
          np.pad(x, ((1, 2), (0, 3)), constant_values=-1.5))


def scatter_np(base, ids, upd, axis, combine=np.add):
    """kiln.scatter_add (or scatter_reduce with `combine`): one update at
    a time, out-of-range ids dropped."""
    wide = base.dtype.kind == "f" and combine is np.add
    out = base.astype(np.float64 if wide else base.dtype).copy()
    moved = np.moveaxis(out, axis, 0)
    upd_moved = upd.reshape(upd.shape[:axis] + (-1,) + upd.shape[axis + ids.ndim:])
    upd_moved = np.moveaxis(upd_moved, axis, 0)
    for n, j in enumerate(ids.reshape(-1)):
        if 0 <= j < moved.shape[0]:
            moved[j] = combine(moved[j], upd_moved[n])
    return out.astype(base.dtype)


# Rows of an embedding-sized table (vectorized slices), a 1-D base (one
# element per index), two-dimensional indices on axis 1, integers; repeated
# indices accumulate in order and out-of-range ones are dropped.
@pytest.mark.parametrize("base_shape,ids_shape,axis,dtype", [
    ((64, 128), (300,), 0, np.float32),
    ((10,), (7,), 0, np.float64),
    ((3, 9, 20), (2, 4), 1, np.float32),
    ((12, 33), (40,), 0, np.int32),
    ((0, 4), (3,), 0, np.float32)])  # no row: every index is out of range
def test_scatter_add_shapes(runner, base_shape, ids_shape, axis, dtype):
    n = base_shape[axis]
    base = rand(base_shape, dtype, -3, 3)
    ids = RNG.integers(-2, n + 2, size=ids_shape).astype(np.int32)
    ids.reshape(-1)[:3] = [1, 1, 1]  # repeated (out of range when n <= 1)
    upd_shape = base_shape[:axis] + ids_shape + base_shape[axis + 1:]
    upd = rand(upd_shape, dtype, -3, 3)
    expected = scatter_np(base, ids, upd, axis)
    tol = {} if dtype == np.int32 else SUM_TOL[dtype]
    check(runner, f"kiln.scatter_add %a0, %a1, %a2 {{axis = {axis} : i64}} : "
          "{T0}, {T1}, {T2} -> {R}", [base, ids, upd], expected, **tol)


@pytest.mark.parametrize("reduction,combine", [
    ("max", np.maximum), ("min", np.minimum), ("prod", np.multiply)])
@pytest.mark.parametrize("base_shape,ids_shape,axis,dtype", [
    ((5, 3), (7,), 0, np.float32),
    ((4, 6), (2, 3), 1, np.float64),
    ((6,), (9,), 0, np.int32),
    ((3, 4, 2), (5,), 1, np.int64)])
def test_scatter_reduce(runner, reduction, combine, base_shape, ids_shape, axis, dtype):
    # Repeated and out-of-range ids, against NumPy's own combination one
    # update at a time (products of values near 1 stay in range).
    n = base_shape[axis]
    lo, hi = (0.5, 1.5) if reduction == "prod" and dtype in FLOATS else (-3, 3)
    base = rand(base_shape, dtype, lo, hi)
    ids = RNG.integers(-2, n + 2, size=ids_shape).astype(np.int32)
    ids.reshape(-1)[:3] = [1, 1, 1]
    upd = rand(base_shape[:axis] + ids_shape + base_shape[axis + 1:], dtype, lo, hi)
    expected = scatter_np(base, ids, upd, axis, combine)
    tol = {"rtol": 1e-6} if dtype in FLOATS else {}
    check(runner, f"kiln.scatter_reduce {reduction}, %a0, %a1, %a2 {{axis = {axis} : i64}} "
          ": {T0}, {T1}, {T2} -> {R}", [base, ids, upd], expected, **tol)


def test_scatter_reduce_nan(runner):
    # max and min propagate NaN (from the base or from an update).
    base = np.array([np.nan, 1.0, 2.0, 0.0], np.float32)
    ids = np.array([0, 1, 2, 2], np.int32)
    upd = np.array([5.0, np.nan, -1.0, 7.0], np.float32)
    for reduction, combine in (("max", np.maximum), ("min", np.minimum)):
        check(runner, f"kiln.scatter_reduce {reduction}, %a0, %a1, %a2 : {{T0}}, {{T1}}, {{T2}} -> {{R}}",
              [base, ids, upd], scatter_np(base, ids, upd, 0, combine))


def test_gather_scatter_one_hot(runner):
    table = rand((6, 4))
    ids = np.array([[0, 5], [2, 7], [-1, 3]], np.int32)  # 7 and -1 are out of range
    expected = np.where((ids >= 0) & (ids < 6), 1, 0)[..., None] * table[np.clip(ids, 0, 5)]
    check(runner, "kiln.gather %a0, %a1 : {T0}, {T1} -> {R}", [table, ids],
          expected.astype(np.float32))
    expected1 = np.take(table, np.array([3, 0, 3]), axis=1)
    check(runner, "kiln.gather %a0, %a1 {axis = 1 : i64} : {T0}, {T1} -> {R}",
          [table, np.array([3, 0, 3], np.int64)], expected1)
    base = rand((5, 3))
    idx = np.array([1, 4, 1, 9], np.int32)  # repeated index accumulates; 9 dropped
    upd = rand((4, 3))
    expected2 = base.copy()
    for k, j in enumerate(idx):
        if 0 <= j < 5:
            expected2[j] += upd[k]
    check(runner, "kiln.scatter_add %a0, %a1, %a2 : {T0}, {T1}, {T2} -> {R}",
          [base, idx, upd], expected2)
    labels = np.array([0, 3, 9, -1, 2], np.int64)
    onehot = (labels[:, None] == np.arange(4)).astype(np.float32) * 2 - 0.5
    check(runner, "kiln.one_hot %a0 {depth = 4 : i64, on_value = 1.5 : f64, "
          "off_value = -0.5 : f64} : {T0} -> {R}", [labels], onehot)
    check(runner, "kiln.one_hot %a0 {depth = 4 : i64, axis = 0 : i64} : {T0} -> {R}",
          [labels], (labels[None, :] == np.arange(4)[:, None]).astype(np.int32))


def test_stop_gradient(runner):
    """The value passes through (any dtype); no cotangent flows back:
    d/dx sum(x * stop_gradient(x)) = x, where the plain product gives 2x."""
    x = rand((4, 3), np.float32, -3, 3)
    check(runner, "kiln.stop_gradient %a0 : {T0}", [x], x)
    i = rand((5,), np.int32, -9, 9)
    check(runner, "kiln.stop_gradient %a0 : {T0}", [i], i)
    mlir = """
func.func @f(%x: tensor<4x3xf32>) -> tensor<f32> {
  %s = kiln.stop_gradient %x : tensor<4x3xf32>
  %p = kiln.mul %x, %s : tensor<4x3xf32>, tensor<4x3xf32> -> tensor<4x3xf32>
  %r = kiln.reduce_sum %p {axes = array<i64: 0, 1>} : tensor<4x3xf32> -> tensor<f32>
  return %r : tensor<f32>
}
func.func @g(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %d = kiln.grad @f(%x) {wrt = array<i64: 0>} : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return %d : tensor<4x3xf32>
}
"""
    (grad,) = runner.run(mlir, [x], entry="g")
    np.testing.assert_allclose(grad, x, rtol=1e-6)


def test_known_value(runner):
    """known_value %c, %k is k; its derivative is c's. With k != c (a broken
    promise, to tell the operands apart): the value of sum(tanh(kv(x^2, k)))
    is sum(tanh(k)), its gradient (1 - tanh(k)^2) 2x (tanh's rule reads the
    known value, square's the input), and nothing flows to k."""
    x = rand((4, 3), np.float32, -2, 2)
    k = rand((4, 3), np.float32, -2, 2)
    check(runner, "kiln.known_value %a0, %a1 : {T0}, {T1} -> {R}", [x, k], k)
    i, j = rand((5,), np.int32, -9, 9), rand((5,), np.int32, -9, 9)
    check(runner, "kiln.known_value %a0, %a1 : {T0}, {T1} -> {R}", [i, j], j)
    mlir = """
func.func @f(%x: tensor<4x3xf32>, %k: tensor<4x3xf32>) -> tensor<f32> {
  %s = kiln.square %x : tensor<4x3xf32>
  %v = kiln.known_value %s, %k : tensor<4x3xf32>, tensor<4x3xf32> -> tensor<4x3xf32>
  %t = kiln.tanh %v : tensor<4x3xf32>
  %r = kiln.reduce_sum %t {axes = array<i64: 0, 1>} : tensor<4x3xf32> -> tensor<f32>
  return %r : tensor<f32>
}
func.func @g(%x: tensor<4x3xf32>, %k: tensor<4x3xf32>) -> (tensor<f32>, tensor<4x3xf32>, tensor<4x3xf32>) {
  %r:3 = kiln.value_and_grad @f(%x, %k) {wrt = array<i64: 0, 1>} : (tensor<4x3xf32>, tensor<4x3xf32>) -> (tensor<f32>, tensor<4x3xf32>, tensor<4x3xf32>)
  return %r#0, %r#1, %r#2 : tensor<f32>, tensor<4x3xf32>, tensor<4x3xf32>
}
"""
    value, dx, dk = runner.run(mlir, [x, k], entry="g")
    x64, k64 = x.astype(np.float64), k.astype(np.float64)
    np.testing.assert_allclose(value, np.tanh(k64).sum(), rtol=1e-5)
    np.testing.assert_allclose(dx, (1 - np.tanh(k64) ** 2) * 2 * x64, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(dk, np.zeros_like(k))


def test_iota(runner):
    mlir = ("func.func @f() -> tensor<3x4xf32> {\n"
            "  %r = kiln.iota {dimension = 1 : i64} : tensor<3x4xf32>\n"
            "  return %r : tensor<3x4xf32>\n}\n")
    (out,) = runner.run(mlir, [])
    np.testing.assert_array_equal(out, np.broadcast_to(np.arange(4, dtype=np.float32), (3, 4)))
    # Open extents from `like`: a causal mask over a length known only at
    # run time.
    mlir = """func.func @f(%x: tensor<?x?xf32>) -> tensor<?x?xi1> {
  %i = kiln.iota like %x {dimension = 0 : i64} : tensor<?x?xi32>, tensor<?x?xf32>
  %j = kiln.iota like %x {dimension = 1 : i64} : tensor<?x?xi32>, tensor<?x?xf32>
  %m = kiln.compare ge, %i, %j : tensor<?x?xi32>, tensor<?x?xi32> -> tensor<?x?xi1>
  return %m : tensor<?x?xi1>
}
"""
    for shape in ((5, 5), (2, 7), (1, 1)):
        (out,) = runner.run(mlir, [rand(shape)])
        np.testing.assert_array_equal(out, np.tril(np.ones(shape, bool)))


@pytest.mark.parametrize("dtype", FLOATS + [np.int32])
def test_matmul(runner, dtype):
    a, b = rand((5, 7), dtype, -3, 3), rand((7, 3), dtype, -3, 3)
    tol = SUM_TOL.get(dtype, {})
    check(runner, "kiln.matmul %a0, %a1 : {T0}, {T1} -> {R}", [a, b], (a @ b).astype(dtype), **tol)
    check(runner, "kiln.matmul %a0, %a1 {transpose_lhs = true, transpose_rhs = true} : "
          "{T0}, {T1} -> {R}", [a.T.copy(), b.T.copy()], (a @ b).astype(dtype), **tol)
    check(runner, "kiln.matmul %a0, %a1 {transpose_rhs = true} : {T0}, {T1} -> {R}",
          [a, b.T.copy()], (a @ b).astype(dtype), **tol)


# Shapes that exercise the CPU's tiling of contractions: single elements,
# sizes below, at and above the register tile (8 x 32 with AVX-512, 6 x 16
# with AVX2) and the cache tiles (64 x 256, K panels of 256), primes, and
# the MLP's layers.
TILED_SHAPES = [(1, 1, 1), (3, 127, 5), (8, 3, 32), (9, 17, 33),
                (64, 784, 256), (127, 1000, 10), (257, 300, 129),
                (70, 513, 97)]


@pytest.mark.parametrize("m,k,n", TILED_SHAPES)
@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul_tiled_shapes(runner, m, k, n, dtype):
    a, b = rand((m, k), dtype, -1, 1), rand((k, n), dtype, -1, 1)
    expected = (a.astype(np.float64) @ b.astype(np.float64)).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-4 * np.sqrt(k)) if dtype == np.float32 \
        else SUM_TOL[np.float64]
    check(runner, "kiln.matmul %a0, %a1 : {T0}, {T1} -> {R}", [a, b], expected, **tol)
    # The transposed forms a gradient uses.
    check(runner, "kiln.matmul %a0, %a1 {transpose_rhs = true} : {T0}, {T1} -> {R}",
          [a, b.T.copy()], expected, **tol)
    check(runner, "kiln.matmul %a0, %a1 {transpose_lhs = true} : {T0}, {T1} -> {R}",
          [a.T.copy(), b], expected, **tol)


def test_dense_layer_fused(runner):
    # matmul, bias add and relu: the epilogue is tiled with the contraction.
    x, w, bias = rand((67, 300), np.float32, -1, 1), rand((300, 129), np.float32, -1, 1), \
        rand((129,), np.float32, -1, 1)
    mlir = """func.func @f(%x: tensor<67x300xf32>, %w: tensor<300x129xf32>, %b: tensor<129xf32>) -> tensor<67x129xf32> {
  %m = kiln.matmul %x, %w : tensor<67x300xf32>, tensor<300x129xf32> -> tensor<67x129xf32>
  %a = kiln.add %m, %b : tensor<67x129xf32>, tensor<129xf32> -> tensor<67x129xf32>
  %r = kiln.relu %a : tensor<67x129xf32>
  return %r : tensor<67x129xf32>
}
"""
    (out,) = runner.run(mlir, [x, w, bias])
    expected = np.maximum(x.astype(np.float64) @ w.astype(np.float64) + bias, 0)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("transpose", ["", "transpose_lhs", "transpose_rhs"])
@pytest.mark.parametrize("m,k,n", [(1, 2, 3), (4, 2, 3), (40, 33, 70)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_of_elementwise_operands(runner, transpose, m, k, n, dtype):
    # Elementwise producers (a negation, an exponential) are fused into the
    # product's body; the CPU code generator used to rename such a body
    # linalg.matmul and drop them: -(a) b came out as a b (found by the
    # random programs through the gradient of -(x W)).
    a = rand((k, m) if transpose == "transpose_lhs" else (m, k), dtype)
    b = rand((n, k) if transpose == "transpose_rhs" else (k, n), dtype, -1, 1)
    t = "f32" if dtype == np.float32 else "f64"
    ta, tb = tensor_type(a.shape, dtype), tensor_type(b.shape, dtype)
    attr = f" {{{transpose} = true}}" if transpose else ""
    mlir = f"""func.func @f(%a: {ta}, %b: {tb}) -> tensor<{m}x{n}x{t}> {{
  %na = kiln.neg %a : {ta}
  %eb = kiln.exp %b : {tb}
  %r = kiln.matmul %na, %eb{attr} : {ta}, {tb} -> tensor<{m}x{n}x{t}>
  return %r : tensor<{m}x{n}x{t}>
}}
"""
    (out,) = runner.run(mlir, [a, b])
    a64, b64 = -a.astype(np.float64), np.exp(b.astype(np.float64))
    want = (a64.T if transpose == "transpose_lhs" else a64) @ \
        (b64.T if transpose == "transpose_rhs" else b64)
    np.testing.assert_allclose(out, want, **SUM_TOL[dtype])


@pytest.mark.parametrize("rows", [1, 7, 8, 64, 100])
def test_matmul_open_rows(runner, rows):
    # One compiled entry with an open batch extent serves every size: full
    # register tiles vectorized, the rows left over by loops.
    x, w = rand((rows, 96), np.float32, -1, 1), rand((96, 40), np.float32, -1, 1)
    mlir = """func.func @f(%x: tensor<?x96xf32>, %w: tensor<96x40xf32>) -> tensor<?x40xf32> {
  %m = kiln.matmul %x, %w : tensor<?x96xf32>, tensor<96x40xf32> -> tensor<?x40xf32>
  return %m : tensor<?x40xf32>
}
"""
    (out,) = runner.run(mlir, [x, w])
    np.testing.assert_allclose(out, x.astype(np.float64) @ w.astype(np.float64),
                               rtol=1e-4, atol=1e-4)


def test_matmul_packed_b(runner):
    # B over 8 MiB with rows 1152 floats apart: C tiles of 256 x 192 read B
    # from packed micro-panels (6 per tile), the last K panel (52 deep) too.
    a, b = rand((512, 2100), np.float32, -1, 1), rand((2100, 1152), np.float32, -1, 1)
    t = "tensor<512x2100xf32>, tensor<2100x1152xf32> -> tensor<512x1152xf32>"
    mlir = f"""func.func @f(%a: tensor<512x2100xf32>, %b: tensor<2100x1152xf32>) -> tensor<512x1152xf32> {{
  %m = kiln.matmul %a, %b : {t}
  return %m : tensor<512x1152xf32>
}}
"""
    (out,) = runner.run(mlir, [a, b])
    np.testing.assert_allclose(out, a.astype(np.float64) @ b.astype(np.float64),
                               rtol=1e-4, atol=1e-4 * np.sqrt(2100))


@pytest.mark.parametrize("rows", [1, 4, 9])
def test_open_ids_gather_scatter_and_dim(runner, rows):
    # Ids of an open batch: a gather from a fixed table, a scatter_add of
    # the rows back into it (the gather's gradient), and kiln.dim of the
    # batch; one compiled entry for every size, checked against NumPy.
    table = rand((6, 3), np.float32, -1, 1)
    ids = np.random.default_rng(rows).integers(0, 6, rows).astype(np.int32)
    mlir = """func.func @f(%t: tensor<6x3xf32>, %ids: tensor<?xi32>)
    -> (tensor<?x3xf32>, tensor<6x3xf32>, tensor<i64>) {
  %g = kiln.gather %t, %ids : tensor<6x3xf32>, tensor<?xi32> -> tensor<?x3xf32>
  %s = kiln.scatter_add %t, %ids, %g {axis = 0 : i64} : tensor<6x3xf32>, tensor<?xi32>, tensor<?x3xf32> -> tensor<6x3xf32>
  %n = kiln.dim %ids {axis = 0 : i64} : tensor<?xi32> -> tensor<i64>
  return %g, %s, %n : tensor<?x3xf32>, tensor<6x3xf32>, tensor<i64>
}
"""
    g, s, n = runner.run(mlir, [table, ids])
    np.testing.assert_array_equal(g, table[ids])
    want = table.astype(np.float64).copy()
    np.add.at(want, ids, table[ids])
    np.testing.assert_allclose(s, want, rtol=1e-6)
    assert int(n) == rows


@pytest.mark.parametrize("rows", [0, 1, 4, 7])
def test_gather_and_scatter_along_open_axes(runner, rows):
    # The indexed axis itself is open (a table whose length is known at run
    # time only: a batch of images gathered by pixel position); ids out of
    # the table's range read 0 and add nothing, and every id is out of
    # range of an empty table. A second gather along an open axis 1 with
    # open ids.
    table = rand((rows, 3), np.float32, -1, 1)
    ids = np.array([0, 3, -1, 6, 2], np.int32)
    upd = rand((5, 3), np.float32, -1, 1)
    wide = rand((2, rows), np.float32, -1, 1)
    cols = np.random.default_rng(rows).integers(-1, rows + 1, 3).astype(np.int32)
    mlir = """func.func @f(%t: tensor<?x3xf32>, %ids: tensor<5xi32>, %u: tensor<5x3xf32>,
             %w: tensor<2x?xf32>, %c: tensor<?xi32>)
    -> (tensor<5x3xf32>, tensor<?x3xf32>, tensor<?x3xf32>, tensor<2x?xf32>) {
  %g = kiln.gather %t, %ids : tensor<?x3xf32>, tensor<5xi32> -> tensor<5x3xf32>
  %s = kiln.scatter_add %t, %ids, %u {axis = 0 : i64} : tensor<?x3xf32>, tensor<5xi32>, tensor<5x3xf32> -> tensor<?x3xf32>
  %m = kiln.scatter_reduce max, %t, %ids, %u : tensor<?x3xf32>, tensor<5xi32>, tensor<5x3xf32> -> tensor<?x3xf32>
  %h = kiln.gather %w, %c {axis = 1 : i64} : tensor<2x?xf32>, tensor<?xi32> -> tensor<2x?xf32>
  return %g, %s, %m, %h : tensor<5x3xf32>, tensor<?x3xf32>, tensor<?x3xf32>, tensor<2x?xf32>
}
"""
    g, s, m, h = runner.run(mlir, [table, ids, upd, wide, cols])
    inside = (ids >= 0) & (ids < rows)
    want_g = np.zeros((5, 3), np.float32)
    want_g[inside] = table[ids[inside]]
    np.testing.assert_array_equal(g, want_g)
    want_s = table.astype(np.float64).copy()
    np.add.at(want_s, ids[inside], upd[inside])
    np.testing.assert_allclose(s, want_s, rtol=1e-6, atol=1e-7)
    want_m = table.copy()
    np.maximum.at(want_m, ids[inside], upd[inside])
    np.testing.assert_array_equal(m, want_m)
    ok = (cols >= 0) & (cols < rows)
    want_h = np.zeros((2, 3), np.float32)
    want_h[:, ok] = wide[:, cols[ok]]
    np.testing.assert_array_equal(h, want_h)


@pytest.mark.parametrize("rows,cols", [(1, 1), (4, 3), (9, 17), (0, 2)])
def test_moves_of_open_extents(runner, rows, cols):
    # Transposes, whole-dimension slices, padding of fixed dimensions,
    # concatenation along a fixed axis, expand_dims / squeeze with two open
    # extents: one compiled entry for every size, checked against NumPy.
    x = rand((rows, cols, 3), np.float32, -1, 1)
    y = rand((rows, cols, 2), np.float32, -1, 1)
    mlir = """func.func @f(%x: tensor<?x?x3xf32>, %y: tensor<?x?x2xf32>)
    -> (tensor<3x?x?xf32>, tensor<?x?x1xf32>, tensor<?x?x6xf32>, tensor<?x?x5xf32>,
        tensor<?x1x?x5xf32>, tensor<?x?xf32>) {
  %t = kiln.transpose %x {permutation = array<i64: 2, 0, 1>} : tensor<?x?x3xf32> -> tensor<3x?x?xf32>
  %s = kiln.slice %x {start = array<i64: 0, 0, 2>, limit = array<i64: -1, -1, 3>, stride = array<i64: 1, 1, 1>} : tensor<?x?x3xf32> -> tensor<?x?x1xf32>
  %p = kiln.pad %x {low = array<i64: 0, 0, 2>, high = array<i64: 0, 0, 1>, value = 7.0 : f64} : tensor<?x?x3xf32> -> tensor<?x?x6xf32>
  %c = kiln.concat %x, %y {axis = 2 : i64} : (tensor<?x?x3xf32>, tensor<?x?x2xf32>) -> tensor<?x?x5xf32>
  %e = kiln.expand_dims %c {axis = 1 : i64} : tensor<?x?x5xf32> -> tensor<?x1x?x5xf32>
  %q = kiln.squeeze %s {axes = array<i64: 2>} : tensor<?x?x1xf32> -> tensor<?x?xf32>
  return %t, %s, %p, %c, %e, %q : tensor<3x?x?xf32>, tensor<?x?x1xf32>, tensor<?x?x6xf32>,
      tensor<?x?x5xf32>, tensor<?x1x?x5xf32>, tensor<?x?xf32>
}
"""
    t, s, p, c, e, q = runner.run(mlir, [x, y])
    joined = np.concatenate([x, y], 2)
    np.testing.assert_array_equal(t, x.transpose(2, 0, 1))
    np.testing.assert_array_equal(s, x[:, :, 2:3])
    np.testing.assert_array_equal(p, np.pad(x, [[0, 0], [0, 0], [2, 1]], constant_values=7))
    np.testing.assert_array_equal(c, joined)
    np.testing.assert_array_equal(e, joined[:, None])
    np.testing.assert_array_equal(q, x[:, :, 2])
    if rows:
        runner.run(mlir, [x, y[:rows - 1]],
                   expect_error="kiln.concat: operand 1 differs from the others in dimension 0")


@pytest.mark.parametrize("rows,more", [(3, 4), (1, 0), (0, 2), (6, 1)])
def test_concat_and_split_along_open_axes(runner, rows, more):
    # Two batches known only at run time joined along the batch (with a
    # fixed piece between), and one cut back into pieces as long as other
    # tensors: offsets computed when the code runs, against NumPy.
    x = rand((rows, 3), np.float32, -1, 1)
    y = rand((more, 3), np.float32, -1, 1)
    z = rand((2, 3), np.float32, -1, 1)
    mlir = """func.func @f(%x: tensor<?x3xf32>, %y: tensor<?x3xf32>, %z: tensor<2x3xf32>)
    -> (tensor<?x3xf32>, tensor<?x3xf32>, tensor<2x3xf32>, tensor<?x3xf32>) {
  %c = kiln.concat %x, %z, %y {axis = 0 : i64} : (tensor<?x3xf32>, tensor<2x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
  %p:3 = kiln.split %c like %y, %z, %x {axis = 0 : i64} : tensor<?x3xf32> like tensor<?x3xf32>, tensor<2x3xf32>, tensor<?x3xf32> -> tensor<?x3xf32>, tensor<2x3xf32>, tensor<?x3xf32>
  return %c, %p#0, %p#1, %p#2 : tensor<?x3xf32>, tensor<?x3xf32>, tensor<2x3xf32>, tensor<?x3xf32>
}
"""
    c, p0, p1, p2 = runner.run(mlir, [x, y, z])
    joined = np.concatenate([x, z, y], 0)
    np.testing.assert_array_equal(c, joined)
    np.testing.assert_array_equal(p0, joined[:more])
    np.testing.assert_array_equal(p1, joined[more:more + 2])
    np.testing.assert_array_equal(p2, joined[more + 2:])
    cut = """func.func @f(%x: tensor<?x3xf32>, %a: tensor<?x1xf32>, %b: tensor<?x2xf32>)
    -> (tensor<?x3xf32>, tensor<?x3xf32>) {
  %p:2 = kiln.split %x like %a, %b {axis = 0 : i64} : tensor<?x3xf32> like tensor<?x1xf32>, tensor<?x2xf32> -> tensor<?x3xf32>, tensor<?x3xf32>
  return %p#0, %p#1 : tensor<?x3xf32>, tensor<?x3xf32>
}
"""
    a = np.zeros((rows, 1), np.float32)
    b = np.zeros((more, 2), np.float32)
    both = np.concatenate([x, y], 0)
    p0, p1 = runner.run(cut, [both, a, b])
    np.testing.assert_array_equal(p0, both[:rows])
    np.testing.assert_array_equal(p1, both[rows:])
    runner.run(cut, [both, a, np.zeros((more + 1, 2), np.float32)],
               expect_error="kiln.split: the pieces' extents along axis 0 do not add up to the input's")


@pytest.mark.parametrize("shape", [(2, 3, 4, 2), (1, 1, 4, 2), (5, 2, 4, 2)])
def test_reshape_keeping_several_open_extents(runner, shape):
    # Heads merged and split with batch and time open: each open extent
    # keeps its value (no `like`), checked against NumPy.
    x = rand(shape, np.float32)
    mlir = """func.func @f(%x: tensor<?x?x4x2xf32>) -> (tensor<?x?x8xf32>, tensor<?x2x?x1x4xf32>) {
  %m = kiln.reshape %x : tensor<?x?x4x2xf32> -> tensor<?x?x8xf32>
  %t = kiln.reshape %m : tensor<?x?x8xf32> -> tensor<?x2x?x1x4xf32>
  return %m, %t : tensor<?x?x8xf32>, tensor<?x2x?x1x4xf32>
}
"""
    m, t = runner.run(mlir, [x])
    np.testing.assert_array_equal(m, x.reshape(shape[0], shape[1], 8))
    np.testing.assert_array_equal(t, x.reshape(shape[0], 2, shape[1], 1, 4))


def test_open_extents_found_by_random_programs(runner):
    # Three programs the random-program generator reduced: a flattened
    # expand_dims compared with its input (its reshape, folded into the
    # comparison, made a memref.expand_shape with two open extents in one
    # group, which crashed upstream's lowering); an expand_dims of an empty
    # tensor with an open extent (refused by the lowering); a log_softmax
    # transposed [1, 2, 0] (its partial blocks read with a transposed mask).
    x = rand((1, 5), np.float32, -2, 2)  # (the flattened x meets x's rows: one row)
    (out,) = runner.run("""func.func @f(%v0: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %v2 = kiln.expand_dims %v0 {axis = 1 : i64} : tensor<?x?xf32> -> tensor<?x1x?xf32>
  %v3 = kiln.reshape %v2 : tensor<?x1x?xf32> -> tensor<?xf32>
  %v4 = kiln.compare gt, %v3, %v0 : tensor<?xf32>, tensor<?x?xf32> -> tensor<?x?xi1>
  %v5 = kiln.select %v4, %v3, %v0 : tensor<?x?xi1>, tensor<?xf32>, tensor<?x?xf32> -> tensor<?x?xf32>
  return %v5 : tensor<?x?xf32>
}
""", [x])
    flat = x.reshape(-1)
    np.testing.assert_array_equal(out, np.where(flat > x, flat, x))
    (empty,) = runner.run("""func.func @f(%v0: tensor<0x?xf64>) -> tensor<0x?x1xf64> {
  %v3 = kiln.expand_dims %v0 {axis = -1 : i64} : tensor<0x?xf64> -> tensor<0x?x1xf64>
  return %v3 : tensor<0x?x1xf64>
}
""", [np.zeros((0, 5))])
    assert empty.shape == (0, 5, 1)
    z = rand((20, 1, 37), np.float32, -3, 3)
    (t,) = runner.run("""func.func @f(%v0: tensor<?x1x?xf32>) -> tensor<1x?x?xf32> {
  %v1 = kiln.log_softmax %v0 {axis = -1 : i64} : tensor<?x1x?xf32> -> tensor<?x1x?xf32>
  %v2 = kiln.transpose %v1 {permutation = array<i64: 1, 2, 0>} : tensor<?x1x?xf32> -> tensor<1x?x?xf32>
  return %v2 : tensor<1x?x?xf32>
}
""", [z])
    z64 = z.astype(np.float64)
    lsm = z64 - z64.max(-1, keepdims=True)
    lsm -= np.log(np.exp(lsm).sum(-1, keepdims=True))
    np.testing.assert_allclose(t, lsm.transpose(1, 2, 0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cols", [1, 5, 15, 16, 17, 100])
def test_elementwise_open_extents(runner, cols):
    # An open innermost extent: whole vectors, then a masked one for floats
    # and a scalar loop for integers (whose division must not see padding).
    x = rand((3, cols), np.float32, -3, 3)
    a, b = rand((3, cols), np.int32, -50, 50), rand((3, cols), np.int32, 1, 9)
    mlir = """func.func @f(%x: tensor<?x?xf32>, %a: tensor<?x?xi32>, %b: tensor<?x?xi32>)
    -> (tensor<?x?xf32>, tensor<?x?xi32>) {
  %e = kiln.exp %x : tensor<?x?xf32>
  %q = kiln.div %a, %b : tensor<?x?xi32>, tensor<?x?xi32> -> tensor<?x?xi32>
  return %e, %q : tensor<?x?xf32>, tensor<?x?xi32>
}
"""
    e, q = runner.run(mlir, [x, a, b])
    np.testing.assert_allclose(e, np.exp(x.astype(np.float64)), rtol=2e-6)
    np.testing.assert_array_equal(q, np.trunc(a / b).astype(np.int32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (7, 3, 5), (67, 300, 129), (130, 513, 97),
                                   (16, 256, 64)])
def test_matmul_open_extents(runner, dtype, m, k, n):
    # Every extent open: full register tiles and K panels are static, the
    # edge tiles are vectorized with masks and the last K panel has an open
    # depth.
    a, b = rand((m, k), dtype, -1, 1), rand((k, n), dtype, -1, 1)
    t = "f32" if dtype == np.float32 else "f64"
    mlir = f"""func.func @f(%a: tensor<?x?x{t}>, %b: tensor<?x?x{t}>) -> tensor<?x?x{t}> {{
  %m = kiln.matmul %a, %b : tensor<?x?x{t}>, tensor<?x?x{t}> -> tensor<?x?x{t}>
  return %m : tensor<?x?x{t}>
}}
"""
    (out,) = runner.run(mlir, [a, b])
    tol = dict(rtol=1e-4, atol=1e-4 * np.sqrt(k)) if dtype == np.float32 \
        else SUM_TOL[np.float64]
    np.testing.assert_allclose(out, a.astype(np.float64) @ b.astype(np.float64), **tol)


def test_batch_matmul(runner):
    a, b = rand((2, 1, 4, 5)), rand((3, 5, 2))
    check(runner, "kiln.batch_matmul %a0, %a1 : {T0}, {T1} -> {R}", [a, b], np.matmul(a, b),
          **SUM_TOL[np.float32])
    c, d = rand((4, 5), np.float64), rand((6, 5, 2), np.float64)
    check(runner, "kiln.batch_matmul %a0, %a1 : {T0}, {T1} -> {R}", [c, d], np.matmul(c, d),
          **SUM_TOL[np.float64])


@pytest.mark.parametrize("batch,m", [(1, 1), (3, 4), (7, 33), (0, 2)])
def test_batch_matmul_open_extents(runner, batch, m):
    # Open batch and row extents (attention over an open batch): a batch
    # broadcast from a static 1, one shared, and the batch that must agree;
    # one compiled entry for every size, checked against NumPy.
    a = rand((batch, 2, m, 5), np.float32)
    b = rand((1, 2, 5, 3), np.float32)
    c = rand((batch, 2, 3, 6), np.float32)
    mlir = """func.func @f(%a: tensor<?x2x?x5xf32>, %b: tensor<1x2x5x3xf32>, %c: tensor<?x2x3x6xf32>)
    -> (tensor<?x2x?x3xf32>, tensor<?x2x?x6xf32>) {
  %p = kiln.batch_matmul %a, %b : tensor<?x2x?x5xf32>, tensor<1x2x5x3xf32> -> tensor<?x2x?x3xf32>
  %q = kiln.batch_matmul %p, %c : tensor<?x2x?x3xf32>, tensor<?x2x3x6xf32> -> tensor<?x2x?x6xf32>
  return %p, %q : tensor<?x2x?x3xf32>, tensor<?x2x?x6xf32>
}
"""
    p, q = runner.run(mlir, [a, b, c])
    want = np.matmul(a.astype(np.float64), b)
    np.testing.assert_allclose(p, want, **SUM_TOL[np.float32])
    np.testing.assert_allclose(q, np.matmul(want, c), rtol=1e-4, atol=1e-4)
    if batch:
        runner.run(mlir, [a, b, c[:batch - 1]],
                   expect_error="batch dimension 0 of the rhs of 'kiln.batch_matmul' does not match")


# --- convolution and pooling references (direct loops; shapes are small) ---

def window_pads(size, k, stride, dilation, same):
    keff = (k - 1) * dilation + 1
    if same:
        out = -(-size // stride)
        total = max((out - 1) * stride + keff - size, 0)
        return out, total // 2, total - total // 2
    return (size - keff) // stride + 1, 0, 0


def conv_ref(x, w, strides, dilations, same):
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    oh, ph, _ = window_pads(h, kh, strides[0], dilations[0], same)
    ow, pw, _ = window_pads(wd, kw, strides[1], dilations[1], same)
    y = np.zeros((n, oh, ow, o), np.float64)
    for i in range(kh):
        for j in range(kw):
            for yy in range(oh):
                for xx in range(ow):
                    hh = yy * strides[0] + i * dilations[0] - ph
                    ww = xx * strides[1] + j * dilations[1] - pw
                    if 0 <= hh < h and 0 <= ww < wd:
                        y[:, yy, xx, :] += x[:, hh, ww, :] @ w[i, j]
    return y


def conv_grads(x, w, dy, strides, dilations, same):
    """Input and filter gradients of conv_ref (transposed loops)."""
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    oh, ph, _ = window_pads(h, kh, strides[0], dilations[0], same)
    ow, pw, _ = window_pads(wd, kw, strides[1], dilations[1], same)
    dx = np.zeros(x.shape, np.float64)
    dw = np.zeros(w.shape, np.float64)
    for i in range(kh):
        for j in range(kw):
            for yy in range(oh):
                for xx in range(ow):
                    hh = yy * strides[0] + i * dilations[0] - ph
                    ww = xx * strides[1] + j * dilations[1] - pw
                    if 0 <= hh < h and 0 <= ww < wd:
                        dx[:, hh, ww, :] += dy[:, yy, xx, :] @ w[i, j].T
                        dw[i, j] += x[:, hh, ww, :].T @ dy[:, yy, xx, :]
    return dx, dw


CONV_CASES = [((1, 6, 6, 2), (3, 3, 2, 4), (1, 1), (1, 1), False),
              ((2, 7, 5, 3), (3, 2, 3, 2), (2, 2), (1, 1), True),
              ((1, 9, 9, 1), (3, 3, 1, 2), (1, 2), (2, 1), True),
              ((1, 8, 8, 2), (2, 2, 2, 3), (3, 3), (1, 1), False)]


def conv_attrs(strides, dilations, same):
    pad = "SAME" if same else "VALID"
    return (f"{{padding = #kiln.padding<{pad}>, strides = array<i64: {strides[0]}, {strides[1]}>,"
            f" dilations = array<i64: {dilations[0]}, {dilations[1]}>}}")


@pytest.mark.parametrize("xs,ws,strides,dilations,same", CONV_CASES)
def test_conv2d_and_gradients(runner, xs, ws, strides, dilations, same):
    x, w = rand(xs), rand(ws)
    y = conv_ref(x.astype(np.float64), w.astype(np.float64), strides, dilations, same)
    attrs = conv_attrs(strides, dilations, same)
    check(runner, f"kiln.conv2d %a0, %a1 {attrs} : {{T0}}, {{T1}} -> {{R}}", [x, w],
          y.astype(np.float32), **SUM_TOL[np.float32])
    dy = rand(y.shape)
    dx, dw = conv_grads(x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64),
                        strides, dilations, same)
    check(runner, f"kiln.conv2d_backprop_input %a0, %a1 {attrs} : {{T0}}, {{T1}} -> {{R}}",
          [w, dy], dx.astype(np.float32), **SUM_TOL[np.float32])
    check(runner, f"kiln.conv2d_backprop_filter %a0, %a1 {attrs} : {{T0}}, {{T1}} -> {{R}}",
          [x, dy], dw.astype(np.float32), **SUM_TOL[np.float32])


# Shapes the CPU computes directly (kiln-cpu-tile-convolutions: filters a
# whole number of vectors, output rows split into register tiles), with
# strides, dilations, SAME padding, two filter tiles, and a prime output
# width that keeps the patch copy; f64 halves the lanes.
DIRECT_CONV_CASES = [((2, 10, 12, 16), (3, 3, 16, 16), (1, 1), (1, 1), False),
                     ((1, 9, 11, 16), (3, 3, 16, 32), (2, 2), (1, 1), True),
                     ((1, 12, 12, 32), (2, 2, 32, 16), (1, 1), (2, 2), False),
                     ((2, 5, 19, 16), (1, 3, 16, 16), (1, 1), (1, 1), False),
                     # Few input channels: the filter gradient's register
                     # rows are the window positions.
                     ((2, 12, 10, 1), (3, 3, 1, 16), (1, 1), (1, 1), False),
                     ((1, 11, 13, 2), (2, 3, 2, 16), (2, 1), (1, 2), True),
                     # ... with enough output pixels for the images to be
                     # summed in 3 groups (partial results added in order).
                     ((6, 34, 34, 1), (3, 3, 1, 16), (1, 1), (1, 1), False),
                     # 16 channels in 3 image groups too.
                     ((6, 34, 34, 16), (3, 3, 16, 16), (1, 1), (1, 1), False)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("xs,ws,strides,dilations,same", DIRECT_CONV_CASES)
def test_conv2d_direct_strategy(runner, xs, ws, strides, dilations, same, dtype):
    x, w = rand(xs, dtype), rand(ws, dtype)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    y = conv_ref(x64, w64, strides, dilations, same)
    attrs = conv_attrs(strides, dilations, same)
    tol = SUM_TOL[dtype]
    # Rounding grows with the square root of the terms summed per element:
    # KH * KW * C for the convolution (144 in the 16-channel cases, where an
    # output near zero after cancellation misses a fixed atol), KH * KW * F
    # for the input gradient.
    kh, kw, c, f = ws
    check(runner, f"kiln.conv2d %a0, %a1 {attrs} : {{T0}}, {{T1}} -> {{R}}", [x, w],
          y.astype(dtype), **dict(tol, atol=tol["atol"] * np.sqrt(kh * kw * c)))
    dy = rand(y.shape, dtype)
    dx, dw = conv_grads(x64, w64, dy.astype(np.float64), strides, dilations, same)
    check(runner, f"kiln.conv2d_backprop_input %a0, %a1 {attrs} : {{T0}}, {{T1}} -> {{R}}",
          [w, dy], dx.astype(dtype), **dict(tol, atol=tol["atol"] * np.sqrt(kh * kw * f)))
    # The filter gradient sums N * OH * OW products per element (6144 in
    # the largest case): rounding grows with the square root of that.
    terms = dy.shape[0] * dy.shape[1] * dy.shape[2]
    filter_tol = dict(tol, atol=tol["atol"] * np.sqrt(terms))
    check(runner, f"kiln.conv2d_backprop_filter %a0, %a1 {attrs} : {{T0}}, {{T1}} -> {{R}}",
          [x, dy], dw.astype(dtype), **filter_tol)


def pool_ref(x, window, strides, same, kind):
    n, h, wd, c = x.shape
    oh, ph, _ = window_pads(h, window[0], strides[0], 1, same)
    ow, pw, _ = window_pads(wd, window[1], strides[1], 1, same)
    y = np.zeros((n, oh, ow, c), np.float64)
    dx_routes = []
    for yy in range(oh):
        for xx in range(ow):
            h0, w0 = yy * strides[0] - ph, xx * strides[1] - pw
            hs = range(max(h0, 0), min(h0 + window[0], h))
            ws = range(max(w0, 0), min(w0 + window[1], wd))
            patch = x[:, hs.start:hs.stop, ws.start:ws.stop, :]
            if kind == "max":
                y[:, yy, xx, :] = patch.max(axis=(1, 2))
            else:
                y[:, yy, xx, :] = patch.mean(axis=(1, 2))
            dx_routes.append((yy, xx, hs, ws))
    return y, dx_routes


def pool_grad_ref(x, dy, routes, kind):
    dx = np.zeros(x.shape, np.float64)
    for yy, xx, hs, ws in routes:
        patch = x[:, hs.start:hs.stop, ws.start:ws.stop, :]
        if kind == "avg":
            dx[:, hs.start:hs.stop, ws.start:ws.stop, :] += (
                dy[:, yy, xx, None, None, :] / (len(hs) * len(ws)))
            continue
        flat = patch.reshape(patch.shape[0], -1, patch.shape[3])
        first = flat.argmax(axis=1)  # first maximum, row-major
        for b in range(x.shape[0]):
            for ch in range(x.shape[3]):
                i, j = divmod(first[b, ch], len(ws))
                dx[b, hs.start + i, ws.start + j, ch] += dy[b, yy, xx, ch]
    return dx


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("xs,window,strides,same", [
    ((1, 4, 4, 2), (2, 2), (2, 2), False), ((2, 5, 7, 3), (3, 3), (2, 2), True),
    ((1, 6, 5, 1), (2, 3), (1, 2), True),
    # Enough channels for the CPU's vectorized path (16, 8 lanes of f32).
    ((2, 6, 6, 16), (2, 2), (2, 2), False), ((1, 7, 7, 8), (3, 3), (2, 2), True)])
def test_pooling_and_gradients(runner, kind, xs, window, strides, same):
    x = rand(xs)
    x[0, 0, 0, 0] = x[0, 0, 1, 0] = 5.0  # a tie inside one window
    y, routes = pool_ref(x.astype(np.float64), window, strides, same, kind)
    pad = "SAME" if same else "VALID"
    attrs = (f"{{window = array<i64: {window[0]}, {window[1]}>, strides = array<i64: "
             f"{strides[0]}, {strides[1]}>, padding = #kiln.padding<{pad}>}}")
    check(runner, f"kiln.{kind}_pool2d %a0 {attrs} : {{T0}} -> {{R}}", [x],
          y.astype(np.float32), **F_TOL[np.float32])
    dy = rand(y.shape)
    dx = pool_grad_ref(x.astype(np.float64), dy.astype(np.float64), routes, kind)
    if kind == "max":
        check(runner, f"kiln.max_pool2d_grad %a0, %a1 {attrs} : {{T0}}, {{T1}} -> {{R}}",
              [x, dy], dx.astype(np.float32), **F_TOL[np.float32])
        # max_pool2d_select picks source at each window's first maximum.
        src = rand(x.shape)
        picked = np.zeros(y.shape)
        for yy, xx, hs, ws in routes:
            patch = x[:, hs.start:hs.stop, ws.start:ws.stop, :].astype(np.float64)
            first = patch.reshape(patch.shape[0], -1, patch.shape[3]).argmax(axis=1)
            for b in range(x.shape[0]):
                for ch in range(x.shape[3]):
                    i, j = divmod(first[b, ch], len(ws))
                    picked[b, yy, xx, ch] = src[b, hs.start + i, ws.start + j, ch]
        check(runner, f"kiln.max_pool2d_select %a0, %a1 {attrs} : {{T0}}, {{T1}} -> {{R}}",
              [x, src], picked.astype(np.float32), **F_TOL[np.float32])
    else:
        mlir = func(f"kiln.avg_pool2d_grad %a0 {attrs} : {{T0}} -> {{R}}", [dy],
                    (x.shape, np.float32))
        (out,) = runner.run(mlir, [dy])
        np.testing.assert_allclose(out, dx, **F_TOL[np.float32])


def softmax_np(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax(runner, axis, dtype):
    x = rand((4, 5), dtype, -30, 30)
    x[0, 0] = 500.0  # would overflow without the max subtraction
    check(runner, f"kiln.softmax %a0 {{axis = {axis} : i64}} : {{T0}} -> {{R}}", [x],
          softmax_np(x, axis), **F_TOL[dtype])
    check(runner, f"kiln.log_softmax %a0 {{axis = {axis} : i64}} : {{T0}} -> {{R}}", [x],
          np.log(np.maximum(softmax_np(x.astype(np.float64), axis), 1e-300)).astype(dtype)
          if dtype == np.float64 else
          (x - x.max(axis=axis, keepdims=True)) - np.log(np.exp(x - x.max(axis=axis, keepdims=True)).sum(axis=axis, keepdims=True)),
          **SUM_TOL[dtype])


def test_cross_entropy(runner):
    logits = rand((6, 5), np.float32, -20, 20)
    logits[0, 1] = 400.0
    labels = softmax_np(rand((6, 5), np.float64), -1).astype(np.float32)
    lse = np.log(np.exp(logits.astype(np.float64) - logits.max(-1, keepdims=True)).sum(-1)) \
        + logits.max(-1)
    expected = (labels * (lse[:, None] - logits)).sum(-1)
    check(runner, "kiln.softmax_cross_entropy %a0, %a1 : {T0}, {T1} -> {R}",
          [logits, labels], expected.astype(np.float32), **SUM_TOL[np.float32])
    ids = np.array([0, 4, 2, 7, -1, 1], np.int32)  # 7 and -1 out of range -> NaN
    picked = logits[np.arange(6), np.clip(ids, 0, 4)]
    sparse = np.where((ids >= 0) & (ids < 5), lse - picked, np.nan)
    check(runner, "kiln.sparse_softmax_cross_entropy %a0, %a1 : {T0}, {T1} -> {R}",
          [logits, ids], sparse.astype(np.float32), **SUM_TOL[np.float32])


@pytest.mark.parametrize("dtype", FLOATS)
def test_cross_entropy_of_large_logits_keeps_its_digits(runner, dtype):
    # Logits far from 0 (1000 + a few units): the loss, a few units, must
    # not carry the rounding of 1000 + logsum (one ulp of 1000 is 6e-5 in
    # f32, 30 times the loss's own ulp). The oracle shifts by the maximum
    # first, in f64.
    x = (1000.0 + rand((5, 7), np.float64, -3, 3)).astype(dtype)
    x[1] = 50.0  # equal logits: log 7
    x64 = x.astype(np.float64)
    shifted = x64 - x64.max(-1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(-1))
    ids = np.array([0, 3, 6, 2, 5], np.int32)
    tol = dict(rtol=3e-7, atol=0) if dtype == np.float32 else dict(rtol=1e-14, atol=0)
    check(runner, "kiln.sparse_softmax_cross_entropy %a0, %a1 : {T0}, {T1} -> {R}",
          [x, ids], (lse - shifted[np.arange(5), ids]).astype(dtype), **tol)
    labels = softmax_np(rand((5, 7), np.float64), -1).astype(dtype)
    check(runner, "kiln.softmax_cross_entropy %a0, %a1 : {T0}, {T1} -> {R}",
          [x, labels], (labels * (lse[:, None] - shifted)).sum(-1).astype(dtype),
          rtol=2e-6 if dtype == np.float32 else 1e-14, atol=0)


def test_mean_sparse_cross_entropy_over_a_long_batch(runner):
    # The per-row losses and their sum over the batch fuse into one
    # reduction whose body picks each row's label logit by its index: a
    # 64-row batch must not be split into vector accumulators (the split
    # loops' indices are not the row's).
    logits = rand((64, 10), np.float32, -5, 5)
    ids = RNG.integers(0, 10, 64).astype(np.int64)
    mlir = """
func.func @f(%x: tensor<64x10xf32>, %y: tensor<64xi64>) -> tensor<f32> {
  %l = kiln.sparse_softmax_cross_entropy %x, %y : tensor<64x10xf32>, tensor<64xi64> -> tensor<64xf32>
  %m = kiln.reduce_mean %l {axes = array<i64: 0>} : tensor<64xf32> -> tensor<f32>
  return %m : tensor<f32>
}
"""
    (out,) = runner.run(mlir, [logits, ids])
    x = logits.astype(np.float64)
    lse = np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1)) + x.max(-1)
    expected = (lse - x[np.arange(64), ids]).mean()
    np.testing.assert_allclose(out, expected, rtol=1e-5)


# --- random numbers: a Python model of the counter-based generator ---

M64 = (1 << 64) - 1


def mix64(x):
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & M64
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & M64
    return x ^ (x >> 31)


def uniform_model(seed, n):
    key = mix64((seed ^ 0x6A09E667F3BCC909) & M64)
    return np.array([(mix64((key + (c + 1) * 0x9E3779B97F4A7C15) & M64) >> 11) * 2.0 ** -53
                     for c in range(n)])


def test_random_uniform_matches_model(runner):
    mlir = ("func.func @f() -> tensor<4x5xf64> {\n"
            "  %r = kiln.random_uniform {static_seed = 42 : i64, minval = -1.0 : f64,"
            " maxval = 3.0 : f64} : tensor<4x5xf64>\n  return %r : tensor<4x5xf64>\n}\n")
    (out,) = runner.run(mlir, [])
    np.testing.assert_allclose(out.ravel(), -1 + 4 * uniform_model(42, 20), rtol=1e-15)
    (again,) = runner.run(mlir, [])
    np.testing.assert_array_equal(out, again)


def normal_model(seed, n):
    """Box-Muller on the counters 2i and 2i + 1, as the lowering documents."""
    u = uniform_model(seed, 2 * n)
    return np.sqrt(-2 * np.log(1 - u[0::2])) * np.cos(2 * np.pi * u[1::2])


@pytest.mark.parametrize("rows,cols", [(3, 5), (1, 7), (0, 4), (6, 1)])
def test_random_open_extents_match_model(runner, rows, cols):
    # Open extents come from `like`: element i (row-major) is the same
    # number as in a static tensor of that shape, for every batch size.
    mlir = ("func.func @f(%seed: tensor<i64>, %x: tensor<?x?xf32>) -> (tensor<?x?xf64>,"
            " tensor<2x?xf64>) {\n"
            "  %u = kiln.random_uniform %seed like %x {minval = -2.0 : f64} :"
            " tensor<?x?xf64>, tensor<?x?xf32>\n"
            "  %n = kiln.random_normal like %x {static_seed = 5 : i64} :"
            " tensor<2x?xf64>, tensor<?x?xf32>\n"
            "  return %u, %n : tensor<?x?xf64>, tensor<2x?xf64>\n}\n")
    x = np.zeros((rows, cols), np.float32)
    u, n = runner.run(mlir, [np.array(11, np.int64), x])
    assert u.shape == (rows, cols) and n.shape == (2, cols)
    np.testing.assert_allclose(u.ravel(), -2 + 3 * uniform_model(11, rows * cols),
                               rtol=1e-15)
    np.testing.assert_allclose(n.ravel(), normal_model(5, 2 * cols), rtol=1e-12,
                               atol=1e-13)


def test_random_distributions(runner):
    mlir = ("func.func @f(%seed: tensor<i64>) -> (tensor<20000xf32>, tensor<20000xf32>,"
            " tensor<20000xf32>) {\n"
            "  %u = kiln.random_uniform %seed : tensor<20000xf32>\n"
            "  %n = kiln.random_normal %seed {mean = 1.0 : f64, stddev = 2.0 : f64}"
            " : tensor<20000xf32>\n"
            "  %t = kiln.truncated_normal %seed : tensor<20000xf32>\n"
            "  return %u, %n, %t : tensor<20000xf32>, tensor<20000xf32>, tensor<20000xf32>\n}\n")
    u, n, t = runner.run(mlir, [np.array(7, np.int64)])
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
    assert abs(n.mean() - 1.0) < 0.05 and abs(n.std() - 2.0) < 0.05
    assert np.abs(t).max() <= 2.0 and abs(t.mean()) < 0.03
    assert abs(t.std() - 0.8796) < 0.02  # std of N(0,1) truncated at +-2
    u2, _, _ = runner.run(mlir, [np.array(8, np.int64)])
    assert not np.array_equal(u, u2)


# --- control flow ---

def test_cond(runner):
    mlir = """
func.func @f(%p: tensor<i1>, %x: tensor<3xf32>) -> tensor<3xf32> {
  %r = kiln.cond %p -> (tensor<3xf32>) {
    %e = kiln.exp %x : tensor<3xf32>
    kiln.yield %e : tensor<3xf32>
  } else {
    %n = kiln.neg %x : tensor<3xf32>
    kiln.yield %n : tensor<3xf32>
  }
  return %r : tensor<3xf32>
}
"""
    x = rand((3,))
    (a,) = runner.run(mlir, [np.array(True), x])
    (b,) = runner.run(mlir, [np.array(False), x])
    np.testing.assert_allclose(a, np.exp(x), rtol=1e-6)
    np.testing.assert_array_equal(b, -x)


def test_while_and_for(runner):
    mlir = """
func.func @f(%x: tensor<f32>, %limit: tensor<f32>, %n: tensor<i64>) -> (tensor<f32>, tensor<f32>) {
  %w = kiln.while (%x : tensor<f32>) cond {
  ^bb0(%v: tensor<f32>):
    %c = kiln.compare lt, %v, %limit : tensor<f32>, tensor<f32> -> tensor<i1>
    kiln.condition(%c) %v : tensor<f32>
  } do {
  ^bb0(%v: tensor<f32>):
    %d = kiln.add %v, %v : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.yield %d : tensor<f32>
  }
  %zero = kiln.constant dense<0.0> : tensor<f32>
  %lb = kiln.constant dense<1> : tensor<i64>
  %step = kiln.constant dense<2> : tensor<i64>
  %s = kiln.for %lb to %n step %step iter_args(%zero : tensor<f32>) do {
  ^bb0(%i: tensor<i64>, %acc: tensor<f32>):
    %f = kiln.cast %i : tensor<i64> -> tensor<f32>
    %next = kiln.add %acc, %f : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.yield %next : tensor<f32>
  }
  return %w, %s : tensor<f32>, tensor<f32>
}
"""
    w, s = runner.run(mlir, [np.array(1.5, np.float32), np.array(100.0, np.float32),
                             np.array(10, np.int64)])
    assert w == 192.0  # 1.5 doubled until >= 100
    assert s == 1 + 3 + 5 + 7 + 9


def test_fused_chain_and_calls(runner):
    mlir = """
func.func private @affine(%x: tensor<4x3xf32>, %w: tensor<3x2xf32>) -> tensor<4x2xf32> {
  %0 = kiln.matmul %x, %w : tensor<4x3xf32>, tensor<3x2xf32> -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}
func.func @f(%x: tensor<4x3xf32>, %w: tensor<3x2xf32>, %b: tensor<2xf32>) -> tensor<4x2xf32> {
  %0 = func.call @affine(%x, %w) : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  %1 = kiln.add %0, %b : tensor<4x2xf32>, tensor<2xf32> -> tensor<4x2xf32>
  %2 = kiln.tanh %1 : tensor<4x2xf32>
  %3 = kiln.mul %2, %2 : tensor<4x2xf32>, tensor<4x2xf32> -> tensor<4x2xf32>
  return %3 : tensor<4x2xf32>
}
"""
    x, w, b = rand((4, 3)), rand((3, 2)), rand((2,))
    (out,) = runner.run(mlir, [x, w, b])
    np.testing.assert_allclose(out, np.tanh(x @ w + b) ** 2, rtol=1e-5, atol=1e-6)


def test_upstream_linalg_on_tensors(runner):
    mlir = """
func.func @f(%a: tensor<3x4xf32>, %b: tensor<4x5xf32>) -> tensor<3x5xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<3x5xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<3x5xf32>) -> tensor<3x5xf32>
  %r = linalg.matmul ins(%a, %b : tensor<3x4xf32>, tensor<4x5xf32>) outs(%f : tensor<3x5xf32>) -> tensor<3x5xf32>
  return %r : tensor<3x5xf32>
}
"""
    a, b = rand((3, 4)), rand((4, 5))
    (out,) = runner.run(mlir, [a, b])
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch", [1, 3, 0])
@pytest.mark.parametrize("channels", [2, 16])
def test_windows_over_an_open_batch(runner, batch, channels):
    # Convolutions, pooling and their gradients with the batch open (one
    # compiled entry for every size; 16 channels take the CPU's direct and
    # vectorized paths where they apply), against the loop references.
    x = rand((batch, 7, 6, channels))
    w = rand((3, 3, channels, 4))
    dy = rand((batch, 4, 3, 4))
    dp = rand((batch, 4, 3, channels))
    src = rand((batch, 7, 6, channels))
    c = channels
    conv = "{padding = #kiln.padding<SAME>, strides = array<i64: 2, 2>}"
    pool = "{window = array<i64: 3, 2>, strides = array<i64: 2, 2>, padding = #kiln.padding<SAME>}"
    mlir = f"""func.func @f(%x: tensor<?x7x6x{c}xf32>, %w: tensor<3x3x{c}x4xf32>,
    %dy: tensor<?x4x3x4xf32>, %dp: tensor<?x4x3x{c}xf32>, %src: tensor<?x7x6x{c}xf32>)
    -> (tensor<?x4x3x4xf32>, tensor<?x7x6x{c}xf32>, tensor<3x3x{c}x4xf32>, tensor<?x4x3x{c}xf32>,
        tensor<?x4x3x{c}xf32>, tensor<?x7x6x{c}xf32>, tensor<?x7x6x{c}xf32>, tensor<?x4x3x{c}xf32>) {{
  %y = kiln.conv2d %x, %w {conv} : tensor<?x7x6x{c}xf32>, tensor<3x3x{c}x4xf32> -> tensor<?x4x3x4xf32>
  %dx = kiln.conv2d_backprop_input %w, %dy {conv} : tensor<3x3x{c}x4xf32>, tensor<?x4x3x4xf32> -> tensor<?x7x6x{c}xf32>
  %dw = kiln.conv2d_backprop_filter %x, %dy {conv} : tensor<?x7x6x{c}xf32>, tensor<?x4x3x4xf32> -> tensor<3x3x{c}x4xf32>
  %mp = kiln.max_pool2d %x {pool} : tensor<?x7x6x{c}xf32> -> tensor<?x4x3x{c}xf32>
  %ap = kiln.avg_pool2d %x {pool} : tensor<?x7x6x{c}xf32> -> tensor<?x4x3x{c}xf32>
  %mg = kiln.max_pool2d_grad %x, %dp {pool} : tensor<?x7x6x{c}xf32>, tensor<?x4x3x{c}xf32> -> tensor<?x7x6x{c}xf32>
  %ag = kiln.avg_pool2d_grad %dp {pool} : tensor<?x4x3x{c}xf32> -> tensor<?x7x6x{c}xf32>
  %ms = kiln.max_pool2d_select %x, %src {pool} : tensor<?x7x6x{c}xf32>, tensor<?x7x6x{c}xf32> -> tensor<?x4x3x{c}xf32>
  return %y, %dx, %dw, %mp, %ap, %mg, %ag, %ms : tensor<?x4x3x4xf32>, tensor<?x7x6x{c}xf32>,
      tensor<3x3x{c}x4xf32>, tensor<?x4x3x{c}xf32>, tensor<?x4x3x{c}xf32>, tensor<?x7x6x{c}xf32>,
      tensor<?x7x6x{c}xf32>, tensor<?x4x3x{c}xf32>
}}
"""
    y, dx, dw, mp, ap, mg, ag, ms = runner.run(mlir, [x, w, dy, dp, src])
    x64, w64, dy64, dp64 = (a.astype(np.float64) for a in (x, w, dy, dp))
    tol = dict(rtol=1e-4, atol=1e-4 * np.sqrt(9 * max(channels, 4) * max(batch, 1) * 12))
    np.testing.assert_allclose(y, conv_ref(x64, w64, (2, 2), (1, 1), True), **tol)
    want_dx, want_dw = conv_grads(x64, w64, dy64, (2, 2), (1, 1), True)
    np.testing.assert_allclose(dx, want_dx, **tol)
    np.testing.assert_allclose(dw, want_dw, **tol)
    for kind, pooled, grad in (("max", mp, mg), ("avg", ap, ag)):
        want, routes = pool_ref(x64, (3, 2), (2, 2), True, kind)
        np.testing.assert_allclose(pooled, want, rtol=1e-6, atol=1e-6)
        want_grad = pool_grad_ref(x64, dp64, routes, kind) if batch else np.zeros(x.shape)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-5)
    want_ms = np.zeros(mp.shape)
    for yy, xx, hs, ws in routes:
        patch = x64[:, hs.start:hs.stop, ws.start:ws.stop, :]
        first = patch.reshape(patch.shape[0], -1, patch.shape[3]).argmax(axis=1) \
            if batch else np.zeros((0, channels), int)
        for b in range(batch):
            for ch in range(channels):
                i, j = divmod(first[b, ch], len(ws))
                want_ms[b, yy, xx, ch] = src[b, hs.start + i, ws.start + j, ch]
    np.testing.assert_array_equal(ms, want_ms.astype(np.float32))
    if batch:
        runner.run(mlir, [x, w, dy[:batch - 1], dp, src],
                   expect_error="the batch extents of input and out_backprop of "
                                "'kiln.conv2d_backprop_filter' differ")


@pytest.mark.parametrize("batch", [1, 4, 0])
def test_gather_and_scatter_rows_of_open_tables(runner, batch):
    # A time-major sequence [T, N, F] with the batch open: the step t a
    # recurrent loop reads (a gather along the fixed time axis, the table
    # open elsewhere) and its gradient (a scatter_add of an open slice into
    # a base of the same extents); a gather along a fixed middle axis with
    # open extents before and after it. NumPy is the oracle.
    seq = rand((5, batch, 3))
    step = rand((batch, 3))
    ids = np.array([[4, 0], [2, 2]], np.int32)
    t = np.array(3, np.int32)
    mlir = """func.func @f(%seq: tensor<5x?x3xf32>, %t: tensor<i32>, %step: tensor<?x3xf32>,
    %ids: tensor<2x2xi32>, %m: tensor<?x5x?xf32>)
    -> (tensor<?x3xf32>, tensor<5x?x3xf32>, tensor<?x2x2x?xf32>, tensor<?x5x?xf32>) {
  %row = kiln.gather %seq, %t : tensor<5x?x3xf32>, tensor<i32> -> tensor<?x3xf32>
  %back = kiln.scatter_add %seq, %t, %step {axis = 0 : i64} : tensor<5x?x3xf32>, tensor<i32>, tensor<?x3xf32> -> tensor<5x?x3xf32>
  %g = kiln.gather %m, %ids {axis = 1 : i64} : tensor<?x5x?xf32>, tensor<2x2xi32> -> tensor<?x2x2x?xf32>
  %s = kiln.scatter_add %m, %ids, %g {axis = 1 : i64} : tensor<?x5x?xf32>, tensor<2x2xi32>, tensor<?x2x2x?xf32> -> tensor<?x5x?xf32>
  return %row, %back, %g, %s : tensor<?x3xf32>, tensor<5x?x3xf32>, tensor<?x2x2x?xf32>, tensor<?x5x?xf32>
}
"""
    m = rand((batch, 5, 2))
    row, back, g, s = runner.run(mlir, [seq, t, step, ids, m])
    np.testing.assert_array_equal(row, seq[3])
    want = seq.astype(np.float64).copy()
    want[3] += step
    np.testing.assert_allclose(back, want, rtol=1e-6)
    np.testing.assert_array_equal(g, m[:, ids])
    want_s = m.astype(np.float64).copy()
    for i in np.ndindex(ids.shape):
        want_s[:, ids[i]] += m[:, ids[i]]
    np.testing.assert_allclose(s, want_s, rtol=1e-6)
    if batch:
        runner.run(mlir, [seq, t, step[:batch - 1], ids, m],
                   expect_error="scatter_add: dimension 0 of the updates does not match "
                                "dimension 1 of the base")


def test_loop_variables_keep_their_open_extents(runner):
    # A loop over rows of an open batch (each step adds x): one compiled
    # entry for every batch; a shape mismatch inside the loop is reported
    # when the code runs, naming the line, and a loop variable whose
    # extent would change is an error rather than a wrong output size.
    x = rand((3, 2))
    mlir = """func.func @f(%h: tensor<?x2xf32>, %x: tensor<?x2xf32>, %y: tensor<?x2xf32>, %n: tensor<i64>)
    -> (tensor<?x2xf32>, tensor<?x2xf32>) {
  %zero = kiln.constant dense<0> : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %r:2 = kiln.for %zero to %n step %one iter_args(%h, %h : tensor<?x2xf32>, tensor<?x2xf32>) do {
  ^bb0(%i: tensor<i64>, %acc: tensor<?x2xf32>, %other: tensor<?x2xf32>):
    %next = kiln.add %acc, %x : tensor<?x2xf32>, tensor<?x2xf32> -> tensor<?x2xf32>
    kiln.yield %next, %y : tensor<?x2xf32>, tensor<?x2xf32>
  }
  return %r#0, %r#1 : tensor<?x2xf32>, tensor<?x2xf32>
}
"""
    n = np.array(4, np.int64)
    out, other = runner.run(mlir, [x, x, x * 2, n])
    np.testing.assert_allclose(out, x * 5, rtol=1e-6)
    np.testing.assert_array_equal(other, x * 2)
    runner.run(mlir, [x, x[:2], x, n], cpu_only=True,
               expect_error="dimension 0 of operand #1 does not match the other operands")
    runner.run(mlir, [x, x, x[:1], n], cpu_only=True,
               expect_error="kiln.for: loop variable #1 changes its extent in dimension 0")
