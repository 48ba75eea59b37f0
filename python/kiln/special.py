"""Special functions computed as composites of elementwise ops (and, for
the ones defined by a converging series or fraction, a while loop), in
float64 for every narrower type: the regularized incomplete gamma
functions and the derivative of a gamma sample with respect to its shape
(tf.math.igamma, igammac, tf.random.gamma's implicit reparameterization
gradient), the incomplete beta function (tf.math.betainc), Hurwitz's zeta
(tf.math.zeta) and the modified Bessel functions of orders 0 and 1
(tf.math.bessel_i0, i0e, i1, i1e; tf.math.special is this module).

P(a, x) = gamma(a, x) / Gamma(a) is summed as a power series where x is
at most max(a, 1), and Q(a, x) = 1 - P(a, x) as Legendre's continued
fraction elsewhere (the split Cephes and Eigen use, so what TensorFlow
computes). Both carry their derivative with respect to a along (forward
mode), so dP/da costs the same loop; each runs until every element has
converged (at most 2000 terms).
"""

import numpy as np

from . import math_ops, ops, random
from .dtypes import as_dtype, float64
from .tensor import Tensor, convert_to_tensor

_MAX_TERMS = 2000
_EPS = float(np.finfo(np.float64).eps) / 2.0
# (successive convergents of a continued fraction settle within a few
# rounding errors, not one: the stopping test allows four)
_SETTLED = 4.0 * float(np.finfo(np.float64).eps)
_BIG = 2.0 ** 52   # the continued fraction's terms are rescaled above this
_LOG_TINY = float(np.log(np.finfo(np.float64).tiny))


def _float_operands(values, what):
    """The operands as real floating tensors of one dtype, broadcast to
    one shape, and that dtype: Python numbers and lists take the dtype of
    the operands that have one (tensors, NumPy values), as TensorFlow
    converts them; integers become float32; complex and bool operands are
    a TypeError."""
    typed = [v for v in values if isinstance(v, (Tensor, np.ndarray, np.generic))
             or hasattr(v, "dtype") and not isinstance(v, (list, tuple))]
    dtypes = {as_dtype(v.dtype) for v in typed}
    for d in dtypes:
        if d.is_complex or d == as_dtype("bool") or d == as_dtype("string"):
            raise TypeError(f"{what}: needs real floating-point operands, got {d.name}")
    floats = {d for d in dtypes if d.is_floating}
    if len(floats) > 1:
        raise TypeError(f"{what}: the operands must have the same dtype, got "
                        + ", ".join(sorted(d.name for d in floats)))
    dtype = floats.pop() if floats else as_dtype("float32")
    tensors = []
    for v in values:
        t = convert_to_tensor(v) if any(v is u for u in typed) else convert_to_tensor(v, dtype)
        if t.dtype.is_complex or t.dtype == as_dtype("bool"):
            raise TypeError(f"{what}: needs real floating-point operands, got {t.dtype.name}")
        tensors.append(ops.cast(t, dtype) if t.dtype != dtype else t)
    out = tensors[0]
    for t in tensors[1:]:
        out, _ = _broadcast(out, t)
    return [_broadcast(t, out)[0] for t in tensors], dtype


def _broadcast(a, x):
    """a and x broadcast to one shape (open extents: by adding zeros)."""
    shape = np.broadcast_shapes(tuple(a.shape), tuple(x.shape)) \
        if None not in tuple(a.shape) + tuple(x.shape) else None
    if shape is not None:
        return math_ops.broadcast_to(a, shape), math_ops.broadcast_to(x, shape)
    return a + math_ops.zeros_like(x), x + math_ops.zeros_like(a)


def _series(a, x, derivative):
    """(sum, its derivative in a, or None) of the series
    sum_n x^n / ((a + 1) ... (a + n)), which times
    exp(a log x - x - lgamma(a + 1)) is P(a, x); the terms shrink, so it
    stops when the last one (of the derivative too, when asked for) is
    below the rounding of the sum."""
    from .control_flow import while_loop
    one, zero = math_ops.ones_like(a), math_ops.zeros_like(a)

    def going(i, *state):
        return ops.logical_and(ops.less(i, _MAX_TERMS),
                               ops.logical_not(math_ops.reduce_all(state[-1])))

    def step(i, r, c, dc, s, ds, done):
        r1 = r + 1.0
        term = x / r1
        c1 = c * term
        s1 = s + c1
        now = ops.less_equal(c1, _EPS * s1)
        if derivative:
            dc1 = dc * term - c * x / (r1 * r1)
            ds1 = ds + dc1
            now = ops.logical_and(now, ops.less_equal(ops.abs(dc1), _EPS * ops.abs(ds1)))
        else:
            dc1, ds1 = dc, ds
        keep = lambda old, new: ops.where(done, old, new)
        return (i + 1, keep(r, r1), keep(c, c1), keep(dc, dc1), keep(s, s1), keep(ds, ds1),
                ops.logical_or(done, now))
    result = while_loop(going, step, (convert_to_tensor(0), a, one, zero, one, zero,
                                      ops.equal(x, 0.0)))
    return result[4], (result[5] if derivative else None)


def _continued_fraction(a, x, derivative):
    """(f, its derivative in a, or None) of Legendre's continued fraction
    for Q(a, x) / exp(a log x - x - lgamma(a)), as Cephes' igamc evaluates
    it (derivatives carried along as Eigen's igammac_cf does); it stops
    when successive convergents (and their derivatives) agree within a few
    rounding errors."""
    from .control_flow import while_loop
    one, zero = math_ops.ones_like(a), math_ops.zeros_like(a)
    y0 = one - a
    z0 = x + y0 + 1.0
    p1, q1 = x + 1.0, z0 * x
    start = (convert_to_tensor(0), zero, y0, z0,
             one, x, p1, q1,                  # p(k-2), q(k-2), p(k-1), q(k-1)
             zero, zero, zero, -x,            # their derivatives in a
             p1 / q1, p1 * x / (q1 * q1), ops.less(one, 0.0))

    def going(i, *state):
        return ops.logical_and(ops.less(i, _MAX_TERMS),
                               ops.logical_not(math_ops.reduce_all(state[-1])))

    def step(i, c, y, z, pm2, qm2, pm1, qm1, dpm2, dqm2, dpm1, dqm1, ans, dans, done):
        c, y, z = c + 1.0, y + 1.0, z + 2.0
        yc = y * c
        pk, qk = pm1 * z - pm2 * yc, qm1 * z - qm2 * yc
        nonzero = ops.not_equal(qk, 0.0)
        safe_q = ops.where(nonzero, qk, one)
        ratio = pk / safe_q
        new_ans = ops.where(nonzero, ratio, ans)
        now = ops.logical_and(nonzero, ops.less_equal(ops.abs(new_ans - ans),
                                                      _SETTLED * ops.abs(new_ans)))
        if derivative:
            dpk = dpm1 * z - pm1 - dpm2 * yc + pm2 * c
            dqk = dqm1 * z - qm1 - dqm2 * yc + qm2 * c
            new_dans = ops.where(nonzero, (dpk - ratio * dqk) / safe_q, dans)
            now = ops.logical_and(now, ops.less_equal(
                ops.abs(new_dans - dans), _SETTLED * ops.maximum(ops.abs(new_dans), one)))
        else:
            dpk, dqk, new_dans = dpm1, dqm1, dans
        # (the terms grow geometrically: rescaled together, the ratios stay)
        scale = ops.where(ops.greater(ops.abs(pk), _BIG), one / _BIG, one)
        keep = lambda old, new: ops.where(done, old, new)
        return (i + 1, keep(c, c), keep(y, y), keep(z, z),
                keep(pm2, pm1 * scale), keep(qm2, qm1 * scale),
                keep(pm1, pk * scale), keep(qm1, qk * scale),
                keep(dpm2, dpm1 * scale), keep(dqm2, dqm1 * scale),
                keep(dpm1, dpk * scale), keep(dqm1, dqk * scale),
                keep(ans, new_ans), keep(dans, new_dans), ops.logical_or(done, now))
    result = while_loop(going, step, start)
    return result[12], (result[13] if derivative else None)


def _lower(a, x, derivative=True):
    """(P(a, x), Q(a, x), dP/da, dP/dx) in float64 (the smaller of P and Q
    computed directly, the other as 1 minus it; the derivatives None
    unless asked for), with TensorFlow's (Eigen's) values at the edges:
    P = 0 at x = 0 (whatever a), P = 1 at x = inf and P = 0 for a = inf;
    NaN for a <= 0, x < 0 or NaN operands; where the factor
    exp(a log x - x - lgamma(a)) underflows, P = 1 past the mode (x > a)
    and 0 before it, with no derivative in a."""
    a, x = ops.cast(a, float64), ops.cast(x, float64)
    zero, one = math_ops.zeros_like(a), math_ops.ones_like(a)
    valid = ops.logical_and(ops.greater(a, 0.0), ops.greater_equal(x, 0.0))
    finite = ops.logical_and(valid, ops.logical_and(math_ops.is_finite(x),
                                                    math_ops.is_finite(a)))
    safe_a = ops.where(finite, a, one)
    safe_x = ops.where(finite, x, one)
    log_x = ops.log(ops.where(ops.greater(safe_x, 0.0), safe_x, one))
    lgamma_a = math_ops.lgamma(safe_a)
    log_front = safe_a * log_x - safe_x - lgamma_a
    by_fraction = ops.logical_and(ops.greater_equal(safe_x, 1.0),
                                  ops.greater_equal(safe_x, safe_a))
    # (where the factor underflows the result is 0 or 1 already)
    live = ops.logical_and(finite, ops.greater(log_front, _LOG_TINY))
    # Each loop on the elements it serves; the others get operands that
    # converge at once (so they do not hold the loop up).
    in_series = ops.logical_and(live, ops.logical_not(by_fraction))
    in_fraction = ops.logical_and(live, by_fraction)
    s, ds = _series(ops.where(in_series, safe_a, one), ops.where(in_series, safe_x, zero),
                    derivative)
    f, df = _continued_fraction(ops.where(in_fraction, safe_a, one),
                                ops.where(in_fraction, safe_x, one * 2.0), derivative)
    # P = exp(a log x - x - lgamma(a + 1)) s; Q = exp(a log x - x - lgamma(a)) f
    front = ops.exp(log_front)
    p_series = front * s / safe_a
    q_fraction = front * f
    p = ops.where(by_fraction, 1.0 - q_fraction, p_series)
    q = ops.where(by_fraction, q_fraction, 1.0 - p_series)
    underflow = ops.logical_and(finite, ops.logical_not(live))
    p = ops.where(underflow, ops.where(by_fraction, one, zero), p)
    q = ops.where(underflow, ops.where(by_fraction, zero, one), q)
    # The edges: x = inf, a = inf (both: NaN), then x = 0 whatever a is.
    inf_x = ops.logical_and(ops.equal(x, float("inf")), math_ops.is_finite(a))
    inf_a = ops.logical_and(ops.equal(a, float("inf")), math_ops.is_finite(x))
    p = ops.where(inf_a, zero, ops.where(inf_x, one, p))
    q = ops.where(inf_a, one, ops.where(inf_x, zero, q))
    # (rounding can step past the ends)
    p, q = ops.maximum(zero, ops.minimum(p, one)), ops.maximum(zero, ops.minimum(q, one))
    defined = ops.logical_or(finite, ops.logical_or(inf_x, inf_a))
    nan = one * float("nan")
    zero_x = ops.equal(x, 0.0)
    p = ops.where(zero_x, zero, ops.where(defined, p, nan))
    q = ops.where(defined, q, nan)
    if not derivative:
        return p, q, None, None
    digamma_a = math_ops.digamma(safe_a)
    dp_series = front / safe_a * (ds + s * (log_x - (digamma_a + 1.0 / safe_a)))
    dp_fraction = -front * (df + f * (log_x - digamma_a))
    dp_da = ops.where(live, ops.where(by_fraction, dp_fraction, dp_series), zero)
    # dP/dx = x^(a - 1) exp(-x) / Gamma(a) (at x = 0: inf, 1 or 0 as a <, =, > 1)
    at_zero = ops.where(ops.less(safe_a, 1.0), one * float("inf"),
                        ops.where(ops.equal(safe_a, 1.0), one, zero))
    dp_dx = ops.where(ops.greater(safe_x, 0.0),
                      ops.exp((safe_a - 1.0) * log_x - safe_x - lgamma_a), at_zero)
    dp_dx = ops.where(finite, dp_dx, zero)
    return p, q, ops.where(defined, dp_da, nan), ops.where(defined, dp_dx, nan)


def _incomplete(a, x, what, upper):
    from .gradients import custom_gradient
    (a, x), dtype = _float_operands([a, x], what)
    sign = -1.0 if upper else 1.0

    @custom_gradient
    def value(a, x):
        p, q, _, _ = _lower(a, x, derivative=False)
        y = ops.cast(q if upper else p, dtype)

        def grad(dy):
            _, _, dp_da, dp_dx = _lower(a, x)
            dy = ops.cast(dy, float64)
            return ops.cast(sign * dy * dp_da, dtype), ops.cast(sign * dy * dp_dx, dtype)
        return y, grad
    return value(a, x)


def igamma(a, x, name=None):
    """The regularized lower incomplete gamma function P(a, x)
    (tf.math.igamma), elementwise with broadcasting; differentiable in
    both a and x (TensorFlow's igamma_grad_a). NaN where a <= 0 or x < 0
    (but 0 at x = 0, as TensorFlow)."""
    return _incomplete(a, x, "igamma", upper=False)


def igammac(a, x, name=None):
    """The regularized upper incomplete gamma function Q(a, x) =
    1 - P(a, x) (tf.math.igammac), computed directly where it is small."""
    return _incomplete(a, x, "igammac", upper=True)


def _reparameterized(alpha, sample):
    """Gamma(alpha, 1) samples (computed without a gradient) whose gradient
    in alpha is the implicit one (computed only when a gradient is):
    kiln.random.gamma's hook."""
    from .gradients import custom_gradient

    @custom_gradient
    def attach(alpha, sample):
        def grad(dy):
            return dy * random_gamma_grad(alpha, sample), None
        return sample + 0.0, grad
    return attach(alpha, sample)


random._gamma_alpha_gradient = _reparameterized


def random_gamma_grad(alpha, sample, name=None):
    """d sample / d alpha of Gamma(alpha, 1) samples with the uniform
    variate u = P(alpha, sample) held fixed (tf.raw_ops.RandomGammaGrad:
    -(dP/da) / (dP/dx), the implicit reparameterization gradient)."""
    (a, x), dtype = _float_operands([alpha, sample], "random_gamma_grad")
    _, _, dp_da, dp_dx = _lower(a, x)
    positive = ops.greater(dp_dx, 0.0)
    ratio = -dp_da / ops.where(positive, dp_dx, math_ops.ones_like(dp_dx))
    return ops.cast(ops.where(positive, ratio, math_ops.zeros_like(ratio)), dtype)


_BESSEL_SPLIT = 20.0   # the power series below, Hankel's expansion above
_SERIES_TERMS = 40     # (both about 2e-15 relative in float64)
_ASYMPTOTIC_TERMS = 22


def _scaled_bessel_i(x, nu):
    """exp(-|x|) I_nu(x) for nu 0 or 1, float64: the power series
    sum_k (x/2)^(2k + nu) / (k! (k + nu)!) up to |x| = 20, the asymptotic
    expansion exp(-t) I_nu(t) ~ sum_k (-1)^k a_k(nu) t^-k / sqrt(2 pi t)
    above (I_1 is odd)."""
    t = ops.abs(x)
    small = ops.less_equal(t, _BESSEL_SPLIT)
    zero, one = math_ops.zeros_like(x), math_ops.ones_like(x)
    xs = ops.where(small, x, zero)                         # (each branch on its own
    tl = ops.where(small, one * (2.0 * _BESSEL_SPLIT), t)  # inputs: no inf or NaN)
    quarter = xs * xs / 4.0
    term = one if nu == 0 else xs / 2.0
    series = term
    for k in range(1, _SERIES_TERMS):
        term = term * quarter / float(k * (k + nu))
        series = series + term
    series = series * ops.exp(-ops.abs(xs))
    mu = 4.0 * nu * nu
    term, expansion = one, one
    for k in range(1, _ASYMPTOTIC_TERMS):
        term = term * (-(mu - (2 * k - 1) ** 2) / (8.0 * k)) / tl
        expansion = expansion + term
    expansion = expansion / ops.sqrt(2.0 * np.pi * tl)
    if nu == 1:
        expansion = expansion * ops.sign(x)
    return ops.where(small, series, expansion)


def _bessel(x, what, scaled, nu):
    from .gradients import custom_gradient
    (x,), dtype = _float_operands([x], what)

    @custom_gradient
    def value(x):
        wide = ops.cast(x, float64)
        i0e, i1e = _scaled_bessel_i(wide, 0), _scaled_bessel_i(wide, 1)
        grow = math_ops.ones_like(wide) if scaled else ops.exp(ops.abs(wide))
        y = (i0e if nu == 0 else i1e) * grow

        def grad(dy):
            # TensorFlow's: I0' = I1, I1' = I0 - I1/x (1/2 at 0); the scaled
            # ones less sign(x) times themselves.
            nonzero = ops.not_equal(wide, 0.0)
            safe = ops.where(nonzero, wide, math_ops.ones_like(wide))
            own = i0e if nu == 0 else i1e
            if nu == 0:
                d = i1e
            else:
                d = i0e - ops.where(nonzero, i1e / safe, 0.5 * math_ops.ones_like(wide))
            d = d - ops.sign(wide) * own if scaled else d * grow
            return ops.cast(ops.cast(dy, float64) * d, dtype)
        return ops.cast(y, dtype), grad
    return value(x)


def bessel_i0(x, name=None):
    """The modified Bessel function I_0(x) (tf.math.bessel_i0), computed
    in float64 from bessel_i0e; +inf past about 713."""
    return _bessel(x, "bessel_i0", scaled=False, nu=0)


def bessel_i0e(x, name=None):
    """exp(-|x|) I_0(x) (tf.math.bessel_i0e): the power series up to
    |x| = 20, the asymptotic expansion above; about 2e-15 relative."""
    return _bessel(x, "bessel_i0e", scaled=True, nu=0)


def bessel_i1(x, name=None):
    """The modified Bessel function I_1(x) (tf.math.bessel_i1)."""
    return _bessel(x, "bessel_i1", scaled=False, nu=1)


def bessel_i1e(x, name=None):
    """exp(-|x|) I_1(x) (tf.math.bessel_i1e)."""
    return _bessel(x, "bessel_i1e", scaled=True, nu=1)


_TINY = 1e-300


def _beta_fraction(a, b, x):
    """The continued fraction of I_x(a, b) (Numerical Recipes' betacf, by
    Lentz's method), float64, run until every element has converged."""
    from .control_flow import while_loop
    one = math_ops.ones_like(a)

    def guard(v):   # (Lentz: a zero denominator becomes tiny)
        return ops.where(ops.less(ops.abs(v), _TINY), one * _TINY, v)
    c = one
    d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0))

    def going(m, c, d, h, done):
        return ops.logical_and(ops.less(m, _MAX_TERMS),
                               ops.logical_not(math_ops.reduce_all(done)))

    def step(m, c, d, h, done):
        mf = ops.cast(m, float64)
        m2 = 2.0 * mf
        even = mf * (b - mf) * x / ((a - 1.0 + m2) * (a + m2))
        d1 = 1.0 / guard(1.0 + even * d)
        c1 = guard(1.0 + even / c)
        h1 = h * d1 * c1
        odd = -(a + mf) * (a + b + mf) * x / ((a + m2) * (a + 1.0 + m2))
        d2 = 1.0 / guard(1.0 + odd * d1)
        c2 = guard(1.0 + odd / c1)
        delta = d2 * c2
        now = ops.less_equal(ops.abs(delta - 1.0), 2.0 * _EPS)
        keep = lambda old, new: ops.where(done, old, new)
        return (m + 1, keep(c, c2), keep(d, d2), keep(h, h1 * delta),
                ops.logical_or(done, now))
    result = while_loop(going, step, (convert_to_tensor(1), c, d, d, ops.less(one, 0.0)))
    return result[3]


def betainc(a, b, x, name=None):
    """The regularized incomplete beta function I_x(a, b)
    (tf.math.betainc), elementwise with broadcasting: Lentz's continued
    fraction, on 1 - x with a and b swapped where x > (a + 1) / (a + b + 2)
    (where it converges fast), in float64. NaN for a <= 0, b <= 0 or x
    outside [0, 1], as Cephes and TensorFlow. Differentiable in x; as in
    TensorFlow, not in a and b (their gradient is zero here)."""
    from .gradients import custom_gradient
    (a, b, x), dtype = _float_operands([a, b, x], "betainc")

    @custom_gradient
    def value(a, b, x):
        wa, wb, wx = (ops.cast(t, float64) for t in (a, b, x))
        zero, one = math_ops.zeros_like(wx), math_ops.ones_like(wx)
        valid = ops.logical_and(
            ops.logical_and(ops.greater(wa, 0.0), ops.greater(wb, 0.0)),
            ops.logical_and(ops.greater_equal(wx, 0.0), ops.less_equal(wx, 1.0)))
        inner = ops.logical_and(valid, ops.logical_and(ops.greater(wx, 0.0),
                                                       ops.less(wx, 1.0)))
        swap = ops.greater(wx, (wa + 1.0) / (wa + wb + 2.0))
        # (elements the fraction does not serve get operands that converge
        # at once)
        pa = ops.where(inner, ops.where(swap, wb, wa), one)
        pb = ops.where(inner, ops.where(swap, wa, wb), one)
        px = ops.where(inner, ops.where(swap, 1.0 - wx, wx), zero)
        log_front = (pa * ops.log(ops.where(inner, px, one)) +
                     pb * ops.log(ops.where(inner, 1.0 - px, one)) -
                     (math_ops.lgamma(pa) + math_ops.lgamma(pb) - math_ops.lgamma(pa + pb)))
        part = ops.exp(log_front) * _beta_fraction(pa, pb, px) / pa
        y = ops.where(swap, 1.0 - part, part)
        # (the edges: I_0 = 0, I_1 = 1)
        y = ops.where(ops.equal(wx, 0.0), zero, ops.where(ops.equal(wx, 1.0), one, y))
        y = ops.where(valid, y, one * float("nan"))

        def grad(dy):
            # dI/dx = x^(a-1) (1-x)^(b-1) / B(a, b), TensorFlow's formula
            # with xlogy / xlog1py, so the ends x = 0 and 1 have their
            # limits (b at x = 0 for a = 1, inf for a < 1, 0 for a > 1)
            safe_a = ops.where(valid, wa, one)
            safe_b = ops.where(valid, wb, one)
            safe_x = ops.where(valid, wx, one * 0.5)
            density = ops.exp(math_ops.xlogy(safe_a - 1.0, safe_x) +
                              math_ops.xlog1py(safe_b - 1.0, -safe_x) -
                              (math_ops.lgamma(safe_a) + math_ops.lgamma(safe_b) -
                               math_ops.lgamma(safe_a + safe_b)))
            density = ops.where(valid, density, one * float("nan"))
            return None, None, ops.cast(ops.cast(dy, float64) * density, dtype)
        return ops.cast(y, dtype), grad
    return value(a, b, x)


def _bernoulli_factors(count):
    """B_2k / (2k)! for k = 1 .. count, from the Bernoulli numbers'
    recurrence in exact fractions."""
    from fractions import Fraction
    from math import comb
    numbers = [Fraction(1)]
    for n in range(1, 2 * count + 1):
        numbers.append(-sum(comb(n + 1, k) * numbers[k] for k in range(n)) / (n + 1))
    factors, factorial = [], 1
    for k in range(1, 2 * count + 1):
        factorial *= k
        if k % 2 == 0:
            factors.append(float(numbers[k] / factorial))
    return factors


_ZETA_DIRECT = 10   # terms summed before the Euler-Maclaurin tail
_ZETA_SHIFT = 32    # how far below 0 a non-integer q is shifted up
_ZETA_TAIL = _bernoulli_factors(12)


def zeta(x, q, name=None):
    """The Hurwitz zeta function sum_k (q + k)^-x (tf.math.zeta), as
    Cephes and TensorFlow compute it: ten terms, then the Euler-Maclaurin
    tail with twelve Bernoulli corrections, in float64. inf at x = 1, NaN
    for x < 1; for q <= 0 TensorFlow's rules (a pole at q a non-positive
    integer: inf for even integer x, else NaN; other negative q need an
    integer x, and are computed for q > -32). Differentiable in q
    (-x zeta(x + 1, q)); as in TensorFlow, not in x (zero here)."""
    from .gradients import custom_gradient
    (x, q), dtype = _float_operands([x, q], "zeta")

    def compute(wx, wq):
        zero, one = math_ops.zeros_like(wx), math_ops.ones_like(wx)
        integer_x = ops.equal(wx, math_ops.floor(wx))
        pole = ops.logical_and(ops.less_equal(wq, 0.0), ops.equal(wq, math_ops.floor(wq)))
        negative_ok = ops.logical_and(ops.less(wq, 0.0), ops.logical_and(
            integer_x, ops.greater(wq, -float(_ZETA_SHIFT))))
        regular = ops.logical_or(ops.greater(wq, 0.0), negative_ok)
        fine = ops.logical_and(ops.greater(wx, 1.0),
                               ops.logical_and(regular, ops.logical_not(pole)))
        sx = ops.where(fine, wx, one * 2.0)
        sq = ops.where(fine, wq, one)
        # (a negative q: the terms below 0 summed directly, the rest from q
        # shifted up past 0)
        shift = ops.where(ops.less(sq, 0.0), math_ops.ceil(-sq), zero)
        total = zero
        for k in range(_ZETA_SHIFT):
            total = total + ops.where(ops.less(float(k), shift), ops.pow(sq + float(k), -sx),
                                      zero)
        base = sq + shift
        for k in range(_ZETA_DIRECT):
            total = total + ops.pow(base + float(k), -sx)
        w = base + float(_ZETA_DIRECT)
        b = ops.pow(w, -sx)
        total = total + b * w / (sx - 1.0) + 0.5 * b
        # B_2j / (2j)! x (x + 1) ... (x + 2j - 2) w^-(x + 2j - 1), j = 1 .. 12
        rising, power = sx, b / w
        for j, factor in enumerate(_ZETA_TAIL):
            if j:
                rising = rising * (sx + float(2 * j - 1)) * (sx + float(2 * j))
                power = power / (w * w)
            total = total + factor * rising * power
        inf, nan = one * float("inf"), one * float("nan")
        out = ops.where(fine, total, nan)
        out = ops.where(ops.equal(wx, 1.0), inf, out)
        even = ops.logical_and(integer_x, ops.equal(math_ops.floormod(wx, 2.0), zero))
        return ops.where(ops.logical_and(pole, ops.greater(wx, 1.0)),
                         ops.where(even, inf, nan), out)

    @custom_gradient
    def value(x, q):
        wx, wq = ops.cast(x, float64), ops.cast(q, float64)

        def grad(dy):
            return None, ops.cast(ops.cast(dy, float64) * -wx * compute(wx + 1.0, wq), dtype)
        return ops.cast(compute(wx, wq), dtype), grad
    return value(x, q)
