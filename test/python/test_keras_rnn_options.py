"""Keras RNN options: GRU(reset_after=False), stateful RNNs (states carried
from batch to batch, reset_states), unroll and time_major; against NumPy's
recurrences and against the same layer run over the whole sequence."""

import numpy as np
import pytest

import kiln

keras = kiln.keras


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_gru_without_reset_after_matches_numpy():
    # The original GRU: the reset gate scales the state before its product,
    # one bias row (Keras' reset_after=False, TensorFlow 1's GRU).
    rng = np.random.RandomState(0)
    x = rng.randn(3, 5, 4).astype(np.float32)
    layer = keras.layers.GRU(6, reset_after=False, return_sequences=True,
                             bias_initializer="random_normal")
    y = layer(x).numpy()
    W, U, b = [w.numpy().astype(np.float64) for w in layer.weights]
    assert W.shape == (4, 18) and U.shape == (6, 18) and b.shape == (18,)
    h, want = np.zeros((3, 6)), []
    for t in range(5):
        xt = x[:, t].astype(np.float64) @ W + b
        z = sigmoid(xt[:, :6] + h @ U[:, :6])
        r = sigmoid(xt[:, 6:12] + h @ U[:, 6:12])
        candidate = np.tanh(xt[:, 12:] + (r * h) @ U[:, 12:])
        h = z * h + (1 - z) * candidate
        want.append(h)
    np.testing.assert_allclose(y, np.stack(want, 1), rtol=1e-5, atol=1e-6)
    # It trains (the gradient flows through both products).
    model = keras.Sequential([keras.Input((5, 4)), keras.layers.GRU(6, reset_after=False),
                              keras.layers.Dense(1)])
    model.compile("adam", "mse")
    target = rng.randn(3, 1).astype(np.float32)
    first = model.train_on_batch(x, target)
    for _ in range(30):
        last = model.train_on_batch(x, target)
    assert last < first


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_stateful_rnn_carries_its_states_between_batches(kind):
    rng = np.random.RandomState(1)
    x = rng.randn(3, 10, 4).astype(np.float32)
    layer = getattr(keras.layers, kind)(5, stateful=True, return_sequences=True)
    model = keras.Sequential([keras.Input((5, 4), batch_size=3), layer])
    # The states are variables of the model's batch, outside its weights
    # (as Keras'), zeros after the build.
    assert len(layer.states) == (2 if kind == "LSTM" else 1)
    assert all(s.shape == (3, 5) and not s.numpy().any() for s in layer.states)
    assert len(layer.get_weights()) == 3
    whole = getattr(keras.layers, kind)(5, return_sequences=True)
    whole.build((3, 10, 4))
    whole.set_weights(layer.get_weights())
    want = whole(x).numpy()
    halves = np.concatenate([model(x[:, :5]).numpy(), model(x[:, 5:]).numpy()], 1)
    np.testing.assert_allclose(halves, want, rtol=1e-6, atol=1e-6)
    model.reset_states()
    np.testing.assert_allclose(model(x[:, :5]).numpy(), want[:, :5], rtol=1e-6, atol=1e-6)
    # reset_states with values; a wrong shape is named.
    layer.reset_states([np.ones((3, 5), np.float32)] * len(layer.states))
    assert all(s.numpy().min() == 1 for s in layer.states)
    with pytest.raises(ValueError, match="cannot be reset to shape"):
        layer.reset_states([np.ones((2, 5), np.float32)] * len(layer.states))
    with pytest.raises(ValueError, match="built for batches of 3, got a batch of 2"):
        model(x[:2, :5])


def test_stateful_lstm_in_compiled_training_matches_eager():
    # Compiled train steps read and assign the states inside the step.
    rng = np.random.RandomState(2)
    x = rng.randn(4, 12, 3).astype(np.float32)
    y = rng.randn(4, 1).astype(np.float32)

    def make(eager):
        kiln.random.set_seed(3)
        model = keras.Sequential([keras.layers.LSTM(6, stateful=True,
                                                    batch_input_shape=(4, 4, 3)),
                                  keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.1), "mse", run_eagerly=eager)
        return model

    compiled, eager = make(False), make(True)
    eager.set_weights(compiled.get_weights())
    for step in range(3):   # three consecutive chunks of the sequences
        chunk = x[:, 4 * step:4 * step + 4]
        a = compiled.train_on_batch(chunk, y)
        b = eager.train_on_batch(chunk, y)
        np.testing.assert_allclose(a, b, rtol=1e-5)
    for p, q in zip(compiled.layers[0].states, eager.layers[0].states):
        assert np.abs(p.numpy()).max() > 0
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-5, atol=1e-6)


def test_stateful_rnn_needs_its_batch_size():
    with pytest.raises(ValueError, match="needs to know its batch size"):
        keras.Sequential([keras.Input((5, 4)), keras.layers.LSTM(3, stateful=True)])
    with pytest.raises(AttributeError, match="stateful RNNs"):
        keras.layers.LSTM(3).reset_states()


def test_unroll_and_time_major_give_the_same_values():
    rng = np.random.RandomState(4)
    x = rng.randn(3, 5, 4).astype(np.float32)
    ref = keras.layers.LSTM(4, return_sequences=True, return_state=True)
    ref.build((3, 5, 4))
    unrolled = keras.layers.LSTM(4, return_sequences=True, return_state=True, unroll=True)
    unrolled.build((3, 5, 4))
    unrolled.set_weights(ref.get_weights())
    major = keras.layers.LSTM(4, return_sequences=True, return_state=True, time_major=True)
    major.build((5, 3, 4))
    major.set_weights(ref.get_weights())
    want = [t.numpy() for t in ref(x)]
    for got in ([t.numpy() for t in unrolled(x)],):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
    seq, h, c = [t.numpy() for t in major(np.transpose(x, (1, 0, 2)))]
    np.testing.assert_allclose(np.transpose(seq, (1, 0, 2)), want[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(h, want[1], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(c, want[2], rtol=1e-6, atol=1e-7)
    # Inside a compiled function too, with a mask given time-major.
    mask = np.ones((5, 3), bool)
    mask[3:, 1] = False
    f = kiln.function(lambda v, m: major(v, mask=m)[0])
    got = f(np.transpose(x, (1, 0, 2)), mask).numpy()
    ref_masked = ref(x, mask=np.transpose(mask))[0].numpy()
    np.testing.assert_allclose(np.transpose(got, (1, 0, 2)), ref_masked, rtol=1e-6,
                               atol=1e-7)


def test_bidirectional_backward_copy_keeps_the_options():
    # The backward layer is the forward one made again from its arguments
    # (Keras' rule): the same activation, GRU form and layout, its own weights.
    rng = np.random.RandomState(5)
    x = rng.randn(2, 6, 3).astype(np.float32)
    gru = keras.layers.GRU(4, reset_after=False, activation="relu", return_sequences=True)
    both = keras.layers.Bidirectional(gru)
    y = both(x).numpy()
    back = both.backward_layer
    assert back.go_backwards and not back.cell.reset_after
    assert back.cell.activation is gru.cell.activation
    assert back.cell.bias.shape == (12,) and back.cell.kernel is not gru.cell.kernel
    # The backward half is the backward layer over the reversed sequence,
    # put back in time order.
    np.testing.assert_allclose(y[..., :4], gru(x).numpy(), rtol=1e-6)
    np.testing.assert_allclose(y[..., 4:], back(x).numpy()[:, ::-1], rtol=1e-6)
    # Time-major: the same values, time first.
    major = keras.layers.Bidirectional(keras.layers.GRU(4, reset_after=False,
                                                        activation="relu",
                                                        return_sequences=True,
                                                        time_major=True))
    major(np.transpose(x, (1, 0, 2)))   # (builds it)
    major.set_weights(both.get_weights())
    got = major(np.transpose(x, (1, 0, 2))).numpy()
    np.testing.assert_allclose(np.transpose(got, (1, 0, 2)), y, rtol=1e-6, atol=1e-7)


def test_stateful_models_save_and_load(tmp_path):
    rng = np.random.RandomState(6)
    x = rng.randn(3, 4, 2).astype(np.float32)
    seq = keras.Sequential([keras.Input((4, 2), batch_size=3),
                            keras.layers.LSTM(5, stateful=True), keras.layers.Dense(1)])
    inputs = keras.Input((4, 2), batch_size=3)
    functional = keras.Model(inputs, keras.layers.Dense(1)(
        keras.layers.GRU(5, stateful=True, reset_after=False)(inputs)))
    for model in (seq, functional):
        path = str(tmp_path / f"{model.name}.keras")
        model.save(path)
        loaded = keras.models.load_model(path)
        rnn = loaded.layers[-2] if loaded.layers[-2].stateful else loaded.layers[-3]
        # Built for the batch, states at zero (the build ran nothing).
        assert rnn.states[0].shape == (3, 5) and not rnn.states[0].numpy().any()
        for _ in range(2):   # the same states carried in both
            np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_input_forms_and_clear_refusals():
    assert keras.Input(batch_shape=(4, 3)).shape == (4, 3)
    with pytest.raises(NotImplementedError, match="pad the examples"):
        keras.Input(shape=(None,), ragged=True)
    assert keras.Input(shape=(None, 8)).shape == (None, None, 8)   # (variable lengths)
