"""Gradients through the Python API: the tape records Kiln ops and the
compiler's autodiff pass differentiates them; checked against central finite
differences in float64."""

import numpy as np
import pytest

import kiln


def test_seed_example():
    f = lambda x, y: x ** 2 + y ** 3
    gx, gy = kiln.gradients_function(f)(1.0, 2.0)
    assert (float(gx), float(gy)) == (2.0, 12.0)
    value, (gx, gy) = kiln.value_and_gradients_function(f)(1.0, 2.0)
    assert float(value) == 9.0 and float(gy) == 12.0
    (gy,) = kiln.gradients_function(f, params=[1])(1.0, 2.0)
    assert float(gy) == 12.0


def finite_difference(f, x, h=1e-6):
    x = np.asarray(x, np.float64)
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = h
        g.flat[i] = (float(f(kiln.constant(x + e))) - float(f(kiln.constant(x - e)))) / (2 * h)
    return g


def numpy_finite_difference(f, x, h=1e-6):
    """Central differences of a NumPy function: an oracle independent of
    Kiln's forward pass."""
    x = np.asarray(x, np.float64)
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = h
        g.flat[i] = (np.sum(f(x + e)) - np.sum(f(x - e))) / (2 * h)
    return g


def _np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


NUMPY_FUNCTIONS = {  # the same functions in NumPy
    "tanh_x": lambda x: np.sum(np.tanh(x) * x),
    "softmax": lambda x: np.sum(_np_softmax(x) * np.arange(12.0).reshape(3, 4)),
    "matmul_chain": lambda x: np.mean(np.square(x @ x.T - 1.0)),
    "broadcast_max": lambda x: np.sum(np.maximum(x, 0.3) / (1.0 + np.exp(-x))),
    "slices": lambda x: np.sum(x[1:, ::2] * x[0, 0]),
}


FUNCTIONS = {
    "tanh_x": lambda x: kiln.reduce_sum(kiln.tanh(x) * x),
    "softmax": lambda x: kiln.reduce_sum(kiln.nn.softmax(x) * kiln.constant(
        np.arange(12.0).reshape(3, 4))),
    "matmul_chain": lambda x: kiln.reduce_mean(kiln.square(
        x @ kiln.transpose(x) - 1.0)),
    "broadcast_max": lambda x: kiln.reduce_sum(kiln.maximum(x, 0.3) / (1.0 + kiln.exp(-x))),
    "slices": lambda x: kiln.reduce_sum(x[1:, ::2] * x[0, 0]),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_tape_gradients_match_finite_differences(name):
    f = FUNCTIONS[name]
    x0 = np.random.default_rng(1).uniform(-1, 1, (3, 4))
    x = kiln.constant(x0)
    with kiln.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    g = tape.gradient(y, x)
    assert g.shape == x.shape and g.dtype == kiln.float64
    np.testing.assert_allclose(g.numpy(), finite_difference(f, x0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g.numpy(), numpy_finite_difference(NUMPY_FUNCTIONS[name], x0),
                               rtol=1e-6, atol=1e-8)


def test_gradient_of_several_targets_is_the_sum():
    """tape.gradient([y, z], x) is the gradient of sum(y) + sum(z) (TF's
    rule), eagerly and compiled; output_gradients seed each target."""
    x0 = np.random.default_rng(2).uniform(-1, 1, (3, 4))
    f = lambda x: kiln.reduce_sum(kiln.tanh(x) * x) + kiln.reduce_sum(kiln.square(x))
    x = kiln.constant(x0)
    with kiln.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = kiln.tanh(x) * x          # not a scalar: seeded with ones
        z = kiln.reduce_sum(kiln.square(x))
    g = tape.gradient([y, z], x)
    np.testing.assert_allclose(g.numpy(), finite_difference(f, x0), rtol=1e-6, atol=1e-8)
    numeric = numpy_finite_difference(lambda a: np.sum(np.tanh(a) * a) + np.sum(a * a), x0)
    np.testing.assert_allclose(g.numpy(), numeric, rtol=1e-6, atol=1e-8)
    seeded = tape.gradient((y, z), [x], output_gradients=[kiln.ones((3, 4), kiln.float64) * 2.0,
                                                          kiln.constant(3.0, kiln.float64)])
    np.testing.assert_allclose(
        seeded[0].numpy(),
        2 * (np.tanh(x0) + x0 * (1 - np.tanh(x0) ** 2)) + 3 * 2 * x0, rtol=1e-12)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="2 targets but 1 output"):
        tape.gradient([y, z], x, output_gradients=[z])

    @kiln.function
    def compiled(a):
        with kiln.GradientTape() as t:
            t.watch(a)
            p = kiln.tanh(a) * a
            q = kiln.reduce_sum(kiln.square(a))
        return t.gradient([p, q], a)
    np.testing.assert_allclose(compiled(x).numpy(), finite_difference(f, x0), rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(compiled(x).numpy(), numeric, rtol=1e-6, atol=1e-8)


def test_stop_gradient_blocks_the_gradient():
    """d/dx sum(x * stop_gradient(x)) is x (2x without it), on a tape and
    compiled; the forward value is x itself."""
    x0 = np.array([1.0, -2.0, 3.0])
    x = kiln.constant(x0)
    np.testing.assert_array_equal(kiln.stop_gradient(x).numpy(), x0)
    with kiln.GradientTape() as tape:
        tape.watch(x)
        y = kiln.reduce_sum(x * kiln.stop_gradient(x))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), x0)

    @kiln.function
    def compiled(a):
        with kiln.GradientTape() as t:
            t.watch(a)
            z = kiln.reduce_sum(a * kiln.stop_gradient(a * a))
        return t.gradient(z, a)
    np.testing.assert_allclose(compiled(x).numpy(), x0 * x0)
    # Only through stop_gradient: no gradient at all (zeros).
    with kiln.GradientTape() as tape:
        tape.watch(x)
        w = kiln.reduce_sum(kiln.stop_gradient(x) * 2.0)
    g = tape.gradient(w, x)
    assert g is None or not np.any(g.numpy())


def test_jacobian_and_batch_jacobian():
    """tape.jacobian against central differences (shape target + source);
    batch_jacobian against the analytic per-row derivative of tanh(x W),
    eagerly and compiled."""
    x0 = np.random.default_rng(4).uniform(-1, 1, (2, 3))
    f = lambda x: kiln.tanh(x) * kiln.reduce_sum(x)  # every output on every input
    x = kiln.constant(x0)
    with kiln.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = f(x)
        unrelated = kiln.constant(np.ones(2))
    jac = tape.jacobian(y, x)
    assert jac.shape == (2, 3, 2, 3)
    for i in np.ndindex(2, 3):
        want = finite_difference(lambda v: f(v)[i[0]][i[1]], x0)
        np.testing.assert_allclose(jac.numpy()[i], want, rtol=1e-6, atol=1e-8)
        numeric = numpy_finite_difference(lambda v: (np.tanh(v) * v.sum())[i], x0)
        np.testing.assert_allclose(jac.numpy()[i], numeric, rtol=1e-6, atol=1e-8)
    assert tape.jacobian(unrelated, x) is None

    w0 = np.random.default_rng(5).normal(size=(3, 4))
    w = kiln.constant(w0)
    with kiln.GradientTape() as tape:
        tape.watch(x)
        out = kiln.tanh(x @ w)
    bj = tape.batch_jacobian(out, x)
    assert bj.shape == (2, 4, 3)
    t = np.tanh(x0 @ w0)
    want = (1 - t ** 2)[:, :, None] * w0.T[None, :, :]
    np.testing.assert_allclose(bj.numpy(), want, rtol=1e-10)

    @kiln.function
    def compiled(a):
        with kiln.GradientTape() as t:
            t.watch(a)
            o = kiln.tanh(a @ w)
        return t.batch_jacobian(o, a)
    np.testing.assert_allclose(compiled(x).numpy(), want, rtol=1e-10)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="same first"):
        with kiln.GradientTape() as tape:
            tape.watch(x)
            o = kiln.reduce_sum(x)
        tape.batch_jacobian(o, x)


def test_tape_rules():
    x = kiln.constant([1.0, 2.0])
    z = kiln.constant([3.0, 4.0])
    with kiln.GradientTape(persistent=True) as tape:
        tape.watch([x, z])
        y = x * x
        w = kiln.reduce_sum(y)
    # Structure of the sources is kept; unconnected sources give None.
    gx, gz = tape.gradient(w, [x, z])
    np.testing.assert_array_equal(gx.numpy(), [2, 4])
    assert gz is None
    # A non-scalar target: the gradient of its sum, or with output_gradients.
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [2, 4])
    np.testing.assert_array_equal(
        tape.gradient(y, {"a": x})["a"].numpy(), [2, 4])
    np.testing.assert_array_equal(
        tape.gradient(y, x, output_gradients=[10.0, 1.0]).numpy(), [20, 4])
    once = kiln.GradientTape()
    with once:
        once.watch(x)
        v = x * 2.0
    once.gradient(v, x)
    with pytest.raises(RuntimeError, match="non-persistent"):
        once.gradient(v, x)
    i = kiln.constant([1, 2])
    with kiln.GradientTape() as tape:
        with pytest.warns(UserWarning, match="only floating-point"):
            tape.watch(i)
        j = i * 2
    assert tape.gradient(j, i) is None   # (TensorFlow's: integers have no gradient)


def test_gradient_of_a_training_loop_compiles_once():
    w = kiln.constant(np.zeros((3,), np.float32))
    xs = kiln.constant(np.random.default_rng(0).uniform(size=(8, 3)).astype(np.float32))
    ys = kiln.constant(np.ones((8,), np.float32))
    from kiln import gradients
    before = len(gradients._cache)
    losses = []
    for _ in range(50):
        with kiln.GradientTape() as tape:
            tape.watch(w)
            pred = kiln.reduce_sum(xs * w, axis=1)
            loss = kiln.reduce_mean(kiln.square(pred - ys))
        w = w - 0.5 * tape.gradient(loss, w)
        losses.append(float(loss))
    assert len(gradients._cache) == before + 1
    assert losses[-1] < 0.1 * losses[0], losses


def test_tape_gradients_reuse_the_forward_values(monkeypatch):
    """The gradient function takes the tensors the eager ops computed (as
    kiln.known_value operands) instead of computing the forward pass again:
    once lowered, nothing in it multiplies the input by the first layer's
    weight, which it did when the tape passed only the inputs."""
    from kiln import _kiln, gradients
    built = []
    original = gradients._Recorded.compile

    def spy(self, device="cpu"):
        built.append(self)
        return original(self, device)
    monkeypatch.setattr(gradients._Recorded, "compile", spy)
    monkeypatch.setattr(gradients, "_cache", {})
    rng = np.random.default_rng(3)
    x = kiln.constant(rng.normal(size=(7, 13)).astype(np.float32))
    w1 = kiln.Variable(rng.normal(size=(13, 11)).astype(np.float32))
    w2 = kiln.Variable(rng.normal(size=(11, 5)).astype(np.float32))
    with kiln.GradientTape() as tape:
        h = kiln.nn.relu(kiln.matmul(x, w1))
        loss = kiln.reduce_sum(kiln.tanh(kiln.matmul(h, w2)))
    g1, g2 = tape.gradient(loss, [w1, w2])
    # (NumPy's gradient, as an oracle for the numbers.)
    xn, w1n, w2n = x.numpy().astype(np.float64), w1.numpy(), w2.numpy()
    pre = xn @ w1n
    hn = np.maximum(pre, 0)
    dz = 1 - np.tanh(hn @ w2n) ** 2
    np.testing.assert_allclose(g2.numpy(), hn.T @ dz, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(g1.numpy(), xn.T @ ((dz @ w2n.T) * (pre > 0)),
                               rtol=1e-4, atol=1e-4)
    (recorded,) = built

    def gradient_ir(r):
        text = _kiln.run_passes(r.build().text(), "kiln-autodiff,inline,"
                                "convert-kiln-to-linalg,canonicalize,cse")
        return text[text.index("func.func @gradient"):]
    forward_product = "tensor<7x13xf32>, tensor<13x11xf32>)"
    assert "kiln.known_value" in recorded.build().text()
    ir = gradient_ir(recorded)
    assert forward_product not in ir
    # (tanh's rule reads tanh's result: the known one.)
    assert "math.tanh" not in ir
    recorded.known = {}  # as the tape built it before
    ir = gradient_ir(recorded)
    assert forward_product in ir and "math.tanh" in ir


def test_tape_sources_among_recorded_results():
    """A source that is one result of a multi-result op whose other result
    the target needs stays the source (it was overwritten by the op's
    result: a zero gradient); an outer tape differentiates an inner
    gradient with respect to an inner intermediate through the forward
    values the backward ops read, as TensorFlow does."""
    x = kiln.constant(np.array([0.3, -1.2, 2.0]))
    c = kiln.constant(np.array([1.0, 2.0, 3.0]))

    @kiln.custom_gradient
    def f(a, b):
        def grad(dy, dz):
            return dy * b + dz, dy * a + dz
        return (a * b, a + b), grad
    with kiln.GradientTape(persistent=True) as t:
        t.watch(x)
        y, z = f(x, c)
        loss = kiln.reduce_sum(y * z)
    np.testing.assert_allclose(t.gradient(loss, y).numpy(), z.numpy(), rtol=1e-12)
    # d/dx sum((x c) (x + c)) = c (x + c) + x c, through grad.
    x0, c0 = x.numpy(), c.numpy()
    np.testing.assert_allclose(t.gradient(loss, x).numpy(),
                               (x0 + c0) * c0 + x0 * c0, rtol=1e-12)
    with kiln.GradientTape(persistent=True) as outer:
        outer.watch(x)
        with kiln.GradientTape() as inner:
            inner.watch(x)
            h = kiln.sin(x)
            y = kiln.reduce_sum(h * h * x)
        g1 = inner.gradient(y, x)
        total = kiln.reduce_sum(g1)
    # g1 = hh + 2 x h cos x, its backward reading hh = h h, h and x: with
    # respect to h, 2 x cos x directly and 2 h through hh (TF's value).
    np.testing.assert_allclose(outer.gradient(total, h).numpy(),
                               2 * np.sin(x0) + 2 * x0 * np.cos(x0), rtol=1e-12)
    # d/dx of g1 = 2 sin cos x + sin^2: 2 cos(2x) x + 2 sin(2x).
    np.testing.assert_allclose(outer.gradient(total, x).numpy(),
                               2 * np.cos(2 * x0) * x0 + 2 * np.sin(2 * x0), rtol=1e-10)


def test_nested_tapes_give_higher_order_gradients():
    x0 = np.array([0.3, -1.2, 2.0])
    x = kiln.constant(x0)
    with kiln.GradientTape() as outer:
        outer.watch(x)
        with kiln.GradientTape() as inner:
            inner.watch(x)
            y = kiln.reduce_sum(x * kiln.sin(x))
        dy = inner.gradient(y, x)
        s = kiln.reduce_sum(dy)
    d2 = outer.gradient(s, x)
    np.testing.assert_allclose(dy.numpy(), np.sin(x0) + x0 * np.cos(x0), rtol=1e-12)
    np.testing.assert_allclose(d2.numpy(), 2 * np.cos(x0) - x0 * np.sin(x0), rtol=1e-12)
    # Third order: tanh''' = -2 (1 - t^2)(1 - 3 t^2), with t = tanh(x).
    with kiln.GradientTape() as t3:
        t3.watch(x)
        with kiln.GradientTape() as t2:
            t2.watch(x)
            with kiln.GradientTape() as t1:
                t1.watch(x)
                y = kiln.tanh(x)
            g1 = t1.gradient(y, x)
        g2 = t2.gradient(g1, x)
    g3 = t3.gradient(g2, x)
    t = np.tanh(x0)
    np.testing.assert_allclose(g3.numpy(), -2 * (1 - t * t) * (1 - 3 * t * t), rtol=1e-10)


def test_compiled_gradient_uses_the_values_the_forward_read():
    # A variable read by the forward pass and assigned before the gradient is
    # requested (a stateful RNN's state, a running value): the gradient is
    # that of the computation that ran, with the value it read, eagerly and
    # compiled. (Compiled, the gradient once re-read the variable after the
    # assignment.) A NumPy array on the left of a variable makes a Tensor the
    # tape sees.
    w = kiln.Variable(np.array([1.0, 2.0], np.float32))
    s = kiln.Variable(np.array([0.5, -1.0], np.float32), trainable=False)
    x = np.array([3.0, 4.0], np.float32)

    def step(x):
        with kiln.GradientTape() as tape:
            y = x * w + s
            loss = kiln.reduce_sum(y * y)
        s.assign(y)
        return tape.gradient(loss, w)

    want = 2 * (x * np.array([1.0, 2.0]) + np.array([0.5, -1.0])) * x
    np.testing.assert_allclose(step(x).numpy(), want, rtol=1e-6)
    s.assign(np.array([0.5, -1.0], np.float32))
    np.testing.assert_allclose(kiln.function(step)(x).numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(s.numpy(), x * np.array([1.0, 2.0]) + [0.5, -1.0])
    assert isinstance(x * w, kiln.Tensor) and isinstance(np.float32(2) * w, kiln.Tensor)


def test_compiled_gradient_refuses_assignments_it_would_repeat(capfd):
    # A loop the taped computation depends on is copied into the gradient:
    # an assignment inside it would run again when the gradient runs (the
    # counter ended at 9 instead of 3, the gradient 33 instead of 18). That
    # is an error naming the variable and the place; a print there is not
    # repeated.
    w = kiln.Variable(2.0)
    c = kiln.Variable(0.0, trainable=False, name="counter")

    def step(x):
        with kiln.GradientTape() as tape:
            y = x
            for _ in kiln.range(3):
                c.assign_add(1.0)
                y = y * w + c
        return tape.gradient(y, w)

    assert float(step(kiln.constant(1.0))) == 18.0   # eagerly: ((w + 1) w + 2) w + 3
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match="assigns variable 'counter.*' inside a loop or branch .*"
                             "test_gradients.py:[0-9]+"):
        kiln.function(step)(kiln.constant(1.0))

    @kiln.function
    def printed(x):
        with kiln.GradientTape() as tape:
            tape.watch(x)
            y = x
            for i in kiln.range(2):
                kiln.print("step", i)
                y = y * x
        return tape.gradient(y, x)

    assert float(printed(kiln.constant(3.0))) == 27.0
    assert capfd.readouterr().err.count("step") == 2


def test_gradient_penalty_over_an_open_batch_compiles():
    # A WGAN-GP style penalty: the gradient of |d loss / d x|^2 with respect
    # to the weights, in a function whose batch is open. The first gradient
    # is called from the entry and from the second one; its run-time shape
    # checks must reach the entry (they once made the compile fail).
    rng = np.random.RandomState(0)
    w = kiln.Variable(rng.randn(3, 4).astype(np.float32))

    @kiln.function(input_signature=[kiln.TensorSpec([None, 3], kiln.float32)])
    def penalty(x):
        with kiln.GradientTape() as outer:
            with kiln.GradientTape() as inner:
                inner.watch(x)
                y = kiln.reduce_sum(kiln.tanh(kiln.matmul(x, w)))
            g = inner.gradient(y, x)
            p = kiln.reduce_sum(g * g)
        return g, outer.gradient(p, w)

    W = w.numpy().astype(np.float64)

    def numeric(x):
        def pen(W):
            d = (1 - np.tanh(x @ W) ** 2) @ W.T
            return (d * d).sum()
        out, e = np.zeros_like(W), 1e-6
        for i in np.ndindex(*W.shape):
            step = np.zeros_like(W)
            step[i] = e
            out[i] = (pen(W + step) - pen(W - step)) / (2 * e)
        return out

    for batch in (5, 2):
        x = rng.randn(batch, 3).astype(np.float32)
        g, dw = penalty(x)
        x64 = x.astype(np.float64)
        np.testing.assert_allclose(g.numpy(), (1 - np.tanh(x64 @ W) ** 2) @ W.T,
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(dw.numpy(), numeric(x64), rtol=1e-4, atol=1e-5)
    assert penalty.experimental_get_tracing_count() == 1


def test_outer_tape_differentiates_through_the_inner_tapes_saved_values():
    """As in TensorFlow, an inner gradient recorded on an outer tape reads
    the forward values its backward ops need: with respect to one of them
    the outer gradient is the partial derivative through those reads (TF's
    formulas); with respect to the source it is the full second derivative
    (central differences of the first); a tape opened after the forward
    ops sees the saved values as constants (TF's partial again)."""
    x0 = np.array([0.5, -1.5, 1.1])
    x = kiln.constant(x0)

    def second(v):
        with kiln.GradientTape(persistent=True) as outer:
            outer.watch(v)
            with kiln.GradientTape() as inner:
                inner.watch(v)
                y = v * v
                z = kiln.reduce_sum(kiln.sin(y))
            g = inner.gradient(z, v)  # 2 v cos(y), reading v and y
        return g, outer.gradient(g, y), outer.gradient(g, v)
    first = lambda v: 2 * v * np.cos(v * v)
    h = 1e-6
    # Eagerly, and traced (the inner gradient reads the traced values).
    for run in (second, kiln.function(second)):
        g, by_y, by_x = run(x)
        np.testing.assert_allclose(g.numpy(), first(x0), rtol=1e-12)
        np.testing.assert_allclose(by_y.numpy(), -2 * x0 * np.sin(x0 * x0), rtol=1e-12)
        np.testing.assert_allclose(by_x.numpy(), (first(x0 + h) - first(x0 - h)) / (2 * h),
                                   rtol=1e-7)
    # Inside a kiln.cond (traced: the region reads y from above).
    @kiln.function
    def in_cond(v):
        with kiln.GradientTape() as outer:
            outer.watch(v)
            with kiln.GradientTape() as inner:
                inner.watch(v)
                y = v * v
                z = kiln.cond(kiln.reduce_sum(v) > 0, lambda: kiln.reduce_sum(kiln.sin(y)),
                              lambda: kiln.reduce_sum(y))
            g = inner.gradient(z, v)
        return outer.gradient(g, y)
    np.testing.assert_allclose(in_cond(x).numpy(), -2 * x0 * np.sin(x0 * x0), rtol=1e-12)
    # The target's own value is saved too: tanh's gradient reads it.
    with kiln.GradientTape() as outer:
        outer.watch(x)
        with kiln.GradientTape() as inner:
            inner.watch(x)
            t = kiln.tanh(x)
        g = inner.gradient(t, x)  # 1 - t^2
    np.testing.assert_allclose(outer.gradient(g, t).numpy(), -2 * np.tanh(x0), rtol=1e-12)
    # Opened after the forward ops: y is a constant to the outer tape.
    with kiln.GradientTape() as inner:
        inner.watch(x)
        y = x * x
        z = kiln.reduce_sum(kiln.sin(y))
    with kiln.GradientTape() as outer:
        outer.watch(x)
        g = inner.gradient(z, x)
    np.testing.assert_allclose(outer.gradient(g, x).numpy(), 2 * np.cos(x0 * x0), rtol=1e-12)


def test_tapes_differentiate_only_what_they_recorded():
    """TensorFlow's rule, eagerly and inside @kiln.function: ops that ran
    before a tape opened, while it was stopped (stop_recording) or before a
    reset are constants to it. Oracles: the derivative with the unrecorded
    value held fixed, written out with NumPy."""
    x0 = np.array([0.5, -1.5, 1.1])
    x = kiln.constant(x0)

    def before(v):
        y = v * v                      # before the tape: a constant
        with kiln.GradientTape() as tape:
            tape.watch(v)
            z = kiln.reduce_sum(kiln.sin(y) * v)
        return tape.gradient(z, v)

    def stopped(v):
        with kiln.GradientTape() as tape:
            tape.watch(v)
            with tape.stop_recording():
                c = kiln.exp(v)        # not recorded
            d = v * v                  # recorded again
            z = kiln.reduce_sum(c * d)
        return tape.gradient(z, v)

    def after_reset(v):
        with kiln.GradientTape() as tape:
            tape.watch(v)
            a = kiln.tanh(v)
            tape.reset()               # a is a constant now; v unwatched
            tape.watch(v)
            z = kiln.reduce_sum(a * v)
        return tape.gradient(z, v)

    def target_before(v):
        z = kiln.reduce_sum(v * v)
        with kiln.GradientTape(persistent=True) as tape:
            tape.watch(v)
            w = v * 3.0
        return tape.gradient(z, v), tape.gradient(w, v)

    expected = {before: np.sin(x0 * x0), stopped: 2 * x0 * np.exp(x0),
                after_reset: np.tanh(x0)}
    for f, want in expected.items():
        for run in (f, kiln.function(f)):
            np.testing.assert_allclose(run(x).numpy(), want, rtol=1e-12)
    # A target computed before the tape opened has no gradient (None).
    for run in (target_before, kiln.function(target_before)):
        none, three = run(x)
        assert none is None
        np.testing.assert_allclose(three.numpy(), [3.0, 3.0, 3.0])
    # A variable read before the tape: the tape watches that read, and the
    # product computed from it before the tape is a constant.
    w = kiln.Variable(x0)

    def with_variable():
        y = w * 2.0
        with kiln.GradientTape() as tape:
            z = kiln.reduce_sum(y * w)
        return tape.gradient(z, w)
    for run in (with_variable, kiln.function(with_variable)):
        np.testing.assert_allclose(run().numpy(), 2 * x0, rtol=1e-12)
    # A nested tape opened after the forward ops, traced as eagerly: the
    # saved y = x * x is a constant to it (TF's partial 2 cos(y)).
    @kiln.function
    def opened_after(v):
        with kiln.GradientTape() as inner:
            inner.watch(v)
            y = v * v
            z = kiln.reduce_sum(kiln.sin(y))
        with kiln.GradientTape() as outer:
            outer.watch(v)
            g = inner.gradient(z, v)
        return outer.gradient(g, v)
    np.testing.assert_allclose(opened_after(x).numpy(), 2 * np.cos(x0 * x0), rtol=1e-12)
    # Inside compiled control flow, stop_recording and reset are refused
    # (the traced tape copies a loop or branch whole).
    @kiln.function
    def stopped_in_loop(v):
        with kiln.GradientTape() as tape:
            tape.watch(v)
            acc = v
            for _ in kiln.range(2):
                with tape.stop_recording():
                    acc = acc * v
        return tape.gradient(acc, v)
    with pytest.raises(kiln.errors.UnimplementedError,
                       match=r"test_gradients.py:\d+: GradientTape.stop_recording inside a loop"):
        stopped_in_loop(x)

    @kiln.function
    def reset_in_branch(v):
        with kiln.GradientTape() as tape:
            tape.watch(v)
            if kiln.reduce_sum(v) > 0:
                tape.reset()
            y = kiln.reduce_sum(v * v)
        return tape.gradient(y, v)
    with pytest.raises(kiln.errors.UnimplementedError, match="GradientTape.reset inside"):
        reset_in_branch(x)
    # stop_recording outside the tape's context is an error, as in TF.
    tape = kiln.GradientTape()
    with pytest.raises(RuntimeError, match="not recording"):
        with tape.stop_recording():
            pass


def test_unconnected_gradients_none_or_zero():
    """tf.UnconnectedGradients: a source the target does not depend on gets
    None, or zeros of its shape and dtype with ZERO ('zero'), from
    gradient, jacobian and batch_jacobian, eagerly and compiled (open
    extents included); a bad value is a ValueError naming it."""
    a = kiln.constant(np.arange(6.0).reshape(2, 3))
    b = kiln.constant(np.ones((2, 5), np.float32))
    w = kiln.Variable(np.ones(4, np.float32))

    def grads(x, y, mode):
        with kiln.GradientTape(persistent=True) as tape:
            tape.watch([x, y])
            z = kiln.reduce_sum(x * x)
            row = x * 2.0
        return (tape.gradient(z, {"x": x, "y": y, "w": w}, unconnected_gradients=mode),
                tape.gradient(z, y, unconnected_gradients=mode),
                tape.jacobian(row, y, unconnected_gradients=mode),
                tape.batch_jacobian(row, y, unconnected_gradients=mode))
    for run in (grads, kiln.function(grads)):
        named, single, jac, bjac = run(a, b, kiln.UnconnectedGradients.NONE)
        np.testing.assert_allclose(named["x"].numpy(), 2 * a.numpy())
        assert named["y"] is None and named["w"] is None
        assert single is None and jac is None
        # batch_jacobian: zeros of the target's dtype in either mode (TF).
        assert bjac.shape == (2, 3, 5) and bjac.numpy().dtype == np.float64
        assert not bjac.numpy().any()
        named, single, jac, bjac = run(a, b, "zero")
        np.testing.assert_allclose(named["x"].numpy(), 2 * a.numpy())
        for g, shape, dtype in ((named["y"], (2, 5), np.float32),
                                (named["w"], (4,), np.float32),
                                (single, (2, 5), np.float32),
                                (jac, (2, 3, 2, 5), np.float32),
                                (bjac, (2, 3, 5), np.float64)):
            assert g.shape == shape and g.numpy().dtype == dtype
            assert not g.numpy().any()
    # Open extents: the zeros take the source's run-time shape.
    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float64),
                                    kiln.TensorSpec((None, 5), kiln.float32)])
    def open_batch(x, y):
        with kiln.GradientTape() as tape:
            tape.watch([x, y])
            z = kiln.reduce_sum(x)
        return tape.gradient(z, [x, y], unconnected_gradients=kiln.UnconnectedGradients.ZERO)
    gx, gy = open_batch(a, b)
    np.testing.assert_array_equal(gx.numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(gy.numpy(), np.zeros((2, 5), np.float32))
    # Jacobians need known extents: a clear error, not a TypeError.
    @kiln.function(input_signature=[kiln.TensorSpec((None, 3), kiln.float64)])
    def open_jacobian(x):
        with kiln.GradientTape() as tape:
            tape.watch(x)
            y = x * 2.0
        return tape.batch_jacobian(y, x)
    with pytest.raises(kiln.errors.UnimplementedError, match="batch_jacobian: the extents"):
        open_jacobian(a)
    with kiln.GradientTape() as tape:
        tape.watch(a)
    with pytest.raises(ValueError, match="unconnected_gradients.*'zeros'"):
        tape.gradient(a, a, unconnected_gradients="zeros")


def test_custom_gradient_replaces_the_derived_gradient():
    """tf.custom_gradient's example: log(1 + e^x) with a gradient that stays
    finite where the derived one is inf/inf. The oracle is NumPy's
    sigmoid; eager tape, gradients_function and a compiled tape agree."""
    @kiln.custom_gradient
    def log1pexp(x):
        e = kiln.exp(x)

        def grad(dy):
            return dy * (1 - 1 / (1 + e))
        return kiln.log(1 + e), grad

    values = np.array([-3.0, 0.0, 2.0, 100.0], np.float32)
    expect = 1 / (1 + np.exp(-values.astype(np.float64)))
    x = kiln.constant(values)
    with kiln.GradientTape() as tape:
        tape.watch(x)
        y = kiln.reduce_sum(log1pexp(x))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), expect, rtol=1e-6)
    (g,) = kiln.gradients_function(lambda v: kiln.reduce_sum(log1pexp(v)))(x)
    np.testing.assert_allclose(g.numpy(), expect, rtol=1e-6)

    @kiln.function
    def compiled(v):
        with kiln.GradientTape() as tape:
            tape.watch(v)
            out = kiln.reduce_sum(log1pexp(v) * 2.0)
        return tape.gradient(out, v)
    np.testing.assert_allclose(compiled(x).numpy(), 2 * expect, rtol=1e-6)
    assert "kiln.custom_vjp" in compiled.get_concrete_function(x).mlir
    # Without a tape it is just the function.
    np.testing.assert_allclose(log1pexp(kiln.constant([0.0])).numpy(), [np.log(2.0)], rtol=1e-6)


def test_custom_gradient_several_inputs_outputs_and_errors():
    @kiln.custom_gradient
    def scaled_pair(a, b):
        # Outputs (a * b, a); declared gradients: 3 * d(first) for a,
        # nothing for b (None: zeros).
        def grad(d_first, d_second):
            return 3.0 * d_first + d_second, None
        return (a * b, a), grad

    a, b = kiln.constant([1.0, 2.0]), kiln.constant([5.0, 7.0])
    with kiln.GradientTape(persistent=True) as tape:
        tape.watch([a, b])
        first, second = scaled_pair(a, b)
        loss = kiln.reduce_sum(first) + 10.0 * kiln.reduce_sum(second)
    ga, gb = tape.gradient(loss, [a, b])
    np.testing.assert_allclose(ga.numpy(), [13.0, 13.0])
    np.testing.assert_allclose(gb.numpy(), [0.0, 0.0])
    np.testing.assert_allclose(first.numpy(), [5.0, 14.0])

    @kiln.custom_gradient
    def wrong_count(x):
        return x * 2.0, lambda dy: (dy, dy)

    with pytest.raises(kiln.errors.InvalidArgumentError, match="returned 2 gradients for 1 inputs"):
        with kiln.GradientTape() as tape:
            tape.watch(a)
            y = kiln.reduce_sum(wrong_count(a))
        tape.gradient(y, a)

    w = kiln.Variable([1.0, 1.0])

    @kiln.custom_gradient
    def reads_variable(x):
        return x * w, lambda dy: dy

    with pytest.raises(kiln.errors.UnimplementedError, match="reads variables"):
        kiln.function(lambda x: reads_variable(x))(a)


def test_eager_training_steps_free_their_tensors_at_once():
    """An eager step (forward under a tape, gradient, update) leaves no
    reference cycles: its tensors go back to the runtime's pool when the
    step ends, as PyTorch's do, not when Python's cyclic collector runs
    (meanwhile every step took fresh memory: a 256 x 784 MLP step ran 2x
    slower on page faults)."""
    import gc
    model = kiln.Sequential([kiln.layers.Dense(16, activation="relu"),
                             kiln.layers.Dense(3)])
    optimizer = kiln.optimizers.Adam(1e-3)
    loss_fn = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)
    x = kiln.constant(np.random.default_rng(0).random((32, 8), dtype=np.float32))
    y = kiln.constant(np.arange(32) % 3)

    def step():
        with kiln.GradientTape() as tape:
            loss = loss_fn(y, model(x))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    for _ in range(3):
        step()
    gc.collect()
    gc.disable()
    try:
        info = kiln.config.experimental.get_memory_info
        step()
        held = info()["current"]
        for _ in range(5):
            step()
        assert info()["current"] == held
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_tape_inside_a_loop_body_may_stop_recording_there():
    """A tape opened inside a compiled loop's body records spans in that
    body: stop_recording there is honoured (the product computed while
    stopped is a constant), as eagerly."""
    def body_tapes(v):
        total = kiln.zeros_like(v)
        for _ in kiln.range(2):
            with kiln.GradientTape() as tape:
                tape.watch(v)
                with tape.stop_recording():
                    c = kiln.exp(v)
                y = kiln.reduce_sum(c * v)
            total = total + tape.gradient(y, v)
        return total
    x0 = np.array([0.5, -1.0])
    for run in (body_tapes, kiln.function(body_tapes)):
        np.testing.assert_allclose(run(kiln.constant(x0)).numpy(), 2 * np.exp(x0), rtol=1e-12)


def test_integer_targets_and_sources_have_no_gradient():
    """TensorFlow: an integer target (argmax) or a watched integer source
    gets None (a warning at watch), floating sources beside it their
    gradients; eagerly and inside @kiln.function."""
    v = kiln.Variable([1.0, 2.0])
    with kiln.GradientTape() as tape:
        a = kiln.math.argmax(v)
    assert tape.gradient(a, v) is None
    c = kiln.constant([1, 2, 3])
    x = kiln.constant([1.0, 2.0])
    with kiln.GradientTape(persistent=True) as tape:
        with pytest.warns(UserWarning, match="int32"):
            tape.watch(c)
        tape.watch(x)
        y = kiln.reduce_sum(x * x) + kiln.reduce_sum(kiln.cast(c, kiln.float32))
    gx, gc = tape.gradient(y, [x, c])
    np.testing.assert_array_equal(gx.numpy(), [2.0, 4.0])
    assert gc is None

    @kiln.function
    def compiled():
        with kiln.GradientTape() as tape:
            a = kiln.math.argmax(v)
        return tape.gradient(a, v) is None
    assert compiled()
