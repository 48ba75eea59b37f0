// RUN: tensor-opt %s --convert-kiln-to-linalg --split-input-file | FileCheck %s

// CHECK-DAG: #[[IN:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[OUT:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-LABEL: func.func @mean_keepdims
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[INIT:.*]] = linalg.fill ins(%[[ZERO]] : f32)
// CHECK: %[[SUM:.*]] = linalg.generic {indexing_maps = [#[[IN]], #[[OUT]]], iterator_types = ["parallel", "reduction", "parallel"]}
// CHECK-SAME: outs(%[[INIT]] : tensor<2x4xf32>)
// CHECK: arith.addf
// CHECK: arith.constant 3.000000e+00 : f32
// CHECK: arith.divf
// CHECK: tensor.collapse_shape {{.*}} into tensor<8xf32>
// CHECK: tensor.expand_shape {{.*}} into tensor<2x1x4xf32>
func.func @mean_keepdims(%x: tensor<2x3x4xf32>) -> tensor<2x1x4xf32> {
  %0 = kiln.reduce_mean %x {axes = array<i64: 1>, keepdims = true} : tensor<2x3x4xf32> -> tensor<2x1x4xf32>
  return %0 : tensor<2x1x4xf32>
}

// -----

// CHECK-LABEL: func.func @identities
// max starts from -inf and propagates NaN; min of integers starts from INT_MAX.
// CHECK: arith.constant 0xFF800000 : f32
// CHECK: arith.maximumf
// CHECK: arith.constant 2147483647 : i32
// CHECK: arith.minsi
// CHECK: arith.constant 1 : i32
// CHECK: arith.muli
func.func @identities(%x: tensor<4xf32>, %i: tensor<4xi32>) -> (tensor<f32>, tensor<i32>, tensor<i32>) {
  %0 = kiln.reduce_max %x {axes = array<i64: 0>} : tensor<4xf32> -> tensor<f32>
  %1 = kiln.reduce_min %i {axes = array<i64: 0>} : tensor<4xi32> -> tensor<i32>
  %2 = kiln.reduce_prod %i {axes = array<i64: 0>} : tensor<4xi32> -> tensor<i32>
  return %0, %1, %2 : tensor<f32>, tensor<i32>, tensor<i32>
}

// -----

// argmax carries (best value, index); only a strictly better value (or a NaN
// over a number) replaces the best, so ties keep the first index.
// CHECK-LABEL: func.func @argmax
// CHECK: %{{.*}}:2 = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "reduction"]
// CHECK: arith.cmpf ogt
// CHECK: arith.cmpf uno
// CHECK: linalg.index 1
// CHECK: linalg.yield
func.func @argmax(%x: tensor<2x3xf32>) -> tensor<2xi64> {
  %0 = kiln.argmax %x {axis = 1 : i64} : tensor<2x3xf32> -> tensor<2xi64>
  return %0 : tensor<2xi64>
}
