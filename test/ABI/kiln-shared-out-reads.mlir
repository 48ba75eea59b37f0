// RUN: tensor-opt %s --split-input-file --kiln-shared-out-reads | FileCheck %s

// A weight update in tiles (w - lr * g, tile by tile) that writes the
// variable's tensor %w: the tile of the old value is read through the
// loop's shared output, the same slice the iteration writes.
// CHECK-LABEL: func.func @update
// CHECK: scf.forall (%[[I:.*]]) = (0) to (64) step (16) shared_outs(%[[OUT:.*]] = %[[W:.*]])
// CHECK: tensor.extract_slice %[[OUT]][%[[I]], 0] [16, 8] [1, 1]
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[OUT]][%[[I]], 0] [16, 8] [1, 1]
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @update(%w: tensor<64x8xf32>, %g: tensor<64x8xf32>) -> tensor<64x8xf32> {
  %r = scf.forall (%i) = (0) to (64) step (16) shared_outs(%o = %w) -> (tensor<64x8xf32>) {
    %old = tensor.extract_slice %w[%i, 0] [16, 8] [1, 1] : tensor<64x8xf32> to tensor<16x8xf32>
    %grad = tensor.extract_slice %g[%i, 0] [16, 8] [1, 1] : tensor<64x8xf32> to tensor<16x8xf32>
    %dest = tensor.extract_slice %o[%i, 0] [16, 8] [1, 1] : tensor<64x8xf32> to tensor<16x8xf32>
    %new = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
        ins(%old, %grad : tensor<16x8xf32>, tensor<16x8xf32>) outs(%dest : tensor<16x8xf32>) {
    ^bb0(%a: f32, %b: f32, %c: f32):
      %d = arith.subf %a, %b : f32
      linalg.yield %d : f32
    } -> tensor<16x8xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %new into %o[%i, 0] [16, 8] [1, 1] : tensor<16x8xf32> into tensor<64x8xf32>
    }
  }
  return %r : tensor<64x8xf32>
}

// -----

// A read of another slice of %w (the next tile) is not this iteration's
// own slice: it keeps reading %w.
// CHECK-LABEL: func.func @neighbour
// CHECK: scf.forall (%[[I:.*]]) = {{.*}} shared_outs(%{{.*}} = %[[W:[^)]*]])
// CHECK: tensor.extract_slice %[[W]][%{{.*}}, 0] [16, 8] [1, 1]
func.func @neighbour(%w: tensor<64x8xf32>) -> tensor<64x8xf32> {
  %r = scf.forall (%i) = (0) to (48) step (16) shared_outs(%o = %w) -> (tensor<64x8xf32>) {
    %j = affine.apply affine_map<(d0) -> (d0 + 16)>(%i)
    %next = tensor.extract_slice %w[%j, 0] [16, 8] [1, 1] : tensor<64x8xf32> to tensor<16x8xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %next into %o[%i, 0] [16, 8] [1, 1] : tensor<16x8xf32> into tensor<64x8xf32>
    }
  }
  return %r : tensor<64x8xf32>
}
