"""kiln.distribute: data-parallel training in processes launched by Open
MPI's mpirun. Each script runs in every process and writes what it saw;
the test compares with NumPy and with one process on the whole batch."""

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import kiln
from kiln import distribute

MPIRUN = shutil.which("mpirun")
needs_mpi = pytest.mark.skipif(MPIRUN is None, reason="Open MPI's mpirun is not installed")


def run_script(tmp_path, script, np_=None, env=None, check=True, timeout=300):
    """Runs `script` (Python) under `mpirun -np np_`, or alone if np_ is
    None; `OUT` in the script is `tmp_path`."""
    path = tmp_path / "script.py"
    path.write_text(f"OUT = {str(tmp_path)!r}\n" + textwrap.dedent(script))
    run_env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path),
                   OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                   KILN_NUM_THREADS="1")
    if np_ is None:
        run_env = {k: v for k, v in run_env.items() if not k.startswith("OMPI_")}
    run_env.update(env or {})
    cmd = [sys.executable, str(path)]
    if np_ is not None:
        cmd = [MPIRUN, "-np", str(np_), "--oversubscribe", "--bind-to", "none"] + cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, env=run_env,
                          timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


# An MLP on Fashion-MNIST trained by SGD with a global batch of 64: under
# mpirun each of N processes takes its shard (64/N of every batch) and the
# DistributedOptimizer averages the gradients inside the compiled step.
MLP_SCRIPT = """
import numpy as np, kiln
from kiln import distribute
distribute.init()
n, r = distribute.size(), distribute.rank()
(x, y), _ = kiln.datasets.fashion_mnist.load_data()
x = (x[:512].reshape(512, 784) / 255.0).astype(np.float32)
y = y[:512].astype(np.int32)
rng = np.random.default_rng(0)
w1 = kiln.Variable(rng.standard_normal((784, 64)).astype(np.float32) * 0.05)
b1 = kiln.Variable(np.zeros(64, np.float32))
w2 = kiln.Variable(rng.standard_normal((64, 10)).astype(np.float32) * 0.1)
b2 = kiln.Variable(np.zeros(10, np.float32))
params = [w1, b1, w2, b2]
if r != 0:  # every process starts from rank 0's weights
    for v in params:
        v.assign(v.value() * 0.0 + 7.0)
distribute.broadcast_variables(params, root=0)
opt = distribute.DistributedOptimizer(kiln.optimizers.SGD(0.2, momentum=0.9))
loss_fn = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)
accuracy = kiln.metrics.SparseCategoricalAccuracy()

@kiln.function
def step(xb, yb):
    with kiln.GradientTape() as tape:
        logits = kiln.matmul(kiln.nn.relu(kiln.matmul(xb, w1) + b1), w2) + b2
        loss = loss_fn(yb, logits)
    grads = tape.gradient(loss, params)
    opt.apply_gradients(zip(grads, params))
    accuracy.update_state(yb, logits)
    return loss

data = kiln.data.Dataset.from_tensor_slices((x, y)).shard(n, r).batch(64 // n)
for epoch in range(2):
    for xb, yb in data:
        step(xb, yb)
np.savez(f"{OUT}/weights{r}.npz", *[v.numpy() for v in params])
np.save(f"{OUT}/accuracy{r}.npy", distribute.reduce_metric(accuracy).numpy())
"""


@needs_mpi
def test_two_processes_train_like_one_on_the_whole_batch(tmp_path):
    one = tmp_path / "one"
    two = tmp_path / "two"
    one.mkdir()
    two.mkdir()
    run_script(one, MLP_SCRIPT)
    run_script(two, MLP_SCRIPT, np_=2)
    alone = np.load(one / "weights0.npz")
    ranks = [np.load(two / f"weights{r}.npz") for r in range(2)]
    for k in alone.files:
        # Every rank holds the same bits; they match one process's weights
        # up to the order of the sums.
        assert ranks[0][k].tobytes() == ranks[1][k].tobytes()
        np.testing.assert_allclose(ranks[0][k], alone[k], rtol=2e-4, atol=2e-5)
    # The accuracy over both shards is the one process's over the batch.
    np.testing.assert_allclose(np.load(two / "accuracy0.npy"), np.load(one / "accuracy0.npy"),
                               atol=1e-6)
    assert np.load(two / "accuracy0.npy") == np.load(two / "accuracy1.npy")


@needs_mpi
def test_collectives_eager_traced_and_taped(tmp_path):
    script = """
    import numpy as np, kiln
    from kiln import distribute as d
    d.init()
    r, n = d.rank(), d.size()
    def mine(k):
        return np.random.default_rng(k).standard_normal((4, 6)).astype(np.float32)
    xs = [mine(k) for k in range(n)]
    x = kiln.constant(xs[r])
    out = {}
    out["mean"] = d.all_reduce(x).numpy()
    out["max"] = d.all_reduce(x, "max").numpy()
    out["root"] = d.broadcast(x, root=n - 1).numpy()
    out["gather"] = d.all_gather(x, axis=1).numpy()
    out["scatter"] = d.reduce_scatter(x, "sum", axis=0).numpy()
    traced = kiln.function(lambda t: d.all_reduce(t, "sum") * 2.0)
    out["traced"] = traced(x).numpy()
    with kiln.GradientTape() as tape:
        tape.watch(x)
        loss = kiln.reduce_sum(d.all_gather(x * x) * float(r + 1))
    out["grad"] = tape.gradient(loss, x).numpy()
    np.savez(f"{OUT}/out{r}.npz", **out)
    """
    run_script(tmp_path, script, np_=2)
    xs = [np.random.default_rng(k).standard_normal((4, 6)).astype(np.float32) for k in range(2)]
    for r in range(2):
        out = np.load(tmp_path / f"out{r}.npz")
        np.testing.assert_allclose(out["mean"], (xs[0] + xs[1]) / 2, rtol=1e-6)
        np.testing.assert_array_equal(out["max"], np.maximum(xs[0], xs[1]))
        np.testing.assert_array_equal(out["root"], xs[1])
        np.testing.assert_array_equal(out["gather"], np.concatenate(xs, axis=1))
        np.testing.assert_allclose(out["scatter"], (xs[0] + xs[1])[2 * r:2 * r + 2], rtol=1e-6)
        np.testing.assert_allclose(out["traced"], 2 * (xs[0] + xs[1]), rtol=1e-6)
        # d/dx_r of sum over ranks p of (p + 1) * sum(x_r^2): 2 x_r (1 + 2).
        np.testing.assert_allclose(out["grad"], 6 * xs[r], rtol=1e-6)


@needs_mpi
def test_groups_and_rank_zero_checkpoints(tmp_path):
    script = """
    import os, numpy as np, kiln
    from kiln import distribute as d
    d.init()
    r = d.rank()
    d.new_group("odd", [1])
    rank_in, size_in = d.rank("odd"), d.size("odd")
    v = kiln.Variable(np.full(3, float(r), np.float32))
    ckpt = kiln.train.Checkpoint(v=v)
    manager = kiln.train.CheckpointManager(ckpt, os.path.join(OUT, "ckpt"), max_to_keep=1)
    first = manager.save()
    second = manager.save()
    np.save(f"{OUT}/group{r}.npy", np.array([rank_in, size_in, d.is_chief()]))
    """
    run_script(tmp_path, script, np_=2)
    assert np.load(tmp_path / "group0.npy").tolist() == [-1, 1, 1]
    assert np.load(tmp_path / "group1.npy").tolist() == [0, 1, 0]
    # Rank 0's checkpoints only (values 0), the older one removed.
    files = sorted(f for f in os.listdir(tmp_path / "ckpt") if f.endswith(".safetensors"))
    assert files == ["ckpt-2.safetensors"]
    v = kiln.Variable(np.ones(3, np.float32))
    kiln.train.Checkpoint(v=v).restore(str(tmp_path / "ckpt" / files[0]))
    np.testing.assert_array_equal(v.numpy(), np.zeros(3))


def test_one_process_without_mpirun(tmp_path):
    # Not launched by mpirun: a world of one process; collectives are
    # identities and checkpoints are written as usual.
    script = """
    import numpy as np, kiln
    from kiln import distribute as d
    d.init()
    x = kiln.constant([[1.0, 2.0], [3.0, 4.0]])
    assert (d.rank(), d.size(), d.is_chief()) == (0, 1, True)
    assert np.array_equal(d.all_reduce(x).numpy(), x.numpy())
    assert d.all_gather(x, axis=0).shape == (2, 2)
    assert np.array_equal(d.reduce_scatter(x, "max").numpy(), x.numpy())
    print("ok")
    """
    assert "ok" in run_script(tmp_path, script).stdout


def test_missing_mpi_library_is_named(tmp_path):
    script = """
    import kiln
    try:
        kiln.distribute.init()
    except kiln.errors.UnavailableError as e:
        print("UNAVAILABLE", e)
    """
    out = run_script(tmp_path, script,
                     env={"KILN_MPI_LIBRARY": str(tmp_path / "libmpi-absent.so")}).stdout
    assert "UNAVAILABLE " + str(tmp_path / "script.py") + ":5: collectives need MPI: cannot load" in out
    assert "libmpi-absent.so" in out


def test_reduce_scatter_needs_equal_parts():
    x = kiln.ones((3, 2))
    with pytest.raises(ValueError, match="reduction 'average' is not one of"):
        distribute.all_reduce(x, "average")
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        distribute.all_gather(x, axis=2)


def test_dataset_shard():
    data = kiln.data.Dataset.from_tensor_slices(np.arange(10))
    assert [int(v) for v in data.shard(3, 1)] == [1, 4, 7]
    assert len(list(data.shard(3, 0))) == 4
    gen = kiln.data.Dataset.range(7).map(lambda v: v * 2)
    assert [int(v) for v in gen.shard(2, 1)] == [2, 6, 10]
    batches = [b.numpy().tolist() for b in data.shard(2, 0).batch(2)]
    assert batches == [[0, 2], [4, 6], [8]]
    with pytest.raises(ValueError, match="needs num_shards >= 1"):
        data.shard(2, 2)


@needs_mpi
def test_a_failed_collective_updates_no_variable(tmp_path):
    # The processes disagree (3 against 4 elements): the step fails on both,
    # and the variable it assigns keeps its value.
    script = """
    import numpy as np, kiln
    from kiln import distribute as d
    d.init()
    r = d.rank()
    v = kiln.Variable(np.ones(3, np.float32))

    @kiln.function
    def step(x):
        v.assign_sub(d.all_reduce(x, "sum")[:3])
        return v.value()

    try:
        step(np.ones(3 + r, np.float32))
        outcome = "ran"
    except kiln.errors.InvalidArgumentError as e:
        outcome = "disagree" if "disagree" in str(e) else str(e)
    np.save(f"{OUT}/v{r}.npy", v.numpy())
    with open(f"{OUT}/outcome{r}.txt", "w") as f:
        f.write(outcome)
    """
    run_script(tmp_path, script, np_=2)
    for r in range(2):
        assert (tmp_path / f"outcome{r}.txt").read_text() == "disagree"
        np.testing.assert_array_equal(np.load(tmp_path / f"v{r}.npy"), np.ones(3))


FIT_SCRIPT = """
import numpy as np, kiln
from kiln import distribute as d
d.init()
n, r = d.size(), d.rank()
kiln.random.set_seed(7 + r)  # different initial weights on each process
x = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
model = kiln.Sequential([kiln.layers.Dense(16, activation="relu"), kiln.layers.Dense(2)])
model.compile(optimizer=d.DistributedOptimizer(kiln.optimizers.Adam(0.01)),
              loss=kiln.losses.SparseCategoricalCrossentropy(from_logits=True))
history = model.fit(x[r::n], y[r::n], epochs=4, batch_size=16 // n, shuffle=False, verbose=0,
                    callbacks=[d.BroadcastVariablesCallback(0)])
np.savez(f"{OUT}/fit{r}.npz", *[v.numpy() for v in model.variables])
np.save(f"{OUT}/loss{r}.npy", np.array(history.history["loss"]))
"""


@needs_mpi
def test_keras_fit_with_a_distributed_optimizer(tmp_path):
    # model.compile takes the wrapper; the callback gives every process
    # rank 0's weights (after the first batch, which builds the model);
    # from then on the processes agree bit for bit and the loss falls.
    run_script(tmp_path, FIT_SCRIPT, np_=2)
    a, b = np.load(tmp_path / "fit0.npz"), np.load(tmp_path / "fit1.npz")
    assert len(a.files) == 4
    for k in a.files:
        assert a[k].tobytes() == b[k].tobytes()
    loss = np.load(tmp_path / "loss0.npy")
    assert loss[-1] < loss[0]


MIXED_SCRIPT = """
import numpy as np, kiln
from kiln import distribute
distribute.init()
r = distribute.rank()
kiln.mixed_precision.set_global_policy("mixed_float16")
kiln.random.set_seed(3)
model = kiln.Sequential([kiln.layers.Dense(4), kiln.layers.Dense(1, dtype="float32")])
model.compile(optimizer=distribute.DistributedOptimizer(kiln.optimizers.SGD(0.01)),
              loss="mse")
# Rank 0's batches overflow float16 in the backward pass at first, rank
# 1's do not: the loss scale must still move the same way in both.
x = np.full((8, 3), 3.0 if r == 0 else 1.0, np.float32)
y = np.zeros((8, 1), np.float32)
model(x[:1])  # the weights exist (the same in both: the same seed)
start = [v.numpy().copy() for v in model.variables]
scales = []
for i in range(6):
    model.fit(x, y, epochs=1, verbose=0)
    scales.append(float(model.optimizer.loss_scale))
np.save(f"{OUT}/scales{r}.npy", np.array(scales))
np.savez(f"{OUT}/mixed{r}.npz", *[v.numpy() for v in model.variables])
np.savez(f"{OUT}/start{r}.npz", *start)
"""


@needs_mpi
def test_loss_scaling_decides_alike_in_every_process(tmp_path):
    """compile wraps a DistributedOptimizer in a LossScaleOptimizer under
    mixed_float16; the gradients are all-reduced before they are checked,
    so when one process's overflow and another's does not, both skip the
    step (no collective is left waiting) and stay identical."""
    run_script(tmp_path, MIXED_SCRIPT, np_=2, timeout=240)
    s0, s1 = np.load(tmp_path / "scales0.npy"), np.load(tmp_path / "scales1.npy")
    np.testing.assert_array_equal(s0, s1)
    assert s0[0] < 2.0 ** 15  # the first steps were skipped (overflow)
    a, b = np.load(tmp_path / "mixed0.npz"), np.load(tmp_path / "mixed1.npz")
    start = np.load(tmp_path / "start0.npz")
    for k in a.files:
        assert a[k].tobytes() == b[k].tobytes()
    # ... and the later steps were applied, with the averaged gradients.
    assert any(not np.array_equal(a[k], start[k]) for k in a.files)


def test_strategy_api_runs_one_replica():
    D = kiln.distribute
    strategy = D.MirroredStrategy()
    assert strategy.num_replicas_in_sync == 1 and not D.has_strategy()
    with strategy.scope():
        assert D.get_strategy() is strategy and D.has_strategy()
        model = kiln.keras.Sequential([kiln.keras.Input((2,)), kiln.keras.layers.Dense(1)])
        model.compile("sgd", "mse")
    model.fit(np.ones((4, 2), np.float32), np.ones((4, 1), np.float32), verbose=0)
    values = kiln.constant([1.0, 2.0, 3.0])
    assert float(strategy.reduce(D.ReduceOp.SUM, values, axis=0)) == 6.0
    assert float(strategy.reduce("mean", values, axis=0)) == 2.0
    assert strategy.reduce(D.ReduceOp.SUM, values, axis=None) is values
    assert float(strategy.run(lambda a, b: a * b, args=(kiln.constant(2.0), 3.0))) == 6.0
    data = kiln.data.Dataset.range(3)
    assert strategy.experimental_distribute_dataset(data) is data
    assert strategy.distribute_datasets_from_function(
        lambda context: context.get_per_replica_batch_size(64)) == 64
    assert D.get_strategy().num_replicas_in_sync == 1
    with D.OneDeviceStrategy("/cpu:0").scope():
        assert kiln.constant(1.0).device.endswith("CPU:0")
    with pytest.raises(kiln.errors.UnimplementedError, match="one replica per process"):
        D.MirroredStrategy(["/gpu:0", "/gpu:1"])
    with pytest.raises(kiln.errors.UnimplementedError, match="mpirun"):
        D.MultiWorkerMirroredStrategy()
