"""Collectives (kiln.all_reduce, broadcast_from, all_gather, reduce_scatter,
group_rank, group_size) run by tensor-run in processes launched by Open
MPI's mpirun, each rank with its own inputs, against NumPy's simulation of
the group; their gradients against central differences of that simulation;
the failures (processes that disagree, one that never arrives, no MPI
library) end with errors, not hangs."""

import os
import shutil
import subprocess

import numpy as np
import pytest

from conftest import TENSOR_RUN

MPIRUN = shutil.which("mpirun")
needs_mpi = pytest.mark.skipif(MPIRUN is None, reason="Open MPI's mpirun is not installed")

# mpirun refuses root without these; the ranks may outnumber the cores.
MPI_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               KILN_NUM_THREADS="1", KILN_CACHE_DIR="off")


def mpi_run(tmp_path, module, inputs, np_=2, entry=None, env=None, timeout=120):
    """Runs `module` under `mpirun -np np_`; rank r reads inputs[r] (a list of
    arrays). Returns (process, outputs per rank)."""
    path = tmp_path / "module.mlir"
    path.write_text(module)
    args = ""
    for r, arrays in enumerate(inputs):
        for i, a in enumerate(arrays):
            np.save(tmp_path / f"r{r}_in{i}.npy", a)
    count = len(inputs[0])
    args = " ".join(f"--input {tmp_path}/r${{OMPI_COMM_WORLD_RANK}}_in{i}.npy"
                    for i in range(count))
    if entry:
        args += f" --entry {entry}"
    script = (f"exec {TENSOR_RUN} {path} {args} "
              f"--output-dir {tmp_path}/out$OMPI_COMM_WORLD_RANK")
    run_env = dict(MPI_ENV)
    run_env.update(env or {})
    proc = subprocess.run([MPIRUN, "-np", str(np_), "--oversubscribe", "--bind-to", "none",
                           "sh", "-c", script], capture_output=True, text=True,
                          env=run_env, timeout=timeout)
    outputs = []
    for r in range(np_):
        out, i = [], 0
        while (tmp_path / f"out{r}" / f"{i}.npy").exists():
            out.append(np.load(tmp_path / f"out{r}" / f"{i}.npy"))
            i += 1
        outputs.append(out)
    return proc, outputs


# Every collective over "world", on data that differs between the ranks
# (reduce_scatter's inputs divide by 2 and 3 processes: the gathered x and
# d, 6 columns).
EVERY_COLLECTIVE = """
func.func @f(%x: tensor<4x6xf32>, %i: tensor<5xi64>, %d: tensor<3x2xf64>)
    -> (tensor<4x6xf32>, tensor<4x6xf32>, tensor<5xi64>, tensor<5xi64>, tensor<3x2xf64>,
        tensor<3x2xf64>, tensor<?x6xf32>, tensor<4x?xf32>, tensor<?x6xf32>, tensor<4x?xf32>,
        tensor<?x2xf64>, tensor<i64>, tensor<i64>) {
  %0 = kiln.all_reduce sum, %x : tensor<4x6xf32>
  %1 = kiln.all_reduce mean, %x : tensor<4x6xf32>
  %2 = kiln.all_reduce max, %i : tensor<5xi64>
  %3 = kiln.all_reduce min, %i : tensor<5xi64>
  %4 = kiln.all_reduce sum, %d : tensor<3x2xf64>
  %5 = kiln.broadcast_from %d {root = 1 : i64} : tensor<3x2xf64>
  %6 = kiln.all_gather %x : tensor<4x6xf32> -> tensor<?x6xf32>
  %7 = kiln.all_gather %x {axis = -1 : i64} : tensor<4x6xf32> -> tensor<4x?xf32>
  %g = kiln.all_gather %x : tensor<4x6xf32> -> tensor<?x6xf32>
  %dd = kiln.all_gather %d : tensor<3x2xf64> -> tensor<?x2xf64>
  %8 = kiln.reduce_scatter sum, %g : tensor<?x6xf32> -> tensor<?x6xf32>
  %9 = kiln.reduce_scatter max, %x {axis = 1 : i64} : tensor<4x6xf32> -> tensor<4x?xf32>
  %10 = kiln.reduce_scatter mean, %dd : tensor<?x2xf64> -> tensor<?x2xf64>
  %11 = kiln.group_rank : tensor<i64>
  %12 = kiln.group_size : tensor<i64>
  return %0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12
      : tensor<4x6xf32>, tensor<4x6xf32>, tensor<5xi64>, tensor<5xi64>, tensor<3x2xf64>,
        tensor<3x2xf64>, tensor<?x6xf32>, tensor<4x?xf32>, tensor<?x6xf32>, tensor<4x?xf32>,
        tensor<?x2xf64>, tensor<i64>, tensor<i64>
}
"""


def rank_inputs(n):
    out = []
    for r in range(n):
        rng = np.random.default_rng(10 + r)
        out.append([rng.standard_normal((4, 6)).astype(np.float32),
                    rng.integers(-100, 100, size=5).astype(np.int64),
                    rng.standard_normal((3, 2))])
    return out


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_every_collective_against_numpy(tmp_path, n):
    inputs = rank_inputs(n)
    proc, outputs = mpi_run(tmp_path, EVERY_COLLECTIVE, inputs, np_=n)
    assert proc.returncode == 0, proc.stderr
    xs = np.stack([i[0] for i in inputs])
    ints = np.stack([i[1] for i in inputs])
    ds = np.stack([i[2] for i in inputs])
    gathered_x = np.concatenate(list(xs), axis=0)
    gathered_d = np.concatenate(list(ds), axis=0)
    for r in range(n):
        out = outputs[r]
        assert len(out) == 13
        np.testing.assert_allclose(out[0], xs.sum(0), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(out[1], xs.mean(0), rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(out[2], ints.max(0))
        np.testing.assert_array_equal(out[3], ints.min(0))
        np.testing.assert_allclose(out[4], ds.sum(0), rtol=1e-14)
        np.testing.assert_array_equal(out[5], ds[1])
        np.testing.assert_array_equal(out[6], gathered_x)
        np.testing.assert_array_equal(out[7], np.concatenate(list(xs), axis=1))
        # The gathered x, summed over the ranks (n times itself), part r.
        np.testing.assert_allclose(out[8], np.split(n * gathered_x, n, axis=0)[r],
                                   rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(out[9], np.split(xs.max(0), n, axis=1)[r])
        np.testing.assert_allclose(out[10], np.split(gathered_d, n, axis=0)[r], rtol=1e-14)
        assert out[11] == r and out[12] == n
    # Every rank has the same bits of a floating-point sum.
    for r in range(1, n):
        assert outputs[r][0].tobytes() == outputs[0][0].tobytes()
        assert outputs[r][4].tobytes() == outputs[0][4].tobytes()


# All-reduces that the pipeline splits into a start and a done
# (kiln-overlap-collectives) with computation, blocking collectives and
# other started all-reduces between them: the product waits for two (the
# second started just before it), the broadcast for the third. Large enough (64K elements) that the
# communication thread is still busy when the next collective comes.
OVERLAPPED = """
func.func @f(%x: tensor<256x256xf32>, %d: tensor<3x2xf64>, %i: tensor<5xi64>)
    -> (tensor<256x256xf32>, tensor<5xi64>, tensor<3x2xf64>, tensor<3x2xf64>,
        tensor<?x256xf32>, tensor<256x256xf32>) {
  %e = kiln.exp %x : tensor<256x256xf32>
  %0 = kiln.all_reduce sum, %e : tensor<256x256xf32>
  %t = kiln.tanh %x : tensor<256x256xf32>
  %1 = kiln.all_reduce mean, %t : tensor<256x256xf32>
  %2 = kiln.all_reduce max, %i : tensor<5xi64>
  %m = kiln.mul %0, %1 : tensor<256x256xf32>, tensor<256x256xf32> -> tensor<256x256xf32>
  %b = kiln.broadcast_from %d {root = 1 : i64} : tensor<3x2xf64>
  %3 = kiln.all_reduce sum, %d : tensor<3x2xf64>
  %g = kiln.all_gather %m : tensor<256x256xf32> -> tensor<?x256xf32>
  %4 = kiln.all_reduce sum, %m : tensor<256x256xf32>
  return %m, %2, %b, %3, %g, %4 : tensor<256x256xf32>, tensor<5xi64>, tensor<3x2xf64>,
      tensor<3x2xf64>, tensor<?x256xf32>, tensor<256x256xf32>
}
"""


@needs_mpi
@pytest.mark.parametrize("n,overlap", [(2, "1"), (3, "1"), (2, "0")])
def test_overlapped_all_reduces_against_numpy(tmp_path, n, overlap):
    inputs = []
    for r in range(n):
        rng = np.random.default_rng(40 + r)
        inputs.append([rng.uniform(-1, 1, (256, 256)).astype(np.float32),
                       rng.standard_normal((3, 2)),
                       rng.integers(-100, 100, size=5).astype(np.int64)])
    proc, outputs = mpi_run(tmp_path, OVERLAPPED, inputs, np_=n,
                            env={"KILN_COLLECTIVE_OVERLAP": overlap})
    assert proc.returncode == 0, proc.stderr
    xs = np.stack([i[0] for i in inputs]).astype(np.float64)
    ds = np.stack([i[1] for i in inputs])
    m = np.exp(xs).sum(0) * np.tanh(xs).mean(0)
    for r in range(n):
        out = outputs[r]
        assert len(out) == 6
        np.testing.assert_allclose(out[0], m, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(out[1], np.stack([i[2] for i in inputs]).max(0))
        np.testing.assert_array_equal(out[2], ds[1])
        np.testing.assert_allclose(out[3], ds.sum(0), rtol=1e-14)
        np.testing.assert_allclose(out[4], np.concatenate([m] * n, axis=0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out[5], n * m, rtol=1e-5, atol=1e-5 * n)
        for k in (0, 3, 5):
            assert out[k].tobytes() == outputs[0][k].tobytes()


@needs_mpi
def test_sums_are_deterministic(tmp_path):
    # A fixed process count gives the same bits from run to run.
    module = """
func.func @f(%x: tensor<1000xf32>) -> tensor<1000xf32> {
  %0 = kiln.all_reduce sum, %x : tensor<1000xf32>
  return %0 : tensor<1000xf32>
}
"""
    inputs = [[np.random.default_rng(r).standard_normal(1000).astype(np.float32) * 10 ** r]
              for r in range(3)]
    first = None
    for attempt in range(2):
        d = tmp_path / f"run{attempt}"
        d.mkdir()
        proc, outputs = mpi_run(d, module, inputs, np_=3)
        assert proc.returncode == 0, proc.stderr
        if first is None:
            first = outputs[0][0].tobytes()
        for r in range(3):
            assert outputs[r][0].tobytes() == first


def test_one_process_is_a_group_of_one(tmp_path):
    # Not launched by mpirun: a world of one process, MPI never loaded.
    module = EVERY_COLLECTIVE.replace("root = 1", "root = 0")
    path = tmp_path / "m.mlir"
    path.write_text(module)
    x, i, d = rank_inputs(1)[0]
    args = []
    for k, a in enumerate((x, i, d)):
        np.save(tmp_path / f"in{k}.npy", a)
        args += ["--input", str(tmp_path / f"in{k}.npy")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMPI_")}
    env.pop("KILN_MPI_LIBRARY", None)
    proc = subprocess.run([TENSOR_RUN, str(path), *args, "--output-dir", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    out = [np.load(tmp_path / "out" / f"{k}.npy") for k in range(13)]
    for k in (0, 1, 6, 7, 8, 9):
        np.testing.assert_array_equal(out[k], x)
    np.testing.assert_array_equal(out[2], i)
    np.testing.assert_array_equal(out[4], d)
    assert out[11] == 0 and out[12] == 1


def test_root_outside_a_group_of_one(tmp_path):
    module = """
func.func @f(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = kiln.broadcast_from %x {root = 1 : i64} : tensor<3xf32>
  return %0 : tensor<3xf32>
}
"""
    path = tmp_path / "m.mlir"
    path.write_text(module)
    np.save(tmp_path / "x.npy", np.ones(3, np.float32))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMPI_")}
    proc = subprocess.run([TENSOR_RUN, str(path), "--input", str(tmp_path / "x.npy")],
                          capture_output=True, text=True, env=env)
    assert proc.returncode != 0
    assert (f"{path}:3:8: kiln.broadcast_from: root 1 is not a rank of group 'world' "
            "(1 processes)") in proc.stderr


def test_unknown_group(tmp_path):
    module = """
func.func @f(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = kiln.all_reduce sum, %x {group = "rows"} : tensor<3xf32>
  return %0 : tensor<3xf32>
}
"""
    path = tmp_path / "m.mlir"
    path.write_text(module)
    np.save(tmp_path / "x.npy", np.ones(3, np.float32))
    proc = subprocess.run([TENSOR_RUN, str(path), "--input", str(tmp_path / "x.npy")],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert f"{path}:3:8: kiln.all_reduce: no group 'rows'" in proc.stderr


def test_missing_mpi_library_is_named(tmp_path):
    module = """
func.func @f(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = kiln.all_reduce sum, %x : tensor<3xf32>
  return %0 : tensor<3xf32>
}
"""
    path = tmp_path / "m.mlir"
    path.write_text(module)
    np.save(tmp_path / "x.npy", np.ones(3, np.float32))
    env = dict(os.environ, KILN_MPI_LIBRARY=str(tmp_path / "libmpi-absent.so"))
    proc = subprocess.run([TENSOR_RUN, str(path), "--input", str(tmp_path / "x.npy")],
                          capture_output=True, text=True, env=env)
    assert proc.returncode != 0
    assert "kiln.all_reduce: collectives need MPI: cannot load " in proc.stderr
    assert "libmpi-absent.so" in proc.stderr


@needs_mpi
def test_processes_that_disagree_fail_together(tmp_path):
    # Rank 0 reduces 4 rows, rank 1 five: both report it, nobody hangs.
    module = """
func.func @f(%x: tensor<?x3xf32>) -> tensor<?x3xf32> {
  %0 = kiln.all_reduce sum, %x : tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}
"""
    inputs = [[np.ones((4, 3), np.float32)], [np.ones((5, 3), np.float32)]]
    proc, _ = mpi_run(tmp_path, module, inputs, timeout=60)
    assert proc.returncode != 0
    for r, shape in ((0, "4x3"), (1, "5x3")):
        assert (f"kiln.all_reduce: the processes of group 'world' disagree: this process "
                f"(rank {r}) runs kiln.all_reduce of a tensor<{shape}xf32>") in proc.stderr


@needs_mpi
def test_a_process_that_never_arrives_times_out(tmp_path):
    # Rank 1 skips the collective and waits: rank 0 gives up after the
    # timeout and the job is aborted.
    module = """
func.func @f(%x: tensor<3xf32>) -> tensor<3xf32> {
  %r = kiln.group_rank : tensor<i64>
  %z = kiln.constant dense<0> : tensor<i64>
  %c = kiln.compare eq, %r, %z : tensor<i64>, tensor<i64> -> tensor<i1>
  %y = kiln.cond %c -> (tensor<3xf32>) {
    %0 = kiln.all_reduce sum, %x : tensor<3xf32>
    kiln.yield %0 : tensor<3xf32>
  } else {
    kiln.yield %x : tensor<3xf32>
  }
  return %y : tensor<3xf32>
}
"""
    path = tmp_path / "module.mlir"
    path.write_text(module)
    np.save(tmp_path / "x.npy", np.ones(3, np.float32))
    script = (f"{TENSOR_RUN} {path} --input {tmp_path}/x.npy; "
              "[ $OMPI_COMM_WORLD_RANK = 1 ] && sleep 60")
    env = dict(MPI_ENV, KILN_COLLECTIVE_TIMEOUT="2")
    proc = subprocess.run([MPIRUN, "-np", "2", "--oversubscribe", "sh", "-c", script],
                          capture_output=True, text=True, env=env, timeout=50)
    assert proc.returncode != 0
    assert (f"kiln: {path}:7:10: kiln.all_reduce on process 0 of group 'world' did not "
            "complete in 2 s") in proc.stderr


# A chain of every differentiable collective (f64), each rank's loss the
# sum of v times its end; kiln.grad gives each rank d(sum of the losses)/dx.
GRADIENT_CHAIN = """
func.func @loss(%x: tensor<4x4xf64>, %w: tensor<8x4xf64>, %v: tensor<2x4xf64>) -> tensor<f64> {
  %a = kiln.tanh %x : tensor<4x4xf64>
  %b = kiln.all_reduce max, %a : tensor<4x4xf64>
  %xb = kiln.mul %x, %b : tensor<4x4xf64>, tensor<4x4xf64> -> tensor<4x4xf64>
  %c = kiln.all_reduce mean, %xb : tensor<4x4xf64>
  %cx = kiln.mul %c, %x : tensor<4x4xf64>, tensor<4x4xf64> -> tensor<4x4xf64>
  %d = kiln.broadcast_from %cx {root = 1 : i64} : tensor<4x4xf64>
  %e = kiln.all_gather %d : tensor<4x4xf64> -> tensor<8x4xf64>
  %f = kiln.mul %e, %w : tensor<8x4xf64>, tensor<8x4xf64> -> tensor<8x4xf64>
  %g = kiln.reduce_scatter mean, %f : tensor<8x4xf64> -> tensor<4x4xf64>
  %gx = kiln.add %g, %x : tensor<4x4xf64>, tensor<4x4xf64> -> tensor<4x4xf64>
  %h = kiln.reduce_scatter min, %gx {axis = 1 : i64} : tensor<4x4xf64> -> tensor<4x2xf64>
  %h2 = kiln.all_gather %h {axis = 1 : i64} : tensor<4x2xf64> -> tensor<4x4xf64>
  %hx = kiln.mul %h2, %x : tensor<4x4xf64>, tensor<4x4xf64> -> tensor<4x4xf64>
  %h3 = kiln.reduce_scatter max, %hx : tensor<4x4xf64> -> tensor<2x4xf64>
  %h4 = kiln.reduce_scatter sum, %hx : tensor<4x4xf64> -> tensor<2x4xf64>
  %h5 = kiln.add %h3, %h4 : tensor<2x4xf64>, tensor<2x4xf64> -> tensor<2x4xf64>
  %s = kiln.all_reduce sum, %h5 : tensor<2x4xf64>
  %p = kiln.mul %s, %v : tensor<2x4xf64>, tensor<2x4xf64> -> tensor<2x4xf64>
  %l = kiln.reduce_sum %p {axes = array<i64: 0, 1>} : tensor<2x4xf64> -> tensor<f64>
  return %l : tensor<f64>
}
func.func @grad(%x: tensor<4x4xf64>, %w: tensor<8x4xf64>, %v: tensor<2x4xf64>) -> tensor<4x4xf64> {
  %g = kiln.grad @loss(%x, %w, %v) {wrt = array<i64: 0>}
      : (tensor<4x4xf64>, tensor<8x4xf64>, tensor<2x4xf64>) -> tensor<4x4xf64>
  return %g : tensor<4x4xf64>
}
"""


def chain_losses(xs, ws, vs):
    """NumPy's simulation of GRADIENT_CHAIN over the ranks: the sum of the
    ranks' losses."""
    n = len(xs)
    a = [np.tanh(x) for x in xs]
    b = np.max(a, axis=0)
    c = np.mean([x * b for x in xs], axis=0)
    d = c * xs[1]
    e = np.concatenate([d] * n, axis=0)
    f = [e * w for w in ws]
    g = np.split(np.mean(f, axis=0), n, axis=0)
    gx = [g[r] + xs[r] for r in range(n)]
    h = np.split(np.min(gx, axis=0), n, axis=1)
    h2 = np.concatenate(h, axis=1)
    hx = [h2 * x for x in xs]
    h3 = np.split(np.max(hx, axis=0), n, axis=0)
    h4 = np.split(np.sum(hx, axis=0), n, axis=0)
    s = np.sum([h3[r] + h4[r] for r in range(n)], axis=0)
    return sum(np.sum(s * v) for v in vs)


@needs_mpi
def test_gradients_across_processes_against_central_differences(tmp_path):
    n = 2
    rng = np.random.default_rng(3)
    xs = [rng.uniform(0.2, 1.5, (4, 4)) * (1 + r) for r in range(n)]
    ws = [rng.uniform(0.5, 1.5, (8, 4)) for _ in range(n)]
    vs = [rng.uniform(-1, 1, (2, 4)) for _ in range(n)]
    proc, outputs = mpi_run(tmp_path, GRADIENT_CHAIN, [[xs[r], ws[r], vs[r]] for r in range(n)],
                            entry="grad")
    assert proc.returncode == 0, proc.stderr
    eps = 1e-6
    for q in range(n):
        numeric = np.zeros((4, 4))
        for idx in np.ndindex(4, 4):
            plus = [x.copy() for x in xs]
            minus = [x.copy() for x in xs]
            plus[q][idx] += eps
            minus[q][idx] -= eps
            numeric[idx] = (chain_losses(plus, ws, vs) - chain_losses(minus, ws, vs)) / (2 * eps)
        np.testing.assert_allclose(outputs[q][0], numeric, rtol=1e-5, atol=1e-6)


def test_collectives_are_refused_for_the_gpu(tmp_path):
    from conftest import TENSOR_OPT
    path = tmp_path / "m.mlir"
    path.write_text("""
func.func @f(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = kiln.all_reduce sum, %x : tensor<3xf32>
  return %0 : tensor<3xf32>
}
""")
    proc = subprocess.run([TENSOR_OPT, str(path), "--kiln-gpu-pipeline"],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert (f"{path}:3:8: error: 'func.call' in 'f', compiled for the GPU, is a collective "
            "(kiln.all_reduce), which the GPU target does not compile yet") in proc.stderr
    # Split into a start and a done (an op between them): still named as written.
    path.write_text("""
func.func @f(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = kiln.all_reduce sum, %x : tensor<3xf32>
  %e = kiln.exp %x : tensor<3xf32>
  %1 = kiln.add %0, %e : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  return %1 : tensor<3xf32>
}
""")
    proc = subprocess.run([TENSOR_OPT, str(path), "--kiln-gpu-pipeline"],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "(kiln.all_reduce_start)" not in proc.stderr
    assert "(kiln.all_reduce_done)" not in proc.stderr
    assert (f"{path}:3:8: error: 'func.call' in 'f', compiled for the GPU, is a collective "
            "(kiln.all_reduce), which the GPU target does not compile yet") in proc.stderr


@needs_mpi
def test_a_process_that_dies_ends_the_job(tmp_path):
    # Rank 1 dies before the collective; mpirun ends the job, rank 0 does
    # not wait for the timeout (600 s by default).
    module = """
func.func @f(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = kiln.all_reduce sum, %x : tensor<3xf32>
  return %0 : tensor<3xf32>
}
"""
    path = tmp_path / "module.mlir"
    path.write_text(module)
    np.save(tmp_path / "x.npy", np.ones(3, np.float32))
    script = (f"[ $OMPI_COMM_WORLD_RANK = 1 ] && kill -9 $$; "
              f"exec {TENSOR_RUN} {path} --input {tmp_path}/x.npy")
    env = {k: v for k, v in MPI_ENV.items() if k != "KILN_COLLECTIVE_TIMEOUT"}
    proc = subprocess.run([MPIRUN, "-np", "2", "--oversubscribe", "sh", "-c", script],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode != 0
    # mpirun names whichever it saw first: rank 1's signal, or rank 0's
    # failure once its peer was gone (seen under load). Either way the job
    # ended well before the collective's timeout.
    assert ("signal 9" in proc.stderr or "Killed" in proc.stderr
            or "non-zero exit code" in proc.stderr), proc.stderr
