"""TFRecord files and tf.train.Example messages, as TensorFlow writes and
reads them (byte for byte: the framing with masked CRC-32C checksums and
the protobuf wire format are in _tfrecord.py).

    with kiln.io.TFRecordWriter("train.tfrecord") as writer:
        for image, label in samples:
            example = kiln.train.Example(features=kiln.train.Features(feature={
                "image": kiln.train.Feature(bytes_list=kiln.train.BytesList(value=[image])),
                "label": kiln.train.Feature(int64_list=kiln.train.Int64List(value=[label]))}))
            writer.write(example.SerializeToString())

    spec = {"image": kiln.io.FixedLenFeature([], kiln.string),
            "label": kiln.io.FixedLenFeature([], kiln.int64)}
    ds = kiln.data.TFRecordDataset("train.tfrecord").map(
        lambda record: kiln.io.parse_single_example(record, spec))

Parsing runs on the host (records are strings); the parsed numbers feed
compiled code.
"""

import numpy as np

from . import _tfrecord, errors
from .dtypes import as_dtype, string
from .sparse import SparseTensor
from .tensor import Tensor, convert_to_tensor


# --- tf.train.Example and its parts ----------------------------------------------------

class _ValueList:
    """BytesList, FloatList, Int64List: a `value` list."""
    kind = None

    def __init__(self, value=()):
        self.value = list(value.numpy().tolist() if isinstance(value, Tensor) else value)

    def __eq__(self, other):
        return type(self) is type(other) and self.value == other.value

    def __repr__(self):
        return f"{type(self).__name__}(value={self.value!r})"


class BytesList(_ValueList):
    kind = "bytes"


class FloatList(_ValueList):
    kind = "float"


class Int64List(_ValueList):
    kind = "int64"


_LISTS = {"bytes": BytesList, "float": FloatList, "int64": Int64List}
_FIELDS = {"bytes": "bytes_list", "float": "float_list", "int64": "int64_list"}


class Feature:
    """One feature: exactly one of bytes_list, float_list, int64_list (an
    unset one reads as empty, as protobuf's)."""

    def __init__(self, bytes_list=None, float_list=None, int64_list=None):
        given = [(k, v) for k, v in (("bytes", bytes_list), ("float", float_list),
                                     ("int64", int64_list)) if v is not None]
        if len(given) > 1:
            raise ValueError("Feature: give one of bytes_list, float_list and int64_list")
        self._kind, self._list = given[0] if given else (None, None)

    def WhichOneof(self, group):  # noqa: N802 (protobuf's name)
        return None if self._kind is None else _FIELDS[self._kind]

    def _get(self, kind):
        return self._list if self._kind == kind else _LISTS[kind]()

    bytes_list = property(lambda self: self._get("bytes"))
    float_list = property(lambda self: self._get("float"))
    int64_list = property(lambda self: self._get("int64"))

    def __eq__(self, other):
        return isinstance(other, Feature) and self._kind == other._kind and \
            self._list == other._list

    def __repr__(self):
        return f"Feature({_FIELDS[self._kind]}={self._list!r})" if self._kind else "Feature()"


class Features:
    """A map of feature names to Features."""

    def __init__(self, feature=None):
        self.feature = dict(feature or {})

    def __eq__(self, other):
        return isinstance(other, Features) and self.feature == other.feature

    def __repr__(self):
        return f"Features(feature={self.feature!r})"


class Example:
    """tf.train.Example: Features, serialized in protobuf's wire format
    (SerializeToString, FromString, ParseFromString), so files written by
    TensorFlow read here and the other way round."""

    def __init__(self, features=None):
        self.features = features if features is not None else Features()

    def SerializeToString(self, deterministic=None):  # noqa: N802
        spec = {}
        for name, feature in self.features.feature.items():
            kind = feature._kind
            values = [] if kind is None else feature._list.value
            if kind == "bytes":
                values = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values]
            spec[name] = (kind, values)
        try:
            return _tfrecord.encode_example(spec)
        except (TypeError, ValueError) as e:
            raise ValueError(f"Example.SerializeToString: {e}") from None

    def ParseFromString(self, data):  # noqa: N802
        data = data.numpy() if isinstance(data, Tensor) else data
        try:
            decoded = _tfrecord.decode_example(bytes(data))
        except ValueError as e:
            raise errors.DataLossError(f"Example: {e}", errors.user_location()) from None
        feature = {}
        for name, (kind, values) in decoded.items():
            if kind is None:
                feature[name] = Feature()
                continue
            values = list(values) if kind == "bytes" else values.tolist()
            feature[name] = Feature(**{_FIELDS[kind]: _LISTS[kind](values)})
        self.features = Features(feature)
        return len(data)

    @classmethod
    def FromString(cls, data):  # noqa: N802
        example = cls()
        example.ParseFromString(data)
        return example

    def __eq__(self, other):
        return isinstance(other, Example) and self.features == other.features

    def __repr__(self):
        return f"Example(features={self.features!r})"


# --- TFRecord files ----------------------------------------------------------------------

class TFRecordOptions:
    """tf.io.TFRecordOptions: compression_type None, "", "GZIP" or "ZLIB",
    and zlib's compression_level."""

    def __init__(self, compression_type=None, compression_level=None, **unused):
        self.compression_type = _compression(compression_type, "TFRecordOptions")
        self.compression_level = 6 if compression_level is None else int(compression_level)


def _compression(value, what):
    kind = (value or "").upper() if isinstance(value, str) or value is None else value
    if kind not in ("", "GZIP", "ZLIB"):
        raise ValueError(f"{what}: compression_type must be None, '', 'GZIP' or 'ZLIB', got "
                         f"{value!r}")
    return kind or None


class TFRecordWriter:
    """Writes records (bytes or scalar string tensors) to a TFRecord file
    (tf.io.TFRecordWriter); `options` a TFRecordOptions or a compression
    type. A context manager; close() finishes the file."""

    def __init__(self, path, options=None):
        if not isinstance(options, TFRecordOptions):
            options = TFRecordOptions(options)
        path = path.numpy().decode() if isinstance(path, Tensor) else str(path)
        try:
            self._writer = _tfrecord.RecordWriter(path, options.compression_type,
                                                  options.compression_level)
        except OSError as e:
            raise errors.NotFoundError(f"TFRecordWriter: cannot open {path} ({e})",
                                       errors.user_location()) from None

    def write(self, record):
        if isinstance(record, Tensor):
            if record.dtype is not string or record.shape:
                raise TypeError("TFRecordWriter.write: a record is bytes or a scalar string "
                                f"tensor, got {record.dtype.name} of shape {list(record.shape)}")
            record = record.numpy()
        self._writer.write(record)

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def read_records(path, compression_type, what="TFRecordDataset"):
    """The records of one file as bytes; corruption is a DataLossError
    naming the file and offset."""
    kind = _compression(compression_type, what)
    try:
        records = _tfrecord.open_records(path, kind)
        yield from records
    except FileNotFoundError:
        raise errors.NotFoundError(f"{what}: {path}: no such file",
                                   errors.user_location()) from None
    except ValueError as e:
        raise errors.DataLossError(f"{what}: {e}", errors.user_location()) from None


# --- Parsing ---------------------------------------------------------------------------------

_KIND_OF = {"f32": "float", "i64": "int64", "string": "bytes"}


def _feature_dtype(dtype, what):
    dtype = as_dtype(dtype)
    if dtype.mlir not in _KIND_OF:
        raise ValueError(f"{what}: dtype must be float32, int64 or string, got {dtype.name}")
    return dtype


class FixedLenFeature:
    """A feature with a fixed number of values: prod(shape) of them,
    parsed into a tensor of `shape` (tf.io.FixedLenFeature); a missing one
    takes default_value, or is an error when there is none."""

    def __init__(self, shape, dtype, default_value=None):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = _feature_dtype(dtype, "FixedLenFeature")
        self.default_value = default_value


class FixedLenSequenceFeature:
    """A feature with any number of values, each of `shape` (for
    parse_example: padded with default_value, or 0 / b"", to the batch's
    longest); allow_missing makes a missing one empty."""

    def __init__(self, shape, dtype, allow_missing=False, default_value=None):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = _feature_dtype(dtype, "FixedLenSequenceFeature")
        self.allow_missing = bool(allow_missing)
        self.default_value = default_value


class VarLenFeature:
    """A feature with any number of values, parsed into a SparseTensor
    (tf.io.VarLenFeature)."""

    def __init__(self, dtype):
        self.dtype = _feature_dtype(dtype, "VarLenFeature")


def _records(serialized, what):
    """The serialized examples as an object array of bytes."""
    x = serialized if isinstance(serialized, Tensor) else convert_to_tensor(serialized, string)
    if x.dtype is not string:
        raise TypeError(f"{what}: expects serialized examples (strings), got {x.dtype.name}")
    return x._impl.array


def _decode(record, what):
    try:
        return _tfrecord.decode_example(record)
    except ValueError as e:
        raise errors.InvalidArgumentError(f"{what}: could not parse an Example: {e}",
                                          errors.user_location()) from None


def _values_of(decoded, name, spec, what):
    """The values of feature `name` as a flat NumPy array of spec's dtype,
    or None when the example lacks it."""
    if name not in decoded or decoded[name][0] is None:
        return None
    kind, values = decoded[name]
    want = _KIND_OF[spec.dtype.mlir]
    if kind != want:
        raise errors.InvalidArgumentError(
            f"{what}: feature {name!r} holds {kind} values but the spec asks for "
            f"{spec.dtype.name}", errors.user_location())
    if kind == "bytes":
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array
    return np.asarray(values, spec.dtype.as_numpy_dtype)


def _fixed(values, name, spec, what):
    size = int(np.prod(spec.shape, dtype=np.int64))
    if values is None:
        if spec.default_value is None:
            raise errors.InvalidArgumentError(
                f"{what}: feature {name!r} ({spec.dtype.name}) is required but missing",
                errors.user_location())
        default = np.asarray(spec.default_value, dtype=object if spec.dtype is string
                             else spec.dtype.as_numpy_dtype)
        if spec.dtype is string:
            default = np.vectorize(lambda v: v.encode() if isinstance(v, str) else v,
                                   otypes=[object])(default) if default.size else default
        return np.broadcast_to(default, spec.shape).copy()
    if len(values) != size:
        raise errors.InvalidArgumentError(
            f"{what}: feature {name!r} has {len(values)} values, its shape "
            f"{list(spec.shape)} needs {size}", errors.user_location())
    return values.reshape(spec.shape)


def _padding(spec):
    if spec.default_value is not None:
        value = spec.default_value
        return value.encode() if isinstance(value, str) else value
    return b"" if spec.dtype is string else 0


def _output(array, dtype):
    return convert_to_tensor(array if dtype is string else array.astype(dtype.as_numpy_dtype),
                             dtype)


def parse_example(serialized, features, name=None, example_names=None):
    """A batch of serialized Examples (a vector of strings) parsed by the
    `features` spec: FixedLenFeature -> [batch] + shape, VarLenFeature ->
    a SparseTensor [batch, longest], FixedLenSequenceFeature -> [batch,
    longest] + shape padded. Returns a dict by feature name."""
    what = "kiln.io.parse_example"
    records = _records(serialized, what)
    if records.ndim != 1:
        raise errors.InvalidArgumentError(f"{what}: expects a vector of serialized Examples, "
                                          f"got shape {list(records.shape)}",
                                          errors.user_location())
    decoded = [_decode(r, what) for r in records]
    out = {}
    for feature_name, spec in features.items():
        per = [_values_of(d, feature_name, spec, what) for d in decoded]
        if isinstance(spec, FixedLenFeature):
            rows = [_fixed(v, feature_name, spec, what) for v in per]
            stacked = np.stack(rows) if rows else np.zeros((0,) + spec.shape,
                                                           object if spec.dtype is string
                                                           else spec.dtype.as_numpy_dtype)
            out[feature_name] = _output(stacked, spec.dtype)
        elif isinstance(spec, VarLenFeature):
            lengths = np.array([0 if v is None else len(v) for v in per], np.int64)
            starts = np.cumsum(lengths) - lengths
            rows = np.repeat(np.arange(len(per), dtype=np.int64), lengths)
            index = np.stack([rows, np.arange(lengths.sum(), dtype=np.int64) -
                              np.repeat(starts, lengths)], axis=1)
            flat = [v for v in per if v is not None]
            values = np.concatenate(flat) if flat else np.zeros(
                0, object if spec.dtype is string else spec.dtype.as_numpy_dtype)
            out[feature_name] = SparseTensor(index, _output(values, spec.dtype),
                                             [len(per), int(lengths.max(initial=0))])
        elif isinstance(spec, FixedLenSequenceFeature):
            inner = int(np.prod(spec.shape, dtype=np.int64))
            rows = []
            for v in per:
                if v is None:
                    if not spec.allow_missing:
                        raise errors.InvalidArgumentError(
                            f"{what}: feature {feature_name!r} is missing (allow_missing="
                            "False)", errors.user_location())
                    v = np.zeros(0, object if spec.dtype is string else
                                 spec.dtype.as_numpy_dtype)
                if inner and len(v) % inner:
                    raise errors.InvalidArgumentError(
                        f"{what}: feature {feature_name!r} has {len(v)} values, not a "
                        f"multiple of {list(spec.shape)}", errors.user_location())
                rows.append(v.reshape((-1,) + spec.shape))
            longest = max((len(r) for r in rows), default=0)
            padded = np.empty((len(rows), longest) + spec.shape,
                              object if spec.dtype is string else spec.dtype.as_numpy_dtype)
            padded[...] = _padding(spec)
            for b, r in enumerate(rows):
                padded[b, :len(r)] = r
            out[feature_name] = _output(padded, spec.dtype)
        else:
            raise TypeError(f"{what}: feature {feature_name!r}: expected a FixedLenFeature, "
                            f"VarLenFeature or FixedLenSequenceFeature, got {spec!r}")
    return out


def parse_single_example(serialized, features, name=None, example_names=None):
    """One serialized Example (a scalar string) parsed by `features`: as
    parse_example without the batch dimension (a VarLenFeature gives a
    1-D SparseTensor)."""
    records = _records(serialized, "kiln.io.parse_single_example")
    if records.ndim != 0:
        raise errors.InvalidArgumentError(
            f"kiln.io.parse_single_example: expects one serialized Example (a scalar), got "
            f"shape {list(records.shape)}; use parse_example for a batch",
            errors.user_location())
    batch = parse_example(records.reshape(1), features)
    out = {}
    for feature_name, value in batch.items():
        if isinstance(value, SparseTensor):
            out[feature_name] = SparseTensor(value.indices[:, 1:], value.values,
                                             value.shape[1:])
        else:
            out[feature_name] = value[0]
    return out

