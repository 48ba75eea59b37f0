"""kiln.keras (tf.keras's spellings) and kiln.activations: the names are
Kiln's own objects; activations against Keras' formulas in NumPy, their
gradients against central differences; to_categorical against NumPy."""

import numpy as np
import pytest

import kiln


def test_keras_names_are_kilns_objects():
    import kiln.keras.layers as keras_layers
    from kiln.keras.optimizers import Adam
    keras = kiln.keras
    assert keras_layers is kiln.layers and Adam is kiln.optimizers.Adam
    assert keras.Sequential is kiln.Sequential and keras.models.Model is kiln.Model
    assert keras.optimizers.schedules.ExponentialDecay is kiln.schedules.ExponentialDecay
    assert keras.datasets.fashion_mnist is kiln.datasets.fashion_mnist
    assert keras.activations.get("relu") is kiln.activations.relu
    # A model written the tf.keras way trains (the loss falls on a
    # separable problem) and names its layers from scratch after
    # clear_session.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    keras.backend.clear_session()
    model = keras.Sequential([keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0]
    assert model.layers[0].name == "dense"
    keras.backend.clear_session()
    again = keras.layers.Dense(1)
    again(x)
    assert again.name == "dense" and again.kernel.name == "dense/kernel:0"
    assert keras.backend.floatx() == "float32"


def keras_relu(x, alpha=0.0, max_value=None, threshold=0.0):
    """Keras 2's backend.relu, step by step in NumPy."""
    negative_part = np.maximum(threshold - x, 0.0)
    out = x * (x > threshold) if threshold != 0 else np.maximum(x, 0.0)
    if max_value is not None:
        out = np.clip(out, 0.0, max_value)
    return out - alpha * negative_part


@pytest.mark.parametrize("options", [{}, {"alpha": 0.1}, {"max_value": 1.5},
                                     {"threshold": 0.5, "alpha": 0.2, "max_value": 2.0},
                                     {"threshold": -1.0}, {"threshold": -1.0, "max_value": 2.0}])
def test_relu_options_match_keras(options):
    # (Points on both sides of each threshold, none at a kink.)
    x0 = np.array([-2.0, -0.6, -0.25, 0.3, 0.75, 1.9, 3.0])
    x = kiln.constant(x0)
    np.testing.assert_allclose(kiln.activations.relu(x, **options).numpy(),
                               keras_relu(x0, **options), rtol=1e-12)
    compiled = kiln.function(lambda v: kiln.activations.relu(v, **options))
    np.testing.assert_allclose(compiled(x).numpy(), keras_relu(x0, **options), rtol=1e-12)
    with kiln.GradientTape() as tape:
        tape.watch(x)
        y = kiln.reduce_sum(kiln.activations.relu(x, **options))
    h = 1e-6
    numeric = (keras_relu(x0 + h, **options) - keras_relu(x0 - h, **options)) / (2 * h)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), numeric, rtol=1e-6, atol=1e-9)


def test_activations_by_name():
    x0 = np.linspace(-3, 3, 7)
    x = kiln.constant(x0)
    sig = 1 / (1 + np.exp(-x0))
    expect = {"sigmoid": sig, "tanh": np.tanh(x0), "linear": x0,
              "softplus": np.log1p(np.exp(x0)), "softsign": x0 / (1 + np.abs(x0)),
              "exponential": np.exp(x0), "swish": x0 * sig, "relu6": np.clip(x0, 0, 6),
              "elu": np.where(x0 > 0, x0, np.expm1(x0)),
              "leaky_relu": np.where(x0 > 0, x0, 0.2 * x0),
              "softmax": np.exp(x0) / np.exp(x0).sum()}
    for name, want in expect.items():
        f = kiln.activations.get(name)
        np.testing.assert_allclose(f(x).numpy(), want, rtol=1e-12, err_msg=name)
        assert kiln.activations.serialize(f) in (name, "silu")
    assert kiln.activations.get(None) is kiln.activations.linear
    # At the threshold itself Keras gives 0 (x > threshold, strictly).
    np.testing.assert_array_equal(
        kiln.activations.relu(kiln.constant([0.5, 0.5001]), threshold=0.5).numpy(),
        np.array([0.0, 0.5001], np.float32))
    assert kiln.activations.get(np.abs) is np.abs
    with pytest.raises(ValueError, match="unknown activation 'rleu'.*relu"):
        kiln.activations.get("rleu")
    with pytest.raises(ValueError, match="unknown activation 'rleu'"):
        kiln.layers.Dense(3, activation="rleu")


def test_to_categorical_matches_numpy():
    to_categorical = kiln.keras.utils.to_categorical
    labels = np.array([2, 0, 1, 2])
    np.testing.assert_array_equal(to_categorical(labels), np.eye(3, dtype=np.float32)[labels])
    assert to_categorical(labels).dtype == np.float32
    column = to_categorical(labels.reshape(4, 1), num_classes=5)
    np.testing.assert_array_equal(column, np.eye(5)[labels])
    grid = to_categorical(np.array([[0, 1], [1, 0]]), dtype="int32")
    assert grid.shape == (2, 2, 2) and grid.dtype == np.int32
    np.testing.assert_array_equal(grid.argmax(-1), [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"in \[0, 2\)"):
        to_categorical([0, 2], num_classes=2)
    with pytest.raises(ValueError, match="integers"):
        to_categorical([0.5])


def test_keras3_and_keras2_spellings():
    k = kiln.keras
    x = k.random.normal((200, 2), mean=1.0, stddev=0.5, seed=1).numpy()
    assert x.shape == (200, 2) and abs(x.mean() - 1.0) < 0.1
    ints = k.random.randint((50,), 0, 5, seed=3).numpy()
    assert ints.dtype == np.int32 and ints.min() >= 0 and ints.max() < 5
    shuffled = k.random.shuffle(np.arange(6).reshape(2, 3), axis=1, seed=0).numpy()
    assert sorted(shuffled[0]) == [0, 1, 2] and (shuffled[1] - shuffled[0] == 3).all()
    assert k.config.floatx() == "float32" and k.config.image_data_format() == "channels_last"
    assert k.backend.int_shape(kiln.ones([2, 3])) == (2, 3)
    assert k.layers.experimental.preprocessing.Normalization is k.layers.Normalization
    assert k.optimizers.legacy.Adam is k.optimizers.Adam
    import importlib
    assert importlib.import_module("kiln.keras.random") is k.random
    relaxed = kiln.function(lambda t: t + 1.0, experimental_relax_shapes=True)
    for n in (2, 3, 4):
        relaxed(kiln.ones([n]))
    assert relaxed.trace_count == 2    # (the second trace leaves the extent open)
    with pytest.raises(kiln.errors.UnavailableError, match="does not download"):
        k.utils.get_file("x.zip", "http://example.com/x.zip")
    with pytest.raises(kiln.errors.UnimplementedError, match="summary"):
        k.utils.plot_model(None)


def test_keras_ops_image():
    I = kiln.keras.ops.image
    x = np.arange(2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3)
    np.testing.assert_array_equal(I.pad_images(x, 1, 2, 0, 1).numpy(),
                                  np.pad(x, ((0, 0), (1, 0), (2, 1), (0, 0))))
    np.testing.assert_array_equal(I.crop_images(x, 1, 1, 1, 0).numpy(), x[:, 1:3, 1:, :])
    patches = I.extract_patches(x, 2).numpy()
    np.testing.assert_array_equal(patches[0, 1, 0], x[0, 2:4, 0:2, :].reshape(-1))
    np.testing.assert_array_equal(I.affine_transform(x, [1, 0, 0, 0, 1, 0, 0, 0]).numpy(), x)
    np.testing.assert_allclose(I.resize(x, (2, 2)).numpy(),
                               kiln.image.resize(x, (2, 2)).numpy())
    with pytest.raises(ValueError, match="channels_last"):
        I.resize(x, (2, 2), data_format="channels_first")


def test_review_findings_seeds_image_padding_and_constraint_names():
    k = kiln.keras
    generator = k.random.SeedGenerator(3)
    first, second = (k.random.normal((4,), seed=generator).numpy() for _ in range(2))
    assert not np.array_equal(first, second)     # (a SeedGenerator advances)
    # Keras 3: two of (before, after, target) per axis, the third derived.
    padded = k.ops.image.pad_images(np.ones((1, 5, 5, 1)), bottom_padding=2, right_padding=2,
                                    target_height=10, target_width=10).numpy()[0, :, :, 0]
    np.testing.assert_array_equal(padded, np.pad(np.ones((5, 5)), ((3, 2), (3, 2))))
    cropped = k.ops.image.crop_images(np.arange(25.0).reshape(1, 5, 5, 1), top_cropping=1,
                                      target_height=3, left_cropping=2, right_cropping=0)
    np.testing.assert_array_equal(cropped.numpy()[0, :, :, 0],
                                  np.arange(25.0).reshape(5, 5)[1:4, 2:])
    with pytest.raises(ValueError, match="exactly two"):
        k.ops.image.pad_images(np.ones((1, 5, 5, 1)), 1, 1, 1, 1, 7, 7)
    with pytest.raises(ValueError, match="kernal_constraint constrains no weight"):
        k.layers.Dense(2, kernal_constraint="non_neg")(np.ones((1, 2), np.float32))
    ds = kiln.data.Dataset.range(10).batch(2)
    half = ds.take(ds.cardinality() // 2)           # (TensorFlow's idiom)
    assert half._cardinality() == 2 and len(list(half)) == 2
    assert len(list(ds.repeat(kiln.constant(2)))) == 10
