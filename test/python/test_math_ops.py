"""TensorFlow's everyday ops (issue 17, item 1), each against NumPy (or the
formula TensorFlow documents) eagerly and inside @kiln.function, and its
gradient against central finite differences in float64."""

import math

import numpy as np
import pytest

import kiln

RNG = np.random.default_rng(17)
X = RNG.uniform(-2, 2, (3, 4))            # no exact ties or zeros
POS = RNG.uniform(0.5, 2.0, (3, 4))


def _at(ufunc, x, index, values):
    """x with `values` combined in at `index` by ufunc.at (NumPy's
    unbuffered scatter)."""
    y = x.copy()
    ufunc.at(y, index, values)
    return y


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softplus(x):
    return np.log1p(np.exp(x))


# name -> (kiln function of one float64 tensor, NumPy oracle, input)
W1 = RNG.normal(size=(3, 1, 2))          # conv1d: width 3, 1 -> 2 channels
WT = RNG.normal(size=(2, 2, 3, 1))       # conv2d_transpose: 2x2, 1 -> 3 channels


def _np_conv1d(x):
    x = x.reshape(12, 1)
    return np.stack([sum(x[i + k, 0] * W1[k, 0] for k in range(3)) for i in range(10)])


def _np_conv2d_transpose(x):
    x = x.reshape(3, 4)
    out = np.zeros((6, 8, 3))
    for i in range(3):
        for j in range(4):
            out[2 * i:2 * i + 2, 2 * j:2 * j + 2, :] += x[i, j] * WT[:, :, :, 0]
    return out


UNARY = {
    "broadcast_to": (lambda x: kiln.broadcast_to(x[:1], (2, 3, 4)),
                     lambda x: np.broadcast_to(x[:1], (2, 3, 4)), X),
    "cumsum": (lambda x: kiln.cumsum(x, axis=1), lambda x: np.cumsum(x, 1), X),
    "cumsum_exclusive_reverse": (
        lambda x: kiln.cumsum(x, axis=0, exclusive=True, reverse=True),
        lambda x: np.flip(np.cumsum(np.flip(x, 0), 0), 0) - x, X),
    "cumprod": (lambda x: kiln.cumprod(x, axis=1), lambda x: np.cumprod(x, 1), X),
    "cumprod_exclusive": (lambda x: kiln.math.cumprod(x, axis=1, exclusive=True),
                          lambda x: np.concatenate([np.ones((3, 1)), np.cumprod(x, 1)[:, :-1]], 1), X),
    "conv1d": (lambda x: kiln.reshape(kiln.nn.conv1d(kiln.reshape(x, [1, 12, 1]),
                                                     kiln.constant(W1), 1, "VALID"), [10, 2]),
               _np_conv1d, X),
    "conv2d_transpose": (lambda x: kiln.reshape(kiln.nn.conv2d_transpose(
        kiln.reshape(x, [1, 3, 4, 1]), kiln.constant(WT), [1, 6, 8, 3], 2, "VALID"), [6, 8, 3]),
        _np_conv2d_transpose, X),
    "log1p": (kiln.math.log1p, np.log1p, POS),
    "expm1": (kiln.math.expm1, np.expm1, X),
    "rsqrt": (kiln.math.rsqrt, lambda x: 1 / np.sqrt(x), POS),
    "reciprocal": (kiln.math.reciprocal, lambda x: 1 / x, POS),
    "softplus": (kiln.math.softplus, _softplus, X * 10),
    "softsign": (kiln.math.softsign, lambda x: x / (1 + np.abs(x)), X),
    "log_sigmoid": (kiln.math.log_sigmoid, lambda x: np.log(_sigmoid(x)), X),
    "relu6": (kiln.nn.relu6, lambda x: np.clip(x, 0, 6), X * 4),
    "leaky_relu": (lambda x: kiln.nn.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x), X),
    "elu": (kiln.nn.elu, lambda x: np.where(x > 0, x, np.expm1(x)), X),
    "selu": (kiln.nn.selu, lambda x: 1.0507009873554805 * np.where(
        x > 0, x, 1.6732632423543772 * np.expm1(x)), X),
    "silu": (kiln.nn.silu, lambda x: x * _sigmoid(x), X),
    "erf": (kiln.math.erf, np.vectorize(math.erf), X),
    "erfc": (kiln.math.erfc, np.vectorize(math.erfc), X),
    "gelu": (kiln.nn.gelu, lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))), X),
    "gelu_tanh": (lambda x: kiln.nn.gelu(x, approximate=True),
                  lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))), X),
    "l2_normalize": (lambda x: kiln.math.l2_normalize(x, axis=1),
                     lambda x: x / np.sqrt((x ** 2).sum(1, keepdims=True)), X),
    "logsumexp": (lambda x: kiln.reduce_logsumexp(x, axis=1),
                  lambda x: np.log(np.exp(x).sum(1)), X * 30),
    "reduce_prod": (lambda x: kiln.reduce_prod(x, axis=0), lambda x: x.prod(0), X),
    "reduce_variance": (lambda x: kiln.math.reduce_variance(x, axis=[0, 1]), np.var, X),
    "reduce_std": (lambda x: kiln.math.reduce_std(x, axis=1, keepdims=True),
                   lambda x: x.std(1, keepdims=True), X),
    "clip_by_value": (lambda x: kiln.clip_by_value(x, -0.5, 1.0), lambda x: np.clip(x, -0.5, 1.0), X),
    "clip_by_norm": (lambda x: kiln.clip_by_norm(x, 1.5, axes=[1]),
                     lambda x: x * 1.5 / np.maximum(np.sqrt((x ** 2).sum(1, keepdims=True)), 1.5), X),
    "norm": (lambda x: kiln.norm(x), lambda x: np.sqrt((x ** 2).sum()), X),
    "norm_1_axis": (lambda x: kiln.norm(x, ord=1, axis=0), lambda x: np.abs(x).sum(0), X),
    "tile": (lambda x: kiln.tile(x, [2, 1]), lambda x: np.tile(x, (2, 1)), X),
    "pad_reflect": (lambda x: kiln.pad(x, [[1, 2], [2, 1]], "REFLECT"),
                    lambda x: np.pad(x, [[1, 2], [2, 1]], "reflect"), X),
    "pad_symmetric": (lambda x: kiln.pad(x, [[2, 0], [1, 3]], "SYMMETRIC"),
                      lambda x: np.pad(x, [[2, 0], [1, 3]], "symmetric"), X),
    "pad_constant": (lambda x: kiln.pad(x, [[1, 0], [0, 2]], constant_values=3.0),
                     lambda x: np.pad(x, [[1, 0], [0, 2]], constant_values=3.0), X),
    "repeat": (lambda x: kiln.repeat(x, [1, 0, 2], axis=0), lambda x: np.repeat(x, [1, 0, 2], 0), X),
    "reverse": (lambda x: kiln.reverse(x, [1]), lambda x: x[:, ::-1], X),
    "expand_squeeze": (lambda x: kiln.squeeze(kiln.expand_dims(x, -1) * 2.0, axis=2),
                       lambda x: x * 2.0, X),
    "split": (lambda x: kiln.split(x, [1, -1], axis=1)[1], lambda x: x[:, 1:], X),
    "unstack": (lambda x: kiln.unstack(x, axis=1)[2], lambda x: x[:, 2], X),
    "tensordot": (lambda x: kiln.tensordot(x, kiln.constant(POS.T), axes=1), lambda x: x @ POS.T, X),
    "linalg_matmul_t": (lambda x: kiln.linalg.matmul(x, kiln.constant(POS), transpose_b=True),
                        lambda x: x @ POS.T, X),
    "sigmoid_ce": (lambda x: kiln.nn.sigmoid_cross_entropy_with_logits(
        labels=kiln.constant(POS / 2), logits=x),
        lambda x: -(POS / 2) * np.log(_sigmoid(x)) - (1 - POS / 2) * np.log(1 - _sigmoid(x)), X),
    "batch_norm": (lambda x: kiln.nn.batch_normalization(x, 0.5, 2.0, 0.1, 3.0, 1e-3),
                   lambda x: (x - 0.5) * 3.0 / np.sqrt(2.0 + 1e-3) + 0.1, X),
    "bias_add": (lambda x: kiln.nn.bias_add(x, kiln.constant(np.arange(4.0))),
                 lambda x: x + np.arange(4.0), X),
    "moments_var": (lambda x: kiln.nn.moments(x, axes=[0])[1], lambda x: x.var(0), X),
    "negative_steps": (lambda x: x[::-1, 3:0:-2] * 2.0, lambda x: x[::-1, 3:0:-2] * 2.0, X),
    "strided_slices": (lambda x: x[1::2, ::3] * x[:2, 1:4:2], lambda x: x[1::2, ::3] * x[:2, 1:4:2], X),
    "gather_nd": (lambda x: kiln.gather_nd(x, kiln.constant([[0, 1], [2, 3], [0, 1]])),
                  lambda x: x[[0, 2, 0], [1, 3, 1]], X),
    "gather_nd_rows": (lambda x: kiln.gather_nd(x, kiln.constant([[2], [0]])),
                       lambda x: x[[2, 0]], X),
    "scatter_nd_add": (lambda x: kiln.tensor_scatter_nd_add(x, kiln.constant([[1, 1], [1, 1]]),
                                                            kiln.constant([5.0, 7.0], kiln.float64)),
                       lambda x: x + np.pad([[12.0]], [[1, 1], [1, 2]]), X),
    # max/min: one update wins, one loses, a repeated position takes both.
    "scatter_nd_max": (lambda x: kiln.tensor_scatter_nd_max(
        x, kiln.constant([[1, 1], [2, 3], [0, 0], [0, 0]]),
        kiln.constant([5.0, -7.0, 4.0, 6.0], kiln.float64)),
        lambda x: _at(np.maximum, x, ([1, 2, 0, 0], [1, 3, 0, 0]), [5.0, -7.0, 4.0, 6.0]), X),
    "scatter_nd_min": (lambda x: kiln.tensor_scatter_nd_min(
        x, kiln.constant([[1], [1]]), kiln.constant([[-5.0, 9.0, 0.25, -6.0]] * 2, kiln.float64)),
        lambda x: _at(np.minimum, x, ([1, 1],), [[-5.0, 9.0, 0.25, -6.0]] * 2), X),
    "scatter_nd_sub": (lambda x: kiln.tensor_scatter_nd_sub(x, kiln.constant([[2, 0], [2, 0]]),
                                                            x[0, :2] * 3.0),
                       lambda x: _at(np.subtract, x, ([2, 2], [0, 0]), x[0, :2] * 3.0), X),
    "scatter_nd_update": (lambda x: kiln.tensor_scatter_nd_update(x, kiln.constant([[0], [2]]),
                                                                  x[1:3] * x[1:3]),
                          lambda x: np.stack([x[1] ** 2, x[1], x[2] ** 2]), X),
    "einsum_batch": (lambda x: kiln.einsum("bi,bj->bij", x, x), lambda x: np.einsum("bi,bj->bij", x, x), X),
    "einsum_contract": (lambda x: kiln.einsum("ij,kj->ik", x, kiln.constant(POS)),
                        lambda x: x @ POS.T, X),
    "einsum_trace_sum": (lambda x: kiln.einsum("ij->j", x), lambda x: x.sum(0), X),
    # Sorting: weights make the gradient depend on where each value lands.
    "sort": (lambda x: kiln.sort(x) * np.arange(1.0, 5.0),
             lambda x: np.sort(x, 1) * np.arange(1.0, 5.0), X),
    "sort_axis0_descending": (
        lambda x: kiln.sort(x, axis=0, direction="DESCENDING") * kiln.constant(POS),
        lambda x: -np.sort(-x, 0) * POS, X),
    "top_k": (lambda x: kiln.math.top_k(x, 2).values * kiln.constant([1.0, 3.0], kiln.float64),
              lambda x: -np.sort(-x, 1)[:, :2] * [1.0, 3.0], X),
    "boolean_mask": (lambda x: kiln.boolean_mask(x, kiln.constant(POS > 1.0)) * 3.0,
                     lambda x: x[POS > 1.0] * 3.0, X),
    "boolean_mask_axis1": (lambda x: kiln.boolean_mask(x, [True, False, True, True], axis=1),
                           lambda x: x[:, [0, 2, 3]], X),
    "ellipsis_newaxis": (lambda x: x[..., kiln.newaxis, ::-1] * x[None, ..., 1:2],
                         lambda x: x[..., None, ::-1] * x[None, ..., 1:2], X),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_op_matches_numpy_eagerly_and_compiled(name):
    f, oracle, x0 = UNARY[name]
    want = oracle(x0)
    np.testing.assert_allclose(f(kiln.constant(x0)).numpy(), want, rtol=1e-10, atol=1e-12)
    compiled = kiln.function(f)
    np.testing.assert_allclose(compiled(kiln.constant(x0)).numpy(), want, rtol=1e-10, atol=1e-12)


def _fd(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = h
        g.flat[i] = (float(kiln.reduce_sum(f(kiln.constant(x + e))))
                     - float(kiln.reduce_sum(f(kiln.constant(x - e))))) / (2 * h)
    return g


@pytest.mark.parametrize("name", sorted(UNARY))
def test_gradient_matches_finite_differences(name):
    f, oracle, x0 = UNARY[name]
    x = kiln.constant(x0)
    with kiln.GradientTape() as tape:
        tape.watch(x)
        y = kiln.reduce_sum(f(x))
    g = tape.gradient(y, x)
    np.testing.assert_allclose(g.numpy(), _fd(f, x0), rtol=1e-5, atol=1e-7)
    # Central differences of the NumPy oracle: independent of Kiln's forward pass.
    numeric = np.zeros_like(x0)
    for i in range(x0.size):
        e = np.zeros_like(x0)
        e.flat[i] = 1e-6
        numeric.flat[i] = (np.sum(oracle(x0 + e)) - np.sum(oracle(x0 - e))) / 2e-6
    np.testing.assert_allclose(g.numpy(), numeric, rtol=1e-5, atol=1e-7)


# Activations far from 1 in magnitude, where a formula that cancels or cuts
# off loses digits: elu and selu near 0 (exp(x) - 1 gave 0 for
# |x| < 3e-8 in f32), softplus and log_sigmoid past a fixed cut-off (20:
# 5e5 ulp off in f64), expm1 near 0. NumPy's f64 functions are the oracle;
# float64 rounding is within 1e-15, float32 within a few ulp.
EXTREMES = {
    "expm1": (kiln.math.expm1, np.expm1),
    "elu": (kiln.nn.elu, lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0)))),
    "selu": (kiln.nn.selu, lambda x: 1.0507009873554805 * np.where(
        x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0)))),
    "softplus": (kiln.math.softplus, lambda x: np.logaddexp(0, x)),
    "log_sigmoid": (kiln.math.log_sigmoid, lambda x: -np.logaddexp(0, -x)),
    "erfc": (kiln.math.erfc, np.vectorize(math.erfc)),
}


@pytest.mark.parametrize("name", sorted(EXTREMES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [3, 1024])  # scalar code and vector code
def test_activations_keep_their_digits_at_extreme_arguments(name, dtype, size):
    fn, ref = EXTREMES[name]
    mags = np.array([1e-30, 3e-9, 1e-7, 1e-4, 0.3, 5.0, 15.0, 21.0, 33.0, 40.0, 80.0])
    x = np.resize(np.concatenate([mags, -mags, [0.0]]), max(size, 24)).astype(dtype)
    with np.errstate(over="ignore"):
        expected = ref(x.astype(np.float64))
    rtol = 6e-7 if dtype == np.float32 else 4e-16
    compiled = kiln.function(lambda t: fn(t))
    for call in (fn, compiled):
        got = np.concatenate([call(kiln.constant(x[i:i + size])).numpy()
                              for i in range(0, len(x), size)])
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=rtol,
                                   atol=np.finfo(dtype).tiny, err_msg=name)


@pytest.mark.parametrize("size", [3, 1024])  # scalar code and vector code
def test_sigmoid_keeps_its_subnormal_tail(size):
    """sigmoid(x) for x in [-104, -87] is below float32's smallest normal
    (sigmoid(-95) = 5.5e-42): e^x / (1 + e^x) there, as NumPy's exp gives
    it, not 0 (1 / (1 + e^-x) overflowed e^-x first). Within two
    subnormal spacings, plus the normal range's relative rounding."""
    x = np.resize(np.concatenate([np.linspace(-104.0, -87.0, 35), [-80.0, -30.0, 0.0, 30.0]]),
                  max(size, 39)).astype(np.float32)
    x64 = x.astype(np.float64)
    want = np.exp(np.minimum(x64, 0)) / (1 + np.exp(-np.abs(x64)))
    compiled = kiln.function(lambda t: kiln.sigmoid(t))
    for call in (kiln.sigmoid, compiled):
        got = np.concatenate([call(kiln.constant(x[i:i + size])).numpy()
                              for i in range(0, len(x), size)])
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=4e-7, atol=2 * 2.0 ** -149)
        assert np.all(got[x > -103] > 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_keeps_its_lower_tail(dtype):
    """gelu(x) = 0.5 x erfc(-x / sqrt 2): 0.5 x (1 + erf(x / sqrt 2))
    cancels below x = -5 (0 from about -6 in f32, -9 in f64). erfc's
    argument is rounded to the type first, an error that erfc's slope
    multiplies by 2 z^2 (z = -x / sqrt 2): the tolerance allows for it."""
    x = -np.array([0.5, 2.0, 5.0, 6.0, 7.5, 9.0, 12.0, 20.0, 30.0]).astype(dtype)
    z = -x.astype(np.float64) / math.sqrt(2.0)
    want = 0.5 * x.astype(np.float64) * np.vectorize(math.erfc)(z)
    eps = np.finfo(dtype).eps
    compiled = kiln.function(lambda t: kiln.nn.gelu(t))
    for call in (kiln.nn.gelu, compiled):
        got = call(kiln.constant(x)).numpy()
        assert got.dtype == dtype
        bound = eps * (4 + 2 * z ** 2) * np.abs(want) + np.finfo(dtype).tiny
        assert np.all(np.abs(got - want) <= bound), (got, want)
        assert got[-4] < 0  # x = -9: -1.0e-18, representable in f32 too


def test_broadcast_to():
    x = kiln.constant(np.arange(3.0).reshape(3, 1))
    np.testing.assert_array_equal(kiln.broadcast_to(x, [2, 3, 4]).numpy(),
                                  np.broadcast_to(np.arange(3.0).reshape(3, 1), (2, 3, 4)))
    assert kiln.broadcast_to(x, (3, 0)).shape == (3, 0)
    compiled = kiln.function(lambda t: kiln.broadcast_to(t, (3, 2)) * 2)
    np.testing.assert_array_equal(compiled(x).numpy(), np.repeat(np.arange(3.0)[:, None], 2, 1) * 2)
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"test_math_ops.py:\d+: broadcast_to: cannot broadcast shape \[3, 1\] to \[2, 4\]"):
        kiln.broadcast_to(x, (2, 4))


def test_shape_ops():
    x = kiln.constant(X)
    assert kiln.rank(x).numpy() == 2 and kiln.size(x).numpy() == 12
    assert kiln.shape(x).numpy().tolist() == [3, 4] and kiln.shape(x).dtype == kiln.int32
    assert kiln.size(x, out_type=kiln.int64).dtype == kiln.int64
    np.testing.assert_array_equal(kiln.zeros_like(x).numpy(), np.zeros((3, 4)))
    assert kiln.ones_like(x, dtype=kiln.int32).dtype == kiln.int32
    np.testing.assert_array_equal(kiln.fill([2, 3], 7).numpy(), np.full((2, 3), 7))
    assert kiln.fill([2], 7).dtype == kiln.int32 and kiln.fill([2], 7.0).dtype == kiln.float32
    assert kiln.identity(x) is x
    np.testing.assert_allclose(kiln.linspace(0.0, 1.0, 5).numpy(), np.linspace(0, 1, 5))
    assert kiln.squeeze(kiln.constant(np.zeros((1, 3, 1)))).shape == (3,)
    assert kiln.expand_dims(x, 0).shape == (1, 3, 4)
    assert [t.shape for t in kiln.split(x, 2, axis=1)] == [(3, 2), (3, 2)]
    np.testing.assert_array_equal(kiln.argmin(x, axis=1).numpy(), X.argmin(1))
    assert kiln.argmin(x, axis=0, output_type=kiln.int32).dtype == kiln.int32
    b = kiln.constant([[True, False], [True, True]])
    np.testing.assert_array_equal(kiln.reduce_any(b, axis=1).numpy(), [True, True])
    np.testing.assert_array_equal(kiln.reduce_all(b, axis=1).numpy(), [False, True])
    assert bool(kiln.reduce_all(b)) is False and bool(kiln.reduce_any(b)) is True
    np.testing.assert_array_equal(
        kiln.math.round(kiln.constant([0.5, 1.5, 2.5, -0.5, -1.7, 2.2])).numpy(),
        np.round([0.5, 1.5, 2.5, -0.5, -1.7, 2.2]))
    assert np.signbit(kiln.math.round(kiln.constant([-0.4])).numpy()[0])
    np.testing.assert_array_equal(kiln.math.floor(kiln.constant([-1.5, 1.5])).numpy(), [-2, 1])
    np.testing.assert_array_equal(kiln.math.ceil(kiln.constant([-1.5, 1.5])).numpy(), [-1, 2])
    # Extents known only at run time: zeros_like follows them.
    f = kiln.function(lambda v: kiln.zeros_like(v) + 1.0,
                      input_signature=[kiln.TensorSpec([None, 4], kiln.float64)])
    assert f(x).numpy().tolist() == np.ones((3, 4)).tolist()


def test_clip_by_global_norm_matches_tensorflows_formula():
    a, b = RNG.normal(size=(3,)), RNG.normal(size=(2, 2))
    norm = np.sqrt((a ** 2).sum() + (b ** 2).sum())
    (ca, none, cb), g = kiln.clip_by_global_norm([kiln.constant(a), None, kiln.constant(b)], 1.0)
    assert none is None
    np.testing.assert_allclose(g.numpy(), norm, rtol=1e-12)
    np.testing.assert_allclose(ca.numpy(), a / max(norm, 1.0), rtol=1e-12)
    np.testing.assert_allclose(cb.numpy(), b / max(norm, 1.0), rtol=1e-12)
    (same,), _ = kiln.clip_by_global_norm([kiln.constant(a)], 100.0)
    np.testing.assert_allclose(same.numpy(), a, rtol=1e-12)


def test_moments_and_dropout():
    x = kiln.constant(X)
    mean, var = kiln.nn.moments(x, axes=[0, 1], keepdims=True)
    assert mean.shape == (1, 1)
    np.testing.assert_allclose(var.numpy(), [[X.var()]], rtol=1e-12)
    kiln.random.set_seed(3)
    y = kiln.nn.dropout(kiln.ones([1000]), rate=0.25).numpy()
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.75], rtol=1e-6)
    assert 0.65 < (y > 0).mean() < 0.85
    assert kiln.nn.dropout(x, 0.0) is x

    @kiln.function
    def drop(v):
        return kiln.nn.dropout(v, rate=0.5)
    first, second = drop(kiln.ones([256])).numpy(), drop(kiln.ones([256])).numpy()
    assert (first != second).any()  # a new mask per call, as in TensorFlow


def test_errors_name_the_problem():
    x = kiln.constant(X)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="squeeze: dimension 0 has extent 3"):
        kiln.squeeze(x, 0)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="does not split into 3"):
        kiln.split(x, 3, axis=1)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="REFLECT padding"):
        kiln.pad(x, [[3, 0], [0, 0]], "REFLECT")
    with pytest.raises(kiln.errors.InvalidArgumentError, match="expand_dims: axis 4 is out of range"):
        kiln.expand_dims(x, 4)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="tensordot: extents"):
        kiln.tensordot(x, x, axes=1)
    with pytest.raises(TypeError, match="bool"):
        kiln.reduce_any(x)
    with pytest.raises(kiln.errors.InvalidArgumentError, match=r"test_math_ops.py:\d+: dropout: rate"):
        kiln.nn.dropout(x, 1.0)


def test_nd_gathers_and_scatters_check_their_indices():
    x = kiln.constant(X)
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"test_math_ops.py:\d+: gather_nd: an index is out of range"):
        kiln.gather_nd(x, kiln.constant([[0, 4]]))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="updated twice"):
        kiln.tensor_scatter_nd_update(x, kiln.constant([[1], [1]]), x[:2])

    @kiln.function
    def pick(i):
        return kiln.gather_nd(x, i)
    np.testing.assert_allclose(pick(kiln.constant([[2, 1]])).numpy(), [X[2, 1]])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="gather_nd: an index is out of range"):
        pick(kiln.constant([[3, 1]]))
    s = kiln.scatter_nd(kiln.constant([[1], [3], [1]]), kiln.constant([1.0, 2.0, 3.0]), [5])
    np.testing.assert_array_equal(s.numpy(), [0, 4, 0, 2, 0])
    # An update replaces: an inf or NaN it overwrites does not leak, -0.0
    # stays -0.0, other values are exact; bool and 2-D index lists too.
    t = np.array([[np.inf, 1.5], [np.nan, 2.0], [0.1, 0.2]], np.float32)
    u = np.array([[-0.0, 5.0], [1e-30, 3.0]], np.float32)
    out = kiln.tensor_scatter_nd_update(t, kiln.constant([[0], [1]]), u).numpy()
    np.testing.assert_array_equal(out, np.array([[-0.0, 5.0], [1e-30, 3.0], [0.1, 0.2]], np.float32))
    assert np.signbit(out[0, 0])
    flags = kiln.tensor_scatter_nd_update(np.array([True, False, True]),
                                          kiln.constant([[[2]], [[1]]]),
                                          np.array([[False], [True]]))
    np.testing.assert_array_equal(flags.numpy(), [True, True, False])


def test_einsum_errors():
    x = kiln.constant(X)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="letter 'j' has extents 4 and 3"):
        kiln.einsum("ij,jk->ik", x, x)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="names 2 operands, got 1"):
        kiln.einsum("ij,jk->ik", x)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="one letter per dimension"):
        kiln.einsum("ij->i", kiln.constant(np.ones((2, 3, 4))))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="letter 'i' has extents 2 and 3"):
        kiln.einsum("ii", kiln.ones((2, 3)))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="more dimensions than"):
        kiln.einsum("...ijk->...", x)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="a '...' dimension has extents 2 and 3"):
        kiln.einsum("...i,...i->...", kiln.ones((2, 4)), kiln.ones((3, 4)))
    # Three operands, and the implicit output.
    a, b = RNG.normal(size=(2, 3)), RNG.normal(size=(3, 5))
    np.testing.assert_allclose(kiln.einsum("ij,jk,kl", kiln.constant(a), kiln.constant(b),
                                           kiln.constant(b.T)).numpy(),
                               np.einsum("ij,jk,kl", a, b, b.T), rtol=1e-12)


@pytest.mark.parametrize("equation,shapes", [
    ("...ij,...jk->...ik", [(2, 3, 4, 5), (5, 6)]),        # batch dims of one side
    ("...ij,...jk->...ik", [(1, 3, 4, 5), (2, 1, 5, 6)]),  # extents of 1 broadcast
    ("...ij->...ji", [(2, 3, 4)]),
    ("i...->...", [(3, 2, 4)]),                            # summed, rest kept
    ("...ij,jk", [(2, 4, 5), (5, 3)]),                     # implicit output
    ("b...d,b...d->b...", [(2, 3, 4, 5), (2, 3, 4, 5)]),
    ("...,...->...", [(3, 4), (4,)]),
    ("ij...,jk...->ik...", [(2, 3, 4), (3, 5, 1)]),
    ("ii->i", [(4, 4)]),                                   # repeated letters: diagonals
    ("ii", [(4, 4)]),
    ("bii->bi", [(2, 3, 3)]),
    ("ij,jj->i", [(2, 3), (3, 3)]),
    ("iij,kj->ik", [(3, 3, 4), (5, 4)]),
])
def test_einsum_ellipses_match_numpy(equation, shapes):
    operands = [RNG.normal(size=s) for s in shapes]
    got = kiln.einsum(equation, *[kiln.constant(o) for o in operands]).numpy()
    np.testing.assert_allclose(got, np.einsum(equation, *operands), rtol=1e-12, atol=1e-12)


def test_einsum_diagonal_gradients():
    # d trace(A)/dA = I; d sum(diag(A) * w)/dA = diag(w), compiled too.
    a = RNG.normal(size=(4, 4))
    w = RNG.normal(size=4)
    for f in (lambda x: kiln.einsum("ii", x), kiln.function(lambda x: kiln.einsum("ii", x))):
        x = kiln.constant(a)
        with kiln.GradientTape() as tape:
            tape.watch(x)
            y = f(x)
        np.testing.assert_allclose(tape.gradient(y, x).numpy(), np.eye(4))
    x = kiln.constant(a)
    with kiln.GradientTape() as tape:
        tape.watch(x)
        y = kiln.reduce_sum(kiln.einsum("ii->i", x) * w)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), np.diag(w))


def test_scans_over_long_axes():
    v = RNG.uniform(0.5, 1.5, size=1000)
    np.testing.assert_allclose(kiln.cumsum(kiln.constant(v)).numpy(), np.cumsum(v), rtol=1e-12)
    np.testing.assert_allclose(kiln.cumprod(kiln.constant(v[:40])).numpy(),
                               np.cumprod(v[:40]), rtol=1e-12)
    # The gradient of a product with a zero in it needs no division.
    x = kiln.constant([2.0, 0.0, 3.0])
    with kiln.GradientTape() as tape:
        tape.watch(x)
        y = kiln.reduce_sum(kiln.cumprod(x))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [1.0, 2.0 + 6.0, 0.0])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="cumsum: axis 2"):
        kiln.cumsum(x, axis=2)


def test_batched_matmul_transposes_the_last_two_dimensions():
    a, b = RNG.normal(size=(2, 4, 3)), RNG.normal(size=(2, 5, 3))
    want = a @ np.swapaxes(b, 1, 2)
    np.testing.assert_allclose(kiln.matmul(a, b, transpose_b=True).numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(kiln.linalg.matmul(np.swapaxes(a, 1, 2), b, adjoint_a=True,
                                                  transpose_b=True).numpy(), want, rtol=1e-12)


@pytest.mark.parametrize("call,kind,message", [
    (lambda: kiln.fill([2], [1.0, 2.0]), kiln.errors.InvalidArgumentError, "must be a scalar"),
    (lambda: kiln.tile(kiln.constant(X), [2]), kiln.errors.InvalidArgumentError, "1 multiples"),
    (lambda: kiln.split(kiln.constant(X), [1, 1], axis=1), kiln.errors.InvalidArgumentError,
     "do not add up"),
    (lambda: kiln.unstack(kiln.constant(X), num=5), kiln.errors.InvalidArgumentError,
     "num=5 but dimension 0 has extent 3"),
    (lambda: kiln.repeat(kiln.constant(X), [1, 2], axis=0), kiln.errors.InvalidArgumentError,
     "do not fit dimension 0"),
    (lambda: kiln.pad(kiln.constant(X), [[1, 1]]), kiln.errors.InvalidArgumentError,
     "2 pairs of non-negative"),
    (lambda: kiln.pad(kiln.constant(X), [[1, 1], [1, 1]], "WRAP"), kiln.errors.InvalidArgumentError,
     "CONSTANT, REFLECT or SYMMETRIC"),
    (lambda: kiln.norm(kiln.constant(X), ord=-1), kiln.errors.InvalidArgumentError,
     "ord must be"),
    (lambda: kiln.norm(kiln.constant(X), ord=2, axis=[0, 1]), kiln.errors.UnimplementedError,
     "spectral norm"),
    (lambda: kiln.clip_by_global_norm(kiln.constant(X), 1.0), TypeError, "list of tensors"),
    (lambda: kiln.gather_nd(kiln.constant(X), kiln.constant([[0, 1, 2]])),
     kiln.errors.InvalidArgumentError, "indices of depth 3"),
    (lambda: kiln.gather_nd(kiln.constant(X), kiln.constant([[0.0, 1.0]])), TypeError,
     "indices must be integers"),
    (lambda: kiln.gather_nd(kiln.constant(X), kiln.constant([[0, 1]]), batch_dims=1),
     kiln.errors.InvalidArgumentError, "batch_dims=1 needs the first 1 extents"),
    (lambda: kiln.gather(kiln.constant(X), kiln.constant([[0], [1], [9]]), batch_dims=1),
     kiln.errors.InvalidArgumentError, r"indices\[2, 0\] = 9 is not in \[0, 4\)"),
    (lambda: kiln.nn.bias_add(kiln.constant(X), kiln.constant(X)),
     kiln.errors.InvalidArgumentError, "the bias must be 1-D"),
    (lambda: kiln.nn.bias_add(kiln.constant(X), [1.0, 2.0]),
     kiln.errors.InvalidArgumentError, "a bias of 2"),
    (lambda: kiln.nn.sigmoid_cross_entropy_with_logits(labels=kiln.constant([1.0]),
                                                       logits=kiln.constant([1.0, 2.0])),
     kiln.errors.InvalidArgumentError, "must have the same shape"),
    (lambda: kiln.nn.conv1d(kiln.ones([1, 5, 1]), kiln.ones([2, 1, 1]), stride=[1, 2]),
     ValueError, "stride must be an int"),
    (lambda: kiln.nn.depthwise_conv2d(kiln.ones([1, 4, 4, 2]), kiln.ones([2, 2, 3, 1]), 1,
                                      "VALID"),
     kiln.errors.InvalidArgumentError, "2 input channels but the filter has 3"),
    (lambda: kiln.cumsum(kiln.constant([[1.0, 2.0]]), axis=-3),
     kiln.errors.InvalidArgumentError, "cumsum: axis -3"),
    (lambda: kiln.function(lambda v: v[1], input_signature=[kiln.TensorSpec([None, 4])])(X),
     kiln.errors.UnimplementedError, r"indexing dimension 0 of a tensor of shape \[None, 4\]"),
])
def test_more_errors_name_the_problem(call, kind, message):
    with pytest.raises(kind, match=message):
        call()


def _np_depthwise(x, w, stride, dilation, same):
    """tf.nn.depthwise_conv2d from its definition, in loops."""
    n, h, wd, c = x.shape
    kh, kw, _, m = w.shape
    span = ((kh - 1) * dilation + 1, (kw - 1) * dilation + 1)
    if same:
        out = (-(-h // stride), -(-wd // stride))
        pads = [max((o - 1) * stride + sp - e, 0) for o, sp, e in zip(out, span, (h, wd))]
        x = np.pad(x, [(0, 0), (pads[0] // 2, pads[0] - pads[0] // 2),
                       (pads[1] // 2, pads[1] - pads[1] // 2), (0, 0)])
    else:
        out = ((h - span[0]) // stride + 1, (wd - span[1]) // stride + 1)
    y = np.zeros((n, out[0], out[1], c * m))
    for oi in range(out[0]):
        for oj in range(out[1]):
            for ch in range(c):
                for q in range(m):
                    acc = 0.0
                    for i in range(kh):
                        for j in range(kw):
                            acc = acc + x[:, oi * stride + i * dilation,
                                          oj * stride + j * dilation, ch] * w[i, j, ch, q]
                    y[:, oi, oj, ch * m + q] = acc
    return y


@pytest.mark.parametrize("stride,dilation,same,m,kh", [
    (1, 1, True, 1, 3), (1, 1, True, 2, 2), (2, 1, True, 2, 3), (1, 2, False, 3, 3),
    (2, 2, True, 1, 2), (3, 1, False, 2, 3)])
def test_depthwise_conv2d_matches_its_definition(stride, dilation, same, m, kh):
    x0 = RNG.normal(size=(2, 7, 6, 3))
    w0 = RNG.normal(size=(kh, 2, 3, m))  # (odd paddings: the extra row at the bottom)
    f = lambda x: kiln.nn.depthwise_conv2d(x, kiln.constant(w0), [1, stride, stride, 1],
                                           "SAME" if same else "VALID",
                                           dilations=[dilation, dilation])
    want = _np_depthwise(x0, w0, stride, dilation, same)
    np.testing.assert_allclose(f(kiln.constant(x0)).numpy(), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(kiln.function(f)(kiln.constant(x0)).numpy(), want,
                               rtol=1e-10, atol=1e-12)
    # Gradients with respect to the input and the filter (the op's own,
    # written-out rule) against central differences of the definition.
    weights = np.arange(want.size).reshape(want.shape) % 5.0
    x, w = kiln.constant(x0), kiln.constant(w0)
    loss = lambda x, w: kiln.reduce_sum(kiln.nn.depthwise_conv2d(
        x, w, [1, stride, stride, 1], "SAME" if same else "VALID",
        dilations=[dilation, dilation]) * kiln.constant(weights))
    for run in (loss, kiln.function(lambda x, w: kiln.gradients_function(loss)(x, w))):
        if run is loss:
            with kiln.GradientTape() as tape:
                tape.watch(x)
                tape.watch(w)
                y = loss(x, w)
            gx, gw = (t.numpy() for t in tape.gradient(y, [x, w]))
        else:
            gx, gw = (t.numpy() for t in run(x, w))
        h = 1e-6
        value = lambda a, b: (_np_depthwise(a, b, stride, dilation, same) * weights).sum()
        for idx in [(0, 0, 0, 0), (1, 3, 2, 1), (0, 6, 5, 2), (1, 4, 0, 0), (1, 6, 0, 1)]:
            e = np.zeros_like(x0)
            e[idx] = h
            fd = (value(x0 + e, w0) - value(x0 - e, w0)) / (2 * h)
            np.testing.assert_allclose(gx[idx], fd, rtol=1e-6, atol=1e-8)
        for idx in [(0, 0, 0, 0), (kh - 1, 1, 2, m - 1), (1, 0, 1, 0)]:
            e = np.zeros_like(w0)
            e[idx] = h
            fd = (value(x0, w0 + e) - value(x0, w0 - e)) / (2 * h)
            np.testing.assert_allclose(gw[idx], fd, rtol=1e-6, atol=1e-8)


def test_sorts_match_numpy_with_ties_nan_and_every_dtype():
    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.float64, np.int32, np.int64, np.float16):
        x = rng.integers(-4, 5, (3, 7, 11)).astype(dtype)  # many ties
        for axis in (-1, 0, 1):
            got = kiln.sort(kiln.constant(x), axis=axis)
            assert got.dtype.as_numpy_dtype == dtype
            np.testing.assert_array_equal(got.numpy(), np.sort(x, axis))
            np.testing.assert_array_equal(kiln.argsort(x, axis=axis).numpy(),
                                          np.argsort(x, axis, kind="stable"))
            # Descending and stable: equal values keep their order.
            np.testing.assert_array_equal(
                kiln.argsort(x, axis=axis, direction="DESCENDING").numpy(),
                np.argsort(-x.astype(np.float64), axis, kind="stable"))
    nan = np.array([[3.0, np.nan, -1.0, np.inf, -np.inf, 0.0]], np.float32)
    np.testing.assert_array_equal(kiln.sort(nan).numpy(), np.sort(nan))
    np.testing.assert_array_equal(kiln.argsort(nan).numpy(), np.argsort(nan, kind="stable"))
    assert np.isnan(kiln.sort(nan, direction="DESCENDING").numpy()[0, 0])
    # Rows counted only at run time (an open batch dimension).
    f = kiln.function(lambda v: kiln.argsort(v),
                      input_signature=[kiln.TensorSpec([None, 11], kiln.float32)])
    for rows in (3, 5):
        x = rng.standard_normal((rows, 11)).astype(np.float32)
        np.testing.assert_array_equal(f(x).numpy(), np.argsort(x, 1, kind="stable"))
    # Long rows, and one compiled call with the same answer.
    long = rng.standard_normal((2, 5000)).astype(np.float32)
    f = kiln.function(lambda v: kiln.argsort(v, direction="DESCENDING"))
    np.testing.assert_array_equal(f(long).numpy(), np.argsort(-long, 1, kind="stable"))


def test_top_k_follows_tensorflow():
    x = np.array([[1.0, 5.0, 5.0, 2.0], [0.0, -1.0, 7.0, 7.0]], np.float32)
    values, indices = kiln.math.top_k(x, k=3)
    np.testing.assert_array_equal(values.numpy(), [[5, 5, 2], [7, 7, 0]])
    np.testing.assert_array_equal(indices.numpy(), [[1, 2, 3], [2, 3, 0]])  # lower index first
    assert indices.dtype == kiln.int32
    result = kiln.nn.top_k(kiln.constant(x[0]), 1, index_type=kiln.int64)
    assert result.values.numpy().tolist() == [5.0] and result.indices.dtype == kiln.int64
    assert kiln.math.top_k(x, 0).values.shape == (2, 0)
    with pytest.raises(kiln.errors.InvalidArgumentError, match=r"k = 5 is not in \[0, 4\]"):
        kiln.math.top_k(x, 5)
    with pytest.raises(ValueError, match="direction must be"):
        kiln.sort(x, direction="UP")
    with pytest.raises(TypeError, match="cannot sort bool"):
        kiln.sort(kiln.constant([True, False]))


def test_where_boolean_mask_and_unique_have_value_dependent_shapes():
    x = np.array([[0.5, -1.0, 2.0], [0.0, 3.0, -2.0]])
    np.testing.assert_array_equal(kiln.where(x > 0).numpy(), np.argwhere(x > 0))
    assert kiln.where(kiln.constant(x) > 0).dtype == kiln.int64
    assert kiln.where(np.zeros((2, 3), bool)).shape == (0, 2)
    np.testing.assert_array_equal(kiln.where([0, 4, 0, 1]).numpy(), [[1], [3]])
    np.testing.assert_array_equal(kiln.boolean_mask(x, x > 0).numpy(), x[x > 0])
    y, idx = kiln.unique(kiln.constant([4, 1, 4, 2, 1, 7]))
    assert y.numpy().tolist() == [4, 1, 2, 7] and idx.numpy().tolist() == [0, 1, 0, 2, 1, 3]
    assert kiln.unique([2.0, np.nan, np.nan]).y.shape == (3,)  # NaN != NaN
    assert kiln.unique([3, 3], out_idx=kiln.int64).idx.dtype == kiln.int64
    # Inside a compiled function the traced values are not known: a clear
    # error (a mask known while tracing is fine: see boolean_mask above).
    for body, name in ((lambda v: kiln.where(v > 0), "where"),
                       (lambda v: kiln.boolean_mask(v, v > 0), "boolean_mask"),
                       (lambda v: kiln.unique(kiln.reshape(v, [-1])).y, "unique")):
        with pytest.raises(kiln.errors.UnimplementedError,
                           match=name + r".*depends on the\s+.*values"):
            kiln.function(body)(kiln.constant(x))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="a mask of shape"):
        kiln.boolean_mask(x, [True, False, True])
    with pytest.raises(ValueError, match="give both x and y"):
        kiln.where(x > 0, x)


def test_range_is_a_tensor_as_in_tensorflow():
    for args, kwargs in (((5,), {}), ((2, 11, 3), {}), ((10, 2, -3), {}),
                         ((1.0, 2.0, 0.25), {}), ((0, 1, 0.1), {}),
                         ((3,), {"dtype": kiln.float64}), ((4, 4), {})):
        got = kiln.range(*args, **kwargs)
        want = np.arange(*args)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
        assert got.dtype == (kwargs.get("dtype") or
                             (kiln.float32 if want.dtype.kind == "f" else kiln.int32))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="delta must not be 0"):
        kiln.range(0, 5, 0)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="wrong order"):
        kiln.range(5, 0, 1)
    assert [int(i) for i in kiln.range(3)] == [0, 1, 2]  # eager iteration
    assert float(kiln.reduce_sum(kiln.range(4) * 2)) == 12


def _triangle(n):
    total = 0
    for i in kiln.range(n):  # one kiln.for, though kiln.range returns a tensor eagerly
        total += i
    return total


def test_range_loops_compile_to_one_loop():
    f = kiln.function(_triangle)
    assert int(f(kiln.constant(10))) == 45
    assert int(f(kiln.constant(4))) == 6  # the same compiled loop, another bound
    assert len(f._concrete) == 1


TRIG = [("tan", np.tan, (-1.2, 1.2)), ("asin", np.arcsin, (-0.95, 0.95)),
        ("acos", np.arccos, (-0.95, 0.95)), ("atan", np.arctan, (-4.0, 4.0)),
        ("sinh", np.sinh, (-3.0, 3.0)), ("cosh", np.cosh, (-3.0, 3.0)),
        ("asinh", np.arcsinh, (-4.0, 4.0)), ("acosh", np.arccosh, (1.05, 5.0)),
        ("atanh", np.arctanh, (-0.95, 0.95))]


@pytest.mark.parametrize("name,ref,domain", TRIG, ids=[t[0] for t in TRIG])
def test_trigonometric_and_hyperbolic_ops(name, ref, domain):
    # Values against NumPy (float32 and float64, eager and compiled) and
    # the float64 gradient against central differences.
    from conftest import central
    f = getattr(kiln.math, name)
    x = RNG.uniform(*domain, size=(3, 5))
    np.testing.assert_allclose(f(kiln.constant(x)).numpy(), ref(x), rtol=1e-13, atol=1e-14)
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(kiln.function(f)(kiln.constant(x32)).numpy(), ref(x32),
                               rtol=2e-6, atol=1e-6)
    assert getattr(kiln, name) is f
    xt = kiln.constant(x)
    with kiln.GradientTape() as tape:
        tape.watch(xt)
        y = kiln.reduce_sum(f(xt))
    np.testing.assert_allclose(tape.gradient(y, xt).numpy(),
                               central(lambda v: ref(v).sum(), x), rtol=1e-6, atol=1e-8)


def test_atan2_and_safe_arithmetic():
    from conftest import central
    y, x = RNG.normal(size=(4, 3)), RNG.normal(size=(3,))
    np.testing.assert_allclose(kiln.math.atan2(y, x).numpy(), np.arctan2(y, x), rtol=1e-13)
    # (quadrants and the axes)
    pts = np.array([1.0, -1.0, 0.0, 0.0, 1.0]), np.array([0.0, 0.0, 1.0, -1.0, -1.0])
    np.testing.assert_allclose(kiln.atan2(*pts).numpy(), np.arctan2(*pts), rtol=1e-15)
    yt, xt = kiln.constant(y), kiln.constant(x)
    with kiln.GradientTape() as tape:
        tape.watch([yt, xt])
        out = kiln.reduce_sum(kiln.math.atan2(yt, xt))
    dy, dx = tape.gradient(out, [yt, xt])
    np.testing.assert_allclose(dy.numpy(), central(lambda v: np.arctan2(v, x).sum(), y),
                               rtol=1e-6)
    np.testing.assert_allclose(dx.numpy(), central(lambda v: np.arctan2(y, v).sum(), x),
                               rtol=1e-6)
    a = np.array([1.0, 0.0, -2.0, np.inf])
    b = np.array([0.0, 0.0, 4.0, 0.0])
    np.testing.assert_array_equal(kiln.math.divide_no_nan(a, b).numpy(), [0, 0, -0.5, 0])
    np.testing.assert_array_equal(kiln.math.multiply_no_nan(a, b).numpy(), [0, 0, -8, 0])
    np.testing.assert_array_equal(kiln.math.reciprocal_no_nan(b).numpy(), [0, 0, 0.25, 0])
    p = np.array([0.0, 0.5, 2.0])
    q = np.array([0.0, 0.25, 3.0])
    np.testing.assert_allclose(kiln.math.xlogy(p, q).numpy(), [0, 0.5 * np.log(0.25),
                                                              2 * np.log(3)])
    np.testing.assert_allclose(kiln.math.xlog1py(p, q).numpy(), [0, 0.5 * np.log1p(0.25),
                                                                2 * np.log1p(3)])
    np.testing.assert_allclose(kiln.math.xdivy(p, q).numpy(), [0, 2.0, 2 / 3])
    parts = [RNG.normal(size=(2, 3)) for _ in range(3)]
    np.testing.assert_allclose(kiln.add_n(parts).numpy(), sum(parts), rtol=1e-15)


def test_counting_and_order_utilities():
    m = np.array([[0, 1, 0], [2, 0, 3]], np.int32)
    np.testing.assert_array_equal(kiln.math.count_nonzero(m).numpy(), 3)
    np.testing.assert_array_equal(kiln.math.count_nonzero(m, axis=1).numpy(), [1, 2])
    v = RNG.normal(size=(3, 4))
    np.testing.assert_allclose(kiln.math.reduce_euclidean_norm(v, axis=1).numpy(),
                               np.linalg.norm(v, axis=1), rtol=1e-14)
    np.testing.assert_allclose(float(kiln.math.zero_fraction(m)), 0.5)
    np.testing.assert_array_equal(kiln.math.rint(np.array([0.5, 1.5, -2.5, 2.6])).numpy(),
                                  np.rint([0.5, 1.5, -2.5, 2.6]))
    assert bool(kiln.math.is_non_decreasing([1, 1, 2]))
    assert not bool(kiln.math.is_strictly_increasing([1, 1, 2]))
    assert bool(kiln.math.is_strictly_increasing([1, 3, 7]))
    perm = np.array([2, 0, 3, 1], np.int32)
    np.testing.assert_array_equal(kiln.invert_permutation(perm).numpy(), np.argsort(perm))
    flat = np.array([0, 5, 11, 7], np.int32)
    np.testing.assert_array_equal(kiln.unravel_index(flat, [3, 4]).numpy(),
                                  np.stack(np.unravel_index(flat, (3, 4))))
    np.testing.assert_allclose(kiln.math.polyval([2.0, -1.0, 3.0], np.array([0.0, 2.0])).numpy(),
                               np.polyval([2.0, -1.0, 3.0], [0.0, 2.0]))
    x = RNG.normal(size=(2, 6))
    np.testing.assert_allclose(kiln.math.cumulative_logsumexp(x, axis=1).numpy(),
                               np.logaddexp.accumulate(x, axis=1), rtol=1e-12)
    labels = np.array([0, 1, 2, 2, 1], np.int32)
    preds = np.array([0, 2, 2, 1, 1], np.int32)
    want = np.zeros((3, 3), np.int32)
    np.add.at(want, (labels, preds), 1)
    np.testing.assert_array_equal(kiln.math.confusion_matrix(labels, preds).numpy(), want)
    weighted = kiln.math.confusion_matrix(labels, preds, num_classes=4,
                                          weights=np.arange(5.0), dtype=kiln.float32)
    want_w = np.zeros((4, 4))
    np.add.at(want_w, (labels, preds), np.arange(5.0))
    np.testing.assert_array_equal(weighted.numpy(), want_w)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="outside"):
        kiln.math.confusion_matrix(labels, preds, num_classes=2)


def test_scan_and_folds():
    x = RNG.normal(size=(5, 3))
    np.testing.assert_allclose(kiln.scan(lambda a, e: a + e, x).numpy(), np.cumsum(x, 0),
                               rtol=1e-14)
    np.testing.assert_allclose(
        kiln.scan(lambda a, e: a * 0.5 + e, x, initializer=np.zeros(3), reverse=True).numpy(),
        np.stack([sum(x[j] * 0.5 ** (j - i) for j in range(i, 5)) for i in range(5)]),
        rtol=1e-13)
    compiled = kiln.function(lambda v: (kiln.scan(lambda a, e: a * e, v),
                                        kiln.foldl(lambda a, e: a - e, v),
                                        kiln.foldr(lambda a, e: a - e, v, initializer=v[0])))
    prods, left, right = compiled(x)
    np.testing.assert_allclose(prods.numpy(), np.cumprod(x, 0), rtol=1e-13)
    np.testing.assert_allclose(left.numpy(), x[0] - x[1:].sum(0), rtol=1e-13)
    np.testing.assert_allclose(right.numpy(), x[0] - x.sum(0), rtol=1e-13)
    assert float(kiln.foldl(lambda a, e: a + e, np.arange(5.0))) == 10.0


def test_nn_extras():
    x = RNG.normal(size=(2, 4, 6, 8))
    s2d = kiln.nn.space_to_depth(x, 2).numpy()
    want = x.reshape(2, 2, 2, 3, 2, 8).transpose(0, 1, 3, 2, 4, 5).reshape(2, 2, 3, 32)
    np.testing.assert_array_equal(s2d, want)
    np.testing.assert_array_equal(kiln.nn.depth_to_space(s2d, 2).numpy(), x)
    np.testing.assert_array_equal(kiln.nn.crelu(x).numpy(),
                                  np.maximum(np.concatenate([x, -x], -1), 0))
    counts, total, squares, _ = kiln.nn.sufficient_statistics(x, [0, 1, 2])
    mean, var = kiln.nn.normalize_moments(counts, total, squares, None)
    np.testing.assert_allclose(mean.numpy(), x.mean((0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(var.numpy(), x.var((0, 1, 2)), rtol=1e-10)
    w = RNG.uniform(0.5, 2.0, size=(2, 4, 6, 1))
    wm, wv = kiln.nn.weighted_moments(x, [0, 1, 2], w)
    wb = np.broadcast_to(w, x.shape)
    mu = (wb * x).sum((0, 1, 2)) / wb.sum((0, 1, 2))
    np.testing.assert_allclose(wm.numpy(), mu, rtol=1e-12)
    np.testing.assert_allclose(wv.numpy(), (wb * (x - mu) ** 2).sum((0, 1, 2)) /
                               wb.sum((0, 1, 2)), rtol=1e-12)
    t, li = RNG.uniform(0, 5, size=6).round(), RNG.normal(size=6)
    full = kiln.nn.log_poisson_loss(t, li, compute_full_loss=True).numpy()
    stirling = np.where(t > 1, t * np.log(np.maximum(t, 1)) - t +
                        0.5 * np.log(2 * np.pi * np.maximum(t, 1)), 0)
    np.testing.assert_allclose(full, np.exp(li) - li * t + stirling, rtol=1e-12)
    lrn = kiln.nn.local_response_normalization(x, depth_radius=2, bias=1.0, alpha=0.5,
                                               beta=0.75).numpy()
    sq = np.pad(x * x, [[0, 0]] * 3 + [[2, 2]])
    window = sum(sq[..., k:k + 8] for k in range(5))
    np.testing.assert_allclose(lrn, x / (1.0 + 0.5 * window) ** 0.75, rtol=1e-12)
    dk, pk = RNG.normal(size=(3, 3, 8, 1)), RNG.normal(size=(1, 1, 8, 5))
    sep = kiln.nn.separable_conv2d(x, dk, pk, [1, 1, 1, 1], "SAME").numpy()
    depth = kiln.nn.depthwise_conv2d(x, dk, [1, 1, 1, 1], "SAME").numpy()
    np.testing.assert_allclose(sep, depth @ pk[0, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(kiln.math.softmax(x).numpy(), kiln.nn.softmax(x).numpy())


def test_tensorflow_utilities():
    x = RNG.normal(size=(4, 5, 3))
    np.testing.assert_array_equal(kiln.slice(x, [1, 0, 1], [2, -1, 2]).numpy(), x[1:3, :, 1:3])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="do not fit"):
        kiln.slice(x, [3, 0, 0], [2, 1, 1])
    np.testing.assert_array_equal(
        kiln.strided_slice(x, [0, 1, 0], [4, 5, 3], [2, 2, 1]).numpy(), x[0:4:2, 1:5:2, 0:3])
    np.testing.assert_array_equal(
        kiln.strided_slice(x, [1, 0, 2], [0, 3, 0], [1, 1, 1], begin_mask=0, end_mask=1,
                           shrink_axis_mask=4).numpy(), x[1:, 0:3, 2])
    assert kiln.is_tensor(kiln.constant(1.0)) and not kiln.is_tensor(1.0)
    np.testing.assert_array_equal(kiln.get_static_value(kiln.constant([1, 2])), [1, 2])
    seen = []
    kiln.function(lambda v: seen.append(kiln.get_static_value(v)) or v)(kiln.ones(2))
    assert seen == [None]
    big = np.array([-3e9, 1.5, 3e9])
    np.testing.assert_array_equal(kiln.saturate_cast(big, kiln.int32).numpy(),
                                  [np.iinfo(np.int32).min, 1, np.iinfo(np.int32).max])
    np.testing.assert_array_equal(kiln.truncatediv(np.array([7, -7], np.int32),
                                                   np.array([2, 2], np.int32)).numpy(), [3, -3])
    np.testing.assert_array_equal(kiln.truncatediv(kiln.constant([7.5, -7.5]), 2.0).numpy(),
                                  [3.0, -3.0])
    y, idx, count = kiln.unique_with_counts(np.array([4, 1, 4, 4, 2], np.int32))
    np.testing.assert_array_equal(y.numpy(), [4, 1, 2])
    np.testing.assert_array_equal(count.numpy(), [3, 1, 1])
    seqs = RNG.normal(size=(3, 5, 2))
    lengths = np.array([2, 5, 0], np.int32)
    got = kiln.reverse_sequence(seqs, lengths, seq_axis=1, batch_axis=0).numpy()
    want = seqs.copy()
    for i, n in enumerate(lengths):
        want[i, :n] = seqs[i, :n][::-1]
    np.testing.assert_array_equal(got, want)
    assert kiln.broadcast_static_shape((3, 1, 5), (4, 1)) == (3, 4, 5)
    np.testing.assert_array_equal(kiln.broadcast_dynamic_shape([2, 1], [3]).numpy(), [2, 3])
    assert kiln.shape_n([x, x[0]])[1].numpy().tolist() == [5, 3]
    assert kiln.group(x) is None and kiln.no_op() is None
    np.testing.assert_array_equal(kiln.numpy_function(lambda a: a * 2, [x], kiln.float64)
                                  .numpy(), x * 2)
    with pytest.raises(kiln.errors.UnimplementedError, match="cannot call Python"):
        kiln.function(lambda v: kiln.py_function(lambda a: a, [v], kiln.float32))(kiln.ones(2))
    # switch_case and case, eagerly and compiled (nested conds on the index).
    branches = [lambda: kiln.constant(10.0), lambda: kiln.constant(20.0),
                lambda: kiln.constant(30.0)]
    pick = kiln.function(lambda i: kiln.switch_case(i, branches))
    for i, want in [(0, 10.0), (2, 30.0), (7, 30.0)]:
        assert float(kiln.switch_case(kiln.constant(i), branches)) == want
        assert float(pick(kiln.constant(i))) == want
    choose = kiln.function(lambda v: kiln.case(
        [(v < 0, lambda: v * -1.0), (v > 10, lambda: v - 10.0)], default=lambda: v))
    for v, want in [(-3.0, 3.0), (15.0, 5.0), (4.0, 4.0)]:
        assert float(choose(kiln.constant(v))) == want


def test_second_review_cases():
    # cumulative_logsumexp keeps prefixes far below the maximum (the
    # shifted formula gave -inf); its gradient is a softmax of the prefix.
    x = np.array([-1000.0, -999.0, 0.0])
    want = np.logaddexp.accumulate(x)
    np.testing.assert_allclose(kiln.math.cumulative_logsumexp(x).numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(
        kiln.math.cumulative_logsumexp(np.array([-200.0, 0.0], np.float32)).numpy(),
        [-200.0, 0.0], rtol=1e-6)
    xt = kiln.constant(x)
    with kiln.GradientTape() as tape:
        tape.watch(xt)
        top = kiln.math.cumulative_logsumexp(xt)[1]
    np.testing.assert_allclose(tape.gradient(top, xt).numpy(),
                               [np.exp(-1000 - want[1]), np.exp(-999 - want[1]), 0.0],
                               rtol=1e-12)
    # reverse_sequence checks its lengths.
    seqs = np.arange(6.0).reshape(2, 3)
    with pytest.raises(kiln.errors.InvalidArgumentError, match=r"outside \[0, 3\]"):
        kiln.reverse_sequence(seqs, np.array([4, 1], np.int32), seq_axis=1)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="one length per example"):
        kiln.reverse_sequence(seqs, np.array([1], np.int32), seq_axis=1)
    # case without a default: none holding is an error (TensorFlow's).
    f = kiln.function(lambda v: kiln.case([(v < 0, lambda: -v), (v > 10, lambda: v - 10)]))
    assert float(f(kiln.constant(12.0))) == 2.0
    with pytest.raises(kiln.errors.InvalidArgumentError, match="none of the conditions"):
        f(kiln.constant(5.0))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="none of the conditions"):
        kiln.case([(kiln.constant(False), lambda: 1.0)])
    # histogram_fixed_width bins in double like TensorFlow's kernel: 0.7 of
    # [0, 1) with 10 bins is bin 6 ((0.7 - 0) / 0.1 = 6.999... in double).
    assert kiln.histogram_fixed_width(np.array([0.7], np.float32), [0.0, 1.0],
                                      nbins=10).numpy()[6] == 1
    with pytest.raises(kiln.errors.InvalidArgumentError, match="lo < hi"):
        kiln.histogram_fixed_width(np.array([0.5]), [1.0, 1.0], nbins=3)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="NaN"):
        kiln.histogram_fixed_width(np.array([np.nan]), [0.0, 1.0], nbins=3)
    # saturate_cast to a narrower float clamps; invert_permutation checks.
    np.testing.assert_array_equal(kiln.saturate_cast(np.array([1e300, -1e300]),
                                                     kiln.float32).numpy(),
                                  [np.finfo(np.float32).max, -np.finfo(np.float32).max])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="not a permutation"):
        kiln.invert_permutation(np.array([0, 0, 1], np.int32))
    y, idx, count = kiln.function(
        lambda: kiln.unique_with_counts(kiln.constant([3, 3, 1], kiln.int32)))()
    np.testing.assert_array_equal(count.numpy(), [2, 1])
    # einsum's diagonal of an open extent is checked when the code runs.
    diag = kiln.function(lambda m: kiln.einsum("ii->i", m),
                         input_signature=[kiln.TensorSpec([None, 3], kiln.float64)])
    np.testing.assert_array_equal(diag(np.diag([1.0, 2.0, 3.0])).numpy(), [1, 2, 3])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="extents of letter 'i' differ"):
        diag(np.ones((4, 3)))
    # A tape around a function with a signature computes with the
    # signature's dtype (the arguments converted as a call would).
    typed = kiln.function(lambda v: v * kiln.constant(2.0, kiln.float32),
                          input_signature=[kiln.TensorSpec([2], kiln.float32)])
    with kiln.GradientTape():
        assert typed(np.ones(2)).dtype == kiln.float32


def test_special_functions_eager_compiled_and_their_gradients():
    # lgamma, digamma, polygamma and erfinv against SciPy, eagerly and in a
    # compiled function (one expansion serves both), bfloat16 computed in
    # f32; gradients through a tape against SciPy's derivatives
    # (lgamma' = digamma, digamma' = polygamma(1), erfinv' =
    # sqrt(pi)/2 exp(erfinv^2)).
    sp = pytest.importorskip("scipy.special")
    x = np.concatenate([RNG.uniform(-4.5, 9, 40), [0.25, 1.0, 2.0, 7.5]])
    p = RNG.uniform(-0.99, 0.99, 44)
    cases = [(kiln.math.lgamma, sp.gammaln, x), (kiln.math.digamma, sp.digamma, x),
             (lambda t: kiln.math.polygamma(2, t), lambda t: sp.polygamma(2, t), x),
             (kiln.math.erfinv, sp.erfinv, p)]

    @kiln.function
    def compiled(t, q):
        return [kiln.math.lgamma(t), kiln.math.digamma(t), kiln.math.polygamma(2, t),
                kiln.math.erfinv(q)]
    outs = compiled(x, p)
    for (fn, ref, v), out in zip(cases, outs):
        want = ref(v)
        scale = np.maximum(np.abs(want), 1)
        assert np.max(np.abs(fn(v).numpy() - want) / scale) < 1e-12
        assert np.max(np.abs(out.numpy() - want) / scale) < 1e-12
        got32 = fn(v.astype(np.float32)).numpy()
        assert got32.dtype == np.float32
        assert np.max(np.abs(got32 - want) / scale) < 2e-5
        # (bfloat16: against the function at the rounded inputs, to the
        # output's 8 bits)
        h = kiln.cast(kiln.constant(v.astype(np.float32)), kiln.bfloat16)
        half = fn(h)
        assert half.dtype == kiln.bfloat16
        at = ref(kiln.cast(h, kiln.float64).numpy())
        assert np.max(np.abs(kiln.cast(half, kiln.float64).numpy() - at) /
                      np.maximum(np.abs(at), 1)) < 1e-2
    # Per-element orders (each distinct order one expansion); an order that
    # is not a whole number in [0, 100] is NaN, as in TensorFlow.
    orders = np.array([0.0, 1.0, 3.0, 1.5, -1.0])
    got = kiln.math.polygamma(orders, np.full(5, 2.5)).numpy()
    np.testing.assert_allclose(got[:3], [sp.digamma(2.5), sp.polygamma(1, 2.5),
                                         sp.polygamma(3, 2.5)], rtol=1e-13)
    assert np.isnan(got[3:]).all()
    with pytest.raises(kiln.errors.UnimplementedError, match="order `a` must be known"):
        kiln.function(lambda a, t: kiln.math.polygamma(a, t),
                      input_signature=[kiln.TensorSpec([], kiln.float64),
                                       kiln.TensorSpec([44], kiln.float64)])(1.0, x)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="floating-point"):
        kiln.math.polygamma(1, np.arange(3))
    # Gradients.
    t = kiln.constant(x[x > 0.1])
    q = kiln.constant(p)
    with kiln.GradientTape(persistent=True) as tape:
        tape.watch([t, q])
        a, b, c = kiln.math.lgamma(t), kiln.math.digamma(t), kiln.math.erfinv(q)
    np.testing.assert_allclose(tape.gradient(a, t).numpy(), sp.digamma(t.numpy()),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tape.gradient(b, t).numpy(), sp.polygamma(1, t.numpy()),
                               rtol=1e-12)
    np.testing.assert_allclose(tape.gradient(c, q).numpy(),
                               np.sqrt(np.pi) / 2 * np.exp(sp.erfinv(p) ** 2), rtol=1e-12)


def test_dynamic_partition_and_stitch():
    # TensorFlow's documented examples, a round trip through both, a later
    # index winning in stitch, and gradients (gathers) against the
    # scattering NumPy does.
    data = np.arange(10, 16, dtype=np.float64)
    parts = kiln.dynamic_partition(data, [0, 0, 1, 1, 0, 1], 2)
    assert [p.numpy().tolist() for p in parts] == [[10, 11, 14], [12, 13, 15]]
    rows = np.arange(12.0).reshape(3, 2, 2)
    p2 = kiln.dynamic_partition(rows, np.array([[1, 0], [0, 2], [2, 2]]), 3)
    np.testing.assert_array_equal(p2[0].numpy(), rows.reshape(6, 2)[[1, 2]])
    np.testing.assert_array_equal(p2[2].numpy(), rows.reshape(6, 2)[[3, 4, 5]])
    indices = [np.array([6]), np.array([4, 1]), np.array([[5, 2], [0, 3]])]
    values = [np.array([[61, 62]]), np.array([[41, 42], [11, 12]]),
              np.array([[[51, 52], [21, 22]], [[1, 2], [31, 32]]])]
    merged = kiln.dynamic_stitch(indices, values).numpy()
    np.testing.assert_array_equal(merged, [[1, 2], [11, 12], [21, 22], [31, 32], [41, 42],
                                           [51, 52], [61, 62]])
    last = kiln.dynamic_stitch([[0, 2], [2]], [[1.0, 2.0], [3.0]]).numpy()
    np.testing.assert_array_equal(last, [1.0, 0.0, 3.0])   # (row 1 unwritten: 0)
    order = np.array([0, 0, 1, 1, 0, 1])
    back = kiln.dynamic_stitch(
        kiln.dynamic_partition(np.arange(6), order, 2),
        kiln.dynamic_partition(data * 2, order, 2)).numpy()
    np.testing.assert_array_equal(back, data * 2)
    # a = x[0, 1, 4], b = x[2, 3, 5]; stitched to [x2, x4, x0, x3, x5] (b's
    # first row overwrites a's second at index 0, so x1 gets no gradient).
    x = kiln.constant(data)
    w = np.array([1.0, -2.0, 0.5, 3.0, -1.5])
    with kiln.GradientTape() as tape:
        tape.watch(x)
        a, b = kiln.dynamic_partition(x, order, 2)
        merged = kiln.dynamic_stitch([[2, 0, 1], [0, 3, 4]], [a, b])
        y = kiln.reduce_sum(merged * w)
    np.testing.assert_array_equal(merged.numpy(), data[[2, 4, 0, 3, 5]])
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(),
                                  [w[2], 0.0, w[0], w[3], w[1], w[4]])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="partition 3 is not in"):
        kiln.dynamic_partition(data, [0, 3, 0, 0, 0, 0], 2)
    with pytest.raises(kiln.errors.UnimplementedError, match="dynamic_partition"):
        kiln.function(lambda d, p: kiln.dynamic_partition(d, p, 2))(data, order)


def test_normal_quantile_log_cdf_and_lbeta():
    sp = pytest.importorskip("scipy.special")
    p = np.concatenate([np.logspace(-300, -1, 40), np.linspace(0.01, 0.99, 60),
                        1 - np.logspace(-16, -2, 12)])
    np.testing.assert_allclose(kiln.math.ndtri(p).numpy(), sp.ndtri(p), rtol=1e-13)
    edges = kiln.math.ndtri(np.array([0.0, 1.0, -0.5, 1.5, 0.5])).numpy()
    assert edges[0] == -np.inf and edges[1] == np.inf and np.isnan(edges[2:4]).all()
    assert edges[4] == 0.0
    p32 = np.concatenate([np.logspace(-44, -1, 30), np.linspace(0.05, 0.95, 19)]).astype(
        np.float32)
    got = kiln.math.ndtri(p32).numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, sp.ndtri(p32.astype(np.float64)), rtol=2e-7)
    x = np.concatenate([np.linspace(-60, 12, 150), [-1e4, 0.0, 40.0]])
    np.testing.assert_allclose(kiln.math.log_ndtr(x).numpy(), sp.log_ndtr(x), rtol=1e-11)
    a = RNG.uniform(0.1, 4, (3, 5))
    np.testing.assert_allclose(kiln.math.lbeta(a).numpy(),
                               sp.gammaln(a).sum(-1) - sp.gammaln(a.sum(-1)), rtol=1e-12)
    # Gradients: ndtri' = 1 / phi(ndtri), log_ndtr' = phi / Phi.
    t = kiln.constant(np.array([0.01, 0.3, 0.8]))
    u = kiln.constant(np.array([-30.0, -2.0, 1.5]))
    with kiln.GradientTape(persistent=True) as tape:
        tape.watch([t, u])
        q, l = kiln.math.ndtri(t), kiln.math.log_ndtr(u)
    z = sp.ndtri(t.numpy())
    np.testing.assert_allclose(tape.gradient(q, t).numpy(),
                               np.sqrt(2 * np.pi) * np.exp(z * z / 2), rtol=1e-8)
    phi = np.exp(-u.numpy() ** 2 / 2) / np.sqrt(2 * np.pi)
    np.testing.assert_allclose(tape.gradient(l, u).numpy(),
                               phi / np.exp(sp.log_ndtr(u.numpy())), rtol=1e-6)


def test_convolution_aliases():
    x = RNG.normal(size=(2, 9, 9, 3))
    w = RNG.normal(size=(3, 3, 3, 4))
    np.testing.assert_allclose(kiln.nn.atrous_conv2d(x, w, 2, "SAME").numpy(),
                               kiln.nn.conv2d(x, w, 1, "SAME", dilations=2).numpy())
    np.testing.assert_allclose(kiln.nn.convolution(x, w, padding="VALID").numpy(),
                               kiln.nn.conv2d(x, w, 1, "VALID").numpy())
    # conv1d_transpose is conv1d's gradient with respect to its input:
    # <conv1d(u, f), v> = <u, conv1d_transpose(v, f)>.
    u, f = RNG.normal(size=(2, 8, 3)), RNG.normal(size=(3, 3, 5))
    y = kiln.nn.conv1d(u, f, stride=2, padding="SAME").numpy()
    v = RNG.normal(size=y.shape)
    back = kiln.nn.conv1d_transpose(v, f, [2, 8, 3], strides=2, padding="SAME").numpy()
    np.testing.assert_allclose(np.sum(y * v), np.sum(u * back), rtol=1e-10)
    np.testing.assert_allclose(kiln.nn.convolution(u, f, strides=2, padding="SAME").numpy(), y)


def test_special_function_review_cases():
    sp = pytest.importorskip("scipy.special")
    # lgamma and digamma keep their relative accuracy next to their zeros in
    # float32 (computed in f64); trigamma of a huge float32 argument is ~1/x,
    # not an underflowed 0; orders above 100 are refused; dynamic_stitch
    # refuses mixed dtypes.
    near = np.array([1 + 1e-4, 2 - 1e-4, 1.4616321449683622 + 1e-3], np.float32)
    got = kiln.math.lgamma(near[:2]).numpy()
    np.testing.assert_allclose(got, sp.gammaln(near[:2].astype(np.float64)), rtol=1e-5)
    np.testing.assert_allclose(kiln.math.digamma(near[2:]).numpy(),
                               sp.digamma(near[2:].astype(np.float64)), rtol=1e-5)
    huge = np.array([1e20, 3e25], np.float32)
    np.testing.assert_allclose(kiln.math.polygamma(1, huge).numpy(), 1 / huge.astype(np.float64),
                               rtol=1e-6)
    with pytest.raises(kiln.errors.UnimplementedError, match="above 100"):
        kiln.math.polygamma(150, np.array([2.0]))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="different dtypes"):
        kiln.dynamic_stitch([[0], [1]], [np.array([1.0]), np.array([2], np.int32)])


def test_gathers_with_batch_dims_match_numpy():
    rng = np.random.default_rng(17)
    p = rng.normal(size=(2, 3, 5, 4))
    idx = rng.integers(0, 5, size=(2, 3, 6))
    want = np.stack([np.stack([p[i, j][idx[i, j]] for j in range(3)]) for i in range(2)])
    np.testing.assert_array_equal(kiln.gather(p, idx, batch_dims=2).numpy(), want)
    # An axis past the batch: TensorFlow's order (batch, axes before, indices', rest).
    idx1 = rng.integers(0, 4, size=(2, 7))
    np.testing.assert_array_equal(
        kiln.gather(p, idx1, axis=3, batch_dims=1).numpy(),
        np.stack([np.take(p[i], idx1[i], axis=2) for i in range(2)]))
    np.testing.assert_array_equal(
        kiln.gather(p, idx1[:, :3] % 3, axis=1, batch_dims=-1).numpy(),
        np.stack([np.take(p[i], idx1[i, :3] % 3, axis=0) for i in range(2)]))
    # gather_nd with a batch: each entry indexes its own params.
    nd = rng.integers(0, 3, size=(2, 4, 2))
    nd[..., 1] = rng.integers(0, 5, size=(2, 4))
    np.testing.assert_array_equal(
        kiln.gather_nd(p, nd, batch_dims=1).numpy(),
        np.stack([np.stack([p[b][tuple(ix)] for ix in nd[b]]) for b in range(2)]))
    # Compiled: indices known only when the code runs are checked there.
    f = kiln.function(lambda t, i: kiln.gather(t, i, batch_dims=2))
    np.testing.assert_array_equal(f(p, idx).numpy(), want)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="out of range"):
        f(p, np.where(idx == 0, 5, idx))
    # The gradient scatters back into each batch entry's rows.
    t = kiln.constant(p)
    w = rng.normal(size=want.shape)
    with kiln.GradientTape() as tape:
        tape.watch(t)
        y = kiln.reduce_sum(kiln.gather(t, idx, batch_dims=2) * w)
    g = np.zeros_like(p)
    for i in range(2):
        for j in range(3):
            np.add.at(g[i, j], idx[i, j], w[i, j])
    np.testing.assert_allclose(tape.gradient(y, t).numpy(), g, rtol=1e-12)


def test_sparse_segment_reductions():
    rng = np.random.default_rng(23)
    data = rng.normal(size=(6, 3))
    indices = np.array([0, 2, 2, 5, 1, 4, 3])
    ids = np.array([0, 0, 1, 1, 1, 3, 3])
    sums = np.zeros((4, 3))
    counts = np.zeros(4)
    for i, s in zip(indices, ids):
        sums[s] += data[i]
        counts[s] += 1
    m = kiln.math
    np.testing.assert_allclose(m.sparse_segment_sum(data, indices, ids).numpy(), sums,
                               rtol=1e-12)
    np.testing.assert_allclose(m.sparse_segment_mean(data, indices, ids).numpy(),
                               sums / np.maximum(counts, 1)[:, None], rtol=1e-12)
    np.testing.assert_allclose(m.sparse_segment_sqrt_n(data, indices, ids).numpy(),
                               sums / np.sqrt(np.maximum(counts, 1))[:, None], rtol=1e-12)
    wide = m.sparse_segment_sum(data, indices, ids, num_segments=6).numpy()
    np.testing.assert_allclose(wide, np.concatenate([sums, np.zeros((2, 3))]), rtol=1e-12)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="sorted"):
        m.sparse_segment_sum(data, indices, ids[::-1])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="axis 2 is out of range"):
        kiln.gather(data, [0], axis=2)


def test_reduce_all_and_any_of_empty_axes():
    """An empty reduction: all is True, any is False (NumPy's and
    TensorFlow's identities), eagerly and compiled."""
    empty, rows = np.zeros((0,), bool), np.zeros((0, 3), bool)
    some = np.array([[True, False], [True, True]])
    for all_, any_ in ((kiln.reduce_all, kiln.reduce_any),
                       (kiln.function(kiln.reduce_all), kiln.function(kiln.reduce_any))):
        assert bool(all_(empty)) and not bool(any_(empty))
        np.testing.assert_array_equal(all_(rows, axis=0).numpy(), [True] * 3)
        np.testing.assert_array_equal(any_(rows, axis=0).numpy(), [False] * 3)
        np.testing.assert_array_equal(all_(some, axis=1).numpy(), some.all(1))
        np.testing.assert_array_equal(any_(some, axis=0).numpy(), some.any(0))


def test_conv2d_explicit_padding_nchw_and_empty_reshape():
    """tf.nn.conv2d's explicit padding [[0, 0], [t, b], [l, r], [0, 0]] and
    data_format='NCHW' (strides in that order), against a direct NumPy
    convolution; reshape of an empty tensor refuses a -1 it cannot infer."""
    rng = np.random.default_rng(0)
    x = rng.random((2, 5, 6, 3)).astype(np.float32)
    w = rng.random((3, 3, 3, 4)).astype(np.float32)

    def direct(x, pads, stride):
        xp = np.pad(x, [(0, 0), pads[0], pads[1], (0, 0)])
        rows, cols = (xp.shape[1] - 3) // stride + 1, (xp.shape[2] - 3) // stride + 1
        out = np.zeros((2, rows, cols, 4), np.float32)
        for i in range(rows):
            for j in range(cols):
                patch = xp[:, i * stride:i * stride + 3, j * stride:j * stride + 3]
                out[:, i, j] = np.einsum("bhwc,hwco->bo", patch, w)
        return out

    for run in (kiln.nn.conv2d, kiln.function(kiln.nn.conv2d)):
        y = run(x, w, 1, [[0, 0], [1, 2], [0, 1], [0, 0]])
        np.testing.assert_allclose(y.numpy(), direct(x, [(1, 2), (0, 1)], 1), rtol=1e-5)
        y = run(np.transpose(x, (0, 3, 1, 2)), w, [1, 1, 2, 2],
                [[0, 0], [0, 0], [1, 2], [0, 1]], "NCHW")
        np.testing.assert_allclose(np.transpose(y.numpy(), (0, 2, 3, 1)),
                                   direct(x, [(1, 2), (0, 1)], 2), rtol=1e-5)
    with pytest.raises(ValueError, match="explicit padding"):
        kiln.nn.conv2d(x, w, 1, [[1, 1], [1, 1], [1, 1], [0, 0]])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="cannot infer the -1"):
        kiln.reshape(kiln.zeros((0, 4)), [0, -1])
    assert kiln.reshape(kiln.zeros((0, 4)), [-1, 2]).shape == (0, 2)


def test_bincount_per_row_and_binary_output():
    """tf.math.bincount's axis=-1 (a table per row) and binary_output,
    against NumPy's bincount row by row; with minlength == maxlength it
    compiles."""
    arr = np.array([[1, 1, 2, 5], [0, 3, 3, 3]], np.int32)
    want = np.stack([np.bincount(r, minlength=6) for r in arr])
    counts = lambda a: kiln.math.bincount(a, minlength=6, maxlength=6, axis=-1)  # noqa: E731
    seen = lambda a: kiln.math.bincount(a, minlength=6, maxlength=6, axis=-1,  # noqa: E731
                                        binary_output=True)
    for run, expect in ((counts, want), (seen, want > 0)):
        np.testing.assert_array_equal(run(arr).numpy(), expect)
        np.testing.assert_array_equal(kiln.function(run)(arr).numpy(), expect)
    w = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_array_equal(
        kiln.math.bincount(arr, weights=w, axis=-1).numpy(),
        np.stack([np.bincount(r, weights=wr, minlength=6) for r, wr in zip(arr, w)]))
    np.testing.assert_array_equal(kiln.math.bincount(arr, binary_output=True).numpy(),
                                  np.bincount(arr.ravel()) > 0)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="exclude each other"):
        kiln.math.bincount(arr, weights=w, binary_output=True)
