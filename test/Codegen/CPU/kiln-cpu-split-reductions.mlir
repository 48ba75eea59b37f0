// RUN: tensor-opt %s --split-input-file --kiln-cpu-split-reductions=vector-bits=512 | FileCheck %s
// RUN: tensor-opt %s --split-input-file --kiln-cpu-split-reductions=vector-bits=256 | FileCheck %s --check-prefix=AVX2

// Row sums of 256 f32: 64 accumulators per row (four AVX-512 vectors), each
// summing every 64th element (the row seen as 4 x 64, the 64 a parallel
// loop, innermost and contiguous), then the 64 partial sums reduced.
// CHECK-LABEL: func.func @row_sums
// CHECK: %[[ROWS:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0], [1, 2]] output_shape [8, 4, 64]
// CHECK: %[[ACC:.*]] = linalg.fill {{.*}} -> tensor<8x64xf32>
// CHECK: %[[PARTIAL:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "parallel"]{{.*}} ins(%[[ROWS]] : tensor<8x4x64xf32>) outs(%[[ACC]] : tensor<8x64xf32>)
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]{{.*}} ins(%[[PARTIAL]] : tensor<8x64xf32>) outs(%{{.*}} : tensor<8xf32>)
// AVX2-LABEL: func.func @row_sums
// AVX2: output_shape [8, 8, 32]
#rows = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @row_sums(%x: tensor<8x256xf32>) -> tensor<8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %r = linalg.generic {indexing_maps = [#rows, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<8x256xf32>) outs(%f : tensor<8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %acc, %a : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  return %r : tensor<8xf32>
}

// -----

// A row maximum of 48 f64 (8 lanes with AVX-512): 48 splits into two
// vectors of accumulators (16), not four.
// CHECK-LABEL: func.func @row_max_f64
// CHECK: output_shape [2, 3, 16]
// CHECK: arith.maximumf
#rows = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @row_max_f64(%x: tensor<2x48xf64>, %init: tensor<2xf64>) -> tensor<2xf64> {
  %r = linalg.generic {indexing_maps = [#rows, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<2x48xf64>) outs(%init : tensor<2xf64>) {
  ^bb0(%a: f64, %acc: f64):
    %m = arith.maximumf %acc, %a : f64
    linalg.yield %m : f64
  } -> tensor<2xf64>
  return %r : tensor<2xf64>
}

// -----

// Left alone: a row of 100 (not a whole number of vectors), a reduction
// over the rows (its innermost loop is already parallel), and a
// contraction (kiln-cpu-tile-contractions' work).
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: tensor.expand_shape
// CHECK: iterator_types = ["parallel", "reduction"]
// CHECK: iterator_types = ["reduction", "parallel"]
// CHECK: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-NOT: tensor.expand_shape
#rows = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#col = affine_map<(d0, d1) -> (d1)>
#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#b = affine_map<(d0, d1, d2) -> (d2, d1)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @left_alone(%x: tensor<8x100xf32>, %y: tensor<256x64xf32>, %p: tensor<8x256xf32>,
                      %i8: tensor<8xf32>, %i64: tensor<64xf32>, %i88: tensor<8x64xf32>)
    -> (tensor<8xf32>, tensor<64xf32>, tensor<8x64xf32>) {
  %r = linalg.generic {indexing_maps = [#rows, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<8x100xf32>) outs(%i8 : tensor<8xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %s = arith.addf %acc, %v : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %c = linalg.generic {indexing_maps = [#rows, #col], iterator_types = ["reduction", "parallel"]}
      ins(%y : tensor<256x64xf32>) outs(%i64 : tensor<64xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %s = arith.addf %acc, %v : f32
    linalg.yield %s : f32
  } -> tensor<64xf32>
  %m = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%p, %y : tensor<8x256xf32>, tensor<256x64xf32>) outs(%i88 : tensor<8x64xf32>) {
  ^bb0(%u: f32, %v: f32, %acc: f32):
    %t = arith.mulf %u, %v : f32
    %s = arith.addf %acc, %t : f32
    linalg.yield %s : f32
  } -> tensor<8x64xf32>
  return %r, %c, %m : tensor<8xf32>, tensor<64xf32>, tensor<8x64xf32>
}

// -----

// A sum whose body reads its position (a loss picked by the row's label):
// split, linalg.index would return the wrong row.
// CHECK-LABEL: func.func @indexed
// CHECK-NOT: tensor.expand_shape
// CHECK: linalg.index 0
#v = affine_map<(d0) -> (d0)>
#s = affine_map<(d0) -> ()>
func.func @indexed(%x: tensor<64xf32>, %init: tensor<f32>) -> tensor<f32> {
  %r = linalg.generic {indexing_maps = [#v, #s], iterator_types = ["reduction"]}
      ins(%x : tensor<64xf32>) outs(%init : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %i = linalg.index 0 : index
    %c = arith.index_cast %i : index to i64
    %f = arith.sitofp %c : i64 to f32
    %t = arith.mulf %a, %f : f32
    %s = arith.addf %acc, %t : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  return %r : tensor<f32>
}

// -----

// A reduction that reads a broadcast through a constant index (a keepdims
// mean read as (d0, 0), as in a variance) is left alone: upstream's split
// reads every map result as a loop.
// CHECK-LABEL: func.func @broadcast_constant
// CHECK-NOT: tensor.expand_shape
#rows = affine_map<(d0, d1) -> (d0, d1)>
#first = affine_map<(d0, d1) -> (d0, 0)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @broadcast_constant(%x: tensor<8x256xf32>, %m: tensor<8x1xf32>, %init: tensor<8xf32>) -> tensor<8xf32> {
  %r = linalg.generic {indexing_maps = [#rows, #first, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x, %m : tensor<8x256xf32>, tensor<8x1xf32>) outs(%init : tensor<8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %d = arith.subf %a, %b : f32
    %q = arith.mulf %d, %d : f32
    %s = arith.addf %acc, %q : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  return %r : tensor<8xf32>
}
