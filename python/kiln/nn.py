"""kiln.nn: neural-network ops."""

import math

import numpy as np

from . import _dispatch, errors, math_ops, ops
from . import random as _random
from .core import attributes, bind1 as _run1, enum_case, tensor_type, unit
from .ops import (abs, exp, greater, greater_equal, less, logical_and, maximum, minimum,
                  reduce_mean, reshape, sigmoid, stop_gradient, tanh, where)
from .tensor import (Tensor, _OpenExtent, _open_entries, _static_extents,
                     convert_to_tensor)


from .ctc import ctc_loss  # noqa: E402,F401  (tf.nn.ctc_loss)
from .ctc import ctc_beam_search_decoder, ctc_greedy_decoder  # noqa: E402,F401
from .sparse import embedding_lookup_sparse, safe_embedding_lookup_sparse  # noqa: E402,F401
from .sparse import _one_shard, _rows as _sparse_rows  # noqa: E402
from .random import log_uniform_candidate_sampler, uniform_candidate_sampler  # noqa: F401
from .sampled_losses import (compute_accidental_hits, nce_loss,  # noqa: F401
                             sampled_softmax_loss)

top_k = math_ops.top_k  # tf.nn.top_k, the same op
in_top_k = math_ops.in_top_k


def relu(features, name=None):
    return _run1("relu", [convert_to_tensor(features)])


def softmax(logits, axis=-1, name=None):
    return _run1("softmax", [convert_to_tensor(logits)], attributes(axis=int(axis)))


def log_softmax(logits, axis=-1, name=None):
    return _run1("log_softmax", [convert_to_tensor(logits)],
                 attributes(axis=int(axis)))


_CHECKED = attributes(bounds_check=unit())


def sparse_softmax_cross_entropy_with_logits(labels=None, logits=None, name=None):
    """Per example, -log_softmax(logits)[label]. A label outside the classes
    is TensorFlow's InvalidArgumentError naming the line, eagerly and in
    compiled code (checked where the code runs)."""
    return _run1("sparse_softmax_cross_entropy",
                 [convert_to_tensor(logits), convert_to_tensor(labels)],
                 _CHECKED)


def softmax_cross_entropy_with_logits(labels=None, logits=None, axis=-1, name=None):
    logits = convert_to_tensor(logits)
    labels = convert_to_tensor(labels, dtype=logits.dtype)
    return _run1("softmax_cross_entropy", [logits, labels])


def _window(value, name, channels_first=False):
    if isinstance(value, (int, np.integer)):
        return [int(value), int(value)]
    value = list(value)
    if len(value) == 1:
        value = value * 2
    if len(value) == 4:  # TensorFlow's form [1, h, w, 1] (NCHW: [1, 1, h, w])
        value = value[2:4] if channels_first else value[1:3]
    if len(value) != 2:
        raise ValueError(f"{name} must be an int, [h, w] or [1, h, w, 1]")
    return [int(v) for v in value]


def _padding(padding):
    padding = padding.upper()
    if padding not in ("SAME", "VALID"):
        raise ValueError(f"padding must be 'SAME' or 'VALID', got {padding!r}")
    return enum_case("padding", padding)


def conv2d(input, filters, strides=1, padding="VALID", data_format="NHWC", dilations=None,
           name=None):
    """tf.nn.conv2d: `filters` [height, width, in, out]; `padding` 'SAME',
    'VALID' or explicit [[0, 0], [top, bottom], [left, right], [0, 0]]
    ([[0, 0], [0, 0], [top, bottom], [left, right]] for NCHW);
    data_format 'NHWC' or 'NCHW' (strides and dilations of 4 entries in
    that order)."""
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"conv2d: data_format must be 'NHWC' or 'NCHW', got {data_format!r}")
    first = data_format == "NCHW"
    s = _window(strides, "strides", first)
    d = _window(1 if dilations is None else dilations, "dilations", first)
    x = convert_to_tensor(input)
    if first:
        x = ops.transpose(x, [0, 2, 3, 1])
    if not isinstance(padding, str):
        pads = [[int(a), int(b)] for a, b in padding]
        if len(pads) != 4 or pads[0] != [0, 0] or pads[1 if first else 3] != [0, 0] or \
                any(v < 0 for pair in pads for v in pair):
            raise ValueError(
                f"conv2d: explicit padding {padding} must be 4 pairs of non-negative "
                f"amounts, the batch's and the channels' [0, 0] ({data_format})")
        spatial = pads[2:] if first else pads[1:3]
        x = math_ops.pad(x, [[0, 0]] + spatial + [[0, 0]])
        padding = "VALID"
    y = _run1("conv2d", [x, convert_to_tensor(filters, x.dtype)],
              attributes(strides=s, dilations=d, padding=_padding(padding)))
    return ops.transpose(y, [0, 3, 1, 2]) if first else y


def conv2d_transpose(input, filters, output_shape, strides=1, padding="SAME",
                     data_format="NHWC", dilations=None, name=None):
    """The transpose (gradient) of conv2d: `filters` is [height, width,
    output channels, input channels], `output_shape` the NHWC result's
    shape, as tf.nn.conv2d_transpose."""
    if data_format != "NHWC":
        raise errors.UnimplementedError("conv2d_transpose supports NHWC only",
                                        errors.user_location())
    x = convert_to_tensor(input)
    w = convert_to_tensor(filters, x.dtype)
    s = _window(strides, "strides")
    d = _window(1 if dilations is None else dilations, "dilations")
    entries = _static_extents(output_shape, "conv2d_transpose", open_extents=True)
    if len(entries) != 4:
        raise errors.InvalidArgumentError(
            f"conv2d_transpose: output_shape {list(entries)} must be NHWC (4 "
            "extents)", errors.user_location())
    # An open batch (None, or kiln.shape(x)[0] of an open one) is the
    # input's; the other extents are known while tracing.
    batch = entries[0]
    if isinstance(batch, _OpenExtent) and not batch.of(x, 0):
        raise errors.UnimplementedError(
            "conv2d_transpose: the batch of output_shape is an open extent of "
            "another tensor than the input; it must be the input's "
            "(kiln.shape(input)[0]) or None", errors.user_location())
    shape = [None if (i == 0 and (d is None or isinstance(d, _OpenExtent)))
             else d for i, d in enumerate(entries)]
    if any(isinstance(d, _OpenExtent) or d is None for d in shape[1:]):
        raise errors.UnimplementedError(
            f"conv2d_transpose: output_shape {list(entries)} has open spatial or "
            "channel extents; only the batch may be known just when the code "
            "runs", errors.user_location())
    shape = [d if d is None else int(d) for d in shape]
    if shape[0] is None and x.shape[0] is not None:
        shape[0] = x.shape[0]
    return _run1("conv2d_backprop_input", [w, x],
                 attributes(strides=s, dilations=d, padding=_padding(padding)),
                 [tensor_type(shape, x.dtype)])


def conv1d(input, filters, stride=1, padding="VALID", data_format="NWC",
           dilations=None, name=None):
    """A 1-D convolution of [batch, width, channels] inputs with [width,
    in channels, out channels] filters (a conv2d over a height of 1)."""
    if data_format not in ("NWC", None):
        raise errors.UnimplementedError("conv1d supports NWC only",
                                        errors.user_location())
    x = convert_to_tensor(input)
    w = convert_to_tensor(filters, x.dtype)
    stride = _single(stride, "conv1d", "stride")
    dilation = 1 if dilations is None else _single(dilations, "conv1d", "dilations")
    y = conv2d(math_ops.expand_dims(x, 1), math_ops.expand_dims(w, 0),
               strides=[1, stride], padding=padding, dilations=[1, dilation])
    return math_ops.squeeze(y, 1)


def separable_conv2d(input, depthwise_filter, pointwise_filter, strides, padding,
                     data_format=None, dilations=None, name=None):
    """depthwise_conv2d, then a 1x1 conv2d with pointwise_filter [1, 1,
    channels * multiplier, out] (tf.nn.separable_conv2d, NHWC)."""
    y = depthwise_conv2d(input, depthwise_filter, strides, padding, data_format, dilations)
    return conv2d(y, pointwise_filter, 1, "VALID")


def space_to_depth(input, block_size, data_format="NHWC", name=None):
    """Each block_size x block_size block of pixels moved into the channels
    ([b, h, w, c] -> [b, h/bs, w/bs, bs*bs*c], TensorFlow's order)."""
    if data_format != "NHWC":
        raise errors.UnimplementedError("space_to_depth supports NHWC only",
                                        errors.user_location())
    x, n = convert_to_tensor(input), int(block_size)
    b, h, w, c = x.shape
    if h is None or w is None or c is None or h % n or w % n:
        raise errors.InvalidArgumentError(
            f"space_to_depth: height and width of {list(x.shape)} must be known multiples "
            f"of {n}", errors.user_location())
    batch = math_ops.shape(x)[0]
    y = reshape(x, [batch, h // n, n, w // n, n, c])
    y = ops.transpose(y, [0, 1, 3, 2, 4, 5])
    return reshape(y, [batch, h // n, w // n, n * n * c])


def depth_to_space(input, block_size, data_format="NHWC", name=None):
    """The inverse of space_to_depth: channels spread into block_size x
    block_size blocks of pixels (pixel shuffle)."""
    if data_format != "NHWC":
        raise errors.UnimplementedError("depth_to_space supports NHWC only",
                                        errors.user_location())
    x, n = convert_to_tensor(input), int(block_size)
    b, h, w, c = x.shape
    if h is None or w is None or c is None or c % (n * n):
        raise errors.InvalidArgumentError(
            f"depth_to_space: the channels of {list(x.shape)} must be a known multiple "
            f"of {n * n}", errors.user_location())
    batch = math_ops.shape(x)[0]
    y = reshape(x, [batch, h, w, n, n, c // (n * n)])
    y = ops.transpose(y, [0, 1, 3, 2, 4, 5])
    return reshape(y, [batch, h * n, w * n, c // (n * n)])


def crelu(features, axis=-1, name=None):
    """relu of [x, -x] joined along `axis` (twice the channels)."""
    x = convert_to_tensor(features)
    return relu(ops.concat([x, -x], int(axis) % x.ndim))


def log_poisson_loss(targets, log_input, compute_full_loss=False, name=None):
    """exp(log_input) - log_input * targets, plus Stirling's approximation
    of log(targets!) for targets > 1 with compute_full_loss."""
    log_input = convert_to_tensor(log_input)
    targets = convert_to_tensor(targets, log_input.dtype)
    loss = exp(log_input) - log_input * targets
    if compute_full_loss:
        # (TensorFlow's rule: the approximation wherever not 0 <= t <= 1)
        outside = ops.logical_not(ops.logical_and(greater_equal(targets, 0.0),
                                                  ops.less_equal(targets, 1.0)))
        safe = where(outside, targets, math_ops.ones_like(targets))
        stirling = safe * ops.log(safe) - safe + 0.5 * ops.log(2.0 * math.pi * safe)
        loss = loss + where(outside, stirling, math_ops.zeros_like(targets))
    return loss


def local_response_normalization(input, depth_radius=5, bias=1.0, alpha=1.0, beta=0.5,
                                 name=None):
    """x / (bias + alpha * sum of x^2 over the channels within depth_radius)
    ^ beta, as tf.nn.local_response_normalization (NHWC)."""
    x = convert_to_tensor(input)
    r, c = int(depth_radius), x.shape[-1]
    squares = math_ops.pad(x * x, [[0, 0]] * (x.ndim - 1) + [[r, r]])
    window = squares[..., 0:c]
    for k in range(1, 2 * r + 1):
        window = window + squares[..., k:k + c]
    return x / ops.pow(float(bias) + float(alpha) * window, float(beta))


def depthwise_conv2d(input, filter, strides, padding, data_format=None,
                     dilations=None, name=None):
    """Each input channel convolved with its own [height, width, 1,
    multiplier] filters (filter [h, w, channels, multiplier]); the outputs
    of channel c are channels c * multiplier ... of the result, as
    tf.nn.depthwise_conv2d (NHWC).

    Computed as a sum over the filter's taps of a strided view of the
    (padded) input times that tap's weights: h * w elementwise products
    that the compiler fuses, instead of a matrix product per channel. Its
    gradient (autodiff's) is a pad of the output gradient per tap for the
    input and one reduction per tap for the filter."""
    if data_format not in (None, "NHWC"):
        raise errors.UnimplementedError("depthwise_conv2d supports NHWC only",
                                        errors.user_location())
    x = convert_to_tensor(input)
    w = convert_to_tensor(filter, x.dtype)
    s = _window(strides, "strides")
    d = _window(1 if dilations is None else dilations, "dilations")
    if x.ndim != 4 or w.ndim != 4:
        raise errors.InvalidArgumentError(
            f"depthwise_conv2d: input {list(x.shape)} must be NHWC and filter "
            f"{list(w.shape)} [height, width, channels, multiplier]",
            errors.user_location())
    if x.shape[-1] != w.shape[2]:
        raise errors.InvalidArgumentError(
            f"depthwise_conv2d: {x.shape[-1]} input channels but the filter has "
            f"{w.shape[2]}", errors.user_location())
    _padding(padding)  # (a ValueError for anything but SAME and VALID)
    mode = padding.upper()
    # (An open batch stays open: the taps are slices and products of it.)
    height, width, channels = (math_ops._known_extent(x, a, "depthwise_conv2d")
                               for a in (1, 2, 3))
    kh, kw, _, multiplier = (int(v) for v in w.shape)
    span = [(kh - 1) * d[0] + 1, (kw - 1) * d[1] + 1]  # the dilated window
    if mode == "SAME":
        out = [-(-height // s[0]), -(-width // s[1])]
        pads = [max((o - 1) * st + sp - e, 0)
                for o, st, sp, e in zip(out, s, span, (height, width))]
    else:
        out = [(e - sp) // st + 1 for e, sp, st in zip((height, width), span, s)]
        if min(out) <= 0:
            raise errors.InvalidArgumentError(
                f"depthwise_conv2d: a {span[0]}x{span[1]} (dilated) window does "
                f"not fit a {height}x{width} input with VALID padding",
                errors.user_location())
        pads = [0, 0]
    if any(pads):
        x = math_ops.pad(x, [[0, 0], [pads[0] // 2, pads[0] - pads[0] // 2],
                             [pads[1] // 2, pads[1] - pads[1] // 2], [0, 0]])
    total = None
    for i in range(kh):
        for j in range(kw):
            top, left = i * d[0], j * d[1]
            view = x[:, top:top + (out[0] - 1) * s[0] + 1:s[0],
                     left:left + (out[1] - 1) * s[1] + 1:s[1], :]
            tap = w[i, j]                                   # [channels, multiplier]
            if multiplier == 1:
                term = view * ops.reshape(tap, [channels])
            else:
                term = ops.reshape(view, [-1, out[0], out[1], channels, 1]) * tap
            total = term if total is None else total + term
    return ops.reshape(total, [-1, out[0], out[1], channels * multiplier])


def _pool(op):
    def apply(input, ksize, strides, padding="VALID", name=None):
        k, s = _window(ksize, "ksize"), _window(strides, "strides")
        return _run1(op, [convert_to_tensor(input)],
                     attributes(window=k, strides=s, padding=_padding(padding)))
    apply.__name__ = op
    return apply


max_pool2d = _pool("max_pool2d")
avg_pool2d = _pool("avg_pool2d")


def max_pool_with_argmax(input, ksize, strides, padding, data_format="NHWC",  # noqa: A002
                         output_dtype="int64", include_batch_in_index=False, name=None):
    """tf.nn.max_pool_with_argmax: the max pool of an NHWC batch and, for each
    output, where its maximum is in the input, flattened as (y * width + x)
    * channels + c (plus batch * height * width * channels with
    include_batch_in_index). The first maximum in the window's row-major
    order wins a tie; SAME padding never wins. The pooled values have max
    pooling's gradient, the indices none."""
    if data_format not in (None, "NHWC"):
        raise errors.UnimplementedError("max_pool_with_argmax supports NHWC only",
                                        errors.user_location())
    from . import dtypes as _dtypes
    index_dtype = _dtypes.as_dtype(output_dtype)
    if index_dtype not in (_dtypes.int32, _dtypes.int64):
        raise errors.InvalidArgumentError(
            f"max_pool_with_argmax: output_dtype must be int32 or int64, got "
            f"{index_dtype.name}", errors.user_location())
    x = convert_to_tensor(input)
    if x.ndim != 4:
        raise errors.InvalidArgumentError(
            f"max_pool_with_argmax: needs [batch, height, width, channels], got "
            f"{list(x.shape)}", errors.user_location())
    k, s = _window(ksize, "ksize"), _window(strides, "strides")
    _padding(padding)
    height, width, channels = (math_ops._known_extent(x, a, "max_pool_with_argmax")
                               for a in (1, 2, 3))
    if padding.upper() == "SAME":
        out = [-(-height // s[0]), -(-width // s[1])]
        pads = [max((o - 1) * st + kk - e, 0)
                for o, st, kk, e in zip(out, s, k, (height, width))]
    else:
        out = [(e - kk) // st + 1 for e, kk, st in zip((height, width), k, s)]
        pads = [0, 0]
        if min(out) <= 0:
            raise errors.InvalidArgumentError(
                f"max_pool_with_argmax: a {k[0]}x{k[1]} window does not fit a "
                f"{height}x{width} input with VALID padding", errors.user_location())
    top, left = pads[0] // 2, pads[1] // 2
    padded = x
    if any(pads):   # (with the lowest value: padding is never the maximum)
        lowest = float("-inf") if x.dtype.is_floating else int(np.iinfo(
            x.dtype.as_numpy_dtype).min)
        padded = math_ops.pad(x, [[0, 0], [top, pads[0] - top], [left, pads[1] - left], [0, 0]],
                              constant_values=lowest)
    rows, cols = np.arange(out[0]) * s[0], np.arange(out[1]) * s[1]
    best = where_best = None
    # Whether an output's window has met a tap inside the image yet: the
    # first one is taken whatever its value (TensorFlow's kernel starts
    # there), so an index never points into the padding, even for -inf,
    # NaN or the integer minimum.
    seen = np.zeros((out[0], out[1]), bool)
    for i in range(k[0]):
        for j in range(k[1]):
            view = padded[:, i:i + (out[0] - 1) * s[0] + 1:s[0],
                          j:j + (out[1] - 1) * s[1] + 1:s[1], :]
            # Where this tap reads, as a flat index of the unpadded input.
            y, xx = rows + i - top, cols + j - left
            flat = ((y[:, None, None] * width + xx[None, :, None]) * channels
                    + np.arange(channels)[None, None, :])
            at = convert_to_tensor(flat[None].astype(np.int64))
            inside = ((y >= 0) & (y < height))[:, None] & ((xx >= 0) & (xx < width))[None, :]
            first = inside & ~seen
            seen |= inside
            if best is None:
                best, where_best = view, at + math_ops.zeros_like(ops.cast(view, "int64"))
            else:
                better = greater(view, best)
                if first.any():
                    better = ops.logical_or(better, convert_to_tensor(
                        np.broadcast_to(first[None, :, :, None], (1, *out, channels))))
                best = where(better, view, best)
                where_best = where(better, at, where_best)
    if include_batch_in_index:
        # (each example's position in the batch, which may be open)
        example = math_ops._positions(x[:, :1, :1, :1], 0, _dtypes.int64)
        where_best = where_best + example * (height * width * channels)
    # (floats: max pooling itself, with its gradient; integers have none)
    pooled = max_pool2d(x, k, s, padding) if x.dtype.is_floating else best
    return pooled, ops.stop_gradient(ops.cast(where_best, index_dtype))


def _single(value, what, name):
    """A 1-D window or stride: an int, [v] or TensorFlow's [1, v, 1]."""
    if isinstance(value, int):
        return value
    value = [int(v) for v in value]
    if len(value) == 3 and value[0] == value[2] == 1:
        return value[1]
    if len(value) == 1:
        return value[0]
    raise ValueError(f"{what}: {name} must be an int, [v] or [1, v, 1], got {value}")


def _channels_last(data_format, what, accepted):
    if data_format not in (None,) + accepted:
        raise errors.UnimplementedError(
            f"{what}: data_format {data_format!r} (Kiln pools channels-last "
            f"inputs: {' or '.join(accepted)})", errors.user_location())


def _pool1d(pool2d, what):
    def apply(input, ksize, strides, padding="VALID", data_format="NWC", name=None):
        _channels_last(data_format, what, ("NWC",))
        x = convert_to_tensor(input)
        if x.ndim != 3:
            raise errors.InvalidArgumentError(
                f"{what}: the input must be [batch, width, channels], got "
                f"{list(x.shape)}", errors.user_location())
        k, s = _single(ksize, what, "ksize"), _single(strides, what, "strides")
        y = pool2d(math_ops.expand_dims(x, 1), [1, k], [1, s], padding)
        return math_ops.squeeze(y, 1)
    apply.__name__ = what
    apply.__doc__ = (f"tf.nn.{what} over [batch, width, channels] inputs: the 2-D "
                     "pooling of the rows as images of height 1.")
    return apply


max_pool1d = _pool1d(max_pool2d, "max_pool1d")
avg_pool1d = _pool1d(avg_pool2d, "avg_pool1d")


def _pool_by_rank(pool1d, pool2d, what):
    def apply(input, ksize, strides, padding, data_format=None, name=None):
        _channels_last(data_format, what, ("NWC", "NHWC"))
        rank = convert_to_tensor(input).ndim
        if rank not in (3, 4):
            raise errors.UnimplementedError(
                f"{what}: inputs of rank {rank} (Kiln pools rank 3 and 4)",
                errors.user_location())
        return (pool1d if rank == 3 else pool2d)(input, ksize, strides, padding)
    apply.__name__ = what
    apply.__doc__ = f"tf.nn.{what}: 1-D or 2-D pooling by the input's rank."
    return apply


max_pool = _pool_by_rank(max_pool1d, max_pool2d, "max_pool")
avg_pool = _pool_by_rank(avg_pool1d, avg_pool2d, "avg_pool")


def _triple(value, what, name):
    """A 3-D window, stride or dilation: an int, [d, h, w] or TensorFlow's
    [1, d, h, w, 1]."""
    if isinstance(value, (int, np.integer)):
        return [int(value)] * 3
    value = [int(v) for v in value]
    if len(value) == 5 and value[0] == value[4] == 1:
        return value[1:4]
    if len(value) == 3:
        return value
    raise ValueError(f"{what}: {name} must be an int, [d, h, w] or [1, d, h, w, 1], "
                     f"got {value}")


def _depth_slabs(x, window, stride, dilation, padding, fill, what):
    """The depth positions a 3-D window reads, as `window` slabs of x
    [batch, depth, h, w, c]: slab i holds, for each output depth o, the
    input depth o * stride + i * dilation (the depth padded with `fill`
    for SAME, TensorFlow's split of the padding); and the output depth."""
    depth = x.shape[1]
    if depth is None or None in x.shape[2:]:
        raise errors.UnimplementedError(
            f"{what}: the depth, height, width and channels of {list(x.shape)} must be "
            "known while tracing", errors.user_location())
    span = (window - 1) * dilation + 1
    if padding == "SAME":
        out = -(-depth // stride)
        total = max((out - 1) * stride + span - depth, 0)
        before = total // 2
        if total:
            x = math_ops.pad(x, [[0, 0], [before, total - before], [0, 0], [0, 0], [0, 0]],
                             constant_values=fill)
    else:
        out = (depth - span) // stride + 1
        before = 0
        if out <= 0:
            raise errors.InvalidArgumentError(
                f"{what}: a window of depth {span} does not fit an input of depth {depth}",
                errors.user_location())
    slabs = [x[:, i * dilation:i * dilation + (out - 1) * stride + 1:stride]
             for i in range(window)]
    return slabs, out, before


def _fold_depth(slab):
    """[b, d, h, w, c] as [b * d, h, w, c]."""
    return reshape(slab, [-1] + list(slab.shape[2:]))


def _unfold_depth(y, depth):
    """[b * d, h, w, c] back to [b, d, h, w, c]."""
    return reshape(y, [-1, depth] + list(y.shape[1:]))


def conv3d(input, filters, strides, padding, data_format="NDHWC", dilations=None,
           name=None):
    """A 3-D convolution of [batch, depth, height, width, channels] inputs
    with [d, h, w, in, out] filters (tf.nn.conv3d, NDHWC): a sum over the
    filter's depth taps of 2-D convolutions of the depth slabs they read
    (the slabs folded into the batch), so it is differentiable and compiles
    with an open batch."""
    if data_format not in ("NDHWC", None):
        raise errors.UnimplementedError("conv3d supports NDHWC only",
                                        errors.user_location())
    x = convert_to_tensor(input)
    w = convert_to_tensor(filters, x.dtype)
    if x.ndim != 5 or w.ndim != 5:
        raise errors.InvalidArgumentError(
            f"conv3d: needs [b, d, h, w, c] inputs and [d, h, w, in, out] filters, got "
            f"{list(x.shape)} and {list(w.shape)}", errors.user_location())
    s = _triple(strides, "conv3d", "strides")
    d = _triple(1 if dilations is None else dilations, "conv3d", "dilations")
    _padding(padding)  # (SAME or VALID)
    padding = padding.upper()
    slabs, depth, _ = _depth_slabs(x, w.shape[0], s[0], d[0], padding, 0.0, "conv3d")
    total = None
    for i, slab in enumerate(slabs):
        y = conv2d(_fold_depth(slab), w[i], s[1:], padding, dilations=d[1:])
        total = y if total is None else total + y
    return _unfold_depth(total, depth)


def conv3d_transpose(input, filters, output_shape, strides, padding="SAME",
                     data_format="NDHWC", dilations=None, name=None):
    """The transpose (gradient) of conv3d (tf.nn.conv3d_transpose, NDHWC):
    filters [d, h, w, output channels, input channels], output_shape the
    result's [batch, depth, height, width, channels] (the batch may be
    None). Each depth tap's 2-D transposed convolution of the input (its
    depth folded into the batch) lands on the depths that tap reads in the
    forward convolution: every stride-th one, shifted by the tap's offset
    less TensorFlow's SAME padding."""
    _channels_last(data_format, "conv3d_transpose", ("NDHWC",))
    x = convert_to_tensor(input)
    w = convert_to_tensor(filters, x.dtype)
    where = errors.user_location()
    if x.ndim != 5 or w.ndim != 5:
        raise errors.InvalidArgumentError(
            f"conv3d_transpose: needs [b, d, h, w, c] inputs and [d, h, w, out, in] filters, "
            f"got {list(x.shape)} and {list(w.shape)}", where)
    entries = list(_static_extents(output_shape, "conv3d_transpose", open_extents=True))
    if len(entries) != 5:
        raise errors.InvalidArgumentError(
            f"conv3d_transpose: output_shape {entries} must be [batch, depth, height, width, "
            "channels]", where)
    if any(isinstance(e, _OpenExtent) or e is None for e in entries[1:]) or \
            None in x.shape[1:]:
        raise errors.UnimplementedError(
            f"conv3d_transpose: only the batch may be open (output_shape {entries}, input "
            f"{list(x.shape)})", where)
    depth, height, width, channels = (int(e) for e in entries[1:])
    if w.shape[3] != channels or w.shape[4] != x.shape[4]:
        raise errors.InvalidArgumentError(
            f"conv3d_transpose: filters {list(w.shape)} must be [d, h, w, {channels}, "
            f"{x.shape[4]}] for {channels} output and {x.shape[4]} input channels", where)
    s = _triple(strides, "conv3d_transpose", "strides")
    d = _triple(1 if dilations is None else dilations, "conv3d_transpose", "dilations")
    _padding(padding)
    padding = padding.upper()
    span = (w.shape[0] - 1) * d[0] + 1
    steps = x.shape[1]
    # The forward convolution of an input of this depth must give the
    # input's depth, as TensorFlow checks.
    forward = -(-depth // s[0]) if padding == "SAME" else (depth - span) // s[0] + 1
    if forward != steps:
        raise errors.InvalidArgumentError(
            f"conv3d_transpose: a convolution of depth {depth} ({padding}, stride {s[0]}, "
            f"window {span}) gives depth {forward}, not the input's {steps}", where)
    before = max((steps - 1) * s[0] + span - depth, 0) // 2 if padding == "SAME" else 0
    folded = _fold_depth(x)
    total = None
    for i in range(w.shape[0]):
        spread = _unfold_depth(conv2d_transpose(folded, w[i], [None, height, width, channels],
                                                s[1:], padding, dilations=d[1:]), steps)
        placed = _place_depth(spread, s[0], i * d[0] - before, depth)
        if placed is not None:
            total = placed if total is None else total + placed
    # (Some tap always lands: every forward window reads the input.)
    return total


def _place_depth(y, stride, offset, depth):
    """y [b, n, h, w, c] at depths offset, offset + stride, ... of a [b,
    depth, h, w, c] tensor (zeros elsewhere; what falls outside is
    dropped), or None when nothing falls inside."""
    n = y.shape[1]
    if stride > 1:  # every stride-th depth: the others zeros
        y = ops.stack([y] + [math_ops.zeros_like(y)] * (stride - 1), axis=2)
        y = reshape(y, [-1, n * stride] + list(y.shape[3:]))
    start, front = max(-offset, 0), max(offset, 0)
    keep = min(y.shape[1] - start, depth - front)
    if keep <= 0:
        return None
    y = y[:, start:start + keep]
    back = depth - front - keep
    if front or back:
        y = math_ops.pad(y, [[0, 0], [front, back], [0, 0], [0, 0], [0, 0]])
    return y


def _pool3d(what, pool2d, combine, fill):
    def apply(input, ksize, strides, padding="VALID", data_format="NDHWC", name=None):
        _channels_last(data_format, what, ("NDHWC",))
        x = convert_to_tensor(input)
        if x.ndim != 5:
            raise errors.InvalidArgumentError(
                f"{what}: the input must be [batch, depth, height, width, channels], got "
                f"{list(x.shape)}", errors.user_location())
        k, st = _triple(ksize, what, "ksize"), _triple(strides, what, "strides")
        pad = padding.upper()
        _padding(padding)
        slabs, depth, before = _depth_slabs(x, k[0], st[0], 1, pad, fill, what)
        pooled = [_unfold_depth(pool2d(_fold_depth(slab), k[1:], st[1:], pad), depth)
                  for slab in slabs]
        return combine(pooled, x.shape[1], k[0], st[0], before, depth)
    apply.__name__ = what
    return apply


def _max_of(pooled, *unused):
    out = pooled[0]
    for p in pooled[1:]:
        out = maximum(out, p)
    return out


def _mean_of(pooled, depth, window, stride, before, out_depth):
    """The mean over the depth taps that lie inside the input (TensorFlow's
    average pooling leaves padding out of the count)."""
    total = pooled[0]
    for p in pooled[1:]:
        total = total + p
    starts = np.arange(out_depth) * stride - before
    counts = np.minimum(starts + window, depth) - np.maximum(starts, 0)
    scale = (1.0 / counts).reshape(1, -1, 1, 1, 1)
    return total * convert_to_tensor(scale, total.dtype)


max_pool3d = _pool3d("max_pool3d", max_pool2d, _max_of, float("-inf"))
avg_pool3d = _pool3d("avg_pool3d", avg_pool2d, _mean_of, 0.0)


def embedding_lookup(params, ids, max_norm=None, name=None):
    """Rows of `params` at `ids` (tf.nn.embedding_lookup: a gather; ids
    out of range are an InvalidArgumentError)."""
    return _sparse_rows(_one_shard(params, "embedding_lookup"), ids, max_norm)


# --- Activations, losses and normalization (composites of Kiln ops) ---------

def relu6(features, name=None):
    """min(max(x, 0), 6); its gradient is 0 at 0 and at 6, as TensorFlow's
    (the ties of max and min would pass it on)."""
    x = convert_to_tensor(features)
    if not x.dtype.is_floating:
        return minimum(maximum(x, 0), 6)
    inside = logical_and(greater(x, 0.0), less(x, 6.0))
    return where(inside, x, stop_gradient(minimum(maximum(x, 0.0), 6.0)))


def leaky_relu(features, alpha=0.2, name=None):
    x = convert_to_tensor(features)
    return where(greater(x, 0.0), x, x * float(alpha))


def elu(features, name=None):
    x = convert_to_tensor(features)
    return where(greater(x, 0.0), x, math_ops.expm1(minimum(x, 0.0)))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(features, name=None):
    x = convert_to_tensor(features)
    return _SELU_SCALE * where(greater(x, 0.0), x,
                               _SELU_ALPHA * math_ops.expm1(minimum(x, 0.0)))


def silu(features, beta=1.0, name=None):
    """x * sigmoid(beta * x) (swish)."""
    x = convert_to_tensor(features)
    return x * sigmoid(x * float(beta))


swish = silu


def gelu(features, approximate=False, name=None):
    """x * P(X <= x) for a standard normal X: 0.5 x erfc(-x / sqrt(2)), the
    same as 0.5 x (1 + erf(x / sqrt(2))) but without its cancellation for
    x below -5 (gelu(-10) is -7.6e-23, not 0); approximate=True uses the
    tanh formula."""
    x = convert_to_tensor(features)
    if not approximate:
        return 0.5 * x * math_ops.erfc(x * (-1.0 / math.sqrt(2.0)))
    c = math.sqrt(2.0 / math.pi)
    return 0.5 * x * (1.0 + tanh(c * (x + 0.044715 * x * x * x)))


def sigmoid_cross_entropy_with_logits(labels=None, logits=None, name=None):
    """Per element, -z log(sigmoid(x)) - (1 - z) log(1 - sigmoid(x)) for
    labels z and logits x, computed as TensorFlow does:
    max(x, 0) - x z + log(1 + exp(-|x|))."""
    x = convert_to_tensor(logits)
    z = convert_to_tensor(labels, x.dtype)
    if z.shape != x.shape:
        raise errors.InvalidArgumentError(
            f"sigmoid_cross_entropy_with_logits: labels {list(z.shape)} and "
            f"logits {list(x.shape)} must have the same shape",
            errors.user_location())
    return maximum(x, 0.0) - x * z + math_ops.log1p(exp(-abs(x)))


def weighted_cross_entropy_with_logits(labels, logits, pos_weight, name=None):
    """sigmoid_cross_entropy_with_logits with the positive term weighted by
    `pos_weight` (tf.nn.weighted_cross_entropy_with_logits), computed as
    TensorFlow does: (1 - z) x + (1 + (q - 1) z) (log(1 + exp(-|x|)) +
    max(-x, 0))."""
    x = convert_to_tensor(logits)
    z = convert_to_tensor(labels, x.dtype)
    q = convert_to_tensor(pos_weight, x.dtype)
    log_weight = 1.0 + (q - 1.0) * z
    return (1.0 - z) * x + log_weight * (math_ops.log1p(exp(-abs(x))) + maximum(-x, 0.0))


def l2_loss(t, name=None):
    """sum(t ** 2) / 2 (tf.nn.l2_loss)."""
    t = convert_to_tensor(t)
    return ops.reduce_sum(t * t) / 2.0


def compute_average_loss(per_example_loss, sample_weight=None, global_batch_size=None):
    """The sum of the (weighted) per-example losses over the global batch
    size (tf.nn.compute_average_loss). Without `global_batch_size`, this
    process's batch: Kiln's data parallelism averages gradients over the
    processes (kiln.distribute.DistributedOptimizer), as TensorFlow with
    one replica per process."""
    loss = convert_to_tensor(per_example_loss)
    if loss.ndim < 1:
        raise errors.InvalidArgumentError(
            "compute_average_loss: per_example_loss must have rank >= 1 (one "
            "loss per example), got a scalar", errors.user_location())
    if isinstance(global_batch_size, (float, bool)) or (
            isinstance(global_batch_size, (int, np.integer)) and global_batch_size <= 0):
        raise ValueError("compute_average_loss: global_batch_size must be a positive "
                         f"integer, got {global_batch_size!r}")
    if sample_weight is not None:
        loss = loss * convert_to_tensor(sample_weight, loss.dtype)
    if global_batch_size is None:
        n = loss.shape[0]
        global_batch_size = n if n is not None else math_ops.shape(loss)[0]
    if isinstance(global_batch_size, Tensor):  # (TensorFlow takes a tensor too)
        global_batch_size = ops.cast(global_batch_size, loss.dtype)
    return ops.reduce_sum(loss) / global_batch_size


def moments(x, axes, shift=None, keepdims=False, name=None):
    """(mean, variance) of x over `axes`, as tf.nn.moments (the variance's
    gradient does not flow through the mean, which does not change it)."""
    x = convert_to_tensor(x)
    mean = reduce_mean(x, axes, keepdims=True)
    variance = reduce_mean(math_ops.squared_difference(x, stop_gradient(mean)),
                           axes, keepdims=True)
    if not keepdims:
        mean = math_ops._drop_axes(mean, x, axes)
        variance = math_ops._drop_axes(variance, x, axes)
    return mean, variance


def normalize_moments(counts, mean_ss, variance_ss, shift, name=None):
    """(mean, variance) from sufficient statistics: counts, the sum and the
    sum of squares (of x - shift when shift is not None)."""
    divisor = 1.0 / convert_to_tensor(counts)
    shifted_mean = mean_ss * divisor
    mean = shifted_mean if shift is None else shifted_mean + shift
    variance = variance_ss * divisor - shifted_mean * shifted_mean
    return mean, variance


def sufficient_statistics(x, axes, shift=None, keepdims=None, name=None, keep_dims=None):
    """(count, sum, sum of squares, shift) of x over `axes` (of x - shift
    when shift is given), as tf.nn.sufficient_statistics (`keepdims`, or
    TF1's `keep_dims`); the count is read when the code runs for open
    extents."""
    x = convert_to_tensor(x)
    keep = bool(keepdims if keepdims is not None else keep_dims)
    axes = [int(a) % x.ndim for a in axes]
    if any(x.shape[a] is None for a in axes):
        count = None
        for a in axes:
            extent = ops.cast(math_ops.shape(x)[a], x.dtype)
            count = extent if count is None else count * extent
    else:
        count = convert_to_tensor(float(np.prod([x.shape[a] for a in axes])), x.dtype)
    y = x if shift is None else x - shift
    return (count, ops.reduce_sum(y, axes, keepdims=keep),
            ops.reduce_sum(y * y, axes, keepdims=keep), shift)


def weighted_moments(x, axes, frequency_weights, keepdims=False, name=None):
    """(mean, variance) of x over `axes`, each element counted with its
    weight (broadcast to x), as tf.nn.weighted_moments."""
    x = convert_to_tensor(x)
    w = convert_to_tensor(frequency_weights, x.dtype) * math_ops.ones_like(x)
    total = ops.reduce_sum(w, axes, keepdims=True)
    mean = ops.reduce_sum(w * x, axes, keepdims=True) / total
    variance = ops.reduce_sum(w * math_ops.squared_difference(x, mean), axes,
                              keepdims=True) / total
    if not keepdims:
        mean = math_ops._drop_axes(mean, x, axes)
        variance = math_ops._drop_axes(variance, x, axes)
    return mean, variance


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon,
                        name=None):
    """(x - mean) * scale / sqrt(variance + epsilon) + offset (offset and
    scale may be None)."""
    x = convert_to_tensor(x)
    inv = math_ops.rsqrt(convert_to_tensor(variance, x.dtype) + float(variance_epsilon))
    if scale is not None:
        inv = inv * convert_to_tensor(scale, x.dtype)
    shift = -convert_to_tensor(mean, x.dtype) * inv
    if offset is not None:
        shift = shift + convert_to_tensor(offset, x.dtype)
    return x * inv + shift


def bias_add(value, bias, data_format=None, name=None):
    """value + bias along the channel dimension: the last (NHWC and the
    like), or dimension 1 for data_format "NCHW"/"NCW"/"NCDHW"."""
    x = convert_to_tensor(value)
    b = convert_to_tensor(bias, x.dtype)
    if b.ndim != 1:
        raise errors.InvalidArgumentError(
            f"bias_add: the bias must be 1-D, got shape {list(b.shape)}",
            errors.user_location())
    channels_first = data_format is not None and data_format.startswith("NC")
    axis = 1 if channels_first else x.ndim - 1
    if x.ndim < 2 or x.shape[axis] != b.shape[0]:
        raise errors.InvalidArgumentError(
            f"bias_add: a bias of {b.shape[0]} for a value of shape "
            f"{list(x.shape)} (channels on dimension {axis})",
            errors.user_location())
    if channels_first:
        b = reshape(b, [b.shape[0]] + [1] * (x.ndim - 2))
    return x + b


def dropout(x, rate, noise_shape=None, seed=None, name=None):
    """Zeros each element with probability `rate` and scales the rest by
    1 / (1 - rate) (the expected value is unchanged), as tf.nn.dropout."""
    x = convert_to_tensor(x)
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise errors.InvalidArgumentError(
            f"dropout: rate must be in [0, 1), got {rate}", errors.user_location())
    if rate == 0.0:
        return x
    entries = _open_entries(x)
    if noise_shape is not None:
        noise_shape = list(noise_shape)
        if len(noise_shape) != x.ndim:
            raise errors.InvalidArgumentError(
                f"dropout: noise_shape {noise_shape} does not have the rank of x, "
                f"{list(x.shape)}", errors.user_location())
        entries = [e if d is None else int(d) for e, d in zip(entries, noise_shape)]
    keep = greater_equal(_random.uniform(entries, dtype=x.dtype, seed=seed), rate)
    return where(keep, x * (1.0 / (1.0 - rate)), 0.0)


l2_normalize = math_ops.l2_normalize
softplus = math_ops.softplus
softsign = math_ops.softsign
log_sigmoid = math_ops.log_sigmoid


def atrous_conv2d(value, filters, rate, padding, name=None):
    """conv2d with holes: the filter taps `rate` pixels apart
    (tf.nn.atrous_conv2d; conv2d with dilations=rate)."""
    return conv2d(value, filters, strides=1, padding=padding, dilations=int(rate))


def convolution(input, filters, strides=None, padding="VALID", data_format=None,
                dilations=None, name=None):
    """tf.nn.convolution: conv1d, conv2d or conv3d by the input's rank
    (channels last)."""
    x = convert_to_tensor(input)
    if data_format not in (None, "NWC", "NHWC", "NDHWC"):
        raise errors.UnimplementedError(
            f"convolution: only channels-last layouts, got {data_format}",
            errors.user_location())
    strides = 1 if strides is None else strides
    dilations = 1 if dilations is None else dilations
    if x.ndim == 3:
        return conv1d(x, filters, stride=strides, padding=padding, dilations=dilations)
    if x.ndim == 4:
        return conv2d(x, filters, strides=strides, padding=padding, dilations=dilations)
    if x.ndim == 5:
        return conv3d(x, filters, strides=strides, padding=padding, dilations=dilations)
    raise errors.InvalidArgumentError(
        f"convolution: inputs of rank 3, 4 or 5, got shape {list(x.shape)}",
        errors.user_location())


def conv1d_transpose(input, filters, output_shape, strides, padding="SAME",
                     data_format="NWC", dilations=None, name=None):
    """The transpose (gradient) of conv1d (tf.nn.conv1d_transpose):
    filters [width, output channels, input channels], output_shape [batch,
    width, channels]; conv2d_transpose over a height of 1."""
    if data_format not in ("NWC", None):
        raise errors.UnimplementedError("conv1d_transpose supports NWC only",
                                        errors.user_location())
    x = convert_to_tensor(input)
    entries = _static_extents(output_shape, "conv1d_transpose", open_extents=True)
    if len(entries) != 3:
        raise errors.InvalidArgumentError(
            f"conv1d_transpose: output_shape {list(entries)} must be [batch, width, "
            "channels]", errors.user_location())
    stride = _single(strides, "conv1d_transpose", "strides")
    dilation = 1 if dilations is None else _single(dilations, "conv1d_transpose",
                                                   "dilations")
    y = conv2d_transpose(math_ops.expand_dims(x, 1),
                         math_ops.expand_dims(convert_to_tensor(filters, x.dtype), 0),
                         [entries[0], 1, entries[1], entries[2]], strides=[1, stride],
                         padding=padding, dilations=[1, dilation])
    return math_ops.squeeze(y, [1])


# The ops that RaggedTensor dispatches on (kiln._dispatch).
_dispatch.dispatching(globals(), [
    "relu", "relu6", "leaky_relu", "elu", "selu", "silu", "gelu", "embedding_lookup"],
    "nn.")
