"""kiln.linalg: TensorFlow's tf.linalg names for Kiln's products and norms,
band and diagonal matrices, and the Cholesky factorization and triangular
solves (composites of Kiln ops unrolled over the rows, so they run eagerly,
compile and differentiate like any op; meant for the small matrices of
covariances and the like, their cost grows with n)."""

import builtins
import collections

import numpy as np

from . import core, errors
from .math_ops import (_positions, _static, broadcast_to, einsum, expand_dims, eye, is_finite,
                       l2_normalize, norm, squeeze, tensordot, zeros_like)
from .math_ops import ones_like, reduce_all, reduce_prod
from .math_ops import argsort, floor
from .control_flow import while_loop
from .ops import (_check_at_run_time, _swap_last, abs, argmax, cast, concat, equal, greater,
                  greater_equal, less, less_equal, log, logical_and, logical_not, matmul,
                  maximum as _maximum, not_equal, one_hot, pow as _pow, reduce_max, reduce_sum,
                  sqrt, stack, stop_gradient, where)
from .ops import gather, reshape
from .dtypes import as_dtype, float32, float64, int32, int64
from .tensor import constant, convert_to_tensor


def matrix_transpose(a, name=None, conjugate=False):
    """`a` with its last two dimensions swapped (and conjugated when
    `conjugate`: the adjoint)."""
    a = convert_to_tensor(a)
    if conjugate and a.dtype.is_complex:
        a = core.complex_ops["conj"](a)
    return _swap_last(a)


def adjoint(matrix, name=None):
    """The conjugate transpose of (a batch of) matrices: the last two
    dimensions swapped, complex entries conjugated."""
    return matrix_transpose(matrix, conjugate=True)


def _matrices(x, what):
    """x as a tensor of (a batch of) matrices with static extents: (x, m, n)."""
    x = convert_to_tensor(x)
    if x.ndim < 2:
        raise errors.InvalidArgumentError(
            f"{what}: needs a matrix (rank >= 2), got shape {list(x.shape)}",
            errors.user_location())
    shape = _static(x, what)
    return x, shape[-2], shape[-1]


def band_part(input, num_lower, num_upper, name=None):
    """The band of each matrix: entries (i, j) with i - j <= num_lower and
    j - i <= num_upper kept (a negative count keeps that whole triangle),
    the rest 0; band_part(x, -1, 0) is the lower triangle. Open extents
    (a sequence length known only when the code runs) are fine."""
    x = convert_to_tensor(input)
    if None in x.shape[-2:] and x.ndim >= 2:
        lower, upper = int(num_lower), int(num_upper)
        i, j = _positions(x, x.ndim - 2), _positions(x, x.ndim - 1)
        keep = None
        if lower >= 0:
            keep = less_equal(i - j, lower)
        if upper >= 0:
            above = less_equal(j - i, upper)
            keep = above if keep is None else logical_and(keep, above)
        return x if keep is None else where(keep, x, zeros_like(x))
    x, m, n = _matrices(x, "band_part")
    lower, upper = int(num_lower), int(num_upper)
    i, j = np.arange(m)[:, None], np.arange(n)[None, :]
    keep = ((lower < 0) | (i - j <= lower)) & ((upper < 0) | (j - i <= upper))
    return where(constant(keep), x, zeros_like(x))


def _diagonal_index(k, what):
    """k as an int: one diagonal (0 the main one, > 0 above it, < 0 below);
    TensorFlow's band of diagonals (a pair) is not supported."""
    if isinstance(k, (list, tuple)) or (hasattr(k, "shape") and getattr(k, "ndim", 0)):
        values = [int(v) for v in np.ravel(k.numpy() if hasattr(k, "numpy") else k)]
        if len(values) == 2 and values[0] == values[1]:
            return values[0]
        raise errors.UnimplementedError(
            f"{what}: a band of diagonals (k = {values}) is not supported; one diagonal "
            "(an int k) is", errors.user_location())
    return int(k.numpy()) if hasattr(k, "numpy") else int(k)


def _diagonal_length(m, n, k, what):
    length = min(m, n - k) if k >= 0 else min(m + k, n)
    if length <= 0:
        raise errors.InvalidArgumentError(
            f"{what}: diagonal {k} is outside {m} x {n} matrices", errors.user_location())
    return length


def _along(d, k, size):
    """A diagonal's values [..., L] padded to `size` with zeros and spread
    so that entry (i, i + k) of a matrix reads d[min(i, i + k)]: by row
    for k >= 0, by column below the main diagonal."""
    from .math_ops import pad
    d = pad(d, [[0, 0]] * (d.ndim - 1) + [[0, size - d.shape[-1]]])
    return expand_dims(d, -1) if k >= 0 else expand_dims(d, -2)


def diag(diagonal, name=None, k=0, num_rows=-1, num_cols=-1, padding_value=0,
         align="RIGHT_LEFT"):
    """Matrices with `diagonal` ([..., L]) on diagonal `k` (above the main
    one for k > 0), the rest `padding_value`: square of L + |k| unless
    num_rows / num_cols say, as tf.linalg.diag."""
    k = _diagonal_index(k, "diag")
    d = convert_to_tensor(diagonal)
    if d.ndim < 1:
        raise errors.InvalidArgumentError("diag: the diagonal must have rank >= 1",
                                          errors.user_location())
    length = _static(d, "diag")[-1]
    rows = int(num_rows) if int(num_rows) > 0 else length + builtins.abs(k)
    cols = int(num_cols) if int(num_cols) > 0 else length + builtins.abs(k)
    if _diagonal_length(rows, cols, k, "diag") != length:
        raise errors.InvalidArgumentError(
            f"diag: a diagonal of {length} does not fill diagonal {k} of {rows} x {cols} "
            "matrices", errors.user_location())
    shape = tuple(d.shape[:-1]) + (rows, cols)
    values = broadcast_to(_along(d, k, rows if k >= 0 else cols), shape)
    fill = broadcast_to(convert_to_tensor(padding_value, d.dtype), shape)
    return where(_diagonal(rows, cols, k), values, fill)


def _diagonal(m, n, k=0):
    """The m x n bool mask of diagonal k (selects, so that an infinite
    entry elsewhere never turns into NaN)."""
    return constant(np.eye(m, n, k, dtype=bool))


def diag_part(input, name=None, k=0, padding_value=0, align="RIGHT_LEFT"):
    """Diagonal `k` of each matrix ([..., L]; k = 0 the main one, > 0
    above it), as tf.linalg.diag_part: a gather of its entries."""
    k = _diagonal_index(k, "diag_part")
    x, m, n = _matrices(input, "diag_part")
    if k == 0:
        return reduce_sum(where(_diagonal(m, n), x, zeros_like(x)), axis=-1 if m <= n else -2)
    length = _diagonal_length(m, n, k, "diag_part")
    first = 0 if k >= 0 else -k
    flat = reshape(x, tuple(x.shape[:-2]) + (m * n,))
    rows = np.arange(first, first + length)
    return gather(flat, constant(rows * n + rows + k, int64), axis=flat.ndim - 1)


def set_diag(input, diagonal, name=None, k=0, align="RIGHT_LEFT"):
    """Each matrix with its diagonal `k` replaced by `diagonal`."""
    k = _diagonal_index(k, "set_diag")
    x, m, n = _matrices(input, "set_diag")
    d = convert_to_tensor(diagonal, x.dtype)
    length = _diagonal_length(m, n, k, "set_diag")
    if tuple(d.shape) != tuple(x.shape[:-2]) + (length,):
        raise errors.InvalidArgumentError(
            f"set_diag: a diagonal of shape {list(d.shape)} for matrices of shape "
            f"{list(x.shape)} (it must be {list(x.shape[:-2]) + [length]})",
            errors.user_location())
    placed = broadcast_to(_along(d, k, m if k >= 0 else n), x.shape)
    return where(_diagonal(m, n, k), placed, x)


def trace(x, name=None):
    """The sum of each matrix's diagonal."""
    return reduce_sum(diag_part(x), axis=-1)


def matvec(a, b, transpose_a=False, adjoint_a=False, name=None):
    """a @ b for a (batch of) matrices a and vectors b ([..., n])."""
    product = matmul(a, expand_dims(convert_to_tensor(b), -1),
                     transpose_a=transpose_a, adjoint_a=adjoint_a)
    return squeeze(product, -1)


def cross(a, b, name=None):
    """The cross product of 3-vectors (the last dimension)."""
    a, b = convert_to_tensor(a), convert_to_tensor(b)
    if a.shape[-1:] != (3,) or b.shape[-1:] != (3,):
        raise errors.InvalidArgumentError(
            f"cross: needs 3-vectors, got shapes {list(a.shape)} and {list(b.shape)}",
            errors.user_location())
    x1, y1, z1 = (a[..., i] for i in range(3))
    x2, y2, z2 = (b[..., i] for i in range(3))
    return stack([y1 * z2 - z1 * y2, z1 * x2 - x1 * z2, x1 * y2 - y1 * x2], axis=-1)


def global_norm(t_list, name=None):
    """sqrt of the sum of squares of every element of every tensor (None
    entries skipped)."""
    total = None
    for t in t_list:
        if t is None:
            continue
        t = convert_to_tensor(t)
        term = reduce_sum(t * t)
        total = term if total is None else total + term
    if total is None:
        raise ValueError("global_norm: no tensors")
    return sqrt(total)


def normalize(tensor, ord="euclidean", axis=None, name=None):
    """(tensor / its norm, the norm) along `axis`; the norm keeps the
    reduced dimensions with extent 1, as TensorFlow's."""
    t = convert_to_tensor(tensor)
    n = norm(t, ord=ord, axis=axis, keepdims=True)
    return t / n, n


def _square(x, what):
    x, m, n = _matrices(x, what)
    if m != n:
        raise errors.InvalidArgumentError(
            f"{what}: needs square matrices, got {m}x{n}", errors.user_location())
    if not x.dtype.is_floating:
        raise TypeError(f"{what}: needs floating-point matrices, got {x.dtype.name}")
    return x, n


def cholesky(input, name=None):
    """The lower-triangular L with L L^T = input, for symmetric positive
    definite matrices (read from the lower triangle, as TensorFlow); a
    matrix that is not positive definite is TensorFlow's
    InvalidArgumentError (now, or when the code runs). The gradient is
    TensorFlow's: symmetric, (G + G^T) / 2 for the gradient G of the
    lower triangle read."""
    a, n = _square(input, "cholesky")
    # The lower triangle's values (the upper one is never read, even when
    # it holds inf or NaN), with the derivative of the symmetric part.
    finite = where(is_finite(a), a, zeros_like(a))
    sym = (finite + _swap_last(finite)) * 0.5
    a = stop_gradient(band_part(a, -1, 0)) + (sym - stop_gradient(sym))
    columns, pivots = [], []
    for j in range(n):
        # Column j: (a[:, j] - L[:, :j] L[j, :j]^T) / sqrt(pivot), 0 above j.
        if columns:
            done = stack(columns, axis=-1)                 # [..., n, j]
            row = done[..., j, :]                          # L[j, :j]
            rest = a[..., :, j] - matvec(done, row)
            pivot = a[..., j, j] - reduce_sum(row * row, axis=-1)
        else:
            rest, pivot = a[..., :, j], a[..., j, j]
        pivots.append(pivot)
        column = rest / expand_dims(sqrt(pivot), -1)
        below = constant(np.arange(n) >= j)
        columns.append(where(below, column, zeros_like(column)))
    _check_at_run_time(reduce_all(greater(stack(pivots, axis=-1), 0.0)),
                       "cholesky: Cholesky decomposition was not successful. The input "
                       "might not be valid (it is not positive definite).")
    return stack(columns, axis=-1)


def triangular_solve(matrix, rhs, lower=True, adjoint=False, name=None):
    """x with matrix @ x = rhs (or matrix^T @ x = rhs with `adjoint`) for
    triangular matrices ([..., n, n], the other triangle ignored) and
    right-hand sides [..., n, k], by substitution."""
    a, n = _square(matrix, "triangular_solve")
    b = convert_to_tensor(rhs, a.dtype)
    if b.ndim < 2 or b.shape[-2] != n:
        raise errors.InvalidArgumentError(
            f"triangular_solve: right-hand sides of shape {list(b.shape)} for "
            f"{n}x{n} matrices", errors.user_location())
    if adjoint:
        a, lower = _swap_last(a), not lower
    order = range(n) if lower else range(n - 1, -1, -1)
    rows = {}
    for i in order:
        known = sorted(rows)          # the rows already solved
        value = b[..., i, :]
        if known:
            coefficients = stack([a[..., i, k] for k in known], axis=-1)   # [..., len]
            solved = stack([rows[k] for k in known], axis=-2)              # [..., len, k]
            value = value - matvec(_swap_last(solved), coefficients)
        rows[i] = value / expand_dims(a[..., i, i], -1)
    return stack([rows[i] for i in range(n)], axis=-2)


def _outer(u, v):
    """u v^T for (batches of) vectors."""
    return expand_dims(u, -1) * expand_dims(v, -2)


def _lu(a, n):
    """(P, L, U, sign) with P a = L U: partial pivoting (the largest
    remaining entry of each column), L unit lower triangular, sign the
    permutation's. A column with no nonzero pivot eliminates nothing (its
    U diagonal entry is 0)."""
    rows = constant(np.arange(n))
    identity = eye(n, dtype=a.dtype)
    perm, lower, upper = identity, zeros_like(a), a
    sign = reduce_sum(zeros_like(a), axis=[-2, -1]) + 1.0
    for k in range(n):
        column = upper[..., :, k]
        score = where(greater_equal(rows, k), abs(column), -ones_like(column))
        pivot_row = argmax(score, axis=-1)
        e_p = one_hot(pivot_row, n, dtype=a.dtype)
        e_k = constant(np.eye(n)[k], a.dtype)
        swap = identity - _outer(e_k, e_k) - _outer(e_p, e_p) + _outer(e_k, e_p) + \
            _outer(e_p, e_k)
        upper, lower, perm = (matmul(swap, m) for m in (upper, lower, perm))
        sign = sign * where(equal(pivot_row, k), ones_like(sign), -ones_like(sign))
        pivot = upper[..., k, k]
        safe = where(equal(pivot, 0.0), ones_like(pivot), pivot)
        factors = where(greater(rows, k), upper[..., :, k] / expand_dims(safe, -1),
                        zeros_like(upper[..., :, k]))
        upper = upper - _outer(factors, upper[..., k, :])
        lower = lower + _outer(factors, e_k)
    return perm, lower + identity, upper, sign


Lu = collections.namedtuple("Lu", ["lu", "p"])


def lu(input, output_idx_type=int32, name=None):
    """(lu, p) with input[..., p, :] = L U (tf.linalg.lu): partial pivoting,
    L unit lower triangular below lu's diagonal, U on and above it; p the
    rows' order (output_idx_type: int32 or int64). A singular matrix
    factors too (a zero on U's diagonal)."""
    a, n = _square(input, "lu")
    if as_dtype(output_idx_type) not in (int32, int64):
        raise TypeError(f"lu: output_idx_type must be int32 or int64, got {output_idx_type}")
    perm, lower, upper, _ = _lu(a, n)
    packed = lower - eye(n, dtype=a.dtype) + upper
    return Lu(packed, cast(argmax(perm, axis=-1), as_dtype(output_idx_type)))


def _lu_parts(lower_upper, perm, what):
    """(L, U, P as a matrix, n) of a packed factorization from lu."""
    packed, n = _square(lower_upper, what)
    p = convert_to_tensor(perm)
    if not p.dtype.is_integer or tuple(p.shape) != tuple(packed.shape[:-1]):
        raise errors.InvalidArgumentError(
            f"{what}: perm must be integer indices of shape {list(packed.shape[:-1])}, got "
            f"{p.dtype.name}{list(p.shape)}", errors.user_location())
    ones = ones_like(packed[..., 0])
    lower = set_diag(band_part(packed, -1, 0), ones)
    return lower, band_part(packed, 0, -1), one_hot(p, n, dtype=packed.dtype), n


def lu_reconstruct(lower_upper, perm, validate_args=False, name=None):
    """The matrix lu factored (tf.linalg.lu_reconstruct): L U with its
    rows put back where p took them from."""
    lower, upper, rows, _ = _lu_parts(lower_upper, perm, "lu_reconstruct")
    return matmul(_swap_last(rows), matmul(lower, upper))


def lu_solve(lower_upper, perm, rhs, validate_args=False, name=None):
    """x with A x = rhs from A's factorization by lu (tf.linalg.lu_solve;
    rhs [..., n, k]): the rows of rhs in p's order, then the two
    triangular solves."""
    lower, upper, rows, n = _lu_parts(lower_upper, perm, "lu_solve")
    b = convert_to_tensor(rhs, lower.dtype)
    if b.ndim < 2 or b.shape[-2] != n:
        raise errors.InvalidArgumentError(
            f"lu_solve: rhs must be [..., {n}, k], got {list(b.shape)}", errors.user_location())
    y = triangular_solve(lower, matmul(rows, b), lower=True)
    return triangular_solve(upper, y, lower=False)


def lu_matrix_inverse(lower_upper, perm, validate_args=False, name=None):
    """The inverse of the matrix lu factored (tf.linalg.lu_matrix_inverse)."""
    packed = convert_to_tensor(lower_upper)
    n = packed.shape[-1]
    return lu_solve(packed, perm, zeros_like(packed) + eye(n, dtype=packed.dtype))


def _invertible(upper, what):
    """An InvalidArgumentError (now, or when the code runs) unless every
    pivot is nonzero."""
    _check_at_run_time(reduce_all(not_equal(diag_part(upper), 0.0)),
                       f"{what}: Input is not invertible.")


def det(input, name=None):
    """The determinant of each square matrix (LU with partial pivoting)."""
    a, n = _square(input, "det")
    _, _, upper, sign = _lu(a, n)
    return sign * reduce_prod(diag_part(upper), axis=-1)


def slogdet(input, name=None):
    """(sign, log |determinant|) of each square matrix."""
    a, n = _square(input, "slogdet")
    _, _, upper, sign = _lu(a, n)
    d = diag_part(upper)
    signs = where(less(d, 0.0), -ones_like(d), where(equal(d, 0.0), zeros_like(d), ones_like(d)))
    return sign * reduce_prod(signs, axis=-1), reduce_sum(log(abs(d)), axis=-1)


def logdet(matrix, name=None):
    """log det of symmetric positive definite matrices (via Cholesky)."""
    return 2.0 * reduce_sum(log(diag_part(cholesky(matrix))), axis=-1)


def solve(matrix, rhs, adjoint=False, name=None):
    """x with matrix @ x = rhs ([..., n, n] and [..., n, k]); a singular
    matrix is TensorFlow's InvalidArgumentError "Input is not invertible."."""
    a, n = _square(matrix, "solve")
    b = convert_to_tensor(rhs, a.dtype)
    if b.ndim < 2 or b.shape[-2] != n:
        raise errors.InvalidArgumentError(
            f"solve: right-hand sides of shape {list(b.shape)} for {n}x{n} matrices",
            errors.user_location())
    return _solve(_swap_last(a) if adjoint else a, n, b, "solve")


def _solve(a, n, b, what):
    perm, lower, upper, _ = _lu(a, n)
    _invertible(upper, what)
    y = triangular_solve(lower, matmul(perm, b), lower=True)
    return triangular_solve(upper, y, lower=False)


def inv(input, adjoint=False, name=None):
    """The inverse of each square matrix (an InvalidArgumentError for a
    singular one)."""
    a, n = _square(input, "inv")
    return _solve(_swap_last(a) if adjoint else a, n, eye(n, dtype=a.dtype) + zeros_like(a),
                  "inv")


def cholesky_solve(chol, rhs, name=None):
    """x with (L L^T) x = rhs for the Cholesky factor L."""
    y = triangular_solve(chol, rhs, lower=True)
    return triangular_solve(chol, y, lower=True, adjoint=True)


def qr(input, full_matrices=False, name=None):
    """(q, r) with input = q r, q's columns orthonormal and r upper
    triangular (tf.linalg.qr): Householder reflections, LAPACK's signs
    (r's diagonal is minus the sign of the column's leading entry times
    its norm, as NumPy's and TensorFlow's). [..., m, n] gives q [..., m,
    k] and r [..., k, n] with k = min(m, n), or q [..., m, m] and r
    [..., m, n] with full_matrices. The gradient is TensorFlow's formula
    (exact at any full-rank matrix, also where a column needs no
    reflection; not for full_matrices with m > n, as in TensorFlow)."""
    from .gradients import custom_gradient
    a, m, n = _matrices(input, "qr")
    if not a.dtype.is_floating:
        raise TypeError(f"qr: needs floating-point matrices, got {a.dtype.name}")

    @custom_gradient
    def factor(x):
        q, r = _householder_qr(x, m, n, full_matrices)

        def grad(dq, dr):
            if full_matrices and m > n:
                # (The backward is traced with the forward, used or not: a
                # gradient that runs stops here, TensorFlow's refusal.)
                _check_at_run_time(constant(False), "qr: no gradient for full_matrices=True "
                                   "with more rows than columns (as in TensorFlow)")
                return zeros_like(x)
            dq = zeros_like(q) if dq is None else dq
            dr = zeros_like(r) if dr is None else dr
            return _qr_grad(x, q, r, dq, dr, m, n)
        return (q, r), grad
    return factor(a)


def _qr_grad(a, q, r, dq, dr, m, n):
    """TensorFlow's QR gradient: for m >= n from q, r and their
    cotangents; a wide matrix [x, y] through its square part x."""
    def solve_right(x, upper):           # x R^-T (R upper triangular)
        return _swap_last(triangular_solve(upper, _swap_last(x), lower=False))

    def square_or_deep(q, r, dq, dr):
        qdq = matmul(q, dq, transpose_a=True)
        qdq_ = qdq - _swap_last(qdq)
        rdr = matmul(r, dr, transpose_b=True)
        rdr_ = rdr - _swap_last(rdr)
        tril = band_part(qdq_ + rdr_, -1, 0)
        return matmul(q, dr + solve_right(tril, r)) + solve_right(dq - matmul(q, qdq), r)
    if m >= n:
        return square_or_deep(q, r, dq, dr)
    y, u = a[..., :, m:], r[..., :, :m]
    dv, du = dr[..., :, m:], dr[..., :, :m]
    dx = square_or_deep(q, u, dq + matmul(y, dv, transpose_b=True), du)
    return concat([dx, matmul(q, dv)], axis=-1)


def _householder_qr(a, m, n, full_matrices):
    rows = constant(np.arange(m))
    r = a
    q = eye(m, dtype=a.dtype) + zeros_like(a[..., :, :1] * a[..., :1, :1])   # [..., m, m]
    for k in range(min(m, n)):
        # The reflection H = I - tau v v^T with v[k] = 1 that maps column
        # k's entries from row k down onto beta e_k (LAPACK's dlarfg).
        column = where(greater_equal(rows, k), r[..., :, k], zeros_like(r[..., :, k]))
        alpha = r[..., k, k]
        below = where(greater(rows, k), column, zeros_like(column))
        rest_squared = reduce_sum(below * below, axis=-1)           # ||x[1:]||^2
        trivial = equal(rest_squared, 0.0)
        # (square roots of 1 where the column is done: the derivative of a
        # square root at 0 would turn the masked zeros into NaN)
        norm_x = sqrt(where(trivial, ones_like(alpha), alpha * alpha + rest_squared))
        beta = where(less(alpha, 0.0), norm_x, -norm_x)
        safe_beta = where(trivial, ones_like(beta), beta)
        scale = where(trivial, ones_like(alpha), alpha - beta)
        tau = where(trivial, zeros_like(alpha), (beta - alpha) / safe_beta)
        e_k = constant(np.arange(m) == k)
        v = where(e_k, ones_like(column), below / expand_dims(scale, -1))
        tv = expand_dims(tau, -1) * v
        r = r - _outer(tv, matvec(r, v, transpose_a=True))
        q = q - _outer(matvec(q, v), tv)
    r = band_part(r, 0, -1)       # (exact zeros below the diagonal, as LAPACK's)
    if full_matrices or m <= n:
        return q, r
    return q[..., :, :n], r[..., :n, :]


def lstsq(matrix, rhs, l2_regularizer=0.0, fast=True, name=None):
    """The least-squares solutions x of matrix x = rhs ([..., m, n] and
    [..., m, k]; tf.linalg.lstsq), minimizing |matrix x - rhs|^2 + l2 |x|^2.
    fast (TensorFlow's default): the normal equations by Cholesky, (A^T A
    + l2 I) x = A^T b, or for m < n the minimum-norm x = A^T (A A^T + l2
    I)^-1 b; otherwise through QR (better conditioned, no regularizer)."""
    a, m, n = _matrices(matrix, "lstsq")
    b = convert_to_tensor(rhs, a.dtype)
    if b.ndim < 2 or b.shape[-2] != m:
        raise errors.InvalidArgumentError(
            f"lstsq: right-hand sides of shape {list(b.shape)} for {m}x{n} matrices",
            errors.user_location())
    lam = float(l2_regularizer)
    if fast:
        if m >= n:
            gram = matmul(a, a, transpose_a=True) + lam * eye(n, dtype=a.dtype)
            return cholesky_solve(cholesky(gram), matmul(a, b, transpose_a=True))
        gram = matmul(a, a, transpose_b=True) + lam * eye(m, dtype=a.dtype)
        return matmul(a, cholesky_solve(cholesky(gram), b), transpose_a=True)
    if lam != 0.0:
        raise errors.InvalidArgumentError(
            "lstsq: l2_regularizer needs fast=True (TensorFlow's rule)",
            errors.user_location())
    if m >= n:
        q, r = qr(a)
        return triangular_solve(r, matmul(q, b, transpose_a=True), lower=False)
    q, r = qr(_swap_last(a))                      # A^T = Q R: x = Q R^-T b
    return matmul(q, triangular_solve(r, b, lower=False, adjoint=True))


def _jacobi_rounds(n):
    """The rounds of a cyclic Jacobi sweep: n - 1 (n even) rounds of
    disjoint pairs (p, q) covering every pair once (the round-robin
    tournament), as constant masks: for each round, C [pairs, n, n] with
    e_p e_p^T + e_q e_q^T, S with e_p e_q^T - e_q e_p^T, P (e_p e_p^T),
    Q (e_q e_q^T), O (e_p e_q^T), and the identity on an index left out."""
    players = list(range(n)) + ([None] if n % 2 else [])
    count = len(players)
    rounds = []
    for _ in range(count - 1):
        pairs = [(players[i], players[count - 1 - i]) for i in range(count // 2)]
        pairs = [(min(p, q), max(p, q)) for p, q in pairs if p is not None and q is not None]
        masks = {key: np.zeros((len(pairs), n, n)) for key in "CSPQO"}
        for k, (p, q) in enumerate(pairs):
            masks["C"][k, p, p] = masks["C"][k, q, q] = 1
            masks["S"][k, p, q], masks["S"][k, q, p] = 1, -1
            masks["P"][k, p, p] = masks["Q"][k, q, q] = masks["O"][k, p, q] = 1
        covered = masks["C"].sum(axis=0).diagonal()
        rounds.append((masks, np.diag(1.0 - covered)))
        players = [players[0]] + [players[-1]] + players[1:-1]
    return rounds


def _jacobi_eigh(a, n):
    """(eigenvalues, eigenvectors) of symmetric matrices by cyclic Jacobi:
    every round zeroes n/2 disjoint off-diagonal pairs at once (one
    orthogonal matrix J, A <- J^T A J, V <- V J); 8 + log2(n) sweeps
    (the convergence is quadratic once the off-diagonal part is small),
    run as one compiled loop."""
    from .control_flow import foldl
    rounds = [({k: constant(v, a.dtype) for k, v in masks.items()}, constant(rest, a.dtype))
              for masks, rest in _jacobi_rounds(n)]
    limit = 1e150 if a.dtype == float64 else 1e18
    pick = lambda x, mask: einsum("...ij,kij->...k", x, mask)
    place = lambda values, mask: einsum("...k,kij->...ij", values, mask)

    def sweep(state, _):
        x, vectors = state
        for masks, rest in rounds:
            app, aqq, apq = pick(x, masks["P"]), pick(x, masks["Q"]), pick(x, masks["O"])
            zero = equal(apq, 0.0)
            theta = (aqq - app) / (2.0 * where(zero, ones_like(apq), apq))
            sign = where(less(theta, 0.0), -ones_like(theta), ones_like(theta))
            big = greater(abs(theta), limit)      # (theta^2 would overflow: t ~ 1/(2 theta))
            safe = where(big, zeros_like(theta), theta)
            t = where(big, 0.5 / where(big, theta, ones_like(theta)),
                      sign / (abs(safe) + sqrt(safe * safe + 1.0)))
            t = where(zero, zeros_like(t), t)
            c = 1.0 / sqrt(t * t + 1.0)
            j = place(c, masks["C"]) + place(t * c, masks["S"]) + rest
            x = matmul(matmul(j, x, transpose_a=True), j)
            vectors = matmul(vectors, j)
        return x, vectors
    sweeps = 8 + int(np.ceil(np.log2(max(n, 2))))
    identity = eye(n, dtype=a.dtype) + zeros_like(a)
    x, vectors = foldl(sweep, constant(np.arange(sweeps)), initializer=(a, identity))
    values = diag_part(x)
    order = argsort(stop_gradient(values), axis=-1)
    return _take_last(values, order), _take_columns(vectors, order)


def _take_last(x, order):
    """x[..., order[...]] along the last axis (one_hot: batches work)."""
    n = x.shape[-1]
    return einsum("...ij,...j->...i", one_hot(order, n, dtype=x.dtype), x)


def _take_columns(x, order):
    """The columns of x in `order` (per batch)."""
    n = x.shape[-1]
    return einsum("...ij,...kj->...ik", x, one_hot(order, n, dtype=x.dtype))


def _symmetric_from_lower(a):
    """The symmetric matrix whose lower triangle is a's (TensorFlow's eigh
    reads only that triangle)."""
    lower = band_part(a, -1, 0)
    return lower + _swap_last(lower) - set_diag(zeros_like(a), diag_part(a))


def eigh(tensor, name=None):
    """(eigenvalues ascending, eigenvectors as columns) of symmetric
    matrices ([..., n, n], the lower triangle read; tf.linalg.eigh), by
    cyclic Jacobi rotations: accurate to a few ulp of the largest
    eigenvalue, meant for small matrices (n up to a few dozen: each sweep
    costs n matrix products). Each eigenvector's sign is arbitrary, as
    TensorFlow's. The gradient is TensorFlow's (it needs distinct
    eigenvalues where the eigenvectors are differentiated)."""
    from .gradients import custom_gradient
    a, n = _square(tensor, "eigh")

    @custom_gradient
    def decompose(x):
        values, vectors = _jacobi_eigh(_symmetric_from_lower(x), n)

        def grad(d_values, d_vectors):
            d_values = zeros_like(values) if d_values is None else d_values
            inner = diag(d_values)
            if d_vectors is not None:
                # TensorFlow's safe reciprocal of the gaps: x / (x^2 + 1e-20),
                # 0 for equal eigenvalues (their eigenvectors' gradient is
                # not defined; an inf would turn the zeros around it into NaN).
                gap = expand_dims(values, -2) - expand_dims(values, -1)  # [i, j] = e_j - e_i
                f = where(logical_not(_diagonal(n, n)), gap / (gap * gap + 1e-20),
                          zeros_like(gap))
                inner = inner + f * matmul(vectors, d_vectors, transpose_a=True)
            g = matmul(vectors, matmul(inner, vectors, transpose_b=True))
            g = band_part(g + _swap_last(g), -1, 0)
            return set_diag(g, 0.5 * diag_part(g))
        return (values, vectors), grad
    return decompose(a)


def eigvalsh(tensor, name=None):
    """The eigenvalues of symmetric matrices, ascending (eigh's first
    result)."""
    return eigh(tensor)[0]


def svd(tensor, full_matrices=False, compute_uv=True, name=None):
    """(s, u, v) with tensor = u diag(s) v^T, s descending
    (tf.linalg.svd; s alone without compute_uv): from the eigenvectors of
    the symmetric [[0, A], [A^T, 0]] (eigenvalues +-s, so s is as accurate
    as A, not A^T A). The vectors of singular values that are zero (below
    10 max(m, n) eps of the largest, in float64) are an orthonormal basis
    of what the others leave, as LAPACK's are, and so are full_matrices'
    extra columns. Gradients through eigh's."""
    a, m, n = _matrices(tensor, "svd")
    if not a.dtype.is_floating:
        raise TypeError(f"svd: needs floating-point matrices, got {a.dtype.name}")
    # (f32 and narrower in f64: the vectors need the smallest singular value
    # well above the eigensolver's rounding, a few n ulp of the largest)
    original = a.dtype
    if a.dtype != float64:
        a = cast(a, float64)
    s, u, v = _augmented_svd(a, m, n)
    if not compute_uv:
        return cast(s, original)
    # (a zero singular value comes out as rounding noise: below a few n ulp
    # of the largest it counts as zero, and its vectors, which the
    # augmented matrix's null space mixes, are replaced)
    eps = float(np.finfo(np.float64).eps)
    nonzero = greater(s, 10.0 * max(m, n) * eps * s[..., :1])
    u = _complete_orthonormal(u, nonzero, m if full_matrices else min(m, n))
    v = _complete_orthonormal(v, nonzero, n if full_matrices else min(m, n))
    return cast(s, original), cast(u, original), cast(v, original)


def _complete_orthonormal(vectors, kept, columns):
    """vectors [..., size, k] whose columns where `kept` [..., k] (a
    prefix: the nonzero singular values come first) are orthonormal, with
    the others replaced by, and `columns` - k more columns of, an
    orthonormal basis of the complement of the kept ones' span: the
    eigenvectors of eigenvalue 1 of the projector onto it (eigh's last
    size - rank columns, so column i >= rank of them is one)."""
    size, k = vectors.shape[-2], vectors.shape[-1]
    keep = expand_dims(kept, -2)
    # The kept columns of singular values near the cutoff are only nearly
    # orthonormal (the eigensolver's gap is small there): modified
    # Gram-Schmidt, in order, makes them so, keeping their directions
    # and signs.
    columns_in = [vectors[..., :, j:j + 1] for j in range(k)]
    done = []
    for j, v in enumerate(columns_in):
        for u in done:
            v = v - u * reduce_sum(u * v, axis=-2, keepdims=True)
        kept_j = keep[..., j:j + 1]
        norm = sqrt(reduce_sum(v * v, axis=-2, keepdims=True))
        v = v / where(kept_j, norm, ones_like(norm))   # (no 0/0 off the kept ones)
        done.append(where(kept_j, v, zeros_like(v)))
    vectors = where(keep, concat(done, axis=-1), vectors)
    taken = where(keep, vectors, zeros_like(vectors))
    projector = eye(size, dtype=vectors.dtype) - matmul(taken, taken, transpose_b=True)
    basis = eigh(projector)[1]
    completed = where(keep, vectors, basis[..., :, :k])
    if columns > k:
        completed = concat([completed, basis[..., :, k:columns]], axis=-1)
    return completed


def _augmented_svd(a, m, n):
    """(s, u, v) of float64 matrices a [..., m, n] from the eigenvectors of
    [[0, A], [A^T, 0]] (eigenvalues +-s): the vectors of nonzero singular
    values are right; those of zero ones are some vectors of the null
    spaces, not orthonormal ones."""
    k = min(m, n)
    batch_zero = zeros_like(a[..., :1, :1])
    top = concat([batch_zero + constant(np.zeros((m, m)), a.dtype), a], axis=-1)
    bottom = concat([_swap_last(a), batch_zero + constant(np.zeros((n, n)), a.dtype)],
                    axis=-1)
    values, vectors = eigh(concat([top, bottom], axis=-2))
    s = values[..., m + n - k:][..., ::-1]
    picked = vectors[..., :, m + n - k:][..., ::-1]
    return s, picked[..., :m, :] * np.sqrt(2.0), picked[..., m:, :] * np.sqrt(2.0)


def _default_rcond(dtype, m, n):
    """TensorFlow's cutoff for small singular values: 10 max(m, n) eps."""
    return 10.0 * max(m, n) * float(np.finfo(dtype.as_numpy_dtype).eps)


def pinv(a, rcond=None, validate_args=False, name=None):
    """The Moore-Penrose pseudo-inverse [..., n, m] of a [..., m, n]
    (tf.linalg.pinv): sum over the singular values above rcond times the
    largest of v_i u_i^T / s_i (rcond: 10 max(m, n) eps of a's type by
    default), so rank-deficient matrices have one too. Computed in float64
    for narrower types; differentiable where the rank does not change."""
    a, m, n = _matrices(a, "pinv")
    if not a.dtype.is_floating:
        raise TypeError(f"pinv: needs floating-point matrices, got {a.dtype.name}")
    original = a.dtype
    cutoff_ratio = _default_rcond(original, m, n) if rcond is None else float(rcond)
    s, u, v = _augmented_svd(a if a.dtype == float64 else cast(a, float64), m, n)
    keep = greater(s, s[..., :1] * cutoff_ratio)
    inverse = where(keep, 1.0 / where(keep, s, 1.0 + 0.0 * s), 0.0 * s)
    return cast(matmul(v * expand_dims(inverse, -2), _swap_last(u)), original)


def matrix_rank(a, tol=None, validate_args=False, name=None):
    """The number of singular values above tol (default: max(m, n) eps of
    a's type times the largest), as tf.linalg.matrix_rank; int32."""
    a, m, n = _matrices(a, "matrix_rank")
    if not a.dtype.is_floating:
        raise TypeError(f"matrix_rank: needs floating-point matrices, got {a.dtype.name}")
    s = svd(a, compute_uv=False)
    eps = float(np.finfo(a.dtype.as_numpy_dtype).eps)
    cutoff = s[..., :1] * (max(m, n) * eps) if tol is None else convert_to_tensor(tol, s.dtype)
    return reduce_sum(cast(greater(s, cutoff), int32), axis=-1)


# Higham's (2005) Pade coefficients b_0, b_1, ... (b_degree = 1 left out) of
# degrees 3, 5, 7, 9, 13,
# and the 1-norms up to which each is accurate in float64 (float32: degrees
# 3, 5, 7 only), as TensorFlow's matrix_exponential uses them.
_PADE = {
    3: (120.0, 60.0, 12.0),
    5: (30240.0, 15120.0, 3360.0, 420.0, 30.0),
    7: (17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0),
    9: (17643225600.0, 8821612800.0, 2075673600.0, 302702400.0, 30270240.0, 2162160.0,
        110880.0, 3960.0, 90.0),
    13: (64764752532480000.0, 32382376266240000.0, 7771770303897600.0,
         1187353796428800.0, 129060195264000.0, 10559470521600.0, 670442572800.0,
         33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0),
}
_PADE_LIMITS = {
    "float64": ((3, 1.495585217958292e-2), (5, 2.539398330063230e-1),
                (7, 9.504178996162932e-1), (9, 2.097847961257068), (13, 5.371920351148152)),
    "float32": ((3, 4.258730016922831e-1), (5, 1.880152677804762), (7, 3.925724783138660)),
}


def _pade(x, degree, identity):
    """(u, v): the odd and even parts of the degree-`degree` Pade
    approximant's numerator; exp(x) ~ (v - u)^-1 (v + u)."""
    b = _PADE[degree] + (1.0,)        # (b_degree = 1)
    x2 = matmul(x, x)
    if degree == 13:
        x4 = matmul(x2, x2)
        x6 = matmul(x4, x2)
        u = matmul(x, matmul(x6, x6 + b[11] * x4 + b[9] * x2) + b[7] * x6 + b[5] * x4 +
                   b[3] * x2 + b[1] * identity)
        v = matmul(x6, b[12] * x6 + b[10] * x4 + b[8] * x2) + b[6] * x6 + b[4] * x4 + \
            b[2] * x2 + b[0] * identity
        return u, v
    powers = [identity, x2]          # x^0, x^2, x^4, ...
    while len(powers) < (degree + 1) // 2:
        powers.append(matmul(powers[-1], x2))
    odd = sum(b[2 * i + 1] * p for i, p in enumerate(powers))
    even = sum(b[2 * i] * p for i, p in enumerate(powers))
    return matmul(x, odd), even


def expm(input, name=None):
    """The matrix exponential of (a batch of) square matrices
    (tf.linalg.expm): Higham's scaling and squaring, the Pade degree chosen
    per matrix from its 1-norm as TensorFlow does (3-13 in float64, 3-7 in
    float32 and narrower, computed in float32), the matrix halved s times
    for the largest degree, then squared s times (a loop)."""
    a, n = _square(input, "expm")
    if not a.dtype.is_floating:
        raise TypeError(f"expm: needs floating-point matrices, got {a.dtype.name}")
    original = a.dtype
    wide = a.dtype == float64
    if not wide and a.dtype != float32:
        a = cast(a, float32)
    limits = _PADE_LIMITS["float64" if wide else "float32"]
    identity = eye(n, dtype=a.dtype)
    norm1 = reduce_max(reduce_sum(abs(a), axis=-2), axis=-1)          # [...]
    top_degree, top_limit = limits[-1]
    squarings = _maximum(floor(log(norm1 / top_limit) / float(np.log(2.0))), 0.0)
    scale = expand_dims(expand_dims(_pow(2.0 * ones_like(squarings), -squarings), -1), -1)
    u, v = _pade(a * scale, top_degree, identity)
    # From the largest degree down: a matrix of small norm takes the
    # smallest degree accurate for it, unscaled.
    for degree, limit in reversed(limits[:-1]):
        small = expand_dims(expand_dims(less(norm1, limit), -1), -1)
        du, dv = _pade(a, degree, identity)
        u, v = where(small, du, u), where(small, dv, v)
    result = solve(v - u, v + u)
    most = reduce_max(squarings) if squarings.ndim else squarings

    def square(i, r):
        more = expand_dims(expand_dims(less(i, squarings), -1), -1)
        return i + 1.0, where(more, matmul(r, r), r)
    _, result = while_loop(lambda i, r: less(i, most), square,
                           [zeros_like(most), result])
    return cast(result, original)


__all__ = ["adjoint", "band_part", "cholesky", "cholesky_solve", "cross", "det", "diag",
           "diag_part", "eigh", "eigvalsh", "einsum", "expm", "eye", "global_norm", "inv",
           "l2_normalize", "logdet", "lstsq", "lu", "lu_matrix_inverse", "lu_reconstruct",
           "lu_solve", "matmul", "matrix_rank", "matrix_transpose",
           "matvec", "norm", "normalize", "pinv", "qr", "set_diag", "slogdet", "solve", "svd", "tensordot", "trace",
           "triangular_solve"]
