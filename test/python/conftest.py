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
