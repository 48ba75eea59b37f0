// Canonicalization patterns of Kiln ops (beyond folders: see folding.mlir).
// RUN: tensor-opt %s --canonicalize --split-input-file | FileCheck %s

// expand_dims and squeeze with static shapes become reshapes, which then fold
// with their neighbours.
// CHECK-LABEL: func.func @expand_squeeze
// CHECK-SAME: (%[[X:.*]]: tensor<3xf32>)
func.func @expand_squeeze(%x: tensor<3xf32>) -> (tensor<1x3xf32>, tensor<3xf32>) {
  // CHECK: %[[E:.*]] = kiln.reshape %[[X]] : tensor<3xf32> -> tensor<1x3xf32>
  %0 = kiln.expand_dims %x {axis = 0 : i64} : tensor<3xf32> -> tensor<1x3xf32>
  %1 = kiln.expand_dims %0 {axis = 2 : i64} : tensor<1x3xf32> -> tensor<1x3x1xf32>
  %2 = kiln.squeeze %1 {axes = array<i64>} : tensor<1x3x1xf32> -> tensor<3xf32>
  // CHECK-NOT: kiln.expand_dims
  // CHECK-NOT: kiln.squeeze
  // CHECK: return %[[E]], %[[X]]
  return %0, %2 : tensor<1x3xf32>, tensor<3xf32>
}

// -----

// With an unknown extent, expand_dims stays (a reshape would lose where the
// dimension of extent 1 goes).
// CHECK-LABEL: func.func @expand_dynamic
func.func @expand_dynamic(%x: tensor<?xf32>) -> tensor<?x1xf32> {
  // CHECK: kiln.expand_dims
  %0 = kiln.expand_dims %x {axis = 1 : i64} : tensor<?xf32> -> tensor<?x1xf32>
  return %0 : tensor<?x1xf32>
}

// -----

// Commutative ops put constants on the right, so later folds see one form.
// CHECK-LABEL: func.func @commutative
// CHECK-SAME: (%[[X:.*]]: tensor<3xf32>)
func.func @commutative(%x: tensor<3xf32>) -> tensor<3xf32> {
  %c = kiln.constant dense<2.0> : tensor<3xf32>
  // CHECK: %[[C:.*]] = kiln.constant
  // CHECK: kiln.mul %[[X]], %[[C]]
  %0 = kiln.mul %c, %x : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  return %0 : tensor<3xf32>
}
