"""Byte-level tests of kiln/_tensor_proto.py: the TensorProto bytes of
tf.io.serialize_tensor / tf.io.parse_tensor.

The module is loaded straight from the source tree (no rebuild needed):
its relative ``from ._tfrecord import ...`` is served by a stand-in package
``kilnfmt`` whose ``__path__`` is the kiln source directory.

Oracles, none of them the module itself:
* the protobuf runtime (python3-protobuf, C++ backend, i.e. the parser
  TensorFlow itself uses), with the schema of
  tensorflow/core/framework/{tensor,tensor_shape,types}.proto transcribed
  here as a FileDescriptorProto, once with the default proto3 packed
  encoding and once with [packed = false];
* what TensorFlow builds, transcribed from its sources: SerializeTensorOp
  (core/kernels/parse_tensor_op.cc) uses AsProtoField for DT_STRING and
  AsProtoTensorContent otherwise; Tensor::FromProto / FromProtoField
  (core/framework/tensor.cc) read tensor_content or the typed fields, the
  last value repeated to fill the shape; TensorShape::IsValid
  (core/framework/tensor_shape.cc); port::DecodeStringList
  (core/platform/tensor_coding.cc);
* byte strings derived by hand from the protobuf wire-format specification.
"""

import importlib.util
import math
import os
import random
import sys
import types
import warnings

import numpy as np
import pytest

_KILN_DIR = os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "python", "kiln"))


def _load_module():
    if "kilnfmt" not in sys.modules:
        package = types.ModuleType("kilnfmt")
        package.__path__ = [_KILN_DIR]
        sys.modules["kilnfmt"] = package
    spec = importlib.util.spec_from_file_location(
        "kilnfmt._tensor_proto", os.path.join(_KILN_DIR, "_tensor_proto.py"),
        submodule_search_locations=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tp = _load_module()

# DataType values transcribed from tensorflow/core/framework/types.proto.
ENUM = {
    "float32": 1,     # DT_FLOAT
    "float64": 2,     # DT_DOUBLE
    "int32": 3,       # DT_INT32
    "uint8": 4,       # DT_UINT8
    "int16": 5,       # DT_INT16
    "int8": 6,        # DT_INT8
    "string": 7,      # DT_STRING
    "complex64": 8,   # DT_COMPLEX64
    "int64": 9,       # DT_INT64
    "bool": 10,       # DT_BOOL
    "uint16": 17,     # DT_UINT16
    "complex128": 18,  # DT_COMPLEX128
    "float16": 19,    # DT_HALF
    "uint32": 22,     # DT_UINT32
    "uint64": 23,     # DT_UINT64
}
OTHER_ENUM = {"DT_INVALID": 0, "DT_QINT8": 11, "DT_QUINT8": 12,
              "DT_QINT32": 13, "DT_QINT16": 15,
              "DT_QUINT16": 16, "DT_RESOURCE": 20, "DT_VARIANT": 21,
              "DT_FLOAT_REF": 101}
NUMERIC = [n for n in ENUM if n != "string"]
LE = {"float32": "<f4", "float64": "<f8", "int32": "<i4", "uint8": "u1",
      "int16": "<i2", "int8": "i1", "complex64": "<c8", "int64": "<i8",
      "bool": "?", "uint16": "<u2", "complex128": "<c16", "float16": "<f2",
      "uint32": "<u4", "uint64": "<u8"}
# TensorProto's typed field for each type (tensor.proto comments and
# tensor.cc's ProtoHelper specialisations).
TYPED = {"float32": "float_val", "float64": "double_val",
         "int32": "int_val", "uint8": "int_val", "int16": "int_val",
         "int8": "int_val", "uint16": "int_val", "string": "string_val",
         "complex64": "scomplex_val", "int64": "int64_val",
         "bool": "bool_val", "complex128": "dcomplex_val",
         "float16": "half_val", "uint32": "uint32_val",
         "uint64": "uint64_val"}


# ---------------------------------------------------------------------------
# The schema, for the protobuf runtime
# ---------------------------------------------------------------------------

def _tensor_proto_class(package, packed):
    """TensorProto from a FileDescriptorProto transcribing tensor.proto,
    tensor_shape.proto and types.proto (proto3), in its own pool; `packed`
    None keeps proto3's default (packed), False sets [packed = false] on
    every repeated numeric field."""
    from google.protobuf import descriptor_pb2, descriptor_pool
    from google.protobuf import message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(
        name=f"{package}/tensor.proto", package=package, syntax="proto3")
    enum = fd.enum_type.add(name="DataType")
    for name, number in sorted({**OTHER_ENUM,
                                **{f"T_{k}": v for k, v in ENUM.items()}
                                }.items(), key=lambda kv: kv[1]):
        enum.value.add(name=name.upper(), number=number)

    def field(m, name, number, ftype, label=F.LABEL_OPTIONAL, type_name=None,
              numeric_repeated=False):
        f = m.field.add(name=name, number=number, type=ftype, label=label)
        if type_name:
            f.type_name = f".{package}.{type_name}"
        if numeric_repeated and packed is not None:
            f.options.packed = packed
        return f

    shape = fd.message_type.add(name="TensorShapeProto")
    dim = shape.nested_type.add(name="Dim")
    field(dim, "size", 1, F.TYPE_INT64)
    field(dim, "name", 2, F.TYPE_STRING)
    field(shape, "dim", 2, F.TYPE_MESSAGE, F.LABEL_REPEATED,
          "TensorShapeProto.Dim")
    field(shape, "unknown_rank", 3, F.TYPE_BOOL)

    res = fd.message_type.add(name="ResourceHandleProto")
    for name, number in [("device", 1), ("container", 2), ("name", 3),
                         ("maybe_type_name", 5)]:
        field(res, name, number, F.TYPE_STRING)
    field(res, "hash_code", 4, F.TYPE_UINT64)
    ds = res.nested_type.add(name="DtypeAndShape")
    field(ds, "dtype", 1, F.TYPE_ENUM, type_name="DataType")
    field(ds, "shape", 2, F.TYPE_MESSAGE, type_name="TensorShapeProto")
    field(res, "dtypes_and_shapes", 6, F.TYPE_MESSAGE, F.LABEL_REPEATED,
          "ResourceHandleProto.DtypeAndShape")
    var = fd.message_type.add(name="VariantTensorDataProto")
    field(var, "type_name", 1, F.TYPE_STRING)
    field(var, "metadata", 2, F.TYPE_BYTES)
    field(var, "tensors", 3, F.TYPE_MESSAGE, F.LABEL_REPEATED, "TensorProto")

    t = fd.message_type.add(name="TensorProto")
    R = F.LABEL_REPEATED
    field(t, "dtype", 1, F.TYPE_ENUM, type_name="DataType")
    field(t, "tensor_shape", 2, F.TYPE_MESSAGE, type_name="TensorShapeProto")
    field(t, "version_number", 3, F.TYPE_INT32)
    field(t, "tensor_content", 4, F.TYPE_BYTES)
    for name, number, ftype in [
            ("half_val", 13, F.TYPE_INT32), ("float_val", 5, F.TYPE_FLOAT),
            ("double_val", 6, F.TYPE_DOUBLE), ("int_val", 7, F.TYPE_INT32),
            ("scomplex_val", 9, F.TYPE_FLOAT),
            ("int64_val", 10, F.TYPE_INT64), ("bool_val", 11, F.TYPE_BOOL),
            ("dcomplex_val", 12, F.TYPE_DOUBLE),
            ("uint32_val", 16, F.TYPE_UINT32),
            ("uint64_val", 17, F.TYPE_UINT64)]:
        field(t, name, number, ftype, R, numeric_repeated=True)
    field(t, "string_val", 8, F.TYPE_BYTES, R)
    field(t, "resource_handle_val", 14, F.TYPE_MESSAGE, R,
          "ResourceHandleProto")
    field(t, "variant_val", 15, F.TYPE_MESSAGE, R, "VariantTensorDataProto")

    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    desc = pool.FindMessageTypeByName(f"{package}.TensorProto")
    if hasattr(message_factory, "GetMessageClass"):     # protobuf >= 4.22
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


@pytest.fixture(scope="module")
def pb():
    pytest.importorskip("google.protobuf")
    return {"packed": _tensor_proto_class("tptest_packed", None),
            "unpacked": _tensor_proto_class("tptest_unpacked", False)}


def _pb_parses(msg, data):
    """Parses `data` into `msg` as C++ ``MessageLite::ParseFromString``
    (hence TensorFlow's ParseProtoUnlimited) does; returns False where it
    fails.  The Python binding of the C++ parser only warns ("Unexpected
    end-group tag") when a 0 tag or a stray end-group tag stops the parse
    before the end; the C++ call fails then (ctx.EndedAtLimit() is false),
    so that warning counts as a failure here."""
    from google.protobuf.message import DecodeError
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            msg.ParseFromString(data)
        except DecodeError:
            return False
    return not any("Unexpected end-group tag" in str(w.message)
                   for w in caught)


def _tf_message(cls, arr, name):
    """The TensorProto SerializeTensorOp builds for `arr`."""
    msg = cls()
    msg.dtype = ENUM[name]
    msg.tensor_shape.SetInParent()           # mutable_tensor_shape()
    for d in arr.shape:
        msg.tensor_shape.dim.add().size = d
    if name == "string":                     # AsProtoField
        msg.string_val.extend(arr.ravel().tolist())
    elif arr.size:                           # AsProtoTensorContent
        msg.tensor_content = arr.astype(LE[name]).tobytes()
    return msg


def _same(a, b, bitwise=True):
    """Equal dtype, shape and elements, bit for bit for floats (NaN
    payloads) unless `bitwise` is false (then any NaN equals any NaN)."""
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert a.shape == b.shape, (a.shape, b.shape)
    if a.dtype == object:
        assert a.ravel().tolist() == b.ravel().tolist()
        assert all(type(v) is bytes for v in a.ravel().tolist())
    elif a.dtype.kind in "fc" and not bitwise:
        np.testing.assert_array_equal(a, b)
    elif a.dtype.kind in "fc":
        part = a.dtype.itemsize // (2 if a.dtype.kind == "c" else 1)
        bits = np.dtype(f"u{part}")
        assert np.array_equal(np.ascontiguousarray(a).reshape(-1).view(bits),
                              np.ascontiguousarray(b).reshape(-1).view(bits))
    else:
        assert np.array_equal(a, b)


# ---------------------------------------------------------------------------
# Sample data
# ---------------------------------------------------------------------------

def _samples(name, n, rng):
    """`n` values of type `name`, specials first."""
    if name == "string":
        specials = [b"", b"a", "é".encode(), "日本語😀".encode(),
                    b"\x00",
                    b"nul\x00inside\x00", b"\xff\xfe not utf-8",
                    bytes(range(256)), b"x" * 200]
        extra = [rng.randbytes(rng.choice([0, 1, 5, 130]))
                 for _ in range(max(0, n - len(specials)))]
        out = np.empty(n, dtype=object)
        out[:] = (specials + extra)[:n]
        return out
    if name == "bool":
        return np.array([True, False] * n, dtype=bool)[:n] ^ \
            np.array([rng.random() < 0.5 for _ in range(n)], dtype=bool)
    dt = np.dtype(name)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        specials = [0, 1, info.max, info.min, info.max - 1, 127, 128, 255]
        vals = [v for v in specials if info.min <= v <= info.max]
        vals += [rng.randint(int(info.min), int(info.max))
                 for _ in range(max(0, n - len(vals)))]
        return np.array(vals[:n], dtype=dt)
    part = np.float16 if name == "float16" else (
        np.float32 if name in ("float32", "complex64") else np.float64)
    specials = [0.0, -0.0, 1.0, -2.5, math.inf, -math.inf, math.nan,
                float(np.finfo(part).max), float(np.finfo(part).tiny),
                float(np.finfo(part).tiny) / 4, 1 / 3]
    reals = specials + [rng.gauss(0, 100) for _ in range(2 * n)]
    with np.errstate(over="ignore"):
        r = np.array(reals[:n], dtype=part)
        if dt.kind == "c":          # (real, imag) pairs, set independently
            i = np.array(list(reversed(reals))[:n], dtype=part)
            return np.stack([r, i], axis=-1).reshape(-1).view(dt)
    return r


SHAPES = [(), (0,), (1,), (5,), (2, 3), (2, 0, 3), (3, 1, 2, 2),
          (1, 1, 1, 1, 1, 1, 1)]


# ---------------------------------------------------------------------------
# Hand-derived bytes
# ---------------------------------------------------------------------------

BFLOAT16 = 14  # DT_BFLOAT16 (types.proto), held as uint16 bit patterns


def test_enum_numbers_match_types_proto():
    assert tp.DATA_TYPES == {**ENUM, "bfloat16": BFLOAT16}
    assert tp.DTYPE_NAMES == {v: k for k, v in {**ENUM, "bfloat16": BFLOAT16}.items()}


def test_bfloat16_bit_patterns_against_protobuf(pb):
    """bfloat16 goes out as tensor_content (little-endian uint16 patterns,
    AsProtoTensorContent) and comes back from tensor_content or from
    half_val (ProtoHelper<bfloat16> reads half_val), TensorFlow's fill rule
    included."""
    cls = pb["packed"]
    bits = np.array([[0x3F80, 0xC000], [0x7F80, 0x0001]], np.uint16)  # 1, -2, inf, tiny
    data = tp.encode_tensor(bits, "bfloat16")
    msg = cls()
    msg.ParseFromString(data)
    assert msg.dtype == BFLOAT16
    assert [d.size for d in msg.tensor_shape.dim] == [2, 2]
    assert msg.tensor_content == bits.astype("<u2").tobytes()
    out, name = tp.decode_tensor(data)
    assert name == "bfloat16" and out.dtype == np.uint16
    np.testing.assert_array_equal(out, bits)
    typed = cls(dtype=BFLOAT16)
    typed.tensor_shape.dim.add().size = 3
    typed.half_val.extend([0x4049, 0x1BF80])  # (high bits dropped, last repeated)
    out, name = tp.decode_tensor(typed.SerializeToString())
    assert name == "bfloat16" and out.tolist() == [0x4049, 0xBF80, 0xBF80]
    with pytest.raises(TypeError, match="uint16 bit patterns"):
        tp.encode_tensor(np.array([1.0], np.float32), "bfloat16")


def test_float32_scalar_one_by_hand():
    # dtype: tag (1 << 3 | 0) = 08, DT_FLOAT = 01.  tensor_shape: tag
    # (2 << 3 | 2) = 12, a scalar's TensorShapeProto is empty but set: 00.
    # tensor_content: tag (4 << 3 | 2) = 22, length 04, 1.0f little-endian
    # = 0x3F800000 -> 00 00 80 3f.
    expected = bytes.fromhex("08 01 12 00 22 04 00 00 80 3f")
    assert tp.encode_tensor(np.float32(1.0)) == expected
    assert tp.encode_tensor(np.array(1.0, dtype=np.float32)) == expected
    arr, name = tp.decode_tensor(expected)
    assert name == "float32" and arr.shape == () and arr.dtype == np.float32
    assert arr[()] == 1.0


def test_more_vectors_by_hand():
    # Strings [b"ab", b""] of shape [2]: dtype 08 07; shape 12 04 holding
    # one Dim (12 02) whose size is 08 02; then string_val (8 << 3 | 2 =
    # 42) per element: 42 02 'a' 'b', 42 00.
    v = bytes.fromhex("08 07 12 04 12 02 08 02 42 02 61 62 42 00")
    s = np.array([b"ab", b""], dtype=object)
    assert tp.encode_tensor(s) == v
    _same(tp.decode_tensor(v)[0], s)
    # An empty int64 [0, 3]: DT_INT64 = 9; a size-0 Dim is an empty message
    # (proto3 omits the zero), no tensor_content at all.
    v = bytes.fromhex("08 09 12 06 12 00 12 02 08 03")
    assert tp.encode_tensor(np.zeros((0, 3), np.int64)) == v
    _same(tp.decode_tensor(v)[0], np.zeros((0, 3), np.int64))
    # int16 0..299 of shape [300]: DT_INT16 = 5; the Dim's size 300 is the
    # varint ac 02 (Dim 08 ac 02 = 3 bytes, shape 12 03 ... = 5 bytes); the
    # content's length 600 is the varint d8 04.
    v300 = bytes.fromhex("08 05 12 05 12 03 08 ac 02 22 d8 04") + \
        b"".join(i.to_bytes(2, "little") for i in range(300))
    assert tp.encode_tensor(np.arange(300, dtype=np.int16)) == v300
    _same(tp.decode_tensor(v300)[0], np.arange(300, dtype=np.int16))
    # A half scalar via half_val (13 << 3 | 0 = 68 unpacked): 0x3C00 = 1.0,
    # varint 80 78.
    arr, name = tp.decode_tensor(bytes.fromhex("08 13 68 80 78"))
    assert name == "float16" and arr.shape == () and arr[()] == 1.0
    # The same packed (13 << 3 | 2 = 6a), shape [3]: the value repeats.
    arr, _ = tp.decode_tensor(bytes.fromhex("08 13 12 04 12 02 08 03"
                                            "6a 02 80 78"))
    assert arr.tolist() == [1.0, 1.0, 1.0]
    # A bool [2] via unpacked bool_val (11 << 3 | 0 = 58): true, false.
    arr, name = tp.decode_tensor(bytes.fromhex("08 0a 12 04 12 02 08 02"
                                               "58 01 58 00"))
    assert name == "bool" and arr.tolist() == [True, False]


# ---------------------------------------------------------------------------
# encode_tensor against the message TensorFlow builds
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(ENUM))
def test_encode_matches_tensorflow_message(pb, name):
    rng = random.Random(sum(map(ord, name)))
    cls = pb["packed"]
    for shape in SHAPES:
        n = int(np.prod(shape, dtype=np.int64))
        arr = _samples(name, n, rng).reshape(shape)
        data = tp.encode_tensor(arr)
        assert data == _tf_message(cls, arr, name).SerializeToString(
            deterministic=True), (name, shape)
        msg = cls()
        msg.ParseFromString(data)
        assert msg.dtype == ENUM[name]
        assert msg.HasField("tensor_shape")
        assert [d.size for d in msg.tensor_shape.dim] == list(shape)
        if name == "string":
            assert list(msg.string_val) == arr.ravel().tolist()
            assert msg.tensor_content == b""
        else:
            assert msg.tensor_content == arr.astype(LE[name]).tobytes()
            assert len(msg.string_val) == 0
        out, out_name = tp.decode_tensor(data)
        assert out_name == name
        _same(out, arr)


def test_encode_special_floats_bit_exact(pb):
    for name in ["float16", "float32", "float64", "complex64", "complex128"]:
        dt = np.dtype(name)
        part = {"complex64": np.float32, "complex128": np.float64}.get(
            name, dt.type)
        bits = np.dtype(f"u{np.dtype(part).itemsize}")
        # quiet and signalling NaNs with payloads and signs, infinities,
        # signed zeros, subnormals.
        nb = np.dtype(part).itemsize * 8
        mant = {16: 10, 32: 23, 64: 52}[nb]
        exp_all = ((1 << (nb - 1 - mant)) - 1) << mant
        patterns = [exp_all | 1, exp_all | (1 << (mant - 1)) | 5,
                    (1 << (nb - 1)) | exp_all | 3, exp_all,
                    (1 << (nb - 1)) | exp_all, 0, 1 << (nb - 1), 1, 7]
        p = np.array(patterns, dtype=bits).view(part)
        arr = p if dt.kind == "f" else \
            np.stack([p, p[::-1]], axis=-1).ravel().view(dt)
        data = tp.encode_tensor(arr)
        assert data == _tf_message(pb["packed"], arr, name).SerializeToString(
            deterministic=True)
        out, _ = tp.decode_tensor(data)
        _same(out, arr)


def test_encode_strings_unicode_nul_and_long(pb):
    arr = np.empty((2, 3), dtype=object)
    arr[:] = [[b"", "é".encode(), b"a\x00b"],
              [b"\x00" * 3, "😀\u0000z".encode(), b"q" * 70000]]
    data = tp.encode_tensor(arr)
    assert data == _tf_message(pb["packed"], arr, "string").SerializeToString(
        deterministic=True)
    _same(tp.decode_tensor(data)[0], arr)
    # str elements are written as UTF-8; NumPy S/U arrays are accepted.
    mixed = np.array(["é", b"x\x00y"], dtype=object)
    assert tp.encode_tensor(mixed) == tp.encode_tensor(
        np.array(["é".encode(), b"x\x00y"], dtype=object))
    assert tp.encode_tensor(np.array(["é", "ab"])) == tp.encode_tensor(
        np.array(["é".encode(), b"ab"], dtype=object))
    assert tp.encode_tensor(np.array([b"ab", b"c"])) == tp.encode_tensor(
        np.array([b"ab", b"c"], dtype=object))
    # A scalar string and an empty one.
    assert tp.encode_tensor(np.array(b"hi", dtype=object)) == \
        bytes.fromhex("08 07 12 00 42 02 68 69")
    assert tp.encode_tensor(np.empty((0, 2), dtype=object)) == \
        bytes.fromhex("08 07 12 06 12 00 12 02 08 02")


def test_encode_layout_and_byte_order_independent(pb):
    base = np.arange(24, dtype=np.float64).reshape(2, 3, 4) * 1.5
    expected = tp.encode_tensor(base)
    assert tp.encode_tensor(np.asfortranarray(base)) == expected
    assert tp.encode_tensor(base.astype(">f8")) == expected
    t = base.transpose(2, 0, 1)
    assert tp.encode_tensor(t) == _tf_message(
        pb["packed"], np.ascontiguousarray(t), "float64").SerializeToString(
            deterministic=True)
    # Bool bytes are 0/1 even for a bool view of other bytes.
    weird = np.array([0, 2, 255, 1], dtype=np.uint8).view(bool)
    assert tp.encode_tensor(weird).endswith(bytes.fromhex("22 04 00 01 01 01"))
    # NumPy scalars and Python lists go through numpy.asarray.
    assert tp.encode_tensor(np.int32(7)) == bytes.fromhex(
        "08 03 12 00 22 04 07 00 00 00")
    assert tp.encode_tensor([1.5]) == bytes.fromhex(   # float64 1.5
        "08 02 12 04 12 02 08 01 22 08 00 00 00 00 00 00 f8 3f")


def test_encode_rejects_unsupported():
    for bad in [np.array([1.0], dtype=np.longdouble),
                np.array(["2020-01-01"], dtype="datetime64[D]"),
                np.array([1], dtype="timedelta64[s]"),
                np.zeros(2, dtype=[("a", "i4")])]:
        with pytest.raises(TypeError):
            tp.encode_tensor(bad)
    with pytest.raises(TypeError):
        tp.encode_tensor(np.array([b"a", 3], dtype=object))


# ---------------------------------------------------------------------------
# decode_tensor: typed fields, packed and unpacked, TF's fill rule
# ---------------------------------------------------------------------------

def _tf_fill(values, n, default):
    """FromProtoField (tensor.cc), transcribed: the first n values; if
    there are fewer, the rest repeats the last; none at all -> T()."""
    values = list(values)
    if len(values) >= n:
        return values[:n]
    if values:
        return values + [values[-1]] * (n - len(values))
    return [default] * n


def _put_typed(msg, name, arr):
    field = getattr(msg, TYPED[name])
    if name == "float16":
        field.extend(arr.view(np.uint16).tolist())
    elif name in ("complex64", "complex128"):
        part = np.float32 if name == "complex64" else np.float64
        field.extend(arr.view(part).tolist())
    else:
        field.extend(arr.tolist())


def _unpacked_tag(name):
    """The one-byte tag of an unpacked value of `name`'s typed field."""
    number = {"float_val": 5, "double_val": 6, "int_val": 7,
              "scomplex_val": 9, "int64_val": 10, "bool_val": 11,
              "dcomplex_val": 12, "half_val": 13, "uint32_val": 16,
              "uint64_val": 17}[TYPED[name]]
    wire = {"float_val": 5, "scomplex_val": 5, "double_val": 1,
            "dcomplex_val": 1}.get(TYPED[name], 0)
    return bytes([number << 3 | wire]) if number < 16 else \
        bytes([(number << 3 | wire) & 0x7F | 0x80, number >> 4])


DEFAULT = {"string": b"", "bool": False}


@pytest.mark.parametrize("packing", ["packed", "unpacked"])
@pytest.mark.parametrize("name", list(ENUM))
def test_decode_typed_fields(pb, name, packing):
    rng = random.Random(len(name) * 7 + len(packing))
    cls = pb[packing]
    for shape in [(), (1,), (6,), (2, 3), (0,), (3, 0), (2, 2, 2)]:
        n = int(np.prod(shape, dtype=np.int64))
        for k in sorted({0, 1, 2, max(n - 1, 0), n, n + 3}):
            vals = _samples(name, k, rng)
            msg = cls()
            msg.dtype = ENUM[name]
            for d in shape:
                msg.tensor_shape.dim.add().size = d
            _put_typed(msg, name, vals)
            data = msg.SerializeToString(deterministic=True)
            if packing == "unpacked" and k > 1 and name != "string":
                # really unpacked: one tag per value
                assert data.count(_unpacked_tag(name)) >= k
            out, out_name = tp.decode_tensor(data)
            assert out_name == name
            default = DEFAULT.get(name, 0)
            want = _tf_fill(vals.tolist(), n, default)
            expected = (np.empty(n, dtype=object) if name == "string"
                        else np.array(want, dtype=name))
            if name == "string":
                expected[:] = want
            _same(out, expected.reshape(shape))


def test_decode_repeat_last_value_examples(pb):
    cls = pb["packed"]
    msg = cls(dtype=ENUM["float32"])
    msg.tensor_shape.dim.add().size = 2
    msg.tensor_shape.dim.add().size = 3
    msg.float_val.extend([1.5, -2.0])
    out, _ = tp.decode_tensor(msg.SerializeToString())
    assert out.tolist() == [[1.5, -2.0, -2.0], [-2.0, -2.0, -2.0]]
    # No values: zeros.
    msg.ClearField("float_val")
    out, _ = tp.decode_tensor(msg.SerializeToString())
    assert out.tolist() == [[0.0] * 3] * 2
    # Strings repeat too; none gives b"".
    s = cls(dtype=ENUM["string"])
    s.tensor_shape.dim.add().size = 3
    s.string_val.extend([b"x", b"\x00y"])
    out, _ = tp.decode_tensor(s.SerializeToString())
    assert out.tolist() == [b"x", b"\x00y", b"\x00y"]
    s.ClearField("string_val")
    assert tp.decode_tensor(s.SerializeToString())[0].tolist() == [b""] * 3
    # Complex: pairs; an odd last float is ignored; one float = no values.
    c = cls(dtype=ENUM["complex64"])
    c.tensor_shape.dim.add().size = 3
    c.scomplex_val.extend([1.0, 2.0, 3.0])
    assert tp.decode_tensor(c.SerializeToString())[0].tolist() == \
        [1 + 2j] * 3
    c.ClearField("scomplex_val")
    c.scomplex_val.extend([5.0])
    assert tp.decode_tensor(c.SerializeToString())[0].tolist() == [0j] * 3
    # More values than elements: the extra ones are ignored.
    i = cls(dtype=ENUM["int64"])
    i.int64_val.extend([7, 8, 9])
    out, _ = tp.decode_tensor(i.SerializeToString())
    assert out.shape == () and out[()] == 7


def test_decode_narrowing_of_int_val_and_half_val(pb):
    cls = pb["packed"]

    def dec(name, field, values, n):
        msg = cls(dtype=ENUM[name])
        msg.tensor_shape.dim.add().size = n
        getattr(msg, field).extend(values)
        return tp.decode_tensor(msg.SerializeToString())[0].tolist()

    # C++ int32 -> int8/uint8/int16/uint16 keeps the low bits.
    assert dec("int8", "int_val", [300, -129, 127, -128], 4) == \
        [44, 127, 127, -128]
    assert dec("uint8", "int_val", [-1, 256, 511, 200], 4) == \
        [255, 0, 255, 200]
    assert dec("int16", "int_val", [70000, -32769], 2) == [4464, 32767]
    assert dec("uint16", "int_val", [-1, 65541], 2) == [65535, 5]
    assert dec("int32", "int_val", [-(1 << 31), (1 << 31) - 1], 2) == \
        [-(1 << 31), (1 << 31) - 1]
    # half_val: the low 16 bits are the float16's bits.
    assert dec("float16", "half_val", [0x13C00, 0xC000], 2) == [1.0, -2.0]
    assert math.isnan(dec("float16", "half_val", [-1], 1)[0])  # 0xFFFF
    assert dec("uint32", "uint32_val", [0xFFFFFFFF, 0], 2) == [0xFFFFFFFF, 0]
    assert dec("uint64", "uint64_val", [(1 << 64) - 1], 2) == \
        [(1 << 64) - 1] * 2
    assert dec("int64", "int64_val", [-(1 << 63)], 1) == [-(1 << 63)]
    # A 64-bit varint in an int32 field is truncated to 32 bits, as the
    # protobuf parser does; and a bool varint is true when non-zero.
    raw = bytes.fromhex("08 03 12 04 12 02 08 02 38") + \
        bytes.fromhex("ff ff ff ff ff ff ff ff ff 01") + \
        bytes.fromhex("38 85 80 80 80 10")
    msg = cls()
    msg.ParseFromString(raw)
    assert tp.decode_tensor(raw)[0].tolist() == list(msg.int_val) == [-1, 5]
    raw = bytes.fromhex("08 0a 12 04 12 02 08 03 5a 04 02 00 80 01")
    msg = cls()
    msg.ParseFromString(raw)
    assert tp.decode_tensor(raw)[0].tolist() == list(msg.bool_val) == \
        [True, False, True]


# ---------------------------------------------------------------------------
# decode_tensor: tensor_content, strings in tensor_content, protobuf merging
# ---------------------------------------------------------------------------

def test_decode_tensor_content_wins_over_typed_fields(pb):
    msg = pb["packed"](dtype=ENUM["int32"])
    msg.tensor_shape.dim.add().size = 2
    msg.tensor_content = np.array([5, -6], "<i4").tobytes()
    msg.int_val.extend([1, 2])
    assert tp.decode_tensor(msg.SerializeToString())[0].tolist() == [5, -6]


def test_decode_string_tensor_content():
    # port::EncodeStringList: every length as a varint32, then the bytes.
    strings = [b"", b"abc", b"\x00" * 130, "é".encode()]
    content = bytes([0, 3, 0x82, 0x01, 2]) + b"".join(strings)
    data = bytes.fromhex("08 07 12 04 12 02 08 04 22") + \
        bytes([len(content) & 0x7F | 0x80, len(content) >> 7]) + content
    out, name = tp.decode_tensor(data)
    assert name == "string" and out.tolist() == strings
    # Lengths that do not add up, or a cut-off length, are errors.
    for bad in [bytes([0, 3, 0x82, 0x01, 2]) + b"".join(strings) + b"!",
                bytes([5, 0, 0, 0]) + b"abcd", bytes([0, 0, 0x82])]:
        length = bytes([len(bad)]) if len(bad) < 128 else \
            bytes([len(bad) & 0x7F | 0x80, len(bad) >> 7])
        data = bytes.fromhex("08 07 12 04 12 02 08 04 22") + length + bad
        with pytest.raises(ValueError, match="string tensor_content"):
            tp.decode_tensor(data)


def test_decode_follows_protobuf_merge_rules(pb):
    cls = pb["packed"]
    unknown = [bytes.fromhex("f8 01 05"),          # field 31 varint
               bytes.fromhex("fd 01 01 02 03 04"),  # field 31 fixed32
               bytes.fromhex("99 02 01 02 03 04 05 06 07 08"),  # 35 fixed64
               bytes.fromhex("a2 06 02 aa bb"),     # field 100, LEN
               bytes.fromhex("b3 06 08 01 b4 06"),  # field 102, group
               bytes.fromhex("7a 03 0a 01 78"),     # variant_val, ignored
               bytes.fromhex("72 00"),              # field 14 (resource)
               bytes.fromhex("18 07"),              # version_number
               bytes.fromhex("0a 01 00"),           # dtype as LEN: unknown
               bytes.fromhex("25 00 00 80 3f"),     # content as fixed32
               bytes.fromhex("40 07")]              # string_val as varint
    parts = [bytes.fromhex("08 03"),                # dtype int32 ...
             bytes.fromhex("12 04 12 02 08 02"),    # shape [2] ...
             bytes.fromhex("22 04 01 00 00 00"),    # a content, replaced
             bytes.fromhex("08 01"),                # dtype float32 wins
             bytes.fromhex("12 04 12 02 08 03"),    # ... shape merges: [2,3]
             bytes.fromhex("22 00"),                # empty content wins
             bytes.fromhex("2a 04 00 00 80 3f"),    # float_val 1.0 packed
             bytes.fromhex("2d 00 00 00 40")]       # + unpacked 2.0
    rng = random.Random(5)
    for trial in range(30):
        pieces = list(parts)
        for u in rng.sample(unknown, rng.randrange(len(unknown) + 1)):
            pieces.insert(rng.randrange(len(pieces) + 1), u)
        data = b"".join(pieces)
        msg = cls()
        msg.ParseFromString(data)
        assert msg.dtype == 1 and msg.tensor_content == b""
        assert [d.size for d in msg.tensor_shape.dim] == [2, 3]
        out, name = tp.decode_tensor(data)
        assert name == "float32"
        assert out.tolist() == [[1.0, 2.0, 2.0], [2.0, 2.0, 2.0]]
    # Packed and unpacked occurrences of one repeated field interleave in
    # wire order: int_val 1 (unpacked), [2, 3] (packed), 4 (unpacked); the
    # same for fixed-width double_val.
    for data, want in [
            (bytes.fromhex("08 03 12 04 12 02 08 04 38 01 3a 02 02 03 38 04"),
             [1, 2, 3, 4]),
            (bytes.fromhex("08 02 12 04 12 02 08 03"
                           "31 00 00 00 00 00 00 f0 3f"
                           "32 08 00 00 00 00 00 00 00 40"
                           "31 00 00 00 00 00 00 08 40"), [1.0, 2.0, 3.0])]:
        msg = cls()
        msg.ParseFromString(data)
        assert list(msg.int_val or msg.double_val) == want
        assert tp.decode_tensor(data)[0].tolist() == want
    # A Dim's size: last one wins; name and unknown_rank are ignored.
    data = bytes.fromhex("08 09 12 0e 12 08 08 05 12 02 68 69 08 02 18 01"
                         "12 00")
    msg = cls()
    msg.ParseFromString(data)
    assert [d.size for d in msg.tensor_shape.dim] == [2, 0]
    out, _ = tp.decode_tensor(data)
    assert out.shape == (2, 0) and out.dtype == np.int64


def _reference_decode(msg):
    """TensorFlow's Tensor::FromProto over a message parsed by protobuf:
    returns (array, name) or raises ValueError."""
    names = {v: k for k, v in ENUM.items()}
    if msg.dtype not in names:
        raise ValueError("dtype")
    name = names[msg.dtype]
    dims = [d.size for d in msg.tensor_shape.dim]
    if len(dims) > 254 or any(d < 0 for d in dims):
        raise ValueError("shape")
    n = 1
    for d in dims:
        n *= d
        if n >= 1 << 63:
            raise ValueError("shape")
    if n == 0:
        return np.empty(dims, dtype=object if name == "string" else name), \
            name
    if msg.tensor_content:
        c = msg.tensor_content
        if name == "string":
            raise NotImplementedError
        if len(c) != n * np.dtype(LE[name]).itemsize:
            raise ValueError("size")
        if name == "bool" and any(b > 1 for b in c):
            raise ValueError("bool")
        return np.frombuffer(c, LE[name]).astype(name).reshape(dims), name
    field = list(getattr(msg, TYPED[name]))
    if name == "float16":
        field = [np.uint16(v & 0xFFFF).view(np.float16) for v in field]
    elif name in ("complex64", "complex128"):
        field = [complex(field[2 * i], field[2 * i + 1])
                 for i in range(len(field) // 2)]
    elif TYPED[name] == "int_val":
        bits = np.dtype(name).itemsize * 8
        field = [((v + (1 << (bits - 1))) % (1 << bits)) - (1 << (bits - 1))
                 if np.dtype(name).kind == "i" else v % (1 << bits)
                 for v in field]
    want = _tf_fill(field, n, DEFAULT.get(name, 0))
    if name == "string":
        out = np.empty(n, dtype=object)
        out[:] = want
    else:
        out = np.array(want, dtype=name)
    return out.reshape(dims), name


def test_decode_agrees_with_protobuf_on_mutated_messages(pb):
    """Random byte mutations of valid messages: whenever protobuf rejects
    the bytes, decode_tensor raises "could not parse"; whenever protobuf
    accepts them, decode_tensor returns what TensorFlow's FromProto rule
    gives on protobuf's parse (or both reject it)."""
    rng = random.Random(11)
    seeds = []
    for name in ENUM:
        for shape in [(), (3,), (2, 2)]:
            n = int(np.prod(shape, dtype=np.int64))
            arr = _samples(name, n, rng).reshape(shape)
            seeds.append(tp.encode_tensor(arr))
            for packing in ("packed", "unpacked"):
                msg = pb[packing](dtype=ENUM[name])
                for d in shape:
                    msg.tensor_shape.dim.add().size = d
                _put_typed(msg, name, _samples(name, max(n - 1, 1), rng))
                seeds.append(msg.SerializeToString())
    cls = pb["packed"]
    parsed_ok = rejected = compared = 0
    tags = [0x08, 0x12, 0x18, 0x22, 0x2a, 0x2d, 0x31, 0x32, 0x38, 0x3a, 0x42,
            0x4a, 0x4d, 0x50, 0x52, 0x58, 0x5a, 0x61, 0x62, 0x68, 0x6a, 0x72,
            0x7a, 0x80, 0x82]
    for trial in range(6000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.choice([1, 1, 2, 3])):
            op = rng.random()
            if op < 0.5 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif op < 0.7 and data:
                i = rng.randrange(len(data))
                del data[i:i + rng.randrange(1, 4)]
            elif op < 0.8:
                data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
            elif op < 0.9:               # splice in a known field's tag
                i = rng.randrange(len(data) + 1)
                data[i:i] = bytes([rng.choice(tags), rng.randrange(6)])
            else:
                data = data[:rng.randrange(len(data) + 1)]
        data = bytes(data)
        msg = cls()
        if not _pb_parses(msg, data):
            rejected += 1
            with pytest.raises(ValueError, match="could not parse"):
                tp.decode_tensor(data)
            continue
        parsed_ok += 1
        dims = [d.size for d in msg.tensor_shape.dim]
        if all(0 <= d < 1 << 20 for d in dims) and \
                math.prod(dims) > 1 << 16:
            continue                  # a valid but needlessly big tensor
        try:
            expected = _reference_decode(msg)
        except NotImplementedError:
            continue
        except ValueError:
            with pytest.raises(ValueError):
                tp.decode_tensor(data)
            continue
        out, name = tp.decode_tensor(data)
        compared += 1
        assert name == expected[1]
        # protobuf hands float fields over as Python floats, which quiets
        # signalling NaNs, so NaNs are compared loosely here.
        _same(out, expected[0], bitwise=False)
    assert compared > 500 and rejected > 1000, (compared, rejected)


# ---------------------------------------------------------------------------
# decode_tensor: errors
# ---------------------------------------------------------------------------

def _shape_bytes(dims):
    out = bytearray()
    for d in dims:
        v = d & ((1 << 64) - 1)
        dim = bytearray([0x08])
        while v >= 0x80:
            dim.append(v & 0x7F | 0x80)
            v >>= 7
        dim.append(v)
        out += bytes([0x12, len(dim)]) + dim
    return bytes([0x12, len(out)]) + bytes(out)


def test_decode_errors_name_the_problem():
    def err(data, match):
        with pytest.raises(ValueError, match=match):
            tp.decode_tensor(data)

    err(b"", "dtype is not set")
    err(bytes.fromhex("12 00 22 04 00 00 80 3f"), "dtype is not set")
    err(bytes.fromhex("08 0d 12 00"), "DT_QINT32")
    err(bytes.fromhex("08 15 12 00"), "DT_VARIANT")
    err(bytes.fromhex("08 63 12 00"), "unknown or unsupported dtype enum "
        "value 99")
    err(bytes.fromhex("08 65 12 00"), "value 101")               # DT_FLOAT_REF
    err(bytes.fromhex("08 ff ff ff ff 0f"), "value -1")
    err(b"\x08\x01" + _shape_bytes([2, -3]), r"dimension 1 .* negative")
    err(b"\x08\x01" + _shape_bytes([-1]), "negative")
    err(b"\x08\x01" + _shape_bytes([1 << 32, 1 << 31]), "int64")
    err(b"\x08\x01" + bytes.fromhex("12 fe 03") + bytes.fromhex("12 00")
        * 255, "255 dimensions")
    err(bytes.fromhex("08 01 12 04 12 02 08 02 22 04 00 00 80 3f"),
        "tensor_content has 4 bytes, but a float32 tensor of shape \\[2\\] "
        "needs 2 \\* 4 = 8")
    err(bytes.fromhex("08 0a 12 04 12 02 08 02 22 02 01 02"),
        "bool tensor_content byte 1 is 2")
    err(bytes.fromhex("08 01 12"), "could not parse .*truncated")
    err(bytes.fromhex("08 01 22 05 00 00"), "could not parse .*past the end")
    err(bytes.fromhex("08 01 0f"), "could not parse .*wire type")
    err(bytes.fromhex("08 01 2a 03 00 00 80"), "could not parse .*multiple "
        "of 4")
    err(bytes.fromhex("08 80 80 80 80 80 80 80 80 80 80 01"),
        "could not parse .*varint")
    err(bytes.fromhex("08 01 12 05 12 03 12 01 ff"), "could not parse .*UTF-8")
    with pytest.raises(ValueError, match=r"Type mismatch between parsed "
                       r"tensor \(float32\) and dtype \(float64\)"):
        tp.decode_tensor(bytes.fromhex("08 01 12 00 22 04 00 00 80 3f"),
                         out_type="float64")
    one = bytes.fromhex("08 01 12 00 22 04 00 00 80 3f")
    out, name = tp.decode_tensor(one, out_type="float32")
    assert name == "float32" and out[()] == 1.0


def test_decode_edge_cases_tensorflow_accepts():
    # No tensor_shape at all: a scalar, filled with zero.
    out, name = tp.decode_tensor(bytes.fromhex("08 03"))
    assert name == "int32" and out.shape == () and out[()] == 0
    # An empty tensor ignores its data fields, even a wrong-sized content.
    out, _ = tp.decode_tensor(bytes.fromhex("08 01 12 02 12 00 22 02 01 02"))
    assert out.shape == (0,) and out.dtype == np.float32
    # unknown_rank is ignored by TensorShape; Dim names are ignored.
    out, _ = tp.decode_tensor(bytes.fromhex("08 09 12 0a 12 06 08 02 12 02 68"
                                            "69 18 01 52 01 05"))
    assert out.tolist() == [5, 5]
    # 32 dims (NumPy 1's most) of size 1: a one-element tensor.
    data = b"\x08\x03" + bytes.fromhex("12 80 01") + \
        bytes.fromhex("12 02 08 01") * 32 + bytes.fromhex("38 09")
    out, _ = tp.decode_tensor(data)
    assert out.shape == (1,) * 32 and out.ravel().tolist() == [9]
    # 254 dims pass TensorFlow's check, so the error is NumPy's limit (or
    # none); 255 fail TensorFlow's (tested above).
    data = b"\x08\x03" + bytes.fromhex("12 fc 03") + \
        bytes.fromhex("12 00") * 254
    with pytest.raises(ValueError, match="NumPy arrays have at most"):
        tp.decode_tensor(data)


def test_resource_and_variant_submessages_checked_like_protobuf(pb):
    """A float tensor carrying stray resource_handle_val / variant_val
    submessages: ignored when protobuf can parse them, a parse error when it
    cannot (ParseTensor fails on any protobuf parse failure)."""
    from google.protobuf.message import DecodeError
    cls = pb["packed"]
    base = bytes.fromhex("08 01 12 00 22 04 00 00 80 3f")
    inner_ok = cls(dtype=2)
    inner_ok.double_val.extend([1.0, 2.0])
    inner_bad_float = bytes.fromhex("08 01 2a 03 00 00 80")
    inner_bad_utf8 = bytes.fromhex("12 05 12 03 12 01 ff")

    def ld(tag, payload):
        return bytes([tag, len(payload)]) + payload

    good = [ld(0x72, ld(0x0a, b"/cpu:0") + ld(0x2a, "é".encode())
                 + ld(0x32, ld(0x12, ld(0x12, b"\x08\x03")))),
            ld(0x7a, ld(0x0a, b"tensorflow::Tensor") + ld(0x12, b"\xff\x00")
                 + ld(0x1a, inner_ok.SerializeToString())),
            ld(0x7a, ld(0x1a, ld(0x7a, ld(0x1a, b"\x08\x01"))))]
    bad = [ld(0x72, ld(0x0a, b"\xff")),                  # device not UTF-8
           ld(0x72, ld(0x32, ld(0x12, inner_bad_utf8))),  # Dim name in shape
           ld(0x7a, ld(0x0a, b"\xc3")),                  # type_name
           ld(0x7a, ld(0x1a, inner_bad_float)),          # packed float
           ld(0x7a, ld(0x1a, ld(0x3a, b"\x80"))),        # packed varint cut
           ld(0x7a, ld(0x1a, ld(0x12, inner_bad_utf8)))]
    for extra in good:
        msg = cls()
        msg.ParseFromString(base + extra)
        out, name = tp.decode_tensor(base + extra)
        assert name == "float32" and out[()] == 1.0
    for extra in bad:
        with pytest.raises(DecodeError):
            cls().ParseFromString(base + extra)
        with pytest.raises(ValueError, match="could not parse"):
            tp.decode_tensor(base + extra)
    # A 0 tag or a stray end-group tag ends a C++ parse early: a failure.
    for tail in [b"\x00", b"\x0c", b"\xb4\x06", b"\x00\x08\x01"]:
        assert not _pb_parses(cls(), base + tail)
        with pytest.raises(ValueError, match="could not parse"):
            tp.decode_tensor(base + tail)
    # Deeply nested unknown groups are an error, not a crash.
    with pytest.raises(ValueError, match="could not parse"):
        tp.decode_tensor(b"\x08\x01" + b"\xb3\x06" * 5000)
