// gpu-check speed kernel: SGEMM, C = A B with 4096 x 4096 f32 matrices
// (2 * 4096^3 = 137 GFLOP per call).
func.func @sgemm(%a: tensor<4096x4096xf32>, %b: tensor<4096x4096xf32>) -> tensor<4096x4096xf32> {
  %c = kiln.matmul %a, %b : tensor<4096x4096xf32>, tensor<4096x4096xf32> -> tensor<4096x4096xf32>
  return %c : tensor<4096x4096xf32>
}
