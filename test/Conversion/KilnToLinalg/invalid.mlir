// RUN: tensor-opt %s --convert-kiln-to-linalg --split-input-file -verify-diagnostics

// Dynamic shapes are not lowered yet: a clear error, not a crash.
func.func @dynamic(%x: tensor<?x3xf32>) -> tensor<?x3xf32> {
  // expected-error@+1 {{cannot lower 'kiln.exp' with dynamic shape 'tensor<?x3xf32>': the CPU lowering needs static shapes}}
  %0 = kiln.exp %x : tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}
