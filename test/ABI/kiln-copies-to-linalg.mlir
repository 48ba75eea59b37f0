// RUN: tensor-opt %s --kiln-copies-to-linalg | FileCheck %s

// Every memref.copy becomes a linalg.copy between the same buffers (its
// LLVM lowering would call memrefCopy from MLIR's runner utilities for a
// strided view), in functions and nested regions alike.
// CHECK-LABEL: func.func @strided
// CHECK-SAME: (%[[SRC:.*]]: memref<4x8xf32>, %[[DST:.*]]: memref<4x4xf32, strided<[8, 2]>>)
// CHECK-NOT: memref.copy
// CHECK: %[[V:.*]] = memref.alloc() : memref<4x4xf32>
// CHECK: linalg.copy ins(%[[DST]] : memref<4x4xf32, strided<[8, 2]>>) outs(%[[V]] : memref<4x4xf32>)
// CHECK: linalg.copy ins(%[[SRC]] : memref<4x8xf32>) outs(%{{.*}} : memref<4x8xf32>)
// CHECK-NOT: memref.copy
func.func @strided(%src: memref<4x8xf32>, %dst: memref<4x4xf32, strided<[8, 2]>>) -> memref<4x4xf32> {
  %v = memref.alloc() : memref<4x4xf32>
  memref.copy %dst, %v : memref<4x4xf32, strided<[8, 2]>> to memref<4x4xf32>
  %w = memref.alloc() : memref<4x8xf32>
  memref.copy %src, %w : memref<4x8xf32> to memref<4x8xf32>
  return %v : memref<4x4xf32>
}

// CHECK-LABEL: func.func @in_loop
// CHECK-SAME: (%[[A:.*]]: memref<?xf64>, %[[B:.*]]: memref<?xf64>,
// CHECK: scf.for
// CHECK-NEXT: linalg.copy ins(%[[A]] : memref<?xf64>) outs(%[[B]] : memref<?xf64>)
// CHECK-NOT: memref.copy
func.func @in_loop(%a: memref<?xf64>, %b: memref<?xf64>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %n step %c1 {
    memref.copy %a, %b : memref<?xf64> to memref<?xf64>
  }
  return
}
