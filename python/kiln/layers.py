"""kiln.layers and models: Keras-style building blocks.

A layer creates its weights (kiln.Variables) the first time it is called,
from the shape of its input, then computes with kiln ops, so the same
layer runs eagerly, under a GradientTape and inside @kiln.function.
Models are layers made of layers: `kiln.Sequential([...])`, or a subclass
of `kiln.Model` (alias `kiln.Network`) that assigns layers to attributes
and defines `call`.
"""

import builtins
import functools
import inspect
import itertools
import re
import threading

import numpy as np

from . import _dispatch, _hashing, errors, strings as kstrings
from . import (activations, constraints, control_flow, image, initializers, math_ops,
               mixed_precision, nn, ops, random, regularizers, training)
from ._recording import record_subclass, recording_init
from .dtypes import as_dtype, bool as bool_, float32, string as string_
from .module import Module, _leaves, _walking, current_name_scope
from . import ragged as ragged_module
from .ragged import RaggedTensor
from .tensor import Tensor, _open_entries, constant, convert_to_tensor
from .variables import Variable, init_scope

_counters = {}
# When each variable first came to a layer (add_weight or an attribute):
# the order a layer lists its own variables in.
_sequence = itertools.count(1)


def _number(variable):
    if not hasattr(variable, "_kiln_sequence"):
        variable._kiln_sequence = next(_sequence)


def _default_name(cls):
    base = re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", cls.__name__).lower()
    count = _counters.setdefault(base, itertools.count())
    n = next(count)
    return base if n == 0 else f"{base}_{n}"


def _takes_mask(call):
    """Whether a layer's call takes `mask` by name."""
    try:
        return "mask" in inspect.signature(call).parameters
    except (TypeError, ValueError):
        return False


def _mask_of(value):
    """The Keras mask attached to a tensor, or None; for a list of inputs
    (a merge, attention's [query, value]), the list of their masks (None
    where one has none), or None when none has one."""
    if isinstance(value, (list, tuple)):
        masks = [_mask_of(v) if isinstance(v, Tensor) else None for v in value]
        return masks if any(m is not None for m in masks) else None
    return getattr(value, "_keras_mask", None) if isinstance(value, Tensor) else None


def _attach_mask(outputs, mask):
    """Attaches `mask` (one, or one per output) to the output tensors."""
    if isinstance(outputs, Tensor):
        outputs = [outputs]
        mask = [mask]
    elif isinstance(outputs, (list, tuple)):
        mask = list(mask) if isinstance(mask, (list, tuple)) else \
            [mask] + [None] * (len(outputs) - 1)
    else:
        return
    for out, m in zip(outputs, mask):
        # (A list of masks is its inputs', which a layer passing its mask on
        # leaves to no single output.)
        if isinstance(out, Tensor) and isinstance(m, Tensor):
            out._keras_mask = m


@functools.lru_cache(maxsize=None)
def _takes_training(call):
    try:
        return "training" in inspect.signature(call).parameters or any(
            p.kind == p.VAR_KEYWORD
            for p in inspect.signature(call).parameters.values())
    except (TypeError, ValueError):
        return True


@functools.lru_cache(maxsize=None)
def _training_parameter(call):
    """(whether call names a `training` parameter, its default or None, its
    position among the arguments after the inputs or None)."""
    try:
        parameters = list(inspect.signature(call).parameters.values())
    except (TypeError, ValueError):
        return False, None, None
    names = [p.name for p in parameters]
    if "training" not in names:
        return False, None, None
    parameter = parameters[names.index("training")]
    position = None
    if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
        position = names.index("training") - 2    # (after self and the inputs)
    default = parameter.default
    return True, default if isinstance(default, bool) else None, position


# Keras' call context: the training mode of the layer call under way, which
# a layer called inside it without its own `training` takes (a subclassed
# layer's Dropout or BatchNormalization that its call does not pass it to).
_call_context = threading.local()


class _training_scope:
    """Resolves a layer call's `training` as Keras does (given, else the
    enclosing call's, else the call's default), puts it in `kwargs` when
    the call names it, and makes it the context of the calls inside."""

    def __init__(self, layer, args, kwargs):
        named, default, position = _training_parameter(type(layer).call)
        positional = position is not None and 0 <= position < len(args)
        given = args[position] if positional else kwargs.get("training")
        training = given if given is not None else getattr(_call_context, "training", None)
        if training is None:
            training = default
        if named and not positional and training is not None:
            kwargs["training"] = training
        self.training = training

    def __enter__(self):
        self.saved = getattr(_call_context, "training", None)
        if self.training is not None:
            _call_context.training = self.training
        return self

    def __exit__(self, *exc):
        _call_context.training = self.saved
        return False


def _activation(identifier):
    """A layer's activation: None for none ("linear" too), else the function
    (kiln.activations.get)."""
    if identifier is None or identifier == "linear":
        return None
    return activations.get(identifier)


def _pair(value, what):
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f"{what} must be an int or a pair, got {value!r}")
    return value



def _autograph_call(call):
    """A layer's `call` that, while a @kiln.function traces, runs with its
    kiln.range loops rewritten (AutoGraph for the methods a compiled step
    reaches: a model's loop over time steps, also through super().call)."""
    @functools.wraps(call)
    def call_with_autograph(self, *args, **kwargs):
        from . import autograph, tracing
        if tracing.current_trace() is not None:
            return autograph.convert(call)(self, *args, **kwargs)
        return call(self, *args, **kwargs)
    call_with_autograph._kiln_autograph = True
    return call_with_autograph


# kiln.saving's save_model and model_to_json (it registers them: saving
# builds on layers, not the other way round).
_model_writer = [None]


def _shapes_of(value):
    """A symbolic tensor's shape as a tuple; a list (or dict) of them."""
    if isinstance(value, dict):
        return {k: _shapes_of(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shapes_of(v) for v in value]
    return tuple(value.shape)


def _graph_property(what, find):
    """A property `what` whose value is find(self), unless the object set
    an attribute of that name itself (a subclass's `self.output = ...`)."""
    key = "_user_" + what

    def get(self):
        return self.__dict__[key] if key in self.__dict__ else find(self)

    def put(self, value):
        object.__setattr__(self, key, value)
    return property(get, put)


def _marking_built(build):
    """A layer's build that leaves it built, as Keras' does: a build
    called by hand (a layer building its sublayers, model.build(shape))
    is not repeated by the first call, which would make the weights again."""
    @functools.wraps(build)
    def wrapper(self, *args, **kwargs):
        out = build(self, *args, **kwargs)
        self.built = True
        unused = set(self.__dict__.get("_weight_constraints", {})) - \
            self.__dict__.get("_used_constraints", set())
        if unused and not isinstance(self, Model):
            raise ValueError(
                f"{self.name}: {', '.join(sorted(u + '_constraint' for u in unused))} "
                f"constrains no weight of {type(self).__name__} (its weights: "
                f"{[n for n, _ in self._weights]})")
        shape = args[0] if args else kwargs.get("input_shape")
        if isinstance(shape, (list, tuple)) and "_build_input_shape" not in self.__dict__:
            self._build_input_shape = tuple(shape)  # (model.save)
        return out
    wrapper._kiln_marks_built = True
    return wrapper


def _channels_moved(x, last):
    """x with its channels moved last (from second), or back (last=False)."""
    x = convert_to_tensor(x)
    rank = x.ndim
    perm = [0] + list(range(2, rank)) + [1] if last else [0, rank - 1] + list(range(1, rank - 1))
    return ops.transpose(x, perm)


class Layer(Module):
    """Base class: weights made by `add_weight` in `build`, math in `call`.
    Variables and Modules assigned to attributes (also in lists, tuples and
    dicts) are tracked too, as Keras tracks them."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("call")
        if inspect.isfunction(call) and not getattr(call, "_kiln_autograph", False):
            cls.call = _autograph_call(call)
        build = cls.__dict__.get("build")
        if inspect.isfunction(build) and not getattr(build, "_kiln_marks_built", False):
            cls.build = _marking_built(build)
        record_subclass(cls)

    def __init__(self, name=None, trainable=True, dtype=None,
                 input_shape=None, activity_regularizer=None, batch_size=None,
                 batch_input_shape=None, **kwargs):
        # Keras' `<weight>_constraint` arguments (kernel_constraint, ...):
        # add_weight gives the weight of that name its constraint.
        own = {k[:-len("_constraint")]: constraints.get(kwargs.pop(k))
               for k in [k for k in kwargs if k.endswith("_constraint")]}
        object.__setattr__(self, "_weight_constraints", {k: v for k, v in own.items() if v})
        if type(self)._layout and "data_format" in kwargs:
            # (Keras' data_format on a layer written for channels last: a
            # channels_first input is transposed around its call.)
            self.data_format = _data_format(kwargs.pop("data_format"))
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword "
                            f"arguments {sorted(kwargs)}")
        object.__setattr__(self, "_layers", [])  # (attribute path, layer)
        # (attribute path, Variable or non-layer Module)
        object.__setattr__(self, "_tracked", [])
        self._weights = []                       # (weight name, Variable)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._call_losses = []  # add_loss values of the last call
        self.built = False
        self.trainable = trainable
        # A dtype, a dtype policy or its name ("mixed_float16"); None: the
        # global policy (kiln.mixed_precision.set_global_policy).
        self.dtype = dtype
        if batch_input_shape is not None:   # (Keras 2: the batch, then input_shape)
            batch_size, input_shape = batch_input_shape[0], tuple(batch_input_shape[1:])
        self.input_shape = input_shape  # accepted as in Keras; not needed
        # (a Sequential model's first layer: the batch it is built with, which
        # a stateful RNN keeps)
        object.__setattr__(self, "_batch_size",
                           None if batch_size is None else int(batch_size))
        self.name = name or _default_name(type(self))
        # (Not validated as a Module's name is: Keras takes any string.)
        self._scope_name = f"{current_name_scope()}{self.name}/"

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, value):
        object.__setattr__(self, "_name", value)

    # Layers, Variables and Modules assigned to attributes (or inside lists,
    # tuples and dicts there) are tracked, so a model's variables are its
    # layers' variables and those it holds itself.
    def __setattr__(self, attr, value):
        if "_layers" in self.__dict__:
            stale = lambda entry: entry[0] == attr or entry[0].startswith(attr + "/")
            layers = [l for l in self._layers if not stale(l)]
            tracked = [t for t in self._tracked if not stale(t)]
            for path, leaf in _leaves(value, attr):
                (layers if isinstance(leaf, Layer) else tracked).append((path, leaf))
                if isinstance(leaf, Variable):
                    _number(leaf)
            object.__setattr__(self, "_layers", layers)
            object.__setattr__(self, "_tracked", tracked)
        object.__setattr__(self, attr, value)

    @property
    def trainable(self):
        return self.__dict__.get("_trainable", True)

    @trainable.setter
    def trainable(self, value):
        """As Keras: the flag goes to every layer inside too (freezing a base
        model freezes its layers: their weights, and a BatchNormalization's
        batch statistics, which a frozen one no longer uses)."""
        value = bool(value)
        seen = set()

        def apply(layer):
            if id(layer) in seen:
                return
            seen.add(id(layer))
            object.__setattr__(layer, "_trainable", value)
            for _, inner in layer.__dict__.get("_layers", []):
                apply(inner)
        apply(self)

    @property
    def dtype(self):
        """The dtype of the layer's variables (Keras' `dtype`): the policy's
        variable dtype."""
        return self._dtype_policy.variable_dtype

    @dtype.setter
    def dtype(self, value):
        self._dtype_policy = mixed_precision.policy_of(value)

    @property
    def dtype_policy(self):
        return self._dtype_policy

    @property
    def compute_dtype(self):
        """What the layer computes in: its inputs are cast to it and, under
        a mixed policy, its floating variables read as it in `call`."""
        return self._dtype_policy.compute_dtype

    @property
    def variable_dtype(self):
        return self._dtype_policy.variable_dtype

    def add_weight(self, name=None, shape=None, initializer=None, dtype=None, trainable=True,
                   regularizer=None, autocast=True, constraint=None, aggregation=None,
                   synchronization=None, **kwargs):
        """A weight of this layer (Keras' add_weight, in either spelling:
        Keras 2's `add_weight(name, shape, ...)` or Keras 3's
        `add_weight(shape=..., initializer=...)`): `initializer` defaults to
        glorot_uniform for floats and zeros otherwise, `name` to
        "variable" (numbered within the layer); `constraint` (or the
        layer's `<name>_constraint` argument) is applied after each
        optimizer step. `aggregation` and
        `synchronization` are accepted and have no effect (one process
        holds the variables)."""
        for legacy in ("use_resource", "experimental_autocast", "partitioner", "caching_device"):
            kwargs.pop(legacy, None)   # (TensorFlow 1 arguments: no effect)
        if kwargs:
            raise TypeError(f"add_weight: unexpected keyword arguments {sorted(kwargs)}")
        if shape is None and isinstance(name, (tuple, list)):
            name, shape = None, name   # (Keras 3: shape first)
        shape = () if shape is None else shape
        if name is None:
            taken = {n for n, _ in self._weights}
            name, k = "variable", 0
            while name in taken:
                k += 1
                name = f"variable_{k}"
        if initializer is None:
            kind = as_dtype(dtype or self.variable_dtype)
            initializer = "glorot_uniform" if kind.is_floating else "zeros"
        init = initializers.get(initializer)
        with init_scope():
            value = init(tuple(int(d) for d in shape), dtype or self.variable_dtype)
        if constraint is not None:
            constraint = constraints.get(constraint)
        else:   # (Keras' names: recurrent_constraint for "recurrent_kernel", ...)
            table = self.__dict__.get("_weight_constraints", {})
            key = name if name in table else name[:-len("_kernel")] \
                if name.endswith("_kernel") and name[:-len("_kernel")] in table else None
            constraint = table.get(key)
            if key is not None:
                self.__dict__.setdefault("_used_constraints", set()).add(key)
        variable = Variable(value, name=f"{self.name}/{name}",
                            trainable=trainable, constraint=constraint)
        # Keras' AutoCastVariable: read as the compute dtype in call.
        variable._autocast = bool(autocast) and variable.dtype.is_floating and \
            self.compute_dtype != self.variable_dtype
        self._weights.append((name, variable))
        _number(variable)
        regularizer = regularizers.get(regularizer)
        if regularizer is not None:
            self.__dict__.setdefault("_regularized", []).append((variable, regularizer))
        return variable

    def _restore_deferred(self, inputs):
        """Checkpoint values restored before this model had weights: one
        eager call on zeros shaped like `inputs` (a batch of one) creates
        the weights, then the values are assigned, before the real call
        computes with them."""
        def zeros_like_input(x):
            if isinstance(x, (list, tuple)):
                return type(x)(zeros_like_input(v) for v in x)
            shape = tuple(1 if d is None else d for d in getattr(x, "shape", np.shape(x)))
            dtype = getattr(x, "dtype", None)
            dtype = as_dtype(dtype) if dtype is not None else float32
            return convert_to_tensor(np.zeros(shape, dtype.as_numpy_dtype), dtype)
        deferred = self.__dict__["_deferred_restore"]
        del self.__dict__["_deferred_restore"]
        try:
            with init_scope(), _probing():
                self(zeros_like_input(inputs))
        finally:
            self.__dict__["_deferred_restore"] = deferred
        deferred(self)

    def _symbolic_call(self, inputs, args, kwargs):
        """A call on kiln.Input tensors (the functional API): the layer runs
        once on zeros of a batch of 1, which builds its weights and gives
        the output's shape, and the call is recorded for Model(inputs,
        outputs) to replay."""
        # (Positional and keyword arguments may be KerasTensors too, as in
        # MultiHeadAttention()(query, value, attention_mask=mask).)
        sample = _map_keras(inputs, {}, placeholder=True)
        open_inner = any(None in t.shape[1:] for t in
                         _flatten_keras([inputs, list(args), list(kwargs.values())])
                         if isinstance(t, KerasTensor))
        probe = {k: v for k, v in kwargs.items() if k != "training"}
        # (A training flag given here is the node's own: Keras'
        # base(x, training=False) keeps the base in inference mode in fit.)
        recorded = dict(probe)
        if kwargs.get("training") is not None and (
                isinstance(self, Model) or _takes_training(type(self).call)):
            recorded["training"] = bool(kwargs["training"])
        with init_scope(), _probing():
            out = self(sample, *_map_keras(list(args), {}, placeholder=True),
                       **{k: _map_keras(v, {}, placeholder=True) for k, v in probe.items()})
        open_at = set()
        if open_inner:
            # (open extents besides the batch: probed at two lengths, the
            # output extents that follow them are open too)
            other = (1, _OPEN_PROBES[1])
            try:
                with init_scope(), _probing():
                    again = self(_map_keras(inputs, {}, placeholder=other),
                                 *_map_keras(list(args), {}, placeholder=other),
                                 **{k: _map_keras(v, {}, placeholder=other)
                                    for k, v in probe.items()})
            except (errors.OpError, ValueError) as e:
                shapes = [t.shape for t in _flatten_keras(inputs)
                          if isinstance(t, KerasTensor)]
                raise ValueError(
                    f"{self.name} ({type(self).__name__}) cannot take inputs of shape "
                    f"{', '.join(str(s) for s in shapes)} whose extents besides the batch "
                    "are open there: its weights or its computation need them known "
                    f"(give the Input those extents; at a second length: {e})") from None
            for i, (a, b) in enumerate(zip(_flatten_keras(out), _flatten_keras(again))):
                open_at |= {(i, d) for d, (x, y) in enumerate(zip(a.shape, b.shape))
                            if x != y}
        first = _flatten_keras(inputs)[0].shape
        batch = first[0] if first else None     # (a scalar: an op's result)
        if isinstance(out, (list, tuple)):
            # Several outputs (an RNN's return_state, ...): one KerasTensor
            # each, sharing the one call that computes them all.
            if any(isinstance(o, (list, tuple)) for o in out):
                raise ValueError(f"{self.name}: nested lists of outputs are not "
                                 "supported by the functional API")
            call = object()
            shaped = lambda i, o: (batch,) + tuple(
                None if (i, d) in open_at else e for d, e in enumerate(o.shape) if d > 0)
            result = type(out)(
                KerasTensor(shaped(i, o), o.dtype, self, inputs,
                            recorded, call=call, index=i, args=args)
                for i, o in enumerate(out))
        elif isinstance(out, dict):
            # (a model with a dict of outputs: each keyed by its name)
            call = object()
            result = {k: KerasTensor((batch,) + tuple(
                None if (i, d) in open_at else e for d, e in enumerate(o.shape) if d > 0),
                o.dtype, self, inputs, recorded, call=call, index=k, args=args)
                for i, (k, o) in enumerate(out.items())}
        else:
            result = KerasTensor((batch,) + tuple(
                None if (0, d) in open_at else e for d, e in enumerate(out.shape) if d > 0),
                out.dtype, self, inputs, recorded, args=args)
        # (What layer.input and layer.output give: Keras' inbound nodes.)
        self.__dict__.setdefault("_symbolic_calls", []).append((inputs, result))
        return result

    def _first_call(self, what):
        calls = self.__dict__.get("_symbolic_calls", [])
        if not calls:
            raise AttributeError(f"{self.name}.{what}: the layer has not been called on "
                                 "kiln.Input tensors (a functional model's or a built "
                                 "Sequential's layers have one)")
        return calls[0]     # (Keras 3: the first call's, when there are several)

    # Keras' layer.input / layer.output: the symbolic tensors of the
    # layer's call in a functional graph (its first, as Keras 3).
    input = _graph_property("input", lambda self: self._first_call("input")[0])
    output = _graph_property("output", lambda self: self._first_call("output")[1])
    # Keras' output_shape: the output's shape (a list of them for several).
    output_shape = _graph_property("output_shape", lambda self: _shapes_of(self.output))

    def add_loss(self, value):
        """Adds a loss term (a scalar tensor computed in `call`, e.g. from
        its outputs) to `losses` until the layer's next call. On a
        functional model, a term computed from its symbolic tensors
        (Keras 2's model.add_loss(kl)) is computed at every call."""
        if _has_keras(value) and isinstance(self, Model):
            self._add_symbolic("_symbolic_losses", value, None)
            return
        self._call_losses.append(value)

    def add_metric(self, value, name=None, aggregation="mean"):
        """Keras 2's add_metric: the running mean of `value` (a tensor
        computed in `call`; on a functional model, from its symbolic
        tensors) logged by fit and evaluate as `name`."""
        if aggregation not in ("mean", None):
            raise ValueError(f"add_metric: aggregation {aggregation!r}; Kiln keeps a mean")
        if name is None:
            raise ValueError("add_metric needs a name (the log's key)")
        if _has_keras(value) and isinstance(self, Model):
            self._add_symbolic("_symbolic_metrics", value, name)
            return
        from .metrics import Mean
        trackers = self.__dict__.setdefault("_added_metrics", {})
        if name not in trackers:
            with init_scope():
                trackers[name] = Mean(name=name)
        trackers[name].update_state(value)

    @property
    def losses(self):
        """The regularization penalties of this layer's weights (computed
        now: inside a compiled step, from the weights' current values), the
        terms its last call added (add_loss, activity_regularizer), and its
        layers' losses; Model.fit adds them to the loss."""
        out = [reg(variable.read_value())
               for variable, reg in self.__dict__.get("_regularized", [])]
        out.extend(self.__dict__.get("_call_losses", []))
        for _, layer in self._layers:
            out.extend(layer.losses)
        return out

    def build(self, input_shape):
        """Creates the weights for inputs of `input_shape`."""

    def call(self, inputs):
        raise NotImplementedError(f"{type(self).__name__} does not define call")

    # Whether integer and bool inputs take the compute dtype too (the layers
    # whose weights are floats and whose ops have no integer meaning: a
    # Dense or a convolution on uint8 pixels, as Keras' Dense casts).
    _casts_integers = False
    # How a layer written for channels last takes Keras' data_format=
    # "channels_first": "wrap" (its input's channels moved last, its
    # output's back), "flatten" (the input's only, as Keras' Flatten), or
    # None (no data_format argument, or the layer's own).
    _layout = None

    def _cast_inputs(self, inputs):
        """Floating inputs take the layer's compute dtype (float64 NumPy
        arrays become float32), as Keras does."""
        kinds = "fiub" if self._casts_integers else "f"
        if isinstance(inputs, (Tensor, np.ndarray)) and \
                np.dtype(getattr(inputs.dtype, "as_numpy_dtype", inputs.dtype)).kind in kinds:
            t = convert_to_tensor(inputs)
            dtype = as_dtype(self.compute_dtype)
            return t if t.dtype == dtype else ops.cast(t, dtype)
        return inputs

    # Keras masking: a layer with supports_masking passes the mask of its
    # input on unchanged; compute_mask says otherwise (Embedding with
    # mask_zero makes one, an RNN without return_sequences drops it). A
    # call that takes `mask` gets the input's.
    supports_masking = False

    def compute_mask(self, inputs, mask=None):
        return mask if self.supports_masking else None

    # What the layer does with a RaggedTensor input, as Keras' layers:
    # "values" (the layer works on each value's features: Dense, Dropout,
    # activations: the rows are kept), "padded" (recurrent layers: the
    # rows padded, their lengths as the mask, sequences back to rows),
    # None (the layer's call takes it, or refuses it).
    _ragged_inputs = None

    def _call_ragged(self, inputs, args, kwargs):
        if self._ragged_inputs == "values":
            if inputs.ndim < 3:
                raise TypeError(f"{self.name}: a RaggedTensor of shape "
                                f"{list(inputs.shape)} has no feature dimension; "
                                "pad it with .to_tensor()")
            # (the values lack the rows and the ragged dimension: an axis
            # counted from the front would point elsewhere there)
            axes = getattr(self, "axis", -1)
            axes = axes if isinstance(axes, (list, tuple)) else [axes]
            if any(a is not None and a >= 0 for a in axes) or \
                    getattr(self, "noise_shape", None) is not None:
                raise TypeError(f"{self.name}: on a RaggedTensor the layer works on each "
                                "value's features: give axis counted from the end (-1), "
                                "and no noise_shape")
            return inputs.with_values(self(inputs.values, *args, **kwargs))
        # (each row padded to the width, its steps masked: inside a trace
        # the width is a bound the rows fit, see _padding_width)
        width = inputs._padding_width()
        padded = inputs.to_tensor(shape=[None, width] + [None] * (inputs.ndim - 2))
        flags = inputs.with_values(ops.cast(math_ops.ones_like(
            ragged_module._row_id_tensor(inputs)), "bool"))
        mask = flags.to_tensor(False, shape=[None, width])
        given = kwargs.pop("mask", None)
        if given is not None:  # (a mask of the caller's, over the padded steps)
            mask = ops.logical_and(mask, ops.cast(
                given.to_tensor(False, shape=[None, width]) if isinstance(given, RaggedTensor)
                else
                convert_to_tensor(given), "bool"))
        out = self(padded, *args, mask=mask, **kwargs)
        forward = getattr(self, "forward_layer", self)  # (Bidirectional: its layers')
        if not getattr(forward, "return_sequences", False):
            return out
        first = out[0] if isinstance(out, list) else out
        rows = ragged_module._row_id_tensor(inputs)
        positions = ragged_module._position_tensor(inputs)
        if getattr(self, "go_backwards", False):
            # (the steps ran from the padded end: a row's outputs start
            # where its own last step came, width - length)
            lengths = ops.cast(ops.gather(inputs.row_lengths(), rows), positions.dtype)
            positions = positions + (width - lengths)
        steps = ops.cast(ops.stack([rows, positions], 1), "int64")
        rows = inputs.with_values(math_ops.gather_nd(first, steps))
        return [rows] + out[1:] if isinstance(out, list) else rows

    def __call__(self, inputs, *args, **kwargs):
        if type(inputs) is RaggedTensor and self._ragged_inputs is not None:
            return self._call_ragged(inputs, args, kwargs)
        if _has_keras(inputs):
            return self._symbolic_call(inputs, args, kwargs)
        if "_deferred_restore" in self.__dict__:
            self._restore_deferred(inputs)
        mask = kwargs["mask"] if "mask" in kwargs else _mask_of(inputs)
        if mask is not None and "mask" not in kwargs and _takes_mask(type(self).call):
            kwargs["mask"] = mask
        inputs = self._cast_inputs(inputs)
        first = type(self)._layout and getattr(self, "data_format", None) == "channels_first"
        if first:
            inputs = _channels_moved(inputs, last=True)
        if mask is not None and isinstance(inputs, Tensor) and _mask_of(inputs) is None:
            inputs._keras_mask = mask  # (a cast copy keeps it)
        if not self.built:
            shape = getattr(inputs, "shape", None)
            if shape is None:
                inputs = convert_to_tensor(inputs)
                shape = inputs.shape
            self.build(tuple(shape))
            self.built = True
            self._build_input_shape = tuple(shape)  # (model.save)
        if "training" in kwargs and not _takes_training(type(self).call):
            kwargs.pop("training")
        self._call_losses = []
        with mixed_precision.autocast_scope(self.compute_dtype), _training_scope(self, args, kwargs):
            out = self.call(inputs, *args, **kwargs)
        if first and type(self)._layout == "wrap":
            out = _channels_moved(out, last=False)
        self._output_shape = getattr(out, "shape", None)  # (for summary())
        if self.activity_regularizer is not None:
            self.add_loss(self.activity_regularizer(out))
        _attach_mask(out, self.compute_mask(inputs, mask))
        return out

    @property
    def layers(self):
        return [layer for _, layer in self._layers]

    def _named_variables(self, prefix="", _visiting=None):
        """(path, Variable) for every weight of this layer, the variables
        and modules it holds and its layers: the names checkpoints use."""
        with _walking(self, _visiting) as visiting:
            if visiting is None:
                return
            for name, variable in self._own_variables():
                yield prefix + name, variable
            for path, leaf in self._tracked:
                if not isinstance(leaf, Variable):
                    yield from leaf._named_variables(f"{prefix}{path}/", visiting)
            for attr, layer in self._layers:
                yield from layer._named_variables(f"{prefix}{attr}/", visiting)

    def _own_variables(self):
        """(name, Variable) of the weights add_weight made and the variables
        assigned to attributes, each once, in the order they came (Keras'
        order: a variable assigned in __init__ comes before the weights
        build makes)."""
        own = {}
        for name, variable in self._weights:
            own.setdefault(id(variable), (name, variable))
        for path, leaf in self._tracked:
            if isinstance(leaf, Variable):
                own.setdefault(id(leaf), (path, leaf))
        return sorted(own.values(), key=lambda e: getattr(e[1], "_kiln_sequence", 0))

    @property
    def variables(self):
        """Keras' order: the trainable weights, then the others (so
        get_weights / set_weights lists line up with Keras')."""
        trainable = self.trainable_variables
        taken = {id(v) for v in trainable}
        out = list(trainable)
        for _, v in self._named_variables():
            if id(v) not in taken:
                taken.add(id(v))
                out.append(v)
        return out

    weights = variables

    def _trainable_named(self, _visiting=None):
        """The trainable weights, given this layer's and its parents'
        current `trainable` flags (a layer that refers back to one being
        walked is not walked again)."""
        if not self.trainable:
            return
        with _walking(self, _visiting) as visiting:
            if visiting is None:
                return
            for _, variable in self._own_variables():
                if variable.trainable:
                    yield variable
            for _, leaf in self._tracked:
                if not isinstance(leaf, Variable):
                    yield from (v for _, v in leaf._named_variables("", visiting)
                                if v.trainable)
            for _, layer in self._layers:
                yield from layer._trainable_named(visiting)

    @property
    def trainable_variables(self):
        seen, out = set(), []
        for v in self._trainable_named():
            if id(v) not in seen:
                seen.add(id(v))
                out.append(v)
        return out

    @property
    def non_trainable_variables(self):
        trainable = {id(v) for v in self.trainable_variables}
        return [v for v in self.variables if id(v) not in trainable]

    trainable_weights = trainable_variables
    non_trainable_weights = non_trainable_variables

    def get_weights(self):
        """The weights' values as NumPy arrays, in `weights`' order."""
        return training.get_weights(self)

    def set_weights(self, weights):
        """Assigns NumPy arrays to the weights, in `weights`' order (as many,
        of the same shapes)."""
        training.set_weights(self, weights)

    def count_params(self):
        """The number of scalars in the layer's weights (it must be built)."""
        if not self.built:
            raise ValueError(f"{self.name}: count_params needs the layer built (call it on "
                             "an input, or call build(input_shape), first)")
        return int(sum(int(np.prod(v.shape)) for v in self.weights))

    def get_config(self):
        """The arguments to make this layer again (Keras' get_config): its
        name, trainable flag and dtype policy, and the arguments its
        constructor was called with. A subclass that overrides get_config
        gets only the first three from super().get_config() and adds its
        own, as in Keras 3."""
        base = {"name": self.name, "trainable": bool(self.trainable),
                "dtype": self.dtype_policy.name}
        if self._own_config():
            return base
        recorded = dict(self.__dict__.get("_init_arguments") or {})
        if "*args" in recorded:
            raise NotImplementedError(
                f"{type(self).__name__}.get_config: the constructor took extra positional "
                "arguments (*args), which a config cannot name; override get_config")
        config = {k: v for k, v in recorded.items() if k not in ("inputs", "outputs")}
        config.update(base)
        return config

    @classmethod
    def _own_config(cls):
        """Whether the class defines get_config itself (a user's override,
        not Kiln's): its config is what it returns, and model.save writes
        that and load_model calls its from_config."""
        return cls.get_config.__module__ != __name__ or \
            cls.__dict__.get("_saves_by_config", False)

    @classmethod
    def from_config(cls, config):
        """A layer made from get_config's dictionary: cls(**config)."""
        return cls(**config)

    def compute_output_shape(self, input_shape):
        """The shape of the layer's output for inputs of `input_shape` (its
        first entry, the batch, may be None): the layer run once on zeros of
        a batch of one (which builds it), as Keras infers it."""
        def zeros(shape):
            if isinstance(shape, (list, tuple)) and shape and \
                    isinstance(shape[0], (list, tuple)):
                return [zeros(s) for s in shape]
            dims = tuple(1 if d is None else int(d) for d in shape)
            return convert_to_tensor(np.zeros(dims, np.float32))

        def shape_of(out, batch):
            if isinstance(out, (list, tuple)):
                return type(out)(shape_of(o, batch) for o in out)
            return (batch,) + tuple(out.shape[1:])
        first = input_shape[0] if isinstance(input_shape[0], (list, tuple)) else input_shape
        with init_scope():
            out = self(zeros(input_shape))
        return shape_of(out, first[0])

    def __repr__(self):
        return f"<{type(self).__name__} '{self.name}'>"


class Dense(Layer):
    """outputs = activation(inputs @ kernel + bias)."""

    _casts_integers = True
    supports_masking = True
    _ragged_inputs = "values"

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None,
                 name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.units = int(units)
        self.activation = _activation(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"{self.name}: Dense needs inputs of rank >= 2 "
                             f"(batch, features), got shape {input_shape}")
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units),
                                      self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = (self.add_weight("bias", (self.units,), self.bias_initializer,
                                     regularizer=self.bias_regularizer)
                     if self.use_bias else None)

    def call(self, inputs):
        if hasattr(inputs, "_kiln_trace_key") and hasattr(inputs, "indices"):  # SparseTensor
            from .sparse import sparse_dense_matmul
            if inputs.ndim != 2:
                raise ValueError(f"{self.name}: a SparseTensor input must be 2-D (batch, "
                                 f"features), got shape {list(inputs.shape)}")
            if inputs.dtype != as_dtype(self.compute_dtype):  # (as Keras casts inputs)
                inputs = inputs.with_values(ops.cast(inputs.values, self.compute_dtype))
            y = sparse_dense_matmul(inputs, self.kernel)
            if self.bias is not None:
                y = y + self.bias
            return self.activation(y) if self.activation else y
        x = convert_to_tensor(inputs)
        if len(x.shape) > 2 and list(x.shape[:-1]).count(None) > 1:
            # (several open extents, batch and steps: a batched product
            # keeps them apart, where a reshape would join them)
            y = ops.matmul(x, self.kernel)
        elif len(x.shape) > 2:  # dense over the last axis
            lead = x.shape[:-1]
            y = ops.matmul(ops.reshape(x, (-1, x.shape[-1])), self.kernel)
            y = ops.reshape(y, (*lead, self.units))
        else:
            y = ops.matmul(x, self.kernel)
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y) if self.activation else y


def _convolution_options(layer, kernel_size, strides, padding, activation, use_bias,
                         window=None):
    """The options every 2-D (or, with window=_triple, 3-D) convolution
    layer shares, checked and set on `layer`."""
    window = window or _pair
    layer.kernel_size = window(kernel_size, "kernel_size")
    layer.strides = window(strides, "strides")
    if padding.lower() not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    layer.padding = padding.upper()
    layer.activation = _activation(activation)
    layer.use_bias = use_bias


class Conv2D(Layer):
    """2-D convolution over NHWC inputs with an HWIO kernel (Keras'
    Conv2D): `dilation_rate`, `groups` (the channels split into groups
    convolved apart; kernel (h, w, channels / groups, filters)) and
    data_format="channels_first" (NCHW inputs and outputs) too."""

    _casts_integers = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 data_format=None, dilation_rate=1, groups=1,
                 activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None,
                 name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.filters = int(filters)
        _convolution_options(self, kernel_size, strides, padding, activation, use_bias)
        self.dilation_rate = _pair(dilation_rate, "dilation_rate")
        self.groups = int(groups)
        self.data_format = _data_format(data_format)
        if self.groups < 1 or self.filters % self.groups:
            raise ValueError(f"{self.name}: {self.filters} filters do not split into "
                             f"{groups} groups")
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"{self.name}: Conv2D needs inputs of rank 4, "
                             f"got shape {input_shape}")
        channels = input_shape[1] if self.data_format == "channels_first" else input_shape[-1]
        if channels % self.groups:
            raise ValueError(f"{self.name}: {channels} input channels do not split into "
                             f"{self.groups} groups")
        self.kernel = self.add_weight(
            "kernel", (*self.kernel_size, channels // self.groups, self.filters),
            self.kernel_initializer, regularizer=self.kernel_regularizer)
        self.bias = (self.add_weight("bias", (self.filters,), self.bias_initializer,
                                     regularizer=self.bias_regularizer)
                     if self.use_bias else None)

    def call(self, inputs):
        x = convert_to_tensor(inputs)
        if self.data_format == "channels_first":
            x = ops.transpose(x, [0, 2, 3, 1])
        convolve = lambda v, k: nn.conv2d(v, k, list(self.strides), self.padding,
                                          dilations=list(self.dilation_rate))
        if self.groups == 1:
            y = convolve(x, self.kernel)
        else:
            pieces = zip(math_ops.split(x, self.groups, axis=3),
                         math_ops.split(self.kernel, self.groups, axis=3))
            y = ops.concat([convolve(v, k) for v, k in pieces], 3)
        if self.bias is not None:
            y = y + self.bias
        y = self.activation(y) if self.activation else y
        return ops.transpose(y, [0, 3, 1, 2]) if self.data_format == "channels_first" else y


def _data_format(data_format):
    """Keras' data_format: None is channels_last."""
    value = data_format or "channels_last"
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}")
    return value


class Conv1D(Layer):
    """1-D convolution over [batch, steps, channels] inputs: `dilation_rate`,
    and padding="causal" (zeros before the first step, so step t sees only
    steps up to t: WaveNet's, a temporal convolutional network's)."""
    _layout = "wrap"

    _casts_integers = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size if isinstance(kernel_size, int)
                               else kernel_size[0])
        self.strides = int(strides if isinstance(strides, int) else strides[0])
        self.dilation_rate = int(dilation_rate if isinstance(dilation_rate, int)
                                 else dilation_rate[0])
        if padding.lower() not in ("valid", "same", "causal"):
            raise ValueError(f"padding must be 'valid', 'same' or 'causal', got {padding!r}")
        self.padding = padding.upper()
        self.activation = _activation(activation)
        self.use_bias = use_bias
        self._inits = (kernel_initializer, bias_initializer, kernel_regularizer,
                       bias_regularizer)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{self.name}: Conv1D needs inputs of rank 3 "
                             f"(batch, steps, channels), got shape {input_shape}")
        kinit, binit, kreg, breg = self._inits
        self.kernel = self.add_weight("kernel", (self.kernel_size, input_shape[-1],
                                                 self.filters), kinit, regularizer=kreg)
        self.bias = (self.add_weight("bias", (self.filters,), binit, regularizer=breg)
                     if self.use_bias else None)

    def call(self, inputs):
        x, padding = convert_to_tensor(inputs), self.padding
        if padding == "CAUSAL":
            x = math_ops.pad(x, [[0, 0], [(self.kernel_size - 1) * self.dilation_rate, 0],
                                 [0, 0]])
            padding = "VALID"
        y = nn.conv1d(x, self.kernel, self.strides, padding, dilations=self.dilation_rate)
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y) if self.activation else y


def _transposed_length(n, kernel, stride, padding, dilation=1, output_padding=None):
    """Keras' output length of a transposed convolution: n * stride, and
    for 'valid' what the (dilated) window reaches past the last stride;
    with output_padding, (n - 1) * stride + the window - 2 * the padding +
    output_padding (Keras' deconv_output_length)."""
    span = (kernel - 1) * dilation + 1
    if output_padding is not None:
        pad = span // 2 if padding == "SAME" else 0
        return (n - 1) * stride + span - 2 * pad + output_padding
    return n * stride if padding == "SAME" else n * stride + max(span - stride, 0)


def _transposed_weights(layer, window, input_shape):
    """A transposed convolution's kernel (*window, filters, in) and bias."""
    kinit, binit = layer._inits
    layer.kernel = layer.add_weight("kernel", (*window, layer.filters, input_shape[-1]),
                                    kinit)
    layer.bias = (layer.add_weight("bias", (layer.filters,), binit)
                  if layer.use_bias else None)


class Conv2DTranspose(Layer):
    """The transpose of a 2-D convolution (NHWC): each input pixel spreads
    the kernel over a stride-spaced output; kernel (h, w, filters, in)."""
    _layout = "wrap"     # (data_format="channels_first": see Layer._layout)

    _casts_integers = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 output_padding=None, data_format=None, dilation_rate=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.filters = int(filters)
        _convolution_options(self, kernel_size, strides, padding, activation, use_bias)
        self._inits = (kernel_initializer, bias_initializer)
        self.output_padding = None if output_padding is None else \
            _pair(output_padding, "output_padding")
        self.dilation_rate = _pair(dilation_rate, "dilation_rate")
        self.data_format = _data_format(data_format)
        if self.output_padding is not None and any(
                p >= st for p, st in zip(self.output_padding, self.strides)):
            raise ValueError(f"{self.name}: output_padding {self.output_padding} must be "
                             f"smaller than the strides {tuple(self.strides)} (Keras' rule)")

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"{self.name}: Conv2DTranspose needs inputs of rank 4, got "
                             f"shape {input_shape}")
        _transposed_weights(self, self.kernel_size, input_shape)

    def call(self, inputs):
        x = convert_to_tensor(inputs)
        pads = self.output_padding or (None, None)
        out_shape = (x.shape[0], *(_transposed_length(n, k, st, self.padding, d, p)
                                   for n, k, st, d, p in
                                   zip(x.shape[1:3], self.kernel_size, self.strides,
                                       self.dilation_rate, pads)),
                     self.filters)
        y = nn.conv2d_transpose(x, self.kernel, out_shape, list(self.strides),
                                self.padding, dilations=list(self.dilation_rate))
        return _biased(self, y)


class DepthwiseConv2D(Layer):
    """Each input channel convolved with its own depth_multiplier filters
    (NHWC; kernel (h, w, channels, multiplier))."""
    _layout = "wrap"

    _casts_integers = True

    _window = None        # (2-D; the 1-D subclass: a row)
    _rows = False

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 dilation_rate=1, name=None, **kwargs):
        super().__init__(name, **kwargs)
        _convolution_options(self, kernel_size, strides, padding, activation, use_bias,
                             window=type(self)._window)
        self.depth_multiplier = int(depth_multiplier)
        self._inits = (depthwise_initializer, bias_initializer)
        _dilation_option(self, dilation_rate)

    def _extent(self):
        """The kernel's window as its weight has it."""
        return self.kernel_size[1:] if self._rows else self.kernel_size

    def build(self, input_shape):
        kinit, binit = self._inits
        channels = input_shape[-1]
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", (*self._extent(), channels, self.depth_multiplier),
            kinit)
        self.bias = (self.add_weight("bias", (channels * self.depth_multiplier,), binit)
                     if self.use_bias else None)

    def call(self, inputs):
        y = nn.depthwise_conv2d(inputs, self.depthwise_kernel, list(self.strides),
                                self.padding, dilations=list(self._dilations))
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y) if self.activation else y


def _dilation_option(layer, dilation_rate):
    """A depthwise layer's dilation_rate (Keras'), as the (h, w) dilations
    of its 2-D convolution (a 1-D layer's: (1, rate)); a dilation above 1
    needs strides of 1, as TensorFlow's."""
    if layer._rows:
        rate = (1, _single_int(dilation_rate, "dilation_rate"))
        layer.dilation_rate = (rate[1],)
    else:
        rate = layer.dilation_rate = _pair(dilation_rate, "dilation_rate")
    if any(r < 1 for r in rate):
        raise ValueError(f"{layer.name}: dilation_rate must be positive, got {dilation_rate!r}")
    if max(rate) > 1 and max(layer.strides) > 1:
        raise ValueError(f"{layer.name}: a dilation_rate above 1 needs strides of 1 "
                         f"(got strides {tuple(layer.strides)})")
    layer._dilations = rate


class SeparableConv2D(Layer):
    """A depthwise convolution (each channel with its own depth_multiplier
    filters) followed by a 1x1 convolution to `filters` channels, as Keras'
    SeparableConv2D (NHWC; weights depthwise_kernel (h, w, channels,
    multiplier) and pointwise_kernel (1, 1, channels * multiplier,
    filters))."""
    _layout = "wrap"

    _casts_integers = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 dilation_rate=1, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.filters = int(filters)
        _convolution_options(self, kernel_size, strides, padding, activation, use_bias,
                             window=type(self)._window)
        self.depth_multiplier = int(depth_multiplier)
        self._inits = (depthwise_initializer, pointwise_initializer, bias_initializer)
        _dilation_option(self, dilation_rate)

    _window = None        # (2-D; the 1-D subclass: a row)
    _rows = False
    _extent = DepthwiseConv2D._extent

    def build(self, input_shape):
        dinit, pinit, binit = self._inits
        channels = input_shape[-1]
        extent = self._extent()
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", (*extent, channels, self.depth_multiplier), dinit)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1,) * len(extent) + (channels * self.depth_multiplier,
                                                     self.filters), pinit)
        self.bias = self.add_weight("bias", (self.filters,), binit) if self.use_bias else None

    def call(self, inputs):
        y = nn.depthwise_conv2d(inputs, self.depthwise_kernel, list(self.strides),
                                self.padding, dilations=list(self._dilations))
        y = nn.conv2d(y, self.pointwise_kernel, 1, "VALID")
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y) if self.activation else y


def _row_window(value, what):
    """A 1-D window as the (1, width) one of a convolution over a height of 1."""
    return (1, _single_int(value, what))


class DepthwiseConv1D(DepthwiseConv2D):
    """Each input channel of [batch, steps, channels] convolved with its
    own depth_multiplier filters (Keras' DepthwiseConv1D; kernel (width,
    channels, multiplier)): DepthwiseConv2D over a height of 1."""
    _window = staticmethod(_row_window)
    _rows = True

    def call(self, inputs):
        return _biased(self, math_ops.squeeze(_row_depthwise(self, inputs), [1]))


def _row_depthwise(layer, inputs):
    """The 1-D layers' depthwise convolution, over a height of 1 (kept)."""
    return nn.depthwise_conv2d(math_ops.expand_dims(inputs, 1),
                               math_ops.expand_dims(layer.depthwise_kernel, 0),
                               list(layer.strides), layer.padding,
                               dilations=list(layer._dilations))


def _biased(layer, y):
    """y with the layer's bias added and its activation applied."""
    if layer.bias is not None:
        y = y + layer.bias
    return layer.activation(y) if layer.activation else y


class SeparableConv1D(SeparableConv2D):
    """DepthwiseConv1D followed by a width-1 convolution to `filters`
    channels (Keras' SeparableConv1D; depthwise_kernel (width, channels,
    multiplier), pointwise_kernel (1, channels * multiplier, filters))."""
    _window = staticmethod(_row_window)
    _rows = True

    def call(self, inputs):
        y = nn.conv2d(_row_depthwise(self, inputs),
                      math_ops.expand_dims(self.pointwise_kernel, 0), 1, "VALID")
        return _biased(self, math_ops.squeeze(y, [1]))


class _Pooling2D(Layer):
    """Pooling of 2-D (or, with _window = _triple, 3-D) windows."""
    _layout = "wrap"
    _op = None
    _window = staticmethod(lambda value, what: _pair(value, what))

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None,
                 **kwargs):
        super().__init__(name, **kwargs)
        self.pool_size = type(self)._window(pool_size, "pool_size")
        self.strides = type(self)._window(strides, "strides") if strides else self.pool_size
        self.padding = padding.upper()

    def call(self, inputs):
        return type(self)._op(inputs, list(self.pool_size), list(self.strides),
                              self.padding)


class MaxPooling2D(_Pooling2D):
    _op = staticmethod(nn.max_pool2d)


class AveragePooling2D(_Pooling2D):
    _op = staticmethod(nn.avg_pool2d)


def _triple(value, what):
    if isinstance(value, (int, np.integer)):
        return (int(value),) * 3
    value = tuple(int(v) for v in value)
    if len(value) != 3:
        raise ValueError(f"{what} must be an int or 3 ints, got {value}")
    return value


class Conv3D(Layer):
    """3-D convolution over [batch, depth, height, width, channels] inputs
    with a (d, h, w, in, out) kernel (Keras' Conv3D; kiln.nn.conv3d)."""
    _layout = "wrap"

    _casts_integers = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.filters = int(filters)
        _convolution_options(self, kernel_size, strides, padding, activation, use_bias,
                             window=_triple)
        self.dilation_rate = _triple(dilation_rate, "dilation_rate")
        self._inits = (kernel_initializer, bias_initializer, kernel_regularizer,
                       bias_regularizer)

    def build(self, input_shape):
        if len(input_shape) != 5:
            raise ValueError(f"{self.name}: Conv3D needs inputs of rank 5 (batch, depth, "
                             f"height, width, channels), got shape {input_shape}")
        kinit, binit, kreg, breg = self._inits
        self.kernel = self.add_weight("kernel", (*self.kernel_size, input_shape[-1],
                                                 self.filters), kinit, regularizer=kreg)
        self.bias = (self.add_weight("bias", (self.filters,), binit, regularizer=breg)
                     if self.use_bias else None)

    def call(self, inputs):
        y = nn.conv3d(inputs, self.kernel, list(self.strides), self.padding,
                      dilations=list(self.dilation_rate))
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y) if self.activation else y


class Conv3DTranspose(Layer):
    """The transpose of a 3-D convolution ([batch, depth, height, width,
    channels]): each input voxel spreads the kernel over a stride-spaced
    output; kernel (d, h, w, filters, in), as Keras' (kiln.nn.conv3d_transpose)."""
    _layout = "wrap"

    _casts_integers = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.filters = int(filters)
        _convolution_options(self, kernel_size, strides, padding, activation, use_bias,
                             window=_triple)
        self.dilation_rate = _triple(dilation_rate, "dilation_rate")
        self._inits = (kernel_initializer, bias_initializer)

    def build(self, input_shape):
        if len(input_shape) != 5:
            raise ValueError(f"{self.name}: Conv3DTranspose needs inputs of rank 5 (batch, "
                             f"depth, height, width, channels), got shape {input_shape}")
        _transposed_weights(self, self.kernel_size, input_shape)

    def call(self, inputs):
        x = convert_to_tensor(inputs)
        extents = [_transposed_length(n, k, st, self.padding, d) for n, k, st, d in
                   zip(x.shape[1:4], self.kernel_size, self.strides, self.dilation_rate)]
        y = nn.conv3d_transpose(x, self.kernel, [x.shape[0], *extents, self.filters],
                                list(self.strides), self.padding,
                                dilations=list(self.dilation_rate))
        return _biased(self, y)


class _Pooling3D(_Pooling2D):
    _window = staticmethod(lambda value, what: _triple(value, what))


class MaxPooling3D(_Pooling3D):
    _op = staticmethod(nn.max_pool3d)


class AveragePooling3D(_Pooling3D):
    _op = staticmethod(nn.avg_pool3d)


class UpSampling3D(Layer):
    """Each voxel repeated size[0] x size[1] x size[2] times."""
    _layout = "wrap"

    def __init__(self, size=(2, 2, 2), name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.size = _triple(size, "size")

    def call(self, inputs):
        x = inputs
        for axis, n in zip((1, 2, 3), self.size):
            x = math_ops.repeat(x, n, axis=axis)
        return x


class Flatten(Layer):
    """Keeps the batch dimension, flattens the rest."""
    _layout = "flatten"

    def call(self, inputs):
        x = convert_to_tensor(inputs)
        rest = x.shape[1:]
        if None in rest:
            return ops.reshape(x, (x.shape[0], -1))
        # The batch extent as it is (None when known only at run time).
        return ops.reshape(x, (x.shape[0], int(np.prod(rest, dtype=np.int64))))


class Activation(Layer):
    supports_masking = True
    _ragged_inputs = "values"

    def __init__(self, activation, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.activation = _activation(activation)

    def call(self, inputs):
        return self.activation(inputs) if self.activation else inputs


# (Layers without a constructor of their own record the base one's.)
Layer.__init__ = recording_init(Layer.__init__)


class Model(Layer):
    """A layer made of layers. Subclass it, assign layers to attributes in
    `__init__` and define `call(inputs)`."""

    def __init__(self, inputs=None, outputs=None, name=None, **kwargs):
        if isinstance(inputs, str) and name is None:  # Model("name")
            inputs, name = None, inputs
        super().__init__(name, **kwargs)
        if inputs is not None or outputs is not None:
            self._init_functional(inputs, outputs)

    def build(self, input_shape=None):
        """Keras' Model.build for a subclassed model: its weights made by
        one call on zeros of `input_shape` (None extents as 1; a list of
        shapes for several inputs). A functional model is built already."""
        if self.built or input_shape is None:
            self.built = True
            return
        several = isinstance(input_shape, (list, tuple)) and input_shape and \
            all(isinstance(s, (list, tuple)) for s in input_shape)
        shapes = list(input_shape) if several else [input_shape]
        zeros = [convert_to_tensor(np.zeros([1 if d is None else int(d) for d in shape],
                                            np.float32)) for shape in shapes]
        self.built = True  # (the call below builds the layers, not this again)
        try:
            self(zeros if several else zeros[0])
        except BaseException:
            self.built = False
            raise
        self._build_input_shape = tuple(tuple(s) for s in shapes) if several \
            else tuple(input_shape)

    # -- the functional API: Model(inputs, outputs) ----------------------
    def _init_functional(self, inputs, outputs):
        """A model that replays the layer calls leading from `inputs`
        (kiln.Input tensors) to `outputs`."""
        # (Inputs given as a dict are called with a dict of the same keys.)
        self._functional_input_names = list(inputs) if isinstance(inputs, dict) else None
        self._functional_inputs = [inputs[k] for k in inputs] if isinstance(inputs, dict) \
            else _flatten_keras(inputs)
        self._functional_outputs = outputs
        order, seen = [], set()

        def visit(t):
            if id(t) in seen:
                return
            seen.add(id(t))
            if t._layer is None:
                if not any(t is i for i in self._functional_inputs):
                    raise ValueError("Model(inputs, outputs): the outputs depend on "
                                     "an Input that is not among the inputs")
                return
            for source in t._sources():
                visit(source)
            order.append(t)
        for t in _flatten_keras(outputs):
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model outputs must come from kiln.Input through "
                                f"layers, got {t!r}")
            visit(t)
        self._nodes = order
        layers, ids = [], set()
        for node in order:
            if id(node._layer) not in ids:
                ids.add(id(node._layer))
                layers.append(node._layer)
        self.functional_layers = layers  # (tracked: weights, checkpoints)
        self.built = True

    def _add_symbolic(self, kind, value, name):
        """A loss or metric of the model's symbolic tensors: the nodes that
        compute it beyond the model's own, run after them at each call."""
        if "_nodes" not in self.__dict__:
            raise ValueError(f"{self.name}: add_loss / add_metric of a symbolic tensor "
                             "needs a functional model (kiln.Model(inputs, outputs))")
        known = {id(n) for n in self._nodes} | {id(t) for t in self._functional_inputs}
        order, seen = [], set()

        def visit(t):
            if id(t) in seen or id(t) in known:
                return
            seen.add(id(t))
            if t._layer is None:
                raise ValueError(f"{self.name}: the added tensor depends on an Input that "
                                 "is not among the model's inputs")
            for source in t._sources():
                visit(source)
            order.append(t)
        for t in _flatten_keras(value):
            visit(t)
        self.__dict__.setdefault("_extra_nodes", []).extend(
            n for n in order if all(n is not m for m in self.__dict__["_extra_nodes"]))
        self.__dict__.setdefault(kind, []).append((value, name))
        # (layers only the added term uses are the model's too: their weights
        # train and save, as Keras 2 adds them to the model)
        own = {id(l) for l in self.functional_layers} | \
            {id(l) for l in self.__dict__.get("_auxiliary_layers", [])}
        extra = [n._layer for n in order if id(n._layer) not in own]
        unique = []
        for layer in extra:
            if all(layer is not u for u in unique):
                unique.append(layer)
        if unique:
            self._auxiliary_layers = list(self.__dict__.get("_auxiliary_layers", [])) + unique

    def _run_functional(self, inputs, training):
        names = self.__dict__.get("_functional_input_names")
        if isinstance(inputs, dict) and names is None:
            # (built from a list: a dict is keyed by the Inputs' names)
            named = [getattr(t, "name", None) for t in self._functional_inputs]
            if None not in named and len(set(named)) == len(named):
                names = named
        if isinstance(inputs, dict):
            if names is None or set(inputs) != set(names):
                raise ValueError(
                    f"{self.name} was called with a dict of inputs {sorted(inputs)}; it "
                    + ("takes " + str(sorted(names)) if names is not None else
                       "was built from a list of unnamed inputs: pass a list, or name "
                       "the Inputs"))
            inputs = [inputs[k] for k in names]
        given = _flatten_keras(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(given) != len(self._functional_inputs):
            raise ValueError(f"{self.name} takes {len(self._functional_inputs)} inputs, "
                             f"got {len(given)}")
        values = {id(k): v for k, v in zip(self._functional_inputs, given)}
        for node in self._nodes + self.__dict__.get("_extra_nodes", []):
            if node._index is not None and id(node._call) in values:
                # (Another output of a call already made.)
                values[id(node)] = values[id(node._call)][node._index]
                continue
            args = _map_keras(node._inputs, values)
            extra = _map_keras(list(node._args), values)
            kwargs = {k: _map_keras(v, values) for k, v in node._kwargs.items()}
            if training is not None and "training" not in kwargs and \
                    _takes_training(type(node._layer).call):
                kwargs["training"] = training
            out = node._layer(args, *extra, **kwargs)
            if node._index is not None:
                values[id(node._call)] = out
                out = out[node._index]
            values[id(node)] = out
        for value, _ in self.__dict__.get("_symbolic_losses", []):
            self._call_losses.append(_map_keras(value, values))
        if self.__dict__.get("_symbolic_metrics"):
            from .metrics import Mean
            trackers = self.__dict__.setdefault("_added_metrics", {})
            for value, name in self.__dict__["_symbolic_metrics"]:
                if name not in trackers:
                    with init_scope():
                        trackers[name] = Mean(name=name)
                trackers[name].update_state(_map_keras(value, values))
        return _map_keras(self._functional_outputs, values)

    @property
    def output_names(self):
        """The names losses, metrics and targets are keyed by (Keras'): the
        output dict's keys, or the layers making the outputs."""
        names = training._output_names(self)
        if names is not None:
            return names
        outputs = self.__dict__.get("_functional_outputs")
        if isinstance(outputs, (list, tuple)):
            outputs = outputs[0]
        layer = getattr(outputs, "_layer", None)
        return [layer.name] if layer is not None else []

    @property
    def layers(self):
        """The layers; a functional model's in Keras' order (by depth from
        the outputs, deepest first), its InputLayers first among them, as
        Keras' model.layers (layers[0] is an InputLayer)."""
        if "_nodes" in self.__dict__:
            if "_keras_layers" not in self.__dict__:
                object.__setattr__(self, "_keras_layers", [
                    _input_layer_of(owner) if kind == "input" else owner
                    for kind, owner in keras_graph_order(self)])
            return list(self.__dict__["_keras_layers"])
        return [layer for _, layer in self._layers]

    def call(self, inputs, training=None):
        if "_nodes" not in self.__dict__:
            raise NotImplementedError(f"{type(self).__name__} does not define call "
                                      "(subclass Model, or build it from kiln.Input)")
        return self._run_functional(inputs, training)

    def _symbolic_ends(self):
        """(inputs, outputs) of the model's graph of symbolic tensors, or
        None for a model without one (a subclassed model)."""
        if "_nodes" in self.__dict__:
            return self._functional_inputs, self._functional_outputs
        return None

    def _graph_end(self, what):
        ends = self._symbolic_ends()
        if ends is None:
            raise AttributeError(f"{self.name}.{what}: a subclassed model has no symbolic "
                                 "inputs and outputs (a functional model or a Sequential "
                                 "one with a known input shape has)")
        return ends[0] if what.startswith("input") else ends[1]

    # The functional model's kiln.Input tensors and the symbolic tensors it
    # outputs (lists); a subclass may set attributes of these names itself.
    inputs = _graph_property("inputs",
                             lambda self: list(_flatten_keras(self._graph_end("inputs"))))
    outputs = _graph_property("outputs",
                              lambda self: list(_flatten_keras(self._graph_end("outputs"))))

    input = _graph_property(
        "input", lambda self: self.inputs[0] if len(self.inputs) == 1 else self.inputs)
    output = _graph_property("output", lambda self: self._graph_end("outputs"))

    def get_config(self):
        """A functional or Sequential model's architecture (Kiln's own form,
        which from_config reads; model.to_json writes the same); a
        subclassed model's constructor arguments, as a layer's."""
        if self._symbolic_ends() is None or type(self) not in (Model, Sequential):
            return super().get_config()
        return {"name": self.name, "trainable": bool(self.trainable),
                "kiln_model": _model_writer[2](self)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if "kiln_model" not in config:
            return cls(**config)
        model = _model_writer[3](config["kiln_model"], custom_objects)
        if not config.get("trainable", True):   # (True would unfreeze its layers)
            model.trainable = False
        return model

    def get_layer(self, name=None, index=None):
        """One of the model's layers, by name or by position in `layers`."""
        layers = self.layers
        if (name is None) == (index is None):
            raise ValueError("get_layer: give either name or index")
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: index {index} is out of range for "
                                 f"{len(layers)} layers")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"get_layer: no layer named {name!r}; the layers are "
                         f"{[l.name for l in layers]}")

    def __call__(self, inputs, *args, **kwargs):
        # A model's layers build themselves; a subclass may also define
        # build(input_shape) for weights of its own.
        if _has_keras(inputs):
            return Layer.__call__(self, inputs, *args, **kwargs)
        if "_deferred_restore" in self.__dict__:
            self._restore_deferred(inputs)
        if not self.built and type(self).build not in (Layer.build, Model.build):
            return super().__call__(inputs, *args, **kwargs)
        if "_build_input_shape" not in self.__dict__ and \
                not (hasattr(self, "_skipping_host") and self._skipping_host()):  # (model.save)
            shape = getattr(inputs, "shape", None)
            if shape is not None:
                self._build_input_shape = tuple(shape)
                dtype = getattr(inputs, "dtype", None)
                if dtype is not None and not isinstance(inputs, np.ndarray):
                    self._build_input_dtype = as_dtype(dtype).name
                elif isinstance(inputs, np.ndarray) and inputs.dtype.kind in "iub":
                    self._build_input_dtype = as_dtype(inputs.dtype).name
        self.built = True
        if "training" in kwargs and not _takes_training(type(self).call):
            kwargs.pop("training")
        self._call_losses = []
        with mixed_precision.autocast_scope(self.compute_dtype), _training_scope(self, args, kwargs):
            out = self.call(inputs, *args, **kwargs)
        self._output_shape = getattr(out, "shape", None)
        return out

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs over `x` as NumPy arrays (Keras' predict): x an
        array or tensor, a list or dict of them for several inputs (in
        batches of batch_size, 32 by default), or a kiln.data.Dataset or
        keras.utils.PyDataset or Python generator of batches (of x, or (x,
        y[, w]) whose y and w are ignored); `steps` batches at most. Several outputs give a list
        (or dict) of arrays."""
        from .data import Dataset
        if hasattr(x, "_as_kiln_dataset"):
            x = x._as_kiln_dataset(False)
        if isinstance(x, Dataset):
            batches = (b[0] if isinstance(b, tuple) else b for b in x)
        elif inspect.isgenerator(x) or (hasattr(x, "__next__") and not isinstance(
                x, (Tensor, np.ndarray, list, tuple, dict))):
            # (a Python generator of batches: x, or (x, y[, w]) tuples)
            batches = (b[0] if isinstance(b, tuple) and len(b) in (2, 3) else b for b in x)
        else:
            def host(v):
                if isinstance(v, RaggedTensor):  # (sliced into batches of rows)
                    return v
                return np.asarray(v.numpy() if isinstance(v, Tensor) else v)
            if isinstance(x, dict):
                data = {k: host(v) for k, v in x.items()}
                count = len(next(iter(data.values())))
                take = lambda i, j: {k: v[i:j] for k, v in data.items()}
            elif isinstance(x, (list, tuple)) and (
                    len(getattr(self, "_functional_inputs", None) or []) > 1 or
                    any(isinstance(v, RaggedTensor) for v in x)):
                data = [host(v) for v in x]                   # (several inputs)
                count = len(data[0])
                take = lambda i, j: [v[i:j] for v in data]
            else:
                data = host(x)
                count = len(data)
                take = lambda i, j: data[i:j]
            size = int(batch_size or 32)
            batches = (take(i, i + size) for i in range(0, count, size))
        outs = []
        own = training.overrides(self, "predict_step")
        from .callbacks import CallbackList
        cbs = CallbackList(list(callbacks or []), self)
        cbs.on_predict_begin()
        for k, batch in enumerate(batches):
            if steps is not None and k >= int(steps):
                break
            cbs.on_predict_batch_begin(k)
            given = (batch,) if own and isinstance(batch, (list, tuple)) else batch
            outs.append(self.predict_step(given) if own else self(batch))
            cbs.on_predict_batch_end(k, {"outputs": outs[-1]})
        cbs.on_predict_end()
        if not outs:
            return np.zeros((0,))
        first = outs[0]
        if isinstance(first, RaggedTensor):  # (rows out: one RaggedTensor, as Keras')
            return ops.concat(outs, 0)
        if isinstance(first, dict):
            return {key: np.concatenate([np.asarray(o[key]) for o in outs]) for key in first}
        if isinstance(first, (list, tuple)):
            return [np.concatenate([np.asarray(o[i]) for o in outs])
                    for i in range(len(first))]
        return np.concatenate([np.asarray(o) for o in outs])

    # The Keras training loop (kiln.training).
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                run_eagerly=False, weighted_metrics=None, jit_compile="auto",
                steps_per_execution=1, auto_scale_loss=True):
        """Keras' compile. The training step is always one compiled
        function, so `jit_compile` and `steps_per_execution` (performance
        settings) change nothing. `weighted_metrics` are metrics that
        weigh each example by fit's / evaluate's sample_weight (and
        class_weight), logged as "weighted_<name>" where a plain metric has
        the name."""
        if int(steps_per_execution) < 1:
            raise ValueError(f"compile: steps_per_execution must be >= 1, got "
                             f"{steps_per_execution}")
        training.compile(self, optimizer, loss, metrics, run_eagerly, loss_weights,
                         weighted_metrics)

    # Keras' steps, which fit / evaluate / train_on_batch run; a subclass
    # may write its own (a GAN's, a VAE's), with these helpers.
    def train_step(self, data):
        """One training step on `data` (x, (x, y) or (x, y, sample_weight)):
        the forward pass, the compiled loss plus the model's losses, the
        optimizer's update and the metrics; returns their results."""
        return training.default_train_step(self, data)

    def test_step(self, data):
        """One evaluation step on `data`; returns the metrics' results."""
        return training.default_test_step(self, data)

    def predict_step(self, data):
        """The outputs for one batch of `data` (x, or (x, ...))."""
        from .keras_utils import unpack_x_y_sample_weight
        return self(unpack_x_y_sample_weight(data)[0], training=False)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Keras 3's compute_loss: the compiled loss of (y, y_pred) plus the
        model's losses (regularizers, add_loss)."""
        from . import training as steps     # (`training` is an argument here)
        return steps._total_loss(self, y, y_pred, sample_weight)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Updates the compiled metrics; returns every metric's result."""
        self.compiled_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def get_metrics_result(self):
        return training.metrics_result(self)

    @property
    def metrics(self):
        """The "loss" tracker and compile's metrics (once compiled), then the
        Metric objects the model holds as attributes (a custom step's
        trackers), as Keras' model.metrics."""
        return training.model_metrics(self)

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    @property
    def metrics_names(self):
        """The names of what evaluate() returns, in order ("loss" first)."""
        if getattr(self, "_loss_tracker", None) is None:
            return []
        return list(training._logs(self))

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto",
            callbacks=None, validation_split=0.0, validation_data=None,
            shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None,
            validation_freq=1, max_queue_size=10, workers=1, use_multiprocessing=False):
        """Keras' fit. `validation_freq` validates every N epochs (or on the
        epochs of a list, counted from 1); `max_queue_size`, `workers` and
        `use_multiprocessing` are accepted (the pipeline runs in order)."""
        return training.fit(self, x, y, batch_size, epochs, verbose, callbacks,
                            validation_split, validation_data, shuffle,
                            initial_epoch, validation_batch_size, steps_per_epoch,
                            validation_steps, sample_weight, class_weight,
                            validation_freq=validation_freq)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto",
                 sample_weight=None, steps=None, callbacks=None, return_dict=False):
        return training.evaluate(self, x, y, batch_size, verbose, return_dict,
                                 callbacks=callbacks, steps=steps,
                                 sample_weight=sample_weight)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None,
                       return_dict=False):
        return training.train_on_batch(self, x, y, return_dict, sample_weight, class_weight)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        return training.test_on_batch(self, x, y, return_dict, sample_weight)

    def predict_on_batch(self, x):
        """The model's outputs for one batch, as NumPy (no batching)."""
        return np.asarray(self(convert_to_tensor(x)))

    def reset_states(self):
        """Resets the states of every stateful layer inside (Keras'
        Model.reset_states: a stateful RNN starts over from zeros)."""
        seen = set()

        def visit(layer):
            if id(layer) in seen:
                return
            seen.add(id(layer))
            if layer is not self and getattr(layer, "stateful", False) and \
                    hasattr(layer, "reset_states"):
                layer.reset_states()
            for sub in layer.layers:
                visit(sub)
        visit(self)

    def summary(self, print_fn=None):
        training.summary(self, print_fn)

    def save(self, filepath, overwrite=True, include_optimizer=True, save_format=None,
             **kwargs):
        """The model in one file: a .keras zip of the architecture as JSON
        and the weights, or Keras 2's HDF5 model file for .h5 (readable by
        TensorFlow's Keras); kiln.keras.models.load_model reads both."""
        _model_writer[0](self, filepath, overwrite, include_optimizer, save_format)

    def to_json(self, **kwargs):
        """The architecture as JSON (kiln.keras.models.model_from_json)."""
        return _model_writer[1](self)

    def save_weights(self, filepath, overwrite=True, save_format=None, options=None):
        """A checkpoint of the weights; Keras' HDF5 layout for .h5 / .hdf5
        (Keras 3's for .weights.h5)."""
        return training.save_weights(self, filepath, overwrite, save_format)

    def load_weights(self, filepath, by_name=False, skip_mismatch=False, options=None):
        """Restores a checkpoint, or an HDF5 weights file of Kiln's or Keras'
        (TensorFlow's) making."""
        return training.load_weights(self, filepath, by_name, skip_mismatch)

    def _training_checkpoint(self):
        """A Checkpoint of the weights and the optimizer's state."""
        return training.training_checkpoint(self)

    def track_layer(self, layer):
        """tfe.Network's way to register a layer (assigning it to an
        attribute does the same); returns the layer."""
        if not isinstance(layer, Layer):
            raise TypeError(f"track_layer takes a layer, got {layer!r}")
        tracked = self.__dict__.get("tracked_layers", [])
        self.tracked_layers = tracked + [layer]
        return layer


Network = Model


training._MODEL_CLASS[0] = Model      # (what training.overrides compares with)


class Sequential(Model):
    """Layers applied one after the other."""

    def __init__(self, layers=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.layers_list = []
        self._adding_all = True    # (the constructor builds once, after)
        for layer in layers or []:
            self.add(layer)
        self._adding_all = False
        # As in Keras: a first layer given input_shape builds the model now,
        # so its variables exist before the first call.
        self._build_from_first()

    def _build_from_first(self):
        """Builds the layers when the first one knows the input shape."""
        first = self.layers_list[0] if self.layers_list else None
        if first is not None and first.input_shape is not None:
            # (an open extent, a sequence's length: built at a probe length)
            shape = tuple(_OPEN_PROBES[0] if d is None else d for d in first.input_shape)
            with init_scope(), _probing(first._batch_size):
                dtype = getattr(first, "_input_dtype", None) or as_dtype(first.dtype)
                self(_sample((first._batch_size or 1,) + shape, dtype))

    def add(self, layer):
        if isinstance(layer, KerasTensor):   # (Sequential([kiln.Input(shape), ...]))
            if self.layers_list:
                raise ValueError("Sequential: an Input can only come first")
            layer = InputLayer(shape=layer.shape[1:], batch_size=layer.shape[0],
                               dtype=layer.dtype)
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential takes layers, got {layer!r}")
        self.layers_list = self.layers_list + [layer]
        self._changed()
        if self.__dict__.get("_adding_all"):
            return
        if len(self.layers_list) > 1 and not layer.built:
            # (Keras builds a layer added after a known input shape at once)
            self._build_from_first()

    def pop(self, rebuild=True):
        """Removes the last layer and returns it (Keras' Sequential.pop)."""
        if not self.layers:
            raise IndexError("Sequential.pop: the model has no layers")
        layer = self.layers_list[-1]
        self.layers_list = self.layers_list[:-1]
        self._changed()
        return layer

    def _changed(self):
        """The layers changed: the symbolic graph (and the layers' calls in
        it) and the compiled steps go."""
        if self.__dict__.pop("_graph", None) is not None:
            for layer, call in self.__dict__.pop("_graph_calls", []):
                calls = layer.__dict__.get("_symbolic_calls", [])
                calls[:] = [c for c in calls if c is not call]
        for step in ("_train_function", "_test_function"):
            if self.__dict__.get(step) is not None:
                object.__setattr__(self, step, None)

    @property
    def layers(self):
        """The layers, without a first InputLayer (as Keras': layers[0] is
        the first layer that computes)."""
        if self.layers_list and isinstance(self.layers_list[0], InputLayer):
            return list(self.layers_list[1:])
        return list(self.layers_list)

    def call(self, inputs, training=None):
        x = inputs
        layers = self.layers_list[self._host_prefix():] if self._skipping_host() \
            else self.layers_list
        for layer in layers:
            x = layer(x, training=training) if training is not None else layer(x)
        return x

    def _host_prefix(self):
        """How many of the first layers run on the host (string and hashing
        preprocessing, after an InputLayer): the training loop applies them
        to each batch eagerly, then runs the rest compiled
        (training._forward). 0 when there are none."""
        count = 0
        for layer in self.layers_list:
            if isinstance(layer, InputLayer) and count == 0:
                count = 1
                continue
            if not getattr(layer, "_runs_on_host", False):
                break
            count += 1
        hosts = [layer for layer in self.layers_list[:count] if not isinstance(layer, InputLayer)]
        return count if hosts else 0

    def _skipping_host(self):
        """Whether this thread is inside a training step that ran the host
        layers already."""
        return threading.get_ident() in self.__dict__.get("_skip_host", ())

    def _run_host_prefix(self, x):
        for layer in self.layers_list[:self._host_prefix()]:
            x = layer(x)
        return x

    def _symbolic_ends(self):
        """A Sequential model whose input shape is known (an Input or
        input_shape first) has a graph as a functional one: its layers
        called once on a kiln.Input (made when first asked for)."""
        if "_graph" not in self.__dict__:
            first = self.layers_list[0] if self.layers_list else None
            shape = getattr(first, "input_shape", None)
            if shape is None:
                return None
            x = start = Input(shape=tuple(shape), dtype=as_dtype(first.dtype))
            for layer in self.layers_list:
                x = layer(x)
            object.__setattr__(self, "_graph", (start, x))
            object.__setattr__(self, "_graph_calls",
                               [(l, l.__dict__["_symbolic_calls"][-1])
                                for l in self.layers_list])
        return self.__dict__["_graph"]


class Pipeline(Layer):
    """Keras 3's Pipeline: layers applied one after the other as one layer
    (a preprocessing or augmentation pipeline, not a model); `training`
    goes to those that take it (default True, as Keras' Pipeline)."""

    def __init__(self, layers, name=None, **kwargs):
        super().__init__(name, **kwargs)
        layers = list(layers)
        if not all(isinstance(l, Layer) for l in layers):
            raise TypeError("Pipeline takes a list of layers")
        self.pipeline_layers = layers

    @property
    def layers(self):
        return list(self.pipeline_layers)

    def call(self, inputs, training=True):
        x = inputs
        for layer in self.pipeline_layers:
            x = layer(x, training=training) if _takes_training(type(layer).call) else layer(x)
        return x


class InputLayer(Layer):
    """The inputs' shape (without the batch) as a first layer of a
    Sequential model (Keras' InputLayer; `shape` or `input_shape`): the
    model is built at once; the layer itself passes its input on."""

    def __init__(self, shape=None, batch_size=None, dtype=None, input_shape=None,
                 name=None, **kwargs):
        shape = input_shape if shape is None else shape
        if shape is None:
            raise ValueError("InputLayer needs a shape (without the batch dimension)")
        shape = (int(shape),) if isinstance(shape, int) else tuple(shape)
        # An integer or bool input (token ids) is the inputs' dtype, not a
        # dtype policy (Keras' Input(dtype="int32")).
        self._input_dtype = None
        if dtype is not None and not isinstance(dtype, mixed_precision.Policy) and \
                str(dtype) not in mixed_precision._POLICIES and \
                not as_dtype(dtype).is_floating:
            self._input_dtype, dtype = as_dtype(dtype), None
        super().__init__(name, input_shape=shape, dtype=dtype, batch_size=batch_size,
                         **kwargs)

    def call(self, inputs):
        return convert_to_tensor(inputs)

class Dropout(Layer):
    """Drops inputs with probability `rate` while training (scaling the rest
    by 1 / (1 - rate)); the identity otherwise. `training` comes from the
    call (a Model passes its own along), as in Keras."""
    _ragged_inputs = "values"
    supports_masking = True


    def __init__(self, rate, noise_shape=None, seed=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate}")
        self.rate, self.noise_shape, self.seed = float(rate), noise_shape, seed

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return convert_to_tensor(inputs)
        return nn.dropout(inputs, self.rate, self.noise_shape, self.seed)


class SpatialDropout1D(Dropout):
    """Dropout of whole feature maps: while training, each channel of each
    example ([batch, steps, channels]) kept or zeroed for every step."""
    _layout = "wrap"
    _ragged_inputs = None

    def call(self, inputs, training=None):
        x = convert_to_tensor(inputs)
        if not training or self.rate == 0.0:
            return x
        return nn.dropout(x, self.rate, [None, 1, x.shape[-1]], self.seed)


class SpatialDropout2D(Dropout):
    """Dropout of whole feature maps: while training, each channel of each
    example ([batch, height, width, channels]) kept or zeroed everywhere."""
    _layout = "wrap"
    _ragged_inputs = None

    def call(self, inputs, training=None):
        x = convert_to_tensor(inputs)
        if not training or self.rate == 0.0:
            return x
        return nn.dropout(x, self.rate, [None, 1, 1, x.shape[-1]], self.seed)


class SpatialDropout3D(Dropout):
    """Dropout of whole feature volumes: each channel of each example
    ([batch, depth, height, width, channels]) kept or zeroed everywhere."""
    _layout = "wrap"
    _ragged_inputs = None

    def call(self, inputs, training=None):
        x = convert_to_tensor(inputs)
        if not training or self.rate == 0.0:
            return x
        return nn.dropout(x, self.rate, [None, 1, 1, 1, x.shape[-1]], self.seed)


def _normalized_axes(axis, rank, what):
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    out = []
    for a in axes:
        if not -rank <= int(a) < rank:
            raise ValueError(f"{what}: axis {a} is out of range for inputs of "
                             f"rank {rank}")
        out.append(int(a) % rank)
    return sorted(set(out))


class BatchNormalization(Layer):
    """Normalizes with the batch's statistics while training (and moves
    `moving_mean`/`moving_variance`, non-trainable variables, toward them
    by 1 - momentum), with the moving statistics otherwise; then scales by
    gamma and shifts by beta, as Keras' BatchNormalization."""
    supports_masking = True


    def __init__(self, axis=-1, momentum=0.99, epsilon=0.001, center=True,
                 scale=True, beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale = center, scale
        self._inits = (beta_initializer, gamma_initializer, moving_mean_initializer,
                       moving_variance_initializer)

    def build(self, input_shape):
        rank = len(input_shape)
        self._axes = _normalized_axes(self.axis, rank, self.name)
        shape = tuple(input_shape[a] for a in self._axes)
        if None in shape:
            raise ValueError(f"{self.name}: the normalized axis needs a known "
                             f"extent, got input shape {input_shape}")
        beta, gamma, mean, variance = self._inits
        weight = functools.partial(self.add_weight, shape=shape,
                                   dtype=_normalization_dtype(self), autocast=False)
        self.gamma = weight("gamma", initializer=gamma) if self.scale else None
        self.beta = weight("beta", initializer=beta) if self.center else None
        self.moving_mean = weight("moving_mean", initializer=mean, trainable=False)
        self.moving_variance = weight("moving_variance", initializer=variance,
                                      trainable=False)
        # The statistics broadcast against inputs of this rank.
        self._stat_shape = [input_shape[a] if a in self._axes else 1
                            for a in range(rank)]
        self._reduce = [a for a in range(rank) if a not in self._axes]

    def call(self, inputs, training=None, mask=None):
        x = _normalization_input(self, inputs)
        shaped = lambda v: None if v is None else ops.reshape(v, self._stat_shape)
        # (A frozen layer runs in inference mode, as Keras': fine-tuning a
        # frozen base keeps its statistics.)
        if training and self.trainable:
            mean, variance = _masked_moments(self, x, mask)
            m = self.momentum
            keep = lambda v, batch: v.assign(
                v.read_value() * m + ops.reshape(batch, v.shape) * (1.0 - m))
            keep(self.moving_mean, mean)
            keep(self.moving_variance, variance)
        else:
            mean = shaped(self.moving_mean.read_value())
            variance = shaped(self.moving_variance.read_value())
        return ops.cast(nn.batch_normalization(x, mean, variance, shaped(self.beta),
                                               shaped(self.gamma), self.epsilon),
                        self.compute_dtype)


def _masked_moments(layer, x, mask):
    """The batch's mean and variance over layer._reduce, counting only the
    steps `mask` keeps (Keras': the mask [batch, ...] weighs the rows of
    the features, epsilon 1e-7 below the weights' sum)."""
    if mask is None:
        return nn.moments(x, layer._reduce, keepdims=True)
    w = ops.cast(convert_to_tensor(mask), x.dtype)
    if w.ndim == x.ndim - 1:
        w = math_ops.expand_dims(w, -1)
    w = math_ops.broadcast_to(w, x.shape) if None not in x.shape else w * math_ops.ones_like(x)
    total = ops.reduce_sum(w, layer._reduce, keepdims=True) + 1e-7
    mean = ops.reduce_sum(w * x, layer._reduce, keepdims=True) / total
    variance = ops.reduce_sum(w * ops.square(x - mean), layer._reduce, keepdims=True) / total
    return mean, variance


def _normalization_dtype(layer):
    """Normalization layers compute in float32 when their policy computes in
    float16 or bfloat16 (as Keras' do: a variance in 16 bits loses too
    much), so their weights are float32 then."""
    return "float32" if layer.compute_dtype in ("float16", "bfloat16") \
        else layer.variable_dtype


def _normalization_input(layer, inputs):
    return ops.cast(convert_to_tensor(inputs), _normalization_dtype(layer))


class LayerNormalization(Layer):
    """Normalizes each example over `axis` (the last by default) with its own
    mean and variance, then scales by gamma and shifts by beta."""
    _ragged_inputs = "values"
    supports_masking = True


    def __init__(self, axis=-1, epsilon=0.001, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", name=None,
                 **kwargs):
        super().__init__(name, **kwargs)
        self.axis, self.epsilon = axis, float(epsilon)
        # rms_scaling: x / sqrt(mean(x^2) + epsilon) * gamma, no mean
        # subtracted and no beta (Keras 3's RMS normalization).
        self.rms_scaling = bool(rms_scaling)
        self.center, self.scale = center and not self.rms_scaling, scale
        self._inits = (beta_initializer, gamma_initializer)

    def build(self, input_shape):
        rank = len(input_shape)
        self._axes = _normalized_axes(self.axis, rank, self.name)
        shape = tuple(input_shape[a] for a in self._axes)
        beta, gamma = self._inits
        weight = functools.partial(self.add_weight, shape=shape,
                                   dtype=_normalization_dtype(self), autocast=False)
        self.gamma = weight("gamma", initializer=gamma) if self.scale else None
        self.beta = weight("beta", initializer=beta) if self.center else None
        self._param_shape = [input_shape[a] if a in self._axes else 1
                             for a in range(rank)]

    def call(self, inputs):
        x = _normalization_input(self, inputs)
        shaped = lambda v: None if v is None else ops.reshape(v, self._param_shape)
        if self.rms_scaling:
            y = x * math_ops.rsqrt(ops.reduce_mean(ops.square(x), axis=self._axes,
                                                   keepdims=True) + self.epsilon)
            if self.gamma is not None:
                y = y * shaped(self.gamma)
            return ops.cast(y, self.compute_dtype)
        mean, variance = nn.moments(x, self._axes, keepdims=True)
        return ops.cast(nn.batch_normalization(x, mean, variance, shaped(self.beta),
                                               shaped(self.gamma), self.epsilon),
                        self.compute_dtype)


class RMSNormalization(LayerNormalization):
    """Keras' RMSNormalization: x / sqrt(mean(x^2) + epsilon) over `axis`,
    times a learned scale (Zhang and Sennrich, 2019)."""

    def __init__(self, axis=-1, epsilon=1e-6, name=None, **kwargs):
        super().__init__(axis=axis, epsilon=epsilon, rms_scaling=True, name=name, **kwargs)


class GroupNormalization(Layer):
    """Keras' GroupNormalization: the channels (`axis`, the last by
    default) split into `groups` groups; each example normalized per group
    over the group's channels and every other non-batch dimension, then
    scaled by gamma and shifted by beta per channel. groups=-1 is instance
    normalization, groups=1 layer normalization over all but the batch."""
    supports_masking = True

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.groups, self.axis, self.epsilon = int(groups), int(axis), float(epsilon)
        self.center, self.scale = center, scale
        self._inits = (beta_initializer, gamma_initializer)

    def build(self, input_shape):
        rank = len(input_shape)
        (self._channel_axis,) = _normalized_axes(self.axis, rank, self.name)
        if self._channel_axis == 0:
            raise ValueError(f"{self.name}: axis {self.axis} is the batch")
        channels = input_shape[self._channel_axis]
        groups = channels if self.groups == -1 else self.groups
        if channels is None or groups <= 0 or channels % groups:
            raise ValueError(f"{self.name}: {channels} channels do not split into "
                             f"{self.groups} groups")
        self._groups = groups
        beta, gamma = self._inits
        weight = functools.partial(self.add_weight, shape=(channels,),
                                   dtype=_normalization_dtype(self), autocast=False)
        self.gamma = weight("gamma", initializer=gamma) if self.scale else None
        self.beta = weight("beta", initializer=beta) if self.center else None

    def call(self, inputs):
        x = _normalization_input(self, inputs)
        rank, c = x.ndim, self._channel_axis
        channels = x.shape[c]
        # [.., channels, ..] -> [.., groups, channels / groups, ..]: the
        # statistics over everything but the batch and the group.
        extents = math_ops.shape(x)   # (open ones read when the code runs)
        grouped = math_ops.reshape(
            x, [extents[d] for d in range(c)] + [self._groups, channels // self._groups] +
            [extents[d] for d in range(c + 1, rank)])
        axes = [a for a in range(1, rank + 1) if a != c]
        mean, variance = nn.moments(grouped, axes, keepdims=True)
        scaled = (grouped - mean) * math_ops.rsqrt(variance + self.epsilon)
        normalized = math_ops.reshape(scaled, math_ops.shape(x))
        shape = [channels if a == c else 1 for a in range(rank)]
        if self.gamma is not None:
            normalized = normalized * ops.reshape(self.gamma, shape)
        if self.beta is not None:
            normalized = normalized + ops.reshape(self.beta, shape)
        return ops.cast(normalized, self.compute_dtype)


class Embedding(Layer):
    """Rows of an [input_dim, output_dim] table looked up by integer ids
    (an id outside the table is an InvalidArgumentError). With mask_zero,
    id 0 is padding: the output carries the mask `ids != 0`, which the
    layers after it (RNNs, average pooling) honour. Ragged ids give a
    RaggedTensor of vectors (the same rows; no mask is needed)."""

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 mask_zero=False, input_length=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        # (Keras 2's sequence length: the ids' last extent when given.)
        self.input_length = input_length
        self.embeddings_initializer = embeddings_initializer
        self.mask_zero = bool(mask_zero)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero or isinstance(inputs, RaggedTensor):
            return None
        return ops.not_equal(convert_to_tensor(inputs), 0)

    def _cast_inputs(self, inputs):
        return inputs  # (ids stay integers)

    def build(self, input_shape):
        if self.input_length is not None and input_shape and \
                input_shape[-1] not in (None, int(self.input_length)):
            raise ValueError(f"{self.name}: input_length is {self.input_length} but the "
                             f"ids have shape {input_shape}")
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer)

    def call(self, inputs):
        if isinstance(inputs, RaggedTensor):
            return inputs.with_values(self.call(inputs.values))
        ids = convert_to_tensor(inputs)
        if not ids.dtype.is_integer:
            ids = ops.cast(ids, "int32")
        return ops.gather(self.embeddings, ids)


class Masking(Layer):
    """Masks the time steps whose features all equal `mask_value` (Keras'
    Masking): they become zeros, and the output carries the mask
    [batch, time] for the layers after it."""

    def __init__(self, mask_value=0.0, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.mask_value = float(mask_value)

    def compute_mask(self, inputs, mask=None):
        x = convert_to_tensor(inputs)
        return math_ops.reduce_any(ops.not_equal(x, ops.cast(self.mask_value, x.dtype)), axis=-1)

    def call(self, inputs):
        x = convert_to_tensor(inputs)
        keep = self.compute_mask(x)
        return x * ops.cast(math_ops.expand_dims(keep, -1), x.dtype)


class Reshape(Layer):
    """Each example reshaped to `target_shape` (one extent may be -1)."""

    def __init__(self, target_shape, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)

    def call(self, inputs):
        x = convert_to_tensor(inputs)
        # (The examples' extents decide -1; an open batch stays the input's.)
        if -1 in self.target_shape and None not in x.shape[1:]:
            known = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
            rest = int(np.prod(x.shape[1:], dtype=np.int64))
            if known == 0 or rest % known:
                raise ValueError(f"{self.name}: cannot reshape examples of shape "
                                 f"{x.shape[1:]} to {self.target_shape}")
            target = tuple(rest // known if d == -1 else d for d in self.target_shape)
        else:
            target = self.target_shape
        return ops.reshape(x, [_open_entries(x)[0]] + list(target))


class Permute(Layer):
    """Each example's dimensions permuted: `dims` numbers them from 1 (the
    batch dimension stays first)."""

    def __init__(self, dims, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Permute dims must be a permutation of 1..{len(self.dims)}, "
                             f"got {self.dims}")

    def call(self, inputs):
        return ops.transpose(inputs, (0,) + self.dims)


class _Merge(Layer):
    """A layer over a list of inputs. Masked inputs (Keras 3's rule): an
    output step is kept where every input's is."""
    supports_masking = True

    def compute_mask(self, inputs, mask=None):
        if mask is None or all(m is None for m in mask):
            return None
        kept = None
        for m in mask:
            if m is not None:
                m = ops.cast(convert_to_tensor(m), bool_)
                kept = m if kept is None else ops.logical_and(kept, m)
        return kept

    def __call__(self, inputs, *args, **kwargs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(f"{self.name} takes a list of at least two inputs")
        self.built = True  # (no weights: nothing to build from a shape)
        return super().__call__(list(inputs), *args, **kwargs)

    def _cast_inputs(self, inputs):
        return [Layer._cast_inputs(self, x) for x in inputs]


class Concatenate(_Merge):
    def __init__(self, axis=-1, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.axis = axis

    def call(self, inputs):
        tensors = [convert_to_tensor(x) for x in inputs]
        return ops.concat(tensors, self.axis % tensors[0].ndim)

    def compute_mask(self, inputs, mask=None):
        # Keras 3: each input's mask (all kept where it has none) spread over
        # its features, joined along the axis, kept where any entry is.
        if mask is None or all(m is None for m in mask):
            return None
        tensors = [convert_to_tensor(x) for x in inputs]
        parts = []
        for x, m in zip(tensors, mask):
            if m is None:
                parts.append(math_ops.ones_like(x, dtype=bool_))
                continue
            m = ops.cast(convert_to_tensor(m), bool_)
            if m.ndim < x.ndim:
                m = ops.logical_or(math_ops.expand_dims(m, -1),
                                        math_ops.zeros_like(x, dtype=bool_))
            parts.append(m)
        joined = ops.concat(parts, self.axis % tensors[0].ndim)
        return math_ops.reduce_any(joined, axis=-1)


class _Fold(_Merge):
    """inputs[0] combined with each of the others in turn."""
    _combine = None

    def call(self, inputs):
        out = convert_to_tensor(inputs[0])
        for x in inputs[1:]:
            out = type(self)._combine(out, x)
        return out


class Add(_Fold):
    _combine = staticmethod(ops.add)


class Multiply(_Fold):
    _combine = staticmethod(ops.multiply)


class Dot(_Merge):
    """The dot products of two inputs' samples along `axes` (an int or one
    per input, not the batch), Keras' Dot; with `normalize` the samples
    are L2-normalized along those axes first (cosine similarities)."""

    def __init__(self, axes, normalize=False, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.axes, self.normalize = axes, bool(normalize)

    def call(self, inputs):
        if len(inputs) != 2:
            raise ValueError(f"{self.name} takes exactly two inputs")
        a, b = (convert_to_tensor(x) for x in inputs)
        axes = self.axes if isinstance(self.axes, (list, tuple)) else [self.axes] * 2
        axes = [int(axis) % t.ndim for axis, t in zip(axes, (a, b))]
        if 0 in axes:
            raise ValueError(f"{self.name}: axes {self.axes} include the batch")
        if self.normalize:
            a, b = math_ops.l2_normalize(a, axes[0]), math_ops.l2_normalize(b, axes[1])
        # batch letter "z", then a's and b's other dimensions; the summed
        # dimension shares a letter.
        letters = iter("abcdefghijklmnopqrstuvwxy")
        sa = ["z"] + [next(letters) for _ in range(a.ndim - 1)]
        sb = ["z"] + [next(letters) for _ in range(b.ndim - 1)]
        sb[axes[1]] = sa[axes[0]]
        out = [c for c in sa if c != sa[axes[0]]] + \
            [c for c in sb[1:] if c != sa[axes[0]]]
        y = math_ops.einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)
        return math_ops.expand_dims(y, -1) if y.ndim == 1 else y


class Identity(Layer):
    """Its input, unchanged (a placeholder in a model)."""
    supports_masking = True

    def call(self, inputs):
        return convert_to_tensor(inputs)


class ActivityRegularization(Layer):
    """Its input, unchanged, with l1 * sum|x| + l2 * sum x^2 added to the
    losses (Keras' ActivityRegularization)."""
    supports_masking = True

    def __init__(self, l1=0.0, l2=0.0, name=None, **kwargs):
        super().__init__(name, activity_regularizer=regularizers.L1L2(l1=l1, l2=l2),
                         **kwargs)
        self.l1, self.l2 = float(l1), float(l2)

    def call(self, inputs):
        return convert_to_tensor(inputs)


class AlphaDropout(Dropout):
    """Dropout that keeps a SELU network's mean and variance (Keras'
    AlphaDropout): while training, dropped units take SELU's negative
    saturation value and the result is scaled and shifted back; the
    identity otherwise."""

    def call(self, inputs, training=None):
        x = convert_to_tensor(inputs)
        if not training or self.rate == 0.0:
            return x
        alpha_p = -1.6732632423543772 * 1.0507009873554805
        keep = 1.0 - self.rate
        a = (keep + alpha_p ** 2 * keep * self.rate) ** -0.5
        b = -a * alpha_p * self.rate
        shape = math_ops.shape(x) if self.noise_shape is None else \
            [math_ops.shape(x)[i] if d is None else int(d)
             for i, d in enumerate(self.noise_shape)]
        kept = ops.greater_equal(random.uniform(shape, dtype=x.dtype, seed=self.seed),
                                 self.rate)
        return ops.where(kept, x, alpha_p) * a + b


class Lambda(Layer):
    """Wraps a function of the inputs as a layer (no weights)."""

    def __init__(self, function, name=None, **kwargs):
        super().__init__(name, **kwargs)
        if not callable(function):
            raise TypeError(f"Lambda takes a function, got {function!r}")
        self.function = function

    def call(self, inputs):
        return self.function(inputs)


def _edges(value, what, dims=2):
    """((top, bottom), (left, right)) (one pair per dimension) from an int,
    `dims` ints (symmetric per dimension) or the pairs themselves."""
    given = value
    try:
        if isinstance(value, int):
            value = ((value, value),) * dims
        elif len(value) == dims and all(isinstance(p, int) for p in value):
            value = tuple((v, v) for v in value)
        out = tuple(tuple(int(v) for v in p) for p in value)
    except TypeError:
        out = ()
    if len(out) != dims or any(len(p) != 2 or min(p) < 0 for p in out):
        raise ValueError(f"{what} must be an int, {dims} ints or {dims} pairs of "
                         f"non-negative ints, got {given!r}")
    return out


class ZeroPadding2D(Layer):
    """Zeros around the height and width of NHWC inputs: an int, a pair
    (symmetric height, width) or ((top, bottom), (left, right))."""
    _layout = "wrap"

    def __init__(self, padding=(1, 1), name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.padding = _edges(padding, "padding")

    def call(self, inputs):
        (t, b), (l, r) = self.padding
        return math_ops.pad(inputs, [[0, 0], [t, b], [l, r], [0, 0]])


class ZeroPadding1D(Layer):
    """Zeros before and after the steps of [batch, steps, features] inputs:
    an int or (before, after)."""
    _layout = "wrap"

    def __init__(self, padding=1, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.padding = _pair(padding, "padding")
        if min(self.padding) < 0:
            raise ValueError(f"ZeroPadding1D: negative padding {self.padding}")

    def call(self, inputs):
        return math_ops.pad(inputs, [[0, 0], list(self.padding), [0, 0]])


class ZeroPadding3D(Layer):
    """Zeros around depth, height and width of NDHWC inputs: an int, three
    ints or three (before, after) pairs."""
    _layout = "wrap"

    def __init__(self, padding=(1, 1, 1), name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.padding = _edges(padding, "padding", 3)

    def call(self, inputs):
        return math_ops.pad(inputs, [[0, 0], *map(list, self.padding), [0, 0]])


class Cropping3D(Layer):
    """Drops planes at the edges of NDHWC inputs: an int, three ints or
    three (before, after) pairs."""
    _layout = "wrap"

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.cropping = _edges(cropping, "cropping", 3)

    def call(self, inputs):
        x = convert_to_tensor(inputs)
        (a, b), (c, d), (e, f) = self.cropping
        _check_crop(self, x, [(1, a, b), (2, c, d), (3, e, f)])
        return x[:, a:x.shape[1] - b, c:x.shape[2] - d, e:x.shape[3] - f]


class UpSampling2D(Layer):
    """NHWC inputs enlarged size[0] x size[1] times: each pixel repeated
    (interpolation="nearest") or bilinearly interpolated
    ("bilinear", kiln.image.resize's half-pixel centres, as Keras)."""
    _layout = "wrap"

    def __init__(self, size=(2, 2), interpolation="nearest", name=None, **kwargs):
        super().__init__(name, **kwargs)
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError("UpSampling2D takes interpolation='nearest' or 'bilinear' "
                             f"(got {interpolation!r})")
        self.size, self.interpolation = _pair(size, "size"), interpolation

    def call(self, inputs):
        if self.interpolation == "bilinear":
            x = convert_to_tensor(inputs)
            if None in x.shape[1:3]:
                raise ValueError(f"{self.name}: bilinear upsampling needs the height and "
                                 f"width known while tracing, got shape {x.shape}")
            y = image.resize(x, [x.shape[1] * self.size[0], x.shape[2] * self.size[1]])
            return ops.cast(y, x.dtype) if x.dtype.is_floating else y
        x = math_ops.repeat(inputs, self.size[0], axis=1)
        return math_ops.repeat(x, self.size[1], axis=2)


class Cropping1D(Layer):
    """Drops steps from the start and end of [batch, steps, features]
    inputs: an int or (start, end)."""
    _layout = "wrap"

    def __init__(self, cropping=(1, 1), name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.cropping = _pair(cropping, "cropping")
        if min(self.cropping) < 0:
            raise ValueError(f"Cropping1D: negative cropping {self.cropping}")

    def call(self, inputs):
        x = convert_to_tensor(inputs)
        a, b = self.cropping
        _check_crop(self, x, [(1, a, b)])
        return x[:, a:x.shape[1] - b]


class Cropping2D(Layer):
    """Drops rows and columns at the edges of NHWC inputs: an int, a pair
    (symmetric height, width) or ((top, bottom), (left, right))."""
    _layout = "wrap"

    def __init__(self, cropping=((0, 0), (0, 0)), name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.cropping = _edges(cropping, "cropping")

    def call(self, inputs):
        x = convert_to_tensor(inputs)
        (t, b), (l, r) = self.cropping
        _check_crop(self, x, [(1, t, b), (2, l, r)])
        return x[:, t:x.shape[1] - b, l:x.shape[2] - r]


def _check_crop(layer, x, cuts):
    """A ValueError unless each (axis, start, end) crop leaves something
    of a known extent."""
    for axis, start, end in cuts:
        extent = x.shape[axis] if x.ndim > axis else None
        if extent is None:
            raise ValueError(f"{layer.name}: cropping needs dimension {axis} known, "
                             f"got an input of shape {x.shape}")
        if start + end >= extent:
            raise ValueError(f"{layer.name}: cropping {start} + {end} from dimension "
                             f"{axis} of an input of shape {x.shape} leaves nothing")


class UpSampling1D(Layer):
    """Each step of [batch, steps, features] inputs repeated `size` times."""
    _layout = "wrap"

    def __init__(self, size=2, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.size = int(size)

    def call(self, inputs):
        return math_ops.repeat(inputs, self.size, axis=1)


class RepeatVector(Layer):
    """[batch, features] -> [batch, n, features]."""

    def __init__(self, n, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.n = int(n)

    def call(self, inputs):
        x = convert_to_tensor(inputs)
        if x.ndim != 2:
            raise ValueError(f"{self.name}: RepeatVector takes [batch, features], "
                             f"got shape {x.shape}")
        return math_ops.repeat(math_ops.expand_dims(x, 1), self.n, axis=1)


class _Pooling1D(Layer):
    _layout = "wrap"

    _op = None

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None, **kwargs):
        super().__init__(name, **kwargs)
        one = lambda v: int(v[0]) if isinstance(v, (list, tuple)) and len(v) == 1 else int(v)
        self.pool_size = one(pool_size)
        self.strides = self.pool_size if strides is None else one(strides)
        if self.pool_size < 1 or self.strides < 1:
            raise ValueError(f"{type(self).__name__}: pool_size and strides must be "
                             f">= 1, got {pool_size} and {strides}")
        self.padding = padding.upper()

    def call(self, inputs):
        return type(self)._op(inputs, self.pool_size, self.strides, self.padding)


class MaxPooling1D(_Pooling1D):
    _op = staticmethod(nn.max_pool1d)


class AveragePooling1D(_Pooling1D):
    _op = staticmethod(nn.avg_pool1d)


class _GlobalPooling(Layer):
    """A reduction over the steps (1-D) or height and width (2-D) of
    channels-last inputs."""
    _reduce, _axes = None, None

    def __init__(self, data_format=None, keepdims=False, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.data_format = _data_format(data_format)
        self.keepdims = bool(keepdims)

    @property
    def _spatial(self):
        """The reduced axes: after the channels for channels_first."""
        shift = 1 if self.data_format == "channels_first" else 0
        return [a + shift for a in self._axes]

    def call(self, inputs):
        return type(self)._reduce(inputs, axis=self._spatial, keepdims=self.keepdims)


class GlobalMaxPooling2D(_GlobalPooling):
    _reduce, _axes = staticmethod(ops.reduce_max), (1, 2)


class GlobalAveragePooling2D(_GlobalPooling):
    """The mean over height and width: [N, H, W, C] -> [N, C] (keepdims:
    [N, 1, 1, C]; channels_first: over the last two)."""
    _reduce, _axes = staticmethod(ops.reduce_mean), (1, 2)


class GlobalMaxPooling3D(_GlobalPooling):
    _reduce, _axes = staticmethod(ops.reduce_max), (1, 2, 3)


class GlobalAveragePooling3D(_GlobalPooling):
    _reduce, _axes = staticmethod(ops.reduce_mean), (1, 2, 3)


class GlobalAveragePooling1D(_GlobalPooling):
    """The mean over the steps; with a mask (Embedding(mask_zero=True)),
    over the unmasked steps only, as Keras'."""
    _reduce, _axes = staticmethod(ops.reduce_mean), (1,)
    supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        x = convert_to_tensor(inputs)
        steps = self._spatial[0]   # (the channels after the steps, or before)
        weight = math_ops.expand_dims(ops.cast(convert_to_tensor(mask), x.dtype),
                                      -1 if steps == 1 else 1)
        total = ops.reduce_sum(x * weight, axis=steps, keepdims=self.keepdims)
        return total / ops.reduce_sum(weight, axis=steps, keepdims=self.keepdims)


class GlobalMaxPooling1D(_GlobalPooling):
    _reduce, _axes = staticmethod(ops.reduce_max), (1,)


class Softmax(Layer):
    """softmax over `axis`; where a `mask` is False the input first gets a
    large negative value added (-1e9, the dtype's lowest for float16), as
    Keras does."""

    def __init__(self, axis=-1, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.axis = axis

    def call(self, inputs, mask=None):
        x = convert_to_tensor(inputs)
        if mask is not None:
            x = x + (1.0 - ops.cast(mask, x.dtype)) * _large_negative(x.dtype)
        if isinstance(self.axis, (list, tuple)):
            # (Keras: over several axes, exp(x - logsumexp over them))
            return ops.exp(x - math_ops.reduce_logsumexp(x, axis=list(self.axis),
                                                         keepdims=True))
        return nn.softmax(x, axis=self.axis)


def _large_negative(dtype):
    """What masked attention scores get added (Keras' rule): float16's
    lowest value, -1e9 for wider types."""
    return dtype.min if dtype == "float16" else -1e9


class ReLU(Layer):
    """Keras' ReLU: relu(x, negative_slope, max_value, threshold)."""
    supports_masking = True


    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, name=None,
                 **kwargs):
        super().__init__(name, **kwargs)
        if max_value is not None and max_value < 0 or negative_slope < 0:
            raise ValueError(f"ReLU: max_value ({max_value}) and negative_slope "
                             f"({negative_slope}) must be non-negative")
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def call(self, inputs):
        return activations.relu(inputs, alpha=self.negative_slope,
                                max_value=self.max_value, threshold=self.threshold)


class LeakyReLU(Layer):
    """x for x >= 0, alpha * x below (Keras 2's default alpha is 0.3)."""
    supports_masking = True


    def __init__(self, alpha=None, name=None, negative_slope=None, **kwargs):
        super().__init__(name, **kwargs)
        if alpha is not None and negative_slope is not None:
            raise ValueError("LeakyReLU: give alpha (Keras 2) or negative_slope (Keras 3), "
                             "not both")
        # (Keras 3's negative_slope defaults to 0.3 as Keras 2's alpha did)
        self.alpha = float(0.3 if alpha is None and negative_slope is None else
                           alpha if alpha is not None else negative_slope)
        self.negative_slope = self.alpha

    def call(self, inputs):
        return nn.leaky_relu(inputs, alpha=self.alpha)


class ELU(Layer):
    supports_masking = True

    def __init__(self, alpha=1.0, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.alpha = float(alpha)

    def call(self, inputs):
        x = convert_to_tensor(inputs)
        return ops.where(ops.greater(x, 0.0), x, self.alpha * math_ops.expm1(ops.minimum(x, 0.0)))


class PReLU(Layer):
    """max(x, 0) + alpha * min(x, 0) with a learned alpha per element of an
    example (shared along `shared_axes`, counted with the batch as 0)."""
    supports_masking = True


    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None,
                 shared_axes=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.alpha_initializer = alpha_initializer
        self.alpha_regularizer = alpha_regularizer
        self.shared_axes = [] if shared_axes is None else \
            [int(a) for a in (shared_axes if isinstance(shared_axes, (list, tuple))
                              else [shared_axes])]

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for a in self.shared_axes:
            shape[a - 1] = 1
        self.alpha = self.add_weight("alpha", shape, self.alpha_initializer,
                                     regularizer=self.alpha_regularizer)

    def call(self, inputs):
        x = convert_to_tensor(inputs)
        return nn.relu(x) - self.alpha * nn.relu(-x)


class Rescaling(Layer):
    """inputs * scale + offset."""

    def __init__(self, scale, offset=0.0, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.scale, self.offset = scale, offset

    def call(self, inputs):
        # (Integer images are cast to the compute dtype first, as Keras does.)
        x = ops.cast(convert_to_tensor(inputs), self.compute_dtype)
        return x * convert_to_tensor(self.scale, x.dtype) + convert_to_tensor(self.offset, x.dtype)


def _adapt_batches(data):
    """NumPy arrays of `data` (an array, a tensor or a kiln.data.Dataset of
    them) for a preprocessing layer's adapt, batch by batch."""
    from .data import Dataset
    if isinstance(data, Dataset):
        for batch in data:
            batch = batch[0] if isinstance(batch, (tuple, list)) else batch
            yield np.asarray(convert_to_tensor(batch).numpy())
    else:
        yield np.asarray(data.numpy() if isinstance(data, Tensor) else data)


class Normalization(Layer):
    """(x - mean) / sqrt(variance) per feature along `axis` (Keras'
    Normalization; invert=True undoes it): the statistics given, or
    computed by adapt(data) over every other axis (arrays, tensors or a
    Dataset), held in non-trainable variables `mean`, `variance` and
    `count`, so checkpoints keep them."""

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.axis = [axis] if isinstance(axis, int) else list(axis or [])
        self.invert = bool(invert)
        if (mean is None) != (variance is None):
            raise ValueError(f"{self.name}: give both mean and variance, or neither")
        self._given = None if mean is None else (np.asarray(mean, np.float64),
                                                 np.asarray(variance, np.float64))

    def _stat_shape(self, shape):
        rank = len(shape)
        axes = [a % rank for a in self.axis]
        if 0 in axes:
            raise ValueError(f"{self.name}: axis {self.axis} includes the batch")
        return [shape[a] if a in axes else 1 for a in range(rank)]

    def build(self, input_shape):
        shape = self._stat_shape(input_shape)
        if None in shape:
            raise ValueError(f"{self.name}: the features along axis {self.axis} must be "
                             f"known, got shape {input_shape}")
        self.mean = self.add_weight("mean", shape, "zeros", trainable=False)
        self.variance = self.add_weight("variance", shape, "ones", trainable=False)
        self.count = self.add_weight("count", (), "zeros", dtype="int64", trainable=False)
        if self._given is not None:
            # (one value per feature of `axis`, or a scalar, placed as the
            # statistics' shape: Keras' broadcast)
            kept = [d for d in shape if d != 1] or [1]
            mean, variance = (np.reshape(v * np.ones(kept), shape) for v in self._given)
            self.mean.assign(mean.astype(self.mean.dtype.as_numpy_dtype))
            self.variance.assign(variance.astype(self.variance.dtype.as_numpy_dtype))

    def adapt(self, data):
        """The mean and variance of `data` over every axis but `axis`
        (summed batch by batch in float64)."""
        total = squares = None
        count = 0
        for batch in _adapt_batches(data):
            batch = batch.astype(np.float64)
            if not self.built:
                self.build(batch.shape)
                self.built = True
            shape = self._stat_shape(batch.shape)
            axes = tuple(a for a, d in enumerate(shape) if d == 1)
            part, part_squares = batch.sum(axes), (batch * batch).sum(axes)
            total = part if total is None else total + part
            squares = part_squares if squares is None else squares + part_squares
            count += batch.size // int(np.prod([d for d in shape if d != 1] or [1]))
        if not count:
            raise ValueError(f"{self.name}: adapt got no data")
        mean = total / count
        variance = np.maximum(squares / count - mean * mean, 0.0)
        shape = [int(d) for d in self.mean.shape]
        self.mean.assign(mean.reshape(shape).astype(self.mean.dtype.as_numpy_dtype))
        self.variance.assign(variance.reshape(shape).astype(
            self.variance.dtype.as_numpy_dtype))
        self.count.assign(np.int64(count))

    def call(self, inputs):
        x = ops.cast(convert_to_tensor(inputs), self.compute_dtype)
        mean = ops.cast(self.mean.value(), x.dtype)
        scale = ops.maximum(ops.sqrt(ops.cast(self.variance.value(), x.dtype)), 1e-7)
        return x * scale + mean if self.invert else (x - mean) / scale


class Discretization(Layer):
    """The bucket of each value (Keras' Discretization): how many of
    `bin_boundaries` are at or below it, as int64; or, with num_bins and
    adapt(data), boundaries at the data's exact quantiles (np.quantile;
    Keras' approximate summary can place them a little differently, and
    `epsilon` is not used). output_mode
    "one_hot", "multi_hot" and "count" encode the buckets as
    CategoryEncoding does."""

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01,
                 output_mode="int", name=None, **kwargs):
        super().__init__(name, **kwargs)
        if (bin_boundaries is None) == (num_bins is None):
            raise ValueError(f"{self.name}: give bin_boundaries or num_bins")
        self.bin_boundaries = None if bin_boundaries is None else \
            [float(b) for b in bin_boundaries]
        self.num_bins, self.output_mode = num_bins, output_mode
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise ValueError(f"{self.name}: output_mode {output_mode!r} is not one of "
                             "'int', 'one_hot', 'multi_hot', 'count'")

    def adapt(self, data):
        values = np.concatenate([b.reshape(-1) for b in _adapt_batches(data)])
        quantiles = np.linspace(0.0, 1.0, int(self.num_bins) + 1)[1:-1]
        self.bin_boundaries = np.quantile(values.astype(np.float64), quantiles).tolist()

    def call(self, inputs):
        if self.bin_boundaries is None:
            raise ValueError(f"{self.name}: call adapt(data) first (or give "
                             "bin_boundaries)")
        x = convert_to_tensor(inputs)
        boundaries = convert_to_tensor(np.array(self.bin_boundaries), x.dtype
                                       if x.dtype.is_floating else float32)
        x = x if x.dtype.is_floating else ops.cast(x, float32)
        flat = ops.reshape(x, [1, -1])
        buckets = math_ops.searchsorted(ops.reshape(boundaries, [1, -1]), flat,
                                        side="right", out_type="int64")
        buckets = math_ops.reshape(buckets, math_ops.shape(x))
        if self.output_mode == "int":
            return buckets
        return _encode_categories(buckets, len(self.bin_boundaries) + 1,
                                  self.output_mode, self.compute_dtype)


def _encode_categories(ids, num_tokens, mode, dtype):
    """Integer ids [batch, k] as [batch, num_tokens]: one_hot (one id per
    sample; [batch] ids get a row each), multi_hot (1 where present) or
    count; [k] ids (rank 1) are one sample, [num_tokens], as in Keras. Ids
    outside [0, num_tokens) are an InvalidArgumentError where the values
    are."""
    ids = convert_to_tensor(ids)
    if mode == "one_hot" and not (ids.ndim == 2 and ids.shape[1] == 1) and ids.ndim >= 1:
        # (Keras: each id gets its own one-hot row, a dimension appended)
        ops._check_at_run_time(
            ops.logical_and(ops.greater_equal(ids, 0), ops.less(ids, num_tokens)),
            f"CategoryEncoding: an id is outside [0, {num_tokens})")
        return ops.one_hot(ids, num_tokens, dtype=dtype)
    if ids.ndim == 0:
        ids = ops.reshape(ids, [1])
    ops._check_at_run_time(
        ops.logical_and(ops.greater_equal(ids, 0), ops.less(ids, num_tokens)),
        f"CategoryEncoding: an id is outside [0, {num_tokens})")
    hot = ops.one_hot(ids, num_tokens, dtype=dtype)        # [batch, k, tokens] or [k, tokens]
    axis = ids.ndim - 1
    if mode == "count":
        return ops.reduce_sum(hot, axis=axis)
    return ops.reduce_max(hot, axis=axis)


def _sparse_output(out, name):
    """A layer's dense output as the SparseTensor of its non-zero entries
    (Keras' sparse=True). Made eagerly: how many entries are non-zero is
    known only from the values."""
    if out._symbolic:
        raise errors.InvalidArgumentError(
            f"{name}: sparse=True outputs are made eagerly (in the input pipeline, or "
            "before the model): inside a compiled step the number of non-zero entries is "
            "not known; use the dense output there", errors.user_location())
    from .sparse import from_dense
    return from_dense(out)


def _check_sparse(sparse, output_mode, name):
    if sparse and output_mode == "int":
        raise ValueError(f"{name}: sparse=True needs output_mode 'one_hot', 'multi_hot', "
                         "'count' or 'tf_idf' (not 'int')")
    return bool(sparse)


class CategoryEncoding(Layer):
    """Integer category ids as vectors of `num_tokens` (Keras'
    CategoryEncoding): "one_hot" (one id per sample), "multi_hot" (1 for
    each id a sample has; [batch, k] ids) or "count"; sparse=True gives the
    SparseTensor of the non-zero entries (eagerly)."""

    def __init__(self, num_tokens, output_mode="multi_hot", sparse=False, name=None,
                 **kwargs):
        super().__init__(name, **kwargs)
        self.sparse = bool(sparse)
        if output_mode not in ("one_hot", "multi_hot", "count"):
            raise ValueError(f"{self.name}: output_mode {output_mode!r} is not one of "
                             "'one_hot', 'multi_hot', 'count'")
        self.num_tokens, self.output_mode = int(num_tokens), output_mode

    def _cast_inputs(self, inputs):
        return inputs  # (ids stay integers)

    def call(self, inputs):
        ids = convert_to_tensor(inputs)
        if not ids.dtype.is_integer:
            ids = ops.cast(ids, "int32")
        out = _encode_categories(ids, self.num_tokens, self.output_mode, self.compute_dtype)
        return _sparse_output(out, self.name) if self.sparse else out


def _lookup_outputs(ids, ndim, mode, depth, name, idf=None):
    """Category indices `ids` (of inputs of rank `ndim`) as `mode` wants
    them: "int" as they are, "one_hot", "multi_hot", "count" or "tf_idf"
    (counts times `idf`) rows of width `depth`; a negative index counts
    nowhere. (Keras' encode_categorical_inputs: a scalar is one token,
    rank 2 at most; one_hot drops a last dimension of 1, the others treat
    a row, or a flat input, as one sample.)"""
    if mode == "int":
        return ids
    if ndim > 2:
        raise ValueError(f"{name}: output_mode {mode!r} takes inputs of rank 2 at most, "
                         f"got shape {list(ids.shape)}")
    if ndim == 0:
        ids = ops.reshape(ids, [1])
    if mode == "one_hot":
        if ids.shape[-1] == 1:
            ids = ops.reshape(ids, [-1] if ids.ndim == 2 else [])
        return ops.one_hot(ids, depth, dtype="int64")
    hot = ops.one_hot(ids, depth, dtype="int64")
    axis = 1 if ids.ndim > 1 else 0
    out = ops.reduce_max(hot, axis=axis) if mode == "multi_hot" else \
        ops.reduce_sum(hot, axis=axis)
    if mode == "tf_idf":
        out = ops.cast(out, "float32") * constant(idf.astype(np.float32))
    return out


class IntegerLookup(Layer):
    """Integer tokens to vocabulary indices (Keras 3's IntegerLookup): the
    indices are [mask (with mask_token, in "int" mode)] + num_oov_indices
    out-of-vocabulary slots + the vocabulary in its order; an unknown token
    goes to the OOV slot (several: token mod num_oov_indices; none: an
    InvalidArgumentError where the values are). `vocabulary` (a list,
    array, tensor or a file of one token per line) or adapt(data): the
    tokens by descending count, ties by descending token, as Keras sorts
    them, up to max_tokens. output_mode "int" (int64 indices), "one_hot",
    "multi_hot", "count" or "tf_idf" (counts times idf_weights, or the
    inverse document frequencies adapt measures) with a width of the
    vocabulary (max_tokens with pad_to_max_tokens); mask tokens are dropped
    there. invert=True maps indices back to tokens (OOV ones to oov_token).
    The lookup is compiled: a search of the sorted vocabulary."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
                 vocabulary=None, vocabulary_dtype="int64", idf_weights=None, invert=False,
                 output_mode="int", sparse=False, pad_to_max_tokens=False, name=None,
                 **kwargs):
        super().__init__(name, **kwargs)
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        if output_mode not in ("int", "one_hot", "multi_hot", "count", "tf_idf"):
            raise ValueError(f"{self.name}: output_mode {output_mode!r} is not one of 'int', "
                             "'one_hot', 'multi_hot', 'count', 'tf_idf'")
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError(f"{self.name}: max_tokens must be greater than 1, got "
                             f"{max_tokens}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{self.name}: pad_to_max_tokens needs max_tokens")
        if num_oov_indices < 0:
            raise ValueError(f"{self.name}: num_oov_indices must be >= 0, got "
                             f"{num_oov_indices}")
        if invert and output_mode != "int":
            raise ValueError(f"{self.name}: invert=True needs output_mode 'int'")
        sparse = _check_sparse(sparse, output_mode, self.name)
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(f"{self.name}: idf_weights are only for output_mode 'tf_idf'")
        if str(vocabulary_dtype) not in ("int64", "int32"):
            raise ValueError(f"{self.name}: vocabulary_dtype must be int64 or int32, got "
                             f"{vocabulary_dtype!r}")
        self.max_tokens, self.num_oov_indices = max_tokens, int(num_oov_indices)
        self.mask_token, self.oov_token = mask_token, oov_token
        self.vocabulary_dtype, self.invert = str(vocabulary_dtype), bool(invert)
        self.output_mode, self.sparse = output_mode, sparse
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.vocabulary, self.idf_weights = None, None
        self._tokens, self._idf = None, None
        # (As Keras: a vocabulary given to the constructor is not adapted.)
        self._has_input_vocabulary = vocabulary is not None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        elif output_mode == "tf_idf" and idf_weights is not None:
            raise ValueError(f"{self.name}: idf_weights need a vocabulary")

    def _cast_inputs(self, inputs):
        return inputs  # (tokens stay integers)

    def _oov_start(self):
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    # The token type's hooks (StringLookup overrides them): tokens as the
    # layer keeps them (int64 arrays here), special tokens in that form,
    # the vocabulary as the user sees it, a line of a vocabulary file.
    def _token_array(self, values, what):
        """`values` as the layer's token array (its shape kept)."""
        tokens = np.asarray(values.numpy() if hasattr(values, "numpy") else values)
        if tokens.size and not np.issubdtype(tokens.dtype, np.integer):
            raise ValueError(f"{self.name}: {what} must hold integers, got {tokens.dtype}")
        return tokens.astype(np.int64)

    def _special(self, token):
        return token

    def _public(self, tokens):
        return tokens.tolist()

    def _token_of_line(self, line):
        return int(line)

    def _token_start(self):
        return self._oov_start() + self.num_oov_indices

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Sets the tokens (without the special ones, or starting with
        them exactly as get_vocabulary lists them) and, for tf_idf, their
        idf weights."""
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError(f"{self.name}: output_mode 'tf_idf' needs idf_weights with the "
                             "vocabulary")
        if isinstance(vocabulary, str):
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = [self._token_of_line(line) for line in f.read().split("\n")
                              if line.strip()]
        tokens = self._token_array(vocabulary, "the vocabulary").reshape(-1)
        if tokens.size == 0:
            raise ValueError(f"{self.name}: the vocabulary is empty")
        special = [self._special(self.mask_token)] * self._oov_start() + \
            [self._special(self.oov_token)] * self.num_oov_indices
        given_special = len(tokens) >= len(special) and \
            list(tokens[:len(special)]) == special and len(special) > 0
        if given_special:
            tokens = tokens[len(special):]
        values, counts = np.unique(tokens, return_counts=True)
        if (counts > 1).any():
            raise ValueError(f"{self.name}: the vocabulary repeats {values[counts > 1].tolist()}")
        if self.mask_token is not None and self._special(self.mask_token) in tokens.tolist():
            raise ValueError(f"{self.name}: the mask token {self.mask_token} is in the "
                             "vocabulary (leave it out, or only at the start)")
        if self.invert and self.oov_token is not None and \
                self._special(self.oov_token) in tokens.tolist():
            raise ValueError(f"{self.name}: the OOV token {self.oov_token} is in the "
                             "vocabulary")
        size = self._token_start() + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError(f"{self.name}: a vocabulary of {size} (with the special "
                             f"indices) is larger than max_tokens={self.max_tokens}")
        self._tokens = tokens
        self.vocabulary = self._public(tokens)
        if self.output_mode == "tf_idf":
            weights = np.asarray(idf_weights, np.float64).reshape(-1)
            if len(weights) != len(vocabulary if not given_special else tokens) and \
                    len(weights) != len(tokens) + len(special):
                raise ValueError(f"{self.name}: {len(weights)} idf_weights for "
                                 f"{len(tokens)} tokens")
            if len(weights) == len(tokens):     # (the special slots get the mean)
                weights = np.concatenate([np.full(self._token_start(), weights.mean()),
                                          weights])
            self._set_idf(weights)
            self.idf_weights = weights[self._token_start():].tolist()
        self._record_vocabulary()

    def _set_idf(self, weights):
        if self.pad_to_max_tokens:
            weights = np.pad(weights, [0, self.max_tokens - len(weights)])
        self._idf = weights

    def adapt(self, data, batch_size=None, steps=None):
        """The vocabulary from `data`: Keras' order (count down, then token
        down), without the mask and OOV tokens, cut to max_tokens; with
        tf_idf also log(1 + documents / (1 + documents with the token)),
        each row a document (a flat array: each token its own)."""
        if self._has_input_vocabulary:
            raise ValueError(f"{self.name}: cannot adapt a layer given its vocabulary")
        from .data import Dataset
        if isinstance(data, Dataset):
            # (Keras: a flat batch is one document, a scalar one token)
            source = data.take(steps) if steps else data
            batches = [b.reshape(1, -1) if b.ndim <= 1 else b for b in _adapt_batches(source)]
        else:
            # (a flat array: every token its own document)
            whole = np.asarray(data.numpy() if hasattr(data, "numpy") else data)
            batches = [whole.reshape(-1, 1) if whole.ndim <= 1 else whole]
        rows = []
        for batch in batches:
            batch = self._token_array(batch, "adapt's data")
            rows.extend(batch.reshape(len(batch), -1))
        self._adapt_rows(rows)

    def _adapt_rows(self, rows):
        """adapt's vocabulary (and document frequencies) from `rows`, each
        a document's tokens."""
        counts, documents, total = {}, {}, len(rows)
        for row in rows:
            row = self._token_array(row, "adapt's data")
            for token, n in zip(*np.unique(row, return_counts=True)):
                counts[token] = counts.get(token, 0) + int(n)
                documents[token] = documents.get(token, 0) + 1
        for special in (self.mask_token, self.oov_token):
            counts.pop(self._special(special), None)
        keys = sorted(counts, key=lambda t: (counts[t], t), reverse=True)
        if self.max_tokens:
            keys = keys[:self.max_tokens - self._token_start()]
        self._tokens = self._token_array(keys, "adapt's data")
        self.vocabulary = self._public(self._tokens)
        if self.output_mode == "tf_idf":
            idf = np.log(1 + total / (1 + np.array([documents[t] for t in keys],
                                                   np.float64)))
            self._set_idf(np.concatenate([np.full(self._token_start(), idf.mean()), idf]))
        self._record_vocabulary()

    def _record_vocabulary(self):
        """Notes the vocabulary (and idf weights) the layer has now, adapted
        or read from a file, as its arguments: what get_config and
        model.save write."""
        arguments = self.__dict__.get("_init_arguments")
        if arguments is None:
            return
        arguments["vocabulary"] = list(self.vocabulary)
        if self.output_mode == "tf_idf" and self._idf is not None:
            start = self._token_start()
            arguments["idf_weights"] = [float(w) for w in
                                        self._idf[start:start + len(self.vocabulary)]]

    def get_vocabulary(self, include_special_tokens=True):
        tokens = list(self.vocabulary or [])
        if not include_special_tokens:
            return tokens
        return [self.mask_token] * self._oov_start() + [self.oov_token] * \
            self.num_oov_indices + tokens

    def vocabulary_size(self):
        return self._token_start() + len(self.vocabulary or [])

    def _depth(self):
        return self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()

    def call(self, inputs):
        if self._tokens is None:
            raise ValueError(f"{self.name}: give a vocabulary or call adapt(data) first")
        if isinstance(inputs, RaggedTensor) and (self.output_mode == "int" or self.invert):
            return inputs.with_values(self.call(inputs.values))   # (rows kept)
        x = convert_to_tensor(inputs)
        if not x.dtype.is_integer:
            raise TypeError(f"{self.name}: IntegerLookup takes integer tokens, got "
                            f"{x.dtype.name}")
        x = ops.cast(x, "int64")
        if self.invert:
            return self._tokens_of(x)
        return self._encode(self._ids(x), x.ndim)

    def _ids(self, x):
        """The indices of the int64 tokens `x` (int mode's output)."""
        order = np.argsort(self._tokens, kind="stable")
        keys = self._tokens[order]
        index = (order + self._token_start()).astype(np.int64)
        tokens = ops.reshape(x, [-1])
        at = ops.minimum(math_ops.lower_bound_search(keys, tokens), len(keys) - 1)
        if self.num_oov_indices > 1:
            oov = math_ops.floormod(tokens, self.num_oov_indices) + self._oov_start()
        else:
            oov = math_ops.zeros_like(tokens) + (self._oov_start() if self.num_oov_indices
                                                  else -1)
        found = ops.equal(ops.gather(constant(keys), at), tokens)
        ids = ops.where(found, ops.gather(constant(index), at), oov)
        masked = None
        if self.mask_token is not None:
            masked = ops.equal(tokens, self.mask_token)
            ids = ops.where(masked, 0 if self.output_mode == "int" else -1, ids)
        if self.num_oov_indices == 0:
            ops._check_at_run_time(
                math_ops.reduce_all(found if masked is None else ops.logical_or(found, masked)),
                f"{self.name}: with num_oov_indices=0 every token must be in the "
                "vocabulary (set num_oov_indices=1 for unknown ones)")
        return math_ops.reshape(ids, math_ops.shape(x))

    def _encode(self, ids, ndim):
        """The output for indices `ids` (of inputs of rank `ndim`) in the
        layer's output_mode."""
        out = _lookup_outputs(ids, ndim, self.output_mode, self._depth(), self.name,
                              self._idf if self.output_mode == "tf_idf" else None)
        if self.output_mode != "int":   # (Keras: int64 indices, the encodings in floatx)
            out = ops.cast(out, "float32")
        return _sparse_output(out, self.name) if self.sparse else out

    def _tokens_of(self, ids):
        """invert=True: each index's token; the mask index gives mask_token,
        the OOV ones and those outside the vocabulary oov_token."""
        table = np.array(self.get_vocabulary(), dtype=object)
        known = np.array([self.oov_token if t is None else t for t in table], np.int64)
        start = self._token_start()
        known[:start] = self.oov_token
        if self._oov_start():
            known[0] = self.mask_token
        inside = ops.logical_and(ops.greater_equal(ids, 0), ops.less(ids, len(known)))
        safe = ops.where(inside, ids, 0)
        tokens = ops.where(inside, ops.gather(constant(known), safe),
                           constant(np.int64(self.oov_token if self.oov_token is not None
                                             else -1)))
        return ops.cast(tokens, self.vocabulary_dtype)


class StringLookup(IntegerLookup):
    _runs_on_host = True  # (see Sequential._host_prefix)

    """String tokens to vocabulary indices (Keras 3's StringLookup): as
    IntegerLookup, with oov_token "[UNK]"; several OOV slots take a token
    by its farmhash bucket (tf.strings.to_hash_bucket_fast), as Keras. The
    lookup runs on the host (strings are host values): use the layer in
    the input pipeline (Dataset.map) or before the model, as Keras does with
    a backend other than TensorFlow; its integer outputs then feed compiled
    code. get_vocabulary() lists str; invert=True maps indices to string
    tokens."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]",
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 pad_to_max_tokens=False, sparse=False, encoding="utf-8", name=None, **kwargs):
        if encoding not in ("utf-8", "UTF-8"):
            raise ValueError(f"StringLookup: encoding must be 'utf-8', got {encoding!r}")
        self.encoding = "utf-8"
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary,
                         "int64", idf_weights, invert, output_mode, sparse, pad_to_max_tokens,
                         name, **kwargs)
        self.vocabulary_dtype = "string"

    def _token_array(self, values, what):
        if isinstance(values, Tensor) and values.dtype is not string_:
            raise ValueError(f"{self.name}: {what} must hold strings, got {values.dtype.name}")
        try:
            tokens = convert_to_tensor(values, string_)._impl.array
        except TypeError as e:
            raise ValueError(f"{self.name}: {what} must hold strings ({e})") from None
        return tokens

    def _special(self, token):
        return token.encode("utf-8") if isinstance(token, str) else token

    def _public(self, tokens):
        return [t.decode("utf-8", "replace") for t in tokens.tolist()]

    def _token_of_line(self, line):
        return line.rstrip("\r")

    def call(self, inputs):
        if self._tokens is None:
            raise ValueError(f"{self.name}: give a vocabulary or call adapt(data) first")
        if isinstance(inputs, RaggedTensor) and (self.output_mode == "int" or self.invert):
            return inputs.with_values(self.call(inputs.values))   # (rows kept)
        if self.invert:
            return self._tokens_of(convert_to_tensor(inputs))
        x = convert_to_tensor(inputs, dtype_hint=string_) \
            if not isinstance(inputs, Tensor) else inputs
        if x.dtype is not string_:
            raise TypeError(f"{self.name}: StringLookup takes string tokens, got "
                            f"{x.dtype.name}")
        return self._encode(self._ids(x), x.ndim)

    def _ids(self, x):
        tokens = x._impl.array
        table = self.__dict__.get("_table")
        if table is None or table[0] is not self._tokens:
            start = self._token_start()
            table = (self._tokens, {t: start + i for i, t in enumerate(self._tokens.tolist())})
            self._table = table
        index = table[1]
        oov = self._oov_start()
        ids = np.full(tokens.shape, -1 if self.num_oov_indices == 0 else oov, np.int64)
        flat = tokens.reshape(-1)
        found = np.fromiter((index.get(t, -1) for t in flat), np.int64, len(flat))
        found = found.reshape(tokens.shape)
        known = found >= 0
        ids[known] = found[known]
        if self.num_oov_indices > 1 and not known.all():
            unknown = ~known
            ids[unknown] = oov + _hashing.to_hash_bucket_fast(tokens[unknown],
                                                               self.num_oov_indices)
        if self.mask_token is not None:
            masked = tokens == self._special(self.mask_token)
            ids[masked] = 0 if self.output_mode == "int" else -1
            known |= masked
        if self.num_oov_indices == 0 and not known.all():
            missing = tokens[~known].reshape(-1)[:5].tolist()
            raise errors.InvalidArgumentError(
                f"{self.name}: with num_oov_indices=0 every token must be in the "
                f"vocabulary, and {missing} are not (set num_oov_indices=1 for unknown ones)",
                errors.user_location())
        return convert_to_tensor(ids)

    def _tokens_of(self, ids):
        """invert=True: each index's token (a string tensor)."""
        if not ids.dtype.is_integer:
            raise TypeError(f"{self.name}: invert=True takes integer indices, got "
                            f"{ids.dtype.name}")
        table = [self._special(t) if t is not None else b"" for t in self.get_vocabulary()]
        oov = self._special(self.oov_token) or b""
        table[self._oov_start():self._token_start()] = [oov] * self.num_oov_indices
        lookup = np.array(table + [oov], dtype=object)
        index = np.asarray(ids.numpy()).astype(np.int64)
        index = np.where((index >= 0) & (index < len(table)), index, len(table))
        return convert_to_tensor(lookup[index], string_)


_PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'


class TextVectorization(Layer):
    _runs_on_host = True

    """Text to token indices or token counts (Keras 3's TextVectorization):
    each string is standardized ("lower_and_strip_punctuation", "lower",
    "strip_punctuation", None or a callable on a string tensor), split
    ("whitespace", "character", None: the string is one token, or a
    callable returning a RaggedTensor), made into n-grams (`ngrams`: n for
    1..n, or a tuple of widths) and looked up in a vocabulary (adapt(data)
    or `vocabulary`; "" is the padding index 0 and "[UNK]" index 1 in
    "int" mode). output_mode "int" gives int64 rows padded with 0 to the
    longest row (to output_sequence_length when given, cutting longer
    ones; ragged=True gives a RaggedTensor); "multi_hot", "count",
    "one_hot" and "tf_idf" give float32 rows of the vocabulary's width.
    It runs on the host (strings are host values), so it belongs in the
    input pipeline: `ds.map(lambda x, y: (vectorize(x), y))`."""

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation",
                 split="whitespace", ngrams=None, output_mode="int",
                 output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", name=None,
                 **kwargs):
        super().__init__(name, **kwargs)
        if not (standardize is None or callable(standardize) or standardize in (
                "lower_and_strip_punctuation", "lower", "strip_punctuation")):
            raise ValueError(f"{self.name}: standardize {standardize!r} is not one of None, "
                             "'lower_and_strip_punctuation', 'lower', 'strip_punctuation' "
                             "or a callable")
        if not (split is None or callable(split) or split in ("whitespace", "character")):
            raise ValueError(f"{self.name}: split {split!r} is not one of None, "
                             "'whitespace', 'character' or a callable")
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        if not (ngrams is None or isinstance(ngrams, int) or isinstance(ngrams, (tuple, list))
                and all(isinstance(n, int) for n in ngrams)):
            raise ValueError(f"{self.name}: ngrams must be None, an integer or a tuple of "
                             f"integers, got {ngrams!r}")
        if output_sequence_length is not None and (output_mode != "int" or
                                                    int(output_sequence_length) < 1):
            raise ValueError(f"{self.name}: output_sequence_length is only for output_mode "
                             "'int', and must be positive")
        if ragged and output_mode != "int":
            raise ValueError(f"{self.name}: ragged=True needs output_mode 'int'")
        self.standardize, self.split, self.ngrams = standardize, split, ngrams
        self._widths = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else \
            (tuple(ngrams) if ngrams is not None else None)
        self.output_mode = output_mode
        self.output_sequence_length = None if output_sequence_length is None else \
            int(output_sequence_length)
        self.ragged, self.encoding = bool(ragged), encoding
        self._lookup = StringLookup(max_tokens=max_tokens, vocabulary=vocabulary,
                                    idf_weights=idf_weights, pad_to_max_tokens=pad_to_max_tokens,
                                    mask_token="", output_mode=output_mode, sparse=sparse,
                                    encoding=encoding, name=f"{self.name}_lookup")

    def _cast_inputs(self, inputs):
        return inputs

    def _symbolic_call(self, inputs, args, kwargs):
        """As a layer's; without output_sequence_length the sequences are as
        long as each batch's longest (an open extent, not the probe's)."""
        result = super()._symbolic_call(inputs, args, kwargs)
        if self.output_mode == "int" and self.output_sequence_length is None and \
                not self.ragged and isinstance(result, KerasTensor):
            result.shape = result.shape[:1] + (None,) * (len(result.shape) - 1)
        return result

    def _preprocess(self, inputs):
        """The tokens of `inputs`: a RaggedTensor of rows when splitting,
        else a string tensor."""
        x = inputs if isinstance(inputs, Tensor) else convert_to_tensor(inputs, string_)
        if x.dtype is not string_:
            raise TypeError(f"{self.name}: TextVectorization takes strings, got {x.dtype.name}")
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            x = kstrings.lower(x)
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            x = kstrings.regex_replace(x, _PUNCTUATION, "")
        if callable(self.standardize):
            x = self.standardize(x)
        if self.split is not None:
            if x.ndim > 1:
                if x.shape[-1] != 1 or x.ndim > 2:
                    raise ValueError(f"{self.name}: to split strings the input must be a "
                                     f"vector or have a last dimension of 1, got shape "
                                     f"{list(x.shape)}")
                x = ops.reshape(x, [-1])
            if self.split == "whitespace":
                x = kstrings.split(x)
            elif self.split == "character":
                x = kstrings.unicode_split(x, "UTF-8")
            else:
                x = self.split(x)
        if self._widths is not None:
            x = kstrings.ngrams(x, self._widths, separator=" ")
        return x

    def adapt(self, data, batch_size=None, steps=None):
        """The vocabulary of `data`'s tokens (strings, arrays or a Dataset
        of batches; a flat list is a list of documents), by descending
        count, ties by descending token, cut to max_tokens."""
        from .data import Dataset
        if isinstance(data, Dataset):
            source = data.take(steps) if steps else data
            batches = [b[0] if isinstance(b, (tuple, list)) else b for b in source]
        else:
            batches = [data]
        rows = []
        for batch in batches:
            tokens = self._preprocess(batch)
            if isinstance(tokens, RaggedTensor):
                rows.extend(np.asarray(r) for r in tokens._rows())
            elif self.split is not None:  # (one string split: one document)
                rows.append(np.asarray(tokens).reshape(-1))
            elif tokens.ndim <= 1:  # (unsplit strings: each its own document)
                rows.extend(np.asarray(tokens).reshape(-1, 1))
            else:
                rows.extend(np.asarray(tokens).reshape(len(tokens), -1))
        lookup = self._lookup
        lookup._has_input_vocabulary = False
        lookup._adapt_rows(rows)
        arguments = self.__dict__.get("_init_arguments")
        if arguments is not None:  # (what get_config and model.save write)
            arguments["vocabulary"] = list(lookup.vocabulary)
            if self.output_mode == "tf_idf":
                start = lookup._token_start()
                arguments["idf_weights"] = [float(w) for w in
                                            lookup._idf[start:start + len(lookup.vocabulary)]]

    def set_vocabulary(self, vocabulary, idf_weights=None):
        self._lookup.set_vocabulary(vocabulary, idf_weights)
        arguments = self.__dict__.get("_init_arguments")
        if arguments is not None:
            arguments["vocabulary"] = list(self._lookup.vocabulary)
            arguments["idf_weights"] = self._lookup.idf_weights

    def get_vocabulary(self, include_special_tokens=True):
        return self._lookup.get_vocabulary(include_special_tokens)

    def vocabulary_size(self):
        return self._lookup.vocabulary_size()

    def call(self, inputs):
        lookup = self._lookup
        if lookup._tokens is None:
            raise ValueError(f"{self.name}: give a vocabulary or call adapt(data) first")
        tokens = self._preprocess(inputs)
        if not isinstance(tokens, RaggedTensor):
            if self.output_mode != "int":
                out = lookup(tokens)
                if lookup.sparse:  # (a SparseTensor of the lookup's counts)
                    return out.with_values(ops.cast(out.values, "float32"))
                return ops.cast(out, "float32")
            ids = lookup(tokens)
            n = self.output_sequence_length
            if n is None or ids.ndim == 0:
                return ids
            ids = ids[..., :n]
            if ids.shape[-1] < n:
                pad = [[0, 0]] * (ids.ndim - 1) + [[0, n - ids.shape[-1]]]
                ids = math_ops.pad(ids, pad)
            return ids
        flat = np.asarray(lookup._ids(tokens.values).numpy())
        splits = tokens._splits
        if self.output_mode == "int":
            n = self.output_sequence_length
            if self.ragged and n is not None:  # (rows cut to n, as Keras)
                rows = [flat[a:min(b, a + n)] for a, b in zip(splits[:-1], splits[1:])]
                return RaggedTensor.from_row_lengths(
                    convert_to_tensor(np.concatenate(rows) if rows else flat[:0]),
                    [len(r) for r in rows])
            ragged = RaggedTensor(convert_to_tensor(flat), splits)
            return ragged if self.ragged else ragged.to_tensor(0, shape=[None, n])
        width = lookup._depth()
        rows = np.full((len(splits) - 1, width), 0.0, np.float64)
        for i, (a, b) in enumerate(zip(splits[:-1], splits[1:])):
            row = flat[a:b]
            row = row[(row >= 0) & (row < width)]
            if self.output_mode in ("multi_hot", "one_hot"):
                rows[i, row] = 1.0
            else:
                np.add.at(rows[i], row, 1.0)
        if self.output_mode == "tf_idf":
            rows *= lookup._idf[:width]
        out = convert_to_tensor(rows.astype(np.float32))
        return _sparse_output(out, self.name) if lookup.sparse else out


class Hashing(Layer):
    _runs_on_host = True

    """Values hashed into `num_bins` bins (Keras 3's Hashing): strings by
    farmhash's Fingerprint64, or by SipHash keyed with `salt` (an int
    twice, or two ints), as TensorFlow's to_hash_bucket_fast/strong;
    integers are hashed as their decimal strings, as Keras does. With
    mask_value, that value goes to bin 0 and the others to bins
    1..num_bins-1. output_mode "int" (int64 bins), "one_hot", "multi_hot"
    or "count". Runs on the host, as StringLookup."""

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False,
                 name=None, **kwargs):
        super().__init__(name, **kwargs)
        if num_bins is None or int(num_bins) <= 0:
            raise ValueError(f"{self.name}: num_bins must be a positive integer, got "
                             f"{num_bins!r}")
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise ValueError(f"{self.name}: output_mode {output_mode!r} is not one of 'int', "
                             "'one_hot', 'multi_hot', 'count'")
        sparse = _check_sparse(sparse, output_mode, self.name)
        if salt is not None:
            key = [int(salt)] * 2 if np.ndim(salt) == 0 else [int(v) for v in salt]
            if len(key) != 2:
                raise ValueError(f"{self.name}: salt must be an int or two ints, got {salt!r}")
            salt = key
        self.num_bins, self.mask_value, self.salt = int(num_bins), mask_value, salt
        self.output_mode, self.sparse = output_mode, sparse

    def _cast_inputs(self, inputs):
        return inputs

    def call(self, inputs):
        if isinstance(inputs, RaggedTensor) and self.output_mode == "int":
            return inputs.with_values(self.call(inputs.values))   # (rows kept)
        x = convert_to_tensor(inputs)
        if x.dtype is string_:
            text = x._impl.array
        elif x.dtype.is_integer:  # (hashed as their decimal strings, as Keras)
            text = kstrings.as_string(x)._impl.array
        else:
            raise TypeError(f"{self.name}: Hashing takes strings or integers, got "
                            f"{x.dtype.name}")
        bins = self.num_bins - (1 if self.mask_value is not None else 0)
        if bins < 1:
            raise ValueError(f"{self.name}: with a mask_value num_bins must be at least 2")
        hashed = _hashing.to_hash_bucket_fast(text, bins) if self.salt is None else \
            _hashing.to_hash_bucket_strong(text, bins, self.salt)
        if self.mask_value is not None:
            mask = self.mask_value.encode() if isinstance(self.mask_value, str) else \
                str(self.mask_value).encode() if not isinstance(self.mask_value, bytes) \
                else self.mask_value
            hashed = np.where(text == mask, 0, hashed + 1)
        out = _lookup_outputs(convert_to_tensor(hashed.astype(np.int64)), x.ndim,
                              self.output_mode, self.num_bins, self.name)
        # (Keras: int64 bins; the other modes in floatx)
        if self.output_mode == "int":
            return out
        out = ops.cast(out, "float32")
        return _sparse_output(out, self.name) if self.sparse else out


def _crop_to_aspect(x, height, width):
    """The largest centred window of x's images ([batch, h, w, c]) with
    the aspect ratio of height:width (Keras' smart_resize crop)."""
    top, left, rows, cols = image._aspect_window(x.shape[1], x.shape[2], height, width)
    return x[:, top:top + rows, left:left + cols, :]


def _smart_resize(x, height, width):
    """The centred window of the target's aspect ratio, resized to
    (height, width) bilinearly (Keras' smart_resize)."""
    if (x.shape[1], x.shape[2]) == (height, width):
        return x
    return image.resize(_crop_to_aspect(x, height, width), [height, width])


class _ImageLayer(Layer):
    """Keras' image preprocessing layers: NHWC images (or one image), the
    result in the layer's compute dtype."""
    seed = None

    def _next_seed(self):
        """A seed for one draw: None without the layer's `seed`, else a new
        one each draw, so two draws in a call (or two eager calls) differ, as
        Keras' seed generator does."""
        if self.seed is None:
            return None
        self._draws = self.__dict__.get("_draws", 0) + 1
        return (int(self.seed) * 1000003 + self._draws) % (1 << 31)

    def call(self, inputs, training=None):
        x, batched = image._batched(inputs, self.name)
        y = ops.cast(self._transform(x, bool(training)), self.compute_dtype)
        return image._unbatched(y, batched)


class Resizing(_ImageLayer):
    """Images resized to (height, width) (kiln.image.resize: `interpolation`
    any of its methods, "bilinear", "nearest", "bicubic", "area", "lanczos3",
    "lanczos5", "gaussian", "mitchellcubic"; `antialias` as there); with
    crop_to_aspect_ratio the largest centred window of the target's aspect
    ratio is resized, so nothing is stretched."""

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 antialias=False, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.height, self.width = int(height), int(width)
        self.interpolation, self.crop_to_aspect_ratio = interpolation, crop_to_aspect_ratio
        self.antialias = bool(antialias)

    def _transform(self, x, training):
        if self.crop_to_aspect_ratio:
            x = _crop_to_aspect(x, self.height, self.width)
        return image.resize(x, [self.height, self.width], method=self.interpolation,
                            antialias=self.antialias)


class CenterCrop(_ImageLayer):
    """The centred (height, width) window of each image; images smaller
    than that are cropped to its aspect ratio and resized (Keras 3)."""

    def __init__(self, height, width, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.height, self.width = int(height), int(width)

    def _transform(self, x, training):
        h, w = x.shape[1], x.shape[2]
        if h < self.height or w < self.width:
            return _smart_resize(x, self.height, self.width)
        top, left = (h - self.height) // 2, (w - self.width) // 2
        return x[:, top:top + self.height, left:left + self.width, :]


class RandomFlip(_ImageLayer):
    """While training, each image mirrored with probability 1/2 along
    `mode`: "horizontal" (left-right), "vertical" (up-down) or
    "horizontal_and_vertical" (each independently); the identity
    otherwise."""

    def __init__(self, mode="horizontal_and_vertical", seed=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        if mode not in ("horizontal", "vertical", "horizontal_and_vertical"):
            raise ValueError(f"RandomFlip: mode must be 'horizontal', 'vertical' or "
                             f"'horizontal_and_vertical', got {mode!r}")
        self.mode, self.seed = mode, seed

    def _transform(self, x, training):
        if not training:
            return x
        if self.mode != "vertical":
            x = image.random_flip_left_right(x, self._next_seed())
        if self.mode != "horizontal":
            x = image.random_flip_up_down(x, self._next_seed())
        return x


class RandomCrop(_ImageLayer):
    """While training, a (height, width) window at a random offset (one per
    batch, drawn when the code runs); otherwise, and for images smaller
    than that, Keras' smart resize (the centred window of the target's
    aspect ratio, resized)."""

    def __init__(self, height, width, seed=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.height, self.width, self.seed = int(height), int(width), seed

    def _transform(self, x, training):
        h, w = x.shape[1], x.shape[2]
        if training and h >= self.height and w >= self.width:
            return image.random_crop(
                x, [math_ops.shape(x)[0], self.height, self.width, x.shape[3]],
                self._next_seed())
        return _smart_resize(x, self.height, self.width)


def _per_image_uniform(x, low, high, seed):
    """One number per image of x ([batch, 1, 1, 1]) from [low, high), or
    `low` for an empty range (nothing to draw)."""
    if low == high:
        return low
    return random.uniform([math_ops.shape(x)[0], 1, 1, 1], low, high, dtype=x.dtype,
                          seed=seed)


class RandomContrast(_ImageLayer):
    """While training, each image's contrast scaled by a factor drawn from
    [1 - lower, 1 + upper] (`factor`: a number for both, or (lower,
    upper); lower in [0, 1]), per channel around its mean, then clipped to
    [0, 255] (Keras' layer assumes 0-255 images); the identity otherwise."""

    def __init__(self, factor, seed=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        lower, upper = factor if isinstance(factor, (list, tuple)) else (factor, factor)
        self.lower, self.upper = float(lower), float(upper)
        if not (0.0 <= self.lower <= 1.0 and self.upper >= 0.0):
            raise ValueError(f"RandomContrast: factor must be in [0, 1] (or a pair: lower "
                             f"in [0, 1], upper >= 0), got {factor}")
        self.seed = seed

    def _transform(self, x, training):
        if not training:
            return x
        x = ops.cast(x, self.compute_dtype)
        scale = _per_image_uniform(x, 1.0 - self.lower, 1.0 + self.upper, self._next_seed())
        mean = ops.reduce_mean(x, axis=[1, 2], keepdims=True)
        return math_ops.clip_by_value((x - mean) * scale + mean, 0.0, 255.0)


class RandomBrightness(_ImageLayer):
    """While training, each image shifted by a delta drawn from a range
    times the width of `value_range`, then clipped to `value_range`;
    `factor` f is the range (-f, f), a pair (lower, upper) the signed range
    itself, each in [-1, 1] (Keras'); the identity otherwise."""

    def __init__(self, factor, value_range=(0, 255), seed=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        if isinstance(factor, (list, tuple)):
            lower, upper = sorted(float(f) for f in factor)
        else:
            lower, upper = -abs(float(factor)), abs(float(factor))
        if lower < -1.0 or upper > 1.0:
            raise ValueError(f"RandomBrightness: factor must lie in [-1, 1], got {factor}")
        self.lower, self.upper = lower, upper
        self.value_range = (float(value_range[0]), float(value_range[1]))
        self.seed = seed

    def _transform(self, x, training):
        if not training:
            return x
        x = ops.cast(x, self.compute_dtype)
        low, high = self.value_range
        delta = _per_image_uniform(x, self.lower, self.upper, self._next_seed()) * \
            (high - low)
        return math_ops.clip_by_value(x + delta, low, high)


class RandomGrayscale(_ImageLayer):
    """While training, each RGB image turned to grayscale (TensorFlow's
    luma weights, kept as 3 equal channels) with probability `factor`
    (Keras 3); the identity otherwise."""

    def __init__(self, factor=0.5, data_format=None, seed=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        if not 0.0 <= float(factor) <= 1.0:
            raise ValueError(f"RandomGrayscale: factor must be in [0, 1], got {factor}")
        if data_format not in (None, "channels_last"):
            raise ValueError("RandomGrayscale: only channels_last images are supported")
        self.factor, self.seed = float(factor), seed

    def _transform(self, x, training):
        if not training:
            return x
        if x.shape[-1] != 3:
            raise ValueError(f"{self.name}: RandomGrayscale needs RGB images (3 channels), "
                             f"got shape {x.shape}")
        x = ops.cast(x, self.compute_dtype)
        gray = image.rgb_to_grayscale(x)                     # [batch, h, w, 1]
        chosen = ops.less(_per_image_uniform(x, 0.0, 1.0, self._next_seed()), self.factor)
        return ops.where(chosen, gray + math_ops.zeros_like(x), x)


class AutoContrast(_ImageLayer):
    """Keras 3's AutoContrast: each image's channels stretched so their
    minimum and maximum span `value_range` (a constant channel is left as
    it is); applied in training and inference alike."""

    def __init__(self, value_range=(0, 255), name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.value_range = (float(value_range[0]), float(value_range[1]))

    def _transform(self, x, training):
        x = ops.cast(x, self.compute_dtype)
        low_value, high_value = self.value_range
        low = ops.reduce_min(x, axis=[1, 2], keepdims=True)
        high = ops.reduce_max(x, axis=[1, 2], keepdims=True)
        spread = high - low
        flat = ops.equal(spread, 0.0)
        scaled = (x - low) / ops.where(flat, math_ops.ones_like(spread), spread) * \
            (high_value - low_value) + low_value
        return ops.where(flat, x + math_ops.zeros_like(scaled), scaled)


def _signed_range(factor, what, bound=None):
    """Keras' factor: f is (-|f|, |f|), a pair (lower, upper) itself;
    with `bound`, every value within [-bound, bound] (Keras' check for
    zoom and translation factors)."""
    if isinstance(factor, (list, tuple)):
        lower, upper = (float(f) for f in factor)
    else:
        lower, upper = -abs(float(factor)), abs(float(factor))   # (Keras 3: |f|)
    if lower > upper:
        raise ValueError(f"{what}: factor {factor} has lower > upper")
    if bound is not None and (lower < -bound or upper > bound):
        raise ValueError(f"{what}: factor {factor} must lie in [-{bound}, {bound}]")
    return lower, upper


class _GeometricLayer(_ImageLayer):
    """Keras' random geometric augmentations: while training, each image
    under its own affine transform (kiln.image.transform, bilinear or
    nearest, fill_mode reflect / wrap / constant / nearest); the identity
    otherwise."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, name=None, **kwargs):
        super().__init__(name, **kwargs)
        if fill_mode not in ("reflect", "wrap", "constant", "nearest"):
            raise ValueError(f"{self.name}: fill_mode {fill_mode!r} is not one of "
                             "'reflect', 'wrap', 'constant', 'nearest'")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"{self.name}: interpolation {interpolation!r} is not "
                             "'bilinear' or 'nearest'")
        self.fill_mode, self.interpolation = fill_mode, interpolation
        self.seed, self.fill_value = seed, float(fill_value)

    def _uniform(self, x, low, high):
        """One number per image ([batch]) from [low, high)."""
        if low == high:
            return math_ops.fill([math_ops.shape(x)[0]], low, x.dtype)
        return random.uniform([math_ops.shape(x)[0]], low, high, dtype=x.dtype,
                              seed=self._next_seed())

    def _transform(self, x, training):
        if not training:
            return x
        x = ops.cast(x, self.compute_dtype)
        rows = self._matrix(x, float(x.shape[1]), float(x.shape[2]))
        zero = rows[0] * 0.0
        transforms = ops.stack(list(rows) + [zero, zero], axis=1)      # [batch, 8]
        return image.transform(x, transforms, self.interpolation, self.fill_mode,
                               self.fill_value)


class RandomRotation(_GeometricLayer):
    """Each image rotated by an angle drawn from factor * 2 pi (a number f:
    [-f, f]; a pair: [lower, upper]) about its centre (Keras')."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, name=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, name, **kwargs)
        self.lower, self.upper = _signed_range(factor, "RandomRotation")

    def _matrix(self, x, h, w):
        angles = self._uniform(x, self.lower * 2 * np.pi, self.upper * 2 * np.pi)
        cos, sin = ops.cos(angles), ops.sin(angles)
        x_offset = ((w - 1) - (cos * (w - 1) - sin * (h - 1))) / 2.0
        y_offset = ((h - 1) - (sin * (w - 1) + cos * (h - 1))) / 2.0
        return cos, -sin, x_offset, sin, cos, y_offset


class RandomZoom(_GeometricLayer):
    """Each image zoomed by 1 + a number drawn from height_factor (a
    number f: [-f, f]; positive zooms out) about its centre; width_factor
    its own range, or None for the same zoom in both directions
    (Keras')."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, name=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, name, **kwargs)
        self.height = _signed_range(height_factor, "RandomZoom", 1.0)
        self.width = None if width_factor is None else _signed_range(width_factor,
                                                                     "RandomZoom", 1.0)

    def _matrix(self, x, h, w):
        zy = 1.0 + self._uniform(x, *self.height)
        zx = zy if self.width is None else 1.0 + self._uniform(x, *self.width)
        zero = zy * 0.0
        return (zx, zero, (w - 1) / 2.0 * (1.0 - zx), zero, zy, (h - 1) / 2.0 * (1.0 - zy))


class RandomTranslation(_GeometricLayer):
    """Each image shifted by height_factor * height rows and width_factor *
    width columns, drawn per image (a number f: [-f, f]) (Keras')."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, name=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, name, **kwargs)
        self.height = _signed_range(height_factor, "RandomTranslation", 1.0)
        self.width = _signed_range(width_factor, "RandomTranslation", 1.0)

    def _matrix(self, x, h, w):
        dy = self._uniform(x, *self.height) * h
        dx = self._uniform(x, *self.width) * w
        one, zero = dy * 0.0 + 1.0, dy * 0.0
        return one, zero, -dx, zero, one, -dy


class GaussianNoise(Layer):
    """Adds N(0, stddev^2) noise when training; the identity otherwise."""
    supports_masking = True


    def __init__(self, stddev, seed=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.stddev, self.seed = float(stddev), seed

    def call(self, inputs, training=None):
        x = convert_to_tensor(inputs)
        if not training:
            return x
        return x + random.normal(_open_entries(x), stddev=self.stddev, dtype=x.dtype,
                                 seed=self.seed)


class GaussianDropout(Layer):
    """Multiplies by N(1, rate / (1 - rate)) noise when training (Keras'
    GaussianDropout); the identity otherwise."""
    supports_masking = True

    def __init__(self, rate, seed=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.rate, self.seed = float(rate), seed
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(f"GaussianDropout: rate must be in [0, 1), got {rate}")

    def call(self, inputs, training=None):
        x = convert_to_tensor(inputs)
        if not training or self.rate == 0.0:
            return x
        stddev = float(np.sqrt(self.rate / (1.0 - self.rate)))
        return x * random.normal(_open_entries(x), mean=1.0, stddev=stddev, dtype=x.dtype,
                                 seed=self.seed)


class UnitNormalization(Layer):
    """Each input scaled to unit L2 norm along `axis` (Keras'
    UnitNormalization)."""

    def __init__(self, axis=-1, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.axis = axis

    def call(self, inputs):
        return nn.l2_normalize(inputs, axis=self.axis)


class Conv1DTranspose(Layer):
    """The transpose of a 1-D convolution ([batch, steps, channels]): each
    input step spreads the kernel over a stride-spaced output; kernel
    (width, filters, in), as Keras'."""
    _layout = "wrap"

    _casts_integers = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.filters = int(filters)
        _convolution_options(self, kernel_size, strides, padding, activation, use_bias,
                             window=_row_window)
        self._inits = (kernel_initializer, bias_initializer)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{self.name}: Conv1DTranspose needs [batch, steps, channels] "
                             f"inputs, got shape {input_shape}")
        _transposed_weights(self, self.kernel_size[1:], input_shape)

    def call(self, inputs):
        x = convert_to_tensor(inputs)
        s = self.strides[1]
        steps = _transposed_length(x.shape[1], self.kernel_size[1], s, self.padding)
        y = nn.conv1d_transpose(x, self.kernel, [x.shape[0], steps, self.filters], s,
                                self.padding)
        return _biased(self, y)


def _single_int(value, what):
    v = value[0] if isinstance(value, (list, tuple)) and len(value) == 1 else value
    if not isinstance(v, (int, np.integer)) or v <= 0:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return int(v)


class Subtract(_Merge):
    """inputs[0] - inputs[1] (two inputs)."""

    def call(self, inputs):
        if len(inputs) != 2:
            raise ValueError(f"{self.name}: Subtract takes exactly two inputs, "
                             f"got {len(inputs)}")
        return convert_to_tensor(inputs[0]) - inputs[1]


class Maximum(_Fold):
    _combine = staticmethod(ops.maximum)


class Minimum(_Fold):
    _combine = staticmethod(ops.minimum)


class Average(_Fold):
    _combine = staticmethod(ops.add)

    def call(self, inputs):
        return super().call(inputs) / float(len(inputs))


class TimeDistributed(Layer):
    """Applies `layer` to every step of [batch, steps, ...] inputs (the
    steps folded into the batch)."""
    supports_masking = True


    def __init__(self, layer, name=None, **kwargs):
        super().__init__(name, **kwargs)
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed wraps a layer, got {layer!r}")
        self.layer = layer

    def call(self, inputs, training=None):
        x = convert_to_tensor(inputs)
        if x.ndim < 3:
            raise ValueError(f"{self.name}: TimeDistributed takes [batch, steps, ...], "
                             f"got shape {x.shape}")
        kwargs = {"training": training} if _takes_training(type(self.layer).call) else {}
        y = self.layer(ops.reshape(x, (-1,) + tuple(x.shape[2:])), **kwargs)
        return ops.reshape(y, (-1, x.shape[1]) + tuple(y.shape[1:]))


# --- Attention -----------------------------------------------------------------

class EinsumDense(Layer):
    """kiln.einsum(equation, inputs, kernel) + bias (Keras' EinsumDense):
    the equation names the input's, kernel's and output's dimensions
    ("abc,cde->abde"); `output_shape` gives the output's extents after the
    batch (None: the input's extent of that letter); `bias_axes` the output
    letters the bias spans. A "..." before the input's and output's letters
    ("...b,bc->...c") or after them ("ab...,bc->ac...") stands for the
    input's other dimensions, which output_shape leaves out."""

    def __init__(self, equation, output_shape, activation=None, bias_axes=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        compact = equation.replace(" ", "")
        self._elided = None
        for elided, pattern in (
                (None, r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)"),
                ("left", r"\.\.\.([a-zA-Z]+),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)"),
                ("right", r"([a-zA-Z]+)\.\.\.,([a-zA-Z]+)->([a-zA-Z]+)\.\.\.")):
            match = re.fullmatch(pattern, compact)
            if match is not None:
                self._elided = elided
                break
        if match is None:
            raise ValueError(f"EinsumDense: equation {equation!r} must read "
                             "'<input>,<kernel>-><output>' in letters, with '...' "
                             "before (or after) both the input's and the output's")
        self.equation = equation
        self._specs = match.groups()
        self.partial_output_shape = [output_shape] if isinstance(output_shape, int) \
            else list(output_shape)
        self.activation = _activation(activation)
        self.bias_axes = bias_axes
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer

    def build(self, input_shape):
        given, kernel, out = self._specs
        shape = list(self.partial_output_shape)
        if self._elided is not None:
            # The "..." becomes letters of its own for the input's other
            # dimensions; their output extents are the input's (Keras').
            n = len(input_shape) - len(given)
            if n < 0:
                raise ValueError(f"{self.name}: the equation's input {given!r} names more "
                                 f"dimensions than the input shape {input_shape} has")
            free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in self.equation]
            dots = "".join(free[:n])
            if self._elided == "left":
                given, out = dots + given, dots + out
                shape = list(input_shape[:n]) + shape
            else:
                given, out = given + dots, out + dots
                if len(shape) == len(out) - n - 1:
                    shape = [input_shape[0]] + shape
                shape = shape + list(input_shape[len(input_shape) - n:])
            self._specs = (given, kernel, out)
            self._equation = f"{given},{kernel}->{out}"
        if len(given) != len(input_shape):
            raise ValueError(f"{self.name}: the equation's input {given!r} has rank "
                             f"{len(given)}, the input shape {input_shape}")
        if len(shape) == len(out) - 1:
            shape = [input_shape[0]] + shape
        if len(shape) != len(out):
            raise ValueError(f"{self.name}: output_shape {self.partial_output_shape} "
                             f"does not fit the output {out!r}")
        sizes = dict(zip(given, input_shape))
        for letter, d in zip(out, shape):
            if d is not None and sizes.get(letter) not in (None, d):
                raise ValueError(f"{self.name}: output_shape gives {letter!r} extent {d}, "
                                 f"the input {sizes[letter]}")
            sizes.setdefault(letter, d)
        missing = [c for c in kernel if sizes.get(c) is None]
        if missing:
            raise ValueError(f"{self.name}: the kernel's dimension {missing[0]!r} is "
                             "neither the input's nor a given output extent")
        self.full_output_shape = tuple(sizes[c] if c in sizes else d for c, d in zip(out, shape))
        self.kernel = self.add_weight("kernel", [sizes[c] for c in kernel],
                                      self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = None
        if self.bias_axes:
            unknown = [c for c in self.bias_axes if c not in out]
            if unknown:
                raise ValueError(f"{self.name}: bias axis {unknown[0]!r} is not an "
                                 f"output dimension of {out!r}")
            first = min(out.index(c) for c in self.bias_axes)
            bias_shape = [sizes[c] if c in self.bias_axes else 1 for c in out[first:]]
            self.bias = self.add_weight("bias", bias_shape, self.bias_initializer,
                                        regularizer=self.bias_regularizer)

    def call(self, inputs):
        y = math_ops.einsum(getattr(self, "_equation", self.equation), inputs, self.kernel)
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y) if self.activation else y


def _attention_mask(mask, causal, query, value):
    """The bool mask [.., T, S] of the positions attended: `mask` and, with
    `causal`, position t seeing only s <= t (T, S: the query's and the
    value's steps, which may be known only when the code runs)."""
    if causal:
        t, s = query.shape[1], value.shape[1]
        if t is not None and s is not None:
            lower = convert_to_tensor(np.tril(np.ones((t, s), bool)))
        else:
            steps = math_ops._shape_holder(
                [_open_entries(query)[1], _open_entries(value)[1]], "causal mask")
            lower = ops.greater_equal(math_ops._positions(steps, 0),
                                      math_ops._positions(steps, 1))
        mask = lower if mask is None else ops.logical_and(ops.cast(mask, "bool"), lower)
    return mask


class MultiHeadAttention(Layer):
    """Keras' MultiHeadAttention: query, key and value projected to
    `num_heads` heads (EinsumDense layers "query", "key", "value"), scaled
    dot-product attention per head (softmax over the keys, masked positions
    get -1e9 first, dropout on the probabilities when training), the heads
    projected back ("attention_output") to the query's features or
    `output_shape`. `call(query, value, key=None, attention_mask=None,
    return_attention_scores=False, training=None, use_causal_mask=False)`
    on [batch, steps, features] tensors."""

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        # (Kiln attends over the steps of [batch, steps, features]: Keras'
        # default, which TF's configs write out as attention_axes [1].)
        axes = [attention_axes] if isinstance(attention_axes, int) else attention_axes
        if axes is not None and [int(a) for a in axes] not in ([1], [-3]):
            raise ValueError("MultiHeadAttention: attention_axes other than the "
                             f"steps (None or [1]) are not supported, got {attention_axes}")
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.value_dim = int(value_dim) if value_dim else self.key_dim
        self.dropout, self.use_bias = float(dropout), use_bias
        self._output_shape_arg = output_shape
        # (the four projections' own arguments, constraints included: their
        # weights are the ones an optimizer step constrains)
        self._dense = dict(kernel_initializer=kernel_initializer,
                           bias_initializer=bias_initializer,
                           kernel_regularizer=kernel_regularizer,
                           bias_regularizer=bias_regularizer,
                           kernel_constraint=kernel_constraint,
                           bias_constraint=bias_constraint)
        self._built_from = None

    def _projections(self, query_shape, key_shape, value_shape):
        """The four EinsumDense layers, built in this layer's name scope
        (weights "<mha>/query/kernel", ... as in Keras)."""
        out = self._output_shape_arg or query_shape[-1]
        out = [out] if isinstance(out, int) else list(out)
        if len(out) != 1:
            raise ValueError("MultiHeadAttention: output_shape must be one extent")

        def dense(equation, shape, bias_axes, name, input_shape):
            # (In this layer's dtype policy, as Keras passes it on.)
            layer = EinsumDense(equation, shape, name=name,
                                bias_axes=bias_axes if self.use_bias else None,
                                dtype=self._dtype_policy, **self._dense)
            layer.build(input_shape)
            layer.built = True
            return layer
        with self.name_scope:
            self._query_dense = dense("abc,cde->abde", [None, self.num_heads, self.key_dim],
                                      "de", "query", query_shape)
            heads = self._key_value_heads
            self._key_dense = dense("abc,cde->abde", [None, heads, self.key_dim],
                                    "de", "key", key_shape)
            self._value_dense = dense("abc,cde->abde", [None, heads, self.value_dim],
                                      "de", "value", value_shape)
            self._output_dense = dense(
                "abcd,cde->abe", [None, out[0]], "e", "attention_output",
                tuple(query_shape[:2]) + (self.num_heads, self.value_dim))

    def __call__(self, query=None, value=None, *args, **kwargs):
        # (Keras' keyword form, mha(query=q, value=v, key=k), too.)
        if query is None or value is None:
            raise TypeError(f"{self.name}: MultiHeadAttention needs a query and a value")
        return super().__call__(query, value, *args, **kwargs)

    supports_masking = True  # (the output has the query's mask)

    def call(self, query, value, key=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False,
             query_mask=None, value_mask=None, key_mask=None):
        # Keras masks of the inputs (Embedding(mask_zero=True)): a query
        # step attends only to unmasked value (and key) steps.
        query_mask = _mask_of(query) if query_mask is None else query_mask
        value_mask = _mask_of(value) if value_mask is None else value_mask
        key_mask = (_mask_of(key) if key is not None else None) if key_mask is None \
            else key_mask
        query = convert_to_tensor(query)
        value = self._cast_inputs(convert_to_tensor(value))
        key = value if key is None else self._cast_inputs(convert_to_tensor(key))
        for what, t in (("query", query), ("value", value), ("key", key)):
            if t.ndim != 3:
                raise ValueError(f"{self.name}: the {what} must be [batch, steps, "
                                 f"features], got shape {t.shape}")
        if self._built_from is None:
            self._projections(query.shape, key.shape, value.shape)
            self._built_from = (query.shape[-1], key.shape[-1], value.shape[-1])
        elif self._built_from != (query.shape[-1], key.shape[-1], value.shape[-1]):
            raise ValueError(f"{self.name}: built for query, key and value features "
                             f"{self._built_from}, called with {(query.shape[-1], key.shape[-1], value.shape[-1])}")
        q = self._query_dense(query) * (1.0 / float(np.sqrt(self.key_dim)))
        k = self._key_dense(key)
        v = self._value_dense(value)
        if self._key_value_heads != self.num_heads:   # (grouped: each serves several)
            repeats = self.num_heads // self._key_value_heads
            k = math_ops.repeat(k, repeats, axis=2)
            v = math_ops.repeat(v, repeats, axis=2)
        scores = math_ops.einsum("aecd,abcd->acbe", k, q)        # [B, N, T, S]
        mask = _attention_mask(attention_mask, use_causal_mask, query, value)
        for part, axis in ((query_mask, -1), (value_mask, -2), (key_mask, -2)):
            if part is not None:
                part = math_ops.expand_dims(ops.cast(convert_to_tensor(part), "bool"), axis)
                mask = part if mask is None else ops.logical_and(ops.cast(mask, "bool"), part)
        if mask is not None:
            mask = math_ops.expand_dims(convert_to_tensor(mask), -3)  # over the heads
            scores = scores + (1.0 - ops.cast(mask, scores.dtype)) * \
                _large_negative(scores.dtype)
        probs = nn.softmax(scores, axis=-1)
        dropped = nn.dropout(probs, self.dropout) if training and self.dropout else probs
        out = self._output_dense(math_ops.einsum("acbe,aecd->abcd", dropped, v))
        return (out, probs) if return_attention_scores else out


MultiHeadAttention._key_value_heads = property(lambda self: self.num_heads)


class GroupQueryAttention(MultiHeadAttention):
    """Keras' GroupQueryAttention: num_query_heads query heads of head_dim,
    sharing num_key_value_heads key and value heads (each serves
    num_query_heads / num_key_value_heads query heads; 1 is multi-query
    attention); otherwise MultiHeadAttention's call, masks and weights."""

    def __init__(self, head_dim, num_query_heads, num_key_value_heads, dropout=0.0,
                 use_bias=True, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 seed=None, name=None, **kwargs):
        if int(num_key_value_heads) <= 0 or int(num_query_heads) % int(num_key_value_heads):
            raise ValueError(f"GroupQueryAttention: num_query_heads ({num_query_heads}) must "
                             f"be a multiple of num_key_value_heads ({num_key_value_heads})")
        super().__init__(num_query_heads, head_dim, dropout=dropout, use_bias=use_bias,
                         kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer, name=name, **kwargs)
        self.head_dim, self.seed = int(head_dim), seed
        self.num_query_heads, self.num_key_value_heads = int(num_query_heads), \
            int(num_key_value_heads)

    @property
    def _key_value_heads(self):
        return self.num_key_value_heads


class Attention(Layer):
    """Keras' dot-product Attention: `call([query, value])` or `[query,
    value, key]`: softmax(query key^T (times a learned scale with
    `use_scale`)) value; masks (`mask=[query_mask, value_mask]`) drop value
    steps (-1e9 before the softmax) and zero masked query steps."""

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, name=None,
                 **kwargs):
        super().__init__(name, **kwargs)
        if score_mode != "dot":
            raise ValueError(f"Attention: score_mode {score_mode!r} is not supported "
                             "(only 'dot')")
        self.use_scale, self.dropout = use_scale, float(dropout)

    def __call__(self, inputs, *args, **kwargs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ValueError(f"{self.name}: Attention takes [query, value] or "
                             "[query, value, key]")
        if not self.built:  # (the weight does not depend on the shapes)
            self.build(None)
            self.built = True
        return super().__call__(list(inputs), *args, **kwargs)

    def _cast_inputs(self, inputs):
        return [Layer._cast_inputs(self, x) for x in inputs]

    def build(self, input_shape):
        self.scale = self.add_weight("scale", (), "ones") if self.use_scale else None

    supports_masking = True

    def compute_mask(self, inputs, mask=None):
        # The output has the query's steps: the query's mask.
        return mask[0] if mask is not None else None

    def _scores(self, query, key):
        scores = ops.matmul(query, key, transpose_b=True)
        return scores * self.scale if self.scale is not None else scores

    def call(self, inputs, mask=None, training=None, return_attention_scores=False,
             use_causal_mask=False):
        query, value = convert_to_tensor(inputs[0]), convert_to_tensor(inputs[1])
        key = convert_to_tensor(inputs[2]) if len(inputs) == 3 else value
        scores = self._scores(query, key)
        # (mask: [query_mask, value_mask(, key_mask)], the inputs' masks.)
        query_mask, value_mask = (list(mask) + [None, None])[:2] if mask is not None \
            else (None, None)
        if value_mask is not None:
            value_mask = math_ops.expand_dims(convert_to_tensor(value_mask), -2)
        keep = _attention_mask(value_mask, use_causal_mask, query, value)
        if keep is not None:
            scores = scores + (1.0 - ops.cast(keep, scores.dtype)) * \
                _large_negative(scores.dtype)
        weights = nn.softmax(scores, axis=-1)
        if training and self.dropout:
            weights = nn.dropout(weights, self.dropout)  # (returned so, as Keras')
        out = ops.matmul(weights, value)
        if query_mask is not None:
            out = out * math_ops.expand_dims(ops.cast(query_mask, out.dtype), -1)
        return (out, weights) if return_attention_scores else out


class AdditiveAttention(Attention):
    """Keras' Bahdanau-style AdditiveAttention: scores sum(scale *
    tanh(query_i + key_j)) over the features (scale a learned vector of the
    feature size with use_scale, 1 otherwise), then Attention's masking and
    softmax."""

    def __init__(self, use_scale=True, dropout=0.0, name=None, **kwargs):
        super().__init__(use_scale=False, dropout=dropout, name=name, **kwargs)
        self.additive_scale = use_scale
        self.scale = None

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, (list, tuple)) and len(inputs) in (2, 3) and not self.built:
            features = convert_to_tensor(inputs[0]).shape[-1]
            self.scale = self.add_weight("scale", (features,), "glorot_uniform") \
                if self.additive_scale else None
            self.built = True
        return super().__call__(inputs, *args, **kwargs)

    def _scores(self, query, key):
        pairs = ops.tanh(math_ops.expand_dims(query, -2) + math_ops.expand_dims(key, -3))
        if self.scale is not None:
            pairs = pairs * self.scale
        return ops.reduce_sum(pairs, axis=-1)


class SpectralNormalization(Layer):
    """Wraps a layer with a `kernel` and, while training, divides the kernel
    by an estimate of its largest singular value (power iteration on the
    kernel as a [-1, units] matrix, its vector kept in a variable), writing
    the normalized kernel back, as Keras' SpectralNormalization does."""

    def __init__(self, layer, power_iterations=1, name=None, **kwargs):
        super().__init__(name, **kwargs)
        if not isinstance(layer, Layer):
            raise ValueError(f"SpectralNormalization wraps a layer, got {layer!r}")
        if int(power_iterations) <= 0:
            raise ValueError("SpectralNormalization: power_iterations must be positive")
        self.layer, self.power_iterations = layer, int(power_iterations)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
            self.layer.built = True
        kernel = getattr(self.layer, "kernel", None)
        if kernel is None:
            raise ValueError(f"SpectralNormalization: {self.layer.name} has no kernel")
        self.vector_u = self.add_weight("vector_u", (1, kernel.shape[-1]),
                                        initializers.TruncatedNormal(stddev=0.02),
                                        trainable=False)

    def call(self, inputs, training=None):
        if not training:
            return self.layer(inputs)
        kernel = self.layer.kernel
        value = kernel.value()            # (the read the gradient goes to)
        units = kernel.shape[-1]
        w = ops.reshape(value, [-1, units])
        u = self.vector_u.value()
        unit = lambda t: t / ops.sqrt(ops.reduce_sum(t * t))
        for _ in range(self.power_iterations):
            v = unit(ops.matmul(u, w, transpose_b=True))
            u = unit(ops.matmul(v, w))
        u, v = ops.stop_gradient(u), ops.stop_gradient(v)
        sigma = ops.reshape(ops.matmul(ops.matmul(v, w), u, transpose_b=True), ())
        # (an all-zero kernel stays as it is)
        nonzero = ops.greater(ops.reduce_max(ops.abs(w)), 0.0)
        normalized = ops.where(nonzero, value / sigma, value)
        # Keras computes with the normalized kernel written into the variable
        # and differentiates with respect to it: the layer gets the
        # normalized value with the identity's gradient toward the read.
        kernel_tensor = value + ops.stop_gradient(normalized - value)
        object.__setattr__(self.layer, "kernel", kernel_tensor)
        try:
            out = self.layer(inputs)
        finally:
            object.__setattr__(self.layer, "kernel", kernel)
        self.vector_u.assign(ops.where(nonzero, u, self.vector_u.value()))
        kernel.assign(normalized)
        return out


class KerasTensor:
    """A symbolic tensor of the functional API: a kiln.Input, or a layer's
    output on such tensors. It has a shape (the batch extent None) and a
    dtype, no value."""
    name = None   # (an Input's name)

    def __init__(self, shape, dtype="float32", layer=None, inputs=None, kwargs=None,
                 call=None, index=None, args=()):
        self.shape = tuple(shape)
        self.dtype = as_dtype(dtype)
        self._layer, self._inputs, self._kwargs = layer, inputs, dict(kwargs or {})
        self._args = tuple(args)  # the call's other positional arguments
        # Output `index` of the layer call `call` (shared by the outputs of
        # one call), or the call's only output (index None).
        self._call, self._index = call, index

    def _sources(self):
        """The KerasTensors the call that made this one took."""
        given = _flatten_keras(self._inputs) + _flatten_keras(list(self._args))
        for v in self._kwargs.values():
            given.extend(_flatten_keras(v))
        return [t for t in given if isinstance(t, KerasTensor)]

    def __repr__(self):
        where = f" from {self._layer.name}" if self._layer is not None else ""
        return f"<KerasTensor shape={self.shape} dtype={self.dtype.name}{where}>"

    # Operators and ops on symbolic tensors are nodes of the graph (an
    # op layer each), as Keras' `x + h`, `x[:, 0]`, `tf.reduce_mean(x)`.
    def __add__(self, o): return _keras_op("add", ops.add, self, o)
    def __radd__(self, o): return _keras_op("add", ops.add, o, self)
    def __sub__(self, o): return _keras_op("subtract", ops.subtract, self, o)
    def __rsub__(self, o): return _keras_op("subtract", ops.subtract, o, self)
    def __mul__(self, o): return _keras_op("multiply", ops.multiply, self, o)
    def __rmul__(self, o): return _keras_op("multiply", ops.multiply, o, self)
    def __truediv__(self, o): return _keras_op("truediv", ops.truediv, self, o)
    def __rtruediv__(self, o): return _keras_op("truediv", ops.truediv, o, self)
    def __pow__(self, o): return _keras_op("pow", ops.pow, self, o)
    def __rpow__(self, o): return _keras_op("pow", ops.pow, o, self)
    def __matmul__(self, o): return _keras_op("matmul", ops.matmul, self, o)
    def __rmatmul__(self, o): return _keras_op("matmul", ops.matmul, o, self)
    def __neg__(self): return _keras_op("negative", ops.negative, self)
    def __abs__(self): return _keras_op("abs", ops.abs, self)
    def __getitem__(self, key): return _keras_op("__getitem__", _getitem, self, key)
    def __lt__(self, o): return _keras_op("less", ops.less, self, o)
    def __le__(self, o): return _keras_op("less_equal", ops.less_equal, self, o)
    def __gt__(self, o): return _keras_op("greater", ops.greater, self, o)
    def __ge__(self, o): return _keras_op("greater_equal", ops.greater_equal, self, o)
    def __floordiv__(self, o): return _keras_op("floordiv", ops.floordiv, self, o)
    def __rfloordiv__(self, o): return _keras_op("floordiv", ops.floordiv, o, self)
    def __mod__(self, o): return _keras_op("floormod", ops.floormod, self, o)
    def __rmod__(self, o): return _keras_op("floormod", ops.floormod, o, self)
    def __and__(self, o): return _keras_op("logical_and", ops.logical_and, self, o)
    def __rand__(self, o): return _keras_op("logical_and", ops.logical_and, o, self)
    def __or__(self, o): return _keras_op("logical_or", ops.logical_or, self, o)
    def __ror__(self, o): return _keras_op("logical_or", ops.logical_or, o, self)
    def __invert__(self): return _keras_op("logical_not", ops.logical_not, self)
    __hash__ = object.__hash__
    # (NumPy defers to these operators: np.ones(3) + x is one op, not one
    # per element)
    __array_ufunc__ = None

    def __iter__(self):
        raise TypeError("a symbolic tensor (kiln.Input and the layers after it) cannot "
                        "be iterated: index it (x[:, 0]) or split it with an op")


def _getitem(t, key):
    return t[key]


def _resolve_op(name):
    """The op a TFOpLambda's name means: kiln.<name> (dotted: kiln.math.*,
    kiln.nn.*, kiln.keras.ops.*), or indexing."""
    if name == "__getitem__":
        return _getitem
    import kiln
    found = kiln
    for part in name.split("."):
        found = getattr(found, part, None)
        if found is None:
            return None
    return found if callable(found) else None


def _encode_op_value(value):
    """An op layer's argument as JSON: its slots, slices, Ellipsis, lists,
    dicts, numbers, strings, dtypes and arrays."""
    from .dtypes import DType
    if isinstance(value, _OpSlot):
        return {"__slot__": value.index}
    if isinstance(value, slice):
        return {"__slice__": [_encode_op_value(v) for v in (value.start, value.stop,
                                                             value.step)]}
    if value is Ellipsis:
        return {"__ellipsis__": True}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode_op_value(v) for v in value]}
    if isinstance(value, list):
        return [_encode_op_value(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[k, _encode_op_value(v)] for k, v in value.items()]}
    if isinstance(value, DType):
        return {"__dtype__": value.name}
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (Tensor, np.ndarray)):
        array = np.asarray(value.numpy() if isinstance(value, Tensor) else value)
        return {"__array__": array.tolist(), "dtype": str(array.dtype)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"model.save: an op layer's argument {value!r} cannot be written")


def _decode_op_value(value):
    if isinstance(value, list):
        return [_decode_op_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__slot__" in value:
        return _OpSlot(value["__slot__"])
    if "__slice__" in value:
        return slice(*[_decode_op_value(v) for v in value["__slice__"]])
    if "__ellipsis__" in value:
        return Ellipsis
    if "__tuple__" in value:
        return tuple(_decode_op_value(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: _decode_op_value(v) for k, v in value["__dict__"]}
    if "__dtype__" in value:
        return as_dtype(value["__dtype__"])
    if "__array__" in value:
        return np.array(value["__array__"], value["dtype"])
    return value


class _OpSlot:
    """Where the i-th symbolic tensor of an op's arguments goes."""

    def __init__(self, index):
        self.index = index


class TFOpLambda(Layer):
    """A kiln op applied to symbolic tensors in the functional API (Keras
    2's TFOpLambda): `function` called with the arguments it was given,
    each symbolic tensor replaced by its value. It has no weights; like a
    Lambda it is kept by save_weights and checkpoints, not by model.save."""

    _saves_by_config = True      # (model.save writes get_config: the op by name)

    def __init__(self, function, arguments, keywords, name=None, op=None, **kwargs):
        super().__init__(name, **kwargs)
        self.function, self._arguments, self._keywords = function, arguments, keywords
        self._op = op        # (its name among kiln's ops: what a saved model keeps)
        self.built = True    # (no weights; its inputs stay a list)

    def get_config(self):
        """The op's name and its arguments (the symbolic tensors as slots), so
        model.save keeps models with op layers."""
        if self._op is None or _resolve_op(self._op) is None:
            raise ValueError(f"model.save: the op layer {self.name} applies "
                             f"{self.function!r}, which has no name to save it by")
        return {**super().get_config(), "op": self._op,
                "arguments": _encode_op_value(self._arguments),
                "keywords": _encode_op_value(self._keywords)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        op = config.pop("op")
        function = _resolve_op(op)
        if function is None:
            raise ValueError(f"load_model: the op layer {config.get('name')!r} names the op "
                             f"{op!r}, which Kiln does not have")
        arguments = _decode_op_value(config.pop("arguments"))
        keywords = _decode_op_value(config.pop("keywords"))
        layer = cls(function, arguments, keywords, name=config.get("name"), op=op)
        layer.trainable = config.get("trainable", True)
        return layer

    def _symbolic_call(self, inputs, args, kwargs):
        """As a layer's, then each output extent checked with a batch of 2
        as well: the extents that follow the batch are open (an op may move
        or drop the batch dimension: a whole-tensor mean is a scalar)."""
        result = super()._symbolic_call(inputs, args, kwargs)

        def probe(batch, inner):
            with init_scope(), _probing():
                out = self.call(_map_keras(inputs, {}, placeholder=(batch, inner)))
            return [tuple(getattr(o, "shape", ())) for o in
                    (out if isinstance(out, (list, tuple)) else [out])]
        # (three probes: the batch changed, the open inner extents changed;
        # an output extent that moved with either is open)
        base = probe(1, _OPEN_PROBES[0])
        batched = probe(2, _OPEN_PROBES[0])
        longer = probe(1, _OPEN_PROBES[1])
        for t, a, b, c in zip(_flatten_keras(result), base, batched, longer):
            if len(a) == len(b) == len(c):
                t.shape = tuple(None if x != y or x != z else x for x, y, z in zip(a, b, c))
        return result

    def call(self, inputs):
        values = inputs if isinstance(inputs, list) else [inputs]

        def fill(value):
            if isinstance(value, _OpSlot):
                return values[value.index]
            if isinstance(value, (list, tuple)):
                return type(value)(fill(v) for v in value)
            if isinstance(value, dict):
                return {k: fill(v) for k, v in value.items()}
            return value
        return self.function(*fill(self._arguments), **fill(self._keywords))


def _keras_op(key, op, /, *args, **kwargs):
    """`op` on arguments holding symbolic tensors: a TFOpLambda node taking
    them (in order), the other arguments kept as they are."""
    found = []

    def slot(value):
        if isinstance(value, KerasTensor):
            for i, t in enumerate(found):
                if t is value:
                    return _OpSlot(i)
            found.append(value)
            return _OpSlot(len(found) - 1)
        if isinstance(value, (list, tuple)):
            return type(value)(slot(v) for v in value)
        if isinstance(value, dict):
            return {k: slot(v) for k, v in value.items()}
        return value
    arguments, keywords = slot(list(args)), slot(dict(kwargs))
    name = "tf." + re.sub(r"[^\w.]", "_", key.strip("_"))
    layer = TFOpLambda(op, arguments, keywords, name=_unique_op_name(name), op=key)
    return layer(found if len(found) > 1 else found[0])


def _unique_op_name(base):
    count = _OP_NAMES.get(base, 0)
    _OP_NAMES[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


_OP_NAMES = {}
_dispatch.register(KerasTensor, {}, default=_keras_op)


def Input(shape=None, batch_size=None, dtype="float32", name=None, ragged=False,
          sparse=False, batch_shape=None):
    """A functional model's input: examples of `shape` (without the batch
    dimension; or `batch_shape`, with it)."""
    if batch_shape is not None:
        batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
    if shape is None:
        raise ValueError("Input needs a shape (without the batch dimension)")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if ragged or sparse:
        raise NotImplementedError(
            f"Input({'ragged' if ragged else 'sparse'}=True): a functional model's inputs "
            "are dense tensors; pad the examples to one length (to_tensor(), "
            "keras.utils.pad_sequences) with a Masking or mask_zero Embedding, or call "
            "the layers on a RaggedTensor directly (they take its padded form)")
    # (An extent of None besides the batch: each batch's own, a sequence's
    # length, as Keras' Input((None,)); each length compiles its own step.)
    tensor = KerasTensor((batch_size,) + shape, dtype)
    tensor.name = name    # (a dict of inputs may be keyed by it, as in Keras)
    return tensor


def _has_keras(value):
    if isinstance(value, KerasTensor):
        return True
    return isinstance(value, (list, tuple)) and any(isinstance(v, KerasTensor)
                                                    for v in value)


def _flatten_keras(value):
    if isinstance(value, dict):      # (a dict of outputs: in its order)
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            out.extend(_flatten_keras(v))
        return out
    return [value]


# --- Keras' order of a functional model's layers -----------------------------

def _input_layer_of(t):
    """The InputLayer of a kiln.Input tensor (made once): what Keras lists
    first among a functional model's layers; its output is the tensor."""
    layer = t.__dict__.get("_input_layer")
    if layer is None:
        layer = InputLayer(shape=tuple(t.shape[1:]), batch_size=t.shape[0],
                           dtype=t.dtype, name=t.name)
        layer.built = True
        layer.__dict__["_symbolic_calls"] = [(t, t)]
        layer._output_shape = tuple(t.shape)
        t.__dict__["_input_layer"] = layer
    return layer


def _node_key(t):
    """The call (node) a KerasTensor comes from (an Input: its own)."""
    return id(t._call) if t._call is not None else id(t)


def _keras_sources(t):
    """The KerasTensors a call took, in Keras' order (nest.flatten of the
    arguments: the inputs, the other positional ones, then the keyword
    ones by sorted name)."""
    given = _flatten_keras(t._inputs) + _flatten_keras(list(t._args))
    for k in sorted(t._kwargs):
        given.extend(_flatten_keras(t._kwargs[k]))
    return [s for s in given if isinstance(s, KerasTensor)]


def keras_graph_order(model):
    """A functional model's layers in Keras' order (Functional.layers, what
    Keras pairs weights by): by depth from the outputs, deepest first, ties
    in the order a depth-first walk from the outputs first meets them;
    each entry ("input", Input tensor) or ("layer", layer)."""
    index, entries, nodes, finished = {}, {}, [], set()

    def visit(t):
        key = _node_key(t)
        if key in finished:
            return
        owner = t._layer if t._layer is not None else t
        if id(owner) not in index:
            index[id(owner)] = len(index)
            entries[id(owner)] = ("layer", owner) if t._layer is not None else ("input", t)
        parents = []
        if t._layer is not None:
            for source in _keras_sources(t):
                visit(source)
                parents.append(_node_key(source))
        finished.add(key)
        nodes.append((key, id(owner), parents))

    for t in _flatten_keras(model._functional_outputs):
        visit(t)
    node_depth, owner_depth = {}, {}
    for key, owner, parents in reversed(nodes):
        depth = max(node_depth.setdefault(key, 0), owner_depth.get(owner, 0))
        owner_depth[owner] = node_depth[key] = depth
        for parent in parents:
            node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    for t in model._functional_inputs:      # (an input no output uses)
        if id(t) not in index:
            index[id(t)], entries[id(t)], owner_depth[id(t)] = -1, ("input", t), 0
    order = sorted(entries, key=lambda k: (-owner_depth[k], index[k]))
    return [entries[k] for k in order]



_probes = threading.local()


_UNSET = object()


class _probing:
    """While layers run on zeros only to be built (a functional call's
    probe, a Sequential built from its input shape): a stateful layer
    leaves its state alone, and takes `batch` (the batch the model declares,
    None when it declares none) instead of the zeros' batch of 1."""

    def __init__(self, batch=_UNSET):
        self.batch = batch

    def __enter__(self):
        _probes.__dict__.setdefault("stack", []).append(self.batch)

    def __exit__(self, *exc):
        _probes.stack.pop()


def _is_probing():
    return bool(getattr(_probes, "stack", None))


def _probe_batch(batch):
    """The batch a layer built during a probe is for: the declared one if
    the probe has it, else `batch`."""
    stack = getattr(_probes, "stack", None)
    return batch if not stack or stack[-1] is _UNSET else stack[-1]


def _sample(shape, dtype):
    """A tensor of `shape` and `dtype` to build layers with: zeros, or
    empty strings."""
    dtype = as_dtype(dtype)
    if dtype is string_:
        return convert_to_tensor(np.full(shape, b"", dtype=object), string_)
    return convert_to_tensor(np.zeros(shape, dtype.as_numpy_dtype), dtype)


def _map_keras(value, values, placeholder=False):
    """`value` (a KerasTensor or a list of them) with each KerasTensor
    replaced by its value in `values`, or by zeros of a batch of 1 (of
    `placeholder` when it is a number)."""
    if isinstance(value, (list, tuple)):
        return type(value)(_map_keras(v, values, placeholder) for v in value)
    if isinstance(value, dict):
        return {k: _map_keras(v, values, placeholder) for k, v in value.items()}
    if isinstance(value, KerasTensor):
        if placeholder is not False:
            # (the batch, and other open extents: long enough for a
            # convolution or pooling to leave something)
            batch, inner = (1, _OPEN_PROBES[0]) if placeholder is True else \
                placeholder if isinstance(placeholder, tuple) else (placeholder, placeholder)
            shape = tuple((batch if i == 0 else inner) if d is None else d
                          for i, d in enumerate(value.shape))
            return _sample(shape, value.dtype)
        return values[id(value)]
    return value


# The lengths a probe gives open extents besides the batch (two, to tell
# the output extents that follow them).
_OPEN_PROBES = (16, 24)


# --- Recurrent layers ------------------------------------------------------
#
# SimpleRNN, LSTM and GRU (with their cells), the generic RNN over a cell,
# and Bidirectional. An RNN runs its cell over the time steps with
# kiln.for_loop: a Python loop eagerly, one kiln.for inside @kiln.function
# (a compiled step holds the cell once, however long the sequences are),
# the outputs collected in a TensorArray when return_sequences is set.

class _DropoutCell:
    """Keras' dropout of a cell's inputs (`dropout`) and of the state its
    recurrent product reads (`recurrent_dropout`): while training, one
    mask per sequence (the same at every step, values 0 or 1 / (1 - rate)),
    drawn by the RNN layer before its loop (`_masks`)."""

    def _set_rates(self, dropout, recurrent_dropout):
        for what, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= float(rate) < 1.0:
                raise ValueError(f"{type(self).__name__}: {what} must be in [0, 1), "
                                 f"got {rate}")
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self._masks = (None, None)

    def _draw_masks(self, step_input, training):
        """The masks for one sequence of [batch, features] steps (None where
        no dropout applies)."""
        if not training:
            self._masks = (None, None)
            return
        state = ops.matmul(step_input, convert_to_tensor(np.zeros(
            (step_input.shape[-1], self.units), as_dtype(step_input.dtype).as_numpy_dtype),
            step_input.dtype))   # ([batch, units]: an open batch is the input's)
        ones = math_ops.ones_like
        self._masks = (nn.dropout(ones(step_input), self.dropout) if self.dropout else None,
                       nn.dropout(ones(state), self.recurrent_dropout)
                       if self.recurrent_dropout else None)

    def _dropped(self, inputs, h):
        """The cell's input and the state its recurrent product reads."""
        x_mask, h_mask = self.__dict__.get("_masks", (None, None))
        return (inputs if x_mask is None else inputs * x_mask,
                h if h_mask is None else h * h_mask)


class SimpleRNNCell(_DropoutCell, Layer):
    """h = activation(x W + h U + b)."""

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 dropout=0.0, recurrent_dropout=0.0, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self._set_rates(dropout, recurrent_dropout)
        self.units = int(units)
        self.activation = _activation(activation)
        self.use_bias = use_bias
        self._inits = (kernel_initializer, recurrent_initializer, bias_initializer)

    @property
    def state_size(self):
        return [self.units]

    def build(self, input_shape):
        k, r, b = self._inits
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), k)
        self.recurrent_kernel = self.add_weight("recurrent_kernel",
                                                (self.units, self.units), r)
        self.bias = self.add_weight("bias", (self.units,), b) if self.use_bias else None

    def call(self, inputs, states):
        inputs, h = self._dropped(inputs, states[0])
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel)
        if self.bias is not None:
            z = z + self.bias
        h = self.activation(z) if self.activation else z
        return h, [h]


class LSTMCell(_DropoutCell, Layer):
    """Keras' LSTM cell: gates i, f, c, o from x W + h U + b; c' = f c + i
    tanh-candidate; h' = o tanh(c'). unit_forget_bias starts the forget
    gate's bias at 1."""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, dropout=0.0, recurrent_dropout=0.0, name=None,
                 **kwargs):
        super().__init__(name, **kwargs)
        self._set_rates(dropout, recurrent_dropout)
        self.units = int(units)
        self.activation = _activation(activation)
        self.recurrent_activation = _activation(recurrent_activation)
        self.use_bias, self.unit_forget_bias = use_bias, unit_forget_bias
        self._inits = (kernel_initializer, recurrent_initializer, bias_initializer)

    @property
    def state_size(self):
        return [self.units, self.units]

    def build(self, input_shape):
        k, r, b = self._inits
        u = self.units
        self.kernel = self.add_weight("kernel", (input_shape[-1], 4 * u), k)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (u, 4 * u), r)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (4 * u,), b)
            if self.unit_forget_bias:
                value = self.bias.numpy().copy()
                value[u:2 * u] += 1.0
                self.bias.assign(value)

    def call(self, inputs, states):
        h, c = states
        inputs, h = self._dropped(inputs, h)
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel)
        if self.bias is not None:
            z = z + self.bias
        zi, zf, zc, zo = math_ops.split(z, 4, axis=1)
        gate = self.recurrent_activation
        c = gate(zf) * c + gate(zi) * self.activation(zc)
        h = gate(zo) * self.activation(c)
        return h, [h, c]


class GRUCell(_DropoutCell, Layer):
    """Keras' GRU cell: update gate z, reset gate r; with reset_after=True
    (Keras' default, cuDNN's form) the candidate is tanh(x W_h + b_h +
    r (h U_h + b'_h)), with two bias rows; with reset_after=False (the
    original GRU, TensorFlow 1's default) tanh(x W_h + b_h + (r h) U_h),
    with one bias; h' = z h + (1 - z) candidate."""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 reset_after=True, dropout=0.0, recurrent_dropout=0.0, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.reset_after = bool(reset_after)
        self._set_rates(dropout, recurrent_dropout)
        self.units = int(units)
        self.activation = _activation(activation)
        self.recurrent_activation = _activation(recurrent_activation)
        self.use_bias = use_bias
        self._inits = (kernel_initializer, recurrent_initializer, bias_initializer)

    @property
    def state_size(self):
        return [self.units]

    def build(self, input_shape):
        k, r, b = self._inits
        u = self.units
        self.kernel = self.add_weight("kernel", (input_shape[-1], 3 * u), k)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (u, 3 * u), r)
        # reset_after: row 0 the input's bias, row 1 the recurrent one.
        shape = (2, 3 * u) if self.reset_after else (3 * u,)
        self.bias = self.add_weight("bias", shape, b) if self.use_bias else None

    def call(self, inputs, states):
        h = states[0]
        inputs, read = self._dropped(inputs, h)   # (the update keeps h itself)
        x = ops.matmul(inputs, self.kernel)
        gate = self.recurrent_activation
        if not self.reset_after:
            if self.bias is not None:
                x = x + self.bias
            xz, xr, xh = math_ops.split(x, 3, axis=1)
            u = self.units
            r = ops.matmul(read, self.recurrent_kernel[:, :2 * u])
            rz, rr = math_ops.split(r, 2, axis=1)
            z = gate(xz + rz)
            reset = gate(xr + rr)
            candidate = self.activation(
                xh + ops.matmul(reset * read, self.recurrent_kernel[:, 2 * u:]))
            h = z * h + (1.0 - z) * candidate
            return h, [h]
        r = ops.matmul(read, self.recurrent_kernel)
        if self.bias is not None:
            x = x + self.bias[0]
            r = r + self.bias[1]
        xz, xr, xh = math_ops.split(x, 3, axis=1)
        rz, rr, rh = math_ops.split(r, 3, axis=1)
        z = gate(xz + rz)
        reset = gate(xr + rr)
        candidate = self.activation(xh + reset * rh)
        h = z * h + (1.0 - z) * candidate
        return h, [h]


def _state_sizes(cell):
    """A cell's state sizes as a list (Keras cells may give one int)."""
    size = cell.state_size
    return [int(size)] if isinstance(size, (int, np.integer)) else [int(s) for s in size]


def _output_size(cell):
    """The width of a cell's output: output_size, units, or the first
    state's size (Keras' rule for custom cells)."""
    for name in ("output_size", "units"):
        value = getattr(cell, name, None)
        if isinstance(value, (int, np.integer)):
            return int(value)
    return _state_sizes(cell)[0]


class StackedRNNCells(Layer):
    """Cells run one after the other within a time step, each reading the
    previous one's output (Keras' StackedRNNCells, what RNN([cell, cell])
    builds); the states are the cells' states in order."""

    def __init__(self, cells, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.cells = list(cells)
        if not self.cells:
            raise ValueError("StackedRNNCells needs at least one cell")

    @property
    def state_size(self):
        return [size for cell in self.cells for size in _state_sizes(cell)]

    @property
    def output_size(self):
        return _output_size(self.cells[-1])

    def build(self, input_shape):
        width = input_shape[-1]
        for cell in self.cells:
            if not cell.built:
                cell.dtype = self.dtype_policy
                cell.build((input_shape[0], width))
                cell.built = True
            width = _output_size(cell)

    def call(self, inputs, states):
        new_states, at = [], 0
        for cell in self.cells:
            n = len(_state_sizes(cell))
            inputs, cell_states = cell(inputs, list(states[at:at + n]))
            cell_states = cell_states if isinstance(cell_states, (list, tuple)) \
                else [cell_states]
            new_states.extend(cell_states)
            at += n
        return inputs, new_states


class RNN(Layer):
    """Runs `cell` over the time steps of [batch, time, features] inputs
    ([time, batch, features] with time_major); returns the last output (or
    every step's with return_sequences), and the final states too with
    return_state. `unroll=True` writes the steps out one after the other
    instead of a loop (the same values; a longer program). `stateful=True`
    starts each batch from the states the previous batch ended with
    (variables of the layer's fixed batch size, outside its weights, as
    Keras'); `reset_states()` sets them back to zeros or to given values."""
    _ragged_inputs = "padded"

    supports_masking = True

    def __init__(self, cell, return_sequences=False, return_state=False,
                 go_backwards=False, name=None, zero_output_for_mask=False,
                 stateful=False, unroll=False, time_major=False, **kwargs):
        super().__init__(name, **kwargs)
        self.cell = StackedRNNCells(cell) if isinstance(cell, (list, tuple)) else cell
        self.return_sequences, self.return_state = return_sequences, return_state
        self.go_backwards = go_backwards
        self.stateful, self.unroll = bool(stateful), bool(unroll)
        self.time_major = bool(time_major)
        # (not weights and not checkpointed, as Keras' RNN states)
        object.__setattr__(self, "_state_variables", None)
        # Masked steps keep the states; their output is the last unmasked
        # step's (zeros with zero_output_for_mask), as Keras'.
        self.zero_output_for_mask = bool(zero_output_for_mask)

    def compute_mask(self, inputs, mask=None):
        out = mask if self.return_sequences else None
        return [out] + [None] * len(_state_sizes(self.cell)) if self.return_state else out

    def build(self, input_shape):
        if len(input_shape) != 3:
            order = "[time, batch, features]" if self.time_major else \
                "[batch, time, features]"
            raise ValueError(f"{self.name}: RNN inputs are {order}, "
                             f"got shape {input_shape}")
        batch = input_shape[1] if self.time_major else input_shape[0]
        if not self.cell.built:
            self.cell.dtype = self.dtype_policy  # (the cell computes as the layer does)
            self.cell.build((batch, input_shape[2]))
            self.cell.built = True
        self._make_states(_probe_batch(batch) if _is_probing() else batch)

    def _make_states(self, batch):
        """A stateful RNN's state variables, zeros of [batch, size]."""
        if not self.stateful or self._state_variables is not None:
            return
        if batch is None:
            raise ValueError(
                f"{self.name}: a stateful RNN needs to know its batch size: give "
                "Input(shape, batch_size=...) (or the first layer batch_size=... / "
                "batch_input_shape=...), or call it on a batch first")
        with init_scope():
            variables = [Variable(np.zeros((int(batch), size),
                                           as_dtype(self.variable_dtype).as_numpy_dtype),
                                  name=f"{self.name}/state_{i}", trainable=False)
                         for i, size in enumerate(_state_sizes(self.cell))]
        object.__setattr__(self, "_state_variables", variables)

    def _symbolic_call(self, inputs, args, kwargs):
        # The functional API probes the layer on a batch of 1: a stateful
        # one takes its batch from the Input instead, and the probe starts
        # from zeros and leaves the states alone.
        shape = _flatten_keras(inputs)[0].shape
        batch = shape[1] if self.time_major else shape[0]
        if self.stateful:
            self._make_states(batch)
        result = super()._symbolic_call(inputs, args, kwargs)
        if self.time_major:
            # (the base labels the first axis as the batch: here it is the
            # time, and the batch is the second axis of the sequences and
            # the first of the states)
            outs = result if isinstance(result, (list, tuple)) else [result]
            for i, out in enumerate(outs):
                if i == 0 and self.return_sequences:
                    out.shape = (shape[0], batch) + tuple(out.shape[2:])
                else:
                    out.shape = (batch,) + tuple(out.shape[1:])
        return result

    @property
    def states(self):
        """The states a stateful RNN carries from batch to batch (variables;
        None before it is built or when it is not stateful)."""
        return list(self._state_variables) if self._state_variables else None

    def reset_states(self, states=None):
        """Sets a stateful RNN's states to zeros, or to `states` (one array
        per state, or one array for a single state)."""
        if not self.stateful:
            raise AttributeError(f"{self.name}: reset_states is for stateful RNNs "
                                 "(stateful=True)")
        if self._state_variables is None:
            return   # (not built yet: it starts from zeros)
        if states is None:
            values = [np.zeros(v.shape, v.dtype.as_numpy_dtype) for v in self._state_variables]
        else:
            values = list(states) if isinstance(states, (list, tuple)) else [states]
            if len(values) != len(self._state_variables):
                raise ValueError(f"{self.name}: reset_states got {len(values)} states, "
                                 f"the layer has {len(self._state_variables)}")
        for variable, value in zip(self._state_variables, values):
            value = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(f"{self.name}: a state of shape {tuple(variable.shape)} "
                                 f"cannot be reset to shape {tuple(value.shape)}")
            variable.assign(value.astype(variable.dtype.as_numpy_dtype))

    def call(self, inputs, initial_state=None, training=None, mask=None):
        x = convert_to_tensor(inputs)
        if self.time_major:   # (computed batch-major, given back time-major)
            x = ops.transpose(x, [1, 0, 2])
            if mask is not None:
                mask = ops.transpose(convert_to_tensor(mask), [1, 0])
        steps = x.shape[1]
        if steps is None:
            raise ValueError(f"{self.name}: the number of time steps must be known")
        if mask is not None:
            mask = convert_to_tensor(mask)
            if mask.ndim != 2 or mask.shape[1] != steps:
                raise ValueError(f"{self.name}: the mask must be [batch, time] with "
                                 f"{steps} steps, got shape {mask.shape}")
            # (time first, [time, batch, 1]: each step's rows)
            mask = math_ops.expand_dims(ops.transpose(ops.cast(mask, "bool"), [1, 0]), -1)
            if self.go_backwards:
                mask = math_ops.reverse(mask, [0])
        if self.go_backwards:
            x = math_ops.reverse(x, [1])
        xs = ops.transpose(x, [1, 0, 2])  # time first: xs[t] is step t
        carry = self._state_variables is not None and not _is_probing()
        if initial_state is None and carry:
            batch = int(self._state_variables[0].shape[0])
            if x.shape[0] is not None and x.shape[0] != batch:
                raise ValueError(f"{self.name}: this stateful RNN was built for batches "
                                 f"of {batch}, got a batch of {x.shape[0]}")
            states = [convert_to_tensor(v) for v in self._state_variables]
        elif initial_state is None:
            # Zeros of [batch, size] (the batch may be known only at run
            # time: a product with a zero matrix has its extent).
            zeros = [ops.matmul(xs[0], convert_to_tensor(
                np.zeros((x.shape[2], size), as_dtype(x.dtype).as_numpy_dtype),
                x.dtype))
                for size in _state_sizes(self.cell)]
            states = zeros
        else:
            states = [convert_to_tensor(s) for s in
                      (initial_state if isinstance(initial_state, (list, tuple))
                       else [initial_state])]
        n = len(states)
        cells = getattr(self.cell, "cells", [self.cell])
        dropping = [(at, c) for at, c in enumerate(cells) if isinstance(c, _DropoutCell)
                    and (c.dropout or c.recurrent_dropout)]
        for at, cell in dropping:   # (one mask per sequence, while training)
            step = xs[0] if at == 0 else ops.matmul(xs[0], convert_to_tensor(np.zeros(
                (x.shape[2], _output_size(cells[at - 1])), as_dtype(x.dtype).as_numpy_dtype),
                x.dtype))   # (a stacked cell reads the previous one's output)
            cell._draw_masks(step, bool(training))
        outputs = control_flow.TensorArray(x.dtype, size=steps)
        last = ops.matmul(xs[0], convert_to_tensor(
            np.zeros((x.shape[2], _output_size(self.cell)), as_dtype(x.dtype).as_numpy_dtype),
            x.dtype))
        outputs._like = last  # (an open batch of the outputs is the input's)

        def body(t, *carried):
            out, new_states = self.cell(xs[t], list(carried[:n]))
            if not isinstance(new_states, (list, tuple)):
                new_states = [new_states]
            if mask is not None:
                keep = mask[t]
                new_states = [ops.where(keep, new, old)
                              for new, old in zip(new_states, carried[:n])]
                out = ops.where(keep, out, math_ops.zeros_like(out) if self.zero_output_for_mask
                                else carried[n])
            array = carried[n + 1]
            if self.return_sequences:
                array = array.write(t, out)
            return list(new_states) + [out, array]

        try:
            if self.unroll:   # (the steps one after the other, no loop)
                result = states + [last, outputs]
                for t in range(steps):
                    result = body(t, *result)
            else:
                result = control_flow.for_loop(steps, body, states + [last, outputs])
        finally:
            for _, cell in dropping:
                cell._masks = (None, None)   # (a cell called by itself later has none)
        final_states, last, outputs = result[:n], result[n], result[n + 1]
        if carry:
            for variable, value in zip(self._state_variables, final_states):
                variable.assign(value)
        if self.return_sequences:
            y = outputs.stack()   # [time, batch, features]
            y = y if self.time_major else ops.transpose(y, [1, 0, 2])
        else:
            y = last
        return [y] + list(final_states) if self.return_state else y


def _conv_of_rank(rank):
    """The channels-last convolution of `rank` spatial axes (x, kernel,
    strides, padding, dilations)."""
    if rank == 1:
        return lambda x, k, s, p, d: nn.conv1d(x, k, s[0], p, dilations=d[0])
    conv = nn.conv2d if rank == 2 else nn.conv3d
    return lambda x, k, s, p, d: conv(x, k, list(s), p, dilations=list(d))


def _window_of_rank(rank):
    """The kernel/stride/dilation reader of `rank` spatial axes."""
    if rank == 1:
        return lambda value, what: [_single_int(value, what)]
    return _pair if rank == 2 else _triple


class _ConvLSTM(Layer):
    """Keras' ConvLSTM1D/2D/3D: an LSTM over [batch, time, *spatial,
    channels] whose products are convolutions (the input's with `strides`,
    `padding` and `dilation_rate`, the state's 'same' with stride 1);
    gates i, f, c, o as LSTM's, unit_forget_bias starting the forget
    bias at 1. Returns the last state h [batch, *spatial', filters] (or
    every step's with return_sequences; the states too with
    return_state)."""

    _rank = 2

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, return_sequences=False,
                 return_state=False, go_backwards=False, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.filters = int(filters)
        window = _window_of_rank(self._rank)
        _convolution_options(self, kernel_size, strides, padding, activation, use_bias,
                             window=window)
        self.dilation_rate = window(dilation_rate, "dilation_rate")
        self.recurrent_activation = _activation(recurrent_activation)
        self.unit_forget_bias = unit_forget_bias
        self.return_sequences, self.return_state = return_sequences, return_state
        self.go_backwards = go_backwards
        self._inits = (kernel_initializer, recurrent_initializer, bias_initializer)

    def build(self, input_shape):
        if len(input_shape) != self._rank + 3:
            raise ValueError(
                f"{self.name}: {type(self).__name__} inputs are [batch, time, "
                f"{self._rank} spatial axes, channels], got shape {input_shape}")
        k, r, b = self._inits
        f = self.filters
        self.kernel = self.add_weight("kernel", (*self.kernel_size, input_shape[-1], 4 * f), k)
        self.recurrent_kernel = self.add_weight("recurrent_kernel",
                                                (*self.kernel_size, f, 4 * f), r)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (4 * f,), b)
            if self.unit_forget_bias:
                value = self.bias.numpy().copy()
                value[f:2 * f] += 1.0
                self.bias.assign(value)

    def call(self, inputs, initial_state=None, training=None):
        x = convert_to_tensor(inputs)
        steps = x.shape[1]
        if steps is None:
            raise ValueError(f"{self.name}: the number of time steps must be known")
        if self.go_backwards:
            x = math_ops.reverse(x, [1])
        time_first = [1, 0] + list(range(2, x.ndim))
        xs = ops.transpose(x, time_first)
        conv = _conv_of_rank(self._rank)
        ones = [1] * self._rank
        conv_in = lambda t: conv(t, self.kernel, self.strides, self.padding,
                                 self.dilation_rate)
        if initial_state is None:
            # zeros of the state's shape (an open batch is the input's)
            zero_kernel = convert_to_tensor(np.zeros(
                (*self.kernel_size, x.shape[-1], self.filters),
                as_dtype(x.dtype).as_numpy_dtype), x.dtype)
            zero = conv(xs[0], zero_kernel, self.strides, self.padding, self.dilation_rate)
            states = [zero, zero]
        else:
            states = [convert_to_tensor(s) for s in initial_state]
        outputs = control_flow.TensorArray(x.dtype, size=steps)
        outputs._like = states[0]
        gate = self.recurrent_activation

        def body(t, h, c, last, array):
            z = conv_in(xs[t]) + conv(h, self.recurrent_kernel, ones, "SAME", ones)
            if self.bias is not None:
                z = z + self.bias
            zi, zf, zc, zo = math_ops.split(z, 4, axis=-1)
            c = gate(zf) * c + gate(zi) * self.activation(zc)
            h = gate(zo) * self.activation(c)
            if self.return_sequences:
                array = array.write(t, h)
            return [h, c, h, array]

        h, c, last, outputs = control_flow.for_loop(steps, body, states + [states[0], outputs])
        y = ops.transpose(outputs.stack(), time_first) if self.return_sequences else last
        return [y, h, c] if self.return_state else y


class ConvLSTM1D(_ConvLSTM):
    _rank = 1


class ConvLSTM2D(_ConvLSTM):
    _rank = 2


class ConvLSTM3D(_ConvLSTM):
    _rank = 3


def _split_cell_arguments(kwargs):
    """The cell's initializer, constraint and dropout arguments, taken out
    of a layer's kwargs."""
    return {k: kwargs.pop(k) for k in list(kwargs)
            if k.endswith(("_initializer", "_constraint"))
            or k in ("dropout", "recurrent_dropout")}


class SimpleRNN(RNN):
    def __init__(self, units, activation="tanh", use_bias=True, return_sequences=False,
                 return_state=False, go_backwards=False, name=None, **kwargs):
        cell = SimpleRNNCell(units, activation, use_bias, **_split_cell_arguments(kwargs))
        super().__init__(cell, return_sequences, return_state, go_backwards, name, **kwargs)
        self.units = int(units)


class LSTM(RNN):
    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, unit_forget_bias=True, return_sequences=False,
                 return_state=False, go_backwards=False, name=None, **kwargs):
        cell = LSTMCell(units, activation, recurrent_activation, use_bias,
                        unit_forget_bias=unit_forget_bias, **_split_cell_arguments(kwargs))
        super().__init__(cell, return_sequences, return_state, go_backwards, name, **kwargs)
        self.units = int(units)


class GRU(RNN):
    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, return_sequences=False, return_state=False,
                 go_backwards=False, reset_after=True, name=None, **kwargs):
        cell = GRUCell(units, activation, recurrent_activation, use_bias,
                       reset_after=reset_after, **_split_cell_arguments(kwargs))
        super().__init__(cell, return_sequences, return_state, go_backwards, name, **kwargs)
        self.units = int(units)


class Bidirectional(Layer):
    """An RNN run forward and (a copy, with its own weights) backward over
    the sequence; their outputs merged ("concat", "sum", "mul", "ave"). With
    return_sequences, the backward outputs are put back in time order."""
    _ragged_inputs = "padded"

    def __init__(self, layer, merge_mode="concat", backward_layer=None, name=None,
                 **kwargs):
        super().__init__(name, **kwargs)
        if not isinstance(layer, RNN):
            raise TypeError("Bidirectional wraps an RNN layer (SimpleRNN, LSTM, GRU, RNN)")
        if merge_mode not in ("concat", "sum", "mul", "ave", None):
            raise ValueError(f"merge_mode must be concat, sum, mul, ave or None, got "
                             f"{merge_mode!r}")
        self.return_state = bool(getattr(layer, "return_state", False))
        self.forward_layer = layer
        if backward_layer is None:
            backward_layer = self._backward_copy(layer)
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        # (Keras: the sequences of both halves are zeros at masked steps,
        # so the merged rows there are zeros too.)
        for half in (self.forward_layer, self.backward_layer):
            if getattr(half, "return_sequences", False) and hasattr(half, "zero_output_for_mask"):
                half.zero_output_for_mask = True

    @staticmethod
    def _backward_copy(layer):
        """The layer made again from its arguments (activations, biases,
        initializers, GRU's reset_after, stateful, time_major, its cell's
        too) running the other way, with its own weights (Keras' rule)."""
        def again(obj, name):
            config = dict(obj.get_config())
            config["name"] = name
            return type(obj).from_config(config)

        config = dict(layer.get_config())
        config["go_backwards"] = not layer.go_backwards
        config["name"] = "backward_" + layer.name
        cell = config.get("cell")
        if isinstance(cell, Layer):
            config["cell"] = again(cell, cell.name + "_backward")
        elif isinstance(cell, (list, tuple)):
            config["cell"] = [again(c, c.name + "_backward") for c in cell]
        try:
            return type(layer).from_config(config)
        except TypeError:
            # (a user's RNN subclass whose constructor takes other arguments:
            # give backward_layer= to Bidirectional)
            raise TypeError(f"Bidirectional: cannot make the backward copy of "
                            f"{layer.name} from its arguments; pass backward_layer=") from None

    supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return mask if self.forward_layer.return_sequences else None

    def call(self, inputs, training=None, mask=None, initial_state=None):
        """The two directions' outputs merged (merge_mode None: both, a
        list); with return_state the forward layer's final states then the
        backward one's follow, as Keras. `initial_state`: the forward
        states then the backward ones."""
        given = [{}, {}]
        if initial_state is not None:
            states = list(initial_state)
            if len(states) % 2:
                raise ValueError(f"{self.name}: initial_state holds {len(states)} tensors; "
                                 "it needs the forward layer's states then the backward's")
            half = len(states) // 2
            given = [{"initial_state": states[:half]}, {"initial_state": states[half:]}]
        forward = self.forward_layer(inputs, mask=mask, **given[0])
        backward = self.backward_layer(inputs, mask=mask, **given[1])
        states = []
        if self.return_state:
            forward, *forward_states = forward
            backward, *backward_states = backward
            states = forward_states + backward_states
        if self.forward_layer.return_sequences:   # (the time axis: 0 when time-major)
            backward = math_ops.reverse(
                backward, [0 if getattr(self.forward_layer, "time_major", False) else 1])
        if self.merge_mode is None:
            merged = [forward, backward]
        elif self.merge_mode == "concat":
            merged = ops.concat([forward, backward], len(forward.shape) - 1)
        elif self.merge_mode == "sum":
            merged = forward + backward
        elif self.merge_mode == "mul":
            merged = forward * backward
        else:
            merged = (forward + backward) * 0.5
        if not self.return_state:
            return merged
        return (merged if isinstance(merged, list) else [merged]) + states


# Keras's shorter names for the pooling layers (the same classes).
MaxPool1D, MaxPool2D = MaxPooling1D, MaxPooling2D
AvgPool1D, AvgPool2D = AveragePooling1D, AveragePooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
MaxPool3D, AvgPool3D = MaxPooling3D, AveragePooling3D
GlobalAvgPool3D, GlobalMaxPool3D = GlobalAveragePooling3D, GlobalMaxPooling3D


# --- Keras 3's colour and mixing augmentations ---------------------------------
#
# Solarization, RandomInvert, RandomPosterization, RandomColorDegeneration,
# RandomSharpness, RandomHue, RandomSaturation, RandomColorJitter,
# RandomGaussianBlur, RandomErasing, MixUp and CutMix: Keras 3's argument
# parsing and formulas (its quirks included: see each layer), each image's
# own draw from Kiln's generator.

def _keras_factor(factor, bounds, what, name="factor"):
    """Keras 3's image-layer factor (BaseImagePreprocessingLayer._set_factor
    for bounds (low, high)): a pair, sorted (it must reach into the bounds);
    a number f within the bounds, the range (max(-|f|, low), |f|)."""
    low, high = bounds
    message = (f"{what}: {name} must be a number or a pair of numbers in [{low}, {high}], "
               f"got {factor!r}")
    if isinstance(factor, (list, tuple)):
        if len(factor) != 2 or float(factor[0]) > high or float(factor[1]) < low:
            raise ValueError(message)
        lower, upper = sorted(float(f) for f in factor)
    elif isinstance(factor, (int, float)) and not isinstance(factor, bool):
        if not low <= float(factor) <= high:
            raise ValueError(message)
        f = builtins.abs(float(factor))
        lower, upper = builtins.max(-f, float(low)), f
    else:
        raise ValueError(message)
    return lower, upper


def _value_range(value_range, what, sort=False):
    """(low, high) of images' values; sorted where Keras sorts it."""
    if not isinstance(value_range, (list, tuple)) or len(value_range) != 2:
        raise ValueError(f"{what}: value_range must be a list of two numbers, got "
                         f"{value_range!r}")
    low, high = float(value_range[0]), float(value_range[1])
    return (builtins.min(low, high), builtins.max(low, high)) if sort else (low, high)


def _rescale(x, source, target):
    """x mapped linearly from the range `source` onto `target` (Keras'
    _transform_value_range)."""
    if tuple(source) == tuple(target):
        return x
    return (x - source[0]) / (source[1] - source[0]) * (target[1] - target[0]) + target[0]


def _select(condition, a, b):
    """ops.where with a and b broadcast to one shape first."""
    return ops.where(condition, a + math_ops.zeros_like(b), b + math_ops.zeros_like(a))


def _filter_same(x, rows, cols):
    """x [batch, h, w, c] correlated with the separable kernel
    outer(rows, cols) (numbers or scalar tensors), zero padded to keep its
    size (a depthwise convolution with 'same' padding)."""
    kh, kw = len(rows), len(cols)
    top, left = (kh - 1) // 2, (kw - 1) // 2
    h, w = x.shape[1], x.shape[2]
    padded = math_ops.pad(x, [[0, 0], [top, kh - 1 - top], [left, kw - 1 - left], [0, 0]])
    down = None
    for i, weight in enumerate(rows):
        term = padded[:, i:i + h, :, :] * weight
        down = term if down is None else down + term
    out = None
    for j, weight in enumerate(cols):
        term = down[:, :, j:j + w, :] * weight
        out = term if out is None else out + term
    return out


def _hue_shift(x, delta):
    """RGB images in [0, 1] with their hue turned by `delta` (one per
    image, [batch, 1, 1] or a number), wrapped once into [0, 1], clipped to
    [0, 1] after (Keras' RandomHue)."""
    hsv = image.rgb_to_hsv(x)
    hue = hsv[..., 0] + delta
    hue = _select(ops.greater(hue, 1.0), hue - 1.0, hue)
    hue = _select(ops.less(hue, 0.0), hue + 1.0, hue)
    rgb = image.hsv_to_rgb(ops.stack([hue, hsv[..., 1], hsv[..., 2]], axis=-1))
    return math_ops.clip_by_value(rgb, 0.0, 1.0)


class _AugmentationLayer(_ImageLayer):
    """Keras 3's image augmentation layers: images ([batch, h, w, c] or one
    [h, w, c], channels last), or a dict with "images" and optionally
    "labels" (passed on unchanged, or mixed by MixUp and CutMix), which
    comes back as a new dict; images come back in the compute dtype. While
    training each image gets its own draw; the identity otherwise. Bounding
    boxes and segmentation masks are not supported."""
    # MixUp and CutMix: "labels" mixed too, and a single image left as it is.
    _mixes_labels = False

    def __init__(self, name=None, data_format=None, bounding_box_format=None, **kwargs):
        super().__init__(name, **kwargs)
        what = type(self).__name__
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{what}: only channels_last images are supported, got "
                             f"data_format={data_format!r}")
        if bounding_box_format is not None:
            raise ValueError(f"{what}: bounding boxes are not supported "
                             f"(bounding_box_format={bounding_box_format!r})")

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, dict):
            what = type(self).__name__
            for key in ("bounding_boxes", "segmentation_masks"):
                if key in inputs:
                    raise ValueError(f"{what}: {key.replace('_', ' ')} are not supported "
                                     "(a dict input may hold 'images' and 'labels')")
            if "images" not in inputs:
                raise ValueError(f"{what}: a dict input needs an 'images' entry, got keys "
                                 f"{sorted(inputs)}")
            if not self.built:  # (no weights; the images' shape is the input's)
                self.built = True
                self._build_input_shape = tuple(convert_to_tensor(inputs["images"]).shape)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, training=None):
        data = dict(inputs) if isinstance(inputs, dict) else {"images": inputs}
        x, batched = image._batched(data["images"], self.name)
        x = ops.cast(x, self.compute_dtype)
        labels = None
        if training and self._mixes_labels:
            if not batched:
                training = False    # (Keras: one image is mixed with itself)
            elif data.get("labels") is not None:
                labels = convert_to_tensor(data["labels"])
                if not labels.dtype.is_floating:
                    labels = ops.cast(labels, self.compute_dtype)
        if training:
            x, labels = self._augment(x, labels)
        y = image._unbatched(ops.cast(x, self.compute_dtype), batched)
        if not isinstance(inputs, dict):
            return y
        data["images"] = y
        if labels is not None:
            data["labels"] = labels
        return data

    def _augment(self, x, labels):
        return self._transform(x), labels

    def _need_rgb(self, x):
        if x.shape[-1] != 3:
            raise ValueError(f"{self.name}: {type(self).__name__} needs RGB images "
                             f"(3 channels), got shape {x.shape}")

    def _chance(self, x, probability):
        """Keras' per-image coin ([batch, 1, 1, 1] bools): a probability
        drawn from the range `probability`, and the image chosen where a
        uniform draw falls below it."""
        p = _per_image_uniform(x, probability[0], probability[1], self._next_seed())
        return ops.less(_per_image_uniform(x, 0.0, 1.0, self._next_seed()), p)

    def _hue(self, x, factor, value_range):
        """Keras' RandomHue: the hue turned by +-(a factor drawn from the
        range) / 2, the sign a coin flip, per image."""
        self._need_rgb(x)
        flip = _per_image_uniform(x, 0.0, 1.0, self._next_seed())
        sign = 1.0 - 2.0 * ops.cast(ops.greater(flip, 0.5), x.dtype)   # (> 0.5: -1)
        delta = sign * _per_image_uniform(x, factor[0], factor[1], self._next_seed()) * 0.5
        y = _hue_shift(_rescale(x, value_range, (0.0, 1.0)), delta[..., 0])
        return _rescale(y, (0.0, 1.0), value_range)

    def _saturation(self, x, factor, value_range):
        """Keras' RandomSaturation: the HSV saturation times f / (1 - f +
        1e-7), f drawn per image, clipped to value_range (as Keras clips
        it, whatever the range)."""
        self._need_rgb(x)
        f = _per_image_uniform(x, factor[0], factor[1], self._next_seed())
        f = f / (1.0 - f + 1e-7)
        if isinstance(f, Tensor):
            f = f[..., 0]
        hsv = image.rgb_to_hsv(x)
        s = math_ops.clip_by_value(hsv[..., 1] * f, value_range[0], value_range[1])
        return image.hsv_to_rgb(ops.stack([hsv[..., 0], s, hsv[..., 2]], axis=-1))

    def _beta(self, x, alpha):
        """One Beta(alpha, alpha) draw per image ([batch]): G1 / (G1 + G2)
        of two Gamma(alpha) draws (a coin where both underflow to 0, the
        limit of a tiny alpha); the batch size must be known."""
        n = x.shape[0]
        if n is None:
            raise ValueError(f"{self.name}: {type(self).__name__} needs the batch size known "
                             "while tracing (an input_signature with a fixed batch)")
        g1 = random.gamma([n], alpha, dtype=float32, seed=self._next_seed())
        g2 = random.gamma([n], alpha, dtype=float32, seed=self._next_seed())
        total = g1 + g2
        positive = ops.greater(total, 0.0)
        coin = ops.cast(ops.less(random.uniform([n], dtype=float32, seed=self._next_seed()),
                                 0.5), float32)
        ratio = g1 / ops.where(positive, total, total * 0.0 + 1.0)
        return ops.cast(ops.where(positive, ratio, coin), x.dtype)

    @staticmethod
    def _mix_labels(labels, perm, weight):
        """weight * labels + (1 - weight) * labels[perm], weight per example."""
        if labels is None:
            return None
        w = ops.cast(ops.reshape(weight, [-1] + [1] * (labels.ndim - 1)), labels.dtype)
        return w * labels + (1.0 - w) * ops.gather(labels, perm)


def _unit_factor(factor, layer, name, symmetric):
    """A factor in [0, 1] as Keras reads it: a pair (sorted), or a number f
    meaning (-f, f) when `symmetric`, else (0, f)."""
    message = (f"{layer}: {name} must be a number or a pair of numbers in [0, 1], got "
               f"{factor!r}")
    if isinstance(factor, (list, tuple)):
        if len(factor) != 2 or not all(0.0 <= float(f) <= 1.0 for f in factor):
            raise ValueError(message)
        return tuple(sorted(float(f) for f in factor))
    if isinstance(factor, (int, float)) and not isinstance(factor, bool) and \
            0.0 <= float(factor) <= 1.0:
        return (-float(factor) if symmetric else 0.0, float(factor))
    raise ValueError(message)


class Solarization(_AugmentationLayer):
    """Keras 3's Solarization: while training, each image (mapped from
    value_range to [0, 255]) gets an addition drawn from
    [addition_factor[0], addition_factor[1] * 255] added and clipped to
    [0, 255], then every pixel at or above a threshold drawn from
    [threshold_factor[0], threshold_factor[1] * 255] becomes 255 - pixel
    (mapped back after). A factor f is the range (0, f), each in [0, 1];
    Keras scales only the upper end by 255, and so does Kiln. With the
    defaults every pixel is inverted."""

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255),
                 seed=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.addition_factor = self._factor(addition_factor, "addition_factor")
        self.threshold_factor = self._factor(threshold_factor, "threshold_factor")
        self.value_range = _value_range(value_range, "Solarization", sort=True)
        self.seed = seed

    @staticmethod
    def _factor(factor, name):
        return _unit_factor(factor, "Solarization", name, symmetric=False)

    def _transform(self, x):
        add = _per_image_uniform(x, self.addition_factor[0], self.addition_factor[1] * 255.0,
                                 self._next_seed())
        threshold = _per_image_uniform(x, self.threshold_factor[0],
                                       self.threshold_factor[1] * 255.0, self._next_seed())
        y = math_ops.clip_by_value(_rescale(x, self.value_range, (0.0, 255.0)) + add,
                                   0.0, 255.0)
        y = _select(ops.less(y, threshold), y, 255.0 - y)
        return _rescale(y, (0.0, 255.0), self.value_range)


class RandomInvert(_AugmentationLayer):
    """Keras 3's RandomInvert: while training, each image replaced by
    value_range[1] - image with a probability drawn per image from
    `factor` (a number f: [0, f]; the default 1.0 inverts half the images
    on average)."""

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None,
                 name=None, **kwargs):
        super().__init__(name, data_format=data_format, **kwargs)
        self.factor = _keras_factor(factor, (0, 1), "RandomInvert")
        self.value_range = _value_range(value_range, "RandomInvert")
        self.seed = seed

    def _transform(self, x):
        return _select(self._chance(x, self.factor), self.value_range[1] - x, x)


class RandomPosterization(_AugmentationLayer):
    """Keras 3's RandomPosterization: while training, each image (mapped to
    [0, 255] and truncated to integers) keeps only its top `bits` bits per
    channel, bits an integer drawn per image from [lower, upper) (Keras'
    randint: upper excluded) where factor is (lower, upper) in [1, 8], or
    exactly `lower` when they are equal; a number f is (1, f)."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, name=None,
                 **kwargs):
        super().__init__(name, data_format=data_format, **kwargs)
        lower, upper = _keras_factor(factor, (1, 8), "RandomPosterization")
        self.factor = (int(lower), int(upper))
        self.value_range = _value_range(value_range, "RandomPosterization", sort=True)
        self.seed = seed

    def _transform(self, x):
        lower, upper = self.factor
        if lower != upper:
            bits = ops.cast(random.uniform([math_ops.shape(x)[0], 1, 1, 1], lower, upper,
                                           dtype="int32", seed=self._next_seed()), x.dtype)
            step = ops.pow(convert_to_tensor(2.0, x.dtype), 8.0 - bits)
        else:
            step = float(2 ** (8 - lower))
        y = math_ops.floor(math_ops.clip_by_value(
            _rescale(x, self.value_range, (0.0, 255.0)), 0.0, 255.0))   # (Keras' uint8 cast)
        y = math_ops.floor(y / step) * step
        return _rescale(y, (0.0, 255.0), self.value_range)


class RandomColorDegeneration(_AugmentationLayer):
    """Keras 3's RandomColorDegeneration: while training, each RGB image
    moved toward its grayscale version, image + f * (gray - image), f drawn
    per image from `factor` (a number f: [-f, f], as Keras' code draws it;
    a pair (lower, upper) in [-1, 1]), clipped to value_range."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, name=None,
                 **kwargs):
        super().__init__(name, data_format=data_format, **kwargs)
        self.factor = _keras_factor(factor, (-1, 1), "RandomColorDegeneration")
        self.value_range = _value_range(value_range, "RandomColorDegeneration", sort=True)
        self.seed = seed

    def _transform(self, x):
        self._need_rgb(x)
        f = _per_image_uniform(x, self.factor[0], self.factor[1], self._next_seed())
        y = x + f * (image.rgb_to_grayscale(x) - x)
        return math_ops.clip_by_value(y, self.value_range[0], self.value_range[1])


class RandomSharpness(_AugmentationLayer):
    """Keras 3's RandomSharpness: while training, each image blended with
    its 3x3 smoothing ([[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13, zero padded):
    image + (1 - 2 f) * (smoothed - image), f drawn per image from `factor`
    (a number f: [0, f]; 0.5 keeps the image, 0 blurs, 1 sharpens), clipped
    to value_range."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, name=None,
                 **kwargs):
        super().__init__(name, data_format=data_format, **kwargs)
        self.factor = _keras_factor(factor, (0, 1), "RandomSharpness")
        self.value_range = _value_range(value_range, "RandomSharpness", sort=True)
        self.seed = seed

    def _transform(self, x):
        sharpness = _per_image_uniform(x, self.factor[0], self.factor[1],
                                       self._next_seed()) * 2.0
        a, b = 1.0 / 13.0, 5.0 / 13.0
        smoothed = _filter_same(x, [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]) * a + x * (b - a)
        y = x + (1.0 - sharpness) * (smoothed - x)
        return math_ops.clip_by_value(y, self.value_range[0], self.value_range[1])


class RandomHue(_AugmentationLayer):
    """Keras 3's RandomHue: while training, each RGB image's hue (HSV, the
    image mapped from value_range to [0, 1]) turned by +-f / 2 of the
    circle, f drawn per image from `factor` (a number f: [0, f]) and the
    sign by a coin flip; the result clipped to [0, 1] and mapped back."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, name=None,
                 **kwargs):
        super().__init__(name, data_format=data_format, **kwargs)
        self.factor = _keras_factor(factor, (0, 1), "RandomHue")
        self.value_range = _value_range(value_range, "RandomHue")
        self.seed = seed

    def _transform(self, x):
        return self._hue(x, self.factor, self.value_range)


class RandomSaturation(_AugmentationLayer):
    """Keras 3's RandomSaturation: while training, each RGB image's HSV
    saturation times f / (1 - f), f drawn per image from `factor` (0.5
    keeps the image, 0 makes it gray, 1 saturates; a number f: [-f, f], as
    Keras' code draws it, the negative half graying), clipped to
    value_range as Keras clips it."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, name=None,
                 **kwargs):
        super().__init__(name, data_format=data_format, **kwargs)
        self.factor = _keras_factor(factor, (-1, 1), "RandomSaturation")
        self.value_range = _value_range(value_range, "RandomSaturation", sort=True)
        self.seed = seed

    def _transform(self, x):
        return self._saturation(x, self.factor, self.value_range)


class RandomColorJitter(_AugmentationLayer):
    """Keras 3's RandomColorJitter: while training, in this order and each
    only when its factor is given, Keras 3's RandomBrightness
    (brightness_factor), RandomContrast (contrast_factor (lower, upper):
    (x - mean) * c + mean per channel, c drawn from [1 - lower, 1 + upper],
    a number u giving [1, 1 + u] as Keras 3 parses it; clipped to
    value_range), RandomSaturation (saturation_factor) and RandomHue
    (hue_factor), each image its own draws."""

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None,
                 saturation_factor=None, hue_factor=None, seed=None, data_format=None,
                 name=None, **kwargs):
        super().__init__(name, data_format=data_format, **kwargs)
        what = "RandomColorJitter"
        self.value_range = _value_range(value_range, what)
        self.seed = seed
        self._brightness = None if brightness_factor is None else \
            _keras_factor(brightness_factor, (-1, 1), what, "brightness_factor")
        self._contrast = None if contrast_factor is None else \
            _keras_factor(contrast_factor, (0, 1), what, "contrast_factor")
        self._saturation_range = None if saturation_factor is None else \
            _keras_factor(saturation_factor, (-1, 1), what, "saturation_factor")
        self._hue_range = None if hue_factor is None else \
            _keras_factor(hue_factor, (0, 1), what, "hue_factor")
        self.brightness_factor, self.contrast_factor = brightness_factor, contrast_factor
        self.saturation_factor, self.hue_factor = saturation_factor, hue_factor

    def _transform(self, x):
        sorted_range = tuple(sorted(self.value_range))
        if self._brightness is not None:
            low, high = sorted_range
            delta = _per_image_uniform(x, self._brightness[0], self._brightness[1],
                                       self._next_seed()) * (high - low)
            x = math_ops.clip_by_value(x + delta, low, high)
        if self._contrast is not None:
            factor = _per_image_uniform(x, 1.0 - self._contrast[0], 1.0 + self._contrast[1],
                                        self._next_seed())
            mean = ops.reduce_mean(x, axis=[1, 2], keepdims=True)
            x = math_ops.clip_by_value((x - mean) * factor + mean, self.value_range[0],
                                       self.value_range[1])
        if self._saturation_range is not None:
            x = self._saturation(x, self._saturation_range, sorted_range)
        if self._hue_range is not None:
            x = self._hue(x, self._hue_range, self.value_range)
        return x


class RandomGaussianBlur(_AugmentationLayer):
    """Keras 3's RandomGaussianBlur: while training, each image blurred with
    a probability drawn per image from `factor` (a number f: [0, f]) by a
    kernel_size Gaussian (odd; a pair is (width, height)), zero padded,
    whose standard deviations across and down are drawn once per batch
    from `sigma` (a number s in [0, 1]: [0, s]; a pair as given), plus
    1e-6; the result clipped to value_range."""

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255),
                 data_format=None, seed=None, name=None, **kwargs):
        super().__init__(name, data_format=data_format, **kwargs)
        what = "RandomGaussianBlur"
        self.factor = _keras_factor(factor, (0, 1), what)
        self.kernel_size = self._kernel_size(kernel_size)
        self.sigma = _keras_factor(sigma, (0, 1), what, "sigma")
        self.value_range = _value_range(value_range, what)
        self.seed = seed

    @staticmethod
    def _kernel_size(size):
        sizes = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
        if len(sizes) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, float)) or
                                  s < 1 or int(s) != s or int(s) % 2 == 0 for s in sizes):
            raise ValueError("RandomGaussianBlur: kernel_size must be an odd number (or a pair "
                             f"of them), got {size!r}")
        return int(sizes[0]), int(sizes[1])

    def _gaussian(self, size, sigma, dtype):
        offsets = np.arange(size) - (size - 1) / 2.0
        if not isinstance(sigma, Tensor):
            g = np.exp(-0.5 * (offsets / sigma) ** 2)
            return [float(v) for v in g / g.sum()]
        g = ops.exp(-0.5 * ops.square(convert_to_tensor(offsets.astype(np.float32), dtype)
                                      / sigma))
        g = g / ops.reduce_sum(g)
        return [g[i] for i in range(size)]

    def _transform(self, x):
        low, high = self.sigma
        if low == high:
            sigma_x = sigma_y = low + 1e-6
        else:
            draw = random.uniform([2], low, high, dtype=x.dtype, seed=self._next_seed()) + 1e-6
            sigma_x, sigma_y = draw[0], draw[1]
        blurred = _filter_same(x, self._gaussian(self.kernel_size[1], sigma_y, x.dtype),
                               self._gaussian(self.kernel_size[0], sigma_x, x.dtype))
        y = _select(self._chance(x, self.factor), blurred, x)
        return math_ops.clip_by_value(y, self.value_range[0], self.value_range[1])


class RandomErasing(_AugmentationLayer):
    """Keras 3's RandomErasing: while training, with a probability drawn per
    image from `factor` (a number f: [0, f]), a rectangle of each image
    erased: its width and height the image's times sqrt(s), s drawn for
    each from `scale`, at a uniform offset; filled with fill_value (a
    number, or 3 numbers per channel), or when None with N(0, 1) noise times
    value_range[1], clipped to value_range."""

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255),
                 seed=None, data_format=None, name=None, **kwargs):
        super().__init__(name, data_format=data_format, **kwargs)
        what = "RandomErasing"
        self.factor = _keras_factor(factor, (0, 1), what)
        self.scale = _keras_factor(scale, (0, 1), what, "scale")
        if fill_value is not None and not (
                isinstance(fill_value, (int, float)) and not isinstance(fill_value, bool) or
                isinstance(fill_value, (list, tuple)) and len(fill_value) == 3):
            raise ValueError(f"{what}: fill_value must be None, a number or a list of three "
                             f"numbers, got {fill_value!r}")
        self.fill_value = fill_value
        self.value_range = _value_range(value_range, what)
        self.seed = seed

    def _span(self, x, length):
        """(start, end) of the erased extent along an axis of `length`."""
        ratio = _per_image_uniform(x, self.scale[0], self.scale[1], self._next_seed())
        size = (ops.sqrt(ratio) if isinstance(ratio, Tensor) else float(np.sqrt(ratio))) * \
            float(length)
        start = _per_image_uniform(x, 0.0, 1.0, self._next_seed()) * (float(length) - size)
        return start, start + size

    def _transform(self, x):
        h, w = x.shape[1], x.shape[2]
        x0, x1 = self._span(x, w)
        y0, y1 = self._span(x, h)
        mask = _rectangle(x, x0, x1, y0, y1)
        apply = self._chance(x, self.factor)
        if self.fill_value is None:
            fill = random.normal(_open_entries(x), dtype=x.dtype, seed=self._next_seed()) * \
                self.value_range[1]
        else:
            if isinstance(self.fill_value, (list, tuple)) and x.shape[-1] != 3:
                raise ValueError(f"{self.name}: three fill values need 3 channels, got shape "
                                 f"{x.shape}")
            values = np.asarray(self.fill_value, np.float64).reshape(-1)
            fill = convert_to_tensor(values.reshape(1, 1, 1, -1), x.dtype) + \
                math_ops.zeros_like(x)
        fill = math_ops.clip_by_value(fill, self.value_range[0], self.value_range[1])
        return _select(apply, _select(mask, fill, x), x)


def _rectangle(x, x0, x1, y0, y1):
    """[batch, h, w, 1] bools: the pixels (column, row) with x0 <= column <
    x1 and y0 <= row < y1, per image (Keras' box mask)."""
    h, w = x.shape[1], x.shape[2]
    columns = convert_to_tensor(np.arange(w, dtype=np.float32).reshape(1, 1, w, 1), x.dtype)
    rows = convert_to_tensor(np.arange(h, dtype=np.float32).reshape(1, h, 1, 1), x.dtype)
    across = ops.logical_and(ops.greater_equal(columns, x0), ops.less(columns, x1))
    down = ops.logical_and(ops.greater_equal(rows, y0), ops.less(rows, y1))
    return ops.logical_and(across, down)


class MixUp(_AugmentationLayer):
    """Keras 3's MixUp: while training, each image blended with another of
    the batch (a random permutation), w * image + (1 - w) * other, w drawn
    per image from Beta(alpha, alpha); a dict's "labels" mixed with the same
    weights. A single image (no batch) is left as it is (Keras mixes it
    with itself); the batch size must be known."""
    _mixes_labels = True

    def __init__(self, alpha=0.2, data_format=None, seed=None, name=None, **kwargs):
        super().__init__(name, data_format=data_format, **kwargs)
        self.alpha = float(alpha)
        if not self.alpha > 0.0:
            raise ValueError(f"MixUp: alpha must be positive, got {alpha!r}")
        self.seed = seed

    def _augment(self, x, labels):
        weight = self._beta(x, self.alpha)   # (checks that the batch size is known)
        perm = random.shuffle(np.arange(x.shape[0], dtype=np.int32), seed=self._next_seed())
        w = ops.reshape(weight, [-1, 1, 1, 1])
        mixed = w * x + (1.0 - w) * ops.gather(x, perm)
        return mixed, self._mix_labels(labels, perm, weight)


class CutMix(_AugmentationLayer):
    """Keras 3's CutMix: while training, a rectangle of each image replaced
    by the same rectangle of another image of the batch (a random
    permutation); its sides are the image's times sqrt(1 - w), w drawn per
    image from Beta(a, a) with a drawn once per batch from `factor` (a
    number f: [0, f]) plus 1e-6, at a uniform offset; a dict's "labels"
    mixed by the area kept. A single image (no batch) is left as it is; the
    batch size must be known."""
    _mixes_labels = True

    def __init__(self, factor=1.0, seed=None, data_format=None, name=None, **kwargs):
        super().__init__(name, data_format=data_format, **kwargs)
        self.factor = _keras_factor(factor, (0, 1), "CutMix")
        self.seed = seed

    def _span(self, x, length, ratio):
        size = ratio * float(length)
        start = _per_image_uniform(x, 0.0, 1.0, self._next_seed()) * (float(length) - size)
        return start, start + size

    def _augment(self, x, labels):
        h, w = x.shape[1], x.shape[2]
        low, high = self.factor
        alpha = low + 1e-6 if low == high else \
            random.uniform([], low, high, dtype=float32, seed=self._next_seed()) + 1e-6
        weight = self._beta(x, alpha)
        ratio = ops.reshape(ops.sqrt(1.0 - weight), [-1, 1, 1, 1])
        x0, x1 = self._span(x, w, ratio)
        y0, y1 = self._span(x, h, ratio)
        perm = random.shuffle(np.arange(x.shape[0], dtype=np.int32), seed=self._next_seed())
        mixed = _select(_rectangle(x, x0, x1, y0, y1), ops.gather(x, perm), x)
        kept = 1.0 - ops.reshape((x1 - x0) * (y1 - y0), [-1]) / float(w * h)
        return mixed, self._mix_labels(labels, perm, kept)


# --- Geometric and composite augmentations --------------------------------
#
# Keras 3's RandomShear, RandomPerspective, RandomElasticTransform,
# Equalization, RandAugment and AugMix, and Keras 2's RandomHeight and
# RandomWidth (Keras 3 keeps those two only as legacy layers for tf.keras
# code): Keras' arguments, defaults and formulas, each image's own draw from
# Kiln's generator where Keras draws per image.

def _image_draws(x, low, high, seed, dtype, extra=()):
    """Numbers from [low, high), one per image ([batch] + extra)."""
    shape = [math_ops.shape(x)[0]] + list(extra)
    if low == high:
        return math_ops.fill(shape, float(low), dtype)
    return random.uniform(shape, low, high, dtype=dtype, seed=seed)


def _coordinate_dtype(x):
    """The type warps compute their coordinates in: float32 at least (as
    kiln.image.transform and Keras' TensorFlow backend do)."""
    return x.dtype if x.dtype == as_dtype("float64") else float32


def _check_interpolation(what, interpolation, allowed=("nearest", "bilinear")):
    if interpolation not in allowed:
        raise ValueError(f"{what}: interpolation {interpolation!r} is not one of "
                         f"{', '.join(repr(a) for a in allowed)}")


def _keras_2_range(factor, what):
    """Keras 2's RandomHeight / RandomWidth factor: a pair (lower, upper) as
    given, a number f the range (-f, f); the size is scaled by 1 + a number
    drawn from it."""
    if isinstance(factor, (list, tuple)):
        if len(factor) != 2:
            raise ValueError(f"{what}: factor must be a number or a pair, got {factor!r}")
        lower, upper = float(factor[0]), float(factor[1])
    else:
        lower, upper = -float(factor), float(factor)
    if upper < lower:
        raise ValueError(f"{what}: factor cannot have an upper bound less than the lower "
                         f"bound, got factor={factor!r}")
    if lower < -1.0 or upper < -1.0:
        raise ValueError(f"{what}: factor must have values larger than -1, got "
                         f"factor={factor!r}")
    return lower, upper


class _RandomResizeAxis(_AugmentationLayer):
    """Keras 2's RandomHeight / RandomWidth: while training, the whole batch
    resized along one axis to int(f * size), f drawn once per call from
    [1 + lower, 1 + upper) (kiln.image.resize with `interpolation`, no
    antialiasing, as tf.image.resize; at least 1 pixel); the other axis is
    kept. The identity otherwise. The new size is a Python number drawn
    when the layer runs eagerly; inside kiln.function (whose shapes are
    fixed when it is traced) only a fixed factor (lower == upper) works, and
    a drawn one is a ValueError."""
    _axis = 1

    def __init__(self, factor, interpolation="bilinear", seed=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        what = type(self).__name__
        self.lower, self.upper = _keras_2_range(factor, what)
        methods = [v for k, v in vars(image.ResizeMethod).items() if k.isupper()]
        _check_interpolation(what, interpolation, methods)
        self.factor, self.interpolation, self.seed = factor, interpolation, seed

    def _transform(self, x):
        from . import tracing
        what = type(self).__name__
        size = x.shape[self._axis]
        low, high = 1.0 + self.lower, 1.0 + self.upper
        if low == high:
            f = np.float32(low)
        elif tracing.current_trace() is not None:
            raise ValueError(
                f"{self.name}: {what} draws the output's {('height', 'width')[self._axis - 1]} "
                "on each call, which a compiled kiln.function cannot give (its shapes are fixed "
                "when it is traced); call the layer eagerly (e.g. in the input pipeline outside "
                f"kiln.function) or give a fixed factor (lower == upper); factor={self.factor!r}")
        else:
            f = np.float32(random.uniform([], low, high, dtype=float32,
                                          seed=self._next_seed()).numpy())
        new = builtins.max(int(f * np.float32(size)), 1)     # (tf.cast: truncation)
        target = [new, x.shape[2]] if self._axis == 1 else [x.shape[1], new]
        return image.resize(x, target, method=self.interpolation)


class RandomHeight(_RandomResizeAxis):
    """Keras 2's RandomHeight (Keras 3: keras._legacy.layers): while
    training, the batch's height scaled by a factor drawn once per call
    from [1 + lower, 1 + upper) (`factor`: a number f is (-f, f), a pair
    (lower, upper); values above -1), truncated to an integer, and the
    images resized to it with `interpolation`; the identity otherwise.
    Eager only when the factor is drawn (see _RandomResizeAxis)."""
    _axis = 1


class RandomWidth(_RandomResizeAxis):
    """Keras 2's RandomWidth: as RandomHeight, along the width."""
    _axis = 2


def _affine_rows(x, rows, interpolation, fill_mode, fill_value):
    """Images x [batch, h, w, c] under the transforms whose first 6 or 8
    entries are `rows` ([batch] tensors): kiln.image.transform, Keras'
    affine_transform."""
    zero = rows[0] * 0.0
    rows = list(rows) + [zero] * (8 - len(rows))
    return image.transform(x, ops.stack(rows, axis=1), interpolation, fill_mode,
                           float(fill_value))


class RandomShear(_AugmentationLayer):
    """Keras 3's RandomShear: while training, each image sheared about its
    top-left corner by the projective matrix [[1, sx, 0], [sy, 1, 0]]
    (output pixel (x, y) reads the input at (x + sx y, sy x + y)), sx
    drawn per image from x_factor and sy from y_factor (each a number f:
    (-f, f), as Keras' code reads it; a pair: (lower, upper) in [0, 1]),
    both negated together with probability 1/2; `fill_mode` reflect, wrap,
    constant (fill_value) or nearest, bilinear or nearest interpolation."""

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear", fill_mode="reflect",
                 fill_value=0.0, data_format=None, seed=None, name=None, **kwargs):
        super().__init__(name, data_format=data_format, **kwargs)
        self.x_factor = self._factor(x_factor, "x_factor")
        self.y_factor = self._factor(y_factor, "y_factor")
        if fill_mode not in ("reflect", "wrap", "constant", "nearest"):
            raise ValueError(f"RandomShear: fill_mode {fill_mode!r} is not one of 'reflect', "
                             "'wrap', 'constant', 'nearest'")
        _check_interpolation("RandomShear", interpolation)
        self.interpolation, self.fill_mode = interpolation, fill_mode
        self.fill_value, self.seed = float(fill_value), seed

    @staticmethod
    def _factor(factor, name):
        return _unit_factor(factor, "RandomShear", name, symmetric=True)

    def _transform(self, x):
        dtype = _coordinate_dtype(x)
        coin = _image_draws(x, 0.0, 1.0, self._next_seed(), dtype)
        sign = 1.0 - 2.0 * ops.cast(ops.greater(coin, 0.5), dtype)     # (> 0.5: -1)
        sy = _image_draws(x, *self.y_factor, self._next_seed(), dtype) * sign
        sx = _image_draws(x, *self.x_factor, self._next_seed(), dtype) * sign
        one, zero = sx * 0.0 + 1.0, sx * 0.0
        return _affine_rows(x, [one, sx, zero, sy, one, zero], self.interpolation,
                            self.fill_mode, self.fill_value)


def _homography(end, h, w):
    """The projective transforms (8 [batch] rows, kiln.image.transform's)
    that take each quadrilateral end [batch, 4, 2] (the images' corners
    (0, 0), (w-1, 0), (0, h-1), (w-1, h-1) moved) back onto those corners:
    Keras' compute_homography_matrix(start=corners, end), in closed form
    (Heckbert's square-to-quad map, inverted by its adjugate and scaled),
    so an open batch needs no linear solve."""
    x0, y0 = end[:, 0, 0], end[:, 0, 1]
    x1, y1 = end[:, 1, 0], end[:, 1, 1]
    x3, y3 = end[:, 2, 0], end[:, 2, 1]      # (the unit square's (0, 1))
    x2, y2 = end[:, 3, 0], end[:, 3, 1]      # (its (1, 1))
    sx, sy = x0 - x1 + x2 - x3, y0 - y1 + y2 - y3
    dx1, dx2, dy1, dy2 = x1 - x2, x3 - x2, y1 - y2, y3 - y2
    den = dx1 * dy2 - dx2 * dy1
    g = (sx * dy2 - dx2 * sy) / den
    k = (dx1 * sy - sx * dy1) / den
    a, b, c = x1 - x0 + g * x1, x3 - x0 + k * x3, x0
    d, e, f = y1 - y0 + g * y1, y3 - y0 + k * y3, y0
    # (the adjugate of [[a, b, c], [d, e, f], [g, k, 1]], over its last entry)
    last = a * e - b * d
    sw, sh = float(w - 1) / last, float(h - 1) / last
    return [(e - f * k) * sw, (c * k - b) * sw, (b * f - c * e) * sw,
            (f * g - d) * sh, (a - c * g) * sh, (c * d - a * f) * sh,
            (d * k - e * g) / last, (b * g - a * k) / last]


class RandomPerspective(_AugmentationLayer):
    """Keras 3's RandomPerspective: while training, with a probability
    drawn per image from `factor` (a number f: [0, f], so the default 1.0
    warps half the images on average), each image's corners (0, 0), (w-1,
    0), (0, h-1), (w-1, h-1) are moved to corner + corner * d, d drawn per
    corner and coordinate from [-scale / 2, scale / 2] (so, as in Keras,
    the corner (0, 0) stays), and the image warped by the homography that
    maps them (constant fill with fill_value; bilinear or nearest)."""

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_value=0.0,
                 seed=None, data_format=None, name=None, **kwargs):
        super().__init__(name, data_format=data_format, **kwargs)
        self.factor = _keras_factor(factor, (0, 1), "RandomPerspective")
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or \
                not 0.0 <= float(scale) <= 1.0:
            raise ValueError(f"RandomPerspective: scale must be a number in [0, 1], got "
                             f"{scale!r}")
        _check_interpolation("RandomPerspective", interpolation)
        self.scale, self.interpolation = float(scale), interpolation
        self.fill_value, self.seed = float(fill_value), seed

    def _transform(self, x):
        h, w = x.shape[1], x.shape[2]
        dtype = _coordinate_dtype(x)
        apply = self._chance(x, self.factor)                          # [batch, 1, 1, 1]
        shift = _image_draws(x, -0.5 * self.scale, 0.5 * self.scale, self._next_seed(),
                             dtype, (4, 2))
        corners = constant(np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]],
                                    np.float32).reshape(1, 4, 2), dtype)
        end = corners + corners * shift
        end = _select(ops.reshape(apply, [-1, 1, 1]), end, corners)
        warped = _affine_rows(x, _homography(end, h, w), self.interpolation, "constant",
                              self.fill_value)
        return _select(apply, warped, x)


def _tap_index(index, size, fill_mode):
    """Integer sample positions (float tensors) outside [0, size) moved in
    as Keras' map_coordinates (jax.scipy.ndimage's) does: constant and
    nearest clamp (constant then reads the fill value), wrap is periodic,
    mirror (c d c b | a b c d | c b a b), reflect (d c b a | a b c d | d c
    b a)."""
    def mirror(i, n):
        s = float(n - 1)
        if s == 0:
            return i * 0.0
        return ops.abs(ops.floormod(i + s, 2.0 * s) - s)
    if fill_mode in ("constant", "nearest"):
        return math_ops.clip_by_value(index, 0.0, float(size - 1))
    if fill_mode == "wrap":
        return ops.floormod(index, float(size))
    if fill_mode == "mirror":
        return mirror(index, size)
    return math_ops.floor((mirror(2.0 * index + 1.0, 2 * size + 1) - 1.0) * 0.5)


def _map_coordinates(x, ys, xs, order, fill_mode, fill_value):
    """Images x [batch, h, w, c] read at (ys, xs) ([batch, h, w], input
    pixel coordinates) as Keras' map_coordinates reads each channel: order
    0 the nearest pixel (halves away from 0), order 1 bilinear; each tap's
    position moved in by fill_mode on its own (constant: a tap outside
    reads fill_value)."""
    _, h, w, c = x.shape
    flat = ops.reshape(x, [-1, c])
    base = image._image_numbers(x) * (h * w)
    if order == 0:     # (jax.lax.round: halves away from 0)
        near = lambda v: _select(ops.less(v, 0.0), -math_ops.floor(0.5 - v),
                                 math_ops.floor(v + 0.5))
        taps_y, taps_x = [(near(ys), 1.0)], [(near(xs), 1.0)]
    else:
        y0, x0 = math_ops.floor(ys), math_ops.floor(xs)
        taps_y = [(y0, 1.0 - (ys - y0)), (y0 + 1.0, ys - y0)]
        taps_x = [(x0, 1.0 - (xs - x0)), (x0 + 1.0, xs - x0)]
    out = None
    for yi, wy in taps_y:
        for xi, wx in taps_x:
            row = ops.cast(_tap_index(yi, h, fill_mode), "int32")
            col = ops.cast(_tap_index(xi, w, fill_mode), "int32")
            values = ops.gather(flat, base + row * w + col)
            if fill_mode == "constant":
                inside = ops.logical_and(
                    ops.logical_and(ops.greater_equal(yi, 0.0), ops.less(yi, float(h))),
                    ops.logical_and(ops.greater_equal(xi, 0.0), ops.less(xi, float(w))))
                values = _select(math_ops.expand_dims(inside, -1), values,
                                 constant(float(fill_value), values.dtype))
            weight = wy * wx
            term = values * (math_ops.expand_dims(weight, -1) if isinstance(weight, Tensor)
                             else weight)
            out = term if out is None else out + term
    return out


class RandomElasticTransform(_AugmentationLayer):
    """Keras 3's RandomElasticTransform: while training, with a probability
    drawn per image from `factor` (a number f: [0, f]), each image
    displaced pixel by pixel: a distortion d drawn once per call from
    `scale` (a number s: [0, s]) gives sigma = 0.05 d min(h, w) and alpha =
    0.1 d max(h, w); two fields of N(0, 1) sigma noise per image (across
    and down) are blurred by a Gaussian of standard deviation sigma over
    int(6 sigma) | 1 taps (zero padded) and scaled by alpha, and output
    pixel (x, y) reads the input at (x + alpha dx, y + alpha dy) as Keras'
    map_coordinates does (`fill_mode` reflect, mirror, wrap, nearest or
    constant with fill_value; bilinear or nearest); the result clipped to
    value_range. A factor or scale of 0 leaves the images as they are."""
    _FILL_MODES = ("reflect", "mirror", "wrap", "nearest", "constant")

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_mode="reflect",
                 fill_value=0.0, value_range=(0, 255), seed=None, data_format=None, name=None,
                 **kwargs):
        super().__init__(name, data_format=data_format, **kwargs)
        what = "RandomElasticTransform"
        self.factor = _keras_factor(factor, (0, 1), what)
        self.scale = _keras_factor(scale, (0, 1), what, "scale")
        _check_interpolation(what, interpolation)
        if fill_mode not in self._FILL_MODES:
            raise ValueError(f"{what}: fill_mode {fill_mode!r} is not one of "
                             f"{', '.join(repr(m) for m in self._FILL_MODES)}")
        self.interpolation, self.fill_mode = interpolation, fill_mode
        self.fill_value = float(fill_value)
        self.value_range = _value_range(value_range, what)
        self.seed = seed

    @staticmethod
    def _taps(sigma, size, dtype):
        """The Gaussian's weights over `size` taps (a static size): those
        within floor(3 sigma) of the centre (Keras' int(6 sigma) | 1 taps),
        normalized; numbers for a number sigma, scalar tensors otherwise."""
        offsets = np.arange(size) - (size - 1) / 2.0
        if not isinstance(sigma, Tensor):
            g = np.exp(-0.5 * (offsets / builtins.max(sigma, 1e-30)) ** 2)
            g = np.where(np.abs(offsets) <= np.floor(3.0 * sigma), g, 0.0)
            return [float(v) for v in g / g.sum()]
        sigma = ops.maximum(sigma, 1e-30)
        half = math_ops.floor(math_ops.floor(6.0 * sigma) * 0.5)
        at = constant(offsets.astype(np.float32), dtype)
        g = ops.exp(-0.5 * ops.square(at / sigma))
        g = ops.where(ops.less_equal(ops.abs(at), half), g, g * 0.0)
        g = g / ops.reduce_sum(g)
        return [g[i] for i in range(size)]

    def _transform(self, x):
        if self.scale[1] == 0 or self.factor[1] == 0:
            return x
        h, w = x.shape[1], x.shape[2]
        dtype = _coordinate_dtype(x)
        apply = self._chance(x, self.factor)
        low, high = self.scale
        distortion = low if low == high else \
            random.uniform([], low, high, dtype=dtype, seed=self._next_seed())
        alpha = builtins.max(h, w) * (0.1 * distortion)        # (Keras' order)
        sigma = builtins.min(h, w) * (0.05 * distortion)
        # (the taps for the largest sigma the scale allows, or sigma's own)
        most = np.float32(builtins.min(h, w) * np.float32(0.05 * high))
        size = int(np.float32(6.0) * (most if isinstance(sigma, Tensor)
                                      else np.float32(sigma))) | 1
        noise = ops.concat([random.normal([math_ops.shape(x)[0], h, w, 1], dtype=dtype,
                                          seed=self._next_seed()) for _ in range(2)],
                           axis=-1) * sigma
        taps = self._taps(sigma, size, dtype)
        field = _filter_same(noise, taps, taps) * alpha                 # [batch, h, w, 2]
        rows = constant(np.arange(h, dtype=np.float32).reshape(1, h, 1), dtype)
        cols = constant(np.arange(w, dtype=np.float32).reshape(1, 1, w), dtype)
        source = x if x.dtype == dtype else ops.cast(x, dtype)
        moved = _map_coordinates(source, rows + field[..., 1], cols + field[..., 0],
                                 ("nearest", "bilinear").index(self.interpolation),
                                 self.fill_mode, self.fill_value)
        y = _select(apply, ops.cast(moved, x.dtype), x)
        return math_ops.clip_by_value(y, self.value_range[0], self.value_range[1])


class Equalization(_AugmentationLayer):
    """Keras 3's Equalization: while training, histogram equalization per
    channel, the histogram taken over the whole batch as Keras takes it
    (its transform_images sees the batch): the images mapped from
    value_range to [0, 255], pixel v counted in bin int(v (bins - 1) /
    255), each bin mapped through round((cdf - cdf_min) 255 / (cdf[-1] -
    cdf_min)) (cdf_min the first nonzero count; a denominator of 0 taken
    as 1), v read from bin int(v / 255 (bins - 1)), and mapped back; a
    channel whose values all fall in one bin is kept. The identity
    otherwise (Kiln's convention; Keras' layer also checks `training`)."""

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, name=None, **kwargs):
        super().__init__(name, data_format=data_format, **kwargs)
        if isinstance(bins, bool) or int(bins) != bins or int(bins) < 1:
            raise ValueError(f"Equalization: bins must be a positive integer, got {bins!r}")
        self.bins = int(bins)
        self.value_range = _value_range(value_range, "Equalization", sort=True)

    def _transform(self, x):
        low, high = self.value_range
        nbins, channels = self.bins, x.shape[-1]
        scale = 255.0 / (high - low)
        v = x * scale + (0.0 - low * scale)                   # (Keras' _scale_values)
        v32 = v if v.dtype == float32 else ops.cast(v, float32)
        scaled = v32 * float(nbins - 1) / 255.0
        bins = ops.cast(math_ops.floor(math_ops.clip_by_value(scaled, 0.0, float(nbins - 1))),
                        "int32")
        offsets = constant(np.arange(channels, dtype=np.int32) * nbins)
        hist = math_ops.unsorted_segment_sum(math_ops.ones_like(bins), bins + offsets,
                                             channels * nbins)
        hist = ops.reshape(hist, [channels, nbins])
        filled = ops.reduce_sum(ops.cast(ops.greater(hist, 0), "int32"), axis=1)   # [c]
        # (counts and the lookup table in float64, exact for any image size,
        # as NumPy's integers and true division give them; the running sums
        # as one product with a triangle of ones)
        wide = as_dtype("float64")
        cdf = ops.matmul(ops.cast(hist, wide), constant(np.triu(np.ones((nbins, nbins))), wide))
        cdf_min = ops.reduce_min(ops.where(ops.greater(cdf, 0.0), cdf, cdf * 0.0 + 2.0 ** 60),
                                 axis=1, keepdims=True)
        den = cdf[:, -1:] - cdf_min
        den = ops.where(ops.equal(den, 0.0), den * 0.0 + 1.0, den)
        lut = math_ops.round((cdf - cdf_min) * 255.0 / den)
        lut = ops.cast(math_ops.clip_by_value(lut, 0.0, 255.0), float32)
        lookup = ops.cast(math_ops.clip_by_value(v32 / 255.0 * float(nbins - 1), 0.0,
                                                 float(nbins - 1)), "int32")
        equalized = ops.cast(ops.gather(ops.reshape(lut, [-1]), lookup + offsets), v.dtype)
        y = _select(ops.less_equal(filled, 1), v, equalized)
        back = (high - low) / 255.0
        return y * back + (low - 0.0 * back)


class _PolicyLayer(_AugmentationLayer):
    """RandAugment and AugMix: Kiln's own augmentation layers made with the
    arguments Keras gives its own (factor the parsed (lower, upper) range,
    value_range, interpolation), each op one of them called with
    training=True on the batch."""

    def _make_ops(self, names):
        lower, upper = self.factor
        factor, vr = (lower, upper), self.value_range
        common = dict(dtype=self.dtype_policy.name)
        makers = {
            "random_shear": lambda: RandomShear(factor, factor, self.interpolation, **common),
            "random_translation": lambda: RandomTranslation(
                factor, factor, interpolation=self.interpolation, **common),
            "random_rotation": lambda: RandomRotation(
                factor, interpolation=self.interpolation, **common),
            "random_brightness": lambda: RandomBrightness(
                factor, value_range=tuple(sorted(vr)), **common),
            "random_color_degeneration": lambda: RandomColorDegeneration(
                factor, value_range=vr, **common),
            # (Kiln's RandomContrast clips to [0, 255]: it runs on the
            # images mapped there, which is Keras' clip to value_range.)
            "random_contrast": lambda: RandomContrast(factor, **common),
            "random_sharpness": lambda: RandomSharpness(factor, value_range=vr, **common),
            "random_posterization": lambda: RandomPosterization(
                builtins.max(1, int(8 * upper)), value_range=vr, **common),
            "solarization": lambda: Solarization(factor, factor, value_range=vr, **common),
            "auto_contrast": lambda: AutoContrast(value_range=vr, dtype=common["dtype"]),
            "equalization": lambda: Equalization(value_range=vr, dtype=common["dtype"]),
        }
        for i, key in enumerate(names):
            # (Keras' sub-layers draw from the outer layer's seed generator:
            # with a seed, each op here gets its own seed made from it, so
            # no two ops repeat each other's numbers.)
            common["seed"] = None if self.seed is None else int(self.seed) + 7919 * (i + 1)
            setattr(self, key, makers[key]())
        self._op_names = tuple(names)

    def _apply(self, key, x):
        layer = getattr(self, key)
        if key == "random_contrast":
            vr = self.value_range
            return _rescale(layer(_rescale(x, vr, (0.0, 255.0)), training=True),
                            (0.0, 255.0), vr)
        return layer(x, training=True)

    def _one_of(self, x, index, identity=False):
        """The op number `index` (a scalar int32 tensor) applied to x; with
        `identity`, the index one past the ops leaves x as it is."""
        branches = [functools.partial(self._apply, key, x) for key in self._op_names]
        if identity:
            branches.append(lambda: x)
        return control_flow.switch_case(index, branches)


class RandAugment(_PolicyLayer):
    """Keras 3's RandAugment: while training, num_ops times, one op drawn
    per call (the same for the whole batch) from RandomShear,
    RandomTranslation, RandomRotation, RandomBrightness,
    RandomColorDegeneration, RandomContrast, RandomSharpness,
    RandomPosterization, Solarization, AutoContrast and Equalization, each
    made as Keras makes it from `factor` (a number f: the range [0, f]),
    value_range and interpolation, and drawing its own parameters per
    image. (Keras draws each op's parameters once per call, so an op picked
    twice repeats them; Kiln draws them again.)"""
    _OPS = ("random_shear", "random_translation", "random_rotation", "random_brightness",
            "random_color_degeneration", "random_contrast", "random_sharpness",
            "random_posterization", "solarization", "auto_contrast", "equalization")

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5, interpolation="bilinear",
                 seed=None, data_format=None, name=None, **kwargs):
        super().__init__(name, data_format=data_format, **kwargs)
        what = "RandAugment"
        self.value_range = _value_range(value_range, what)
        if isinstance(num_ops, bool) or int(num_ops) != num_ops or int(num_ops) < 0:
            raise ValueError(f"{what}: num_ops must be a non-negative integer, got {num_ops!r}")
        self.num_ops = int(num_ops)
        self.factor = _keras_factor(factor, (0, 1), what)
        _check_interpolation(what, interpolation)
        self.interpolation, self.seed = interpolation, seed
        self._make_ops(self._OPS)

    def _transform(self, x):
        if self.num_ops == 0:
            return x

        def step(i, y):        # (compiled: one loop, its body traced once)
            pick = random.uniform([], 0, len(self._OPS), dtype="int32",
                                  seed=self._next_seed())
            return self._one_of(y, pick)
        return control_flow.for_loop(self.num_ops, step, x)


class AugMix(_PolicyLayer):
    """Keras 3's AugMix: while training, num_chains chains, each of
    chain_depth steps that apply an op drawn per step (the same for the
    whole batch) from RandomShear, RandomTranslation, RandomRotation,
    RandomPosterization, Solarization, AutoContrast, Equalization and,
    with all_ops, RandomBrightness, RandomColorDegeneration, RandomContrast
    and RandomSharpness, or nothing (each choice equally likely), each op
    made as Keras makes it from `factor` (a number f: [0, f]) and drawing
    its own parameters per image; the chains mixed with Dirichlet(alpha)
    weights, and the result w * images + (1 - w) * mix with w drawn from
    Beta(alpha, alpha) (both once per call), clipped to value_range."""
    _ALL = ("random_shear", "random_translation", "random_rotation", "random_posterization",
            "solarization", "auto_contrast", "equalization", "random_brightness",
            "random_color_degeneration", "random_contrast", "random_sharpness")

    def __init__(self, value_range=(0, 255), num_chains=3, chain_depth=3, factor=0.3,
                 alpha=1.0, all_ops=True, interpolation="bilinear", seed=None,
                 data_format=None, name=None, **kwargs):
        super().__init__(name, data_format=data_format, **kwargs)
        what = "AugMix"
        self.value_range = _value_range(value_range, what)
        for label, value in (("num_chains", num_chains), ("chain_depth", chain_depth)):
            if isinstance(value, bool) or int(value) != value or int(value) < 1:
                raise ValueError(f"{what}: {label} must be a positive integer, got {value!r}")
        self.num_chains, self.chain_depth = int(num_chains), int(chain_depth)
        self.factor = _keras_factor(factor, (0, 1), what)
        self.alpha = float(alpha)
        if not self.alpha > 0.0:
            raise ValueError(f"{what}: alpha must be positive, got {alpha!r}")
        _check_interpolation(what, interpolation)
        self.all_ops, self.interpolation, self.seed = bool(all_ops), interpolation, seed
        self._make_ops(self._ALL if self.all_ops else self._ALL[:7])

    @staticmethod
    def _normalized(g):
        """Gamma(alpha) draws as weights summing to 1 (Dirichlet(alpha));
        all underflowing to 0 (a tiny alpha) gives equal weights."""
        total = ops.reduce_sum(g)
        positive = ops.greater(total, 0.0)
        return ops.where(positive, g / ops.where(positive, total, total * 0.0 + 1.0),
                         g * 0.0 + 1.0 / g.shape[0])

    def _transform(self, x):
        # (one draw for the Dirichlet weights and the Beta: G1 / (G1 + G2))
        n = self.num_chains
        g = random.gamma([n + 2], self.alpha, dtype=float32, seed=self._next_seed())
        chain_weights = ops.cast(self._normalized(g[:n]), x.dtype)
        w = ops.cast(self._normalized(g[n:])[0], x.dtype)

        def step(i, y):
            pick = random.uniform([], 0, len(self._op_names) + 1, dtype="int32",
                                  seed=self._next_seed())
            return self._one_of(y, pick, identity=True)

        def chain(c, mixed):   # (compiled: two loops, the body traced once)
            y = control_flow.for_loop(self.chain_depth, step, x)
            return mixed + y * ops.gather(chain_weights, c)
        mixed = control_flow.for_loop(self.num_chains, chain, math_ops.zeros_like(x))
        out = w * x + (1.0 - w) * mixed
        return math_ops.clip_by_value(out, self.value_range[0], self.value_range[1])


# Keras' functional forms of the merge layers: one call of a new layer.

def _merge_function(cls, name):
    def merge(inputs, **kwargs):
        return cls(**kwargs)(inputs)
    merge.__name__ = merge.__qualname__ = name
    merge.__doc__ = f"{cls.__name__}(**kwargs)(inputs) (keras.layers.{name})."
    return merge


add, subtract, multiply = (_merge_function(c, n) for c, n in (
    (Add, "add"), (Subtract, "subtract"), (Multiply, "multiply")))
average, maximum, minimum = (_merge_function(c, n) for c, n in (
    (Average, "average"), (Maximum, "maximum"), (Minimum, "minimum")))


def concatenate(inputs, axis=-1, **kwargs):
    """Concatenate(axis=axis, **kwargs)(inputs) (keras.layers.concatenate)."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes, normalize=False, **kwargs):
    """Dot(axes, normalize, **kwargs)(inputs) (keras.layers.dot)."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
