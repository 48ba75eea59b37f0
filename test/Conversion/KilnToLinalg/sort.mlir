// RUN: tensor-opt %s --convert-kiln-to-linalg --split-input-file | FileCheck %s
// RUN: tensor-opt %s --kiln-cpu-pipeline --split-input-file | FileCheck %s --check-prefix=LLVM

// kiln.sort: the input is copied into a fresh buffer, the runtime sorts its
// rows in place and writes the positions into a second one; both become the
// results' tensors (restrict: nothing else aliases them).
// CHECK: func.func private @kiln_sort_f32(i64, memref<*xf32>, memref<*xi32>)
// CHECK-LABEL: func.func @sort_rows
// CHECK-SAME: (%[[X:.*]]: tensor<3x5xf32>)
// CHECK: %[[V:.*]] = memref.alloc() : memref<3x5xf32>
// CHECK: bufferization.materialize_in_destination %[[X]] in restrict writable %[[V]]
// CHECK: %[[I:.*]] = memref.alloc() : memref<3x5xi32>
// CHECK: %[[DESC:.*]] = arith.constant 1 : i64
// CHECK: %[[UV:.*]] = memref.cast %[[V]] : memref<3x5xf32> to memref<*xf32>
// CHECK: %[[UI:.*]] = memref.cast %[[I]] : memref<3x5xi32> to memref<*xi32>
// CHECK: call @kiln_sort_f32(%[[DESC]], %[[UV]], %[[UI]])
// CHECK: %[[RV:.*]] = bufferization.to_tensor %[[V]] restrict writable
// CHECK: %[[RI:.*]] = bufferization.to_tensor %[[I]] restrict writable
// CHECK: return %[[RV]], %[[RI]]
// LLVM: llvm.func @kiln_sort_f32(i64, i64, !llvm.ptr, i64, !llvm.ptr)
// LLVM: llvm.call @kiln_sort_f32
func.func @sort_rows(%x: tensor<3x5xf32>) -> (tensor<3x5xf32>, tensor<3x5xi32>) {
  %v, %i = kiln.sort %x {descending} : tensor<3x5xf32> -> tensor<3x5xf32>, tensor<3x5xi32>
  return %v, %i : tensor<3x5xf32>, tensor<3x5xi32>
}

// -----

// Extents known at run time size the buffers; ascending is 0.
// CHECK-LABEL: func.func @sort_dynamic
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xi64>)
// CHECK: %[[C0:.*]] = arith.constant 0 : index
// CHECK: %[[N:.*]] = tensor.dim %[[X]], %[[C0]]
// CHECK: memref.alloc(%[[N]]) : memref<?x4xi64>
// CHECK: memref.alloc(%[[N]]) : memref<?x4xi32>
// CHECK: %[[ASC:.*]] = arith.constant 0 : i64
// CHECK: call @kiln_sort_i64(%[[ASC]]
func.func @sort_dynamic(%x: tensor<?x4xi64>) -> tensor<?x4xi32> {
  %v, %i = kiln.sort %x : tensor<?x4xi64> -> tensor<?x4xi64>, tensor<?x4xi32>
  return %i : tensor<?x4xi32>
}
