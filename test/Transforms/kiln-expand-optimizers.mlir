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

// -----

// RMSprop, plain: one slot; no momentum or mean-gradient slot.
// CHECK: kiln.variable @w : tensor<3xf32>
// CHECK-NEXT: kiln.variable @w_rms : tensor<3xf32> = dense<0.000000e+00>
// CHECK-NOT: @w_rms_momentum
// CHECK-LABEL: func.func @rmsprop(
// CHECK: kiln.read_variable @w_rms
// CHECK: kiln.assign_variable @w_rms
// CHECK: kiln.sqrt
// CHECK: kiln.div
// CHECK: kiln.assign_variable @w,
// CHECK-NOT: kiln.apply_rmsprop
kiln.variable @w : tensor<3xf32>
func.func @rmsprop(%g: tensor<3xf32>, %lr: tensor<f32>) {
  kiln.apply_rmsprop @w, %g, %lr : tensor<3xf32>, tensor<f32>
  return
}

// -----

// RMSprop, centered with momentum: three slots, the mean gradient's square
// subtracted before the square root, the momentum slot carrying the step.
// CHECK-DAG: kiln.variable @w_rms : tensor<3xf32> = dense<0.000000e+00>
// CHECK-DAG: kiln.variable @w_rms_mg : tensor<3xf32> = dense<0.000000e+00>
// CHECK-DAG: kiln.variable @w_rms_momentum : tensor<3xf32> = dense<0.000000e+00>
// CHECK-LABEL: func.func @rmsprop_centered(
// CHECK: kiln.assign_variable @w_rms,
// CHECK: kiln.assign_variable @w_rms_mg,
// CHECK: kiln.sub
// CHECK: kiln.sqrt
// CHECK: %[[MOM:.*]] = kiln.add
// CHECK: kiln.assign_variable @w_rms_momentum, %[[MOM]]
// CHECK: %[[W1:.*]] = kiln.sub %{{.*}}, %[[MOM]]
// CHECK: kiln.assign_variable @w, %[[W1]]
kiln.variable @w : tensor<3xf32>
func.func @rmsprop_centered(%g: tensor<3xf32>, %lr: tensor<f32>) {
  kiln.apply_rmsprop @w, %g, %lr {momentum = 0.5 : f64, centered} : tensor<3xf32>, tensor<f32>
  return
}

// -----

// Adagrad's accumulator starts at initial_accumulator_value, not zero.
// CHECK: kiln.variable @w_adagrad : tensor<2xf32> = dense<2.500000e-01>
// CHECK-LABEL: func.func @adagrad(
// CHECK: %[[A:.*]] = kiln.read_variable @w_adagrad
// CHECK: %[[A1:.*]] = kiln.add %[[A]]
// CHECK: kiln.assign_variable @w_adagrad, %[[A1]]
// CHECK: kiln.sqrt
// CHECK: kiln.assign_variable @w,
kiln.variable @w : tensor<2xf32>
func.func @adagrad(%g: tensor<2xf32>, %lr: tensor<f32>) {
  kiln.apply_adagrad @w, %g, %lr {initial_accumulator_value = 0.25 : f64} : tensor<2xf32>, tensor<f32>
  return
}

// -----

// Adamax: the infinity norm is a maximum of the decayed norm and |g|; the
// bias correction uses the step.
// CHECK-DAG: kiln.variable @w_adamax_m : tensor<2xf32> = dense<0.000000e+00>
// CHECK-DAG: kiln.variable @w_adamax_u : tensor<2xf32> = dense<0.000000e+00>
// CHECK-LABEL: func.func @adamax(
// CHECK: kiln.cast %{{.*}} : tensor<i64> -> tensor<f32>
// CHECK: %[[ABS:.*]] = kiln.abs
// CHECK: %[[U:.*]] = kiln.maximum %{{.*}}, %[[ABS]]
// CHECK: kiln.assign_variable @w_adamax_u, %[[U]]
// CHECK: kiln.pow
// CHECK: kiln.assign_variable @w,
kiln.variable @w : tensor<2xf32>
func.func @adamax(%g: tensor<2xf32>, %lr: tensor<f32>, %t: tensor<i64>) {
  kiln.apply_adamax @w, %g, %lr, %t : tensor<2xf32>, tensor<f32>
  return
}

// -----

// Lion: the step is the sign of beta1 m + (1 - beta1) g (after the decoupled
// decay); the momentum moves with beta2 after the step.
// CHECK-DAG: kiln.variable @w_lion_m : tensor<2xf32> = dense<0.000000e+00>
// CHECK-LABEL: func.func @lion(
// CHECK-SAME: %[[G:.*]]: tensor<2xf32>, %[[LR:.*]]: tensor<f32>
// CHECK: %[[W:.*]] = kiln.read_variable @w
// CHECK: kiln.sub %[[W]],
// CHECK: %[[M:.*]] = kiln.read_variable @w_lion_m
// CHECK: %[[S:.*]] = kiln.sign
// CHECK: %[[STEP:.*]] = kiln.mul %[[LR]], %[[S]]
// CHECK: %[[W2:.*]] = kiln.sub %{{.*}}, %[[STEP]]
// CHECK: kiln.assign_variable @w, %[[W2]]
// CHECK: kiln.constant dense<9.800000e-01>
// CHECK: kiln.assign_variable @w_lion_m,
kiln.variable @w : tensor<2xf32>
func.func @lion(%g: tensor<2xf32>, %lr: tensor<f32>) {
  kiln.apply_lion @w, %g, %lr {beta2 = 0.98 : f64, weight_decay = 0.1 : f64} : tensor<2xf32>, tensor<f32>
  return
}

// -----

// AdamW: the variable shrinks by lr * weight_decay * w before the Adam step
// (decoupled from the gradient).
// CHECK-LABEL: func.func @adamw(
// CHECK-SAME: %[[G:.*]]: tensor<2xf32>, %[[LR:.*]]: tensor<f32>
// CHECK: %[[W:.*]] = kiln.read_variable @w
// CHECK: %[[WD:.*]] = kiln.constant dense<1.000000e-01>
// CHECK: %[[R:.*]] = kiln.mul %[[LR]], %[[WD]]
// CHECK: %[[D:.*]] = kiln.mul %[[R]], %[[W]]
// CHECK: %[[W1:.*]] = kiln.sub %[[W]], %[[D]]
// CHECK: %[[W2:.*]] = kiln.sub %[[W1]],
// CHECK: kiln.assign_variable @w, %[[W2]]
kiln.variable @w : tensor<2xf32>
func.func @adamw(%g: tensor<2xf32>, %lr: tensor<f32>, %t: tensor<i64>) {
  kiln.apply_adam @w, %g, %lr, %t {weight_decay = 0.1 : f64} : tensor<2xf32>, tensor<f32>
  return
}

// -----

// Adadelta: two running means (squared gradients, squared updates); the
// update uses the old second one, the slot gets the new.
// CHECK-DAG: kiln.variable @w_adadelta_g : tensor<2xf32> = dense<0.000000e+00>
// CHECK-DAG: kiln.variable @w_adadelta_d : tensor<2xf32> = dense<0.000000e+00>
// CHECK-LABEL: func.func @adadelta(
// CHECK: kiln.read_variable @w_adadelta_g
// CHECK: kiln.read_variable @w_adadelta_d
// CHECK: kiln.sqrt
// CHECK: kiln.sqrt
// CHECK: kiln.assign_variable @w_adadelta_g,
// CHECK: kiln.assign_variable @w_adadelta_d,
// CHECK: kiln.assign_variable @w,
kiln.variable @w : tensor<2xf32>
func.func @adadelta(%g: tensor<2xf32>, %lr: tensor<f32>) {
  kiln.apply_adadelta @w, %g, %lr {rho = 0.9 : f64} : tensor<2xf32>, tensor<f32>
  return
}

// -----

// Nadam: the schedule's running product comes in as an operand (the same
// for every variable of the step); the schedule at t + 1 multiplies it for
// the momentum term, the plain product divides the gradient term.
// CHECK-DAG: kiln.variable @w_nadam_m : tensor<2xf32> = dense<0.000000e+00>
// CHECK-DAG: kiln.variable @w_nadam_v : tensor<2xf32> = dense<0.000000e+00>
// CHECK-LABEL: func.func @nadam(
// CHECK-SAME: %[[G:.*]]: tensor<2xf32>, %[[LR:.*]]: tensor<f32>, %[[T:.*]]: tensor<i64>, %[[U:.*]]: tensor<f32>
// CHECK: %[[TF:.*]] = kiln.cast %[[T]] : tensor<i64> -> tensor<f32>
// CHECK: kiln.pow %{{.*}}, %[[TF]]
// CHECK: %[[T1:.*]] = kiln.add %[[TF]],
// CHECK: kiln.pow %{{.*}}, %[[T1]]
// CHECK: kiln.assign_variable @w_nadam_m
// CHECK: kiln.assign_variable @w_nadam_v
// CHECK: kiln.mul %[[U]], %{{.*}}
// CHECK: kiln.sub %{{.*}}, %[[U]]
// CHECK: kiln.assign_variable @w,
kiln.variable @w : tensor<2xf32>
func.func @nadam(%g: tensor<2xf32>, %lr: tensor<f32>, %t: tensor<i64>, %u: tensor<f32>) {
  kiln.apply_nadam @w, %g, %lr, %t, %u : tensor<2xf32>, tensor<f32>, tensor<f32>
  return
}

// -----

// Ftrl: the accumulator starts at initial_accumulator_value; the default
// power -0.5 is a square root, another one a kiln.pow; the new weight is the
// clipped linear term over the quadratic one.
// CHECK-DAG: kiln.variable @w_ftrl_accumulator : tensor<2xf32> = dense<1.000000e-01>
// CHECK-DAG: kiln.variable @w_ftrl_linear : tensor<2xf32> = dense<0.000000e+00>
// CHECK-LABEL: func.func @ftrl(
// CHECK: kiln.sqrt
// CHECK: kiln.read_variable @w_ftrl_linear
// CHECK: %[[LIN:.*]] = kiln.sub
// CHECK: %[[HI:.*]] = kiln.maximum %[[LIN]], %{{.*}}
// CHECK: %[[CLIP:.*]] = kiln.minimum %[[HI]], %{{.*}}
// CHECK: kiln.assign_variable @w_ftrl_linear, %[[LIN]]
// CHECK: kiln.assign_variable @w_ftrl_accumulator
// CHECK: %[[NUM:.*]] = kiln.sub %[[CLIP]], %[[LIN]]
// CHECK: %[[W:.*]] = kiln.div %[[NUM]], %{{.*}}
// CHECK: kiln.assign_variable @w, %[[W]]
// CHECK-LABEL: func.func @ftrl_power(
// CHECK-NOT: kiln.sqrt
// CHECK: kiln.constant dense<0.69{{[0-9]+}}>
// CHECK: kiln.pow
kiln.variable @w : tensor<2xf32>
func.func @ftrl(%g: tensor<2xf32>, %lr: tensor<f32>) {
  kiln.apply_ftrl @w, %g, %lr {l1 = 0.01 : f64} : tensor<2xf32>, tensor<f32>
  return
}
kiln.variable @v : tensor<2xf32>
func.func @ftrl_power(%g: tensor<2xf32>, %lr: tensor<f32>) {
  kiln.apply_ftrl @v, %g, %lr {learning_rate_power = -0.7 : f64} : tensor<2xf32>, tensor<f32>
  return
}
