"""Shared set-up of the Python benchmarks, imported before NumPy.

- Every peer, Kiln included, runs single-threaded unless the script asks
  for more.
- OpenBLAS is told to use the best kernel this CPU has (its own detection
  picks an AVX2 kernel on AVX-512 AMD parts): `OPENBLAS_CORETYPE` is set from
  /proc/cpuinfo unless the caller set it.
- The built `kiln` package is importable; `torch` is PyTorch or None.
- `check_peers()` finds which BLAS library NumPy and PyTorch really run on
  (the shared objects mapped into this process, not what their build
  configuration claims), prints it with the kernel OpenBLAS chose, and
  exits with an error when a peer would run on the reference BLAS: such a
  figure is several times too slow and would flatter Kiln.
- `machine()` describes the CPU the figures come from.
"""

import ctypes
import os
import sys

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "KILN_NUM_THREADS"):
    os.environ.setdefault(var, "1")


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def best_openblas_core(flags):
    """The OpenBLAS kernel for a CPU with these /proc/cpuinfo flags."""
    if {"avx512f", "avx512vl", "avx512bw", "avx512dq"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


_FLAGS = _cpu_flags()
_BEST_CORE = best_openblas_core(_FLAGS)
# A weaker kernel set in the environment (some machines here set
# OPENBLAS_CORETYPE=Haswell on an AVX-512 CPU) is overridden: a peer's
# figure must be its best. KILN_BENCH_OPENBLAS_CORETYPE forces a kernel.
_OVERRIDDEN = None
if "KILN_BENCH_OPENBLAS_CORETYPE" in os.environ:
    os.environ["OPENBLAS_CORETYPE"] = os.environ["KILN_BENCH_OPENBLAS_CORETYPE"]
elif _BEST_CORE:
    if os.environ.get("OPENBLAS_CORETYPE", _BEST_CORE) != _BEST_CORE:
        _OVERRIDDEN = os.environ["OPENBLAS_CORETYPE"]
    os.environ["OPENBLAS_CORETYPE"] = _BEST_CORE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("KILN_BUILD_DIR", os.path.join(ROOT, "build"))
sys.path.insert(0, os.path.join(BUILD, "python_packages"))

try:
    import torch
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
except ImportError:
    torch = None


def machine():
    """'CPU model, N vCPUs, ISA' for the header of every benchmark."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    isa = ("AVX-512" if "avx512f" in _FLAGS else
           "AVX2" if "avx2" in _FLAGS else "SSE")
    return f"{model}, {os.cpu_count()} vCPUs, {isa}"


def _mapped_blas():
    """Real paths of the BLAS-like shared objects mapped into this process."""
    found = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            name = os.path.basename(path)
            if any(k in name for k in ("blas", "mkl", "blis")):
                found.add(os.path.realpath(path))
    return sorted(found)


def classify_blas(path):
    """'openblas', 'mkl', 'blis' or 'reference' for one mapped library."""
    lowered = path.lower()
    for kind in ("openblas", "mkl", "blis"):
        if kind in lowered:
            return kind
    return "reference"


def _openblas_core():
    """The kernel the loaded OpenBLAS picked (None if it is not loaded)."""
    for path in _mapped_blas():
        if classify_blas(path) != "openblas":
            continue
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            return (lib.openblas_get_corename().decode(),
                    lib.openblas_get_config().decode())
        except (OSError, AttributeError):
            continue
    return None


def _torch_blas_lines():
    if torch is None:
        return []
    lines = []
    for line in torch.__config__.show().splitlines():
        if "CPU capability" in line:
            lines.append(line.strip(" -"))
        for field in line.split(":")[-1].split(","):
            if field.strip().startswith(("BLAS_INFO", "LAPACK_INFO",
                                         "USE_MKLDNN", "USE_OPENMP")):
                lines.append(field.strip())
    return lines


def check_peers(need_torch=False):
    """Runs a matmul in each peer, then reports (and vets) the BLAS mapped.

    Exits with status 2 when any mapped BLAS is the reference one, when
    OpenBLAS runs a kernel weaker than this CPU's best, or when PyTorch is
    required but missing."""
    import numpy as np
    a = np.ones((64, 64), np.float32)
    a @ a
    if torch is not None:
        t = torch.ones(64, 64)
        t @ t
    libs = _mapped_blas()
    problems = []
    print(f"# machine: {machine()}")
    print(f"# numpy {np.__version__}"
          + (f", torch {torch.__version__}" if torch is not None else
             ", torch not installed"))
    for path in libs:
        print(f"# BLAS mapped: {path} ({classify_blas(path)})")
        if classify_blas(path) == "reference":
            problems.append(
                f"{path} is the reference BLAS; install libopenblas0-pthread "
                "(the peers' figures would be several times too slow)")
    if not libs:
        problems.append("no BLAS library is mapped after a NumPy matmul")
    core = _openblas_core()
    if _OVERRIDDEN:
        print(f"# note: OPENBLAS_CORETYPE={_OVERRIDDEN} in the environment "
              f"replaced by this CPU's best, {_BEST_CORE}")
    for var in sorted(v for v in os.environ if v.startswith("OPENBLAS_")):
        print(f"# {var}={os.environ[var]}")
    if core:
        print(f"# OpenBLAS kernel: {core[0]} ({core[1].strip()})")
        if _BEST_CORE and core[0].lower() != _BEST_CORE.lower() and \
                "KILN_BENCH_OPENBLAS_CORETYPE" not in os.environ:
            problems.append(f"OpenBLAS runs its {core[0]} kernel; this CPU's "
                            f"best is {_BEST_CORE}")
    for line in _torch_blas_lines():
        print(f"# torch: {line}")
    if need_torch and torch is None:
        problems.append("PyTorch is not installed (apt-get install python3-torch)")
    if problems:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        sys.exit(2)


def native(*args):
    """Runs bench/native/machine.cpp (built once per source change with the
    host's clang++ or c++ at -O3 -march=native) and returns its number."""
    import subprocess
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "native", "machine.cpp")
    binary = os.path.join(BUILD, "bench", "machine")
    if not os.path.exists(binary) or \
            os.path.getmtime(binary) < os.path.getmtime(source):
        os.makedirs(os.path.dirname(binary), exist_ok=True)
        compiler = next((c for c in ("clang++-22", "clang++", "c++")
                         if subprocess.run(["sh", "-c", f"command -v {c}"],
                                           capture_output=True).returncode == 0),
                        None)
        if compiler is None:
            sys.exit("error: no C++ compiler for bench/native/machine.cpp")
        subprocess.run([compiler, "-O3", "-march=native", "-std=c++17",
                        "-pthread", source, "-o", binary], check=True)
    out = subprocess.run([binary, *map(str, args)], capture_output=True,
                         text=True, check=True).stdout
    return float(out)


def print_machine_limits(threads=(1, 2)):
    """Peak f32 FMA (per thread count, with the scaling) and STREAM triad."""
    peaks = {t: native("fma", t) for t in threads}
    base = peaks[threads[0]]
    cells = ", ".join(f"{t} thread{'s' if t > 1 else ''} {p:.0f} GFLOP/s"
                      + (f" ({p / base:.2f}x)" if t != threads[0] else "")
                      for t, p in peaks.items())
    print(f"# peak f32 FMA: {cells}")
    print(f"# STREAM triad, one thread: {native('triad'):.1f} GB/s")
    return peaks
