"""Edge cases whose behaviour is defined (issue 18, smaller findings): each
the same eagerly and compiled, against the documented rule written in
NumPy."""

import numpy as np
import pytest

import kiln


def _cast_rule(x, dtype):
    """kiln.cast from float to integer: truncation toward zero, NaN -> 0,
    beyond the type's range (infinities too) -> its minimum or maximum."""
    info = np.iinfo(dtype)
    out = np.zeros(x.shape, dtype)
    for i, v in np.ndenumerate(x.astype(np.float64)):
        if np.isnan(v):
            out[i] = 0
        elif v <= info.min:
            out[i] = info.min
        elif v >= info.max:
            out[i] = info.max
        else:
            out[i] = int(v)
    return out


@pytest.mark.parametrize("src", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("dst", [np.int32, np.int64])
def test_float_to_int_casts_are_defined_everywhere(src, dst):
    with np.errstate(over="ignore"):  # (float16 holds 1e30 as inf)
        x = np.array([np.nan, np.inf, -np.inf, 3.9, -3.9, 0.0, -0.0, 2.0 ** 31, -2.0 ** 31,
                      2.0 ** 31 - 256, -2.0 ** 31 - 512, 1e30, -1e30, 2.0 ** 63, -2.0 ** 63],
                     np.float64).astype(src)
    want = _cast_rule(x, dst)
    to = kiln.as_dtype(dst)
    np.testing.assert_array_equal(kiln.cast(kiln.constant(x), to).numpy(), want)
    compiled = kiln.function(lambda v: kiln.cast(v, to))
    np.testing.assert_array_equal(compiled(kiln.constant(x)).numpy(), want)
    # Folded at compile time (a constant inside the function): the same.
    folded = kiln.function(lambda: kiln.cast(kiln.constant(x), to))
    np.testing.assert_array_equal(folded().numpy(), want)


def test_float64_to_float16_rounds_once():
    """float64 to float16, eagerly and compiled, rounds once to nearest even,
    as NumPy: 1 + 2^-11 + 2^-40 is above the tie 1 + 2^-11 (rounded to f32
    first it would be the tie, then 1). The JIT once called libgcc's
    __truncdfhf2 for it, which it does not find inside Python."""
    x = np.array([1 + 2**-11 + 2**-40, 1 + 2**-11, 1 + 3 * 2**-11, 65519.99, 65520.0,
                  -2.0**-25 - 2.0**-40, np.nan, 1e300], np.float64)
    with np.errstate(over="ignore"):  # (65520 and 1e300 are inf in float16)
        want = x.astype(np.float16)
        twice = want * np.float16(2)
    assert want[0] == 1 + 2**-10 and want[1] == 1.0 and want[4] == np.inf
    np.testing.assert_array_equal(kiln.cast(kiln.constant(x), kiln.float16).numpy(), want)
    compiled = kiln.function(lambda v: kiln.cast(v, kiln.float16) * 2)
    np.testing.assert_array_equal(compiled(kiln.constant(x)).numpy(), twice)


def test_argmax_of_an_empty_axis_is_an_error():
    empty = kiln.constant(np.zeros((3, 0), np.float32))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="along an empty axis"):
        kiln.argmax(empty, axis=1)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="along an empty axis"):
        kiln.function(lambda v: kiln.argmin(v, axis=1))(empty)
    # Along a non-empty axis of an empty tensor there is nothing to choose.
    assert kiln.argmax(empty, axis=0).shape == (0,)


def test_reshape_errors_show_the_shape_as_written():
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"cannot reshape a tensor of 7 elements \(shape \[7\]\) to "
                             r"\[-1, 5\]"):
        kiln.reshape(kiln.ones([7]), (-1, 5))
    with pytest.raises(kiln.errors.InvalidArgumentError, match=r"to \[0, -1\]"):
        kiln.reshape(kiln.ones([4]), (0, -1))
    # (TensorFlow and NumPy: the -1 of an empty tensor cannot be inferred
    # when another given extent is 0.)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="cannot infer the -1"):
        kiln.reshape(kiln.ones([0, 3]), (0, -1))
    assert kiln.reshape(kiln.ones([0, 3]), (-1, 3)).shape == (0, 3)
    assert kiln.reshape(kiln.ones([6]), (-1, 3)).shape == (2, 3)


def test_zero_extent_concat_slice_and_pad():
    a = np.arange(3.0, dtype=np.float32)
    empty = np.zeros(0, np.float32)
    for f in (lambda x, e: kiln.concat([x, e], 0), lambda x, e: kiln.concat([e, x, e], 0)):
        np.testing.assert_array_equal(f(a, empty).numpy(), a)
        np.testing.assert_array_equal(kiln.function(f)(a, empty).numpy(), a)
    np.testing.assert_array_equal(kiln.constant(a)[3:].numpy(), a[3:])
    np.testing.assert_array_equal(kiln.function(lambda x: x[3:])(a).numpy(), a[3:])
    np.testing.assert_array_equal(kiln.pad(empty, [[2, 1]]).numpy(), np.zeros(3))
    # Gradients through them: the empty operand gets an empty gradient.
    x, e = kiln.constant(a), kiln.constant(empty)
    with kiln.GradientTape() as tape:
        tape.watch([x, e])
        y = kiln.reduce_sum(kiln.concat([x, e], 0) * 2.0) + kiln.reduce_sum(x[3:])
    gx, ge = tape.gradient(y, [x, e])
    np.testing.assert_array_equal(gx.numpy(), [2.0, 2.0, 2.0])
    assert ge.shape == (0,)


# -- Conventions at non-differentiable points (docs/autodiff.md) and layers
#    against NumPy: tests that a planted sign flip or swapped rule fails.

def _grads(f, *values):
    xs = [kiln.constant(np.asarray(v, np.float64)) for v in values]
    with kiln.GradientTape() as tape:
        for x in xs:
            tape.watch(x)
        y = kiln.reduce_sum(f(*xs) * kiln.constant(np.array([1.0, 2.0, 3.0])))
    return [g.numpy() for g in tape.gradient(y, xs)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", [(2, 0, 3), (0, 4, 3), (2, 3, 0), (1, 0, 1)])
def test_matmul_with_an_empty_extent(dtype, m, k, n):
    # Eager kernels open the leading extents (2x0 times 0x3 compiles as ?x0
    # times ?x3): with nothing to add up the product is zeros. It crashed
    # the CPU tiler (found by the random programs' eager mode).
    a, b = np.ones((m, k), dtype), np.ones((k, n), dtype)
    eager = kiln.matmul(kiln.constant(a), kiln.constant(b))
    traced = kiln.function(kiln.matmul)(kiln.constant(a), kiln.constant(b))
    for got in (eager, traced):
        assert got.dtype == kiln.as_dtype(dtype) and got.shape == (m, n)
        np.testing.assert_array_equal(got.numpy(), a @ b)


@pytest.mark.parametrize("dtype", [np.int32, np.float32])
def test_keepdims_reduction_of_an_empty_tensor(dtype):
    # Eager kernels open the leading extent (3x0x3 compiles as ?x0x3): the
    # kept extents come from the input, not from the element count (0),
    # which gave shape (0, 0, 1) (found by the random programs).
    x = kiln.constant(np.zeros((3, 0, 3), dtype))
    for reduce in (kiln.reduce_sum, kiln.reduce_max):
        got = reduce(x, axis=2, keepdims=True)
        assert got.shape == (3, 0, 1)
        assert got.numpy().shape == (3, 0, 1)
    assert kiln.reduce_sum(x, axis=[0, 2], keepdims=True).numpy().shape == (1, 0, 1)


def test_gradient_ties_follow_the_documented_rules():
    a, b = [1.0, 5.0, 2.0], [1.0, 4.0, 2.0]  # ties at positions 0 and 2
    ga, gb = _grads(kiln.maximum, a, b)
    np.testing.assert_array_equal(ga, [1.0, 2.0, 3.0])  # the left operand
    np.testing.assert_array_equal(gb, [0.0, 0.0, 0.0])
    ga, gb = _grads(kiln.minimum, a, b)
    np.testing.assert_array_equal(ga, [1.0, 0.0, 3.0])
    np.testing.assert_array_equal(gb, [0.0, 2.0, 0.0])
    (g,) = _grads(kiln.nn.relu, [0.0, -1.0, 2.0])
    np.testing.assert_array_equal(g, [0.0, 0.0, 3.0])  # 0 at 0
    (g,) = _grads(lambda x: kiln.reduce_max(x, axis=1, keepdims=True) * kiln.ones([1, 3], kiln.float64),
                  [[4.0, 4.0, 1.0]])
    np.testing.assert_array_equal(g, [[3.0, 3.0, 0.0]])  # split evenly: 6 / 2
    x = kiln.constant(np.array([[7.0, 7.0], [1.0, 7.0]]).reshape(1, 2, 2, 1))
    with kiln.GradientTape() as tape:
        tape.watch(x)
        y = kiln.reduce_sum(kiln.nn.max_pool2d(x, 2, 2, "VALID"))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy().ravel(), [1, 0, 0, 0])


def test_sign_and_abs_on_negative_inputs():
    x = np.array([-2.5, -0.0, 0.0, 3.0, -1e-30])
    np.testing.assert_array_equal(kiln.sign(x).numpy(), np.sign(x))
    np.testing.assert_array_equal(kiln.abs(x).numpy(), np.abs(x))
    (g,) = _grads(kiln.abs, [-2.0, 3.0, -1.0])
    np.testing.assert_array_equal(g, [-1.0, 2.0, -3.0])


def test_dense_and_conv_biases_and_rank3_inputs_against_numpy():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 4))
    dense = kiln.layers.Dense(3, dtype="float64", bias_initializer="ones")
    y = dense(kiln.constant(x)).numpy()
    k, b = dense.kernel.numpy(), dense.bias.numpy()
    np.testing.assert_allclose(y, x @ k + b, rtol=1e-12)  # rank 3: the last axis
    # One SGD step on the mean of the outputs: the bias moves by -lr * 1/3.
    opt = kiln.optimizers.SGD(0.5)
    with kiln.GradientTape() as tape:
        loss = kiln.reduce_mean(dense(kiln.constant(x)))
    grads = tape.gradient(loss, dense.trainable_variables)
    opt.apply_gradients(zip(grads, dense.trainable_variables))
    np.testing.assert_allclose(dense.bias.numpy(), b - 0.5 / 3, rtol=1e-12)
    np.testing.assert_allclose(dense.kernel.numpy(),
                               k - 0.5 * x.reshape(-1, 4).sum(0)[:, None] / 30 * np.ones((1, 3)),
                               rtol=1e-12)
    conv = kiln.layers.Conv2D(2, 1, dtype="float64", bias_initializer="ones")
    xi = rng.normal(size=(1, 3, 3, 2))
    yc = conv(kiln.constant(xi)).numpy()
    np.testing.assert_allclose(yc, xi @ conv.kernel.numpy()[0, 0] + conv.bias.numpy(),
                               rtol=1e-12)


def test_glorot_uniform_uses_the_full_limit():
    kiln.random.set_seed(11)
    w = kiln.initializers.GlorotUniform()((200, 300)).numpy()
    limit = np.sqrt(6.0 / (200 + 300))
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit  # (60,000 draws reach the edges)
    assert abs(w.std() - limit / np.sqrt(3)) < 0.01 * limit


def test_cast_gradients_cross_precisions():
    """The cast's cotangent is cast back (f64 -> f32 here): the gradient of
    sum(float64(x * x) * w) is 2 x w, in x's dtype; through an integer cast
    there is none."""
    x0 = np.array([0.5, -1.25, 3.0], np.float32)
    w = np.array([2.0, -1.0, 0.25])
    x = kiln.constant(x0)
    for run in (lambda f: f(), lambda f: kiln.function(f)()):
        def step():
            with kiln.GradientTape() as tape:
                tape.watch(x)
                y = kiln.reduce_sum(kiln.cast(x * x, kiln.float64) * kiln.constant(w))
            return tape.gradient(y, x)
        g = run(step)
        assert g.dtype == kiln.float32
        np.testing.assert_allclose(g.numpy(), (2 * x0 * w).astype(np.float32), rtol=1e-6)
    with kiln.GradientTape() as tape:
        tape.watch(x)
        y = kiln.reduce_sum(kiln.cast(kiln.cast(x, kiln.int32), kiln.float32))
    g = tape.gradient(y, x)
    assert g is None or not np.any(g.numpy())



def test_a_failed_run_time_check_leaves_every_variable_unchanged():
    """A compiled step whose index check fails after it assigned variables
    (and ran an optimizer update) raises, and every variable keeps the value
    it had before the call: no half-applied step."""
    w = kiln.Variable(np.array([1.0, 2.0, 3.0], np.float32))
    v = kiln.Variable(np.array([10.0, 20.0], np.float32))
    opt = kiln.optimizers.SGD(0.5)

    @kiln.function
    def step(i):
        w.assign_add(kiln.constant([1.0, 1.0, 1.0]))
        opt.apply_gradients([(kiln.constant([1.0, -1.0]), v)])
        return kiln.gather(w, i) * 2.0

    assert float(step(kiln.constant(1))) == 6.0
    np.testing.assert_array_equal(w.numpy(), [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(v.numpy(), [9.5, 20.5])
    iterations = int(opt.iterations.numpy())
    with pytest.raises(kiln.errors.InvalidArgumentError, match="out of range"):
        step(kiln.constant(7))
    np.testing.assert_array_equal(w.numpy(), [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(v.numpy(), [9.5, 20.5])
    assert int(opt.iterations.numpy()) == iterations
    # The next good call goes on from there.
    assert float(step(kiln.constant(0))) == 6.0
    np.testing.assert_array_equal(w.numpy(), [3.0, 4.0, 5.0])
