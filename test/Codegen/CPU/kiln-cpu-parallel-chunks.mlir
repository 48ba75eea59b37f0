// RUN: tensor-opt %s --split-input-file --kiln-cpu-parallel-chunks | FileCheck %s

// An elementwise op of 1024 x 256 = 262144 iterations: eight chunks of 128
// rows (32768 iterations each) in a parallel loop.
// CHECK-LABEL: func.func @relu
// CHECK: scf.forall (%[[I:.*]]) = (0) to (1024) step (128) shared_outs(%[[OUT:.*]] =
// CHECK: %[[IN:.*]] = tensor.extract_slice %{{.*}}[%[[I]], 0] [128, 256]
// CHECK: linalg.generic {{.*}} ins(%[[IN]] : tensor<128x256xf32>)
// CHECK: arith.maximumf
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[OUT]][%[[I]], 0] [128, 256]
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @relu(%x: tensor<1024x256xf32>) -> tensor<1024x256xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1024x256xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<1024x256xf32>) outs(%e : tensor<1024x256xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1024x256xf32>
  return %r : tensor<1024x256xf32>
}

// -----

// A sum over the rows (the bias gradient): the reduction loop is outermost
// and stays whole inside each chunk; the chunks split the columns, and the
// accumulator's fill is fused into them.
// CHECK-LABEL: func.func @column_sums
// CHECK-NOT: linalg.fill
// CHECK: scf.forall (%[[J:.*]]) = (0) to (1024) step (128)
// CHECK: tensor.extract_slice %{{.*}}[0, %[[J]]] [256, 128]
// CHECK: linalg.fill {{.*}} -> tensor<128xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]
#rows = affine_map<(d0, d1) -> (d0, d1)>
#cols = affine_map<(d0, d1) -> (d1)>
func.func @column_sums(%x: tensor<256x1024xf32>) -> tensor<1024xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1024xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1024xf32>) -> tensor<1024xf32>
  %s = linalg.generic {indexing_maps = [#rows, #cols], iterator_types = ["reduction", "parallel"]}
      ins(%x : tensor<256x1024xf32>) outs(%f : tensor<1024xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %t = arith.addf %acc, %a : f32
    linalg.yield %t : f32
  } -> tensor<1024xf32>
  return %s : tensor<1024xf32>
}

// -----

// One long loop (a flat elementwise op of 1M floats): 32 chunks of 32768,
// each a whole number of 64-element blocks.
// CHECK-LABEL: func.func @flat
// CHECK: scf.forall (%{{.*}}) = (0) to (1048576) step (32768)
#flat = affine_map<(d0) -> (d0)>
func.func @flat(%x: tensor<1048576xf32>, %y: tensor<1048576xf32>) -> tensor<1048576xf32> {
  %e = tensor.empty() : tensor<1048576xf32>
  %r = linalg.generic {indexing_maps = [#flat, #flat, #flat], iterator_types = ["parallel"]}
      ins(%x, %y : tensor<1048576xf32>, tensor<1048576xf32>) outs(%e : tensor<1048576xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<1048576xf32>
  return %r : tensor<1048576xf32>
}

// -----

// Small ops (under 262144 iterations, such as the 784 x 128 = 100352 of an
// optimizer update of a dense kernel) are not worth a parallel loop: split
// three ways, that update ran slower even on one thread.
// CHECK-LABEL: func.func @small
// CHECK-NOT: scf.forall
#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @small(%x: tensor<784x128xf32>) -> tensor<784x128xf32> {
  %e = tensor.empty() : tensor<784x128xf32>
  %r = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<784x128xf32>) outs(%e : tensor<784x128xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  } -> tensor<784x128xf32>
  return %r : tensor<784x128xf32>
}

// -----

// A convolution's bias gradient, a sum over 32 x 24 x 24 pixels into 16
// channels: the 16 channels are too few to split, so the batch is, into 8
// partial sums of 4 images each (rows of an 8 x 16 tensor, each computed
// by one iteration of the parallel loop), then added in order into the
// result.
// CHECK-LABEL: func.func @bias_gradient
// CHECK-SAME: (%[[DY:.*]]: tensor<32x24x24x16xf32>)
// CHECK: %[[INIT:.*]] = linalg.fill {{.*}} -> tensor<16xf32>
// CHECK: %[[ZEROS:.*]] = linalg.fill {{.*}} -> tensor<8x16xf32>
// CHECK: %[[PARTIALS:.*]] = scf.forall (%[[S:.*]]) in (8) shared_outs(%[[P:.*]] = %[[ZEROS]])
// CHECK: tensor.extract_slice %[[DY]][%{{.*}}, 0, 0, 0] [4, 24, 24, 16]
// CHECK: %[[ROW:.*]] = tensor.extract_slice %[[P]][%[[S]], 0] [1, 16] [1, 1] : tensor<8x16xf32> to tensor<16xf32>
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<4x24x24x16xf32>) outs(%[[ROW]] : tensor<16xf32>)
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[P]][%[[S]], 0] [1, 16]
// CHECK: linalg.reduce ins(%[[PARTIALS]] : tensor<8x16xf32>) outs(%[[INIT]] : tensor<16xf32>) dimensions = [0]
// CHECK: arith.addf
#in = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#channel = affine_map<(d0, d1, d2, d3) -> (d3)>
func.func @bias_gradient(%dy: tensor<32x24x24x16xf32>) -> tensor<16xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<16xf32>) -> tensor<16xf32>
  %r = linalg.generic {indexing_maps = [#in, #channel], iterator_types = ["reduction", "reduction", "reduction", "parallel"]}
      ins(%dy : tensor<32x24x24x16xf32>) outs(%f : tensor<16xf32>) {
  ^bb0(%x: f32, %acc: f32):
    %s = arith.addf %acc, %x : f32
    linalg.yield %s : f32
  } -> tensor<16xf32>
  return %r : tensor<16xf32>
}

// -----

// The same sum with a body that reads its position (a gather fused into
// it): a chunk's linalg.index would count from the chunk's start, so it is
// not split.
// CHECK-LABEL: func.func @indexed_sum
// CHECK-NOT: scf.forall
// CHECK: linalg.index 0
#in = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#channel = affine_map<(d0, d1, d2, d3) -> (d3)>
func.func @indexed_sum(%dy: tensor<32x24x24x16xf32>, %init: tensor<16xf32>) -> tensor<16xf32> {
  %r = linalg.generic {indexing_maps = [#in, #channel], iterator_types = ["reduction", "reduction", "reduction", "parallel"]}
      ins(%dy : tensor<32x24x24x16xf32>) outs(%init : tensor<16xf32>) {
  ^bb0(%x: f32, %acc: f32):
    %n = linalg.index 0 : index
    %i = arith.index_cast %n : index to i64
    %f = arith.sitofp %i : i64 to f32
    %w = arith.mulf %x, %f : f32
    %s = arith.addf %acc, %w : f32
    linalg.yield %s : f32
  } -> tensor<16xf32>
  return %r : tensor<16xf32>
}

// -----

// On buffers (the pass runs again after bufferization): a fill of a padded
// gradient, 32 x 28 x 28 x 16 = 401408 iterations, becomes a parallel loop
// of 11 chunks of 3 images (the last one of 2), each a fill of a subview.
// CHECK-LABEL: func.func @padded_fill
// CHECK: scf.forall (%[[C:.*]]) = (0) to (32) step (3)
// CHECK:   %[[SIZE:.*]] = affine.min #{{.*}}(%[[C]])
// CHECK:   %[[CHUNK:.*]] = memref.subview %{{.*}}[%[[C]], 0, 0, 0] [%[[SIZE]], 28, 28, 16] [1, 1, 1, 1]
// CHECK:   linalg.fill ins(%{{.*}} : f32) outs(%[[CHUNK]] : memref<?x28x28x16xf32, strided<[12544, 448, 16, 1], offset: ?>>)
// CHECK-NOT: linalg.fill
func.func @padded_fill(%out: memref<32x28x28x16xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%out : memref<32x28x28x16xf32>)
  return
}

// -----

// A copy on buffers between strided views: both operands are cut the same
// way. A small one, and an op inside a loop, stay as they are.
// CHECK-LABEL: func.func @buffer_copy
// CHECK: scf.forall (%{{.*}}) = (0) to (32) step (4)
// CHECK:   memref.subview %{{.*}} [4, 24, 24, 16]
// CHECK:   memref.subview %{{.*}} [4, 24, 24, 16]
// CHECK:   linalg.copy
// CHECK: linalg.copy ins(%{{.*}} : memref<4x16xf32>)
// CHECK: scf.for
// CHECK-NEXT: linalg.copy ins(%{{.*}} : memref<32x24x24x16xf32
func.func @buffer_copy(%in: memref<32x28x28x16xf32>, %out: memref<32x24x24x16xf32>,
                       %a: memref<4x16xf32>, %b: memref<4x16xf32>) {
  %view = memref.subview %in[0, 2, 2, 0] [32, 24, 24, 16] [1, 1, 1, 1] : memref<32x28x28x16xf32> to memref<32x24x24x16xf32, strided<[12544, 448, 16, 1], offset: 928>>
  linalg.copy ins(%view : memref<32x24x24x16xf32, strided<[12544, 448, 16, 1], offset: 928>>) outs(%out : memref<32x24x24x16xf32>)
  linalg.copy ins(%a : memref<4x16xf32>) outs(%b : memref<4x16xf32>)
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %c2 step %c1 {
    linalg.copy ins(%view : memref<32x24x24x16xf32, strided<[12544, 448, 16, 1], offset: 928>>) outs(%out : memref<32x24x24x16xf32>)
  }
  return
}

// -----

// A copy (the body yields an input: a convolution's patches) splits from
// 131072 iterations; other ops of the same size (here 256 x 640 = 163840)
// stay whole.
// CHECK-LABEL: func.func @copy_splits_earlier
// CHECK: scf.forall (%{{.*}}) = (0) to (256) step (52)
// CHECK:   linalg.generic
// CHECK:     linalg.yield %{{.*}} : f32
// CHECK: scf.forall.in_parallel
// CHECK-NOT: scf.forall
// CHECK: arith.negf
#cp = affine_map<(d0, d1) -> (d0, d1)>
func.func @copy_splits_earlier(%x: tensor<256x640xf32>) -> (tensor<256x640xf32>, tensor<256x640xf32>) {
  %e = tensor.empty() : tensor<256x640xf32>
  %c = linalg.generic {indexing_maps = [#cp, #cp], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<256x640xf32>) outs(%e : tensor<256x640xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<256x640xf32>
  %e2 = tensor.empty() : tensor<256x640xf32>
  %n = linalg.generic {indexing_maps = [#cp, #cp], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<256x640xf32>) outs(%e2 : tensor<256x640xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.negf %a : f32
    linalg.yield %r : f32
  } -> tensor<256x640xf32>
  return %c, %n : tensor<256x640xf32>, tensor<256x640xf32>
}

// -----

// A transpose's outer loop walks the input's rows (its innermost
// dimension): six chunks of 43 rows would cut the 16 x 16 blocks that
// kiln-cpu-vectorize-loops makes, so the chunks are 64 rows.
// CHECK-LABEL: func.func @transpose
// CHECK: scf.forall (%{{.*}}) = (0) to (256) step (64)
// CHECK: linalg.transpose ins(%{{.*}} : tensor<784x64xf32>) outs(%{{.*}} : tensor<64x784xf32>) permutation = [1, 0]
func.func @transpose(%x: tensor<784x256xf32>) -> tensor<256x784xf32> {
  %e = tensor.empty() : tensor<256x784xf32>
  %t = linalg.transpose ins(%x : tensor<784x256xf32>) outs(%e : tensor<256x784xf32>) permutation = [1, 0]
  return %t : tensor<256x784xf32>
}

// -----

// A fixed 0 extent meeting open ones (a 1x0 operand broadcast against an
// open ?x? output): the op has no iterations whatever the open extents
// are, so it stays whole. (Its chunks' slices at offset 0 of the 0 extent
// were refused: "offset 1 is out-of-bounds: 0 >= 0"; found by the random
// programs.)
// CHECK-LABEL: func.func @empty_meets_open
// CHECK-NOT: scf.forall
// CHECK: linalg.generic
// CHECK-NOT: scf.forall
#row = affine_map<(d0, d1) -> (0, d1)>
#all = affine_map<(d0, d1) -> (d0, d1)>
func.func @empty_meets_open(%x: tensor<?x?xf64>, %e: tensor<1x0xf64>) -> tensor<?x?xf64> {
  %r = linalg.generic {indexing_maps = [#all, #row, #all], iterator_types = ["parallel", "parallel"]}
      ins(%x, %e : tensor<?x?xf64>, tensor<1x0xf64>) outs(%x : tensor<?x?xf64>) {
  ^bb0(%a: f64, %b: f64, %o: f64):
    %m = arith.mulf %a, %b : f64
    linalg.yield %m : f64
  } -> tensor<?x?xf64>
  return %r : tensor<?x?xf64>
}
