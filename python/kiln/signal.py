"""kiln.signal: the real-valued part of tf.signal.

Window functions (constants computed once, in float64, as TensorFlow defines
them), framing and overlap-add (gathers and segment sums, so
differentiable and compiled), the discrete cosine transforms of types 1-4
(one matrix product with the transform's matrix), the MDCT and its inverse,
the mel filter bank and MFCCs. The Fourier transforms (`stft`, `rfft`,
`fft`, ...) produce complex tensors, which Kiln does not have: they raise
an UnimplementedError that says so.
"""

import numpy as np

from . import errors, math_ops, ops
from .dtypes import as_dtype, float32
from .tensor import constant, convert_to_tensor

__all__ = ["dct", "frame", "hamming_window", "hann_window", "idct", "inverse_mdct",
           "kaiser_bessel_derived_window", "kaiser_window", "linear_to_mel_weight_matrix",
           "mdct", "mfccs_from_log_mel_spectrograms", "overlap_and_add", "vorbis_window",
           "fft", "ifft", "rfft", "irfft", "stft", "inverse_stft"]


def _length(window_length, what):
    n = int(window_length)
    if n < 0:
        raise errors.InvalidArgumentError(f"{what}: window_length must be >= 0, got {n}",
                                          errors.user_location())
    return n


def _window(values, dtype):
    dtype = as_dtype(dtype)
    if not dtype.is_floating:
        raise TypeError(f"window functions make floating-point windows, got {dtype.name}")
    return constant(np.asarray(values, np.float64).astype(dtype.as_numpy_dtype), dtype)


def _raised_cosine(window_length, periodic, a, b, what):
    n = _length(window_length, what)
    if n == 1:
        return np.ones(1)
    # TensorFlow's denominator: N for a periodic window of even length,
    # N - 1 otherwise (an odd periodic window is the symmetric one).
    denominator = n + (1 if periodic and n % 2 == 0 else 0) - 1
    return a - b * np.cos(2 * np.pi * np.arange(n) / denominator)


def hann_window(window_length, periodic=True, dtype=float32, name=None):
    """0.5 - 0.5 cos(2 pi n / D) (tf.signal.hann_window)."""
    return _window(_raised_cosine(window_length, periodic, 0.5, 0.5, "hann_window"), dtype)


def hamming_window(window_length, periodic=True, dtype=float32, name=None):
    """0.54 - 0.46 cos(2 pi n / D) (tf.signal.hamming_window)."""
    return _window(_raised_cosine(window_length, periodic, 0.54, 0.46, "hamming_window"),
                   dtype)


def vorbis_window(window_length, dtype=float32, name=None):
    """sin(pi / 2 sin^2(pi (n + 0.5) / N)), the Vorbis power-complementary
    window (tf.signal.vorbis_window)."""
    n = _length(window_length, "vorbis_window")
    arg = np.arange(n) + 0.5
    return _window(np.sin(np.pi / 2 * np.sin(np.pi / n * arg) ** 2), dtype)


def _i0e(x):
    """exp(-|x|) I0(x) without overflow: NumPy's i0 where it is finite
    (|x| <= 700), else the asymptotic series of e^x / sqrt(2 pi x), whose
    terms are below 1e-18 relative there."""
    x = np.abs(np.asarray(x, np.float64))
    small = x <= 700.0
    out = np.empty_like(x)
    out[small] = np.i0(x[small]) * np.exp(-x[small])
    big = x[~small]
    series = np.ones_like(big)
    term = np.ones_like(big)
    for k in range(1, 12):
        term = term * (2 * k - 1) ** 2 / (8.0 * k * big)
        series = series + term
    out[~small] = series / np.sqrt(2 * np.pi * big)
    return out


def _kaiser(n, beta):
    if n == 1:
        return np.ones(1)
    half = (n - 1) / 2
    arg = np.arange(n) - half
    num = beta * np.sqrt(np.maximum(1 - arg ** 2 / half ** 2, 0.0))
    # I0(num) / I0(beta) through the scaled function, as TensorFlow's i0e
    # ratio: no overflow for large beta.
    return np.exp(num - beta) * _i0e(num) / _i0e(beta)


def kaiser_window(window_length, beta=12.0, dtype=float32, name=None):
    """I0(beta sqrt(1 - (2n / (N - 1) - 1)^2)) / I0(beta), the symmetric
    Kaiser window (tf.signal.kaiser_window)."""
    return _window(_kaiser(_length(window_length, "kaiser_window"), float(beta)), dtype)


def kaiser_bessel_derived_window(window_length, beta=12.0, dtype=float32, name=None):
    """The Kaiser-Bessel-derived window (tf.signal's): the square root of
    the running sum of a Kaiser window of N/2 + 1, mirrored."""
    n = _length(window_length, "kaiser_bessel_derived_window")
    total = np.cumsum(_kaiser(n // 2 + 1, float(beta)))
    half = np.sqrt(total[:-1] / total[-1])
    return _window(np.concatenate([half, half[::-1]]), dtype)


def _last_axis(x, axis, what):
    rank = len(x.shape)
    axis = int(axis)
    if not -rank <= axis < rank:
        raise errors.InvalidArgumentError(
            f"{what}: axis {axis} is out of range for rank {rank}", errors.user_location())
    return axis % rank


def frame(signal, frame_length, frame_step, pad_end=False, pad_value=0, axis=-1, name=None):
    """Frames of `frame_length` samples every `frame_step` along `axis`:
    that axis becomes [frames, frame_length] (tf.signal.frame). Without
    pad_end only whole frames; with it the end is padded with pad_value so
    every sample starts a frame's step."""
    x = convert_to_tensor(signal)
    length_axis = _last_axis(x, axis, "frame")
    n = x.shape[length_axis]
    if n is None:
        raise errors.UnimplementedError("frame: the framed axis must be known while tracing",
                                        errors.user_location())
    frame_length, frame_step = int(frame_length), int(frame_step)
    if frame_length < 1 or frame_step < 1:
        raise errors.InvalidArgumentError(
            f"frame: frame_length and frame_step must be positive, got {frame_length} and "
            f"{frame_step}", errors.user_location())
    if pad_end:
        frames = -(-n // frame_step)
        extra = max(0, frame_length + frame_step * (frames - 1) - n)
        if extra:
            padding = [[0, 0]] * len(x.shape)
            padding[length_axis] = [0, extra]
            x = math_ops.pad(x, padding, constant_values=pad_value)
    else:
        frames = max(0, 1 + (n - frame_length) // frame_step)
    starts = np.arange(frames)[:, None] * frame_step + np.arange(frame_length)[None, :]
    return ops.gather(x, constant(starts.astype(np.int32)), axis=length_axis)


def overlap_and_add(signal, frame_step, name=None):
    """[..., frames, frame_length] frames added into [..., (frames - 1) *
    frame_step + frame_length] samples, frame f starting at f *
    frame_step (tf.signal.overlap_and_add)."""
    x = convert_to_tensor(signal)
    if len(x.shape) < 2 or None in x.shape[-2:]:
        raise errors.InvalidArgumentError(
            f"overlap_and_add: the signal must be [..., frames, frame_length] with both "
            f"known, got {list(x.shape)}", errors.user_location())
    frames, frame_length = x.shape[-2], x.shape[-1]
    step = int(frame_step)
    if step < 1:
        raise errors.InvalidArgumentError(f"overlap_and_add: frame_step must be positive, "
                                          f"got {step}", errors.user_location())
    out = (frames - 1) * step + frame_length if frames else 0
    positions = (np.arange(frames)[:, None] * step + np.arange(frame_length)[None, :])
    lead = list(x.shape[:-2])
    flat = ops.reshape(x, [-1, frames * frame_length]) if lead else \
        ops.reshape(x, [1, frames * frame_length])
    # The sum of every sample landing on each output position: a segment
    # sum over the samples' positions (rows first, so transposed).
    summed = math_ops.unsorted_segment_sum(ops.transpose(flat),
                                           constant(positions.reshape(-1).astype(np.int32)),
                                           out)
    result = ops.transpose(summed)
    return ops.reshape(result, lead + [out]) if lead else ops.reshape(result, [out])


def _dct_matrix(kind, n_in, norm):
    """The [n_in (output), n_in (input)] matrix of a DCT of type `kind`
    (SciPy's and TensorFlow's unnormalized definitions, or orthonormal)."""
    k = np.arange(n_in)[:, None]
    j = np.arange(n_in)[None, :]
    if kind == 1:
        m = 2 * np.cos(np.pi * k * j / (n_in - 1))
        m[:, 0] = 1.0
        m[:, -1] = (-1.0) ** np.arange(n_in)
        return m
    if kind == 2:
        m = 2 * np.cos(np.pi * k * (2 * j + 1) / (2 * n_in))
        if norm == "ortho":
            m *= np.where(k == 0, np.sqrt(1 / (4 * n_in)), np.sqrt(1 / (2 * n_in)))
        return m
    if kind == 3:
        m = 2 * np.cos(np.pi * j * (2 * k + 1) / (2 * n_in))
        m[:, 0] = 1.0
        if norm == "ortho":
            m = m * np.where(j == 0, 1.0, 1 / np.sqrt(2)) / np.sqrt(n_in)
            m[:, 0] = 1 / np.sqrt(n_in)
        return m
    m = 2 * np.cos(np.pi * (2 * j + 1) * (2 * k + 1) / (4 * n_in))
    return m * np.sqrt(1 / (2 * n_in)) if norm == "ortho" else m


def dct(input, type=2, n=None, axis=-1, norm=None, name=None):  # noqa: A002 (TF's names)
    """The discrete cosine transform of type 1, 2, 3 or 4 along the last
    axis (tf.signal.dct, SciPy's definitions): `n` truncates or zero-pads
    the input first; norm None or "ortho" (not for type 1)."""
    x = convert_to_tensor(input)
    if not x.dtype.is_floating:
        raise TypeError(f"dct takes floating-point signals, got {x.dtype.name}")
    if int(axis) != -1:
        raise errors.InvalidArgumentError(f"dct: axis must be -1, got {axis} (as TensorFlow)",
                                          errors.user_location())
    if type not in (1, 2, 3, 4):
        raise errors.InvalidArgumentError(f"dct: type must be 1, 2, 3 or 4, got {type!r}",
                                          errors.user_location())
    if norm not in (None, "ortho"):
        raise errors.InvalidArgumentError(f"dct: norm must be None or 'ortho', got {norm!r}",
                                          errors.user_location())
    if type == 1 and norm == "ortho":
        raise errors.InvalidArgumentError("dct: the type-I DCT has no orthonormal form",
                                          errors.user_location())
    if not x.shape or x.shape[-1] is None:
        raise errors.InvalidArgumentError(
            f"dct: the transformed (last) axis must be known, got {list(x.shape)}",
            errors.user_location())
    length = x.shape[-1]
    if n is not None:
        n = int(n)
        if n < 1:
            raise errors.InvalidArgumentError(f"dct: n must be positive, got {n}",
                                              errors.user_location())
        if n < length:
            x = x[..., :n]
        elif n > length:
            x = math_ops.pad(x, [[0, 0]] * (len(x.shape) - 1) + [[0, n - length]])
        length = n
    if type == 1 and length < 2:
        raise errors.InvalidArgumentError("dct: the type-I DCT needs at least 2 samples",
                                          errors.user_location())
    matrix = _dct_matrix(type, length, norm).T.astype(x.dtype.as_numpy_dtype)
    return math_ops.tensordot(x, constant(matrix, x.dtype), [[len(x.shape) - 1], [0]])


def idct(input, type=2, n=None, axis=-1, norm=None, name=None):  # noqa: A002
    """The inverse DCT as TensorFlow defines it: the DCT of the inverse
    type (2 and 3 swap); a true inverse with norm="ortho", else scaled by
    2N (2(N - 1) for type 1), as SciPy's fftpack."""
    return dct(input, type={1: 1, 2: 3, 3: 2, 4: 4}.get(type, type), n=n, axis=axis,
               norm=norm)


def mdct(signals, frame_length, window_fn=vorbis_window, pad_end=False, norm=None,
         name=None):
    """The modified DCT of frames of `frame_length` (a multiple of 4) every
    frame_length / 2 samples: [..., frames, frame_length / 2]
    (tf.signal.mdct; the window defaults to Vorbis', None is a rectangle
    scaled by 1/sqrt 2)."""
    frame_length = int(frame_length)
    if frame_length % 4:
        raise errors.InvalidArgumentError(
            f"mdct: the frame length must be a multiple of 4, got {frame_length}",
            errors.user_location())
    framed = frame(signals, frame_length, frame_length // 2, pad_end=pad_end)
    if window_fn is not None:
        framed = framed * window_fn(frame_length, dtype=framed.dtype)
    else:
        framed = framed * float(1 / np.sqrt(2))
    q = frame_length // 4
    a, b, c, d = (framed[..., i * q:(i + 1) * q] for i in range(4))
    rearranged = ops.concat([-math_ops.reverse(c, [-1]) - d, a - math_ops.reverse(b, [-1])],
                            axis=-1)
    return dct(rearranged, type=4, norm=norm)


def inverse_mdct(mdcts, window_fn=vorbis_window, norm=None, name=None):
    """Frames rebuilt from their MDCTs, windowed and overlap-added
    (tf.signal.inverse_mdct): with the window mdct used (Vorbis', the
    Kaiser-Bessel-derived one, or None), the original signal away from its
    first and last half frame."""
    x = convert_to_tensor(mdcts)
    if len(x.shape) < 2 or x.shape[-1] is None:
        raise errors.InvalidArgumentError(
            f"inverse_mdct: mdcts must be [..., frames, frame_length / 2], got "
            f"{list(x.shape)}", errors.user_location())
    half = x.shape[-1]
    if half % 2:
        raise errors.InvalidArgumentError(
            f"inverse_mdct: the MDCT length (frame_length / 2) must be even, got {half}",
            errors.user_location())
    if norm is None:
        inner = dct(x, type=4) * (0.5 / half)
    elif norm == "ortho":
        inner = dct(x, type=4, norm="ortho")
    else:
        raise errors.InvalidArgumentError(f"inverse_mdct: norm must be None or 'ortho', got "
                                          f"{norm!r}", errors.user_location())
    first, second = inner[..., :half // 2], inner[..., half // 2:]
    frames = ops.concat([second, -math_ops.reverse(second, [-1]),
                         -math_ops.reverse(first, [-1]), -first], axis=-1)
    if window_fn is not None:
        frames = frames * window_fn(2 * half, dtype=frames.dtype)
    else:
        frames = frames * float(1 / np.sqrt(2))
    return overlap_and_add(frames, half)


def _hertz_to_mel(hertz):
    return 1127.0 * np.log(1.0 + hertz / 700.0)


def linear_to_mel_weight_matrix(num_mel_bins=20, num_spectrogram_bins=129, sample_rate=8000,
                                lower_edge_hertz=125.0, upper_edge_hertz=3800.0,
                                dtype=float32, name=None):
    """[num_spectrogram_bins, num_mel_bins] triangular filters, linear in
    the HTK mel scale (1127 ln(1 + f / 700)), the spectrogram's DC bin left
    out, as tf.signal.linear_to_mel_weight_matrix."""
    num_mel_bins, bins = int(num_mel_bins), int(num_spectrogram_bins)
    sample_rate = float(sample_rate)
    low, high = float(lower_edge_hertz), float(upper_edge_hertz)
    if num_mel_bins <= 0 or bins <= 0 or sample_rate <= 0:
        raise errors.InvalidArgumentError(
            "linear_to_mel_weight_matrix: num_mel_bins, num_spectrogram_bins and "
            "sample_rate must be positive", errors.user_location())
    if not 0 <= low < high or high > sample_rate / 2:
        raise errors.InvalidArgumentError(
            f"linear_to_mel_weight_matrix: need 0 <= lower_edge_hertz < upper_edge_hertz "
            f"<= sample_rate / 2, got {low}, {high} and {sample_rate}",
            errors.user_location())
    mel = _hertz_to_mel(np.linspace(0.0, sample_rate / 2, bins)[1:])[:, None]
    edges = np.linspace(_hertz_to_mel(low), _hertz_to_mel(high), num_mel_bins + 2)
    lower, center, upper = edges[:-2][None, :], edges[1:-1][None, :], edges[2:][None, :]
    weights = np.maximum(0.0, np.minimum((mel - lower) / (center - lower),
                                         (upper - mel) / (upper - center)))
    return _window(np.pad(weights, [[1, 0], [0, 0]]), dtype)


def mfccs_from_log_mel_spectrograms(log_mel_spectrograms, name=None):
    """Mel-frequency cepstral coefficients: the type-II DCT of each log-mel
    spectrum scaled by 1 / sqrt(2 num_mel_bins) (orthonormal except the
    first, as TensorFlow's)."""
    x = convert_to_tensor(log_mel_spectrograms)
    if not x.shape or not x.shape[-1]:
        raise errors.InvalidArgumentError(
            f"mfccs_from_log_mel_spectrograms: num_mel_bins must be known and positive, got "
            f"shape {list(x.shape)}", errors.user_location())
    return dct(x, type=2) * float(1 / np.sqrt(2.0 * x.shape[-1]))


def _complex(what):
    def refuse(*args, **kwargs):
        raise errors.UnimplementedError(
            f"signal.{what}: Fourier transforms give complex tensors, and Kiln has no "
            "complex dtype (the DCTs, MDCT, frame and mel functions are real)",
            errors.user_location())
    refuse.__name__ = what
    return refuse


fft, ifft, rfft, irfft = _complex("fft"), _complex("ifft"), _complex("rfft"), _complex("irfft")
stft, inverse_stft = _complex("stft"), _complex("inverse_stft")
