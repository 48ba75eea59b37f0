// RUN: tensor-opt %s --kiln-cpu-lower-vectors | FileCheck %s

// A register tile's K step after bufferization: the 8x32 contraction
// becomes eight FMAs of a broadcast element of A with the row of B, on
// one-dimensional vectors; the transfers become plain loads and stores.
// CHECK-LABEL: func.func @step
// CHECK-NOT: vector.contract
// CHECK-NOT: vector.transfer_read
// CHECK-COUNT-8: vector.fma {{.*}} : vector<32xf32>
// CHECK-NOT: vector.transfer_write
// CHECK: vector.store {{.*}} : memref<8x32xf32>, vector<32xf32>
#a = affine_map<(m, n, k) -> (m, k)>
#b = affine_map<(m, n, k) -> (k, n)>
#c = affine_map<(m, n, k) -> (m, n)>
func.func @step(%A: memref<8x1xf32>, %B: memref<1x32xf32>, %C: memref<8x32xf32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %a = vector.transfer_read %A[%c0, %c0], %zero {in_bounds = [true, true]} : memref<8x1xf32>, vector<8x1xf32>
  %b = vector.transfer_read %B[%c0, %c0], %zero {in_bounds = [true, true]} : memref<1x32xf32>, vector<1x32xf32>
  %acc = vector.transfer_read %C[%c0, %c0], %zero {in_bounds = [true, true]} : memref<8x32xf32>, vector<8x32xf32>
  %r = vector.contract {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"], kind = #vector.kind<add>} %a, %b, %acc : vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
  vector.transfer_write %r, %C[%c0, %c0] {in_bounds = [true, true]} : vector<8x32xf32>, memref<8x32xf32>
  return
}

// -----

// exp and tanh on f32 vectors become polynomial approximations (vector
// arithmetic, no libm call per lane); log also scales subnormal inputs
// (2^24) and subtracts 24 ln 2 for them; exp below -87 adds 16.5 (exact
// there) and multiplies by e^-16.5. Scalars and f64 keep math ops (libm).
// CHECK-LABEL: func.func @vector_math
// CHECK-NOT: math.exp {{.*}} : vector<16xf32>
// CHECK-NOT: math.tanh {{.*}} : vector<16xf32>
// CHECK-NOT: math.log {{.*}} : vector<16xf32>
// CHECK-DAG: arith.constant dense<1.17549435E-38> : vector<16xf32>
// CHECK-DAG: arith.constant dense<0x4B800000> : vector<16xf32>
// CHECK-DAG: arith.constant dense<-8.700000e+01> : vector<16xf32>
// CHECK-DAG: arith.constant dense<1.650000e+01> : vector<16xf32>
// CHECK-DAG: arith.constant dense<6.82560354E-8> : vector<16xf32>
// CHECK: math.exp %{{.*}} : f32
// CHECK: math.exp %{{.*}} : vector<8xf64>
func.func @vector_math(%v: vector<16xf32>, %s: f32, %d: vector<8xf64>)
    -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, f32, vector<8xf64>) {
  %e = math.exp %v : vector<16xf32>
  %t = math.tanh %v : vector<16xf32>
  %l = math.log %v : vector<16xf32>
  %es = math.exp %s : f32
  %ed = math.exp %d : vector<8xf64>
  return %e, %t, %l, %es, %ed : vector<16xf32>, vector<16xf32>, vector<16xf32>, f32, vector<8xf64>
}

// A transposing read of a 16 x 16 f32 block becomes a read of its 16 rows
// and 64 two-source shuffles (unpacks of 32- and 64-bit lanes, then two
// rounds of 128-bit lane permutations); a smaller block (an edge's 4 x 16)
// is transposed element by element.
// CHECK-LABEL: func.func @transpose_block
// CHECK-NOT: vector.transpose
// CHECK-COUNT-64: vector.shuffle {{.*}} : vector<16xf32>, vector<16xf32>
// CHECK-NOT: vector.shuffle
// CHECK: return
func.func @transpose_block(%in: memref<16x16xf32>, %out: memref<16x16xf32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %v = vector.transfer_read %in[%c0, %c0], %zero {in_bounds = [true, true], permutation_map = affine_map<(d0, d1) -> (d1, d0)>} : memref<16x16xf32>, vector<16x16xf32>
  vector.transfer_write %v, %out[%c0, %c0] {in_bounds = [true, true]} : vector<16x16xf32>, memref<16x16xf32>
  return
}

// CHECK-LABEL: func.func @transpose_edge
// CHECK-NOT: vector.shuffle
// CHECK-NOT: vector.transpose
// CHECK: return
func.func @transpose_edge(%in: memref<16x4xf32>, %out: memref<4x16xf32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %v = vector.transfer_read %in[%c0, %c0], %zero {in_bounds = [true, true], permutation_map = affine_map<(d0, d1) -> (d1, d0)>} : memref<16x4xf32>, vector<4x16xf32>
  vector.transfer_write %v, %out[%c0, %c0] {in_bounds = [true, true]} : vector<4x16xf32>, memref<4x16xf32>
  return
}
