"""Mutation fuzzing of tensor-opt (scripts/fuzz.sh mlir): .mlir inputs from
the test suite, split at `// -----`, mutated one to three times (spans
deleted or duplicated, lines swapped, tokens, numbers, element types and
extents replaced) and run through parsing and verification, kiln-autodiff,
the whole CPU pipeline and the GPU pipeline to PTX. An error is fine; a
crash (a signal, or LLVM's crash report) is saved with its command and
fails the run. An input that takes longer than the timeout is reported as
a hang (saved, not a failure: some mutations make huge shapes legal)."""

import argparse
import concurrent.futures
import glob
import os
import random
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("KILN_BUILD_DIR", os.path.join(ROOT, "build"))
TENSOR_OPT = os.path.join(BUILD, "bin", "tensor-opt")
# glibc fills freed memory with a byte pattern: a use after free in the
# parser or a pass then crashes at once rather than only when the heap's
# checks happen to notice.
ENV = dict(os.environ, KILN_CACHE_DIR="off", MALLOC_PERTURB_="165")

MODES = {
    "parse": [],
    "autodiff": ["--kiln-autodiff"],
    "cpu": ["--kiln-cpu-pipeline"],
    "gpu": ["--kiln-gpu-pipeline=chip=sm_90 format=isa"],
}
TOKENS = ["0", "-1", "?", "1", "x0", "x?", "[]", "{", "}", "(", ")", "<", ">", ",",
          "%", "@f", "f16", "bf16", "i1", "i64", "index", "tensor<f32>", "dense<1.0>",
          "kiln.yield", "kiln.grad", "kiln.cond", "array<i64>", "#kiln.padding<SAME>",
          "{axis = 7 : i64}", "{descending}", ": tensor<0xf32>", "^bb0:"]
NUMBERS = ["0", "1", "-1", "2", "3", "7", "255", "65536", "2147483647", "2147483648",
           "4294967296", "9223372036854775807", "-9223372036854775808", "1.0e38", "nan"]
ELEMENTS = ["f32", "f64", "f16", "bf16", "i1", "i8", "i32", "i64", "index"]


def inputs():
    """The suite's .mlir files as split-input-file chunks (RUN lines off)."""
    chunks = []
    for path in sorted(glob.glob(os.path.join(ROOT, "test", "**", "*.mlir"), recursive=True)):
        with open(path) as f:
            text = f.read()
        for chunk in text.split("// -----"):
            body = "\n".join(l for l in chunk.splitlines() if "RUN:" not in l)
            if "func.func" in body or "kiln." in body:
                chunks.append((os.path.relpath(path, ROOT), body))
    return chunks


def mutate(text, rng):
    for _ in range(rng.randint(1, 3)):
        if not text:
            break
        kind = rng.randrange(7)
        a = rng.randrange(len(text))
        if kind == 0:
            text = text[:a] + text[a + rng.randint(1, 40):]
        elif kind == 1:
            text = text[:a] + rng.choice(TOKENS) + text[a:]
        elif kind == 2:
            numbers = list(re.finditer(r"-?\d+(\.\d+)?(e-?\d+)?", text))
            if numbers:
                m = rng.choice(numbers)
                text = text[:m.start()] + rng.choice(NUMBERS) + text[m.end():]
        elif kind == 3:
            types = list(re.finditer(r"\b(f16|bf16|f32|f64|i1|i32|i64)\b", text))
            if types:
                m = rng.choice(types)
                text = text[:m.start()] + rng.choice(ELEMENTS) + text[m.end():]
        elif kind == 4:
            extents = list(re.finditer(r"(?<=[<x])(\d+|\?)(?=x)", text))
            if extents:
                m = rng.choice(extents)
                text = text[:m.start()] + rng.choice(["0", "1", "?", "3", "1000000"]) + \
                    text[m.end():]
        elif kind == 5:
            lines = text.splitlines()
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        else:
            b = min(len(text), a + rng.randint(1, 80))
            text = text[:b] + text[a:b] + text[b:]
    return text


def run(case, mode, timeout):
    args = [TENSOR_OPT, "-", *MODES[mode], "-o", os.devnull]
    try:
        proc = subprocess.run(args, input=case, capture_output=True, text=True,
                              timeout=timeout,
                              env=ENV)
    except subprocess.TimeoutExpired:
        return "hang", ""
    crashed = proc.returncode < 0 or "PLEASE submit" in proc.stderr or \
        "Stack dump" in proc.stderr
    return ("crash" if crashed else "ok"), proc.stderr[-3000:]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--crashes", default=os.path.join(ROOT, "build-fuzz", "crashes", "mlir"))
    parser.add_argument("--timeout", type=float, default=20)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    os.makedirs(args.crashes, exist_ok=True)
    rng = random.Random(args.seed)
    corpus = inputs()
    counts = {"ok": 0, "crash": 0, "hang": 0}
    deadline = time.monotonic() + args.seconds
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        pending = set()
        while time.monotonic() < deadline or pending:
            while time.monotonic() < deadline and len(pending) < args.jobs:
                source, text = rng.choice(corpus)
                case, mode = mutate(text, rng), rng.choice(list(MODES))
                future = pool.submit(run, case, mode, args.timeout)
                future.info = (source, case, mode)
                pending.add(future)
            done, pending = concurrent.futures.wait(
                pending, timeout=1, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                outcome, stderr = future.result()
                counts[outcome] += 1
                if outcome != "ok":
                    source, case, mode = future.info
                    name = f"{outcome}-{counts[outcome]}-{mode}"
                    with open(os.path.join(args.crashes, name + ".mlir"), "w") as f:
                        f.write(f"// from {source}; tensor-opt {' '.join(MODES[mode])}\n{case}")
                    if outcome == "crash":
                        print(f"CRASH ({mode}, from {source}): saved {name}.mlir\n"
                              f"{stderr[:1500]}", file=sys.stderr)
    total = sum(counts.values())
    print(f"mlir fuzzing: {total} runs in {args.seconds:.0f} s from {len(corpus)} seed "
          f"chunks, {counts['crash']} crashes, {counts['hang']} hangs "
          f"(> {args.timeout:.0f} s, saved in {args.crashes})")
    return 1 if counts["crash"] else 0


if __name__ == "__main__":
    sys.exit(main())
