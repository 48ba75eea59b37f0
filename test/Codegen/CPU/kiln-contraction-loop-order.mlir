// RUN: tensor-opt %s --convert-kiln-to-linalg --kiln-contraction-loop-order --split-input-file | FileCheck %s

// A convolution (n, oh, ow, f, kh, kw, c) becomes (n, oh, ow, kh, kw, c, f):
// the innermost loop walks the filters, contiguous in the output and the
// HWCF filter.
// CHECK-DAG: #[[IN:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d1 + d3, d2 + d4, d5)>
// CHECK-DAG: #[[FILTER:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d3, d4, d5, d6)>
// CHECK-DAG: #[[OUT:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d1, d2, d6)>
// CHECK-LABEL: func.func @conv
// CHECK: linalg.generic {indexing_maps = [#[[IN]], #[[FILTER]], #[[OUT]]], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "reduction", "parallel"]}
func.func @conv(%x: tensor<2x8x8x3xf32>, %w: tensor<3x3x3x16xf32>) -> tensor<2x6x6x16xf32> {
  %0 = kiln.conv2d %x, %w {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, padding = #kiln.padding<VALID>} : tensor<2x8x8x3xf32>, tensor<3x3x3x16xf32> -> tensor<2x6x6x16xf32>
  return %0 : tensor<2x6x6x16xf32>
}

// -----

// A reduction whose last parallel loop is not the output's innermost
// dimension is left alone.
// CHECK-DAG: #[[ROWS:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[COLS:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @column_sums
// CHECK-NOT: linalg.generic
// CHECK: linalg.generic {indexing_maps = [#[[ROWS]], #[[COLS]]], iterator_types = ["reduction", "parallel"]}
// CHECK-NOT: linalg.generic
// CHECK: return
func.func @column_sums(%x: tensor<4x6xf32>) -> tensor<6xf32> {
  %0 = kiln.reduce_sum %x {axes = array<i64: 0>} : tensor<4x6xf32> -> tensor<6xf32>
  return %0 : tensor<6xf32>
}
