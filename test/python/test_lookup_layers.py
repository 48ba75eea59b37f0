"""IntegerLookup (Keras 3) against a Python dictionary transcription of
Keras' index layout and adapt order: vocabularies given, from a file or
adapted, OOV buckets, masks, every output mode, invert, compiled calls,
get_config round trips."""

import numpy as np
import pytest

import kiln

layers = kiln.layers
RNG = np.random.default_rng(47)


def _lookup(tokens, vocab, num_oov=1, mask=None, mode_int=True):
    """Keras' index of each token: [mask] + OOV slots + vocabulary."""
    oov_start = 1 if mask is not None and mode_int else 0
    start = oov_start + num_oov
    table = {t: start + i for i, t in enumerate(vocab)}

    def one(t):
        if mask is not None and t == mask:
            return 0 if mode_int else -1
        if t in table:
            return table[t]
        return oov_start + (t % num_oov if num_oov > 1 else 0)
    return np.vectorize(one, otypes=[np.int64])(tokens)


def test_vocabulary_oov_and_mask():
    vocab = [12, 36, 1138, 42]
    x = np.array([[12, 1138, 42], [42, 1000, 36], [0, 7, 12]])
    layer = layers.IntegerLookup(vocabulary=vocab)
    out = layer(x)
    assert out.dtype == kiln.int64
    np.testing.assert_array_equal(out.numpy(), _lookup(x, vocab))
    assert layer.get_vocabulary() == [-1, 12, 36, 1138, 42] and layer.vocabulary_size() == 5
    # Keras' documented example: [[1, 3, 4], [4, 0, 2]].
    np.testing.assert_array_equal(layers.IntegerLookup(vocabulary=vocab)(
        np.array([[12, 1138, 42], [42, 1000, 36]])).numpy(), [[1, 3, 4], [4, 0, 2]])
    two = layers.IntegerLookup(vocabulary=vocab, num_oov_indices=2)
    np.testing.assert_array_equal(two(x).numpy(), _lookup(x, vocab, num_oov=2))
    masked = layers.IntegerLookup(vocabulary=vocab, mask_token=0)
    np.testing.assert_array_equal(masked(x).numpy(), _lookup(x, vocab, mask=0))
    assert masked.get_vocabulary() == [0, -1, 12, 36, 1138, 42]
    strict = layers.IntegerLookup(vocabulary=vocab, num_oov_indices=0)
    np.testing.assert_array_equal(strict(np.array([36, 12])).numpy(), [1, 0])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="num_oov_indices=0"):
        strict(np.array([36, 5]))
    compiled = kiln.function(lambda t: layer(t))
    np.testing.assert_array_equal(compiled(kiln.constant(x, kiln.int32)).numpy(),
                                  _lookup(x, vocab))


def test_adapt_order_file_and_errors(tmp_path):
    data = np.array([[5, 3, 3], [9, 5, 3], [7, 7, 0]])
    layer = layers.IntegerLookup(mask_token=0)
    layer.adapt(data)
    # Count down, ties by token down: 3 (3x), then 7 and 5 (2x each), then 9.
    assert layer.get_vocabulary(include_special_tokens=False) == [3, 7, 5, 9]
    capped = layers.IntegerLookup(max_tokens=3)
    capped.adapt(data)
    assert capped.get_vocabulary() == [-1, 3, 7]
    ds = kiln.data.Dataset.from_tensor_slices(data).batch(2)
    from_ds = layers.IntegerLookup()
    from_ds.adapt(ds)
    assert from_ds.get_vocabulary(include_special_tokens=False) == [3, 7, 5, 9, 0]
    path = tmp_path / "vocab.txt"
    path.write_text("4\n8\n15\n")
    from_file = layers.IntegerLookup(vocabulary=str(path))
    np.testing.assert_array_equal(from_file(np.array([15, 4, 16])).numpy(), [3, 1, 0])
    with pytest.raises(ValueError, match="repeats"):
        layers.IntegerLookup(vocabulary=[1, 2, 1])
    with pytest.raises(ValueError, match="larger than max_tokens"):
        layers.IntegerLookup(vocabulary=[1, 2, 3], max_tokens=3)
    with pytest.raises(TypeError, match="integer tokens"):
        layers.IntegerLookup(vocabulary=[1, 2])(np.array([1.0]))


def test_encodings_and_invert():
    vocab = [12, 36, 1138, 42]
    x = np.array([[12, 1138, 12], [42, 1000, 0]])
    ids = _lookup(x, vocab, mask=0, mode_int=False)          # (mask -> dropped)
    depth = 5
    hot = np.zeros(ids.shape + (depth,), np.int64)
    for index in np.ndindex(*ids.shape):
        if ids[index] >= 0:
            hot[index + (ids[index],)] = 1
    for mode, want in (("multi_hot", hot.max(axis=1)), ("count", hot.sum(axis=1))):
        layer = layers.IntegerLookup(vocabulary=vocab, mask_token=0, output_mode=mode)
        out = layer(x)
        assert out.dtype == kiln.float32   # (Keras: encodings in floatx, so they
        np.testing.assert_array_equal(out.numpy(), want)   # concatenate with features)
        strings = layers.StringLookup(vocabulary=["a", "b"], output_mode=mode)
        assert strings(kiln.constant(["a", "z"])).dtype == kiln.float32
    one = layers.IntegerLookup(vocabulary=vocab, output_mode="one_hot")
    np.testing.assert_array_equal(one(np.array([[36], [7]])).numpy(),
                                  np.eye(5, dtype=np.int64)[[2, 0]])
    # A flat input is one sample for multi_hot (Keras' multi_hot).
    flat = layers.IntegerLookup(vocabulary=vocab, output_mode="multi_hot")
    np.testing.assert_array_equal(flat(np.array([12, 42, 12])).numpy(), [0, 1, 0, 0, 1])
    padded = layers.IntegerLookup(vocabulary=vocab, output_mode="count", max_tokens=8,
                                  pad_to_max_tokens=True)
    assert padded(x).shape == (2, 8)
    idf = [0.5, 1.0, 1.5, 2.0]
    tfidf = layers.IntegerLookup(vocabulary=vocab, output_mode="tf_idf", idf_weights=idf)
    weights = np.array([np.mean(idf)] + idf, np.float32)
    counts = np.zeros((2, 5))
    for r, row in enumerate(_lookup(x, vocab)):
        for i in row:
            counts[r, i] += 1
    np.testing.assert_allclose(tfidf(x).numpy(), counts * weights, rtol=1e-6)
    # adapt measures log(1 + documents / (1 + documents with the token)).
    docs = np.array([[1, 2, 2], [2, 3, 3], [1, 1, 1]])
    adapted = layers.IntegerLookup(output_mode="tf_idf")
    adapted.adapt(docs)
    assert adapted.get_vocabulary(include_special_tokens=False) == [1, 2, 3]
    idf = np.log(1 + 3 / (1 + np.array([2, 2, 1])))
    want = np.array([[0, 1, 2, 0], [0, 0, 1, 2], [0, 3, 0, 0]]) * \
        np.concatenate([[idf.mean()], idf])
    np.testing.assert_allclose(adapted(docs).numpy(), want, rtol=1e-6)
    inverse = layers.IntegerLookup(vocabulary=vocab, invert=True, mask_token=0)
    np.testing.assert_array_equal(inverse(np.array([2, 0, 1, 5, 9])).numpy(),
                                  [12, 0, -1, 42, -1])
    config = layers.IntegerLookup(vocabulary=vocab, num_oov_indices=2).get_config()
    again = layers.IntegerLookup.from_config(config)
    np.testing.assert_array_equal(again(x).numpy(), _lookup(x, vocab, num_oov=2))


def test_in_a_model_with_fit():
    # Token ids through IntegerLookup and an Embedding, trained with fit.
    vocab = list(range(100, 110))
    tokens = RNG.choice(vocab + [5, 7], size=(64, 3))
    y = (np.isin(tokens, vocab[:5]).sum(axis=1) > 1).astype(np.float32)
    model = kiln.Sequential([kiln.Input((3,), dtype="int32"),
                             layers.IntegerLookup(vocabulary=vocab),
                             layers.Embedding(11, 4), layers.Flatten(),
                             layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(tokens.astype(np.int32), y, epochs=3, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_review_cases(tmp_path):
    # A mask token with num_oov_indices=0 is not an unknown token (Keras
    # masks before its check).
    strict = layers.IntegerLookup(vocabulary=[12, 36], mask_token=0, num_oov_indices=0)
    np.testing.assert_array_equal(strict(np.array([0, 12, 36])).numpy(), [0, 1, 2])
    # A large vocabulary: a binary search, not a token-by-entry comparison.
    vocab = RNG.permutation(np.arange(0, 300000, 3))            # 100000 tokens
    tokens = RNG.integers(-5, 300005, size=(64, 512))
    big = layers.IntegerLookup(vocabulary=vocab)
    position = {int(t): i + 1 for i, t in enumerate(vocab)}
    want = np.vectorize(lambda t: position.get(int(t), 0))(tokens)
    np.testing.assert_array_equal(big(tokens).numpy(), want)
    # Adapted vocabularies and idf weights survive model.save / load_model;
    # a layer given its vocabulary is not adapted.
    docs = np.array([[1, 2, 2], [2, 3, 3], [1, 1, 1]])
    lookup = layers.IntegerLookup(output_mode="tf_idf")
    lookup.adapt(docs)
    model = kiln.Sequential([kiln.Input((3,), dtype="int64"), lookup])
    model.save(tmp_path / "lookup.keras")
    loaded = kiln.keras.models.load_model(tmp_path / "lookup.keras")
    np.testing.assert_allclose(loaded(docs).numpy(), model(docs).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="cannot adapt"):
        layers.IntegerLookup(vocabulary=[1, 2]).adapt(docs)
    inverse = layers.IntegerLookup(vocabulary=[7, 9], invert=True, vocabulary_dtype="int32")
    assert inverse(np.array([1, 2])).dtype == kiln.int32
