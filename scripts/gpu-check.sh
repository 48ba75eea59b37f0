#!/usr/bin/env bash
# Checks Kiln's GPU code on a machine with an NVIDIA GPU but no compiler.
#
#   scripts/gpu-check.sh prepare RECDIR [CHIP [OUT]]
#                                                here: makes .gpu-check/ (or
#                                                OUT) and its .tar.gz
#   scripts/gpu-check.sh prepare RECDIR cpu      the same for the CPU, to
#                                                check the harness here
#   scripts/gpu-check.sh run [DIR]               there: runs every case
#   scripts/gpu-check.sh diagnose [DIR]          there, after run: sanitizer
#                                                and profiler reports
#   scripts/gpu-check.sh one CASE [DIR]          there: runs one case again
#                                                (KILN_GPU_CHECK_WRAP=cmd runs
#                                                kiln-replay under cmd, e.g.
#                                                compute-sanitizer)
#
# Carry .gpu-check.tar.gz (or the .gpu-check folder) to the GPU machine;
# run unpacks the first when the second is not there.
#
# prepare takes the cases a passing integration run recorded
# (KILN_IT_RECORD=RECDIR: each module with its inputs and the CPU's outputs,
# which the tests checked against NumPy), one per test, and compiles each
# module ahead of time for the GPU (tensor-compile --target=cuda, a cubin for
# CHIP, default sm_90, plus PTX). With the runtime and kiln-replay (which
# need neither MLIR nor LLVM) they go to .gpu-check/ (git-ignored), small
# enough to travel with the working tree. run then replays each case on
# cuda:0 and compares the GPU's outputs with the CPU's (floats within
# 1e-4 relative for f32, 1e-9 for f64; integers exactly), prints a table and
# one line per failing case, writes the full log to $OUT (or the bundle) and
# exits 1 if a case failed. See docs/gpu.md.
#
# prepare also exports the MLP and the seed CNN training steps with their
# first Fashion-MNIST batches (gpu-check/models.py) and runs them here on the
# CPU for the reference loss curves, and compiles the speed kernels
# (gpu-check/chain.mlir, gpu-check/sgemm.mlir, the SGEMM again with TF32
# allowed, gpu-check/bf16gemm.mlir); run then trains on the GPU
# and times the kernels against the device's peak and PyTorch
# (gpu-check/perf.py).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode="${1:-}"

prepare() {
  local rec="$1" chip="${2:-sm_90}" out="${3:-$root/.gpu-check}"
  local compile="$root/build/bin/tensor-compile" replay="$root/build/bin/kiln-replay"
  [ -d "$rec" ] || { echo "no recording at $rec (run the integration tests with KILN_IT_RECORD=$rec)"; return 1; }
  [ -x "$compile" ] && [ -x "$replay" ] || { echo "build first (scripts/setup.sh)"; return 1; }
  # (OUT is replaced: only when it is empty or an earlier bundle.)
  if [ -e "$out" ] && [ ! -f "$out/cases.txt" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
    echo "$out exists and is not a gpu-check bundle: not replacing it"; return 1
  fi
  rm -rf "$out"; mkdir -p "$out/bin" "$out/lib" "$out/cases"
  cp "$replay" "$out/bin/"; cp "$root/build/lib/libkiln_runtime.so" "$out/lib/"
  # One case per test (the first), inputs and outputs under 1 MB.
  local seen="" name test
  for dir in "$rec"/*/; do
    dir="${dir%/}"; name="$(basename "$dir")"; test="${name%-*}"
    case " $seen " in *" $test "*) continue ;; esac
    [ "$(du -sk "$dir" | cut -f1)" -le 1024 ] || continue
    seen="$seen $test"
    echo "$name"
  done > "$out/cases.txt"
  echo "compiling $(wc -l < "$out/cases.txt") cases for $chip"
  local target="--target=cuda --chip=$chip --gpu-format=fatbin"
  [ "$chip" = cpu ] && target="--target=cpu"
  export compile target rec out
  # (Cases recorded with TF32 allowed, or with the tensor cores off, are
  # compiled so: their CPU outputs are the emulation of that kernel.)
  xargs -P "$(nproc)" -I{} bash -c '
    flags=""; grep -q "^args.*--allow-tf32" "$rec/{}/case.txt" && flags=--allow-tf32
    grep -q "^args.*--tensor-cores=false" "$rec/{}/case.txt" &&
      flags="$flags --tensor-cores=false"
    mkdir -p "$out/cases/{}" &&
    cp -r "$rec/{}/." "$out/cases/{}/" && rm -f "$out/cases/{}/module.mlir" &&
    KILN_CACHE_DIR=off "$compile" "$rec/{}/module.mlir" -o "$out/cases/{}/case" \
      $target $flags > /dev/null 2> "$out/cases/{}/compile.err" &&
    rm -f "$out/cases/{}/compile.err" "$out/cases/{}/libkiln_runtime.so" &&
    rm -rf "$out/cases/{}/kiln" && strip "$out/cases/{}/libcase.so" ||
    echo "compile failed: {}"' < "$out/cases.txt"
  prepare_perf "$chip" "$out" || return 1
  # What travels to the GPU machine: one compressed file (the cases'
  # libraries and arrays pack to about a third).
  tar -C "$(dirname "$out")" -czf "$out.tar.gz" "$(basename "$out")"
  du -sh "$out" "$out.tar.gz"
}

# The training curves and speed kernels (see the header).
prepare_perf() {
  local chip="$1" out="$2" here="$root/scripts/gpu-check"
  local compile="$root/build/bin/tensor-compile" replay="$root/build/bin/kiln-replay"
  local target="--target=cuda --chip=$chip --gpu-format=fatbin"
  [ "$chip" = cpu ] && target="--target=cpu --target-cpu=x86-64-v3"
  PYTHONPATH="$root/build/python_packages" /usr/bin/python3 "$here/models.py" "$out/train" || return 1
  local model dir
  for dir in "$out"/train/*/; do
    dir="${dir%/}"; model="$(basename "$dir")"
    echo "training $model on the CPU for the reference curve"
    (cd "$dir" && LD_LIBRARY_PATH="$root/build/lib" "$replay" "./lib$model.so" \
        --entry train_step --input x.npy --input y.npy \
        --load-variables "$model.safetensors" --repeat "$(cat steps.txt)" \
        --print-scalars --time > cpu-run.txt) || { cat "$dir/cpu-run.txt"; return 1; }
    sed -n 's/^call [0-9]*: output 0: //p' "$dir/cpu-run.txt" > "$dir/cpu-loss.txt"
    grep '^time' "$dir/cpu-run.txt"
    KILN_CACHE_DIR=off "$compile" "$dir/$model.mlir" -o "$dir/gpu/$model" $target > /dev/null || return 1
    # For a GPU, the step again with one launch per kernel (perf.py runs
    # both: a fault of the merged launches shows as a difference).
    if [ "$chip" != cpu ]; then
      KILN_CACHE_DIR=off "$compile" "$dir/$model.mlir" -o "$dir/gpu-unmerged/$model" $target \
        --merge-launches=false > /dev/null || return 1
      rm -rf "$dir/gpu-unmerged/kiln" "$dir/gpu-unmerged/libkiln_runtime.so" \
        "$dir/gpu-unmerged/$model.h" "$dir/gpu-unmerged/$model.mlir"
      strip "$dir/gpu-unmerged/lib$model.so"
    fi
    rm -rf "$dir/kiln" "$dir/gpu/kiln" "$dir"/libkiln_runtime.so "$dir"/gpu/libkiln_runtime.so \
      "$dir/$model.h" "$dir/gpu/$model.h" "$dir/gpu/$model.mlir" "$dir/cpu-run.txt"
    strip "$dir/lib$model.so" "$dir/gpu/lib$model.so"
  done
  mkdir -p "$out/speed"
  # The tensor cores' kernels (sgemm_tf32: the SGEMM with TF32 allowed;
  # bf16gemm) only for a GPU: on the CPU, 16-bit products are scalar code.
  local kernels="chain sgemm sgemm_tf32 bf16gemm"
  [ "$chip" = cpu ] && kernels="chain sgemm"
  for kernel in $kernels; do
    local source="$here/${kernel%_tf32}.mlir" tf32=""
    [ "$kernel" = sgemm_tf32 ] && tf32=--allow-tf32
    KILN_CACHE_DIR=off "$compile" "$source" -o "$out/speed/$kernel" $target $tf32 > /dev/null || return 1
    rm -rf "$out/speed/kiln" "$out/speed/libkiln_runtime.so" "$out/speed/$kernel.h"
    strip "$out/speed/lib$kernel.so"
  done
  # Hopper's own kernel (TMA + wgmma, sm_90a only): the bf16 GEMM for speed
  # and a product checked against NumPy.
  if [ "$chip" != cpu ]; then
    KILN_CACHE_DIR=off "$compile" "$here/bf16gemm.mlir" -o "$out/speed/bf16gemm_sm90a" \
      --target=cuda --chip=sm_90a --gpu-format=fatbin > /dev/null || return 1
    KILN_CACHE_DIR=off "$compile" "$here/hopper_check.mlir" -o "$out/speed/hopper_check" \
      --target=cuda --chip=sm_90a --gpu-format=fatbin > /dev/null || return 1
    rm -rf "$out/speed/kiln" "$out/speed/libkiln_runtime.so" "$out/speed/"*.h
    strip "$out/speed/libbf16gemm_sm90a.so" "$out/speed/libhopper_check.so"
    /usr/bin/python3 - "$out/speed" <<'PY' || return 1
import os, sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(90)
a = rng.uniform(-1, 1, (300, 1000)).astype(np.float16).astype(np.float32)
b = rng.uniform(-1, 1, (1000, 200)).astype(np.float16).astype(np.float32)
os.makedirs(os.path.join(d, "hopper_expect"), exist_ok=True)
np.save(os.path.join(d, "hopper_a.npy"), a)
np.save(os.path.join(d, "hopper_b.npy"), b)
exact = a.astype(np.float64) @ b.astype(np.float64)
np.save(os.path.join(d, "hopper_expect", "0.npy"),
        exact.astype(np.float16).astype(np.float32))
PY
  fi
  # Calls of each kernel: on the CPU (checking the harness) SGEMM is slow.
  if [ "$chip" = cpu ]; then echo "5 2"; else echo "50 20"; fi > "$out/speed/repeat.txt"
  cp "$here/perf.py" "$out/"
}

# One case on the GPU: kiln-replay with its inputs and arguments, the
# outputs compared with the CPU's. Prints "== NAME (rc N)" and the replay's
# output; exits with its status. (Called by run through xargs.)
run_case() {
  local dir="$1" name="$2" case="$1/cases/$2"
  local replay="$dir/bin/kiln-replay" entry args=() inputs=() i=0
  entry="$(sed -n 's/^entry //p' "$case/case.txt")"
  while [ -f "$case/in$i.npy" ]; do inputs+=(--input "in$i.npy"); i=$((i + 1)); done
  read -r -a extra <<< "$(sed -n 's/^args//p' "$case/case.txt")"
  # tensor-run's options that kiln-replay shares; printing and saving are
  # not checked here.
  local k=0
  while [ $k -lt ${#extra[@]} ]; do
    case "${extra[$k]}" in
      --repeat|--load-variables) args+=("${extra[$k]}" "${extra[$((k + 1))]}"); k=$((k + 2)) ;;
      --save-variables) k=$((k + 2)) ;;
      *) k=$((k + 1)) ;;
    esac
  done
  [ -n "$entry" ] && args+=(--entry "$entry")
  local result rc
  result="$(cd "$case" && timeout "${KILN_GPU_CHECK_TIMEOUT:-30}" ${KILN_GPU_CHECK_WRAP:-} "$replay" ./libcase.so \
      "${inputs[@]}" "${args[@]}" --expect out 2>&1)"
  rc=$?
  printf '== %s (rc %d)\n%s\n' "$name" "$rc" "$result"
  return $rc
}

run() {
  local dir="${1:-$root/.gpu-check}"
  if [ ! -d "$dir" ] && [ -z "${1:-}" ] && [ -f "$root/.gpu-check.tar.gz" ]; then
    tar -C "$root" -xzf "$root/.gpu-check.tar.gz" || return 1
  fi
  local logdir="${OUT:-$dir}" log
  log="$logdir/gpu-check.log"
  : > "$log"
  export LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # The cases run 8 at a time (the GPU is shared; most of a case's time is
  # the process's start and the driver's context), each into its own log.
  local results="$dir/results"
  rm -rf "$results"; mkdir -p "$results"
  local skipped=0 name
  while read -r name; do
    [ -f "$dir/cases/$name/libcase.so" ] || skipped=$((skipped + 1))
  done < "$dir/cases.txt"
  export -f run_case; export dir results
  local started=$SECONDS
  while read -r name; do
    [ -f "$dir/cases/$name/libcase.so" ] && echo "$name"
  done < "$dir/cases.txt" | xargs -P "${KILN_GPU_CHECK_JOBS:-8}" -I{} bash -c \
    'run_case "$dir" {} > "$results/{}.log" 2>&1; echo $? > "$results/{}.rc"'
  local pass=0 fail=0
  : > "$logdir/failed.txt"
  while read -r name; do
    [ -f "$results/$name.rc" ] || continue
    cat "$results/$name.log" >> "$log"
    if [ "$(cat "$results/$name.rc")" = 0 ]; then pass=$((pass + 1)); else
      fail=$((fail + 1)); echo "$name" >> "$logdir/failed.txt"
      echo "FAIL $name: $(grep -v ': ok' "$results/$name.log" | sed -n 2,3p | tr '\n' ' ' | cut -c1-300)"
    fi
  done < "$dir/cases.txt"
  echo "gpu-check: $pass passed, $fail failed, $skipped not compiled" \
       "in $((SECONDS - started)) s (log: $log)"
  local perf=0
  python3 "$dir/perf.py" "$dir" --out "$logdir" 2>&1 | tee -a "$log"
  perf=${PIPESTATUS[0]}
  [ $fail -eq 0 ] && [ $perf -eq 0 ]
}

# After run, on the GPU machine: the first failing cases (failed.txt) again
# under compute-sanitizer's memcheck, and Nsight Compute's summary of the
# speed kernels and one training step (clocks left alone), into
# $OUT/diagnose.txt. Tools that are missing are skipped.
diagnose() {
  local dir="${1:-$root/.gpu-check}" logdir="${OUT:-${1:-$root/.gpu-check}}"
  local report="$logdir/diagnose.txt" name tool
  export LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  : > "$report"
  tool="$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)"
  if [ -n "$tool" ] && [ -s "$logdir/failed.txt" ]; then
    head -n "${KILN_GPU_CHECK_SANITIZE:-3}" "$logdir/failed.txt" | while read -r name; do
      KILN_GPU_CHECK_TIMEOUT=90 KILN_GPU_CHECK_WRAP="$tool --tool memcheck" \
        run_case "$dir" "$name" 2>&1 | tail -40
    done >> "$report"
  fi
  tool="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)"
  if [ -n "$tool" ]; then
    local speed="$dir/speed" kernel
    for kernel in chain sgemm sgemm_tf32 bf16gemm bf16gemm_sm90a; do
      [ -f "$speed/lib$kernel.so" ] || continue
      echo "== ncu: $kernel" >> "$report"
      (cd "$speed" && timeout 120 "$tool" --clock-control none --launch-skip 1 \
         --launch-count 1 --section SpeedOfLight --section LaunchStats \
         --section Occupancy "$dir/bin/kiln-replay" "./lib$kernel.so" \
         --synthetic --repeat 2) 2>&1 | grep -v '^==PROF==' | tail -60 >> "$report"
    done
    local model="$dir/train/mlp"
    if [ -f "$model/gpu/libmlp.so" ]; then
      echo "== ncu: one MLP training step (every kernel)" >> "$report"
      (cd "$model" && timeout 120 "$tool" --clock-control none --print-summary per-kernel \
         --section SpeedOfLight "$dir/bin/kiln-replay" gpu/libmlp.so --input x.npy \
         --input y.npy --load-variables mlp.safetensors --entry train_step \
         --repeat 1) 2>&1 | grep -v '^==PROF==' | tail -150 >> "$report"
    fi
  fi
  echo "diagnose: $(wc -l < "$report") lines in $report"
}

case "$mode" in
  prepare) shift; prepare "$@" ;;
  run) shift; run "$@" ;;
  diagnose) shift; diagnose "$@" ;;
  one) shift; export LD_LIBRARY_PATH="${2:-$root/.gpu-check}/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    run_case "${2:-$root/.gpu-check}" "$1" ;;
  *) echo "usage: $0 prepare RECDIR [CHIP] | run [DIR] | diagnose [DIR] | one CASE [DIR]"; exit 2 ;;
esac
