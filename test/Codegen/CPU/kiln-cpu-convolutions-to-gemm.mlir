// RUN: tensor-opt %s --split-input-file --convert-kiln-to-linalg --kiln-cpu-convolutions-to-gemm | FileCheck %s

// A stride-2 convolution: the patches (2 images x 4 x 4 pixels, each a
// 3 x 3 x 3 window) are copied with channels innermost, then multiplied by
// the filters seen as a 27 x 8 matrix; the result is a view of the 32 x 8
// product.
// CHECK-DAG: #[[PATCH:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1 * 2 + d3, d2 * 2 + d4, d5)>
// CHECK-LABEL: func.func @forward
// CHECK-SAME: (%[[X:.*]]: tensor<2x9x9x3xf32>, %[[W:.*]]: tensor<3x3x3x8xf32>)
// CHECK: %[[P:.*]] = linalg.generic {indexing_maps = [#[[PATCH]], {{.*}}]{{.*}} ins(%[[X]] : tensor<2x9x9x3xf32>) outs(%{{.*}} : tensor<2x4x4x3x3x3xf32>)
// CHECK: linalg.yield
// CHECK-DAG: %[[A:.*]] = tensor.collapse_shape %[[P]] {{\[\[}}0, 1, 2], [3, 4, 5]] : tensor<2x4x4x3x3x3xf32> into tensor<32x27xf32>
// CHECK-DAG: %[[B:.*]] = tensor.collapse_shape %[[W]] {{\[\[}}0, 1, 2], [3]] : tensor<3x3x3x8xf32> into tensor<27x8xf32>
// CHECK: %[[M:.*]] = linalg.matmul ins(%[[A]], %[[B]] : tensor<32x27xf32>, tensor<27x8xf32>)
// CHECK: tensor.expand_shape %[[M]] {{\[\[}}0, 1, 2], [3]] output_shape [2, 4, 4, 8]
// CHECK-NOT: linalg.conv_2d
func.func @forward(%x: tensor<2x9x9x3xf32>, %w: tensor<3x3x3x8xf32>) -> tensor<2x4x4x8xf32> {
  %y = kiln.conv2d %x, %w {padding = #kiln.padding<VALID>, strides = array<i64: 2, 2>} : tensor<2x9x9x3xf32>, tensor<3x3x3x8xf32> -> tensor<2x4x4x8xf32>
  return %y : tensor<2x4x4x8xf32>
}

// -----

// The filter gradient: the same patches, read transposed, times the output
// gradient (27 x 32 by 32 x 8).
// CHECK-DAG: #[[AT:.*]] = affine_map<(d0, d1, d2) -> (d2, d0)>
// CHECK-DAG: #[[BT:.*]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-LABEL: func.func @filter_gradient
// CHECK-SAME: (%[[X:.*]]: tensor<2x9x9x3xf32>, %[[DY:.*]]: tensor<2x4x4x8xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[X]] : tensor<2x9x9x3xf32>) outs(%{{.*}} : tensor<2x4x4x3x3x3xf32>)
// CHECK: %[[G:.*]] = tensor.collapse_shape %[[DY]] {{\[\[}}0, 1, 2], [3]] : tensor<2x4x4x8xf32> into tensor<32x8xf32>
// CHECK: linalg.matmul indexing_maps = [#[[AT]], #[[BT]], {{.*}}] ins(%{{.*}}, %[[G]] : tensor<32x27xf32>, tensor<32x8xf32>) outs(%{{.*}} : tensor<27x8xf32>)
// CHECK: tensor.expand_shape {{.*}} output_shape [3, 3, 3, 8]
func.func @filter_gradient(%x: tensor<2x9x9x3xf32>, %dy: tensor<2x4x4x8xf32>) -> tensor<3x3x3x8xf32> {
  %dw = kiln.conv2d_backprop_filter %x, %dy {padding = #kiln.padding<VALID>, strides = array<i64: 2, 2>} : tensor<2x9x9x3xf32>, tensor<2x4x4x8xf32> -> tensor<3x3x3x8xf32>
  return %dw : tensor<3x3x3x8xf32>
}

// -----

// An open batch: the patches take the images' extent, the product has an
// open row count (n * oh * ow), and the result is a view of it.
// CHECK-LABEL: func.func @open_batch
// CHECK-SAME: (%[[X:.*]]: tensor<?x9x9x3xf32>, %[[W:.*]]: tensor<3x3x3x8xf32>, %{{.*}}: tensor<?x4x4x8xf32>)
// CHECK: %[[N:.*]] = tensor.dim %[[X]], %c0
// CHECK: tensor.empty(%{{.*}}) : tensor<?x4x4x3x3x3xf32>
// CHECK: tensor.collapse_shape %{{.*}} {{\[\[}}0, 1, 2], [3, 4, 5]] : tensor<?x4x4x3x3x3xf32> into tensor<?x27xf32>
// CHECK: %[[M:.*]] = linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<?x27xf32>, tensor<27x8xf32>)
// CHECK: tensor.expand_shape %[[M]] {{\[\[}}0, 1, 2], [3]] output_shape [%{{.*}}, 4, 4, 8] : tensor<?x8xf32> into tensor<?x4x4x8xf32>
// CHECK: linalg.matmul {{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x27xf32>, tensor<?x8xf32>) outs(%{{.*}} : tensor<27x8xf32>)
// CHECK-NOT: linalg.conv_2d
func.func @open_batch(%x: tensor<?x9x9x3xf32>, %w: tensor<3x3x3x8xf32>, %dy: tensor<?x4x4x8xf32>) -> (tensor<?x4x4x8xf32>, tensor<3x3x3x8xf32>) {
  %y = kiln.conv2d %x, %w {padding = #kiln.padding<VALID>, strides = array<i64: 2, 2>} : tensor<?x9x9x3xf32>, tensor<3x3x3x8xf32> -> tensor<?x4x4x8xf32>
  %dw = kiln.conv2d_backprop_filter %x, %dy {padding = #kiln.padding<VALID>, strides = array<i64: 2, 2>} : tensor<?x9x9x3xf32>, tensor<?x4x4x8xf32> -> tensor<3x3x3x8xf32>
  return %y, %dw : tensor<?x4x4x8xf32>, tensor<3x3x3x8xf32>
}
