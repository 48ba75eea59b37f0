// RUN: tensor-opt %s --kiln-autodiff=inline --split-input-file | FileCheck %s

// With `inline`, once every gradient is taken a kiln.custom_vjp is its
// forward computation and its backward function an ordinary callee: both
// are inlined (so a run-time check in them on an open extent reaches the
// entry point), and the functions are gone.
// CHECK-NOT: func.func private @cv_fwd
// CHECK-NOT: func.func private @cv_bwd
// CHECK-LABEL: func.func @cv_loss(
// CHECK-NOT: custom_vjp
// CHECK: kiln.exp
// CHECK: kiln.reduce_sum
// CHECK-LABEL: func.func @dcv(
// CHECK-SAME: %[[X:[^:]*]]: tensor<?xf32>
// CHECK-NOT: call
// CHECK: %[[Y:.*]] = kiln.exp %[[X]]
// CHECK: kiln.mul %{{.*}}, %[[Y]]
// CHECK-NOT: call
// CHECK: return
func.func private @cv_fwd(%x: tensor<?xf32>) -> tensor<?xf32> {
  %0 = kiln.exp %x : tensor<?xf32>
  return %0 : tensor<?xf32>
}
func.func private @cv_bwd(%x: tensor<?xf32>, %y: tensor<?xf32>, %dy: tensor<?xf32>) -> tensor<?xf32> {
  %0 = kiln.mul %dy, %y : tensor<?xf32>, tensor<?xf32> -> tensor<?xf32>
  return %0 : tensor<?xf32>
}
func.func @cv_loss(%x: tensor<?xf32>) -> tensor<f32> {
  %y = kiln.custom_vjp @cv_fwd, @cv_bwd(%x) : (tensor<?xf32>) -> tensor<?xf32>
  %s = kiln.reduce_sum %y {axes = array<i64: 0>} : tensor<?xf32> -> tensor<f32>
  return %s : tensor<f32>
}
func.func @dcv(%x: tensor<?xf32>) -> tensor<?xf32> {
  %g = kiln.grad @cv_loss(%x) {wrt = array<i64: 0>} : (tensor<?xf32>) -> tensor<?xf32>
  return %g : tensor<?xf32>
}

// -----

// A custom VJP inside another's forward function: both inlined.
// CHECK-LABEL: func.func @nested(
// CHECK-NOT: custom_vjp
// CHECK-NOT: call
// CHECK: kiln.tanh
// CHECK: kiln.exp
// CHECK-NOT: func.func private
func.func private @in_fwd(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = kiln.exp %x : tensor<3xf32>
  return %0 : tensor<3xf32>
}
func.func private @in_bwd(%x: tensor<3xf32>, %y: tensor<3xf32>, %dy: tensor<3xf32>) -> tensor<3xf32> {
  return %dy : tensor<3xf32>
}
func.func private @out_fwd(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = kiln.tanh %x : tensor<3xf32>
  %1 = kiln.custom_vjp @in_fwd, @in_bwd(%0) : (tensor<3xf32>) -> tensor<3xf32>
  return %1 : tensor<3xf32>
}
func.func private @out_bwd(%x: tensor<3xf32>, %y: tensor<3xf32>, %dy: tensor<3xf32>) -> tensor<3xf32> {
  return %dy : tensor<3xf32>
}
func.func @nested(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = kiln.custom_vjp @out_fwd, @out_bwd(%x) : (tensor<3xf32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

// A second-order gradient (a gradient penalty) over an open batch: the
// first gradient's generated function is called from the entry and from
// the second gradient's. With open extents it is inlined at both places
// (its run-time shape checks must reach the entry point), so no call and
// no generated function is left.
// CHECK-LABEL: func.func @penalty(
// CHECK-SAME: %[[X:[^:]*]]: tensor<?x3xf32>
// CHECK-NOT: call
// CHECK-COUNT-2: kiln.matmul %[[X]]
// CHECK-NOT: call
// CHECK: return
// CHECK-NOT: func.func private @{{.*}}gradient
func.func private @loss(%x: tensor<?x3xf32>, %w: tensor<3x4xf32>) -> tensor<f32> {
  %0 = kiln.matmul %x, %w : tensor<?x3xf32>, tensor<3x4xf32> -> tensor<?x4xf32>
  %1 = kiln.tanh %0 : tensor<?x4xf32>
  %2 = kiln.reduce_sum %1 {axes = array<i64: 0, 1>} : tensor<?x4xf32> -> tensor<f32>
  return %2 : tensor<f32>
}
func.func private @norm(%w: tensor<3x4xf32>, %x: tensor<?x3xf32>) -> tensor<f32> {
  %g = kiln.grad @loss(%x, %w) {wrt = array<i64: 0>} : (tensor<?x3xf32>, tensor<3x4xf32>) -> tensor<?x3xf32>
  %0 = kiln.mul %g, %g : tensor<?x3xf32>, tensor<?x3xf32> -> tensor<?x3xf32>
  %1 = kiln.reduce_sum %0 {axes = array<i64: 0, 1>} : tensor<?x3xf32> -> tensor<f32>
  return %1 : tensor<f32>
}
func.func @penalty(%x: tensor<?x3xf32>, %w: tensor<3x4xf32>) -> (tensor<?x3xf32>, tensor<3x4xf32>) {
  %g = kiln.grad @loss(%x, %w) {wrt = array<i64: 0>} : (tensor<?x3xf32>, tensor<3x4xf32>) -> tensor<?x3xf32>
  %dw = kiln.grad @norm(%w, %x) {wrt = array<i64: 0>} : (tensor<3x4xf32>, tensor<?x3xf32>) -> tensor<3x4xf32>
  return %g, %dw : tensor<?x3xf32>, tensor<3x4xf32>
}

// -----

// The same with static shapes: the first gradient's function stays one
// function, called from the entry (the second gradient inlined its own
// call to differentiate it).
// CHECK: func.func private @[[G:loss_static_vjp_[0-9]+]](
// CHECK: func.func @penalty_static(
// CHECK: call @[[G]](
func.func private @loss_static(%x: tensor<5x3xf32>, %w: tensor<3x4xf32>) -> tensor<f32> {
  %0 = kiln.matmul %x, %w : tensor<5x3xf32>, tensor<3x4xf32> -> tensor<5x4xf32>
  %1 = kiln.tanh %0 : tensor<5x4xf32>
  %2 = kiln.reduce_sum %1 {axes = array<i64: 0, 1>} : tensor<5x4xf32> -> tensor<f32>
  return %2 : tensor<f32>
}
func.func private @norm_static(%w: tensor<3x4xf32>, %x: tensor<5x3xf32>) -> tensor<f32> {
  %g = kiln.grad @loss_static(%x, %w) {wrt = array<i64: 0>} : (tensor<5x3xf32>, tensor<3x4xf32>) -> tensor<5x3xf32>
  %0 = kiln.mul %g, %g : tensor<5x3xf32>, tensor<5x3xf32> -> tensor<5x3xf32>
  %1 = kiln.reduce_sum %0 {axes = array<i64: 0, 1>} : tensor<5x3xf32> -> tensor<f32>
  return %1 : tensor<f32>
}
func.func @penalty_static(%x: tensor<5x3xf32>, %w: tensor<3x4xf32>) -> (tensor<5x3xf32>, tensor<3x4xf32>) {
  %g = kiln.grad @loss_static(%x, %w) {wrt = array<i64: 0>} : (tensor<5x3xf32>, tensor<3x4xf32>) -> tensor<5x3xf32>
  %dw = kiln.grad @norm_static(%w, %x) {wrt = array<i64: 0>} : (tensor<3x4xf32>, tensor<5x3xf32>) -> tensor<3x4xf32>
  return %g, %dw : tensor<5x3xf32>, tensor<3x4xf32>
}
