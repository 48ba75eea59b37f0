// RUN: tensor-opt %s --kiln-gpu-pipeline="chip=sm_90" --mlir-print-ir-after=kiln-gpu-tile-contractions -o /dev/null 2>&1 | FileCheck %s --check-prefix=SM90
// RUN: tensor-opt %s --kiln-gpu-pipeline="chip=sm_80" --mlir-print-ir-after=kiln-gpu-tile-contractions -o /dev/null 2>&1 | FileCheck %s --check-prefix=SM80

// The pipeline sizes products for the chip's multiprocessors
// (gpuMultiprocessors: 132 for sm_90, 108 for sm_80). A dense layer's
// 256 x 128 product over 784: on sm_90, 128 blocks of 16 x 16 outputs are
// one wave; on sm_80 they would be two, and 64 x 64 tiles with K split
// 13 ways (104 blocks, one wave) are cheaper. (Both chips have cp.async:
// two stages of shared tiles.)
// SM90-NOT: gpu.alloc
// SM90: workgroup(%{{[a-z0-9_]+}} : memref<2x16x17xf32, #gpu.address_space<workgroup>>
// SM80: gpu.alloc async [%{{.*}}] () : memref<13x256x128xf32>
// SM80: workgroup(%{{[a-z0-9_]+}} : memref<2x16x68xf32, #gpu.address_space<workgroup>>
func.func @layer(%x: tensor<256x784xf32>, %w: tensor<784x128xf32>) -> tensor<256x128xf32> {
  %y = kiln.matmul %x, %w : tensor<256x784xf32>, tensor<784x128xf32> -> tensor<256x128xf32>
  return %y : tensor<256x128xf32>
}
