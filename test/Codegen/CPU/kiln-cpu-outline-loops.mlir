// In a function of at least min-ops operations, each top-level loop nest
// without results and of at least min-loop-ops operations becomes a
// noinline function of its own; constants are copied in, other values it
// reads (buffers, the bounds) become arguments. Smaller functions and
// nests, and loops with results, stay.
// RUN: tensor-opt %s --kiln-cpu-outline-loops="min-ops=10 min-loop-ops=4" | FileCheck %s
// RUN: tensor-opt %s --kiln-cpu-outline-loops | FileCheck %s --check-prefix=DEFAULT

// CHECK-LABEL: func.func @step(
// CHECK-SAME: %[[A:.*]]: memref<8xf32>, %[[B:.*]]: memref<8xf32>, %[[N:.*]]: index)
// CHECK: call @step_loop_0(%[[A]], %[[B]]) : (memref<8xf32>, memref<8xf32>) -> ()
// CHECK: call @step_loop_1(%[[N]], %[[B]]) : (index, memref<8xf32>) -> ()
// CHECK: %[[SUM:.*]] = scf.for {{.*}} iter_args
// CHECK: scf.for
// CHECK-NOT: memref.load
// CHECK: return %[[SUM]]

// CHECK: func.func private @step_loop_0(%[[X:.*]]: memref<8xf32>, %[[Y:.*]]: memref<8xf32>)
// CHECK-SAME: attributes {passthrough = ["noinline"]}
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[TWO:.*]] = arith.constant 2.0
// CHECK: scf.for %[[I:.*]] = %[[C0]] to %[[C8]] step %[[C1]]
// CHECK: memref.load %[[X]][%[[I]]]
// CHECK: arith.mulf {{.*}}, %[[TWO]]
// CHECK: memref.store {{.*}}, %[[Y]][%[[I]]]
// CHECK: return

// CHECK: func.func private @step_loop_1(%[[M:.*]]: index, %[[Z:.*]]: memref<8xf32>)
// CHECK: scf.for {{.*}} to %[[M]]

// CHECK-LABEL: func.func @small(
// CHECK-NOT: call
// DEFAULT-NOT: _loop_
func.func @step(%a: memref<8xf32>, %b: memref<8xf32>, %n: index) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %two = arith.constant 2.0 : f32
  %zero = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c8 step %c1 {
    %x = memref.load %a[%i] : memref<8xf32>
    %y = arith.mulf %x, %two : f32
    memref.store %y, %b[%i] : memref<8xf32>
  }
  scf.for %i = %c0 to %n step %c1 {
    %x = memref.load %b[%i] : memref<8xf32>
    %y = arith.addf %x, %x : f32
    memref.store %y, %b[%i] : memref<8xf32>
  }
  %sum = scf.for %i = %c0 to %c8 step %c1 iter_args(%acc = %zero) -> f32 {
    %x = memref.load %b[%i] : memref<8xf32>
    %s = arith.addf %acc, %x : f32
    scf.yield %s : f32
  }
  scf.for %i = %c0 to %c8 step %c1 {
    memref.store %zero, %a[%i] : memref<8xf32>
  }
  return %sum : f32
}

func.func @small(%a: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %zero = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c8 step %c1 {
    memref.store %zero, %a[%i] : memref<8xf32>
  }
  return
}
