#!/usr/bin/env python3
"""The training and speed part of `scripts/gpu-check.sh run`.

    perf.py BUNDLE [--out DIR]

Runs, from the bundle that `gpu-check.sh prepare` made:

* training: each model's compiled train step (MLP, seed CNN) for its steps
  on the same batches from the same weights as the CPU run made at prepare
  time, and prints the two loss curves side by side; it fails when they
  part by more than 1% (relative) at any step. The step time is set next to
  the CPU library's on this machine's host.
* speed: the fused elementwise chain over 256 MiB and SGEMM 4096^2 on
  synthetic data, as bandwidth and GFLOP/s, and as fractions of the device's
  peak (from the driver's attributes) and of the same work in PyTorch
  (cuBLAS, TF32 off), when PyTorch is there.

Needs only python3 (NumPy and PyTorch are used when present), kiln-replay and
the runtime from the bundle. Writes perf.json to --out ($OUT, else the
bundle).
"""

import argparse
import ctypes
import json
import os
import re
import subprocess
import sys
import time

TOLERANCE = 1e-2  # relative, per step, between the two loss curves
# For bfloat16 compute (mlp_mixed): the tensor cores and the CPU sum a
# product's terms in different orders, and a different float32 sum may
# round to a neighbouring bfloat16 (2**-8 apart); Adam carries that on.
TOLERANCE_BF16 = 5e-2
# Seconds for the sm_90a product check and for each tensor-core speed
# kernel: a kernel that hangs (an mbarrier never completing) fails its own
# line instead of the whole run.
HOPPER_TIMEOUT = 60
KERNEL_TIMEOUT = 120


def replay(bundle, library, args, cwd=None, timeout=600):
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.path.join(bundle, "lib") + (
        ":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    cmd = [os.path.join(bundle, "bin", "kiln-replay"), library] + args
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                          cwd=cwd or os.path.dirname(library), timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                           f"{proc.stdout}{proc.stderr}")
    return proc.stdout


def losses(text):
    return [float(v) for v in re.findall(r"^call \d+: output 0: (\S+)$", text, re.M)]


def median_ms(text):
    m = re.search(r"^time: median (\S+) ms", text, re.M)
    return float(m.group(1)) if m else None


def device_peaks():
    """Name, peak memory bandwidth (bytes/s) and peak f32 FMA rate
    (FLOP/s) of cuda:0, from the driver's attributes; None without one."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None
    if cuda.cuInit(0) != 0:
        return None
    dev = ctypes.c_int()
    if cuda.cuDeviceGet(ctypes.byref(dev), 0) != 0:
        return None
    name = ctypes.create_string_buffer(256)
    cuda.cuDeviceGetName(name, 256, dev)

    def attribute(code):
        value = ctypes.c_int()
        cuda.cuDeviceGetAttribute(ctypes.byref(value), code, dev)
        return value.value

    sms, clock_khz = attribute(16), attribute(13)
    mem_khz, bus_bits = attribute(36), attribute(37)
    major, minor = attribute(75), attribute(76)
    # FP32 lanes per SM: 64 on sm_80 (A100), 128 on sm_86 and later.
    lanes = 64 if (major, minor) == (8, 0) else 128
    return {
        "name": name.value.decode(),
        "chip": f"sm_{major}{minor}",
        "sms": sms,
        "bandwidth": 2.0 * mem_khz * 1e3 * bus_bits / 8,
        "flops": 2.0 * lanes * sms * clock_khz * 1e3,
    }


def torch_peers():
    """The same work in PyTorch on cuda:0 (times in ms); {} without it."""
    try:
        import torch
    except ImportError:
        return {}
    if not torch.cuda.is_available():
        return {}
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    def timed(fn, repeat=20):
        fn()
        torch.cuda.synchronize()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return 1e3 * sorted(times)[len(times) // 2]

    out = {"torch": torch.__version__}
    x = torch.rand(1 << 26, device="cuda") * 2 - 1
    out["copy_ms"] = timed(lambda: x.clone())
    out["chain_ms"] = timed(lambda: torch.relu(x * x + x) - x)
    a = torch.rand(4096, 4096, device="cuda")
    b = torch.rand(4096, 4096, device="cuda")
    out["sgemm_ms"] = timed(lambda: a @ b)
    torch.backends.cuda.matmul.allow_tf32 = True
    out["sgemm_tf32_ms"] = timed(lambda: a @ b)
    torch.backends.cuda.matmul.allow_tf32 = False
    a16, b16 = a.to(torch.bfloat16), b.to(torch.bfloat16)
    out["bf16gemm_ms"] = timed(lambda: a16 @ b16)
    return out


def train(bundle, model, report):
    directory = os.path.join(bundle, "train", model)
    steps = int(open(os.path.join(directory, "steps.txt")).read())
    cpu_curve = [float(v) for v in open(os.path.join(directory, "cpu-loss.txt"))]
    data = ["--input", "x.npy", "--input", "y.npy",
            "--load-variables", model + ".safetensors", "--entry", "train_step"]
    gpu = replay(bundle, os.path.join(directory, "gpu", f"lib{model}.so"),
                 data + ["--repeat", str(steps), "--print-scalars", "--time"],
                 cwd=directory)
    gpu_curve = losses(gpu)
    # The CPU library on this host, for its step time.
    try:
        cpu = replay(bundle, os.path.join(directory, f"lib{model}.so"),
                     data + ["--repeat", "6", "--time"])
        cpu_ms = median_ms(cpu)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"  (the CPU library did not run here: {str(e).splitlines()[0]})")
        cpu_ms = None
    gpu_ms = median_ms(gpu)
    worst = max(abs(g - c) / max(abs(c), 1e-6) for g, c in zip(gpu_curve, cpu_curve))
    limit = TOLERANCE_BF16 if model.endswith("_mixed") else TOLERANCE
    ok = len(gpu_curve) == len(cpu_curve) == steps and worst <= limit
    print(f"training {model}: {steps} steps, loss GPU vs CPU (worst relative "
          f"difference {worst:.2e}, limit {limit:g}): {'ok' if ok else 'FAIL'}")
    for i in range(0, steps, max(1, steps // 10)):
        print(f"  step {i + 1:4d}  gpu {gpu_curve[i]:.6f}  cpu {cpu_curve[i]:.6f}")
    print(f"  step {steps:4d}  gpu {gpu_curve[-1]:.6f}  cpu {cpu_curve[-1]:.6f}")
    line = f"  step time: gpu {gpu_ms:.3f} ms"
    if cpu_ms:
        line += f", cpu (this host, one thread) {cpu_ms:.3f} ms: {cpu_ms / gpu_ms:.1f}x"
    print(line)
    report[f"train_{model}"] = {"ok": ok, "worst_relative": worst, "gpu_ms": gpu_ms,
                                "cpu_ms": cpu_ms, "gpu_loss": gpu_curve,
                                "cpu_loss": cpu_curve}
    # The same step compiled with one launch per kernel (prepare builds it
    # for a GPU): its curve tells a merged kernel's fault from its parts',
    # its time what merging the launches saved.
    unmerged = os.path.join(directory, "gpu-unmerged", f"lib{model}.so")
    if os.path.exists(unmerged):
        try:
            text = replay(bundle, unmerged,
                          data + ["--repeat", str(steps), "--print-scalars", "--time"],
                          cwd=directory)
            curve = losses(text)
            apart = max(abs(g - c) / max(abs(c), 1e-6)
                        for g, c in zip(curve, cpu_curve)) if curve else float("inf")
            ms = median_ms(text)
            print(f"  unmerged launches: worst relative difference {apart:.2e}, "
                  f"step {ms:.3f} ms (merged: {gpu_ms:.3f} ms)")
            report[f"train_{model}"]["unmerged"] = {"worst_relative": apart, "gpu_ms": ms}
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"  unmerged launches: did not run: {str(e).splitlines()[0]}")
    return ok


def speed(bundle, report, peaks, peers):
    directory = os.path.join(bundle, "speed")
    repeat = open(os.path.join(directory, "repeat.txt")).read().split()
    chain = median_ms(replay(bundle, os.path.join(directory, "libchain.so"),
                             ["--synthetic", "--repeat", repeat[0], "--time"]))
    sgemm = median_ms(replay(bundle, os.path.join(directory, "libsgemm.so"),
                             ["--synthetic", "--repeat", repeat[1], "--time"]))
    bandwidth = 2 * (1 << 28) / (chain * 1e-3)  # 256 MiB read + written
    flops = 2 * 4096 ** 3 / (sgemm * 1e-3)
    print(f"fused elementwise chain, 256 MiB f32: {chain:.3f} ms, "
          f"{bandwidth / 1e9:.0f} GB/s")
    if peaks:
        print(f"  {bandwidth / peaks['bandwidth']:.2f} of the peak "
              f"{peaks['bandwidth'] / 1e9:.0f} GB/s")
    if "copy_ms" in peers:
        copy = 2 * (1 << 28) / (peers["copy_ms"] * 1e-3)
        print(f"  {bandwidth / copy:.2f} of PyTorch's device copy ({copy / 1e9:.0f} GB/s); "
              f"PyTorch eager chain {peers['chain_ms']:.3f} ms ({peers['chain_ms'] / chain:.2f}x Kiln's time)")
    print(f"SGEMM 4096^2 f32: {sgemm:.3f} ms, {flops / 1e9:.0f} GFLOP/s")
    if peaks:
        print(f"  {flops / peaks['flops']:.2f} of the peak {peaks['flops'] / 1e12:.1f} TFLOP/s")
    if "sgemm_ms" in peers:
        cublas = 2 * 4096 ** 3 / (peers["sgemm_ms"] * 1e-3)
        print(f"  {flops / cublas:.2f} of cuBLAS through PyTorch {peers['torch']} "
              f"({cublas / 1e9:.0f} GFLOP/s, TF32 off)")
    report["chain_ms"], report["sgemm_ms"] = chain, sgemm
    # The tensor cores: SGEMM with TF32 allowed, and bf16 operands.
    for kernel, title in [("sgemm_tf32", "SGEMM 4096^2 f32, TF32 allowed"),
                          ("bf16gemm", "GEMM 4096^2 bf16 (f32 sums)"),
                          ("bf16gemm_sm90a", "GEMM 4096^2 bf16 on sm_90a (TMA + wgmma)")]:
        if not os.path.exists(os.path.join(directory, f"lib{kernel}.so")):
            continue  # (a bundle prepared for the CPU)
        if kernel.endswith("sm90a") and report.get("hopper_check") is False:
            print(f"{title}: not timed (the sm_90a product check failed)")
            continue
        try:
            ms = median_ms(replay(bundle, os.path.join(directory, f"lib{kernel}.so"),
                                  ["--synthetic", "--repeat", repeat[1], "--time"],
                                  timeout=KERNEL_TIMEOUT))
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"{title}: FAIL\n{str(e)[-2000:]}")
            report[f"{kernel}_ms"] = None
            continue
        rate = 2 * 4096 ** 3 / (ms * 1e-3)
        line = f"{title}: {ms:.3f} ms, {rate / 1e9:.0f} GFLOP/s"
        peer = "bf16gemm" if kernel.startswith("bf16gemm") else kernel
        if f"{peer}_ms" in peers:
            cublas = 2 * 4096 ** 3 / (peers[f"{peer}_ms"] * 1e-3)
            line += (f", {rate / cublas:.2f} of cuBLAS through PyTorch "
                     f"({cublas / 1e9:.0f} GFLOP/s)")
        print(line)
        report[f"{kernel}_ms"] = ms


def hopper_check(bundle, report):
    """sm_90a's TMA + wgmma product against NumPy (f16 rounding of the
    exact product; partial tiles): True when it matches or is absent."""
    directory = os.path.join(bundle, "speed")
    library = os.path.join(directory, "libhopper_check.so")
    if not os.path.exists(library):
        return True
    try:
        text = replay(bundle, library,
                      ["--input", "hopper_a.npy", "--input", "hopper_b.npy",
                       "--expect", "hopper_expect", "--rtol", "2e-3", "--atol", "2e-2"],
                      timeout=HOPPER_TIMEOUT)
        ok = "MISMATCH" not in text
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        text, ok = str(e), False
    print(f"TMA + wgmma product (sm_90a) against NumPy: {'ok' if ok else 'FAIL'}")
    if not ok:
        print(text[-2000:])
    report["hopper_check"] = ok
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    bundle = os.path.abspath(args.bundle)
    out = args.out or os.environ.get("OUT") or bundle
    report = {}
    peaks = device_peaks()
    if peaks:
        print(f"device: {peaks['name']} ({peaks['chip']}, {peaks['sms']} SMs)")
    report["device"] = peaks
    peers = torch_peers() if peaks else {}
    report["peers"] = peers
    ok = True
    for model in sorted(os.listdir(os.path.join(bundle, "train"))):
        try:
            ok = train(bundle, model, report) and ok
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"training {model}: FAIL\n{e}")
            ok = False
    ok = hopper_check(bundle, report) and ok
    try:
        speed(bundle, report, peaks, peers)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"speed: FAIL\n{e}")
        ok = False
    with open(os.path.join(out, "perf.json"), "w") as f:
        json.dump(report, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
