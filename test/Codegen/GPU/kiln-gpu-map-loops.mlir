// RUN: tensor-opt %s --split-input-file --convert-linalg-to-parallel-loops --kiln-gpu-map-loops | FileCheck %s
// RUN: tensor-opt %s --split-input-file --convert-linalg-to-parallel-loops --kiln-gpu-map-loops=block-size=128 | FileCheck %s --check-prefix=B128
// RUN: not tensor-opt %s --split-input-file --kiln-gpu-map-loops=block-size=2048 2>&1 | FileCheck %s --check-prefix=BAD

// A bias add and relu over 30 x 70: one loop over the 2100 elements,
// row-major (consecutive threads, consecutive columns), in blocks of 256
// threads mapped to the grid and the block; the last block's threads past
// the end do nothing; the row and column come back by division.
// CHECK-LABEL: func.func @bias_relu
// CHECK: scf.parallel (%[[BLOCK:.*]]) = (%{{.*}}) to (%[[N:.*]]) step (%[[STEP:.*]]) {
// CHECK:   scf.parallel (%[[THREAD:.*]]) = (%{{.*}}) to (%[[STEP]]) step (%{{.*}}) {
// CHECK:     %[[I:.*]] = arith.addi %[[THREAD]], %[[BLOCK]] : index
// CHECK:     %[[IN:.*]] = arith.cmpi ult, %{{.*}}, %[[N]] : index
// CHECK:     scf.if
// CHECK:       %[[COL:.*]] = arith.remsi %[[I]], %c70{{.*}} : index
// CHECK:       %[[ROW:.*]] = arith.divsi %[[I]], %c70{{.*}} : index
// CHECK:       memref.load %{{.*}}[%[[ROW]], %[[COL]]] : memref<30x70xf32>
// CHECK:       memref.load %{{.*}}[%[[COL]]] : memref<70xf32>
// CHECK:       memref.store %{{.*}}, %{{.*}}[%[[ROW]], %[[COL]]] : memref<30x70xf32>
// CHECK:   } {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
// B128-LABEL: func.func @bias_relu
// B128: arith.constant 128 : index
// BAD: error: kiln-gpu-map-loops: block-size 2048 is not between 1 and 1024 threads
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
func.func @bias_relu(%x: memref<30x70xf32>, %b: memref<70xf32>, %out: memref<30x70xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %b : memref<30x70xf32>, memref<70xf32>) outs(%out : memref<30x70xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %s = arith.addf %a, %c : f32
    %m = arith.maximumf %s, %zero : f32
    linalg.yield %m : f32
  }
  return
}

// -----

// Row sums: the threads are the 300 rows, each adding its row in a loop.
// CHECK-LABEL: func.func @row_sums
// CHECK: scf.parallel
// CHECK:   scf.parallel
// CHECK:     scf.if
// CHECK:       scf.for %{{.*}} = %{{.*}} to %c70
// CHECK:   } {mapping = [#gpu.loop_dim_map<processor = thread_x
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = block_x
#in = affine_map<(d0, d1) -> (d0, d1)>
#out = affine_map<(d0, d1) -> (d0)>
func.func @row_sums(%x: memref<300x70xf32>, %out: memref<300xf32>) {
  linalg.generic {indexing_maps = [#in, #out], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<300x70xf32>) outs(%out : memref<300xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %o, %a : f32
    linalg.yield %s : f32
  }
  return
}
