// RUN: tensor-opt %s --split-input-file --kiln-gpu-sink-into-kernels | FileCheck %s
// RUN: tensor-opt %s --split-input-file --kiln-gpu-sink-into-kernels --gpu-kernel-outlining --symbol-dce | FileCheck %s --check-prefix=OUTLINED

// A constant buffer and index arithmetic used by a kernel are cloned into
// it; the host's copies, now unused, are erased. A buffer argument stays a
// kernel argument.
// CHECK-LABEL: func.func @scale
// CHECK-NOT: memref.get_global
// CHECK: gpu.launch
// CHECK-DAG: %[[W:.*]] = memref.get_global @weights : memref<8xf32>
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK: arith.cmpi ult, %{{.*}}, %[[C8]] : index
// CHECK: memref.load %[[W]]
// CHECK: memref.load %arg0
// CHECK: gpu.terminator

// After outlining, the global is in the kernel's module and gone from the
// host's.
// OUTLINED: module attributes {gpu.container_module}
// OUTLINED-NOT: memref.global
// OUTLINED: func.func @scale
// OUTLINED: gpu.module @scale_kernel
// OUTLINED: gpu.func @scale_kernel(%{{.*}}: memref<8xf32>, %{{.*}}: memref<8xf32>) kernel
// OUTLINED: gpu.return
// OUTLINED: memref.global "private" constant @weights : memref<8xf32> = dense<2.000000e+00>
memref.global "private" constant @weights : memref<8xf32> = dense<2.0>
func.func @scale(%x: memref<8xf32>, %out: memref<8xf32>) {
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %w = memref.get_global @weights : memref<8xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c8, %sy = %c1, %sz = %c1) {
    %in = arith.cmpi ult, %tx, %c8 : index
    scf.if %in {
      %a = memref.load %w[%tx] : memref<8xf32>
      %b = memref.load %x[%tx] : memref<8xf32>
      %p = arith.mulf %a, %b : f32
      memref.store %p, %out[%tx] : memref<8xf32>
    }
    gpu.terminator
  }
  return
}

// -----

// A global the host also uses keeps its host copy.
// CHECK-LABEL: func.func @both
// CHECK: %[[HOST:.*]] = memref.get_global @table
// CHECK: gpu.launch
// CHECK: memref.get_global @table
// CHECK: gpu.terminator
// CHECK: return %[[HOST]]
memref.global "private" constant @table : memref<4xi32> = dense<[1, 2, 3, 4]>
func.func @both(%out: memref<4xi32>) -> memref<4xi32> {
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %t = memref.get_global @table : memref<4xi32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c4, %sy = %c1, %sz = %c1) {
    %v = memref.load %t[%tx] : memref<4xi32>
    memref.store %v, %out[%tx] : memref<4xi32>
    gpu.terminator
  }
  return %t : memref<4xi32>
}
