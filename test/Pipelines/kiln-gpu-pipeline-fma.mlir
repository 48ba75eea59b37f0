// In a kernel, a multiply and the add that consumes it become one fma.rn
// (kiln-gpu-contract-fma), as nvcc does by default.
// RUN: tensor-opt %s --kiln-gpu-pipeline | FileCheck %s

// CHECK: gpu.binary @kiln_kernels {{.*}}fma.rn.f32
// CHECK-NOT: mul.rn.f32
func.func @scale_add(%x: tensor<1000xf32>, %y: tensor<1000xf32>, %z: tensor<1000xf32>) -> tensor<1000xf32> {
  %0 = kiln.mul %x, %y : tensor<1000xf32>, tensor<1000xf32> -> tensor<1000xf32>
  %1 = kiln.add %0, %z : tensor<1000xf32>, tensor<1000xf32> -> tensor<1000xf32>
  return %1 : tensor<1000xf32>
}
