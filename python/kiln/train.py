"""kiln.train: checkpoints, the TF1-style optimizer name, and freezing.

A checkpoint is one safetensors file written by the runtime (atomically:
a crash mid-save leaves the previous file). Variables are named by where
they sit in the saved objects, e.g. `model__dense__kernel` or
`optimizer__slots__model__dense__kernel__m`, so a fresh model of the same
structure restores from it.
"""

import json
import os
import re
import tempfile
import time

import numpy as np

from . import _kiln, distribute, errors
from .dtypes import int64
from .optimizers import SGD, Adam
from .tensor import Tensor, constant
from .variables import Variable, _store


class GradientDescentOptimizer(SGD):
    """tf.train.GradientDescentOptimizer: SGD without momentum."""

    def __init__(self, learning_rate, name="GradientDescent"):
        super().__init__(learning_rate, name=name)


class MomentumOptimizer(SGD):
    """tf.train.MomentumOptimizer(learning_rate, momentum, use_nesterov):
    Keras' SGD with momentum (the same steps while the rate is constant)."""

    def __init__(self, learning_rate, momentum, use_nesterov=False, name="Momentum"):
        super().__init__(learning_rate, momentum=momentum, nesterov=use_nesterov,
                         name=name)


class AdamOptimizer(Adam):
    """tf.train.AdamOptimizer, with TensorFlow 1's defaults (epsilon 1e-8)."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 name="Adam"):
        super().__init__(learning_rate, beta_1=beta1, beta_2=beta2,
                         epsilon=epsilon, name=name)


def _identifier(path):
    name = "__".join(re.sub(r"\W", "_", part) for part in path.split("/"))
    return name if re.match(r"[A-Za-z_]", name) else "v_" + name


class Checkpoint:
    """Saves and restores the variables of the objects given by keyword:
    models and layers, optimizers (slots and step counter included) and
    single Variables."""

    def __init__(self, **objects):
        if not objects:
            raise ValueError("Checkpoint needs at least one object to save")
        object.__setattr__(self, "_objects", {})
        for key, obj in objects.items():
            setattr(self, key, obj)
        object.__setattr__(self, "save_counter", Variable(
            constant(0, int64), name="save_counter", trainable=False))

    # The objects are the checkpoint's attributes, as TensorFlow's
    # (`ckpt.step.assign_add(1)`); assigning one adds it.
    def __getattr__(self, name):
        objects = self.__dict__.get("_objects", {})
        if name in objects:
            return objects[name]
        raise AttributeError(f"'Checkpoint' object has no attribute {name!r} (it holds "
                             f"{sorted(objects)})")

    def __setattr__(self, name, value):
        if name.startswith("_") or name == "save_counter":
            object.__setattr__(self, name, value)
            return
        if not (isinstance(value, Variable) or hasattr(value, "_named_variables")
                or hasattr(value, "_named_slots")):
            raise TypeError(f"Checkpoint cannot save {name}={value!r}: not a model, layer, "
                            "kiln.Module, optimizer or Variable")
        self._objects[name] = value

    def _named(self):
        """{checkpoint name: Variable}, plus optimizer slots still to be
        created: {name: (optimizer, primary Variable, slot name)}."""
        named, paths, pending = {}, {}, {}
        optimizers = []
        for key, obj in self._objects.items():
            if isinstance(obj, Variable):
                named[_identifier(key)] = obj
                paths[id(obj)] = key
            elif hasattr(obj, "_named_variables"):
                for path, var in obj._named_variables():
                    named[_identifier(f"{key}/{path}")] = var
                    paths.setdefault(id(var), f"{key}/{path}")
            else:   # (an optimizer: __setattr__ let nothing else in)
                optimizers.append((key, obj))
        for key, opt in optimizers:
            for state, variable in opt._state_variables().items():
                named[_identifier(f"{key}/{state}")] = variable
            for var, slot, value in opt._named_slots():
                where = paths.get(id(var), var.name[:-2])
                named[_identifier(f"{key}/slots/{where}/{slot}")] = value
            # Slots of model variables that the optimizer has not made yet
            # (nothing trained): restore creates them.
            for vid, path in paths.items():
                for slot in opt.get_slot_names():
                    name = _identifier(f"{key}/slots/{path}/{slot}")
                    if name not in named:
                        pending[name] = (opt, vid, slot)
        named["save_counter"] = self.save_counter
        return named, pending

    def save(self, file_prefix):
        """Writes `<file_prefix>-<n>.safetensors` and returns its path."""
        self.save_counter.assign_add(constant(1, int64))
        path = f"{file_prefix}-{int(self.save_counter.numpy())}.safetensors"
        self.write(path)
        return path

    def write(self, path):
        """Writes the checkpoint to `path` (after kiln.distribute.init(),
        on rank 0 only: the other processes hold the same values)."""
        named, _ = self._named()
        if not distribute.is_chief():
            return path
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        store = _kiln.VariableStore()
        for name, var in named.items():
            store.set(name, var._value._impl)
        try:
            store.save(path, sorted(named))
        except _kiln.NativeError as e:
            raise errors.from_native(e) from None
        return path

    def read(self, save_path):
        """restore() of a file written by write() (TensorFlow's pair)."""
        return self.restore(save_path)

    def restore(self, save_path):
        """Assigns every saved variable of these objects and returns a
        status (`assert_consumed()`, `expect_partial()`). `None` (no
        checkpoint yet, e.g. `manager.latest_checkpoint` on a first run)
        restores nothing. The whole file is checked first: a missing,
        truncated or corrupt file, one with none of these objects'
        variables, a variable with another shape, or saved model weights
        that have no variable here (a model not built yet: call it once
        first) raise an error naming the file, and nothing changes.
        Variables here that the file lacks (a new optimizer's) keep their
        values, as in TensorFlow: the status lists them (`missing`),
        `assert_existing_objects_matched()` / `assert_consumed()` raise, and
        a warning says so unless `expect_partial()` is called."""
        if save_path is None:
            return _RestoreStatus([], [])
        if not os.path.exists(str(save_path)) and \
                os.path.exists(str(save_path) + ".safetensors"):
            save_path = str(save_path) + ".safetensors"   # (TensorFlow's prefix form)
        store = _kiln.VariableStore()
        try:
            store.load(str(save_path))
        except _kiln.NativeError as e:
            raise errors.from_native(e) from None
        named, pending = self._named()
        stored = set(store.names())
        by_id = {}
        for obj in self._objects.values():
            if isinstance(obj, Variable):
                by_id[id(obj)] = obj
            elif hasattr(obj, "_named_variables"):
                for _, var in obj._named_variables():
                    by_id[id(var)] = var

        def value_for(name, var, shape=None):
            value = Tensor(store.get(name))
            _check_fits(save_path, name, value, var.shape if shape is None else shape,
                        var.dtype)
            return value

        updates, missing = [], []
        for name, var in named.items():
            if name not in stored:
                missing.append(name)   # (kept as it is, as in TensorFlow)
                continue
            updates.append((var, value_for(name, var)))
        matched = [n for n in named if n in stored and n != "save_counter"]
        if missing and not matched and not any(n in stored for n in pending):
            raise errors.NotFoundError(
                f"{save_path}: the checkpoint has none of these objects' variables "
                f"(it lacks '{missing[0]}', ...); was it saved from a different model?",
                None)
        slots = []
        for name, (opt, vid, slot) in pending.items():
            if name in stored:
                primary = by_id[vid]  # a slot has its variable's type
                slots.append((opt, primary, slot,
                              value_for(name, primary, opt._slot_shape(primary, slot))))
        # Weights of a model that is not built yet (no call so far) wait in
        # the model and are assigned when its variables appear, as
        # TensorFlow's deferred restoration does.
        deferred = {}
        for key, obj in self._objects.items():
            if hasattr(obj, "_named_variables") and not _fully_built(obj):
                prefix = _identifier(key) + "__"
                values = {n: Tensor(store.get(n)) for n in stored - set(named)
                          if n.startswith(prefix)}
                if values:
                    deferred[key] = (obj, values)
        waiting = {n for _, values in deferred.values() for n in values}
        prefixes = tuple(_identifier(k) + "__" for k, o in self._objects.items()
                         if hasattr(o, "_named_variables"))
        unused = sorted(n for n in stored - set(named) - set(pending) - waiting
                        if n.startswith(prefixes))
        if unused:
            raise errors.InvalidArgumentError(
                f"{save_path}: the checkpoint has weights that no variable "
                f"here matches ({', '.join(unused[:4])}"
                f"{', ...' if len(unused) > 4 else ''}); if the model has not "
                "been called yet, call it once on a batch to create its "
                "weights, then restore", None)
        for var, value in updates:  # nothing changed until all is valid
            var.assign(value)
        for opt, primary, slot, value in slots:
            opt._slot(primary, slot).assign(value)
        for key, (obj, values) in deferred.items():
            obj._deferred_restore = _DeferredRestore(key, values, str(save_path))
        return _RestoreStatus(sorted(stored - set(named) - set(pending) - waiting), missing,
                              [obj for obj, _ in deferred.values()], str(save_path))


def _fully_built(model):
    """Whether a model (or layer) and all its layers have their weights."""
    return getattr(model, "built", True) and all(
        _fully_built(layer) for layer in getattr(model, "layers", ()))


def _check_fits(path, name, value, shape, dtype):
    """An error unless the checkpoint's `value` has `shape` and `dtype`."""
    if tuple(value.shape) != tuple(shape) or value.dtype != dtype:
        raise errors.InvalidArgumentError(
            f"{path}: variable '{name}' is {value.dtype.name}{list(value.shape)} in the "
            f"checkpoint but {dtype.name}{list(shape)} here", None)


class _DeferredRestore:
    """Checkpoint values for a model's variables that did not exist at
    restore time; Layer.__call__ applies them once the call made them."""

    def __init__(self, key, values, path):
        self.key, self.values, self.path = key, dict(values), path

    def __call__(self, model):
        from .variables import init_scope
        with init_scope():  # (eagerly, also from inside a trace)
            for path, var in model._named_variables():
                name = _identifier(f"{self.key}/{path}")
                value = self.values.pop(name, None)
                if value is None:
                    continue
                _check_fits(self.path, name, value, var.shape, var.dtype)
                var.assign(value)
        if not self.values:
            del model.__dict__["_deferred_restore"]


class _RestoreStatus:
    """What Checkpoint.restore returns (TensorFlow's load status)."""

    def __init__(self, unmatched, missing, deferred=(), path=None):
        self.unmatched = unmatched
        self.missing = list(missing)   # variables here the file lacks (left as they are)
        self._deferred = list(deferred)
        self._path, self._partial = path, False

    def __del__(self):
        # (TensorFlow warns when the status goes away: a partial restore
        # that expect_partial() did not declare.)
        if not (self.missing and not self._partial):
            return
        try:   # (also at interpreter exit, where imports may fail)
            import warnings
            warnings.warn(f"checkpoint {self._path} has no value for "
                          f"{len(self.missing)} variable(s) here ("
                          f"{', '.join(self.missing[:3])}{', ...' if len(self.missing) > 3 else ''}"
                          "), which keep their values; call expect_partial() on the "
                          "restore status if that is intended", stacklevel=2)
        except Exception:
            pass

    def assert_consumed(self):
        self.assert_existing_objects_matched()
        if self.unmatched:
            raise AssertionError("checkpoint values not used: "
                                 + ", ".join(self.unmatched))
        waiting = [m for m in self._deferred if "_deferred_restore" in m.__dict__]
        if waiting:
            raise AssertionError(
                "checkpoint values are waiting for variables that do not exist "
                f"yet ({', '.join(m.name for m in waiting)}: call the model once)")
        return self

    def expect_partial(self):
        self._partial = True
        return self

    def assert_existing_objects_matched(self):
        if self.missing:
            raise AssertionError("variables without a value in the checkpoint: "
                                 + ", ".join(self.missing))
        return self


class CheckpointManager:
    """Keeps the last `max_to_keep` checkpoints of `checkpoint` in
    `directory`, with an index file naming them, as
    tf.train.CheckpointManager: with keep_checkpoint_every_n_hours, a
    checkpoint leaving the window is kept anyway if it is at least that
    many hours newer than the last one so kept; with step_counter (a
    Variable) and checkpoint_interval, save() writes only when the counter
    moved that far since the last save."""

    def __init__(self, checkpoint, directory, max_to_keep=5,
                 keep_checkpoint_every_n_hours=None, checkpoint_name="ckpt",
                 step_counter=None, checkpoint_interval=None):
        if checkpoint_interval is not None and step_counter is None:
            raise ValueError("checkpoint_interval needs a step_counter")
        self._checkpoint = checkpoint
        self.directory = str(directory)
        self.max_to_keep = max_to_keep
        self._keep_hours = keep_checkpoint_every_n_hours
        self._step_counter = step_counter
        self._interval = checkpoint_interval
        self._prefix = os.path.join(self.directory, checkpoint_name)
        self._index = os.path.join(self.directory, "checkpoint.json")
        self._kept, self._times, self._preserved = self._read_index()
        self._last_step = None

    def _read_index(self):
        if latest_checkpoint(self.directory) is None:
            return [], {}, []
        with open(self._index) as f:
            index = json.load(f)
        kept = [p for p in index["checkpoints"] if os.path.exists(p)]
        preserved = [p for p in index.get("preserved", []) if os.path.exists(p)]
        times = {p: t for p, t in index.get("times", {}).items()
                 if p in kept or p in preserved}
        return kept, times, preserved

    def _write_index(self):
        if not distribute.is_chief():
            return
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".checkpoint.")
        with os.fdopen(fd, "w") as f:
            json.dump({"checkpoints": self._kept, "times": self._times,
                       "preserved": self._preserved}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._index)

    @property
    def checkpoints(self):
        return list(self._kept)

    @property
    def latest_checkpoint(self):
        return self._kept[-1] if self._kept else None

    def save(self, checkpoint_number=None, check_interval=True):
        """Writes a checkpoint and returns its path (None when the interval
        says not yet)."""
        if self._interval is not None and check_interval:
            step = int(np.asarray(self._step_counter.numpy()))
            if self._last_step is not None and step - self._last_step < self._interval:
                return None
            self._last_step = step
        os.makedirs(self.directory, exist_ok=True)
        if checkpoint_number is not None:
            self._checkpoint.save_counter.assign(
                constant(int(checkpoint_number) - 1, int64))
        path = self._checkpoint.save(self._prefix)
        self._kept = [p for p in self._kept if p != path] + [path]
        self._times[path] = time.time()
        while self.max_to_keep and len(self._kept) > self.max_to_keep:
            old = self._kept.pop(0)
            born = self._times.get(old, 0.0)
            last = max((self._times.get(p, 0.0) for p in self._preserved), default=None)
            if self._keep_hours is not None and (
                    last is None or born - last >= self._keep_hours * 3600.0):
                self._preserved.append(old)  # (kept for good, outside the window)
                continue
            self._times.pop(old, None)
            if not distribute.is_chief():
                continue
            try:
                os.remove(old)
            except FileNotFoundError:
                pass
        self._write_index()
        return path


def latest_checkpoint(checkpoint_dir):
    """The newest checkpoint a CheckpointManager keeps in `checkpoint_dir`
    (tf.train.latest_checkpoint), or None if it has none."""
    index = os.path.join(str(checkpoint_dir), "checkpoint.json")
    try:
        with open(index) as f:
            kept = json.load(f)["checkpoints"]
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as e:
        raise errors.DataLossError(f"{index}: not a checkpoint index ({e})",
                                   None) from None
    kept = [p for p in kept if os.path.exists(p)]
    return kept[-1] if kept else None


def freeze(function, *example_args, path=None):
    """Exports `function` (a @kiln.function) traced for `example_args` as a
    Kiln module whose variables are constants with their current values:
    the inference module that tensor-run (or an AOT build) runs without a
    checkpoint. Returns the module text (also written to `path`)."""
    if not hasattr(function, "get_concrete_function"):
        raise TypeError("freeze takes a @kiln.function")
    concrete = function.get_concrete_function(*example_args)
    keys = sorted(concrete._variables)
    with tempfile.TemporaryDirectory() as tmp:
        values = os.path.join(tmp, "values.safetensors")
        text = concrete.mlir
        if keys:
            for key in keys:
                var = concrete._variables[key]
                _store.set(key, var._value._impl)
            _store.save(values, keys)
        try:
            text = _kiln.run_passes(
                text, f"kiln-freeze-variables{{checkpoint={values}}}"
                if keys else "canonicalize")
        except _kiln.NativeError as e:
            raise errors.from_native(e) from None
    if path is not None:
        with open(path, "w") as f:
            f.write(text)
    return text


from .records import BytesList, Example, Feature, Features, FloatList, Int64List  # noqa: E402,F401


class ExponentialMovingAverage:
    """tf.train.ExponentialMovingAverage: `apply(var_list)` keeps, for each
    variable, a shadow variable updated as shadow -= (1 - decay) * (shadow
    - variable) (decay min(decay, (1 + n) / (10 + n)) with num_updates n),
    read by `average(var)`; eagerly or inside a @kiln.function step."""

    def __init__(self, decay, num_updates=None, zero_debias=False,
                 name="ExponentialMovingAverage"):
        if zero_debias:
            raise errors.UnimplementedError(
                "ExponentialMovingAverage: zero_debias is not supported", None)
        self._decay, self._num_updates, self.name = decay, num_updates, name
        self._averages = {}

    def apply(self, var_list=None):
        from . import ops
        from .variables import init_scope
        if var_list is None:
            raise ValueError("ExponentialMovingAverage.apply needs var_list (TensorFlow 2 "
                             "has no global collection of variables)")
        for var in var_list:
            if id(var) not in self._averages:
                with init_scope():   # (the shadow starts at the variable's value)
                    self._averages[id(var)] = (var, Variable(
                        var.numpy(), name=f"{var.name[:-2]}/{self.name}", trainable=False))
        if "_deferred_restore" in self.__dict__:   # (restored before the shadows existed)
            self._deferred_restore(self)
        decay = ops.cast(constant(self._decay), "float32")
        if self._num_updates is not None:
            n = ops.cast(self._num_updates, "float32")
            decay = ops.minimum(decay, (1.0 + n) / (10.0 + n))
        for var in var_list:
            shadow = self._averages[id(var)][1]
            rate = ops.cast(1.0 - decay, shadow.dtype)
            shadow.assign_sub(rate * (shadow.value() - var.value()))

    def average(self, var):
        """The shadow variable of `var` (None before apply)."""
        entry = self._averages.get(id(var))
        return None if entry is None else entry[1]

    def average_name(self, var):
        return f"{var.name[:-2]}/{self.name}"

    @property
    def built(self):   # (a Checkpoint restores into shadows made later, as TensorFlow)
        return bool(self._averages)

    def _named_variables(self):   # (a Checkpoint keeps the averages)
        return [(f"{var.name[:-2]}/average", shadow) for var, shadow in self._averages.values()]
