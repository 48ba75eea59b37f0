"""kiln.image against NumPy: resizing against interpolation matrices built
from TensorFlow's definition (and block means, repeats), flips and
rotations against np.flip/np.rot90, crops and pads against slicing, colour
adjustments against their formulas; gradients through a resize against
the matrices' transposes; random augmentations by what each output must
be; compiled with an open batch."""

import numpy as np
import pytest

import kiln

RNG = np.random.default_rng(21)


@pytest.fixture
def seeded():
    """A global seed for the test, cleared after it (other tests' random
    initial weights must not depend on which tests ran before)."""
    kiln.random.set_seed(5)
    yield
    kiln.random.set_seed(None)


def bilinear_matrix(n, m):
    """[m, n]: output row i mixes input rows as TensorFlow 2's half-pixel
    bilinear kernel does (lower = max(floor(s), 0), upper = min(ceil(s),
    n - 1), weight of upper = s - floor(s), s = (i + 0.5) n / m - 0.5)."""
    w = np.zeros((m, n))
    for i in range(m):
        s = (i + 0.5) * n / m - 0.5
        lower, upper = max(int(np.floor(s)), 0), min(int(np.ceil(s)), n - 1)
        frac = s - np.floor(s)
        w[i, lower] += 1 - frac
        w[i, upper] += frac
    return w


@pytest.mark.parametrize("size,new", [((5, 7), (9, 4)), ((4, 4), (2, 2)), ((3, 6), (3, 13)),
                                      ((1, 1), (3, 2))])
def test_bilinear_resize_matches_the_interpolation_matrices(size, new):
    x = RNG.normal(size=(2,) + size + (3,)).astype(np.float32)
    got = kiln.image.resize(x, new).numpy()
    wh, ww = bilinear_matrix(size[0], new[0]), bilinear_matrix(size[1], new[1])
    want = np.einsum("oh,bhwc,pw->bopc", wh, x.astype(np.float64), ww)
    assert got.dtype == np.float32 and got.shape == (2,) + tuple(new) + (3,)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # One image without a batch dimension; an integer image becomes float32.
    np.testing.assert_allclose(kiln.image.resize(x[0], new).numpy(), want[0], rtol=1e-5,
                               atol=1e-6)
    ints = RNG.integers(0, 255, size=size + (1,)).astype(np.int32)
    assert kiln.image.resize(ints, new).dtype == kiln.float32


def test_resize_special_cases():
    x = RNG.normal(size=(1, 4, 6, 2)).astype(np.float32)
    # Halving with half-pixel centres averages 2x2 blocks.
    blocks = x.reshape(1, 2, 2, 3, 2, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(kiln.image.resize(x, [2, 3]).numpy(), blocks, rtol=1e-6,
                               atol=1e-6)
    # Nearest: doubling repeats each pixel, halving keeps the odd ones.
    near = kiln.image.resize(x, [8, 12], method="nearest").numpy()
    np.testing.assert_array_equal(near, x.repeat(2, axis=1).repeat(2, axis=2))
    half = kiln.image.resize(x, [2, 3], method=kiln.image.ResizeMethod.NEAREST_NEIGHBOR)
    np.testing.assert_array_equal(half.numpy(), x[:, 1::2, 1::2])
    # The same size is the identity; the aspect ratio can be kept.
    np.testing.assert_array_equal(kiln.image.resize(x, [4, 6]).numpy(), x)
    assert kiln.image.resize(x, [8, 8], preserve_aspect_ratio=True).shape == (1, 5, 8, 2)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="unknown method 'lanczos4'"):
        kiln.image.resize(x, [8, 8], method="lanczos4")
    with pytest.raises(kiln.errors.InvalidArgumentError, match="two positive extents"):
        kiln.image.resize(x, [0, 3])


def test_resize_gradient_and_open_batch():
    # The cotangent of a resize goes back through the transposed matrices.
    wh, ww = bilinear_matrix(5, 8), bilinear_matrix(4, 3)
    weights = RNG.normal(size=(8, 3, 2)).astype(np.float32)

    @kiln.function(input_signature=[kiln.TensorSpec([None, 5, 4, 2])])
    def step(x):
        with kiln.GradientTape() as tape:
            tape.watch(x)
            y = kiln.image.resize(x, [8, 3])
            loss = kiln.reduce_sum(y * weights)
        return y, tape.gradient(loss, x)

    for n in (3, 1):
        x = RNG.normal(size=(n, 5, 4, 2)).astype(np.float32)
        y, dx = step(x)
        np.testing.assert_allclose(y.numpy(), np.einsum("oh,bhwc,pw->bopc", wh, x, ww),
                                   rtol=1e-5, atol=1e-6)
        want = np.einsum("oh,opc,pw->hwc", wh, weights, ww)
        np.testing.assert_allclose(dx.numpy(), np.broadcast_to(want, x.shape), rtol=1e-5,
                                   atol=1e-6)
    assert step.trace_count == 1


def test_flips_rotations_crops_and_pads():
    x = RNG.normal(size=(2, 5, 4, 3)).astype(np.float32)
    img = kiln.image
    np.testing.assert_array_equal(img.flip_left_right(x).numpy(), x[:, :, ::-1])
    np.testing.assert_array_equal(img.flip_up_down(x[0]).numpy(), x[0, ::-1])
    np.testing.assert_array_equal(img.transpose(x).numpy(), x.transpose(0, 2, 1, 3))
    for k in range(-1, 5):
        np.testing.assert_array_equal(img.rot90(x, k).numpy(), np.rot90(x, k, axes=(1, 2)))
        np.testing.assert_array_equal(img.rot90(x[1], k).numpy(), np.rot90(x[1], k))
    np.testing.assert_array_equal(img.crop_to_bounding_box(x, 1, 2, 3, 2).numpy(),
                                  x[:, 1:4, 2:4])
    padded = img.pad_to_bounding_box(x[0], 2, 1, 8, 6).numpy()
    want = np.zeros((8, 6, 3), np.float32)
    want[2:7, 1:5] = x[0]
    np.testing.assert_array_equal(padded, want)
    # Cropped where larger (height 5 -> 3: rows 1..3), padded where smaller
    # (width 4 -> 7: 1 column before, 2 after).
    both = img.resize_with_crop_or_pad(x, 3, 7).numpy()
    want = np.zeros((2, 3, 7, 3), np.float32)
    want[:, :, 1:5] = x[:, 1:4]
    np.testing.assert_array_equal(both, want)
    big = RNG.normal(size=(10, 8, 1)).astype(np.float32)
    np.testing.assert_array_equal(img.central_crop(big, 0.5).numpy(), big[2:8, 2:6])
    np.testing.assert_array_equal(img.central_crop(big, 1.0).numpy(), big)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="does not lie inside"):
        img.crop_to_bounding_box(x, 3, 0, 3, 2)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="do not fit"):
        img.pad_to_bounding_box(x, 0, 0, 4, 4)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="images are"):
        img.flip_left_right(x[0, 0])


def test_colour_adjustments():
    x = RNG.uniform(0, 1, size=(2, 4, 5, 3)).astype(np.float32)
    img = kiln.image
    np.testing.assert_allclose(img.adjust_brightness(x, 0.25).numpy(), x + 0.25, rtol=1e-6)
    mean = x.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(img.adjust_contrast(x, 1.7).numpy(), (x - mean) * 1.7 + mean,
                               rtol=1e-5, atol=1e-6)
    std = x.reshape(2, -1).std(axis=1).reshape(2, 1, 1, 1)
    mu = x.reshape(2, -1).mean(axis=1).reshape(2, 1, 1, 1)
    np.testing.assert_allclose(img.per_image_standardization(x).numpy(), (x - mu) / std,
                               rtol=1e-4, atol=1e-5)
    flat = np.full((3, 3, 2), 7.0, np.float32)  # stddev 0: divided by 1/sqrt(18)
    np.testing.assert_allclose(img.per_image_standardization(flat).numpy(), 0.0)
    gray = img.rgb_to_grayscale(x).numpy()
    np.testing.assert_allclose(gray, (x * [0.2989, 0.5870, 0.1140]).sum(-1, keepdims=True),
                               rtol=1e-5)
    np.testing.assert_array_equal(img.grayscale_to_rgb(gray).numpy(), np.repeat(gray, 3, -1))
    ints = np.array([[[0], [2 ** 31 - 1]]], np.int32)
    as_float = img.convert_image_dtype(ints, kiln.float32).numpy()
    np.testing.assert_allclose(as_float, [[[0.0], [1.0]]])
    back = img.convert_image_dtype(np.array([0.0, 0.5, 1.2], np.float32), kiln.int32,
                                   saturate=True).numpy()
    assert back[0] == 0 and abs(back[1] - 2 ** 30) < 256 and back[2] == 2 ** 31 - 1


def test_random_augmentations_compiled_over_an_open_batch(seeded):
    # Each image is itself or its mirror, both happen across a batch, and
    # a random crop is some window of the input; compiled with an open
    # batch, one trace, fresh draws every call.
    @kiln.function(input_signature=[kiln.TensorSpec([None, 6, 5, 1])])
    def augment(x):
        return (kiln.image.random_flip_left_right(x), kiln.image.random_flip_up_down(x),
                kiln.image.random_crop(x, [kiln.shape(x)[0], 4, 3, 1]),
                kiln.image.random_brightness(x, 0.2))

    x = RNG.normal(size=(64, 6, 5, 1)).astype(np.float32)
    offsets = set()
    for _ in range(6):
        lr, ud, crop, bright = (t.numpy() for t in augment(x))
        same = np.all(lr == x, axis=(1, 2, 3))
        mirrored = np.all(lr == x[:, :, ::-1], axis=(1, 2, 3))
        assert np.all(same | mirrored) and same.any() and mirrored.any()
        same = np.all(ud == x, axis=(1, 2, 3))
        assert np.all(same | np.all(ud == x[:, ::-1], axis=(1, 2, 3))) and same.any()
        found = [(i, j) for i in range(3) for j in range(3)
                 if np.array_equal(crop, x[:, i:i + 4, j:j + 3])]
        assert len(found) == 1
        offsets.add(found[0])
        delta = bright - x
        assert abs(delta.max() - delta.min()) < 1e-5 and abs(delta.flat[0]) <= 0.2
    assert len(offsets) > 1  # (fresh offsets: 9 windows, 6 draws)
    assert augment.trace_count == 1


def test_keras_preprocessing_layers(seeded):
    layers = kiln.layers
    x = RNG.uniform(0, 255, size=(2, 6, 8, 3)).astype(np.float32)
    wh, ww = bilinear_matrix(6, 3), bilinear_matrix(8, 4)
    np.testing.assert_allclose(layers.Resizing(3, 4)(x).numpy(),
                               np.einsum("oh,bhwc,pw->bopc", wh, x, ww), rtol=1e-5, atol=1e-4)
    # crop_to_aspect_ratio: a 1:1 target takes the centred 6x6 window first.
    square = layers.Resizing(3, 3, crop_to_aspect_ratio=True)(x).numpy()
    w3 = bilinear_matrix(6, 3)
    np.testing.assert_allclose(square, np.einsum("oh,bhwc,pw->bopc", w3, x[:, :, 1:7], w3),
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(layers.CenterCrop(4, 4)(x).numpy(), x[:, 1:5, 2:6])
    # Inference: RandomFlip/RandomContrast/RandomBrightness are identities,
    # RandomCrop the smart resize (here a centre 6x6 window to 3x3).
    for layer in (layers.RandomFlip(), layers.RandomContrast(0.5), layers.RandomBrightness(0.2)):
        np.testing.assert_array_equal(layer(x).numpy(), x)
    np.testing.assert_allclose(layers.RandomCrop(3, 3)(x).numpy(), square, rtol=1e-5,
                               atol=1e-4)
    # Training, compiled with an open batch: what each image must become.
    flip = layers.RandomFlip("horizontal")
    crop = layers.RandomCrop(4, 5)
    contrast = layers.RandomContrast((0.2, 0.4))
    bright = layers.RandomBrightness(0.1)

    @kiln.function(input_signature=[kiln.TensorSpec([None, 6, 8, 3])])
    def augment(images):
        return (flip(images, training=True), crop(images, training=True),
                contrast(images, training=True), bright(images, training=True))

    many = RNG.uniform(0, 255, size=(32, 6, 8, 3)).astype(np.float32)
    f, c, k, b = (t.numpy() for t in augment(many))
    same = np.all(f == many, axis=(1, 2, 3))
    assert np.all(same | np.all(f == many[:, :, ::-1], axis=(1, 2, 3))) and 0 < same.sum() < 32
    assert sum(np.array_equal(c, many[:, i:i + 4, j:j + 5])
               for i in range(3) for j in range(4)) == 1
    # Contrast: one factor per image in [0.8, 1.4] around each channel's
    # mean (pixels clipped to [0, 255] or near the mean left out).
    mean = many.mean(axis=(1, 2), keepdims=True)
    ratio = (k - mean) / (many - mean)
    usable = (k > 0) & (k < 255) & (np.abs(many - mean) > 1.0)
    factors = []
    for i in range(32):
        r = ratio[i][usable[i]]
        assert np.ptp(r) < 1e-3
        factors.append(r.mean())
    assert min(factors) > 0.8 - 1e-3 and max(factors) < 1.4 + 1e-3 and np.ptp(factors) > 0.05
    delta = b - many
    unclipped = (b > 0) & (b < 255)
    per_image = [np.ptp(delta[i][unclipped[i]]) for i in range(32)]
    assert max(per_image) < 1e-3 and np.all(np.abs(delta[unclipped]) <= 25.5 + 1e-3)
    assert augment.trace_count == 1


def test_separable_conv_group_norm_and_spatial_dropout():
    from conftest import central
    layers = kiln.layers
    x = RNG.normal(size=(2, 5, 5, 4))
    sep = layers.SeparableConv2D(3, 3, padding="same", depth_multiplier=2, dtype="float64")
    y = sep(x).numpy()
    dk, pk, bias = (w.numpy() for w in (sep.depthwise_kernel, sep.pointwise_kernel, sep.bias))
    assert dk.shape == (3, 3, 4, 2) and pk.shape == (1, 1, 8, 3)
    padded = np.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    depth = np.zeros((2, 5, 5, 4, 2))
    for i in range(5):
        for j in range(5):
            depth[:, i, j] = np.einsum("bhwc,hwcm->bcm", padded[:, i:i + 3, j:j + 3], dk)
    np.testing.assert_allclose(y, depth.reshape(2, 5, 5, 8) @ pk[0, 0] + bias, rtol=1e-10)

    norm = layers.GroupNormalization(groups=2, dtype="float64")
    out = norm(x).numpy()
    g = x.reshape(2, 5, 5, 2, 2)
    mean = g.mean(axis=(1, 2, 4), keepdims=True)
    var = g.var(axis=(1, 2, 4), keepdims=True)
    np.testing.assert_allclose(out, ((g - mean) / np.sqrt(var + 1e-3)).reshape(x.shape),
                               rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="do not split into 3 groups"):
        layers.GroupNormalization(groups=3)(x)
    # Its gradient with respect to the input, compiled over an open batch.
    w = RNG.normal(size=(5, 5, 4))

    @kiln.function(input_signature=[kiln.TensorSpec([None, 5, 5, 4], kiln.float64)])
    def grad(v):
        with kiln.GradientTape() as tape:
            tape.watch(v)
            loss = kiln.reduce_sum(norm(v) * w)
        return tape.gradient(loss, v)

    small = x[:1]
    np.testing.assert_allclose(grad(small).numpy(),
                               central(lambda v: float(kiln.reduce_sum(norm(v) * w)), small),
                               rtol=1e-5, atol=1e-7)

    drop = layers.SpatialDropout2D(0.5)
    ones = np.ones((8, 3, 3, 16), np.float32)
    kept = drop(ones, training=True).numpy()
    per_map = kept.reshape(8, 9, 16)
    assert np.all(per_map.min(axis=1) == per_map.max(axis=1))   # whole maps
    assert set(np.unique(kept)) <= {0.0, 2.0} and 0 < (kept == 0).mean() < 1
    np.testing.assert_array_equal(drop(ones).numpy(), ones)
    seq = layers.SpatialDropout1D(0.5)(np.ones((4, 6, 10), np.float32), training=True).numpy()
    assert np.all(seq.min(axis=1) == seq.max(axis=1))


def test_review_cases_seeds_ranges_dtypes_and_taps():
    img, layers = kiln.image, kiln.layers
    # Nearest taps in float32 as TensorFlow: 26 -> 11, output row 5 reads
    # row 12 (5.5 * 26/11 is 12.9999995 in float32; 13 in float64).
    column = np.arange(26, dtype=np.float32).reshape(26, 1, 1)
    rows = img.resize(column, [11, 1], method="nearest").numpy().reshape(-1)
    assert rows[5] == 12.0
    # Float64 images, and empty ranges (nothing drawn).
    x64 = RNG.uniform(0, 1, size=(3, 4, 4, 2))
    out = img.random_brightness(x64, 0.1).numpy()
    assert out.dtype == np.float64 and np.ptp(out - x64) < 1e-12
    np.testing.assert_array_equal(img.random_brightness(x64, 0.0).numpy(), x64)
    np.testing.assert_allclose(img.adjust_contrast(x64, kiln.constant(2.0)).numpy(),
                               (x64 - x64.mean((1, 2), keepdims=True)) * 2
                               + x64.mean((1, 2), keepdims=True), rtol=1e-12)
    pixels = RNG.uniform(0, 255, size=(8, 4, 4, 3)).astype(np.float32)
    for layer in (layers.RandomBrightness(0.0), layers.RandomContrast(0.0)):
        np.testing.assert_allclose(layer(pixels, training=True).numpy(), pixels, rtol=1e-6,
                                   atol=1e-4)
    # Keras' signed brightness range: (0.1, 0.3) only brightens.
    bright = layers.RandomBrightness((0.1, 0.3), value_range=(0, 1000))
    delta = (bright(pixels, training=True).numpy() - pixels)[:, 0, 0, 0]
    assert np.all(delta >= 100 - 1e-3) and np.all(delta <= 300 + 1e-3)
    layers.RandomBrightness((-0.2, 0.5))      # (accepted, as Keras)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        layers.RandomBrightness(1.5)
    # With a seed, a layer's two flips are independent, and crops' offsets
    # are drawn per dimension.
    flip = layers.RandomFlip(seed=3)
    many = RNG.normal(size=(64, 5, 5, 1)).astype(np.float32)
    got = flip(many, training=True).numpy()
    kinds = set()
    for g, m in zip(got, many):
        kinds.add((bool(np.array_equal(g, m[:, ::-1]) or np.array_equal(g, m[::-1, ::-1])),
                   bool(np.array_equal(g, m[::-1]) or np.array_equal(g, m[::-1, ::-1]))))
    assert len(kinds) == 4
    square = np.arange(100, dtype=np.float32).reshape(10, 10, 1)
    offsets = set()
    for seed in range(12):
        window = img.random_crop(square, [4, 4, 1], seed=seed).numpy()
        offsets.add((int(window[0, 0, 0]) // 10, int(window[0, 0, 0]) % 10))
    assert any(i != j for i, j in offsets)
    # Saturating float -> int keeps negative values (TensorFlow's saturate_cast).
    low = img.convert_image_dtype(np.array([-2.0], np.float32), kiln.int32, saturate=True)
    assert low.numpy()[0] == np.iinfo(np.int32).min


def test_group_normalization_over_open_lengths_with_weights():
    norm = kiln.layers.GroupNormalization(groups=2, dtype="float64")
    norm.build((None, None, 4))
    norm.built = True
    gamma, beta = RNG.normal(size=4), RNG.normal(size=4)
    norm.gamma.assign(gamma)
    norm.beta.assign(beta)
    f = kiln.function(norm, input_signature=[kiln.TensorSpec([None, None, 4], kiln.float64)])
    for shape in ((2, 5, 4), (1, 3, 4)):
        x = RNG.normal(size=shape)
        g = x.reshape(shape[0], shape[1], 2, 2)
        mean = g.mean(axis=(1, 3), keepdims=True)
        var = g.var(axis=(1, 3), keepdims=True)
        want = ((g - mean) / np.sqrt(var + 1e-3)).reshape(shape) * gamma + beta
        np.testing.assert_allclose(f(x).numpy(), want, rtol=1e-10, atol=1e-12)
    assert f.trace_count == 1


def tf_map_coordinate(c, n, mode):
    """TensorFlow's ImageProjectiveTransform map_coordinate, as its C++
    kernel reads (truncating casts)."""
    if mode == "constant":
        return c
    if mode == "reflect":
        if c < 0:
            if n <= 1:
                c = 0.0
            else:
                sz2 = 2 * n
                if c < -sz2:
                    c = sz2 * int(-c / sz2) + c
                c = c + sz2 if c < -n else -c - 1
        elif c > n - 1:
            if n <= 1:
                c = 0.0
            else:
                sz2 = 2 * n
                c -= sz2 * int(c / sz2)
                if c >= n:
                    c = sz2 - c - 1
    elif mode == "wrap":
        if c < 0:
            c = 0.0 if n <= 1 else c + n * (int(-c / (n - 1)) + 1)
        elif c > n - 1:
            c = 0.0 if n <= 1 else c - n * int(c / (n - 1))
    return min(max(c, 0.0), n - 1.0)


def tf_transform(images, t, mode, interpolation, fill=0.0):
    """ImageProjectiveTransformV3 one output pixel at a time."""
    b, h, w, c = images.shape
    out = np.zeros(images.shape)

    def read(i, y, x):
        if 0 <= y <= h - 1 and 0 <= x <= w - 1:
            return images[i, int(y), int(x)]
        return np.full(c, fill)
    for i in range(b):
        a = t[i] if t.ndim == 2 else t
        for y in range(h):
            for x in range(w):
                k = a[6] * x + a[7] * y + 1.0
                xi = tf_map_coordinate((a[0] * x + a[1] * y + a[2]) / k, w, mode)
                yi = tf_map_coordinate((a[3] * x + a[4] * y + a[5]) / k, h, mode)
                if interpolation == "nearest":  # (std::round: halves away from 0)
                    away = lambda v: np.floor(v + 0.5) if v >= 0 else -np.floor(0.5 - v)
                    out[i, y, x] = read(i, away(yi), away(xi))
                    continue
                y0, x0 = np.floor(yi), np.floor(xi)
                top = (x0 + 1 - xi) * read(i, y0, x0) + (xi - x0) * read(i, y0, x0 + 1)
                bottom = (x0 + 1 - xi) * read(i, y0 + 1, x0) + \
                    (xi - x0) * read(i, y0 + 1, x0 + 1)
                out[i, y, x] = (y0 + 1 - yi) * top + (yi - y0) * bottom
    return out


@pytest.mark.parametrize("mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_projective_transform_matches_tensorflows_kernel(mode, interpolation):
    x = RNG.normal(size=(2, 7, 6, 2))
    th = 0.7
    rotate = np.array([np.cos(th), -np.sin(th), 2.0, np.sin(th), np.cos(th), -1.5, 0, 0])
    shift = np.array([1.0, 0.0, -9.3, 0.0, 1.0, 11.6, 0.0, 0.0])   # far outside: folds
    both = np.stack([rotate, shift])
    got = kiln.image.transform(x, both, interpolation, mode, fill_value=0.5).numpy()
    np.testing.assert_allclose(got, tf_transform(x, both, mode, interpolation, 0.5),
                               rtol=1e-10, atol=1e-12)


def test_geometric_augmentation_layers(seeded):
    layers = kiln.layers
    square = RNG.normal(size=(3, 6, 6, 2)).astype(np.float32)
    # A fixed quarter turn is np.rot90 (counter-clockwise), a zoom of 0 the
    # identity, a fixed shift by whole pixels the reflected shift.
    quarter = layers.RandomRotation((0.25, 0.25))(square, training=True).numpy()
    np.testing.assert_allclose(quarter, np.rot90(square, 1, axes=(1, 2)), atol=1e-5)
    np.testing.assert_array_equal(layers.RandomRotation(0.3)(square).numpy(), square)
    still = layers.RandomZoom(0.0)(square, training=True).numpy()
    np.testing.assert_allclose(still, square, atol=1e-6)
    moved = layers.RandomTranslation((0.5, 0.5), (0.0, 0.0))(square, training=True).numpy()
    rows = [(-r - 1) if r < 0 else r for r in np.arange(6) - 3]   # reflected: 2 1 0 0 1 2
    np.testing.assert_allclose(moved, square[:, rows], atol=1e-6)
    # Random draws, compiled: each image is rotated by its own angle (the
    # centre pixel of an odd image stays), over a batch known while tracing
    # and over an open one (one trace for every batch size).
    rotate = layers.RandomRotation(0.5, fill_mode="constant")
    zoom = layers.RandomZoom((-0.3, 0.3), fill_mode="nearest")
    f = kiln.function(lambda v: (rotate(v, training=True), zoom(v, training=True)))
    g = kiln.function(lambda v: (rotate(v, training=True), zoom(v, training=True)),
                      input_signature=[kiln.TensorSpec([None, 5, 5, 1])])
    for fn, sizes in ((f, [16]), (g, [16, 3, 1])):
        for n in sizes:
            imgs = RNG.normal(size=(n, 5, 5, 1)).astype(np.float32)
            r, z = (t.numpy() for t in fn(imgs))
            assert r.shape == z.shape == imgs.shape
            np.testing.assert_allclose(r[:, 2, 2], imgs[:, 2, 2], atol=1e-5)
            np.testing.assert_allclose(z[:, 2, 2], imgs[:, 2, 2], atol=1e-5)
            assert len({np.round(v, 4).tobytes() for v in r}) == n    # different angles
        assert fn.trace_count == 1


@pytest.mark.parametrize("mode,interpolation", [("reflect", "bilinear"),
                                                ("constant", "nearest"),
                                                ("wrap", "bilinear")])
def test_transform_over_an_open_batch(mode, interpolation):
    # One compiled function for every batch size: each image gathered from
    # a table whose length is the open batch times its pixels; transforms
    # one per image or one for all; the gradient with respect to the images
    # (the map is linear: <dL/dx, v> = sum(w * T(v)) for any v, T written
    # out by TensorFlow's kernel rules).
    th = 0.4
    rotate = np.array([np.cos(th), -np.sin(th), 1.0, np.sin(th), np.cos(th), -0.5, 0, 0])
    shift = np.array([1.0, 0.0, -2.3, 0.0, 1.0, 3.6, 0.0, 0.0])
    spec = kiln.TensorSpec([None, 7, 6, 2], kiln.float64)

    @kiln.function(input_signature=[spec, kiln.TensorSpec([None, 8], kiln.float64), spec])
    def each(x, t, w):
        with kiln.GradientTape() as tape:
            tape.watch(x)
            y = kiln.image.transform(x, t, interpolation, mode, fill_value=0.5)
            loss = kiln.reduce_sum(y * w)
        return y, tape.gradient(loss, x)

    @kiln.function(input_signature=[spec])
    def one(x):
        return kiln.image.transform(x, rotate, interpolation, mode, fill_value=0.5)

    for n in (2, 3, 1):
        x = RNG.normal(size=(n, 7, 6, 2))
        t = np.stack([rotate, shift, rotate * 0.9][:n])
        w, v = RNG.normal(size=x.shape), RNG.normal(size=x.shape)
        y, dx = (a.numpy() for a in each(x, t, w))
        np.testing.assert_allclose(y, tf_transform(x, t, mode, interpolation, 0.5),
                                   rtol=1e-10, atol=1e-12)
        # (the fill value is a constant: T(v) without it is T(v) - T(0))
        linear = tf_transform(v, t, mode, interpolation, 0.5) - \
            tf_transform(0 * v, t, mode, interpolation, 0.5)
        np.testing.assert_allclose(np.sum(dx * v), np.sum(w * linear), rtol=1e-9)
        np.testing.assert_allclose(one(x).numpy(),
                                   tf_transform(x, rotate, mode, interpolation, 0.5),
                                   rtol=1e-10, atol=1e-12)
    assert each.trace_count == 1 and one.trace_count == 1


def test_transform_of_16_bit_images_and_given_normalization_statistics():
    # Coordinates in float32 even for 16-bit images: a zoom of 0 of a wide
    # image is the identity (bfloat16 coordinates duplicated column 256).
    wide = RNG.uniform(0, 1, size=(1, 2, 300, 1)).astype(np.float32)
    out = kiln.image.transform(kiln.cast(kiln.constant(wide), kiln.bfloat16),
                               [1, 0, 0, 0, 1, 0, 0, 0])
    assert out.dtype == kiln.bfloat16
    np.testing.assert_array_equal(kiln.cast(out, kiln.float32).numpy(),
                                  kiln.cast(kiln.cast(kiln.constant(wide), kiln.bfloat16),
                                            kiln.float32).numpy())
    norm = kiln.layers.Normalization(axis=1, mean=[1.0, 2.0], variance=[4.0, 1.0])
    x = np.array([[[3.0, 1.0], [2.0, 4.0]]], np.float32)     # [1, 2 features, 2 steps]
    np.testing.assert_allclose(norm(x).numpy(), [[[1.0, 0.0], [0.0, 2.0]]])
    with pytest.raises(ValueError, match="height and width known"):
        kiln.function(lambda v: kiln.layers.UpSampling2D(interpolation="bilinear")(v),
                      input_signature=[kiln.TensorSpec([1, None, None, 1])])(
            np.zeros((1, 2, 2, 1), np.float32))


def test_colour_spaces_against_colorsys_and_the_definitions():
    import colorsys
    rgb = RNG.uniform(0, 1, size=(2, 3, 4, 3))
    rgb[0, 0, 0] = [0.5, 0.5, 0.5]            # a grey: hue 0
    rgb[0, 0, 1] = [0.0, 0.0, 0.0]            # black: saturation 0
    hsv = kiln.image.rgb_to_hsv(rgb).numpy()
    want = np.apply_along_axis(lambda p: colorsys.rgb_to_hsv(*p), -1, rgb)
    np.testing.assert_allclose(hsv, want, atol=1e-12)
    np.testing.assert_allclose(kiln.image.hsv_to_rgb(want).numpy(), rgb, atol=1e-12)
    yuv = kiln.image.rgb_to_yuv(rgb).numpy()
    np.testing.assert_allclose(yuv[..., 0], rgb @ [0.299, 0.587, 0.114], atol=1e-12)
    np.testing.assert_allclose(kiln.image.yuv_to_rgb(yuv).numpy(), rgb, atol=1e-7)
    yiq = kiln.image.rgb_to_yiq(rgb).numpy()
    np.testing.assert_allclose(yiq[..., 0], rgb @ [0.299, 0.587, 0.114], atol=1e-12)
    np.testing.assert_allclose(kiln.image.yiq_to_rgb(yiq).numpy(), rgb, atol=1e-7)
    # Hue and saturation adjustments through colorsys.
    turned = kiln.image.adjust_hue(rgb, 0.3).numpy()
    want = np.apply_along_axis(lambda p: colorsys.hsv_to_rgb(
        (colorsys.rgb_to_hsv(*p)[0] + 0.3) % 1.0, *colorsys.rgb_to_hsv(*p)[1:]), -1, rgb)
    np.testing.assert_allclose(turned, want, atol=1e-12)
    paler = kiln.image.adjust_saturation(rgb, 0.4).numpy()
    want = np.apply_along_axis(lambda p: colorsys.hsv_to_rgb(
        colorsys.rgb_to_hsv(*p)[0], colorsys.rgb_to_hsv(*p)[1] * 0.4,
        colorsys.rgb_to_hsv(*p)[2]), -1, rgb)
    np.testing.assert_allclose(paler, want, atol=1e-12)
    np.testing.assert_allclose(kiln.image.adjust_gamma(rgb, 2.0, 0.5).numpy(),
                               0.5 * rgb ** 2, atol=1e-15)
    eight = (rgb * 255).astype(np.uint8)
    # (8-bit images: Kiln holds them as int32, converted to floats and back)
    np.testing.assert_allclose(kiln.image.adjust_hue(eight, 0.1).numpy(),
                               kiln.image.adjust_hue(eight / 255.0, 0.1).numpy() * 255, atol=1)
    r = kiln.image.random_hue(rgb, 0.2, seed=3).numpy()
    assert r.shape == rgb.shape and not np.allclose(r, rgb)
    s = kiln.image.random_saturation(rgb, 0.5, 1.5, seed=4).numpy()
    np.testing.assert_allclose(kiln.image.rgb_to_hsv(s).numpy()[..., 2], hsv[..., 2],
                               atol=1e-12)    # (the value channel stays)


def test_gradients_sobel_and_total_variation_match_numpy():
    x = RNG.normal(size=(2, 5, 6, 3))
    dy, dx = kiln.image.image_gradients(x)
    want_dy = np.zeros_like(x)
    want_dy[:, :-1] = x[:, 1:] - x[:, :-1]
    want_dx = np.zeros_like(x)
    want_dx[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    np.testing.assert_allclose(dy.numpy(), want_dy)
    np.testing.assert_allclose(dx.numpy(), want_dx)
    tv = kiln.image.total_variation(x).numpy()
    np.testing.assert_allclose(tv, np.abs(want_dy).sum(axis=(1, 2, 3)) +
                               np.abs(want_dx).sum(axis=(1, 2, 3)), rtol=1e-12)
    assert kiln.image.total_variation(x[0]).shape == ()
    edges = kiln.image.sobel_edges(x).numpy()
    p = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="reflect")
    ky = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]])
    want = np.zeros(x.shape + (2,))
    for k, kernel in enumerate([ky, ky.T]):
        for i in range(3):
            for j in range(3):
                want[..., k] += kernel[i, j] * p[:, i:i + 5, j:j + 6, :]
    np.testing.assert_allclose(edges, want, atol=1e-12)


def _numpy_ssim_channels(a, b, max_val, size=11, sigma=1.5, k1=0.01, k2=0.03):
    """Wang et al.'s SSIM with a size x size Gaussian window, window by
    window (no separable filter): per image and channel, the mean over the
    windows of SSIM and of its contrast-structure term."""
    g = np.exp(-0.5 * ((np.arange(size) - (size - 1) / 2) / sigma) ** 2)
    window = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    h, w = a.shape[-3] - size + 1, a.shape[-2] - size + 1
    ssim_out = np.zeros(a.shape[:-3] + a.shape[-1:])
    cs_out = np.zeros_like(ssim_out)
    for idx in np.ndindex(*a.shape[:-3]):
        values, css = [], []
        for i in range(h):
            for j in range(w):
                pa = a[idx][i:i + size, j:j + size]           # [size, size, c]
                pb = b[idx][i:i + size, j:j + size]
                wsum = lambda t: np.einsum("ij,ijc->c", window, t)  # noqa: E731
                ma, mb = wsum(pa), wsum(pb)
                va, vb = wsum(pa * pa) - ma ** 2, wsum(pb * pb) - mb ** 2
                cov = wsum(pa * pb) - ma * mb
                cs = (2 * cov + c2) / (va + vb + c2)
                css.append(cs)
                values.append((2 * ma * mb + c1) / (ma ** 2 + mb ** 2 + c1) * cs)
        ssim_out[idx], cs_out[idx] = np.mean(values, axis=0), np.mean(css, axis=0)
    return ssim_out, cs_out


def _numpy_ssim(a, b, max_val, **kwargs):
    """SSIM per image: the mean over channels."""
    return _numpy_ssim_channels(a, b, max_val, **kwargs)[0].mean(axis=-1)


def test_psnr_and_ssim_match_their_formulas():
    a = RNG.uniform(0, 1, size=(2, 14, 13, 3))
    b = np.clip(a + RNG.normal(scale=0.1, size=a.shape), 0, 1)
    mse = ((a.astype(np.float32) - b.astype(np.float32)) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(kiln.image.psnr(a, b, 1.0).numpy(),
                               20 * np.log10(1.0) - 10 * np.log10(mse), rtol=1e-5)
    got = kiln.image.ssim(a, b, 1.0).numpy()
    np.testing.assert_allclose(got, _numpy_ssim(a.astype(np.float32), b.astype(np.float32),
                                                1.0), rtol=1e-4)
    np.testing.assert_allclose(kiln.image.ssim(a, a, 1.0).numpy(), [1.0, 1.0], rtol=1e-6)
    spec = kiln.TensorSpec([None, 14, 13, 3], kiln.float32)      # (compiled, open batch)
    compiled = kiln.function(lambda p, q: kiln.image.ssim(p, q, 1.0),
                             input_signature=[spec, spec])
    np.testing.assert_allclose(compiled(a.astype(np.float32), b.astype(np.float32)).numpy(),
                               got, rtol=1e-5)
    # uint8 images: scaled to [0, 1] with max_val, as TensorFlow does.
    a8, b8 = (a * 255).astype(np.uint8), (b * 255).astype(np.uint8)
    np.testing.assert_allclose(kiln.image.psnr(a8, b8, 255).numpy(),
                               kiln.image.psnr(a8 / 255.0, b8 / 255.0, 1.0).numpy(), rtol=1e-5)
    np.testing.assert_allclose(kiln.image.ssim(a8, b8, 255).numpy(),
                               kiln.image.ssim(a8 / 255.0, b8 / 255.0, 1.0).numpy(), rtol=1e-4)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="smaller than"):
        kiln.image.ssim(a[:, :8], b[:, :8], 1.0)


def test_resize_with_pad_keeps_the_aspect_ratio():
    x = RNG.uniform(0, 1, size=(1, 4, 8, 1))
    out = kiln.image.resize_with_pad(x, 6, 6).numpy()
    assert out.shape == (1, 6, 6, 1)
    inner = kiln.image.resize(x, [3, 6]).numpy()          # (8 wide -> 6: ratio 4/3)
    np.testing.assert_allclose(out[:, 1:4], inner, rtol=1e-6)
    assert not out[:, 0].any() and not out[:, 4:].any()


def _numpy_patches(x, k, s, r, padding):
    """tf.image.extract_patches pixel by pixel: zeros outside, SAME's
    padding split with the extra row/column after."""
    b, h, w, c = x.shape
    eh, ew = (k[0] - 1) * r[0] + 1, (k[1] - 1) * r[1] + 1
    if padding == "VALID":
        oh, ow, top, left = (h - eh) // s[0] + 1, (w - ew) // s[1] + 1, 0, 0
    else:
        oh, ow = -(-h // s[0]), -(-w // s[1])
        top = max((oh - 1) * s[0] + eh - h, 0) // 2
        left = max((ow - 1) * s[1] + ew - w, 0) // 2
    out = np.zeros((b, oh, ow, k[0] * k[1] * c))
    for i in range(oh):
        for j in range(ow):
            values = []
            for u in range(k[0]):
                for v in range(k[1]):
                    y, z = i * s[0] + u * r[0] - top, j * s[1] + v * r[1] - left
                    inside = 0 <= y < h and 0 <= z < w
                    values.append(x[:, y, z, :] if inside else np.zeros((b, c)))
            out[:, i, j] = np.concatenate(values, axis=-1)
    return out


@pytest.mark.parametrize("k,s,r,padding", [((2, 3), (2, 1), (1, 1), "VALID"),
                                           ((3, 3), (2, 2), (1, 1), "SAME"),
                                           ((2, 2), (1, 3), (2, 1), "SAME"),
                                           ((1, 1), (1, 1), (1, 1), "VALID")])
def test_extract_patches_matches_numpy(k, s, r, padding):
    x = RNG.normal(size=(2, 7, 8, 3))
    got = kiln.image.extract_patches(x, [1, *k, 1], [1, *s, 1], [1, *r, 1], padding)
    np.testing.assert_array_equal(got.numpy(), _numpy_patches(x, k, s, r, padding))
    f = kiln.function(lambda t: kiln.image.extract_patches(t, [1, *k, 1], [1, *s, 1],
                                                           [1, *r, 1], padding),
                      input_signature=[kiln.TensorSpec([None, 7, 8, 3], kiln.float64)])
    np.testing.assert_array_equal(f(x[:1]).numpy(), _numpy_patches(x[:1], k, s, r, padding))


def _numpy_iou(a, b):
    ay1, ay2 = sorted([a[0], a[2]])
    ax1, ax2 = sorted([a[1], a[3]])
    by1, by2 = sorted([b[0], b[2]])
    bx1, bx2 = sorted([b[1], b[3]])
    inter = max(min(ay2, by2) - max(ay1, by1), 0) * max(min(ax2, bx2) - max(ax1, bx1), 0)
    union = (ay2 - ay1) * (ax2 - ax1) + (by2 - by1) * (bx2 - bx1) - inter
    return inter / union if union > 0 else 0.0


def _numpy_nms(boxes, scores, k, iou_threshold, score_threshold):
    iou = _numpy_iou
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept = []
    for i in order:
        if len(kept) == k or scores[i] <= score_threshold:
            break
        if all(iou(boxes[i], boxes[j]) <= iou_threshold for j in kept):
            kept.append(i)
    return kept


def test_non_max_suppression_matches_a_greedy_loop():
    for trial in range(4):
        corners = RNG.uniform(0, 10, size=(30, 2))
        sizes = RNG.uniform(1, 4, size=(30, 2))
        boxes = np.concatenate([corners, corners + sizes], axis=1).astype(np.float32)
        boxes[::3] = boxes[::3][:, [2, 3, 0, 1]]                 # (corners either way round)
        scores = RNG.uniform(0, 1, 30).astype(np.float32)
        want = _numpy_nms(boxes, scores, 12, 0.4, 0.2)
        got = kiln.image.non_max_suppression(boxes, scores, 12, 0.4, 0.2).numpy()
        assert got.tolist() == want
        padded, count = kiln.function(
            lambda b, s: kiln.image.non_max_suppression_padded(
                b, s, 12, 0.4, 0.2, pad_to_max_output_size=True))(boxes, scores)
        only, n = kiln.image.non_max_suppression_padded(boxes, scores, 12, 0.4, 0.2)
        assert only.numpy().tolist() == want and int(n.numpy()) == len(want)
        assert int(count.numpy()) == len(want)
        assert padded.numpy().tolist() == want + [0] * (12 - len(want))
    with pytest.raises(kiln.errors.UnimplementedError, match="non_max_suppression_padded"):
        kiln.function(lambda b, s: kiln.image.non_max_suppression(b, s, 3))(boxes, scores)


def _numpy_soft_nms(boxes, scores, k, score_threshold, sigma):
    """TensorFlow's NonMaxSuppressionV5 with soft_nms_sigma > 0, as its
    kernel runs it: a priority queue of (score, lower index first)
    candidates; a popped candidate is decayed by the boxes selected since
    it was last looked at, selected if its score did not change, else pushed
    back while it stays above the threshold."""
    import heapq
    scale = -0.5 / sigma
    queue = [(-float(s), i, 0) for i, s in enumerate(scores) if s > score_threshold]
    heapq.heapify(queue)
    selected, selected_scores = [], []
    while len(selected) < k and queue:
        negative, i, begin = heapq.heappop(queue)
        original = score = -negative
        for j in range(len(selected) - 1, begin - 1, -1):
            sim = _numpy_iou(boxes[i], boxes[selected[j]])
            score *= np.exp(scale * sim * sim)
            if score <= score_threshold:
                break
        if score == original:
            selected.append(i)
            selected_scores.append(score)
        elif score > score_threshold:
            heapq.heappush(queue, (-score, i, len(selected)))
    return selected, selected_scores


def test_soft_non_max_suppression_matches_tensorflows_kernel():
    for trial in range(4):
        corners = RNG.uniform(0, 10, size=(25, 2))
        boxes = np.concatenate([corners, corners + RNG.uniform(1, 4, size=(25, 2))],
                               axis=1).astype(np.float32)
        scores = RNG.uniform(0, 1, 25).astype(np.float32)
        sigma, threshold = [0.5, 0.1, 1.0, 0.3][trial], [0.0, 0.2, 0.05, float("-inf")][trial]
        want, want_scores = _numpy_soft_nms(boxes, scores, 15, threshold, sigma)
        got, got_scores = kiln.image.non_max_suppression_with_scores(
            boxes, scores, 15, score_threshold=threshold, soft_nms_sigma=sigma)
        assert got.numpy().tolist() == want, f"trial {trial}"
        np.testing.assert_allclose(got_scores.numpy(), want_scores, rtol=1e-5)
        assert np.all(np.diff(got_scores.numpy()) <= 0)
    # Compiled (the padded form inside), and sigma 0: greedy NMS, the scores as given.
    idx, sc, n = kiln.function(lambda b, s: kiln.image._soft_nms(b, s, 15, 0.0, 0.5, "t"))(
        boxes, scores)
    want, want_scores = _numpy_soft_nms(boxes, scores, 15, 0.0, 0.5)
    assert idx.numpy().tolist()[:int(n.numpy())] == want
    hard, hard_scores = kiln.image.non_max_suppression_with_scores(boxes, scores, 8, 0.4, 0.2)
    assert hard.numpy().tolist() == _numpy_nms(boxes, scores, 8, 0.4, 0.2)
    np.testing.assert_array_equal(hard_scores.numpy(), scores[hard.numpy()])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="soft_nms_sigma must be >= 0"):
        kiln.image.non_max_suppression_with_scores(boxes, scores, 3, soft_nms_sigma=-1.0)


def _numpy_crop_and_resize(images, boxes, indices, size, method, extrapolation):
    """TensorFlow's CropAndResize kernel, one output pixel at a time, its
    positions in float32 as the kernel computes them (a position that is
    exactly half a pixel in float64 may round either way in float32)."""
    _, h, w, c = images.shape
    ch, cw = size
    f = np.float32
    out = np.zeros((len(boxes), ch, cw, c))
    for n, ((y1, x1, y2, x2), b) in enumerate(zip(boxes.astype(f), indices)):
        for i in range(ch):
            y = y1 * f(h - 1) + f(i) * ((y2 - y1) * f(h - 1) / f(ch - 1)) if ch > 1 \
                else f(0.5) * (y1 + y2) * f(h - 1)
            for j in range(cw):
                x = x1 * f(w - 1) + f(j) * ((x2 - x1) * f(w - 1) / f(cw - 1)) if cw > 1 \
                    else f(0.5) * (x1 + x2) * f(w - 1)
                if not (0 <= y <= h - 1 and 0 <= x <= w - 1):
                    out[n, i, j] = extrapolation
                    continue
                if method == "nearest":
                    away = lambda v: np.floor(v + 0.5)
                    out[n, i, j] = images[b, int(away(y)), int(away(x))]
                    continue
                t, l = int(np.floor(y)), int(np.floor(x))
                bt, rr = min(t + 1, h - 1), min(l + 1, w - 1)
                dy, dx = y - t, x - l
                top = images[b, t, l] * (1 - dx) + images[b, t, rr] * dx
                bottom = images[b, bt, l] * (1 - dx) + images[b, bt, rr] * dx
                out[n, i, j] = top * (1 - dy) + bottom * dy
    return out


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_crop_and_resize_matches_tensorflows_kernel(method):
    images = RNG.uniform(0, 1, size=(2, 6, 7, 3))
    boxes = np.array([[0.1, 0.2, 0.8, 0.9], [0.9, 0.0, 0.2, 1.0],     # (flipped rows)
                      [-0.2, -0.1, 0.5, 0.6], [0.3, 0.3, 0.3, 0.7]])  # (outside; one row)
    indices = np.array([0, 1, 1, 0])
    got = kiln.image.crop_and_resize(images, boxes, indices, [4, 5], method, 0.25).numpy()
    want = _numpy_crop_and_resize(images, boxes, indices, (4, 5), method, 0.25)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=2e-6)
    one = kiln.image.crop_and_resize(images, boxes, indices, [1, 1], method).numpy()
    np.testing.assert_allclose(one, _numpy_crop_and_resize(images, boxes, indices, (1, 1),
                                                           method, 0.0), atol=2e-6)


def _numpy_ms_ssim(a, b, max_val, factors, **kwargs):
    """Multi-scale SSIM (Wang, Simoncelli and Bovik): contrast-structure at
    every scale but the last, SSIM at the last, each clipped at 0 and raised
    to its factor; scales halved by 2x2 means after a symmetric pad of odd
    sides; the mean over channels."""
    product = 1.0
    for scale, factor in enumerate(factors):
        if scale:
            halves = []
            for x in (a, b):
                odd = [(0, 0)] * (x.ndim - 3) + [(0, x.shape[-3] % 2), (0, x.shape[-2] % 2),
                                                  (0, 0)]
                x = np.pad(x, odd, mode="symmetric")
                h, w = x.shape[-3] // 2, x.shape[-2] // 2
                halves.append(x.reshape(x.shape[:-3] + (h, 2, w, 2, x.shape[-1]))
                              .mean(axis=(-4, -2)))
            a, b = halves
        ssim_c, cs_c = _numpy_ssim_channels(a, b, max_val, **kwargs)
        term = ssim_c if scale == len(factors) - 1 else cs_c
        product = product * np.maximum(term, 0.0) ** factor
    return product.mean(axis=-1)


def test_ssim_multiscale_matches_its_definition():
    a = RNG.uniform(0, 1, size=(2, 23, 18, 2))   # odd sides at the first halving
    b = np.clip(a + RNG.normal(scale=0.2, size=a.shape), 0, 1)
    factors = (0.3, 0.5, 0.2)
    got = kiln.image.ssim_multiscale(a, b, 1.0, power_factors=factors, filter_size=5,
                                     filter_sigma=1.0).numpy()
    want = _numpy_ms_ssim(a.astype(np.float32), b.astype(np.float32), 1.0, factors, size=5,
                          sigma=1.0)
    np.testing.assert_allclose(got, want, rtol=1e-4)
    np.testing.assert_allclose(kiln.image.ssim_multiscale(a, a, 1.0, factors, 5).numpy(),
                               [1.0, 1.0], rtol=1e-5)
    # Compiled with an open batch, and extra leading axes.
    spec = kiln.TensorSpec([None, 23, 18, 2], kiln.float32)
    compiled = kiln.function(
        lambda p, q: kiln.image.ssim_multiscale(p, q, 1.0, factors, 5, 1.0),
        input_signature=[spec, spec])
    np.testing.assert_allclose(compiled(a.astype(np.float32), b.astype(np.float32)).numpy(),
                               got, rtol=1e-5)
    nested = kiln.image.ssim_multiscale(a[None], b[None], 1.0, factors, 5, 1.0).numpy()
    np.testing.assert_allclose(nested, got[None], rtol=1e-5)
    # TensorFlow's five default scales need 176 pixels for an 11x11 filter.
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match="at scale 1 of 5 .* 12x9 are smaller than the 11x11 filter"):
        kiln.image.ssim_multiscale(a, b, 1.0)


def _keys(t, a=-0.5):
    """Keys' cubic convolution kernel at distance t."""
    t = abs(t)
    if t <= 1:
        return ((a + 2) * t - (a + 3)) * t * t + 1
    if t < 2:
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return 0.0


def _numpy_bicubic(x, height, width):
    """TensorFlow 2's resize_bicubic (half-pixel centres, Keys a = -0.5),
    pixel by pixel: the 4 x 4 source pixels around each output's source
    position (its fraction rounded to 1/1024, as TensorFlow's weight table
    has it), those outside the image left out and the weights of each axis
    renormalized."""
    def axis_weights(n, m):
        rows = []
        for j in range(m):
            src = np.float32((np.float32(j) + np.float32(0.5)) *
                             (np.float32(n) / np.float32(m)) - np.float32(0.5))
            base = int(np.floor(src))
            frac = float(np.rint(np.float32(src - base) * np.float32(1024))) / 1024
            taps = [(k, _keys(frac + base - k)) for k in range(base - 1, base + 3)
                    if 0 <= k < n]
            total = sum(w for _, w in taps)
            rows.append([(k, w / total) for k, w in taps])
        return rows
    wy, wx = axis_weights(x.shape[1], height), axis_weights(x.shape[2], width)
    out = np.zeros((x.shape[0], height, width, x.shape[3]))
    for i in range(height):
        for j in range(width):
            for ky, a in wy[i]:
                for kx, b in wx[j]:
                    out[:, i, j] += a * b * x[:, ky, kx]
    return out


def test_bicubic_resize_matches_tensorflows_kernel():
    x = RNG.uniform(0, 1, size=(2, 5, 7, 3))
    for size in ((9, 12), (3, 4), (5, 10), (8, 7)):
        got = kiln.image.resize(x, size, method="bicubic").numpy()
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, _numpy_bicubic(x.astype(np.float32), *size),
                                   rtol=1e-5, atol=1e-6)
    flat = np.full((1, 4, 4, 1), 3.0)
    np.testing.assert_allclose(kiln.image.resize(flat, (7, 9), "bicubic").numpy(), 3.0,
                               rtol=1e-6)
    layer = kiln.layers.Resizing(10, 14, interpolation="bicubic")
    np.testing.assert_allclose(layer(x).numpy(), _numpy_bicubic(x.astype(np.float32), 10, 14),
                               rtol=1e-5, atol=1e-6)
    # (Antialiased, TensorFlow's bicubic is ScaleAndTranslate's Keys cubic:
    # test_antialiased_resize_matches_pillow.)


def test_random_grayscale_and_auto_contrast_layers():
    x = RNG.uniform(0, 255, size=(64, 3, 4, 3)).astype(np.float32)
    gray = (x * np.array([0.2989, 0.5870, 0.1140])).sum(-1, keepdims=True)
    layer = kiln.layers.RandomGrayscale(factor=0.5, seed=3)
    np.testing.assert_array_equal(layer(x).numpy(), x)              # (inference)
    y = layer(x, training=True).numpy()
    turned = np.all(np.abs(y - gray) < 1e-3, axis=(1, 2, 3))
    kept = np.all(y == x, axis=(1, 2, 3))
    assert np.all(turned | kept) and 15 < turned.sum() < 49
    np.testing.assert_allclose(kiln.layers.RandomGrayscale(1.0)(x, training=True).numpy(),
                               np.repeat(gray, 3, -1), rtol=1e-5, atol=1e-3)
    # AutoContrast: each channel's min and max go to the range's ends.
    img = RNG.uniform(50, 100, size=(2, 5, 6, 3)).astype(np.float32)
    img[1, ..., 2] = 7.0                                   # (a constant channel stays)
    out = kiln.layers.AutoContrast(value_range=(0, 255))(img).numpy()
    low, high = img.min(axis=(1, 2), keepdims=True), img.max(axis=(1, 2), keepdims=True)
    want = np.where(high > low, (img - low) / np.where(high > low, high - low, 1) * 255, img)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-3)
    unit = kiln.layers.AutoContrast(value_range=(0, 1))(img / 255.0).numpy()
    np.testing.assert_allclose(unit[0].min(axis=(0, 1)), 0.0, atol=1e-6)
    np.testing.assert_allclose(unit[0].max(axis=(0, 1)), 1.0, atol=1e-6)


def test_stateless_random_image_ops():
    x = RNG.uniform(0, 1, size=(32, 4, 5, 3)).astype(np.float32)
    im = kiln.image
    for flip, axis in ((im.stateless_random_flip_left_right, 2),
                       (im.stateless_random_flip_up_down, 1)):
        a = flip(x, seed=[1, 2]).numpy()
        np.testing.assert_array_equal(a, flip(x, seed=[1, 2]).numpy())   # (same seed)
        flipped = np.all(a == np.flip(x, axis), axis=(1, 2, 3))
        kept = np.all(a == x, axis=(1, 2, 3))
        assert np.all(flipped | kept) and 4 < flipped.sum() < 28
        assert not np.array_equal(a, flip(x, seed=[1, 3]).numpy())
        compiled = kiln.function(lambda v: flip(v, seed=[1, 2]))(x).numpy()
        np.testing.assert_array_equal(compiled, a)
    b = im.stateless_random_brightness(x, 0.2, seed=[5, 6]).numpy()
    delta = b - x
    assert np.ptp(delta) < 1e-5 and abs(delta.flat[0]) <= 0.2
    np.testing.assert_array_equal(b, im.stateless_random_brightness(x, 0.2, [5, 6]).numpy())
    c = im.stateless_random_contrast(x, 0.5, 1.5, seed=[7, 8]).numpy()
    np.testing.assert_array_equal(c, im.stateless_random_contrast(x, 0.5, 1.5, [7, 8]).numpy())
    for fn, args in ((im.stateless_random_hue, (0.2,)),
                     (im.stateless_random_saturation, (0.5, 1.5))):
        np.testing.assert_array_equal(fn(x, *args, seed=[3, 4]).numpy(),
                                      fn(x, *args, seed=[3, 4]).numpy())
    crop = im.stateless_random_crop(x[0], [2, 3, 3], seed=[9, 9]).numpy()
    np.testing.assert_array_equal(crop, im.stateless_random_crop(x[0], [2, 3, 3], [9, 9]).numpy())
    offsets = [(i, j) for i in range(3) for j in range(3)
               if np.array_equal(x[0][i:i + 2, j:j + 3], crop)]
    assert len(offsets) == 1
    with pytest.raises(kiln.errors.InvalidArgumentError, match="shape \\[2\\] integer"):
        im.stateless_random_flip_left_right(x, seed=3)


def test_combined_non_max_suppression():
    # Per image and class, the greedy NMS of a NumPy loop; then the best
    # detections over all classes by score, padded with zeros.
    rng = np.random.default_rng(44)
    batch, n, classes = 2, 12, 3
    corners = rng.uniform(-0.1, 0.9, size=(batch, n, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(0.05, 0.4, size=(batch, n, 2))],
                           -1)[:, :, None, :]
    scores = rng.uniform(size=(batch, n, classes)).astype(np.float32)
    for q, pad_per_class, total, clip in ((1, False, 7, True), (classes, True, 50, True),
                                          (1, False, 50, False)):
        b = np.repeat(boxes, q, axis=2) + (0.01 * np.arange(q)[None, None, :, None] if q > 1
                                           else 0.0)
        got = kiln.image.combined_non_max_suppression(
            b.astype(np.float32), scores, max_output_size_per_class=3, max_total_size=total,
            iou_threshold=0.3, score_threshold=0.2, pad_per_class=pad_per_class,
            clip_boxes=clip)
        out_boxes, out_scores, out_classes, valid = (t.numpy() for t in got)
        width = min(total, 9) if pad_per_class else total
        assert out_boxes.shape == (batch, width, 4) and valid.dtype == np.int32
        for i in range(batch):
            found = []
            for c in range(classes):
                class_boxes = b[i, :, c if q > 1 else 0].astype(np.float32)
                for j in _numpy_nms(class_boxes, scores[i, :, c], 3, 0.3, 0.2):
                    found.append((scores[i, j, c], c, np.clip(class_boxes[j], 0, 1) if clip
                                  else class_boxes[j]))
            found.sort(key=lambda f: -f[0])
            found = found[:width]
            assert valid[i] == len(found)
            np.testing.assert_allclose(out_scores[i, :len(found)], [f[0] for f in found])
            np.testing.assert_array_equal(out_classes[i, :len(found)], [f[1] for f in found])
            np.testing.assert_allclose(out_boxes[i, :len(found)], [f[2] for f in found],
                                       atol=1e-7)
            assert np.all(out_scores[i, len(found):] == 0)
            assert np.all(out_boxes[i, len(found):] == 0)
            assert np.all(out_classes[i, len(found):] == 0)
    compiled = kiln.function(lambda bx, sc: kiln.image.combined_non_max_suppression(
        bx, sc, 3, 7, 0.3, 0.2)[1])(boxes.astype(np.float32), scores)
    np.testing.assert_allclose(compiled.numpy(), kiln.image.combined_non_max_suppression(
        boxes.astype(np.float32), scores, 3, 7, 0.3, 0.2)[1].numpy())


def _numpy_area(x, height, width):
    """Each output pixel the coverage-weighted mean of the input box
    [i, i + 1) * in_h / out_h x [j, j + 1) * in_w / out_w (TensorFlow's
    resize_area), pixel by pixel."""
    in_h, in_w = x.shape[1:3]
    sy, sx = in_h / height, in_w / width
    out = np.zeros((x.shape[0], height, width, x.shape[3]))
    for i in range(height):
        for j in range(width):
            total = 0.0
            for y in range(in_h):
                wy = max(min(y + 1, (i + 1) * sy) - max(y, i * sy), 0.0)
                for xx in range(in_w):
                    wx = max(min(xx + 1, (j + 1) * sx) - max(xx, j * sx), 0.0)
                    out[:, i, j] += wy * wx * x[:, y, xx]
                    total += wy * wx
            out[:, i, j] /= total
    return out


def test_area_resize():
    x = RNG.uniform(0, 1, size=(2, 7, 9, 2))
    for size in ((3, 4), (7, 3), (2, 9), (10, 12)):
        got = kiln.image.resize(x, size, method="area").numpy()
        np.testing.assert_allclose(got, _numpy_area(x, *size), rtol=1e-5, atol=1e-6)
    # Area always averages: antialias changes nothing.
    np.testing.assert_array_equal(kiln.image.resize(x, (3, 4), "area", antialias=True).numpy(),
                                  kiln.image.resize(x, (3, 4), "area").numpy())
    # An exact halving averages 2x2 blocks.
    even = RNG.uniform(size=(1, 4, 6, 1))
    np.testing.assert_allclose(kiln.image.resize(even, (2, 3), "area").numpy(),
                               even.reshape(1, 2, 2, 3, 2, 1).mean(axis=(2, 4)), rtol=1e-6)


def _scale_and_translate_numpy(image, size, kernel_type, antialias):
    """TensorFlow's ScaleAndTranslate (translation 0) transcribed in float32
    loops: per output pixel a span of input pixels, its weights normalized;
    rows first, then columns."""
    kernels = {
        "lanczos3": (3.0, lambda x: 1.0 if x <= 1e-3 else 3 * np.sin(np.pi * x) *
                     np.sin(np.pi * x / 3) / (np.pi * np.pi * x * x)),
        "lanczos5": (5.0, lambda x: 1.0 if x <= 1e-3 else 5 * np.sin(np.pi * x) *
                     np.sin(np.pi * x / 5) / (np.pi * np.pi * x * x)),
        "gaussian": (1.5, lambda x: np.exp(-x * x / (2 * 0.5 * 0.5))),
        "mitchellcubic": (2.0, lambda x: (((-7 / 18) * x + 2) * x - 10 / 3) * x + 16 / 9
                          if x >= 1 else ((7 / 6 * x - 2) * x) * x + 8 / 9),
    }
    radius, kernel = kernels[kernel_type]

    def matrix(n, m):
        scale = np.float32(m) / np.float32(n)
        inv = np.float32(1.0) / scale
        ks = max(inv, np.float32(1.0)) if antialias else np.float32(1.0)
        w = np.zeros((m, n), np.float32)
        for o in range(m):
            s = np.float32(o + 0.5) * inv
            start = int(np.clip(np.ceil(s - radius * ks - 0.5), 0, n - 1))
            end = int(np.clip(np.floor(s + radius * ks - 0.5), 0, n - 1)) + 1
            taps = [np.float32(kernel(abs((i + 0.5 - s) / ks)) if abs((i + 0.5 - s) / ks)
                                < radius else 0.0) for i in range(start, end)]
            w[o, start:end] = np.array(taps, np.float32) / np.float32(sum(taps))
        return w
    rows, cols = matrix(image.shape[0], size[0]), matrix(image.shape[1], size[1])
    return np.einsum("om,mwc->owc", rows, np.einsum("pw,hwc->hpc", cols, image))


@pytest.mark.parametrize("method", ["lanczos3", "lanczos5", "gaussian", "mitchellcubic"])
@pytest.mark.parametrize("antialias", [False, True])
def test_sampling_kernel_resize_matches_tensorflows_kernel(method, antialias):
    x = RNG.uniform(0, 1, size=(2, 9, 14, 3)).astype(np.float32)
    for size in ([4, 6], [17, 23], [9, 5]):
        got = kiln.image.resize(x, size, method=method, antialias=antialias)
        assert got.dtype == kiln.float32 and got.shape == (2, *size, 3)
        for b in range(2):
            want = _scale_and_translate_numpy(x[b], size, method, antialias)
            np.testing.assert_allclose(got.numpy()[b], want, rtol=1e-5, atol=2e-6,
                                       err_msg=f"{method} to {size}")
    # Gaussian and Mitchell's cubic blur even at the same size; Lanczos does not.
    same = kiln.image.resize(x, [9, 14], method=method).numpy()
    if method.startswith("lanczos"):
        np.testing.assert_allclose(same, x, atol=1e-6)
    else:
        assert np.abs(same - x).max() > 1e-2


@pytest.mark.parametrize("method,pil", [("lanczos3", "LANCZOS"), ("bicubic", "BICUBIC"),
                                        ("bilinear", "BILINEAR")])
def test_antialiased_resize_matches_pillow(method, pil):
    # Pillow's resampling (in float mode) always widens its filter when
    # shrinking: TensorFlow's antialias=True, with Keys' cubic (a = -0.5)
    # for bicubic and the triangle for bilinear.
    from PIL import Image
    x = RNG.uniform(0, 1, size=(13, 17)).astype(np.float32)
    for h, w in [(5, 7), (29, 40), (6, 33)]:
        want = np.asarray(Image.fromarray(x, mode="F").resize((w, h), getattr(Image, pil)))
        got = kiln.image.resize(x[:, :, None], [h, w], method=method, antialias=True)
        np.testing.assert_allclose(got.numpy()[:, :, 0], want, atol=2e-6, err_msg=f"{h}x{w}")
        layer = kiln.layers.Resizing(h, w, interpolation=method, antialias=True)
        np.testing.assert_allclose(layer(x[None, :, :, None]).numpy()[0, :, :, 0], want,
                                   atol=2e-6)
        assert layer.get_config()["antialias"] is True


def test_sampling_kernel_resize_gradient_and_compiled():
    # The result is linear in the image: its gradient is the transposed
    # weights applied to the cotangent (the weights from the oracle).
    x = RNG.uniform(0, 1, size=(1, 9, 14, 2)).astype(np.float32)
    c = RNG.normal(size=(1, 4, 6, 2)).astype(np.float32)
    t = kiln.constant(x)
    with kiln.GradientTape() as tape:
        tape.watch(t)
        y = kiln.image.resize(t, [4, 6], method="lanczos3", antialias=True)
        loss = kiln.reduce_sum(y * kiln.constant(c))
    # d loss / d x[i, j] is the resize of the unit image at (i, j) against c.
    want = np.zeros_like(x)
    for i in range(9):
        for j in range(14):
            unit = np.zeros((9, 14, 1), np.float32)
            unit[i, j] = 1
            r = _scale_and_translate_numpy(unit, [4, 6], "lanczos3", True)[:, :, 0]
            want[0, i, j] = (r[:, :, None] * c[0]).sum(axis=(0, 1))
    np.testing.assert_allclose(tape.gradient(loss, t).numpy(), want, rtol=1e-4, atol=1e-6)
    f = kiln.function(lambda a: kiln.image.resize(a, [5, 3], method="mitchellcubic"))
    np.testing.assert_allclose(f(t).numpy()[0],
                               _scale_and_translate_numpy(x[0], [5, 3], "mitchellcubic", False),
                               rtol=1e-5, atol=2e-6)


def _numpy_volume_patches(x, k, s, padding):
    """tf.extract_volume_patches voxel by voxel (zeros outside; SAME's
    extra plane, row or column after)."""
    b, *ext, c = x.shape
    if padding == "VALID":
        outs = [(e - kk) // ss + 1 for e, kk, ss in zip(ext, k, s)]
        before = [0, 0, 0]
    else:
        outs = [-(-e // ss) for e, ss in zip(ext, s)]
        before = [max((o - 1) * ss + kk - e, 0) // 2 for o, ss, kk, e in zip(outs, s, k, ext)]
    out = np.zeros([b] + outs + [k[0] * k[1] * k[2] * c])
    for o in np.ndindex(*outs):
        values = []
        for t in np.ndindex(*k):
            p = [oi * si + ti - bi for oi, si, ti, bi in zip(o, s, t, before)]
            inside = all(0 <= pi < e for pi, e in zip(p, ext))
            values.append(x[(slice(None),) + tuple(p)] if inside else np.zeros((b, c)))
        out[(slice(None),) + o] = np.concatenate(values, axis=-1)
    return out


@pytest.mark.parametrize("k,s,padding", [((2, 2, 3), (1, 2, 2), "VALID"),
                                         ((3, 2, 2), (2, 1, 3), "SAME")])
def test_extract_volume_patches_matches_numpy(k, s, padding):
    x = RNG.normal(size=(2, 4, 5, 6, 2))
    got = kiln.extract_volume_patches(x, [1, *k, 1], [1, *s, 1], padding)
    np.testing.assert_array_equal(got.numpy(), _numpy_volume_patches(x, k, s, padding))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="ksizes|sizes must be"):
        kiln.extract_volume_patches(x, [1, *k], [1, *s, 1], padding)


def _draw_boxes_reference(images, boxes, colors):
    """TensorFlow's DrawBoundingBoxes kernel, loop for loop: edges at
    float32 products truncated toward zero, sides clamped to the image."""
    out = images.copy()
    _, height, width, depth = images.shape
    for b, i in np.ndindex(*boxes.shape[:2]):
        def pixel(v, n):
            return int(np.float32(v) * np.float32(n - 1))
        top, left = pixel(boxes[b, i, 0], height), pixel(boxes[b, i, 1], width)
        bottom, right = pixel(boxes[b, i, 2], height), pixel(boxes[b, i, 3], width)
        if top > bottom or left > right or top >= height or bottom < 0 or \
                left >= width or right < 0:
            continue
        color = colors[i % len(colors)][:depth]
        cols = slice(max(left, 0), min(right, width - 1) + 1)
        rows = slice(max(top, 0), min(bottom, height - 1) + 1)
        if top >= 0:
            out[b, top, cols] = color
        if bottom < height:
            out[b, bottom, cols] = color
        if left >= 0:
            out[b, rows, left] = color
        if right < width:
            out[b, rows, right] = color
    return out


def test_draw_bounding_boxes_matches_tensorflows_kernel():
    rng = np.random.RandomState(0)
    images = rng.rand(2, 9, 11, 3).astype(np.float32)
    # Inside, partly outside (sides outside are not drawn), upside down and
    # wholly outside (skipped), overlapping (later boxes drawn over).
    boxes = np.array([[[0.1, 0.2, 0.5, 0.9], [-0.2, 0.5, 0.4, 1.3], [0.6, 0.6, 0.3, 0.9]],
                      [[0.0, 0.0, 1.0, 1.0], [1.2, 0.1, 1.5, 0.5], [0.3, -0.5, 0.8, 0.25]]],
                     np.float32)
    colors = np.array([[1, 0, 0, 1], [0, 1, 0, 1]], np.float32)
    got = kiln.image.draw_bounding_boxes(images, boxes, colors).numpy()
    np.testing.assert_array_equal(got, _draw_boxes_reference(images, boxes, colors))
    assert (got != images).any()
    # Compiled over an open batch; TensorFlow's default colors (white on
    # one channel).
    f = kiln.function(kiln.image.draw_bounding_boxes,
                      input_signature=[kiln.TensorSpec([None, 9, 11, 1], kiln.float32),
                                       kiln.TensorSpec([None, 3, 4], kiln.float32)])
    gray = images[..., :1]
    table = kiln.image._BOX_COLORS.copy()
    table[:, 0] = 1
    np.testing.assert_array_equal(f(gray, boxes).numpy(),
                                  _draw_boxes_reference(gray, boxes, table))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="channels"):
        kiln.image.draw_bounding_boxes(images, boxes, colors[:, :2])
