// Upstream passes see through Kiln's control flow: kiln.cond, kiln.while
// and kiln.for implement RegionBranchOpInterface (and the loops
// LoopLikeOpInterface), and the dialect has an inliner interface.
// RUN: tensor-opt %s --split-input-file --loop-invariant-code-motion | FileCheck %s --check-prefix=LICM
// RUN: tensor-opt %s --split-input-file --sccp | FileCheck %s --check-prefix=SCCP
// RUN: tensor-opt %s --split-input-file --inline | FileCheck %s --check-prefix=INLINE

// The exp of a value from outside does not change between iterations: it
// moves before the loop. The add uses the loop-carried value and stays.
// LICM-LABEL: func.func @hoist_for
// LICM: %[[E:.*]] = kiln.exp %arg0
// LICM-NEXT: kiln.for
// LICM-NOT: kiln.exp
// LICM: kiln.add %{{.*}}, %[[E]]
// SCCP-LABEL: func.func @hoist_for
// INLINE-LABEL: func.func @hoist_for
func.func @hoist_for(%a: tensor<4xf32>, %n: tensor<i64>) -> tensor<4xf32> {
  %zero = kiln.constant dense<0> : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %r = kiln.for %zero to %n step %one iter_args(%a : tensor<4xf32>) do {
  ^bb0(%i: tensor<i64>, %acc: tensor<4xf32>):
    %e = kiln.exp %a : tensor<4xf32>
    %s = kiln.add %acc, %e : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
    kiln.yield %s : tensor<4xf32>
  }
  return %r : tensor<4xf32>
}

// -----

// LICM-LABEL: func.func @hoist_while
// LICM: %[[T:.*]] = kiln.tanh %arg1
// LICM-NEXT: kiln.while
// LICM-NOT: kiln.tanh
// LICM: kiln.mul %{{.*}}, %[[T]]
func.func @hoist_while(%x: tensor<f32>, %y: tensor<f32>, %limit: tensor<f32>) -> tensor<f32> {
  %r = kiln.while (%x : tensor<f32>) cond {
  ^bb0(%v: tensor<f32>):
    %p = kiln.compare lt, %v, %limit : tensor<f32>, tensor<f32> -> tensor<i1>
    kiln.condition(%p) %v : tensor<f32>
  } do {
  ^bb0(%v: tensor<f32>):
    %t = kiln.tanh %y : tensor<f32>
    %m = kiln.mul %v, %t : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.yield %m : tensor<f32>
  }
  return %r : tensor<f32>
}

// -----

// A constant predicate selects one branch: its constant reaches the result
// and the other branch's value (the argument) does not.
// SCCP-LABEL: func.func @constant_branch
// SCCP: %[[TWO:.*]] = kiln.constant dense<2.000000e+00> : tensor<f32>
// SCCP: return %[[TWO]] : tensor<f32>
func.func @constant_branch(%x: tensor<f32>) -> tensor<f32> {
  %true = kiln.constant dense<true> : tensor<i1>
  %r = kiln.cond %true -> (tensor<f32>) {
    %two = kiln.constant dense<2.0> : tensor<f32>
    kiln.yield %two : tensor<f32>
  } else {
    kiln.yield %x : tensor<f32>
  }
  return %r : tensor<f32>
}

// -----

// Without a constant predicate both branches may run: nothing is known.
// SCCP-LABEL: func.func @unknown_branch
// SCCP: %[[R:.*]] = kiln.cond
// SCCP: return %[[R]] : tensor<f32>
func.func @unknown_branch(%p: tensor<i1>, %x: tensor<f32>) -> tensor<f32> {
  %r = kiln.cond %p -> (tensor<f32>) {
    %two = kiln.constant dense<2.0> : tensor<f32>
    kiln.yield %two : tensor<f32>
  } else {
    kiln.yield %x : tensor<f32>
  }
  return %r : tensor<f32>
}

// -----

// The value a while loop carries is the same constant on entry and after
// every iteration: the condition passes it on, so the result is known.
// SCCP-LABEL: func.func @constant_carried
// SCCP: %[[ONE:.*]] = kiln.constant dense<1.000000e+00> : tensor<f32>
// SCCP: return %[[ONE]] : tensor<f32>
func.func @constant_carried(%p: tensor<i1>) -> tensor<f32> {
  %one = kiln.constant dense<1.0> : tensor<f32>
  %r = kiln.while (%one : tensor<f32>) cond {
  ^bb0(%v: tensor<f32>):
    kiln.condition(%p) %v : tensor<f32>
  } do {
  ^bb0(%v: tensor<f32>):
    %c = kiln.constant dense<1.0> : tensor<f32>
    kiln.yield %c : tensor<f32>
  }
  return %r : tensor<f32>
}

// -----

// A loop that changes its value: the result is not a constant.
// SCCP-LABEL: func.func @changing_carried
// SCCP: %[[R:.*]] = kiln.for
// SCCP: return %[[R]] : tensor<f32>
func.func @changing_carried(%n: tensor<i64>) -> tensor<f32> {
  %zero = kiln.constant dense<0> : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %x = kiln.constant dense<1.0> : tensor<f32>
  %r = kiln.for %zero to %n step %one iter_args(%x : tensor<f32>) do {
  ^bb0(%i: tensor<i64>, %acc: tensor<f32>):
    %d = kiln.add %acc, %acc : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.yield %d : tensor<f32>
  }
  return %r : tensor<f32>
}

// -----

// MLIR's inliner inlines functions made of Kiln ops, control flow included.
// INLINE-LABEL: func.func @caller
// INLINE-NOT: call
// INLINE: kiln.cond
// INLINE: kiln.neg
// INLINE: return
func.func private @callee(%p: tensor<i1>, %x: tensor<f32>) -> tensor<f32> {
  %r = kiln.cond %p -> (tensor<f32>) {
    %n = kiln.neg %x : tensor<f32>
    kiln.yield %n : tensor<f32>
  } else {
    kiln.yield %x : tensor<f32>
  }
  return %r : tensor<f32>
}
func.func @caller(%p: tensor<i1>, %x: tensor<f32>) -> tensor<f32> {
  %r = func.call @callee(%p, %x) : (tensor<i1>, tensor<f32>) -> tensor<f32>
  return %r : tensor<f32>
}

// -----

// A live loop carrying a constant next to a changing value: SCCP replaces
// the constant's uses, the condition's included (it forwards values, so a
// value known to be equal may take an argument's place), and the loop
// still verifies.
// SCCP-LABEL: func.func @constant_next_to_changing
// SCCP-DAG: %[[TWO:.*]] = kiln.constant dense<2.000000e+00> : tensor<f32>
// SCCP-DAG: %[[ONE:.*]] = kiln.constant dense<1.000000e+00> : tensor<f32>
// SCCP: %[[W:.*]]:2 = kiln.while
// SCCP: kiln.condition(%{{.*}}) %[[ONE]], %{{.*}} : tensor<f32>, tensor<f32>
// SCCP: kiln.add %{{.*}}, %[[TWO]]
// SCCP: return %[[ONE]], %[[W]]#1 : tensor<f32>, tensor<f32>
func.func @constant_next_to_changing(%x: tensor<f32>, %limit: tensor<f32>) -> (tensor<f32>, tensor<f32>) {
  %one = kiln.constant dense<1.0> : tensor<f32>
  %r:2 = kiln.while (%one, %x : tensor<f32>, tensor<f32>) cond {
  ^bb0(%c: tensor<f32>, %v: tensor<f32>):
    %p = kiln.compare lt, %v, %limit : tensor<f32>, tensor<f32> -> tensor<i1>
    kiln.condition(%p) %c, %v : tensor<f32>, tensor<f32>
  } do {
  ^bb0(%c: tensor<f32>, %v: tensor<f32>):
    %same = kiln.constant dense<1.0> : tensor<f32>
    %w = kiln.add %c, %c : tensor<f32>, tensor<f32> -> tensor<f32>
    %n = kiln.add %v, %w : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.yield %same, %n : tensor<f32>, tensor<f32>
  }
  return %r#0, %r#1 : tensor<f32>, tensor<f32>
}
