"""Smaller TensorFlow top-level functions: space_to_batch_nd /
batch_to_space (TensorFlow's documented examples and an element-by-element
oracle), histogram_fixed_width_bins, grad_pass_through, the initializer
aliases, executing_eagerly / inside_function, control_dependencies,
timestamp."""

import time

import numpy as np
import pytest

import kiln

RNG = np.random.default_rng(43)


def _space_to_batch_numpy(x, block, paddings):
    """out[(offset, b), j...] = padded[b, j_i * block_i + offset_i ...],
    the offset row-major over the block, element by element."""
    padded = np.pad(x, [[0, 0]] + [list(p) for p in paddings] +
                    [[0, 0]] * (x.ndim - 1 - len(block)))
    batch = x.shape[0]
    sizes = [s // b for s, b in zip(padded.shape[1:1 + len(block)], block)]
    out = np.zeros([batch * int(np.prod(block))] + sizes + list(x.shape[1 + len(block):]),
                   x.dtype)
    for o, offset in enumerate(np.ndindex(*block)):
        for b in range(batch):
            for j in np.ndindex(*sizes):
                src = tuple(ji * bi + oi for ji, bi, oi in zip(j, block, offset))
                out[(o * batch + b,) + j] = padded[(b,) + src]
    return out


def test_space_to_batch_documented_examples():
    # tf.space_to_batch_nd's docstring examples (1) and (4).
    x = np.array([[[[1], [2]], [[3], [4]]]])
    np.testing.assert_array_equal(kiln.space_to_batch_nd(x, [2, 2], [[0, 0], [0, 0]]).numpy(),
                                  [[[[1]]], [[[2]]], [[[3]]], [[[4]]]])
    x = np.arange(1, 17).reshape(2, 2, 4, 1)
    got = kiln.space_to_batch_nd(x, [2, 2], [[0, 0], [2, 0]]).numpy()
    want = [[[[0], [1], [3]]], [[[0], [9], [11]]], [[[0], [2], [4]]], [[[0], [10], [12]]],
            [[[0], [5], [7]]], [[[0], [13], [15]]], [[[0], [6], [8]]], [[[0], [14], [16]]]]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(kiln.batch_to_space(got, [2, 2], [[0, 0], [2, 0]]).numpy(), x)


@pytest.mark.parametrize("block,paddings", [([2, 3], [[1, 1], [0, 1]]), ([3], [[2, 1]]),
                                            ([1, 2], [[0, 0], [1, 0]])])
def test_space_to_batch_round_trip(block, paddings):
    x = RNG.normal(size=(2, 4, 5, 3)) if len(block) == 2 else RNG.normal(size=(2, 6, 3))
    got = kiln.space_to_batch_nd(x, block, paddings)
    np.testing.assert_array_equal(got.numpy(), _space_to_batch_numpy(x, block, paddings))
    np.testing.assert_array_equal(kiln.batch_to_space(got, block, paddings).numpy(), x)
    compiled = kiln.function(lambda a: kiln.space_to_batch(a, block, paddings))
    np.testing.assert_array_equal(compiled(x).numpy(), got.numpy())
    with pytest.raises(kiln.errors.InvalidArgumentError, match="not multiples of"):
        kiln.space_to_batch_nd(x, [4] * len(block), [[0, 1]] * len(block))
    # The atrous pattern with an open batch: there and back again, compiled.
    spec = kiln.TensorSpec([None] + list(x.shape[1:]), kiln.float64)
    there_and_back = kiln.function(
        lambda a: kiln.batch_to_space(kiln.space_to_batch_nd(a, block, paddings), block,
                                      paddings), input_signature=[spec])
    np.testing.assert_array_equal(there_and_back(x).numpy(), x)


def test_histogram_bins_and_pass_through():
    v = np.array([-1.0, 0.0, 1.5, 2.0, 5.0, 4.99, 7.0], np.float32)
    bins = kiln.histogram_fixed_width_bins(v, [0.0, 5.0], nbins=5)
    np.testing.assert_array_equal(bins.numpy(), [0, 0, 1, 2, 4, 4, 4])
    # Integers above 2^24 are binned exactly (in float64, not float32).
    big = kiln.histogram_fixed_width_bins(kiln.constant([16777217], kiln.int64),
                                          [16777216, 16777218], nbins=2)
    assert big.numpy().tolist() == [1]
    assert bins.dtype == kiln.int32
    # tf.histogram_fixed_width counts what the bins index.
    np.testing.assert_array_equal(kiln.histogram_fixed_width(v, [0.0, 5.0], 5).numpy(),
                                  np.bincount(bins.numpy(), minlength=5))
    # The straight-through estimator: round in the forward pass, the
    # identity's gradient backwards; the value is exactly f(x).
    x = kiln.constant([0.2, 1.7, -2.6, 1e8])
    with kiln.GradientTape() as tape:
        tape.watch(x)
        y = kiln.grad_pass_through(kiln.round)(x)
        loss = kiln.reduce_sum(y * kiln.constant([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(y.numpy(), np.round([0.2, 1.7, -2.6, 1e8]).astype(np.float32))
    np.testing.assert_array_equal(tape.gradient(loss, x).numpy(), [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="grad_pass_through"):
        kiln.grad_pass_through(lambda t: t[:2])(x)


def test_initializer_aliases_and_context():
    np.testing.assert_array_equal(kiln.constant_initializer([1, 2, 3, 4])([2, 2]).numpy(),
                                  [[1, 2], [3, 4]])
    np.testing.assert_array_equal(kiln.constant_initializer(7)([3], kiln.int32).numpy(), [7] * 3)
    assert float(kiln.reduce_sum(kiln.ones_initializer()([2, 3]))) == 6.0
    assert float(kiln.reduce_sum(kiln.zeros_initializer()([2, 3]))) == 0.0
    u = kiln.random_uniform_initializer(-1.0, 1.0, seed=3)([1000]).numpy()
    assert -1 <= u.min() and u.max() <= 1 and abs(u.mean()) < 0.1
    n = kiln.random_normal_initializer(2.0, 0.5, seed=3)([4000]).numpy()
    assert abs(n.mean() - 2.0) < 0.05 and abs(n.std() - 0.5) < 0.05
    seen = []

    @kiln.function
    def f(a):
        seen.append((kiln.executing_eagerly(), kiln.inside_function()))
        with kiln.control_dependencies([a]):
            return a + 1.0
    assert kiln.executing_eagerly() and not kiln.inside_function()
    assert float(f(kiln.constant(1.0))) == 2.0 and seen == [(False, True)]
    before = time.time()
    stamp = float(kiln.timestamp())
    assert before - 1 <= stamp <= time.time() + 1
    with pytest.raises(kiln.errors.UnimplementedError, match="cannot read the clock"):
        kiln.function(lambda: kiln.timestamp())()
    assert kiln.parallel_stack([kiln.constant([1, 2]), kiln.constant([3, 4])]).shape == (2, 2)


def test_custom_gradient_returning_an_input():
    # A custom gradient whose function returns one of its arguments as it
    # is (the tape once confused the two tensors).
    @kiln.custom_gradient
    def through(x, y):
        return y, lambda dy: (dy * 2.0, None)

    x = kiln.constant([0.5, 1.5])
    with kiln.GradientTape() as tape:
        tape.watch(x)
        loss = kiln.reduce_sum(through(x, kiln.square(x)) * 3.0)
    np.testing.assert_array_equal(tape.gradient(loss, x).numpy(), [6.0, 6.0])


def test_bitcast_against_numpy_views():
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_array_equal(kiln.bitcast(x, kiln.int32).numpy(), x.view(np.int32))
    d = RNG.normal(size=(5,))
    pieces = kiln.bitcast(d, kiln.int32)
    assert pieces.shape == (5, 2)
    np.testing.assert_array_equal(pieces.numpy(), d.view(np.int32).reshape(5, 2))
    np.testing.assert_array_equal(kiln.bitcast(pieces, kiln.float64).numpy(), d)
    # A float's exponent field with the bitwise ops, compiled.
    exponent = kiln.function(lambda t: (kiln.bitcast(t, kiln.int32) >> 23) & 0xFF)
    np.testing.assert_array_equal(exponent(x).numpy(), (x.view(np.int32) >> 23) & 0xFF)
    with pytest.raises(TypeError, match="no bit layout"):
        kiln.bitcast(kiln.constant([True]), kiln.int32)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="joins a last dimension of 2"):
        kiln.bitcast(kiln.constant([1, 2, 3]), kiln.int64)


def test_erfcinv_nextafter_approx_k_and_global_generator():
    from scipy import special
    x = np.array([1e-300, 1e-10, 0.3, 1.0, 1.7, 2.0 - 1e-12, 0.0, 2.0, 2.5, -0.1])
    with np.errstate(all="ignore"):
        want = special.erfcinv(x)
    np.testing.assert_allclose(kiln.math.erfcinv(x).numpy(), want, rtol=1e-12)
    for dtype in (np.float32, np.float64):
        info = np.finfo(dtype)
        a = np.array([1.0, 1.0, -1.0, -1.0, 0.0, 0.0, -0.0, info.max, 2.0, np.nan, 5.0,
                      info.tiny, -info.tiny], dtype)
        b = np.array([2.0, 0.0, -2.0, 3.0, 1.0, -1.0, 1.0, np.inf, 2.0, 1.0, np.nan,
                      0.0, 0.0], dtype)
        got = kiln.math.nextafter(a, b).numpy()
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(got, np.nextafter(a, b))
        assert got.dtype == dtype
    v = RNG.normal(size=(3, 7))
    values, indices = kiln.math.approx_max_k(v, 3)
    np.testing.assert_array_equal(values.numpy(), -np.sort(-v, axis=-1)[:, :3])
    np.testing.assert_array_equal(np.take_along_axis(v, indices.numpy(), -1), values.numpy())
    low, at = kiln.math.approx_min_k(v, 2, reduction_dimension=0)
    np.testing.assert_array_equal(low.numpy(), np.sort(v, axis=0)[:2])
    np.testing.assert_array_equal(np.take_along_axis(v, at.numpy(), 0), low.numpy())
    g = kiln.random.Generator.from_seed(4)
    kiln.random.set_global_generator(g)
    try:
        assert kiln.random.get_global_generator() is g
        with pytest.raises(TypeError, match="Generator"):
            kiln.random.set_global_generator(3)
    finally:
        kiln.random._global_generator = None


def test_review_edges_variables_pass_through_kaiser():
    v = kiln.Variable(np.array([6, 5], np.int32))
    np.testing.assert_array_equal((~v).numpy(), [-7, -6])
    np.testing.assert_array_equal((v & 3).numpy(), [2, 1])
    np.testing.assert_array_equal((1 | v).numpy(), [7, 5])
    np.testing.assert_array_equal((v << 1).numpy(), [12, 10])
    np.testing.assert_array_equal((v >> 1).numpy(), [3, 2])
    # Several arguments pass their gradients through one by one.
    a, b = kiln.constant([0.4, 1.6]), kiln.constant([2.2])
    with kiln.GradientTape() as tape:
        tape.watch([a, b])
        ra, rb = kiln.grad_pass_through(lambda p, q: (kiln.round(p), kiln.floor(q)))(a, b)
        loss = kiln.reduce_sum(ra * 3.0) + kiln.reduce_sum(rb * 5.0)
    ga, gb = tape.gradient(loss, [a, b])
    np.testing.assert_array_equal(ra.numpy(), [0.0, 2.0])
    np.testing.assert_array_equal(ga.numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(gb.numpy(), [5.0])
    # A large beta (I0 overflows past 700) still gives the Kaiser window.
    # (SciPy's own kaiser gives NaN there: the oracle is its scaled i0e.)
    from scipy.special import i0e
    half = 3.5
    num = 800.0 * np.sqrt(1 - (np.arange(8) - half) ** 2 / half ** 2)
    np.testing.assert_allclose(kiln.signal.kaiser_window(8, beta=800.0, dtype=kiln.float64)
                               .numpy(), np.exp(num - 800.0) * i0e(num) / i0e(800.0),
                               rtol=1e-12, atol=1e-300)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="must be even"):
        kiln.signal.inverse_mdct(np.zeros((2, 5)))


def test_tensor_shape_has_tensorflows_methods():
    x = kiln.ones([2, 3])
    shape = x.shape
    assert isinstance(shape, kiln.TensorShape) and isinstance(shape, tuple)
    assert shape == (2, 3) and shape == [2, 3] and shape != [3, 2]
    assert shape.as_list() == [2, 3] and shape.rank == 2 and shape.ndims == 2
    assert shape.num_elements() == 6 and shape.is_fully_defined()
    assert isinstance(shape[1:], kiln.TensorShape) and shape[1:] == [3] and shape[0] == 2
    assert shape + [4] == (2, 3, 4) and shape.concatenate((5,)) == (2, 3, 5)
    assert repr(shape) == "TensorShape([2, 3])" and str(shape) == "(2, 3)"
    assert f"{shape}" == "(2, 3)" and hash(shape) == hash((2, 3))
    assert x.get_shape() == shape and kiln.Variable(np.zeros(4)).shape.as_list() == [4]
    open_shape = kiln.TensorShape([None, 3])
    assert open_shape.num_elements() is None and not open_shape.is_fully_defined()
    assert open_shape.is_compatible_with([7, 3]) and not open_shape.is_compatible_with([7, 4])
    assert open_shape.merge_with([7, None]) == [7, 3]
    with pytest.raises(ValueError, match="incompatible"):
        open_shape.merge_with([7, 4])
    with pytest.raises(ValueError, match="rank 3"):
        open_shape.with_rank(3)
    import pickle
    assert pickle.loads(pickle.dumps(shape)) == shape
    seen = []

    @kiln.function(input_signature=[kiln.TensorSpec([None, 3], kiln.float32)])
    def f(t):
        seen.append(t.shape.as_list())
        t.set_shape([None, 3])
        with pytest.raises(ValueError, match="not compatible"):
            t.set_shape([None, 4])
        return t * 2.0
    np.testing.assert_array_equal(f(np.ones((2, 3), np.float32)).numpy(), np.full((2, 3), 2.0))
    assert seen == [[None, 3]]


def test_notebook_boilerplate_config_and_keras_spellings():
    assert isinstance(kiln.__version__, str) and kiln.get_logger().name == "kiln"
    assert kiln.keras.Layer is kiln.keras.layers.Layer
    assert "/device:CPU:0" in kiln.config.list_logical_devices()
    for gpu in kiln.config.list_physical_devices("GPU"):
        kiln.config.experimental.set_memory_growth(gpu, True)
    with pytest.raises(ValueError, match="not a physical device"):
        kiln.config.set_visible_devices(["/gpu:7"], "GPU")
    # run_functions_eagerly: the Python body op by op (eager tensors inside).
    seen = []

    @kiln.function
    def f(x):
        seen.append(x._symbolic)
        return x * 2.0
    kiln.config.run_functions_eagerly(True)
    try:
        assert kiln.config.functions_run_eagerly()
        assert float(f(kiln.constant(1.5))) == 3.0 and seen == [False] and f.trace_count == 0
    finally:
        kiln.config.run_functions_eagerly(False)
    assert float(f(kiln.constant(1.5))) == 3.0 and seen == [False, True]
    # Keras 3's LeakyReLU(negative_slope) and metrics named by class.
    out = kiln.keras.layers.LeakyReLU(negative_slope=0.1)(kiln.constant([-1.0, 2.0]))
    np.testing.assert_allclose(out.numpy(), [-0.1, 2.0], rtol=1e-6)
    model = kiln.keras.Sequential([kiln.keras.Input((2,)),
                                   kiln.keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["AUC", "Precision"])
    x = np.random.default_rng(3).random((16, 2)).astype(np.float32)
    history = model.fit(x, (x[:, :1] > 0.5).astype(np.float32), verbose=0)
    assert sorted(history.history) == ["auc", "loss", "precision"]


def test_variable_scatters_hessians_ema_and_tf_test():
    v = kiln.Variable([1.0, 2.0, 3.0])
    v.scatter_nd_update([[0]], [5.0])
    v.scatter_nd_add([[1], [1]], [1.0, 2.0])
    v.scatter_nd_sub([[2]], [0.5])
    np.testing.assert_array_equal(v.numpy(), [5.0, 5.0, 2.5])
    # Hessian of sum(x^3) + x0 x1: diag(6x) plus the mixed term, against
    # central differences of the gradient's formula.
    x = np.array([1.0, 2.0])
    f = lambda t: kiln.reduce_sum(t ** 3) + t[0] * t[1]   # noqa: E731
    grad = lambda p: np.array([3 * p[0] ** 2 + p[1], 3 * p[1] ** 2 + p[0]])   # noqa: E731
    want = np.stack([(grad(x + e) - grad(x - e)) / 2e-6 for e in np.eye(2) * 1e-6], 1)
    np.testing.assert_allclose(kiln.hessians(f, kiln.constant(x)).numpy(), want, rtol=1e-6)
    assert kiln.recompute_grad(f) is f
    parts = kiln.keras.ops.unstack(kiln.ones([2, 3]))
    assert len(parts) == 2 and parts[0].shape == (3,)
    np.testing.assert_array_equal(
        kiln.keras.ops.vectorized_map(lambda r: r * 2.0, kiln.ones([2, 3])).numpy(), 2.0)
    # EMA: the shadow starts at the variable, then moves (1 - decay) of the way.
    w = kiln.Variable([0.0])
    ema = kiln.train.ExponentialMovingAverage(0.9)
    shadow = None
    for value in (1.0, 2.0, 3.0):
        w.assign([value])
        ema.apply([w])
        shadow = value if shadow is None else shadow - 0.1 * (shadow - value)
    np.testing.assert_allclose(ema.average(w).numpy(), [shadow], rtol=1e-6)
    steps = kiln.Variable(0)
    slow = kiln.train.ExponentialMovingAverage(0.999, num_updates=steps)
    slow.apply([w])
    w.assign([5.0])
    slow.apply([w])   # (decay min(0.999, 1/10) = 0.1 at step 0)
    np.testing.assert_allclose(slow.average(w).numpy(), [3.0 - 0.9 * (3.0 - 5.0)], rtol=1e-6)
    # tf.test
    assert kiln.test.is_gpu_available() == bool(kiln.config.list_logical_devices("GPU"))

    class Case(kiln.test.TestCase):
        def runTest(self):   # noqa: N802
            self.assertAllClose(kiln.constant([1.0, 2.0]), [1.0, 2.0 + 1e-7])
            self.assertAllEqual(kiln.constant([1, 2]), np.array([1, 2]))
            with self.assertRaises(AssertionError):
                self.assertAllClose([1.0], [1.1])
    import unittest
    result = unittest.TestResult()
    Case().run(result)
    assert result.wasSuccessful(), result.failures


def test_ema_restored_before_apply_and_predict_on_a_generator(tmp_path):
    v = kiln.Variable([1.0, 2.0], name="weights")
    ema = kiln.train.ExponentialMovingAverage(0.5)
    ema.apply([v])
    v.assign([3.0, 4.0])
    ema.apply([v])                                   # (shadow [2, 3])
    path = kiln.train.Checkpoint(v=v, ema=ema).write(str(tmp_path / "ema"))
    fresh = kiln.train.ExponentialMovingAverage(0.5)
    v.assign([0.0, 0.0])
    status = kiln.train.Checkpoint(v=v, ema=fresh).read(path)
    fresh.apply([v])   # (the shadow takes the saved value when it is made, then moves)
    np.testing.assert_allclose(fresh.average(v).numpy(), [2.0 - 0.5 * (2.0 - 3.0),
                                                          3.0 - 0.5 * (3.0 - 4.0)])
    status.assert_consumed()
    model = kiln.keras.Sequential([kiln.keras.Input((3,)), kiln.keras.layers.Dense(1)])
    batches = [np.full((2, 3), float(i), np.float32) for i in range(3)]
    got = model.predict(((b, np.zeros((2, 1))) for b in batches), verbose=0)
    np.testing.assert_allclose(got, model(np.concatenate(batches)).numpy(), rtol=1e-6)
