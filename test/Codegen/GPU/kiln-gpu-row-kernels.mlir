// RUN: tensor-opt %s --split-input-file --kiln-gpu-row-kernels | FileCheck %s
// RUN: tensor-opt %s --split-input-file --kiln-gpu-row-kernels=emulate=true | FileCheck %s --check-prefix=EMU

#row = affine_map<(d0, d1) -> (d0, d1)>
#red = affine_map<(d0, d1) -> (d0)>

// A softmax as bufferization leaves it: two fills, two row reductions and
// the quotients, one kernel. 256 rows of 1000: 32 blocks of 8 warps; each
// reduction's lane shares end in five xor shuffles; the maxima feed the
// sums and the quotients from registers (no load of the temporaries); lane
// 0 stores both per-row values at the end.
// CHECK-LABEL: func.func @softmax
// CHECK-NOT: linalg.
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c32, {{.*}}) threads({{.*}}) in (%{{.*}} = %c256{{.*}},
// CHECK: %[[LANE:.*]] = arith.remui %{{.*}}, %c32
// CHECK: scf.if
// CHECK: %[[MAXSHARE:.*]] = scf.for {{.*}} = %[[LANE]] to %c1000{{.*}} step %c32
// CHECK: arith.maximumf
// CHECK-COUNT-5: gpu.shuffle  xor
// CHECK: %[[MAX:.*]] = arith.maximumf %cst_0, %{{.*}} : f32
// CHECK: scf.for {{.*}} = %[[LANE]] to
// CHECK: arith.subf %{{.*}}, %[[MAX]] : f32
// CHECK-COUNT-5: gpu.shuffle  xor
// CHECK: %[[SUM:.*]] = arith.addf %cst, %{{.*}} : f32
// CHECK: scf.for {{.*}} = %[[LANE]] to
// CHECK: math.log %[[SUM]]
// CHECK: memref.store {{.*}}, %arg1
// CHECK: nvvm.bar.warp.sync %c-1_i32
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %[[LANE]], %c0
// CHECK: scf.if %[[FIRST]]
// CHECK-DAG: memref.store %[[MAX]], %[[MAXBUF:.*]][
// CHECK-DAG: memref.store %[[SUM]], %{{.*}}[
// CHECK-NOT: memref.load %[[MAXBUF]]
// CHECK: gpu.dealloc
// EMU-LABEL: func.func @softmax
// EMU-NOT: gpu.launch
// EMU-NOT: gpu.shuffle
// EMU: scf.for %{{.*}} = %c0{{.*}} to %c256
// EMU: gpu.dealloc
func.func @softmax(%x: memref<256x1000xf32>, %y: memref<256x1000xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<256x1000xf32>], outputs = [tensor<256x1000xf32>], variables = [], checks = [], device = cuda>} {
  %zero = arith.constant 0.000000e+00 : f32
  %low = arith.constant 0xFF800000 : f32
  %sum = gpu.alloc () : memref<256xf32>
  %max = gpu.alloc () : memref<256xf32>
  linalg.fill ins(%low : f32) outs(%max : memref<256xf32>)
  linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "reduction"]} ins(%x : memref<256x1000xf32>) outs(%max : memref<256xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.maximumf %out, %in : f32
    linalg.yield %0 : f32
  }
  linalg.fill ins(%zero : f32) outs(%sum : memref<256xf32>)
  linalg.generic {indexing_maps = [#row, #red, #red], iterator_types = ["parallel", "reduction"]} ins(%x, %max : memref<256x1000xf32>, memref<256xf32>) outs(%sum : memref<256xf32>) {
  ^bb0(%in: f32, %m: f32, %out: f32):
    %0 = arith.subf %in, %m : f32
    %1 = math.exp %0 : f32
    %2 = arith.addf %out, %1 : f32
    linalg.yield %2 : f32
  }
  linalg.generic {indexing_maps = [#row, #red, #red, #row], iterator_types = ["parallel", "parallel"]} ins(%x, %max, %sum : memref<256x1000xf32>, memref<256xf32>, memref<256xf32>) outs(%y : memref<256x1000xf32>) {
  ^bb0(%in: f32, %m: f32, %s: f32, %out: f32):
    %0 = math.log %s : f32
    %1 = arith.subf %in, %m : f32
    %2 = arith.subf %1, %0 : f32
    %3 = math.exp %2 : f32
    linalg.yield %3 : f32
  }
  gpu.dealloc %sum : memref<256xf32>
  gpu.dealloc %max : memref<256xf32>
  return
}

// -----

#row = affine_map<(d0, d1) -> (d0, d1)>
#red = affine_map<(d0, d1) -> (d0)>
#one = affine_map<(d0) -> (d0)>

// Ten classes: a thread per row (no shuffle). The loss reads a logit at its
// label (a load inside the body) of the input, which the run does not
// write, so it joins the run as a per-row op.
// CHECK-LABEL: func.func @short_rows
// CHECK-NOT: linalg.
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c1{{.*}}, {{.*}}) threads({{.*}}) in (%{{.*}} = %c256
// CHECK-NOT: gpu.shuffle
// CHECK: scf.for {{.*}} to %c10{{.*}} step %c1
// CHECK: memref.load %arg0[
// CHECK-NOT: linalg.
// CHECK: return
func.func @short_rows(%x: memref<100x10xf32>, %labels: memref<100xi64>, %loss: memref<100xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<100x10xf32>, tensor<100xi64>], outputs = [tensor<100xf32>], variables = [], checks = [], device = cuda>} {
  %low = arith.constant 0xFF800000 : f32
  %max = gpu.alloc () : memref<100xf32>
  linalg.fill ins(%low : f32) outs(%max : memref<100xf32>)
  linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "reduction"]} ins(%x : memref<100x10xf32>) outs(%max : memref<100xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.maximumf %out, %in : f32
    linalg.yield %0 : f32
  }
  linalg.generic {indexing_maps = [#one, #one, #one], iterator_types = ["parallel"]} ins(%labels, %max : memref<100xi64>, memref<100xf32>) outs(%loss : memref<100xf32>) {
  ^bb0(%l: i64, %m: f32, %out: f32):
    %r = linalg.index 0 : index
    %label = arith.index_cast %l : i64 to index
    %v = memref.load %x[%r, %label] : memref<100x10xf32>
    %0 = arith.subf %m, %v : f32
    linalg.yield %0 : f32
  }
  gpu.dealloc %max : memref<100xf32>
  return
}

// -----

#row = affine_map<(d0, d1) -> (d0, d1)>
#red = affine_map<(d0, d1) -> (d0)>
#bcast = affine_map<(d0, d1) -> (d0, 0)>

// What the run writes is read elsewhere than at the reader's row and
// element: the run stops before that reader. Here a reduction's result is
// read through a reshape (a view).
// CHECK-LABEL: func.func @not_fused
// CHECK: gpu.launch
// CHECK-NOT: gpu.launch
// CHECK: memref.expand_shape
// CHECK: linalg.generic
// CHECK: return
func.func @not_fused(%x: memref<64x100xf32>, %y: memref<64x100xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<64x100xf32>], outputs = [tensor<64x100xf32>], variables = [], checks = [], device = cuda>} {
  %zero = arith.constant 0.000000e+00 : f32
  %sum = gpu.alloc () : memref<64xf32>
  linalg.fill ins(%zero : f32) outs(%sum : memref<64xf32>)
  linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "reduction"]} ins(%x : memref<64x100xf32>) outs(%sum : memref<64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %out, %in : f32
    linalg.yield %0 : f32
  }
  %view = memref.expand_shape %sum [[0, 1]] output_shape [64, 1] : memref<64xf32> into memref<64x1xf32>
  linalg.generic {indexing_maps = [#row, #bcast, #row], iterator_types = ["parallel", "parallel"]} ins(%x, %view : memref<64x100xf32>, memref<64x1xf32>) outs(%y : memref<64x100xf32>) {
  ^bb0(%in: f32, %s: f32, %out: f32):
    %0 = arith.divf %in, %s : f32
    linalg.yield %0 : f32
  }
  gpu.dealloc %sum : memref<64xf32>
  return
}

// -----

#row = affine_map<(d0, d1) -> (d0, d1)>
#red = affine_map<(d0, d1) -> (d0)>

// Here the quotients join the run (they read the sums at their own row),
// but a later op reads them at another row: it stays a linalg op after the
// kernel.
// CHECK-LABEL: func.func @flipped
// CHECK: gpu.launch
// CHECK: memref.store {{.*}}, %arg1
// CHECK: linalg.generic
// CHECK-NOT: gpu.launch
// CHECK: return
func.func @flipped(%x: memref<64x100xf32>, %y: memref<64x100xf32>, %z: memref<64x100xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<64x100xf32>], outputs = [tensor<64x100xf32>, tensor<64x100xf32>], variables = [], checks = [], device = cuda>} {
  %zero = arith.constant 0.000000e+00 : f32
  %sum = gpu.alloc () : memref<64xf32>
  linalg.fill ins(%zero : f32) outs(%sum : memref<64xf32>)
  linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "reduction"]} ins(%x : memref<64x100xf32>) outs(%sum : memref<64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %out, %in : f32
    linalg.yield %0 : f32
  }
  linalg.generic {indexing_maps = [#row, #red, #row], iterator_types = ["parallel", "parallel"]} ins(%x, %sum : memref<64x100xf32>, memref<64xf32>) outs(%y : memref<64x100xf32>) {
  ^bb0(%in: f32, %s: f32, %out: f32):
    %0 = arith.divf %in, %s : f32
    linalg.yield %0 : f32
  }
  linalg.generic {indexing_maps = [#row, #row], iterator_types = ["parallel", "parallel"]} ins(%y : memref<64x100xf32>) outs(%z : memref<64x100xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = linalg.index 0 : index
    %c = linalg.index 1 : index
    %c63 = arith.constant 63 : index
    %flip = arith.subi %c63, %r : index
    %v = memref.load %y[%flip, %c] : memref<64x100xf32>
    %0 = arith.addf %in, %v : f32
    linalg.yield %0 : f32
  }
  gpu.dealloc %sum : memref<64xf32>
  return
}

// -----

#row = affine_map<(d0, d1) -> (d0, d1)>
#red = affine_map<(d0, d1) -> (d0)>

// A function an entry calls may get views of one buffer as two arguments
// (here the row sums could overlap the input): no run is fused there.
// CHECK-LABEL: func.func @callee
// CHECK-NOT: gpu.launch
// CHECK: linalg.fill
// CHECK: linalg.generic
// CHECK: linalg.generic
func.func @callee(%x: memref<64x100xf32>, %sum: memref<64xf32>, %y: memref<64x100xf32>) attributes {kiln.gpu_function} {
  %zero = arith.constant 0.000000e+00 : f32
  linalg.fill ins(%zero : f32) outs(%sum : memref<64xf32>)
  linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "reduction"]} ins(%x : memref<64x100xf32>) outs(%sum : memref<64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %out, %in : f32
    linalg.yield %0 : f32
  }
  linalg.generic {indexing_maps = [#row, #red, #row], iterator_types = ["parallel", "parallel"]} ins(%x, %sum : memref<64x100xf32>, memref<64xf32>) outs(%y : memref<64x100xf32>) {
  ^bb0(%in: f32, %s: f32, %out: f32):
    %0 = arith.divf %in, %s : f32
    linalg.yield %0 : f32
  }
  return
}
