"""Bitwise ops: tf.bitwise (shift amounts clamped as TensorFlow's kernels
clamp them), the tensor operators & | ^ ~ << >> (bitwise on integers,
logical on bools), Keras 3's keras.ops names, against NumPy, eagerly and
inside @kiln.function."""

import numpy as np
import pytest

import kiln
from conftest import central

RNG = np.random.default_rng(31)
INTS = [np.int32, np.int64]


def _values(dtype, shape):
    info = np.iinfo(dtype)
    edges = np.array([0, 1, -1, 7, -8, info.min, info.max, info.min + 1], dtype)
    wide = RNG.integers(info.min, info.max, size=int(np.prod(shape)), dtype=dtype,
                        endpoint=True)
    return np.concatenate([edges, wide])[:int(np.prod(shape))].reshape(shape)


def _amounts(dtype, shape):
    bits = np.iinfo(dtype).bits
    edges = np.array([0, 1, bits - 1, bits, bits + 5, -1, -bits, 3], dtype)
    wide = RNG.integers(-bits - 2, 2 * bits, size=int(np.prod(shape))).astype(dtype)
    return np.concatenate([edges, wide])[:int(np.prod(shape))].reshape(shape)


def _tf_shift(np_shift, x, y):
    """TensorFlow's LeftShift/RightShift kernels: the amount clamped to
    [0, width - 1], then C's shift (arithmetic to the right)."""
    bits = np.iinfo(x.dtype).bits
    return np_shift(x, np.clip(y, 0, bits - 1).astype(x.dtype))


TF_OPS = {
    "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or,
    "bitwise_xor": np.bitwise_xor,
    "left_shift": lambda x, y: _tf_shift(np.left_shift, x, y),
    "right_shift": lambda x, y: _tf_shift(np.right_shift, x, y),
}


@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("name", sorted(TF_OPS))
def test_tf_bitwise_against_numpy(name, dtype):
    x = _values(dtype, (3, 8))
    y = (_amounts if "shift" in name else _values)(dtype, (8,))
    expected = TF_OPS[name](x, y)
    op = getattr(kiln.bitwise, name)
    out = op(kiln.constant(x), kiln.constant(y))
    assert out.dtype == kiln.as_dtype(dtype)
    np.testing.assert_array_equal(out.numpy(), expected)
    traced = kiln.function(lambda a, b: op(a, b))
    np.testing.assert_array_equal(traced(kiln.constant(x), kiln.constant(y)).numpy(),
                                  expected)


def test_tf_shift_documented_examples():
    # tf.bitwise.left_shift's docstring: int32 [-1, -5, -3, -14] << [5, 0, 7, 11].
    x = kiln.constant([-1, -5, -3, -14], kiln.int32)
    np.testing.assert_array_equal(
        kiln.bitwise.left_shift(x, kiln.constant([5, 0, 7, 11], kiln.int32)).numpy(),
        [-32, -5, -384, -28672])
    # A negative amount leaves x as it is; a too large one shifts by width - 1.
    np.testing.assert_array_equal(kiln.bitwise.left_shift(x, -3).numpy(), x.numpy())
    np.testing.assert_array_equal(kiln.bitwise.right_shift(x, 99).numpy(), [-1] * 4)
    assert int(kiln.bitwise.left_shift(kiln.constant(1, kiln.int64), 70)) == -2**63
    np.testing.assert_array_equal(kiln.bitwise.invert(x).numpy(), [0, 4, 2, 13])


@pytest.mark.parametrize("dtype", INTS)
def test_operators_on_integers(dtype):
    x, y = _values(dtype, (2, 8)), _values(dtype, (8,))
    s = _amounts(dtype, (8,))
    tx, ty, ts = kiln.constant(x), kiln.constant(y), kiln.constant(s)

    def run(a, b, c):
        return a & b, a | b, a ^ b, ~a, a << c, a >> c, 6 & a, 5 | a, 3 ^ a, a << 2

    # << and >> are NumPy's: an amount outside [0, width) shifts every bit out.
    expected = (x & y, x | y, x ^ y, ~x, np.left_shift(x, s), np.right_shift(x, s),
                6 & x, 5 | x, 3 ^ x, np.left_shift(x, 2))
    for outs in (run(tx, ty, ts), kiln.function(run)(tx, ty, ts)):
        for got, want in zip(outs, expected):
            assert got.dtype == kiln.as_dtype(dtype)
            np.testing.assert_array_equal(got.numpy(), want.astype(dtype))


def test_operators_on_bools_stay_logical():
    p, q = RNG.random(6) < 0.5, RNG.random(6) < 0.5
    tp, tq = kiln.constant(p), kiln.constant(q)
    for got, want in [(tp & tq, p & q), (tp | tq, p | q), (tp ^ tq, p ^ q), (~tp, ~p),
                      (tp & True, p), (False | tp, p)]:
        assert got.dtype == kiln.bool
        np.testing.assert_array_equal(got.numpy(), want)


def test_shift_right_logical_and_arithmetic_ops():
    x = np.array([-8, -1, 8, np.iinfo(np.int32).min], np.int32)
    n = np.array([1, 31, 2, 32], np.int32)
    logical = np.right_shift(x.view(np.uint32), n.view(np.uint32)).view(np.int32)
    np.testing.assert_array_equal(
        kiln.ops.shift_right_logical(kiln.constant(x), kiln.constant(n)).numpy(), logical)
    np.testing.assert_array_equal(
        kiln.ops.shift_right_arithmetic(kiln.constant(x), kiln.constant(n)).numpy(),
        np.right_shift(x, n))


def test_bad_operands_are_type_errors():
    f = kiln.constant([1.0, 2.0])
    i32, i64 = kiln.constant([1, 2], kiln.int32), kiln.constant([1, 2], kiln.int64)
    with pytest.raises(TypeError, match="bitwise_and takes integer tensors, got float32"):
        f & f
    with pytest.raises(TypeError, match="bitwise_not takes integer tensors, got float32"):
        ~f
    with pytest.raises(TypeError, match="x is int32 and y is int64"):
        kiln.bitwise.bitwise_or(i32, i64)
    with pytest.raises(TypeError, match="integer tensors, got bool"):
        kiln.bitwise.left_shift(kiln.constant([True]), 1)
    with pytest.raises(TypeError, match="cannot convert 1.5 to an int32 tensor"):
        i32 << 1.5


def test_keras_ops_names_and_widening():
    ops = kiln.keras.ops
    a = np.array([12, -7, 5], np.int32)
    b = np.array([10, 3, 40], np.int64)
    out = ops.bitwise_and(kiln.constant(a), kiln.constant(b))
    assert out.dtype == kiln.int64
    np.testing.assert_array_equal(out.numpy(), a.astype(np.int64) & b)
    np.testing.assert_array_equal(ops.left_shift(kiln.constant(a), 2).numpy(), a << 2)
    np.testing.assert_array_equal(ops.bitwise_right_shift(kiln.constant(a), 99).numpy(),
                                  [0, -1, 0])
    np.testing.assert_array_equal(ops.bitwise_invert(kiln.constant(a)).numpy(), ~a)
    np.testing.assert_array_equal(ops.bitwise_not(kiln.constant(a)).numpy(), ~a)
    np.testing.assert_array_equal(ops.bitwise_xor([1, 2], [3, 3]).numpy(), [2, 1])


def test_integer_shifts_inside_a_differentiated_function():
    # Indices computed with shifts and masks pick rows of a float parameter:
    # the gradient flows around the integer ops (which carry none).
    w0 = RNG.normal(size=(8, 3))
    codes = np.array([0b101_010, 0b111_001, 0b000_110], np.int32)
    rows = (codes >> 3) & 7                       # [5, 7, 0]
    cols = codes & 7                              # [2, 1, 6]

    def loss_np(w):
        return float(np.sum(w[rows] ** 2 * w[cols % 8, 0:1]))

    def loss(w, c):
        r = kiln.bitwise.bitwise_and(kiln.bitwise.right_shift(c, 3), 7)
        k = c & 7
        return kiln.reduce_sum(kiln.square(kiln.gather(w, r)) * kiln.gather(w, k)[:, 0:1])

    w = kiln.Variable(w0)
    for step in (loss, kiln.function(loss)):
        with kiln.GradientTape() as tape:
            value = step(w, kiln.constant(codes))
        (g,) = tape.gradient(value, [w])
        np.testing.assert_allclose(float(value), loss_np(w0), rtol=1e-12)
        np.testing.assert_allclose(g.numpy(), central(loss_np, w0), rtol=1e-6, atol=1e-8)


def test_traced_shape_arithmetic_with_shifts():
    # A known extent >> 1 is a constant of the trace, usable as a shape.
    @kiln.function
    def halves(x):
        n = kiln.shape(x)[0] >> 1
        return kiln.reshape(x, [n, 2])

    x = np.arange(8.0)
    np.testing.assert_array_equal(halves(kiln.constant(x)).numpy(), x.reshape(4, 2))
