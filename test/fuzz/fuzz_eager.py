"""Random eager Kiln ops from Python (scripts/fuzz.sh eager): an op from the
library, inputs of random rank (0-4), extents (0, 1, odd, a few larger),
dtypes and arguments (axes in and out of range, ...). Each call must return
a tensor or raise a Python exception (kiln.errors.OpError, TypeError,
ValueError, IndexError); elementwise float results are also checked against
NumPy. The ops run in a child process that logs each case before running
it, so a crash (a signal) is reported with the case that caused it."""

import argparse
import json
import os
import random
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("KILN_BUILD_DIR", os.path.join(ROOT, "build"))

DTYPES = ["float32", "float64", "int32", "int64", "bool", "float16"]
EXTENTS = [0, 1, 1, 2, 3, 5, 7, 16]

# name -> (arity, call(kiln, args, rng_values), NumPy oracle or None)
UNARY = ["abs", "negative", "exp", "log", "sqrt", "square", "tanh", "sigmoid", "sin",
         "cos", "sign", "math.floor", "math.ceil", "math.round", "math.log1p", "math.expm1",
         "math.rsqrt", "math.erf", "math.erfc", "math.softplus", "nn.relu", "nn.relu6", "nn.elu",
         "nn.gelu", "nn.silu", "logical_not", "identity", "zeros_like", "ones_like"]
BINARY = ["add", "subtract", "multiply", "divide", "maximum", "minimum", "pow",
          "equal", "less", "greater_equal", "logical_and", "floordiv", "floormod", "truncatemod",
          "math.squared_difference", "bitwise.bitwise_and", "bitwise.bitwise_xor",
          "bitwise.left_shift", "bitwise.right_shift"]
AXIS_OPS = ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod",
            "reduce_any", "reduce_all", "reduce_logsumexp", "argmax", "argmin", "cumsum",
            "cumprod", "nn.softmax", "nn.log_softmax", "sort", "argsort", "reverse",
            "expand_dims", "squeeze", "unstack", "math.l2_normalize", "math.reduce_std"]
NUMPY_UNARY = {"abs": "abs", "negative": "negative", "exp": "exp", "sqrt": "sqrt",
               "square": "square", "tanh": "tanh", "sin": "sin", "cos": "cos",
               "sign": "sign", "math.floor": "floor", "math.ceil": "ceil",
               "math.expm1": "expm1", "math.log1p": "log1p"}
NUMPY_BINARY = {"add": "add", "subtract": "subtract", "multiply": "multiply",
                "maximum": "maximum", "minimum": "minimum", "floormod": "mod",
                "truncatemod": "fmod"}
NUMPY_INT_BINARY = {"bitwise.bitwise_and": "bitwise_and", "bitwise.bitwise_xor": "bitwise_xor",
                    "bitwise.left_shift": "left_shift", "bitwise.right_shift": "right_shift"}


def resolve(kiln, name):
    obj = kiln
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def random_case(rng):
    rank = rng.randint(0, 4)
    shape = [rng.choice(EXTENTS) for _ in range(rank)]
    kind = rng.choice(["unary", "binary", "axis", "shape"])
    case = {"kind": kind, "shape": shape, "dtype": rng.choice(DTYPES),
            "seed": rng.randrange(1 << 30)}
    if kind == "unary":
        case["op"] = rng.choice(UNARY)
    elif kind == "binary":
        case["op"] = rng.choice(BINARY)
        other = list(shape)
        for i in range(len(other)):  # broadcasting, sometimes wrong
            if rng.random() < 0.3:
                other[i] = rng.choice([1, other[i], other[i] + 1])
        if rng.random() < 0.2:
            other = other[rng.randint(0, len(other)):]
        case["other"] = other
        case["dtype2"] = case["dtype"] if rng.random() < 0.8 else rng.choice(DTYPES)
    elif kind == "axis":
        case["op"] = rng.choice(AXIS_OPS)
        case["axis"] = rng.randint(-rank - 1, rank)
    else:
        case["op"] = rng.choice(["reshape", "transpose", "tile", "pad", "slice", "concat",
                                 "gather", "one_hot", "top_k", "boolean_mask", "where1"])
        case["k"] = rng.randint(-1, 6)
    return case


def values(shape, dtype, seed):
    import numpy as np
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith("int"):
        return rng.integers(-5, 6, shape).astype(dtype)
    x = rng.normal(size=shape) * 3
    if x.size and rng.random() < 0.3:
        x.flat[rng.integers(x.size)] = rng.choice([np.nan, np.inf, -np.inf, 0.0])
    return x.astype(dtype)


def tolerances(dtype):
    """NumPy computes float16 ufuncs in float32 and rounds once, as Kiln's
    lowering does: within one float16 spacing (2^-10 relative; subnormal
    results 6e-8 apart)."""
    if dtype == "float16":
        return {"rtol": 1e-3, "atol": 1e-7}
    return {"rtol": 1e-5, "atol": 1e-6}


def run_case(kiln, np, case):
    x = values(case["shape"], case["dtype"], case["seed"])
    op = case["op"]
    k = case.get("k", 1)
    if case["kind"] == "unary":
        out = resolve(kiln, op)(kiln.constant(x))
        if op in NUMPY_UNARY and x.dtype.kind == "f":
            with np.errstate(all="ignore"):
                want = getattr(np, NUMPY_UNARY[op])(x)
            np.testing.assert_allclose(out.numpy(), want, equal_nan=True,
                                       **tolerances(x.dtype.name))
        return out
    if case["kind"] == "binary":
        y = values(case["other"], case["dtype2"], case["seed"] + 1)
        out = resolve(kiln, op)(kiln.constant(x), kiln.constant(y))
        if op in NUMPY_BINARY and x.dtype == y.dtype and x.dtype.kind == "f":
            with np.errstate(all="ignore"):
                want = getattr(np, NUMPY_BINARY[op])(x, y)
            np.testing.assert_allclose(out.numpy(), want, equal_nan=True,
                                       **tolerances(x.dtype.name))
        if op in NUMPY_INT_BINARY and x.dtype == y.dtype and x.dtype.kind == "i":
            if "shift" in op:  # tf.bitwise clamps the amount to [0, width - 1]
                y = np.clip(y, 0, 8 * x.dtype.itemsize - 1).astype(x.dtype)
            np.testing.assert_array_equal(out.numpy(),
                                          getattr(np, NUMPY_INT_BINARY[op])(x, y))
        return out
    if case["kind"] == "axis":
        f = resolve(kiln, op)
        return f(kiln.constant(x), axis=case["axis"])
    t = kiln.constant(x)
    if op == "reshape":
        return kiln.reshape(t, [-1, max(k, 1)])
    if op == "transpose":
        return kiln.transpose(t, list(reversed(range(x.ndim)))[:max(k, 0)] or None)
    if op == "tile":
        return kiln.tile(t, [max(k, 0)] * x.ndim)
    if op == "pad":
        return kiln.pad(t, [[k, 1]] * x.ndim)
    if op == "slice":
        return t[k:] if x.ndim else t
    if op == "concat":
        return kiln.concat([t, t], axis=k)
    if op == "gather":
        return kiln.gather(t, kiln.constant([0, k]), axis=0)
    if op == "one_hot":
        return kiln.one_hot(kiln.constant(x.astype("int32") if x.dtype.kind != "b" else x),
                            depth=k)
    if op == "top_k":
        return kiln.math.top_k(t, k=k)
    if op == "boolean_mask":
        return kiln.boolean_mask(t, kiln.constant(values(case["shape"][:1], "bool",
                                                         case["seed"])))
    return kiln.where(t)


def child(seed, count, log):
    import numpy as np
    sys.path.insert(0, os.path.join(BUILD, "python_packages"))
    import kiln
    rng = random.Random(seed)
    expected = (kiln.errors.OpError, TypeError, ValueError, IndexError)
    mismatches = ok = refused = 0
    with open(log, "a") as f:
        for _ in range(count):
            case = random_case(rng)
            f.write(json.dumps(case) + "\n")
            f.flush()
            try:
                run_case(kiln, np, case)
                ok += 1
            except AssertionError as e:
                mismatches += 1
                print(f"MISMATCH {json.dumps(case)}\n{str(e)[:800]}", file=sys.stderr)
            except expected:
                refused += 1
    print(f"{ok} {refused}")
    return 3 if mismatches else 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--crashes", default=os.path.join(ROOT, "build-fuzz", "crashes", "eager"))
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--log")
    args = parser.parse_args()
    if args.child:
        return child(args.seed, args.count, args.log)
    os.makedirs(args.crashes, exist_ok=True)
    deadline = time.monotonic() + args.seconds
    runs = crashes = mismatches = ran = refused = 0
    batch = args.seed * 100003
    while time.monotonic() < deadline:
        log = os.path.join(args.crashes, f"batch-{batch}.jsonl")
        proc = subprocess.run([sys.executable, __file__, "--child", "--seed", str(batch),
                               "--count", str(args.count), "--log", log],
                              capture_output=True, text=True)
        if not os.path.exists(log):  # (it failed before its first case: importing Kiln)
            print(f"the child failed to start (exit {proc.returncode}):\n{proc.stderr[-2000:]}",
                  file=sys.stderr)
            return 1
        with open(log) as f:
            cases = f.read().splitlines()
        runs += len(cases)
        counts = proc.stdout.split()
        if len(counts) == 2:
            ran, refused = ran + int(counts[0]), refused + int(counts[1])
        if proc.returncode < 0 or proc.returncode not in (0, 3):
            crashes += 1
            print(f"CRASH (exit {proc.returncode}) on {cases[-1] if cases else '?'}\n"
                  f"{proc.stderr[-2000:]}", file=sys.stderr)
            os.rename(log, log.replace("batch-", "crash-"))
        else:
            if proc.returncode == 3:
                mismatches += proc.stderr.count("MISMATCH")
                print(proc.stderr[-3000:], file=sys.stderr)
                os.rename(log, log.replace("batch-", "mismatch-"))
            else:
                os.remove(log)
        batch += 1
    print(f"eager fuzzing: {runs} ops in {args.seconds:.0f} s ({ran} computed, {refused} "
          f"refused with a Python exception), {crashes} crashes, {mismatches} "
          f"mismatches with NumPy")
    return 1 if crashes or mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
