// RUN: tensor-opt %s --split-input-file --kiln-gpu-warp-reductions --canonicalize | FileCheck %s

// Row sums of 100 x 300: ceil(100 / 8) blocks of 256 threads, a warp per
// row (the bounds check on the warp's row, not on the thread), each lane
// from the neutral element over elements lane, lane + 32, ... through the
// op's body, five xor shuffles, and lane 0 adds the total to the output.
// CHECK-LABEL: func.func @row_sums
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG: %[[C13:.*]] = arith.constant 13 : index
// CHECK: gpu.launch blocks({{.*}}) in (%{{[a-z0-9_]+}} = %[[C13]], {{.*}}) threads(%[[TID:[a-z0-9_]+]], {{.*}}) in (%{{[a-z0-9_]+}} = %c256,
// CHECK: %[[WARP:.*]] = arith.divui %[[TID]], %c32
// CHECK: %[[LANE:.*]] = arith.remui %[[TID]], %c32
// CHECK: %[[FIRST:.*]] = arith.muli %{{.*}}, %c8
// CHECK: %[[ROW:.*]] = arith.addi %[[FIRST]], %[[WARP]]
// CHECK: %[[IN:.*]] = arith.cmpi ult, %[[ROW]], %c100
// CHECK: scf.if %[[IN]]
// CHECK: scf.for %{{.*}} = %[[LANE]] to %c300 step %c32 iter_args(%{{.*}} = %[[ZERO]])
// CHECK: memref.load %arg0[%[[ROW]], %{{.*}}]
// CHECK: math.exp
// CHECK: arith.addf
// CHECK: gpu.shuffle  xor %{{.*}}, %c16_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c8_i32
// CHECK: gpu.shuffle  xor %{{.*}}, %c4_i32
// CHECK: gpu.shuffle  xor %{{.*}}, %c2_i32
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32
// CHECK: %[[TOTAL:.*]] = arith.addf
// CHECK: arith.cmpi eq, %[[LANE]], %c0
// CHECK: %[[OLD:.*]] = memref.load %arg1[%[[ROW]]]
// CHECK: %[[NEW:.*]] = arith.addf %[[OLD]], %[[TOTAL]]
// CHECK: memref.store %[[NEW]], %arg1[%[[ROW]]]
// CHECK-NOT: linalg.generic
#in = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (i)>
func.func @row_sums(%x: memref<100x300xf32>, %out: memref<100xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<100x300xf32>], outputs = [tensor<100xf32>], variables = [], checks = [], device = cuda>} {
  linalg.generic {indexing_maps = [#in, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<100x300xf32>) outs(%out : memref<100xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %e = math.exp %a : f32
    %s = arith.addf %e, %acc : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A named maximum over the last axis is generalized first; the lanes start
// from the maximum's neutral element.
// CHECK-LABEL: func.func @named_max
// CHECK: arith.constant 0xFF800000 : f32
// CHECK: gpu.launch
// CHECK: gpu.shuffle  xor
// CHECK: arith.maximumf
func.func @named_max(%x: memref<6x64xf32>, %out: memref<6xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<6x64xf32>], outputs = [tensor<6xf32>], variables = [], checks = [], device = cuda>} {
  linalg.reduce ins(%x : memref<6x64xf32>) outs(%out : memref<6xf32>) dimensions = [1]
    (%a: f32, %m: f32) {
      %r = arith.maximumf %a, %m : f32
      linalg.yield %r : f32
    }
  return
}

// -----

// Left alone: a short row (16 elements) and an f16 row.
// CHECK-LABEL: func.func @short_rows
// CHECK-NOT: gpu.launch
// CHECK-LABEL: func.func @half_rows
// CHECK-NOT: gpu.launch
func.func @short_rows(%x: memref<100x16xf32>, %out: memref<100xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<100x16xf32>], outputs = [tensor<100xf32>], variables = [], checks = [], device = cuda>} {
  linalg.reduce ins(%x : memref<100x16xf32>) outs(%out : memref<100xf32>) dimensions = [1]
    (%a: f32, %m: f32) {
      %r = arith.addf %a, %m : f32
      linalg.yield %r : f32
    }
  return
}
func.func @half_rows(%x: memref<100x64xf16>, %out: memref<100xf16>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<100x64xf16>], outputs = [tensor<100xf16>], variables = [], checks = [], device = cuda>} {
  linalg.reduce ins(%x : memref<100x64xf16>) outs(%out : memref<100xf16>) dimensions = [1]
    (%a: f16, %m: f16) {
      %r = arith.addf %a, %m : f16
      linalg.yield %r : f16
    }
  return
}

// -----

// A whole tensor of 100000 elements to a scalar: 25 blocks of 8 warps
// (ceil(100000 / 4096)), each warp's lanes striding by 200 warps x 32 over
// the tensor and writing the warp's total to a GPU buffer of 200 partials;
// then one warp combines the partials and adds them to the output.
// CHECK-LABEL: func.func @whole_sum
// CHECK: %[[PARTIALS:[a-z0-9_]+]], %{{.*}} = gpu.alloc async [%{{.*}}] (%c200) : memref<?xf32>
// CHECK: gpu.launch blocks({{.*}}) in (%{{[a-z0-9_]+}} = %c25,
// CHECK: scf.for %{{.*}} = %{{.*}} to %c100000 step %c6400
// CHECK-COUNT-5: gpu.shuffle  xor
// CHECK: memref.store %{{.*}}, %[[PARTIALS]][%{{.*}}] : memref<?xf32>
// CHECK: gpu.launch blocks({{.*}}) in (%{{[a-z0-9_]+}} = %c1, {{.*}}) threads({{.*}}) in (%{{[a-z0-9_]+}} = %c32,
// CHECK: scf.for %{{.*}} = %{{.*}} to %c200 step %c32
// CHECK: memref.load %[[PARTIALS]]
// CHECK-COUNT-5: gpu.shuffle  xor
// CHECK: memref.load %arg1[]
// CHECK: memref.store %{{.*}}, %arg1[]
// CHECK: gpu.dealloc async [%{{.*}}] %[[PARTIALS]]
// A small one stays for kiln-gpu-schedule-linalg (one block).
// CHECK-LABEL: func.func @small_sum
// CHECK-NOT: gpu.launch
#all = affine_map<(i) -> (i)>
#scalar = affine_map<(i) -> ()>
func.func @whole_sum(%x: memref<100000xf32>, %out: memref<f32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<100000xf32>], outputs = [tensor<f32>], variables = [], checks = [], device = cuda>} {
  linalg.generic {indexing_maps = [#all, #scalar], iterator_types = ["reduction"]}
      ins(%x : memref<100000xf32>) outs(%out : memref<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %a, %acc : f32
    linalg.yield %s : f32
  }
  return
}
func.func @small_sum(%x: memref<1000xf32>, %out: memref<f32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<1000xf32>], outputs = [tensor<f32>], variables = [], checks = [], device = cuda>} {
  linalg.generic {indexing_maps = [#all, #scalar], iterator_types = ["reduction"]}
      ins(%x : memref<1000xf32>) outs(%out : memref<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %a, %acc : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A column sum (the input's innermost index is a parallel loop, even with
// the reduction loop innermost), 300 x 100: ceil(100 / 32) = 4 groups of 32
// outputs times 2 splits of the 300 rows (ceil(300 / 256)), 256 threads a
// block: column t % 32, slice t / 32 starting at row 8 s + slice and
// striding by 16, into shared memory; after the barrier slice 0 combines
// the 8 slices and writes partials[s][output] (200 of them); a second
// kernel, a thread per output, adds the 2 partials in order to the output.
// CHECK-LABEL: func.func @column_sums
// CHECK: %[[PARTIALS:[a-z0-9_]+]], %{{.*}} = gpu.alloc async [%{{.*}}] (%c200) : memref<?xf32>
// CHECK: gpu.launch blocks(%[[GROUP:[a-z0-9_]+]], %[[SPLIT:[a-z0-9_]+]], %{{.*}}) in (%{{[a-z0-9_]+}} = %c4, %{{[a-z0-9_]+}} = %c2, {{.*}}) threads(%[[TID:[a-z0-9_]+]], {{.*}}) in (%{{[a-z0-9_]+}} = %c256, {{.*}}) workgroup(%[[SHARED:[a-z0-9_]+]] : memref<256xf32, #gpu.address_space<workgroup>>)
// CHECK-DAG: %[[COLUMN:.*]] = arith.remui %[[TID]], %c32
// CHECK-DAG: %[[SLICE:.*]] = arith.divui %[[TID]], %c32
// CHECK: scf.if
// CHECK: %[[FIRST:.*]] = arith.addi %{{.*}}, %[[SLICE]]
// CHECK: scf.for %[[ROW:.*]] = %[[FIRST]] to %c300 step %c16
// CHECK: memref.load %arg0[%[[ROW]], %{{.*}}]
// CHECK: memref.store %{{.*}}, %[[SHARED]][%[[TID]]]
// CHECK-NEXT: gpu.barrier
// CHECK: scf.if
// CHECK-COUNT-8: memref.load %[[SHARED]]
// CHECK: memref.store %{{.*}}, %[[PARTIALS]]
// CHECK: gpu.launch blocks({{.*}}) in (%{{[a-z0-9_]+}} = %c1, {{.*}}) threads({{.*}}) in (%{{[a-z0-9_]+}} = %c256,
// CHECK: scf.for %{{.*}} = %c0 to %c2 step %c1
// CHECK: memref.load %[[PARTIALS]]
// CHECK: memref.load %arg1
// CHECK: arith.addf
// CHECK: memref.store %{{.*}}, %arg1
// CHECK: gpu.dealloc async [%{{.*}}] %[[PARTIALS]]
#colin = affine_map<(j, i) -> (i, j)>
#col = affine_map<(j, i) -> (j)>
func.func @column_sums(%x: memref<300x100xf32>, %out: memref<100xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<300x100xf32>], outputs = [tensor<100xf32>], variables = [], checks = [], device = cuda>} {
  linalg.generic {indexing_maps = [#colin, #col], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<300x100xf32>) outs(%out : memref<100xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %a, %acc : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A bias gradient, 256 x 128: ceil(256 / 256) = 1 split, so one kernel of
// 4 blocks, slice 0 adding its column's total to the output (no partials).
// CHECK-LABEL: func.func @bias_gradient
// CHECK-NOT: gpu.alloc
// CHECK: gpu.launch blocks({{.*}}) in (%{{[a-z0-9_]+}} = %c4, %{{[a-z0-9_]+}} = %c1, {{.*}}) threads({{.*}}) in (%{{[a-z0-9_]+}} = %c256,
// CHECK: scf.for %{{.*}} step %c8
// CHECK: gpu.barrier
// CHECK-COUNT-8: memref.load %{{.*}} : memref<256xf32, #gpu.address_space<workgroup>>
// CHECK: memref.load %arg1
// CHECK: memref.store %{{.*}}, %arg1
// CHECK-NOT: gpu.launch
func.func @bias_gradient(%x: memref<256x128xf32>, %out: memref<128xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<256x128xf32>], outputs = [tensor<128xf32>], variables = [], checks = [], device = cuda>} {
  linalg.reduce ins(%x : memref<256x128xf32>) outs(%out : memref<128xf32>) dimensions = [0]
    (%a: f32, %m: f32) {
      %r = arith.addf %a, %m : f32
      linalg.yield %r : f32
    }
  return
}
