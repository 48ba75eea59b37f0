// The stage every target shares, alone: Kiln in, linalg on tensors out,
// with the entry described and nothing bufferized or target-specific.
// RUN: tensor-opt %s --kiln-tensor-pipeline | FileCheck %s
// RUN: tensor-opt %s --kiln-tensor-pipeline="fuse-elementwise=false device=cuda" | FileCheck %s --check-prefix=NOFUSE
// RUN: tensor-opt %s --kiln-tensor-pipeline --dump-pass-pipeline -o /dev/null 2>&1 | FileCheck %s --check-prefix=STAGE

// The matmul stays a named op (target heuristics come later); the bias add
// and relu are one linalg.generic consuming it.
// CHECK-LABEL: func.func @affine
// CHECK-SAME: kiln.entry = #kiln.entry<inputs = [tensor<4x3xf32>, tensor<3x2xf32>, tensor<2xf32>], outputs = [tensor<4x2xf32>], variables = [], checks = [], device = cpu>
// CHECK: linalg.matmul
// CHECK: linalg.generic
// CHECK: arith.addf
// CHECK: arith.maximumf
// CHECK-NOT: linalg.generic
// CHECK-NOT: memref
// CHECK: return %{{.*}} : tensor<4x2xf32>

// NOFUSE-LABEL: func.func @affine
// NOFUSE-SAME: device = cuda>
// NOFUSE: linalg.matmul
// NOFUSE: linalg.generic
// NOFUSE: arith.addf
// NOFUSE: linalg.generic
// NOFUSE: arith.maximumf

// STAGE: builtin.module(
// STAGE-NEXT: kiln-expand-optimizers,
// STAGE-NEXT: kiln-autodiff{inline=true loops=tape},
// STAGE-NEXT: cse,
// STAGE-NEXT: kiln-schedule-collectives,
// STAGE-NEXT: kiln-bucket-collectives{bucket-bytes=33554432 first-bucket-bytes=1048576},
// STAGE-NEXT: kiln-overlap-collectives,
// STAGE-NEXT: kiln-externalize-variables,
// STAGE-NEXT: kiln-refine-shapes,
// STAGE-NEXT: kiln-prepare-entry-points{device=cpu},
// STAGE-NEXT: convert-kiln-to-linalg{runtime-checks=true widen-half-products=true},
// STAGE-NEXT: resolve-ranked-shaped-type-result-dims
// STAGE-NEXT: canonicalize
// STAGE-NEXT: kiln-split-shape-functions,
// STAGE-NEXT: kiln-fuse-elementwise,
// STAGE-NEXT: kiln-widen-half-accumulators{keep-plain-contractions=false},
// STAGE-NEXT: cse
// STAGE-NEXT: )
func.func @affine(%x: tensor<4x3xf32>, %w: tensor<3x2xf32>, %b: tensor<2xf32>) -> tensor<4x2xf32> {
  %0 = kiln.matmul %x, %w : tensor<4x3xf32>, tensor<3x2xf32> -> tensor<4x2xf32>
  %1 = kiln.add %0, %b : tensor<4x2xf32>, tensor<2xf32> -> tensor<4x2xf32>
  %2 = kiln.relu %1 : tensor<4x2xf32>
  return %2 : tensor<4x2xf32>
}

// A step that computes a loss and then its gradient: the gradient function
// recomputes the forward (its relu mask is needed); inlined, that forward
// merges with the step's own, so one matmul remains (the weight gradient
// x^T dY is a contraction generic at this stage), not two, and no call.
// CHECK-LABEL: func.func @loss_and_gradient
// CHECK-NOT: call
// CHECK: linalg.matmul
// CHECK-NOT: linalg.matmul
// CHECK: return
// CHECK-NOT: func.func private @loss_of
func.func @loss_and_gradient(%x: tensor<8x4xf32>, %w: tensor<4x3xf32>) -> (tensor<f32>, tensor<4x3xf32>) {
  %y = kiln.matmul %x, %w : tensor<8x4xf32>, tensor<4x3xf32> -> tensor<8x3xf32>
  %r = kiln.relu %y : tensor<8x3xf32>
  %loss = kiln.reduce_sum %r {axes = array<i64: 0, 1>} : tensor<8x3xf32> -> tensor<f32>
  %g = kiln.grad @loss_of(%w, %x) {wrt = array<i64: 0>} : (tensor<4x3xf32>, tensor<8x4xf32>) -> tensor<4x3xf32>
  return %loss, %g : tensor<f32>, tensor<4x3xf32>
}
func.func private @loss_of(%w: tensor<4x3xf32>, %x: tensor<8x4xf32>) -> tensor<f32> {
  %y = kiln.matmul %x, %w : tensor<8x4xf32>, tensor<4x3xf32> -> tensor<8x3xf32>
  %r = kiln.relu %y : tensor<8x3xf32>
  %loss = kiln.reduce_sum %r {axes = array<i64: 0, 1>} : tensor<8x3xf32> -> tensor<f32>
  return %loss : tensor<f32>
}

// A tensor that only supplies open extents (here a reduction of %x, the
// `like` of a broadcast and of a random op) is never computed: its extents
// are taken from %x, and the reduction dies.
// CHECK-LABEL: func.func @extents_only
// CHECK-SAME: (%[[X:.*]]: tensor<?x3xf32>
// CHECK: %[[N:.*]] = tensor.dim %[[X]]
// CHECK-NOT: "reduction"
// CHECK: tensor.empty(%[[N]]) : tensor<?x7xf32>
// CHECK-NOT: "reduction"
// CHECK: return
func.func @extents_only(%x: tensor<?x3xf32>) -> (tensor<?x7xf32>, tensor<?x7xf32>) {
  %r = kiln.reduce_sum %x {axes = array<i64: 1>} : tensor<?x3xf32> -> tensor<?xf32>
  %c = kiln.reshape %r : tensor<?xf32> -> tensor<?x1xf32>
  %z = kiln.constant dense<0.0> : tensor<1x7xf32>
  %like = kiln.add %c, %z : tensor<?x1xf32>, tensor<1x7xf32> -> tensor<?x7xf32>
  %one = kiln.constant dense<1.0> : tensor<f32>
  %b = kiln.broadcast_to %one like %like : tensor<f32>, tensor<?x7xf32> -> tensor<?x7xf32>
  %u = kiln.random_uniform like %like {static_seed = 3 : i64} : tensor<?x7xf32>, tensor<?x7xf32>
  return %b, %u : tensor<?x7xf32>, tensor<?x7xf32>
}
