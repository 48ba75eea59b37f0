"""kiln._hashing: farmhash Fingerprint64 and SipHash-2-4, and the
tf.strings.to_hash_bucket_fast / _strong bucketing built on them.

Every expected value below is copied from an external source, never
computed with the code under test:

* farmhash's own self-test, google/farmhash src/farmhash.cc, namespace
  farmhashnaTest: `expected[]` holds, for test number t, six uint32 words;
  words 6t+4 and 6t+5 are the high and low halves of
  farmhashna::Hash64(data + offset, len).  Test t < 299 hashes
  (offset t*t, len t); later tests hash (offset 0, len i) for
  i = 299, 341, ... (i += i / 7).  `data` is the buffer Setup() fills.
* highwayhash/sip_hash_test.cc (google/highwayhash), kSipHashOutput: SipHash-
  2-4 with key bytes 00..0f of the messages 00 01 .. (n-1), n = 0..63.  The
  same 64 values are the reference table vectors_sip64 in veorq/SipHash
  vectors.h (there as little-endian bytes).  Longer messages: outputs of
  that repository's reference siphash.c (see SIPHASH24_LONG).
* tensorflow/core/platform/fingerprint_test.cc: Fingerprint64("Hello") and
  Fingerprint64("World").
* tensorflow/python/kernel_tests/strings_ops/string_to_hash_bucket_op_test.py:
  Fingerprint64 of "a".."d" and StrongKeyedHash([98765, 132], "a".."c").
* The tf.strings.to_hash_bucket_fast and tf.strings.to_hash_bucket_strong
  API pages (tensorflow.org/api_docs/python/tf/strings/...) examples.
* keras-team/keras keras/src/layers/preprocessing/hashing.py docstring and
  hashing_test.py (Hashing without salt is to_hash_bucket_fast, with salt it
  is to_hash_bucket_strong with key=salt, an int salt s meaning [s, s]; a
  mask_value takes bin 0 and the hash uses num_bins - 1 buckets, plus one).
"""

import importlib.util
import os

import numpy as np
import pytest

_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                     "python", "kiln", "_hashing.py")
_spec = importlib.util.spec_from_file_location("kiln_hashing_under_test", _PATH)
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)

M64 = (1 << 64) - 1


# --- farmhash's self-test -------------------------------------------------

def _farmhash_test_data(size):
    """The first `size` bytes of farmhash.cc's self-test buffer (Setup())."""
    k0 = 0xC3A5C85C97CB3127
    a, b = 9, 777
    out = bytearray(size)
    for i in range(size):
        a = (a + b) & M64
        b = (b + a) & M64
        a = ((a ^ (a >> 41)) * k0) & M64
        b = (((b ^ (b >> 41)) * k0) + i) & M64
        out[i] = (b >> 37) & 0xFF
    return bytes(out)


# (test number t, expected[6t+4], expected[6t+5]) from farmhashnaTest.
# Lengths 0..16, 17..32, 33..64 and > 64 (one to four 64-byte blocks, with
# every tail size class) are all present.
FARMHASHNA_HASH64 = [
    (0, 2598464059, 797982799),
    (1, 1410420968, 2134990486),
    (2, 255297188, 2992121793),
    (3, 4019337850, 452431531),
    (4, 299850021, 2532580744),
    (5, 2199864459, 3696623795),
    (6, 1053458494, 1882212500),
    (7, 458884671, 3033004529),
    (8, 2700149065, 2699376854),
    (9, 4220361840, 1712034059),
    (12, 3824583307, 1612122221),
    (15, 1145519619, 3190844552),
    (16, 65721842, 489963606),
    (17, 1790705123, 2128624475),
    (20, 1099072299, 1389770549),
    (24, 916494250, 1230085527),
    (31, 1438494951, 507436733),
    (32, 126024219, 146044391),
    (33, 165589978, 1578546616),
    (40, 22638523, 648000590),
    (48, 23075771, 3252374102),
    (63, 2834153464, 1481069623),
    (64, 3740748788, 3388062747),
    (65, 1020177209, 734239551),
    (66, 2610427744, 49703572),
    (96, 308425103, 268427550),
    (127, 2567532373, 4075249328),
    (128, 4104757832, 3026358429),
    (129, 3573008472, 3615577014),
    (130, 1541946015, 3087190425),
    (191, 684087286, 531310503),
    (192, 3105682208, 3382290593),
    (193, 777173623, 3241407531),
    (200, 1089679033, 240953857),
    (255, 1962659444, 3539886328),
    (256, 2144472852, 1390394371),
    (257, 3597555910, 3188438773),
    (298, 540133451, 3313113759),
    (299, 3430536378, 2514123129),  # offset 0, len 299
    (300, 2418881542, 487365389),   # offset 0, len 341
]


def _offset_len(t):
    if t < 299:
        return t * t, t
    i = 299
    for _ in range(t - 299):
        i += i // 7
    return 0, i


DATA = _farmhash_test_data(298 * 298 + 298)


@pytest.mark.parametrize("t,hi,lo", FARMHASHNA_HASH64)
def test_fingerprint64_matches_farmhash_self_test(t, hi, lo):
    off, n = _offset_len(t)
    got = H.fingerprint64(DATA[off:off + n])
    assert got == (hi << 32) | lo, (t, off, n)


def test_fingerprint64_of_empty_string_is_k2():
    # farmhashna HashLen0to16 returns k2 for len 0 (also test 0 above).
    assert H.fingerprint64(b"") == 0x9AE16A3B2F90404F


def test_fingerprint64_tensorflow_values():
    # tensorflow/core/platform/fingerprint_test.cc
    assert H.fingerprint64(b"Hello") == 15404698994557526151
    assert H.fingerprint64(b"World") == 18308117990299812472
    # string_to_hash_bucket_op_test.py, testStringToHashBucketsFast
    assert H.fingerprint64(b"a") == 12917804110809363939
    assert H.fingerprint64(b"b") == 11795596070477164822
    assert H.fingerprint64(b"c") == 11430444447143000872
    assert H.fingerprint64(b"d") == 4470636696479570465


def test_fingerprint64_accepts_bytes_like():
    assert H.fingerprint64(bytearray(b"Hello")) == 15404698994557526151
    assert H.fingerprint64(memoryview(b"Hello")) == 15404698994557526151


# --- SipHash-2-4 reference vectors ----------------------------------------

SIPHASH24_VECTORS = [
    0x726FDB47DD0E0E31, 0x74F839C593DC67FD, 0x0D6C8009D9A94F5A,
    0x85676696D7FB7E2D, 0xCF2794E0277187B7, 0x18765564CD99A68D,
    0xCBC9466E58FEE3CE, 0xAB0200F58B01D137, 0x93F5F5799A932462,
    0x9E0082DF0BA9E4B0, 0x7A5DBBC594DDB9F3, 0xF4B32F46226BADA7,
    0x751E8FBC860EE5FB, 0x14EA5627C0843D90, 0xF723CA908E7AF2EE,
    0xA129CA6149BE45E5, 0x3F2ACC7F57C29BDB, 0x699AE9F52CBE4794,
    0x4BC1B3F0968DD39C, 0xBB6DC91DA77961BD, 0xBED65CF21AA2EE98,
    0xD0F2CBB02E3B67C7, 0x93536795E3A33E88, 0xA80C038CCD5CCEC8,
    0xB8AD50C6F649AF94, 0xBCE192DE8A85B8EA, 0x17D835B85BBB15F3,
    0x2F2E6163076BCFAD, 0xDE4DAAACA71DC9A5, 0xA6A2506687956571,
    0xAD87A3535C49EF28, 0x32D892FAD841C342, 0x7127512F72F27CCE,
    0xA7F32346F95978E3, 0x12E0B01ABB051238, 0x15E034D40FA197AE,
    0x314DFFBE0815A3B4, 0x027990F029623981, 0xCADCD4E59EF40C4D,
    0x9ABFD8766A33735C, 0x0E3EA96B5304A7D0, 0xAD0C42D6FC585992,
    0x187306C89BC215A9, 0xD4A60ABCF3792B95, 0xF935451DE4F21DF2,
    0xA9538F0419755787, 0xDB9ACDDFF56CA510, 0xD06C98CD5C0975EB,
    0xE612A3CB9ECBA951, 0xC766E62CFCADAF96, 0xEE64435A9752FE72,
    0xA192D576B245165A, 0x0A8787BF8ECB74B2, 0x81B3E73D20B49B6F,
    0x7FA8220BA3B2ECEA, 0x245731C13CA42499, 0xB78DBFAF3A8D83BD,
    0xEA1AD565322A1A0B, 0x60E61C23A3795013, 0x6606D7E446282B93,
    0x6CA4ECB15C5F91E1, 0x9F626DA15C9625F3, 0xE51B38608EF25F57,
    0x958A324CEB064572,
]


@pytest.mark.parametrize("n", range(64))
def test_siphash24_reference_vectors(n):
    # key bytes 00 01 .. 0f, read as two little-endian uint64.
    k0, k1 = 0x0706050403020100, 0x0F0E0D0C0B0A0908
    assert H.siphash24(k0, k1, bytes(range(n))) == SIPHASH24_VECTORS[n]


# Longer messages (the length byte wraps past 255): SipHash-2-4 from the
# authors' reference implementation, veorq/SipHash siphash.c (cROUNDS 2,
# dROUNDS 4), compiled on its own; key bytes 00..0f, message byte i = i % 256.
# Its n = 63 output equals the table above.
SIPHASH24_LONG = [
    (64, 0xACD2C40B8502CAD8),
    (127, 0x9E7DB1BA81DC7E3A),
    (128, 0xDEB79E256C8736AE),
    (255, 0xA9C169FEC74DB21A),
    (256, 0x999D0526D2A7BFD7),
    (300, 0x4B0B710DB6117839),
    (1000, 0xDB9B3ED69E31C9A6),
]


@pytest.mark.parametrize("n,expected", SIPHASH24_LONG)
def test_siphash24_reference_long_messages(n, expected):
    k0, k1 = 0x0706050403020100, 0x0F0E0D0C0B0A0908
    assert H.siphash24(k0, k1, bytes(i % 256 for i in range(n))) == expected


def test_siphash24_tensorflow_strong_keyed_hash():
    # string_to_hash_bucket_op_test.py, testStringToHashBucketsStrong
    assert H.siphash24(98765, 132, b"a") == 7157389809176466784
    assert H.siphash24(98765, 132, b"b") == 15805638358933211562
    assert H.siphash24(98765, 132, b"c") == 18100027895074076528


def test_siphash24_key_is_taken_modulo_2_64():
    # TF memcpy's its int64 key attr into uint64: -1 is 2**64 - 1.
    assert H.siphash24(-1, -2, b"x") == H.siphash24(M64, M64 - 1, b"x")


# --- bucketing: TensorFlow and Keras examples ------------------------------

def test_to_hash_bucket_fast_tf_doc_example():
    out = H.to_hash_bucket_fast(np.array(["Hello", "TensorFlow", "2.x"]), 3)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [0, 2, 2])


def test_to_hash_bucket_strong_tf_doc_example():
    out = H.to_hash_bucket_strong(np.array(["Hello", "TF"]), 3, [1, 2])
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [2, 0])


def test_to_hash_bucket_tf_kernel_tests():
    abcd = np.array([b"a", b"b", b"c", b"d"], dtype=object)
    np.testing.assert_array_equal(H.to_hash_bucket_fast(abcd, 10), [9, 2, 2, 5])
    np.testing.assert_array_equal(H.to_hash_bucket_fast(abcd[:3], 1), [0, 0, 0])
    np.testing.assert_array_equal(
        H.to_hash_bucket_strong(abcd[:3], 10, [98765, 132]), [4, 2, 8])
    np.testing.assert_array_equal(
        H.to_hash_bucket_strong(abcd[:3], 1, [123, 345]), [0, 0, 0])


LETTERS = np.array([["A"], ["B"], ["C"], ["D"], ["E"]])
WIRE = np.array([["omar"], ["stringer"], ["marlo"], ["wire"], ["skywalker"]])


def test_keras_hashing_farmhash_examples():
    out = H.to_hash_bucket_fast(LETTERS, 3)
    assert out.shape == (5, 1)
    np.testing.assert_array_equal(out, [[1], [0], [1], [1], [2]])
    np.testing.assert_array_equal(H.to_hash_bucket_fast(WIRE, 2),
                                  [[0], [0], [1], [0], [0]])
    # Hashing(num_bins=3, mask_value='') on A, B, '', C, D -> 1, 1, 0, 2, 2:
    # the non-masked ones are 1 + bucket over 2 bins.
    np.testing.assert_array_equal(
        1 + H.to_hash_bucket_fast(np.array(["A", "B", "C", "D"]), 2),
        [1, 1, 2, 2])
    # Integer inputs go through tf.as_string: 0..4 -> "0".."4".
    np.testing.assert_array_equal(
        H.to_hash_bucket_fast(np.array(["0", "1", "2", "3", "4"]), 3),
        [1, 0, 1, 0, 2])


def test_keras_hashing_siphash_examples():
    np.testing.assert_array_equal(H.to_hash_bucket_strong(LETTERS, 3, [133, 137]),
                                  [[1], [2], [1], [0], [2]])
    # salt=133 is the same as salt=[133, 133].
    np.testing.assert_array_equal(H.to_hash_bucket_strong(LETTERS, 3, [133, 133]),
                                  [[0], [0], [2], [1], [0]])
    np.testing.assert_array_equal(H.to_hash_bucket_strong(WIRE, 2, [133, 137]),
                                  [[0], [1], [0], [1], [0]])
    np.testing.assert_array_equal(H.to_hash_bucket_strong(WIRE, 2, [211, 137]),
                                  [[1], [0], [1], [0], [1]])
    np.testing.assert_array_equal(
        H.to_hash_bucket_strong(np.array(["0", "1", "2", "3", "4"]), 3, [133, 137]),
        [1, 1, 2, 0, 1])


# --- array handling ---------------------------------------------------------

def test_shape_and_string_kinds():
    words = ["Hello", "TensorFlow", "2.x", "Hello", "", "héllo wörld" * 9]
    as_str = np.array(words, dtype=object).reshape(2, 3)
    as_bytes = np.array([w.encode("utf-8") for w in words],
                        dtype=object).reshape(2, 3)
    for fn in (lambda a: H.to_hash_bucket_fast(a, 1000),
               lambda a: H.to_hash_bucket_strong(a, 1000, [7, 9])):
        ref = fn(as_bytes)
        assert ref.shape == (2, 3) and ref.dtype == np.int64
        np.testing.assert_array_equal(fn(as_str), ref)
        np.testing.assert_array_equal(fn(as_str.astype("U")), ref)
        np.testing.assert_array_equal(fn(as_str.tolist()), ref)
    flat = H.to_hash_bucket_fast(as_bytes, 1 << 62).reshape(-1)
    assert flat[0] == 15404698994557526151 % (1 << 62)  # "Hello"
    assert flat[4] == 0x9AE16A3B2F90404F % (1 << 62)    # ""


def test_scalar_and_empty_arrays():
    out = H.to_hash_bucket_fast(np.array("Hello"), 3)
    assert out.shape == () and out == 15404698994557526151 % 3
    empty = H.to_hash_bucket_strong(np.zeros((0, 4), dtype=object), 3, [1, 2])
    assert empty.shape == (0, 4) and empty.dtype == np.int64


def test_bucket_is_unsigned_modulo():
    # Fingerprint64("Hello") >= 2**63: the bucket is taken on the unsigned
    # value, never on a negative int64.
    n = (1 << 63) - 25
    assert H.to_hash_bucket_fast(np.array(["Hello"]), n)[0] == \
        15404698994557526151 % n


def test_invalid_arguments():
    with pytest.raises(ValueError):
        H.to_hash_bucket_fast(np.array(["a"]), 0)
    with pytest.raises(ValueError, match="Key must have 2 elements"):
        H.to_hash_bucket_strong(np.array(["a"]), 3, [98765])
    with pytest.raises(TypeError):
        H.to_hash_bucket_fast(np.array([1, 2]), 3)
    with pytest.raises(TypeError):
        H.to_hash_bucket_fast(np.array([b"a", 3], dtype=object), 3)
