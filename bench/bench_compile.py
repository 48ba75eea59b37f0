#!/usr/bin/env python3
"""Compile time of a training step, as a user meets it.

The MLP 784-256-256-10 SGD step of bench_training.py at batch 64, in fresh
processes: `import kiln`, then the first call of the `@kiln.function` step
(it builds the layers' variables, traces, compiles, runs once), then a
second call. Run three times:

  - cold: an empty on-disk kernel cache (KILN_CACHE_DIR points to a new
    directory), what a user meets the first time;
  - warm: a second process on the cache the cold one filled, what every
    later run of the same script meets;
  - off: the disk cache disabled (KILN_CACHE_DIR=off), for reference.

Prints milliseconds for each phase. Targets (fast-CPU issue): cold first
result <= 1.5 s, warm first result <= 100 ms.
Usage: /usr/bin/python3 bench/bench_compile.py [--runs N] [--profile]
  --profile prints the child's top functions by cumulative time (warm run).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile

import peers  # noqa: E402  (the built kiln package's location)

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, os.environ["KILN_BENCH_PACKAGES"])
t0 = time.perf_counter()
import numpy as np
import kiln
t_import = time.perf_counter()
model = kiln.Sequential([kiln.layers.Dense(256, activation="relu"),
                         kiln.layers.Dense(256, activation="relu"),
                         kiln.layers.Dense(10)])
opt = kiln.optimizers.SGD(0.01)
loss_fn = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)

@kiln.function
def step(x, y):
    with kiln.GradientTape() as tape:
        loss = loss_fn(y, model(x))
    grads = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(grads, model.trainable_variables))
    return loss

rng = np.random.default_rng(0)
x = kiln.constant(rng.standard_normal((64, 784)).astype(np.float32))
y = kiln.constant(rng.integers(0, 10, 64).astype(np.int32))
t_ready = time.perf_counter()
def first():
    return float(step(x, y).numpy())
if os.environ.get("KILN_BENCH_PROFILE") == "1":
    import cProfile, pstats
    profiler = cProfile.Profile()
    profiler.enable()
    first()
    profiler.disable()
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
else:
    first()
t_first = time.perf_counter()
float(step(x, y).numpy())
t_second = time.perf_counter()
print(json.dumps({"import": (t_import - t0) * 1e3,
                  "setup": (t_ready - t_import) * 1e3,
                  "first": (t_first - t_ready) * 1e3,
                  "second": (t_second - t_first) * 1e3}))
"""


def child(cache, profile=False):
    env = dict(os.environ, KILN_CACHE_DIR=cache,
               KILN_BENCH_PACKAGES=os.path.join(peers.BUILD, "python_packages"))
    if profile:
        env["KILN_BENCH_PROFILE"] = "1"
    out = subprocess.run([sys.executable, "-c", CHILD], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"the benchmark's child process failed:\n{out.stderr}")
    if profile:
        sys.stderr.write(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    runs = 3
    if "--runs" in sys.argv:
        runs = int(sys.argv[sys.argv.index("--runs") + 1])
    profile = "--profile" in sys.argv
    rows = {"cold": [], "warm": [], "off": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cache:
            rows["cold"].append(child(cache))
            rows["warm"].append(child(cache, profile=profile and not rows["warm"]))
        rows["off"].append(child("off"))
    print(f"MLP 784-256-256-10 SGD step, batch 64: median of {runs} fresh processes (ms)")
    print(f"{'cache':6} {'import':>8} {'setup':>8} {'first':>8} {'second':>8}")
    for name, samples in rows.items():
        med = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
        print(f"{name:6} {med['import']:8.1f} {med['setup']:8.1f} "
              f"{med['first']:8.1f} {med['second']:8.2f}")
    print("first = first call of the @kiln.function step (variables built, "
          "traced, compiled or loaded, run once)")


if __name__ == "__main__":
    main()
