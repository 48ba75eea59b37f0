"""Image ops (tf.image): resizing, flips and rotations, crops and pads,
colour adjustments and their random forms for data augmentation.

Images are [height, width, channels] tensors or batches [batch, height,
width, channels] (NHWC); the batch may be open (an input_signature's
None), the other extents must be known while tracing. Every op is built
from differentiable Kiln ops (gathers, reverses, slices, pads, elementwise
arithmetic), so gradients flow through them and they compile inside
@kiln.function.
"""

import builtins

import numpy as np

from . import errors, random as _random
from .dtypes import as_dtype, float32, float64, int32
from .math_ops import (_known_extent, _positions, broadcast_to, einsum, expand_dims, floor, pad, reverse,
                       saturate_cast,
                       squeeze, tile, top_k)
from .ops import (abs, cast, concat, equal, gather, greater, greater_equal, less, less_equal, log,
                  logical_and, logical_or, maximum, minimum, pow as _pow, reduce_mean, reduce_sum, reshape,
                  sqrt, stack,
                  transpose as _transpose, where)
from .tensor import _OpenExtent, _static_extents, constant, convert_to_tensor

__all__ = ["ResizeMethod", "adjust_brightness", "adjust_contrast", "central_crop",
           "convert_image_dtype", "crop_to_bounding_box", "flip_left_right", "flip_up_down",
           "grayscale_to_rgb", "pad_to_bounding_box", "per_image_standardization",
           "random_brightness", "random_contrast", "random_crop", "random_flip_left_right",
           "random_flip_up_down", "resize", "resize_with_crop_or_pad", "rgb_to_grayscale",
           "rot90", "transform", "transpose", "adjust_gamma", "ssim_multiscale",
           "combined_non_max_suppression",
           "stateless_random_brightness", "stateless_random_contrast",
           "stateless_random_crop", "stateless_random_flip_left_right",
           "stateless_random_flip_up_down", "stateless_random_hue",
           "stateless_random_saturation", "adjust_hue",
           "adjust_saturation", "hsv_to_rgb", "image_gradients", "psnr", "random_hue",
           "random_saturation", "resize_with_pad", "rgb_to_hsv", "rgb_to_yiq", "rgb_to_yuv",
           "sobel_edges", "ssim", "total_variation", "yiq_to_rgb", "yuv_to_rgb",
           "crop_and_resize", "extract_patches", "non_max_suppression",
           "non_max_suppression_padded", "non_max_suppression_with_scores"]


class ResizeMethod:
    """The interpolations `resize` takes (tf.image.ResizeMethod's names)."""
    BILINEAR = "bilinear"
    NEAREST_NEIGHBOR = "nearest"
    BICUBIC = "bicubic"
    AREA = "area"
    LANCZOS3 = "lanczos3"
    LANCZOS5 = "lanczos5"
    GAUSSIAN = "gaussian"
    MITCHELLCUBIC = "mitchellcubic"


def _batched(image, what):
    """(a [batch, height, width, channels] tensor, whether `image` had a
    batch); height, width and channels must be known."""
    x = convert_to_tensor(image)
    if x.ndim not in (3, 4):
        raise errors.InvalidArgumentError(
            f"{what}: images are [height, width, channels] or [batch, height, width, "
            f"channels], got shape {list(x.shape)}", errors.user_location())
    if None in x.shape[-3:]:
        raise errors.UnimplementedError(
            f"{what}: the height, width and channels of images of shape {list(x.shape)} "
            "must be known while tracing (only the batch may be open)",
            errors.user_location())
    return (x, True) if x.ndim == 4 else (expand_dims(x, 0), False)


def _unbatched(x, batched):
    return x if batched else squeeze(x, [0])


def _size(size, what):
    values = [int(s) for s in (size.numpy() if hasattr(size, "numpy") else size)]
    if len(values) != 2 or builtins.min(values) <= 0:
        raise errors.InvalidArgumentError(
            f"{what}: size must be two positive extents [height, width], got {values}",
            errors.user_location())
    return values


def _source_positions(in_size, out_size):
    """(i + 0.5) * in / out for each output position i, in float32 as
    TensorFlow's kernels compute it (a float64 product can land on the
    other side of an integer)."""
    scale = np.float32(in_size) / np.float32(out_size)
    return (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale


def _linear_taps(in_size, out_size):
    """For each output position (half-pixel centres, as TensorFlow 2): the
    two input positions it lies between and the weight of the second."""
    source = _source_positions(in_size, out_size) - np.float32(0.5)
    low = np.floor(source)
    frac = (source - low).astype(np.float32)
    first = np.clip(low, 0, in_size - 1).astype(np.int32)
    second = np.clip(low + 1, 0, in_size - 1).astype(np.int32)
    return first, second, frac


def _cubic_taps(in_size, out_size):
    """For each output position: four input positions (floor - 1 ... floor
    + 2 of its source) and their weights from Keys' cubic (a = -0.5), as
    TensorFlow 2's resize_bicubic with half-pixel centres computes them:
    the fraction rounded to 1/1024 (TensorFlow reads the weights from a
    table of 1025 entries), positions outside the image weigh 0 and the
    others are scaled to sum to 1. ([out, 4] int32 and float32.)"""
    a = -0.5
    source = _source_positions(in_size, out_size) - np.float32(0.5)
    low = np.floor(source)
    fraction = (source - low).astype(np.float32)
    t = np.rint(fraction * np.float32(1024)).astype(np.float64) / 1024
    weights = np.stack([
        ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
        ((a + 2) * t - (a + 3)) * t * t + 1,
        ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
        ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a], axis=1)
    taps = low[:, None].astype(np.int64) + np.arange(-1, 3)
    weights = np.where((taps >= 0) & (taps < in_size), weights, 0.0)
    weights /= weights.sum(axis=1, keepdims=True)
    return np.clip(taps, 0, in_size - 1).astype(np.int32), weights.astype(np.float32)


def _area_weights(in_size, out_size):
    """[out, in] weights of TensorFlow's resize_area along one axis: output
    j averages the input over [j, j + 1) * in / out, each pixel by the
    length it covers (float32 scale, as the kernel)."""
    scale = float(np.float32(in_size) / np.float32(out_size))
    weights = np.zeros((out_size, in_size))
    for j in range(out_size):
        start, end = j * scale, (j + 1) * scale
        for i in range(int(np.floor(start)), int(np.ceil(end))):
            weights[j, builtins.min(i, in_size - 1)] += \
                builtins.min(i + 1, end) - builtins.max(i, start)
    return (weights / scale).astype(np.float32)


def _lanczos(radius):
    def kernel(x):
        with np.errstate(divide="ignore", invalid="ignore"):
            v = radius * np.sin(np.pi * x) * np.sin(np.pi * x / radius) / (np.pi * np.pi * x * x)
        return np.where(x > radius, 0.0, np.where(x <= 1e-3, 1.0, v))
    return kernel, radius


def _cubic(near, far):
    """A cubic kernel of radius 2 from its two pieces' coefficients."""
    def kernel(x):
        return np.where(x >= 2.0, 0.0, np.where(x >= 1.0, np.polyval(far, x),
                                                 np.polyval(near, x)))
    return kernel, 2.0


# TensorFlow's sampling kernels (ScaleAndTranslate's): the function of the
# distance in (scaled) pixels, and its radius.
_SAMPLING_KERNELS = {
    "lanczos1": _lanczos(1.0), "lanczos3": _lanczos(3.0), "lanczos5": _lanczos(5.0),
    # sigma = radius / 3 = 0.5
    "gaussian": (lambda x: np.where(x >= 1.5, 0.0, np.exp(-x * x / (2 * 0.25))), 1.5),
    "box": (lambda x: np.where(x < 0.5, 1.0, np.where(x == 0.5, 0.5, 0.0)), 1.0),
    "triangle": (lambda x: np.maximum(1.0 - x, 0.0), 1.0),
    "keyscubic": _cubic([1.5, -2.5, 0.0, 1.0], [-0.5, 2.5, -4.0, 2.0]),
    "mitchellcubic": _cubic([7 / 6, -2.0, 0.0, 8 / 9], [-7 / 18, 2.0, -10 / 3, 16 / 9]),
}


def _sampling_weights(kernel_type, in_size, out_size, scale, translate, antialias):
    """[out, in] weights of TensorFlow's ScaleAndTranslate along one axis:
    output pixel o samples the input at s = (o + 0.5) / scale - translate /
    scale, each input pixel i weighted by kernel(|i + 0.5 - s| / k) with k
    = max(1 / scale, 1) when antialiased (the kernel widened to filter what
    shrinking drops), else 1; the weights of a row sum to 1 (taps outside
    the image are left out), and a row whose s lies outside the image is 0."""
    kernel, radius = _SAMPLING_KERNELS[kernel_type]
    # Positions in float32 as the kernel computes them, so a tap exactly at
    # the kernel's radius falls on the same side as in TensorFlow.
    f32 = np.float32
    inv_scale = f32(1.0 / float(f32(scale)))
    k = builtins.max(inv_scale, f32(1.0)) if antialias else f32(1.0)
    sample = (np.arange(out_size, dtype=f32) + f32(0.5)) * inv_scale - inv_scale * \
        f32(translate)
    position = np.arange(in_size, dtype=f32)[None, :] + f32(0.5) - sample[:, None]
    distance = np.abs(position * (f32(1.0) / k)).astype(np.float64)
    weights = np.where(distance <= radius, kernel(distance), 0.0)
    total = weights.sum(axis=1, keepdims=True)
    inside = (sample >= 0) & (sample <= in_size) & (np.abs(total[:, 0]) >= 1e-35)
    weights = np.where(inside[:, None], weights / np.where(total == 0, 1.0, total), 0.0)
    return weights.astype(np.float32)


def _axis_weights(method, in_size, out_size, antialias=False):
    """[out, in] float32 weights along one axis giving what `resize` gives
    (the same taps and weights), for host-side resizing in NumPy."""
    w = np.zeros((out_size, in_size), np.float64)
    rows = np.arange(out_size)
    kernels = {ResizeMethod.LANCZOS3: "lanczos3", ResizeMethod.LANCZOS5: "lanczos5",
               ResizeMethod.GAUSSIAN: "gaussian", ResizeMethod.MITCHELLCUBIC: "mitchellcubic"}
    if antialias and method == ResizeMethod.BILINEAR:
        kernels[method] = "triangle"
    elif antialias and method == ResizeMethod.BICUBIC:
        kernels[method] = "keyscubic"
    if method in kernels:
        return _sampling_weights(kernels[method], in_size, out_size,
                                 np.float32(out_size) / np.float32(in_size), 0.0, antialias)
    if in_size == out_size and method != ResizeMethod.AREA:
        return np.eye(in_size, dtype=np.float32)
    if method == ResizeMethod.AREA:
        return _area_weights(in_size, out_size)
    if method == ResizeMethod.NEAREST_NEIGHBOR:
        w[rows, _nearest_taps(in_size, out_size)] = 1.0
    elif method == ResizeMethod.BICUBIC:
        taps, weights = _cubic_taps(in_size, out_size)
        for k in range(4):
            np.add.at(w, (rows, taps[:, k]), weights[:, k])
    elif method == ResizeMethod.BILINEAR:
        first, second, frac = _linear_taps(in_size, out_size)
        np.add.at(w, (rows, first), 1.0 - frac)
        np.add.at(w, (rows, second), frac)
    else:
        raise ValueError(f"resize: unknown method {method!r}")
    return w.astype(np.float32)


def _resize_array(image, size, method=ResizeMethod.BILINEAR, antialias=False):
    """One [h, w, c] image resized on the host as `resize` would (float32;
    "nearest" keeps the dtype)."""
    method = str(method).lower()
    height, width = int(size[0]), int(size[1])
    if method == ResizeMethod.NEAREST_NEIGHBOR:
        rows = _nearest_taps(image.shape[0], height)
        cols = _nearest_taps(image.shape[1], width)
        return image[rows][:, cols]
    x = image.astype(np.float32)
    x = np.einsum("oh,hwc->owc", _axis_weights(method, x.shape[0], height, antialias), x)
    return np.einsum("pw,owc->opc", _axis_weights(method, x.shape[1], width, antialias), x)


def _aspect_window(h, w, height, width):
    """(top, left, rows, cols) of the largest centred window of an h x w
    image with the aspect ratio height:width (Keras' smart_resize crop)."""
    rows = builtins.max(builtins.min(h, int(w * height / width)), 1)
    cols = builtins.max(builtins.min(w, int(h * width / height)), 1)
    return (h - rows) // 2, (w - cols) // 2, rows, cols


def _nearest_taps(in_size, out_size):
    source = np.floor(_source_positions(in_size, out_size))
    return np.clip(source, 0, in_size - 1).astype(np.int32)


def resize(images, size, method=ResizeMethod.BILINEAR, preserve_aspect_ratio=False,
           antialias=False, name=None):
    """`images` resized to `size` ([height, width]) as tf.image.resize: pixel
    centres at half-integer positions; "bilinear" (the result float32) or
    "nearest" (the images' dtype). With `preserve_aspect_ratio` the result
    fits inside `size` with the images' aspect ratio. "bicubic": Keys'
    cubic (a = -0.5) over 4 x 4 pixels, taps outside the image left out and
    the weights renormalized, as TensorFlow 2 (float32). "area": each output
    pixel the mean of the input it covers (fractions by coverage), as
    TensorFlow's resize_area. "lanczos3", "lanczos5", "gaussian" and
    "mitchellcubic", and "bilinear"/"bicubic" with `antialias`, are
    TensorFlow's ScaleAndTranslate kernels: each output pixel a normalized
    weighted sum of the input near its centre, the kernel widened by the
    shrinking factor when `antialias` (so shrinking filters what it drops);
    float32 results."""
    x, batched = _batched(images, "resize")
    height, width = _size(size, "resize")
    method = str(method).lower()
    kernels = {ResizeMethod.LANCZOS3: "lanczos3", ResizeMethod.LANCZOS5: "lanczos5",
               ResizeMethod.GAUSSIAN: "gaussian", ResizeMethod.MITCHELLCUBIC: "mitchellcubic"}
    if method not in (ResizeMethod.BILINEAR, ResizeMethod.NEAREST_NEIGHBOR,
                      ResizeMethod.BICUBIC, ResizeMethod.AREA) and method not in kernels:
        raise errors.InvalidArgumentError(
            f"resize: unknown method {method!r} (tf.image.ResizeMethod's: 'bilinear', "
            "'nearest', 'bicubic', 'area', 'lanczos3', 'lanczos5', 'gaussian', "
            "'mitchellcubic')", errors.user_location())
    in_h, in_w = x.shape[1], x.shape[2]
    if preserve_aspect_ratio:
        scale = builtins.min(height / in_h, width / in_w)
        height = builtins.max(int(round(in_h * scale)), 1)
        width = builtins.max(int(round(in_w * scale)), 1)
    # As TensorFlow 2: antialiased bilinear and bicubic, and the other
    # kernels, are ScaleAndTranslate with the triangle and Keys' cubic.
    if antialias and method == ResizeMethod.BILINEAR:
        kernels[method] = "triangle"
    elif antialias and method == ResizeMethod.BICUBIC:
        kernels[method] = "keyscubic"
    if method in kernels:
        x = cast(x, float32) if x.dtype != float32 else x
        for axis, (n, m) in ((1, (in_h, height)), (2, (in_w, width))):
            weights = _sampling_weights(kernels[method], n, m, np.float32(m) / np.float32(n),
                                        0.0, antialias)
            if n == m and np.array_equal(weights, np.eye(n)):
                continue   # (gaussian and mitchellcubic blur even at one scale)
            spec = "om,bmwc->bowc" if axis == 1 else "om,bhmc->bhoc"
            x = einsum(spec, constant(weights), x)
        return _unbatched(x, batched)
    if method == ResizeMethod.NEAREST_NEIGHBOR:
        if height != in_h:
            x = gather(x, constant(_nearest_taps(in_h, height)), axis=1)
        if width != in_w:
            x = gather(x, constant(_nearest_taps(in_w, width)), axis=2)
        return _unbatched(x, batched)
    x = cast(x, float32) if x.dtype != float32 else x
    for axis, (n, m) in ((1, (in_h, height)), (2, (in_w, width))):
        if n == m:
            continue
        shape = [1, 1, 1, 1]
        shape[axis] = m
        if method == ResizeMethod.AREA:
            spec = "om,bmwc->bowc" if axis == 1 else "om,bhmc->bhoc"
            x = einsum(spec, constant(_area_weights(n, m)), x)
            continue
        if method == ResizeMethod.BICUBIC:
            taps, weights = _cubic_taps(n, m)
            x = sum(gather(x, constant(taps[:, k]), axis=axis) *
                    constant(weights[:, k].reshape(shape)) for k in range(4))
            continue
        first, second, frac = _linear_taps(n, m)
        a = gather(x, constant(first), axis=axis)
        b = gather(x, constant(second), axis=axis)
        x = a + (b - a) * constant(frac.reshape(shape))
    return _unbatched(x, batched)


def flip_left_right(image, name=None):
    """The images mirrored left to right (the width reversed)."""
    x, batched = _batched(image, "flip_left_right")
    return _unbatched(reverse(x, [2]), batched)


def flip_up_down(image, name=None):
    """The images mirrored top to bottom (the height reversed)."""
    x, batched = _batched(image, "flip_up_down")
    return _unbatched(reverse(x, [1]), batched)


def transpose(image, name=None):
    """Height and width swapped."""
    x, batched = _batched(image, "transpose")
    return _unbatched(_transpose(x, [0, 2, 1, 3]), batched)


def rot90(image, k=1, name=None):
    """The images rotated counter-clockwise by k quarter turns (np.rot90)."""
    x, batched = _batched(image, "rot90")
    k = int(k) % 4
    if k == 1:
        x = _transpose(reverse(x, [2]), [0, 2, 1, 3])
    elif k == 2:
        x = reverse(x, [1, 2])
    elif k == 3:
        x = reverse(_transpose(x, [0, 2, 1, 3]), [2])
    return _unbatched(x, batched)


def _draw(shape, low, high, seed, stateless):
    """Uniform numbers in [low, high): from the global generator and `seed`,
    or, for the stateless_random_* functions, from the shape [2] seed
    `stateless` alone (the same seed, the same numbers)."""
    if stateless is not None:
        return _random.stateless_uniform(shape, stateless, low, high)
    return _random.uniform(shape, low, high, seed=seed)


def _random_flip(image, axis, seed, what, stateless=None):
    x, batched = _batched(image, what)
    # One coin per image: [batch, 1, 1, 1], the batch possibly open.
    from .math_ops import shape as _shape
    coins = _draw([_shape(x)[0], 1, 1, 1], 0.0, 1.0, seed, stateless)
    flipped = where(less(coins, 0.5), reverse(x, [axis]), x)
    return _unbatched(flipped, batched)


def random_flip_left_right(image, seed=None):
    """Each image mirrored left to right with probability 1/2."""
    return _random_flip(image, 2, seed, "random_flip_left_right")


def random_flip_up_down(image, seed=None):
    """Each image mirrored top to bottom with probability 1/2."""
    return _random_flip(image, 1, seed, "random_flip_up_down")


def crop_to_bounding_box(image, offset_height, offset_width, target_height, target_width):
    """The [target_height, target_width] window whose top-left corner is at
    (offset_height, offset_width)."""
    x, batched = _batched(image, "crop_to_bounding_box")
    oh, ow, th, tw = (int(v) for v in (offset_height, offset_width, target_height,
                                       target_width))
    if oh < 0 or ow < 0 or th <= 0 or tw <= 0 or oh + th > x.shape[1] or \
            ow + tw > x.shape[2]:
        raise errors.InvalidArgumentError(
            f"crop_to_bounding_box: the window at ({oh}, {ow}) of {th}x{tw} does not lie "
            f"inside images of {x.shape[1]}x{x.shape[2]}", errors.user_location())
    return _unbatched(x[:, oh:oh + th, ow:ow + tw, :], batched)


def pad_to_bounding_box(image, offset_height, offset_width, target_height, target_width):
    """The images placed at (offset_height, offset_width) in zeros of
    [target_height, target_width]."""
    x, batched = _batched(image, "pad_to_bounding_box")
    oh, ow, th, tw = (int(v) for v in (offset_height, offset_width, target_height,
                                       target_width))
    below, right = th - oh - x.shape[1], tw - ow - x.shape[2]
    if builtins.min(oh, ow, below, right) < 0:
        raise errors.InvalidArgumentError(
            f"pad_to_bounding_box: images of {x.shape[1]}x{x.shape[2]} at ({oh}, {ow}) do "
            f"not fit in {th}x{tw}", errors.user_location())
    return _unbatched(pad(x, [[0, 0], [oh, below], [ow, right], [0, 0]]), batched)


def resize_with_crop_or_pad(image, target_height, target_width):
    """The centre [target_height, target_width] of the images, cropped
    where they are larger and padded with zeros where smaller (each side
    gets half, the extra row or column going to the bottom/right)."""
    x, batched = _batched(image, "resize_with_crop_or_pad")
    th, tw = int(target_height), int(target_width)
    if th <= 0 or tw <= 0:
        raise errors.InvalidArgumentError(
            f"resize_with_crop_or_pad: target {th}x{tw} must be positive",
            errors.user_location())
    h, w = x.shape[1], x.shape[2]
    crop_h, crop_w = builtins.max((h - th) // 2, 0), builtins.max((w - tw) // 2, 0)
    x = x[:, crop_h:crop_h + builtins.min(h, th), crop_w:crop_w + builtins.min(w, tw), :]
    pad_h, pad_w = builtins.max((th - h) // 2, 0), builtins.max((tw - w) // 2, 0)
    x = pad(x, [[0, 0], [pad_h, th - x.shape[1] - pad_h], [pad_w, tw - x.shape[2] - pad_w],
                [0, 0]])
    return _unbatched(x, batched)


def central_crop(image, central_fraction):
    """The central `central_fraction` (in (0, 1]) of each image's height
    and width (tf.image.central_crop's rounding)."""
    x, batched = _batched(image, "central_crop")
    fraction = float(central_fraction)
    if not 0.0 < fraction <= 1.0:
        raise errors.InvalidArgumentError(
            f"central_crop: central_fraction must be in (0, 1], got {fraction}",
            errors.user_location())
    if fraction == 1.0:
        return _unbatched(x, batched)
    h, w = x.shape[1], x.shape[2]
    top = int((h - h * fraction) / 2)
    left = int((w - w * fraction) / 2)
    return _unbatched(x[:, top:h - top, left:w - left, :], batched)


def random_crop(value, size, seed=None, name=None, _stateless=None):
    """A window of shape `size` at an offset drawn uniformly (one for the
    whole tensor, as tf.image.random_crop; each dimension may be cropped).
    Compiled, the offset is drawn when the code runs."""
    x = convert_to_tensor(value)
    size = _static_extents(size, "random_crop", open_extents=True)
    if len(size) != x.ndim:
        raise errors.InvalidArgumentError(
            f"random_crop: size {size} does not have the rank of the value, "
            f"{list(x.shape)}", errors.user_location())
    crops = []
    for axis, (n, m) in enumerate(zip(x.shape, size)):
        if isinstance(m, _OpenExtent) and m.of(x, axis):
            continue  # (kiln.shape(x)[axis]: the whole open dimension)
        if n is None or isinstance(m, _OpenExtent):
            raise errors.UnimplementedError(
                f"random_crop: dimension {axis} of a value of shape {list(x.shape)} is "
                "known only when the code runs; Kiln crops known extents",
                errors.user_location())
        m = int(m)
        if not 0 < m <= n:
            raise errors.InvalidArgumentError(
                f"random_crop: cannot take {m} of dimension {axis}'s {n} elements",
                errors.user_location())
        if m != n:
            crops.append((axis, n, m))
    if not crops:
        return x
    # One draw for every cropped dimension (independent offsets):
    # offset = floor(u * (n - m + 1)), u uniform in [0, 1).
    draws = _draw([len(crops)], 0.0, 1.0, seed, _stateless)
    for k, (axis, n, m) in enumerate(crops):
        offset = cast(minimum(draws[k] * float(n - m + 1), float(n - m)), int32)
        x = gather(x, offset + constant(np.arange(m, dtype=np.int32)), axis=axis)
    return x


def convert_image_dtype(image, dtype, saturate=False, name=None):
    """Pixel values converted between types, as tf.image.convert_image_dtype:
    integers span [0, max] and floats [0, 1], so converting scales; float to
    float only casts."""
    x = convert_to_tensor(image)
    dtype = as_dtype(dtype)
    if x.dtype == dtype:
        return x
    if x.dtype.is_floating and dtype.is_floating:
        return cast(x, dtype)
    top = lambda d: float(np.iinfo(d.as_numpy_dtype).max)
    if x.dtype.is_integer and dtype.is_floating:
        return cast(x, dtype) * (1.0 / top(x.dtype))
    if x.dtype.is_floating and dtype.is_integer:
        scaled = x * (top(dtype) + 0.5)
        if saturate:  # (to the integer type's range, TensorFlow's saturate_cast)
            low = float(np.iinfo(dtype.as_numpy_dtype).min)
            scaled = minimum(maximum(scaled, low), top(dtype))
        return cast(scaled, dtype)
    if x.dtype.is_integer and dtype.is_integer:
        # TensorFlow's integer rescaling: by the ratio of the two ranges
        # (each max + 1 a power of two), dividing before a narrowing cast
        # and multiplying after a widening one.
        # saturate clamps to the result's range (int8 -1 to uint8 is 0).
        convert = saturate_cast if saturate else cast
        into, outof = int(top(dtype)) + 1, int(top(x.dtype)) + 1
        if outof > into:
            return convert(x // (outof // into), dtype)
        return convert(x, dtype) * (into // outof)
    raise errors.UnimplementedError(
        f"convert_image_dtype: {x.dtype.name} to {dtype.name} is not supported "
        "(integer to float, float to integer, float to float)", errors.user_location())


def _as_float(image, what):
    x = convert_to_tensor(image)
    return (x, None) if x.dtype.is_floating else (convert_image_dtype(x, float32), x.dtype)


def _scalar_like(value, x):
    """A number or scalar tensor in x's dtype (a float32 draw for a
    float64 image included)."""
    if isinstance(value, (int, float)):
        return convert_to_tensor(value, x.dtype)
    t = convert_to_tensor(value)
    return t if t.dtype == x.dtype else cast(t, x.dtype)


def adjust_brightness(image, delta):
    """`delta` added to every pixel (integer images scaled to [0, 1] first
    and back after)."""
    x, original = _as_float(image, "adjust_brightness")
    out = x + _scalar_like(delta, x)
    return out if original is None else convert_image_dtype(out, original, saturate=True)


def adjust_contrast(images, contrast_factor):
    """Each channel of each image moved away from (or toward) its mean by
    `contrast_factor`: (x - mean) * factor + mean."""
    x, original = _as_float(images, "adjust_contrast")
    mean = reduce_mean(x, axis=[-3, -2], keepdims=True)
    out = (x - mean) * _scalar_like(contrast_factor, x) + mean
    return out if original is None else convert_image_dtype(out, original, saturate=True)


def _uniform_scalar(low, high, seed, stateless=None):
    """A number drawn from [low, high), or `low` when the range is empty."""
    if low == high:
        return low
    return _draw([], low, high, seed, stateless)


def random_brightness(image, max_delta, seed=None, _stateless=None):
    """adjust_brightness by a delta drawn uniformly from [-max_delta,
    max_delta) (one for the whole tensor)."""
    if float(max_delta) < 0:
        raise errors.InvalidArgumentError("random_brightness: max_delta must be >= 0",
                                          errors.user_location())
    return adjust_brightness(image, _uniform_scalar(-float(max_delta), float(max_delta),
                                                    seed, _stateless))


def random_contrast(image, lower, upper, seed=None, _stateless=None):
    """adjust_contrast by a factor drawn uniformly from [lower, upper)."""
    if not 0 <= float(lower) < float(upper):
        raise errors.InvalidArgumentError(
            f"random_contrast: needs 0 <= lower < upper, got {lower} and {upper}",
            errors.user_location())
    return adjust_contrast(image, _uniform_scalar(float(lower), float(upper), seed,
                                                  _stateless))


def per_image_standardization(image):
    """Each image scaled to mean 0 and variance 1 over its pixels and
    channels: (x - mean) / max(stddev, 1 / sqrt(pixels * channels))."""
    x, batched = _batched(image, "per_image_standardization")
    x = x if x.dtype.is_floating else cast(x, float32)
    count = x.shape[1] * x.shape[2] * x.shape[3]
    mean = reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    variance = reduce_mean((x - mean) * (x - mean), axis=[1, 2, 3], keepdims=True)
    scale = maximum(sqrt(variance), 1.0 / float(np.sqrt(count)))
    return _unbatched((x - mean) / scale, batched)


def rgb_to_grayscale(images, name=None):
    """The luma of RGB images, [..., 1] (ITU-R 601 weights, as TensorFlow)."""
    x, original = _as_float(images, "rgb_to_grayscale")
    if x.shape[-1] != 3:
        raise errors.InvalidArgumentError(
            f"rgb_to_grayscale: needs 3 channels, got shape {list(x.shape)}",
            errors.user_location())
    weights = constant(np.array([0.2989, 0.5870, 0.1140]), x.dtype)
    gray = reduce_sum(x * weights, axis=-1, keepdims=True)
    return gray if original is None else convert_image_dtype(gray, original, saturate=True)


def grayscale_to_rgb(images, name=None):
    """One channel repeated as three."""
    x = convert_to_tensor(images)
    if x.shape[-1] != 1:
        raise errors.InvalidArgumentError(
            f"grayscale_to_rgb: needs 1 channel, got shape {list(x.shape)}",
            errors.user_location())
    return tile(x, [1] * (x.ndim - 1) + [3])


# --- Geometric transforms (Keras' RandomRotation, RandomZoom,
# RandomTranslation) --------------------------------------------------------

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")


def _map_coordinate(coord, size, fill_mode):
    """A continuous input coordinate outside [0, size - 1] mapped back in
    as TensorFlow's ImageProjectiveTransform does (reflect: d c b a | a b c
    d | d c b a; wrap: periodic, TensorFlow's formula; nearest: clamped);
    "constant" keeps it (its samples outside read the fill value)."""
    n = float(size)
    if fill_mode == "constant":
        return coord
    if size == 1:
        return coord * 0.0
    if fill_mode == "reflect":
        period = 2.0 * n
        folded = coord - floor(coord / period) * period       # in [0, 2n)
        reflected = where(greater_equal(folded, n), period - folded - 1.0, folded)
        inside = logical_and(greater_equal(coord, 0.0), less_equal(coord, n - 1.0))
        coord = where(inside, coord, reflected)
    elif fill_mode == "wrap":
        span = n - 1.0
        below = coord + n * (floor(-coord / span) + 1.0)
        above = coord - n * floor(coord / span)
        coord = where(less(coord, 0.0), below,
                      where(greater(coord, n - 1.0), above, coord))
    return minimum(maximum(coord, 0.0), n - 1.0)


def _image_numbers(x):
    """Each image's position in the batch x [b, h, w, c], as [b, 1, 1]
    int32 (constants for a known batch; read when the code runs for an
    open one, from x's extent only)."""
    return reshape(_positions(x[:, :1, :1, :1], 0), [-1, 1, 1])


def _sample(x, ys, xs, fill_mode, fill_value, interpolation):
    """Images x [b, h, w, c] read at the continuous positions (ys, xs)
    ([b, h', w'], input pixel coordinates): bilinear or nearest, positions
    outside mapped by `fill_mode` (constant: fill_value)."""
    _, h, w, c = x.shape
    ys = _map_coordinate(ys, h, fill_mode)
    xs = _map_coordinate(xs, w, fill_mode)
    flat = reshape(x, [-1, c])                              # [b*h*w, c]
    # (each image's first row in `flat`; an open batch makes the gather's
    # table open along its axis)
    base = _image_numbers(x) * (h * w)

    def read(yi, xi):
        """x at integer positions (float tensors), fill_value outside."""
        inside = logical_and(logical_and(greater_equal(yi, 0.0), less_equal(yi, h - 1.0)),
                             logical_and(greater_equal(xi, 0.0), less_equal(xi, w - 1.0)))
        yc = cast(minimum(maximum(yi, 0.0), h - 1.0), "int32")
        xc = cast(minimum(maximum(xi, 0.0), w - 1.0), "int32")
        values = gather(flat, base + yc * w + xc)           # [b, h', w', c]
        if fill_mode != "constant":
            return values
        return where(expand_dims(inside, -1), values,
                     constant(float(fill_value), values.dtype))

    if interpolation == "nearest":  # (halves away from 0, std::round)
        near = lambda v: where(less(v, 0.0), -floor(0.5 - v), floor(v + 0.5))
        return read(near(ys), near(xs))
    y0, x0 = floor(ys), floor(xs)
    wy, wx = expand_dims(ys - y0, -1), expand_dims(xs - x0, -1)
    top = read(y0, x0) * (1.0 - wx) + read(y0, x0 + 1.0) * wx
    bottom = read(y0 + 1.0, x0) * (1.0 - wx) + read(y0 + 1.0, x0 + 1.0) * wx
    return top * (1.0 - wy) + bottom * wy


def transform(images, transforms, interpolation="bilinear", fill_mode="constant",
              fill_value=0.0, output_shape=None):
    """Images [b, h, w, c] under projective transforms (one [8] row per
    image, or one for all): output pixel (x, y) reads the input at
    ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k), k = c0 x + c1 y + 1
    (tf.raw_ops.ImageProjectiveTransformV3); `fill_mode` reflect, wrap,
    constant (fill_value) or nearest; bilinear or nearest interpolation."""
    x, batched = _batched(images, "transform")
    if fill_mode not in _FILL_MODES:
        raise errors.InvalidArgumentError(
            f"transform: fill_mode {fill_mode!r} is not one of {_FILL_MODES}",
            errors.user_location())
    if interpolation not in ("bilinear", "nearest"):
        raise errors.InvalidArgumentError(
            f"transform: interpolation {interpolation!r} is not 'bilinear' or 'nearest'",
            errors.user_location())
    # (Coordinates and weights in float32 at least, as TensorFlow's kernel
    # computes them: a 16-bit grid cannot hold the pixel positions of a
    # wide image; the result goes back to the images' type.)
    original = x.dtype
    x = x if x.dtype in (float32, float64) else cast(x, float32)
    h, w = (x.shape[1], x.shape[2]) if output_shape is None else \
        (int(output_shape[0]), int(output_shape[1]))
    t = convert_to_tensor(transforms, x.dtype)
    if t.ndim == 1:
        t = expand_dims(t, 0)
    if t.shape[-1] != 8:
        raise errors.InvalidArgumentError(
            f"transform: transforms are rows of 8, got shape {list(t.shape)}",
            errors.user_location())
    col = lambda k: expand_dims(expand_dims(t[:, k], 1), 2)   # [b or 1, 1, 1]
    gy = constant(np.broadcast_to(np.arange(h, dtype=np.float64)[:, None], (h, w)), x.dtype)
    gx = constant(np.broadcast_to(np.arange(w, dtype=np.float64)[None, :], (h, w)), x.dtype)
    k = col(6) * gx + col(7) * gy + 1.0
    xs = (col(0) * gx + col(1) * gy + col(2)) / k
    ys = (col(3) * gx + col(4) * gy + col(5)) / k
    # (one transform for every image: spread over the batch; an open batch
    # through zeros shaped [b, 1, 1])
    if x.shape[0] is None:
        spread = cast(_image_numbers(x), x.dtype) * 0.0
        ys, xs = ys + spread, xs + spread
    else:
        grid = [x.shape[0], h, w]
        ys, xs = broadcast_to(ys, grid), broadcast_to(xs, grid)
    out = _sample(x, ys, xs, fill_mode, fill_value, interpolation)
    if original.is_floating and original != out.dtype:
        out = cast(out, original)
    return _unbatched(out, batched)


# --- Colour spaces ------------------------------------------------------------

def _rgb(images, what):
    x, original = _as_float(images, what)
    if x.shape[-1] != 3:
        raise errors.InvalidArgumentError(
            f"{what}: needs 3 channels, got shape {list(x.shape)}", errors.user_location())
    return x, original


def _linear_colour(images, matrix, what):
    """Each pixel's 3 channels times `matrix` (pixel row vector @ matrix)."""
    x, _ = _rgb(images, what)
    m = constant(np.asarray(matrix, np.float64), x.dtype)
    return reduce_sum(expand_dims(x, -1) * m, axis=-2)


_YUV = [[0.299, -0.14714119, 0.61497538], [0.587, -0.28886916, -0.51496512],
        [0.114, 0.43601035, -0.10001026]]
_YIQ = [[0.299, 0.59590059, 0.2115], [0.587, -0.27455667, -0.52273617],
        [0.114, -0.32134392, 0.31119955]]


def rgb_to_yuv(images):
    """RGB in [0, 1] to YUV (Y in [0, 1], U and V about [-0.5, 0.5]),
    TensorFlow's matrix."""
    return _linear_colour(images, _YUV, "rgb_to_yuv")


def yuv_to_rgb(images):
    return _linear_colour(images, np.linalg.inv(_YUV), "yuv_to_rgb")


def rgb_to_yiq(images):
    """RGB in [0, 1] to YIQ, TensorFlow's matrix."""
    return _linear_colour(images, _YIQ, "rgb_to_yiq")


def yiq_to_rgb(images):
    return _linear_colour(images, np.linalg.inv(_YIQ), "yiq_to_rgb")


def rgb_to_hsv(images, name=None):
    """RGB in [0, 1] to hue, saturation, value, each in [0, 1] (hue 0 for
    greys, saturation 0 for black), as tf.image.rgb_to_hsv."""
    x, _ = _rgb(images, "rgb_to_hsv")
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    value = maximum(maximum(r, g), b)
    chroma = value - minimum(minimum(r, g), b)
    grey = less_equal(chroma, 0.0)
    safe = where(grey, chroma * 0.0 + 1.0, chroma)
    saturation = where(greater(value, 0.0), chroma / where(greater(value, 0.0), value,
                                                           value * 0.0 + 1.0), value * 0.0)
    hue = where(equal(value, r), (g - b) / safe,
                where(equal(value, g), 2.0 + (b - r) / safe, 4.0 + (r - g) / safe)) / 6.0
    hue = hue - floor(hue)                    # (into [0, 1))
    hue = where(grey, hue * 0.0, hue)
    return stack([hue, saturation, value], axis=-1)


def hsv_to_rgb(images, name=None):
    """The inverse of rgb_to_hsv."""
    x = convert_to_tensor(images)
    if x.shape[-1] != 3 or not x.dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"hsv_to_rgb: needs float images with 3 channels, got {x.dtype.name} "
            f"{list(x.shape)}", errors.user_location())
    h, s, v = x[..., 0], x[..., 1], x[..., 2]
    # Each channel: v - v s clamp(min(k, 4 - k), 0, 1), k = (n + 6 h) mod 6
    # for n = 5 (red), 3 (green), 1 (blue).
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = n + 6.0 * h
        k = k - 6.0 * floor(k / 6.0)
        channels.append(v - v * s * maximum(minimum(minimum(k, 4.0 - k), 1.0), 0.0))
    return stack(channels, axis=-1)


def _from_hsv_back(hsv, original):
    rgb = hsv_to_rgb(hsv)
    return rgb if original is None else convert_image_dtype(rgb, original, saturate=True)


def adjust_hue(image, delta, name=None):
    """The hue turned by `delta` (in [-1, 1], a fraction of the circle)."""
    if isinstance(delta, (int, float)) and not -1.0 <= float(delta) <= 1.0:
        raise errors.InvalidArgumentError(f"adjust_hue: delta {delta} is not in [-1, 1]",
                                          errors.user_location())
    x, original = _rgb(image, "adjust_hue")
    hsv = rgb_to_hsv(x)
    hue = hsv[..., 0] + _scalar_like(delta, x)
    hue = hue - floor(hue)
    return _from_hsv_back(stack([hue, hsv[..., 1], hsv[..., 2]], axis=-1), original)


def adjust_saturation(image, saturation_factor, name=None):
    """The saturation times `saturation_factor`, clipped to [0, 1]."""
    x, original = _rgb(image, "adjust_saturation")
    hsv = rgb_to_hsv(x)
    s = minimum(maximum(hsv[..., 1] * _scalar_like(saturation_factor, x), 0.0), 1.0)
    return _from_hsv_back(stack([hsv[..., 0], s, hsv[..., 2]], axis=-1), original)


def adjust_gamma(image, gamma=1, gain=1):
    """gain * image ** gamma (integer images scaled to [0, 1] first and
    back after); gamma must be >= 0."""
    if float(gamma) < 0:
        raise errors.InvalidArgumentError("adjust_gamma: gamma must be >= 0",
                                          errors.user_location())
    x, original = _as_float(image, "adjust_gamma")
    out = (x ** float(gamma)) * float(gain)
    return out if original is None else convert_image_dtype(out, original, saturate=True)


def random_hue(image, max_delta, seed=None, _stateless=None):
    """adjust_hue by a delta drawn from [-max_delta, max_delta]
    (max_delta in [0, 0.5])."""
    if not 0.0 <= float(max_delta) <= 0.5:
        raise errors.InvalidArgumentError("random_hue: max_delta must be in [0, 0.5]",
                                          errors.user_location())
    return adjust_hue(image, _uniform_scalar(-float(max_delta), float(max_delta), seed,
                                             _stateless))


def random_saturation(image, lower, upper, seed=None, _stateless=None):
    """adjust_saturation by a factor drawn from [lower, upper)."""
    if not 0 <= float(lower) < float(upper):
        raise errors.InvalidArgumentError(
            f"random_saturation: needs 0 <= lower < upper, got {lower} and {upper}",
            errors.user_location())
    return adjust_saturation(image, _uniform_scalar(float(lower), float(upper), seed,
                                                    _stateless))


# --- Stateless augmentation (tf.image.stateless_random_*) ---------------------------
# Each takes a shape [2] integer seed and gives the same result for the same
# seed and input, as TensorFlow's (its numbers are Kiln's, not TensorFlow's).

def stateless_random_flip_left_right(image, seed):
    return _random_flip(image, 2, None, "stateless_random_flip_left_right", seed)


def stateless_random_flip_up_down(image, seed):
    return _random_flip(image, 1, None, "stateless_random_flip_up_down", seed)


def stateless_random_brightness(image, max_delta, seed):
    return random_brightness(image, max_delta, _stateless=seed)


def stateless_random_contrast(image, lower, upper, seed):
    return random_contrast(image, lower, upper, _stateless=seed)


def stateless_random_hue(image, max_delta, seed):
    return random_hue(image, max_delta, _stateless=seed)


def stateless_random_saturation(image, lower, upper, seed):
    return random_saturation(image, lower, upper, _stateless=seed)


def stateless_random_crop(value, size, seed, name=None):
    return random_crop(value, size, _stateless=seed)


# --- Sizes ------------------------------------------------------------------------

def resize_with_pad(image, target_height, target_width, method=ResizeMethod.BILINEAR,
                    antialias=False):
    """Resized to fit [target_height, target_width] with the aspect ratio
    kept, then padded with zeros around (tf.image.resize_with_pad's
    rounding)."""
    x, batched = _batched(image, "resize_with_pad")
    th, tw = int(target_height), int(target_width)
    if th <= 0 or tw <= 0:
        raise errors.InvalidArgumentError(
            f"resize_with_pad: target {th}x{tw} must be positive", errors.user_location())
    h, w = x.shape[1], x.shape[2]
    ratio = builtins.max(w / tw, h / th)
    rh, rw = int(np.floor(h / ratio)), int(np.floor(w / ratio))
    top = builtins.max(0, int(np.floor((th - h / ratio) / 2)))
    left = builtins.max(0, int(np.floor((tw - w / ratio) / 2)))
    resized = resize(x, [rh, rw], method=method, antialias=antialias)
    return _unbatched(pad_to_bounding_box(resized, top, left, th, tw), batched)


# --- Gradients and quality measures ----------------------------------------------------

def image_gradients(image):
    """(dy, dx): each pixel's difference to the next row's and the next
    column's, 0 in the last row / column; [batch, h, w, c] images."""
    x = convert_to_tensor(image)
    if x.ndim != 4:
        raise errors.InvalidArgumentError(
            f"image_gradients: needs [batch, height, width, channels], got "
            f"{list(x.shape)}", errors.user_location())
    dy = pad(x[:, 1:] - x[:, :-1], [[0, 0], [0, 1], [0, 0], [0, 0]])
    dx = pad(x[:, :, 1:] - x[:, :, :-1], [[0, 0], [0, 0], [0, 1], [0, 0]])
    return dy, dx


def sobel_edges(image):
    """The Sobel responses [batch, h, w, c, 2] (vertical then horizontal
    derivative), the images extended by reflection (tf.image.sobel_edges;
    4-D images, as TensorFlow requires)."""
    if convert_to_tensor(image).ndim != 4:
        raise errors.InvalidArgumentError(
            f"sobel_edges: needs [batch, height, width, channels] images, got shape "
            f"{list(convert_to_tensor(image).shape)}", errors.user_location())
    x, _ = _batched(image, "sobel_edges")
    x = x if x.dtype.is_floating else cast(x, float32)
    h, w = x.shape[1], x.shape[2]
    p = pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
    kernels = (np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float64),
               np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64))
    out = []
    for k in kernels:
        total = None
        for i in range(3):
            for j in range(3):
                if k[i, j]:
                    term = p[:, i:i + h, j:j + w, :] * float(k[i, j])
                    total = term if total is None else total + term
        out.append(total)
    return stack(out, axis=-1)


def total_variation(images, name=None):
    """The sum of the absolute differences between neighbouring pixels,
    per image ([batch]; a scalar for one image)."""
    x = convert_to_tensor(images)
    if x.ndim not in (3, 4):
        raise errors.InvalidArgumentError(
            f"total_variation: images are rank 3 or 4, got {list(x.shape)}",
            errors.user_location())
    axes = [-3, -2, -1]
    dy = x[..., 1:, :, :] - x[..., :-1, :, :]
    dx = x[..., :, 1:, :] - x[..., :, :-1, :]
    return reduce_sum(abs(dy), axis=axes) + reduce_sum(abs(dx), axis=axes)


def _quality_inputs(a, b, max_val, what):
    a, b = convert_to_tensor(a), convert_to_tensor(b)
    if tuple(a.shape) != tuple(b.shape) or a.ndim < 3:
        raise errors.InvalidArgumentError(
            f"{what}: two images of one shape [..., h, w, c] needed, got {list(a.shape)} "
            f"and {list(b.shape)}", errors.user_location())
    if a.dtype.is_integer:   # (TensorFlow: to float32 in [0, 1], max_val too)
        max_val = float(max_val) / float(np.iinfo(a.dtype.as_numpy_dtype).max)
    a, b = convert_image_dtype(a, float32), convert_image_dtype(b, float32)
    return a, b, float(max_val)


def psnr(a, b, max_val, name=None):
    """The peak signal-to-noise ratio in dB per image: 20 log10(max_val) -
    10 log10(mean squared difference) (float32; integer images scaled as
    TensorFlow does)."""
    a, b, max_val = _quality_inputs(a, b, max_val, "psnr")
    mse = reduce_mean((a - b) * (a - b), axis=[-3, -2, -1])
    return 20.0 * float(np.log10(max_val)) - (10.0 / float(np.log(10.0))) * log(mse)


def _gaussian_blur_valid(x, size, sigma):
    """x [..., h, w, c] filtered by the normalized size x size Gaussian
    (separable), 'VALID': [..., h - size + 1, w - size + 1, c]."""
    g = np.exp(-0.5 * ((np.arange(size) - (size - 1) / 2.0) / sigma) ** 2)
    g = g / g.sum()
    h, w = x.shape[-3], x.shape[-2]
    rows = None
    for i in range(size):
        term = x[..., i:i + h - size + 1, :, :] * float(g[i])
        rows = term if rows is None else rows + term
    out = None
    for j in range(size):
        term = rows[..., :, j:j + w - size + 1, :] * float(g[j])
        out = term if out is None else out + term
    return out


def _ssim_parts(a, b, max_val, filter_size, filter_sigma, k1, k2, what):
    """SSIM's index map (luminance times contrast-structure) and the
    contrast-structure map, [..., h', w', c], of two float images."""
    size = int(filter_size)
    if a.shape[-3] < size or a.shape[-2] < size:
        raise errors.InvalidArgumentError(
            f"{what}: images of {a.shape[-3]}x{a.shape[-2]} are smaller than the "
            f"{size}x{size} filter", errors.user_location())
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    blur = lambda t: _gaussian_blur_valid(t, size, float(filter_sigma))
    mean_a, mean_b = blur(a), blur(b)
    num0 = mean_a * mean_b * 2.0
    den0 = mean_a * mean_a + mean_b * mean_b
    luminance = (num0 + c1) / (den0 + c1)
    num1 = blur(a * b) * 2.0
    den1 = blur(a * a + b * b)
    cs = (num1 - num0 + c2) / (den1 - den0 + c2)
    return luminance * cs, cs


def ssim(img1, img2, max_val, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         return_index_map=False):
    """The structural similarity of two images (batches) per image, the
    mean over channels of the mean over the Gaussian windows of luminance
    times contrast-structure (tf.image.ssim; Wang et al. 2004): images
    [..., h, w, c] at least filter_size in height and width."""
    a, b, max_val = _quality_inputs(img1, img2, max_val, "ssim")
    index_map, _ = _ssim_parts(a, b, max_val, filter_size, filter_sigma, k1, k2, "ssim")
    if return_index_map:
        return reduce_mean(index_map, axis=-1)
    return reduce_mean(index_map, axis=[-3, -2, -1])


_MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _halve(x):
    """x [..., h, w, c] averaged over 2x2 blocks, an odd height or width
    first extended by its last row or column (TensorFlow's SYMMETRIC pad)."""
    h, w = x.shape[-3], x.shape[-2]
    if h % 2 or w % 2:
        x = pad(x, [[0, 0]] * (x.ndim - 3) + [[0, h % 2], [0, w % 2], [0, 0]],
                mode="SYMMETRIC")
        h, w = h + h % 2, w + w % 2
    heads = [-1 if e is None else e for e in x.shape[:-3]]
    if heads.count(-1) > 1:
        raise errors.UnimplementedError(
            f"ssim_multiscale: at most one open leading extent, got {list(x.shape)}",
            errors.user_location())
    blocks = reshape(x, [-1, h // 2, 2, w // 2, 2, x.shape[-1]])
    return reshape(reduce_mean(blocks, axis=[2, 4]), heads + [h // 2, w // 2, x.shape[-1]])


def ssim_multiscale(img1, img2, max_val, power_factors=_MSSSIM_WEIGHTS, filter_size=11,
                    filter_sigma=1.5, k1=0.01, k2=0.03):
    """Multi-scale SSIM per image (tf.image.ssim_multiscale; Wang, Simoncelli
    and Bovik 2003): at each of len(power_factors) scales (each half the
    last, by 2x2 means) the per-channel mean contrast-structure, and at the
    last the SSIM; their product raised to the power factors (negative
    values clipped to 0), averaged over channels. The images must stay at
    least filter_size in height and width at the coarsest scale."""
    a, b, max_val = _quality_inputs(img1, img2, max_val, "ssim_multiscale")
    factors = [float(f) for f in power_factors]
    if not factors:
        raise ValueError("ssim_multiscale: power_factors is empty")
    terms = []
    for scale in range(len(factors)):
        if scale:
            a, b = _halve(a), _halve(b)
        index_map, cs = _ssim_parts(a, b, max_val, filter_size, filter_sigma, k1, k2,
                                    f"ssim_multiscale at scale {scale} of {len(factors)} "
                                    "(each scale halves the images)")
        last = scale == len(factors) - 1
        per_channel = reduce_mean(index_map if last else cs, axis=[-3, -2])
        terms.append(_pow(maximum(per_channel, 0.0), factors[scale]))
    product = terms[0]
    for term in terms[1:]:
        product = product * term
    return reduce_mean(product, axis=-1)


# --- Patches and boxes ----------------------------------------------------------

def _window_arguments(values, what, name, n):
    """The n middle entries of [1, ..., 1] window arguments (sizes,
    strides, rates), each positive."""
    v = [int(s) for s in values]
    if len(v) != n + 2 or v[0] != 1 or v[-1] != 1 or builtins.min(v) <= 0:
        raise errors.InvalidArgumentError(
            f"{what}: {name} must be [1, {', '.join(['k'] * n)}, 1] with positive entries, "
            f"got {v}", errors.user_location())
    return v[1:-1]


def _patches(images, sizes, strides, rates, padding, what):
    """Every window of `sizes` over the n spatial dimensions (taps `rates`
    apart, windows `strides` apart) flattened into the depth in (taps...,
    channel) order; VALID or SAME (zeros, the extra one after) padding."""
    import itertools
    x = convert_to_tensor(images)
    n = x.ndim - 2
    if n < 1 or None in x.shape[1:]:
        raise errors.InvalidArgumentError(
            f"{what}: needs [batch, spatial..., channels] with every extent but the batch "
            f"known, got {list(x.shape)}", errors.user_location())
    ks = _window_arguments(sizes, what, "sizes", n)
    ss = _window_arguments(strides, what, "strides", n)
    rs = _window_arguments(rates, what, "rates", n)
    extents = list(x.shape[1:-1])
    spans = [(k - 1) * r + 1 for k, r in zip(ks, rs)]
    padding = padding.upper() if isinstance(padding, str) else padding
    if padding == "VALID":
        outs = [(e - span) // st + 1 for e, span, st in zip(extents, spans, ss)]
    elif padding == "SAME":
        outs = [-(-e // st) for e, st in zip(extents, ss)]
        totals = [builtins.max((o - 1) * st + span - e, 0)
                  for o, st, span, e in zip(outs, ss, spans, extents)]
        x = pad(x, [[0, 0]] + [[t // 2, t - t // 2] for t in totals] + [[0, 0]])
    else:
        raise errors.InvalidArgumentError(
            f"{what}: padding must be 'VALID' or 'SAME', got {padding!r}",
            errors.user_location())
    if builtins.min(outs) <= 0:
        raise errors.InvalidArgumentError(
            f"{what}: windows of {ks} at rates {rs} do not fit in {extents}",
            errors.user_location())
    every = builtins.slice(None)
    taps = [x[(every,) + tuple(builtins.slice(i * r, i * r + (o - 1) * st + 1, st)
                              for i, r, o, st in zip(tap, rs, outs, ss)) + (every,)]
            for tap in itertools.product(*[range(k) for k in ks])]
    return reshape(stack(taps, axis=n + 1),
                   [-1] + outs + [int(np.prod(ks)) * x.shape[-1]])


# TensorFlow's colors when draw_bounding_boxes is given none.
_BOX_COLORS = np.array([[1, 1, 0, 1], [0, 0, 1, 1], [1, 0, 0, 1], [0, 1, 0, 1],
                        [0.5, 0, 0.5, 1], [0.5, 0.5, 0, 1], [0.5, 0, 0, 1],
                        [0, 0, 0.5, 1], [0, 1, 1, 1], [1, 0, 1, 1]], np.float32)


def draw_bounding_boxes(images, boxes, colors=None, name=None):
    """tf.image.draw_bounding_boxes: the outline (one pixel wide) of each box
    of boxes[b] ([y_min, x_min, y_max, x_max], fractions of the image:
    pixel rows y * (height - 1) truncated toward zero) drawn over image b in
    colors[i % len(colors)] (their first `depth` channels; TensorFlow's
    table when None, all white for one channel), later boxes over earlier
    ones. Boxes wholly outside the image, or upside down, are skipped; a
    box partly outside has the sides inside drawn."""
    x = convert_to_tensor(images)
    if x.ndim != 4 or not x.dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"draw_bounding_boxes: images must be a float [batch, height, width, depth] "
            f"batch, got {x.dtype.name} {list(x.shape)}", errors.user_location())
    b = convert_to_tensor(boxes, float32)
    if b.ndim != 3 or b.shape[2] != 4 or b.shape[1] is None:
        raise errors.InvalidArgumentError(
            f"draw_bounding_boxes: boxes must be [batch, boxes, 4] with a known box "
            f"count, got {list(b.shape)}", errors.user_location())
    height, width, depth = (_known_extent(x, a, "draw_bounding_boxes") for a in (1, 2, 3))
    if colors is None:
        table = _BOX_COLORS.copy()
        if depth == 1:
            table[:, 0] = 1.0
    else:
        table = np.asarray(convert_to_tensor(colors, float32).numpy(), np.float32)
        if table.ndim != 2 or table.shape[0] == 0:
            raise errors.InvalidArgumentError(
                f"draw_bounding_boxes: colors must be [colors, channels], got shape "
                f"{list(table.shape)}", errors.user_location())
    if table.shape[1] < depth:
        raise errors.InvalidArgumentError(
            f"draw_bounding_boxes: the colors have {table.shape[1]} channels, the "
            f"images {depth}", errors.user_location())
    rows = constant(np.arange(height, dtype=np.int64).reshape(1, height, 1))
    cols = constant(np.arange(width, dtype=np.int64).reshape(1, 1, width))

    def edge(k, extent):   # [batch, 1, 1]: coordinate k of each box, in pixels
        return reshape(cast(b[:, i, k] * float(extent - 1), "int64"), [-1, 1, 1])

    def within(v, low, high):
        return logical_and(greater_equal(v, low), less_equal(v, high))

    out = x
    for i in builtins.range(b.shape[1]):
        top, left = edge(0, height), edge(1, width)
        bottom, right = edge(2, height), edge(3, width)
        # (the sides, clamped to the image)
        shown = logical_and(logical_and(less_equal(top, bottom), less_equal(left, right)),
                            logical_and(logical_and(less(top, height), greater_equal(bottom, 0)),
                                        logical_and(less(left, width),
                                                    greater_equal(right, 0))))
        across = within(cols, maximum(left, 0), minimum(right, width - 1))
        down = within(rows, maximum(top, 0), minimum(bottom, height - 1))
        mask = logical_or(
            logical_or(logical_and(equal(rows, top), across),
                       logical_and(equal(rows, bottom), across)),
            logical_or(logical_and(equal(cols, left), down),
                       logical_and(equal(cols, right), down)))
        mask = expand_dims(logical_and(mask, shown), -1)
        color = constant(table[i % table.shape[0], :depth].astype(x.dtype.as_numpy_dtype))
        out = where(mask, color, out)
    return out


def extract_patches(images, sizes, strides, rates, padding, name=None):
    """Every sizes[1] x sizes[2] patch (taps `rates` apart, windows
    `strides` apart) flattened into the depth: [batch, out rows, out cols,
    kh * kw * channels] in (row, col, channel) order
    (tf.image.extract_patches; VALID or SAME padding with zeros)."""
    x = convert_to_tensor(images)
    if x.ndim != 4:
        raise errors.InvalidArgumentError(
            f"extract_patches: needs [batch, height, width, channels], got {list(x.shape)}",
            errors.user_location())
    return _patches(x, sizes, strides, rates, padding, "extract_patches")


def extract_volume_patches(input, ksizes, strides, padding, name=None):  # noqa: A002
    """Every ksizes[1] x ksizes[2] x ksizes[3] block of a [batch, depth,
    rows, cols, channels] volume, flattened into the depth in (plane, row,
    col, channel) order (tf.extract_volume_patches; VALID or SAME)."""
    x = convert_to_tensor(input)
    if x.ndim != 5:
        raise errors.InvalidArgumentError(
            f"extract_volume_patches: needs [batch, depth, rows, cols, channels], got "
            f"{list(x.shape)}", errors.user_location())
    return _patches(x, ksizes, strides, [1] * 5, padding, "extract_volume_patches")


def _box_iou(boxes):
    """The IoU of every pair of boxes [n, 4] (y1, x1, y2, x2 in either
    order per axis, as TensorFlow accepts): [n, n]."""
    y1 = minimum(boxes[:, 0], boxes[:, 2])
    y2 = maximum(boxes[:, 0], boxes[:, 2])
    x1 = minimum(boxes[:, 1], boxes[:, 3])
    x2 = maximum(boxes[:, 1], boxes[:, 3])
    area = (y2 - y1) * (x2 - x1)
    col = lambda t: expand_dims(t, 1)
    row = lambda t: expand_dims(t, 0)
    ih = maximum(minimum(col(y2), row(y2)) - maximum(col(y1), row(y1)), 0.0)
    iw = maximum(minimum(col(x2), row(x2)) - maximum(col(x1), row(x1)), 0.0)
    inter = ih * iw
    union = col(area) + row(area) - inter
    return where(greater(union, 0.0), inter / where(greater(union, 0.0), union,
                                                    union * 0.0 + 1.0), union * 0.0)


def _greedy_nms(boxes, scores, max_output_size, iou_threshold, score_threshold, what):
    """(selected [max_output_size] int32 indices padded with 0, how many
    are valid): the highest-scoring box, then the highest of those whose
    IoU with every chosen one is at most iou_threshold, ... (ties to the
    lower index); a fixed loop, so it compiles."""
    from .math_ops import reduce_any
    from .ops import argmax, logical_not
    b = cast(convert_to_tensor(boxes), float32)
    s = cast(convert_to_tensor(scores), float32)
    if b.ndim != 2 or b.shape[1] != 4 or s.ndim != 1 or b.shape[0] != s.shape[0] or \
            None in b.shape:
        raise errors.InvalidArgumentError(
            f"{what}: boxes [n, 4] and scores [n] with a known n, got {list(b.shape)} and "
            f"{list(s.shape)}", errors.user_location())
    n, k = b.shape[0], int(max_output_size)
    overlap = greater(_box_iou(b), float(iou_threshold))
    alive = greater(s, float(score_threshold))
    lowest = constant(-np.inf, float32)
    picked, valid = [], []
    for _ in range(k):
        if n == 0:
            break
        masked = where(alive, s, s * 0.0 + lowest)
        best = argmax(masked, axis=0)
        ok = reduce_any(alive)
        picked.append(cast(best, int32))
        valid.append(cast(ok, int32))
        chosen = cast(equal(constant(np.arange(n), int32), cast(best, int32)), float32)
        suppressed = greater(reduce_sum(cast(overlap, float32) * expand_dims(chosen, 1),
                                        axis=0), 0.0)
        alive = logical_and(logical_and(alive, logical_not(suppressed)),
                            logical_not(greater(chosen, 0.0)))
    if not picked:
        return constant(np.zeros(k, np.int32)), constant(0, int32)
    indices = stack(picked) * stack(valid)
    padded = pad(indices, [[0, k - len(picked)]])
    return padded, reduce_sum(stack(valid))


def non_max_suppression_padded(boxes, scores, max_output_size, iou_threshold=0.5,
                               score_threshold=float("-inf"), pad_to_max_output_size=False,
                               name=None):
    """(selected indices, the number valid): greedy non-maximum suppression
    (tf.image.non_max_suppression_padded for one set of boxes). With
    pad_to_max_output_size the indices are [max_output_size], padded with 0,
    static shapes that compile; without (TensorFlow's default) only the
    valid ones, so their number must be known (eagerly)."""
    indices, count = _greedy_nms(boxes, scores, max_output_size, iou_threshold,
                                 score_threshold, "non_max_suppression_padded")
    if pad_to_max_output_size:
        return indices, count
    from .ops import _known_values
    valid = int(_known_values(count, "non_max_suppression_padded without "
                                     "pad_to_max_output_size=True"))
    return indices[:valid], count


def non_max_suppression(boxes, scores, max_output_size, iou_threshold=0.5,
                        score_threshold=float("-inf"), name=None):
    """The indices of the boxes greedy non-maximum suppression keeps, best
    first (tf.image.non_max_suppression). Their number depends on the
    values, so they must be known (eagerly, or constant while tracing);
    in a compiled function use non_max_suppression_padded."""
    from .ops import _known_values
    indices, count = _greedy_nms(boxes, scores, max_output_size, iou_threshold,
                                 score_threshold, "non_max_suppression")
    valid = int(_known_values(count, "non_max_suppression (use "
                                     "non_max_suppression_padded)"))
    return indices[:valid]


def _soft_nms(boxes, scores, max_output_size, score_threshold, sigma, what):
    """(selected [max_output_size] int32 indices padded with 0, their scores
    padded with 0, how many are valid): Gaussian soft non-maximum
    suppression as TensorFlow's NonMaxSuppressionV5 computes it: the box
    with the highest current score is selected with that score (ties to the
    lower index), every other box's score is multiplied by exp(-0.5 iou^2 /
    sigma) with the selected one, and boxes whose score falls to
    score_threshold or below drop out. A fixed loop, so it compiles."""
    from .math_ops import reduce_any
    from .ops import argmax, exp, logical_not
    b = cast(convert_to_tensor(boxes), float32)
    current = cast(convert_to_tensor(scores), float32)
    if b.ndim != 2 or b.shape[1] != 4 or current.ndim != 1 or \
            b.shape[0] != current.shape[0] or None in b.shape:
        raise errors.InvalidArgumentError(
            f"{what}: boxes [n, 4] and scores [n] with a known n, got {list(b.shape)} and "
            f"{list(current.shape)}", errors.user_location())
    n, k = b.shape[0], int(max_output_size)
    if n == 0 or k == 0:
        return (constant(np.zeros(k, np.int32)), constant(np.zeros(k, np.float32)),
                constant(0, int32))
    iou = _box_iou(b)
    scale = -0.5 / float(sigma)
    threshold = float(score_threshold)
    alive = greater(current, threshold)
    positions = constant(np.arange(n), int32)
    picked, picked_scores, valid = [], [], []
    for _ in range(k):
        masked = where(alive, current, current * 0.0 + constant(-np.inf, float32))
        best = cast(argmax(masked, axis=0), int32)
        ok = reduce_any(alive)
        picked.append(best)
        picked_scores.append(where(ok, gather(current, best), constant(0.0, float32)))
        valid.append(cast(ok, int32))
        overlap = gather(iou, best)                                  # [n]
        current = where(alive, current * exp(scale * overlap * overlap), current)
        alive = logical_and(logical_and(alive, greater(current, threshold)),
                            logical_not(equal(positions, best)))
    ok = stack(valid)
    return stack(picked) * ok, stack(picked_scores), reduce_sum(ok)


def non_max_suppression_with_scores(boxes, scores, max_output_size, iou_threshold=0.5,
                                    score_threshold=float("-inf"), soft_nms_sigma=0.0,
                                    name=None):
    """(selected indices, their scores), best first
    (tf.image.non_max_suppression_with_scores): with soft_nms_sigma 0 the
    greedy suppression of non_max_suppression (the scores as given);
    above 0, Gaussian soft-NMS (Bodla et al.): instead of being dropped,
    each box's score decays by exp(-0.5 iou^2 / soft_nms_sigma) with every
    box selected before it, the selected scores are the decayed ones, and
    iou_threshold plays no part (as in TensorFlow). The number selected
    depends on the values, so they must be known (eagerly)."""
    from .ops import _known_values
    if float(soft_nms_sigma) < 0:
        raise errors.InvalidArgumentError(
            f"non_max_suppression_with_scores: soft_nms_sigma must be >= 0, got "
            f"{soft_nms_sigma}", errors.user_location())
    what = "non_max_suppression_with_scores"
    if float(soft_nms_sigma) == 0.0:
        indices, count = _greedy_nms(boxes, scores, max_output_size, iou_threshold,
                                     score_threshold, what)
        chosen = gather(cast(convert_to_tensor(scores), float32), indices)
    else:
        indices, chosen, count = _soft_nms(boxes, scores, max_output_size, score_threshold,
                                           soft_nms_sigma, what)
    valid = int(_known_values(count, what))
    return indices[:valid], chosen[:valid]


def combined_non_max_suppression(boxes, scores, max_output_size_per_class, max_total_size,
                                 iou_threshold=0.5, score_threshold=float("-inf"),
                                 pad_per_class=False, clip_boxes=True, name=None):
    """Greedy non-maximum suppression per image and class, then the best
    max_total_size detections of each image over all classes, by score
    (tf.image.combined_non_max_suppression): boxes [batch, n, q, 4] (q = 1:
    one box for every class, or one per class), scores [batch, n, classes].
    Returns (boxes [batch, total, 4], scores, classes as floats, each
    padded with 0, and the number valid [batch] int32); pad_per_class caps
    total at max_output_size_per_class * classes; clip_boxes clips the
    coordinates to [0, 1]. Static shapes: it compiles (the batch known)."""
    b = cast(convert_to_tensor(boxes), float32)
    s = cast(convert_to_tensor(scores), float32)
    if b.ndim != 4 or b.shape[-1] != 4 or s.ndim != 3 or None in b.shape or \
            None in s.shape or b.shape[:2] != s.shape[:2] or b.shape[2] not in (1, s.shape[2]):
        raise errors.InvalidArgumentError(
            f"combined_non_max_suppression: boxes [batch, n, 1 or classes, 4] and scores "
            f"[batch, n, classes] with known extents, got {list(b.shape)} and "
            f"{list(s.shape)}", errors.user_location())
    batch, n, classes = s.shape
    per_class, total = int(max_output_size_per_class), int(max_total_size)
    if pad_per_class:
        total = builtins.min(total, per_class * classes)
    lowest = constant(-np.inf, float32)
    out_boxes, out_scores, out_classes, out_valid = [], [], [], []
    for i in range(batch):
        cand_scores, cand_boxes, cand_classes = [], [], []
        for c in range(classes):
            class_boxes = b[i, :, c if b.shape[2] > 1 else 0]              # [n, 4]
            class_scores = s[i, :, c]
            picked, count = _greedy_nms(class_boxes, class_scores, per_class, iou_threshold,
                                        score_threshold, "combined_non_max_suppression")
            valid = less(constant(np.arange(per_class), int32), count)
            cand_scores.append(where(valid, gather(class_scores, picked),
                                     lowest + 0.0 * gather(class_scores, picked)))
            cand_boxes.append(gather(class_boxes, picked))
            cand_classes.append(constant(np.full(per_class, c, np.float32)))
        all_scores = concat(cand_scores, 0)
        best_scores, order = top_k(all_scores, builtins.min(total, per_class * classes))
        kept = greater(best_scores, lowest)
        zero = best_scores * 0.0
        picked_boxes = gather(concat(cand_boxes, 0), order)
        if clip_boxes:
            picked_boxes = minimum(maximum(picked_boxes, 0.0), 1.0)
        width = total - int(best_scores.shape[0])
        out_scores.append(pad(where(kept, best_scores, zero), [[0, width]]))
        out_classes.append(pad(where(kept, gather(concat(cand_classes, 0), order), zero),
                               [[0, width]]))
        out_boxes.append(pad(where(expand_dims(kept, 1), picked_boxes, picked_boxes * 0.0),
                             [[0, width], [0, 0]]))
        out_valid.append(reduce_sum(cast(kept, int32)))
    return stack(out_boxes), stack(out_scores), stack(out_classes), stack(out_valid)


def crop_and_resize(image, boxes, box_indices, crop_size, method="bilinear",
                    extrapolation_value=0.0, name=None):
    """Crops of the images resized to crop_size (tf.image.crop_and_resize):
    boxes [n, 4] of normalized (y1, x1, y2, x2) (y1 > y2 flips the crop),
    box_indices [n] the image of each; positions outside an image read
    extrapolation_value; bilinear or nearest. Returns float32 [n, crop_h,
    crop_w, channels]; differentiable with respect to the images."""
    x = convert_to_tensor(image)
    if x.ndim != 4 or None in x.shape[1:]:
        raise errors.InvalidArgumentError(
            f"crop_and_resize: images [batch, height, width, channels] with known height, "
            f"width and channels, got {list(x.shape)}", errors.user_location())
    if method not in ("bilinear", "nearest"):
        raise errors.InvalidArgumentError(
            f"crop_and_resize: method {method!r} is not 'bilinear' or 'nearest'",
            errors.user_location())
    x = cast(x, float32)
    b = cast(convert_to_tensor(boxes), float32)
    if b.ndim != 2 or b.shape[1] != 4:
        raise errors.InvalidArgumentError(
            f"crop_and_resize: boxes must be [n, 4], got {list(b.shape)}",
            errors.user_location())
    ch, cw = _size(crop_size, "crop_and_resize")
    h, w = x.shape[1], x.shape[2]
    owners = cast(convert_to_tensor(box_indices), int32)
    if owners.ndim != 1 or owners.shape[0] != b.shape[0]:
        raise errors.InvalidArgumentError(
            f"crop_and_resize: box_indices must be [{b.shape[0]}] (one per box), got "
            f"{list(owners.shape)}", errors.user_location())
    crops = gather(x, owners)                                          # [n, h, w, c]

    def positions(lo, hi, size, extent):
        steps = constant(np.arange(size, dtype=np.float32), float32)
        if size > 1:
            at = expand_dims(lo, 1) * (extent - 1) + expand_dims(
                (hi - lo) * (extent - 1) / (size - 1), 1) * steps
        else:
            at = expand_dims(0.5 * (lo + hi) * (extent - 1), 1) + steps * 0.0
        return at                                                    # [n, size]
    ys = positions(b[:, 0], b[:, 2], ch, h)
    xs = positions(b[:, 1], b[:, 3], cw, w)
    inside = logical_and(
        expand_dims(logical_and(greater_equal(ys, 0.0), less_equal(ys, h - 1.0)), 2),
        expand_dims(logical_and(greater_equal(xs, 0.0), less_equal(xs, w - 1.0)), 1))
    grid_y = expand_dims(ys, 2) + expand_dims(xs, 1) * 0.0           # [n, ch, cw]
    grid_x = expand_dims(xs, 1) + expand_dims(ys, 2) * 0.0
    sampled = _sample(crops, grid_y, grid_x, "nearest", 0.0, method)
    fill = constant(float(extrapolation_value), float32)
    return where(expand_dims(inside, -1), sampled, sampled * 0.0 + fill)
from .io import (decode_bmp, decode_gif, decode_image, decode_jpeg, decode_png,  # noqa: E402,F401
                 encode_jpeg, encode_png)
