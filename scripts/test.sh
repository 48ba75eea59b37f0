#!/usr/bin/env bash
# Sets up and builds Kiln (scripts/setup.sh), then runs the whole test suite:
# lit/FileCheck tests, GoogleTest unit tests (ctest), and the integration
# tests that compile every op and compare with NumPy (pytest).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" || exit 1
build_dir="$root/build"
# AddressSanitizer's options wherever instrumented code runs (see below and
# test/lit.cfg.py, which keeps what this exports).
asan_options="allow_user_poisoning=0:detect_leaks=0:verify_asan_link_order=0"
if [ "${KILN_SANITIZE:-0}" = 1 ]; then
  build_dir="$root/build-asan"
  # Sanitized Kiln libraries run inside python3 and inside the AOT tests'
  # C programs, which are not instrumented: the shared sanitizer runtime is
  # preloaded there (and the instrumented tools use the same one).
  #  - allow_user_poisoning=0: LLVM's BumpPtrAllocator poisons its slabs in
  #    instrumented code (Kiln's) but not in Debian's libMLIR, which shares
  #    those slabs, so its explicit poisoning would report false positives;
  #    every other ASan check stays on.
  #  - detect_leaks=0: the Python interpreter keeps objects until exit.
  asan_runtime="$(clang-22 -print-file-name=libclang_rt.asan-x86_64.so)"
  export ASAN_OPTIONS="$asan_options${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  export UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
  preload="$asan_runtime"
else
  preload=""
fi

status=0
echo "== lit (FileCheck) tests"
/usr/lib/llvm-22/bin/lit -sv "$build_dir/test" || status=1
echo "== unit tests (ctest)"
(cd "$build_dir" && ctest --output-on-failure) || status=1
echo "== integration tests (pytest)"
# With the CUDA toolkit (found at configure time), every module the
# integration tests run is also compiled for sm_90 and sm_80 down to cubins
# (ptxas), in the background, and those with f16 or bf16 tensors for sm_90a
# (the TMA + wgmma kernel); KILN_IT_GPU_COMPILE= (empty) skips it.
toolkit="$(sed -n 's/^KILN_CUDA_TOOLKIT:INTERNAL=//p' "$build_dir/CMakeCache.txt" 2>/dev/null)"
gpu_chip="${KILN_IT_GPU_COMPILE-sm_90,sm_80,sm_90a}"
if [ -z "$toolkit" ] || [ ! -x "$toolkit/bin/ptxas" ] || [ "${KILN_SANITIZE:-0}" = 1 ]; then
  gpu_chip=""
fi
KILN_IT_GPU_COMPILE="$gpu_chip" KILN_BUILD_DIR="$build_dir" LD_PRELOAD="$preload" \
  /usr/bin/python3 -m pytest -q "$root/test/integration"
rc=$?
# pytest exits 5 when it collected no test: that is a failure here too.
[ $rc -eq 0 ] || status=1
# The GPU kernels' index arithmetic on the CPU: the integration suite's
# ops built as the GPU's kernels build them (tiled products and
# convolutions, warp reductions, elementwise loops four elements per
# thread), run as host loops, against NumPy (docs/gpu.md).
if [ "${KILN_SANITIZE:-0}" != 1 ]; then
  echo "== GPU kernels emulated on the CPU (integration subset)"
  KILN_IT_TENSOR_RUN_ARGS=--emulate-gpu-kernels KILN_BUILD_DIR="$build_dir" \
    /usr/bin/python3 -m pytest -q "$root/test/integration/test_ops.py"
  [ $? -eq 0 ] || status=1
  # Training steps' in-place updates, fused by kiln-gpu-fuse-adjacent as on
  # the GPU, against the optimizers' formulas in NumPy.
  KILN_IT_TENSOR_RUN_ARGS=--emulate-gpu-kernels KILN_BUILD_DIR="$build_dir" \
    /usr/bin/python3 -m pytest -q "$root/test/integration/test_variables.py"
  [ $? -eq 0 ] || status=1
fi
echo "== Python front end (pytest)"
KILN_BUILD_DIR="$build_dir" LD_PRELOAD="$preload" /usr/bin/python3 -m pytest -q "$root/test/python"
rc=$?
[ $rc -eq 0 ] || status=1
# Short fuzzing runs with fixed seeds (docs/testing.md): the runtime's file
# readers under libFuzzer (ASan + UBSan), mutated .mlir through tensor-opt,
# random eager ops from Python. KILN_FUZZ_SECONDS=0 skips them.
fuzz_seconds="${KILN_FUZZ_SECONDS:-10}"
if [ "$fuzz_seconds" != 0 ] && [ "${KILN_SANITIZE:-0}" != 1 ]; then
  echo "== fuzzers (short runs, fixed seeds)"
  mkdir -p "$root/build-fuzz"
  for target in npy idx safetensors manifest; do
    KILN_BUILD_DIR="$build_dir" "$root/scripts/fuzz.sh" "$target" "$fuzz_seconds" 1 \
      > "$root/build-fuzz/$target.log" 2>&1
    rc=$?
    grep -h "stat::number_of_executed_units\|SUMMARY\|ERROR" "$root/build-fuzz/$target.log" \
      | sed "s/^/$target: /"
    [ $rc -eq 0 ] || { status=1; tail -40 "$root/build-fuzz/$target.log"; }
    rm -f "$root/build-fuzz/$target.log"
  done
  for target in mlir eager; do
    KILN_BUILD_DIR="$build_dir" "$root/scripts/fuzz.sh" "$target" $((fuzz_seconds * 3)) 1 \
      || status=1
  done
  # A few hundred random programs (every op family, control flow, training
  # steps, AOT libraries, eager and traced Python).
  KILN_BUILD_DIR="$build_dir" "$root/scripts/fuzz.sh" programs $((fuzz_seconds * 10)) 1 \
    || status=1
fi
# ASan + UBSan: the compiler, the tools and the runtime rebuilt instrumented
# in build-asan/ (about 22 CPU-minutes from scratch; the Python module is
# not built), then the lit tests, the unit tests and an integration subset
# run under them (docs/testing.md). KILN_CI_SANITIZERS=0 skips the phase;
# KILN_SANITIZE=1 runs the whole suite sanitized instead.
if [ "${KILN_CI_SANITIZERS:-1}" != 0 ] && [ "${KILN_SANITIZE:-0}" != 1 ]; then
  echo "== ASan + UBSan build: lit, unit tests, integration subset"
  started=$SECONDS
  mkdir -p "$root/build-fuzz"
  asan_dir="$root/build-asan"
  if KILN_SANITIZE=1 KILN_TARGETS=kiln-native-tests "$root/scripts/setup.sh" \
      > "$root/build-fuzz/asan-build.log" 2>&1; then
    (
      export ASAN_OPTIONS="$asan_options"
      export UBSAN_OPTIONS="print_stacktrace=1"
      rc=0
      /usr/lib/llvm-22/bin/lit -s "$asan_dir/test" || rc=1
      # (The summary here; the whole output, sanitizer reports included,
      # when a test fails.)
      if (cd "$asan_dir" && ctest --output-on-failure) > "$root/build-fuzz/asan-ctest.log" 2>&1; then
        grep -E "tests passed" "$root/build-fuzz/asan-ctest.log"
      else
        rc=1
        cat "$root/build-fuzz/asan-ctest.log"
      fi
      KILN_IT_GPU_COMPILE= KILN_BUILD_DIR="$asan_dir" /usr/bin/python3 -m pytest -q \
        "$root/test/integration/test_tensor_run.py" \
        "$root/test/integration/test_variables.py" \
        "$root/test/integration/test_faults.py" \
        "$root/test/integration/test_ops.py" \
        -k "not test_ops or matmul or conv or softmax or gather or slice or pool" || rc=1
      exit $rc
    ) || status=1
  else
    status=1
    tail -40 "$root/build-fuzz/asan-build.log"
  fi
  echo "(sanitizer phase: $((SECONDS - started)) s)"
fi
# The runtime's unit tests (concurrent invokes, the thread pool, the buffer
# pool) under ThreadSanitizer, in their own small build.
if [ "${KILN_SANITIZE:-0}" != 1 ]; then
  echo "== runtime tests under ThreadSanitizer"
  mkdir -p "$root/build-fuzz"
  "$root/scripts/tsan.sh" > "$root/build-fuzz/tsan.log" 2>&1 || {
    status=1; tail -60 "$root/build-fuzz/tsan.log"; }
  grep -h "PASSED\|FAILED\|WARNING: ThreadSanitizer" "$root/build-fuzz/tsan.log" || true
fi
exit $status
