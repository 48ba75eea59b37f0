// RUN: tensor-opt %s --split-input-file --kiln-gpu-schedule-linalg | FileCheck %s

// An argmax over axis 0: the reduction loop came first, so the parallel
// loop over the columns would have become a kernel launched once per row.
// Interchanged, the column loop is outermost and each thread runs the
// whole reduction of its column.
// CHECK-DAG: #[[IN:.*]] = affine_map<(d0, d1) -> (d1, d0)>
// CHECK-DAG: #[[OUT:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-DAG: #[[SECOND:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @reduction_first
// CHECK: linalg.generic {indexing_maps = [#[[IN]], #[[OUT]], #[[OUT]]], iterator_types = ["parallel", "reduction"]}
// CHECK: %[[I0:.*]] = linalg.index 0 : index
// CHECK: %[[I1:.*]] = linalg.index 1 : index
// CHECK: %[[ROW:.*]] = affine.apply #[[SECOND]](%[[I0]], %[[I1]])
// CHECK: arith.index_cast %[[ROW]] : index to i64
// CHECK-NOT: gpu.launch
#in = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
func.func @reduction_first(%x: memref<4x6xf32>, %max: memref<6xf32>, %arg: memref<6xi64>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<4x6xf32>], outputs = [tensor<6xi64>], variables = [], checks = [], device = cuda>} {
  linalg.generic {indexing_maps = [#in, #col, #col], iterator_types = ["reduction", "parallel"]}
      ins(%x : memref<4x6xf32>) outs(%max, %arg : memref<6xf32>, memref<6xi64>) {
  ^bb0(%a: f32, %m: f32, %i: i64):
    %row = linalg.index 0 : index
    %r = arith.index_cast %row : index to i64
    %gt = arith.cmpf ogt, %a, %m : f32
    %m1 = arith.select %gt, %a, %m : f32
    %i1 = arith.select %gt, %r, %i : i64
    linalg.yield %m1, %i1 : f32, i64
  }
  return
}

// -----

// A named op whose reduction comes first is generalized to reorder it.
// CHECK-LABEL: func.func @named_reduce
// CHECK-NOT: linalg.reduce
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK: arith.addf
func.func @named_reduce(%x: memref<5x3xf32>, %out: memref<3xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<5x3xf32>], outputs = [tensor<3xf32>], variables = [], checks = [], device = cuda>} {
  linalg.reduce ins(%x : memref<5x3xf32>) outs(%out : memref<3xf32>) dimensions = [0]
    (%a: f32, %o: f32) {
      %s = arith.addf %a, %o : f32
      linalg.yield %s : f32
    }
  return
}

// -----

// A sum of a whole tensor and a 0-d fill have no parallel loop: each runs
// in a kernel of one thread. Ops with parallel loops first are unchanged.
// CHECK-LABEL: func.func @no_parallel_loop
// CHECK: %[[ONE:.*]] = arith.constant 1 : index
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %[[ONE]], {{.*}} = %[[ONE]], {{.*}} = %[[ONE]]) threads({{.*}}) in ({{.*}} = %[[ONE]], {{.*}} = %[[ONE]], {{.*}} = %[[ONE]])
// CHECK-NEXT: linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : memref<f32>)
// CHECK-NEXT: gpu.terminator
// CHECK: gpu.launch
// CHECK-NEXT: linalg.generic {{.*}} iterator_types = ["reduction", "reduction"]
// CHECK: gpu.terminator
// CHECK-NOT: gpu.launch
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
#all = affine_map<(d0, d1) -> (d0, d1)>
#none = affine_map<(d0, d1) -> ()>
#row = affine_map<(d0, d1) -> (d0)>
func.func @no_parallel_loop(%x: memref<4x6xf32>, %sum: memref<f32>, %rows: memref<4xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<4x6xf32>], outputs = [tensor<f32>, tensor<4xf32>], variables = [], checks = [], device = cuda>} {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%sum : memref<f32>)
  linalg.generic {indexing_maps = [#all, #none], iterator_types = ["reduction", "reduction"]}
      ins(%x : memref<4x6xf32>) outs(%sum : memref<f32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %o : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#all, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4x6xf32>) outs(%rows : memref<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %o : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A function that is not an entry compiled for the GPU is left alone.
// CHECK-LABEL: func.func @cpu_entry
// CHECK-NOT: gpu.launch
// CHECK: iterator_types = ["reduction", "parallel"]
#in2 = affine_map<(d0, d1) -> (d0, d1)>
#col2 = affine_map<(d0, d1) -> (d1)>
func.func @cpu_entry(%x: memref<4x6xf32>, %out: memref<6xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<4x6xf32>], outputs = [tensor<6xf32>], variables = [], checks = [], device = cpu>} {
  linalg.generic {indexing_maps = [#in2, #col2], iterator_types = ["reduction", "parallel"]}
      ins(%x : memref<4x6xf32>) outs(%out : memref<6xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %o : f32
    linalg.yield %s : f32
  }
  return
}
