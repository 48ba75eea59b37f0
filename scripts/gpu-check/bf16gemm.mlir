// gpu-check speed kernel: C = A B with 4096 x 4096 bf16 matrices on the
// tensor cores (mma.sync, f32 sums; 137 GFLOP per call).
func.func @bf16gemm(%a: tensor<4096x4096xbf16>, %b: tensor<4096x4096xbf16>) -> tensor<4096x4096xbf16> {
  %c = kiln.matmul %a, %b : tensor<4096x4096xbf16>, tensor<4096x4096xbf16> -> tensor<4096x4096xbf16>
  return %c : tensor<4096x4096xbf16>
}
