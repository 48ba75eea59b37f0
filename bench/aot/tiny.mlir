// A near-empty entry for measuring the per-call overhead of a generated
// library: 4 floats in, 4 out, one variable read.
kiln.variable @bias : tensor<4xf32> = dense<1.0>
func.func @tiny(%x: tensor<4xf32>) -> tensor<4xf32> {
  %b = kiln.read_variable @bias : tensor<4xf32>
  %0 = kiln.add %x, %b : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
