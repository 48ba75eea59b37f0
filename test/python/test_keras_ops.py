"""kiln.keras.ops (Keras 3's `from keras import ops`) against NumPy, whose
conventions Keras 3 follows (axis=None over everything, transpose reversing
the dimensions, split points, take on the flattened tensor)."""

import numpy as np
import pytest

import kiln
from kiln.keras import ops

RNG = np.random.default_rng(61)
X = RNG.uniform(0.5, 2.0, size=(3, 4))
Y = RNG.uniform(0.5, 2.0, size=(3, 4))

UNARY = {
    "abs": np.abs, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "square": np.square,
    "log2": np.log2, "log10": np.log10, "expm1": np.expm1, "log1p": np.log1p,
    "sin": np.sin, "cos": np.cos, "tanh": np.tanh, "floor": np.floor, "ceil": np.ceil,
    "negative": np.negative, "sign": np.sign, "arctan": np.arctan, "sinh": np.sinh,
}
BINARY = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply,
          "divide": np.divide, "power": np.power, "maximum": np.maximum,
          "minimum": np.minimum, "arctan2": np.arctan2, "floor_divide": np.floor_divide,
          "mod": np.mod}
REDUCE = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod,
          "std": np.std, "var": np.var}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name):
    np.testing.assert_allclose(getattr(ops, name)(X).numpy(), UNARY[name](X), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary(name):
    np.testing.assert_allclose(getattr(ops, name)(X, Y).numpy(), BINARY[name](X, Y),
                               rtol=1e-12)


@pytest.mark.parametrize("name", sorted(REDUCE))
@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), ((0, 1), True)])
def test_reductions(name, axis, keepdims):
    got = getattr(ops, name)(X, axis=axis, keepdims=keepdims).numpy()
    np.testing.assert_allclose(got, REDUCE[name](X, axis=axis, keepdims=keepdims), rtol=1e-12)


def test_shapes_and_indexing():
    a = RNG.normal(size=(2, 3, 4))
    np.testing.assert_array_equal(ops.transpose(a).numpy(), np.transpose(a))
    np.testing.assert_array_equal(ops.transpose(a, (1, 0, 2)).numpy(),
                                  np.transpose(a, (1, 0, 2)))
    for got, want in zip(ops.split(a, [1, 3], axis=2), np.split(a, [1, 3], axis=2)):
        np.testing.assert_array_equal(got.numpy(), want)
    for got, want in zip(ops.split(a, 3, axis=1), np.split(a, 3, axis=1)):
        np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(ops.take(a, [3, 7, 0]).numpy(), np.take(a, [3, 7, 0]))
    np.testing.assert_array_equal(ops.take(a, [2, 0], axis=1).numpy(),
                                  np.take(a, [2, 0], axis=1))
    idx = RNG.integers(0, 4, size=(2, 3, 2))
    np.testing.assert_array_equal(ops.take_along_axis(a, idx, axis=2).numpy(),
                                  np.take_along_axis(a, idx, axis=2))
    idx0 = RNG.integers(0, 2, size=(1, 3, 4))
    np.testing.assert_array_equal(ops.take_along_axis(a, idx0, axis=0).numpy(),
                                  np.take_along_axis(a, idx0, axis=0))
    assert int(ops.argmax(a).numpy()) == int(np.argmax(a))
    np.testing.assert_array_equal(ops.argmin(a, axis=1).numpy(), np.argmin(a, axis=1))
    np.testing.assert_array_equal(ops.squeeze(np.ones((1, 3, 1))).numpy(), np.ones(3))
    np.testing.assert_array_equal(ops.flip(a, axis=1).numpy(), np.flip(a, axis=1))
    np.testing.assert_array_equal(ops.roll(a, 2).numpy(), np.roll(a, 2))
    np.testing.assert_array_equal(ops.repeat(a, 2).numpy(), np.repeat(a, 2))
    np.testing.assert_array_equal(ops.concatenate([a, a], axis=-1).numpy(),
                                  np.concatenate([a, a], axis=-1))
    np.testing.assert_allclose(ops.dot(a, RNG.normal(size=(4, 5))).shape, (2, 3, 5))
    v, w = RNG.normal(size=3), RNG.normal(size=(3, 2))
    np.testing.assert_allclose(ops.dot(v, w).numpy(), np.dot(v, w), rtol=1e-12)
    np.testing.assert_allclose(ops.outer(v, v).numpy(), np.outer(v, v), rtol=1e-12)
    np.testing.assert_allclose(ops.norm(a, axis=-1).numpy(), np.linalg.norm(a, axis=-1),
                               rtol=1e-12)
    np.testing.assert_array_equal(ops.arange(2, 9, 3).numpy(), np.arange(2, 9, 3))
    np.testing.assert_allclose(ops.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5))
    np.testing.assert_array_equal(ops.eye(3, 4, 1).numpy(), np.eye(3, 4, 1))
    assert ops.shape(a) == (2, 3, 4) and ops.ndim(a) == 3
    np.testing.assert_array_equal(ops.full((2, 2), 7.0).numpy(), np.full((2, 2), 7.0))
    np.testing.assert_allclose(ops.logsumexp(X, axis=1).numpy(),
                               np.log(np.exp(X).sum(axis=1)), rtol=1e-12)
    np.testing.assert_allclose(ops.clip(X, 0.8, 1.5).numpy(), np.clip(X, 0.8, 1.5))


def test_a_custom_layer_written_with_keras_ops():
    # What Keras 3 code looks like: a layer over ops, in a compiled fit.
    class Norm(kiln.layers.Layer):
        def call(self, x):
            mean = ops.mean(x, axis=-1, keepdims=True)
            var = ops.var(x, axis=-1, keepdims=True)
            return (x - mean) / ops.sqrt(var + 1e-6)

    model = kiln.Sequential([kiln.Input(shape=(5,)), Norm(), kiln.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = RNG.normal(size=(16, 5)).astype(np.float32)
    out = Norm()(x).numpy()
    np.testing.assert_allclose(out, (x - x.mean(-1, keepdims=True)) /
                               np.sqrt(x.var(-1, keepdims=True) + 1e-6), rtol=1e-4, atol=1e-5)
    model.fit(x, RNG.normal(size=(16, 1)).astype(np.float32), epochs=1, verbose=0)


def test_more_keras_ops_against_numpy():
    K = kiln.keras.ops
    rng = np.random.default_rng(21)
    x = rng.normal(size=(2, 3, 4))
    np.testing.assert_array_equal(K.convert_to_numpy(K.swapaxes(x, 0, 2)), np.swapaxes(x, 0, 2))
    np.testing.assert_array_equal(K.moveaxis(x, 0, -1).numpy(), np.moveaxis(x, 0, -1))
    np.testing.assert_array_equal(K.moveaxis(x, [0, 1], [2, 0]).numpy(),
                                  np.moveaxis(x, [0, 1], [2, 0]))
    for k in (-1, 0, 2):
        np.testing.assert_array_equal(K.triu(x, k).numpy(), np.triu(x, k))
        np.testing.assert_array_equal(K.tril(x, k).numpy(), np.tril(x, k))
    for mode in ("constant", "reflect", "symmetric"):
        np.testing.assert_array_equal(K.pad(x, [[0, 0], [1, 2], [2, 1]], mode).numpy(),
                                      np.pad(x, [[0, 0], [1, 2], [2, 1]], mode))
    np.testing.assert_array_equal(K.pad(x, 1, constant_values=7.0).numpy(),
                                  np.pad(x, 1, constant_values=7.0))
    special = np.array([np.nan, np.inf, -np.inf, 1.5])
    np.testing.assert_array_equal(K.nan_to_num(special).numpy(), np.nan_to_num(special))
    np.testing.assert_array_equal(K.nan_to_num(special, nan=1.0, posinf=2.0, neginf=-2.0)
                                  .numpy(), [1.0, 2.0, -2.0, 1.5])
    np.testing.assert_array_equal(K.nan_to_num(special, posinf=np.inf).numpy(),
                                  np.nan_to_num(special, posinf=np.inf))
    np.testing.assert_array_equal(K.slice(x, [1, 0, 2], [1, 2, 2]).numpy(), x[1:2, 0:2, 2:4])
    updated = x.copy()
    updated[0, 1:3, 1:3] = 9.0
    np.testing.assert_array_equal(K.slice_update(x, [0, 1, 1], np.full((1, 2, 2), 9.0))
                                  .numpy(), updated)
    mean, var = K.moments(x, axes=[0, 2])
    np.testing.assert_allclose(mean.numpy(), x.mean(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(var.numpy(), x.var(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(K.elu(x, 0.5).numpy(), np.where(x > 0, x, 0.5 * np.expm1(x)),
                               rtol=1e-12)
    np.testing.assert_allclose(K.leaky_relu(x).numpy(), np.where(x > 0, x, 0.2 * x))
    # Loops: Keras' while_loop (tuples, maximum_iterations) and fori_loop.
    i, total = K.while_loop(lambda i, t: i < 10, lambda i, t: (i + 1, t + i),
                            (kiln.constant(0), kiln.constant(0)))
    assert (int(i), int(total)) == (10, 45)
    (i,) = K.while_loop(lambda i: i < 100, lambda i: (i + 1,), (kiln.constant(0),),
                        maximum_iterations=7)
    assert int(i) == 7
    assert float(K.fori_loop(0, 5, lambda i, v: v * 2.0, kiln.constant(1.0))) == 32.0
    compiled = kiln.function(lambda v: K.fori_loop(0, 4, lambda i, a: a + v, v * 0.0))
    np.testing.assert_allclose(compiled(x).numpy(), 4 * x)
    # Elementwise crossentropies (not averaged).
    t = (rng.uniform(size=(3, 4)) > 0.5).astype(np.float64)
    p = rng.uniform(0.05, 0.95, size=(3, 4))
    np.testing.assert_allclose(K.binary_crossentropy(t, p).numpy(),
                               -(t * np.log(p) + (1 - t) * np.log(1 - p)), rtol=1e-12)
    logits = rng.normal(size=(3, 4))
    log_sm = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    labels = np.array([0, 3, 1])
    np.testing.assert_allclose(K.sparse_categorical_crossentropy(labels, logits, True).numpy(),
                               -log_sm[np.arange(3), labels], rtol=1e-12)
    np.testing.assert_allclose(
        K.categorical_crossentropy(np.eye(4)[labels], np.exp(log_sm)).numpy(),
        -log_sm[np.arange(3), labels], rtol=1e-9)


def test_dot_product_attention_against_numpy():
    K = kiln.keras.ops
    rng = np.random.default_rng(22)
    q = rng.normal(size=(2, 5, 4, 3))
    k = rng.normal(size=(2, 6, 2, 3))          # (grouped: 2 key heads for 4 query heads)
    v = rng.normal(size=(2, 6, 2, 3))
    mask = rng.uniform(size=(2, 1, 5, 6)) > 0.3
    mask[..., 0] = True
    kk, vv = np.repeat(k, 2, axis=2), np.repeat(v, 2, axis=2)
    logits = np.einsum("btnh,bsnh->bnts", q, kk) / np.sqrt(3)
    for m, causal in ((None, False), (mask, False), (None, True)):
        keep = np.ones((5, 6), bool) if m is None else np.broadcast_to(m, logits.shape)
        if causal:
            keep = keep & np.tril(np.ones((5, 6), bool))
        z = np.where(keep, logits, -1e9)
        w = np.exp(z - z.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        want = np.einsum("bnts,bsnh->btnh", w, vv)
        got = K.dot_product_attention(q, k, v, mask=m, is_causal=causal).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_keras_scan_like_jax():
    K = kiln.keras.ops
    xs = np.random.default_rng(5).normal(size=(6, 2)).astype(np.float32)

    def numpy_scan(carry, seq, reverse=False):
        ys = [None] * len(seq)
        for i in (range(len(seq))[::-1] if reverse else range(len(seq))):
            (s, p), y = (carry[0] + seq[i], carry[1] * 0.5 + seq[i].sum()), carry[0] * seq[i]
            carry, ys[i] = (s, p), y
        return carry, np.stack(ys)

    def f(carry, x):
        s, p = carry
        return (s + x, p * 0.5 + K.sum(x)), s * x
    init = (kiln.constant(np.zeros(2, np.float32)), kiln.constant(np.float32(1.0)))
    for reverse in (False, True):
        (s, p), ys = K.scan(f, init, kiln.constant(xs), reverse=reverse)
        (ws, wp), wys = numpy_scan((np.zeros(2), 1.0), xs.astype(np.float64), reverse)
        np.testing.assert_allclose(s.numpy(), ws, rtol=1e-5)
        np.testing.assert_allclose(float(p), wp, rtol=1e-5)
        np.testing.assert_allclose(ys.numpy(), wys, rtol=1e-5, atol=1e-6)
    compiled = kiln.function(lambda v: K.scan(f, init, v)[1])(xs)
    np.testing.assert_allclose(compiled.numpy(), numpy_scan((np.zeros(2), 1.0), xs)[1],
                               rtol=1e-5, atol=1e-6)
    carry, ys = K.scan(lambda c, _: (c * 2.0, c), kiln.constant(1.0), length=4)
    assert float(carry) == 16.0 and list(ys.numpy()) == [1.0, 2.0, 4.0, 8.0]
    total, nothing = K.scan(lambda c, x: (c + x, None), kiln.constant(0.0),
                            kiln.constant([1.0, 2.0, 3.0]))
    assert float(total) == 6.0 and nothing is None
    with pytest.raises(ValueError, match="length 5 but xs has 3"):
        K.scan(lambda c, x: (c + x, None), kiln.constant(0.0), kiln.constant([1.0, 2.0, 3.0]),
               length=5)
