"""kiln.cond and kiln.while_loop: in eager mode they just run; inside
@kiln.function they become kiln.cond / kiln.while ops whose regions hold
the traced branches and loop body. Gradients flow through both."""

import builtins as _builtins

import numpy as np

from . import errors
from .tensor import Tensor, convert_to_tensor
from .tracing import _flatten, _pack, current_trace


def _tensors(values, like=None):
    out = []
    for i, v in enumerate(values):
        dtype = like[i].dtype if like is not None else None
        out.append(convert_to_tensor(v, dtype) if not isinstance(v, Tensor) or
                   dtype is None else v)
    return out


def _describe(tensors):
    return ", ".join(f"{t.dtype.name}{list(t.shape)}" for t in tensors)


def _trace_body(trace, arg_types, inits, run, location, mismatch):
    """Traces a loop body into a new block with `arg_types`: run(args)
    returns the next carried values (flat), which must have the types of
    `inits` (else `mismatch(nexts)` is the error). Returns the block."""
    handle, args = trace.push_block(arg_types)
    try:
        nexts = _tensors(run(args), inits)
    except BaseException:
        trace.pop_block([])
        raise
    if [t._impl.mlir_type for t in nexts] != [t._impl.mlir_type for t in inits]:
        trace.pop_block([])
        raise errors.InvalidArgumentError(mismatch(nexts), location)
    trace.pop_block(nexts)
    return handle


def cond(pred, true_fn, false_fn, name=None):
    """true_fn() if pred else false_fn(); both must return the same
    structure of tensors of the same types."""
    trace = current_trace()
    if trace is None:
        return true_fn() if bool(convert_to_tensor(pred)) else false_fn()
    p = convert_to_tensor(pred)
    if p.shape or p.dtype.name != "bool":
        raise errors.InvalidArgumentError(
            f"kiln.cond needs a scalar bool predicate, got {_describe([p])}",
            errors.user_location())
    location = errors.user_location()
    branches = []
    for fn in (true_fn, false_fn):
        handle, _ = trace.push_block([])
        try:
            result = fn()
            flat = _tensors(_flatten(result))
        except BaseException:
            trace.pop_block([])
            raise
        trace.pop_block(flat)
        branches.append((handle, result, flat))
    (h1, r1, f1), (h2, r2, f2) = branches
    types1 = [t._impl.mlir_type for t in f1]
    types2 = [t._impl.mlir_type for t in f2]
    if types1 != types2:
        raise errors.InvalidArgumentError(
            f"kiln.cond: true_fn returns ({_describe(f1)}) but false_fn returns "
            f"({_describe(f2)})", location)
    outs = trace.region_op("cond", [p], [h1, h2], types1, location)
    return _pack(r1, iter(outs))


class _Undefined:
    """The value of a name an `if` branch did not assign and that had none
    before (AutoGraph's rewrite passes every branch-assigned name in)."""

    def __repr__(self):
        return "<undefined: assigned only in the other branch of an if>"


_UNDEFINED = _Undefined()


def _value_or_undefined(get):
    try:
        return get()
    except NameError:  # (UnboundLocalError too)
        return _UNDEFINED


def _if_stmt(test, true_fn, false_fn, names, state):
    """A Python `if` that AutoGraph rewrote: kiln.cond when the test is a
    tensor being traced, Python's `if` otherwise. The branches take and
    return the values of `names` (the names either branch assigns)."""
    if not (isinstance(test, Tensor) and test._symbolic):
        return true_fn(*state) if test else false_fn(*state)
    location = errors.user_location()

    def branch(fn):
        def run():
            out = fn(*state)
            for name, value in zip(names, out):
                if value is _UNDEFINED:
                    raise errors.InvalidArgumentError(
                        f"`{name}` gets a value in only one branch of an `if` "
                        "on a tensor (and has none before it): inside "
                        "@kiln.function the `if` becomes kiln.cond, whose "
                        "branches must both give it one", location)
            return out
        return run
    return cond(test, branch(true_fn), branch(false_fn))


def _while_stmt(test, body, names, state):
    """A Python `while` that AutoGraph rewrote: kiln.while_loop when the
    condition is a traced tensor, Python's `while` otherwise. `test` and
    `body` take the values of `names` (the names the body assigns); `body`
    returns their next values."""
    first = test(*state)
    if not (isinstance(first, Tensor) and first._symbolic):
        while first:
            state = body(*state)
            first = test(*state)
        return state
    location = errors.user_location()
    for name, value in zip(names, state):
        if value is _UNDEFINED:
            raise errors.InvalidArgumentError(
                f"`{name}` is assigned in a `while` on a tensor but has no "
                "value before it: inside @kiln.function the loop becomes "
                "kiln.while_loop, whose loop variables need initial values",
                location)
    if not names:
        raise errors.InvalidArgumentError(
            "a `while` on a tensor whose body assigns nothing would never "
            "end", location)
    return tuple(while_loop(test, lambda *values: tuple(body(*values)),
                            tuple(state)))


def while_loop(cond, body, loop_vars, name=None):
    """Runs body while cond holds, as tf.while_loop: `loop_vars` is a tuple
    or list (of tensors, or nested structures of them); body returns the
    next values in the same structure."""
    single = not isinstance(loop_vars, (list, tuple))
    structure = [loop_vars] if single else loop_vars
    trace = current_trace()

    def call(fn, values):
        args = _pack(structure, iter(values))
        return fn(*args)

    if trace is None:
        values = _flatten(structure)
        while bool(convert_to_tensor(call(cond, values))):
            result = call(body, values)
            values = _flatten([result] if single else result)
        packed = _pack(structure, iter(values))
        return packed[0] if single else packed
    location = errors.user_location()
    inits = _tensors(_flatten(structure))
    types = [t._impl.mlir_type for t in inits]
    hc, cargs = trace.push_block(types)
    try:
        pred = convert_to_tensor(call(cond, cargs))
    except BaseException:
        trace.pop_block([])
        raise
    # The condition passes the loop variables on unchanged.
    trace.pop_block([pred] + list(cargs), terminator="condition")
    def run(args):
        result = call(body, args)
        return _flatten([result] if single else result)

    hb = _trace_body(trace, types, inits, run, location,
                     lambda nexts: f"kiln.while_loop: the body returns "
                                   f"({_describe(nexts)}) but the loop variables "
                                   f"are ({_describe(inits)})")
    outs = trace.region_op("while", inits, [hc, hb], [], location)
    packed = _pack(structure, iter(outs))
    return packed[0] if single else packed


def for_loop(n, body, loop_vars, start=0, step=1, name=None):
    """for i in range(start, n, step): loop_vars = body(i, *loop_vars).
    `i` is an int32 scalar tensor. Inside @kiln.function this is one
    kiln.for whose trip count may be computed at run time."""
    from . import ops
    single = not isinstance(loop_vars, (list, tuple))
    structure = [loop_vars] if single else list(loop_vars)
    trace = current_trace()
    if trace is None:
        values = _flatten(structure)
        for i in _builtins.range(int(convert_to_tensor(start)),
                                 int(convert_to_tensor(n)),
                                 int(convert_to_tensor(step))):
            result = body(convert_to_tensor(i), *_pack(structure, iter(values)))
            values = _flatten([result] if single else (result if result is not None else []))
        packed = _pack(structure, iter(values))
        return packed[0] if single else packed
    from .dtypes import int64, int32
    location = errors.user_location()
    bounds = [ops.cast(convert_to_tensor(b), int64) for b in (start, n, step)]
    inits = _tensors(_flatten(structure))
    types = [t._impl.mlir_type for t in inits]
    def run(args):
        result = body(ops.cast(args[0], int32), *_pack(structure, iter(args[1:])))
        return _flatten([result] if single else (result if result is not None else []))

    hb = _trace_body(trace, ["tensor<i64>"] + types, inits, run, location,
                     lambda nexts: f"kiln.range loop: the body's carried values "
                                   f"are ({_describe(nexts)}) but they start as "
                                   f"({_describe(inits)})")
    outs = trace.region_op("for", bounds + inits, [hb], [], location)
    packed = _pack(structure, iter(outs))
    return packed[0] if single else packed


class range:
    """Iterating `for i in kiln.range(n)` gives int32 scalar tensors in eager
    mode; inside @kiln.function the loop becomes one kiln.for (the function's
    source is rewritten so the body is traced once)."""

    def __init__(self, start, stop=None, step=1):
        if stop is None:
            start, stop = 0, start
        self.start, self.stop, self.step = start, stop, step

    def __iter__(self):
        if current_trace() is not None:
            raise errors.UnimplementedError(
                "`for ... in kiln.range(...)` is only rewritten into a kiln.for "
                "in the source of a @kiln.function, of the functions it calls "
                "by name and of layers' call methods (not in lambdas, "
                "comprehensions or code without source); use kiln.for_loop "
                "there",
                errors.user_location())
        for i in _builtins.range(int(convert_to_tensor(self.start)),
                                       int(convert_to_tensor(self.stop)),
                                       int(convert_to_tensor(self.step))):
            yield convert_to_tensor(i)


class TensorArray:
    """A fixed-size array of tensors of one shape, written functionally
    (write returns the updated array), as tf.TensorArray; usable as a loop
    variable. Backed by one tensor of shape [size] + element_shape."""

    def __init__(self, dtype, size, element_shape=None, _buffer=None):
        from .dtypes import as_dtype
        self.dtype = as_dtype(dtype)
        self.size = int(size)
        self.element_shape = tuple(element_shape) if element_shape is not None else None
        self._buffer = _buffer

    def _ensure(self, shape):
        from .tensor import zeros
        if self._buffer is None:
            self.element_shape = tuple(shape)
            self._buffer = zeros((self.size,) + self.element_shape, self.dtype)
        return self._buffer

    def _require(self):
        if self._buffer is None:
            if self.element_shape is None:
                raise errors.InvalidArgumentError(
                    "this TensorArray has no element shape yet: write to it "
                    "first, or give element_shape=", errors.user_location())
            self._ensure(self.element_shape)
        return self._buffer

    def _check_index(self, index, what):
        """TensorFlow's error for an index outside the array, when the index
        has a value now (a Python int, an eager tensor)."""
        from . import ops
        if isinstance(index, Tensor):
            if not ops._concrete(index) or index.shape:
                return
            index = int(index.numpy())
        elif not isinstance(index, (int, np.integer)):
            return
        if not 0 <= int(index) < int(self.size):
            raise errors.InvalidArgumentError(
                f"TensorArray.{what}: tried to {what} index {int(index)} but the "
                f"array's size is {int(self.size)}", errors.user_location())

    def write(self, index, value):
        from . import ops
        self._check_index(index, "write")
        value = convert_to_tensor(value, self.dtype)
        buffer = self._ensure(value.shape) if self._buffer is None else self._buffer
        i = ops.reshape(ops.cast(convert_to_tensor(index), _i64()), [1])
        old = ops.gather(buffer, i)
        delta = ops.subtract(ops.reshape(value, (1,) + value.shape), old)
        updated = ops._run1("scatter_add", [buffer, i, delta], "{axis = 0 : i64}")
        return TensorArray(self.dtype, self.size, self.element_shape, updated)

    def read(self, index):
        from . import ops
        self._check_index(index, "read")
        return ops.gather(self._require(), ops.cast(convert_to_tensor(index), _i64()))

    def stack(self):
        return self._require()

    # Loop-variable protocol (see tracing._flatten).
    def _kiln_flatten(self):
        return [self._require()]

    def _kiln_unflatten(self, values):
        return TensorArray(self.dtype, self.size, self.element_shape, values[0])


def _i64():
    from .dtypes import int64
    return int64
