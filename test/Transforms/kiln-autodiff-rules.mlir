// The VJP rules of each op family, as the autodiff pass emits them.
// RUN: tensor-opt %s --kiln-autodiff --canonicalize --cse --split-input-file | FileCheck %s

// Elementwise: d tanh = g (1 - y^2), d relu = select(x > 0, g, 0); the
// broadcast operand's cotangent is summed over the broadcast dimension.
// CHECK-LABEL: func.func private @ew_vjp_0_1(
// CHECK-SAME: %[[X:[a-zA-Z0-9_]+]]: tensor<2x3xf32>, %[[B:[a-zA-Z0-9_]+]]: tensor<3xf32>
// CHECK: %[[T:.*]] = kiln.tanh
// CHECK: %[[YY:.*]] = kiln.mul %[[T]], %[[T]]
// CHECK: kiln.sub %{{.*}}, %[[YY]]
// CHECK: kiln.compare gt
// CHECK: kiln.select
// CHECK: kiln.reduce_sum %{{.*}} {axes = array<i64: 0>, keepdims = true} : tensor<2x3xf32> -> tensor<1x3xf32>
// CHECK: kiln.reshape %{{.*}} : tensor<1x3xf32> -> tensor<3xf32>
func.func @ew(%x: tensor<2x3xf32>, %b: tensor<3xf32>) -> tensor<f32> {
  %0 = kiln.add %x, %b : tensor<2x3xf32>, tensor<3xf32> -> tensor<2x3xf32>
  %1 = kiln.relu %0 : tensor<2x3xf32>
  %2 = kiln.tanh %1 : tensor<2x3xf32>
  %3 = kiln.reduce_sum %2 {axes = array<i64: 0, 1>} : tensor<2x3xf32> -> tensor<f32>
  return %3 : tensor<f32>
}
func.func @dew(%x: tensor<2x3xf32>, %b: tensor<3xf32>) -> (tensor<2x3xf32>, tensor<3xf32>) {
  %g:2 = kiln.grad @ew(%x, %b) {wrt = array<i64: 0, 1>} : (tensor<2x3xf32>, tensor<3xf32>) -> (tensor<2x3xf32>, tensor<3xf32>)
  return %g#0, %g#1 : tensor<2x3xf32>, tensor<3xf32>
}

// -----

// Reductions: reduce_mean spreads the cotangent and divides by the count;
// reduce_max sends it to the elements equal to the maximum, split evenly.
// CHECK-LABEL: func.func private @red_vjp_0(
// CHECK: %[[M:.*]] = kiln.reduce_max %{{.*}} {axes = array<i64: 1>}
// CHECK: kiln.broadcast_to
// CHECK: kiln.compare eq
// CHECK: kiln.cast %{{.*}} : tensor<2x3xi1> -> tensor<2x3xf32>
// CHECK: kiln.div
func.func @red(%x: tensor<2x3xf32>) -> tensor<f32> {
  %0 = kiln.reduce_max %x {axes = array<i64: 1>} : tensor<2x3xf32> -> tensor<2xf32>
  %1 = kiln.reduce_mean %0 {axes = array<i64: 0>} : tensor<2xf32> -> tensor<f32>
  return %1 : tensor<f32>
}
func.func @dred(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %g = kiln.grad @red(%x) {wrt = array<i64: 0>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %g : tensor<2x3xf32>
}

// -----

// Shape ops: transpose back with the inverse permutation, gather's adjoint is
// scatter_add into zeros, a slice's cotangent is spread over the strided
// dimension (a zero after each taken row) and padded back.
// CHECK-LABEL: func.func private @shp_vjp_0(
// CHECK-DAG: kiln.scatter_add
// CHECK-DAG: kiln.transpose %{{.*}} {permutation = array<i64: 1, 0>}
// CHECK-DAG: %[[S:.*]] = kiln.pad %{{.*}} {high = array<i64: 0, 1, 0>, low = array<i64: 0, 0, 0>} : tensor<2x1x1xf32> -> tensor<2x2x1xf32>
// CHECK-DAG: %[[R:.*]] = kiln.reshape %[[S]] : tensor<2x2x1xf32> -> tensor<4x1xf32>
// CHECK-DAG: %[[C:.*]] = kiln.slice %[[R]] {limit = array<i64: 3, 1>, start = array<i64: 0, 0>, stride = array<i64: 1, 1>}
// CHECK-DAG: kiln.pad %[[C]] {high = array<i64: 0, 0>, low = array<i64: 0, 1>} : tensor<3x1xf32> -> tensor<3x2xf32>
func.func @shp(%t: tensor<4x3xf32>) -> tensor<f32> {
  %ids = kiln.constant dense<[0, 2]> : tensor<2xi32>
  %0 = kiln.gather %t, %ids : tensor<4x3xf32>, tensor<2xi32> -> tensor<2x3xf32>
  %1 = kiln.transpose %0 {permutation = array<i64: 1, 0>} : tensor<2x3xf32> -> tensor<3x2xf32>
  %2 = kiln.slice %1 {start = array<i64: 0, 1>, limit = array<i64: 3, 2>, stride = array<i64: 2, 1>} : tensor<3x2xf32> -> tensor<2x1xf32>
  %3 = kiln.reduce_sum %2 {axes = array<i64: 0, 1>} : tensor<2x1xf32> -> tensor<f32>
  return %3 : tensor<f32>
}
func.func @dshp(%t: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %g = kiln.grad @shp(%t) {wrt = array<i64: 0>} : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return %g : tensor<4x3xf32>
}

// -----

// Linear algebra: dA = g B^T, dB = A^T g, as transposed matmuls.
// CHECK-LABEL: func.func private @mm_vjp_0_1(
// CHECK-SAME: %[[A:[a-zA-Z0-9_]+]]: tensor<4x3xf32>, %[[B:[a-zA-Z0-9_]+]]: tensor<3x2xf32>
// CHECK-DAG: kiln.matmul %{{.*}}, %[[B]] {transpose_rhs = true} : tensor<4x2xf32>, tensor<3x2xf32> -> tensor<4x3xf32>
// CHECK-DAG: kiln.matmul %[[A]], %{{.*}} {transpose_lhs = true} : tensor<4x3xf32>, tensor<4x2xf32> -> tensor<3x2xf32>
func.func @mm(%a: tensor<4x3xf32>, %b: tensor<3x2xf32>) -> tensor<f32> {
  %0 = kiln.matmul %a, %b : tensor<4x3xf32>, tensor<3x2xf32> -> tensor<4x2xf32>
  %1 = kiln.reduce_sum %0 {axes = array<i64: 0, 1>} : tensor<4x2xf32> -> tensor<f32>
  return %1 : tensor<f32>
}
func.func @dmm(%a: tensor<4x3xf32>, %b: tensor<3x2xf32>) -> (tensor<4x3xf32>, tensor<3x2xf32>) {
  %g:2 = kiln.grad @mm(%a, %b) {wrt = array<i64: 0, 1>} : (tensor<4x3xf32>, tensor<3x2xf32>) -> (tensor<4x3xf32>, tensor<3x2xf32>)
  return %g#0, %g#1 : tensor<4x3xf32>, tensor<3x2xf32>
}

// -----

// Neural-network ops: convolution and pooling use the gradient ops; the
// sparse cross-entropy's cotangent is softmax minus one-hot.
// CHECK-LABEL: func.func private @cnn_vjp_1(
// CHECK: kiln.max_pool2d_grad
// CHECK: kiln.conv2d_backprop_filter %{{.*}}, %{{.*}} {padding = #kiln.padding<SAME>}
// CHECK-LABEL: func.func private @xent_vjp_0(
// CHECK: kiln.softmax
// CHECK: kiln.one_hot
// CHECK: kiln.sub
func.func @cnn(%x: tensor<1x4x4x1xf32>, %w: tensor<3x3x1x2xf32>) -> tensor<f32> {
  %0 = kiln.conv2d %x, %w {padding = #kiln.padding<SAME>} : tensor<1x4x4x1xf32>, tensor<3x3x1x2xf32> -> tensor<1x4x4x2xf32>
  %1 = kiln.max_pool2d %0 {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<1x4x4x2xf32> -> tensor<1x2x2x2xf32>
  %2 = kiln.reduce_sum %1 {axes = array<i64: 0, 1, 2, 3>} : tensor<1x2x2x2xf32> -> tensor<f32>
  return %2 : tensor<f32>
}
func.func @dcnn(%x: tensor<1x4x4x1xf32>, %w: tensor<3x3x1x2xf32>) -> tensor<3x3x1x2xf32> {
  %g = kiln.grad @cnn(%x, %w) {wrt = array<i64: 1>} : (tensor<1x4x4x1xf32>, tensor<3x3x1x2xf32>) -> tensor<3x3x1x2xf32>
  return %g : tensor<3x3x1x2xf32>
}
func.func @xent(%l: tensor<4x10xf32>, %y: tensor<4xi32>) -> tensor<f32> {
  %0 = kiln.sparse_softmax_cross_entropy %l, %y : tensor<4x10xf32>, tensor<4xi32> -> tensor<4xf32>
  %1 = kiln.reduce_mean %0 {axes = array<i64: 0>} : tensor<4xf32> -> tensor<f32>
  return %1 : tensor<f32>
}
func.func @dxent(%l: tensor<4x10xf32>, %y: tensor<4xi32>) -> tensor<4x10xf32> {
  %g = kiln.grad @xent(%l, %y) {wrt = array<i64: 0>} : (tensor<4x10xf32>, tensor<4xi32>) -> tensor<4x10xf32>
  return %g : tensor<4x10xf32>
}

// -----

// Second order through max pooling: max_pool2d_grad is linear in its
// cotangent, whose adjoint picks each window's maximum (max_pool2d_select);
// the pooled input gets no gradient from it (the maxima do not move).
// CHECK-LABEL: func.func private @dpool_vjp_1_seeded(
// CHECK: kiln.max_pool2d_grad %[[X:.*]], %{{.*}} {strides = array<i64: 2, 2>, window = array<i64: 2, 2>}
// CHECK: kiln.max_pool2d_select %[[X]], %{{.*}} {strides = array<i64: 2, 2>, window = array<i64: 2, 2>} : tensor<1x4x4x1xf32>, tensor<1x4x4x1xf32> -> tensor<1x2x2x1xf32>
func.func @dpool(%x: tensor<1x4x4x1xf32>, %dy: tensor<1x2x2x1xf32>) -> tensor<1x4x4x1xf32> {
  %0 = kiln.max_pool2d_grad %x, %dy {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<1x4x4x1xf32>, tensor<1x2x2x1xf32> -> tensor<1x4x4x1xf32>
  return %0 : tensor<1x4x4x1xf32>
}
func.func @ddpool(%x: tensor<1x4x4x1xf32>, %dy: tensor<1x2x2x1xf32>, %s: tensor<1x4x4x1xf32>) -> tensor<1x2x2x1xf32> {
  %g = kiln.grad @dpool(%x, %dy) seeds(%s : tensor<1x4x4x1xf32>) {wrt = array<i64: 1>} : (tensor<1x4x4x1xf32>, tensor<1x2x2x1xf32>) -> tensor<1x2x2x1xf32>
  return %g : tensor<1x2x2x1xf32>
}

// -----

// stop_gradient: its operand gets no cotangent through it, so
// d/dx sum(x * stop_gradient(x)) is stop_gradient(x) alone (x, not 2x):
// with a seed of one, the gradient is the stopped value itself, and
// nothing is added for the path through stop_gradient.
// CHECK-LABEL: func.func private @stopped_vjp_0(
// CHECK-SAME: %[[X:[a-zA-Z0-9_]+]]: tensor<3xf32>
// CHECK: %[[S:.*]] = kiln.stop_gradient %[[X]] : tensor<3xf32>
// CHECK-NOT: kiln.add
// CHECK: return %{{.*}}, %[[S]] : tensor<f32>, tensor<3xf32>
func.func @stopped(%x: tensor<3xf32>) -> tensor<f32> {
  %s = kiln.stop_gradient %x : tensor<3xf32>
  %p = kiln.mul %x, %s : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %r = kiln.reduce_sum %p {axes = array<i64: 0>} : tensor<3xf32> -> tensor<f32>
  return %r : tensor<f32>
}
func.func @dstopped(%x: tensor<3xf32>) -> tensor<3xf32> {
  %g = kiln.grad @stopped(%x) {wrt = array<i64: 0>} : (tensor<3xf32>) -> tensor<3xf32>
  return %g : tensor<3xf32>
}

// -----

// known_value: the cotangent goes to the computed operand (through square's
// rule, 2x), none to the known one (zeros), and the rules after it read the
// known value: tanh's derivative 1 - t^2 is of t = tanh(known_value), and
// where tanh's own result is known too (%kt), its rule reads that, so the
// tanh is left to the known value alone (dead once lowered).
// CHECK-LABEL: func.func private @known_vjp_0_1_2(
// CHECK-SAME: %[[X:[a-zA-Z0-9_]+]]: tensor<3xf32>, %[[K:[a-zA-Z0-9_]+]]: tensor<3xf32>, %[[KT:[a-zA-Z0-9_]+]]: tensor<3xf32>
// CHECK-DAG: %[[ZERO:.*]] = kiln.constant dense<0.000000e+00> : tensor<3xf32>
// CHECK-DAG: %[[S:.*]] = kiln.square %[[X]]
// CHECK: %[[V:.*]] = kiln.known_value %[[S]], %[[K]] : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
// CHECK: %[[T:.*]] = kiln.tanh %[[V]]
// CHECK: %[[VT:.*]] = kiln.known_value %[[T]], %[[KT]]
// CHECK-NOT: kiln.mul %[[T]], %[[T]] :
// CHECK: kiln.mul %[[VT]], %[[VT]]
// CHECK: %[[TWOX:.*]] = kiln.mul %[[X]], %{{.*}}
// CHECK: %[[DX:.*]] = kiln.mul %{{.*}}, %[[TWOX]]
// CHECK: return %{{.*}}, %[[DX]], %[[ZERO]], %[[ZERO]] : tensor<f32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
func.func @known(%x: tensor<3xf32>, %k: tensor<3xf32>, %kt: tensor<3xf32>) -> tensor<f32> {
  %s = kiln.square %x : tensor<3xf32>
  %v = kiln.known_value %s, %k : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %t = kiln.tanh %v : tensor<3xf32>
  %vt = kiln.known_value %t, %kt : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %r = kiln.reduce_sum %vt {axes = array<i64: 0>} : tensor<3xf32> -> tensor<f32>
  return %r : tensor<f32>
}
func.func @dknown(%x: tensor<3xf32>, %k: tensor<3xf32>, %kt: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) {
  %g:3 = kiln.grad @known(%x, %k, %kt) {wrt = array<i64: 0, 1, 2>} : (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>)
  return %g#0, %g#1, %g#2 : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
}

// -----

// known_inputs: the gradient function built for the request reads the known
// operand itself (sin and cos of %k, no kiln.known_value left), so the
// gradient of that gradient holds %k fixed for d/dx (2 cos k, not the
// derivative through square) and gives d/dk = -2x sin k (TF's partial
// through the saved forward value).
// CHECK-LABEL: func.func private @saved_vjp_0_known_inputs(
// CHECK-SAME: %[[X:[a-zA-Z0-9_]+]]: tensor<3xf32>, %[[K:[a-zA-Z0-9_]+]]: tensor<3xf32>
// CHECK-SAME: kiln.gradient_known_inputs
// CHECK-NOT: kiln.known_value
// CHECK-NOT: kiln.square
// CHECK: kiln.cos %[[K]]
// CHECK: return
// CHECK-LABEL: func.func private @dsaved_vjp_0_1(
// CHECK-SAME: %[[X:[a-zA-Z0-9_]+]]: tensor<3xf32>, %[[K:[a-zA-Z0-9_]+]]: tensor<3xf32>
// CHECK-DAG: %[[TWO:.*]] = kiln.constant dense<2.000000e+00>
// CHECK-DAG: %[[COS:.*]] = kiln.cos %[[K]]
// CHECK-DAG: %[[TWOX:.*]] = kiln.mul %[[X]], %[[TWO]]
// CHECK-DAG: %[[DX:.*]] = kiln.mul %[[COS]], %[[TWO]]
// CHECK-DAG: %[[SIN:.*]] = kiln.sin %[[K]]
// CHECK-DAG: %[[P:.*]] = kiln.mul %[[TWOX]], %[[SIN]]
// CHECK-DAG: %[[DK:.*]] = kiln.neg %[[P]]
// CHECK: return %{{.*}}, %[[DX]], %[[DK]] :
func.func private @saved(%x: tensor<3xf32>, %k: tensor<3xf32>) -> tensor<f32> {
  %s = kiln.square %x : tensor<3xf32>
  %v = kiln.known_value %s, %k : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %t = kiln.sin %v : tensor<3xf32>
  %r = kiln.reduce_sum %t {axes = array<i64: 0>} : tensor<3xf32> -> tensor<f32>
  return %r : tensor<f32>
}
func.func private @dsaved(%x: tensor<3xf32>, %k: tensor<3xf32>) -> tensor<f32> {
  %d = kiln.grad @saved(%x, %k) {wrt = array<i64: 0>, known_inputs} : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %r = kiln.reduce_sum %d {axes = array<i64: 0>} : tensor<3xf32> -> tensor<f32>
  return %r : tensor<f32>
}
func.func @ddsaved(%x: tensor<3xf32>, %k: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %d:2 = kiln.grad @dsaved(%x, %k) {wrt = array<i64: 0, 1>} : (tensor<3xf32>, tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>)
  return %d#0, %d#1 : tensor<3xf32>, tensor<3xf32>
}

// -----

// Over an open batch extent: the mean's count is known at run time only
// (a sum of ones like the input), and every broadcast back to the input's
// shape reads its extents from the input (`like`).
// CHECK-LABEL: func.func private @dynmean_vjp_0_seeded(
// CHECK-SAME: %[[X:[^:]*]]: tensor<?x3xf32>
// CHECK: %[[SPREAD:.*]] = kiln.broadcast_to %{{.*}} like %[[X]] : tensor<1x3xf32>, tensor<?x3xf32> -> tensor<?x3xf32>
// CHECK: %[[ONES:.*]] = kiln.broadcast_to %{{.*}} like %[[X]] : tensor<f32>, tensor<?x3xf32> -> tensor<?x3xf32>
// CHECK: %[[COUNT:.*]] = kiln.reduce_sum %[[ONES]] {axes = array<i64: 0>
// CHECK: %[[C:.*]] = kiln.broadcast_to %{{.*}} like %[[X]] : tensor<1x3xf32>, tensor<?x3xf32> -> tensor<?x3xf32>
// CHECK: kiln.div %[[SPREAD]], %[[C]]
func.func @dynmean(%x: tensor<?x3xf32>) -> tensor<3xf32> {
  %0 = kiln.reduce_mean %x {axes = array<i64: 0>} : tensor<?x3xf32> -> tensor<3xf32>
  return %0 : tensor<3xf32>
}
func.func @ddynmean(%x: tensor<?x3xf32>, %s: tensor<3xf32>) -> tensor<?x3xf32> {
  %g = kiln.grad @dynmean(%x) seeds(%s : tensor<3xf32>) {wrt = array<i64: 0>} : (tensor<?x3xf32>) -> tensor<?x3xf32>
  return %g : tensor<?x3xf32>
}

// -----

// A custom VJP: autodiff does not look into @cv_fwd; the cotangent is
// @cv_bwd(inputs, results, cotangents).
// CHECK-LABEL: func.func private @cv_loss_vjp_0(
// CHECK-SAME: %[[X:[^:]*]]: tensor<3xf32>
// CHECK: %[[ONES:.*]] = kiln.constant dense<1.000000e+00> : tensor<3xf32>
// CHECK: %[[Y:.*]] = kiln.custom_vjp @cv_fwd, @cv_bwd(%[[X]])
// CHECK-NOT: kiln.exp
// CHECK: call @cv_bwd(%[[X]], %[[Y]], %[[ONES]])
func.func private @cv_fwd(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = kiln.exp %x : tensor<3xf32>
  return %0 : tensor<3xf32>
}
func.func private @cv_bwd(%x: tensor<3xf32>, %y: tensor<3xf32>, %dy: tensor<3xf32>) -> tensor<3xf32> {
  return %dy : tensor<3xf32>
}
func.func @cv_loss(%x: tensor<3xf32>) -> tensor<f32> {
  %y = kiln.custom_vjp @cv_fwd, @cv_bwd(%x) : (tensor<3xf32>) -> tensor<3xf32>
  %s = kiln.reduce_sum %y {axes = array<i64: 0>} : tensor<3xf32> -> tensor<f32>
  return %s : tensor<f32>
}
func.func @dcv(%x: tensor<3xf32>) -> tensor<3xf32> {
  %g = kiln.grad @cv_loss(%x) {wrt = array<i64: 0>} : (tensor<3xf32>) -> tensor<3xf32>
  return %g : tensor<3xf32>
}

// -----

// kiln.sort: each value's cotangent goes back to the position it came from,
// one scatter into the flattened input (row r's indices offset by r * n).
// CHECK-LABEL: func.func private @sorted_vjp_0(
// CHECK-SAME: %{{[a-z0-9]+}}: tensor<2x3xf32>, %[[W:[a-z0-9]+]]: tensor<2x3xf32>
// CHECK-DAG: %[[ZERO:.*]] = kiln.constant dense<0.000000e+00> : tensor<6xf32>
// CHECK-DAG: %[[N:.*]] = kiln.constant dense<3> : tensor<2x3xi32>
// CHECK: %[[V:.*]], %[[I:.*]] = kiln.sort %{{.*}} {descending} : tensor<2x3xf32> -> tensor<2x3xf32>, tensor<2x3xi32>
// CHECK: %[[ROW:.*]] = kiln.iota {dimension = 0 : i64} : tensor<2x3xi32>
// CHECK: %[[OFF:.*]] = kiln.mul %[[ROW]], %[[N]]
// CHECK: %[[AT:.*]] = kiln.add %[[I]], %[[OFF]]
// CHECK: %[[FLAT:.*]] = kiln.reshape %[[AT]] : tensor<2x3xi32> -> tensor<6xi32>
// CHECK: %[[G:.*]] = kiln.reshape %[[W]] : tensor<2x3xf32> -> tensor<6xf32>
// CHECK: %[[S:.*]] = kiln.scatter_add %[[ZERO]], %[[FLAT]], %[[G]] :
// CHECK: kiln.reshape %[[S]] : tensor<6xf32> -> tensor<2x3xf32>
func.func @sorted(%x: tensor<2x3xf32>, %w: tensor<2x3xf32>) -> tensor<f32> {
  %v, %i = kiln.sort %x {descending} : tensor<2x3xf32> -> tensor<2x3xf32>, tensor<2x3xi32>
  %p = kiln.mul %v, %w : tensor<2x3xf32>, tensor<2x3xf32> -> tensor<2x3xf32>
  %s = kiln.reduce_sum %p {axes = array<i64: 0, 1>} : tensor<2x3xf32> -> tensor<f32>
  return %s : tensor<f32>
}
func.func @dsorted(%x: tensor<2x3xf32>, %w: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %g = kiln.grad @sorted(%x, %w) {wrt = array<i64: 0>} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %g : tensor<2x3xf32>
}

// -----

// A strided slice's cotangent is spread by reshapes and pads (no index
// table as long as the input: this input has 2^32 elements).
// CHECK-LABEL: func.func private @strided_vjp_0_seeded(
// CHECK-NOT: kiln.gather
// CHECK: kiln.reshape %{{.*}} : tensor<2xf32> -> tensor<2x1xf32>
// CHECK: kiln.pad %{{.*}} {high = array<i64: 0, 1>, low = array<i64: 0, 0>} : tensor<2x1xf32> -> tensor<2x2xf32>
// CHECK: kiln.reshape %{{.*}} : tensor<2x2xf32> -> tensor<4xf32>
// CHECK: kiln.pad %{{.*}} {high = array<i64: 4294967292>, low = array<i64: 0>} : tensor<4xf32> -> tensor<4294967296xf32>
// CHECK-NOT: kiln.gather
func.func @strided(%t: tensor<4294967296xf32>) -> tensor<2xf32> {
  %0 = kiln.slice %t {start = array<i64: 0>, limit = array<i64: 3>, stride = array<i64: 2>} : tensor<4294967296xf32> -> tensor<2xf32>
  return %0 : tensor<2xf32>
}
func.func @dstrided(%t: tensor<4294967296xf32>, %s: tensor<2xf32>) -> tensor<4294967296xf32> {
  %g = kiln.grad @strided(%t) seeds(%s : tensor<2xf32>) {wrt = array<i64: 0>} : (tensor<4294967296xf32>) -> tensor<4294967296xf32>
  return %g : tensor<4294967296xf32>
}

// -----

// A strided slice that ends before the input's last stride: the spread
// cotangent is cut to what fits, then padded at both ends.
// CHECK-LABEL: func.func private @tail_vjp_0(
// CHECK: kiln.constant dense<1.000000e+00> : tensor<2x2x1xf32>
// CHECK: kiln.pad %{{.*}} {high = array<i64: 0, 0, 2>, low = array<i64: 0, 0, 0>} : tensor<2x2x1xf32> -> tensor<2x2x3xf32>
// CHECK: kiln.reshape %{{.*}} : tensor<2x2x3xf32> -> tensor<2x6xf32>
// CHECK: kiln.slice %{{.*}} {limit = array<i64: 2, 5>, start = array<i64: 0, 0>, stride = array<i64: 1, 1>} : tensor<2x6xf32> -> tensor<2x5xf32>
// CHECK: kiln.pad %{{.*}} {high = array<i64: 1, 0>, low = array<i64: 1, 2>} : tensor<2x5xf32> -> tensor<4x7xf32>
func.func @tail(%t: tensor<4x7xf32>) -> tensor<f32> {
  %0 = kiln.slice %t {start = array<i64: 1, 2>, limit = array<i64: 3, 7>, stride = array<i64: 1, 3>} : tensor<4x7xf32> -> tensor<2x2xf32>
  %1 = kiln.reduce_sum %0 {axes = array<i64: 0, 1>} : tensor<2x2xf32> -> tensor<f32>
  return %1 : tensor<f32>
}
func.func @dtail(%t: tensor<4x7xf32>) -> tensor<4x7xf32> {
  %g = kiln.grad @tail(%t) {wrt = array<i64: 0>} : (tensor<4x7xf32>) -> tensor<4x7xf32>
  return %g : tensor<4x7xf32>
}

// -----

// Collectives: each rule is itself a collective of the same group, since
// process q's gradient needs every process's cotangent. reduce_scatter
// gathers (min: to the processes holding the minimum, split among ties;
// mean: over the group's size); all_gather reduce-scatters; broadcast_from
// sums to the root; all_reduce max like reduce_max across processes; mean
// averages.
// CHECK-LABEL: func.func private @coll_vjp_0(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<4x3xf32>, %[[W:[a-z0-9]+]]: tensor<8x3xf32>
// CHECK-DAG: %[[ONES:.*]] = kiln.constant dense<1.000000e+00> : tensor<4x1xf32>
// CHECK-DAG: %[[ROOT:.*]] = kiln.constant dense<1> : tensor<i64>
// CHECK: %[[MEAN:.*]] = kiln.all_reduce mean, %[[X]]
// CHECK: %[[MAX:.*]] = kiln.all_reduce max, %[[MEAN]]
// CHECK: %[[RS:.*]] = kiln.reduce_scatter mean,
// CHECK: %[[MIN:.*]] = kiln.reduce_scatter min, %[[RS]] {axis = 1 : i64}
// CHECK: %[[G1:.*]] = kiln.all_gather %[[ONES]] {axis = 1 : i64} : tensor<4x1xf32> -> tensor<4x3xf32>
// CHECK: %[[AT:.*]] = kiln.all_gather %[[MIN]] {axis = 1 : i64}
// CHECK: %[[EQ:.*]] = kiln.compare eq, %[[RS]], %[[AT]]
// CHECK: %[[HOLDS:.*]] = kiln.cast %[[EQ]]
// CHECK: %[[TIES:.*]] = kiln.all_reduce sum, %[[HOLDS]]
// CHECK: %[[M1:.*]] = kiln.mul %[[G1]], %[[HOLDS]]
// CHECK: %[[G2:.*]] = kiln.div %[[M1]], %[[TIES]]
// CHECK: %[[G3:.*]] = kiln.all_gather %[[G2]] : tensor<4x3xf32> -> tensor<8x3xf32>
// CHECK: %[[N:.*]] = kiln.group_size : tensor<i64>
// CHECK: %[[NF:.*]] = kiln.cast %[[N]] : tensor<i64> -> tensor<f32>
// CHECK: %[[G4:.*]] = kiln.div %[[G3]], %[[NF]]
// CHECK: %[[G5:.*]] = kiln.mul %[[G4]], %[[W]]
// CHECK: %[[G6:.*]] = kiln.reduce_scatter sum, %[[G5]] : tensor<8x3xf32> -> tensor<4x3xf32>
// CHECK: %[[R:.*]] = kiln.group_rank : tensor<i64>
// CHECK: %[[ISROOT:.*]] = kiln.compare eq, %[[R]], %[[ROOT]]
// CHECK: %[[ISROOTF:.*]] = kiln.cast %[[ISROOT]] : tensor<i1> -> tensor<f32>
// CHECK: %[[TOTAL:.*]] = kiln.all_reduce sum, %[[G6]]
// CHECK: %[[G7:.*]] = kiln.mul %[[TOTAL]], %[[ISROOTF]]
// CHECK: %[[EQ2:.*]] = kiln.compare eq, %[[MEAN]], %[[MAX]]
// CHECK: %[[HOLDS2:.*]] = kiln.cast %[[EQ2]]
// CHECK: %[[TIES2:.*]] = kiln.all_reduce sum, %[[HOLDS2]]
// CHECK: %[[TOTAL2:.*]] = kiln.all_reduce sum, %[[G7]]
// CHECK: %[[M2:.*]] = kiln.mul %[[TOTAL2]], %[[HOLDS2]]
// CHECK: %[[G8:.*]] = kiln.div %[[M2]], %[[TIES2]]
// CHECK: %[[G9:.*]] = kiln.all_reduce mean, %[[G8]]
// CHECK: return %{{.*}}, %[[G9]]
func.func @coll(%x: tensor<4x3xf32>, %w: tensor<8x3xf32>) -> tensor<f32> {
  %0 = kiln.all_reduce mean, %x : tensor<4x3xf32>
  %1 = kiln.all_reduce max, %0 : tensor<4x3xf32>
  %2 = kiln.broadcast_from %1 {root = 1 : i64} : tensor<4x3xf32>
  %3 = kiln.all_gather %2 : tensor<4x3xf32> -> tensor<8x3xf32>
  %4 = kiln.mul %3, %w : tensor<8x3xf32>, tensor<8x3xf32> -> tensor<8x3xf32>
  %5 = kiln.reduce_scatter mean, %4 : tensor<8x3xf32> -> tensor<4x3xf32>
  %6 = kiln.reduce_scatter min, %5 {axis = 1 : i64} : tensor<4x3xf32> -> tensor<4x1xf32>
  %s = kiln.reduce_sum %6 {axes = array<i64: 0, 1>} : tensor<4x1xf32> -> tensor<f32>
  return %s : tensor<f32>
}
func.func @dcoll(%x: tensor<4x3xf32>, %w: tensor<8x3xf32>) -> tensor<4x3xf32> {
  %g = kiln.grad @coll(%x, %w) {wrt = array<i64: 0>} : (tensor<4x3xf32>, tensor<8x3xf32>) -> tensor<4x3xf32>
  return %g : tensor<4x3xf32>
}

// -----

// kiln.scatter_reduce max: the cotangent of each position goes to the base
// element and the updates equal to its result, divided by how many there
// are (ties counted by a scatter_add of the hits), selected (not multiplied)
// so that a NaN share reaches no other factor.
// CHECK-LABEL: func.func private @segmax_vjp_0_2(
// CHECK-SAME: %[[B:[a-z0-9]+]]: tensor<4x2xf32>, %[[I:[a-z0-9]+]]: tensor<3xi32>, %[[U:[a-z0-9]+]]: tensor<3x2xf32>
// CHECK: %[[Y:.*]] = kiln.scatter_reduce max, %[[B]], %[[I]], %[[U]]
// CHECK: %[[HB:.*]] = kiln.compare eq, %[[B]], %[[Y]]
// CHECK: %[[YU:.*]] = kiln.gather %[[Y]], %[[I]]
// CHECK: %[[HU:.*]] = kiln.compare eq, %[[U]], %[[YU]]
// CHECK: %[[FB:.*]] = kiln.cast %[[HB]]
// CHECK: %[[FU:.*]] = kiln.cast %[[HU]]
// CHECK: %[[TIES:.*]] = kiln.scatter_add %[[FB]], %[[I]], %[[FU]]
// CHECK: %[[SHARE:.*]] = kiln.div %{{.*}}, %[[TIES]]
// CHECK: %[[DB:.*]] = kiln.select %[[HB]], %[[SHARE]], %{{.*}}
// CHECK: %[[SU:.*]] = kiln.gather %[[SHARE]], %[[I]]
// CHECK: %[[DU:.*]] = kiln.select %[[HU]], %[[SU]], %{{.*}}
// CHECK: return %{{.*}}, %[[DB]], %[[DU]]
func.func @segmax(%b: tensor<4x2xf32>, %i: tensor<3xi32>, %u: tensor<3x2xf32>) -> tensor<f32> {
  %m = kiln.scatter_reduce max, %b, %i, %u : tensor<4x2xf32>, tensor<3xi32>, tensor<3x2xf32> -> tensor<4x2xf32>
  %s = kiln.reduce_sum %m {axes = array<i64: 0, 1>} : tensor<4x2xf32> -> tensor<f32>
  return %s : tensor<f32>
}
func.func @dsegmax(%b: tensor<4x2xf32>, %i: tensor<3xi32>, %u: tensor<3x2xf32>) -> (tensor<4x2xf32>, tensor<3x2xf32>) {
  %g:2 = kiln.grad @segmax(%b, %i, %u) {wrt = array<i64: 0, 2>} : (tensor<4x2xf32>, tensor<3xi32>, tensor<3x2xf32>) -> (tensor<4x2xf32>, tensor<3x2xf32>)
  return %g#0, %g#1 : tensor<4x2xf32>, tensor<3x2xf32>
}

// -----

// kiln.scatter_reduce prod: y / x where a position has no zero factor; the
// product of the other factors (a prod scatter with zeros read as ones) for
// the one zero of a position with one zero; 0 otherwise.
// CHECK-LABEL: func.func private @segprod_vjp_2(
// CHECK-SAME: %[[B:[a-z0-9]+]]: tensor<4xf32>, %[[I:[a-z0-9]+]]: tensor<3xi32>, %[[U:[a-z0-9]+]]: tensor<3xf32>
// CHECK: %[[Y:.*]] = kiln.scatter_reduce prod, %[[B]], %[[I]], %[[U]]
// CHECK: %[[ZU:.*]] = kiln.compare eq, %[[U]]
// CHECK: %[[SB:.*]] = kiln.select %{{.*}}, %{{.*}}, %[[B]]
// CHECK: %[[SU:.*]] = kiln.select %[[ZU]], %{{.*}}, %[[U]]
// CHECK: %[[ZEROS:.*]] = kiln.scatter_add
// CHECK: %[[OTHERS:.*]] = kiln.scatter_reduce prod, %[[SB]], %[[I]], %[[SU]]
// CHECK-DAG: %[[ZAT:.*]] = kiln.gather %[[ZEROS]], %[[I]]
// CHECK-DAG: %[[YAT:.*]] = kiln.gather %[[Y]], %[[I]]
// CHECK-DAG: %[[OAT:.*]] = kiln.gather %[[OTHERS]], %[[I]]
// CHECK: %[[RATIO:.*]] = kiln.div %[[YAT]], %[[SU]]
// CHECK: %[[ONLY:.*]] = kiln.select %[[ZU]], %[[OAT]]
// CHECK: kiln.select %[[NONE:.*]], %[[RATIO]]
func.func @segprod(%b: tensor<4xf32>, %i: tensor<3xi32>, %u: tensor<3xf32>) -> tensor<f32> {
  %m = kiln.scatter_reduce prod, %b, %i, %u : tensor<4xf32>, tensor<3xi32>, tensor<3xf32> -> tensor<4xf32>
  %s = kiln.reduce_sum %m {axes = array<i64: 0>} : tensor<4xf32> -> tensor<f32>
  return %s : tensor<f32>
}
func.func @dsegprod(%b: tensor<4xf32>, %i: tensor<3xi32>, %u: tensor<3xf32>) -> tensor<3xf32> {
  %g = kiln.grad @segprod(%b, %i, %u) {wrt = array<i64: 2>} : (tensor<4xf32>, tensor<3xi32>, tensor<3xf32>) -> tensor<3xf32>
  return %g : tensor<3xf32>
}

// -----

// Open extents: a slice's cotangent is padded back in its static dimensions
// only (open ones are taken whole); a concatenation's cotangent is sliced
// along the axis and taken whole in the open dimension; a transpose's is
// transposed back.
// CHECK-LABEL: func.func private @open_moves_vjp_0_1_seeded(
// CHECK-DAG: kiln.pad %{{.*}} {high = array<i64: 0, 1>, low = array<i64: 0, 1>} : tensor<?x1xf32> -> tensor<?x3xf32>
// CHECK-DAG: kiln.slice %{{.*}} {limit = array<i64: -1, 3>, start = array<i64: 0, 0>, stride = array<i64: 1, 1>} : tensor<?x5xf32> -> tensor<?x3xf32>
// CHECK-DAG: kiln.slice %{{.*}} {limit = array<i64: -1, 5>, start = array<i64: 0, 3>, stride = array<i64: 1, 1>} : tensor<?x5xf32> -> tensor<?x2xf32>
func.func @open_moves(%x: tensor<?x3xf32>, %y: tensor<?x2xf32>) -> tensor<?x6xf32> {
  %s = kiln.slice %x {start = array<i64: 0, 1>, limit = array<i64: -1, 2>, stride = array<i64: 1, 1>} : tensor<?x3xf32> -> tensor<?x1xf32>
  %c = kiln.concat %x, %y {axis = 1 : i64} : (tensor<?x3xf32>, tensor<?x2xf32>) -> tensor<?x5xf32>
  %j = kiln.concat %s, %c {axis = 1 : i64} : (tensor<?x1xf32>, tensor<?x5xf32>) -> tensor<?x6xf32>
  return %j : tensor<?x6xf32>
}
func.func @dopen_moves(%x: tensor<?x3xf32>, %y: tensor<?x2xf32>, %g: tensor<?x6xf32>) -> (tensor<?x3xf32>, tensor<?x2xf32>) {
  %dx, %dy = kiln.grad @open_moves(%x, %y) seeds(%g : tensor<?x6xf32>) {wrt = array<i64: 0, 1>} : (tensor<?x3xf32>, tensor<?x2xf32>) -> (tensor<?x3xf32>, tensor<?x2xf32>)
  return %dx, %dy : tensor<?x3xf32>, tensor<?x2xf32>
}

// -----

// A reduction over the last axis of a tensor with two open extents: the
// cotangent gets its 1 back with expand_dims (a reshape could not take
// its extents from the input, whose last extent is 5, not 1), then is
// broadcast like the input.
// CHECK-LABEL: func.func private @rows_vjp_0_seeded(
// CHECK-SAME: %[[X:[^:]*]]: tensor<?x?x5xf32>, %[[G:[^:]*]]: tensor<?x?xf32>
// CHECK: %[[E:.*]] = kiln.expand_dims %[[G]] {axis = 2 : i64} : tensor<?x?xf32> -> tensor<?x?x1xf32>
// CHECK: kiln.broadcast_to %[[E]] like %[[X]] : tensor<?x?x1xf32>, tensor<?x?x5xf32> -> tensor<?x?x5xf32>
func.func @rows(%x: tensor<?x?x5xf32>) -> tensor<?x?xf32> {
  %s = kiln.reduce_sum %x {axes = array<i64: 2>} : tensor<?x?x5xf32> -> tensor<?x?xf32>
  return %s : tensor<?x?xf32>
}
func.func @drows(%x: tensor<?x?x5xf32>, %g: tensor<?x?xf32>) -> tensor<?x?x5xf32> {
  %d = kiln.grad @rows(%x) seeds(%g : tensor<?x?xf32>) {wrt = array<i64: 0>} : (tensor<?x?x5xf32>) -> tensor<?x?x5xf32>
  return %d : tensor<?x?x5xf32>
}

// -----

// (One open extent beside a fixed 0: a reshape has no count to divide
// either, so expand_dims too.)
// CHECK-LABEL: func.func private @empty_rows_vjp_0_seeded(
// CHECK: kiln.expand_dims %{{.*}} {axis = 2 : i64} : tensor<?x0xf32> -> tensor<?x0x1xf32>
func.func @empty_rows(%x: tensor<?x0x3xf32>) -> tensor<?x0xf32> {
  %s = kiln.reduce_sum %x {axes = array<i64: 2>} : tensor<?x0x3xf32> -> tensor<?x0xf32>
  return %s : tensor<?x0xf32>
}
func.func @dempty_rows(%x: tensor<?x0x3xf32>, %g: tensor<?x0xf32>) -> tensor<?x0x3xf32> {
  %d = kiln.grad @empty_rows(%x) seeds(%g : tensor<?x0xf32>) {wrt = array<i64: 0>} : (tensor<?x0x3xf32>) -> tensor<?x0x3xf32>
  return %d : tensor<?x0x3xf32>
}

// -----

// A concatenation along an open axis: its cotangent is cut by kiln.split
// into pieces as long as the operands (offsets known at run time).
// CHECK-LABEL: func.func private @open_axis_vjp_0_1_seeded(
// CHECK-SAME: %[[X:[^:]*]]: tensor<?x3xf32>, %[[Y:[^:]*]]: tensor<2x3xf32>, %[[G:[^:]*]]: tensor<?x3xf32>
// CHECK: %[[DX:.*]]:2 = kiln.split %[[G]] like %[[X]], %[[Y]] {axis = 0 : i64} : tensor<?x3xf32> like tensor<?x3xf32>, tensor<2x3xf32> -> tensor<?x3xf32>, tensor<2x3xf32>
// CHECK: return %{{.*}}, %[[DX]]#0, %[[DX]]#1
func.func @open_axis(%x: tensor<?x3xf32>, %y: tensor<2x3xf32>) -> tensor<?x3xf32> {
  %c = kiln.concat %x, %y {axis = 0 : i64} : (tensor<?x3xf32>, tensor<2x3xf32>) -> tensor<?x3xf32>
  return %c : tensor<?x3xf32>
}
func.func @dopen_axis(%x: tensor<?x3xf32>, %y: tensor<2x3xf32>, %g: tensor<?x3xf32>) -> (tensor<?x3xf32>, tensor<2x3xf32>) {
  %dx, %dy = kiln.grad @open_axis(%x, %y) seeds(%g : tensor<?x3xf32>) {wrt = array<i64: 0, 1>} : (tensor<?x3xf32>, tensor<2x3xf32>) -> (tensor<?x3xf32>, tensor<2x3xf32>)
  return %dx, %dy : tensor<?x3xf32>, tensor<2x3xf32>
}

// -----

// A split's cotangent joins the pieces' back, zeros for a piece without
// one (its open extent read from that piece).
// CHECK-LABEL: func.func private @halves_vjp_0_seeded(
// CHECK: %[[P:.*]]:2 = kiln.split
// CHECK: %[[Z:.*]] = kiln.broadcast_to %{{.*}} like %[[P]]#1
// CHECK: kiln.concat %{{.*}}, %[[Z]] {axis = 0 : i64} : (tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
func.func @halves(%x: tensor<?x3xf32>, %a: tensor<?x3xf32>, %b: tensor<?x3xf32>) -> tensor<?x3xf32> {
  %p:2 = kiln.split %x like %a, %b {axis = 0 : i64} : tensor<?x3xf32> like tensor<?x3xf32>, tensor<?x3xf32> -> tensor<?x3xf32>, tensor<?x3xf32>
  %e = kiln.exp %p#0 : tensor<?x3xf32>
  return %e : tensor<?x3xf32>
}
func.func @dhalves(%x: tensor<?x3xf32>, %a: tensor<?x3xf32>, %b: tensor<?x3xf32>, %g: tensor<?x3xf32>) -> tensor<?x3xf32> {
  %d = kiln.grad @halves(%x, %a, %b) seeds(%g : tensor<?x3xf32>) {wrt = array<i64: 0>} : (tensor<?x3xf32>, tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
  return %d : tensor<?x3xf32>
}

// -----

// A strided slice of a fixed dimension beside an open one: the spread
// cotangent is cut in the fixed dimension and taken whole in the open one
// (found by the random programs: the cut had a static limit there).
// CHECK-LABEL: func.func private @strided_open_vjp_0_seeded(
// CHECK: kiln.slice %{{.*}} {limit = array<i64: 1, -1>, start = array<i64: 0, 0>, stride = array<i64: 1, 1>} : tensor<2x?xf64> -> tensor<1x?xf64>
func.func @strided_open(%x: tensor<1x?xf64>) -> tensor<1x?xf64> {
  %s = kiln.slice %x {start = array<i64: 0, 0>, limit = array<i64: 1, -1>, stride = array<i64: 2, 1>} : tensor<1x?xf64> -> tensor<1x?xf64>
  return %s : tensor<1x?xf64>
}
func.func @dstrided_open(%x: tensor<1x?xf64>, %g: tensor<1x?xf64>) -> tensor<1x?xf64> {
  %d = kiln.grad @strided_open(%x) seeds(%g : tensor<1x?xf64>) {wrt = array<i64: 0>} : (tensor<1x?xf64>) -> tensor<1x?xf64>
  return %d : tensor<1x?xf64>
}

// -----

// A slice that takes nothing has zeros for a cotangent (found by the
// random programs: spreading the empty cotangent beside an open extent
// reshaped a tensor without elements to an open extent).
// CHECK-LABEL: func.func private @empty_slice_vjp_0_seeded(
// CHECK-NOT: kiln.pad
// CHECK: kiln.broadcast_to %{{.*}} like %arg0 : tensor<f64>, tensor<?x3xf64> -> tensor<?x3xf64>
func.func @empty_slice(%x: tensor<?x3xf64>) -> tensor<?x0xf64> {
  %s = kiln.slice %x {start = array<i64: 0, 3>, limit = array<i64: -1, 3>, stride = array<i64: 1, 3>} : tensor<?x3xf64> -> tensor<?x0xf64>
  return %s : tensor<?x0xf64>
}
func.func @dempty_slice(%x: tensor<?x3xf64>, %g: tensor<?x0xf64>) -> tensor<?x3xf64> {
  %d = kiln.grad @empty_slice(%x) seeds(%g : tensor<?x0xf64>) {wrt = array<i64: 0>} : (tensor<?x3xf64>) -> tensor<?x3xf64>
  return %d : tensor<?x3xf64>
}
