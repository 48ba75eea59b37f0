"""Attention layers (MultiHeadAttention, Attention, EinsumDense) and the
smaller Keras layers and tf.nn functions around them, against NumPy
formulas written out here (per head, per step), eagerly and compiled;
gradients against central differences."""

import numpy as np
import pytest

import kiln
from conftest import central
from kiln import layers

RNG = np.random.default_rng(11)


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def weights_of(layer):
    """{"query/kernel": array, ...}; zero biases where the layer has none."""
    w = {x.name.split("/", 1)[1].split(":")[0]: x.numpy().astype(np.float64)
         for x in layer.weights}
    for part in ("query", "key", "value"):
        w.setdefault(f"{part}/bias", np.zeros(w[f"{part}/kernel"].shape[1:]))
    w.setdefault("attention_output/bias", np.zeros(w["attention_output/kernel"].shape[-1]))
    return w


def mha_numpy(layer, q, v, k=None, mask=None, causal=False):
    """Keras' MultiHeadAttention one head and one example at a time."""
    k = v if k is None else k
    w = weights_of(layer)
    batch, t, _ = q.shape
    s = v.shape[1]
    heads = w["query/kernel"].shape[1]
    share = heads // w["key/kernel"].shape[1]     # (grouped query attention: > 1)
    out = np.zeros((batch, t, w["attention_output/kernel"].shape[-1]))
    probs = np.zeros((batch, heads, t, s))
    keep = np.ones((batch, t, s), bool) if mask is None else mask.astype(bool)
    if causal:
        keep = keep & np.tril(np.ones((t, s), bool))
    for b in range(batch):
        for h in range(heads):
            qh = q[b] @ w["query/kernel"][:, h] + w["query/bias"][h]
            kh = k[b] @ w["key/kernel"][:, h // share] + w["key/bias"][h // share]
            vh = v[b] @ w["value/kernel"][:, h // share] + w["value/bias"][h // share]
            scores = qh @ kh.T / np.sqrt(qh.shape[-1])
            scores = np.where(keep[b], scores, scores - 1e9)
            p = softmax(scores)
            probs[b, h] = p
            out[b] += (p @ vh) @ w["attention_output/kernel"][h]
    return out + w["attention_output/bias"], probs


def test_multi_head_attention_matches_numpy_eagerly_and_compiled():
    q = RNG.normal(size=(2, 5, 8)).astype(np.float32)
    v = RNG.normal(size=(2, 6, 4)).astype(np.float32)
    k = RNG.normal(size=(2, 6, 3)).astype(np.float32)
    mask = RNG.random((2, 5, 6)) < 0.7
    mask[:, :, 0] = True  # (every query sees a key)
    mha = layers.MultiHeadAttention(num_heads=3, key_dim=4, value_dim=2)
    out, probs = mha(q, v, key=k, attention_mask=mask, return_attention_scores=True)
    want, want_probs = mha_numpy(mha, q, v, k, mask)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(probs.numpy(), want_probs, rtol=1e-4, atol=1e-6)
    assert [w.name for w in mha.weights][:2] == ["multi_head_attention/query/kernel:0",
                                                 "multi_head_attention/query/bias:0"]
    assert [tuple(w.shape) for w in mha.weights] == [
        (8, 3, 4), (3, 4), (3, 3, 4), (3, 4), (4, 3, 2), (3, 2), (3, 2, 8), (8,)]
    # Self-attention with a causal mask, compiled.
    step = kiln.function(lambda x: mha2(x, x, use_causal_mask=True))
    mha2 = layers.MultiHeadAttention(num_heads=2, key_dim=3, use_bias=False)
    x = RNG.normal(size=(3, 4, 6)).astype(np.float32)
    got = step(kiln.constant(x)).numpy()
    np.testing.assert_allclose(got, mha_numpy(mha2, x, x, causal=True)[0], rtol=1e-4, atol=1e-5)
    assert len(mha2.weights) == 4
    with pytest.raises(ValueError, match="called with"):
        mha2(x[..., :5], x[..., :5])
    # Keras' keyword form; dropout only when training.
    np.testing.assert_allclose(mha2(query=x, value=x, use_causal_mask=True).numpy(), got,
                               rtol=1e-5, atol=1e-6)
    dropping = layers.MultiHeadAttention(num_heads=2, key_dim=3, dropout=0.5)
    assert not np.allclose(dropping(x, x, training=True).numpy(), dropping(x, x).numpy())


def test_multi_head_attention_gradient_and_functional_training():
    q0 = RNG.normal(size=(1, 3, 4))
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=2, dtype="float64")
    w = RNG.normal(size=(1, 3, 4))
    q = kiln.constant(q0)
    with kiln.GradientTape() as tape:
        tape.watch(q)
        y = kiln.reduce_sum(mha(q, q) * w)
    g = tape.gradient(y, q).numpy()
    numeric = central(lambda v: (mha_numpy(mha, v, v)[0] * w).sum(), q0)
    np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-7)

    # A small transformer block in the functional API (two positional
    # KerasTensors into the attention layer), trained by fit: the loss falls.
    kiln.random.set_seed(3)
    inputs = kiln.Input((6, 8))
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=4)(inputs, inputs)
    x = layers.LayerNormalization()(layers.Add()([inputs, attended]))
    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(2)(x)
    model = kiln.Model(inputs, outputs)
    data = RNG.normal(size=(64, 6, 8)).astype(np.float32)
    labels = (data[:, :, 0].mean(1) > 0).astype(np.int32)
    model.compile(optimizer=kiln.optimizers.Adam(0.01),
                  loss=kiln.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(data, labels, batch_size=16, epochs=8, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0]
    assert len(model.trainable_variables) == 8 + 2 + 2


def test_attention_layer_and_einsum_dense():
    q = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    v = RNG.normal(size=(2, 5, 4)).astype(np.float32)
    value_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    query_mask = np.array([[1, 1, 0], [1, 1, 1]], bool)
    att = layers.Attention(use_scale=True)
    att([q, v])  # (builds the scale)
    att.scale.assign(0.5)  # (a scale of 1 would hide a missing or inverted one)
    out, weights = att([q, v], mask=[query_mask, value_mask], return_attention_scores=True)
    scores = np.einsum("btd,bsd->bts", q, v) * 0.5
    scores = np.where(value_mask[:, None, :], scores, scores - 1e9)
    want_w = softmax(scores)
    np.testing.assert_allclose(weights.numpy(), want_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.numpy(), (want_w @ v) * query_mask[..., None],
                               rtol=1e-5, atol=1e-6)
    assert [w.name for w in att.weights] == ["attention/scale:0"]
    # Dropout when training: the weights returned are the dropped ones
    # (Keras' Attention), which the output uses.
    dropping = layers.Attention(dropout=0.5)
    out, weights = dropping([q, v], training=True, return_attention_scores=True)
    w = weights.numpy()
    assert (w == 0).any()
    np.testing.assert_allclose(out.numpy(), w @ v, rtol=1e-5, atol=1e-6)
    causal = layers.Attention()([q, v[:, :3]], use_causal_mask=True).numpy()
    s = np.einsum("btd,bsd->bts", q, v[:, :3])
    s = np.where(np.tril(np.ones((3, 3), bool)), s, s - 1e9)
    np.testing.assert_allclose(causal, softmax(s) @ v[:, :3], rtol=1e-5, atol=1e-6)

    dense = layers.EinsumDense("abc,cd->abd", output_shape=(None, 7), bias_axes="d",
                               activation="relu")
    x = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    got = dense(x).numpy()
    want = np.maximum(np.einsum("abc,cd->abd", x, dense.kernel.numpy()) + dense.bias.numpy(), 0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert dense.kernel.shape == (4, 7) and dense.bias.shape == (7,)
    with pytest.raises(ValueError, match="equation"):
        layers.EinsumDense("a...b,bc->a...c", 3)
    # A "..." for the input's other dimensions, before or after the named
    # ones: output_shape gives only the named output extents (Keras').
    seq = layers.EinsumDense("...b,bc->...c", output_shape=5, bias_axes="c")
    np.testing.assert_allclose(seq(x).numpy(), x @ seq.kernel.numpy() + seq.bias.numpy(),
                               rtol=1e-5, atol=1e-6)
    assert seq.kernel.shape == (4, 5) and seq.full_output_shape == (2, 3, 5)
    tail = layers.EinsumDense("ab...,bc->ac...", output_shape=6)
    got = tail(x.transpose(0, 2, 1)).numpy()           # [2, 4, 3] -> [2, 6, 3]
    np.testing.assert_allclose(got, np.einsum("abx,bc->acx", x.transpose(0, 2, 1),
                                              tail.kernel.numpy()), rtol=1e-5, atol=1e-6)
    assert tail.full_output_shape == (2, 6, 3)
    with pytest.raises(ValueError, match="bias axis 'z'"):
        layers.EinsumDense("ab,bc->ac", 3, bias_axes="z")(x[0])
    with pytest.raises(ValueError, match="output_shape gives 'b' extent 9, the input 3"):
        layers.EinsumDense("abc,cd->abd", (9, 7))(x)


def test_small_layers_match_numpy():
    x = RNG.normal(size=(2, 6, 3)).astype(np.float32)
    img = RNG.normal(size=(2, 5, 4, 3)).astype(np.float32)
    cases = [
        (layers.MaxPooling1D(2), x, x.reshape(2, 3, 2, 3).max(2)),
        (layers.AveragePooling1D(3, strides=1), x,
         np.stack([x[:, i:i + 3].mean(1) for i in range(4)], 1)),
        (layers.GlobalMaxPooling1D(), x, x.max(1)),
        (layers.GlobalAveragePooling1D(keepdims=True), x, x.mean(1, keepdims=True)),
        (layers.GlobalMaxPooling2D(), img, img.max((1, 2))),
        (layers.ReLU(max_value=0.5, negative_slope=0.1), x,
         np.where(x > 0, np.minimum(x, 0.5), 0.1 * x)),
        (layers.LeakyReLU(), x, np.where(x >= 0, x, 0.3 * x)),
        (layers.ELU(0.5), x, np.where(x > 0, x, 0.5 * np.expm1(np.minimum(x, 0)))),
        (layers.Rescaling(1 / 255.0, offset=-1.0), x, x / 255.0 - 1.0),
        (layers.RepeatVector(3), x[:, 0], np.repeat(x[:, None, 0], 3, axis=1)),
        (layers.Cropping1D((1, 2)), x, x[:, 1:4]),
        (layers.Cropping2D(((1, 0), (1, 2))), img, img[:, 1:, 1:2]),
        (layers.UpSampling1D(2), x, np.repeat(x, 2, axis=1)),
        (layers.GaussianNoise(0.5), x, x),  # (inference: the identity)
        (layers.Softmax(), x, softmax(x)),
    ]
    for layer, given, want in cases:
        np.testing.assert_allclose(layer(given).numpy(), want, rtol=1e-5, atol=1e-6,
                                   err_msg=type(layer).__name__)
    mask = np.array([True, False, True])
    np.testing.assert_allclose(layers.Softmax()(x, mask=mask).numpy(),
                               softmax(np.where(mask, x, x - 1e9)), rtol=1e-5, atol=1e-7)
    a, b, c = (RNG.normal(size=(2, 3)).astype(np.float32) for _ in range(3))
    for layer, want in ((layers.Subtract(), a - b), (layers.Maximum(), np.maximum(a, b)),
                        (layers.Minimum(), np.minimum(a, b))):
        np.testing.assert_allclose(layer([a, b]).numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(layers.Average()([a, b, c]).numpy(), (a + b + c) / 3, rtol=1e-6)
    with pytest.raises(ValueError, match="exactly two"):
        layers.Subtract()([a, b, c])
    prelu = layers.PReLU(alpha_initializer=kiln.initializers.Constant(0.25), shared_axes=[1])
    np.testing.assert_allclose(prelu(x).numpy(), np.where(x > 0, x, 0.25 * x), rtol=1e-6)
    assert prelu.alpha.shape == (1, 3)
    images = np.arange(12, dtype=np.uint8).reshape(1, 2, 2, 3)  # integers: cast first
    np.testing.assert_allclose(layers.Rescaling(1 / 255.0)(images).numpy(), images / 255.0,
                               rtol=1e-6)
    with pytest.raises(ValueError, match="leaves nothing"):
        layers.Cropping1D((0, 6))(x)
    with pytest.raises(ValueError, match="non-negative"):
        layers.Cropping2D((1, 2, 3))
    noisy = layers.GaussianNoise(0.5)(kiln.zeros((200, 50)), training=True).numpy()
    assert abs(noisy.std() - 0.5) < 0.02 and abs(noisy.mean()) < 0.02
    td = layers.TimeDistributed(layers.Dense(5))
    got = td(x).numpy()
    inner = td.layer
    np.testing.assert_allclose(got, x @ inner.kernel.numpy() + inner.bias.numpy(),
                               rtol=1e-5, atol=1e-6)


def test_nn_pooling_embedding_and_losses():
    x = RNG.normal(size=(2, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(kiln.nn.max_pool1d(x, 3, 2, "VALID").numpy(),
                               np.stack([x[:, i:i + 3].max(1) for i in (0, 2, 4)], 1))
    same = kiln.nn.avg_pool1d(x, 2, 2, "SAME").numpy()  # (the last window holds one step)
    np.testing.assert_allclose(same[:, -1], x[:, 6], rtol=1e-6)
    np.testing.assert_allclose(kiln.nn.max_pool(x, 2, 1, "VALID").numpy(),
                               np.maximum(x[:, :-1], x[:, 1:]))
    np.testing.assert_allclose(kiln.nn.avg_pool1d(x, [1, 7, 1], [7], "VALID").numpy(),
                               x.mean(1, keepdims=True), rtol=1e-6)
    with pytest.raises(ValueError, match=r"ksize must be an int, \[v\] or \[1, v, 1\]"):
        kiln.nn.max_pool1d(x, [2, 2], 1, "VALID")
    with pytest.raises(kiln.errors.UnimplementedError, match="data_format 'NCHW'"):
        kiln.nn.max_pool(np.ones((1, 3, 4, 4)), 2, 2, "VALID", data_format="NCHW")
    with pytest.raises(kiln.errors.InvalidArgumentError, match="rank >= 1"):
        kiln.nn.compute_average_loss(1.0)
    table = RNG.normal(size=(5, 4)).astype(np.float32)
    ids = np.array([[4, 0], [2, 2]])
    np.testing.assert_array_equal(kiln.nn.embedding_lookup(table, ids).numpy(), table[ids])
    clipped = kiln.nn.embedding_lookup(table * 10, ids, max_norm=1.0).numpy()
    np.testing.assert_allclose(np.linalg.norm(clipped, axis=-1), 1.0, rtol=1e-5)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="not in"):
        kiln.nn.embedding_lookup(table, [7])
    z = (RNG.random((3, 4)) < 0.5).astype(np.float64)
    logits = RNG.normal(size=(3, 4))
    sig = 1 / (1 + np.exp(-logits))
    want = -(2.5 * z * np.log(sig) + (1 - z) * np.log(1 - sig))  # TF's documented formula
    np.testing.assert_allclose(
        kiln.nn.weighted_cross_entropy_with_logits(z, logits, 2.5).numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(kiln.nn.l2_loss(logits).numpy(), (logits ** 2).sum() / 2)
    per_example = RNG.random(8)
    np.testing.assert_allclose(kiln.nn.compute_average_loss(per_example).numpy(),
                               per_example.mean(), rtol=1e-12)
    np.testing.assert_allclose(
        kiln.nn.compute_average_loss(per_example, sample_weight=2.0, global_batch_size=32).numpy(),
        2 * per_example.sum() / 32, rtol=1e-12)
    with pytest.raises(ValueError, match="positive integer"):
        kiln.nn.compute_average_loss(per_example, global_batch_size=0)
    np.testing.assert_allclose(
        kiln.nn.compute_average_loss(per_example, global_batch_size=kiln.constant(16)).numpy(),
        per_example.sum() / 16, rtol=1e-12)


def test_constant_truncated_normal_and_variance_scaling_initializers():
    init = kiln.initializers
    np.testing.assert_array_equal(init.Constant(0.25)((2, 3)).numpy(), np.full((2, 3), 0.25))
    assert init.get("constant")((2,), "int32").numpy().tolist() == [0, 0]
    kiln.random.set_seed(1)
    # Statistics of large draws against the formulas: variance scale / fan.
    for distribution in ("truncated_normal", "untruncated_normal", "uniform"):
        w = init.VarianceScaling(2.0, "fan_avg", distribution)((300, 500)).numpy()
        assert abs(w.var() - 2.0 / 400) < 0.03 * 2.0 / 400, distribution
        assert abs(w.mean()) < 1e-3
    uniform = init.get("lecun_uniform")((400, 100)).numpy()
    assert np.abs(uniform).max() <= np.sqrt(3.0 / 400) + 1e-7
    normal = init.TruncatedNormal(1.0, 0.5)((200, 200)).numpy()
    assert np.abs(normal - 1.0).max() <= 1.0 + 1e-6 and abs(normal.mean() - 1.0) < 0.01
    with pytest.raises(ValueError, match="mode"):
        init.VarianceScaling(mode="fan")


def test_attention_over_an_open_batch():
    # A transformer step with an input_signature's None batch: einsum
    # projections and batched products with an open batch, a causal mask,
    # layer norm and pooling; one trace for every batch size, NumPy the
    # oracle; the gradient of a loss through it against central differences.
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3, dtype="float64")
    x0 = RNG.normal(size=(2, 4, 6))
    mha(x0, x0)

    @kiln.function(input_signature=[kiln.TensorSpec((None, 4, 6), kiln.float64)])
    def attend(x):
        return mha(x, x, use_causal_mask=True)

    for n in (3, 1, 5):
        x = RNG.normal(size=(n, 4, 6))
        np.testing.assert_allclose(attend(x).numpy(), mha_numpy(mha, x, x, causal=True)[0],
                                   rtol=1e-10, atol=1e-12)
    assert attend.trace_count == 1
    scores = kiln.function(lambda a, b: kiln.einsum("bqd,bkd->bqk", a, b),
                           input_signature=[kiln.TensorSpec((None, 4, 6), kiln.float64),
                                            kiln.TensorSpec((None, 5, 6), kiln.float64)])
    a, b = RNG.normal(size=(3, 4, 6)), RNG.normal(size=(3, 5, 6))
    np.testing.assert_allclose(scores(a, b).numpy(), np.einsum("bqd,bkd->bqk", a, b),
                               rtol=1e-12)

    w = RNG.normal(size=(3, 4, 6))

    @kiln.function(input_signature=[kiln.TensorSpec((None, 4, 6), kiln.float64)])
    def gradient(x):
        with kiln.GradientTape() as tape:
            tape.watch(x)
            loss = kiln.reduce_sum(mha(x, x) * w)
        return tape.gradient(loss, x)

    x = RNG.normal(size=(3, 4, 6))
    np.testing.assert_allclose(gradient(x).numpy(),
                               central(lambda v: (mha_numpy(mha, v, v)[0] * w).sum(), x),
                               rtol=1e-5, atol=1e-7)


def test_attention_over_open_batch_and_sequence_length():
    # Token sequences of any batch size and length (TensorSpec([None,
    # None, D])): the heads' einsums join letters whose extents are all
    # known only when the code runs. One trace; NumPy the oracle; the input
    # gradient against central differences.
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3, dtype="float64")
    x0 = RNG.normal(size=(2, 4, 6))
    mha(x0, x0)

    @kiln.function(input_signature=[kiln.TensorSpec((None, None, 6), kiln.float64),
                                    kiln.TensorSpec((None, None, 6), kiln.float64)])
    def attend(q, v):
        return mha(q, v)

    for n, t, s in ((3, 5, 2), (1, 1, 4), (2, 4, 4)):
        q, v = RNG.normal(size=(n, t, 6)), RNG.normal(size=(n, s, 6))
        np.testing.assert_allclose(attend(q, v).numpy(), mha_numpy(mha, q, v)[0],
                                   rtol=1e-10, atol=1e-12)
    assert attend.trace_count == 1

    w = RNG.normal(size=(2, 3, 6))

    @kiln.function(input_signature=[kiln.TensorSpec((None, None, 6), kiln.float64)])
    def gradient(x):
        with kiln.GradientTape() as tape:
            tape.watch(x)
            loss = kiln.reduce_sum(mha(x, x) * w)
        return tape.gradient(loss, x)

    x = RNG.normal(size=(2, 3, 6))
    np.testing.assert_allclose(gradient(x).numpy(),
                               central(lambda v: (mha_numpy(mha, v, v)[0] * w).sum(), x),
                               rtol=1e-5, atol=1e-7)


def test_causal_masks_over_open_sequence_lengths():
    # A decoder's self-attention over sequences whose length is known only
    # when the code runs: the causal mask comes from positions (kiln.iota
    # like the scores), not from a NumPy triangle; also Attention's, a
    # band_part lower triangle, and sequence_mask(lengths, kiln.shape(x)[1]).
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3, dtype="float64")
    attention = layers.Attention(dtype="float64")
    x0 = RNG.normal(size=(2, 4, 6))
    mha(x0, x0)

    @kiln.function(input_signature=[kiln.TensorSpec((None, None, 6), kiln.float64),
                                    kiln.TensorSpec((None,), kiln.int32)])
    def decode(x, lengths):
        mask = kiln.sequence_mask(lengths, kiln.shape(x)[1])
        return (mha(x, x, use_causal_mask=True),
                attention([x, x], use_causal_mask=True),
                kiln.linalg.band_part(x[..., :4] @ kiln.transpose(x[..., :4], [0, 2, 1]), -1, 0),
                kiln.linalg.band_part(x, 1, 2), mask)

    for n, t in ((2, 5), (1, 1), (3, 3)):
        x = RNG.normal(size=(n, t, 6))
        lengths = RNG.integers(0, t + 1, size=n).astype(np.int32)
        out, att, lower, band, mask = decode(x, lengths)
        np.testing.assert_allclose(out.numpy(), mha_numpy(mha, x, x, causal=True)[0],
                                   rtol=1e-10, atol=1e-12)
        s = x @ x.transpose(0, 2, 1)
        s = np.where(np.tril(np.ones((t, t), bool)), s, s - 1e9)
        np.testing.assert_allclose(att.numpy(), softmax(s) @ x, rtol=1e-10, atol=1e-12)
        gram = x[..., :4] @ x[..., :4].transpose(0, 2, 1)
        np.testing.assert_allclose(lower.numpy(), np.tril(gram), rtol=1e-12)
        np.testing.assert_array_equal(band.numpy(), np.triu(np.tril(x, 2), -1))
        np.testing.assert_array_equal(mask.numpy(), np.arange(t)[None, :] < lengths[:, None])
    assert decode.trace_count == 1


def test_token_and_position_embedding_over_open_lengths():
    # Keras' TokenAndPositionEmbedding: positions = kiln.range(start=0,
    # limit=kiln.shape(x)[-1], delta=1) of token ids [None, None], as long
    # as each call's sequences; a causal block on top; NumPy the oracle.
    tokens = layers.Embedding(20, 6, dtype="float64")
    places = layers.Embedding(16, 6, dtype="float64")
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3, dtype="float64")

    @kiln.function(input_signature=[kiln.TensorSpec((None, None), kiln.int32)])
    def block(ids):
        positions = kiln.range(start=0, limit=kiln.shape(ids)[-1], delta=1)
        x = tokens(ids) + places(positions)
        return x + mha(x, x, use_causal_mask=True), positions

    for n, t in ((2, 5), (3, 1), (1, 9)):
        ids = RNG.integers(0, 20, size=(n, t)).astype(np.int32)
        out, positions = block(ids)
        x = tokens.embeddings.numpy()[ids] + places.embeddings.numpy()[:t]
        np.testing.assert_array_equal(positions.numpy(), np.arange(t))
        np.testing.assert_allclose(out.numpy(), x + mha_numpy(mha, x, x, causal=True)[0],
                                   rtol=1e-10, atol=1e-12)
    assert block.trace_count == 1
    # Other bounds over an open extent stay loop ranges (AutoGraph's
    # `for i in kiln.range(...)`), which are no tensors.
    with pytest.raises(kiln.errors.UnimplementedError, match="is a loop range"):
        kiln.function(lambda ids: kiln.reduce_sum(kiln.range(1, kiln.shape(ids)[-1])),
                      input_signature=[kiln.TensorSpec((None, None), kiln.int32)])(ids)


@pytest.mark.parametrize("equation,shapes,open_axes", [
    ("bqd,bkd->bqk", [(2, 3, 4), (2, 5, 4)], [(0, 1), (0, 1)]),
    ("abcd,cde->abe", [(2, 3, 4, 5), (4, 5, 6)], [(0, 1), ()]),     # EinsumDense's output
    ("abc,cde->abde", [(2, 3, 4), (4, 2, 5)], [(0, 1), ()]),        # and its heads
    ("bqhd,bkhd->bhqk", [(2, 3, 2, 4), (2, 5, 2, 4)], [(0, 1), (0, 1)]),
    ("btd,btd->b", [(2, 3, 4), (2, 3, 4)], [(0, 1), (0, 1)]),       # open letters summed
    ("btd,btd->bd", [(2, 3, 4), (2, 3, 4)], [(0, 1), (0, 1)]),
    ("bt,bs->bts", [(2, 3), (2, 4)], [(0, 1), (0, 1)]),             # nothing summed
    ("...d,de->...e", [(2, 3, 4), (4, 5)], [(0, 1), ()]),
])
def test_einsum_with_several_open_letters(equation, shapes, open_axes):
    # Values against NumPy for two sets of sizes from one trace, and the
    # first operand's gradient against NumPy's einsum of the cotangent.
    specs = [kiln.TensorSpec([None if d in axes else n for d, n in enumerate(shape)],
                             kiln.float64) for shape, axes in zip(shapes, open_axes)]

    @kiln.function(input_signature=specs)
    def f(a, b):
        with kiln.GradientTape() as tape:
            tape.watch(a)
            y = kiln.einsum(equation, a, b)
            loss = kiln.reduce_sum(y * y)
        return y, tape.gradient(loss, a)

    for grow in (0, 1):
        sized = [tuple(n + grow * (d in axes) for d, n in enumerate(shape))
                 for shape, axes in zip(shapes, open_axes)]
        a, b = [RNG.normal(size=s) for s in sized]
        want = np.einsum(equation, a, b)
        y, da = f(a, b)
        np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-12)
        # d/da sum(y^2) = 2 * einsum(y, b) back to a's letters.
        lhs, out = equation.split("->")
        sa, sb = lhs.split(",")
        if "..." in sa:
            sa, sb, out = sa.replace("...", "xy"), sb.replace("...", "xy"), out.replace("...", "xy")
        np.testing.assert_allclose(da.numpy(), np.einsum(f"{out},{sb}->{sa}", 2 * want, b),
                                   rtol=1e-9, atol=1e-10)
    assert f.trace_count == 1


def test_attention_honours_keras_masks():
    # Embedding(mask_zero=True) in front of self-attention: a query step
    # attends only to unmasked steps (Keras' automatic mask: query mask
    # [B, T, 1] and value mask [B, 1, S]); the output keeps the query's mask.
    ids = np.array([[4, 2, 0, 0], [1, 3, 5, 0]], np.int32)
    keep = ids != 0
    emb = layers.Embedding(6, 6, mask_zero=True, dtype="float64")
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3, dtype="float64")
    vectors = emb(kiln.constant(ids))
    out = mha(vectors, vectors)
    auto = keep[:, :, None] & keep[:, None, :]
    np.testing.assert_allclose(out.numpy(), mha_numpy(mha, vectors.numpy(), vectors.numpy(),
                                                      mask=auto)[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(out._keras_mask.numpy(), keep)
    # An explicit attention_mask is combined with the automatic one.
    extra = RNG.random((2, 4, 4)) < 0.8
    both = mha(vectors, vectors, attention_mask=extra)
    np.testing.assert_allclose(both.numpy(), mha_numpy(mha, vectors.numpy(), vectors.numpy(),
                                                       mask=auto & extra)[0],
                               rtol=1e-10, atol=1e-12)


def test_merges_and_attention_take_their_inputs_masks():
    """Keras 3's mask rules for layers over lists of inputs: Concatenate keeps
    a step where any of its inputs' (feature-spread) masks does, the other
    merges where every masked input does; Attention gets [query_mask,
    value_mask] and drops masked value steps, zeroing masked query steps.
    NumPy is the oracle."""
    ids_a = np.array([[4, 2, 0, 0], [1, 3, 5, 0]], np.int32)
    ids_b = np.array([[0, 2, 3, 0], [1, 0, 5, 2]], np.int32)
    keep_a, keep_b = ids_a != 0, ids_b != 0
    emb = layers.Embedding(6, 3, mask_zero=True, dtype="float64")
    a, b = emb(kiln.constant(ids_a)), emb(kiln.constant(ids_b))
    plain = kiln.constant(RNG.normal(size=(2, 4, 3)))
    np.testing.assert_array_equal(layers.Add()([a, b])._keras_mask.numpy(), keep_a & keep_b)
    np.testing.assert_array_equal(layers.Multiply()([a, plain])._keras_mask.numpy(), keep_a)
    assert getattr(layers.Add()([plain, plain]), "_keras_mask", None) is None
    # Along the features, every input's mask is spread over its features
    # and the step is kept where any is; along the steps, the masks join.
    np.testing.assert_array_equal(layers.Concatenate()([a, b])._keras_mask.numpy(),
                                  keep_a | keep_b)
    np.testing.assert_array_equal(layers.Concatenate()([a, plain])._keras_mask.numpy(),
                                  np.ones((2, 4), bool))
    joined = layers.Concatenate(axis=1)([a, b])
    assert joined.shape == (2, 8, 3)
    np.testing.assert_array_equal(joined._keras_mask.numpy(),
                                  np.concatenate([keep_a, keep_b], 1))
    # Attention: query a (mask keep_a), value b (mask keep_b).
    att = layers.Attention(dtype="float64")
    out = att([a, b])
    q, v = a.numpy(), b.numpy()
    scores = q @ v.transpose(0, 2, 1)
    scores = np.where(keep_b[:, None, :], scores, -1e9)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    want = (weights @ v) * keep_a[:, :, None]
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(out._keras_mask.numpy(), keep_a)


def test_group_query_attention_matches_numpy():
    q = RNG.normal(size=(2, 5, 8)).astype(np.float32)
    v = RNG.normal(size=(2, 6, 8)).astype(np.float32)
    gqa = layers.GroupQueryAttention(head_dim=3, num_query_heads=4, num_key_value_heads=2)
    mask = RNG.random((2, 5, 6)) < 0.7
    mask[:, :, 0] = True
    out, probs = gqa(q, v, attention_mask=mask, return_attention_scores=True)
    want, want_probs = mha_numpy(gqa, q, v, mask=mask)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(probs.numpy(), want_probs, rtol=1e-4, atol=1e-6)
    assert [tuple(w.shape) for w in gqa.weights] == [
        (8, 4, 3), (4, 3), (8, 2, 3), (2, 3), (8, 2, 3), (2, 3), (4, 3, 8), (8,)]
    # Multi-query attention (one key/value head), causal, compiled.
    mqa = layers.GroupQueryAttention(head_dim=2, num_query_heads=3, num_key_value_heads=1)
    step = kiln.function(lambda x: mqa(x, x, use_causal_mask=True))
    got = step(kiln.constant(q)).numpy()
    np.testing.assert_allclose(got, mha_numpy(mqa, q, q, causal=True)[0], rtol=1e-4,
                               atol=1e-5)
    with pytest.raises(ValueError, match="multiple of num_key_value_heads"):
        layers.GroupQueryAttention(head_dim=2, num_query_heads=3, num_key_value_heads=2)


def test_multi_head_attention_constraints_reach_its_projections():
    # kernel_constraint / bias_constraint act on the four projections'
    # weights after each optimizer step (they were once dropped).
    rng = np.random.RandomState(0)
    x = rng.randn(2, 3, 5).astype(np.float32)
    layer = kiln.keras.layers.MultiHeadAttention(
        2, 4, kernel_constraint="non_neg", bias_constraint=kiln.keras.constraints.MaxNorm(0.5),
        bias_initializer="random_normal")
    layer(x, x)
    assert min(float(w.numpy().min()) for w in layer.weights) < 0   # (before a step)
    optimizer = kiln.keras.optimizers.SGD(0.01)
    with kiln.GradientTape() as tape:
        loss = kiln.reduce_sum(layer(x, x))
    grads = tape.gradient(loss, layer.trainable_weights)
    optimizer.apply_gradients(zip(grads, layer.trainable_weights))
    for w in layer.weights:
        if w.name.endswith("kernel:0"):
            assert w.numpy().min() >= 0, w.name
        else:   # (MaxNorm over axis 0 of each bias)
            norms = np.sqrt((w.numpy() ** 2).sum(axis=0))
            assert norms.max() <= 0.5 + 1e-6, w.name
