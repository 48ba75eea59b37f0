"""kiln.Variable: named, mutable state held in the runtime's variable store.

A variable's value is a runtime buffer in the process's store; reading it
gives a Tensor that shares that buffer, and an assignment gives the variable
a new buffer, so tensors read earlier keep their values (tensors are
immutable). Gradient tapes record reads of trainable variables, which is
how implicit_gradients finds the variables a function used.
"""

import enum
import itertools
import threading

from . import _kiln, config, errors, ops
from . import tensor as _tensor_module
from ._state import local
from .dtypes import as_dtype, string
from .tensor import Tensor, TensorShape, convert_to_tensor

_store = _kiln.VariableStore()
# Counts the times a variable's value got a new buffer outside compiled
# calls (set, or placed on a device): a compiled function checks where its
# variables live only when this changed since its last call.
generation = 0
_names = itertools.count()
_lock = threading.Lock()
_taken = set()


def _unique(name):
    base = local.name_scope + (name or "Variable")
    with _lock:
        candidate = base
        while candidate in _taken:
            candidate = f"{base}_{next(_names)}"
        _taken.add(candidate)
        return candidate


def _forget_names():
    """New variables may take the names of existing ones again (what
    kiln.keras.backend.clear_session does; the names are only labels)."""
    with _lock:
        _taken.clear()


def moved():
    """A variable's buffer may be on another device now."""
    global generation
    generation += 1


class init_scope:
    """Runs its body eagerly: outside any @kiln.function trace and unseen
    by gradient tapes (where variables get their initial values)."""

    def __enter__(self):
        self._saved = (local.trace, local.tapes)
        local.trace, local.tapes = None, []
        return self

    def __exit__(self, *exc):
        local.trace, local.tapes = self._saved
        return False


_SCATTERS = {}   # (filled by kiln.math_ops: "update", "add", "sub")


class VariableSynchronization(enum.Enum):
    """tf.VariableSynchronization (accepted; one process holds the
    variables)."""
    AUTO = 0
    NONE = 1
    ON_WRITE = 2
    ON_READ = 3


class VariableAggregation(enum.Enum):
    """tf.VariableAggregation (accepted; one process holds the variables)."""
    NONE = 0
    SUM = 1
    MEAN = 2
    ONLY_FIRST_REPLICA = 3


class Variable:
    """A mutable tensor-valued variable, as tf.Variable."""

    # NumPy operands on the left defer to our operators (as a Tensor's): a
    # NumPy array times a variable is a Tensor a tape and a trace see, not
    # an array of the variable's current value.
    __array_priority__ = 100

    def __init__(self, initial_value=None, trainable=None, validate_shape=True,
                 caching_device=None, name=None, variable_def=None, dtype=None,
                 import_scope=None, constraint=None, synchronization=None,
                 aggregation=None, shape=None, experimental_enable_variable_lifting=True,
                 _store_key=None, _internal=False):
        # (tf.Variable's arguments, in its order. caching_device,
        # import_scope, synchronization and aggregation change nothing
        # here: one process holds the variables.)
        if initial_value is None:
            raise ValueError("kiln.Variable needs an initial_value"
                             + (" (variable_def, a TF1 graph's protocol buffer, is not "
                                "supported)" if variable_def is not None else ""))
        trainable = True if trainable is None else bool(trainable)
        if synchronization is VariableSynchronization.ON_READ:
            trainable = False   # (TensorFlow's rule for ON_READ variables)
        # (Made while a @kiln.function is traced: the trace counts it, see
        # Function._trace; Kiln's own per-trace variables are not counted.)
        made_in = local.trace if not _internal else None
        # Initial values are computed eagerly, also inside @kiln.function or
        # under a tape (TensorFlow's init_scope).
        with init_scope():
            if callable(initial_value):
                initial_value = initial_value()
            value = convert_to_tensor(initial_value, dtype)
        if value.dtype is string or value.dtype.is_complex:
            raise errors.InvalidArgumentError(
                "a kiln.Variable holds real numbers (its value lives in the runtime's "
                f"variable store); this initial value is a {value.dtype.name} tensor"
                + (" (keep its real and imaginary parts in two variables)"
                   if value.dtype.is_complex else ""), errors.user_location())
        if not hasattr(value._impl, "numpy") or value._symbolic:
            raise errors.InvalidArgumentError(
                "a kiln.Variable's initial value must be computable eagerly, "
                "but this one is a symbolic tensor of a @kiln.function trace; "
                "create the variable outside the function (or pass a callable "
                "or a NumPy value)", errors.user_location())
        self._store_key = _store_key
        # Applied by the optimizers after each update (tf.Variable's).
        if constraint is not None and not callable(constraint):
            raise ValueError(f"Variable: constraint must be callable, got {constraint!r}")
        self.constraint = constraint
        # Set by Layer.add_weight for floating variables of mixed policies.
        self._autocast = False
        self._name = _unique(name)
        self._trainable = trainable
        self._dtype = value.dtype
        self._shape = value.shape
        # The shape declared by shape= (None extents, or TensorShape(None))
        # or validate_shape=False: assignments may change the value's shape
        # within it (eagerly; a compiled function reading the variable is
        # traced again for its new shape).
        self._declared = None
        if not validate_shape:
            shape = TensorShape(None)
        if shape is not None:
            declared = TensorShape(shape)
            if not declared.is_compatible_with(value.shape):
                raise ValueError(
                    f"kiln.Variable: the initial value's shape {tuple(value.shape)} is "
                    f"not compatible with the shape argument {declared}")
            if not declared.is_fully_defined():
                self._declared = declared
        self._value = None
        self._set(value)
        # Created in a GPU scope: the variable lives in GPU memory.
        device = config.runtime_device()
        if device != "cpu":
            self._value = Tensor(_store.place(self._key(), device))
        moved()
        if made_in is not None:
            made_in.created_variables.append(self)

    # The store key must be a C identifier; the user-facing name keeps TF's
    # ":0" suffix.
    @property
    def name(self):
        return f"{self._name}:0"

    @property
    def trainable(self):
        return self._trainable

    @property
    def dtype(self):
        return self._dtype

    @property
    def shape(self):
        """The value's shape now. (A shape= with open extents is what
        assignments may change it within; TensorFlow reports that declared
        shape here, Kiln the value's, which optimizers, checkpoints and
        Keras files need.)"""
        return TensorShape(self._shape)

    def get_shape(self):
        return self.shape

    @property
    def device(self):
        """Where the value lives (the device of the last compiled function
        that used the variable, or of the scope it was created in)."""
        return self._value.device

    def _key(self):
        if self._store_key:
            return self._store_key
        return "".join(c if c.isalnum() else "_" for c in self._name) + \
            f"_{id(self):x}"

    def _set(self, value):
        _store.set(self._key(), value._impl)
        self._value = Tensor(_store.get(self._key()))
        moved()

    def value(self):
        """The current value (the same Tensor until the next assignment);
        inside @kiln.function, a read of the variable in the trace."""
        trace = local.trace
        value = trace.read_variable(self) if trace is not None else self._value
        for tape in local.tapes:
            tape._note_variable_read(self, value)
        autocast = local.autocast
        if autocast is not None and self._autocast and autocast != self._dtype:
            # A layer's variable in its call under a mixed dtype policy
            # (Keras' AutoCastVariable): read as the compute dtype.
            value = ops.cast(value, autocast)
        return value

    read_value = value

    def assign(self, value, read_value=True):
        value = convert_to_tensor(value, self._dtype)
        trace = local.trace
        if trace is not None:
            if value.shape != self._shape:
                raise errors.InvalidArgumentError(
                    f"cannot assign a value of shape {value.shape} to variable "
                    f"{self.name} of shape {self._shape}"
                    + (" inside @kiln.function (its declared shape "
                       f"{self._declared} lets eager assignments change it; compiled "
                       "code keeps the shape it was traced for)"
                       if self._declared is not None and
                       self._declared.is_compatible_with(value.shape) else ""),
                    errors.user_location())
            trace.assign_variable(self, value)
            return self if read_value else None
        if value.shape != self._shape:
            if self._declared is None or not self._declared.is_compatible_with(value.shape):
                raise errors.InvalidArgumentError(
                    f"cannot assign a value of shape {value.shape} to variable "
                    f"{self.name} of shape "
                    f"{self._declared if self._declared is not None else self.shape}",
                    errors.user_location())
            self._shape = value.shape
        self._set(value)
        return self if read_value else None

    def assign_add(self, delta, read_value=True):
        return self.assign(ops.add(self._current(), delta), read_value)

    def assign_sub(self, delta, read_value=True):
        return self.assign(ops.subtract(self._current(), delta), read_value)

    # tf.Variable's scatter updates: the value with `updates` written
    # (added, subtracted) at `indices`, through math_ops' tensor_scatter_nd
    # ops, which register themselves in _SCATTERS (they sit above this
    # module).
    def scatter_nd_update(self, indices, updates, name=None):
        return self.assign(_SCATTERS["update"](self._current(), indices, updates))

    def scatter_nd_add(self, indices, updates, name=None):
        return self.assign(_SCATTERS["add"](self._current(), indices, updates))

    def scatter_nd_sub(self, indices, updates, name=None):
        return self.assign(_SCATTERS["sub"](self._current(), indices, updates))

    def _current(self):
        """The value without a tape noting a read (for updates)."""
        trace = local.trace
        return trace.read_variable(self) if trace is not None else self._value

    def numpy(self):
        return self._value.numpy()

    def __array__(self, dtype=None, copy=None):
        return self._value.__array__(dtype)

    def __repr__(self):
        body = repr(self._value)[len("kiln.Tensor("):-1]
        return f"<kiln.Variable '{self.name}' {body}>"

    # Arithmetic reads the value.
    def _v(self):
        return self.value()

    def __add__(self, o): return self._v() + o
    def __radd__(self, o): return o + self._v()
    def __sub__(self, o): return self._v() - o
    def __rsub__(self, o): return o - self._v()
    def __mul__(self, o): return self._v() * o
    def __rmul__(self, o): return o * self._v()
    def __truediv__(self, o): return self._v() / o
    def __rtruediv__(self, o): return o / self._v()
    def __floordiv__(self, o): return self._v() // o
    def __rfloordiv__(self, o): return o // self._v()
    def __mod__(self, o): return self._v() % o
    def __rmod__(self, o): return o % self._v()
    def __pow__(self, o): return self._v() ** o
    def __matmul__(self, o): return self._v() @ o
    def __rmatmul__(self, o): return o @ self._v()
    def __neg__(self): return -self._v()
    def __invert__(self): return ~self._v()
    def __and__(self, o): return self._v() & o
    def __rand__(self, o): return o & self._v()
    def __or__(self, o): return self._v() | o
    def __ror__(self, o): return o | self._v()
    def __xor__(self, o): return self._v() ^ o
    def __rxor__(self, o): return o ^ self._v()
    def __lshift__(self, o): return self._v() << o
    def __rlshift__(self, o): return o << self._v()
    def __rshift__(self, o): return self._v() >> o
    def __rrshift__(self, o): return o >> self._v()
    def __abs__(self): return abs(self._v())
    def __getitem__(self, key):
        # (The value's slice, which also takes `.assign(value)`: TensorFlow's
        # v[1].assign(...), v[:, 0].assign(...); the same tensor a tape saw.)
        value = self._v()[key]
        value._sliced_from = (self, key)
        return value

    def _assign_slice(self, key, value, read_value=True):
        """Writes `value` (broadcast to the slice's shape) into the positions
        v[key] names, as TensorFlow's sliced assignment: the rows of the
        leading dimensions the key picks from, scattered (a copy of the
        variable, not an index array the variable's size)."""
        import numpy as np
        shape = tuple(int(d) for d in self.shape)
        key = key if isinstance(key, tuple) else (key,)
        concrete = tuple(ops._known_values(part, "assigning to a slice of a variable")
                         if isinstance(part, Tensor) else part for part in key)
        rows, slice_shape, k = _slice_rows(shape, concrete)
        new = _SCATTERS["broadcast"](convert_to_tensor(value, self.dtype), list(slice_shape))
        rest = list(shape[k:])
        table = ops.reshape(self._current(), [-1] + rest) if k else \
            ops.reshape(self._current(), [1] + rest)
        updated = _SCATTERS["update"](table, convert_to_tensor(rows.reshape(-1, 1)),
                                      ops.reshape(new, [-1] + rest))
        return self.assign(ops.reshape(updated, list(shape)), read_value)

    def __float__(self): return float(self._v())
    def __int__(self): return int(self._v())
    def __bool__(self): return bool(self._v())
    def __lt__(self, o): return self._v() < o
    def __gt__(self, o): return self._v() > o
    def __le__(self, o): return self._v() <= o
    def __ge__(self, o): return self._v() >= o
    __hash__ = object.__hash__


_tensor_module._variable_type = Variable


def _slice_rows(shape, key):
    """(row positions, the slice's shape, k) for a key of v[key]: the
    positions among the rows of the first k dimensions (the last ones the
    key does not take whole), flattened, for basic keys (ints, slices,
    Ellipsis, None)."""
    import numpy as np
    parts = list(key)
    given = sum(1 for p in parts if p is not None and p is not Ellipsis)
    if sum(1 for p in parts if p is Ellipsis) > 1 or given > len(shape):
        raise IndexError(f"too many indices for a variable of shape {list(shape)}")
    if Ellipsis in parts:
        at = parts.index(Ellipsis)
        parts[at:at + 1] = [slice(None)] * (len(shape) - given)
    parts += [slice(None)] * (len(shape) - sum(1 for p in parts if p is not None))
    axes, out_shape, d = [], [], 0
    for part in parts:
        if part is None:
            out_shape.append(1)
            continue
        n = shape[d]
        d += 1
        if isinstance(part, (int, np.integer)) and not isinstance(part, bool):
            i = int(part) + n if part < 0 else int(part)
            if not 0 <= i < n:
                raise IndexError(f"index {int(part)} is out of bounds for axis {d - 1} "
                                 f"with size {n}")
            axes.append(np.array([i]))
        elif isinstance(part, slice):
            picked = np.arange(n)[part]
            axes.append(picked)
            out_shape.append(len(picked))
        else:
            raise TypeError(f"assigning to v[{key!r}]: a slice takes ints, slices, ... "
                            "and None (index arrays: tensor_scatter_nd_update and assign)")
    # The first k axes: up to the last one not taken whole.
    k = 0
    for i, picked in enumerate(axes):
        if len(picked) != shape[i] or not np.array_equal(picked, np.arange(shape[i])):
            k = i + 1
    grid = np.ix_(*axes[:k]) if k else ()
    rows = np.ravel_multi_index(grid, shape[:k]).reshape(-1) if k else np.zeros(1, np.int64)
    return rows.astype(np.int64), tuple(out_shape), k
