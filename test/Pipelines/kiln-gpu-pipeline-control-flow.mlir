// Control flow around kernels: the host decides a branch or a loop on a
// value a kernel computed, copied from GPU memory (mgpuMemcpy) into a host
// scalar first; kernels run in each branch and iteration. The first
// kernel of @branch is the one-thread copy of the predicate.
// RUN: tensor-opt %s --kiln-gpu-pipeline --split-input-file | FileCheck %s

// CHECK-LABEL: llvm.func internal @branch
// CHECK: gpu.launch_func @kiln_kernels::@branch_kernel blocks in (%[[ONE:.*]], %[[ONE]], %[[ONE]]) threads in (%[[ONE]], %[[ONE]], %[[ONE]])
// CHECK: llvm.call @mgpuMemcpy
// CHECK: %[[P:.*]] = llvm.load %{{.*}} : !llvm.ptr -> i1
// CHECK: llvm.cond_br %[[P]]
// CHECK: gpu.launch_func @kiln_kernels::@branch_kernel_0
func.func @branch(%p: tensor<i1>, %x: tensor<8xf32>) -> tensor<8xf32> {
  %r = kiln.cond %p -> (tensor<8xf32>) {
    %d = kiln.add %x, %x : tensor<8xf32>, tensor<8xf32> -> tensor<8xf32>
    kiln.yield %d : tensor<8xf32>
  } else {
    kiln.yield %x : tensor<8xf32>
  }
  return %r : tensor<8xf32>
}

// -----

// A while loop whose condition a kernel computes each iteration: one copy
// to the host per iteration, then the branch back or out.
// CHECK-LABEL: llvm.func internal @halve
// CHECK: ^bb1(
// CHECK: gpu.launch_func
// CHECK: llvm.call @mgpuMemcpy
// CHECK: %[[C:.*]] = llvm.load %{{.*}} : !llvm.ptr -> i1
// CHECK: llvm.cond_br %[[C]]
// CHECK: gpu.launch_func
// CHECK: llvm.br ^bb1(
func.func @halve(%x: tensor<f32>) -> tensor<f32> {
  %r = kiln.while (%x : tensor<f32>) cond {
  ^bb0(%v: tensor<f32>):
    %one = kiln.constant dense<1.0> : tensor<f32>
    %big = kiln.compare gt, %v, %one : tensor<f32>, tensor<f32> -> tensor<i1>
    kiln.condition(%big) %v : tensor<f32>
  } do {
  ^bb0(%v: tensor<f32>):
    %half = kiln.constant dense<0.5> : tensor<f32>
    %h = kiln.mul %v, %half : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.yield %h : tensor<f32>
  }
  return %r : tensor<f32>
}
