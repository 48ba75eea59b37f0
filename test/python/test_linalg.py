"""kiln.linalg's band and diagonal matrices, Cholesky factorization and
triangular solves against NumPy (np.linalg.cholesky, np.linalg.solve,
np.tril, np.diagonal), eagerly and compiled; gradients against central
differences, Cholesky's in TensorFlow's symmetric form."""

import numpy as np
import pytest

import kiln
from conftest import central

RNG = np.random.default_rng(8)
la = kiln.linalg


def spd(batch, n):
    a = RNG.normal(size=batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def test_band_and_diagonal_matrices():
    x = RNG.normal(size=(2, 4, 5))
    for lower, upper in ((-1, 0), (0, -1), (1, 2), (0, 0), (-1, -1)):
        i, j = np.arange(4)[:, None], np.arange(5)[None, :]
        keep = ((lower < 0) | (i - j <= lower)) & ((upper < 0) | (j - i <= upper))
        np.testing.assert_array_equal(la.band_part(x, lower, upper).numpy(), x * keep)
    np.testing.assert_array_equal(la.diag_part(x).numpy(), np.diagonal(x, axis1=-2, axis2=-1))
    np.testing.assert_array_equal(la.diag_part(np.swapaxes(x, -1, -2)).numpy(),
                                  np.diagonal(x, axis1=-2, axis2=-1))
    np.testing.assert_allclose(la.trace(x).numpy(), np.trace(x, axis1=-2, axis2=-1))
    d = RNG.normal(size=(2, 3))
    np.testing.assert_array_equal(la.diag(d).numpy(), d[..., None] * np.eye(3))
    for shape in ((2, 3, 5), (2, 5, 3)):
        y = RNG.normal(size=shape)
        want = y.copy()
        for b in range(2):
            np.fill_diagonal(want[b], d[b])
        np.testing.assert_array_equal(la.set_diag(y, d).numpy(), want)
    m, v = RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 4))
    np.testing.assert_allclose(la.matvec(m, v).numpy(), np.einsum("bij,bj->bi", m, v))
    a, b = RNG.normal(size=(5, 3)), RNG.normal(size=(5, 3))
    np.testing.assert_allclose(la.cross(a, b).numpy(), np.cross(a, b), rtol=1e-12)
    np.testing.assert_allclose(la.global_norm([a, None, b]).numpy(),
                               np.sqrt((a ** 2).sum() + (b ** 2).sum()))
    unit, n = la.normalize(a, axis=-1)
    np.testing.assert_allclose(n.numpy(), np.linalg.norm(a, axis=-1, keepdims=True))
    np.testing.assert_allclose(unit.numpy(), a / np.linalg.norm(a, axis=-1, keepdims=True))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="diagonal of shape"):
        la.set_diag(x, d)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="it must be"):
        la.set_diag(np.zeros((2, 3, 3)), np.ones((3, 3)))   # (batch extents differ)
    # Selected, not multiplied: infinities stay where they are, integers work.
    inf = np.inf
    np.testing.assert_array_equal(la.diag([inf, 1.0]).numpy(), [[inf, 0.0], [0.0, 1.0]])
    np.testing.assert_array_equal(la.diag_part([[1.0, -inf], [0.0, 2.0]]).numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(la.set_diag([[inf, 1.0], [1.0, inf]], [0.0, 0.0]).numpy(),
                                  [[0.0, 1.0], [1.0, 0.0]])
    ints = la.set_diag(np.arange(4, dtype=np.int32).reshape(2, 2), np.array([7, 8], np.int32))
    np.testing.assert_array_equal(ints.numpy(), [[7, 1], [2, 8]])
    assert int(la.trace(np.arange(9, dtype=np.int32).reshape(3, 3))) == 12


def test_cholesky_and_triangular_solves_match_numpy():
    s = spd((2,), 5)
    junk_above = np.tril(s[0]) + np.triu(RNG.normal(size=(5, 5)), 1)  # (upper ignored)
    chol = kiln.function(la.cholesky)
    for run in (la.cholesky, chol):
        np.testing.assert_allclose(run(kiln.constant(s)).numpy(), np.linalg.cholesky(s),
                                   rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(la.cholesky(junk_above).numpy(), np.linalg.cholesky(s[0]),
                               rtol=1e-10, atol=1e-12)
    # The upper triangle is never read: not even an inf there, nor a large
    # value costs precision in float32.
    s32 = s[0].astype(np.float32)
    for junk in (np.inf, np.nan, 1e10):
        dirty = np.tril(s32) + np.triu(np.full((5, 5), junk, np.float32), 1)
        np.testing.assert_allclose(la.cholesky(dirty).numpy(), np.linalg.cholesky(s[0]),
                                   rtol=1e-5, atol=1e-5)
    L = np.linalg.cholesky(s)
    b = RNG.normal(size=(2, 5, 3))
    np.testing.assert_allclose(la.triangular_solve(L, b).numpy(), np.linalg.solve(L, b),
                               rtol=1e-9)
    upper = np.swapaxes(L, -1, -2)
    np.testing.assert_allclose(la.triangular_solve(upper, b, lower=False).numpy(),
                               np.linalg.solve(upper, b), rtol=1e-9)
    np.testing.assert_allclose(la.triangular_solve(L, b, adjoint=True).numpy(),
                               np.linalg.solve(upper, b), rtol=1e-9)
    np.testing.assert_allclose(la.cholesky_solve(la.cholesky(s), b).numpy(),
                               np.linalg.solve(s, b), rtol=1e-9)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="not positive definite"):
        la.cholesky(-np.eye(3))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="not positive definite"):
        kiln.function(la.cholesky)(kiln.constant(np.diag([1.0, -1.0])))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="square"):
        la.cholesky(np.ones((2, 3)))
    with pytest.raises(TypeError, match="floating"):
        la.cholesky(np.eye(3, dtype=np.int32))


def test_cholesky_and_solve_gradients():
    s0 = spd((), 4)
    w = RNG.normal(size=(4, 4))
    s = kiln.constant(s0)
    with kiln.GradientTape() as tape:
        tape.watch(s)
        y = kiln.reduce_sum(la.cholesky(s) * w)
    got = tape.gradient(y, s).numpy()
    # NumPy's Cholesky reads the lower triangle: differences there, then
    # TensorFlow's symmetric form.
    lower = central(lambda v: (np.linalg.cholesky(v) * w).sum(), s0)
    np.testing.assert_allclose(got, (lower + lower.T) / 2, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got, got.T)

    L0 = np.linalg.cholesky(s0)
    b0 = RNG.normal(size=(4, 2))
    w2 = RNG.normal(size=(4, 2))
    L, b = kiln.constant(L0), kiln.constant(b0)
    with kiln.GradientTape(persistent=True) as tape:
        tape.watch([L, b])
        y = kiln.reduce_sum(la.triangular_solve(L, b) * w2)
    gl, gb = tape.gradient(y, [L, b])
    f = lambda m: (np.linalg.solve(np.tril(m), b0) * w2).sum()
    np.testing.assert_allclose(gl.numpy(), central(f, L0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(gb.numpy(), central(lambda v: (np.linalg.solve(L0, v) * w2).sum(), b0),
                               rtol=1e-5, atol=1e-7)


def test_lu_based_det_solve_inv_match_numpy_with_gradients():
    a0 = RNG.normal(size=(3, 4, 4))
    a0[0, 0, 0] = 0.0   # (a zero where a pivot would be without pivoting)
    b0 = RNG.normal(size=(3, 4, 2))
    np.testing.assert_allclose(la.det(a0).numpy(), np.linalg.det(a0), rtol=1e-10)
    sign, logabs = la.slogdet(a0)
    want_sign, want_log = np.linalg.slogdet(a0)
    np.testing.assert_array_equal(sign.numpy(), want_sign)
    np.testing.assert_allclose(logabs.numpy(), want_log, rtol=1e-10)
    np.testing.assert_allclose(la.solve(a0, b0).numpy(), np.linalg.solve(a0, b0), rtol=1e-9)
    np.testing.assert_allclose(la.solve(a0, b0, adjoint=True).numpy(),
                               np.linalg.solve(np.swapaxes(a0, -1, -2), b0), rtol=1e-9)
    np.testing.assert_allclose(kiln.function(la.inv)(kiln.constant(a0)).numpy(),
                               np.linalg.inv(a0), rtol=1e-9)
    s = spd((), 4)
    np.testing.assert_allclose(la.logdet(s).numpy(), np.linalg.slogdet(s)[1], rtol=1e-12)
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    assert la.det(singular).numpy() == 0.0
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"test_linalg.py:\d+: inv: Input is not invertible"):
        la.inv(singular)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="solve: Input is not invertible"):
        kiln.function(la.solve)(kiln.constant(singular), kiln.constant(np.ones((2, 1))))

    # Gradients of det, solve and inv against central differences.
    m0 = a0[1]
    w = RNG.normal(size=(4, 4))
    m = kiln.constant(m0)
    with kiln.GradientTape(persistent=True) as tape:
        tape.watch(m)
        d = la.det(m)
        x = kiln.reduce_sum(la.solve(m, b0[1]) * w[:, :2])
        i = kiln.reduce_sum(la.inv(m) * w)
    np.testing.assert_allclose(tape.gradient(d, m).numpy(), central(np.linalg.det, m0),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(
        tape.gradient(x, m).numpy(),
        central(lambda v: (np.linalg.solve(v, b0[1]) * w[:, :2]).sum(), m0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(tape.gradient(i, m).numpy(),
                               central(lambda v: (np.linalg.inv(v) * w).sum(), m0),
                               rtol=1e-5, atol=1e-7)


def _gradient_matches_central(f, a, rtol, atol):
    """The tape's gradient of the scalar f at a against central differences."""
    x = kiln.constant(a)
    with kiln.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(),
                               central(lambda v: float(f(v).numpy()), a), rtol=rtol, atol=atol)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (2, 6, 4)])
def test_qr_matches_numpy_with_gradients(shape):
    # LAPACK's signs, so NumPy's factors exactly; f32 too; the gradient of
    # a function of both factors against central differences.
    a = RNG.normal(size=shape)
    q, r = kiln.linalg.qr(a)
    qn, rn = np.linalg.qr(a)
    np.testing.assert_allclose(q.numpy(), qn, atol=1e-13)
    np.testing.assert_allclose(r.numpy(), rn, atol=1e-13)
    qf, rf = kiln.linalg.qr(a, full_matrices=True)
    qnf, rnf = np.linalg.qr(a, mode="complete")
    np.testing.assert_allclose(qf.numpy(), qnf, atol=1e-13)
    np.testing.assert_allclose(rf.numpy(), rnf, atol=1e-13)
    q32, r32 = kiln.linalg.qr(a.astype(np.float32))
    np.testing.assert_allclose(q32.numpy(), qn, atol=2e-5)
    wq, wr = RNG.normal(size=qn.shape), RNG.normal(size=rn.shape)
    f = lambda x: kiln.reduce_sum(kiln.linalg.qr(x)[0] * wq) + \
        kiln.reduce_sum(kiln.linalg.qr(x)[1] * wr)
    _gradient_matches_central(f, a, rtol=1e-6, atol=1e-8)


def test_lstsq_matches_numpy():
    a, b = RNG.normal(size=(7, 3)), RNG.normal(size=(7, 2))
    want = np.linalg.lstsq(a, b, rcond=None)[0]
    np.testing.assert_allclose(kiln.linalg.lstsq(a, b).numpy(), want, atol=1e-12)
    np.testing.assert_allclose(kiln.linalg.lstsq(a, b, fast=False).numpy(), want, atol=1e-12)
    ridge = np.linalg.solve(a.T @ a + 0.5 * np.eye(3), a.T @ b)
    np.testing.assert_allclose(kiln.linalg.lstsq(a, b, l2_regularizer=0.5).numpy(), ridge,
                               atol=1e-12)
    wide, rhs = RNG.normal(size=(2, 5)), RNG.normal(size=(2, 1))    # (the minimum norm)
    want = np.linalg.lstsq(wide, rhs, rcond=None)[0]
    np.testing.assert_allclose(kiln.linalg.lstsq(wide, rhs).numpy(), want, atol=1e-12)
    np.testing.assert_allclose(kiln.linalg.lstsq(wide, rhs, fast=False).numpy(), want,
                               atol=1e-12)
    compiled = kiln.function(lambda m, v: kiln.linalg.lstsq(m, v))
    np.testing.assert_allclose(compiled(a, b).numpy(), np.linalg.lstsq(a, b, rcond=None)[0],
                               atol=1e-12)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="right-hand sides"):
        kiln.linalg.lstsq(a, b[:3])


@pytest.mark.parametrize("n", [1, 5, 8])
def test_eigh_matches_numpy_with_gradients(n):
    # Eigenvalues ascending, eigenvectors up to their signs; only the
    # lower triangle is read; batches, compiled; the gradients of the
    # eigenvalues and of a sign-free function of the eigenvectors against
    # central differences.
    s = RNG.normal(size=(2, n, n))
    s = s + np.swapaxes(s, 1, 2)
    garbage = s + np.triu(RNG.normal(size=(n, n)) * 100, 1)        # (upper triangle ignored)
    e, v = kiln.linalg.eigh(garbage)
    en, vn = np.linalg.eigh(s)
    np.testing.assert_allclose(e.numpy(), en, atol=1e-12)
    overlap = np.abs(np.einsum("bij,bik->bjk", v.numpy(), vn))
    np.testing.assert_allclose(overlap, np.broadcast_to(np.eye(n), overlap.shape), atol=1e-10)
    compiled = kiln.function(kiln.linalg.eigvalsh)
    np.testing.assert_allclose(compiled(s).numpy(), en, atol=1e-12)
    e32 = kiln.linalg.eigvalsh(s.astype(np.float32)).numpy()
    np.testing.assert_allclose(e32, en, atol=2e-5 * np.abs(en).max())
    if n > 5:
        return
    w = RNG.normal(size=n)
    m = RNG.normal(size=(n, n))

    def f(x):
        values, vectors = kiln.linalg.eigh(x)
        top = vectors[:, -1:]
        return kiln.reduce_sum(values * w) + kiln.reduce_sum(kiln.matmul(top, top,
                                                                         transpose_b=True) * m)
    x0 = s[0]
    _gradient_matches_central(f, x0, rtol=1e-5, atol=1e-7)


def test_svd_matches_numpy():
    for shape in [(5, 3), (3, 5), (4, 4)]:
        a = RNG.normal(size=shape)
        s, u, v = kiln.linalg.svd(a)
        np.testing.assert_allclose(s.numpy(), np.linalg.svd(a, compute_uv=False), atol=1e-12)
        np.testing.assert_allclose(u.numpy() @ np.diag(s.numpy()) @ v.numpy().T, a, atol=1e-12)
        k = min(shape)
        np.testing.assert_allclose(u.numpy().T @ u.numpy(), np.eye(k), atol=1e-12)
        np.testing.assert_allclose(v.numpy().T @ v.numpy(), np.eye(k), atol=1e-12)
    # Rank-deficient matrices (the zero singular value is rounding noise),
    # all zero, batched, float32 and full_matrices: NumPy's singular
    # values, the product back, orthonormal columns (the null spaces'
    # vectors completed; signs are free, so not NumPy's vectors).
    low = RNG.normal(size=(4, 2)) @ RNG.normal(size=(2, 3))
    np.testing.assert_allclose(kiln.linalg.svd(low, compute_uv=False).numpy(),
                               np.linalg.svd(low, compute_uv=False), atol=1e-12)
    compiled = kiln.function(lambda x: kiln.linalg.svd(x, full_matrices=True))
    cases = [(RNG.normal(size=(4, 2)) @ RNG.normal(size=(2, 3)), False),
             (RNG.normal(size=(2, 2)) @ RNG.normal(size=(2, 5)), False),
             (np.zeros((3, 3)), False),
             (RNG.normal(size=(2, 5, 1)) @ RNG.normal(size=(2, 1, 4)), False),
             (RNG.normal(size=(5, 3)), True), (RNG.normal(size=(3, 5)), True),
             (RNG.normal(size=(4, 2)) @ RNG.normal(size=(2, 3)), True),
             ((RNG.normal(size=(4, 2)) @ RNG.normal(size=(2, 3))).astype(np.float32), False)]
    # (review) singular values just above the cutoff: their vectors are
    # orthonormalized, not left as the eigensolver's nearly-orthonormal ones
    q1, q2 = (np.linalg.qr(RNG.normal(size=(4, 4)))[0] for _ in range(2))
    cases += [(q1 @ np.diag(d) @ q2.T, False)
              for d in ([1, 1e-13, 1e-14, 0], [1, 1e-13, 0, 0], [1, 3e-12, 2e-12, 1e-12])]
    for a, full in cases:
        s, u, v = (t.numpy() for t in (compiled(a) if full else kiln.linalg.svd(a)))
        m, n = a.shape[-2:]
        k = min(m, n)
        tol = 1e-12 if a.dtype == np.float64 else 1e-6
        assert u.shape[-1] == (m if full else k) and v.shape[-1] == (n if full else k)
        np.testing.assert_allclose(s, np.linalg.svd(a, compute_uv=False), atol=tol)
        np.testing.assert_allclose((u[..., :k] * s[..., None, :]) @ np.swapaxes(v[..., :k], -1, -2),
                                   a, atol=tol)
        for q in (u, v):
            gram = np.swapaxes(q, -1, -2) @ q
            np.testing.assert_allclose(gram, np.broadcast_to(np.eye(q.shape[-1]), gram.shape),
                                       atol=tol)
    a = RNG.normal(size=(4, 3))
    w = np.array([1.0, -2.0, 0.5])
    f = lambda x: kiln.reduce_sum(kiln.linalg.svd(x, compute_uv=False) * w)
    _gradient_matches_central(f, a, rtol=1e-6, atol=1e-8)
    # Through the vectors (a sign-free function of them: the projectors onto
    # the leading singular directions), past the completion's selects.
    wu, wv = RNG.normal(size=(4, 4)), RNG.normal(size=(3, 3))

    def projectors(x):
        _, u, v = kiln.linalg.svd(x)
        return (kiln.reduce_sum(kiln.matmul(u[:, :2], u[:, :2], transpose_b=True) * wu) +
                kiln.reduce_sum(kiln.matmul(v[:, :1], v[:, :1], transpose_b=True) * wv))
    _gradient_matches_central(projectors, a, rtol=1e-5, atol=1e-7)


def test_decomposition_gradients_at_degenerate_inputs():
    # (review findings) Repeated eigenvalues: the eigenvalues' gradient is
    # still defined (TensorFlow's V diag(dE) V^T), no NaN; a column already
    # zero below the diagonal: QR's gradient is finite and right; R is
    # exactly upper triangular; a moderately ill-conditioned float32
    # matrix has singular vectors.
    x = kiln.constant(np.eye(3))
    with kiln.GradientTape() as tape:
        tape.watch(x)
        y = kiln.reduce_sum(kiln.linalg.eigvalsh(x) * np.array([1.0, 2.0, 3.0]))
    g = tape.gradient(y, x).numpy()
    assert np.isfinite(g).all()
    np.testing.assert_allclose(np.trace(g), 6.0)
    # (At a column already zero below the diagonal, LAPACK's QR changes the
    # signs of a row of R and a column of Q under any perturbation there, as
    # TensorFlow's does, so the check is on R^T R = A^T A, which is free of
    # the signs: the gradient of the sign-fixed branch, finite.)
    upper = np.triu(RNG.normal(size=(4, 4))) + 3 * np.eye(4)
    w = RNG.normal(size=(4, 4))

    def gram(t):
        r = kiln.linalg.qr(t)[1]
        return kiln.reduce_sum(kiln.matmul(r, r, transpose_a=True) * w)
    _gradient_matches_central(gram, upper, rtol=1e-6, atol=1e-8)
    tall = RNG.normal(size=(6, 3))
    r = kiln.linalg.qr(tall, full_matrices=True)[1].numpy()
    assert (np.tril(r, -1) == 0).all()
    a = (RNG.normal(size=(6, 4)) @ np.diag([1.0, 1e-2, 1e-3, 1e-5]) @
         np.linalg.qr(RNG.normal(size=(4, 4)))[0]).astype(np.float32)
    s, u, v = kiln.linalg.svd(a)
    assert s.dtype == kiln.float32
    np.testing.assert_allclose(u.numpy() @ np.diag(s.numpy()) @ v.numpy().T, a, atol=1e-6)
    zero_rows = np.vstack([RNG.normal(size=(2, 3)), np.zeros((2, 3))])
    with kiln.GradientTape() as tape:
        z = kiln.constant(zero_rows)
        tape.watch(z)
        total = kiln.reduce_sum(kiln.linalg.svd(z, compute_uv=False))
    assert np.isfinite(tape.gradient(total, z).numpy()).all()


def test_pinv_and_matrix_rank_match_numpy():
    import scipy.linalg
    full = RNG.normal(size=(2, 4, 3))
    low = RNG.normal(size=(3, 2)) @ RNG.normal(size=(2, 4))       # rank 2
    for a in (full, low, low.T, np.zeros((3, 2))):
        np.testing.assert_allclose(la.pinv(a).numpy(), np.linalg.pinv(a), atol=1e-10)
        np.testing.assert_array_equal(la.matrix_rank(a).numpy(), np.linalg.matrix_rank(a))
    np.testing.assert_allclose(la.pinv(low.astype(np.float32)).numpy(),
                               scipy.linalg.pinv(low), rtol=1e-4, atol=1e-5)
    # A cutoff that drops the smaller singular value as well.
    s = np.linalg.svd(low, compute_uv=False)
    ratio = (s[1] / s[0] + 1.0) / 2.0
    np.testing.assert_allclose(la.pinv(low, rcond=ratio).numpy(),
                               np.linalg.pinv(low, rcond=ratio), atol=1e-10)
    assert la.matrix_rank(low, tol=s[1] * 1.01).numpy() == 1
    w = RNG.normal(size=(2, 3))
    _gradient_matches_central(lambda x: kiln.reduce_sum(la.pinv(x) * w), full[0, :3, :2],
                              rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("scale", [1e-3, 0.2, 1.0, 4.0, 30.0])
def test_expm_matches_scipy(scale):
    import scipy.linalg
    a = np.random.default_rng(int(scale * 1000) + 1).normal(size=(3, 4, 4)) * scale
    a[1] *= 0.01                          # (a smaller Pade degree, no squaring)
    want = np.stack([scipy.linalg.expm(x) for x in a])
    # (Errors grow with the matrix's 1-norm, exp's condition; at a norm of
    # ~100 the float32 entries near its largest value: checked up to 4.)
    norm = max(np.abs(a).sum(axis=-2).max(), 1.0)
    np.testing.assert_allclose(la.expm(a).numpy(), want, rtol=1e-11,
                               atol=1e-13 * norm * abs(want).max())
    if scale <= 4.0:
        np.testing.assert_allclose(la.expm(a.astype(np.float32)).numpy(), want, rtol=2e-4,
                                   atol=1e-6 * norm * abs(want).max())


def test_expm_compiled_and_its_gradient():
    import scipy.linalg
    # One loop squares each matrix as often as its own norm needs (0, 2
    # and 6 times here).
    a = RNG.normal(size=(3, 4, 4)) * np.array([0.05, 3.0, 60.0])[:, None, None]
    want = np.stack([scipy.linalg.expm(x) for x in a])
    got = kiln.function(la.expm)(a).numpy()
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-11 * abs(w).max())
    w = RNG.normal(size=(4, 4))
    for x in a[:2]:
        _gradient_matches_central(lambda v: kiln.reduce_sum(la.expm(v) * w), x,
                                  rtol=1e-5, atol=1e-7 * abs(scipy.linalg.expm(x)).max())


def test_expm_of_known_matrices():
    # A rotation generator: expm gives the rotation by that angle; a
    # nilpotent matrix: the finite series.
    t = 0.7
    rotation = la.expm(np.array([[0.0, -t], [t, 0.0]])).numpy()
    np.testing.assert_allclose(rotation, [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]],
                               atol=1e-15)
    n = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 5.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(la.expm(n).numpy(), np.eye(3) + n + n @ n / 2, atol=1e-14)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="square"):
        la.expm(np.zeros((2, 3)))


def test_lu_factors_like_lapack_and_solves():
    import scipy.linalg
    a = RNG.normal(size=(2, 5, 5))
    factored = la.lu(a)
    packed, p = factored.lu.numpy(), factored.p.numpy()
    assert factored.p.dtype == kiln.int32
    for i in range(2):
        perm, lower, upper = scipy.linalg.lu(a[i])          # a = perm @ lower @ upper
        np.testing.assert_allclose(np.tril(packed[i], -1) + np.eye(5), lower, atol=1e-12)
        np.testing.assert_allclose(np.triu(packed[i]), upper, atol=1e-12)
        np.testing.assert_array_equal(a[i][p[i]], perm.T @ a[i])   # (the same row order)
    np.testing.assert_allclose(la.lu_reconstruct(packed, p).numpy(), a, atol=1e-12)
    rhs = RNG.normal(size=(2, 5, 3))
    np.testing.assert_allclose(la.lu_solve(packed, p, rhs).numpy(), np.linalg.solve(a, rhs),
                               atol=1e-10)
    np.testing.assert_allclose(la.lu_matrix_inverse(packed, p).numpy(), np.linalg.inv(a),
                               atol=1e-10)
    assert la.lu(a, output_idx_type=kiln.int64).p.dtype == kiln.int64
    # Compiled, and differentiable through the factors.
    solve = kiln.function(lambda m, b: la.lu_solve(*la.lu(m), b))
    np.testing.assert_allclose(solve(a, rhs).numpy(), np.linalg.solve(a, rhs), atol=1e-10)
    w = RNG.normal(size=(5, 3))
    _gradient_matches_central(lambda m: kiln.reduce_sum(la.lu_solve(*la.lu(m), rhs[0]) * w),
                              a[0], rtol=1e-6, atol=1e-8)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="perm must be"):
        la.lu_solve(packed, p[:, :3], rhs)


def test_norms_of_matrices_vectors_and_complex_tensors():
    """tf.norm's matrix norms over a pair of axes (1: the largest column
    sum, inf: the largest row sum, the axes' order deciding which are
    rows), vector p-norms, complex tensors by their moduli (a complex
    result, as TensorFlow's), the conjugating adjoint, matvec and
    transpose; eagerly and compiled, NumPy the oracle."""
    v = np.array([[3.0, -4.0], [1.0, 2.0]], np.float32)
    z = np.array([1 + 2j, 3 - 1j], np.complex64)
    m = np.array([[1 + 2j, 3j], [0, 1]], np.complex64)
    cases = [
        (lambda a: kiln.norm(a, ord=1, axis=[-2, -1]), (v,), np.linalg.norm(v, 1)),
        (lambda a: kiln.norm(a, ord=np.inf, axis=[-2, -1]), (v,), np.linalg.norm(v, np.inf)),
        (lambda a: kiln.norm(a, ord=1, axis=[1, 0]), (v,), np.abs(v).sum(1).max()),
        (lambda a: kiln.norm(a, ord=1, axis=[1, 2], keepdims=True), (np.stack([v, 3 * v]),),
         np.array([6.0, 18.0]).reshape(2, 1, 1)),
        (lambda a: kiln.norm(a, ord=3), (v,), (np.abs(v) ** 3).sum() ** (1 / 3)),
        (lambda a: kiln.norm(a, ord="fro", axis=[0, 1]), (v,), np.linalg.norm(v)),
        (lambda a: kiln.norm(a), (z,), np.complex64(np.linalg.norm(z))),
        (lambda a: kiln.math.reduce_euclidean_norm(a), (z,), np.complex64(np.linalg.norm(z))),
        (lambda a: kiln.linalg.adjoint(a), (m,), m.conj().T),
        (lambda a, b: kiln.linalg.matvec(a, b, adjoint_a=True), (m, z), m.conj().T @ z),
        (lambda a: kiln.transpose(a, conjugate=True), (m,), m.conj().T),
    ]
    for f, args, want in cases:
        for run in (f, kiln.function(f)):
            got = run(*args)
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
            assert got.dtype.is_complex == np.iscomplexobj(want)
    with pytest.raises(kiln.errors.UnimplementedError, match="spectral norm"):
        kiln.norm(v, ord=2, axis=[0, 1])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="a number > 0"):
        kiln.norm(v, ord=-1)


def test_full_qr_of_a_tall_matrix_compiles_and_refuses_only_its_gradient():
    """TensorFlow: qr(full_matrices=True) of a tall matrix computes in a
    tf.function; only its gradient is refused (eagerly at once, compiled
    when the gradient runs)."""
    a = np.random.default_rng(0).random((4, 2))
    q, r = kiln.function(lambda x: kiln.linalg.qr(x, full_matrices=True))(a)
    np.testing.assert_allclose(q.numpy() @ r.numpy(), a, atol=1e-12)
    np.testing.assert_allclose(q.numpy().T @ q.numpy(), np.eye(4), atol=1e-12)

    def gradient(x):
        with kiln.GradientTape() as tape:
            tape.watch(x)
            y = kiln.reduce_sum(kiln.linalg.qr(x, full_matrices=True)[1])
        return tape.gradient(y, x)

    for run in (gradient, kiln.function(gradient)):
        with pytest.raises(kiln.errors.InvalidArgumentError,
                           match="no gradient for full_matrices"):
            run(kiln.constant(a))


def test_diagonals_other_than_the_main_one():
    """tf.linalg.diag_part / set_diag / diag with an int k (above the main
    diagonal for k > 0, below for k < 0) against NumPy's diagonal / diag;
    a band of diagonals is refused with a clear error."""
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    v = np.array([1.0, 2.0, 3.0], np.float32)
    for k in (0, 1, 3, -1, -2):
        compiled = kiln.function(lambda a, k=k: kiln.linalg.diag_part(a, k=k))
        want = np.stack([np.diagonal(m, k) for m in x])
        np.testing.assert_array_equal(kiln.linalg.diag_part(x, k=k).numpy(), want)
        np.testing.assert_array_equal(compiled(x).numpy(), want)
        placed = x.copy()
        rows, cols = np.nonzero(np.eye(3, 4, k))
        placed[:, rows, cols] = want * 10
        np.testing.assert_array_equal(kiln.linalg.set_diag(x, want * 10, k=k).numpy(), placed)
        np.testing.assert_array_equal(kiln.linalg.diag(v, k=k).numpy(), np.diag(v, k))
    padded = kiln.linalg.diag([1.0, 2.0], k=1, padding_value=9.0).numpy()
    np.testing.assert_array_equal(padded, np.where(np.eye(3, k=1, dtype=bool),
                                                   np.diag([1.0, 2.0], 1), 9.0))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="diagonal 4 is outside"):
        kiln.linalg.diag_part(x, k=4)
    with pytest.raises(kiln.errors.UnimplementedError, match="band of diagonals"):
        kiln.linalg.diag_part(x, k=(0, 1))
