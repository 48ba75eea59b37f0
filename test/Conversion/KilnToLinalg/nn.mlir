// RUN: tensor-opt %s --convert-kiln-to-linalg --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @matmuls
// CHECK: %[[Z:.*]] = linalg.fill
// CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<4x8xf32>, tensor<8x2xf32>) outs(%[[Z]] : tensor<4x2xf32>)
// A transposed operand is an indexing map, not a transpose.
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[NK:.*]], #{{.*}}], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK: arith.mulf
// CHECK: arith.addf
func.func @matmuls(%a: tensor<4x8xf32>, %b: tensor<8x2xf32>, %e: tensor<2x8xf32>) -> (tensor<4x2xf32>, tensor<4x2xf32>) {
  %0 = kiln.matmul %a, %b : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
  %1 = kiln.matmul %a, %e {transpose_rhs = true} : tensor<4x8xf32>, tensor<2x8xf32> -> tensor<4x2xf32>
  return %0, %1 : tensor<4x2xf32>, tensor<4x2xf32>
}

// -----

// Batch dimensions broadcast through the maps: lhs has batch extent 1.
// CHECK-DAG: #[[L:.*]] = affine_map<(d0, d1, d2, d3) -> (0, d1, d3)>
// CHECK-DAG: #[[R:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>
// CHECK-DAG: #[[O:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @batch_matmul
// CHECK: linalg.generic {indexing_maps = [#[[L]], #[[R]], #[[O]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
func.func @batch_matmul(%a: tensor<1x4x8xf32>, %b: tensor<5x8x2xf32>) -> tensor<5x4x2xf32> {
  %0 = kiln.batch_matmul %a, %b : tensor<1x4x8xf32>, tensor<5x8x2xf32> -> tensor<5x4x2xf32>
  return %0 : tensor<5x4x2xf32>
}

// -----

// SAME padding pads explicitly, then the named convolution.
// CHECK-LABEL: func.func @conv
// CHECK: %[[P:.*]] = tensor.insert_slice %{{.*}} into %{{.*}}[0, 1, 1, 0] [1, 5, 5, 2] [1, 1, 1, 1] : tensor<1x5x5x2xf32> into tensor<1x7x7x2xf32>
// CHECK: linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>} ins(%[[P]], %{{.*}} : tensor<1x7x7x2xf32>, tensor<3x3x2x4xf32>)
func.func @conv(%x: tensor<1x5x5x2xf32>, %w: tensor<3x3x2x4xf32>) -> tensor<1x3x3x4xf32> {
  %0 = kiln.conv2d %x, %w {padding = #kiln.padding<SAME>, strides = array<i64: 2, 2>} : tensor<1x5x5x2xf32>, tensor<3x3x2x4xf32> -> tensor<1x3x3x4xf32>
  return %0 : tensor<1x3x3x4xf32>
}

// -----

// Input gradient: dilate dy by the strides, pad, convolve with the flipped
// filter (spatially reversed, channels swapped).
// CHECK-DAG: #[[FLIP:.*]] = affine_map<(d0, d1, d2, d3) -> (-d0 + 2, -d1 + 2, d3, d2)>
// CHECK-LABEL: func.func @conv_backprop_input
// CHECK: %[[D:.*]] = tensor.insert_slice %{{.*}} into %{{.*}}[0, 0, 0, 0] [1, 3, 3, 4] [1, 2, 2, 1] : tensor<1x3x3x4xf32> into tensor<1x5x5x4xf32>
// CHECK: %[[P:.*]] = tensor.insert_slice %[[D]] into %{{.*}}[0, 1, 1, 0] [1, 5, 5, 4]
// CHECK: %[[F:.*]] = linalg.generic {indexing_maps = [#[[FLIP]], #{{.*}}]
// CHECK: linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%[[P]], %[[F]] : tensor<1x7x7x4xf32>, tensor<3x3x4x2xf32>)
func.func @conv_backprop_input(%w: tensor<3x3x2x4xf32>, %dy: tensor<1x3x3x4xf32>) -> tensor<1x5x5x2xf32> {
  %0 = kiln.conv2d_backprop_input %w, %dy {padding = #kiln.padding<SAME>, strides = array<i64: 2, 2>} : tensor<3x3x2x4xf32>, tensor<1x3x3x4xf32> -> tensor<1x5x5x2xf32>
  return %0 : tensor<1x5x5x2xf32>
}

// -----

// Filter gradient: a contraction over (n, y, x) with strided input indices.
// CHECK-DAG: #[[IN:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d4, d5 * 2 + d0, d6 * 2 + d1, d2)>
// CHECK-DAG: #[[DY:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d4, d5, d6, d3)>
// CHECK-DAG: #[[DW:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @conv_backprop_filter
// CHECK: linalg.generic {indexing_maps = [#[[IN]], #[[DY]], #[[DW]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
func.func @conv_backprop_filter(%x: tensor<1x5x5x2xf32>, %dy: tensor<1x3x3x4xf32>) -> tensor<3x3x2x4xf32> {
  %0 = kiln.conv2d_backprop_filter %x, %dy {padding = #kiln.padding<SAME>, strides = array<i64: 2, 2>} : tensor<1x5x5x2xf32>, tensor<1x3x3x4xf32> -> tensor<3x3x2x4xf32>
  return %0 : tensor<3x3x2x4xf32>
}

// -----

// Max pooling pads with -inf; average pooling sums and divides by the count
// of real elements in each window.
// CHECK-LABEL: func.func @pools
// CHECK: %[[NINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK: linalg.fill ins(%[[NINF]] : f32)
// CHECK: linalg.pooling_nhwc_max {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
// CHECK: linalg.pooling_nhwc_sum
// CHECK: linalg.generic
// CHECK: linalg.index 1
// CHECK: arith.minsi
// CHECK: arith.maxsi
// CHECK: arith.divf
func.func @pools(%x: tensor<1x5x5x3xf32>) -> (tensor<1x3x3x3xf32>, tensor<1x3x3x3xf32>) {
  %0 = kiln.max_pool2d %x {window = array<i64: 2, 2>, strides = array<i64: 2, 2>, padding = #kiln.padding<SAME>} : tensor<1x5x5x3xf32> -> tensor<1x3x3x3xf32>
  %1 = kiln.avg_pool2d %x {window = array<i64: 2, 2>, strides = array<i64: 2, 2>, padding = #kiln.padding<SAME>} : tensor<1x5x5x3xf32> -> tensor<1x3x3x3xf32>
  return %0, %1 : tensor<1x3x3x3xf32>, tensor<1x3x3x3xf32>
}

// -----

// The pooling gradients are written in gather form: one independent
// computation per input position (a parallel linalg.generic over dx that
// reads x and dy), summing over the windows that contain it; for max
// pooling, only where that window's first maximum lies.
// CHECK-LABEL: func.func @pool_grads
// CHECK-NOT: scf.for
// CHECK-NOT: tensor.insert
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel"]} outs(
// CHECK: linalg.index 1
// CHECK: tensor.extract %{{.*}} : tensor<1x4x4x1xf32>
// CHECK: arith.cmpf ogt
// CHECK: arith.cmpi eq
// CHECK: tensor.extract %{{.*}} : tensor<1x2x2x1xf32>
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel"]} outs(
// CHECK: tensor.extract %{{.*}} : tensor<1x2x2x1xf32>
// CHECK: arith.divf
// CHECK: arith.addf
// CHECK-NOT: tensor.insert
func.func @pool_grads(%x: tensor<1x4x4x1xf32>, %dy: tensor<1x2x2x1xf32>) -> (tensor<1x4x4x1xf32>, tensor<1x4x4x1xf32>) {
  %0 = kiln.max_pool2d_grad %x, %dy {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<1x4x4x1xf32>, tensor<1x2x2x1xf32> -> tensor<1x4x4x1xf32>
  %1 = kiln.avg_pool2d_grad %dy {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<1x2x2x1xf32> -> tensor<1x4x4x1xf32>
  return %0, %1 : tensor<1x4x4x1xf32>, tensor<1x4x4x1xf32>
}

// -----

// softmax = exp(x - max - log(sum(exp(x - max)))): the maximum is
// subtracted before any exponential.
// CHECK-LABEL: func.func @softmax
// CHECK: %[[MAX:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: arith.maximumf
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: arith.subf
// CHECK-NEXT: math.exp
// CHECK: math.log
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]
// CHECK: arith.subf
// CHECK: arith.subf
// CHECK: math.exp
func.func @softmax(%x: tensor<4x10xf32>) -> tensor<4x10xf32> {
  %0 = kiln.softmax %x : tensor<4x10xf32> -> tensor<4x10xf32>
  return %0 : tensor<4x10xf32>
}

// -----

// CHECK-LABEL: func.func @sparse_xent
// CHECK: math.log
// CHECK: linalg.generic
// CHECK: %[[IN:.*]] = arith.andi
// CHECK: tensor.extract
// CHECK: %[[NAN:.*]] = arith.constant 0x7FC00000 : f32
// CHECK: arith.select %[[IN]], %{{.*}}, %[[NAN]]
func.func @sparse_xent(%l: tensor<4x10xf32>, %y: tensor<4xi32>) -> tensor<4xf32> {
  %0 = kiln.sparse_softmax_cross_entropy %l, %y : tensor<4x10xf32>, tensor<4xi32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
