// The checkpoint comes from the module itself: @setup assigns values that
// tensor-run saves.
// RUN: tensor-run %s --entry setup --save-variables %t.safetensors
// RUN: tensor-opt %s --kiln-freeze-variables=checkpoint=%t.safetensors 2>%t.warnings | FileCheck %s
// RUN: FileCheck %s --check-prefix=WARN < %t.warnings
// RUN: not tensor-opt %s --kiln-freeze-variables=checkpoint=%t.absent 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not tensor-opt %s --kiln-freeze-variables 2>&1 | FileCheck %s --check-prefix=NOFILE
// RUN: tensor-opt %S/Inputs/freeze-invalid.mlir --split-input-file --kiln-freeze-variables=checkpoint=%t.safetensors -verify-diagnostics -o /dev/null

// Reads become constants with the saved values (or the initial value of a
// variable the checkpoint lacks); assignments, updates, declarations and
// training steps disappear.
// CHECK-NOT: kiln.variable
// CHECK-LABEL: func.func @predict(
// CHECK-DAG: kiln.constant dense<[1.500000e+00, -2.000000e+00]> : tensor<2xf32>
// CHECK-DAG: kiln.constant dense<2.500000e-01> : tensor<f32>
// CHECK-NOT: kiln.read_variable
// CHECK-NOT: kiln.assign_variable
// CHECK-NOT: @train
// WARN: warning: kiln-freeze-variables removed @train: it differentiates with respect to variables, which the frozen module no longer has
// MISSING: error: cannot freeze variables: cannot open checkpoint {{.*}}.absent
// NOFILE: error: kiln-freeze-variables needs checkpoint=<file>
kiln.variable @w : tensor<2xf32>
kiln.variable @b : tensor<f32> = dense<0.25>
kiln.variable @seen : tensor<i64> = dense<0>
func.func @setup() {
  %w = kiln.constant dense<[1.5, -2.0]> : tensor<2xf32>
  kiln.assign_variable @w, %w : tensor<2xf32>
  %s = kiln.constant dense<7> : tensor<i64>
  kiln.assign_variable @seen, %s : tensor<i64>
  return
}
func.func @predict(%x: tensor<2xf32>) -> tensor<f32> {
  %w = kiln.read_variable @w : tensor<2xf32>
  %b = kiln.read_variable @b : tensor<f32>
  %p = kiln.mul %x, %w : tensor<2xf32>, tensor<2xf32> -> tensor<2xf32>
  %s = kiln.reduce_sum %p {axes = array<i64: 0>} : tensor<2xf32> -> tensor<f32>
  %y = kiln.add %s, %b : tensor<f32>, tensor<f32> -> tensor<f32>
  %n = kiln.read_variable @seen : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %n1 = kiln.add %n, %one : tensor<i64>, tensor<i64> -> tensor<i64>
  kiln.assign_variable @seen, %n1 : tensor<i64>
  return %y : tensor<f32>
}
func.func private @loss(%x: tensor<2xf32>) -> tensor<f32> {
  %y = func.call @predict(%x) : (tensor<2xf32>) -> tensor<f32>
  return %y : tensor<f32>
}
func.func @train(%x: tensor<2xf32>, %lr: tensor<f32>) {
  %g = kiln.grad @loss(%x) {wrt_variables = [@w]} : (tensor<2xf32>) -> tensor<2xf32>
  kiln.apply_gradient_descent @w, %g, %lr : tensor<2xf32>, tensor<f32>
  return
}
