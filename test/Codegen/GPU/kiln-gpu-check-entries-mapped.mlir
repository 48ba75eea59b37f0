// RUN: tensor-opt %s --split-input-file --kiln-gpu-check-entries=after-mapping -verify-diagnostics

// After mapping: a loop left in host code (one the conversion to kernels
// did not take) would read GPU memory from the CPU.
func.func @unmapped(%x: memref<1000xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<1000xf32>], outputs = [], variables = [], checks = [], device = cuda>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c1000 = arith.constant 1000 : index
  %zero = arith.constant 0.0 : f32
  // expected-error @+1 {{'scf.parallel' in 'unmapped', compiled for the GPU, was not turned into a kernel and would run on the CPU}}
  scf.parallel (%i) = (%c0) to (%c1000) step (%c1) {
    memref.store %zero, %x[%i] : memref<1000xf32>
  }
  return
}

// -----

// A loop inside a kernel is the kernel's own business.
func.func @mapped(%x: memref<1000xf32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<1000xf32>], outputs = [], variables = [], checks = [], device = cuda>} {
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c4, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c4, %sy = %c1, %sz = %c1) {
    scf.for %i = %c0 to %c4 step %c1 {
      memref.store %zero, %x[%i] : memref<1000xf32>
    }
    gpu.terminator
  }
  return
}

// -----

// A reduction loop left on the host (an scf.for that a kernel should have
// run) is caught by what it does: it touches GPU memory. A host loop around
// kernels is fine.
func.func @reduction_left(%x: memref<1000xf32>, %out: memref<f32>) attributes {kiln.entry = #kiln.entry<inputs = [tensor<1000xf32>], outputs = [tensor<f32>], variables = [], checks = [], device = cuda>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c1000 = arith.constant 1000 : index
  scf.for %i = %c0 to %c1000 step %c1 {
    // expected-error @+1 {{'memref.load' in 'reduction_left', compiled for the GPU, was not turned into a kernel and would run on the CPU}}
    %v = memref.load %x[%i] : memref<1000xf32>
    // expected-error @+1 {{'memref.store' in 'reduction_left', compiled for the GPU, was not turned into a kernel and would run on the CPU}}
    memref.store %v, %out[] : memref<f32>
  }
  scf.for %i = %c0 to %c1000 step %c1 {
    gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
               threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
      %v = memref.load %x[%i] : memref<1000xf32>
      memref.store %v, %out[] : memref<f32>
      gpu.terminator
    }
  }
  return
}
