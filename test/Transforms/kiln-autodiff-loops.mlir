// RUN: tensor-opt %s --kiln-autodiff --split-input-file | FileCheck %s --check-prefix=TAPE
// RUN: tensor-opt %s --kiln-autodiff="loops=recompute" --split-input-file | FileCheck %s --check-prefix=RECOMPUTE
// RUN: not tensor-opt %s --kiln-autodiff="loops=stack" 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: for the --loops option: Cannot find option named 'stack'!

// A kiln.for whose upper bound is an argument: the trip count is computed
// before the loop (max(0, ceil((ub - lb) / step)), zero for a step that is
// not positive) and sizes the tape at run time. Integer carried values are
// taped too: the reverse pass needs them to recompute the body.
// TAPE-LABEL: func.func private @f_vjp_0(
// TAPE: kiln.maximum
// TAPE: %[[TRIPS:.*]] = kiln.select
// TAPE-DAG: kiln.tape_new %[[TRIPS]] : tensor<?x2xf32>
// TAPE-DAG: kiln.tape_new %[[TRIPS]] : tensor<?xi64>
// TAPE: kiln.for %{{.*}} to %[[TRIPS]]
// TAPE-COUNT-2: kiln.tape_write
// TAPE: kiln.for %{{.*}} to %[[TRIPS]]
// TAPE-COUNT-2: kiln.tape_read

// With loops=recompute nothing is saved: the reverse loop replays j
// iterations from the initial values.
// RECOMPUTE-LABEL: func.func private @f_vjp_0_recompute(
// RECOMPUTE-NOT: kiln.tape_new
// RECOMPUTE: kiln.reduce_sum
// RECOMPUTE: kiln.for %{{.*}} to %{{.*}} step
// RECOMPUTE:   %[[J:.*]] = kiln.sub %{{[0-9]+}}, %arg{{[0-9]+}}
// RECOMPUTE:   kiln.for %{{.*}} to %[[J]] step
// RECOMPUTE-NOT: kiln.tape_read
// RECOMPUTE: return
func.func @f(%x: tensor<2xf32>, %n: tensor<i64>) -> tensor<f32> {
  %lb = kiln.constant dense<0> : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %r:2 = kiln.for %lb to %n step %one iter_args(%x, %lb : tensor<2xf32>, tensor<i64>) do {
  ^bb0(%i: tensor<i64>, %c: tensor<2xf32>, %k: tensor<i64>):
    %s = kiln.sin %c : tensor<2xf32>
    %f = kiln.cast %k : tensor<i64> -> tensor<f32>
    %m = kiln.mul %s, %f : tensor<2xf32>, tensor<f32> -> tensor<2xf32>
    %k1 = kiln.add %k, %one : tensor<i64>, tensor<i64> -> tensor<i64>
    kiln.yield %m, %k1 : tensor<2xf32>, tensor<i64>
  }
  %sum = kiln.reduce_sum %r#0 {axes = array<i64: 0>} : tensor<2xf32> -> tensor<f32>
  return %sum : tensor<f32>
}
func.func @df(%x: tensor<2xf32>, %n: tensor<i64>) -> tensor<2xf32> {
  %g = kiln.grad @f(%x, %n) {wrt = array<i64: 0>} : (tensor<2xf32>, tensor<i64>) -> tensor<2xf32>
  return %g : tensor<2xf32>
}

// -----

// A gradient of a gradient: the first gradient function saves iterations on
// tapes, which are not differentiated; the second request differentiates
// its tape-free twin (@g_vjp_0_recompute), which the first keeps using.
// TAPE-LABEL: func.func private @g_vjp_0_recompute(
// TAPE-SAME: kiln.gradient_of = @g
// TAPE-NOT: kiln.tape_
// TAPE: return
// TAPE-LABEL: func.func private @g_vjp_0(
// TAPE: kiln.tape_new
// TAPE-LABEL: func.func @sum_dg(
// TAPE: call @g_vjp_0(
// TAPE-LABEL: func.func private @sum_dg_vjp_0(
// TAPE: kiln.tape_new
func.func @g(%x: tensor<f32>) -> tensor<f32> {
  %lb = kiln.constant dense<0> : tensor<i64>
  %ub = kiln.constant dense<4> : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %r = kiln.for %lb to %ub step %one iter_args(%x : tensor<f32>) do {
  ^bb0(%i: tensor<i64>, %c: tensor<f32>):
    %s = kiln.sin %c : tensor<f32>
    kiln.yield %s : tensor<f32>
  }
  return %r : tensor<f32>
}
func.func @sum_dg(%x: tensor<f32>) -> tensor<f32> {
  %g = kiln.grad @g(%x) {wrt = array<i64: 0>} : (tensor<f32>) -> tensor<f32>
  return %g : tensor<f32>
}
func.func @d2g(%x: tensor<f32>) -> tensor<f32> {
  %g = kiln.grad @sum_dg(%x) {wrt = array<i64: 0>} : (tensor<f32>) -> tensor<f32>
  return %g : tensor<f32>
}
