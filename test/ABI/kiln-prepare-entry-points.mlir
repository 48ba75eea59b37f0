// RUN: tensor-opt %s --kiln-prepare-entry-points --split-input-file -verify-diagnostics | FileCheck %s

// Public functions are entry points; their signatures go into the manifest
// (inputs, then outputs) and onto the function. Private functions are not.
// CHECK: module attributes {kiln.manifest = "kiln-manifest 3\0Aentry affine 3 1 0\0Ain f32 2 4 3\0Ain f32 2 3 2\0Ain f32 1 2\0Aout f32 2 4 2\0Aend\0Aentry flags 1 2 0\0Ain i1 0\0Aout i64 1 5\0Aout bf16 0\0Aend\0A"}
// CHECK-LABEL: func.func @affine
// CHECK-SAME: kiln.entry = {shapes = [array<i64: 4, 3>, array<i64: 3, 2>, array<i64: 2>, array<i64: 4, 2>], slots = array<i64: 0, 1, 2, 3>}
func.func @affine(%x: tensor<4x3xf32>, %w: tensor<3x2xf32>, %b: tensor<2xf32>) -> tensor<4x2xf32> {
  %0 = func.call @helper(%x, %w) : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  %1 = kiln.add %0, %b : tensor<4x2xf32>, tensor<2xf32> -> tensor<4x2xf32>
  return %1 : tensor<4x2xf32>
}
// CHECK-LABEL: func.func private @helper
// CHECK-NOT: kiln.entry
func.func private @helper(%x: tensor<4x3xf32>, %w: tensor<3x2xf32>) -> tensor<4x2xf32> {
  %0 = kiln.matmul %x, %w : tensor<4x3xf32>, tensor<3x2xf32> -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}
// CHECK-LABEL: func.func @flags
func.func @flags(%p: tensor<i1>) -> (tensor<5xi64>, tensor<bf16>) {
  %0 = kiln.iota {dimension = 0 : i64} : tensor<5xi64>
  %1 = kiln.constant dense<1.0> : tensor<bf16>
  return %0, %1 : tensor<5xi64>, tensor<bf16>
}

// -----

// expected-error@+1 {{entry point 'unranked': input #0 has type 'tensor<*xf32>'; entry points take and return ranked tensors}}
func.func @unranked(%x: tensor<*xf32>) -> tensor<*xf32> {
  return %x : tensor<*xf32>
}

// -----

// expected-error@+1 {{entry point 'scalar': output #0 has type 'f32'}}
func.func @scalar(%x: tensor<f32>) -> f32 {
  %c = arith.constant 0.0 : f32
  return %c : f32
}

// -----

// expected-error@+1 {{entry point 'bytes': input #0 has type 'tensor<4xi8>'}}
func.func @bytes(%x: tensor<4xi8>) {
  return
}

// -----

// Variables: the module's declarations come first; an entry lists the
// variables it binds after its outputs (r: read, rw: assigned). In the
// lowered function they follow the inputs, before the outputs'
// out-parameters; `slots` places them after the outputs in the C pointer
// array.
// CHECK: kiln.manifest = "kiln-manifest 3\0Avariable b f32 0\0Avariable w f32 2 3 2\0Aentry step 1 1 2\0Ain f32 2 4 3\0Aout f32 2 4 2\0Avar w r f32 2 3 2\0Avar b rw f32 0\0Aend\0A"
// CHECK: kiln.entry = {shapes = [array<i64: 4, 3>, array<i64: 3, 2>, array<i64>, array<i64: 4, 2>], slots = array<i64: 0, 2, 3, 1>}
module attributes {kiln.variables = {w = tensor<3x2xf32>, b = tensor<f32>}} {
  func.func @step(%x: tensor<4x3xf32>, %w: tensor<3x2xf32> {kiln.variable = @w}, %b: tensor<f32> {kiln.variable = @b}) -> (tensor<4x2xf32>, tensor<f32>) attributes {kiln.assigned = [@b], kiln.variables = [@w, @b]} {
    %0 = kiln.matmul %x, %w : tensor<4x3xf32>, tensor<3x2xf32> -> tensor<4x2xf32>
    return %0, %b : tensor<4x2xf32>, tensor<f32>
  }
}

// -----

// Open extents are `?` in the manifest and kDynamic in `shapes`.
// CHECK: kiln.manifest = "kiln-manifest 3\0Aentry rows 2 1 0\0Ain f32 2 ? 3\0Ain f32 1 3\0Aout f32 1 ?\0Aend\0A"
// CHECK-LABEL: func.func @rows
// CHECK-SAME: kiln.entry = {shapes = [array<i64: -9223372036854775808, 3>, array<i64: 3>, array<i64: -9223372036854775808>], slots = array<i64: 0, 1, 2>}
func.func @rows(%x: tensor<?x3xf32>, %b: tensor<3xf32>) -> tensor<?xf32> {
  %0 = kiln.add %x, %b : tensor<?x3xf32>, tensor<3xf32> -> tensor<?x3xf32>
  %1 = kiln.reduce_sum %0 {axes = array<i64: 1>} : tensor<?x3xf32> -> tensor<?xf32>
  return %1 : tensor<?xf32>
}
