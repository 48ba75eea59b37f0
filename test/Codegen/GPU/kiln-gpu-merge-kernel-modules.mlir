// RUN: tensor-opt %s --kiln-gpu-merge-kernel-modules | FileCheck %s
// RUN: tensor-opt %s --kiln-gpu-merge-kernel-modules=module-name=k | FileCheck %s --check-prefix=NAMED

// Two outlined kernels (both named after their function, in modules of
// their own) and a constant both use: one module, each kernel named after
// its old module, the launches renamed, the constant kept once; shared
// buffers aligned to 16 bytes (for vector loads from them).
// CHECK-LABEL: func.func @f
// CHECK: gpu.launch_func @kiln_kernels::@f_kernel blocks
// CHECK: gpu.launch_func @kiln_kernels::@f_kernel_0 blocks
// CHECK: gpu.module @kiln_kernels
// CHECK-DAG: gpu.func @f_kernel(%{{.*}}: memref<4xf32>) kernel
// CHECK-DAG: gpu.func @f_kernel_0(%{{.*}}: memref<4xf32>) workgroup(%{{.*}} : memref<8xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}) kernel
// CHECK-DAG: memref.global "private" constant @table : memref<4xf32>
// CHECK-NOT: gpu.module
// CHECK-NOT: memref.global
// NAMED: gpu.launch_func @k::@f_kernel blocks
// NAMED: gpu.module @k
module attributes {gpu.container_module} {
  func.func @f(%x: memref<4xf32>) {
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    gpu.launch_func @f_kernel::@f_kernel blocks in (%c1, %c1, %c1) threads in (%c4, %c1, %c1) args(%x : memref<4xf32>)
    gpu.launch_func @f_kernel_0::@f_kernel blocks in (%c1, %c1, %c1) threads in (%c4, %c1, %c1) args(%x : memref<4xf32>)
    return
  }
  gpu.module @f_kernel {
    gpu.func @f_kernel(%x: memref<4xf32>) kernel {
      %t = gpu.thread_id x
      %g = memref.get_global @table : memref<4xf32>
      %v = memref.load %g[%t] : memref<4xf32>
      memref.store %v, %x[%t] : memref<4xf32>
      gpu.return
    }
    memref.global "private" constant @table : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>
  }
  gpu.module @f_kernel_0 {
    gpu.func @f_kernel(%x: memref<4xf32>) workgroup(%s : memref<8xf32, #gpu.address_space<workgroup>>) kernel {
      %t = gpu.thread_id x
      %g = memref.get_global @table : memref<4xf32>
      %v = memref.load %g[%t] : memref<4xf32>
      %w = arith.addf %v, %v : f32
      memref.store %w, %x[%t] : memref<4xf32>
      gpu.return
    }
    memref.global "private" constant @table : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>
  }
}
