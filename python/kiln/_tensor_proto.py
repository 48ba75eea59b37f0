"""``tf.io.serialize_tensor`` / ``tf.io.parse_tensor`` bytes, in pure Python.

Both ops exchange a serialised ``tensorflow.TensorProto``
(``tensorflow/core/framework/tensor.proto``, ``tensor_shape.proto`` and
``types.proto``, all proto3)::

    message TensorProto {
      DataType dtype = 1;
      TensorShapeProto tensor_shape = 2;
      int32 version_number = 3;
      bytes tensor_content = 4;
      repeated int32 half_val = 13 [packed = true];     // DT_HALF bit patterns
      repeated float float_val = 5 [packed = true];
      repeated double double_val = 6 [packed = true];
      repeated int32 int_val = 7 [packed = true];       // INT32/16/8, UINT8/16
      repeated bytes string_val = 8;
      repeated float scomplex_val = 9 [packed = true];  // (re, im) pairs
      repeated int64 int64_val = 10 [packed = true];
      repeated bool bool_val = 11 [packed = true];
      repeated double dcomplex_val = 12 [packed = true];
      repeated ResourceHandleProto resource_handle_val = 14;
      repeated VariantTensorDataProto variant_val = 15;
      repeated uint32 uint32_val = 16 [packed = true];
      repeated uint64 uint64_val = 17 [packed = true];
    }
    message TensorShapeProto {
      message Dim { int64 size = 1; string name = 2; }
      repeated Dim dim = 2;
      bool unknown_rank = 3;
    }

**Writing** (`encode_tensor`) follows ``SerializeTensorOp``
(``tensorflow/core/kernels/parse_tensor_op.cc``): a ``DT_STRING`` tensor goes
through ``Tensor::AsProtoField`` (one ``string_val`` per element), every
other type through ``Tensor::AsProtoTensorContent`` (the elements' raw
little-endian bytes, row-major, in ``tensor_content``); both always set
``tensor_shape`` (``shape_.AsProto(proto->mutable_tensor_shape())``), so even
a scalar's empty shape is written (``12 00``), and a ``Dim`` of size 0 is an
empty message.  Fields come out in field-number order, as protobuf writes
them.  A float32 scalar 1.0 is ``08 01 12 00 22 04 00 00 80 3f``.

**Reading** (`decode_tensor`) follows ``ParseTensorOp`` and
``Tensor::FromProto`` (``tensorflow/core/framework/tensor.cc``):

* the bytes are parsed as protobuf's C++ parser does (packed and unpacked
  repeated fields, mixed too; unknown fields of any wire type skipped; a
  known field with an unexpected wire type treated as unknown; the last
  ``dtype`` / ``tensor_content`` / ``Dim.size`` wins; several
  ``tensor_shape`` occurrences merge, i.e. their dims concatenate; int32 /
  uint32 fields keep the low 32 bits of their varint; a ``Dim.name`` must be
  UTF-8, as for any proto3 ``string``);
* the shape must be valid for a ``TensorShape`` (``TensorShape::IsValid``):
  at most 254 dims, none negative, element count within int64;
  ``unknown_rank`` is ignored, as ``TensorShape`` ignores it;
* with no elements, the data fields are ignored (only the dtype is checked);
* otherwise a non-empty ``tensor_content`` must hold exactly the elements'
  bytes (a bool byte must be 0 or 1; strings use TensorFlow's
  ``EncodeStringList`` layout: every length as a varint32, then every
  string's bytes);
* otherwise the typed field of the dtype is read (``FromProtoField``):
  values beyond the element count are ignored, a shorter list has its last
  value repeated to fill the shape, and no values at all gives zeros
  (``False``, ``b""``).  ``int_val`` feeds int32, int16, int8, uint8 and
  uint16 (narrowed by dropping high bits, like the C++ conversion),
  ``half_val`` holds float16 bit patterns (low 16 bits used),
  ``scomplex_val`` / ``dcomplex_val`` hold (real, imag) pairs (an odd last
  float is ignored).

Supported dtypes, by the names ``tf.DType.name`` uses: float16, float32,
float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64, bool,
complex64, complex128, string, and bfloat16 (NumPy has no bfloat16: its
arrays are uint16 bit patterns, the upper halves of float32s; typed values
come from ``half_val``, as TensorFlow's ProtoHelper reads them).  Other
TensorFlow types (the quantized types, resource, variant, ...) raise
`ValueError`.

The submessages of ``resource_handle_val`` and ``variant_val`` (only
meaningful for the unsupported resource and variant dtypes) are not decoded,
but checked as protobuf's parser checks them (``ResourceHandleProto``,
``VariantTensorDataProto`` and the ``TensorProto`` inside it: UTF-8 strings,
whole packed values, at most 100 levels of nesting), since a parse failure
there fails ``ParseTensor``.

This module imports nothing from kiln but its sibling ``_tfrecord`` (whose
protobuf wire-format helpers it shares), the standard library and NumPy.
"""

import numpy as np

from ._tfrecord import (_FIXED32, _FIXED64, _LEN, _VARINT, _Malformed,
                        _decode_packed_varints, _fields, _put_len_field,
                        _put_varint)

__all__ = ["encode_tensor", "decode_tensor", "DATA_TYPES", "DTYPE_NAMES"]

# DataType enum values (tensorflow/core/framework/types.proto) of the
# supported types, by tf.DType name.
DATA_TYPES = {
    "float32": 1, "float64": 2, "int32": 3, "uint8": 4, "int16": 5,
    "int8": 6, "string": 7, "complex64": 8, "int64": 9, "bool": 10,
    "uint16": 17, "complex128": 18, "float16": 19, "uint32": 22,
    "uint64": 23, "bfloat16": 14,
}
DTYPE_NAMES = {v: k for k, v in DATA_TYPES.items()}

# Valid TensorFlow types this module cannot represent with NumPy.
_UNSUPPORTED = {11: "DT_QINT8", 12: "DT_QUINT8", 13: "DT_QINT32",
                15: "DT_QINT16", 16: "DT_QUINT16",
                20: "DT_RESOURCE", 21: "DT_VARIANT"}

# Little-endian NumPy dtype of each numeric type's elements.
_NP = {
    "float32": "<f4", "float64": "<f8", "int32": "<i4", "uint8": "u1",
    "int16": "<i2", "int8": "i1", "complex64": "<c8", "int64": "<i8",
    "bool": "?", "uint16": "<u2", "complex128": "<c16", "float16": "<f2",
    "uint32": "<u4", "uint64": "<u8", "bfloat16": "<u2",
}

# NumPy (kind, itemsize) -> type name, for encoding.
_FROM_NUMPY = {
    ("f", 2): "float16", ("f", 4): "float32", ("f", 8): "float64",
    ("i", 1): "int8", ("i", 2): "int16", ("i", 4): "int32", ("i", 8): "int64",
    ("u", 1): "uint8", ("u", 2): "uint16", ("u", 4): "uint32",
    ("u", 8): "uint64", ("b", 1): "bool", ("c", 8): "complex64",
    ("c", 16): "complex128",
}

# TensorProto field numbers.
_DTYPE, _SHAPE, _VERSION, _CONTENT = 1, 2, 3, 4
_FLOAT_VAL, _DOUBLE_VAL, _INT_VAL, _STRING_VAL = 5, 6, 7, 8
_SCOMPLEX_VAL, _INT64_VAL, _BOOL_VAL, _DCOMPLEX_VAL = 9, 10, 11, 12
_HALF_VAL, _UINT32_VAL, _UINT64_VAL = 13, 16, 17
# Repeated numeric fields: number -> element encoding.
_FIXED_FIELDS = {_FLOAT_VAL: 4, _SCOMPLEX_VAL: 4, _DOUBLE_VAL: 8,
                 _DCOMPLEX_VAL: 8}
_VARINT_FIELDS = (_INT_VAL, _INT64_VAL, _BOOL_VAL, _HALF_VAL, _UINT32_VAL,
                  _UINT64_VAL)
# The typed field each type is read from (FromProtoField / ProtoHelper).
_TYPED_FIELD = {
    "float32": _FLOAT_VAL, "float64": _DOUBLE_VAL, "int32": _INT_VAL,
    "uint8": _INT_VAL, "int16": _INT_VAL, "int8": _INT_VAL,
    "uint16": _INT_VAL, "string": _STRING_VAL, "complex64": _SCOMPLEX_VAL,
    "int64": _INT64_VAL, "bool": _BOOL_VAL, "complex128": _DCOMPLEX_VAL,
    "float16": _HALF_VAL, "bfloat16": _HALF_VAL, "uint32": _UINT32_VAL,
    "uint64": _UINT64_VAL,
}

_MAX_DIMS = 254                 # TensorShape::MaxDimensions()
_MAX_DEPTH = 100                # protobuf's default recursion limit


def _numpy_max_dims():
    for n in (64, 32):
        try:
            np.empty((1,) * n, dtype=np.uint8)
            return n
        except ValueError:
            pass
    return 32


_NUMPY_MAX_DIMS = _numpy_max_dims()   # 32 before NumPy 2, then 64
_INT64_MAX = (1 << 63) - 1
_MAX_MESSAGE = (1 << 31) - 1    # protobuf cannot serialise 2 GiB or more


# ---------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------

def _as_bytes(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, str):
        return v.encode("utf-8")
    raise TypeError(f"a string tensor's elements must be bytes (or str, "
                    f"written as UTF-8), not {type(v).__name__}")


def _np_name(name):
    """The NumPy dtype that holds elements of type `name`."""
    return "uint16" if name == "bfloat16" else name


def encode_tensor(array, dtype=None):
    """Returns what ``tf.io.serialize_tensor`` returns for `array`: the bytes
    of a ``TensorProto``.

    `array` is a NumPy array (or anything `numpy.asarray` accepts) of dtype
    float16/32/64, int8/16/32/64, uint8/16/32/64, bool, complex64/128, or
    strings: an object array of bytes (str elements are written as UTF-8),
    or a NumPy ``S``/``U`` array (elements as NumPy returns them, so an
    ``S`` array's trailing NULs are lost; use an object array to keep
    them).  Any shape, including scalars and empty arrays.  Numbers go to
    ``tensor_content`` (little-endian, row-major), strings to ``string_val``.
    Raises `TypeError` for any other dtype.  ``dtype="bfloat16"`` takes a
    uint16 array of bfloat16 bit patterns.
    """
    arr = np.asarray(array)
    kind = arr.dtype.kind
    if dtype == "bfloat16":
        if arr.dtype != np.uint16:
            raise TypeError("a bfloat16 tensor is serialized from its uint16 bit "
                            f"patterns, got NumPy dtype {arr.dtype}")
        name = "bfloat16"
    elif kind in "OSU":
        name = "string"
    else:
        name = _FROM_NUMPY.get((kind, arr.dtype.itemsize))
        if name is None:
            raise TypeError(f"cannot serialize a tensor of NumPy dtype "
                            f"{arr.dtype}: expected one of "
                            f"{sorted(DATA_TYPES)}")
    out = bytearray()
    out.append((_DTYPE << 3) | _VARINT)
    _put_varint(out, DATA_TYPES[name])
    shape = bytearray()
    for size in arr.shape:
        dim = bytearray()
        if size:                                   # proto3: 0 is omitted
            dim.append((1 << 3) | _VARINT)
            _put_varint(dim, size)
        _put_len_field(shape, 2, dim)
    _put_len_field(out, _SHAPE, shape)
    if name == "string":
        for v in arr.ravel(order="C").tolist():
            _put_len_field(out, _STRING_VAL, _as_bytes(v))
            if len(out) > _MAX_MESSAGE:
                break
    elif arr.size:
        if name == "bool":    # normalise non-0/1 bytes a view may carry
            content = (arr.view(np.uint8) != 0).astype(np.uint8).tobytes()
        else:
            content = np.ascontiguousarray(arr, dtype=_NP[name]).tobytes()
        if len(content) > _MAX_MESSAGE:
            raise ValueError(f"cannot serialize a tensor of "
                             f"{len(content)} bytes: a TensorProto must be "
                             "smaller than 2 GiB")
        _put_len_field(out, _CONTENT, content)
    if len(out) > _MAX_MESSAGE:
        raise ValueError(f"cannot serialize this tensor: its TensorProto "
                         f"would be {len(out)}+ bytes, and protobuf messages "
                         "must be smaller than 2 GiB")
    return bytes(out)


# ---------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------

def _int32(v):
    """A varint (mod 2**64) read as an int32 field: the low 32 bits, signed."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def _int64(v):
    return v - (1 << 64) if v >> 63 else v


def _parse_shape(buf, ranges):
    """The dims of the TensorShapeProto serialised across `ranges` (repeated
    occurrences of the field merge: their dims concatenate)."""
    dims = []
    for start, stop in ranges:
        for number, wire, value in _fields(buf, start, stop):
            if number != 2 or wire != _LEN:     # unknown_rank is ignored
                continue
            size = 0
            for dnum, dwire, dvalue in _fields(buf, *value):
                if dnum == 1 and dwire == _VARINT:
                    size = _int64(dvalue)
                elif dnum == 2 and dwire == _LEN:
                    try:
                        buf[dvalue[0]:dvalue[1]].decode("utf-8")
                    except UnicodeDecodeError:
                        raise _Malformed(
                            f"TensorShapeProto.Dim.name at byte {dvalue[0]} "
                            "is not valid UTF-8") from None
            dims.append(size)
    return dims


def _check_shape(dims):
    if len(dims) > _MAX_DIMS:
        raise ValueError(f"invalid TensorProto: its shape has {len(dims)} "
                         f"dimensions, more than the {_MAX_DIMS} TensorFlow "
                         "allows")
    n = 1
    for i, d in enumerate(dims):
        if d < 0:
            raise ValueError(f"invalid TensorProto: dimension {i} of shape "
                             f"{dims} is negative ({d})")
        n *= d
        if n > _INT64_MAX:
            raise ValueError(f"invalid TensorProto: shape {dims} has more "
                             "elements than fit in an int64")
    return n


# What protobuf's parser checks inside the submessages (besides wire-format
# structure, which `_fields` checks): proto3 `string` fields must be UTF-8,
# packed fixed-width fields must hold whole values, packed varints must be
# complete.  Field number -> "str", "pf4", "pf8", "pv" or a nested schema.
_DIM_SCHEMA = {2: "str"}
_SHAPE_SCHEMA = {2: _DIM_SCHEMA}
_RESOURCE_SCHEMA = {1: "str", 2: "str", 3: "str", 5: "str",
                    6: {2: _SHAPE_SCHEMA}}         # DtypeAndShape
_TENSOR_SCHEMA = {2: _SHAPE_SCHEMA, 5: "pf4", 9: "pf4", 6: "pf8", 12: "pf8",
                  14: _RESOURCE_SCHEMA}
_TENSOR_SCHEMA.update({f: "pv" for f in _VARINT_FIELDS})
_VARIANT_SCHEMA = {1: "str", 3: _TENSOR_SCHEMA}
_TENSOR_SCHEMA[15] = _VARIANT_SCHEMA


def _validate(buf, start, stop, schema, depth):
    """Checks the message in buf[start:stop] as protobuf's parser would,
    raising `_Malformed`; returns nothing."""
    if depth > _MAX_DEPTH:
        raise _Malformed(f"messages nested more than {_MAX_DEPTH} deep")
    for number, wire, value in _fields(buf, start, stop):
        kind = schema.get(number)
        if kind is None or wire != _LEN:
            continue
        if kind == "str":
            try:
                buf[value[0]:value[1]].decode("utf-8")
            except UnicodeDecodeError:
                raise _Malformed(f"string field {number} at byte {value[0]} "
                                 "is not valid UTF-8") from None
        elif kind in ("pf4", "pf8"):
            size = 4 if kind == "pf4" else 8
            if (value[1] - value[0]) % size:
                raise _Malformed(
                    f"packed field {number} at byte {value[0]} has "
                    f"{value[1] - value[0]} bytes, not a multiple of {size}")
        elif kind == "pv":
            _decode_packed_varints(buf, *value)
        else:
            _validate(buf, value[0], value[1], kind, depth + 1)


class _Parsed:
    def __init__(self):
        self.dtype = 0
        self.shape_ranges = []
        self.content = None          # (start, stop) of the last occurrence
        self.strings = []            # (start, stop) of each string_val
        self.fixed = {f: [] for f in _FIXED_FIELDS}    # byte chunks
        self.varints = {f: [] for f in _VARINT_FIELDS}  # uint64 arrays


def _parse(buf):
    p = _Parsed()
    singles = {}                     # field -> pending unpacked varints

    def flush(field):
        if singles.get(field):
            p.varints[field].append(np.array(singles.pop(field),
                                             dtype=np.uint64))

    for number, wire, value in _fields(buf, 0, len(buf)):
        if number == _DTYPE and wire == _VARINT:
            p.dtype = _int32(value)
        elif number == _SHAPE and wire == _LEN:
            p.shape_ranges.append(value)
        elif number == _CONTENT and wire == _LEN:
            p.content = value
        elif number == _STRING_VAL and wire == _LEN:
            p.strings.append(value)
        elif number in _FIXED_FIELDS:
            size = _FIXED_FIELDS[number]
            if wire == _LEN:
                if (value[1] - value[0]) % size:
                    raise _Malformed(
                        f"packed field {number} at byte {value[0]} has "
                        f"{value[1] - value[0]} bytes, not a multiple of "
                        f"{size}")
                p.fixed[number].append(buf[value[0]:value[1]])
            elif wire == (_FIXED32 if size == 4 else _FIXED64):
                p.fixed[number].append(buf[value[0]:value[1]])
        elif number in p.varints:
            if wire == _VARINT:
                singles.setdefault(number, []).append(value)
            elif wire == _LEN:
                flush(number)
                p.varints[number].append(
                    _decode_packed_varints(buf, *value).view(np.uint64))
        elif number in (14, 15) and wire == _LEN:
            _validate(buf, value[0], value[1], _TENSOR_SCHEMA[number], 1)
    for field in list(singles):
        flush(field)
    return p


def _typed_values(p, buf, name):
    """The values of the typed field `name` reads from, as a 1-D array of
    the output dtype (a list of bytes for strings)."""
    field = _TYPED_FIELD[name]
    if name == "string":
        return [buf[s:e] for s, e in p.strings]
    if field in _FIXED_FIELDS:
        raw = b"".join(p.fixed[field])
        if name in ("float32", "float64"):
            return np.frombuffer(raw, dtype=_NP[name]).astype(name)
        part = "<f4" if name == "complex64" else "<f8"
        floats = np.frombuffer(raw, dtype=part)
        floats = floats[:floats.size // 2 * 2].astype(part[1:])
        return floats.view(name)
    chunks = p.varints[field]
    u = (np.concatenate(chunks) if chunks
         else np.empty(0, dtype=np.uint64))
    if name == "bool":
        return u != 0
    if name in ("int64", "uint64"):
        return u.view(name)
    if name == "float16":
        return (u & np.uint64(0xFFFF)).astype(np.uint16).view(np.float16)
    if name == "bfloat16":
        return (u & np.uint64(0xFFFF)).astype(np.uint16)
    # int_val / uint32_val: int32-sized fields; narrower types keep their
    # low bits, as the C++ integer conversion does.
    bits = np.dtype(name).itemsize * 8
    mask = np.uint64((1 << bits) - 1)
    return (u & mask).astype(f"u{bits // 8}").view(name)


def _fill(values, n, name):
    """TensorFlow's FromProtoField rule: the first `n` values; fewer are
    padded with the last one; none gives the type's zero."""
    k = len(values)
    if name == "string":
        out = np.empty(n, dtype=object)
        if k >= n:
            out[:] = values[:n]
        elif k:
            out[:k] = values
            out[k:] = values[-1]
        else:
            out[:] = b""
        return out
    if k >= n:
        return np.array(values[:n])
    out = np.zeros(n, dtype=_np_name(name))
    if k:
        out[:k] = values
        out[k:] = values[-1]
    return out


def _decode_string_list(data, n):
    """TensorFlow's port::DecodeStringList: n varint32 lengths (at most 5
    bytes, taken mod 2**32), then exactly the strings' bytes."""
    pos = 0
    sizes = []
    for i in range(n):
        result = 0
        for shift in range(0, 35, 7):
            if pos >= len(data):
                raise ValueError(
                    f"invalid TensorProto: string tensor_content ends in "
                    f"the length of string {i} of {n}")
            b = data[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                break
        else:
            raise ValueError(f"invalid TensorProto: string tensor_content "
                             f"has an over-long length varint for string {i}")
        sizes.append(result & 0xFFFFFFFF)
    if sum(sizes) != len(data) - pos:
        raise ValueError(
            f"invalid TensorProto: string tensor_content's lengths add up to "
            f"{sum(sizes)} bytes but {len(data) - pos} follow them")
    out = np.empty(n, dtype=object)
    for i, size in enumerate(sizes):
        out[i] = data[pos:pos + size]
        pos += size
    return out


def _build(p, buf, name, n, shape):
    """The array of a parsed TensorProto of valid dtype `name` and shape
    (`n` elements), as Tensor::FromProto builds it."""
    if n == 0:
        return np.empty(shape, dtype=object if name == "string" else _np_name(name))
    content = buf[p.content[0]:p.content[1]] if p.content else b""
    if content:
        if name == "string":
            return _decode_string_list(content, n).reshape(shape)
        itemsize = np.dtype(_NP[name]).itemsize
        if len(content) != n * itemsize:
            raise ValueError(
                f"invalid TensorProto: tensor_content has {len(content)} "
                f"bytes, but a {name} tensor of shape {list(shape)} needs "
                f"{n} * {itemsize} = {n * itemsize}")
        if name == "bool":
            raw = np.frombuffer(content, dtype=np.uint8)
            if (raw > 1).any():
                at = int(np.argmax(raw > 1))
                raise ValueError(
                    f"invalid TensorProto: bool tensor_content byte {at} is "
                    f"{int(raw[at])}, not 0 or 1")
        arr = np.frombuffer(content, dtype=_NP[name]).astype(_np_name(name))
        return arr.reshape(shape)
    values = _typed_values(p, buf, name)
    return _fill(values, n, name).reshape(shape)


def decode_tensor(data, out_type=None):
    """Parses the bytes of a ``TensorProto`` as ``tf.io.parse_tensor`` does.

    Returns ``(array, dtype_name)``: a NumPy array of the proto's shape and
    type (native byte order; an object array of bytes for strings) and the
    type's ``tf.DType`` name (``"float32"``, ``"string"``, ...).  If
    `out_type` (such a name) is given and differs, raises `ValueError` as
    ``ParseTensorOp`` does.  Accepts every encoding TensorFlow accepts:
    ``tensor_content``, or the typed ``*_val`` fields, packed or not, with
    TensorFlow's repeat-the-last-value rule (see the module docstring).

    Raises `ValueError` naming the problem for bytes protobuf cannot parse
    (truncation, bad wire type or field number, over-long varints, ...), an
    unset, unknown or unsupported dtype, an invalid shape (negative dims,
    more than 254 dims, int64 overflow), a ``tensor_content`` that does
    not hold the elements (wrong size, a bool byte other than 0/1, a bad
    string list), a shape valid for TensorFlow but beyond NumPy (more than
    32 dims before NumPy 2, 64 after), or a tensor too large to allocate.
    """
    buf = bytes(data)
    try:
        p = _parse(buf)
        dims = _parse_shape(buf, p.shape_ranges)
    except _Malformed as e:
        raise ValueError(f"could not parse {len(buf)} bytes as a "
                         f"TensorProto: {e}") from None
    except RecursionError:          # unknown groups nested absurdly deep
        raise ValueError(f"could not parse {len(buf)} bytes as a "
                         "TensorProto: groups nested too deeply") from None
    if p.dtype == 0:
        raise ValueError("invalid TensorProto: dtype is not set "
                         "(DT_INVALID)")
    name = DTYPE_NAMES.get(p.dtype)
    if name is None:
        if p.dtype in _UNSUPPORTED:
            raise ValueError(f"unsupported TensorProto dtype "
                             f"{_UNSUPPORTED[p.dtype]} ({p.dtype})")
        raise ValueError(f"invalid TensorProto: unknown or unsupported "
                         f"dtype enum value {p.dtype}")
    n = _check_shape(dims)
    shape = tuple(dims)
    if len(shape) > _NUMPY_MAX_DIMS:
        raise ValueError(f"cannot represent a tensor of {len(shape)} "
                         f"dimensions: NumPy arrays have at most "
                         f"{_NUMPY_MAX_DIMS}")
    try:
        array = _build(p, buf, name, n, shape)
    except MemoryError:
        raise ValueError(f"cannot allocate a {name} tensor of shape "
                         f"{list(shape)} ({n} elements)") from None
    if out_type is not None and out_type != name:
        raise ValueError(f"Type mismatch between parsed tensor ({name}) and "
                         f"dtype ({out_type})")
    return array, name
