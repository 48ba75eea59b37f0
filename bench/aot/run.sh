#!/usr/bin/env bash
# Measures the AOT path: compile time and stripped size of the MLP training
# library (examples/aot/mlp.mlir), and the per-call overhead of an entry
# (overhead.c over tiny.mlir). Usage: bench/aot/run.sh [build dir]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${1:-$root/build}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
echo "== compile the MLP training library"
"$build/bin/tensor-compile" "$root/examples/aot/mlp.mlir" -o "$out/mlp" --time
strip -o "$out/libmlp.stripped.so" "$out/libmlp.so"
echo "libmlp.so: $(stat -c %s "$out/libmlp.so") bytes, stripped $(stat -c %s "$out/libmlp.stripped.so") bytes"
echo "libkiln_runtime.so: $(stat -c %s "$out/libkiln_runtime.so") bytes"
echo "== per-call overhead"
"$build/bin/tensor-compile" "$here/tiny.mlir" -o "$out/tiny"
cc -O2 -std=c99 -I"$out" "$here/overhead.c" -L"$out" -ltiny -lkiln_runtime \
  -Wl,-rpath,"$out" -o "$out/overhead"
"$out/overhead"
