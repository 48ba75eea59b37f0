"""Kiln's ops on RaggedTensors (TensorFlow's ragged dispatch): elementwise
ops, reductions, concat, gather, indexing, embedding lookups, datasets and
@kiln.function arguments. Oracles: NumPy row by row, the outputs
TensorFlow's ragged guide documents, finite differences for gradients."""

import numpy as np
import pytest

import kiln
from kiln import errors

from conftest import central

RNG = np.random.default_rng(11)

DIGITS = [[3, 1, 4, 1], [], [5, 9, 2], [6], []]


def random_rows(lengths, inner=()):
    return [RNG.standard_normal((n,) + inner) for n in lengths]


def ragged(rows, dtype=np.float32):
    values = np.concatenate(rows).astype(dtype)
    return kiln.RaggedTensor.from_row_lengths(kiln.constant(values), [len(r) for r in rows])


def columns(rows):
    width = max(len(r) for r in rows)
    return [np.array([r[j] for r in rows if len(r) > j]) for j in range(width)]


# --- TensorFlow's documented examples (the ragged tensor guide) --------------

def test_tensorflow_guide_examples():
    digits = kiln.ragged.constant(DIGITS)
    assert kiln.add(digits, 3).to_list() == [[6, 4, 7, 4], [], [8, 12, 5], [9], []]
    assert kiln.reduce_max(digits, axis=1).numpy().tolist() == \
        [4, -2147483648, 9, 6, -2147483648]
    mean = kiln.reduce_mean(digits, axis=1).numpy()
    np.testing.assert_allclose(mean, [2.25, np.nan, 16 / 3, 6.0, np.nan])
    assert kiln.concat([digits, kiln.ragged.constant([[5, 3]])], axis=0).to_list() == \
        DIGITS + [[5, 3]]
    assert digits[:, :2].to_list() == [[3, 1], [], [5, 9], [6], []]
    assert digits[:, -2:].to_list() == [[4, 1], [], [9, 2], [6], []]
    assert (digits + kiln.ragged.constant([[1, 2, 3, 4], [], [5, 6, 7], [8], []])).to_list() \
        == [[4, 3, 7, 5], [], [10, 15, 9], [14], []]
    assert (digits * 2).to_list() == [[6, 2, 8, 2], [], [10, 18, 4], [12], []]
    # Broadcasting with dense tensors.
    x = kiln.ragged.constant([[10, 87, 12], [19, 53], [12, 32]])
    assert (x + kiln.constant([[1000], [2000], [3000]])).to_list() == \
        [[1010, 1087, 1012], [2019, 2053], [3012, 3032]]
    x = kiln.ragged.constant([[[1, 2], [3, 4], [5, 6]], [[7, 8]]], ragged_rank=1)
    assert (x + kiln.constant([[10]])).to_list() == \
        [[[11, 12], [13, 14], [15, 16]], [[17, 18]]]


# --- Elementwise ops against NumPy, row by row -------------------------------

@pytest.mark.parametrize("name", ["exp", "abs", "square", "tanh", "sigmoid", "floor",
                                  "negative", "math.log1p", "math.softplus", "nn.relu"])
def test_unary_ops_keep_rows(name):
    rows = [np.abs(r) + 0.1 if name == "math.log1p" else r for r in random_rows([2, 0, 3, 1])]
    op = kiln
    for part in name.split("."):
        op = getattr(op, part)
    oracle = {"exp": np.exp, "abs": np.abs, "square": np.square, "tanh": np.tanh,
              "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "floor": np.floor,
              "negative": np.negative, "math.log1p": np.log1p,
              "math.softplus": lambda v: np.log1p(np.exp(v)),
              "nn.relu": lambda v: np.maximum(v, 0)}[name]
    out = op(ragged(rows))
    assert isinstance(out, kiln.RaggedTensor)
    for got, row in zip(out.to_list(), rows):
        np.testing.assert_allclose(got, oracle(row.astype(np.float32)), rtol=1e-5, atol=1e-6)


def test_binary_ops_and_operators():
    a_rows, b_rows = random_rows([3, 0, 2]), random_rows([3, 0, 2])
    a, b = ragged(a_rows), ragged(b_rows)
    cases = [(a + b, np.add), (a - b, np.subtract), (a * b, np.multiply),
             (a / b, np.divide), (kiln.maximum(a, b), np.maximum),
             (kiln.math.squared_difference(a, b), lambda x, y: (x - y) ** 2),
             (a < b, np.less), (a >= b, np.greater_equal), (a == b, np.equal)]
    for got, oracle in cases:
        for g, x, y in zip(got.to_list(), a_rows, b_rows):
            np.testing.assert_allclose(np.asarray(g, np.float64),
                                       oracle(x.astype(np.float32), y.astype(np.float32)),
                                       rtol=1e-5)
    # Scalars and dense operands on either side.
    for g, x in zip((2.0 - a).to_list(), a_rows):
        np.testing.assert_allclose(g, 2 - x.astype(np.float32), rtol=1e-6)
    per_row = np.array([[1.0], [2.0], [3.0]], np.float32)
    for g, x, s in zip((kiln.constant(per_row) * a).to_list(), a_rows, per_row[:, 0]):
        np.testing.assert_allclose(g, s * x.astype(np.float32), rtol=1e-6)
    out = kiln.where(a > 0, a, kiln.zeros_like(a))
    for g, x in zip(out.to_list(), a_rows):
        np.testing.assert_allclose(g, np.maximum(x, 0).astype(np.float32))
    assert kiln.cast(kiln.ragged.constant([[1.5], [2.5, -1.5]]), "int32").to_list() == \
        [[1], [2, -1]]
    clipped = kiln.clip_by_value(a, -0.5, 0.5)
    for g, x in zip(clipped.to_list(), a_rows):
        np.testing.assert_allclose(g, np.clip(x.astype(np.float32), -0.5, 0.5))


def test_inner_dimensions_broadcast():
    rows = random_rows([2, 1, 3], (4,))
    rt = ragged(rows)
    assert rt.shape == (3, None, 4)
    scale = RNG.standard_normal(4).astype(np.float32)
    for g, x in zip((rt * kiln.constant(scale)).to_list(), rows):
        np.testing.assert_allclose(g, x.astype(np.float32) * scale, rtol=1e-6)
    per_row = RNG.standard_normal((3, 1, 4)).astype(np.float32)
    for g, x, p in zip((rt + kiln.constant(per_row)).to_list(), rows, per_row):
        np.testing.assert_allclose(g, x.astype(np.float32) + p, rtol=1e-6)


# --- Reductions ---------------------------------------------------------------

REDUCTIONS = [("reduce_sum", np.sum, 0.0), ("reduce_max", np.max, np.finfo(np.float32).min),
              ("reduce_min", np.min, np.finfo(np.float32).max),
              ("reduce_prod", np.prod, 1.0), ("reduce_mean", np.mean, np.nan)]


@pytest.mark.parametrize("name,oracle,empty", REDUCTIONS)
def test_reductions_along_each_axis(name, oracle, empty):
    rows = random_rows([3, 0, 1, 4])
    rt = ragged(rows)
    f32 = [r.astype(np.float32) for r in rows]
    op = getattr(kiln, name) if hasattr(kiln, name) else getattr(kiln.math, name)
    by_row = op(rt, axis=1).numpy()
    np.testing.assert_allclose(by_row, [oracle(r) if len(r) else empty for r in f32],
                               rtol=1e-5)
    np.testing.assert_allclose(op(rt, axis=-1, keepdims=True).numpy(), by_row[:, None],
                               rtol=1e-6)
    np.testing.assert_allclose(op(rt, axis=0).numpy(), [oracle(c) for c in columns(f32)],
                               rtol=1e-5)
    np.testing.assert_allclose(op(rt).numpy(), oracle(np.concatenate(f32)), rtol=1e-5)


def test_reductions_with_inner_axes_and_booleans():
    rows = random_rows([2, 3, 0], (3,))
    rt = ragged(rows)
    f32 = [r.astype(np.float32) for r in rows]
    inner = kiln.reduce_sum(rt, axis=2)
    assert isinstance(inner, kiln.RaggedTensor)
    for g, r in zip(inner.to_list(), f32):
        np.testing.assert_allclose(g, r.sum(1), rtol=1e-5)
    both = kiln.reduce_mean(rt, axis=[1, 2]).numpy()
    np.testing.assert_allclose(both[:2], [r.mean() for r in f32[:2]], rtol=1e-5)
    assert np.isnan(both[2])
    np.testing.assert_allclose(kiln.reduce_max(rt, axis=[0, 1]).numpy(),
                               np.concatenate(f32).max(0), rtol=1e-6)
    flags = kiln.ragged.constant([[True, False], [], [False], [True, True]])
    assert kiln.reduce_any(flags, axis=1).numpy().tolist() == [True, False, False, True]
    assert kiln.reduce_all(flags, axis=1).numpy().tolist() == [False, True, False, True]
    assert kiln.reduce_any(flags, axis=0).numpy().tolist() == [True, True]
    integers = kiln.ragged.constant([[1, 2], [5]])
    assert kiln.reduce_mean(integers, axis=1).numpy().tolist() == [1.5, 5.0]
    np.testing.assert_allclose(kiln.math.reduce_variance(ragged(rows[:2]), axis=1).numpy(),
                               [r.var(0) for r in f32[:2]], rtol=1e-5)


def test_variance_along_each_axis():
    rows = random_rows([2, 4, 1])
    rt = ragged(rows)
    f32 = [r.astype(np.float32) for r in rows]
    np.testing.assert_allclose(kiln.math.reduce_variance(rt, axis=1).numpy(),
                               [r.var() for r in f32], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(kiln.math.reduce_std(rt, axis=0).numpy(),
                               [c.std() for c in columns(f32)], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(kiln.math.reduce_variance(rt).numpy(),
                               np.concatenate(f32).var(), rtol=1e-5)


# --- Structure: concat, gather, indexing, embeddings --------------------------

def test_concat_gather_and_indexing():
    a = kiln.ragged.constant([[1, 2], [], [3]])
    b = kiln.ragged.constant([[4], [5, 6], []])
    assert kiln.concat([a, b], axis=1).to_list() == [[1, 2, 4], [5, 6], [3]]
    assert kiln.concat([a, b], axis=-2).to_list() == [[1, 2], [], [3], [4], [5, 6], []]
    dense = kiln.constant([[7, 8], [9, 10], [11, 12]])
    assert kiln.concat([a, dense], axis=1).to_list() == [[1, 2, 7, 8], [9, 10], [3, 11, 12]]
    assert kiln.gather(b, [1, 1, 0]).to_list() == [[5, 6], [5, 6], [4]]
    assert kiln.gather(b, 1).numpy().tolist() == [5, 6]
    table = kiln.constant([[0.0, 0.5], [1.0, 1.5], [2.0, 2.5]])
    looked = kiln.gather(table, kiln.ragged.constant([[2, 0], [], [1]]))
    assert looked.to_list() == [[[2.0, 2.5], [0.0, 0.5]], [], [[1.0, 1.5]]]
    assert kiln.nn.embedding_lookup(table, kiln.ragged.constant([[1], [0, 2]])).to_list() == \
        [[[1.0, 1.5]], [[0.0, 0.5], [2.0, 2.5]]]
    digits = kiln.ragged.constant(DIGITS)
    assert digits[2, 1].numpy() == 9
    assert digits[::2, 1:].to_list() == [[1, 4, 1], [9, 2], []]
    assert digits[:1, -1].numpy().tolist() == [1]
    assert kiln.size(digits).numpy() == 8
    embedding = kiln.keras.layers.Embedding(10, 3)
    out = embedding(kiln.ragged.constant([[1, 2], [], [9]]))
    assert isinstance(out, kiln.RaggedTensor) and out.shape == (3, None, 3)
    np.testing.assert_array_equal(out[2].numpy()[0], embedding.embeddings.numpy()[9])


def test_errors_name_the_problem():
    a = kiln.ragged.constant([[1.0, 2.0], [3.0]])
    with pytest.raises(errors.InvalidArgumentError, match="different rows"):
        a + kiln.ragged.constant([[1.0], [2.0, 3.0]])
    with pytest.raises(errors.InvalidArgumentError, match=r"shape \[2, 2\] does not broadcast"):
        a + kiln.constant([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(TypeError, match="RaggedTensor is not a dense tensor"):
        kiln.matmul(a, a)
    with pytest.raises(TypeError, match="kiln.where does not take a RaggedTensor"):
        kiln.where(a > 1.0)
    with pytest.raises(errors.InvalidArgumentError, match="axis 2 is out of range"):
        kiln.reduce_sum(a, axis=2)
    with pytest.raises(errors.InvalidArgumentError, match=r"outside \[0, 2\)"):
        kiln.gather(a, [2])
    with pytest.raises(errors.InvalidArgumentError, match="row 1 has 1 values"):
        a[:, 1]
    with pytest.raises(errors.InvalidArgumentError, match="axis 1 joins rows"):
        kiln.concat([a, kiln.ragged.constant([[1.0]])], axis=1)
    with pytest.raises(ValueError, match="ragged_rank=1"):
        kiln.ragged.constant([[[1, 2]], [[3, 4]]])


# --- Gradients -------------------------------------------------------------------

def test_gradients_through_ragged_ops():
    lengths = [3, 0, 2, 1]
    x0 = RNG.standard_normal(sum(lengths))
    weights = RNG.standard_normal((len(lengths), 1))
    col = RNG.standard_normal(3)

    def loss(v, use_numpy=False):
        if use_numpy:
            rows = np.split(v, np.cumsum(lengths)[:-1])
            by_row = np.array([np.sum(np.tanh(r) * w) for r, w in zip(rows, weights[:, 0])])
            maxima = np.array([r.max() if len(r) else 0.0 for r in rows])
            cols = np.array([np.mean([r[j] for r in rows if len(r) > j]) for j in range(3)])
            firsts = np.array([r[:2].prod() for r in rows if len(r)])
            return by_row.sum() + (maxima * [1, 0, 2, 3]).sum() + cols @ col + firsts.sum()
        rt = kiln.RaggedTensor.from_row_lengths(v, lengths)
        by_row = kiln.reduce_sum(kiln.tanh(rt) * kiln.constant(weights), axis=1)
        maxima = kiln.reduce_max(rt, axis=1) * kiln.constant([1.0, 0.0, 2.0, 3.0], "float64")
        cols = kiln.reduce_mean(rt, axis=0)
        nonempty = kiln.gather(rt, [0, 2, 3])[:, :2]
        firsts = kiln.reduce_prod(nonempty, axis=1)
        return kiln.reduce_sum(by_row) + kiln.reduce_sum(maxima) + \
            kiln.reduce_sum(cols * kiln.constant(col)) + kiln.reduce_sum(firsts)

    v = kiln.constant(x0)
    with kiln.GradientTape() as tape:
        tape.watch(v)
        y = loss(v)
    np.testing.assert_allclose(y.numpy(), loss(x0, True), rtol=1e-10)
    np.testing.assert_allclose(tape.gradient(y, v).numpy(),
                               central(lambda z: loss(z, True), x0), rtol=1e-6, atol=1e-8)


def test_concat_rows_gradient():
    a0, b0 = RNG.standard_normal(3), RNG.standard_normal(3)

    def loss(a, b):
        ra = kiln.RaggedTensor.from_row_lengths(a, [2, 1])
        rb = kiln.RaggedTensor.from_row_lengths(b, [1, 2])
        joined = kiln.concat([ra, rb], axis=1)
        return kiln.reduce_sum(kiln.reduce_max(joined, axis=1) * kiln.constant([1.0, 3.0],
                                                                             "float64"))

    def oracle(a, b):
        return max(a[0], a[1], b[0]) + 3 * max(a[2], b[1], b[2])
    a, b = kiln.constant(a0), kiln.constant(b0)
    with kiln.GradientTape() as tape:
        tape.watch([a, b])
        y = loss(a, b)
    ga, gb = tape.gradient(y, [a, b])
    np.testing.assert_allclose(ga.numpy(), central(lambda z: oracle(z, b0), a0), atol=1e-8)
    np.testing.assert_allclose(gb.numpy(), central(lambda z: oracle(a0, z), b0), atol=1e-8)


# --- Functions, datasets and a model -------------------------------------------

def test_ragged_arguments_and_results_of_functions():
    traces = []

    @kiln.function
    def pooled(ids, table):
        traces.append(1)
        vectors = kiln.gather(table, ids)
        return kiln.reduce_mean(vectors, axis=1), vectors * 2.0

    table = RNG.standard_normal((6, 2)).astype(np.float32)
    for lengths in ([2, 1, 3], [1, 3, 4], [0, 0, 1], [1, 1, 1, 1]):
        ids_np = RNG.integers(0, 6, sum(lengths))
        ids = kiln.RaggedTensor.from_row_lengths(kiln.constant(ids_np.astype(np.int32)),
                                                 lengths)
        mean, doubled = pooled(ids, kiln.constant(table))
        rows = np.split(table[ids_np], np.cumsum(lengths)[:-1])
        np.testing.assert_allclose(mean.numpy(), [r.mean(0) if len(r) else [np.nan] * 2
                                                  for r in rows], rtol=1e-6)
        assert isinstance(doubled, kiln.RaggedTensor)
        for g, r in zip(doubled.to_list(), rows):
            np.testing.assert_allclose(np.reshape(g, (-1, 2)), 2 * r, rtol=1e-6)
    # One trace per number of rows and power of two bounding the longest
    # row ([2, 1, 3] and [1, 3, 4]: 3 rows within 4; [0, 0, 1]: within 1;
    # then 4 rows), whatever the lengths.
    assert len(traces) == 3


def test_datasets_of_ragged_tensors():
    ids = kiln.ragged.constant([[1, 2], [3], [], [4, 5, 6]])
    ds = kiln.data.Dataset.from_tensor_slices((ids, kiln.constant([0, 1, 0, 1])))
    first = next(iter(ds))
    assert first[0].numpy().tolist() == [1, 2]
    assert ds.element_spec[0] == kiln.TensorSpec([None], kiln.int32)
    batched = ds.batch(3)
    x, y = next(iter(batched))
    assert isinstance(x, kiln.RaggedTensor) and x.to_list() == [[1, 2], [3], []]
    assert batched.element_spec[0] == kiln.RaggedTensorSpec([3, None], kiln.int32)
    again = [x.to_list() for x, _ in batched.unbatch().shuffle(4, seed=0).batch(2)]
    assert sorted(map(str, sum(again, []))) == sorted(map(str, ids.to_list()))
    doubled = ds.map(lambda a, b: (a * 2, b))
    with pytest.raises(errors.InvalidArgumentError, match="ragged_batch"):
        list(doubled.batch(2))
    out = [x.to_list() for x, _ in doubled.ragged_batch(3)]
    assert out == [[[2, 4], [6], []], [[8, 10, 12]]]
    with pytest.raises(errors.UnimplementedError, match="RaggedTensor elements"):
        batched.save("/tmp/kiln-ragged-never-written")


def test_bag_of_words_model_trains_on_ragged_batches():
    """Embedding -> mean over each row -> Dense, on rows of different
    lengths: a row is class 1 when most of its tokens come from the upper
    half of the vocabulary."""
    rng = np.random.default_rng(5)
    rows, labels = [], []
    for _ in range(256):
        n = int(rng.integers(1, 9))
        label = int(rng.integers(0, 2))
        upper = rng.random(n) < (0.8 if label else 0.2)
        rows.append(np.where(upper, rng.integers(10, 20, n), rng.integers(0, 10, n)))
        labels.append(label)
    ids = kiln.RaggedTensor.from_row_lengths(
        kiln.constant(np.concatenate(rows).astype(np.int32)), [len(r) for r in rows])
    data = kiln.data.Dataset.from_tensor_slices((ids, kiln.constant(labels))).batch(32)
    embed = kiln.keras.layers.Embedding(20, 8)
    head = kiln.keras.layers.Dense(2)
    optimizer = kiln.optimizers.Adam(0.05)
    loss_fn = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)
    for _ in range(4):
        for x, y in data:
            with kiln.GradientTape() as tape:
                logits = head(kiln.reduce_mean(embed(x), axis=1))
                loss = loss_fn(y, logits)
            variables = embed.trainable_variables + head.trainable_variables
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    predicted = kiln.argmax(head(kiln.reduce_mean(embed(ids), axis=1)), axis=1).numpy()
    assert (predicted == np.array(labels)).mean() > 0.85


def test_to_tensor_and_from_tensor_trace_and_differentiate():
    lengths = [2, 0, 3]
    x0 = RNG.standard_normal(5)
    weights = RNG.standard_normal((2, 4))

    def oracle(v):
        padded = np.zeros((2, 4))  # (rows cut to 2, width padded to 4)
        padded[0, :2] = v[:2]
        return ((padded + np.array([[0, 0, 7, 7], [7, 7, 7, 7]])) * weights).sum()

    v = kiln.constant(x0)
    with kiln.GradientTape() as tape:
        tape.watch(v)
        rt = kiln.RaggedTensor.from_row_lengths(v, lengths)
        padded = rt.to_tensor(7.0, shape=[2, 4])
        y = kiln.reduce_sum(padded * kiln.constant(weights))
    np.testing.assert_allclose(y.numpy(), oracle(x0), rtol=1e-10)
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), central(oracle, x0), atol=1e-8)

    dense0 = RNG.standard_normal((3, 4))
    cut = [1, 4, 0]

    @kiln.function
    def row_sums(d):
        return kiln.reduce_sum(kiln.RaggedTensor.from_tensor(d, lengths=cut), axis=1)

    d = kiln.constant(dense0)
    with kiln.GradientTape() as tape:
        tape.watch(d)
        s = row_sums(d)
        y = kiln.reduce_sum(s * kiln.constant([1.0, 2.0, 3.0], "float64"))
    np.testing.assert_allclose(s.numpy(), [dense0[0, :1].sum(), dense0[1].sum(), 0.0])
    expected = np.zeros((3, 4))
    expected[0, :1], expected[1] = 1.0, 2.0
    np.testing.assert_allclose(tape.gradient(y, d).numpy(), expected)
    flags = kiln.ragged.constant([[True], [], [False, True]])
    assert flags.to_tensor().numpy().tolist() == [[True, False], [False, False], [False, True]]
    strings = kiln.ragged.constant([["a"], ["b", "c"]])
    assert strings.to_tensor().numpy().tolist() == [[b"a", b""], [b"b", b"c"]]


def test_keras_layers_take_ragged_inputs():
    rows = random_rows([3, 1, 2], (4,))
    rt = ragged(rows)
    dense = kiln.keras.layers.Dense(2, activation="relu")
    out = dense(rt)
    assert isinstance(out, kiln.RaggedTensor) and out.shape == (3, None, 2)
    kernel, bias = dense.kernel.numpy(), dense.bias.numpy()
    for g, r in zip(out.to_list(), rows):
        np.testing.assert_allclose(g, np.maximum(r.astype(np.float32) @ kernel + bias, 0),
                                   rtol=1e-5, atol=1e-6)
    pooled = kiln.keras.layers.GlobalAveragePooling1D()(rt).numpy()
    np.testing.assert_allclose(pooled, [r.mean(0) for r in rows], rtol=1e-5)
    # A recurrent layer sees the padded rows with their lengths as the mask:
    # each row's last state is the one after its own last step.
    lstm = kiln.keras.layers.LSTM(3)
    last = lstm(rt).numpy()
    for i, r in enumerate(rows):
        alone = lstm(kiln.constant(r[None].astype(np.float32))).numpy()
        np.testing.assert_allclose(last[i], alone[0], rtol=1e-5, atol=1e-6)
    sequences = kiln.keras.layers.GRU(3, return_sequences=True)(rt)
    assert isinstance(sequences, kiln.RaggedTensor)
    assert sequences.row_lengths().numpy().tolist() == [3, 1, 2]
    with pytest.raises(TypeError, match="no feature dimension"):
        kiln.keras.layers.Dense(2)(kiln.ragged.constant([[1.0, 2.0], [3.0]]))


def test_keras_fit_evaluate_predict_on_ragged_inputs():
    rng = np.random.default_rng(8)
    rows = [rng.integers(0, 20, int(rng.integers(1, 7))) for _ in range(192)]
    labels = np.array([int(np.mean(r >= 10) > 0.5) for r in rows])
    ids = kiln.RaggedTensor.from_row_lengths(
        kiln.constant(np.concatenate(rows).astype(np.int32)), [len(r) for r in rows])
    model = kiln.keras.Sequential([kiln.keras.layers.Embedding(20, 8),
                                   kiln.keras.layers.GlobalAveragePooling1D(),
                                   kiln.keras.layers.Dense(2)])
    model.compile(optimizer=kiln.optimizers.Adam(0.05),
                  loss=kiln.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (compiled: no eager fallback, no retrace warning)
        history = model.fit(ids, kiln.constant(labels), batch_size=64, epochs=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert not model.__dict__.get("_ragged_eager")
    data = kiln.data.Dataset.from_tensor_slices((ids, kiln.constant(labels))).batch(64)
    model.fit(data, epochs=2, verbose=0)
    loss, accuracy = model.evaluate(data, verbose=0)
    assert accuracy > 0.85
    predicted = model.predict(ids, batch_size=50, verbose=0)
    assert predicted.shape == (192, 2)
    # Oracle: the same weights applied row by row with NumPy.
    table = model.layers[0].embeddings.numpy()
    kernel, bias = model.layers[2].kernel.numpy(), model.layers[2].bias.numpy()
    expected = np.stack([table[r].mean(0) for r in rows]) @ kernel + bias
    np.testing.assert_allclose(predicted, expected, rtol=1e-4, atol=1e-5)


def test_compiled_steps_with_ragged_arguments():
    """Inside a @kiln.function a RaggedTensor argument's rows are tensors:
    row reductions, per-row operands, lookups and to_tensor with a width
    compile (one trace for all row lengths); what needs the lengths on the
    host is an error that says so."""
    table = RNG.standard_normal((10, 3)).astype(np.float32)
    scale = RNG.standard_normal((4, 1)).astype(np.float32)

    @kiln.function
    def features(ids):
        vectors = kiln.gather(kiln.constant(table), ids)            # [4, None, 3]
        top = kiln.reduce_max(kiln.reduce_sum(vectors, axis=2) * kiln.constant(scale),
                              axis=1)
        padded = ids.to_tensor(-1, shape=[None, 3])
        return top, padded, ids.row_lengths(), ids.row_splits, kiln.size(ids)

    for lengths in ([2, 0, 4, 1], [1, 1, 3, 3]):
        flat = RNG.integers(0, 10, sum(lengths))
        ids = kiln.RaggedTensor.from_row_lengths(kiln.constant(flat.astype(np.int32)),
                                                 lengths)
        top, padded, got_lengths, splits, size = features(ids)
        rows = np.split(flat, np.cumsum(lengths)[:-1])
        lowest = np.finfo(np.float32).min
        np.testing.assert_allclose(
            top.numpy(), [(table[r].sum(1) * s).max() if len(r) else lowest
                          for r, s in zip(rows, scale[:, 0])], rtol=1e-5)
        expected = np.full((4, 3), -1)
        for i, r in enumerate(rows):
            expected[i, :min(3, len(r))] = r[:3]
        assert padded.numpy().tolist() == expected.tolist()
        assert got_lengths.numpy().tolist() == lengths
        assert splits.numpy().tolist() == np.concatenate([[0], np.cumsum(lengths)]).tolist()
        assert size.numpy() == sum(lengths)
    assert features.trace_count == 1

    # Rows of arguments (and of a constant) one after another, compiled: the
    # row reductions and the padded form, as NumPy's on the joined rows.
    @kiln.function
    def joined(a, b):
        both = kiln.concat([a, kiln.ragged.constant([[9.0]]), b], axis=0)
        return both, kiln.reduce_sum(both, axis=1), both.to_tensor(shape=[None, 4])

    for a_rows, b_rows in (([[1.0, 2.0], [3.0], []], [[4.0], [5.0, 6.0, 7.0]]),
                           ([[], [1.5]], [[2.0, 2.5, 3.0], [], [4.0]])):
        rows = a_rows + [[9.0]] + b_rows
        both, sums, padded = joined(kiln.ragged.constant(a_rows), kiln.ragged.constant(b_rows))
        assert both.to_list() == rows
        np.testing.assert_allclose(sums.numpy(), [sum(r) for r in rows])
        assert padded.numpy().tolist() == [r + [0.0] * (4 - len(r)) for r in rows]
    assert joined.trace_count == 2   # (the number of rows is part of the key)

    ids = kiln.ragged.constant([[1, 2], [3]])
    for body, message in [(lambda r: kiln.reduce_sum(r, axis=0), "row lengths"),
                          (lambda r: kiln.concat([r, r], axis=1), "row lengths"),
                          (lambda r: r.to_tensor(), "needs the width"),
                          (lambda r: r[:, 0], "row lengths"),
                          (lambda r: r.to_list(), "row lengths")]:
        with pytest.raises(errors.InvalidArgumentError, match=message):
            kiln.function(body)(ids)
    with pytest.raises(errors.InvalidArgumentError, match="must share their rows"):
        kiln.function(lambda a, b: a + b)(ids, kiln.ragged.constant([[1, 2], [3]]))


def test_fit_compiles_recurrent_layers_on_ragged_batches():
    """Inside a compiled step the rows are padded to a power of two at
    least as long as the longest (the masked steps change nothing): each
    row's outputs equal the layers run on that row alone."""
    rng = np.random.default_rng(9)
    rows = [rng.standard_normal((int(rng.integers(1, 10)), 2)).astype(np.float32)
            for _ in range(48)]
    labels = np.array([float(r[:, 0].sum() > 0) for r in rows], np.float32)
    x = kiln.RaggedTensor.from_row_lengths(kiln.constant(np.concatenate(rows)),
                                           [len(r) for r in rows])
    model = kiln.keras.Sequential([kiln.keras.layers.LSTM(4, return_sequences=True),
                                   kiln.keras.layers.GRU(3), kiln.keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (compiled: no eager fallback)
        history = model.fit(x, labels, batch_size=24, epochs=2, verbose=0)
    assert not model.__dict__.get("_ragged_eager")
    assert np.isfinite(history.history["loss"]).all()
    step = kiln.function(lambda r: model(r))
    out = step(x[:8]).numpy()
    alone = np.concatenate([model(kiln.constant(r[None])).numpy() for r in rows[:8]])
    np.testing.assert_allclose(out, alone, rtol=1e-5, atol=1e-6)
    sequences = kiln.function(lambda r: model.layers[0](r))(x[:8])
    assert isinstance(sequences, kiln.RaggedTensor)
    for got, r in zip(sequences.to_list(), rows[:8]):
        np.testing.assert_allclose(got, model.layers[0](kiln.constant(r[None])).numpy()[0],
                                   rtol=1e-5, atol=1e-6)


def test_fit_falls_back_to_eager_steps_when_a_layer_needs_row_lengths():
    rng = np.random.default_rng(9)
    rows = [rng.standard_normal((int(rng.integers(1, 5)), 2)).astype(np.float32)
            for _ in range(40)]
    labels = np.array([float(r[:, 0].sum() > 0) for r in rows], np.float32)
    x = kiln.RaggedTensor.from_row_lengths(kiln.constant(np.concatenate(rows)),
                                           [len(r) for r in rows])
    # (to_tensor() pads to the longest row, which a trace does not know)
    model = kiln.keras.Sequential([
        kiln.keras.layers.Lambda(lambda r: kiln.reduce_sum(r.to_tensor(), axis=1)),
        kiln.keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    with pytest.warns(UserWarning, match="run eagerly"):
        model.fit(x, labels, batch_size=20, epochs=1, verbose=0)
    assert model.__dict__.get("_ragged_eager")
    predicted = model.predict(x, verbose=0)
    kernel, bias = model.layers[1].kernel.numpy(), model.layers[1].bias.numpy()
    expected = np.stack([r.sum(0) for r in rows]) @ kernel + bias
    np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-6)

def test_shapes_sparse_conversion_and_stack():
    digits = kiln.ragged.constant(DIGITS)
    assert digits.bounding_shape().numpy().tolist() == [5, 4]
    assert digits.row_starts().numpy().tolist() == [0, 4, 4, 7, 8]
    assert digits.row_limits().numpy().tolist() == [4, 4, 7, 8, 8]
    assert digits.merge_dims(0, 1).numpy().tolist() == [3, 1, 4, 1, 5, 9, 2, 6]
    blocks = kiln.ragged.constant([[[1, 2], [3, 4]], [[5, 6]]], ragged_rank=1)
    assert blocks.merge_dims(0, -1).numpy().tolist() == [1, 2, 3, 4, 5, 6]
    sparse = kiln.ragged.constant([[1, 2], [], [3]]).to_sparse()
    assert sparse.indices.numpy().tolist() == [[0, 0], [0, 1], [2, 0]]
    assert sparse.values.numpy().tolist() == [1, 2, 3] and list(sparse.shape) == [3, 2]
    block_sparse = blocks.to_sparse()
    np.testing.assert_array_equal(kiln.sparse.to_dense(block_sparse).numpy(),
                                  [[[1, 2], [3, 4]], [[5, 6], [0, 0]]])
    unordered = kiln.SparseTensor([[2, 0], [0, 1], [0, 0]], [3, 2, 1], [3, 4])
    assert kiln.RaggedTensor.from_sparse(unordered).to_list() == [[1, 2], [], [3]]
    with pytest.raises(errors.InvalidArgumentError, match="without gaps"):
        kiln.RaggedTensor.from_sparse(kiln.SparseTensor([[0, 1]], [1], [1, 2]))
    stacked = kiln.ragged.stack([kiln.constant([1.0, 2.0]), [3.0], kiln.constant([4.0, 5.0,
                                                                                  6.0])])
    assert stacked.to_list() == [[1.0, 2.0], [3.0], [4.0, 5.0, 6.0]]


def test_operands_of_other_kinds_and_python_protocols():
    rt = kiln.ragged.constant([[1.0, 2.0], [3.0]])
    with pytest.raises(TypeError, match="truth value of a RaggedTensor"):
        bool(rt == rt)
    with pytest.raises(TypeError, match="no NumPy array"):
        np.asarray(rt)
    # NumPy, Python lists and integer scalars take the ragged operand's dtype.
    assert (np.float32(2) * rt).to_list() == [[2.0, 4.0], [6.0]]
    assert (np.array([[1.0], [2.0]]) + rt).to_list() == [[2.0, 3.0], [5.0]]
    assert (rt + np.int64(1)).to_list() == [[2.0, 3.0], [4.0]]
    assert kiln.maximum(rt, [[1.5], [2.0]]).to_list() == [[1.5, 2.0], [3.0]]
    flags = kiln.ragged.constant([[True, False], [True]])
    assert (kiln.constant([[True], [False]]) & flags).to_list() == [[True, False], [False]]
    assert (kiln.constant([[True], [False]]) ^ flags).to_list() == [[False, True], [True]]
    # A ragged operand anywhere in concat's list.
    assert kiln.concat([kiln.constant([[5.0, 6.0]]), rt], 0).to_list() == \
        [[5.0, 6.0], [1.0, 2.0], [3.0]]
    assert kiln.ragged.map_flat_values(kiln.square, rt).to_list() == [[1.0, 4.0], [9.0]]


def test_layer_options_and_model_outputs_on_ragged_inputs():
    rt = ragged(random_rows([2, 3], (4,)))
    with pytest.raises(TypeError, match="axis counted from the end"):
        kiln.keras.layers.LayerNormalization(axis=2)(rt)
    normalized = kiln.keras.layers.LayerNormalization()(rt)
    np.testing.assert_allclose(kiln.reduce_mean(normalized.values, axis=1).numpy(), 0,
                               atol=1e-5)
    with pytest.raises(TypeError, match="RaggedTensor is not a dense tensor"):
        kiln.keras.layers.SpatialDropout1D(0.5)(rt, training=True)
    lstm = kiln.keras.layers.LSTM(2)
    no_mask = lstm(rt, mask=None).numpy()
    np.testing.assert_allclose(no_mask, lstm(rt).numpy())
    # A model whose output keeps the rows predicts one RaggedTensor.
    model = kiln.keras.Sequential([kiln.keras.layers.Embedding(10, 3),
                                   kiln.keras.layers.Dense(1)])
    ids = kiln.ragged.constant([[1, 2], [3], [4, 5, 6], [7, 8]])
    out = model.predict(ids, batch_size=3, verbose=0)
    assert isinstance(out, kiln.RaggedTensor)
    assert out.row_lengths().numpy().tolist() == [2, 1, 3, 2]
    np.testing.assert_allclose(out.values.numpy(), model(ids).values.numpy(), rtol=1e-6)


def test_functions_share_rows_of_one_argument_and_refuse_strings():
    rt = kiln.ragged.constant([[1.0, 2.0], [3.0]])
    both = kiln.function(lambda a, b: a * b)
    assert both(rt, rt).to_list() == [[1.0, 4.0], [9.0]]
    mapped = kiln.function(lambda a: kiln.ragged.map_flat_values(kiln.exp, a))
    np.testing.assert_allclose(mapped(rt).values.numpy(), np.exp([1.0, 2.0, 3.0]), rtol=1e-6)
    words = kiln.strings.split(kiln.constant(["a b", "c"]))
    with pytest.raises(errors.InvalidArgumentError, match="holds strings"):
        kiln.function(lambda w: w)(words)


def test_fit_with_ragged_tokens_into_lookup_layers_and_several_inputs():
    texts = ["good great fine", "bad awful", "great good", "awful bad terrible",
             "fine good", "terrible bad"] * 8
    labels = np.array([1, 0, 1, 0, 1, 0] * 8)
    tokens = kiln.strings.split(kiln.constant(texts))
    lookup = kiln.keras.layers.StringLookup()
    lookup.adapt(tokens.values)
    model = kiln.keras.Sequential([lookup, kiln.keras.layers.Embedding(10, 4),
                                   kiln.keras.layers.GlobalAveragePooling1D(),
                                   kiln.keras.layers.Dense(2)])
    model.compile(optimizer=kiln.optimizers.Adam(0.1),
                  loss=kiln.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(tokens, labels, batch_size=16, epochs=3, verbose=0)
    assert model.evaluate(tokens, labels, verbose=0)[1] == 1.0
    # Two inputs, one of them ragged, in a functional model.
    class TwoInputs(kiln.keras.Model):
        def __init__(self):
            super().__init__()
            self.embedded = kiln.keras.layers.Embedding(10, 4)
            self.head = kiln.keras.layers.Dense(1)

        def call(self, inputs):
            pooled = kiln.reduce_mean(self.embedded(inputs[0]), axis=1)
            return self.head(kiln.concat([pooled, inputs[1]], 1))
    two = TwoInputs()
    two.compile(optimizer="adam", loss="mse")
    numbers = kiln.ragged.constant([[1, 2], [3], [4, 5, 6], [7]])
    two.fit([numbers, np.ones((4, 1), np.float32)], np.zeros((4, 1), np.float32),
            batch_size=2, epochs=1, verbose=0)
    assert two.predict([numbers, np.ones((4, 1), np.float32)], verbose=0).shape == (4, 1)


def test_bfloat16_rows_stay_bfloat16_in_datasets():
    rt = kiln.RaggedTensor.from_row_lengths(
        kiln.cast(kiln.constant([1.0, 2.5, -3.0]), kiln.bfloat16), [2, 1])
    ds = kiln.data.Dataset.from_tensor_slices(rt)
    rows = list(ds)
    assert rows[0].dtype == kiln.bfloat16 and rows[1].dtype == kiln.bfloat16
    batch = next(iter(ds.batch(2)))
    assert batch.dtype == kiln.bfloat16
    assert kiln.cast(batch.values, kiln.float32).numpy().tolist() == [1.0, 2.5, -3.0]
    with pytest.raises(errors.UnimplementedError, match="RaggedTensors already"):
        list(ds.batch(2).batch(2))


def test_map_fn_over_rows():
    digits = kiln.ragged.constant(DIGITS)
    sums = kiln.map_fn(kiln.reduce_sum, digits,
                       fn_output_signature=kiln.TensorSpec([], kiln.int32))
    assert sums.numpy().tolist() == [sum(r) for r in DIGITS]
    doubled = kiln.map_fn(lambda r: r * 2, digits)
    assert isinstance(doubled, kiln.RaggedTensor)
    assert doubled.to_list() == [[2 * v for v in r] for r in DIGITS]
    # (rows again by default, as TensorFlow's default signature, even when
    # the lengths happen to agree; a TensorSpec stacks)
    same = kiln.ragged.constant([[1, 2], [3, 4]])
    assert isinstance(kiln.map_fn(lambda r: r + 1, same), kiln.RaggedTensor)
    stacked = kiln.map_fn(lambda r: r + 1, same,
                          fn_output_signature=kiln.TensorSpec([2], kiln.int32))
    assert stacked.numpy().tolist() == [[2, 3], [4, 5]]
    pair = kiln.map_fn(lambda r: (kiln.reduce_sum(r), kiln.reduce_max(r)), same)
    assert [p.numpy().tolist() for p in pair] == [[3, 7], [2, 4]]
    with pytest.raises(TypeError, match="fn_output_signature says int64"):
        kiln.map_fn(lambda r: r, same, fn_output_signature=kiln.RaggedTensorSpec(
            [None], kiln.int64))
    firsts = kiln.map_fn(lambda r: r[:1], kiln.ragged.constant([[1, 2], [3]]),
                         fn_output_signature=kiln.RaggedTensorSpec([None], kiln.int32))
    assert isinstance(firsts, kiln.RaggedTensor) and firsts.to_list() == [[1], [3]]
    with pytest.raises(errors.InvalidArgumentError, match="row lengths"):
        kiln.function(lambda r: kiln.map_fn(kiln.reduce_sum, r))(digits)


def test_backward_and_bidirectional_recurrent_layers_on_rows():
    rows = random_rows([3, 1, 2], (2,))
    rt = ragged(rows)
    L = kiln.keras.layers
    for layer in (L.SimpleRNN(2, return_sequences=True, go_backwards=True),
                  L.Bidirectional(L.LSTM(2, return_sequences=True))):
        for run in (layer, kiln.function(lambda r: layer(r))):
            out = run(rt)
            assert isinstance(out, kiln.RaggedTensor)
            for got, r in zip(out.to_list(), rows):
                alone = layer(kiln.constant(r[None].astype(np.float32))).numpy()[0]
                np.testing.assert_allclose(got, alone, rtol=1e-5, atol=1e-6)


def test_ragged_values_through_cond_inside_a_function():
    @kiln.function
    def pick(x):
        r = kiln.ragged.constant([[1.0, 2.0], [3.0]])
        chosen = kiln.cond(x > 0, lambda: r, lambda: r * 2.0)
        return kiln.reduce_sum(chosen, axis=1)
    assert pick(kiln.constant(1.0)).numpy().tolist() == [3.0, 3.0]
    assert pick(kiln.constant(-1.0)).numpy().tolist() == [6.0, 6.0]


def test_complex_row_sums_and_padding_edges():
    values = np.array([1 + 1j, 2 - 1j, 3j], np.complex64)
    rt = kiln.RaggedTensor.from_row_lengths(kiln.constant(values), [2, 0, 1])
    expected = [values[:2].sum(), 0, values[2]]
    for run in (lambda r: kiln.reduce_sum(r, axis=1), kiln.function(
            lambda r: kiln.reduce_sum(r * 2.0, axis=1) / 2.0)):
        np.testing.assert_allclose(run(rt).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(kiln.reduce_mean(rt).numpy(), values.mean(), rtol=1e-6)
    empty = kiln.RaggedTensor.from_row_lengths(kiln.constant(np.zeros(0, np.float32)), [0, 0])
    assert empty.to_tensor(5.0, shape=[None, 2]).numpy().tolist() == [[5.0, 5.0]] * 2
    with pytest.raises(errors.InvalidArgumentError, match="2 lengths for 3 rows"):
        kiln.RaggedTensor.from_tensor(kiln.zeros([3, 2]), lengths=[1, 2])
