"""kiln.cond and kiln.while_loop: in eager mode they just run; inside
@kiln.function they become kiln.cond / kiln.while ops whose regions hold
the traced branches and loop body. Gradients flow through both."""

import builtins as _builtins

import numpy as np

from . import errors
from .core import attributes
from .tensor import Tensor, TensorSpec, convert_to_tensor
from .nest import sequence_like
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
        trace.pop_block([], discard=handle)
        # (A retrace follows a _Retrace: a variable this try read before
        # the loop and assigned must be read in the body next time.)
        trace.hoisted_stale()
        raise
    if [t._impl.type for t in nexts] != [t._impl.type for t in inits]:
        trace.pop_block([], discard=handle)
        raise errors.InvalidArgumentError(mismatch(nexts), location)
    trace.pop_block(nexts)
    if trace.hoisted_stale():
        # A variable read before the body assigns it was read once before
        # the loop: trace the loop again, reading it in the body.
        trace.discard_block(handle)
        raise _Retrace()
    return handle


class control_dependencies:
    """tf.control_dependencies: accepted, and nothing to do: eager ops run
    when called, and a compiled function keeps its side effects (variable
    updates, prints, asserts) in program order."""

    def __init__(self, control_inputs):
        self.control_inputs = control_inputs

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def cond(pred, true_fn, false_fn, name=None):
    """true_fn() if pred else false_fn(); both must return the same
    structure of tensors of the same types."""
    trace = current_trace()
    if trace is None:
        return true_fn() if bool(convert_to_tensor(pred)) else false_fn()
    p = convert_to_tensor(pred)
    if p.shape or p.dtype.name != "bool":
        raise errors.InvalidArgumentError(
            f"kiln.cond (or an `if`, `and`, `or` or conditional expression "
            f"on a tensor) needs a scalar bool predicate, got {_describe([p])}",
            errors.user_location())
    location = errors.user_location()
    branches = []
    for fn in (true_fn, false_fn):
        handle, _ = trace.push_block([])
        try:
            result = fn()
            flat = _tensors(_flatten(result))
        except BaseException:
            trace.pop_block([], discard=handle)
            for h, _, _ in branches:
                trace.discard_block(h)
            raise
        trace.pop_block(flat)
        branches.append((handle, result, flat))
    (h1, r1, f1), (h2, r2, f2) = branches
    types1 = [t._impl.type for t in f1]
    types2 = [t._impl.type for t in f2]
    if types1 != types2:
        raise errors.InvalidArgumentError(
            f"kiln.cond: true_fn returns ({_describe(f1)}) but false_fn returns "
            f"({_describe(f2)})", location)
    outs = trace.region_op("cond", [p], [h1, h2], types1, location)
    return _maybe_written(_pack(r1, iter(outs)))


class _Undefined:
    """The value of a name an `if` branch did not assign and that had none
    before (AutoGraph's rewrite passes every branch-assigned name in)."""

    def __repr__(self):
        return "<undefined: assigned only in the other branch of an if>"


_UNDEFINED = _Undefined()


class _UndefinedReturn:
    """The return value of a function rewritten for a `return` inside a loop
    (autograph._lower_returns), before a `return` ran: it carries no tensor
    (a loop on a tensor learns the type from its body, an `if` from the
    other branch, and a zero placeholder stands in where no `return` ran)."""

    def __repr__(self):
        return "<no return value yet>"

    def _kiln_flatten(self):
        return []

    def _kiln_unflatten(self, values):
        return self


_UNDEFINED_RETURN = _UndefinedReturn()


def _return_value(value, done=True, falls_off=False):
    """What a rewritten function returns: None if no `return` ran. When
    its end may be reached without one (`falls_off`) and whether a return
    ran is a traced tensor, the function would return a value on some
    paths and None on others: an error, as in TensorFlow."""
    if falls_off and isinstance(done, Tensor) and done._symbolic and \
            not (value is _UNDEFINED_RETURN or value is None):
        raise errors.InvalidArgumentError(
            "this function returns a value on some paths and nothing (None) on "
            "others, and a tensor decides which (a `return` under an `if` or in a "
            "loop on a tensor, with no `return` at the end): inside @kiln.function "
            "both must give a tensor; add a `return` at the end",
            errors.user_location())
    return None if value is _UNDEFINED_RETURN else value


def _value_or_undefined(get):
    try:
        return get()
    except NameError:  # (UnboundLocalError too)
        return _UNDEFINED


def _if_stmt(test, true_fn, false_fn, names, state, returns=False):
    """A Python `if` that AutoGraph rewrote: kiln.cond when the test is a
    tensor being traced, Python's `if` otherwise. The branches take and
    return the values of `names` (the names either branch assigns); with
    `returns` (both branches end in `return`) they take those values and
    return the function's result."""
    if not (isinstance(test, Tensor) and test._symbolic):
        return true_fn(*state) if test else false_fn(*state)
    location = errors.user_location()
    if returns:
        return cond(test, lambda: true_fn(*state), lambda: false_fn(*state))
    placeholders = _return_placeholders(true_fn, false_fn, names, state)

    def branch(fn):
        def run():
            out = fn(*state)
            if placeholders:
                out = list(out)
                for k, value in enumerate(out):
                    if value is _UNDEFINED_RETURN and names[k] in placeholders:
                        out[k] = placeholders[names[k]]()
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


def _require_values(names, state, what, location):
    for name, value in zip(names, state):
        if value is _UNDEFINED:
            raise errors.InvalidArgumentError(
                f"`{name}` is assigned in a {what} on a tensor but has no "
                "value before it: inside @kiln.function the loop becomes "
                "a kiln loop, whose loop variables need initial values",
                location)


def _return_placeholders(true_fn, false_fn, names, state):
    """For an `if` on a tensor where a return value is still undefined:
    per name, zeros like what the other branch gives (both branches are
    traced once into dropped blocks to learn it)."""
    if not any(v is _UNDEFINED_RETURN for v in state):
        return {}
    from .tensor import zeros
    trace = current_trace()
    found = {}
    for fn in (true_fn, false_fn):
        handle, _ = trace.push_block([])
        try:
            out = fn(*state)
        finally:
            trace.pop_block([], discard=handle)
        for name, value in zip(names, out):
            if isinstance(value, Tensor) and name not in found:
                found[name] = (value.shape, value.dtype)
    return {name: (lambda spec=spec: zeros(*spec)) for name, spec in found.items()}


def _while_stmt(test, body, names, state):
    """A Python `while` that AutoGraph rewrote: kiln.while_loop when the
    condition is a traced tensor, Python's `while` otherwise. `test` and
    `body` take the values of `names` (the names the body assigns that are
    read later); `body` returns their next values."""
    first = test(*state)
    if not (isinstance(first, Tensor) and first._symbolic):
        while first:
            state = body(*state)
            first = test(*state)
            if isinstance(first, Tensor) and first._symbolic:
                # (A condition that became a tensor, `while True` with a
                # `break` on a tensor: the iterations so far ran inline,
                # the rest are one kiln.while from here.)
                break
        else:
            return state
    location = errors.user_location()
    _require_values(names, state, "`while`", location)
    if not names:
        raise errors.InvalidArgumentError(
            "a `while` on a tensor whose body assigns nothing would never "
            "end", location)
    return tuple(while_loop(test, lambda *values: tuple(body(*values)),
                            tuple(state)))


def _for_stmt(iterable, extra_test, body, names, state):
    """A Python `for` that AutoGraph rewrote. Inside a trace, a kiln.range,
    a traced tensor (iterated over its first dimension), a TensorArray
    holding one, or a kiln.data.Dataset (its batches held by the runtime)
    becomes one kiln loop (kiln.for, or kiln.while when a `break` adds
    `extra_test`); anything else is Python's loop. `body` takes the item and
    the values of `names`, and returns their next values."""
    from . import ops
    from .data import Dataset
    from .dtypes import int64
    state = tuple(state)
    items = None
    trace = current_trace()
    if trace is not None:
        if isinstance(iterable, TensorArray) and iterable._buffer is not None and \
                iterable._buffer._symbolic:
            iterable = iterable.stack()
        if isinstance(iterable, Dataset):
            return _dataset_loop(trace, iterable, extra_test, body, names, state)
        if isinstance(iterable, _LoopRange):
            start, stop, step = iterable.start, iterable.stop, iterable.step
            items = lambda i: i
        elif isinstance(iterable, Tensor) and iterable._symbolic:
            if not iterable.shape:
                raise errors.InvalidArgumentError(
                    "a `for` loop cannot iterate over a scalar (rank-0) tensor",
                    errors.user_location())
            start, stop, step = 0, iterable.shape[0], 1
            tensor = iterable
            items = lambda i: ops.gather(tensor, ops.cast(i, int64))
    if items is None:
        it = iter(iterable)
        while extra_test is None or extra_test(*state):
            try:
                item = next(it)
            except StopIteration:
                break
            state = tuple(body(item, *state))
        return state
    _require_values(names, state, "`for` loop", errors.user_location())
    return _index_loop(start, stop, step, items, extra_test, body, state)


def _index_loop(start, stop, step, items, extra_test, body, state):
    """for i in range(start, stop, step): state = body(items(i), *state),
    as one kiln.for (a kiln.while over (i, state) when `extra_test`, a
    `break`'s flag, must hold too)."""
    from . import ops
    from .dtypes import int32
    if extra_test is None:
        out = for_loop(stop, lambda i, *values: tuple(body(items(i), *values)),
                       state, start=start, step=step)
        return tuple(out)
    start, stop, step = (ops.cast(convert_to_tensor(b), int32) for b in (start, stop, step))

    def test(i, *values):
        more = ops.where(ops.greater(step, 0), ops.less(i, stop), ops.greater(i, stop))
        return _and(lambda: more, lambda: extra_test(*values))

    def step_body(i, *values):
        return (ops.add(i, step),) + tuple(body(items(i), *values))

    out = while_loop(test, step_body, (start,) + state)
    return tuple(out[1:])


def _dataset_loop(trace, dataset, extra_test, body, names, state):
    """`for batch in dataset` inside a trace: the batches are stacked into
    variables of the runtime's store (filled again from the dataset before
    every call, so each call sees a fresh pass: a new shuffle), and the loop
    is one kiln.for over them; a last, smaller batch runs the body once
    more after it. No batch is a constant in the IR."""
    from . import ops
    from .dtypes import int64
    from .tracing import _pack
    location = errors.user_location()
    _require_values(names, state, "`for` loop over a dataset", location)
    feed = trace.feed_dataset(dataset, location)
    full = [v.value() for v in feed.full]
    if full:
        items = lambda i: _pack(feed.structure, iter(
            [ops.gather(t, ops.cast(i, int64)) for t in full]))
        state = _index_loop(0, feed.batches, 1, items, extra_test, body, state)
    if feed.remainder:
        last = _pack(feed.structure, iter([v.value() for v in feed.remainder]))
        if extra_test is None:
            state = tuple(body(last, *state))
        else:
            state = tuple(cond(extra_test(*state), lambda: tuple(body(last, *state)),
                               lambda: state))
    return state


def _range(range_function, *args, **kwargs):
    """A call in a converted `for`'s iterable. `range(...)` with a traced
    tensor argument, and `kiln.range(...)` always, give a loop range (one
    kiln loop, not a tensor of every index); anything else is called as it
    is."""
    import builtins
    if range_function is range:
        return _LoopRange(*args, **kwargs)
    if range_function is builtins.range and not kwargs and \
            any(isinstance(a, Tensor) and a._symbolic for a in args):
        return _LoopRange(*args)
    return _call(range_function, *args, **kwargs)


def _call(f, *args, **kwargs):
    """A call in converted code: user functions and methods are converted
    too (once), the rest called as they are."""
    from . import autograph
    return autograph.converted(f)(*args, **kwargs)


def _traced(value):
    return isinstance(value, Tensor) and value._symbolic


def _and(*operands):
    """`a and b and ...` (each a thunk): lazy kiln.cond from the first
    traced tensor on, Python's `and` before."""
    value = operands[0]()
    for i in _builtins.range(1, len(operands)):
        if _traced(value):
            pred, rest = value, operands[i:]
            return cond(pred, lambda: _and(*rest), lambda: pred)
        if not value:
            return value
        value = operands[i]()
    return value


def _or(*operands):
    """`a or b or ...`, as _and."""
    value = operands[0]()
    for i in _builtins.range(1, len(operands)):
        if _traced(value):
            pred, rest = value, operands[i:]
            return cond(pred, lambda: pred, lambda: _or(*rest))
        if value:
            return value
        value = operands[i]()
    return value


def _not(value):
    """`not value`: kiln.logical_not of a traced tensor."""
    if _traced(value):
        from . import ops
        return ops.logical_not(value)
    return not value


def _assert(test, message=None):
    """A Python `assert` that AutoGraph rewrote: on a traced tensor, a check
    when the compiled code runs (tf.debugging.Assert: InvalidArgumentError
    with the message); otherwise Python's assert."""
    if isinstance(test, Tensor) and test._symbolic:
        from . import ops
        text = None if message is None else message()
        ops._check_at_run_time(ops.cast(test, "bool"), "assertion failed" + (
            f": {text}" if text is not None else ""))
        return
    if not test:
        raise AssertionError(*(() if message is None else (message(),)))


def _if_exp(test, true_value, false_value):
    """`a if test else b` (a, b thunks): kiln.cond for a traced tensor."""
    if _traced(test):
        return cond(test, true_value, false_value)
    return true_value() if test else false_value()


def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10,
               back_prop=True, swap_memory=False, maximum_iterations=None, name=None):
    """Runs body while cond holds, as tf.while_loop: `loop_vars` is a tuple
    or list (of tensors, or nested structures of them); body returns the
    next values in the same structure. `maximum_iterations` stops it after
    that many runs of the body (a counter carried beside the variables);
    `shape_invariants` may only restate the shapes (Kiln's loop variables
    keep theirs), and parallel_iterations, back_prop and swap_memory are
    accepted."""
    if shape_invariants is not None:
        _check_invariants(loop_vars, shape_invariants)
    if maximum_iterations is not None:
        single = not isinstance(loop_vars, (list, tuple))
        values = [loop_vars] if single else list(loop_vars)

        def limited_cond(i, *vs):
            return _and(lambda: i < maximum_iterations, lambda: cond(*vs))

        def counted_body(i, *vs):
            out = _one_or_more(body(*vs), values, single)
            return [i + 1] + ([out] if single else list(out))

        from .dtypes import int32
        out = while_loop(limited_cond, counted_body,
                         [convert_to_tensor(0, int32)] + values)[1:]
        return out[0] if single else sequence_like(loop_vars, out)
    single = not isinstance(loop_vars, (list, tuple))
    structure = _own_arrays([loop_vars] if single else list(loop_vars))
    trace = current_trace()

    def call(fn, values):
        args = _pack(structure, iter(values))
        return fn(*args)

    if trace is None:
        current = list(structure)
        while bool(convert_to_tensor(cond(*current))):
            result = _one_or_more(body(*current), structure, single)
            current = [result] if single else list(result)
        return current[0] if single else sequence_like(loop_vars, current)
    location = errors.user_location()

    def build(blocks):
        inits = _tensors(_flatten(structure))
        types = [t._impl.type for t in inits]
        hc, cargs = trace.push_block(types)
        try:
            pred = convert_to_tensor(call(cond, cargs))
        except BaseException:
            trace.pop_block([], discard=hc)
            raise
        # The condition passes the loop variables on unchanged.
        trace.pop_block([pred] + list(cargs), terminator="condition")
        blocks.append(hc)

        def run(args):
            result = _one_or_more(call(body, args), structure, single)
            _learn_shapes(structure, [result] if single else result)
            return _flatten([result] if single else result)

        blocks.append(_trace_body(
            trace, types, inits, run, location,
            lambda nexts: f"kiln.while_loop: the body returns "
                          f"({_describe(nexts)}) but the loop variables "
                          f"are ({_describe(inits)})"))
        return inits

    inits, blocks = _loop_blocks(trace, build)
    outs = trace.region_op("while", inits, blocks, [], location)
    packed = _maybe_written(_pack(structure, iter(outs)))
    return packed[0] if single else sequence_like(loop_vars, packed)


def _check_invariants(values, invariants):
    """tf.while_loop's shape_invariants, walked with the loop variables'
    structure (a TensorShape or None is a leaf): each must fit its
    variable's shape, which Kiln's loops keep."""
    from .tensor import TensorShape
    if isinstance(values, Tensor):
        if invariants is not None and \
                not TensorShape(invariants).is_compatible_with(values.shape):
            raise ValueError(f"while_loop: shape invariant {TensorShape(invariants)} does "
                             f"not fit a loop variable of shape {tuple(values.shape)}")
    elif isinstance(values, dict) and isinstance(invariants, dict):
        for k in values:
            if k in invariants:
                _check_invariants(values[k], invariants[k])
    elif isinstance(values, (list, tuple)) and isinstance(invariants, (list, tuple)) and \
            not isinstance(invariants, TensorShape):
        if len(values) != len(invariants):
            raise ValueError(f"while_loop: {len(invariants)} shape invariants for "
                             f"{len(values)} loop variables")
        for v, i in zip(values, invariants):
            _check_invariants(v, i)


def _one_or_more(result, structure, single):
    """A while body's result: TensorFlow takes a lone value for a list of
    one loop variable."""
    if not single and len(structure) == 1 and not isinstance(result, (list, tuple)):
        return [result]
    return result


class _Retrace(Exception):
    """A loop's first trace learned something its types or reads depend on
    (a TensorArray's element shape, a return value's type, a variable the
    body both reads and assigns): the loop is traced again."""


# A `for` loop's index while its body is traced: id(impl) -> (impl, the
# loop's token, the depth of the body's block, the rows its range spans:
# an int, a scalar tensor of kiln.shape's open extent, or None).
_LOOP_INDICES = {}


def _static_int(value):
    """`value` (a loop bound) as a Python int when known while tracing;
    the tensor itself when it is a scalar extent of kiln.shape known only
    when the code runs; else None."""
    from .tensor import _OpenExtent, _partial_extents
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if not isinstance(value, Tensor) or value.shape or not value.dtype.is_integer:
        return None
    if not value._symbolic:
        return int(value.numpy())
    entries = _partial_extents(value)
    if entries is None or len(entries) != 1:
        return None
    if isinstance(entries[0], _OpenExtent):
        return value
    return int(entries[0])


def _range_rows(start, stop, step):
    """How many rows an array written at each index of range(start, stop,
    step) spans (the last index + 1; 0 for an empty range); a scalar
    tensor for range(n) of an open extent n; None when unknown while
    tracing or when an index is negative."""
    start, stop, step = (_static_int(b) for b in (start, stop, step))
    if isinstance(stop, Tensor):
        return stop if start == 0 and step == 1 else None
    if None in (start, stop, step) or isinstance(start, Tensor) or \
            isinstance(step, Tensor) or step == 0:
        return None
    indices = _builtins.range(start, stop, step)
    if not indices:
        return 0
    if _builtins.min(indices) < 0:
        return None
    return _builtins.max(indices) + 1


def _own_arrays(structure):
    """The loop variables with each TensorArray copied: what a loop learns
    about its arrays (an element shape, a size) changes its copies, not the
    caller's arrays (which another loop or trace may start from)."""
    import copy
    if isinstance(structure, TensorArray):
        return copy.copy(structure)
    if isinstance(structure, list):
        return [_own_arrays(s) for s in structure]
    if isinstance(structure, tuple):
        return sequence_like(structure, [_own_arrays(s) for s in structure])
    if isinstance(structure, dict):
        return type(structure)((k, _own_arrays(v)) for k, v in structure.items()) \
            if type(structure) is dict else {k: _own_arrays(v) for k, v in structure.items()}
    return structure


def _maybe_written(structure):
    """A loop's or cond's results: the TensorArrays among them may hold
    values at rows known only at run time (their bodies wrote them), so a
    later write at a run-time index replaces exactly. Returns the
    structure."""
    if isinstance(structure, TensorArray):
        if structure._written != "all":
            structure._written = structure._written | {None}
    elif isinstance(structure, (list, tuple)):
        for s in structure:
            _maybe_written(s)
    elif isinstance(structure, dict):
        for s in structure.values():
            _maybe_written(s)
    return structure


def _mark_carried(structure, token):
    """Notes on the TensorArrays of a loop body's carried values that this
    loop (`token`) carries them."""
    if isinstance(structure, TensorArray):
        structure._loop = token
    elif isinstance(structure, (list, tuple)):
        for s in structure:
            _mark_carried(s, token)
    elif isinstance(structure, dict):
        for s in structure.values():
            _mark_carried(s, token)


def _loop_counter(index, array):
    """(the rows the loop's range spans, None) when `index` is the counter
    of a `for` loop that carries `array`, written at the top of the loop's
    body; else (None, why not)."""
    trace = current_trace()
    info = _LOOP_INDICES.get(id(index._impl)) if isinstance(index, Tensor) else None
    if info is None or info[0] is not index._impl:
        return None, "the index is not the index of a `for ... in kiln.range(...)` loop"
    _, token, depth, rows = info
    if array._loop is not token:
        return None, "the array is not a value that loop carries (made in its body?)"
    if trace is None or len(trace.saved) != depth:
        return None, "the write is inside a condition or an inner loop of the body"
    return rows, None


def _loop_rows(index, array):
    """(rows, None) when `index` is the counter of a `for` loop with a range
    known while tracing (or an open extent of kiln.shape) that carries
    `array`, written at the top of the loop's body: a write there reaches
    every index of the range, so the array grows to `rows`. Else (None,
    why not)."""
    rows, why = _loop_counter(index, array)
    if why is None and rows is None:
        return None, "the loop's range is not known while tracing"
    return rows, why


def _learn_shapes(structure, result, loop=None):
    """TensorArrays of `structure` with no element shape take the one their
    counterpart in `result` (a loop body's values) got from a write, and
    dynamic_size ones that writes at the index of `loop` (a for_loop's
    token) grew take that size; raises _Retrace when any did (what
    TensorFlow infers from the first write)."""
    learned = []
    # (Before any array learns its shape: a loop variable that gives an
    # array with open extents its own, or else the one argument of the
    # traced function of the element's shape. Extents that then differ from
    # the elements' are an error when the code runs: each write checks them.)
    carried = [t for t in _flatten(structure) if isinstance(t, Tensor)]
    trace = current_trace()
    arguments = getattr(trace, "argument_tensors", []) if trace is not None else []

    def like(shape):
        # (One of that shape: two could hold different open extents.)
        for candidates in (carried, arguments):
            found = {id(t._impl): t for t in candidates if tuple(t.shape) == shape}
            if found:
                return next(iter(found.values())) if len(found) == 1 else None
        return None

    def walk(a, b):
        if isinstance(a, (list, dict)) and isinstance(b, (list, tuple, dict)):
            keys = _builtins.range(len(a)) if isinstance(a, list) else list(a)
            for k in keys:
                if a[k] is _UNDEFINED_RETURN and \
                        (k < len(b) if isinstance(b, (list, tuple)) else k in b) and \
                        isinstance(b[k], Tensor):
                    # A return value the body gave: zeros of its type until
                    # a `return` runs.
                    from .tensor import zeros
                    a[k] = zeros(b[k].shape, b[k].dtype)
                    learned.append(a[k])
        if isinstance(a, TensorArray):
            if a._buffer is None and a._element_shape is None and \
                    isinstance(b, TensorArray) and b._element_shape is not None:
                a._element_shape = b._element_shape
                if None in a._element_shape and a._like is None:
                    # Open extents: from a loop variable of the same shape
                    # (a recurrent layer's initial state, for its outputs).
                    a._like = like(a._element_shape)
                learned.append(a)
            if loop is not None and isinstance(b, TensorArray) and b._grew is loop and (
                    b._size is not a._size if isinstance(b._size, Tensor)
                    else isinstance(a._size, int) and b._size > a._size):
                a._resize_later(b._size)
                learned.append(a)
        elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and \
                len(a) == len(b):
            for x, y in zip(a, b):
                walk(x, y)
        elif isinstance(a, dict) and isinstance(b, dict):
            for k in a:
                if k in b:
                    walk(a[k], b[k])

    walk(structure, result)
    if learned:
        raise _Retrace()


def _loop_blocks(trace, build):
    """Runs build(blocks) (which traces a loop's blocks into `blocks`) until
    no TensorArray learns its element shape on the way; the blocks of the
    tries before are dropped. Returns (what build returned, blocks)."""
    while True:
        blocks = []
        try:
            return build(blocks), blocks
        except _Retrace:
            for handle in blocks:
                trace.discard_block(handle)


def for_loop(n, body, loop_vars, start=0, step=1, name=None):
    """for i in range(start, n, step): loop_vars = body(i, *loop_vars).
    `i` is an int32 scalar tensor. Inside @kiln.function this is one
    kiln.for whose trip count may be computed at run time."""
    from . import ops
    single = not isinstance(loop_vars, (list, tuple))
    structure = _own_arrays([loop_vars] if single else list(loop_vars))
    trace = current_trace()
    if trace is None:
        current = list(structure)
        for i in _builtins.range(int(convert_to_tensor(start)),
                                 int(convert_to_tensor(n)),
                                 int(convert_to_tensor(step))):
            result = body(convert_to_tensor(i), *current)
            current = [result] if single else list(result if result is not None else [])
        return current[0] if single else sequence_like(structure, current)
    from .dtypes import int64, int32
    location = errors.user_location()
    rows = _range_rows(start, n, step)
    token = object()   # (this loop, for the TensorArrays it carries)
    bounds = [ops.cast(convert_to_tensor(b), int64) for b in (start, n, step)]

    def build(blocks):
        inits = _tensors(_flatten(structure))
        types = [t._impl.type for t in inits]

        def run(args):
            i = ops.cast(args[0], int32)
            carried = _pack(structure, iter(args[1:]))
            _mark_carried(carried, token)
            _LOOP_INDICES[id(i._impl)] = (i._impl, token, len(trace.saved), rows)
            try:
                result = body(i, *carried)
            finally:
                del _LOOP_INDICES[id(i._impl)]
            result = [result] if single else (result if result is not None else [])
            _learn_shapes(structure, list(result), loop=token)
            return _flatten(result)

        blocks.append(_trace_body(
            trace, [((), "i64")] + types, inits, run, location,
            lambda nexts: f"kiln.range loop: the body's carried values "
                          f"are ({_describe(nexts)}) but they start as "
                          f"({_describe(inits)})"))
        return inits

    inits, blocks = _loop_blocks(trace, build)
    outs = trace.region_op("for", bounds + inits, blocks, [], location)
    packed = _maybe_written(_pack(structure, iter(outs)))
    return packed[0] if single else packed


def range(start, limit=None, delta=1, dtype=None, name="range"):
    """The 1-D tensor start, start + delta, ... up to (not including)
    `limit`, as tf.range: int32 from integer arguments, float32 when one is
    a float, or `dtype`. `for i in kiln.range(n)` inside @kiln.function is
    one kiln.for loop (AutoGraph); eagerly it iterates over the int32 scalar
    tensors of the result. A bound computed in a compiled function makes the
    length value-dependent: only a loop can use such a range."""
    from .dtypes import as_dtype, float32, int32
    from .tensor import constant
    bounds = (start, limit, delta)
    if any(isinstance(b, Tensor) and b._symbolic for b in bounds):
        # kiln.range(kiln.shape(x)[1]), an open extent: the positions, as
        # long as it when the code runs (a position embedding's input).
        positions = _open_range(start, limit, delta, dtype)
        if positions is not None:
            return positions
        # Otherwise only meaningful as a loop; iterating it outside
        # converted code raises a clear error.
        return _LoopRange(start, limit, delta)
    if limit is None:
        start, limit = 0, start
    values = [convert_to_tensor(b).numpy()[()] if isinstance(b, Tensor) else b
              for b in (start, limit, delta)]
    if dtype is None:
        floating = any(isinstance(v, (float, np.floating)) for v in values)
        dtype = float32 if floating else int32
    dtype = as_dtype(dtype)
    if values[2] == 0:
        raise errors.InvalidArgumentError("range: delta must not be 0",
                                          errors.user_location())
    if (values[1] - values[0]) * values[2] < 0:
        raise errors.InvalidArgumentError(
            f"range: start {values[0]} and limit {values[1]} are in the wrong "
            f"order for delta {values[2]}", errors.user_location())
    if dtype.is_integer:
        out = np.arange(int(values[0]), int(values[1]), int(values[2]))
    else:
        count = int(np.ceil((float(values[1]) - float(values[0])) / float(values[2])))
        out = values[0] + values[2] * np.arange(_builtins.max(count, 0), dtype=np.float64)
    return constant(out, dtype)  # (float64 values rounded once to dtype)


def _open_range(start, limit, delta, dtype):
    """range(n) (start 0, step 1) of an open extent n that kiln.shape gave:
    kiln.iota over a tensor as long as n; None for any other bounds."""
    from . import math_ops
    from .dtypes import as_dtype, int32
    from .tensor import _OpenExtent, _partial_extents
    if limit is None:
        start, limit = 0, start
    if isinstance(start, Tensor) or isinstance(delta, Tensor) or start != 0 or delta != 1 \
            or not isinstance(limit, Tensor) or limit.shape:
        return None
    entries = _partial_extents(limit)
    if entries is None or len(entries) != 1 or not isinstance(entries[0], _OpenExtent):
        return None
    holder = math_ops._shape_holder(list(entries), "range")
    return math_ops._positions(holder, 0, int32 if dtype is None else as_dtype(dtype))


class _LoopRange:
    """`for i in kiln.range(n)` inside @kiln.function: one kiln.for over int32
    scalar tensors; eagerly, the int32 scalar tensors themselves."""

    def __init__(self, start, stop=None, step=1):
        if stop is None:
            start, stop = 0, start
        self.start, self.stop, self.step = start, stop, step

    def __array__(self, *args, **kwargs):
        # (convert_to_tensor: a loop range used as a tensor)
        raise errors.UnimplementedError(
            "kiln.range with a bound computed when the code runs is a loop range "
            "(`for i in kiln.range(...)`), not a tensor; as a tensor Kiln takes "
            "kiln.range(n) of an extent from kiln.shape (start 0, step 1)",
            errors.user_location())

    def __iter__(self):
        if current_trace() is not None:
            raise errors.UnimplementedError(
                "this `for ... in kiln.range(...)` could not be rewritten into "
                "a kiln.for: AutoGraph leaves loops with a `yield`, `del`, "
                "`global`/`nonlocal`, a definition or an import in their body "
                "(or an `else:`) as Python loops, and code without "
                "source (lambdas, `python -c`) unconverted; use kiln.for_loop "
                "or kiln.while_loop there",
                errors.user_location())
        for i in _builtins.range(int(convert_to_tensor(self.start)),
                                       int(convert_to_tensor(self.stop)),
                                       int(convert_to_tensor(self.step))):
            yield convert_to_tensor(i)


class TensorArray:
    """An array of tensors of one shape and dtype, written functionally
    (write returns the updated array), as tf.TensorArray; usable as a loop
    variable. Backed by one tensor of shape [size] + element_shape. The
    element shape may be left out: the first write gives it (also a write
    inside a loop on a tensor: the loop's body is traced once to learn it).
    `dynamic_size=True` grows the array on writes past its end, eagerly and
    at indices known while tracing; inside a compiled loop an array's size
    is part of the compiled types, so it must have one there."""

    def __init__(self, dtype, size=None, dynamic_size=None, clear_after_read=None,
                 tensor_array_name=None, handle=None, flow=None, infer_shape=True,
                 element_shape=None, colocate_with_first_write_call=True, name=None,
                 _buffer=None, _open_size=None):
        from .dtypes import as_dtype
        self.dtype = as_dtype(dtype)
        self.dynamic_size = bool(dynamic_size)
        # The loop (a token of for_loop's) whose body got this array as a
        # carried value: writes there at the loop's index grow it to the
        # loop's range (see _grown).
        self._loop = None
        self._grew = None    # (that token, once such a write grew it)
        self._pad_from = None
        # The indices written so far that were known while tracing, or
        # "all" (unstack): a write there replaces exactly; a write to a
        # fresh row adds to its zeros, which is exact and cheaper.
        self._written = frozenset()
        if _open_size is not None:
            # (An extent known when the code runs: a loop's kiln.shape bound.)
            size = 0
        if size is None:
            if not self.dynamic_size:
                raise ValueError("TensorArray needs size= (or dynamic_size=True)")
            size = 0
        if isinstance(size, Tensor):
            if size._symbolic:
                raise errors.InvalidArgumentError(
                    "a TensorArray's size inside @kiln.function must be known "
                    "while tracing (a Python int or a tensor argument's static "
                    "dimension): its buffer's shape is part of the compiled "
                    "types", errors.user_location())
            size = int(size)
        self._size = int(size) if _open_size is None else _open_size
        if _open_size is None and self._size < 0:
            raise ValueError(f"TensorArray size must be >= 0, got {self._size}")
        self._element_shape = tuple(None if d is None else int(d) for d in element_shape) \
            if element_shape is not None else None
        self._buffer = _buffer
        # A tensor outside the loops with the elements' shape, for elements
        # with open extents (an open batch): the buffer takes them from it.
        self._like = None

    @property
    def element_shape(self):
        return self._element_shape

    def size(self, name=None):
        """The number of elements, as an int32 scalar tensor."""
        from . import ops
        from .dtypes import int32
        if isinstance(self._size, Tensor):
            return ops.cast(self._size, int32)
        return convert_to_tensor(self._size, int32)

    def _with(self, buffer, size=None):
        size = self._size if size is None else size
        opened = isinstance(size, Tensor)
        array = TensorArray(self.dtype, None if opened else size,
                            dynamic_size=self.dynamic_size,
                            element_shape=self._element_shape, _buffer=buffer,
                            _open_size=size if opened else None)
        array._like = self._like
        array._loop, array._grew = self._loop, self._grew
        array._written = self._written
        return array

    def _resize_later(self, size):
        """For a loop's initial array, whose body grew its counterpart to
        `size` (the loop's range): it takes that size, its buffer padded
        with zeros when it is next used (before the loop, as it is traced
        again)."""
        if self._buffer is not None and isinstance(size, Tensor) and self._size != 0:
            raise errors.UnimplementedError(
                "TensorArray(dynamic_size=True): an array holding elements "
                "before a loop cannot grow to the loop's range known only "
                "when the code runs (kiln.shape of an open extent); give it "
                "size=, or start it empty", errors.user_location())
        if self._buffer is not None and self._pad_from is None:
            self._pad_from = self._size
        self._size = size

    def _storage(self, shape=None, like=None):
        """The buffer (zeros of [size] + element_shape when nothing was
        written yet); `shape`, an element's shape, fixes the element shape
        on the first write. Open extents of the elements are taken from
        `like`, the element written, or the array's own `_like`."""
        if shape is not None:
            shape = tuple(shape)
            if self._element_shape is None:
                self._element_shape = shape
            elif shape != self._element_shape:
                raise errors.InvalidArgumentError(
                    f"TensorArray: writing an element of shape {list(shape)} "
                    f"to an array of elements of shape {list(self._element_shape)}",
                    errors.user_location())
        if self._buffer is None:
            if self._element_shape is None:
                raise errors.InvalidArgumentError(
                    "this TensorArray has no element shape yet: write to it "
                    "first, or give element_shape=", errors.user_location())
            self._buffer = self._rows(self._size, like)
        elif self._pad_from is not None:
            from . import ops
            old, self._pad_from = self._pad_from, None
            self._buffer = self._rows(self._size, like) if old == 0 else \
                ops.concat([self._buffer, self._rows(self._size - old, like)], 0)
        return self._buffer

    def _rows(self, count, like=None):
        """Zeros of [count] + the element shape; open extents of the
        elements are taken from `like` (or `_like`), a tensor of that shape."""
        from . import math_ops
        from .tensor import _open_entries, zeros
        if isinstance(count, Tensor) and None not in self._element_shape:
            return math_ops.zeros([count] + list(self._element_shape), self.dtype)
        if None not in self._element_shape:
            return zeros((count,) + self._element_shape, self.dtype)
        like = like if like is not None else self._like
        if like is None or tuple(like.shape) != self._element_shape:
            raise errors.UnimplementedError(
                f"TensorArray: elements of shape {list(self._element_shape)} have "
                "extents known only when the code runs, and neither a loop "
                "variable nor exactly one argument of the function has that shape "
                "to take them from: write an element before the loop, or carry a tensor "
                "of the element's shape (an initial state) in the loop too",
                errors.user_location())
        return math_ops.zeros([count] + _open_entries(like), self.dtype)

    def _known(self, index):
        """The index as a Python int when it has a value now, else None."""
        from . import ops
        if isinstance(index, Tensor):
            if not ops._concrete(index) or index.shape:
                return None
            return int(index.numpy())
        if isinstance(index, (int, np.integer)):
            return int(index)
        return None

    def _check_index(self, index, what):
        """TensorFlow's error for an index outside the array, when the index
        has a value now (a Python int, an eager tensor)."""
        known = self._known(index)
        if known is not None and isinstance(self._size, Tensor):
            if known < 0:
                raise errors.InvalidArgumentError(
                    f"TensorArray.{what}: tried to {what} index {known}",
                    errors.user_location())
        elif known is not None and not 0 <= known < self._size:
            raise errors.InvalidArgumentError(
                f"TensorArray.{what}: tried to {what} index {known} but the "
                f"array's size is {self._size}", errors.user_location())

    def _grown(self, index, like=None):
        """For a dynamic_size array: itself grown to hold `index` (open
        extents of the elements taken from `like`). An index known only
        when the code runs grows it to the range of the `for` loop whose
        index it is (see _loop_rows)."""
        from . import ops
        known = self._known(index)
        if isinstance(self._size, Tensor):
            return self   # (its extent is the loop's; the code checks indices)
        if known is None:
            rows, why = _loop_rows(index, self)
            if rows is None:
                if self._size == 0:
                    raise errors.InvalidArgumentError(
                        "TensorArray(dynamic_size=True) cannot grow at an index "
                        f"known only when the code runs ({why}): inside compiled "
                        "code an array's size is part of the compiled types, and "
                        "Kiln takes it from the range of the `for i in "
                        "kiln.range(n)` loop that carries the array and writes "
                        "it at `i` in its body, with n known while tracing or "
                        "kiln.shape of an input; else give it size=",
                        errors.user_location())
                return self
            if isinstance(rows, Tensor):
                if self._size != 0:
                    raise errors.UnimplementedError(
                        "TensorArray(dynamic_size=True): an array holding elements "
                        "cannot grow to a loop's range known only when the code "
                        "runs (kiln.shape of an open extent); give it size=, or "
                        "start it empty", errors.user_location())
                array = self._with(self._rows(rows, like), rows)
            elif rows <= self._size:
                return self
            else:
                extra = self._rows(rows - self._size, like)
                buffer = ops.concat([self._storage(), extra], 0) if self._size else extra
                array = self._with(buffer, rows)
            array._grew = self._loop
            return array
        if known < self._size or known < 0:
            return self
        extra = self._rows(known + 1 - self._size, like)
        buffer = ops.concat([self._storage(), extra], 0) if self._size else extra
        return self._with(buffer, known + 1)

    def write(self, index, value, name=None):
        from . import ops
        value = convert_to_tensor(value, self.dtype)
        array = self
        if self.dynamic_size:
            self._storage(value.shape, like=value)
            array = self._grown(index, like=value)
        array._check_index(index, "write")
        buffer = array._storage(value.shape, like=value)
        i = ops.reshape(ops.cast(convert_to_tensor(index), _i64()), [1])
        from .math_ops import expand_dims
        return array._put(buffer, i, expand_dims(value, 0), [self._known(index)],
                          index if isinstance(index, Tensor) else None)

    def _put(self, buffer, rows, values, known, index=None):
        """The array with `values` in rows `rows` (int64 [k]; `known`: the
        indices as ints, None where known only at run time). A row that
        may hold a value is replaced exactly (tensor_scatter_nd_update):
        eagerly a row written before, while tracing any known index (a
        loop may have written it) and any row of an unstacked array. Else
        the change is added to the row (exact on a row never written, and
        cheap: a compiled loop writing row i)."""
        from . import ops
        from .math_ops import expand_dims, tensor_scatter_nd_update
        if self._written == "all":
            exact = True
        elif None in known:
            # (Fresh rows only where nothing was written before and the
            # index is the counter of the `for` loop carrying the array:
            # each iteration then writes a row of its own.)
            exact = bool(self._written) or _loop_counter(index, self)[1] is not None
        elif ops._concrete(buffer):
            exact = any(k in self._written for k in known)
        else:
            exact = True
        if exact:
            updated = tensor_scatter_nd_update(buffer, expand_dims(rows, -1), values)
        else:
            delta = ops.subtract(values, ops.gather(buffer, rows))
            updated = ops._run1("scatter_add", [buffer, rows, delta], attributes(axis=0))
        array = self._with(updated)
        if self._written != "all":
            array._written = self._written | set(known)   # (None: a row known at run time)
        return array

    def read(self, index, name=None):
        from . import ops
        self._check_index(index, "read")
        return ops.gather(self._storage(), ops.cast(convert_to_tensor(index), _i64()))

    def gather(self, indices, element_shape=None, name=None):
        """The elements at `indices`, stacked."""
        from . import ops
        indices = ops.cast(convert_to_tensor(indices), _i64())
        if ops._concrete(indices):
            for i in np.ravel(indices.numpy()):
                self._check_index(int(i), "gather")
        return ops.gather(self._storage(), indices)

    def scatter(self, indices, value, name=None):
        """Writes value[k] at indices[k] (each index once, as TensorFlow
        requires of a TensorArray)."""
        from . import ops
        value = convert_to_tensor(value, self.dtype)
        indices = ops.cast(convert_to_tensor(indices), _i64())
        if indices.ndim != 1 or not value.shape or value.shape[0] != indices.shape[0]:
            raise errors.InvalidArgumentError(
                f"TensorArray.scatter: {indices.shape[0] if indices.ndim == 1 else indices.shape} "
                f"indices for a value of shape {list(value.shape)} (one index per "
                "row of the value)", errors.user_location())
        array = self
        if ops._concrete(indices):
            known = [int(i) for i in indices.numpy()]
            if len(set(known)) != len(known):
                raise errors.InvalidArgumentError(
                    f"TensorArray.scatter: an index appears twice in {known}",
                    errors.user_location())
            if self.dynamic_size and known:
                self._storage(value.shape[1:])
                array = self._grown(max(known))
            for i in known:
                array._check_index(i, "scatter")
        buffer = array._storage(value.shape[1:])
        known = [int(i) for i in indices.numpy()] if ops._concrete(indices) else [None]
        return array._put(buffer, indices, value, known)

    def unstack(self, value, name=None):
        """An array holding the rows of `value` (its size becomes theirs
        when it had none)."""
        value = convert_to_tensor(value, self.dtype)
        if not value.shape:
            raise errors.InvalidArgumentError(
                "TensorArray.unstack needs a value of rank >= 1",
                errors.user_location())
        size = value.shape[0]
        if size != self._size and not (self.dynamic_size or self._size == 0):
            raise errors.InvalidArgumentError(
                f"TensorArray.unstack: a value of {size} rows for an array of "
                f"size {self._size}", errors.user_location())
        array = self._with(None, size)
        array._storage(value.shape[1:])  # checks the element shape
        array = array._with(value)
        array._written = "all"
        return array

    def stack(self, name=None):
        return self._storage()

    def concat(self, name=None):
        """The elements joined along their first axis."""
        from . import ops
        buffer = self._storage()
        if len(buffer.shape) < 2:
            raise errors.InvalidArgumentError(
                "TensorArray.concat needs elements of rank >= 1",
                errors.user_location())
        return ops.reshape(buffer, (buffer.shape[0] * buffer.shape[1],) + buffer.shape[2:])

    def identity(self):
        return self

    def close(self, name=None):
        pass

    # Loop-variable protocol (see tracing._flatten): an array with no
    # element shape yet carries nothing (the loop learns it, see _loop).
    def _kiln_flatten(self):
        if self._buffer is None and self._element_shape is None:
            return []
        return [self._storage()]

    def _kiln_unflatten(self, values):
        return self._with(values[0] if values else None)


def _i64():
    from .dtypes import int64
    return int64


def _check_map_signature(signature, dtypes):
    """fn_output_signature (dtypes or TensorSpecs, nested like fn's result)
    against the dtypes of what fn returned."""
    from . import nest
    from .dtypes import as_dtype
    if signature is None:
        return
    specs = nest.flatten(signature)
    if len(specs) != len(dtypes):
        raise ValueError(f"map_fn: fn returned {len(dtypes)} tensors but "
                         f"fn_output_signature describes {len(specs)}")
    for spec, got in zip(specs, dtypes):
        want = as_dtype(spec.dtype if hasattr(spec, "dtype") else spec)
        if want != got:
            raise TypeError(f"map_fn: fn returned a {got.name} tensor where "
                            f"fn_output_signature says {want.name}")


def _map_rows(fn, rows, signature, RaggedTensor, RaggedTensorSpec):
    """map_fn over the rows of a RaggedTensor (each a 1-D tensor, or more
    with inner dimensions): a Python loop over the rows, which must be
    known (eagerly, or made inside the trace from known lengths). fn may
    return a structure; each of its parts becomes, as TensorFlow's default
    signature (the elements' ragged type) says, the rows of a RaggedTensor,
    or stacked where fn_output_signature gives a TensorSpec (scalar results
    are stacked either way)."""
    from . import nest, ops
    from .dtypes import as_dtype
    from .tensor import zeros
    results = [fn(row) for row in rows]
    for r in results[1:]:
        nest.assert_same_structure(results[0], r)
    if not results:
        if signature is None:
            raise errors.InvalidArgumentError(
                "map_fn over 0 rows: give fn_output_signature to say what the empty "
                "result is", errors.user_location())
        parts = []
        for spec in nest.flatten(signature):
            if isinstance(spec, RaggedTensorSpec):
                parts.append(RaggedTensor.from_row_lengths(zeros((0,), spec.dtype), []))
            else:
                parts.append(zeros((0,) + tuple(spec.shape), spec.dtype))
        return nest.pack_sequence_as(signature, parts)
    columns = list(zip(*[[convert_to_tensor(x) for x in nest.flatten(r)] for r in results]))
    specs = [None] * len(columns) if signature is None else nest.flatten(signature)
    if len(specs) != len(columns):
        raise ValueError(f"map_fn: fn returned {len(columns)} tensors but "
                         f"fn_output_signature describes {len(specs)}")
    out = []
    for column, spec in zip(columns, specs):
        want = None if spec is None else as_dtype(spec.dtype if hasattr(spec, "dtype") else spec)
        if want is not None and column[0].dtype != want:
            raise TypeError(f"map_fn: fn returned a {column[0].dtype.name} tensor where "
                            f"fn_output_signature says {want.name}")
        if len({(tuple(t.shape[1:]), t.dtype) for t in column}) > 1 or \
                any(t.ndim == 0 for t in column) and any(t.ndim for t in column):
            raise errors.InvalidArgumentError(
                f"map_fn: fn returned ({_describe(column[1:][0:1])}) for one row and "
                f"({_describe(column[:1])}) for the first", errors.user_location())
        ragged = isinstance(spec, RaggedTensorSpec) or (
            not isinstance(spec, TensorSpec) and column[0].ndim > 0)
        if ragged:
            if column[0].ndim == 0:
                raise errors.InvalidArgumentError(
                    "map_fn: fn returned scalars, which are no rows of a RaggedTensor",
                    errors.user_location())
            out.append(RaggedTensor.from_row_lengths(ops.concat(list(column), 0),
                                                     [t.shape[0] for t in column]))
        else:
            if len({tuple(t.shape) for t in column}) > 1:
                raise errors.InvalidArgumentError(
                    "map_fn: fn returned results of different shapes, which a TensorSpec "
                    "signature stacks: give a RaggedTensorSpec", errors.user_location())
            out.append(ops.stack(list(column)))
    return nest.pack_sequence_as(results[0], out)


def map_fn(fn, elems, dtype=None, parallel_iterations=None, back_prop=True,
           swap_memory=False, infer_shape=True, name=None,
           fn_output_signature=None):
    """fn applied to each slice of `elems` along its first dimension, the
    results stacked (tf.map_fn). `elems` may be a nested structure of
    tensors with the same first extent (fn gets the same structure of
    slices); fn may return a structure too. Eagerly a Python loop; inside
    @kiln.function one kiln.for writing TensorArrays, so the compiled code
    does not grow with the number of elements. `dtype` is the old name of
    `fn_output_signature` (dtypes or TensorSpecs, checked against fn's
    results); parallel_iterations, back_prop and swap_memory choose how TF
    runs the loop and are accepted as such."""
    from . import math_ops, nest, ops
    from .tensor import constant, zeros
    signature = fn_output_signature if fn_output_signature is not None else dtype
    from .ragged import RaggedTensor, RaggedTensorSpec
    if isinstance(elems, RaggedTensor):
        return _map_rows(fn, elems, signature, RaggedTensor, RaggedTensorSpec)
    leaves = [convert_to_tensor(e) for e in nest.flatten(elems)]
    if not leaves:
        raise ValueError("map_fn: elems holds no tensors")
    extents = {t.shape[0] if t.shape else "scalar" for t in leaves}
    if "scalar" in extents or len(extents) != 1:
        raise errors.InvalidArgumentError(
            "map_fn: every tensor of elems needs the same first dimension, got "
            f"shapes {[list(t.shape) for t in leaves]}", errors.user_location())
    (n,) = extents
    if n is None:
        raise errors.UnimplementedError(
            "map_fn: the first dimension of elems must be known while tracing "
            "(the loop writes a TensorArray of that size)", errors.user_location())
    if n == 0:
        if signature is None:
            return nest.pack_sequence_as(
                elems, [zeros((0,) + tuple(t.shape[1:]), t.dtype) for t in leaves])
        specs = nest.flatten(signature)
        if not all(hasattr(s, "shape") and None not in tuple(s.shape) for s in specs):
            raise errors.InvalidArgumentError(
                "map_fn over 0 elements: fn_output_signature needs TensorSpecs "
                "with shapes to say what the empty result is", errors.user_location())
        return nest.pack_sequence_as(
            signature, [zeros((0,) + tuple(s.shape), s.dtype) for s in specs])
    trace = current_trace()
    if trace is None:
        slices = [math_ops.unstack(t) for t in leaves]
        results = [fn(nest.pack_sequence_as(elems, [s[i] for s in slices]))
                   for i in _builtins.range(n)]
        for r in results[1:]:
            nest.assert_same_structure(results[0], r)
        flats = [[convert_to_tensor(x) for x in nest.flatten(r)] for r in results]
        for flat in flats[1:]:
            if [(t.shape, t.dtype) for t in flat] != \
                    [(t.shape, t.dtype) for t in flats[0]]:
                raise errors.InvalidArgumentError(
                    f"map_fn: fn returned ({_describe(flat)}) for one element "
                    f"and ({_describe(flats[0])}) for the first",
                    errors.user_location())
        stacked = [ops.stack(list(column)) for column in zip(*flats)]
        _check_map_signature(signature, [t.dtype for t in stacked])
        return nest.pack_sequence_as(results[0], stacked)

    def element(i):
        return nest.pack_sequence_as(elems, [ops.gather(t, i) for t in leaves])

    # What fn returns (structure, shapes, dtypes): traced once into a
    # dropped block, then the loop.
    handle, _ = trace.push_block([])
    try:
        sample = fn(element(constant(0)))
        specs = [(t.shape, t.dtype) for t in
                 (convert_to_tensor(x) for x in nest.flatten(sample))]
    finally:
        trace.pop_block([], discard=handle)
        # A variable fn reads and assigns was read once before the loop by
        # this dropped trace: the loop body must read it itself.
        trace.hoisted_stale()
    _check_map_signature(signature, [d for _, d in specs])
    if any(None in shape for shape, _ in specs):
        raise errors.UnimplementedError(
            "map_fn: fn's results need every extent known while tracing, got "
            f"{[list(s) for s, _ in specs]}", errors.user_location())
    arrays = [TensorArray(d, size=n, element_shape=s) for s, d in specs]

    def body(i, *arrays):
        out = [convert_to_tensor(x) for x in nest.flatten(fn(element(i)))]
        return [a.write(i, x) for a, x in zip(arrays, out)]
    arrays = for_loop(n, body, arrays)
    return nest.pack_sequence_as(sample, [a.stack() for a in arrays])


def switch_case(branch_index, branch_fns, default=None, name=None):
    """branch_fns[branch_index]() (a list, or a dict of int keys), default()
    (the last branch without one) for an index outside them, as
    tf.switch_case; compiled, nested kiln.conds on the index."""
    from . import ops
    if isinstance(branch_fns, dict):
        pairs = sorted(branch_fns.items())
    elif branch_fns and all(isinstance(b, (tuple, list)) for b in branch_fns):
        # ((index, fn), ...): a repeated index keeps its last fn
        pairs = sorted({int(k): fn for k, fn in branch_fns}.items())
    else:
        pairs = list(enumerate(branch_fns))
    if not pairs:
        raise ValueError("switch_case: needs at least one branch")
    if default is None:
        default = pairs[-1][1]
    index = convert_to_tensor(branch_index)
    if current_trace() is None:
        chosen = dict(pairs).get(int(index), default)
        return chosen()
    result = default
    for key, fn in reversed(pairs):
        result = (lambda key, fn, otherwise: lambda: cond(
            ops.equal(index, ops.cast(convert_to_tensor(key), index.dtype)), fn,
            otherwise))(key, fn, result)
    return result()


def case(pred_fn_pairs, default=None, exclusive=False, strict=False, name=None):
    """The fn of the first pair whose predicate holds, default() when none
    does (tf.case; with `exclusive`, more than one true predicate is an
    InvalidArgumentError where the values are)."""
    from . import ops
    pairs = list(pred_fn_pairs.items()) if isinstance(pred_fn_pairs, dict) \
        else list(pred_fn_pairs)
    if not pairs:
        raise ValueError("case: needs at least one (predicate, fn) pair")
    if default is None:
        # (TensorFlow: the last fn is the default, reached only when its
        # own predicate holds; none holding is an error.)
        (last_pred, last_fn), pairs = pairs[-1], pairs[:-1]

        def default():
            ops._check_at_run_time(convert_to_tensor(last_pred),
                                   "case: none of the conditions holds")
            return last_fn()
    if exclusive and pairs:
        count = None
        for pred, _ in pairs:
            one = ops.cast(convert_to_tensor(pred), "int32")
            count = one if count is None else count + one
        ops._check_at_run_time(ops.less_equal(count, 1),
                               "case: more than one predicate is true (exclusive=True)")
    result = default
    for pred, fn in reversed(pairs):
        result = (lambda pred, fn, otherwise: lambda: cond(pred, fn, otherwise))(
            pred, fn, result)
    return result()


def _fold_elements(elems, what):
    """(leaves of elems, their common first extent, element(i))."""
    from . import nest, ops
    leaves = [convert_to_tensor(e) for e in nest.flatten(elems)]
    extents = {t.shape[0] if t.shape else "scalar" for t in leaves}
    if not leaves or "scalar" in extents or len(extents) != 1:
        raise errors.InvalidArgumentError(
            f"{what}: elems needs tensors with the same first dimension, got shapes "
            f"{[list(t.shape) for t in leaves]}", errors.user_location())
    (n,) = extents
    if n is None:
        raise errors.UnimplementedError(
            f"{what}: the first dimension of elems must be known while tracing",
            errors.user_location())

    def element(i):
        from .dtypes import int64
        index = i if isinstance(i, Tensor) else convert_to_tensor(i, int64)
        return nest.pack_sequence_as(elems, [ops.gather(t, index) for t in leaves])
    return n, element


def scan(fn, elems, initializer=None, parallel_iterations=None, back_prop=True,
         swap_memory=False, infer_shape=True, reverse=False, name=None):
    """The running results of acc = fn(acc, element) over the first
    dimension of `elems`, stacked (tf.scan): acc starts as `initializer`
    (or the first element, which is then the first result); `reverse`
    goes from the end. Structures of tensors work as in map_fn. Eagerly a
    Python loop; compiled, one kiln.for writing TensorArrays."""
    from . import nest, ops
    n, element = _fold_elements(elems, "scan")
    order = list(_builtins.range(n))[::-1] if reverse else list(_builtins.range(n))
    if initializer is None:
        if n == 0:
            raise errors.InvalidArgumentError(
                "scan: elems is empty and there is no initializer", errors.user_location())
        acc, first, rest = element(order[0]), [element(order[0])], order[1:]
    else:
        acc, first, rest = initializer, [], order
    if current_trace() is None or not rest:
        results = list(first)
        for i in rest:
            acc = fn(acc, element(i))
            results.append(acc)
        if reverse:
            results.reverse()
        if not results:  # (no elements: an empty stack of the initializer's shape)
            from .tensor import zeros
            return nest.pack_sequence_as(acc, [
                zeros((0,) + tuple(t.shape), t.dtype)
                for t in (convert_to_tensor(v) for v in nest.flatten(acc))])
        columns = zip(*[[convert_to_tensor(x) for x in nest.flatten(r)] for r in results])
        return nest.pack_sequence_as(results[0], [ops.stack(list(c)) for c in columns])
    start = [convert_to_tensor(x) for x in nest.flatten(acc)]
    arrays = [TensorArray(t.dtype, size=n, element_shape=t.shape) for t in start]
    offset = len(first)
    if first:
        arrays = [a.write(order[0], t) for a, t in zip(arrays, start)]

    def body(k, *state):
        from .dtypes import int64
        carried, arrays = list(state[:len(start)]), list(state[len(start):])
        step = ops.cast(k, int64) + offset
        i = (n - 1) - step if reverse else step
        new = [convert_to_tensor(x) for x in nest.flatten(
            fn(nest.pack_sequence_as(acc, carried), element(i)))]
        return new + [a.write(i, x) for a, x in zip(arrays, new)]
    state = for_loop(len(rest), body, start + arrays)
    return nest.pack_sequence_as(acc, [a.stack() for a in state[len(start):]])


def foldl(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
          swap_memory=False, name=None):
    """acc = fn(acc, element) over the first dimension of `elems`, from the
    first element (tf.foldl); the final acc."""
    return _fold(fn, elems, initializer, False, "foldl")


def foldr(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
          swap_memory=False, name=None):
    """foldl from the last element to the first (tf.foldr)."""
    return _fold(fn, elems, initializer, True, "foldr")


def _fold(fn, elems, initializer, reverse, what):
    from . import nest
    n, element = _fold_elements(elems, what)
    order = list(_builtins.range(n))[::-1] if reverse else list(_builtins.range(n))
    if initializer is None:
        if n == 0:
            raise errors.InvalidArgumentError(
                f"{what}: elems is empty and there is no initializer",
                errors.user_location())
        acc, rest = element(order[0]), order[1:]
    else:
        acc, rest = initializer, order
    if current_trace() is None or not rest:
        for i in rest:
            acc = fn(acc, element(i))
        return acc
    start = [convert_to_tensor(x) for x in nest.flatten(acc)]
    skip = n - len(rest)

    def body(k, *carried):
        from . import ops
        from .dtypes import int64
        step = ops.cast(k, int64) + skip
        i = (n - 1) - step if reverse else step
        return [convert_to_tensor(x) for x in nest.flatten(
            fn(nest.pack_sequence_as(acc, list(carried)), element(i)))]
    out = for_loop(len(rest), body, start)
    return nest.pack_sequence_as(acc, out if isinstance(out, (list, tuple)) else [out])


def vectorized_map(fn, elems, fallback_to_while_loop=True, warn=True):
    """tf.vectorized_map's results, computed as map_fn does (one loop over
    the elements, not a vectorized rewrite of fn)."""
    return map_fn(fn, elems)
