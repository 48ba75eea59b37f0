"""No input crashes tensor-opt: every .mlir file of the test suite is mutated
(spans deleted, tokens inserted) with a fixed seed and run through parsing,
autodiff and the whole CPU pipeline. Errors are fine; crashes are not."""

import glob
import os
import random
import subprocess
import zlib

import pytest

from conftest import BUILD, ROOT

TENSOR_OPT = os.path.join(BUILD, "bin", "tensor-opt")
FILES = sorted(glob.glob(os.path.join(ROOT, "test", "**", "*.mlir"), recursive=True))
TOKENS = ["0", "-1", "?", "999999999999", "f16", "i1", "[]", "{", "1x", "x0", "%", "@f"]


def mutations(source, count, seed):
    rng = random.Random(seed)
    for _ in range(count):
        a = rng.randrange(len(source))
        if rng.random() < 0.5:
            yield source[:a] + source[a + rng.randrange(1, 40):]
        else:
            yield source[:a] + rng.choice(TOKENS) + source[a:]


@pytest.mark.parametrize("path", FILES, ids=lambda p: os.path.relpath(p, ROOT))
def test_mutated_inputs_do_not_crash(tmp_path, path):
    with open(path) as f:
        source = f.read()
    for i, text in enumerate(mutations(source, 6, zlib.crc32(os.path.basename(path).encode()))):
        case = tmp_path / f"m{i}.mlir"
        case.write_text(text)
        for args in ([], ["--kiln-autodiff"], ["--kiln-cpu-pipeline"]):
            proc = subprocess.run([TENSOR_OPT, str(case), "--split-input-file", *args],
                                  capture_output=True, text=True)
            assert proc.returncode >= 0 and "PLEASE submit" not in proc.stderr, (
                f"tensor-opt {' '.join(args)} crashed on a mutation of {path}:\n"
                f"{proc.stderr[-2000:]}\n--- input ---\n{text}")
