"""Gradients in eager mode: GradientTape, gradients_function and
value_and_gradients_function.

A tape records the Kiln ops that ran while it was active. ``gradient``
turns the ops that lead from the sources to the target into a Kiln function
``@f`` (sources first, then every other tensor the ops read, as
arguments), adds ``@g`` with a ``kiln.grad @f`` request, and lets the
compiler's autodiff pass do the rest: the same rules as a hand-written
``kiln.grad`` or a traced function. The compiled gradient is cached by the
structure of the recorded ops, so a training loop compiles it once.
"""


import contextlib
import enum

import numpy as np

from . import _kiln, errors
from .core import attributes, i32_array, symbol, unit
from . import nest as _nest
from .nest import flatten as _flatten
from .tensor import ComplexParts, Tensor, convert_to_tensor, zeros as _zeros

from ._state import local as _local


class UnconnectedGradients(enum.Enum):
    """What a gradient is for a source the target does not depend on
    (tf.UnconnectedGradients): None, or zeros of the source's shape."""
    NONE = "none"
    ZERO = "zero"


def _unconnected(value):
    try:
        return UnconnectedGradients(value)
    except ValueError:
        raise ValueError(f"unconnected_gradients must be "
                         f"kiln.UnconnectedGradients.NONE or .ZERO (or 'none', "
                         f"'zero'), got {value!r}") from None


def _fill_unconnected(grads, sources, unconnected):
    """Zeros like the source for each None when asked for them."""
    if unconnected is UnconnectedGradients.NONE:
        return grads
    from .math_ops import zeros_like
    return [zeros_like(s) if g is None else g for g, s in zip(grads, sources)]


def _active_tapes():
    return _local.tapes


# The runtime names of the floating-point dtypes (what gradients exist for).
_FLOATING = frozenset(("f16", "bf16", "f32", "f64"))


def _grad_op(m, f, callee, operands, num_sources, result_types, file="", line=0,
             known_inputs=False):
    """Adds `kiln.grad @callee(operands)` with respect to the first
    `num_sources` operands (no seeds: the callee returns a scalar);
    `known_inputs`: a gradient of it differentiates through the callee's
    known values (see kiln.grad)."""
    attrs = dict(callee=symbol(callee), wrt=list(range(num_sources)),
                 operandSegmentSizes=i32_array([len(operands), 0]))
    if known_inputs:
        attrs["known_inputs"] = unit()
    attrs = attributes(**attrs)
    return m.op(f, "grad", operands, attrs, result_types, file, line)


_cache = {}


def _pack(structure, flat):
    """`flat` shaped like `structure` (kiln.nest's rules)."""
    return _nest.pack_sequence_as(structure, list(flat))


def _real_sources(sources, what):
    if any(type(s._impl) is ComplexParts for s in sources):
        raise errors.UnimplementedError(
            f"{what} with respect to a complex tensor is not supported: take it with "
            "respect to its parts (kiln.math.real / imag of a complex(x, y) of watched "
            "real tensors)", errors.user_location())


class GradientTape:
    """Records eager ops for reverse-mode gradients, as tf.GradientTape."""

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self._persistent = persistent
        self._watch_accessed_variables = watch_accessed_variables
        self._ops = []
        self._watched = {}
        self._variables = {}  # id -> (variable, value read)
        self._used = False
        self._recording = False
        # Inside @kiln.function: the trace the tape opened in, and the
        # ranges of its value ids made while the tape recorded ([start,
        # end), end None while it records): what else the target depends
        # on is a constant to the tape, as eagerly.
        self._trace = None
        self._spans = []

    def _traced_gradient(self, trace, target, sources, source_ids,
                         output_gradients):
        return _traced_gradient_impl(self, trace, target, sources, source_ids,
                                     output_gradients)

    def watched_variables(self):
        return [v for v, _ in self._variables.values()]

    def _source(self, s):
        """The tensor to differentiate for a source (a variable: the value
        read while recording)."""
        from .variables import Variable
        if isinstance(s, Variable):
            if id(s) in self._variables:
                return self._variables[id(s)][1]
            return s._value
        return convert_to_tensor(s)

    # The dispatch core (core.bind) and variables call these two on every
    # active tape.
    def _record(self, op, inputs, attributes, results, outputs, location):
        """An op just ran (or joined a trace): the tape keeps it. (The
        dispatch core hands over lists it made for this op.)"""
        self._ops.append((op, inputs if type(inputs) is list else list(inputs),
                          attributes, tuple(results), outputs, location))

    def _note_variable_read(self, variable, value):
        """A variable was read: trainable ones are watched (the value first
        read during the tape is the one differentiated)."""
        if (variable.trainable and self._watch_accessed_variables
                and id(variable) not in self._variables):
            self._variables[id(variable)] = (variable, value)
            self._watched[id(value)] = value

    def _start(self):
        _active_tapes().append(self)
        self._recording = True
        trace = _local.trace
        if trace is not None:
            if self._trace is not trace:
                self._trace, self._spans = trace, []
                # (The block depth the tape opened at: a span may start and
                # end in that block, not inside control flow below it.)
                self._depth = len(trace.saved)
            self._spans.append([trace.m.mark(), None])

    def _stop(self):
        _active_tapes().remove(self)
        self._recording = False
        if self._trace is not None and self._spans and \
                self._spans[-1][1] is None:
            self._spans[-1][1] = self._trace.m.mark()

    def __enter__(self):
        self._start()
        return self

    def __exit__(self, *exc):
        self._stop()
        return False

    def stop_recording(self):
        """Ops inside `with tape.stop_recording():` run without being
        recorded (constants to the tape), as tf.GradientTape's."""
        if not self._recording:
            raise RuntimeError("stop_recording: the tape is not recording "
                               "(use it inside the tape's `with` block)")
        self._refuse_inside_blocks("stop_recording")
        return self._stopped()

    @contextlib.contextmanager
    def _stopped(self):
        self._stop()
        try:
            yield
        finally:
            self._start()

    def _refuse_inside_blocks(self, what):
        """Traced tapes copy a loop or a kiln.cond whole, so a span that
        starts or ends inside one cannot be told apart at run time (and a
        reset in a branch would happen whichever branch runs)."""
        trace = _local.trace
        if trace is not None and len(trace.saved) != getattr(self, "_depth", 0):
            raise errors.UnimplementedError(
                f"GradientTape.{what} inside a loop or a branch of a "
                "@kiln.function (a tensor-dependent `if`, kiln.cond, a loop "
                "over kiln.range): call it outside the control flow",
                errors.user_location())

    def reset(self):
        """Forgets everything recorded and watched, as if the tape's `with`
        block were left and a new tape entered (tf.GradientTape.reset)."""
        self._refuse_inside_blocks("reset")
        self._ops = []
        self._watched = {}
        self._variables = {}
        self._used = False
        if self._trace is not None:
            self._spans = []
            if self._recording and _local.trace is self._trace:
                self._spans.append([self._trace.m.mark(), None])

    def watch(self, tensor):
        if type(tensor) is Tensor:  # (the common case)
            if type(tensor._impl) is ComplexParts:  # (its two real parts)
                for part in (tensor._impl.real, tensor._impl.imag):
                    self._watched[id(part)] = part
                return
            if tensor._impl.type[1] not in _FLOATING:
                import warnings
                warnings.warn(f"GradientTape.watch: the watched tensor is "
                              f"{tensor.dtype.name}; only floating-point tensors have "
                              "gradients (its gradient will be None)", stacklevel=2)
            self._watched[id(tensor)] = tensor
            return
        from .variables import Variable
        for t in _flatten(tensor):
            if isinstance(t, Variable):
                self._variables.setdefault(id(t), (t, t._value))
                t = t._value
            else:
                t = convert_to_tensor(t)
            if type(t._impl) is ComplexParts:  # (its two real parts)
                for part in (t._impl.real, t._impl.imag):
                    self._watched[id(part)] = part
                continue
            self._watched[id(t)] = t

    def gradient(self, target, sources, output_gradients=None,
                 unconnected_gradients=UnconnectedGradients.NONE):
        unconnected = _unconnected(unconnected_gradients)
        if self._used and not self._persistent:
            raise RuntimeError("a non-persistent GradientTape can compute one "
                               "gradient; use GradientTape(persistent=True)")
        self._used = True
        if type(sources) is Tensor and type(target) is Tensor and \
                type(sources._impl) is not ComplexParts and \
                type(target._impl) is not ComplexParts:
            # (The common case: one tensor with respect to another.)
            return _fill_unconnected(
                self._gradient(target, [sources], output_gradients), [sources],
                unconnected)[0]
        flat_sources = [self._source(s) for s in _flatten(sources)]
        if any(type(s._impl) is ComplexParts for s in flat_sources):
            return _pack(sources, self._complex_gradient(target, flat_sources,
                                                         output_gradients, unconnected))
        if isinstance(target, (list, tuple, dict)):
            # Several targets: the sum of their gradients, as TensorFlow
            # computes it (`output_gradients` then has one seed per target).
            targets = [convert_to_tensor(t) for t in _flatten(target)]
            seeds = ([None] * len(targets) if output_gradients is None
                     else _flatten(output_gradients))
            if len(seeds) != len(targets):
                raise errors.InvalidArgumentError(
                    f"{len(targets)} targets but {len(seeds)} output gradients",
                    errors.user_location())
            grads = [None] * len(flat_sources)
            for t, seed in zip(targets, seeds):
                grads = [a if b is None else b if a is None else a + b
                         for a, b in zip(grads, self._gradient(t, flat_sources, seed))]
        else:
            target = convert_to_tensor(target)
            grads = self._gradient(target, flat_sources, output_gradients)
        return _pack(sources,
                     _fill_unconnected(grads, flat_sources, unconnected))

    def _complex_gradient(self, target, sources, output_gradients, unconnected):
        """Gradients with complex sources, as TensorFlow gives them for a
        real target L: dL/dx + i dL/dy for a source x + iy (its real parts
        differentiated apart)."""
        parts = []
        for s in sources:
            parts.extend([s._impl.real, s._impl.imag] if type(s._impl) is ComplexParts
                         else [s])
        self._used = False
        flat = self.gradient(target, parts, output_gradients, unconnected)
        out, it = [], iter(flat)
        for s in sources:
            if type(s._impl) is not ComplexParts:
                out.append(next(it))
                continue
            re, im = next(it), next(it)
            if re is None and im is None:
                out.append(None)
                continue
            re = _zeros(s.shape, s._impl.real.dtype) if re is None else re
            im = _zeros(s.shape, s._impl.imag.dtype) if im is None else im
            out.append(Tensor(ComplexParts(re, im)))
        return out

    def jacobian(self, target, sources,
                 unconnected_gradients=UnconnectedGradients.NONE,
                 parallel_iterations=None, experimental_use_pfor=True):
        """d target / d sources (tf.GradientTape.jacobian): for each source,
        a tensor of shape target.shape + source.shape (None where the
        target does not depend on it, or zeros with
        unconnected_gradients=ZERO). One gradient per element of the
        target, seeded with that element's one-hot (TF's
        parallel_iterations and experimental_use_pfor choose how TF runs
        those; they change no result and are accepted as such)."""
        from . import ops
        unconnected = _unconnected(unconnected_gradients)
        if self._used and not self._persistent:
            raise RuntimeError("a non-persistent GradientTape can compute one "
                               "gradient; use GradientTape(persistent=True)")
        self._used = True
        flat_sources = [self._source(s) for s in _flatten(sources)]
        _real_sources(flat_sources, "jacobian")
        target = convert_to_tensor(target)
        if None in target.shape:
            raise errors.UnimplementedError(
                "jacobian: the target's extents must be known while tracing "
                f"(one gradient per element), got {list(target.shape)}",
                errors.user_location())
        count = int(np.prod(target.shape, dtype=np.int64))
        rows = [[] for _ in flat_sources]
        for i in range(count):
            seed = np.zeros(count, target.dtype.as_numpy_dtype)
            seed[i] = 1
            grads = self._gradient(target, flat_sources,
                                   convert_to_tensor(seed.reshape(target.shape),
                                                     target.dtype))
            for row, g in zip(rows, grads):
                row.append(g)
        out = []
        for s, row in zip(flat_sources, rows):
            if count and all(g is None for g in row) and \
                    unconnected is UnconnectedGradients.NONE:
                out.append(None)
                continue
            row = [_zeros(s.shape, s.dtype) if g is None else g for g in row]
            stacked = ops.stack(row) if row else _zeros((0,) + s.shape, s.dtype)
            out.append(ops.reshape(stacked, tuple(target.shape) + tuple(s.shape)))
        return _pack(sources, out)

    def batch_jacobian(self, target, source,
                       unconnected_gradients=UnconnectedGradients.NONE,
                       parallel_iterations=None, experimental_use_pfor=True):
        """d target[b] / d source[b] for each batch row b
        (tf.GradientTape.batch_jacobian): target [B, ...] and source [B, ...]
        give [B] + target.shape[1:] + source.shape[1:]. Rows are assumed
        independent, as TensorFlow assumes: the gradient of each target
        element summed over the batch gives every row's derivative."""
        from . import ops
        if self._used and not self._persistent:
            raise RuntimeError("a non-persistent GradientTape can compute one "
                               "gradient; use GradientTape(persistent=True)")
        unconnected = _unconnected(unconnected_gradients)
        self._used = True
        source = self._source(source)
        _real_sources([source], "batch_jacobian")
        target = convert_to_tensor(target)
        if None in target.shape or None in source.shape:
            raise errors.UnimplementedError(
                "batch_jacobian: the extents of the target and the source must "
                f"be known while tracing, got {list(target.shape)} and "
                f"{list(source.shape)}", errors.user_location())
        if not target.shape or not source.shape or target.shape[0] != source.shape[0]:
            raise errors.InvalidArgumentError(
                "batch_jacobian: the target and the source need the same first "
                f"(batch) dimension, got {target.shape} and {source.shape}",
                errors.user_location())
        batch = target.shape[0]
        inner = tuple(target.shape[1:])
        count = int(np.prod(inner, dtype=np.int64))
        columns = []
        for j in range(count):
            seed = np.zeros((batch, count), target.dtype.as_numpy_dtype)
            seed[:, j] = 1
            (g,) = self._gradient(target, [source],
                                  convert_to_tensor(seed.reshape(target.shape),
                                                    target.dtype))
            columns.append(g)
        if all(g is None for g in columns):
            # TF's batch_jacobian gives zeros of the target's dtype for an
            # unconnected source whatever unconnected_gradients says (kept
            # for compatibility there).
            return _zeros((batch,) + inner + tuple(source.shape[1:]), target.dtype)
        columns = [_zeros(source.shape, source.dtype) if g is None else g
                   for g in columns]
        stacked = ops.stack(columns, axis=1) if columns else \
            _zeros((batch, 0) + tuple(source.shape[1:]), source.dtype)
        return ops.reshape(stacked, (batch,) + inner + tuple(source.shape[1:]))

    def _gradient(self, target, sources, output_gradients):
        if type(target._impl) is ComplexParts:
            raise errors.InvalidArgumentError(
                "the target of a gradient is complex: differentiate a real function of "
                "it (kiln.abs, kiln.math.real, kiln.math.imag)", errors.user_location())
        # Integers have no gradients: an integer target (an argmax, a cast
        # to int) or source gets None, as in TensorFlow.
        if target._impl.type[1] not in _FLOATING:
            return [None] * len(sources)
        real = [i for i, s in enumerate(sources) if s._impl.type[1] in _FLOATING]
        if len(real) != len(sources):
            out = [None] * len(sources)
            if real:
                for i, g in zip(real, self._gradient(target, [sources[i] for i in real],
                                                     output_gradients)):
                    out[i] = g
            return out
        source_types = [s._impl.type for s in sources]
        # The ops on a path from a source to the target, in program order;
        # a tensor they computed is known by (op index, output position).
        recorded_ops = self._ops
        produced = {}
        for index, entry in enumerate(recorded_ops):
            for position, t in enumerate(entry[4]):
                if t is not None:
                    produced[id(t)] = (index, position)
        # Only watched sources (or tensors the tape computed) get gradients.
        watched = self._watched
        source_ids = {id(s) for s in sources
                      if id(s) in watched or id(s) in produced}
        trace = _local.trace
        if trace is not None:
            return self._traced_gradient(trace, target, sources, source_ids,
                                         output_gradients)
        needed = set()
        stack = [id(target)]
        seen = set()
        while stack:
            tid = stack.pop()
            if tid in seen or tid in source_ids:
                continue
            seen.add(tid)
            where = produced.get(tid)
            if where is not None and where[0] not in needed:
                needed.add(where[0])
                stack.extend(id(t) for t in recorded_ops[where[0]][1])
        order = sorted(needed)
        ops = [recorded_ops[i] for i in order]
        # Arguments: the sources, then every other tensor the ops read; the
        # cache key of the computation names each input by where it comes
        # from (an argument's index, or ("op", index, position)).
        args = list(sources)
        arg_ids = {id(s): i for i, s in enumerate(sources)}
        renumber = {old: new for new, old in enumerate(order)}
        reached = set()
        structure = []
        consumed = set()  # (op, position) of the results later ops read
        for op, inputs, attrs, results, outputs, _ in ops:
            refs = []
            for t in inputs:
                tid = id(t)
                ref = arg_ids.get(tid)
                if ref is not None:
                    if tid in source_ids:
                        reached.add(tid)
                elif tid in produced:
                    where = produced[tid]
                    ref = ("op", renumber[where[0]], where[1])
                    consumed.add(ref[1:])
                else:
                    ref = arg_ids[tid] = len(args)
                    args.append(t)
                refs.append(ref)
            structure.append((op, attrs.key if op.startswith("__") else attrs,
                              tuple(results), tuple(refs),
                              tuple(t is None for t in outputs)))
        if id(target) in source_ids:
            reached.add(id(target))
        if not reached:
            return [None] * len(sources)
        # The results later ops read, and the target, are already in
        # memory: they go in as known values (kiln.known_value), so the
        # gradient function takes the forward values it needs instead of
        # computing them again, as TensorFlow's tape keeps them. (They
        # depend only on the structure.)
        if id(target) not in arg_ids:
            consumed.add((renumber[produced[id(target)][0]],
                          produced[id(target)][1]))
        seed = []
        if output_gradients is not None:
            output_gradients = convert_to_tensor(output_gradients, target.dtype)
            seed = [output_gradients]
        tid = id(target)
        where = arg_ids[tid] if tid in arg_ids else \
            ("op", renumber[produced[tid][0]], produced[tid][1])
        key = (tuple(structure),
               tuple(source_types) + tuple(t._impl.type for t in args[len(sources):] + seed),
               where, output_gradients is not None, len(sources))
        known = {}
        for where in sorted(consumed):
            known[where] = len(args)
            args.append(ops[where[0]][4][where[1]])
        args += seed
        recorded = _Recorded(ops, args, arg_ids, target, len(sources),
                             output_gradients is not None, key, known)
        # The gradient runs where the target was computed.
        device = target._impl.device
        exe = _cache.get((device, recorded.key))
        if exe is None:
            exe = recorded.compile(device)
            _cache[(device, recorded.key)] = exe
        try:
            outs = _kiln.call(exe, "gradient", args, None)
        except _kiln.NativeError as e:
            raise errors.from_native(e) from None
        grads = [o if id(s) in reached else None for s, o in zip(sources, outs)]
        # Tapes still recording see this gradient as one op: a kiln.grad of
        # the recorded function, reading the sources, the other inputs and
        # the known forward values (`known_inputs`). As TensorFlow's
        # backward ops read the saved forward tensors, a tape around this
        # one differentiates the gradient through those values, and through
        # the ops it recorded that computed them: that gives gradients of
        # gradients, and partial derivatives with respect to the inner
        # tape's intermediates.
        outer = [t for t in _active_tapes() if t is not self]
        if outer:
            location = errors.user_location()
            for tape in outer:
                tape._ops.append(("__grad__", list(args), recorded,
                                  source_types, grads, location))
        return grads


def _traced_gradient_impl(tape, trace, target, sources, source_ids,
                          output_gradients):
    """Inside @kiln.function: the computation of the target from the watched
    sources is copied out of the trace into a function, and a kiln.grad of
    it joins the trace (control flow included)."""
    from . import ops
    # The loss ops made here count as recorded.
    start = trace.m.mark()
    loss = target
    if output_gradients is not None:
        loss = ops.multiply(loss, convert_to_tensor(output_gradients, target.dtype))
    if loss.shape:
        loss = ops.reduce_sum(loss)
    watched = [s for s in sources if id(s) in source_ids]
    if not watched:
        return [None] * len(sources)
    src = [trace.value_of(s) for s in watched]
    callee = f"gradient_{trace.counter}"
    trace.counter += 1
    # Inside another tape, the gradient reads the traced forward values as
    # known values, which that tape differentiates through (as eagerly).
    nested = any(t is not tape for t in _active_tapes())
    # What the tape recorded: its spans in this trace (a tape opened outside
    # the trace recorded all of it), and the loss ops just made.
    recorded = []
    if tape._trace is trace:
        end = 2 ** 63
        recorded = [(a, end if b is None else b) for a, b in tape._spans]
        recorded.append((start, end))
    try:
        captures, reached = trace.m.outline(trace.f, trace.value_of(loss), src,
                                            callee, nested, recorded)
        operands = src + list(captures)
        file, _, line = (errors.user_location() or ":0").rpartition(":")
        ids = _grad_op(trace.m, trace.f, callee, operands, len(src),
                       [s._impl.type for s in watched], file, int(line or 0),
                       known_inputs=nested)
    except _kiln.NativeError as e:
        code, message = e.args
        for key, variable in trace.variables.items():   # (the user's names)
            message = message.replace(f"variable {key} ", f"variable {variable.name!r} ")
        raise errors.from_native(_kiln.NativeError(code, message)) from None
    by_source = {id(s): (i, r) for s, i, r in zip(watched, ids, reached)}
    out = []
    for s in sources:
        entry = by_source.get(id(s))
        out.append(trace.traced(entry[0]) if entry and entry[1] else None)
    return out


class _Recorded:
    """Recorded ops that make one differentiable function: how it is built
    into a module, and a hashable key of its structure for the cache."""

    def __init__(self, ops, args, arg_ids, target, num_sources, seeded, key,
                 known=None):
        self.ops, self.args, self.arg_ids = ops, args, arg_ids
        self.target, self.num_sources, self.seeded = target, num_sources, seeded
        self.key = key  # (see GradientTape._gradient)
        # (op index, result position) -> the argument holding that result
        self.known = known or {}

    def __eq__(self, other):
        return isinstance(other, _Recorded) and self.key == other.key

    def __hash__(self):
        return hash(self.key)

    def emit(self, m, name, counter):
        """Adds function `name` (the differentiated loss) to module `m`;
        nested gradients add their own functions first."""
        types = [t._impl.type for t in self.args]
        f = m.function(name, types)
        values = {tid: m.argument(f, i) for tid, i in self.arg_ids.items()}
        for index, (op, inputs, attrs, results, outputs, location) in \
                enumerate(self.ops):
            file, _, line = (location or ":0").rpartition(":")
            operands = [values[id(t)] for t in inputs]
            if op == "__custom__":
                forward, backward = attrs.emit(m, next(counter))
                ids = m.op(f, "custom_vjp", operands,
                           attributes(forward=symbol(forward),
                                      backward=symbol(backward)),
                           results, file, int(line or 0))
            elif op == "__grad__":
                callee = f"recorded_{next(counter)}"
                attrs.emit(m, callee, counter)
                ids = _grad_op(m, f, callee, operands, attrs.num_sources,
                               results, file, int(line or 0), known_inputs=True)
            else:
                ids = m.op(f, op, operands, attrs, results, file, int(line or 0))
            for position, (t, v) in enumerate(zip(outputs, ids)):
                # (A result that is a source stays the argument: one result
                # of a multi-result op whose other result is needed.)
                if t is None or id(t) in self.arg_ids:
                    continue
                arg = self.known.get((index, position))
                if arg is not None:
                    (v,) = m.op(f, "known_value", [v, m.argument(f, arg)],
                                None, [], file, int(line or 0))
                values[id(t)] = v
        loss = values[id(self.target)]
        if self.seeded:
            (loss,) = m.op(f, "mul", [loss, m.argument(f, len(self.args) - 1)])
        if self.target.shape:
            (loss,) = m.op(f, "reduce_sum", [loss],
                           attributes(axes=list(range(len(self.target.shape)))))
        m.finish_function(f, [loss])

    def build(self):
        """A module with @recorded and @gradient = kiln.grad @recorded."""
        import itertools
        m = _kiln.ModuleBuilder()
        self.emit(m, "recorded", itertools.count())
        types = [t._impl.type for t in self.args]
        g = m.function("gradient", types)
        g_args = [m.argument(g, i) for i in range(len(self.args))]
        grads = _grad_op(m, g, "recorded", g_args, self.num_sources,
                         [t._impl.type for t in self.args[:self.num_sources]])
        m.finish_function(g, grads)
        return m

    def compile(self, device="cpu"):
        """build(), compiled for `device` ("cpu" or "cuda:N")."""
        try:
            return self.build().compile(device)
        except _kiln.NativeError as e:
            raise errors.from_native(e) from None


class _CustomGradient:
    """A @kiln.custom_gradient function at given argument types: how its
    forward and backward functions are traced into a module."""

    def __init__(self, function, arg_types, name):
        self.function, self.arg_types, self.name = function, list(arg_types), name
        self.key = ("custom", function, tuple(arg_types))

    def _trace(self, m, name, arg_types, run):
        """Traces run(*symbolic args) -> tensors into function `name` of `m`."""
        from . import tracing
        sub = tracing._Trace(name, arg_types, module=m)
        args = [sub.traced(m.argument(sub.f, i)) for i in range(len(arg_types))]
        saved_trace, saved_tapes = _local.trace, _local.tapes
        _local.trace, _local.tapes = sub, []
        try:
            outs = run(args)
        except errors.InvalidArgumentError as e:
            if "another @kiln.function trace" not in str(e):
                raise
            raise errors.InvalidArgumentError(
                f"kiln.custom_gradient: {self.name} uses a tensor computed "
                "outside it; pass it as an argument", errors.user_location()) from None
        finally:
            _local.trace, _local.tapes = saved_trace, saved_tapes
        if sub.variables:
            raise errors.UnimplementedError(
                f"kiln.custom_gradient: {self.name} reads variables "
                f"({', '.join(v.name for v in sub.variables.values())}); pass their "
                "values as arguments (gradients for variables read inside a "
                "custom gradient are not supported yet)", errors.user_location())
        m.finish_function(sub.f, [sub.value_of(t) for t in outs])
        return [t._impl.type for t in outs]

    def _call(self, args):
        result = self.function(*args)
        if not isinstance(result, tuple) or len(result) != 2 or not callable(result[1]):
            raise TypeError(f"kiln.custom_gradient: {self.name} must return "
                            "(outputs, grad_fn)")
        return result

    def emit(self, m, n):
        """Adds custom_forward_<n> and custom_backward_<n> to module `m`;
        returns their names. The backward function runs the Python function
        again on its inputs (its grad_fn closes over that run's values) and
        then grad_fn on the cotangents."""
        forward, backward = f"custom_forward_{n}", f"custom_backward_{n}"
        count = len(self.arg_types)
        def run_forward(xs):
            y = self._call(xs)[0]
            self.structure = y  # (how the outputs pack: one tensor, a tuple)
            return [convert_to_tensor(t) for t in _flatten(y)]

        out_types = self._trace(m, forward, self.arg_types, run_forward)

        def run_backward(values):
            xs, dys = values[:count], values[count + len(out_types):]
            _, grad_fn = self._call(xs)
            grads = grad_fn(*dys)
            grads = list(grads) if isinstance(grads, (list, tuple)) else [grads]
            if len(grads) != count:
                raise errors.InvalidArgumentError(
                    f"kiln.custom_gradient: the grad_fn of {self.name} returned "
                    f"{len(grads)} gradients for {count} inputs",
                    errors.user_location())
            from .math_ops import zeros_like
            out = []
            for x, g in zip(xs, grads):
                # (zeros_like: the input's extents may be open)
                g = zeros_like(x) if g is None else convert_to_tensor(g, x.dtype)
                if g.shape != x.shape:
                    raise errors.InvalidArgumentError(
                        f"kiln.custom_gradient: the grad_fn of {self.name} returned a "
                        f"gradient of shape {list(g.shape)} for an input of shape "
                        f"{list(x.shape)}", errors.user_location())
                out.append(g)
            return out

        self._trace(m, backward, self.arg_types + out_types + out_types, run_backward)
        self.out_types = out_types
        return forward, backward


def recompute_grad(f):
    """tf.recompute_grad: f itself. (TensorFlow recomputes f's forward pass
    in the backward one to save memory; Kiln's compiler decides what a
    compiled step keeps, so this changes no result and saves nothing.)"""
    return f


def hessians(ys, xs, gate_gradients=False, aggregation_method=None,
             colocate_gradients_with_ops=False):
    """tf.hessians: for each x of `xs`, the second derivatives of the sum
    of `ys` with respect to x, shaped x.shape + x.shape (nested tapes:
    the jacobian of the gradient). ys is a function of the xs (a callable
    taking them), since Kiln computes eagerly: hessians(lambda x: f(x), x)."""
    single = not isinstance(xs, (list, tuple))
    xs = [xs] if single else list(xs)
    if not callable(ys):
        raise TypeError("hessians: pass ys as a function of xs (hessians(lambda x: "
                        "loss(x), x)): eager values carry no record of how they were "
                        "computed")
    from . import ops
    out = []
    for x in xs:
        with GradientTape() as outer:
            outer.watch(x)
            with GradientTape() as inner:
                inner.watch(x)
                total = ops.reduce_sum(ys(*xs))
            g = inner.gradient(total, x)
        out.append(outer.jacobian(g, x))
    return out[0] if single else out


def grad_pass_through(f):
    """f whose gradient is passed straight through (tf.grad_pass_through):
    the results are f's exactly, and the gradient of result i with respect
    to argument i is the incoming one, as if f were the identity (f gives
    one result like each argument; it may assign variables, as the
    straight-through estimator's updates do)."""
    import functools
    from .ops import stop_gradient

    @functools.wraps(f)
    def wrapper(*args):
        xs = [convert_to_tensor(a) for a in args]
        out = f(*xs)
        single = not isinstance(out, (tuple, list))
        ys = [convert_to_tensor(y) for y in ([out] if single else out)]
        if len(ys) != len(xs) or any(y.shape != x.shape or y.dtype != x.dtype
                                     for x, y in zip(xs, ys)):
            raise ValueError(
                "grad_pass_through: f must give one result like each argument (the "
                f"gradient passes through unchanged); got {[str(y.shape) for y in ys]} for "
                f"{[str(x.shape) for x in xs]}")
        passed = [_passed_through(x, stop_gradient(y)) for x, y in zip(xs, ys)]
        return passed[0] if single else type(out)(passed)
    return wrapper


def _pass_through(x, y):
    """y, with the gradient for y going to x unchanged (an exact y: not
    x + (y - x), which rounds)."""
    return y, lambda dy: (dy, None)


def custom_gradient(f):
    """Decorator, as tf.custom_gradient: `f(*x)` returns `(y, grad_fn)` and
    `grad_fn(*dy)` the gradients with respect to each x (None: zeros).
    Tapes, gradients_function and compiled gradients use grad_fn instead
    of differentiating f's ops (a kiln.custom_vjp op in the IR). The
    arguments are tensors; f may not read variables or tensors computed
    outside it."""
    import functools

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        from . import tracing
        if kwargs:
            raise TypeError(f"kiln.custom_gradient: {f.__name__} takes its "
                            "tensors as positional arguments")
        xs = [convert_to_tensor(a) for a in args]
        custom = _CustomGradient(f, [x._impl.type for x in xs], f.__name__)
        trace = tracing.current_trace()
        location = errors.user_location()
        if trace is not None:
            n = trace.counter
            trace.counter += 1
            forward, backward = custom.emit(trace.m, f"{trace.name}_{n}")
            outs = trace.op("custom_vjp", xs,
                            attributes(forward=symbol(forward),
                                       backward=symbol(backward)),
                            custom.out_types, location)
            return _pack(custom.structure, outs)
        tapes = list(_active_tapes())
        saved = _local.tapes
        _local.tapes = []  # f's own ops are not recorded
        try:
            y, _ = custom._call(xs)
        finally:
            _local.tapes = saved
        if tapes:
            outs = [convert_to_tensor(t) for t in _flatten(y)]
            if any(o is x for o in outs for x in xs):
                # An output that is an input itself gets its own tensor
                # object (the same value): tapes tell values apart by identity.
                outs = [Tensor(o._impl) if any(o is x for x in xs) else o for o in outs]
                y = _pack(y, outs)
            for tape in tapes:
                tape._ops.append(("__custom__", list(xs), custom,
                                  [t._impl.type for t in outs], outs, location))
        return y

    return wrapper


def gradients_function(f, params=None):
    """A function returning the gradients of `f` with respect to its
    arguments (or those whose positions `params` lists), as
    tf.contrib.eager.gradients_function."""
    def grad(*args):
        return value_and_gradients_function(f, params)(*args)[1]
    return grad


def value_and_gradients_function(f, params=None):
    """Like gradients_function, also returning f's value."""
    def value_and_grad(*args):
        tensors = [convert_to_tensor(a) if not isinstance(a, Tensor) else a
                   for a in args]
        chosen = list(range(len(tensors))) if params is None else list(params)
        with GradientTape() as tape:
            for i in chosen:
                tape.watch(tensors[i])
            value = f(*tensors)
        grads = tape.gradient(value, [tensors[i] for i in chosen])
        return value, grads
    return value_and_grad


def implicit_value_and_gradients(f):
    """A function returning f's value and [(gradient, variable), ...] for
    exactly the trainable variables f read, in the order first read."""
    def value_and_grads(*args, **kwargs):
        with GradientTape() as tape:
            value = f(*args, **kwargs)
        variables = tape.watched_variables()
        if not variables:
            raise ValueError("no trainable variable was read by the function; "
                             "implicit gradients need at least one")
        grads = tape.gradient(value, variables)
        return value, list(zip(grads, variables))
    return value_and_grads


def implicit_gradients(f):
    """A function returning [(gradient, variable), ...] for the trainable
    variables f read (tf.contrib.eager.implicit_gradients)."""
    def grads(*args, **kwargs):
        return implicit_value_and_gradients(f)(*args, **kwargs)[1]
    return grads


_passed_through = custom_gradient(_pass_through)
