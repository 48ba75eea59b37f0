#!/usr/bin/env bash
# Sets up and builds Kiln (scripts/setup.sh), then runs the whole test suite:
# lit/FileCheck tests, GoogleTest unit tests (ctest), and the integration
# tests that compile every op and compare with NumPy (pytest).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" || exit 1
build_dir="$root/build"
[ "${KILN_SANITIZE:-0}" = 1 ] && build_dir="$root/build-asan"

status=0
echo "== lit (FileCheck) tests"
/usr/lib/llvm-22/bin/lit -sv "$build_dir/test" || status=1
echo "== unit tests (ctest)"
(cd "$build_dir" && ctest --output-on-failure) || status=1
echo "== integration tests (pytest)"
KILN_BUILD_DIR="$build_dir" /usr/bin/python3 -m pytest -q "$root/test/integration"
rc=$?
# pytest exits 5 when it collected no test: that is a failure here too.
[ $rc -eq 0 ] || status=1
echo "== Python front end (pytest)"
KILN_BUILD_DIR="$build_dir" /usr/bin/python3 -m pytest -q "$root/test/python"
rc=$?
[ $rc -eq 0 ] || status=1
exit $status
