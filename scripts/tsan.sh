#!/usr/bin/env bash
# The runtime's unit tests under ThreadSanitizer: the runtime (plain C++,
# no MLIR) and its tests built with clang-22 -fsanitize=thread into
# build-tsan-runtime/ (a couple of minutes), then run. They include
# concurrent invokes of one executable, the thread pool's parallel loops
# and nested/contended loops, the buffer pool shared by threads, and
# all-reduces started from several threads on the collectives' thread.
#   scripts/tsan.sh [gtest filter]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/build-tsan-runtime"
mkdir -p "$out/obj"
cxx=clang++-22
cc=clang-22
flags=(-O1 -g -fno-omit-frame-pointer -fsanitize=thread -fPIC -I"$root/include")
for src in "$root"/lib/Runtime/*.cpp; do
  obj="$out/obj/runtime_$(basename "${src%.cpp}").o"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$root/include/kiln/Runtime/Runtime.h" -nt "$obj" ]; then
    "$cxx" -std=c++17 "${flags[@]}" -c "$src" -o "$obj" &
  fi
done
wait
"$cc" "${flags[@]}" -shared "$root/test/unit/fake_module.c" -o "$out/libkiln_fake_module.so"
"$cc" "${flags[@]}" -shared -DKILN_FAKE_MODULE_BROKEN "$root/test/unit/fake_module.c" \
  -o "$out/libkiln_fake_module_broken.so"
tests=(BufferTest CollectivesTest DeviceTest ExecutableTest IdxTest InstanceTest ManifestTest NpyTest
       ParallelTest RuntimeTestUtils StatusTest VariablesTest)
for t in "${tests[@]}"; do
  src="$root/test/unit/$t.cpp"
  obj="$out/obj/test_$t.o"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ]; then
    "$cxx" -std=c++17 "${flags[@]}" -I"$root/test/unit" \
      -DKILN_FAKE_MODULE_PATH="\"$out/libkiln_fake_module.so\"" \
      -DKILN_FAKE_MODULE_BROKEN_PATH="\"$out/libkiln_fake_module_broken.so\"" \
      -DKILN_RUNTIME_LIBRARY_PATH="\"\"" -c "$src" -o "$obj" &
  fi
done
wait
"$cc" "${flags[@]}" -std=c99 -c "$root/test/unit/RuntimeCApi.c" -o "$out/obj/test_RuntimeCApi.o"
# -rdynamic: the fake modules the tests load call back into the runtime.
"$cxx" "${flags[@]}" -rdynamic "$out"/obj/*.o -lgtest -lgtest_main -lz -ldl -lpthread \
  -o "$out/kiln-runtime-tests-tsan"
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1${TSAN_OPTIONS:+ $TSAN_OPTIONS}" \
  "$out/kiln-runtime-tests-tsan" --gtest_filter="${1:-*}"
