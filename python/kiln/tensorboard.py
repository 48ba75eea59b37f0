"""TensorBoard event files, written with the standard library.

An event file is a sequence of records (TFRecord framing): the length as a
little-endian uint64, its masked CRC-32C, the bytes, their masked CRC-32C.
Each record is an `Event` protocol buffer: wall time (field 1, double),
step (field 2, int64) and either the file version (field 3, string) or a
`Summary` (field 5) of `Value`s, each a tag (field 1) and a simple float
value (field 2). These few fields are encoded by hand here.
"""

import os
import socket
import struct
import time


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli) of `data`."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n):
    out = bytearray()
    n &= (1 << 64) - 1  # (negative int64s as their two's complement)
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, wire_type, payload):
    return _varint((number << 3) | wire_type) + payload


def _bytes_field(number, data):
    return _field(number, 2, _varint(len(data)) + data)


def _histogram(values, buckets=30):
    """A HistogramProto of `values`: min (1), max (2), num (3), sum (4),
    sum_squares (5), and `buckets` equal-width buckets between min and max
    (TensorFlow 2's summary.histogram): their right edges (6, packed
    doubles) and counts (7)."""
    import numpy as np
    v = np.asarray(values, np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        low = high = 0.0
        edges, counts = np.array([0.0]), np.array([0.0])
    else:
        low, high = float(v.min()), float(v.max())
        if low == high:   # (one value: one bucket around it)
            edges, counts = np.array([high]), np.array([float(v.size)])
        else:
            counts, limits = np.histogram(v, bins=buckets, range=(low, high))
            edges, counts = limits[1:], counts.astype(np.float64)
    packed = lambda a: struct.pack(f"<{len(a)}d", *a)   # noqa: E731
    return (_field(1, 1, struct.pack("<d", low)) + _field(2, 1, struct.pack("<d", high)) +
            _field(3, 1, struct.pack("<d", float(v.size))) +
            _field(4, 1, struct.pack("<d", float(v.sum()))) +
            _field(5, 1, struct.pack("<d", float((v * v).sum()))) +
            _bytes_field(6, packed(edges)) + _bytes_field(7, packed(counts)))


def _image(height, width, channels, png):
    """A Summary.Image: height (1), width (2), colorspace (3: the channel
    count), encoded_image_string (4)."""
    return (_field(1, 0, _varint(int(height))) + _field(2, 0, _varint(int(width))) +
            _field(3, 0, _varint(int(channels))) + _bytes_field(4, png))


def _text(value):
    """Summary.Value's metadata (9: the "text" plugin) and tensor (8: a
    DT_STRING (7) TensorProto of one string, string_val 8), as TensorFlow
    2's summary.text writes them."""
    metadata = _bytes_field(1, _bytes_field(1, b"text"))
    tensor = (_field(1, 0, _varint(7)) + _bytes_field(2, b"") +
              _bytes_field(8, value))
    return _bytes_field(9, metadata) + _bytes_field(8, tensor)


def event(wall_time, step=0, file_version=None, scalars=None, histograms=None,
          images=None, buckets=30, texts=None):
    """An Event message: the file version, or a summary of scalars,
    histograms and images (Summary.Value's simple_value (2), histo (5) and
    image (4): `images` maps a tag to (height, width, channels, PNG
    bytes))."""
    out = _field(1, 1, struct.pack("<d", wall_time)) + _field(2, 0, _varint(int(step)))
    if file_version is not None:
        out += _bytes_field(3, file_version.encode())
    values = [_bytes_field(1, _bytes_field(1, tag.encode()) +
                           _field(2, 5, struct.pack("<f", float(value))))
              for tag, value in (scalars or {}).items()]
    values += [_bytes_field(1, _bytes_field(1, tag.encode()) +
                            _bytes_field(5, _histogram(array, buckets)))
               for tag, array in (histograms or {}).items()]
    values += [_bytes_field(1, _bytes_field(1, tag.encode()) + _bytes_field(4, _image(*image)))
               for tag, image in (images or {}).items()]
    values += [_bytes_field(1, _bytes_field(1, tag.encode()) + _text(text))
               for tag, text in (texts or {}).items()]
    if values:
        out += _bytes_field(5, b"".join(values))
    return out


def record(data):
    """`data` framed as one TFRecord."""
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", masked_crc32c(length)) + data +
            struct.pack("<I", masked_crc32c(data)))


class EventFileWriter:
    """Appends scalar summaries to a new event file in `logdir`."""

    def __init__(self, logdir):
        os.makedirs(logdir, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
        self.path = os.path.join(logdir, name)
        self._file = open(self.path, "ab")
        self._file.write(record(event(time.time(), 0, file_version="brain.Event:2")))
        self._file.flush()

    def scalars(self, step, values, wall_time=None):
        self._file.write(record(event(time.time() if wall_time is None else wall_time,
                                      step, scalars=values)))
        self._file.flush()

    def histograms(self, step, arrays, buckets=30):
        self._file.write(record(event(time.time(), step, histograms=arrays,
                                      buckets=buckets)))
        self._file.flush()

    def images(self, step, images):
        self._file.write(record(event(time.time(), step, images=images)))
        self._file.flush()

    def texts(self, step, texts):
        self._file.write(record(event(time.time(), step, texts=texts)))
        self._file.flush()

    def close(self):
        if self._file:
            self._file.close()
            self._file = None
