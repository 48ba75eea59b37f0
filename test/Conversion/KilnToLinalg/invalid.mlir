// RUN: tensor-opt %s --convert-kiln-to-linalg --split-input-file -verify-diagnostics

// Ops lowered with static shapes only: a clear error, not a crash.
func.func @dynamic(%x: tensor<?x3xf32>) -> tensor<3x?xf32> {
  // expected-error@+1 {{cannot lower 'kiln.transpose' with dynamic shape 'tensor<?x3xf32>': this op is lowered with static shapes only}}
  %0 = kiln.transpose %x {permutation = array<i64: 1, 0>} : tensor<?x3xf32> -> tensor<3x?xf32>
  return %0 : tensor<3x?xf32>
}
