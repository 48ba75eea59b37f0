"""Shared set-up of the Python benchmarks, imported before NumPy: every peer
single-threaded, the built `kiln` package importable, PyTorch if installed
(`torch` is None otherwise)."""

import os
import sys

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("KILN_BUILD_DIR", os.path.join(ROOT, "build"))
sys.path.insert(0, os.path.join(BUILD, "python_packages"))

try:
    import torch
    torch.set_num_threads(1)
except ImportError:
    torch = None
