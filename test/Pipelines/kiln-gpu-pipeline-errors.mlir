// What the GPU pipeline cannot compile yet is an error at the Kiln op's
// location, never host code reading GPU memory.
// RUN: tensor-opt %s --kiln-gpu-pipeline --split-input-file -verify-diagnostics

// Its row maxima and sums would be temporaries (both allocations report).
func.func @softmax(%x: tensor<8x10xf32>) -> tensor<8x10xf32> {
  // expected-error @+1 {{'memref.alloc' in 'softmax', compiled for the GPU, needs a temporary buffer in GPU memory, which the GPU target does not allocate yet}}
  %0 = kiln.softmax %x {axis = 1 : i64} : tensor<8x10xf32> -> tensor<8x10xf32>
  return %0 : tensor<8x10xf32>
}

// -----

func.func @total(%x: tensor<8x10xf32>) -> tensor<f32> {
  // expected-error @+2 {{'linalg.fill' in 'total', compiled for the GPU, has no parallel loop}}
  // expected-error @+1 {{'linalg.generic' in 'total', compiled for the GPU, has no parallel loop}}
  %0 = kiln.reduce_sum %x {axes = array<i64: 0, 1>} : tensor<8x10xf32> -> tensor<f32>
  return %0 : tensor<f32>
}
