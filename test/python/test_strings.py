"""String tensors, kiln.strings, kiln.RaggedTensor and the text layers
(StringLookup, TextVectorization, Hashing). Oracles: NumPy object arrays
and Python's own string methods for the element-moving ops and the string
ops; the documented outputs of TensorFlow's and Keras' examples for
hashing and the layers."""

import re

import numpy as np
import pytest

import kiln
from kiln import errors

L = kiln.layers


def as_bytes(values):
    return np.vectorize(lambda s: s.encode(), otypes=[object])(np.asarray(values))


# ---------------------------------------------------------------------------
# String tensors


def test_string_constant_holds_bytes():
    t = kiln.constant([["a", "bb"], ["ccc", "é"]])
    assert t.dtype == kiln.string and t.shape == (2, 2)
    assert t.numpy().dtype == object
    np.testing.assert_array_equal(t.numpy(), as_bytes([["a", "bb"], ["ccc", "é"]]))
    assert kiln.constant("x").numpy() == b"x"
    assert kiln.constant(b"raw\x00").numpy() == b"raw\x00"
    assert kiln.as_dtype(np.dtype("U3")) == kiln.string
    with pytest.raises(TypeError, match="neither numbers nor strings"):
        kiln.constant(np.array([{}, 1], dtype=object))
    with pytest.raises(ValueError):  # (read-only, as tensors are)
        t.numpy()[0, 0] = b"z"


def test_element_moving_ops_match_numpy():
    values = as_bytes([["a", "bb", "c"], ["d", "e", "ff"]])
    t = kiln.constant(values)
    np.testing.assert_array_equal(kiln.reshape(t, [3, 2]).numpy(), values.reshape(3, 2))
    np.testing.assert_array_equal(kiln.transpose(t).numpy(), values.T)
    np.testing.assert_array_equal(t[1, ::-1].numpy(), values[1, ::-1])
    np.testing.assert_array_equal(t[:, 1].numpy(), values[:, 1])
    np.testing.assert_array_equal(kiln.gather(t, [2, 0], axis=1).numpy(),
                                  values[:, [2, 0]])
    np.testing.assert_array_equal(kiln.concat([t, t[:1]], 0).numpy(),
                                  np.concatenate([values, values[:1]]))
    np.testing.assert_array_equal(kiln.stack([t[0], t[1]], axis=1).numpy(),
                                  np.stack([values[0], values[1]], axis=1))
    np.testing.assert_array_equal(kiln.expand_dims(t, 0).numpy(), values[None])
    cond = np.array([True, False, True])
    other = as_bytes(["x", "y", "z"])
    np.testing.assert_array_equal(kiln.where(cond, t[0], kiln.constant(other)).numpy(),
                                  np.where(cond, values[0], other))
    np.testing.assert_array_equal((t == "bb").numpy(), values == b"bb")
    np.testing.assert_array_equal((t != kiln.constant(values[0])).numpy(), values != values[0])
    np.testing.assert_array_equal((kiln.constant("<") + t).numpy(),
                                  np.array([[b"<" + v for v in row] for row in values]))
    assert [e.numpy() for e in t[0]] == [b"a", b"bb", b"c"]
    assert kiln.shape(t).numpy().tolist() == [2, 3]


def test_string_tensors_refuse_numeric_ops_with_the_callers_line():
    t = kiln.constant(["1", "2"])
    with pytest.raises(errors.InvalidArgumentError,
                       match=r"test_strings.py:\d+: kiln.exp does not take string tensors"):
        kiln.exp(t)
    with pytest.raises(TypeError, match="expected a string tensor, got float32"):
        kiln.concat([t, kiln.constant([1.0])], 0)
    with pytest.raises(errors.InvalidArgumentError, match="holds real numbers"):
        kiln.Variable(["a"])
    with pytest.raises(errors.InvalidArgumentError, match="string tensor"):
        t.gpu()

    @kiln.function
    def f(x):
        return kiln.reshape(x, [-1])
    with pytest.raises(errors.InvalidArgumentError, match="argument .* is a string tensor"):
        f(t)


def test_string_constants_inside_a_traced_function_and_tapes():
    words = kiln.constant(["a", "b", "c"])

    @kiln.function
    def f(x):  # (a string constant is a value: its ops run while tracing)
        return kiln.cast(kiln.reshape(words, [3, 1]) == "b", "float32") * x
    np.testing.assert_array_equal(f(kiln.ones([3, 2])).numpy(),
                                  [[0, 0], [1, 1], [0, 0]])
    with kiln.GradientTape():
        assert kiln.reshape(words, [1, 3]).shape == (1, 3)


def test_dataset_of_strings_slices_shuffles_batches():
    texts = ["one", "two words", "three"]
    ds = kiln.data.Dataset.from_tensor_slices((texts, [1, 2, 3]))
    got = [(x.numpy(), int(y)) for x, y in ds]
    assert got == [(b"one", 1), (b"two words", 2), (b"three", 3)]
    batch = next(iter(ds.batch(2)))
    np.testing.assert_array_equal(batch[0].numpy(), as_bytes(texts[:2]))
    assert sorted(x.numpy() for x, _ in ds.shuffle(3, seed=2)) == sorted(as_bytes(texts))


# ---------------------------------------------------------------------------
# kiln.strings


def test_case_strip_length_substr_against_python():
    words = ["Hello World", "  ÉCOLE \t", "MiXeD"]
    b = [w.encode() for w in words]
    assert kiln.strings.lower(words).numpy().tolist() == [s.lower() for s in b]
    assert kiln.strings.upper(words).numpy().tolist() == [s.upper() for s in b]
    assert kiln.strings.lower(words, encoding="utf-8").numpy().tolist() == \
        [w.lower().encode() for w in words]
    assert kiln.strings.strip(words).numpy().tolist() == [s.strip() for s in b]
    assert kiln.strings.length(words).numpy().tolist() == [len(s) for s in b]
    assert kiln.strings.length(words, unit="UTF8_CHAR").numpy().tolist() == \
        [len(w) for w in words]
    assert kiln.strings.substr(words, 1, 3).numpy().tolist() == [s[1:4] for s in b]
    assert kiln.strings.substr(words, -2, 5).numpy().tolist() == [s[-2:] for s in b]
    assert kiln.strings.substr(["héllo"], 1, 2, unit="UTF8_CHAR").numpy()[0] == "él".encode()
    with pytest.raises(errors.InvalidArgumentError, match="pos 9 is out of range"):
        kiln.strings.substr(["abc"], 9, 1)


def test_join_reduce_join_regex():
    a, b = np.array(["x", "y"]), np.array(["1", "2"])
    assert kiln.strings.join([a, b], separator="-").numpy().tolist() == [b"x-1", b"y-2"]
    grid = np.array([["a", "b", "c"], ["d", "e", "f"]])
    for axis in (0, 1, -1):
        want = np.apply_along_axis(lambda r: "+".join(r), axis % 2, grid)
        got = kiln.strings.reduce_join(grid, axis=axis, separator="+").numpy()
        np.testing.assert_array_equal(got, as_bytes(want))
    assert kiln.strings.reduce_join(grid).numpy() == b"abcdef"
    assert kiln.strings.reduce_join(grid, axis=1, keepdims=True).shape == (2, 1)
    text = ["The cat, the hat.", "no match"]
    assert kiln.strings.regex_replace(text, r"[aeiou]", "_").numpy().tolist() == \
        [re.sub(r"[aeiou]", "_", t).encode() for t in text]
    assert kiln.strings.regex_replace(text, r"(\w+)at", r"<\1>", replace_global=False
                                      ).numpy().tolist() == \
        [re.sub(r"(\w+)at", r"<\1>", t, count=1).encode() for t in text]
    assert kiln.strings.regex_full_match(["abc", "abd"], "ab[c]").numpy().tolist() == \
        [True, False]
    with pytest.raises(errors.InvalidArgumentError, match="invalid regular expression"):
        kiln.strings.regex_replace(text, "(", "")


def test_split_and_ngrams():
    lines = ["a  b c ", "", "d"]
    r = kiln.strings.split(lines)
    assert isinstance(r, kiln.RaggedTensor)
    assert r.to_list() == [s.encode().split() for s in lines]
    assert kiln.strings.split(["a,b,,c"], sep=",").to_list() == [[b"a", b"b", b"", b"c"]]
    assert kiln.strings.split("x y").numpy().tolist() == [b"x", b"y"]
    assert kiln.strings.split(["a b c"], maxsplit=1).to_list() == [[b"a", b"b c"]]
    # TensorFlow's documented examples of tf.strings.ngrams.
    assert kiln.strings.ngrams(["A", "B", "C", "D"], 2).numpy().tolist() == \
        [b"A B", b"B C", b"C D"]
    assert kiln.strings.ngrams(["TF", "and", "keras"], 1).numpy().tolist() == \
        [b"TF", b"and", b"keras"]
    rows = kiln.ragged.constant([["a", "b", "c"], ["d"]])
    assert kiln.strings.ngrams(rows, (1, 2), separator="_").to_list() == \
        [[b"a", b"b", b"c", b"a_b", b"b_c"], [b"d"]]
    padded = kiln.strings.ngrams(["a", "b"], 3, pad_values=("<", ">"))
    assert padded.numpy().tolist() == [b"< < a", b"< a b", b"a b >", b"b > >"]
    short = kiln.strings.ngrams(kiln.ragged.constant([["a"]]), 2,
                                preserve_short_sequences=True)
    assert short.to_list() == [[b"a"]]


def test_to_number_and_as_string():
    np.testing.assert_allclose(kiln.strings.to_number(["1.5", "-2e3", " 7"]).numpy(),
                               [1.5, -2000.0, 7.0])
    assert kiln.strings.to_number(["12", "-3"], kiln.int64).numpy().tolist() == [12, -3]
    with pytest.raises(errors.InvalidArgumentError, match="b'1.5' is not a valid int32"):
        kiln.strings.to_number(["1.5"], kiln.int32)
    with pytest.raises(errors.InvalidArgumentError, match="not a valid float32"):
        kiln.strings.to_number(["1_000"])
    values = np.array([3.14159, -2.5], np.float32)
    assert kiln.strings.as_string(values).numpy().tolist() == \
        [("%f" % v).encode() for v in values]
    assert kiln.strings.as_string(values, precision=2, scientific=True).numpy().tolist() == \
        [("%.2e" % v).encode() for v in values]
    assert kiln.strings.as_string(np.array([7, 123]), width=5, fill="0").numpy().tolist() == \
        [b"00007", b"00123"]
    assert kiln.strings.as_string([True, False]).numpy().tolist() == [b"true", b"false"]


def test_hash_buckets_match_tensorflows_documentation():
    # tf.strings.to_hash_bucket_fast and _strong's documented examples.
    assert kiln.strings.to_hash_bucket_fast(["Hello", "TensorFlow", "2.x"], 3
                                            ).numpy().tolist() == [0, 2, 2]
    assert kiln.strings.to_hash_bucket_strong(["Hello", "TF"], 3, [1, 2]
                                              ).numpy().tolist() == [2, 0]
    assert kiln.strings.to_hash_bucket_fast([["a"]], 5).shape == (1, 1)
    with pytest.raises(ValueError, match="key must be two integers"):
        kiln.strings.to_hash_bucket_strong(["a"], 3, [1])


# ---------------------------------------------------------------------------
# RaggedTensor


def test_ragged_tensor_rows_and_padding():
    r = kiln.RaggedTensor.from_row_lengths([1, 2, 3, 4, 5, 6], [2, 0, 4])
    assert r.to_list() == [[1, 2], [], [3, 4, 5, 6]]
    assert r.row_lengths().numpy().tolist() == [2, 0, 4]
    assert r.row_splits.numpy().tolist() == [0, 2, 2, 6]
    np.testing.assert_array_equal(r.to_tensor().numpy(),
                                  [[1, 2, 0, 0], [0, 0, 0, 0], [3, 4, 5, 6]])
    np.testing.assert_array_equal(r.to_tensor(-1, shape=[2, 3]).numpy(),
                                  [[1, 2, -1], [-1, -1, -1]])
    assert r[2].numpy().tolist() == [3, 4, 5, 6] and r[-3].numpy().tolist() == [1, 2]
    assert r[1:].to_list() == [[], [3, 4, 5, 6]]
    assert r.shape == (3, None)
    assert kiln.RaggedTensor.from_value_rowids([7, 8, 9], [0, 0, 2]).to_list() == \
        [[7, 8], [], [9]]
    with pytest.raises(errors.InvalidArgumentError, match="row_splits"):
        kiln.RaggedTensor.from_row_splits([1, 2], [0, 3])


# ---------------------------------------------------------------------------
# Layers (the outputs of Keras' documented examples)


def test_text_vectorization_keras_examples():
    vectorize = L.TextVectorization(max_tokens=5000, output_mode="int",
                                    output_sequence_length=4)
    vectorize.adapt(["foo bar", "bar baz", "baz bada boom"])
    np.testing.assert_array_equal(vectorize([["foo qux bar"], ["qux baz"]]).numpy(),
                                  [[4, 1, 3, 0], [1, 2, 0, 0]])
    given = L.TextVectorization(max_tokens=5000, output_sequence_length=4,
                                vocabulary=["earth", "wind", "and", "fire"])
    assert given.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]
    np.testing.assert_array_equal(given(["Earth, wind and FIRE!!", "and more"]).numpy(),
                                  [[2, 3, 4, 5], [4, 1, 0, 0]])
    with pytest.raises(ValueError, match="cannot adapt a layer given its vocabulary"):
        L.StringLookup(vocabulary=["a"]).adapt(["a"])


def test_text_vectorization_modes_against_numpy_counts():
    docs = ["the cat sat", "the dog", "a dog and a cat", "the end"]
    layer = L.TextVectorization(output_mode="tf_idf", ngrams=2)
    layer.adapt(docs)
    vocab = layer.get_vocabulary()
    assert vocab[0] == "[UNK]"
    tokenized = []
    for d in docs:
        words = d.split()
        tokenized.append(words + [" ".join(p) for p in zip(words, words[1:])])
    counts = {}
    for toks in tokenized:
        for t in toks:
            counts[t] = counts.get(t, 0) + 1
    want_vocab = sorted(counts, key=lambda t: (counts[t], t.encode()), reverse=True)
    assert vocab[1:] == want_vocab
    documents = {t: sum(t in toks for toks in tokenized) for t in want_vocab}
    idf = np.log(1 + len(docs) / (1 + np.array([documents[t] for t in want_vocab])))
    query = ["the cat and the cat", "unknown words"]
    out = layer(query).numpy()
    for row, q in zip(out, query):
        words = q.split()
        toks = words + [" ".join(p) for p in zip(words, words[1:])]
        want = np.zeros(len(vocab))
        for t in toks:
            want[vocab.index(t) if t in vocab else 0] += 1
        want[1:] *= idf
        want[0] *= idf.mean()
        np.testing.assert_allclose(row, want, rtol=1e-6)
    hot = L.TextVectorization(output_mode="multi_hot", vocabulary=["b", "a"])
    np.testing.assert_array_equal(hot(["a a c", "b"]).numpy(), [[1, 0, 1], [0, 1, 0]])
    ragged = L.TextVectorization(vocabulary=["b", "a"], ragged=True)
    assert ragged(["a b b", "c"]).to_list() == [[3, 2, 2], [1]]
    chars = L.TextVectorization(split="character", standardize=None, vocabulary=["x", "é"])
    np.testing.assert_array_equal(chars(["éxz"]).numpy(), [[3, 2, 1]])


def test_string_lookup_keras_examples():
    vocab = ["a", "b", "c", "d"]
    data = [["a", "c", "d"], ["d", "z", "b"]]
    np.testing.assert_array_equal(L.StringLookup(vocabulary=vocab)(data).numpy(),
                                  [[1, 3, 4], [4, 0, 2]])
    adapted = L.StringLookup()
    adapted.adapt(np.array([["d", "c", "b"], ["d", "a", "d"]]))
    assert adapted.get_vocabulary() == ["[UNK]", "d", "c", "b", "a"]
    hot = L.StringLookup(vocabulary=vocab, output_mode="multi_hot")
    np.testing.assert_array_equal(hot([["a", "c", "d", "d"], ["d", "z", "b", "z"]]).numpy(),
                                  [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    count = L.StringLookup(vocabulary=vocab, output_mode="count")
    np.testing.assert_array_equal(count([["a", "c", "d", "d"], ["d", "z", "b", "z"]]).numpy(),
                                  [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    inverse = L.StringLookup(vocabulary=vocab, invert=True)
    np.testing.assert_array_equal(inverse([[1, 3, 4], [4, 0, 2]]).numpy(),
                                  as_bytes([["a", "c", "d"], ["d", "[UNK]", "b"]]))
    masked = L.StringLookup(vocabulary=vocab, mask_token="[MASK]")
    np.testing.assert_array_equal(masked([["a", "[MASK]", "z"]]).numpy(), [[2, 0, 1]])
    strict = L.StringLookup(vocabulary=vocab, num_oov_indices=0)
    with pytest.raises(errors.InvalidArgumentError, match=r"\[b'z'\] are not"):
        strict([["a", "z"]])
    # Several OOV slots: farmhash buckets (Keras: to_hash_bucket_fast).
    # (TensorFlow's test: Fingerprint64 of a, b, c, d mod 10 is 9, 2, 2, 5,
    # so mod 2 it is 1, 0, 0, 1.)
    two = L.StringLookup(vocabulary=["x", "y"], num_oov_indices=2)
    np.testing.assert_array_equal(two([["a", "b", "c", "d", "y"]]).numpy(),
                                  [[1, 0, 0, 1, 3]])


def test_hashing_keras_examples():
    data = [["A"], ["B"], ["C"], ["D"], ["E"]]
    assert L.Hashing(num_bins=3)(data).numpy().ravel().tolist() == [1, 0, 1, 1, 2]
    assert L.Hashing(num_bins=3, salt=[133, 137])(data).numpy().ravel().tolist() == \
        [1, 2, 1, 0, 2]
    assert L.Hashing(num_bins=3, salt=133)(data).numpy().ravel().tolist() == [0, 0, 2, 1, 0]
    masked = L.Hashing(num_bins=3, mask_value="")
    assert masked([["A"], ["B"], [""], ["C"], ["D"]]).numpy().ravel().tolist() == \
        [1, 1, 0, 2, 2]
    hot = L.Hashing(num_bins=3, output_mode="multi_hot")(np.array([["A", "B"]]))
    np.testing.assert_array_equal(hot.numpy(), [[1, 1, 0]])
    ints = L.Hashing(num_bins=3)(np.array([[0], [1], [2]]))  # (hashed as "0", "1", ...)
    assert ints.numpy().ravel().tolist() == \
        kiln.strings.to_hash_bucket_fast(["0", "1", "2"], 3).numpy().tolist()


def test_text_pipeline_trains_a_model():
    texts = np.array(["good movie", "bad film", "great great movie", "awful bad"])
    labels = np.array([1, 0, 1, 0], np.float32)
    vectorize = L.TextVectorization(max_tokens=20, output_sequence_length=4)
    vectorize.adapt(texts)
    ds = kiln.data.Dataset.from_tensor_slices((texts, labels)).batch(2).map(
        lambda x, y: (vectorize(x), y))
    model = kiln.keras.Sequential([L.Embedding(20, 4), L.GlobalAveragePooling1D(),
                                   L.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    history = model.fit(ds, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert vectorize.get_config()["vocabulary"] == vectorize.get_vocabulary(False)
    # A model that starts with text layers trains on strings: fit runs those
    # layers on each batch eagerly and the rest compiled (Keras' usage).
    end_to_end = kiln.keras.Sequential([vectorize, L.Embedding(20, 4),
                                        L.GlobalAveragePooling1D(), L.Dense(1)])
    end_to_end.compile(kiln.keras.optimizers.SGD(0.1), "mse")
    before = end_to_end.evaluate(texts, labels, verbose=0)
    end_to_end.fit(np.repeat(texts, 8), np.repeat(labels, 8), epochs=3, batch_size=4,
                   verbose=0)
    assert end_to_end.evaluate(texts, labels, verbose=0) < before
    ids = vectorize(texts)
    np.testing.assert_allclose(end_to_end.predict(texts, verbose=0),
                               end_to_end.layers[3](end_to_end.layers[2](
                                   end_to_end.layers[1](ids))).numpy(), rtol=1e-5)
    # Keras' export pattern: a functional model from a string Input.
    inputs = kiln.keras.Input(shape=(1,), dtype="string")
    outputs = model(vectorize(inputs))
    exported = kiln.keras.Model(inputs, outputs)
    np.testing.assert_allclose(exported.predict(texts[:, None], verbose=0),
                               model.predict(ids, verbose=0), rtol=1e-6)


def test_dataset_of_strings_saves_pads_and_caches(tmp_path):
    texts = ["a b", "", "dd\x00e é"]
    ds = kiln.data.Dataset.from_tensor_slices((texts, [1, 2, 3]))
    ds.save(str(tmp_path / "saved"))
    loaded = kiln.data.Dataset.load(str(tmp_path / "saved"))
    assert [(x.numpy(), int(y)) for x, y in loaded] == \
        [(t.encode(), i) for t, i in zip(texts, [1, 2, 3])]
    assert loaded.element_spec[0].dtype == kiln.string
    tokens = ds.map(lambda x, y: kiln.strings.split(x))
    padded = [b.numpy().tolist() for b in tokens.padded_batch(2)]
    assert padded == [[[b"a", b"b"], [b"", b""]], [[b"dd\x00e", "é".encode()]]]
    long = ds.filter(lambda x, y: kiln.strings.length(x) > 1)
    assert [int(y) for _, y in long] == [1, 3]
    cached = ds.cache(str(tmp_path / "cache"))
    assert [x.numpy() for x, _ in cached] == [x.numpy() for x, _ in cached] == \
        [t.encode() for t in texts]


def test_review_cases_strings():
    empty = kiln.data.Dataset.from_tensor_slices(["a b", ""]).map(kiln.strings.split)
    assert [t.numpy().tolist() for t in empty] == [[b"a", b"b"], []]

    @kiln.function
    def pick(x):
        return kiln.where(x > 0, kiln.constant(["a"]), kiln.constant(["b"]))
    with pytest.raises(errors.InvalidArgumentError, match="kiln.select mixes strings"):
        pick(kiln.constant([1.0]))

    @kiln.function
    def give(x):
        return kiln.constant(["a"]), x
    with pytest.raises(errors.InvalidArgumentError, match="cannot return a string"):
        give(kiln.constant([1.0]))
    # adapt on unbatched strings: each string one document (Keras).
    docs = ["a b c", "a a d", "e"]
    one = L.TextVectorization(output_mode="tf_idf")
    one.adapt(kiln.data.Dataset.from_tensor_slices(docs))
    other = L.TextVectorization(output_mode="tf_idf")
    other.adapt(docs)
    np.testing.assert_allclose(one._lookup._idf, other._lookup._idf)
    assert np.isclose(other._lookup._idf[other.get_vocabulary().index("a")], np.log(1 + 3 / 3))
    cut = L.TextVectorization(vocabulary=["a", "b"], ragged=True, output_sequence_length=4)
    assert cut(["a b a b a b", "z"]).to_list() == [[2, 3, 2, 3], [1]]
    # (TensorFlow's kernel: one preserved n-gram when no width gives any)
    assert kiln.strings.ngrams(kiln.ragged.constant([["a", "b"]]), 3,
                               preserve_short_sequences=True).to_list() == [[b"a b"]]
    assert kiln.strings.ngrams(["a"], (2, 3), preserve_short_sequences=True
                               ).numpy().tolist() == [b"a"]
    assert kiln.strings.as_string(kiln.constant(np.array([1 + 2j], np.complex64))
                                  ).numpy().tolist() == [b"(1.000000,2.000000)"]
    assert kiln.strings.regex_replace(["abc"], "b", r"<\0>").numpy().tolist() == [b"a<b>c"]
    assert kiln.strings.regex_replace(["a.c"], r"\.", r"\\").numpy().tolist() == [b"a\\c"]
    assert kiln.strings.split([""], sep=",").to_list() == [[b""]]
    assert kiln.strings.unicode_split([b"a\xffb"], "UTF-8", errors="ignore").to_list() == \
        [[b"a", b"b"]]
    assert kiln.strings.unicode_split([b"a\xffb"], "UTF-8", replacement_char=63).to_list() == \
        [[b"a", b"?", b"b"]]
    with pytest.raises(errors.InvalidArgumentError, match="invalid UTF-8"):
        kiln.strings.unicode_split([b"\xff"], "UTF-8", errors="strict")
    with pytest.raises(errors.InvalidArgumentError, match="not valid UTF-8"):
        kiln.strings.lower([b"\xff"], encoding="utf-8")
    with pytest.raises(TypeError, match="cannot convert 2 to a string tensor"):
        kiln.constant(["a"]) * 2
    with pytest.raises(TypeError, match="use kiln.strings.as_string"):
        kiln.cast(kiln.constant([1]), kiln.string)
    assert L.Hashing(3, output_mode="multi_hot")(np.array([["A", "B"]])).dtype == kiln.float32


def test_text_models_save_load_and_string_inputs(tmp_path):
    texts = np.array(["good movie", "bad film", "great great movie", "awful bad"])
    labels = np.array([1, 0, 1, 0], np.float32)
    vectorize = L.TextVectorization(max_tokens=20, output_sequence_length=4)
    vectorize.adapt(texts)
    # Keras' form: an Input of strings first, then the text layer.
    model = kiln.keras.Sequential([kiln.keras.Input(shape=(1,), dtype="string"), vectorize,
                                   L.Embedding(20, 4), L.GlobalAveragePooling1D(), L.Dense(1)])
    model.compile("adam", "mse")
    model.fit(texts[:, None], labels, epochs=1, verbose=0)
    plain = kiln.keras.Sequential([vectorize, L.Embedding(20, 4), L.GlobalAveragePooling1D(),
                                   L.Dense(1)])
    plain.compile("adam", "mse")
    plain.fit(texts, labels, epochs=1, verbose=0)   # (built by fit on strings)
    for m, x, name in ((model, texts[:, None], "a.keras"), (plain, texts, "b.keras")):
        path = str(tmp_path / name)
        m.save(path)
        loaded = kiln.keras.models.load_model(path)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), m.predict(x, verbose=0),
                                   rtol=1e-6)


def test_ragged_text_through_lookups_and_string_ops():
    # TensorFlow's text-generation tutorial: characters as a RaggedTensor,
    # ids and back, joined per row.
    chars = kiln.strings.unicode_split(["héllo", "ab"], "UTF-8")
    vocab = sorted(set("héllo" + "ab"))
    ids = L.StringLookup(vocabulary=vocab, mask_token=None)
    got = ids(chars)
    assert isinstance(got, kiln.RaggedTensor)
    assert got.to_list() == [[vocab.index(c) + 1 for c in "héllo"],
                             [vocab.index(c) + 1 for c in "ab"]]
    back = L.StringLookup(vocabulary=ids.get_vocabulary(), invert=True, mask_token=None)
    assert kiln.strings.reduce_join(back(got), axis=-1).numpy().tolist() == \
        ["héllo".encode(), b"ab"]
    assert kiln.strings.reduce_join(back(got)).numpy() == "hélloab".encode()
    assert kiln.strings.upper(chars).to_list()[1] == [b"A", b"B"]
    numbers = kiln.ragged.constant([[3, 1], [2]])
    assert L.IntegerLookup(vocabulary=[1, 2, 3])(numbers).to_list() == [[3, 1], [2]]
    hashed = L.Hashing(num_bins=5)(kiln.ragged.constant([["a", "b"], ["c"]]))
    assert hashed.to_list() == [kiln.strings.to_hash_bucket_fast(["a", "b"], 5).numpy().tolist(),
                                kiln.strings.to_hash_bucket_fast(["c"], 5).numpy().tolist()]


def test_unicode_decode_encode_tensorflow_examples():
    decoded = kiln.strings.unicode_decode(["Hello", "TensorFlow"], "UTF-8")
    assert decoded.to_list() == [[72, 101, 108, 108, 111],
                                 [84, 101, 110, 115, 111, 114, 70, 108, 111, 119]]
    points = kiln.ragged.constant([[71, 246, 246, 100, 110, 105, 103, 104, 116], [128522]])
    assert kiln.strings.unicode_encode(points, "UTF-8").numpy().tolist() == \
        [b"G\xc3\xb6\xc3\xb6dnight", b"\xf0\x9f\x98\x8a"]
    assert kiln.strings.unicode_encode([72, 105], "UTF-8").numpy() == b"Hi"
    assert kiln.strings.unicode_encode([[72, -1]], "UTF-8").numpy().tolist() == \
        ["H\ufffd".encode()]
    with pytest.raises(errors.InvalidArgumentError, match="not a code point"):
        kiln.strings.unicode_encode([0x110000], "UTF-8", errors="strict")
    assert kiln.strings.unicode_decode(b"a\xffb", "UTF-8").numpy().tolist() == \
        [97, 65533, 98]


def test_ragged_constructors_and_helpers():
    R = kiln.RaggedTensor
    dense = [[1, 2, 0], [3, 0, 0], [0, 0, 0]]
    assert R.from_tensor(dense, padding=0).to_list() == [[1, 2], [3], []]
    assert R.from_tensor(dense, lengths=[1, 3, 0]).to_list() == [[1], [3, 0, 0], []]
    assert R.from_tensor(dense).to_list() == dense
    words = R.from_tensor(kiln.constant([["a", ""], ["", ""]]), padding="")
    assert words.to_list() == [[b"a"], []]
    r = kiln.ragged.range([3, 0, 2])
    assert r.dtype == kiln.int32 and r.to_list() == [list(range(3)), [], [0, 1]]
    assert kiln.ragged.range([0, 5], [3, 8], [1, 2]).to_list() == [[0, 1, 2], [5, 7]]
    doubled = kiln.ragged.map_flat_values(lambda v: v * 2, kiln.ragged.constant([[1, 2], [3]]))
    assert doubled.to_list() == [[2, 4], [6]]
    masked = kiln.ragged.boolean_mask([[1, 2, 3], [4, 5, 6]],
                                      [[True, False, True], [False, False, True]])
    assert masked.to_list() == [[1, 3], [6]]


# --- strings.format and unsorted_segment_join (TensorFlow's kernel tests and
# documented examples as the oracle) -------------------------------------------

def test_format_writes_tensors_as_tensorflow():
    fmt = kiln.strings.format
    text = lambda t: t.numpy().decode()  # noqa: E731
    r10, r100 = kiln.range(10), kiln.reshape(kiln.range(100), [10, 10])
    assert text(fmt("{}", r10)) == "[0 1 2 ... 7 8 9]"
    assert text(fmt("{}", [r10])) == "[0 1 2 ... 7 8 9]"
    assert text(fmt("{}", [kiln.Variable(3.34)])) == "3.34"
    assert text(fmt("{}, {}", [kiln.Variable(2.14) + 1.0, r10])) == "3.14, [0 1 2 ... 7 8 9]"
    floats = kiln.constant([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    assert text(fmt("{}", floats)) == "[0 0.1 0.2 ... 0.5 0.6 0.7]"
    r6 = kiln.range(6)
    for summarize, expected in [(3, "[0 1 2 3 4 5]"), (-1, "[0 1 2 3 4 5]"),
                                (1, "[0 ... 5]"), (2, "[0 1 ... 4 5]"), (10, "[0 1 2 3 4 5]")]:
        assert text(fmt("{}", r6, summarize=summarize)) == expected
    assert text(fmt("{}", kiln.range(5), summarize=3)) == "[0 1 2 3 4]"
    # TensorFlow's SummarizeValue caps summarize by the element count and
    # prints that many at each end: summarize=0 leaves "..." alone (a
    # scalar too), and an empty tensor with rows elides them.
    assert text(fmt("{}", kiln.range(3), summarize=0)) == "[ ...]"
    assert text(fmt("{}", kiln.constant(5), summarize=0)) == "..."
    assert text(fmt("{}", kiln.reshape(kiln.range(4), [2, 2]), summarize=0)) == "[\n ...]"
    assert text(fmt("{}", kiln.zeros([0]))) == "[]"
    assert text(fmt("{}", kiln.zeros([2, 0]))) == "[\n ...]"
    assert text(fmt("{}", kiln.zeros([0, 3]), summarize=-1)) == "[]"
    assert text(fmt("{}", kiln.reshape(kiln.range(4), [2, 2]))) == "[[0 1]\n [2 3]]"
    assert text(fmt("tensor summary: {}, suffix", r100)) == (
        "tensor summary: [[0 1 2 ... 7 8 9]\n [10 11 12 ... 17 18 19]\n"
        " [20 21 22 ... 27 28 29]\n ...\n [70 71 72 ... 77 78 79]\n"
        " [80 81 82 ... 87 88 89]\n [90 91 92 ... 97 98 99]], suffix")
    assert text(fmt("tensor summary: {}", r100, summarize=1)) == \
        "tensor summary: [[0 ... 9]\n ...\n [90 ... 99]]"
    assert text(fmt("{}", r100, summarize=2)) == (
        "[[0 1 ... 8 9]\n [10 11 ... 18 19]\n ...\n [80 81 ... 88 89]\n [90 91 ... 98 99]]")
    three = text(fmt("{}", kiln.reshape(kiln.range(1000), [10, 10, 10])))
    assert three.startswith("[[[0 1 2 ... 7 8 9]\n  [10 11 12 ... 17 18 19]\n")
    assert "  [90 91 92 ... 97 98 99]]\n\n [[100 101 102 ... 107 108 109]\n" in three
    assert "]]\n\n ...\n\n [[700 701" in three and three.endswith("[990 991 992 ... 997 998 999]]]")
    assert text(fmt("tensor summary: %t%", r6, placeholder="%t%")) == \
        "tensor summary: [0 1 2 3 4 5]"
    assert text(fmt("No tensor.", ())) == "No tensor."
    assert text(fmt("😊:{}", kiln.constant("😊"))) == '😊:"😊"'
    assert text(fmt("{}", kiln.constant(["a", "b"]))) == '["a" "b"]'
    with pytest.raises(ValueError, match="expects 2 tensors, but the inputs have 1"):
        fmt("{} {}", r10)
    with pytest.raises(ValueError, match="expects 1 tensors, but the inputs have 2"):
        fmt("{}", (r10, r10))


def test_unsorted_segment_join_as_tensorflow_documents():
    join = kiln.strings.unsorted_segment_join
    out = join(["this", "a", "test", "is"], [0, 1, 1, 0], 2, " ")
    assert out.numpy().tolist() == [b"this is", b"a test"]
    out = join([["Y", "q", "c"], ["Y", "6", "6"], ["p", "G", "a"]], [1, 0, 1], 2, separator=":")
    assert out.numpy().tolist() == [[b"Y", b"6", b"6"], [b"Y:p", b"q:G", b"c:a"]]
    # Empty segments are empty strings; negative ids drop their strings.
    out = join(kiln.constant(["x", "y", "z"]), kiln.constant([2, -1, 2]), 4, "+")
    assert out.numpy().tolist() == [b"", b"", b"x+z", b""]
    with pytest.raises(errors.InvalidArgumentError, match="not below num_segments = 2"):
        join(["a", "b"], [0, 2], 2)
    with pytest.raises(errors.InvalidArgumentError, match="must be a prefix"):
        join(["a", "b"], [0, 1, 1], 2)


def test_format_numbers_and_strings_as_tensorflow_summaries():
    """FloatToBuffer's round trip (%.6g, else %.9g; doubles %.15g / %.17g)
    and Utf8SafeCEscape for strings."""
    text = lambda t: t.numpy().decode()  # noqa: E731
    fmt = kiln.strings.format
    assert text(fmt("{}", kiln.constant(1 / 3))) == "0.333333343"
    assert text(fmt("{}", kiln.constant(123456789.0))) == "123456792"
    assert text(fmt("{}", kiln.constant(1 / 3, "float64"))) == "0.33333333333333331"
    assert text(fmt("{}", kiln.constant(np.float16(0.1)))) == "0.0999755859"
    assert text(fmt("{}", kiln.constant([1.5, -np.inf, np.nan]))) == "[1.5 -inf nan]"
    assert text(fmt("{}", kiln.constant(["a\nb", 'q"x', "\\"]))) == \
        '["a\\nb" "q\\"x" "\\\\"]'
    assert text(fmt("{}", kiln.constant([1 + 2j]))) == "[?]"
