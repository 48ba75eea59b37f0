"""String hashes of TensorFlow's string-bucketing ops, in pure Python.

* `fingerprint64` is farmhash's ``Fingerprint64`` (``farmhashna::Hash64``),
  the hash behind TensorFlow's ``tensorflow::Fingerprint64``, which
  ``tf.strings.to_hash_bucket_fast`` and the Keras ``Hashing`` layer (without
  a salt) use.
* `siphash24` is SipHash-2-4 as highwayhash's ``SipHash`` computes it, the
  hash behind TensorFlow's ``StrongKeyedHash``, which
  ``tf.strings.to_hash_bucket_strong`` and the Keras ``Hashing`` layer with a
  ``salt`` use.
* `to_hash_bucket_fast` and `to_hash_bucket_strong` apply them to a NumPy
  array of strings and reduce modulo a number of buckets as TensorFlow's
  ``StringToHashBucketFast`` and ``StringToHashBucketStrong`` kernels do.

Values are Python ints kept in [0, 2**64) by masking after every operation
that can leave that range, which reproduces C++'s uint64 wraparound.  This
module imports nothing from kiln, so any kiln module may import it.
"""

import operator
import struct

import numpy as np

__all__ = ["fingerprint64", "siphash24", "to_hash_bucket_fast",
           "to_hash_bucket_strong"]

_M64 = 0xFFFFFFFFFFFFFFFF

# farmhash's three primes between 2**63 and 2**64.
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F
# Multiplier of farmhash.h's Hash128to64.
_KMUL = 0x9DDFEA08EB382D69

_U64 = struct.Struct("<Q").unpack_from
_U32 = struct.Struct("<I").unpack_from
_U64X2 = struct.Struct("<2Q").unpack_from
_U64X4 = struct.Struct("<4Q").unpack_from
_U64X8 = struct.Struct("<8Q").unpack_from


def _rot(v, shift):
    """Rotates the 64-bit value v right by shift (0 < shift < 64)."""
    return ((v >> shift) | (v << (64 - shift))) & _M64


def _hash_len16(u, v, mul):
    """farmhash's HashLen16(u, v, mul): a Murmur-style mix of two words.
    With mul = 0x9ddfea08eb382d69 it is Hash128to64 of (low u, high v)."""
    a = ((u ^ v) * mul) & _M64
    a ^= a >> 47
    b = ((v ^ a) * mul) & _M64
    b ^= b >> 47
    return (b * mul) & _M64


def _hash_len0to16(s, n):
    if n >= 8:
        mul = _K2 + n * 2
        a = (_U64(s, 0)[0] + _K2) & _M64
        b = _U64(s, n - 8)[0]
        c = (_rot(b, 37) * mul + a) & _M64
        d = ((_rot(a, 25) + b) * mul) & _M64
        return _hash_len16(c, d, mul)
    if n >= 4:
        mul = _K2 + n * 2
        a = _U32(s, 0)[0]
        return _hash_len16(n + (a << 3), _U32(s, n - 4)[0], mul)
    if n > 0:
        y = s[0] + (s[n >> 1] << 8)
        z = n + (s[n - 1] << 2)
        h = ((y * _K2) ^ (z * _K0)) & _M64
        return ((h ^ (h >> 47)) * _K2) & _M64
    return _K2


def _hash_len17to32(s, n):
    mul = _K2 + n * 2
    a = (_U64(s, 0)[0] * _K1) & _M64
    b = _U64(s, 8)[0]
    c = (_U64(s, n - 8)[0] * mul) & _M64
    d = (_U64(s, n - 16)[0] * _K2) & _M64
    return _hash_len16((_rot((a + b) & _M64, 43) + _rot(c, 30) + d) & _M64,
                       (a + _rot((b + _K2) & _M64, 18) + c) & _M64, mul)


def _hash_len33to64(s, n):
    mul = _K2 + n * 2
    a = (_U64(s, 0)[0] * _K2) & _M64
    b, e, f = _U64(s, 8)[0], _U64(s, 16)[0], _U64(s, 24)[0]
    t32, t24, t16, t8 = _U64X4(s, n - 32)
    c = (t8 * mul) & _M64
    d = (t16 * _K2) & _M64
    y = (_rot((a + b) & _M64, 43) + _rot(c, 30) + d) & _M64
    z = _hash_len16(y, (a + _rot((b + _K2) & _M64, 18) + c) & _M64, mul)
    e = (e * mul) & _M64
    g = ((y + t32) * mul) & _M64
    h = ((z + t24) * mul) & _M64
    return _hash_len16((_rot((e + f) & _M64, 43) + _rot(g, 30) + h) & _M64,
                       (e + _rot((f + a) & _M64, 18) + g) & _M64, mul)


def _weak_hash_len32(w, x, y, z, a, b):
    """farmhash's WeakHashLen32WithSeeds on the words w, x, y, z with seeds
    a, b; returns the pair (first, second)."""
    a = (a + w) & _M64
    b = _rot((b + a + z) & _M64, 21)
    c = a
    a = (a + x + y) & _M64
    b = (b + _rot(a, 44)) & _M64
    return (a + z) & _M64, (b + c) & _M64


def _hash_long(s, n):
    """farmhashna::Hash64 for n > 64: a 64-byte block loop, then the last 64
    bytes of the input (which may overlap the last block) once more."""
    seed = 81
    x = seed
    y = (seed * _K1 + 113) & _M64
    t = (y * _K2 + 113) & _M64
    z = ((t ^ (t >> 47)) * _K2) & _M64
    v0 = v1 = w0 = w1 = 0
    x = (x * _K2 + _U64(s, 0)[0]) & _M64
    end = ((n - 1) // 64) * 64
    pos = 0
    while True:
        f0, f8, f16, f24, f32, f40, f48, f56 = _U64X8(s, pos)
        x = (_rot((x + y + v0 + f8) & _M64, 37) * _K1) & _M64
        y = (_rot((y + v1 + f48) & _M64, 42) * _K1) & _M64
        x ^= w1
        y = (y + v0 + f40) & _M64
        z = (_rot((z + w0) & _M64, 33) * _K1) & _M64
        nv0, nv1 = _weak_hash_len32(f0, f8, f16, f24, (v1 * _K1) & _M64,
                                    (x + w0) & _M64)
        w0, w1 = _weak_hash_len32(f32, f40, f48, f56, (z + w1) & _M64,
                                  (y + f16) & _M64)
        v0, v1 = nv0, nv1
        z, x = x, z
        pos += 64
        if pos == end:
            break
    mul = _K1 + ((z & 0xFF) << 1)
    f0, f8, f16, f24, f32, f40, f48, f56 = _U64X8(s, n - 64)
    w0 = (w0 + ((n - 1) & 63)) & _M64
    v0 = (v0 + w0) & _M64
    w0 = (w0 + v0) & _M64
    x = (_rot((x + y + v0 + f8) & _M64, 37) * mul) & _M64
    y = (_rot((y + v1 + f48) & _M64, 42) * mul) & _M64
    x ^= (w1 * 9) & _M64
    y = (y + v0 * 9 + f40) & _M64
    z = (_rot((z + w0) & _M64, 33) * mul) & _M64
    nv0, nv1 = _weak_hash_len32(f0, f8, f16, f24, (v1 * mul) & _M64,
                                (x + w0) & _M64)
    w0, w1 = _weak_hash_len32(f32, f40, f48, f56, (z + w1) & _M64,
                              (y + f16) & _M64)
    v0, v1 = nv0, nv1
    z, x = x, z
    return _hash_len16(
        (_hash_len16(v0, w0, mul) + (y ^ (y >> 47)) * _K0 + z) & _M64,
        (_hash_len16(v1, w1, mul) + x) & _M64, mul)


def fingerprint64(data):
    """farmhash's ``Fingerprint64`` (= ``farmhashna::Hash64``) of `data`.

    This is TensorFlow's ``tensorflow::Fingerprint64``, the hash of
    ``tf.strings.to_hash_bucket_fast`` (and of ``tf.fingerprint``'s per-string
    step).  Fingerprints are fixed forever and the same on every platform:
    words are read little-endian.  `data` is bytes (or any bytes-like
    object); returns an unsigned 64-bit Python int.
    """
    s = bytes(data)
    n = len(s)
    if n <= 16:
        return _hash_len0to16(s, n)
    if n <= 32:
        return _hash_len17to32(s, n)
    if n <= 64:
        return _hash_len33to64(s, n)
    return _hash_long(s, n)


def _sip_round(v0, v1, v2, v3):
    """One SipRound on the four state words."""
    v0 = (v0 + v1) & _M64
    v2 = (v2 + v3) & _M64
    v1 = ((v1 << 13) | (v1 >> 51)) & _M64
    v3 = ((v3 << 16) | (v3 >> 48)) & _M64
    v1 ^= v0
    v3 ^= v2
    v0 = ((v0 << 32) | (v0 >> 32)) & _M64
    v2 = (v2 + v1) & _M64
    v0 = (v0 + v3) & _M64
    v1 = ((v1 << 17) | (v1 >> 47)) & _M64
    v3 = ((v3 << 21) | (v3 >> 43)) & _M64
    v1 ^= v2
    v3 ^= v0
    v2 = ((v2 << 32) | (v2 >> 32)) & _M64
    return v0, v1, v2, v3


def siphash24(k0, k1, data):
    """SipHash-2-4 of `data` under the 128-bit key (k0, k1).

    k0 is the first 8 key bytes read little-endian, k1 the next 8; each is
    taken modulo 2**64, so a negative int64 stands for its two's complement
    (TensorFlow copies its int64 ``key`` attr into uint64 with memcpy).  This
    is highwayhash's ``SipHash(key, bytes, size)`` and TensorFlow's
    ``StrongKeyedHash(key, s)``, the hash of ``tf.strings.to_hash_bucket_strong
    (input, num_buckets, key=[k0, k1])``.  Returns an unsigned 64-bit int.
    """
    s = bytes(data)
    n = len(s)
    k0 &= _M64
    k1 &= _M64
    v0 = 0x736F6D6570736575 ^ k0
    v1 = 0x646F72616E646F6D ^ k1
    v2 = 0x6C7967656E657261 ^ k0
    v3 = 0x7465646279746573 ^ k1
    full = n >> 3
    words = list(struct.unpack_from("<%dQ" % full, s)) if full else []
    # The last packet: the 0-7 leftover bytes, zero padded, with the length
    # modulo 256 in the top byte.
    words.append(int.from_bytes(s[full * 8:], "little") | ((n & 0xFF) << 56))
    for m in words:
        v3 ^= m
        for _ in range(2):
            v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
        v0 ^= m
    v2 ^= 0xFF
    for _ in range(4):
        v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


def _as_bytes(item):
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    raise TypeError("hash buckets take strings (bytes or str), got %r of type "
                    "%s" % (item, type(item).__name__))


def _check_buckets(num_buckets):
    if isinstance(num_buckets, (bool, np.bool_)) or not isinstance(
            num_buckets, (int, np.integer)):
        raise TypeError("num_buckets must be an int, got %r" % (num_buckets,))
    num_buckets = int(num_buckets)
    if num_buckets < 1:
        raise ValueError("num_buckets must be >= 1, got %d" % num_buckets)
    return num_buckets


def _buckets(strings, num_buckets, hash_fn):
    arr = np.asarray(strings)
    if arr.dtype.kind not in "OSU":
        raise TypeError("hash buckets take an array of strings, got dtype %s"
                        % arr.dtype)
    out = np.empty(arr.shape, np.int64)
    flat_out = out.reshape(-1)
    # Repeated tokens are common (a text dataset); remember the buckets of
    # this call's strings only, so the memory goes when the call returns.
    seen = {}
    for i, item in enumerate(arr.reshape(-1).tolist()):
        b = seen.get(item)
        if b is None:
            b = seen[item] = hash_fn(_as_bytes(item)) % num_buckets
        flat_out[i] = b
    return out


def to_hash_bucket_fast(strings, num_buckets):
    """TensorFlow's ``tf.strings.to_hash_bucket_fast(strings, num_buckets)``.

    Each string's `fingerprint64` modulo `num_buckets` (unsigned), as an
    int64 array of the input's shape.  `strings` is an array (or nested
    list) of bytes or str; str is hashed as its UTF-8 bytes.  Note that a
    NumPy fixed-width bytes array (dtype ``S``) cannot hold trailing NUL
    bytes; use an object array for such strings.
    """
    num_buckets = _check_buckets(num_buckets)
    return _buckets(strings, num_buckets, fingerprint64)


def to_hash_bucket_strong(strings, num_buckets, key):
    """TensorFlow's ``tf.strings.to_hash_bucket_strong(strings, num_buckets,
    key)``.

    Each string's `siphash24` under ``key = [k0, k1]`` (two ints, each taken
    modulo 2**64 as TensorFlow's kernel reinterprets its int64 attr) modulo
    `num_buckets`, as an int64 array of the input's shape.  `strings` is as
    for `to_hash_bucket_fast`.
    """
    num_buckets = _check_buckets(num_buckets)
    key = list(np.asarray(key, dtype=object).reshape(-1))
    if len(key) != 2:
        raise ValueError("Key must have 2 elements, got %d" % len(key))
    k0, k1 = (operator.index(k) & _M64 for k in key)
    return _buckets(strings, num_buckets,
                    lambda s: siphash24(k0, k1, s))
