// A use of a value not defined yet with a huge result number (`%g#N`) makes
// MLIR 22's parser reserve an entry for every result up to N: 10^9 takes
// 16 GiB, 2^31 aborts with "out of memory" (found by scripts/fuzz.sh mlir).
// Kiln's tools refuse numbers above 2^20 - 1 at their position; smaller
// ones reach the parser and get its usual errors.
// RUN: not tensor-opt %s 2>&1 | FileCheck %s
// RUN: not tensor-run %s 2>&1 | FileCheck %s --check-prefix=JIT
// RUN: sed -e 's/%g#2147483647/%g#1048575/' %s | not tensor-opt 2>&1 | FileCheck %s --check-prefix=SMALL

// CHECK: unparsable-result-number.mlir:[[@LINE+6]]:10: error: the result number in '%g#...' is above 1048575: MLIR's parser reserves memory for every result up to it and runs out
// CHECK-NOT: Stack dump
// JIT: unparsable-result-number.mlir:[[@LINE+4]]:10: the result number in '%g#...' is above 1048575
// SMALL: <stdin>:[[@LINE+3]]:10: error: use of undeclared SSA value name
// SMALL-NOT: Stack dump
func.func @f(%x: tensor<f32>) -> tensor<f32> {
  return %g#2147483647 : tensor<f32>
}
