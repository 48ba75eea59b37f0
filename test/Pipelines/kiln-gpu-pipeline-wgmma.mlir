// REQUIRES: ptxas
// Hopper (sm_90a): f16 and bf16 products that fit go through TMA and
// wgmma, the host code asks the runtime for the TMA descriptors, and ptxas
// accepts the kernels; on plain sm_90 (no wgmma there) the same module
// uses mma.sync.
// RUN: tensor-opt %s --kiln-gpu-pipeline="chip=sm_90a format=isa" | FileCheck %s
// RUN: tensor-opt %s --kiln-gpu-pipeline="chip=sm_90a format=bin" | FileCheck %s --check-prefix=BIN
// RUN: tensor-opt %s --kiln-gpu-pipeline="chip=sm_90 format=isa" | FileCheck %s --check-prefix=SM90

// CHECK-COUNT-2: llvm.call @mgpuTensorMapEncodeTiledMemref
// CHECK: gpu.launch_func @kiln_kernels::@half_kernel_0 {{.*}} dynamic_shared_memory_size
// CHECK-DAG: .extern .shared .align 1024 .b8 __dynamic_shmem__0[]
// CHECK-DAG: cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes
// CHECK-DAG: mbarrier.try_wait.parity
// CHECK-DAG: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16
// CHECK-DAG: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// BIN: gpu.binary @kiln_kernels [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a"{{.*}}properties = {ISAToBinaryTimeInMs
// SM90-NOT: wgmma
// SM90-NOT: mgpuTensorMapEncodeTiledMemref
// SM90: mma.sync.aligned.m16n8k16
// SM90-NOT: wgmma
func.func @half(%a: tensor<200x1000xf16>, %b: tensor<1000x304xf16>) -> tensor<200x304xf16> {
  %0 = kiln.matmul %a, %b : tensor<200x1000xf16>, tensor<1000x304xf16> -> tensor<200x304xf16>
  return %0 : tensor<200x304xf16>
}
func.func @brain(%a: tensor<128x64xbf16>, %b: tensor<64x128xbf16>) -> tensor<128x128xbf16> {
  %0 = kiln.matmul %a, %b : tensor<128x64xbf16>, tensor<64x128xbf16> -> tensor<128x128xbf16>
  return %0 : tensor<128x128xbf16>
}
