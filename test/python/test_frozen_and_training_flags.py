"""Keras' rules for frozen layers and fixed training flags: `trainable`
goes down to the layers inside; a frozen BatchNormalization runs in
inference mode (its moving statistics unused by training and unchanged);
a `training=` given when building a functional graph is that call's own
(Keras' base(x, training=False) for fine-tuning, Monte Carlo dropout with
training=True). Oracles: NumPy's batch normalization formula and the
statistics' initial values."""

import numpy as np

import kiln
from kiln import keras

RNG = np.random.default_rng(4)
X = RNG.normal(2.0, 3.0, size=(32, 3)).astype(np.float32)
Y = RNG.normal(size=(32, 1)).astype(np.float32)


def _moving(bn):
    return bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy()


def test_frozen_batch_norm_runs_in_inference_mode():
    bn = keras.layers.BatchNormalization()
    base = keras.Sequential([keras.Input((3,)), bn])
    model = keras.Sequential([base, keras.layers.Dense(1)])
    base.trainable = False
    assert not bn.trainable           # (the flag went down)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    mean, var = _moving(bn)
    model.fit(X, Y, epochs=1, verbose=0)
    np.testing.assert_array_equal(_moving(bn)[0], mean)
    np.testing.assert_array_equal(_moving(bn)[1], var)
    # in training mode too, the moving statistics normalize (not the batch's)
    out = bn(X, training=True).numpy()
    np.testing.assert_allclose(out, (X - mean) / np.sqrt(var + 1e-3), rtol=1e-5, atol=1e-5)
    base.trainable = True
    assert bn.trainable
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(X, Y, epochs=1, verbose=0)
    assert not np.allclose(_moving(bn)[0], mean)


def test_training_flag_given_in_the_graph_is_kept():
    inp = keras.Input((3,))
    bn = keras.layers.BatchNormalization()
    model = keras.Model(inp, keras.layers.Dense(1)(bn(inp, training=False)))
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    model.fit(X, Y, epochs=1, verbose=0)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(3))
    np.testing.assert_array_equal(bn.moving_variance.numpy(), np.ones(3))
    # Monte Carlo dropout: training=True at build time drops at predict time
    inp = keras.Input((1000,))
    dropped = keras.Model(inp, keras.layers.Dropout(0.5)(inp, training=True))
    out = dropped.predict(np.ones((2, 1000), np.float32), verbose=0)
    assert 0.3 < (out == 0).mean() < 0.7 and set(np.unique(out)) <= {0.0, 2.0}
    # a base model called with training=False inside another
    inner_bn = keras.layers.BatchNormalization()
    base = keras.Sequential([keras.Input((3,)), inner_bn])
    x = keras.Input((3,))
    outer = keras.Model(x, keras.layers.Dense(1)(base(x, training=False)))
    outer.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    outer.fit(X, Y, epochs=1, verbose=0)
    np.testing.assert_array_equal(inner_bn.moving_mean.numpy(), np.zeros(3))


def test_nested_layers_take_the_training_mode_of_the_call_they_are_in():
    """Keras' call context: a subclassed layer whose call does not pass
    `training` on still trains its BatchNormalization and Dropout in fit and
    under model(x, training=True); Bidirectional's halves get it too. The
    oracle is NumPy's batch mean (momentum 0: the moving mean is the last
    batch's mean) and the inequality of two dropout draws."""
    K = kiln.keras
    L = K.layers

    class Block(L.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.bn = L.BatchNormalization(momentum=0.0)
            self.drop = L.Dropout(0.5)

        def call(self, x, training=None):     # (training not passed on)
            return self.drop(self.bn(x))

    x = np.random.default_rng(0).normal(5.0, 1.0, (16, 3)).astype(np.float32)
    inputs = K.Input((3,))
    block = Block()
    model = K.Model(inputs, block(inputs))
    model.compile(optimizer=K.optimizers.SGD(0.0), loss="mse")
    model.fit(x, x, batch_size=16, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(block.bn.moving_mean.numpy(), x.mean(0), rtol=1e-5)
    assert not np.array_equal(model(x, training=True).numpy(), model(x, training=True).numpy())
    np.testing.assert_array_equal(model(x).numpy(), model(x, training=False).numpy())

    sequences = np.ones((4, 5, 2), np.float32)
    both = L.Bidirectional(L.SimpleRNN(3, dropout=0.9))
    assert not np.array_equal(both(sequences, training=True).numpy(),
                              both(sequences, training=False).numpy())
    np.testing.assert_array_equal(both(sequences).numpy(), both(sequences, training=False).numpy())
