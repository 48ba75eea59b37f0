"""kiln.io (files, decode_raw, decode_csv, images), kiln.audio (WAV) and
the file datasets (list_files, TextLineDataset). Oracles: Python's struct
and csv modules, Pillow and SciPy's wavfile writing and reading the files."""

import gzip
import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from scipy.io import wavfile

import kiln
from kiln import errors

RNG = np.random.default_rng(11)


def test_read_write_and_gfile(tmp_path):
    path = str(tmp_path / "sub" / "blob.bin")
    payload = bytes(range(256)) * 3
    kiln.io.write_file(path, kiln.constant(payload))
    assert open(path, "rb").read() == payload
    assert kiln.io.read_file(path).numpy() == payload
    with pytest.raises(errors.NotFoundError, match="missing.bin: no such file"):
        kiln.io.read_file(str(tmp_path / "missing.bin"))
    gfile = kiln.io.gfile
    assert gfile.exists(path) and gfile.isdir(str(tmp_path / "sub"))
    assert gfile.listdir(str(tmp_path / "sub")) == ["blob.bin"]
    assert gfile.glob(str(tmp_path / "sub" / "*.bin")) == [path]
    gfile.copy(path, path + ".copy")
    with pytest.raises(errors.AlreadyExistsError):
        gfile.copy(path, path + ".copy")
    with gfile.GFile(path + ".copy", "rb") as f:
        assert f.read() == payload
    names = kiln.io.matching_files(str(tmp_path / "sub" / "*")).numpy().tolist()
    assert names == sorted([path.encode(), (path + ".copy").encode()])


def test_decode_raw_against_struct():
    data = [struct.pack("<3i", 1, -2, 3), struct.pack("<3i", 2**31 - 1, 0, -7)]
    np.testing.assert_array_equal(kiln.io.decode_raw(data, kiln.int32).numpy(),
                                  [[1, -2, 3], [2**31 - 1, 0, -7]])
    big = struct.pack(">2d", 1.5, -0.25)
    np.testing.assert_array_equal(
        kiln.io.decode_raw(big, kiln.float64, little_endian=False).numpy(), [1.5, -0.25])
    padded = kiln.io.decode_raw([struct.pack("<f", 2.0)], kiln.float32, fixed_length=8)
    np.testing.assert_array_equal(padded.numpy(), [[2.0, 0.0]])
    with pytest.raises(errors.InvalidArgumentError, match="not a whole number"):
        kiln.io.decode_raw(b"abc", kiln.int32)
    with pytest.raises(errors.InvalidArgumentError, match="different lengths"):
        kiln.io.decode_raw([b"abcd", b"abcdefgh"], kiln.int32)


def test_decode_csv_against_the_csv_module():
    lines = ['7,"a, quoted",1.5', '-2,plain,', '3,"",2e3']
    cols = kiln.io.decode_csv(lines, [[0], ["none"], [-1.0]])
    rows = list(__import__("csv").reader(lines))
    assert cols[0].dtype == kiln.int32 and cols[2].dtype == kiln.float32
    assert cols[0].numpy().tolist() == [int(r[0]) for r in rows]
    assert cols[1].numpy().tolist() == [(r[1] or "none").encode() for r in rows]
    np.testing.assert_allclose(cols[2].numpy(), [float(r[2]) if r[2] else -1.0 for r in rows])
    picked = kiln.io.decode_csv(["1;2;3"], [[0.0], [0.0]], field_delim=";", select_cols=[0, 2])
    assert [c.numpy().tolist() for c in picked] == [[1.0], [3.0]]
    with pytest.raises(errors.InvalidArgumentError, match="field 1 is required"):
        kiln.io.decode_csv(["1,"], [[0], []])
    with pytest.raises(errors.InvalidArgumentError, match="expected 2 fields but have 3"):
        kiln.io.decode_csv(["1,2,3"], [[0], [0]])
    with pytest.raises(errors.InvalidArgumentError, match=r"\('x'\) .* not a valid int32"):
        kiln.io.decode_csv(["x,2"], [[0], [0]])


def pillow_bytes(array, fmt, mode=None, **options):
    out = io.BytesIO()
    Image.fromarray(array, mode).save(out, fmt, **options)
    return out.getvalue()


def test_images_against_pillow():
    rgb = RNG.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    png = pillow_bytes(rgb, "PNG")
    np.testing.assert_array_equal(kiln.io.decode_png(png).numpy(), rgb)
    np.testing.assert_array_equal(kiln.io.decode_png(png, channels=4).numpy()[..., 3], 255)
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    np.testing.assert_array_equal(kiln.io.decode_png(png, channels=1).numpy()[..., 0], grey)
    np.testing.assert_allclose(kiln.io.decode_image(png, dtype=kiln.float32).numpy(),
                               rgb / 255.0, rtol=1e-6)
    deep = RNG.integers(0, 65536, (3, 4)).astype(np.uint16)
    deep_png = io.BytesIO()
    Image.fromarray(deep).save(deep_png, "PNG")
    # (TensorFlow: uint8 output strips a 16-bit PNG to its high byte;
    # dtype=uint16 keeps the values, and makes 8-bit ones x 257)
    np.testing.assert_array_equal(kiln.io.decode_png(deep_png.getvalue()).numpy()[..., 0],
                                  deep >> 8)
    np.testing.assert_array_equal(
        kiln.io.decode_png(deep_png.getvalue(), dtype="uint16").numpy()[..., 0], deep)
    np.testing.assert_array_equal(
        kiln.io.decode_png(deep_png.getvalue(), channels=3).numpy(),
        np.repeat((deep >> 8)[..., None], 3, axis=-1))
    np.testing.assert_array_equal(kiln.io.decode_png(png, dtype="uint16").numpy(),
                                  rgb.astype(np.int32) * 257)
    np.testing.assert_allclose(kiln.io.decode_image(deep_png.getvalue(),
                                                    dtype=kiln.float32).numpy()[..., 0],
                               deep / 65535.0, rtol=1e-6)
    big = np.add.outer(np.arange(32), np.arange(32))[..., None].repeat(3, -1).astype(np.uint8)
    half = kiln.io.decode_jpeg(pillow_bytes(big, "JPEG"), ratio=2)
    assert half.shape == (16, 16, 3)
    with pytest.raises(errors.InvalidArgumentError, match="1 or 3 channels"):
        kiln.io.encode_jpeg(np.zeros((2, 2, 4), np.int32))
    jpeg = pillow_bytes(rgb, "JPEG", quality=90)
    np.testing.assert_array_equal(kiln.io.decode_jpeg(jpeg).numpy(),
                                  np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")))
    frames = [Image.fromarray(np.full((4, 4, 3), v, np.uint8)) for v in (0, 128, 255)]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    assert kiln.io.decode_gif(gif.getvalue()).shape == (3, 4, 4, 3)
    encoded = kiln.io.encode_png(rgb.astype(np.int32)).numpy()
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encoded))), rgb)
    smooth = (np.add.outer(np.arange(16), np.arange(16))[..., None] * [8, 4, 2]) % 256
    encoded = kiln.io.encode_jpeg(smooth, quality=100).numpy()
    assert np.abs(np.asarray(Image.open(io.BytesIO(encoded))).astype(int) - smooth).max() < 8
    with pytest.raises(errors.InvalidArgumentError, match="not PNG"):
        kiln.io.decode_png(jpeg)
    with pytest.raises(errors.InvalidArgumentError, match="cannot decode"):
        kiln.io.decode_image(b"not an image")
    with pytest.raises(errors.InvalidArgumentError, match=r"\[0, 255\]"):
        kiln.io.encode_png(np.full((2, 2, 1), 300))


def test_wav_against_scipy(tmp_path):
    rate = 16000
    pcm = RNG.integers(-32768, 32768, (1200, 2)).astype(np.int16)
    path = str(tmp_path / "clip.wav")
    wavfile.write(path, rate, pcm)
    audio, got_rate = kiln.audio.decode_wav(kiln.io.read_file(path))
    assert int(got_rate) == rate and audio.dtype == kiln.float32
    np.testing.assert_array_equal(audio.numpy(), pcm / 32768.0)
    mono, _ = kiln.audio.decode_wav(kiln.io.read_file(path), desired_channels=1,
                                    desired_samples=1500)
    np.testing.assert_array_equal(mono.numpy()[:1200, 0], pcm[:, 0] / 32768.0)
    assert (mono.numpy()[1200:] == 0).all()
    eight = (RNG.integers(0, 256, 100)).astype(np.uint8)
    wavfile.write(str(tmp_path / "u8.wav"), 8000, eight)
    low, _ = kiln.audio.decode_wav(kiln.io.read_file(str(tmp_path / "u8.wav")))
    np.testing.assert_allclose(low.numpy()[:, 0], (eight.astype(float) - 128) / 128)
    signal = np.clip(RNG.normal(0, 0.4, (500, 1)), -1.2, 1.2).astype(np.float32)
    written = str(tmp_path / "out.wav")
    kiln.io.write_file(written, kiln.audio.encode_wav(signal, 22050))
    back_rate, back = wavfile.read(written)
    assert back_rate == 22050 and back.dtype == np.int16
    want = np.round(np.clip(signal[:, 0] * np.float32(32767), -32768, 32767))
    np.testing.assert_array_equal(back, want)
    with pytest.raises(errors.InvalidArgumentError, match="not a PCM WAV"):
        kiln.audio.decode_wav(b"RIFF....junk")


def test_list_files_and_text_lines(tmp_path):
    for name, text in (("b.txt", "one\r\ntwo\n"), ("a.txt", "zero\nlast")):
        (tmp_path / name).write_text(text, newline="")
    (tmp_path / "c.txt.gz").write_bytes(gzip.compress(b"g1\ng2\n"))
    (tmp_path / "d.txt.z").write_bytes(zlib.compress(b"z1\n"))
    names = [t.numpy() for t in kiln.data.Dataset.list_files(str(tmp_path / "*.txt"),
                                                             shuffle=False)]
    assert names == [str(tmp_path / "a.txt").encode(), str(tmp_path / "b.txt").encode()]
    shuffled = kiln.data.Dataset.list_files(str(tmp_path / "*.txt"), seed=3)
    assert sorted(t.numpy() for t in shuffled) == names
    lines = kiln.data.TextLineDataset([os.fspath(n) for n in
                                       [tmp_path / "a.txt", tmp_path / "b.txt"]])
    assert [t.numpy() for t in lines] == [b"zero", b"last", b"one", b"two"]
    gz = kiln.data.TextLineDataset(str(tmp_path / "c.txt.gz"), compression_type="GZIP")
    assert [t.numpy() for t in gz] == [b"g1", b"g2"]
    zl = kiln.data.TextLineDataset(str(tmp_path / "d.txt.z"), compression_type="ZLIB")
    assert [t.numpy() for t in zl] == [b"z1"]
    with pytest.raises(errors.InvalidArgumentError, match="no files match"):
        kiln.data.Dataset.list_files(str(tmp_path / "*.none"))
    with pytest.raises(errors.DataLossError, match="not valid GZIP"):
        list(kiln.data.TextLineDataset(str(tmp_path / "a.txt"), compression_type="GZIP"))
    # A CSV pipeline: lines, decode_csv in map, batches of columns.
    (tmp_path / "t.csv").write_text("1,0.5\n2,1.5\n3,2.5\n")
    ds = kiln.data.TextLineDataset(str(tmp_path / "t.csv")).map(
        lambda line: tuple(kiln.io.decode_csv(line, [[0], [0.0]]))).batch(2)
    first = next(iter(ds))
    assert first[0].numpy().tolist() == [1, 2] and first[1].numpy().tolist() == [0.5, 1.5]


def test_review_cases_io(tmp_path):
    # decode_raw's narrow integer types (kept, as TensorFlow) and decode_csv's defaults.
    raw = kiln.io.decode_raw([bytes([1, 255, 3])], "uint8")
    assert raw.dtype == kiln.uint8 and raw.numpy().tolist() == [[1, 255, 3]]
    shorts = kiln.io.decode_raw(struct.pack("<2h", -2, 7), "int16")
    assert shorts.dtype == kiln.int16 and shorts.numpy().tolist() == [-2, 7]
    cols = kiln.io.decode_csv(["5,2.5"], [np.int64(0), np.float64(0.0)])
    assert cols[0].dtype == kiln.int64 and cols[1].dtype == kiln.float64
    # TextLineDataset keeps a final line without newline and lone "\r"s.
    path = tmp_path / "z.txt"
    path.write_bytes(b"a\rb\nc\r\nlast")
    zl = tmp_path / "z.txt.z"
    zl.write_bytes(zlib.compress(path.read_bytes()))
    for name, kind in ((path, None), (zl, "ZLIB")):
        lines = [t.numpy() for t in kiln.data.TextLineDataset(str(name), compression_type=kind)]
        assert lines == [b"a\rb", b"c", b"last"]
