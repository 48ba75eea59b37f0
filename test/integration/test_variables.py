"""Variables end to end: a training step that assigns variables runs through
tensor-run with a variable store, updates them in place across calls, and
saves and loads safetensors checkpoints that an independent reader (json +
struct here) agrees with. Gradients with respect to variables are checked
against finite differences taken through checkpoints."""

import json
import os
import signal
import struct
import subprocess
import time

import numpy as np
import pytest

from conftest import TENSOR_RUN

DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4", "BOOL": "|b1",
          "F16": "<f2"}


def read_safetensors(path):
    """An independent reader: header length, JSON header, raw data."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[base + b:base + e], DTYPES[info["dtype"]]
                                  ).reshape(info["shape"]).copy()
    return out


def write_safetensors(path, tensors):
    """An independent writer, to feed tensor-run files it did not make."""
    header, blobs, offset = {}, [], 0
    codes = {v: k for k, v in DTYPES.items()}
    for name, array in tensors.items():
        array = np.asarray(array)
        raw = array.tobytes(order="C")
        header[name] = {"dtype": codes[array.dtype.str], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


LINEAR = """
kiln.variable @w : tensor<3xf64> = dense<[1.0, 2.0, 3.0]>
kiln.variable @b : tensor<f64> = dense<0.5>
kiln.variable @step : tensor<i64> = dense<0>
func.func private @loss(%x: tensor<4x3xf64>, %y: tensor<4xf64>) -> tensor<f64> {
  %w = kiln.read_variable @w : tensor<3xf64>
  %b = kiln.read_variable @b : tensor<f64>
  %wx = kiln.reshape %w : tensor<3xf64> -> tensor<3x1xf64>
  %p = kiln.matmul %x, %wx : tensor<4x3xf64>, tensor<3x1xf64> -> tensor<4x1xf64>
  %p1 = kiln.reshape %p : tensor<4x1xf64> -> tensor<4xf64>
  %q = kiln.add %p1, %b : tensor<4xf64>, tensor<f64> -> tensor<4xf64>
  %d = kiln.sub %q, %y : tensor<4xf64>, tensor<4xf64> -> tensor<4xf64>
  %sq = kiln.square %d : tensor<4xf64>
  %l = kiln.reduce_mean %sq {axes = array<i64: 0>} : tensor<4xf64> -> tensor<f64>
  return %l : tensor<f64>
}
func.func @loss_now(%x: tensor<4x3xf64>, %y: tensor<4xf64>) -> tensor<f64> {
  %l = func.call @loss(%x, %y) : (tensor<4x3xf64>, tensor<4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}
func.func @grads(%x: tensor<4x3xf64>, %y: tensor<4xf64>) -> (tensor<3xf64>, tensor<f64>) {
  %gw, %gb = kiln.grad @loss(%x, %y) {wrt_all_variables} : (tensor<4x3xf64>, tensor<4xf64>) -> (tensor<3xf64>, tensor<f64>)
  return %gw, %gb : tensor<3xf64>, tensor<f64>
}
func.func @train_step(%x: tensor<4x3xf64>, %y: tensor<4xf64>) -> tensor<f64> {
  %l, %gw, %gb = kiln.value_and_grad @loss(%x, %y) {wrt_variables = [@w, @b]} : (tensor<4x3xf64>, tensor<4xf64>) -> (tensor<f64>, tensor<3xf64>, tensor<f64>)
  %lr = kiln.constant dense<0.1> : tensor<f64>
  %w = kiln.read_variable @w : tensor<3xf64>
  %dw = kiln.mul %gw, %lr : tensor<3xf64>, tensor<f64> -> tensor<3xf64>
  %w1 = kiln.sub %w, %dw : tensor<3xf64>, tensor<3xf64> -> tensor<3xf64>
  kiln.assign_variable @w, %w1 : tensor<3xf64>
  %b = kiln.read_variable @b : tensor<f64>
  %db = kiln.mul %gb, %lr : tensor<f64>, tensor<f64> -> tensor<f64>
  %b1 = kiln.sub %b, %db : tensor<f64>, tensor<f64> -> tensor<f64>
  kiln.assign_variable @b, %b1 : tensor<f64>
  %s = kiln.read_variable @step : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %s1 = kiln.add %s, %one : tensor<i64>, tensor<i64> -> tensor<i64>
  kiln.assign_variable @step, %s1 : tensor<i64>
  return %l : tensor<f64>
}
"""

RNG = np.random.default_rng(3)
X = RNG.uniform(-1, 1, (4, 3))
Y = RNG.uniform(-1, 1, 4)


def reference_sgd(steps, w=(1.0, 2.0, 3.0), b=0.5, lr=0.1):
    w, b = np.array(w), float(b)
    loss = None
    for _ in range(steps):
        d = X @ w + b - Y
        loss = np.mean(d * d)
        gw = 2 * X.T @ d / len(d)
        gb = 2 * np.mean(d)
        w, b = w - lr * gw, b - lr * gb
    return w, b, loss


def test_training_step_updates_variables_in_place(runner, tmp_path):
    ckpt = str(tmp_path / "after10.safetensors")
    (loss,) = runner.run(LINEAR, [X, Y], entry="train_step",
                         args=["--repeat", "10", "--save-variables", ckpt])
    w, b, ref_loss = reference_sgd(10)
    saved = read_safetensors(ckpt)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
    np.testing.assert_allclose(saved["w"], w, rtol=1e-12)
    np.testing.assert_allclose(saved["b"], b, rtol=1e-12)
    assert saved["step"] == 10 and saved["step"].dtype == np.int64
    # Training continues from the checkpoint: 10 + 5 steps = 15 steps.
    ckpt2 = str(tmp_path / "after15.safetensors")
    (loss,) = runner.run(LINEAR, [X, Y], entry="train_step",
                         args=["--repeat", "5", "--load-variables", ckpt,
                               "--save-variables", ckpt2])
    w, b, ref_loss = reference_sgd(15)
    saved = read_safetensors(ckpt2)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
    np.testing.assert_allclose(saved["w"], w, rtol=1e-12)
    assert saved["step"] == 15


def test_checkpoints_from_another_writer_and_partial_ones(runner, tmp_path):
    # A file written by an independent writer loads; a variable it lacks
    # (@step) gets its initial value.
    ckpt = str(tmp_path / "mine.safetensors")
    write_safetensors(ckpt, {"w": np.array([0.5, -1.0, 2.0]), "b": np.array(-0.25)})
    runner.run(LINEAR, [X, Y], entry="train_step",
               args=["--load-variables", ckpt, "--print-variables"])
    w, b, _ = reference_sgd(1, w=(0.5, -1.0, 2.0), b=-0.25)
    assert "variable step: 1  (i64" in runner.stdout
    assert "variable b: %.6g" % b in runner.stdout


def test_variable_gradients_match_finite_differences(runner, tmp_path):
    (gw, gb) = runner.run(LINEAR, [X, Y], entry="grads")
    w0, b0, h = np.array([1.0, 2.0, 3.0]), 0.5, 1e-6

    def loss_at(w, b):
        path = str(tmp_path / "point.safetensors")
        write_safetensors(path, {"w": w, "b": np.array(b)})
        (l,) = runner.run(LINEAR, [X, Y], entry="loss_now",
                          args=["--load-variables", path])
        return float(l)

    numeric = []
    for j in range(3):
        e = np.zeros(3)
        e[j] = h
        numeric.append((loss_at(w0 + e, b0) - loss_at(w0 - e, b0)) / (2 * h))
    numeric_b = (loss_at(w0, b0 + h) - loss_at(w0, b0 - h)) / (2 * h)
    np.testing.assert_allclose(gw, numeric, rtol=1e-6)
    np.testing.assert_allclose(gb, numeric_b, rtol=1e-6)


CONTROL_FLOW = """
kiln.variable @w : tensor<2xf64> = dense<[0.7, -0.4]>
func.func private @scaled(%x: tensor<2xf64>) -> tensor<2xf64> {
  %w = kiln.read_variable @w : tensor<2xf64>
  %y = kiln.mul %x, %w : tensor<2xf64>, tensor<2xf64> -> tensor<2xf64>
  return %y : tensor<2xf64>
}
func.func private @f(%x: tensor<2xf64>, %p: tensor<i1>) -> tensor<f64> {
  %lb = kiln.constant dense<0> : tensor<i64>
  %ub = kiln.constant dense<3> : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %r = kiln.for %lb to %ub step %one iter_args(%x : tensor<2xf64>) do {
  ^bb0(%i: tensor<i64>, %c: tensor<2xf64>):
    %w = kiln.read_variable @w : tensor<2xf64>
    %m = kiln.mul %c, %w : tensor<2xf64>, tensor<2xf64> -> tensor<2xf64>
    %t = kiln.tanh %m : tensor<2xf64>
    kiln.yield %t : tensor<2xf64>
  }
  %c = kiln.cond %p -> (tensor<2xf64>) {
    %s = func.call @scaled(%r) : (tensor<2xf64>) -> tensor<2xf64>
    kiln.yield %s : tensor<2xf64>
  } else {
    kiln.yield %r : tensor<2xf64>
  }
  %l = kiln.reduce_sum %c {axes = array<i64: 0>} : tensor<2xf64> -> tensor<f64>
  return %l : tensor<f64>
}
func.func @f_now(%x: tensor<2xf64>, %p: tensor<i1>) -> tensor<f64> {
  %l = func.call @f(%x, %p) : (tensor<2xf64>, tensor<i1>) -> tensor<f64>
  return %l : tensor<f64>
}
func.func @df(%x: tensor<2xf64>, %p: tensor<i1>) -> tensor<2xf64> {
  %g = kiln.grad @f(%x, %p) {wrt_variables = [@w]} : (tensor<2xf64>, tensor<i1>) -> tensor<2xf64>
  return %g : tensor<2xf64>
}
"""


@pytest.mark.parametrize("pred", [True, False])
def test_variable_read_in_loops_conds_and_calls(runner, tmp_path, pred):
    x, p = np.array([0.9, -1.3]), np.array(pred)
    (g,) = runner.run(CONTROL_FLOW, [x, p], entry="df")
    w0, h = np.array([0.7, -0.4]), 1e-6

    def f_at(w):
        path = str(tmp_path / "w.safetensors")
        write_safetensors(path, {"w": w})
        (l,) = runner.run(CONTROL_FLOW, [x, p], entry="f_now",
                          args=["--load-variables", path])
        return float(l)

    numeric = [(f_at(w0 + e) - f_at(w0 - e)) / (2 * h) for e in np.eye(2) * h]
    np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-9)


def test_swapping_variables_is_not_corrupted(runner):
    # Each new value depends on the other variable's old one: writing in
    # place must not clobber a value that is still to be read.
    mlir = """
kiln.variable @a : tensor<3xf32> = dense<[1.0, 2.0, 3.0]>
kiln.variable @b : tensor<3xf32> = dense<[10.0, 20.0, 30.0]>
func.func @swap() -> tensor<3xf32> {
  %a = kiln.read_variable @a : tensor<3xf32>
  %b = kiln.read_variable @b : tensor<3xf32>
  kiln.assign_variable @a, %b : tensor<3xf32>
  kiln.assign_variable @b, %a : tensor<3xf32>
  %s = kiln.add %a, %b : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  return %s : tensor<3xf32>
}
"""
    (s,) = runner.run(mlir, [], entry="swap", args=["--repeat", "3", "--print-variables"])
    np.testing.assert_array_equal(s, [11, 22, 33])
    # Three swaps: a and b exchanged.
    assert "variable a: [10, 20, 30]" in runner.stdout
    assert "variable b: [1, 2, 3]" in runner.stdout


def test_checkpoint_errors_name_the_file_and_the_variable(runner, tmp_path):
    wrong = str(tmp_path / "wrong.safetensors")
    write_safetensors(wrong, {"w": np.zeros(4), "b": np.array(0.0)})
    err = runner.run(LINEAR, [X, Y], entry="train_step", expect_error="variable 'w'",
                     args=["--load-variables", wrong])
    assert "wrong.safetensors" in err and "[4]" in err and "[3]" in err
    # The same shape in another dtype is refused too (not reinterpreted).
    other = str(tmp_path / "other.safetensors")
    write_safetensors(other, {"w": np.ones(3, np.float32), "b": np.array(0.0)})
    err = runner.run(LINEAR, [X, Y], entry="train_step",
                     expect_error="variable 'w' is f32 [3] in the file but the module "
                                  "declares f64 [3]",
                     args=["--load-variables", other])
    # Bytes between two tensors belong to neither.
    gap = str(tmp_path / "gap.safetensors")
    header = json.dumps({"w": {"dtype": "F64", "shape": [3], "data_offsets": [0, 24]},
                         "b": {"dtype": "F64", "shape": [], "data_offsets": [32, 40]}}).encode()
    header += b" " * ((8 - len(header) % 8) % 8)
    with open(gap, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + np.ones(5).tobytes())
    runner.run(LINEAR, [X, Y], entry="train_step",
               expect_error="bytes 24 to 32 of the data belong to no tensor",
               args=["--load-variables", gap])
    runner.run(LINEAR, [X, Y], entry="train_step", expect_error="cannot open checkpoint",
               args=["--load-variables", str(tmp_path / "absent.safetensors")])
    good = str(tmp_path / "good.safetensors")
    write_safetensors(good, {"w": np.ones(3), "b": np.array(1.0)})
    data = open(good, "rb").read()
    cases = {
        "truncated.safetensors": (data[:-5], "outside the"),
        "short.safetensors": (data[:5], "shorter than the 8-byte header size"),
        "badjson.safetensors": (data[:8] + b"x" + data[9:], "not valid JSON"),
        "hugeheader.safetensors": (struct.pack("<Q", 1 << 40) + data[8:], "exceeds the file"),
        "extra.safetensors": (data + b"\0" * 8, "belong to no tensor"),
    }
    for name, (content, message) in cases.items():
        path = str(tmp_path / name)
        with open(path, "wb") as f:
            f.write(content)
        err = runner.run(LINEAR, [X, Y], entry="train_step", expect_error=message,
                         args=["--load-variables", path])
        assert name in err


def test_kill_during_save_leaves_the_previous_checkpoint_intact(tmp_path):
    # A 64 MiB variable: long enough to be caught mid-save.
    mlir = tmp_path / "big.mlir"
    mlir.write_text("""
kiln.variable @big : tensor<16777216xf32> = dense<1.0>
func.func @bump() {
  %v = kiln.read_variable @big : tensor<16777216xf32>
  %one = kiln.constant dense<1.0> : tensor<f32>
  %n = kiln.add %v, %one : tensor<16777216xf32>, tensor<f32> -> tensor<16777216xf32>
  kiln.assign_variable @big, %n : tensor<16777216xf32>
  return
}
""")
    ckpt = tmp_path / "big.safetensors"
    subprocess.run([TENSOR_RUN, str(mlir), "--entry", "bump", "--save-variables", str(ckpt)],
                   check=True, capture_output=True)
    before = ckpt.read_bytes()
    assert read_safetensors(str(ckpt))["big"][0] == 2.0
    killed = False
    for _ in range(20):
        proc = subprocess.Popen([TENSOR_RUN, str(mlir), "--entry", "bump",
                                 "--load-variables", str(ckpt), "--save-variables",
                                 str(ckpt)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        # Kill as soon as the temporary file of the save appears.
        deadline = time.time() + 60
        while proc.poll() is None and time.time() < deadline:
            if any(p.name.startswith("big.safetensors.tmp-") for p in tmp_path.iterdir()):
                proc.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.0005)
        proc.wait()
        if killed:
            break
        before = ckpt.read_bytes()  # the save completed: a new baseline
    assert killed, "never caught the save in progress"
    assert ckpt.read_bytes() == before
    loaded = read_safetensors(str(ckpt))["big"]
    assert loaded.shape == (16777216,) and np.all(loaded == loaded[0])
    # And tensor-run itself still loads it.
    subprocess.run([TENSOR_RUN, str(mlir), "--entry", "bump", "--load-variables", str(ckpt)],
                   check=True, capture_output=True)


OPTIMIZERS = """
kiln.variable @w : tensor<3xf64> = dense<[1.0, -2.0, 0.5]>
kiln.variable @t : tensor<i64> = dense<0>
func.func @step(%g: tensor<3xf64>, %lr: tensor<f64>) {
  %t = kiln.read_variable @t : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %t1 = kiln.add %t, %one : tensor<i64>, tensor<i64> -> tensor<i64>
  kiln.assign_variable @t, %t1 : tensor<i64>
  UPDATE
  return
}
"""


def reference_optimizer(kind, grads, lr, **kw):
    w = np.array([1.0, -2.0, 0.5])
    m, v = np.zeros(3), np.zeros(3)
    for t, g in enumerate(grads, start=1):
        if kind == "sgd":
            w = w - lr * g
        elif kind == "momentum":
            mu = kw["momentum"]
            m = mu * m - lr * g
            w = w + (mu * m - lr * g if kw.get("nesterov") else m)
        else:
            b1, b2, eps = 0.9, 0.999, 1e-7
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            w = w - lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
    return w


@pytest.mark.parametrize("kind,update,kw", [
    ("sgd", "kiln.apply_gradient_descent @w, %g, %lr : tensor<3xf64>, tensor<f64>", {}),
    ("momentum", "kiln.apply_momentum @w, %g, %lr {momentum = 0.8 : f64} : tensor<3xf64>, tensor<f64>",
     {"momentum": 0.8}),
    ("momentum", "kiln.apply_momentum @w, %g, %lr {momentum = 0.8 : f64, nesterov} : tensor<3xf64>, tensor<f64>",
     {"momentum": 0.8, "nesterov": True}),
    ("adam", "kiln.apply_adam @w, %g, %lr, %t1 : tensor<3xf64>, tensor<f64>", {}),
])
def test_optimizer_updates_match_their_formulas(runner, tmp_path, kind, update, kw):
    # The same gradient every step (inputs are fixed across --repeat): the
    # slots (momentum, Adam's moments) and the step counter carry over.
    g, lr = np.array([0.3, -1.2, 2.0]), np.array(0.05)
    ckpt = str(tmp_path / "opt.safetensors")
    runner.run(OPTIMIZERS.replace("UPDATE", update), [g, lr], entry="step",
               args=["--repeat", "7", "--save-variables", ckpt])
    saved = read_safetensors(ckpt)
    np.testing.assert_allclose(saved["w"], reference_optimizer(kind, [g] * 7, 0.05, **kw),
                               rtol=1e-12)
    slots = {"sgd": set(), "momentum": {"w_momentum"}, "adam": {"w_adam_m", "w_adam_v"}}
    assert set(saved) == {"w", "t"} | slots[kind]


DATA = "/usr/share/datasets/fashion-mnist"
EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "examples", "fashion_mnist_mlp.mlir")


def tensor_run(*args):
    proc = subprocess.run([TENSOR_RUN, EXAMPLE, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_fashion_mnist_mlp_trains_through_tensor_run(tmp_path):
    if not os.path.exists(os.path.join(DATA, "train-images-idx3-ubyte.gz")):
        pytest.fail("the Debian package dataset-fashion-mnist is not installed "
                    "(scripts/setup.sh installs it)")
    ckpt = str(tmp_path / "mlp.safetensors")
    train = [f"--input=idx:f32:{DATA}/train-images-idx3-ubyte.gz:10000",
             f"--input=idx:i32:{DATA}/train-labels-idx1-ubyte.gz:10000"]
    test = [f"--input=idx:f32:{DATA}/t10k-images-idx3-ubyte.gz",
            f"--input=idx:i32:{DATA}/t10k-labels-idx1-ubyte.gz"]
    tensor_run("--entry", "initialize", "--save-variables", ckpt)
    out = tensor_run("--entry", "train_step", "--repeat", "300", "--print-every", "1",
                     "--load-variables", ckpt, "--save-variables", ckpt, *train)
    losses = [float(line.split(": ")[1].split()[0]) for line in out.splitlines()
              if line.startswith("call ")]
    assert len(losses) == 300
    first, last = np.mean(losses[:10]), np.mean(losses[-50:])
    assert first > 1.5 and last < 0.3 * first, (first, last)
    assert read_safetensors(ckpt)["step"] == 300
    out = tensor_run("--entry", "accuracy", "--print", "--load-variables", ckpt, *test)
    accuracy = float(out.split("output 0: ")[1].split()[0])
    assert accuracy > 0.72, accuracy
    # The frozen module (variables as constants from the checkpoint) gives
    # the same accuracy with no checkpoint at run time.
    frozen = tmp_path / "frozen.mlir"
    opt = os.path.join(os.path.dirname(TENSOR_RUN), "tensor-opt")
    subprocess.run([opt, EXAMPLE, f"--kiln-freeze-variables=checkpoint={ckpt}",
                    "-o", str(frozen)], check=True)
    assert "kiln.variable" not in frozen.read_text()
    proc = subprocess.run([TENSOR_RUN, str(frozen), "--entry", "accuracy", "--print", *test],
                          capture_output=True, text=True, check=True)
    assert float(proc.stdout.split("output 0: ")[1].split()[0]) == accuracy


def test_idx_errors_name_the_file(runner, tmp_path):
    bad = tmp_path / "bad-idx1-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02")
    mlir = "func.func @f(%x: tensor<5xf32>) -> tensor<5xf32> {\n  return %x : tensor<5xf32>\n}\n"
    runner.run(mlir, [], entry="f", expect_error="the data is truncated (expected 5 bytes)",
               args=[f"--input=idx:f32:{bad}"])
    runner.run(mlir, [], entry="f", expect_error="cannot open",
               args=[f"--input=idx:f32:{tmp_path}/absent.gz"])
    runner.run(mlir, [], entry="f", expect_error="expected idx:DTYPE:PATH[:LIMIT]",
               args=[f"--input=idx:f32"])


def test_assignments_inside_control_flow(runner):
    # Per call: +1 in the taken branch, then +2 in each of 3 loop iterations,
    # then doubled while below 20.
    mlir = """
kiln.variable @count : tensor<f32> = dense<0.0>
func.func @tick(%p: tensor<i1>) -> tensor<f32> {
  %one = kiln.constant dense<1.0> : tensor<f32>
  %two = kiln.constant dense<2.0> : tensor<f32>
  %r = kiln.cond %p -> (tensor<f32>) {
    %c = kiln.read_variable @count : tensor<f32>
    %c1 = kiln.add %c, %one : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.assign_variable @count, %c1 : tensor<f32>
    kiln.yield %c1 : tensor<f32>
  } else {
    %c = kiln.read_variable @count : tensor<f32>
    kiln.yield %c : tensor<f32>
  }
  %zero = kiln.constant dense<0> : tensor<i64>
  %three = kiln.constant dense<3> : tensor<i64>
  %step = kiln.constant dense<1> : tensor<i64>
  kiln.for %zero to %three step %step do {
  ^bb0(%i: tensor<i64>):
    %c = kiln.read_variable @count : tensor<f32>
    %c2 = kiln.add %c, %two : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.assign_variable @count, %c2 : tensor<f32>
    kiln.yield
  }
  %limit = kiln.constant dense<20.0> : tensor<f32>
  %w = kiln.while (%limit : tensor<f32>) cond {
  ^bb0(%l: tensor<f32>):
    %c = kiln.read_variable @count : tensor<f32>
    %lt = kiln.compare lt, %c, %l : tensor<f32>, tensor<f32> -> tensor<i1>
    kiln.condition(%lt) %l : tensor<f32>
  } do {
  ^bb0(%l: tensor<f32>):
    %c = kiln.read_variable @count : tensor<f32>
    %d = kiln.add %c, %c : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.assign_variable @count, %d : tensor<f32>
    kiln.yield %l : tensor<f32>
  }
  %out = kiln.read_variable @count : tensor<f32>
  return %out : tensor<f32>
}
"""
    def reference(calls, pred):
        c = 0.0
        for _ in range(calls):
            c += 1.0 if pred else 0.0
            c += 6.0
            while c < 20.0:
                c += c
        return c
    for pred in (True, False):
        (out,) = runner.run(mlir, [np.array(pred)], entry="tick", args=["--repeat", "3"])
        assert float(out) == reference(3, pred)
