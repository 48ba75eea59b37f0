// RUN: tensor-opt %s --kiln-overlap-collectives --split-input-file | FileCheck %s

// Each all-reduce starts at its place and is waited for just before the
// first op that needs it; one whose result is returned unused before the
// end waits at the return. Other collectives stay blocking.
// CHECK-LABEL: func.func @step
// CHECK-SAME: (%[[A:.*]]: tensor<4xf32>, %[[B:.*]]: tensor<3xf64>)
// CHECK-NEXT: %[[PA:.*]] = kiln.all_reduce_start mean, %[[A]] : tensor<4xf32>
// CHECK-NEXT: %[[PB:.*]] = kiln.all_reduce_start sum, %[[B]] {group = "rows"} : tensor<3xf64>
// CHECK-NEXT: %[[E:.*]] = kiln.exp %[[A]]
// CHECK-NEXT: %[[F:.*]] = kiln.broadcast_from %[[E]]
// CHECK-NEXT: %[[RA:.*]] = kiln.all_reduce_done %[[PA]] : tensor<4xf32>
// CHECK-NEXT: %[[M:.*]] = kiln.mul %[[RA]], %[[F]]
// CHECK-NEXT: %[[RB:.*]] = kiln.all_reduce_done %[[PB]] : tensor<3xf64>
// CHECK-NEXT: return %[[M]], %[[RB]]
func.func @step(%a: tensor<4xf32>, %b: tensor<3xf64>) -> (tensor<4xf32>, tensor<3xf64>) {
  %ra = kiln.all_reduce mean, %a : tensor<4xf32>
  %rb = kiln.all_reduce sum, %b {group = "rows"} : tensor<3xf64>
  %e = kiln.exp %a : tensor<4xf32>
  %f = kiln.broadcast_from %e : tensor<4xf32>
  %m = kiln.mul %ra, %f : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  return %m, %rb : tensor<4xf32>, tensor<3xf64>
}

// -----

// A result used inside a region: the done comes before the op holding the
// use. An unused result still waits (every process runs the all-reduce).
// CHECK-LABEL: func.func @region
// CHECK: %[[P:.*]] = kiln.all_reduce_start sum
// CHECK-NEXT: %[[Q:.*]] = kiln.all_reduce_start max
// CHECK-NEXT: %[[R:.*]] = kiln.all_reduce_done %[[P]]
// CHECK-NEXT: kiln.cond
// CHECK: kiln.yield %[[R]]
// CHECK: kiln.all_reduce_done %[[Q]]
// CHECK-NEXT: return
func.func @region(%p: tensor<i1>, %x: tensor<3xf32>) -> tensor<3xf32> {
  %r = kiln.all_reduce sum, %x : tensor<3xf32>
  %unused = kiln.all_reduce max, %x : tensor<3xf32>
  %y = kiln.cond %p -> (tensor<3xf32>) {
    kiln.yield %r : tensor<3xf32>
  } else {
    kiln.yield %x : tensor<3xf32>
  }
  return %y : tensor<3xf32>
}

// -----

// Nothing between the all-reduce and its use: it stays one blocking call.
// CHECK-LABEL: func.func @adjacent
// CHECK-NEXT: kiln.all_reduce sum
// CHECK-NEXT: return
// CHECK-NOT: kiln.all_reduce_start
func.func @adjacent(%x: tensor<3xf32>) -> tensor<3xf32> {
  %r = kiln.all_reduce sum, %x : tensor<3xf32>
  return %r : tensor<3xf32>
}

// -----

// A bucket's all-reduce is followed by its slices and reshapes: they move
// down to their uses, and the wait with them, after the computation.
// CHECK-LABEL: func.func @bucket
// CHECK: %[[P:.*]] = kiln.all_reduce_start mean
// CHECK-NEXT: %[[E:.*]] = kiln.exp
// CHECK-NEXT: %[[R:.*]] = kiln.all_reduce_done %[[P]]
// CHECK-NEXT: kiln.slice %[[R]]
// CHECK-NEXT: kiln.reshape
// CHECK-NEXT: kiln.mul
// CHECK-NEXT: kiln.slice %[[R]]
// CHECK-NEXT: return
func.func @bucket(%a: tensor<2x2xf32>, %b: tensor<3xf32>) -> (tensor<2x2xf32>, tensor<3xf32>) {
  %fa = kiln.reshape %a : tensor<2x2xf32> -> tensor<4xf32>
  %j = kiln.concat %fa, %b {axis = 0 : i64} : (tensor<4xf32>, tensor<3xf32>) -> tensor<7xf32>
  %all = kiln.all_reduce mean, %j : tensor<7xf32>
  %sa = kiln.slice %all {start = array<i64: 0>, limit = array<i64: 4>, stride = array<i64: 1>} : tensor<7xf32> -> tensor<4xf32>
  %ra = kiln.reshape %sa : tensor<4xf32> -> tensor<2x2xf32>
  %sb = kiln.slice %all {start = array<i64: 4>, limit = array<i64: 7>, stride = array<i64: 1>} : tensor<7xf32> -> tensor<3xf32>
  %e = kiln.exp %a : tensor<2x2xf32>
  %m = kiln.mul %ra, %e : tensor<2x2xf32>, tensor<2x2xf32> -> tensor<2x2xf32>
  return %m, %sb : tensor<2x2xf32>, tensor<3xf32>
}
