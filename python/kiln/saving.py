"""model.save and keras.models.load_model: a model in one file.

The file is a zip, as Keras' ".keras" format is: `config.json` holds the
architecture (each layer's class and the arguments it was made with, and
for a functional model the calls from the inputs to the outputs),
`model.weights.npz` the weights layer by layer, `optimizer.weights.npz`
the compiled optimizer's state once it has stepped (its step counter and
the slots of each weight, so training goes on where it stopped), and
`metadata.json` the format. Layers are rebuilt by calling their classes
with those arguments again, so a layer whose arguments are Python
functions (a Lambda, a custom activation) cannot be written: the error
names the layer and the argument. Custom layer classes are found through
`custom_objects` at load time, as in Keras. Subclassed models (a `call`
method of your own) have no architecture to write: save_weights or
kiln.saved_model serve them.
"""

import importlib
import inspect
import io
import json
import os
import zipfile

import numpy as np

from . import activations, errors
from .dtypes import as_dtype

_FORMAT = "kiln-keras-1"
# kiln.keras_h5 (Keras' HDF5 files), which registers itself here: it sits
# above this module.
_keras_h5 = None


# --- Values ---------------------------------------------------------------

def _encode(value, where, _active=None):
    """A layer argument as JSON: numbers, strings, lists, dicts, dtypes,
    tensors (as arrays), layers and models, known activations, and
    objects whose attributes are such values (initializers, regularizers,
    learning-rate schedules, dtype policies)."""
    from .dtypes import DType
    from .layers import Layer
    from .tensor import Tensor
    from .variables import Variable
    active = set() if _active is None else _active
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, DType):
        return {"__dtype__": value.name}
    if isinstance(value, type) and issubclass(value, np.generic):
        return {"__dtype__": np.dtype(value).name}
    if isinstance(value, np.dtype):
        return {"__dtype__": value.name}
    if isinstance(value, (Tensor, Variable)):
        value = np.asarray(value.numpy())
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": str(value.dtype)}
    if id(value) in active:
        raise ValueError(f"model.save: {where} refers to itself (a cycle)")
    active.add(id(value))
    try:
        if isinstance(value, tuple):
            return {"__tuple__": [_encode(v, where, active) for v in value]}
        if isinstance(value, list):
            return [_encode(v, where, active) for v in value]
        if isinstance(value, dict):
            return {"__dict__": [[_encode(k, where, active), _encode(v, where, active)]
                                 for k, v in value.items()]}
        if isinstance(value, Layer):
            return {"__layer__": _layer_config(value)}
        if callable(value):
            try:
                return {"__activation__": activations.serialize(value)}
            except ValueError:
                pass
        if hasattr(value, "__dict__") and not isinstance(value, type) and \
                not inspect.isfunction(value) and not inspect.ismethod(value) and \
                type(value).__module__.startswith("kiln."):
            cls = type(value)
            state = {k: _encode(v, where, active) for k, v in vars(value).items()}
            return {"__object__": f"{cls.__module__}:{cls.__qualname__}", "state": state}
    except (TypeError, RecursionError):
        pass
    finally:
        active.discard(id(value))
    raise ValueError(f"model.save: {where} is {value!r}, which cannot be written "
                     "(a Python function or an object of its own); save_weights or "
                     "kiln.saved_model keep such models")


def _decode(value, custom):
    if isinstance(value, list):
        return [_decode(v, custom) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(_decode(v, custom) for v in value["__tuple__"])
    if "__dict__" in value:
        return {_decode(k, custom): _decode(v, custom) for k, v in value["__dict__"]}
    if "__array__" in value:
        return np.array(value["__array__"], value["dtype"])
    if "__dtype__" in value:
        from .dtypes import as_dtype
        return as_dtype(value["__dtype__"])
    if "__layer__" in value:
        return _make_layer(value["__layer__"], custom)
    if "__activation__" in value:
        return activations.get(value["__activation__"])
    if "__object__" in value:
        cls = _find_class(value["__object__"], custom)
        obj = cls.__new__(cls)
        obj.__dict__.update({k: _decode(v, custom) for k, v in value["state"].items()})
        return obj
    return {k: _decode(v, custom) for k, v in value.items()}


# Keras' global custom objects: "package>name" -> class or function
# (register_keras_serializable, or get_custom_objects() filled by hand),
# and the custom_object_scope()s in force, innermost last.
_REGISTERED = {}
_SCOPES = []


def register_keras_serializable(package="Custom", name=None):
    """Decorator registering a class or function for load_model and
    deserialize_keras_object under "package>name" (the object's name by
    default), as Keras' register_keras_serializable."""
    if ">" in str(package):
        raise ValueError(f"register_keras_serializable: the package {package!r} may not "
                         "contain '>'")

    def register(obj):
        key = f"{package}>{name or obj.__name__}"
        if key in _REGISTERED and _REGISTERED[key] is not obj:
            raise ValueError(f"{key} has already been registered to {_REGISTERED[key]}")
        _REGISTERED[key] = obj
        obj._registered_name = key
        return obj
    return register


def get_custom_objects():
    """The global dictionary of custom objects (Keras'): entries added
    to it are found by load_model like registered ones."""
    return _REGISTERED


def get_registered_name(obj):
    """The name obj is registered under ("package>name"), else its name."""
    return getattr(obj, "_registered_name", None) or getattr(obj, "__name__",
                                                            type(obj).__name__)


def get_registered_object(name, custom_objects=None, module_objects=None):
    """What `name` stands for: custom_objects, then the scopes in force,
    then the registered objects, then module_objects; None otherwise."""
    for table in [custom_objects or {}] + _SCOPES[::-1] + [_REGISTERED, module_objects or {}]:
        if name in table:
            return table[name]
    return None


class custom_object_scope:
    """`with custom_object_scope({"MyLayer": MyLayer}):` makes the objects
    known to load_model and deserialize_keras_object inside the block."""

    def __init__(self, custom_objects):
        self.custom_objects = dict(custom_objects or {})

    def __enter__(self):
        _SCOPES.append(self.custom_objects)
        return self

    def __exit__(self, *exc):
        _SCOPES.remove(self.custom_objects)
        return False


CustomObjectScope = custom_object_scope


def _known_objects(custom_objects):
    """custom_objects over the scopes over the registered objects, each
    also under its plain name (a saved file names classes by module and
    name, not by registration)."""
    known = {}
    for table in [_REGISTERED] + _SCOPES + [dict(custom_objects or {})]:
        for key, obj in table.items():
            known[key] = obj
            known.setdefault(getattr(obj, "__qualname__", key), obj)
            known.setdefault(getattr(obj, "__name__", key), obj)
    return known


def serialize_keras_object(obj):
    """{"module", "class_name", "config", "registered_name"} for an
    object with get_config (Keras 3's form); None stays None, plain values
    stay as they are, a function by its registered name."""
    if obj is None or isinstance(obj, (bool, int, float, str, list, tuple, dict)):
        return obj
    if not isinstance(obj, type) and hasattr(obj, "get_config"):
        cls = type(obj)
        return {"module": cls.__module__, "class_name": cls.__name__,
                "config": obj.get_config(), "registered_name": get_registered_name(cls)}
    if callable(obj):
        return get_registered_name(obj)
    raise ValueError(f"serialize_keras_object: cannot serialize {obj!r}")


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """The object serialize_keras_object described: its class found among
    custom_objects, the scopes, the registered objects and Kiln's own, and
    made by from_config (or the class with the config's arguments); a
    name string gives the registered or custom object of that name."""
    if config is None or isinstance(config, (bool, int, float)):
        return config
    known = _known_objects(custom_objects)
    if isinstance(config, str):
        if config in known:
            return known[config]
        raise ValueError(f"deserialize_keras_object: unknown object {config!r}; register it "
                         "or pass it in custom_objects")
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize_keras_object: expected a dict with 'class_name', got "
                         f"{config!r}")
    name = config.get("registered_name") or config["class_name"]
    cls = known.get(name) or known.get(config["class_name"])
    if cls is None:
        cls = _find_class(f"{config.get('module', '')}:{config['class_name']}", known)
    arguments = config.get("config", {})
    if hasattr(cls, "from_config"):
        return cls.from_config(arguments)
    return cls(**arguments)


def _find_class(path, custom):
    """The class a file names: one of Kiln's, or one of `custom_objects`
    (by its name; a class defined in a function by its last name). Other
    modules are not imported (a file must not make load_model run code of
    its choosing)."""
    module, _, name = path.partition(":")
    short = name.rsplit(".", 1)[-1]
    for key in (name, short):
        if key in custom:
            return custom[key]
    if module == "kiln" or module.startswith("kiln."):
        try:
            found = importlib.import_module(module)
            for part in name.split("."):
                found = getattr(found, part)
            if isinstance(found, type):
                return found
        except (ImportError, AttributeError):
            pass
    raise ValueError(f"load_model: the class {short!r} (module {module}) is not one of "
                     "Kiln's; pass it in custom_objects={...}")


# --- Layers -----------------------------------------------------------------

def _layer_config(layer):
    from .layers import Model
    if isinstance(layer, Model):  # (a model inside a model: its own layers)
        return {"model": _model_config(layer), "trainable": bool(layer.trainable)}
    cls = type(layer)
    if cls._own_config():
        # (A get_config of its own, as Keras saves a custom layer: the
        # class's from_config makes it again.)
        config = {k: _encode(v, f"get_config()[{k!r}] of layer {layer.name}")
                  for k, v in layer.get_config().items() if k != "name"}
        return {"class": f"{cls.__module__}:{cls.__qualname__}", "name": layer.name,
                "config": config, "trainable": bool(layer.trainable), "from_config": True}
    arguments = layer.__dict__.get("_init_arguments")
    if arguments is None:
        raise ValueError(f"model.save: layer {layer.name} ({type(layer).__name__}) has "
                         "no recorded arguments to rebuild it from")
    config = {k: _encode(v, f"argument {k!r} of layer {layer.name}")
              for k, v in arguments.items() if k != "name"}
    if config.get("dtype") is None and _takes(type(layer), "dtype"):
        # (the policy it was built with: a global one may differ at load time)
        config["dtype"] = layer.dtype_policy.name
    cls = type(layer)
    return {"class": f"{cls.__module__}:{cls.__qualname__}", "name": layer.name,
            "config": config, "trainable": bool(layer.trainable)}


def _takes(cls, argument):
    """Whether cls(...) accepts `argument` (by name or through **kwargs)."""
    try:
        parameters = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return False
    return argument in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def _make_layer(config, custom):
    from .layers import Layer
    if "model" in config:
        model = _build_model(config["model"], custom)
        if not config.get("trainable", True):   # (True would unfreeze its layers)
            model.trainable = False
        return model
    cls = _find_class(config["class"], custom)
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ValueError(f"load_model: {config['class']} is not a layer class")
    if config.get("from_config"):
        arguments = {k: _decode(v, custom) for k, v in config["config"].items()}
        layer = cls.from_config({**arguments, "name": config["name"]})
        if not config.get("trainable", True):
            layer.trainable = False
        return layer
    kwargs = {"name": config["name"]} if _takes(cls, "name") else {}
    layer = _construct(cls, config["config"], custom, kwargs)
    if not config.get("trainable", True):
        layer.trainable = False
    return layer


def _construct(cls, config, custom, extra):
    """cls called with the arguments a config recorded (and `extra`)."""
    arguments = {k: _decode(v, custom) for k, v in config.items()}
    positional = arguments.pop("*args", [])
    if positional:
        names = [n for n, p in inspect.signature(cls.__init__).parameters.items()
                 if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD][1:]
        positional = [arguments.pop(n) for n in names if n in arguments] + positional
    return cls(*positional, **extra, **arguments)


def _metric_config(metric):
    """A compiled metric: its name, or its class and the arguments it was
    made with (its running totals are not written: fit resets them)."""
    if isinstance(metric, str):
        return metric
    arguments = getattr(metric, "__dict__", {}).get("_init_arguments")
    if arguments is None:
        raise ValueError(f"model.save: the metric {metric!r} is not a metric object or "
                         "name that can be written")
    cls = type(metric)
    name = getattr(metric, "name", cls.__name__)
    return {"__metric__": f"{cls.__module__}:{cls.__qualname__}",
            "config": {k: _encode(v, f"argument {k!r} of the metric {name}")
                       for k, v in arguments.items()}}


def _make_metric(config, custom):
    from .metrics import Metric
    if not isinstance(config, dict) or "__metric__" not in config:
        return _decode(config, custom)
    cls = _find_class(config["__metric__"], custom)
    if not (isinstance(cls, type) and issubclass(cls, Metric)):
        raise ValueError(f"load_model: {config['__metric__']} is not a metric class")
    return _construct(cls, config["config"], custom, {})


# --- Models -------------------------------------------------------------------

def _model_config(model):
    from .layers import KerasTensor, Model, Sequential
    functional = type(model) is Model and getattr(model, "_functional_inputs", None) \
        is not None
    if type(model) is not Sequential and not functional:
        raise ValueError(f"model.save: {model.name} is a subclassed model (a class of "
                         "its own): there is no architecture to write; use save_weights "
                         "or kiln.saved_model")
    if isinstance(model, Sequential):
        shape = model.__dict__.get("_build_input_shape")
        if shape is None:
            raise ValueError("model.save: build the model first (call it, fit it, or give "
                             "its first layer input_shape)")
        stateful = any(getattr(layer, "stateful", False) for layer in model.layers)
        return {"kind": "sequential", "name": model.name,
                "input_shape": [None if d is None else int(d) for d in shape[1:]],
                # (a stateful RNN's states are for this batch size)
                "batch_size": int(shape[0]) if stateful and shape[0] is not None else None,
                "input_dtype": model.__dict__.get("_build_input_dtype", "float32"),
                "layers": [_layer_config(layer) for layer in model.layers_list]}
    layers = model.functional_layers
    index = {id(layer): i for i, layer in enumerate(layers)}
    inputs = model._functional_inputs
    refs = {id(t): ["input", i] for i, t in enumerate(inputs)}
    calls, seen = [], {}

    def ref(value, where):
        if isinstance(value, KerasTensor):
            return {"__ref__": refs[id(value)]}
        if isinstance(value, (list, tuple)):
            return [ref(v, where) for v in value]
        if isinstance(value, dict) and any(isinstance(v, KerasTensor) for v in value.values()):
            return {"__refs__": [[k, ref(v, where)] for k, v in value.items()]}
        return _encode(value, where)

    for node in model._nodes:
        key = id(node._call) if node._call is not None else id(node)
        if key not in seen:
            where = f"an argument of the call of layer {node._layer.name}"
            seen[key] = len(calls)
            calls.append({"layer": index[id(node._layer)],
                          "inputs": ref(node._inputs, where),
                          "args": [ref(a, where) for a in node._args],
                          "kwargs": {k: ref(v, where) for k, v in node._kwargs.items()}})
        refs[id(node)] = ["call", seen[key], node._index]
    outputs = model._functional_outputs
    return {"kind": "functional", "name": model.name,
            "inputs": [{"shape": [None if d is None else int(d) for d in t.shape[1:]],
                        "batch_size": None if t.shape[0] is None else int(t.shape[0]),
                        "dtype": t.dtype.name, "name": t.name} for t in inputs],
            "input_names": model.__dict__.get("_functional_input_names"),
            "layers": [_layer_config(layer) for layer in layers],
            "calls": calls,
            "outputs": ref(outputs, "the outputs"),
            "outputs_list": isinstance(outputs, (list, tuple))}


def _build_model(spec, custom):
    from .layers import Input, Model, Sequential, _probing, _sample
    layers = [_make_layer(c, custom) for c in spec["layers"]]
    if spec["kind"] == "sequential":
        model = Sequential(layers, name=spec["name"])
        shape = tuple(1 if d is None else d for d in spec["input_shape"])
        dtype = as_dtype(spec.get("input_dtype", "float32"))
        batch = spec.get("batch_size")
        # (builds the weights, a stateful RNN's states for its batch, without
        # running them; integer inputs, token ids, stay integers; string
        # inputs are empty strings)
        with _probing(batch):
            model(_sample((batch or 1,) + shape, dtype))
        return model
    inputs = [Input(shape=tuple(i["shape"]), batch_size=i.get("batch_size"),
                    dtype=i["dtype"], name=i.get("name"))
              for i in spec["inputs"]]
    results = []

    def resolve(value):
        if isinstance(value, dict) and "__ref__" in value:
            kind, k, *index = value["__ref__"]
            if kind == "input":
                return inputs[k]
            out = results[k]
            return out if not index or index[0] is None else out[index[0]]
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict) and "__refs__" in value:    # (a dict of outputs)
            return {k: resolve(v) for k, v in value["__refs__"]}
        return _decode(value, custom)
    for call in spec["calls"]:
        layer = layers[call["layer"]]
        results.append(layer(resolve(call["inputs"]), *[resolve(a) for a in call["args"]],
                             **{k: resolve(v) for k, v in call["kwargs"].items()}))
    outputs = resolve(spec["outputs"])
    names = spec.get("input_names")
    if names:
        return Model(dict(zip(names, inputs)), outputs, name=spec["name"])
    return Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=spec["name"])


def _weights_by_layer(model):
    """Each layer's variables, layer by layer (nested models' layers in
    turn): an order that does not change when a layer is frozen."""
    from .layers import Model
    out = []
    layers = model.functional_layers if getattr(model, "_functional_inputs", None) \
        is not None else model.layers
    for layer in layers:
        out.extend(_weights_by_layer(layer) if isinstance(layer, Model) else layer.variables)
    own = {id(v) for v in out}
    out.extend(v for v in model.variables if id(v) not in own)  # (the model's own)
    return out


def _compile_config(model):
    import warnings
    from . import optimizers
    arguments = getattr(model, "_compile_arguments", None)
    if arguments is None:
        return None
    _, loss, metrics, weighted = arguments
    inner = optimizers._innermost(model.optimizer)
    settings = {}
    # (The class's own arguments and those every optimizer takes: clipping,
    # weight decay, the moving average.)
    names = list(inspect.signature(type(inner).__init__).parameters)
    names += [n for n in inspect.signature(optimizers.Optimizer.__init__).parameters
              if n not in names]
    for name in names:
        if name in ("self", "name") or not hasattr(inner, name):
            continue
        value = getattr(inner, name)
        if hasattr(value, "numpy"):
            value = float(np.asarray(value.numpy()))
        try:
            settings[name] = _encode(value, f"the optimizer's {name}")
        except ValueError:
            warnings.warn(f"model.save: the optimizer's {name} is not written")
    try:
        encoded_loss = _encode(loss, "the loss")
    except ValueError:
        warnings.warn("model.save: the loss is a function of its own: the loaded model "
                      "is not compiled")
        return None
    def encode_metrics(given):
        out = []
        for m in given:
            if isinstance(m, (list, tuple)):      # (one output's metrics)
                out.append({"__list__": encode_metrics(m)})
                continue
            try:
                out.append(_metric_config(m))
            except ValueError as e:
                warnings.warn(f"{e}; compile the loaded model to add it")
        return out
    def encode_all(given):
        # (several outputs: a dict by output name, or a list per output)
        if isinstance(given, dict):
            return {"__per_output__": {k: encode_metrics(v if isinstance(v, (list, tuple))
                                                         else [v])
                                       for k, v in given.items()}}
        return encode_metrics(given)
    cls = type(inner)
    return {"optimizer": f"{cls.__module__}:{cls.__qualname__}", "settings": settings,
            "loss": encoded_loss, "metrics": encode_all(metrics),
            "weighted_metrics": encode_all(weighted),
            "loss_weights": getattr(model, "_loss_weights", None)}


def save_model(model, filepath, overwrite=True, include_optimizer=True, save_format=None):
    """model.save: Kiln's .keras archive, or Keras 2's HDF5 model file for
    a name ending in .h5 / .hdf5 (or save_format="h5"; kiln.keras_h5)."""
    if _keras_h5.is_h5(filepath, save_format):
        return _keras_h5.save_model(model, filepath, overwrite, include_optimizer)
    filepath = os.fspath(filepath)
    if not filepath.endswith(".keras"):
        raise ValueError(f"model.save: the file name must end in .keras or .h5, got "
                         f"{filepath!r} (save_weights writes checkpoints)")
    if os.path.exists(filepath) and not overwrite:
        raise FileExistsError(filepath)
    config = {"model": _model_config(model), "compile": _compile_config(model)}
    variables = _weights_by_layer(model)
    weights = io.BytesIO()
    np.savez(weights, *[np.asarray(v.numpy()) for v in variables])
    state = _optimizer_state(model, variables) if config["compile"] is not None else None
    with zipfile.ZipFile(filepath, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps({"format": _FORMAT}))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.npz", weights.getvalue())
        if state:
            archive.writestr("optimizer.weights.npz", state)


def _optimizer_state(model, variables):
    """The optimizer's variables as an .npz (bytes; None before it has
    any): _optimizer_state_arrays' arrays."""
    arrays = _optimizer_state_arrays(model, variables)
    if arrays is None:
        return None
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def _optimizer_state_arrays(model, variables):
    """The optimizer's variables by name (None before it has any): its own
    by name (`iterations`, ...) and each slot as `slot.<weight's position
    in the file>.<slot name>`, so training goes on where it stopped
    (Keras' saved optimizer variables)."""
    from . import optimizers
    inner = optimizers._innermost(model.optimizer)
    position = {id(v): i for i, v in enumerate(variables)}
    arrays = {name: np.asarray(v.numpy()) for name, v in inner._state_variables().items()}
    for variable, slot, value in inner._named_slots():
        if id(variable) in position:  # (slots of variables outside the model: not its)
            arrays[f"slot.{position[id(variable)]}.{slot}"] = np.asarray(value.numpy())
    if not any(k.startswith("slot.") for k in arrays) and \
            not np.any(arrays.get("iterations", 0)):
        return None   # (never stepped)
    return arrays


def _restore_optimizer(optimizer, state, variables):
    """Sets the compiled optimizer's variables from _optimizer_state's."""
    own = optimizer._state_variables()
    for key, value in state.items():
        if key.startswith("slot."):
            _, index, slot = key.split(".", 2)
            index = int(index)
            if index >= len(variables) or slot not in optimizer.get_slot_names():
                raise ValueError(f"load_model: the optimizer state {key!r} does not fit "
                                 "the model or optimizer")
            target = optimizer.get_slot(variables[index], slot)
        elif key in own:
            target = own[key]
        else:
            raise ValueError(f"load_model: unknown optimizer state {key!r}")
        if tuple(target.shape) != tuple(value.shape):
            raise ValueError(f"load_model: the optimizer state {key!r} has shape "
                             f"{value.shape}, the model's {tuple(target.shape)}")
        target.assign(value.astype(target.dtype.as_numpy_dtype))


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model written by model.save: the architecture rebuilt from its
    layers' arguments (only Kiln's classes and those in custom_objects),
    the weights set layer by layer, and compiled again."""
    keras_h5 = _keras_h5
    if keras_h5.is_hdf5_file(filepath):
        return keras_h5.load_model(filepath, custom_objects, compile)
    custom = _known_objects(custom_objects)
    try:
        archive = zipfile.ZipFile(os.fspath(filepath))
    except (OSError, zipfile.BadZipFile) as e:
        raise errors.NotFoundError(f"load_model: {filepath} is not a saved model ({e})",
                                   errors.user_location()) from None
    with archive:
        meta = json.loads(archive.read("metadata.json"))
        if keras_h5.is_keras3_metadata(meta):     # (written by Keras 3)
            return keras_h5.load_keras3_archive(archive, filepath, custom_objects, compile)
        if meta.get("format") != _FORMAT:
            raise ValueError(f"load_model: unknown format {meta.get('format')!r}")
        config = json.loads(archive.read("config.json"))
        with archive.open("model.weights.npz") as f:
            stored = np.load(io.BytesIO(f.read()))
            weights = [stored[f"arr_{i}"] for i in range(len(stored.files))]
        state = None
        if "optimizer.weights.npz" in archive.namelist():
            with archive.open("optimizer.weights.npz") as f:
                stored = np.load(io.BytesIO(f.read()))
                state = {k: stored[k] for k in stored.files}
    model = _build_model(config["model"], custom)
    variables = _weights_by_layer(model)
    if len(variables) != len(weights):
        raise ValueError(f"load_model: the file holds {len(weights)} weights, the rebuilt "
                         f"model {len(variables)}")
    for v, w in zip(variables, weights):
        if tuple(v.shape) != tuple(w.shape):
            raise ValueError(f"load_model: {v.name} has shape {tuple(v.shape)}, the file "
                             f"{w.shape}")
        v.assign(w.astype(v.dtype.as_numpy_dtype))
    settings = config.get("compile")
    if compile and settings is not None:
        _compile_from(model, settings, state, custom)
    return model


def _compile_from(model, settings, state, custom):
    """Compiles the model as _compile_config recorded, the optimizer's
    state (when written) restored."""
    variables = _weights_by_layer(model)
    from .optimizers import Optimizer
    cls = _find_class(settings["optimizer"], custom)
    if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
        raise ValueError(f"load_model: {settings['optimizer']} is not an optimizer")
    optimizer = cls(**{k: _decode(v, custom) for k, v in settings["settings"].items()})
    def decode_metrics(given):
        return [decode_metrics(m["__list__"]) if isinstance(m, dict) and "__list__" in m
                else _make_metric(m, custom) for m in given]
    def decode_all(saved):
        return {k: decode_metrics(v) for k, v in saved["__per_output__"].items()} \
            if isinstance(saved, dict) else decode_metrics(saved)
    model.compile(optimizer=optimizer, loss=_decode(settings["loss"], custom),
                  metrics=decode_all(settings["metrics"]),
                  weighted_metrics=decode_all(settings.get("weighted_metrics", [])),
                  loss_weights=settings.get("loss_weights"))
    if state is not None:
        _restore_optimizer(optimizer, state, variables)


def clone_model(model, input_tensors=None, clone_function=None, custom_objects=None):
    """A new model of the same architecture with new weights (initialized
    afresh, as Keras' clone_model), rebuilt from the layers' arguments."""
    if input_tensors is not None or clone_function is not None:
        raise errors.UnimplementedError(
            "clone_model: input_tensors and clone_function are not supported",
            errors.user_location())
    return _build_model(_model_config(model), _known_objects(custom_objects))


def model_to_json(model):
    """The architecture as a JSON string (model.to_json)."""
    return json.dumps({"format": _FORMAT, "model": _model_config(model)})


def model_from_json(json_string, custom_objects=None):
    """A model of the architecture model.to_json wrote, with new weights."""
    config = json.loads(json_string)
    if config.get("format") != _FORMAT:
        raise ValueError(f"model_from_json: unknown format {config.get('format')!r}")
    return _build_model(config["model"], _known_objects(custom_objects))


def _register():
    from . import layers
    layers._model_writer[0] = save_model
    layers._model_writer.append(model_to_json)
    layers._model_writer.append(_model_config)
    layers._model_writer.append(lambda spec, custom: _build_model(spec, _known_objects(custom)))


_register()
