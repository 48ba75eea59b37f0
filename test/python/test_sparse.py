"""kiln.sparse (tf.sparse) and the sparse embedding lookups. Oracles:
NumPy on the dense equivalents, finite differences for gradients."""

import numpy as np
import pytest

import kiln
from kiln import errors

from conftest import central

RNG = np.random.default_rng(3)
SP = kiln.sparse


def random_sparse(shape, nnz):
    flat = RNG.choice(int(np.prod(shape)), nnz, replace=False)
    index = np.stack(np.unravel_index(flat, shape), 1).astype(np.int64)
    values = RNG.standard_normal(nnz).astype(np.float32)
    dense = np.zeros(shape, np.float32)
    dense[tuple(index.T)] = values
    return kiln.SparseTensor(index, values, shape), dense


def test_dense_round_trip_and_validation():
    sp, dense = random_sparse((4, 5), 7)
    np.testing.assert_array_equal(SP.to_dense(sp).numpy(), dense)
    np.testing.assert_array_equal(sp.numpy(), dense)
    back = SP.from_dense(dense)
    np.testing.assert_array_equal(back.indices.numpy(), np.argwhere(dense != 0))
    np.testing.assert_array_equal(SP.to_dense(back).numpy(), dense)
    filled = SP.to_dense(sp, default_value=-1.0).numpy()
    np.testing.assert_array_equal(filled, np.where(dense != 0, dense, -1))
    flags = kiln.SparseTensor([[1]], [True], [3])
    assert SP.to_dense(flags).numpy().tolist() == [False, True, False]
    with pytest.raises(errors.InvalidArgumentError, match=r"index \[2, 0\] is outside"):
        kiln.SparseTensor([[2, 0]], [1.0], [2, 2])
    with pytest.raises(errors.InvalidArgumentError, match="indices must be"):
        kiln.SparseTensor([1, 0], [1.0], [2, 2])
    twice = kiln.SparseTensor([[0, 0], [0, 0]], [1.0, 2.0], [1, 1])
    with pytest.raises(errors.InvalidArgumentError, match="indices repeat"):
        SP.to_dense(twice)
    assert SP.to_dense(twice, validate_indices=False).numpy().tolist() == [[3.0]]


def test_structural_ops_match_numpy():
    sp, dense = random_sparse((3, 4, 2), 9)
    shuffled = kiln.SparseTensor(sp.indices.numpy()[::-1].copy(), sp.values.numpy()[::-1].copy(),
                                 sp.shape)
    ordered = SP.reorder(shuffled)
    linear = np.ravel_multi_index(tuple(ordered.indices.numpy().T), dense.shape)
    assert (np.diff(linear) > 0).all()
    np.testing.assert_array_equal(SP.to_dense(ordered).numpy(), dense)
    np.testing.assert_array_equal(SP.transpose(sp, [2, 0, 1]).numpy(),
                                  dense.transpose(2, 0, 1))
    np.testing.assert_array_equal(SP.reshape(sp, [6, -1]).numpy(), dense.reshape(6, -1))
    np.testing.assert_array_equal(SP.expand_dims(sp, 1).numpy(), dense[:, None])
    other, dense2 = random_sparse((3, 2, 2), 4)
    np.testing.assert_array_equal(SP.concat(1, [sp, other]).numpy(),
                                  np.concatenate([dense, dense2], 1))
    np.testing.assert_allclose(SP.reduce_sum(sp).numpy(), dense.sum(), rtol=1e-6)
    np.testing.assert_allclose(SP.reduce_sum(sp, axis=1).numpy(), dense.sum(1), rtol=1e-6)
    present = np.where(SP.to_dense(sp, default_value=-np.inf).numpy() == -np.inf, -np.inf,
                       dense)
    want = present.max(2)
    want[want == -np.inf] = 0     # (TensorFlow: a slice with no entries reduces to 0)
    np.testing.assert_array_equal(SP.reduce_max(sp, axis=2).numpy(), want)
    np.testing.assert_array_equal(SP.add(sp, dense).numpy(), 2 * dense)
    summed = SP.add(sp, sp)
    np.testing.assert_array_equal(summed.numpy(), 2 * dense)
    cancel = SP.add(sp, -sp, threshold=1e-9)
    assert cancel.indices.shape[0] == 0
    kept = SP.retain(sp, np.arange(9) % 2 == 0)
    assert kept.values.numpy().tolist() == sp.values.numpy()[::2].tolist()
    np.testing.assert_array_equal((sp * 2.0).numpy(), dense * 2)
    np.testing.assert_array_equal(SP.eye(3, 4).numpy(), np.eye(3, 4))
    with pytest.raises(errors.InvalidArgumentError, match="differ off axis 0"):
        SP.concat(0, [sp, other])


def test_sparse_dense_matmul_values_and_gradients():
    sp, dense = random_sparse((5, 6), 11)
    b = RNG.standard_normal((6, 3)).astype(np.float32)
    np.testing.assert_allclose(SP.sparse_dense_matmul(sp, b).numpy(), dense @ b, rtol=1e-5,
                               atol=1e-6)
    bt = RNG.standard_normal((5, 2)).astype(np.float32)
    np.testing.assert_allclose(SP.sparse_dense_matmul(sp, bt, adjoint_a=True).numpy(),
                               dense.T @ bt, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(SP.sparse_dense_matmul(sp, b.T, adjoint_b=True).numpy(),
                               dense @ b, rtol=1e-5, atol=1e-6)
    values0 = sp.values.numpy().astype(np.float64)
    b64 = b.astype(np.float64)

    def loss(values, right):
        out = SP.sparse_dense_matmul(sp.with_values(values), right)
        return kiln.reduce_sum(kiln.square(out))
    v, w = kiln.Variable(values0), kiln.Variable(b64)
    with kiln.GradientTape() as tape:
        value = loss(v.value(), w.value())
    gv, gw = tape.gradient(value, [v, w])
    np.testing.assert_allclose(gv.numpy(), central(
        lambda x: float(loss(kiln.constant(x), kiln.constant(b64)).numpy()), values0), rtol=1e-6)
    np.testing.assert_allclose(gw.numpy(), central(
        lambda x: float(loss(kiln.constant(values0), kiln.constant(x)).numpy()), b64),
        rtol=1e-6)
    with pytest.raises(errors.InvalidArgumentError, match="do not fit"):
        SP.sparse_dense_matmul(sp, b.T)


def test_sparse_tensors_cross_compiled_functions():
    traces = []

    @kiln.function
    def step(s, w):
        traces.append(1)
        return SP.sparse_dense_matmul(s, w), SP.reorder(s)
    sp, dense = random_sparse((4, 3), 5)
    w = RNG.standard_normal((3, 2)).astype(np.float32)
    out, ordered = step(sp, w)
    np.testing.assert_allclose(out.numpy(), dense @ w, rtol=1e-5, atol=1e-6)
    assert isinstance(ordered, kiln.SparseTensor)
    np.testing.assert_array_equal(ordered.numpy(), dense)
    other, dense2 = random_sparse((4, 3), 5)
    np.testing.assert_allclose(step(other, w)[0].numpy(), dense2 @ w, rtol=1e-5, atol=1e-6)
    assert len(traces) == 1
    wide, dense3 = random_sparse((6, 3), 5)   # (a new dense shape retraces)
    np.testing.assert_allclose(step(wide, w)[0].numpy(), dense3 @ w, rtol=1e-5, atol=1e-6)
    assert len(traces) == 2
    fewer, dense4 = random_sparse((4, 3), 2)  # (another number of entries: a new trace)
    out, ordered = step(fewer, w)
    np.testing.assert_allclose(out.numpy(), dense4 @ w, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ordered.numpy(), dense4)
    assert len(traces) == 3
    none, _ = random_sparse((4, 3), 0)  # (no entries at all)
    np.testing.assert_array_equal(step(none, w)[0].numpy(), np.zeros((4, 2), np.float32))
    chosen = kiln.function(lambda s, x: SP.to_dense(kiln.cond(x > 0, lambda: s,
                                                              lambda: s * 3.0)))
    np.testing.assert_allclose(chosen(fewer, kiln.constant(-1.0)).numpy(), 3 * dense4)
    np.testing.assert_allclose(chosen(sp, kiln.constant(1.0)).numpy(), dense)
    # Sparse work inside both branches of a cond (a review finding).
    wv = kiln.Variable(np.ones((3, 2), np.float32))
    inside = kiln.function(lambda s, p: kiln.cond(
        p, lambda: SP.sparse_dense_matmul(s, wv), lambda: kiln.zeros([4, 2])))
    np.testing.assert_allclose(inside(sp, kiln.constant(True)).numpy(), dense @ np.ones((3, 2)),
                               rtol=1e-5)
    checked = kiln.function(lambda s: SP.to_dense(s))
    np.testing.assert_array_equal(checked(fewer).numpy(), dense4)
    with pytest.raises(errors.InvalidArgumentError, match="indices repeat"):
        checked(kiln.SparseTensor([[0, 0], [0, 0], [1, 1]], [1.0, 2.0, 3.0], [4, 3]))

    @kiln.function
    def dense_of(x):
        return SP.from_dense(x)
    with pytest.raises(errors.UnimplementedError, match="runs eagerly only"):
        dense_of(dense)


def test_embedding_lookup_sparse_combiners():
    params = RNG.standard_normal((6, 4)).astype(np.float32)
    ids = kiln.SparseTensor([[0, 0], [0, 1], [0, 2], [2, 0]], [1, 3, 1, 5], [3, 3])
    weights = kiln.SparseTensor(ids.indices, [0.5, 2.0, 1.0, 3.0], [3, 3])
    w = weights.values.numpy()
    rows0 = params[[1, 3, 1]] * w[:3, None]
    want = {"sum": [rows0.sum(0), np.zeros(4), params[5] * 3.0],
            "mean": [rows0.sum(0) / w[:3].sum(), np.zeros(4), params[5]],
            "sqrtn": [rows0.sum(0) / np.sqrt((w[:3] ** 2).sum()), np.zeros(4),
                      params[5] * 3.0 / 3.0]}
    for combiner, expected in want.items():
        got = kiln.nn.embedding_lookup_sparse(params, ids, weights, combiner=combiner)
        np.testing.assert_allclose(got.numpy(), np.array(expected), rtol=1e-5, atol=1e-6,
                                   err_msg=combiner)
    plain = kiln.nn.embedding_lookup_sparse(params, ids, None, combiner="mean")
    np.testing.assert_allclose(plain.numpy()[0], params[[1, 3, 1]].mean(0), rtol=1e-5)
    bad = kiln.SparseTensor([[0, 0], [0, 1], [1, 0]], [2, -1, -4], [2, 2])
    safe = kiln.nn.safe_embedding_lookup_sparse(params, bad, default_id=4)
    np.testing.assert_allclose(safe.numpy(), [params[2], params[4]], rtol=1e-6)
    with pytest.raises(ValueError, match="combiner"):
        kiln.nn.embedding_lookup_sparse(params, ids, None, combiner="max")


def test_review_cases_empty_strings_and_embeddings():
    empty = kiln.SparseTensor(np.zeros((0, 2), np.int64), np.zeros(0, np.float32), [2, 3])
    np.testing.assert_array_equal(SP.to_dense(empty).numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(SP.sparse_dense_matmul(empty, np.ones((3, 2), np.float32)
                                                         ).numpy(), np.zeros((2, 2)))
    words = kiln.SparseTensor([[0, 1], [1, 0]], ["b", "c"], [2, 2])
    assert SP.to_dense(words).numpy().tolist() == [[b"", b"b"], [b"c", b""]]
    assert SP.to_dense(words, default_value="-").numpy().tolist() == [[b"-", b"b"],
                                                                       [b"c", b"-"]]

    @kiln.function
    def dense(indices):
        return SP.to_dense(kiln.SparseTensor(indices, [1.0, 2.0], [2, 2]))
    np.testing.assert_array_equal(dense(np.array([[0, 0], [1, 1]], np.int64)).numpy(),
                                  [[1, 0], [0, 2]])
    with pytest.raises(errors.InvalidArgumentError, match="indices repeat"):
        dense(np.array([[0, 0], [0, 0]], np.int64))
    params = RNG.standard_normal((4, 3)).astype(np.float32)
    one = kiln.SparseTensor([[0, 0]], [1], [2, 2])
    neg = kiln.SparseTensor([[0, 0]], [-2.0], [2, 2])
    # (TensorFlow's div_no_nan: a negative weight sum still divides)
    np.testing.assert_allclose(kiln.nn.embedding_lookup_sparse(params, one, neg).numpy(),
                               [params[1], np.zeros(3)], rtol=1e-6)
    np.testing.assert_allclose(
        kiln.nn.safe_embedding_lookup_sparse(params, one, neg, combiner="sum").numpy(),
        [-2 * params[1], np.zeros(3)], rtol=1e-6)
    np.testing.assert_allclose(kiln.nn.embedding_lookup_sparse([params], one, None).numpy(),
                               [params[1], np.zeros(3)], rtol=1e-6)
    deep = kiln.SparseTensor([[0, 1, 0], [1, 0, 0], [1, 0, 1]], [2, 1, 3], [2, 2, 2])
    got = kiln.nn.safe_embedding_lookup_sparse(params, deep, combiner="sum").numpy()
    assert got.shape == (2, 2, 3)
    np.testing.assert_allclose(got[0, 1], params[2], rtol=1e-6)
    np.testing.assert_allclose(got[1, 0], params[1] + params[3], rtol=1e-6)
    np.testing.assert_array_equal(got[0, 0], 0)


def test_embedding_and_to_dense_gradients_against_finite_differences():
    params0 = RNG.standard_normal((5, 3))
    weights0 = np.array([0.5, 2.0, -1.0, 1.5])
    ids = kiln.SparseTensor([[0, 0], [0, 1], [2, 0], [2, 1]], [1, 3, 1, 4], [3, 2])
    mix = RNG.standard_normal((3, 3))

    def loss(params, weights, combiner):
        sp_weights = kiln.SparseTensor(ids.indices, weights, [3, 2])
        out = kiln.nn.embedding_lookup_sparse(params, ids, sp_weights, combiner=combiner,
                                              max_norm=1.5)
        dense = SP.to_dense(sp_weights, default_value=0.25)
        return kiln.reduce_sum(out * mix) + kiln.reduce_sum(dense * dense)
    for combiner in ("sum", "mean", "sqrtn"):
        p, w = kiln.Variable(params0), kiln.Variable(weights0)
        with kiln.GradientTape() as tape:
            value = loss(p.value(), w.value(), combiner)
        gp, gw = tape.gradient(value, [p, w])
        np.testing.assert_allclose(gp.numpy(), central(
            lambda v: float(loss(kiln.constant(v), kiln.constant(weights0), combiner).numpy()),
            params0), rtol=1e-5, atol=1e-7, err_msg=combiner)
        np.testing.assert_allclose(gw.numpy(), central(
            lambda v: float(loss(kiln.constant(params0), kiln.constant(v), combiner).numpy()),
            weights0), rtol=1e-5, atol=1e-7, err_msg=combiner)


# --- Keras preprocessing with sparse=True, Dense on SparseTensor inputs --------

def test_preprocessing_layers_give_sparse_outputs():
    L = kiln.keras.layers
    # Keras' documented examples, their dense values as the oracle.
    out = L.CategoryEncoding(num_tokens=4, output_mode="multi_hot", sparse=True)(
        kiln.constant([[0, 1], [0, 0], [1, 2], [3, 1]]))
    assert isinstance(out, kiln.SparseTensor)
    assert SP.to_dense(out).numpy().tolist() == \
        [[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0], [0, 1, 0, 1]]
    counts = L.StringLookup(vocabulary=["a", "b", "c", "d"], output_mode="count", sparse=True)(
        kiln.constant([["a", "c", "d", "d"], ["d", "z", "b", "z"]]))
    assert SP.to_dense(counts).numpy().tolist() == [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]]
    hot = L.IntegerLookup(vocabulary=[12, 36, 1138, 42], output_mode="one_hot", sparse=True)(
        kiln.constant([12, 36, 1138, 42, 7]))
    assert SP.to_dense(hot).numpy().tolist() == [[0, 1, 0, 0, 0], [0, 0, 1, 0, 0],
                                                 [0, 0, 0, 1, 0], [0, 0, 0, 0, 1],
                                                 [1, 0, 0, 0, 0]]
    hashed = L.Hashing(num_bins=3, output_mode="multi_hot", sparse=True)(
        kiln.constant([["A", "B"], ["C", "D"]]))
    dense = L.Hashing(num_bins=3, output_mode="multi_hot")(kiln.constant([["A", "B"],
                                                                          ["C", "D"]]))
    np.testing.assert_array_equal(SP.to_dense(hashed).numpy(), dense.numpy())
    with pytest.raises(ValueError, match="sparse=True needs output_mode"):
        L.StringLookup(vocabulary=["a"], sparse=True)
    encode = L.CategoryEncoding(num_tokens=3, output_mode="count", sparse=True)
    with pytest.raises(errors.InvalidArgumentError, match="sparse=True outputs are made eagerly"):
        kiln.function(lambda ids: encode(ids))(kiln.constant([[0, 2]]))


def test_dense_layer_on_sparse_inputs():
    sp = random_sparse((5, 7), 9)[0]
    x = SP.to_dense(sp).numpy()
    dense = kiln.keras.layers.Dense(3, activation="tanh")
    out = dense(sp).numpy()
    kernel, bias = dense.kernel.numpy(), dense.bias.numpy()
    np.testing.assert_allclose(out, np.tanh(x @ kernel + bias), rtol=1e-5, atol=1e-6)
    compiled = kiln.function(lambda s: dense(s))
    np.testing.assert_allclose(compiled(sp).numpy(), out, rtol=1e-5, atol=1e-6)
    with kiln.GradientTape() as tape:
        y = kiln.reduce_sum(dense(sp))
    grad = tape.gradient(y, dense.kernel).numpy()
    np.testing.assert_allclose(grad, x.T @ (1 - np.tanh(x @ kernel + bias) ** 2),
                               rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="must be 2-D"):
        kiln.keras.layers.Dense(2)(random_sparse((2, 3, 4), 3)[0])


def test_text_vectorization_sparse_and_dense_layer_casts():
    L = kiln.keras.layers
    for split in ("whitespace", None):
        tv = L.TextVectorization(output_mode="tf_idf", sparse=True, vocabulary=["a", "b", "c"],
                                 idf_weights=[1.0, 2.0, 3.0], split=split)
        dense = L.TextVectorization(output_mode="tf_idf", vocabulary=["a", "b", "c"],
                                    idf_weights=[1.0, 2.0, 3.0], split=split)
        texts = kiln.constant(["a b b", "c z"] if split else ["b", "z"])
        out = tv(texts)
        assert isinstance(out, kiln.SparseTensor) and out.dtype == kiln.float32
        np.testing.assert_allclose(SP.to_dense(out).numpy(), dense(texts).numpy())
    counts = kiln.SparseTensor([[0, 1], [1, 2]], kiln.constant([2, 1]), [2, 3])
    layer = L.Dense(2, use_bias=False)
    out = layer(counts)
    assert out.dtype == kiln.float32
    np.testing.assert_allclose(out.numpy(), SP.to_dense(counts).numpy().astype(np.float32)
                               @ layer.kernel.numpy(), rtol=1e-6)
