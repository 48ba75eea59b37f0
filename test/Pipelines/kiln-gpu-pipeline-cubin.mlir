// REQUIRES: ptxas
// Kernels assembled by the CUDA toolkit's ptxas (format=bin): the PTX that
// the GPU pipeline writes is valid for sm_90, and the math functions
// (exp, tanh, expm1, log1p, erfc) are resolved from libdevice (unresolved,
// ptxas would fail).
// RUN: tensor-opt %s --kiln-gpu-pipeline=format=bin | FileCheck %s
// expm1, log1p and erfc are libdevice's own functions, not exp(x) - 1,
// log(1 + x) or 1 - erf(x), which lose every digit near 0 (or, for erfc,
// in the tail):
// RUN: tensor-opt %s --kiln-gpu-pipeline=format=isa --mlir-print-ir-after=convert-gpu-to-nvvm 2>&1 | FileCheck %s --check-prefix=LIBDEVICE
// LIBDEVICE-DAG: llvm.call @__nv_expm1f(
// LIBDEVICE-DAG: llvm.call @__nv_log1pf(
// LIBDEVICE-DAG: llvm.call @__nv_erfcf(
// Square roots are correctly rounded (sqrt.rn.f32, as nvcc's default), not
// libdevice's __nv_sqrtf, which NVVMReflect turns into sqrt.approx.f32:
// RUN: tensor-opt %s --kiln-gpu-pipeline=format=isa | FileCheck %s --check-prefix=SQRT --implicit-check-not=sqrt.approx
// SQRT: sqrt.rn.f32
// As a fat binary (cubin for sm_90 and PTX for newer GPUs):
// RUN: tensor-opt %s --kiln-gpu-pipeline=format=fatbin | FileCheck %s --check-prefix=FAT

// All the kernels in one module, one cubin:
// CHECK-DAG: gpu.launch_func @kiln_kernels::@rows_kernel
// CHECK-DAG: gpu.launch_func @kiln_kernels::@matmul_kernel
// CHECK-DAG: gpu.launch_func @kiln_kernels::@math_kernel
// CHECK-DAG: gpu.binary @kiln_kernels [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80", link = ["{{.*}}libdevice.10.bc"]>, properties = {ISAToBinaryTimeInMs
// CHECK-NOT: assembly =
// RUN: tensor-opt %s --kiln-gpu-pipeline=format=bin | grep -c "gpu.binary @" | FileCheck %s --check-prefix=ONE
// ONE: {{^1$}}
// FAT: gpu.binary @kiln_kernels [#gpu.object<{{.*}}properties = {ISAToBinaryTimeInMs
func.func @rows(%x: tensor<300x70xf32>) -> tensor<300xf32> {
  %0 = kiln.reduce_sum %x {axes = array<i64: 1>} : tensor<300x70xf32> -> tensor<300xf32>
  return %0 : tensor<300xf32>
}
func.func @matmul(%a: tensor<64x100xf32>, %b: tensor<100x30xf32>) -> tensor<64x30xf32> {
  %0 = kiln.matmul %a, %b : tensor<64x100xf32>, tensor<100x30xf32> -> tensor<64x30xf32>
  return %0 : tensor<64x30xf32>
}
func.func @math(%x: tensor<1000xf32>) -> tensor<1000xf32> {
  %0 = kiln.exp %x : tensor<1000xf32>
  %1 = kiln.tanh %0 : tensor<1000xf32>
  %2 = kiln.expm1 %1 : tensor<1000xf32>
  %3 = kiln.log1p %2 : tensor<1000xf32>
  %4 = kiln.erfc %3 : tensor<1000xf32>
  %5 = kiln.sqrt %4 : tensor<1000xf32>
  return %5 : tensor<1000xf32>
}
