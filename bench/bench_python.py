#!/usr/bin/env python3
"""The Python front end's overheads, side by side with NumPy and PyTorch
eager (when installed) in one run:

  1. eager dispatch: one elementwise add on 4-element float32 tensors
     (a cached kernel: conversion, cache lookup, runtime call, wrapping);
  2. a tiny tape: y = x*x + 2x on a scalar, forward and gradient (the
     same with PyTorch autograd; NumPy computes the derivative by hand);
  3. a tiny compiled step called from Python: one Huber-loss SGD update of
     two scalar variables (@kiln.function: gradient, cond, assignments),
     against the same update with PyTorch autograd and hand-written NumPy.

Prints median microseconds per call and Kiln/peer ratios (> 1: Kiln is
slower). Usage: /usr/bin/python3 bench/bench_python.py [--calls N]
"""

import statistics
import sys
import time

import peers  # noqa: E402  (before NumPy: one thread each)
from peers import torch  # noqa: E402

import numpy as np  # noqa: E402

import kiln  # noqa: E402


def per_call_us(fn, calls):
    for _ in range(20):
        fn()
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(samples)


def main():
    calls = 2000
    if "--calls" in sys.argv:
        calls = int(sys.argv[sys.argv.index("--calls") + 1])
    rows = []
    peers.check_peers()
    peers.print_machine_limits(threads=(1,))
    print(f"# one thread each; median of 5 rounds of {calls} calls")

    a = kiln.constant([1.0, 2.0, 3.0, 4.0])
    b = kiln.constant([0.5, 0.5, 0.5, 0.5])
    na, nb = a.numpy().copy(), b.numpy().copy()
    row = {"kiln": per_call_us(lambda: kiln.add(a, b), calls),
           "numpy": per_call_us(lambda: np.add(na, nb), calls)}
    if torch is not None:
        ta, tb = torch.from_numpy(na), torch.from_numpy(nb)
        row["torch"] = per_call_us(lambda: torch.add(ta, tb), calls)
    rows.append(("eager add, 4 floats", row))

    x0 = kiln.constant(3.0)

    def kiln_tape():
        with kiln.GradientTape() as tape:
            tape.watch(x0)
            y = x0 * x0 + 2.0 * x0
        return tape.gradient(y, x0)
    row = {"kiln": per_call_us(kiln_tape, calls // 4)}
    n0 = np.float32(3.0)
    row["numpy"] = per_call_us(lambda: 2 * n0 + 2.0, calls)  # (the derivative by hand)
    if torch is not None:
        t0 = torch.tensor(3.0, requires_grad=True)

        def torch_tape():
            y = t0 * t0 + 2.0 * t0
            return torch.autograd.grad(y, t0)
        row["torch"] = per_call_us(torch_tape, calls // 4)
    rows.append(("tiny tape fwd+bwd (3 ops)", row))

    w, bias = kiln.Variable(0.0), kiln.Variable(0.0)

    @kiln.function
    def huber_step(x, y):
        with kiln.GradientTape() as tape:
            err = y - (w * x + bias)
            loss = kiln.cond(kiln.abs(err) <= 1.0, lambda: 0.5 * err * err,
                             lambda: kiln.abs(err) - 0.5)
        gw, gb = tape.gradient(loss, [w, bias])
        w.assign_sub(0.01 * gw)
        bias.assign_sub(0.01 * gb)
        return loss

    x, y = kiln.constant(0.5), kiln.constant(2.0)
    row = {"kiln": per_call_us(lambda: huber_step(x, y), calls // 4)}
    state = {"w": 0.0, "b": 0.0}

    def numpy_step():
        err = 2.0 - (state["w"] * 0.5 + state["b"])
        g = err if abs(err) <= 1.0 else np.sign(err)
        state["w"] += 0.01 * g * 0.5
        state["b"] += 0.01 * g
    row["numpy"] = per_call_us(numpy_step, calls)
    if torch is not None:
        tw = torch.zeros((), requires_grad=True)
        tb_ = torch.zeros((), requires_grad=True)
        tx, ty = torch.tensor(0.5), torch.tensor(2.0)

        def torch_step():
            err = ty - (tw * tx + tb_)
            loss = torch.where(err.abs() <= 1.0, 0.5 * err * err, err.abs() - 0.5)
            gw, gb = torch.autograd.grad(loss, [tw, tb_])
            with torch.no_grad():
                tw.sub_(0.01 * gw)
                tb_.sub_(0.01 * gb)
        row["torch"] = per_call_us(torch_step, calls // 4)
    rows.append(("compiled Huber SGD step", row))

    print(f"{'benchmark':28} {'kiln us':>9} {'numpy us':>9} {'torch us':>9} "
          f"{'kiln/numpy':>11} {'kiln/torch':>11}")
    for name, r in rows:
        t = r.get("torch")
        torch_us = f"{t:9.2f}" if t else "      n/a"
        vs_torch = f"{r['kiln'] / t:11.1f}" if t else "        n/a"
        print(f"{name:28} {r['kiln']:9.2f} {r['numpy']:9.2f} {torch_us} "
              f"{r['kiln'] / r['numpy']:11.1f} {vs_torch}")


if __name__ == "__main__":
    main()
