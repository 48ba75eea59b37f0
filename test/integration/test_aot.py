"""Ahead-of-time libraries: tensor-compile turns a training module into
libNAME.so + NAME.h; the C example (examples/aot) is built by CMake from
them and trains, evaluates, checkpoints and restores with no Python, MLIR
or LLVM at run time."""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from conftest import BUILD, ROOT
from test_variables import write_safetensors

TENSOR_COMPILE = os.path.join(BUILD, "bin", "tensor-compile")
EXAMPLE = os.path.join(ROOT, "examples", "aot")
# The C compiler: $CC, else cc, else the clang that builds Kiln.
CC = os.environ.get("CC") or shutil.which("cc") or shutil.which("clang-22")


def compile_module(tmp_path, text, name="m", *args):
    path = tmp_path / f"{name}.mlir"
    path.write_text(text)
    proc = subprocess.run([TENSOR_COMPILE, str(path), "-o", str(tmp_path / "out" / name),
                           f"--linker={CC}", *args], capture_output=True, text=True)
    assert proc.returncode in (0, 1), f"crashed ({proc.returncode}): {proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The C example, configured and built by CMake (which runs
    tensor-compile on mlp.mlir)."""
    if not shutil.which("cmake") or not CC:
        pytest.skip("cmake or a C compiler is not installed")
    build = tmp_path_factory.mktemp("aot-build")
    env = dict(os.environ, CC=CC)  # tensor-compile links with it too
    subprocess.run(["cmake", "-G", "Ninja", "-S", EXAMPLE, "-B", str(build),
                    f"-DTENSOR_COMPILE={TENSOR_COMPILE}", f"-DCMAKE_C_COMPILER={CC}",
                    "-DCMAKE_C_FLAGS=-Wall -Wextra -pedantic -std=c99 -Werror"],
                   check=True, capture_output=True, env=env)
    proc = subprocess.run(["cmake", "--build", str(build)], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return build


def test_c_example_trains_evaluates_and_restores(example, tmp_path):
    ckpt = tmp_path / "mlp.safetensors"
    proc = subprocess.run([str(example / "train"), "--epochs", "1", "--limit", "19200",
                           "--checkpoint", str(ckpt)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    losses = [float(x) for x in re.findall(r"mean loss ([\d.]+)", proc.stdout)]
    accuracy = float(re.search(r"test accuracy ([\d.]+)", proc.stdout).group(1))
    assert losses and losses[0] < 1.0
    assert accuracy > 0.78, proc.stdout
    assert "restored model predicts the same: yes" in proc.stdout
    assert ckpt.stat().st_size > 4 * 784 * 128


def test_library_depends_on_libc_and_the_runtime_and_exports_its_prefix(example):
    lib = example / "mlp" / "libmlp.so"
    deps = subprocess.run(["ldd", str(lib)], capture_output=True, text=True).stdout
    assert "MLIR" not in deps and "LLVM" not in deps, deps
    # The runtime shipped next to it (its pool holds the temporaries).
    names = {line.split()[0] for line in deps.splitlines() if line.strip()}
    assert names <= {"linux-vdso.so.1", "libc.so.6", "libm.so.6",
                     "libkiln_runtime.so", "/lib64/ld-linux-x86-64.so.2",
                     "libstdc++.so.6", "libgcc_s.so.1", "libz.so.1"}, deps
    assert "libkiln_runtime.so => " + str(example / "mlp") in deps, deps
    train_deps = subprocess.run(["ldd", str(example / "train")], capture_output=True,
                                text=True).stdout
    assert "libkiln_runtime.so" in train_deps and "MLIR" not in train_deps
    if not shutil.which("nm"):
        pytest.skip("nm is not installed")
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(lib)],
                             capture_output=True, text=True).stdout.split()
    exported = [s for s in symbols[2::3]]
    assert "mlp_manifest" in exported and "mlp_entry_train_step" in exported
    assert all(s.startswith("mlp_") or s.startswith("_") for s in exported), exported
    header = (example / "mlp" / "mlp.h").read_text()
    assert "static inline int32_t mlp_train_step(mlp_t *model, const float *in0, " \
           "const int32_t *in1, float *out0)" in header
    assert "w1: f32 [784, 128]" in header


def test_wrong_checkpoint_shapes_are_named(example, tmp_path):
    bad = tmp_path / "bad.safetensors"
    write_safetensors(str(bad), {"w1": np.zeros((3, 3), np.float32)})
    proc = subprocess.run([str(example / "train"), "--load", str(bad), "--limit", "64"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "w1" in proc.stderr and "[3, 3]" in proc.stderr and "[784, 128]" in proc.stderr


def test_portable_target_cpu(tmp_path):
    module = """
func.func @scale(%x: tensor<8xf32>) -> tensor<8xf32> {
  %0 = kiln.add %x, %x : tensor<8xf32>, tensor<8xf32> -> tensor<8xf32>
  return %0 : tensor<8xf32>
}
"""
    proc = compile_module(tmp_path, module, "portable", "--target-cpu=x86-64-v3")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "libportable.so").exists()
    proc = compile_module(tmp_path, module, "nocpu", "--target-cpu=pentium-9000")
    assert "unknown target CPU 'pentium-9000'" in proc.stderr


def test_errors_have_locations(tmp_path):
    proc = compile_module(tmp_path, """
func.func @f(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = kiln.exp %x : tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}
""", "dyn")
    assert proc.returncode == 1
    assert "dyn.mlir:2:1: error: entry point 'f': input #0 has type " \
           "'tensor<?x4xf32>'; ahead-of-time libraries take static shapes" in proc.stderr
    proc = compile_module(tmp_path, "func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n"
                                    "  %0 = kiln.bogus %x : tensor<4xf32>\n}\n", "bad")
    assert proc.returncode == 1 and "bad.mlir:2:" in proc.stderr
    proc = compile_module(tmp_path, """
func.func @create(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
""", "clash")
    assert "clash.mlir:2:1: error: entry point 'create' would collide with the generated function " \
           "clash_create" in proc.stderr
    proc = compile_module(tmp_path, "func.func @f() { return }\n", "9lives")
    assert "library name '9lives' is not a C identifier" in proc.stderr
