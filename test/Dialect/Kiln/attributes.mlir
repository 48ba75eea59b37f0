// The attributes Kiln puts on other ops: where they belong and what their
// values are is checked by the dialect.
// RUN: tensor-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// Round trip of a described entry, its variables and a shape function.
// CHECK: module attributes {kiln.variables = {w = tensor<3xf32>}}
// CHECK-LABEL: func.func @step
// CHECK-SAME: {kiln.variable = @w}
// CHECK-SAME: kiln.assigned = [@w]
// CHECK-SAME: kiln.entry = #kiln.entry<inputs = [tensor<?x3xf32>], outputs = [tensor<f32>], variables = [#kiln.binding<@w : tensor<3xf32>, read_write>], checks = ["rows differ"], device = cuda>
// CHECK-LABEL: func.func @step_kiln_shape
// CHECK-SAME: kiln.shape_function = @step
module attributes {kiln.variables = {w = tensor<3xf32>}} {
  func.func @step(%x: tensor<?x3xf32>, %w: tensor<3xf32> {kiln.variable = @w}) -> (tensor<f32>, tensor<3xf32>) attributes {kiln.assigned = [@w], kiln.entry = #kiln.entry<inputs = [tensor<?x3xf32>], outputs = [tensor<f32>], variables = [#kiln.binding<@w : tensor<3xf32>, read_write>], checks = ["rows differ"], device = cuda>} {
    %s = kiln.reduce_sum %x {axes = array<i64: 0, 1>} : tensor<?x3xf32> -> tensor<f32>
    return %s, %w : tensor<f32>, tensor<3xf32>
  }
  func.func @step_kiln_shape(%x: tensor<?x3xf32>) -> i32 attributes {kiln.shape_function = @step} {
    %c = arith.constant 0 : i32
    return %c : i32
  }
}

// -----

// CHECK-LABEL: func.func @gradient
// CHECK-SAME: kiln.gradient_known_inputs, kiln.gradient_of = @f, kiln.gradient_seeded, kiln.gradient_variables = [@w], kiln.gradient_wrt = array<i64: 0>
func.func @gradient() attributes {kiln.gradient_of = @f, kiln.gradient_wrt = array<i64: 0>, kiln.gradient_variables = [@w], kiln.gradient_seeded, kiln.gradient_known_inputs} {
  return
}

// -----

// expected-error@+1 {{'kiln.gradient_known_inputs' must be a unit attribute}}
func.func @known_inputs_value() attributes {kiln.gradient_known_inputs = 1 : i64} {
  return
}

// -----

// expected-error@+1 {{'kiln.variables' belongs on a module}}
func.func @on_function() attributes {kiln.variables = {w = tensor<3xf32>}} {
  return
}

// -----

// expected-error@+1 {{'kiln.variables' must be a dictionary of variable names to tensor types, not {w = 3 : i64}}}
module attributes {kiln.variables = {w = 3}} {
}

// -----

// expected-error@+1 {{'kiln.entry' must be a #kiln.entry attribute, not {shapes = []}}}
func.func @old_entry() attributes {kiln.entry = {shapes = []}} {
  return
}

// -----

// expected-error@+1 {{'kiln.entry' belongs on a function, not on 'builtin.module'}}
module attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cpu>} {
}

// -----

// expected-error@+1 {{'kiln.assigned' must be an array of variable symbols, not ["w"]}}
func.func @assigned() attributes {kiln.assigned = ["w"]} {
  return
}

// -----

// expected-error@+1 {{'kiln.shape_function' must be a function symbol (@name), not "f"}}
func.func @shape() attributes {kiln.shape_function = "f"} {
  return
}

// -----

// expected-error@+1 {{'kiln.variable' belongs on a function argument (the variable bound to it), not on an operation}}
func.func @variable() attributes {kiln.variable = @w} {
  return
}

// -----

// expected-error@+1 {{'kiln.variable' must be a variable symbol (@name), not "w"}}
func.func @variable_arg(%w: tensor<f32> {kiln.variable = "w"}) {
  return
}

// -----

// expected-error@+1 {{'kiln.entry' is not an argument attribute (argument #0)}}
func.func @entry_arg(%w: tensor<f32> {kiln.entry = 1}) {
  return
}

// -----

// expected-error@+1 {{'kiln.variable' is not a result attribute (result #0)}}
func.func @result(%w: tensor<f32>) -> (tensor<f32> {kiln.variable = @w}) {
  return %w : tensor<f32>
}

// -----

// expected-error@+1 {{unknown attribute 'kiln.manifest' of the kiln dialect}}
module attributes {kiln.manifest = "kiln-manifest 3\n"} {
}

// -----

// expected-error@+1 {{#kiln.entry: inputs #0 is tensor<4xui64>, not a ranked tensor type of f32, f64, f16, bf16, i1, i32, i64, i8, i16, ui8, ui16 or ui32}}
func.func @bytes() attributes {kiln.entry = #kiln.entry<inputs = [tensor<4xui64>], outputs = [], variables = [], checks = [], device = cpu>} {
  return
}

// -----

// expected-error@+1 {{#kiln.entry: variable @w has type 'tensor<?xf32>'; variables are statically shaped tensors of f32, f64, f16, bf16, i1, i32, i64, i8, i16, ui8, ui16 or ui32}}
func.func @open_variable() attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [#kiln.binding<@w : tensor<?xf32>, read>], checks = [], device = cpu>} {
  return
}

// -----

// expected-error@+1 {{#kiln.entry: checks #0 is 3 : i64, not a string}}
func.func @check() attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [3], device = cpu>} {
  return
}

// -----

// expected-error@+2 {{expected one of [cpu, cuda] for the kind of device that code is compiled for, got: tpu}}
// expected-error@+1 {{failed to parse Kiln_EntryAttr parameter 'device'}}
func.func @device() attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = tpu>} {
  return
}
