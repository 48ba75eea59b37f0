"""Gradient checks: the gradient Kiln's autodiff pass builds (kiln.grad) is
compared with central finite differences of the same compiled function, in
f64, for every differentiable op and for control flow. Relative error bound:
1e-6 (|analytic - fd| <= 1e-6 * max(1, |fd|)).

For an op producing y, the checked scalar is sum(y * w) with fixed random
weights w, so every output element carries a different cotangent. The finite
differences come from the same module: a function @fd evaluates @f at
x +- h e_j for every element j of every differentiated argument."""

import re

import numpy as np
import pytest

from conftest import tensor_type

RNG = np.random.default_rng(7)
H = 1e-5
TOL = 1e-6


def dense(array):
    """An MLIR dense literal of an f64 array."""
    if array.ndim == 0:
        return f"dense<{float(array):.17e}>"
    def rec(a):
        if a.ndim == 1:
            return "[" + ", ".join(f"{float(v):.17e}" for v in a) + "]"
        return "[" + ", ".join(rec(s) for s in a) + "]"
    return f"dense<{rec(array)}>"


def build_module(op, args, out_shape, wrt, prefix_lines=None, extra=""):
    """@f: sum(op(args) * w); @g: its gradient; @fd: f at perturbed points;
    `extra`: more functions the op may call."""
    types = [tensor_type(a.shape, a.dtype) for a in args]
    params = ", ".join(f"%a{i}: {t}" for i, t in enumerate(types))
    rtype = tensor_type(out_shape, np.float64)
    values = {f"a{i}": f"%a{i}" for i in range(len(args))}
    values.update({f"T{i}": t for i, t in enumerate(types)})
    values["R"] = rtype
    body = re.sub(r"\{(a\d+|T\d+|R)\}", lambda m: values[m.group(1)], op)
    weights = RNG.uniform(0.5, 1.5, size=out_shape)
    axes = ", ".join(str(d) for d in range(len(out_shape)))
    axes_attr = f"array<i64: {axes}>" if out_shape else "array<i64>"
    lines = [f"func.func @f({params}) -> tensor<f64> {{",
             (prefix_lines + body) if prefix_lines else f"  %y = {body}",
             f"  %w = kiln.constant {dense(weights)} : {rtype}",
             f"  %p = kiln.mul %y, %w : {rtype}, {rtype} -> {rtype}",
             f"  %s = kiln.reduce_sum %p {{axes = {axes_attr}}} : {rtype} -> tensor<f64>",
             "  return %s : tensor<f64>", "}"]
    gtypes = [types[i] for i in wrt]
    call_args = ", ".join(f"%a{i}" for i in range(len(args)))
    lines += [f"func.func @g({params}) -> ({', '.join(gtypes)}) {{",
              f"  %g:{len(wrt)} = kiln.grad @f({call_args}) {{wrt = array<i64: "
              f"{', '.join(map(str, wrt))}>}} : ({', '.join(types)}) -> ({', '.join(gtypes)})"
              if len(wrt) > 1 else
              f"  %g = kiln.grad @f({call_args}) {{wrt = array<i64: {wrt[0]}>}} : "
              f"({', '.join(types)}) -> {gtypes[0]}",
              "  return " + (", ".join(f"%g#{k}" for k in range(len(wrt)))
                             if len(wrt) > 1 else "%g") + " : " + ", ".join(gtypes),
              "}"]
    # Finite differences.
    fd = [f"func.func @fd({params}) -> tensor<{2 * sum(args[i].size for i in wrt)}xf64> {{"]
    pieces = []
    n = 0
    for i in wrt:
        a = args[i]
        for j in range(a.size):
            for sign in (1, -1):
                e = np.zeros(a.shape)
                e.flat[j] = sign * H
                fd.append(f"  %e{n} = kiln.constant {dense(e)} : {types[i]}")
                fd.append(f"  %x{n} = kiln.add %a{i}, %e{n} : {types[i]}, {types[i]} -> {types[i]}")
                call = [f"%x{n}" if k == i else f"%a{k}" for k in range(len(args))]
                fd.append(f"  %v{n} = func.call @f({', '.join(call)}) : ({', '.join(types)}) -> tensor<f64>")
                fd.append(f"  %r{n} = kiln.reshape %v{n} : tensor<f64> -> tensor<1xf64>")
                pieces.append(f"%r{n}")
                n += 1
    total = f"tensor<{n}xf64>"
    fd.append(f"  %all = kiln.concat {', '.join(pieces)} {{axis = 0 : i64}} : "
              f"({', '.join(['tensor<1xf64>'] * n)}) -> {total}")
    fd.append(f"  return %all : {total}")
    fd.append("}")
    return "\n".join(lines + fd) + "\n" + extra


def check_gradient(runner, op, args, out_shape, wrt=None, prefix_lines=None, extra=""):
    args = [np.asarray(a) for a in args]
    if wrt is None:
        wrt = [i for i, a in enumerate(args) if a.dtype == np.float64]
    module = build_module(op, args, out_shape, wrt, prefix_lines, extra)
    grads = runner.run(module, args, entry="g")
    (fd,) = runner.run(module, args, entry="fd")
    fd = fd.reshape(-1, 2)
    numeric = (fd[:, 0] - fd[:, 1]) / (2 * H)
    analytic = np.concatenate([g.ravel() for g in grads])
    err = np.abs(analytic - numeric) / np.maximum(1.0, np.abs(numeric))
    assert err.max() <= TOL, f"max relative error {err.max():.3g}\n{analytic}\n{numeric}"


def r64(shape, lo=-2.0, hi=2.0):
    return RNG.uniform(lo, hi, size=shape)


UNARY = {
    "neg": (-2, 2), "abs": (0.2, 2), "exp": (-2, 2), "log": (0.2, 3),
    "log1p": (-0.5, 2), "expm1": (-2, 2), "erf": (-2, 2), "erfc": (-2, 2), "sqrt": (0.2, 3), "rsqrt": (0.2, 3), "tanh": (-2, 2),
    "sigmoid": (-3, 3), "relu": (0.1, 2), "sin": (-3, 3), "cos": (-3, 3),
    "square": (-2, 2), "reciprocal": (0.3, 2), "sign": (0.2, 2), "floor": (0.2, 0.8),
    "ceil": (0.2, 0.8), "tan": (-1.2, 1.2), "asin": (-0.9, 0.9), "acos": (-0.9, 0.9),
    "atan": (-3, 3), "sinh": (-2, 2), "cosh": (-2, 2), "asinh": (-3, 3), "acosh": (1.1, 3),
    "atanh": (-0.9, 0.9), "lgamma": (0.3, 6), "digamma": (0.3, 6), "erfinv": (-0.95, 0.95),
}


@pytest.mark.parametrize("op,lo,hi", [
    ("kiln.lgamma %a0 : {T0}", -3.9, -3.1),        # (reflected: between two poles)
    ("kiln.digamma %a0 : {T0}", -1.8, -1.2),
    ("kiln.polygamma %a0 {order = 1 : i64} : {T0}", 0.3, 6),
    ("kiln.polygamma %a0 {order = 2 : i64} : {T0}", -2.8, -2.2),
    ("kiln.polygamma %a0 {order = 0 : i64} : {T0}", 0.5, 4)])
def test_special_function_gradients(runner, op, lo, hi):
    # lgamma' = digamma, digamma' = polygamma(1), polygamma(n)' = polygamma(n+1):
    # each against central differences of the function itself.
    check_gradient(runner, op, [r64((2, 3), lo, hi)], (2, 3))


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(runner, name):
    lo, hi = UNARY[name]
    x = r64((2, 3), lo, hi)
    if name in ("abs", "relu", "sign"):
        x *= np.where(RNG.random((2, 3)) < 0.5, -1, 1)
    check_gradient(runner, f"kiln.{name} %a0 : {{T0}}", [x], (2, 3))


@pytest.mark.parametrize("used", ["first", "both"])
def test_split(runner, used):
    # kiln.split's cotangent joins the pieces' back, zeros for a piece the
    # function does not use.
    x, a, b = r64((5, 3)), r64((2, 3)), r64((3, 3))
    split = ("  %pieces:2 = kiln.split %a0 like %a1, %a2 {axis = 0 : i64} : tensor<5x3xf64> like "
             "tensor<2x3xf64>, tensor<3x3xf64> -> tensor<2x3xf64>, tensor<3x3xf64>\n")
    if used == "first":
        check_gradient(runner, "kiln.mul %pieces#0, %pieces#0 : tensor<2x3xf64>, tensor<2x3xf64> -> {R}",
                       [x, a, b], (2, 3), wrt=[0], prefix_lines=split + "  %y = ")
    else:
        check_gradient(runner, "kiln.concat %pieces#1, %q {axis = 0 : i64} : (tensor<3x3xf64>, "
                       "tensor<2x3xf64>) -> {R}", [x, a, b], (5, 3), wrt=[0],
                       prefix_lines=split + "  %q = kiln.exp %pieces#0 : tensor<2x3xf64>\n  %y = ")


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "rem",
                                  "atan2"])
@pytest.mark.parametrize("shapes", [((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 2))])
def test_binary(runner, name, shapes):
    lo = 0.5 if name in ("pow", "div") else -2
    a, b = r64(shapes[0], lo, 2), r64(shapes[1], lo, 2)
    if name == "rem":  # away from the jumps at multiples of b, b away from 0
        b = np.where(np.abs(b) < 0.3, 0.7, b)
        a = np.trunc(a / b) * b + 0.5 * b
    out = np.broadcast_shapes(shapes[0], shapes[1])
    check_gradient(runner, f"kiln.{name} %a0, %a1 : {{T0}}, {{T1}} -> {{R}}", [a, b], out)


def test_select_and_cast(runner):
    c = RNG.random((2, 3)) < 0.5
    check_gradient(runner, "kiln.select %a0, %a1, %a2 : {T0}, {T1}, {T2} -> {R}",
                   [c, r64((2, 3)), r64((3,))], (2, 3))


CAST_THROUGH_F32 = """
func.func @f(%x: tensor<4xf64>, %w: tensor<4xf64>) -> tensor<f64> {
  %a = kiln.cast %x : tensor<4xf64> -> tensor<4xf32>
  %s = kiln.mul %a, %a : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  %b = kiln.cast %s : tensor<4xf32> -> tensor<4xf64>
  %p = kiln.mul %b, %w : tensor<4xf64>, tensor<4xf64> -> tensor<4xf64>
  %l = kiln.reduce_sum %p {axes = array<i64: 0>} : tensor<4xf64> -> tensor<f64>
  return %l : tensor<f64>
}
func.func @g(%x: tensor<4xf64>, %w: tensor<4xf64>) -> tensor<4xf64> {
  %g = kiln.grad @f(%x, %w) {wrt = array<i64: 0>} : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  return %g : tensor<4xf64>
}
"""


def test_cast_gradient_through_f32(runner):
    # TensorFlow's Cast gradient: the cotangent cast back to the input's
    # type, so d/dx sum(w * f64(f32(x)^2)) is f64(f32(w) * 2 f32(x)), the
    # product taken in f32. (Finite differences cannot see through f32
    # rounding; the old check here cast f64 to f64, an identity.)
    x, w = r64((4,)), r64((4,), 0.5, 1.5)
    (g,) = runner.run(CAST_THROUGH_F32, [x, w], entry="g")
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    want = (w32 * (x32 + x32)).astype(np.float64)
    np.testing.assert_allclose(g, want, rtol=1e-6)
    assert not np.allclose(g, 2 * x * w, rtol=1e-12, atol=0)  # it did go through f32


@pytest.mark.parametrize("name", ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min",
                                  "reduce_prod"])
@pytest.mark.parametrize("axes,keep,out", [((1,), False, (2,)), ((0,), True, (1, 3)),
                                           ((0, 1), False, ())])
def test_reductions(runner, name, axes, keep, out):
    x = r64((2, 3), 0.5, 2)
    attr = f"{{axes = array<i64: {', '.join(map(str, axes))}>, keepdims = {str(keep).lower()}}}"
    check_gradient(runner, f"kiln.{name} %a0 {attr} : {{T0}} -> {{R}}", [x], out)


def test_reduce_prod_with_zero(runner):
    x = r64((2, 3), 0.5, 2)
    x[0, 1] = 0.0
    check_gradient(runner, "kiln.reduce_prod %a0 {axes = array<i64: 1>} : {T0} -> {R}",
                   [x], (2,))


def test_shape_ops(runner):
    x = r64((2, 3))
    check_gradient(runner, "kiln.reshape %a0 : {T0} -> {R}", [x], (3, 2))
    check_gradient(runner, "kiln.transpose %a0 {permutation = array<i64: 1, 0>} : {T0} -> {R}",
                   [x], (3, 2))
    check_gradient(runner, "kiln.broadcast_to %a0 : {T0} -> {R}", [r64((3, 1))], (2, 3, 4))
    check_gradient(runner, "kiln.expand_dims %a0 {axis = 1 : i64} : {T0} -> {R}", [x], (2, 1, 3))
    check_gradient(runner, "kiln.squeeze %a0 {axes = array<i64: 0>} : {T0} -> {R}",
                   [r64((1, 3))], (3,))
    check_gradient(runner, "kiln.concat %a0, %a1 {axis = 1 : i64} : ({T0}, {T1}) -> {R}",
                   [x, r64((2, 2))], (2, 5))
    check_gradient(runner, "kiln.slice %a0 {start = array<i64: 1, 0>, limit = array<i64: 5, 3>, "
                   "stride = array<i64: 2, 2>} : {T0} -> {R}", [r64((5, 3))], (2, 2))
    check_gradient(runner, "kiln.pad %a0 {low = array<i64: 1, 0>, high = array<i64: 0, 2>} : "
                   "{T0} -> {R}", [x], (3, 5))


def test_gather_scatter(runner):
    table = r64((4, 3))
    ids = np.array([0, 3, 3, 9], np.int32)
    check_gradient(runner, "kiln.gather %a0, %a1 : {T0}, {T1} -> {R}", [table, ids], (4, 3))
    check_gradient(runner, "kiln.scatter_add %a0, %a1, %a2 : {T0}, {T1}, {T2} -> {R}",
                   [table, ids, r64((4, 3))], (4, 3))


@pytest.mark.parametrize("reduction", ["max", "min", "prod"])
def test_scatter_reduce(runner, reduction):
    # Distinct values (no ties) and repeated, out-of-range ids; a product is
    # multilinear, so central differences are exact up to rounding even at
    # the zeros: one zero in a position, two zeros in another.
    base = r64((4, 3), 0.5, 2.0) * np.where(RNG.random((4, 3)) < 0.5, -1, 1)
    ids = np.array([1, 3, 1, 9, 0, 1], np.int32)
    upd = r64((6, 3), 0.5, 2.0) * np.where(RNG.random((6, 3)) < 0.5, -1, 1)
    if reduction == "prod":
        upd[0, 0] = 0.0               # position (1, 0): one zero
        upd[0, 1] = upd[2, 1] = 0.0   # position (1, 1): two zeros
        base[3, 2] = 0.0              # position (3, 2): the base is the zero
    check_gradient(runner, f"kiln.scatter_reduce {reduction}, %a0, %a1, %a2 : "
                   "{T0}, {T1}, {T2} -> {R}", [base, ids, upd], (4, 3))


TIES = """
func.func @f(%b: tensor<3xf64>, %i: tensor<6xi32>, %u: tensor<6xf64>, %w: tensor<3xf64>) -> tensor<f64> {
  %m = kiln.scatter_reduce max, %b, %i, %u : tensor<3xf64>, tensor<6xi32>, tensor<6xf64> -> tensor<3xf64>
  %p = kiln.mul %m, %w : tensor<3xf64>, tensor<3xf64> -> tensor<3xf64>
  %s = kiln.reduce_sum %p {axes = array<i64: 0>} : tensor<3xf64> -> tensor<f64>
  return %s : tensor<f64>
}
func.func @g(%b: tensor<3xf64>, %i: tensor<6xi32>, %u: tensor<6xf64>, %w: tensor<3xf64>) -> (tensor<3xf64>, tensor<6xf64>) {
  %g:2 = kiln.grad @f(%b, %i, %u, %w) {wrt = array<i64: 0, 2>} : (tensor<3xf64>, tensor<6xi32>, tensor<6xf64>, tensor<3xf64>) -> (tensor<3xf64>, tensor<6xf64>)
  return %g#0, %g#1 : tensor<3xf64>, tensor<6xf64>
}
"""


def test_scatter_reduce_ties(runner):
    # Tied maxima share the cotangent evenly (TF's rule for segment max):
    # position 0 holds 2 in the base and in two updates, a third of w[0]
    # each; position 1's maximum is one update's; position 2 keeps its base;
    # the out-of-range update (id 7) gets nothing.
    base = np.array([2.0, -5.0, 4.0])
    ids = np.array([0, 0, 1, 1, 0, 7], np.int32)
    upd = np.array([2.0, 1.0, 3.0, -1.0, 2.0, 9.0])
    w = np.array([3.0, 5.0, 7.0])
    gb, gu = runner.run(TIES, [base, ids, upd, w], entry="g")
    np.testing.assert_allclose(gb, [1.0, 0.0, 7.0])
    np.testing.assert_allclose(gu, [1.0, 0.0, 5.0, 0.0, 1.0, 0.0])


def test_matmuls(runner):
    a, b = r64((3, 4)), r64((4, 2))
    check_gradient(runner, "kiln.matmul %a0, %a1 : {T0}, {T1} -> {R}", [a, b], (3, 2))
    check_gradient(runner, "kiln.matmul %a0, %a1 {transpose_lhs = true} : {T0}, {T1} -> {R}",
                   [a.T.copy(), b], (3, 2))
    check_gradient(runner, "kiln.matmul %a0, %a1 {transpose_rhs = true} : {T0}, {T1} -> {R}",
                   [a, b.T.copy()], (3, 2))
    check_gradient(runner, "kiln.matmul %a0, %a1 {transpose_lhs = true, transpose_rhs = true} "
                   ": {T0}, {T1} -> {R}", [a.T.copy(), b.T.copy()], (3, 2))
    check_gradient(runner, "kiln.batch_matmul %a0, %a1 : {T0}, {T1} -> {R}",
                   [r64((2, 1, 3, 2)), r64((3, 2, 2))], (2, 3, 3, 2))


@pytest.mark.parametrize("same,strides", [(False, (1, 1)), (True, (2, 2))])
def test_conv2d(runner, same, strides):
    x, w = r64((1, 5, 5, 2)), r64((3, 3, 2, 2))
    pad = "SAME" if same else "VALID"
    out = (1, 3, 3, 2) if same else (1, 3, 3, 2)
    attrs = f"{{padding = #kiln.padding<{pad}>, strides = array<i64: {strides[0]}, {strides[1]}>}}"
    check_gradient(runner, f"kiln.conv2d %a0, %a1 {attrs} : {{T0}}, {{T1}} -> {{R}}", [x, w], out)


def test_conv2d_gradient_ops(runner):
    # The gradient ops are themselves differentiable (second order).
    w, dy = r64((2, 2, 1, 2)), r64((1, 3, 3, 2))
    check_gradient(runner, "kiln.conv2d_backprop_input %a0, %a1 : {T0}, {T1} -> {R}",
                   [w, dy], (1, 4, 4, 1))
    x = r64((1, 4, 4, 1))
    check_gradient(runner, "kiln.conv2d_backprop_filter %a0, %a1 : {T0}, {T1} -> {R}",
                   [x, dy], (2, 2, 1, 2))


def test_pooling(runner):
    x = r64((1, 4, 4, 2))
    attrs = "{window = array<i64: 2, 2>, strides = array<i64: 2, 2>}"
    check_gradient(runner, f"kiln.max_pool2d %a0 {attrs} : {{T0}} -> {{R}}", [x], (1, 2, 2, 2))
    same = "{window = array<i64: 3, 3>, strides = array<i64: 2, 2>, padding = #kiln.padding<SAME>}"
    check_gradient(runner, f"kiln.avg_pool2d %a0 {same} : {{T0}} -> {{R}}", [x], (1, 2, 2, 2))
    check_gradient(runner, f"kiln.avg_pool2d_grad %a0 {same} : {{T0}} -> {{R}}",
                   [r64((1, 2, 2, 2))], (1, 4, 4, 2))
    # Second order through max pooling: max_pool2d_grad and its adjoint
    # max_pool2d_select, differentiated in their (linear) cotangent input.
    for attr in (attrs, same):
        dy_shape = (1, 2, 2, 2)
        check_gradient(runner, f"kiln.max_pool2d_grad %a0, %a1 {attr} : {{T0}}, {{T1}} -> {{R}}",
                       [x, r64(dy_shape)], (1, 4, 4, 2), wrt=[1])
        check_gradient(runner, f"kiln.max_pool2d_select %a0, %a1 {attr} : {{T0}}, {{T1}} -> {{R}}",
                       [x, r64((1, 4, 4, 2))], dy_shape, wrt=[1])


def test_softmax_and_cross_entropy(runner):
    x = r64((3, 4))
    check_gradient(runner, "kiln.softmax %a0 : {T0} -> {R}", [x], (3, 4))
    check_gradient(runner, "kiln.log_softmax %a0 {axis = 0 : i64} : {T0} -> {R}", [x], (3, 4))
    labels = RNG.dirichlet(np.ones(4), size=3)
    check_gradient(runner, "kiln.softmax_cross_entropy %a0, %a1 : {T0}, {T1} -> {R}",
                   [x, labels], (3,))
    ids = np.array([0, 3, 1], np.int64)
    check_gradient(runner, "kiln.sparse_softmax_cross_entropy %a0, %a1 : {T0}, {T1} -> {R}",
                   [x, ids], (3,))


def test_cond_takes_the_branch_that_ran(runner):
    op = """kiln.cond %a0 -> ({R}) {
    %e = kiln.exp %a1 : {T1}
    %m = kiln.mul %e, %a2 : {T1}, {T2} -> {R}
    kiln.yield %m : {R}
  } else {
    %s = kiln.sin %a2 : {T2}
    kiln.yield %s : {R}
  }"""
    for pred in (True, False):
        check_gradient(runner, op, [np.array(pred), r64((3,)), r64((3,))], (3,), wrt=[1, 2])


def test_for_loop(runner):
    # Five steps of x <- tanh(x * w) + x * s; gradients for the initial x
    # (loop-carried) and for w and s (captured from above, summed over
    # iterations), with an integer loop counter used in the body.
    op = """kiln.for %lb to %ub step %st iter_args(%a0 : {T0}) do {
  ^bb0(%i: tensor<i64>, %c: {T0}):
    %m = kiln.mul %c, %a1 : {T0}, {T1} -> {T0}
    %t = kiln.tanh %m : {T0}
    %f = kiln.cast %i : tensor<i64> -> tensor<f64>
    %s = kiln.mul %c, %a2 : {T0}, {T2} -> {T0}
    %u = kiln.mul %s, %f : {T0}, tensor<f64> -> {T0}
    %n = kiln.add %t, %u : {T0}, {T0} -> {T0}
    kiln.yield %n : {T0}
  }"""
    # The bounds are defined before the op (whose result becomes %y).
    bounds = ("  %lb = kiln.constant dense<1> : tensor<i64>\n"
              "  %ub = kiln.constant dense<10> : tensor<i64>\n"
              "  %st = kiln.constant dense<2> : tensor<i64>\n  %y = ")
    check_gradient(runner, op, [r64((3,), -1, 1), r64((3,), -1, 1), r64((), 0.1, 0.3)],
                   (3,), prefix_lines=bounds)


EMPTY_LOOP = """
func.func @f(%x: tensor<0x2xf64>, %y: tensor<3xf64>) -> tensor<f64> {
  %lb = kiln.constant dense<0> : tensor<i64>
  %ub = kiln.constant dense<3> : tensor<i64>
  %st = kiln.constant dense<1> : tensor<i64>
  %r:2 = kiln.for %lb to %ub step %st iter_args(%x, %y : tensor<0x2xf64>, tensor<3xf64>) do {
  ^bb0(%i: tensor<i64>, %c: tensor<0x2xf64>, %d: tensor<3xf64>):
    %t = kiln.tanh %c : tensor<0x2xf64>
    %u = kiln.sin %d : tensor<3xf64>
    kiln.yield %t, %u : tensor<0x2xf64>, tensor<3xf64>
  }
  %s = kiln.reduce_sum %r#0 {axes = array<i64: 0, 1>} : tensor<0x2xf64> -> tensor<f64>
  %q = kiln.reduce_sum %r#1 {axes = array<i64: 0>} : tensor<3xf64> -> tensor<f64>
  %l = kiln.add %s, %q : tensor<f64>, tensor<f64> -> tensor<f64>
  return %l : tensor<f64>
}
func.func @g(%x: tensor<0x2xf64>, %y: tensor<3xf64>) -> (tensor<0x2xf64>, tensor<3xf64>) {
  %gx, %gy = kiln.grad @f(%x, %y) {wrt = array<i64: 0, 1>} : (tensor<0x2xf64>, tensor<3xf64>) -> (tensor<0x2xf64>, tensor<3xf64>)
  return %gx, %gy : tensor<0x2xf64>, tensor<3xf64>
}
"""


EMPTY_GATHER = """
func.func @f(%x: tensor<2x0xf64>, %y: tensor<3x2xf64>) -> tensor<f64> {
  %ids = kiln.constant dense<[1, 1, 0]> : tensor<3xi32>
  %g = kiln.gather %x, %ids {axis = 0 : i64} : tensor<2x0xf64>, tensor<3xi32> -> tensor<3x0xf64>
  %h = kiln.gather %y, %ids {axis = 0 : i64} : tensor<3x2xf64>, tensor<3xi32> -> tensor<3x2xf64>
  %s = kiln.reduce_sum %g {axes = array<i64: 0, 1>} : tensor<3x0xf64> -> tensor<f64>
  %t = kiln.reduce_sum %h {axes = array<i64: 0, 1>} : tensor<3x2xf64> -> tensor<f64>
  %l = kiln.add %s, %t : tensor<f64>, tensor<f64> -> tensor<f64>
  return %l : tensor<f64>
}
func.func @g(%x: tensor<2x0xf64>, %y: tensor<3x2xf64>) -> (tensor<2x0xf64>, tensor<3x2xf64>) {
  %gx, %gy = kiln.grad @f(%x, %y) {wrt = array<i64: 0, 1>} : (tensor<2x0xf64>, tensor<3x2xf64>) -> (tensor<2x0xf64>, tensor<3x2xf64>)
  return %gx, %gy : tensor<2x0xf64>, tensor<3x2xf64>
}
"""


def test_gather_gradient_of_an_empty_tensor(runner):
    # The gradient's scatter_add into a tensor without elements is the
    # tensor itself (its slices were refused as out of bounds; found by the
    # 10,000-program run). The other gather's gradient counts the indices.
    gx, gy = runner.run(EMPTY_GATHER, [np.zeros((2, 0)), r64((3, 2))], entry="g")
    assert gx.shape == (2, 0)
    np.testing.assert_array_equal(gy, np.array([[1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]))


def test_loop_gradient_with_an_empty_carried_value(runner):
    # The tape of a carried value without elements is neither written nor
    # read (found by the random programs: its row slices were refused as
    # out of bounds). The other carried value's gradient is unaffected.
    y = r64((3,))
    gx, gy = runner.run(EMPTY_LOOP, [np.zeros((0, 2)), y], entry="g")
    assert gx.shape == (0, 2)
    # d/dy sin(sin(sin(y))): the chain rule through the three steps.
    a, b = np.sin(y), np.sin(np.sin(y))
    np.testing.assert_allclose(gy, np.cos(y) * np.cos(a) * np.cos(b), rtol=1e-12)


def test_while_loop_with_data_dependent_trip_count(runner):
    # Doubling-and-squashing x until its norm passes a limit: how many
    # iterations run depends on the data. The gradient flows through every
    # iteration that ran (recomputed in reverse), and into w, used in each.
    op = """kiln.while (%a0 : {T0}) cond {
  ^bb0(%c: {T0}):
    %sq = kiln.mul %c, %c : {T0}, {T0} -> {T0}
    %n = kiln.reduce_sum %sq {axes = array<i64: 0>} : {T0} -> tensor<f64>
    %lim = kiln.constant dense<50.0> : tensor<f64>
    %p = kiln.compare lt, %n, %lim : tensor<f64>, tensor<f64> -> tensor<i1>
    kiln.condition(%p) %c : {T0}
  } do {
  ^bb0(%c: {T0}):
    %m = kiln.mul %c, %a1 : {T0}, {T1} -> {T0}
    %s = kiln.sin %c : {T0}
    %n = kiln.add %m, %s : {T0}, {T0} -> {T0}
    kiln.yield %n : {T0}
  }"""
    check_gradient(runner, op, [r64((3,), 0.5, 1.0), r64((3,), 1.5, 2.0)], (3,))


def test_for_loop_with_runtime_bounds(runner):
    # The trip count comes from an argument: iterations are recomputed.
    op = """kiln.for %lb to %a2 step %st iter_args(%a0 : {T0}) do {
  ^bb0(%i: tensor<i64>, %c: {T0}):
    %m = kiln.mul %c, %a1 : {T0}, {T1} -> {T0}
    %t = kiln.tanh %m : {T0}
    %n = kiln.add %t, %c : {T0}, {T0} -> {T0}
    kiln.yield %n : {T0}
  }"""
    bounds = ("  %lb = kiln.constant dense<0> : tensor<i64>\n"
              "  %st = kiln.constant dense<1> : tensor<i64>\n  %y = ")
    check_gradient(runner, op, [r64((3,), -1, 1), r64((3,), -1, 1), np.array(4, np.int64)],
                   (3,), prefix_lines=bounds)


def test_while_loop_that_runs_no_iteration(runner):
    # The condition fails at once: the tape has no row written, the reverse
    # loop runs zero times and the gradient is the identity.
    op = """kiln.while (%a0 : {T0}) cond {
  ^bb0(%c: {T0}):
    %n = kiln.reduce_sum %c {axes = array<i64: 0>} : {T0} -> tensor<f64>
    %lim = kiln.constant dense<-100.0> : tensor<f64>
    %p = kiln.compare lt, %n, %lim : tensor<f64>, tensor<f64> -> tensor<i1>
    kiln.condition(%p) %c : {T0}
  } do {
  ^bb0(%c: {T0}):
    %s = kiln.sin %c : {T0}
    kiln.yield %s : {T0}
  }"""
    check_gradient(runner, op, [r64((3,), 0.5, 1.0)], (3,))


def test_loop_with_integer_and_boolean_carried_values(runner):
    # The tape keeps every carried value, not only the differentiated ones:
    # the reverse pass needs the counter and the flag to recompute the body.
    op = """kiln.while (%a0, %z, %t : {T0}, tensor<i64>, tensor<i1>) cond {
  ^bb0(%c: {T0}, %k: tensor<i64>, %f: tensor<i1>):
    %lim = kiln.constant dense<5> : tensor<i64>
    %p = kiln.compare lt, %k, %lim : tensor<i64>, tensor<i64> -> tensor<i1>
    kiln.condition(%p) %c, %k, %f : {T0}, tensor<i64>, tensor<i1>
  } do {
  ^bb0(%c: {T0}, %k: tensor<i64>, %f: tensor<i1>):
    %s = kiln.sin %c : {T0}
    %m = kiln.mul %c, %a1 : {T0}, {T1} -> {T0}
    %n = kiln.select %f, %s, %m : tensor<i1>, {T0}, {T0} -> {T0}
    %nf = kiln.logical_not %f : tensor<i1>
    %one = kiln.constant dense<1> : tensor<i64>
    %k1 = kiln.add %k, %one : tensor<i64>, tensor<i64> -> tensor<i64>
    kiln.yield %n, %k1, %nf : {T0}, tensor<i64>, tensor<i1>
  }"""
    # %y (the checked output) is the loop's first result, %y#0.
    prefix = ("  %z = kiln.constant dense<0> : tensor<i64>\n"
              "  %t = kiln.constant dense<true> : tensor<i1>\n  %y:3 = ")
    check_gradient(runner, op, [r64((3,), -1, 1), r64((3,), 0.5, 1.5)], (3,),
                   prefix_lines=prefix)


LOOPS_FOR_SECOND_ORDER = {
    "for": """
func.func @h(%x: tensor<3xf64>, %w: tensor<3xf64>) -> tensor<f64> {
  %lb = kiln.constant dense<0> : tensor<i64>
  %ub = kiln.constant dense<4> : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %r = kiln.for %lb to %ub step %one iter_args(%x : tensor<3xf64>) do {
  ^bb0(%i: tensor<i64>, %c: tensor<3xf64>):
    %m = kiln.mul %c, %w : tensor<3xf64>, tensor<3xf64> -> tensor<3xf64>
    %t = kiln.tanh %m : tensor<3xf64>
    %n = kiln.add %t, %c : tensor<3xf64>, tensor<3xf64> -> tensor<3xf64>
    kiln.yield %n : tensor<3xf64>
  }
  %s = kiln.reduce_sum %r {axes = array<i64: 0>} : tensor<3xf64> -> tensor<f64>
  return %s : tensor<f64>
}""",
    "while": """
func.func @h(%x: tensor<3xf64>, %w: tensor<3xf64>) -> tensor<f64> {
  %r = kiln.while (%x : tensor<3xf64>) cond {
  ^bb0(%c: tensor<3xf64>):
    %sq = kiln.mul %c, %c : tensor<3xf64>, tensor<3xf64> -> tensor<3xf64>
    %n = kiln.reduce_sum %sq {axes = array<i64: 0>} : tensor<3xf64> -> tensor<f64>
    %lim = kiln.constant dense<50.0> : tensor<f64>
    %p = kiln.compare lt, %n, %lim : tensor<f64>, tensor<f64> -> tensor<i1>
    kiln.condition(%p) %c : tensor<3xf64>
  } do {
  ^bb0(%c: tensor<3xf64>):
    %m = kiln.mul %c, %w : tensor<3xf64>, tensor<3xf64> -> tensor<3xf64>
    %s = kiln.sin %c : tensor<3xf64>
    %n = kiln.add %m, %s : tensor<3xf64>, tensor<3xf64> -> tensor<3xf64>
    kiln.yield %n : tensor<3xf64>
  }
  %s = kiln.reduce_sum %r {axes = array<i64: 0>} : tensor<3xf64> -> tensor<f64>
  return %s : tensor<f64>
}""",
}


@pytest.mark.parametrize("kind", sorted(LOOPS_FOR_SECOND_ORDER))
def test_second_order_through_loops(runner, kind):
    # The gradient function (which tapes its loop) is differentiated again:
    # its tape-free twin is, and the result matches finite differences of
    # the compiled gradient.
    extra = LOOPS_FOR_SECOND_ORDER[kind] + """
func.func @dh(%x: tensor<3xf64>, %w: tensor<3xf64>) -> tensor<3xf64> {
  %g = kiln.grad @h(%x, %w) {wrt = array<i64: 0>} : (tensor<3xf64>, tensor<3xf64>) -> tensor<3xf64>
  return %g : tensor<3xf64>
}
"""
    op = "func.call @dh(%a0, %a1) : (tensor<3xf64>, tensor<3xf64>) -> tensor<3xf64>"
    check_gradient(runner, op, [r64((3,), 0.5, 1.0), r64((3,), 1.5, 2.0)], (3,), extra=extra)


def test_tape_ops_run_as_documented(runner):
    # Rows start at zero; a write outside the tape changes nothing; a read
    # outside it clamps; a tape of size 0 still has one (zero) row.
    mlir = """
func.func @t(%n: tensor<i64>, %i: tensor<i64>, %v: tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) {
  %t = kiln.tape_new %n : tensor<?x2xf32>
  %w = kiln.tape_write %t[%i], %v : tensor<?x2xf32>, tensor<2xf32>
  %zero = kiln.constant dense<0> : tensor<i64>
  %big = kiln.constant dense<100> : tensor<i64>
  %neg = kiln.constant dense<-5> : tensor<i64>
  %a = kiln.tape_read %w[%zero] : tensor<?x2xf32> -> tensor<2xf32>
  %b = kiln.tape_read %w[%big] : tensor<?x2xf32> -> tensor<2xf32>
  %c = kiln.tape_read %w[%neg] : tensor<?x2xf32> -> tensor<2xf32>
  return %a, %b, %c : tensor<2xf32>, tensor<2xf32>, tensor<2xf32>
}
"""
    v = np.array([1.5, -2.0], np.float32)
    z = np.zeros(2, np.float32)
    i64 = lambda k: np.array(k, np.int64)
    cases = [
        (3, 0, (v, z, v)),    # first row written; 100 clamps to the last row
        (3, 2, (z, v, z)),    # last row written
        (3, 3, (z, z, z)),    # out of range: no write
        (3, -1, (z, z, z)),
        (0, 0, (v, v, v)),    # size 0 still has one row
    ]
    for n, i, want in cases:
        got = runner.run(mlir, [i64(n), i64(i), v], entry="t")
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w, err_msg=f"n={n} i={i}")


def test_seed_example(runner):
    mlir = """
func.func @f(%x: tensor<f32>, %y: tensor<f32>) -> tensor<f32> {
  %0 = kiln.mul %x, %x : tensor<f32>, tensor<f32> -> tensor<f32>
  %1 = kiln.mul %y, %y : tensor<f32>, tensor<f32> -> tensor<f32>
  %2 = kiln.mul %1, %y : tensor<f32>, tensor<f32> -> tensor<f32>
  %3 = kiln.add %0, %2 : tensor<f32>, tensor<f32> -> tensor<f32>
  return %3 : tensor<f32>
}
func.func @g(%x: tensor<f32>, %y: tensor<f32>) -> (tensor<f32>, tensor<f32>, tensor<f32>) {
  %v, %gx, %gy = kiln.value_and_grad @f(%x, %y) {wrt = array<i64: 0, 1>}
      : (tensor<f32>, tensor<f32>) -> (tensor<f32>, tensor<f32>, tensor<f32>)
  return %v, %gx, %gy : tensor<f32>, tensor<f32>, tensor<f32>
}
"""
    v, gx, gy = runner.run(mlir, [np.array(1, np.float32), np.array(2, np.float32)], entry="g")
    assert (v, gx, gy) == (9.0, 2.0, 12.0)


def test_second_order(runner):
    # f(x) = sum(x * sin(x)); f'' = 2 cos(x) - x sin(x), via grad of grad.
    mlir = """
func.func @f(%x: tensor<3xf64>) -> tensor<f64> {
  %s = kiln.sin %x : tensor<3xf64>
  %p = kiln.mul %x, %s : tensor<3xf64>, tensor<3xf64> -> tensor<3xf64>
  %r = kiln.reduce_sum %p {axes = array<i64: 0>} : tensor<3xf64> -> tensor<f64>
  return %r : tensor<f64>
}
func.func @df(%x: tensor<3xf64>) -> tensor<3xf64> {
  %g = kiln.grad @f(%x) {wrt = array<i64: 0>} : (tensor<3xf64>) -> tensor<3xf64>
  return %g : tensor<3xf64>
}
func.func @sum_df(%x: tensor<3xf64>) -> tensor<f64> {
  %g = func.call @df(%x) : (tensor<3xf64>) -> tensor<3xf64>
  %r = kiln.reduce_sum %g {axes = array<i64: 0>} : tensor<3xf64> -> tensor<f64>
  return %r : tensor<f64>
}
func.func @d2f(%x: tensor<3xf64>) -> tensor<3xf64> {
  %g = kiln.grad @sum_df(%x) {wrt = array<i64: 0>} : (tensor<3xf64>) -> tensor<3xf64>
  return %g : tensor<3xf64>
}
"""
    x = r64((3,))
    (d2,) = runner.run(mlir, [x], entry="d2f")
    np.testing.assert_allclose(d2, 2 * np.cos(x) - x * np.sin(x), rtol=1e-12)
    # tanh'' = -2 tanh (1 - tanh^2), and a matmul chain's second derivative.
    mlir2 = """
func.func @f(%x: tensor<4xf64>) -> tensor<f64> {
  %t = kiln.tanh %x : tensor<4xf64>
  %r = kiln.reduce_sum %t {axes = array<i64: 0>} : tensor<4xf64> -> tensor<f64>
  return %r : tensor<f64>
}
func.func @sum_df(%x: tensor<4xf64>) -> tensor<f64> {
  %g = kiln.grad @f(%x) {wrt = array<i64: 0>} : (tensor<4xf64>) -> tensor<4xf64>
  %r = kiln.reduce_sum %g {axes = array<i64: 0>} : tensor<4xf64> -> tensor<f64>
  return %r : tensor<f64>
}
func.func @d2f(%x: tensor<4xf64>) -> tensor<4xf64> {
  %g = kiln.grad @sum_df(%x) {wrt = array<i64: 0>} : (tensor<4xf64>) -> tensor<4xf64>
  return %g : tensor<4xf64>
}
"""
    x = r64((4,))
    (d2,) = runner.run(mlir2, [x], entry="d2f")
    t = np.tanh(x)
    np.testing.assert_allclose(d2, -2 * t * (1 - t * t), rtol=1e-12)
    # A matmul chain: f(x) = sum((x W)^2), grad f = 2 x W W^T, and
    # d/dx sum(grad f) = 2 ones W W^T.
    mlir3 = """
func.func @f(%x: tensor<2x3xf64>, %w: tensor<3x4xf64>) -> tensor<f64> {
  %y = kiln.matmul %x, %w : tensor<2x3xf64>, tensor<3x4xf64> -> tensor<2x4xf64>
  %s = kiln.square %y : tensor<2x4xf64>
  %r = kiln.reduce_sum %s {axes = array<i64: 0, 1>} : tensor<2x4xf64> -> tensor<f64>
  return %r : tensor<f64>
}
func.func @sum_df(%x: tensor<2x3xf64>, %w: tensor<3x4xf64>) -> tensor<f64> {
  %g = kiln.grad @f(%x, %w) {wrt = array<i64: 0>} : (tensor<2x3xf64>, tensor<3x4xf64>) -> tensor<2x3xf64>
  %r = kiln.reduce_sum %g {axes = array<i64: 0, 1>} : tensor<2x3xf64> -> tensor<f64>
  return %r : tensor<f64>
}
func.func @d2f(%x: tensor<2x3xf64>, %w: tensor<3x4xf64>) -> tensor<2x3xf64> {
  %g = kiln.grad @sum_df(%x, %w) {wrt = array<i64: 0>} : (tensor<2x3xf64>, tensor<3x4xf64>) -> tensor<2x3xf64>
  return %g : tensor<2x3xf64>
}
"""
    x, w = r64((2, 3)), r64((3, 4))
    (d2,) = runner.run(mlir3, [x, w], entry="d2f")
    np.testing.assert_allclose(d2, 2 * np.ones((2, 3)) @ (w @ w.T), rtol=1e-12)
