"""kiln.Module and kiln.name_scope against tf.Module's documented behaviour
(names, attribute order, what is found), training oracles written with
NumPy, and Layers tracking the variables and modules they hold."""

import numpy as np
import pytest

import kiln


class Dense(kiln.Module):
    def __init__(self, n_in, n_out, name=None, dtype=np.float64):
        super().__init__(name=name)
        with self.name_scope:
            self.w = kiln.Variable(np.full((n_in, n_out), 0.5, dtype), name="w")
            self.b = kiln.Variable(np.zeros(n_out, dtype), name="b")

    def __call__(self, x):
        return x @ self.w + self.b


class MLP(kiln.Module):
    def __init__(self, name=None):
        super().__init__(name=name)
        self.layers = [Dense(3, 4), Dense(4, 2)]
        self.extra = {"scale": kiln.Variable(np.float64(2.0), name="scale"),
                      "frozen": kiln.Variable(1.0, trainable=False, name="frozen")}

    @kiln.Module.with_name_scope
    def __call__(self, x):
        self.made_in_call = kiln.Variable(0.0, trainable=False, name="made")
        for layer in self.layers:
            x = layer(x)
        return x * self.extra["scale"]


def test_names_scopes_and_what_a_module_finds():
    assert kiln.Module().name == "module"
    d = Dense(2, 3)
    assert d.name == "dense" and isinstance(d, kiln.Module)
    # Variables made in the module's scope carry its name.
    assert d.w.name.startswith("dense/w") and d.b.name.startswith("dense/b")
    # Attribute-name order (b before w), as tf.Module's walk.
    assert [v is d.b for v in d.variables] == [True, False]
    assert d.trainable_variables == d.variables
    with pytest.raises(ValueError, match="not a valid module name"):
        kiln.Module(name="two words")

    m = MLP(name="mlp")
    # extra/frozen, extra/scale (dict keys sorted), then layers 0 and 1.
    names = [v.name.split(":")[0] for v in m.variables]
    assert len(names) == 6 and names[0].startswith("frozen") \
        and names[1].startswith("scale")
    assert names[2].startswith("dense") and "/b" in names[2]
    assert len(m.trainable_variables) == 5
    assert [v.name for v in m.non_trainable_variables] == [m.extra["frozen"].name]
    assert m.submodules == tuple(m.layers)
    # with_name_scope: a variable made during the call is in mlp's scope.
    m(kiln.constant(np.ones((1, 3))))
    assert m.made_in_call.name.startswith("mlp/made")
    assert len(m.variables) == 7

    # Shared variables are found once; a module referring back to its
    # parent does not loop.
    shared = kiln.Module(name="shared")
    shared.a = d.w
    shared.again = [d.w, (d.w,)]
    shared.child = kiln.Module(name="child")
    shared.child.parent = shared
    shared.child.v = kiln.Variable(1.0, name="child_v")
    assert [v for v in shared.variables] == [d.w, shared.child.v]
    assert shared.submodules == (shared.child,)
    # tf.Module's order: direct children first, then each child's own.
    root = kiln.Module(name="root")
    root.b, root.c = kiln.Module(name="b"), kiln.Module(name="c")
    root.b.d, root.c.e = kiln.Module(name="d"), kiln.Module(name="e")
    root.b.d.f = kiln.Module(name="f")
    assert [m.name for m in root.submodules] == ["b", "c", "d", "f", "e"]


def test_name_scope():
    with kiln.name_scope("outer") as outer:
        assert outer == "outer/"
        with kiln.name_scope("inner") as inner:
            assert inner == "outer/inner/"
            v = kiln.Variable(1.0, name="v")
            with kiln.name_scope("top/") as absolute:
                assert absolute == "top/"
                u = kiln.Variable(1.0)
        with kiln.name_scope("") as root:
            assert root == ""
            r = kiln.Variable(1.0, name="r")
    assert v.name.startswith("outer/inner/v")
    assert u.name.startswith("top/Variable")
    assert r.name.startswith("r")
    assert kiln.Variable(1.0, name="after").name.startswith("after")
    with pytest.raises(ValueError, match="not a valid scope name"):
        kiln.name_scope("-bad")
    with pytest.raises(TypeError, match="must be a string"):
        kiln.name_scope(3)


def test_training_a_module_matches_numpy():
    """Two SGD steps of a linear model written as a Module, eagerly and
    compiled, against the same steps written with NumPy."""
    rng = np.random.default_rng(0)
    x0, y0 = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))

    def numpy_steps(steps, lr=0.1):
        w, b = np.full((3, 2), 0.5), np.zeros(2)
        for _ in range(steps):
            err = x0 @ w + b - y0
            w = w - lr * 2 * x0.T @ err / err.size
            b = b - lr * 2 * err.sum(0) / err.size
        return w, b

    for compiled in (False, True):
        model = Dense(3, 2)
        opt = kiln.optimizers.SGD(0.1)

        def step(x, y):
            with kiln.GradientTape() as tape:
                loss = kiln.reduce_mean(kiln.square(model(x) - y))
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return loss
        run = kiln.function(step) if compiled else step
        for _ in range(2):
            run(kiln.constant(x0), kiln.constant(y0))
        w, b = numpy_steps(2)
        # (The learning rate is a float32 hyperparameter, as in TF.)
        np.testing.assert_allclose(model.w.numpy(), w, rtol=1e-7)
        np.testing.assert_allclose(model.b.numpy(), b, rtol=1e-7)


def test_checkpoints_name_module_variables_by_attribute(tmp_path):
    m = MLP(name="saved")
    before = [v.numpy().copy() for v in m.variables]
    path = kiln.train.Checkpoint(model=m).save(str(tmp_path / "ckpt"))
    for v in m.variables:
        v.assign(v.numpy() * 0 + 7)
    kiln.train.Checkpoint(model=m).restore(path)
    for v, want in zip(m.variables, before):
        np.testing.assert_array_equal(v.numpy(), want)
    # Another structure (a variable missing) is refused with the name.
    other = MLP(name="other")
    del other.extra["scale"]
    other.extra = dict(other.extra)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="extra/scale|extra__scale"):
        kiln.train.Checkpoint(model=other).restore(path)


def test_layers_track_the_variables_and_modules_they_hold():
    """As Keras: a Variable assigned to a layer attribute is a weight of the
    layer (the optimizer trains it); a Module held in a dict contributes its
    variables; reassigning the attribute drops the old one."""
    class Scaled(kiln.layers.Layer):
        def __init__(self):
            super().__init__()
            self.scale = kiln.Variable(np.float32(3.0), name="scale")
            self.parts = {"inner": Dense(2, 2, name="inner", dtype=np.float32)}

        def build(self, input_shape):
            self.kernel = self.add_weight("kernel", (input_shape[-1], 2),
                                          initializer="ones")

        def call(self, x):
            return self.parts["inner"](x @ self.kernel) * self.scale

    layer = Scaled()
    assert isinstance(layer, kiln.Module)
    x = kiln.constant(np.ones((1, 2), np.float32))
    layer(x)
    found = layer.trainable_variables
    # Keras' order: scale (assigned in __init__) before kernel (build).
    assert len(found) == 4 and found[0] is layer.scale and found[1] is layer.kernel
    assert layer.submodules == (layer.parts["inner"],)
    with kiln.GradientTape() as tape:
        y = kiln.reduce_sum(layer(x))
    grads = tape.gradient(y, layer.trainable_variables)
    assert all(g is not None for g in grads)
    # d/dscale of sum(inner(x @ kernel)): the inner output before scaling.
    inner = np.ones((1, 2)) @ np.ones((2, 2)) @ np.full((2, 2), 0.5)
    np.testing.assert_allclose(grads[0].numpy(), inner.sum(), rtol=1e-6)
    layer.trainable = False
    assert layer.trainable_variables == []
    layer.trainable = True
    layer.scale = 2.0  # no longer a variable: no longer tracked
    assert len(layer.trainable_variables) == 3
    # Layers that refer to each other are walked once.
    a, b = kiln.layers.Dense(1), kiln.layers.Dense(1)
    a.partner, b.partner = b, a
    a(x), b(x)
    assert len(a.trainable_variables) == 4 and len(a.variables) == 4


def test_weights_list_trainable_first_as_keras():
    """Keras: layer.weights == trainable_weights + non_trainable_weights,
    across nested layers, so get_weights lists line up with Keras'."""
    model = kiln.Sequential([kiln.layers.Dense(4), kiln.layers.BatchNormalization(),
                             kiln.layers.Dense(2)])
    model(kiln.constant(np.ones((3, 5), np.float32)))
    dense1, bn, dense2 = model.layers
    want = [dense1.kernel, dense1.bias, bn.gamma, bn.beta, dense2.kernel, dense2.bias,
            bn.moving_mean, bn.moving_variance]
    assert [v.name for v in model.variables] == [v.name for v in want]
    assert len(model.get_weights()) == 8
    bn.trainable = False
    assert [v.name for v in model.variables] == [
        v.name for v in (dense1.kernel, dense1.bias, dense2.kernel, dense2.bias,
                         bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance)]
