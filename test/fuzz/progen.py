"""Random well-typed Kiln programs against a NumPy reference interpreter
(scripts/fuzz.sh programs).

Each program is a function over f32, f64, i32 or i64 inputs of random rank
(0-3) and extents (0, 1, odd), built from elementwise ops with
broadcasting, islands of float16 or bfloat16 ops between casts (mixed
precision: the interpreter computes them in float64 and rounds each
result to its type), reductions (axes, keepdims), transposes, reshapes,
strided slices, concatenations, matrix products, softmax, comparisons and
selects, casts, and the control-flow ops kiln.for, kiln.while (a counter and, at
times, a data-dependent test) and kiln.cond (a data-dependent predicate),
nested up to two deep. Some float programs take open (`?`) extents; some
f64 programs are training steps: the first input becomes a kiln.variable,
the step takes kiln.value_and_grad of a weighted sum of the output and
applies gradient descent, momentum (Nesterov or not) or Adam for a few
calls.

What is checked, against an independent oracle each time:
- tensor-run's outputs (the JIT) equal the NumPy interpreter's;
- for every --aot-every-th program with fixed extents, the same module
  compiled by tensor-compile into a shared library and run by kiln-replay
  (the AOT path) equals NumPy too;
- for every --eager-every-th straight-line program, the same ops run
  eagerly from Python, and traced by @kiln.function, equal NumPy;
- for every --gpu-every-th program, the module through the GPU target:
  compiled to a cubin for sm_90 (ptxas checks the PTX), and run with the
  GPU kernels emulated on the host (`tensor-run --emulate-gpu-kernels`:
  the tiled, warp and block kernels' own index arithmetic as host loops)
  against NumPy -- the GPU's code against the same oracle as the CPU's,
  without a GPU;
- f64 programs: kiln.grad of a weighted sum of the output equals central
  differences of the interpreter (and so does the eager GradientTape's
  gradient of straight-line ones), and training steps end with the
  variable NumPy's optimizer formulas give with central-difference
  gradients.

A mismatch or a failure is reduced automatically (ops the failure does not
need are dropped while it still fails) and saved as a .mlir case with its
inputs."""

import argparse
import os
import pickle
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
TENSOR_COMPILE = os.path.join(BUILD, "bin", "tensor-compile")
KILN_REPLAY = os.path.join(BUILD, "bin", "kiln-replay")
TENSOR_OPT = os.path.join(BUILD, "bin", "tensor-opt")


class BF16:
    """bfloat16 in the interpreter: NumPy has no such type, so its values
    are float32 arrays holding bfloat16 numbers (see to_dtype)."""


MLIR = {np.float32: "f32", np.float64: "f64", np.bool_: "i1", np.int32: "i32",
        np.int64: "i64", np.float16: "f16", BF16: "bf16"}
HALVES = (np.float16, BF16)
FLOATS = (np.float32, np.float64) + HALVES
EXTENTS = [0, 1, 1, 2, 3, 3, 5]
ENV = dict(os.environ, KILN_CACHE_DIR="off")


def ttype(shape, dtype, dyn=None):
    dyn = dyn or (False,) * len(shape)
    return "tensor<" + "".join("?x" if o else f"{d}x" for d, o in zip(shape, dyn)) + \
        MLIR[dtype] + ">"


def attr_array(values):
    return "array<i64" + (": " + ", ".join(map(str, values)) if values else "") + ">"


class Value:
    __slots__ = ("shape", "dtype", "dyn", "scope")

    def __init__(self, shape, dtype, dyn, scope):
        self.shape, self.dtype, self.scope = tuple(shape), dtype, scope
        self.dyn = tuple(dyn) if dyn else (False,) * len(self.shape)


class Op:
    """One op: its result (a value id), operands, MLIR text builder
    mlir(names, types, result type), NumPy function of the operand arrays
    and, when it has one, the same op through Kiln's Python API. Region
    ops (control flow) instead evaluate with numpy(env) and render with
    mlir(names, types, result type, render); `captures` are the outer
    values their regions use."""
    __slots__ = ("result", "operands", "mlir", "numpy", "py", "region", "captures",
                 "nresults")

    def __init__(self, result, operands, mlir, numpy, py=None, region=False, captures=(),
                 nresults=1):
        self.result, self.operands, self.mlir, self.numpy = result, list(operands), mlir, numpy
        self.py, self.region, self.captures, self.nresults = py, region, list(captures), nresults


class Program:
    def __init__(self, dtype):
        self.dtype = dtype
        self.values = []
        self.ops = []
        self.args = []
        self.lossy = False      # a cast through f32: no finite-difference oracle
        self.half = False       # has float16 or bfloat16 ops (looser tolerance)
        self.dynamic = False    # may take open extents
        self.train = None       # the optimizer of a training step
        self.lr = 0.0
        self.steps = 1
        self.weights = None     # the loss's weights (training steps)
        self.control_weight = 1  # how likely control flow is (grow)
        self.multi = set()      # results of ops with several results
        self.scopes = [0]       # the regions being built (0: the function)
        self.lists = [self.ops]
        self.next_scope = 1

    # --- building ---
    def value(self, shape, dtype, dyn=None):
        self.values.append(Value(shape, dtype, dyn, self.scopes[-1]))
        return len(self.values) - 1

    def new_arg(self, shape, dtype=None, dyn=None):
        """A new argument of the function; a bfloat16 one (.npy has no
        such type) is a float32 argument cast to bfloat16 where it is used."""
        dtype = dtype or self.dtype
        self.values.append(Value(shape, storage(dtype), dyn, 0))
        self.args.append(len(self.values) - 1)
        if dtype is BF16:
            return cast_to(self, self.args[-1], BF16)
        return self.args[-1]

    def add(self, shape, dtype, operands, mlir, numpy, py=None, dyn=None, **kw):
        result = self.value(shape, dtype, dyn)
        self.lists[-1].append(Op(result, operands, mlir, numpy, py, **kw))
        return result

    def push(self):
        self.scopes.append(self.next_scope)
        self.next_scope += 1
        self.lists.append([])

    def pop(self):
        self.scopes.pop()
        return self.lists.pop()

    def visible(self, v):
        return self.values[v].scope in self.scopes

    def static(self, v):
        return not any(self.values[v].dyn)

    # --- text ---
    def name(self, v):
        return f"%v{v}#0" if v in self.multi else f"%v{v}"

    def type(self, v):
        x = self.values[v]
        return ttype(x.shape, x.dtype, x.dyn)

    def render(self, ops, indent="  "):
        lines = []
        for op in ops:
            lhs = f"%v{op.result}" + (f":{op.nresults}" if op.nresults > 1 else "")
            n = [self.name(o) for o in op.operands]
            t = [self.type(o) for o in op.operands]
            if op.region:
                text = op.mlir(n, t, self.type(op.result),
                               lambda body: self.render(body, indent + "    "), indent)
            else:
                text = op.mlir(n, t, self.type(op.result))
            lines.append(f"{indent}{lhs} = {text}")
        return lines

    def params(self, args):
        return ", ".join(f"%v{a}: {self.type(a)}" for a in args)

    def text(self, outputs):
        if self.train:
            return self.train_text(outputs[0])
        rtypes = ", ".join(self.type(o) for o in outputs)
        rets = ", ".join(self.name(o) for o in outputs)
        return (f"func.func @f({self.params(self.args)}) -> ({rtypes}) {{\n" +
                "\n".join(self.render(self.ops)) + f"\n  return {rets} : {rtypes}\n}}\n")

    def loss_lines(self, output):
        """The ops, then the weighted sum of `output` as %loss."""
        x = self.values[output]
        out_t, fixed_t = self.type(output), ttype(x.shape, np.float64)
        axes = attr_array(list(range(len(x.shape))))
        return self.render(self.ops) + [
            f"  %w = kiln.constant {dense(self.weights)} : {fixed_t}",
            f"  %p = kiln.mul {self.name(output)}, %w : {out_t}, {fixed_t} -> {out_t}",
            f"  %loss = kiln.reduce_sum %p {{axes = {axes}}} : {out_t} -> tensor<f64>"]

    def train_text(self, output):
        w, rest = self.args[0], self.args[1:]
        wt = self.type(w)
        types = ", ".join(self.type(a) for a in rest)
        names = ", ".join(f"%v{a}" for a in rest)
        update = {
            "sgd": f"kiln.apply_gradient_descent @w, %g, %lr : {wt}, tensor<f64>",
            "momentum": f"kiln.apply_momentum @w, %g, %lr {{momentum = 0.8 : f64}} : "
                        f"{wt}, tensor<f64>",
            "nesterov": f"kiln.apply_momentum @w, %g, %lr {{momentum = 0.8 : f64, nesterov}}"
                        f" : {wt}, tensor<f64>",
            "adam": f"kiln.apply_adam @w, %g, %lr, %t1 : {wt}, tensor<f64>",
        }[self.train]
        return (f"kiln.variable @w : {wt} = {dense(self.initial)}\n"
                "kiln.variable @t : tensor<i64> = dense<0>\n"
                f"func.func private @loss({self.params(rest)}) -> tensor<f64> {{\n"
                f"  %v{w} = kiln.read_variable @w : {wt}\n" +
                "\n".join(self.loss_lines(output)) +
                "\n  return %loss : tensor<f64>\n}\n"
                f"func.func @step({self.params(rest)}) -> (tensor<f64>, {wt}) {{\n"
                f"  %l, %g = kiln.value_and_grad @loss({names}) {{wrt_variables = [@w]}} : "
                f"({types}) -> (tensor<f64>, {wt})\n"
                f"  %lr = kiln.constant dense<{self.lr!r}> : tensor<f64>\n"
                "  %t = kiln.read_variable @t : tensor<i64>\n"
                "  %one = kiln.constant dense<1> : tensor<i64>\n"
                "  %t1 = kiln.add %t, %one : tensor<i64>, tensor<i64> -> tensor<i64>\n"
                "  kiln.assign_variable @t, %t1 : tensor<i64>\n"
                f"  {update}\n"
                f"  %w1 = kiln.read_variable @w : {wt}\n"
                f"  return %l, %w1 : tensor<f64>, {wt}\n}}\n")

    # --- the NumPy interpreter ---
    def run_ops(self, ops, env):
        """Half-precision operands are computed on in float64 and each
        result rounded once to its type, as Kiln's half ops compute in
        float32 and round (its sums and products accumulate in float32)."""
        for op in ops:
            if op.region:
                value = op.numpy(env)
            else:
                value = op.numpy(*[env[o].astype(np.float64) if self.values[o].dtype in HALVES
                                   else env[o] for o in op.operands])
            env[op.result] = to_dtype(value, self.values[op.result].dtype)

    def evaluate(self, inputs, outputs, everything=False):
        env = dict(zip(self.args, inputs))
        with np.errstate(all="ignore"):
            self.run_ops(self.ops, env)
        return env if everything else [env[o] for o in outputs]


def to_dtype(value, dtype):
    """value rounded to dtype (to nearest, ties to even); bfloat16 values
    are kept in float32 arrays."""
    value = np.asarray(value)
    if dtype is not BF16:
        return value.astype(dtype)
    wide = value.astype(np.float64)
    bits = wide.view(np.uint64)
    # Keep 7 of float64's 52 fraction bits, rounding the 45 dropped.
    dropped = np.uint64(45)
    bias = ((bits >> dropped) & np.uint64(1)) + np.uint64((1 << 44) - 1)
    kept = (bits + bias) & ~np.uint64((1 << 45) - 1)
    with np.errstate(over="ignore"):
        rounded = kept.view(np.float64).astype(np.float32)
    # Below 2^-126 bfloat16 is subnormal: multiples of 2^-133.
    tiny = np.abs(wide) < 2.0 ** -126
    if np.any(tiny):
        small = np.rint(wide * 2.0 ** 133) * 2.0 ** -133
        rounded = np.where(tiny, small.astype(np.float32), rounded)
    return np.where(np.isnan(value), np.float32(np.nan), rounded).astype(np.float32)


def storage(dtype):
    """The NumPy type that holds values of dtype."""
    return np.float32 if dtype is BF16 else dtype


def dense(array):
    """An MLIR dense literal of a float64 array."""
    array = np.asarray(array, np.float64)
    if array.ndim == 0:
        return f"dense<{float(array):.17e}>"
    if array.size == 0:
        return "dense<0.0>"

    def rec(a):
        if a.ndim == 1:
            return "[" + ", ".join(f"{float(v):.17e}" for v in a) + "]"
        return "[" + ", ".join(rec(x) for x in a) + "]"
    return f"dense<{rec(array)}>"


def trunc_div(a, b):
    """C's integer division (toward zero), wrapped to the dtype."""
    a, b = np.broadcast_arrays(a, b)
    q = [(-1 if (x < 0) != (y < 0) else 1) * (abs(int(x)) // abs(int(y)))
         for x, y in zip(np.ravel(a), np.ravel(b))]
    info = np.iinfo(a.dtype)
    q = [((v - info.min) % (1 << info.bits)) + info.min for v in q]
    return np.array(q, dtype=np.int64).astype(a.dtype).reshape(np.shape(a))


def cast_np(a, to):
    """Kiln's casts: float to integer truncates, saturates, and maps NaN
    to 0 (docs/dialect.md); NumPy leaves those cases undefined."""
    to = np.dtype(to)
    if not (np.issubdtype(a.dtype, np.floating) and np.issubdtype(to, np.integer)):
        return a.astype(to)
    info = np.iinfo(to)
    with np.errstate(all="ignore"):
        t = np.nan_to_num(np.trunc(a.astype(np.float64)), nan=0.0, posinf=np.inf,
                          neginf=-np.inf)
        high, low = t >= float(info.max), t <= float(info.min)
        out = np.where(high | low, 0, t).astype(to)
    out[high], out[low] = info.max, info.min
    return out


def softmax_np(x):
    if not x.size:
        return x
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


UNARY = {
    "neg": (np.negative, "negative"), "abs": (np.abs, "abs"), "exp": (np.exp, "exp"),
    "tanh": (np.tanh, "tanh"), "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), "sigmoid"),
    "relu": (lambda x: np.maximum(x, 0), None), "square": (np.square, "square"),
    "sin": (np.sin, "sin"), "cos": (np.cos, "cos"), "floor": (np.floor, "floor"),
    "ceil": (np.ceil, "ceil"), "sign": (np.sign, "sign"), "sqrt": (np.sqrt, "sqrt"),
}
INT_UNARY = ["neg", "abs", "square", "sign", "relu", "bitwise_not"]


def _shift_right_logical(a, b):
    unsigned = np.dtype(f"u{a.dtype.itemsize}")
    return np.right_shift(a.view(unsigned), b.view(unsigned)).view(a.dtype)


# Integer-only ops; NumPy's shifts define every amount as the dialect does.
INT_BINARY = {"bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or,
              "bitwise_xor": np.bitwise_xor, "shift_left": np.left_shift,
              "shift_right_arithmetic": np.right_shift,
              "shift_right_logical": _shift_right_logical}
BINARY = {"add": (np.add, "add"), "sub": (np.subtract, "subtract"),
          "mul": (np.multiply, "multiply"), "div": (np.divide, "divide"),
          "maximum": (np.maximum, "maximum"), "minimum": (np.minimum, "minimum")}


def py_unary(name):
    if name == "bitwise_not":
        return lambda k, x: ~x
    fn = UNARY[name][1]
    if fn is None:
        return lambda k, x: k.nn.relu(x)
    return lambda k, x: getattr(k.math, fn)(x)


def fits(prog, a, b, same):
    """Whether values a and b broadcast as Kiln allows (an open extent meets
    its own size or a fixed 1, never broadcasts itself), and, when `same`,
    to a's shape."""
    x, y = prog.values[a], prog.values[b]
    for i in range(1, min(len(x.shape), len(y.shape)) + 1):
        p, q = x.shape[-i], y.shape[-i]
        po, qo = x.dyn[-i], y.dyn[-i]
        if p != q and p != 1 and q != 1:
            return False
        if p != q and ((po and not (q == 1 and not qo)) or (qo and not (p == 1 and not po))):
            return False
    if same:
        return len(y.shape) <= len(x.shape) and \
            np.broadcast_shapes(x.shape, y.shape) == x.shape and \
            all(not (y.dyn[-i] and not x.dyn[-i]) for i in range(1, len(y.shape) + 1))
    return True


def broadcast_partner(prog, rng, v, same=False):
    """A value (visible, or a new argument) that broadcasts with v (to v's
    own shape when `same`)."""
    dtype = prog.values[v].dtype
    fitting = [u for u, x in enumerate(prog.values)
               if x.dtype == dtype and prog.visible(u) and fits(prog, v, u, same)]
    if fitting and rng.random() < 0.7:
        return rng.choice(fitting)
    x = prog.values[v]
    k = rng.randint(0, len(x.shape))
    shape, dyn = [], []
    for d, o in zip(x.shape[k:], x.dyn[k:]):
        if rng.random() < 0.3:
            shape.append(1), dyn.append(False)
        else:
            shape.append(d), dyn.append(o and rng.random() < 0.7)
    return prog.new_arg(shape, dtype, dyn)


def broadcast_dyn(prog, a, b):
    x, y = prog.values[a], prog.values[b]
    rank = max(len(x.shape), len(y.shape))
    out = []
    for i in range(rank, 0, -1):
        o = (i <= len(x.shape) and x.dyn[-i]) or (i <= len(y.shape) and y.dyn[-i])
        out.append(bool(o))
    return out


def constant(prog, value, dtype):
    text = repr(float(value)) if dtype in FLOATS else str(int(value))
    return prog.add((), dtype, [], lambda n, t, r, text=text: f"kiln.constant dense<{text}> : {r}",
                    lambda value=value, dtype=dtype: np.asarray(value, storage(dtype)),
                    py_for(dtype, lambda k, value=value, dtype=dtype:
                           k.constant(value, dtype=dtype)))


def sign_cleared(prog, v):
    """|x| the bit way: kiln.bitcast to the same-width integer, the sign
    bit masked off with kiln.bitwise_and, kiln.bitcast back (no gradient
    flows through a bitcast: not a finite-difference oracle)."""
    x = prog.values[v]
    wide = x.dtype == np.float64
    ints = np.int64 if wide else np.int32
    prog.lossy = True
    bits = prog.add(x.shape, ints, [v], lambda n, t, r: f"kiln.bitcast {n[0]} : {t[0]} -> {r}",
                    lambda a: np.asarray(a).view(ints),
                    lambda k, a: k.bitcast(a, k.int64 if wide else k.int32), x.dyn)
    mask = constant(prog, np.iinfo(ints).max, ints)
    cleared = prog.add(x.shape, ints, [bits, mask], lambda n, t, r:
                       f"kiln.bitwise_and {n[0]}, {n[1]} : {t[0]}, {t[1]} -> {r}",
                       np.bitwise_and, lambda k, a, b: a & b, x.dyn)
    return prog.add(x.shape, x.dtype, [cleared], lambda n, t, r:
                    f"kiln.bitcast {n[0]} : {t[0]} -> {r}",
                    lambda a: np.asarray(a).view(x.dtype),
                    lambda k, a: k.bitcast(a, k.float64 if wide else k.float32), x.dyn)


def unary(prog, rng, v):
    x = prog.values[v]
    if x.dtype in (np.float32, np.float64) and rng.random() < 0.08:
        return sign_cleared(prog, v)
    integer = x.dtype not in FLOATS
    name = rng.choice(INT_UNARY if integer else sorted(UNARY))
    if name in ("exp", "sin", "cos"):
        # Bounded arguments: exp or sin of a large value amplifies the
        # rounding of what computed it past any fixed tolerance (an
        # ill-conditioned oracle, not a bug).
        v = prog.add(x.shape, x.dtype, [v], lambda n, t, r: f"kiln.tanh {n[0]} : {t[0]}",
                     np.tanh, py_unary("tanh"), x.dyn)
    fn = np.invert if name == "bitwise_not" else UNARY[name][0]
    return prog.add(x.shape, x.dtype, [v], lambda n, t, r, name=name:
                    f"kiln.{name} {n[0]} : {t[0]}", fn, py_unary(name), x.dyn)


def binary(prog, rng, v, same=False):
    x = prog.values[v]
    w = broadcast_partner(prog, rng, v, same)
    name = rng.choice(sorted(BINARY))
    fn, pyname = BINARY[name]
    py = lambda k, a, b, pyname=pyname: getattr(k.math, pyname)(a, b)
    if x.dtype not in FLOATS and rng.random() < 0.4:
        name = rng.choice(sorted(INT_BINARY))
        fn, py = INT_BINARY[name], lambda k, a, b, name=name: getattr(k.ops, name)(a, b)
    elif name == "div" and x.dtype not in FLOATS:
        # A divisor that is never 0: |w| + 1.
        a = prog.add(prog.values[w].shape, x.dtype, [w], lambda n, t, r:
                     f"kiln.abs {n[0]} : {t[0]}", np.abs, None, prog.values[w].dyn)
        one = constant(prog, 1, x.dtype)
        w = prog.add(prog.values[w].shape, x.dtype, [a, one], lambda n, t, r:
                     f"kiln.add {n[0]}, {n[1]} : {t[0]}, {t[1]} -> {r}", np.add, None,
                     prog.values[w].dyn)
        fn, py = trunc_div, None
    out = np.broadcast_shapes(x.shape, prog.values[w].shape)
    return prog.add(out, x.dtype, [v, w], lambda n, t, r, name=name:
                    f"kiln.{name} {n[0]}, {n[1]} : {t[0]}, {t[1]} -> {r}", fn, py,
                    broadcast_dyn(prog, v, w))


def select(prog, rng, v, same=False):
    x = prog.values[v]
    w = broadcast_partner(prog, rng, v, same)
    out = np.broadcast_shapes(x.shape, prog.values[w].shape)
    dyn = broadcast_dyn(prog, v, w)
    cond = prog.add(out, np.bool_, [v, w], lambda n, t, r:
                    f"kiln.compare gt, {n[0]}, {n[1]} : {t[0]}, {t[1]} -> {r}", np.greater,
                    lambda k, a, b: k.math.greater(a, b), dyn)
    return prog.add(out, x.dtype, [cond, v, w], lambda n, t, r:
                    f"kiln.select {n[0]}, {n[1]}, {n[2]} : {t[0]}, {t[1]}, {t[2]} -> {r}",
                    np.where, lambda k, c, a, b: k.where(c, a, b), dyn)


def softmax(prog, rng, v):
    x = prog.values[v]
    return prog.add(x.shape, x.dtype, [v], lambda n, t, r:
                    f"kiln.softmax {n[0]} {{axis = -1 : i64}} : {t[0]} -> {r}", softmax_np,
                    lambda k, a: k.nn.softmax(a, axis=-1), x.dyn)


def py_for(dtype, fn):
    """fn, the op through Kiln's Python API, unless it is on bfloat16
    (which Kiln's Python API does not have)."""
    return None if dtype is BF16 else fn


def cast_to(prog, v, to):
    x = prog.values[v]
    return prog.add(x.shape, to, [v], lambda n, t, r: f"kiln.cast {n[0]} : {t[0]} -> {r}",
                    lambda a: a, py_for(to, lambda k, a: k.cast(a, np.dtype(to).name)), x.dyn)


def island(prog, rng, v):
    """A few ops in float16 or bfloat16 between casts from and back to v's
    type (mixed precision, as Keras' mixed_float16 policy computes)."""
    x = prog.values[v]
    prog.lossy = prog.half = True
    h = cast_to(prog, v, rng.choice(HALVES))
    for _ in range(rng.randint(1, 4)):
        h = grow(prog, rng, h)
    return cast_to(prog, h, x.dtype)


def cast(prog, rng, v):
    """A round trip through another type (exact for integers)."""
    x = prog.values[v]
    if x.dtype in FLOATS:
        other = np.float64 if x.dtype == np.float32 else np.float32
        prog.lossy = True  # (f32 rounding: no finite-difference oracle)
    else:
        other = rng.choice([np.float64, np.int64 if x.dtype == np.int32 else np.int32])
        if other == np.int32:
            return v  # (i64 to i32 and back is not a round trip)
    for to in (other, x.dtype):
        v = prog.add(x.shape, to, [v], lambda n, t, r: f"kiln.cast {n[0]} : {t[0]} -> {r}",
                     lambda a, to=to: cast_np(a, to),
                     lambda k, a, to=to: k.cast(a, np.dtype(to).name), x.dyn)
    return v


# --- more op families (fixed extents) ---

def guarded(prog, rng, v):
    """log, log1p, sqrt, rsqrt, reciprocal, pow, log_softmax and erf on
    arguments inside their domains (|x| + 0.5, bounded by tanh where they
    would amplify rounding)."""
    x = prog.values[v]
    name = rng.choice(["log", "log1p", "rsqrt", "reciprocal", "pow", "log_softmax", "erf"])
    if name == "erf":
        return prog.add(x.shape, x.dtype, [v], lambda n, t, r: f"kiln.erf {n[0]} : {t[0]}",
                        np.vectorize(__import__("math").erf, otypes=[np.float64]), None,
                        x.dyn)
    if name == "log_softmax":
        if not x.shape:
            return v
        def log_softmax(a):
            if not a.size:
                return a
            m = np.max(a, axis=-1, keepdims=True)
            return a - m - np.log(np.sum(np.exp(a - m), axis=-1, keepdims=True))
        return prog.add(x.shape, x.dtype, [v], lambda n, t, r:
                        f"kiln.log_softmax {n[0]} {{axis = -1 : i64}} : {t[0]} -> {r}",
                        log_softmax, lambda k, a: k.nn.log_softmax(a, axis=-1), x.dyn)
    a = prog.add(x.shape, x.dtype, [v], lambda n, t, r: f"kiln.abs {n[0]} : {t[0]}", np.abs,
                 py_unary("abs"), x.dyn)
    half = constant(prog, 0.5, x.dtype)
    a = prog.add(x.shape, x.dtype, [a, half], lambda n, t, r:
                 f"kiln.add {n[0]}, {n[1]} : {t[0]}, {t[1]} -> {r}", np.add,
                 lambda k, p, q: k.math.add(p, q), x.dyn)
    if name == "pow":
        e = prog.add(x.shape, x.dtype, [v], lambda n, t, r: f"kiln.tanh {n[0]} : {t[0]}",
                     np.tanh, py_unary("tanh"), x.dyn)
        return prog.add(x.shape, x.dtype, [a, e], lambda n, t, r:
                        f"kiln.pow {n[0]}, {n[1]} : {t[0]}, {t[1]} -> {r}", np.power,
                        lambda k, p, q: k.math.pow(p, q), x.dyn)
    fn = {"log": np.log, "log1p": np.log1p, "rsqrt": lambda b: 1 / np.sqrt(b),
          "reciprocal": lambda b: 1 / b}[name]
    return prog.add(x.shape, x.dtype, [a], lambda n, t, r: f"kiln.{name} {n[0]} : {t[0]}", fn,
                    None, x.dyn)


def pad(prog, rng, v):
    x = prog.values[v]
    if not x.shape:
        return v
    low = [0 if o else rng.randint(0, 2) for o in x.dyn]
    high = [0 if o else rng.randint(0, 2) for o in x.dyn]
    value = rng.choice([0.0, -1.0, 2.5]) if x.dtype in FLOATS else rng.choice([0, 3])
    out = tuple(d + a + b for d, a, b in zip(x.shape, low, high))
    return prog.add(out, x.dtype, [v], lambda n, t, r: (
        f"kiln.pad {n[0]} {{low = {attr_array(low)}, high = {attr_array(high)}, "
        f"value = {float(value)!r} : f64}} : {t[0]} -> {r}"),
        lambda a: np.pad(a, list(zip(low, high)), constant_values=value), None, x.dyn)


def expand_squeeze(prog, rng, v):
    x = prog.values[v]
    ones = [i for i, d in enumerate(x.shape) if d == 1 and not x.dyn[i]]
    if ones and rng.random() < 0.5:
        axes = sorted(rng.sample(ones, rng.randint(1, len(ones))))
        out = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return prog.add(out, x.dtype, [v], lambda n, t, r: (
            f"kiln.squeeze {n[0]} {{axes = {attr_array(axes)}}} : {t[0]} -> {r}"),
            lambda a: np.squeeze(a, tuple(axes)), lambda k, a: k.squeeze(a, axes),
            [o for i, o in enumerate(x.dyn) if i not in axes])
    axis = rng.randint(-len(x.shape) - 1, len(x.shape))
    out = np.expand_dims(np.zeros(x.shape), axis).shape
    dyn = list(x.dyn)
    dyn.insert(axis % (len(x.shape) + 1), False)
    return prog.add(out, x.dtype, [v], lambda n, t, r: (
        f"kiln.expand_dims {n[0]} {{axis = {axis} : i64}} : {t[0]} -> {r}"),
        lambda a: np.expand_dims(a, axis), lambda k, a: k.expand_dims(a, axis), dyn)


def broadcast_to(prog, rng, v):
    x = prog.values[v]
    out = tuple(rng.choice([0, 2, 3]) if d == 1 else d for d in x.shape)
    if rng.random() < 0.5 and len(out) < 4:
        out = (rng.choice([1, 2]),) + out
    return prog.add(out, x.dtype, [v], lambda n, t, r: f"kiln.broadcast_to {n[0]} : {t[0]} -> {r}",
                    lambda a: np.broadcast_to(a, out), lambda k, a: k.broadcast_to(a, out))


def int_constant(prog, values, dtype):
    values = np.asarray(values, dtype)
    text = "[" + ", ".join(str(int(i)) for i in values) + "]" if values.ndim else str(int(values))
    return prog.add(values.shape, dtype, [], lambda n, t, r: f"kiln.constant dense<{text}> : {r}",
                    lambda: values, lambda k: k.constant(values))


def nonempty_axis(prog, rng, v):
    """A random axis of v with a nonzero extent, or None."""
    axes = [i for i, d in enumerate(prog.values[v].shape) if d > 0]
    return rng.choice(axes) if axes else None


def gather(prog, rng, v):
    x = prog.values[v]
    axis = nonempty_axis(prog, rng, v)
    if axis is None:
        return v
    ids = int_constant(prog, [rng.randrange(x.shape[axis]) for _ in range(rng.randint(1, 4))],
                       rng.choice([np.int32, np.int64]))
    count = prog.values[ids].shape[0]
    out = x.shape[:axis] + (count,) + x.shape[axis + 1:]
    # (a table open along the axis too: the ids are within this run's extent)
    dyn = x.dyn[:axis] + (False,) + x.dyn[axis + 1:]
    return prog.add(out, x.dtype, [v, ids], lambda n, t, r: (
        f"kiln.gather {n[0]}, {n[1]} {{axis = {axis} : i64}} : {t[0]}, {t[1]} -> {r}"),
        lambda a, i: np.take(a, i, axis=axis), lambda k, a, i: k.gather(a, i, axis=axis),
        dyn)


def argmax(prog, rng, v):
    """argmax or argmin (first of ties, as NumPy), cast back to the type."""
    x = prog.values[v]
    axis = nonempty_axis(prog, rng, v)
    if axis is None:
        return v
    name = rng.choice(["argmax", "argmin"])
    out = x.shape[:axis] + x.shape[axis + 1:]
    fn = np.argmax if name == "argmax" else np.argmin
    i = prog.add(out, np.int64, [v], lambda n, t, r: (
        f"kiln.{name} {n[0]} {{axis = {axis} : i64}} : {t[0]} -> {r}"),
        lambda a: fn(a, axis=axis), lambda k, a: getattr(k.math, name)(a, axis=axis))
    return prog.add(out, x.dtype, [i], lambda n, t, r: f"kiln.cast {n[0]} : {t[0]} -> {r}",
                    lambda a: a.astype(x.dtype), lambda k, a: k.cast(a, np.dtype(x.dtype).name))


def batch_matmul(prog, rng, v):
    x = prog.values[v]
    if len(x.shape) != 3:
        return v
    # (Open extents: the weight's depth is open where x's is, and may be
    # open in its columns too.)
    w = prog.new_arg((x.shape[2], rng.choice(EXTENTS)), x.dtype,
                     (x.dyn[2], x.dyn[2] and rng.random() < 0.5) if any(x.dyn) else None)
    out = x.shape[:2] + (prog.values[w].shape[1],)
    return prog.add(out, x.dtype, [v, w], lambda n, t, r: (
        f"kiln.batch_matmul {n[0]}, {n[1]} : {t[0]}, {t[1]} -> {r}"), np.matmul,
        lambda k, a, b: k.matmul(a, b), x.dyn[:2] + (prog.values[w].dyn[1],))


def to_image(prog, v):
    """v (rank 2 or 3, no empty extent) as a batch of one NHWC image; v
    open in its first extent only (rank 3 or 4) as a batch of that many."""
    x = prog.values[v]
    if any(x.dyn):
        if len(x.shape) not in (2, 3, 4) or not x.dyn[0] or any(x.dyn[1:]) or \
                0 in x.shape[1:]:
            return None
        if len(x.shape) == 4:
            return v
        if len(x.shape) == 2:  # (rows as images of one column)
            v = prog.add(x.shape + (1,), x.dtype, [v], lambda n, t, r: (
                f"kiln.expand_dims {n[0]} {{axis = 2 : i64}} : {t[0]} -> {r}"),
                lambda a: a[..., None], lambda k, a: k.expand_dims(a, 2), x.dyn + (False,))
            x = prog.values[v]
        return prog.add(x.shape + (1,), x.dtype, [v], lambda n, t, r: (
            f"kiln.expand_dims {n[0]} {{axis = 3 : i64}} : {t[0]} -> {r}"),
            lambda a: a[..., None], lambda k, a: k.expand_dims(a, 3), x.dyn + (False,))
    if len(x.shape) not in (2, 3) or 0 in x.shape:
        return None
    out = (1,) + x.shape + ((1,) if len(x.shape) == 2 else ())
    return prog.add(out, x.dtype, [v], lambda n, t, r: f"kiln.reshape {n[0]} : {t[0]} -> {r}",
                    lambda a: a.reshape(out), lambda k, a: k.reshape(a, out))


def window_pads(size, k, stride, same):
    if same:
        out = -(-size // stride)
        total = max((out - 1) * stride + k - size, 0)
        return out, total // 2, total - total // 2
    return (size - k) // stride + 1, 0, 0


def conv_np(x, w, strides, same):
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    oh, pt, pb = window_pads(h, kh, strides[0], same)
    ow, pl, pr = window_pads(wd, kw, strides[1], same)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    y = np.zeros((n, oh, ow, f), x.dtype)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i:i + (oh - 1) * strides[0] + 1:strides[0],
                       j:j + (ow - 1) * strides[1] + 1:strides[1], :]
            y += patch @ w[i, j]
    return y


def conv2d(prog, rng, v):
    img = to_image(prog, v)
    if img is None:
        return v
    _, h, wd, c = prog.values[img].shape
    same = rng.random() < 0.5
    kh, kw = rng.randint(1, 3 if same else min(h, 3)), rng.randint(1, 3 if same else min(wd, 3))
    strides = [rng.choice([1, 1, 2]), rng.choice([1, 2])]
    w = prog.new_arg((kh, kw, c, rng.choice([1, 2, 3])), prog.values[v].dtype)
    batch = prog.values[img].shape[0]  # (open: the batch of an open image)
    out = (batch, window_pads(h, kh, strides[0], same)[0],
           window_pads(wd, kw, strides[1], same)[0], prog.values[w].shape[3])
    padding = "SAME" if same else "VALID"
    return prog.add(out, prog.values[v].dtype, [img, w], lambda n, t, r: (
        f"kiln.conv2d {n[0]}, {n[1]} {{padding = #kiln.padding<{padding}>, strides = "
        f"{attr_array(strides)}}} : {t[0]}, {t[1]} -> {r}"),
        lambda a, b: conv_np(a, b, strides, same), dyn=prog.values[img].dyn)


def pool_np(x, window, strides, same, kind):
    n, h, wd, c = x.shape
    oh, pt, pb = window_pads(h, window[0], strides[0], same)
    ow, pl, pr = window_pads(wd, window[1], strides[1], same)
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill)
    ones = np.pad(np.ones_like(x), ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    y = np.full((n, oh, ow, c), fill, x.dtype)
    count = np.zeros((n, oh, ow, c), x.dtype)
    for i in range(window[0]):
        for j in range(window[1]):
            idx = (slice(None), slice(i, i + (oh - 1) * strides[0] + 1, strides[0]),
                   slice(j, j + (ow - 1) * strides[1] + 1, strides[1]))
            if kind == "max":
                y = np.maximum(y, xp[idx])
            else:
                y = y + xp[idx]
                count = count + ones[idx]
    return y if kind == "max" else y / count


def pool(prog, rng, v):
    """Max or average pooling (averages over the window's elements inside
    the image, as TensorFlow's SAME padding does)."""
    img = to_image(prog, v)
    if img is None:
        return v
    _, h, wd, c = prog.values[img].shape
    same = rng.random() < 0.5
    kind = rng.choice(["max", "avg"])
    window = [rng.randint(1, 2 if same else min(h, 2)), rng.randint(1, 2 if same else min(wd, 2))]
    strides = [rng.choice([1, 2]), rng.choice([1, 2])]
    out = (prog.values[img].shape[0], window_pads(h, window[0], strides[0], same)[0],
           window_pads(wd, window[1], strides[1], same)[0], c)
    padding = "SAME" if same else "VALID"
    return prog.add(out, prog.values[v].dtype, [img], lambda n, t, r: (
        f"kiln.{kind}_pool2d {n[0]} {{window = {attr_array(window)}, strides = "
        f"{attr_array(strides)}, padding = #kiln.padding<{padding}>}} : {t[0]} -> {r}"),
        lambda a: pool_np(a, window, strides, same, kind), dyn=prog.values[img].dyn)


def cross_entropy(prog, rng, v):
    """Softmax cross-entropy of logits v (rank 2) with soft labels (an
    argument, made a distribution by softmax) or class ids."""
    x = prog.values[v]
    if len(x.shape) != 2 or 0 in x.shape:
        return v

    # TensorFlow's formulas (log-sum-exp of the shifted logits minus the
    # shifted logit), not -log_softmax: they differ in the sign of an exact
    # zero loss (one class), which a later division turns into +-inf.
    def nll(a):
        shifted = a - np.max(a, axis=-1, keepdims=True)
        return np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True)) - shifted
    if rng.random() < 0.5:
        ids = int_constant(prog, [rng.randrange(x.shape[1]) for _ in range(x.shape[0])],
                           rng.choice([np.int32, np.int64]))
        return prog.add((x.shape[0],), x.dtype, [v, ids], lambda n, t, r: (
            f"kiln.sparse_softmax_cross_entropy {n[0]}, {n[1]} : {t[0]}, {t[1]} -> {r}"),
            lambda a, i: np.take_along_axis(nll(a), i[:, None].astype(np.int64), 1)[:, 0])
    raw = prog.new_arg(x.shape, x.dtype)
    labels = softmax(prog, rng, raw)
    return prog.add((x.shape[0],), x.dtype, [v, labels], lambda n, t, r: (
        f"kiln.softmax_cross_entropy {n[0]}, {n[1]} : {t[0]}, {t[1]} -> {r}"),
        lambda a, y: np.sum(y * nll(a), axis=-1))


def one_hot(prog, rng, v):
    """v times a one-hot encoding of constant ids (depth = v's last extent)."""
    x = prog.values[v]
    if not x.shape or x.shape[-1] == 0:
        return v
    depth = x.shape[-1]
    ids = int_constant(prog, [rng.randrange(-1, depth) for _ in range(x.shape[-2] if
                                                                 len(x.shape) > 1 else 1)],
                       np.int64)
    count = prog.values[ids].shape[0]
    oh = prog.add((count, depth), x.dtype, [ids], lambda n, t, r: (
        f"kiln.one_hot {n[0]} {{depth = {depth} : i64}} : {t[0]} -> {r}"),
        lambda i: (i[:, None] == np.arange(depth)[None, :]).astype(x.dtype))
    out = np.broadcast_shapes(x.shape, (count, depth))
    return prog.add(out, x.dtype, [v, oh], lambda n, t, r:
                    f"kiln.mul {n[0]}, {n[1]} : {t[0]}, {t[1]} -> {r}", np.multiply)


def grow(prog, rng, v):
    """Adds one random op on value `v`; returns the result."""
    x = prog.values[v]
    shape, dtype, rank = x.shape, x.dtype, len(x.shape)
    static = prog.static(v)
    integer = dtype not in FLOATS
    kinds = ["unary"] * 3 + ["binary"] * 3 + ["reduce", "reshape", "matmul", "select", "cast"]
    if dtype in FLOATS:
        kinds += ["softmax", "guarded"]
    if static:
        kinds += ["transpose", "slice", "concat", "pad", "expand_squeeze", "broadcast_to",
                  "gather", "argmax", "batch_matmul"]
        if dtype in FLOATS:
            kinds += ["conv2d", "pool", "cross_entropy", "one_hot"]
        if not prog.dynamic and len(prog.scopes) < 3:
            kinds += ["for", "while", "cond"] * prog.control_weight
    else:  # (moves of data that keep open extents: taken whole, never padded)
        kinds += ["transpose", "slice", "concat", "pad", "expand_squeeze", "batch_matmul",
                  "gather"]
        if dtype in FLOATS and x.dyn[0] and not any(x.dyn[1:]) and rank in (2, 3, 4):
            kinds += ["conv2d", "pool"] * 2  # (over an open batch)
    if dtype in HALVES:  # (an island: no casts, control flow or one-hot inside)
        kinds = [k for k in kinds if k not in ("cast", "argmax", "one_hot", "for", "while",
                                               "cond")]
    elif dtype in FLOATS:
        kinds.append("half")
    kind = rng.choice(kinds)
    builders = {"unary": unary, "binary": binary, "select": select, "for": loop_for,
                "while": loop_while, "cond": branch, "guarded": guarded, "pad": pad,
                "expand_squeeze": expand_squeeze, "broadcast_to": broadcast_to,
                "gather": gather, "argmax": argmax, "batch_matmul": batch_matmul,
                "conv2d": conv2d, "pool": pool, "cross_entropy": cross_entropy,
                "one_hot": one_hot, "half": island}
    if kind in builders:
        return builders[kind](prog, rng, v)
    if kind == "softmax" and rank:
        return softmax(prog, rng, v)
    if kind == "cast":
        return cast(prog, rng, v)
    if kind == "reduce" and rank:
        axes = sorted(rng.sample(range(rank), rng.randint(1, rank)))
        name = rng.choice(["reduce_sum", "reduce_max", "reduce_min"] +
                          ([] if integer else ["reduce_mean"]))
        if name != "reduce_sum" and any(shape[a] == 0 for a in axes):
            name = "reduce_sum"  # (NumPy has no max or mean of nothing)
        keep = rng.random() < 0.3
        out = [1 if i in axes else d for i, d in enumerate(shape)] if keep else \
            [d for i, d in enumerate(shape) if i not in axes]
        dyn = [False if i in axes else o for i, o in enumerate(x.dyn)] if keep else \
            [o for i, o in enumerate(x.dyn) if i not in axes]
        fn = {"reduce_sum": np.sum, "reduce_mean": np.mean, "reduce_max": np.max,
              "reduce_min": np.min}[name]
        keepattr = ", keepdims = true" if keep else ""
        return prog.add(out, dtype, [v], lambda n, t, r: (
            f"kiln.{name} {n[0]} {{axes = {attr_array(axes)}{keepattr}}} : {t[0]} -> {r}"),
            lambda a: fn(a, axis=tuple(axes), keepdims=keep),
            lambda k, a: getattr(k, name)(a, axis=axes, keepdims=keep), dyn)
    if kind == "transpose" and rank >= 2:
        perm = list(range(rank))
        rng.shuffle(perm)
        out = tuple(shape[p] for p in perm)
        return prog.add(out, dtype, [v], lambda n, t, r: (
            f"kiln.transpose {n[0]} {{permutation = {attr_array(perm)}}} : {t[0]} -> {r}"),
            lambda a: np.transpose(a, perm), lambda k, a: k.transpose(a, perm),
            [x.dyn[p] for p in perm])
    if kind == "reshape":
        size = int(np.prod(shape, dtype=np.int64))
        choices = [(size,)] + [(a, size // a) for a in (1, 2, 3, 5) if size and size % a == 0]
        out = rng.choice(choices)
        dyn = [False] * len(out)
        # An open extent in the result: the element count over the others
        # (never over a 0).
        if not static and rng.random() < 0.5 and int(np.prod(out[1:], dtype=np.int64)) > 0:
            dyn[0] = True
        return prog.add(out, dtype, [v], lambda n, t, r: f"kiln.reshape {n[0]} : {t[0]} -> {r}",
                        lambda a: np.reshape(a, out), lambda k, a: k.reshape(a, out), dyn)
    if kind == "slice" and rank:
        start, limit, stride, index = [], [], [], []
        for d, open_ in zip(shape, x.dyn):
            if open_:  # (taken whole: limit -1)
                start.append(0), limit.append(-1), stride.append(1)
                index.append(slice(None))
                continue
            a = rng.randint(0, d)
            b = rng.randint(a, d)
            start.append(a), limit.append(b), stride.append(rng.choice([1, 1, 2, 3]))
            index.append(slice(a, b, stride[-1]))
        out = tuple(d if c == -1 else len(range(a, c, b))
                    for d, a, c, b in zip(shape, start, limit, stride))
        index = tuple(index)
        return prog.add(out, dtype, [v], lambda n, t, r: (
            f"kiln.slice {n[0]} {{start = {attr_array(start)}, limit = {attr_array(limit)}, "
            f"stride = {attr_array(stride)}}} : {t[0]} -> {r}"),
            lambda a: a[index], lambda k, a: a[index], x.dyn)
    fixed = [i for i in range(rank) if not x.dyn[i]]
    if kind == "concat" and rank:  # (along a fixed axis, or an open one)
        axis = rng.choice(fixed) if fixed and rng.random() < 0.6 else rng.randrange(rank)
        out = tuple(d * 2 if i == axis else d for i, d in enumerate(shape))
        return prog.add(out, dtype, [v, v], lambda n, t, r: (
            f"kiln.concat {n[0]}, {n[1]} {{axis = {axis} : i64}} : ({t[0]}, {t[1]}) -> {r}"),
            lambda a, b: np.concatenate([a, b], axis), lambda k, a, b: k.concat([a, b], axis),
            x.dyn)
    if kind == "matmul" and rank == 2:
        w = prog.new_arg((shape[1], rng.choice(EXTENTS)), dtype,
                         (False, not static and rng.random() < 0.5))
        out = (shape[0], prog.values[w].shape[1])
        dyn = (x.dyn[0], prog.values[w].dyn[1])
        return prog.add(out, dtype, [v, w], lambda n, t, r: (
            f"kiln.matmul {n[0]}, {n[1]} : {t[0]}, {t[1]} -> {r}"), np.matmul,
            lambda k, a, b: k.matmul(a, b), dyn)
    return v  # (the op did not fit this value)


def grow_same(prog, rng, v):
    """One op that keeps v's type (a loop's body, a branch)."""
    kind = rng.choice(["unary", "unary", "binary", "binary", "select", "softmax", "nested"])
    if kind == "unary":
        return unary(prog, rng, v)
    if kind == "binary":
        return binary(prog, rng, v, same=True)
    if kind == "select":
        return select(prog, rng, v, same=True)
    if kind == "softmax" and prog.values[v].shape and prog.values[v].dtype in FLOATS:
        return softmax(prog, rng, v)
    if kind == "nested" and len(prog.scopes) < 3:
        return rng.choice([loop_for, loop_while, branch])(prog, rng, v)
    return v


def chain(prog, rng, v, most=3):
    for _ in range(rng.randint(1, most)):
        v = grow_same(prog, rng, v)
    return v


def captures(prog, ops, defined):
    """Outer values the ops use (for liveness)."""
    inner = set(defined) | {op.result for op in ops}
    used = []
    for op in ops:
        for o in op.operands + op.captures:
            if o not in inner and o not in used:
                used.append(o)
    return used


def loop_for(prog, rng, v):
    x = prog.values[v]
    lb, st = rng.choice([0, 1]), rng.choice([1, 1, 2])
    ub = lb + rng.randint(0, 5)
    bounds = [constant(prog, b, np.int64) for b in (lb, ub, st)]
    prog.push()
    i, c = prog.value((), np.int64), prog.value(x.shape, x.dtype, x.dyn)
    y = c
    if rng.random() < 0.5:
        f = prog.add((), x.dtype, [i], lambda n, t, r: f"kiln.cast {n[0]} : {t[0]} -> {r}",
                     lambda a: cast_np(a, x.dtype))
        y = prog.add(x.shape, x.dtype, [y, f], lambda n, t, r:
                     f"kiln.mul {n[0]}, {n[1]} : {t[0]}, {t[1]} -> {r}", np.multiply, None, x.dyn)
    y = chain(prog, rng, y)
    body = prog.pop()

    def mlir(n, t, r, render, indent):
        return (f"kiln.for {n[0]} to {n[1]} step {n[2]} iter_args({n[3]} : {t[3]}) do {{\n"
                f"{indent}^bb0(%v{i}: tensor<i64>, %v{c}: {t[3]}):\n" +
                "".join(line + "\n" for line in render(body)) +
                f"{indent}    kiln.yield {prog.name(y)} : {t[3]}\n{indent}}}")

    def numpy(env):
        value = env[v]
        for k in range(lb, ub, st):
            env[i], env[c] = np.asarray(k, np.int64), value
            prog.run_ops(body, env)
            value = env[y]
        return value
    return prog.add(x.shape, x.dtype, bounds + [v], mlir, numpy, None, x.dyn, region=True,
                    captures=captures(prog, body, [i, c]))


def loop_while(prog, rng, v):
    """A counter below a limit and, at times, a data-dependent test: the
    sum of the carried value below a threshold."""
    x = prog.values[v]
    zero = constant(prog, 0, np.int64)
    limit = constant(prog, rng.randint(0, 4), np.int64)
    prog.push()
    c1, k1 = prog.value(x.shape, x.dtype, x.dyn), prog.value((), np.int64)
    p = prog.add((), np.bool_, [k1, limit], lambda n, t, r:
                 f"kiln.compare lt, {n[0]}, {n[1]} : {t[0]}, {t[1]} -> {r}", np.less)
    if rng.random() < 0.5:
        axes = attr_array(list(range(len(x.shape))))
        s = prog.add((), x.dtype, [c1], lambda n, t, r:
                     f"kiln.reduce_sum {n[0]} {{axes = {axes}}} : {t[0]} -> {r}", np.sum)
        bound = constant(prog, rng.choice([-1, 0, 2, 10]) + 0.5 * (x.dtype in FLOATS),
                         x.dtype)
        q = prog.add((), np.bool_, [s, bound], lambda n, t, r:
                     f"kiln.compare lt, {n[0]}, {n[1]} : {t[0]}, {t[1]} -> {r}", np.less)
        p = prog.add((), np.bool_, [p, q], lambda n, t, r:
                     f"kiln.logical_and {n[0]}, {n[1]} : {t[0]}, {t[1]} -> {r}", np.logical_and)
    test = prog.pop()
    prog.push()
    c2, k2 = prog.value(x.shape, x.dtype, x.dyn), prog.value((), np.int64)
    y = chain(prog, rng, c2)
    one = constant(prog, 1, np.int64)
    k3 = prog.add((), np.int64, [k2, one], lambda n, t, r:
                  f"kiln.add {n[0]}, {n[1]} : {t[0]}, {t[1]} -> {r}", np.add)
    body = prog.pop()

    def mlir(n, t, r, render, indent):
        carried = f"{t[1]}, tensor<i64>"
        return (f"kiln.while ({n[1]}, {n[0]} : {carried}) cond {{\n"
                f"{indent}^bb0(%v{c1}: {t[1]}, %v{k1}: tensor<i64>):\n" +
                "".join(line + "\n" for line in render(test)) +
                f"{indent}    kiln.condition({prog.name(p)}) %v{c1}, %v{k1} : {carried}\n"
                f"{indent}}} do {{\n"
                f"{indent}^bb0(%v{c2}: {t[1]}, %v{k2}: tensor<i64>):\n" +
                "".join(line + "\n" for line in render(body)) +
                f"{indent}    kiln.yield {prog.name(y)}, {prog.name(k3)} : {carried}\n"
                f"{indent}}}")

    def numpy(env):
        value, count = env[v], env[zero]
        while True:
            env[c1], env[k1] = value, count
            prog.run_ops(test, env)
            if not env[p]:
                return value
            env[c2], env[k2] = value, count
            prog.run_ops(body, env)
            value, count = env[y], env[k3]
    result = prog.add(x.shape, x.dtype, [zero, v], mlir, numpy, None, x.dyn, region=True,
                      captures=captures(prog, test + body, [c1, k1, c2, k2]), nresults=2)
    prog.multi.add(result)
    return result


def branch(prog, rng, v):
    """kiln.cond on the sign of the value's sum, each branch its own chain."""
    x = prog.values[v]
    axes = attr_array(list(range(len(x.shape))))
    s = prog.add((), x.dtype, [v], lambda n, t, r:
                 f"kiln.reduce_sum {n[0]} {{axes = {axes}}} : {t[0]} -> {r}", np.sum)
    zero = constant(prog, 0, x.dtype)
    p = prog.add((), np.bool_, [s, zero], lambda n, t, r:
                 f"kiln.compare gt, {n[0]}, {n[1]} : {t[0]}, {t[1]} -> {r}", np.greater)
    branches = []
    for _ in range(2):
        prog.push()
        y = chain(prog, rng, v, most=2) if rng.random() < 0.8 else v
        branches.append((prog.pop(), y))

    def mlir(n, t, r, render, indent):
        def block(ops, y):
            return "".join(line + "\n" for line in render(ops)) + \
                f"{indent}    kiln.yield {prog.name(y)} : {r}\n"
        return (f"kiln.cond {n[0]} -> ({r}) {{\n" + block(*branches[0]) +
                f"{indent}}} else {{\n" + block(*branches[1]) + f"{indent}}}")

    def numpy(env):
        ops, y = branches[0] if env[p] else branches[1]
        prog.run_ops(ops, env)
        return env[y]
    used = captures(prog, branches[0][0] + branches[1][0], [])
    used += [y for _, y in branches if y not in used]
    return prog.add(x.shape, x.dtype, [p], mlir, numpy, None, x.dyn, region=True,
                    captures=used)


def generate(rng, focus="all", train_share=0.4, open_share=0.2):
    """A random program and its outputs. focus "train-control": training
    steps only (drawn until one is), control flow three times as likely;
    "half": programs with float16 or bfloat16 ops only; "open": programs
    with open extents only."""
    if focus == "open":
        open_share = 1.0
    while True:
        prog, outputs = generate_one(rng, focus == "train-control", train_share,
                                     open_share)
        wanted = {"all": True, "train-control": prog.train, "half": prog.half,
                  "open": prog.dynamic}[focus]
        if wanted:
            return prog, outputs


def generate_one(rng, train_control, train_share, open_share):
    dtype = np.float64 if train_control else \
        rng.choice([np.float32, np.float64, np.float64, np.int32, np.int64])
    prog = Program(dtype)
    prog.control_weight = 3 if train_control else 1
    if dtype in FLOATS and not train_control and rng.random() < open_share:
        prog.dynamic = True
    rank = rng.randint(0, 3)
    dyn = [prog.dynamic and rng.random() < 0.5 for _ in range(rank)]
    v = prog.new_arg([rng.choice(EXTENTS) for _ in range(rank)], dtype, dyn)
    for _ in range(rng.randint(1, 8)):
        candidates = [u for u, x in enumerate(prog.values)
                      if x.dtype == dtype and prog.visible(u)]
        v = grow(prog, rng, rng.choice(candidates[-3:]))
    size = int(np.prod(prog.values[prog.args[0]].shape, dtype=np.int64))
    if dtype == np.float64 and not prog.dynamic and not prog.lossy and \
            (train_control or rng.random() < train_share) and 0 < size <= 12 and \
            prog.values[v].dtype == np.float64:
        prog.train = rng.choice(["sgd", "momentum", "nesterov", "adam"])
        prog.lr = rng.choice([0.01, 0.05, 0.1])
        prog.steps = rng.randint(1, 3)
    return prog, [v]


def inputs_for(prog, rng):
    out = []
    gen = np.random.default_rng(rng.randrange(1 << 30))
    for a in prog.args:
        x = prog.values[a]
        if x.dtype in FLOATS:
            out.append(np.asarray(gen.normal(size=x.shape) * 2, dtype=x.dtype))
        else:
            out.append(gen.integers(-9, 10, size=x.shape).astype(x.dtype))
    prog.initial = out[0]
    return out


def tolerance(dtype):
    if dtype == np.float32:
        return dict(rtol=2e-4, atol=1e-5)
    if dtype == np.float64:
        return dict(rtol=1e-9, atol=1e-12)
    return dict(rtol=0, atol=0)


def half_tolerance(want):
    """A program with half-precision ops: 1% of the largest output (two
    or three units in bfloat16's last place, 2^-8; more in float16's),
    room for last-place differences the ops after them grow. What this
    finds is lost roundings behind a discontinuity (floor, a comparison),
    wrong indices, fusions, casts and accumulators."""
    finite = np.abs(want[np.isfinite(want)]) if want.size else want
    scale = max(1.0, float(np.max(finite, initial=0)))
    return dict(rtol=1e-2, atol=1e-2 * scale)


def compare(got, want, what, half=False):
    for i, (g, w) in enumerate(zip(got, want)):
        g = np.asarray(g)
        if g.shape != w.shape:
            return f"{what}: output {i} has shape {g.shape}, NumPy {w.shape}"
        try:
            np.testing.assert_allclose(g, w, equal_nan=True, **(
                half_tolerance(w) if half and w.dtype.kind == "f" else tolerance(w.dtype.type)))
        except AssertionError as e:
            return f"{what}: output {i} differs from NumPy:{str(e)[:800]}"
    return None


# --- training steps: NumPy's optimizers with central-difference gradients ---

def central_gradient(f, w):
    g = np.zeros_like(w)
    h = 1e-6
    for j in range(w.size):
        e = np.zeros_like(w)
        e.flat[j] = h
        g.flat[j] = (f(w + e) - f(w - e)) / (2 * h)
    return g


def train_reference(prog, output, inputs):
    """The last step's loss and the variable after prog.steps steps; None
    when the program has no finite-difference oracle (a NaN or an infinity
    on the way)."""
    def loss(w):
        return float(np.sum(prog.evaluate([w] + list(inputs[1:]), [output])[0] * prog.weights))
    w = np.array(inputs[0], np.float64)
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t in range(1, prog.steps + 1):
        values = prog.evaluate([w] + list(inputs[1:]), None, everything=True)
        if any(np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x))
               for x in values.values()):
            return None
        with np.errstate(all="ignore"):
            l, g = loss(w), central_gradient(loss, w)
        if not np.all(np.isfinite(g)) or np.max(np.abs(g), initial=0) > 1e6:
            return None
        lr = prog.lr
        if prog.train == "sgd":
            w = w - lr * g
        elif prog.train in ("momentum", "nesterov"):
            m = 0.8 * m - lr * g
            w = w + (0.8 * m - lr * g if prog.train == "nesterov" else m)
        else:
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            w = w - lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-7)
    return [np.asarray(l), w]


def expected(prog, outputs, inputs):
    """What NumPy says the entry returns; None when there is no oracle."""
    if prog.train:
        return train_reference(prog, outputs[0], inputs)
    return prog.evaluate(inputs, outputs)


def train_tolerance(prog):
    # Central differences are good to about 1e-8 here; Adam divides by the
    # root of the squared gradient, which makes a gradient of 0 that
    # central differences see as 1e-10 a step of lr * 1e-3.
    return dict(rtol=1e-5, atol=1e-4 * prog.lr if prog.train == "adam" else 1e-7)


def compare_train(got, want, what, prog, outputs):
    # A NaN gradient at a singular point (see check_gradient) makes every
    # later step NaN; central differences do not see it.
    if any(np.isnan(np.asarray(g)).any() for g in got) and \
            has_singular_ops(prog.text(outputs)):
        return None
    for i, (g, w) in enumerate(zip(got, want)):
        if np.shape(g) != np.shape(w):
            return f"{what}: output {i} has shape {np.shape(g)}, NumPy {np.shape(w)}"
        try:
            np.testing.assert_allclose(g, w, **train_tolerance(prog))
        except AssertionError as e:
            return f"{what}: {'loss' if i == 0 else 'variable'} differs from NumPy's " \
                   f"{prog.train} with central differences:{str(e)[:800]}"
    return None


def write_inputs(inputs, workdir):
    paths = []
    for i, x in enumerate(inputs):
        paths.append(os.path.join(workdir, f"in{i}.npy"))
        np.save(paths[-1], x)
    return paths


def tool(cmd, name):
    """None if the command succeeds, else what went wrong."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=ENV)
    except subprocess.TimeoutExpired:
        return f"{name} timed out"
    if proc.returncode != 0:
        return f"{name} failed ({proc.returncode}): {proc.stdout[-500:]}{proc.stderr[-1500:]}"
    return None


def write_module(prog, outputs, workdir):
    path = os.path.join(workdir, "p.mlir")
    with open(path, "w") as f:
        f.write(prog.text(outputs))
    return path


def execute(cmd, name, prog, outputs, inputs, workdir, out):
    """Runs `cmd` with the program's inputs, its outputs going to `out`;
    the outputs (the loss and the variable for training steps), or what
    went wrong (a string)."""
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    cmd = cmd + ["--output-dir", out, "--repeat", str(prog.steps)]
    for p in write_inputs(inputs[1:] if prog.train else inputs, workdir):
        cmd += ["--input", p]
    problem = tool(cmd, name)
    if problem:
        return problem
    count = 2 if prog.train else len(outputs)
    return [np.load(os.path.join(out, f"{i}.npy")) for i in range(count)]


def run_jit(prog, outputs, inputs, workdir):
    """tensor-run's outputs, or what went wrong (a string)."""
    path = write_module(prog, outputs, workdir)
    return execute([TENSOR_RUN, path, "--entry", "step" if prog.train else "f"], "tensor-run",
                   prog, outputs, inputs, workdir, os.path.join(workdir, "out"))


def run_emulated(prog, outputs, inputs, workdir):
    """The module compiled for the GPU (a cubin for sm_90: ptxas accepts
    its PTX), then run with the GPU kernels emulated on the host."""
    path = write_module(prog, outputs, workdir)
    problem = tool([TENSOR_OPT, path, "--kiln-gpu-pipeline=chip=sm_90 format=bin",
                    "-o", os.devnull], "the GPU pipeline (sm_90)")
    if problem:
        return problem
    return execute([TENSOR_RUN, path, "--emulate-gpu-kernels", "--entry",
                    "step" if prog.train else "f"], "tensor-run --emulate-gpu-kernels",
                   prog, outputs, inputs, workdir, os.path.join(workdir, "emulated"))


def run_aot(prog, outputs, inputs, workdir):
    """The same module through tensor-compile and kiln-replay."""
    path = write_module(prog, outputs, workdir)
    lib = os.path.join(workdir, "lib")
    shutil.rmtree(lib, ignore_errors=True)
    problem = tool([TENSOR_COMPILE, path, "-o", os.path.join(lib, "p")], "tensor-compile")
    if problem:
        return problem
    return execute([KILN_REPLAY, os.path.join(lib, "libp.so"), "--entry",
                    "step" if prog.train else "f"], "kiln-replay", prog, outputs, inputs,
                   workdir, os.path.join(workdir, "aot"))


KILN = None


def kiln_module():
    global KILN
    if KILN is None:
        sys.path.insert(0, os.path.join(BUILD, "python_packages"))
        import kiln
        KILN = kiln
    return KILN


def run_python(prog, outputs, inputs, traced):
    """The ops through Kiln's Python API, eagerly or in a @kiln.function."""
    k = kiln_module()

    def program(*args):
        env = dict(zip(prog.args, args))
        for op in prog.ops:
            env[op.result] = op.py(k, *[env[o] for o in op.operands])
        return [env[o] for o in outputs]
    fn = k.function(program) if traced else program
    try:
        return [np.asarray(t.numpy() if hasattr(t, "numpy") else t)
                for t in fn(*[k.constant(x) for x in inputs])]
    except Exception as e:  # noqa: BLE001 - any error is a finding
        return f"Python ({'@kiln.function' if traced else 'eager'}) raised " \
               f"{type(e).__name__}: {str(e)[:1200]}"


def in_child(work, what):
    """work() in a forked child, so that a crash of Kiln's Python module is a
    finding, not the end of the run: its result, or (a string) what went
    wrong."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: Kiln is imported here, never in the parent
        os.close(read)
        try:
            result = work()
        except BaseException as e:  # noqa: BLE001
            result = f"Python raised {type(e).__name__}: {str(e)[:1200]}"
        with os.fdopen(write, "wb") as f:
            pickle.dump(result, f)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) or not data:
        why = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else "no result"
        return f"Python ({what}) crashed ({why})"
    return pickle.loads(data)


def run_python_isolated(prog, outputs, inputs, modes):
    """run_python for each of `modes`, in a child: {mode: outputs or what
    went wrong}."""
    def work():
        results = {}
        for mode in modes:
            try:
                results[mode] = run_python(prog, outputs, inputs, mode == "traced")
            except BaseException as e:  # noqa: BLE001
                results[mode] = f"Python raised {type(e).__name__}: {str(e)[:1200]}"
        return results
    results = in_child(work, ", ".join(modes))
    return {mode: results for mode in modes} if isinstance(results, str) else results


TAPED = [0]  # gradients also taken by a GradientTape


def tape_gradient(prog, output, inputs, weights):
    """The eager GradientTape's gradient of sum(output * weights) with
    respect to the first argument (the ops run eagerly under the tape), in
    a child: an array, or what went wrong."""
    def work():
        k = kiln_module()
        args = [k.constant(x) for x in inputs]
        with k.GradientTape() as tape:
            tape.watch(args[0])
            env = dict(zip(prog.args, args))
            for op in prog.ops:
                env[op.result] = op.py(k, *[env[o] for o in op.operands])
            loss = k.reduce_sum(env[output] * k.constant(weights))
        g = tape.gradient(loss, args[0])
        return np.zeros_like(inputs[0]) if g is None else np.asarray(g.numpy())
    return in_child(work, "GradientTape")


def check(prog, outputs, inputs, workdir, modes):
    """None if every execution in `modes` ("jit", "aot", "gpu", "eager", "traced")
    agrees with NumPy, else what went wrong."""
    want = expected(prog, outputs, inputs)
    python = [m for m in modes if m in ("eager", "traced")]
    from_python = run_python_isolated(prog, outputs, inputs, python) if python else {}
    for mode in modes:
        if mode == "jit":
            got = run_jit(prog, outputs, inputs, workdir)
        elif mode == "aot":
            got = run_aot(prog, outputs, inputs, workdir)
        elif mode == "gpu":
            got = run_emulated(prog, outputs, inputs, workdir)
        else:
            got = from_python[mode]
        if isinstance(got, str):
            return f"{mode}: {got}"
        if want is None:
            continue
        problem = compare_train(got, want, mode, prog, outputs) if prog.train else \
            compare(got, want, mode, prog.half)
        if problem:
            return problem
    return None


def gradient_module(prog, output, weights):
    """@f: the weighted sum of `output`; @g: its kiln.grad with respect to
    the first argument."""
    saved, prog.weights = prog.weights, weights
    params = prog.params(prog.args)
    names = ", ".join(f"%v{a}" for a in prog.args)
    types = ", ".join(prog.type(a) for a in prog.args)
    grad_t = prog.type(prog.args[0])
    text = (f"func.func @f({params}) -> tensor<f64> {{\n" +
            "\n".join(prog.loss_lines(output)) + "\n  return %loss : tensor<f64>\n}\n"
            f"func.func @g({params}) -> {grad_t} {{\n"
            f"  %g = kiln.grad @f({names}) {{wrt = array<i64: 0>}} : ({types}) -> {grad_t}\n"
            f"  return %g : {grad_t}\n}}\n")
    prog.weights = saved
    return text


# Ops with an infinite derivative somewhere in their domain.
SINGULAR = ("sqrt", "rsqrt", "log", "log1p", "pow", "reciprocal")


def has_singular_ops(text):
    """Whether the module text uses an op of SINGULAR."""
    return any(f"kiln.{name} " in text for name in SINGULAR)


def gradient_weights(rng, shape):
    return np.asarray(np.random.default_rng(rng.randrange(1 << 30)).uniform(0.5, 1.5, size=shape))


def check_gradient(prog, output, inputs, workdir, rng):
    """kiln.grad of sum(output * w) with respect to the first argument
    against central differences of the NumPy interpreter (float64 programs
    only); None when they agree."""
    weights = gradient_weights(rng, prog.values[output].shape)
    text = gradient_module(prog, output, weights)
    path = os.path.join(workdir, "g.mlir")
    with open(path, "w") as f:
        f.write(text)
    cmd = [TENSOR_RUN, path, "--entry", "g", "--output-dir", os.path.join(workdir, "gout")]
    for p in write_inputs(inputs, workdir):
        cmd += ["--input", p]
    shutil.rmtree(os.path.join(workdir, "gout"), ignore_errors=True)
    problem = tool(cmd, "tensor-run")
    if problem:
        return f"gradient: {problem}"
    got = {"kiln.grad": np.load(os.path.join(workdir, "gout", "0.npy"))}
    # Straight-line programs: the eager tape's gradient too (its recorded
    # ops with their forward values, kiln.known_value, through the same
    # autodiff pass).
    if not any(op.region for op in prog.ops) and all(op.py for op in prog.ops):
        taped = tape_gradient(prog, output, inputs, weights)
        if isinstance(taped, str):
            return f"gradient (GradientTape): {taped}\n{text}"
        got["GradientTape"] = taped
        TAPED[0] += 1

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
        # A NaN from 0 times an infinite local derivative: sqrt, rsqrt,
        # log, pow or reciprocal at 0 behind a zero cotangent (sqrt of a
        # cross-entropy of one class, then a softmax of one element) is NaN
        # in TensorFlow and JAX too; central differences say 0.
        for how, g in got.items():
            if np.isnan(g.flat[j]) and has_singular_ops(text):
                continue
            if not np.isclose(g.flat[j], fd, rtol=1e-4, atol=1e-6):
                return (f"gradient element {j}: {how} {g.flat[j]!r}, central "
                        f"differences {fd!r}\n{text}")
    return None


def needed(prog, outputs):
    keep, stack = set(), list(outputs)
    producers = {op.result: op.operands + op.captures for op in prog.ops}
    while stack:
        v = stack.pop()
        if v in keep:
            continue
        keep.add(v)
        stack.extend(producers.get(v, []))
    return keep


def reduce(prog, outputs, inputs, workdir, fails, keep_first=False):
    """Drops ops (and arguments) the failure does not need: while `fails`
    still says so, ends the program at an earlier value."""
    def pruned(keep_ops, outs):
        p = Program(prog.dtype)
        for attr in ("values", "multi", "train", "lr", "steps", "lossy", "dynamic", "half"):
            setattr(p, attr, getattr(prog, attr))
        p.initial, p.weights = getattr(prog, "initial", None), prog.weights
        p.ops = [op for op in prog.ops if op.result in keep_ops]
        live = needed(p, outs)
        p.ops = [op for op in p.ops if op.result in live]
        p.args = [a for a in prog.args
                  if a in live or ((prog.train or keep_first) and a == prog.args[0])]
        return p, [inputs[prog.args.index(a)] for a in p.args]

    current = {op.result for op in prog.ops}
    outs = outputs
    changed = True
    while changed:
        changed = False
        for r in sorted(current):
            p, ins = pruned(current, [r])
            if p.values[r].dtype != prog.values[outputs[0]].dtype:
                continue
            if p.train:
                p.weights = np.ones(p.values[r].shape)
            if len(p.ops) < len(needed(prog, outs) & current) and fails(p, [r], ins):
                outs, current, changed = [r], {op.result for op in p.ops}, True
                break
    p, ins = pruned(current, outs)
    if p.train and outs != outputs:
        p.weights = np.ones(p.values[outs[0]].shape)
    if outs == outputs and not fails(p, outs, ins):
        return prog, outputs, inputs  # (dropping the dead ops hid it)
    return p, outs, ins


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--count", type=int, default=0, help="stop after N programs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gradients", type=int, default=1,
                        help="also check kiln.grad against finite differences")
    parser.add_argument("--aot-every", type=int, default=5,
                        help="every N-th program with fixed extents also runs as an AOT "
                             "library (0: never)")
    parser.add_argument("--eager-every", type=int, default=4,
                        help="every N-th straight-line program also runs eagerly and in a "
                             "@kiln.function from Python (0: never)")
    parser.add_argument("--gpu-every", type=int, default=3,
                        help="every N-th program also goes through the GPU target: a cubin "
                             "for sm_90 and a run with emulated GPU kernels (0: never)")
    parser.add_argument("--focus", choices=["all", "train-control", "half", "open"],
                        default="all",
                        help="train-control: only training steps, with control flow "
                             "three times as likely; half: only programs with float16 or "
                             "bfloat16 ops; open: only programs with open extents")
    parser.add_argument("--crashes", default=os.path.join(ROOT, "build-fuzz", "crashes",
                                                          "programs"))
    args = parser.parse_args()
    os.makedirs(args.crashes, exist_ok=True)
    rng = random.Random(args.seed)
    deadline = time.monotonic() + args.seconds
    start = time.monotonic()
    done = failures = ops = gradients = 0
    counts = dict(int=0, open=0, control=0, train=0, half=0, aot=0, gpu=0, eager=0)
    with tempfile.TemporaryDirectory(prefix="kiln-progen-") as workdir:
        while time.monotonic() < deadline and (not args.count or done < args.count):
            prog, outputs = generate(rng, args.focus)
            inputs = inputs_for(prog, rng)
            if prog.train:
                prog.weights = np.asarray(np.random.default_rng(rng.randrange(1 << 30))
                                          .uniform(0.5, 1.5, size=prog.values[outputs[0]].shape))
            done += 1
            ops += len(prog.ops)
            if done % 1000 == 0:
                print(f"{done} programs, {failures} failures, "
                      f"{time.monotonic() - start:.0f} s", flush=True)
            modes = ["jit"]
            if args.aot_every and done % args.aot_every == 0 and not prog.dynamic:
                modes.append("aot")
            straight = not any(op.region for op in prog.ops) and \
                all(op.py for op in prog.ops)
            if args.gpu_every and done % args.gpu_every == 0:
                modes.append("gpu")
            if args.eager_every and done % args.eager_every == 0 and straight and \
                    not prog.train:
                modes += ["eager", "traced"]
            counts["int"] += prog.dtype not in FLOATS
            counts["half"] += prog.half
            counts["open"] += prog.dynamic
            counts["control"] += any(op.region for op in prog.ops)
            counts["train"] += bool(prog.train)
            counts["aot"] += "aot" in modes
            counts["gpu"] += "gpu" in modes
            counts["eager"] += "eager" in modes
            problem = check(prog, outputs, inputs, workdir, modes)
            x = inputs[0]
            if not problem and args.gradients and prog.dtype == np.float64 and \
                    not prog.train and not prog.lossy and 0 < x.size <= 12 and \
                    prog.values[outputs[0]].dtype == np.float64:
                problem = check_gradient(prog, outputs[0], inputs, workdir, rng)
                gradients += 1
            if problem:
                failures += 1
                gradient = problem.startswith("gradient")
                if gradient:
                    def fails(p, o, i):
                        return check_gradient(p, o[0], i, workdir, random.Random(0))
                else:
                    def fails(p, o, i):
                        return check(p, o, i, workdir, modes)
                small, outs, ins = reduce(prog, outputs, inputs, workdir, fails, gradient)
                # What the reduced case shows (it may fail otherwise than
                # the whole program did).
                shown = fails(small, outs, ins) or problem
                name = os.path.join(args.crashes, f"case-{args.seed}-{done}")
                with open(name + ".mlir", "w") as f:
                    f.write("".join(f"// {line}\n" for line in shown.splitlines()[:12]) +
                            f"// modes: {' '.join(modes)}\n" + small.text(outs))
                if gradient:  # (with the weights the reduction's check used)
                    with open(name + ".grad.mlir", "w") as f:
                        f.write(gradient_module(small, outs[0], gradient_weights(
                            random.Random(0), small.values[outs[0]].shape)))
                for i, x in enumerate(ins):
                    np.save(f"{name}.in{i}.npy", x)
                print(f"FAILURE {name}.mlir ({len(prog.ops)} ops reduced to "
                      f"{len(small.ops)}):\n{problem[:1200]}\nreduced: {shown[:1200]}\n"
                      f"{small.text(outs)}",
                      file=sys.stderr)
    print(f"random programs: {done} programs ({ops} ops; {counts['int']} integer, "
          f"{counts['open']} with open extents, {counts['control']} with control flow, "
          f"{counts['train']} training steps, {counts['half']} with float16 or bfloat16 "
          f"ops; {counts['aot']} also as AOT libraries, "
          f"{counts['gpu']} also through the GPU target, "
          f"{counts['eager']} also eagerly and traced from Python; {gradients} gradients "
          f"checked, {TAPED[0]} also through a GradientTape) in {time.monotonic() - start:.0f} s, {failures} disagreed with NumPy "
          f"or failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
