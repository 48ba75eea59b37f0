// RUN: tensor-opt %s --convert-kiln-to-linalg --split-input-file | FileCheck %s
// RUN: tensor-opt %s --kiln-cpu-pipeline --split-input-file | FileCheck %s --check-prefix=LLVM

// kiln.all_gather: the input is copied into a fresh buffer; the result's
// open extent is the input's times the group's size (kiln_group_size); the
// runtime fills the result's buffer, which becomes the result (restrict).
// The texts are the group's name ("world", 5 bytes) and where the op is.
// CHECK-DAG: func.func private @kiln_all_gather_f32(i64, i64, i64, i64, i64, memref<*xf32>, memref<*xf32>)
// CHECK-DAG: func.func private @kiln_group_size(i64, i64, i64, i64) -> i64
// CHECK-DAG: memref.global "private" constant @[[WORLD:kiln_text_[0-9]+]] : memref<5xi8> = dense<[119, 111, 114, 108, 100]>
// CHECK-LABEL: func.func @gather_open
// CHECK-SAME: (%[[X:.*]]: tensor<4x3xf32>)
// CHECK: %[[IN:.*]] = memref.alloc() : memref<4x3xf32>
// CHECK: bufferization.materialize_in_destination %[[X]] in restrict writable %[[IN]]
// CHECK: %[[ROWS:.*]] = tensor.dim %[[X]], %c0
// CHECK: memref.get_global @[[WORLD]]
// CHECK: %[[N:.*]] = call @kiln_group_size(
// CHECK: %[[NI:.*]] = arith.index_cast %[[N]] : i64 to index
// CHECK: %[[ALL:.*]] = arith.muli %[[ROWS]], %[[NI]]
// CHECK: %[[OUT:.*]] = memref.alloc(%[[ALL]]) : memref<?x3xf32>
// CHECK: %[[AXIS:.*]] = arith.constant 0 : i64
// CHECK: %[[UIN:.*]] = memref.cast %[[IN]] : memref<4x3xf32> to memref<*xf32>
// CHECK: %[[UOUT:.*]] = memref.cast %[[OUT]] : memref<?x3xf32> to memref<*xf32>
// CHECK: call @kiln_all_gather_f32(%[[AXIS]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[UIN]], %[[UOUT]])
// CHECK: %[[R:.*]] = bufferization.to_tensor %[[OUT]] restrict writable
// CHECK: return %[[R]]
// LLVM-DAG: llvm.func @kiln_all_gather_f32(i64, i64, i64, i64, i64, i64, !llvm.ptr, i64, !llvm.ptr)
// LLVM-DAG: llvm.func @kiln_group_size(i64, i64, i64, i64) -> i64
// LLVM: llvm.call @kiln_group_size
// LLVM: llvm.call @kiln_all_gather_f32
func.func @gather_open(%x: tensor<4x3xf32>) -> tensor<?x3xf32> {
  %0 = kiln.all_gather %x : tensor<4x3xf32> -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

// kiln.all_reduce works in place on a copy of its input (mean is 1); the
// group's rank is an i64 from the runtime, made a scalar tensor.
// CHECK-DAG: func.func private @kiln_all_reduce_f64(i64, i64, i64, i64, i64, memref<*xf64>)
// CHECK-DAG: func.func private @kiln_group_rank(i64, i64, i64, i64) -> i64
// CHECK-DAG: memref.global "private" constant @[[ROWS:kiln_text_[0-9]+]] : memref<4xi8> = dense<[114, 111, 119, 115]>
// CHECK-LABEL: func.func @reduce
// CHECK-SAME: (%[[X:.*]]: tensor<4x3xf64>)
// CHECK: %[[BUF:.*]] = memref.alloc() : memref<4x3xf64>
// CHECK: bufferization.materialize_in_destination %[[X]] in restrict writable %[[BUF]]
// CHECK: %[[MEAN:.*]] = arith.constant 1 : i64
// CHECK: memref.get_global @[[ROWS]]
// CHECK: %[[U:.*]] = memref.cast %[[BUF]] : memref<4x3xf64> to memref<*xf64>
// CHECK: call @kiln_all_reduce_f64(%[[MEAN]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[U]])
// CHECK: %[[R:.*]] = bufferization.to_tensor %[[BUF]] restrict writable
// CHECK: %[[RANK:.*]] = call @kiln_group_rank(
// CHECK: %[[T:.*]] = tensor.from_elements %[[RANK]] : tensor<i64>
// CHECK: return %[[R]], %[[T]]
// In the whole pipeline, the group's rank is asked between the start and
// the wait of the all-reduce (kiln-overlap-collectives).
// LLVM: llvm.call @kiln_all_reduce_start_f64
// LLVM: llvm.call @kiln_group_rank
// LLVM: llvm.call @kiln_all_reduce_done_f64
func.func @reduce(%x: tensor<4x3xf64>) -> (tensor<4x3xf64>, tensor<i64>) {
  %0 = kiln.all_reduce mean, %x {group = "rows"} : tensor<4x3xf64>
  %1 = kiln.group_rank : tensor<i64>
  return %0, %1 : tensor<4x3xf64>, tensor<i64>
}

// -----

// A started all-reduce: the runtime starts it on a copy of the input and
// returns; the done waits on the same buffer, which is then the result.
// CHECK-DAG: func.func private @kiln_all_reduce_start_f32(i64, i64, i64, i64, i64, memref<*xf32>)
// CHECK-DAG: func.func private @kiln_all_reduce_done_f32(i64, i64, i64, i64, memref<*xf32>)
// CHECK-LABEL: func.func @overlapped
// CHECK: %[[BUF:.*]] = memref.alloc() : memref<8xf32>
// CHECK: bufferization.materialize_in_destination %{{.*}} in restrict writable %[[BUF]]
// CHECK: %[[U:.*]] = memref.cast %[[BUF]] : memref<8xf32> to memref<*xf32>
// CHECK: call @kiln_all_reduce_start_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[U]])
// CHECK: %[[E:.*]] = linalg.generic
// CHECK: %[[V:.*]] = memref.cast %[[BUF]] : memref<8xf32> to memref<*xf32>
// CHECK: call @kiln_all_reduce_done_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[V]])
// CHECK: %[[R:.*]] = bufferization.to_tensor %[[BUF]] restrict writable
// CHECK: linalg.generic {{.*}} ins(%[[R]], %[[E]]
// LLVM: llvm.call @kiln_all_reduce_start_f32
// LLVM: llvm.call @kiln_all_reduce_done_f32
func.func @overlapped(%x: tensor<8xf32>) -> tensor<8xf32> {
  %p = kiln.all_reduce_start sum, %x : tensor<8xf32>
  %e = kiln.exp %x : tensor<8xf32>
  %r = kiln.all_reduce_done %p : tensor<8xf32>
  %y = kiln.add %r, %e : tensor<8xf32>, tensor<8xf32> -> tensor<8xf32>
  return %y : tensor<8xf32>
}
