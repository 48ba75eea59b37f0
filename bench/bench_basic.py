#!/usr/bin/env python3
"""Kernels side by side in one run: f32 matmuls at the SGEMM and MLP shapes,
a fused relu(a*x+b) over 16M floats, and row reductions (a softmax and row
sums over 4096 rows of 1024), in Kiln, NumPy (OpenBLAS), PyTorch eager and
(for the elementwise chain) hand-written C++.

Before timing, the peers are checked (bench/peers.py): a peer on the
reference BLAS or on a weaker OpenBLAS kernel than the CPU's best stops the
run. The machine's peak FMA and bandwidth are measured in the same run.

Kiln runs through tensor-run (JIT, CPU pipeline); its time is per call of
the compiled entry point, measured inside tensor-run after a warm-up call.
Prints medians in microseconds, GFLOP/s and Kiln/peer ratios (> 1: Kiln is
slower). Usage: /usr/bin/python3 bench/bench_basic.py [--repeat N]
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import peers  # noqa: E402  (before NumPy: peers' threads and kernel)
from peers import torch  # noqa: E402

import numpy as np  # noqa: E402

TENSOR_RUN = os.path.join(peers.BUILD, "bin", "tensor-run")

# (name, M, K, N, B stored N x K): the issue's SGEMM and MLP shapes, and
# the transposed-B form that a dense layer's input gradient (dY @ W^T) uses.
MATMULS = [
    ("SGEMM 1024", 1024, 1024, 1024, False),
    ("SGEMM 2048", 2048, 2048, 2048, False),
    ("SGEMM 256", 256, 256, 256, False),
    ("MLP 64x784 @ 784x256", 64, 784, 256, False),
    ("MLP 256x784 @ 784x256", 256, 784, 256, False),
    ("SGEMM 1024 A @ B^T", 1024, 1024, 1024, True),
    ("MLP 64x256 @ (784x256)^T", 64, 256, 784, True),
]

N = 16 * 1024 * 1024


def matmul_module(m, k, n, transposed=False):
    a, b, c = (f"tensor<{m}x{k}xf32>",
               f"tensor<{n}x{k}xf32>" if transposed else f"tensor<{k}x{n}xf32>",
               f"tensor<{m}x{n}xf32>")
    attr = " {transpose_rhs = true}" if transposed else ""
    return (f"func.func @matmul(%a: {a}, %b: {b}) -> {c} {{\n"
            f"  %0 = kiln.matmul %a, %b{attr} : {a}, {b} -> {c}\n"
            f"  return %0 : {c}\n}}\n")


FUSED = f"""
func.func @fused(%a: tensor<{N}xf32>, %x: tensor<{N}xf32>, %b: tensor<{N}xf32>) -> tensor<{N}xf32> {{
  %0 = kiln.mul %a, %x : tensor<{N}xf32>, tensor<{N}xf32> -> tensor<{N}xf32>
  %1 = kiln.add %0, %b : tensor<{N}xf32>, tensor<{N}xf32> -> tensor<{N}xf32>
  %2 = kiln.relu %1 : tensor<{N}xf32>
  return %2 : tensor<{N}xf32>
}}
"""


ROWS, COLS = 4096, 1024
ROW_TYPE = f"tensor<{ROWS}x{COLS}xf32>"
SOFTMAX = f"""
func.func @softmax(%x: {ROW_TYPE}) -> {ROW_TYPE} {{
  %0 = kiln.softmax %x {{axis = 1 : i64}} : {ROW_TYPE} -> {ROW_TYPE}
  return %0 : {ROW_TYPE}
}}
"""
ROW_SUMS = f"""
func.func @row_sums(%x: {ROW_TYPE}) -> tensor<{ROWS}xf32> {{
  %0 = kiln.reduce_sum %x {{axes = array<i64: 1>}} : {ROW_TYPE} -> tensor<{ROWS}xf32>
  return %0 : tensor<{ROWS}xf32>
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


def kiln(tmp, name, module, inputs, repeat, threads=None):
    path = os.path.join(tmp, f"{name}.mlir")
    with open(path, "w") as f:
        f.write(module)
    cmd = [TENSOR_RUN, path, "--repeat", str(repeat), "--time"]
    for i, array in enumerate(inputs):
        p = os.path.join(tmp, f"{name}{i}.npy")
        np.save(p, array)
        cmd += ["--input", p]
    env = dict(os.environ)
    if threads is not None:
        env["KILN_NUM_THREADS"] = str(threads)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env=env).stdout
    m = re.search(r"median ([0-9.]+) us.*compile ([0-9.]+) ms", out)
    return float(m.group(1))


def main():
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 10
    peers.check_peers()
    peak = peers.print_machine_limits()[1]
    rng = np.random.default_rng(0)

    print(f"\n{'matmul f32 (1 thread)':24} {'kiln us':>9} {'GFLOP/s':>8} {'%peak':>6} "
          f"{'numpy us':>9} {'torch us':>9} {'kiln/numpy':>10} {'kiln/torch':>10} "
          f"{'kiln 2t us':>10} {'1t/2t':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, m, k, n, transposed in MATMULS:
            a = rng.standard_normal((m, k), dtype=np.float32)
            b = rng.standard_normal((n, k) if transposed else (k, n), dtype=np.float32)
            reps = max(repeat, int(2e9 / (2 * m * n * k)))  # >= ~1 s of work
            module = matmul_module(m, k, n, transposed)
            k_us = kiln(tmp, "matmul", module, [a, b], reps, 1)
            out = np.empty((m, n), np.float32)
            # The peers get B^T as a view (BLAS reads it transposed).
            b_op = b.T if transposed else b
            np_us = measure(lambda: np.matmul(a, b_op, out=out), reps)
            t_us = float("nan")
            if torch is not None:
                ta, tb, tout = (torch.from_numpy(v) for v in (a, b, out))
                tb_op = tb.t() if transposed else tb
                t_us = measure(lambda: torch.mm(ta, tb_op, out=tout), reps)
            # Kiln on two threads (the peers stay on one): the speedup, to
            # set beside the machine's own FMA scaling printed above.
            k2_us = kiln(tmp, "matmul", module, [a, b], reps, 2)
            gflops = 2 * m * n * k / k_us / 1e3
            print(f"{name:24} {k_us:9.1f} {gflops:8.1f} {100 * gflops / peak:6.1f} "
                  f"{np_us:9.1f} {t_us:9.1f} {k_us / np_us:10.2f} {k_us / t_us:10.2f} "
                  f"{k2_us:10.1f} {k_us / k2_us:6.2f}")

        va, vx, vb = (rng.standard_normal(N, dtype=np.float32) for _ in range(3))
        k_us = kiln(tmp, "fused", FUSED, [va, vx, vb], repeat, 1)
        res = np.empty_like(va)

        def numpy_fused():
            np.multiply(va, vx, out=res)
            np.add(res, vb, out=res)
            np.maximum(res, 0, out=res)

        np_us = measure(numpy_fused, repeat)
        t_us = float("nan")
        if torch is not None:
            ta, tx, tb = (torch.from_numpy(v) for v in (va, vx, vb))
            t_us = measure(lambda: torch.relu(ta * tx + tb), repeat)
        cpp_us = peers.native("fused", N, repeat)
        floor_us = 4 * 4 * N / (peers.native("triad") * 1e3)
        print(f"\n{'relu(a*x+b) 16M f32':24} {'kiln us':>9} {'C++ us':>9} {'numpy us':>9} "
              f"{'torch us':>9} {'kiln/C++':>9} {'kiln/numpy':>10} {'kiln/torch':>10}")
        print(f"{'':24} {k_us:9.1f} {cpp_us:9.1f} {np_us:9.1f} {t_us:9.1f} "
              f"{k_us / cpp_us:9.2f} {k_us / np_us:10.2f} {k_us / t_us:10.2f}")
        print(f"(bandwidth floor at the triad's rate: {floor_us:.0f} us)")

        rows = rng.standard_normal((ROWS, COLS), dtype=np.float32)
        print(f"\n{'rows 4096 x 1024 f32':24} {'kiln us':>9} {'numpy us':>9} "
              f"{'torch us':>9} {'kiln/numpy':>10} {'kiln/torch':>10}")

        def numpy_softmax():
            e = np.exp(rows - rows.max(1, keepdims=True))
            return e / e.sum(1, keepdims=True)

        tr = torch.from_numpy(rows) if torch is not None else None
        for name, module, numpy_fn, torch_fn in [
                ("softmax", SOFTMAX, numpy_softmax,
                 lambda: torch.softmax(tr, 1)),
                ("row sums", ROW_SUMS, lambda: rows.sum(1),
                 lambda: tr.sum(1))]:
            k_us = kiln(tmp, name.replace(" ", "_"), module, [rows], repeat, 1)
            np_us = measure(numpy_fn, repeat)
            t_us = measure(torch_fn, repeat) if torch is not None else float("nan")
            print(f"{name:24} {k_us:9.1f} {np_us:9.1f} {t_us:9.1f} "
                  f"{k_us / np_us:10.2f} {k_us / t_us:10.2f}")
    print("(medians; > 1: Kiln is slower)")


if __name__ == "__main__":
    main()
