"""kiln.signal: tf.signal.

Window functions (constants computed once, in float64, as TensorFlow defines
them), framing and overlap-add (gathers and segment sums, so
differentiable and compiled), the discrete cosine transforms of types 1-4
(one matrix product with the transform's matrix), the MDCT and its inverse,
the mel filter bank and MFCCs. The Fourier transforms (`fft`, `rfft`, their inverses and 2-D/3-D forms,
`stft`, `inverse_stft`) give complex tensors (kiln/complexes.py: pairs of
real parts), computed with matrix products of the parts, so they compile
and differentiate like the rest.
"""

import numpy as np

from . import complexes, errors, math_ops, ops
from .dtypes import as_dtype, float32, float64
from .tensor import constant, convert_to_tensor

__all__ = ["dct", "frame", "hamming_window", "hann_window", "idct", "inverse_mdct",
           "kaiser_bessel_derived_window", "kaiser_window", "linear_to_mel_weight_matrix",
           "mdct", "mfccs_from_log_mel_spectrograms", "overlap_and_add", "vorbis_window",
           "fft", "ifft", "rfft", "irfft", "stft", "inverse_stft", "fft2d", "ifft2d",
           "fft3d", "ifft3d", "rfft2d", "irfft2d", "rfft3d", "irfft3d", "fftshift",
           "ifftshift", "inverse_stft_window_fn"]


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


# ---------------------------------------------------------------------------
# Fourier transforms. A complex tensor is its two real parts (complexes.py),
# so a DFT of length n along the last axis is matrix products of the parts
# with the cosine and sine tables: (re + i im)(C - i S) = (re C + im S) +
# i (im C - re S). Lengths above _DIRECT with a factor n = n1 n2 take the
# four-step (Cooley-Tukey) split: DFTs of n1 points, a twiddle product,
# DFTs of n2 points, a transpose; so the work is n (n1 + n2) per row, not
# n^2. Tables are computed in float64 with k t reduced mod n, then rounded.

_DIRECT = 256
# The largest table (entries) a direct transform builds: a longer length
# without a factor to split it on is an error rather than gigabytes.
_LARGEST_TABLE = 1 << 24


def _tables(rows, cols, n, dtype):
    """cos and sin of 2 pi (r c mod n) / n for r < rows, c < cols."""
    angle = 2 * np.pi * (np.outer(np.arange(rows), np.arange(cols)) % n) / n
    return (constant(np.cos(angle).astype(dtype.as_numpy_dtype)),
            constant(np.sin(angle).astype(dtype.as_numpy_dtype)))


def _lead(x, what):
    """x's extents before the last as a reshape target: all known, or only
    the first open (-1)."""
    lead = list(x.shape[:-1])
    if any(d is None for d in lead[1:]):
        raise errors.InvalidArgumentError(
            f"signal.{what}: only the first extent may be open while tracing, got shape "
            f"{list(x.shape)}", errors.user_location())
    return [-1 if d is None else d for d in lead]


def _rows_matmul(x, matrix, what="fft"):
    """x [..., n] times matrix [n, k] (any leading shape, the first one
    possibly open)."""
    if x.ndim == 2:
        return ops.matmul(x, matrix)
    lead = _lead(x, what)
    out = ops.matmul(ops.reshape(x, [-1, x.shape[-1]]), matrix)
    return ops.reshape(out, lead + [matrix.shape[-1]])


def _factor(n):
    """A factor of n near sqrt(n) (1 for a prime)."""
    for f in range(int(np.sqrt(n)), 1, -1):
        if n % f == 0:
            return f
    return 1


def _dft(re, im, inverse):
    """The unnormalized DFT of re + i im along the last axis (sign + for
    the inverse), as its (re, im) parts."""
    n = re.shape[-1]
    sign = 1.0 if inverse else -1.0
    n1 = _factor(n) if n > _DIRECT else 1
    if n1 == 1:
        if n * n > _LARGEST_TABLE:
            raise errors.InvalidArgumentError(
                f"signal: a transform of {n} points (a prime length) would need a "
                f"{n}x{n} table; pad the signal to a length with factors",
                errors.user_location())
        c, s = _tables(n, n, n, re.dtype)
        # (re + i im)(c + i sign s)
        return (_rows_matmul(re, c) - sign * _rows_matmul(im, s),
                _rows_matmul(im, c) + sign * _rows_matmul(re, s))
    n2 = n // n1
    # x[n2 t1 + t2]: [..., t1, t2]; DFT over t1 (moved last), twiddles, over t2.
    lead = _lead(re, "fft")

    def split(x):
        return ops.transpose(ops.reshape(x, [-1, n1, n2]), [0, 2, 1])  # [b, t2, t1]
    re1, im1 = _dft(split(re), split(im), inverse)                   # [b, t2, k1]
    angle = 2 * np.pi * (np.outer(np.arange(n2), np.arange(n1)) % n) / n
    wc = constant(np.cos(angle).astype(re.dtype.as_numpy_dtype))
    ws = constant((sign * np.sin(angle)).astype(re.dtype.as_numpy_dtype))
    re2, im2 = re1 * wc - im1 * ws, re1 * ws + im1 * wc
    re3, im3 = _dft(ops.transpose(re2, [0, 2, 1]), ops.transpose(im2, [0, 2, 1]),
                    inverse)                                          # [b, k1, k2]

    def join(x):  # X[k1 + n1 k2]
        return ops.reshape(ops.transpose(x, [0, 2, 1]), lead + [n])
    return join(re3), join(im3)


def _complex_input(x, what):
    x = convert_to_tensor(x)
    if not x.dtype.is_complex:
        raise TypeError(f"signal.{what}: takes a complex tensor, got {x.dtype.name}")
    if not x.shape or x.shape[-1] is None:
        raise errors.InvalidArgumentError(
            f"signal.{what}: the transformed axis must be known, got shape {list(x.shape)}",
            errors.user_location())
    return x


def _real_input(x, what):
    x = convert_to_tensor(x, dtype_hint=float32)
    if not x.dtype.is_floating or x.dtype.mlir in ("f16", "bf16"):
        raise TypeError(f"signal.{what}: takes a float32 or float64 tensor, got "
                        f"{x.dtype.name}")
    if not x.shape or x.shape[-1] is None:
        raise errors.InvalidArgumentError(
            f"signal.{what}: the transformed axis must be known, got shape {list(x.shape)}",
            errors.user_location())
    return x


def fft(input, name=None):  # noqa: A002 (TensorFlow's names)
    """The discrete Fourier transform along the last axis (complex in,
    complex out, unnormalized, NumPy's and TensorFlow's sign)."""
    x = _complex_input(input, "fft")
    return complexes.complex(*_dft(complexes.real(x), complexes.imag(x), False))


def ifft(input, name=None):  # noqa: A002
    """The inverse DFT along the last axis, divided by its length."""
    x = _complex_input(input, "ifft")
    re, im = _dft(complexes.real(x), complexes.imag(x), True)
    scale = 1.0 / x.shape[-1]
    return complexes.complex(re * scale, im * scale)


def _fit_length(x, n, what):
    """x's last axis cut or zero-padded to n."""
    n = int(n)
    if n < 1:
        raise errors.InvalidArgumentError(f"signal.{what}: fft_length must be positive, "
                                          f"got {n}", errors.user_location())
    have = x.shape[-1]
    if have > n:
        return x[..., :n]
    if have < n:
        return math_ops.pad(x, [[0, 0]] * (x.ndim - 1) + [[0, n - have]])
    return x


def _length_arg(fft_length, default, what, count=1):
    if fft_length is None:
        return default
    values = np.asarray(fft_length.numpy() if hasattr(fft_length, "numpy") else fft_length)
    values = values.reshape(-1)
    if len(values) != count:
        raise errors.InvalidArgumentError(
            f"signal.{what}: fft_length must have {count} element(s), got {values.tolist()}",
            errors.user_location())
    return [int(v) for v in values]


def rfft(input_tensor, fft_length=None, name=None):
    """The DFT of a real signal along the last axis (cut or zero-padded
    to fft_length): its fft_length // 2 + 1 non-negative frequencies, a
    complex64 tensor for float32 input (complex128 for float64)."""
    x = _real_input(input_tensor, "rfft")
    (n,) = _length_arg(fft_length, [x.shape[-1]], "rfft")
    x = _fit_length(x, n, "rfft")
    if n > _DIRECT:  # (the complex transform's split, then the half)
        re, im = _dft(x, math_ops.zeros_like(x), False)
        return complexes.complex(re[..., :n // 2 + 1], im[..., :n // 2 + 1])
    c, s = _tables(n, n // 2 + 1, n, x.dtype)
    return complexes.complex(_rows_matmul(x, c, "rfft"), -_rows_matmul(x, s, "rfft"))


def irfft(input_tensor, fft_length=None, name=None):
    """The real signal of length fft_length (2 (bins - 1) by default)
    whose rfft is `input_tensor` (the imaginary parts of the zero and
    Nyquist frequencies are ignored, as NumPy and TensorFlow do)."""
    x = _complex_input(input_tensor, "irfft")
    bins = x.shape[-1]
    (n,) = _length_arg(fft_length, [2 * (bins - 1)], "irfft")
    if n < 1:
        raise errors.InvalidArgumentError(f"signal.irfft: fft_length must be positive, got "
                                          f"{n}", errors.user_location())
    used = n // 2 + 1
    re, im = complexes.real(x), complexes.imag(x)
    if bins > used:
        re, im = re[..., :used], im[..., :used]
    elif bins < used:
        re, im = _fit_length(re, used, "irfft"), _fit_length(im, used, "irfft")
    if n > _DIRECT:
        # The whole Hermitian spectrum (X[n - k] = conj X[k]; the imaginary
        # parts of the zero and Nyquist bins dropped), then the split ifft.
        keep = np.ones(used)
        keep[0] = 0.0
        if n % 2 == 0:
            keep[-1] = 0.0
        im = im * constant(keep.astype(im.dtype.as_numpy_dtype))
        tail = n - used
        re_full = ops.concat([re, math_ops.reverse(re[..., 1:tail + 1], [-1])], -1) \
            if tail else re
        im_full = ops.concat([im, -math_ops.reverse(im[..., 1:tail + 1], [-1])], -1) \
            if tail else im
        real, _ = _dft(re_full, im_full, True)
        return real * (1.0 / n)
    weight = np.full(used, 2.0)
    weight[0] = 1.0
    if n % 2 == 0:
        weight[-1] = 1.0
    angle = 2 * np.pi * (np.outer(np.arange(used), np.arange(n)) % n) / n
    dtype = re.dtype.as_numpy_dtype
    c = constant((weight[:, None] * np.cos(angle) / n).astype(dtype))
    s = constant((weight[:, None] * np.sin(angle) / n).astype(dtype))
    return _rows_matmul(re, c, "irfft") - _rows_matmul(im, s, "irfft")


def _over_axes(transform, x, axes):
    """transform (along the last axis) applied along each of `axes`."""
    for axis in axes:
        axis %= x.ndim
        if axis == x.ndim - 1:
            x = transform(x)
            continue
        perm = list(range(x.ndim))
        perm[axis], perm[-1] = perm[-1], perm[axis]
        x = ops.transpose(transform(ops.transpose(x, perm)), perm)
    return x


def _multi(transform, rank, what):
    def apply(input, name=None):  # noqa: A002
        x = convert_to_tensor(input)
        if x.ndim < rank:
            raise errors.InvalidArgumentError(
                f"signal.{what}: needs rank >= {rank}, got shape {list(x.shape)}",
                errors.user_location())
        return _over_axes(transform, x, range(-rank, 0))
    apply.__name__ = what
    apply.__doc__ = f"The {'inverse ' if what.startswith('i') else ''}DFT over the last " \
        f"{rank} axes (tf.signal.{what})."
    return apply


fft2d, ifft2d = _multi(fft, 2, "fft2d"), _multi(ifft, 2, "ifft2d")
fft3d, ifft3d = _multi(fft, 3, "fft3d"), _multi(ifft, 3, "ifft3d")


def _real_multi(rank, inverse, what):
    def apply(input_tensor, fft_length=None, name=None):
        x = convert_to_tensor(input_tensor)
        if x.ndim < rank:
            raise errors.InvalidArgumentError(
                f"signal.{what}: needs rank >= {rank}, got shape {list(x.shape)}",
                errors.user_location())
        inner = list(x.shape[-rank:])
        if inverse:
            default = inner[:-1] + [2 * (inner[-1] - 1)]
        else:
            default = inner
        lengths = _length_arg(fft_length, default, what, rank)
        if not inverse:  # rfft on the last axis, then full DFTs on the others
            x = rfft(x, [lengths[-1]])
            for i, n in enumerate(lengths[:-1]):
                axis = x.ndim - rank + i
                x = _over_axes(lambda t, n=n: fft(_fit_complex(t, n)), x, [axis])
            return x
        for i, n in enumerate(lengths[:-1]):
            axis = x.ndim - rank + i
            x = _over_axes(lambda t, n=n: ifft(_fit_complex(t, n)), x, [axis])
        return irfft(x, [lengths[-1]])
    apply.__name__ = what
    apply.__doc__ = f"tf.signal.{what}: over the last {rank} axes, the last one real."
    return apply


def _fit_complex(x, n):
    return complexes.complex(_fit_length(complexes.real(x), n, "fft"),
                             _fit_length(complexes.imag(x), n, "fft"))


rfft2d, irfft2d = _real_multi(2, False, "rfft2d"), _real_multi(2, True, "irfft2d")
rfft3d, irfft3d = _real_multi(3, False, "rfft3d"), _real_multi(3, True, "irfft3d")


def fftshift(x, axes=None, name=None):
    """The zero frequency moved to the middle (NumPy's fftshift)."""
    x = convert_to_tensor(x)
    axes = list(range(x.ndim)) if axes is None else list(np.atleast_1d(axes))
    return math_ops.roll(x, [x.shape[a] // 2 for a in axes], axes)


def ifftshift(x, axes=None, name=None):
    """fftshift undone."""
    x = convert_to_tensor(x)
    axes = list(range(x.ndim)) if axes is None else list(np.atleast_1d(axes))
    return math_ops.roll(x, [-(x.shape[a] // 2) for a in axes], axes)


def _default_fft_length(frame_length):
    return 1 << max(int(frame_length) - 1, 0).bit_length()


def stft(signals, frame_length, frame_step, fft_length=None, window_fn=hann_window,
         pad_end=False, name=None):
    """The short-time Fourier transform (tf.signal.stft): frames of
    frame_length every frame_step samples along the last axis, times
    window_fn(frame_length) (periodic Hann by default; None: no window),
    rfft of fft_length points (the next power of two by default): complex
    [..., frames, fft_length // 2 + 1]."""
    x = _real_input(signals, "stft")
    frame_length, frame_step = int(frame_length), int(frame_step)
    n = _default_fft_length(frame_length) if fft_length is None else int(fft_length)
    frames = frame(x, frame_length, frame_step, pad_end=pad_end)
    if window_fn is not None:
        frames = frames * window_fn(frame_length, dtype=x.dtype)
    return rfft(frames, [n])


def inverse_stft(stfts, frame_length, frame_step, fft_length=None, window_fn=hann_window,
                 name=None):
    """The signal of stft frames (tf.signal.inverse_stft): irfft of each
    frame, cut or padded to frame_length, times window_fn(frame_length),
    overlapped and added. With window_fn=inverse_stft_window_fn(frame_step)
    it inverts stft's Hann window."""
    x = _complex_input(stfts, "inverse_stft")
    frame_length, frame_step = int(frame_length), int(frame_step)
    n = _default_fft_length(frame_length) if fft_length is None else int(fft_length)
    frames = irfft(x, [n])
    frames = _fit_length(frames, frame_length, "inverse_stft")
    if window_fn is not None:
        frames = frames * window_fn(frame_length, dtype=frames.dtype)
    return overlap_and_add(frames, frame_step)


def inverse_stft_window_fn(frame_step, forward_window_fn=hann_window, name=None):
    """The window that makes inverse_stft undo an stft with
    forward_window_fn: the forward window divided by the overlapped sum of
    its squares (TensorFlow's)."""
    frame_step = int(frame_step)

    def window(frame_length, dtype=float32):
        forward = np.asarray(forward_window_fn(frame_length, dtype=float64).numpy(),
                             np.float64)
        overlaps = -(-frame_length // frame_step)
        squares = np.pad(forward ** 2, [0, overlaps * frame_step - frame_length])
        denominator = np.tile(squares.reshape(overlaps, frame_step).sum(0), overlaps)
        return _window(forward / denominator[:frame_length], dtype)
    return window
