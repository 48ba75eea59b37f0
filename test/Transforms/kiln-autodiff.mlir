// RUN: tensor-opt %s --kiln-autodiff --split-input-file | FileCheck %s

// The request becomes a call of a generated function that returns the
// callee's results and then the gradients; for a scalar loss the seed is 1.
// CHECK-LABEL: func.func @f(
// CHECK-LABEL: func.func private @f_vjp_0_1(
// CHECK-SAME: %[[X:.*]]: tensor<f32>, %[[Y:.*]]: tensor<f32>) -> (tensor<f32>, tensor<f32>, tensor<f32>)
// CHECK-SAME: attributes {kiln.gradient_of = @f, kiln.gradient_wrt = array<i64: 0, 1>}
// CHECK: %[[XX:.*]] = kiln.mul %[[X]], %[[X]]
// CHECK: %[[YY:.*]] = kiln.mul %[[Y]], %[[Y]]
// CHECK: %[[V:.*]] = kiln.add
// CHECK: %[[ONE:.*]] = kiln.constant dense<1.000000e+00> : tensor<f32>
// Backward through the add, then the mul by y (both operands are y: the
// cotangents add up), then x * x.
// CHECK: kiln.mul %[[ONE]], %[[Y]]
// CHECK: kiln.mul %[[ONE]], %[[YY]]
// CHECK: return %[[V]], %{{.*}}, %{{.*}} : tensor<f32>, tensor<f32>, tensor<f32>
// CHECK-LABEL: func.func @main
// CHECK: %[[C:.*]]:3 = call @f_vjp_0_1(%{{.*}}, %{{.*}})
// CHECK: return %[[C]]#1, %[[C]]#2
func.func @f(%x: tensor<f32>, %y: tensor<f32>) -> tensor<f32> {
  %0 = kiln.mul %x, %x : tensor<f32>, tensor<f32> -> tensor<f32>
  %1 = kiln.mul %y, %y : tensor<f32>, tensor<f32> -> tensor<f32>
  %2 = kiln.mul %1, %y : tensor<f32>, tensor<f32> -> tensor<f32>
  %3 = kiln.add %0, %2 : tensor<f32>, tensor<f32> -> tensor<f32>
  return %3 : tensor<f32>
}
func.func @main(%x: tensor<f32>, %y: tensor<f32>) -> (tensor<f32>, tensor<f32>) {
  %g:2 = kiln.grad @f(%x, %y) {wrt = array<i64: 0, 1>} : (tensor<f32>, tensor<f32>) -> (tensor<f32>, tensor<f32>)
  return %g#0, %g#1 : tensor<f32>, tensor<f32>
}

// -----

// Activity: only what depends on the differentiated argument gets adjoint
// code. %b is not differentiated, so exp(b) has no backward op, and the
// cotangent of the broadcast bias is summed over the broadcast dimension.
// CHECK-LABEL: func.func private @loss_vjp_0(
// CHECK: kiln.matmul
// CHECK: kiln.exp
// CHECK: kiln.reduce_sum
// CHECK: kiln.matmul %{{.*}}, %{{.*}} {transpose_rhs = true}
// CHECK-NOT: kiln.exp
// CHECK: return
func.func @loss(%x: tensor<4x3xf32>, %w: tensor<3x2xf32>, %b: tensor<2xf32>) -> tensor<f32> {
  %0 = kiln.matmul %x, %w : tensor<4x3xf32>, tensor<3x2xf32> -> tensor<4x2xf32>
  %e = kiln.exp %b : tensor<2xf32>
  %1 = kiln.add %0, %e : tensor<4x2xf32>, tensor<2xf32> -> tensor<4x2xf32>
  %2 = kiln.reduce_sum %1 {axes = array<i64: 0, 1>} : tensor<4x2xf32> -> tensor<f32>
  return %2 : tensor<f32>
}
func.func @dx(%x: tensor<4x3xf32>, %w: tensor<3x2xf32>, %b: tensor<2xf32>) -> tensor<4x3xf32> {
  %g = kiln.grad @loss(%x, %w, %b) {wrt = array<i64: 0>} : (tensor<4x3xf32>, tensor<3x2xf32>, tensor<2xf32>) -> tensor<4x3xf32>
  return %g : tensor<4x3xf32>
}

// -----

// A seeded request (vector-Jacobian product of a non-scalar function) takes
// the cotangents as extra arguments; value_and_grad keeps the values.
// CHECK-LABEL: func.func private @layer_vjp_1_seeded(
// CHECK-SAME: %{{.*}}: tensor<4x3xf32>, %{{.*}}: tensor<3x2xf32>, %[[DY:.*]]: tensor<4x2xf32>) -> (tensor<4x2xf32>, tensor<3x2xf32>)
// CHECK: kiln.matmul %{{.*}}, %[[DY]] {transpose_lhs = true}
// CHECK-LABEL: func.func @vjp
// CHECK: %[[R:.*]]:2 = call @layer_vjp_1_seeded
// CHECK: return %[[R]]#0, %[[R]]#1
func.func @layer(%x: tensor<4x3xf32>, %w: tensor<3x2xf32>) -> tensor<4x2xf32> {
  %0 = kiln.matmul %x, %w : tensor<4x3xf32>, tensor<3x2xf32> -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}
func.func @vjp(%x: tensor<4x3xf32>, %w: tensor<3x2xf32>, %dy: tensor<4x2xf32>) -> (tensor<4x2xf32>, tensor<3x2xf32>) {
  %v, %g = kiln.value_and_grad @layer(%x, %w) seeds(%dy : tensor<4x2xf32>) {wrt = array<i64: 1>} : (tensor<4x3xf32>, tensor<3x2xf32>) -> (tensor<4x2xf32>, tensor<3x2xf32>)
  return %v, %g : tensor<4x2xf32>, tensor<3x2xf32>
}

// -----

// Calls are inlined before differentiation; one generated function serves
// every identical request.
// CHECK-LABEL: func.func private @outer_vjp_0(
// CHECK-NOT: call
// CHECK: kiln.sin
// CHECK: kiln.cos
// CHECK: return
// CHECK-NOT: @outer_vjp_0_
// CHECK-LABEL: func.func @twice
// CHECK: call @outer_vjp_0
// CHECK: call @outer_vjp_0
func.func private @inner(%x: tensor<f32>) -> tensor<f32> {
  %0 = kiln.sin %x : tensor<f32>
  return %0 : tensor<f32>
}
func.func @outer(%x: tensor<f32>) -> tensor<f32> {
  %0 = func.call @inner(%x) : (tensor<f32>) -> tensor<f32>
  return %0 : tensor<f32>
}
func.func @twice(%x: tensor<f32>, %y: tensor<f32>) -> (tensor<f32>, tensor<f32>) {
  %a = kiln.grad @outer(%x) {wrt = array<i64: 0>} : (tensor<f32>) -> tensor<f32>
  %b = kiln.grad @outer(%y) {wrt = array<i64: 0>} : (tensor<f32>) -> tensor<f32>
  return %a, %b : tensor<f32>, tensor<f32>
}

// -----

// kiln.cond: the reverse is a kiln.cond on the same predicate whose branches
// recompute their forward values and yield the cotangents of the captured
// values (zeros where a branch does not use one).
// CHECK-LABEL: func.func private @branchy_vjp_1(
// CHECK-SAME: %[[P:[a-zA-Z0-9_]+]]: tensor<i1>
// CHECK: kiln.cond %[[P]] -> (tensor<f32>)
// CHECK: %[[REV:.*]] = kiln.cond %[[P]] -> (tensor<f32>) {
// CHECK:   kiln.exp
// CHECK:   kiln.mul
// CHECK:   kiln.yield
// CHECK: } else {
// CHECK:   %[[Z:.*]] = kiln.constant dense<0.000000e+00> : tensor<f32>
// CHECK:   kiln.yield %[[Z]]
// CHECK: return %{{.*}}, %[[REV]]
func.func @branchy(%p: tensor<i1>, %x: tensor<f32>) -> tensor<f32> {
  %r = kiln.cond %p -> (tensor<f32>) {
    %e = kiln.exp %x : tensor<f32>
    kiln.yield %e : tensor<f32>
  } else {
    %c = kiln.constant dense<2.0> : tensor<f32>
    kiln.yield %c : tensor<f32>
  }
  return %r : tensor<f32>
}
func.func @dbranchy(%p: tensor<i1>, %x: tensor<f32>) -> tensor<f32> {
  %g = kiln.grad @branchy(%p, %x) {wrt = array<i64: 1>} : (tensor<i1>, tensor<f32>) -> tensor<f32>
  return %g : tensor<f32>
}

// -----

// kiln.for: the forward loop is replaced by one that also writes each
// iteration's carried values into a tape sized by the trip count; a reverse
// loop reads the rows backwards, recomputes the body once from each and
// carries the cotangents, summing those of captured values.
// CHECK-LABEL: func.func private @loop_vjp_0_1(
// CHECK-SAME: kiln.gradient_of = @loop, kiln.gradient_wrt = array<i64: 0, 1>
// CHECK-COUNT-3: kiln.constant
// CHECK-NEXT: %[[TRIPS:.*]] = kiln.constant dense<3> : tensor<i64>
// CHECK-NEXT: %[[TAPE0:.*]] = kiln.tape_new %[[TRIPS]] : tensor<?xf32>
// CHECK: %[[FWD:.*]]:2 = kiln.for %{{.*}} to %[[TRIPS]] step %{{.*}} iter_args(%{{.*}}, %[[TAPE0]] : tensor<f32>, tensor<?xf32>)
// CHECK-NEXT: ^bb0(%[[J:.*]]: tensor<i64>, %[[C:.*]]: tensor<f32>, %[[T:.*]]: tensor<?xf32>):
// CHECK:   kiln.tape_write %[[T]][%[[J]]], %[[C]] : tensor<?xf32>, tensor<f32>
// CHECK: %[[REV:.*]]:2 = kiln.for %{{.*}} to %[[TRIPS]] step %{{.*}} iter_args(%{{.*}}, %{{.*}} : tensor<f32>, tensor<f32>)
// CHECK:   kiln.tape_read %[[FWD]]#1[%{{.*}}] : tensor<?xf32> -> tensor<f32>
// CHECK:   kiln.mul
// CHECK:   kiln.yield
// CHECK: return %[[FWD]]#0, %[[REV]]#0, %[[REV]]#1
func.func @loop(%x: tensor<f32>, %w: tensor<f32>) -> tensor<f32> {
  %lb = kiln.constant dense<0> : tensor<i64>
  %ub = kiln.constant dense<3> : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %r = kiln.for %lb to %ub step %one iter_args(%x : tensor<f32>) do {
  ^bb0(%i: tensor<i64>, %c: tensor<f32>):
    %m = kiln.mul %c, %w : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.yield %m : tensor<f32>
  }
  return %r : tensor<f32>
}
func.func @dloop(%x: tensor<f32>, %w: tensor<f32>) -> (tensor<f32>, tensor<f32>) {
  %g:2 = kiln.grad @loop(%x, %w) {wrt = array<i64: 0, 1>} : (tensor<f32>, tensor<f32>) -> (tensor<f32>, tensor<f32>)
  return %g#0, %g#1 : tensor<f32>, tensor<f32>
}

// -----

// kiln.while: the forward loop also counts its iterations; a kiln.for of
// that many iterations then fills the tape, and the reverse loop runs as
// many times, reading it backwards.
// CHECK-LABEL: func.func private @grow_vjp_0(
// CHECK: %[[ZERO:.*]] = kiln.constant dense<0> : tensor<i64>
// CHECK: %[[FWD:.*]]:2 = kiln.while(%{{.*}}, %[[ZERO]] : tensor<f32>, tensor<i64>) cond {
// CHECK: } do {
// CHECK:   kiln.add %{{.*}}, %{{.*}} : tensor<i64>, tensor<i64> -> tensor<i64>
// CHECK: %[[TAPE:.*]] = kiln.tape_new %[[FWD]]#1 : tensor<?xf32>
// CHECK: %[[TAPED:.*]]:2 = kiln.for %{{.*}} to %[[FWD]]#1 step %{{.*}} iter_args(%{{.*}}, %[[TAPE]] : tensor<f32>, tensor<?xf32>)
// CHECK:   kiln.tape_write
// CHECK: kiln.for %{{.*}} to %[[FWD]]#1 step
// CHECK:   kiln.tape_read %[[TAPED]]#1
// CHECK:   kiln.mul
// CHECK: return %[[FWD]]#0
func.func @grow(%x: tensor<f32>) -> tensor<f32> {
  %limit = kiln.constant dense<100.0> : tensor<f32>
  %r = kiln.while (%x : tensor<f32>) cond {
  ^bb0(%v: tensor<f32>):
    %c = kiln.compare lt, %v, %limit : tensor<f32>, tensor<f32> -> tensor<i1>
    kiln.condition(%c) %v : tensor<f32>
  } do {
  ^bb0(%v: tensor<f32>):
    %d = kiln.mul %v, %v : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.yield %d : tensor<f32>
  }
  return %r : tensor<f32>
}
func.func @dgrow(%x: tensor<f32>) -> tensor<f32> {
  %g = kiln.grad @grow(%x) {wrt = array<i64: 0>} : (tensor<f32>) -> tensor<f32>
  return %g : tensor<f32>
}

// -----

// Gradients with respect to variables: the generated function takes their
// values after the arguments and replaces their reads (also in inlined
// callees) by them; the request reads them where it stands.
// CHECK-LABEL: func.func private @vloss_vjp_w_b(
// CHECK-SAME: %[[X:.*]]: tensor<3xf32>, %[[W:.*]]: tensor<3xf32>, %[[B:.*]]: tensor<f32>) -> (tensor<f32>, tensor<3xf32>, tensor<f32>)
// CHECK-SAME: kiln.gradient_variables = [@w, @b]
// CHECK-NOT: kiln.read_variable
// CHECK: kiln.mul %[[X]], %[[W]]
// CHECK: return
// CHECK-LABEL: func.func @dvloss(
// CHECK: %[[RW:.*]] = kiln.read_variable @w : tensor<3xf32>
// CHECK: %[[RB:.*]] = kiln.read_variable @b : tensor<f32>
// CHECK: call @vloss_vjp_w_b(%{{.*}}, %[[RW]], %[[RB]])
kiln.variable @w : tensor<3xf32>
kiln.variable @b : tensor<f32>
kiln.variable @unused : tensor<2xf32>
func.func private @inner(%x: tensor<3xf32>) -> tensor<3xf32> {
  %w = kiln.read_variable @w : tensor<3xf32>
  %y = kiln.mul %x, %w : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  return %y : tensor<3xf32>
}
func.func private @vloss(%x: tensor<3xf32>) -> tensor<f32> {
  %y = func.call @inner(%x) : (tensor<3xf32>) -> tensor<3xf32>
  %b = kiln.read_variable @b : tensor<f32>
  %z = kiln.add %y, %b : tensor<3xf32>, tensor<f32> -> tensor<3xf32>
  %s = kiln.reduce_sum %z {axes = array<i64: 0>} : tensor<3xf32> -> tensor<f32>
  return %s : tensor<f32>
}
func.func @dvloss(%x: tensor<3xf32>) -> (tensor<f32>, tensor<3xf32>, tensor<f32>) {
  %v, %gw, %gb = kiln.value_and_grad @vloss(%x) {wrt_all_variables} : (tensor<3xf32>) -> (tensor<f32>, tensor<3xf32>, tensor<f32>)
  return %v, %gw, %gb : tensor<f32>, tensor<3xf32>, tensor<f32>
}

// -----

// A variable called @seeded gives the same generated name as a seeded
// request without variables: the second request gets a gradient function
// of its own (the first's attributes do not match), not the first one.
// (Each is inserted after the callee, so the later one comes first.)
// CHECK-LABEL: func.func private @sloss_vjp_0_seeded_0(
// CHECK-SAME: kiln.gradient_seeded
// CHECK-NOT: kiln.gradient_variables
// CHECK-LABEL: func.func private @sloss_vjp_0_seeded(
// CHECK-SAME: kiln.gradient_variables = [@seeded]
// CHECK-LABEL: func.func @two_requests(
// CHECK: call @sloss_vjp_0_seeded(
// CHECK: call @sloss_vjp_0_seeded_0(
kiln.variable @seeded : tensor<f32>
func.func private @sloss(%x: tensor<f32>) -> tensor<f32> {
  %v = kiln.read_variable @seeded : tensor<f32>
  %y = kiln.mul %x, %v : tensor<f32>, tensor<f32> -> tensor<f32>
  return %y : tensor<f32>
}
func.func @two_requests(%x: tensor<f32>, %dy: tensor<f32>) -> (tensor<f32>, tensor<f32>, tensor<f32>) {
  %gx, %gv = kiln.grad @sloss(%x) {wrt = array<i64: 0>, wrt_variables = [@seeded]} : (tensor<f32>) -> (tensor<f32>, tensor<f32>)
  %sx = kiln.grad @sloss(%x) seeds(%dy : tensor<f32>) {wrt = array<i64: 0>} : (tensor<f32>) -> tensor<f32>
  return %gx, %gv, %sx : tensor<f32>, tensor<f32>, tensor<f32>
}
