"""kiln.cond and kiln.while_loop: in eager mode they just run; inside
@kiln.function they become kiln.cond / kiln.while ops whose regions hold
the traced branches and loop body. Gradients flow through both."""

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
    trace.pop_block([pred])
    hb, bargs = trace.push_block(types)
    try:
        result = call(body, bargs)
        nexts = _tensors(_flatten([result] if single else result), inits)
    except BaseException:
        trace.pop_block([])
        raise
    if [t._impl.mlir_type for t in nexts] != types:
        trace.pop_block([])
        raise errors.InvalidArgumentError(
            f"kiln.while_loop: the body returns ({_describe(nexts)}) but the "
            f"loop variables are ({_describe(inits)})", location)
    trace.pop_block(nexts)
    outs = trace.region_op("while", inits, [hc, hb], [], location)
    packed = _pack(structure, iter(outs))
    return packed[0] if single else packed
