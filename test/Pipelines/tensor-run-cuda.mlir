// tensor-run --target cuda: the module compiled for the GPU and JIT-run,
// its inputs copied to cuda:0, the kernels loaded by the module's
// constructor through the runtime, launched, the output copied back. Here
// against the test double of the CUDA driver, which checks and records the
// calls but runs no kernel (so only the output's shape is checked).
// RUN: KILN_CACHE_DIR=off KILN_CUDA_DRIVER=%fake_cuda FAKE_CUDA_TRACE=1 tensor-run --target cuda %s --entry affine --input %S/Inputs/x16x64.npy --input %S/Inputs/b64.npy --print 2>&1 | FileCheck %s
// Without a driver: a clear error, no crash.
// RUN: not env KILN_CACHE_DIR=off KILN_CUDA_DRIVER=/nonexistent/libcuda.so.1 tensor-run --target cuda %s --entry affine --input %S/Inputs/x16x64.npy --input %S/Inputs/b64.npy 2>&1 | FileCheck %s --check-prefix=NODRIVER

// --device names the same thing, and any GPU: on the second of two, the
// kernels are loaded and launched in its context; a GPU that is not there
// is an error that says how many there are.
// RUN: KILN_CACHE_DIR=off KILN_CUDA_DRIVER=%fake_cuda FAKE_CUDA_TRACE=1 tensor-run --device cuda:0 %s --entry affine --input %S/Inputs/x16x64.npy --input %S/Inputs/b64.npy --print 2>&1 | FileCheck %s
// RUN: KILN_CACHE_DIR=off KILN_CUDA_DRIVER=%fake_cuda FAKE_CUDA_TRACE=1 tensor-run --device cuda:1 %s --entry affine --input %S/Inputs/x16x64.npy --input %S/Inputs/b64.npy --print 2>&1 | FileCheck %s --check-prefix=SECOND
// RUN: not env KILN_CACHE_DIR=off KILN_CUDA_DRIVER=%fake_cuda tensor-run --device cuda:2 %s --entry affine 2>&1 | FileCheck %s --check-prefix=ORDINAL
// RUN: not tensor-run --device cpu:1 %s --entry affine 2>&1 | FileCheck %s --check-prefix=CPU1
// RUN: not tensor-run --device tpu %s --entry affine 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not tensor-run --device cuda --target cpu %s --entry affine 2>&1 | FileCheck %s --check-prefix=CONTRADICTS
// SECOND: fake-cuda: launch affine_kernel 1x1x1 256x1x1 0 on device 1
// SECOND: output 0: {{\[\[}}
// ORDINAL: device cuda:2 is not available: there are 2 cuda devices
// CPU1: tensor-run: --device cpu:1: there is one CPU device, cpu:0
// UNKNOWN: tensor-run: --device tpu: unknown device (cpu, cuda or cuda:N)
// CONTRADICTS: tensor-run: --device cuda contradicts --target

// CHECK: fake-cuda: load .target sm_90
// (16 x 64 elements, four per thread: one block of 256 threads.)
// CHECK: fake-cuda: launch affine_kernel 1x1x1 256x1x1 0 on device 0
// CHECK: output 0: {{\[\[}}
// NODRIVER: tensor-run: device cuda:0 is not available: no CUDA driver: cannot load /nonexistent/libcuda.so.1
func.func @affine(%x: tensor<16x64xf32>, %b: tensor<64xf32>) -> tensor<16x64xf32> {
  %0 = kiln.add %x, %b : tensor<16x64xf32>, tensor<64xf32> -> tensor<16x64xf32>
  %1 = kiln.relu %0 : tensor<16x64xf32>
  return %1 : tensor<16x64xf32>
}

// A softmax: one kernel (kiln-gpu-row-kernels: 2 blocks of 8 warps, a warp
// per row) and two temporaries in GPU memory.
// RUN: KILN_CACHE_DIR=off KILN_CUDA_DRIVER=%fake_cuda FAKE_CUDA_TRACE=1 tensor-run --target cuda %s --entry softmax --input %S/Inputs/x16x64.npy --print 2>&1 | FileCheck %s --check-prefix=SOFTMAX
// SOFTMAX: fake-cuda: launch softmax_kernel 2x1x1 256x1x1 0 on device 0
// SOFTMAX-NOT: launch
// SOFTMAX: output 0: {{\[\[}}
func.func @softmax(%x: tensor<16x64xf32>) -> tensor<16x64xf32> {
  %0 = kiln.softmax %x {axis = 1 : i64} : tensor<16x64xf32> -> tensor<16x64xf32>
  return %0 : tensor<16x64xf32>
}

// Hopper (--chip sm_90a): the f16 product runs as the TMA and wgmma kernel:
// one warpgroup per 128 x 128 tile, 65 KiB of dynamic shared memory (the
// runtime raises the kernel's limit first), the driver encoding the two TMA
// descriptors before it.
// RUN: KILN_CACHE_DIR=off KILN_CUDA_DRIVER=%fake_cuda FAKE_CUDA_TRACE=1 tensor-run --device cuda --chip sm_90a %s --entry hopper --print 2>&1 | FileCheck %s --check-prefix=HOPPER
// With --merge-launches=false, one launch per kernel (the three before the
// product apart):
// RUN: KILN_CACHE_DIR=off KILN_CUDA_DRIVER=%fake_cuda FAKE_CUDA_TRACE=1 tensor-run --device cuda --chip sm_90a --merge-launches=false %s --entry hopper 2>&1 | FileCheck %s --check-prefix=UNMERGED
// UNMERGED: fake-cuda: launch hopper_kernel 50x1x1 256x1x1
// UNMERGED-NEXT: fake-cuda: launch hopper_kernel_0 32x1x1 256x1x1
// UNMERGED-NEXT: fake-cuda: launch hopper_kernel_1 13x1x1 256x1x1
// UNMERGED-NEXT: fake-cuda: launch hopper_kernel_2 1x2x1 128x1x1 66560
// HOPPER: fake-cuda: load .target sm_90a
// HOPPER: fake-cuda: module uses wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16
// (The kernels that make the two operands and the one that zeroes the
// product, eight halves per thread, are independent: one launch of 50 + 32
// + 13 blocks before it.)
// HOPPER: fake-cuda: launch hopper_kernel 95x1x1 256x1x1 0 on device 0
// HOPPER: fake-cuda: launch hopper_kernel_0 1x2x1 128x1x1 66560 on device 0
// HOPPER: output 0:
func.func @hopper() -> tensor<200x128xf32> {
  %i = kiln.iota {dimension = 1 : i64} : tensor<200x64xf32>
  %j = kiln.iota {dimension = 0 : i64} : tensor<64x128xf32>
  %a = kiln.cast %i : tensor<200x64xf32> -> tensor<200x64xf16>
  %b = kiln.cast %j : tensor<64x128xf32> -> tensor<64x128xf16>
  %c = kiln.matmul %a, %b : tensor<200x64xf16>, tensor<64x128xf16> -> tensor<200x128xf16>
  %d = kiln.cast %c : tensor<200x128xf16> -> tensor<200x128xf32>
  return %d : tensor<200x128xf32>
}
