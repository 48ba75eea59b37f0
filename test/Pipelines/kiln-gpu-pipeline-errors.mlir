// What the GPU pipeline cannot compile yet is an error at the Kiln op's
// location, never host code reading GPU memory.
// RUN: tensor-opt %s --kiln-gpu-pipeline --split-input-file -verify-diagnostics

// A branch on a tensor's value: the predicate is in GPU memory, and the
// host would read it.
// The deallocation of the result, which only one branch allocated, is a
// branch too (at the return).
func.func @branch(%p: tensor<i1>, %x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+2 {{'memref.load' in 'branch', compiled for the GPU, would run on the host and touch GPU memory}}
  // expected-error @+1 {{'scf.if' in 'branch', compiled for the GPU, is control flow around kernels, which the GPU target does not compile yet}}
  %r = kiln.cond %p -> (tensor<8xf32>) {
    %d = kiln.add %x, %x : tensor<8xf32>, tensor<8xf32> -> tensor<8xf32>
    kiln.yield %d : tensor<8xf32>
  } else {
    kiln.yield %x : tensor<8xf32>
  }
  // expected-error @+1 {{'scf.if' in 'branch', compiled for the GPU, is control flow around kernels}}
  return %r : tensor<8xf32>
}
