"""kiln.nest against tf.nest's documented behaviour, and map_fn /
vectorized_map against NumPy loops, eagerly and compiled (one kiln.for),
with gradients against central differences."""

import collections

import numpy as np
import pytest

import kiln

Point = collections.namedtuple("Point", ["x", "y"])


def test_nest_flatten_pack_map_and_structure_checks():
    s = {"b": [1, (2, 3)], "a": Point(4, None), "c": {"z": 5, "y": 6}}
    # Dicts by sorted key, namedtuples and tuples in order, None a leaf.
    assert kiln.nest.flatten(s) == [4, None, 1, 2, 3, 6, 5]
    assert kiln.nest.flatten(7) == [7]
    packed = kiln.nest.pack_sequence_as(s, list("abcdefg"))
    assert packed == {"b": ["c", ("d", "e")], "a": Point("a", "b"), "c": {"z": "g", "y": "f"}}
    assert type(packed["a"]) is Point and list(packed["c"]) == ["z", "y"]
    d = collections.defaultdict(list, {"k": 1})
    assert kiln.nest.pack_sequence_as(d, [2]).default_factory is list
    doubled = kiln.nest.map_structure(lambda a, b: a + b, [1, (2, 3)], [10, (20, 30)])
    assert doubled == [11, (22, 33)]
    assert kiln.nest.is_nested([1]) and kiln.nest.is_nested({}) and not kiln.nest.is_nested("ab")
    with pytest.raises(ValueError, match="2 items against 3"):
        kiln.nest.assert_same_structure([1, 2], [1, 2, 3])
    with pytest.raises(TypeError, match="list against tuple"):
        kiln.nest.assert_same_structure([1, 2], (1, 2))
    kiln.nest.assert_same_structure([1, 2], (1, 2), check_types=False)
    with pytest.raises(ValueError, match="different keys"):
        kiln.nest.assert_same_structure({"a": 1}, {"b": 1})
    with pytest.raises(ValueError, match="at '1': a leaf against a list"):
        kiln.nest.assert_same_structure([1, 2], [1, [2]])
    # Namedtuple classes of one name and fields count as one type (TF).
    Again = collections.namedtuple("Point", ["x", "y"])
    kiln.nest.assert_same_structure(Point(1, 2), Again(3, 4))
    with pytest.raises(TypeError, match="Point against Other"):
        kiln.nest.assert_same_structure(Point(1, 2), collections.namedtuple("Other", "x y")(1, 2))
    with pytest.raises(ValueError, match="3 leaves but flat_sequence has 2"):
        kiln.nest.pack_sequence_as([1, [2, 3]], [1, 2])


def test_map_fn_matches_numpy_eager_and_compiled():
    rng = np.random.default_rng(0)
    a0, b0 = rng.normal(size=(5, 3)), rng.normal(size=(5, 3, 2))
    w0 = rng.normal(size=(3, 2))
    w = kiln.Variable(w0)

    def per_row(pair):
        row, mat = pair
        return {"dot": kiln.reduce_sum(row * kiln.reduce_sum(mat * w, axis=1)),
                "scaled": Point(row * 2.0, kiln.tanh(mat))}

    want_dot = np.array([np.sum(a0[i] * np.sum(b0[i] * w0, axis=1)) for i in range(5)])
    run = lambda a, b: kiln.map_fn(per_row, (a, b))
    compiled = kiln.function(run)
    for f in (run, compiled):
        out = f(kiln.constant(a0), kiln.constant(b0))
        np.testing.assert_allclose(out["dot"].numpy(), want_dot, rtol=1e-12)
        assert isinstance(out["scaled"], Point)
        np.testing.assert_allclose(out["scaled"].x.numpy(), 2 * a0, rtol=1e-12)
        np.testing.assert_allclose(out["scaled"].y.numpy(), np.tanh(b0), rtol=1e-12)
    # Compiled: one loop, not one copy of fn per element.
    text = compiled.get_concrete_function(kiln.constant(a0), kiln.constant(b0)).mlir
    assert text.count("kiln.for") == 1 and text.count("kiln.tanh") == 1
    # vectorized_map gives the same.
    np.testing.assert_allclose(
        kiln.vectorized_map(lambda r: kiln.reduce_max(r), kiln.constant(a0)).numpy(),
        a0.max(axis=1))


def test_map_fn_gradients_and_signatures():
    rng = np.random.default_rng(1)
    x0 = rng.normal(size=(4, 3))

    def f_numpy(x):
        return float(sum(np.sum(np.sin(r) * r[0]) for r in x))

    def loss(x):
        return kiln.reduce_sum(kiln.map_fn(lambda r: kiln.sin(r) * r[0], x))

    def grad(x):
        with kiln.GradientTape() as tape:
            tape.watch(x)
            y = loss(x)
        return tape.gradient(y, x)

    h = 1e-6
    numeric = np.zeros_like(x0)
    for i in np.ndindex(x0.shape):
        e = np.zeros_like(x0)
        e[i] = h
        numeric[i] = (f_numpy(x0 + e) - f_numpy(x0 - e)) / (2 * h)
    for g in (grad, kiln.function(grad)):
        np.testing.assert_allclose(g(kiln.constant(x0)).numpy(), numeric, rtol=1e-7, atol=1e-9)

    x = kiln.constant(x0)
    ints = kiln.map_fn(lambda r: kiln.cast(kiln.argmax(r), kiln.int32), x,
                       fn_output_signature=kiln.int32)
    np.testing.assert_array_equal(ints.numpy(), x0.argmax(axis=1))
    with pytest.raises(TypeError, match="float64 tensor where fn_output_signature says float32"):
        kiln.map_fn(lambda r: r, x, fn_output_signature=kiln.float32)
    with pytest.raises(TypeError, match="float64 tensor where fn_output_signature says int32"):
        kiln.function(lambda v: kiln.map_fn(lambda r: r, v, dtype=kiln.int32))(x)
    # Empty elems: the signature (or elems) says what the empty result is.
    empty = kiln.constant(np.zeros((0, 3)))
    assert kiln.map_fn(lambda r: r, empty).shape == (0, 3)
    spec = kiln.TensorSpec((2,), kiln.float32)
    assert kiln.map_fn(lambda r: r[:2], empty, fn_output_signature=spec).shape == (0, 2)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="same first dimension"):
        kiln.map_fn(lambda p: p[0], (x, kiln.constant(np.ones(3))))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="for one element"):
        kiln.map_fn(lambda r: r[: int(r[0].numpy() > 0) + 1], x)


def test_namedtuples_come_back_from_functions_and_loops():
    """A compiled function returning a namedtuple, and while_loop with
    namedtuple loop variables, give the namedtuple back (they raised)."""
    f = kiln.function(lambda v: Point(v * 2.0, v + 1.0))
    p = f(kiln.constant([1.5]))
    assert isinstance(p, Point)
    np.testing.assert_allclose(p.x.numpy(), [3.0])
    np.testing.assert_allclose(p.y.numpy(), [2.5])

    def doubling(v):
        return kiln.while_loop(lambda x, n: x < 100.0,
                               lambda x, n: (x * 2.0, n + 1),
                               Point(v, kiln.constant(0)))
    for run in (doubling, kiln.function(doubling)):
        out = run(kiln.constant(3.0))
        assert isinstance(out, Point)
        assert float(out.x.numpy()) == 192.0 and int(out.y.numpy()) == 6


def test_map_fn_reading_and_assigning_a_variable_each_element():
    """fn that reads and assigns a variable (assign_add) sees each
    element's update, compiled as eagerly (a read hoisted out of the
    dropped shape trace must not serve the loop)."""
    for compiled in (False, True):
        total = kiln.Variable(0.0)

        def running(xs):
            return kiln.map_fn(lambda v: total.assign_add(v) * 1.0, xs)
        run = kiln.function(running) if compiled else running
        out = run(kiln.constant([1.0, 2.0, 3.0]))
        assert float(total.numpy()) == 6.0
        np.testing.assert_allclose(out.numpy(), [1.0, 3.0, 6.0])


def test_loop_learning_an_array_shape_while_assigning_a_variable():
    """A kiln.range loop whose TensorArray learns its element shape on the
    first try (so the loop is traced again) and whose body reads and
    assigns a variable: the second trace reads it in the body too."""
    total = kiln.Variable(0.0)

    @kiln.function
    def running(xs):
        ta = kiln.TensorArray(kiln.float32, size=3)
        for i in kiln.range(3):
            total.assign_add(xs[i])
            ta = ta.write(i, total.value() * 1.0)
        return ta.stack()
    out = running(kiln.constant([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(out.numpy(), [1.0, 3.0, 6.0])
    assert float(total.numpy()) == 6.0
