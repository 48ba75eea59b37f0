// A two-layer perceptron for Fashion-MNIST, trained with Adam by one
// compiled training step: forward pass, gradients of every variable,
// updates. Variables persist between calls (tensor-run keeps them in its
// store and can save and load them as safetensors checkpoints).
//
//   # initialize (Glorot-uniform weights), then train 300 steps of 64
//   # images over the first 10000 training images:
//   tensor-run examples/fashion_mnist_mlp.mlir --entry initialize \
//       --save-variables /tmp/mlp.safetensors
//   tensor-run examples/fashion_mnist_mlp.mlir --entry train_step --repeat 300 \
//       --input idx:f32:/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz:10000 \
//       --input idx:i32:/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz:10000 \
//       --load-variables /tmp/mlp.safetensors --save-variables /tmp/mlp.safetensors \
//       --print-every 50
//   # accuracy on the 10000 test images:
//   tensor-run examples/fashion_mnist_mlp.mlir --entry accuracy --print \
//       --input idx:f32:/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz \
//       --input idx:i32:/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz \
//       --load-variables /tmp/mlp.safetensors

kiln.variable @w1 : tensor<784x128xf32>
kiln.variable @b1 : tensor<128xf32> = dense<0.0>
kiln.variable @w2 : tensor<128x10xf32>
kiln.variable @b2 : tensor<10xf32> = dense<0.0>
// Training steps taken so far (Adam's bias correction and the batch
// position use it).
kiln.variable @step : tensor<i64> = dense<0>

// Glorot-uniform weights: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).
func.func @initialize() {
  %w1 = kiln.random_uniform {static_seed = 1 : i64, minval = -0.0767 : f64, maxval = 0.0767 : f64} : tensor<784x128xf32>
  kiln.assign_variable @w1, %w1 : tensor<784x128xf32>
  %w2 = kiln.random_uniform {static_seed = 2 : i64, minval = -0.2041 : f64, maxval = 0.2041 : f64} : tensor<128x10xf32>
  kiln.assign_variable @w2, %w2 : tensor<128x10xf32>
  return
}

// Logits of a batch of images scaled to [0, 1].
func.func private @logits(%x: tensor<64x784xf32>) -> tensor<64x10xf32> {
  %w1 = kiln.read_variable @w1 : tensor<784x128xf32>
  %b1 = kiln.read_variable @b1 : tensor<128xf32>
  %w2 = kiln.read_variable @w2 : tensor<128x10xf32>
  %b2 = kiln.read_variable @b2 : tensor<10xf32>
  %h0 = kiln.matmul %x, %w1 : tensor<64x784xf32>, tensor<784x128xf32> -> tensor<64x128xf32>
  %h1 = kiln.add %h0, %b1 : tensor<64x128xf32>, tensor<128xf32> -> tensor<64x128xf32>
  %h = kiln.relu %h1 : tensor<64x128xf32>
  %o0 = kiln.matmul %h, %w2 : tensor<64x128xf32>, tensor<128x10xf32> -> tensor<64x10xf32>
  %o = kiln.add %o0, %b2 : tensor<64x10xf32>, tensor<10xf32> -> tensor<64x10xf32>
  return %o : tensor<64x10xf32>
}

func.func private @loss(%x: tensor<64x784xf32>, %y: tensor<64xi32>) -> tensor<f32> {
  %o = func.call @logits(%x) : (tensor<64x784xf32>) -> tensor<64x10xf32>
  %l = kiln.sparse_softmax_cross_entropy %o, %y : tensor<64x10xf32>, tensor<64xi32> -> tensor<64xf32>
  %m = kiln.reduce_mean %l {axes = array<i64: 0>} : tensor<64xf32> -> tensor<f32>
  return %m : tensor<f32>
}

// One step on batch number `step` (wrapping around the data): returns the
// batch's loss before the update.
func.func @train_step(%images: tensor<10000x28x28xf32>, %labels: tensor<10000xi32>) -> tensor<f32> {
  %s = kiln.read_variable @step : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %s1 = kiln.add %s, %one : tensor<i64>, tensor<i64> -> tensor<i64>
  kiln.assign_variable @step, %s1 : tensor<i64>
  // Rows (s * 64 + i) mod 10000 for i < 64.
  %batch = kiln.constant dense<64> : tensor<i64>
  %n = kiln.constant dense<10000> : tensor<i64>
  %iota = kiln.iota {dimension = 0 : i64} : tensor<64xi64>
  %base = kiln.mul %s, %batch : tensor<i64>, tensor<i64> -> tensor<i64>
  %pos = kiln.add %iota, %base : tensor<64xi64>, tensor<i64> -> tensor<64xi64>
  %q = kiln.div %pos, %n : tensor<64xi64>, tensor<i64> -> tensor<64xi64>
  %qn = kiln.mul %q, %n : tensor<64xi64>, tensor<i64> -> tensor<64xi64>
  %rows = kiln.sub %pos, %qn : tensor<64xi64>, tensor<64xi64> -> tensor<64xi64>
  %flat = kiln.reshape %images : tensor<10000x28x28xf32> -> tensor<10000x784xf32>
  %xb = kiln.gather %flat, %rows {axis = 0 : i64} : tensor<10000x784xf32>, tensor<64xi64> -> tensor<64x784xf32>
  %scale = kiln.constant dense<0.00392156886> : tensor<f32>
  %x = kiln.mul %xb, %scale : tensor<64x784xf32>, tensor<f32> -> tensor<64x784xf32>
  %y = kiln.gather %labels, %rows {axis = 0 : i64} : tensor<10000xi32>, tensor<64xi64> -> tensor<64xi32>
  %l, %gw1, %gb1, %gw2, %gb2 = kiln.value_and_grad @loss(%x, %y) {wrt_variables = [@w1, @b1, @w2, @b2]}
      : (tensor<64x784xf32>, tensor<64xi32>) -> (tensor<f32>, tensor<784x128xf32>, tensor<128xf32>, tensor<128x10xf32>, tensor<10xf32>)
  %lr = kiln.constant dense<0.001> : tensor<f32>
  kiln.apply_adam @w1, %gw1, %lr, %s1 : tensor<784x128xf32>, tensor<f32>
  kiln.apply_adam @b1, %gb1, %lr, %s1 : tensor<128xf32>, tensor<f32>
  kiln.apply_adam @w2, %gw2, %lr, %s1 : tensor<128x10xf32>, tensor<f32>
  kiln.apply_adam @b2, %gb2, %lr, %s1 : tensor<10xf32>, tensor<f32>
  return %l : tensor<f32>
}

// Fraction of the 10000 test images classified correctly (in batches of 64;
// the last 16 images are left out: 9984 are counted).
func.func @accuracy(%images: tensor<10000x28x28xf32>, %labels: tensor<10000xi32>) -> tensor<f32> {
  %zero = kiln.constant dense<0> : tensor<i64>
  %batches = kiln.constant dense<156> : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %none = kiln.constant dense<0.0> : tensor<f32>
  %flat = kiln.reshape %images : tensor<10000x28x28xf32> -> tensor<10000x784xf32>
  %correct = kiln.for %zero to %batches step %one iter_args(%none : tensor<f32>) do {
  ^bb0(%i: tensor<i64>, %acc: tensor<f32>):
    %batch = kiln.constant dense<64> : tensor<i64>
    %iota = kiln.iota {dimension = 0 : i64} : tensor<64xi64>
    %base = kiln.mul %i, %batch : tensor<i64>, tensor<i64> -> tensor<i64>
    %rows = kiln.add %iota, %base : tensor<64xi64>, tensor<i64> -> tensor<64xi64>
    %xb = kiln.gather %flat, %rows {axis = 0 : i64} : tensor<10000x784xf32>, tensor<64xi64> -> tensor<64x784xf32>
    %scale = kiln.constant dense<0.00392156886> : tensor<f32>
    %x = kiln.mul %xb, %scale : tensor<64x784xf32>, tensor<f32> -> tensor<64x784xf32>
    %y = kiln.gather %labels, %rows {axis = 0 : i64} : tensor<10000xi32>, tensor<64xi64> -> tensor<64xi32>
    %o = func.call @logits(%x) : (tensor<64x784xf32>) -> tensor<64x10xf32>
    %p = kiln.argmax %o {axis = 1 : i64} : tensor<64x10xf32> -> tensor<64xi64>
    %y64 = kiln.cast %y : tensor<64xi32> -> tensor<64xi64>
    %eq = kiln.compare eq, %p, %y64 : tensor<64xi64>, tensor<64xi64> -> tensor<64xi1>
    %f = kiln.cast %eq : tensor<64xi1> -> tensor<64xf32>
    %c = kiln.reduce_sum %f {axes = array<i64: 0>} : tensor<64xf32> -> tensor<f32>
    %next = kiln.add %acc, %c : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.yield %next : tensor<f32>
  }
  %total = kiln.constant dense<9984.0> : tensor<f32>
  %a = kiln.div %correct, %total : tensor<f32>, tensor<f32> -> tensor<f32>
  return %a : tensor<f32>
}
