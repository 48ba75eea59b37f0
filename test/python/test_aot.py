"""kiln.aot.export: @kiln.functions become a shared library + C header; the
library, driven through the runtime's C API (here with ctypes, as a C
program would through the header), continues training exactly where
Python left off."""

import ctypes
import json
import os
import re
import struct

import numpy as np
import pytest

import kiln


class Library:
    """The exported library, loaded the way its header does it."""

    def __init__(self, paths, name):
        directory = os.path.dirname(paths["library"])
        # One runtime per process, as in a C program: the library binds by
        # soname to the copy Kiln's Python module already loaded, so the
        # test drives that copy too (a second copy would not see the checks
        # the compiled code reports to the first).
        with open("/proc/self/maps") as maps:
            loaded = [line.split()[-1] for line in maps
                      if line.rstrip().endswith("/libkiln_runtime.so")]
        self.rt = ctypes.CDLL(loaded[0] if loaded else
                              os.path.join(directory, "libkiln_runtime.so"))
        self.lib = ctypes.CDLL(paths["library"])
        self.rt.kiln_instance_create.restype = ctypes.c_void_p
        self.rt.kiln_instance_error.restype = ctypes.c_char_p
        self.rt.kiln_instance_error.argtypes = [ctypes.c_void_p]
        for fn in ("kiln_instance_load", "kiln_instance_call", "kiln_instance_save"):
            getattr(self.rt, fn).restype = ctypes.c_int32
        lookup_type = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)

        def lookup(ctx, symbol):
            symbol = symbol.decode()
            if symbol.startswith("kiln_entry_"):
                fn = getattr(self.lib, f"{name}_entry_{symbol[11:]}")
                return ctypes.cast(fn, ctypes.c_void_p).value
            return None
        self._lookup = lookup_type(lookup)  # keep alive
        manifest = ctypes.addressof(ctypes.c_char.in_dll(self.lib, f"{name}_manifest"))
        self.instance = ctypes.c_void_p()
        status = self.rt.kiln_instance_create(ctypes.c_void_p(manifest), self._lookup,
                                              None, ctypes.byref(self.instance))
        assert not status

    def check(self, code):
        assert code == 0, self.rt.kiln_instance_error(self.instance).decode()

    def load(self, path):
        self.check(self.rt.kiln_instance_load(self.instance, path.encode()))

    def call(self, entry, *arrays):
        args = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
        return self.rt.kiln_instance_call(self.instance, entry.encode(), args)


def test_exported_training_step_continues_where_python_left_off(tmp_path):
    kiln.random.set_seed(0)
    model = kiln.Sequential([kiln.layers.Dense(16, activation="relu", name="hidden"),
                             kiln.layers.Dense(3, name="logits")])
    optimizer = kiln.optimizers.Adam(0.01)
    loss_fn = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)

    @kiln.function
    def train_step(x, y):
        with kiln.GradientTape() as tape:
            loss = loss_fn(y, model(x))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @kiln.function
    def predict(x):
        return model(x)

    rng = np.random.default_rng(0)
    batches = [(rng.random((8, 5), dtype=np.float32),
                rng.integers(0, 3, 8).astype(np.int32)) for _ in range(4)]
    train_step(*batches[0])
    paths = kiln.aot.export({"train_step": train_step, "predict": predict},
                            {"train_step": batches[0], "predict": (batches[0][0],)},
                            str(tmp_path / "tiny"))
    for key in ("library", "header", "module", "checkpoint"):
        assert os.path.exists(paths[key]), key
    header = open(paths["header"]).read()
    assert "static inline int32_t tiny_train_step(tiny_t *model, const float *in0, " \
           "const int32_t *in1, float *out0)" in header
    assert "hidden_kernel: f32 [5, 16]" in header and "hidden_kernel_adam_m" in header

    library = Library(paths, "tiny")
    library.load(paths["checkpoint"])
    x = batches[1][0]
    logits = np.zeros((8, 3), np.float32)
    library.check(library.call("predict", x, logits))
    np.testing.assert_allclose(logits, predict(x).numpy(), rtol=1e-5, atol=1e-6)
    # NumPy's forward pass with the weights the checkpoint holds.
    k0, b0, k1, b1 = (v.numpy().astype(np.float64) for v in model.trainable_variables)
    np.testing.assert_allclose(logits, np.maximum(x @ k0 + b0, 0) @ k1 + b1,
                               rtol=1e-5, atol=1e-6)
    # Three more steps in C and in Python: the same losses and weights.
    for bx, by in batches[1:]:
        loss = np.zeros((), np.float32)
        library.check(library.call("train_step", bx, by, loss))
        np.testing.assert_allclose(loss, float(train_step(bx, by)), rtol=1e-5)
    library.check(library.call("predict", x, logits))
    np.testing.assert_allclose(logits, predict(x).numpy(), rtol=1e-4, atol=1e-5)
    # Errors are reported, not crashes.
    assert library.call("nope", x) == 2  # KILN_NOT_FOUND
    assert b"no entry named 'nope'" in library.rt.kiln_instance_error(library.instance)
    # A label outside the classes, checked by the compiled step itself,
    # comes back as a status with the message (the process goes on).
    bad = batches[1][1].copy()
    bad[3] = 7
    assert library.call("train_step", batches[1][0], bad, loss) == 1  # INVALID_ARGUMENT
    assert b"a label is out of the classes' range (7 is not in [0, 3))" in \
        library.rt.kiln_instance_error(library.instance)
    library.check(library.call("predict", x, logits))


def test_export_errors(tmp_path):
    f = kiln.function(lambda x: x * 2.0)
    with pytest.raises(ValueError, match="C identifier"):
        kiln.aot.export({"double": f}, (np.ones(2, np.float32),), str(tmp_path / "9x"))
    with pytest.raises(TypeError, match="@kiln.function"):
        kiln.aot.export({"double": lambda x: x}, (np.ones(2, np.float32),),
                        str(tmp_path / "lib"))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="collide"):
        kiln.aot.export({"create": f}, (np.ones(2, np.float32),), str(tmp_path / "lib"))


def test_exported_mixed_precision_step_scales_its_loss(tmp_path):
    """A mixed_float16 training step with dynamic loss scaling (its skip
    or apply is a branch in the compiled step) exported to C: the library
    and Python take the same steps, and the loss scale is a variable the
    checkpoint holds."""
    kiln.mixed_precision.set_global_policy("mixed_float16")
    try:
        kiln.random.set_seed(1)
        model = kiln.Sequential([kiln.layers.Dense(8, activation="relu", name="hidden"),
                                 kiln.layers.Dense(3, name="logits", dtype="float32")])
    finally:
        kiln.mixed_precision.set_global_policy(None)
    optimizer = kiln.mixed_precision.LossScaleOptimizer(
        kiln.optimizers.SGD(0.1), initial_scale=2.0 ** 17, dynamic_growth_steps=2)
    loss_fn = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)

    @kiln.function
    def train_step(x, y):
        with kiln.GradientTape() as tape:
            loss = loss_fn(y, model(x))
            scaled = optimizer.get_scaled_loss(loss)
        grads = optimizer.get_unscaled_gradients(
            tape.gradient(scaled, model.trainable_variables))
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    rng = np.random.default_rng(2)
    batches = [(rng.random((8, 5), dtype=np.float32) * 40,
                rng.integers(0, 3, 8).astype(np.int32)) for _ in range(10)]
    train_step(*batches[0])
    paths = kiln.aot.export({"train_step": train_step}, batches[0],
                            str(tmp_path / "mixed"))
    paths_weights = {"hidden": model.layers[0].kernel.numpy().copy()}
    header = open(paths["header"]).read()
    # (Names get a suffix when an earlier test took them.)
    assert re.search(r"hidden\w*_kernel\w*: f32 \[5, 8\]", header), header
    assert re.search(r"loss_scale\w*: f32 \[\]", header), header
    library = Library(paths, "mixed")
    library.load(paths["checkpoint"])
    scales = []
    for bx, by in batches[1:]:
        loss = np.zeros((), np.float32)
        library.check(library.call("train_step", bx, by, loss))
        np.testing.assert_allclose(loss, float(train_step(bx, by)), rtol=1e-3)
        scales.append(float(optimizer.loss_scale))
    # 2**17 overflows float16's backward pass: the scale halves (steps are
    # skipped) until the gradients are finite, in C as in Python.
    assert scales[0] < 2.0 ** 17 and len(set(scales)) > 1, scales
    assert scales[-1] > min(scales), scales  # grown again: steps applied
    saved = str(tmp_path / "after.safetensors")
    library.check(library.rt.kiln_instance_save(library.instance, saved.encode()))
    with open(saved, "rb") as f:
        data = f.read()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])

    def saved_value(pick):
        names = [n for n in header if pick(n)]
        assert len(names) == 1, sorted(header)
        start, end = header[names[0]]["data_offsets"]
        return np.frombuffer(data[8 + size + start:8 + size + end], np.float32)
    assert saved_value(lambda n: "loss_scale" in n).tolist() == [scales[-1]]
    # The weights the applied steps changed, in C as in Python.
    kernel = model.layers[0].kernel
    assert np.abs(kernel.numpy() - paths_weights["hidden"]).max() > 0
    np.testing.assert_allclose(
        saved_value(lambda n: re.fullmatch(r"hidden\w*_kernel(_\d+)?", n) is not None)
        .reshape(kernel.shape), kernel.numpy(), rtol=1e-5, atol=1e-6)
