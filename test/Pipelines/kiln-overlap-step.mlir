// A data-parallel step (two layers, each gradient averaged across the
// processes) through the tensor stage: the all-reduces move to where the
// backward pass produces the gradients, the small first bucket (w2's
// gradient alone: with w1's 1 MiB it would pass first-bucket-bytes) starts
// communicating before the backward pass computes w1's gradient, and both
// are waited for at the updates.
// RUN: tensor-opt %s --kiln-tensor-pipeline | FileCheck %s

// CHECK-LABEL: func.func @step
// The backward pass's first product, w2's gradient h^T dy (512x16).
// CHECK: %[[G2:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<512x16xf32>)
// CHECK: call @kiln_all_reduce_start_f32({{.*}}) : (i64, i64, i64, i64, i64, memref<*xf32>) -> ()
// Then w1's gradient x^T dh (512x512), while the first bucket travels.
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<512x512xf32>)
// CHECK: call @kiln_all_reduce_start_f32
// CHECK: call @kiln_all_reduce_done_f32
// CHECK: call @kiln_all_reduce_done_f32
// CHECK-NOT: kiln_all_reduce
// CHECK: return
kiln.variable @w1 : tensor<512x512xf32> = dense<0.01>
kiln.variable @w2 : tensor<512x16xf32> = dense<0.02>

func.func private @loss(%x: tensor<32x512xf32>) -> tensor<f32> {
  %w1 = kiln.read_variable @w1 : tensor<512x512xf32>
  %w2 = kiln.read_variable @w2 : tensor<512x16xf32>
  %h = kiln.matmul %x, %w1 : tensor<32x512xf32>, tensor<512x512xf32> -> tensor<32x512xf32>
  %r = kiln.relu %h : tensor<32x512xf32>
  %y = kiln.matmul %r, %w2 : tensor<32x512xf32>, tensor<512x16xf32> -> tensor<32x16xf32>
  %l = kiln.reduce_sum %y {axes = array<i64: 0, 1>} : tensor<32x16xf32> -> tensor<f32>
  return %l : tensor<f32>
}

func.func @step(%x: tensor<32x512xf32>) -> tensor<f32> {
  %l, %g1, %g2 = kiln.value_and_grad @loss(%x) {wrt_variables = [@w1, @w2]} : (tensor<32x512xf32>) -> (tensor<f32>, tensor<512x512xf32>, tensor<512x16xf32>)
  %a1 = kiln.all_reduce mean, %g1 : tensor<512x512xf32>
  %a2 = kiln.all_reduce mean, %g2 : tensor<512x16xf32>
  %lr = kiln.constant dense<0.1> : tensor<f32>
  kiln.apply_gradient_descent @w1, %a1, %lr : tensor<512x512xf32>, tensor<f32>
  kiln.apply_gradient_descent @w2, %a2, %lr : tensor<512x16xf32>, tensor<f32>
  return %l : tensor<f32>
}
