// RUN: tensor-opt %s --split-input-file --kiln-gpu-tile-contractions | FileCheck %s
// RUN: tensor-opt %s --split-input-file --kiln-gpu-tile-contractions=async-copies=true | FileCheck %s --check-prefix=ASYNC

// A matmul with sizes that are not multiples of the tiles: a grid of
// ceil(N / 64) x ceil(M / 64) blocks of 16 x 16 threads, two padded shared
// tiles, the output loaded into 16 accumulators, K walked in steps of 16
// with two barriers per step, the whole step unrolled (16 x 16 multiply-
// adds, each thread's four rows and four columns one 16-byte vector load
// from each shared tile per depth step: rows 4 ty .. 4 ty + 3) and the
// partial last step a loop; guarded stores.
// CHECK-LABEL: func.func @matmul
// CHECK-DAG: %[[C100:.*]] = arith.constant 100 : index
// CHECK-DAG: %[[C70:.*]] = arith.constant 70 : index
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : index
// CHECK: %[[GX:.*]] = arith.ceildivui %[[C70]], %[[C64]]
// CHECK: %[[GY:.*]] = arith.ceildivui %[[C100]], %c64
// CHECK: %[[C16:.*]] = arith.constant 16 : index
// CHECK: gpu.launch blocks({{.*}}) in (%{{[a-z0-9_]+}} = %[[GXM:[a-z0-9_]+]], {{.*}}) threads({{.*}}) in (%{{[a-z0-9_]+}} = %[[C16]], %{{[a-z0-9_]+}} = %[[C16]], %{{[a-z0-9_]+}} = %{{[a-z0-9_]+}}) workgroup(%[[A:[a-z0-9_]+]] : memref<16x68xf32, #gpu.address_space<workgroup>>, %[[B:[a-z0-9_]+]] : memref<16x68xf32, #gpu.address_space<workgroup>>)
// CHECK-COUNT-16: memref.load %arg2
// CHECK: scf.for %[[K0:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(
// CHECK-COUNT-4: memref.store {{.*}}, %[[A]]
// CHECK-COUNT-4: memref.store {{.*}}, %[[B]]
// CHECK: gpu.barrier
// CHECK: scf.if
// CHECK: arith.muli %[[TY:[a-z0-9_]+]], %c4
// CHECK: vector.load %[[A]][%c0{{.*}}, %{{[0-9]+}}] {alignment = 16 : i64} : memref<16x68xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// CHECK: arith.muli %[[TX:[a-z0-9_]+]], %c4
// CHECK: vector.load %[[B]][%c0{{.*}}, %{{[0-9]+}}] {alignment = 16 : i64} : memref<16x68xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// CHECK-COUNT-256: arith.addf
// CHECK: } else {
// CHECK: scf.for
// CHECK-COUNT-16: arith.addf
// CHECK: gpu.barrier
// CHECK-COUNT-16: memref.store {{.*}}, %arg2
// CHECK-NOT: linalg.matmul
func.func @matmul(%a: memref<100x30xf32>, %b: memref<30x70xf32>, %c: memref<100x70xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<100x30xf32>, tensor<30x70xf32>], outputs = [tensor<100x70xf32>], variables = [], checks = [], device = cuda>} {
  linalg.matmul ins(%a, %b : memref<100x30xf32>, memref<30x70xf32>) outs(%c : memref<100x70xf32>)
  return
}

// -----

// Indices follow the indexing maps: a batched product with B transposed
// (b[batch, n, k]) reads B at [block z, column, depth]; the batch is the
// grid's z. Open extents come from memref.dim.
// CHECK-LABEL: func.func @batch_transposed
// CHECK: %[[M:.*]] = memref.dim %arg0, %c1
// CHECK: gpu.launch blocks(%{{[a-z0-9_]+}}, %{{[a-z0-9_]+}}, %[[BZ:[a-z0-9_]+]]) in
// CHECK: memref.load %arg1[%[[BZ]], %{{.*}}, %{{.*}}] : memref<3x8x?xf64>
// CHECK: scf.for
#a = affine_map<(b, m, n, k) -> (b, m, k)>
#bt = affine_map<(b, m, n, k) -> (b, n, k)>
#c = affine_map<(b, m, n, k) -> (b, m, n)>
func.func @batch_transposed(%a: memref<3x?x?xf64>, %b: memref<3x8x?xf64>, %c: memref<3x?x8xf64>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<3x?x?xf64>, tensor<3x8x?xf64>], outputs = [tensor<3x?x8xf64>], variables = [], checks = [], device = cuda>} {
  linalg.generic {indexing_maps = [#a, #bt, #c], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<3x?x?xf64>, memref<3x8x?xf64>) outs(%c : memref<3x?x8xf64>) {
  ^bb0(%x: f64, %y: f64, %acc: f64):
    %p = arith.mulf %x, %y : f64
    %s = arith.addf %acc, %p : f64
    linalg.yield %s : f64
  }
  return
}

// -----

// f16 products are summed in f32, as on the tensor cores: the folded fill's
// value extended once, the shared tiles' vectors of four f16 extended as
// they are loaded, multiply-adds in f32, each output rounded to f16 once,
// when stored.
// (Halves from a K-innermost A go into the depth-major tile two bytes at a
// time, which cp.async cannot: one stage.)
// ASYNC-LABEL: func.func @half_summed_in_f32
// ASYNC: workgroup(%{{.*}} : memref<16x72xf16, #gpu.address_space<workgroup>>, %{{.*}} : memref<16x72xf16, #gpu.address_space<workgroup>>)
// ASYNC-NOT: nvgpu.
// ASYNC: return
// CHECK-LABEL: func.func @half_summed_in_f32
// CHECK: gpu.launch {{.*}} workgroup(%[[A:[a-z0-9_]+]] : memref<16x72xf16, #gpu.address_space<workgroup>>, %[[B:[a-z0-9_]+]] : memref<16x72xf16, #gpu.address_space<workgroup>>)
// CHECK: %[[START:.*]] = arith.extf %{{.*}} : f16 to f32
// CHECK: scf.for {{.*}} iter_args(%{{[a-z0-9_]+}} = %[[START]],
// CHECK: %[[VA:.*]] = vector.load %[[A]]{{.*}} vector<4xf16>
// CHECK-NEXT: arith.extf %[[VA]] : vector<4xf16> to vector<4xf32>
// CHECK: %[[VB:.*]] = vector.load %[[B]]{{.*}} vector<4xf16>
// CHECK-NEXT: arith.extf %[[VB]] : vector<4xf16> to vector<4xf32>
// CHECK: arith.mulf %{{.*}} : f32
// CHECK-NEXT: arith.addf %{{.*}} : f32
// CHECK-NOT: arith.addf %{{.*}} : f16
// CHECK: %[[OUT:.*]] = arith.truncf %{{.*}} : f32 to f16
// CHECK: memref.store %[[OUT]], %arg2
// CHECK-NOT: linalg.fill
func.func @half_summed_in_f32(%a: memref<100x30xf16>, %b: memref<30x70xf16>, %c: memref<100x70xf16>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<100x30xf16>, tensor<30x70xf16>], outputs = [tensor<100x70xf16>], variables = [], checks = [], device = cuda>} {
  %zero = arith.constant 0.0 : f16
  linalg.fill ins(%zero : f16) outs(%c : memref<100x70xf16>)
  linalg.matmul ins(%a, %b : memref<100x30xf16>, memref<30x70xf16>) outs(%c : memref<100x70xf16>)
  return
}

// -----

// Not this pass's: a body that is not acc + a * b (a max-plus product), a
// contraction with two reduction loops, and a product outside GPU code.
// CHECK-LABEL: func.func @max_plus
// CHECK-NOT: gpu.launch
// CHECK: linalg.generic
// CHECK-LABEL: func.func @two_reductions
// CHECK-NOT: gpu.launch
// CHECK: linalg.generic
// CHECK-LABEL: func.func @on_the_cpu
// CHECK-NOT: gpu.launch
// CHECK: linalg.matmul
#a2 = affine_map<(m, n, k) -> (m, k)>
#b2 = affine_map<(m, n, k) -> (k, n)>
#c2 = affine_map<(m, n, k) -> (m, n)>
func.func @max_plus(%a: memref<4x5xf32>, %b: memref<5x6xf32>, %c: memref<4x6xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<4x5xf32>, tensor<5x6xf32>], outputs = [tensor<4x6xf32>], variables = [], checks = [], device = cuda>} {
  linalg.generic {indexing_maps = [#a2, #b2, #c2], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<4x5xf32>, memref<5x6xf32>) outs(%c : memref<4x6xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.addf %x, %y : f32
    %s = arith.maximumf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
#a3 = affine_map<(m, n, k, l) -> (m, k, l)>
#b3 = affine_map<(m, n, k, l) -> (k, l, n)>
#c3 = affine_map<(m, n, k, l) -> (m, n)>
func.func @two_reductions(%a: memref<4x5x2xf32>, %b: memref<5x2x6xf32>, %c: memref<4x6xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<4x5x2xf32>, tensor<5x2x6xf32>], outputs = [tensor<4x6xf32>], variables = [], checks = [], device = cuda>} {
  linalg.generic {indexing_maps = [#a3, #b3, #c3], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%a, %b : memref<4x5x2xf32>, memref<5x2x6xf32>) outs(%c : memref<4x6xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
func.func @on_the_cpu(%a: memref<4x5xf32>, %b: memref<5x6xf32>, %c: memref<4x6xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<4x5xf32>, tensor<5x6xf32>], outputs = [tensor<4x6xf32>], variables = [], checks = [], device = cpu>} {
  linalg.matmul ins(%a, %b : memref<4x5xf32>, memref<5x6xf32>) outs(%c : memref<4x6xf32>)
  return
}

// -----

// RUN: tensor-opt %s --split-input-file --kiln-gpu-tile-contractions=large-tiles-from=7000 | FileCheck %s --check-prefix=LARGE
// A product of at least large-tiles-from outputs: 128 x 128 tiles, 8 x 8
// outputs per thread (64 accumulators), K steps of 8 (8 x 64 multiply-adds
// unrolled); smaller ones keep 64 x 64.
// LARGE-LABEL: func.func @matmul
// LARGE: workgroup(%{{[a-z0-9_]+}} : memref<8x132xf32, #gpu.address_space<workgroup>>, %{{[a-z0-9_]+}} : memref<8x132xf32, #gpu.address_space<workgroup>>)
// LARGE-COUNT-64: memref.load %arg2
// LARGE: scf.if
// LARGE-COUNT-512: arith.addf
// LARGE: } else {
// LARGE-LABEL: func.func @batch_transposed
// LARGE: memref<16x66xf64, #gpu.address_space<workgroup>>

// -----

// A fill of the output just before the product (how kiln.matmul zeroes its
// accumulator) is folded: the accumulators start at the fill's value and
// the output is not loaded, one kernel fewer. A fill of another buffer,
// or one not right before the product, stays.
// CHECK-LABEL: func.func @filled
// CHECK-NOT: linalg.fill
// CHECK: gpu.launch
// CHECK-NOT: memref.load %arg2
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %[[INIT:[a-z0-9_]+]], %{{.*}} = %[[INIT]],
// CHECK: memref.store %{{.*}}, %arg2
// CHECK-LABEL: func.func @not_filled
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%arg3 : memref<100x70xf32>)
// CHECK: gpu.launch
// CHECK: memref.load %arg2
func.func @filled(%a: memref<100x30xf32>, %b: memref<30x70xf32>, %c: memref<100x70xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<100x30xf32>, tensor<30x70xf32>], outputs = [tensor<100x70xf32>], variables = [], checks = [], device = cuda>} {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%c : memref<100x70xf32>)
  linalg.matmul ins(%a, %b : memref<100x30xf32>, memref<30x70xf32>) outs(%c : memref<100x70xf32>)
  return
}
func.func @not_filled(%a: memref<100x30xf32>, %b: memref<30x70xf32>, %c: memref<100x70xf32>, %d: memref<100x70xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<100x30xf32>, tensor<30x70xf32>], outputs = [tensor<100x70xf32>, tensor<100x70xf32>], variables = [], checks = [], device = cuda>} {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%d : memref<100x70xf32>)
  linalg.matmul ins(%a, %b : memref<100x30xf32>, memref<30x70xf32>) outs(%c : memref<100x70xf32>)
  return
}

// -----

// 16-byte tile copies: operands whose innermost index runs along rows of a
// whole number of vectors, in buffers that start aligned (an entry's
// arguments). A (K innermost) is loaded as vectors of four and stored
// element by element into its depth-major tile; B (N innermost) is stored
// as the vector it was loaded as. A view with an offset (it may start
// anywhere) keeps element copies.
// CHECK-LABEL: func.func @vector_copies
// CHECK: gpu.launch {{.*}} workgroup(%[[A:[a-z0-9_]+]] : memref<16x68xf32, #gpu.address_space<workgroup>>, %[[B:[a-z0-9_]+]] : memref<16x68xf32, #gpu.address_space<workgroup>>)
// CHECK: scf.for
// CHECK: vector.load %arg0[{{.*}}] {alignment = 16 : i64} : memref<128x64xf32>, vector<4xf32>
// CHECK-COUNT-4: memref.store {{.*}}, %[[A]]
// CHECK: vector.load %arg1[{{.*}}] {alignment = 16 : i64} : memref<64x96xf32>, vector<4xf32>
// CHECK: vector.store {{.*}}, %[[B]][{{.*}}] {alignment = 16 : i64} : memref<16x68xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// CHECK: gpu.barrier
// With cp.async (sm_80 and later) the tiles are double-buffered: step 0's
// copies before the K loop into stage 0; in each step the next step's
// copies into the other stage (A's four elements one cp.async each, B's
// vector as one 16-byte cp.async that bypasses L1), a wait for all but
// that newest group, a barrier, the products on this step's stage, a
// barrier; after the loop a wait for every copy (the last step's zeros).
// ASYNC-LABEL: func.func @vector_copies
// ASYNC: workgroup(%[[A:[a-z0-9_]+]] : memref<2x16x68xf32, #gpu.address_space<workgroup>>, %[[B:[a-z0-9_]+]] : memref<2x16x68xf32, #gpu.address_space<workgroup>>)
// ASYNC: %[[A0:.*]] = memref.subview %[[A]][%c0{{.*}}, 0, 0] [1, 16, 68] [1, 1, 1]
// ASYNC-COUNT-4: nvgpu.device_async_copy %arg0[{{.*}}], %[[A0]][{{.*}}], 1, %{{[0-9]+}} : memref<128x64xf32>
// ASYNC: %[[B0:.*]] = memref.subview %[[B]][%c0
// ASYNC: nvgpu.device_async_copy %arg1[{{.*}}], %[[B0]][{{.*}}], 4, %{{[0-9]+}} {bypassL1} : memref<64x96xf32>
// ASYNC: nvgpu.device_async_create_group
// ASYNC: scf.for %[[K:[a-z0-9_]+]] = %c0{{.*}} to %c64 step %[[STEP:[a-z0-9_]+]]
// ASYNC: %[[I:.*]] = arith.divui
// ASYNC: %[[STAGE:.*]] = arith.remui %[[I]], %c2
// ASYNC: %[[OTHER:.*]] = arith.subi %c1{{.*}}, %[[STAGE]]
// ASYNC: arith.addi %[[K]], %c16
// ASYNC: memref.subview %[[A]][%[[OTHER]], 0, 0]
// ASYNC-COUNT-4: nvgpu.device_async_copy %arg0
// ASYNC: memref.subview %[[B]][%[[OTHER]], 0, 0]
// ASYNC: nvgpu.device_async_copy %arg1
// ASYNC: %[[G:.*]] = nvgpu.device_async_create_group
// ASYNC-NEXT: nvgpu.device_async_wait %[[G]] {numGroups = 1 : i32}
// ASYNC-NEXT: gpu.barrier
// ASYNC-NEXT: %[[CA:.*]] = memref.subview %[[A]][%[[STAGE]], 0, 0]
// ASYNC-NEXT: %[[CB:.*]] = memref.subview %[[B]][%[[STAGE]], 0, 0]
// ASYNC: vector.load %[[CA]]
// ASYNC: vector.load %[[CB]]
// ASYNC: gpu.barrier
// ASYNC-NEXT: scf.yield
// ASYNC: nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
// CHECK-LABEL: func.func @view_copies
// CHECK-NOT: vector.load %{{.*}} : memref<128x64xf32, strided
// CHECK: vector.load %arg1
// CHECK: return
func.func @vector_copies(%a: memref<128x64xf32>, %b: memref<64x96xf32>, %c: memref<128x96xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<128x64xf32>, tensor<64x96xf32>], outputs = [tensor<128x96xf32>], variables = [], checks = [], device = cuda>} {
  linalg.matmul ins(%a, %b : memref<128x64xf32>, memref<64x96xf32>) outs(%c : memref<128x96xf32>)
  return
}
func.func @view_copies(%x: memref<129x64xf32>, %b: memref<64x96xf32>, %c: memref<128x96xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<129x64xf32>, tensor<64x96xf32>], outputs = [tensor<128x96xf32>], variables = [], checks = [], device = cuda>} {
  %a = memref.subview %x[1, 0] [128, 64] [1, 1] : memref<129x64xf32> to memref<128x64xf32, strided<[64, 1], offset: 64>>
  linalg.matmul ins(%a, %b : memref<128x64xf32, strided<[64, 1], offset: 64>>, memref<64x96xf32>) outs(%c : memref<128x96xf32>)
  return
}
