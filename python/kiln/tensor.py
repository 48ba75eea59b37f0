"""kiln.Tensor: an immutable value held by the Kiln runtime."""

import numbers

import numpy as np

from . import _kiln, config, errors
from ._state import local
from .dtypes import (as_dtype, float32, float64, int32, native_conversion, string,
                     widen_unsigned)


class TensorShape(tuple):
    """A shape (tf.TensorShape): a tuple of extents, None where one is not
    known while tracing, with TensorFlow's methods. It compares equal to a
    tuple or list of the same extents and prints as a tuple."""

    __slots__ = ()

    def __new__(cls, dims=()):
        if dims is None or isinstance(dims, _UnknownRankShape):
            # (A declaration only: a variable's shape=TensorShape(None); every
            # Kiln tensor has a known rank.)
            return tuple.__new__(_UnknownRankShape)
        if isinstance(dims, int):
            dims = (dims,)
        return super().__new__(cls, tuple(None if d is None else int(getattr(d, "value", d))
                                          for d in dims))

    @property
    def rank(self):
        return len(self)

    ndims = rank

    @property
    def dims(self):
        return list(self)

    def as_list(self):
        return list(self)

    def num_elements(self):
        """The element count, None when an extent is unknown."""
        if None in self:
            return None
        n = 1
        for d in self:
            n *= d
        return n

    def is_fully_defined(self):
        return None not in self

    def is_compatible_with(self, other):
        other = TensorShape(other)
        if isinstance(other, _UnknownRankShape):
            return True
        return len(self) == len(other) and all(
            a is None or b is None or a == b for a, b in zip(self, other))

    def assert_is_compatible_with(self, other):
        if not self.is_compatible_with(other):
            raise ValueError(f"Shapes {self} and {TensorShape(other)} are incompatible")

    def merge_with(self, other):
        """The shape with the extents of both (each known in either)."""
        self.assert_is_compatible_with(other)
        return TensorShape(a if a is not None else b for a, b in zip(self, TensorShape(other)))

    def concatenate(self, other):
        return TensorShape(tuple(self) + tuple(TensorShape(other)))

    def assert_has_rank(self, rank):
        if len(self) != rank:
            raise ValueError(f"Shape {self} must have rank {rank}")

    def with_rank(self, rank):
        self.assert_has_rank(rank)
        return self

    def __getitem__(self, key):
        got = tuple.__getitem__(self, key)
        return TensorShape(got) if isinstance(key, slice) else got

    def __add__(self, other):
        return self.concatenate(other)

    def __radd__(self, other):
        return TensorShape(other).concatenate(self)

    def __eq__(self, other):
        if isinstance(other, (tuple, list)):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = tuple.__hash__

    def __repr__(self):
        return f"TensorShape({list(self)})"

    def __str__(self):
        return tuple.__repr__(self)


class _UnknownRankShape(TensorShape):
    """TensorShape(None): a shape of unknown rank, as TensorFlow's, for
    declarations (kiln.Variable(..., shape=kiln.TensorShape(None)) takes
    values of any shape). No tensor has one; asking its extents is
    TensorFlow's ValueError."""

    __slots__ = ()

    def _unknown(self, *args):
        raise ValueError("a shape of unknown rank (TensorShape(None)) has no extents")

    __len__ = __iter__ = __getitem__ = as_list = _unknown
    rank = ndims = dims = property(lambda self: None)

    def num_elements(self):
        return None

    def is_fully_defined(self):
        return False

    def is_compatible_with(self, other):
        return True

    def merge_with(self, other):
        return TensorShape(other)

    def concatenate(self, other):
        return self

    def __eq__(self, other):
        return isinstance(other, _UnknownRankShape)

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = tuple.__hash__

    def __repr__(self):
        return "TensorShape(None)"

    def __str__(self):
        return "<unknown>"


class Tensor:
    """An eager tensor: its value is computed; ``numpy()`` shows it without
    copying (read-only). Python operators run Kiln ops."""

    # _keras_mask: the [batch, time] bool mask a Keras layer attached
    # (Embedding(mask_zero=True), Masking), read by the layers after it.
    # _sliced_from: (variable, key) for a variable's slice v[key], which
    # takes .assign (TensorFlow's sliced assignment; see __getattr__).
    __slots__ = ("_impl", "_keras_mask", "_sliced_from")

    def __getattr__(self, name):
        # (Only for names the class lacks: a variable's slice's `assign`.)
        if name == "assign":
            try:
                variable, key = object.__getattribute__(self, "_sliced_from")
            except AttributeError:
                pass
            else:
                return lambda value, read_value=True: variable._assign_slice(
                    key, value, read_value)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}")
    __array_priority__ = 100  # NumPy defers to our operators

    def __init__(self, impl):
        self._impl = impl

    @property
    def shape(self):
        return TensorShape(self._impl.shape)

    def get_shape(self):
        """The shape (tf.Tensor.get_shape)."""
        return self.shape

    def set_shape(self, shape):
        """Checks that the tensor's shape is compatible with `shape`
        (tf.Tensor.set_shape); Kiln's shapes are already as known as
        tracing can make them, so nothing is refined."""
        if not TensorShape(self._impl.shape).is_compatible_with(shape):
            raise ValueError(f"set_shape: the tensor's shape {tuple(self._impl.shape)} is "
                             f"not compatible with {tuple(shape)}")

    @property
    def dtype(self):
        return as_dtype(self._impl.dtype)

    @property
    def ndim(self):
        return len(self._impl.shape)

    @property
    def device(self):
        """Where the value lives: TensorFlow's full device name."""
        return config.device_name(self._impl.device)

    def cpu(self):
        """This tensor in host memory (itself if it is there, else a copy)."""
        return self._to("cpu")

    def gpu(self, gpu_index=0):
        """This tensor in the memory of GPU `gpu_index` (itself if it is
        there, else a copy). Without that GPU this is an error that says
        why."""
        if type(self._impl) is HostStrings:
            return self._to(f"cuda:{gpu_index}")  # (an error: strings stay on the host)
        why = _kiln.gpu_status(gpu_index)
        if why is not None:
            raise errors.InvalidArgumentError(
                f"Tensor.gpu({gpu_index}): no GPU is available to Kiln here "
                f"({why})", errors.user_location())
        return self._to(f"cuda:{gpu_index}")

    def _to(self, device):
        if self._impl.device == device:
            return self
        if type(self._impl) is ComplexParts:
            return Tensor(ComplexParts(self._impl.real._to(device), self._impl.imag._to(device)))
        if type(self._impl) is HostStrings:
            raise errors.InvalidArgumentError(
                f"a string tensor cannot move to {device}: strings stay in host "
                "memory (map them to numbers first: kiln.strings, StringLookup, "
                "TextVectorization, Hashing)", errors.user_location())
        try:
            return Tensor(_kiln.Tensor.to(self._impl, device))
        except _kiln.NativeError as e:
            raise errors.from_native(e) from None

    def numpy(self):
        return self._impl.numpy()

    def __array__(self, dtype=None, copy=None):
        value = self._impl.numpy()
        if type(value) is not np.ndarray:  # (a scalar string's bytes)
            value = self._impl.array
        return value if dtype is None else value.astype(dtype)

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a scalar (rank-0) tensor")
        return self.shape[0]

    def __float__(self):
        return float(self._scalar())

    def __int__(self):
        return int(self._scalar())

    def __index__(self):
        if not self.dtype.is_integer:
            raise TypeError("only integer tensors can be used as an index")
        return int(self._scalar())

    @property
    def _symbolic(self):
        """Whether this is a value being traced inside @kiln.function (no
        value yet). (tracing.py's _TracedImpl, named here: tracing imports
        this module.)"""
        kind = type(self._impl)
        return kind.__name__ == "_TracedImpl" or kind is ComplexParts and \
            self._impl.real._symbolic

    def __bool__(self):
        if self._symbolic:
            raise TypeError(
                "a tensor inside @kiln.function cannot be used as a Python "
                "bool here (AutoGraph rewrites `if`, `while`, `for`, `and`, "
                "`or`, `not` and `x if c else y` on tensors, but not loops "
                "with an `else:` or a `del`/`global`/definition inside, nor "
                "code without source such as lambdas): use "
                "kiln.cond(pred, true_fn, false_fn) or kiln.while_loop(cond, "
                "body, loop_vars)")
        if self.shape:
            raise ValueError("the truth value of a tensor with more than one "
                             "element is ambiguous; use kiln.reduce_any/all")
        return builtins_bool(self._scalar())

    def _scalar(self):
        if self.shape:
            raise TypeError(f"only rank-0 tensors convert to Python scalars, "
                            f"this one has shape {self.shape}")
        value = self.numpy()
        return value[()] if type(value) is np.ndarray else value

    def __repr__(self):
        if self._symbolic:
            # print() while tracing, as TensorFlow's symbolic tensors print:
            # no value yet, only the shape and dtype.
            return (f"kiln.Tensor(<symbolic in @kiln.function>, "
                    f"shape={self.shape}, dtype={self.dtype.name})")
        body = np.array2string(np.asarray(self), separator=", ")
        return f"kiln.Tensor({body}, shape={self.shape}, dtype={self.dtype.name})"

    __str__ = __repr__

    # The arithmetic, comparison and logical operators, iteration and
    # indexing are attached by the ops module (kiln.ops), which defines them.
    # As in TensorFlow 2, == and != compare elementwise, so tensors are not
    # hashable (use id(t) as a key).
    __hash__ = None


builtins_bool = bool


class HostStrings:
    """The value of a string tensor: a read-only NumPy object array of
    bytes in host memory. Its numpy() is that array (a scalar's is the
    bytes, as TensorFlow's). Kiln compiles numbers only: the dispatch core
    runs the ops that only move elements (reshape, slicing, gather,
    concat, ...) on the elements' indices and refuses the others."""

    __slots__ = ("array",)
    dtype = "string"
    device = "cpu"

    def __init__(self, array):
        self.array = array

    @property
    def shape(self):
        return self.array.shape

    def numpy(self):
        return self.array if self.array.ndim else self.array[()]


class ComplexParts:
    """The value of a complex tensor: its real and imaginary parts, two
    float32 (complex64) or float64 (complex128) tensors of one shape on
    one device. The dispatch core hands ops on complex tensors to the
    rules of kiln/complexes.py, which compute them on the parts (in a
    trace and under a tape too: the parts are ordinary tensors)."""

    __slots__ = ("real", "imag")

    def __init__(self, real, imag):
        self.real, self.imag = real, imag

    @property
    def shape(self):
        return self.real._impl.shape

    @property
    def dtype(self):
        return "complex64" if self.real._impl.dtype == "f32" else "complex128"

    @property
    def device(self):
        return self.real._impl.device

    def numpy(self):
        value = np.empty(tuple(self.shape), np.complex64 if self.dtype == "complex64"
                         else np.complex128)
        value.real, value.imag = self.real.numpy(), self.imag.numpy()
        value.flags.writeable = False
        return value


def _complex(value, dtype):
    """A complex tensor of `value` (complex or real numbers) as `dtype`
    (complex128 for Python complex numbers, as TensorFlow)."""
    array = np.asarray(value)
    if dtype is None:
        dtype = as_dtype(np.complex128 if array.dtype.kind != "c" else array.dtype)
    part = float32 if dtype.name == "complex64" else float64
    if array.dtype.kind == "c":
        real, imag = array.real, array.imag
    else:
        real, imag = array, np.zeros(array.shape)
    return Tensor(ComplexParts(convert_to_tensor(np.asarray(real, part.as_numpy_dtype)),
                               convert_to_tensor(np.asarray(imag, part.as_numpy_dtype))))


def _is_text(value):
    """Whether `value` (not a Tensor) holds strings: a str or bytes, or
    an array or nested lists of them."""
    if isinstance(value, (str, bytes, np.str_, np.bytes_)):
        return True
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "US":
            return True
        # (an empty object array too: Kiln makes object arrays of strings)
        return value.dtype.kind == "O" and (value.size == 0 or
                                            isinstance(value.flat[0], (str, bytes)))
    if isinstance(value, (list, tuple)) and value:
        first = value[0]
        while isinstance(first, (list, tuple)) and first:
            first = first[0]
        return isinstance(first, (str, bytes, np.str_, np.bytes_)) or \
            isinstance(first, Tensor) and type(first._impl) is HostStrings
    return False


def _encode(element):
    if isinstance(element, Tensor) and type(element._impl) is HostStrings and \
            not element.shape:  # (a list of scalar string tensors)
        return element._impl.array[()]
    if isinstance(element, bytes):
        return bytes(element)
    if isinstance(element, str):
        return element.encode("utf-8")
    raise TypeError(f"a string tensor holds str or bytes, not {type(element).__name__} "
                    f"({element!r})")


_encode_all = np.frompyfunc(_encode, 1, 1)


def string_array(value):
    """`value` (strings, nested lists or arrays of them) as the read-only
    object array of bytes a string tensor holds; anything else is a
    TypeError naming it."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "S":
        value = value.astype(object)  # (bytes already)
    try:
        source = np.asarray(value, dtype=object)
    except ValueError as e:  # (lists of unequal lengths)
        raise ValueError(f"cannot convert {value!r} to a string tensor: {e}") from None
    array = np.empty(source.shape, dtype=object)
    if source.size:
        array[...] = _encode_all(source)
    array.flags.writeable = False
    return array


def _strings(value):
    try:
        return Tensor(HostStrings(string_array(value)))
    except TypeError as e:
        raise TypeError(f"cannot convert {value!r} to a string tensor: {e}") from None

# kiln.Variable, registered by variables.py (which imports this module).
_variable_type = None


def convert_to_tensor(value, dtype=None, dtype_hint=None):
    """A Tensor from a Tensor, a NumPy array or nested Python numbers.
    Python floats become float32 and ints int32 (as in TensorFlow) unless
    `dtype` says otherwise."""
    if _variable_type is not None and isinstance(value, _variable_type):
        value = value.value()
    if isinstance(value, Tensor):
        if dtype is not None and as_dtype(dtype) != value.dtype:
            raise TypeError(f"expected a {as_dtype(dtype).name} tensor, got "
                            f"{value.dtype.name}")
        return value
    hint = getattr(type(value), "_kiln_densify_hint", None)
    if hint is not None:  # (RaggedTensor, SparseTensor)
        raise TypeError(f"a {type(value).__name__} is not a dense tensor, and this op takes "
                        f"dense tensors only: {hint}")
    if dtype is None and _is_text(value) or dtype is not None and as_dtype(dtype) is string:
        return _strings(value)
    if dtype is not None and as_dtype(dtype).is_complex:
        return _complex(value, as_dtype(dtype))
    if dtype is None and (isinstance(value, complex) or
                          isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind == "c"):
        return _complex(value, None)
    if dtype is not None:
        # bfloat16 values are rounded from float64 by the native layer (one
        # rounding; through float32 would be two).
        np_dtype = np.float64 if native_conversion(as_dtype(dtype)) else \
            as_dtype(dtype).as_numpy_dtype
        # As in TensorFlow, a float never becomes an integer or a bool
        # silently (`int_tensor * 1.5` would compute with 1).
        if (as_dtype(dtype).is_integer or as_dtype(dtype).mlir == "i1") and \
                np.asarray(value).dtype.kind in "fc":
            name = as_dtype(dtype).name
            article = "an" if name[0] in "aeiou" else "a"
            raise TypeError(f"cannot convert {value!r} to {article} {name} "
                            "tensor (a float; use kiln.cast for an explicit "
                            "conversion)")
    else:
        # NumPy values keep their dtype; Python numbers and lists get
        # TensorFlow's defaults (float32, int32).
        from_numpy = isinstance(value, (np.ndarray, np.generic))
        array = np.asarray(value)
        if from_numpy:
            np_dtype = array.dtype
        elif dtype_hint is not None and (
                as_dtype(dtype_hint).is_floating and array.dtype.kind in "iuf"
                or as_dtype(dtype_hint).is_integer and array.dtype.kind in "iu"):
            # A hint is taken where it loses no kind (as TensorFlow: a float
            # never becomes an integer by a hint; an unusable hint is
            # ignored).
            dtype = as_dtype(dtype_hint)  # (bfloat16: rounded natively)
            np_dtype = np.float64 if native_conversion(dtype) else dtype.as_numpy_dtype
        elif array.dtype == np.float64:
            np_dtype = np.float32
        elif array.dtype == np.int64:
            np_dtype = np.int32
        else:
            np_dtype = array.dtype
    if dtype is not None and as_dtype(dtype).is_storage and \
            not isinstance(value, (np.ndarray, np.generic)):
        # (Python numbers out of an 8/16-bit or unsigned type's range are an
        # error, as in TensorFlow, not wrapped.)
        given = np.asarray(value)
        if given.dtype.kind in "iu" and given.size and \
                (given.min() < as_dtype(dtype).min or given.max() > as_dtype(dtype).max):
            raise TypeError(f"cannot convert {value!r} to a {as_dtype(dtype).name} "
                            f"tensor: out of its range [{as_dtype(dtype).min}, "
                            f"{as_dtype(dtype).max}]")
    if type(value).__name__ == "KerasTensor":
        raise TypeError(f"{value!r} is a symbolic tensor of the functional API, which "
                        "this function does not take: wrap the computation in a "
                        "keras.layers.Lambda layer (operators, kiln's array ops and "
                        "keras.ops take symbolic tensors directly)")
    try:
        array = np.asarray(value, dtype=np_dtype)
    except (TypeError, ValueError, OverflowError) as e:
        raise TypeError(f"cannot convert {value!r} to a tensor: {e}") from None
    if array.dtype.kind == "c":  # (nested Python complex numbers)
        return _complex(array, None)
    if array.dtype.kind == "u":
        array = widen_unsigned(array)  # (uint64, which Kiln has not)
    if as_dtype(array.dtype) is string:  # (an object array of other things)
        raise TypeError(f"cannot convert {value!r} to a tensor: its elements are "
                        "neither numbers nor strings")
    native = native_conversion(as_dtype(dtype)) if dtype is not None else ""
    try:
        return Tensor(_kiln.Tensor.from_numpy(np.ascontiguousarray(array)
                                              if array.ndim else array, native))
    except _kiln.NativeError as e:
        raise errors.from_native(e) from None


def _placed(t):
    """`t` on the current device (a new tensor in a GPU scope lives on the
    GPU, as TensorFlow places it); inside a trace, `t` itself."""
    device = config.runtime_device()
    if device == "cpu" or local.trace is not None:
        return t
    return t._to(device)


def constant(value, dtype=None, shape=None):
    """A tensor holding `value` (broadcast to `shape` if given), on the
    current device."""
    t = convert_to_tensor(value, dtype)
    if shape is not None and tuple(shape) != t.shape:
        array = np.broadcast_to(t.numpy(), tuple(shape))
        t = convert_to_tensor(np.array(array), t.dtype)
    return _placed(t)


class _OpenExtent:
    """An extent known only when the compiled code runs: axis `axis` of the
    traced value `source` (an input_signature's None), as kiln.shape
    reports it. Shape tensors carry these next to their known extents, so
    `reshape(x, [kiln.shape(x)[0], -1])` and `kiln.zeros(kiln.shape(x))`
    keep the extents known while tracing (TensorFlow's constant_value of a
    partial shape)."""

    __slots__ = ("source", "axis")

    def __init__(self, source, axis):
        self.source = source  # a _TracedImpl
        self.axis = axis

    def of(self, tensor, axis):
        """Whether this is extent `axis` of `tensor`."""
        return self.source is tensor._impl and self.axis == axis

    def tensor(self):
        return Tensor(self.source)

    def __repr__(self):
        return "None"


def _partial_extents(t):
    """The entries of a traced shape tensor (1-D, or a scalar as a 1-tuple)
    as ints and _OpenExtents, or None when the trace being built has no
    such record (a tensor of another trace has none here)."""
    if not t._symbolic or t._impl.trace is not local.trace:
        return None
    return t._impl.extents


def _record_extents(t, entries):
    """Notes on traced tensor `t` what its values are (ints and
    _OpenExtents); returns t."""
    t._impl.extents = tuple(entries)
    return t


def _static_extents(shape, what, open_extents=False):
    """A shape given as a tensor, or a sequence holding tensors, as Python
    ints; with `open_extents`, extents that kiln.shape reported open stay
    _OpenExtents. Any other value computed only when the compiled code runs
    is an UnimplementedError naming `what`."""
    def refuse():
        raise errors.UnimplementedError(
            f"{what}: the shape is computed when the compiled code runs (from "
            "kiln.shape of an open extent); Kiln compiles static shapes: open "
            "extents work as kiln.shape gives them (kiln.zeros(kiln.shape(x)), "
            "kiln.zeros([kiln.shape(x)[0], 7]), reshape targets such as "
            "[kiln.shape(x)[0], -1]), not computed from (kiln.shape(x)[0] * 2); "
            "otherwise give the function a more static input_signature",
            errors.user_location())

    def entries(t):
        partial = _partial_extents(t)
        if partial is not None:
            return list(partial)
        if t._symbolic:
            refuse()
        return np.asarray(t.numpy()).reshape(-1).tolist()

    if isinstance(shape, Tensor):
        out = entries(shape)
    elif isinstance(shape, (list, tuple)):
        out = []
        for d in shape:
            out.extend(entries(d) if isinstance(d, Tensor) else [d])
    else:
        return shape
    if not open_extents and any(isinstance(d, _OpenExtent) for d in out):
        refuse()
    return out


def _open_entries(x):
    """x's shape as kiln.shape records it: ints, and _OpenExtents for the
    extents known only when the compiled code runs."""
    return [_OpenExtent(x._impl, i) if d is None else d for i, d in enumerate(x.shape)]


def _shape_tuple(shape, what="a shape"):
    """A shape given as an int, a sequence, or a 1-D integer tensor."""
    if isinstance(shape, (Tensor, list, tuple)):
        shape = _static_extents(shape, what)
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(d) for d in shape)


def zeros(shape, dtype=float32, name=None):
    """Zeros of a static shape (kiln.zeros, in math_ops, also takes open
    extents)."""
    return _placed(convert_to_tensor(
        np.zeros(_shape_tuple(shape, "zeros"), as_dtype(dtype).as_numpy_dtype), dtype))


def ones(shape, dtype=float32, name=None):
    return _placed(convert_to_tensor(
        np.ones(_shape_tuple(shape, "ones"), as_dtype(dtype).as_numpy_dtype), dtype))


class OpenLeaf:
    """A tensor a composite value (RaggedTensor) passes to a
    @kiln.function whose extents the trace leaves open where `shape` has
    None: calls whose tensors differ only there share one trace."""

    __slots__ = ("tensor", "shape")

    def __init__(self, tensor, shape):
        self.tensor, self.shape = tensor, tuple(shape)

    @property
    def dtype(self):
        return self.tensor.dtype


class TensorSpec:
    """The type of a tensor argument, as tf.TensorSpec: a shape whose
    entries may be None (an extent known only when the function runs) and
    a dtype. `@kiln.function(input_signature=[...])` traces once for all
    tensors that match."""

    def __init__(self, shape, dtype=float32, name=None):
        if shape is None or isinstance(shape, _UnknownRankShape):
            raise ValueError("TensorSpec needs a shape of known rank "
                             "(its entries may be None)")
        self.shape = tuple(None if d is None else int(d) for d in
                           (shape if not isinstance(shape, (int, np.integer)) else (shape,)))
        if any(d is not None and d < 0 for d in self.shape):
            raise ValueError(f"TensorSpec shape {list(self.shape)} has a negative extent")
        self.dtype = as_dtype(dtype)
        self.name = name

    @classmethod
    def from_tensor(cls, tensor, name=None):
        tensor = convert_to_tensor(tensor)
        return cls(tensor.shape, tensor.dtype, name)

    def is_compatible_with(self, value):
        """Whether a tensor (or spec) fits: same dtype and rank, equal
        extents where this spec has one."""
        if not isinstance(value, TensorSpec):
            value = convert_to_tensor(value)
        return (value.dtype == self.dtype and len(value.shape) == len(self.shape) and
                all(a is None or a == b for a, b in zip(self.shape, value.shape)))

    @property
    def _type(self):
        """The (shape, dtype) pair the native layer takes."""
        return (self.shape, self.dtype.mlir)

    def __eq__(self, other):
        return isinstance(other, TensorSpec) and (self.shape, self.dtype) == \
            (other.shape, other.dtype)

    def __hash__(self):
        return hash((self.shape, self.dtype.name))

    def __repr__(self):
        shape = "(" + ", ".join("None" if d is None else str(d) for d in self.shape) + \
            ("," if len(self.shape) == 1 else "") + ")"
        name = f", name={self.name!r}" if self.name else ""
        return f"TensorSpec(shape={shape}, dtype=kiln.{self.dtype.name}{name})"
