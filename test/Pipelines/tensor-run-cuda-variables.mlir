// A module with a variable, run on the GPU by tensor-run: the variable is
// created in GPU memory and initialized by its kernel, each step updates it
// there, and printing and saving copy it to the host. Against the test
// double of the driver, which runs no kernel, so only the calls and the
// shapes are checked.
// RUN: rm -f %t.safetensors
// RUN: KILN_CACHE_DIR=off KILN_CUDA_DRIVER=%fake_cuda FAKE_CUDA_TRACE=1 tensor-run --target cuda %s --entry step --input %S/Inputs/b64.npy --repeat 2 --print-variables --save-variables %t.safetensors 2>&1 | FileCheck %s
// RUN: test -s %t.safetensors

// CHECK: fake-cuda: launch kiln_init_variables_kernel
// CHECK-COUNT-2: fake-cuda: launch step_kernel
// CHECK: variable w: [{{.*}}]  (f32, shape (64,))
kiln.variable @w : tensor<64xf32> = dense<1.0>
func.func @step(%x: tensor<64xf32>) -> tensor<64xf32> {
  %w = kiln.read_variable @w : tensor<64xf32>
  %w1 = kiln.add %w, %x : tensor<64xf32>, tensor<64xf32> -> tensor<64xf32>
  kiln.assign_variable @w, %w1 : tensor<64xf32>
  return %w1 : tensor<64xf32>
}
