// RUN: tensor-opt %s --convert-kiln-to-linalg --split-input-file | FileCheck %s
// RUN: tensor-opt %s --kiln-cpu-pipeline --split-input-file -o /dev/null

// Operands and results without elements: nothing to insert or extract
// (tensor.insert_slice and tensor.extract_slice refuse an offset equal to
// the extent, which is where an empty piece sits).

// CHECK-LABEL: func.func @concat_empty
// CHECK-SAME: (%[[A:.*]]: tensor<3xf32>, %[[B:.*]]: tensor<0xf32>)
// CHECK: %[[E:.*]] = tensor.empty() : tensor<3xf32>
// CHECK: %[[R:.*]] = tensor.insert_slice %[[A]] into %[[E]][0] [3] [1]
// CHECK-NOT: tensor.insert_slice
// CHECK: return %[[R]]
func.func @concat_empty(%a: tensor<3xf32>, %b: tensor<0xf32>) -> tensor<3xf32> {
  %0 = kiln.concat %a, %b {axis = 0 : i64} : (tensor<3xf32>, tensor<0xf32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

// CHECK-LABEL: func.func @concat_all_empty
// CHECK: %[[E:.*]] = tensor.empty() : tensor<0x5xf32>
// CHECK-NOT: tensor.insert_slice
// CHECK: return %[[E]]
func.func @concat_all_empty(%a: tensor<0x2xf32>, %b: tensor<0x3xf32>) -> tensor<0x5xf32> {
  %0 = kiln.concat %a, %b {axis = 1 : i64} : (tensor<0x2xf32>, tensor<0x3xf32>) -> tensor<0x5xf32>
  return %0 : tensor<0x5xf32>
}

// -----

// CHECK-LABEL: func.func @slice_at_end
// CHECK: %[[E:.*]] = tensor.empty() : tensor<0xf32>
// CHECK-NOT: tensor.extract_slice
// CHECK: return %[[E]]
func.func @slice_at_end(%a: tensor<3xf32>) -> tensor<0xf32> {
  %0 = kiln.slice %a {start = array<i64: 3>, limit = array<i64: 3>, stride = array<i64: 1>} : tensor<3xf32> -> tensor<0xf32>
  return %0 : tensor<0xf32>
}

// -----

// CHECK-LABEL: func.func @pad_empty
// CHECK: %[[F:.*]] = linalg.fill
// CHECK-NOT: tensor.insert_slice
// CHECK: return %[[F]]
func.func @pad_empty(%a: tensor<0xf32>) -> tensor<3xf32> {
  %0 = kiln.pad %a {low = array<i64: 3>, high = array<i64: 0>} : tensor<0xf32> -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

// A matrix product over an empty K is zeros; one with an empty result is
// empty: no contraction is left for the tilers (whose loops would have no
// iteration; the CPU tiler crashed on this one, found by random programs).
// CHECK-LABEL: func.func @matmul_empty_k
// CHECK: %[[Z:.*]] = linalg.fill
// CHECK-NOT: linalg.matmul
// CHECK: return %[[Z]]
func.func @matmul_empty_k(%a: tensor<5x0xf32>, %b: tensor<0x3xf32>) -> tensor<5x3xf32> {
  %0 = kiln.matmul %a, %b : tensor<5x0xf32>, tensor<0x3xf32> -> tensor<5x3xf32>
  return %0 : tensor<5x3xf32>
}

// -----

// CHECK-LABEL: func.func @conv_no_channels
// CHECK: %[[Z:.*]] = linalg.fill
// CHECK-NOT: linalg.conv
// CHECK: return %[[Z]]
func.func @conv_no_channels(%x: tensor<1x4x4x0xf32>, %w: tensor<3x3x0x2xf32>) -> tensor<1x2x2x2xf32> {
  %0 = kiln.conv2d %x, %w {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, padding = #kiln.padding<VALID>} : tensor<1x4x4x0xf32>, tensor<3x3x0x2xf32> -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// CHECK-LABEL: func.func @batch_matmul_empty_batch
// CHECK: %[[E:.*]] = tensor.empty() : tensor<0x2x3xf64>
// CHECK: return %[[E]]
func.func @batch_matmul_empty_batch(%a: tensor<0x2x4xf64>, %b: tensor<0x4x3xf64>) -> tensor<0x2x3xf64> {
  %0 = kiln.batch_matmul %a, %b : tensor<0x2x4xf64>, tensor<0x4x3xf64> -> tensor<0x2x3xf64>
  return %0 : tensor<0x2x3xf64>
}
