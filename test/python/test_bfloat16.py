"""kiln.bfloat16 from Python (TensorFlow's tf.bfloat16). NumPy has no
bfloat16, so values go in as numbers and come out as float32 arrays. The
oracle for rounding is written here from the format's definition (8
significant bits, exponent down to 2**-126, subnormals down to 2**-133),
with Python's exact round-half-to-even: no Kiln code and no float32 step."""

import math
import os

import numpy as np
import pytest

import kiln

BF16_MAX = (2 - 2.0**-7) * 2.0**127


def round_bf16(d):
    """`d` rounded once to the nearest bfloat16, ties to even."""
    d = float(d)
    if math.isnan(d) or math.isinf(d) or d == 0:
        return d
    _, e = math.frexp(d)
    step = 2.0 ** max(e - 8, -133)
    r = math.copysign(round(d / step) * step, d)
    return math.copysign(math.inf, d) if abs(r) > BF16_MAX else r


def bf16(values):
    """NumPy's float64 array of the bfloat16 values nearest `values`."""
    return np.vectorize(round_bf16, otypes=[np.float64])(np.asarray(values, np.float64))


def same(got, want):
    """Equal values, NaNs in the same places and zeros of the same sign."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def hard_values():
    """Ties, values a hair off a tie (where rounding through float32 first
    goes wrong), overflow to infinity, subnormals and their underflow."""
    rng = np.random.default_rng(7)
    wide = rng.standard_normal(400) * 10.0 ** rng.integers(-44, 39, 400)
    special = [1 + 2.0**-8, 1 + 3 * 2.0**-8, 1 + 2.0**-8 + 2.0**-40,
               -(1 + 2.0**-8 + 2.0**-40), 1 + 2.0**-8 - 2.0**-40,
               BF16_MAX, 3.3961e38, 3.3962e38, 1e39, -1e39,
               2.0**-126, 2.0**-133, 2.0**-134, 2.0**-134 * (1 + 2.0**-30),
               3 * 2.0**-134, 1e-50, -1e-50, 0.0, -0.0, math.inf, -math.inf,
               0.1, 1 / 3, 65504.0, 123456789.0]
    return np.concatenate([wide, special])


def test_constant_rounds_once_to_nearest_even():
    x = hard_values()
    t = kiln.constant(x, dtype=kiln.bfloat16)
    assert t.dtype == kiln.bfloat16 and t.dtype.name == "bfloat16"
    same(t.numpy(), bf16(x))
    # Python numbers and lists too, and the name as TensorFlow spells it.
    same(kiln.constant(0.1, dtype="bfloat16").numpy(), round_bf16(0.1))
    same(kiln.constant([1, 2, 257], dtype=kiln.bfloat16).numpy(), [1, 2, 256])
    nan = kiln.constant([math.nan, -math.nan], dtype=kiln.bfloat16).numpy()
    assert np.isnan(nan).all()


def test_numpy_is_an_exact_float32_copy():
    values = bf16(np.linspace(-3, 3, 13))
    t = kiln.constant(values, dtype=kiln.bfloat16)
    out = t.numpy()
    assert out.dtype == np.float32 and not out.flags.writeable
    np.testing.assert_array_equal(out, values)
    np.testing.assert_array_equal(np.asarray(t), values)
    # bfloat16 values survive the round trip exactly.
    same(kiln.constant(out, dtype=kiln.bfloat16).numpy(), values)
    assert float(kiln.constant(2.5, dtype=kiln.bfloat16)) == 2.5
    assert "dtype=bfloat16" in repr(t)
    # A float32 array alone stays float32: bfloat16 is asked for by name.
    assert kiln.constant(out).dtype == kiln.float32
    assert kiln.as_dtype("bf16") is kiln.bfloat16
    assert kiln.as_dtype(np.float32) is kiln.float32


@pytest.mark.parametrize("src", [np.float32, np.float64])
def test_cast_to_bfloat16_rounds_once(src):
    x = hard_values()
    with np.errstate(over="ignore"):
        x = x.astype(src)
    want = bf16(x)
    same(kiln.cast(kiln.constant(x), kiln.bfloat16).numpy(), want)
    compiled = kiln.function(lambda v: kiln.cast(v, kiln.bfloat16))
    same(compiled(kiln.constant(x)).numpy(), want)
    back = kiln.cast(kiln.constant(want, dtype=kiln.bfloat16), src)
    same(back.numpy(), want.astype(src))


def test_ops_round_each_result():
    """Each op computes and rounds its result to bfloat16 (a product sums
    in float32, as TensorFlow's CPU kernels and the tensor cores do)."""
    rng = np.random.default_rng(3)
    a = bf16(rng.standard_normal((16, 24)))
    b = bf16(rng.standard_normal((24, 8)))
    ta, tb = (kiln.constant(v, dtype=kiln.bfloat16) for v in (a, b))
    same((ta * 3.0 + 1.0).numpy(), bf16(bf16(a * 3.0) + 1.0))
    same(kiln.exp(ta).numpy(), bf16(np.exp(a)))
    same(kiln.nn.relu(ta).numpy(), np.maximum(a, 0))
    got = kiln.matmul(ta, tb)
    assert got.dtype == kiln.bfloat16
    exact = a @ b
    # One rounding of a float32 sum: within one bfloat16 step of the exact
    # product (2**-7 of its binade), plus float32's summation error.
    step = 2.0 ** (np.floor(np.log2(np.abs(exact) + 1e-30)) - 7)
    assert np.all(np.abs(got.numpy() - exact) <= step + 1e-5 * np.abs(a) @ np.abs(b))
    np.testing.assert_allclose(kiln.reduce_sum(ta, axis=0).numpy(), a.sum(0),
                               rtol=2.0**-7, atol=1e-2)
    soft = kiln.nn.softmax(ta).numpy()
    e = np.exp(a - a.max(-1, keepdims=True))
    np.testing.assert_allclose(soft, e / e.sum(-1, keepdims=True), rtol=2e-2, atol=2e-3)


def test_gradients_in_bfloat16():
    """d/dw mean(tanh(x @ w)**2) against its formula in float64 on the
    same bfloat16 inputs."""
    rng = np.random.default_rng(5)
    x = bf16(rng.standard_normal((8, 4)))
    w0 = bf16(rng.standard_normal((4, 3)) * 0.3)
    w = kiln.Variable(kiln.constant(w0, dtype=kiln.bfloat16))
    assert w.dtype == kiln.bfloat16

    def loss_fn():
        return kiln.reduce_mean(kiln.square(kiln.tanh(kiln.constant(x, dtype=kiln.bfloat16) @ w)))

    with kiln.GradientTape() as tape:
        loss = loss_fn()
    g = tape.gradient(loss, w)
    t = np.tanh(x @ w0)
    want = x.T @ (2 * t * (1 - t * t)) / t.size
    assert g.dtype == kiln.bfloat16
    np.testing.assert_allclose(g.numpy(), want, rtol=3e-2, atol=3e-3)

    @kiln.function
    def step():
        with kiln.GradientTape() as tape:
            loss = loss_fn()
        return tape.gradient(loss, w)
    np.testing.assert_allclose(step().numpy(), want, rtol=3e-2, atol=3e-3)


def test_variables_optimizers_and_checkpoints(tmp_path):
    """An SGD step on a bfloat16 variable is w - lr * g rounded to
    bfloat16; a checkpoint keeps the bits (safetensors BF16)."""
    w0 = bf16([1.0, -2.0, 0.5])
    w = kiln.Variable(kiln.constant(w0, dtype=kiln.bfloat16))
    g = bf16([0.3, 0.7, -0.1])
    kiln.optimizers.SGD(0.1).apply_gradients(
        [(kiln.constant(g, dtype=kiln.bfloat16), w)])
    same(w.numpy(), bf16(w0 - bf16(0.1 * g)))
    adam = kiln.optimizers.Adam(0.01)
    adam.apply_gradients([(kiln.constant(g, dtype=kiln.bfloat16), w)])
    assert w.dtype == kiln.bfloat16

    before = w.numpy().copy()
    ckpt = kiln.train.Checkpoint(w=w)
    path = ckpt.save(os.path.join(tmp_path, "ckpt"))
    w.assign(kiln.zeros([3], kiln.bfloat16))
    ckpt.restore(path)
    same(w.numpy(), before)
    with open(path, "rb") as f:
        assert b'"BF16"' in f.read(400)


def test_traced_functions_and_signatures():
    c = kiln.constant([1.5, 2.5, 0.1], dtype=kiln.bfloat16)  # captured
    f = kiln.function(lambda a: a * c,
                      input_signature=[kiln.TensorSpec([None], kiln.bfloat16)])
    same(f(kiln.constant([2.0, 2.0, 2.0], dtype=kiln.bfloat16)).numpy(),
         bf16(2 * bf16([1.5, 2.5, 0.1])))
    with pytest.raises((TypeError, ValueError, kiln.errors.InvalidArgumentError)):
        f(kiln.constant([2.0, 2.0, 2.0]))  # float32 does not match the signature


def test_keras_layers_in_bfloat16():
    """A Dense layer of dtype bfloat16 makes bfloat16 weights, casts float32
    inputs (as Keras does) and computes relu(x @ kernel + bias) in
    bfloat16."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    layer = kiln.layers.Dense(3, activation="relu", dtype="bfloat16")
    y = layer(x)
    assert y.dtype == kiln.bfloat16 and layer.kernel.dtype == kiln.bfloat16
    k, b = layer.kernel.numpy().astype(np.float64), layer.bias.numpy()
    np.testing.assert_allclose(y.numpy(), np.maximum(bf16(x) @ k + b, 0),
                               rtol=2e-2, atol=2e-2)
    model = kiln.Sequential([kiln.layers.Dense(8, activation="relu", dtype="bfloat16"),
                             kiln.layers.Dense(2, dtype="bfloat16")])
    model.compile(optimizer="sgd",
                  loss=kiln.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(rng.standard_normal((64, 4)).astype(np.float32),
                        rng.integers(0, 2, 64), epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    assert all(v.dtype == kiln.bfloat16 for v in model.trainable_variables)


def test_bad_conversions_say_what_is_wrong():
    with pytest.raises(TypeError, match="int32"):
        kiln.constant(kiln.constant([1.0], dtype=kiln.bfloat16), dtype=kiln.int32)
    with pytest.raises(TypeError):
        kiln.constant(["a"], dtype=kiln.bfloat16)


def test_recurrent_layers_in_bfloat16():
    """Orthogonal recurrent kernels made for a bfloat16 layer."""
    x = np.random.default_rng(2).standard_normal((3, 5, 4)).astype(np.float32)
    for layer in (kiln.layers.SimpleRNN(4, dtype="bfloat16"),
                  kiln.layers.LSTM(4, dtype="bfloat16"),
                  kiln.layers.GRU(4, dtype="bfloat16")):
        y = layer(x)
        assert y.dtype == kiln.bfloat16 and y.shape == (3, 4)
        assert all(v.dtype == kiln.bfloat16 for v in layer.variables)
        assert np.isfinite(y.numpy()).all()


def test_datasets_keep_bfloat16():
    values = bf16(np.arange(12).reshape(6, 2) / 7)
    x = kiln.constant(values, dtype=kiln.bfloat16)
    y = np.arange(6)
    ds = kiln.data.Dataset.from_tensor_slices((x, y)).shuffle(6, seed=1).batch(4)
    seen = []
    for xb, yb in ds:
        assert xb.dtype == kiln.bfloat16 and yb.dtype == kiln.int64
        same(xb.numpy(), values[yb.numpy()])
        seen.extend(yb.numpy().tolist())
    assert sorted(seen) == list(range(6))
    doubled = kiln.data.Dataset.from_tensor_slices(x).map(lambda v: v * 3.0).batch(6)
    (out,) = list(doubled)
    assert out.dtype == kiln.bfloat16
    same(out.numpy(), bf16(values * 3))
    # Elements of a 1-D tensor are scalars: still bfloat16.
    column = kiln.constant(values[:, 0], dtype=kiln.bfloat16)
    scalars = list(kiln.data.Dataset.from_tensor_slices(column))
    assert all(t.dtype == kiln.bfloat16 and t.shape == () for t in scalars)
    same([float(t) for t in scalars], values[:, 0])
    mapped = kiln.data.Dataset.from_tensor_slices((column, y)).map(
        lambda a, b: a * 2.0).batch(4)
    assert [t.dtype for t in mapped] == [kiln.bfloat16, kiln.bfloat16]

    @kiln.function
    def total(dataset):
        s = kiln.zeros([2], kiln.bfloat16)
        for xb, _ in dataset:
            s = s + kiln.reduce_sum(xb, axis=0)
        return s
    got = total(kiln.data.Dataset.from_tensor_slices((x, y)).batch(3))
    assert got.dtype == kiln.bfloat16
    np.testing.assert_allclose(got.numpy(), values.sum(0), rtol=2.0**-7)


def test_hints_and_ranges_round_once():
    tie_plus = 1 + 2.0**-8 + 2.0**-30  # through float32 first: 1.0
    t = kiln.convert_to_tensor(tie_plus, dtype_hint=kiln.bfloat16)
    assert t.dtype == kiln.bfloat16
    same(t.numpy(), round_bf16(tie_plus))
    # A hint that would change a value's kind is ignored, as in TensorFlow.
    assert kiln.convert_to_tensor(1.5, dtype_hint=kiln.int32).dtype == kiln.float32
    assert kiln.convert_to_tensor([0, 2], dtype_hint=kiln.bool).numpy().tolist() == [0, 2]
    assert kiln.convert_to_tensor([0, 2], dtype_hint=kiln.int64).dtype == kiln.int64
    r = kiln.range(0, 2, tie_plus, dtype=kiln.bfloat16)
    same(r.numpy(), [0.0, round_bf16(tie_plus)])
