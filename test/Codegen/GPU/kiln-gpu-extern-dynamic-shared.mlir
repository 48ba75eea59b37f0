// RUN: tensor-opt %s --pass-pipeline="builtin.module(gpu.module(kiln-gpu-extern-dynamic-shared))" | FileCheck %s

// The dynamic shared memory that convert-gpu-to-nvvm declares (an internal
// zero-length array) becomes external and 1024-byte aligned; other shared
// globals (an mbarrier, a static tile) and globals elsewhere stay as they
// are.
// CHECK: llvm.mlir.global external @__dynamic_shmem__0() {addr_space = 3 : i32, alignment = 1024 : i64} : !llvm.array<0 x i8>
// CHECK: llvm.mlir.global private @__mbarrier() {addr_space = 3 : i32, alignment = 8 : i64} : !llvm.array<1 x i64>
// CHECK: llvm.mlir.global internal @tile() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<64 x f32>
// CHECK: llvm.mlir.global internal constant @empty() {addr_space = 1 : i32} : !llvm.array<0 x i8>
gpu.module @kernels {
  llvm.mlir.global internal @__dynamic_shmem__0() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<0 x i8>
  llvm.mlir.global private @__mbarrier() {addr_space = 3 : i32, alignment = 8 : i64} : !llvm.array<1 x i64>
  llvm.mlir.global internal @tile() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<64 x f32>
  llvm.mlir.global internal constant @empty() {addr_space = 1 : i32} : !llvm.array<0 x i8>
}
