// RUN: tensor-opt %s --convert-kiln-to-linalg --split-input-file -verify-diagnostics

// Convolutions take an open batch only: a clear error, not a crash.
func.func @dynamic(%x: tensor<1x?x8x1xf32>, %w: tensor<3x3x1x4xf32>) -> tensor<1x?x6x4xf32> {
  // expected-error@+1 {{cannot lower 'kiln.conv2d' with open extents other than the batch: convolutions and pooling take an open batch (the first extent of the images), their other extents and the filter's must be known}}
  %0 = kiln.conv2d %x, %w : tensor<1x?x8x1xf32>, tensor<3x3x1x4xf32> -> tensor<1x?x6x4xf32>
  return %0 : tensor<1x?x6x4xf32>
}

// -----

// Pooling over open channels.
func.func @pool_open_channels(%x: tensor<2x4x4x?xf32>) -> tensor<2x2x2x?xf32> {
  // expected-error@+1 {{cannot lower 'kiln.max_pool2d' with open extents other than the batch}}
  %0 = kiln.max_pool2d %x {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<2x4x4x?xf32> -> tensor<2x2x2x?xf32>
  return %0 : tensor<2x2x2x?xf32>
}

// -----

// A random tensor with open extents needs a tensor to take them from.
func.func @random_open_no_like(%seed: tensor<i64>) -> tensor<?xf32> {
  // expected-error@+1 {{cannot lower 'kiln.random_uniform' with dynamic shape 'tensor<?xf32>'}}
  %0 = kiln.random_uniform %seed : tensor<?xf32>
  return %0 : tensor<?xf32>
}
