// A cast to f16 and back rounds on the GPU: the kernel converts to f16
// (cvt.rn.f16.f32) and back. kiln-gpu-contract-fma once put `contract` on
// the casts too, and arith.extf of arith.truncf then folded to the
// unrounded value.
// RUN: tensor-opt %s --kiln-gpu-pipeline | FileCheck %s

// CHECK: gpu.binary @kiln_kernels {{.*}}cvt.rn.f16.f32{{.*}}cvt.f32.f16
func.func @round_to_half(%x: tensor<64xf32>) -> tensor<64xf32> {
  %h = kiln.cast %x : tensor<64xf32> -> tensor<64xf16>
  %r = kiln.cast %h : tensor<64xf16> -> tensor<64xf32>
  %e = kiln.exp %r : tensor<64xf32>
  return %e : tensor<64xf32>
}
