// RUN: tensor-opt %s --split-input-file --kiln-gpu-vectorize-elementwise | FileCheck %s
// RUN: tensor-opt %s --split-input-file --kiln-gpu-vectorize-elementwise=everywhere=true | FileCheck %s --check-prefix=EVERYWHERE

#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>
#row = affine_map<(i, j) -> (i)>
#scalar = affine_map<(i, j) -> ()>

// f32 on an entry's buffers: four elements per thread. The innermost index
// steps by 4; the contiguous operands (%x, the bias %b read along j, the
// output) are 16-byte vectors, the per-row %r and the 0-d %s one load per
// group; the body runs once per lane, in order.
// CHECK-LABEL: func.func @bias_scale
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : index
// CHECK: scf.parallel (%[[I:.*]], %[[J:.*]]) = ({{.*}}) to (%[[C8]], %[[C16]]) step ({{.*}}, %[[C4]])
// CHECK-NEXT: %[[X:.*]] = vector.load %arg0[%[[I]], %[[J]]] {alignment = 16 : i64} : memref<8x16xf32>, vector<4xf32>
// CHECK-NEXT: %[[B:.*]] = vector.load %arg1[%[[J]]] {alignment = 16 : i64} : memref<16xf32>, vector<4xf32>
// CHECK-NEXT: %[[R:.*]] = memref.load %arg2[%[[I]]] : memref<8xf32>
// CHECK-NEXT: %[[S:.*]] = memref.load %arg3[] : memref<f32>
// CHECK-NEXT: %[[X0:.*]] = vector.extract %[[X]][0]
// CHECK-NEXT: %[[B0:.*]] = vector.extract %[[B]][0]
// CHECK-NEXT: %[[A0:.*]] = arith.addf %[[X0]], %[[B0]]
// CHECK-NEXT: %[[M0:.*]] = arith.mulf %[[A0]], %[[R]]
// CHECK-NEXT: %[[Y0:.*]] = arith.mulf %[[M0]], %[[S]]
// CHECK-COUNT-3: arith.mulf %{{.*}}, %[[S]]
// CHECK: %[[V:.*]] = vector.from_elements %[[Y0]], %{{.*}}, %{{.*}}, %{{.*}} : vector<4xf32>
// CHECK-NEXT: vector.store %[[V]], %arg4[%[[I]], %[[J]]] {alignment = 16 : i64} : memref<8x16xf32>, vector<4xf32>
// CHECK-NOT: linalg.generic
func.func @bias_scale(%x: memref<8x16xf32>, %b: memref<16xf32>, %r: memref<8xf32>, %s: memref<f32>, %y: memref<8x16xf32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cuda>} {
  linalg.generic {indexing_maps = [#id, #col, #row, #scalar, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %b, %r, %s : memref<8x16xf32>, memref<16xf32>, memref<8xf32>, memref<f32>) outs(%y : memref<8x16xf32>) {
  ^bb0(%a: f32, %c: f32, %d: f32, %e: f32, %o: f32):
    %0 = arith.addf %a, %c : f32
    %1 = arith.mulf %0, %d : f32
    %2 = arith.mulf %1, %e : f32
    linalg.yield %2 : f32
  }
  return
}

// -----

#id = affine_map<(i, j) -> (i, j)>

// An output updated in place reads its old values as a vector too. f64:
// two per thread (16 bytes); f16: eight; a cast from f16 to f32 takes four
// (the widest element decides), the f16 input then an 8-byte vector.
// CHECK-LABEL: func.func @widths
// CHECK: scf.parallel {{.*}} step (%{{.*}}, %c2{{[_0-9]*}})
// CHECK: vector.load %arg0{{.*}} {alignment = 16 : i64} : memref<4x6xf64>, vector<2xf64>
// CHECK: vector.load %arg1{{.*}} {alignment = 16 : i64} : memref<4x6xf64>, vector<2xf64>
// CHECK: vector.store {{.*}} {alignment = 16 : i64} : memref<4x6xf64>, vector<2xf64>
// CHECK: scf.parallel {{.*}} step (%c8{{[_0-9]*}})
// CHECK: vector.load %arg2{{.*}} {alignment = 16 : i64} : memref<64xf16>, vector<8xf16>
// CHECK: scf.parallel {{.*}} step (%c4{{[_0-9]*}})
// CHECK: vector.load %arg2{{.*}} {alignment = 8 : i64} : memref<64xf16>, vector<4xf16>
// CHECK: vector.store {{.*}} {alignment = 16 : i64} : memref<64xf32>, vector<4xf32>
func.func @widths(%x: memref<4x6xf64>, %acc: memref<4x6xf64>, %h: memref<64xf16>, %g: memref<64xf16>, %f: memref<64xf32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cuda>} {
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x6xf64>) outs(%acc : memref<4x6xf64>) {
  ^bb0(%a: f64, %o: f64):
    %0 = arith.addf %o, %a : f64
    linalg.yield %0 : f64
  }
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      ins(%h : memref<64xf16>) outs(%g : memref<64xf16>) {
  ^bb0(%a: f16, %o: f16):
    %0 = arith.negf %a : f16
    linalg.yield %0 : f16
  }
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      ins(%h : memref<64xf16>) outs(%f : memref<64xf32>) {
  ^bb0(%a: f16, %o: f32):
    %0 = arith.extf %a : f16 to f32
    linalg.yield %0 : f32
  }
  return
}

// -----

// A reshape of an entry's buffer starts where the buffer does: vectorized
// with the alignment claim. A subview of it (columns 4 .. 7) may start
// anywhere: left alone on the GPU.
// CHECK-LABEL: func.func @reshaped
// CHECK: %[[FLAT:.*]] = memref.collapse_shape %arg0
// CHECK: vector.load %[[FLAT]][%{{.*}}] {alignment = 16 : i64} : memref<32xf32>, vector<4xf32>
// CHECK: linalg.generic
func.func @reshaped(%x: memref<4x8xf32>, %y: memref<32xf32>, %z: memref<4x4xf32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cuda>} {
  %flat = memref.collapse_shape %x [[0, 1]] : memref<4x8xf32> into memref<32xf32>
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      ins(%flat : memref<32xf32>) outs(%y : memref<32xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  %sub = memref.subview %x[0, 4] [4, 4] [1, 1] : memref<4x8xf32> to memref<4x4xf32, strided<[8, 1], offset: 4>>
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%sub : memref<4x4xf32, strided<[8, 1], offset: 4>>) outs(%z : memref<4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  return
}

// -----

// Fills and copies too (generalized first): a gradient's zeros, four per
// thread; a copy. A 0-d fill and one of an odd innermost extent stay fills.
// CHECK-LABEL: func.func @fill_copy
// CHECK: scf.parallel {{.*}} step (%{{.*}}, %c4{{[_0-9]*}})
// CHECK: %[[Z:.*]] = vector.from_elements %cst, %cst, %cst, %cst : vector<4xf32>
// CHECK: vector.store %[[Z]], %arg0{{.*}} {alignment = 16 : i64}
// CHECK: scf.parallel {{.*}} step (%c4{{[_0-9]*}})
// CHECK: vector.load %arg1
// CHECK: vector.store {{.*}}, %arg2
// CHECK: linalg.fill {{.*}} outs(%arg3 : memref<f32>)
// CHECK: linalg.fill {{.*}} outs(%arg4 : memref<5xf32>)
func.func @fill_copy(%z: memref<8x16xf32>, %a: memref<32xf32>, %b: memref<32xf32>, %s: memref<f32>, %odd: memref<5xf32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cuda>} {
  %cst = arith.constant 0.0 : f32
  linalg.fill ins(%cst : f32) outs(%z : memref<8x16xf32>)
  linalg.copy ins(%a : memref<32xf32>) outs(%b : memref<32xf32>)
  linalg.fill ins(%cst : f32) outs(%s : memref<f32>)
  linalg.fill ins(%cst : f32) outs(%odd : memref<5xf32>)
  return
}

// -----

#id = affine_map<(i, j) -> (i, j)>

// Left alone: an innermost extent of 7 (no width divides it), a transposed
// input (its lanes are not neighbours), booleans, a subview (it may start
// anywhere; with everywhere, on the host, it is vectorized without an
// alignment claim), a function that is not compiled for the GPU (only
// with everywhere), and even then not where an input may be the output's
// buffer at other elements (a called function's arguments may be one
// buffer: a lane could read what an earlier lane wrote).
// CHECK-LABEL: func.func @left_alone
// CHECK-COUNT-4: linalg.generic
// CHECK-NOT: scf.parallel
// CHECK-LABEL: func.func @host
// CHECK: linalg.generic
// EVERYWHERE-LABEL: func.func @left_alone
// EVERYWHERE-COUNT-3: linalg.generic
// EVERYWHERE: scf.parallel
// EVERYWHERE: vector.load %subview{{.*}} : memref<4x4xf32, strided<[8, 1], offset: 4>>, vector<4xf32>
// EVERYWHERE-NOT: alignment
// EVERYWHERE-LABEL: func.func @host
// EVERYWHERE: scf.parallel
// EVERYWHERE-LABEL: func.func @maybe_same
// EVERYWHERE: linalg.generic
func.func @left_alone(%a: memref<3x7xf32>, %b: memref<3x7xf32>, %t: memref<8x4xf32>, %u: memref<4x8xf32>, %p: memref<4x8xi1>, %q: memref<4x8xi1>, %w: memref<4x8xf32>, %v: memref<4x4xf32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cuda>} {
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a : memref<3x7xf32>) outs(%b : memref<3x7xf32>) {
  ^bb0(%x: f32, %o: f32):
    %0 = arith.negf %x : f32
    linalg.yield %0 : f32
  }
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (j, i)>, #id], iterator_types = ["parallel", "parallel"]}
      ins(%t : memref<8x4xf32>) outs(%u : memref<4x8xf32>) {
  ^bb0(%x: f32, %o: f32):
    linalg.yield %x : f32
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%p : memref<4x8xi1>) outs(%q : memref<4x8xi1>) {
  ^bb0(%x: i1, %o: i1):
    linalg.yield %x : i1
  }
  %sub = memref.subview %w[0, 4] [4, 4] [1, 1] : memref<4x8xf32> to memref<4x4xf32, strided<[8, 1], offset: 4>>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%sub : memref<4x4xf32, strided<[8, 1], offset: 4>>) outs(%v : memref<4x4xf32>) {
  ^bb0(%x: f32, %o: f32):
    linalg.yield %x : f32
  }
  return
}
func.func @host(%a: memref<8xf32>) -> memref<8xf32> {
  %b = memref.alloc() : memref<8xf32>
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      ins(%a : memref<8xf32>) outs(%b : memref<8xf32>) {
  ^bb0(%x: f32, %o: f32):
    linalg.yield %x : f32
  }
  return %b : memref<8xf32>
}
func.func @maybe_same(%a: memref<8xf32>, %b: memref<8xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      ins(%a : memref<8xf32>) outs(%b : memref<8xf32>) {
  ^bb0(%x: f32, %o: f32):
    linalg.yield %x : f32
  }
  return
}
