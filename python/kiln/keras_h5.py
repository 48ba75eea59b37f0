"""Keras' HDF5 files: weights and whole models in the layouts TensorFlow's
Keras writes, so weights trained with TensorFlow load into Kiln models and
back.

Two layouts of weights:

- **Keras 2** (`model.save_weights("w.h5")` in TF 2.x, and the
  `model_weights` group of `model.save("m.h5")`): the root's attribute
  `layer_names` lists the model's layers; each layer is a group of its
  name whose attribute `weight_names` lists its weights (the trainable
  ones, then the others, as Keras' `_legacy_weights`), each a dataset of
  that path. Loading goes layer by layer among the layers that have
  weights (or by layer name with `by_name=True`).
- **Keras 3** (`model.save_weights("w.weights.h5")`): the groups follow
  the model's objects (`layers/<layer name>/vars/0`, a recurrent layer's
  cell under `layers/<name>/cell/vars`), read in the same order.

Whole models (`model.save("m.h5")`) keep the architecture as the JSON
Keras writes (`model_config`: the class name and the `get_config()` of
each layer), so a model written by TensorFlow's Keras loads here when its
layers are Kiln's; Kiln also stores its own description of the model
(`kiln_model_config`), which it prefers when present. h5py (Debian:
python3-h5py) reads and writes the files.
"""

import json
import os
import warnings

import numpy as np

from . import errors
from .layers import _node_key, keras_graph_order

# What the files say wrote them: Keras' loaders treat a file without a
# version, or with one starting "1", as Keras 1's and convert its weights.
_KERAS_VERSION = b"2.15.0"
_BACKEND = b"tensorflow"
# HDF5 object headers hold at most 64 KiB of attributes: longer lists are
# cut into `name0`, `name1`, ... (Keras' save_attributes_to_hdf5_group).
_HEADER_LIMIT = 64512


def h5py():
    try:
        import h5py as module
    except ImportError:
        raise ImportError("Keras' HDF5 files (.h5) need h5py: install it (Debian: "
                          "apt-get install python3-h5py)") from None
    return module


def is_h5(filepath, save_format=None):
    """Whether a path names an HDF5 file (.h5, .hdf5, .keras's weights)."""
    if save_format is not None:
        if save_format not in ("h5", "tf", "keras"):
            raise ValueError(f"save_format must be 'h5', 'tf' or 'keras', got {save_format!r}")
        return save_format == "h5"
    return os.fspath(filepath).lower().endswith((".h5", ".hdf5"))


def _keras3_weights_path(filepath):
    return os.fspath(filepath).lower().endswith(".weights.h5")


# --- Attributes ---------------------------------------------------------------

def _text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _save_names(group, name, names):
    """A list of names as a fixed-width byte-string attribute, cut into
    `name0`, `name1`, ... when one would pass HDF5's header limit."""
    if not names:
        group.attrs[name] = np.array([], dtype="S1")
        return
    data = np.asarray([n.encode("utf8") for n in names])
    if data.itemsize > _HEADER_LIMIT:
        raise ValueError(f"a name in {name} is longer than HDF5's attribute limit")
    chunks = 1
    parts = [data]
    while any(p.nbytes > _HEADER_LIMIT for p in parts):
        chunks += 1
        parts = np.array_split(data, chunks)
    if chunks == 1:
        group.attrs[name] = data
    else:
        for i, part in enumerate(parts):
            group.attrs[f"{name}{i}"] = part


def _load_names(group, name):
    if name in group.attrs:
        return [_text(n) for n in np.atleast_1d(group.attrs[name])]
    out, i = [], 0
    while f"{name}{i}" in group.attrs:
        out += [_text(n) for n in np.atleast_1d(group.attrs[f"{name}{i}"])]
        i += 1
    if i == 0:
        return None
    return out


# --- Which weights, in which order --------------------------------------------

def model_layers(model):
    """The layers whose weights a file holds, in Keras' order."""
    if getattr(model, "_functional_inputs", None) is not None:
        return [layer for kind, layer in keras_graph_order(model) if kind == "layer"]
    return list(model.layers)


def own_weights(model):
    """The model's variables that belong to none of its layers (Keras'
    top-level weights): trainable first."""
    from .layers import Model
    if not isinstance(model, Model):
        return []
    held = {id(v) for layer in model_layers(model) for v in layer.variables}
    return [v for v in legacy_weights(model) if id(v) not in held]


def legacy_weights(layer):
    """Keras' `_legacy_weights`: the trainable weights, then the others."""
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _check_built(model, what):
    if not model.variables and any(not getattr(l, "built", True) for l in model_layers(model)):
        raise ValueError(f"{what}: build the model first (call it on data, fit it, or "
                         "give its first layer input_shape)")


# --- Keras 2's layout -----------------------------------------------------------

def _write_subset(g, weights):
    """Datasets named by the weights' names (made unique) and the group's
    `weight_names` attribute listing them, in order."""
    names, used = [], set()
    for w in weights:
        name = w.name if ":" in w.name else w.name + ":0"
        base, k = name, 1
        while name in used:        # (two weights of one name: keep both)
            name = base.replace(":", f"_{k}:", 1)
            k += 1
        used.add(name)
        names.append(name)
    _save_names(g, "weight_names", names)
    for name, w in zip(names, weights):
        value = np.asarray(w.numpy())
        dataset = g.create_dataset(name, value.shape, dtype=value.dtype)
        if value.shape:
            dataset[:] = value
        else:
            dataset[()] = value


def write_weights_group(group, model):
    """The model's weights into an HDF5 group in Keras 2's layout (with
    Keras 2.7+'s `top_level_model_weights`: the model's own variables)."""
    layers = model_layers(model)
    names = [layer.name for layer in layers]
    if getattr(model, "_functional_inputs", None) is not None:
        # (Keras lists a functional model's InputLayers too, without weights)
        names = [layer.name if kind == "layer" else _input_name(model, layer)
                 for kind, layer in keras_graph_order(model)]
    _save_names(group, "layer_names", names)
    group.attrs["backend"] = _BACKEND
    group.attrs["keras_version"] = _KERAS_VERSION
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"save_weights: two layers are named {twice[0]!r} (Keras' HDF5 "
                         "layout keys layers by name)")
    by_name = {layer.name: layer for layer in layers}
    for name in names:
        layer = by_name.get(name)
        _write_subset(group.create_group(name), legacy_weights(layer) if layer else [])
    _write_subset(group.create_group("top_level_model_weights"), own_weights(model))


def _input_name(model, t):
    """The name of a functional model's Input as Keras' config gives it."""
    from .layers import _input_layer_of
    return t.name or _input_layer_of(t).name


def _assign_all(pairs, where):
    """Checks every (variable, value, place) first, then assigns them all:
    a file that does not fit changes nothing."""
    for variable, value, place in pairs:
        if tuple(variable.shape) != tuple(value.shape):
            raise ValueError(f"{where}: {place}: the weight {variable.name} has shape "
                             f"{tuple(variable.shape)}, the file's {tuple(value.shape)}")
    for variable, value, _ in pairs:
        variable.assign(np.asarray(value).astype(variable.dtype.as_numpy_dtype))


def _read_subset(g, where):
    names = _load_names(g, "weight_names") or []
    missing = [n for n in names if n not in g]
    if missing:
        raise ValueError(f"{where}: the group {g.name} lists the weight {missing[0]!r}, which "
                         "it does not hold")
    return [np.asarray(g[w]) for w in names]


def _file_layers(group, where):
    names = _load_names(group, "layer_names")
    if names is None:
        raise ValueError(f"{where}: the file has no 'layer_names' attribute (not a Keras "
                         "weights file)")
    version = _text(group.attrs.get("keras_version", b"1"))
    if version.startswith("1"):
        raise ValueError(f"{where}: the file was written by Keras {version}: Keras 1's "
                         "weights need converting (load it with Keras 2 and save it again)")
    out = []
    for name in names:
        if name not in group:
            raise ValueError(f"{where}: the file lists layer {name!r} but has no group of "
                             "that name")
        out.append((name, _read_subset(group[name], where)))
    return out


def read_weights_group(group, model, by_name=False, skip_mismatch=False, where="load_weights",
                       strict_names=False):
    """Sets the model's weights from a group in Keras 2's layout: layer by
    layer among those with weights (Keras' order), or by layer name
    (`by_name`; `strict_names`: every layer with weights must be there, as
    for a model rebuilt from the same file's config). Nothing is assigned
    unless everything fits (skip_mismatch: what does not fit is skipped,
    with a warning)."""
    if skip_mismatch and not by_name:
        raise ValueError(f"{where}: skip_mismatch=True needs by_name=True (as in Keras)")
    stored = _file_layers(group, where)
    layers = model_layers(model)
    pairs = []
    if by_name or strict_names:
        index = {}
        for layer in layers:
            index.setdefault(layer.name, []).append(layer)
        if strict_names:
            in_file = {name for name, _ in stored}
            lacking = [l.name for l in layers if legacy_weights(l) and l.name not in in_file]
            if lacking:
                raise ValueError(f"{where}: the file has no weights for layer {lacking[0]}")
        for k, (name, values) in enumerate(stored):
            for layer in index.get(name, []):
                weights = legacy_weights(layer)
                if len(weights) != len(values):
                    message = (f"{where}: layer #{k} ({name}) has {len(weights)} weights, "
                               f"the file {len(values)}")
                    if skip_mismatch:
                        warnings.warn(message + "; skipped")
                        continue
                    raise ValueError(message)
                for w, v in zip(weights, values):
                    if skip_mismatch and tuple(w.shape) != tuple(v.shape):
                        warnings.warn(f"{where}: layer {name}: the weight {w.name} has shape "
                                      f"{tuple(w.shape)}, the file's {v.shape}; skipped")
                        continue
                    pairs.append((w, v, f"layer {name}"))
    else:
        stored_weighted = [(name, values) for name, values in stored if values]
        weighted = [layer for layer in layers if legacy_weights(layer)]
        if len(weighted) != len(stored_weighted):
            raise ValueError(
                f"{where}: the model has {len(weighted)} layers with weights, the file "
                f"{len(stored_weighted)} ({', '.join(n for n, _ in stored_weighted[:8])}"
                f"{', ...' if len(stored_weighted) > 8 else ''})")
        for layer, (name, values) in zip(weighted, stored_weighted):
            weights = legacy_weights(layer)
            if len(weights) != len(values):
                raise ValueError(f"{where}: layer {layer.name} has {len(weights)} weights, "
                                 f"the file's layer {name} {len(values)}")
            pairs += [(w, v, f"layer {layer.name} (the file's {name})")
                      for w, v in zip(weights, values)]
    own = own_weights(model)
    if "top_level_model_weights" in group:
        values = _read_subset(group["top_level_model_weights"], where)
        if len(values) != len(own):
            raise ValueError(f"{where}: the model has {len(own)} weights of its own (outside "
                             f"its layers), the file {len(values)}")
        pairs += [(w, v, "the model's own weights") for w, v in zip(own, values)]
    elif own:
        raise ValueError(f"{where}: the file has no top_level_model_weights for the model's "
                         f"own weights ({', '.join(v.name for v in own[:4])})")
    _assign_all(pairs, where)


# --- Keras 3's layout ---------------------------------------------------------------

def _snake(name):
    """Keras' naming.to_snake_case (Conv2D -> conv2d, LSTM -> lstm)."""
    import re
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _subclassed(model):
    """Whether a Model is subclassed (neither Sequential nor Functional):
    Keras 3 names its layers by the attributes holding them."""
    return getattr(model, "_functional_inputs", None) is None and \
        not hasattr(model, "layers_list")


def _keras3_entries(model, prefix="layers"):
    """(group path, [weights]) for each object of the model holding
    variables, in Keras 3's walk: a Sequential or Functional model's layers
    as a list named by their classes in snake case (dense, dense_1, ...),
    a subclassed model's by the attributes holding them (`enc`, a list
    `blocks` as blocks/dense, blocks/dense_1), a nested model's under its
    own `layers` (or attributes), a recurrent layer's under `cell`."""
    from .layers import Model
    if isinstance(model, Model) and _subclassed(model):
        return _keras3_attribute_entries(model, prefix)
    out, counts = [], {}
    for layer in model_layers(model):
        base = _snake(type(layer).__name__)
        n = counts.get(base, 0)
        counts[base] = n + 1
        out += _keras3_layer_entries(layer, f"{prefix}/{base}" + (f"_{n}" if n else ""))
    return out


def _keras3_attribute_entries(model, prefix):
    """A subclassed model's entries: each attribute holding a layer is a
    group of that name (under `prefix`, "" at the top); a list attribute's
    layers are named in it by their classes, as Keras 3's
    _save_container_state does."""
    out, counts = [], {}
    join = (lambda p: f"{prefix}/{p}") if prefix else (lambda p: p)
    for attr, layer in model._layers:
        head, _, index = attr.partition("/")
        if index:   # (an element of a list attribute)
            base = _snake(type(layer).__name__)
            n = counts.setdefault(head, {}).get(base, 0)
            counts[head][base] = n + 1
            path = join(f"{head}/{base}" + (f"_{n}" if n else ""))
        else:
            path = join(attr)
        out += _keras3_layer_entries(layer, path)
    return out


def _keras3_layer_entries(layer, path):
    from .layers import Model
    if isinstance(layer, Model):
        out = [(path, own_weights(layer))] if own_weights(layer) else []
        return out + _keras3_entries(layer, path if _subclassed(layer) else path + "/layers")
    cell = getattr(layer, "cell", None)
    own = legacy_weights(layer)
    inner = [l for l in getattr(layer, "_layers", ()) if l[1] is not cell]
    if cell is not None and not getattr(cell, "cells", None) and not inner:
        return [(path + "/cell", legacy_weights(cell))]
    if inner and any(legacy_weights(l) for _, l in inner):
        raise ValueError(f"save_weights / load_weights: layer {layer.name} "
                         f"({type(layer).__name__}) holds layers of its own, which "
                         "Keras 3's layout names by Keras' attribute names; use the .h5 "
                         "layout (Keras 2's)")
    return [(path, own)]


def _top_entries(model):
    """The model's entries at the file's top (a subclassed model's groups
    are its attributes, at the root)."""
    from .layers import Model
    if isinstance(model, Model) and _subclassed(model):
        return _keras3_attribute_entries(model, "")
    return _keras3_entries(model)


def write_keras3_weights(f, model):
    root = f.create_group("vars")         # (the model's own variables)
    for i, w in enumerate(own_weights(model)):
        root.create_dataset(str(i), data=np.asarray(w.numpy()))
    for path, weights in _top_entries(model):
        group = f.require_group(path).create_group("vars")
        for i, w in enumerate(weights):
            group.create_dataset(str(i), data=np.asarray(w.numpy()))


def read_keras3_weights(f, model, skip_mismatch=False):
    from .layers import Model
    entries = _top_entries(model)
    subclassed = isinstance(model, Model) and _subclassed(model)
    prefix = "layers" if "layers" in f else "_layer_checkpoint_dependencies"
    own = own_weights(model)
    if own or len(f.get("vars", ())):
        entries = [("", own)] + entries
    problems, ready = [], []
    for path, weights in entries:
        if path and not subclassed:
            path = prefix + path[len("layers"):]
        group = f.get(path + "/vars") if path else f.get("vars")
        count = len(group) if group is not None else 0
        if count != len(weights):
            problems.append(f"{path or 'the model itself'} expects {len(weights)} variables, "
                            f"the file has {count}")
            continue
        if sorted(group) != sorted(str(i) for i in range(count)):
            problems.append(f"{path}/vars holds {sorted(group)[:4]}, not variables 0..{count - 1}")
            continue
        values = [np.asarray(group[str(i)]) for i in range(count)]
        bad = [(w, v) for w, v in zip(weights, values) if tuple(w.shape) != v.shape]
        if bad:
            problems.append(f"{path}: the weight {bad[0][0].name} has shape "
                            f"{tuple(bad[0][0].shape)}, the file's {bad[0][1].shape}")
            continue
        ready += [(w, v, path) for w, v in zip(weights, values)]
    if problems:
        message = (f"load_weights: {len(problems)} of the model's {len(entries)} weighted "
                   f"objects do not match the file: " + "; ".join(problems[:4]))
        if not skip_mismatch:
            raise ValueError(message)   # (nothing assigned)
        warnings.warn(message + " (skipped)")
    _assign_all(ready, "load_weights")


# --- Files ---------------------------------------------------------------------

_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5_file(filepath):
    """Whether the file is HDF5 (by its signature; a name ending in .h5 or
    .hdf5 that does not exist counts, so the error says it is missing)."""
    path = os.fspath(filepath)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except (IsADirectoryError, PermissionError):
        return False
    except FileNotFoundError:
        return path.lower().endswith((".h5", ".hdf5"))
    return head == _SIGNATURE


def _open(filepath, mode, where):
    module = h5py()
    path = os.fspath(filepath)
    if mode == "r" and not os.path.exists(path):
        raise errors.NotFoundError(f"{where}: {path} does not exist", errors.user_location())
    try:
        return module.File(path, mode)
    except OSError as e:
        raise errors.NotFoundError(f"{where}: cannot open {path} as HDF5 ({e})",
                                   errors.user_location()) from None


def _writable(filepath, overwrite, where):
    path = os.fspath(filepath)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{where}: {path} exists (overwrite=False)")
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    return path


def _atomically(path, write):
    """Writes through a temporary file renamed into place, so a failure
    never leaves half a file where a good one was."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with h5py().File(tmp, "w") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_weights(model, filepath, overwrite=True):
    _check_built(model, "save_weights")
    path = _writable(filepath, overwrite, "save_weights")
    if _keras3_weights_path(path):
        _atomically(path, lambda f: write_keras3_weights(f, model))
    else:
        _atomically(path, lambda f: write_weights_group(f, model))


def _malformed(where, filepath, function, *args):
    """function(*args), a damaged or unexpected file's KeyError, TypeError,
    ... turned into a ValueError naming the file."""
    try:
        return function(*args)
    except (KeyError, TypeError, AttributeError, IndexError, OSError,
            json.JSONDecodeError, UnicodeDecodeError) as e:
        if isinstance(e, (FileNotFoundError, FileExistsError)):
            raise
        raise ValueError(f"{where}: {os.fspath(filepath)} is not a well-formed Keras file "
                         f"({type(e).__name__}: {e})") from e


def load_weights(model, filepath, by_name=False, skip_mismatch=False):
    _check_built(model, "load_weights")
    return _malformed("load_weights", filepath, _load_weights, model, filepath, by_name,
                      skip_mismatch)


def _load_weights(model, filepath, by_name, skip_mismatch):
    with _open(filepath, "r", "load_weights") as f:
        group = f["model_weights"] if "model_weights" in f and \
            "layer_names" not in f.attrs else f
        if _load_names(group, "layer_names") is not None:
            read_weights_group(group, model, by_name, skip_mismatch)
        elif "layers" in f or "_layer_checkpoint_dependencies" in f or "vars" in f:
            if by_name:
                raise ValueError("load_weights: by_name=True applies to Keras 2's layout; "
                                 f"{filepath} has Keras 3's")
            read_keras3_weights(f, model, skip_mismatch)
        else:
            raise ValueError(f"load_weights: {filepath} is HDF5 but holds no Keras weights "
                             "(neither Keras 2's 'layer_names' nor Keras 3's 'layers')")


# --- Keras' model configs -> Kiln models --------------------------------------------

# Keras arguments Kiln's layers do not take, with the values that change
# nothing here (a Keras implementation detail, or a feature left at its
# off value); any other value is an error naming the layer and argument.
_HARMLESS = {
    "sparse": (False, None), "ragged": (False, None), "dynamic": (False,),
    "implementation": None,            # (LSTM/GRU kernels: the same numbers)
    "input_length": None, "input_dim": None,   # (shape hints; checked by build)
    "fused": None, "renorm": (False,), "renorm_clipping": (None,),
    "renorm_momentum": None, "virtual_batch_size": (None,), "adjustment": (None,),
    "synchronized": (False,), "lora_rank": (None,), "lora_alpha": (None,),
    "quantization_config": (None,), "autocast": (True,), "batch_input_shape": None,
    "batch_shape": None, "input_shape": None, "batch_size": None,
    "time_major": (False,), "zero_output_for_mask": None, "unroll": (False,),
    "data_format": ("channels_last", None), "keepdims": (False,), "groups": (1,),
    "dilation_rate": (1, [1], [1, 1], [1, 1, 1]), "output_padding": (None,),
}
_OBJECT_MODULES = {"_initializer": "initializers", "_regularizer": "regularizers",
                   "_constraint": "constraints"}
_MODEL_CLASSES = ("Sequential", "Functional", "Model")


def _accepts(cls, key):
    """Whether cls's constructor, or one it passes **kwargs on to, names
    the argument `key`."""
    import inspect
    from .layers import Layer
    if key.endswith("_constraint") and isinstance(cls, type) and issubclass(cls, Layer):
        return True          # (Layer takes each weight's constraint)
    from .layers import RNN, _split_cell_arguments
    if isinstance(cls, type) and issubclass(cls, RNN) and _split_cell_arguments({key: 0}):
        return True          # (LSTM, GRU, SimpleRNN hand these to their cells)
    for klass in getattr(cls, "__mro__", (cls,)):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            parameters = inspect.signature(init).parameters
        except (TypeError, ValueError):
            continue
        if key in parameters:
            return True
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return False
    return False


def _where(config):
    return f"layer {config.get('config', {}).get('name') or config.get('name')!r} " \
           f"({config.get('class_name')})"


def _is_object(value):
    return isinstance(value, dict) and "class_name" in value and "config" in value


def _policy_name(value):
    """A dtype entry: a name, or Keras' policy object ({"class_name":
    "DTypePolicy"/"Policy", "config": {"name": ...}})."""
    if _is_object(value):
        return value["config"].get("name")
    return value


class _KerasReader:
    """Builds Kiln models from the model configs Keras writes (model_config
    of an .h5 file: TF 2.x's Keras 2 form, and Keras 3's)."""

    def __init__(self, custom):
        from . import saving
        self.custom = saving._known_objects(custom)

    # (values)
    def _class(self, name, module, where):
        from . import constraints, initializers, layers, regularizers
        if name in self.custom:
            return self.custom[name]
        home = {"initializers": initializers, "regularizers": regularizers,
                "constraints": constraints, "layers": layers}[module]
        found = getattr(home, name, None)
        if found is None or name.startswith("_"):
            raise ValueError(f"load_model: {where}: {name!r} is not one of Kiln's {module}; "
                             "pass it in custom_objects={...}")
        return found

    def value(self, key, value, where):
        if isinstance(value, list):
            return [self.value(key, v, where) for v in value]
        if not isinstance(value, dict):
            return value
        if _is_object(value):
            if value["class_name"] == "__tuple__":
                return tuple(self.value(key, v, where) for v in value["config"]["value"])
            for suffix, module in _OBJECT_MODULES.items():
                if key.endswith(suffix):
                    cls = self._class(value["class_name"], module, where)
                    if not callable(cls):
                        raise ValueError(f"load_model: {where}: {value['class_name']} is not "
                                         f"one of Kiln's {module}")
                    config = {k: self.value(k, v, where) for k, v in value["config"].items()
                              if k != "dtype" or _accepts(cls, k)}
                    try:
                        return cls(**config)
                    except TypeError as e:
                        raise ValueError(f"load_model: {where}: {key} "
                                         f"{value['class_name']}({config}): {e}") from None
            if value["class_name"] == "function":      # (Keras 3: a named function)
                name = value["config"]
                if name in self.custom:
                    return self.custom[name]
                from . import activations
                try:
                    return activations.get(name)
                except ValueError:
                    raise ValueError(f"load_model: {where}: the function {name!r} of "
                                     f"{key}; pass it in custom_objects") from None
            return self.layer(value)
        return {k: self.value(k, v, where) for k, v in value.items()}

    # (layers)
    def layer(self, config):
        from .layers import Layer
        name = config["class_name"]
        registered = config.get("registered_name")
        if registered and registered in self.custom:
            name = registered
        if name in _MODEL_CLASSES:
            return self.model(config)
        where = _where(config)
        cls = self._class(name, "layers", where)
        if not (isinstance(cls, type) and issubclass(cls, Layer)):
            raise ValueError(f"load_model: {where}: {name} is not a layer class")
        arguments = dict(config["config"])
        if getattr(cls, "_own_config", None) and cls._own_config():
            layer = cls.from_config(arguments)
            return layer
        trainable = arguments.pop("trainable", True)
        dtype = _policy_name(arguments.pop("dtype", None))
        kwargs = {}
        for key, value in arguments.items():
            if key == "name" or _accepts(cls, key) and key not in (
                    "batch_input_shape", "batch_shape"):
                kwargs[key] = self.value(key, value, where)
                continue
            if key in _HARMLESS and (_HARMLESS[key] is None or value in _HARMLESS[key]):
                continue
            if value is None and key.endswith(("_regularizer", "_constraint")):
                continue        # (none: nothing to apply)
            raise ValueError(f"load_model: {where}: Kiln's {name} takes no argument {key!r} "
                             f"(the file's value: {value!r})")
        if dtype is not None and _accepts(cls, "dtype"):
            kwargs["dtype"] = dtype
        try:
            layer = cls(**kwargs)
        except (TypeError, ValueError) as e:
            raise ValueError(f"load_model: {where}: {e}") from None
        if not trainable:
            layer.trainable = False
        return layer

    # (models)
    def model(self, config):
        name = config["class_name"]
        body = config["config"]
        if name == "Sequential":
            return self.sequential(body)
        return self.functional(body)

    @staticmethod
    def _input_shape(config):
        """The batch shape and dtype of an InputLayer's config, or of a
        first layer's batch_input_shape (Keras 2)."""
        body = config["config"]
        for key in ("batch_shape", "batch_input_shape"):
            if body.get(key) is not None:
                return list(body[key]), _policy_name(body.get("dtype")) or "float32"
        if body.get("input_shape") is not None:
            return [None] + list(body["input_shape"]), \
                _policy_name(body.get("dtype")) or "float32"
        return None, None

    def sequential(self, body):
        from .layers import Input, Sequential
        entries = body["layers"] if isinstance(body, dict) else body
        shape = dtype = None
        layers = []
        for entry in entries:
            if entry["class_name"] == "InputLayer":
                self._check_input(entry)
                shape, dtype = self._input_shape(entry)
                continue
            if not layers and shape is None:
                shape, dtype = self._input_shape(entry)
            layers.append(self.layer(entry))
        if shape is None and isinstance(body, dict) and body.get("build_input_shape"):
            shape, dtype = list(body["build_input_shape"]), "float32"
        name = body.get("name") if isinstance(body, dict) else None
        if shape is None:
            return Sequential(layers, name=name)
        start = Input(shape=tuple(shape[1:]), batch_size=shape[0], dtype=dtype)
        return Sequential([start] + layers, name=name)

    @staticmethod
    def _check_input(entry):
        body = entry["config"]
        for key in ("sparse", "ragged"):
            if body.get(key):
                raise ValueError(f"load_model: input {body.get('name')!r} is {key}: Kiln's "
                                 "Input takes dense tensors (pad the data instead)")

    @staticmethod
    def _keras3(body):
        """Whether a functional config is Keras 3's (nodes as dicts)."""
        return any(isinstance(node, dict) for entry in body["layers"]
                   for node in entry.get("inbound_nodes", []))

    @staticmethod
    def _skips_first_node(entry, keras3):
        """Keras' _should_skip_first_node: a nested functional model (Keras
        2: also a Sequential starting with an InputLayer) owns its node 0,
        so the outer model's calls of it count from 1."""
        if entry["class_name"] in ("Functional", "Model"):
            return True
        if entry["class_name"] == "Sequential" and not keras3:
            layers = entry["config"]["layers"] if isinstance(entry["config"], dict) \
                else entry["config"]
            return bool(layers) and layers[0]["class_name"] == "InputLayer"
        return False

    def functional(self, body):
        from .layers import Input, Model
        keras3 = self._keras3(body)
        made = {}          # layer name -> Kiln layer
        outputs = {}       # layer name -> {node index: output}
        pending = {}       # layer name -> [(node index, node config), ...] in order
        order = []
        for entry in body["layers"]:
            lname = entry.get("name") or entry["config"]["name"]
            if lname in outputs:
                raise ValueError(f"load_model: two layers are named {lname!r}")
            order.append(lname)
            if entry["class_name"] == "InputLayer":
                self._check_input(entry)
                shape, dtype = self._input_shape(entry)
                if shape is None:
                    raise ValueError(f"load_model: input {lname!r} has no shape")
                outputs[lname] = {0: Input(shape=tuple(shape[1:]), batch_size=shape[0],
                                           dtype=dtype, name=lname)}
                continue
            made[lname] = self.layer(entry)
            outputs[lname] = {}
            first = 1 if self._skips_first_node(entry, keras3) else 0
            pending[lname] = [(first + i, node)
                              for i, node in enumerate(entry.get("inbound_nodes", []))]
        # Each layer's nodes in order; a node whose inputs are not made yet
        # waits (with the layer's later nodes) for a later round, as Keras'
        # own loader does.
        while any(pending.values()):
            progress = False
            for lname in order:
                queue = pending.get(lname)
                while queue:
                    index, node = queue[0]
                    try:
                        args, kwargs = self._node_inputs(node, outputs)
                    except _NotYet:
                        break
                    outputs[lname][index] = made[lname](*args, **kwargs)
                    queue.pop(0)
                    progress = True
            if not progress:
                names = ", ".join(n for n in order if pending.get(n))
                raise ValueError(f"load_model: the model's graph cannot be rebuilt: the "
                                 f"inputs of {names} never become available")

        def ends(spec):
            if isinstance(spec, dict):                   # (Keras 3: inputs by name)
                return {k: ends(v) for k, v in spec.items()}
            if spec and isinstance(spec[0], str):        # (one tensor: [name, node, i])
                return self._tensor(outputs, spec)
            return [ends(s) for s in spec]

        try:
            model_inputs = ends(body["input_layers"])
            model_outputs = ends(body["output_layers"])
        except _NotYet as e:
            raise ValueError(f"load_model: the model's inputs or outputs name a tensor "
                             f"that is not in its graph ({e})") from None
        one = lambda v: v[0] if isinstance(v, list) and len(v) == 1 else v
        return Model(one(model_inputs), one(model_outputs), name=body.get("name"))

    @staticmethod
    def _tensor(outputs, spec):
        lname, node, index = spec[0], spec[1], spec[2]
        made = outputs.get(lname)
        if made is None:
            raise _NotYet(f"no layer {lname!r}")
        if node not in made:
            raise _NotYet(f"{lname} node {node}")
        out = made[node]
        if isinstance(out, (list, tuple)):
            if not 0 <= index < len(out):
                raise ValueError(f"load_model: {lname} has {len(out)} outputs, the file asks "
                                 f"for output {index}")
            return out[index]
        if index != 0:
            raise ValueError(f"load_model: {lname} has one output, the file asks for "
                             f"output {index}")
        return out

    def _node_inputs(self, node, outputs):
        """A node's call arguments: Keras 2's [[name, node, index, kwargs],
        ...] (a constant as ["_CONSTANT_VALUE", -1, value, kwargs]) or
        Keras 3's {"args": [...], "kwargs": {...}}."""
        def resolve(value, keras2=False):
            if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
                return self._tensor(outputs, value["config"]["keras_history"])
            if keras2 and isinstance(value, list) and len(value) == 3 and \
                    isinstance(value[0], str) and value[0] in outputs and \
                    all(isinstance(v, int) for v in value[1:]):
                return self._tensor(outputs, value)     # (a tensor keyword argument)
            if isinstance(value, list):
                return [resolve(v, keras2) for v in value]
            if isinstance(value, dict):
                return {k: resolve(v, keras2) for k, v in value.items()}
            return value
        if isinstance(node, dict):
            return [resolve(a) for a in node.get("args", [])], \
                {k: resolve(v) for k, v in node.get("kwargs", {}).items()}
        tensors, kwargs = [], {}
        for entry in node:
            if entry[0] == "_CONSTANT_VALUE":
                tensors.append(entry[2])
            else:
                tensors.append(self._tensor(outputs, entry))
            if len(entry) > 3 and entry[3]:
                kwargs.update({k: resolve(v, True) for k, v in entry[3].items()})
        return [tensors[0] if len(tensors) == 1 else tensors], kwargs


class _NotYet(Exception):
    """A node's input that is not made yet (or at all)."""


def model_from_keras_config(config, custom_objects=None):
    """A Kiln model from a model config Keras wrote (a dict or its JSON)."""
    if isinstance(config, (str, bytes)):
        config = json.loads(config)
    if not _is_object(config) or config["class_name"] not in _MODEL_CLASSES:
        raise ValueError("load_model: the model config is not a Sequential or functional "
                         f"model (class {config.get('class_name') if isinstance(config, dict) else None!r}); "
                         "subclassed models keep only their weights")
    return _KerasReader(custom_objects).model(config)


# --- Kiln models -> Keras' model config (Keras 2's form, as TF 2.x writes it) --------

def _keras_value(value, where):
    from . import activations
    from .dtypes import DType
    from .layers import Layer
    from .tensor import Tensor
    from .variables import Variable
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, DType):
        return value.name
    if isinstance(value, (Tensor, Variable)):
        value = np.asarray(value.numpy())
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_keras_value(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): _keras_value(v, where) for k, v in value.items()}
    if isinstance(value, Layer):
        return _keras_layer_entry(value)
    if callable(value) and not hasattr(value, "__dict__") or \
            getattr(value, "__module__", "").startswith("kiln.activations"):
        try:
            return activations.serialize(value)
        except ValueError:
            pass
    from . import saving
    if hasattr(value, "__dict__") and type(value).__module__.startswith("kiln.") and \
            not callable(getattr(value, "__func__", None)):
        cls = type(value)
        config = value.get_config() if hasattr(value, "get_config") else \
            {k: v for k, v in vars(value).items()
             if not k.startswith("_") and saving._takes(cls, k)}
        return {"class_name": cls.__name__,
                "config": {k: _keras_value(v, where) for k, v in config.items()}}
    raise ValueError(f"{where} is {value!r}, which Keras' model config cannot name")


def _keras_layer_entry(layer):
    from .layers import Model
    if isinstance(layer, Model):
        return keras_model_config(layer)
    config = layer.get_config()
    where = f"argument of layer {layer.name}"
    return {"class_name": type(layer).__name__,
            "config": {k: _keras_value(v, f"the {k!r} {where}") for k, v in config.items()}}


def keras_model_config(model):
    """The model's architecture in the form TF 2.x's Keras writes as an
    .h5 file's model_config (a ValueError when a layer's arguments or the
    graph have no such form)."""
    from .layers import KerasTensor, Model, Sequential
    if isinstance(model, Sequential) and type(model) is Sequential:
        entries = []
        shape = _sequential_input(model)
        if shape is not None:
            from .dtypes import as_dtype
            dtype = model.__dict__.get("_build_input_dtype") or "float32"
            if not any(getattr(layer, "stateful", False) for layer in model.layers):
                shape = (None,) + tuple(shape[1:])   # (the batch it was built with: any)
            entries.append({"class_name": "InputLayer", "config": {
                "batch_input_shape": [None if d is None else int(d) for d in shape],
                "dtype": as_dtype(dtype).name, "sparse": False, "ragged": False,
                "name": f"{model.name}_input"}})
        entries += [_keras_layer_entry(layer) for layer in model.layers]
        return {"class_name": "Sequential", "config": {"name": model.name,
                                                       "layers": entries}}
    if type(model) is not Model or getattr(model, "_functional_inputs", None) is None:
        raise ValueError(f"{model.name} is a subclassed model: Keras' model config has no "
                         "form for it")
    order = keras_graph_order(model)
    in_model = {_node_key(t) for t in model._nodes}
    refs = {}                                   # node key -> [name, node index]
    for kind, owner in order:
        if kind == "input":
            refs[_node_key(owner)] = [_input_name(model, owner), 0]
            continue
        # (a layer's calls in the order they were made, counting those of
        # this model only; a nested model's own node comes first)
        first = 1 if _skips_own_node(owner) else 0
        calls = [c for c in owner.__dict__.get("_symbolic_calls", [])
                 if _node_key(_first_keras(c[1])) in in_model]
        for i, (_, result) in enumerate(calls):
            refs[_node_key(_first_keras(result))] = [owner.name, first + i]

    def ref(t):
        name, node = refs[_node_key(t)]
        return [name, node, t._index or 0]

    nodes_of = {}
    for node in model._nodes:
        key = _node_key(node)
        layer = node._layer
        if layer is None or any(key == k for k, _ in nodes_of.get(id(layer), [])):
            continue
        where = f"the call of layer {layer.name}"
        if node._args:
            raise ValueError(f"{where} takes positional arguments besides its inputs, which "
                             "Keras 2's model config cannot name")
        given = node._inputs if isinstance(node._inputs, (list, tuple)) else [node._inputs]
        if any(isinstance(t, (list, tuple)) for t in given):
            raise ValueError(f"{where} takes nested lists of inputs, which Keras 2's model "
                             "config cannot name")
        kwargs = {k: _keras_kwarg(v, ref, where) for k, v in node._kwargs.items()}
        entry = []
        for t in given:
            if isinstance(t, KerasTensor):
                entry.append(ref(t) + [kwargs])
            else:
                entry.append(["_CONSTANT_VALUE", -1, _keras_value(t, where), kwargs])
        nodes_of.setdefault(id(layer), []).append((key, (refs[key][1], entry)))
    entries = []
    for kind, owner in order:
        if kind == "input":
            name = _input_name(model, owner)
            entries.append({"class_name": "InputLayer", "name": name, "inbound_nodes": [],
                            "config": {"batch_input_shape": [None] + list(owner.shape[1:]),
                                       "dtype": owner.dtype.name, "sparse": False,
                                       "ragged": False, "name": name}})
            continue
        entry = _keras_layer_entry(owner)
        entry["name"] = owner.name
        entry["inbound_nodes"] = [n for _, (_, n) in sorted(
            nodes_of.get(id(owner), []), key=lambda item: item[1][0])]
        entries.append(entry)
    outputs = model._functional_outputs
    if isinstance(outputs, dict):            # (kept as a dict, as Keras does)
        output_layers = {k: ref(t) for k, t in outputs.items()}
    else:
        flat = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        output_layers = [ref(t) for t in flat]
    return {"class_name": "Functional", "config": {
        "name": model.name, "trainable": bool(model.trainable), "layers": entries,
        "input_layers": [ref(t) for t in model._functional_inputs],
        "output_layers": output_layers}}


def _sequential_input(model):
    """A Sequential's input shape with its batch (None when unknown)."""
    first = model.layers_list[0] if model.layers_list else None
    if first is not None and first.input_shape is not None:
        return (first._batch_size,) + tuple(first.input_shape)
    return model.__dict__.get("_build_input_shape")


def _skips_own_node(layer):
    """Whether Keras counts an outer model's calls of this nested model from
    node 1 (its node 0 is its own): a functional model, or a Sequential
    whose config starts with an InputLayer (Keras 2)."""
    from .layers import Model, Sequential
    if isinstance(layer, Sequential):
        return _sequential_input(layer) is not None
    return isinstance(layer, Model) and getattr(layer, "_functional_inputs", None) is not None


def _first_keras(result):
    from .layers import _flatten_keras
    return _flatten_keras(result)[0]


def _keras_kwarg(value, ref, where):
    """A call's keyword argument in Keras 2's node form: a tensor as
    [layer, node, index], other values as they are."""
    from .layers import KerasTensor
    if isinstance(value, KerasTensor):
        return ref(value)
    if isinstance(value, (list, tuple)):
        return [_keras_kwarg(v, ref, where) for v in value]
    return _keras_value(value, f"an argument of {where}")


# --- Whole models ---------------------------------------------------------------

def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """model.save("m.h5"): Keras 2's HDF5 model file. Its model_config is
    Keras' form (when the model has one: a warning says when not); Kiln's
    own description and the optimizer's state are stored beside it."""
    from . import saving
    _check_built(model, "model.save")
    path = _writable(filepath, overwrite, "model.save")
    kiln_config = {"model": saving._model_config(model), "compile":
                   saving._compile_config(model) if include_optimizer else None}
    try:
        keras_config = json.dumps(keras_model_config(model))
    except ValueError as e:
        warnings.warn(f"model.save: {e}; the file keeps Kiln's own description of the "
                      "model (kiln.keras.models.load_model reads it), not Keras'")
        keras_config = None
    variables = saving._weights_by_layer(model)
    state = None
    if kiln_config["compile"] is not None:
        state = saving._optimizer_state_arrays(model, variables)

    def write(f):
        f.attrs["keras_version"] = _KERAS_VERSION
        f.attrs["backend"] = _BACKEND
        f.attrs["kiln_model_config"] = json.dumps(kiln_config).encode("utf8")
        if keras_config is not None:
            f.attrs["model_config"] = keras_config.encode("utf8")
        write_weights_group(f.create_group("model_weights"), model)
        if state:
            g = f.create_group("kiln_optimizer_state")
            for key, value in state.items():
                g.create_dataset(key, data=value)
    _atomically(path, write)


def load_model(filepath, custom_objects=None, compile=True):
    """A model from an .h5 file of Kiln's or of TF 2.x's Keras: the
    architecture (Kiln's own description when present, else Keras'
    model_config), the weights, and (compile=True) the training setup."""
    return _malformed("load_model", filepath, _load_model, filepath, custom_objects,
                      compile)


def _load_model(filepath, custom_objects, compile):
    from . import saving
    with _open(filepath, "r", "load_model") as f:
        kiln_config = f.attrs.get("kiln_model_config")
        keras_config = f.attrs.get("model_config")
        if kiln_config is None and keras_config is None:
            raise ValueError(f"load_model: {filepath} holds no model config (a weights "
                             "file: make the model, then model.load_weights)")
        if "model_weights" not in f:
            raise ValueError(f"load_model: {filepath} has no 'model_weights' group")
        if kiln_config is not None:
            settings = json.loads(_text(kiln_config))
            model = saving._build_model(settings["model"], saving._known_objects(
                custom_objects))
        else:
            settings = None
            model = model_from_keras_config(json.loads(_text(keras_config)), custom_objects)
        # (a model made from the file's own config has its layer names:
        # pair by name, which no difference of layer order can fool)
        read_weights_group(f["model_weights"], model, where="load_model",
                           strict_names=settings is None)
        state = {k: np.asarray(v) for k, v in f["kiln_optimizer_state"].items()} \
            if "kiln_optimizer_state" in f else None
        training = f.attrs.get("training_config")
        foreign_state = "optimizer_weights" in f
    if not compile:
        return model
    if settings is not None:
        if settings.get("compile") is not None:
            saving._compile_from(model, settings["compile"], state,
                                 saving._known_objects(custom_objects))
    elif training is not None:
        _compile_from_keras(model, json.loads(_text(training)), custom_objects)
        if foreign_state and getattr(model, "optimizer", None) is not None:
            warnings.warn("load_model: the optimizer's state in the file (Keras' "
                          "optimizer_weights) is not restored: training goes on with "
                          "fresh optimizer moments")
    return model


# Keras optimizer settings that Kiln's optimizers do not take, with the
# values that change nothing (None: any value).
_OPTIMIZER_HARMLESS = {
    "name": None, "jit_compile": None, "is_legacy_optimizer": None, "decay": (0.0, 0),
    "use_ema": (False,), "ema_momentum": None, "ema_overwrite_frequency": None,
    "weight_decay": (None, 0.0, 0), "clipnorm": (None,), "global_clipnorm": (None,),
    "clipvalue": (None,), "loss_scale_factor": (None,),
    "gradient_accumulation_steps": (None,), "amsgrad": (False,),
}


def _keras_metric(value, reader):
    from . import metrics
    if isinstance(value, list):
        return [_keras_metric(v, reader) for v in value]
    if not _is_object(value):
        return value
    config = dict(value["config"])
    if value["class_name"] == "MeanMetricWrapper" and isinstance(config.get("fn"), str):
        return config["fn"] if config.get("name") in (None, config["fn"]) else \
            config.get("name")
    cls = reader.custom.get(value["class_name"]) or getattr(metrics, value["class_name"])
    unknown = [k for k in config if not _accepts(cls, k) and k not in ("name", "dtype")]
    if unknown:
        raise ValueError(f"Kiln's {value['class_name']} takes no {unknown[0]!r}")
    return cls(**{k: v for k, v in config.items() if _accepts(cls, k)})


def _keras_loss(value, reader):
    from . import losses
    if isinstance(value, dict) and not _is_object(value):
        return {k: _keras_loss(v, reader) for k, v in value.items()}
    if isinstance(value, list):
        return [_keras_loss(v, reader) for v in value]
    if not _is_object(value):
        return reader.custom.get(value, value) if isinstance(value, str) else value
    cls = reader.custom.get(value["class_name"]) or getattr(losses, value["class_name"])
    config = {}
    for key, setting in value["config"].items():
        if _accepts(cls, key) and key not in ("name", "reduction"):
            config[key] = setting
        elif key == "reduction" and setting not in ("auto", "sum_over_batch_size", None):
            raise ValueError(f"the loss's reduction {setting!r}")
        elif key not in ("name", "reduction", "ignore_class", "dtype") or \
                key == "ignore_class" and setting is not None:
            raise ValueError(f"Kiln's {value['class_name']} takes no {key!r}")
    return cls(**config)


def _compile_from_keras(model, training, custom_objects):
    """Compiles the model from the training_config TF 2.x's Keras wrote;
    a setting Kiln cannot take leaves the model uncompiled, with a
    warning (as Keras does for a file without one)."""
    from . import optimizers
    reader = _KerasReader(custom_objects)
    try:
        spec = training["optimizer_config"]
        name = spec["class_name"].split(">")[-1]
        cls = reader.custom.get(name) or getattr(optimizers, name, None) or \
            optimizers.get(name)
        cls = cls if isinstance(cls, type) else type(cls)
        settings = {}
        for key, value in spec["config"].items():
            if _accepts(cls, key) and key != "name":
                if isinstance(value, dict):
                    raise ValueError(f"the optimizer's {key} is a {value.get('class_name')} "
                                     "(a schedule or object)")
                settings[key] = value
            elif key not in _OPTIMIZER_HARMLESS or (
                    _OPTIMIZER_HARMLESS[key] is not None and
                    value not in _OPTIMIZER_HARMLESS[key]):
                raise ValueError(f"Kiln's {name} takes no {key!r} (the file's value: "
                                 f"{value!r})")
        def per_output(given):
            # (Keras writes a list per output: one output's is the list itself)
            given = _keras_metric(given or [], reader)
            outputs = model._functional_outputs if getattr(
                model, "_functional_inputs", None) is not None else None
            single = not isinstance(outputs, (list, tuple)) or len(outputs) == 1
            if single and len(given) == 1 and isinstance(given[0], list):
                return given[0]
            return given
        model.compile(optimizer=cls(**settings),
                      loss=_keras_loss(training.get("loss"), reader),
                      metrics=per_output(training.get("metrics")),
                      weighted_metrics=per_output(training.get("weighted_metrics")),
                      loss_weights=training.get("loss_weights"))
    except (ValueError, TypeError, AttributeError, KeyError) as e:
        warnings.warn(f"load_model: the file's training configuration is not used ({e}); "
                      "compile the model to train it")


# --- Keras 3's .keras archives ------------------------------------------------------

def is_keras3_metadata(meta):
    """Whether a .keras archive's metadata.json is Keras 3's (Kiln's own
    archives name their format instead)."""
    return isinstance(meta, dict) and "keras_version" in meta and "format" not in meta


def load_keras3_archive(archive, filepath, custom_objects=None, compile=True):
    """A model from a .keras zip that Keras 3 wrote: config.json (the
    model's serialized config, with its compile_config) and
    model.weights.h5 (Keras 3's weights layout)."""
    return _malformed("load_model", filepath, _load_keras3_archive, archive, filepath,
                      custom_objects, compile)


def _load_keras3_archive(archive, filepath, custom_objects, compile):
    import io
    config = json.loads(archive.read("config.json"))
    model = model_from_keras_config(config, custom_objects)
    names = archive.namelist()
    if "model.weights.h5" not in names:
        raise ValueError(f"load_model: {filepath} has no model.weights.h5 (sharded or "
                         "external weights are not read)")
    data = io.BytesIO(archive.read("model.weights.h5"))
    with h5py().File(data, "r") as f:
        read_keras3_weights(f, model)
        optimizer_state = "optimizer" in f and len(f["optimizer"].get("vars", ())) > 0
    settings = config.get("compile_config")
    if compile and settings:
        training = {"optimizer_config": settings.get("optimizer"),
                    "loss": settings.get("loss"), "metrics": settings.get("metrics"),
                    "weighted_metrics": settings.get("weighted_metrics"),
                    "loss_weights": settings.get("loss_weights")}
        if isinstance(training["optimizer_config"], str):
            training["optimizer_config"] = {"class_name": training["optimizer_config"],
                                            "config": {}}
        _compile_from_keras(model, training, custom_objects)
        if optimizer_state and getattr(model, "optimizer", None) is not None:
            warnings.warn("load_model: the optimizer's state in the file is not restored: "
                          "training goes on with fresh optimizer moments")
    return model


def _register():
    import sys
    from . import saving, training
    saving._keras_h5 = training._keras_h5 = sys.modules[__name__]


_register()
