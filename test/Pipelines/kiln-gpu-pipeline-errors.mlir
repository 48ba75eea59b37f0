// What the GPU pipeline cannot compile yet is an error at the Kiln op's
// location, never host code reading GPU memory.
// RUN: tensor-opt %s --kiln-gpu-pipeline --split-input-file -verify-diagnostics

func.func @total(%x: tensor<8x10xf32>) -> tensor<f32> {
  // expected-error @+2 {{'linalg.fill' in 'total', compiled for the GPU, has no parallel loop}}
  // expected-error @+1 {{'linalg.generic' in 'total', compiled for the GPU, has no parallel loop}}
  %0 = kiln.reduce_sum %x {axes = array<i64: 0, 1>} : tensor<8x10xf32> -> tensor<f32>
  return %0 : tensor<f32>
}
