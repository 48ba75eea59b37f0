"""@kiln.function: tracing into the Kiln dialect, compiling, caching by
signature, variables updated in place, gradients inside."""

import numpy as np
import pytest

import kiln


def test_compiled_agrees_with_eager_and_caches_by_signature():
    def f(x, w, scale):
        return kiln.nn.relu(x @ w) * scale + kiln.reduce_mean(x)

    g = kiln.function(f)
    x = np.random.default_rng(0).uniform(-1, 1, (4, 3)).astype(np.float32)
    w = np.random.default_rng(1).uniform(-1, 1, (3, 2)).astype(np.float32)
    np.testing.assert_allclose(g(x, w, 2.0).numpy(), f(kiln.constant(x), kiln.constant(w),
                                                       2.0).numpy(), rtol=1e-6)
    # NumPy's answer (float64), independent of Kiln.
    want = np.maximum(x.astype(np.float64) @ w, 0) * 2.0 + x.astype(np.float64).mean()
    np.testing.assert_allclose(g(x, w, 2.0).numpy(), want, rtol=1e-5, atol=1e-6)
    assert g.trace_count == 1 and g.retrace_reason == "first call"
    g(x, w, 2.0)
    assert g.trace_count == 1
    g(x[:2], w, 2.0)  # a new shape
    assert g.trace_count == 2
    assert g.retrace_reason.startswith("argument 0 changed from ((4, 3), 'float32')")
    g(x, w, 2.0)  # cached: no trace
    assert g.trace_count == 2
    g(x, w, 3.0)  # a new Python constant
    assert g.trace_count == 3 and "argument 2 changed" in g.retrace_reason
    text = g.get_concrete_function(x, w, 2.0).mlir
    assert "func.func @f(" in text and "kiln.matmul" in text and "kiln.relu" in text


def test_python_side_effects_run_only_while_tracing():
    loss_history = []

    @kiln.function
    def step(x):
        loss = kiln.reduce_sum(x * x)
        loss_history.append(loss)  # a symbolic tensor, once
        return loss

    for _ in range(3):
        step(kiln.constant([1.0, 2.0]))
    assert len(loss_history) == 1


def test_nested_functions_structures_and_python_outputs():
    @kiln.function
    def inner(x):
        return x * 2.0

    @kiln.function
    def outer(pair):
        a, b = pair
        return {"sum": inner(a) + b, "tag": "ok"}

    out = outer((kiln.constant([1.0]), kiln.constant([5.0])))
    assert out["tag"] == "ok"
    np.testing.assert_array_equal(out["sum"].numpy(), [7.0])


def test_python_control_flow_on_a_traced_tensor():
    # An early return on a tensor is rewritten like an if/else (AutoGraph).
    @kiln.function
    def f(x):
        if kiln.reduce_sum(x) > 0:
            return x
        return -x
    np.testing.assert_array_equal(f(kiln.constant([1.0])).numpy(), [1.0])
    np.testing.assert_array_equal(f(kiln.constant([-2.0])).numpy(), [2.0])
    assert f.trace_count == 1

    # A `while ... else` on a tensor is not rewritten: a TypeError pointing
    # to kiln.while_loop.
    @kiln.function
    def g(x):
        while kiln.reduce_sum(x) > 0:
            x = x - 1.0
        else:
            x = x + 1.0
        return x
    with pytest.raises(TypeError, match="kiln.while_loop"):
        g(kiln.constant([1.0]))


def test_errors_inside_a_trace_name_the_users_line():
    @kiln.function
    def f(x):
        return kiln.matmul(x, x)  # 2x3 @ 2x3

    with pytest.raises(kiln.errors.InvalidArgumentError) as info:
        f(kiln.ones((2, 3)))
    assert "test_function.py" in str(info.value)
    assert "contraction dimensions differ" in str(info.value)


def test_training_step_updates_variables_in_place():
    rng = np.random.default_rng(2)
    xs = rng.uniform(-1, 1, (16, 3)).astype(np.float32)
    ys = (xs @ np.array([1.0, -2.0, 0.5], np.float32) + 0.3).astype(np.float32)
    w_eager = kiln.Variable(np.zeros(3, np.float32))
    b_eager = kiln.Variable(0.0)
    w = kiln.Variable(np.zeros(3, np.float32))
    b = kiln.Variable(0.0)

    def step(w, b, x, y):
        with kiln.GradientTape() as tape:
            pred = kiln.reduce_sum(x * w, axis=1) + b
            loss = kiln.reduce_mean(kiln.square(pred - y))
        gw, gb = tape.gradient(loss, [w, b])
        w.assign_sub(0.5 * gw)
        b.assign_sub(0.5 * gb)
        return loss

    compiled = kiln.function(step)
    before = w.value()
    losses = []
    for _ in range(60):
        eager_loss = step(w_eager, b_eager, kiln.constant(xs), kiln.constant(ys))
        loss = compiled(w, b, xs, ys)
        np.testing.assert_allclose(float(loss), float(eager_loss), rtol=1e-5)
        losses.append(float(loss))
    assert compiled.trace_count == 1
    np.testing.assert_allclose(w.numpy(), w_eager.numpy(), rtol=1e-5)
    # NumPy's gradient descent on the mean squared error: the same weights.
    wn, bn, numpy_losses = np.zeros(3), 0.0, []
    for _ in range(60):
        err = xs @ wn + bn - ys
        numpy_losses.append((err ** 2).mean())
        wn, bn = wn - 0.5 * 2 * xs.T @ err / len(err), bn - 0.5 * 2 * err.mean()
    np.testing.assert_allclose(losses, numpy_losses, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(w.numpy(), wn, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(float(b), bn, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w.numpy(), [1.0, -2.0, 0.5], atol=0.1)
    # A tensor read before the compiled updates kept its value.
    np.testing.assert_array_equal(before.numpy(), [0, 0, 0])
    assert "kiln.assign_variable" in compiled.get_concrete_function(w, b, xs, ys).mlir


def test_a_warm_training_step_takes_no_new_memory():
    # Every tensor and every temporary of the compiled step comes from the
    # runtime's pool: once warm, a step reuses the blocks of the last one.
    model = kiln.Sequential([kiln.layers.Dense(32, activation="relu"),
                             kiln.layers.Dense(10)])
    opt = kiln.optimizers.SGD(0.1)
    loss_fn = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)

    @kiln.function
    def step(x, y):
        with kiln.GradientTape() as tape:
            loss = loss_fn(y, model(x))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    rng = np.random.default_rng(0)
    x = kiln.constant(rng.random((64, 300), dtype=np.float32))
    y = kiln.constant(rng.integers(0, 10, 64))
    # Warm up the way the measured steps run, until three steps in a row
    # take nothing new: how many blocks the worker threads' chunks hold at
    # once depends on their timing, so the pool may grow over a few steps.
    steady, last = 0, None
    for _ in range(30):
        step(x, y).numpy()
        now = kiln.config.experimental.get_memory_info("CPU:0")["allocations"]
        steady = steady + 1 if now == last else 0
        last = now
        if steady == 3:
            break
    assert steady == 3, "the pool kept growing over 30 steps"
    before = kiln.config.experimental.get_memory_info("CPU:0")
    for _ in range(5):
        step(x, y).numpy()
    after = kiln.config.experimental.get_memory_info("CPU:0")
    assert after["allocations"] == before["allocations"]
    # The step's temporaries (activations, gradients: far more than the
    # one loss tensor per call) were served from the cache.
    assert after["reuses"] - before["reuses"] >= 5 * 4
    with pytest.raises(kiln.errors.InvalidArgumentError, match="GPU"):
        kiln.config.experimental.get_memory_info("GPU:0")


def test_results_are_bitwise_identical_for_any_thread_count():
    # The cache tiles of the matrix products run on the runtime's threads;
    # each tile is computed whole by one thread, so the result cannot depend
    # on how many threads shared them. A step big enough to be split into
    # several tiles (a 4-tile forward product and its gradients), run with
    # 1, 2 and 3 threads from the same initial weights.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((96, 200)).astype(np.float32)
    w0 = (rng.standard_normal((200, 512)) * 0.05).astype(np.float32)
    y = rng.integers(0, 512, 96)
    default = kiln.config.threading.get_intra_op_parallelism_threads()
    results = {}
    try:
        for threads in (1, 2, 3):
            kiln.config.threading.set_intra_op_parallelism_threads(threads)
            assert kiln.config.threading.get_intra_op_parallelism_threads() == threads
            w = kiln.Variable(w0)

            @kiln.function
            def step(x, y):
                with kiln.GradientTape() as tape:
                    logits = kiln.matmul(x, w)
                    loss = kiln.reduce_mean(
                        kiln.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
                (g,) = tape.gradient(loss, [w])
                w.assign_sub(0.5 * g)
                return loss

            losses = [step(kiln.constant(x), kiln.constant(y)).numpy()
                      for _ in range(3)]
            results[threads] = (np.array(losses), w.numpy())
    finally:
        kiln.config.threading.set_intra_op_parallelism_threads(0)
    assert kiln.config.threading.get_intra_op_parallelism_threads() == default
    for threads in (2, 3):
        np.testing.assert_array_equal(results[threads][0], results[1][0])
        np.testing.assert_array_equal(results[threads][1], results[1][1])
    # And the numbers are right (NumPy, the same three steps).
    w = w0.astype(np.float64)
    for expected in results[1][0]:
        z = x @ w
        z -= z.max(1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        loss = -np.log(p[np.arange(96), y]).mean()
        np.testing.assert_allclose(expected, loss, rtol=1e-4)
        p[np.arange(96), y] -= 1
        w -= 0.5 * (x.T @ p) / 96
    np.testing.assert_allclose(results[1][1], w, rtol=1e-3, atol=1e-5)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="thread count"):
        kiln.config.threading.set_intra_op_parallelism_threads(-1)


def test_convolution_steps_are_bitwise_identical_for_any_thread_count():
    # A convolutional step spreads three kinds of work over the threads:
    # output rows of the convolutions, blocks of the filter gradients, and
    # partial sums of the bias gradients (a sum over 32 x 24 x 24 pixels
    # per channel, split into partial sums that are added in a fixed
    # order). None may depend on the thread count.
    rng = np.random.default_rng(4)
    x = rng.standard_normal((32, 28, 28, 1)).astype(np.float32)
    k1 = (rng.standard_normal((3, 3, 1, 16)) * 0.3).astype(np.float32)
    k2 = (rng.standard_normal((3, 3, 16, 16)) * 0.1).astype(np.float32)
    results = {}
    try:
        for threads in (1, 2, 3):
            kiln.config.threading.set_intra_op_parallelism_threads(threads)
            v1, v2 = kiln.Variable(k1), kiln.Variable(k2)
            b1 = kiln.Variable(np.zeros(16, np.float32))
            b2 = kiln.Variable(np.zeros(16, np.float32))

            @kiln.function
            def step(x):
                with kiln.GradientTape() as tape:
                    h = kiln.nn.relu(kiln.nn.conv2d(x, v1, 1, "VALID") + b1)
                    y = kiln.nn.conv2d(h, v2, 1, "VALID") + b2
                    loss = kiln.reduce_mean(y * y)
                grads = tape.gradient(loss, [v1, v2, b1, b2])
                for v, g in zip([v1, v2, b1, b2], grads):
                    v.assign_sub(0.1 * g)
                return loss

            losses = [step(kiln.constant(x)).numpy() for _ in range(3)]
            results[threads] = [np.array(losses)] + [
                v.numpy() for v in (v1, v2, b1, b2)]
    finally:
        kiln.config.threading.set_intra_op_parallelism_threads(0)
    assert np.all(np.isfinite(results[1][0])) and results[1][0][2] < results[1][0][0]
    for threads in (2, 3):
        for got, want in zip(results[threads], results[1]):
            np.testing.assert_array_equal(got, want)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="between 1 and 1024"):
        kiln.config.threading.set_intra_op_parallelism_threads(5000)


def test_a_second_process_loads_the_compiled_step_from_disk(tmp_path):
    # Traced modules name variables after Python objects, different in every
    # process; the disk cache must still serve the second run of a script,
    # with each variable (and each optimizer slot the pipeline finds by its
    # name) bound to the right buffer.
    from conftest import run_fresh_process
    script = (
        "import numpy as np, kiln\n"
        "kiln.random.set_seed(3)\n"
        "model = kiln.Sequential([kiln.layers.Dense(5, activation='relu'),\n"
        "                         kiln.layers.Dense(3)])\n"
        "opt = kiln.optimizers.SGD(0.1, momentum=0.9)\n"
        "loss_fn = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)\n"
        "@kiln.function\n"
        "def step(x, y):\n"
        "    with kiln.GradientTape() as tape:\n"
        "        loss = loss_fn(y, model(x))\n"
        "    grads = tape.gradient(loss, model.trainable_variables)\n"
        "    opt.apply_gradients(zip(grads, model.trainable_variables))\n"
        "    return loss\n"
        "x = kiln.constant(np.linspace(-1, 1, 24, dtype=np.float32).reshape(6, 4))\n"
        "y = kiln.constant(np.array([0, 1, 2, 0, 1, 2], np.int32))\n"
        "losses = [float(step(x, y).numpy()) for _ in range(4)]\n"
        "weights = [v.numpy().tolist() for v in model.trainable_variables]\n"
        "print(repr((losses, weights)))\n"
        "print(kiln._kiln.modules_compiled())\n")

    def run(extra=None):
        out = run_fresh_process(script, tmp_path / "cache", extra).splitlines()
        return out[0], int(out[1])

    first, compiled = run()
    assert compiled >= 1
    second, compiled_again = run()
    assert compiled_again == 0          # loaded from disk
    assert second == first              # same losses and weights, bitwise
    # The momentum updates really ran: the loss went down.
    losses = eval(first)[0]
    assert losses[-1] < losses[0]
    off, _ = run({"KILN_CACHE_DIR": "off"})
    assert off == first


def test_variables_are_updated_without_a_copy_unless_their_value_is_held():
    # A compiled step writes assigned variables in place. Tensors (and NumPy
    # views) read before the call must keep their values, so the store
    # copies a variable first when anything else holds its buffer; when
    # nothing does, the copy is skipped.
    w = kiln.Variable(np.ones((4, 3), np.float32))

    @kiln.function
    def step(x):
        w.assign_sub(x)
        return kiln.reduce_sum(w.value())

    x = kiln.constant(np.full((4, 3), 0.5, np.float32))
    cf = step.get_concrete_function(x)
    for _ in range(3):
        step(x)
    assert cf._copies_avoided == 3
    np.testing.assert_array_equal(w.numpy(), np.full((4, 3), -0.5, np.float32))

    held = w.value()                     # a tensor read before the call
    step(x)
    assert cf._copies_avoided == 3       # copied: `held` keeps its value
    np.testing.assert_array_equal(held.numpy(), np.full((4, 3), -0.5))
    np.testing.assert_array_equal(w.numpy(), np.full((4, 3), -1.0))
    del held

    view = w.numpy()                     # a NumPy view of the buffer
    step(x)
    np.testing.assert_array_equal(view, np.full((4, 3), -1.0))
    np.testing.assert_array_equal(w.numpy(), np.full((4, 3), -1.5))
    del view

    other = kiln.Tensor(w.value()._impl)  # another tensor on the same buffer
    step(x)
    np.testing.assert_array_equal(other.numpy(), np.full((4, 3), -1.5))
    np.testing.assert_array_equal(w.numpy(), np.full((4, 3), -2.0))


def test_printing_a_traced_tensor_shows_its_shape(capsys):
    """print() inside a trace prints the symbolic tensor (shape, dtype),
    once, while tracing, as TensorFlow does, instead of raising."""
    @kiln.function
    def f(x):
        y = x * 2.0
        print(y)
        return y
    np.testing.assert_array_equal(f(kiln.constant([1.0, 2.0])).numpy(), [2.0, 4.0])
    f(kiln.constant([3.0, 4.0]))
    out = capsys.readouterr().out
    assert out == ("kiln.Tensor(<symbolic in @kiln.function>, shape=(2,), "
                   "dtype=float32)\n")


def test_methods_and_keyword_arguments():
    """@kiln.function on a method binds self (one Function and its traces
    per instance, variables read through self); keyword arguments are
    placed by the signature, and omitted defaults share the trace of the
    explicit ones."""
    import gc

    class Scaled:
        def __init__(self, scale):
            self.w = kiln.Variable([1.0, 2.0])
            self.scale = scale

        @kiln.function
        def __call__(self, x, bias=0.0):
            self.w.assign_add(x)
            return self.w * self.scale + bias

    a, b = Scaled(2.0), Scaled(3.0)
    one = kiln.constant([1.0, 1.0])
    np.testing.assert_array_equal(a(one).numpy(), [4.0, 6.0])
    np.testing.assert_array_equal(b(one, bias=1.0).numpy(), [7.0, 10.0])
    np.testing.assert_array_equal(a(x=one, bias=0.0).numpy(), [6.0, 8.0])
    np.testing.assert_array_equal(a.w.numpy(), [3.0, 4.0])
    assert a.__call__ is a.__call__ and a.__call__ is not b.__call__
    assert (a.__call__.trace_count, b.__call__.trace_count) == (1, 1)
    assert Scaled.__call__.trace_count == 0
    # An instance that goes away takes its traces with it.
    bound = Scaled.__call__._bound
    assert len(bound) == 2
    del b
    gc.collect()
    assert len(bound) == 1

    @kiln.function
    def f(x, y=2.0, *, z=1.0):
        return x * y * z
    np.testing.assert_array_equal(f(kiln.constant(3.0), y=4.0).numpy(), 12.0)
    np.testing.assert_array_equal(f(y=2.0, x=kiln.constant(3.0)).numpy(), 6.0)
    np.testing.assert_array_equal(f(kiln.constant(3.0)).numpy(), 6.0)
    assert f.trace_count == 2  # y=4.0 and y=2.0 (given or by default)
    # Keyword-only and **kwargs parameters: Python values in the key,
    # tensors inputs (one trace for two tensors of one type).
    np.testing.assert_array_equal(f(kiln.constant(3.0), z=2.0).numpy(), 12.0)
    np.testing.assert_array_equal(f(kiln.constant(3.0), z=kiln.constant(5.0)).numpy(), 30.0)
    np.testing.assert_array_equal(f(kiln.constant(3.0), z=kiln.constant(7.0)).numpy(), 42.0)
    assert f.trace_count == 4

    @kiln.function
    def g(x, **options):
        return x * options["a"] + options.get("b", 0.0)
    np.testing.assert_array_equal(g(kiln.constant(3.0), a=kiln.constant(2.0)).numpy(), 6.0)
    np.testing.assert_array_equal(g(kiln.constant(3.0), b=1.0, a=kiln.constant(2.0)).numpy(),
                                  7.0)
    np.testing.assert_array_equal(g(kiln.constant(3.0), a=kiln.constant(4.0)).numpy(), 12.0)
    assert g.trace_count == 2
    with pytest.raises(TypeError, match="unexpected keyword argument 'w'"):
        f(kiln.constant(3.0), w=2.0)


def test_input_signature_compiles_one_shape_generic_training_step():
    """input_signature=[TensorSpec([None, 6]), TensorSpec([None])]: one
    trace serves every batch size; one SGD step of softmax regression
    matches NumPy's closed-form gradient (x^T (softmax - onehot) / n)."""
    rng = np.random.default_rng(11)
    w0 = rng.normal(size=(6, 4)).astype(np.float32)
    b0 = rng.normal(size=4).astype(np.float32)
    w, b = kiln.Variable(w0), kiln.Variable(b0)
    loss_fn = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = kiln.optimizers.SGD(0.5)

    @kiln.function(input_signature=[kiln.TensorSpec([None, 6], kiln.float32),
                                    kiln.TensorSpec([None], kiln.int64)])
    def step(x, y):
        with kiln.GradientTape() as tape:
            loss = loss_fn(y, x @ w + b)
        optimizer.apply_gradients(zip(tape.gradient(loss, [w, b]), [w, b]))
        return loss

    expect_w, expect_b = w0.astype(np.float64), b0.astype(np.float64)
    for n in (5, 3, 8):
        x = rng.normal(size=(n, 6)).astype(np.float32)
        y = rng.integers(0, 4, n)
        logits = x @ expect_w + expect_b
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        loss = -np.log(p[np.arange(n), y]).mean()
        d = (p - np.eye(4)[y]) / n
        expect_w, expect_b = expect_w - 0.5 * x.T @ d, expect_b - 0.5 * d.sum(0)
        np.testing.assert_allclose(float(step(x, y)), loss, rtol=1e-5)
        np.testing.assert_allclose(w.numpy(), expect_w, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(b.numpy(), expect_b, rtol=1e-4, atol=1e-5)
    assert step.trace_count == 1
    assert "tensor<?x6xf32>" in step.get_concrete_function(
        kiln.TensorSpec([None, 6]), kiln.TensorSpec([None], kiln.int64)).mlir
    # Arguments that do not fit the signature are errors, not new traces.
    with pytest.raises(ValueError, match=r"argument 0 \(float32\[2, 5\]\) is not "
                                         r"compatible with input_signature's TensorSpec"):
        step(np.zeros((2, 5), np.float32), np.zeros(2, np.int64))
    with pytest.raises(TypeError, match="missing a required argument"):
        step(np.zeros((2, 6), np.float32))
    with pytest.raises(TypeError, match="not a kiln.TensorSpec"):
        kiln.function(lambda x: x, input_signature=[(2, 3)])
    assert step.trace_count == 1


def test_reduce_retracing_and_the_retrace_warning():
    @kiln.function(reduce_retracing=True)
    def total(x):
        return kiln.reduce_sum(x * 2.0, 0)

    for n in (4, 5, 6, 9):
        x = np.arange(3.0 * n, dtype=np.float32).reshape(n, 3)
        np.testing.assert_allclose(total(x).numpy(), (2 * x).sum(0))
    # The second shape traced once more with the batch extent open; that
    # trace serves the rest.
    assert total.trace_count == 2
    assert "tensor<?x3xf32>" in total.get_concrete_function(np.zeros((7, 3), np.float32)).mlir

    @kiln.function
    def scaled(x, factor):
        return x * factor

    with pytest.warns(UserWarning, match=r"scaled was traced and compiled 5 times "
                                         r"\(the last time because: argument 1 changed"):
        for factor in range(5):
            scaled(kiln.constant(1.0), float(factor))


def test_kiln_print_of_structures_and_strings(capfd):
    """tf.print writes a list, tuple or dict as Python does with its tensors
    formatted as tensors (the example of tf.print's docs:
    `{2: [0 2 4 ... 14 16 18]}`), eagerly and from compiled code; a string
    tensor prints its text (quoted in an array)."""
    import sys
    kiln.print("tensors:", kiln.range(10), {2: kiln.range(10) * 2}, output_stream=sys.stdout)
    kiln.print([kiln.constant([1.0, 2.0]), "x", (kiln.constant(3),)], output_stream=sys.stdout)
    kiln.print(kiln.constant("hi"), kiln.constant(["a", "b"]), output_stream=sys.stdout)

    @kiln.function
    def traced(x):
        kiln.print({"k": x, "n": 5}, [x, x * 2], output_stream=sys.stdout)
        return x

    traced(kiln.constant(3))
    assert capfd.readouterr().out.splitlines() == [
        "tensors: [0 1 2 ... 7 8 9] {2: [0 2 4 ... 14 16 18]}",
        "[[1 2], 'x', (3,)]",
        'hi ["a" "b"]',
        "{'k': 3, 'n': 5} [3, 6]"]


def test_kiln_print_runs_inside_compiled_code_in_program_order(capfd):
    """kiln.print writes tf.print's format (the expected text is written out
    by hand from TensorFlow's rules: nested brackets, spaces, NumPy's line
    breaks, `...` past `summarize`, bools as 1/0) eagerly and from compiled
    code each time it runs — inside loops too, ordered with Python's own
    output."""
    import sys
    x = kiln.constant(np.arange(6.0, dtype=np.float32).reshape(2, 3) / 4)

    @kiln.function
    def f(x, n):
        y = x * 2.0
        kiln.print("y =", y, "n =", n, output_stream=sys.stdout)
        for i in kiln.range(n):
            kiln.print("step", i, kiln.constant([True, False]), sep=":",
                       output_stream=sys.stdout)
        kiln.print(kiln.cast(kiln.reshape(x * 4.0, [1, 2, 3]), kiln.int64),
                   kiln.constant(np.arange(10, dtype=np.int32)), summarize=2,
                   output_stream=sys.stdout)
        return y

    print("before", flush=True)
    f(x, kiln.constant(2))
    print("between", flush=True)
    f(x, kiln.constant(1))
    kiln.print("eager", x, kiln.constant(np.arange(10, dtype=np.int32)), summarize=2,
               output_stream=sys.stdout)
    out = capfd.readouterr().out
    step = "step:{}:[1 0]\n"
    tail = "[[[0 1 2]\n  [3 4 5]]] [0 1 ... 8 9]\n"
    assert out == ("before\n"
                   "y = [[0 0.5 1]\n [1.5 2 2.5]] n = 2\n" + step.format(0) + step.format(1) + tail +
                   "between\n"
                   "y = [[0 0.5 1]\n [1.5 2 2.5]] n = 1\n" + step.format(0) + tail +
                   "eager [[0 0.25 0.5]\n [0.75 1 1.25]] [0 1 ... 8 9]\n"), out
    assert f.trace_count == 1
    # Floats as TensorFlow's FloatToBuffer writes them: %.6g, else %.9g when
    # that does not read back (doubles %.15g / %.17g; half widened to float).
    values = (kiln.constant([1 / 3, 0.1, 123456789.0]), kiln.constant(1 / 3, "float64"),
              kiln.constant(np.float16(0.1)))
    expected = "[0.333333343 0.1 123456792] 0.33333333333333331 0.0999755859\n"
    kiln.function(lambda a, b, c: kiln.print(a, b, c, output_stream=sys.stdout))(*values)
    kiln.print(*values, output_stream=sys.stdout)
    assert capfd.readouterr().out == expected * 2
    # TensorFlow's summaries of empty tensors and of summarize=0, compiled
    # (the runtime's printer) as eagerly.
    edges = (kiln.zeros([2, 0]), kiln.zeros([0]), kiln.constant([1, 2, 3]), kiln.constant(7),
             kiln.constant([True, False]))
    kiln.function(lambda *t: kiln.print(*t, summarize=0, output_stream=sys.stdout))(*edges)
    kiln.function(lambda *t: kiln.print(*t[:2], output_stream=sys.stdout))(*edges)
    kiln.print(*edges, summarize=0, output_stream=sys.stdout)
    expected = "[\n ...] [] [ ...] ... \n"   # (a bool tensor with nothing to print: "")
    assert capfd.readouterr().out == expected + "[\n ...] []\n" + expected
    # Standard error by default, as tf.print.
    kiln.function(lambda v: kiln.print("err", v))(kiln.constant(1.5))
    assert capfd.readouterr().err.endswith("err 1.5\n")
    import io
    with pytest.raises(kiln.errors.UnimplementedError, match="sys.stdout or sys.stderr"):
        kiln.function(lambda v: kiln.print(v, output_stream=io.StringIO()))(kiln.constant(1.0))


def test_tensor_scalars_index_among_other_indices():
    """x[i, 0], x[:, j], x[1, j, i] with integer scalar tensors (a loop
    counter): eagerly and compiled, negative ones counting from the end as
    TensorFlow's strided slice does; NumPy's indexing is the oracle, and the
    gradient reaches only the picked elements."""
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)

    def picks(x, i, j):
        return x[i, 0], x[:, j], x[1, j, i], x[i, :, -1], x[-1, j], x[i], x[i, 1:]

    compiled = kiln.function(picks)
    for i, j in ((1, 2), (-1, -2), (0, 0)):
        want = picks(x, i, j)
        for run in (picks, compiled):
            got = run(kiln.constant(x), kiln.constant(i), kiln.constant(j))
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g.numpy(), w)
    with pytest.raises(kiln.errors.InvalidArgumentError, match=r"5 is not in \[0, 2\)"):
        compiled(kiln.constant(x), kiln.constant(5), kiln.constant(0))
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match="index 7 is out of bounds for dimension 1 with size 3"):
        kiln.constant(x)[0, kiln.constant(7)]

    v = kiln.Variable(x)
    with kiln.GradientTape() as tape:
        y = kiln.reduce_sum(v[kiln.constant(1), :, kiln.constant(-2)] ** 2)
    want = np.zeros_like(x)
    want[1, :, 2] = 2 * x[1, :, 2]
    np.testing.assert_array_equal(tape.gradient(y, v).numpy(), want)


def test_slice_from_a_begin_computed_at_run_time():
    """tf.slice(x, [i, 0], [2, -1]) with `i` known only when the code runs:
    a block of fixed size (NumPy's slicing the oracle), its gradient
    scattered back, a block that does not fit an error when the code runs
    (TensorFlow's), and x[i:i + 2] an error that names kiln.slice."""
    x = np.arange(10.0, dtype=np.float32).reshape(5, 2)
    block = kiln.function(lambda t, i: kiln.slice(t, [i, 1], [2, -1]))
    for i in range(4):
        np.testing.assert_array_equal(block(x, kiln.constant(i)).numpy(), x[i:i + 2, 1:])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="a block of 2 does not fit"):
        block(x, kiln.constant(4))
    with pytest.raises(kiln.errors.UnimplementedError, match=r"use kiln.slice\(x, begin, size\)"):
        kiln.function(lambda t, i: t[i:i + 2])(x, kiln.constant(1))

    v = kiln.Variable(x)

    @kiln.function
    def gradient(i):
        with kiln.GradientTape() as tape:
            y = kiln.reduce_sum(kiln.slice(v, [i, 0], [2, 1]) ** 2)
        return tape.gradient(y, v)

    want = np.zeros_like(x)
    want[3:5, 0] = 2 * x[3:5, 0]
    np.testing.assert_array_equal(gradient(kiln.constant(3)).numpy(), want)


def test_compiled_code_checks_indices_and_labels_at_run_time():
    """An index or label known only when the compiled code runs is checked
    there: the call raises InvalidArgumentError naming the op's line (the
    process goes on, later calls work); in range, the results are NumPy's."""
    import inspect

    @kiln.function
    def pick(x, i):
        return x[i] * 2.0

    x = kiln.constant([1.0, 2.0, 3.0])
    assert float(pick(x, kiln.constant(2))) == 6.0
    line = inspect.getsourcelines(pick._python_function)[1] + 2
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=rf"test_function.py:{line}: gather: an index is out of range "
                             r"\(10 is not in \[0, 3\)\)"):
        pick(x, kiln.constant(10))
    assert float(pick(x, kiln.constant(0))) == 2.0

    # A large gather split over the thread pool reports from a worker too.
    table = np.arange(200 * 64, dtype=np.float32).reshape(200, 64)
    lookup = kiln.function(lambda t, ids: kiln.gather(t, ids))
    ids = np.arange(0, 400, 2) % 200
    np.testing.assert_array_equal(lookup(table, ids).numpy(), table[ids])
    bad = ids.copy()
    bad[-1] = 200
    with pytest.raises(kiln.errors.InvalidArgumentError, match=r"200 is not in \[0, 200\)"):
        lookup(table, bad)

    # TensorArray reads in a compiled loop.
    @kiln.function
    def read_all(n):
        ta = kiln.TensorArray(kiln.float32, size=3).unstack(kiln.constant([1.0, 2.0, 3.0]))
        total = kiln.constant(0.0)
        for i in kiln.range(n):
            total = total + ta.read(i)
        return total
    assert float(read_all(kiln.constant(3))) == 6.0
    with pytest.raises(kiln.errors.InvalidArgumentError, match=r"3 is not in \[0, 3\)"):
        read_all(kiln.constant(4))

    # Sparse labels, eagerly and compiled (TensorFlow's error, not NaN).
    logits = kiln.constant(np.zeros((4, 3), np.float32))
    loss = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)
    with pytest.raises(kiln.errors.InvalidArgumentError, match=r"a label is out of the classes' "
                                                              r"range \(3 is not in \[0, 3\)\)"):
        loss(kiln.constant([0, 1, 3, 1]), logits)
    compiled = kiln.function(lambda y, l: loss(y, l))
    np.testing.assert_allclose(float(compiled(kiln.constant([0, 1, 2, 1]), logits)), np.log(3.0),
                               rtol=1e-6)
    with pytest.raises(kiln.errors.InvalidArgumentError, match=r"-1 is not in \[0, 3\)"):
        compiled(kiln.constant([0, -1, 2, 1]), logits)


def test_gradients_over_an_open_batch_extent_match_finite_differences():
    """The VJP rules that broadcast back to an input's shape (reduce_mean,
    reduce_max, reduce_min over the open axis and across it) with the batch
    extent known only at run time, against central differences of the same
    function in NumPy (float64)."""
    @kiln.function(input_signature=[kiln.TensorSpec([None, 3], kiln.float64)])
    def grad(x):
        with kiln.GradientTape() as tape:
            tape.watch(x)
            y = (kiln.reduce_mean(x * x) + kiln.reduce_sum(kiln.reduce_max(x, axis=1))
                 + kiln.reduce_sum(kiln.reduce_min(x, axis=0) * 3.0))
        return tape.gradient(y, x)

    def f(a):
        return np.mean(a * a) + a.max(axis=1).sum() + (a.min(axis=0) * 3.0).sum()

    rng = np.random.default_rng(12)
    for n in (4, 7):
        a = rng.normal(size=(n, 3))
        numeric = np.zeros_like(a)
        for index in np.ndindex(a.shape):
            e = np.zeros_like(a)
            e[index] = 1e-6
            numeric[index] = (f(a + e) - f(a - e)) / 2e-6
        np.testing.assert_allclose(grad(a).numpy(), numeric, rtol=1e-6, atol=1e-6)
    assert grad.trace_count == 1


def test_a_tape_outside_a_compiled_function_differentiates_through_it():
    # TensorFlow records a tf.function call on the tapes around it; Kiln
    # runs the Python eagerly while a tape records, so the gradients are
    # there (they were None). NumPy's formulas are the oracle.
    rng = np.random.default_rng(31)
    w = kiln.Variable(rng.normal(size=(3, 2)))
    wn = w.numpy()

    @kiln.function
    def model(x):
        h = kiln.tanh(kiln.matmul(x, w))
        if kiln.reduce_sum(h) > 0:      # (a tensor-dependent branch)
            h = h * 2.0
        return h

    x = rng.normal(size=(4, 3))
    with kiln.GradientTape() as tape:
        xt = kiln.constant(x)
        tape.watch(xt)
        y = kiln.reduce_sum(model(xt) ** 2)
    dw, dx = tape.gradient(y, [w, xt])
    h = np.tanh(x @ wn)
    scale = 2.0 if h.sum() > 0 else 1.0
    g = 2 * (scale * h) * scale * (1 - h ** 2)          # dy/d(x @ w)
    np.testing.assert_allclose(dw.numpy(), x.T @ g, rtol=1e-10)
    np.testing.assert_allclose(dx.numpy(), g @ wn.T, rtol=1e-10)
    np.testing.assert_allclose(float(y), ((scale * h) ** 2).sum(), rtol=1e-12)
    # Without a tape the call is compiled, with the same value.
    np.testing.assert_allclose(model(x).numpy(), scale * h, rtol=1e-12)
    assert model.trace_count == 1
    # A signature is still checked.
    typed = kiln.function(lambda v: v * w[0, 0],
                          input_signature=[kiln.TensorSpec([None, 3], kiln.float64)])
    with kiln.GradientTape():
        with pytest.raises(ValueError, match="not compatible with input_signature"):
            typed(kiln.ones((2, 4), kiln.float64))


def test_retraces_when_the_nesting_of_arguments_changes():
    # The same tensors nested differently (a dict, then a list; a tuple of
    # two, then a pair of pairs) are different Python values to the
    # function: each gets its own trace (one reused trace gave the dict's
    # order, sorted keys, to the list).
    @kiln.function
    def first_minus_second(pair):
        if isinstance(pair, dict):
            return pair["x"] - pair["a"]
        return pair[0] - pair[1]

    x, a = kiln.constant([5.0]), kiln.constant([2.0])
    assert float(first_minus_second({"x": x, "a": a})[0]) == 3.0
    assert float(first_minus_second([x, a])[0]) == 3.0
    assert float(first_minus_second({"a": a, "x": x})[0]) == 3.0
    assert first_minus_second.trace_count == 2
