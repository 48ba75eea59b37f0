"""Complex tensors (pairs of real parts) and the Fourier transforms of
kiln.signal. Oracles: NumPy's complex arithmetic and numpy.fft, SciPy's
periodic Hann window, finite differences for gradients."""

import numpy as np
import pytest

import kiln
from kiln import errors

from conftest import central

RNG = np.random.default_rng(7)
S = kiln.signal


def cplx(*shape, dtype=np.complex64):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(dtype)


def close(got, want, tol=2e-6):
    np.testing.assert_allclose(np.asarray(got), want, rtol=tol, atol=tol)


def test_complex_tensors_convert_and_print():
    z = kiln.constant(np.array([1 + 2j, -0.5j], np.complex64))
    assert z.dtype == kiln.complex64 and z.shape == (2,)
    assert z.numpy().dtype == np.complex64
    assert kiln.constant(1 + 2j).dtype == kiln.complex128  # (Python complex, as TF)
    assert kiln.constant([1.0, 2.0], kiln.complex64).numpy().tolist() == [1 + 0j, 2 + 0j]
    assert "complex64" in repr(z)
    made = kiln.complex(kiln.constant([1.0, 2.0]), kiln.constant([3.0, 4.0]))
    close(made, [1 + 3j, 2 + 4j])
    close(kiln.real(made), [1, 2])
    close(kiln.imag(made), [3, 4])
    close(kiln.conj(made), [1 - 3j, 2 - 4j])
    with pytest.raises(TypeError, match="must both be float32 or both float64"):
        kiln.complex(kiln.constant([1.0]), kiln.constant([1.0], kiln.float64))
    with pytest.raises(errors.InvalidArgumentError, match="complex"):
        kiln.Variable(np.array([1j], np.complex64))


def test_arithmetic_and_functions_match_numpy():
    a, b = cplx(3, 4), cplx(3, 4)
    A, B = kiln.constant(a), kiln.constant(b)
    close(A + B, a + b)
    close(A - B, a - b)
    close(A * B, a * b)
    close(A / B, a / b)
    close(-A, -a)
    close(A * 2.0, a * 2)
    close(A + kiln.constant(np.ones(4, np.float32)), a + 1)
    close(kiln.abs(A), np.abs(a))
    close(kiln.exp(A), np.exp(a), 1e-5)
    close(kiln.math.log(A), np.log(a), 1e-5)
    close(kiln.sqrt(A), np.sqrt(a))
    close(kiln.square(A), a * a, 1e-5)
    close(kiln.math.reciprocal(A), 1 / a, 1e-5)
    close(kiln.sign(A), a / np.abs(a))
    close(kiln.sin(A), np.sin(a), 1e-5)
    close(kiln.cos(A), np.cos(a), 1e-5)
    close(kiln.math.angle(A), np.angle(a))
    close(kiln.reduce_sum(A, axis=1), a.sum(1), 1e-5)
    close(kiln.reduce_mean(A), a.mean(), 1e-5)
    close(A @ kiln.transpose(B), a @ b.T, 1e-5)
    close(kiln.matmul(A, B, adjoint_a=True), a.conj().T @ b, 1e-5)
    assert (A == A).numpy().all() and not (A != A).numpy().any()
    assert (A == B).numpy().tolist() == (a == b).tolist()
    with pytest.raises(TypeError, match="not ordered"):
        A < B  # noqa: B015
    # (edges: huge moduli do not overflow; division by a pure imaginary)
    big = kiln.constant(np.array([3e30 + 4e30j], np.complex64))
    close(kiln.abs(big), [5e30], 1e-6)
    close(kiln.constant(np.array([1 + 1j], np.complex64)) /
          kiln.constant(np.array([2j], np.complex64)), [(1 + 1j) / 2j])
    close(kiln.sqrt(kiln.constant(np.array([-4 + 0j, 0j, complex(-4, -0.0)], np.complex64))),
          np.sqrt(np.array([-4 + 0j, 0j, complex(-4, -0.0)], np.complex64)))


def test_element_moving_ops_and_casts():
    a = cplx(2, 3)
    A = kiln.constant(a)
    close(kiln.reshape(A, [3, 2]), a.reshape(3, 2))
    close(kiln.transpose(A), a.T)
    close(A[1, ::-1], a[1, ::-1])
    close(kiln.gather(A, [2, 0], axis=1), a[:, [2, 0]])
    close(kiln.concat([A, A[:1]], 0), np.concatenate([a, a[:1]]))
    close(kiln.where([True, False, True], A[0], A[1]), np.where([1, 0, 1], a[0], a[1]))
    close(kiln.cast(A, kiln.float32), a.real)  # (TensorFlow keeps the real part)
    wide = kiln.cast(A, kiln.complex128)
    assert wide.dtype == kiln.complex128
    close(wide, a.astype(np.complex128))
    close(kiln.cast(kiln.constant([1, 2]), kiln.complex64), [1, 2])
    with pytest.raises(errors.InvalidArgumentError,
                       match=r"test_complex.py:\d+: kiln.reduce_prod does not take complex"):
        kiln.reduce_prod(A)


def test_complex_values_cross_compiled_functions_and_tapes():
    @kiln.function
    def f(z, x):
        return z * z + x, {"modulus": kiln.abs(z)}
    z = cplx(4)
    out, rest = f(z, kiln.constant(np.ones(4, np.float32)))
    close(out, z * z + 1, 1e-5)
    close(rest["modulus"], np.abs(z))
    g = kiln.function(lambda z: kiln.math.conj(z) * 2.0,
                      input_signature=[kiln.TensorSpec([None], kiln.complex64)])
    close(g(z[:2]), z[:2].conj() * 2)
    close(g(z), z.conj() * 2)
    # d/dx sum |exp(i x) (x + 2 i)|^2 through the parts, against differences
    x0 = RNG.standard_normal(5)

    def loss(v):  # |exp(i v) (v + 2i)|^2 = v^2 + 4
        w = kiln.exp(kiln.complex(kiln.zeros_like(v), v)) * \
            kiln.complex(v, 2.0 * kiln.ones_like(v))
        return kiln.reduce_sum(kiln.square(kiln.abs(w)) * v)
    x = kiln.Variable(x0)
    with kiln.GradientTape() as tape:
        value = loss(x.value())
    grad = tape.gradient(value, x).numpy()
    np.testing.assert_allclose(grad, central(lambda v: float(loss(kiln.constant(v)).numpy()),
                                             x0), rtol=1e-6)


@pytest.mark.parametrize("n", [1, 6, 17, 64, 300, 1024])
def test_fft_matches_numpy(n):
    z = cplx(3, n)
    close(S.fft(z), np.fft.fft(z), 2e-6 * max(1, np.sqrt(n)) * np.abs(np.fft.fft(z)).max())
    close(S.ifft(S.fft(z)), z, 1e-5)
    x = RNG.standard_normal((2, n)).astype(np.float32)
    want = np.fft.rfft(x)
    close(S.rfft(x), want, 2e-6 * max(1, np.sqrt(n)) * np.abs(want).max())
    close(S.irfft(S.rfft(x), [n]), x, 1e-5)


def test_fft_lengths_axes_and_shifts():
    x = RNG.standard_normal((2, 5, 12)).astype(np.float32)
    close(S.rfft(x, [16]), np.fft.rfft(x, 16), 1e-5)
    close(S.rfft(x, [8]), np.fft.rfft(x, 8), 1e-5)
    spectrum = np.fft.rfft(x)
    close(S.irfft(spectrum.astype(np.complex64)), np.fft.irfft(spectrum), 1e-5)
    close(S.irfft(spectrum.astype(np.complex64), [11]), np.fft.irfft(spectrum, 11), 1e-5)
    z = x.astype(np.complex64) + 1j * x[::-1].astype(np.complex64)
    close(S.fft2d(z), np.fft.fft2(z), 1e-4)
    close(S.ifft2d(z), np.fft.ifft2(z), 1e-5)
    close(S.fft3d(z), np.fft.fftn(z), 1e-4)
    close(S.rfft2d(x), np.fft.rfft2(x), 1e-4)
    close(S.irfft2d(S.rfft2d(x)), x, 1e-5)
    close(S.rfft3d(x), np.fft.rfftn(x), 1e-4)
    close(S.irfft3d(S.rfft3d(x), [2, 5, 12]), x, 1e-5)
    close(S.fftshift(kiln.constant(np.arange(10).reshape(2, 5))),
          np.fft.fftshift(np.arange(10).reshape(2, 5)))
    close(S.ifftshift(S.fftshift(kiln.constant(np.arange(7)))), np.arange(7))
    close(S.fftshift(kiln.constant(np.arange(6)), axes=0), np.fft.fftshift(np.arange(6)))
    with pytest.raises(TypeError, match="takes a complex tensor"):
        S.fft(x)


def test_stft_and_its_inverse():
    from scipy.signal import windows
    signal = RNG.standard_normal((2, 3000)).astype(np.float32)
    spectrogram = S.stft(signal, 400, 160, fft_length=512)
    assert spectrogram.shape == (2, 1 + (3000 - 400) // 160, 257)
    window = windows.hann(400, sym=False)
    starts = range(0, 3000 - 400 + 1, 160)
    frames = np.stack([signal[:, s:s + 400] for s in starts], axis=1)
    want = np.fft.rfft(frames * window, 512)
    close(spectrogram, want, 2e-6 * np.abs(want).max())
    padded = S.stft(signal, 400, 160, pad_end=True)
    assert padded.shape == (2, -(-3000 // 160), 257)
    back = S.inverse_stft(S.stft(signal, 256, 64), 256, 64,
                          window_fn=S.inverse_stft_window_fn(64))
    inner = slice(256, 3000 - 256)
    np.testing.assert_allclose(back.numpy()[:, inner], signal[:, inner], atol=1e-5)

    @kiln.function
    def log_magnitude(s):  # (the audio tutorial's spectrogram, compiled)
        return kiln.math.log(kiln.abs(S.stft(s, 255, 128)) + 1e-6)
    np.testing.assert_allclose(
        log_magnitude(signal).numpy(),
        np.log(np.abs(np.fft.rfft(
            np.stack([signal[:, s:s + 255] for s in range(0, 3000 - 255 + 1, 128)], 1) *
            windows.hann(255, sym=True), 256)) + 1e-6), atol=1e-4)
    # (TensorFlow's periodic Hann of an odd length is the symmetric one)


def test_review_cases_complex128_ties_and_open_batches():
    z = np.array([1 + 1j, -4 + 0j, 3 - 4j], np.complex128)
    close(kiln.sqrt(kiln.constant(z)), np.sqrt(z), 1e-12)
    close(kiln.abs(kiln.constant(np.array([np.inf + 1j, 1 + np.inf * 1j]))), [np.inf, np.inf])
    close(kiln.zeros_like(kiln.constant(z)), np.zeros(3))
    close(kiln.ones_like(kiln.constant(z)), np.ones(3))
    # Gradients at |re| == |im| (and at 0, where TensorFlow's is 0).
    for re0, im0 in ((1.0, 1.0), (-2.0, 2.0), (0.0, 0.0)):
        x, y = kiln.Variable([re0]), kiln.Variable([im0])
        with kiln.GradientTape() as tape:
            size = kiln.reduce_sum(kiln.abs(kiln.complex(x, y)))
        gx, gy = (g.numpy()[0] for g in tape.gradient(size, [x, y]))
        r = np.hypot(re0, im0)
        np.testing.assert_allclose([gx, gy], [re0 / r, im0 / r] if r else [0, 0], rtol=1e-6)
    with pytest.raises(TypeError, match="cannot combine a float64 tensor"):
        kiln.constant(z.astype(np.complex64)) * kiln.constant([1.0, 2.0, 3.0], kiln.float64)
    spec = [kiln.TensorSpec([None, 1000], kiln.float32)]
    stft = kiln.function(lambda s: S.stft(s, 256, 128), input_signature=spec)
    x = RNG.standard_normal((3, 1000)).astype(np.float32)
    close(stft(x), S.stft(x, 256, 128).numpy(), 1e-5)
    long = kiln.function(lambda s: S.fft(s),
                         input_signature=[kiln.TensorSpec([None, 300], kiln.complex64)])
    w = cplx(2, 300)
    close(long(w), np.fft.fft(w), 1e-4)


@pytest.mark.parametrize("n", [4096, 4095])
def test_long_real_transforms_use_the_split(n):
    x = RNG.standard_normal((2, n)).astype(np.float32)
    want = np.fft.rfft(x)
    close(S.rfft(x), want, 2e-6 * np.sqrt(n) * np.abs(want).max())
    close(S.irfft(want.astype(np.complex64), [n]), np.fft.irfft(want, n), 1e-5)
    with pytest.raises(errors.InvalidArgumentError, match="prime length"):
        S.fft(cplx(1, 4099))


@pytest.mark.parametrize("n", [16, 300])
def test_transform_gradients_against_finite_differences(n):
    # (16 points: one table product; 300 > 256: rfft through the split fft)
    x0 = RNG.standard_normal(n)
    weights = RNG.standard_normal(n // 2 + 1)

    def loss(v):
        spectrum = S.rfft(v)
        shifted = S.fft(kiln.complex(v, v[::-1] * 0.5))
        return kiln.reduce_sum(kiln.abs(spectrum) * weights) + \
            kiln.reduce_sum(kiln.math.real(shifted * shifted)) * 1e-3 + \
            kiln.reduce_sum(S.irfft(spectrum) * v)
    x = kiln.Variable(x0)
    with kiln.GradientTape() as tape:
        value = loss(x.value())
    np.testing.assert_allclose(tape.gradient(value, x).numpy(),
                               central(lambda v: float(loss(kiln.constant(v)).numpy()), x0),
                               rtol=1e-5, atol=1e-6)


def test_complex_function_gradients_against_finite_differences():
    x0 = RNG.uniform(0.5, 1.5, 4)

    def loss(v):
        z = kiln.complex(v, 1.0 - v)
        w = kiln.sqrt(z) + kiln.math.log(z) + kiln.sin(z) / kiln.cos(z * 0.5) + \
            kiln.math.reciprocal(z) + kiln.sign(z) * kiln.square(z)
        return kiln.reduce_sum(kiln.math.real(w) * 0.7 + kiln.math.imag(w) * 0.3)
    x = kiln.Variable(x0)
    with kiln.GradientTape() as tape:
        value = loss(x.value())
    np.testing.assert_allclose(tape.gradient(value, x).numpy(),
                               central(lambda v: float(loss(kiln.constant(v)).numpy()), x0),
                               rtol=1e-6)


def test_gradients_with_respect_to_complex_tensors():
    """TensorFlow's convention: for a real loss L of z = x + iy the
    gradient is dL/dx + i dL/dy (finite differences of x and y apart)."""
    x0, y0 = np.array([0.3, -1.2, 2.0]), np.array([0.7, 0.4, -0.5])
    weights = np.array([1.0, 2.0, 3.0])
    mix = np.array([0.5 - 0.25j] * 3)

    def oracle(x, y):
        z = x + 1j * y
        return float(np.sum(np.abs(z) ** 2 * weights) + np.real(np.sum(z * z * mix)) +
                     np.sum(np.imag(np.exp(z))))

    z = kiln.complex(kiln.constant(x0), kiln.constant(y0))
    other = kiln.constant([1.0, 2.0, 3.0], "float64")
    with kiln.GradientTape(persistent=True) as tape:
        tape.watch(z)
        tape.watch(other)
        loss = kiln.reduce_sum(kiln.square(kiln.abs(z)) * kiln.constant(weights)) + \
            kiln.math.real(kiln.reduce_sum(z * z * kiln.constant(mix))) + \
            kiln.reduce_sum(kiln.math.imag(kiln.exp(z))) + kiln.reduce_sum(other * 0.0)
    np.testing.assert_allclose(loss.numpy(), oracle(x0, y0), rtol=1e-12)
    expected = central(lambda x: oracle(x, y0), x0) + 1j * central(lambda y: oracle(x0, y), y0)
    grad = tape.gradient(loss, z)
    assert grad.dtype == kiln.complex128
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-6)
    both = tape.gradient(loss, [z, other])
    np.testing.assert_allclose(both[0].numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(both[1].numpy(), np.zeros(3))
    unrelated = kiln.complex(kiln.constant([1.0]), kiln.constant([2.0]))
    tape.watch(unrelated)
    assert tape.gradient(loss, unrelated) is None
    with pytest.raises(errors.InvalidArgumentError, match="target of a gradient is complex"):
        tape.gradient(z * 2.0, z)


def test_complex_tensors_have_their_own_parts_for_gradients():
    x = kiln.constant([1.0, 2.0])
    z = kiln.cast(x, "complex64")
    with kiln.GradientTape(persistent=True) as tape:
        tape.watch(z)
        loss = kiln.reduce_sum(kiln.math.real(z)) + kiln.reduce_sum(3.0 * x)
    np.testing.assert_allclose(tape.gradient(loss, z).numpy(), [1 + 0j, 1 + 0j])
    w = kiln.complex(x, x)
    with kiln.GradientTape() as tape:
        tape.watch([w])  # (a list: its parts watched too)
        loss = kiln.reduce_sum(kiln.math.real(w))
    np.testing.assert_allclose(tape.gradient(loss, w).numpy(), [1 + 0j, 1 + 0j])
    with kiln.GradientTape() as tape:
        tape.watch(x)
        loss = kiln.reduce_sum(kiln.abs(kiln.complex(x, x)))
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), [2 ** 0.5] * 2, rtol=1e-6)
    with kiln.GradientTape() as tape:
        tape.watch(z)
        loss = kiln.math.real(z)
    with pytest.raises(errors.UnimplementedError, match="jacobian with respect to a complex"):
        tape.jacobian(loss, z)


def test_angle_of_real_tensors_is_pi_for_negatives():
    """TensorFlow's angle of a real tensor: pi where it is negative, else 0
    (NaN, inf and -0.0 included)."""
    x = np.array([-1.0, 2.0, np.inf, np.nan, -0.0, -np.inf], np.float32)
    for run in (kiln.math.angle, kiln.function(kiln.math.angle)):
        np.testing.assert_array_equal(run(kiln.constant(x)).numpy(),
                                      np.array([np.pi, 0, 0, 0, 0, np.pi], np.float32))


def test_cumsum_of_complex_tensors():
    """tf.math.cumsum of complex64 along an axis (exclusive, reverse too),
    eagerly and compiled, against NumPy; cumprod says it is not supported."""
    z = (np.arange(6) + 1j * np.arange(6)[::-1]).reshape(2, 3).astype(np.complex64)
    for run in (kiln.math.cumsum, kiln.function(kiln.math.cumsum)):
        np.testing.assert_array_equal(run(z, axis=1).numpy(), np.cumsum(z, 1))
        np.testing.assert_array_equal(run(z, axis=0, exclusive=True, reverse=True).numpy(),
                                      np.stack([z[1], np.zeros(3, np.complex64)]))
    with pytest.raises(errors.UnimplementedError, match="cumprod of a complex"):
        kiln.math.cumprod(z)
