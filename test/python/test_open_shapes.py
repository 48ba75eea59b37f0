"""kiln.shape and kiln.size of extents known only at run time (an
input_signature's None): one trace serves every batch size, and the values
are each call's own, against NumPy; gradients through a loss normalized by
the batch size against NumPy's formula."""

import numpy as np
import pytest

import kiln


def test_shape_and_size_are_read_when_the_code_runs():
    @kiln.function(input_signature=[kiln.TensorSpec((None, 3, None), kiln.float32)])
    def f(x):
        n = kiln.shape(x)[0]
        mean = kiln.reduce_sum(x) / kiln.cast(n, kiln.float32)
        return mean, kiln.shape(x), kiln.size(x, out_type=kiln.int64), kiln.shape(x, kiln.int64)[2]

    for shape in ((4, 3, 2), (7, 3, 5), (1, 3, 1)):
        x = np.random.default_rng(sum(shape)).normal(size=shape).astype(np.float32)
        mean, s, size, last = f(kiln.constant(x))
        np.testing.assert_allclose(mean.numpy(), x.sum() / shape[0], rtol=1e-5)
        np.testing.assert_array_equal(s.numpy(), shape)
        assert s.dtype == kiln.int32 and size.dtype == kiln.int64
        assert int(size.numpy()) == x.size and int(last.numpy()) == shape[2]
    assert f.trace_count == 1
    # Known extents stay constants (no kiln.dim in the IR).
    known = kiln.function(lambda x: kiln.shape(x))
    np.testing.assert_array_equal(known(kiln.ones((2, 5))).numpy(), [2, 5])
    assert "kiln.dim" not in known.get_concrete_function(kiln.ones((2, 5))).mlir
    assert "kiln.dim" in f.get_concrete_function(kiln.TensorSpec((None, 3, None))).mlir


def test_gradient_of_a_loss_divided_by_the_batch_size():
    w = kiln.Variable(np.array([0.5, -1.0, 2.0], np.float32))

    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float32),
                                    kiln.TensorSpec((None,), kiln.float32)])
    def step(x, y):
        with kiln.GradientTape() as tape:
            err = kiln.reduce_sum(x * w, axis=1) - y
            loss = kiln.reduce_sum(err * err) / kiln.cast(kiln.shape(x)[0], kiln.float32)
        return loss, tape.gradient(loss, w)

    rng = np.random.default_rng(3)
    for batch in (5, 9):
        x = rng.normal(size=(batch, 3)).astype(np.float32)
        y = rng.normal(size=batch).astype(np.float32)
        loss, grad = step(kiln.constant(x), kiln.constant(y))
        err = x @ w.numpy() - y
        np.testing.assert_allclose(loss.numpy(), (err ** 2).sum() / batch, rtol=1e-5)
        np.testing.assert_allclose(grad.numpy(), 2 * x.T @ err / batch, rtol=1e-5)


def test_embedding_lookup_and_its_gradient_with_an_open_batch():
    """A gather from a static table with ids of open extents (an Embedding
    layer under input_signature), and its gradient (a scatter_add over the
    open batch), against NumPy's indexing and np.add.at."""
    layer = kiln.layers.Embedding(6, 3)
    layer(kiln.constant(np.zeros((1, 2), np.int64)))
    table = layer.embeddings.numpy()
    weights = np.random.default_rng(5).normal(size=3).astype(np.float32)

    @kiln.function(input_signature=[kiln.TensorSpec((None, 2), kiln.int64)])
    def step(ids):
        with kiln.GradientTape() as tape:
            out = layer(ids)
            loss = kiln.reduce_sum(out * weights)
        return out, tape.gradient(loss, layer.embeddings)

    for batch in ([[1, 5], [1, 0]], [[2, 2], [3, 4], [5, 5]]):
        ids = np.array(batch, np.int64)
        out, grad = step(kiln.constant(ids))
        np.testing.assert_allclose(out.numpy(), table[ids], rtol=1e-6)
        want = np.zeros_like(table)
        np.add.at(want, ids.reshape(-1), np.broadcast_to(weights, (ids.size, 3)))
        np.testing.assert_allclose(grad.numpy(), want, rtol=1e-6)
    assert step.trace_count == 1


def test_ensure_shape_checks_now_or_when_the_code_runs():
    x = kiln.constant(np.ones((2, 3), np.float32))
    assert kiln.ensure_shape(x, [2, None]) is x
    assert kiln.ensure_shape(x, None) is x
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"test_open_shapes.py:\d+: Shape of tensor x \[2, 3\] is not "
                             r"compatible with expected shape \[2, 4\]"):
        kiln.ensure_shape(x, [2, 4])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="expected shape"):
        kiln.ensure_shape(x, [2, 3, 1])

    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float32)])
    def f(v):
        fixed = kiln.ensure_shape(v, [2, 3])
        assert fixed.shape == (2, 3)  # known to the ops after it
        return kiln.transpose(fixed)  # (a transpose needs static extents)
    np.testing.assert_array_equal(f(x).numpy(), np.ones((3, 2), np.float32))
    # (The refining reshape's run-time check, which names the same line,
    # runs before the function's own.)
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"test_open_shapes.py:\d+: kiln.reshape: the input does not have "
                             r"the 6 elements"):
        f(kiln.constant(np.ones((5, 3), np.float32)))

    @kiln.function(input_signature=[kiln.TensorSpec((None, None), kiln.float32)])
    def g(v):
        return kiln.ensure_shape(v, [None, 3]) * 2.0
    np.testing.assert_array_equal(g(x).numpy(), 2 * np.ones((2, 3), np.float32))
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"expected shape \[None, 3\]: dimension 1 differs"):
        g(kiln.constant(np.ones((3, 2), np.float32)))


def test_shapes_built_from_open_extents_keep_what_is_known():
    # TF's constant_value of a partial shape: kiln.shape(x)[1:] of x
    # [None, 4, 3] is the constant [4, 3]; [kiln.shape(x)[0], -1] reshapes to
    # [None, 12]; zeros / fill / broadcast_to of x's own shape take the open
    # extent from x. One trace serves every batch size; NumPy is the oracle.
    seen = {}

    @kiln.function(input_signature=[kiln.TensorSpec((None, 4, 3), kiln.float32),
                                    kiln.TensorSpec((None, 2), kiln.float32)])
    def f(x, y):
        s = kiln.shape(x)
        rows, cols = s[1], s[2]            # known: constants, not run-time values
        # (Integer arithmetic on known values is folded while tracing.)
        seen["known"] = (int(rows), int(cols), s[1:].numpy().tolist(), int(rows * cols - 1))
        flat = kiln.reshape(x, [s[0], -1])
        stacked = kiln.reshape(x, kiln.stack([s[0], rows * cols]))
        joined = kiln.reshape(x, kiln.concat([s[:1], [-1]], 0))
        seen["shapes"] = (flat.shape, stacked.shape, joined.shape)
        other = kiln.reshape(y, [s[0], 2, 1])  # x's batch: checked equal to y's
        z = kiln.zeros(kiln.shape(x)) + kiln.fill(s, 2.0)
        b = kiln.broadcast_to(kiln.constant([1.0, 2.0, 3.0]), s)
        return flat + stacked + joined, other, z + b

    for n in (1, 3):
        x = np.arange(n * 12, dtype=np.float32).reshape(n, 4, 3)
        y = np.ones((n, 2), np.float32)
        flat, other, zb = f(x, y)
        np.testing.assert_array_equal(flat.numpy(), 3 * x.reshape(n, 12))
        np.testing.assert_array_equal(other.numpy(), y.reshape(n, 2, 1))
        np.testing.assert_array_equal(zb.numpy(), 2 + np.broadcast_to([1.0, 2.0, 3.0], (n, 4, 3)))
    assert f.trace_count == 1
    assert seen["known"] == (4, 3, [4, 3], 11)
    assert seen["shapes"] == ((None, 12),) * 3
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"test_open_shapes.py:\d+: reshape: the target shape's open extent "
                             r"\(dimension 0 of a tensor of shape \[None, 4, 3\]\) differs"):
        f(np.zeros((3, 4, 3), np.float32), np.zeros((5, 2), np.float32))


def test_folding_covers_shape_idioms_and_leaves_checks_to_run_time():
    @kiln.function(input_signature=[kiln.TensorSpec((None, 4, 6), kiln.float32)])
    def halves(x):
        s = kiln.shape(x)
        return kiln.reshape(x, [s[0], s[2] // 2, kiln.reduce_prod(s[1:]) // 3])
    x = np.arange(48, dtype=np.float32).reshape(2, 4, 6)
    np.testing.assert_array_equal(halves(x).numpy(), x.reshape(2, 3, 8))
    # (fill casts a tensor value to the dtype asked for, as TensorFlow.)
    assert kiln.fill([2], kiln.constant(1), kiln.float32).numpy().tolist() == [1.0, 1.0]

    # A division by a known zero is not folded: the compiled check fails
    # only if its branch runs.
    @kiln.function
    def guarded(flag):
        if flag:
            return kiln.constant(7) // kiln.constant(0)
        return kiln.constant(1)
    assert int(guarded(kiln.constant(False))) == 1
    with pytest.raises(kiln.errors.InvalidArgumentError, match="Integer division by zero"):
        guarded(kiln.constant(True))

    # A shape tensor kept from another trace has no record there.
    kept = {}

    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float32)])
    def first(x):
        kept["shape"] = kiln.shape(x)
        return x

    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float32)])
    def second(x):
        return kiln.reshape(x, kept["shape"][1:])
    first(np.ones((2, 3), np.float32))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="another @kiln.function trace"):
        second(np.ones((2, 3), np.float32))


def test_open_extent_errors_name_the_problem():
    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float32)])
    def shaped(x):
        return kiln.reshape(x, [kiln.shape(x)[0], 4])
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"test_open_shapes.py:\d+: reshape: cannot reshape a tensor of shape "
                             r"\[None, 3\] to \[None, 4\]"):
        shaped(kiln.ones((2, 3)))

    @kiln.function(input_signature=[kiln.TensorSpec((None, None), kiln.float32)])
    def two_open(x):
        return kiln.reshape(x, [kiln.shape(x)[1], kiln.shape(x)[0]])
    with pytest.raises(kiln.errors.UnimplementedError,
                       match=r"reshape: a target shape with 2 extents known only when the code runs"):
        two_open(kiln.ones((2, 3)))

    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float32)])
    def zeros_of(x):
        return kiln.zeros([kiln.shape(x)[0] * 2, 7])  # (arithmetic on an open extent)
    with pytest.raises(kiln.errors.UnimplementedError, match="zeros: the shape is computed"):
        zeros_of(kiln.ones((2, 3)))

    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float32)])
    def partly_known(x):
        return kiln.random.uniform(x.shape)  # (TensorFlow refuses it too)
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"test_open_shapes.py:\d+: random.uniform: the shape \[None, 3\] "
                             r"has unknown extents \(None\); pass kiln.shape\(x\)"):
        partly_known(kiln.ones((2, 3)))

    # Updates and indices of open extents that disagree: an error when the
    # code runs, not a read past the indices.
    @kiln.function(input_signature=[kiln.TensorSpec((None, 1), kiln.int32),
                                    kiln.TensorSpec((None, 3), kiln.float32)])
    def scatter(i, u):
        return kiln.tensor_scatter_nd_add(kiln.zeros((5, 3)), i, u)
    np.testing.assert_array_equal(
        scatter(kiln.constant([[0], [0]]), kiln.ones((2, 3))).numpy()[0], [2, 2, 2])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="does not match the indices"):
        scatter(kiln.constant([[0], [1]]), kiln.ones((4, 3)))

    # A gather from an empty table: every index is out of range.
    @kiln.function
    def from_empty(ids):
        return kiln.gather(kiln.zeros((0, 3)), ids)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="out of range"):
        from_empty(kiln.constant([0]))


def test_shapes_mixing_open_and_fixed_extents_of_several_tensors():
    # Shapes no input has: [batch, 7], [2, n, m] from two tensors, a
    # transposed pair; each extent is read when the code runs, so one trace
    # serves every call. NumPy is the oracle.
    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float32),
                                    kiln.TensorSpec((2, None), kiln.float32)])
    def f(x, y):
        n, m = kiln.shape(x)[0], kiln.shape(y)[1]
        z = kiln.zeros([n, 7]) + kiln.cast(kiln.ones([n, 1], kiln.int32), kiln.float32)
        g = kiln.fill(kiln.stack([2, n, m]), 3.0)
        b = kiln.broadcast_to(kiln.constant([[1.0], [2.0]]), [m, 2, n])
        return z, g, b, kiln.zeros([m, n], kiln.int32)

    for n, m in ((1, 4), (5, 2), (3, 3)):
        z, g, b, t = f(np.zeros((n, 3), np.float32), np.zeros((2, m), np.float32))
        np.testing.assert_array_equal(z.numpy(), np.ones((n, 7)))
        np.testing.assert_array_equal(g.numpy(), np.full((2, n, m), 3.0))
        np.testing.assert_array_equal(b.numpy(), np.broadcast_to([[1.0], [2.0]], (m, 2, n)))
        assert t.numpy().shape == (m, n) and t.dtype == kiln.int32 and not t.numpy().any()
    assert f.trace_count == 1


def test_random_numbers_and_dropout_over_an_open_batch():
    # tf.random.uniform(tf.shape(x)) and dropout in a function whose batch
    # is open: the numbers fill each call's shape, differ from call to call,
    # and follow their distribution; a noise shape broadcasts over the rows.
    @kiln.function(input_signature=[kiln.TensorSpec((None, 500), kiln.float32)])
    def f(x):
        u = kiln.random.uniform(kiln.shape(x), minval=-1.0, maxval=1.0)
        n = kiln.random.normal([kiln.shape(x)[0], 2, 250], seed=4)
        d = kiln.nn.dropout(x, 0.25)
        rows = kiln.nn.dropout(x, 0.5, noise_shape=[None, 1])
        return u, n, d, rows

    x = np.ones((8, 500), np.float32)
    u, n, d, rows = f(x)
    assert u.shape == (8, 500) and n.shape == (8, 2, 250)
    # (4000 draws each: bounds at about 4.5 standard deviations of the
    # sample statistics, so a correct generator fails once in ~10^5 runs;
    # the call counter mixed into the seeds makes the draws depend on
    # what ran before.)
    assert -1 <= u.numpy().min() and u.numpy().max() < 1 and abs(u.numpy().mean()) < 0.04
    assert abs(n.numpy().mean()) < 0.07 and abs(n.numpy().std() - 1) < 0.05
    kept = d.numpy() != 0
    np.testing.assert_allclose(d.numpy()[kept], 1 / 0.75, rtol=1e-6)
    assert abs(kept.mean() - 0.75) < 0.04
    r = rows.numpy()
    assert all(len(set(row)) == 1 for row in r) and set(r[:, 0]) <= {0.0, 2.0}
    u2, _, _, _ = f(np.ones((3, 500), np.float32))
    assert u2.shape == (3, 500) and not np.array_equal(u2.numpy(), u.numpy()[:3])
    assert f.trace_count == 1

    # Keras: Dropout and GaussianNoise in a model called with an open batch.
    model = kiln.keras.Sequential([kiln.keras.layers.Dense(64),
                                   kiln.keras.layers.Dropout(0.5),
                                   kiln.keras.layers.GaussianNoise(0.1)])
    step = kiln.function(lambda x: model(x, training=True),
                         input_signature=[kiln.TensorSpec((None, 16), kiln.float32)])
    for batch in (2, 9):
        out = step(np.ones((batch, 16), np.float32)).numpy()
        assert out.shape == (batch, 64) and np.isfinite(out).all()
    assert step.trace_count == 1


def test_slices_joins_and_transposes_over_an_open_batch():
    # What models write with an input_signature's None batch: x[:, 0],
    # x[..., 1:], a new axis, concat / split / stack / unstack along known
    # dimensions, transposes, padding of known dimensions. One trace serves
    # every batch size; NumPy is the oracle.
    @kiln.function(input_signature=[kiln.TensorSpec((None, 4, 3), kiln.float32),
                                    kiln.TensorSpec((None, 4, 2), kiln.float32)])
    def f(x, y):
        joined = kiln.concat([x, y], axis=2)
        first, rest = kiln.split(joined, [3, 2], axis=2)
        return (x[:, 0], x[..., 1:], x[:, :, None, 2], x[:, ::2, -1], joined,
                kiln.transpose(joined, [1, 0, 2]), kiln.pad(x, [[0, 0], [1, 0], [0, 2]]),
                first, rest, kiln.stack([x[:, 0, :1], y[:, 1, 0:1]], axis=1),
                kiln.unstack(x, axis=1)[3], x[:, 1, 2])

    def numpy_f(x, y):
        joined = np.concatenate([x, y], 2)
        return (x[:, 0], x[..., 1:], x[:, :, None, 2], x[:, ::2, -1], joined,
                joined.transpose(1, 0, 2), np.pad(x, [[0, 0], [1, 0], [0, 2]]),
                joined[..., :3], joined[..., 3:],
                np.stack([x[:, 0, :1], y[:, 1, 0:1]], 1), x[:, 3], x[:, 1, 2])

    rng = np.random.default_rng(3)
    for n in (5, 1, 2):
        x = rng.normal(size=(n, 4, 3)).astype(np.float32)
        y = rng.normal(size=(n, 4, 2)).astype(np.float32)
        for got, want in zip(f(x, y), numpy_f(x, y)):
            np.testing.assert_array_equal(got.numpy(), want)
    assert f.trace_count == 1
    # (top_k sorts rows, then slices the last dimension.)
    top = kiln.function(lambda v: kiln.math.top_k(v, 2).values,
                        input_signature=[kiln.TensorSpec([None, 4])])
    for n in (3, 1):
        v = rng.normal(size=(n, 4)).astype(np.float32)
        np.testing.assert_array_equal(top(v).numpy(), -np.sort(-v, axis=1)[:, :2])
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"kiln.concat: operand 1 differs from the others in dimension 0"):
        f(np.zeros((3, 4, 3), np.float32), np.zeros((2, 4, 2), np.float32))


def test_gradients_through_slices_and_joins_over_an_open_batch():
    # The cotangents of slices (padded back in known dimensions), concats
    # (sliced), transposes and stacks, against central differences.
    from conftest import central

    w = kiln.Variable(np.random.default_rng(4).normal(size=(3, 2)).astype(np.float64))

    def loss(x):
        h = kiln.concat([x[:, 1:], x[:, :1] * 2.0], axis=1)        # [N, 3]
        t = kiln.transpose(kiln.stack([h, kiln.tanh(h)], axis=2), [0, 2, 1])  # [N, 2, 3]
        return kiln.reduce_sum(kiln.square(kiln.matmul(t[:, 1], w))) + \
            kiln.reduce_sum(kiln.pad(x, [[0, 0], [0, 1]]) ** 3)

    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float64)])
    def grads(x):
        with kiln.GradientTape() as tape:
            tape.watch(x)
            value = loss(x)
        return tape.gradient(value, [x, w])

    x = np.random.default_rng(5).normal(size=(4, 3))
    dx, dw = grads(x)
    np.testing.assert_allclose(dx.numpy(), central(lambda v: float(loss(kiln.constant(v))), x),
                               rtol=1e-6, atol=1e-8)
    w0 = w.numpy()

    def loss_of_w(v):
        w.assign(v)
        return float(loss(kiln.constant(x)))
    np.testing.assert_allclose(dw.numpy(), central(loss_of_w, w0), rtol=1e-6, atol=1e-8)
    w.assign(w0)
    grads(np.ones((2, 3)))
    assert grads.trace_count == 1


def test_concatenation_along_an_open_axis():
    # tf.concat([real, fake], 0) of two batches known only at run time (a
    # GAN's discriminator input), with a fixed piece between them: the
    # result is as long as all three, whatever each call's batches are.
    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float32),
                                    kiln.TensorSpec((None, 3), kiln.float32)])
    def join(a, b):
        c = kiln.concat([a, kiln.ones((2, 3)), b], axis=0)
        return c, kiln.shape(c)[0], kiln.concat([a, a], axis=1)

    rng = np.random.default_rng(11)
    for n, m in ((3, 5), (1, 1), (4, 0), (0, 2)):
        a = rng.normal(size=(n, 3)).astype(np.float32)
        b = rng.normal(size=(m, 3)).astype(np.float32)
        c, rows, wide = join(a, b)
        np.testing.assert_array_equal(c.numpy(), np.concatenate([a, np.ones((2, 3)), b], 0))
        assert int(rows.numpy()) == n + m + 2
        np.testing.assert_array_equal(wide.numpy(), np.concatenate([a, a], 1))
    assert join.trace_count == 1
    # Extents beside the axis must agree: known ones when tracing, open ones
    # when the code runs.
    with pytest.raises(kiln.errors.InvalidArgumentError, match=r"differs from"):
        kiln.function(lambda a, b: kiln.concat([a, b], 0),
                      input_signature=[kiln.TensorSpec((None, 3)),
                                       kiln.TensorSpec((None, 4))])(
            np.zeros((1, 3), np.float32), np.zeros((1, 4), np.float32))
    loose = kiln.function(lambda a, b: kiln.concat([a, b], 0),
                          input_signature=[kiln.TensorSpec((None, None)),
                                           kiln.TensorSpec((None, None))])
    np.testing.assert_array_equal(loose(np.ones((1, 2), np.float32),
                                        np.zeros((3, 2), np.float32)).numpy(),
                                  np.concatenate([np.ones((1, 2)), np.zeros((3, 2))]))
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"kiln.concat: operand 1 differs from the others in dimension 1"):
        loose(np.zeros((1, 2), np.float32), np.zeros((1, 3), np.float32))


def test_even_split_of_an_open_batch():
    # z1, z2 = tf.split(z, 2, 0): two views of each example in one batch
    # (contrastive learning). The batch must split evenly when the code
    # runs; the pieces' gradients go back to their rows.
    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float64)])
    def halves(z):
        with kiln.GradientTape() as tape:
            tape.watch(z)
            z1, z2 = kiln.split(z, 2, axis=0)
            loss = kiln.reduce_sum(z1 * z2 * z2)
        return z1, z2, tape.gradient(loss, z)

    rng = np.random.default_rng(13)
    for n in (4, 2, 10):
        z = rng.normal(size=(n, 3))
        z1, z2, dz = halves(z)
        np.testing.assert_array_equal(z1.numpy(), z[:n // 2])
        np.testing.assert_array_equal(z2.numpy(), z[n // 2:])
        a, b = z[:n // 2], z[n // 2:]
        np.testing.assert_allclose(dz.numpy(), np.concatenate([b * b, 2 * a * b]), rtol=1e-12)
    assert halves.trace_count == 1
    with pytest.raises(kiln.errors.InvalidArgumentError):
        halves(np.zeros((3, 3)))


def test_gradients_through_a_concatenation_along_an_open_axis():
    # A discriminator scores real and generated samples in one batch: the
    # loss's gradients with respect to the weights, the real samples and
    # the generator's input (through the cut pieces of the cotangent),
    # against central differences, for batches of different sizes.
    from conftest import central

    rng = np.random.default_rng(12)
    d = kiln.Variable(rng.normal(size=(3, 1)))
    g = kiln.Variable(rng.normal(size=(2, 3)))

    def loss(real, z):
        fake = kiln.tanh(kiln.matmul(z, g))
        both = kiln.concat([real, fake], axis=0)
        logits = kiln.matmul(both, d)
        labels = kiln.concat([kiln.ones_like(real[:, :1]), kiln.zeros_like(fake[:, :1])], 0)
        return kiln.reduce_mean(kiln.nn.sigmoid_cross_entropy_with_logits(labels, logits))

    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float64),
                                    kiln.TensorSpec((None, 2), kiln.float64)])
    def grads(real, z):
        with kiln.GradientTape() as tape:
            tape.watch([real, z])
            value = loss(real, z)
        return tape.gradient(value, [real, z, d, g])

    for n, m in ((4, 2), (1, 3)):
        real, z = rng.normal(size=(n, 3)), rng.normal(size=(m, 2))
        dreal, dz, dd, dg = grads(real, z)
        np.testing.assert_allclose(
            dreal.numpy(), central(lambda v: float(loss(kiln.constant(v), kiln.constant(z))), real),
            rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(
            dz.numpy(), central(lambda v: float(loss(kiln.constant(real), kiln.constant(v))), z),
            rtol=1e-6, atol=1e-9)
        for var, grad in ((d, dd), (g, dg)):
            start = var.numpy()

            def of(v, var=var):
                var.assign(v)
                return float(loss(kiln.constant(real), kiln.constant(z)))
            want = central(of, start)
            var.assign(start)
            np.testing.assert_allclose(grad.numpy(), want, rtol=1e-6, atol=1e-9)
    assert grads.trace_count == 1


def test_token_classifier_over_open_batch_and_length():
    # Per-token logits of sequences [None, None, F]: Dense over the last
    # axis (a batched product: its reshape would join the two open
    # extents), a masked Keras loss (sample_weight [None, None]), and
    # reductions over the last axis, whose cotangents put the 1s back with
    # expand_dims. Value against NumPy; the kernel's gradient against
    # central differences; one trace for every batch and length.
    from conftest import central

    dense = kiln.layers.Dense(5, dtype="float64")
    dense.build((None, None, 4))
    loss_fn = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)

    def loss_of(x, labels, weights):
        logits = dense(x)
        spread = kiln.reduce_sum(kiln.square(logits), axis=2)     # [N, T]
        return loss_fn(labels, logits, sample_weight=weights) + \
            1e-3 * kiln.reduce_sum(spread * weights)

    @kiln.function(input_signature=[kiln.TensorSpec((None, None, 4), kiln.float64),
                                    kiln.TensorSpec((None, None), kiln.int32),
                                    kiln.TensorSpec((None, None), kiln.float64)])
    def step(x, labels, weights):
        with kiln.GradientTape() as tape:
            loss = loss_of(x, labels, weights)
        return loss, tape.gradient(loss, dense.kernel)

    rng = np.random.default_rng(14)
    for n, t in ((2, 3), (1, 5)):
        x = rng.normal(size=(n, t, 4))
        labels = rng.integers(0, 5, size=(n, t)).astype(np.int32)
        weights = (rng.random((n, t)) < 0.7).astype(np.float64)
        loss, grad = step(x, labels, weights)
        logits = x @ dense.kernel.numpy() + dense.bias.numpy()
        log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        picked = -np.take_along_axis(log_p, labels[..., None], -1)[..., 0]
        want = (picked * weights).sum() / weights.size + \
            1e-3 * ((logits ** 2).sum(-1) * weights).sum()
        np.testing.assert_allclose(float(loss.numpy()), want, rtol=1e-10)
        start = dense.kernel.numpy()

        def of(v):
            dense.kernel.assign(v)
            return float(loss_of(kiln.constant(x), kiln.constant(labels),
                                 kiln.constant(weights)))
        np.testing.assert_allclose(grad.numpy(), central(of, start), rtol=1e-6, atol=1e-9)
        dense.kernel.assign(start)
    assert step.trace_count == 1


def test_open_dimensions_are_taken_whole():
    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float32)])
    def head(x):
        return x[:2]
    with pytest.raises(kiln.errors.UnimplementedError,
                       match=r"test_open_shapes.py:\d+: indexing dimension 0 of a tensor of shape "
                             r"\[None, 3\] with slice\(None, 2, None\): that extent is known only"):
        head(kiln.ones((4, 3)))

    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float32)])
    def padded(x):
        return kiln.pad(x, [[1, 0], [0, 0]])
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"test_open_shapes.py:\d+: .*dimension 0 has an open extent and "
                             r"cannot be padded"):
        padded(kiln.ones((4, 3)))

    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float32)])
    def backwards(x):
        return x[:, ::-1]
    with pytest.raises(kiln.errors.UnimplementedError,
                       match=r"test_open_shapes.py:\d+: indexing a tensor of shape \[None, 3\] "
                             r"with a negative step"):
        backwards(kiln.ones((4, 3)))

    @kiln.function(input_signature=[kiln.TensorSpec((None, None, 3), kiln.float32)])
    def two_letters(x):
        return kiln.einsum("btd,bsd->bts", x, x)
    # (several open letters: a batched product keeps them apart)
    x3 = np.random.default_rng(15).normal(size=(2, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(two_letters(x3).numpy(), np.einsum("btd,bsd->bts", x3, x3),
                               rtol=1e-5, atol=1e-6)

    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float32)])
    def unknown(x):
        return kiln.zeros([kiln.shape(x)[0], None])
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"zeros: the shape \[None, None\] has unknown extents"):
        unknown(kiln.ones((4, 3)))
    assert kiln.random.uniform(np.array([2, 3])).shape == (2, 3)

    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float32)])
    def halves(x):
        return kiln.split(x, [1, -1], axis=0)   # (sizes along an open extent)
    with pytest.raises(kiln.errors.UnimplementedError,
                       match=r"split along dimension 0 of a tensor of shape \[None, 3\]"):
        halves(kiln.ones((4, 3)))


def test_reshapes_that_keep_several_open_extents():
    # [batch, time, heads, depth] with batch and time open: heads merged
    # and split again (what attention layers do), and a strided slice
    # beside two open extents with its gradient (its cotangent is spread
    # by such reshapes). NumPy and central differences are the oracles.
    from conftest import central

    @kiln.function(input_signature=[kiln.TensorSpec((None, None, 4, 2), kiln.float64)])
    def merge(x):
        s = kiln.shape(x)
        flat = kiln.reshape(x, [s[0], s[1], -1])
        back = kiln.reshape(flat * 2.0, [s[0], s[1], 4, 2])
        return flat, back

    for shape in ((2, 3, 4, 2), (1, 5, 4, 2)):
        x = np.random.default_rng(sum(shape)).normal(size=shape)
        flat, back = merge(x)
        assert flat.shape == shape[:2] + (8,)
        np.testing.assert_array_equal(flat.numpy(), x.reshape(*shape[:2], 8))
        np.testing.assert_array_equal(back.numpy(), 2 * x)
    assert merge.trace_count == 1

    @kiln.function(input_signature=[kiln.TensorSpec((None, None, 4, 2), kiln.float64)])
    def uneven(x):
        s = kiln.shape(x)
        return kiln.reshape(x, [s[0], s[1], 3, -1])
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"test_open_shapes.py:\d+: reshape: cannot reshape a tensor of "
                             r"shape \[None, None, 4, 2\] to \[None, None, 3, -1\]: the known "
                             r"extents do not divide 8"):
        uneven(np.zeros((1, 1, 4, 2)))

    @kiln.function(input_signature=[kiln.TensorSpec((None, None, 4, 2), kiln.float64)])
    def too_many(x):
        s = kiln.shape(x)
        return kiln.reshape(x, [s[0], s[1], 16])
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"beside the open extents, it holds 8 elements and the target 16"):
        too_many(np.zeros((1, 1, 4, 2)))

    w = np.random.default_rng(9).normal(size=(2, 3, 4))

    def loss(x):
        return kiln.reduce_sum(kiln.tanh(x[:, :, ::2]) * w)

    @kiln.function(input_signature=[kiln.TensorSpec((None, None, 8), kiln.float64)])
    def grad(x):
        with kiln.GradientTape() as tape:
            tape.watch(x)
            value = loss(x)
        return tape.gradient(value, x)

    x = np.random.default_rng(3).normal(size=(2, 3, 8))
    np.testing.assert_allclose(grad(x).numpy(),
                               central(lambda v: float(loss(kiln.constant(v))), x),
                               rtol=1e-6, atol=1e-9)


def _conv_np(x, w, stride, same):
    """NumPy's 2-D convolution (NHWC, HWIO) with TensorFlow's padding."""
    n, h, wd, _ = x.shape
    kh, kw, _, o = w.shape
    if same:
        oh, ow = -(-h // stride), -(-wd // stride)
        ph = max((oh - 1) * stride + kh - h, 0)
        pw = max((ow - 1) * stride + kw - wd, 0)
        x = np.pad(x, [[0, 0], [ph // 2, ph - ph // 2], [pw // 2, pw - pw // 2], [0, 0]])
    else:
        oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    y = np.zeros((n, oh, ow, o))
    for i in range(kh):
        for j in range(kw):
            y += x[:, i:i + (oh - 1) * stride + 1:stride,
                   j:j + (ow - 1) * stride + 1:stride] @ w[i, j]
    return y


def test_convolutions_and_pooling_over_an_open_batch():
    """One trace of a convolutional network serves every batch size: its
    outputs against NumPy's convolution and pooling, its gradients against
    central differences."""
    from conftest import central

    rng = np.random.default_rng(11)
    w1 = rng.normal(size=(3, 3, 2, 4))
    w2 = rng.normal(size=(2, 2, 3, 4)) * 0.5  # (height, width, out, in)
    depthwise = rng.normal(size=(3, 3, 2, 1))

    def net(x):
        h = kiln.tanh(kiln.nn.conv2d(x, w1, strides=2, padding="SAME"))        # [N, 4, 3, 4]
        m = kiln.nn.max_pool2d(h, 2, 1, "VALID")                                # [N, 3, 2, 4]
        a = kiln.nn.avg_pool2d(h, 3, 2, "SAME")                                 # [N, 2, 2, 4]
        d = kiln.nn.depthwise_conv2d(x, depthwise, [1, 1, 1, 1], "SAME")       # [N, 7, 5, 2]
        up = kiln.nn.conv2d_transpose(a, w2, [kiln.shape(a)[0], 4, 4, 3], 2, "SAME")
        return m, a, d, up

    @kiln.function(input_signature=[kiln.TensorSpec((None, 7, 5, 2), kiln.float64)])
    def forward(x):
        return net(x)

    for batch in (1, 3):
        x = rng.normal(size=(batch, 7, 5, 2))
        m, a, d, up = forward(x)
        h = np.tanh(_conv_np(x, w1, 2, True))
        want_m = np.max([h[:, i:i + 3, j:j + 2] for i in range(2) for j in range(2)], axis=0)
        np.testing.assert_allclose(m.numpy(), want_m, rtol=1e-12)
        hp = np.pad(h, [[0, 0], [0, 1], [1, 1], [0, 0]])  # (SAME: 1 row, 2 columns)
        count = np.pad(np.ones(h.shape), [[0, 0], [0, 1], [1, 1], [0, 0]])
        win = lambda t: sum(t[:, i:i + 3:2, j:j + 3:2] for i in range(3) for j in range(3))
        np.testing.assert_allclose(a.numpy(), win(hp) / win(count), rtol=1e-12)
        want_d = _conv_np(x[..., :1], depthwise[:, :, :1], 1, True)
        want_d = np.concatenate([want_d, _conv_np(x[..., 1:], depthwise[:, :, 1:], 1, True)], -1)
        np.testing.assert_allclose(d.numpy(), want_d, rtol=1e-10, atol=1e-12)
        # Each input pixel spreads the kernel over its own 2 x 2 block.
        want_up = np.einsum("nijc,aboc->niajbo", a.numpy(), w2).reshape(batch, 4, 4, 3)
        np.testing.assert_allclose(up.numpy(), want_up, rtol=1e-10, atol=1e-12)
    assert forward.trace_count == 1

    def loss(x):
        return sum(kiln.reduce_sum(t * t) for t in net(x))

    @kiln.function(input_signature=[kiln.TensorSpec((None, 7, 5, 2), kiln.float64)])
    def grad(x):
        with kiln.GradientTape() as tape:
            tape.watch(x)
            value = loss(x)
        return tape.gradient(value, x)

    x = rng.normal(size=(2, 7, 5, 2))
    np.testing.assert_allclose(grad(x).numpy(),
                               central(lambda v: float(loss(kiln.constant(v))), x),
                               rtol=1e-6, atol=1e-8)


def test_keras_convolutional_layers_over_an_open_batch():
    # A Keras model with every windowed layer, compiled once with the batch
    # open and trained a step: its loss and gradients match the same step
    # with the batch fixed (as TensorFlow traces a model for an
    # input_signature of None).
    L = kiln.layers

    def model():
        kiln.random.set_seed(4)
        m = kiln.keras.Sequential([
            L.Conv2D(4, 3, padding="same", activation="relu"), L.MaxPool2D(2),
            L.DepthwiseConv2D(3, padding="same"), L.Conv2DTranspose(3, 2, strides=2),
            L.UpSampling2D(2), L.AvgPool2D(2), L.Reshape((-1, 3)),
            L.Conv1D(2, 3), L.MaxPool1D(2), L.Flatten(), L.Dense(5)])
        m(kiln.zeros((1, 8, 8, 1)))
        return m

    x = np.random.default_rng(0).normal(size=(6, 8, 8, 1)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 5, 6).astype(np.int32)
    results = []
    for batch in (6, None):
        m = model()

        @kiln.function(input_signature=[kiln.TensorSpec((batch, 8, 8, 1), kiln.float32),
                                        kiln.TensorSpec((batch,), kiln.int32)])
        def step(x, y):
            with kiln.GradientTape() as tape:
                loss = kiln.reduce_mean(
                    kiln.nn.sparse_softmax_cross_entropy_with_logits(y, m(x)))
            return loss, tape.gradient(loss, m.trainable_variables)

        loss, grads = step(x, y)
        results.append((float(loss), [g.numpy() for g in grads]))
        if batch is None:
            step(x[:2], y[:2])
            assert step.trace_count == 1
    (fixed, fixed_grads), (open_, open_grads) = results
    assert abs(fixed - open_) < 1e-5
    for a, b in zip(fixed_grads, open_grads):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def test_gradient_of_an_empty_result_beside_an_open_extent():
    # Found by the random programs: expand_dims of a [?, 0] product; its
    # cotangent's reshape back to [?, 0] has no element count to divide, so
    # it takes the open extent from the input (it failed to compile).
    w = kiln.constant(np.zeros((1, 0)))

    @kiln.function(input_signature=[kiln.TensorSpec([None, None], kiln.float64)])
    def grad(x):
        with kiln.GradientTape() as tape:
            tape.watch(x)
            y = kiln.expand_dims(kiln.matmul(x, w), -1)
            loss = kiln.reduce_sum(y * y) + kiln.reduce_sum(x)
        return y, tape.gradient(loss, x)

    for rows in (3, 1):
        y, dx = grad(np.ones((rows, 1)))
        assert y.shape == (rows, 0, 1)
        np.testing.assert_array_equal(dx.numpy(), np.ones((rows, 1)))


def test_window_helpers_over_an_open_batch_and_their_errors():
    # reverse along a known axis of an open-batch tensor (NumPy's flip); a
    # conv2d_transpose whose output batch is another tensor's open extent
    # is refused at the line; Keras' short pooling names are the classes.
    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float32),
                                    kiln.TensorSpec((None, 2, 2, 1), kiln.float32)])
    def f(x, img):
        return kiln.reverse(x, [1])

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(f(x, np.zeros((1, 2, 2, 1), np.float32)).numpy(), x[:, ::-1])

    w = kiln.constant(np.ones((2, 2, 1, 1), np.float32))

    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float32),
                                    kiln.TensorSpec((None, 2, 2, 1), kiln.float32)])
    def g(x, img):
        return kiln.nn.conv2d_transpose(img, w, [kiln.shape(x)[0], 4, 4, 1], 2, "SAME")

    with pytest.raises(kiln.errors.UnimplementedError,
                       match=r"test_open_shapes.py:\d+: conv2d_transpose: the batch of "
                             r"output_shape is an open extent of another tensor"):
        g(x, np.zeros((2, 2, 2, 1), np.float32))
    L = kiln.layers
    assert L.MaxPool2D is L.MaxPooling2D and L.AvgPool1D is L.AveragePooling1D
    assert L.GlobalAvgPool2D is L.GlobalAveragePooling2D and \
        L.GlobalMaxPool1D is L.GlobalMaxPooling1D


def test_a_branch_result_of_an_open_extent_feeding_a_scatter():
    # The scatter checks that its updates fit the indices: the updates' extent
    # is a cond's result, one branch passing the input through and the other
    # computing a new tensor of its extent; the shape function follows both.
    @kiln.function(input_signature=[kiln.TensorSpec([None, 2], kiln.int64),
                                    kiln.TensorSpec([None], kiln.float32),
                                    kiln.TensorSpec([], kiln.float32)])
    def f(idx, vals, x):
        chosen = kiln.cond(x > 0, lambda: vals, lambda: vals * 3.0)
        return kiln.scatter_nd(idx, chosen, [2, 3])

    for n, x in ((2, -1.0), (3, 1.0), (0, -1.0)):
        idx = np.array([[0, 1], [1, 2], [0, 0]][:n], np.int64).reshape(n, 2)
        vals = np.arange(1, n + 1, dtype=np.float32)
        want = np.zeros((2, 3), np.float32)
        want[tuple(idx.T)] = vals * (3.0 if x < 0 else 1.0)
        np.testing.assert_array_equal(f(idx, vals, np.float32(x)).numpy(), want)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="updates does not match"):
        f(np.zeros((2, 2), np.int64), np.ones(3, np.float32), np.float32(1.0))


def test_scatter_nd_along_an_open_first_dimension():
    """tensor_scatter_nd_* with indices of depth 1 and scatter_nd into a
    shape computed when the code runs: one trace for every batch size,
    against NumPy; the gradient of tensor_scatter_nd_update against its
    formula (ones, zero at the replaced rows; the updates' own)."""
    spec = [kiln.TensorSpec([None, 4], kiln.float32), kiln.TensorSpec([None, 1], kiln.int32),
            kiln.TensorSpec([None, 4], kiln.float32), kiln.TensorSpec([None, 4], kiln.float32)]

    @kiln.function(input_signature=spec)
    def f(t, idx, upd, w):
        with kiln.GradientTape() as tape:
            tape.watch([t, upd])
            out = kiln.tensor_scatter_nd_update(t, idx, upd)
            loss = kiln.reduce_sum(out * w)
        return (out, kiln.tensor_scatter_nd_add(t, idx, upd),
                kiln.tensor_scatter_nd_min(t, idx, upd),
                kiln.scatter_nd(idx, upd, kiln.shape(t)), tape.gradient(loss, [t, upd]))

    rng = np.random.default_rng(8)
    for n, rows in ((5, [1, 3]), (9, [8, 0, 4])):
        t = rng.normal(size=(n, 4)).astype(np.float32)
        idx = np.array(rows, np.int32)[:, None]
        upd = rng.normal(size=(len(rows), 4)).astype(np.float32)
        w = rng.normal(size=(n, 4)).astype(np.float32)
        out, added, least, scattered, (dt, dupd) = f(t, idx, upd, w)
        want = t.copy()
        want[rows] = upd
        np.testing.assert_array_equal(out.numpy(), want)
        want = t.copy()
        np.add.at(want, rows, upd)
        np.testing.assert_allclose(added.numpy(), want, rtol=1e-6)
        want = t.copy()
        want[rows] = np.minimum(t[rows], upd)
        np.testing.assert_array_equal(least.numpy(), want)
        want = np.zeros_like(t)
        want[rows] = upd
        np.testing.assert_array_equal(scattered.numpy(), want)
        want = w.copy()
        want[rows] = 0
        np.testing.assert_allclose(dt.numpy(), want, rtol=1e-6)
        np.testing.assert_allclose(dupd.numpy(), w[rows], rtol=1e-6)
    assert f.trace_count == 1
    with pytest.raises(kiln.errors.InvalidArgumentError, match="out of range for the first"):
        f(t, np.array([[n]], np.int32), upd[:1], w)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="updated twice"):
        f(t, np.array([[2], [2]], np.int32), upd[:2], w)
    # deeper indices into open extents: a clear error, as before
    @kiln.function(input_signature=[kiln.TensorSpec([None, 4], kiln.float32)])
    def deep(t):
        return kiln.tensor_scatter_nd_add(t, kiln.constant([[0, 1]]), kiln.constant([1.0]))
    with pytest.raises(kiln.errors.UnimplementedError, match="every extent of its input known"):
        deep(t)
