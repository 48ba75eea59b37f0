#!/usr/bin/env bash
# Sets up and builds Kiln (scripts/setup.sh), then runs the whole test suite:
# lit/FileCheck tests and GoogleTest unit tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
build_dir="$root/build"
[ "${KILN_SANITIZE:-0}" = 1 ] && build_dir="$root/build-asan"

status=0
echo "== lit (FileCheck) tests"
/usr/lib/llvm-22/bin/lit -sv "$build_dir/test" || status=1
echo "== unit tests (ctest)"
(cd "$build_dir" && ctest --output-on-failure) || status=1
exit $status
