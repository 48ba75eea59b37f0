"""scripts/gpu-check.sh, the one-command check for a GPU machine, exercised
here on a CPU bundle (`prepare RECDIR cpu`): a GPU run is rare, so the
harness around it must already work when one comes.

The recording is written by hand with NumPy's results as the expected
outputs, including one case whose expected output is planted wrong and one
module the compiler refuses: the harness has to report exactly those."""

import json
import os
import stat
import subprocess

import numpy as np
import pytest

from conftest import BUILD, ROOT

SCRIPT = os.path.join(ROOT, "scripts", "gpu-check.sh")

ADD = """func.func @f(%a: tensor<3x4xf32>, %b: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %r = kiln.add %a, %b : tensor<3x4xf32>, tensor<3x4xf32> -> tensor<3x4xf32>
  return %r : tensor<3x4xf32>
}
"""

MATMUL = """func.func @g(%a: tensor<5x7xf64>, %b: tensor<7x3xf64>) -> tensor<5x3xf64> {
  %r = kiln.matmul %a, %b : tensor<5x7xf64>, tensor<7x3xf64> -> tensor<5x3xf64>
  return %r : tensor<5x3xf64>
}
"""

BROKEN = """func.func @f(%a: tensor<3xf32>) -> tensor<3xf32> {
  %r = kiln.no_such_op %a : tensor<3xf32> -> tensor<3xf32>
  return %r : tensor<3xf32>
}
"""


def write_case(rec, name, test, module, inputs, outputs, entry="", args=""):
    """One case as the integration suite's KILN_IT_RECORD writes it."""
    directory = rec / name
    (directory / "out").mkdir(parents=True)
    (directory / "case.txt").write_text(f"test {test}\nentry {entry}\nargs {args}\n")
    (directory / "module.mlir").write_text(module)
    for i, array in enumerate(inputs):
        np.save(directory / f"in{i}.npy", array)
    for i, array in enumerate(outputs):
        np.save(directory / "out" / f"{i}.npy", array)


def script(*args, env=None, timeout=600):
    environment = {k: v for k, v in os.environ.items() if k != "OUT"}
    environment.update(env or {})
    return subprocess.run(["bash", SCRIPT, *args], capture_output=True, text=True,
                          env=environment, timeout=timeout)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A recording of five cases, prepared for the CPU."""
    if not os.path.exists(os.path.join(BUILD, "bin", "tensor-compile")):
        pytest.skip("needs the built tools")
    tmp = tmp_path_factory.mktemp("gpu-check")
    rec = tmp / "rec"
    rng = np.random.default_rng(7)
    a, b = (rng.standard_normal((3, 4)).astype(np.float32) for _ in range(2))
    write_case(rec, "test_add-0", "t.py::test_add", ADD, [a, b], [a + b])
    # A second case of the same test: only the first is taken.
    write_case(rec, "test_add-1", "t.py::test_add", ADD, [b, a], [a + b + 1])
    m, n = rng.standard_normal((5, 7)), rng.standard_normal((7, 3))
    write_case(rec, "test_matmul-0", "t.py::test_matmul", MATMUL, [m, n], [m @ n],
               entry="g", args="--repeat 3 --save-variables v.safetensors")
    # The planted error: the expected sum is off by 1% in one element.
    wrong = a + b
    wrong[1, 2] *= 1.01
    write_case(rec, "test_wrong-0", "t.py::test_wrong", ADD, [a, b], [wrong])
    write_case(rec, "test_broken-0", "t.py::test_broken", BROKEN,
               [np.ones(3, np.float32)], [np.ones(3, np.float32)])
    # Over 1 MB of inputs: left out of the bundle.
    big = np.zeros((600, 600), np.float32)
    write_case(rec, "test_big-0", "t.py::test_big", ADD.replace("3x4", "600x600"),
               [big, big], [big])
    out = tmp / "bundle"
    prepared = script("prepare", str(rec), "cpu", str(out))
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    return tmp, out, prepared.stdout


def test_prepare_selects_and_packs(bundle):
    tmp, out, log = bundle
    cases = (out / "cases.txt").read_text().split()
    assert sorted(cases) == ["test_add-0", "test_broken-0", "test_matmul-0", "test_wrong-0"]
    assert "compile failed: test_broken-0" in log
    assert (out / "cases" / "test_broken-0" / "compile.err").read_text().strip()
    assert not (out / "cases" / "test_broken-0" / "libcase.so").exists()
    for name in ("test_add-0", "test_matmul-0"):
        assert (out / "cases" / name / "libcase.so").exists()
        assert not (out / "cases" / name / "module.mlir").exists()
    assert (tmp / "bundle.tar.gz").stat().st_size > 0
    for model in ("mlp", "cnn", "mlp_mixed"):
        curve = (out / "train" / model / "cpu-loss.txt").read_text().split()
        steps = int((out / "train" / model / "steps.txt").read_text())
        assert len(curve) == steps and all(np.isfinite(float(x)) for x in curve)


def test_prepare_does_not_replace_other_folders(tmp_path):
    keep = tmp_path / "precious"
    keep.mkdir()
    (keep / "data.txt").write_text("mine")
    rec = tmp_path / "rec"
    rec.mkdir()
    result = script("prepare", str(rec), "cpu", str(keep))
    assert result.returncode != 0
    assert "not a gpu-check bundle" in result.stdout
    assert (keep / "data.txt").read_text() == "mine"


def test_run_reports_the_planted_failure(bundle):
    tmp, out, _ = bundle
    logs = tmp / "run-out"
    logs.mkdir()
    result = script("run", str(out), env={"OUT": str(logs), "KILN_GPU_CHECK_JOBS": "3"})
    text = result.stdout + result.stderr
    assert result.returncode == 1, text
    assert "gpu-check: 2 passed, 1 failed, 1 not compiled" in text
    assert "FAIL test_wrong-0" in text
    assert (logs / "failed.txt").read_text().split() == ["test_wrong-0"]
    log = (logs / "gpu-check.log").read_text()
    assert "== test_add-0 (rc 0)" in log and "== test_matmul-0 (rc 0)" in log
    # The training curves and speed figures still ran, and agree.
    report = json.loads((logs / "perf.json").read_text())
    assert report["train_mlp"]["ok"] and report["train_cnn"]["ok"]
    assert report["train_mlp_mixed"]["ok"]
    assert "training mlp: 60 steps" in text and "SGEMM 4096^2 f32" in text
    assert "training mlp_mixed: 60 steps" in text and "limit 0.05" in text


def test_run_fails_on_a_wrong_loss_curve(bundle, tmp_path):
    _, out, _ = bundle
    curve = out / "train" / "mlp" / "cpu-loss.txt"
    saved = curve.read_text()
    values = saved.split()
    values[-1] = str(float(values[-1]) * 1.05)
    curve.write_text("\n".join(values) + "\n")
    try:
        result = script("run", str(out), env={"OUT": str(tmp_path)})
    finally:
        curve.write_text(saved)
    assert result.returncode == 1
    assert "training mlp: 60 steps" in result.stdout and ": FAIL" in result.stdout
    assert not json.loads((tmp_path / "perf.json").read_text())["train_mlp"]["ok"]


def test_run_compares_the_unmerged_step(bundle, tmp_path):
    """For a GPU, prepare also builds each step with one launch per kernel;
    run trains it too and prints how far its curve is from the CPU's. (A
    CPU bundle has none: the CPU library stands in for it here.)"""
    import shutil
    _, out, _ = bundle
    unmerged = out / "train" / "mlp" / "gpu-unmerged"
    unmerged.mkdir()
    shutil.copy(out / "train" / "mlp" / "gpu" / "libmlp.so", unmerged / "libmlp.so")
    try:
        result = script("run", str(out), env={"OUT": str(tmp_path)})
    finally:
        shutil.rmtree(unmerged)
    assert result.returncode == 1  # (the planted wrong case still fails)
    assert "unmerged launches: worst relative difference 0.00e+00" in result.stdout
    report = json.loads((tmp_path / "perf.json").read_text())
    assert report["train_mlp"]["unmerged"]["worst_relative"] == 0.0
    assert "unmerged" not in report["train_cnn"]


def test_one_case_and_wrapper(bundle, tmp_path):
    _, out, _ = bundle
    good = script("one", "test_matmul-0", str(out))
    assert good.returncode == 0, good.stdout
    assert good.stdout.startswith("== test_matmul-0 (rc 0)")
    bad = script("one", "test_wrong-0", str(out))
    assert bad.returncode != 0
    marker = tmp_path / "wrapped"
    wrapper = tmp_path / "wrap.sh"
    wrapper.write_text(f'#!/bin/sh\necho "$@" > {marker}\nexec "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    wrapped = script("one", "test_add-0", str(out), env={"KILN_GPU_CHECK_WRAP": str(wrapper)})
    assert wrapped.returncode == 0, wrapped.stdout
    assert "kiln-replay ./libcase.so --input in0.npy --input in1.npy" in marker.read_text()


def test_diagnose_runs_the_tools_it_finds(bundle, tmp_path):
    """compute-sanitizer and ncu stand-ins on PATH: the failed case runs
    under the first, the speed kernels and a training step under the
    second, and both reports land in diagnose.txt."""
    _, out, _ = bundle
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "compute-sanitizer").write_text(
        '#!/bin/sh\necho "sanitizer: $1 $2"\nshift 2\nexec "$@"\n')
    (tools / "ncu").write_text('#!/bin/sh\necho "ncu sees: $*" | cut -c1-200\n')
    for tool in tools.iterdir():
        tool.chmod(0o755)
    (tmp_path / "failed.txt").write_text("test_wrong-0\n")
    env = {"OUT": str(tmp_path), "PATH": f"{tools}:{os.environ['PATH']}"}
    result = script("diagnose", str(out), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = (tmp_path / "diagnose.txt").read_text()
    assert "sanitizer: --tool memcheck" in report
    assert "== test_wrong-0 (rc 1)" in report
    assert "== ncu: chain" in report and "== ncu: sgemm" in report
    assert "== ncu: one MLP training step" in report
    assert "ncu sees: --clock-control none" in report


def _perf_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "gpu_check_perf", os.path.join(ROOT, "scripts", "gpu-check", "perf.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_speed_bundle(tmp_path):
    """A bundle whose kiln-replay stand-in times every speed kernel at 2 ms
    except sm_90a's GEMM, which hangs (as a kernel waiting on an mbarrier
    that never completes would)."""
    (tmp_path / "bin").mkdir()
    replay = tmp_path / "bin" / "kiln-replay"
    replay.write_text('#!/bin/sh\ncase "$1" in *sm90a*) sleep 30;; esac\n'
                      'echo "time: median 2.0 ms, fastest 1.9 ms"\n')
    replay.chmod(replay.stat().st_mode | stat.S_IEXEC)
    speed = tmp_path / "speed"
    speed.mkdir()
    (speed / "repeat.txt").write_text("3 3\n")
    for kernel in ("chain", "sgemm", "sgemm_tf32", "bf16gemm", "bf16gemm_sm90a"):
        (speed / f"lib{kernel}.so").write_bytes(b"")
    return str(tmp_path)


def test_speed_kernel_that_hangs_fails_its_line_only(tmp_path, monkeypatch, capsys):
    perf = _perf_module()
    monkeypatch.setattr(perf, "KERNEL_TIMEOUT", 1)
    bundle = _fake_speed_bundle(tmp_path)
    report = {}
    perf.speed(bundle, report, {}, {})
    out = capsys.readouterr().out
    assert "GEMM 4096^2 bf16 on sm_90a (TMA + wgmma): FAIL" in out
    assert report["bf16gemm_sm90a_ms"] is None
    # The kernels before it were timed, each on its own.
    assert report["sgemm_tf32_ms"] == 2.0 and report["bf16gemm_ms"] == 2.0
    # After a failed sm_90a product check the sm_90a GEMM is not run at all.
    report = {"hopper_check": False}
    perf.speed(bundle, report, {}, {})
    out = capsys.readouterr().out
    assert "not timed (the sm_90a product check failed)" in out
    assert "bf16gemm_sm90a_ms" not in report
