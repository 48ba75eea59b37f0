// RUN: tensor-opt %s --split-input-file --pass-pipeline='builtin.module(gpu.module(kiln-gpu-check-uniformity))' -verify-diagnostics

// What the code generators emit, accepted: a barrier under a test of the
// block's id and loops over the same range in every thread; warp shuffles
// under a test of the warp's index (the thread id divided by 32, with
// blocks of whole warps) and under a loop bounded by a value loaded from a
// block-uniform address; a barrier under a test of a kernel argument.
gpu.module @kernels {
  gpu.func @uniform(%x: memref<256xf32>, %n: index) kernel attributes {known_block_size = array<i32: 256, 1, 1>} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c32 = arith.constant 32 : index
    %c1_i32 = arith.constant 1 : i32
    %c32_i32 = arith.constant 32 : i32
    %tid = gpu.thread_id x
    %bid = gpu.block_id x
    %first = arith.cmpi eq, %bid, %c0 : index
    scf.if %first {
      gpu.barrier
    }
    scf.for %i = %c0 to %n step %c1 {
      gpu.barrier
    }
    %warp = arith.divui %tid, %c32 : index
    %row = arith.addi %warp, %bid : index
    %inside = arith.cmpi ult, %row, %n : index
    %v = memref.load %x[%tid] : memref<256xf32>
    scf.if %inside {
      %s, %ok = gpu.shuffle xor %v, %c1_i32, %c32_i32 : f32
      memref.store %s, %x[%tid] : memref<256xf32>
    }
    %count_f = memref.load %x[%c0] : memref<256xf32>
    %count = arith.fptoui %count_f : f32 to i32
    %bound = arith.index_cast %count : i32 to index
    scf.for %i = %c0 to %bound step %c1 {
      %s, %ok = gpu.shuffle xor %v, %c1_i32, %c32_i32 : f32
      gpu.barrier
    }
    // (A loop carrying per-thread values leaves the arguments uniform.)
    %sum = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %v) -> (f32) {
      %next = arith.addf %acc, %v : f32
      scf.yield %next : f32
    }
    memref.store %sum, %x[%tid] : memref<256xf32>
    %many = arith.cmpi ugt, %n, %c1 : index
    scf.if %many {
      gpu.barrier
    }
    gpu.return
  }
}

// -----

// A barrier only the threads below 128 reach.
gpu.module @kernels {
  gpu.func @half_the_block(%x: memref<256xf32>) kernel attributes {known_block_size = array<i32: 256, 1, 1>} {
    %c128 = arith.constant 128 : index
    %tid = gpu.thread_id x
    %low = arith.cmpi ult, %tid, %c128 : index
    // expected-note@+1 {{'scf.if' decides on a value that depends on the thread}}
    scf.if %low {
      // expected-error@+1 {{'gpu.barrier' in kernel @half_the_block runs under control flow that may differ between the threads of a block, which must all reach it}}
      gpu.barrier
    }
    gpu.return
  }
}

// -----

// Warp-uniform is not block-uniform: a barrier under a test of the warp's
// index.
gpu.module @kernels {
  gpu.func @per_warp(%n: index) kernel attributes {known_block_size = array<i32: 256, 1, 1>} {
    %c32 = arith.constant 32 : index
    %tid = gpu.thread_id x
    %warp = arith.divui %tid, %c32 : index
    %some = arith.cmpi ult, %warp, %n : index
    // expected-note@+1 {{'scf.if' decides}}
    scf.if %some {
      // expected-error@+1 {{'gpu.barrier' in kernel @per_warp runs under control flow that may differ between the threads of a block}}
      gpu.barrier
    }
    gpu.return
  }
}

// -----

// A loop whose trip count depends on the thread: the barrier inside runs a
// different number of times in each.
gpu.module @kernels {
  gpu.func @thread_bounds(%x: memref<256xf32>) kernel attributes {known_block_size = array<i32: 256, 1, 1>} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %tid = gpu.thread_id x
    // expected-note@+1 {{'scf.for' decides}}
    scf.for %i = %c0 to %tid step %c1 {
      // expected-error@+1 {{'gpu.barrier' in kernel @thread_bounds}}
      gpu.barrier
    }
    gpu.return
  }
}

// -----

// A shuffle only lane 0 of each warp runs.
gpu.module @kernels {
  gpu.func @one_lane(%x: memref<256xf32>) kernel attributes {known_block_size = array<i32: 256, 1, 1>} {
    %c0 = arith.constant 0 : index
    %c32 = arith.constant 32 : index
    %c1_i32 = arith.constant 1 : i32
    %c32_i32 = arith.constant 32 : i32
    %tid = gpu.thread_id x
    %lane = arith.remui %tid, %c32 : index
    %first = arith.cmpi eq, %lane, %c0 : index
    %v = memref.load %x[%tid] : memref<256xf32>
    // expected-note@+1 {{'scf.if' decides}}
    scf.if %first {
      // expected-error@+1 {{'gpu.shuffle' in kernel @one_lane runs under control flow that may differ between the lanes of a warp, which must all reach it}}
      %s, %ok = gpu.shuffle xor %v, %c1_i32, %c32_i32 : f32
      memref.store %s, %x[%tid] : memref<256xf32>
    }
    gpu.return
  }
}

// -----

// Rows of 48 threads: a warp spans two rows, so x / 32 differs inside it.
gpu.module @kernels {
  gpu.func @ragged_rows(%x: memref<256xf32>, %n: index) kernel attributes {known_block_size = array<i32: 48, 4, 1>} {
    %c32 = arith.constant 32 : index
    %c1_i32 = arith.constant 1 : i32
    %c32_i32 = arith.constant 32 : i32
    %tid = gpu.thread_id x
    %warp = arith.divui %tid, %c32 : index
    %some = arith.cmpi ult, %warp, %n : index
    %v = memref.load %x[%tid] : memref<256xf32>
    // expected-note@+1 {{'scf.if' decides}}
    scf.if %some {
      // expected-error@+1 {{'gpu.shuffle' in kernel @ragged_rows}}
      %s, %ok = gpu.shuffle xor %v, %c1_i32, %c32_i32 : f32
      memref.store %s, %x[%tid] : memref<256xf32>
    }
    gpu.return
  }
}

// -----

// A value loaded from a per-thread address, carried through a loop, then
// tested: the barrier after the test is divergent.
gpu.module @kernels {
  gpu.func @loaded(%x: memref<256xf32>, %n: index) kernel attributes {known_block_size = array<i32: 256, 1, 1>} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %zero = arith.constant 0.0 : f32
    %tid = gpu.thread_id x
    %v = memref.load %x[%tid] : memref<256xf32>
    %sum = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %zero) -> (f32) {
      %next = arith.addf %acc, %v : f32
      scf.yield %next : f32
    }
    %positive = arith.cmpf ogt, %sum, %zero : f32
    // expected-note@+1 {{'scf.if' decides}}
    scf.if %positive {
      // expected-error@+1 {{'gpu.barrier' in kernel @loaded}}
      gpu.barrier
    }
    gpu.return
  }
}
