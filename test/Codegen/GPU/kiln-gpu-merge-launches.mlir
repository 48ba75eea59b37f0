// RUN: tensor-opt %s --split-input-file --kiln-gpu-merge-launches="multiprocessors=2 blocks-per-multiprocessor=4 max-kernels=3" | FileCheck %s

// Two independent kernels (a scale of %x into %y; a fill of %z) of 2 x 1
// and 3 x 2 blocks: one launch of 8 blocks. Blocks 0 .. 1 run the first
// body with its own ids (x = b, the grid's other ids 0); blocks 2 .. 7 the
// second, b - 2 unflattened over its 3 x 2 grid (x fastest). Each body's
// grid and block extents are its own constants.
// CHECK-LABEL: func.func @independent
// CHECK: gpu.launch blocks(%[[B:[a-z0-9]+]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c8, %{{.*}}) threads(%[[T:[a-z0-9]+]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c64{{(_[0-9]+)?}}, %{{.*}})
// CHECK-DAG: %[[K3:.*]] = arith.constant 3 : index
// CHECK-DAG: %[[K64:.*]] = arith.constant 64 : index
// CHECK-DAG: %[[K2:.*]] = arith.constant 2 : index
// CHECK: %[[FIRST:.*]] = arith.cmpi ult, %[[B]], %[[K2]]
// CHECK: scf.if %[[FIRST]] {
// CHECK: %[[I:.*]] = arith.muli %[[B]], %[[K64]]
// CHECK: %[[I2:.*]] = arith.addi %[[I]], %[[T]]
// CHECK: memref.load %arg0[%[[I2]]]
// CHECK: memref.store %{{.*}}, %arg1[%[[I2]]]
// CHECK: } else {
// CHECK: %[[L1:.*]] = arith.subi %[[B]], %[[K2]]
// CHECK: %[[X1:.*]] = arith.remui %[[L1]], %[[K3]]
// CHECK: %[[Y1:.*]] = arith.divui %[[L1]], %[[K3]]
// CHECK: %[[ROW:.*]] = arith.muli %[[Y1]], %[[K3]]
// CHECK: %[[BLK:.*]] = arith.addi %[[ROW]], %[[X1]]
// CHECK: %[[J:.*]] = arith.muli %[[BLK]], %[[K64]]
// CHECK: %[[J2:.*]] = arith.addi %[[J]], %[[T]]
// CHECK: memref.store %{{.*}}, %arg2[%[[J2]]]
// CHECK: gpu.terminator
// CHECK-NOT: gpu.launch
func.func @independent(%x: memref<128xf32>, %y: memref<128xf32>, %z: memref<384xf32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cuda>} {
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %c64 = arith.constant 64 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c2, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %i0 = arith.muli %bx, %sx : index
    %i = arith.addi %i0, %tx : index
    %v = memref.load %x[%i] : memref<128xf32>
    %w = arith.mulf %v, %v : f32
    memref.store %w, %y[%i] : memref<128xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c3, %gy = %c2, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %row = arith.muli %by, %gx : index
    %b = arith.addi %row, %bx : index
    %i0 = arith.muli %b, %sx : index
    %i = arith.addi %i0, %tx : index
    %zero = arith.constant 0.0 : f32
    memref.store %zero, %z[%i] : memref<384xf32>
    gpu.terminator
  }
  return
}

// -----

// The second reads what the first writes (read after write), writes what
// the first reads (write after read) or writes the same buffer (write
// after write): each pair stays two launches.
// CHECK-LABEL: func.func @dependent
// CHECK-COUNT-6: gpu.launch
func.func @dependent(%x: memref<64xf32>, %y: memref<64xf32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cuda>} {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %f = arith.constant 1.0 : f32
  // read after write
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    memref.store %f, %x[%tx] : memref<64xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %v = memref.load %x[%tx] : memref<64xf32>
    memref.store %v, %y[%tx] : memref<64xf32>
    gpu.terminator
  }
  // write after read (the launch above read %x)
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    memref.store %f, %x[%tx] : memref<64xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %v = memref.load %y[%tx] : memref<64xf32>
    memref.store %v, %x[%tx] : memref<64xf32>
    gpu.terminator
  }
  // write after write
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    memref.store %f, %y[%tx] : memref<64xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %g = arith.constant 2.0 : f32
    memref.store %g, %y[%tx] : memref<64xf32>
    gpu.terminator
  }
  return
}

// -----

// Two halves of one allocation (views of the same root) may overlap: the
// second half's kernel does not join the first's. Distinct allocations are
// distinct, and a gpu.alloc between launches (with its waits) lets the
// earlier launches move down: the second half's kernel and the next two
// become one launch of three blocks. Kernels that only read the same
// buffer (%x) are independent.
// CHECK-LABEL: func.func @views_and_allocations
// CHECK: memref.subview
// CHECK: gpu.launch blocks(%{{.*}}) in (%{{.*}} = %c1,
// CHECK: gpu.alloc
// CHECK: gpu.launch blocks(%{{.*}}) in (%{{.*}} = %c3
// CHECK: memref.store %{{.*}}, %subview_0
// CHECK: memref.store %{{.*}}, %memref_1
// CHECK: memref.store %{{.*}}, %memref_2
// CHECK-NOT: gpu.launch
func.func @views_and_allocations(%x: memref<128xf32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cuda>} {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %whole = gpu.alloc () : memref<128xf32>
  %low = memref.subview %whole[0] [64] [1] : memref<128xf32> to memref<64xf32, strided<[1]>>
  %high = memref.subview %whole[64] [64] [1] : memref<128xf32> to memref<64xf32, strided<[1], offset: 64>>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %v = memref.load %x[%tx] : memref<128xf32>
    memref.store %v, %low[%tx] : memref<64xf32, strided<[1]>>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %v = memref.load %x[%tx] : memref<128xf32>
    memref.store %v, %high[%tx] : memref<64xf32, strided<[1], offset: 64>>
    gpu.terminator
  }
  %other = gpu.alloc () : memref<64xf32>
  %t0 = gpu.wait async
  %third, %t1 = gpu.alloc async [%t0] () : memref<64xf32>
  gpu.wait [%t1]
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %v = memref.load %x[%tx] : memref<128xf32>
    memref.store %v, %other[%tx] : memref<64xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %v = memref.load %x[%tx] : memref<128xf32>
    memref.store %v, %third[%tx] : memref<64xf32>
    gpu.terminator
  }
  return
}

// -----

// Arguments of a function that is not an entry point may be one buffer:
// not merged. A deallocation between two launches ends the group.
// CHECK-LABEL: func.func @helper
// CHECK-COUNT-2: gpu.launch
// CHECK-LABEL: func.func @dealloc_between
// CHECK: gpu.launch
// CHECK: gpu.dealloc
// CHECK: gpu.launch
func.func @helper(%x: memref<64xf32>, %y: memref<64xf32>) {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %f = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    memref.store %f, %x[%tx] : memref<64xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %v = memref.load %y[%tx] : memref<64xf32>
    gpu.terminator
  }
  return
}
func.func @dealloc_between(%x: memref<64xf32>, %y: memref<64xf32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cuda>} {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %f = arith.constant 1.0 : f32
  %t = gpu.alloc () : memref<64xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    memref.store %f, %x[%tx] : memref<64xf32>
    gpu.terminator
  }
  gpu.dealloc %t : memref<64xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    memref.store %f, %y[%tx] : memref<64xf32>
    gpu.terminator
  }
  return
}

// -----

// Blocks of 64 and of 1 thread: without barriers, the merged block has 64
// threads and the one-thread body runs in thread 0 only.
// CHECK-LABEL: func.func @thread_counts
// CHECK: gpu.launch blocks(%[[B:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c2{{.*}}) threads(%[[T:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c64
// CHECK: } else {
// CHECK: %[[ACTIVE:.*]] = arith.cmpi ult, %[[T]], %c1
// CHECK: scf.if %[[ACTIVE]] {
// CHECK: memref.store %{{.*}}, %arg1[]
// A barrier in a body (a block reduction through shared memory) keeps
// different thread counts apart; the same count merges, the shared
// buffers side by side.
// CHECK-LABEL: func.func @barriers
// CHECK: gpu.launch
// CHECK: gpu.launch blocks(%{{.*}}) in (%{{.*}} = %c2{{.*}}) threads({{.*}}) in (%{{.*}} = %c64{{.*}}) workgroup(%{{.*}} : memref<64xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<64xf32, #gpu.address_space<workgroup>>)
// CHECK-COUNT-2: gpu.barrier
// CHECK-NOT: gpu.launch
func.func @thread_counts(%x: memref<64xf32>, %s: memref<f32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cuda>} {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %f = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    memref.store %f, %x[%tx] : memref<64xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    memref.store %f, %s[] : memref<f32>
    gpu.terminator
  }
  return
}
func.func @barriers(%x: memref<64xf32>, %y: memref<64xf32>, %s: memref<f32>, %r: memref<f32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cuda>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %c64 = arith.constant 64 : index
  %f = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
    memref.store %f, %x[%tx] : memref<64xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) workgroup(%part : memref<64xf32, #gpu.address_space<workgroup>>) {
    %v = memref.load %y[%tx] : memref<64xf32>
    memref.store %v, %part[%tx] : memref<64xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    %w = memref.load %part[%c0] : memref<64xf32, #gpu.address_space<workgroup>>
    memref.store %w, %s[] : memref<f32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) workgroup(%part : memref<64xf32, #gpu.address_space<workgroup>>) {
    %v = memref.load %y[%tx] : memref<64xf32>
    memref.store %v, %part[%tx] : memref<64xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    %w = memref.load %part[%c0] : memref<64xf32, #gpu.address_space<workgroup>>
    memref.store %w, %r[] : memref<f32>
    gpu.terminator
  }
  return
}

// -----

// Left alone: a grid of 9 blocks (more than 4 per multiprocessor on 2), a
// grid whose extent is only known at run time, a body that calls a
// function with a buffer (its effect unknown: a write, so the next
// kernel's read of it conflicts). At most three kernels merge (max-kernels).
// CHECK-LABEL: func.func @left_alone
// CHECK: gpu.launch blocks(%{{.*}}) in (%{{.*}} = %c9
// CHECK: gpu.launch blocks(%{{.*}}) in (%{{.*}} = %arg2
// CHECK: gpu.launch blocks(%{{.*}}) in (%{{.*}} = %c1
// CHECK: func.call @touch
// CHECK: gpu.launch blocks(%{{.*}}) in (%{{.*}} = %c3
// CHECK: gpu.launch blocks(%{{.*}}) in (%{{.*}} = %c1
// CHECK-NOT: gpu.launch
func.func private @touch(memref<64xf32>)
func.func @left_alone(%x: memref<64xf32>, %y: memref<64xf32>, %n: index, %a: memref<64xf32>, %b: memref<64xf32>, %c: memref<64xf32>, %d: memref<64xf32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cuda>} {
  %c1 = arith.constant 1 : index
  %c9 = arith.constant 9 : index
  %c64 = arith.constant 64 : index
  %f = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c9, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    memref.store %f, %a[%tx] : memref<64xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %n, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    memref.store %f, %b[%tx] : memref<64xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    func.call @touch(%x) : (memref<64xf32>) -> ()
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %v = memref.load %x[%tx] : memref<64xf32>
    memref.store %v, %y[%tx] : memref<64xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    memref.store %f, %c[%tx] : memref<64xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    memref.store %f, %d[%tx] : memref<64xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    memref.store %f, %a[%tx] : memref<64xf32>
    gpu.terminator
  }
  return
}

// -----

// Memory the pass cannot follow keeps a kernel alone: a global taken inside
// the body, a call, the hardware's thread id read directly (it would be the
// merged block's). Two plain kernels after them still merge.
// CHECK-LABEL: func.func @unseen
// CHECK: gpu.launch blocks(%{{.*}}) in (%{{.*}} = %c1,
// CHECK: memref.get_global
// CHECK: gpu.launch blocks(%{{.*}}) in (%{{.*}} = %c1,
// CHECK: nvvm.read.ptx.sreg.tid.x
// CHECK: gpu.launch blocks(%{{.*}}) in (%{{.*}} = %c2
// CHECK-NOT: gpu.launch
memref.global "private" @table : memref<64xf32> = dense<0.0>
func.func @unseen(%x: memref<64xf32>, %y: memref<64xf32>, %z: memref<64xf32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cuda>} {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %f = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %g = memref.get_global @table : memref<64xf32>
    memref.store %f, %g[%tx] : memref<64xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %t = nvvm.read.ptx.sreg.tid.x : i32
    %i = arith.index_cast %t : i32 to index
    memref.store %f, %x[%i] : memref<64xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    memref.store %f, %y[%tx] : memref<64xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    memref.store %f, %z[%tx] : memref<64xf32>
    gpu.terminator
  }
  return
}

// -----

// Kernels of one thread merge although each reads what the one before
// wrote (a loss's mean, then Adam's step count and its step size): one
// thread runs the bodies in order. A kernel of more threads after them
// does not join them (it would run beside them in another block), even
// though it is independent; it starts a group of its own.
// CHECK-LABEL: func.func @scalar_chain
// CHECK: gpu.launch blocks(%{{.*}}) in (%{{.*}} = %c1{{(_[0-9]+)?}}, %{{.*}}) threads(%{{.*}}) in (%{{.*}} = %c1{{(_[0-9]+)?}}, %{{.*}})
// CHECK-NOT: scf.if
// CHECK: %[[SUM:.*]] = memref.load %arg0[]
// CHECK: %[[MEAN:.*]] = arith.divf %[[SUM]]
// CHECK: memref.store %[[MEAN]], %arg1[]
// CHECK: %[[COUNT:.*]] = memref.load %arg2[]
// CHECK: %[[NEXT:.*]] = arith.addi %[[COUNT]]
// CHECK: memref.store %[[NEXT]], %arg2[]
// CHECK: %[[READ:.*]] = memref.load %arg2[]
// CHECK: arith.sitofp %[[READ]]
// CHECK: memref.store %{{.*}}, %arg3[]
// CHECK: gpu.terminator
// CHECK: gpu.launch blocks(%{{.*}}) in (%{{.*}} = %c1{{(_[0-9]+)?}}, %{{.*}}) threads(%{{.*}}) in (%{{.*}} = %c64
// CHECK-NOT: gpu.launch
func.func @scalar_chain(%sum: memref<f32>, %loss: memref<f32>, %step: memref<i64>, %lr: memref<f32>, %w: memref<64xf32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cuda>} {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %n = arith.constant 256.0 : f32
  %one = arith.constant 1 : i64
  %f = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    %s = memref.load %sum[] : memref<f32>
    %m = arith.divf %s, %n : f32
    memref.store %m, %loss[] : memref<f32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    %k = memref.load %step[] : memref<i64>
    %k1 = arith.addi %k, %one : i64
    memref.store %k1, %step[] : memref<i64>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    %k = memref.load %step[] : memref<i64>
    %kf = arith.sitofp %k : i64 to f32
    memref.store %kf, %lr[] : memref<f32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    memref.store %f, %w[%tx] : memref<64xf32>
    gpu.terminator
  }
  return
}
