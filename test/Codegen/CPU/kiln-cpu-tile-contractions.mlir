// RUN: tensor-opt %s --split-input-file --kiln-cpu-tile-contractions=vector-bits=512 | FileCheck %s
// RUN: tensor-opt %s --split-input-file --kiln-cpu-tile-contractions=vector-bits=256 | FileCheck %s --check-prefix=AVX2

// A matmul with a bias add and a relu (a dense layer), 256 x 256 x 256 f32
// with AVX-512: cache tiles of 64 rows x 256 columns, a parallel loop (the
// threads share the tiles); the fill writes the
// output tile and the epilogue rewrites it in place (no temporary tile);
// inside, 8 x 32 register tiles whose accumulator (a vector<8x32xf32>) is
// carried by the K loop, read before it and written after it.
// CHECK-LABEL: func.func @dense
// CHECK-SAME: (%[[A:.*]]: tensor<256x256xf32>, %[[B:.*]]: tensor<256x256xf32>, %[[BIAS:.*]]: tensor<256xf32>)
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK-DAG: %[[C32:.*]] = arith.constant 32 : index
// CHECK: scf.forall (%[[M0:.*]]) = (0) to (256) step (64) shared_outs(%[[OUT:.*]] =
// CHECK: %[[TILE:.*]] = tensor.extract_slice %[[OUT]][%[[M0]], 0] [64, 256]
// CHECK: %[[FILLED:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[TILE]] : tensor<64x256xf32>)
// CHECK: scf.for %{{.*}} step %[[C8]] iter_args(%{{.*}} = %[[FILLED]])
// CHECK: scf.for %{{.*}} step %[[C32]]
// CHECK: %[[ACC0:.*]] = vector.transfer_read {{.*}} : tensor<8x32xf32>, vector<8x32xf32>
// CHECK: %[[ACC:.*]] = scf.for {{.*}} iter_args(%[[RUNNING:.*]] = %[[ACC0]]) -> (vector<8x32xf32>)
// CHECK-NOT: transfer_write
// CHECK: vector.contract {{.*}} %[[RUNNING]] : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
// CHECK: scf.yield
// CHECK: vector.transfer_write %[[ACC]]
// CHECK: linalg.generic {{.*}} ins(%[[BIAS]] : tensor<256xf32>) outs(%{{.*}} : tensor<64x256xf32>)
// CHECK: arith.addf
// CHECK: arith.maximumf
// CHECK: scf.forall.in_parallel
// CHECK-NEXT: tensor.parallel_insert_slice %{{.*}} into %[[OUT]][%[[M0]], 0] [64, 256]
// CHECK-NOT: linalg.matmul
// AVX2-LABEL: func.func @dense
// AVX2: vector.contract {{.*}} : vector<6x1xf32>, vector<1x16xf32> into vector<6x16xf32>
#rows = affine_map<(d0, d1) -> (d0, d1)>
#cols = affine_map<(d0, d1) -> (d1)>
func.func @dense(%a: tensor<256x256xf32>, %b: tensor<256x256xf32>, %bias: tensor<256xf32>) -> tensor<256x256xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<256x256xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<256x256xf32>) -> tensor<256x256xf32>
  %m = linalg.matmul ins(%a, %b : tensor<256x256xf32>, tensor<256x256xf32>) outs(%f : tensor<256x256xf32>) -> tensor<256x256xf32>
  %e2 = tensor.empty() : tensor<256x256xf32>
  %r = linalg.generic {indexing_maps = [#rows, #cols, #rows], iterator_types = ["parallel", "parallel"]}
      ins(%m, %bias : tensor<256x256xf32>, tensor<256xf32>) outs(%e2 : tensor<256x256xf32>) {
  ^bb0(%x: f32, %c: f32, %o: f32):
    %s = arith.addf %x, %c : f32
    %y = arith.maximumf %s, %zero : f32
    linalg.yield %y : f32
  } -> tensor<256x256xf32>
  return %r : tensor<256x256xf32>
}

// -----

// Odd sizes: full 8 x 32 tiles and the static edge tiles (8 x 5, 2 x 32,
// 2 x 5) are all vectorized; K is not a multiple of anything.
// CHECK-LABEL: func.func @odd
// CHECK: vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
// CHECK: vector<8x1xf32>, vector<1x5xf32> into vector<8x5xf32>
// CHECK: vector<2x1xf32>, vector<1x32xf32> into vector<2x32xf32>
// CHECK: vector<2x1xf32>, vector<1x5xf32> into vector<2x5xf32>
// CHECK-NOT: linalg.matmul
func.func @odd(%a: tensor<10x13xf32>, %b: tensor<13x37xf32>) -> tensor<10x37xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<10x37xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<10x37xf32>) -> tensor<10x37xf32>
  %m = linalg.matmul ins(%a, %b : tensor<10x13xf32>, tensor<13x37xf32>) outs(%f : tensor<10x37xf32>) -> tensor<10x37xf32>
  return %m : tensor<10x37xf32>
}

// -----

// An open batch extent: full tiles vectorized; the last rows (at most 7, a
// count known at run time) are vectorized at their largest size, their
// accumulator read and written with a mask once around the K loop, the
// product itself unmasked.
// CHECK-LABEL: func.func @open_rows
// CHECK: vector.contract {{.*}} into vector<8x32xf32>
// CHECK: %[[ROWS:.*]] = affine.apply
// CHECK: %[[AMASK:.*]] = vector.create_mask %[[ROWS]], %c1 : vector<7x1xi1>
// CHECK: %[[CMASK:.*]] = vector.create_mask %[[ROWS]], %c32 : vector<7x32xi1>
// CHECK: %[[ACC:.*]] = vector.transfer_read {{.*}}, %[[CMASK]] {{.*}} : tensor<?x32xf32>, vector<7x32xf32>
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[ACC]]) -> (vector<7x32xf32>)
// CHECK:   vector.transfer_read {{.*}}, %[[AMASK]] {{.*}} : tensor<?x1xf32>, vector<7x1xf32>
// CHECK-NOT: vector.mask
// CHECK:   vector.contract {{.*}} into vector<7x32xf32>
// CHECK: vector.transfer_write {{.*}}, %[[CMASK]] {{.*}} : vector<7x32xf32>, tensor<?x32xf32>
// CHECK-NOT: linalg.matmul
func.func @open_rows(%a: tensor<?x16xf32>, %b: tensor<16x32xf32>) -> tensor<?x32xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %d = tensor.dim %a, %c0 : tensor<?x16xf32>
  %e = tensor.empty(%d) : tensor<?x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x32xf32>) -> tensor<?x32xf32>
  %m = linalg.matmul ins(%a, %b : tensor<?x16xf32>, tensor<16x32xf32>) outs(%f : tensor<?x32xf32>) -> tensor<?x32xf32>
  return %m : tensor<?x32xf32>
}

// -----

// Every extent open: the K panels of 256 are peeled, so the last one has an
// open depth; its register tiles still step through K one at a time and
// are vectorized, as are the edge tiles of M and N (whole vectors of N).
// CHECK-LABEL: func.func @open_everything
// CHECK-COUNT-4: vector.contract {{.*}} into vector<8x32xf32>
// CHECK-NOT: linalg.matmul
// AVX2-LABEL: func.func @open_everything
// AVX2: vector.contract {{.*}} into vector<6x16xf32>
// AVX2-NOT: linalg.matmul
func.func @open_everything(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %m = tensor.dim %a, %c0 : tensor<?x?xf32>
  %n = tensor.dim %b, %c1 : tensor<?x?xf32>
  %e = tensor.empty(%m, %n) : tensor<?x?xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x?xf32>) -> tensor<?x?xf32>
  %r = linalg.matmul ins(%a, %b : tensor<?x?xf32>, tensor<?x?xf32>) outs(%f : tensor<?x?xf32>) -> tensor<?x?xf32>
  return %r : tensor<?x?xf32>
}

// -----

// A B of over 8 MiB (2048 x 1152 f32) with rows 1152 floats apart: C tiles
// of 256 rows (32 register rows) so that B is streamed fewer times, and each
// K panel of B is packed once per tile into 6 micro-panels of 256 x 32,
// contiguous, that the register tiles read instead of B's strided rows.
// CHECK-LABEL: func.func @packed_b
// CHECK: scf.forall (%{{.*}}) = (0) to (1152) step (192)
// CHECK: scf.for
// CHECK:   %[[PANEL:.*]] = tensor.extract_slice {{.*}} [256, 192] [1, 1] : tensor<2048x192xf32> to tensor<256x192xf32>
// CHECK:   %[[ROWS:.*]] = tensor.expand_shape %[[PANEL]] {{\[}}[0], [1, 2]] output_shape [256, 6, 32]
// CHECK:   %[[PACKED:.*]] = linalg.transpose ins(%[[ROWS]] : tensor<256x6x32xf32>) outs(%{{.*}} : tensor<6x256x32xf32>) permutation = [1, 0, 2]
// CHECK:   scf.for %{{.*}} = %c0 to %c256 step %c8
// CHECK:     scf.for %[[J:.*]] = %c0 to %c192 step %c32
// CHECK:       %[[MICRO:.*]] = affine.apply #{{.*}}(%[[J]])
// CHECK:       tensor.extract_slice %[[PACKED]][%[[MICRO]], 0, 0] [1, 256, 32] [1, 1, 1] : tensor<6x256x32xf32> to tensor<256x32xf32>
// CHECK:       vector.contract {{.*}} into vector<8x32xf32>
func.func @packed_b(%a: tensor<256x2048xf32>, %b: tensor<2048x1152xf32>) -> tensor<256x1152xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<256x1152xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<256x1152xf32>) -> tensor<256x1152xf32>
  %m = linalg.matmul ins(%a, %b : tensor<256x2048xf32>, tensor<2048x1152xf32>) outs(%f : tensor<256x1152xf32>) -> tensor<256x1152xf32>
  return %m : tensor<256x1152xf32>
}

// -----

// A batch matmul: one batch index per cache tile.
// CHECK-LABEL: func.func @batched
// AVX2-LABEL: func.func @batched
// CHECK: scf.forall (%{{.*}}) in (2)
// CHECK: tensor.extract_slice {{.*}} [1, 16, 64]
// CHECK: vector.contract {{.*}} into vector<8x32xf32>
func.func @batched(%a: tensor<2x16x8xf32>, %b: tensor<2x8x64xf32>) -> tensor<2x16x64xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x16x64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x16x64xf32>) -> tensor<2x16x64xf32>
  %m = linalg.batch_matmul ins(%a, %b : tensor<2x16x8xf32>, tensor<2x8x64xf32>) outs(%f : tensor<2x16x64xf32>) -> tensor<2x16x64xf32>
  return %m : tensor<2x16x64xf32>
}

// -----

// Integer contractions are left alone.
// CHECK-LABEL: func.func @integers
// CHECK: linalg.matmul
// CHECK-NOT: vector.contract
func.func @integers(%a: tensor<8x8xi32>, %b: tensor<8x8xi32>, %c: tensor<8x8xi32>) -> tensor<8x8xi32> {
  %m = linalg.matmul ins(%a, %b : tensor<8x8xi32>, tensor<8x8xi32>) outs(%c : tensor<8x8xi32>) -> tensor<8x8xi32>
  return %m : tensor<8x8xi32>
}

// -----

// A contraction with too few cache tiles for the threads to share (one
// 64 x 256 tile) but enough work: NC halves until there are four tiles
// (64 columns each), whatever the thread count at run time.
// CHECK-LABEL: func.func @few_tiles
// CHECK: scf.forall (%{{.*}}) = (0) to (256) step (64)
// CHECK: tensor.extract_slice {{.*}} [64, 64]
func.func @few_tiles(%a: tensor<64x784xf32>, %b: tensor<784x256xf32>) -> tensor<64x256xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x256xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<64x256xf32>) -> tensor<64x256xf32>
  %m = linalg.matmul ins(%a, %b : tensor<64x784xf32>, tensor<784x256xf32>) outs(%f : tensor<64x256xf32>) -> tensor<64x256xf32>
  return %m : tensor<64x256xf32>
}

// -----

// A weight gradient with the optimizer step fused after it
// (w - lr * x^T dy): the step reads the whole old weight, whose buffer the
// new weight takes (a variable updated in place), so the product
// accumulates into its own tile and the step writes the weight's tile;
// the product does not accumulate into the weight's buffer.
// CHECK-LABEL: func.func @weight_update
// CHECK-SAME: (%[[X:.*]]: tensor<64x784xf32>, %[[DY:.*]]: tensor<64x256xf32>, %[[W:.*]]: tensor<784x256xf32> {kiln.variable = @w}, %{{.*}}: tensor<f32>)
// CHECK: scf.forall (%[[M:.*]]) = {{.*}} shared_outs(%[[OUT:.*]] =
// CHECK: %[[OLD:.*]] = tensor.extract_slice %[[W]][%[[M]], 0]
// CHECK: %[[TILE:.*]] = linalg.fill {{.*}} outs(%{{.*}} : tensor<56x256xf32>)
// CHECK: vector.contract
// CHECK: %[[DEST:.*]] = tensor.extract_slice %[[OUT]][%[[M]], 0]
// CHECK: linalg.generic {{.*}} ins(%[[OLD]], %{{.*}}, %{{.*}} : tensor<56x256xf32>, tensor<56x256xf32>, tensor<f32>) outs(%[[DEST]] : tensor<56x256xf32>)
#xt = affine_map<(d0, d1, d2) -> (d2, d0)>
#dy = affine_map<(d0, d1, d2) -> (d2, d1)>
#out = affine_map<(d0, d1, d2) -> (d0, d1)>
#id = affine_map<(d0, d1) -> (d0, d1)>
#scalar = affine_map<(d0, d1) -> ()>
func.func @weight_update(%x: tensor<64x784xf32>, %dy: tensor<64x256xf32>, %w: tensor<784x256xf32> {kiln.variable = @w}, %lr: tensor<f32>) -> tensor<784x256xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<784x256xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<784x256xf32>) -> tensor<784x256xf32>
  %g = linalg.matmul indexing_maps = [#xt, #dy, #out] ins(%x, %dy : tensor<64x784xf32>, tensor<64x256xf32>) outs(%f : tensor<784x256xf32>) -> tensor<784x256xf32>
  %e2 = tensor.empty() : tensor<784x256xf32>
  %r = linalg.generic {indexing_maps = [#id, #id, #scalar, #id], iterator_types = ["parallel", "parallel"]}
      ins(%w, %g, %lr : tensor<784x256xf32>, tensor<784x256xf32>, tensor<f32>) outs(%e2 : tensor<784x256xf32>) {
  ^bb0(%a: f32, %b: f32, %l: f32, %o: f32):
    %m = arith.mulf %b, %l : f32
    %s = arith.subf %a, %m : f32
    linalg.yield %s : f32
  } -> tensor<784x256xf32>
  return %r : tensor<784x256xf32>
}

// -----

// The same shape of epilogue reading a tensor the function computes (a
// relu gradient reading the forward activation): that tensor has its own
// buffer, so the product accumulates into the result's tile and the
// epilogue rewrites it in place; no temporary tile.
// CHECK-LABEL: func.func @computed_operand
// CHECK: scf.forall (%[[M:.*]]) = {{.*}} shared_outs(%[[OUT:.*]] =
// CHECK: %[[TILE:.*]] = tensor.extract_slice %[[OUT]][%[[M]], 0]
// CHECK: %[[FILLED:.*]] = linalg.fill {{.*}} outs(%[[TILE]] : tensor<56x256xf32>)
// CHECK: vector.contract
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<56x256xf32>) outs(%{{.*}} : tensor<56x256xf32>)
#xt2 = affine_map<(d0, d1, d2) -> (d2, d0)>
#dy2 = affine_map<(d0, d1, d2) -> (d2, d1)>
#out2 = affine_map<(d0, d1, d2) -> (d0, d1)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @computed_operand(%x: tensor<64x784xf32>, %dy: tensor<64x256xf32>, %h: tensor<784x256xf32>) -> tensor<784x256xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<784x256xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<784x256xf32>) -> tensor<784x256xf32>
  %g = linalg.matmul indexing_maps = [#xt2, #dy2, #out2] ins(%x, %dy : tensor<64x784xf32>, tensor<64x256xf32>) outs(%f : tensor<784x256xf32>) -> tensor<784x256xf32>
  %e1 = tensor.empty() : tensor<784x256xf32>
  %act = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%h : tensor<784x256xf32>) outs(%e1 : tensor<784x256xf32>) {
  ^bb0(%a: f32, %o: f32):
    %z = arith.constant 0.0 : f32
    %m = arith.maximumf %a, %z : f32
    linalg.yield %m : f32
  } -> tensor<784x256xf32>
  %e2 = tensor.empty() : tensor<784x256xf32>
  %r = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%act, %g : tensor<784x256xf32>, tensor<784x256xf32>) outs(%e2 : tensor<784x256xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %z = arith.constant 0.0 : f32
    %c = arith.cmpf ogt, %a, %z : f32
    %s = arith.select %c, %b, %z : f32
    linalg.yield %s : f32
  } -> tensor<784x256xf32>
  return %r : tensor<784x256xf32>
}

// -----

// The same epilogue reading a function argument that is not a variable (an
// input, which nothing writes: the eager tape passes the forward
// activation so): the product accumulates into the result's tile and the
// epilogue rewrites it in place, as for a computed operand.
// CHECK-LABEL: func.func @input_operand
// CHECK-SAME: (%{{.*}}: tensor<64x784xf32>, %{{.*}}: tensor<64x256xf32>, %[[ACT:.*]]: tensor<784x256xf32>)
// CHECK: scf.forall (%[[M:.*]]) = {{.*}} shared_outs(%[[OUT:.*]] =
// CHECK: %[[A:.*]] = tensor.extract_slice %[[ACT]][%[[M]], 0]
// CHECK: %[[TILE:.*]] = tensor.extract_slice %[[OUT]][%[[M]], 0]
// CHECK: linalg.fill {{.*}} outs(%[[TILE]] : tensor<56x256xf32>)
// CHECK: vector.contract
// CHECK: linalg.generic {{.*}} ins(%[[A]] : tensor<56x256xf32>) outs(%{{.*}} : tensor<56x256xf32>)
#xt3 = affine_map<(d0, d1, d2) -> (d2, d0)>
#dy3 = affine_map<(d0, d1, d2) -> (d2, d1)>
#out3 = affine_map<(d0, d1, d2) -> (d0, d1)>
#id3 = affine_map<(d0, d1) -> (d0, d1)>
func.func @input_operand(%x: tensor<64x784xf32>, %dy: tensor<64x256xf32>, %act: tensor<784x256xf32>) -> tensor<784x256xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<784x256xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<784x256xf32>) -> tensor<784x256xf32>
  %g = linalg.matmul indexing_maps = [#xt3, #dy3, #out3] ins(%x, %dy : tensor<64x784xf32>, tensor<64x256xf32>) outs(%f : tensor<784x256xf32>) -> tensor<784x256xf32>
  %e2 = tensor.empty() : tensor<784x256xf32>
  %r = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel"]}
      ins(%act, %g : tensor<784x256xf32>, tensor<784x256xf32>) outs(%e2 : tensor<784x256xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %z = arith.constant 0.0 : f32
    %c = arith.cmpf ogt, %a, %z : f32
    %s = arith.select %c, %b, %z : f32
    linalg.yield %s : f32
  } -> tensor<784x256xf32>
  return %r : tensor<784x256xf32>
}

// -----

// A B stored N x K (a matmul with transpose_rhs, as the gradient of a dense
// layer's input has it) is transposed once into K x N, and the plain matmul
// on the copy is tiled like any other: register tiles read whole rows of B.
// CHECK-LABEL: func.func @transposed_b
// CHECK: %[[T:.*]] = linalg.transpose ins(%{{.*}} : tensor<129x300xf32>) outs(%{{.*}} : tensor<300x129xf32>) permutation = [1, 0]
// CHECK: scf.forall
// CHECK: tensor.extract_slice %[[T]][0, %{{.*}}] [300, %{{.*}}] [1, 1] : tensor<300x129xf32> to tensor<300x?xf32>
// CHECK: vector.contract {{.*}} : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
#ta = affine_map<(m, n, k) -> (m, k)>
#tb = affine_map<(m, n, k) -> (n, k)>
#tc = affine_map<(m, n, k) -> (m, n)>
func.func @transposed_b(%a: tensor<64x300xf32>, %b: tensor<129x300xf32>) -> tensor<64x129xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x129xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<64x129xf32>) -> tensor<64x129xf32>
  %m = linalg.matmul indexing_maps = [#ta, #tb, #tc]
      ins(%a, %b : tensor<64x300xf32>, tensor<129x300xf32>) outs(%f : tensor<64x129xf32>) -> tensor<64x129xf32>
  return %m : tensor<64x129xf32>
}

// -----

// Fewer than 16 rows: the copy would cost about as much as the product, so
// B keeps its N x K layout.
// CHECK-LABEL: func.func @transposed_b_few_rows
// CHECK-NOT: linalg.transpose
// CHECK: vector.contract
#fa = affine_map<(m, n, k) -> (m, k)>
#fb = affine_map<(m, n, k) -> (n, k)>
#fc = affine_map<(m, n, k) -> (m, n)>
func.func @transposed_b_few_rows(%a: tensor<4x300xf32>, %b: tensor<129x300xf32>) -> tensor<4x129xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x129xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x129xf32>) -> tensor<4x129xf32>
  %m = linalg.matmul indexing_maps = [#fa, #fb, #fc]
      ins(%a, %b : tensor<4x300xf32>, tensor<129x300xf32>) outs(%f : tensor<4x129xf32>) -> tensor<4x129xf32>
  return %m : tensor<4x129xf32>
}

// -----

// A contraction generic whose body does more than acc + a * b (here a
// negation fused into the first operand, as the gradient of -(x W) has it)
// is not renamed linalg.matmul, which would drop the negation: the body
// survives into the tiles.
// CHECK-LABEL: func.func @negated_operand
// CHECK-NOT: linalg.matmul
// CHECK: arith.negf
// CHECK: return
#na = affine_map<(m, n, k) -> (m, k)>
#nb = affine_map<(m, n, k) -> (n, k)>
#nc = affine_map<(m, n, k) -> (m, n)>
func.func @negated_operand(%a: tensor<4x2xf64>, %b: tensor<3x2xf64>) -> tensor<4x3xf64> {
  %zero = arith.constant 0.0 : f64
  %e = tensor.empty() : tensor<4x3xf64>
  %f = linalg.fill ins(%zero : f64) outs(%e : tensor<4x3xf64>) -> tensor<4x3xf64>
  %m = linalg.generic {indexing_maps = [#na, #nb, #nc], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : tensor<4x2xf64>, tensor<3x2xf64>) outs(%f : tensor<4x3xf64>) {
  ^bb0(%x: f64, %y: f64, %acc: f64):
    %n = arith.negf %x : f64
    %p = arith.mulf %n, %y : f64
    %s = arith.addf %acc, %p : f64
    linalg.yield %s : f64
  } -> tensor<4x3xf64>
  return %m : tensor<4x3xf64>
}
