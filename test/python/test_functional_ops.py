"""Ops on the functional API's symbolic tensors (Keras' TFOpLambda):
operators, slicing, kiln ops, kiln.math and keras.ops on kiln.Input
tensors become op layers of the graph; the model computes what NumPy does
with the same weights, trains, and says clearly what it cannot do."""

import numpy as np
import pytest

import kiln
from kiln import keras

RNG = np.random.default_rng(9)


def test_operators_and_ops_on_symbolic_tensors_match_numpy():
    x = keras.Input((4,))
    dense = keras.layers.Dense(4)
    h = dense(x)
    z = (x + h) * 2.0 - 1.0
    mean = kiln.reduce_mean(z, axis=1, keepdims=True)
    joined = kiln.concat([z, mean], axis=-1)[:, 1:4]
    out = kiln.expand_dims(keras.ops.mean(joined, axis=1), -1)
    out = kiln.nn.relu(out) + kiln.math.square(out) / (1.0 + kiln.abs(out))
    model = keras.Model(x, out)
    assert out.shape == (None, 1)
    assert [type(l).__name__ for l in model.layers][:3] == ["InputLayer", "Dense", "TFOpLambda"]
    data = RNG.normal(size=(5, 4)).astype(np.float32)
    hh = data @ dense.kernel.numpy() + dense.bias.numpy()
    zz = (data + hh) * 2 - 1
    m = np.concatenate([zz, zz.mean(1, keepdims=True)], -1)[:, 1:4].mean(1)[:, None]
    np.testing.assert_allclose(model.predict(data, verbose=0),
                               np.maximum(m, 0) + m ** 2 / (1 + np.abs(m)), rtol=1e-5,
                               atol=1e-6)


def test_a_residual_model_with_an_operator_trains():
    kiln.random.set_seed(2)
    x = keras.Input((3,))
    h = keras.layers.Dense(3, kernel_initializer="zeros")(x)
    model = keras.Model(x, keras.layers.Dense(1, kernel_initializer="ones")(x + h))
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    data = RNG.normal(size=(16, 3)).astype(np.float32)
    target = data.sum(1, keepdims=True) * 0.5
    before = model.evaluate(data, target, verbose=0)
    model.fit(data, target, epochs=20, verbose=0)
    assert model.evaluate(data, target, verbose=0) < before


def test_shapes_of_ops_that_move_the_batch():
    x = keras.Input((4, 2))
    assert kiln.reduce_sum(x).shape == ()
    assert kiln.transpose(x, [1, 0, 2]).shape == (4, None, 2)
    assert kiln.shape(x).shape == (3,)
    assert (x[:, 0] * 3).shape == (None, 2)
    with pytest.raises(TypeError, match="cannot be iterated"):
        a, b = x


def test_models_with_op_layers_save_and_load(tmp_path):
    x = keras.Input((4,))
    h = keras.layers.Dense(4)(x)
    y = (x + h) * 2.0 - 1.0
    z = kiln.concat([y[:, 1:3], kiln.reduce_mean(y, axis=1, keepdims=True)], axis=-1)
    out = keras.layers.Dense(1)(kiln.nn.relu(z) + keras.ops.mean(z, axis=1, keepdims=True))
    model = keras.Model(x, out)
    data = RNG.normal(size=(5, 4)).astype(np.float32)
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
        loaded = keras.models.load_model(tmp_path / name)
        np.testing.assert_allclose(loaded.predict(data, verbose=0),
                                   model.predict(data, verbose=0), rtol=1e-6)
    model.save_weights(tmp_path / "w.weights.h5")     # (weights too)
    # an op layer of a Python function of one's own has no name to save by
    odd = keras.layers.TFOpLambda(lambda t: t * 3.0, [keras.layers._OpSlot(0)], {})
    with pytest.raises(ValueError, match="no name to save it by"):
        odd.get_config()


def test_the_intercepting_wrappers_pickle_by_their_public_names():
    import pickle
    assert pickle.loads(pickle.dumps(kiln.reshape)) is kiln.reshape
    assert pickle.loads(pickle.dumps(kiln.math.cumsum)) is kiln.math.cumsum
    assert kiln.add is kiln.ops.add        # (no wrapper: it dispatches itself)
