"""kiln.keras: tf.keras's spellings of Kiln's Keras-style API, so code
written against `tf.keras` (`from tensorflow import keras`,
`tf.keras.layers.Dense`, `keras.optimizers.schedules`) reads the same with
`kiln.keras`. Each name is the Kiln object itself (kiln.keras.layers is
kiln.layers), not a copy; `import kiln.keras.layers` works too."""

import sys
import types

import numpy as np

from . import (activations, callbacks, datasets, initializers, keras_ops, layers, losses,
               saving, metrics, mixed_precision, optimizers, regularizers)
from .layers import Input, Model, Sequential

# Keras 3 names the loss-scaling wrapper under optimizers too.
optimizers.LossScaleOptimizer = mixed_precision.LossScaleOptimizer


def _submodule(name, doc, **members):
    module = types.ModuleType(f"{__name__}.{name}", doc)
    module.__dict__.update(members)
    return module


models = _submodule("models", "tf.keras.models: the model classes, load_model.",
                    Model=Model, Sequential=Sequential, load_model=saving.load_model,
                    clone_model=saving.clone_model,
                    model_from_json=saving.model_from_json)


def to_categorical(y, num_classes=None, dtype="float32"):
    """Class indices as one-hot rows (tf.keras.utils.to_categorical): a
    NumPy array of shape y.shape + (num_classes,), a trailing axis of 1 in
    y dropped first; num_classes defaults to max(y) + 1."""
    y = np.asarray(y)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError("to_categorical: class indices must be integers")
        y = y.astype(np.int64)
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"to_categorical: class indices must lie in "
                         f"[0, {num_classes}), got {y.min()}..{y.max()}")
    out = np.zeros(y.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, y[..., None].astype(np.int64), 1, axis=-1)
    return out


utils = _submodule("utils", "tf.keras.utils: helpers.",
                   to_categorical=to_categorical)


def clear_session():
    """Starts default layer names over ("dense", "dense_1", ... again), as
    tf.keras.backend.clear_session does, and lets new variables take names
    existing ones have (their weights "dense/kernel:0" again); Kiln keeps
    no graph to clear."""
    from .variables import _forget_names
    layers._counters.clear()
    _forget_names()


from .ctc import ctc_batch_cost, ctc_decode  # noqa: E402

backend = _submodule("backend", "tf.keras.backend: session helpers and CTC.",
                     clear_session=clear_session,
                     floatx=lambda: "float32",
                     ctc_batch_cost=ctc_batch_cost, ctc_decode=ctc_decode)

ops = keras_ops  # (Keras 3's `from keras import ops`)

for _name in ("activations", "backend", "callbacks", "datasets",
              "initializers", "layers", "losses", "metrics",
              "mixed_precision", "models", "ops", "optimizers", "regularizers",
              "utils"):
    sys.modules[f"{__name__}.{_name}"] = globals()[_name]
del _name
