// A two-layer perceptron's loss, written by hand in the Kiln dialect.
// The batch dimension of the hidden activations is left unknown (`?`), as a
// front end tracing a function with a dynamic batch would leave it, and the
// bias is added with an explicit `+ 0` that a real program would not have.
// `tensor-opt --kiln-refine-shapes --canonicalize` makes every shape static
// from the arguments and folds the identity and the constant arithmetic away.
func.func @mlp_loss(%images: tensor<32x784xf32>, %labels: tensor<32xi32>,
                    %w1: tensor<784x128xf32>, %b1: tensor<128xf32>,
                    %w2: tensor<128x10xf32>, %b2: tensor<10xf32>) -> tensor<f32> {
  %zero = kiln.constant dense<0.0> : tensor<f32>
  %h = kiln.matmul %images, %w1 : tensor<32x784xf32>, tensor<784x128xf32> -> tensor<?x128xf32>
  %hb = kiln.add %h, %b1 : tensor<?x128xf32>, tensor<128xf32> -> tensor<?x128xf32>
  %hz = kiln.add %hb, %zero : tensor<?x128xf32>, tensor<f32> -> tensor<?x128xf32>
  %a = kiln.relu %hz : tensor<?x128xf32>
  %logits = kiln.matmul %a, %w2 : tensor<?x128xf32>, tensor<128x10xf32> -> tensor<?x10xf32>
  %lb = kiln.add %logits, %b2 : tensor<?x10xf32>, tensor<10xf32> -> tensor<?x10xf32>
  %xent = kiln.sparse_softmax_cross_entropy %lb, %labels : tensor<?x10xf32>, tensor<32xi32> -> tensor<?xf32>
  %two = kiln.constant dense<2.0> : tensor<f32>
  %half = kiln.reciprocal %two : tensor<f32>
  %mean = kiln.reduce_mean %xent {axes = array<i64: 0>} : tensor<?xf32> -> tensor<f32>
  %scaled = kiln.mul %mean, %half : tensor<f32>, tensor<f32> -> tensor<f32>
  %loss = kiln.add %scaled, %scaled : tensor<f32>, tensor<f32> -> tensor<f32>
  return %loss : tensor<f32>
}
