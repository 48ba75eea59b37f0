"""The dispatch core and its fast paths (issue: one dispatch core, speed):
each fast path must give what the general path gives. Oracles: NumPy, and
the derivatives worked out by hand."""

import math

import numpy as np
import pytest

import kiln
from kiln import _kiln, core


def test_eager_native_call_returns_kiln_tensors_and_reports_errors():
    a = kiln.constant([1.0, 2.0, 3.0])
    (out,) = _kiln.eager("mul", [a, a], None, (), "cpu")
    assert type(out) is kiln.Tensor
    np.testing.assert_array_equal(out.numpy(), [1.0, 4.0, 9.0])
    with pytest.raises(TypeError, match="not an eager kiln.Tensor"):
        _kiln.eager("mul", [a, object()], None, (), "cpu")
    with pytest.raises(_kiln.NativeError, match="not broadcast-compatible"):
        _kiln.eager("add", [a, kiln.constant([1.0, 2.0])], None, (), "cpu")
    with pytest.raises(TypeError):
        _kiln.eager("add", [a, a])


def test_bind_routes_to_traces_and_tapes():
    x = kiln.constant(3.0)
    with kiln.GradientTape() as tape:
        tape.watch(x)
        y = core.bind1("mul", [x, x])
    assert tape.gradient(y, x).numpy() == 6.0  # d(x^2)/dx

    @kiln.function
    def f(v):
        return core.bind1("mul", [v, v])
    assert f(kiln.constant(4.0)).numpy() == 16.0
    assert "kiln.mul" in f.get_concrete_function(kiln.constant(4.0)).mlir


def test_python_scalars_keep_their_value_sign_and_dtype():
    """Python numbers used as operands are converted once and shared; the
    result must not depend on that (zeros' signs, NaN, dtypes, bad casts)."""
    x = kiln.constant([1.0, -2.0])
    np.testing.assert_array_equal(np.signbit((x * -0.0).numpy()), [True, False])
    np.testing.assert_array_equal(np.signbit((x * 0.0).numpy()), [False, True])
    assert np.isnan((x + math.nan).numpy()).all()
    d = kiln.constant([1.0, 2.0], dtype=kiln.float64)
    assert (d * 2.0).dtype == kiln.float64 and (x * 2.0).dtype == kiln.float32
    i = kiln.constant([1, 2])
    assert (i * 2).dtype == kiln.int32 and (i * 2).numpy().tolist() == [2, 4]
    with pytest.raises(TypeError, match="cannot convert 1.5"):
        i * 1.5
    assert (x * True).numpy().tolist() == [1.0, -2.0]
    # A source given as a Python number is a new tensor, not the shared
    # operand: its gradient is None, as in TensorFlow.
    with kiln.GradientTape() as tape:
        y = x * 2.0
    assert tape.gradient(y, 2.0) is None


def test_compiled_calls_take_the_fast_path_only_when_it_fits():
    calls = []

    @kiln.function
    def f(a, b):
        calls.append(1)
        return a * b, {"sum": a + b}

    a, b = kiln.constant([1.0, 2.0]), kiln.constant([3.0, 4.0])
    for _ in range(3):
        prod, extra = f(a, b)
        np.testing.assert_array_equal(prod.numpy(), [3.0, 8.0])
        np.testing.assert_array_equal(extra["sum"].numpy(), [4.0, 6.0])
    assert len(calls) == 1 and f._fast
    # Another shape traces again; NumPy arguments take the general path.
    np.testing.assert_array_equal(f(kiln.constant([2.0]), kiln.constant([5.0]))[0].numpy(), [10.0])
    np.testing.assert_array_equal(f(np.float32([1, 2]), b)[0].numpy(), [3.0, 8.0])
    assert len(calls) == 2
    # Another dtype too.
    f(kiln.constant([1.0, 2.0], dtype=kiln.float64), kiln.constant([1.0, 2.0], dtype=kiln.float64))
    assert len(calls) == 3


def test_compiled_calls_follow_variable_updates_between_calls():
    v = kiln.Variable(1.0)

    @kiln.function
    def step(x):
        v.assign_add(x)
        return v.read_value()

    one = kiln.constant(1.0)
    assert step(one).numpy() == 2.0
    assert step(one).numpy() == 3.0
    v.assign(10.0)  # eagerly, between compiled calls
    assert step(one).numpy() == 11.0
    assert v.numpy() == 11.0


def test_tape_gradient_cache_tells_outputs_of_one_op_apart():
    """Two tapes whose ops differ only in which output of a two-output op
    they use must not share a compiled gradient."""
    @kiln.custom_gradient
    def two(x):
        def grad(da, db):
            return 2.0 * da + 3.0 * db
        return (x * 1.0, x * 1.0), grad

    x = kiln.constant(1.5)
    for position, expected in ((0, 2.0), (1, 3.0), (0, 2.0)):
        with kiln.GradientTape() as tape:
            tape.watch(x)
            outs = two(x)
            y = outs[position] * 1.0
        assert tape.gradient(y, x).numpy() == expected


def test_user_location_names_the_callers_line():
    from kiln import errors

    def where():
        return errors.user_location()
    here = where()
    assert here.endswith(f"test_dispatch.py:{where.__code__.co_firstlineno + 1}")
    with pytest.raises(kiln.errors.InvalidArgumentError, match=r"test_dispatch.py:\d+: "):
        kiln.constant([1.0, 2.0]) + kiln.constant([1.0, 2.0, 3.0])
