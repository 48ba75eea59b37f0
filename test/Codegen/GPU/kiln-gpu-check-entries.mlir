// RUN: tensor-opt %s --split-input-file --kiln-gpu-check-entries -verify-diagnostics

// What the first GPU code generator compiles: linalg ops with parallel
// loops on the entry's buffers and views of them. No error.
#id = affine_map<(d0) -> (d0)>
func.func @relu(%x: memref<1000xf32>, %out: memref<1000xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<1000xf32>], outputs = [tensor<1000xf32>], variables = [], checks = [], device = cuda>} {
  %zero = arith.constant 0.0 : f32
  %view = memref.subview %out[0] [1000] [1] : memref<1000xf32> to memref<1000xf32, strided<[1]>>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : memref<1000xf32>) outs(%view : memref<1000xf32, strided<[1]>>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  }
  return
}

// -----

// A temporary left in host memory (kiln-gpu-allocate-temporaries, which
// runs before this pass in the pipeline, moves them to the GPU).
#in = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @temporary(%x: memref<8x10xf32>, %out: memref<8xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<8x10xf32>], outputs = [tensor<8xf32>], variables = [], checks = [], device = cuda>} {
  // expected-error @+1 {{'memref.alloc' in 'temporary', compiled for the GPU, needs a temporary buffer in host memory (not one kiln-gpu-allocate-temporaries moves to the GPU)}}
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

// A constant buffer (kiln-gpu-sink-into-kernels moves it into the kernels)
// and a sum to a scalar (a kernel of one thread, from
// kiln-gpu-schedule-linalg): no error.
memref.global "private" constant @weights : memref<1000xf32> = dense<0.5>
#all = affine_map<(d0) -> (d0)>
#none = affine_map<(d0) -> ()>
func.func @total(%x: memref<1000xf32>, %out: memref<f32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<1000xf32>], outputs = [tensor<f32>], variables = [], checks = [], device = cuda>} {
  %w = memref.get_global @weights : memref<1000xf32>
  linalg.generic {indexing_maps = [#all, #all, #none], iterator_types = ["reduction"]}
      ins(%x, %w : memref<1000xf32>, memref<1000xf32>) outs(%out : memref<f32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A loop around the kernels is fine; a host load of GPU memory (which
// kiln-gpu-host-access, earlier in the pipeline, turns into a kernel and a
// copy) and a call that passes GPU memory to a host function are not.
func.func private @host_function(memref<1000xf32>)
func.func @loop(%x: memref<1000xf32>, %out: memref<1000xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<1000xf32>], outputs = [tensor<1000xf32>], variables = [], checks = [], device = cuda>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %c0 to %c4 step %c1 {
    linalg.copy ins(%x : memref<1000xf32>) outs(%out : memref<1000xf32>)
  }
  // expected-error @+1 {{'memref.load' in 'loop', compiled for the GPU, would run on the host and touch GPU memory}}
  %v = memref.load %x[%c0] : memref<1000xf32>
  // expected-error @+1 {{'func.call' in 'loop', compiled for the GPU, would run on the host and touch GPU memory}}
  call @host_function(%out) : (memref<1000xf32>) -> ()
  return
}

// -----

// Host scratch (flags the host writes and reads, a host copy of a GPU
// scalar) and a branch on it: no error.
func.func private @helper(memref<?xi1>)
func.func @scratch(%x: memref<8xf32>, %out: memref<8xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<8xf32>], outputs = [tensor<8xf32>], variables = [], checks = [], device = cuda>} {
  %c0 = arith.constant 0 : index
  %true = arith.constant true
  %flags = memref.alloc() : memref<1xi1>
  memref.store %true, %flags[%c0] : memref<1xi1>
  %cast = memref.cast %flags : memref<1xi1> to memref<?xi1>
  call @helper(%cast) : (memref<?xi1>) -> ()
  %f = memref.load %flags[%c0] : memref<1xi1>
  scf.if %f {
    linalg.copy ins(%x : memref<8xf32>) outs(%out : memref<8xf32>)
  }
  memref.dealloc %flags : memref<1xi1>
  return
}

// -----

// The same ops in an entry compiled for the CPU: not this pass's business.
func.func @cpu(%x: memref<1000xf32>, %out: memref<f32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<1000xf32>], outputs = [tensor<f32>], variables = [], checks = [], device = cpu>} {
  %t = memref.alloc() : memref<1000xf32>
  memref.dealloc %t : memref<1000xf32>
  return
}


// -----

// An open extent read on the host (a shape function, the size of a
// temporary): the descriptor is host data, not GPU memory. No error.
func.func @extent(%x: memref<?xf32>, %out: memref<index>) attributes {kiln.gpu_function} {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  %t = memref.alloca() : memref<index>
  memref.store %n, %t[] : memref<index>
  return
}

// -----

// kiln.print reads its tensor on the host: refused for the GPU, by name.
func.func private @kiln_print_tensor_f32(i64, i64, memref<*xf32>)
func.func @printed(%x: memref<4xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<4xf32>], outputs = [], variables = [], checks = [], device = cuda>} {
  %c2 = arith.constant 2 : i64
  %c3 = arith.constant 3 : i64
  %u = memref.cast %x : memref<4xf32> to memref<*xf32>
  // expected-error @+1 {{'func.call' in 'printed', compiled for the GPU, is a kiln.print of a tensor, which the GPU target does not compile yet}}
  call @kiln_print_tensor_f32(%c2, %c3, %u) : (i64, i64, memref<*xf32>) -> ()
  return
}

// -----

// kiln.sort is the runtime's row sort on host memory: refused for the GPU.
func.func private @kiln_sort_f32(i64, memref<*xf32>, memref<*xi32>)
func.func @sorted(%x: memref<4xf32>, %i: memref<4xi32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<4xf32>], outputs = [tensor<4xi32>], variables = [], checks = [], device = cuda>} {
  %c0 = arith.constant 0 : i64
  %u = memref.cast %x : memref<4xf32> to memref<*xf32>
  %v = memref.cast %i : memref<4xi32> to memref<*xi32>
  // expected-error @+1 {{'func.call' in 'sorted', compiled for the GPU, is a kiln.sort, which the GPU target does not compile yet (sort in a function that runs on the CPU)}}
  call @kiln_sort_f32(%c0, %u, %v) : (i64, memref<*xf32>, memref<*xi32>) -> ()
  return
}

// -----

// A collective is the runtime's MPI layer on host memory: refused for the
// GPU, naming the op.
func.func private @kiln_reduce_scatter_f32(i64, i64, i64, i64, i64, i64, memref<*xf32>, memref<*xf32>)
func.func @scattered(%x: memref<4xf32>, %y: memref<2xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<4xf32>], outputs = [tensor<2xf32>], variables = [], checks = [], device = cuda>} {
  %c0 = arith.constant 0 : i64
  %u = memref.cast %x : memref<4xf32> to memref<*xf32>
  %v = memref.cast %y : memref<2xf32> to memref<*xf32>
  // expected-error @+1 {{'func.call' in 'scattered', compiled for the GPU, is a collective (kiln.reduce_scatter), which the GPU target does not compile yet (NCCL is the plan, docs/distributed.md; run the step on the CPU)}}
  call @kiln_reduce_scatter_f32(%c0, %c0, %c0, %c0, %c0, %c0, %u, %v) : (i64, i64, i64, i64, i64, i64, memref<*xf32>, memref<*xf32>) -> ()
  return
}
