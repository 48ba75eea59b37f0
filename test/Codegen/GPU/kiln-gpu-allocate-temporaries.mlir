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
#id = affine_map<(d0) -> (d0)>
func.func @open(%x: memref<?xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<?xf32>], outputs = [], variables = [], checks = [], device = cuda>} {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  %t = memref.alloc(%n) : memref<?xf32>
  linalg.copy ins(%x : memref<?xf32>) outs(%t : memref<?xf32>)
  memref.dealloc %t : memref<?xf32>
  return
}

// -----

// Temporaries inside control flow go to the GPU too, and so does the
// conditional deallocation of a buffer a loop carries (traced through the
// base buffer of its metadata to the allocation). The ownership flags and
// pointer list that the host fills for the deallocation helper are host
// scratch: they stay in host memory.
// CHECK-LABEL: func.func @in_loop
// CHECK: scf.for
// CHECK: gpu.alloc async [%{{.*}}] () : memref<8xf32>
// CHECK: scf.if
// CHECK-NEXT: gpu.wait async
// CHECK-NEXT: gpu.dealloc async
// CHECK: memref.alloc() : memref<1xindex>
// CHECK: memref.alloc() : memref<1xi1>
// CHECK: call @helper
// CHECK: memref.dealloc %{{.*}} : memref<1xindex>
func.func private @helper(memref<?xindex>, memref<?xi1>)
func.func @in_loop(%x: memref<8xf32>, %out: memref<8xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<8xf32>], outputs = [tensor<8xf32>], variables = [], checks = [], device = cuda>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %false = arith.constant false
  %true = arith.constant true
  %r:2 = scf.for %i = %c0 to %c3 step %c1 iter_args(%b = %x, %owned = %false) -> (memref<8xf32>, i1) {
    %t = memref.alloc() : memref<8xf32>
    linalg.copy ins(%b : memref<8xf32>) outs(%t : memref<8xf32>)
    %base, %offset, %size, %stride = memref.extract_strided_metadata %b : memref<8xf32> -> memref<f32>, index, index, index
    scf.if %owned {
      memref.dealloc %base : memref<f32>
    }
    scf.yield %t, %true : memref<8xf32>, i1
  }
  linalg.copy ins(%r#0 : memref<8xf32>) outs(%out : memref<8xf32>)
  %pointers = memref.alloc() : memref<1xindex>
  %flags = memref.alloc() : memref<1xi1>
  %p = memref.extract_aligned_pointer_as_index %r#0 : memref<8xf32> -> index
  memref.store %p, %pointers[%c0] : memref<1xindex>
  memref.store %r#1, %flags[%c0] : memref<1xi1>
  %pc = memref.cast %pointers : memref<1xindex> to memref<?xindex>
  %fc = memref.cast %flags : memref<1xi1> to memref<?xi1>
  call @helper(%pc, %fc) : (memref<?xindex>, memref<?xi1>) -> ()
  memref.dealloc %pointers : memref<1xindex>
  memref.dealloc %flags : memref<1xi1>
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
