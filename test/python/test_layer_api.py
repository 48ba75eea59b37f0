"""Keras' Layer and Model API around the math: weights as NumPy arrays,
count_params, get_config/from_config (and custom layers' configs in
model.save), compute_output_shape, and functional graphs' inputs/outputs,
layer.input/output and get_layer for feature extraction; values against
NumPy."""

import numpy as np
import pytest

import kiln
from kiln import layers

RNG = np.random.default_rng(41)


def test_layer_weights_params_and_shapes():
    dense = layers.Dense(4)
    dense(np.zeros((2, 3), np.float32))
    kernel, bias = dense.get_weights()
    assert kernel.shape == (3, 4) and bias.shape == (4,)
    new = [RNG.normal(size=(3, 4)).astype(np.float32), np.arange(4, dtype=np.float32)]
    dense.set_weights(new)
    x = RNG.normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(dense(x).numpy(), x @ new[0] + new[1], rtol=1e-6)
    assert dense.count_params() == 16
    with pytest.raises(ValueError, match="shape"):
        dense.set_weights([new[0].T, new[1]])
    norm = layers.BatchNormalization()
    norm(np.zeros((2, 5), np.float32))
    assert len(norm.trainable_weights) == 2 and len(norm.non_trainable_weights) == 2
    assert norm.count_params() == 20
    with pytest.raises(ValueError, match="built"):
        layers.Dense(3).count_params()
    # compute_output_shape: the batch as given, the rest from a run.
    conv = layers.Conv2D(6, 3, strides=2, padding="same")
    assert conv.compute_output_shape((None, 9, 8, 3)) == (None, 5, 4, 6)
    assert layers.Dense(7).compute_output_shape((4, 2)) == (4, 7)


class Scaled(layers.Layer):
    """A custom layer with a config of its own (Keras' pattern)."""

    def __init__(self, units, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.units, self.factor = units, factor

    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1], self.units))

    def call(self, x):
        return kiln.matmul(x, self.w) * self.factor

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "factor": self.factor})
        return config


class Wrapping(layers.Layer):
    """Takes a layer object, which no config can hold: its get_config
    writes the inner layer's config, from_config makes it again."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, x):
        return self.inner(x) + 1.0

    def get_config(self):
        config = super().get_config()
        config["inner_units"] = self.inner.units
        return config

    @classmethod
    def from_config(cls, config):
        units = config.pop("inner_units")
        return cls(layers.Dense(units), **config)


def test_configs_round_trip_and_reach_model_save(tmp_path):
    dense = layers.Dense(3, activation="relu", use_bias=False, name="d")
    config = dense.get_config()
    assert config["units"] == 3 and config["use_bias"] is False and config["name"] == "d"
    assert config["dtype"] == "float32" and config["trainable"] is True
    again = layers.Dense.from_config(config)
    assert again.units == 3 and again.use_bias is False and again.name == "d"
    scaled = Scaled(5, factor=0.5, name="s")
    assert Scaled.from_config(scaled.get_config()).factor == 0.5
    # model.save takes a custom layer's get_config, load_model its from_config.
    inputs = kiln.Input((4,))
    outputs = Wrapping(layers.Dense(2))(Scaled(3, factor=0.5)(inputs))
    model = kiln.Model(inputs, outputs)
    x = RNG.normal(size=(6, 4)).astype(np.float32)
    want = model(x).numpy()
    model.save(tmp_path / "m.keras")
    loaded = kiln.keras.models.load_model(
        tmp_path / "m.keras", custom_objects={"Scaled": Scaled, "Wrapping": Wrapping})
    np.testing.assert_allclose(loaded(x).numpy(), want, rtol=1e-6)
    assert isinstance(loaded.layers[2], Wrapping) and loaded.layers[2].inner.units == 2
    # A functional model's config makes the same architecture.
    rebuilt = kiln.Model.from_config(model.get_config(),
                                     custom_objects={"Scaled": Scaled, "Wrapping": Wrapping})
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt(x).numpy(), want, rtol=1e-6)


def test_feature_extraction_from_functional_and_sequential_models():
    inputs = kiln.Input((3,))
    hidden = layers.Dense(5, activation="tanh", name="hidden")(inputs)
    outputs = layers.Dense(2, name="head")(hidden)
    model = kiln.Model(inputs, outputs)
    assert model.inputs == [inputs] and model.input is inputs
    assert model.outputs == [outputs] and model.output is outputs
    assert model.get_layer("hidden").output is hidden
    assert model.get_layer(index=-1) is model.get_layer("head")
    assert model.get_layer("head").input is hidden
    features = kiln.Model(model.input, model.get_layer("hidden").output)
    x = RNG.normal(size=(4, 3)).astype(np.float32)
    k, b = model.get_layer("hidden").get_weights()
    np.testing.assert_allclose(features(x).numpy(), np.tanh(x @ k + b), rtol=1e-5)
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.get_layer("nope")
    # A Sequential model with a known input shape has the same graph.
    seq = kiln.Sequential([kiln.Input((3,)), layers.Dense(4, activation="relu", name="a"),
                           layers.Dense(1, name="b")])
    first = kiln.Model(seq.input, seq.get_layer("a").output)
    k, b = seq.get_layer("a").get_weights()
    np.testing.assert_allclose(first(x).numpy(), np.maximum(x @ k + b, 0), rtol=1e-5,
                               atol=1e-6)  # (a pre-activation near 0 is rounded either way)
    assert seq.output.shape == (None, 1)
    # Errors name the problem; an attribute named output in a subclass is
    # its own.
    with pytest.raises(AttributeError, match="not been called on kiln.Input"):
        layers.Dense(2).output

    class Sub(kiln.Model):
        def __init__(self):
            super().__init__()
            self.output = layers.Dense(1)
            self.outputs = ["kept as set"]

        def call(self, x):
            return self.output(x)
    sub = Sub()
    assert sub(x).shape == (4, 1) and isinstance(sub.output, layers.Dense)
    assert sub.outputs == ["kept as set"]
    with pytest.raises(AttributeError, match="subclassed model"):
        sub.inputs


def test_subclassed_model_config_is_its_arguments():
    class Net(kiln.Model):
        def __init__(self, width, **kwargs):
            super().__init__(**kwargs)
            self.width = width
            self.body = layers.Dense(width)

        def call(self, x):
            return self.body(x)
    net = Net(6, name="net")
    config = net.get_config()
    assert config["width"] == 6 and config["name"] == "net"
    assert Net.from_config(config).width == 6


def test_sequential_pop():
    model = kiln.Sequential([kiln.Input((3,)), layers.Dense(4, name="a"), layers.Dense(2)])
    x = RNG.normal(size=(2, 3)).astype(np.float32)
    model(x)
    head = model.pop()
    assert isinstance(head, layers.Dense) and [l.name for l in model.layers][-1] == "a"
    k, b = model.get_layer("a").get_weights()
    np.testing.assert_allclose(model(x).numpy(), x @ k + b, rtol=1e-5, atol=1e-6)
    assert model.output.shape == (None, 4)
    model.add(layers.Dense(1))
    assert model(x).shape == (2, 1) and model.output.shape == (None, 1)
    # The kept layers' output is the new graph's: a feature model from it works.
    features = kiln.Model(model.input, model.get_layer("a").output)
    np.testing.assert_allclose(features(x).numpy(), x @ k + b, rtol=1e-5, atol=1e-6)
    # A compiled model trains the new head after pop and add.
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.ones((2, 1), np.float32), verbose=0)
    model.pop()
    model.add(layers.Dense(3))
    model.fit(x, np.ones((2, 3), np.float32), verbose=0)


def test_pipeline_applies_its_layers_in_order():
    flip = layers.RandomFlip("horizontal", seed=1)
    pipeline = layers.Pipeline([layers.Rescaling(1 / 255.0), flip,
                                layers.Resizing(2, 3)])
    x = RNG.uniform(0, 255, size=(8, 4, 6, 1)).astype(np.float32)
    y = pipeline(x).numpy()                       # (training by default: flips happen)
    assert y.shape == (8, 2, 3, 1) and len(pipeline.layers) == 3
    plain = kiln.image.resize(x / 255.0, (2, 3)).numpy()
    mirrored = kiln.image.resize(np.flip(x, 2) / 255.0, (2, 3)).numpy()
    same = [np.allclose(a, p, atol=1e-6) for a, p in zip(y, plain)]
    flipped = [np.allclose(a, m, atol=1e-6) for a, m in zip(y, mirrored)]
    assert all(s or f for s, f in zip(same, flipped)) and any(flipped)
    np.testing.assert_allclose(pipeline(x, training=False).numpy(), plain, atol=1e-6)


def test_registered_and_scoped_custom_objects(tmp_path):
    # Keras' registry: a registered class loads without custom_objects; a
    # custom_object_scope does the same for its block; unregistered, the
    # load names the class. serialize/deserialize_keras_object round trip.
    utils = kiln.keras.utils
    inputs = kiln.Input((4,))
    model = kiln.Model(inputs, Scaled(3, factor=0.5)(inputs))
    x = RNG.normal(size=(2, 4)).astype(np.float32)
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="Scaled"):
        kiln.keras.models.load_model(tmp_path / "m.keras")
    with utils.custom_object_scope({"Scaled": Scaled}):
        scoped = kiln.keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(scoped(x).numpy(), model(x).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="Scaled"):
        kiln.keras.models.load_model(tmp_path / "m.keras")     # (the scope ended)
    utils.register_keras_serializable(package="Tests")(Scaled)
    try:
        assert utils.get_custom_objects()["Tests>Scaled"] is Scaled
        assert utils.get_registered_name(Scaled) == "Tests>Scaled"
        loaded = kiln.keras.models.load_model(tmp_path / "m.keras")
        np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)
        config = utils.serialize_keras_object(Scaled(5, factor=0.25))
        assert config["registered_name"] == "Tests>Scaled" and config["config"]["factor"] == 0.25
        again = utils.deserialize_keras_object(config)
        assert isinstance(again, Scaled) and again.factor == 0.25
        with pytest.raises(ValueError, match="already been registered"):
            utils.register_keras_serializable(package="Tests", name="Scaled")(Wrapping)
    finally:
        utils.get_custom_objects().pop("Tests>Scaled", None)
        del Scaled._registered_name
    with pytest.raises(ValueError, match="unknown object 'Nope'"):
        utils.deserialize_keras_object("Nope")


def test_build_by_hand_add_weight_spellings_and_merge_functions():
    # A layer that builds its sublayer by hand: the first call does not
    # build it again (the weights exist once and all get gradients).
    class Block(kiln.keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = kiln.keras.layers.Dense(4)

        def build(self, input_shape):
            self.inner.build(input_shape)
            self.scale = self.add_weight(shape=(4,), initializer="ones")   # (Keras 3)
            self.shift = self.add_weight("shift", (4,), initializer="zeros")  # (Keras 2)
            self.count = self.add_weight(shape=(), dtype="int32", trainable=False)

        def call(self, x):
            return self.inner(x) * self.scale + self.shift

    block = Block()
    block.build((None, 3))
    assert block.built and block.inner.built
    names = [v.name for v in block.weights]
    assert len(names) == 5 and len(set(names)) == 5
    x = kiln.ones([2, 3])
    with kiln.GradientTape() as tape:
        y = kiln.reduce_sum(block(x))
    grads = tape.gradient(y, block.trainable_variables)
    assert len(block.weights) == 5 and all(g is not None for g in grads)
    assert block.count.dtype == kiln.int32 and int(block.count.numpy()) == 0
    bounded = kiln.keras.layers.Layer().add_weight(shape=(2,), constraint="non_neg")
    assert isinstance(bounded.constraint, kiln.keras.constraints.NonNeg)

    # model.build(shape) on a subclassed model makes its weights.
    class Net(kiln.keras.Model):
        def __init__(self):
            super().__init__()
            self.d1, self.d2 = kiln.keras.layers.Dense(8), kiln.keras.layers.Dense(1)

        def call(self, x):
            return self.d2(self.d1(x))

    net = Net()
    net.build((None, 3))
    assert net.count_params() == 3 * 8 + 8 + 8 + 1
    net.compile("sgd", "mse")
    net.fit(np.ones((4, 3), np.float32), np.ones((4, 1), np.float32), verbose=0)
    assert len(net.weights) == 4

    # The merge layers' functional forms.
    L = kiln.keras.layers
    a, b = kiln.keras.Input((3,)), kiln.keras.Input((3,))
    outs = [L.concatenate([a, b]), L.add([a, b]), L.subtract([a, b]), L.multiply([a, b]),
            L.average([a, b]), L.maximum([a, b]), L.minimum([a, b]), L.dot([a, b], axes=1)]
    model = kiln.keras.Model([a, b], outs)
    u, v = np.array([[1.0, -2.0, 3.0]], np.float32), np.array([[0.5, 4.0, -1.0]], np.float32)
    got = [t.numpy() for t in model([u, v])]
    want = [np.concatenate([u, v], 1), u + v, u - v, u * v, (u + v) / 2, np.maximum(u, v),
            np.minimum(u, v), (u * v).sum(1, keepdims=True)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6)
