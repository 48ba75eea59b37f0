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
