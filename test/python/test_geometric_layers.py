"""Keras 3's RandomShear, RandomPerspective, RandomElasticTransform,
Equalization, RandAugment and AugMix, and Keras 2's RandomHeight and
RandomWidth, against NumPy transcriptions of Keras' formulas (TensorFlow's
projective-transform kernel, Keras' 8x8 homography system, jax.scipy's
map_coordinates, Keras' histogram equalization, tf.image.resize): with the
factor ranges collapsed the parameters are known; otherwise they are
recovered from each output (coordinate ramps carried through the warp) and
checked against what Keras could draw, and their distribution checked.
Eagerly and compiled; the identity in inference; get_config round trips."""

import numpy as np
import pytest
from scipy import stats

import kiln

layers = kiln.layers
RNG = np.random.default_rng(11)


# The shape eager calls use (each op's kernel compiles once per shape).
EAGER = (16, 12, 16, 3)


def compiled(layer):
    return kiln.function(lambda x: layer(x, training=True))


def images(shape, low=0.0, high=255.0):
    return RNG.uniform(low, high, size=shape).astype(np.float32)


def matches(out, candidates, atol):
    """Per image, the index of the first candidate output it equals (-1:
    none)."""
    found = np.full(out.shape[0], -1)
    for k, cand in enumerate(candidates):
        close = np.all(np.abs(out - cand) <= atol, axis=tuple(range(1, out.ndim)))
        found = np.where((found < 0) & close, k, found)
    return found


def ramps(shape, texture=True):
    """[b, h, w, 3 or 4]: the column, the row, ones (and a random texture):
    a warp's output carries where each pixel read the input."""
    b, h, w = shape
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    planes = [np.broadcast_to(gx, (b, h, w)), np.broadcast_to(gy, (b, h, w)),
              np.ones((b, h, w), np.float32)]
    if texture:
        planes.append(images((b, h, w)))
    return np.stack(planes, -1).astype(np.float32)


# --- TensorFlow's ImageProjectiveTransformV3 (Keras' affine_transform) -------

def np_tf_coordinate(c, n, mode):
    """TensorFlow's MapCoordinate for each fill mode."""
    c = np.asarray(c, np.float64).copy()
    if mode == "constant":
        return c
    if mode != "nearest" and n > 1:
        neg, pos = c < 0, c > n - 1
        if mode == "reflect":
            sz2 = 2 * n
            v = c[neg]
            v = np.where(v < sz2, sz2 * np.trunc(-v / sz2) + v, v)
            c[neg] = np.where(v < -n, v + sz2, -v - 1)
            v = c[pos] - sz2 * np.trunc(c[pos] / sz2)
            c[pos] = np.where(v >= n, sz2 - v - 1, v)
        else:                                                   # wrap
            c[neg] = c[neg] + n * (np.trunc(-c[neg] / (n - 1)) + 1)
            c[pos] = c[pos] - n * np.trunc(c[pos] / (n - 1))
    elif n <= 1:
        c[:] = 0
    return np.clip(c, 0, n - 1)


def np_projective(x, rows, interpolation="bilinear", fill_mode="constant", fill_value=0.0):
    """x [b, h, w, c] under one row of 8 per image, as TensorFlow's kernel."""
    b, h, w, _ = x.shape
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.empty(x.shape)
    for i in range(b):
        a = np.asarray(rows[i], np.float64)
        k = a[6] * gx + a[7] * gy + 1.0
        xs = np_tf_coordinate((a[0] * gx + a[1] * gy + a[2]) / k, w, fill_mode)
        ys = np_tf_coordinate((a[3] * gx + a[4] * gy + a[5]) / k, h, fill_mode)

        def read(yi, xi):
            inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
            v = x[i][np.clip(yi, 0, h - 1).astype(int), np.clip(xi, 0, w - 1).astype(int)]
            return np.where(inside[..., None], v, fill_value)
        if interpolation == "nearest":                  # (std::round: away from 0)
            near = lambda v: np.sign(v) * np.floor(np.abs(v) + 0.5)
            out[i] = read(near(ys), near(xs))
        else:
            y0, x0 = np.floor(ys), np.floor(xs)
            wy, wx = (ys - y0)[..., None], (xs - x0)[..., None]
            out[i] = (1 - wy) * ((1 - wx) * read(y0, x0) + wx * read(y0, x0 + 1)) + \
                wy * ((1 - wx) * read(y0 + 1, x0) + wx * read(y0 + 1, x0 + 1))
    return out


def keras_homography(start, end):
    """Keras' compute_homography_matrix: its 8x8 system, solved."""
    rows, target = [], []
    for (sx, sy), (ex, ey) in zip(start, end):
        rows.append([ex, ey, 1, 0, 0, 0, -sx * ex, -sx * ey])
        rows.append([0, 0, 0, ex, ey, 1, -sy * ex, -sy * ey])
        target += [sx, sy]
    return np.linalg.solve(np.array(rows, np.float64), np.array(target, np.float64))


def corners(h, w):
    return np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], np.float64)


def fit_projective(out):
    """Per image, the 8 transform entries that map output pixels to where
    they read (from the ramps of an output of `ramps`, where every tap was
    inside), by least squares."""
    fits = []
    for img in out:
        inside = np.abs(img[..., 2] - 1) < 1e-5
        gy, gx = np.nonzero(inside)
        u, v = img[..., 0][inside].astype(np.float64), img[..., 1][inside].astype(np.float64)
        zero, one = np.zeros_like(u), np.ones_like(u)
        a = np.concatenate([np.stack([gx, gy, one, zero, zero, zero, -gx * u, -gy * u], 1),
                            np.stack([zero, zero, zero, gx, gy, one, -gx * v, -gy * v], 1)])
        fits.append(np.linalg.lstsq(a, np.concatenate([u, v]), rcond=None)[0])
    return np.array(fits)


# --- RandomShear ----------------------------------------------------------------

def test_random_shear():
    x = images(EAGER)
    sx, sy = 0.25, 0.375                     # (binary fractions: ties land the same)
    modes = (("reflect", "bilinear"), ("constant", "nearest"), ("wrap", "bilinear"),
             ("nearest", "nearest"))
    made = [layers.RandomShear((sx, sx), (sy, sy), interpolation=interpolation,
                               fill_mode=mode, fill_value=7.0, seed=3)
            for mode, interpolation in modes]
    outs = [made[0](x, training=True)] + \
        kiln.function(lambda v: [layer(v, training=True) for layer in made])(x)
    for out, (mode, interpolation) in zip(outs, modes[:1] + modes):
        cands = [np_projective(x, [[1, s * sx, 0, s * sy, 1, 0, 0, 0]] * len(x),
                               interpolation, mode, 7.0) for s in (1, -1)]
        which = matches(out.numpy(), cands, 1e-3)
        assert np.all(which >= 0), mode                 # both signs flip together
        assert 0.1 <= which.mean() <= 0.9, (mode, which.mean())
    # Drawn factors: x_factor f is (-f, f) (Keras' code), a pair as given;
    # both negated by one coin per image. Read back from column and row ramps.
    x = ramps((96, 24, 32), texture=False)
    out = compiled(layers.RandomShear(0.5, (0.1, 0.4), fill_mode="nearest", seed=4))(
        x).numpy()
    drawn_x = (out[:, 12, 16, 0] - 16) / 12                 # x + sx y at (16, 12)
    drawn_y = (out[:, 12, 16, 1] - 12) / 16                 # sy x + y
    sign = np.sign(drawn_y)
    assert np.all((np.abs(drawn_y) >= 0.1 - 1e-5) & (np.abs(drawn_y) <= 0.4 + 1e-5))
    assert 0.3 <= (sign > 0).mean() <= 0.7
    assert stats.kstest(np.abs(drawn_y), "uniform", (0.1, 0.3)).pvalue > 1e-3
    assert stats.kstest(drawn_x * sign, "uniform", (-0.5, 1.0)).pvalue > 1e-3
    rows = [[1, a, 0, b, 1, 0, 0, 0] for a, b in zip(drawn_x, drawn_y)]
    np.testing.assert_allclose(out, np_projective(x, rows, "bilinear", "nearest"), atol=2e-3)


# --- RandomPerspective ----------------------------------------------------------

def test_homography_matches_keras_solve():
    h, w = 9, 13
    start = corners(h, w)
    end = start + start * RNG.uniform(-0.5, 0.5, (20, 4, 2))
    end[::2] = start + RNG.uniform(-3, 3, (10, 4, 2))       # (any quadrilateral)
    got = np.stack([t.numpy() for t in kiln.layers._homography(
        kiln.constant(end.astype(np.float32)), h, w)], 1)
    want = np.array([keras_homography(start, e) for e in end])
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)


def check_perspective(out, x, scale, fill_value):
    """Each image's homography fitted from the ramps: the corners it moved
    must be Keras' start + start * d (d within scale / 2), and the whole
    image Keras' warp for those corners; returns the d's."""
    b, h, w, _ = x.shape
    start = corners(h, w)
    shifts = []
    for img, t, src in zip(out, fit_projective(out), x):
        m = np.append(t, 1.0).reshape(3, 3)                    # output -> input
        back = np.linalg.inv(m) @ np.c_[start, np.ones(4)].T
        end = (back[:2] / back[2]).T                            # where the corners went
        # The corner (0, 0) stays, (w-1, 0) moves across only, (0, h-1) down only.
        np.testing.assert_allclose([end[0, 0], end[0, 1], end[1, 1], end[2, 0]], 0, atol=2e-3)
        shifts.append([(end[1, 0] - start[1, 0]) / start[1, 0],
                       (end[2, 1] - start[2, 1]) / start[2, 1],
                       *((end[3] - start[3]) / start[3])])
        want = np_projective(src[None], [keras_homography(start, end)], "bilinear",
                             "constant", fill_value)[0]
        np.testing.assert_allclose(img, want, atol=0.05)       # (the borders' fill too)
    shifts = np.ravel(shifts)
    assert np.all(np.abs(shifts) <= scale / 2 + 1e-3)
    return shifts


def test_random_perspective():
    layer = layers.RandomPerspective((1, 1), scale=0.6, fill_value=9.0, seed=5)
    x = ramps(EAGER[:3], texture=False)
    check_perspective(layer(x, training=True).numpy(), x, 0.6, 9.0)
    x = ramps((64, 12, 16))
    shifts = check_perspective(compiled(layer)(x).numpy(), x, 0.6, 9.0)
    assert stats.kstest(shifts, "uniform", (-0.3, 0.6)).pvalue > 1e-3
    # factor 1.0 is a probability drawn from [0, 1]: half the images warped.
    x = images((128, 8, 8, 1))
    half, none = layers.RandomPerspective(seed=6, interpolation="nearest"), \
        layers.RandomPerspective(scale=0.0)
    out, same = kiln.function(lambda v: (half(v, training=True), none(v, training=True)))(x)
    kept = np.all(out.numpy() == x, axis=(1, 2, 3))
    assert 0.35 <= kept.mean() <= 0.65
    np.testing.assert_array_equal(same.numpy(), x)


# --- RandomElasticTransform -----------------------------------------------------

def np_jax_index(i, n, mode):
    """jax.scipy.ndimage's index fixers (Keras' map_coordinates)."""
    def mirror(i, n):
        s = n - 1
        return np.zeros_like(i) if s == 0 else np.abs((i + s) % (2 * s) - s)
    if mode in ("constant", "nearest"):
        return np.clip(i, 0, n - 1)
    if mode == "wrap":
        return i % n
    if mode == "mirror":
        return mirror(i, n)
    return (mirror(2 * i + 1, 2 * n + 1) - 1) // 2


def np_map_coordinates(img, ys, xs, order, mode, cval):
    """One image [h, w, c] read at (ys, xs) as jax.scipy.ndimage's
    map_coordinates reads each channel."""
    h, w = img.shape[:2]
    if order == 0:
        near = lambda v: (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(int)
        ty, tx = [(near(ys), 1.0)], [(near(xs), 1.0)]
    else:
        y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
        ty = [(y0, 1 - (ys - y0)), (y0 + 1, ys - y0)]
        tx = [(x0, 1 - (xs - x0)), (x0 + 1, xs - x0)]
    out = 0.0
    for yi, wy in ty:
        for xi, wx in tx:
            v = img[np_jax_index(yi, h, mode), np_jax_index(xi, w, mode)]
            if mode == "constant":
                ok = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
                v = np.where(ok[..., None], v, cval)
            out = out + np.asarray(wy * wx)[..., None] * v
    return out


def test_map_coordinates_matches_jax_semantics():
    x = images((2, 5, 6, 2))
    ys = RNG.uniform(-12, 17, (2, 5, 6)).astype(np.float32)
    xs = RNG.uniform(-14, 20, (2, 5, 6)).astype(np.float32)
    ys[0, 0, :4] = [-0.5, 4.5, 2.5, -1.5]                   # (ties: away from 0)
    modes = [(order, mode) for order in (0, 1)
             for mode in ("reflect", "mirror", "wrap", "nearest", "constant")]
    got = kiln.function(lambda a, b, c: [kiln.layers._map_coordinates(a, b, c, order, mode, 3.5)
                                         for order, mode in modes])(x, ys, xs)
    for (order, mode), out in zip(modes, got):
        want = np.stack([np_map_coordinates(x[i], ys[i], xs[i], order, mode, 3.5)
                         for i in range(2)])
        np.testing.assert_allclose(out.numpy(), want, atol=1e-3, err_msg=f"{order} {mode}")


def test_elastic_taps():
    for sigma in (0.1, 0.9, 1.2, 2.55):
        size = int(6 * np.float32(sigma)) | 1
        g = np.exp(-0.5 * ((np.arange(size) - size // 2) / sigma) ** 2)
        want = np.pad(g / g.sum(), 3)                      # (zeros around: taps unused)
        taps = kiln.layers.RandomElasticTransform._taps(
            kiln.constant(np.float32(sigma)), size + 6, kiln.float32)
        np.testing.assert_allclose([t.numpy() for t in taps], want, atol=1e-6)
        np.testing.assert_allclose(
            kiln.layers.RandomElasticTransform._taps(sigma, size, kiln.float32),
            want[3:-3], atol=1e-7)


def test_random_elastic_transform():
    # scale (0.25, 0.25) on 12x16: sigma 12 * 0.0125 = 0.15 (1 tap, no
    # blur), alpha 16 * 0.025 = 0.4, so the displacements are 0.06 N(0, 1),
    # across and down independent.
    layer = layers.RandomElasticTransform((1, 1), (0.25, 0.25), fill_mode="constant",
                                          value_range=(-1, 300), seed=7)
    x = ramps(EAGER[:3], texture=False)
    eager = layer(x, training=True).numpy()
    x = ramps((48, 12, 16))
    for out, src in ((eager, x[:EAGER[0], ..., :3]), (compiled(layer)(x).numpy(), x)):
        assert np.all(np.abs(out[:, 1:-1, 1:-1, 2] - 1) < 1e-5)
        dx = (out[..., 0] - src[..., 0])[:, 1:-1, 1:-1].ravel() / 0.06
        dy = (out[..., 1] - src[..., 1])[:, 1:-1, 1:-1].ravel() / 0.06
        assert stats.kstest(np.r_[dx, dy], "norm").pvalue > 1e-3
        assert abs(np.corrcoef(dx, dy)[0, 1]) < 0.15
    for img, src in zip(out, x):                          # (the texture, read there)
        want = np_map_coordinates(src, img[..., 1], img[..., 0], 1, "constant", 0.0)
        ok = np.abs(img[..., 2] - 1) < 1e-5
        np.testing.assert_allclose(img[ok][:, 3], want[ok][:, 3], atol=0.02)
    # scale (1, 1) on 24x24: sigma 1.2 (7 taps), alpha 2.4; displacement
    # std alpha sigma sum(g^2) and lag-1 correlation sum(g_i g_i+1) / sum(g^2)
    # away from the zero padding. A probability drawn from factor, every
    # image clipped to value_range; a factor of 0 leaves them unclipped.
    blur, half, none = (layers.RandomElasticTransform((1, 1), (1, 1), fill_mode="constant",
                                                      seed=8),
                        layers.RandomElasticTransform((0.5, 0.5), seed=9),
                        layers.RandomElasticTransform(0.0))
    x, y = ramps((24, 24, 24), texture=False), images((128, 6, 6, 1), -20, 280)
    out, halved, same = (t.numpy() for t in kiln.function(lambda a, b: (
        blur(a, training=True), half(b, training=True), none(b, training=True)))(x, y))
    g = np.exp(-0.5 * ((np.arange(7) - 3) / np.float32(1.2)) ** 2)
    g /= g.sum()
    field = (out[..., 0] - x[..., 0])[:, 4:-4, 4:-4]
    assert np.mean(np.abs(out[:, 4:-4, 4:-4, 2] - 1) < 1e-5) > 0.95
    std = field.std() / (2.4 * 1.2 * (g ** 2).sum())
    assert 0.85 <= std <= 1.15, std
    lag = np.corrcoef(field[:, :, :-1].ravel(), field[:, :, 1:].ravel())[0, 1]
    assert abs(lag - (g[:-1] * g[1:]).sum() / (g ** 2).sum()) < 0.08
    kept = np.all(halved == np.clip(y, 0, 255), axis=(1, 2, 3))
    assert 0.35 <= kept.mean() <= 0.65 and halved.min() >= 0 and halved.max() <= 255
    np.testing.assert_array_equal(same, y)


# --- Equalization ---------------------------------------------------------------

def np_equalize(x, value_range=(0, 255), bins=256):
    """Keras' Equalization, channel by channel over the whole batch, in
    float32 where Keras computes in float32."""
    low, high = sorted(value_range)
    scale = 255.0 / (high - low)
    out = np.empty(x.shape, np.float64)
    for c in range(x.shape[-1]):
        ch = x[..., c].astype(np.float32) * np.float32(scale) + np.float32(0 - low * scale)
        idx = np.clip((ch * np.float32(bins - 1) / np.float32(255)).astype(np.int32),
                      0, bins - 1)
        hist = np.bincount(idx.ravel(), minlength=bins)
        if np.count_nonzero(hist) <= 1:
            eq = ch
        else:
            cdf = np.cumsum(hist)
            cdf_min = cdf[np.nonzero(cdf)[0][0]]
            den = cdf[-1] - cdf_min
            lut = np.clip(np.round((cdf - cdf_min) * 255 / (den if den else 1)), 0, 255)
            look = np.clip(ch / np.float32(255) * np.float32(bins - 1), 0, bins - 1)
            eq = lut[look.astype(np.int32)]
        out[..., c] = eq * ((high - low) / 255.0) + low
    return out


def test_equalization():
    x = np.floor(images(EAGER) ** 2 / 255)                  # (skewed toward 0)
    x[..., 2] = 40.0                                        # (one bin: kept)
    layer = layers.Equalization()
    f = kiln.function(lambda v: layer(v, training=True),        # (an open batch)
                      input_signature=[kiln.TensorSpec([None] + list(EAGER[1:]))])
    for out in (layer(x, training=True).numpy(), f(x).numpy()):
        np.testing.assert_allclose(out, np_equalize(x), atol=1e-4)
    assert np.abs(out[..., :2] - x[..., :2]).max() > 20
    # The histogram is the batch's, as Keras takes it: one image alone differs.
    alone = f(x[:1]).numpy()
    np.testing.assert_allclose(alone, np_equalize(x[:1]), atol=1e-4)
    assert np.abs(alone - out[:1]).max() > 1
    wide = images(EAGER, -30, 300)              # (outside the range: the end bins)
    np.testing.assert_allclose(f(wide).numpy(), np_equalize(wide), atol=1e-3)
    # Fewer bins; value_range (0, 1) with values exact in float32; one image.
    few, unit_range = layers.Equalization(bins=40), layers.Equalization(value_range=(1, 0))
    unit = np.floor(images(EAGER, 0, 256)) / 256
    outs = kiln.function(lambda a, b, c: (few(a, training=True), unit_range(b, training=True),
                                          layer(c, training=True)))(x, unit, x[0])
    np.testing.assert_allclose(outs[0].numpy(), np_equalize(x, bins=40), atol=1e-4)
    np.testing.assert_allclose(outs[1].numpy(), np_equalize(unit, (0, 1)), atol=1e-6)
    np.testing.assert_allclose(outs[2].numpy(), alone[0], atol=1e-4)


# --- RandomHeight and RandomWidth (Keras 2) --------------------------------------

def np_resize_axis(x, size, axis, method):
    """tf.image.resize along one axis (half-pixel centres; bilinear or
    nearest), as TensorFlow's kernels compute it."""
    n = x.shape[axis]
    scale = np.float32(n) / np.float32(size)
    pos = (np.arange(size, dtype=np.float32) + np.float32(0.5)) * scale
    if method == "nearest":
        return np.take(x, np.minimum(np.floor(pos).astype(int), n - 1), axis=axis)
    pos = pos - np.float32(0.5)
    low = np.floor(pos)
    lerp = (pos - low).reshape([-1 if a == axis else 1 for a in range(x.ndim)])
    lo = np.take(x, np.maximum(low.astype(int), 0), axis=axis)
    hi = np.take(x, np.minimum(np.ceil(pos).astype(int), n - 1), axis=axis)
    return lo + (hi - lo) * lerp


def test_random_height_and_width():
    x = images((2, 10, 6, 3))
    for layer, axis, size in ((layers.RandomHeight((0.5, 0.5)), 1, 15),
                              (layers.RandomWidth((-0.5, -0.5), "nearest"), 2, 3),
                              (layers.RandomWidth((0.3, 0.3)), 2, 7)):      # int(7.8)
        want = np_resize_axis(x, size, axis, layer.interpolation)
        for out in (layer(x, training=True).numpy(), compiled(layer)(x).numpy()):
            np.testing.assert_allclose(out, want, atol=1e-3)
    # Drawn once per call (eagerly): f from [0.7, 1.3), the height int(10 f).
    layer = layers.RandomHeight(0.3, seed=2)
    heights = []
    for _ in range(30):
        out = layer(x, training=True).numpy()
        heights.append(out.shape[1])
        np.testing.assert_allclose(out, np_resize_axis(x, out.shape[1], 1, "bilinear"),
                                   atol=1e-3)
    assert set(heights) <= set(range(6, 13)) and len(set(heights)) >= 4
    widths = {layers.RandomWidth((-0.5, 0.0))(x[0], training=True).shape[1]
              for _ in range(12)}
    assert widths <= {3, 4, 5} and len(widths) >= 2
    with pytest.raises(ValueError, match="RandomHeight"):
        compiled(layers.RandomHeight(0.2))(x)
    with pytest.raises(ValueError, match="RandomWidth"):
        layers.RandomWidth((0.3, 0.1))
    with pytest.raises(ValueError, match="RandomHeight"):
        layers.RandomHeight(-1.5)
    with pytest.raises(ValueError, match="RandomHeight"):
        layers.RandomHeight(0.2, interpolation="cubic")


# --- RandAugment and AugMix -------------------------------------------------------

def np_smooth(x):
    """Keras' RandomSharpness at factor 0: the 3x3 [[1, 1, 1], [1, 5, 1],
    [1, 1, 1]] / 13 smoothing, zero padded."""
    k = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]]) / 13.0
    h, w = x.shape[1:3]
    p = np.pad(x.astype(np.float64), [(0, 0), (1, 1), (1, 1), (0, 0)])
    return np.clip(sum(k[i, j] * p[:, i:i + h, j:j + w] for i in range(3) for j in range(3)),
                   0, 255)


def np_auto_contrast(x):
    low, high = x.min((1, 2), keepdims=True), x.max((1, 2), keepdims=True)
    return np.where(high > low, (x - low) / np.where(high > low, high - low, 1) * 255, x)


def fixed_ops(x):
    """What each op gives at factor 0 (Keras' sub-layers with (0, 0)):
    shear, translation, rotation, brightness, colour degeneration and
    contrast leave the images; sharpness smooths, posterization keeps 1
    bit, solarization inverts."""
    return {"identity": x, "smooth": np_smooth(x), "posterize": np.floor(x / 128) * 128,
            "invert": 255 - x, "auto_contrast": np_auto_contrast(x),
            "equalize": np_equalize(x)}


def test_rand_augment():
    x = images(EAGER)
    ops = fixed_ops(x)
    names = list(ops)
    one = layers.RandAugment(num_ops=1, factor=(0, 0), seed=1)
    for _ in range(6):
        out = one(x, training=True).numpy()
        assert any(np.abs(out - c).max() <= 1e-3 for c in ops.values())  # (one for all)
    # Two ops, each of the 11 drawn with probability 1/11 (six of them leave
    # the images): each output one composition, read as the fewest ops that
    # give it.
    two = layers.RandAugment(num_ops=2, factor=0.0, seed=2)
    pairs = [(a, b) for a in names for b in names]
    composed = [fixed_ops(ops[a])[b] for a, b in pairs]
    f = compiled(two)
    fewest, seen = [], set()
    for out in [two(x, training=True).numpy() for _ in range(4)] + \
            [f(x).numpy() for _ in range(40)]:
        fits = [k for k, c in enumerate(composed) if np.abs(out - c).max() <= 1e-3]
        assert fits                                     # (one pair for the whole batch)
        a, b = pairs[fits[0]]
        fewest.append((a != "identity") + (b != "identity"))
        seen |= {a, b}
    counts = np.bincount(fewest, minlength=3)
    # (Of the 121 pairs 36 + 1 need none (inverting twice); 2 * 6 * 5 need
    # one, and 3 more: posterization, autocontrast or equalization twice.)
    expected = np.array([37, 63, 21]) / 121 * len(fewest)
    assert stats.chisquare(counts, expected).pvalue > 1e-3, counts
    assert len(seen) >= 5
    # The sub-layers as Keras makes them (factor 0.5: the range (0, 0.5)).
    made = layers.RandAugment(value_range=(0, 1))
    assert made.random_shear.x_factor == (0.0, 0.5) and made.random_rotation.upper == 0.5
    assert made.random_translation.height == (0.0, 0.5) and made.random_contrast.upper == 0.5
    assert made.random_posterization.factor == (1, 4) and made.factor == (0.0, 0.5)
    assert made.solarization.threshold_factor == (0.0, 0.5)
    assert made.equalization.value_range == (0.0, 1.0)
    # Contrast clipped to value_range (Keras' RandomContrast), not [0, 255].
    unit = images(EAGER, 0, 1)
    out = made._apply("random_contrast", kiln.constant(unit)).numpy()
    mean = unit.mean((1, 2), keepdims=True)
    free = (out > 0) & (out < 1) & (np.abs(unit - mean) > 0.1)
    c = np.array([np.median(((o - m) / (u - m))[k])
                  for o, u, m, k in zip(out, unit, mean, free)])
    np.testing.assert_allclose(out, np.clip((unit - mean) * c[:, None, None, None] + mean,
                                            0, 1), atol=1e-5)
    assert np.all((c >= 1 - 1e-4) & (c <= 1.5 + 1e-4)) and out.max() == 1.0


def test_aug_mix():
    # Two chains of one op each at factor 0: w x + (1 - w) (m c1 + (1 - m)
    # c2), each op one of 7 or none (3 of them and none leave the images),
    # w from Beta(1, 1) and (m, 1 - m) from Dirichlet(1, 1), per call.
    x = images(EAGER)
    ops = fixed_ops(x)
    del ops["smooth"]
    names, cands = list(ops), list(ops.values())
    layer = layers.AugMix(num_chains=2, chain_depth=1, factor=0.0, all_ops=False, seed=3)
    f = compiled(layer)
    drawn, kept, seen = [], 0, set()
    for out in [layer(x, training=True).numpy() for _ in range(6)] + \
            [f(x).numpy() for _ in range(90)]:
        fits = []
        for i in range(len(cands)):
            for j in range(i, len(cands)):
                cols = [x] + [cands[k] for k in sorted({i, j} - {0})]   # (0: x itself)
                a = np.stack([c[:2].ravel() for c in cols], 1)        # (fitted on 2 images)
                coef = np.linalg.lstsq(a, out[:2].ravel(), rcond=None)[0]
                if np.abs(a @ coef - out[:2].ravel()).max() < 2e-3:
                    np.testing.assert_allclose(sum(k * c for k, c in zip(coef, cols)), out,
                                               atol=2e-3)
                    fits.append((i, j, coef))
                    assert abs(coef.sum() - 1) < 1e-3 and coef.min() > -1e-3
        assert fits, "no pair of ops explains the output"
        kept += np.allclose(out, x, atol=1e-3)
        if len(fits) == 1 and 0 < fits[0][0] < fits[0][1]:      # (two different ops)
            i, j, (w, a, b) = fits[0]
            drawn.append((w, a / (a + b)))
            seen |= {names[i], names[j]}
    assert 0.12 <= kept / 96 <= 0.4                     # both none-like: 1/4
    assert len(drawn) >= 8 and len(seen) == 4
    assert stats.kstest(np.ravel(drawn), "uniform").pvalue > 1e-3
    # All ops (brightness, colour degeneration, contrast, sharpness too),
    # value_range (0, 1): the result clipped there.
    every = layers.AugMix(value_range=(0, 1), num_chains=2, chain_depth=2, seed=5)
    for _ in range(2):
        out = every(x / 255, training=True).numpy()
        assert out.min() >= 0 and out.max() <= 1


# --- Common behaviour -----------------------------------------------------------------

def all_layers():
    return [layers.RandomShear(0.2, (0.1, 0.3), fill_mode="constant", seed=1),
            layers.RandomPerspective(0.7, 0.4, interpolation="nearest", fill_value=1.0),
            layers.RandomElasticTransform((0.5, 0.9), (0.25, 0.25), fill_mode="mirror",
                                          value_range=(0, 1)),
            layers.Equalization(value_range=(0, 1), bins=256),
            layers.RandAugment(value_range=(0, 1), num_ops=1, factor=0.3, seed=2),
            layers.AugMix(value_range=(0, 1), num_chains=2, chain_depth=1, all_ops=False),
            layers.RandomHeight((0.25, 0.25), "nearest", seed=3),
            layers.RandomWidth(0.0)]


def test_inference_identity_dicts_errors_and_config():
    x = images(EAGER, 0, 1)
    labels = np.eye(EAGER[0], dtype=np.float32)
    for layer in all_layers():
        name = type(layer).__name__
        for call in (lambda v: layer(v), lambda v: layer(v, training=False)):
            np.testing.assert_array_equal(call(x).numpy(), x)
        out = layer({"images": x, "labels": labels}, training=True)
        assert out["labels"] is labels and out["images"].shape[0] == EAGER[0]
        for key in ("bounding_boxes", "segmentation_masks"):
            with pytest.raises(ValueError, match=name):
                layer({"images": x, key: np.zeros((4, 1, 4))}, training=True)
        with pytest.raises(ValueError, match=name):
            type(layer)(**dict(layer.get_config(), bounding_box_format="xyxy"))
        config = layer.get_config()
        again = type(layer).from_config(config)
        assert again.get_config() == config and type(again) is type(layer)
    for make in (lambda: layers.RandomShear(1.5), lambda: layers.RandomShear(0.1, (-0.2, 0.1)),
                 lambda: layers.RandomShear(fill_mode="mirror")):
        with pytest.raises(ValueError, match="RandomShear"):
            make()
    with pytest.raises(ValueError, match="RandomPerspective"):
        layers.RandomPerspective(scale=1.5)
    with pytest.raises(ValueError, match="RandomElasticTransform"):
        layers.RandomElasticTransform(fill_mode="edge")
    with pytest.raises(ValueError, match="RandAugment"):
        layers.RandAugment(factor=2)
    with pytest.raises(ValueError, match="AugMix"):
        layers.AugMix(alpha=0.0)
    assert kiln.keras.layers.AugMix is layers.AugMix


def test_open_batch_compiled():
    shear = layers.RandomShear((0.5, 0.5), (0.0, 0.0), seed=1)
    elastic = layers.RandomElasticTransform((1, 1), (0.5, 0.5), seed=2)
    f = kiln.function(lambda v: (shear(v, training=True), elastic(v, training=True)),
                      input_signature=[kiln.TensorSpec([None, 6, 6, 1])])
    for batch in (5, 9):
        x = images((batch, 6, 6, 1))
        sheared, moved = (t.numpy() for t in f(x))
        cands = [np_projective(x, [[1, s, 0, 0, 1, 0, 0, 0]] * batch, "bilinear", "reflect")
                 for s in (0.5, -0.5)]
        assert np.all(matches(sheared, cands, 1e-3) >= 0)
        assert moved.shape == x.shape and np.abs(moved - x).max() > 1
    assert f.trace_count == 1
