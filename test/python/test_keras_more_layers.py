"""More Keras layers against NumPy: dilated, causal, grouped and
channels-first convolutions, bilinear upsampling, Dot, the activity
regularizer and alpha dropout, and the preprocessing layers
Normalization, Discretization and CategoryEncoding."""

import numpy as np
import pytest

import kiln
from kiln import layers

RNG = np.random.default_rng(41)


def conv2d_numpy(x, k, stride=1, dilation=1):
    """VALID NHWC convolution, one output pixel at a time."""
    kh, kw = k.shape[:2]
    eh, ew = (kh - 1) * dilation + 1, (kw - 1) * dilation + 1
    oh, ow = (x.shape[1] - eh) // stride + 1, (x.shape[2] - ew) // stride + 1
    out = np.zeros((x.shape[0], oh, ow, k.shape[3]))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride:i * stride + eh:dilation, j * stride:j * stride + ew:dilation]
            out[:, i, j] = np.einsum("bhwc,hwcf->bf", patch, k)
    return out


def test_dilated_grouped_and_channels_first_convolutions():
    x = RNG.normal(size=(2, 9, 8, 4))
    conv = layers.Conv2D(6, 3, dilation_rate=2, dtype="float64")
    y = conv(x).numpy()
    k, b = conv.kernel.numpy(), conv.bias.numpy()
    np.testing.assert_allclose(y, conv2d_numpy(x, k, dilation=2) + b, rtol=1e-10, atol=1e-12)
    grouped = layers.Conv2D(6, 3, groups=2, use_bias=False, dtype="float64")
    y = grouped(x).numpy()
    k = grouped.kernel.numpy()
    assert k.shape == (3, 3, 2, 6)
    want = np.concatenate([conv2d_numpy(x[..., :2], k[..., :3]),
                           conv2d_numpy(x[..., 2:], k[..., 3:])], -1)
    np.testing.assert_allclose(y, want, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="do not split into 4 groups"):
        layers.Conv2D(6, 3, groups=4)
    first = layers.Conv2D(5, 2, data_format="channels_first", dtype="float64")
    nchw = x.transpose(0, 3, 1, 2)
    y = first(nchw).numpy()
    want = conv2d_numpy(x, first.kernel.numpy()) + first.bias.numpy()
    np.testing.assert_allclose(y, want.transpose(0, 3, 1, 2), rtol=1e-10, atol=1e-12)


def test_causal_and_dilated_conv1d():
    x = RNG.normal(size=(2, 10, 3))
    conv = layers.Conv1D(4, 3, padding="causal", dilation_rate=2, dtype="float64")
    y = conv(x).numpy()
    k, b = conv.kernel.numpy(), conv.bias.numpy()
    padded = np.concatenate([np.zeros((2, 4, 3)), x], 1)
    want = np.stack([np.einsum("bkc,kcf->bf", padded[:, t:t + 5:2], k) for t in range(10)], 1)
    np.testing.assert_allclose(y, want + b, rtol=1e-10, atol=1e-12)
    # Step t never sees a later step: changing the last step changes only
    # the last output.
    later = x.copy()
    later[:, -1] += 1.0
    moved = conv(later).numpy() - y
    assert np.all(moved[:, :-1] == 0) and np.any(moved[:, -1] != 0)


def test_bilinear_upsampling_and_embedding_input_length():
    x = RNG.normal(size=(1, 3, 4, 2)).astype(np.float32)
    up = layers.UpSampling2D(size=(2, 3), interpolation="bilinear")(x).numpy()
    np.testing.assert_allclose(up, kiln.image.resize(x, [6, 12]).numpy(), rtol=1e-6)
    # (TF's half-pixel bilinear of [a, b] doubled: a, .75a+.25b, .25a+.75b, b)
    row = layers.UpSampling2D(size=(1, 2), interpolation="bilinear")(
        np.array([[[[1.0], [3.0]]]], np.float32)).numpy()
    np.testing.assert_allclose(row.reshape(-1), [1.0, 1.5, 2.5, 3.0])
    emb = layers.Embedding(10, 3, input_length=4)
    assert emb(np.zeros((2, 4), np.int32)).shape == (2, 4, 3)
    with pytest.raises(ValueError, match="input_length is 5"):
        layers.Embedding(10, 3, input_length=5)(np.zeros((2, 4), np.int32))


def test_dot_identity_activity_regularization_and_alpha_dropout():
    a, b = RNG.normal(size=(4, 5)), RNG.normal(size=(4, 5))
    np.testing.assert_allclose(layers.Dot(axes=1)([a, b]).numpy(),
                               (a * b).sum(1, keepdims=True), rtol=1e-6)
    cos = layers.Dot(axes=1, normalize=True)([a, b]).numpy()
    want = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    np.testing.assert_allclose(cos[:, 0], want, rtol=1e-5)
    m, n = RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 5, 4))
    np.testing.assert_allclose(layers.Dot(axes=(2, 2))([m, n]).numpy(),
                               np.einsum("bik,bjk->bij", m, n), rtol=1e-5)
    np.testing.assert_array_equal(layers.Identity()(a).numpy(), a.astype(np.float32))
    reg = layers.ActivityRegularization(l1=0.1, l2=0.01)
    out = reg(a.astype(np.float32))
    np.testing.assert_array_equal(out.numpy(), a.astype(np.float32))
    np.testing.assert_allclose(float(sum(reg.losses)),
                               0.1 * np.abs(a).sum() + 0.01 * (a ** 2).sum(), rtol=1e-5)
    drop = layers.AlphaDropout(0.2)
    ones = np.ones((200, 50), np.float32)
    np.testing.assert_array_equal(drop(ones).numpy(), ones)
    got = drop(ones, training=True).numpy()
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    scale = ((1 - 0.2) * (1 + 0.2 * alpha_p ** 2)) ** -0.5
    shift = -scale * alpha_p * 0.2
    np.testing.assert_allclose(np.unique(got), sorted([scale + shift, alpha_p * scale + shift]),
                               rtol=1e-6)
    assert 0.15 < np.mean(np.isclose(got, alpha_p * scale + shift)) < 0.25


def test_normalization_discretization_and_category_encoding():
    data = RNG.normal(loc=[1.0, -2.0, 5.0], scale=[0.5, 2.0, 3.0], size=(200, 3))
    norm = layers.Normalization()
    norm.adapt(kiln.data.Dataset.from_tensor_slices(data.astype(np.float32)).batch(64))
    np.testing.assert_allclose(norm.mean.numpy()[0], data.mean(0), rtol=1e-4)
    np.testing.assert_allclose(norm.variance.numpy()[0], data.var(0), rtol=1e-4)
    assert int(norm.count.numpy()) == 200
    x = data[:5].astype(np.float32)
    np.testing.assert_allclose(norm(x).numpy(), (x - data.mean(0)) / data.std(0), rtol=1e-4,
                               atol=1e-5)
    given = layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 1.0])
    np.testing.assert_allclose(given(np.array([[3.0, 2.0]], np.float32)).numpy(), [[1.0, 0.0]])
    back = layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 1.0], invert=True)
    np.testing.assert_allclose(back(np.array([[1.0, 0.0]], np.float32)).numpy(), [[3.0, 2.0]])

    values = np.array([[-1.5, 0.0, 0.2], [1.0, 2.5, 7.0]], np.float32)
    disc = layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0])
    buckets = disc(values).numpy()
    np.testing.assert_array_equal(buckets, np.digitize(values, [0.0, 1.0, 2.0]))
    assert buckets.dtype == np.int64
    learned = layers.Discretization(num_bins=4)
    learned.adapt(np.arange(100, dtype=np.float32))
    np.testing.assert_allclose(learned.bin_boundaries, np.quantile(np.arange(100.0),
                                                                   [0.25, 0.5, 0.75]))
    enc = layers.CategoryEncoding(num_tokens=5, output_mode="multi_hot")
    np.testing.assert_array_equal(enc(np.array([[0, 3, 3], [4, 1, 0]])).numpy(),
                                  [[1, 0, 0, 1, 0], [1, 1, 0, 0, 1]])
    counts = layers.CategoryEncoding(5, output_mode="count")(np.array([[0, 3, 3], [4, 1, 0]]))
    np.testing.assert_array_equal(counts.numpy(), [[1, 0, 0, 2, 0], [1, 1, 0, 0, 1]])
    hot = layers.CategoryEncoding(4, output_mode="one_hot")(np.array([2, 0, 3]))
    np.testing.assert_array_equal(hot.numpy(), np.eye(4)[[2, 0, 3]])
    with pytest.raises(kiln.errors.InvalidArgumentError, match=r"outside \[0, 5\)"):
        enc(np.array([[0, 5]]))


def test_stacked_and_custom_rnn_cells():
    # RNN([cell, cell]) runs the cells in turn within each step; a custom
    # cell with an int state_size works as in Keras. NumPy's recurrence
    # is the oracle.
    x = RNG.normal(size=(2, 5, 3))
    first, second = layers.SimpleRNNCell(4, dtype="float64"), layers.SimpleRNNCell(2,
                                                                               dtype="float64")
    rnn = layers.RNN([first, second], return_sequences=True, return_state=True,
                     dtype="float64")
    seq, h1, h2 = (t.numpy() for t in rnn(x))
    w = [(c.kernel.numpy(), c.recurrent_kernel.numpy(), c.bias.numpy()) for c in (first, second)]
    a, b = np.zeros((2, 4)), np.zeros((2, 2))
    outs = []
    for t in range(5):
        a = np.tanh(x[:, t] @ w[0][0] + a @ w[0][1] + w[0][2])
        b = np.tanh(a @ w[1][0] + b @ w[1][1] + w[1][2])
        outs.append(b)
    np.testing.assert_allclose(seq, np.stack(outs, 1), rtol=1e-10)
    np.testing.assert_allclose(h1, a, rtol=1e-10)
    np.testing.assert_allclose(h2, b, rtol=1e-10)

    class Leaky(layers.Layer):
        state_size = 3

        def build(self, input_shape):
            self.w = self.add_weight("w", (input_shape[-1], 3), dtype="float64")

        def call(self, inputs, states):
            h = 0.5 * states[0] + kiln.matmul(inputs, self.w)
            return h, h

    leaky = Leaky(dtype="float64")
    last = layers.RNN(leaky, dtype="float64")(x).numpy()
    h = np.zeros((2, 3))
    for t in range(5):
        h = 0.5 * h + x[:, t] @ leaky.w.numpy()
    np.testing.assert_allclose(last, h, rtol=1e-10)


def conv3d_numpy(x, k, stride=(1, 1, 1), pad=((0, 0),) * 3):
    x = np.pad(x, [[0, 0]] + [list(p) for p in pad] + [[0, 0]])
    kd, kh, kw = k.shape[:3]
    out_shape = [(x.shape[i + 1] - k.shape[i]) // stride[i] + 1 for i in range(3)]
    out = np.zeros([x.shape[0]] + out_shape + [k.shape[4]])
    for a in range(out_shape[0]):
        for b in range(out_shape[1]):
            for c in range(out_shape[2]):
                patch = x[:, a * stride[0]:a * stride[0] + kd, b * stride[1]:b * stride[1] + kh,
                          c * stride[2]:c * stride[2] + kw]
                out[:, a, b, c] = np.einsum("bdhwc,dhwcf->bf", patch, k)
    return out


def test_three_dimensional_convolution_and_pooling():
    from conftest import central
    x = RNG.normal(size=(2, 5, 6, 4, 3))
    k = RNG.normal(size=(3, 2, 3, 3, 4))
    np.testing.assert_allclose(kiln.nn.conv3d(x, k, [1, 1, 1, 1, 1], "VALID").numpy(),
                               conv3d_numpy(x, k), rtol=1e-10, atol=1e-12)
    # SAME with strides: TensorFlow's padding split (more after than before).
    got = kiln.nn.conv3d(x, k, [1, 2, 2, 1, 1], "SAME").numpy()
    pads = []
    for n, w, s in zip(x.shape[1:4], k.shape[:3], (2, 2, 1)):
        out = -(-n // s)
        total = max((out - 1) * s + w - n, 0)
        pads.append((total // 2, total - total // 2))
    np.testing.assert_allclose(got, conv3d_numpy(x, k, (2, 2, 1), pads), rtol=1e-10,
                               atol=1e-12)
    conv = layers.Conv3D(2, 2, padding="same", activation="relu", dtype="float64")
    y = conv(x).numpy()
    kk = conv.kernel.numpy()
    np.testing.assert_allclose(y, np.maximum(conv3d_numpy(x, kk, pad=((0, 1),) * 3) +
                                             conv.bias.numpy(), 0), rtol=1e-10, atol=1e-12)
    # Its gradient (central differences), compiled over an open batch.
    w = RNG.normal(size=(3, 5, 2, 4))     # (the output's shape after the batch)

    @kiln.function(input_signature=[kiln.TensorSpec([None, 5, 6, 4, 3], kiln.float64)])
    def grad(v):
        with kiln.GradientTape() as tape:
            tape.watch(v)
            loss = kiln.reduce_sum(kiln.nn.conv3d(v, k, 1, "VALID") ** 2 * w)
        return tape.gradient(loss, v)

    small = x[:1]
    loss_np = lambda v: float((conv3d_numpy(v, k) ** 2 * w).sum())
    np.testing.assert_allclose(grad(small).numpy(), central(loss_np, small), rtol=1e-5,
                               atol=1e-6)
    # Pooling: max and average (SAME leaves the padding out of the average).
    v = RNG.normal(size=(2, 5, 4, 4, 2))
    mx = kiln.nn.max_pool3d(v, 2, 2, "VALID").numpy()
    np.testing.assert_allclose(mx, v[:, :4].reshape(2, 2, 2, 2, 2, 2, 2, 2).max((2, 4, 6)))
    av = kiln.nn.avg_pool3d(v, [3, 2, 2], [2, 2, 2], "SAME").numpy()
    want = np.zeros((2, 3, 2, 2, 2))
    for a in range(3):
        lo, hi = max(a * 2 - 1, 0), min(a * 2 + 2, 5)   # (depth padding: 1 before)
        for b in range(2):
            for c in range(2):
                want[:, a, b, c] = v[:, lo:hi, b * 2:b * 2 + 2, c * 2:c * 2 + 2].mean((1, 2, 3))
    np.testing.assert_allclose(av, want, rtol=1e-12)
    assert layers.MaxPooling3D()(v).shape == (2, 2, 2, 2, 2)
    np.testing.assert_allclose(layers.GlobalAveragePooling3D()(v).numpy(), v.mean((1, 2, 3)),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(layers.UpSampling3D((1, 2, 1))(v.astype(np.float32)).numpy(),
                                  v.astype(np.float32).repeat(2, axis=2))


def test_third_review_cases():
    # switch_case takes TF's list of (index, fn) pairs; scan over no
    # elements with an initializer is an empty stack; AlphaDropout takes a
    # noise shape; zoom and translation factors are checked as Keras'.
    assert float(kiln.switch_case(kiln.constant(3), [(3, lambda: kiln.constant(1.0)),
                                                     (0, lambda: kiln.constant(2.0))])) == 1.0
    empty = kiln.scan(lambda a, e: a + e, np.zeros((0, 2)), initializer=np.ones(2))
    assert empty.shape == (0, 2)
    drop = layers.AlphaDropout(0.5, noise_shape=[None, 1])
    out = drop(np.ones((50, 6), np.float32), training=True).numpy()
    assert np.all(out.min(axis=1) == out.max(axis=1))            # whole rows
    for bad in (lambda: layers.RandomZoom(1.5), lambda: layers.RandomTranslation(0.1, -1.2),
                lambda: layers.RandomZoom((-2.0, 0.5))):
        with pytest.raises(ValueError):
            bad()


def test_fourth_review_cases():
    # one_hot of [batch, k] ids appends a dimension (Keras); the Poisson
    # loss's Stirling term applies outside [0, 1] (negative targets too);
    # sufficient_statistics over an open extent counts when the code runs.
    hot = layers.CategoryEncoding(4, output_mode="one_hot")(np.array([[0, 3], [2, 2]]))
    np.testing.assert_array_equal(hot.numpy(), np.eye(4)[[[0, 3], [2, 2]]])
    t, li = np.array([-2.0, 0.5, 3.0]), np.array([0.1, 0.2, 0.3])
    full = kiln.nn.log_poisson_loss(t, li, compute_full_loss=True).numpy()
    outside = (t < 0) | (t > 1)
    safe = np.where(outside, t, 1.0)
    stirling = np.where(outside, safe * np.log(np.abs(safe)) - safe +
                        0.5 * np.log(2 * np.pi * np.abs(safe)), 0.0)
    np.testing.assert_allclose(full[1:], (np.exp(li) - li * t + stirling)[1:], rtol=1e-12)
    assert np.isnan(full[0])        # (log of a negative target, as TensorFlow's)
    f = kiln.function(lambda v: kiln.nn.sufficient_statistics(v, [0], keepdims=True)[:3],
                      input_signature=[kiln.TensorSpec([None, 3], kiln.float64)])
    x = RNG.normal(size=(5, 3))
    count, total, squares = f(x)
    assert float(count) == 5.0 and total.shape == (1, 3)
    np.testing.assert_allclose(squares.numpy()[0], (x * x).sum(0), rtol=1e-12)


def test_category_encoding_of_one_sample_and_masked_bidirectional_sequences():
    """Keras: rank-1 ids are one sample for count / multi_hot ([tokens]);
    Bidirectional(return_sequences=True) gives zeros at masked steps from
    both halves (its halves zero their masked outputs)."""
    counts = layers.CategoryEncoding(4, output_mode="count")(np.array([3, 3, 0]))
    np.testing.assert_array_equal(counts.numpy(), np.bincount([3, 3, 0], minlength=4))
    hot = layers.CategoryEncoding(4, output_mode="multi_hot")(np.array([3, 2, 0]))
    np.testing.assert_array_equal(hot.numpy(), [1, 0, 1, 1])

    x = np.ones((1, 4, 1), np.float32)
    x[0, 2:] = 0.0
    inputs = kiln.keras.Input((4, 1))
    both = layers.Bidirectional(layers.SimpleRNN(1, return_sequences=True))
    model = kiln.keras.Model(inputs, both(layers.Masking(0.0)(inputs)))
    out = model.predict(x, verbose=0)[0]
    np.testing.assert_array_equal(out[2:], np.zeros((2, 2), np.float32))
    assert np.all(out[:2] != 0)


def test_batch_normalization_counts_only_unmasked_steps():
    """Keras 3: BatchNormalization in training takes the moments of the
    steps the mask keeps (Embedding(mask_zero=True) padding left out);
    momentum 0 makes the moving statistics the batch's, NumPy's masked
    mean and biased variance the oracle."""
    ids = np.array([[1, 2, 0, 0], [3, 0, 0, 0]], np.int32)
    table = np.array([[0, 0], [1, 2], [3, 4], [5, 7]], np.float32)
    embed = layers.Embedding(4, 2, mask_zero=True)
    embed(ids)
    embed.set_weights([table])
    norm = layers.BatchNormalization(momentum=0.0)
    norm(embed(ids), training=True)
    kept = table[ids[ids != 0]]
    np.testing.assert_allclose(norm.moving_mean.numpy(), kept.mean(0), rtol=1e-5)
    np.testing.assert_allclose(norm.moving_variance.numpy(), kept.var(0), rtol=1e-5)


def test_softmax_over_several_axes_and_global_pooling_options():
    """Keras' Softmax(axis=(1, 2)) normalizes over both axes together;
    GlobalAveragePooling2D takes keepdims and channels_first, as the other
    global poolings; NumPy is the oracle."""
    x = np.random.default_rng(2).random((2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(layers.Softmax(axis=(1, 2))(x).numpy(),
                               np.exp(x) / np.exp(x).sum((1, 2), keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(layers.GlobalAveragePooling2D(keepdims=True)(x).numpy(),
                               x.mean((1, 2), keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(
        layers.GlobalAveragePooling2D(data_format="channels_first")(x).numpy(),
        x.mean((2, 3)), rtol=1e-6)
    np.testing.assert_allclose(
        layers.GlobalMaxPooling1D(data_format="channels_first")(x[0]).numpy(), x[0].max(2))


def test_bidirectional_return_state_merge_none_and_initial_state():
    """Keras' Bidirectional with return_state: [output, forward h, c,
    backward h, c], the output being the two final h's joined; merge_mode
    None returns both directions' sequences; initial_state takes the
    forward states then the backward ones (all ones here: the output
    differs from the zero start); the functional API gives five outputs."""
    x = np.random.default_rng(0).random((2, 4, 3)).astype(np.float32)
    both = layers.Bidirectional(layers.LSTM(2, return_state=True))
    out, fh, fc, bh, bc = both(x)
    np.testing.assert_allclose(out.numpy(), np.concatenate([fh.numpy(), bh.numpy()], -1),
                               rtol=1e-6)
    assert fc.shape == bc.shape == (2, 2)
    started = both(x, initial_state=[kiln.ones((2, 2))] * 4)
    assert len(started) == 5 and not np.allclose(started[0].numpy(), out.numpy())
    pair = layers.Bidirectional(layers.GRU(2, return_sequences=True), merge_mode=None)(x)
    assert isinstance(pair, list) and [tuple(t.shape) for t in pair] == [(2, 4, 2)] * 2
    inputs = kiln.keras.Input((4, 3))
    model = kiln.keras.Model(inputs, layers.Bidirectional(layers.LSTM(2, return_state=True))(inputs))
    assert [a.shape for a in model.predict(x, verbose=0)] == [(2, 4)] + [(2, 2)] * 4


def test_conv2d_transpose_output_padding_dilation_and_channels_first():
    """Keras' Conv2DTranspose(output_padding=, dilation_rate=,
    data_format='channels_first') against a direct NumPy scatter of each
    input pixel's kernel (output sizes by Keras' deconv_output_length)."""
    rng = np.random.default_rng(1)
    x = rng.random((2, 3, 4, 2)).astype(np.float32)

    def scattered(k, strides, dilation, size):
        out = np.zeros((2, *size, k.shape[2]), np.float32)
        for i in range(x.shape[1]):
            for j in range(x.shape[2]):
                for a in range(k.shape[0]):
                    for c in range(k.shape[1]):
                        r, q = i * strides[0] + a * dilation[0], j * strides[1] + c * dilation[1]
                        if r < size[0] and q < size[1]:
                            out[:, r, q] += x[:, i, j] @ k[a, c].T
        return out

    for strides, dilation, extra in (((2, 2), (1, 1), (1, 1)), ((3, 2), (1, 1), (2, 0)),
                                     ((1, 1), (2, 2), None)):
        layer = layers.Conv2DTranspose(3, 3, strides=strides, output_padding=extra,
                                       dilation_rate=dilation, use_bias=False)
        y = layer(x).numpy()
        span = [2 * d + 1 for d in dilation]
        size = [(n - 1) * s + w + e for n, s, w, e in zip(x.shape[1:3], strides, span, extra)] \
            if extra else [n * s + max(w - s, 0) for n, s, w in zip(x.shape[1:3], strides, span)]
        want = scattered(layer.kernel.numpy(), strides, dilation, size)
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
        first = layers.Conv2DTranspose(3, 3, strides=strides, output_padding=extra,
                                       dilation_rate=dilation, use_bias=False,
                                       data_format="channels_first")
        first(np.transpose(x, (0, 3, 1, 2)))
        first.set_weights([layer.kernel.numpy()])
        np.testing.assert_allclose(np.transpose(first(np.transpose(x, (0, 3, 1, 2))).numpy(),
                                                (0, 2, 3, 1)), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="output_padding"):
        layers.Conv2DTranspose(3, 3, strides=2, output_padding=2)


def test_depthwise_and_separable_convolutions_take_a_dilation_rate():
    """Keras' dilation_rate on DepthwiseConv2D, SeparableConv2D and
    DepthwiseConv1D against a direct NumPy dilated depthwise convolution
    (VALID); with strides above 1 it is an error, as in TensorFlow."""
    rng = np.random.default_rng(3)
    x = rng.random((2, 7, 8, 3)).astype(np.float32)

    def depthwise(x, k, d):
        kh, kw = k.shape[:2]
        sh, sw = (kh - 1) * d[0] + 1, (kw - 1) * d[1] + 1
        rows, cols = x.shape[1] - sh + 1, x.shape[2] - sw + 1
        out = np.zeros((x.shape[0], rows, cols, k.shape[2] * k.shape[3]), np.float32)
        for i in range(rows):
            for j in range(cols):
                patch = x[:, i:i + sh:d[0], j:j + sw:d[1], :]
                out[:, i, j] = np.einsum("bhwc,hwcm->bcm", patch, k).reshape(x.shape[0], -1)
        return out

    dw = layers.DepthwiseConv2D(3, depth_multiplier=2, dilation_rate=2, use_bias=False)
    np.testing.assert_allclose(dw(x).numpy(), depthwise(x, dw.depthwise_kernel.numpy(), (2, 2)),
                               rtol=1e-5, atol=1e-6)
    sep = layers.SeparableConv2D(4, 3, dilation_rate=(2, 1), use_bias=False)
    y = sep(x).numpy()
    want = depthwise(x, sep.depthwise_kernel.numpy(), (2, 1)) @ sep.pointwise_kernel.numpy()[0, 0]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    rows = rng.random((2, 9, 3)).astype(np.float32)
    dw1 = layers.DepthwiseConv1D(3, dilation_rate=3, use_bias=False)
    y1 = dw1(rows).numpy()
    np.testing.assert_allclose(
        y1, depthwise(rows[:, None], dw1.depthwise_kernel.numpy()[None], (1, 3))[:, 0],
        rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="needs strides of 1"):
        layers.DepthwiseConv2D(3, strides=2, dilation_rate=2)


def test_channels_first_layouts_of_the_structural_layers():
    """Keras' data_format="channels_first" on the pooling, padding,
    cropping, upsampling and 1-D convolution layers: the same numbers as
    the channels_last layer on the transposed input (NumPy's transpose
    the oracle of the layout); Flatten(channels_first) flattens in
    channels_last order, as Keras does to keep the next Dense's weights."""
    rng = np.random.default_rng(0)
    x = rng.random((2, 6, 8, 3)).astype(np.float32)
    x_first = np.transpose(x, (0, 3, 1, 2))
    makers = [lambda **k: layers.MaxPooling2D(2, **k),
              lambda **k: layers.AveragePooling2D(3, strides=2, padding="same", **k),
              lambda **k: layers.UpSampling2D(2, **k),
              lambda **k: layers.ZeroPadding2D((1, 2), **k),
              lambda **k: layers.Cropping2D(((1, 0), (2, 1)), **k)]
    for make in makers:
        np.testing.assert_allclose(
            np.transpose(make(data_format="channels_first")(x_first).numpy(), (0, 2, 3, 1)),
            make()(x).numpy(), rtol=1e-6)
    steps = rng.random((2, 7, 3)).astype(np.float32)
    last = layers.Conv1D(4, 3, padding="causal")
    first = layers.Conv1D(4, 3, padding="causal", data_format="channels_first")
    want = last(steps).numpy()
    first(np.transpose(steps, (0, 2, 1)))
    first.set_weights(last.get_weights())
    np.testing.assert_allclose(np.transpose(first(np.transpose(steps, (0, 2, 1))).numpy(),
                                            (0, 2, 1)), want, rtol=1e-5)
    np.testing.assert_array_equal(layers.Flatten(data_format="channels_first")(x_first).numpy(),
                                  x.reshape(2, -1))
    with pytest.raises(ValueError, match="data_format"):
        layers.MaxPooling2D(2, data_format="NCHW")
