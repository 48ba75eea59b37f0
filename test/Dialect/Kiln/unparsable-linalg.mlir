// linalg.reduce/broadcast/transpose with something other than a list after
// `dimensions =` or `permutation =` crash MLIR 22's parser (found by
// scripts/fuzz.sh mlir; Debian's mlir-opt-22 segfaults on each): Kiln's
// tools refuse the text at its position instead. The list itself, and the
// generic form's `dimensions = array<...>`, are fine.
// RUN: not tensor-opt %s 2>&1 | FileCheck %s
// RUN: sed -e 's/dimensions = x/dimensions = [1]/' -e 's/permutation = \[nan, 0\]/permutation = [1, 0]/' %s | tensor-opt -o /dev/null
// RUN: sed -e 's/dimensions = x/dimensions = [1]/' %s | not tensor-opt 2>&1 | FileCheck %s --check-prefix=NAN

// CHECK: unparsable-linalg.mlir:[[@LINE+2]]:68: error: 'dimensions =' of linalg.reduce/broadcast/transpose must be followed by a list of integers ([...])
func.func @reduce(%x: memref<4x4xf32>, %o: memref<4xf32>) {
  linalg.reduce ins(%x : memref<4x4xf32>) outs(%o : memref<4xf32>) dimensions = x
    (%in: f32, %acc: f32) {
      %s = arith.addf %in, %acc : f32
      linalg.yield %s : f32
    }
  return
}

// (A list with a non-integer element crashes the parser too.)
// NAN: <stdin>:[[@LINE+2]]:78: error: 'permutation =' of linalg.reduce/broadcast/transpose must be followed by a list of integers
func.func @transpose(%x: tensor<4x4xf32>, %o: tensor<4x4xf32>) -> tensor<4x4xf32> {
  %t = linalg.transpose ins(%x : tensor<4x4xf32>) outs(%o : tensor<4x4xf32>) permutation = [nan, 0]
  return %t : tensor<4x4xf32>
}
