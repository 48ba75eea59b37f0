"""kiln.audio: WAV files (tf.audio.decode_wav and encode_wav).

    audio, rate = kiln.audio.decode_wav(kiln.io.read_file("clip.wav"),
                                        desired_channels=1, desired_samples=16000)

decode_wav reads PCM WAV data of 8, 16, 24 or 32 bits (Python's wave
module; TensorFlow reads 16-bit PCM) into float32 samples in [-1, 1) as
[samples, channels]; encode_wav writes 16-bit PCM. Both run on the host.
"""

import io as _pyio
import wave

import numpy as np

from . import errors
from .dtypes import float32, int32, string
from .io import _bytes
from .tensor import convert_to_tensor


def decode_wav(contents, desired_channels=-1, desired_samples=-1, name=None):
    """(audio [samples, channels] float32, sample_rate int32 scalar) of a
    WAV file's bytes. desired_channels picks the first channels, or
    repeats a single one; desired_samples cuts or zero-pads."""
    data = _bytes(contents, "decode_wav")
    try:
        with wave.open(_pyio.BytesIO(data), "rb") as f:
            channels, width, rate = f.getnchannels(), f.getsampwidth(), f.getframerate()
            frames = f.readframes(f.getnframes())
    except (wave.Error, EOFError) as e:
        raise errors.InvalidArgumentError(f"kiln.audio.decode_wav: not a PCM WAV file ({e})",
                                          errors.user_location()) from None
    if width == 1:  # (8-bit WAV is unsigned, centred on 128)
        samples = (np.frombuffer(frames, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 3:
        raw = np.frombuffer(frames, np.uint8).reshape(-1, 3).astype(np.int32)
        values = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
        values = np.where(values >= 1 << 23, values - (1 << 24), values)
        samples = values.astype(np.float32) / float(1 << 23)
    elif width in (2, 4):
        kind = np.int16 if width == 2 else np.int32
        samples = np.frombuffer(frames, np.dtype(kind).newbyteorder("<")).astype(np.float64) \
            / float(1 << (8 * width - 1))
        samples = samples.astype(np.float32)
    else:
        raise errors.InvalidArgumentError(
            f"kiln.audio.decode_wav: {8 * width}-bit samples are not supported",
            errors.user_location())
    audio = samples.reshape(-1, channels)
    desired_channels, desired_samples = int(desired_channels), int(desired_samples)
    if desired_channels > 0 and desired_channels != channels:
        if channels == 1:
            audio = np.repeat(audio, desired_channels, axis=1)
        elif desired_channels < channels:
            audio = audio[:, :desired_channels]
        else:
            raise errors.InvalidArgumentError(
                f"kiln.audio.decode_wav: the file has {channels} channels, cannot make "
                f"{desired_channels}", errors.user_location())
    if desired_samples >= 0:
        audio = audio[:desired_samples]
        if len(audio) < desired_samples:
            audio = np.pad(audio, [(0, desired_samples - len(audio)), (0, 0)])
    return convert_to_tensor(np.ascontiguousarray(audio), float32), \
        convert_to_tensor(np.int32(rate), int32)


def encode_wav(audio, sample_rate, name=None):
    """16-bit PCM WAV bytes of float samples [samples, channels] in
    [-1, 1] (clipped), at sample_rate."""
    x = np.asarray(convert_to_tensor(audio).numpy(), np.float32)
    if x.ndim != 2:
        raise errors.InvalidArgumentError(
            f"kiln.audio.encode_wav: expects [samples, channels], got shape {list(x.shape)}",
            errors.user_location())
    # (in float32, as TensorFlow's kernel rounds)
    pcm = np.clip(np.round(x * np.float32(32767.0)), -32768, 32767).astype("<i2")
    out = _pyio.BytesIO()
    with wave.open(out, "wb") as f:
        f.setnchannels(x.shape[1])
        f.setsampwidth(2)
        f.setframerate(int(np.asarray(convert_to_tensor(sample_rate).numpy())))
        f.writeframes(pcm.tobytes())
    return convert_to_tensor(np.array(out.getvalue(), dtype=object), string)
