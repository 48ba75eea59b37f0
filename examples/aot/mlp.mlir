// The MLP 784-128-10 as an ahead-of-time library: a whole training step
// (forward pass, gradients of every weight, Adam updates) and a prediction
// entry, compiled by tensor-compile into libmlp.so + mlp.h. See train.c.
//
//   tensor-compile examples/aot/mlp.mlir -o out/mlp

kiln.variable @w1 : tensor<784x128xf32>
kiln.variable @b1 : tensor<128xf32> = dense<0.0>
kiln.variable @w2 : tensor<128x10xf32>
kiln.variable @b2 : tensor<10xf32> = dense<0.0>
// Adam's step count (its bias correction uses it).
kiln.variable @step : tensor<i64> = dense<0>

// Glorot-uniform weights: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).
func.func @initialize() {
  %w1 = kiln.random_uniform {static_seed = 1 : i64, minval = -0.0767 : f64, maxval = 0.0767 : f64} : tensor<784x128xf32>
  kiln.assign_variable @w1, %w1 : tensor<784x128xf32>
  %w2 = kiln.random_uniform {static_seed = 2 : i64, minval = -0.2041 : f64, maxval = 0.2041 : f64} : tensor<128x10xf32>
  kiln.assign_variable @w2, %w2 : tensor<128x10xf32>
  return
}

func.func private @loss(%x: tensor<64x784xf32>, %y: tensor<64xi32>) -> tensor<f32> {
  %w1 = kiln.read_variable @w1 : tensor<784x128xf32>
  %b1 = kiln.read_variable @b1 : tensor<128xf32>
  %w2 = kiln.read_variable @w2 : tensor<128x10xf32>
  %b2 = kiln.read_variable @b2 : tensor<10xf32>
  %h0 = kiln.matmul %x, %w1 : tensor<64x784xf32>, tensor<784x128xf32> -> tensor<64x128xf32>
  %h1 = kiln.add %h0, %b1 : tensor<64x128xf32>, tensor<128xf32> -> tensor<64x128xf32>
  %h = kiln.relu %h1 : tensor<64x128xf32>
  %o0 = kiln.matmul %h, %w2 : tensor<64x128xf32>, tensor<128x10xf32> -> tensor<64x10xf32>
  %o = kiln.add %o0, %b2 : tensor<64x10xf32>, tensor<10xf32> -> tensor<64x10xf32>
  %l = kiln.sparse_softmax_cross_entropy %o, %y : tensor<64x10xf32>, tensor<64xi32> -> tensor<64xf32>
  %m = kiln.reduce_mean %l {axes = array<i64: 0>} : tensor<64xf32> -> tensor<f32>
  return %m : tensor<f32>
}

// One Adam step on a batch of 64 images (pixels 0-255) and their labels;
// returns the batch's loss before the update.
func.func @train_step(%images: tensor<64x784xf32>, %labels: tensor<64xi32>) -> tensor<f32> {
  %scale = kiln.constant dense<0.00392156886> : tensor<f32>
  %x = kiln.mul %images, %scale : tensor<64x784xf32>, tensor<f32> -> tensor<64x784xf32>
  %s = kiln.read_variable @step : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %s1 = kiln.add %s, %one : tensor<i64>, tensor<i64> -> tensor<i64>
  kiln.assign_variable @step, %s1 : tensor<i64>
  %l, %gw1, %gb1, %gw2, %gb2 = kiln.value_and_grad @loss(%x, %labels) {wrt_variables = [@w1, @b1, @w2, @b2]}
      : (tensor<64x784xf32>, tensor<64xi32>) -> (tensor<f32>, tensor<784x128xf32>, tensor<128xf32>, tensor<128x10xf32>, tensor<10xf32>)
  %lr = kiln.constant dense<0.001> : tensor<f32>
  kiln.apply_adam @w1, %gw1, %lr, %s1 : tensor<784x128xf32>, tensor<f32>
  kiln.apply_adam @b1, %gb1, %lr, %s1 : tensor<128xf32>, tensor<f32>
  kiln.apply_adam @w2, %gw2, %lr, %s1 : tensor<128x10xf32>, tensor<f32>
  kiln.apply_adam @b2, %gb2, %lr, %s1 : tensor<10xf32>, tensor<f32>
  return %l : tensor<f32>
}

// Predicted classes of 1000 images (pixels 0-255): the same forward pass
// on a larger batch.
func.func @predict(%images: tensor<1000x784xf32>) -> tensor<1000xi64> {
  %scale = kiln.constant dense<0.00392156886> : tensor<f32>
  %x = kiln.mul %images, %scale : tensor<1000x784xf32>, tensor<f32> -> tensor<1000x784xf32>
  %w1 = kiln.read_variable @w1 : tensor<784x128xf32>
  %b1 = kiln.read_variable @b1 : tensor<128xf32>
  %w2 = kiln.read_variable @w2 : tensor<128x10xf32>
  %b2 = kiln.read_variable @b2 : tensor<10xf32>
  %h0 = kiln.matmul %x, %w1 : tensor<1000x784xf32>, tensor<784x128xf32> -> tensor<1000x128xf32>
  %h1 = kiln.add %h0, %b1 : tensor<1000x128xf32>, tensor<128xf32> -> tensor<1000x128xf32>
  %h = kiln.relu %h1 : tensor<1000x128xf32>
  %o0 = kiln.matmul %h, %w2 : tensor<1000x128xf32>, tensor<128x10xf32> -> tensor<1000x10xf32>
  %o = kiln.add %o0, %b2 : tensor<1000x10xf32>, tensor<10xf32> -> tensor<1000x10xf32>
  %p = kiln.argmax %o {axis = 1 : i64} : tensor<1000x10xf32> -> tensor<1000xi64>
  return %p : tensor<1000xi64>
}
