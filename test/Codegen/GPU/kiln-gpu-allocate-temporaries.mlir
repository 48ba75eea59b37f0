// RUN: tensor-opt %s --split-input-file --kiln-gpu-allocate-temporaries | FileCheck %s

// A softmax's row maxima: a temporary in GPU memory, allocated and freed
// each on a stream that is waited for; the ops between are unchanged.
// CHECK-LABEL: func.func @temporary
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK: %[[MAX:.*]], %[[T1:.*]] = gpu.alloc async [%[[T0]]] () : memref<8xf32>
// CHECK: gpu.wait [%[[T1]]]
// CHECK-NOT: memref.alloc
// CHECK: linalg.generic {{.*}} outs(%[[MAX]] : memref<8xf32>)
// CHECK: linalg.copy ins(%[[MAX]] : memref<8xf32>)
// CHECK: %[[T2:.*]] = gpu.wait async
// CHECK: %[[T3:.*]] = gpu.dealloc async [%[[T2]]] %[[MAX]] : memref<8xf32>
// CHECK: gpu.wait [%[[T3]]]
// CHECK-NOT: memref.dealloc
#in = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @temporary(%x: memref<8x10xf32>, %out: memref<8xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<8x10xf32>], outputs = [tensor<8xf32>], variables = [], checks = [], device = cuda>} {
  %max = memref.alloc() : memref<8xf32>
  linalg.generic {indexing_maps = [#in, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<8x10xf32>) outs(%max : memref<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %o : f32
    linalg.yield %m : f32
  }
  linalg.copy ins(%max : memref<8xf32>) outs(%out : memref<8xf32>)
  memref.dealloc %max : memref<8xf32>
  return
}

// -----

// An open extent: the size goes with the allocation.
// CHECK-LABEL: func.func @open
// CHECK: gpu.alloc async [%{{.*}}] (%{{.*}}) : memref<?xf32>
func.func @open(%x: memref<?xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<?xf32>], outputs = [], variables = [], checks = [], device = cuda>} {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  %t = memref.alloc(%n) : memref<?xf32>
  memref.dealloc %t : memref<?xf32>
  return
}

// -----

// An entry compiled for the CPU keeps its host temporaries.
// CHECK-LABEL: func.func @cpu
// CHECK: memref.alloc
// CHECK: memref.dealloc
// CHECK-NOT: gpu.
func.func @cpu(%x: memref<8xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<8xf32>], outputs = [], variables = [], checks = [], device = cpu>} {
  %t = memref.alloc() : memref<8xf32>
  memref.dealloc %t : memref<8xf32>
  return
}
