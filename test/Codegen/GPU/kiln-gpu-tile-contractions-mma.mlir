// RUN: tensor-opt %s --split-input-file --kiln-gpu-tile-contractions=tensor-cores=true | FileCheck %s
// RUN: tensor-opt %s --split-input-file --kiln-gpu-tile-contractions="tensor-cores=true allow-tf32=true" | FileCheck %s --check-prefix=TF32
// RUN: tensor-opt %s --split-input-file --kiln-gpu-tile-contractions="tensor-cores=true large-tiles-from=1" | FileCheck %s --check-prefix=LARGE
// RUN: tensor-opt %s --split-input-file --kiln-gpu-tile-contractions | FileCheck %s --check-prefix=FMA
// RUN: tensor-opt %s --split-input-file --kiln-gpu-tile-contractions="tensor-cores=true emulate=true" | FileCheck %s --check-prefix=EMU
// RUN: tensor-opt %s --split-input-file --kiln-gpu-tile-contractions="tensor-cores=true async-copies=true allow-tf32=true" | FileCheck %s --check-prefix=ASYNC

// An f16 product on the tensor cores: blocks of 16 x 16 threads (8 warps)
// over 64 x 64 tiles, shared tiles 32 deep, the output widened into f32
// accumulators (1 x 4 mma tiles of 4 per lane), two m16n8k16 steps of four
// mma.sync per shared tile, the sums rounded to f16 once when stored. A's
// innermost index is K: its tile is K-contiguous, [m][k], read by
// ldmatrix as it is; B's tile is depth-major, [k][n], read transposed;
// rows padded by 8 halves (16 bytes). Per K step one ldmatrix.x4 for the
// A fragment and one for each pair of B fragments.
// CHECK-LABEL: func.func @f16
// CHECK: gpu.launch {{.*}} workgroup(%[[A:[a-z0-9_]+]] : memref<64x40xf16, #gpu.address_space<workgroup>>, %[[B:[a-z0-9_]+]] : memref<32x72xf16, #gpu.address_space<workgroup>>)
// CHECK-COUNT-16: arith.extf {{.*}} : f16 to f32
// CHECK: scf.for {{.*}} iter_args(
// CHECK-COUNT-8: memref.store {{.*}}, %[[A]]
// CHECK-COUNT-8: memref.store {{.*}}, %[[B]]
// CHECK: gpu.barrier
// CHECK-NOT: arith.shli
// CHECK: nvgpu.ldmatrix %[[A]][{{.*}}] {numTiles = 4 : i32, transpose = false} : memref<64x40xf16, #gpu.address_space<workgroup>> -> vector<4x2xf16>
// CHECK-COUNT-2: nvgpu.ldmatrix %[[B]][{{.*}}] {numTiles = 4 : i32, transpose = true} : memref<32x72xf16, #gpu.address_space<workgroup>> -> vector<4x2xf16>
// CHECK-COUNT-4: nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (vector<2xf16>, vector<2xf16>, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK-COUNT-3: nvgpu.ldmatrix
// CHECK-COUNT-4: nvvm.mma.sync
// CHECK-NOT: nvgpu.ldmatrix
// CHECK: gpu.barrier
// CHECK-COUNT-16: arith.truncf {{.*}} : f32 to f16
// CHECK-NOT: nvvm.mma.sync
// CHECK-NOT: linalg.matmul
// (16 x 16 x 8 mma tiles per warp with 128 x 128 tiles: 64 accumulators.)
// LARGE-LABEL: func.func @f16
// LARGE: workgroup(%{{.*}} : memref<128x40xf16, #gpu.address_space<workgroup>>, %{{.*}} : memref<32x136xf16, #gpu.address_space<workgroup>>
// LARGE-COUNT-64: arith.extf {{.*}} : f16 to f32
// LARGE-COUNT-6: nvgpu.ldmatrix
// LARGE-COUNT-16: nvvm.mma.sync
// LARGE-COUNT-6: nvgpu.ldmatrix
// LARGE-COUNT-16: nvvm.mma.sync
// LARGE-NOT: nvvm.mma.sync
// FMA-LABEL: func.func @f16
// FMA-NOT: nvvm.mma.sync
// (The emulation: host loops, no kernel, no NVVM op.)
// EMU-LABEL: func.func @f16
// EMU-NOT: gpu.launch
// EMU-NOT: nvvm.
// EMU: return
func.func @f16(%a: memref<70x40xf16>, %b: memref<40x33xf16>, %c: memref<70x33xf16>) attributes {kiln.gpu_function} {
  linalg.matmul ins(%a, %b : memref<70x40xf16>, memref<40x33xf16>) outs(%c : memref<70x33xf16>)
  return
}

// -----

// bf16: the same kernel, ldmatrix's registers as i32 for mma.sync.
// LARGE-LABEL: func.func @bf16
// CHECK-LABEL: func.func @bf16
// CHECK: %[[M:.*]] = nvgpu.ldmatrix {{.*}} -> vector<4x2xbf16>
// CHECK: %[[R:.*]] = vector.extract %[[M]][0] : vector<2xbf16> from vector<4x2xbf16>
// CHECK: llvm.bitcast %[[R]] : vector<2xbf16> to i32
// CHECK: nvvm.mma.sync {{.*}}multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (i32, i32, f32)
// CHECK: arith.truncf {{.*}} : f32 to bf16
func.func @bf16(%a: memref<3x20x40xbf16>, %b: memref<3x40x33xbf16>, %c: memref<3x20x33xbf16>) attributes {kiln.gpu_function} {
  linalg.batch_matmul ins(%a, %b : memref<3x20x40xbf16>, memref<3x40x33xbf16>) outs(%c : memref<3x20x33xbf16>)
  return
}

// -----

// Transposed operands: A[k][m] stays depth-major (ldmatrix transposes),
// B[n][k] is K-contiguous.
// CHECK-LABEL: func.func @transposed
// CHECK: gpu.launch {{.*}} workgroup(%[[A:[a-z0-9_]+]] : memref<32x72xf16, #gpu.address_space<workgroup>>, %[[B:[a-z0-9_]+]] : memref<64x40xf16, #gpu.address_space<workgroup>>)
// CHECK: nvgpu.ldmatrix %[[A]][{{.*}}] {numTiles = 4 : i32, transpose = true}
// CHECK: nvgpu.ldmatrix %[[B]][{{.*}}] {numTiles = 4 : i32, transpose = false}
#km = affine_map<(m, n, k) -> (k, m)>
#nk = affine_map<(m, n, k) -> (n, k)>
#mn = affine_map<(m, n, k) -> (m, n)>
func.func @transposed(%a: memref<40x70xf16>, %b: memref<33x40xf16>, %c: memref<70x33xf16>) attributes {kiln.gpu_function} {
  linalg.generic {indexing_maps = [#km, #nk, #mn], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a, %b : memref<40x70xf16>, memref<33x40xf16>) outs(%c : memref<70x33xf16>) {
  ^bb0(%u: f16, %v: f16, %w: f16):
    %0 = arith.mulf %u, %v : f16
    %1 = arith.addf %w, %0 : f16
    linalg.yield %1 : f16
  }
  return
}

// -----

// f32 keeps f32 precision unless TF32 is allowed: then the operands are
// rounded (to nearest, ties away) as they enter shared memory, 16 deep, and
// the products are m16n8k8 on TF32.
// CHECK-LABEL: func.func @f32
// CHECK-NOT: nvvm.mma.sync
// CHECK: return
// (TF32 rounds the operands on their way into shared memory: no cp.async.)
// ASYNC-LABEL: func.func @f32
// ASYNC: workgroup(%{{.*}} : memref<16x65xf32, #gpu.address_space<workgroup>>
// ASYNC-NOT: nvgpu.device_async
// ASYNC: return
// TF32-LABEL: func.func @f32
// TF32: workgroup(%{{.*}} : memref<16x65xf32, #gpu.address_space<workgroup>>
// TF32: %[[ROUNDED:.*]] = arith.addi %{{.*}}, %c4096_i32
// TF32: arith.andi %[[ROUNDED]], %c-8192_i32
// TF32: arith.select
// TF32-COUNT-8: nvvm.mma.sync {{.*}}multiplicandAPtxType = #nvvm.mma_type<tf32>, multiplicandBPtxType = #nvvm.mma_type<tf32>, shape = #nvvm.shape<m = 16, n = 8, k = 8>} : (i32, i32, f32)
// TF32-NOT: arith.truncf
func.func @f32(%a: memref<70x40xf32>, %b: memref<40x33xf32>, %c: memref<70x33xf32>) attributes {kiln.gpu_function} {
  linalg.matmul ins(%a, %b : memref<70x40xf32>, memref<40x33xf32>) outs(%c : memref<70x33xf32>)
  return
}

// -----

// f64 and integers stay on the FMA units.
// TF32-LABEL: func.func @others
// TF32-NOT: nvvm.mma.sync
// TF32: return
func.func @others(%a: memref<7x4xf64>, %b: memref<4x5xf64>, %c: memref<7x5xf64>,
                  %x: memref<7x4xi32>, %y: memref<4x5xi32>, %z: memref<7x5xi32>) attributes {kiln.gpu_function} {
  linalg.matmul ins(%a, %b : memref<7x4xf64>, memref<4x5xf64>) outs(%c : memref<7x5xf64>)
  linalg.matmul ins(%x, %y : memref<7x4xi32>, memref<4x5xi32>) outs(%z : memref<7x5xi32>)
  return
}

// -----

// Entry arguments with rows of whole 16-byte vectors: each thread copies
// vectors of eight halves, stored whole into both tiles (A's K-contiguous,
// B's depth-major: each tile's rows run along its operand's innermost
// index), one per operand and K step (two with 128 x 128 tiles).
// With cp.async: two stages of both tiles, each vector one 16-byte
// cp.async, ldmatrix reading this step's stage.
// ASYNC-LABEL: func.func @vector_copies
// ASYNC: workgroup(%[[A:[a-z0-9_]+]] : memref<2x64x40xbf16, #gpu.address_space<workgroup>>, %[[B:[a-z0-9_]+]] : memref<2x32x72xbf16, #gpu.address_space<workgroup>>)
// ASYNC: nvgpu.device_async_copy %arg0[{{.*}}], %{{.*}}[{{.*}}], 8, %{{[0-9]+}} {bypassL1}
// ASYNC: nvgpu.device_async_copy %arg1[{{.*}}], %{{.*}}[{{.*}}], 8, %{{[0-9]+}} {bypassL1}
// ASYNC: scf.for
// ASYNC: nvgpu.device_async_wait
// ASYNC: gpu.barrier
// ASYNC: %[[CA:.*]] = memref.subview %[[A]]
// ASYNC: nvgpu.ldmatrix %[[CA]]
// CHECK-LABEL: func.func @vector_copies
// CHECK: gpu.launch {{.*}} workgroup(%[[A:[a-z0-9_]+]] : memref<64x40xbf16, #gpu.address_space<workgroup>>, %[[B:[a-z0-9_]+]] : memref<32x72xbf16, #gpu.address_space<workgroup>>)
// CHECK: scf.for
// CHECK: vector.store {{.*}}, %[[A]][{{.*}}] {alignment = 16 : i64} : memref<64x40xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// CHECK: vector.store {{.*}}, %[[B]][{{.*}}] {alignment = 16 : i64} : memref<32x72xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// CHECK-NOT: memref.store {{.*}}, %[[A]]
// CHECK: gpu.barrier
func.func @vector_copies(%a: memref<64x64xbf16>, %b: memref<64x64xbf16>, %c: memref<64x64xbf16>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<64x64xbf16>, tensor<64x64xbf16>], outputs = [tensor<64x64xbf16>], variables = [], checks = [], device = cuda>} {
  linalg.matmul ins(%a, %b : memref<64x64xbf16>, memref<64x64xbf16>) outs(%c : memref<64x64xbf16>)
  return
}
