"""@kiln.function: trace a Python function into the Kiln dialect once per
input signature, compile it, and call the compiled code.

While tracing, ops do not run: each one is added to a Kiln function (with
the caller's file:line as location) and returns a symbolic tensor. Variable
reads and assignments become kiln.read_variable / kiln.assign_variable of
the variable's store entry, so a compiled training step reads and updates
the variables in place through the runtime's variable store. Python side
effects (prints, list appends) happen only while tracing.
"""

import collections
import inspect
import itertools
import re
import sys
import weakref

import numpy as np

from . import _kiln, config, errors
from .core import attributes, symbol
from .dtypes import as_dtype, native_conversion, string
from .tensor import ComplexParts, OpenLeaf, Tensor, TensorSpec, convert_to_tensor
from . import variables as _variables
from .variables import Variable, _store, init_scope

from ._state import local as _local


def executing_eagerly():
    """Whether ops run at once (tf.executing_eagerly): False while a
    @kiln.function is being traced."""
    return current_trace() is None


def inside_function():
    """Whether a @kiln.function is being traced (tf.inside_function)."""
    return current_trace() is not None


def current_trace():
    return _local.trace


class _TracedImpl:
    """Stands in for a native tensor inside a trace: a value of the module."""

    __slots__ = ("trace", "id", "type", "shape", "dtype", "extents", "block")

    def __init__(self, trace, value_id):
        self.trace = trace
        self.id = value_id
        # (The region block it was made in: used after that block closed,
        # it is an error that says why, see _Trace.value_of.)
        self.block = trace.blocks[-1] if trace.blocks else 0
        # (shape, dtype name); an extent known only at run time (an
        # input_signature's None) is None.
        self.type = trace.m.type(value_id)
        self.shape, self.dtype = self.type
        # For a shape tensor (kiln.shape of open extents): its values, ints
        # and tensor._OpenExtents.
        self.extents = None

    def numpy(self):
        raise TypeError(
            "a symbolic tensor inside @kiln.function has no value yet; "
            "return it from the function, or compute with kiln ops")


class _Trace:
    def __init__(self, name, arg_types, module=None):
        """A trace of function `name`; `module`: another trace's builder, to
        add the function to its module as a private helper (a custom
        gradient's functions)."""
        self.m = module if module is not None else _kiln.ModuleBuilder()
        self.name = name
        self.f = self.m.function(name, arg_types, module is not None)
        self.constants = {}
        self.variables = {}
        self.current = {}
        self.saved = []
        self.assigned_inside = set()
        self.counter = 0
        self.created_variables = []  # kiln.Variables the traced code made
        self.blocks = []             # serials of the open region blocks
        self.handles = []            # and their native handles
        self.closed_blocks = set()
        self._block_serials = itertools.count(1)
        self.feeds = []              # datasets looped over (see feed_dataset)
        self.summary_writers = set()  # writers compiled code appends to
        # Per open block: variables read hoisted out of it, and assigned in
        # it (a loop body that does both is traced again: see hoisted_stale).
        self.block_effects = []
        self.never_hoist = set()
        self.argument_datasets = {}  # id(dataset) -> its argument position

    def traced(self, value_id):
        return Tensor(_TracedImpl(self, value_id))

    def value_of(self, t):
        """The module value of a tensor (a concrete one becomes a constant)."""
        impl = t._impl
        if isinstance(impl, _TracedImpl):
            if impl.trace is not self:
                raise errors.InvalidArgumentError(
                    "a symbolic tensor from another @kiln.function trace is "
                    "used here", errors.user_location())
            if impl.block in self.closed_blocks:
                raise errors.InvalidArgumentError(
                    "a tensor computed inside the body of a loop or a branch on a tensor "
                    "is used after it; what a compiled loop or `if` makes leaves it only "
                    "as a loop variable or the branch's value of a name it assigns (a "
                    "Python list appended to inside a loop on a tensor is not carried: "
                    "use kiln.TensorArray and .stack())", errors.user_location())
            return impl.id
        if id(t) in self.constants:
            return self.constants[id(t)][1]
        vid = self.m.constant(self.f, t.numpy(), native_conversion(t.dtype))
        self.constants[id(t)] = (t, vid)  # keep t alive: ids stay unique
        return vid

    def op(self, op, inputs, attributes, results, location):
        file, _, line = (location or ":0").rpartition(":")
        ids = self.m.op(self.f, op, [self.value_of(t) for t in inputs],
                        attributes, results, file, int(line or 0))
        return [self.traced(i) for i in ids]

    def push_block(self, arg_types):
        """Starts a region block; returns (handle, argument tensors)."""
        handle, ids = self.m.push_block(self.f, list(arg_types))
        self.blocks.append(next(self._block_serials))
        self.handles.append(handle)
        self.saved.append((dict(self.constants), dict(self.current)))
        self.block_effects.append((set(), set()))
        return handle, [self.traced(i) for i in ids]

    def pop_block(self, values, terminator="yield", discard=None):
        """Ends the block with kiln.yield of `values` (tensors), or with
        kiln.condition (`terminator="condition"`: the predicate, then the
        block's arguments). Constants and variable reads made inside stay
        inside. `discard`: the block's handle, to drop it (a failed trace)."""
        try:
            ids = [self.value_of(v) for v in values]
        except BaseException:
            # (A value from a closed block: the block is ended and dropped
            # here, so the callers' own clean-up finds the stacks as
            # they were before it began.)
            handle = self.handles[-1]
            self.pop_block([], discard=handle)
            raise
        self.closed_blocks.add(self.blocks.pop())
        self.handles.pop()
        self.m.pop_block(self.f, ids, terminator)
        self.constants, self.current = self.saved.pop()
        reads, assigns = self.last_block_effects = self.block_effects.pop()
        if self.block_effects:  # (what an inner block did, its parent did)
            self.block_effects[-1][0].update(reads)
            self.block_effects[-1][1].update(assigns)
        if not self.saved:
            self.assigned_inside = set()
        if discard is not None:
            self.discard_block(discard)

    def discard_block(self, handle):
        """Drops a popped block that no op takes (its ops are erased)."""
        self.m.discard_block(self.f, handle)

    def region_op(self, name, operands, blocks, result_types, location):
        file, _, line = (location or ":0").rpartition(":")
        ids = self.m.region_op(self.f, name, [self.value_of(t) for t in operands],
                               blocks, result_types, file, int(line or 0))
        # Variables may have been assigned inside: read them again.
        self.current = {}
        return [self.traced(i) for i in ids]

    def feed_dataset(self, dataset, location):
        """The runtime-held batches of a dataset looped over in this trace
        (one _DatasetFeed per dataset object)."""
        for feed in self.feeds:
            if feed.dataset is dataset:
                return feed
        feed = _DatasetFeed(dataset, self.argument_datasets.get(id(dataset)),
                            len(self.feeds), location)
        self.feeds.append(feed)
        return feed

    def read_variable(self, variable):
        """The variable's value in the trace: one read op until the next
        assignment, so every use is the same tensor (what tapes watch)."""
        key = variable._key()
        if key in self.current:
            return self.current[key]
        vtype = variable._value._impl.type
        self.m.declare_variable(key, vtype)
        self.variables[key] = variable
        # Inside a region, a variable not assigned in it is read once in the
        # function body instead: the same tensor everywhere (what tapes
        # differentiate with respect to).
        hoist = bool(self.saved) and key not in self.assigned_inside and \
            key not in self.never_hoist
        if hoist:
            self.block_effects[-1][0].add(key)
        (vid,) = self.m.op(self.f, "read_variable", [],
                           attributes(variable=symbol(key)), [vtype],
                           outermost=hoist)
        value = self.traced(vid)
        if hoist:
            value._impl.block = 0   # (placed in the function's body)
        self.current[key] = value
        if hoist:
            for _, current in self.saved:
                current[key] = value
        return value

    def bind_variable(self, variable):
        """Declares a variable that an op writes (an assignment, or an
        optimizer update naming it by symbol): later reads read it again."""
        key = variable._key()
        self.m.declare_variable(key, variable._value._impl.type)
        self.variables[key] = variable
        self.current.pop(key, None)
        if self.saved:
            self.assigned_inside.add(key)
            self.block_effects[-1][1].add(key)
        return key

    def hoisted_stale(self):
        """Variables the block just popped read hoisted out of it and also
        assigned: right for a branch (it runs once), wrong for a loop body,
        whose later iterations must see the new values. They are read inside
        blocks from now on; the caller traces the body again."""
        reads, assigns = self.last_block_effects
        stale = reads & assigns
        self.never_hoist |= stale
        for key in stale:  # (the hoisted read is not reused either)
            self.current.pop(key, None)
            for _, current in self.saved:
                current.pop(key, None)
        return stale

    def assign_variable(self, variable, value):
        key = self.bind_variable(variable)
        file, _, line = (errors.user_location() or ":0").rpartition(":")
        self.m.op(self.f, "assign_variable", [self.value_of(value)],
                  attributes(variable=symbol(key)), [], file, int(line or 0))


class _DatasetFeed:
    """A dataset that a traced `for` loops over: its full batches stacked
    into one variable per leaf ([batches, batch, ...]) and a last smaller
    batch in others, all in the runtime's store. Before each call of the
    compiled function they are filled again from the dataset (the same
    object, or the one passed at `position` for an argument)."""

    def __init__(self, dataset, position, index, location):
        self.dataset, self.position, self.location = dataset, position, location
        self.structure, full, remainder = self._batches(dataset)
        self.batches = len(full[0]) if full else 0
        # (Each leaf's dtype: bfloat16 values travel as float32 arrays.)
        dtypes = [t.dtype for t in _flatten(self.structure)]
        with init_scope():
            self.full = [Variable(a, trainable=False, name=f"dataset{index}_batches",
                                  dtype=d, _internal=True) for a, d in zip(full, dtypes)]
            self.remainder = [Variable(a, trainable=False, name=f"dataset{index}_last",
                                       dtype=d, _internal=True)
                              for a, d in zip(remainder or [], dtypes)]
        self._fresh = True  # (the first call uses what the trace read)

    def _batches(self, dataset):
        """(element structure, stacked full batches per leaf, the last
        smaller batch per leaf or None)."""
        if dataset._cardinality() == -1:
            raise errors.InvalidArgumentError(
                "a `for` loop over an infinite dataset (repeat() without a "
                "count) cannot be compiled; take() a number of batches",
                self.location)
        elements = list(dataset)
        if not elements:
            raise errors.InvalidArgumentError(
                "a `for` loop over an empty dataset inside @kiln.function",
                self.location)
        flat = [[np.asarray(t.numpy()) for t in _flatten(e)] for e in elements]
        shapes = [a.shape for a in flat[0]]
        full = [e for e in flat if [a.shape for a in e] == shapes]
        rest = flat[len(full):]
        if len(rest) > 1 or (rest and len(full) != len(flat) - 1):
            raise errors.InvalidArgumentError(
                "a `for` loop over a dataset inside @kiln.function needs "
                "batches of one shape (and at most a smaller last one)",
                self.location)
        stacked = [np.stack([e[j] for e in full]) for j in range(len(shapes))]
        return elements[0], stacked, (rest[0] if rest else None)

    def refresh(self, datasets):
        """Fills the variables from a new pass over the dataset."""
        if self._fresh:
            self._fresh = False
            return
        dataset = self.dataset if self.position is None else datasets[self.position]
        _, full, remainder = self._batches(dataset)
        got = [a.shape for a in full] + [a.shape for a in remainder or []]
        want = [v.shape for v in self.full] + [v.shape for v in self.remainder]
        if got != want:
            raise errors.InvalidArgumentError(
                f"the dataset looped over at {self.location} now gives batches "
                f"{got} where the compiled function was traced for {want}",
                errors.user_location())
        for v, a in zip(self.full + self.remainder, full + list(remainder or [])):
            v.assign(a)


def _flatten(structure):
    if isinstance(structure, (list, tuple)):
        return [x for s in structure for x in _flatten(s)]
    if isinstance(structure, dict):
        return [x for k in sorted(structure) for x in _flatten(structure[k])]
    if hasattr(structure, "_kiln_flatten"):  # TensorArray
        return structure._kiln_flatten()
    return [structure]


def _structure_key(structure):
    """The nesting of the arguments without their leaves: lists, tuples
    (by type: namedtuples too) and dicts with their keys. Two calls whose
    leaves match but whose nesting differs (a dict where a list was) need
    their own traces: the function sees different Python values."""
    if isinstance(structure, (list, tuple)):
        return (type(structure).__name__, tuple(_structure_key(s) for s in structure))
    if isinstance(structure, dict):
        return ("dict", tuple((k, _structure_key(structure[k])) for k in sorted(structure)))
    if hasattr(structure, "_kiln_flatten"):  # (and what else a trace depends on)
        return ("flattened", len(structure._kiln_flatten()),
                getattr(structure, "_kiln_trace_key", lambda: None)())
    return "."


# A call's keyword-only and **kwargs arguments, after the positional ones
# (Function._arguments): their names, and the values by name.
_Keywords = collections.namedtuple("_Keywords", ["names", "values"])


def _invoke(function, args):
    """function(*args), the keyword arguments of a last _Keywords given by
    name."""
    if args and isinstance(args[-1], _Keywords):
        return function(*args[:-1], **args[-1].values)
    return function(*args)


def _pack(structure, it):
    from .nest import sequence_like
    if isinstance(structure, (list, tuple)):
        return sequence_like(structure, [_pack(s, it) for s in structure])
    if isinstance(structure, dict):
        return {k: _pack(structure[k], it) for k in sorted(structure)}
    if hasattr(structure, "_kiln_flatten"):
        n = len(structure._kiln_flatten())
        return structure._kiln_unflatten([next(it) for _ in range(n)])
    return next(it)


class ConcreteFunction:
    """One trace of a @kiln.function, compiled: `mlir` is its Kiln IR.
    Callable, as TensorFlow's, with arguments of the trace's types."""

    def __call__(self, *args, **kwargs):
        source = getattr(self, "_source", None)
        if source is None:
            raise TypeError(f"{self.name}: call the @kiln.function (or a concrete function "
                            "from its get_concrete_function)")
        function, specs = source
        if len(args) + len(kwargs) > len(specs):
            raise TypeError(f"{self.name}() takes {len(specs)} arguments, got "
                            f"{len(args) + len(kwargs)}")
        for value, spec in zip(args, specs):
            if isinstance(spec, TensorSpec) and not spec.is_compatible_with(
                    convert_to_tensor(value)):
                raise errors.InvalidArgumentError(
                    f"{self.name}(): an argument of shape {list(np.shape(value))} does not "
                    f"fit the concrete function's {spec}", errors.user_location())
        return function(*args, **kwargs)

    def _stale(self):
        """Whether a variable this code reads has changed its shape since
        (an eager assignment within its declared open shape)."""
        return any(tuple(v._shape) != shape for v, shape in self._open_shapes)

    def __init__(self, name, mlir, executable, structure, leaves, variables,
                 device="cpu", feeds=(), writers=()):
        self.name = name
        self.mlir = mlir
        self.device = config.device_name(device)  # where it runs
        self._runtime_device = device
        self._exe = executable
        self._structure = structure  # the Python return value's structure
        self._leaves = leaves        # per leaf: ("tensor", i) or ("python", v)
        self._variables = variables  # store key -> Variable
        self._copies_avoided = 0     # variables updated without a copy
        self._feeds = list(feeds)    # datasets looped over (_DatasetFeed)
        self._writers = list(writers)  # summary files the code appends to
        # kiln.print writes from native code: Python's buffered output
        # goes first, so what the program printed stays in order.
        self._prints = "kiln.print" in mlir
        self._placed_at = None  # variables.generation when last placed
        # The variables the entry assigns (fixed by its code).
        self._assigned = [(key, variables[key]) for key in executable.assigned(name)]
        # Variables whose declared shape lets eager assignments change it,
        # with the shape this code was compiled for (see _stale).
        self._open_shapes = [(v, tuple(v._shape)) for v in variables.values()
                             if getattr(v, "_declared", None) is not None]
        # A flat tuple or list of tensors returned as it is (the common
        # case) skips the general repacking.
        def leaf(s):
            return not isinstance(s, (list, tuple, dict)) and \
                not hasattr(s, "_kiln_flatten")
        in_order = all(kind == "tensor" and v == i
                       for i, (kind, v) in enumerate(leaves))
        self._flat_results = in_order and type(structure) in (list, tuple) and \
            all(leaf(s) for s in structure)
        self._single_result = in_order and len(leaves) == 1 and leaf(structure)

    def _call(self, tensors, datasets=None):
        for feed in self._feeds:
            feed.refresh(datasets or {})
        # The variables live on the device of the function that uses them:
        # moved there at its first call (and back if a function on another
        # device uses them later), they stay between calls.
        if self._placed_at != _variables.generation:
            for key, var in self._variables.items():
                if var._value._impl.device != self._runtime_device:
                    try:
                        var._value = Tensor(_store.place(key, self._runtime_device))
                    except _kiln.NativeError as e:
                        raise errors.from_native(e) from None
                    _variables.moved()
            self._placed_at = _variables.generation
        if config.log_device_placement:
            config.log_op(f"__inference_{self.name}", self.device)
        assigned = self._assigned
        # Copy on write: tensors read from an assigned variable before the
        # call keep their values. The copy is skipped when nothing but the
        # variable holds its current value: the Tensor object and its
        # implementation are referenced only by the variable (the two
        # references counted here are the attribute and getrefcount's
        # argument) and the buffer only by that implementation and the store
        # (no NumPy view, no other tensor; checked natively).
        for key, var in assigned:
            if (sys.getrefcount(var._value) == 2
                    and sys.getrefcount(var._value._impl) == 2
                    and _store.prepare_update(key, var._value._impl)):
                self._copies_avoided += 1
                continue
            _store.set(key, var._value._impl)
        if self._prints:
            sys.stdout.flush()
            sys.stderr.flush()
        for writer in self._writers:  # (Python's rows first, in order)
            writer.flush()
        try:
            results = _kiln.call(self._exe, self.name, tensors, _store)
        except _kiln.NativeError as e:
            raise errors.from_native(e) from None
        for key, var in assigned:
            var._value = Tensor(_store.get(key))
        if self._single_result:
            return results[0]
        if self._flat_results:
            return type(self._structure)(results)
        values = [results[v] if kind == "tensor" else
                  Tensor(ComplexParts(results[v], results[v + 1])) if kind == "complex" else v
                  for kind, v in self._leaves]
        return _pack(self._structure, iter(values))


_NATIVE_TENSOR = _kiln.Tensor


def _eager_type(value):
    """(shape, dtype) of an eager tensor, None for anything else."""
    if type(value) is Tensor:
        impl = value._impl
        if type(impl) is _NATIVE_TENSOR:
            return impl.type
    return None


def _fast_device():
    """The device part of a call's key: the runtime device (and whether
    TF32 is on, for a GPU)."""
    device = _local.runtime_device
    if device == "cpu":
        return device
    return device, config.experimental.tensor_float_32_execution_enabled()


class Function:
    """The callable returned by @kiln.function."""

    # Traces of one Function after which a warning names the cause.
    RETRACE_WARNING = 5

    def __init__(self, python_function, name=None, input_signature=None,
                 reduce_retracing=False, autograph=True):
        self._python_function = python_function
        self.__name__ = name or getattr(python_function, "__name__", "function")
        self.__doc__ = getattr(python_function, "__doc__", None)
        self.input_signature = None if input_signature is None else \
            _checked_signature(input_signature, self.__name__)
        self._reduce_retracing = bool(reduce_retracing)
        self._autograph = bool(autograph)
        self._concrete = {}
        self._last_key = None
        self.trace_count = 0
        self.retrace_reason = None
        self._warned = False
        self._instance = None  # (a weak reference) for a method's Function
        self._bound = {}       # id(instance) -> that instance's Function
        # Calls with eager tensors only: (device, argument types) ->
        # (concrete function, its signature key), skipping _signature.
        self._fast = {}

    def __get__(self, instance, owner=None):
        """A method decorated with @kiln.function: one Function per instance
        (its own traces), called with the instance first."""
        if instance is None:
            return self
        bound = self._bound.get(id(instance))
        if bound is None or bound._self() is not instance:
            bound = Function(self._python_function, self.__name__,
                             self.input_signature, self._reduce_retracing,
                             self._autograph)
            try:
                ref = weakref.ref(instance,
                                  lambda _, key=id(instance): self._bound.pop(key, None))
            except TypeError:  # no weak references: kept for the process
                ref = lambda: instance
            bound._instance = ref
            self._bound[id(instance)] = bound
        return bound

    def _self(self):
        return self._instance() if self._instance is not None else None

    def _arguments(self, args, kwargs):
        """The positional arguments of a call: the instance of a method
        first, keyword arguments placed by the function's signature
        (defaults filled in)."""
        if self._instance is not None:
            args = (self._self(),) + tuple(args)
        if not hasattr(self, "_positional"):
            try:
                self._signature_object = inspect.signature(self._python_function)
            except (TypeError, ValueError):  # (a builtin: no signature)
                self._signature_object = None
            parameters = (self._signature_object.parameters.values()
                          if self._signature_object else ())
            self._positional = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                                   for p in parameters)
        # Omitted defaults are filled in, so f(x) and f(x, b=<default>)
        # share a trace; all-positional calls skip the binding.
        if (not kwargs and len(args) >= self._positional) or \
                self._signature_object is None:
            if kwargs:
                raise TypeError(f"{self.__name__}() takes no keyword arguments")
            return tuple(args)
        try:
            bound = self._signature_object.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{self.__name__}(): {e}") from None
        bound.apply_defaults()
        if bound.kwargs:
            # Keyword-only and **kwargs parameters travel as one last
            # argument (their names part of the trace's key; tensors among
            # them are inputs like the others).
            return tuple(bound.args) + (_Keywords(" ".join(sorted(bound.kwargs)),
                                                  dict(bound.kwargs)),)
        return tuple(bound.args)

    def _signature(self, args):
        """(key, tensors, args): a hashable description of the arguments
        (a tensor by its shape and dtype, or by its TensorSpec), the tensors
        passed to the compiled code, and the arguments (with values an
        input_signature converts to tensors)."""
        _local.open_arguments = True  # (composites open their extents: OpenLeaf)
        try:
            flat = _flatten(list(args))
        finally:
            _local.open_arguments = False
        specs = None
        if self.input_signature is not None:
            specs = _flatten(list(self.input_signature))
            first = 1 if self._instance is not None else 0
            # Parameters after the signature's keep their defaults, Python
            # values of the trace (TensorFlow's rule); a tensor there is an
            # error.
            covered = first + len(self.input_signature)
            count = len(_flatten(list(args[:covered])))
            rest = flat[count:]
            if any(isinstance(v, (Tensor, np.ndarray)) for v in rest):
                raise TypeError(f"{self.__name__}(): with an input_signature, pass "
                                "tensors only for the parameters it covers")
            flat = flat[:first] + _match_signature(flat[first:count], specs,
                                                   self.__name__) + rest
            specs = [None] * first + specs + [None] * len(rest)
        from .data import Dataset
        key, tensors, datasets = [], [], {}
        for position, a in enumerate(flat):
            if position == 0 and self._instance is not None:
                key.append(("self", id(a)))  # (this Function's instance)
            elif isinstance(a, Dataset):
                # Any dataset of the same length: a loop over it reads its
                # batches from the runtime (refilled from this one).
                key.append(("dataset", a._length))
                datasets[position] = a
            elif isinstance(a, Variable):
                key.append(("variable", id(a)))
            elif isinstance(a, OpenLeaf):  # (a composite's tensor, extents open)
                t = a.tensor
                if t.dtype is string:
                    raise errors.InvalidArgumentError(
                        f"{self.__name__}(): a RaggedTensor argument holds strings: a "
                        "@kiln.function compiles numbers only; map them to numbers before "
                        "the call (StringLookup, Hashing, kiln.strings)",
                        errors.user_location())
                key.append(("tensor", tuple(a.shape), t.dtype.name))
                if type(t._impl) is ComplexParts:  # (passed as its two parts)
                    tensors.extend([t._impl.real, t._impl.imag])
                else:
                    tensors.append(t)
            elif isinstance(a, TensorSpec):  # get_concrete_function(spec)
                key.append(("tensor", tuple(a.shape), a.dtype.name))
                tensors.extend([None] * (2 if a.dtype.is_complex else 1))
            elif isinstance(a, (Tensor, np.ndarray)):
                t = convert_to_tensor(a)
                if t.dtype is string:
                    raise errors.InvalidArgumentError(
                        f"{self.__name__}(): argument {a!r} is a string tensor: a "
                        "@kiln.function compiles numbers only; map strings to numbers "
                        "before the call (StringLookup, TextVectorization, Hashing, "
                        "kiln.strings), e.g. in the input pipeline's map",
                        errors.user_location())
                spec = specs[position] if specs is not None else None
                key.append(("tensor", tuple(spec.shape if spec is not None else t.shape),
                            t.dtype.name))
                if type(t._impl) is ComplexParts:  # (passed as its two parts)
                    tensors.extend([t._impl.real, t._impl.imag])
                else:
                    tensors.append(t)
            else:
                try:
                    hash(a)
                except TypeError:
                    raise TypeError(f"@kiln.function argument {a!r} is neither a "
                                    "tensor nor a hashable Python value") from None
                key.append(("python", type(a).__name__, a))
        key.append(("structure", _structure_key(list(args))))
        return tuple(key), tensors, _pack(list(args), iter(flat)), datasets

    def _describe_change(self, old, new):
        if old is None:
            return "first call"
        if old[0] != new[0]:
            return f"device changed from {old[0]} to {new[0]}"
        if old[1] != new[1]:
            return "TF32 execution " + ("enabled" if new[1] else "disabled")
        old, new = old[2:], new[2:]
        if len(old) != len(new):
            return f"{len(new)} arguments instead of {len(old)}"
        for i, (a, b) in enumerate(zip(old, new)):
            if a != b and a[0] == "structure":
                return "the nesting of the arguments (lists, tuples, dicts) changed"
            if a != b:
                return f"argument {i} changed from {a[1:]} to {b[1:]}"
        return "same signature"

    def experimental_get_tracing_count(self):
        """How many times the Python function has been traced
        (TensorFlow's name for `trace_count`)."""
        return self.trace_count

    def get_concrete_function(self, *args, **kwargs):
        """The trace for these arguments (tensors, or TensorSpecs for
        extents known only at run time) on the current device (traced and
        compiled on first use); with none, the input_signature's."""
        if not args and not kwargs and self.input_signature is not None:
            args = tuple(self.input_signature)
        arguments = self._arguments(args, kwargs)
        concrete = self._concrete_for(arguments)[0]
        # (what saved_model.save(signatures=concrete) serves: this function
        # for these argument specs)
        own = arguments[1:] if self._instance is not None else arguments   # (not self)
        concrete._source = (self, [TensorSpec(a.shape, a.dtype) if isinstance(
            a, (Tensor, np.ndarray, TensorSpec)) else a for a in own])
        return concrete

    def _bound_python(self):
        """The Python function, bound to the instance of a method."""
        if self._instance is None:
            return self._python_function
        import functools
        return functools.partial(self._python_function, self._self())

    def _concrete_for(self, args):
        """(concrete function, tensors to pass it, the Dataset arguments by
        position) for these arguments."""
        key, tensors, args, datasets = self._signature(args)
        device = config.runtime_device()
        # TF32 changes what GPU code computes.
        tf32 = device != "cpu" and \
            config.experimental.tensor_float_32_execution_enabled()
        key = (device, tf32) + key
        concrete = self._concrete.get(key)
        if concrete is not None and concrete._stale():
            # (A variable it reads has another shape now: traced again.)
            self._concrete = {k: c for k, c in self._concrete.items() if c is not concrete}
            self._fast.clear()
            concrete = None
        if concrete is None:
            # A trace with open extents that fits (input_signature,
            # reduce_retracing), else a new one.
            generic = next((k for k in self._concrete if _fits(k, key)), None)
            if generic is not None:
                concrete = self._concrete[key] = self._concrete[generic]
            else:
                traced_key = key
                if self._reduce_retracing:
                    traced_key = next((r for r in (_relaxed(k, key) for k in self._concrete)
                                       if r is not None), key)
                self.retrace_reason = self._describe_change(self._last_key, key)
                concrete = self._trace(args, traced_key)
                self._concrete[traced_key] = self._concrete[key] = concrete
                if self.trace_count >= self.RETRACE_WARNING and not self._warned:
                    self._warned = True
                    import warnings
                    advice = getattr(self, "_retrace_advice", None) or (
                        "Each new shape, dtype or Python argument value traces again: "
                        "pass tensors rather than Python numbers, or give "
                        "input_signature=[kiln.TensorSpec(...)] or reduce_retracing=True "
                        "for shapes that change.")
                    warnings.warn(
                        f"@kiln.function {self.__name__} was traced and compiled "
                        f"{self.trace_count} times (the last time because: "
                        f"{self.retrace_reason}). {advice}", stacklevel=4)
        self._last_key = key
        return concrete, tensors, datasets

    def __call__(self, *args, **kwargs):
        if config._run_eagerly[0] and _local.trace is None:
            # (kiln.config.run_functions_eagerly(True): the Python, op by op)
            args = self._arguments(args, kwargs)
            if self.input_signature is not None:
                args = self._signature(args)[2]
            return _invoke(self._python_function, args)
        if not kwargs and self._fast and _local.trace is None and not _local.tapes:
            types = tuple(map(_eager_type, args))
            hit = self._fast.get((_fast_device(), types))
            if hit is not None and not hit[0]._open_shapes:
                self._last_key = hit[1]
                return hit[0]._call(args)
        given = args
        args = self._arguments(args, kwargs)
        if current_trace() is not None:
            if self.input_signature is not None:
                self._signature(args)  # (the same checks as a call)
            return _invoke(self._python_function, args)  # inlined into the caller
        if _local.tapes:
            # A gradient tape is recording: the Python runs eagerly, op by
            # op, so the tape records what the function computes (TensorFlow
            # records the call as one op; the gradients are the same, the
            # compiled speed is not there while a tape watches).
            if self.input_signature is not None:
                args = self._signature(args)[2]  # (converted as a call would)
            return _invoke(self._python_function, args)
        concrete, tensors, datasets = self._concrete_for(args)
        # The same arguments next time take the fast path: eager tensors
        # only, passed as they are (no defaults, conversions or datasets).
        if (not kwargs and not datasets and self._instance is None
                and len(tensors) == len(given)
                and all(t is a for t, a in zip(tensors, given))):
            types = tuple(map(_eager_type, given))
            if None not in types:
                self._fast[(_fast_device(), types)] = (concrete, self._last_key)
        return concrete._call(tensors, datasets)

    def _trace(self, args, key, verifying=False):
        """Traces and compiles for arguments described by `key` (its tensor
        entries give the argument types, None extents open)."""
        self.trace_count += 1
        name = re.sub(r"\W", "_", self.__name__) or "function"
        if not re.match(r"[A-Za-z_]", name):
            name = "f_" + name
        types = [TensorSpec(shape, part)._type for kind, *rest in key[2:]
                 if kind == "tensor" for shape, dtype in [rest]
                 for part in [as_dtype(dtype).real_dtype] * (2 if as_dtype(dtype).is_complex
                                                             else 1)]
        trace = _Trace(name, types)
        symbols = iter(trace.traced(trace.m.argument(trace.f, i))
                       for i in range(len(types)))
        from .data import Dataset
        flat = []
        for position, a in enumerate(_flatten(list(args))):
            if isinstance(a, (Tensor, np.ndarray, TensorSpec, OpenLeaf)) and \
                    not isinstance(a, Variable):
                if as_dtype(a.dtype).is_complex:
                    flat.append(Tensor(ComplexParts(next(symbols), next(symbols))))
                else:
                    flat.append(next(symbols))
            else:
                if isinstance(a, Dataset):
                    trace.argument_datasets[id(a)] = position
                flat.append(a)
        traced_args = _pack(list(args), iter(flat))
        # (Tensors with open extents to take them from: a TensorArray's
        # elements written in a loop, control_flow._learn_shapes.)
        trace.argument_tensors = [a for a in flat if isinstance(a, Tensor)]
        if not hasattr(self, "_converted"):
            from . import autograph
            self._converted = autograph.converted(self._python_function) \
                if self._autograph else self._python_function
        previous = current_trace()
        _local.trace = trace
        try:
            result = _invoke(self._converted, traced_args)
        finally:
            _local.trace = previous
        if _lost_variables(trace):
            # TensorFlow's rule: variables may be made on the first trace
            # only (a layer building itself, an optimizer's slots); traced
            # again, the function must make none, else it would make new
            # ones on every call, which compiled code cannot. (Variables
            # the trace made and something keeps, a layer's weights, are
            # made once: only a variable nothing holds after the trace, a
            # local one, calls for the second trace.)
            if verifying:
                raise ValueError(
                    f"@kiln.function {self.__name__} creates kiln.Variables on every "
                    "call; a function may create variables only on its first call "
                    "(keep them in an object or a global and create them once, e.g. "
                    "`if self.v is None: self.v = kiln.Variable(...)`), as "
                    "tf.function requires")
            self.trace_count -= 1   # (the trace below counts)
            return self._trace(args, key, verifying=True)
        leaves, results = [], []
        for leaf in _flatten(result):
            if isinstance(leaf, Tensor) and type(leaf._impl) is ComplexParts:
                leaves.append(("complex", len(results)))  # (returned as its parts)
                results.extend([trace.value_of(leaf._impl.real),
                                trace.value_of(leaf._impl.imag)])
            elif isinstance(leaf, Tensor) and leaf.dtype is string:
                raise errors.InvalidArgumentError(
                    f"{name}: a @kiln.function cannot return a string tensor (strings stay "
                    "on the host and are not compiled)", errors.user_location())
            elif isinstance(leaf, Tensor):
                leaves.append(("tensor", len(results)))
                results.append(trace.value_of(leaf))
            else:
                leaves.append(("python", leaf))
        trace.m.finish_function(trace.f, results)
        mlir = trace.m.text()
        device = config.runtime_device()
        try:
            exe = trace.m.compile(device)
        except _kiln.NativeError as e:
            raise errors.from_native(e) from None
        return ConcreteFunction(name, mlir, exe, result, leaves,
                                dict(trace.variables), device, trace.feeds,
                                trace.summary_writers)


def _lost_variables(trace):
    """Whether a variable the trace made is held by nothing but the trace
    (a local kiln.Variable of the function: made anew on each call)."""
    created, trace.created_variables = trace.created_variables, []
    for variable in created:
        # (References besides this loop's name, the list and the argument:
        # the trace's own table, then whoever keeps it.)
        held = sys.getrefcount(variable) - 3
        if trace.variables.get(variable._key()) is variable:
            held -= 1
        if held <= 0:
            return True
    return False


def _checked_signature(signature, name):
    if not isinstance(signature, (list, tuple)):
        raise TypeError(f"{name}: input_signature must be a list or tuple of "
                        "kiln.TensorSpec")
    for spec in _flatten(list(signature)):
        if not isinstance(spec, TensorSpec):
            raise TypeError(f"{name}: input_signature holds {spec!r}, not a "
                            "kiln.TensorSpec")
    return tuple(signature)


def _match_signature(values, specs, name):
    """The arguments as tensors of the input_signature's dtypes, or
    TensorFlow's error when they do not fit it."""
    if len(values) != len(specs):
        raise TypeError(f"{name}() takes {len(specs)} tensor arguments by its "
                        f"input_signature, got {len(values)}")
    out = []
    for i, (value, spec) in enumerate(zip(values, specs)):
        if isinstance(value, TensorSpec):
            fits = spec.is_compatible_with(value)
        else:
            try:
                value = convert_to_tensor(value.value() if isinstance(value, Variable)
                                          else value, spec.dtype)
            except (TypeError, ValueError) as e:
                raise TypeError(f"{name}(): argument {i} does not convert to "
                                f"{spec}: {e}") from None
            fits = spec.is_compatible_with(value)
        if not fits:
            raise ValueError(
                f"{name}(): argument {i} ({value.dtype.name}{list(value.shape)}) is "
                f"not compatible with input_signature's {spec}")
        out.append(value)
    return out


def _entry_fits(general, entry):
    if general == entry:
        return True
    if general[0] != "tensor" or entry[0] != "tensor" or general[2] != entry[2] \
            or len(general[1]) != len(entry[1]):
        return False
    return all(g is None or g == e for g, e in zip(general[1], entry[1]))


def _fits(general, key):
    """Whether a traced key with open extents serves the call `key`."""
    return len(general) == len(key) and general[:2] == key[:2] and \
        all(_entry_fits(g, e) for g, e in zip(general[2:], key[2:]))


def _relaxed(old, new):
    """`new` with the extents where it differs from the traced `old` open
    (reduce_retracing), or None when they differ in more than extents."""
    if len(old) != len(new) or old[:2] != new[:2]:
        return None
    out, changed = list(new[:2]), False
    for a, b in zip(old[2:], new[2:]):
        if a == b:
            out.append(b)
        elif a[0] == b[0] == "tensor" and a[2] == b[2] and len(a[1]) == len(b[1]):
            out.append(("tensor", tuple(x if x == y else None for x, y in zip(a[1], b[1])),
                        b[2]))
            changed = True
        else:
            return None
    return tuple(out) if changed else None


def function(python_function=None, name=None, input_signature=None,
             reduce_retracing=False, autograph=True, jit_compile=None,
             experimental_relax_shapes=None, experimental_compile=None):
    """Decorator: trace and compile once per input signature.

    input_signature: a list of kiln.TensorSpec, one per tensor argument
    (None extents are known only at run time): one trace serves every call
    that fits, and a call that does not is an error. reduce_retracing: a
    call whose shapes differ from an earlier trace's traces once more with
    the differing extents open, which then serves both. autograph=False
    leaves Python control flow as it is. (jit_compile and TensorFlow 2's
    older experimental_compile are accepted: everything is compiled;
    experimental_relax_shapes is reduce_retracing's older name.)"""
    if experimental_relax_shapes:
        reduce_retracing = True
    if python_function is None:
        return lambda f: Function(f, name, input_signature, reduce_retracing, autograph)
    return Function(python_function, name, input_signature, reduce_retracing, autograph)
