// Frozen against the checkpoint of ../kiln-freeze-variables.mlir (@w is
// f32[2] there, @seen i64[], @b absent).

// expected-error@+1 {{cannot freeze @w: the checkpoint}}
kiln.variable @w : tensor<3xf32>

// -----

kiln.variable @other : tensor<f32>
func.func @reads_unknown() -> tensor<f32> {
  // expected-error@+1 {{cannot freeze @other: the checkpoint}}
  %v = kiln.read_variable @other : tensor<f32>
  return %v : tensor<f32>
}
