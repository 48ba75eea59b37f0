// RUN: tensor-opt %s --split-input-file --kiln-gpu-host-access | FileCheck %s

// A branch on a predicate in GPU memory: a kernel of one thread copies it
// into a GPU scalar, which is copied into a host scalar and read there.
// Both scalars are made once at the function's start (a loop condition is
// read every iteration) and the GPU one is freed before the return. Each
// GPU operation completes before the host goes on.
// CHECK-LABEL: func.func @branch
// CHECK-NEXT: %[[HOST:.*]] = memref.alloca() : memref<i1>
// CHECK-NEXT: %[[T0:.*]] = gpu.wait async
// CHECK-NEXT: %[[GPU:.*]], %[[T1:.*]] = gpu.alloc async [%[[T0]]] () : memref<i1>
// CHECK-NEXT: gpu.wait [%[[T1]]]
// CHECK: gpu.launch
// CHECK-NEXT: %[[P:.*]] = memref.load %arg0[] : memref<i1>
// CHECK-NEXT: memref.store %[[P]], %[[GPU]][] : memref<i1>
// CHECK-NEXT: gpu.terminator
// CHECK: %[[T2:.*]] = gpu.wait async
// CHECK: %[[T3:.*]] = gpu.memcpy async [%[[T2]]] %[[HOST]], %[[GPU]] : memref<i1>, memref<i1>
// CHECK: gpu.wait [%[[T3]]]
// CHECK: %[[V:.*]] = memref.load %[[HOST]][] : memref<i1>
// CHECK: scf.if %[[V]]
// CHECK: gpu.dealloc async [%{{.*}}] %[[GPU]] : memref<i1>
// CHECK-NEXT: gpu.wait
// CHECK-NEXT: return
func.func @branch(%p: memref<i1>, %x: memref<8xf32>, %out: memref<8xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<i1>, tensor<8xf32>], outputs = [tensor<8xf32>], variables = [], checks = [], device = cuda>} {
  %v = memref.load %p[] : memref<i1>
  scf.if %v {
    linalg.copy ins(%x : memref<8xf32>) outs(%out : memref<8xf32>)
  }
  return
}

// -----

// A loop bound read from an element of a GPU buffer (the kernel gets the
// index), and a loop counter stored into a GPU temporary: a kernel of one
// thread with the value as its argument.
// CHECK-LABEL: func.func @loop
// CHECK: gpu.launch
// CHECK-NEXT: memref.load %arg0[%{{.*}}] : memref<4xi64>
// CHECK: gpu.memcpy
// CHECK: %[[N:.*]] = memref.load %{{.*}}[] : memref<i64>
// CHECK: %[[UB:.*]] = arith.index_cast %[[N]]
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %[[UB]]
// CHECK: %[[C:.*]] = arith.index_cast %[[I]] : index to i64
// CHECK: gpu.launch
// CHECK-NEXT: memref.store %[[C]], %{{.*}}[] : memref<i64>
// CHECK-NEXT: gpu.terminator
func.func @loop(%n: memref<4xi64>, %out: memref<i64>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<4xi64>], outputs = [tensor<i64>], variables = [], checks = [], device = cuda>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %bound = memref.load %n[%c2] : memref<4xi64>
  %ub = arith.index_cast %bound : i64 to index
  scf.for %i = %c0 to %ub step %c1 {
    %t = memref.alloc() : memref<i64>
    %count = arith.index_cast %i : index to i64
    memref.store %count, %t[] : memref<i64>
    linalg.copy ins(%t : memref<i64>) outs(%out : memref<i64>)
    memref.dealloc %t : memref<i64>
  }
  return
}

// -----

// Host scratch (the deallocation's flags) is read and written in place.
// CHECK-LABEL: func.func @scratch
// CHECK-NOT: gpu.
// CHECK: memref.store
// CHECK: memref.load
// CHECK-NOT: gpu.
func.func private @helper(memref<?xi1>)
func.func @scratch(%x: memref<8xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<8xf32>], outputs = [], variables = [], checks = [], device = cuda>} {
  %c0 = arith.constant 0 : index
  %true = arith.constant true
  %flags = memref.alloc() : memref<1xi1>
  memref.store %true, %flags[%c0] : memref<1xi1>
  %cast = memref.cast %flags : memref<1xi1> to memref<?xi1>
  call @helper(%cast) : (memref<?xi1>) -> ()
  %f = memref.load %flags[%c0] : memref<1xi1>
  memref.dealloc %flags : memref<1xi1>
  return
}

// -----

// A load in a linalg op's body (a gather) is kernel code: left alone.
// CHECK-LABEL: func.func @gather
// CHECK-NOT: gpu.
// CHECK: linalg.generic
// CHECK: memref.load %arg0
// CHECK-NOT: gpu.
#id = affine_map<(d0) -> (d0)>
func.func @gather(%table: memref<10xf32>, %idx: memref<4xi32>, %out: memref<4xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<10xf32>, tensor<4xi32>], outputs = [tensor<4xf32>], variables = [], checks = [], device = cuda>} {
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%idx : memref<4xi32>) outs(%out : memref<4xf32>) {
  ^bb0(%j: i32, %o: f32):
    %i = arith.index_cast %j : i32 to index
    %v = memref.load %table[%i] : memref<10xf32>
    linalg.yield %v : f32
  }
  return
}

// -----

// Two reads of the same element type share the staging scalars.
// CHECK-LABEL: func.func @two_reads
// CHECK-COUNT-1: memref.alloca() : memref<f32>
// CHECK-COUNT-1: gpu.alloc
// CHECK-NOT: gpu.alloc
// CHECK-NOT: memref.alloca
// CHECK: arith.cmpf
func.func @two_reads(%x: memref<2xf32>) -> i1 attributes {kiln.gpu_function} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %a = memref.load %x[%c0] : memref<2xf32>
  %b = memref.load %x[%c1] : memref<2xf32>
  %lt = arith.cmpf olt, %a, %b : f32
  return %lt : i1
}
