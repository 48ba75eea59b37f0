// RUN: tensor-opt %s --convert-kiln-to-linalg --canonicalize --cse --split-input-file | FileCheck %s

// Convolutions and pooling with an open batch: every tensor the lowering
// makes takes the batch extent of the op's input (or gradient); where two
// operands' batches must agree, a cf.assert names the op.

// CHECK-LABEL: func.func @conv_same
// CHECK-SAME: (%[[X:.*]]: tensor<?x8x8x1xf32>
// CHECK: %[[N:.*]] = tensor.dim %[[X]], %c0
// CHECK: tensor.empty(%[[N]]) : tensor<?x10x10x1xf32>
// CHECK: tensor.insert_slice %[[X]] into %{{.*}}[0, 1, 1, 0] [%[[N]], 8, 8, 1] [1, 1, 1, 1]
// CHECK: tensor.empty(%[[N]]) : tensor<?x8x8x4xf32>
// CHECK: linalg.conv_2d_nhwc_hwcf {{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x10x10x1xf32>, tensor<3x3x1x4xf32>) outs(%{{.*}} : tensor<?x8x8x4xf32>)
// CHECK-NOT: cf.assert
func.func @conv_same(%x: tensor<?x8x8x1xf32>, %w: tensor<3x3x1x4xf32>) -> tensor<?x8x8x4xf32> {
  %0 = kiln.conv2d %x, %w {padding = #kiln.padding<SAME>} : tensor<?x8x8x1xf32>, tensor<3x3x1x4xf32> -> tensor<?x8x8x4xf32>
  return %0 : tensor<?x8x8x4xf32>
}

// -----

// The input gradient: dy dilated by the strides and padded, a stride-1
// convolution, all with dy's batch.
// CHECK-LABEL: func.func @conv_input_gradient
// CHECK-SAME: (%[[W:.*]]: tensor<3x3x1x4xf32>, %[[DY:.*]]: tensor<?x4x4x4xf32>)
// CHECK: %[[N:.*]] = tensor.dim %[[DY]], %c0
// CHECK: tensor.empty(%[[N]]) : tensor<?x7x7x4xf32>
// CHECK: tensor.insert_slice %[[DY]] into %{{.*}}[0, 0, 0, 0] [%[[N]], 4, 4, 4] [1, 2, 2, 1]
// CHECK: tensor.empty(%[[N]]) : tensor<?x10x10x4xf32>
// CHECK: tensor.empty(%[[N]]) : tensor<?x8x8x1xf32>
// CHECK: linalg.conv_2d_nhwc_hwcf {{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x10x10x4xf32>, tensor<3x3x4x1xf32>) outs(%{{.*}} : tensor<?x8x8x1xf32>)
func.func @conv_input_gradient(%w: tensor<3x3x1x4xf32>, %dy: tensor<?x4x4x4xf32>) -> tensor<?x8x8x1xf32> {
  %0 = kiln.conv2d_backprop_input %w, %dy {padding = #kiln.padding<SAME>, strides = array<i64: 2, 2>} : tensor<3x3x1x4xf32>, tensor<?x4x4x4xf32> -> tensor<?x8x8x1xf32>
  return %0 : tensor<?x8x8x1xf32>
}

// -----

// The filter gradient sums over the batch: its two operands' batches must
// agree.
// CHECK-LABEL: func.func @conv_filter_gradient
// CHECK-SAME: (%[[X:.*]]: tensor<?x8x8x1xf32>, %[[DY:.*]]: tensor<?x6x6x4xf32>)
// CHECK-DAG: %[[NX:.*]] = tensor.dim %[[X]], %c0
// CHECK-DAG: %[[ND:.*]] = tensor.dim %[[DY]], %c0
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[NX]], %[[ND]]
// CHECK: cf.assert %[[OK]], "{{.*}}open-batch-windows.mlir:{{[0-9]+}}:{{[0-9]+}}: the batch extents of input and out_backprop of 'kiln.conv2d_backprop_filter' differ"
// CHECK: linalg.generic {{.*}} ins(%[[X]], %[[DY]] : tensor<?x8x8x1xf32>, tensor<?x6x6x4xf32>) outs(%{{.*}} : tensor<3x3x1x4xf32>)
func.func @conv_filter_gradient(%x: tensor<?x8x8x1xf32>, %dy: tensor<?x6x6x4xf32>) -> tensor<3x3x1x4xf32> {
  %0 = kiln.conv2d_backprop_filter %x, %dy : tensor<?x8x8x1xf32>, tensor<?x6x6x4xf32> -> tensor<3x3x1x4xf32>
  return %0 : tensor<3x3x1x4xf32>
}

// -----

// CHECK-LABEL: func.func @pools
// CHECK-SAME: (%[[X:.*]]: tensor<?x5x5x3xf32>)
// CHECK: %[[N:.*]] = tensor.dim %[[X]], %c0
// CHECK: tensor.empty(%[[N]]) : tensor<?x6x6x3xf32>
// CHECK: linalg.pooling_nhwc_max {{.*}} outs(%{{.*}} : tensor<?x3x3x3xf32>)
// CHECK: linalg.pooling_nhwc_sum {{.*}} outs(%{{.*}} : tensor<?x2x2x3xf32>)
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<?x2x2x3xf32>) outs(%{{.*}} : tensor<?x2x2x3xf32>)
func.func @pools(%x: tensor<?x5x5x3xf32>) -> (tensor<?x3x3x3xf32>, tensor<?x2x2x3xf32>) {
  %0 = kiln.max_pool2d %x {window = array<i64: 2, 2>, strides = array<i64: 2, 2>, padding = #kiln.padding<SAME>} : tensor<?x5x5x3xf32> -> tensor<?x3x3x3xf32>
  %1 = kiln.avg_pool2d %x {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<?x5x5x3xf32> -> tensor<?x2x2x3xf32>
  return %0, %1 : tensor<?x3x3x3xf32>, tensor<?x2x2x3xf32>
}

// -----

// Pooling gradients and max_pool2d_select: the result's batch is that of
// the input (max) or of the gradient (average); max's input and gradient
// must agree.
// CHECK-LABEL: func.func @pool_gradients
// CHECK-SAME: (%[[X:.*]]: tensor<?x4x4x3xf32>, %[[DY:.*]]: tensor<?x2x2x3xf32>, %[[S:.*]]: tensor<4x4x4x3xf32>)
// CHECK-DAG: %[[NX:.*]] = tensor.dim %[[X]], %c0
// CHECK-DAG: %[[ND:.*]] = tensor.dim %[[DY]], %c0
// CHECK: cf.assert %{{.*}}, "{{.*}}the batch extents of input and out_backprop of 'kiln.max_pool2d_grad' differ"
// CHECK: tensor.empty(%[[NX]]) : tensor<?x4x4x3xf32>
// CHECK: tensor.empty(%[[ND]]) : tensor<?x4x4x3xf32>
// CHECK: cf.assert %{{.*}}, "{{.*}}the batch extents of input and source of 'kiln.max_pool2d_select' differ"
// CHECK: tensor.empty(%[[NX]]) : tensor<?x2x2x3xf32>
func.func @pool_gradients(%x: tensor<?x4x4x3xf32>, %dy: tensor<?x2x2x3xf32>, %s: tensor<4x4x4x3xf32>) -> (tensor<?x4x4x3xf32>, tensor<?x4x4x3xf32>, tensor<?x2x2x3xf32>) {
  %0 = kiln.max_pool2d_grad %x, %dy {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<?x4x4x3xf32>, tensor<?x2x2x3xf32> -> tensor<?x4x4x3xf32>
  %1 = kiln.avg_pool2d_grad %dy {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<?x2x2x3xf32> -> tensor<?x4x4x3xf32>
  %2 = kiln.max_pool2d_select %x, %s {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<?x4x4x3xf32>, tensor<4x4x4x3xf32> -> tensor<?x2x2x3xf32>
  return %0, %1, %2 : tensor<?x4x4x3xf32>, tensor<?x4x4x3xf32>, tensor<?x2x2x3xf32>
}

// -----

// A static result batch with an open operand: the operand's batch is
// checked against it.
// CHECK-LABEL: func.func @static_result_batch
// CHECK-SAME: (%[[DY:.*]]: tensor<?x2x2x3xf32>)
// CHECK: %[[N:.*]] = tensor.dim %[[DY]], %c0
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[N]], %c2
// CHECK: cf.assert %[[OK]], "{{.*}}the batch extent of the result of 'kiln.avg_pool2d_grad' differs from its operand's"
func.func @static_result_batch(%dy: tensor<?x2x2x3xf32>) -> tensor<2x4x4x3xf32> {
  %0 = kiln.avg_pool2d_grad %dy {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<?x2x2x3xf32> -> tensor<2x4x4x3xf32>
  return %0 : tensor<2x4x4x3xf32>
}
