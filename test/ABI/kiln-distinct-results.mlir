// RUN: tensor-opt %s --kiln-distinct-results | FileCheck %s

// Every output gets its own tensor: a value returned twice, an argument
// returned, and the new value of a variable (written into the variable's
// buffer) returned as an output too -- copied before that write, so the copy
// reads it before the buffer is considered overwritten.

// CHECK-LABEL: func.func @twice
// CHECK: %[[E:.*]] = kiln.exp %arg0
// CHECK: %[[C:.*]] = linalg.copy ins(%[[E]] : tensor<3xf32>)
// CHECK: return %[[E]], %[[C]]
func.func @twice(%x: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %e = kiln.exp %x : tensor<3xf32>
  return %e, %e : tensor<3xf32>, tensor<3xf32>
}

// CHECK-LABEL: func.func @argument
// CHECK: %[[C:.*]] = linalg.copy ins(%arg0 : tensor<?xf32>) outs(%{{.*}} : tensor<?xf32>)
// CHECK: return %[[C]]
func.func @argument(%x: tensor<?xf32>) -> tensor<?xf32> {
  return %x : tensor<?xf32>
}

// CHECK-LABEL: func.func @updated_variable
// CHECK: %[[NEW:.*]] = kiln.exp %arg1
// CHECK: %[[C:.*]] = linalg.copy ins(%[[NEW]] : tensor<3xf32>)
// CHECK: %[[W:.*]] = bufferization.materialize_in_destination %[[NEW]] in %arg1
// CHECK: return %[[C]], %[[W]]
func.func @updated_variable(%x: tensor<3xf32>, %v: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %new = kiln.exp %v : tensor<3xf32>
  %w = bufferization.materialize_in_destination %new in %v : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return %new, %w : tensor<3xf32>, tensor<3xf32>
}
