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
