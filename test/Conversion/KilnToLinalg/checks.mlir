// RUN: tensor-opt %s --convert-kiln-to-linalg --split-input-file | FileCheck %s
// RUN: tensor-opt %s --convert-kiln-to-linalg=runtime-checks=false --split-input-file | FileCheck %s --check-prefix=OFF

// A checked gather reports an index out of range from the loop body: the
// message (with the op's location) is a constant global, the runtime gets
// its address and length, the index and the extent.
// CHECK: memref.global "private" constant @kiln_text_{{[0-9]+}} : memref<{{[0-9]+}}xi8> = dense<
// CHECK: func.func private @kiln_check_failed(i64, i64, i64, i64)
// CHECK-LABEL: func.func @gather
// CHECK: linalg.generic
// CHECK: %[[OK:.*]] = arith.andi
// CHECK: %[[BAD:.*]] = arith.xori %[[OK]], %true
// CHECK: scf.if %[[BAD]] {
// CHECK:   %[[MSG:.*]] = memref.get_global @kiln_text_{{[0-9]+}}
// CHECK:   %[[PTR:.*]] = memref.extract_aligned_pointer_as_index %[[MSG]]
// CHECK:   %[[ADDR:.*]] = arith.index_cast %[[PTR]] : index to i64
// CHECK:   %[[I:.*]] = arith.extsi %{{.*}} : i32 to i64
// CHECK:   %[[SIZE:.*]] = arith.constant 10 : i64
// CHECK:   func.call @kiln_check_failed(%[[ADDR]], %{{.*}}, %[[I]], %[[SIZE]])
// OFF-LABEL: func.func @gather
// OFF-NOT: call @kiln_check_failed
func.func @gather(%t: tensor<10x4xf32>, %ids: tensor<3xi32>) -> tensor<3x4xf32> {
  %0 = kiln.gather %t, %ids {bounds_check} : tensor<10x4xf32>, tensor<3xi32> -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// -----

// A table open along the axis: the report gives its extent read at run
// time.
// CHECK-LABEL: func.func @open_gather
// CHECK: %[[N:.*]] = tensor.dim %arg0, %c0 : tensor<?x4xf32>
// CHECK: linalg.generic
// CHECK: scf.if %{{.*}} {
// CHECK:   %[[SIZE:.*]] = arith.index_cast %[[N]] : index to i64
// CHECK:   func.call @kiln_check_failed(%{{.*}}, %{{.*}}, %{{.*}}, %[[SIZE]])
func.func @open_gather(%t: tensor<?x4xf32>, %ids: tensor<3xi32>) -> tensor<3x4xf32> {
  %0 = kiln.gather %t, %ids {bounds_check} : tensor<?x4xf32>, tensor<3xi32> -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// -----

// Without bounds_check (a slice's gradient reads zeros out of range on
// purpose) nothing is reported.
// CHECK-LABEL: func.func @unchecked
// CHECK-NOT: call @kiln_check_failed
func.func @unchecked(%t: tensor<10x4xf32>, %ids: tensor<3xi32>) -> tensor<3x4xf32> {
  %0 = kiln.gather %t, %ids : tensor<10x4xf32>, tensor<3xi32> -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// -----

// Sparse labels outside the classes.
// CHECK-LABEL: func.func @xent
// CHECK: scf.if
// CHECK: func.call @kiln_check_failed
// OFF-LABEL: func.func @xent
// OFF-NOT: call @kiln_check_failed
func.func @xent(%l: tensor<4x10xf32>, %y: tensor<4xi64>) -> tensor<4xf32> {
  %0 = kiln.sparse_softmax_cross_entropy %l, %y {bounds_check} : tensor<4x10xf32>, tensor<4xi64> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// kiln.assert: the condition's value decides whether the runtime hears of
// the failure (no index to show: bound -1).
// CHECK-LABEL: func.func @asserted
// CHECK: %[[OK:.*]] = tensor.extract %{{.*}}[] : tensor<i1>
// CHECK: %[[BAD:.*]] = arith.xori %[[OK]], %true
// CHECK: scf.if %[[BAD]] {
// CHECK:   %[[NONE:.*]] = arith.constant -1 : i64
// CHECK:   func.call @kiln_check_failed(%{{.*}}, %{{.*}}, %{{.*}}, %[[NONE]])
// OFF-LABEL: func.func @asserted
// OFF-NOT: kiln.assert
// OFF-NOT: call @kiln_check_failed
func.func @asserted(%ok: tensor<i1>) {
  kiln.assert %ok, "Integer division by zero" : tensor<i1>
  return
}
