"""kiln.saved_model: a model's serving function with its weights, saved to
a directory and loaded back as a callable (in this or another process).

`save` traces the function for its input signature (extents given as None
stay open, so any batch size runs), freezes the variables into constants
(`kiln-freeze-variables`) and writes `module.mlir` (the Kiln module, which
tensor-run and tensor-compile also accept) and `kiln_saved_model.json` (the
entry and its signature). `load` compiles the module and returns an object
that is called like the function.
"""

import json
import os

from . import _kiln, errors, tracing, train
from .tensor import Tensor, TensorSpec, convert_to_tensor

_META = "kiln_saved_model.json"
_MODULE = "module.mlir"


def _input_specs(model):
    """What a model takes, when it says: a functional model's Inputs, or
    the input_shape of a Sequential's first layer."""
    inputs = getattr(model, "_functional_inputs", None)
    if inputs:
        return [TensorSpec(t.shape, t.dtype) for t in inputs]
    # (a Sequential's first entry: its InputLayer, which `layers` leaves out)
    layers = getattr(model, "layers_list", None) or getattr(model, "layers", None)
    first = layers[0] if layers else None
    if first is not None and getattr(first, "input_shape", None) is not None:
        return [TensorSpec((None,) + tuple(first.input_shape), first.dtype)]
    return None


def save(obj, export_dir, signatures=None):
    """Saves `obj` (a model or layer, a @kiln.function or a Python function)
    for the inputs `signatures` describes (TensorSpecs; a model built from
    kiln.Input or with input_shape knows its own)."""
    fn = getattr(obj, "_python_function", None) or obj
    if isinstance(signatures, dict):          # (TensorFlow's {"serving_default": f})
        if len(signatures) != 1:
            raise ValueError("saved_model.save: Kiln saves one signature "
                             f"(serving_default), got {sorted(signatures)}")
        signatures = next(iter(signatures.values()))
    if isinstance(signatures, tracing.ConcreteFunction):
        source = getattr(signatures, "_source", None)
        if source is None:
            raise ValueError("saved_model.save: pass the ConcreteFunction that "
                             "get_concrete_function returned")
        function, arguments = source
        fn, signatures = function._bound_python(), arguments
    elif isinstance(signatures, tracing.Function):
        if signatures.input_signature is None:
            raise ValueError("saved_model.save: a signature function needs an "
                             "input_signature (or pass get_concrete_function(specs))")
        fn, signatures = signatures._bound_python(), signatures.input_signature
    specs = list(signatures) if signatures is not None else _input_specs(obj)
    if not specs or not all(isinstance(s, TensorSpec) for s in specs):
        raise ValueError("saved_model.save needs signatures=[kiln.TensorSpec(...)] "
                         "for this object (it does not know its input shapes)")
    serving = tracing.Function(lambda *args: fn(*args), name="serving_default",
                               input_signature=specs)
    try:
        text = train.freeze(serving, *specs)
    except (errors.InvalidArgumentError, errors.UnimplementedError) as e:
        # An op that needs an extent the signature leaves open: say how to
        # serve a fixed batch instead.
        about_extents = any(phrase in str(e) for phrase in (
            "static shapes only", "known only when the code runs", "known while tracing",
            "open extent"))
        if all(None not in s.shape for s in specs) or not about_extents:
            raise
        shapes = ", ".join(str(list(s.shape)) for s in specs)
        raise type(e)(
            f"saved_model.save: the model has ops that need extents known while "
            f"compiling (such as a cumulative sum along the batch), so inputs {shapes} "
            "with an extent left open cannot be served; pass "
            "signatures=[kiln.TensorSpec([batch, ...])] with the batch size to serve "
            f"({e})", errors.user_location()) from None
    os.makedirs(export_dir, exist_ok=True)
    with open(os.path.join(export_dir, _MODULE), "w") as f:
        f.write(text)
    meta = {"entry": "serving_default", "format": 1,
            "inputs": [{"shape": list(s.shape), "dtype": s.dtype.name} for s in specs]}
    with open(os.path.join(export_dir, _META), "w") as f:
        json.dump(meta, f, indent=1)
    return export_dir


class _Loaded:
    """A saved function, compiled: call it with tensors (or arrays)."""

    def __init__(self, export_dir, meta, executable):
        self._dir, self._meta, self._exe = export_dir, meta, executable
        self.input_signature = [TensorSpec(i["shape"], i["dtype"]) for i in meta["inputs"]]
        self.signatures = {meta["entry"]: self}

    def __call__(self, *args):
        if len(args) != len(self.input_signature):
            raise TypeError(f"the saved function takes {len(self.input_signature)} "
                            f"inputs, got {len(args)}")
        tensors = []
        for i, (value, spec) in enumerate(zip(args, self.input_signature)):
            t = convert_to_tensor(value, spec.dtype) if not isinstance(value, Tensor) \
                else value
            if not spec.is_compatible_with(t):
                raise errors.InvalidArgumentError(
                    f"{self._dir}: input {i} is {t.dtype.name}{list(t.shape)}, the "
                    f"saved function takes {spec}", errors.user_location())
            tensors.append(t)
        try:
            outs = _kiln.call(self._exe, self._meta["entry"], tensors, None)
        except _kiln.NativeError as e:
            raise errors.from_native(e) from None
        return outs[0] if len(outs) == 1 else outs


def load(export_dir, device="cpu"):
    """The function saved in `export_dir`, compiled for `device`."""
    try:
        with open(os.path.join(export_dir, _META)) as f:
            meta = json.load(f)
        with open(os.path.join(export_dir, _MODULE)) as f:
            text = f.read()
    except FileNotFoundError as e:
        raise errors.NotFoundError(f"{export_dir} is not a Kiln saved model "
                                   f"({e.filename} is missing)", None) from None
    except ValueError as e:
        raise errors.DataLossError(f"{export_dir}: {_META} is damaged ({e})", None) from None
    try:
        exe = _kiln.compile_module(text, os.path.join(export_dir, _MODULE), device)
    except _kiln.NativeError as e:
        raise errors.from_native(e) from None
    return _Loaded(export_dir, meta, exe)
