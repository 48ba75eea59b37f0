// gpu-check speed kernel: a chain of elementwise ops over 256 MiB of f32
// (2^26 elements), which the pipeline fuses into one kernel: it reads x once
// and writes the result once, 512 MiB of memory traffic per call.
func.func @chain(%x: tensor<67108864xf32>) -> tensor<67108864xf32> {
  %a = kiln.mul %x, %x : tensor<67108864xf32>, tensor<67108864xf32> -> tensor<67108864xf32>
  %b = kiln.add %a, %x : tensor<67108864xf32>, tensor<67108864xf32> -> tensor<67108864xf32>
  %c = kiln.relu %b : tensor<67108864xf32>
  %d = kiln.sub %c, %x : tensor<67108864xf32>, tensor<67108864xf32> -> tensor<67108864xf32>
  return %d : tensor<67108864xf32>
}
