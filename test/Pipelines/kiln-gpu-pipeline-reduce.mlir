// A reduction of a whole tensor runs in one block of 256 threads that
// combine their partial results through shared memory: the PTX declares a
// shared array and synchronizes the block between the tree's levels.
// RUN: tensor-opt %s --kiln-gpu-pipeline=format=isa | FileCheck %s
// Every element type assembles for sm_90 and sm_80 (ptxas):
// RUN: %if ptxas %{ tensor-opt %s --kiln-gpu-pipeline=format=bin -o /dev/null %}
// RUN: %if ptxas %{ tensor-opt %s --kiln-gpu-pipeline="chip=sm_80 features=+ptx70 format=bin" -o /dev/null %}

// CHECK-LABEL: llvm.func internal @total
// CHECK: gpu.launch_func @kiln_kernels::@total_kernel_0 blocks in ({{.*}}) threads in (%[[T:.*]], {{.*}})
// CHECK: gpu.binary @kiln_kernels
// CHECK-SAME: .shared .align {{[0-9]+}} .b8 {{.*}}[1024]
// CHECK-SAME: bar.sync{{.*}}0;
// CHECK-SAME: ld.shared.b32
func.func @total(%x: tensor<1000x30xf32>) -> tensor<f32> {
  %0 = kiln.reduce_sum %x {axes = array<i64: 0, 1>} : tensor<1000x30xf32> -> tensor<f32>
  return %0 : tensor<f32>
}

// CHECK-LABEL: llvm.func internal @peak
func.func @peak(%x: tensor<5000xf64>) -> tensor<f64> {
  %0 = kiln.reduce_max %x {axes = array<i64: 0>} : tensor<5000xf64> -> tensor<f64>
  return %0 : tensor<f64>
}

// CHECK-LABEL: llvm.func internal @product
func.func @product(%x: tensor<7x9xi32>) -> tensor<i32> {
  %0 = kiln.reduce_prod %x {axes = array<i64: 0, 1>} : tensor<7x9xi32> -> tensor<i32>
  return %0 : tensor<i32>
}
