// RUN: tensor-opt %s --split-input-file --kiln-gpu-tile-contractions=multiprocessors=132 | FileCheck %s
// RUN: tensor-opt %s --split-input-file --kiln-gpu-tile-contractions=multiprocessors=8 | FileCheck %s --check-prefix=FEW

// The outputs per thread (p x p, tiles of 16 p) come from the wave model:
// a block costs p, the blocks run in ceil(blocks / multiprocessors) waves.
// A dense layer's 256 x 128 product on 132 multiprocessors: 128 blocks of
// 16 x 16 (p = 1: one wave, cost 1) rather than 32 of 32 x 32 (cost 2) or
// 8 of 64 x 64 (cost 4). On 8 multiprocessors the 64 x 64 tiles fill them
// (8 blocks, cost 4; p = 1 would take 16 waves).
// CHECK-LABEL: func.func @layer
// CHECK: gpu.launch
// CHECK-SAME: workgroup(%{{[a-z0-9_]+}} : memref<16x17xf32, #gpu.address_space<workgroup>>, %{{[a-z0-9_]+}} : memref<16x17xf32, #gpu.address_space<workgroup>>)
// CHECK-COUNT-1: memref.load %arg2
// CHECK-NOT: memref.load %arg2
// CHECK: scf.for
// CHECK-COUNT-1: memref.store {{.*}} : memref<16x17xf32
// CHECK-COUNT-1: memref.store {{.*}} : memref<16x17xf32
// CHECK: gpu.barrier
// CHECK: scf.if
// CHECK-COUNT-16: arith.addf
// CHECK-NOT: arith.addf
// CHECK: } else {
// FEW-LABEL: func.func @layer
// FEW: memref<16x68xf32, #gpu.address_space<workgroup>>
func.func @layer(%a: memref<256x784xf32>, %b: memref<784x128xf32>, %c: memref<256x128xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<256x784xf32>, tensor<784x128xf32>], outputs = [tensor<256x128xf32>], variables = [], checks = [], device = cuda>} {
  linalg.matmul ins(%a, %b : memref<256x784xf32>, memref<784x128xf32>) outs(%c : memref<256x128xf32>)
  return
}

// -----

// Its weight gradient, 784 x 128: 32 x 32 tiles (100 blocks, one wave,
// cost 2) beat 16 x 16 (392 blocks, three waves, cost 3); each thread
// keeps 2 x 2 outputs and loads two elements of each 16 x 32 tile.
// CHECK-LABEL: func.func @weight_gradient
// CHECK: %[[C32:.*]] = arith.constant 32 : index
// CHECK: %[[GX:.*]] = arith.ceildivui %{{.*}}, %[[C32]]
// CHECK: gpu.launch
// CHECK-SAME: workgroup(%{{[a-z0-9_]+}} : memref<16x33xf32, #gpu.address_space<workgroup>>, %{{[a-z0-9_]+}} : memref<16x33xf32, #gpu.address_space<workgroup>>)
// CHECK-COUNT-4: memref.load %arg2
// CHECK-NOT: memref.load %arg2
// CHECK: scf.for
// CHECK-COUNT-2: memref.store {{.*}} : memref<16x33xf32
// CHECK-COUNT-2: memref.store {{.*}} : memref<16x33xf32
// CHECK: gpu.barrier
#at = affine_map<(m, n, k) -> (k, m)>
#b = affine_map<(m, n, k) -> (k, n)>
#c = affine_map<(m, n, k) -> (m, n)>
func.func @weight_gradient(%x: memref<256x784xf32>, %g: memref<256x128xf32>, %w: memref<784x128xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<256x784xf32>, tensor<256x128xf32>], outputs = [tensor<784x128xf32>], variables = [], checks = [], device = cuda>} {
  linalg.generic {indexing_maps = [#at, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %g : memref<256x784xf32>, memref<256x128xf32>) outs(%w : memref<784x128xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// 600 x 600: 64 x 64 tiles (100 blocks, cost 4) beat 32 x 32 (361 blocks,
// three waves, cost 6). 2050 x 2100 (from large-tiles-from): 128 x 128
// (289 blocks, three waves of cost 8: 24) beat 64 x 64 (1089 blocks, nine
// waves: 36). Open extents keep 64 x 64, whatever the size.
// CHECK-LABEL: func.func @medium
// CHECK: memref<16x68xf32, #gpu.address_space<workgroup>>
// CHECK-LABEL: func.func @large
// CHECK: memref<8x132xf32, #gpu.address_space<workgroup>>
// CHECK-LABEL: func.func @open
// CHECK: memref<16x68xf32, #gpu.address_space<workgroup>>
func.func @medium(%a: memref<600x20xf32>, %b: memref<20x600xf32>, %c: memref<600x600xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<600x20xf32>, tensor<20x600xf32>], outputs = [tensor<600x600xf32>], variables = [], checks = [], device = cuda>} {
  linalg.matmul ins(%a, %b : memref<600x20xf32>, memref<20x600xf32>) outs(%c : memref<600x600xf32>)
  return
}
func.func @large(%a: memref<2050x20xf32>, %b: memref<20x2100xf32>, %c: memref<2050x2100xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<2050x20xf32>, tensor<20x2100xf32>], outputs = [tensor<2050x2100xf32>], variables = [], checks = [], device = cuda>} {
  linalg.matmul ins(%a, %b : memref<2050x20xf32>, memref<20x2100xf32>) outs(%c : memref<2050x2100xf32>)
  return
}
func.func @open(%a: memref<?x20xf32>, %b: memref<20x10xf32>, %c: memref<?x10xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<?x20xf32>, tensor<20x10xf32>], outputs = [tensor<?x10xf32>], variables = [], checks = [], device = cuda>} {
  linalg.matmul ins(%a, %b : memref<?x20xf32>, memref<20x10xf32>) outs(%c : memref<?x10xf32>)
  return
}

// -----

// A filter gradient, 9 x 16 outputs over a depth of 43264: one block of
// outputs would walk the whole depth alone. Split K: 129 blocks (one wave)
// each take a chunk of 336 (a multiple of the K step of 16) into their
// slice of a GPU workspace, starting from zero; a second kernel (a thread
// per output) adds the 129 parts, in order, to the output's value; the
// workspace is freed. On 8 multiprocessors: 8 splits (chunks of 5408).
// CHECK-LABEL: func.func @filter_gradient
// CHECK: %[[W:[a-z0-9_]+]], %{{.*}} = gpu.alloc async [%{{.*}}] () : memref<129x9x16xf32>
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}}, %{{[a-z0-9_]+}} = %[[Z:[a-z0-9_]+]])
// CHECK: %[[BEGIN:.*]] = arith.muli %{{.*}}, %c336
// CHECK: %[[END:.*]] = arith.minui %{{.*}}, %{{.*}}
// CHECK: scf.for %{{.*}} = %[[BEGIN]] to %[[END]] step %c16
// CHECK: memref.store %{{.*}}, %[[W]][
// CHECK: gpu.terminator
// CHECK: gpu.launch blocks({{.*}}) in (%{{[a-z0-9_]+}} = %c1{{.*}}) threads({{.*}}) in (%{{[a-z0-9_]+}} = %c256
// CHECK: memref.load %arg2
// CHECK-COUNT-129: memref.load %[[W]]
// CHECK: memref.store %{{.*}}, %arg2
// CHECK: gpu.dealloc async [%{{.*}}] %[[W]]
// FEW-LABEL: func.func @filter_gradient
// FEW: gpu.alloc async [%{{.*}}] () : memref<8x9x16xf32>
#ft = affine_map<(m, n, k) -> (k, m)>
#fg = affine_map<(m, n, k) -> (k, n)>
#fo = affine_map<(m, n, k) -> (m, n)>
func.func @filter_gradient(%x: memref<43264x9xf32>, %g: memref<43264x16xf32>, %w: memref<9x16xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<43264x9xf32>, tensor<43264x16xf32>], outputs = [tensor<9x16xf32>], variables = [], checks = [], device = cuda>} {
  linalg.generic {indexing_maps = [#ft, #fg, #fo], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %g : memref<43264x9xf32>, memref<43264x16xf32>) outs(%w : memref<9x16xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Split K with a folded fill: the adding kernel starts from the fill's
// value instead of loading the output.
// CHECK-LABEL: func.func @filled_split
// CHECK-NOT: linalg.fill
// CHECK: gpu.launch
// CHECK: gpu.terminator
// CHECK: gpu.launch
// CHECK-NOT: memref.load %arg2
// CHECK: %[[P:.*]] = memref.load %{{.*}}[%c0
// CHECK: arith.addf %cst{{.*}}, %[[P]]
// CHECK: memref.store %{{.*}}, %arg2
#gt = affine_map<(m, n, k) -> (k, m)>
#gg = affine_map<(m, n, k) -> (k, n)>
#go = affine_map<(m, n, k) -> (m, n)>
func.func @filled_split(%x: memref<43264x9xf32>, %g: memref<43264x16xf32>, %w: memref<9x16xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<43264x9xf32>, tensor<43264x16xf32>], outputs = [tensor<9x16xf32>], variables = [], checks = [], device = cuda>} {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%w : memref<9x16xf32>)
  linalg.generic {indexing_maps = [#gt, #gg, #go], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %g : memref<43264x9xf32>, memref<43264x16xf32>) outs(%w : memref<9x16xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A bf16 filter gradient split along K: the partial sums stay f32 in the
// workspace (no rounding per split), the adding kernel extends the
// output's value, adds the 129 parts in f32 and rounds once.
// CHECK-LABEL: func.func @bf16_split
// CHECK: %[[W:[a-z0-9_]+]], %{{.*}} = gpu.alloc async [%{{.*}}] () : memref<129x9x16xf32>
// CHECK: gpu.launch
// CHECK: arith.mulf %{{.*}} : f32
// CHECK-NOT: arith.truncf
// CHECK: memref.store %{{.*}}, %[[W]][{{.*}}] : memref<129x9x16xf32>
// CHECK: gpu.terminator
// CHECK: gpu.launch
// CHECK: %[[OLD:.*]] = memref.load %arg2{{.*}} : memref<9x16xbf16>
// CHECK: %[[SUM:.*]] = arith.extf %[[OLD]] : bf16 to f32
// CHECK: %[[P:.*]] = memref.load %[[W]]
// CHECK: arith.addf %[[SUM]], %[[P]] : f32
// CHECK-COUNT-128: arith.addf %{{.*}} : f32
// CHECK-NEXT: %[[OUT:.*]] = arith.truncf %{{.*}} : f32 to bf16
// CHECK-NEXT: memref.store %[[OUT]], %arg2
#bt = affine_map<(m, n, k) -> (k, m)>
#bg = affine_map<(m, n, k) -> (k, n)>
#bo = affine_map<(m, n, k) -> (m, n)>
func.func @bf16_split(%x: memref<43264x9xbf16>, %g: memref<43264x16xbf16>, %w: memref<9x16xbf16>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<43264x9xbf16>, tensor<43264x16xbf16>], outputs = [tensor<9x16xbf16>], variables = [], checks = [], device = cuda>} {
  linalg.generic {indexing_maps = [#bt, #bg, #bo], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %g : memref<43264x9xbf16>, memref<43264x16xbf16>) outs(%w : memref<9x16xbf16>) {
  ^bb0(%p: bf16, %q: bf16, %acc: bf16):
    %m = arith.mulf %p, %q : bf16
    %s = arith.addf %acc, %m : bf16
    linalg.yield %s : bf16
  }
  return
}

// -----

// CUDA's grid y (M tiles) stops at 65535 blocks: 64 x 224 x 224 rows of
// 16 outputs (a stride-1 convolution as a product) cannot take 16 x 16 or
// 32 x 32 tiles (200704 and 100352 rows of blocks), the cheapest of what
// fits is 64 x 64. An empty output is not split (nothing to add).
// CHECK-LABEL: func.func @tall
// CHECK: memref<16x68xf32, #gpu.address_space<workgroup>>
// CHECK-LABEL: func.func @empty
// CHECK-NOT: gpu.alloc
// CHECK: gpu.launch
// CHECK-NOT: gpu.launch
// CHECK: return
func.func @tall(%a: memref<3211264x9xf32>, %b: memref<9x16xf32>, %c: memref<3211264x16xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<3211264x9xf32>, tensor<9x16xf32>], outputs = [tensor<3211264x16xf32>], variables = [], checks = [], device = cuda>} {
  linalg.matmul ins(%a, %b : memref<3211264x9xf32>, memref<9x16xf32>) outs(%c : memref<3211264x16xf32>)
  return
}
func.func @empty(%a: memref<0x4096xf32>, %b: memref<4096x16xf32>, %c: memref<0x16xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<0x4096xf32>, tensor<4096x16xf32>], outputs = [tensor<0x16xf32>], variables = [], checks = [], device = cuda>} {
  linalg.matmul ins(%a, %b : memref<0x4096xf32>, memref<4096x16xf32>) outs(%c : memref<0x16xf32>)
  return
}
