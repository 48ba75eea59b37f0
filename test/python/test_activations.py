"""Keras 3's activation functions against their formulas in NumPy, by
name as layers take them, and their gradients against central
differences."""

import numpy as np
import pytest

import kiln
from conftest import central

A = kiln.activations
X = np.linspace(-4.0, 4.0, 33)


def _sparsemax_numpy(z):
    """The simplex projection by bisection on tau (independent of the
    sort-based formula)."""
    out = np.zeros_like(z)
    for i, row in enumerate(z):
        lo, hi = row.min() - 1.0, row.max()
        for _ in range(200):
            tau = (lo + hi) / 2
            lo, hi = (tau, hi) if np.maximum(row - tau, 0).sum() > 1 else (lo, tau)
        out[i] = np.maximum(row - (lo + hi) / 2, 0)
    return out


sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
softplus = lambda v: np.log1p(np.exp(v))  # noqa: E731
CASES = {
    "hard_sigmoid": lambda v: np.clip(v + 3, 0, 6) / 6,
    "hard_silu": lambda v: v * np.clip(v + 3, 0, 6) / 6,
    "hard_swish": lambda v: v * np.clip(v + 3, 0, 6) / 6,
    "mish": lambda v: v * np.tanh(softplus(v)),
    "log_sigmoid": lambda v: -softplus(-v),
    "celu": lambda v: np.maximum(v, 0) + np.minimum(np.expm1(v), 0),
    "hard_tanh": lambda v: np.clip(v, -1, 1),
    "tanh_shrink": lambda v: v - np.tanh(v),
    "soft_shrink": lambda v: np.sign(v) * np.maximum(np.abs(v) - 0.5, 0),
    "hard_shrink": lambda v: np.where(np.abs(v) > 0.5, v, 0.0),
    "squareplus": lambda v: (v + np.sqrt(v * v + 4)) / 2,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_activation_matches_its_formula(name):
    fn = A.get(name)
    np.testing.assert_allclose(fn(kiln.constant(X)).numpy(), CASES[name](X), rtol=1e-12,
                               atol=1e-14)
    layer = kiln.layers.Dense(3, activation=name, dtype="float64")
    x = np.random.default_rng(1).normal(size=(4, 2))
    layer(x)
    k, b = layer.kernel.numpy(), layer.bias.numpy()
    np.testing.assert_allclose(layer(x).numpy(), CASES[name](x @ k + b), rtol=1e-12,
                               atol=1e-14)
    # Away from the kinks, the gradient is the formula's.
    smooth = X[np.abs(np.abs(X) - 0.5) > 0.1]
    smooth = smooth[np.abs(np.abs(smooth) - 3) > 0.1]
    smooth = smooth[np.abs(np.abs(smooth) - 1) > 0.1]
    t = kiln.constant(smooth)
    with kiln.GradientTape() as tape:
        tape.watch(t)
        y = kiln.reduce_sum(fn(t))
    np.testing.assert_allclose(tape.gradient(y, t).numpy(),
                               central(lambda v: CASES[name](v).sum(), smooth), rtol=1e-6,
                               atol=1e-8)


def test_glu_and_sparsemax():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 6))
    a, b = x[:, :3], x[:, 3:]
    np.testing.assert_allclose(A.glu(x).numpy(), a * sig(b), rtol=1e-12)
    np.testing.assert_allclose(A.glu(x.T, axis=0).numpy(), (a * sig(b)).T, rtol=1e-12)
    z = rng.normal(size=(5, 7)) * 2
    got = A.sparsemax(z).numpy()
    np.testing.assert_allclose(got, _sparsemax_numpy(z), atol=1e-9)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-12)
    assert (got == 0).any()                                   # (sparse)
    np.testing.assert_allclose(A.sparsemax(z.T, axis=0).numpy(), got.T, atol=1e-12)
    compiled = kiln.function(lambda v: A.get("sparsemax")(v))(z).numpy()
    np.testing.assert_allclose(compiled, got, atol=1e-12)
    # Sparsemax's gradient: the projection's Jacobian on the support.
    t = kiln.constant(z)
    w = rng.normal(size=z.shape)
    with kiln.GradientTape() as tape:
        tape.watch(t)
        y = kiln.reduce_sum(A.sparsemax(t) * w)
    np.testing.assert_allclose(tape.gradient(y, t).numpy(),
                               central(lambda v: (_sparsemax_numpy(v) * w).sum(), z, h=1e-7),
                               rtol=1e-4, atol=1e-6)


def test_large_inputs_keep_gradients_finite():
    # elu-like branches must not overflow where they are not taken.
    t = kiln.constant(np.array([-800.0, -3.0, 2.0, 800.0]))
    for fn in (A.celu, lambda v: kiln.keras.ops.elu(v, 0.5)):
        with kiln.GradientTape() as tape:
            tape.watch(t)
            y = kiln.reduce_sum(fn(t))
        g = tape.gradient(y, t).numpy()
        assert np.all(np.isfinite(g)) and g[-1] == 1.0 and g[0] == 0.0


def test_relu6_gradient_is_zero_at_its_kinks():
    """TensorFlow's Relu6Grad: (0 < x < 6), so 0 at exactly 0 and 6."""
    x = kiln.constant([-1.0, 0.0, 3.0, 6.0, 7.0])
    with kiln.GradientTape() as tape:
        tape.watch(x)
        y = kiln.reduce_sum(kiln.nn.relu6(x))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(kiln.nn.relu6(x).numpy(), [0, 0, 3, 6, 6])
