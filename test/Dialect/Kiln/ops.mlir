// Round trip of every Kiln op: print -> parse -> print (custom form), and
// through the generic form.
// RUN: tensor-opt %s | tensor-opt | FileCheck %s
// RUN: tensor-opt %s --mlir-print-op-generic | tensor-opt | FileCheck %s

// CHECK-LABEL: func.func @generators
func.func @generators(%seed: tensor<i64>, %open: tensor<?x3xf32>) {
  // CHECK: kiln.constant dense<{{\[}}[1.000000e+00, 2.000000e+00]]> : tensor<1x2xf32>
  %c = kiln.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  // CHECK: kiln.constant dense<true> : tensor<2xi1>
  %b = kiln.constant dense<true> : tensor<2xi1>
  // CHECK: kiln.iota {dimension = 1 : i64} : tensor<2x3xi32>
  %i = kiln.iota {dimension = 1 : i64} : tensor<2x3xi32>
  // CHECK: kiln.random_uniform {maxval = 2.000000e+00 : f64, static_seed = 7 : i64} : tensor<3x4xf32>
  %u = kiln.random_uniform {static_seed = 7 : i64, maxval = 2.0 : f64} : tensor<3x4xf32>
  // CHECK: kiln.random_uniform %{{.*}} : tensor<3x4xf64>
  %u2 = kiln.random_uniform %seed : tensor<3x4xf64>
  // CHECK: kiln.random_normal {static_seed = 1 : i64, stddev = 1.000000e-01 : f64} : tensor<16xbf16>
  %n = kiln.random_normal {static_seed = 1 : i64, stddev = 0.1 : f64} : tensor<16xbf16>
  // CHECK: kiln.truncated_normal %{{.*}} {mean = 5.000000e-01 : f64} : tensor<5x5xf16>
  %t = kiln.truncated_normal %seed {mean = 0.5 : f64} : tensor<5x5xf16>
  // CHECK: kiln.random_uniform %{{.*}} like %[[OPEN:.*]] : tensor<?x3xf32>, tensor<?x3xf32>
  %l = kiln.random_uniform %seed like %open : tensor<?x3xf32>, tensor<?x3xf32>
  // CHECK: kiln.iota like %[[OPEN]] {dimension = 1 : i64} : tensor<?x3xi32>, tensor<?x3xf32>
  %iota = kiln.iota like %open {dimension = 1 : i64} : tensor<?x3xi32>, tensor<?x3xf32>
  // CHECK: kiln.random_normal like %[[OPEN]] {static_seed = 2 : i64} : tensor<?x3xf16>, tensor<?x3xf32>
  %l2 = kiln.random_normal like %open {static_seed = 2 : i64} : tensor<?x3xf16>, tensor<?x3xf32>
  return
}

// CHECK-LABEL: func.func @unary
// CHECK-SAME: (%[[X:[a-zA-Z0-9_]+]]: tensor<2x3xf32>, %[[I:[a-zA-Z0-9_]+]]: tensor<4xi32>, %[[B:[a-zA-Z0-9_]+]]: tensor<i1>, %{{.*}}: tensor<?x3xf32>)
func.func @unary(%x: tensor<2x3xf32>, %i: tensor<4xi32>, %b: tensor<i1>, %open: tensor<?x3xf32>) {
  // CHECK: kiln.neg %[[X]] : tensor<2x3xf32>
  %0 = kiln.neg %x : tensor<2x3xf32>
  // CHECK: kiln.neg %[[I]] : tensor<4xi32>
  %1 = kiln.neg %i : tensor<4xi32>
  // CHECK: kiln.abs %[[X]] : tensor<2x3xf32>
  %2 = kiln.abs %x : tensor<2x3xf32>
  // CHECK: kiln.abs %[[I]] : tensor<4xi32>
  %3 = kiln.abs %i : tensor<4xi32>
  // CHECK: kiln.exp %[[X]] : tensor<2x3xf32>
  %4 = kiln.exp %x : tensor<2x3xf32>
  // CHECK: kiln.log %[[X]] : tensor<2x3xf32>
  %5 = kiln.log %x : tensor<2x3xf32>
  // CHECK: kiln.log1p %[[X]] : tensor<2x3xf32>
  %6 = kiln.log1p %x : tensor<2x3xf32>
  // CHECK: kiln.expm1 %[[X]] : tensor<2x3xf32>
  %e1 = kiln.expm1 %x : tensor<2x3xf32>
  // CHECK: kiln.erfc %[[X]] : tensor<2x3xf32>
  %e2 = kiln.erfc %x : tensor<2x3xf32>
  // CHECK: kiln.sqrt %[[X]] : tensor<2x3xf32>
  %7 = kiln.sqrt %x : tensor<2x3xf32>
  // CHECK: kiln.rsqrt %[[X]] : tensor<2x3xf32>
  %8 = kiln.rsqrt %x : tensor<2x3xf32>
  // CHECK: kiln.tanh %[[X]] : tensor<2x3xf32>
  %9 = kiln.tanh %x : tensor<2x3xf32>
  // CHECK: kiln.sigmoid %[[X]] : tensor<2x3xf32>
  %10 = kiln.sigmoid %x : tensor<2x3xf32>
  // CHECK: kiln.relu %[[X]] : tensor<2x3xf32>
  %11 = kiln.relu %x : tensor<2x3xf32>
  // CHECK: kiln.relu %[[I]] : tensor<4xi32>
  %12 = kiln.relu %i : tensor<4xi32>
  // CHECK: kiln.sin %[[X]] : tensor<2x3xf32>
  %13 = kiln.sin %x : tensor<2x3xf32>
  // CHECK: kiln.cos %[[X]] : tensor<2x3xf32>
  %14 = kiln.cos %x : tensor<2x3xf32>
  // CHECK: kiln.sign %[[X]] : tensor<2x3xf32>
  %15 = kiln.sign %x : tensor<2x3xf32>
  // CHECK: kiln.sign %[[I]] : tensor<4xi32>
  %16 = kiln.sign %i : tensor<4xi32>
  // CHECK: kiln.floor %[[X]] : tensor<2x3xf32>
  %17 = kiln.floor %x : tensor<2x3xf32>
  // CHECK: kiln.ceil %[[X]] : tensor<2x3xf32>
  %18 = kiln.ceil %x : tensor<2x3xf32>
  // CHECK: kiln.square %[[X]] : tensor<2x3xf32>
  %19 = kiln.square %x : tensor<2x3xf32>
  // CHECK: kiln.lgamma %[[X]] : tensor<2x3xf32>
  %sp0 = kiln.lgamma %x : tensor<2x3xf32>
  // CHECK: kiln.digamma %[[X]] : tensor<2x3xf32>
  %sp1 = kiln.digamma %x : tensor<2x3xf32>
  // CHECK: kiln.polygamma %[[X]] {order = 2 : i64} : tensor<2x3xf32>
  %sp2 = kiln.polygamma %x {order = 2 : i64} : tensor<2x3xf32>
  // CHECK: kiln.erfinv %[[X]] : tensor<2x3xf32>
  %sp3 = kiln.erfinv %x : tensor<2x3xf32>
  // CHECK: kiln.square %[[I]] : tensor<4xi32>
  %20 = kiln.square %i : tensor<4xi32>
  // CHECK: kiln.reciprocal %[[X]] : tensor<2x3xf32>
  %21 = kiln.reciprocal %x : tensor<2x3xf32>
  // CHECK: kiln.logical_not %[[B]] : tensor<i1>
  %22 = kiln.logical_not %b : tensor<i1>
  // CHECK: kiln.known_value %[[X]], %{{.*}} : tensor<2x3xf32>, tensor<2x3xf32> -> tensor<2x3xf32>
  %23 = kiln.known_value %x, %21 : tensor<2x3xf32>, tensor<2x3xf32> -> tensor<2x3xf32>
  // CHECK: kiln.known_value %[[X]], %{{.*}} : tensor<2x3xf32>, tensor<?x3xf32> -> tensor<2x3xf32>
  %24 = kiln.known_value %x, %open : tensor<2x3xf32>, tensor<?x3xf32> -> tensor<2x3xf32>
  return
}

// CHECK-LABEL: func.func @binary
func.func @binary(%x: tensor<4x3xf32>, %y: tensor<3xf32>, %s: tensor<f32>,
                  %i: tensor<4x1xi64>, %j: tensor<5xi64>,
                  %p: tensor<4xi1>, %q: tensor<i1>) {
  // CHECK: kiln.add %{{.*}}, %{{.*}} : tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
  %0 = kiln.add %x, %y : tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
  // CHECK: kiln.sub %{{.*}}, %{{.*}} : tensor<f32>, tensor<4x3xf32> -> tensor<4x3xf32>
  %1 = kiln.sub %s, %x : tensor<f32>, tensor<4x3xf32> -> tensor<4x3xf32>
  // CHECK: kiln.mul %{{.*}}, %{{.*}} : tensor<4x1xi64>, tensor<5xi64> -> tensor<4x5xi64>
  %2 = kiln.mul %i, %j : tensor<4x1xi64>, tensor<5xi64> -> tensor<4x5xi64>
  // CHECK: kiln.div %{{.*}}, %{{.*}} : tensor<4x3xf32>, tensor<f32> -> tensor<4x3xf32>
  %3 = kiln.div %x, %s : tensor<4x3xf32>, tensor<f32> -> tensor<4x3xf32>
  // CHECK: kiln.rem %{{.*}}, %{{.*}} : tensor<4x3xf32>, tensor<f32> -> tensor<4x3xf32>
  %r = kiln.rem %x, %s : tensor<4x3xf32>, tensor<f32> -> tensor<4x3xf32>
  // CHECK: kiln.pow %{{.*}}, %{{.*}} : tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
  %4 = kiln.pow %x, %y : tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
  // CHECK: kiln.maximum %{{.*}}, %{{.*}} : tensor<4x3xf32>, tensor<f32> -> tensor<4x3xf32>
  %5 = kiln.maximum %x, %s : tensor<4x3xf32>, tensor<f32> -> tensor<4x3xf32>
  // CHECK: kiln.minimum %{{.*}}, %{{.*}} : tensor<4x1xi64>, tensor<5xi64> -> tensor<4x5xi64>
  %6 = kiln.minimum %i, %j : tensor<4x1xi64>, tensor<5xi64> -> tensor<4x5xi64>
  // CHECK: kiln.logical_and %{{.*}}, %{{.*}} : tensor<4xi1>, tensor<i1> -> tensor<4xi1>
  %7 = kiln.logical_and %p, %q : tensor<4xi1>, tensor<i1> -> tensor<4xi1>
  // CHECK: kiln.logical_or %{{.*}}, %{{.*}} : tensor<4xi1>, tensor<4xi1> -> tensor<4xi1>
  %8 = kiln.logical_or %p, %p : tensor<4xi1>, tensor<4xi1> -> tensor<4xi1>
  // CHECK: kiln.compare eq, %{{.*}}, %{{.*}} : tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xi1>
  %9 = kiln.compare eq, %x, %y : tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xi1>
  // CHECK: kiln.compare ne
  %10 = kiln.compare ne, %i, %j : tensor<4x1xi64>, tensor<5xi64> -> tensor<4x5xi1>
  // CHECK: kiln.compare lt
  %11 = kiln.compare lt, %x, %s : tensor<4x3xf32>, tensor<f32> -> tensor<4x3xi1>
  // CHECK: kiln.compare le
  %12 = kiln.compare le, %x, %s : tensor<4x3xf32>, tensor<f32> -> tensor<4x3xi1>
  // CHECK: kiln.compare gt
  %13 = kiln.compare gt, %x, %s : tensor<4x3xf32>, tensor<f32> -> tensor<4x3xi1>
  // CHECK: kiln.compare ge
  %14 = kiln.compare ge, %p, %q : tensor<4xi1>, tensor<i1> -> tensor<4xi1>
  // CHECK: kiln.select %{{.*}}, %{{.*}}, %{{.*}} : tensor<4x3xi1>, tensor<4x3xf32>, tensor<f32> -> tensor<4x3xf32>
  %15 = kiln.select %9, %x, %s : tensor<4x3xi1>, tensor<4x3xf32>, tensor<f32> -> tensor<4x3xf32>
  // CHECK: kiln.cast %{{.*}} : tensor<4x3xf32> -> tensor<4x3xi32>
  %16 = kiln.cast %x : tensor<4x3xf32> -> tensor<4x3xi32>
  // CHECK: kiln.cast %{{.*}} : tensor<4xi1> -> tensor<4xbf16>
  %17 = kiln.cast %p : tensor<4xi1> -> tensor<4xbf16>
  return
}

// CHECK-LABEL: func.func @reductions
func.func @reductions(%x: tensor<2x3x4xf32>, %i: tensor<5x6xi32>) {
  // CHECK: kiln.reduce_sum %{{.*}} {axes = array<i64: 1>} : tensor<2x3x4xf32> -> tensor<2x4xf32>
  %0 = kiln.reduce_sum %x {axes = array<i64: 1>} : tensor<2x3x4xf32> -> tensor<2x4xf32>
  // CHECK: kiln.reduce_mean %{{.*}} {axes = array<i64: 0, -1>, keepdims = true} : tensor<2x3x4xf32> -> tensor<1x3x1xf32>
  %1 = kiln.reduce_mean %x {axes = array<i64: 0, -1>, keepdims = true} : tensor<2x3x4xf32> -> tensor<1x3x1xf32>
  // CHECK: kiln.reduce_max {{.*}} -> tensor<f32>
  %2 = kiln.reduce_max %x {axes = array<i64: 0, 1, 2>} : tensor<2x3x4xf32> -> tensor<f32>
  // CHECK: kiln.reduce_min {{.*}} -> tensor<6xi32>
  %3 = kiln.reduce_min %i {axes = array<i64: 0>} : tensor<5x6xi32> -> tensor<6xi32>
  // CHECK: kiln.reduce_prod {{.*}} -> tensor<5xi32>
  %4 = kiln.reduce_prod %i {axes = array<i64: 1>} : tensor<5x6xi32> -> tensor<5xi32>
  // CHECK: kiln.argmax %{{.*}} {axis = 2 : i64} : tensor<2x3x4xf32> -> tensor<2x3xi64>
  %5 = kiln.argmax %x {axis = 2 : i64} : tensor<2x3x4xf32> -> tensor<2x3xi64>
  // CHECK: kiln.argmin %{{.*}} {axis = -2 : i64} : tensor<5x6xi32> -> tensor<6xi64>
  %6 = kiln.argmin %i {axis = -2 : i64} : tensor<5x6xi32> -> tensor<6xi64>
  return
}

// CHECK-LABEL: func.func @sorts
func.func @sorts(%x: tensor<2x3x4xf32>, %i: tensor<?x6xi64>) {
  // CHECK: kiln.sort %{{.*}} : tensor<2x3x4xf32> -> tensor<2x3x4xf32>, tensor<2x3x4xi32>
  %0, %1 = kiln.sort %x : tensor<2x3x4xf32> -> tensor<2x3x4xf32>, tensor<2x3x4xi32>
  // CHECK: kiln.sort %{{.*}} {descending} : tensor<?x6xi64> -> tensor<?x6xi64>, tensor<?x6xi32>
  %2, %3 = kiln.sort %i {descending} : tensor<?x6xi64> -> tensor<?x6xi64>, tensor<?x6xi32>
  return
}

// CHECK-LABEL: func.func @broadcast_like
func.func @broadcast_like(%v: tensor<3xf32>, %b: tensor<?x3xf32>) -> tensor<?x3xf32> {
  // CHECK: kiln.broadcast_to %{{.*}} like %{{.*}} : tensor<3xf32>, tensor<?x3xf32> -> tensor<?x3xf32>
  %0 = kiln.broadcast_to %v like %b : tensor<3xf32>, tensor<?x3xf32> -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// CHECK-LABEL: func.func @shapes
func.func @shapes(%x: tensor<2x3xf32>, %y: tensor<1x3xf32>, %v: tensor<3xf32>,
                  %t: tensor<10x4xf32>, %ids: tensor<3xi32>, %r: tensor<3x4xf32>,
                  %l: tensor<32xi64>) {
  // CHECK: kiln.reshape %{{.*}} : tensor<2x3xf32> -> tensor<6xf32>
  %0 = kiln.reshape %x : tensor<2x3xf32> -> tensor<6xf32>
  // CHECK: kiln.reshape %{{.*}} like %{{.*}} : tensor<6xf32>, tensor<3x4xf32> -> tensor<?x?xf32>
  %like = kiln.reshape %0 like %r : tensor<6xf32>, tensor<3x4xf32> -> tensor<?x?xf32>
  // CHECK: kiln.transpose %{{.*}} {permutation = array<i64: 1, 0>} : tensor<2x3xf32> -> tensor<3x2xf32>
  %1 = kiln.transpose %x {permutation = array<i64: 1, 0>} : tensor<2x3xf32> -> tensor<3x2xf32>
  // CHECK: kiln.broadcast_to %{{.*}} : tensor<3xf32> -> tensor<4x3xf32>
  %2 = kiln.broadcast_to %v : tensor<3xf32> -> tensor<4x3xf32>
  // CHECK: kiln.expand_dims %{{.*}} {axis = -1 : i64} : tensor<3xf32> -> tensor<3x1xf32>
  %3 = kiln.expand_dims %v {axis = -1 : i64} : tensor<3xf32> -> tensor<3x1xf32>
  // CHECK: kiln.dim %{{.*}} {axis = 1 : i64} : tensor<1x3xf32> -> tensor<i64>
  %dim = kiln.dim %y {axis = 1 : i64} : tensor<1x3xf32> -> tensor<i64>
  // CHECK: kiln.squeeze %{{.*}} {axes = array<i64: 0>} : tensor<1x3xf32> -> tensor<3xf32>
  %4 = kiln.squeeze %y {axes = array<i64: 0>} : tensor<1x3xf32> -> tensor<3xf32>
  // CHECK: kiln.squeeze %{{.*}} {axes = array<i64>} : tensor<1x3xf32> -> tensor<3xf32>
  %5 = kiln.squeeze %y {axes = array<i64>} : tensor<1x3xf32> -> tensor<3xf32>
  // CHECK: kiln.concat %{{.*}}, %{{.*}} {axis = 0 : i64} : (tensor<2x3xf32>, tensor<1x3xf32>) -> tensor<3x3xf32>
  %6 = kiln.concat %x, %y {axis = 0 : i64} : (tensor<2x3xf32>, tensor<1x3xf32>) -> tensor<3x3xf32>
  // CHECK: kiln.split %{{.*}} like %{{.*}}, %{{.*}} {axis = 0 : i64} : tensor<3x3xf32> like tensor<2x3xf32>, tensor<1x3xf32> -> tensor<2x3xf32>, tensor<1x3xf32>
  %split:2 = kiln.split %6 like %x, %y {axis = 0 : i64} : tensor<3x3xf32> like tensor<2x3xf32>, tensor<1x3xf32> -> tensor<2x3xf32>, tensor<1x3xf32>
  // CHECK: kiln.slice %{{.*}} {limit = array<i64: 9, 4>, start = array<i64: 1, 0>, stride = array<i64: 2, 3>} : tensor<10x4xf32> -> tensor<4x2xf32>
  %7 = kiln.slice %t {start = array<i64: 1, 0>, limit = array<i64: 9, 4>, stride = array<i64: 2, 3>} : tensor<10x4xf32> -> tensor<4x2xf32>
  // CHECK: kiln.pad %{{.*}} {high = array<i64: 0, 2>, low = array<i64: 1, 0>, value = -1.000000e+00 : f64} : tensor<2x3xf32> -> tensor<3x5xf32>
  %8 = kiln.pad %x {low = array<i64: 1, 0>, high = array<i64: 0, 2>, value = -1.0 : f64} : tensor<2x3xf32> -> tensor<3x5xf32>
  // CHECK: kiln.gather %{{.*}}, %{{.*}} : tensor<10x4xf32>, tensor<3xi32> -> tensor<3x4xf32>
  %9 = kiln.gather %t, %ids : tensor<10x4xf32>, tensor<3xi32> -> tensor<3x4xf32>
  // CHECK: kiln.gather %{{.*}}, %{{.*}} {axis = 1 : i64} : tensor<10x4xf32>, tensor<3xi32> -> tensor<10x3xf32>
  %10 = kiln.gather %t, %ids {axis = 1 : i64} : tensor<10x4xf32>, tensor<3xi32> -> tensor<10x3xf32>
  // CHECK: kiln.scatter_add %{{.*}}, %{{.*}}, %{{.*}} : tensor<10x4xf32>, tensor<3xi32>, tensor<3x4xf32> -> tensor<10x4xf32>
  %11 = kiln.scatter_add %t, %ids, %r : tensor<10x4xf32>, tensor<3xi32>, tensor<3x4xf32> -> tensor<10x4xf32>
  // CHECK: kiln.scatter_reduce max, %{{.*}}, %{{.*}}, %{{.*}} : tensor<10x4xf32>, tensor<3xi32>, tensor<3x4xf32> -> tensor<10x4xf32>
  %m = kiln.scatter_reduce max, %t, %ids, %r : tensor<10x4xf32>, tensor<3xi32>, tensor<3x4xf32> -> tensor<10x4xf32>
  // CHECK: kiln.scatter_reduce prod, %{{.*}}, %{{.*}}, %{{.*}} {axis = 1 : i64} : tensor<10x4xf32>, tensor<3xi32>, tensor<10x3xf32> -> tensor<10x4xf32>
  %p = kiln.scatter_reduce prod, %t, %ids, %10 {axis = 1 : i64} : tensor<10x4xf32>, tensor<3xi32>, tensor<10x3xf32> -> tensor<10x4xf32>
  // CHECK: kiln.one_hot %{{.*}} {depth = 10 : i64} : tensor<32xi64> -> tensor<32x10xf32>
  %12 = kiln.one_hot %l {depth = 10 : i64} : tensor<32xi64> -> tensor<32x10xf32>
  // CHECK: kiln.one_hot %{{.*}} {axis = 0 : i64, depth = 3 : i64, off_value = -1.000000e+00 : f64} : tensor<32xi64> -> tensor<3x32xi32>
  %13 = kiln.one_hot %l {depth = 3 : i64, axis = 0 : i64, off_value = -1.0 : f64} : tensor<32xi64> -> tensor<3x32xi32>
  return
}

// CHECK-LABEL: func.func @linalg
func.func @linalg(%a: tensor<4x8xf32>, %b: tensor<8x2xf32>, %e: tensor<2x8xf32>,
                  %c: tensor<5x4x8xf64>, %d: tensor<8x2xf64>) {
  // CHECK: kiln.matmul %{{.*}}, %{{.*}} : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
  %0 = kiln.matmul %a, %b : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
  // CHECK: kiln.matmul %{{.*}}, %{{.*}} {transpose_rhs = true} : tensor<4x8xf32>, tensor<2x8xf32> -> tensor<4x2xf32>
  %1 = kiln.matmul %a, %e {transpose_rhs = true} : tensor<4x8xf32>, tensor<2x8xf32> -> tensor<4x2xf32>
  // CHECK: kiln.matmul %{{.*}}, %{{.*}} {transpose_lhs = true} : tensor<4x8xf32>, tensor<4x8xf32> -> tensor<8x8xf32>
  %2 = kiln.matmul %a, %a {transpose_lhs = true} : tensor<4x8xf32>, tensor<4x8xf32> -> tensor<8x8xf32>
  // CHECK: kiln.batch_matmul %{{.*}}, %{{.*}} : tensor<5x4x8xf64>, tensor<8x2xf64> -> tensor<5x4x2xf64>
  %3 = kiln.batch_matmul %c, %d : tensor<5x4x8xf64>, tensor<8x2xf64> -> tensor<5x4x2xf64>
  return
}

// CHECK-LABEL: func.func @nn
func.func @nn(%x: tensor<1x28x28x1xf32>, %w: tensor<3x3x1x16xf32>,
              %dy: tensor<1x14x14x16xf32>, %p: tensor<1x4x4x3xf32>,
              %dp: tensor<1x2x2x3xf32>, %logits: tensor<32x10xf32>,
              %labels: tensor<32x10xf32>, %ids: tensor<32xi32>) {
  // CHECK: kiln.conv2d %{{.*}}, %{{.*}} {padding = #kiln.padding<SAME>, strides = array<i64: 2, 2>} : tensor<1x28x28x1xf32>, tensor<3x3x1x16xf32> -> tensor<1x14x14x16xf32>
  %0 = kiln.conv2d %x, %w {padding = #kiln.padding<SAME>, strides = array<i64: 2, 2>} : tensor<1x28x28x1xf32>, tensor<3x3x1x16xf32> -> tensor<1x14x14x16xf32>
  // CHECK: kiln.conv2d %{{.*}}, %{{.*}} {dilations = array<i64: 2, 2>} : tensor<1x28x28x1xf32>, tensor<3x3x1x16xf32> -> tensor<1x24x24x16xf32>
  %1 = kiln.conv2d %x, %w {dilations = array<i64: 2, 2>, padding = #kiln.padding<VALID>} : tensor<1x28x28x1xf32>, tensor<3x3x1x16xf32> -> tensor<1x24x24x16xf32>
  // CHECK: kiln.conv2d_backprop_input %{{.*}}, %{{.*}} {padding = #kiln.padding<SAME>, strides = array<i64: 2, 2>} : tensor<3x3x1x16xf32>, tensor<1x14x14x16xf32> -> tensor<1x28x28x1xf32>
  %2 = kiln.conv2d_backprop_input %w, %dy {padding = #kiln.padding<SAME>, strides = array<i64: 2, 2>} : tensor<3x3x1x16xf32>, tensor<1x14x14x16xf32> -> tensor<1x28x28x1xf32>
  // CHECK: kiln.conv2d_backprop_filter %{{.*}}, %{{.*}} {padding = #kiln.padding<SAME>, strides = array<i64: 2, 2>} : tensor<1x28x28x1xf32>, tensor<1x14x14x16xf32> -> tensor<3x3x1x16xf32>
  %3 = kiln.conv2d_backprop_filter %x, %dy {padding = #kiln.padding<SAME>, strides = array<i64: 2, 2>} : tensor<1x28x28x1xf32>, tensor<1x14x14x16xf32> -> tensor<3x3x1x16xf32>
  // CHECK: kiln.max_pool2d %{{.*}} {strides = array<i64: 2, 2>, window = array<i64: 2, 2>} : tensor<1x4x4x3xf32> -> tensor<1x2x2x3xf32>
  %4 = kiln.max_pool2d %p {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<1x4x4x3xf32> -> tensor<1x2x2x3xf32>
  // CHECK: kiln.avg_pool2d %{{.*}} {padding = #kiln.padding<SAME>, strides = array<i64: 3, 3>, window = array<i64: 3, 3>} : tensor<1x4x4x3xf32> -> tensor<1x2x2x3xf32>
  %5 = kiln.avg_pool2d %p {window = array<i64: 3, 3>, strides = array<i64: 3, 3>, padding = #kiln.padding<SAME>} : tensor<1x4x4x3xf32> -> tensor<1x2x2x3xf32>
  // CHECK: kiln.max_pool2d_grad %{{.*}}, %{{.*}} {strides = array<i64: 2, 2>, window = array<i64: 2, 2>} : tensor<1x4x4x3xf32>, tensor<1x2x2x3xf32> -> tensor<1x4x4x3xf32>
  %6 = kiln.max_pool2d_grad %p, %dp {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<1x4x4x3xf32>, tensor<1x2x2x3xf32> -> tensor<1x4x4x3xf32>
  // CHECK: kiln.max_pool2d_select %{{.*}}, %{{.*}} {strides = array<i64: 2, 2>, window = array<i64: 2, 2>} : tensor<1x4x4x3xf32>, tensor<1x4x4x3xf32> -> tensor<1x2x2x3xf32>
  %sel = kiln.max_pool2d_select %p, %p {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<1x4x4x3xf32>, tensor<1x4x4x3xf32> -> tensor<1x2x2x3xf32>
  // CHECK: kiln.avg_pool2d_grad %{{.*}} {strides = array<i64: 2, 2>, window = array<i64: 2, 2>} : tensor<1x2x2x3xf32> -> tensor<1x4x4x3xf32>
  %7 = kiln.avg_pool2d_grad %dp {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<1x2x2x3xf32> -> tensor<1x4x4x3xf32>
  // CHECK: kiln.softmax %{{.*}} : tensor<32x10xf32> -> tensor<32x10xf32>
  %8 = kiln.softmax %logits : tensor<32x10xf32> -> tensor<32x10xf32>
  // CHECK: kiln.log_softmax %{{.*}} {axis = 0 : i64} : tensor<32x10xf32> -> tensor<32x10xf32>
  %9 = kiln.log_softmax %logits {axis = 0 : i64} : tensor<32x10xf32> -> tensor<32x10xf32>
  // CHECK: kiln.softmax_cross_entropy %{{.*}}, %{{.*}} : tensor<32x10xf32>, tensor<32x10xf32> -> tensor<32xf32>
  %10 = kiln.softmax_cross_entropy %logits, %labels : tensor<32x10xf32>, tensor<32x10xf32> -> tensor<32xf32>
  // CHECK: kiln.sparse_softmax_cross_entropy %{{.*}}, %{{.*}} : tensor<32x10xf32>, tensor<32xi32> -> tensor<32xf32>
  %11 = kiln.sparse_softmax_cross_entropy %logits, %ids : tensor<32x10xf32>, tensor<32xi32> -> tensor<32xf32>
  return
}

// CHECK-LABEL: func.func @control_flow
func.func @control_flow(%p: tensor<i1>, %a: tensor<f32>, %limit: tensor<f32>,
                        %n: tensor<i64>) -> (tensor<f32>, tensor<f32>, tensor<f32>) {
  // CHECK: kiln.cond %{{.*}} -> (tensor<f32>) {
  // CHECK:   kiln.yield %{{.*}} : tensor<f32>
  // CHECK: } else {
  // CHECK:   kiln.neg
  // CHECK:   kiln.yield
  // CHECK: }
  %r = kiln.cond %p -> (tensor<f32>) {
    kiln.yield %a : tensor<f32>
  } else {
    %neg = kiln.neg %a : tensor<f32>
    kiln.yield %neg : tensor<f32>
  }
  // CHECK: kiln.cond %{{.*}} {
  // CHECK-NEXT: kiln.yield
  // CHECK-NEXT: } else {
  kiln.cond %p {
    kiln.yield
  } else {
    kiln.yield
  }
  // CHECK: kiln.while(%{{.*}} : tensor<f32>) cond {
  // CHECK: ^bb0(%[[X:.*]]: tensor<f32>):
  // CHECK:   kiln.compare lt, %[[X]]
  // CHECK: } do {
  // CHECK:   kiln.add
  %w = kiln.while (%a : tensor<f32>) cond {
  ^bb0(%x: tensor<f32>):
    %c = kiln.compare lt, %x, %limit : tensor<f32>, tensor<f32> -> tensor<i1>
    kiln.condition(%c) %x : tensor<f32>
  } do {
  ^bb0(%x: tensor<f32>):
    %y = kiln.add %x, %x : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.yield %y : tensor<f32>
  }
  // CHECK: kiln.for %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} : tensor<f32>) do {
  // CHECK: ^bb0(%{{.*}}: tensor<i64>, %{{.*}}: tensor<f32>):
  %zero = kiln.constant dense<0> : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %s = kiln.for %zero to %n step %one iter_args(%a : tensor<f32>) do {
  ^bb0(%i: tensor<i64>, %acc: tensor<f32>):
    %f = kiln.cast %i : tensor<i64> -> tensor<f32>
    %next = kiln.add %acc, %f : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.yield %next : tensor<f32>
  }
  return %r, %w, %s : tensor<f32>, tensor<f32>, tensor<f32>
}

// Kiln functions call each other with func.call.
// CHECK-LABEL: func.func @caller
// CHECK: call @control_flow
func.func @caller(%p: tensor<i1>, %a: tensor<f32>, %n: tensor<i64>) -> tensor<f32> {
  %0:3 = func.call @control_flow(%p, %a, %a, %n) : (tensor<i1>, tensor<f32>, tensor<f32>, tensor<i64>) -> (tensor<f32>, tensor<f32>, tensor<f32>)
  return %0#0 : tensor<f32>
}

// Gradient requests.
// CHECK-LABEL: func.func @requests
// CHECK: kiln.grad @caller(%{{.*}}, %{{.*}}, %{{.*}}) {wrt = array<i64: 1>} : (tensor<i1>, tensor<f32>, tensor<i64>) -> tensor<f32>
// CHECK: kiln.value_and_grad @dynamic_free(%{{.*}}) seeds(%{{.*}} : tensor<3xf32>) {wrt = array<i64: 0>} : (tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>)
func.func @requests(%p: tensor<i1>, %a: tensor<f32>, %n: tensor<i64>, %v: tensor<3xf32>) -> (tensor<f32>, tensor<3xf32>) {
  %g = kiln.grad @caller(%p, %a, %n) {wrt = array<i64: 1>} : (tensor<i1>, tensor<f32>, tensor<i64>) -> tensor<f32>
  %y, %gy = kiln.value_and_grad @dynamic_free(%v) seeds(%v : tensor<3xf32>) {wrt = array<i64: 0>} : (tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>)
  return %g, %gy : tensor<f32>, tensor<3xf32>
}
func.func @dynamic_free(%v: tensor<3xf32>) -> tensor<3xf32> {
  %0 = kiln.exp %v : tensor<3xf32>
  return %0 : tensor<3xf32>
}

// Results may be less refined than inferred (a dynamic batch dimension).
// CHECK-LABEL: func.func @dynamic
func.func @dynamic(%x: tensor<?x3xf32>, %y: tensor<3xf32>, %w: tensor<3x5xf32>) -> tensor<?x5xf32> {
  // CHECK: kiln.add %{{.*}}, %{{.*}} : tensor<?x3xf32>, tensor<3xf32> -> tensor<?x3xf32>
  %0 = kiln.add %x, %y : tensor<?x3xf32>, tensor<3xf32> -> tensor<?x3xf32>
  // CHECK: kiln.matmul {{.*}} -> tensor<?x5xf32>
  %1 = kiln.matmul %0, %w : tensor<?x3xf32>, tensor<3x5xf32> -> tensor<?x5xf32>
  return %1 : tensor<?x5xf32>
}

// CHECK-LABEL: func.func @tapes
// CHECK: %[[T:.*]] = kiln.tape_new %{{.*}} : tensor<?x3xf32>
// CHECK: %[[W:.*]] = kiln.tape_write %[[T]][%{{.*}}], %{{.*}} : tensor<?x3xf32>, tensor<3xf32>
// CHECK: kiln.tape_read %[[W]][%{{.*}}] : tensor<?x3xf32> -> tensor<3xf32>
func.func @tapes(%n: tensor<i64>, %v: tensor<3xf32>) -> tensor<3xf32> {
  %t = kiln.tape_new %n : tensor<?x3xf32>
  %w = kiln.tape_write %t[%n], %v : tensor<?x3xf32>, tensor<3xf32>
  %r = kiln.tape_read %w[%n] : tensor<?x3xf32> -> tensor<3xf32>
  return %r : tensor<3xf32>
}

// CHECK: kiln.variable @v_weights : tensor<2x3xf32>{{$}}
// CHECK: kiln.variable @v_bias : tensor<3xf32> = dense<5.000000e-01>
// CHECK: kiln.variable @v_step : tensor<i64> = dense<0>
kiln.variable @v_weights : tensor<2x3xf32>
kiln.variable @v_bias : tensor<3xf32> = dense<0.5>
kiln.variable @v_step : tensor<i64> = dense<0>

// CHECK-LABEL: func.func @variables
// CHECK: %[[W:.*]] = kiln.read_variable @v_weights : tensor<2x3xf32>
// CHECK: kiln.assign_variable @v_weights, %[[W]] : tensor<2x3xf32>
// CHECK: kiln.grad @v_loss(%{{.*}}) {wrt_variables = [@v_weights, @v_bias]} : (tensor<1x2xf32>) -> (tensor<2x3xf32>, tensor<3xf32>)
// CHECK: kiln.value_and_grad @v_loss(%{{.*}}) {wrt = array<i64: 0>, wrt_all_variables} : (tensor<1x2xf32>) -> (tensor<f32>, tensor<1x2xf32>, tensor<2x3xf32>, tensor<3xf32>)
func.func private @v_loss(%x: tensor<1x2xf32>) -> tensor<f32> {
  %w = kiln.read_variable @v_weights : tensor<2x3xf32>
  %b = kiln.read_variable @v_bias : tensor<3xf32>
  %y = kiln.matmul %x, %w : tensor<1x2xf32>, tensor<2x3xf32> -> tensor<1x3xf32>
  %z = kiln.add %y, %b : tensor<1x3xf32>, tensor<3xf32> -> tensor<1x3xf32>
  %s = kiln.reduce_sum %z {axes = array<i64: 0, 1>} : tensor<1x3xf32> -> tensor<f32>
  return %s : tensor<f32>
}
func.func @variables(%x: tensor<1x2xf32>) {
  %w = kiln.read_variable @v_weights : tensor<2x3xf32>
  kiln.assign_variable @v_weights, %w : tensor<2x3xf32>
  %g:2 = kiln.grad @v_loss(%x) {wrt_variables = [@v_weights, @v_bias]} : (tensor<1x2xf32>) -> (tensor<2x3xf32>, tensor<3xf32>)
  %v:4 = kiln.value_and_grad @v_loss(%x) {wrt = array<i64: 0>, wrt_all_variables} : (tensor<1x2xf32>) -> (tensor<f32>, tensor<1x2xf32>, tensor<2x3xf32>, tensor<3xf32>)
  return
}

// CHECK-LABEL: func.func @printing
func.func @printing(%x: tensor<2x3xf32>, %n: tensor<i64>) {
  // CHECK: kiln.print ["x = ", " n = ", "\0A"] %{{.*}}, %{{.*}} : tensor<2x3xf32>, tensor<i64> {summarize = -1 : i64}
  kiln.print ["x = ", " n = ", "\0A"] %x, %n : tensor<2x3xf32>, tensor<i64> {summarize = -1 : i64}
  // CHECK: kiln.print ["done\0A"] {stream = 1 : i64}
  kiln.print ["done\0A"] {stream = 1 : i64}
  return
}

func.func private @cv_fwd(%x: tensor<3xf32>) -> tensor<3xf32> {
  return %x : tensor<3xf32>
}
func.func private @cv_bwd(%x: tensor<3xf32>, %y: tensor<3xf32>, %dy: tensor<3xf32>) -> tensor<3xf32> {
  return %dy : tensor<3xf32>
}
// CHECK-LABEL: func.func @custom
func.func @custom(%x: tensor<3xf32>) -> tensor<3xf32> {
  // CHECK: kiln.custom_vjp @cv_fwd, @cv_bwd(%{{.*}}) : (tensor<3xf32>) -> tensor<3xf32>
  %y = kiln.custom_vjp @cv_fwd, @cv_bwd(%x) : (tensor<3xf32>) -> tensor<3xf32>
  return %y : tensor<3xf32>
}

// CHECK-LABEL: func.func @summaries
func.func @summaries(%l: tensor<f32>, %s: tensor<i64>) {
  // CHECK: kiln.summary_scalar "loss" = %{{.*}} at %{{.*}} to "logs/scalars.csv" : tensor<f32>, tensor<i64>
  kiln.summary_scalar "loss" = %l at %s to "logs/scalars.csv" : tensor<f32>, tensor<i64>
  return
}

// CHECK-LABEL: func.func @asserts
func.func @asserts(%ok: tensor<i1>) {
  // CHECK: kiln.assert %{{.*}}, "integer division by zero" : tensor<i1>
  kiln.assert %ok, "integer division by zero" : tensor<i1>
  return
}

// CHECK-LABEL: func.func @collectives
// CHECK: kiln.all_reduce mean, %{{.*}} : tensor<4x3xf32>
// CHECK: kiln.all_reduce max, %{{.*}} {group = "rows"} : tensor<2xi64>
// CHECK: kiln.broadcast_from %{{.*}} {root = 1 : i64} : tensor<4x3xf32>
// CHECK: kiln.all_gather %{{.*}} {axis = 1 : i64} : tensor<4x3xf32> -> tensor<4x?xf32>
// CHECK: kiln.all_gather %{{.*}} : tensor<4x3xf32> -> tensor<8x3xf32>
// CHECK: kiln.reduce_scatter sum, %{{.*}} : tensor<4x3xf32> -> tensor<?x3xf32>
// CHECK: kiln.group_rank : tensor<i64>
// CHECK: kiln.group_size {group = "rows"} : tensor<i64>
// CHECK: %[[P:.*]] = kiln.all_reduce_start sum, %{{.*}} {group = "rows"} : tensor<2xi64>
// CHECK: kiln.all_reduce_done %[[P]] : tensor<2xi64>
func.func @collectives(%x: tensor<4x3xf32>, %i: tensor<2xi64>) {
  %0 = kiln.all_reduce mean, %x : tensor<4x3xf32>
  %1 = kiln.all_reduce max, %i {group = "rows"} : tensor<2xi64>
  %2 = kiln.broadcast_from %x {root = 1 : i64} : tensor<4x3xf32>
  %3 = kiln.all_gather %x {axis = 1 : i64} : tensor<4x3xf32> -> tensor<4x?xf32>
  %4 = kiln.all_gather %x {group = "world"} : tensor<4x3xf32> -> tensor<8x3xf32>
  %5 = kiln.reduce_scatter sum, %x : tensor<4x3xf32> -> tensor<?x3xf32>
  %6 = kiln.group_rank : tensor<i64>
  %7 = kiln.group_size {group = "rows"} : tensor<i64>
  %8 = kiln.all_reduce_start sum, %i {group = "rows"} : tensor<2xi64>
  %9 = kiln.all_reduce_done %8 : tensor<2xi64>
  return
}

// Bitwise ops take integers of either width and broadcast as the others.
// CHECK-LABEL: func.func @bitwise
func.func @bitwise(%i: tensor<4x1xi64>, %j: tensor<5xi64>, %k: tensor<3xi32>) {
  // CHECK: kiln.bitwise_and %{{.*}}, %{{.*}} : tensor<4x1xi64>, tensor<5xi64> -> tensor<4x5xi64>
  %0 = kiln.bitwise_and %i, %j : tensor<4x1xi64>, tensor<5xi64> -> tensor<4x5xi64>
  // CHECK: kiln.bitwise_or %{{.*}}, %{{.*}} : tensor<3xi32>, tensor<3xi32> -> tensor<3xi32>
  %1 = kiln.bitwise_or %k, %k : tensor<3xi32>, tensor<3xi32> -> tensor<3xi32>
  // CHECK: kiln.bitwise_xor
  %2 = kiln.bitwise_xor %k, %k : tensor<3xi32>, tensor<3xi32> -> tensor<3xi32>
  // CHECK: kiln.bitwise_not %{{.*}} : tensor<3xi32>
  %3 = kiln.bitwise_not %k : tensor<3xi32>
  // CHECK: kiln.shift_left %{{.*}}, %{{.*}} : tensor<4x1xi64>, tensor<5xi64> -> tensor<4x5xi64>
  %4 = kiln.shift_left %i, %j : tensor<4x1xi64>, tensor<5xi64> -> tensor<4x5xi64>
  // CHECK: kiln.shift_right_arithmetic
  %5 = kiln.shift_right_arithmetic %k, %k : tensor<3xi32>, tensor<3xi32> -> tensor<3xi32>
  // CHECK: kiln.shift_right_logical
  %6 = kiln.shift_right_logical %k, %k : tensor<3xi32>, tensor<3xi32> -> tensor<3xi32>
  return
}

// CHECK-LABEL: func.func @bitcasts
func.func @bitcasts(%f: tensor<4xf32>, %d: tensor<?xf64>, %p: tensor<3x2xi32>) {
  // CHECK: kiln.bitcast %{{.*}} : tensor<4xf32> -> tensor<4xi32>
  %0 = kiln.bitcast %f : tensor<4xf32> -> tensor<4xi32>
  // CHECK: kiln.bitcast %{{.*}} : tensor<?xf64> -> tensor<?x2xi32>
  %1 = kiln.bitcast %d : tensor<?xf64> -> tensor<?x2xi32>
  // CHECK: kiln.bitcast %{{.*}} : tensor<3x2xi32> -> tensor<3xf64>
  %2 = kiln.bitcast %p : tensor<3x2xi32> -> tensor<3xf64>
  return
}
