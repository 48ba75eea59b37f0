"""kiln.lookup tables. Oracles: the outputs of TensorFlow's documented
examples (StaticVocabularyTable's farmhash buckets) and Python dicts."""

import numpy as np
import pytest

import kiln
from kiln import errors

L = kiln.lookup


def band():
    return L.KeyValueTensorInitializer(kiln.constant(["emerson", "lake", "palmer"]),
                                       kiln.constant([0, 1, 2], kiln.int64))


def test_static_vocabulary_table_tensorflow_examples(tmp_path):
    table = L.StaticVocabularyTable(band(), num_oov_buckets=5)
    words = kiln.constant(["emerson", "lake", "palmer", "king", "crimson"])
    assert table[words].numpy().tolist() == [0, 1, 2, 6, 7]
    assert int(table.size()) == 8
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(["emerson", "lake", "palmer", "crimnson"]))
    init = L.TextFileInitializer(str(path), kiln.string, L.TextFileIndex.WHOLE_LINE,
                                 kiln.int64, L.TextFileIndex.LINE_NUMBER)
    table = L.StaticVocabularyTable(init, 3)
    query = ["palmer", "crimnson", "king", "tarkus", "black", "moon"]
    assert table.lookup(kiln.constant(query)).numpy().tolist() == [2, 3, 5, 6, 6, 4]
    shifted = L.KeyValueTensorInitializer(kiln.constant(["emerson", "lake", "palmer"]),
                                          kiln.constant([1, 2, 3], kiln.int64))
    collide = L.StaticVocabularyTable(shifted, num_oov_buckets=1)
    assert collide[kiln.constant(["emerson", "lake", "palmer", "king"])].numpy().tolist() == \
        [1, 2, 3, 3]
    # Integer keys hash their decimal strings (TensorFlow's as_string).
    ints = L.StaticVocabularyTable(L.KeyValueTensorInitializer(
        kiln.constant([10, 20], kiln.int64), kiln.constant([0, 1], kiln.int64)), 7)
    want = 2 + kiln.strings.to_hash_bucket_fast(["30", "-5"], 7).numpy()
    assert ints.lookup(kiln.constant([20, 30, -5], kiln.int64)).numpy().tolist() == \
        [1] + want.tolist()
    with pytest.raises(TypeError, match="values must be int64"):
        L.StaticVocabularyTable(L.KeyValueTensorInitializer(["a"], [1]), 2)


def test_static_hash_table_numeric_compiles_and_strings_on_the_host(tmp_path):
    keys = np.array([50, -3, 7, 1000, 12], np.int64)
    values = np.array([0.5, -1.5, 7.25, 1.0, 12.5], np.float32)
    table = L.StaticHashTable(L.KeyValueTensorInitializer(keys, values), -1.0)
    query = np.array([[7, 8], [1000, -3], [50, 13]], np.int64)
    mapping = dict(zip(keys.tolist(), values.tolist()))
    want = np.vectorize(lambda k: mapping.get(k, -1.0))(query)
    np.testing.assert_array_equal(table.lookup(query).numpy(), want)

    @kiln.function
    def twice(x):
        return table.lookup(x) * 2.0
    np.testing.assert_array_equal(twice(query).numpy(), want * 2)
    k, v = table.export()
    assert sorted(k.numpy().tolist()) == sorted(keys.tolist()) and int(table.size()) == 5
    names = L.StaticHashTable(L.KeyValueTensorInitializer(["a", "b"], ["x", "y"]), "?")
    assert names.lookup(["b", "c", "a"]).numpy().tolist() == [b"y", b"?", b"x"]
    ids = L.StaticHashTable(L.KeyValueTensorInitializer(["a", "b"], [3, 4]), -1)
    sparse = kiln.SparseTensor([[0, 1], [1, 0]], ["b", "z"], [2, 2])
    assert ids.lookup(sparse).values.numpy().tolist() == [4, -1]
    path = tmp_path / "table.tsv"
    path.write_text("cat\t3\ndog\t5\n")
    columns = L.StaticHashTable(L.TextFileInitializer(str(path), kiln.string, 0, kiln.int64, 1),
                                0)
    assert columns.lookup(["dog", "cat", "eel"]).numpy().tolist() == [5, 3, 0]
    with pytest.raises(errors.InvalidArgumentError, match="keys repeat"):
        L.StaticHashTable(L.KeyValueTensorInitializer([1, 1], [2, 3]), 0)
    with pytest.raises(errors.InvalidArgumentError, match="no key column 2"):
        L.TextFileInitializer(str(path), kiln.string, 2, kiln.int64, 1)


def test_mutable_hash_table_against_a_dict():
    table = L.experimental.MutableHashTable(kiln.string, kiln.int64, -1)
    reference = {}
    rng = np.random.default_rng(2)
    for step in range(20):
        keys = [f"k{v}" for v in rng.integers(0, 8, 3)]
        if step % 3 == 2:
            table.remove(keys)
            for k in keys:
                reference.pop(k, None)
        else:
            values = rng.integers(0, 100, 3)
            table.insert(keys, kiln.constant(values, kiln.int64))
            reference.update(zip(keys, values.tolist()))
    query = [f"k{v}" for v in range(10)]
    assert table.lookup(query).numpy().tolist() == [reference.get(k, -1) for k in query]
    assert int(table.size()) == len(reference)
    keys, values = table.export()
    assert dict(zip([k.decode() for k in keys.numpy().tolist()],
                    values.numpy().tolist())) == reference


def test_review_cases_lookup():
    with pytest.raises(TypeError, match="keys must be integers or strings"):
        L.StaticHashTable(L.KeyValueTensorInitializer([1.5, 2.5], [10, 20]), 0)
    empty = L.StaticHashTable(L.KeyValueTensorInitializer(
        np.zeros(0, np.int64), np.zeros(0, dtype=object).astype("U1")), "?")
    assert empty.lookup(np.array([1, 2], np.int64)).numpy().tolist() == [b"?", b"?"]
