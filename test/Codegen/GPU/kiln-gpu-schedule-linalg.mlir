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

// A 0-d fill has no loop at all: a kernel of one thread. A sum of a whole
// tensor: one block of 256 threads, each summing a strided share of the
// 24 iterations (delinearized row-major) from the neutral element 0, the
// partial sums combined in shared memory in 8 levels with a barrier after
// each, thread 0 adding the total to the output. Ops with parallel loops
// first are unchanged.
// CHECK-LABEL: func.func @no_parallel_loop
// CHECK: %[[ONE:.*]] = arith.constant 1 : index
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %[[ONE]], {{.*}} = %[[ONE]], {{.*}} = %[[ONE]]) threads({{.*}}) in ({{.*}} = %[[ONE]], {{.*}} = %[[ONE]], {{.*}} = %[[ONE]])
// CHECK-NEXT: linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : memref<f32>)
// CHECK-NEXT: gpu.terminator
// CHECK: %[[C256:.*]] = arith.constant 256 : index
// CHECK: gpu.launch blocks({{.*}}) threads(%[[TX:[^,]*]], {{.*}}) in ({{.*}} = %[[C256]], {{.*}}) workgroup(%[[SHARED:.*]] : memref<256xf32, #gpu.address_space<workgroup>>)
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[PART:.*]] = scf.for %[[I:.*]] = %[[TX]] to %c24 step %[[C256]] iter_args(%[[ACC:.*]] = %[[ZERO]]) -> (f32)
// CHECK: %[[J:.*]] = arith.remui %[[I]], %c6
// CHECK: %[[K:.*]] = arith.divui %[[I]], %c6
// CHECK: %[[X:.*]] = memref.load %arg0[{{.*}}, {{.*}}] : memref<4x6xf32>
// CHECK: %[[S:.*]] = arith.addf %[[X]], %[[ACC]] : f32
// CHECK: scf.yield %[[S]] : f32
// CHECK: memref.store %[[PART]], %[[SHARED]][%[[TX]]]
// CHECK: gpu.barrier
// CHECK-COUNT-8: gpu.barrier
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %[[TX]], %c0
// CHECK: scf.if %[[FIRST]]
// CHECK: %[[SUM:.*]] = memref.load %[[SHARED]][%c0]
// CHECK: %[[OLD:.*]] = memref.load %arg1[] : memref<f32>
// CHECK: %[[NEW:.*]] = arith.addf %[[OLD]], %[[SUM]] : f32
// CHECK: memref.store %[[NEW]], %arg1[] : memref<f32>
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

// -----

// A maximum of a whole tensor starts from -inf (max's neutral element) and
// combines with arith.maximumf; an argmax to a scalar (two outputs) keeps
// its one thread.
// CHECK-LABEL: func.func @max_and_argmax
// CHECK: arith.constant 0xFF800000 : f32
// CHECK: arith.maximumf
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}}) threads({{.*}}) in ({{.*}} = %c1{{.*}}, {{.*}} = %c1{{.*}}, {{.*}} = %c1{{.*}})
// CHECK-NEXT: linalg.generic
#v = affine_map<(d0) -> (d0)>
#s = affine_map<(d0) -> ()>
func.func @max_and_argmax(%x: memref<100xf32>, %m: memref<f32>, %m2: memref<f32>, %i: memref<i64>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<100xf32>], outputs = [tensor<f32>, tensor<f32>, tensor<i64>], variables = [], checks = [], device = cuda>} {
  linalg.generic {indexing_maps = [#v, #s], iterator_types = ["reduction"]}
      ins(%x : memref<100xf32>) outs(%m : memref<f32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.maximumf %a, %o : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#v, #s, #s], iterator_types = ["reduction"]}
      ins(%x : memref<100xf32>) outs(%m2, %i : memref<f32>, memref<i64>) {
  ^bb0(%a: f32, %o: f32, %j: i64):
    %k = linalg.index 0 : index
    %kk = arith.index_cast %k : index to i64
    %gt = arith.cmpf ogt, %a, %o : f32
    %r = arith.select %gt, %a, %o : f32
    %n = arith.select %gt, %kk, %j : i64
    linalg.yield %r, %n : f32, i64
  }
  return
}
