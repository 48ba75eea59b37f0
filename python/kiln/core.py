"""The dispatch core: every Kiln op goes through `bind`.

`bind(op, inputs, attributes, results)` routes one op, as JAX's core routes
a primitive through its trace stack:

- inside a `@kiln.function` trace (the innermost trace of this thread,
  `_state.trace`), the op joins the trace's module;
- otherwise it runs eagerly: its kernel, compiled once per (op, attributes,
  input types, device) and cached by the native Engine, runs on the
  current device;
- then every active gradient tape (`_state.tapes`) records it.

Attributes are typed values, never MLIR text: `attributes(axis=1)` builds
them (Python bool, int -> i64, float -> f64, str, lists of ints -> array<i64>
or of strs; `i32(n)`, `f32(x)`, `symbol(name)`, `unit()`, `i32_array(list)` and
`enum_case(enum, case)` for the rest), and
result types are (shape, dtype) pairs (`tensor_type`). Errors from the
native layer become TensorFlow's exception classes at the user's line.

This module sits just above `tensor` and below every op library: it
imports no other part of Kiln that imports it back (tracing and tapes are
reached through the objects in `_state`).
"""

import numpy as np

from . import _kiln, config, errors
from ._state import local as _state
from .dtypes import as_dtype, widened
from .tensor import ComplexParts, HostStrings, Tensor

i32 = _kiln.i32
f32 = _kiln.f32
symbol = _kiln.symbol
unit = _kiln.unit
i32_array = _kiln.i32_array
enum_case = _kiln.enum_case
_eager = _kiln.eager
_kiln.register_tensor_type(Tensor)  # ("compare_direction", "lt"), ("padding", "SAME")


def attributes(**values):
    """An op's attributes (None when there are none)."""
    return _kiln.Attributes(values) if values else None


def tensor_type(shape, dtype):
    """A result type: (shape, dtype) with None for a run-time extent."""
    return (tuple(None if d is None else int(d) for d in shape),
            as_dtype(dtype).mlir)


def bind(op, inputs, attrs=None, results=()):
    """Runs kiln.<op> on `inputs` (Tensors), or adds it to the active
    trace; active tapes record it. Returns the output tensors."""
    state = _state
    if state.trace is None and not state.tapes and not config.log_device_placement:
        try:  # (the common case, kept short: eager, nothing recording)
            return _eager(op, inputs, attrs, results, state.runtime_device)
        except _kiln.NativeError as e:
            if op not in _TAKES_STORAGE and _has_storage(inputs, results):
                return _on_storage(op, inputs, attrs, results, e)
            raise errors.from_native(e) from None
        except TypeError:  # (an input that is no native tensor)
            if not _has_composite(inputs):
                raise
            return _on_composite(op, inputs, attrs, results)
    return _bind(op, inputs, attrs, results)


def bind1(op, inputs, attrs=None, results=()):
    """bind for an op with one result."""
    state = _state
    if state.trace is None and not state.tapes and not config.log_device_placement:
        try:
            return _eager(op, inputs, attrs, results, state.runtime_device)[0]
        except _kiln.NativeError as e:
            if op not in _TAKES_STORAGE and _has_storage(inputs, results):
                return _on_storage(op, inputs, attrs, results, e)[0]
            raise errors.from_native(e) from None
        except TypeError:
            if not _has_composite(inputs):
                raise
            return _on_composite(op, inputs, attrs, results)[0]
    return _bind(op, inputs, attrs, results)[0]


# The ops that only move elements, as (op, the inputs that are data): on
# string tensors they run on the elements' indices, which then pick the
# strings (so a traced function may reshape, slice or gather a string
# constant too: it is a value, computed at once). "dim" reads a shape.
_MOVING = {"reshape": (0,), "transpose": (0,), "broadcast_to": (0,), "expand_dims": (0,),
           "squeeze": (0,), "slice": (0,), "gather": (0,), "split": (0,), "concat": None,
           "select": (1, 2), "dim": (0,)}


_COMPOSITE = (HostStrings, ComplexParts)


def _has_composite(inputs):
    """Whether an input is a string or complex tensor (no native tensor)."""
    return any(type(t._impl) in _COMPOSITE for t in inputs if isinstance(t, Tensor))


# complexes.py's rules for ops on complex tensors: (op, inputs, attrs,
# results) -> outputs; and its cast, compare and conj, which ops.py calls
# for complex operands. (Set there: that module sits above this one.)
complex_rules = None
complex_ops = {}


def _on_composite(op, inputs, attrs, results):
    if any(type(t._impl) is HostStrings for t in inputs if isinstance(t, Tensor)):
        return _on_strings(op, inputs, attrs, results)
    return complex_rules(op, inputs, attrs, results)


def _on_strings(op, inputs, attrs, results):
    """`op` on inputs that include string tensors (host values): the
    element-moving ops as above, `add` as concatenation (TensorFlow's),
    `compare` eq/ne elementwise; any other op is an error naming it.
    No tape records them: strings have no gradient."""
    if any(t._symbolic for t in inputs if isinstance(t, Tensor)):
        raise errors.InvalidArgumentError(
            f"kiln.{op} mixes strings with values of a @kiln.function trace: strings "
            "stay on the host and are not compiled; map them to numbers before the "
            "function", errors.user_location())
    if op in _MOVING:
        data = _MOVING[op] or range(len(inputs))
        arrays, proxies, offset = [], list(inputs), 0
        for i in data:
            if type(inputs[i]._impl) is not HostStrings:
                raise errors.InvalidArgumentError(
                    f"kiln.{op} mixes string and {inputs[i].dtype.name} tensors",
                    errors.user_location())
            array = inputs[i]._impl.array
            proxies[i] = Tensor(_kiln.Tensor.from_numpy(
                np.arange(offset, offset + array.size, dtype=np.int64).reshape(array.shape), ""))
            arrays.append(array.reshape(-1))
            offset += array.size
        results = tuple((shape, "i64" if dtype == "string" else dtype)
                        for shape, dtype in results)
        try:
            outputs = _eager(op, proxies, attrs, results, "cpu")
        except _kiln.NativeError as e:
            raise errors.from_native(e) from None
        if op == "dim":
            return outputs
        values = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
        return [_picked(values, t.numpy()) for t in outputs]
    if op == "add" and all(type(t._impl) is HostStrings for t in inputs):
        return [_picked(_concatenate(inputs[0]._impl.array, inputs[1]._impl.array))]
    raise errors.InvalidArgumentError(
        f"kiln.{op} does not take string tensors: Kiln computes on numbers, and strings "
        "stay on the host; map them to numbers first (kiln.strings, "
        "keras.layers.StringLookup, TextVectorization, Hashing)", errors.user_location())


def _picked(values, indices=None):
    """A string tensor of values[indices] (of `values` itself)."""
    array = values if indices is None else values[indices]
    array = np.array(array, dtype=object, copy=True)
    array.flags.writeable = False
    return Tensor(HostStrings(array))


_concatenate = np.frompyfunc(lambda a, b: a + b, 2, 1)


# Storage dtypes (int8, int16, uint8, uint16, uint32): the ops that move
# elements and casts take them; any other op fails to verify on them and
# runs instead on its inputs widened to int32 (int64 for uint32), as C
# promotes small integers, its results of the widened type cast back
# (TensorFlow's uint8 + uint8 is uint8, wrapping modulo 256; the widened
# arithmetic wraps the same way once truncated). Results that are indices,
# not values of the inputs' type, keep their type.
_INDEX_RESULTS = {"argmax": (0,), "argmin": (0,), "sort": (1,)}
# Operands that are indices (widened, they say nothing of the results).
_INDEX_OPERANDS = {"gather": (1,), "one_hot": (0,), "scatter_add": (1,),
                   "scatter_reduce": (1,), "sparse_softmax_cross_entropy": (1,)}
# A cast takes every type: an error of its is not one of type.
_TAKES_STORAGE = frozenset({"cast"})
# Ops whose tensor operands must all have one dtype (TensorFlow's rule;
# widening would otherwise let uint8 + int32 through).
_SAME_DTYPE = frozenset({"add", "sub", "mul", "div", "rem", "pow", "atan2", "maximum",
                         "minimum", "bitwise_and", "bitwise_or", "bitwise_xor",
                         "shift_left", "shift_right_arithmetic", "shift_right_logical",
                         "compare", "logical_and", "logical_or"})


def _has_storage(inputs, results=()):
    """Whether an input is a tensor of a storage dtype, or a result is
    asked for in one."""
    return any(isinstance(t, Tensor) and widened(t._impl.dtype) != t._impl.dtype
               for t in inputs) or any(widened(d) != d for _, d in results)


def _on_storage(op, inputs, attrs, results, original):
    """`op` on storage dtypes, which it does not take: on its inputs
    widened, its results of the widened type cast back to the storage type
    of its value operands (not of its index operands, as a gather's), or to
    the storage type a result was asked in. If the widened op fails too,
    the error is the one the op gave (`original`), not the widened one's."""
    index = _INDEX_OPERANDS.get(op, ())
    values = {t._impl.dtype for i, t in enumerate(inputs)
              if isinstance(t, Tensor) and i not in index}
    narrow = {d for d in values if widened(d) != d}
    if len(values) > 1 and (op in _SAME_DTYPE or narrow and any(
            widened(d) == d == widened(n) for d in values for n in narrow)):
        # (uint8 + int32: TensorFlow's error; widened, it would pass and
        # its result could not say which type it is.)
        names = " and ".join(sorted(as_dtype(d).name for d in values))
        raise errors.InvalidArgumentError(
            f"kiln.{op} takes operands of one dtype, got {names} (cast one first)",
            errors.user_location())
    if len(narrow) > 1:
        names = " and ".join(sorted(as_dtype(d).name for d in narrow))
        raise errors.InvalidArgumentError(
            f"kiln.{op} mixes {names} tensors (cast them to one dtype first)",
            errors.user_location())
    operands = [bind1("cast", [t], None, [(tuple(t.shape), widened(t._impl.dtype))])
                if isinstance(t, Tensor) and widened(t._impl.dtype) != t._impl.dtype
                else t for t in inputs]
    back = {}
    if results:
        back = {i: dtype for i, (_, dtype) in enumerate(results) if widened(dtype) != dtype}
        results = tuple((shape, widened(dtype)) for shape, dtype in results)
    try:
        outputs = bind(op, operands, attrs, results)
    except errors.OpError:
        raise errors.from_native(original) from None
    if not results and narrow:
        storage = narrow.pop()
        back = {i: storage for i, t in enumerate(outputs)
                if i not in _INDEX_RESULTS.get(op, ()) and t._impl.dtype == widened(storage)}
    out = []
    for i, t in enumerate(outputs):
        if i in back:
            if op in _EXTREMA:
                # (An empty reduction's identity is the widened type's
                # lowest or highest value: the storage type's instead.)
                limit = as_dtype(back[i]).min if op == "reduce_max" else as_dtype(back[i]).max
                bound = Tensor(_kiln.Tensor.from_numpy(
                    np.array(limit, dtype=as_dtype(t._impl.dtype).as_numpy_dtype), ""))
                t = bind1("maximum" if op == "reduce_max" else "minimum", [t, bound])
            t = bind1("cast", [t], None, [(tuple(t.shape), back[i])])
        out.append(t)
    return out


_EXTREMA = frozenset({"reduce_max", "reduce_min"})


def widen(t):
    """A tensor of a storage dtype as its widened type (int32; int64 for
    uint32), for ops that hand values to the runtime (print, summaries);
    any other tensor as it is."""
    dtype = t._impl.dtype
    if widened(dtype) == dtype:
        return t
    return bind1("cast", [t], None, [(tuple(t.shape), widened(dtype))])


def _bind(op, inputs, attrs, results):
    state = _state
    if _has_composite(inputs):
        return _on_composite(op, inputs, attrs, results)
    trace = state.trace
    if trace is None:
        if config.log_device_placement:
            config.log_op(op)
        try:
            outputs = _eager(op, inputs, attrs, results, state.runtime_device)
        except _kiln.NativeError as e:
            if op not in _TAKES_STORAGE and _has_storage(inputs, results):
                return _on_storage(op, inputs, attrs, results, e)
            raise errors.from_native(e) from None
    elif op in _FOLDED and _known_integers(op, inputs):
        try:  # (no tape records it: integers carry no gradient)
            return _eager(op, inputs, attrs, results, "cpu")
        except _kiln.NativeError as e:
            raise errors.from_native(e) from None
    else:
        try:
            outputs = trace.op(op, inputs, attrs, results,
                               errors.user_location())
        except _kiln.NativeError as e:
            if op not in _TAKES_STORAGE and _has_storage(inputs, results):
                return _on_storage(op, inputs, attrs, results, e)
            raise errors.from_native(e) from None
    location = errors.user_location()
    for tape in state.tapes:
        tape._record(op, inputs, attrs, results, outputs, location)
    return outputs


# Shape arithmetic on values known while tracing (kiln.shape(x)[1] *
# kiln.shape(x)[2] for known extents) runs at once, as TensorFlow's constant
# folding gives such values to the shape functions: its results are
# constants of the trace that the ops taking shapes can read.
_FOLDED = frozenset({"add", "sub", "mul", "div", "rem", "maximum", "minimum", "neg",
                     "abs", "compare", "cast", "reshape", "concat", "slice",
                     "select", "expand_dims", "squeeze", "logical_and", "logical_or",
                     "logical_not", "reduce_sum", "reduce_prod", "reduce_max",
                     "reduce_min", "bitwise_and", "bitwise_or", "bitwise_xor",
                     "bitwise_not", "shift_left", "shift_right_arithmetic",
                     "shift_right_logical"})


def _known_integers(op, inputs):
    """Whether every input is a small integer or bool tensor with a value
    (and, for a division, no zero divisor: that stays for the compiled
    code's check, which only a branch that runs reaches)."""
    for t in inputs:
        impl = t._impl
        if type(impl).__name__ == "_TracedImpl" or impl.dtype not in ("i32", "i64", "i1"):
            return False
        n = 1
        for d in impl.shape:
            n *= d
        if n > 64:
            return False
    return not (op in ("div", "rem") and not inputs[1]._impl.numpy().all())


def current_trace():
    """The trace being built on this thread, or None (eager)."""
    return _state.trace
