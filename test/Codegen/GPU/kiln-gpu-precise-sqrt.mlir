// RUN: tensor-opt %s --pass-pipeline="builtin.module(gpu.module(kiln-gpu-precise-sqrt))" | FileCheck %s

// Calls of libdevice's __nv_sqrtf (sqrt.approx.f32 once NVVMReflect has
// answered __CUDA_PREC_SQRT with 0) become llvm.intr.sqrt (sqrt.rn.f32),
// and its declaration goes; __nv_sqrt (f64, always sqrt.rn.f64) stays.
// CHECK-LABEL: gpu.module @kernels
// CHECK-NOT: @__nv_sqrtf
// CHECK: llvm.func @__nv_sqrt(f64) -> f64
// CHECK-LABEL: llvm.func @roots
// CHECK-SAME: (%[[A:.*]]: f32, %[[D:.*]]: f64)
// CHECK: llvm.intr.sqrt(%[[A]]) : (f32) -> f32
// CHECK: llvm.call @__nv_sqrt(%[[D]]) : (f64) -> f64
// CHECK-NOT: @__nv_sqrtf
gpu.module @kernels {
  llvm.func @__nv_sqrtf(f32) -> f32
  llvm.func @__nv_sqrt(f64) -> f64
  llvm.func @roots(%a: f32, %d: f64) -> f32 {
    %0 = llvm.call @__nv_sqrtf(%a) : (f32) -> f32
    %1 = llvm.call @__nv_sqrt(%d) : (f64) -> f64
    llvm.return %0 : f32
  }
}
