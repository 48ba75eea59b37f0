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

// A weight gradient x^T dy whose operands come from elementwise ops used
// once (here casts; the CPU pipeline widens bf16 products to f32 this way)
// stays a plain multiply-add contraction: the casts stay loops of their own
// and the product's body is exactly acc + a * b, which the code generators
// hand to their matmul kernels.
// CHECK-LABEL: func.func @transposed_product_of_casts
// CHECK: %[[X:.*]] = linalg.generic
// CHECK: arith.extf
// CHECK: %[[D:.*]] = linalg.generic
// CHECK: arith.extf
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME: ins(%[[X]], %[[D]] : tensor<256x784xf32>, tensor<256x128xf32>)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: arith.addf
// CHECK-NEXT: linalg.yield
func.func @transposed_product_of_casts(%x: tensor<256x784xbf16>, %dy: tensor<256x128xbf16>) -> tensor<784x128xf32> {
  %0 = kiln.cast %x : tensor<256x784xbf16> -> tensor<256x784xf32>
  %1 = kiln.cast %dy : tensor<256x128xbf16> -> tensor<256x128xf32>
  %2 = kiln.matmul %0, %1 {transpose_lhs = true} : tensor<256x784xf32>, tensor<256x128xf32> -> tensor<784x128xf32>
  return %2 : tensor<784x128xf32>
}

// The same for a convolution's filter gradient (a contraction over the
// images and pixels): the casts stay out, the body stays out + x * dy,
// which the CPU's direct convolution tiles take.
// CHECK-LABEL: func.func @filter_gradient_of_casts
// CHECK: %[[X:.*]] = linalg.generic
// CHECK: arith.extf
// CHECK: %[[D:.*]] = linalg.generic
// CHECK: arith.extf
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[X]], %[[D]] : tensor<8x12x12x4xf32>, tensor<8x10x10x16xf32>)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: arith.addf
// CHECK-NEXT: linalg.yield
func.func @filter_gradient_of_casts(%x: tensor<8x12x12x4xf16>, %dy: tensor<8x10x10x16xf16>) -> tensor<3x3x4x16xf32> {
  %0 = kiln.cast %x : tensor<8x12x12x4xf16> -> tensor<8x12x12x4xf32>
  %1 = kiln.cast %dy : tensor<8x10x10x16xf16> -> tensor<8x10x10x16xf32>
  %2 = kiln.conv2d_backprop_filter %0, %1 : tensor<8x12x12x4xf32>, tensor<8x10x10x16xf32> -> tensor<3x3x4x16xf32>
  return %2 : tensor<3x3x4x16xf32>
}

// A copy along a batch loop still fuses into a batched product: the batches
// read the one matrix (no 256 x 512 x 512 copy), and the body stays a
// multiply-add.
// CHECK-LABEL: func.func @broadcast_along_batches
// CHECK-NOT: linalg.generic
// CHECK: linalg.generic
// CHECK-SAME: ins(%arg0, %arg1 : tensor<256x1x512xf32>, tensor<512x512xf32>)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: arith.addf
func.func @broadcast_along_batches(%x: tensor<256x1x512xf32>, %w: tensor<512x512xf32>) -> tensor<256x1x512xf32> {
  %wb = kiln.broadcast_to %w : tensor<512x512xf32> -> tensor<256x512x512xf32>
  %0 = kiln.batch_matmul %x, %wb : tensor<256x1x512xf32>, tensor<256x512x512xf32> -> tensor<256x1x512xf32>
  return %0 : tensor<256x1x512xf32>
}

// A broadcast along a matrix dimension (a row repeated into a matrix)
// stays a loop of its own: the product keeps whole-matrix operands.
// CHECK-LABEL: func.func @broadcast_along_rows
// CHECK: %[[B:.*]] = linalg.generic
// CHECK-SAME: ins(%arg1 : tensor<32xf32>)
// CHECK: linalg.generic
// CHECK-SAME: ins(%arg0, %[[B]] : tensor<64x32xf32>, tensor<16x32xf32>)
func.func @broadcast_along_rows(%x: tensor<64x32xf32>, %v: tensor<32xf32>) -> tensor<64x16xf32> {
  %b = kiln.broadcast_to %v : tensor<32xf32> -> tensor<16x32xf32>
  %0 = kiln.matmul %x, %b {transpose_rhs = true} : tensor<64x32xf32>, tensor<16x32xf32> -> tensor<64x16xf32>
  return %0 : tensor<64x16xf32>
}

// A reshape whose group holds two open extents is not folded into its
// consumer: the expansion would reshape %x the same way, into a
// memref.expand_shape that upstream's lowering cannot take.
// CHECK-LABEL: func.func @open_group
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %arg0 {{\[}}[0, 1]] : tensor<?x?xf32> into tensor<?xf32>
// CHECK-NOT: tensor.expand_shape
// CHECK: linalg.generic {{.*}} ins(%[[FLAT]], %arg0 : tensor<?xf32>, tensor<?x?xf32>)
func.func @open_group(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %e = kiln.expand_dims %x {axis = 1 : i64} : tensor<?x?xf32> -> tensor<?x1x?xf32>
  %f = kiln.reshape %e : tensor<?x1x?xf32> -> tensor<?xf32>
  %m = kiln.maximum %f, %x : tensor<?xf32>, tensor<?x?xf32> -> tensor<?x?xf32>
  return %m : tensor<?x?xf32>
}
