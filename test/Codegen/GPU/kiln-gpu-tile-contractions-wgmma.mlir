// RUN: tensor-opt %s --split-input-file --kiln-gpu-tile-contractions="tensor-cores=true wgmma=true" | FileCheck %s
// RUN: tensor-opt %s --split-input-file --kiln-gpu-tile-contractions="tensor-cores=true wgmma=true emulate=true" | FileCheck %s --check-prefix=EMU

// sm_90a: TMA descriptors made on the host (A in boxes of 128 x 64, B in
// boxes of 64 x 64, 128-byte swizzle, zeros outside), a grid of 128 x 128
// tiles (3 x 2 here) of one warpgroup with 65 KiB of dynamic shared memory;
// two stages of tiles, each with an mbarrier that thread 0 initializes.
// Thread 0 issues K step 0's three TMA copies (32 KiB expected) into stage
// 0 before the loop; step i issues step i + 1's into the other stage (none
// after the last step), waits on its own stage's mbarrier with parity
// (i / 2) % 2, multiplies that stage's tiles with wgmma (B N-major), and
// waits for the wgmma and every warp before a later copy reuses them; the
// f32 accumulators go through shared memory and are added to the output
// inside the result.
// CHECK-LABEL: func.func @f16
// CHECK: %[[TA:.*]] = nvgpu.tma.create.descriptor %{{.*}} box[%c128, %c64] : memref<*xf16> -> <tensor = memref<128x64xf16, 3>, swizzle = swizzle_128b, l2promo = none, oob = zero, interleave = none>
// CHECK: %[[TB:.*]] = nvgpu.tma.create.descriptor %{{.*}} box[%c64{{.*}}, %c64{{.*}}] : memref<*xf16> -> <tensor = memref<64x64xf16, 3>
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c3, %{{.*}} = %c2, %{{.*}} = %c1) threads({{.*}}) in (%{{.*}} = %c128{{.*}}, %{{.*}} = %c1, %{{.*}} = %c1) dynamic_shared_memory_size %c66560_i32
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %{{.*}}, %c0
// CHECK: %[[BAR:.*]] = nvgpu.mbarrier.create -> <memorySpace = #gpu.address_space<workgroup>, num_barriers = 2>
// CHECK: nvgpu.mbarrier.init %[[BAR]][%c0{{.*}}], %c1, predicate = %[[FIRST]]
// CHECK: nvgpu.mbarrier.init %[[BAR]][%c1{{.*}}], %c1, predicate = %[[FIRST]]
// CHECK: gpu.barrier
// CHECK: gpu.dynamic_shared_memory
// CHECK: memref.extract_aligned_pointer_as_index
// CHECK: nvgpu.mbarrier.arrive.expect_tx %[[BAR]][%c0], %c32768{{.*}}, predicate = %[[FIRST]]
// CHECK: nvgpu.tma.async.load %[[TA]][%c0, %{{.*}}], %[[BAR]][%c0] to %{{.*}}, predicate = %[[FIRST]]
// CHECK-COUNT-2: nvgpu.tma.async.load %[[TB]][%{{.*}}, %c0], %[[BAR]][%c0]
// CHECK: scf.for %[[K:.*]] = %c0 to %c1000 step %c64{{.*}} iter_args(%[[ACC:.*]] = %{{.*}})
// CHECK: %[[STEP:.*]] = arith.divui %[[K]], %c64{{.*}}
// CHECK: %[[STAGE:.*]] = arith.remui %[[STEP]], %c2{{.*}}
// CHECK: %[[OTHER:.*]] = arith.subi %c1{{.*}}, %[[STAGE]]
// CHECK: %[[NEXT:.*]] = arith.addi %[[K]], %c64{{.*}}
// CHECK: %[[MORE:.*]] = arith.cmpi ult, %[[NEXT]], %c1000{{.*}}
// CHECK: scf.if %[[MORE]] {
// CHECK: arith.muli %[[OTHER]], %c32768
// CHECK: nvgpu.mbarrier.arrive.expect_tx %[[BAR]][%[[OTHER]]], %c32768{{.*}}, predicate = %[[FIRST]]
// CHECK: nvgpu.tma.async.load %[[TA]][%[[NEXT]], %{{.*}}], %[[BAR]][%[[OTHER]]] to %{{.*}}, predicate = %[[FIRST]]
// CHECK-COUNT-2: nvgpu.tma.async.load %[[TB]][%{{.*}}, %[[NEXT]]], %[[BAR]][%[[OTHER]]]
// CHECK: }
// CHECK: %[[USE:.*]] = arith.divui %[[STEP]], %c2
// CHECK: %[[PARITY:.*]] = arith.remui %[[USE]], %c2
// CHECK: %[[BIT:.*]] = arith.cmpi ne, %[[PARITY]], %c0
// CHECK: nvgpu.mbarrier.try_wait.parity %[[BAR]][%[[STAGE]]], %[[BIT]]
// CHECK: arith.muli %[[STAGE]], %c32768
// CHECK: nvgpu.warpgroup.mma %{{.*}}, %{{.*}}, %[[ACC]] {transposeB}
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: gpu.barrier
// CHECK-NEXT: scf.yield
// CHECK: nvgpu.warpgroup.mma.store {{.*}} to memref<128x128xf32, #gpu.address_space<workgroup>>
// CHECK: gpu.barrier
// CHECK: arith.cmpi ult, %{{.*}}, %c304
// CHECK: scf.for
// CHECK: arith.cmpi ult, %{{.*}}, %c200
// CHECK: scf.if
// CHECK: arith.truncf {{.*}} : f32 to f16
// CHECK-NOT: linalg.matmul
// The emulation has no TMA or wgmma: the mma.sync kernel's host loops.
// EMU-LABEL: func.func @f16
// EMU-NOT: nvgpu.
// EMU-NOT: gpu.launch
// EMU: return
func.func @f16(%a: memref<200x1000xf16>, %b: memref<1000x304xf16>, %c: memref<200x304xf16>) attributes {kiln.gpu_function} {
  linalg.matmul ins(%a, %b : memref<200x1000xf16>, memref<1000x304xf16>) outs(%c : memref<200x304xf16>)
  return
}

// -----

// What does not fit takes the mma.sync kernel: K or N not a multiple of 8
// (TMA rows of 16-byte multiples), a transposed operand, a batch.
// CHECK-LABEL: func.func @others
// CHECK-NOT: nvgpu.{{(tma|mbarrier|warpgroup)}}
// CHECK-COUNT-3: nvvm.mma.sync
// CHECK-NOT: nvgpu.{{(tma|mbarrier|warpgroup)}}
// CHECK: return
#mk = affine_map<(m, n, k) -> (m, k)>
#nk = affine_map<(m, n, k) -> (n, k)>
#mn = affine_map<(m, n, k) -> (m, n)>
func.func @others(%a: memref<20x30xf16>, %b: memref<30x32xf16>, %c: memref<20x32xf16>,
                  %bt: memref<64x32xbf16>, %x: memref<20x32xbf16>, %y: memref<20x64xbf16>,
                  %p: memref<2x16x32xf16>, %q: memref<2x32x16xf16>, %r: memref<2x16x16xf16>) attributes {kiln.gpu_function} {
  linalg.matmul ins(%a, %b : memref<20x30xf16>, memref<30x32xf16>) outs(%c : memref<20x32xf16>)
  linalg.generic {indexing_maps = [#mk, #nk, #mn], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %bt : memref<20x32xbf16>, memref<64x32xbf16>) outs(%y : memref<20x64xbf16>) {
  ^bb0(%u: bf16, %v: bf16, %w: bf16):
    %0 = arith.mulf %u, %v : bf16
    %1 = arith.addf %w, %0 : bf16
    linalg.yield %1 : bf16
  }
  linalg.batch_matmul ins(%p, %q : memref<2x16x32xf16>, memref<2x32x16xf16>) outs(%r : memref<2x16x16xf16>)
  return
}
