"""Byte-level tests of kiln/_tfrecord.py: CRC-32C, TFRecord framing (plain,
GZIP, ZLIB) and the tf.train.Example protobuf wire format.

The module is loaded straight from the source tree, so no rebuild is needed.
Oracles, none of them the module itself:
* CRC-32C: the test vectors of RFC 3720 (iSCSI) appendix B.4, the "check"
  value of the CRC catalogue, and a bit-at-a-time implementation written
  here from the polynomial's definition.
* TFRecord framing: bytes derived by hand from the format's definition
  (TensorFlow's record_writer.cc) and the mask of crc32c.h.
* Example: the protobuf runtime (python3-protobuf), with the schema of
  tensorflow/core/example/{example,feature}.proto built here as a
  FileDescriptorProto, and byte strings derived by hand from the protobuf
  wire-format specification.
"""

import gzip
import importlib.util
import io
import os
import random
import struct
import warnings
import zlib

import numpy as np
import pytest

_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                     "python", "kiln", "_tfrecord.py")
_spec = importlib.util.spec_from_file_location("kiln_tfrecord_under_test",
                                               _PATH)
tfr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tfr)


# ---------------------------------------------------------------------------
# CRC-32C
# ---------------------------------------------------------------------------

def _crc32c_bitwise(data, crc=0xFFFFFFFF):
    """CRC-32C one bit at a time, straight from the definition (reflected
    polynomial 0x82F63B78, init and final xor 0xFFFFFFFF)."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _mask(crc):
    """TensorFlow's crc32c::Mask, from crc32c.h: rotate right 15, add
    0xa282ead8."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) \
        & 0xFFFFFFFF


# RFC 3720, "Internet Small Computer Systems Interface (iSCSI)", appendix
# B.4 "CRC Examples": the CRC-32C of 32 bytes of zeroes is aa 36 91 8a, of
# 32 bytes of 0xff is 43 ab a8 62, of 32 bytes incrementing 00..1f is
# 4e 79 dd 46 and of 32 bytes decrementing 1f..00 is 5c db 3f 11 (bytes as
# they appear on the wire, i.e. the CRC little-endian).
RFC3720_VECTORS = [
    (bytes(32), 0x8A9136AA),
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
]


# (crc32c uses crcmod's C code when python3-crcmod is installed; the
# Python/NumPy fallback is checked the same way)
CRCS = [tfr.crc32c, tfr.crc32c_python]


@pytest.mark.parametrize("data,expected", RFC3720_VECTORS)
def test_crc32c_rfc3720_vectors(data, expected):
    for crc in CRCS:
        assert crc(data) == expected
    assert _crc32c_bitwise(data) == expected   # validates the reference too


def test_crc32c_check_value_and_empty():
    # The CRC catalogue's "check" value of CRC-32/ISCSI for "123456789".
    for crc in CRCS:
        assert crc(b"123456789") == 0xE3069283
        assert crc(b"") == 0
        assert crc(bytearray(b"123456789")) == 0xE3069283
        assert crc(memoryview(b"xx123456789")[2:]) == 0xE3069283


def test_crc32c_matches_bitwise_reference():
    rng = random.Random(1)
    for n in list(range(0, 40)) + [255, 256, 1000, 4097]:
        data = bytes(rng.getrandbits(8) for _ in range(n))
        for crc in CRCS:
            assert crc(data) == _crc32c_bitwise(data), n


def test_crc32c_large_inputs_vectorised_path():
    """Inputs past the NumPy threshold (lane lengths that do not divide
    them, lane counts that are not powers of two) agree with the table
    loop, whose small-input results the bitwise reference checks."""
    rng = np.random.default_rng(2)
    for n in [tfr._NUMPY_THRESHOLD - 1, tfr._NUMPY_THRESHOLD,
              tfr._NUMPY_THRESHOLD + 1, 40_000, 65_536 + 7, 300_001]:
        data = rng.bytes(n)
        expected = tfr._crc_update_py(0xFFFFFFFF, data) ^ 0xFFFFFFFF
        for crc in CRCS:
            assert crc(data) == expected, n
        assert tfr._crc_update_numpy(0x1234567, data) == \
            tfr._crc_update_py(0x1234567, data), n
    # All-zero and all-one megabytes: a structured pattern, and the bitwise
    # reference is linear, so crc(zeros) can be checked via the RFC vector
    # chained: 2**20 zero bytes = 32768 blocks of the RFC's 32 zero bytes.
    zeros = bytes(1 << 20)
    assert tfr.crc32c(zeros) == \
        tfr._crc_update_py(0xFFFFFFFF, zeros) ^ 0xFFFFFFFF


def test_masked_crc():
    # Mask(0xE3069283): rotate right 15 -> 0x2507C60D, + 0xA282EAD8
    # = 0xC78AB0E5 (worked by hand).
    assert tfr.masked_crc(b"123456789") == 0xC78AB0E5
    assert tfr.masked_crc(b"") == 0xA282EAD8          # Mask(0) is the delta
    rng = random.Random(3)
    for _ in range(50):
        data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(64)))
        m = tfr.masked_crc(data)
        assert m == _mask(_crc32c_bitwise(data))
        assert tfr.unmask_crc(m) == _crc32c_bitwise(data)


# ---------------------------------------------------------------------------
# TFRecord framing
# ---------------------------------------------------------------------------

def test_record_known_bytes_hello():
    """One record for b"hello", derived by hand from the format:
    length 5 as uint64 LE; Mask(crc32c(05 00 00 00 00 00 00 00)) =
    Mask(0xE4094DC0) = 0x9B81C812 + 0xA282EAD8 = 0x3E04B2EA (mod 2**32);
    the data; Mask(crc32c(b"hello")) = Mask(0x9A71BB4C) = 0x769934E3 +
    0xA282EAD8 = 0x191C1FBB."""
    assert _crc32c_bitwise(bytes([5, 0, 0, 0, 0, 0, 0, 0])) == 0xE4094DC0
    assert _crc32c_bitwise(b"hello") == 0x9A71BB4C
    expected = bytes.fromhex("0500000000000000" "eab2043e" "68656c6c6f"
                             "bb1f1c19")
    assert tfr.encode_record(b"hello") == expected
    # And generically, from the spec with the independent reference CRC.
    for payload in [b"", b"x", bytes(range(256)) * 3]:
        length = struct.pack("<Q", len(payload))
        assert tfr.encode_record(payload) == (
            length + struct.pack("<I", _mask(_crc32c_bitwise(length)))
            + payload + struct.pack("<I", _mask(_crc32c_bitwise(payload))))
    assert list(tfr.read_records(io.BytesIO(expected), "mem")) == [b"hello"]


def _payloads():
    rng = np.random.default_rng(4)
    return [b"", b"a", b"hello", rng.bytes(1 << 20), b"", b"z" * 1000,
            rng.bytes(70_000)]


def test_round_trip_plain(tmp_path):
    records = _payloads()
    path = tmp_path / "plain.tfrecord"
    with tfr.RecordWriter(str(path)) as w:
        for r in records:
            w.write(r)
    raw = path.read_bytes()
    assert raw == b"".join(tfr.encode_record(r) for r in records)
    assert list(tfr.open_records(str(path))) == records
    assert list(tfr.open_records(path, "")) == records
    assert list(tfr.read_records(io.BytesIO(raw), "x")) == records
    # An empty file has no records.
    empty = tmp_path / "empty.tfrecord"
    tfr.RecordWriter(str(empty)).close()
    assert empty.read_bytes() == b""
    assert list(tfr.open_records(str(empty))) == []


def test_writer_accepts_bytes_like_and_rejects_others(tmp_path):
    path = tmp_path / "w.tfrecord"
    w = tfr.RecordWriter(str(path))
    w.write(bytearray(b"ab"))
    w.write(memoryview(b"cd"))
    w.write("é")                     # str: UTF-8, as TensorFlow's writer
    with pytest.raises(TypeError):
        w.write(12)
    w.flush()
    w.close()
    w.close()                        # idempotent
    with pytest.raises(ValueError):
        w.write(b"late")
    assert list(tfr.open_records(str(path))) == [b"ab", b"cd", "é".encode()]


def _two_record_file(tmp_path):
    path = tmp_path / "f.tfrecord"
    first, second = b"first record", b"second!"
    data = tfr.encode_record(first) + tfr.encode_record(second)
    path.write_bytes(data)
    return path, data, len(tfr.encode_record(first))


def test_truncated_file_is_a_clear_error(tmp_path):
    path, data, second_at = _two_record_file(tmp_path)
    # Cuts inside the second record's header, data and footer: the first
    # record still comes out, then the error names the path and offset.
    for cut in [second_at + 1, second_at + 11, second_at + 12,
                second_at + 15, len(data) - 1]:
        path.write_bytes(data[:cut])
        it = tfr.open_records(str(path))
        assert next(it) == b"first record"
        with pytest.raises(ValueError,
                           match=rf"truncated record at offset {second_at} "
                                 rf"in .*f\.tfrecord"):
            next(it)
    # A cut inside the first record: offset 0.
    path.write_bytes(data[:5])
    with pytest.raises(ValueError, match=r"truncated record at offset 0 in"):
        list(tfr.open_records(str(path)))


def test_flipped_byte_is_a_clear_error(tmp_path):
    path, data, second_at = _two_record_file(tmp_path)
    n2 = len(data) - second_at
    # length, length CRC, data, data CRC of the second record
    for where, what in [(0, "length CRC"), (9, "length CRC"),
                        (12, "data CRC"), (n2 - 1, "data CRC")]:
        corrupt = bytearray(data)
        corrupt[second_at + where] ^= 0x40
        path.write_bytes(bytes(corrupt))
        it = tfr.open_records(str(path))
        assert next(it) == b"first record"
        with pytest.raises(ValueError,
                           match=rf"corrupted record at offset {second_at} "
                                 rf"in .*f\.tfrecord \({what} mismatch\)"):
            next(it)
    # A flipped byte in the first record's data.
    corrupt = bytearray(data)
    corrupt[14] ^= 1
    with pytest.raises(ValueError, match=r"corrupted record at offset 0 in "
                                         r"mem\.tfrecord"):
        list(tfr.read_records(io.BytesIO(bytes(corrupt)), "mem.tfrecord"))


@pytest.mark.parametrize("kind", ["GZIP", "ZLIB"])
def test_compressed_round_trip(tmp_path, kind):
    records = _payloads()
    path = tmp_path / f"c.{kind}.tfrecord"
    with tfr.RecordWriter(str(path), kind) as w:
        for r in records:
            w.write(r)
    raw = path.read_bytes()
    framed = b"".join(tfr.encode_record(r) for r in records)
    # The container is what the standard tools read.
    if kind == "GZIP":
        assert raw[:2] == b"\x1f\x8b"
        assert gzip.decompress(raw) == framed
    else:
        # A zlib stream: CMF 0x78 (deflate, 32K window), header check ok.
        assert raw[0] == 0x78 and (raw[0] * 256 + raw[1]) % 31 == 0
        assert zlib.decompress(raw) == framed
    assert list(tfr.open_records(str(path), kind)) == records
    # Files made by the standard tools read back too.
    other = tmp_path / "other"
    other.write_bytes(gzip.compress(framed) if kind == "GZIP"
                      else zlib.compress(framed, 9))
    assert list(tfr.open_records(str(other), kind)) == records
    # Several concatenated streams read as one.
    half = [tfr.encode_record(r) for r in records]
    comp = gzip.compress if kind == "GZIP" else zlib.compress
    other.write_bytes(comp(b"".join(half[:3])) + comp(b"".join(half[3:])))
    assert list(tfr.open_records(str(other), kind)) == records


@pytest.mark.parametrize("kind", ["GZIP", "ZLIB"])
def test_compressed_flush_and_truncation(tmp_path, kind):
    path = tmp_path / "c.tfrecord"
    w = tfr.RecordWriter(str(path), kind)
    w.write(b"one")
    w.write(b"two")
    w.flush()
    # After a flush, a reader of the unfinished file sees every record and
    # then a clear error for the unfinished stream.
    it = tfr.open_records(str(path), kind)
    assert next(it) == b"one" and next(it) == b"two"
    with pytest.raises(ValueError, match=r"c\.tfrecord"):
        next(it)
    w.write(b"three")
    w.close()
    assert list(tfr.open_records(str(path), kind)) == [b"one", b"two",
                                                        b"three"]
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(ValueError, match=r"c\.tfrecord"):
        list(tfr.open_records(str(path), kind))
    # Garbage instead of a compressed stream.
    path.write_bytes(b"this is not compressed at all")
    with pytest.raises(ValueError, match=r"c\.tfrecord"):
        list(tfr.open_records(str(path), kind))
    # A plain TFRecord file read as compressed fails clearly too.
    path.write_bytes(tfr.encode_record(b"plain"))
    with pytest.raises(ValueError, match=r"c\.tfrecord"):
        list(tfr.open_records(str(path), kind))


def test_gzip_output_is_deterministic(tmp_path):
    outs = []
    for i in range(2):
        path = tmp_path / f"d{i}.gz"
        with tfr.RecordWriter(str(path), "GZIP") as w:
            w.write(b"same")
        outs.append(path.read_bytes())
    assert outs[0] == outs[1]
    assert outs[0][4:8] == b"\0\0\0\0"       # MTIME zero, as TF writes


def test_bad_compression_type(tmp_path):
    for bad in ["gzip", "SNAPPY", "NONE", 1]:
        with pytest.raises(ValueError, match="compression_type"):
            tfr.open_records(str(tmp_path / "x"), bad)
        with pytest.raises(ValueError, match="compression_type"):
            tfr.RecordWriter(str(tmp_path / "x"), bad)


# ---------------------------------------------------------------------------
# tf.train.Example: hand-derived byte vectors (protobuf wire format spec:
# tag = field_number << 3 | wire_type; 0 varint, 1 fixed64, 2 length-
# delimited, 3/4 start/end group, 5 fixed32; varints base 128, low group
# first; int64 negatives as 64-bit two's complement, so 10 bytes).
# ---------------------------------------------------------------------------

# Example{features{feature{key:"a" value{int64_list{value:[1]}}}}}:
#   Int64List  0a 01 01                 field 1 packed, 1 byte, varint 1
#   Feature    1a 03 <Int64List>        field 3 (int64_list)
#   entry      0a 01 61  12 05 <Feature>  key "a", value
#   Features   0a 0a <entry>            field 1 (map entry), 10 bytes
#   Example    0a 0c <Features>         field 1, 12 bytes
HAND_INT64 = bytes.fromhex("0a0c" "0a0a" "0a0161" "1205" "1a03" "0a0101")
# value -1: varint ff ff ff ff ff ff ff ff ff 01 (10 bytes), so the list is
# 0a 0a <10 bytes>, the Feature 1a 0c ..., the entry 0a 01 61 12 0e ...
# (19 = 0x13 bytes), Features 0a 13 ..., Example 0a 15 ...
HAND_INT64_NEG = bytes.fromhex("0a15" "0a13" "0a0161" "120e" "1a0c" "0a0a"
                               "ffffffffffffffffff01")
# float 1.0 = 0x3f800000, little-endian 00 00 80 3f; FloatList 0a 04 ...;
# Feature field 2: 12 06 ...; entry key "f" (0x66): 0a 01 66 12 08 ...
HAND_FLOAT = bytes.fromhex("0a0f" "0a0d" "0a0166" "1208" "1206" "0a04"
                           "0000803f")
# bytes [b"xy"]: BytesList 0a 02 78 79; Feature field 1: 0a 04 ...
HAND_BYTES = bytes.fromhex("0a0d" "0a0b" "0a0162" "1206" "0a04" "0a027879")
# An empty float list keeps its kind: Feature is 12 00.
HAND_EMPTY_FLOAT = bytes.fromhex("0a09" "0a07" "0a0165" "1202" "1200")


def _assert_features_equal(got, want, nan_payloads=True):
    """Compares decoded features with expected ones; floats bitwise (so
    NaN, -0.0 and infinities count), except that with nan_payloads=False
    any NaN matches any NaN (protobuf's Python floats are doubles, and the
    float32 -> double -> float32 trip quiets signalling NaNs)."""
    assert set(got) == set(want)
    for key, (kind, values) in want.items():
        gkind, gvalues = got[key]
        assert gkind == kind, key
        if kind == "bytes":
            assert isinstance(gvalues, list)
            assert gvalues == [bytes(v) for v in values], key
        elif kind == "float":
            assert gvalues.dtype == np.float32, key
            want32 = np.asarray(values, dtype=np.float32)
            assert gvalues.shape == want32.shape, key
            if not nan_payloads:
                nan = np.isnan(want32)
                np.testing.assert_array_equal(np.isnan(gvalues), nan, key)
                gvalues, want32 = gvalues[~nan], want32[~nan]
            np.testing.assert_array_equal(gvalues.view(np.uint32),
                                          want32.view(np.uint32), key)
        elif kind == "int64":
            assert gvalues.dtype == np.int64, key
            assert gvalues.tolist() == [int(v) for v in values], key
        else:
            assert gvalues == [], key


def _ld(field, payload):
    """A length-delimited field: tag (field << 3 | 2), varint length,
    payload."""
    n = len(payload)
    length = bytearray()
    while n >= 0x80:
        length.append((n & 0x7F) | 0x80)
        n >>= 7
    length.append(n)
    return bytes([field << 3 | 2]) + bytes(length) + payload


def test_hand_vectors_encode_and_decode():
    cases = [
        (HAND_INT64, {"a": ("int64", [1])}),
        (HAND_INT64_NEG, {"a": ("int64", [-1])}),
        (HAND_FLOAT, {"f": ("float", [1.0])}),
        (HAND_BYTES, {"b": ("bytes", [b"xy"])}),
        (HAND_EMPTY_FLOAT, {"e": ("float", [])}),
    ]
    for wire, features in cases:
        assert tfr.encode_example(features) == wire, features
        _assert_features_equal(tfr.decode_example(wire), features)
    # A Feature with no kind set: the entry's value is an empty message.
    assert tfr.encode_example({"x": (None, [])}) == \
        bytes.fromhex("0a07" "0a05" "0a0178" "1200")
    assert tfr.decode_example(bytes.fromhex("0a07" "0a05" "0a0178" "1200")) \
        == {"x": (None, [])}
    assert tfr.encode_example({}) == b"\x0a\x00"
    assert tfr.decode_example(b"") == {}
    assert tfr.decode_example(b"\x0a\x00") == {}


def test_hand_vectors_unpacked_and_unknown_fields():
    # Unpacked int64 [1, 300]: 08 01 08 ac 02 (300 = 0b10_0101100).
    unpacked_int = bytes.fromhex("0a0e" "0a0c" "0a0161" "1207" "1a05"
                                 "0801" "08ac02")
    _assert_features_equal(tfr.decode_example(unpacked_int),
                           {"a": ("int64", [1, 300])})
    # Unpacked floats [1.0, -2.0]: 0d 00 00 80 3f 0d 00 00 00 c0.
    unpacked_float = bytes.fromhex("0a13" "0a11" "0a0166" "120c" "120a"
                                   "0d0000803f" "0d000000c0")
    _assert_features_equal(tfr.decode_example(unpacked_float),
                           {"f": ("float", [1.0, -2.0])})
    # Packed then unpacked then packed in one list; a non-minimal varint
    # (81 00 = 1); the min int64 (80 80 .. 80 01, 10 bytes).
    mixed = bytes.fromhex("0a02" "0102" "0803" "0a03" "8100" "04"
                          "0a0a" "80808080808080808001")
    feature = b"\x1a" + bytes([len(mixed)]) + mixed
    entry = b"\x0a\x01a\x12" + bytes([len(feature)]) + feature
    example = b"\x0a" + bytes([len(entry) + 2]) + b"\x0a" + \
        bytes([len(entry)]) + entry
    _assert_features_equal(tfr.decode_example(example),
                           {"a": ("int64", [1, 2, 3, 1, 4, -(1 << 63)])})
    # Unknown fields of every wire type, at every level: varint (field 2),
    # fixed64 (field 6), group (field 5 containing a varint), fixed32
    # (field 7), length-delimited (field 9).
    junk = bytes.fromhex("1005" "310102030405060708" "2b0801" "2c"
                         "3d01020304" "4a03616263")
    ilist = junk + bytes.fromhex("0a0101")
    feature = junk + _ld(3, ilist)
    entry = junk + _ld(1, b"a") + junk + _ld(2, feature) + junk
    features = junk + _ld(1, entry) + junk
    example = junk + _ld(1, features) + junk
    assert len(entry) > 127            # two-byte lengths on the way
    _assert_features_equal(tfr.decode_example(example),
                           {"a": ("int64", [1])})
    # A known field number with the wrong wire type is an unknown field.
    _assert_features_equal(tfr.decode_example(b"\x08\x01" + HAND_INT64),
                           {"a": ("int64", [1])})
    # Non-minimal tags (up to 5 bytes, as C++ protobuf reads them) and
    # lengths: 8a 80 80 80 00 is tag 10 (field 1, length-delimited), and
    # 8c 80 00 the length 12.
    _assert_features_equal(
        tfr.decode_example(bytes.fromhex("8a808080008c8000") + HAND_INT64[2:]),
        {"a": ("int64", [1])})


def test_decode_merges_and_replaces_like_protobuf():
    # Two Example.features occurrences merge their maps; a repeated key
    # keeps the last entry; entries come in any order.
    a = tfr.encode_example({"k": ("int64", [1]), "z": ("bytes", [b"q"])})
    b = tfr.encode_example({"k": ("float", [2.0]), "b": ("int64", [])})
    got = tfr.decode_example(a + b)
    _assert_features_equal(got, {"k": ("float", [2.0]),
                                 "z": ("bytes", [b"q"]),
                                 "b": ("int64", [])})
    # Within a Feature, the same list twice concatenates; switching the
    # oneof member replaces.
    l1 = bytes.fromhex("1a02" "0801")          # int64_list {1}
    l2 = bytes.fromhex("1a02" "0802")          # int64_list {2}
    fl = bytes.fromhex("1205" "0d0000803f")    # float_list {1.0}
    for feature, want in [(l1 + l2, ("int64", [1, 2])),
                          (l1 + fl, ("float", [1.0])),
                          (fl + l1 + l2, ("int64", [1, 2])),
                          (b"", (None, []))]:
        entry = b"\x0a\x01x\x12" + bytes([len(feature)]) + feature
        ex = b"\x0a" + bytes([len(entry) + 2]) + b"\x0a" + \
            bytes([len(entry)]) + entry
        _assert_features_equal(tfr.decode_example(ex), {"x": want})
    # Missing key in a map entry means the empty key.
    ex = bytes.fromhex("0a06" "0a04" "1202" "1a00")
    _assert_features_equal(tfr.decode_example(ex), {"": ("int64", [])})


MALFORMED = [
    (bytes.fromhex("0a"), "truncated length of field 1"),
    (bytes.fromhex("0880"), "truncated varint"),
    (bytes.fromhex("88"), "truncated tag"),
    (bytes.fromhex("0a05" "0a03"), "past the end"),
    (HAND_INT64[:-1], "past the end"),
    (bytes.fromhex("08" + "ff" * 10 + "01"), "longer than 10 bytes"),
    (bytes.fromhex("0e"), "invalid wire type 6"),
    (bytes.fromhex("0f"), "invalid wire type 7"),
    (bytes.fromhex("0001"), "invalid field number 0"),
    (bytes.fromhex("888080808000"), "tag varint longer than 5 bytes"),
    (bytes.fromhex("0a858080808000" "05"), "varint longer than 5 bytes"),
    (bytes.fromhex("0a8080808008"), "2 GiB or more"),
    (bytes.fromhex("2c"), "unexpected end-group"),
    (bytes.fromhex("2b0801"), "not closed"),
    (bytes.fromhex("2b34"), "closes a group of field 5"),
    (bytes.fromhex("31010203"), "truncated fixed64"),
    (bytes.fromhex("3d0102"), "truncated fixed32"),
    # packed FloatList of 3 bytes
    (bytes.fromhex("0a0c" "0a0a" "0a0166" "1205" "1203" "0a05" "00"),
     "past the end"),
    (bytes.fromhex("0a0d" "0a0b" "0a0166" "1206" "1204" "0a02" "0000"),
     "not a multiple of 4"),
    # packed Int64List ending inside a varint
    (bytes.fromhex("0a0c" "0a0a" "0a0161" "1205" "1a03" "0a0180"),
     "truncated varint in packed int64"),
    # key b"\xff" is not UTF-8
    (bytes.fromhex("0a09" "0a07" "0a01ff" "1202" "1a00"), "not valid UTF-8"),
    # a malformed list that a later oneof member replaces is still an error
    (bytes.fromhex("0a0d" "0a0b" "0a0161" "1206" "1a02" "0a05" "1200"),
     "past the end"),
]


@pytest.mark.parametrize("data,message", MALFORMED)
def test_malformed_messages_raise_value_error(data, message):
    with pytest.raises(ValueError, match="malformed tf.train.Example.*"
                       + message):
        tfr.decode_example(data)


def test_encode_errors():
    with pytest.raises(ValueError, match="kind"):
        tfr.encode_example({"a": ("int32", [1])})
    with pytest.raises(TypeError):
        tfr.encode_example({"a": ("bytes", b"abc")})
    with pytest.raises(TypeError):
        tfr.encode_example({"a": ("bytes", [1, 2])})
    with pytest.raises(ValueError, match="out of range"):
        tfr.encode_example({"a": ("int64", [1 << 63])})
    with pytest.raises(ValueError, match="out of range"):
        tfr.encode_example({"a": ("int64", [-(1 << 63) - 1])})
    with pytest.raises(ValueError, match="out of range"):
        tfr.encode_example({"a": ("int64", np.array([1 << 63], np.uint64))})
    with pytest.raises(TypeError):
        tfr.encode_example({"a": ("int64", [1.5])})
    with pytest.raises(TypeError):
        tfr.encode_example({"a": ("float", ["x"])})
    with pytest.raises(ValueError, match="UTF-8"):
        tfr.encode_example({b"\xff": ("int64", [])})
    with pytest.raises(TypeError):
        tfr.encode_example({"a": "int64"})


def test_encode_accepts_numpy_inputs():
    want = tfr.encode_example({"i": ("int64", [1, -2, 3]),
                               "f": ("float", [0.5, 1.5]),
                               "b": ("bytes", [b"u", b"v"])})
    got = tfr.encode_example({"i": ("int64", np.array([1, -2, 3], np.int32)),
                              "f": ("float", np.array([0.5, 1.5])),
                              "b": ("bytes", np.array([b"u", b"v"]))})
    assert got == want


def test_int64_varint_lengths():
    """Boundary values at every varint length, packed, round trip."""
    values = [0, 1, 127, 128, 16383, 16384, (1 << 63) - 1, -(1 << 63), -1]
    for k in range(1, 10):
        values += [(1 << (7 * k)) - 1, 1 << (7 * k)]
    values = [v for v in values if -(1 << 63) <= v < (1 << 63)]
    wire = tfr.encode_example({"v": ("int64", values)})
    _assert_features_equal(tfr.decode_example(wire), {"v": ("int64", values)})
    # The packed payload, built with a varint encoder written here.
    def varint(v):
        v &= (1 << 64) - 1
        out = bytearray()
        while True:
            out.append((v & 0x7F) | (0x80 if v >> 7 else 0))
            v >>= 7
            if not v:
                return bytes(out)
    payload = b"".join(varint(v) for v in values)
    assert len(payload) == sum(10 if v < 0 else
                               max(1, (v.bit_length() + 6) // 7)
                               for v in values)
    assert wire.endswith(b"\x0a" + varint(len(payload)) + payload)


# ---------------------------------------------------------------------------
# tf.train.Example against the protobuf runtime
# ---------------------------------------------------------------------------

def _example_classes(package, packed):
    """Builds Example and friends from a FileDescriptorProto transcribing
    tensorflow/core/example/{example,feature}.proto (proto3), in their own
    descriptor pool; `packed` sets [packed = ...] on the numeric lists."""
    from google.protobuf import descriptor_pb2, descriptor_pool
    from google.protobuf import message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(
        name=f"{package}/example.proto", package=package, syntax="proto3")

    def message(name):
        m = fd.message_type.add()
        m.name = name
        return m

    def field(m, name, number, ftype, label=F.LABEL_OPTIONAL, type_name=None,
              oneof=None, is_packed=None):
        f = m.field.add(name=name, number=number, type=ftype, label=label)
        if type_name:
            f.type_name = f".{package}.{type_name}"
        if oneof is not None:
            f.oneof_index = oneof
        if is_packed is not None:
            f.options.packed = is_packed
        return f

    field(message("BytesList"), "value", 1, F.TYPE_BYTES, F.LABEL_REPEATED)
    field(message("FloatList"), "value", 1, F.TYPE_FLOAT, F.LABEL_REPEATED,
          is_packed=packed)
    field(message("Int64List"), "value", 1, F.TYPE_INT64, F.LABEL_REPEATED,
          is_packed=packed)
    feature = message("Feature")
    feature.oneof_decl.add(name="kind")
    field(feature, "bytes_list", 1, F.TYPE_MESSAGE, type_name="BytesList",
          oneof=0)
    field(feature, "float_list", 2, F.TYPE_MESSAGE, type_name="FloatList",
          oneof=0)
    field(feature, "int64_list", 3, F.TYPE_MESSAGE, type_name="Int64List",
          oneof=0)
    features = message("Features")
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    field(entry, "key", 1, F.TYPE_STRING)
    field(entry, "value", 2, F.TYPE_MESSAGE, type_name="Feature")
    field(features, "feature", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED,
          type_name="Features.FeatureEntry")
    field(message("Example"), "features", 1, F.TYPE_MESSAGE,
          type_name="Features")

    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    factory = message_factory.MessageFactory(pool)
    return factory.GetPrototype(pool.FindMessageTypeByName(
        f"{package}.Example"))


@pytest.fixture(scope="module")
def pb():
    pytest.importorskip("google.protobuf")
    return {"packed": _example_classes("tfpacked", True),
            "unpacked": _example_classes("tfunpacked", False)}


def _to_proto(cls, features):
    msg = cls()
    feats = msg.features.feature       # touching it sets `features`
    msg.features.SetInParent()
    for key, (kind, values) in features.items():
        f = feats[key]
        if kind == "bytes":
            f.bytes_list.SetInParent()
            f.bytes_list.value.extend(bytes(v) for v in values)
        elif kind == "float":
            f.float_list.SetInParent()
            f.float_list.value.extend(float(v) for v in values)
        else:
            f.int64_list.SetInParent()
            f.int64_list.value.extend(int(v) for v in values)
    return msg


def _from_proto(msg):
    out = {}
    for key, f in msg.features.feature.items():
        kind = f.WhichOneof("kind")
        if kind == "bytes_list":
            out[key] = ("bytes", list(f.bytes_list.value))
        elif kind == "float_list":
            out[key] = ("float", list(f.float_list.value))
        elif kind == "int64_list":
            out[key] = ("int64", list(f.int64_list.value))
        else:
            out[key] = (None, [])
    return out


KEYS = ["a", "b", "", "label", "image/encoded", "ключ", "特征", "😀", "\uffff",
        "é", "e\u0301", "tab\tkey", "z" * 300]
SPECIALS = [float("nan"), float("inf"), -float("inf"), -0.0, 0.0,
            1e-45, 3.4028234663852886e38, -1.5, 1 / 3]


def _random_features(rng, nkeys):
    features = {}
    keys = list(KEYS) + [f"k{i}" for i in range(nkeys)]
    rng.shuffle(keys)
    for key in keys[:nkeys]:
        kind = rng.choice(["bytes", "float", "int64"])
        n = rng.choice([0, 0, 1, 2, 5, 40, 200])
        if kind == "bytes":
            values = [rng.randbytes(rng.choice([0, 1, 7, 130]))
                      for _ in range(n)]
        elif kind == "float":
            values = [rng.choice(SPECIALS) if rng.random() < 0.3
                      else float(np.float32(rng.gauss(0, 1e3)))
                      for _ in range(n)]
        else:
            values = [rng.choice([0, 1, -1, (1 << 63) - 1, -(1 << 63),
                                  (1 << 62) + 12345, -(1 << 40)])
                      if rng.random() < 0.4
                      else rng.randrange(-(1 << 63), 1 << 63) >>
                      rng.randrange(64)
                      for _ in range(n)]
        features[key] = (kind, values)
    return features


def _cases():
    rng = random.Random(5)
    cases = [
        {"a": ("int64", [1])},
        {"big": ("int64", [(1 << 63) - 1, -(1 << 63), -1, 0, 1 << 62])},
        {"f": ("float", SPECIALS)},
        {"b": ("bytes", [b"", b"\x00\xff", "ünï".encode(), b"x" * 1000])},
        {"e1": ("bytes", []), "e2": ("float", []), "e3": ("int64", [])},
        {k: ("int64", [i]) for i, k in enumerate(KEYS)},
        {f"feature_{i:04d}": ("float", [float(i)]) for i in range(500)},
    ]
    cases += [_random_features(rng, rng.randrange(1, 14)) for _ in range(25)]
    return cases


def test_encode_matches_protobuf(pb):
    """(a) encode_example's bytes parse with protobuf to the same features,
    and equal protobuf's deterministic serialisation byte for byte."""
    Example = pb["packed"]
    for features in _cases():
        wire = tfr.encode_example(features)
        msg = Example()
        msg.ParseFromString(wire)
        _assert_features_equal(_from_proto_arrays(msg), features)
        assert wire == _to_proto(Example, features).SerializeToString(
            deterministic=True)


def _from_proto_arrays(msg):
    dtypes = {"float": np.float32, "int64": np.int64}
    return {k: (kind, np.asarray(values, dtype=dtypes[kind])
                if kind in dtypes else values)
            for k, (kind, values) in _from_proto(msg).items()}


def test_decode_matches_protobuf(pb):
    """(b) bytes protobuf writes, packed and unpacked, in deterministic and
    default map order, decode to the same features."""
    for features in _cases():
        for schema in ("packed", "unpacked"):
            msg = _to_proto(pb[schema], features)
            for wire in (msg.SerializeToString(),
                         msg.SerializeToString(deterministic=True)):
                _assert_features_equal(tfr.decode_example(wire), features)
        unpacked = _to_proto(pb["unpacked"], features).SerializeToString()
        # The unpacked schema really writes unpacked fields.
        if any(k != "bytes" and len(v) > 1 for k, v in features.values()):
            assert unpacked != _to_proto(pb["packed"],
                                         features).SerializeToString()


def test_hand_vectors_agree_with_protobuf(pb):
    Example = pb["packed"]
    for wire, features in [(HAND_INT64, {"a": ("int64", [1])}),
                           (HAND_INT64_NEG, {"a": ("int64", [-1])}),
                           (HAND_FLOAT, {"f": ("float", [1.0])}),
                           (HAND_BYTES, {"b": ("bytes", [b"xy"])}),
                           (HAND_EMPTY_FLOAT, {"e": ("float", [])})]:
        assert _to_proto(Example, features).SerializeToString() == wire


def _protobuf_parse(Example, data):
    """Protobuf's parse of `data`, or None where it rejects it.  The Python
    binding of the C++ parser stops at a stray end-group or zero tag at the
    top level with a RuntimeWarning ("Not all data was converted") instead
    of failing as C++'s ParseFromString (TensorFlow's parser) does; that
    counts as a rejection here."""
    msg = Example()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            msg.ParseFromString(data)
        except Exception:      # google.protobuf.message.DecodeError
            return None
    if any("Not all data was converted" in str(w.message) for w in caught):
        return None
    return _from_proto_arrays(msg)


def _same_verdict(Example, data):
    want = _protobuf_parse(Example, data)
    if want is None:
        with pytest.raises(ValueError, match="malformed tf.train.Example"):
            tfr.decode_example(data)
    else:
        _assert_features_equal(tfr.decode_example(data), want,
                               nan_payloads=False)


def test_truncations_and_mutations_agree_with_protobuf(pb):
    """Every prefix of a message, and random byte mutations, are accepted
    or rejected as protobuf accepts or rejects them, with the same
    content when accepted."""
    Example = pb["packed"]
    features = {"a": ("int64", [1, -1, 300]), "é": ("bytes", [b"xy", b""]),
                "f": ("float", [1.0, float("nan")]), "e": ("float", [])}
    base = tfr.encode_example(features)
    unpacked = _to_proto(pb["unpacked"], features).SerializeToString()
    for wire in (base, unpacked):
        for cut in range(len(wire) + 1):
            _same_verdict(Example, wire[:cut])
    rng = random.Random(6)
    for _ in range(2000):
        data = bytearray(rng.choice((base, unpacked)))
        for _ in range(rng.choice([1, 1, 2, 3])):
            pos = rng.randrange(len(data))
            if rng.random() < 0.8:
                data[pos] = rng.choice([rng.getrandbits(8), 0x00, 0x80, 0xff,
                                        0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x2b,
                                        0x2c])
            else:
                data[pos:pos] = bytes.fromhex(rng.choice(SNIPPETS))
        _same_verdict(Example, bytes(data))


# Inserted by the mutation test: long and non-minimal tags, lengths and
# varints, groups (closed, unclosed, mismatched), field number 0, packed
# and unpacked list fields.
SNIPPETS = ["8880808000", "888080808000", "0880808080808080808001",
            "088080808080808080807f", "0a8580808000", "0a858080808000",
            "2b2c", "2b0801342c", "2c", "0b0c", "0800", "0100",
            "f8ffffff0f00", "fdffffff0f00000000", "0d", "08ff", "0a00",
            "1a00", "1200"]


def test_record_of_examples_round_trip(tmp_path, pb):
    """A TFRecord file of serialised Examples, as TensorFlow datasets are
    stored, written here and read back through protobuf and the decoder."""
    Example = pb["packed"]
    cases = _cases()[:10]
    path = tmp_path / "examples.tfrecord.gz"
    with tfr.RecordWriter(str(path), "GZIP") as w:
        for features in cases:
            w.write(_to_proto(Example, features).SerializeToString())
    for record, features in zip(tfr.open_records(str(path), "GZIP"), cases):
        _assert_features_equal(tfr.decode_example(record), features)
