#!/usr/bin/env bash
# Sets up and builds Kiln, then shows the dialect at work: tensor-opt parses
# examples/mlp.mlir, runs shape refinement and canonicalization, and prints
# the result.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
example="$root/examples/mlp.mlir"
echo "== input: $example"
cat "$example"
echo
echo "== tensor-opt --kiln-refine-shapes --canonicalize"
"$root/build/bin/tensor-opt" "$example" --kiln-refine-shapes --canonicalize
