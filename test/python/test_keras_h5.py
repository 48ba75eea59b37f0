"""Keras' HDF5 files (kiln.keras_h5): weights and models in the layouts
TensorFlow's Keras writes. Oracles: files built here with h5py directly,
following Keras' layout (attributes `layer_names` / `weight_names`,
datasets by weight name; Keras 3's `layers/<name>/vars/<i>`), read back
with h5py, and the models' outputs computed with NumPy from the files'
arrays (Keras' formulas: the LSTM's gate order i, f, c, o)."""

import json

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

import kiln
from kiln import keras

RNG = np.random.default_rng(5)


def _names(values):
    return np.array([v.encode("utf8") for v in values])


def _weights_group(g, layers):
    """Keras 2's weights layout in group g: `layers` is a list of (layer
    name, [(weight name, array), ...]); an empty list of names is a float
    array, as Keras writes it."""
    g.attrs["layer_names"] = _names([n for n, _ in layers])
    g.attrs["backend"] = b"tensorflow"
    g.attrs["keras_version"] = b"2.13.1"
    for name, weights in layers:
        layer = g.create_group(name)
        layer.attrs["weight_names"] = _names([w for w, _ in weights]) if weights \
            else np.asarray([])
        for w, value in weights:
            layer.create_dataset(w, data=value)


def _keras2_file(path, layers):
    """A weights file as TF 2.x's save_weights writes it."""
    with h5py.File(path, "w") as f:
        _weights_group(f, layers)


def _mlp():
    return keras.Sequential([keras.layers.Dense(5, activation="relu", input_shape=(3,)),
                             keras.layers.Dropout(0.5),
                             keras.layers.Dense(2)])


def test_keras2_weights_file_written_by_hand_loads_layer_by_layer(tmp_path):
    k1, b1 = RNG.normal(size=(3, 5)).astype("f4"), RNG.normal(size=5).astype("f4")
    k2, b2 = RNG.normal(size=(5, 2)).astype("f4"), RNG.normal(size=2).astype("f4")
    path = tmp_path / "w.h5"
    # (other layer names than the model's: loading goes by order)
    _keras2_file(path, [("dense_7", [("dense_7/kernel:0", k1), ("dense_7/bias:0", b1)]),
                        ("dropout_3", []),
                        ("dense_8", [("dense_8/kernel:0", k2), ("dense_8/bias:0", b2)])])
    model = _mlp()
    model.load_weights(path)
    x = RNG.normal(size=(4, 3)).astype("f4")
    expected = np.maximum(x @ k1 + b1, 0) @ k2 + b2
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_keras2_layout_written_by_save_weights(tmp_path):
    model = _mlp()
    path = tmp_path / "w.h5"
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        assert [n.decode() for n in f.attrs["layer_names"]] == [l.name for l in model.layers]
        version = f.attrs["keras_version"]
        assert (version.decode() if isinstance(version, bytes) else version).startswith("2.")
        dense = model.layers[0]
        g = f[dense.name]
        names = [n.decode() for n in g.attrs["weight_names"]]
        assert len(names) == 2
        np.testing.assert_array_equal(g[names[0]][()], dense.kernel.numpy())
        np.testing.assert_array_equal(g[names[1]][()], dense.bias.numpy())
        assert len(f[model.layers[1].name].attrs["weight_names"]) == 0
    other = _mlp()
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_batch_norm_and_lstm_weights_follow_keras_order(tmp_path):
    units, features = 3, 2
    kernel = RNG.normal(size=(features, 4 * units)).astype("f4")
    recurrent = RNG.normal(size=(units, 4 * units)).astype("f4")
    bias = RNG.normal(size=4 * units).astype("f4")
    gamma, beta = RNG.uniform(0.5, 2, 3).astype("f4"), RNG.normal(size=3).astype("f4")
    mean, var = RNG.normal(size=3).astype("f4"), RNG.uniform(0.5, 2, 3).astype("f4")
    path = tmp_path / "rnn.h5"
    _keras2_file(path, [
        ("lstm", [("lstm/lstm_cell/kernel:0", kernel),
                  ("lstm/lstm_cell/recurrent_kernel:0", recurrent),
                  ("lstm/lstm_cell/bias:0", bias)]),
        ("batch_normalization", [("batch_normalization/gamma:0", gamma),
                                 ("batch_normalization/beta:0", beta),
                                 ("batch_normalization/moving_mean:0", mean),
                                 ("batch_normalization/moving_variance:0", var)])])
    model = keras.Sequential([keras.layers.LSTM(units, input_shape=(4, features)),
                              keras.layers.BatchNormalization()])
    model.load_weights(path)
    x = RNG.normal(size=(2, 4, features)).astype("f4")
    sigmoid = lambda z: 1 / (1 + np.exp(-z))
    h = np.zeros((2, units), "f4")
    c = np.zeros((2, units), "f4")
    for t in range(4):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = np.split(z, 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
    expected = (h - mean) / np.sqrt(var + 1e-3) * gamma + beta
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)


def test_by_name_and_skip_mismatch(tmp_path):
    k = RNG.normal(size=(3, 5)).astype("f4")
    b = RNG.normal(size=5).astype("f4")
    path = tmp_path / "w.h5"
    _keras2_file(path, [("first", [("first/kernel:0", k), ("first/bias:0", b)]),
                        ("head", [("head/kernel:0", np.ones((5, 7), "f4")),
                                  ("head/bias:0", np.ones(7, "f4"))])])
    model = keras.Sequential([keras.layers.Dense(5, input_shape=(3,), name="first"),
                              keras.layers.Dense(2, name="head")])
    first = model.layers[0].kernel.numpy().copy()
    with pytest.raises(ValueError, match="head.*shape"):
        model.load_weights(path, by_name=True)
    # (nothing assigned: the layer that fitted is unchanged too)
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), first)
    model = keras.Sequential([keras.layers.Dense(5, input_shape=(3,), name="first"),
                              keras.layers.Dense(2, name="head")])
    before = model.layers[1].kernel.numpy().copy()
    with pytest.warns(UserWarning, match="skipped"):
        model.load_weights(path, by_name=True, skip_mismatch=True)
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), k)
    np.testing.assert_array_equal(model.layers[1].kernel.numpy(), before)


def test_bad_files_say_what_is_wrong(tmp_path):
    model = _mlp()
    path = tmp_path / "w.h5"
    _keras2_file(path, [("dense", [("dense/kernel:0", np.zeros((3, 5), "f4")),
                                   ("dense/bias:0", np.zeros(5, "f4"))])])
    with pytest.raises(ValueError, match="2 layers with weights, the file 1"):
        model.load_weights(path)
    _keras2_file(path, [("a", [("a/kernel:0", np.zeros((3, 4), "f4")),
                               ("a/bias:0", np.zeros(4, "f4"))]),
                        ("b", [("b/kernel:0", np.zeros((5, 2), "f4")),
                               ("b/bias:0", np.zeros(2, "f4"))])])
    with pytest.raises(ValueError, match=r"shape \(3, 5\), the file's \(3, 4\)"):
        model.load_weights(path)
    with pytest.raises(kiln.errors.NotFoundError, match="does not exist"):
        model.load_weights(tmp_path / "missing.h5")
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"1.2.2"
        f.attrs["layer_names"] = _names(["a"])
        f.create_group("a").attrs["weight_names"] = np.array([], dtype="S1")
    with pytest.raises(ValueError, match="Keras 1"):
        model.load_weights(path)
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(ValueError, match="holds no Keras weights"):
        model.load_weights(path)


def test_long_layer_lists_are_cut_into_numbered_attributes(tmp_path):
    layers = [keras.layers.Dense(2, name="d" + "x" * 300 + str(i)) for i in range(300)]
    model = keras.Sequential([keras.Input((2,))] + layers)
    path = tmp_path / "many.h5"
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        assert "layer_names" not in f.attrs and "layer_names0" in f.attrs
        names = [n.decode() for i in range(10) if f"layer_names{i}" in f.attrs
                 for n in f.attrs[f"layer_names{i}"]]
        assert names == [l.name for l in layers]
    other = keras.Sequential([keras.Input((2,))] +
                             [keras.layers.Dense(2) for _ in range(300)])
    other.load_weights(path)
    np.testing.assert_array_equal(other.layers[-1].kernel.numpy(), layers[-1].kernel.numpy())


def _glorot():
    return {"class_name": "GlorotUniform", "config": {"seed": None}}


def _dense_config(name, units, activation):
    # (the keys TF 2.x's Dense.get_config writes)
    return {"name": name, "trainable": True, "dtype": "float32", "units": units,
            "activation": activation, "use_bias": True, "kernel_initializer": _glorot(),
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None, "bias_regularizer": None,
            "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}


def _tf_model_file(path, model_config, layers, training_config=None):
    """An .h5 model file as TF 2.x's model.save writes it."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.13.1"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        if training_config is not None:
            f.attrs["training_config"] = json.dumps(training_config).encode("utf8")
        _weights_group(f.create_group("model_weights"), layers)


def test_sequential_h5_written_by_tensorflow_loads_and_predicts(tmp_path):
    k1, b1 = RNG.normal(size=(6, 8)).astype("f4"), RNG.normal(size=8).astype("f4")
    k2, b2 = RNG.normal(size=(8, 3)).astype("f4"), RNG.normal(size=3).astype("f4")
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 6],
                                                "dtype": "float32", "sparse": False,
                                                "ragged": False, "name": "dense_input"}},
        {"class_name": "Dense", "config": _dense_config("dense", 8, "relu")},
        {"class_name": "Dropout", "config": {"name": "dropout", "trainable": True,
                                             "dtype": "float32", "rate": 0.2,
                                             "noise_shape": None, "seed": None}},
        {"class_name": "Dense", "config": _dense_config("dense_1", 3, "softmax")}]}}
    training = {"loss": "sparse_categorical_crossentropy", "metrics": [[{
        "class_name": "MeanMetricWrapper", "config": {
            "name": "accuracy", "dtype": "float32", "fn": "sparse_categorical_accuracy"}}]],
        "weighted_metrics": None, "loss_weights": None,
        "optimizer_config": {"class_name": "Custom>Adam", "config": {
            "name": "Adam", "weight_decay": None, "clipnorm": None, "global_clipnorm": None,
            "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
            "ema_overwrite_frequency": None, "jit_compile": True,
            "is_legacy_optimizer": False, "learning_rate": 0.0025, "beta_1": 0.9,
            "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}}}
    path = tmp_path / "tf_model.h5"
    _tf_model_file(path, config, [
        ("dense", [("dense/kernel:0", k1), ("dense/bias:0", b1)]), ("dropout", []),
        ("dense_1", [("dense_1/kernel:0", k2), ("dense_1/bias:0", b2)])], training)
    model = keras.models.load_model(path)
    assert [type(l).__name__ for l in model.layers] == ["Dense", "Dropout", "Dense"]
    assert model.layers[1].rate == pytest.approx(0.2)
    x = RNG.normal(size=(5, 6)).astype("f4")
    z = np.maximum(x @ k1 + b1, 0) @ k2 + b2
    expected = np.exp(z - z.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    # compiled as the file says: Adam at 0.0025, the loss and accuracy
    assert type(model.optimizer).__name__ == "Adam"
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(0.0025)
    history = model.fit(x, np.array([0, 1, 2, 0, 1]), epochs=2, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}


def test_functional_h5_written_by_tensorflow(tmp_path):
    k1, b1 = RNG.normal(size=(4, 3)).astype("f4"), RNG.normal(size=3).astype("f4")
    k2, b2 = RNG.normal(size=(4, 3)).astype("f4"), RNG.normal(size=3).astype("f4")
    k3, b3 = RNG.normal(size=(6, 1)).astype("f4"), RNG.normal(size=1).astype("f4")
    def entry(cls, name, config, nodes):
        return {"class_name": cls, "config": config, "name": name, "inbound_nodes": nodes}
    layers = [
        entry("InputLayer", "input_1", {"batch_input_shape": [None, 4], "dtype": "float32",
                                         "sparse": False, "ragged": False,
                                         "name": "input_1"}, []),
        entry("Dense", "left", _dense_config("left", 3, "tanh"), [[["input_1", 0, 0, {}]]]),
        entry("Dense", "right", _dense_config("right", 3, "linear"),
              [[["input_1", 0, 0, {}]]]),
        entry("Concatenate", "concatenate", {"name": "concatenate", "trainable": True,
                                             "dtype": "float32", "axis": -1},
              [[["left", 0, 0, {}], ["right", 0, 0, {}]]]),
        entry("Dense", "out", _dense_config("out", 1, "sigmoid"),
              [[["concatenate", 0, 0, {}]]])]
    config = {"class_name": "Functional", "config": {
        "name": "model", "layers": layers, "input_layers": [["input_1", 0, 0]],
        "output_layers": [["out", 0, 0]]}}
    path = tmp_path / "functional.h5"
    _tf_model_file(path, config, [
        ("input_1", []), ("left", [("left/kernel:0", k1), ("left/bias:0", b1)]),
        ("right", [("right/kernel:0", k2), ("right/bias:0", b2)]), ("concatenate", []),
        ("out", [("out/kernel:0", k3), ("out/bias:0", b3)])])
    model = keras.models.load_model(path)
    assert model.optimizer is None if hasattr(model, "optimizer") else True
    x = RNG.normal(size=(3, 4)).astype("f4")
    h = np.concatenate([np.tanh(x @ k1 + b1), x @ k2 + b2], axis=1)
    expected = 1 / (1 + np.exp(-(h @ k3 + b3)))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_unknown_arguments_and_classes_are_named(tmp_path):
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {**_dense_config("dense", 2, "relu"),
                                           "batch_input_shape": [None, 3],
                                           "frobnicate": 3}}]}}
    path = tmp_path / "m.h5"
    _tf_model_file(path, config, [("dense", [("dense/kernel:0", np.zeros((3, 2), "f4")),
                                             ("dense/bias:0", np.zeros(2, "f4"))])])
    with pytest.raises(ValueError, match="layer 'dense' \\(Dense\\).*'frobnicate'"):
        keras.models.load_model(path)
    config["config"]["layers"][0] = {"class_name": "MyDense",
                                     "config": {"name": "mine", "units": 2}}
    _tf_model_file(path, config, [])
    with pytest.raises(ValueError, match="'MyDense'.*custom_objects"):
        keras.models.load_model(path)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = _names([])
    with pytest.raises(ValueError, match="no model config"):
        keras.models.load_model(path)


def test_keras3_weights_file_written_by_hand(tmp_path):
    """Keras 3's .weights.h5: groups named by the layers' classes in snake
    case (dense, dense_1), a recurrent layer's variables under `cell`."""
    k1, b1 = RNG.normal(size=(3, 4)).astype("f4"), RNG.normal(size=4).astype("f4")
    gamma, beta = RNG.uniform(0.5, 2, 4).astype("f4"), RNG.normal(size=4).astype("f4")
    mean, var = RNG.normal(size=4).astype("f4"), RNG.uniform(0.5, 2, 4).astype("f4")
    k2, b2 = RNG.normal(size=(4, 2)).astype("f4"), RNG.normal(size=2).astype("f4")
    path = tmp_path / "m.weights.h5"
    with h5py.File(path, "w") as f:
        f.create_group("vars")
        for group, values in [("layers/dense", [k1, b1]),
                              ("layers/batch_normalization", [gamma, beta, mean, var]),
                              ("layers/dense_1", [k2, b2]),
                              ("optimizer", [np.array(3, "i8")])]:
            g = f.create_group(group + "/vars")
            for i, v in enumerate(values):
                g.create_dataset(str(i), data=v)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="first"),
                              keras.layers.BatchNormalization(name="norm"),
                              keras.layers.Dense(2, name="last")])
    model.load_weights(path)
    x = RNG.normal(size=(5, 3)).astype("f4")
    h = (x @ k1 + b1 - mean) / np.sqrt(var + 1e-3) * gamma + beta
    np.testing.assert_allclose(model.predict(x, verbose=0), h @ k2 + b2, rtol=1e-5, atol=1e-5)

    rnn_path = tmp_path / "rnn.weights.h5"
    kernel = RNG.normal(size=(2, 9)).astype("f4")
    recurrent = RNG.normal(size=(3, 9)).astype("f4")
    bias = RNG.normal(size=(2, 9)).astype("f4")
    with h5py.File(rnn_path, "w") as f:
        g = f.create_group("layers/gru/cell/vars")
        for i, v in enumerate([kernel, recurrent, bias]):
            g.create_dataset(str(i), data=v)
    rnn = keras.Sequential([keras.Input((4, 2)), keras.layers.GRU(3)])
    rnn.load_weights(rnn_path)
    np.testing.assert_array_equal(rnn.layers[0].cell.recurrent_kernel.numpy(), recurrent)


def test_keras3_layout_written_by_save_weights(tmp_path):
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(3)])
    x = keras.Input((4,))
    y = keras.layers.Dense(2)(inner(keras.layers.Dense(4)(x)))
    model = keras.Model(x, y)
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        groups = []
        f.visit(lambda name: groups.append(name) if name.endswith("/vars") else None)
        assert sorted(groups) == ["layers/dense/vars", "layers/dense_1/vars",
                                  "layers/sequential/layers/dense/vars",
                                  "layers/sequential/layers/dense_1/vars"]
        np.testing.assert_array_equal(f["layers/sequential/layers/dense_1/vars/0"][()],
                                      inner.layers[1].kernel.numpy())
    other_inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
                                    keras.layers.Dense(3)])
    x = keras.Input((4,))
    other = keras.Model(x, keras.layers.Dense(2)(other_inner(keras.layers.Dense(4)(x))))
    other.load_weights(path)
    data = RNG.normal(size=(2, 4)).astype("f4")
    np.testing.assert_allclose(other.predict(data, verbose=0), model.predict(data, verbose=0),
                               rtol=1e-6)
    wrong = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), keras.layers.Dense(5)])
    before = wrong.get_weights()
    with pytest.raises(ValueError, match="do not match the file"):
        wrong.load_weights(path)
    for a, b in zip(before, wrong.get_weights()):     # (nothing assigned)
        np.testing.assert_array_equal(a, b)


def _initializer(name, **config):
    # (TF 2.13+ writes the Keras 3 form of nested objects even in .h5 files)
    return {"module": "keras.initializers", "class_name": name, "config": config,
            "registered_name": None}


def test_cnn_and_lstm_configs_of_tensorflow(tmp_path):
    conv = {"name": "conv2d", "trainable": True, "dtype": "float32",
            "batch_input_shape": [None, 5, 5, 2], "filters": 3, "kernel_size": [3, 3],
            "strides": [1, 1], "padding": "valid", "data_format": "channels_last",
            "dilation_rate": [1, 1], "groups": 1, "activation": "relu", "use_bias": True,
            "kernel_initializer": _initializer("GlorotUniform", seed=None),
            "bias_initializer": _initializer("Zeros"), "kernel_regularizer": None,
            "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None}
    pool = {"name": "max_pooling2d", "trainable": True, "dtype": "float32",
            "pool_size": [2, 2], "padding": "valid", "strides": [2, 2],
            "data_format": "channels_last"}
    norm = {"name": "batch_normalization", "trainable": True, "dtype": "float32",
            "axis": [3], "momentum": 0.99, "epsilon": 0.001, "center": True, "scale": True,
            "beta_initializer": {"class_name": "Zeros", "config": {}},
            "gamma_initializer": {"class_name": "Ones", "config": {}},
            "moving_mean_initializer": {"class_name": "Zeros", "config": {}},
            "moving_variance_initializer": {"class_name": "Ones", "config": {}},
            "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
            "gamma_constraint": None}
    flatten = {"name": "flatten", "trainable": True, "dtype": "float32",
               "data_format": "channels_last"}
    config = {"class_name": "Sequential", "config": {"name": "cnn", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 5, 5, 2],
                                                "dtype": "float32", "sparse": False,
                                                "ragged": False, "name": "conv2d_input"}},
        {"class_name": "Conv2D", "config": conv},
        {"class_name": "MaxPooling2D", "config": pool},
        {"class_name": "BatchNormalization", "config": norm},
        {"class_name": "Flatten", "config": flatten},
        {"class_name": "Dense", "config": _dense_config("dense", 2, "linear")}]}}
    kernel = RNG.normal(size=(3, 3, 2, 3)).astype("f4")
    bias = RNG.normal(size=3).astype("f4")
    gamma, beta = RNG.uniform(0.5, 2, 3).astype("f4"), RNG.normal(size=3).astype("f4")
    mean, var = RNG.normal(size=3).astype("f4"), RNG.uniform(0.5, 2, 3).astype("f4")
    k, b = RNG.normal(size=(3, 2)).astype("f4"), RNG.normal(size=2).astype("f4")
    path = tmp_path / "cnn.h5"
    _tf_model_file(path, config, [
        ("conv2d", [("conv2d/kernel:0", kernel), ("conv2d/bias:0", bias)]),
        ("max_pooling2d", []),
        ("batch_normalization", [("batch_normalization/gamma:0", gamma),
                                 ("batch_normalization/beta:0", beta),
                                 ("batch_normalization/moving_mean:0", mean),
                                 ("batch_normalization/moving_variance:0", var)]),
        ("flatten", []), ("dense", [("dense/kernel:0", k), ("dense/bias:0", b)])])
    model = keras.models.load_model(path)
    x = RNG.normal(size=(2, 5, 5, 2)).astype("f4")
    feature = np.zeros((2, 3, 3, 3), "f4")
    for i in range(3):
        for j in range(3):
            feature[:, i, j] = np.einsum("bhwc,hwcf->bf", x[:, i:i + 3, j:j + 3], kernel)
    feature = np.maximum(feature + bias, 0)[:, :2, :2].max(axis=(1, 2))   # (2x2 pool, valid)
    h = (feature - mean) / np.sqrt(var + 1e-3) * gamma + beta
    np.testing.assert_allclose(model.predict(x, verbose=0), h @ k + b, rtol=1e-4, atol=1e-5)

    lstm = {"name": "lstm", "trainable": True, "dtype": "float32",
            "batch_input_shape": [None, 4, 2], "return_sequences": False,
            "return_state": False, "go_backwards": False, "stateful": False, "unroll": False,
            "time_major": False, "units": 3, "activation": "tanh",
            "recurrent_activation": "sigmoid", "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "recurrent_initializer": {"class_name": "Orthogonal",
                                      "config": {"gain": 1.0, "seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "unit_forget_bias": True, "kernel_regularizer": None,
            "recurrent_regularizer": None, "bias_regularizer": None,
            "activity_regularizer": None, "kernel_constraint": None,
            "recurrent_constraint": None, "bias_constraint": None, "dropout": 0.0,
            "recurrent_dropout": 0.0, "implementation": 2}
    config = {"class_name": "Sequential", "config": {"name": "rnn", "layers": [
        {"class_name": "LSTM", "config": lstm}]}}
    w = [RNG.normal(size=s).astype("f4") for s in [(2, 12), (3, 12), (12,)]]
    path = tmp_path / "rnn.h5"
    _tf_model_file(path, config, [("lstm", [("lstm/lstm_cell/kernel:0", w[0]),
                                            ("lstm/lstm_cell/recurrent_kernel:0", w[1]),
                                            ("lstm/lstm_cell/bias:0", w[2])])])
    model = keras.models.load_model(path)
    x = RNG.normal(size=(2, 4, 2)).astype("f4")
    sigmoid = lambda z: 1 / (1 + np.exp(-z))
    h = c = np.zeros((2, 3), "f4")
    for t in range(4):
        i, f, g, o = np.split(x[:, t] @ w[0] + h @ w[1] + w[2], 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
    np.testing.assert_allclose(model.predict(x, verbose=0), h, rtol=1e-4, atol=1e-5)


def test_model_h5_round_trip_keeps_weights_training_state_and_keras_config(tmp_path):
    kiln.random.set_seed(3)
    x = RNG.normal(size=(32, 6)).astype("f4")
    y = RNG.integers(0, 3, 32)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.BatchNormalization(),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = tmp_path / "model.h5"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    saved = model.predict(x, verbose=0)
    # the optimizer's moments came along: one more step matches the original's
    model.train_on_batch(x[:8], y[:8])
    loaded.train_on_batch(x[:8], y[:8])
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with h5py.File(path, "r") as f:
        keras_config = json.loads(f.attrs["model_config"])
        assert keras_config["class_name"] == "Sequential"
        entries = keras_config["config"]["layers"]
        assert [e["class_name"] for e in entries] == ["InputLayer", "Dense",
                                                      "BatchNormalization", "Dense"]
        assert entries[0]["config"]["batch_input_shape"] == [None, 6]   # (no batch)
        assert entries[1]["config"]["units"] == 8
        assert entries[1]["config"]["activation"] == "relu"
    # Keras' own config alone (as TensorFlow reads the file) makes the same model
    with h5py.File(path, "a") as f:
        del f.attrs["kiln_model_config"]
    again = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(again.predict(x, verbose=0), saved, rtol=1e-6)


def test_functional_keras_config_written_by_save(tmp_path):
    a = keras.Input((4,), name="a")
    b = keras.Input((2,), name="b")
    shared = keras.layers.Dense(3, activation="tanh")
    merged = keras.layers.Concatenate()([shared(a), keras.layers.Dense(3)(b)])
    model = keras.Model([a, b], [keras.layers.Dense(1)(merged), shared(a)])
    path = tmp_path / "f.h5"
    model.save(path)
    with h5py.File(path, "a") as f:
        config = json.loads(f.attrs["model_config"])
        del f.attrs["kiln_model_config"]
    layers = {e["name"]: e for e in config["config"]["layers"]}
    assert layers["a"]["class_name"] == "InputLayer" and layers["a"]["inbound_nodes"] == []
    assert layers[shared.name]["inbound_nodes"] == [[["a", 0, 0, {}]], [["a", 0, 0, {}]]]
    assert config["config"]["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
    loaded = keras.models.load_model(path)
    xa, xb = RNG.normal(size=(3, 4)).astype("f4"), RNG.normal(size=(3, 2)).astype("f4")
    for got, want in zip(loaded.predict([xa, xb], verbose=0), model.predict([xa, xb], verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_save_model_function_and_save_format(tmp_path):
    model = _mlp()
    path = tmp_path / "model_file"
    keras.models.save_model(model, path, save_format="h5")
    assert h5py.is_hdf5(path)
    loaded = keras.models.load_model(path)
    x = RNG.normal(size=(2, 3)).astype("f4")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    weights = tmp_path / "weights_file"
    model.save_weights(weights, save_format="h5")
    other = _mlp()
    other.load_weights(weights)
    np.testing.assert_array_equal(other.layers[-1].kernel.numpy(),
                                  model.layers[-1].kernel.numpy())
    with pytest.raises(FileExistsError):
        model.save(path, overwrite=False, save_format="h5")
    with pytest.raises(ValueError, match="by_name and skip_mismatch apply to HDF5"):
        model.load_weights(tmp_path / "ckpt", by_name=True)


def _policy(name="float32"):
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name},
            "registered_name": None}


def _keras3_dense(name, units, activation):
    return {"name": name, "trainable": True, "dtype": _policy(), "units": units,
            "activation": activation, "use_bias": True,
            "kernel_initializer": _initializer("GlorotUniform", seed=None),
            "bias_initializer": _initializer("Zeros"), "kernel_regularizer": None,
            "bias_regularizer": None, "kernel_constraint": None, "bias_constraint": None,
            "quantization_config": None}


def _keras3_archive(path, config, weights):
    """A .keras zip as Keras 3 writes it: metadata.json, config.json and
    model.weights.h5 (`weights`: group path -> arrays)."""
    import io
    import zipfile
    data = io.BytesIO()
    with h5py.File(data, "w") as f:
        f.create_group("vars")
        for group, values in weights.items():
            g = f.create_group(group + "/vars")
            for i, v in enumerate(values):
                g.create_dataset(str(i), data=v)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps(
            {"keras_version": "3.6.0", "date_saved": "2026-12-01@10:00:00"}))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", data.getvalue())


def test_keras3_archive_written_by_keras_loads(tmp_path):
    k1, b1 = RNG.normal(size=(3, 4)).astype("f4"), RNG.normal(size=4).astype("f4")
    k2, b2 = RNG.normal(size=(4, 2)).astype("f4"), RNG.normal(size=2).astype("f4")
    def tensor(history, shape):
        return {"class_name": "__keras_tensor__", "config": {
            "shape": shape, "dtype": "float32", "keras_history": history}}
    layers = [
        {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
         "config": {"batch_shape": [None, 3], "dtype": "float32", "sparse": False,
                    "name": "input_layer", "optional": False},
         "name": "input_layer", "inbound_nodes": []},
        {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
         "config": _keras3_dense("hidden", 4, "relu"), "build_config": {"input_shape": [None, 3]},
         "name": "hidden", "inbound_nodes": [
             {"args": [tensor(["input_layer", 0, 0], [None, 3])], "kwargs": {}}]},
        {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
         "config": _keras3_dense("logits", 2, "linear"),
         "build_config": {"input_shape": [None, 4]},
         "name": "logits", "inbound_nodes": [
             {"args": [tensor(["hidden", 0, 0], [None, 4])], "kwargs": {}}]}]
    config = {"module": "keras.src.models.functional", "class_name": "Functional",
              "registered_name": "Functional",
              "config": {"name": "functional", "trainable": True, "layers": layers,
                         "input_layers": ["input_layer", 0, 0],
                         "output_layers": ["logits", 0, 0]},
              "compile_config": {
                  "optimizer": {"module": "keras.optimizers", "class_name": "SGD",
                                "registered_name": None, "config": {
                                    "name": "SGD", "learning_rate": 0.05, "weight_decay": None,
                                    "clipnorm": None, "global_clipnorm": None,
                                    "clipvalue": None, "use_ema": False,
                                    "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                                    "loss_scale_factor": None,
                                    "gradient_accumulation_steps": None, "momentum": 0.0,
                                    "nesterov": False}},
                  "loss": {"module": "keras.losses", "class_name": "SparseCategoricalCrossentropy",
                           "registered_name": None, "config": {
                               "name": "sparse_categorical_crossentropy",
                               "reduction": "sum_over_batch_size", "from_logits": True,
                               "ignore_class": None}},
                  "loss_weights": None, "metrics": ["accuracy"], "weighted_metrics": None,
                  "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}}
    path = tmp_path / "keras3.keras"
    _keras3_archive(path, config, {"layers/dense": [k1, b1], "layers/dense_1": [k2, b2]})
    model = keras.models.load_model(path)
    x = RNG.normal(size=(6, 3)).astype("f4")
    logits = np.maximum(x @ k1 + b1, 0) @ k2 + b2
    np.testing.assert_allclose(model.predict(x, verbose=0), logits, rtol=1e-5, atol=1e-6)
    # compiled from compile_config: one SGD step of the cross-entropy from logits
    y = np.array([0, 1, 1, 0, 1, 0])
    model.train_on_batch(x, y)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(6), y] -= 1
    h = np.maximum(x @ k1 + b1, 0)
    np.testing.assert_allclose(model.get_layer("logits").kernel.numpy(),
                               k2 - 0.05 * h.T @ p / 6, rtol=1e-4, atol=1e-6)


def test_model_checkpoint_saves_the_whole_model_to_h5(tmp_path):
    """Keras' idiom: ModelCheckpoint("best.h5", save_best_only=True), then
    load_model("best.h5") (save_weights_only defaults to False)."""
    kiln.random.set_seed(1)
    x = RNG.normal(size=(64, 3)).astype("f4")
    y = (x @ np.array([1.0, -2.0, 0.5], "f4"))[:, None]
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    best = tmp_path / "best.h5"
    weights = tmp_path / "w.weights.h5"
    model.fit(x, y, epochs=3, verbose=0, validation_split=0.25, callbacks=[
        keras.callbacks.ModelCheckpoint(best, save_best_only=True),
        keras.callbacks.ModelCheckpoint(weights, save_weights_only=True)])
    loaded = keras.models.load_model(best)          # (the last epoch was the best)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    with h5py.File(weights, "r") as f:
        np.testing.assert_array_equal(f["layers/dense/vars/0"][()],
                                      model.layers[0].kernel.numpy())


def _dense_entry(name, units, nodes, activation="linear"):
    return {"class_name": "Dense", "config": _dense_config(name, units, activation),
            "name": name, "inbound_nodes": nodes}


def _input_entry(name, width):
    return {"class_name": "InputLayer", "name": name, "inbound_nodes": [],
            "config": {"batch_input_shape": [None, width], "dtype": "float32",
                       "sparse": False, "ragged": False, "name": name}}


def _dense_weights(name, fan_in, units):
    return (name, [(f"{name}/kernel:0", RNG.normal(size=(fan_in, units)).astype("f4")),
                   (f"{name}/bias:0", RNG.normal(size=units).astype("f4"))])


def test_functional_weights_pair_in_keras_layer_order(tmp_path):
    """Branches of different lengths: Keras orders a functional model's
    layers by depth from the outputs (deepest first), which is the order
    its weight files list them in; every Dense here has the same shapes,
    so a wrong pairing would pass the shape checks and be silent."""
    x = keras.Input((4,), name="input_1")
    c = keras.layers.Dense(4, name="c")
    b1 = keras.layers.Dense(4, name="b1")
    b2 = keras.layers.Dense(4, name="b2")
    model = keras.Model(x, keras.layers.Add(name="add")([c(x), b2(b1(x))]))
    weights = {n: _dense_weights(n, 4, 4) for n in ("b1", "c", "b2")}
    path = tmp_path / "w.h5"
    # (the order TF writes: input_1, b1 (depth 2), c and b2 (depth 1), add)
    _keras2_file(path, [("input_1", []), weights["b1"], weights["c"], weights["b2"],
                        ("add", [])])
    model.load_weights(path)
    k = {n: w[1][0][1] for n, w in weights.items()}
    b = {n: w[1][1][1] for n, w in weights.items()}
    data = RNG.normal(size=(3, 4)).astype("f4")
    expected = data @ k["c"] + b["c"] + (data @ k["b1"] + b["b1"]) @ k["b2"] + b["b2"]
    np.testing.assert_allclose(model.predict(data, verbose=0), expected, rtol=1e-5, atol=1e-5)
    written = tmp_path / "kiln.h5"
    model.save_weights(written)
    with h5py.File(written, "r") as f:
        assert [n.decode() for n in f.attrs["layer_names"]] == \
            ["input_1", "b1", "c", "b2", "add"]


def test_shared_layer_called_at_two_depths(tmp_path):
    """A layer's nodes are made in the file's order even when a later one is
    ready first: s(t(x)) is s's node 0, s(x) its node 1 (s listed before t,
    as a file may list them: Keras' loader takes any order)."""
    layers = [_input_entry("input_1", 3),
              _dense_entry("s", 2, [[["t", 0, 0, {}]], [["input_1", 0, 0, {}]]]),
              _dense_entry("t", 3, [[["input_1", 0, 0, {}]]]),
              {"class_name": "Subtract", "name": "subtract", "config": {
                  "name": "subtract", "trainable": True, "dtype": "float32"},
               "inbound_nodes": [[["s", 0, 0, {}], ["s", 1, 0, {}]]]}]
    config = {"class_name": "Functional", "config": {
        "name": "model", "layers": layers, "input_layers": [["input_1", 0, 0]],
        "output_layers": [["subtract", 0, 0]]}}
    t, s = _dense_weights("t", 3, 3), _dense_weights("s", 3, 2)
    path = tmp_path / "m.h5"
    _tf_model_file(path, config, [("input_1", []), s, t, ("subtract", [])])
    model = keras.models.load_model(path)
    kt, bt = t[1][0][1], t[1][1][1]
    ks, bs = s[1][0][1], s[1][1][1]
    x = RNG.normal(size=(2, 3)).astype("f4")
    expected = ((x @ kt + bt) @ ks + bs) - (x @ ks + bs)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)


def test_nested_functional_model_counts_its_calls_from_one(tmp_path):
    """TF's transfer-learning shape: a functional base model called in an
    outer one; the outer config calls it node 1 (node 0 is its own)."""
    base = {"class_name": "Functional", "name": "base", "config": {
        "name": "base", "layers": [_input_entry("base_in", 4),
                                   _dense_entry("inner", 3, [[["base_in", 0, 0, {}]]], "relu")],
        "input_layers": [["base_in", 0, 0]], "output_layers": [["inner", 0, 0]]},
        "inbound_nodes": [[["input_1", 0, 0, {}]]]}
    config = {"class_name": "Functional", "config": {
        "name": "outer", "layers": [_input_entry("input_1", 4), base,
                                    _dense_entry("head", 1, [[["base", 1, 0, {}]]])],
        "input_layers": [["input_1", 0, 0]], "output_layers": [["head", 0, 0]]}}
    inner, head = _dense_weights("inner", 4, 3), _dense_weights("head", 3, 1)
    path = tmp_path / "transfer.h5"
    _tf_model_file(path, config, [("input_1", []), ("base", inner[1]), head])
    model = keras.models.load_model(path)
    x = RNG.normal(size=(2, 4)).astype("f4")
    h = np.maximum(x @ inner[1][0][1] + inner[1][1][1], 0)
    np.testing.assert_allclose(model.predict(x, verbose=0), h @ head[1][0][1] + head[1][1][1],
                               rtol=1e-5, atol=1e-6)
    # Kiln writes the same numbering, and reads its own Keras config back
    out = tmp_path / "again.h5"
    model.save(out)
    with h5py.File(out, "a") as f:
        written = json.loads(f.attrs["model_config"])
        del f.attrs["kiln_model_config"]
    nodes = {e["name"]: e["inbound_nodes"] for e in written["config"]["layers"]}
    assert nodes["head"] == [[["base", 1, 0, {}]]]
    np.testing.assert_allclose(keras.models.load_model(out).predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6)


def test_tensor_keyword_arguments_and_keras3_dict_inputs(tmp_path):
    """Keras 2 writes a tensor passed by keyword as [layer, node, index]
    (MultiHeadAttention's value=); Keras 3 names inputs by a dict."""
    mha = {"name": "mha", "trainable": True, "dtype": "float32", "num_heads": 1,
           "key_dim": 2, "value_dim": 2, "dropout": 0.0, "use_bias": True,
           "output_shape": None, "attention_axes": [1],
           "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
           "bias_initializer": {"class_name": "Zeros", "config": {}},
           "kernel_regularizer": None, "bias_regularizer": None,
           "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}
    entries = [{**_input_entry("q", 2), "config": {
                   "batch_input_shape": [None, 3, 2], "dtype": "float32", "name": "q"}},
               {**_input_entry("v", 2), "config": {
                   "batch_input_shape": [None, 5, 2], "dtype": "float32", "name": "v"}},
               {"class_name": "MultiHeadAttention", "name": "mha", "config": mha,
                "inbound_nodes": [[["q", 0, 0, {"value": ["v", 0, 0]}]]]}]
    config = {"class_name": "Functional", "config": {
        "name": "attend", "layers": entries, "input_layers": [["q", 0, 0], ["v", 0, 0]],
        "output_layers": [["mha", 0, 0]]}}
    from kiln import keras_h5
    model = keras_h5.model_from_keras_config(config)
    q = RNG.normal(size=(2, 3, 2)).astype("f4")
    v = RNG.normal(size=(2, 5, 2)).astype("f4")
    direct = model.get_layer("mha")
    np.testing.assert_allclose(model.predict([q, v], verbose=0),
                               direct(q, value=v).numpy(), rtol=1e-5, atol=1e-6)
    # Keras 3: dict input_layers
    dense = {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
             "config": _keras3_dense("d", 2, "linear"), "name": "d",
             "inbound_nodes": [{"args": [[{"class_name": "__keras_tensor__", "config": {
                 "shape": [None, 3], "dtype": "float32", "keras_history": ["a", 0, 0]}}]],
                 "kwargs": {}}]}
    entries = [{"class_name": "InputLayer", "name": "a", "inbound_nodes": [],
                "config": {"batch_shape": [None, 3], "dtype": "float32", "name": "a"}},
               dense]
    dense["inbound_nodes"][0]["args"] = dense["inbound_nodes"][0]["args"][0]
    model = keras_h5.model_from_keras_config({"class_name": "Functional", "config": {
        "name": "f", "layers": entries, "input_layers": {"a": ["a", 0, 0]},
        "output_layers": ["d", 0, 0]}})
    x = RNG.normal(size=(2, 3)).astype("f4")
    layer = model.get_layer("d")
    np.testing.assert_allclose(model.predict({"a": x}, verbose=0),
                               x @ layer.kernel.numpy() + layer.bias.numpy(), rtol=1e-5)


def test_model_own_variables_are_kept_in_both_layouts(tmp_path):
    class Scaled(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)
            self.scale = kiln.Variable(5.0, name="scale")

        def call(self, x):
            return self.dense(x) * self.scale

    model = Scaled()
    model(np.ones((1, 3), "f4"))
    model.scale.assign(7.0)
    for name in ("own.h5", "own.weights.h5"):
        model.save_weights(tmp_path / name)
        other = Scaled()
        other(np.ones((1, 3), "f4"))
        other.load_weights(tmp_path / name)
        assert float(other.scale.numpy()) == 7.0
        np.testing.assert_array_equal(other.dense.kernel.numpy(), model.dense.kernel.numpy())


def test_damaged_files_and_more_tensorflow_layers(tmp_path):
    path = tmp_path / "w.h5"
    _keras2_file(path, [("dense", [("dense/kernel:0", np.zeros((3, 5), "f4"))])])
    with h5py.File(path, "a") as f:
        f["dense"].attrs["weight_names"] = _names(["dense/kernel:0", "dense/bias:0"])
    with pytest.raises(ValueError, match="does not hold"):
        keras.Sequential([keras.Input((3,)), keras.layers.Dense(5)]).load_weights(path)
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense"}]}}
    _tf_model_file(path, config, [])
    with pytest.raises(ValueError, match="not a well-formed Keras file"):
        keras.models.load_model(path)
    # defaults TF writes that Kiln's layers need not take
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 6, 6, 2],
                                                "dtype": "float32", "name": "in"}},
        {"class_name": "Conv2D", "config": {
            "name": "conv", "filters": 2, "kernel_size": [3, 3], "groups": 1,
            "dilation_rate": [1, 1], "padding": "valid", "data_format": "channels_last",
            "kernel_initializer": {"class_name": "GlorotUniform",
                                   "config": {"seed": None, "dtype": "float32"}}}},
        {"class_name": "GlobalAveragePooling2D", "config": {
            "name": "pool", "data_format": "channels_last", "keepdims": False}}]}}
    kernel, bias = RNG.normal(size=(3, 3, 2, 2)).astype("f4"), RNG.normal(size=2).astype("f4")
    _tf_model_file(path, config, [("conv", [("conv/kernel:0", kernel), ("conv/bias:0", bias)]),
                                  ("pool", [])])
    model = keras.models.load_model(path)
    x = RNG.normal(size=(1, 6, 6, 2)).astype("f4")
    feature = np.stack([np.einsum("hwc,hwcf->f", x[0, i:i + 3, j:j + 3], kernel)
                        for i in range(4) for j in range(4)]) + bias
    np.testing.assert_allclose(model.predict(x, verbose=0)[0], feature.mean(0), rtol=1e-4,
                               atol=1e-5)
    config["config"]["layers"][0]["config"]["sparse"] = True
    _tf_model_file(path, config, [])
    with pytest.raises(ValueError, match="sparse"):
        keras.models.load_model(path)


def test_saved_model_of_a_sequential_starting_with_input(tmp_path):
    """(Sequential.layers leaves the InputLayer out; saved_model still takes
    the input spec from it.)"""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    kiln.saved_model.save(model, str(tmp_path / "m"))
    loaded = kiln.saved_model.load(str(tmp_path / "m"))
    x = RNG.normal(size=(4, 3)).astype("f4")
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_keras3_weights_of_a_subclassed_model_go_by_attribute_names(tmp_path):
    """Keras 3's .weights.h5 names a subclassed model's layers by the
    attributes holding them (`enc/vars/0`, a list `blocks` as
    blocks/dense, blocks/dense_1), not by creation order: a file written
    by hand in that layout loads into the model (NumPy's forward pass the
    oracle), and a subclass creating its layers in another order reads
    them back right."""
    h5py = pytest.importorskip("h5py")
    K = kiln.keras

    class Net(K.Model):
        def __init__(self):
            super().__init__()
            self.enc = K.layers.Dense(3)
            self.dec = K.layers.Dense(3)
            self.blocks = [K.layers.Dense(2), K.layers.Dense(2)]

        def call(self, x):
            x = self.dec(kiln.nn.relu(self.enc(x)))
            for block in self.blocks:
                x = block(x)
            return x

    class Reordered(Net):
        def __init__(self):
            K.Model.__init__(self)
            self.dec = K.layers.Dense(3)
            self.enc = K.layers.Dense(3)
            self.blocks = [K.layers.Dense(2), K.layers.Dense(2)]

    rng = np.random.default_rng(4)
    shapes = {"enc": (3, 3), "dec": (3, 3), "blocks/dense": (3, 2), "blocks/dense_1": (2, 2)}
    values = {k: (rng.normal(size=s).astype(np.float32),
                  rng.normal(size=s[1]).astype(np.float32)) for k, s in shapes.items()}
    path = str(tmp_path / "net.weights.h5")
    with h5py.File(path, "w") as f:
        f.create_group("vars")
        for name, (kernel, bias) in values.items():
            group = f.create_group(name + "/vars")
            group.create_dataset("0", data=kernel)
            group.create_dataset("1", data=bias)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    want = np.maximum(x @ values["enc"][0] + values["enc"][1], 0)
    want = want @ values["dec"][0] + values["dec"][1]
    for name in ("blocks/dense", "blocks/dense_1"):
        want = want @ values[name][0] + values[name][1]
    net = Net()
    net(x)
    net.load_weights(path)
    np.testing.assert_allclose(net(x).numpy(), want, rtol=1e-5)
    saved = str(tmp_path / "again.weights.h5")
    net.save_weights(saved)
    other = Reordered()
    other(x)
    other.load_weights(saved)
    np.testing.assert_allclose(other(x).numpy(), want, rtol=1e-5)
