"""Makes the built package importable: build/python_packages (or
$KILN_BUILD_DIR/python_packages) goes first on sys.path."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("KILN_BUILD_DIR", os.path.join(ROOT, "build"))
sys.path.insert(0, os.path.join(BUILD, "python_packages"))

# Compiled kernels go to a cache private to this test session, not to
# ~/.cache/kiln.
import tempfile  # noqa: E402

os.environ.setdefault("KILN_CACHE_DIR", tempfile.mkdtemp(prefix="kiln-test-cache-"))


def run_fresh_process(script, cache_dir, extra_env=None):
    """Runs `script` with `python -c` in a new interpreter that imports this
    build, with the disk cache in `cache_dir` (plus `extra_env`), and
    returns its standard output."""
    import subprocess
    env = dict(os.environ, KILN_CACHE_DIR=str(cache_dir),
               PYTHONPATH=os.pathsep.join(sys.path))
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-c", script], env=env, check=True,
                          capture_output=True, text=True).stdout


def central(f, x, h=1e-6):
    """Central differences of the scalar function f at every element of the
    float64 array x: the oracle for gradients."""
    import numpy as np
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g
