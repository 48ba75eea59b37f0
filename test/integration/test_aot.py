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
from test_variables import read_safetensors, write_safetensors

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


HALF_MODULE = """
func.func @f(%a: tensor<4x8xf32>, %b: tensor<8x3xf32>, %d: tensor<6xf64>)
    -> (tensor<4x3xf32>, tensor<4xf32>, tensor<6xf32>, tensor<4x8xf32>) {
  %ah = kiln.cast %a : tensor<4x8xf32> -> tensor<4x8xbf16>
  %bh = kiln.cast %b : tensor<8x3xf32> -> tensor<8x3xbf16>
  %p = kiln.matmul %ah, %bh : tensor<4x8xbf16>, tensor<8x3xbf16> -> tensor<4x3xbf16>
  %q = kiln.mul %p, %p : tensor<4x3xbf16>, tensor<4x3xbf16> -> tensor<4x3xbf16>
  %e = kiln.exp %ah : tensor<4x8xbf16>
  %s = kiln.reduce_sum %e {axes = array<i64: 1>} : tensor<4x8xbf16> -> tensor<4xbf16>
  %dh = kiln.cast %d : tensor<6xf64> -> tensor<6xbf16>
  %ha = kiln.cast %a : tensor<4x8xf32> -> tensor<4x8xf16>
  %hs = kiln.add %ha, %ha : tensor<4x8xf16>, tensor<4x8xf16> -> tensor<4x8xf16>
  %r0 = kiln.cast %q : tensor<4x3xbf16> -> tensor<4x3xf32>
  %r1 = kiln.cast %s : tensor<4xbf16> -> tensor<4xf32>
  %r2 = kiln.cast %dh : tensor<6xbf16> -> tensor<6xf32>
  %r3 = kiln.cast %hs : tensor<4x8xf16> -> tensor<4x8xf32>
  return %r0, %r1, %r2, %r3 : tensor<4x3xf32>, tensor<4xf32>, tensor<6xf32>, tensor<4x8xf32>
}
"""


def test_portable_library_with_half_precision_needs_no_libgcc(tmp_path):
    """bf16 and f16 code for a CPU without AVX512-BF16 (x86-64-v3): LLVM
    rounds f32 to bf16 there by calling __truncsfbf2, which Debian 12's
    libgcc lacks (the library would not load; the JIT failed the same way
    on such hosts). Kiln rounds in integer operations instead: the library
    needs nothing but libc and libm, and it runs and matches NumPy."""
    from test_ops import _to_bf16
    proc = compile_module(tmp_path, HALF_MODULE, "half", "--target-cpu=x86-64-v3")
    assert proc.returncode == 0, proc.stderr
    lib = tmp_path / "out" / "libhalf.so"
    if shutil.which("nm"):
        undefined = subprocess.run(["nm", "-D", "--undefined-only", str(lib)],
                                   capture_output=True, text=True).stdout
        assert "__trunc" not in undefined and "__extend" not in undefined, undefined
    rng = np.random.default_rng(5)
    a = rng.uniform(-2, 2, (4, 8)).astype(np.float32)
    b = rng.uniform(-2, 2, (8, 3)).astype(np.float32)
    d = np.array([1 + 2**-8 + 2**-40, 1 + 2**-8, np.nan, 1e300, -3.0, 0.1], np.float64)
    for i, x in enumerate((a, b, d)):
        np.save(tmp_path / f"in{i}.npy", x)
    ah, bh = _to_bf16(a).astype(np.float64), _to_bf16(b).astype(np.float64)
    p = _to_bf16(ah @ bh)
    want = [_to_bf16(p.astype(np.float64) ** 2),
            _to_bf16(_to_bf16(np.exp(ah)).astype(np.float64).sum(1)),
            np.array([1 + 2**-7, 1.0, np.nan, np.inf, -3.0, 0.10009765625], np.float32),
            (a.astype(np.float16) * np.float16(2)).astype(np.float32)]
    run = [KILN_REPLAY, str(lib)] + [x for i in range(3)
                                     for x in ("--input", str(tmp_path / f"in{i}.npy"))]
    (tmp_path / "got").mkdir()
    proc = subprocess.run(run + ["--output-dir", str(tmp_path / "got")], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = [np.load(tmp_path / "got" / f"{i}.npy") for i in range(4)]
    # Products and sums may round differently in the last bf16 place (f32
    # against f64 sums); casts and f16 sums are exact.
    np.testing.assert_allclose(got[0], want[0], rtol=8e-3)
    np.testing.assert_allclose(got[1], want[1], rtol=8e-3)
    np.testing.assert_array_equal(got[2], want[2])
    np.testing.assert_array_equal(got[3], want[3])


def test_library_names_that_would_break_the_header(tmp_path):
    """The header defines NAME_t and NAME_create, ...: a name whose type the
    C library defines (dev_t) or that takes the runtime's prefix is refused
    before anything is written."""
    module = """
func.func @f(%x: tensor<2xf32>) -> tensor<2xf32> {
  return %x : tensor<2xf32>
}
"""
    proc = compile_module(tmp_path, module, "dev")
    assert proc.returncode == 1
    assert "library name 'dev' cannot be used: the header would define dev_t, " \
           "which the C library already defines" in proc.stderr, proc.stderr
    proc = compile_module(tmp_path, module, "kiln_instance")
    assert proc.returncode == 1 and "belong to the Kiln runtime" in proc.stderr
    assert not (tmp_path / "out" / "libdev.so").exists()
    assert compile_module(tmp_path, module, "device").returncode == 0


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


FAKE_CUDA = os.path.join(BUILD, "test", "unit", "libkiln_fake_cuda.so")
CUDA_MODULE = """
kiln.variable @w : tensor<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>
func.func @step(%x: tensor<4xf32>) -> tensor<4xf32> {
  %w = kiln.read_variable @w : tensor<4xf32>
  %y = kiln.mul %x, %w : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  %w1 = kiln.add %w, %x : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  kiln.assign_variable @w, %w1 : tensor<4xf32>
  return %y : tensor<4xf32>
}
"""
# A C program of the library's API. The test double of the driver runs no
# kernel, so only what moves between host and GPU memory is checked: the
# variable's value set, read back, saved and restored through GPU memory,
# where it stays between calls (the double's allocated bytes).
CUDA_DRIVER = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gm.h"

static size_t gpu_bytes(void) {
  void *driver = dlopen(getenv("KILN_CUDA_DRIVER"), RTLD_NOW | RTLD_NOLOAD);
  size_t (*used)(int) = driver ? (size_t (*)(int))dlsym(driver, "fake_cuda_used") : NULL;
  return used ? used(0) : 0;
}

int main(int argc, char **argv) {
  char error[512] = "";
  gm_t *model = gm_create(error, sizeof error);
  if (!model) { printf("create failed: %s\n", error); return 1; }
  if (gm_init_variables(model)) { printf("init: %s\n", gm_error(model)); return 1; }
  printf("gpu bytes after init: %zu\n", gpu_bytes());
  float w[4] = {5, 6, 7, 8}, back[4] = {0}, x[4] = {1, 1, 1, 1}, y[4];
  if (gm_set_variable(model, "w", w, sizeof w)) { printf("set: %s\n", gm_error(model)); return 1; }
  gm_get_variable(model, "w", back, sizeof back);
  printf("w read back: %g %g %g %g\n", back[0], back[1], back[2], back[3]);
  if (gm_step(model, x, y)) { printf("step: %s\n", gm_error(model)); return 1; }
  if (gm_set_variable(model, "w", w, sizeof w)) return 1;
  if (gm_save_checkpoint(model, argv[1])) { printf("save: %s\n", gm_error(model)); return 1; }
  float zero[4] = {0};
  gm_set_variable(model, "w", zero, sizeof zero);
  if (gm_load_checkpoint(model, argv[1])) { printf("load: %s\n", gm_error(model)); return 1; }
  memset(back, 0, sizeof back);
  gm_get_variable(model, "w", back, sizeof back);
  printf("w restored: %g %g %g %g\n", back[0], back[1], back[2], back[3]);
  if (gm_get_variable(model, "w", back, 3)) printf("get error: %s\n", gm_error(model));
  gm_destroy(model);
  return 0;
}
"""


def build_cuda_program(tmp_path):
    if not CC:
        pytest.skip("no C compiler")
    proc = compile_module(tmp_path, CUDA_MODULE, "gm", "--target=cuda", "--chip=sm_80")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    (tmp_path / "main.c").write_text(CUDA_DRIVER)
    subprocess.run([CC, "-std=c99", "-D_GNU_SOURCE", "-Wall", "-Werror", str(tmp_path / "main.c"),
                    "-I", str(out), "-L", str(out), "-lgm", "-lkiln_runtime", "-ldl",
                    f"-Wl,-rpath,{out}", "-o", str(tmp_path / "main")], check=True)
    return tmp_path / "main"


def test_cuda_library_keeps_variables_in_gpu_memory(tmp_path):
    main = build_cuda_program(tmp_path)
    ckpt = tmp_path / "w.safetensors"
    env = dict(os.environ, KILN_CUDA_DRIVER=FAKE_CUDA, FAKE_CUDA_TRACE="1")
    proc = subprocess.run([str(main), str(ckpt)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The library's kernels (a fatbin for sm_80) are loaded when it is, and
    # the step launches them.
    assert "fake-cuda: load (binary image)" in proc.stderr
    assert "fake-cuda: launch step_kernel" in proc.stderr
    assert "fake-cuda: launch kiln_init_variables_kernel" in proc.stderr
    bytes_after_init = int(re.search(r"gpu bytes after init: (\d+)", proc.stdout).group(1))
    assert bytes_after_init >= 16, proc.stdout
    assert "w read back: 5 6 7 8" in proc.stdout
    assert "w restored: 5 6 7 8" in proc.stdout
    assert "variable 'w' is f32 [4] (16 bytes) but 3 bytes were given" in proc.stdout
    # The checkpoint holds the value copied from GPU memory.
    header_size = int.from_bytes(ckpt.read_bytes()[:8], "little")
    data = np.frombuffer(ckpt.read_bytes()[8 + header_size:], np.float32)
    np.testing.assert_array_equal(data, [5, 6, 7, 8])


def test_cuda_library_without_a_driver_says_so(tmp_path):
    main = build_cuda_program(tmp_path)
    env = dict(os.environ, KILN_CUDA_DRIVER="/nonexistent/libcuda.so.1")
    proc = subprocess.run([str(main), str(tmp_path / "w.safetensors")], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "no CUDA driver: cannot load /nonexistent/libcuda.so.1" in proc.stdout, proc.stdout


def test_cuda_library_tensor_cores_option(tmp_path):
    """--tensor-cores=false puts f16 products on the FMA kernel (f32 FMAs),
    by default on mma.sync: read in the PTX that the library embeds."""
    module = """
func.func @f(%a: tensor<70x40xf16>, %b: tensor<40x33xf16>) -> tensor<70x33xf16> {
  %0 = kiln.matmul %a, %b : tensor<70x40xf16>, tensor<40x33xf16> -> tensor<70x33xf16>
  return %0 : tensor<70x33xf16>
}
"""
    ptx = {}
    for name, extra in (("cores", []), ("fma", ["--tensor-cores=false"])):
        proc = compile_module(tmp_path, module, name, "--target=cuda", "--chip=sm_80",
                              "--gpu-format=isa", *extra)
        assert proc.returncode == 0, proc.stderr
        ptx[name] = (tmp_path / "out" / f"lib{name}.so").read_bytes()
    assert b"mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32" in ptx["cores"]
    assert b"mma.sync" not in ptx["fma"]
    assert b"fma.rn.f32" in ptx["fma"] and b"fma.rn.f16" not in ptx["fma"]


def test_cuda_target_options_are_checked(tmp_path):
    proc = compile_module(tmp_path, CUDA_MODULE, "bad", "--target=cuda", "--chip=gfx90a")
    assert proc.returncode == 1
    assert "'gfx90a' is not an NVIDIA GPU architecture" in proc.stderr
    proc = compile_module(tmp_path, CUDA_MODULE, "bad2", "--target=cuda", "--gpu-format=elf")
    assert proc.returncode == 1
    assert "unknown GPU code format 'elf'" in proc.stderr


KILN_REPLAY = os.path.join(BUILD, "bin", "kiln-replay")
REPLAY_MODULE = """
kiln.variable @w : tensor<3xf32> = dense<[1.0, 2.0, 3.0]>
func.func @step(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<3xf32>) {
  %w = kiln.read_variable @w : tensor<3xf32>
  %y = kiln.mul %x, %w : tensor<2x3xf32>, tensor<3xf32> -> tensor<2x3xf32>
  %s = kiln.reduce_sum %y {axes = array<i64: 0>} : tensor<2x3xf32> -> tensor<3xf32>
  %w1 = kiln.add %w, %s : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  kiln.assign_variable @w, %w1 : tensor<3xf32>
  return %y, %w1 : tensor<2x3xf32>, tensor<3xf32>
}
"""


def test_kiln_replay_runs_a_library_and_checks_its_outputs(tmp_path):
    """kiln-replay (what scripts/gpu-check.sh runs on a GPU machine) against
    NumPy's answer: two steps, the variable updated in between."""
    proc = compile_module(tmp_path, REPLAY_MODULE, "replay")
    assert proc.returncode == 0, proc.stderr
    x = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    np.save(tmp_path / "x.npy", x)
    w = np.array([1, 2, 3], np.float32)
    for _ in range(2):
        y = x * w
        w = w + y.sum(0)
    expect = tmp_path / "expect"
    expect.mkdir()
    np.save(expect / "0.npy", y)
    np.save(expect / "1.npy", w)
    lib = tmp_path / "out" / "libreplay.so"
    run = [KILN_REPLAY, str(lib), "--input", str(tmp_path / "x.npy"), "--repeat", "2",
           "--expect", str(expect), "--output-dir", str(tmp_path)]
    proc = subprocess.run(run, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "output 0: ok (f32, 6 elements)" in proc.stdout
    assert "output 1: ok (f32, 3 elements)" in proc.stdout
    np.testing.assert_allclose(np.load(tmp_path / "1.npy"), w, rtol=1e-6)
    # One step too few: the variable's value differs, and it says where.
    proc = subprocess.run(run[:4] + ["--repeat", "1"] + run[6:], capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert "output 1: MISMATCH in 3 of 3 elements" in proc.stdout, proc.stdout
    proc = subprocess.run([KILN_REPLAY, str(lib), "--entry", "nope"], capture_output=True,
                          text=True)
    assert proc.returncode == 1 and "has no entry 'nope'" in proc.stderr
    # The same library compiled by LLVM in three partitions (several object
    # files, linked together): the same answers, and still only its own
    # prefix exported (the partitions' shared symbols stay hidden).
    proc = compile_module(tmp_path, REPLAY_MODULE, "parts", "--codegen-partitions=3")
    assert proc.returncode == 0, proc.stderr
    lib = tmp_path / "out" / "parts" / "libparts.so"
    lib = lib if lib.exists() else tmp_path / "out" / "libparts.so"
    proc = subprocess.run([KILN_REPLAY, str(lib)] + run[2:], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "output 1: ok (f32, 3 elements)" in proc.stdout
    if shutil.which("nm"):
        symbols = subprocess.run(["nm", "-D", "--defined-only", str(lib)],
                                 capture_output=True, text=True).stdout.split()[2::3]
        assert "parts_manifest" in symbols
        assert all(s.startswith("parts_") or s.startswith("_") for s in symbols), symbols


def test_kiln_replay_runs_a_gpu_library(tmp_path):
    """The same on the GPU, against the driver double (which runs no kernel:
    only that the call goes through is checked)."""
    proc = compile_module(tmp_path, REPLAY_MODULE, "replaygpu", "--target=cuda")
    assert proc.returncode == 0, proc.stderr
    np.save(tmp_path / "x.npy", np.ones((2, 3), np.float32))
    env = dict(os.environ, KILN_CUDA_DRIVER=FAKE_CUDA, FAKE_CUDA_TRACE="1")
    proc = subprocess.run([KILN_REPLAY, str(tmp_path / "out" / "libreplaygpu.so"), "--input",
                           str(tmp_path / "x.npy"), "--output-dir", str(tmp_path)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "fake-cuda: launch kiln_init_variables_kernel" in proc.stderr
    assert "fake-cuda: launch step_kernel" in proc.stderr
    assert np.load(tmp_path / "0.npy").shape == (2, 3)


BATCH_MODULE = """
kiln.variable @w : tensor<3xf32> = dense<[1.0, 2.0, 3.0]>
func.func @step(%x: tensor<2x3xf32>) -> tensor<f32> {
  %w = kiln.read_variable @w : tensor<3xf32>
  %y = kiln.mul %x, %w : tensor<2x3xf32>, tensor<3xf32> -> tensor<2x3xf32>
  %s = kiln.reduce_sum %y {axes = array<i64: 0, 1>} : tensor<2x3xf32> -> tensor<f32>
  %d = kiln.reduce_sum %x {axes = array<i64: 0>} : tensor<2x3xf32> -> tensor<3xf32>
  %w1 = kiln.sub %w, %d : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  kiln.assign_variable @w, %w1 : tensor<3xf32>
  return %s : tensor<f32>
}
func.func @mixed(%x: tensor<4x5xf32>, %n: tensor<7xi32>) -> (tensor<4x5xf32>, tensor<7xi32>) {
  return %x, %n : tensor<4x5xf32>, tensor<7xi32>
}
"""


def test_kiln_replay_trains_on_batches_and_times_calls(tmp_path):
    """A data set of three batches, four calls (the training loop of
    gpu-check.sh): call i takes batch i mod 3, and --print-scalars shows each
    call's loss, against NumPy's transcription of the step."""
    proc = compile_module(tmp_path, BATCH_MODULE, "batches")
    assert proc.returncode == 0, proc.stderr
    x = (np.arange(18, dtype=np.float32).reshape(6, 3) - 7) / 8
    np.save(tmp_path / "x.npy", x)
    lib = str(tmp_path / "out" / "libbatches.so")
    proc = subprocess.run([KILN_REPLAY, lib, "--entry", "step", "--input",
                           str(tmp_path / "x.npy"), "--repeat", "4", "--print-scalars",
                           "--time"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    w = np.array([1, 2, 3], np.float32)
    want = []
    for call in range(4):
        batch = x[2 * (call % 3):2 * (call % 3) + 2]
        want.append((batch * w).sum())
        w = w - batch.sum(0)
    got = [float(v) for v in re.findall(r"^call \d: output 0: (\S+)$", proc.stdout, re.M)]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert re.search(r"^time: median \S+ ms, fastest \S+ ms over 3 calls", proc.stdout,
                     re.M), proc.stdout

    # --synthetic: every input made from the declared types, reproducibly.
    outs = []
    for run in range(2):
        out = tmp_path / f"synthetic{run}"
        out.mkdir()
        proc = subprocess.run([KILN_REPLAY, lib, "--entry", "mixed", "--synthetic",
                               "--output-dir", str(out)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        outs.append((np.load(out / "0.npy"), np.load(out / "1.npy")))
    floats, ints = outs[0]
    assert floats.shape == (4, 5) and floats.dtype == np.float32
    assert (floats >= -1).all() and (floats < 1).all() and len(np.unique(floats)) == 20
    assert ints.dtype == np.int32 and (ints >= 0).all() and (ints < 10).all()
    np.testing.assert_array_equal(outs[1][0], floats)
    np.testing.assert_array_equal(outs[1][1], ints)
    # --synthetic and --input exclude each other.
    proc = subprocess.run([KILN_REPLAY, lib, "--entry", "mixed", "--synthetic", "--input",
                           str(tmp_path / "x.npy")], capture_output=True, text=True)
    assert proc.returncode == 2 and "usage" in proc.stderr


SORT_MODULE = """
func.func @rank(%x: tensor<2x5xf32>) -> (tensor<2x5xf32>, tensor<2x5xi32>) {
  %v, %i = kiln.sort %x {descending} : tensor<2x5xf32> -> tensor<2x5xf32>, tensor<2x5xi32>
  return %v, %i : tensor<2x5xf32>, tensor<2x5xi32>
}
"""


def test_library_with_a_sort_calls_the_runtime(tmp_path):
    """kiln.sort in an AOT library: the runtime's row sort, found in
    libkiln_runtime.so with no Python or MLIR present (NumPy's answer)."""
    proc = compile_module(tmp_path, SORT_MODULE, "ranker")
    assert proc.returncode == 0, proc.stderr
    x = np.array([[0.5, 3.0, -1.0, 3.0, 2.0], [9.0, 8.0, 7.0, 6.0, 5.0]], np.float32)
    np.save(tmp_path / "x.npy", x)
    order = np.argsort(-x, axis=1, kind="stable")
    expect = tmp_path / "expect"
    expect.mkdir()
    np.save(expect / "0.npy", np.take_along_axis(x, order, 1))
    np.save(expect / "1.npy", order.astype(np.int32))
    proc = subprocess.run([KILN_REPLAY, str(tmp_path / "out" / "libranker.so"), "--input",
                           str(tmp_path / "x.npy"), "--expect", str(expect)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "output 1: ok (i32, 10 elements)" in proc.stdout, proc.stdout


CAST_MODULE = """
func.func @to_int(%x: tensor<7xf32>) -> tensor<7xi32> {
  %i = kiln.cast %x : tensor<7xf32> -> tensor<7xi32>
  return %i : tensor<7xi32>
}
"""


def test_library_casts_as_documented(tmp_path):
    """Float-to-integer casts in an AOT library: NaN is 0, beyond the range
    saturates (docs: kiln.cast), as in the JIT and eagerly."""
    proc = compile_module(tmp_path, CAST_MODULE, "caster")
    assert proc.returncode == 0, proc.stderr
    x = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, -2.5, 7.9], np.float32)
    np.save(tmp_path / "x.npy", x)
    expect = tmp_path / "expect"
    expect.mkdir()
    np.save(expect / "0.npy", np.array([0, 2 ** 31 - 1, -2 ** 31, 2 ** 31 - 1, -2 ** 31, -2, 7],
                                       np.int32))
    proc = subprocess.run([KILN_REPLAY, str(tmp_path / "out" / "libcaster.so"), "--input",
                           str(tmp_path / "x.npy"), "--expect", str(expect)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# A data-parallel training step as an AOT library: each process computes
# the gradients of its rows of the global batch, kiln.all_reduce averages
# them inside the step, and SGD updates the weights; `sync` broadcasts rank
# 0's initial weights. BATCH is the rows per process.
DATA_PARALLEL_MODULE = """
kiln.variable @w1 : tensor<784x32xf32>
kiln.variable @b1 : tensor<32xf32> = dense<0.0>
kiln.variable @w2 : tensor<32x10xf32>
kiln.variable @b2 : tensor<10xf32> = dense<0.0>
func.func @initialize() {
  %w1 = kiln.random_uniform {static_seed = 1 : i64, minval = -0.08 : f64, maxval = 0.08 : f64} : tensor<784x32xf32>
  kiln.assign_variable @w1, %w1 : tensor<784x32xf32>
  %w2 = kiln.random_uniform {static_seed = 2 : i64, minval = -0.3 : f64, maxval = 0.3 : f64} : tensor<32x10xf32>
  kiln.assign_variable @w2, %w2 : tensor<32x10xf32>
  return
}
func.func @sync() {
  %w1 = kiln.read_variable @w1 : tensor<784x32xf32>
  %w2 = kiln.read_variable @w2 : tensor<32x10xf32>
  %s1 = kiln.broadcast_from %w1 : tensor<784x32xf32>
  %s2 = kiln.broadcast_from %w2 : tensor<32x10xf32>
  kiln.assign_variable @w1, %s1 : tensor<784x32xf32>
  kiln.assign_variable @w2, %s2 : tensor<32x10xf32>
  return
}
func.func private @loss(%x: tensor<BATCHx784xf32>, %y: tensor<BATCHxi32>) -> tensor<f32> {
  %w1 = kiln.read_variable @w1 : tensor<784x32xf32>
  %b1 = kiln.read_variable @b1 : tensor<32xf32>
  %w2 = kiln.read_variable @w2 : tensor<32x10xf32>
  %b2 = kiln.read_variable @b2 : tensor<10xf32>
  %h0 = kiln.matmul %x, %w1 : tensor<BATCHx784xf32>, tensor<784x32xf32> -> tensor<BATCHx32xf32>
  %h1 = kiln.add %h0, %b1 : tensor<BATCHx32xf32>, tensor<32xf32> -> tensor<BATCHx32xf32>
  %h = kiln.relu %h1 : tensor<BATCHx32xf32>
  %o0 = kiln.matmul %h, %w2 : tensor<BATCHx32xf32>, tensor<32x10xf32> -> tensor<BATCHx10xf32>
  %o = kiln.add %o0, %b2 : tensor<BATCHx10xf32>, tensor<10xf32> -> tensor<BATCHx10xf32>
  %l = kiln.sparse_softmax_cross_entropy %o, %y : tensor<BATCHx10xf32>, tensor<BATCHxi32> -> tensor<BATCHxf32>
  %m = kiln.reduce_mean %l {axes = array<i64: 0>} : tensor<BATCHxf32> -> tensor<f32>
  return %m : tensor<f32>
}
func.func @train_step(%images: tensor<BATCHx784xf32>, %labels: tensor<BATCHxi32>) -> tensor<f32> {
  %scale = kiln.constant dense<0.00392156886> : tensor<f32>
  %x = kiln.mul %images, %scale : tensor<BATCHx784xf32>, tensor<f32> -> tensor<BATCHx784xf32>
  %l, %gw1, %gb1, %gw2, %gb2 = kiln.value_and_grad @loss(%x, %labels) {wrt_variables = [@w1, @b1, @w2, @b2]}
      : (tensor<BATCHx784xf32>, tensor<BATCHxi32>) -> (tensor<f32>, tensor<784x32xf32>, tensor<32xf32>, tensor<32x10xf32>, tensor<10xf32>)
  %aw1 = kiln.all_reduce mean, %gw1 : tensor<784x32xf32>
  %ab1 = kiln.all_reduce mean, %gb1 : tensor<32xf32>
  %aw2 = kiln.all_reduce mean, %gw2 : tensor<32x10xf32>
  %ab2 = kiln.all_reduce mean, %gb2 : tensor<10xf32>
  %loss = kiln.all_reduce mean, %l : tensor<f32>
  %lr = kiln.constant dense<0.1> : tensor<f32>
  kiln.apply_gradient_descent @w1, %aw1, %lr : tensor<784x32xf32>, tensor<f32>
  kiln.apply_gradient_descent @b1, %ab1, %lr : tensor<32xf32>, tensor<f32>
  kiln.apply_gradient_descent @w2, %aw2, %lr : tensor<32x10xf32>, tensor<f32>
  kiln.apply_gradient_descent @b2, %ab2, %lr : tensor<10xf32>, tensor<f32>
  return %loss : tensor<f32>
}
"""

# Trains on the first 512 Fashion-MNIST images, global batches of 64: this
# process's rows of each are [rank * BATCH, (rank + 1) * BATCH). Rank 0
# saves the checkpoint and prints the losses.
DATA_PARALLEL_DRIVER = r"""
#include "dp.h"
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
  int32_t rank = 0, size = 0;
  kiln_status_t s = kiln_group_info("world", &rank, &size);
  if (s) { fprintf(stderr, "%s\n", kiln_status_message(s)); return 1; }
  if (size * BATCH != 64) { fprintf(stderr, "%d processes of %d rows\n", size, BATCH); return 1; }
  kiln_buffer_t *images = NULL, *labels = NULL;
  if (kiln_idx_read(DATA "/train-images-idx3-ubyte.gz", KILN_F32, 512, &images) ||
      kiln_idx_read(DATA "/train-labels-idx1-ubyte.gz", KILN_I32, 512, &labels))
    return 1;
  const float *x = kiln_buffer_host_data(images);
  const int32_t *y = kiln_buffer_host_data(labels);
  char error[512];
  dp_t *m = dp_create(error, sizeof error);
  if (!m || dp_init_variables(m) || dp_initialize(m) || dp_sync(m)) {
    fprintf(stderr, "setup: %s\n", m ? dp_error(m) : error);
    return 1;
  }
  for (int epoch = 0; epoch < 2; ++epoch)
    for (int step = 0; step < 512 / 64; ++step) {
      int64_t first = (int64_t)step * 64 + (int64_t)rank * BATCH;
      float loss;
      if (dp_train_step(m, x + first * 784, y + first, &loss)) {
        fprintf(stderr, "step: %s\n", dp_error(m));
        return 1;
      }
      if (rank == 0)
        printf("loss %.6f\n", loss);
    }
  if (rank == 0 && dp_save_checkpoint(m, argv[1])) {
    fprintf(stderr, "save: %s\n", dp_error(m));
    return 1;
  }
  dp_destroy(m);
  return 0;
}
"""


def build_data_parallel(tmp_path, batch):
    proc = compile_module(tmp_path, DATA_PARALLEL_MODULE.replace("BATCH", str(batch)), "dp")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    (tmp_path / "main.c").write_text(DATA_PARALLEL_DRIVER)
    subprocess.run([CC, "-std=c99", "-Wall", "-Werror", f"-DBATCH={batch}",
                    '-DDATA="/usr/share/datasets/fashion-mnist"', str(tmp_path / "main.c"),
                    "-I", str(out), "-L", str(out), "-ldp", "-lkiln_runtime",
                    f"-Wl,-rpath,{out}", "-o", str(tmp_path / "main")], check=True)
    return tmp_path / "main"


def test_data_parallel_library_under_mpirun_trains_like_one_process(tmp_path):
    """A library compiled with collectives trains from a C program launched
    by mpirun, to the weights one process reaches on the whole batches."""
    mpirun = shutil.which("mpirun")
    if not mpirun or not CC:
        pytest.skip("Open MPI's mpirun or a C compiler is not installed")
    if not os.path.exists("/usr/share/datasets/fashion-mnist"):
        pytest.skip("dataset-fashion-mnist is not installed")
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    alone = build_data_parallel(one, 64)
    split = build_data_parallel(two, 32)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMPI_")}
    proc = subprocess.run([str(alone), str(one / "w.safetensors")], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    losses_alone = [float(v) for v in re.findall(r"loss (\S+)", proc.stdout)]
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               KILN_NUM_THREADS="1")
    proc = subprocess.run([mpirun, "-np", "2", "--oversubscribe", "--bind-to", "none",
                           str(split), str(two / "w.safetensors")], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    losses_split = [float(v) for v in re.findall(r"loss (\S+)", proc.stdout)]
    assert len(losses_split) == len(losses_alone) == 16
    np.testing.assert_allclose(losses_split, losses_alone, rtol=1e-4)
    assert losses_alone[-1] < losses_alone[0]
    a = read_safetensors(one / "w.safetensors")
    b = read_safetensors(two / "w.safetensors")
    assert sorted(a) == sorted(b) == ["b1", "b2", "w1", "w2"]
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-4, atol=1e-5)
