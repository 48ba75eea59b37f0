// RUN: tensor-opt %s --split-input-file --kiln-cpu-vectorize-loops | FileCheck %s
// RUN: tensor-opt %s --split-input-file --kiln-cpu-vectorize-loops=vector-bits=256 | FileCheck %s --check-prefix=AVX2

// An elementwise op over 8 x 16 f32 (on buffers, after bufferization): one
// loop over the rows, each row one 16-wide vector (AVX-512) or two 8-wide
// ones (AVX2).
// CHECK-LABEL: func.func @relu
// CHECK: scf.for
// CHECK: vector.transfer_read {{.*}} : memref<1x16xf32, strided<[16, 1], offset: ?>>, vector<16xf32>
// CHECK: arith.maximumf {{.*}} : vector<16xf32>
// CHECK: vector.transfer_write {{.*}} : vector<16xf32>, memref<1x16xf32, strided<[16, 1], offset: ?>>
// CHECK-NOT: linalg.generic
// AVX2-LABEL: func.func @relu
// AVX2: scf.for
// AVX2: scf.for
// AVX2: arith.maximumf {{.*}} : vector<8xf32>
// AVX2-NOT: linalg.generic
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @relu(%x: memref<8x16xf32>, %out: memref<8x16xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<8x16xf32>) outs(%out : memref<8x16xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  }
  return
}

// -----

// A bias add over 4 x 40: the bias is broadcast along the rows and read as
// one vector per tile; 40 = 2 x 16 + 8, so the last 8 columns are a peeled
// tile of static size 8.
// CHECK-LABEL: func.func @bias_add
// AVX2-LABEL: func.func @bias_add
// CHECK: scf.for
// CHECK: scf.for {{.*}} = %{{.*}} to %{{.*}} step %c16
// CHECK-DAG: vector.transfer_read %{{.*}} : memref<1x16xf32, strided<[40, 1], offset: ?>>, vector<16xf32>
// CHECK-DAG: vector.transfer_read %{{.*}} : memref<16xf32, strided<[1], offset: ?>>, vector<16xf32>
// CHECK: arith.addf {{.*}} : vector<16xf32>
// CHECK: vector.transfer_write {{.*}} : vector<16xf32>, memref<1x16xf32, strided<[40, 1], offset: ?>>
// CHECK-DAG: vector.transfer_read %{{.*}} : memref<1x8xf32, strided<[40, 1], offset: ?>>, vector<8xf32>
// CHECK-DAG: vector.transfer_read %{{.*}} : memref<8xf32, strided<[1], offset: 32>>, vector<8xf32>
// CHECK: arith.addf {{.*}} : vector<8xf32>
// CHECK: vector.transfer_write {{.*}} : vector<8xf32>, memref<1x8xf32, strided<[40, 1], offset: ?>>
// CHECK-NOT: linalg.generic
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
func.func @bias_add(%x: memref<4x40xf32>, %b: memref<40xf32>, %out: memref<4x40xf32>) {
  linalg.generic {indexing_maps = [#id2, #row, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x, %b : memref<4x40xf32>, memref<40xf32>) outs(%out : memref<4x40xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %s = arith.addf %a, %c : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A sum over the batch (the bias gradient): the reduced loop is outermost,
// the output columns are innermost and contiguous, so each tile adds one
// row vector into the accumulator vector.
// CHECK-LABEL: func.func @column_sum
// CHECK: scf.for
// CHECK-DAG: vector.transfer_read {{.*}} : memref<1x16xf32, strided<[16, 1], offset: ?>>, vector<16xf32>
// CHECK-DAG: vector.transfer_read {{.*}} : memref<16xf32>, vector<16xf32>
// CHECK: arith.addf {{.*}} : vector<16xf32>
// CHECK: vector.transfer_write {{.*}} : vector<16xf32>, memref<16xf32>
// CHECK-NOT: linalg.generic
#in = affine_map<(d0, d1) -> (d0, d1)>
#out = affine_map<(d0, d1) -> (d1)>
func.func @column_sum(%x: memref<32x16xf32>, %acc: memref<16xf32>) {
  linalg.generic {indexing_maps = [#in, #out], iterator_types = ["reduction", "parallel"]}
      ins(%x : memref<32x16xf32>) outs(%acc : memref<16xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %o, %a : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A strided view whose rows are contiguous is vectorized; a view with a
// column stride is not.
// CHECK-LABEL: func.func @views
// CHECK: vector.transfer_read {{.*}} : memref<1x16xf32, strided<[32, 1], offset: ?>>, vector<16xf32>
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : memref<4x16xf32, strided<[64, 2]>>)
#v = affine_map<(d0, d1) -> (d0, d1)>
func.func @views(%x: memref<4x16xf32, strided<[32, 1], offset: ?>>,
                 %y: memref<4x16xf32, strided<[64, 2]>>,
                 %o1: memref<4x16xf32>, %o2: memref<4x16xf32>) {
  linalg.generic {indexing_maps = [#v, #v], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x16xf32, strided<[32, 1], offset: ?>>) outs(%o1 : memref<4x16xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  }
  linalg.generic {indexing_maps = [#v, #v], iterator_types = ["parallel", "parallel"]}
      ins(%y : memref<4x16xf32, strided<[64, 2]>>) outs(%o2 : memref<4x16xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  }
  return
}

// -----

// A transpose walks its input with a stride along the innermost loop: a
// vector would be a gather, so the op is left to the scalar path.
// CHECK-LABEL: func.func @transpose
// CHECK-NOT: vector.transfer_read
// CHECK: linalg.generic
#t_in = affine_map<(d0, d1) -> (d1, d0)>
#t_out = affine_map<(d0, d1) -> (d0, d1)>
func.func @transpose(%x: memref<16x8xf32>, %out: memref<8x16xf32>) {
  linalg.generic {indexing_maps = [#t_in, #t_out], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<16x8xf32>) outs(%out : memref<8x16xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  return
}

// -----

// A row sum reduces along the innermost loop: not a candidate (the
// innermost loop must be parallel), left to the scalar path.
// CHECK-LABEL: func.func @row_sum
// CHECK-NOT: vector.transfer_read
// CHECK: linalg.generic
#r_in = affine_map<(d0, d1) -> (d0, d1)>
#r_out = affine_map<(d0, d1) -> (d0)>
func.func @row_sum(%x: memref<8x64xf32>, %acc: memref<8xf32>) {
  linalg.generic {indexing_maps = [#r_in, #r_out], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<8x64xf32>) outs(%acc : memref<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %o, %a : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Booleans (i1) are bytes in memory but packed bits in a vector: a
// comparison writing i1 is left to the scalar path.
// CHECK-LABEL: func.func @compare
// CHECK-NOT: vector.transfer_read
// CHECK: linalg.generic
#c = affine_map<(d0) -> (d0)>
func.func @compare(%x: memref<32xf32>, %y: memref<32xf32>, %out: memref<32xi1>) {
  linalg.generic {indexing_maps = [#c, #c, #c], iterator_types = ["parallel"]}
      ins(%x, %y : memref<32xf32>, memref<32xf32>) outs(%out : memref<32xi1>) {
  ^bb0(%a: f32, %b: f32, %o: i1):
    %l = arith.cmpf olt, %a, %b : f32
    linalg.yield %l : i1
  }
  return
}

// -----

// An open innermost extent of floats: whole vectors while they fit, then
// at most one vector read and written under a mask.
// CHECK-LABEL: func.func @dynamic
// CHECK: scf.for
// CHECK:   vector.transfer_read {{.*}} : memref<1x16xf32, {{.*}}>, vector<16xf32>
// CHECK:   arith.negf {{.*}} : vector<16xf32>
// CHECK: scf.for
// CHECK:   %[[MASK:.*]] = vector.create_mask %{{.*}} : vector<16xi1>
// CHECK:   vector.transfer_read {{.*}}, %[[MASK]] {{.*}} : memref<1x?xf32, {{.*}}>, vector<16xf32>
// CHECK:   arith.negf {{.*}} : vector<16xf32>
// CHECK:   vector.transfer_write {{.*}}, %[[MASK]] {{.*}} : vector<16xf32>, memref<1x?xf32, {{.*}}>
// CHECK-NOT: linalg.generic
#d = affine_map<(d0, d1) -> (d0, d1)>
func.func @dynamic(%x: memref<4x?xf32>, %out: memref<4x?xf32>) {
  linalg.generic {indexing_maps = [#d, #d], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x?xf32>) outs(%out : memref<4x?xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  }
  return
}

// -----

// Integers are not masked (a lane past the end would divide padding): the
// remainder of an open innermost extent stays a scalar loop.
// CHECK-LABEL: func.func @dynamic_integers
// CHECK: arith.divsi {{.*}} : vector<16xi32>
// CHECK-NOT: vector.create_mask
// CHECK: linalg.generic
// CHECK: arith.divsi {{.*}} : i32
#e = affine_map<(d0, d1) -> (d0, d1)>
func.func @dynamic_integers(%x: memref<4x?xi32>, %y: memref<4x?xi32>, %out: memref<4x?xi32>) {
  linalg.generic {indexing_maps = [#e, #e, #e], iterator_types = ["parallel", "parallel"]}
      ins(%x, %y : memref<4x?xi32>, memref<4x?xi32>) outs(%out : memref<4x?xi32>) {
  ^bb0(%a: i32, %b: i32, %o: i32):
    %q = arith.divsi %a, %b : i32
    linalg.yield %q : i32
  }
  return
}

// -----

// A transpose (the input's rows are walked by the outer loop): square
// blocks of 16 x 16 f32 (8 x 8 with AVX2), each one read along the input's
// rows as a transposing transfer and written along the output's rows; the
// partial blocks at the edges (40 = 2 x 16 + 8, 36 = 2 x 16 + 4) are peeled
// and read under masks.
// CHECK-LABEL: func.func @transpose
// CHECK: scf.for %[[J:.*]] = %c0 to %c32 step %c16
// CHECK:   scf.for %[[I:.*]] = %c0 to %c32 step %c16
// CHECK:     %[[IN:.*]] = memref.subview %{{.*}}[%[[I]], %[[J]]] [16, 16] [1, 1] : memref<40x36xf32> to memref<16x16xf32, strided<[36, 1], offset: ?>>
// CHECK:     %[[OUT:.*]] = memref.subview %{{.*}}[%[[J]], %[[I]]] [16, 16] [1, 1] : memref<36x40xf32> to memref<16x16xf32, strided<[40, 1], offset: ?>>
// CHECK:     %[[BLOCK:.*]] = vector.transfer_read %[[IN]]{{.*}}permutation_map = #{{.*}}} : memref<16x16xf32, strided<[36, 1], offset: ?>>, vector<16x16xf32>
// CHECK:     vector.transfer_write %[[BLOCK]], %[[OUT]]
// CHECK:   vector.constant_mask [8, 16] : vector<16x16xi1>
// CHECK: scf.for
// CHECK:   vector.transfer_read {{.*}} : memref<16x4xf32, strided<[36, 1], offset: ?>>, vector<4x16xf32>
// CHECK-NOT: linalg.transpose
// AVX2-LABEL: func.func @transpose
// AVX2: vector.transfer_read {{.*}} : memref<8x8xf32, strided<[36, 1], offset: ?>>, vector<8x8xf32>
// AVX2-NOT: linalg.transpose
func.func @transpose(%x: memref<40x36xf32>, %out: memref<36x40xf32>) {
  linalg.transpose ins(%x : memref<40x36xf32>) outs(%out : memref<36x40xf32>) permutation = [1, 0]
  return
}

// -----

// A transpose too narrow for one block (12 < 16 rows) stays a linalg op.
// CHECK-LABEL: func.func @narrow_transpose
// CHECK: linalg.transpose
func.func @narrow_transpose(%x: memref<12x64xf32>, %out: memref<64x12xf32>) {
  linalg.transpose ins(%x : memref<12x64xf32>) outs(%out : memref<64x12xf32>) permutation = [1, 0]
  return
}

// -----

// A one-hot mask applied in place to a buffer (the product's result is both
// read and written): the old value is read through an input on the same
// buffer, so the vectorizer does not take the multiplication by a value of
// linalg.index for a reduction (upstream built a vector.multi_reduction over
// no dimensions that did not verify).
// CHECK-LABEL: func.func @one_hot_in_place
// CHECK: scf.for
// CHECK: %[[OLD:.*]] = vector.transfer_read %{{.*}} : memref<1x6xf64, strided<[6, 1], offset: ?>>, vector<6xf64>
// CHECK: %[[STEP:.*]] = vector.step : vector<6xindex>
// CHECK: %[[I:.*]] = arith.index_cast %[[STEP]]
// CHECK: %[[HOT:.*]] = arith.cmpi eq, %[[I]]
// CHECK: %[[MASK:.*]] = arith.select %[[HOT]]
// CHECK: %[[NEW:.*]] = arith.mulf %[[OLD]], %[[MASK]] : vector<6xf64>
// CHECK: vector.transfer_write %[[NEW]]
// CHECK-NOT: vector.multi_reduction
// CHECK-NOT: linalg.generic
// AVX2-LABEL: func.func @one_hot_in_place
// AVX2: arith.mulf %{{.*}}, %{{.*}} : vector<4xf64>
// AVX2: arith.mulf %{{.*}}, %{{.*}} : vector<2xf64>
// AVX2-NOT: linalg.generic
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @one_hot_in_place(%buf: memref<2x6xf64>) {
  %c3 = arith.constant 3 : i64
  %one = arith.constant 1.0 : f64
  %zero = arith.constant 0.0 : f64
  linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", "parallel"]}
      outs(%buf : memref<2x6xf64>) {
  ^bb0(%o: f64):
    %i = linalg.index 1 : index
    %j = arith.index_cast %i : index to i64
    %hot = arith.cmpi eq, %j, %c3 : i64
    %mask = arith.select %hot, %one, %zero : f64
    %m = arith.mulf %o, %mask : f64
    linalg.yield %m : f64
  }
  return
}
