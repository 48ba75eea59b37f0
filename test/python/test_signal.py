"""kiln.signal (tf.signal's real-valued part) against SciPy: windows,
framing and overlap-add, the DCTs of types 1-4, the MDCT's perfect
reconstruction and its textbook formula, the mel filter bank and MFCCs;
eagerly and compiled, with a gradient against central differences."""

import numpy as np
import pytest
from scipy import fft as sfft
from scipy.signal import windows

import kiln
from conftest import central

RNG = np.random.default_rng(41)
sig = kiln.signal


@pytest.mark.parametrize("n", [1, 2, 7, 8, 33])
def test_windows_match_scipy(n):
    # TensorFlow's periodic raised-cosine windows divide by N for an even
    # length and by N - 1 for an odd one (SciPy's symmetric window then).
    periodic_like = n % 2 == 0
    for fn, name in ((sig.hann_window, "hann"), (sig.hamming_window, "hamming")):
        np.testing.assert_allclose(fn(n, dtype=kiln.float64).numpy(),
                                   windows.get_window(name, n, fftbins=periodic_like),
                                   atol=1e-12)
        np.testing.assert_allclose(fn(n, periodic=False, dtype=kiln.float64).numpy(),
                                   windows.get_window(name, n, fftbins=False), atol=1e-12)
    np.testing.assert_allclose(sig.kaiser_window(n, beta=5.0, dtype=kiln.float64).numpy(),
                               windows.kaiser(n, 5.0, sym=True), rtol=1e-12, atol=1e-14)
    if n % 2 == 0:
        np.testing.assert_allclose(
            sig.kaiser_bessel_derived_window(n, beta=4.0, dtype=kiln.float64).numpy(),
            windows.kaiser_bessel_derived(n, 4.0), rtol=1e-12)
    w = sig.vorbis_window(n, dtype=kiln.float64).numpy()
    k = np.arange(n) + 0.5
    np.testing.assert_allclose(w, np.sin(np.pi / 2 * np.sin(np.pi * k / n) ** 2), atol=1e-15)
    assert sig.hann_window(n).dtype == kiln.float32


def test_frame_and_overlap_and_add():
    x = RNG.normal(size=(2, 23))
    framed = sig.frame(x, 6, 4).numpy()
    assert framed.shape == (2, 5, 6)
    for f in range(5):
        np.testing.assert_array_equal(framed[:, f], x[:, 4 * f:4 * f + 6])
    padded = sig.frame(x, 6, 4, pad_end=True, pad_value=-1.0).numpy()
    assert padded.shape == (2, 6, 6)                     # ceil(23 / 4) frames
    np.testing.assert_array_equal(padded[:, 5], np.concatenate(
        [x[:, 20:], -np.ones((2, 3))], axis=1))
    on_axis0 = sig.frame(x.T, 6, 4, axis=0).numpy()      # [frames, 6, 2]
    np.testing.assert_array_equal(on_axis0, np.transpose(framed, (1, 2, 0)))
    frames = RNG.normal(size=(3, 5, 7))
    want = np.zeros((3, 4 * 3 + 7))
    for f in range(5):
        want[:, 3 * f:3 * f + 7] += frames[:, f]
    np.testing.assert_allclose(sig.overlap_and_add(frames, 3).numpy(), want, atol=1e-12)
    np.testing.assert_allclose(
        kiln.function(lambda a: sig.overlap_and_add(a, 3))(frames[0]).numpy(), want[0],
        atol=1e-12)


@pytest.mark.parametrize("kind", [1, 2, 3, 4])
@pytest.mark.parametrize("norm", [None, "ortho"])
def test_dct_matches_scipy(kind, norm):
    if kind == 1 and norm == "ortho":
        with pytest.raises(kiln.errors.InvalidArgumentError, match="no orthonormal form"):
            sig.dct(np.ones((2, 4)), type=1, norm="ortho")
        return
    x = RNG.normal(size=(3, 9))
    np.testing.assert_allclose(sig.dct(x, type=kind, norm=norm).numpy(),
                               sfft.dct(x, type=kind, norm=norm), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(sig.idct(x, type=kind, norm=norm).numpy(),
                               sfft.idct(x, type=kind, norm=norm) *
                               (1 if norm else (2 * (9 - 1) if kind == 1 else 2 * 9)),
                               rtol=1e-10, atol=1e-10)
    for n in (5, 12):   # truncated, zero-padded
        np.testing.assert_allclose(sig.dct(x, type=kind, n=n, norm=norm).numpy(),
                                   sfft.dct(x, type=kind, n=n, norm=norm), rtol=1e-10,
                                   atol=1e-10)
    f32 = sig.dct(x.astype(np.float32), type=kind, norm=norm)
    assert f32.dtype == kiln.float32


def test_dct_gradient_and_compiled():
    x = RNG.normal(size=(2, 6))
    c = RNG.normal(size=(2, 6))
    t = kiln.constant(x)
    with kiln.GradientTape() as tape:
        tape.watch(t)
        loss = kiln.reduce_sum(kiln.square(sig.dct(t, norm="ortho")) * c)
    np.testing.assert_allclose(
        tape.gradient(loss, t).numpy(),
        central(lambda v: float(np.sum(sfft.dct(v, norm="ortho") ** 2 * c)), x), rtol=1e-6)
    np.testing.assert_allclose(kiln.function(lambda a: sig.dct(a, type=3))(x).numpy(),
                               sfft.dct(x, type=3), rtol=1e-10)


def test_mdct_formula_and_perfect_reconstruction():
    # MDCT bin k of a frame x (length 2N, windowed) is
    # 2 sum_n x_n cos(pi / N (n + 1/2 + N/2)(k + 1/2)) (TensorFlow's unscaled
    # DCT-IV convention); with Vorbis' window, inverse(mdct(x)) is x away
    # from the first and last half frame.
    x = RNG.normal(size=200)
    coeffs = sig.mdct(x, 16).numpy()
    vorbis = sig.vorbis_window(16, dtype=kiln.float64).numpy()
    N = 8
    n = np.arange(16)
    for f in range(coeffs.shape[0]):
        seg = x[f * N:f * N + 16] * vorbis
        want = [2 * np.sum(seg * np.cos(np.pi / N * (n + 0.5 + N / 2) * (k + 0.5)))
                for k in range(N)]
        np.testing.assert_allclose(coeffs[f], want, rtol=1e-10, atol=1e-10)
    for norm in (None, "ortho"):
        back = sig.inverse_mdct(sig.mdct(x, 16, norm=norm), norm=norm).numpy()
        np.testing.assert_allclose(back[8:192], x[8:192], rtol=1e-10, atol=1e-10)
    kbd = lambda length, dtype: sig.kaiser_bessel_derived_window(length, dtype=dtype)
    back = sig.inverse_mdct(sig.mdct(x, 32, window_fn=kbd), window_fn=kbd).numpy()
    np.testing.assert_allclose(back[16:176], x[16:176], rtol=1e-9, atol=1e-9)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="multiple of 4"):
        sig.mdct(x, 10)


def test_mel_matrix_and_mfccs():
    m = sig.linear_to_mel_weight_matrix(10, 33, 8000, 125.0, 3800.0, dtype=kiln.float64).numpy()
    assert m.shape == (33, 10)
    assert np.all(m[0] == 0) and np.all(m >= 0) and np.all(m <= 1)
    # Each filter rises and falls linearly in mel between its edges.
    mel = lambda f: 1127.0 * np.log(1 + f / 700.0)
    edges = np.linspace(mel(125.0), mel(3800.0), 12)
    freqs = mel(np.linspace(0, 4000, 33))
    for b in range(10):
        lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
        want = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, 1)
        want[0] = 0
        np.testing.assert_allclose(m[:, b], want, atol=1e-12)
    logmel = RNG.normal(size=(4, 10))
    np.testing.assert_allclose(sig.mfccs_from_log_mel_spectrograms(logmel).numpy(),
                               sfft.dct(logmel, type=2) / np.sqrt(2 * 10), rtol=1e-10)
    with pytest.raises(TypeError, match="takes a float32 or float64 tensor"):
        sig.stft(np.zeros(64, np.int32), 16, 8)
