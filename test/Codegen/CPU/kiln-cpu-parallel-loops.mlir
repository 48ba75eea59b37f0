// RUN: tensor-opt %s --split-input-file --kiln-cpu-parallel-loops | FileCheck %s
// RUN: tensor-opt %s --split-input-file --kiln-cpu-parallel-loops=threads=false | FileCheck %s --check-prefix=SEQ
// RUN: tensor-opt %s --split-input-file --kiln-cpu-parallel-loops --convert-linalg-to-loops --expand-strided-metadata --lower-affine --convert-scf-to-cf --finalize-memref-to-llvm --convert-to-llvm --reconcile-unrealized-casts | FileCheck %s --check-prefix=LLVM

// A 2-D forall over memrefs: its body becomes @scale_parallel_0, which runs
// the linearized iterations [begin, end) (the last dimension fastest); the
// values it uses from outside (the two memrefs, the factor, the open bound)
// travel in a struct on the caller's stack, in their LLVM form.
// CHECK-LABEL: func.func @scale
// CHECK-SAME: (%[[X:.*]]: memref<?x64xf32>, %[[Y:.*]]: memref<?x64xf32>, %[[S:.*]]: f32)
// CHECK: %[[CTX:.*]] = llvm.alloca %{{.*}} x !llvm.struct<(struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>, struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>, f32, i64)>
// CHECK: %[[N:.*]] = memref.dim %[[X]]
// CHECK: %[[XD:.*]] = builtin.unrealized_conversion_cast %[[X]] : memref<?x64xf32> to !llvm.struct
// CHECK: llvm.store %[[XD]]
// CHECK: llvm.store %[[S]]
// CHECK: %[[ND:.*]] = builtin.unrealized_conversion_cast %[[N]] : index to i64
// CHECK: llvm.store %[[ND]]
// CHECK: %[[COUNT:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK: %[[BODY:.*]] = constant @scale_parallel_0 : (!llvm.ptr, i64, i64) -> ()
// CHECK: call @kiln_parallel_for(%[[BODY]], %[[CTX]], %[[COUNT]])
// CHECK-NOT: scf.forall
// CHECK: func.func private @scale_parallel_0(%[[C:.*]]: !llvm.ptr, %[[BEGIN:.*]]: i64, %[[END:.*]]: i64)
// CHECK: llvm.load
// CHECK: builtin.unrealized_conversion_cast %{{.*}} : !llvm.struct<{{.*}}> to memref<?x64xf32>
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK: arith.remsi %[[I]]
// CHECK: arith.divsi %[[I]]
// CHECK: memref.subview
// CHECK: linalg.generic
// CHECK: func.func private @kiln_parallel_for((!llvm.ptr, i64, i64) -> (), !llvm.ptr, i64)

// Without threads, the same loop runs on the calling thread.
// SEQ-LABEL: func.func @scale
// SEQ-NOT: kiln_parallel_for
// SEQ: scf.for
// SEQ: scf.for
// SEQ: linalg.generic

// Lowered, the casts of both sides cancel out: the body loads the
// descriptors from the context and the caller passes a function pointer.
// LLVM-LABEL: llvm.func @scale
// LLVM: llvm.mlir.addressof @scale_parallel_0
// LLVM: llvm.call @kiln_parallel_for
// LLVM-LABEL: llvm.func @scale_parallel_0(%{{.*}}: !llvm.ptr, %{{.*}}: i64, %{{.*}}: i64)
// LLVM-NOT: unrealized_conversion_cast
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @scale(%x: memref<?x64xf32>, %y: memref<?x64xf32>, %s: f32) {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x64xf32>
  scf.forall (%i, %j) = (0, 0) to (%n, 64) step (8, 32) {
    %a = memref.subview %x[%i, %j] [8, 32] [1, 1] : memref<?x64xf32> to memref<8x32xf32, strided<[64, 1], offset: ?>>
    %b = memref.subview %y[%i, %j] [8, 32] [1, 1] : memref<?x64xf32> to memref<8x32xf32, strided<[64, 1], offset: ?>>
    linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
        ins(%a : memref<8x32xf32, strided<[64, 1], offset: ?>>) outs(%b : memref<8x32xf32, strided<[64, 1], offset: ?>>) {
    ^bb0(%in: f32, %out: f32):
      %m = arith.mulf %in, %s : f32
      linalg.yield %m : f32
    }
  }
  return
}

// -----

// A forall inside a forall: the outer one is handed to the threads, the
// inner one runs sequentially inside each of its iterations.
// CHECK-LABEL: func.func @nested
// CHECK: call @kiln_parallel_for
// CHECK: func.func private @nested_parallel_0
// CHECK-NOT: scf.forall
// CHECK: scf.for
// CHECK: scf.for
// CHECK: memref.store
func.func @nested(%y: memref<4x4xf32>, %v: f32) {
  scf.forall (%i) in (4) {
    scf.forall (%j) in (4) {
      memref.store %v, %y[%i, %j] : memref<4x4xf32>
    }
  }
  return
}
