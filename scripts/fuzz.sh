#!/usr/bin/env bash
# Fuzzes one part of Kiln for a number of seconds:
#   scripts/fuzz.sh <target> <seconds> [seed]
# Targets:
#   npy, idx, safetensors, manifest  libFuzzer (clang-22, ASan + UBSan) on
#                                    the runtime's readers; built here into
#                                    build-fuzz/ (the runtime only: a minute)
#   mlir                             mutated .mlir files through tensor-opt
#                                    (parse, verify, kiln-autodiff, the CPU
#                                    pipeline); needs build/
#   eager                            random Kiln ops with random shapes,
#                                    dtypes and axes from Python; needs build/
#   programs                         random well-typed Kiln programs run by
#                                    tensor-run against a NumPy interpreter,
#                                    failures reduced and saved; needs build/
# Seeds: test/fuzz/corpus/<target> (committed); what libFuzzer adds goes
# to build-fuzz/corpus/<target>. A crash is saved under
# build-fuzz/crashes/<target>/ and the script exits 1.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${1:?usage: scripts/fuzz.sh <npy|idx|safetensors|manifest|mlir|eager|programs> <seconds> [seed]}"
seconds="${2:?seconds}"
seed="${3:-1}"
out="$root/build-fuzz"
mkdir -p "$out/crashes/$target" "$out/corpus/$target"

case "$target" in
npy|idx|safetensors|manifest)
  cxx="${CXX_FUZZ:-clang++-22}"
  flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer
         -fsanitize=address,undefined -fno-sanitize-recover=undefined
         -I"$root/include")
  objects="$out/runtime"
  mkdir -p "$objects"
  # The runtime, instrumented for coverage (rebuilt when a source changes).
  for src in "$root"/lib/Runtime/*.cpp; do
    obj="$objects/$(basename "${src%.cpp}").o"
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$root/include/kiln/Runtime/Runtime.h" -nt "$obj" ]; then
      "$cxx" "${flags[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
    fi
  done
  binary="$out/fuzz_$target"
  harness="$root/test/fuzz/fuzz_$target.cpp"
  if [ ! -x "$binary" ] || [ "$harness" -nt "$binary" ] || [ -n "$(find "$objects" -newer "$binary" -name '*.o')" ]; then
    "$cxx" "${flags[@]}" -fsanitize=fuzzer "$harness" "$objects"/*.o -lz -ldl -lpthread \
      -o "$binary"
  fi
  cd "$out/crashes/$target"
  # Leaks are not findings here (the runtime's pools keep blocks until
  # exit); -timeout flags an input that takes 10 s as a hang.
  ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
    "$binary" -max_total_time="$seconds" -seed="$seed" -timeout=10 -max_len=65536 \
    -print_final_stats=1 "$out/corpus/$target" "$root/test/fuzz/corpus/$target"
  ;;
mlir|eager)
  KILN_BUILD_DIR="${KILN_BUILD_DIR:-$root/build}" /usr/bin/python3 \
    "$root/test/fuzz/fuzz_$target.py" --seconds "$seconds" --seed "$seed" \
    --crashes "$out/crashes/$target"
  ;;
programs)
  KILN_BUILD_DIR="${KILN_BUILD_DIR:-$root/build}" /usr/bin/python3 \
    "$root/test/fuzz/progen.py" --seconds "$seconds" --seed "$seed" \
    --crashes "$out/crashes/$target"
  ;;
*)
  echo "unknown target '$target' (npy, idx, safetensors, manifest, mlir, eager, programs)" >&2
  exit 2
  ;;
esac
