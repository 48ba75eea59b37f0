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
        return kiln.zeros([kiln.shape(x)[0], 7])  # (no tensor has this shape)
    with pytest.raises(kiln.errors.UnimplementedError, match="zeros: the shape is computed"):
        zeros_of(kiln.ones((2, 3)))

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
