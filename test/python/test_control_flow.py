"""kiln.cond and kiln.while_loop, eager and traced, with gradients."""

import numpy as np
import pytest

import kiln


def collatz_steps(n):
    def cond(n, steps):
        return n > 1

    def body(n, steps):
        half = kiln.cast(kiln.cast(n, kiln.float32) / 2.0, kiln.int32)
        odd = kiln.greater(n - half * 2, 0)
        return kiln.where(odd, 3 * n + 1, half), steps + 1

    return kiln.while_loop(cond, body, (n, kiln.constant(0)))[1]


def test_cond_and_while_loop_eager_and_traced():
    def f(x):
        y = kiln.cond(kiln.reduce_sum(x) > 0, lambda: x * 2.0, lambda: -x)
        return y

    traced = kiln.function(f)
    for v in ([1.0, 2.0], [-1.0, -2.0]):
        np.testing.assert_array_equal(traced(kiln.constant(v)).numpy(),
                                      f(kiln.constant(v)).numpy())
        a = np.array(v, np.float32)  # NumPy's answer
        np.testing.assert_array_equal(traced(kiln.constant(v)).numpy(),
                                      a * 2.0 if a.sum() > 0 else -a)
    assert traced.trace_count == 1  # one trace serves both branches
    assert "kiln.cond" in traced.get_concrete_function(kiln.constant([1.0, 2.0])).mlir
    steps = kiln.function(collatz_steps)
    def python_collatz(n):  # the oracle: Python's integers
        count = 0
        while n > 1:
            n, count = (3 * n + 1 if n % 2 else n // 2), count + 1
        return count

    for n in (6, 7, 27):
        assert int(steps(kiln.constant(n))) == int(collatz_steps(kiln.constant(n)))
        assert int(steps(kiln.constant(n))) == python_collatz(n)
    assert int(steps(kiln.constant(27))) == 111
    assert "kiln.while" in steps.get_concrete_function(kiln.constant(6)).mlir


def test_branch_types_must_agree():
    @kiln.function
    def f(x):
        return kiln.cond(x > 0, lambda: x, lambda: kiln.stack([x, x]))

    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"true_fn returns \(float32\[\]\) but false_fn returns \(float32\[2\]\)"):
        f(kiln.constant(1.0))


def test_gradients_through_traced_control_flow_match_eager():
    def loss(x):
        # Double x until its sum passes 10, then a branch on the result.
        y = kiln.while_loop(lambda v: kiln.reduce_sum(v) < 10.0,
                            lambda v: v * 2.0 + kiln.sin(v), x)
        return kiln.cond(kiln.reduce_max(y) > 8.0,
                         lambda: kiln.reduce_sum(y * y),
                         lambda: kiln.reduce_sum(kiln.exp(y)))

    def grad(x):
        with kiln.GradientTape() as tape:
            tape.watch(x)
            l = loss(x)
        return tape.gradient(l, x)

    def numpy_loss(x):  # the same program in NumPy: the independent oracle
        y = x.copy()
        while y.sum() < 10.0:
            y = y * 2.0 + np.sin(y)
        return (y * y).sum() if y.max() > 8.0 else np.exp(y).sum()

    traced = kiln.function(grad)
    for v in ([0.5, 0.25], [1.5, 2.0], [0.1, 0.1]):
        x = kiln.constant(np.array(v))
        np.testing.assert_allclose(traced(x).numpy(), grad(x).numpy(), rtol=1e-12)
        fd = np.array([(numpy_loss(np.array(v) + e) - numpy_loss(np.array(v) - e)) / 2e-7
                       for e in np.eye(2) * 1e-7])
        np.testing.assert_allclose(traced(x).numpy(), fd, rtol=1e-5)


def test_huber_regression_eager_and_compiled_reach_the_same_weights():
    rng = np.random.default_rng(3)
    xs = rng.uniform(-1, 1, 32).astype(np.float32)
    ys = (3.0 * xs + 0.5 + rng.normal(0, 0.05, 32)).astype(np.float32)

    def huber_eager(err, m=1.0):
        if kiln.abs(err) <= m:  # a Python `if` on a tensor value: eager only
            return 0.5 * err * err
        return m * kiln.abs(err) - 0.5 * m * m

    def huber_traced(err, m=1.0):
        return kiln.cond(kiln.abs(err) <= m, lambda: 0.5 * err * err,
                         lambda: m * kiln.abs(err) - 0.5 * m * m)

    def make_step(huber, w, b):
        def step(x, y):
            with kiln.GradientTape() as tape:
                loss = huber(y - (w * x + b))
            gw, gb = tape.gradient(loss, [w, b])
            w.assign_sub(0.1 * gw)
            b.assign_sub(0.1 * gb)
        return step

    we, be = kiln.Variable(0.0), kiln.Variable(0.0)
    wc, bc = kiln.Variable(0.0), kiln.Variable(0.0)
    eager = make_step(huber_eager, we, be)
    compiled = kiln.function(make_step(huber_traced, wc, bc))
    for _ in range(3):
        for x, y in zip(xs, ys):
            eager(kiln.constant(x), kiln.constant(y))
            compiled(kiln.constant(x), kiln.constant(y))
    np.testing.assert_allclose(float(wc), float(we), rtol=1e-5)
    np.testing.assert_allclose(float(bc), float(be), rtol=1e-5, atol=1e-6)
    assert abs(float(wc) - 3.0) < 0.5
    # NumPy's SGD on the Huber loss, derivative by hand: the same weights.
    w = b = np.float32(0.0)
    for _ in range(3):
        for x, y in zip(xs, ys):
            err = y - (w * x + b)
            d = err if abs(err) <= 1.0 else np.sign(err)  # dloss/derr
            w, b = w - np.float32(0.1) * (-d * x), b - np.float32(0.1) * (-d)
    np.testing.assert_allclose(float(wc), w, rtol=1e-4)
    np.testing.assert_allclose(float(bc), b, rtol=1e-4, atol=1e-5)


def test_kiln_range_and_tensor_array_eager_and_traced():
    def rnn(xs, w, u, steps):
        h = kiln.zeros((2, 3), kiln.float64)
        outputs = kiln.TensorArray(kiln.float64, size=4, element_shape=(2, 3))
        for t in kiln.range(steps):
            h = kiln.tanh(xs[t] @ w + h @ u)
            outputs = outputs.write(t, h)
        return outputs.stack(), h

    rng = np.random.default_rng(5)
    xs = kiln.constant(rng.normal(size=(4, 2, 2)))
    w = kiln.constant(rng.normal(size=(2, 3)))
    u = kiln.constant(rng.normal(size=(3, 3)))
    traced = kiln.function(rnn)
    for steps in (4, 2):
        eager_out, eager_h = rnn(xs, w, u, kiln.constant(steps))
        out, h = traced(xs, w, u, kiln.constant(steps))
        np.testing.assert_allclose(out.numpy(), eager_out.numpy(), rtol=1e-12)
        np.testing.assert_allclose(h.numpy(), eager_h.numpy(), rtol=1e-12)
    assert traced.trace_count == 1  # the step count is a run-time value
    assert "kiln.for" in traced.get_concrete_function(xs, w, u, kiln.constant(4)).mlir

    # Gradients through the loop, compiled vs eager.
    def grads(xs, w, u, steps):
        with kiln.GradientTape() as tape:
            tape.watch([w, u])
            out, h = rnn(xs, w, u, steps)
            loss = kiln.reduce_sum(out * out) + kiln.reduce_sum(h)
        return tape.gradient(loss, [w, u])

    g_eager = grads(xs, w, u, kiln.constant(4))
    g_traced = kiln.function(grads)(xs, w, u, kiln.constant(4))
    for a, b in zip(g_traced, g_eager):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10)

    # Against NumPy: the outputs, and the gradients by central differences.
    def numpy_rnn(xv, wv, uv, steps):
        h, outs = np.zeros((2, 3)), np.zeros((4, 2, 3))
        for t in range(steps):
            h = np.tanh(xv[t] @ wv + h @ uv)
            outs[t] = h
        return outs, h

    def numpy_loss(wv, uv):
        outs, h = numpy_rnn(xs.numpy(), wv, uv, 4)
        return (outs * outs).sum() + h.sum()
    outs, h = numpy_rnn(xs.numpy(), w.numpy(), u.numpy(), 2)
    np.testing.assert_allclose(traced(xs, w, u, kiln.constant(2))[0].numpy(), outs, rtol=1e-12)
    for k, (g, base) in enumerate(zip(g_traced, (w.numpy(), u.numpy()))):
        fd = np.zeros_like(base)
        for i in range(base.size):
            e = np.zeros_like(base)
            e.flat[i] = 1e-6
            args = [w.numpy(), u.numpy()]
            plus, minus = list(args), list(args)
            plus[k], minus[k] = base + e, base - e
            fd.flat[i] = (numpy_loss(*plus) - numpy_loss(*minus)) / 2e-6
        np.testing.assert_allclose(g.numpy(), fd, rtol=1e-6, atol=1e-8)


def test_dynamic_rnn_example_trains():
    import importlib.util
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python",
                        "dynamic_rnn.py")
    spec = importlib.util.spec_from_file_location("dynamic_rnn", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    first = float(module.train_step(
        np.zeros((module.STEPS, module.BATCH, module.FEATURES), np.float32),
        np.zeros((module.BATCH, module.HIDDEN), np.float32), kiln.constant(module.STEPS)))
    assert first == 0.0
    assert module.main() < 0.01
    assert module.train_step.trace_count == 1


def test_unsupported_loop_forms_are_reported():
    @kiln.function
    def f(x, n):
        for i in kiln.range(n):
            y = x + 1.0
            del y  # (a `del` keeps the loop Python's)
        return x

    with pytest.raises(kiln.errors.UnimplementedError,
                       match="could not be rewritten into a kiln.for") as info:
        f(kiln.constant(1.0), kiln.constant(3))
    # The file's line of the loop (not a line counted from the function).
    import inspect
    line = inspect.getsourcelines(f._python_function)[1] + 2
    assert str(info.value).startswith(f"{__file__}:{line}:"), str(info.value)
    g = kiln.function(lambda x, n: [x for _ in kiln.range(n)][0])
    with pytest.raises(kiln.errors.UnimplementedError, match="kiln.for_loop"):
        g(kiln.constant(1.0), kiln.constant(2))
    # A range of known length is a tensor: a Python loop over it unrolls.
    h = kiln.function(lambda x: [x * kiln.cast(i, kiln.float32) for i in kiln.range(3)][2])
    assert float(h(kiln.constant(2.0))) == 4.0


def test_tensor_array_indices_out_of_range_raise():
    """Writing or reading past a TensorArray's size is TensorFlow's error
    naming the user's line, for Python ints and eager tensors (before,
    the write was dropped)."""
    ta = kiln.TensorArray(kiln.float32, size=3, element_shape=(2,))
    ta = ta.write(2, [1.0, 2.0])
    np.testing.assert_array_equal(ta.read(kiln.constant(2)).numpy(), [1.0, 2.0])
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"test_control_flow.py:\d+: TensorArray.write: tried "
                             r"to write index 9 but the array's size is 3"):
        ta.write(9, [0.0, 0.0])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="read index -1"):
        ta.read(kiln.constant(-1))


ALIASED = '''
import numpy as np
import kiln as tf
from kiln import range as krange


@tf.function
def add_three(x):
    for i in tf.range(3):
        x = x + 1.0
    return x


@tf.function
def double_four_times(x):
    for i in krange(4):
        x = x * 2.0
    return x


class Recurrent(tf.Model):
    def __init__(self):
        super().__init__()
        self.w = tf.Variable(np.full((2, 2), 0.5, np.float32))

    def call(self, x):
        h = tf.zeros((x.shape[1], 2))
        for t in tf.range(x.shape[0]):
            h = tf.tanh(h @ self.w + x[t])
        return h


model = Recurrent()


@tf.function
def step(x):
    return tf.reduce_sum(model(x))


class Twice(Recurrent):
    def call(self, x):
        h = super().call(x)  # zero-argument super() in a converted method
        for t in tf.range(2):
            h = h * 2.0
        return h


twice = Twice()


@tf.function
def step_twice(x):
    return tf.reduce_sum(twice(x))


class Gated(Recurrent):
    def call(self, x):
        if tf.reduce_sum(x) > 1e9:  # (a tensor: both branches become functions)
            return super().call(x) * 0.0
        return super().call(x) * 3.0


gated = Gated()


@tf.function
def step_gated(x):
    return tf.reduce_sum(gated(x))


SCALE = 1.0


@tf.function
def scaled(x):
    for i in tf.range(2):
        x = x * SCALE
    return x
'''


def test_kiln_range_however_imported_and_inside_model_call(tmp_path):
    """`import kiln as tf` + `tf.range`, `from kiln import range`, and a
    kiln.range loop in a Model's call reached from a compiled step are all
    rewritten into kiln.for loops (one trace whatever the length)."""
    import importlib.util
    path = tmp_path / "aliased.py"
    path.write_text(ALIASED)
    spec = importlib.util.spec_from_file_location("aliased", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert float(module.add_three(kiln.constant(1.0))) == 4.0
    assert float(module.double_four_times(kiln.constant(1.0))) == 16.0
    x = np.random.default_rng(3).normal(size=(5, 3, 2)).astype(np.float32)
    # NumPy oracle of the recurrence.
    h = np.zeros((3, 2))
    for t in range(5):
        h = np.tanh(h @ np.full((2, 2), 0.5) + x[t])
    np.testing.assert_allclose(float(module.step(kiln.constant(x))), h.sum(), rtol=1e-5)
    np.testing.assert_allclose(float(module.step(kiln.constant(x[:2]))),
                               np.tanh(np.tanh(x[0]) @ np.full((2, 2), 0.5) + x[1]).sum(),
                               rtol=1e-5)
    assert "kiln.for" in module.step.get_concrete_function(kiln.constant(x)).mlir
    np.testing.assert_allclose(float(module.step_twice(kiln.constant(x))), 4 * h.sum(),
                               rtol=1e-5)
    # super() inside converted branches (functions of their own).
    np.testing.assert_allclose(float(module.step_gated(kiln.constant(x))), 3 * h.sum(),
                               rtol=1e-5)
    # The converted function reads the module's globals as they are when it
    # traces (not a copy taken at its first conversion).
    assert float(module.scaled(kiln.constant(3.0))) == 3.0
    module.SCALE = 2.0
    np.testing.assert_array_equal(module.scaled(kiln.constant([3.0])).numpy(), [12.0])


def test_nested_cond_compiles():
    """A kiln.cond inside another's branch (it crashed the builder's
    verifier: the inner op sat in a region not yet under the function)."""
    @kiln.function
    def nested(x):
        return kiln.cond(x > 1.0, lambda: x * 10.0,
                         lambda: kiln.cond(x > 0.0, lambda: x * 100.0, lambda: -x))
    assert [float(nested(kiln.constant(v))) for v in (2.0, 0.5, -3.0)] == [20.0, 50.0, 3.0]
    assert nested.trace_count == 1


def huber_assign(y, p, m=1.0):
    error = y - p
    if kiln.abs(error) < m:
        loss = 0.5 * error * error
    else:
        loss = m * (kiln.abs(error) - 0.5 * m)
    return loss


def huber_return(e, d=1.0):
    a = kiln.abs(e)
    if a <= d:
        return 0.5 * e * e
    else:
        return d * (a - 0.5 * d)


def sign_of(x):
    scale = 1.0
    if x > 1.0:
        r = x * 10.0
    elif x > 0.0:
        r = x * 100.0
        scale = 2.0
    else:
        r = -x
    return r * scale


def test_python_if_on_a_tensor_becomes_cond():
    """AutoGraph: an `if` on a traced tensor (the seed's Huber loss) is a
    kiln.cond, one trace for both outcomes; `if` on Python values keeps
    Python's meaning; elif chains nest; gradients flow through."""
    def huber_np(e, d=1.0):
        a = np.abs(e)
        return np.where(a <= d, 0.5 * e * e, d * (a - 0.5 * d))

    f, g, h = kiln.function(huber_assign), kiln.function(huber_return), kiln.function(sign_of)
    for e in (0.25, -0.5, 2.0, -3.0):
        assert float(f(kiln.constant(e), kiln.constant(0.0))) == huber_np(e)
        assert float(g(kiln.constant(e))) == huber_np(e)
    assert f.trace_count == 1 and g.trace_count == 1
    assert "kiln.cond" in f.get_concrete_function(kiln.constant(1.0), kiln.constant(0.0)).mlir
    assert [float(h(kiln.constant(v))) for v in (2.0, 0.5, -3.0)] == [20.0, 100.0, 3.0]
    assert h.trace_count == 1

    @kiln.function
    def flagged(x, flag):
        if flag:  # a Python value: Python's if, one trace per value
            y = x + 1.0
        else:
            y = x - 1.0
        return y
    assert float(flagged(kiln.constant(1.0), True)) == 2.0
    assert float(flagged(kiln.constant(1.0), False)) == 0.0
    assert "kiln.cond" not in flagged.get_concrete_function(kiln.constant(1.0), True).mlir

    @kiln.function
    def grad(e):
        with kiln.GradientTape() as tape:
            tape.watch(e)
            loss = huber_return(e)
        return tape.gradient(loss, e)
    for e in (0.5, -2.0):
        assert float(grad(kiln.constant(e))) == (e if abs(e) <= 1 else np.sign(e))


_CALLS = 0


def _count_calls(x, log=True):
    global _CALLS
    if log:
        _CALLS += 1
    return x


def test_a_branch_that_updates_a_value_read_only_in_the_if():
    # `m` is read by the test and by the branch before the branch assigns
    # it, and nowhere after the if: the branch takes the value from before
    # (it was an UnboundLocalError inside the converted branch, found by
    # MultiHeadAttention's mask).
    def shifted(x, a):
        m = a * 2.0
        if x > 0:
            m = m + 1.0
            x = x + m
        return x

    def masked(x, mask):
        mask = mask * 1.0
        if mask is not None:  # (a Python condition: still a converted if)
            mask = mask + 1.0
            x = x * mask
        return x
    # Names bound only inside the if (an inner cond's temporaries, a
    # comprehension's variable) stay local to the branch.
    def nested(x):
        if kiln.reduce_sum(x) > 0:
            if x[0] > 1.0:
                scale = 2.0
            else:
                scale = 3.0
            ys = [x * k for k in (1.0, 2.0)]
            k = scale
            x = ys[1] * k
        return x
    f, g, h = kiln.function(shifted), kiln.function(masked), kiln.function(nested)
    assert [float(f(kiln.constant(v), kiln.constant(2.0))) for v in (1.0, -1.0)] == [6.0, -1.0]
    assert float(g(kiln.constant(3.0), kiln.constant(1.0))) == 6.0
    assert [float(h(kiln.constant([v]))[0]) for v in (2.0, 0.5, -1.0)] == [8.0, 3.0, -1.0]
    assert h.trace_count == 1

    # ... and names bound in an enclosing loop body, a nested function's
    # parameters and global names are state of the branches that update
    # them.
    def in_loop(x):
        total = x * 0.0
        for i in range(3):
            v = x + float(i)
            if v > 2.0:
                v = v * 2.0
                total = total + v
        return total

    def nested_def(x):
        def inner(a):
            if a > 0:
                a = a + 1.0
                y = a
            else:
                y = a
            return y
        return inner(x)
    assert float(kiln.function(in_loop)(kiln.constant(1.5))) == 12.0
    assert float(kiln.function(nested_def)(kiln.constant(1.0))) == 2.0
    assert float(kiln.function(_count_calls)(kiln.constant(1.0))) == 1.0
    assert _CALLS == 1


def test_if_on_a_tensor_needs_values_in_both_branches():
    @kiln.function
    def half(x):
        if x > 0.0:
            z = x
        return z
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"test_control_flow.py:\d+: `z` gets a value in only one branch"):
        half(kiln.constant(1.0))
    # With a value before the if, one branch may leave it.

    @kiln.function
    def clipped(x):
        z = kiln.constant(0.0)
        if x > 0.0:
            z = x
        return z
    assert float(clipped(kiln.constant(3.0))) == 3.0
    assert float(clipped(kiln.constant(-3.0))) == 0.0


def halve_until(x, limit):
    count = 0.0
    while kiln.reduce_sum(x) > limit:
        x = x * 0.5
        count = count + 1.0
    return x, count


def test_python_while_on_a_tensor_becomes_while_loop():
    """AutoGraph: a `while` on a traced tensor is a kiln.while_loop (one
    trace for every trip count); on Python values it stays Python's."""
    f = kiln.function(halve_until)
    for start, limit in (([8.0, 8.0], 1.0), ([3.0, 3.0], 1.0), ([0.1, 0.2], 1.0)):
        x, count = np.array(start), 0.0
        while x.sum() > limit:
            x, count = x * 0.5, count + 1.0
        got_x, got_count = f(kiln.constant(start), kiln.constant(limit))
        np.testing.assert_allclose(got_x.numpy(), x)
        assert float(got_count) == count
    assert f.trace_count == 1
    assert "kiln.while" in f.get_concrete_function(kiln.constant([1.0, 1.0]),
                                                   kiln.constant(1.0)).mlir

    @kiln.function
    def repeat(x, n):
        i = 0
        while i < n:  # Python ints: unrolled while tracing
            x = x + 1.0
            i += 1
        return x
    assert float(repeat(kiln.constant(0.0), 3)) == 3.0

    @kiln.function
    def fresh(x):
        while kiln.reduce_sum(x) > 0.0:
            x = x - 1.0
            y = x
        return y
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match="`y` is assigned in a `while` on a tensor but has no value"):
        fresh(kiln.constant([1.0]))


def first_above(x, limit):
    """Index of the first element above `limit` (len(x) if none): a
    `break` in a loop over a traced tensor."""
    index = 0
    found = False
    for v in x:
        if v > limit:
            found = True
            break
        index += 1
    return index, found


def sum_skipping_negatives(x, n):
    total = kiln.constant(0.0)
    for i in range(n):  # Python's range of a traced tensor: a kiln loop
        if x[i] < 0.0:
            continue
        total = total + x[i]
    return total


def count_down_until_even(n):
    steps = 0
    while n > 0:
        n = n - 1
        steps += 1
        if n % 2 == 0 and n < 6:
            break
    return n, steps


def test_break_and_continue_in_traced_loops():
    """break/continue in `for` over a traced tensor, over range(tensor) and
    in `while` on a tensor: one kiln loop each, NumPy/Python as oracle."""
    f = kiln.function(first_above)
    for values, limit in (([1.0, 5.0, 2.0, 7.0], 4.0), ([1.0, 2.0], 4.0), ([9.0], 0.0)):
        index, found = f(kiln.constant(values), kiln.constant(limit))
        above = [i for i, v in enumerate(values) if v > limit]
        assert int(index) == (above[0] if above else len(values))
        assert bool(found) == bool(above)
    assert f.trace_count == 3  # one per shape, not per value
    assert "kiln.while" in f.get_concrete_function(kiln.constant([1.0]), kiln.constant(0.0)).mlir

    g = kiln.function(sum_skipping_negatives)
    x = np.array([1.0, -2.0, 3.0, -4.0, 5.0], np.float32)
    for n in (5, 3, 0):
        np.testing.assert_allclose(float(g(kiln.constant(x), kiln.constant(n))),
                                   x[:n][x[:n] >= 0].sum())
    assert g.trace_count == 1
    # The same functions on Python values keep Python's meaning.
    assert first_above([1.0, 5.0], 4.0) == (1, True)

    h = kiln.function(count_down_until_even)
    for n in (11, 4, 9, 1):
        expect = count_down_until_even(n)
        got = h(kiln.constant(n))
        assert (int(got[0]), int(got[1])) == expect, n
    assert h.trace_count == 1


def clipped_sign(x):
    if x > 0.0 and not x > 10.0:
        return 1.0 if x < 5.0 else 2.0
    return -1.0 if x < 0.0 or x > 100.0 else 0.0


def test_and_or_not_and_conditional_expressions_on_tensors():
    f = kiln.function(clipped_sign)
    for v in (3.0, 7.0, 20.0, -1.0, 200.0, 0.0):
        assert float(f(kiln.constant(v))) == clipped_sign(v), v
    assert f.trace_count == 1
    # Laziness: the right side of `and` runs only where the left holds (an
    # out-of-range read is never made).

    @kiln.function
    def safe(x, i):
        return i < 3 and x[i] > 0.0

    x = kiln.constant([1.0, -1.0, 2.0])
    assert [bool(safe(x, kiln.constant(i))) for i in (0, 1, 2, 5)] == [True, False, True, False]
    assert "kiln.cond" in safe.get_concrete_function(x, kiln.constant(0)).mlir
    assert kiln.logical_not(kiln.constant([True, False])).numpy().tolist() == [False, True]
    with pytest.raises(TypeError, match="logical ops take bool tensors"):
        kiln.logical_and(kiln.constant([1.0]), True)


class Scaler:
    def __init__(self, factor):
        self.factor = factor

    def apply(self, x):
        if kiln.reduce_sum(x) > 0.0:
            x = x * self.factor
        return x


def helper_loop(x, n):
    for _ in kiln.range(n):
        x = x + 1.0
    return x


def test_functions_and_methods_called_from_a_function_are_converted():
    """A method and a helper reached through an alias (not by their
    own global name) are converted when the compiled function calls them."""
    scaler = Scaler(3.0)
    aliases = {"loop": helper_loop}

    @kiln.function
    def f(x, n):
        return aliases["loop"](scaler.apply(x), n)

    assert float(f(kiln.constant(1.0), kiln.constant(2))) == 5.0
    assert float(f(kiln.constant(-1.0), kiln.constant(4))) == 3.0
    assert f.trace_count == 1
    code = kiln.autograph.to_code(Scaler.apply)
    assert "_if_stmt" in code and "def apply(self, x):" in code
    assert "_for_stmt" in kiln.autograph.to_code(helper_loop)


def test_converted_closures_share_their_cells():
    """`nonlocal` and later changes of a closure variable behave as in the
    original function."""
    calls = 0
    scale = 1.0

    def counted(x):
        nonlocal calls
        calls += 1
        if x > 0.0:
            x = x * scale
        return x

    @kiln.function
    def f(x):
        return counted(x)

    scale = 4.0
    assert float(f(kiln.constant(2.0))) == 8.0
    assert calls == 1  # traced once


def test_tensor_array_learns_its_element_shape_inside_a_loop():
    """The seed's DynamicRNN form: TensorArray(dtype, size=T) with no
    element shape, first written inside a kiln.range loop and a `for` over
    a tensor, in a compiled function (NumPy recurrence as the oracle)."""
    def rnn(xs, w):
        h = kiln.zeros((2, 3), kiln.float64)
        outputs = kiln.TensorArray(kiln.float64, size=4)
        for t in kiln.range(4):
            h = kiln.tanh(xs[t] @ w + h)
            outputs = outputs.write(t, h)
        doubled = kiln.TensorArray(kiln.float64, size=4)
        i = 0
        for row in outputs.stack():
            doubled = doubled.write(i, row * 2.0)
            i += 1
        return outputs.stack(), doubled.stack()

    rng = np.random.default_rng(7)
    xs, w = rng.normal(size=(4, 2, 2)), rng.normal(size=(2, 3))
    h, expect = np.zeros((2, 3)), []
    for t in range(4):
        h = np.tanh(xs[t] @ w + h)
        expect.append(h)
    f = kiln.function(rnn)
    out, doubled = f(kiln.constant(xs), kiln.constant(w))
    np.testing.assert_allclose(out.numpy(), np.stack(expect), rtol=1e-12)
    np.testing.assert_allclose(doubled.numpy(), 2 * np.stack(expect), rtol=1e-12)
    mlir = f.get_concrete_function(kiln.constant(xs), kiln.constant(w)).mlir
    assert mlir.count("kiln.for") == 2
    eager_out, _ = rnn(kiln.constant(xs), kiln.constant(w))
    np.testing.assert_allclose(eager_out.numpy(), np.stack(expect), rtol=1e-12)


def test_tensor_array_gather_scatter_unstack_concat_and_dynamic_size():
    rows = np.arange(12.0, dtype=np.float32).reshape(4, 3)

    def use(x):
        ta = kiln.TensorArray(kiln.float32, size=4).unstack(x)
        picked = ta.gather([3, 1])
        ta = ta.scatter([0, 2], picked * 10.0)
        grown = kiln.TensorArray(kiln.float32, size=0, dynamic_size=True)
        grown = grown.write(0, x[0]).write(2, x[1])  # grows to 3 (index 1 zeros)
        return picked, ta.stack(), ta.concat(), grown.stack(), ta.size(), grown.size()

    expect_ta = rows.copy()
    expect_ta[[0, 2]] = rows[[3, 1]] * 10.0
    expect_grown = np.stack([rows[0], np.zeros(3, np.float32), rows[1]])
    for run in (use, kiln.function(use)):
        picked, stacked, concat, grown, size, grown_size = run(kiln.constant(rows))
        np.testing.assert_array_equal(picked.numpy(), rows[[3, 1]])
        np.testing.assert_array_equal(stacked.numpy(), expect_ta)
        np.testing.assert_array_equal(concat.numpy(), expect_ta.reshape(12))
        np.testing.assert_array_equal(grown.numpy(), expect_grown)
        assert int(size) == 4 and int(grown_size) == 3

    ta = kiln.TensorArray(kiln.float32, size=2)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="an index appears twice"):
        ta.scatter([1, 1], kiln.ones((2, 3)))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="tried to gather index 5"):
        ta.write(0, kiln.ones(3)).gather([5])
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"element of shape \[2\] to an array of elements of shape \[3\]"):
        ta.write(0, kiln.ones(3)).write(1, kiln.ones(2))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="a value of 3 rows for an array of size 2"):
        ta.unstack(kiln.ones((3, 1)))



def test_dynamic_tensor_array_grows_to_a_compiled_loops_range():
    """TensorFlow's idiom: an empty dynamic_size array written at `i` in a
    `for i in range(n)` loop compiled to one kiln.for; its size is the
    loop's range (n known while tracing, or kiln.shape of an open extent),
    with or without elements written before, a start and a step. NumPy is
    the oracle; TensorFlow zero-fills indices never written."""
    x = np.arange(15, dtype=np.float32).reshape(5, 3)

    @kiln.function
    def doubled(x):
        ta = kiln.TensorArray(kiln.float32, size=0, dynamic_size=True)
        for i in kiln.range(x.shape[0]):
            ta = ta.write(i, x[i] * 2.0)
        return ta.stack(), ta.size()

    stacked, size = doubled(kiln.constant(x))
    np.testing.assert_array_equal(stacked.numpy(), x * 2.0)
    assert int(size) == 5

    @kiln.function(input_signature=[kiln.TensorSpec([None, 3], kiln.float32)])
    def open_rows(x):
        ta = kiln.TensorArray(kiln.float32, size=0, dynamic_size=True)
        for i in kiln.range(kiln.shape(x)[0]):
            ta = ta.write(i, x[i] + 1.0)
        return ta.stack(), ta.size()

    for rows in (5, 2):
        stacked, size = open_rows(kiln.constant(x[:rows]))
        np.testing.assert_array_equal(stacked.numpy(), x[:rows] + 1.0)
        assert int(size) == rows
    assert open_rows.trace_count == 1

    @kiln.function
    def stepped(x):
        # one element written before; the loop writes 1 and 3 of range(1, 4, 2)
        ta = kiln.TensorArray(kiln.float32, size=0, dynamic_size=True)
        ta = ta.write(0, x[0])
        total = kiln.constant(0.0)
        for i in kiln.range(1, 4, 2):
            ta = ta.write(i, x[i])
            total += kiln.reduce_sum(x[i])
        return ta.stack(), total

    stacked, total = stepped(kiln.constant(x))
    expect = np.zeros((4, 3), np.float32)
    expect[[0, 1, 3]] = x[[0, 1, 3]]
    np.testing.assert_array_equal(stacked.numpy(), expect)
    assert float(total) == x[[1, 3]].sum()

    # The element shape learned in the loop; an array carried by two nested loops.
    @kiln.function
    def nested(x):
        outer = kiln.TensorArray(kiln.float32, size=0, dynamic_size=True)
        for i in kiln.range(2):
            inner = kiln.TensorArray(kiln.float32, size=0, dynamic_size=True)
            for j in kiln.range(3):
                inner = inner.write(j, x[i, j] * 10.0)
            outer = outer.write(i, inner.stack())
        return outer.stack()

    np.testing.assert_array_equal(nested(kiln.constant(x)).numpy(), x[:2] * 10.0)


def test_dynamic_tensor_array_refuses_sizes_known_only_at_run_time():
    """Where the size would depend on values (a write under a condition, an
    array made inside the body, a loop bound computed at run time), the
    compile error says why and what to do: never a silently wrong size."""
    x = kiln.constant(np.arange(12, dtype=np.float32).reshape(4, 3))

    @kiln.function
    def conditional(x):
        ta = kiln.TensorArray(kiln.float32, size=0, dynamic_size=True)
        for i in kiln.range(4):
            if x[i, 0] > 3.0:
                ta = ta.write(i, x[i])
        return ta.stack()

    @kiln.function
    def made_inside(x):
        total = kiln.constant(0.0)
        for i in kiln.range(4):
            ta = kiln.TensorArray(kiln.float32, size=0, dynamic_size=True)
            total += kiln.reduce_sum(ta.write(i, x[i]).stack())
        return total

    @kiln.function
    def run_time_bound(x, n):
        ta = kiln.TensorArray(kiln.float32, size=0, dynamic_size=True)
        for i in kiln.range(n):
            ta = ta.write(i, x[i])
        return ta.stack()

    for f, args, why in ((conditional, (x,), "inside a condition"),
                         (made_inside, (x,), "not a value that loop carries"),
                         (run_time_bound, (x, kiln.constant(2)), "range is not known while tracing")):
        with pytest.raises(kiln.errors.InvalidArgumentError,
                           match=f"cannot grow at an index known only when the code runs \\(the "
                                 f".*{why}.*give it size="):
            f(*args)


def test_a_dataset_loop_inside_a_function_is_one_loop_over_runtime_data():
    """`for x, y in dataset` inside @kiln.function: one kiln.for over the
    batches (held in the runtime's store, not constants in the IR), a last
    smaller batch once more, a fresh pass (new shuffle) each call; another
    Dataset of the same length reuses the trace. The oracle is the same
    epoch run eagerly (a Python loop over the same batches)."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(50, 3)).astype(np.float32)
    y = rng.normal(size=50).astype(np.float32)

    def make(w):
        @kiln.function
        def epoch(dataset):
            total = kiln.constant(0.0)
            count = kiln.constant(0.0)
            for xb, yb in dataset:
                with kiln.GradientTape() as tape:
                    loss = kiln.reduce_mean(kiln.square(kiln.reduce_sum(xb * w, axis=1) - yb))
                w.assign_sub(0.1 * tape.gradient(loss, w))
                total = total + loss
                count = count + 1.0
            return total / count
        return epoch

    def reference(w0, batches):
        w, losses = w0.astype(np.float64), []
        for xb, yb in batches:
            err = xb @ w - yb
            losses.append(np.mean(err ** 2))
            w = w - 0.1 * (2 * xb.T @ err / len(xb))
        return np.mean(losses), w

    w = kiln.Variable(np.zeros(3, np.float32))
    epoch = make(w)
    data = kiln.data.Dataset.from_tensor_slices((x, y))
    ds = data.batch(16)  # 3 full batches and one of 2
    expect_loss, expect_w = reference(np.zeros(3), [(x[i:i + 16], y[i:i + 16])
                                                    for i in range(0, 50, 16)])
    np.testing.assert_allclose(float(epoch(ds)), expect_loss, rtol=1e-5)
    np.testing.assert_allclose(w.numpy(), expect_w, rtol=1e-5)
    mlir = epoch.get_concrete_function(ds).mlir
    assert "kiln.for" in mlir and len(mlir) < 20000  # no batch constants
    # Another dataset of the same length reuses the trace, and each call
    # makes a fresh pass over it: a shuffled dataset reshuffles. The oracle
    # walks a twin dataset (same seed, so the same sequence of passes).
    shuffled = data.shuffle(50, seed=7).batch(16)
    twin_dataset = data.shuffle(50, seed=7).batch(16)
    for _ in range(2):
        batches = [(xb.numpy(), yb.numpy()) for xb, yb in twin_dataset]
        expect_loss, expect_w = reference(w.numpy(), batches)
        np.testing.assert_allclose(float(epoch(shuffled)), expect_loss, rtol=1e-5)
        np.testing.assert_allclose(w.numpy(), expect_w, rtol=1e-5)
    assert epoch.trace_count == 1
    with pytest.raises(kiln.errors.InvalidArgumentError, match="infinite dataset"):
        make(kiln.Variable(np.zeros(3, np.float32)))(data.batch(16).repeat())


def test_variables_assigned_in_a_compiled_loop_are_read_fresh_each_iteration():
    """A loop body that reads a variable and then updates it (a training
    loop in one function) sees each iteration's new value: the read is not
    hoisted out of the loop (it was, and every step used the initial
    weights). NumPy's SGD on least squares is the oracle."""
    rng = np.random.default_rng(9)
    xs = rng.normal(size=(4, 8, 3)).astype(np.float32)
    ys = rng.normal(size=(4, 8)).astype(np.float32)
    w = kiln.Variable(np.zeros(3, np.float32))
    optimizer = kiln.optimizers.SGD(0.2)

    @kiln.function
    def train(xs, ys):
        for i in kiln.range(4):
            with kiln.GradientTape() as tape:
                loss = kiln.reduce_mean(kiln.square(kiln.reduce_sum(xs[i] * w, axis=1) - ys[i]))
            optimizer.apply_gradients([(tape.gradient(loss, w), w)])
        return w.value()

    expect = np.zeros(3)
    for i in range(4):
        err = xs[i] @ expect - ys[i]
        expect = expect - 0.2 * 2 * xs[i].T @ err / len(err)
    np.testing.assert_allclose(train(xs, ys).numpy(), expect, rtol=1e-5, atol=1e-6)
    assert "kiln.for" in train.get_concrete_function(xs, ys).mlir


def first_negative(x):
    for v in x:
        if v < 0.0:
            return v * 10.0
    return kiln.constant(0.0)


def index_of(x, target, limit):
    i = 0
    while i < limit:
        for j in kiln.range(2):  # (an inner loop the return leaves too)
            if x[i] + kiln.cast(j, kiln.float32) == target:
                return i * 2 + j
        i += 1
    return kiln.constant(-1)


def test_return_inside_loops_on_tensors():
    """`return` inside a loop on a tensor (TensorFlow's rewrite: a return
    flag, the loop stops, the rest is skipped); one trace for every
    outcome; Python loops keep Python's meaning."""
    f = kiln.function(first_negative)
    for values in ([1.0, -2.0, -3.0], [1.0, 2.0, 3.0], [-5.0, 1.0, 2.0]):
        negatives = [v for v in values if v < 0]
        assert float(f(kiln.constant(values))) == (negatives[0] * 10 if negatives else 0.0)
    assert f.trace_count == 1
    g = kiln.function(index_of)
    x = kiln.constant([1.0, 5.0, 7.0, 9.0])
    for target, expect in ((5.0, 2), (6.0, 3), (10.0, 7), (2.0, 1), (100.0, -1)):
        assert int(g(x, kiln.constant(target), kiln.constant(4))) == expect, target
    assert g.trace_count == 1
    assert "_kiln_do_return" in kiln.autograph.to_code(first_negative)
    # Python values: Python's loop and return.
    assert first_negative([1.0, -2.0]) == -20.0


def clipped_or_scaled(x):
    if x > 0:
        y = x * 2.0
        if y > 10.0:
            return y          # (a return with statements after it in its branch)
        y = y + 1.0
    else:
        y = -x
    return y * 3.0


def positive_or_nothing(x):
    y = x + 1.0
    if x > 0:
        return y


def test_a_return_nested_in_a_branch_with_statements_after_it():
    """TensorFlow's return flags also outside loops: a `return` under a
    nested `if` on a tensor followed by more statements; a function that
    returns a value on some paths and None on others (a tensor deciding)
    is an error, not a silent zero. The oracle is the Python function run
    on floats."""
    f = kiln.function(clipped_or_scaled)
    for v in (1.0, 6.0, -2.0, 0.0):
        assert float(f(kiln.constant(v))) == clipped_or_scaled(v), v
    assert f.trace_count == 1
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match="returns a value on some paths and nothing"):
        kiln.function(positive_or_nothing)(kiln.constant(1.0))
    assert positive_or_nothing(-1.0) is None and positive_or_nothing(2.0) == 3.0


def test_installed_library_code_is_not_converted():
    """AutoGraph converts the user's functions, not the standard library's
    or installed packages' (as TensorFlow leaves library code alone)."""
    import json
    import os
    assert kiln.autograph._convertible(first_negative)
    assert not kiln.autograph._convertible(json.dumps)
    assert not kiln.autograph._convertible(os.path.join)
    assert not kiln.autograph._convertible(np.linalg.norm)


def doubled_unless_positive(x, n):
    if kiln.reduce_sum(x) > 0:
        return x
    for _ in kiln.range(n):
        x = x * 2.0
    return x


def shifted_unless_positive(x):
    if kiln.reduce_sum(x) > 0:
        return x
    x = x - 1.0  # (a parameter the else-branch assigns from its own value)
    return x * 3.0


def test_early_return_branches_assign_parameters():
    """An `if` whose branch returns early makes the rest of the function its
    else-branch; that branch may assign the function's parameters (in a
    loop on a tensor or plainly), reading their values first."""
    f = kiln.function(doubled_unless_positive)
    for values, n in (([1.0, 2.0], 3), ([-1.0, -2.0], 3), ([-1.0, 0.5], 0)):
        x = np.array(values, np.float32)
        expect = x if x.sum() > 0 else x * 2.0 ** n
        np.testing.assert_array_equal(f(kiln.constant(x), kiln.constant(n)).numpy(), expect)
    assert f.trace_count == 1
    g = kiln.function(shifted_unless_positive)
    for values in ([1.0, 2.0], [-4.0, 1.0]):
        x = np.array(values, np.float32)
        expect = x if x.sum() > 0 else (x - 1.0) * 3.0
        np.testing.assert_array_equal(g(kiln.constant(x)).numpy(), expect)
    assert g.trace_count == 1
    # Python values keep Python's meaning.
    assert shifted_unless_positive(np.array([-4.0])).tolist() == [-15.0]


def test_tensor_array_elements_with_an_open_batch():
    """A TensorArray written in a loop with elements of an open batch: the
    buffer takes the batch from the argument of the element's shape (or a
    loop variable, or an element written before the loop); with none, an
    error that says what to do. NumPy is the oracle."""
    @kiln.function(input_signature=[kiln.TensorSpec([None, 3], kiln.float32)])
    def scaled(x):
        ta = kiln.TensorArray(kiln.float32, size=3)
        for i in kiln.range(3):
            ta = ta.write(i, x * kiln.cast(i, kiln.float32))
        return ta.stack()

    for rows in (2, 5):
        x = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3)
        np.testing.assert_array_equal(scaled(x).numpy(), np.stack([x * i for i in range(3)]))
    assert scaled.trace_count == 1

    @kiln.function(input_signature=[kiln.TensorSpec([None, 3], kiln.float32)])
    def widened(x):
        ta = kiln.TensorArray(kiln.float32, size=3)
        for i in kiln.range(3):
            ta = ta.write(i, kiln.concat([x, x], 1))
        return ta.stack()

    with pytest.raises(kiln.errors.UnimplementedError,
                       match=r"test_control_flow.py:\d+: TensorArray: elements of shape "
                             r"\[None, 6\] .* write an element before the loop"):
        widened(np.ones((2, 3), np.float32))

    @kiln.function(input_signature=[kiln.TensorSpec([None, 3], kiln.float32)])
    def written_first(x):
        wide = kiln.concat([x, x], 1)
        ta = kiln.TensorArray(kiln.float32, size=3).write(0, wide)
        for i in kiln.range(1, 3):
            ta = ta.write(i, wide * kiln.cast(i, kiln.float32))
        return ta.stack()

    x = np.ones((2, 3), np.float32)
    wide = np.concatenate([x, x], 1)
    np.testing.assert_array_equal(written_first(x).numpy(), np.stack([wide * i if i else wide
                                                                      for i in range(3)]))


def test_dynamic_tensor_array_with_an_open_batch():
    # A dynamic_size array grown at indices known while tracing, elements
    # of an open batch; NumPy is the oracle.
    @kiln.function(input_signature=[kiln.TensorSpec([None, 2], kiln.float32)])
    def grown(x):
        ta = kiln.TensorArray(kiln.float32, size=0, dynamic_size=True)
        for i in range(3):  # (a Python loop: indices known while tracing)
            ta = ta.write(i, x + float(i))
        return ta.stack()

    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.testing.assert_array_equal(grown(x).numpy(), np.stack([x + i for i in range(3)]))
    np.testing.assert_array_equal(grown(x[:1]).numpy(), np.stack([x[:1] + i for i in range(3)]))
    assert grown.trace_count == 1


def test_tensor_array_overwrites_are_exact():
    """Writing a row that holds a value (a second write, a scatter into an
    unstacked array, a compiled loop writing one row each iteration)
    replaces it exactly: an inf or a large value there does not leak or
    round the new one (adding the difference did). NumPy's assignment is
    the oracle."""
    def overwrite():
        ta = kiln.TensorArray(kiln.float32, size=3)
        ta = ta.write(0, kiln.constant([1e8, np.inf])).write(0, kiln.constant([1.0, 2.0]))
        tb = kiln.TensorArray(kiln.float32, size=3).unstack(
            kiln.constant([[1e8, 1.0], [np.inf, 2.0], [3.0, 4.0]]))
        tb = tb.scatter([0, 1], kiln.constant([[1.0, 5.0], [7.0, 8.0]]))
        return ta.stack(), tb.stack()

    for run in (overwrite, kiln.function(overwrite)):
        a, b = run()
        np.testing.assert_array_equal(a.numpy(), [[1.0, 2.0], [0.0, 0.0], [0.0, 0.0]])
        np.testing.assert_array_equal(b.numpy(), [[1.0, 5.0], [7.0, 8.0], [3.0, 4.0]])

    @kiln.function
    def last_of_a_loop(x):
        ta = kiln.TensorArray(kiln.float32, size=2)
        for i in kiln.range(3):
            big = 1e8 * kiln.cast(kiln.equal(i, 1), kiln.float32)
            ta = ta.write(0, x * kiln.cast(i, kiln.float32) + big)
        return ta.stack()

    np.testing.assert_array_equal(last_of_a_loop(kiln.constant([1.0, 2.0])).numpy(),
                                  [[2.0, 4.0], [0.0, 0.0]])


def positive_doubled(x):
    assert x > 0, "x must be positive"
    return x * 2


def appended_in_a_loop(x):
    out = []
    for i in kiln.range(3):
        out.append(x * kiln.cast(i, kiln.float32))
    return kiln.stack(out)


def test_assert_statements_and_values_that_escape_a_loop():
    """AutoGraph turns `assert` on a tensor into tf.debugging.Assert (an
    InvalidArgumentError with the message when the code runs; Python's
    assert on Python values), kiln.Assert / kiln.debugging.Assert check
    eagerly and compiled; a tensor made in a loop body and used after it (a
    Python list appended to in a loop on a tensor) is an error that names
    TensorArray, not an internal one."""
    f = kiln.function(positive_doubled)
    assert int(f(kiln.constant(3))) == 6
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match="assertion failed: x must be positive"):
        f(kiln.constant(-1))
    with pytest.raises(kiln.errors.InvalidArgumentError, match=r"assertion failed: bad \[1 2\]"):
        kiln.debugging.Assert(kiln.constant(False), ["bad", kiln.constant([1, 2])])
    checked = kiln.function(lambda x: (kiln.Assert(x < 10, ["too big", x]), x)[1])
    assert int(checked(kiln.constant(3))) == 3
    with pytest.raises(kiln.errors.InvalidArgumentError, match="assertion failed: too big"):
        checked(kiln.constant(30))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="use kiln.TensorArray"):
        kiln.function(appended_in_a_loop)(kiln.constant(2.0))


def test_while_loop_maximum_iterations_and_a_lone_body_value():
    """tf.while_loop's maximum_iterations (the body runs at most that many
    times, the condition still stops it first), shape_invariants that
    restate the shapes, and a body returning a lone tensor for a list of
    one loop variable; eagerly and compiled."""
    limited = lambda n: kiln.while_loop(   # noqa: E731
        lambda i, s: i < 100, lambda i, s: (i + 1, s + n), (kiln.constant(0), n),
        maximum_iterations=5, shape_invariants=(kiln.TensorShape([]), kiln.TensorShape([])))
    for run in (limited, kiln.function(limited)):
        i, s = run(kiln.constant(2.0))
        assert int(i) == 5 and float(s) == 12.0
    (i,) = kiln.while_loop(lambda i: i < 3, lambda i: i + 1, [kiln.constant(0)],
                           maximum_iterations=7)
    assert int(i) == 3
    with pytest.raises(ValueError, match="shape invariant"):
        kiln.while_loop(lambda i: i < 3, lambda i: i + 1, [kiln.constant([0, 1])],
                        shape_invariants=[kiln.TensorShape([3])])


def counted_until(x):
    i = kiln.constant(0)
    while True:
        i += 1
        if i >= x:
            break
    return i


def test_while_true_with_a_break_on_a_tensor():
    """`while True:` whose `break` depends on a tensor: the first iteration
    runs inline, the rest as one compiled loop (Python's meaning: i counts
    from 1 until it reaches x, so max(x, 1))."""
    f = kiln.function(counted_until)
    for n in (5, 1, -3):
        assert int(f(kiln.constant(n))) == max(n, 1)   # (Python's loop on ints)
    assert f.trace_count == 1
