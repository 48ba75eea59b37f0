// RUN: tensor-opt %s --kiln-externalize-variables --split-input-file -verify-diagnostics | FileCheck %s

// Functions get one argument per variable they touch (declaration order)
// and one result per variable they assign; reads see the last assigned
// value; calls pass variables along and take assigned ones back. The
// declarations become a module attribute and @kiln_init_variables assigns
// the initial values.
// CHECK-LABEL: module attributes {kiln.variables = {b = tensor<f32>, m = tensor<3xf32>, step = tensor<i64>, w = tensor<3xf32>}}
// CHECK-NOT: kiln.variable @
// CHECK: func.func private @scale(%[[X:.*]]: tensor<3xf32>, %[[W:.*]]: tensor<3xf32> {kiln.variable = @w}) -> tensor<3xf32>
// CHECK-SAME: attributes {kiln.assigned = []}
// CHECK:   kiln.mul %[[X]], %[[W]]
// CHECK: func.func private @bump(%[[S:.*]]: tensor<i64> {kiln.variable = @step}) -> tensor<i64>
// CHECK-SAME: attributes {kiln.assigned = [@step]}
// CHECK:   %[[S1:.*]] = kiln.add %[[S]]
// CHECK:   return %[[S1]]
// CHECK: func.func @train(%[[X:.*]]: tensor<3xf32>, %{{.*}}: tensor<i1>, %[[W:.*]]: tensor<3xf32> {kiln.variable = @w}, %[[B:.*]]: tensor<f32> {kiln.variable = @b}, %[[S:.*]]: tensor<i64> {kiln.variable = @step})
// CHECK-SAME: -> (tensor<3xf32>, tensor<3xf32>, tensor<i64>)
// CHECK-SAME: attributes {kiln.assigned = [@w, @step]}
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
// expected-error@+1 {{@kiln_init_variables is reserved for the variables' initializer in a module that declares variables}}
func.func @kiln_init_variables() {
  return
}

// -----

// Assignments inside control flow: a kiln.cond yields the variable's value
// from both branches (unchanged in the one that does not assign); loops
// carry it.
// CHECK-LABEL: func.func @regions(
// CHECK-SAME: %[[P:.*]]: tensor<i1>, %[[N:.*]]: tensor<i64>, %[[C:.*]]: tensor<f32> {kiln.variable = @count}) -> (tensor<f32>, tensor<f32>)
// CHECK: %[[IF:.*]]:2 = kiln.cond %[[P]] -> (tensor<f32>, tensor<f32>) {
// CHECK:   %[[ONE:.*]] = kiln.add %[[C]], %{{.*}}
// CHECK:   kiln.yield %[[ONE]], %[[ONE]] : tensor<f32>, tensor<f32>
// CHECK: } else {
// CHECK:   kiln.yield %[[C]], %[[C]] : tensor<f32>, tensor<f32>
// CHECK: %[[LOOP:.*]]:2 = kiln.for %{{.*}} to %[[N]] step %{{.*}} iter_args(%{{.*}}, %[[IF]]#1 : tensor<f32>, tensor<f32>) do {
// CHECK: ^bb0(%{{.*}}: tensor<i64>, %[[ACC:.*]]: tensor<f32>, %[[V:.*]]: tensor<f32>):
// CHECK:   %[[V1:.*]] = kiln.add %[[V]], %{{.*}}
// CHECK:   kiln.yield %{{.*}}, %[[V1]] : tensor<f32>, tensor<f32>
// CHECK: %[[W:.*]]:2 = kiln.while(%{{.*}}, %[[LOOP]]#1 : tensor<f32>, tensor<f32>) cond {
// CHECK: ^bb0(%{{.*}}: tensor<f32>, %[[CV:.*]]: tensor<f32>):
// CHECK:   kiln.compare lt, %[[CV]]
// CHECK: } do {
// CHECK:   kiln.yield %{{.*}}, %{{.*}} : tensor<f32>, tensor<f32>
// CHECK: return %{{.*}}, %[[W]]#1 : tensor<f32>, tensor<f32>
kiln.variable @count : tensor<f32>
func.func @regions(%p: tensor<i1>, %n: tensor<i64>) -> tensor<f32> {
  %one = kiln.constant dense<1.0> : tensor<f32>
  %r = kiln.cond %p -> (tensor<f32>) {
    %c = kiln.read_variable @count : tensor<f32>
    %c1 = kiln.add %c, %one : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.assign_variable @count, %c1 : tensor<f32>
    kiln.yield %c1 : tensor<f32>
  } else {
    %c = kiln.read_variable @count : tensor<f32>
    kiln.yield %c : tensor<f32>
  }
  %zero = kiln.constant dense<0> : tensor<i64>
  %step = kiln.constant dense<1> : tensor<i64>
  %s = kiln.for %zero to %n step %step iter_args(%r : tensor<f32>) do {
  ^bb0(%i: tensor<i64>, %acc: tensor<f32>):
    %c = kiln.read_variable @count : tensor<f32>
    %c1 = kiln.add %c, %one : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.assign_variable @count, %c1 : tensor<f32>
    %a = kiln.add %acc, %c1 : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.yield %a : tensor<f32>
  }
  %w = kiln.while (%s : tensor<f32>) cond {
  ^bb0(%x: tensor<f32>):
    %c = kiln.read_variable @count : tensor<f32>
    %lt = kiln.compare lt, %c, %x : tensor<f32>, tensor<f32> -> tensor<i1>
    kiln.condition(%lt) %x : tensor<f32>
  } do {
  ^bb0(%x: tensor<f32>):
    %c = kiln.read_variable @count : tensor<f32>
    %c2 = kiln.add %c, %c : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.assign_variable @count, %c2 : tensor<f32>
    kiln.yield %x : tensor<f32>
  }
  return %w : tensor<f32>
}
