// RUN: tensor-opt %s --kiln-refine-shapes --split-input-file | FileCheck %s

// Unknown extents become known where operands determine them, through
// broadcasting, matmul and reductions, and the function signature follows.
// CHECK-LABEL: func.func @chain
// CHECK-SAME: -> tensor<4x5xf32>
func.func @chain(%x: tensor<4x3xf32>, %b: tensor<3xf32>, %w: tensor<3x5xf32>) -> tensor<?x5xf32> {
  // CHECK: kiln.add {{.*}} -> tensor<4x3xf32>
  %0 = kiln.add %x, %b : tensor<4x3xf32>, tensor<3xf32> -> tensor<?x3xf32>
  // CHECK: kiln.matmul {{.*}} : tensor<4x3xf32>, tensor<3x5xf32> -> tensor<4x5xf32>
  %1 = kiln.matmul %0, %w : tensor<?x3xf32>, tensor<3x5xf32> -> tensor<?x5xf32>
  // CHECK: kiln.relu %{{.*}} : tensor<4x5xf32>
  %2 = kiln.relu %1 : tensor<?x5xf32>
  // CHECK: return %{{.*}} : tensor<4x5xf32>
  return %2 : tensor<?x5xf32>
}

// -----

// Callers see the refined result type; uses outside the Kiln dialect keep
// the old type through a tensor.cast.
// CHECK-LABEL: func.func @callee
// CHECK-SAME: -> tensor<2x2xf32>
func.func @callee(%x: tensor<2x2xf32>) -> tensor<?x2xf32> {
  %0 = kiln.exp %x : tensor<2x2xf32>
  %1 = kiln.transpose %0 {permutation = array<i64: 1, 0>} : tensor<2x2xf32> -> tensor<?x2xf32>
  return %1 : tensor<?x2xf32>
}

// CHECK-LABEL: func.func @caller
func.func @caller(%x: tensor<2x2xf32>) -> (tensor<?x2xf32>, tensor<f32>) {
  // CHECK: %[[C:.*]] = call @callee(%{{.*}}) : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %0 = func.call @callee(%x) : (tensor<2x2xf32>) -> tensor<?x2xf32>
  // CHECK: %[[CAST:.*]] = tensor.cast %[[C]] : tensor<2x2xf32> to tensor<?x2xf32>
  // CHECK: %[[S:.*]] = kiln.reduce_sum %[[C]] {{.*}} : tensor<2x2xf32> -> tensor<f32>
  %1 = kiln.reduce_sum %0 {axes = array<i64: 0, 1>} : tensor<?x2xf32> -> tensor<f32>
  // CHECK: %[[E:.*]] = tensor.extract %[[CAST]]
  %c0 = arith.constant 0 : index
  %e = tensor.extract %0[%c0, %c0] : tensor<?x2xf32>
  // CHECK: return %{{.*}}, %[[S]] : tensor<2x2xf32>, tensor<f32>
  return %0, %1 : tensor<?x2xf32>, tensor<f32>
}

// -----

// Nothing to refine: the module is unchanged.
// CHECK-LABEL: func.func @dynamic
// CHECK: kiln.add {{.*}} -> tensor<?x3xf32>
// CHECK: return {{.*}} : tensor<?x3xf32>
func.func @dynamic(%x: tensor<?x3xf32>, %b: tensor<3xf32>) -> tensor<?x3xf32> {
  %0 = kiln.add %x, %b : tensor<?x3xf32>, tensor<3xf32> -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

// A loop's results cover every iteration: a body that yields values of
// unknown extent keeps the result unknown even when the initial value is
// refined (no unsound refinement from the first iteration alone).
// CHECK-LABEL: func.func @loop
func.func @loop(%x: tensor<3xf32>, %n: tensor<i64>) -> (tensor<?xf32>, tensor<?xf32>) {
  %zero = kiln.constant dense<0> : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  // CHECK: %[[INIT:.*]] = kiln.neg %{{.*}} : tensor<3xf32>
  %0 = kiln.add %x, %x : tensor<3xf32>, tensor<3xf32> -> tensor<?xf32>
  %1 = kiln.neg %0 : tensor<?xf32>
  // CHECK: %[[L:.*]] = kiln.for {{.*}} iter_args(%[[INIT]] : tensor<3xf32>)
  // CHECK: ^bb0(%{{.*}}: tensor<i64>, %{{.*}}: tensor<?xf32>):
  %2 = kiln.for %zero to %n step %one iter_args(%1 : tensor<?xf32>) do {
  ^bb0(%i: tensor<i64>, %acc: tensor<?xf32>):
    kiln.yield %acc : tensor<?xf32>
  }
  // A body that yields a known shape lets the result be refined.
  // CHECK: %[[M:.*]] = kiln.for {{.*}} iter_args(%[[INIT]] : tensor<3xf32>)
  %3 = kiln.for %zero to %n step %one iter_args(%1 : tensor<?xf32>) do {
  ^bb0(%i: tensor<i64>, %acc: tensor<?xf32>):
    kiln.yield %x : tensor<3xf32>
  }
  // CHECK: return %[[L]], %[[M]] : tensor<?xf32>, tensor<3xf32>
  return %2, %3 : tensor<?xf32>, tensor<?xf32>
}
