#!/usr/bin/env python3
"""First Kiln benchmarks, side by side with NumPy (and PyTorch when
installed), in one run: a 512x512 matmul and a fused relu(a*x+b) over 16M
floats. Kiln runs through tensor-run (JIT, CPU pipeline); the time is per
call of the compiled entry point, measured inside tensor-run after a warm-up
call. Prints a table with Kiln/peer ratios (> 1 means Kiln is slower).

Usage: /usr/bin/python3 bench/bench_basic.py [--repeat N]
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

# Peers run on one thread, like Kiln's generated code today.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TENSOR_RUN = os.path.join(os.environ.get("KILN_BUILD_DIR", os.path.join(ROOT, "build")),
                          "bin", "tensor-run")

MATMUL = """
func.func @matmul(%a: tensor<512x512xf32>, %b: tensor<512x512xf32>) -> tensor<512x512xf32> {
  %0 = kiln.matmul %a, %b : tensor<512x512xf32>, tensor<512x512xf32> -> tensor<512x512xf32>
  return %0 : tensor<512x512xf32>
}
"""

N = 16 * 1024 * 1024
FUSED = f"""
func.func @fused(%a: tensor<{N}xf32>, %x: tensor<{N}xf32>, %b: tensor<{N}xf32>) -> tensor<{N}xf32> {{
  %0 = kiln.mul %a, %x : tensor<{N}xf32>, tensor<{N}xf32> -> tensor<{N}xf32>
  %1 = kiln.add %0, %b : tensor<{N}xf32>, tensor<{N}xf32> -> tensor<{N}xf32>
  %2 = kiln.relu %1 : tensor<{N}xf32>
  return %2 : tensor<{N}xf32>
}}
"""


def measure(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def kiln(tmp, name, module, inputs, repeat):
    path = os.path.join(tmp, f"{name}.mlir")
    with open(path, "w") as f:
        f.write(module)
    cmd = [TENSOR_RUN, path, "--repeat", str(repeat), "--time"]
    for i, array in enumerate(inputs):
        p = os.path.join(tmp, f"{name}{i}.npy")
        np.save(p, array)
        cmd += ["--input", p]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"median ([0-9.]+) us.*compile ([0-9.]+) ms", out)
    return float(m.group(1)), float(m.group(2))


def main():
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 10
    rng = np.random.default_rng(0)
    try:
        import torch
        torch.set_num_threads(1)
    except Exception:  # PyTorch is optional
        torch = None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        a, b = (rng.standard_normal((512, 512), dtype=np.float32) for _ in range(2))
        k_us, compile_ms = kiln(tmp, "matmul", MATMUL, [a, b], repeat)
        out = np.empty_like(a)
        peers = {"numpy": measure(lambda: np.matmul(a, b, out=out), repeat)}
        if torch:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            peers["torch"] = measure(lambda: torch.mm(ta, tb), repeat)
        rows.append(("matmul 512x512 f32", k_us, compile_ms, peers))

        va, vx, vb = (rng.standard_normal(N, dtype=np.float32) for _ in range(3))
        k_us, compile_ms = kiln(tmp, "fused", FUSED, [va, vx, vb], repeat)
        res = np.empty_like(va)

        def numpy_fused():
            np.multiply(va, vx, out=res)
            np.add(res, vb, out=res)
            np.maximum(res, 0, out=res)

        peers = {"numpy": measure(numpy_fused, repeat)}
        if torch:
            ta, tx, tb = (torch.from_numpy(v) for v in (va, vx, vb))
            peers["torch"] = measure(lambda: torch.relu(ta * tx + tb), repeat)
        rows.append(("relu(a*x+b) 16M f32", k_us, compile_ms, peers))

    print(f"{'benchmark':24} {'kiln us':>12} {'compile ms':>11} "
          + " ".join(f"{p + ' us':>12} {'kiln/' + p:>11}" for p in rows[0][3]))
    for name, k_us, compile_ms, peers in rows:
        cells = " ".join(f"{us:12.1f} {k_us / us:11.2f}" for us in peers.values())
        print(f"{name:24} {k_us:12.1f} {compile_ms:11.1f} {cells}")


if __name__ == "__main__":
    main()
