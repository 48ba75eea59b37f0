// RUN: tensor-opt %s --split-input-file --convert-kiln-to-linalg --kiln-cpu-tile-convolutions | FileCheck %s
// RUN: tensor-opt %s --split-input-file --convert-kiln-to-linalg --kiln-cpu-tile-convolutions --kiln-cpu-tile-contractions | FileCheck %s --check-prefix=VEC
// RUN: tensor-opt %s --split-input-file --convert-kiln-to-linalg --kiln-cpu-tile-convolutions=vector-bits=256 | FileCheck %s --check-prefix=AVX2

// A stride-2 convolution with 32 filters, then a bias add and a relu: one
// parallel tile per output row (n, oh) with the fill and the epilogue
// fused; in it, loops over the window (kh, kw) around a 4 x 32 register
// tile, the product of every second pixel of an image row (4 x 16, read in
// place) and the filter tap (16 x 32).
// CHECK-LABEL: func.func @forward
// CHECK-SAME: (%[[X:.*]]: tensor<2x9x9x16xf32>, %[[W:.*]]: tensor<3x3x16x32xf32>, %{{.*}}: tensor<32xf32>)
// CHECK: scf.forall (%[[N:.*]], %[[OH:.*]]) in (2, 4) shared_outs(%[[OUT:.*]] =
// CHECK: tensor.extract_slice %[[X]][%[[N]], %{{.*}}, 0, 0] [1, 3, 9, 16]
// CHECK: linalg.fill {{.*}} -> tensor<1x1x4x32xf32>
// CHECK: scf.for %[[KH:.*]] = {{.*}} iter_args(
// CHECK: scf.for %[[KW:.*]] = {{.*}} iter_args(
// CHECK: %[[ROW:.*]] = tensor.extract_slice %{{.*}}[0, 0, 0, 0] [1, 1, 4, 16] [1, 1, 2, 1] : tensor<1x1x7x16xf32> to tensor<4x16xf32>
// CHECK: %[[TAP:.*]] = tensor.extract_slice %{{.*}}[0, 0, 0, 0] [1, 1, 16, 32] [1, 1, 1, 1] : tensor<1x1x16x32xf32> to tensor<16x32xf32>
// CHECK: linalg.matmul {kiln_register_tile} ins(%[[ROW]], %[[TAP]] : tensor<4x16xf32>, tensor<16x32xf32>) outs(%{{.*}} : tensor<4x32xf32>)
// CHECK: } {kiln_accumulating_loop}
// CHECK: } {kiln_accumulating_loop}
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<32xf32>) outs(%{{.*}} : tensor<1x1x4x32xf32>)
// CHECK: arith.maximumf
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[OUT]][%[[N]], %[[OH]], 0, 0] [1, 1, 4, 32]
// CHECK-NOT: linalg.conv_2d
// The register tile's accumulator (vector<4x32xf32>) is read once before
// the window loops and written once after them.
// VEC-LABEL: func.func @forward
// VEC: %[[ACC0:.*]] = vector.transfer_read {{.*}} : tensor<4x32xf32>, vector<4x32xf32>
// VEC: scf.for {{.*}} iter_args(%{{.*}} = %[[ACC0]]) -> (vector<4x32xf32>)
// VEC: scf.for {{.*}} -> (vector<4x32xf32>)
// VEC-NOT: transfer_write
// VEC: scf.for {{.*}} -> (vector<4x32xf32>)
// VEC-NOT: transfer_write
// VEC: vector.contract {{.*}} : vector<4x1xf32>, vector<1x32xf32> into vector<4x32xf32>
// VEC-COUNT-3: scf.yield
// VEC-NEXT: }
// VEC-NEXT: vector.transfer_write
// VEC-NOT: kiln_accumulating_loop
// With AVX2 (8 f32 lanes, 12 accumulator registers) the register tile is
// two vectors wide and up to 6 pixels: 4 x 16, twice per row.
// AVX2-LABEL: func.func @forward
// AVX2: linalg.matmul {kiln_register_tile} ins(%{{.*}}, %{{.*}} : tensor<4x16xf32>, tensor<16x16xf32>) outs(%{{.*}} : tensor<4x16xf32>)
#rows = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#chan = affine_map<(d0, d1, d2, d3) -> (d3)>
func.func @forward(%x: tensor<2x9x9x16xf32>, %w: tensor<3x3x16x32xf32>, %b: tensor<32xf32>) -> tensor<2x4x4x32xf32> {
  %zero = arith.constant 0.0 : f32
  %y = kiln.conv2d %x, %w {padding = #kiln.padding<VALID>, strides = array<i64: 2, 2>} : tensor<2x9x9x16xf32>, tensor<3x3x16x32xf32> -> tensor<2x4x4x32xf32>
  %e = tensor.empty() : tensor<2x4x4x32xf32>
  %r = linalg.generic {indexing_maps = [#rows, #chan, #rows], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%y, %b : tensor<2x4x4x32xf32>, tensor<32xf32>) outs(%e : tensor<2x4x4x32xf32>) {
  ^bb0(%v: f32, %c: f32, %o: f32):
    %s = arith.addf %v, %c : f32
    %m = arith.maximumf %s, %zero : f32
    linalg.yield %m : f32
  } -> tensor<2x4x4x32xf32>
  return %r : tensor<2x4x4x32xf32>
}

// -----

// The filter gradient: one parallel tile per 16 x 16 block of the result
// (here one per window position), loops over the output rows (n, oh), and
// the product of the image row read transposed (16 x 4, the first map) and the output
// gradient's row (4 x 16).
// CHECK: #[[$AT:.*]] = affine_map<(d0, d1, d2) -> (d2, d0)>
// CHECK-LABEL: func.func @filter_gradient
// CHECK: scf.forall (%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) = (0, 0, 0, 0) to (3, 3, 16, 16) step (1, 1, 16, 16)
// CHECK: linalg.fill {{.*}} -> tensor<1x1x16x16xf32>
// CHECK: scf.for
// CHECK: scf.for
// CHECK: %[[ROW:.*]] = tensor.extract_slice %{{.*}}[0, 0, 0, 0] [1, 1, 4, 16] [1, 1, 2, 1] : tensor<1x1x7x16xf32> to tensor<4x16xf32>
// CHECK: linalg.matmul indexing_maps = [#[[$AT]], #{{.*}}, #{{.*}}] {kiln_register_tile} ins(%[[ROW]], %{{.*}} : tensor<4x16xf32>, tensor<4x16xf32>) outs(%{{.*}} : tensor<16x16xf32>)
// CHECK: } {kiln_accumulating_loop}
// CHECK: } {kiln_accumulating_loop}
// VEC-LABEL: func.func @filter_gradient
// VEC: %[[ACC0:.*]] = vector.transfer_read {{.*}} : tensor<16x16xf32>, vector<16x16xf32>
// VEC: scf.for {{.*}} iter_args(%{{.*}} = %[[ACC0]]) -> (vector<16x16xf32>)
// VEC: vector.contract {{.*}} : vector<1x16xf32>, vector<1x16xf32> into vector<16x16xf32>
// AVX2-LABEL: func.func @filter_gradient
// AVX2: scf.forall {{.*}} to (3, 3, 16, 16) step (1, 1, 4, 16)
// AVX2: linalg.matmul {{.*}} {kiln_register_tile} ins(%{{.*}}, %{{.*}} : tensor<4x4xf32>, tensor<4x16xf32>) outs(%{{.*}} : tensor<4x16xf32>)
func.func @filter_gradient(%x: tensor<2x9x9x16xf32>, %dy: tensor<2x4x4x16xf32>) -> tensor<3x3x16x16xf32> {
  %dw = kiln.conv2d_backprop_filter %x, %dy {padding = #kiln.padding<VALID>, strides = array<i64: 2, 2>} : tensor<2x9x9x16xf32>, tensor<2x4x4x16xf32> -> tensor<3x3x16x16xf32>
  return %dw : tensor<3x3x16x16xf32>
}

// -----

// Four filters are not a whole vector: the patch-copy strategy
// (kiln-cpu-convolutions-to-gemm) takes the convolution.
// CHECK-LABEL: func.func @narrow
// CHECK-NOT: scf.forall
// CHECK: linalg.conv_2d_nhwc_hwcf
// A filter gradient over one input channel would have one accumulator row
// per tile (a chain of dependent FMAs): the image is copied into
// window-major rows (pixels innermost, both sides contiguous) and the 9
// window positions are the register tile's rows: 9 x 16, accumulated
// across the output rows. The images form groups of at least 2048 output
// pixels (at most 8), each summed into its own partial result in parallel,
// the partials then added in order; here, 2 x 7 x 7 pixels, one group.
// CHECK-LABEL: func.func @one_channel_filter_gradient
// CHECK: %[[P:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<2x7x3x3x1x7xf32>)
// CHECK: %[[ROWS:.*]] = tensor.collapse_shape %[[P]] {{\[\[}}0], [1], [2, 3, 4], [5]] : tensor<2x7x3x3x1x7xf32> into tensor<2x7x9x7xf32>
// CHECK: tensor.expand_shape %[[ROWS]] {{.*}} into tensor<1x2x7x9x7xf32>
// CHECK: scf.forall {{.*}} to (1, 9, 16) step (1, 9, 16)
// CHECK: linalg.matmul {kiln_register_tile} ins(%{{.*}}, %{{.*}} : tensor<9x7xf32>, tensor<7x16xf32>) outs(%{{.*}} : tensor<9x16xf32>)
// CHECK: } {kiln_accumulating_loop}
// CHECK: } {kiln_accumulating_loop}
// CHECK: linalg.reduce { arith.addf } ins(%{{.*}} : tensor<1x9x16xf32>) outs(%{{.*}} : tensor<9x16xf32>) dimensions = [0]
// CHECK: tensor.expand_shape %{{.*}} output_shape [3, 3, 1, 16]
func.func @narrow(%x: tensor<1x6x6x2xf32>, %w: tensor<3x3x2x4xf32>) -> tensor<1x4x4x4xf32> {
  %y = kiln.conv2d %x, %w {padding = #kiln.padding<VALID>, strides = array<i64: 1, 1>} : tensor<1x6x6x2xf32>, tensor<3x3x2x4xf32> -> tensor<1x4x4x4xf32>
  return %y : tensor<1x4x4x4xf32>
}
func.func @one_channel_filter_gradient(%x: tensor<2x9x9x1xf32>, %dy: tensor<2x7x7x16xf32>) -> tensor<3x3x1x16xf32> {
  %dw = kiln.conv2d_backprop_filter %x, %dy {padding = #kiln.padding<VALID>, strides = array<i64: 1, 1>} : tensor<2x9x9x1xf32>, tensor<2x7x7x16xf32> -> tensor<3x3x1x16xf32>
  return %dw : tensor<3x3x1x16xf32>
}

// -----

// Six images of 32 x 32 output pixels: three groups of two (6144 pixels do
// not make four groups of 2048), a parallel loop over the groups.
// CHECK-LABEL: func.func @grouped_filter_gradient
// CHECK: tensor.expand_shape {{.*}} into tensor<3x2x32x9x32xf32>
// CHECK: tensor.expand_shape {{.*}} into tensor<3x2x32x32x16xf32>
// CHECK: scf.forall {{.*}} to (3, 9, 16) step (1, 9, 16)
// CHECK: linalg.matmul {kiln_register_tile} ins(%{{.*}}, %{{.*}} : tensor<9x32xf32>, tensor<32x16xf32>) outs(%{{.*}} : tensor<9x16xf32>)
// CHECK: linalg.reduce { arith.addf } ins(%{{.*}} : tensor<3x9x16xf32>) outs(%{{.*}} : tensor<9x16xf32>) dimensions = [0]
func.func @grouped_filter_gradient(%x: tensor<6x34x34x1xf32>, %dy: tensor<6x32x32x16xf32>) -> tensor<3x3x1x16xf32> {
  %dw = kiln.conv2d_backprop_filter %x, %dy {padding = #kiln.padding<VALID>, strides = array<i64: 1, 1>} : tensor<6x34x34x1xf32>, tensor<6x32x32x16xf32> -> tensor<3x3x1x16xf32>
  return %dw : tensor<3x3x1x16xf32>
}

// -----

// Sixteen channels over six images of 32 x 32 output pixels: the images in
// three groups of two as well, the group the outermost parallel loop (each
// thread then reads its own part of the batch), the (kh, kw, c, f) blocks
// inside it, and the partial gradients added in order.
// CHECK-LABEL: func.func @grouped_wide_filter_gradient
// CHECK: tensor.expand_shape {{.*}} into tensor<3x2x34x34x16xf32>
// CHECK: tensor.expand_shape {{.*}} into tensor<3x2x32x32x16xf32>
// CHECK: scf.forall {{.*}} to (3, 3, 3, 16, 16) step (1, 1, 1, 16, 16) {{.*}} -> (tensor<3x3x3x16x16xf32>)
// CHECK: linalg.fill {{.*}} -> tensor<1x1x1x16x16xf32>
// CHECK: scf.for {{.*}} to %c2
// CHECK: scf.for {{.*}} to %c32
// CHECK: linalg.matmul {{.*}} {kiln_register_tile} ins(%{{.*}}, %{{.*}} : tensor<32x16xf32>, tensor<32x16xf32>) outs(%{{.*}} : tensor<16x16xf32>)
// CHECK: linalg.reduce { arith.addf } ins(%{{.*}} : tensor<3x3x3x16x16xf32>) outs(%{{.*}} : tensor<3x3x16x16xf32>) dimensions = [0]
func.func @grouped_wide_filter_gradient(%x: tensor<6x34x34x16xf32>, %dy: tensor<6x32x32x16xf32>) -> tensor<3x3x16x16xf32> {
  %dw = kiln.conv2d_backprop_filter %x, %dy {padding = #kiln.padding<VALID>, strides = array<i64: 1, 1>} : tensor<6x34x34x16xf32>, tensor<6x32x32x16xf32> -> tensor<3x3x16x16xf32>
  return %dw : tensor<3x3x16x16xf32>
}

// -----

// An open batch: the parallel tiles over (n, oh) take one image at a time,
// so the register tiles inside are the static ones of a fixed batch.
// CHECK-LABEL: func.func @open_batch_forward
// CHECK-SAME: (%[[X:.*]]: tensor<?x9x9x16xf32>
// CHECK: %[[N:.*]] = tensor.dim %[[X]], %c0
// CHECK: scf.forall (%{{.*}}, %{{.*}}) in (%{{.*}}, 4)
// CHECK: linalg.matmul {kiln_register_tile} ins(%{{.*}}, %{{.*}} : tensor<4x16xf32>, tensor<16x32xf32>) outs(%{{.*}} : tensor<4x32xf32>)
// CHECK-NOT: linalg.conv_2d
func.func @open_batch_forward(%x: tensor<?x9x9x16xf32>, %w: tensor<3x3x16x32xf32>) -> tensor<?x4x4x32xf32> {
  %y = kiln.conv2d %x, %w {padding = #kiln.padding<VALID>, strides = array<i64: 2, 2>} : tensor<?x9x9x16xf32>, tensor<3x3x16x32xf32> -> tensor<?x4x4x32xf32>
  return %y : tensor<?x4x4x32xf32>
}

// -----

// Filter gradients over an open batch: one group of images (the groups
// are fixed when the code is made), the loops over the output rows run to
// the batch's extent; the window-major copy of one-channel images takes it
// too.
// CHECK-LABEL: func.func @open_batch_filter_gradients
// CHECK-SAME: (%[[X:.*]]: tensor<?x34x34x16xf32>, %[[DY:.*]]: tensor<?x32x32x16xf32>, %[[X1:.*]]: tensor<?x34x34x1xf32>)
// CHECK: scf.forall {{.*}} to (3, 3, 16, 16) step (1, 1, 16, 16)
// CHECK: scf.for {{.*}} to %{{.*}} step %c1
// CHECK: linalg.matmul {{.*}} {kiln_register_tile} ins(%{{.*}}, %{{.*}} : tensor<32x16xf32>, tensor<32x16xf32>) outs(%{{.*}} : tensor<16x16xf32>)
// CHECK: %[[N1:.*]] = tensor.dim %[[X1]], %c0
// CHECK: tensor.empty(%{{.*}}) : tensor<?x32x3x3x1x32xf32>
// CHECK: tensor.expand_shape {{.*}} into tensor<1x?x32x9x32xf32>
// CHECK: scf.forall {{.*}} to (1, 9, 16) step (1, 9, 16)
// CHECK: linalg.matmul {kiln_register_tile} ins(%{{.*}}, %{{.*}} : tensor<9x32xf32>, tensor<32x16xf32>) outs(%{{.*}} : tensor<9x16xf32>)
// CHECK: linalg.reduce { arith.addf } ins(%{{.*}} : tensor<1x9x16xf32>)
func.func @open_batch_filter_gradients(%x: tensor<?x34x34x16xf32>, %dy: tensor<?x32x32x16xf32>, %x1: tensor<?x34x34x1xf32>) -> (tensor<3x3x16x16xf32>, tensor<3x3x1x16xf32>) {
  %dw = kiln.conv2d_backprop_filter %x, %dy {padding = #kiln.padding<VALID>, strides = array<i64: 1, 1>} : tensor<?x34x34x16xf32>, tensor<?x32x32x16xf32> -> tensor<3x3x16x16xf32>
  %dw1 = kiln.conv2d_backprop_filter %x1, %dy {padding = #kiln.padding<VALID>, strides = array<i64: 1, 1>} : tensor<?x34x34x1xf32>, tensor<?x32x32x16xf32> -> tensor<3x3x1x16xf32>
  return %dw, %dw1 : tensor<3x3x16x16xf32>, tensor<3x3x1x16xf32>
}
