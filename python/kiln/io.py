"""kiln.io: files, raw bytes, CSV lines, images and records (tf.io).

Everything here runs on the host: file contents are string tensors
(kiln.string), decoded into numeric tensors for the compiled code, as an
input pipeline does:

    paths = kiln.data.Dataset.list_files("images/*.png")
    images = paths.map(lambda p: kiln.io.decode_png(kiln.io.read_file(p), channels=3))

Images decode to uint8 tensors (uint16 for a 16-bit PNG asked for it), as
TensorFlow's decoders.
"""

import csv
import glob as _glob
import io as _pyio
import os
import shutil

import numpy as np

from . import _tensor_proto, errors, ops
from .dtypes import as_dtype, float32, int32, string, widen_unsigned
from .tensor import Tensor, convert_to_tensor


def _text(value, what):
    """A Python str of a str, bytes or scalar string tensor."""
    if isinstance(value, Tensor):
        if value.dtype is not string or value.shape:
            raise TypeError(f"kiln.io.{what}: expects a scalar string, got "
                            f"{value.dtype.name} of shape {list(value.shape)}")
        value = value.numpy()
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    raise TypeError(f"kiln.io.{what}: expects a file name (str or scalar string tensor), got "
                    f"{type(value).__name__}")


def _bytes(value, what):
    """The bytes of bytes, str (UTF-8) or a scalar string tensor."""
    if isinstance(value, Tensor):
        if value.dtype is not string or value.shape:
            raise TypeError(f"kiln.io.{what}: expects a scalar string tensor, got "
                            f"{value.dtype.name} of shape {list(value.shape)}")
        return value.numpy()
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"kiln.io.{what}: expects bytes or a scalar string tensor, got "
                    f"{type(value).__name__}")


def _scalar_string(data):
    return convert_to_tensor(np.array(data, dtype=object), string)


def read_file(filename, name=None):
    """The whole file as a scalar string tensor (tf.io.read_file); a
    missing file is a NotFoundError naming it."""
    path = _text(filename, "read_file")
    try:
        with open(path, "rb") as f:
            return _scalar_string(f.read())
    except FileNotFoundError:
        raise errors.NotFoundError(f"kiln.io.read_file: {path}: no such file",
                                   errors.user_location()) from None
    except IsADirectoryError:
        raise errors.InvalidArgumentError(f"kiln.io.read_file: {path} is a directory",
                                          errors.user_location()) from None


def write_file(filename, contents, name=None):
    """Writes `contents` (a scalar string) to the file, replacing it; the
    directory must exist (tf.io.write_file makes it: so does Kiln)."""
    path = _text(filename, "write_file")
    data = _bytes(contents, "write_file")
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def matching_files(pattern, name=None):
    """The sorted file names that match the glob `pattern`."""
    return convert_to_tensor(np.array(sorted(_glob.glob(_text(pattern, "matching_files"))),
                                      dtype=object), string)


class gfile:  # noqa: N801 (TensorFlow's name: a namespace)
    """tf.io.gfile on local files: exists, glob, isdir, listdir, makedirs,
    mkdir, remove, rename, rmtree, copy, walk, stat, join and GFile
    (open)."""

    @staticmethod
    def exists(path):
        return os.path.exists(_text(path, "gfile.exists"))

    @staticmethod
    def glob(pattern):
        return sorted(_glob.glob(_text(pattern, "gfile.glob")))

    @staticmethod
    def isdir(path):
        return os.path.isdir(_text(path, "gfile.isdir"))

    @staticmethod
    def listdir(path):
        path = _text(path, "gfile.listdir")
        if not os.path.isdir(path):
            raise errors.NotFoundError(f"gfile.listdir: {path} is not a directory",
                                       errors.user_location())
        return sorted(os.listdir(path))

    @staticmethod
    def makedirs(path):
        os.makedirs(_text(path, "gfile.makedirs"), exist_ok=True)

    @staticmethod
    def mkdir(path):
        path = _text(path, "gfile.mkdir")
        try:
            os.mkdir(path)
        except FileExistsError:
            raise errors.AlreadyExistsError(f"gfile.mkdir: {path} exists",
                                            errors.user_location()) from None

    @staticmethod
    def remove(path):
        path = _text(path, "gfile.remove")
        try:
            os.remove(path)
        except FileNotFoundError:
            raise errors.NotFoundError(f"gfile.remove: {path}: no such file",
                                       errors.user_location()) from None

    @staticmethod
    def _to(src, dst, overwrite, what, action):
        src, dst = _text(src, what), _text(dst, what)
        if os.path.exists(dst) and not overwrite:
            raise errors.AlreadyExistsError(f"{what}: {dst} exists (overwrite=False)",
                                            errors.user_location())
        action(src, dst)

    @staticmethod
    def rename(src, dst, overwrite=False):
        gfile._to(src, dst, overwrite, "gfile.rename", os.replace)

    @staticmethod
    def copy(src, dst, overwrite=False):
        gfile._to(src, dst, overwrite, "gfile.copy", shutil.copyfile)

    @staticmethod
    def rmtree(path):
        shutil.rmtree(_text(path, "gfile.rmtree"))

    @staticmethod
    def walk(top, topdown=True, onerror=None):
        return os.walk(_text(top, "gfile.walk"), topdown=topdown, onerror=onerror)

    @staticmethod
    def stat(path):
        return os.stat(_text(path, "gfile.stat"))

    @staticmethod
    def join(path, *paths):
        return os.path.join(path, *paths)

    @staticmethod
    def GFile(name, mode="r"):  # noqa: N802
        return open(_text(name, "gfile.GFile"), mode)

    Open = GFile


def decode_raw(input_bytes, out_type, little_endian=True, fixed_length=None, name=None):
    """The bytes of each string read as `out_type` numbers (tf.io.decode_raw):
    a scalar string gives a vector; strings of shape S give S + [n], each
    string the same length (or cut/zero-padded to `fixed_length` bytes)."""
    strings = convert_to_tensor(input_bytes, string)
    dtype = as_dtype(out_type)
    if dtype.is_complex or dtype is string or dtype.mlir == "bf16":
        raise TypeError(f"kiln.io.decode_raw: out_type must be a real numeric type, got "
                        f"{dtype.name}")
    np_type = np.dtype(dtype.as_numpy_dtype)
    np_type = np_type.newbyteorder("<" if little_endian else ">")
    size = np_type.itemsize
    values = strings._impl.array
    pieces = []
    for b in values.reshape(-1):
        if fixed_length is not None:
            b = b[:int(fixed_length)].ljust(int(fixed_length), b"\0")
        if len(b) % size:
            raise errors.InvalidArgumentError(
                f"kiln.io.decode_raw: a string of {len(b)} bytes is not a whole number of "
                f"{dtype.name} values ({size} bytes each)", errors.user_location())
        pieces.append(np.frombuffer(b, np_type))
    if len({len(p) for p in pieces}) > 1:
        raise errors.InvalidArgumentError(
            "kiln.io.decode_raw: the strings have different lengths "
            f"({sorted({len(p) * size for p in pieces})} bytes); give fixed_length",
            errors.user_location())
    width = len(pieces[0]) if pieces else 0
    out = np.stack(pieces).reshape(values.shape + (width,)) if pieces else \
        np.zeros(values.shape + (0,), np_type)
    return convert_to_tensor(out.astype(dtype.as_numpy_dtype), dtype)


def decode_csv(records, record_defaults, field_delim=",", use_quote_delim=True, name=None,
               na_value="", select_cols=None):
    """Columns of CSV lines (tf.io.decode_csv): one tensor per column, of
    the type of its entry in record_defaults ([] marks a required column;
    [value] its default when the field is empty or equals na_value).
    Quotes work as in CSV when use_quote_delim. A line with a different
    number of fields, or a field that does not parse, is an error naming
    the line."""
    lines = convert_to_tensor(records, string)
    values = lines._impl.array
    defaults = []
    for entry in record_defaults:
        entry = entry.numpy().tolist() if isinstance(entry, Tensor) else entry
        if isinstance(entry, (list, tuple, np.ndarray)):
            entry = list(np.asarray(entry, dtype=object).reshape(-1))
            if len(entry) > 1:
                raise ValueError("decode_csv: a record default holds at most one value")
            entry = entry[0] if entry else None
        defaults.append(entry)
    kinds = [_csv_kind(d, record_defaults[i]) for i, d in enumerate(defaults)]
    columns = list(range(len(defaults))) if select_cols is None else [int(c) for c in
                                                                          select_cols]
    if select_cols is not None and len(columns) != len(defaults):
        raise ValueError("decode_csv: select_cols and record_defaults differ in length")
    out = [np.empty(values.shape, dtype=object) for _ in defaults]
    na = na_value.encode() if isinstance(na_value, str) else bytes(na_value)
    delim = field_delim if isinstance(field_delim, str) else field_delim.decode()
    for index in np.ndindex(values.shape):
        line = values[index].decode("utf-8")
        if use_quote_delim:
            fields = next(csv.reader([line], delimiter=delim)) if line else [""]
        else:
            fields = line.split(delim)
        needed = max(columns) + 1 if select_cols is not None else len(defaults)
        if (select_cols is None and len(fields) != len(defaults)) or len(fields) < needed:
            raise errors.InvalidArgumentError(
                f"kiln.io.decode_csv: expected {len(defaults)} fields but have {len(fields)} "
                f"in record {values[index]!r}", errors.user_location())
        for k, column in enumerate(columns):
            field = fields[column]
            if field == "" or field.encode() == na:
                if defaults[k] is None:
                    raise errors.InvalidArgumentError(
                        f"kiln.io.decode_csv: field {column} is required but missing in "
                        f"record {values[index]!r}", errors.user_location())
                out[k][index] = defaults[k]
                continue
            try:
                out[k][index] = _csv_parse(field, kinds[k])
            except ValueError:
                raise errors.InvalidArgumentError(
                    f"kiln.io.decode_csv: field {column} ({field!r}) of record "
                    f"{values[index]!r} is not a valid {kinds[k].name}",
                    errors.user_location()) from None
    return [convert_to_tensor(o.astype(kind.as_numpy_dtype) if kind is not string else
                              o, kind) for o, kind in zip(out, kinds)]


def _csv_kind(default, given):
    if isinstance(given, Tensor):
        return given.dtype
    if default is None:
        try:
            return as_dtype(given[0]) if given and not isinstance(given, list) else float32
        except (TypeError, IndexError):
            return float32
    if isinstance(default, (bytes, str)):
        return string
    if isinstance(default, (np.integer, np.floating)):  # (its own width: int64, float64)
        return as_dtype(np.asarray(default).dtype)
    if isinstance(default, float):
        return float32
    if isinstance(default, int) and not isinstance(default, bool):
        return int32
    raise TypeError(f"decode_csv: a record default must be a float, an int or a string, got "
                    f"{default!r}")


def _csv_parse(field, kind):
    if kind is string:
        return field.encode("utf-8")
    text = field.strip()
    if kind.is_floating:
        return float(text)
    number = int(text, 10)
    info = np.iinfo(kind.as_numpy_dtype)
    if not info.min <= number <= info.max:
        raise ValueError(field)
    return number


# --- Images ----------------------------------------------------------------------------

def _pillow(what):
    try:
        from PIL import Image
    except ImportError:
        raise errors.UnavailableError(f"kiln.io.{what} needs Pillow (python3-pil)",
                                      errors.user_location()) from None
    return Image


def _open_image(contents, what, ratio=1):
    """A decoded Pillow image; JPEG `ratio` (1, 2, 4 or 8) scales it down
    while decoding (libjpeg's DCT scaling, as TensorFlow's)."""
    Image = _pillow(what)
    data = _bytes(contents, what)
    if int(ratio) not in (1, 2, 4, 8):
        raise ValueError(f"kiln.io.{what}: ratio must be 1, 2, 4 or 8, got {ratio}")
    try:
        image = Image.open(_pyio.BytesIO(data))
        if int(ratio) != 1 and image.format == "JPEG":
            image.draft(image.mode, (max(1, image.width // int(ratio)),
                                     max(1, image.height // int(ratio))))
        image.load()
    except Exception as e:  # (Pillow's many decoder errors)
        raise errors.InvalidArgumentError(f"kiln.io.{what}: cannot decode the image ({e})",
                                          errors.user_location()) from None
    return image


def _depth(dtype, what):
    """16 for uint16 output, 8 for uint8 (and int32, which earlier Kiln
    gave for both), None for float32 (values in [0, 1])."""
    name = getattr(dtype, "name", None) or (np.dtype(dtype).name if not isinstance(dtype, str)
                                             else dtype)
    if name in ("uint8", "int32"):
        return 8
    if name == "uint16":
        return 16
    if name in ("float32", "float16", "float64"):
        return None
    raise ValueError(f"kiln.io.{what}: dtype must be uint8, uint16 or a float type, got "
                     f"{dtype!r}")


def _pixels(image, channels, what, bits=8):
    """The image as [h, w, c] int32 with `channels` (0: the image's own):
    values of `bits` (8: a 16-bit image shifted down, as TensorFlow's uint8
    decode; 16: an 8-bit image times 257)."""
    if channels not in (0, 1, 2, 3, 4):
        raise ValueError(f"kiln.io.{what}: channels must be 0, 1, 2, 3 or 4, got {channels}")
    if image.mode.startswith("I"):  # (16-bit grey: Pillow's I;16 and I)
        grey = np.asarray(image, np.int32)
        grey = grey if bits == 16 else grey >> 8
        top = 65535 if bits == 16 else 255
        want = channels or 1
        planes = [grey] * (1 if want < 3 else 3) + ([np.full_like(grey, top)]
                                                    if want in (2, 4) else [])
        return np.stack(planes, axis=-1)
    own = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "1": 1, "P": 3 if "transparency" not in
           image.info else 4}.get(image.mode, 3)
    want = channels or own
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[want]
    array = np.asarray(image.convert(mode), np.int32).reshape(image.height, image.width, want)
    return array * 257 if bits == 16 else array


def _frames(image, channels, what, bits):
    frames = []
    for i in range(getattr(image, "n_frames", 1)):
        image.seek(i)
        frames.append(_pixels(image, 3 if channels in (0, 3) else channels, what, bits))
    return np.stack(frames)


def decode_image(contents, channels=None, dtype="uint8", name=None, expand_animations=True):
    """A PNG, JPEG, GIF or BMP image as [height, width, channels] (GIF:
    [frames, height, width, 3] with expand_animations): uint8 (16-bit images
    shifted down, as TensorFlow), uint16, or float32 in [0, 1] with
    dtype=float32."""
    image = _open_image(contents, "decode_image")
    channels = int(channels or 0)
    bits = _depth(dtype, "decode_image")
    # (float: values over the full range of the file's own depth)
    read = bits or (16 if image.mode.startswith("I") else 8)
    if image.format == "GIF" and expand_animations:
        array = _frames(image, channels, "decode_image", read)
    else:
        array = _pixels(image, channels, "decode_image", read)
    if bits is None:
        top = 65535.0 if read == 16 else 255.0
        return convert_to_tensor((array / top).astype(as_dtype(dtype).as_numpy_dtype),
                                 as_dtype(dtype))
    return _integer_pixels(array, dtype)


def _integer_pixels(array, dtype):
    """Pixel values as a tensor of `dtype` (uint8 or uint16, as TensorFlow's
    decoders; int32 where asked for)."""
    return convert_to_tensor(array.astype(as_dtype(dtype).as_numpy_dtype))


def _decoder(fmt, what, jpeg=False):
    def decode(contents, channels=0, dtype="uint8", name=None, ratio=1,
               fancy_upscaling=True, try_recover_truncated=False, acceptable_fraction=1,
               dct_method=""):
        image = _open_image(contents, what, ratio if jpeg else 1)
        if fmt and image.format not in fmt:
            raise errors.InvalidArgumentError(
                f"kiln.io.{what}: the data is a {image.format or 'unknown'} image, not "
                f"{' or '.join(fmt)}", errors.user_location())
        bits = _depth(dtype, what)
        if bits is None:
            raise ValueError(f"kiln.io.{what}: dtype must be uint8 or uint16, got {dtype!r} "
                             "(decode_image takes float types)")
        if image.format == "GIF":
            return _integer_pixels(_frames(image, 3, what, bits), dtype)
        return _integer_pixels(_pixels(image, int(channels or 0), what, bits), dtype)
    decode.__name__ = what
    decode.__doc__ = f"tf.io.{what}: [height, width, channels] uint8 (or uint16) pixel " \
        "values (decode_jpeg's ratio scales down while decoding)."
    return decode


decode_png = _decoder(("PNG",), "decode_png")
decode_jpeg = _decoder(("JPEG",), "decode_jpeg", jpeg=True)
decode_bmp = _decoder(("BMP",), "decode_bmp")
decode_gif = _decoder(("GIF",), "decode_gif")


def _encode(image, fmt, what, **options):
    Image = _pillow(what)
    x = convert_to_tensor(image)
    array = np.asarray(x.numpy())
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise errors.InvalidArgumentError(
            f"kiln.io.{what}: expects [height, width, 1-4 channels], got shape "
            f"{list(array.shape)}", errors.user_location())
    if x.dtype.is_floating or array.min(initial=0) < 0 or array.max(initial=0) > 255:
        raise errors.InvalidArgumentError(
            f"kiln.io.{what}: expects integer pixel values in [0, 255] (TensorFlow's uint8)",
            errors.user_location())
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[array.shape[-1]]
    picture = Image.fromarray(array.astype(np.uint8).reshape(array.shape[:2]) if mode == "L"
                              else array.astype(np.uint8), mode)
    out = _pyio.BytesIO()
    picture.save(out, fmt, **options)
    return _scalar_string(out.getvalue())


def encode_png(image, compression=-1, name=None):
    """A PNG file's bytes of an [h, w, c] image of 0-255 integers."""
    level = 6 if compression is None or int(compression) < 0 else int(compression)
    return _encode(image, "PNG", "encode_png", compress_level=level)


def encode_jpeg(image, format="", quality=95, progressive=False,  # noqa: A002
                optimize_size=False, chroma_downsampling=True, density_unit="in",
                x_density=300, y_density=300, xmp_metadata="", name=None):
    """A JPEG file's bytes of an [h, w, 1 or 3] image of 0-255 integers."""
    shape = convert_to_tensor(image).shape
    if len(shape) == 3 and shape[-1] not in (1, 3):
        raise errors.InvalidArgumentError(
            f"kiln.io.encode_jpeg: JPEG takes 1 or 3 channels, got {shape[-1]}",
            errors.user_location())
    return _encode(image, "JPEG", "encode_jpeg", quality=int(quality),
                   progressive=bool(progressive), optimize=bool(optimize_size),
                   subsampling=-1 if chroma_downsampling else 0)


def _bfloat16_bits(x):
    """The uint16 bit patterns of bfloat16 tensor `x` (pairs of them read
    as int32s through bitcast, so no conversion touches a NaN's payload)."""
    flat = ops.reshape(x, [-1])
    n = flat.shape[0]
    if n % 2:
        flat = ops.concat([flat, ops.cast(convert_to_tensor(np.zeros(1, np.float32)),
                                          x.dtype)], 0)
    if not n:
        return np.zeros(x.shape, np.uint16)
    pairs = ops.bitcast(ops.reshape(flat, [-1, 2]), "int32")
    return np.asarray(pairs.numpy()).view(np.uint16)[:n].reshape(x.shape)


def _bfloat16_of_bits(bits):
    """The bfloat16 tensor of uint16 bit patterns `bits`, exactly."""
    flat = np.ascontiguousarray(bits, np.uint16).reshape(-1)
    n = flat.size
    if not n:
        return ops.cast(convert_to_tensor(np.zeros(bits.shape, np.float32)), "bfloat16")
    padded = np.concatenate([flat, np.zeros(n % 2, np.uint16)])
    pairs = ops.bitcast(convert_to_tensor(padded.view(np.int32)), "bfloat16")
    return ops.reshape(ops.reshape(pairs, [-1])[:n], list(bits.shape))


def serialize_tensor(tensor, name=None):
    """The tensor as a serialized TensorProto (tf.io.serialize_tensor's
    bytes: TensorFlow parses them, and parse_tensor reads TensorFlow's), a
    scalar string tensor."""
    x = convert_to_tensor(tensor)
    if x._symbolic:
        raise errors.InvalidArgumentError("kiln.io.serialize_tensor runs eagerly (its bytes "
                                          "are a host value)", errors.user_location())
    if x.dtype.mlir == "bf16":  # (its 16-bit patterns, NaN payloads kept)
        return _scalar_string(_tensor_proto.encode_tensor(_bfloat16_bits(x), "bfloat16"))
    value = x._impl.array if x.dtype is string else np.asarray(x.numpy())
    return _scalar_string(_tensor_proto.encode_tensor(value))


def parse_tensor(serialized, out_type, name=None):
    """The tensor of a serialized TensorProto (tf.io.parse_tensor): its
    dtype must be out_type (a uint64 one, which Kiln lacks, is read as
    int64 while its values fit)."""
    data = _bytes(serialized, "parse_tensor")
    want = as_dtype(out_type)
    try:
        array, dtype_name = _tensor_proto.decode_tensor(data)
    except ValueError as e:
        raise errors.InvalidArgumentError(f"kiln.io.parse_tensor: {e}",
                                          errors.user_location()) from None
    if dtype_name != want.name and not (dtype_name == "uint64" and want.name == "int64"):
        raise errors.InvalidArgumentError(
            f"kiln.io.parse_tensor: the tensor is {dtype_name}, not {want.name}",
            errors.user_location())
    if dtype_name == "bfloat16":  # (bit patterns, kept exactly: NaN payloads too)
        return _bfloat16_of_bits(array)
    if dtype_name == "uint64":
        return convert_to_tensor(widen_unsigned(array))
    return convert_to_tensor(array, want)


from .records import (FixedLenFeature, FixedLenSequenceFeature, TFRecordOptions,  # noqa: E402
                      TFRecordWriter, VarLenFeature, parse_example, parse_single_example)
