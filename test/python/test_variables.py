"""kiln.Variable and implicit gradients."""

import numpy as np
import pytest

import kiln


def test_implicit_gradients_of_the_variables_used():
    x = kiln.Variable(1.0, name="x")
    y = kiln.Variable(2.0, name="y")
    pairs = kiln.implicit_gradients(lambda: x * x)()
    assert len(pairs) == 1
    grad, var = pairs[0]
    assert var is x and float(grad) == 2.0
    value, pairs = kiln.implicit_value_and_gradients(lambda: x ** 2 + y ** 3)()
    assert float(value) == 9.0
    assert [(float(g), v.name) for g, v in pairs] == [(2.0, "x:0"), (12.0, "y:0")]
    frozen = kiln.Variable(3.0, trainable=False)
    with pytest.raises(ValueError, match="no trainable variable"):
        kiln.implicit_gradients(lambda: frozen * 2.0)()


def test_assignments_and_reads():
    v = kiln.Variable([1.0, 2.0], name="v")
    before = v.value()
    v.assign_add([1.0, 1.0])
    v.assign_sub([0.5, 0.5])
    np.testing.assert_array_equal(v.numpy(), [1.5, 2.5])
    # Tensors read before an assignment keep their value.
    np.testing.assert_array_equal(before.numpy(), [1.0, 2.0])
    assert v.shape == (2,) and v.dtype == kiln.float32 and v.name == "v:0"
    np.testing.assert_array_equal((v * 2).numpy(), [3, 5])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="shape"):
        v.assign([1.0, 2.0, 3.0])
    assert kiln.Variable(0.0, name="v").name != v.name  # unique names


def test_tape_watches_variables_and_takes_them_as_sources():
    w = kiln.Variable([[1.0], [2.0]])
    x = kiln.constant([[3.0, 4.0]])
    with kiln.GradientTape() as tape:
        y = kiln.reduce_sum(x @ w)
    np.testing.assert_array_equal(tape.gradient(y, w).numpy(), [[3], [4]])
    with kiln.GradientTape(watch_accessed_variables=False) as tape:
        y = kiln.reduce_sum(x @ w)
    assert tape.gradient(y, w) is None


def test_huber_regression_with_per_sample_sgd():
    # The seeds' eager program: a Python `if` on a tensor value per sample.
    rng = np.random.default_rng(3)
    xs = rng.uniform(-1, 1, 64).astype(np.float32)
    ys = (3.0 * xs + 0.5 + rng.normal(0, 0.05, 64)).astype(np.float32)
    w, b = kiln.Variable(0.0), kiln.Variable(0.0)

    def huber(err, m=1.0):
        if kiln.abs(err) <= m:
            return 0.5 * err * err
        return m * kiln.abs(err) - 0.5 * m * m

    for _ in range(6):
        for x, y in zip(xs, ys):
            with kiln.GradientTape() as tape:
                loss = huber(y - (w * x + b))
            gw, gb = tape.gradient(loss, [w, b])
            w.assign_sub(0.1 * gw)
            b.assign_sub(0.1 * gb)
    assert abs(float(w) - 3.0) < 0.15 and abs(float(b) - 0.5) < 0.1


def test_a_declared_open_shape_lets_assignments_change_the_shape():
    """tf.Variable(..., shape=[None, 3]) / TensorShape(None) /
    validate_shape=False: eager assignments within the declared shape change
    the value's shape (an accumulator of rows), `shape` reports the value's,
    a compiled function reading it is traced again for the new shape,
    and compiled code refuses to change it with an error that says why.
    TensorFlow's other Variable arguments are accepted."""
    rows = kiln.Variable(np.zeros((0, 3), np.float32), shape=[None, 3], trainable=False,
                         aggregation=kiln.VariableAggregation.ONLY_FIRST_REPLICA,
                         synchronization=kiln.VariableSynchronization.ON_WRITE,
                         caching_device=None)
    total = kiln.function(lambda: kiln.reduce_sum(rows, 0))
    expect = np.zeros((0, 3), np.float32)
    for k in range(3):
        new = np.full((1, 3), k + 1.0, np.float32)
        rows.assign(kiln.concat([rows, new], 0))
        expect = np.concatenate([expect, new])
        assert rows.shape == (k + 1, 3)   # (the value's; assignments may change it)
        np.testing.assert_array_equal(total().numpy(), expect.sum(0))
    assert total.trace_count == 3
    np.testing.assert_array_equal(total().numpy(), expect.sum(0))
    assert total.trace_count == 3   # (the same shape: no new trace)

    with pytest.raises(kiln.errors.InvalidArgumentError, match=r"of shape \(None, 3\)"):
        rows.assign(np.zeros((2, 4), np.float32))

    @kiln.function
    def shrink():
        rows.assign(kiln.zeros([1, 3]))
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match="compiled code keeps the shape it was traced for"):
        shrink()

    anything = kiln.Variable(kiln.zeros([2]), shape=kiln.TensorShape(None))
    anything.assign(np.ones((2, 2), np.float32))
    assert anything.shape == (2, 2)
    np.testing.assert_array_equal(anything.numpy(), np.ones((2, 2)))
    loose = kiln.Variable(1.0, validate_shape=False)
    loose.assign(np.zeros(4, np.float32))
    assert loose.shape == (4,)
    assert repr(kiln.TensorShape(None)) == "TensorShape(None)" and \
        kiln.TensorShape(None).rank is None
    with pytest.raises(ValueError, match="not compatible with the shape argument"):
        kiln.Variable(np.zeros(3, np.float32), shape=[4])
    with pytest.raises(ValueError, match="unknown rank"):
        len(kiln.TensorShape(None))
    assert not kiln.Variable(0.0, synchronization=kiln.VariableSynchronization.ON_READ).trainable


def test_a_function_may_create_variables_on_its_first_call_only():
    """tf.function's rule: a variable made on every call (a local
    kiln.Variable) is a ValueError, not one variable silently shared by
    the calls; made once (kept on an object) it is fine, traced once."""
    @kiln.function
    def counter(x):
        v = kiln.Variable(0.0)
        v.assign_add(x)
        return v.read_value()

    with pytest.raises(ValueError, match="creates kiln.Variables on every call"):
        counter(kiln.constant(1.0))

    class Lazy(kiln.Module):
        def __init__(self):
            super().__init__()
            self.w = None

        @kiln.function
        def __call__(self, x):
            if self.w is None:
                self.w = kiln.Variable(kiln.ones([x.shape[-1], 2]))
            return x @ self.w

    lazy = Lazy()
    np.testing.assert_array_equal(lazy(kiln.ones([1, 3])).numpy(), [[3.0, 3.0]])
    np.testing.assert_array_equal(lazy(kiln.ones([1, 3])).numpy(), [[3.0, 3.0]])
    assert lazy.__call__.trace_count == 1
