// gpu-check correctness case for sm_90a's TMA + wgmma kernel: f16 operands
// (given as f32 values exact in f16) multiplied into f16, returned as f32.
// 300 x 1000 times 1000 x 200: partial tiles in M and N, a partial K step.
func.func @hopper_check(%a: tensor<300x1000xf32>, %b: tensor<1000x200xf32>) -> tensor<300x200xf32> {
  %x = kiln.cast %a : tensor<300x1000xf32> -> tensor<300x1000xf16>
  %y = kiln.cast %b : tensor<1000x200xf32> -> tensor<1000x200xf16>
  %p = kiln.matmul %x, %y : tensor<300x1000xf16>, tensor<1000x200xf16> -> tensor<300x200xf16>
  %r = kiln.cast %p : tensor<300x200xf16> -> tensor<300x200xf32>
  return %r : tensor<300x200xf32>
}
