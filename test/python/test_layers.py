"""Part 2 of the front end: layers, models, losses, optimizers, data,
checkpoints, devices, metrics and summaries, checked against NumPy."""

import os
import subprocess

import numpy as np
import pytest

import kiln
from conftest import BUILD, run_fresh_process

RNG = np.random.default_rng(3)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# -- layers and models ---------------------------------------------------

def test_dense_builds_at_first_call_and_matches_numpy():
    layer = kiln.layers.Dense(4, activation="relu")
    assert layer.variables == []
    x = f32(5, 3)
    y = layer(x)
    kernel, bias = layer.kernel.numpy(), layer.bias.numpy()
    assert kernel.shape == (3, 4) and bias.shape == (4,)
    np.testing.assert_allclose(y.numpy(), np.maximum(x @ kernel + bias, 0), rtol=1e-5,
                               atol=1e-6)
    assert [v.name for v in layer.trainable_variables] == [
        f"{layer.name}/kernel:0", f"{layer.name}/bias:0"]
    # Glorot uniform: within the limit
    limit = np.sqrt(6 / (3 + 4))
    assert np.all(np.abs(kernel) <= limit) and np.all(bias == 0)
    assert kiln.layers.Dense(2, use_bias=False)(x).shape == (5, 2)


def test_initializers_are_deterministic_under_set_seed():
    values = []
    for _ in range(2):
        kiln.random.set_seed(11)
        values.append(kiln.layers.Dense(6)(np.ones((1, 5), np.float32)).numpy())
    np.testing.assert_array_equal(values[0], values[1])
    kiln.random.set_seed(12)
    other = kiln.layers.Dense(6)(np.ones((1, 5), np.float32)).numpy()
    assert not np.array_equal(values[0], other)


def test_conv_pooling_flatten_shapes_and_values():
    x = f32(2, 8, 8, 3)
    conv = kiln.layers.Conv2D(5, 3, activation="relu")
    y = conv(x)
    assert y.shape == (2, 6, 6, 5)
    # NumPy's correlation (patches times the kernel), not kiln.nn.conv2d.
    k = conv.kernel.numpy().astype(np.float64)
    patches = np.stack([x[:, i:i + 6, j:j + 6, :] for i in range(3) for j in range(3)], 3)
    expected = np.maximum(np.einsum("nhwpc,pcf->nhwf", patches, k.reshape(9, 3, 5))
                          + conv.bias.numpy(), 0)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert kiln.layers.Conv2D(4, (3, 3), strides=2, padding="same")(x).shape == (2, 4, 4, 4)
    pooled = kiln.layers.MaxPooling2D()(x)
    np.testing.assert_allclose(pooled.numpy(),
                               x.reshape(2, 4, 2, 4, 2, 3).max(axis=(2, 4)))
    np.testing.assert_allclose(kiln.layers.GlobalAveragePooling2D()(x).numpy(),
                               x.mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_array_equal(kiln.layers.Flatten()(x).numpy(), x.reshape(2, -1))
    with pytest.raises(ValueError, match="rank 4"):
        kiln.layers.Conv2D(2, 3)(f32(4, 4))
    with pytest.raises(ValueError, match="padding"):
        kiln.layers.Conv2D(2, 3, padding="full")


def test_models_track_their_layers():
    class Net(kiln.Network):
        def __init__(self):
            super().__init__()
            self.body = [kiln.layers.Dense(4), kiln.layers.Dense(3)]
            self.head = kiln.layers.Dense(2)

        def call(self, x):
            for layer in self.body:
                x = layer(x)
            return self.head(x)

    net = Net()
    assert kiln.Network is kiln.Model
    out = net(f32(7, 5))
    assert out.shape == (7, 2)
    assert len(net.variables) == 6 and len(net.trainable_variables) == 6
    names = [path for path, _ in net._named_variables()]
    assert names[:2] == ["body/0/kernel", "body/0/bias"] and names[-1] == "head/bias"
    seq = kiln.Sequential([kiln.layers.Dense(3, activation="tanh"), kiln.layers.Dense(1)])
    assert seq(f32(4, 2)).shape == (4, 1) and len(seq.layers) == 2
    with pytest.raises(TypeError):
        kiln.Sequential([lambda x: x])


def test_keras_conveniences():
    # float64 inputs are cast to the layer's float32; training= and
    # input_shape= are accepted; "linear" is the identity.
    model = kiln.Sequential([kiln.layers.Flatten(input_shape=(2, 2)),
                             kiln.layers.Dense(3),
                             kiln.layers.Activation("linear")])
    out = model(np.ones((4, 2, 2)), training=True)
    assert out.shape == (4, 3) and out.dtype == kiln.float32
    # Reassigning or clearing an attribute stops tracking the old layers.
    net = kiln.Model()
    net.blocks = [kiln.layers.Dense(2), kiln.layers.Dense(2)]
    net.blocks = [kiln.layers.Dense(2)]
    net.extra = kiln.layers.Dense(2)
    net.extra = None
    assert [p for p, _ in net._layers] == ["blocks/0"]
    # trainable=False on a layer hides its weights from trainable_variables.
    seq = kiln.Sequential([kiln.layers.Dense(2), kiln.layers.Dense(2)])
    seq(np.ones((1, 2), np.float32))
    seq.layers[0].trainable = False
    assert len(seq.trainable_variables) == 2 and len(seq.non_trainable_variables) == 2

    class WithBuild(kiln.Model):
        def build(self, input_shape):
            self.scale = self.add_weight("scale", (input_shape[-1],), "ones")

        def call(self, x):
            return x * self.scale
    np.testing.assert_array_equal(WithBuild()(np.full((2, 3), 2.0, np.float32)).numpy(),
                                  np.full((2, 3), 2.0))


def test_variables_need_eager_initial_values():
    @kiln.function
    def f(x):
        return kiln.Variable(x * 2.0)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="outside the function"):
        f(kiln.constant(1.0))


# -- losses --------------------------------------------------------------

def test_losses_match_numpy():
    logits = f32(6, 4)
    labels = RNG.integers(0, 4, 6)
    logp = logits - logits.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    nll = -logp[np.arange(6), labels].mean()
    scce = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)
    np.testing.assert_allclose(float(scce(labels, logits)), nll, rtol=1e-5)
    probs = np.exp(logp)
    np.testing.assert_allclose(
        float(kiln.losses.SparseCategoricalCrossentropy()(labels.astype(np.uint8), probs)),
        nll, rtol=1e-4)
    onehot = np.eye(4, dtype=np.float32)[labels]
    np.testing.assert_allclose(
        float(kiln.losses.CategoricalCrossentropy(from_logits=True)(onehot, logits)),
        nll, rtol=1e-5)
    column = np.arange(4, dtype=np.float32)
    assert float(kiln.losses.MeanSquaredError()(column, column[:, None])) == 0.0
    np.testing.assert_allclose(float(scce(labels[:, None], logits)), nll, rtol=1e-5)
    a, b = f32(5, 3), f32(5, 3)
    np.testing.assert_allclose(float(kiln.losses.MeanSquaredError()(a, b)),
                               ((a - b) ** 2).mean(), rtol=1e-5)
    e = np.abs(a - b)
    huber = np.where(e <= 0.5, 0.5 * e ** 2, 0.5 * (e - 0.25)).mean()
    np.testing.assert_allclose(float(kiln.losses.Huber(delta=0.5)(a, b)), huber, rtol=1e-5)


# -- optimizers ----------------------------------------------------------

def _quadratic_steps(optimizer, steps, compiled=False):
    """Minimizes sum((w - t)^2) from w0; returns the weights after each
    step and the gradients seen."""
    w = kiln.Variable(np.array([1.0, -2.0, 3.0], np.float32))
    target = np.array([0.5, 0.5, 0.5], np.float32)

    def step():
        with kiln.GradientTape() as tape:
            loss = kiln.reduce_sum(kiln.square(w - target))
        (g,) = tape.gradient(loss, [w])
        optimizer.apply_gradients([(g, w)])
        return g
    run = kiln.function(step) if compiled else step
    history = []
    for _ in range(steps):
        g = run()
        history.append((w.numpy().copy(), np.asarray(g)))
    return history, optimizer


@pytest.mark.parametrize("compiled", [False, True])
def test_sgd_momentum_and_adam_match_their_formulas(compiled):
    w0 = np.array([1.0, -2.0, 3.0])
    target = 0.5

    hist, _ = _quadratic_steps(kiln.optimizers.SGD(0.1), 3, compiled)
    w = w0.copy()
    for got, _ in hist:
        w = w - 0.1 * 2 * (w - target)
        np.testing.assert_allclose(got, w, rtol=1e-5)

    hist, opt = _quadratic_steps(kiln.optimizers.SGD(0.1, momentum=0.9), 3, compiled)
    w, v = w0.copy(), np.zeros(3)
    for got, _ in hist:
        v = 0.9 * v + 2 * (w - target)  # TensorFlow's momentum formulation
        w = w - 0.1 * v
        np.testing.assert_allclose(got, w, rtol=1e-5)
    assert isinstance(opt.get_slot(opt._slots[next(iter(opt._slots))][0], "momentum"),
                      kiln.Variable)

    hist, opt = _quadratic_steps(kiln.optimizers.Adam(0.1), 3, compiled)
    w, m, v = w0.copy(), np.zeros(3), np.zeros(3)
    for t, (got, _) in enumerate(hist, start=1):
        g = 2 * (w - target)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        lr = 0.1 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        w = w - lr * m / (np.sqrt(v) + 1e-7)
        np.testing.assert_allclose(got, w, rtol=1e-5)
    assert int(opt.iterations.numpy()) == 3
    assert len(opt.variables) == 3  # iterations, m, v


def test_minimize_and_optimizer_errors():
    a = kiln.Variable(2.0)
    b = kiln.Variable(5.0)
    opt = kiln.train.GradientDescentOptimizer(0.25)
    value = opt.minimize(lambda: a * a)  # only a is used
    assert float(value) == 4.0 and float(a) == 1.0 and float(b) == 5.0
    opt.minimize(lambda: a * b, var_list=[b])
    assert float(b) == 4.75 and float(a) == 1.0
    with pytest.raises(ValueError, match="no gradient"):
        opt.apply_gradients([(None, a)])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="shape"):
        opt.apply_gradients([(np.ones(3, np.float32), a)])
    with pytest.raises(TypeError, match="callable"):
        opt.minimize(a * a)


def test_changing_the_learning_rate_takes_effect():
    w = kiln.Variable(1.0)
    opt = kiln.optimizers.SGD(0.5)
    opt.apply_gradients([(kiln.constant(1.0), w)])
    opt.learning_rate = 0.25
    opt.apply_gradients([(kiln.constant(1.0), w)])
    assert float(w) == 0.25

    @kiln.function
    def step(g):
        opt.apply_gradients([(g, w)])
        return w.value()  # the updated variable, returned

    assert float(step(kiln.constant(1.0))) == 0.0
    opt.learning_rate = 0.0  # also inside the compiled step
    assert float(step(kiln.constant(1.0))) == 0.0
    opt.learning_rate = lambda: 2.0  # a schedule
    opt.apply_gradients([(kiln.constant(1.0), w)])
    assert float(w) == -2.0


def test_returning_an_updated_variable_from_a_compiled_step():
    u = kiln.Variable([1.0, 2.0])

    @kiln.function
    def bump(x):
        u.assign_add(x)
        return u.value()

    np.testing.assert_array_equal(bump(kiln.constant([1.0, 1.0])).numpy(), [2.0, 3.0])
    out = bump(kiln.constant([1.0, 1.0]))
    np.testing.assert_array_equal(out.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(u.numpy(), [3.0, 4.0])
    bump(kiln.constant([1.0, 1.0]))
    np.testing.assert_array_equal(out.numpy(), [3.0, 4.0])  # outputs are copies


# -- data ----------------------------------------------------------------

def test_dataset_slices_shuffles_and_batches():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10)
    ds = kiln.data.Dataset.from_tensor_slices((x, y))
    assert len(ds) == 10
    first = next(iter(ds))
    assert isinstance(first[0], kiln.Tensor) and first[0].shape == (1,)
    batches = list(ds.batch(4))
    assert [b[0].shape[0] for b in batches] == [4, 4, 2] and len(ds.batch(4)) == 3
    assert len(list(ds.batch(4, drop_remainder=True))) == 2
    shuffled = [int(b) for _, b in ds.shuffle(10, seed=5)]
    assert sorted(shuffled) == list(range(10)) and shuffled != list(range(10))
    again = [int(b) for _, b in ds.shuffle(10, seed=5)]
    assert again == shuffled  # the same seed, the same first epoch
    epochs = ds.shuffle(10, seed=5)
    assert [int(b) for _, b in epochs] != [int(b) for _, b in epochs]  # reshuffled
    small = [int(b) for _, b in ds.shuffle(2, seed=1)]
    assert sorted(small) == list(range(10))
    doubled = ds.map(lambda a, b: (a * 2.0, b)).take(3)
    assert [float(a[0]) for a, _ in doubled] == [0.0, 2.0, 4.0]
    assert len(ds.repeat(2)) == 20
    unbatched = kiln.data.Dataset.from_tensor_slices({"a": x, "b": y}).shuffle(3, seed=2).batch(5)
    assert sorted(int(v) for b in unbatched for v in b["b"]) == list(range(10))
    with pytest.raises(ValueError, match="different first dimensions"):
        kiln.data.Dataset.from_tensor_slices((x, y[:3]))
    assert len(list(ds.take(-1))) == 10 and len(list(ds.take(0))) == 0
    forever = ds.repeat()
    assert forever.cardinality() == kiln.data.Dataset.INFINITE
    assert len(list(forever.take(25))) == 25
    fixed = ds.shuffle(10, reshuffle_each_iteration=False)
    assert [int(b) for _, b in fixed] == [int(b) for _, b in fixed]
    kiln.random.set_seed(3)
    first = [int(b) for _, b in ds.shuffle(10)]
    kiln.random.set_seed(3)
    assert [int(b) for _, b in ds.shuffle(10)] == first
    images = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)
    batch = next(iter(kiln.data.Dataset.from_tensor_slices(images).batch(3)))
    assert batch.dtype == kiln.uint8 and batch.shape == (3, 2, 2)


def test_fashion_mnist_loads_and_names_the_package_when_absent(tmp_path):
    (x, y), (xt, yt) = kiln.datasets.fashion_mnist.load_data()
    assert x.shape == (60000, 28, 28) and x.dtype == np.uint8
    assert yt.shape == (10000,) and set(np.unique(y)) == set(range(10))
    with pytest.raises(kiln.errors.NotFoundError, match="dataset-fashion-mnist"):
        kiln.datasets.fashion_mnist.load_data(str(tmp_path))
    # A damaged file is the runtime reader's error, naming the file.
    import shutil
    source = "/usr/share/datasets/fashion-mnist"
    for name in os.listdir(source):
        shutil.copy(os.path.join(source, name), tmp_path / name)
    damaged = tmp_path / "t10k-labels-idx1-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:100])
    with pytest.raises(kiln.errors.DataLossError, match="t10k-labels-idx1-ubyte.gz"):
        kiln.datasets.fashion_mnist.load_data(str(tmp_path))


# -- checkpoints ---------------------------------------------------------

def _trained_model():
    kiln.random.set_seed(5)
    model = kiln.Sequential([kiln.layers.Dense(8, activation="relu"), kiln.layers.Dense(2)])
    opt = kiln.optimizers.Adam(0.01)
    x, y = f32(16, 3), RNG.integers(0, 2, 16)
    loss = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)
    for _ in range(3):
        opt.minimize(lambda: loss(y, model(x)), lambda: model.trainable_variables)
    return model, opt, x


def test_checkpoint_round_trip_with_optimizer_slots(tmp_path):
    model, opt, x = _trained_model()
    ckpt = kiln.train.Checkpoint(model=model, optimizer=opt)
    path = ckpt.save(str(tmp_path / "ckpt"))
    assert path.endswith("ckpt-1.safetensors") and os.path.exists(path)
    assert ckpt.save(str(tmp_path / "ckpt")).endswith("ckpt-2.safetensors")

    fresh = kiln.Sequential([kiln.layers.Dense(8, activation="relu"), kiln.layers.Dense(2)])
    fresh(x)
    fresh_opt = kiln.optimizers.Adam(0.01)
    kiln.train.Checkpoint(model=fresh, optimizer=fresh_opt).restore(path)
    np.testing.assert_array_equal(fresh(x).numpy(), model(x).numpy())
    assert int(fresh_opt.iterations.numpy()) == 3
    for v in model.trainable_variables:
        m = opt.get_slot(v, "m").numpy()
        w = [u for u in fresh.trainable_variables if u.shape == v.shape]
        assert any(np.array_equal(fresh_opt.get_slot(u, "m").numpy(), m) for u in w)


def test_checkpoint_errors_name_the_file(tmp_path):
    model, opt, x = _trained_model()
    ckpt = kiln.train.Checkpoint(model=model)
    path = ckpt.save(str(tmp_path / "ckpt"))
    data = open(path, "rb").read()
    before = model(x).numpy()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(kiln.errors.DataLossError, match="truncated.safetensors"):
        ckpt.restore(str(truncated))
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\xff" * 64)
    with pytest.raises(kiln.errors.DataLossError, match="corrupt.safetensors"):
        ckpt.restore(str(corrupt))
    np.testing.assert_array_equal(model(x).numpy(), before)  # nothing changed
    with pytest.raises(kiln.errors.NotFoundError, match="absent"):
        ckpt.restore(str(tmp_path / "absent.safetensors"))
    other = kiln.Sequential([kiln.layers.Dense(9), kiln.layers.Dense(2)])
    other(x)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="in the checkpoint but"):
        kiln.train.Checkpoint(model=other).restore(path)
    # A model not built yet: the values wait and are assigned when its first
    # call creates the weights (TensorFlow's deferred restoration).
    unbuilt = kiln.Sequential([kiln.layers.Dense(8, activation="relu"), kiln.layers.Dense(2)])
    status = kiln.train.Checkpoint(model=unbuilt).restore(path)
    with pytest.raises(AssertionError, match="call the model once"):
        status.assert_consumed()
    np.testing.assert_array_equal(unbuilt(x).numpy(), before)
    status.assert_consumed()
    # Inside a compiled first call too.
    compiled = kiln.Sequential([kiln.layers.Dense(8, activation="relu"), kiln.layers.Dense(2)])
    kiln.train.Checkpoint(model=compiled).restore(path)
    np.testing.assert_array_equal(kiln.function(lambda v: compiled(v))(x).numpy(), before)
    assert kiln.train.Checkpoint(model=model).restore(None).expect_partial()


def test_checkpoint_of_a_variable_and_a_fresh_optimizer(tmp_path):
    v = kiln.Variable([1.0, 2.0])
    opt = kiln.optimizers.SGD(0.1, momentum=0.9)
    opt.apply_gradients([(kiln.constant([1.0, 1.0]), v)])
    path = kiln.train.Checkpoint(v=v, opt=opt).save(str(tmp_path / "c"))
    v2 = kiln.Variable([0.0, 0.0])
    opt2 = kiln.optimizers.SGD(0.1, momentum=0.9)
    kiln.train.Checkpoint(v=v2, opt=opt2).restore(path).assert_consumed()
    np.testing.assert_array_equal(v2.numpy(), v.numpy())
    np.testing.assert_array_equal(opt2.get_slot(v2, "momentum").numpy(),
                                  opt.get_slot(v, "momentum").numpy())


def test_checkpoint_manager_keeps_the_latest(tmp_path):
    model, opt, _ = _trained_model()
    ckpt = kiln.train.Checkpoint(model=model, optimizer=opt)
    manager = kiln.train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=2)
    assert manager.latest_checkpoint is None
    paths = [manager.save() for _ in range(3)]
    assert manager.latest_checkpoint == paths[-1]
    assert not os.path.exists(paths[0]) and manager.checkpoints == paths[1:]
    again = kiln.train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=2)
    assert again.latest_checkpoint == paths[-1]


def test_freeze_exports_an_inference_module(tmp_path):
    model, _, x = _trained_model()
    predict = kiln.function(lambda images: model(images))
    path = tmp_path / "frozen.mlir"
    text = kiln.train.freeze(predict, x, path=str(path))
    assert "kiln.variable" not in text and "read_variable" not in text
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out"
    subprocess.run([os.path.join(BUILD, "bin", "tensor-run"), str(path), "--input",
                    str(tmp_path / "x.npy"), "--output-dir", str(out)], check=True,
                   capture_output=True)
    np.testing.assert_allclose(np.load(out / "0.npy"), model(x).numpy(), rtol=1e-5)
    # NumPy's forward pass with the trained weights.
    k0, b0, k1, b1 = (v.numpy().astype(np.float64) for v in model.trainable_variables)
    np.testing.assert_allclose(np.load(out / "0.npy"), np.maximum(x @ k0 + b0, 0) @ k1 + b1,
                               rtol=1e-5, atol=1e-6)


# -- devices, metrics, summaries -----------------------------------------

def test_devices(capfd):
    t = kiln.constant([1.0, 2.0])
    assert t.device.endswith("device:CPU:0") and t.cpu() is t
    with kiln.device("/cpu:0"):
        assert float(kiln.reduce_sum(t)) == 3.0
    with pytest.raises(kiln.errors.InvalidArgumentError, match="malformed"):
        kiln.device("tpu")
    kiln.config.set_log_device_placement(True)
    try:
        kiln.add(t, t)
    finally:
        kiln.config.set_log_device_placement(False)
    assert "Executing op add in device /job:localhost/replica:0/task:0/device:CPU:0" \
        in capfd.readouterr().err


def test_gpu_placement_without_a_gpu(tmp_path):
    """As in TensorFlow: soft placement (the default) runs a GPU scope's ops
    on the CPU of a machine without a GPU; hard placement says why not, and
    so does Tensor.gpu(). With the runtime's test double of the CUDA driver
    (two GPUs), the GPUs are listed and '/gpu:0' and '/device:GPU:1' are
    placed there (no fallback, no warning); '/gpu:7' is an error that says
    how many there are."""
    script = """
import warnings
import kiln
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    try:
        kiln.device("/gpu:0"), kiln.device("/gpu:0")
    except kiln.errors.UnimplementedError:
        pass
print(len(caught), caught[0].message if caught else "")
print(kiln.config.list_physical_devices("GPU"), kiln.config.get_soft_device_placement())
with kiln.device("/gpu:0"):
    t = kiln.constant([1.0, 2.0])
    print(t.device, kiln.reduce_sum(t).device)
try:
    kiln.constant(1.0).gpu()
    print("gpu() copied")
except kiln.errors.InvalidArgumentError as e:
    print("gpu()", e)
kiln.config.set_soft_device_placement(False)
for name in ["/gpu:0", "/device:GPU:1", "/gpu:7"]:
    try:
        kiln.device(name)
        print(name, "placed")
    except (kiln.errors.InvalidArgumentError, kiln.errors.UnimplementedError) as e:
        print(name, type(e).__name__, e)
"""
    out = run_fresh_process(script, tmp_path / "cache",
                            {"KILN_CUDA_DRIVER": "/nonexistent/libcuda.so.1"})
    lines = out.splitlines()
    # One warning, however many scopes.
    assert lines[0].startswith("1 device '/gpu:0' is not available (")
    assert "its ops run on the CPU (soft device placement" in lines[0]
    lines = lines[1:]
    assert lines[0] == "[] True"
    cpu = "/job:localhost/replica:0/task:0/device:CPU:0"
    gpu = "/job:localhost/replica:0/task:0/device:GPU:0"
    assert lines[1] == f"{cpu} {cpu}"
    assert lines[2].startswith("gpu() <string>:16: Tensor.gpu(0): no GPU is available to "
                               "Kiln here (device cuda:0 is not available: no CUDA driver")
    assert "/gpu:0 InvalidArgumentError" in lines[3]
    assert "no CUDA driver: cannot load /nonexistent/libcuda.so.1" in lines[3]
    assert "set_soft_device_placement(True)" in lines[3]
    fake = os.path.join(BUILD, "test", "unit", "libkiln_fake_cuda.so")
    out = run_fresh_process(script, tmp_path / "cache", {"KILN_CUDA_DRIVER": fake})
    assert out.startswith("0 \n")  # a GPU is there: no fallback, no warning
    lines = out.splitlines()[1:]
    assert lines[0] == "['/physical_device:GPU:0', '/physical_device:GPU:1'] True"
    # Placed on the GPU: the constant made there, the reduction run there.
    assert lines[1] == f"{gpu} {gpu}", out
    assert lines[2] == "gpu() copied"
    assert "/gpu:0 placed" in out
    assert "/device:GPU:1 placed" in out
    assert "/gpu:7 InvalidArgumentError" in out and "there are 2" in out, out


def test_metrics():
    mean = kiln.metrics.Mean()
    mean.update_state([1.0, 2.0])
    mean.update_state(6.0)
    assert float(mean.result()) == 3.0
    mean.reset_state()
    assert float(mean.result()) == 0.0
    acc = kiln.metrics.SparseCategoricalAccuracy()
    acc.update_state(np.array([0, 1, 2], np.uint8),
                     np.array([[0.9, 0.1, 0], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1]]))
    assert abs(float(acc.result()) - 2 / 3) < 1e-6
    mean = kiln.metrics.Mean()
    mean.update_state(np.ones(2, np.float32))
    mean.update_state(np.zeros(0, np.float32))  # an empty update counts nothing
    assert float(mean.result()) == 1.0
    weighted = kiln.metrics.Mean()
    weighted.update_state(np.array([[1.0, 3.0], [5.0, 7.0]], np.float32),
                          sample_weight=np.array([1.0, 0.0], np.float32))
    assert float(weighted.result()) == 2.0


def test_metrics_update_inside_a_compiled_step():
    loss_metric = kiln.metrics.Mean()
    w = kiln.Variable(2.0)

    @kiln.function
    def step(x):
        loss = w * x
        loss_metric.update_state(loss)
        return loss
    for x in (1.0, 2.0, 3.0):
        step(kiln.constant(x))
    assert float(loss_metric.result()) == 4.0


def test_summary_writer(tmp_path):
    writer = kiln.summary.create_file_writer(str(tmp_path / "logs"))
    assert kiln.summary.scalar("loss", 1.0, step=0) is False  # no default writer
    with writer.as_default():
        for step in range(3):
            assert kiln.summary.scalar("loss", kiln.constant(3.0 - step), step=step)
    writer.close()
    steps, values = kiln.summary.read_scalars(str(tmp_path / "logs"))["loss"]
    assert steps == [0, 1, 2] and values == [3.0, 2.0, 1.0]


def test_summaries_from_compiled_code(tmp_path):
    """kiln.summary.scalar inside @kiln.function appends a row each time the
    compiled code runs (inside loops once per iteration), in order with the
    rows Python writes; the step may be optimizer.iterations. Values are
    checked against SGD on (w x - 2)^2 worked out by hand."""
    writer = kiln.summary.create_file_writer(str(tmp_path / "logs"))
    w = kiln.Variable(1.0)
    optimizer = kiln.optimizers.SGD(0.1)

    @kiln.function
    def step(x):
        with kiln.GradientTape() as tape:
            loss = kiln.square(w * x - 2.0)
        optimizer.apply_gradients([(tape.gradient(loss, w), w)])
        kiln.summary.scalar("loss", loss, step=optimizer.iterations)
        for i in kiln.range(2):
            kiln.summary.scalar("inner, quoted", kiln.cast(i, kiln.float32) * 0.5, step=i)
        return loss

    with writer.as_default():
        kiln.summary.scalar("start", 0.25, step=0)
        for _ in range(3):
            step(kiln.constant(1.0))
        kiln.summary.scalar("end", 0.75, step=4)
    assert step.trace_count == 1
    scalars = kiln.summary.read_scalars(str(tmp_path / "logs"))
    expect_w, losses = 1.0, []
    for _ in range(3):
        losses.append((expect_w - 2.0) ** 2)
        expect_w -= 0.1 * 2 * (expect_w - 2.0)
    assert scalars["loss"][0] == [1, 2, 3]
    np.testing.assert_allclose(scalars["loss"][1], losses, rtol=1e-6)
    assert scalars["inner, quoted"] == ([0, 1] * 3, [0.0, 0.5] * 3)
    names = [line.split(",")[1] for line in open(writer.path).read().splitlines()[1:]]
    assert names[0] == "start" and names[-1] == "end" and names[1] == "loss"
    with pytest.raises(kiln.errors.InvalidArgumentError, match="the value must be a number"):
        with writer.as_default():
            kiln.function(lambda v: kiln.summary.scalar("v", v, step=0))(kiln.ones(3))


def test_summaries_reach_a_tensorboard_event_file(tmp_path):
    """Scalars (those compiled code appends too), histograms and images in
    the writer's event file, read back by the tests' own reader of the
    format (framing, checksums, protobuf fields)."""
    from test_keras_fit import _read_events
    logs = tmp_path / "logs"
    writer = kiln.summary.create_file_writer(str(logs))
    w = np.linspace(-1, 1, 101)
    images = np.zeros((4, 5, 6, 3), np.float32)
    images[:, 1:3, 2:5] = 1.0

    @kiln.function
    def loss(x):
        kiln.summary.scalar("compiled", x * 2.0, step=7)
        return x

    with writer.as_default():
        kiln.summary.scalar("eager", 0.5, step=1)
        loss(kiln.constant(3.0))
        assert kiln.summary.histogram("w", kiln.constant(w), step=2)
        assert kiln.summary.histogram("w10", w, step=2, buckets=10)
        assert kiln.summary.image("pictures", images, step=3, max_outputs=2)
        assert kiln.summary.text("notes", "lr 0.1, späť", step=4)
        assert kiln.summary.text("bytes", kiln.constant(b"raw"), step=5)
    writer.close()
    (events,) = [p for p in os.listdir(logs) if p.startswith("events.out.tfevents")]
    versions, records = _read_events(logs / events)
    assert versions == ["brain.Event:2"]
    steps = {tag: step for step, values in records for tag in values}
    values = {tag: v for _, vs in records for tag, v in vs.items()}
    assert steps["eager"] == 1 and values["eager"] == 0.5
    assert steps["compiled"] == 7 and values["compiled"] == 6.0
    hist = values["w"]
    assert hist[1] == -1 and hist[2] == 1 and hist[3] == 101
    np.testing.assert_allclose(hist[4], w.sum(), atol=1e-9)
    assert len(hist[7]) == 30 and hist[7].sum() == 101
    assert len(values["w10"][7]) == 10
    np.testing.assert_array_equal(values["w10"][7], np.histogram(w, 10)[0])
    assert set(values) >= {"pictures/image/0", "pictures/image/1"}
    assert "pictures/image/2" not in values
    picture = values["pictures/image/0"]
    assert (picture[1], picture[2], picture[3]) == (5, 6, 3)
    assert values["notes"] == ("text", {1: 7, 2: b"", 8: "lr 0.1, späť".encode()})
    assert values["bytes"][1][8] == b"raw" and steps["notes"] == 4
    decoded = kiln.io.decode_png(picture[4]).numpy()
    np.testing.assert_array_equal(decoded, (images[0] * 255).astype(np.uint8))
    with pytest.raises(kiln.errors.UnimplementedError, match="written eagerly"):
        with kiln.summary.create_file_writer(str(tmp_path / "b")).as_default():
            kiln.function(lambda v: kiln.summary.histogram("v", v, step=0))(kiln.ones(3))


def test_checkpoint_manager_interval_and_hourly_keeps(tmp_path, monkeypatch):
    from kiln import train
    v = kiln.Variable(1.0)
    step = kiln.Variable(kiln.constant(0, kiln.int64), trainable=False)
    manager = train.CheckpointManager(train.Checkpoint(v=v), tmp_path / "a", max_to_keep=2,
                                      step_counter=step, checkpoint_interval=10)
    assert manager.save() is not None
    step.assign(kiln.constant(5, kiln.int64))
    assert manager.save() is None                 # only 5 steps since the last save
    step.assign(kiln.constant(10, kiln.int64))
    assert manager.save() is not None
    with pytest.raises(ValueError, match="step_counter"):
        train.CheckpointManager(train.Checkpoint(v=v), tmp_path / "b", checkpoint_interval=3)

    # keep_checkpoint_every_n_hours: a checkpoint leaving the window stays if
    # it is an hour newer than the last one kept that way (time is faked).
    clock = [0.0]
    monkeypatch.setattr(train.time, "time", lambda: clock[0])
    manager = train.CheckpointManager(train.Checkpoint(v=v), tmp_path / "c", max_to_keep=1,
                                      keep_checkpoint_every_n_hours=1)
    paths = []
    for minutes in (0, 30, 70, 80):
        clock[0] = minutes * 60.0
        paths.append(manager.save())
    import os
    exists = [os.path.exists(p) for p in paths]
    # 0 min kept (first), 30 min dropped (< 1 h after it), 70 min kept
    # (>= 1 h after 0), 80 min is the window's.
    assert exists == [True, False, True, True]
    reopened = train.CheckpointManager(train.Checkpoint(v=v), tmp_path / "c", max_to_keep=1,
                                       keep_checkpoint_every_n_hours=1)
    assert reopened.latest_checkpoint == paths[-1]


def test_saved_model_round_trip(tmp_path):
    from conftest import run_fresh_process
    kiln.random.set_seed(3)
    inputs = kiln.Input((4,))
    outputs = kiln.layers.Dense(2)(kiln.layers.Dense(8, activation="relu")(inputs))
    model = kiln.Model(inputs, outputs)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    expected = model(x).numpy()
    k0, b0, k1, b1 = (v.numpy().astype(np.float64) for v in model.trainable_variables)
    numpy_expected = np.maximum(x @ k0 + b0, 0) @ k1 + b1  # NumPy's forward pass
    np.testing.assert_allclose(expected, numpy_expected, rtol=1e-5, atol=1e-6)
    kiln.saved_model.save(model, str(tmp_path / "m"))
    loaded = kiln.saved_model.load(str(tmp_path / "m"))
    np.testing.assert_allclose(loaded(x).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(loaded(x).numpy(), numpy_expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded(x[:2]).numpy(), expected[:2], rtol=1e-6)  # any batch
    with pytest.raises(kiln.errors.InvalidArgumentError, match="takes TensorSpec"):
        loaded(np.zeros((2, 3), np.float32))
    # Later changes to the model do not reach the saved copy.
    model.layers[-1].kernel.assign(np.zeros((8, 2), np.float32))
    np.testing.assert_allclose(loaded(x).numpy(), expected, rtol=1e-6)
    # Another process loads it without the model's code.
    np.save(tmp_path / "x.npy", x)
    out = run_fresh_process(
        "import numpy as np, kiln\n"
        f"m = kiln.saved_model.load({str(tmp_path / 'm')!r})\n"
        f"print(m(np.load({str(tmp_path / 'x.npy')!r})).numpy().tolist())\n",
        tmp_path / "cache")
    np.testing.assert_allclose(np.array(eval(out)), expected, rtol=1e-6)
    with pytest.raises(kiln.errors.NotFoundError, match="not a Kiln saved model"):
        kiln.saved_model.load(str(tmp_path / "nothing"))
    with pytest.raises(ValueError, match="signatures"):
        kiln.saved_model.save(kiln.Sequential([kiln.layers.Dense(1)]), str(tmp_path / "n"))
    # A convolutional model serves any batch size too.
    conv = kiln.Sequential([kiln.layers.Conv2D(2, 3, input_shape=(5, 5, 1)),
                            kiln.layers.Flatten()])
    kiln.saved_model.save(conv, str(tmp_path / "c"))
    # NumPy: on ones, each output pixel is the kernel's sum per filter plus the bias.
    k, bias = conv.layers[0].kernel.numpy(), conv.layers[0].bias.numpy()
    for batch in (1, 3):
        images = np.ones((batch, 5, 5, 1), np.float32)
        np.testing.assert_allclose(
            kiln.saved_model.load(str(tmp_path / "c"))(images).numpy(),
            np.tile(k.astype(np.float64).sum((0, 1, 2)) + bias, (batch, 9)),
            rtol=1e-5, atol=1e-6)
    # An op that needs the batch while compiling (a cumulative sum along it)
    # says what to do; a fixed batch serves.
    doubled = kiln.Sequential([kiln.layers.Lambda(lambda x: kiln.cumsum(x, axis=0),
                                                  input_shape=(3,))])
    with pytest.raises(kiln.errors.UnimplementedError, match="with the batch size"):
        kiln.saved_model.save(doubled, str(tmp_path / "d"))
    kiln.saved_model.save(doubled, str(tmp_path / "d"),
                          signatures=[kiln.TensorSpec([2, 3])])
    rows = np.array([[3, 1, 2], [0, 5, 1]], np.float32)
    np.testing.assert_array_equal(kiln.saved_model.load(str(tmp_path / "d"))(rows).numpy(),
                                  np.cumsum(rows, axis=0))


def test_checkpoint_objects_are_its_attributes(tmp_path):
    # TensorFlow's tutorial pattern: ckpt.step counts steps, restored with
    # the rest; write()/read() are a pair; assigning an attribute adds it.
    net = kiln.Sequential([kiln.Input((2,)), kiln.layers.Dense(1)])
    ckpt = kiln.train.Checkpoint(step=kiln.Variable(1), optimizer=kiln.optimizers.Adam(0.1),
                                 net=net)
    manager = kiln.train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=3)
    ckpt.restore(manager.latest_checkpoint)   # (none yet: nothing to do)
    for _ in range(3):
        ckpt.step.assign_add(1)
        manager.save()
    ckpt.step.assign(100)
    ckpt.restore(manager.latest_checkpoint)
    assert int(ckpt.step) == 4
    path = ckpt.write(str(tmp_path / "w"))
    ckpt.step.assign(7)
    ckpt.read(path)
    assert int(ckpt.step) == 4
    ckpt.extra = kiln.Variable(3.0)
    assert float(ckpt.extra) == 3.0
    with pytest.raises(AttributeError, match="holds"):
        ckpt.missing
    with pytest.raises(TypeError, match="cannot save"):
        ckpt.other = "text"
