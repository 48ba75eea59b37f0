#!/usr/bin/env python3
"""Data parallelism over MPI processes, side by side in one run:

  - the all-reduce of a 4 MB gradient bucket (2^20 f32) between 2
    processes: Kiln's compiled kiln.all_reduce, Kiln eager, and MPI's own
    (mpi4py's Allreduce on a NumPy buffer, in place) in the same processes,
    and the latency (one float);
  - the MLP 784-256-256-10 SGD step at a global batch of 256: one process
    on the whole batch, then 2 processes on 128 rows each with the
    gradients averaged inside the compiled step (DistributedOptimizer), and
    2 processes without the all-reduce (what the step costs without
    communication), and with the all-reduces overlapped with the backward
    pass forced on (KILN_COLLECTIVE_OVERLAP=1: by default the runtime
    overlaps only when a CPU is free for its communication thread, which
    2 processes bound to 2 cores do not have); each process on one compute
    thread. The scaling efficiency
    (speedup / 2) is printed next to the machine's own 1 -> 2 core FMA
    scaling.

Usage: /usr/bin/python3 bench/bench_distributed.py [--repeats N]
(runs itself under mpirun as `--worker ...`).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("KILN_BUILD_DIR", os.path.join(os.path.dirname(HERE), "build"))
sys.path.insert(0, os.path.join(BUILD, "python_packages"))


def median_ms(fn, repeats):
    fn()
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def worker_allreduce(repeats):
    from mpi4py import MPI  # (first: mpi4py initializes MPI, Kiln joins it)
    import numpy as np
    import kiln
    from kiln import distribute
    distribute.init()
    comm = MPI.COMM_WORLD
    n = 1 << 20
    buf = np.random.default_rng(comm.rank).standard_normal(n).astype(np.float32)
    x = kiln.constant(buf)

    def mpi():
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)

    compiled = kiln.function(lambda t: distribute.all_reduce(t, "sum"))
    out = {}
    # Interleaved blocks, so that each sees the same machine.
    samples = {"mpi": [], "kiln compiled": [], "kiln eager": []}
    for _ in range(5):
        samples["mpi"].append(median_ms(mpi, repeats))
        samples["kiln compiled"].append(median_ms(lambda: compiled(x), repeats))
        samples["kiln eager"].append(
            median_ms(lambda: distribute.all_reduce(x, "sum"), repeats))
    for k, v in samples.items():
        out[k] = statistics.median(v)
    # The latency: one float.
    one = np.ones(1, np.float32)
    small = kiln.constant(one)
    latency = {"mpi": [], "kiln compiled": []}
    for _ in range(5):
        latency["mpi"].append(median_ms(
            lambda: comm.Allreduce(MPI.IN_PLACE, one, op=MPI.SUM), repeats * 10))
        latency["kiln compiled"].append(median_ms(lambda: compiled(small), repeats * 10))
    latency = {k: statistics.median(v) * 1e3 for k, v in latency.items()}
    if comm.rank == 0:
        print(json.dumps({"allreduce": out, "latency_us": latency, "bytes": 4 * n,
                          "size": comm.size}))


def worker_mlp(repeats, global_batch, reduce):
    import numpy as np
    import kiln
    from kiln import distribute
    distribute.init()
    n, r = distribute.size(), distribute.rank()
    batch = global_batch // n
    rng = np.random.default_rng(r)
    x = kiln.constant(rng.standard_normal((batch, 784)).astype(np.float32))
    y = kiln.constant(rng.integers(0, 10, batch).astype(np.int32))
    model = kiln.Sequential([kiln.layers.Dense(256, activation="relu"),
                             kiln.layers.Dense(256, activation="relu"),
                             kiln.layers.Dense(10)])
    model(x)
    distribute.broadcast_variables(model.variables)
    sgd = kiln.optimizers.SGD(0.01)
    opt = distribute.DistributedOptimizer(sgd) if reduce else sgd
    loss_fn = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)

    @kiln.function
    def step(xb, yb):
        with kiln.GradientTape() as tape:
            loss = loss_fn(yb, model(xb))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    ms = statistics.median(median_ms(lambda: step(x, y), repeats) for _ in range(3))
    if r == 0:
        print(json.dumps({"mlp": ms, "size": n, "reduce": reduce}))


def launch(args, np_=None, **extra):
    env = dict(os.environ, KILN_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", **extra)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", *args]
    if np_ is None:
        env = {k: v for k, v in env.items() if not k.startswith("OMPI_")}
    else:
        cmd = ["mpirun", "-np", str(np_), "--oversubscribe", "--bind-to", "core"] + cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(proc.stdout + proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    repeats = 30
    if "--repeats" in sys.argv:
        repeats = int(sys.argv[sys.argv.index("--repeats") + 1])
    if "--worker" in sys.argv:
        kind = sys.argv[sys.argv.index("--worker") + 1]
        if kind == "allreduce":
            worker_allreduce(repeats)
        else:
            worker_mlp(repeats, 256, kind == "mlp")
        return
    if not shutil.which("mpirun"):
        sys.exit("error: mpirun is not installed (apt-get install openmpi-bin)")
    sys.path.insert(0, HERE)
    import peers
    print(f"# {peers.machine()}")
    peaks = peers.print_machine_limits()
    mpi_version = subprocess.run(["mpirun", "--version"], capture_output=True,
                                 text=True).stdout.splitlines()[0]
    print(f"# {mpi_version}; 2 processes on this machine (shared memory transport)")

    ar = launch(["allreduce", "--repeats", str(repeats)], np_=2)
    size = ar["bytes"]
    print(f"\nall-reduce (sum) of {size / 2**20:.0f} MiB f32 between 2 processes "
          "(median ms; algorithm bandwidth = bytes / time)")
    base = ar["allreduce"]["mpi"]
    for name, ms in ar["allreduce"].items():
        print(f"  {name:14s} {ms:8.3f} ms  {size / ms / 1e6:6.2f} GB/s  "
              f"x{ms / base:.2f} of MPI's")

    print("all-reduce of one f32 (median microseconds): " + ", ".join(
        f"{name} {us:.1f}" for name, us in ar["latency_us"].items()))

    one = launch(["mlp-local", "--repeats", str(repeats)])
    two = launch(["mlp", "--repeats", str(repeats)], np_=2)
    forced = launch(["mlp", "--repeats", str(repeats)], np_=2, KILN_COLLECTIVE_OVERLAP="1")
    local = launch(["mlp-local", "--repeats", str(repeats)], np_=2)
    print("\nMLP 784-256-256-10 SGD step, global batch 256, one thread per process "
          "(median ms per step)")
    print(f"  1 process, batch 256                      {one['mlp']:8.3f}")
    print(f"  2 processes, 128 each, all-reduced grads  {two['mlp']:8.3f}  "
          f"speedup {one['mlp'] / two['mlp']:.2f}, efficiency "
          f"{one['mlp'] / two['mlp'] / 2:.0%}")
    print(f"  the same, overlap forced (no free core)   {forced['mlp']:8.3f}  "
          f"speedup {one['mlp'] / forced['mlp']:.2f}")
    print(f"  2 processes, 128 each, no all-reduce      {local['mlp']:8.3f}  "
          f"speedup {one['mlp'] / local['mlp']:.2f}")
    print(f"  machine: 2-core FMA scaling {peaks[2] / peaks[1]:.2f}x "
          f"({peaks[2] / peaks[1] / 2:.0%} efficiency)")


if __name__ == "__main__":
    main()
