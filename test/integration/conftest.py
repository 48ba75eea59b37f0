"""Shared fixtures of Kiln's integration tests: compile with tensor-run, compare
with NumPy."""

import concurrent.futures
import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("KILN_BUILD_DIR", os.path.join(ROOT, "build"))
TENSOR_RUN = os.path.join(BUILD, "bin", "tensor-run")
# Where to keep every case that ran (see Runner._record); unset: nowhere.
RECORD_DIR = os.environ.get("KILN_IT_RECORD")
TENSOR_OPT = os.path.join(BUILD, "bin", "tensor-opt")
# GPU architectures, comma-separated (sm_90,sm_80): every module that runs
# on the CPU is also compiled for each down to a cubin (ptxas checks the
# PTX), in the background on the other core; a module the GPU target cannot
# compile fails the session (see pytest_sessionfinish). Unset or empty: no
# GPU compiles.
GPU_CHIP = os.environ.get("KILN_IT_GPU_COMPILE")
# Extra tensor-run arguments for every case, e.g. --emulate-gpu-kernels
# (the whole suite's matrix products through the GPU's tiled kernels, run
# as host loops, against NumPy).
EXTRA_ARGS = shlex.split(os.environ.get("KILN_IT_TENSOR_RUN_ARGS", ""))

MLIR_TYPES = {
    np.dtype(np.float32): "f32",
    np.dtype(np.float64): "f64",
    np.dtype(np.float16): "f16",
    np.dtype(np.bool_): "i1",
    np.dtype(np.int32): "i32",
    np.dtype(np.int64): "i64",
    np.dtype(np.int8): "i8",
    np.dtype(np.int16): "i16",
    np.dtype(np.uint8): "ui8",
    np.dtype(np.uint16): "ui16",
    np.dtype(np.uint32): "ui32",
}


def tensor_type(shape, dtype):
    """The MLIR tensor type of an array shape and dtype."""
    dims = "".join(f"{d}x" for d in shape)
    return f"tensor<{dims}{MLIR_TYPES[np.dtype(dtype)]}>"


class Runner:
    """Runs functions through tensor-run in a temporary directory."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.count = 0

    def run(self, mlir, inputs, entry=None, expect_error=None, args=(), cpu_only=False):
        """Writes `mlir` and the input arrays, runs tensor-run (with extra
        command-line `args`) and returns the outputs (a list of arrays), or
        the error text if `expect_error`; its stdout is kept in
        `self.stdout`. `cpu_only`: a module the GPU target refuses (by
        design, with an error test of its own): neither compiled for the
        GPU nor recorded for a GPU run."""
        self.count += 1
        case = os.path.join(self.tmp, f"case{self.count}")
        os.makedirs(case)
        path = os.path.join(case, "module.mlir")
        with open(path, "w") as f:
            f.write(mlir)
        cmd = [TENSOR_RUN, path, "--output-dir", os.path.join(case, "out")]
        if entry:
            cmd += ["--entry", entry]
        for i, array in enumerate(inputs):
            name = os.path.join(case, f"in{i}.npy")
            np.save(name, array)
            cmd += ["--input", name]
        cmd += list(args) + EXTRA_ARGS
        proc = subprocess.run(cmd, capture_output=True, text=True)
        self.stdout = proc.stdout
        if expect_error is not None:
            assert proc.returncode != 0, "tensor-run unexpectedly succeeded"
            assert expect_error in proc.stderr, proc.stderr
            return proc.stderr
        assert proc.returncode == 0, f"tensor-run failed:\n{proc.stderr}\n{mlir}"
        outputs = []
        i = 0
        while os.path.exists(os.path.join(case, "out", f"{i}.npy")):
            outputs.append(np.load(os.path.join(case, "out", f"{i}.npy")))
            i += 1
        if RECORD_DIR and not cpu_only:
            self._record(case, entry, args)
        if GPU_CHIP and not cpu_only:
            GPU_COMPILES.submit(mlir, args)
        return outputs

    def _record(self, case, entry, args):
        """Keeps a case (module, inputs, the CPU's outputs) under
        $KILN_IT_RECORD as <test id>-<n>/, with a `case.txt` naming the test,
        the entry point and the extra tensor-run arguments (paths inside the
        case relative to it). It is recorded before the test compares the
        outputs with NumPy: use a recording only from a run that passed."""
        test = os.environ.get("PYTEST_CURRENT_TEST", "case").split(" ")[0]
        name = "".join(c if c.isalnum() or c in "-_." else "_"
                       for c in test.split("::", 1)[-1])[:120]
        dest = os.path.join(RECORD_DIR, f"{name}-{self.count}")
        shutil.copytree(case, dest, dirs_exist_ok=True)
        args = [os.path.relpath(a, case) if a.startswith(case + os.sep) else a
                for a in args]
        with open(os.path.join(dest, "case.txt"), "w") as f:
            f.write(f"test {test}\n")
            f.write(f"entry {entry or ''}\n")
            f.write("args " + " ".join(args) + "\n")

class GpuCompiles:
    """Compiles modules for the GPU (KILN_IT_GPU_COMPILE) on one worker
    thread while the tests go on; each distinct module once."""

    def __init__(self, chip):
        self.chip = chip
        self.pool = None
        self.seen = set()
        self.jobs = []  # (test id, module text, future)

    def submit(self, mlir, args=()):
        # The kernels a case asked for (TF32, or no tensor cores) are the
        # ones compiled for the GPU.
        options = ""
        if "--allow-tf32" in args:
            options += " allow-tf32=true"
        if "--tensor-cores=false" in args:
            options += " tensor-cores=false"
        key = hashlib.sha256((mlir + options).encode()).hexdigest()
        if key in self.seen:
            return
        self.seen.add(key)
        if self.pool is None:
            self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        test = os.environ.get("PYTEST_CURRENT_TEST", "case").split(" ")[0]
        self.jobs.append((test, mlir, self.pool.submit(self._compile, mlir, options)))

    def _compile(self, mlir, options=""):
        for chip in self.chip.split(","):
            # sm_90a differs from sm_90 in the TMA + wgmma kernel of 16-bit
            # products only: other modules are not compiled for it again.
            if chip == "sm_90a" and "f16>" not in mlir:
                continue
            proc = subprocess.run(
                [TENSOR_OPT, "-", f"--kiln-gpu-pipeline=chip={chip} format=bin{options}",
                 "-o", os.devnull], input=mlir, capture_output=True, text=True,
                env=dict(os.environ, KILN_CACHE_DIR="off"))
            if proc.returncode != 0:
                return proc.returncode, f"({chip}) {proc.stderr}"
        return 0, ""

    def failures(self):
        """(test id, first lines of the error) of every module that failed."""
        failed = []
        for test, mlir, future in self.jobs:
            rc, stderr = future.result()
            if rc != 0:
                failed.append((test, "\n".join(stderr.splitlines()[:6])))
        return failed


GPU_COMPILES = GpuCompiles(GPU_CHIP)


def pytest_sessionfinish(session, exitstatus):
    if not GPU_CHIP or not GPU_COMPILES.jobs:
        return
    failed = GPU_COMPILES.failures()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    write = reporter.write_line if reporter else print
    write(f"GPU compiles ({GPU_CHIP}): {len(GPU_COMPILES.jobs) - len(failed)} of "
          f"{len(GPU_COMPILES.jobs)} distinct modules compiled to a cubin")
    for test, error in failed:
        write(f"FAILED for the GPU: {test}\n{error}")
    if failed:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def runner():
    if not os.path.exists(TENSOR_RUN):
        pytest.fail(f"{TENSOR_RUN} is missing: build first (scripts/setup.sh)")
    with tempfile.TemporaryDirectory(prefix="kiln-it-") as tmp:
        yield Runner(tmp)
