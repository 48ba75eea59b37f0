#!/usr/bin/env bash
# Sets up and builds Kiln, then shows it at work on examples/mlp.mlir, a
# two-layer perceptron's loss written in the Kiln dialect:
#  1. tensor-opt refines its shapes and folds it (the dialect and a pass);
#  2. tensor-run compiles it to native code and runs it on random weights
#     and a batch of random images, printing the loss.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
example="$root/examples/mlp.mlir"
echo "== input: $example"
cat "$example"
echo
echo "== tensor-opt --kiln-refine-shapes --canonicalize"
"$root/build/bin/tensor-opt" "$example" --kiln-refine-shapes --canonicalize
echo
echo "== tensor-run: compile to native code and run on random inputs"
inputs="$(mktemp -d)"
trap 'rm -rf "$inputs"' EXIT
/usr/bin/python3 - "$inputs" <<'PY'
import sys
import numpy as np
d, rng = sys.argv[1], np.random.default_rng(0)
arrays = {
    "images": rng.random((32, 784), dtype=np.float32),
    "labels": rng.integers(0, 10, 32).astype(np.int32),
    "w1": (rng.standard_normal((784, 128)) * 0.05).astype(np.float32),
    "b1": np.zeros(128, np.float32),
    "w2": (rng.standard_normal((128, 10)) * 0.1).astype(np.float32),
    "b2": np.zeros(10, np.float32),
}
for name, a in arrays.items():
    np.save(f"{d}/{name}.npy", a)
PY
args=()
for name in images labels w1 b1 w2 b2; do args+=(--input "$inputs/$name.npy"); done
"$root/build/bin/tensor-run" "$example" "${args[@]}" --print --repeat 100 --time
echo "(a loss near ln(10) = 2.30 is what random weights give)"
