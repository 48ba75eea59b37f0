// RUN: tensor-opt %s --convert-kiln-to-linalg --split-input-file | FileCheck %s

// Reshapes go through a rank-1 view (views only after bufferization).
// CHECK-LABEL: func.func @reshapes
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0, 1]] : tensor<2x3xf32> into tensor<6xf32>
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0, 1]] output_shape [3, 2] : tensor<6xf32> into tensor<3x2xf32>
// CHECK: tensor.expand_shape %{{.*}} [] output_shape [1] : tensor<f32> into tensor<1xf32>
// CHECK: tensor.collapse_shape %{{.*}} [] : tensor<1xf32> into tensor<f32>
func.func @reshapes(%x: tensor<2x3xf32>, %s: tensor<f32>, %one: tensor<1x1xf32>) -> (tensor<3x2xf32>, tensor<1xf32>, tensor<f32>) {
  %0 = kiln.reshape %x : tensor<2x3xf32> -> tensor<3x2xf32>
  %1 = kiln.expand_dims %s {axis = 0 : i64} : tensor<f32> -> tensor<1xf32>
  %2 = kiln.squeeze %one {axes = array<i64>} : tensor<1x1xf32> -> tensor<f32>
  return %0, %1, %2 : tensor<3x2xf32>, tensor<1xf32>, tensor<f32>
}

// -----

// CHECK-DAG: #[[SRC:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-LABEL: func.func @data_movement
// CHECK: linalg.transpose ins(%{{.*}} : tensor<2x3xf32>) outs(%{{.*}} : tensor<3x2xf32>) permutation = [1, 0]
// CHECK: linalg.generic {indexing_maps = [#[[SRC]], #{{.*}}]
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 0] [2, 3] [1, 1]
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[2, 0] [1, 3] [1, 1]
// CHECK: tensor.extract_slice %{{.*}}[1, 0] [4, 2] [2, 2] : tensor<10x4xf32> to tensor<4x2xf32>
// CHECK: %[[PV:.*]] = arith.constant -1.000000e+00 : f32
// CHECK: %[[PF:.*]] = linalg.fill ins(%[[PV]] : f32)
// CHECK: tensor.insert_slice %{{.*}} into %[[PF]][1, 0] [2, 3] [1, 1]
func.func @data_movement(%x: tensor<2x3xf32>, %y: tensor<1x3xf32>, %t: tensor<10x4xf32>) -> (tensor<3x2xf32>, tensor<4x2x3xf32>, tensor<3x3xf32>, tensor<4x2xf32>, tensor<3x5xf32>) {
  %0 = kiln.transpose %x {permutation = array<i64: 1, 0>} : tensor<2x3xf32> -> tensor<3x2xf32>
  %1 = kiln.broadcast_to %x : tensor<2x3xf32> -> tensor<4x2x3xf32>
  %2 = kiln.concat %x, %y {axis = 0 : i64} : (tensor<2x3xf32>, tensor<1x3xf32>) -> tensor<3x3xf32>
  %3 = kiln.slice %t {start = array<i64: 1, 0>, limit = array<i64: 9, 4>, stride = array<i64: 2, 2>} : tensor<10x4xf32> -> tensor<4x2xf32>
  %4 = kiln.pad %x {low = array<i64: 1, 0>, high = array<i64: 0, 2>, value = -1.0 : f64} : tensor<2x3xf32> -> tensor<3x5xf32>
  return %0, %1, %2, %3, %4 : tensor<3x2xf32>, tensor<4x2x3xf32>, tensor<3x3xf32>, tensor<4x2xf32>, tensor<3x5xf32>
}

// -----

// gather reads the indices through the indexing map and the table with
// tensor.extract at a clamped index; out-of-range indices give 0.
// CHECK-DAG: #[[IDX:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @gather
// CHECK-SAME: (%[[T:.*]]: tensor<10x4xf32>, %[[I:.*]]: tensor<3xi32>)
// CHECK: linalg.generic {indexing_maps = [#[[IDX]], #{{.*}}]{{.*}} ins(%[[I]] : tensor<3xi32>)
// CHECK: %[[C:.*]] = arith.minsi
// CHECK: %[[V:.*]] = tensor.extract %[[T]][%[[C]], %{{.*}}]
// CHECK: arith.select %{{.*}}, %[[V]], %{{.*}}
func.func @gather(%t: tensor<10x4xf32>, %ids: tensor<3xi32>) -> tensor<3x4xf32> {
  %0 = kiln.gather %t, %ids : tensor<10x4xf32>, tensor<3xi32> -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// -----

// scatter_add is a loop over the indexed rows that accumulates in place;
// each in-range row is a slice added by one linalg.generic (vectorized like
// any elementwise op), out-of-range rows are skipped.
// CHECK-LABEL: func.func @scatter_add
// CHECK-SAME: (%[[B:.*]]: tensor<10x4xf32>, %[[I:.*]]: tensor<3xi32>, %[[U:.*]]: tensor<3x4xf32>)
// CHECK: scf.for %[[R:.*]] = {{.*}} iter_args(%[[ACC:.*]] = %[[B]])
// CHECK-NOT: scf.for
// CHECK: tensor.extract %[[I]][%[[R]]]
// CHECK: scf.if %{{.*}} -> (tensor<10x4xf32>)
// CHECK: %[[ROW:.*]] = tensor.extract_slice %[[ACC]][%[[J:.*]], 0] [1, 4] [1, 1] : tensor<10x4xf32> to tensor<4xf32>
// CHECK: %[[UPD:.*]] = tensor.extract_slice %[[U]][%[[R]], 0] [1, 4] [1, 1] : tensor<3x4xf32> to tensor<4xf32>
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[UPD]] : tensor<4xf32>) outs(%[[ROW]] : tensor<4xf32>)
// CHECK: arith.addf
// CHECK: tensor.insert_slice %[[SUM]] into %[[ACC]][%[[J]], 0] [1, 4] [1, 1]
// CHECK: } else {
// CHECK-NEXT: scf.yield %[[ACC]]
func.func @scatter_add(%t: tensor<10x4xf32>, %ids: tensor<3xi32>, %r: tensor<3x4xf32>) -> tensor<10x4xf32> {
  %0 = kiln.scatter_add %t, %ids, %r : tensor<10x4xf32>, tensor<3xi32>, tensor<3x4xf32> -> tensor<10x4xf32>
  return %0 : tensor<10x4xf32>
}

// -----

// scatter_reduce is scatter_add's loop with another combination: NaN-
// propagating max and min for floats, signed for integers, products.
// CHECK-LABEL: func.func @scatter_reduce
// CHECK: scf.for
// CHECK: scf.if
// CHECK: linalg.generic
// CHECK: arith.maximumf
// CHECK: scf.for
// CHECK: linalg.generic
// CHECK: arith.minsi
// CHECK: scf.for
// CHECK: linalg.generic
// CHECK: arith.mulf
func.func @scatter_reduce(%t: tensor<10x4xf32>, %ids: tensor<3xi32>, %r: tensor<3x4xf32>, %n: tensor<5xi64>, %v: tensor<3xi64>) -> (tensor<10x4xf32>, tensor<5xi64>, tensor<10x4xf32>) {
  %0 = kiln.scatter_reduce max, %t, %ids, %r : tensor<10x4xf32>, tensor<3xi32>, tensor<3x4xf32> -> tensor<10x4xf32>
  %1 = kiln.scatter_reduce min, %n, %ids, %v : tensor<5xi64>, tensor<3xi32>, tensor<3xi64> -> tensor<5xi64>
  %2 = kiln.scatter_reduce prod, %t, %ids, %r : tensor<10x4xf32>, tensor<3xi32>, tensor<3x4xf32> -> tensor<10x4xf32>
  return %0, %1, %2 : tensor<10x4xf32>, tensor<5xi64>, tensor<10x4xf32>
}

// -----

// CHECK-LABEL: func.func @one_hot
// CHECK: linalg.generic
// CHECK: %[[POS:.*]] = linalg.index 1
// CHECK: %[[P:.*]] = arith.index_cast %[[POS]] : index to i64
// CHECK: arith.cmpi eq, %{{.*}}, %[[P]] : i64
// CHECK: arith.select
func.func @one_hot(%l: tensor<5xi64>) -> tensor<5x4xf32> {
  %0 = kiln.one_hot %l {depth = 4 : i64} : tensor<5xi64> -> tensor<5x4xf32>
  return %0 : tensor<5x4xf32>
}
