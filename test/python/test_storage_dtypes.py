"""The 8/16-bit and unsigned integer dtypes (int8, int16, uint8, uint16,
uint32): held as they are, computed on widened and cast back, so results
wrap as NumPy's (and TensorFlow's) fixed-width arithmetic does. NumPy
computing in the same dtype is the oracle."""

import io

import numpy as np
import pytest

import kiln

STORAGE = [np.int8, np.int16, np.uint8, np.uint16, np.uint32]


def _values(dtype, n=12, seed=0):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(seed)
    edges = np.array([info.min, info.max, 0, 1], dtype=dtype)
    drawn = rng.integers(info.min, int(info.max) + 1, n - len(edges), dtype=np.int64)
    return np.concatenate([edges, drawn.astype(dtype)])


@pytest.mark.parametrize("dtype", STORAGE)
def test_values_keep_their_dtype(dtype):
    x = _values(dtype)
    t = kiln.constant(x)
    assert t.dtype == kiln.as_dtype(dtype)
    assert t.dtype.size == np.dtype(dtype).itemsize
    assert t.dtype.is_integer and t.dtype.is_unsigned == (np.dtype(dtype).kind == "u")
    assert (t.dtype.min, t.dtype.max) == (np.iinfo(dtype).min, np.iinfo(dtype).max)
    out = t.numpy()
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(kiln.reshape(t, [3, 4]).numpy(), x.reshape(3, 4))
    np.testing.assert_array_equal(kiln.transpose(kiln.reshape(t, [3, 4])).numpy(),
                                  x.reshape(3, 4).T)
    np.testing.assert_array_equal(kiln.concat([t, t], 0).numpy(), np.concatenate([x, x]))
    np.testing.assert_array_equal(t[2:7].numpy(), x[2:7])


_BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "maximum": (kiln.maximum, np.maximum),
    "minimum": (kiln.minimum, np.minimum),
    "bitwise_and": (kiln.bitwise.bitwise_and, np.bitwise_and),
    "bitwise_or": (kiln.bitwise.bitwise_or, np.bitwise_or),
    "bitwise_xor": (kiln.bitwise.bitwise_xor, np.bitwise_xor),
}


@pytest.mark.parametrize("dtype", STORAGE)
@pytest.mark.parametrize("name", sorted(_BINARY))
def test_arithmetic_wraps_as_numpy(dtype, name):
    ours, theirs = _BINARY[name]
    x, y = _values(dtype, seed=1), _values(dtype, seed=2)
    with np.errstate(over="ignore"):
        expected = theirs(x, y).astype(dtype)
    got = ours(kiln.constant(x), kiln.constant(y))
    assert got.dtype == kiln.as_dtype(dtype)
    np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize("dtype", STORAGE)
def test_division_shifts_and_unary(dtype):
    x = _values(dtype, seed=3)
    y = _values(dtype, seed=4)
    y[y == 0] = 3
    if np.dtype(dtype).kind == "i":
        y[(x == np.iinfo(dtype).min) & (y == -1)] = 2   # (overflows in C too)
    t, u = kiln.constant(x), kiln.constant(y)
    np.testing.assert_array_equal((t // u).numpy(), np.floor_divide(x, y))
    np.testing.assert_array_equal((t % u).numpy(), np.mod(x, y))
    amount = np.array([1, 3, 0, 2] * 3, dtype)
    np.testing.assert_array_equal(
        kiln.bitwise.right_shift(t, kiln.constant(amount)).numpy(), x >> amount)
    np.testing.assert_array_equal(
        kiln.bitwise.left_shift(t, kiln.constant(amount)).numpy(),
        (x.astype(np.int64) << amount).astype(dtype))
    np.testing.assert_array_equal(kiln.bitwise.invert(t).numpy(), ~x)
    with np.errstate(over="ignore"):
        if np.dtype(dtype).kind == "i":
            np.testing.assert_array_equal((-t).numpy(), -x)
            np.testing.assert_array_equal(kiln.abs(t).numpy(), np.abs(x))
    np.testing.assert_array_equal((t > u).numpy(), x > y)
    np.testing.assert_array_equal((t == u).numpy(), x == y)


@pytest.mark.parametrize("dtype", STORAGE)
def test_reductions(dtype):
    x = _values(dtype, seed=5).reshape(3, 4)
    t = kiln.constant(x)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(kiln.reduce_sum(t, axis=1).numpy(),
                                      x.sum(axis=1, dtype=dtype))
        np.testing.assert_array_equal(kiln.math.cumsum(t, axis=0).numpy(),
                                      np.cumsum(x, axis=0, dtype=dtype))
    np.testing.assert_array_equal(kiln.reduce_max(t, axis=0).numpy(), x.max(axis=0))
    np.testing.assert_array_equal(kiln.reduce_min(t).numpy(), x.min())
    index = kiln.argmax(t, axis=1)
    assert index.dtype == kiln.int64
    np.testing.assert_array_equal(index.numpy(), x.argmax(axis=1))
    values, where = kiln.math.top_k(kiln.constant(x[0]), 2)
    assert values.dtype == kiln.as_dtype(dtype) and where.dtype == kiln.int32
    np.testing.assert_array_equal(values.numpy(), np.sort(x[0])[::-1][:2])


def test_casts_between_storage_and_other_types():
    u8 = np.array([0, 1, 128, 200, 255], np.uint8)
    np.testing.assert_array_equal(kiln.cast(kiln.constant(u8), kiln.float32).numpy(),
                                  u8.astype(np.float32))
    big = np.array([0, 2**31, 2**32 - 1], np.uint32)
    np.testing.assert_array_equal(kiln.cast(kiln.constant(big), kiln.float64).numpy(),
                                  big.astype(np.float64))
    np.testing.assert_array_equal(kiln.cast(kiln.constant(big), kiln.int64).numpy(),
                                  big.astype(np.int64))
    # Between integers the low bits are kept (as NumPy's astype and C).
    i32 = np.array([-1, 256, 300, -129, 70000], np.int32)
    for dtype in STORAGE:
        np.testing.assert_array_equal(
            kiln.cast(kiln.constant(i32), kiln.as_dtype(dtype)).numpy(), i32.astype(dtype))
    i8 = np.array([-128, -1, 0, 127], np.int8)
    np.testing.assert_array_equal(kiln.cast(kiln.constant(i8), kiln.uint8).numpy(),
                                  i8.astype(np.uint8))
    np.testing.assert_array_equal(kiln.cast(kiln.constant(i8), kiln.float32).numpy(),
                                  i8.astype(np.float32))
    # A float to an unsigned type truncates and saturates at 0 and its
    # maximum; NaN is 0 (Kiln's rule for every integer type).
    f = np.array([-3.5, -0.5, 0.9, 254.99, 255.0, 300.0, np.inf, np.nan], np.float32)
    expected = np.clip(np.nan_to_num(np.trunc(f), nan=0.0, posinf=255.0), 0, 255)
    np.testing.assert_array_equal(kiln.cast(kiln.constant(f), kiln.uint8).numpy(),
                                  expected.astype(np.uint8))
    np.testing.assert_array_equal(
        kiln.cast(kiln.constant(f), kiln.int8).numpy(),
        np.clip(np.nan_to_num(np.trunc(f), nan=0.0, posinf=127.0), -128, 127).astype(np.int8))
    np.testing.assert_array_equal(kiln.cast(kiln.constant([True, False]), kiln.uint8).numpy(),
                                  [1, 0])
    np.testing.assert_array_equal(kiln.cast(kiln.constant(u8), kiln.bool).numpy(), u8 != 0)
    np.testing.assert_array_equal(
        kiln.saturate_cast(kiln.constant([-5, 300, 7]), kiln.uint8).numpy(), [0, 255, 7])
    np.testing.assert_array_equal(
        kiln.saturate_cast(kiln.constant(np.array([-5, 100], np.int8)), kiln.uint16).numpy(),
        [0, 100])


def test_compiled_functions_take_and_return_storage_types():
    @kiln.function
    def normalize(images, offsets):
        shifted = images + offsets          # uint8 arithmetic: wraps
        return kiln.cast(images, kiln.float32) / 255.0, shifted, kiln.reduce_max(images)

    x = np.array([[0, 17, 255], [128, 3, 250]], np.uint8)
    o = np.array([10, 250, 1], np.uint8)
    scaled, shifted, top = normalize(kiln.constant(x), kiln.constant(o))
    np.testing.assert_allclose(scaled.numpy(), x / np.float32(255), rtol=1e-6)
    assert shifted.dtype == kiln.uint8
    np.testing.assert_array_equal(shifted.numpy(), x + o)
    assert top.numpy() == 255 and top.dtype == kiln.uint8

    @kiln.function(input_signature=[kiln.TensorSpec([None], kiln.int16)])
    def halve(v):
        return v // 2 - 1

    v = np.array([-32768, -3, 0, 32767], np.int16)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(halve(kiln.constant(v)).numpy(), v // 2 - np.int16(1))
    assert halve(kiln.constant(v[:2])).dtype == kiln.int16


def test_index_operands_and_constants_in_traces():
    table = np.array([10, 20, 30, 40], np.int32)
    at = np.array([3, 0, 2], np.uint8)
    got = kiln.gather(kiln.constant(table), kiln.constant(at))
    assert got.dtype == kiln.int32
    np.testing.assert_array_equal(got.numpy(), table[at])
    hot = kiln.one_hot(kiln.constant(np.array([2, 0], np.uint8)), 3)
    np.testing.assert_array_equal(hot.numpy(), np.eye(3, dtype=np.float32)[[2, 0]])

    @kiln.function
    def shift(x):
        return x + kiln.constant(np.array([200, 100], np.uint8))

    np.testing.assert_array_equal(shift(kiln.constant(np.array([100, 100], np.uint8))).numpy(),
                                  [44, 200])


def test_errors_name_the_problem():
    u8 = kiln.constant(np.array([1, 2], np.uint8))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="one dtype, got int32 and uint8"):
        u8 + kiln.constant([1, 2])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="int8 and uint8"):
        kiln.maximum(u8, kiln.constant(np.array([1, 2], np.int8)))
    with pytest.raises(TypeError, match=r"out of its range \[0, 255\]"):
        u8 - 300
    with pytest.raises(TypeError, match="uint64 values above the int64 range"):
        kiln.constant(np.array([2**64 - 1], np.uint64))
    np.testing.assert_array_equal((u8 + 255).numpy(), [0, 1])


def test_variables_of_storage_types():
    v = kiln.Variable(np.array([250, 5], np.uint8))
    assert v.dtype == kiln.uint8
    v.assign_add(kiln.constant(np.array([10, 10], np.uint8)))
    np.testing.assert_array_equal(v.numpy(), [4, 15])

    @kiln.function
    def bump():
        v.assign(v + 1)
        return v.read_value()

    np.testing.assert_array_equal(bump().numpy(), [5, 16])
    assert bump().dtype == kiln.uint8


def test_images_decode_to_uint8_and_convert_by_their_range():
    from PIL import Image
    pixels = np.array([[[0, 64, 255], [128, 200, 1]]], np.uint8)
    png = io.BytesIO()
    Image.fromarray(pixels).save(png, "PNG")
    decoded = kiln.io.decode_png(png.getvalue())
    assert decoded.dtype == kiln.uint8
    np.testing.assert_array_equal(decoded.numpy(), pixels)
    image = kiln.image.convert_image_dtype(decoded, kiln.float32)
    np.testing.assert_allclose(image.numpy(), pixels / np.float32(255), rtol=1e-6)
    back = kiln.image.convert_image_dtype(image, kiln.uint8)
    assert back.dtype == kiln.uint8
    np.testing.assert_array_equal(back.numpy(), pixels)
    # TensorFlow's integer rescaling: uint8 -> uint16 multiplies by 65536 //
    # 256, uint16 -> uint8 divides by it.
    wide = kiln.image.convert_image_dtype(decoded, kiln.uint16)
    np.testing.assert_array_equal(wide.numpy(), pixels.astype(np.uint16) * 256)
    np.testing.assert_array_equal(
        kiln.image.convert_image_dtype(wide, kiln.uint8).numpy(), pixels)
    np.testing.assert_array_equal(kiln.image.flip_left_right(decoded).numpy(),
                                  pixels[:, ::-1])
    assert kiln.io.decode_png(png.getvalue(), dtype=kiln.uint16).dtype == kiln.uint16
    # Brightness on uint8 runs on [0, 1] floats and converts back.
    brighter = kiln.image.adjust_brightness(decoded, 0.1)
    assert brighter.dtype == kiln.uint8
    expected = np.clip(pixels / np.float32(255) + np.float32(0.1), 0, 1) * 255.5
    np.testing.assert_array_equal(brighter.numpy(), expected.astype(np.uint8))


def test_pipelines_and_keras_take_uint8_data():
    images = np.random.default_rng(0).integers(0, 256, (32, 4, 4, 1), dtype=np.uint8)
    labels = (images.reshape(32, -1).mean(axis=1) > 127).astype(np.uint8)
    ds = kiln.data.Dataset.from_tensor_slices((images, labels))
    first, label = next(iter(ds))
    assert first.dtype == kiln.uint8 and label.dtype == kiln.uint8
    scaled = ds.map(lambda x, y: (kiln.cast(x, kiln.float32) / 255.0, y)).batch(8)
    batch, _ = next(iter(scaled))
    np.testing.assert_allclose(batch.numpy(), images[:8] / np.float32(255), rtol=1e-6)

    keras = kiln.keras
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(images, labels, batch_size=8, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    expected = model(images[:4].astype(np.float32)).numpy()
    np.testing.assert_allclose(model(images[:4]).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_review_findings():
    u8 = kiln.constant(np.array([0, 128, 255], np.uint8))
    # TensorFlow's truediv: 8/16-bit integers as float32, 32/64-bit as float64.
    assert (u8 / 255).dtype == kiln.float32
    np.testing.assert_allclose((u8 / 255).numpy(), [0, 128 / 255, 1], rtol=1e-6)
    assert (kiln.constant(np.array([1], np.int16)) / 2).dtype == kiln.float32
    assert (kiln.constant(np.array([1], np.uint32)) / 2).dtype == kiln.float64
    # The mean of many uint8 pixels (the count does not fit uint8; the sum
    # is not wrapped).
    pixels = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    mean = kiln.reduce_mean(kiln.constant(pixels))
    assert mean.dtype == kiln.uint8 and int(mean) == int(pixels.astype(np.int64).sum() // 784)
    # An empty maximum is the type's lowest value, an empty minimum its highest.
    empty = kiln.zeros([0], kiln.int8)
    assert int(kiln.reduce_max(empty)) == -128 and int(kiln.reduce_min(empty)) == 127
    assert int(kiln.reduce_max(kiln.zeros([0], kiln.uint16))) == 0
    # Flat indices of uint8 (or int16) indices are computed widened: 19 * 20 + 19
    # does not wrap to 143.
    params = np.arange(400, dtype=np.float32).reshape(20, 20)
    at = np.array([[19, 19], [7, 3]], np.uint8)
    np.testing.assert_array_equal(kiln.gather_nd(kiln.constant(params), kiln.constant(at)).numpy(),
                                  [399, 143])
    np.testing.assert_array_equal(
        kiln.math.unsorted_segment_sum(kiln.constant([1.0, 2.0, 3.0]),
                                       kiln.constant(np.array([2, 0, 2], np.int16)), 3).numpy(),
        [2.0, 0.0, 4.0])
    # A result asked for in a storage type.
    hot = kiln.one_hot(kiln.constant([1, 0]), 2, dtype=kiln.uint8)
    assert hot.dtype == kiln.uint8
    np.testing.assert_array_equal(hot.numpy(), [[0, 1], [1, 0]])
    # An op that takes storage types reports its own error, not a widened one's.
    with pytest.raises(kiln.errors.InvalidArgumentError, match="ui8"):
        kiln.reshape(u8, [2, 2])
    # saturate clamps integer conversions too (TensorFlow's saturate_cast).
    i8 = kiln.constant(np.array([-1, 127], np.int8))
    np.testing.assert_array_equal(
        kiln.image.convert_image_dtype(i8, kiln.uint8, saturate=True).numpy(), [0, 254])
    # Serialized uint8 tensors come back as uint8; another out_type is an error.
    data = kiln.io.serialize_tensor(u8)
    back = kiln.io.parse_tensor(data, kiln.uint8)
    assert back.dtype == kiln.uint8
    np.testing.assert_array_equal(back.numpy(), [0, 128, 255])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="uint8, not int32"):
        kiln.io.parse_tensor(data, kiln.int32)


def test_print_and_summaries_of_storage_types_in_traces(capfd, tmp_path):
    @kiln.function
    def show(x):
        kiln.print("pixels", x)
        return x + 1

    show(kiln.constant(np.array([7, 255], np.uint8)))
    assert "pixels [7 255]" in capfd.readouterr().err
    writer = kiln.summary.create_file_writer(str(tmp_path))

    @kiln.function
    def log(x, step):
        with writer.as_default():
            kiln.summary.scalar("top", kiln.reduce_max(x), step=step)
        return x

    log(kiln.constant(np.array([3, 200], np.uint8)), kiln.constant(np.int16(4)))
    writer.flush()
    assert kiln.summary.read_scalars(str(tmp_path))["top"] == ([4], [200.0])


def test_bitcast_to_and_from_storage_types():
    words = np.array([0x04030201, -1], np.int32)
    as_bytes = kiln.bitcast(kiln.constant(words), kiln.uint8)
    assert as_bytes.dtype == kiln.uint8 and as_bytes.shape == (2, 4)
    np.testing.assert_array_equal(as_bytes.numpy(), words.view(np.uint8).reshape(2, 4))
    back = kiln.bitcast(as_bytes, kiln.int32)
    np.testing.assert_array_equal(back.numpy(), words)
    halves = kiln.bitcast(kiln.constant(np.array([1.5], np.float32)), kiln.int16)
    np.testing.assert_array_equal(halves.numpy(),
                                  np.array([1.5], np.float32).view(np.int16).reshape(1, 2))
