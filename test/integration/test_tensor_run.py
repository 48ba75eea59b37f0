"""tensor-run's behaviour on bad input: every failure is a message that names
the problem and where it is, with exit code 1 (never a crash)."""

import subprocess

import numpy as np

from conftest import TENSOR_RUN

MODULE = """
func.func @affine(%x: tensor<4x3xf32>, %w: tensor<3x2xf32>) -> tensor<4x2xf32> {
  %0 = kiln.matmul %x, %w : tensor<4x3xf32>, tensor<3x2xf32> -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}
func.func @negate(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %0 = kiln.neg %x : tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}
"""


def run(tmp_path, module, *args):
    path = tmp_path / "m.mlir"
    path.write_text(module)
    proc = subprocess.run([TENSOR_RUN, str(path), *map(str, args)],
                          capture_output=True, text=True)
    assert proc.returncode in (0, 1), f"crashed ({proc.returncode}): {proc.stderr}"
    return proc


def save(tmp_path, name, array):
    path = tmp_path / name
    np.save(path, array)
    return path


def test_runs_and_prints(tmp_path):
    x = save(tmp_path, "x.npy", np.ones((4, 3), np.float32))
    proc = run(tmp_path, MODULE, "--entry", "negate", "--input", x, "--print")
    assert proc.returncode == 0, proc.stderr
    assert "output 0: [[-1, -1, -1]" in proc.stdout
    assert "(f32, shape (4, 3))" in proc.stdout


def test_ambiguous_entry_lists_entries(tmp_path):
    proc = run(tmp_path, MODULE)
    assert proc.returncode == 1
    assert "has 2 entry points; choose one with --entry (affine, negate)" in proc.stderr


def test_missing_function(tmp_path):
    proc = run(tmp_path, MODULE, "--entry", "nope")
    assert "no entry named 'nope' (entries: affine, negate)" in proc.stderr


def test_wrong_argument_count(tmp_path):
    x = save(tmp_path, "x.npy", np.ones((4, 3), np.float32))
    proc = run(tmp_path, MODULE, "--entry", "affine", "--input", x)
    assert "entry 'affine' takes 2 inputs, got 1" in proc.stderr


def test_wrong_shape_and_dtype(tmp_path):
    x = save(tmp_path, "x.npy", np.ones((4, 3), np.float32))
    bad_shape = save(tmp_path, "w.npy", np.ones((2, 3), np.float32))
    proc = run(tmp_path, MODULE, "--entry", "affine", "--input", x, "--input", bad_shape)
    assert "entry 'affine': input #1 has shape [2, 3] but [3, 2] is expected" in proc.stderr
    bad_dtype = save(tmp_path, "w64.npy", np.ones((3, 2), np.float64))
    proc = run(tmp_path, MODULE, "--entry", "affine", "--input", x, "--input", bad_dtype)
    assert "entry 'affine': input #1 has dtype f64 but f32 is expected" in proc.stderr


def test_corrupt_and_missing_npy(tmp_path):
    good = save(tmp_path, "x.npy", np.ones((4, 3), np.float32))
    data = good.read_bytes()
    truncated = tmp_path / "truncated.npy"
    truncated.write_bytes(data[:-8])
    proc = run(tmp_path, MODULE, "--entry", "negate", "--input", truncated)
    assert "truncated.npy: not a valid .npy file: data is shorter than shape [4, 3]" in proc.stderr
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"hello world, not numpy")
    proc = run(tmp_path, MODULE, "--entry", "negate", "--input", garbage)
    assert "garbage.npy: not a valid .npy file: bad magic" in proc.stderr
    proc = run(tmp_path, MODULE, "--entry", "negate", "--input", tmp_path / "absent.npy")
    assert "cannot open" in proc.stderr and "absent.npy" in proc.stderr
    fortran = tmp_path / "f.npy"
    np.save(fortran, np.asfortranarray(np.ones((4, 3), np.float32)))
    proc = run(tmp_path, MODULE, "--entry", "negate", "--input", fortran)
    assert "Fortran-ordered arrays are not supported" in proc.stderr


def test_parse_and_verify_errors_have_locations(tmp_path):
    proc = run(tmp_path, "func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n"
                         "  %0 = kiln.bogus %x : tensor<4xf32>\n  return %0 : tensor<4xf32>\n}\n")
    assert proc.returncode == 1
    assert "m.mlir:2:" in proc.stderr and "kiln.bogus" in proc.stderr
    proc = run(tmp_path, "func.func @f(%x: tensor<4x3xf32>, %y: tensor<4xf32>) -> tensor<4x3xf32> {\n"
                         "  %0 = kiln.add %x, %y : tensor<4x3xf32>, tensor<4xf32> -> tensor<4x3xf32>\n"
                         "  return %0 : tensor<4x3xf32>\n}\n")
    assert "m.mlir:2:8: error: shapes [4, 3] and [4] are not broadcast-compatible" in proc.stderr


OPEN = """
func.func @scores(%x: tensor<?x3xf32>, %w: tensor<3x2xf32>, %b: tensor<?x2xf32>)
    -> (tensor<?x2xf32>, tensor<?xf32>) {
  %0 = kiln.matmul %x, %w : tensor<?x3xf32>, tensor<3x2xf32> -> tensor<?x2xf32>
  %1 = kiln.add %0, %b : tensor<?x2xf32>, tensor<?x2xf32> -> tensor<?x2xf32>
  %2 = kiln.softmax %1 : tensor<?x2xf32> -> tensor<?x2xf32>
  %3 = kiln.reduce_mean %1 {axes = array<i64: 1>} : tensor<?x2xf32> -> tensor<?xf32>
  return %2, %3 : tensor<?x2xf32>, tensor<?xf32>
}
"""


def test_open_extents_run_for_every_size(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 2)).astype(np.float32)
    wp = save(tmp_path, "w.npy", w)
    for n in (1, 7, 64):
        x = rng.standard_normal((n, 3)).astype(np.float32)
        b = rng.standard_normal((n, 2)).astype(np.float32)
        out = tmp_path / f"out{n}"
        proc = run(tmp_path, OPEN, "--input", save(tmp_path, "x.npy", x),
                   "--input", wp, "--input", save(tmp_path, "b.npy", b),
                   "--output-dir", out)
        assert proc.returncode == 0, proc.stderr
        z = x @ w + b
        e = np.exp(z - z.max(axis=1, keepdims=True))
        np.testing.assert_allclose(np.load(out / "0.npy"),
                                   e / e.sum(axis=1, keepdims=True), rtol=1e-5)
        np.testing.assert_allclose(np.load(out / "1.npy"), z.mean(axis=1),
                                   rtol=1e-5, atol=1e-6)


def test_open_extents_that_do_not_fit(tmp_path):
    x = save(tmp_path, "x.npy", np.ones((4, 3), np.float32))
    w = save(tmp_path, "w.npy", np.ones((3, 2), np.float32))
    b = save(tmp_path, "b.npy", np.ones((5, 2), np.float32))
    proc = run(tmp_path, OPEN, "--input", x, "--input", w, "--input", b)
    assert proc.returncode == 1
    assert ("entry 'scores': the input shapes do not fit together: "
            f"{tmp_path / 'm.mlir'}:5:8: dimension 0 of operand #1 does not "
            "match the other operands") in proc.stderr, proc.stderr
    # Static extents are still checked before the call.
    w = save(tmp_path, "w.npy", np.ones((4, 2), np.float32))
    proc = run(tmp_path, OPEN, "--input", x, "--input", w, "--input", b)
    assert "input #1 has shape [4, 2] but [3, 2] is expected" in proc.stderr


RESHAPE_OPEN = """func.func @f(%x: tensor<?x3xf64>) -> (tensor<2x3xf64>, tensor<?x2xf64>) {
  %a = kiln.reshape %x : tensor<?x3xf64> -> tensor<2x3xf64>
  %b = kiln.reshape %x : tensor<?x3xf64> -> tensor<?x2xf64>
  return %a, %b : tensor<2x3xf64>, tensor<?x2xf64>
}
"""


def test_reshape_of_open_extents(tmp_path):
    # An open input to fixed extents, and to another open extent (found by
    # the random-program generator: the first failed to compile, the second
    # silently dropped the elements a wrong count left over).
    x = np.arange(6.0).reshape(2, 3)
    out = tmp_path / "out"
    proc = run(tmp_path, RESHAPE_OPEN, "--input", save(tmp_path, "x.npy", x),
               "--output-dir", out)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(out / "0.npy"), x)
    np.testing.assert_array_equal(np.load(out / "1.npy"), x.reshape(3, 2))
    # Nine elements fit neither result: each check names its reshape.
    proc = run(tmp_path, RESHAPE_OPEN, "--input",
               save(tmp_path, "x.npy", np.zeros((3, 3))), "--entry", "f")
    assert proc.returncode == 1
    assert (f"{tmp_path / 'm.mlir'}:2:8: kiln.reshape: the input does not have the 6 "
            "elements of tensor<2x3xf64>") in proc.stderr, proc.stderr
    module = RESHAPE_OPEN.replace("tensor<2x3xf64>", "tensor<3x3xf64>")
    proc = run(tmp_path, module, "--input", save(tmp_path, "x.npy", np.zeros((3, 3))))
    assert (f"{tmp_path / 'm.mlir'}:3:8: kiln.reshape: the input's element count is "
            "not a multiple of 2, as tensor<?x2xf64> needs") in proc.stderr, proc.stderr


RESHAPE_GRADIENT = """func.func @f(%x: tensor<2x?x?xf64>) -> tensor<f64> {
  %r = kiln.reshape %x : tensor<2x?x?xf64> -> tensor<?xf64>
  %t = kiln.tanh %r : tensor<?xf64>
  %s = kiln.reduce_sum %t {axes = array<i64: 0>} : tensor<?xf64> -> tensor<f64>
  return %s : tensor<f64>
}
func.func @g(%x: tensor<2x?x?xf64>) -> tensor<2x?x?xf64> {
  %g = kiln.grad @f(%x) {wrt = array<i64: 0>} : (tensor<2x?x?xf64>) -> tensor<2x?x?xf64>
  return %g : tensor<2x?x?xf64>
}
func.func @h(%x: tensor<?xf64>, %l: tensor<2x?x?xf64>) -> tensor<2x?x?xf64> {
  %r = kiln.reshape %x like %l : tensor<?xf64>, tensor<2x?x?xf64> -> tensor<2x?x?xf64>
  return %r : tensor<2x?x?xf64>
}
"""


def test_gradient_of_a_reshape_with_two_open_extents(tmp_path):
    # The gradient reshapes back to the input's shape, whose two open
    # extents come from the input itself (kiln.reshape ... like); it used
    # to be refused ("lowered with static shapes only").
    x = np.linspace(-1, 1, 24).reshape(2, 3, 4)
    out = tmp_path / "out"
    proc = run(tmp_path, RESHAPE_GRADIENT, "--entry", "g", "--input",
               save(tmp_path, "x.npy", x), "--output-dir", out)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(np.load(out / "0.npy"), 1 - np.tanh(x) ** 2, rtol=1e-12)
    proc = run(tmp_path, RESHAPE_GRADIENT, "--entry", "h", "--input",
               save(tmp_path, "f.npy", np.arange(25.0)), "--input", tmp_path / "x.npy")
    assert (f"{tmp_path / 'm.mlir'}:12:8: kiln.reshape: the input's element count differs "
            "from that of 'like' in the shape tensor<2x?x?xf64>") in proc.stderr, proc.stderr


UNBROADCAST_OPEN = """func.func @f(%x: tensor<3x?x?xf64>, %w: tensor<3x1x2xf64>) -> tensor<f64> {
  %s = kiln.mul %x, %x : tensor<3x?x?xf64>, tensor<3x?x?xf64> -> tensor<3x?x?xf64>
  %p = kiln.mul %s, %w : tensor<3x?x?xf64>, tensor<3x1x2xf64> -> tensor<3x?x?xf64>
  %l = kiln.reduce_sum %p {axes = array<i64: 0, 1, 2>} : tensor<3x?x?xf64> -> tensor<f64>
  return %l : tensor<f64>
}
func.func @g(%x: tensor<3x?x?xf64>, %w: tensor<3x1x2xf64>) -> (tensor<3x?x?xf64>, tensor<3x1x2xf64>) {
  %gx, %gw = kiln.grad @f(%x, %w) {wrt = array<i64: 0, 1>} : (tensor<3x?x?xf64>, tensor<3x1x2xf64>) -> (tensor<3x?x?xf64>, tensor<3x1x2xf64>)
  return %gx, %gw : tensor<3x?x?xf64>, tensor<3x1x2xf64>
}
"""


def test_gradient_of_a_broadcast_with_two_open_extents(tmp_path):
    # Summing a gradient back to an operand with two open extents reshapes
    # to the operand's shape (found by the random programs: it was refused).
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((3, 1, 2)), rng.standard_normal((3, 1, 2))
    out = tmp_path / "out"
    proc = run(tmp_path, UNBROADCAST_OPEN, "--entry", "g", "--input",
               save(tmp_path, "x.npy", x), "--input", save(tmp_path, "w.npy", w),
               "--output-dir", out)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(np.load(out / "0.npy"), 2 * x * w, rtol=1e-12)
    np.testing.assert_allclose(np.load(out / "1.npy"), x * x, rtol=1e-12)


MATMUL_OPEN_K = """func.func @f(%a: tensor<?x?xf64>, %b: tensor<2x?xf64>) -> tensor<f64> {
  %m = kiln.matmul %a, %b : tensor<?x?xf64>, tensor<2x?xf64> -> tensor<?x?xf64>
  %t = kiln.tanh %m : tensor<?x?xf64>
  %s = kiln.reduce_sum %t {axes = array<i64: 0, 1>} : tensor<?x?xf64> -> tensor<f64>
  return %s : tensor<f64>
}
func.func @g(%a: tensor<?x?xf64>, %b: tensor<2x?xf64>) -> tensor<?x?xf64> {
  %g = kiln.grad @f(%a, %b) {wrt = array<i64: 0>} : (tensor<?x?xf64>, tensor<2x?xf64>) -> tensor<?x?xf64>
  return %g : tensor<?x?xf64>
}
func.func @empty(%x: tensor<?x0x2xf64>) -> (tensor<0xf64>, tensor<?x3xf64>) {
  %a = kiln.reshape %x : tensor<?x0x2xf64> -> tensor<0xf64>
  %b = kiln.reshape %x : tensor<?x0x2xf64> -> tensor<?x3xf64>
  return %a, %b : tensor<0xf64>, tensor<?x3xf64>
}
"""


def test_gradient_with_an_inferred_extent_and_empty_reshapes(tmp_path):
    # The gradient for %a is inferred as ?x2 (the inner extent from %b);
    # it is returned as the argument's ?x? (it was a type error). And a
    # reshape of an input with a fixed 0 and an open extent (refused by
    # memref.collapse_shape before). Both found by the random programs.
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((3, 2)), rng.standard_normal((2, 4))
    out = tmp_path / "out"
    proc = run(tmp_path, MATMUL_OPEN_K, "--entry", "g", "--input", save(tmp_path, "a.npy", a),
               "--input", save(tmp_path, "b.npy", b), "--output-dir", out)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(np.load(out / "0.npy"), (1 - np.tanh(a @ b) ** 2) @ b.T,
                               rtol=1e-12)
    proc = run(tmp_path, MATMUL_OPEN_K, "--entry", "empty", "--input",
               save(tmp_path, "x.npy", np.zeros((4, 0, 2))), "--output-dir", out)
    assert proc.returncode == 0, proc.stderr
    assert np.load(out / "0.npy").shape == (0,) and np.load(out / "1.npy").shape == (0, 3)


SOFTMAX_OPEN = """func.func @f(%x: tensor<?x?x4xf64>, %w: tensor<4xf64>) -> tensor<f64> {
  %s = kiln.softmax %x {axis = -1 : i64} : tensor<?x?x4xf64> -> tensor<?x?x4xf64>
  %p = kiln.mul %s, %w : tensor<?x?x4xf64>, tensor<4xf64> -> tensor<?x?x4xf64>
  %l = kiln.reduce_sum %p {axes = array<i64: 0, 1, 2>} : tensor<?x?x4xf64> -> tensor<f64>
  return %l : tensor<f64>
}
func.func @g(%x: tensor<?x?x4xf64>, %w: tensor<4xf64>) -> tensor<?x?x4xf64> {
  %g = kiln.grad @f(%x, %w) {wrt = array<i64: 0>} : (tensor<?x?x4xf64>, tensor<4xf64>) -> tensor<?x?x4xf64>
  return %g : tensor<?x?x4xf64>
}
"""


def test_softmax_gradient_with_two_open_extents(tmp_path):
    # The softmax gradient's keepdims sum is reshaped back to two open
    # extents (it crashed the compiler, found by the random programs).
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 3, 4)), rng.standard_normal(4)
    out = tmp_path / "out"
    proc = run(tmp_path, SOFTMAX_OPEN, "--entry", "g", "--input", save(tmp_path, "x.npy", x),
               "--input", save(tmp_path, "w.npy", w), "--output-dir", out)
    assert proc.returncode == 0, proc.stderr
    e = np.exp(x - x.max(-1, keepdims=True))
    s = e / e.sum(-1, keepdims=True)
    want = s * (w - (s * w).sum(-1, keepdims=True))
    np.testing.assert_allclose(np.load(out / "0.npy"), want, rtol=1e-12, atol=1e-15)


EMPTY_MEETS_OPEN = """func.func @f(%a: tensor<3x?xf64>, %b: tensor<3x0xf64>) -> tensor<3x?xf32> {
  %m = kiln.maximum %a, %b : tensor<3x?xf64>, tensor<3x0xf64> -> tensor<3x?xf64>
  %c = kiln.cast %m : tensor<3x?xf64> -> tensor<3x?xf32>
  return %c : tensor<3x?xf32>
}
"""


def test_fixed_zero_extent_meeting_an_open_one(tmp_path):
    # After shape refinement the cast's input is 3x0 and its result 3x?:
    # the result extent is the operand's 0, not max(1, 0) (which made a
    # 3x1 output, refused by linalg; found by the 10,000-program run).
    out = tmp_path / "out"
    z = save(tmp_path, "z.npy", np.zeros((3, 0)))
    proc = run(tmp_path, EMPTY_MEETS_OPEN, "--input", z, "--input", z, "--output-dir", out)
    assert proc.returncode == 0, proc.stderr
    got = np.load(out / "0.npy")
    assert got.shape == (3, 0) and got.dtype == np.float32


EMPTY_PRODUCT_MEETS_OPEN = """func.func @f(%x: tensor<?x?xf64>, %a: tensor<1x?xf64>, %b: tensor<0x0xf64>) -> tensor<?x?xf64> {
  %p = kiln.matmul %a, %b : tensor<1x?xf64>, tensor<0x0xf64> -> tensor<1x0xf64>
  %r = kiln.mul %x, %p : tensor<?x?xf64>, tensor<1x0xf64> -> tensor<?x?xf64>
  return %r : tensor<?x?xf64>
}
"""


def test_fixed_zero_extent_broadcast_against_open_ones(tmp_path):
    # An elementwise op with a 1x0 operand and an open ?x? output: the CPU
    # code generator split it into chunks whose slices of the 0 extent
    # failed to compile (found by the 10,000-program run). NumPy gives a
    # 5x0 result.
    out = tmp_path / "out"
    x, a, b = np.zeros((5, 0)), np.zeros((1, 0)), np.zeros((0, 0))
    proc = run(tmp_path, EMPTY_PRODUCT_MEETS_OPEN, "--input", save(tmp_path, "x.npy", x),
               "--input", save(tmp_path, "a.npy", a), "--input", save(tmp_path, "b.npy", b),
               "--output-dir", out)
    assert proc.returncode == 0, proc.stderr
    assert np.load(out / "0.npy").shape == (x * (a @ b)).shape


MASKED_PRODUCT = """
func.func @f(%x: tensor<1x3xf64>, %w: tensor<3x5xf64>) -> tensor<1x5xf64> {
  %p = kiln.matmul %x, %w : tensor<1x3xf64>, tensor<3x5xf64> -> tensor<1x5xf64>
  %c = kiln.constant dense<[3]> : tensor<1xi64>
  %h = kiln.one_hot %c {depth = 5 : i64} : tensor<1xi64> -> tensor<1x5xf64>
  %m = kiln.mul %p, %h : tensor<1x5xf64>, tensor<1x5xf64> -> tensor<1x5xf64>
  return %m : tensor<1x5xf64>
}
"""


def test_one_hot_mask_of_a_product(tmp_path):
    # The mask is applied in place to the product's buffer; the CPU
    # vectorizer took the multiplication for a reduction and the module
    # failed to compile (found by the 10,000-program run).
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((1, 3)), rng.standard_normal((3, 5))
    out = tmp_path / "out"
    proc = run(tmp_path, MASKED_PRODUCT, "--input", save(tmp_path, "x.npy", x),
               "--input", save(tmp_path, "w.npy", w), "--output-dir", out)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(np.load(out / "0.npy"), (x @ w) * np.eye(5)[[3]],
                               rtol=1e-12, atol=1e-12)


def test_unranked_entry_is_rejected(tmp_path):
    proc = run(tmp_path, "func.func @f(%x: tensor<*xf32>) -> tensor<*xf32> {\n"
                         "  return %x : tensor<*xf32>\n}\n")
    assert "entry point 'f': input #0 has type 'tensor<*xf32>'" in proc.stderr


def test_missing_file(tmp_path):
    proc = subprocess.run([TENSOR_RUN, str(tmp_path / "absent.mlir")],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "cannot read" in proc.stderr


def test_output_round_trip_dtypes(tmp_path):
    module = """
func.func @f(%b: tensor<3xi1>, %i: tensor<3xi64>, %h: tensor<3xf16>) -> (tensor<3xi1>, tensor<3xi64>, tensor<3xf16>, tensor<f64>) {
  %n = kiln.logical_not %b : tensor<3xi1>
  %j = kiln.neg %i : tensor<3xi64>
  %k = kiln.add %h, %h : tensor<3xf16>, tensor<3xf16> -> tensor<3xf16>
  %c = kiln.constant dense<2.5> : tensor<f64>
  return %n, %j, %k, %c : tensor<3xi1>, tensor<3xi64>, tensor<3xf16>, tensor<f64>
}
"""
    b = save(tmp_path, "b.npy", np.array([True, False, True]))
    i = save(tmp_path, "i.npy", np.array([1, -2, 3], np.int64))
    h = save(tmp_path, "h.npy", np.array([0.5, 1.5, -2.0], np.float16))
    out = tmp_path / "out"
    proc = run(tmp_path, module, "--input", b, "--input", i, "--input", h, "--output-dir", out)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(out / "0.npy"), [False, True, False])
    np.testing.assert_array_equal(np.load(out / "1.npy"), [-1, 2, -3])
    np.testing.assert_array_equal(np.load(out / "2.npy"), np.array([1, 3, -4], np.float16))
    c = np.load(out / "3.npy")
    assert c.shape == () and c.dtype == np.float64 and c == 2.5


def test_repeated_and_argument_results(tmp_path):
    # The same value returned twice, an argument returned as is, and folded
    # constants that coincide: every output still gets its own buffer.
    module = """
func.func @f(%x: tensor<3xf32>, %i: tensor<3xi32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xi1>, tensor<3xi1>) {
  %e = kiln.exp %x : tensor<3xf32>
  %a = kiln.compare lt, %i, %i : tensor<3xi32>, tensor<3xi32> -> tensor<3xi1>
  %b = kiln.compare gt, %i, %i : tensor<3xi32>, tensor<3xi32> -> tensor<3xi1>
  return %e, %e, %x, %a, %b : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xi1>, tensor<3xi1>
}
"""
    xv = np.array([0.0, 1.0, -1.0], np.float32)
    x = save(tmp_path, "x.npy", xv)
    i = save(tmp_path, "i.npy", np.array([1, 2, 3], np.int32))
    out = tmp_path / "out"
    proc = run(tmp_path, module, "--input", x, "--input", i, "--output-dir", out)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(np.load(out / "0.npy"), np.exp(xv), rtol=1e-6)
    np.testing.assert_allclose(np.load(out / "1.npy"), np.exp(xv), rtol=1e-6)
    np.testing.assert_array_equal(np.load(out / "2.npy"), xv)
    assert not np.load(out / "3.npy").any() and not np.load(out / "4.npy").any()
