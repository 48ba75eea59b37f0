"""TFRecord files and ``tf.train.Example`` messages, in pure Python.

This module reads and writes the two on-disk formats that TensorFlow's input
pipelines are built on, byte for byte as TensorFlow does, without TensorFlow
and without the protobuf runtime:

* **CRC-32C.**  `crc32c` is the Castagnoli CRC (RFC 3720, reflected
  polynomial ``0x82F63B78``) and `masked_crc` the rotated-and-offset form
  TFRecord stores (``tensorflow/core/lib/hash/crc32c.h``, ``Mask``).
* **TFRecord framing** (``tensorflow/core/lib/io/record_writer.cc`` and
  ``record_reader.cc``).  A file is a sequence of records, each::

      uint64  length            (little-endian)
      uint32  masked_crc(length's 8 bytes)
      bytes   data[length]
      uint32  masked_crc(data)

  optionally compressed as a whole with ``"GZIP"`` (a gzip stream) or
  ``"ZLIB"`` (a zlib stream: deflate with the 2-byte zlib header and adler32
  trailer, which is what TensorFlow's ``ZlibCompressionOptions::DEFAULT()``,
  ``window_bits = MAX_WBITS``, writes).  `encode_record`, `read_records`,
  `open_records` and `RecordWriter` implement it.
* **The ``tf.train.Example`` wire format** (``tensorflow/core/example/
  example.proto`` and ``feature.proto``)::

      message Example   { Features features = 1; }
      message Features  { map<string, Feature> feature = 1; }
      message Feature   { oneof kind { BytesList bytes_list = 1;
                                       FloatList float_list = 2;
                                       Int64List int64_list = 3; } }
      message BytesList { repeated bytes value = 1; }
      message FloatList { repeated float value = 1 [packed = true]; }
      message Int64List { repeated int64 value = 1 [packed = true]; }

  `encode_example` writes what protobuf's deterministic serializer writes
  for such a message (map entries sorted by key, packed repeated fields);
  `decode_example` parses anything a conforming protobuf parser accepts for
  it (packed or unpacked repeated fields, unknown fields of every wire type,
  map entries in any order, repeated occurrences merged as protobuf merges
  them) and raises `ValueError` naming the problem for anything else.

Features are given and returned as ``{key: (kind, values)}`` with ``kind``
one of ``"bytes"``, ``"float"`` and ``"int64"``.

This module imports nothing from kiln (only the standard library and NumPy),
so any kiln module may import it.
"""

import gzip
import io
import struct
import zlib

import numpy as np

__all__ = ["crc32c", "masked_crc", "unmask_crc", "encode_record",
           "read_records", "open_records", "RecordWriter", "encode_example",
           "decode_example", "KINDS"]

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF

# ---------------------------------------------------------------------------
# CRC-32C
# ---------------------------------------------------------------------------

_POLY = 0x82F63B78  # Castagnoli polynomial 0x1EDC6F41, bit-reversed.


def _make_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()
_TABLE_NP = np.array(_TABLE, dtype=np.uint32)

# Inputs at least this long go through the NumPy lane algorithm.
_NUMPY_THRESHOLD = 1 << 15


def _crc_update_py(state, data):
    """Advances the raw CRC register `state` (no pre/post inversion) over the
    bytes `data`, one table look-up per byte."""
    table = _TABLE
    for b in data:
        state = table[(state ^ b) & 0xFF] ^ (state >> 8)
    return state


def _gf2_apply(mat, vec):
    """Applies the 32x32 GF(2) matrix `mat` (a list of 32 column ints) to the
    32-bit vector `vec`."""
    out = 0
    i = 0
    while vec:
        if vec & 1:
            out ^= mat[i]
        vec >>= 1
        i += 1
    return out


def _gf2_mul(a, b):
    """The matrix product a @ b (apply b first) of two column lists."""
    return [_gf2_apply(a, col) for col in b]


# The linear map "feed one zero byte into the raw register".
_ZERO_BYTE = [_crc_update_py(1 << i, b"\0") for i in range(32)]


def _zeros_operator(n):
    """The matrix that advances the raw register over `n` zero bytes."""
    result = [1 << i for i in range(32)]
    power = _ZERO_BYTE
    while n:
        if n & 1:
            result = _gf2_mul(power, result)
        n >>= 1
        if n:
            power = _gf2_mul(power, power)
    return result


def _byte_tables(mat):
    """Four 256-entry tables T such that applying `mat` to x equals
    T[0][x & 255] ^ T[1][(x >> 8) & 255] ^ T[2][...] ^ T[3][x >> 24]."""
    cols = np.array(mat, dtype=np.uint32)
    tables = np.zeros((4, 256), dtype=np.uint32)
    for j in range(4):
        t = tables[j]
        for k in range(8):
            t[1 << k:2 << k] = t[:1 << k] ^ cols[8 * j + k]
    return tables


def _crc_update_numpy(state, data):
    """Same as `_crc_update_py`, vectorised with NumPy.

    The CRC register is linear over GF(2) in (initial state, data).  The data
    is cut into `lanes` consecutive slices of `width` bytes, all advanced
    side by side (one vectorised table step per byte position), the first
    lane from `state` and the rest from 0; the lane registers are then
    folded pairwise: reg(A + B) = Z_len(B)(reg(A)) ^ reg(B), where
    Z_len(B) is the operator "feed len(B) zero bytes".  Leading all-zero
    lanes started from 0 contribute nothing, so the lane count is padded to
    a power of two.  The tail that does not fill a lane is finished with the
    per-byte loop.
    """
    data = memoryview(data).cast("B")
    n = len(data)
    width = max(64, min(4096, int(n ** 0.5)))
    lanes = n // width
    if lanes < 2:
        return _crc_update_py(state, data)
    padded = 1 << (lanes - 1).bit_length()
    body = np.frombuffer(data, dtype=np.uint8, count=lanes * width)
    columns = np.ascontiguousarray(body.reshape(lanes, width).T)
    regs = np.zeros(padded, dtype=np.uint32)
    regs[padded - lanes] = state
    live = regs[padded - lanes:]
    table = _TABLE_NP
    for column in columns:
        live = table[(live ^ column) & 0xFF] ^ (live >> 8)
    regs[padded - lanes:] = live
    step = _zeros_operator(width)
    while regs.size > 1:
        t = _byte_tables(step)
        a = regs[0::2]
        regs = (t[0][a & 0xFF] ^ t[1][(a >> 8) & 0xFF]
                ^ t[2][(a >> 16) & 0xFF] ^ t[3][a >> 24] ^ regs[1::2])
        step = _gf2_mul(step, step)
    return _crc_update_py(int(regs[0]), data[lanes * width:])


def crc32c_python(data):
    """crc32c in Python and NumPy alone (what crc32c uses without
    Debian's python3-crcmod): a 256-entry table for short inputs (about
    15 MB/s), a vectorised NumPy form of the same computation for long ones
    (about 100 MB/s)."""
    data = memoryview(data).cast("B")
    if len(data) >= _NUMPY_THRESHOLD:
        return _crc_update_numpy(_M32, data) ^ _M32
    return _crc_update_py(_M32, data) ^ _M32


def _fast_crc32c():
    """crcmod's C implementation of CRC-32C when it is installed (python3-
    crcmod, about 400 MB/s), checked on RFC 3720's vector; else None."""
    try:
        from crcmod.predefined import mkCrcFun
        fn = mkCrcFun("crc-32c")
    except Exception:  # (not installed, or no such predefined CRC)
        return None
    return fn if fn(b"123456789") == 0xE3069283 else None


_FAST_CRC = _fast_crc32c()


def crc32c(data):
    """Returns the CRC-32C (Castagnoli) of the bytes-like `data` as an int in
    [0, 2**32).

    This is the CRC of RFC 3720 (iSCSI) section B.4 and of TensorFlow's
    ``crc32c::Value``: reflected polynomial ``0x82F63B78``, register
    initialised to ``0xFFFFFFFF`` and inverted at the end;
    ``crc32c(b"123456789") == 0xE3069283``.  Computed by crcmod's C code
    when python3-crcmod is installed, else by `crc32c_python`.
    """
    if _FAST_CRC is not None:
        return _FAST_CRC(bytes(data) if not isinstance(data, bytes) else data)
    return crc32c_python(data)


_MASK_DELTA = 0xA282EAD8


def masked_crc(data):
    """Returns the masked CRC-32C of `data` that TFRecord files store:
    ``crc32c(data)`` rotated right by 15 bits plus ``0xa282ead8``, modulo
    2**32 (TensorFlow's ``crc32c::Mask``).  Masking keeps the CRC of data
    that itself contains CRCs from degenerating."""
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & _M32) + _MASK_DELTA) & _M32


def unmask_crc(masked):
    """Inverts the masking of `masked_crc`: returns the plain CRC-32C
    (TensorFlow's ``crc32c::Unmask``)."""
    rot = (masked - _MASK_DELTA) & _M32
    return ((rot >> 17) | (rot << 15)) & _M32


# ---------------------------------------------------------------------------
# TFRecord framing
# ---------------------------------------------------------------------------

_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_HEADER = 12   # uint64 length + uint32 masked crc of it
_FOOTER = 4    # uint32 masked crc of the data

_COMPRESSION_TYPES = (None, "", "GZIP", "ZLIB")


def _check_compression(compression_type):
    if compression_type not in _COMPRESSION_TYPES:
        raise ValueError(
            f"unsupported TFRecord compression_type {compression_type!r}: "
            "expected None, '', 'GZIP' or 'ZLIB'")
    return compression_type or None


def _as_record(data):
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"a TFRecord record must be bytes, not "
                    f"{type(data).__name__}")


def encode_record(data):
    """Returns the bytes of one TFRecord record holding `data` (bytes-like;
    a str is encoded as UTF-8): the length as a little-endian uint64, the
    masked CRC-32C of those 8 bytes, the data, and the masked CRC-32C of the
    data, both CRCs as little-endian uint32."""
    data = _as_record(data)
    length = _U64.pack(len(data))
    return b"".join((length, _U32.pack(masked_crc(length)), data,
                     _U32.pack(masked_crc(data))))


def _read_exactly(fileobj, n):
    """Reads up to `n` bytes, looping over short reads; fewer means EOF."""
    chunks = []
    while n > 0:
        chunk = fileobj.read(min(n, 1 << 24))
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_records(fileobj, path_for_errors="<stream>"):
    """Yields the data of each record of the TFRecord stream `fileobj` (any
    object with a binary ``read(n)``), checking both CRCs of every record.

    The stream must end exactly after a record.  A truncated record, or one
    whose length or data does not match its CRC, raises `ValueError` naming
    `path_for_errors` and the byte offset of the record's start in the
    (uncompressed) stream, e.g. ``"corrupted record at offset 17 in f.tfrecord
    (data CRC mismatch)"``.
    """
    offset = 0
    where = path_for_errors
    while True:
        header = _read_exactly(fileobj, _HEADER)
        if not header:
            return
        if len(header) < _HEADER:
            raise ValueError(
                f"truncated record at offset {offset} in {where}: "
                f"{len(header)} of the {_HEADER} header bytes present")
        length_bytes = header[:8]
        (stored,) = _U32.unpack_from(header, 8)
        if masked_crc(length_bytes) != stored:
            raise ValueError(f"corrupted record at offset {offset} in {where} "
                             "(length CRC mismatch)")
        (length,) = _U64.unpack(length_bytes)
        body = _read_exactly(fileobj, length + _FOOTER)
        if len(body) < length + _FOOTER:
            raise ValueError(
                f"truncated record at offset {offset} in {where}: "
                f"{_HEADER + len(body)} of its {_HEADER + length + _FOOTER} "
                "bytes present")
        data = body[:length]
        (stored,) = _U32.unpack_from(body, length)
        if masked_crc(data) != stored:
            raise ValueError(f"corrupted record at offset {offset} in {where} "
                             "(data CRC mismatch)")
        offset += _HEADER + length + _FOOTER
        yield data


class _ZlibReader(io.RawIOBase):
    """A readable binary stream that inflates a zlib-wrapped file (several
    concatenated zlib streams are read one after the other)."""

    def __init__(self, raw, path):
        super().__init__()
        self._raw = raw
        self._path = path
        self._inflater = zlib.decompressobj(zlib.MAX_WBITS)
        self._buffer = b""
        self._eof = False

    def readable(self):
        return True

    def read(self, n=-1):
        if n is None or n < 0:
            n = 1 << 62
        while len(self._buffer) < n and not self._eof:
            self._fill(max(n - len(self._buffer), 1 << 16))
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def _fill(self, want):
        d = self._inflater
        try:
            if d.unconsumed_tail:
                self._buffer += d.decompress(d.unconsumed_tail, want)
                return
            if d.eof:
                rest = d.unused_data or self._raw.read(1 << 16)
                if not rest:
                    self._eof = True
                    return
                d = self._inflater = zlib.decompressobj(zlib.MAX_WBITS)
                self._buffer += d.decompress(rest, want)
                return
            chunk = self._raw.read(1 << 16)
            if not chunk:
                raise ValueError(f"truncated ZLIB stream in {self._path}")
            self._buffer += d.decompress(chunk, want)
        except zlib.error as e:
            raise ValueError(f"corrupted ZLIB stream in {self._path}: {e}"
                             ) from None

    def close(self):
        if not self.closed:
            self._raw.close()
        super().close()


def open_records(path, compression_type=None):
    """Yields the data of each record of the TFRecord file at `path`.

    `compression_type` is ``None`` or ``""`` (an uncompressed file),
    ``"GZIP"`` or ``"ZLIB"``, as in ``tf.data.TFRecordDataset``.  The file is
    opened lazily and closed when the iteration ends.  Errors (truncation,
    CRC mismatch, a broken compressed stream) raise `ValueError` naming the
    path; offsets are in the uncompressed stream.
    """
    kind = _check_compression(compression_type)
    where = str(path)

    def generate():
        raw = open(path, "rb")
        if kind == "GZIP":
            stream = gzip.GzipFile(fileobj=raw, mode="rb")
        elif kind == "ZLIB":
            stream = _ZlibReader(raw, where)
        else:
            stream = raw
        try:
            try:
                yield from read_records(stream, where)
            except (EOFError, gzip.BadGzipFile, zlib.error) as e:
                raise ValueError(
                    f"corrupted or truncated {kind} stream in {where}: {e}"
                ) from None
        finally:
            stream.close()
            raw.close()

    return generate()


class _ZlibWriter:
    """A writable binary stream that deflates into a zlib-wrapped file."""

    def __init__(self, raw, level):
        self._raw = raw
        self._deflater = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS)

    def write(self, data):
        self._raw.write(self._deflater.compress(data))

    def flush(self):
        self._raw.write(self._deflater.flush(zlib.Z_SYNC_FLUSH))
        self._raw.flush()

    def close(self):
        self._raw.write(self._deflater.flush(zlib.Z_FINISH))
        self._raw.close()


class RecordWriter:
    """Writes a TFRecord file record by record, like ``tf.io.TFRecordWriter``.

    `compression_type` is ``None``/``""``, ``"GZIP"`` or ``"ZLIB"``;
    `compression_level` is zlib's (0-9, default 6 = ``Z_DEFAULT_COMPRESSION``,
    TensorFlow's default).  Gzip output has no file name and a zero
    modification time, as TensorFlow writes it, so equal inputs give equal
    files.  Use as a context manager or call `close` to finish the file.
    """

    def __init__(self, path, compression_type=None, compression_level=6):
        kind = _check_compression(compression_type)
        self.path = path
        self._raw = open(path, "wb")
        if kind == "GZIP":
            self._stream = gzip.GzipFile(filename="", mode="wb",
                                         fileobj=self._raw,
                                         compresslevel=compression_level,
                                         mtime=0)
        elif kind == "ZLIB":
            self._stream = _ZlibWriter(self._raw, compression_level)
        else:
            self._stream = self._raw
        self._closed = False

    def write(self, record):
        """Appends one record holding the bytes `record` (a str is encoded
        as UTF-8)."""
        if self._closed:
            raise ValueError(f"write to closed RecordWriter for {self.path}")
        self._stream.write(encode_record(record))

    def flush(self):
        """Pushes everything written so far to the file (for compressed
        files, a zlib sync flush, so a reader sees all complete records)."""
        if self._closed:
            raise ValueError(f"flush of closed RecordWriter for {self.path}")
        self._stream.flush()
        if self._stream is not self._raw:
            self._raw.flush()

    def close(self):
        """Finishes the compressed stream, if any, and closes the file.
        Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        try:
            self._stream.close()
        finally:
            self._raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---------------------------------------------------------------------------
# Protobuf wire format of tf.train.Example
# ---------------------------------------------------------------------------

KINDS = ("bytes", "float", "int64")
# Feature's oneof field numbers.
_KIND_FIELD = {"bytes": 1, "float": 2, "int64": 3}
_FIELD_KIND = {1: "bytes", 2: "float", 3: "int64"}

_VARINT, _FIXED64, _LEN, _SGROUP, _EGROUP, _FIXED32 = 0, 1, 2, 3, 4, 5


def _put_varint(out, v):
    """Appends the base-128 varint of the non-negative int `v` to the
    bytearray `out`."""
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def _varint_bytes(v):
    out = bytearray()
    _put_varint(out, v)
    return bytes(out)


def _put_len_field(out, field, payload):
    out.append((field << 3) | _LEN)   # every field number here is < 16
    _put_varint(out, len(payload))
    out += payload


def _encode_int64_values(values):
    """Packed varints of int64 values (negatives as 64-bit two's complement,
    hence 10 bytes), vectorised."""
    arr = np.asarray(values)
    if arr.size == 0:
        return b""
    if arr.dtype.kind not in "iub":
        try:
            ints = [int(v) for v in arr.ravel()]
        except (TypeError, ValueError):
            raise TypeError("int64 feature values must be integers") from None
        if any(v != x for v, x in zip(ints, arr.ravel())):
            raise TypeError("int64 feature values must be integers")
        if any(v < -(1 << 63) or v >= (1 << 63) for v in ints):
            raise ValueError("int64 feature value out of range")
        arr = np.array(ints, dtype=np.int64)
    elif arr.dtype == np.uint64 and (arr >= np.uint64(1 << 63)).any():
        raise ValueError("int64 feature value out of range")
    u = arr.astype(np.int64).ravel().view(np.uint64)
    # Bytes needed: 1 + (bit_length - 1) // 7, at least 1; 10 for negatives.
    nbytes = np.ones(u.size, dtype=np.int64)
    for k in range(1, 10):
        nbytes += u >= (np.uint64(1) << np.uint64(7 * k))
    starts = np.concatenate(([0], np.cumsum(nbytes)[:-1]))
    out = np.empty(int(nbytes.sum()), dtype=np.uint8)
    for k in range(10):
        sel = nbytes > k
        chunk = (u[sel] >> np.uint64(7 * k)) & np.uint64(0x7F)
        more = (nbytes[sel] > k + 1).astype(np.uint64) << np.uint64(7)
        out[starts[sel] + k] = (chunk | more).astype(np.uint8)
    return out.tobytes()


def _encode_feature(key, kind, values):
    if kind is None:                   # an empty Feature: no kind set
        if len(values):
            raise ValueError(f"feature {key!r}: kind None takes no values")
        return bytearray()
    if kind not in _KIND_FIELD:
        raise ValueError(f"feature {key!r}: kind must be one of {KINDS}, "
                         f"not {kind!r}")
    if kind == "bytes":
        if isinstance(values, (bytes, bytearray, str)):
            raise TypeError(f"feature {key!r}: bytes values must be a list "
                            "of bytes, not a single value")
        inner = bytearray()
        for v in values:
            if isinstance(v, str):
                v = v.encode("utf-8")
            elif isinstance(v, np.bytes_):
                v = bytes(v)
            elif not isinstance(v, (bytes, bytearray, memoryview)):
                raise TypeError(f"feature {key!r}: bytes values must be "
                                f"bytes, not {type(v).__name__}")
            _put_len_field(inner, 1, bytes(v))
    elif kind == "float":
        try:
            arr = np.asarray(values, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise TypeError(f"feature {key!r}: float values must be "
                            "numbers") from None
        inner = bytearray()
        if arr.size:
            with np.errstate(over="ignore"):
                packed = arr.astype("<f4").tobytes()
            _put_len_field(inner, 1, packed)
    else:
        try:
            packed = _encode_int64_values(values)
        except (TypeError, ValueError) as e:
            raise type(e)(f"feature {key!r}: {e}") from None
        inner = bytearray()
        if packed:
            _put_len_field(inner, 1, packed)
    feature = bytearray()
    _put_len_field(feature, _KIND_FIELD[kind], inner)
    return feature


def encode_example(features):
    """Serialises a ``tf.train.Example``.

    `features` maps each feature name (str, or UTF-8 bytes) to ``(kind,
    values)``: kind ``"bytes"`` with a list of bytes (str items are encoded
    as UTF-8), ``"float"`` with numbers (stored as float32), or ``"int64"``
    with ints in [-2**63, 2**63).  The output is what protobuf's
    deterministic serializer writes for the same message: map entries sorted
    by key (bytewise on UTF-8, which is code-point order), each entry's key
    and value always present, float and int64 lists packed, and a feature
    with an empty list still carrying its (empty) list message so its kind
    survives.  Kind ``None`` (with no values) writes an empty ``Feature``,
    which `decode_example` returns as ``(None, [])``.  An empty `features`
    gives an Example whose (empty) ``features`` field is present,
    ``b"\\n\\x00"``.
    """
    entries = []
    for key, spec in features.items():
        kbytes = key.encode("utf-8") if isinstance(key, str) else bytes(key)
        try:
            kbytes.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"feature key {key!r} is not valid UTF-8"
                             ) from None
        try:
            kind, values = spec
        except (TypeError, ValueError):
            raise TypeError(f"feature {key!r}: expected (kind, values), got "
                            f"{spec!r}") from None
        entries.append((kbytes, _encode_feature(key, kind, values)))
    entries.sort(key=lambda e: e[0])
    feats = bytearray()
    for kbytes, feature in entries:
        entry = bytearray()
        _put_len_field(entry, 1, kbytes)
        _put_len_field(entry, 2, feature)
        _put_len_field(feats, 1, entry)
    out = bytearray()
    _put_len_field(out, 1, feats)
    return bytes(out)


class _Malformed(Exception):
    pass


def _read_varint(buf, pos, end):
    """Decodes a varint at buf[pos:end]; returns (value mod 2**64, new pos)."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise _Malformed(f"truncated varint at byte {pos}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & _M64, pos
        shift += 7
        if shift >= 70:
            raise _Malformed(f"varint longer than 10 bytes ending at byte "
                             f"{pos}")


def _skip_group(buf, pos, end, field):
    """Skips a group's content up to and including its end-group tag."""
    while True:
        tag_pos = pos
        if pos >= end:
            raise _Malformed(f"group of field {field} not closed before "
                             f"byte {end}")
        tag, pos = _read_tag(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if wire == _EGROUP:
            if number != field:
                raise _Malformed(f"end-group tag of field {number} at byte "
                                 f"{tag_pos} closes a group of field {field}")
            return pos
        pos = _skip_value(buf, pos, end, number, wire, tag_pos)[0]


def _skip_value(buf, pos, end, number, wire, tag_pos):
    """Reads the value of a field whose tag ended at `pos`; returns (new pos,
    value): an int for varints, (start, stop) for everything else."""
    if number < 1 or number > 0x1FFFFFFF:
        raise _Malformed(f"invalid field number {number} at byte {tag_pos}")
    if wire == _VARINT:
        value, pos = _read_varint(buf, pos, end)
        return pos, value
    if wire == _LEN:
        length, pos = _read_length(buf, pos, end, number, tag_pos)
        if length > end - pos:
            raise _Malformed(f"length-delimited field {number} at byte "
                             f"{tag_pos} runs {length - (end - pos)} bytes "
                             "past the end of its message")
        return pos + length, (pos, pos + length)
    if wire == _FIXED32 or wire == _FIXED64:
        size = 4 if wire == _FIXED32 else 8
        if size > end - pos:
            raise _Malformed(f"truncated fixed{size * 8} field {number} at "
                             f"byte {tag_pos}")
        return pos + size, (pos, pos + size)
    if wire == _SGROUP:
        start = pos
        pos = _skip_group(buf, pos, end, number)
        return pos, (start, pos)
    if wire == _EGROUP:
        raise _Malformed(f"unexpected end-group tag of field {number} at byte "
                         f"{tag_pos}")
    raise _Malformed(f"invalid wire type {wire} at byte {tag_pos}")


def _read_tag(buf, pos, end):
    """Decodes a tag varint as protobuf's C++ parser does: at most 5 bytes,
    the value taken modulo 2**32."""
    tag_pos = pos
    result = 0
    for shift in range(0, 35, 7):
        if pos >= end:
            raise _Malformed(f"truncated tag at byte {tag_pos}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & _M32, pos
    raise _Malformed(f"tag varint longer than 5 bytes at byte {tag_pos}")


def _read_length(buf, pos, end, number, tag_pos):
    """Decodes the length of a length-delimited field as protobuf's C++
    parser does: at most 5 bytes, below 2**31."""
    result = 0
    for shift in range(0, 35, 7):
        if pos >= end:
            raise _Malformed(f"truncated length of field {number} at byte "
                             f"{tag_pos}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            if result >= 1 << 31:
                break
            return result, pos
    raise _Malformed(f"invalid length of field {number} at byte {tag_pos} "
                     "(2 GiB or more, or a varint longer than 5 bytes)")


def _fields(buf, pos, end):
    """Yields (field number, wire type, value) for every field of the
    message in buf[pos:end]; see `_skip_value` for `value`."""
    while pos < end:
        tag_pos = pos
        tag, pos = _read_tag(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        pos, value = _skip_value(buf, pos, end, number, wire, tag_pos)
        yield number, wire, value


def _decode_packed_varints(buf, start, stop):
    """Decodes the packed varints in buf[start:stop] to an int64 array
    (vectorised; each value taken modulo 2**64 as protobuf's int64 does)."""
    b = np.frombuffer(buf, dtype=np.uint8, count=stop - start, offset=start)
    if b.size == 0:
        return np.empty(0, dtype=np.int64)
    if b[-1] >= 0x80:
        raise _Malformed(f"truncated varint in packed int64 field ending at "
                         f"byte {stop}")
    ends = np.flatnonzero(b < 0x80)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts + 1
    if lengths.max() > 10:
        at = start + int(starts[np.argmax(lengths > 10)])
        raise _Malformed(f"varint longer than 10 bytes at byte {at}")
    position = np.arange(b.size) - np.repeat(starts, lengths)
    parts = (b & 0x7F).astype(np.uint64) << (position * 7).astype(np.uint64)
    return np.bitwise_or.reduceat(parts, starts).view(np.int64)


def _bytes_list_part(buf, start, stop):
    """The values of one serialised BytesList, as a list of bytes."""
    return [buf[value[0]:value[1]]
            for number, wire, value in _fields(buf, start, stop)
            if number == 1 and wire == _LEN]


def _float_list_part(buf, start, stop):
    """The values of one serialised FloatList (packed chunks and unpacked
    fixed32 values, in order), as little-endian float32 bytes."""
    chunks = []
    for number, wire, value in _fields(buf, start, stop):
        if number != 1:
            continue
        if wire == _LEN:
            if (value[1] - value[0]) % 4:
                raise _Malformed(
                    f"packed float field at byte {value[0]} has "
                    f"{value[1] - value[0]} bytes, not a multiple of 4")
            chunks.append(buf[value[0]:value[1]])
        elif wire == _FIXED32:
            chunks.append(buf[value[0]:value[1]])
    return b"".join(chunks)


def _int64_list_part(buf, start, stop):
    """The values of one serialised Int64List (packed chunks and unpacked
    varints, in order), as a list of int64 arrays."""
    parts = []
    singles = []
    for number, wire, value in _fields(buf, start, stop):
        if number != 1:
            continue
        if wire == _VARINT:
            singles.append(value - (1 << 64) if value >> 63 else value)
        elif wire == _LEN:
            if singles:
                parts.append(np.array(singles, dtype=np.int64))
                singles = []
            parts.append(_decode_packed_varints(buf, *value))
    if singles:
        parts.append(np.array(singles, dtype=np.int64))
    return parts


_LIST_PART = {"bytes": _bytes_list_part, "float": _float_list_part,
              "int64": _int64_list_part}


def _decode_feature(buf, ranges):
    """Decodes a Feature serialised across `ranges` (several occurrences of
    one message field merge, i.e. parse as their concatenation).  Every list
    is parsed, even one a later oneof member replaces, so that malformed
    content is reported as protobuf reports it."""
    kind = None
    parts = []
    for start, stop in ranges:
        for number, wire, value in _fields(buf, start, stop):
            if number in _FIELD_KIND and wire == _LEN:
                if _FIELD_KIND[number] != kind:   # another oneof member
                    kind = _FIELD_KIND[number]    # clears the previous one
                    parts = []
                parts.append(_LIST_PART[kind](buf, *value))
    if kind == "bytes":
        return kind, [v for part in parts for v in part]
    if kind == "float":
        return kind, np.frombuffer(b"".join(parts), dtype="<f4").astype(
            np.float32)
    if kind == "int64":
        arrays = [a for part in parts for a in part]
        if not arrays:
            return kind, np.empty(0, dtype=np.int64)
        return kind, np.concatenate(arrays).astype(np.int64)
    return None, []


def decode_example(data):
    """Parses a serialised ``tf.train.Example``.

    Returns ``{key: (kind, values)}``: ``("bytes", [bytes, ...])``,
    ``("float", float32 array)`` or ``("int64", int64 array)``; a feature
    whose oneof is unset (an empty ``Feature``) is ``(None, [])``.  Accepts
    whatever protobuf accepts for this schema: packed and unpacked repeated
    float/int64 fields (mixed too), non-minimal varints, unknown fields of
    any wire type (groups included), fields with an unexpected wire type
    (treated as unknown, as protobuf does), map entries in any order (a
    repeated key keeps its last entry), and repeated occurrences of a
    message field (merged).  Raises `ValueError` saying what is wrong and at
    which byte for a malformed message: truncation, an over-long varint, a
    bad wire type or field number, an unmatched group tag, a packed float
    field whose length is not a multiple of 4, or a key that is not UTF-8.
    """
    buf = bytes(data)
    try:
        entries = {}
        for number, wire, value in _fields(buf, 0, len(buf)):
            if number != 1 or wire != _LEN:
                continue
            for fnum, fwire, fvalue in _fields(buf, *value):  # Features
                if fnum != 1 or fwire != _LEN:
                    continue
                name = ""
                feature_ranges = []
                for enum, ewire, evalue in _fields(buf, *fvalue):  # entry
                    if enum == 1 and ewire == _LEN:
                        key = buf[evalue[0]:evalue[1]]
                        try:
                            name = key.decode("utf-8")
                        except UnicodeDecodeError:
                            raise _Malformed(
                                f"feature key {key!r} at byte {evalue[0]} "
                                "is not valid UTF-8") from None
                    elif enum == 2 and ewire == _LEN:
                        feature_ranges.append(evalue)
                entries.pop(name, None)    # keep wire order of last entry
                entries[name] = _decode_feature(buf, feature_ranges)
        return entries
    except _Malformed as e:
        raise ValueError(f"malformed tf.train.Example ({len(buf)} bytes): {e}"
                         ) from None
