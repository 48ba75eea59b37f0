#!/usr/bin/env bash
# Installs what Kiln needs from Debian 12's apt (if missing), then configures
# and builds it in build/. Safe to run again: it installs nothing twice and
# rebuilds only what changed (ccache keeps rebuilds of a fresh tree fast).
#
#   scripts/setup.sh              # packages + configure + build
#   KILN_SANITIZE=1 scripts/setup.sh   # ASan/UBSan build in build-asan/
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
packages=(
  cmake ninja-build ccache git
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools clang-22 lld-22
  libclang-rt-22-dev
  libgtest-dev nlohmann-json3-dev
  python3-numpy python3-pybind11 python3-pytest python3-dev
  python3-tqdm python3-matplotlib python3-scipy python3-pil
  python3-protobuf  # (tests only: the oracle for the tf.train.Example wire format)
  python3-crcmod    # (CRC-32C in C for TFRecord files; Kiln falls back to Python)
  python3-h5py      # (Keras' HDF5 files: model.save("m.h5"), weights .h5)
  zlib1g-dev dataset-fashion-mnist valgrind
  openmpi-bin libopenmpi3 python3-mpi4py
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"
fi

build_dir="$root/build"
extra=()
if [ "${KILN_SANITIZE:-0}" = 1 ]; then
  build_dir="$root/build-asan"
  extra+=(-DKILN_ENABLE_SANITIZERS=ON)
fi

if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -G Ninja -S "$root" -B "$build_dir" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
    "${extra[@]}"
fi
# KILN_TARGETS: only these (scripts/test.sh's sanitizer phase builds no
# Python module).
ninja -C "$build_dir" -j "${KILN_JOBS:-2}" ${KILN_TARGETS:-}
