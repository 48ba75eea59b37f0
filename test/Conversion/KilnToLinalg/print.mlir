// RUN: tensor-opt %s --convert-kiln-to-linalg --split-input-file | FileCheck %s

// kiln.print: one runtime call per text (its bytes as an i8 constant) and
// per tensor (one function per element type), in order, each tensor cast
// to an unranked tensor; the declarations read their tensor only.
// CHECK-DAG: func.func private @kiln_print_text(i64, tensor<*xi8> {bufferization.access = "read"})
// CHECK-DAG: func.func private @kiln_print_tensor_f32(i64, i64, tensor<*xf32> {bufferization.access = "read"})
// CHECK-DAG: func.func private @kiln_print_tensor_i64(i64, i64, tensor<*xi64> {bufferization.access = "read"})
// CHECK-LABEL: func.func @f(
// CHECK-SAME: %[[X:.*]]: tensor<2x3xf32>, %[[N:.*]]: tensor<i64>
// CHECK-DAG: %[[ERR:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[SUM:.*]] = arith.constant 3 : i64
// CHECK: %[[T0:.*]] = arith.constant dense<[120, 32, 61, 32]> : tensor<4xi8>
// CHECK: %[[U0:.*]] = tensor.cast %[[T0]] : tensor<4xi8> to tensor<*xi8>
// CHECK: call @kiln_print_text(%[[ERR]], %[[U0]])
// CHECK: %[[UX:.*]] = tensor.cast %[[X]] : tensor<2x3xf32> to tensor<*xf32>
// CHECK: call @kiln_print_tensor_f32(%[[ERR]], %[[SUM]], %[[UX]])
// CHECK: call @kiln_print_text
// CHECK: %[[UN:.*]] = tensor.cast %[[N]] : tensor<i64> to tensor<*xi64>
// CHECK: call @kiln_print_tensor_i64(%[[ERR]], %[[SUM]], %[[UN]])
// CHECK: %[[NL:.*]] = arith.constant dense<10> : tensor<1xi8>
// CHECK: call @kiln_print_text
func.func @f(%x: tensor<2x3xf32>, %n: tensor<i64>) {
  kiln.print ["x = ", " n = ", "\0A"] %x, %n : tensor<2x3xf32>, tensor<i64>
  return
}

// -----

// kiln.custom_vjp runs its forward function.
// CHECK-LABEL: func.func @custom(
// CHECK: %[[R:.*]] = call @fwd(%{{.*}}) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK: return %[[R]]
func.func private @fwd(%x: tensor<3xf32>) -> tensor<3xf32> {
  return %x : tensor<3xf32>
}
func.func private @bwd(%x: tensor<3xf32>, %y: tensor<3xf32>, %dy: tensor<3xf32>) -> tensor<3xf32> {
  return %dy : tensor<3xf32>
}
func.func @custom(%x: tensor<3xf32>) -> tensor<3xf32> {
  %y = kiln.custom_vjp @fwd, @bwd(%x) : (tensor<3xf32>) -> tensor<3xf32>
  return %y : tensor<3xf32>
}

// -----

// kiln.summary_scalar: the value as f64, the step as i64, the tag and the
// file as constant texts, one runtime call.
// CHECK-LABEL: func.func @summary(
// CHECK-SAME: %[[L:.*]]: tensor<f32>, %[[S:.*]]: tensor<i32>
// CHECK: %[[V:.*]] = tensor.extract %[[L]][] : tensor<f32>
// CHECK: %[[VD:.*]] = arith.extf %[[V]] : f32 to f64
// CHECK: %[[ST:.*]] = tensor.extract %[[S]][] : tensor<i32>
// CHECK: %[[SD:.*]] = arith.extsi %[[ST]] : i32 to i64
// CHECK: call @kiln_summary_scalar(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[VD]], %[[SD]])
func.func @summary(%l: tensor<f32>, %s: tensor<i32>) {
  kiln.summary_scalar "loss" = %l at %s to "logs/scalars.csv" : tensor<f32>, tensor<i32>
  return
}
