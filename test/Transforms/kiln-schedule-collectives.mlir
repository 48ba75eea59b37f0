// RUN: tensor-opt %s --kiln-schedule-collectives --split-input-file | FileCheck %s
// RUN: tensor-opt %s --kiln-schedule-collectives --kiln-bucket-collectives="first-bucket-bytes=16" --split-input-file | FileCheck %s --check-prefix=BUCKETS

// A step's all-reduces, asked for after the "backward pass", move up to
// where each input is computed, in the order the inputs are: the gradient
// computed last (%ga, from the argument's use deepest in the chain) is
// all-reduced last; the argument %b's all-reduce moves to the start.
// CHECK-LABEL: func.func @step
// CHECK-SAME: (%[[A:.*]]: tensor<4xf32>, %[[B:.*]]: tensor<3xf32>)
// CHECK-NEXT: %[[RB:.*]] = kiln.all_reduce mean, %[[B]] : tensor<3xf32>
// CHECK-NEXT: %[[G2:.*]] = kiln.exp %[[A]]
// CHECK-NEXT: %[[R2:.*]] = kiln.all_reduce mean, %[[G2]] : tensor<4xf32>
// CHECK-NEXT: %[[G1:.*]] = kiln.mul %[[G2]], %[[A]]
// CHECK-NEXT: %[[R1:.*]] = kiln.all_reduce mean, %[[G1]] : tensor<4xf32>
// CHECK-NEXT: %[[GA:.*]] = kiln.neg %[[G1]]
// CHECK-NEXT: %[[RA:.*]] = kiln.all_reduce mean, %[[GA]] : tensor<4xf32>
// CHECK-NEXT: return %[[RA]], %[[R1]], %[[R2]], %[[RB]]
// A small first bucket holds the gradients computed first (b and g2: 28
// bytes do not fit 16, so b alone); the rest join one bucket placed where
// the last of them is computed.
// BUCKETS-LABEL: func.func @step
// BUCKETS-NEXT: kiln.all_reduce mean, %{{.*}} : tensor<3xf32>
// BUCKETS-NEXT: kiln.exp
// BUCKETS-NEXT: kiln.mul
// BUCKETS-NEXT: kiln.neg
// BUCKETS-NEXT: kiln.concat {{.*}} -> tensor<12xf32>
// BUCKETS-NEXT: kiln.all_reduce mean, %{{.*}} : tensor<12xf32>
func.func @step(%a: tensor<4xf32>, %b: tensor<3xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<3xf32>) {
  %g2 = kiln.exp %a : tensor<4xf32>
  %g1 = kiln.mul %g2, %a : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  %ga = kiln.neg %g1 : tensor<4xf32>
  %ra = kiln.all_reduce mean, %ga : tensor<4xf32>
  %r1 = kiln.all_reduce mean, %g1 : tensor<4xf32>
  %r2 = kiln.all_reduce mean, %g2 : tensor<4xf32>
  %rb = kiln.all_reduce mean, %b : tensor<3xf32>
  return %ra, %r1, %r2, %rb : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<3xf32>
}

// -----

// Inside a loop's body, a value from outside moves to the start of the
// body, not out of the loop; other collectives stay.
// CHECK-LABEL: func.func @loop
// CHECK: kiln.for
// CHECK-NEXT: ^bb0
// CHECK-NEXT: kiln.all_reduce sum, %{{.*}} : tensor<3xf32>
// CHECK-NEXT: kiln.add
// CHECK-NEXT: kiln.broadcast_from
func.func @loop(%x: tensor<3xf32>, %n: tensor<i64>) -> tensor<3xf32> {
  %zero = kiln.constant dense<0> : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %r = kiln.for %zero to %n step %one iter_args(%x : tensor<3xf32>) do {
  ^bb0(%i: tensor<i64>, %acc: tensor<3xf32>):
    %s = kiln.add %acc, %acc : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
    %b = kiln.broadcast_from %s : tensor<3xf32>
    %t = kiln.all_reduce sum, %x : tensor<3xf32>
    %u = kiln.add %b, %t : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
    kiln.yield %u : tensor<3xf32>
  }
  return %r : tensor<3xf32>
}

// -----

// Two all-reduces of one value, and two of an argument, keep their order.
// CHECK-LABEL: func.func @same_input
// CHECK-NEXT: kiln.all_reduce min, %arg1
// CHECK-NEXT: kiln.all_reduce max, %arg1
// CHECK-NEXT: kiln.exp
// CHECK-NEXT: kiln.all_reduce sum
// CHECK-NEXT: kiln.all_reduce max
func.func @same_input(%a: tensor<4xf32>, %b: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %e = kiln.exp %a : tensor<4xf32>
  %n = kiln.neg %a : tensor<4xf32>
  %0 = kiln.all_reduce sum, %e : tensor<4xf32>
  %1 = kiln.all_reduce min, %b : tensor<4xf32>
  %2 = kiln.all_reduce max, %e : tensor<4xf32>
  %3 = kiln.all_reduce max, %b : tensor<4xf32>
  return %0, %1, %2, %3 : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}
