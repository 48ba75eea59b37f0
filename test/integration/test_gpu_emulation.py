"""The GPU's tiled matrix products (kiln-gpu-tile-contractions) checked on
the CPU: tensor-run --emulate-gpu-kernels builds each product as the
kernel's blocks and threads, run one after another on the host with the
kernel's own indices, shared tiles and per-thread accumulators; NumPy is the
oracle. Shapes cover whole and partial tiles in every dimension, transposed
operands (gradients), batches, open extents and integers. The kernels
themselves run on a GPU machine (scripts/gpu-check.sh)."""

import numpy as np
import pytest

from conftest import tensor_type

EMULATE = ["--emulate-gpu-kernels"]


def product(runner, a, b, transpose_a=False, transpose_b=False, open_rows=False,
            args=()):
    at = a.T if transpose_a else a
    bt = b.T if transpose_b else b
    m, k = at.shape
    n = bt.shape[1]
    out = tensor_type((m, n), a.dtype)
    ta, tb = tensor_type(a.shape, a.dtype), tensor_type(b.shape, b.dtype)
    if open_rows:
        ta = ta.replace(f"tensor<{a.shape[0]}x", "tensor<?x")
        out = out.replace(f"tensor<{m}x", "tensor<?x")
    x, y = "%a", "%b"
    body = ""
    if transpose_a:
        body += f"  %at = kiln.transpose %a {{permutation = array<i64: 1, 0>}} : {ta} -> {tensor_type(at.shape, a.dtype)}\n"
        x = "%at"
    if transpose_b:
        body += f"  %bt = kiln.transpose %b {{permutation = array<i64: 1, 0>}} : {tb} -> {tensor_type(bt.shape, b.dtype)}\n"
        y = "%bt"
    xt = tensor_type(at.shape, a.dtype) if transpose_a else ta
    yt = tensor_type(bt.shape, b.dtype) if transpose_b else tb
    mlir = (f"func.func @f(%a: {ta}, %b: {tb}) -> {out} {{\n{body}"
            f"  %c = kiln.matmul {x}, {y} : {xt}, {yt} -> {out}\n"
            f"  return %c : {out}\n}}\n")
    return runner.run(mlir, [a, b], args=EMULATE + list(args))[0]


@pytest.mark.parametrize("m,k,n", [# Sized for sm_90's 132 multiprocessors (the
                                   # wave model of kiln-gpu-tile-contractions):
                                   # small products, 16 x 16 tiles, one output per thread
                                   (1, 1, 1), (64, 16, 64), (100, 30, 70), (130, 33, 129),
                                   (7, 64, 3), (65, 17, 200),
                                   # 32 x 32 tiles, 2 x 2 per thread (partial tiles)
                                   (300, 20, 300),
                                   # 64 x 64 tiles, 4 x 4 per thread
                                   (600, 20, 600),
                                   # 2^22 outputs or more: 128 x 128 tiles, 8 x 8
                                   # per thread, K steps of 8 (two whole, one partial)
                                   (2050, 20, 2100)])
def test_tiled_matmul_shapes(runner, m, k, n):
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    got = product(runner, a, b)
    np.testing.assert_allclose(got, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("transpose_a,transpose_b", [(True, False), (False, True), (True, True)])
def test_tiled_matmul_transposed(runner, transpose_a, transpose_b):
    rng = np.random.default_rng(7)
    a = rng.standard_normal((37, 90) if transpose_a else (90, 37))
    b = rng.standard_normal((70, 37) if transpose_b else (37, 70))
    got = product(runner, a, b, transpose_a, transpose_b)
    want = (a.T if transpose_a else a) @ (b.T if transpose_b else b)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_tiled_matmul_open_rows_and_integers(runner):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((77, 20)).astype(np.float32)
    b = rng.standard_normal((20, 66)).astype(np.float32)
    got = product(runner, a, b, open_rows=True)
    np.testing.assert_allclose(got, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-5)
    ai = rng.integers(-50, 50, (33, 45)).astype(np.int32)
    bi = rng.integers(-50, 50, (45, 19)).astype(np.int32)
    np.testing.assert_array_equal(product(runner, ai, bi), ai @ bi)


def test_tiled_batch_matmul(runner):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((3, 70, 9))
    b = rng.standard_normal((3, 9, 65))
    t = [tensor_type(x.shape, x.dtype) for x in (a, b)] + [tensor_type((3, 70, 65), np.float64)]
    mlir = (f"func.func @f(%a: {t[0]}, %b: {t[1]}) -> {t[2]} {{\n"
            f"  %c = kiln.batch_matmul %a, %b : {t[0]}, {t[1]} -> {t[2]}\n"
            f"  return %c : {t[2]}\n}}\n")
    got = runner.run(mlir, [a, b], args=EMULATE)[0]
    np.testing.assert_allclose(got, a @ b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
@pytest.mark.parametrize("m,k,n", [# A filter gradient's shape: one 16 x 16 block
                                   # of outputs, its depth split (a partial
                                   # last chunk)
                                   (9, 43265, 16),
                                   # 9 x 2 blocks of 16 x 16, split
                                   (144, 20000, 20)])
def test_tiled_matmul_split_depth(runner, m, k, n, dtype):
    """Few output tiles over a long depth (x^T g of a convolution's
    patches): the depth is split over blocks into a workspace, a second
    kernel adds the parts to the output."""
    rng = np.random.default_rng(m + k + n)
    if dtype == np.int32:
        x = rng.integers(-3, 4, (k, m)).astype(dtype)
        g = rng.integers(-3, 4, (k, n)).astype(dtype)
    else:
        x = rng.standard_normal((k, m)).astype(dtype)
        g = rng.standard_normal((k, n)).astype(dtype)
    got = product(runner, x, g, transpose_a=True)
    want = x.T.astype(np.float64) @ g.astype(np.float64)
    if dtype == np.int32:
        np.testing.assert_array_equal(got, want.astype(np.int64))
    else:
        tol = 1e-4 if dtype == np.float32 else 1e-11
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.sqrt(k))


def test_tiled_matmul_gradients(runner):
    """A dense layer's gradients: x^T g and g W^T are products with a
    transposed operand."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((50, 21)).astype(np.float32)
    w = rng.standard_normal((21, 66)).astype(np.float32)
    g = rng.standard_normal((50, 66)).astype(np.float32)
    tx, tw, tg = (tensor_type(v.shape, v.dtype) for v in (x, w, g))
    mlir = f"""
func.func @f(%x: {tx}, %w: {tw}, %g: {tg}) -> tensor<f32> {{
  %y = kiln.matmul %x, %w : {tx}, {tw} -> {tg}
  %p = kiln.mul %y, %g : {tg}, {tg} -> {tg}
  %s = kiln.reduce_sum %p {{axes = array<i64: 0, 1>}} : {tg} -> tensor<f32>
  return %s : tensor<f32>
}}
func.func @g(%x: {tx}, %w: {tw}, %g: {tg}) -> ({tx}, {tw}) {{
  %dx, %dw = kiln.grad @f(%x, %w, %g) {{wrt = array<i64: 0, 1>}} : ({tx}, {tw}, {tg}) -> ({tx}, {tw})
  return %dx, %dw : {tx}, {tw}
}}
"""
    dx, dw = runner.run(mlir, [x, w, g], entry="g", args=EMULATE)
    np.testing.assert_allclose(dx, g.astype(np.float64) @ w.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, x.T.astype(np.float64) @ g, rtol=1e-4, atol=1e-4)


# Tensor cores (mma.sync on sm_80 and later): f16 and bf16 products, and
# f32 ones with TF32 allowed, accumulate in f32 over 16 x 8 tiles of a warp.
# The emulation takes every fragment element from the lane and register
# that PTX's layout assigns it.
TENSOR_CORE_SHAPES = [(1, 1, 1), (16, 16, 8), (64, 32, 64), (70, 40, 33), (130, 47, 129),
                      (9, 100, 300),
                      # 2^22 outputs: 128 x 128 tiles, 32 x 64 per warp
                      (2050, 20, 2100)]


def assert_f16_product(got, a, b, exact):
    """Summed in f32 and rounded to f16 once: within one f16 spacing of the
    exact product plus the f32 sum's own error (an f16 accumulator is off
    by many spacings)."""
    assert got.dtype == np.float16
    spacing = np.spacing(np.abs(exact).astype(np.float16)).astype(np.float64)
    k = a.shape[-1]
    f32_error = k * 2.0 ** -23 * np.matmul(np.abs(a).astype(np.float64),
                                           np.abs(b).astype(np.float64))
    excess = np.abs(got.astype(np.float64) - exact) - spacing - f32_error
    assert excess.max() <= 0, f"off by {excess.max()} at {np.unravel_index(excess.argmax(), excess.shape)}"


@pytest.mark.parametrize("m,k,n", TENSOR_CORE_SHAPES)
def test_tensor_core_f16(runner, m, k, n):
    rng = np.random.default_rng(m + 7 * k + 13 * n)
    a = rng.uniform(-1, 1, (m, k)).astype(np.float16)
    b = rng.uniform(-1, 1, (k, n)).astype(np.float16)
    got = product(runner, a, b)
    assert_f16_product(got, a, b, a.astype(np.float64) @ b.astype(np.float64))


@pytest.mark.parametrize("transpose_a,transpose_b", [(True, False), (False, True), (True, True)])
def test_tensor_core_f16_transposed(runner, transpose_a, transpose_b):
    rng = np.random.default_rng(17)
    a = rng.uniform(-1, 1, (37, 90) if transpose_a else (90, 37)).astype(np.float16)
    b = rng.uniform(-1, 1, (70, 37) if transpose_b else (37, 70)).astype(np.float16)
    got = product(runner, a, b, transpose_a, transpose_b)
    x, y = (a.T if transpose_a else a), (b.T if transpose_b else b)
    assert_f16_product(got, x, y, x.astype(np.float64) @ y.astype(np.float64))


def test_tensor_core_f16_batch(runner):
    rng = np.random.default_rng(19)
    a = rng.uniform(-1, 1, (3, 70, 9)).astype(np.float16)
    b = rng.uniform(-1, 1, (3, 9, 65)).astype(np.float16)
    t = [tensor_type(x.shape, x.dtype) for x in (a, b)] + [tensor_type((3, 70, 65), np.float16)]
    mlir = (f"func.func @f(%a: {t[0]}, %b: {t[1]}) -> {t[2]} {{\n"
            f"  %c = kiln.batch_matmul %a, %b : {t[0]}, {t[1]} -> {t[2]}\n"
            f"  return %c : {t[2]}\n}}\n")
    got = runner.run(mlir, [a, b], args=EMULATE)[0]
    assert_f16_product(got, a, b, np.matmul(a.astype(np.float64), b.astype(np.float64)))


def bf16(x):
    """x (f32) rounded to bfloat16 (to nearest even), as f32."""
    bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.astype(np.uint32).view(np.float32)


def bf16_product(runner, a, b, args):
    """a @ b (f32) with both operands cast to bfloat16, which has no NumPy
    type, and the bfloat16 product cast back to f32."""
    (m, k), n = a.shape, b.shape[1]
    ta, tb, tc = (tensor_type(s, np.float32) for s in ((m, k), (k, n), (m, n)))
    ha, hb, hc = (t.replace("f32>", "bf16>") for t in (ta, tb, tc))
    mlir = f"""func.func @f(%a: {ta}, %b: {tb}) -> {tc} {{
  %x = kiln.cast %a : {ta} -> {ha}
  %y = kiln.cast %b : {tb} -> {hb}
  %p = kiln.matmul %x, %y : {ha}, {hb} -> {hc}
  %r = kiln.cast %p : {hc} -> {tc}
  return %r : {tc}
}}
"""
    return runner.run(mlir, [a, b], args=args)[0]


@pytest.mark.parametrize("m,k,n", [(16, 16, 8), (70, 40, 33), (130, 47, 129)])
def test_tensor_core_bf16(runner, m, k, n):
    """bfloat16 has no NumPy type: f32 in and out, cast around the product."""
    rng = np.random.default_rng(m * k + n)
    a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    got = bf16_product(runner, a, b, EMULATE)
    exact = bf16(a).astype(np.float64) @ bf16(b).astype(np.float64)
    # One bf16 rounding of an f32 sum: half a bf16 spacing (2^-8 relative).
    np.testing.assert_allclose(got, exact, rtol=2.0 ** -8, atol=1e-6)


# Without tensor cores (before sm_80, or --tensor-cores=false) f16 and bf16
# products take the FMA kernel, which sums them in f32 as well: operands
# extended from the shared tiles, f32 accumulators and split-K partial
# sums, one rounding per output.
NO_TENSOR_CORES = ["--tensor-cores=false"]
FMA_HALF_SHAPES = [(70, 40, 33),     # 16 x 16 tiles, one output per thread
                   (300, 20, 300),   # 32 x 32 tiles, 2 x 2 per thread
                   (600, 37, 600),   # 64 x 64 tiles, vector loads of four
                   (9, 4000, 16)]    # split K: f32 partial sums


@pytest.mark.parametrize("m,k,n", FMA_HALF_SHAPES)
def test_fma_tiles_f16_sum_in_f32(runner, m, k, n):
    rng = np.random.default_rng(m + 3 * k + 5 * n)
    a = rng.uniform(-1, 1, (m, k)).astype(np.float16)
    b = rng.uniform(-1, 1, (k, n)).astype(np.float16)
    got = product(runner, a, b, args=NO_TENSOR_CORES)
    assert_f16_product(got, a, b, a.astype(np.float64) @ b.astype(np.float64))


def test_fma_tiles_f16_deep_batch(runner):
    """3000 products of ones per output, a batch (never split): exactly
    3000 (an f16 accumulator stops at 2048, where 1 is half its spacing)."""
    a = np.ones((2, 20, 3000), np.float16)
    b = np.ones((2, 3000, 24), np.float16)
    t = [tensor_type(x.shape, x.dtype) for x in (a, b)] + [tensor_type((2, 20, 24), np.float16)]
    mlir = (f"func.func @f(%a: {t[0]}, %b: {t[1]}) -> {t[2]} {{\n"
            f"  %c = kiln.batch_matmul %a, %b : {t[0]}, {t[1]} -> {t[2]}\n"
            f"  return %c : {t[2]}\n}}\n")
    got = runner.run(mlir, [a, b], args=EMULATE + NO_TENSOR_CORES)[0]
    np.testing.assert_array_equal(got, np.full((2, 20, 24), 3000, np.float16))


@pytest.mark.parametrize("m,k,n", [(600, 37, 600), (9, 4000, 16)])
def test_fma_tiles_bf16_sum_in_f32(runner, m, k, n):
    rng = np.random.default_rng(m * k + n)
    a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    got = bf16_product(runner, a, b, EMULATE + NO_TENSOR_CORES)
    exact = bf16(a).astype(np.float64) @ bf16(b).astype(np.float64)
    # One bf16 rounding of an f32 sum (a bf16 sum of 4000 terms is off by
    # many spacings).
    f32_error = k * 2.0 ** -23 * (np.abs(a).astype(np.float64) @ np.abs(b))
    excess = np.abs(got - exact) - 2.0 ** -8 * np.abs(exact) - f32_error
    assert excess.max() <= 0, f"off by {excess.max()}"


@pytest.mark.parametrize("m,k,n", [(16, 8, 8), (70, 40, 33), (130, 47, 129)])
def test_tensor_core_tf32(runner, m, k, n):
    """With --allow-tf32 f32 operands are rounded to TF32 (10 mantissa
    bits) and their exact products summed in f32; without it f32 products
    stay exact to f32 (the FMA kernel)."""
    rng = np.random.default_rng(m + k + n)
    a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (k, n)).astype(np.float32)

    def tf32(x):  # round to nearest, ties away from zero
        bits = x.view(np.uint32).astype(np.uint64)
        return ((bits + 0x1000) & 0xFFFFE000).astype(np.uint32).view(np.float32)

    got = product(runner, a, b, args=["--allow-tf32"])
    want = tf32(a).astype(np.float64) @ tf32(b).astype(np.float64)
    bound = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * bound.max())
    exact = a.astype(np.float64) @ b.astype(np.float64)
    if k > 1:
        assert np.abs(got - exact).max() > 1e-5  # the operands were rounded
    np.testing.assert_allclose(product(runner, a, b), exact, rtol=1e-5, atol=1e-5)


def reduce_module(op, shape, axes, dtype, out_shape):
    tin, tout = tensor_type(shape, dtype), tensor_type(out_shape, dtype)
    axes_text = ", ".join(str(a) for a in axes)
    return (f"func.func @f(%x: {tin}) -> {tout} {{\n"
            f"  %r = kiln.{op} %x {{axes = array<i64: {axes_text}>}} : {tin} -> {tout}\n"
            f"  return %r : {tout}\n}}\n")


@pytest.mark.parametrize("op,numpy_op", [("reduce_sum", np.sum), ("reduce_max", np.max),
                                         ("reduce_mean", np.mean), ("reduce_min", np.min)])
@pytest.mark.parametrize("shape,axes", [((100, 300), (1,)), ((5, 7, 40), (2,)),
                                        ((4, 9, 33), (1, 2)), ((3, 1000), (1,))])
def test_warp_row_reductions(runner, op, numpy_op, shape, axes):
    """Reductions over the innermost axes (a warp per output on the GPU):
    rows longer and shorter than a warp's 32 lanes, not multiples of 32,
    over two axes."""
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    x = rng.standard_normal(shape).astype(np.float32)
    out_shape = tuple(d for i, d in enumerate(shape) if i not in axes)
    got = runner.run(reduce_module(op, shape, axes, np.float32, out_shape), [x],
                     args=EMULATE)[0]
    np.testing.assert_allclose(got, numpy_op(x.astype(np.float64), axis=axes), rtol=1e-5,
                               atol=1e-5)


def test_warp_row_reductions_f64_and_integers(runner):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((20, 77))
    got = runner.run(reduce_module("reduce_sum", x.shape, (1,), np.float64, (20,)), [x],
                     args=EMULATE)[0]
    np.testing.assert_allclose(got, x.sum(1), rtol=1e-12)
    xi = rng.integers(-1000, 1000, (13, 65)).astype(np.int32)
    got = runner.run(reduce_module("reduce_max", xi.shape, (1,), np.int32, (13,)), [xi],
                     args=EMULATE)[0]
    np.testing.assert_array_equal(got, xi.max(1))


@pytest.mark.parametrize("op,numpy_op", [("reduce_sum", np.sum), ("reduce_max", np.max),
                                         ("reduce_mean", np.mean)])
@pytest.mark.parametrize("shape,axes", [
    ((256, 128), (0,)),           # a bias gradient: one split, 4 groups of 32
    ((300, 100), (0,)),           # two splits, a partial group of outputs
    ((64, 24, 24, 16), (0, 1, 2)),  # a conv bias gradient: 64 splits, 16 outputs
    ((33, 5, 7), (0,)),           # 35 outputs, a reduction of 33 (not a multiple of 8)
    ((6, 700, 3), (0, 1)),        # 3 outputs, 4200 rows: 17 splits
])
def test_column_reductions(runner, op, numpy_op, shape, axes):
    """Reductions over outer axes (blocks of 32 outputs x 8 slices on the
    GPU, split over blocks and combined by a second kernel when long):
    one and several splits, partial groups, reductions not a multiple of
    the slices, over three axes."""
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    out_shape = tuple(d for i, d in enumerate(shape) if i not in axes)
    got = runner.run(reduce_module(op, shape, axes, np.float32, out_shape), [x],
                     args=EMULATE)[0]
    want = numpy_op(x.astype(np.float64), axis=axes)
    scale = np.abs(x.astype(np.float64)).sum(axis=axes) / (1 if op == "reduce_sum" else
                                                          np.prod([shape[a] for a in axes]))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * scale.max() + 1e-7)


def test_column_reductions_f64_integers_and_open_extents(runner):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((5000, 40))
    got = runner.run(reduce_module("reduce_sum", x.shape, (0,), np.float64, (40,)), [x],
                     args=EMULATE)[0]
    np.testing.assert_allclose(got, x.sum(0), rtol=1e-12, atol=1e-12)
    xi = rng.integers(-1000, 1000, (1000, 70)).astype(np.int32)
    got = runner.run(reduce_module("reduce_min", xi.shape, (0,), np.int32, (70,)), [xi],
                     args=EMULATE)[0]
    np.testing.assert_array_equal(got, xi.min(0))
    # An open batch: the splits are computed when the code runs.
    x = rng.standard_normal((3000, 50)).astype(np.float32)
    mlir = reduce_module("reduce_sum", x.shape, (0,), np.float32, (50,)).replace(
        "tensor<3000x50xf32>", "tensor<?x50xf32>")
    got = runner.run(mlir, [x], args=EMULATE)[0]
    np.testing.assert_allclose(got, x.astype(np.float64).sum(0), rtol=0,
                               atol=1e-6 * np.abs(x).sum(0).max())
    # No outputs at run time: still a grid of one group, nothing written.
    mlir = reduce_module("reduce_sum", (3000, 5), (0,), np.float32, (5,)).replace(
        "tensor<3000x5xf32>", "tensor<3000x?xf32>").replace("tensor<5xf32>", "tensor<?xf32>")
    got = runner.run(mlir, [np.zeros((3000, 0), np.float32)], args=EMULATE)[0]
    assert got.shape == (0,)


def test_warp_softmax_and_cross_entropy(runner):
    """A softmax and a sparse cross-entropy with its gradient: row maxima and
    row sums of exponentials, as a training step computes them."""
    rng = np.random.default_rng(4)
    logits = (rng.standard_normal((64, 100)) * 3).astype(np.float32)
    labels = rng.integers(0, 100, 64).astype(np.int32)
    t, tl, tv = tensor_type(logits.shape, np.float32), tensor_type((64,), np.int32), \
        tensor_type((64,), np.float32)
    mlir = f"""
func.func @softmax(%x: {t}) -> {t} {{
  %s = kiln.softmax %x {{axis = 1 : i64}} : {t} -> {t}
  return %s : {t}
}}
func.func @loss(%x: {t}, %y: {tl}) -> tensor<f32> {{
  %l = kiln.sparse_softmax_cross_entropy %x, %y : {t}, {tl} -> {tv}
  %m = kiln.reduce_mean %l {{axes = array<i64: 0>}} : {tv} -> tensor<f32>
  return %m : tensor<f32>
}}
func.func @grad(%x: {t}, %y: {tl}) -> {t} {{
  %g = kiln.grad @loss(%x, %y) {{wrt = array<i64: 0>}} : ({t}, {tl}) -> {t}
  return %g : {t}
}}
"""
    x64 = logits.astype(np.float64)
    e = np.exp(x64 - x64.max(1, keepdims=True))
    p = e / e.sum(1, keepdims=True)
    got = runner.run(mlir, [logits], entry="softmax", args=EMULATE)[0]
    np.testing.assert_allclose(got, p, rtol=1e-5, atol=1e-6)
    loss = runner.run(mlir, [logits, labels], entry="loss", args=EMULATE)[0]
    np.testing.assert_allclose(loss, -np.log(p[np.arange(64), labels]).mean(), rtol=1e-5)
    grad = runner.run(mlir, [logits, labels], entry="grad", args=EMULATE)[0]
    onehot = np.eye(100)[labels]
    np.testing.assert_allclose(grad, (p - onehot) / 64, rtol=1e-4, atol=1e-6)


# Row kernels (kiln-gpu-row-kernels): a softmax, a log-softmax, a
# normalization, a softmax's gradient -- runs of per-row reductions and
# elementwise ops -- as one kernel, a warp per row (a thread per row for rows
# shorter than a warp); per-row values stay in registers between the ops.
@pytest.mark.parametrize("shape,axis", [((64, 100), 1), ((7, 10), 1), ((3, 4, 33), 2),
                                        ((2, 5, 1000), 2), ((300, 31), 1)])
def test_row_kernel_softmax_family(runner, shape, axis):
    rng = np.random.default_rng(shape[-1] + len(shape))
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    t = tensor_type(shape, np.float32)
    mlir = f"""
func.func @softmax(%x: {t}) -> {t} {{
  %s = kiln.softmax %x {{axis = {axis} : i64}} : {t} -> {t}
  return %s : {t}
}}
func.func @log_softmax(%x: {t}) -> {t} {{
  %s = kiln.log_softmax %x {{axis = {axis} : i64}} : {t} -> {t}
  return %s : {t}
}}
func.func @sum_of_squares(%x: {t}) -> {t} {{
  %s = kiln.softmax %x {{axis = {axis} : i64}} : {t} -> {t}
  %q = kiln.mul %s, %s : {t}, {t} -> {t}
  %r = kiln.reduce_sum %q {{axes = array<i64: {axis}>}} : {t} -> {tensor_type(shape[:-1], np.float32)}
  %f = kiln.reshape %r : {tensor_type(shape[:-1], np.float32)} -> {tensor_type(shape[:-1] + (1,), np.float32)}
  %b = kiln.broadcast_to %f : {tensor_type(shape[:-1] + (1,), np.float32)} -> {t}
  %d = kiln.div %q, %b : {t}, {t} -> {t}
  return %d : {t}
}}
"""
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis, keepdims=True))
    p = e / e.sum(axis, keepdims=True)
    got = runner.run(mlir, [x], entry="softmax", args=EMULATE)[0]
    np.testing.assert_allclose(got, p, rtol=1e-5, atol=1e-7)
    got = runner.run(mlir, [x], entry="log_softmax", args=EMULATE)[0]
    np.testing.assert_allclose(got, np.log(p), rtol=1e-5, atol=1e-5)
    got = runner.run(mlir, [x], entry="sum_of_squares", args=EMULATE)[0]
    np.testing.assert_allclose(got, p * p / (p * p).sum(axis, keepdims=True), rtol=1e-5,
                               atol=1e-7)


@pytest.mark.parametrize("shape", [(16, 300), (5, 20), (4, 3, 64)])
def test_row_kernel_normalization_and_softmax_gradient(runner, shape):
    """A layer normalization over the last axis (mean, variance, scaled
    differences) and the gradient of a weighted softmax, against NumPy."""
    rng = np.random.default_rng(len(shape) * 7 + shape[-1])
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal(shape).astype(np.float32)
    t = tensor_type(shape, np.float32)
    rows = tensor_type(shape[:-1], np.float32)
    kept = tensor_type(shape[:-1] + (1,), np.float32)
    last = len(shape) - 1
    mlir = f"""
func.func @norm(%x: {t}) -> {t} {{
  %m = kiln.reduce_mean %x {{axes = array<i64: {last}>}} : {t} -> {rows}
  %mk = kiln.reshape %m : {rows} -> {kept}
  %mb = kiln.broadcast_to %mk : {kept} -> {t}
  %d = kiln.sub %x, %mb : {t}, {t} -> {t}
  %d2 = kiln.mul %d, %d : {t}, {t} -> {t}
  %v = kiln.reduce_mean %d2 {{axes = array<i64: {last}>}} : {t} -> {rows}
  %vk = kiln.reshape %v : {rows} -> {kept}
  %vb = kiln.broadcast_to %vk : {kept} -> {t}
  %eps = kiln.constant dense<1.0e-5> : tensor<f32>
  %ve = kiln.add %vb, %eps : {t}, tensor<f32> -> {t}
  %r = kiln.rsqrt %ve : {t}
  %y = kiln.mul %d, %r : {t}, {t} -> {t}
  return %y : {t}
}}
func.func @loss(%x: {t}, %w: {t}) -> tensor<f32> {{
  %s = kiln.softmax %x {{axis = {last} : i64}} : {t} -> {t}
  %p = kiln.mul %s, %w : {t}, {t} -> {t}
  %l = kiln.reduce_sum %p {{axes = array<i64: {", ".join(str(a) for a in range(len(shape)))}>}} : {t} -> tensor<f32>
  return %l : tensor<f32>
}}
func.func @grad(%x: {t}, %w: {t}) -> {t} {{
  %g = kiln.grad @loss(%x, %w) {{wrt = array<i64: 0>}} : ({t}, {t}) -> {t}
  return %g : {t}
}}
"""
    x64 = x.astype(np.float64)
    d = x64 - x64.mean(-1, keepdims=True)
    want = d / np.sqrt((d * d).mean(-1, keepdims=True) + 1e-5)
    got = runner.run(mlir, [x], entry="norm", args=EMULATE)[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    e = np.exp(x64 - x64.max(-1, keepdims=True))
    p = e / e.sum(-1, keepdims=True)
    w64 = w.astype(np.float64)
    # d/dx sum(softmax(x) * w) = p * (w - sum(p * w)) along the row
    want = p * (w64 - (p * w64).sum(-1, keepdims=True))
    got = runner.run(mlir, [x, w], entry="grad", args=EMULATE)[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("op,numpy_op,shape,dtype", [
    ("reduce_sum", np.sum, (100000,), np.float32),
    ("reduce_max", np.max, (3, 50001), np.float32),
    ("reduce_mean", np.mean, (129, 130), np.float64),
    ("reduce_sum", np.sum, (20000,), np.int64),
    ("reduce_min", np.min, (5000000,), np.float32),  # the most blocks (1024)
])
def test_grid_reductions_to_a_scalar(runner, op, numpy_op, shape, dtype):
    """Whole tensors of 16384 elements or more to a scalar: a grid of blocks
    of warps writing partial results, then one warp combining them."""
    rng = np.random.default_rng(sum(shape))
    if np.dtype(dtype).kind == "i":
        x = rng.integers(-10**6, 10**6, shape).astype(dtype)
    else:
        x = rng.standard_normal(shape).astype(dtype)
    axes = tuple(range(len(shape)))
    got = runner.run(reduce_module(op, shape, axes, dtype, ()), [x], args=EMULATE)[0]
    want = numpy_op(x.astype(np.float64) if x.dtype.kind == "f" else x)
    if x.dtype.kind == "i":
        assert got == want
    else:
        # A sum in another order: within rounding of the sum of magnitudes.
        scale = np.abs(x.astype(np.float64)).sum() / x.size if op != "reduce_sum" else \
            np.abs(x.astype(np.float64)).sum()
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * scale + 1e-12)


@pytest.mark.parametrize("shape,indices", [((1, 1), [0]), ((6, 5), [4, 0, 0, 3, 1])])
def test_gather_of_a_product_stays_its_own_kernel(runner, shape, indices):
    """A gather from the output of the loop before it, over the same points:
    kiln-gpu-fuse-adjacent once made them one loop, so the gather read its
    table before the first loop had written it (found by the program
    fuzzer: a pointer-like garbage value)."""
    x = np.arange(np.prod(shape), dtype=np.int64).reshape(shape) - 7
    t, ti = tensor_type(shape, np.int64), tensor_type((len(indices),), np.int64)
    mlir = f"""func.func @f(%x: {t}, %i: {ti}) -> {t} {{
  %p = kiln.mul %x, %x : {t}, {t} -> {t}
  %g = kiln.gather %p, %i {{axis = 1 : i64}} : {t}, {ti} -> {t}
  return %g : {t}
}}
"""
    got = runner.run(mlir, [x, np.array(indices, np.int64)], args=EMULATE)[0]
    np.testing.assert_array_equal(got, (x * x)[:, indices])


def test_momentum_step_through_a_pooled_maximum(runner):
    """The other program the fuzzer reduced for the same fusion bug: a
    training step whose loss is max(avg_pool(w), mean(avg_pool(w))) over one
    element; emulated, the weight never moved. Its gradient is 1 (the tie
    goes to the first operand), so momentum 0.8 with rate 0.1 moves w by
    0.1, 0.18 and 0.244 in three calls; the third returns the loss before
    its update."""
    w0 = -1.38238420301831022
    mlir = f"""kiln.variable @w : tensor<1x1x1xf64> = dense<[[[{w0!r}]]]>
func.func private @loss() -> tensor<f64> {{
  %v0 = kiln.read_variable @w : tensor<1x1x1xf64>
  %v1 = kiln.reshape %v0 : tensor<1x1x1xf64> -> tensor<1x1x1x1xf64>
  %v2 = kiln.avg_pool2d %v1 {{window = array<i64: 1, 1>, strides = array<i64: 2, 2>, padding = #kiln.padding<VALID>}} : tensor<1x1x1x1xf64> -> tensor<1x1x1x1xf64>
  %v3 = kiln.reduce_mean %v2 {{axes = array<i64: 0>, keepdims = true}} : tensor<1x1x1x1xf64> -> tensor<1x1x1x1xf64>
  %v4 = kiln.maximum %v2, %v3 : tensor<1x1x1x1xf64>, tensor<1x1x1x1xf64> -> tensor<1x1x1x1xf64>
  %loss = kiln.reduce_sum %v4 {{axes = array<i64: 0, 1, 2, 3>}} : tensor<1x1x1x1xf64> -> tensor<f64>
  return %loss : tensor<f64>
}}
func.func @step() -> (tensor<f64>, tensor<1x1x1xf64>) {{
  %l, %g = kiln.value_and_grad @loss() {{wrt_variables = [@w]}} : () -> (tensor<f64>, tensor<1x1x1xf64>)
  %lr = kiln.constant dense<0.1> : tensor<f64>
  kiln.apply_momentum @w, %g, %lr {{momentum = 0.8 : f64}} : tensor<1x1x1xf64>, tensor<f64>
  %w1 = kiln.read_variable @w : tensor<1x1x1xf64>
  return %l, %w1 : tensor<f64>, tensor<1x1x1xf64>
}}
"""
    loss, w = runner.run(mlir, [], entry="step", args=EMULATE + ["--repeat", "3"])
    np.testing.assert_allclose(loss, w0 - 0.1 - 0.18, rtol=1e-14)
    np.testing.assert_allclose(w.reshape(()), w0 - 0.1 - 0.18 - 0.244, rtol=1e-14)
