// RUN: tensor-opt %s --kiln-externalize-variables --split-input-file -verify-diagnostics | FileCheck %s

// Functions get one argument per variable they touch (declaration order)
// and one result per variable they assign; reads see the last assigned
// value; calls pass variables along and take assigned ones back. The
// declarations become a module attribute and @kiln_init_variables assigns
// the initial values.
// CHECK-LABEL: module attributes {kiln.variables = {b = tensor<f32>, m = tensor<3xf32>, step = tensor<i64>, w = tensor<3xf32>}}
// CHECK-NOT: kiln.variable @
// CHECK: func.func private @scale(%[[X:.*]]: tensor<3xf32>, %[[W:.*]]: tensor<3xf32> {kiln.variable = @w}) -> tensor<3xf32>
// CHECK-SAME: attributes {kiln.assigned = [], kiln.variables = [@w]}
// CHECK:   kiln.mul %[[X]], %[[W]]
// CHECK: func.func private @bump(%[[S:.*]]: tensor<i64> {kiln.variable = @step}) -> tensor<i64>
// CHECK-SAME: attributes {kiln.assigned = [@step], kiln.variables = [@step]}
// CHECK:   %[[S1:.*]] = kiln.add %[[S]]
// CHECK:   return %[[S1]]
// CHECK: func.func @train(%[[X:.*]]: tensor<3xf32>, %{{.*}}: tensor<i1>, %[[W:.*]]: tensor<3xf32> {kiln.variable = @w}, %[[B:.*]]: tensor<f32> {kiln.variable = @b}, %[[S:.*]]: tensor<i64> {kiln.variable = @step})
// CHECK-SAME: -> (tensor<3xf32>, tensor<3xf32>, tensor<i64>)
// CHECK-SAME: attributes {kiln.assigned = [@w, @step], kiln.variables = [@w, @b, @step]}
// CHECK:   %[[Y:.*]] = call @scale(%[[X]], %[[W]])
// CHECK:   %[[W1:.*]] = kiln.add %[[W]], %[[B]]
// CHECK:   %[[W2:.*]] = kiln.mul %[[W1]], %[[W1]]
// CHECK:   %[[S1:.*]] = call @bump(%[[S]])
// CHECK:   %[[C:.*]] = kiln.cond
// CHECK:     kiln.yield %[[W1]]
// CHECK:     kiln.yield %[[W2]]
// CHECK:   return %[[Y]], %[[W2]], %[[S1]]
// CHECK: func.func @kiln_init_variables(%{{.*}}: tensor<f32> {kiln.variable = @b}, %{{.*}}: tensor<i64> {kiln.variable = @step}) -> (tensor<f32>, tensor<i64>)
// CHECK:   %[[B0:.*]] = kiln.constant dense<5.000000e-01> : tensor<f32>
// CHECK:   %[[S0:.*]] = kiln.constant dense<0> : tensor<i64>
// CHECK:   return %[[B0]], %[[S0]]
kiln.variable @w : tensor<3xf32>
kiln.variable @b : tensor<f32> = dense<0.5>
kiln.variable @step : tensor<i64> = dense<0>
kiln.variable @m : tensor<3xf32>
func.func private @scale(%x: tensor<3xf32>) -> tensor<3xf32> {
  %w = kiln.read_variable @w : tensor<3xf32>
  %y = kiln.mul %x, %w : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  return %y : tensor<3xf32>
}
func.func private @bump() {
  %s = kiln.read_variable @step : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %s1 = kiln.add %s, %one : tensor<i64>, tensor<i64> -> tensor<i64>
  kiln.assign_variable @step, %s1 : tensor<i64>
  return
}
func.func @train(%x: tensor<3xf32>, %p: tensor<i1>) -> tensor<3xf32> {
  %y = func.call @scale(%x) : (tensor<3xf32>) -> tensor<3xf32>
  %w = kiln.read_variable @w : tensor<3xf32>
  %b = kiln.read_variable @b : tensor<f32>
  %w1 = kiln.add %w, %b : tensor<3xf32>, tensor<f32> -> tensor<3xf32>
  kiln.assign_variable @w, %w1 : tensor<3xf32>
  %again = kiln.read_variable @w : tensor<3xf32>
  %w2 = kiln.mul %again, %again : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  kiln.assign_variable @w, %w2 : tensor<3xf32>
  func.call @bump() : () -> ()
  %c = kiln.cond %p -> (tensor<3xf32>) {
    kiln.yield %w1 : tensor<3xf32>
  } else {
    %inside = kiln.read_variable @w : tensor<3xf32>
    kiln.yield %inside : tensor<3xf32>
  }
  return %y : tensor<3xf32>
}

// -----

// A function that touches no variable is left alone.
// CHECK-LABEL: func.func @pure(%{{.*}}: tensor<f32>) -> tensor<f32> {
kiln.variable @v : tensor<f32>
func.func @pure(%x: tensor<f32>) -> tensor<f32> {
  return %x : tensor<f32>
}

// -----

kiln.variable @v : tensor<f32>
func.func @assign_in_loop(%x: tensor<f32>, %n: tensor<i64>) {
  %zero = kiln.constant dense<0> : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %r = kiln.for %zero to %n step %one iter_args(%x : tensor<f32>) do {
  ^bb0(%i: tensor<i64>, %c: tensor<f32>):
    // expected-error@+1 {{assigning a variable inside 'kiln.for' is not supported yet: carry the new value out of the region and assign it after 'kiln.for'}}
    kiln.assign_variable @v, %c : tensor<f32>
    kiln.yield %c : tensor<f32>
  }
  return
}

// -----

kiln.variable @v : tensor<f32>
// expected-error@+1 {{@kiln_init_variables is reserved for the variables' initializer in a module that declares variables}}
func.func @kiln_init_variables() {
  return
}
