"""The regularized incomplete gamma functions (math.igamma / igammac),
their derivatives in a and x, the gamma sample's implicit derivative
(special.random_gamma_grad) and the gradient of random.gamma: values
against SciPy's gammainc / gammaincc, derivatives against central
differences of SciPy's functions (and of gammaincinv for the sample's
derivative), never against Kiln itself."""

import numpy as np
import pytest
import scipy.special as sp

import kiln
from kiln import special

# Both sides of the series / continued-fraction split, small and large a,
# x near a (the slowest convergence), the far tails.
A = np.array([0.01, 0.1, 0.5, 1.0, 1.0, 2.5, 10.0, 10.0, 10.0, 100.0, 100.0, 1000.0, 3.0, 0.5])
X = np.array([5.0, 0.05, 2.0, 1.0, 0.3, 1e-3, 9.0, 10.5, 30.0, 95.0, 130.0, 1010.0, 1e-8, 40.0])


def test_values_match_scipy_in_float64_and_float32():
    p, q = kiln.math.igamma(A, X).numpy(), kiln.math.igammac(A, X).numpy()
    np.testing.assert_allclose(p, sp.gammainc(A, X), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(q, sp.gammaincc(A, X), rtol=1e-11, atol=1e-300)
    a32, x32 = A.astype(np.float32), X.astype(np.float32)
    p32 = kiln.math.igamma(a32, x32)
    assert p32.dtype == kiln.float32
    np.testing.assert_allclose(p32.numpy(), sp.gammainc(a32.astype(np.float64), x32), rtol=2e-6,
                               atol=1e-30)
    # Broadcasting, integers promoted, and TensorFlow's values at the edges.
    grid = kiln.math.igamma(np.array([[0.5], [4.0]]), np.array([0.0, 1.0, np.inf]))
    np.testing.assert_allclose(grid.numpy(), sp.gammainc([[0.5], [4.0]], [0.0, 1.0, np.inf]),
                               rtol=1e-13)
    edges = kiln.math.igammac(np.array([0.0, -1.0, 2.0, np.nan, 2.0]),
                              np.array([1.0, 1.0, -1.0, 1.0, np.nan])).numpy()
    assert np.isnan(edges).all()
    with pytest.raises(TypeError, match="same dtype"):
        kiln.math.igamma(a32, X)


def test_compiled_over_an_open_batch():
    f = kiln.function(lambda a, x: (kiln.math.igamma(a, x), kiln.math.igammac(a, x)),
                      input_signature=[kiln.TensorSpec([None], kiln.float64)] * 2)
    for n in (3, len(A)):
        p, q = f(A[:n], X[:n])
        np.testing.assert_allclose(p.numpy(), sp.gammainc(A[:n], X[:n]), rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(q.numpy(), sp.gammaincc(A[:n], X[:n]), rtol=1e-11,
                                   atol=1e-300)


def test_derivatives_in_a_and_x_match_central_differences():
    keep = X > 1e-6   # (central differences need room on both sides)
    a, x = A[keep], X[keep]
    weights = np.linspace(-1.0, 2.0, len(a))
    ta, tx = kiln.constant(a), kiln.constant(x)
    with kiln.GradientTape() as tape:
        tape.watch([ta, tx])
        y = kiln.reduce_sum(kiln.math.igamma(ta, tx) * weights)
        z = kiln.reduce_sum(kiln.math.igammac(ta, tx) * weights)
    ga, gx = tape.gradient(y, [ta, tx])
    ha, hx = 1e-6 * a, 1e-6 * x
    da = (sp.gammainc(a + ha, x) - sp.gammainc(a - ha, x)) / (2 * ha)
    dx = (sp.gammainc(a, x + hx) - sp.gammainc(a, x - hx)) / (2 * hx)
    np.testing.assert_allclose(ga.numpy(), weights * da, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(gx.numpy(), weights * dx, rtol=1e-5, atol=1e-12)
    with kiln.GradientTape() as tape:
        tape.watch([ta, tx])
        z = kiln.reduce_sum(kiln.math.igammac(ta, tx) * weights)
    gca, gcx = tape.gradient(z, [ta, tx])
    np.testing.assert_allclose(gca.numpy(), -ga.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gcx.numpy(), -gx.numpy(), rtol=1e-12)


def test_sample_derivative_holds_the_cdf_fixed():
    # x(a) = P^-1(a, u) for fixed u: d x / d a by central differences of
    # SciPy's inverse.
    a = np.array([0.05, 0.3, 1.0, 2.0, 7.5, 60.0])
    u = np.array([0.2, 0.5, 0.9, 0.01, 0.7, 0.4])
    x = sp.gammaincinv(a, u)
    h = 1e-6 * a
    want = (sp.gammaincinv(a + h, u) - sp.gammaincinv(a - h, u)) / (2 * h)
    np.testing.assert_allclose(special.random_gamma_grad(a, x).numpy(), want, rtol=1e-5)


def test_gamma_samples_are_differentiable_in_alpha_and_beta():
    alpha = kiln.constant(np.array([0.3, 2.0, 7.5], np.float32))
    beta = kiln.constant(np.array([1.5], np.float32))
    weights = np.arange(1.0, 7.0, dtype=np.float32).reshape(2, 3)
    with kiln.GradientTape() as tape:
        tape.watch([alpha, beta])
        s = kiln.random.gamma([2], alpha, beta, seed=5)
        y = kiln.reduce_sum(s * weights)
    ga, gb = tape.gradient(y, [alpha, beta])
    a = alpha.numpy().astype(np.float64)
    unit = s.numpy().astype(np.float64) * 1.5          # the rate-1 samples
    u = sp.gammainc(a, unit)
    h = 1e-5 * a
    per_sample = (sp.gammaincinv(a + h, u) - sp.gammaincinv(a - h, u)) / (2 * h) / 1.5
    np.testing.assert_allclose(ga.numpy(), (weights * per_sample).sum(0), rtol=1e-3)
    np.testing.assert_allclose(gb.numpy(), [-(weights * s.numpy()).sum() / 1.5], rtol=1e-5)
    # E[sample] = alpha / beta, so the mean derivative in alpha is 1 / beta.
    with kiln.GradientTape() as tape:
        tape.watch(alpha)
        total = kiln.reduce_sum(kiln.random.stateless_gamma([20000], [1, 2], alpha, beta))
    mean = tape.gradient(total, alpha).numpy() / 20000
    np.testing.assert_allclose(mean, 1 / 1.5, rtol=0.03)


# The other special functions of tf.math: modified Bessel functions of
# orders 0 and 1, the incomplete beta function, Hurwitz's zeta.

BESSEL_X = np.concatenate([-np.logspace(-3, 2.85, 25), [0.0], np.logspace(-3, 2.85, 25),
                           [19.9, 20.1, 720.0, -720.0]])


@pytest.mark.parametrize("name,ref", [("bessel_i0", sp.i0), ("bessel_i0e", sp.i0e),
                                      ("bessel_i1", sp.i1), ("bessel_i1e", sp.i1e)])
def test_bessel_functions_match_scipy_with_gradients(name, ref):
    f = getattr(kiln.math, name)
    assert getattr(kiln.math.special, name) is f
    np.testing.assert_allclose(f(BESSEL_X).numpy(), ref(BESSEL_X), rtol=3e-15, atol=1e-300)
    x32 = BESSEL_X[np.abs(BESSEL_X) < 80].astype(np.float32)
    np.testing.assert_allclose(f(x32).numpy(), ref(x32.astype(np.float64)), rtol=2e-7)
    # The derivative against central differences of SciPy's function
    # (x = 0 included: I1's slope there is 1/2).
    x = np.array([-30.0, -2.5, -0.4, 0.0, 0.3, 1.7, 19.0, 25.0])
    t = kiln.constant(x)
    with kiln.GradientTape() as tape:
        tape.watch(t)
        y = kiln.reduce_sum(f(t))
    h = 1e-7 * np.maximum(np.abs(x), 1.0)
    np.testing.assert_allclose(tape.gradient(y, t).numpy(),
                               (ref(x + h) - ref(x - h)) / (2 * h), rtol=2e-7, atol=1e-9)


def test_betainc_matches_scipy_with_the_gradient_in_x():
    a = np.array([0.5, 1.0, 2.0, 10.0, 100.0, 0.1, 3.0, 1000.0, 2.0, 0.0, -1.0, 2.0])
    b = np.array([0.5, 3.0, 2.0, 20.0, 90.0, 0.2, 0.3, 900.0, 5.0, 2.0, 1.0, 2.0])
    x = np.array([0.3, 0.9, 0.5, 0.2, 0.55, 0.999, 0.01, 0.52, 0.0, 0.5, 0.5, 1.5])
    got = kiln.math.betainc(a, b, x).numpy()
    np.testing.assert_allclose(got, sp.betainc(np.maximum(a, 1e-300), b, x) * np.where(a > 0, 1,
                                                                                       np.nan),
                               rtol=5e-12, atol=1e-300)   # (lgamma(1900): ~12000 ulp)
    assert np.isnan(got[-3:]).all()   # (a <= 0, x outside [0, 1]: NaN)
    assert kiln.math.betainc(np.float32(2), np.float32(3), np.float32(0.5)).dtype == kiln.float32
    inner = slice(0, 8)
    ta, tb, tx = (kiln.constant(v[inner]) for v in (a, b, x))
    with kiln.GradientTape() as tape:
        tape.watch([ta, tx])
        y = kiln.reduce_sum(kiln.math.betainc(ta, tb, tx))
    ga, gx = tape.gradient(y, [ta, tx])
    xi = x[inner]
    h = 1e-7 * np.minimum(xi, 1 - xi)
    np.testing.assert_allclose(gx.numpy(), (sp.betainc(a[inner], b[inner], xi + h) -
                                            sp.betainc(a[inner], b[inner], xi - h)) / (2 * h),
                               rtol=1e-5)
    np.testing.assert_array_equal(ga.numpy(), 0.0)   # (none in a, as TensorFlow)
    compiled = kiln.function(lambda a, b, x: kiln.math.betainc(a, b, x),
                             input_signature=[kiln.TensorSpec([None], kiln.float64)] * 3)
    np.testing.assert_allclose(compiled(a[inner], b[inner], xi).numpy(),
                               sp.betainc(a[inner], b[inner], xi), rtol=5e-12)


def test_zeta_matches_scipy_and_tensorflows_rules():
    x = np.array([2.0, 1.5, 3.0, 10.0, 1.01, 4.0, 6.0, 2.0, 2.0, 4.0, 3.0, 2.5, 1.0, 0.5])
    q = np.array([1.0, 0.5, 2.5, 0.1, 3.0, -2.5, 100.0, 1e-3, -1.5, -3.0, 0.0, -1.5, 1.0, 1.0])
    got = kiln.math.zeta(x, q).numpy()
    ref = sp.zeta(x, q)
    np.testing.assert_allclose(got[:9], ref[:9], rtol=1e-13)
    # A pole at a non-positive integer q: inf for an even x, NaN for odd x
    # (Eigen's rule, so TensorFlow's; SciPy gives inf); a negative q needs
    # an integer x; x = 1 is inf and x < 1 NaN.
    assert got[9] == np.inf and np.isnan(got[10]) and np.isnan(got[11])
    assert got[12] == np.inf and np.isnan(got[13])
    tq = kiln.constant(q[:8])
    with kiln.GradientTape() as tape:
        tape.watch(tq)
        y = kiln.reduce_sum(kiln.math.zeta(x[:8], tq))
    h = 1e-7 * np.abs(q[:8])
    np.testing.assert_allclose(tape.gradient(y, tq).numpy(),
                               (sp.zeta(x[:8], q[:8] + h) - sp.zeta(x[:8], q[:8] - h)) / (2 * h),
                               rtol=1e-6)


def test_accumulate_n():
    parts = [RNG_PARTS[i] for i in range(3)]
    np.testing.assert_allclose(kiln.math.accumulate_n(parts, shape=[2, 3]).numpy(), sum(parts))
    with pytest.raises(ValueError, match="shape"):
        kiln.math.accumulate_n(parts, shape=[3, 2])


RNG_PARTS = np.random.default_rng(4).normal(size=(3, 2, 3))


def test_review_findings_edges_dtypes_and_ends():
    # Large x: the factor underflows and the result is exact (no NaN).
    a, x = np.array([2.0, 2.0, 300.0]), np.array([1e100, 1e155, 1e153])
    np.testing.assert_array_equal(kiln.math.igammac(a, x).numpy(), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(kiln.math.igamma(a, x).numpy(), [1.0, 1.0, 1.0])
    # TensorFlow's (Eigen's) edges: a = inf gives 0, x = 0 gives 0 whatever a.
    assert kiln.math.igamma(np.inf, 1.0).numpy() == 0.0
    np.testing.assert_array_equal(kiln.math.igamma(np.array([-1.0, 0.0]), 0.0).numpy(), [0, 0])
    q = kiln.math.igammac(np.array([1e-300, 0.5]), np.array([1.0, 1.0])).numpy()
    np.testing.assert_allclose(q, sp.gammaincc([1e-300, 0.5], [1.0, 1.0]), rtol=1e-12)
    # A Python number takes the other operand's dtype; complex and bool refused.
    np.testing.assert_allclose(kiln.math.igamma(np.array([2.0, 3.0]), 1.5).numpy(),
                               sp.gammainc([2.0, 3.0], 1.5), rtol=1e-13)
    assert kiln.math.zeta(np.float16(2.0), 1).dtype == kiln.float16
    for bad in (kiln.constant([1 + 2j]), kiln.constant([True])):
        with pytest.raises(TypeError, match="real floating-point"):
            kiln.math.bessel_i0(bad)
        with pytest.raises(TypeError, match="real floating-point"):
            kiln.math.igamma(bad, 1.0)
    # betainc's x-derivative at the ends: TensorFlow's limits.
    a, b = kiln.constant([1.0, 2.0, 0.5, 2.0]), kiln.constant([3.0, 1.0, 1.0, 3.0])
    x = kiln.constant([0.0, 1.0, 0.0, 1.0])
    with kiln.GradientTape() as tape:
        tape.watch(x)
        y = kiln.reduce_sum(kiln.math.betainc(a, b, x))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [3.0, 2.0, np.inf, 0.0])
    # accumulate_n: a shape with open extents is compatible.
    parts = [np.ones(3, np.float32)] * 2
    np.testing.assert_array_equal(kiln.math.accumulate_n(parts, shape=[None]).numpy(), [2] * 3)

