#!/usr/bin/env bash
# Builds Kiln and runs the benchmarks in bench/ next to NumPy (OpenBLAS) and
# PyTorch, installing those peers from apt if missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
peers=(python3-torch libopenblas0-pthread)
missing=()
for p in "${peers[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"
fi
# bench/peers.py gives OpenBLAS the best kernel for this CPU (read from
# /proc/cpuinfo) and checks what NumPy and PyTorch really run on.
/usr/bin/python3 "$root/bench/bench_basic.py" "$@"
/usr/bin/python3 "$root/bench/bench_python.py"
/usr/bin/python3 "$root/bench/bench_training.py"
/usr/bin/python3 "$root/bench/bench_compile.py"
bash "$root/bench/aot/run.sh"
