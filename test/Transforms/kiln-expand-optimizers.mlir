// RUN: tensor-opt %s --kiln-expand-optimizers --split-input-file -verify-diagnostics | FileCheck %s

// Gradient descent: w - lr * g.
// CHECK-LABEL: func.func @sgd(
// CHECK-SAME: %[[G:.*]]: tensor<3xf32>, %[[LR:.*]]: tensor<f32>)
// CHECK: %[[W:.*]] = kiln.read_variable @w : tensor<3xf32>
// CHECK: %[[D:.*]] = kiln.mul %[[G]], %[[LR]]
// CHECK: %[[W1:.*]] = kiln.sub %[[W]], %[[D]]
// CHECK: kiln.assign_variable @w, %[[W1]] : tensor<3xf32>
kiln.variable @w : tensor<3xf32>
func.func @sgd(%g: tensor<3xf32>, %lr: tensor<f32>) {
  kiln.apply_gradient_descent @w, %g, %lr : tensor<3xf32>, tensor<f32>
  return
}

// -----

// Momentum declares its slot next to the variable (zeros) and updates it:
// v = mu * v - lr * g; w += v.
// CHECK: kiln.variable @w : tensor<3xf32>
// CHECK-NEXT: kiln.variable @w_momentum : tensor<3xf32> = dense<0.000000e+00>
// CHECK-LABEL: func.func @momentum(
// CHECK-SAME: %[[G:.*]]: tensor<3xf32>, %[[LR:.*]]: tensor<f32>)
// CHECK: %[[W:.*]] = kiln.read_variable @w
// CHECK: %[[MU:.*]] = kiln.constant dense<5.000000e-01> : tensor<f32>
// CHECK: %[[STEP:.*]] = kiln.mul %[[G]], %[[LR]]
// CHECK: %[[V:.*]] = kiln.read_variable @w_momentum
// CHECK: %[[VM:.*]] = kiln.mul %[[V]], %[[MU]]
// CHECK: %[[V1:.*]] = kiln.sub %[[VM]], %[[STEP]]
// CHECK: kiln.assign_variable @w_momentum, %[[V1]]
// CHECK: %[[W1:.*]] = kiln.add %[[W]], %[[V1]]
// CHECK: kiln.assign_variable @w, %[[W1]]
kiln.variable @w : tensor<3xf32>
func.func @momentum(%g: tensor<3xf32>, %lr: tensor<f32>) {
  kiln.apply_momentum @w, %g, %lr {momentum = 0.5 : f64} : tensor<3xf32>, tensor<f32>
  return
}

// -----

// Adam: two slots; the step is cast to the element type for the bias
// correction; the update reads m and v once and assigns all three.
// CHECK: kiln.variable @w : tensor<2xf64>
// CHECK-DAG: kiln.variable @w_adam_m : tensor<2xf64> = dense<0.000000e+00>
// CHECK-DAG: kiln.variable @w_adam_v : tensor<2xf64> = dense<0.000000e+00>
// CHECK-LABEL: func.func @adam(
// CHECK: kiln.cast %{{.*}} : tensor<i64> -> tensor<f64>
// CHECK: kiln.read_variable @w_adam_m
// CHECK: kiln.read_variable @w_adam_v
// CHECK: kiln.assign_variable @w_adam_m
// CHECK: kiln.assign_variable @w_adam_v
// CHECK: kiln.pow
// CHECK: kiln.sqrt
// CHECK: kiln.assign_variable @w,
// CHECK-NOT: kiln.apply_adam
kiln.variable @w : tensor<2xf64>
func.func @adam(%g: tensor<2xf64>, %lr: tensor<f64>, %t: tensor<i64>) {
  kiln.apply_adam @w, %g, %lr, %t : tensor<2xf64>, tensor<f64>
  return
}

// -----

// An existing slot of the right type is reused (e.g. restored from a
// checkpoint); one of another type is an error.
kiln.variable @w : tensor<2xf32>
kiln.variable @w_momentum : tensor<3xf32>
func.func @bad_slot(%g: tensor<2xf32>, %lr: tensor<f32>) {
  // expected-error@+1 {{the optimizer slot @w_momentum of @w must be a kiln.variable of type 'tensor<2xf32>', but the module has another @w_momentum}}
  kiln.apply_momentum @w, %g, %lr : tensor<2xf32>, tensor<f32>
  return
}
