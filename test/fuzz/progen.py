"""Random well-typed Kiln programs against a NumPy reference interpreter
(scripts/fuzz.sh programs): straight-line functions over f32 or f64 inputs
of random rank (0-3) and extents (0, 1, odd), built from elementwise ops
with broadcasting, reductions (axes, keepdims), transposes, reshapes,
strided slices, concatenations, matrix products, softmax, comparisons and
selects, and casts; compiled and run by tensor-run, and compared with the
same program evaluated by NumPy. A mismatch or a failure is reduced
automatically (ops the result does not need, then single ops, are dropped
while it still fails) and saved as a regression case."""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("KILN_BUILD_DIR", os.path.join(ROOT, "build"))
TENSOR_RUN = os.path.join(BUILD, "bin", "tensor-run")
MLIR = {np.float32: "f32", np.float64: "f64", np.bool_: "i1"}
EXTENTS = [0, 1, 1, 2, 3, 3, 5]


def ttype(shape, dtype):
    return "tensor<" + "".join(f"{d}x" for d in shape) + MLIR[dtype] + ">"


def attr_array(values):
    return "array<i64" + (": " + ", ".join(map(str, values)) if values else "") + ">"


class Program:
    """Values: (shape, dtype); ops: (result id, mlir text builder, numpy fn,
    operand ids). Arguments are values without an op."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.values = []   # (shape, dtype)
        self.ops = []      # (result, operands, mlir(names) -> text, numpy(*arrays))
        self.args = []
        self.lossy = False

    def new_arg(self, shape):
        self.values.append((tuple(shape), self.dtype))
        self.args.append(len(self.values) - 1)
        return len(self.values) - 1

    def add(self, shape, dtype, operands, mlir, numpy):
        self.values.append((tuple(shape), dtype))
        self.ops.append((len(self.values) - 1, list(operands), mlir, numpy))
        return len(self.values) - 1

    def text(self, outputs, args=None):
        args = self.args if args is None else args
        names = {v: f"%a{k}" for k, v in enumerate(args)}
        lines = []
        for result, operands, mlir, _ in self.ops:
            names[result] = f"%v{result}"
            lines.append(f"  %v{result} = " + mlir([names[o] for o in operands],
                                                   [self.values[o] for o in operands]))
        params = ", ".join(f"{names[a]}: {ttype(*self.values[a])}" for a in args)
        rtypes = ", ".join(ttype(*self.values[o]) for o in outputs)
        rets = ", ".join(names[o] for o in outputs)
        return (f"func.func @f({params}) -> ({rtypes}) {{\n" + "\n".join(lines) +
                f"\n  return {rets} : {rtypes}\n}}\n")

    def evaluate(self, inputs, outputs, everything=False):
        env = dict(zip(self.args, inputs))
        with np.errstate(all="ignore"):
            for result, operands, _, numpy in self.ops:
                env[result] = np.asarray(numpy(*[env[o] for o in operands]),
                                         dtype=self.values[result][1])
        return env if everything else [env[o] for o in outputs]


UNARY = {
    "neg": np.negative, "abs": np.abs, "exp": np.exp, "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "relu": lambda x: np.maximum(x, 0),
    "square": np.square, "sin": np.sin, "cos": np.cos, "floor": np.floor,
    "ceil": np.ceil, "sign": np.sign, "sqrt": np.sqrt,
}
BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
          "maximum": np.maximum, "minimum": np.minimum}


def broadcast_partner(prog, rng, shape):
    """A value (existing or a new argument) whose shape broadcasts with
    `shape`."""
    fitting = [v for v, (s, d) in enumerate(prog.values)
               if d == prog.dtype and _broadcasts(s, shape)]
    if fitting and rng.random() < 0.7:
        return rng.choice(fitting)
    other = list(shape[rng.randint(0, len(shape)):]) if shape else []
    other = [1 if rng.random() < 0.3 else d for d in other]
    return prog.new_arg(other)


def _broadcasts(a, b):
    for x, y in zip(reversed(a), reversed(b)):
        if x != y and x != 1 and y != 1:
            return False
    return True


def grow(prog, rng, v):
    """Adds one random op on value `v`; returns the result."""
    shape, dtype = prog.values[v]
    rank = len(shape)
    t = MLIR[dtype]
    kind = rng.choice(["unary"] * 3 + ["binary"] * 3 + ["reduce", "transpose", "reshape",
                                                        "slice", "concat", "matmul",
                                                        "softmax", "select", "cast"])
    if kind == "unary":
        name = rng.choice(sorted(UNARY))
        if name in ("exp", "sin", "cos"):
            # Bounded arguments: exp or sin of a large value amplifies the
            # rounding of what computed it past any fixed tolerance (an
            # ill-conditioned oracle, not a bug).
            v = prog.add(shape, dtype, [v], lambda n, s:
                         f"kiln.tanh {n[0]} : {ttype(*s[0])}", np.tanh)
        return prog.add(shape, dtype, [v], lambda n, s, name=name:
                        f"kiln.{name} {n[0]} : {ttype(*s[0])}", UNARY[name])
    if kind == "binary":
        w = broadcast_partner(prog, rng, shape)
        name = rng.choice(sorted(BINARY))
        out = np.broadcast_shapes(shape, prog.values[w][0])
        return prog.add(out, dtype, [v, w], lambda n, s, name=name, out=out:
                        f"kiln.{name} {n[0]}, {n[1]} : {ttype(*s[0])}, {ttype(*s[1])} -> "
                        f"{ttype(out, s[0][1])}", BINARY[name])
    if kind == "reduce" and rank:
        axes = sorted(rng.sample(range(rank), rng.randint(1, rank)))
        name = rng.choice(["reduce_sum", "reduce_mean", "reduce_max", "reduce_min"])
        if name != "reduce_sum" and any(shape[a] == 0 for a in axes):
            name = "reduce_sum"  # (NumPy has no max or mean of nothing)
        keep = rng.random() < 0.3
        out = tuple(1 if i in axes else d for i, d in enumerate(shape)) if keep else \
            tuple(d for i, d in enumerate(shape) if i not in axes)
        fn = {"reduce_sum": np.sum, "reduce_mean": np.mean, "reduce_max": np.max,
              "reduce_min": np.min}[name]
        keepattr = ", keepdims = true" if keep else ""
        return prog.add(out, dtype, [v], lambda n, s: (
            f"kiln.{name} {n[0]} {{axes = {attr_array(axes)}{keepattr}}} : "
            f"{ttype(*s[0])} -> {ttype(out, dtype)}"),
            lambda x: fn(x, axis=tuple(axes), keepdims=keep))
    if kind == "transpose" and rank >= 2:
        perm = list(range(rank))
        rng.shuffle(perm)
        out = tuple(shape[p] for p in perm)
        return prog.add(out, dtype, [v], lambda n, s: (
            f"kiln.transpose {n[0]} {{permutation = {attr_array(perm)}}} : "
            f"{ttype(*s[0])} -> {ttype(out, dtype)}"), lambda x: np.transpose(x, perm))
    if kind == "reshape":
        size = int(np.prod(shape, dtype=np.int64))
        choices = [(size,)] + [(a, size // a) for a in (1, 2, 3, 5) if size and size % a == 0]
        out = rng.choice(choices)
        return prog.add(out, dtype, [v], lambda n, s: (
            f"kiln.reshape {n[0]} : {ttype(*s[0])} -> {ttype(out, dtype)}"),
            lambda x: np.reshape(x, out))
    if kind == "slice" and rank:
        start, limit, stride = [], [], []
        for d in shape:
            a = rng.randint(0, d)
            b = rng.randint(a, d)
            start.append(a), limit.append(b), stride.append(rng.choice([1, 1, 2, 3]))
        out = tuple(len(range(a, b, c)) for a, b, c in zip(start, limit, stride))
        index = tuple(slice(a, b, c) for a, b, c in zip(start, limit, stride))
        return prog.add(out, dtype, [v], lambda n, s: (
            f"kiln.slice {n[0]} {{start = {attr_array(start)}, limit = {attr_array(limit)}, "
            f"stride = {attr_array(stride)}}} : {ttype(*s[0])} -> {ttype(out, dtype)}"),
            lambda x: x[index])
    if kind == "concat" and rank:
        axis = rng.randrange(rank)
        out = tuple(d * 2 if i == axis else d for i, d in enumerate(shape))
        return prog.add(out, dtype, [v, v], lambda n, s: (
            f"kiln.concat {n[0]}, {n[1]} {{axis = {axis} : i64}} : ({ttype(*s[0])}, "
            f"{ttype(*s[1])}) -> {ttype(out, dtype)}"),
            lambda x, y: np.concatenate([x, y], axis))
    if kind == "matmul" and rank == 2:
        k = shape[1]
        w = prog.new_arg((k, rng.choice(EXTENTS)))
        out = (shape[0], prog.values[w][0][1])
        return prog.add(out, dtype, [v, w], lambda n, s: (
            f"kiln.matmul {n[0]}, {n[1]} : {ttype(*s[0])}, {ttype(*s[1])} -> "
            f"{ttype(out, dtype)}"), np.matmul)
    if kind == "softmax" and rank:
        def softmax(x):
            e = np.exp(x - np.max(x, axis=-1, keepdims=True)) if x.size else x
            return e / np.sum(e, axis=-1, keepdims=True) if x.size else x
        return prog.add(shape, dtype, [v], lambda n, s: (
            f"kiln.softmax {n[0]} {{axis = -1 : i64}} : {ttype(*s[0])} -> "
            f"{ttype(*s[0])}"), softmax)
    if kind == "select":
        w = broadcast_partner(prog, rng, shape)
        out = np.broadcast_shapes(shape, prog.values[w][0])
        cond = prog.add(out, np.bool_, [v, w], lambda n, s, out=out: (
            f"kiln.compare gt, {n[0]}, {n[1]} : {ttype(*s[0])}, {ttype(*s[1])} -> "
            f"{ttype(out, np.bool_)}"), np.greater)
        return prog.add(out, dtype, [cond, v, w], lambda n, s, out=out: (
            f"kiln.select {n[0]}, {n[1]}, {n[2]} : {ttype(*s[0])}, {ttype(*s[1])}, "
            f"{ttype(*s[2])} -> {ttype(out, dtype)}"), np.where)
    if kind == "cast":
        other = np.float64 if dtype == np.float32 else np.float32
        prog.lossy = True  # (f32 rounding: no finite-difference oracle)
        mid = prog.add(shape, other, [v], lambda n, s, other=other: (
            f"kiln.cast {n[0]} : {ttype(*s[0])} -> {ttype(s[0][0], other)}"),
            lambda x, other=other: x.astype(other))
        return prog.add(shape, dtype, [mid], lambda n, s: (
            f"kiln.cast {n[0]} : {ttype(*s[0])} -> {ttype(s[0][0], dtype)}"),
            lambda x: x.astype(dtype))
    return v  # (the op did not fit this value)


def generate(rng):
    dtype = rng.choice([np.float32, np.float64])
    prog = Program(dtype)
    v = prog.new_arg([rng.choice(EXTENTS) for _ in range(rng.randint(0, 3))])
    for _ in range(rng.randint(1, 8)):
        candidates = [u for u, (s, d) in enumerate(prog.values) if d == dtype]
        v = grow(prog, rng, rng.choice(candidates[-3:]))
    return prog, [v]


def inputs_for(prog, rng):
    out = []
    for a in prog.args:
        shape, dtype = prog.values[a]
        x = np.asarray(np.random.default_rng(rng.randrange(1 << 30)).normal(size=shape) * 2,
                       dtype=dtype)
        out.append(x)
    return out


def run(prog, outputs, inputs, workdir):
    """None if tensor-run agrees with NumPy, else what went wrong."""
    text = prog.text(outputs)
    path = os.path.join(workdir, "p.mlir")
    with open(path, "w") as f:
        f.write(text)
    cmd = [TENSOR_RUN, path, "--output-dir", os.path.join(workdir, "out")]
    for i, x in enumerate(inputs):
        np.save(os.path.join(workdir, f"in{i}.npy"), x)
        cmd += ["--input", os.path.join(workdir, f"in{i}.npy")]
    shutil.rmtree(os.path.join(workdir, "out"), ignore_errors=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, KILN_CACHE_DIR="off"))
    except subprocess.TimeoutExpired:
        return "timeout"
    if proc.returncode != 0:
        return f"tensor-run failed ({proc.returncode}): {proc.stderr[-1500:]}"
    want = prog.evaluate(inputs, outputs)
    for i, w in enumerate(want):
        got = np.load(os.path.join(workdir, "out", f"{i}.npy"))
        if got.shape != w.shape:
            return f"output {i}: shape {got.shape}, NumPy {w.shape}"
        tol = dict(rtol=2e-4, atol=1e-5) if prog.dtype == np.float32 else \
            dict(rtol=1e-9, atol=1e-12)
        try:
            np.testing.assert_allclose(got, w, equal_nan=True, **tol)
        except AssertionError as e:
            return f"output {i} differs from NumPy:{str(e)[:800]}"
    return None


def dense(array):
    """An MLIR dense literal of a float64 array."""
    if array.ndim == 0:
        return f"dense<{float(array):.17e}>"
    if array.size == 0:
        return "dense<>" if False else "dense<0.0>"

    def rec(a):
        if a.ndim == 1:
            return "[" + ", ".join(f"{float(v):.17e}" for v in a) + "]"
        return "[" + ", ".join(rec(x) for x in a) + "]"
    return f"dense<{rec(array)}>"


def check_gradient(prog, output, inputs, workdir, rng):
    """kiln.grad of sum(output * w) with respect to the first argument
    against central differences of the NumPy interpreter (float64 programs
    only); None when they agree."""
    shape, _ = prog.values[output]
    weights = np.asarray(np.random.default_rng(rng.randrange(1 << 30))
                         .uniform(0.5, 1.5, size=shape))
    body = prog.text([output]).split("\n")
    # The function's lines without its return: the ops.
    ops = [l for l in body[1:] if l.startswith("  %v")]
    names = {v: f"%a{k}" for k, v in enumerate(prog.args)}
    result = f"%v{output}" if output not in names else names[output]
    out_t = ttype(shape, np.float64)
    params = ", ".join(f"{names[a]}: {ttype(*prog.values[a])}" for a in prog.args)
    axes = attr_array(list(range(len(shape))))
    types = ", ".join(ttype(*prog.values[a]) for a in prog.args)
    grad_t = ttype(*prog.values[prog.args[0]])
    text = (f"func.func @f({params}) -> tensor<f64> {{\n" + "\n".join(ops) +
            f"\n  %w = kiln.constant {dense(weights)} : {out_t}\n"
            f"  %p = kiln.mul {result}, %w : {out_t}, {out_t} -> {out_t}\n"
            f"  %s = kiln.reduce_sum %p {{axes = {axes}}} : {out_t} -> tensor<f64>\n"
            f"  return %s : tensor<f64>\n}}\n"
            f"func.func @g({params}) -> {grad_t} {{\n"
            f"  %g = kiln.grad @f({', '.join(names[a] for a in prog.args)}) "
            f"{{wrt = array<i64: 0>}} : ({types}) -> {grad_t}\n"
            f"  return %g : {grad_t}\n}}\n")
    path = os.path.join(workdir, "g.mlir")
    with open(path, "w") as f:
        f.write(text)
    cmd = [TENSOR_RUN, path, "--entry", "g", "--output-dir", os.path.join(workdir, "gout")]
    for i, x in enumerate(inputs):
        cmd += ["--input", os.path.join(workdir, f"in{i}.npy")]
    shutil.rmtree(os.path.join(workdir, "gout"), ignore_errors=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, KILN_CACHE_DIR="off"))
    if proc.returncode != 0:
        return f"gradient: tensor-run failed ({proc.returncode}): {proc.stderr[-1500:]}"
    got = np.load(os.path.join(workdir, "gout", "0.npy"))

    def value(x0):
        out = prog.evaluate([x0] + list(inputs[1:]), [output])[0]
        return float(np.sum(out * weights))
    # A NaN or an infinity anywhere in the forward pass (sqrt of a negative,
    # an overflow) makes the gradient NaN where the output does not depend
    # on it (zero cotangent times an infinite local derivative: TensorFlow
    # and JAX give NaN there too); central differences say 0. No oracle.
    values = prog.evaluate(inputs, None, everything=True)
    if any(np.issubdtype(v.dtype, np.floating) and not np.all(np.isfinite(v))
           for v in values.values()):
        return None
    x = inputs[0]
    h = 1e-6
    for j in range(x.size):
        e = np.zeros_like(x)
        e.flat[j] = h
        with np.errstate(all="ignore"):
            fd = (value(x + e) - value(x - e)) / (2 * h)
        if not np.isfinite(fd) or not np.isfinite(value(x)):
            continue
        if not np.isclose(got.flat[j], fd, rtol=1e-4, atol=1e-6):
            return (f"gradient element {j}: kiln.grad {got.flat[j]!r}, central "
                    f"differences {fd!r}\n{text}")
    return None


def needed(prog, outputs):
    keep, stack = set(), list(outputs)
    producers = {r: ops for r, ops, _, _ in prog.ops}
    while stack:
        v = stack.pop()
        if v in keep:
            continue
        keep.add(v)
        stack.extend(producers.get(v, []))
    return keep


def reduce(prog, outputs, inputs, workdir):
    """Drops ops (and arguments) the failure does not need."""
    def pruned(keep_ops, outs):
        p = Program(prog.dtype)
        p.values, p.ops = prog.values, [op for op in prog.ops if op[0] in keep_ops]
        live = needed(p, outs)
        p.ops = [op for op in p.ops if op[0] in live]
        p.args = [a for a in prog.args if a in live]
        return p, [inputs[prog.args.index(a)] for a in p.args]

    current = {op[0] for op in prog.ops}
    outs = outputs
    changed = True
    while changed:
        changed = False
        # Try ending the program earlier (an intermediate value as output).
        for r in sorted(current):
            p, ins = pruned(current, [r])
            if len(p.ops) < len(needed(prog, outs) & current) and run(p, [r], ins, workdir):
                outs, current, changed = [r], {op[0] for op in p.ops}, True
                break
    p, ins = pruned(current, outs)
    return p, outs, ins


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--count", type=int, default=0, help="stop after N programs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gradients", type=int, default=1,
                        help="also check kiln.grad against finite differences")
    parser.add_argument("--crashes", default=os.path.join(ROOT, "build-fuzz", "crashes",
                                                          "programs"))
    args = parser.parse_args()
    os.makedirs(args.crashes, exist_ok=True)
    rng = random.Random(args.seed)
    deadline = time.monotonic() + args.seconds
    done = failures = ops = gradients = 0
    with tempfile.TemporaryDirectory(prefix="kiln-progen-") as workdir:
        while time.monotonic() < deadline and (not args.count or done < args.count):
            prog, outputs = generate(rng)
            inputs = inputs_for(prog, rng)
            problem = run(prog, outputs, inputs, workdir)
            x = inputs[0]
            if not problem and args.gradients and prog.dtype == np.float64 and \
                    not prog.lossy and \
                    0 < x.size <= 12 and prog.values[outputs[0]][1] == np.float64:
                problem = check_gradient(prog, outputs[0], inputs, workdir, rng)
                gradients += 1
            done += 1
            ops += len(prog.ops)
            if problem:
                failures += 1
                small, outs, ins = reduce(prog, outputs, inputs, workdir)
                name = os.path.join(args.crashes, f"case-{args.seed}-{done}")
                with open(name + ".mlir", "w") as f:
                    f.write(f"// {problem.splitlines()[0][:300]}\n" + small.text(outs))
                for i, x in enumerate(ins):
                    np.save(f"{name}.in{i}.npy", x)
                print(f"FAILURE {name}.mlir ({len(prog.ops)} ops reduced to "
                      f"{len(small.ops)}):\n{problem[:1200]}\n{small.text(outs)}",
                      file=sys.stderr)
    print(f"random programs: {done} programs ({ops} ops, {gradients} gradients "
          f"checked) in {min(args.seconds, time.monotonic() - deadline + args.seconds):.0f} s, "
          f"{failures} disagreed with NumPy or failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
