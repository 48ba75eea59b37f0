"""Keras 3's image augmentation layers (Solarization, RandomInvert,
RandomPosterization, RandomColorDegeneration, RandomSharpness, RandomHue,
RandomSaturation, RandomColorJitter, RandomGaussianBlur, RandomErasing,
MixUp, CutMix) against NumPy transcriptions of Keras' formulas: with the
factor ranges collapsed the parameter is known; otherwise it is recovered
from each output (and must be one Keras could draw), and the draws'
distribution checked. Eagerly and compiled; the identity in inference;
get_config round trips."""

import numpy as np
import pytest
from scipy import stats

import kiln

layers = kiln.layers
RNG = np.random.default_rng(7)
# Two image shapes for (nearly) every test: each op compiles once per shape.
FEW, MANY = (4, 4, 4, 3), (64, 4, 4, 3)


def compiled(layer):
    return kiln.function(lambda x: layer(x, training=True))


def both(layer, x):
    """The layer's training output eagerly and compiled (NumPy)."""
    return layer(x, training=True).numpy(), compiled(layer)(x).numpy()


# --- NumPy oracles ------------------------------------------------------------

def np_rescale(x, source, target):
    if tuple(source) == tuple(target):
        return x
    return (x - source[0]) / (source[1] - source[0]) * (target[1] - target[0]) + target[0]


def np_gray(x):
    return (x * np.array([0.2989, 0.5870, 0.1140])).sum(-1, keepdims=True)


def np_rgb_to_hsv(x):
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    v = x.max(-1)
    c = v - x.min(-1)
    s = np.where(v > 0, c / np.where(v > 0, v, 1.0), 0.0)
    safe = np.where(c > 0, c, 1.0)
    h = np.select([c <= 0, v == r, v == g],
                  [0.0, ((g - b) / safe) % 6.0, (b - r) / safe + 2.0], (r - g) / safe + 4.0)
    return np.stack([h / 6.0, s, v], -1)


def np_hsv_to_rgb(hsv):
    """The textbook sector formula (not the one Kiln uses)."""
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    sector = np.floor(h * 6.0)
    f = h * 6.0 - sector
    sector = sector.astype(int) % 6
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    r = np.choose(sector, [v, q, p, p, t, v])
    g = np.choose(sector, [t, v, v, q, p, p])
    b = np.choose(sector, [p, p, t, v, v, q])
    return np.stack([r, g, b], -1)


def np_correlate_same(x, kernel):
    """x [b, h, w, c] correlated with the 2-D kernel, zero padded ('same')."""
    kh, kw = kernel.shape
    top, left = (kh - 1) // 2, (kw - 1) // 2
    h, w = x.shape[1:3]
    p = np.pad(x, [(0, 0), (top, kh - 1 - top), (left, kw - 1 - left), (0, 0)])
    return sum(kernel[i, j] * p[:, i:i + h, j:j + w] for i in range(kh) for j in range(kw))


def np_hue(x, delta, value_range=(0, 255)):
    hsv = np_rgb_to_hsv(np_rescale(x.astype(np.float64), value_range, (0, 1)))
    h = hsv[..., 0] + np.reshape(delta, (-1,) + (1,) * (hsv.ndim - 2))
    h = np.where(h > 1, h - 1, h)
    h = np.where(h < 0, h + 1, h)
    rgb = np.clip(np_hsv_to_rgb(np.stack([h, hsv[..., 1], hsv[..., 2]], -1)), 0, 1)
    return np_rescale(rgb, (0, 1), value_range)


def np_saturation(x, f, value_range=(0, 255)):
    hsv = np_rgb_to_hsv(x.astype(np.float64))
    s = np.clip(hsv[..., 1] * (f / (1 - f + 1e-7)), *value_range)
    return np_hsv_to_rgb(np.stack([hsv[..., 0], s, hsv[..., 2]], -1))


def np_gaussian(size, sigma):
    g = np.exp(-0.5 * ((np.arange(size) - (size - 1) / 2) / sigma) ** 2)
    return g / g.sum()


def images(shape, low=0.0, high=255.0):
    return RNG.uniform(low, high, size=shape).astype(np.float32)


def matches(out, candidates, atol):
    """Per image, the index of the candidate output it equals (-1: none)."""
    found = np.full(out.shape[0], -1)
    for k, cand in enumerate(candidates):
        close = np.all(np.abs(out - cand) <= atol, axis=tuple(range(1, out.ndim)))
        found = np.where((found < 0) & close, k, found)
    return found


def lstsq_slope(dy, dx):
    """Per image, the a minimising |dy - a dx|^2."""
    axes = tuple(range(1, dy.ndim))
    return (dy * dx).sum(axes) / (dx * dx).sum(axes)


# --- Colour layers ------------------------------------------------------------

def test_solarization():
    x = images(FEW).round()
    for out in both(layers.Solarization(), x):       # defaults: every pixel inverted
        np.testing.assert_allclose(out, 255 - x, atol=1e-4)
    unit = layers.Solarization(value_range=(0, 1))(x / 255, training=True).numpy()
    np.testing.assert_allclose(unit, 1 - x / 255, atol=1e-6)
    as_uint8 = layers.Solarization()(x.astype(np.uint8), training=True)
    assert as_uint8.dtype == kiln.float32
    # Each image: 0 and 47 other integers of [1, 256), all different, so
    # the threshold (drawn from [0, 0.5 * 255]) shows as the split between
    # the pixels kept and the pixels inverted.
    ramp = np.stack([np.concatenate([[0], RNG.choice(np.arange(1, 256), 47, replace=False)])
                     for _ in range(MANY[0])]).reshape(MANY).astype(np.float32)
    out = layers.Solarization(threshold_factor=0.5, seed=3)(ramp, training=True).numpy()
    kept, flipped = out == ramp, out == 255 - ramp
    assert np.all(kept | flipped)
    top_kept = np.where(kept, ramp, -1).max(axis=(1, 2, 3))
    low_flipped = np.where(flipped, ramp, 256).min(axis=(1, 2, 3))
    assert np.all(top_kept < low_flipped) and np.all(top_kept < 127.5)
    assert top_kept.min() < 40 and top_kept.max() > 90
    # (0.5, 0.5): Keras scales only the upper end by 255, so the threshold
    # is still drawn, from [0.5, 127.5].
    out = layers.Solarization(threshold_factor=(0.5, 0.5), seed=5)(ramp, training=True)
    top_kept = np.where(out.numpy() == ramp, ramp, -1).max(axis=(1, 2, 3))
    assert top_kept.min() >= 0 and top_kept.max() < 127.5 and top_kept.min() < 60
    # Additions from [0, 0.2 * 255], threshold 0: 255 - clip(x + a).
    out = layers.Solarization(addition_factor=0.2, seed=4)(ramp, training=True).numpy()
    add = (255 - out - ramp)[ramp == 0]                  # (one pixel per image)
    assert np.all((add >= 0) & (add <= 51.0)) and add.max() - add.min() > 20
    np.testing.assert_allclose(out, 255 - np.clip(ramp + add[:, None, None, None], 0, 255),
                               atol=1e-3)


def test_random_invert():
    x = np.concatenate([images(MANY) for _ in range(4)])
    for factor, low, high in (((0.3, 0.3), 0.18, 0.42), (1.0, 0.37, 0.63), ((1, 1), 1, 1),
                              (0.0, 0, 0)):
        out = layers.RandomInvert(factor, seed=1)(x, training=True).numpy()
        which = matches(out, [x, 255 - x], 1e-4)
        assert np.all(which >= 0)
        assert low <= which.mean() <= high, (factor, which.mean())
    out = compiled(layers.RandomInvert((0.5, 0.5), value_range=(0, 1)))(x / 255).numpy()
    which = matches(out, [x / 255, 1 - x / 255], 1e-6)
    assert np.all(which >= 0) and 0.35 <= which.mean() <= 0.65
    # Keras computes value_range[1] - x (not low + high - x).
    v = x / 127.5 - 1
    out = layers.RandomInvert((1, 1), value_range=(-1, 1))(v, training=True).numpy()
    np.testing.assert_allclose(out, 1 - v, atol=1e-6)
    one = layers.RandomInvert((1, 1))(x[0], training=True)          # (one image)
    np.testing.assert_allclose(one.numpy(), 255 - x[0], atol=1e-4)


def test_random_posterization():
    x = images(FEW).round()
    for out in both(layers.RandomPosterization((4, 4)), x):
        np.testing.assert_array_equal(out, np.floor(x / 16) * 16)
    unit = (x + 0.5) / 255                              # (away from integer edges)
    out = layers.RandomPosterization((3, 3), value_range=(0, 1))(unit, training=True).numpy()
    np.testing.assert_allclose(out, np.floor(x / 32) * 32 / 255, atol=1e-6)
    # factor 8: bits drawn from [1, 8) (Keras' randint leaves 8 out).
    many = images(MANY).round()
    out = layers.RandomPosterization(8, seed=2)(many, training=True).numpy()
    candidates = [np.floor(many / 2 ** (8 - b)) * 2 ** (8 - b) for b in range(1, 9)]
    bits = matches(out, candidates, 0) + 1
    assert np.all(bits >= 1) and np.all(bits <= 7)
    assert len(set(bits.tolist())) >= 6


def test_random_color_degeneration():
    x = images(FEW)
    g = np_gray(x.astype(np.float64))
    for out in both(layers.RandomColorDegeneration((0.4, 0.4)), x):
        np.testing.assert_allclose(out, np.clip(x + 0.4 * (g - x), 0, 255), atol=1e-3)
    out = layers.RandomColorDegeneration((1, 1), value_range=(0, 1))(x / 255, training=True)
    np.testing.assert_allclose(out.numpy(), np.repeat(g, 3, -1) / 255, atol=1e-5)
    # A number f: Keras' code draws from [-f, f] (no clipping for these).
    mid = images(MANY, 80, 170)
    gm = np_gray(mid.astype(np.float64))
    out = layers.RandomColorDegeneration(0.5, seed=5)(mid, training=True).numpy()
    f = lstsq_slope(out - mid, gm - mid)
    np.testing.assert_allclose(out, mid + f[:, None, None, None] * (gm - mid), atol=1e-3)
    assert np.all(np.abs(f) <= 0.5 + 1e-5) and f.min() < -0.2 and f.max() > 0.2
    with pytest.raises(ValueError, match="RandomColorDegeneration"):
        layers.RandomColorDegeneration(1.5)


def test_random_sharpness():
    x = images(FEW)
    kernel = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]]) / 13.0
    smooth = np_correlate_same(x.astype(np.float64), kernel)
    for out in both(layers.RandomSharpness((0.25, 0.25)), x):    # 2 f = 0.5
        np.testing.assert_allclose(out, np.clip(x + 0.5 * (smooth - x), 0, 255), atol=1e-3)
    out = layers.RandomSharpness((1, 1), value_range=(0, 1))(x / 255, training=True).numpy()
    np.testing.assert_allclose(out, np.clip(2 * x / 255 - smooth / 255, 0, 1), atol=1e-5)
    # factor 1.0: f from [0, 1], the blend 1 - 2 f from [-1, 1].
    mid = images(MANY, 100, 150)
    sm = np_correlate_same(mid.astype(np.float64), kernel)
    out = layers.RandomSharpness(1.0, seed=6)(mid, training=True).numpy()
    blend = lstsq_slope(out - mid, sm - mid)
    np.testing.assert_allclose(out, mid + blend[:, None, None, None] * (sm - mid), atol=1e-3)
    assert np.all(np.abs(blend) <= 1 + 1e-5) and blend.min() < -0.5 and blend.max() > 0.5


def test_random_hue():
    x = images(MANY)
    for out in both(layers.RandomHue((0.4, 0.4), seed=7), x):   # +-0.2, a coin per image
        which = matches(out, [np_hue(x, 0.2), np_hue(x, -0.2)], 0.05)
        assert np.all(which >= 0) and 0.2 <= which.mean() <= 0.8
    out = layers.RandomHue((1, 1), value_range=(0, 1))(x / 255, training=True).numpy()
    assert np.all(matches(out, [np_hue(x / 255, 0.5, (0, 1))], 2e-4) == 0)
    np.testing.assert_allclose(layers.RandomHue(0.0)(x, training=True).numpy(), x, atol=0.02)
    out = layers.RandomHue(0.9, seed=8)(x, training=True).numpy()
    assert out.min() >= 0 and out.max() <= 255 and np.abs(out - x).max() > 50


def test_random_saturation():
    x = images(FEW)
    for out in both(layers.RandomSaturation((0.3, 0.3)), x):
        np.testing.assert_allclose(out, np_saturation(x, 0.3), atol=0.02)
    half = layers.RandomSaturation((0.5, 0.5))(x, training=True).numpy()
    np.testing.assert_allclose(half, x, atol=0.02)                  # (0.5: kept)
    gray = layers.RandomSaturation((0.0, 0.0))(x, training=True).numpy()
    np.testing.assert_allclose(gray, np.repeat(x.max(-1, keepdims=True), 3, -1), atol=0.02)
    # Keras clips the saturation to value_range: beyond 1 for (0, 255).
    np.testing.assert_allclose(layers.RandomSaturation((0.8, 0.8))(x, training=True).numpy(),
                               np_saturation(x, 0.8), atol=0.05)
    unit = layers.RandomSaturation((0.8, 0.8), value_range=(0, 1))(x / 255, training=True)
    np.testing.assert_allclose(unit.numpy(), np_saturation(x / 255, 0.8, (0, 1)), atol=1e-4)
    # A number f: Keras' code draws from [-f, f], and the negative half grays.
    out = layers.RandomSaturation(0.5, seed=6)(images(MANY), training=True).numpy()
    gray = np.all(np.ptp(out, axis=-1) < 1e-3, axis=(1, 2))
    assert 0.25 <= gray.mean() <= 0.75


def test_random_color_jitter():
    x = images(MANY, 40, 200)
    # Brightness +0.1 * 255; contrast x1.3 ((-0.3, 0.3), sorted, gives
    # Keras' range [1 + 0.3, 1 + 0.3]); saturation 0.3; hue +-0.1.
    jitter = layers.RandomColorJitter(brightness_factor=(0.1, 0.1), contrast_factor=(-0.3, 0.3),
                                      saturation_factor=(0.3, 0.3), hue_factor=(0.2, 0.2),
                                      seed=9)
    y = np.clip(x + 25.5, 0, 255)
    mean = y.mean(axis=(1, 2), keepdims=True)
    y = np.clip((y - mean) * 1.3 + mean, 0, 255)
    y = np_saturation(y, 0.3)
    for out in both(jitter, x):
        which = matches(out, [np_hue(y, 0.1), np_hue(y, -0.1)], 0.05)
        assert np.all(which >= 0) and 0.2 <= which.mean() <= 0.8
    np.testing.assert_array_equal(layers.RandomColorJitter()(x, training=True).numpy(), x)
    # Brightness alone, drawn per image from [-0.2, 0.2] * 255.
    x = images(MANY, 60, 190)                                   # (nothing clipped)
    out = layers.RandomColorJitter(brightness_factor=0.2, seed=2)(x, training=True).numpy()
    delta = (out - x).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(out, x + delta[:, None, None, None], atol=1e-3)
    assert np.all(np.abs(delta) <= 51 + 1e-3) and delta.min() < -15 and delta.max() > 15
    # Contrast alone: a number c is Keras 3's range [1, 1 + c].
    out = layers.RandomColorJitter(contrast_factor=0.3, seed=3)(x, training=True).numpy()
    mean = x.mean(axis=(1, 2), keepdims=True)
    c = lstsq_slope(out - mean, x - mean)
    np.testing.assert_allclose(out, (x - mean) * c[:, None, None, None] + mean, atol=1e-3)
    assert np.all((c >= 1 - 1e-5) & (c <= 1.3 + 1e-5)) and c.max() - c.min() > 0.15


def test_random_gaussian_blur():
    x = images(FEW)
    kernel = np.outer(np_gaussian(5, 0.8), np_gaussian(5, 0.8))
    expected = np.clip(np_correlate_same(x.astype(np.float64), kernel), 0, 255)
    for out in both(layers.RandomGaussianBlur((1, 1), kernel_size=5, sigma=(0.8, 0.8)), x):
        np.testing.assert_allclose(out, expected, atol=1e-3)
    # kernel_size (3, 5): 3 across, 5 down; sigmas (1, 1).
    kernel = np.outer(np_gaussian(5, 1.0), np_gaussian(3, 1.0))
    out = layers.RandomGaussianBlur((1, 1), kernel_size=(3, 5), sigma=(1.0, 1.0))(
        x, training=True).numpy()
    np.testing.assert_allclose(out, np_correlate_same(x.astype(np.float64), kernel), atol=1e-3)
    # Probability (0.5, 0.5): each image blurred or left.
    many = np.concatenate([images(MANY) for _ in range(3)])
    kernel = np.outer(np_gaussian(3, 0.5), np_gaussian(3, 0.5))
    out = layers.RandomGaussianBlur((0.5, 0.5), sigma=(0.5, 0.5), seed=3)(
        many, training=True).numpy()
    which = matches(out, [many, np_correlate_same(many.astype(np.float64), kernel)], 1e-3)
    assert np.all(which >= 0) and 0.35 <= which.mean() <= 0.65
    # Sigmas drawn once per batch: identical images stay identical.
    same = np.repeat(x[:1], 4, 0)
    out = layers.RandomGaussianBlur((1, 1), sigma=(0.3, 3.0), seed=4)(same, training=True)
    out = out.numpy()
    np.testing.assert_allclose(out, np.repeat(out[:1], 4, 0), atol=1e-5)
    assert np.abs(out - same).max() > 1
    with pytest.raises(ValueError, match="odd"):
        layers.RandomGaussianBlur(kernel_size=4)
    with pytest.raises(ValueError, match="sigma"):       # (Keras: a pair's lower end <= 1)
        layers.RandomGaussianBlur(sigma=(1.5, 2.0))


def _erased_boxes(out, x, fill):
    """Per image, the (rows, columns) extents of the pixels equal to fill
    where they differ from x, checking they form a full rectangle."""
    boxes = []
    for o, i in zip(out, x):
        erased = np.all(o == fill, -1) & np.any(i != fill, -1)
        np.testing.assert_array_equal(o[~erased], i[~erased])
        if not erased.any():
            boxes.append(None)
            continue
        rows, cols = np.where(erased.any(1))[0], np.where(erased.any(0))[0]
        assert erased[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()
        boxes.append((rows[0], len(rows), cols[0], len(cols)))
    return boxes


def test_random_erasing():
    x = images(MANY, 1, 255)
    # scale 0.25: sides sqrt(0.25) * 4 = 2 at offsets from [0, 2): always 2x2.
    for out in both(layers.RandomErasing((1, 1), scale=(0.25, 0.25), fill_value=0.0,
                                         seed=1), x):
        boxes = _erased_boxes(out, x, np.zeros(3))
        assert all(b is not None and b[1] == 2 and b[3] == 2 for b in boxes)
        assert len({(b[0], b[2]) for b in boxes}) >= 3
    fill = np.array([10.0, 20.0, 300.0])                 # (clipped to 255)
    out = layers.RandomErasing((1, 1), scale=(0.25, 0.25), fill_value=(10, 20, 300))(
        x, training=True).numpy()
    assert all(b[1] == 2 and b[3] == 2 for b in _erased_boxes(out, x, np.minimum(fill, 255)))
    out = layers.RandomErasing((0.3, 0.3), scale=(0.25, 0.25), fill_value=0.0, seed=2)(
        np.concatenate([x] * 4), training=True).numpy()
    applied = np.mean([b is not None for b in _erased_boxes(out, np.concatenate([x] * 4), 0)])
    assert 0.18 <= applied <= 0.42
    # Noise fill: N(0, 1) * 255 clipped to [0, 255].
    out = layers.RandomErasing((1, 1), scale=(0.25, 0.25), seed=3)(x, training=True).numpy()
    changed = out != x
    assert out.min() >= 0 and out.max() <= 255
    assert 0.1 < changed.mean() < 0.3 and (out[changed] == 0).mean() > 0.3


# --- Mixing layers ------------------------------------------------------------

def _one_hot_images():
    """48 images of 4x4x3: image i a 1 at entry i, 0 elsewhere."""
    return np.eye(48, dtype=np.float32).reshape(48, 4, 4, 3)


def _partners(labels):
    """Per example, the example mixed in (itself when none shows) and the
    weight kept, from one-hot labels mixed as w * own + (1 - w) * other;
    the partners shown must be a permutation's (no two alike)."""
    n = len(labels)
    own = labels[np.arange(n), np.arange(n)]
    others = labels - np.diag(own)
    assert np.all((others > 0).sum(1) <= 1)
    partner = np.where(others.max(1) > 0, others.argmax(1), np.arange(n))
    moved = partner != np.arange(n)
    assert len(set(partner[moved].tolist())) == moved.sum()
    return partner, own


def test_mix_up():
    x = _one_hot_images()
    labels = np.eye(48, dtype=np.int32)                  # (integer labels: mixed as floats)
    eager = layers.MixUp(seed=3)({"images": x, "labels": labels}, training=True)
    fn = kiln.function(lambda d: layers.MixUp(alpha=1.0)(d, training=True))
    fn_out = fn({"images": kiln.constant(x), "labels": kiln.constant(labels)})
    samples = {}
    for name, out in (("beta0.2", eager), ("beta1", fn_out)):
        mixed, mixed_labels = out["images"].numpy(), out["labels"].numpy()
        assert out["labels"].dtype == kiln.float32
        # Images and labels mixed with the same weights and partners.
        np.testing.assert_allclose(mixed.reshape(48, 48), mixed_labels, atol=1e-6)
        partner, kept = _partners(mixed_labels)
        moved = partner != np.arange(48)
        np.testing.assert_allclose(mixed_labels.sum(1), 1, atol=1e-5)
        assert moved.mean() > 0.8
        samples[name] = kept[moved]
    # The weights: Beta(alpha, alpha).
    assert stats.kstest(samples["beta0.2"], stats.beta(0.2, 0.2).cdf).pvalue > 1e-4
    assert stats.kstest(samples["beta1"], stats.uniform().cdf).pvalue > 1e-4
    # Images alone; one image (mixed with itself); inference.
    out = layers.MixUp(alpha=1.0)(x, training=True).numpy()
    np.testing.assert_allclose(out.reshape(48, 48).sum(1), 1, atol=1e-5)
    one = layers.MixUp()(x[3], training=True)
    assert one.shape == (4, 4, 3)
    np.testing.assert_allclose(one.numpy(), x[3], atol=1e-6)
    np.testing.assert_array_equal(layers.MixUp()(x).numpy(), x)
    open_batch = kiln.function(lambda v: layers.MixUp()(v, training=True),
                               input_signature=[kiln.TensorSpec([None, 4, 4, 3])])
    with pytest.raises(ValueError, match="batch size"):
        open_batch(x)


def test_cut_mix():
    n, side = 48, 16
    x = np.broadcast_to(np.arange(1, n + 1, dtype=np.float32)[:, None, None, None],
                        (n, side, side, 3)).copy()           # image i: all i + 1
    labels = np.eye(n, dtype=np.float32)
    eager = layers.CutMix(seed=5)({"images": x, "labels": labels}, training=True)
    fn_out = kiln.function(lambda d: layers.CutMix(factor=(1, 1))(d, training=True))(
        {"images": kiln.constant(x), "labels": kiln.constant(labels)})
    weights = []
    for out in (eager, fn_out):
        mixed, mixed_labels = out["images"].numpy(), out["labels"].numpy()
        partner, kept = _partners(mixed_labels)
        moved = partner != np.arange(n)
        assert moved.mean() > 0.8
        np.testing.assert_allclose(mixed_labels.sum(1), 1, atol=1e-5)
        for i in range(n):
            pasted = mixed[i, :, :, 0] == partner[i] + 1
            np.testing.assert_array_equal(mixed[i, :, :, :1] + 0 * mixed[i], mixed[i])
            assert np.all(pasted | (mixed[i, :, :, 0] == i + 1))
            if not moved[i] or not pasted.any():
                continue
            # A full rectangle whose sides are sqrt(1 - w) of the image's
            # (the integers in [start, start + side), one either way).
            rows, cols = np.where(pasted.any(1))[0], np.where(pasted.any(0))[0]
            assert pasted[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()
            ratio = np.sqrt(1 - kept[i]) * side
            assert abs(len(rows) - ratio) <= 1 + 1e-4 and abs(len(cols) - ratio) <= 1 + 1e-4
        weights.append(kept[moved])
    # factor (1, 1): alpha 1, the weights uniform.
    assert stats.kstest(weights[1], stats.uniform().cdf).pvalue > 1e-4
    # One image and inference: unchanged.
    np.testing.assert_array_equal(layers.CutMix()(x[0], training=True).numpy(), x[0])
    np.testing.assert_array_equal(layers.CutMix()(x).numpy(), x)
    out = layers.CutMix()({"images": x}, training=True)
    assert set(out) == {"images"} and out["images"].shape == x.shape


# --- Common behaviour -----------------------------------------------------------

def all_layers():
    return [layers.Solarization(0.3, (0.2, 0.6), value_range=(0, 1), seed=1),
            layers.RandomInvert(0.7, value_range=(0, 1), seed=2),
            layers.RandomPosterization((2, 6), value_range=(0, 1)),
            layers.RandomColorDegeneration((0.1, 0.9), value_range=[0, 1]),
            layers.RandomSharpness(0.8, value_range=(0, 1), seed=3),
            layers.RandomHue(0.3, value_range=(0, 1)),
            layers.RandomSaturation((0.2, 0.8), value_range=(0, 1)),
            layers.RandomColorJitter((0, 1), brightness_factor=0.1, hue_factor=0.2),
            layers.RandomGaussianBlur(0.5, kernel_size=(3, 5), sigma=(0.5, 1.0),
                                      value_range=(0, 1)),
            layers.RandomErasing(0.5, scale=(0.1, 0.2), fill_value=(0.1, 0.2, 0.3),
                                 value_range=(0, 1)),
            layers.MixUp(alpha=0.4, seed=4),
            layers.CutMix(factor=(0.2, 0.7))]


def test_inference_identity_dicts_and_errors():
    x = images(FEW, 0, 1)
    labels = np.eye(4, dtype=np.float32)
    for layer in all_layers():
        name = type(layer).__name__
        for call in (lambda v: layer(v), lambda v: layer(v, training=False)):
            np.testing.assert_array_equal(call(x).numpy(), x)
        data = {"images": x, "labels": labels, "extra": 1}
        out = layer(data, training=True)
        assert out["images"].shape == x.shape and out["extra"] == 1
        assert data["images"] is x and data["labels"] is labels     # (a new dict)
        out = layer(data)
        assert out["labels"] is labels
        np.testing.assert_array_equal(out["images"].numpy(), x)
        for key in ("bounding_boxes", "segmentation_masks"):
            with pytest.raises(ValueError, match=name):
                layer({"images": x, key: np.zeros((4, 1, 4))}, training=True)
        with pytest.raises(ValueError, match=name):
            type(layer)(**dict(layer.get_config(), data_format="channels_first"))
        with pytest.raises(ValueError, match=name):
            type(layer)(**dict(layer.get_config(), bounding_box_format="xyxy"))
    with pytest.raises(ValueError, match="RandomHue"):
        layers.RandomHue(0.5)(images((4, 4, 4, 1)), training=True)
    with pytest.raises(ValueError, match="RandomPosterization"):
        layers.RandomPosterization(9)
    with pytest.raises(ValueError, match="Solarization"):
        layers.Solarization(addition_factor=(0.2, 1.5))


def test_get_config_round_trip():
    x = images(FEW, 0, 1)
    for layer in all_layers():
        config = layer.get_config()
        again = type(layer).from_config(config)
        assert again.get_config() == config and type(again) is type(layer)
        assert again.__dict__.get("factor") == layer.__dict__.get("factor")
        assert again(x, training=True).shape == x.shape
    config = layers.RandomGaussianBlur((1, 1), 5, (0.8, 0.8), name="blur").get_config()
    assert config["name"] == "blur" and config["kernel_size"] == 5
    again = layers.RandomGaussianBlur.from_config(config)
    np.testing.assert_allclose(again(x, training=True).numpy(),
                               layers.RandomGaussianBlur(**config)(x, training=True).numpy())


def test_open_batch_and_keras_namespace():
    # Per-image draws with a batch known only when the code runs.
    invert = layers.RandomInvert((0.5, 0.5), seed=1)
    f = kiln.function(lambda v: invert(v, training=True),
                      input_signature=[kiln.TensorSpec([None, 4, 4, 3])])
    for batch in (64, 128):
        x = images((batch, 4, 4, 3))
        which = matches(f(x).numpy(), [x, 255 - x], 1e-4)
        assert np.all(which >= 0) and 0.2 <= which.mean() <= 0.8
    assert f.trace_count == 1
    assert kiln.keras.layers.CutMix is layers.CutMix
