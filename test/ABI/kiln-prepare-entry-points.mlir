// RUN: tensor-opt %s --kiln-prepare-entry-points --split-input-file -verify-diagnostics | FileCheck %s
// RUN: tensor-opt %s --kiln-prepare-entry-points=device=cuda --split-input-file -verify-diagnostics | FileCheck %s --check-prefix=CUDA

// Public functions are entry points: each gets its signature as a
// #kiln.entry (inputs, then outputs). Private functions are not entries.
// CHECK-LABEL: func.func @affine
// CHECK-SAME: kiln.entry = #kiln.entry<inputs = [tensor<4x3xf32>, tensor<3x2xf32>, tensor<2xf32>], outputs = [tensor<4x2xf32>], variables = [], checks = [], device = cpu>
// CUDA-LABEL: func.func @affine
// CUDA-SAME: device = cuda>
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
// CHECK-SAME: kiln.entry = #kiln.entry<inputs = [tensor<i1>], outputs = [tensor<5xi64>, tensor<bf16>], variables = [], checks = [], device = cpu>
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

// expected-error@+1 {{entry point 'bytes': input #0 has type 'tensor<4xui64>'}}
func.func @bytes(%x: tensor<4xui64>) {
  return
}

// -----

// Variables: an entry binds its trailing arguments (read, or read_write if
// it assigns them: the new values are its last results, which are not
// outputs).
// CHECK-LABEL: func.func @step
// CHECK-SAME: kiln.entry = #kiln.entry<inputs = [tensor<4x3xf32>], outputs = [tensor<4x2xf32>], variables = [#kiln.binding<@w : tensor<3x2xf32>, read>, #kiln.binding<@b : tensor<f32>, read_write>], checks = [], device = cpu>
module attributes {kiln.variables = {w = tensor<3x2xf32>, b = tensor<f32>}} {
  func.func @step(%x: tensor<4x3xf32>, %w: tensor<3x2xf32> {kiln.variable = @w}, %b: tensor<f32> {kiln.variable = @b}) -> (tensor<4x2xf32>, tensor<f32>) attributes {kiln.assigned = [@b]} {
    %0 = kiln.matmul %x, %w : tensor<4x3xf32>, tensor<3x2xf32> -> tensor<4x2xf32>
    return %0, %b : tensor<4x2xf32>, tensor<f32>
  }
}

// -----

// A variable's argument before an input: an error, not a crash.
module attributes {kiln.variables = {w = tensor<f32>}} {
  // expected-error@+1 {{entry point 'step': argument #1 is not bound to a variable, but an earlier argument is; the arguments bound to variables come last}}
  func.func @step(%w: tensor<f32> {kiln.variable = @w}, %x: tensor<f32>) -> tensor<f32> {
    return %x : tensor<f32>
  }
}

// -----

// expected-error@+1 {{variable @w cannot be bound by the runtime: it needs a C identifier as name and a statically shaped tensor of a Kiln element type}}
module attributes {kiln.variables = {w = tensor<?xf32>}} {
}

// -----

// Open extents stay open in the description.
// CHECK-LABEL: func.func @rows
// CHECK-SAME: kiln.entry = #kiln.entry<inputs = [tensor<?x3xf32>, tensor<3xf32>], outputs = [tensor<?xf32>], variables = [], checks = [], device = cpu>
func.func @rows(%x: tensor<?x3xf32>, %b: tensor<3xf32>) -> tensor<?xf32> {
  %0 = kiln.add %x, %b : tensor<?x3xf32>, tensor<3xf32> -> tensor<?x3xf32>
  %1 = kiln.reduce_sum %0 {axes = array<i64: 1>} : tensor<?x3xf32> -> tensor<?xf32>
  return %1 : tensor<?xf32>
}
