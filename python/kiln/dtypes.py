"""Element types: kiln.float32 and friends, convertible to and from NumPy."""

import builtins

import numpy as np


class DType:
    """An element type. ``name`` is TensorFlow's spelling, ``mlir`` the MLIR
    element type."""

    def __init__(self, name, mlir, numpy):
        self.name = name
        self.mlir = mlir
        self.as_numpy_dtype = numpy

    @property
    def is_floating(self):
        return self.mlir.startswith(("f", "bf"))

    @property
    def is_integer(self):
        return self.mlir in ("i32", "i64", "i8", "i16", "ui8", "ui16", "ui32")

    @property
    def is_unsigned(self):
        return self.mlir.startswith("ui")

    @property
    def is_storage(self):
        """Whether compiled arithmetic reads this type widened (the 8- and
        16-bit and the unsigned integers; see `widened`)."""
        return self.mlir in _WIDENED

    @property
    def is_complex(self):
        return self.mlir in ("complex64", "complex128")

    @property
    def real_dtype(self):
        """The dtype of a complex type's parts (the type itself otherwise)."""
        return {"complex64": float32, "complex128": float64}.get(self.mlir, self)

    @property
    def size(self):
        """Bytes per element (tf.DType.size; bool is one byte, a string 0:
        its elements have no fixed size)."""
        return {"i1": 1, "f16": 2, "bf16": 2, "f32": 4, "i32": 4, "string": 0,
                "complex128": 16, "i8": 1, "ui8": 1, "i16": 2, "ui16": 2,
                "ui32": 4}.get(self.mlir, 8)

    @property
    def min(self):
        """The lowest finite value (tf.DType.min)."""
        return self._limits()[0]

    @property
    def max(self):
        """The largest finite value (tf.DType.max)."""
        return self._limits()[1]

    def _limits(self):
        if self.mlir in ("string", "complex64", "complex128"):
            raise TypeError(f"kiln.{self.name} has no min or max")
        if self.mlir == "i1":
            return False, True
        if self.mlir == "bf16":  # 0x7f7f: float32's exponent, 7 mantissa bits
            return -3.3895313892515355e38, 3.3895313892515355e38
        info = (np.finfo if self.is_floating else np.iinfo)(self.as_numpy_dtype)
        kind = float if self.is_floating else int
        return kind(info.min), kind(info.max)

    def __repr__(self):
        return f"kiln.{self.name}"

    def __eq__(self, other):
        try:
            return self is as_dtype(other)
        except TypeError:
            return NotImplemented

    def __hash__(self):
        return hash(self.name)


float16 = DType("float16", "f16", np.float16)
# NumPy has no bfloat16 (TensorFlow and JAX register their own type; Debian
# has neither): bfloat16 values go in and come out as float32 arrays, which
# hold them exactly. kiln.constant(x, kiln.bfloat16) rounds to the nearest
# bfloat16, ties to even; .numpy() of a bfloat16 tensor is a float32 copy.
bfloat16 = DType("bfloat16", "bf16", np.float32)
float32 = DType("float32", "f32", np.float32)
float64 = DType("float64", "f64", np.float64)
int32 = DType("int32", "i32", np.int32)
int64 = DType("int64", "i64", np.int64)
# Storage types: tensors, files, variables and the ops that move elements
# hold them as they are (one byte per uint8 pixel); arithmetic on them runs
# widened to int32 (int64 for uint32) and is cast back, so a uint8 sum
# wraps modulo 256 as in TensorFlow. NumPy's uint64 has no kiln type.
int8 = DType("int8", "i8", np.int8)
int16 = DType("int16", "i16", np.int16)
uint8 = DType("uint8", "ui8", np.uint8)
uint16 = DType("uint16", "ui16", np.uint16)
uint32 = DType("uint32", "ui32", np.uint32)
bool = DType("bool", "i1", np.bool_)
# Byte strings (tf.string): a string tensor's elements are Python bytes,
# held on the host in a NumPy object array; no compiled op takes them (the
# kiln.strings ops and the text layers run on the host). str values are
# encoded as UTF-8.
string = DType("string", "string", np.object_)

# Complex numbers (tf.complex64/complex128): a complex tensor is the pair
# of its real and imaginary parts, float32 or float64 tensors, and its ops
# are computed on the parts (kiln/complexes.py).
complex64 = DType("complex64", "complex64", np.complex64)
complex128 = DType("complex128", "complex128", np.complex128)

_ALL = (float16, float32, float64, int32, int64, bool, bfloat16, string, complex64,
        complex128, int8, int16, uint8, uint16, uint32)
_BY_NAME = {d.name: d for d in _ALL}
# The runtime's dtype names (kiln_dtype_name).
_BY_NAME.update({"f16": float16, "f32": float32, "f64": float64,
                 "i32": int32, "i64": int64, "i1": bool, "bf16": bfloat16,
                 "i8": int8, "i16": int16, "ui8": uint8, "ui16": uint16,
                 "ui32": uint32})
# What compiled arithmetic reads each storage type as (MLIR names).
_WIDENED = {"i8": "i32", "i16": "i32", "ui8": "i32", "ui16": "i32", "ui32": "i64"}


def widened(name):
    """The MLIR name of the type arithmetic on `name` runs in (`name`
    itself for the types ops compute on)."""
    return _WIDENED.get(name, name)


def as_dtype(value):
    """A DType from a DType, a name, a NumPy dtype or a Python type."""
    if isinstance(value, DType):
        return value
    if isinstance(value, str) and value in _BY_NAME:
        return _BY_NAME[value]
    if value is builtins.float:
        return float32
    if value is builtins.int:
        return int32
    if value is builtins.bool:
        return bool
    if value is builtins.str or value is builtins.bytes:
        return string
    if value is builtins.complex:
        return complex128
    try:
        np_dtype = np.dtype(value)
    except TypeError:
        raise TypeError(f"cannot convert {value!r} to a kiln dtype") from None
    if np_dtype.kind in "US":
        return string
    for d in _ALL:
        if d is not bfloat16 and np.dtype(d.as_numpy_dtype) == np_dtype:
            return d
    raise TypeError(f"NumPy dtype {np_dtype} has no kiln equivalent "
                    "(float16/32/64, int8/16/32/64, uint8/16/32, bool, string, "
                    "complex64/128)")


def native_conversion(dtype):
    """What the native layer converts a NumPy array to, besides the array's
    own dtype: "bf16" for bfloat16 (given as float values), else ""."""
    return "bf16" if dtype is bfloat16 else ""


def widen_unsigned(array):
    """A NumPy array as one whose dtype Kiln has: uint64 becomes int64
    (an error for values above its range); every other dtype is kept."""
    if array.dtype.kind == "u" and array.dtype.itemsize == 8:
        if array.size and array.max() > np.iinfo(np.int64).max:
            raise TypeError("uint64 values above the int64 range have no kiln "
                            "dtype (Kiln's unsigned types are uint8, uint16 and "
                            "uint32)")
        return array.astype(np.int64)
    return array


def widen_targets(array):
    """Unsigned integer labels (Keras' uint8 MNIST labels) as the signed
    type losses and metrics compute on: uint8/uint16 -> int32, uint32 and
    uint64 -> int64."""
    if array.dtype.kind == "u":
        return widen_unsigned(array).astype(
            np.int32 if array.dtype.itemsize < 4 else np.int64)
    return array
