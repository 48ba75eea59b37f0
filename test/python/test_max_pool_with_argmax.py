"""tf.nn.max_pool_with_argmax against a NumPy loop written from TensorFlow's
definition (flat indices (y * W + x) * C + c, plus the batch's offset with
include_batch_in_index; the first maximum of a window in row-major order;
SAME padding never chosen), its gradient against max pooling's, and the
SegNet-style unpooling it is used for."""

import numpy as np
import pytest

import kiln


def reference(x, k, s, padding, with_batch):
    batch, height, width, channels = x.shape
    if padding == "SAME":
        rows, cols = -(-height // s[0]), -(-width // s[1])
        pad_h = max((rows - 1) * s[0] + k[0] - height, 0)
        pad_w = max((cols - 1) * s[1] + k[1] - width, 0)
    else:
        rows, cols = (height - k[0]) // s[0] + 1, (width - k[1]) // s[1] + 1
        pad_h = pad_w = 0
    top, left = pad_h // 2, pad_w // 2
    values = np.zeros((batch, rows, cols, channels), x.dtype)
    indices = np.zeros((batch, rows, cols, channels), np.int64)
    for b, r, c, ch in np.ndindex(batch, rows, cols, channels):
        best = None
        for i, j in np.ndindex(*k):
            y, z = r * s[0] + i - top, c * s[1] + j - left
            if 0 <= y < height and 0 <= z < width and (best is None or x[b, y, z, ch] > best):
                best = x[b, y, z, ch]
                at = (y * width + z) * channels + ch
                at += b * height * width * channels if with_batch else 0
        values[b, r, c, ch], indices[b, r, c, ch] = best, at
    return values, indices


@pytest.mark.parametrize("shape, k, s, padding", [
    ((2, 5, 7, 3), (2, 2), (2, 2), "VALID"),
    ((2, 5, 7, 3), (3, 3), (2, 2), "SAME"),
    ((1, 6, 6, 2), (3, 2), (1, 2), "SAME"),
])
def test_values_and_indices_match_numpy(shape, k, s, padding):
    rng = np.random.RandomState(0)
    # Negative values (zero padding would win) and a tie for the maximum of
    # the first windows (the first in row-major order wins).
    x = -np.abs(rng.randn(*shape)).astype(np.float32)
    x[0, :3, :3, 0] = 0.5
    for with_batch in (False, True):
        values, indices = kiln.nn.max_pool_with_argmax(
            x, [1, *k, 1], [1, *s, 1], padding, include_batch_in_index=with_batch)
        want_values, want_indices = reference(x, k, s, padding, with_batch)
        np.testing.assert_array_equal(values.numpy(), want_values)
        np.testing.assert_array_equal(indices.numpy(), want_indices)
        assert indices.dtype == kiln.int64
    _, small = kiln.nn.max_pool_with_argmax(x, k, s, padding, output_dtype=kiln.int32)
    assert small.dtype == kiln.int32


def test_padding_is_never_the_maximum():
    # -inf everywhere (nothing beats the padding's -inf): each index is the
    # window's first tap inside the image, as TensorFlow's kernel starts
    # there.
    # (3 x 3 windows, stride 1: one padded row and column before the image)
    x = np.full((1, 4, 4, 1), -np.inf, np.float32)
    _, indices = kiln.nn.max_pool_with_argmax(x, 3, 1, "SAME")
    _, want = reference(x, (3, 3), (1, 1), "SAME", False)
    np.testing.assert_array_equal(indices.numpy(), want)
    x = np.zeros((1, 4, 4, 1), np.uint8)
    _, indices = kiln.nn.max_pool_with_argmax(x, 3, 1, "SAME")
    assert indices.numpy().min() >= 0
    np.testing.assert_array_equal(indices.numpy(), reference(x, (3, 3), (1, 1), "SAME",
                                                             False)[1])


def test_gradient_unpooling_and_open_batch():
    rng = np.random.RandomState(1)
    x = rng.randn(3, 4, 6, 2).astype(np.float32)
    xt = kiln.constant(x)
    with kiln.GradientTape() as tape:
        tape.watch(xt)
        values, indices = kiln.nn.max_pool_with_argmax(xt, 2, 2, "VALID")
        loss = kiln.reduce_sum(values * values)
    with kiln.GradientTape() as tape2:
        tape2.watch(xt)
        pooled = kiln.nn.max_pool2d(xt, 2, 2, "VALID")
        loss2 = kiln.reduce_sum(pooled * pooled)
    np.testing.assert_allclose(tape.gradient(loss, xt).numpy(),
                               tape2.gradient(loss2, xt).numpy(), rtol=1e-6)

    # Unpooling (SegNet): every maximum put back where it came from.
    @kiln.function
    def unpool(images):
        v, at = kiln.nn.max_pool_with_argmax(images, 2, 2, "VALID",
                                             include_batch_in_index=True)
        flat = kiln.scatter_nd(kiln.reshape(at, [-1, 1]), kiln.reshape(v, [-1]),
                               [int(np.prod(images.shape))])
        return kiln.reshape(flat, images.shape)

    values, want_indices = reference(x, (2, 2), (2, 2), "VALID", True)
    want = np.zeros(x.size, np.float32)
    want[want_indices.ravel()] = values.ravel()
    np.testing.assert_array_equal(unpool(x).numpy(), want.reshape(x.shape))

    # Over an open batch, the batch offsets computed when the code runs.
    @kiln.function(input_signature=[kiln.TensorSpec([None, 4, 6, 2], kiln.float32)])
    def pool(images):
        return kiln.nn.max_pool_with_argmax(images, 2, 2, "SAME",
                                            include_batch_in_index=True)

    for batch in (3, 1):
        got_values, got_indices = pool(x[:batch])
        want_values, want_indices = reference(x[:batch], (2, 2), (2, 2), "SAME", True)
        np.testing.assert_array_equal(got_values.numpy(), want_values)
        np.testing.assert_array_equal(got_indices.numpy(), want_indices)


def test_errors_name_the_problem():
    x = np.zeros((1, 4, 4, 1), np.float32)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="output_dtype"):
        kiln.nn.max_pool_with_argmax(x, 2, 2, "VALID", output_dtype=kiln.float32)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="does not fit"):
        kiln.nn.max_pool_with_argmax(x, 5, 1, "VALID")
    with pytest.raises(kiln.errors.UnimplementedError, match="NHWC"):
        kiln.nn.max_pool_with_argmax(x, 2, 2, "VALID", data_format="NCHW")
