// RUN: tensor-opt %s --convert-kiln-to-linalg --canonicalize --kiln-fuse-elementwise | FileCheck %s

// A flattened image feeds a matmul: the reshape stays a reshape and the
// matmul stays a 2-D contraction over 784 (folding the reshape would make it
// a contraction over 28 x 28 x 1 with a one-iteration inner loop). The bias
// add and relu after it still fuse into one elementwise loop nest.
// CHECK-LABEL: func.func @flatten_dense
// CHECK: %[[X:.*]] = tensor.collapse_shape %arg0 {{\[\[}}0], [1, 2, 3]] : tensor<64x28x28x1xf32> into tensor<64x784xf32>
// CHECK: linalg.matmul ins(%[[X]], %arg1 : tensor<64x784xf32>, tensor<784x128xf32>)
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel"]
// CHECK: arith.addf
// CHECK: arith.maximumf
// CHECK-NOT: linalg.generic
// CHECK: return
func.func @flatten_dense(%x: tensor<64x28x28x1xf32>, %w: tensor<784x128xf32>, %b: tensor<128xf32>) -> tensor<64x128xf32> {
  %0 = kiln.reshape %x : tensor<64x28x28x1xf32> -> tensor<64x784xf32>
  %1 = kiln.matmul %0, %w : tensor<64x784xf32>, tensor<784x128xf32> -> tensor<64x128xf32>
  %2 = kiln.add %1, %b : tensor<64x128xf32>, tensor<128xf32> -> tensor<64x128xf32>
  %3 = kiln.relu %2 : tensor<64x128xf32>
  return %3 : tensor<64x128xf32>
}

// Elementwise ops on both sides of a reshape still fuse into one.
// CHECK-LABEL: func.func @elementwise
// CHECK: linalg.generic
// CHECK: math.exp
// CHECK: arith.negf
// CHECK-NOT: linalg.generic
// CHECK: tensor.collapse_shape
func.func @elementwise(%x: tensor<4x6xf32>) -> tensor<24xf32> {
  %0 = kiln.exp %x : tensor<4x6xf32>
  %1 = kiln.reshape %0 : tensor<4x6xf32> -> tensor<24xf32>
  %2 = kiln.neg %1 : tensor<24xf32>
  return %2 : tensor<24xf32>
}
