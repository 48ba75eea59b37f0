"""Keras layers of issue 17 (item 2) against NumPy formulas, eagerly and in
compiled training steps; gradients through them by central differences."""

import numpy as np
import pytest

import kiln
from kiln import layers

RNG = np.random.default_rng(5)


def test_dropout_respects_the_training_flag():
    x = kiln.ones([4, 100])
    d = layers.Dropout(0.5)
    np.testing.assert_array_equal(d(x).numpy(), x.numpy())          # inference
    np.testing.assert_array_equal(d(x, training=False).numpy(), x.numpy())
    y = d(x, training=True).numpy()
    np.testing.assert_allclose(np.unique(y), [0.0, 2.0])
    model = kiln.Sequential([layers.Dense(8), layers.Dropout(0.5)])
    assert model(x, training=False).shape == (4, 8)

    @kiln.function
    def step(v):
        return model(v, training=True)
    a, b = step(x).numpy(), step(x).numpy()
    assert (a == 0).any() and (a != b).any()   # a new mask per compiled call
    with pytest.raises(ValueError, match="rate"):
        layers.Dropout(1.0)


def test_batch_normalization_trains_and_infers_like_keras():
    x0 = RNG.normal(3.0, 2.0, (16, 5)).astype(np.float32)
    bn = layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    y = bn(kiln.constant(x0), training=True).numpy()
    mean, var = x0.mean(0), x0.var(0)
    np.testing.assert_allclose(y, (x0 - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * var, rtol=1e-5)
    assert {v.name for v in bn.non_trainable_variables} == {
        bn.moving_mean.name, bn.moving_variance.name}
    assert len(bn.trainable_variables) == 2
    # Inference uses the moving statistics.
    y = bn(kiln.constant(x0)).numpy()
    want = (x0 - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + 1e-3)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)

    # In a compiled training step the moving statistics move too, and the
    # gradient flows through the batch statistics.
    model = kiln.Sequential([layers.Dense(4), layers.BatchNormalization()])
    opt = kiln.optimizers.SGD(0.1)

    @kiln.function
    def train(v):
        with kiln.GradientTape() as tape:
            loss = kiln.reduce_mean(kiln.square(model(v, training=True) - 1.0))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    model(kiln.constant(x0))  # (builds the layers; inference moves nothing)
    before = model.layers[1].moving_mean.numpy().copy()
    np.testing.assert_array_equal(before, np.zeros(4))
    train(kiln.constant(x0))
    train(kiln.constant(x0))
    assert not np.allclose(model.layers[1].moving_mean.numpy(), before)


def test_batch_normalization_gradient_matches_finite_differences():
    x0 = RNG.normal(size=(6, 3))
    bn = layers.BatchNormalization(dtype="float64")
    bn(kiln.constant(x0), training=True)  # build
    w = kiln.constant(RNG.normal(size=(6, 3)))

    def f(x):
        return kiln.reduce_sum(bn.call(x, training=False) * w) + \
            kiln.reduce_sum(kiln.nn.batch_normalization(
                x, *kiln.nn.moments(x, [0], keepdims=True), None, None, 1e-3) * w)
    x = kiln.constant(x0)
    with kiln.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    g = tape.gradient(y, x).numpy()
    h, fd = 1e-6, np.zeros_like(x0)
    for i in range(x0.size):
        e = np.zeros_like(x0)
        e.flat[i] = h
        fd.flat[i] = (float(f(kiln.constant(x0 + e))) - float(f(kiln.constant(x0 - e)))) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7)

    # Central differences of the same function in NumPy (the moving
    # statistics, gamma and beta as built; tf.nn.moments' population variance).
    mm, mv = bn.moving_mean.numpy(), bn.moving_variance.numpy()
    gamma, beta, w0 = bn.gamma.numpy(), bn.beta.numpy(), w.numpy()

    def numpy_f(a):
        inference = (a - mm) / np.sqrt(mv + bn.epsilon) * gamma + beta
        batch = (a - a.mean(0)) / np.sqrt(a.var(0) + 1e-3)
        return (inference * w0).sum() + (batch * w0).sum()
    numeric = np.zeros_like(x0)
    for i in range(x0.size):
        e = np.zeros_like(x0)
        e.flat[i] = h
        numeric.flat[i] = (numpy_f(x0 + e) - numpy_f(x0 - e)) / (2 * h)
    np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-7)


def test_layer_normalization():
    x0 = RNG.normal(size=(4, 6)).astype(np.float32)
    ln = layers.LayerNormalization(epsilon=1e-5)
    y = ln(kiln.constant(x0)).numpy()
    want = (x0 - x0.mean(1, keepdims=True)) / np.sqrt(x0.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)
    assert ln.gamma.shape == (6,) and ln.beta.shape == (6,)


def test_embedding_reshape_permute_merges_lambda():
    emb = layers.Embedding(10, 3)
    ids = np.array([[1, 2], [9, 0]])
    out = emb(ids)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.numpy(), emb.embeddings.numpy()[ids])
    assert np.abs(emb.embeddings.numpy()).max() <= 0.05
    with pytest.raises(kiln.errors.InvalidArgumentError, match="gather"):
        emb(np.array([[10]]))
    x0 = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    x = kiln.constant(x0)
    np.testing.assert_array_equal(layers.Reshape((4, 3))(x).numpy(), x0.reshape(2, 4, 3))
    np.testing.assert_array_equal(layers.Reshape((-1,))(x).numpy(), x0.reshape(2, 12))
    np.testing.assert_array_equal(layers.Permute((2, 1))(x).numpy(), x0.transpose(0, 2, 1))
    np.testing.assert_array_equal(layers.Concatenate()([x, x]).numpy(),
                                  np.concatenate([x0, x0], -1))
    np.testing.assert_array_equal(layers.Concatenate(axis=1)([x, x]).numpy(),
                                  np.concatenate([x0, x0], 1))
    np.testing.assert_allclose(layers.Add()([x, x, x]).numpy(), 3 * x0, rtol=1e-6)
    np.testing.assert_allclose(layers.Multiply()([x, x]).numpy(), x0 * x0, rtol=1e-6)
    np.testing.assert_allclose(layers.Lambda(lambda t: t * 2.0)(x).numpy(), 2 * x0)
    with pytest.raises(ValueError, match="list of at least two"):
        layers.Add()(x)


def test_padding_and_upsampling():
    x0 = RNG.normal(size=(1, 2, 3, 2)).astype(np.float32)
    x = kiln.constant(x0)
    np.testing.assert_array_equal(layers.ZeroPadding2D(1)(x).numpy(),
                                  np.pad(x0, [[0, 0], [1, 1], [1, 1], [0, 0]]))
    np.testing.assert_array_equal(layers.ZeroPadding2D(((1, 0), (0, 2)))(x).numpy(),
                                  np.pad(x0, [[0, 0], [1, 0], [0, 2], [0, 0]]))
    np.testing.assert_array_equal(layers.UpSampling2D((2, 3))(x).numpy(),
                                  x0.repeat(2, 1).repeat(3, 2))


def test_more_activations_and_initializers():
    x0 = np.linspace(-3, 3, 7).astype(np.float32)
    d = layers.Activation("elu")
    np.testing.assert_allclose(d(kiln.constant(x0)).numpy(),
                               np.where(x0 > 0, x0, np.expm1(x0)), rtol=1e-6)
    for name in ("relu6", "selu", "swish", "softplus", "gelu", "leaky_relu"):
        assert layers.Activation(name)(kiln.constant(x0)).shape == (7,)
    kiln.random.set_seed(1)
    for name in ("he_uniform", "glorot_normal", "uniform", "normal"):
        w = layers.Dense(50, kernel_initializer=name)
        w(kiln.ones([1, 40]))
        assert w.kernel.shape == (40, 50) and np.isfinite(w.kernel.numpy()).all()
    limit = np.sqrt(6 / 40)
    w = layers.Dense(50, kernel_initializer="he_uniform")
    w(kiln.ones([1, 40]))
    assert np.abs(w.kernel.numpy()).max() <= limit


def test_functional_api():
    inputs = kiln.Input(shape=(4,))
    assert inputs.shape == (None, 4)
    hidden = layers.Dense(8, activation="relu")(inputs)
    left, right = layers.Dense(3)(hidden), layers.Dense(3)(hidden)
    assert left.shape == (None, 3)
    outputs = layers.Add()([left, right])
    model = kiln.Model(inputs, outputs, name="two_heads")
    # The weights exist before the first call, as in Keras.
    assert len(model.trainable_variables) == 6 and len(model.layers) == 5 and type(model.layers[0]).__name__ == "InputLayer"
    x0 = RNG.normal(size=(5, 4)).astype(np.float32)
    k1, b1, k2, b2, k3, b3 = (v.numpy() for v in model.trainable_variables)
    h = np.maximum(x0 @ k1 + b1, 0)
    np.testing.assert_allclose(model(x0).numpy(), h @ k2 + b2 + h @ k3 + b3, rtol=1e-5)
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x0, np.ones((5, 3), np.float32), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2

    # Two inputs, dropout that follows the training flag, reuse of a layer.
    a, b = kiln.Input((2,)), kiln.Input((3,))
    shared = layers.Dense(2, use_bias=False)
    joined = layers.Concatenate()([shared(a), b, shared(a)])
    out = layers.Dropout(0.5)(joined)
    m2 = kiln.Model([a, b], out)
    xa, xb = np.ones((4, 2), np.float32), np.full((4, 3), 2.0, np.float32)
    y = m2([xa, xb]).numpy()
    k = shared.kernel.numpy()
    np.testing.assert_allclose(y, np.concatenate([xa @ k, xb, xa @ k], 1), rtol=1e-6)
    assert (m2([xa, xb], training=True).numpy() == 0).any()
    lines = []
    model.summary(print_fn=lines.append)
    assert "two_heads" in lines[0] and "(None, 3)" in "\n".join(lines)
    assert kiln.Input((None, 3)).shape == (None, None, 3)   # (variable lengths)


def test_functional_api_with_layers_of_several_outputs():
    """An LSTM's return_state outputs feed different layers; the model runs
    the LSTM once per call and matches calling the layers directly."""
    seq = kiln.Input((5, 3))
    lstm = layers.LSTM(4, return_sequences=True, return_state=True)
    whole, h, c = lstm(seq)
    assert whole.shape == (None, 5, 4) and h.shape == (None, 4) and c.shape == (None, 4)
    head = layers.Dense(2)
    model = kiln.Model(seq, [head(h), c, layers.Flatten()(whole)])
    x = RNG.normal(size=(3, 5, 3)).astype(np.float32)
    calls = []
    original = lstm.call
    lstm.call = lambda *a, **k: calls.append(1) or original(*a, **k)
    y, state, flat = model(x)
    assert len(calls) == 1  # one LSTM run for its three outputs
    lstm.call = original
    want_whole, want_h, want_c = lstm(x)
    np.testing.assert_allclose(y.numpy(), head(want_h).numpy(), rtol=1e-6)
    np.testing.assert_allclose(state.numpy(), want_c.numpy(), rtol=1e-6)
    np.testing.assert_allclose(flat.numpy(), want_whole.numpy().reshape(3, 20), rtol=1e-6)
    # NumPy's LSTM (Keras' cell) and dense head with the same weights.
    np_whole, np_h, np_c = _np_rnn("lstm", lstm.cell, x.astype(np.float64))
    np.testing.assert_allclose(y.numpy(), np_h @ head.kernel.numpy() + head.bias.numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state.numpy(), np_c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(flat.numpy(), np_whole.reshape(3, 20), rtol=1e-5, atol=1e-6)
    # Compiled too, and trainable through both heads.
    step = kiln.function(lambda v: model(v)[0])
    np.testing.assert_allclose(step(x).numpy(), y.numpy(), rtol=1e-5)
    with kiln.GradientTape() as tape:
        out = model(x)
        loss = kiln.reduce_sum(out[0]) + kiln.reduce_sum(out[1])
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None for g in grads)


def _np_conv2d(x, w, stride, pad):
    """Cross-correlation of NHWC x with HWIO w, zero padding `pad`
    ((top, bottom), (left, right))."""
    x = np.pad(x, [(0, 0), pad[0], pad[1], (0, 0)])
    kh, kw, _, co = w.shape
    oh = (x.shape[1] - kh) // stride + 1
    ow = (x.shape[2] - kw) // stride + 1
    out = np.zeros((x.shape[0], oh, ow, co))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2]))
    return out


def test_conv1d_transposed_and_depthwise_convolutions():
    x0 = RNG.normal(size=(2, 9, 3))
    conv = layers.Conv1D(4, 3, strides=2, dtype="float64")
    y = conv(kiln.constant(x0)).numpy()
    w = conv.kernel.numpy()
    want = _np_conv2d(x0[:, None], w[None], 1, ((0, 0), (0, 0)))[:, 0, ::2] + conv.bias.numpy()
    np.testing.assert_allclose(y, want, rtol=1e-10)

    # The transpose of a strided convolution is its adjoint: <T(x), y> = <x, C(y)>.
    x = RNG.normal(size=(1, 3, 3, 2))
    up = layers.Conv2DTranspose(5, 3, strides=2, padding="valid", use_bias=False,
                                dtype="float64")
    out = up(kiln.constant(x)).numpy()
    assert out.shape == (1, 7, 7, 5)
    k = up.kernel.numpy()                      # (3, 3, 5, 2)
    probe = RNG.normal(size=out.shape)
    conv_of_probe = _np_conv2d(probe, k, 2, ((0, 0), (0, 0)))   # 5 -> 2 channels
    np.testing.assert_allclose((out * probe).sum(), (x * conv_of_probe).sum(), rtol=1e-9)
    same = layers.Conv2DTranspose(2, 3, strides=2, padding="same")(kiln.ones([1, 4, 4, 3]))
    assert same.shape == (1, 8, 8, 2)

    dw = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", dtype="float64")
    xd = RNG.normal(size=(1, 5, 5, 3))
    yd = dw(kiln.constant(xd)).numpy()
    kd = dw.depthwise_kernel.numpy()
    for c in range(3):
        ref = _np_conv2d(xd[..., c:c + 1], kd[:, :, c:c + 1, :], 1, ((1, 1), (1, 1)))
        np.testing.assert_allclose(yd[..., 2 * c:2 * c + 2], ref, rtol=1e-10, atol=1e-12)


def _sig(z):
    return 1 / (1 + np.exp(-z))


def _np_rnn(kind, cell, x, backwards=False, mask=None, zero_output=False):
    """Every step's output and the final states, in NumPy (Keras' cells).
    A [batch, time] `mask` skips steps: the states stay, the output is the
    last kept step's (zeros with zero_output), as Keras' rnn does."""
    k, u = cell.kernel.numpy(), cell.recurrent_kernel.numpy()
    b = cell.bias.numpy()
    n = cell.units
    h = np.zeros((x.shape[0], n))
    c = np.zeros_like(h)
    outs = []
    steps = range(x.shape[1] - 1, -1, -1) if backwards else range(x.shape[1])
    last = np.zeros_like(h)
    for t in steps:
        h0, c0 = h, c
        xt = x[:, t]
        if kind == "simple":
            h = np.tanh(xt @ k + h @ u + b)
        elif kind == "lstm":
            z = xt @ k + h @ u + b
            i, f, g, o = (z[:, j * n:(j + 1) * n] for j in range(4))
            c = _sig(f) * c + _sig(i) * np.tanh(g)
            h = _sig(o) * np.tanh(c)
        else:
            xz, xr, xh = np.split(xt @ k + b[0], 3, axis=1)
            rz, rr, rh = np.split(h @ u + b[1], 3, axis=1)
            z, r = _sig(xz + rz), _sig(xr + rr)
            h = z * h + (1 - z) * np.tanh(xh + r * rh)
        if mask is None:
            outs.append(h)
            continue
        keep = mask[:, t][:, None]
        h, c = np.where(keep, h, h0), np.where(keep, c, c0)
        last = np.where(keep, h, 0 if zero_output else last)
        outs.append(last)
    return np.stack(outs, 1), h, c


@pytest.mark.parametrize("kind", ["simple", "lstm", "gru"])
def test_recurrent_layers_match_numpy_eagerly_and_in_one_loop(kind):
    make = {"simple": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}[kind]
    x0 = RNG.normal(size=(3, 6, 4))
    layer = make(5, return_sequences=True, return_state=True, dtype="float64")
    out = layer(kiln.constant(x0))
    seq, h, c = _np_rnn(kind, layer.cell, x0)
    np.testing.assert_allclose(out[0].numpy(), seq, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out[1].numpy(), h, rtol=1e-9, atol=1e-12)
    if kind == "lstm":
        np.testing.assert_allclose(out[2].numpy(), c, rtol=1e-9, atol=1e-12)
        assert np.allclose(layer.cell.bias.numpy()[5:10], 1.0)   # unit_forget_bias
    compiled = kiln.function(lambda v: layer(v))
    np.testing.assert_allclose(compiled(kiln.constant(x0))[0].numpy(), seq, rtol=1e-9)
    text = compiled.get_concrete_function(kiln.constant(x0)).mlir
    assert text.count("kiln.for") == 1, "the time loop is one kiln.for"
    last = make(5, go_backwards=True, dtype="float64")
    np.testing.assert_allclose(last(kiln.constant(x0)).numpy(),
                               _np_rnn(kind, last.cell, x0, backwards=True)[1],
                               rtol=1e-9, atol=1e-12)


def test_lstm_gradient_and_training():
    x0 = RNG.normal(size=(2, 4, 3))
    layer = layers.LSTM(3, dtype="float64")
    w = kiln.constant(RNG.normal(size=(2, 3)))
    f = lambda x: kiln.reduce_sum(layer(x) * w)
    x = kiln.constant(x0)
    with kiln.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    g = tape.gradient(y, x).numpy()
    fd = np.zeros_like(x0)
    for i in range(x0.size):
        e = np.zeros_like(x0)
        e.flat[i] = 1e-6
        fd.flat[i] = (float(f(kiln.constant(x0 + e))) - float(f(kiln.constant(x0 - e)))) / 2e-6
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-8)
    # Central differences of NumPy's LSTM (Keras' cell) with the same weights.
    numpy_f = lambda a: (_np_rnn("lstm", layer.cell, a)[1] * w.numpy()).sum()
    numeric = np.zeros_like(x0)
    for i in range(x0.size):
        e = np.zeros_like(x0)
        e.flat[i] = 1e-6
        numeric.flat[i] = (numpy_f(x0 + e) - numpy_f(x0 - e)) / 2e-6
    np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-8)
    # A compiled fit of a bidirectional GRU over sequences.
    kiln.random.set_seed(7)
    xs = RNG.normal(size=(32, 5, 2)).astype(np.float32)
    ys = xs.sum(axis=(1, 2))[:, None].astype(np.float32)
    model = kiln.Sequential([layers.Bidirectional(layers.GRU(4)), layers.Dense(1)])
    model.compile(optimizer=kiln.optimizers.Adam(0.05), loss="mse")
    history = model.fit(xs, ys, batch_size=16, epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert model(xs[:2]).shape == (2, 1)


def test_input_shape_builds_and_track_layer(tmp_path):
    model = kiln.Sequential([layers.Dense(3, input_shape=(4,)), layers.Dense(2)])
    assert len(model.variables) == 4          # built at construction, as in Keras
    assert model.layers[0].kernel.shape == (4, 3)

    class Net(kiln.Network):
        def __init__(self):
            super().__init__()
            self.dense = self.track_layer(layers.Dense(2))

        def call(self, x):
            return self.dense(x)
    net = Net()
    net(np.ones((1, 3), np.float32))
    assert len(net.variables) == 2
    with pytest.raises(TypeError, match="track_layer takes a layer"):
        net.track_layer(3)

    assert kiln.train.latest_checkpoint(tmp_path) is None
    manager = kiln.train.CheckpointManager(kiln.train.Checkpoint(model=model), tmp_path)
    manager.save()
    second = manager.save()
    assert kiln.train.latest_checkpoint(tmp_path) == second


def test_recurrent_dropout_one_mask_per_sequence():
    """dropout / recurrent_dropout as Keras': while training, one mask per
    sequence (the same at every step) of 0 or 1 / (1 - rate); none at
    inference. A linear unit cell makes the masks visible."""
    L = layers
    x = np.ones((4000, 3, 1), np.float32)
    rnn = L.SimpleRNN(1, activation=None, use_bias=False, return_sequences=True, dropout=0.3)
    rnn(x)
    rnn.cell.kernel.assign(np.ones((1, 1), np.float32))
    rnn.cell.recurrent_kernel.assign(np.zeros((1, 1), np.float32))
    y = rnn(x, training=True).numpy()[..., 0]
    assert abs(np.mean(y[:, 0] == 0) - 0.3) < 0.03
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.7], rtol=1e-6)
    assert np.all((y == 0).all(1) | (y != 0).all(1))       # (the same mask each step)
    np.testing.assert_array_equal(rnn(x, training=False).numpy(), 1.0)
    # Recurrent dropout masks the state the recurrent product reads:
    # y1 = x1, y2 = m y1, y3 = m y2 = m^2 (the same m).
    rec = L.SimpleRNN(1, activation=None, use_bias=False, return_sequences=True,
                      recurrent_dropout=0.5)
    rec(x)
    rec.cell.kernel.assign(np.ones((1, 1), np.float32))
    rec.cell.recurrent_kernel.assign(np.ones((1, 1), np.float32))
    first = np.zeros_like(x)
    first[:, 0] = 1.0
    y = rec(first, training=True).numpy()[..., 0]
    assert abs(np.mean(y[:, 1] == 0) - 0.5) < 0.03
    np.testing.assert_allclose(y[:, 2], y[:, 1] ** 2, rtol=1e-6)
    # LSTM and GRU (stacked) train compiled; inference is deterministic.
    model = kiln.keras.Sequential([
        kiln.keras.Input((5, 3)),
        L.LSTM(4, dropout=0.2, recurrent_dropout=0.2, return_sequences=True),
        L.GRU(3, dropout=0.1, recurrent_dropout=0.3), L.Dense(1)])
    model.compile("adam", "mse")
    data = np.random.default_rng(5).random((32, 5, 3)).astype(np.float32)
    history = model.fit(data, data[:, :1, 0], epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    np.testing.assert_array_equal(model.predict(data[:2], verbose=0), model(data[:2]).numpy())
    with pytest.raises(ValueError, match="dropout must be in"):
        L.LSTM(2, dropout=1.0)


def test_masking_through_embeddings_recurrent_layers_and_pooling():
    # Keras masking: Embedding(mask_zero=True) marks id 0 as padding; the
    # RNNs skip those steps (states kept, the output the last kept step's,
    # or zeros), Bidirectional passes the mask to both directions, average
    # pooling averages the kept steps, Masking masks all-zero steps, and
    # Dense / Dropout pass the mask on. NumPy (Keras' rnn) is the oracle.
    ids = np.array([[3, 1, 4, 0, 0], [2, 0, 5, 6, 0], [0, 0, 0, 0, 0]], np.int32)
    keep = ids != 0
    emb = layers.Embedding(8, 4, mask_zero=True, dtype="float64")
    vectors = emb(kiln.constant(ids))
    np.testing.assert_array_equal(vectors._keras_mask.numpy(), keep)
    x = vectors.numpy()
    for kind, make in (("simple", layers.SimpleRNN), ("lstm", layers.LSTM),
                       ("gru", layers.GRU)):
        for zero in (False, True):
            rnn = make(3, return_sequences=True, return_state=True,
                       zero_output_for_mask=zero, dtype="float64")
            seq, h = rnn(vectors)[:2]
            want_seq, want_h, _ = _np_rnn(kind, rnn.cell, x, mask=keep, zero_output=zero)
            np.testing.assert_allclose(seq.numpy(), want_seq, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(h.numpy(), want_h, rtol=1e-9, atol=1e-12)
            np.testing.assert_array_equal(seq._keras_mask.numpy(), keep)
    back = layers.GRU(3, go_backwards=True, dtype="float64")
    np.testing.assert_allclose(back(vectors).numpy(),
                               _np_rnn("gru", back.cell, x, backwards=True, mask=keep)[1],
                               rtol=1e-9, atol=1e-12)

    # A model: mask from the embedding through Dense and Dropout into the
    # LSTM and the pooling; eagerly and compiled, NumPy the oracle.
    lstm = layers.LSTM(3, return_sequences=True, dtype="float64")
    dense = layers.Dense(4, dtype="float64")
    model = kiln.Sequential([emb, dense, layers.Dropout(0.5, dtype="float64"), lstm,
                             layers.GlobalAveragePooling1D(dtype="float64")])
    got = model(kiln.constant(ids)).numpy()
    seq = _np_rnn("lstm", lstm.cell, x @ dense.kernel.numpy() + dense.bias.numpy(),
                  mask=keep)[0]
    counts = keep.sum(1, keepdims=True)
    want = (seq * keep[..., None]).sum(1) / np.where(counts, counts, np.nan)
    np.testing.assert_allclose(got[:2], want[:2], rtol=1e-9, atol=1e-12)
    assert np.isnan(got[2]).all()  # (no kept step: 0 / 0, as in Keras)
    compiled = kiln.function(lambda v: model(v))
    np.testing.assert_allclose(compiled(kiln.constant(ids)).numpy()[:2], want[:2], rtol=1e-9)

    # Bidirectional over a mask; Masking of all-zero steps.
    bi = layers.Bidirectional(layers.SimpleRNN(2, dtype="float64"), merge_mode="concat",
                              dtype="float64")
    out = bi(vectors).numpy()
    fwd = _np_rnn("simple", bi.forward_layer.cell, x, mask=keep)[1]
    bwd = _np_rnn("simple", bi.backward_layer.cell, x, backwards=True, mask=keep)[1]
    np.testing.assert_allclose(out, np.concatenate([fwd, bwd], 1), rtol=1e-9, atol=1e-12)
    raw = x * keep[..., None]
    raw[0, 1] = 0.0  # (an all-zero step the embedding did not mask)
    masked = layers.Masking(0.0, dtype="float64")(kiln.constant(raw))
    np.testing.assert_array_equal(masked._keras_mask.numpy(), np.any(raw != 0, -1))
    np.testing.assert_array_equal(masked.numpy(), raw)
    assert getattr(layers.Embedding(8, 4)(kiln.constant(ids)), "_keras_mask", None) is None

    # The functional API: the mask travels with the tensors between calls.
    inputs = kiln.Input((5,), dtype="int32")
    hidden = layers.LSTM(3, dtype="float64")(emb(inputs))
    functional = kiln.Model(inputs, layers.Dense(2, dtype="float64")(hidden))
    got = functional(kiln.constant(ids[:2])).numpy()
    lstm2, head = functional.layers[-2], functional.layers[-1]
    h = _np_rnn("lstm", lstm2.cell, x[:2], mask=keep[:2])[1]
    np.testing.assert_allclose(got, h @ head.kernel.numpy() + head.bias.numpy(),
                               rtol=1e-9, atol=1e-12)

    # A loss of a masked sequence output is the mean over the kept steps
    # (Keras: masked entries weigh 0, the others total / kept).
    tagger = kiln.Sequential([emb, layers.Dense(3, dtype="float64")])
    logits = tagger(kiln.constant(ids[:2]))
    labels = RNG.integers(0, 3, size=(2, 5))
    loss = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)
    z = logits.numpy()
    nll = np.log(np.exp(z).sum(-1)) - np.take_along_axis(z, labels[..., None], -1)[..., 0]
    kept = keep[:2]
    np.testing.assert_allclose(float(loss(labels, logits)), nll[kept].mean(), rtol=1e-6)
    np.testing.assert_allclose(
        float(kiln.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")(
            labels, logits)), nll[kept].sum(), rtol=1e-9)

    # fit / evaluate: the loss and the accuracy leave the padding out.
    rng = np.random.default_rng(7)
    tokens = rng.integers(1, 8, (48, 6)).astype(np.int32)
    for row, n in zip(tokens, rng.integers(1, 7, 48)):
        row[n:] = 0
    tags = (tokens > 4).astype(np.int32)
    kiln.random.set_seed(5)
    net = kiln.Sequential([layers.Embedding(8, 6, mask_zero=True),
                           layers.LSTM(6, return_sequences=True), layers.Dense(2)])
    net.compile(optimizer=kiln.optimizers.Adam(0.05), metrics=["accuracy"],
                loss=kiln.losses.SparseCategoricalCrossentropy(from_logits=True))
    net.fit(tokens, tags, epochs=3, batch_size=16, verbose=0)
    logs = net.evaluate(tokens, tags, batch_size=48, verbose=0, return_dict=True)
    scores = net.predict(tokens, batch_size=48)
    real = tokens != 0
    z = scores.astype(np.float64)
    nll = np.log(np.exp(z).sum(-1)) - np.take_along_axis(z, tags[..., None], -1)[..., 0]
    np.testing.assert_allclose(logs["loss"], nll[real].mean(), rtol=1e-4)
    np.testing.assert_allclose(logs["accuracy"], (z.argmax(-1) == tags)[real].mean(),
                               rtol=1e-6)


@pytest.mark.parametrize("kind", ["simple", "lstm", "gru"])
def test_recurrent_layers_over_an_open_batch(kind):
    """One compiled loop for every batch size (input_signature's None): the
    time steps are rows of a time-major sequence with the batch open, and
    their gradient puts each step's back in place. NumPy's recurrence and
    central differences of it are the oracles."""
    from conftest import central

    make = {"simple": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}[kind]
    layer = make(3, return_sequences=True, dtype="float64")
    layer(kiln.constant(np.zeros((1, 4, 2))))
    w = RNG.normal(size=(4, 3))

    @kiln.function(input_signature=[kiln.TensorSpec((None, 4, 2), kiln.float64)])
    def run(x):
        with kiln.GradientTape() as tape:
            tape.watch(x)
            seq = layer(x)
            loss = kiln.reduce_sum(seq * w)
        return seq, tape.gradient(loss, x)

    for batch in (3, 1):
        x0 = RNG.normal(size=(batch, 4, 2))
        seq, dx = run(kiln.constant(x0))
        np.testing.assert_allclose(seq.numpy(), _np_rnn(kind, layer.cell, x0)[0],
                                   rtol=1e-9, atol=1e-12)
        numeric = central(lambda a: float((_np_rnn(kind, layer.cell, a)[0] * w).sum()), x0)
        np.testing.assert_allclose(dx.numpy(), numeric, rtol=1e-6, atol=1e-8)
    assert run.trace_count == 1


def _np_conv3d_transpose(x, w, out_shape, strides, padding, dilations=(1, 1, 1)):
    """tf.nn.conv3d_transpose by its definition: each input voxel adds
    x * w[tap] at the output voxel that tap reads in the forward
    convolution (TensorFlow's SAME split of the padding)."""
    b, n_in = x.shape[0], x.shape[1:4]
    out = np.zeros((b,) + tuple(out_shape) + (w.shape[3],))
    before = []
    for n, size, k, s, d in zip(n_in, out_shape, w.shape[:3], strides, dilations):
        span = (k - 1) * d + 1
        before.append(max((n - 1) * s + span - size, 0) // 2 if padding == "SAME" else 0)
    for o in np.ndindex(*n_in):
        for tap in np.ndindex(*w.shape[:3]):
            at = [o[a] * strides[a] + tap[a] * dilations[a] - before[a] for a in range(3)]
            if all(0 <= at[a] < out_shape[a] for a in range(3)):
                out[:, at[0], at[1], at[2]] += x[:, o[0], o[1], o[2]] @ w[tap].T
    return out


@pytest.mark.parametrize("strides,padding,out_shape,dilations", [
    ((2, 1, 2), "SAME", (6, 3, 4), (1, 1, 1)),
    ((2, 2, 1), "VALID", (7, 7, 5), (1, 1, 1)),
    ((3, 1, 1), "VALID", (9, 3, 3), (1, 1, 1)),
    ((1, 1, 1), "SAME", (3, 3, 3), (2, 1, 1)),
    ((1, 1, 1), "SAME", (1, 3, 3), (1, 1, 1)),   # taps beyond a depth of 1
])
def test_conv3d_transpose_matches_its_definition(strides, padding, out_shape, dilations):
    k = (3, 3, 3)
    span = [(kk - 1) * d + 1 for kk, d in zip(k, dilations)]
    n_in = [-(-o // s) if padding == "SAME" else (o - sp) // s + 1
            for o, s, sp in zip(out_shape, strides, span)]
    x = RNG.normal(size=(2, *n_in, 3))
    w = RNG.normal(size=(*k, 4, 3))
    got = kiln.nn.conv3d_transpose(kiln.constant(x), kiln.constant(w), [2, *out_shape, 4],
                                   strides, padding, dilations=dilations).numpy()
    want = _np_conv3d_transpose(x, w, out_shape, strides, padding, dilations)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="gives depth"):
        kiln.nn.conv3d_transpose(kiln.constant(x), kiln.constant(w),
                                 [2, out_shape[0] + 5 * strides[0], *out_shape[1:], 4],
                                 strides, padding, dilations=dilations)


def test_conv3d_transpose_layer_trains_and_has_gradients():
    from conftest import central
    x0 = RNG.normal(size=(2, 2, 3, 2, 2))
    up = layers.Conv3DTranspose(3, (2, 3, 2), strides=(2, 1, 2), padding="valid",
                                dtype="float64")
    y = up(kiln.constant(x0))
    assert y.shape == (2, 4, 5, 4, 3)   # Keras' lengths: n * s + max(k - s, 0)
    k, b = up.kernel.numpy(), up.bias.numpy()
    np.testing.assert_allclose(
        y.numpy(), _np_conv3d_transpose(x0, k, (4, 5, 4), (2, 1, 2), "VALID") + b,
        rtol=1e-10, atol=1e-12)
    assert layers.Conv3DTranspose(2, 3, strides=2, padding="same")(
        kiln.ones([1, 2, 3, 4, 1])).shape == (1, 4, 6, 8, 2)
    # Gradients with respect to the input and the kernel, by central differences.
    probe = RNG.normal(size=(2, 4, 5, 4, 3))

    def loss_of(xv, kv):
        return float((_np_conv3d_transpose(xv, kv, (4, 5, 4), (2, 1, 2), "VALID")
                      * probe).sum())
    xt = kiln.constant(x0)
    with kiln.GradientTape() as tape:
        tape.watch(xt)
        loss = kiln.reduce_sum(up(xt) * kiln.constant(probe))
    gx, gk = tape.gradient(loss, [xt, up.kernel])
    np.testing.assert_allclose(gx.numpy(), central(lambda v: loss_of(v, k), x0), rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(gk.numpy(), central(lambda v: loss_of(x0, v), k), rtol=1e-6,
                               atol=1e-8)

    # In a compiled training step with an open batch.
    model = kiln.Sequential([kiln.Input((2, 2, 2, 1)),
                             layers.Conv3DTranspose(2, 2, strides=2, activation="relu"),
                             layers.Flatten(), layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    xs = RNG.normal(size=(12, 2, 2, 2, 1)).astype(np.float32)
    ys = xs.reshape(12, -1).sum(axis=1, keepdims=True)
    history = model.fit(xs, ys, batch_size=5, epochs=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_rms_normalization():
    x = RNG.normal(size=(3, 4, 6)) * 3 + 1
    for layer, axes, eps in ((layers.RMSNormalization(dtype="float64"), (-1,), 1e-6),
                             (layers.LayerNormalization(axis=[1, 2], rms_scaling=True,
                                                        dtype="float64"), (1, 2), 1e-3)):
        y = layer(kiln.constant(x))
        gamma = RNG.normal(size=layer.gamma.shape)
        layer.gamma.assign(gamma)
        assert layer.beta is None
        want = x / np.sqrt((x ** 2).mean(axis=axes, keepdims=True) + eps)
        np.testing.assert_allclose(layer(kiln.constant(x)).numpy(),
                                   want * gamma.reshape([x.shape[a] if a in
                                                         [a % 3 for a in axes] else 1
                                                         for a in range(3)]),
                                   rtol=1e-12)
        assert y.shape == x.shape
