// RUN: tensor-opt %s --kiln-bucket-collectives --split-input-file | FileCheck %s
// RUN: tensor-opt %s --kiln-bucket-collectives=bucket-bytes=48 --split-input-file | FileCheck %s --check-prefix=SMALL

// Three f32 means join one bucket (flattened, joined, one all-reduce,
// sliced back); the f64 one does not fit their element type; the use of
// %1 by kiln.neg ends the bucket before it, and %e starts another, alone.
// CHECK-LABEL: func.func @step
// CHECK-SAME: (%[[A:.*]]: tensor<4x3xf32>, %[[B:.*]]: tensor<3xf32>, %[[C:.*]]: tensor<f32>, %[[D:.*]]: tensor<2xf64>, %[[E:.*]]: tensor<5xf32>)
// CHECK: %[[FA:.*]] = kiln.reshape %[[A]] : tensor<4x3xf32> -> tensor<12xf32>
// CHECK: %[[FC:.*]] = kiln.reshape %[[C]] : tensor<f32> -> tensor<1xf32>
// CHECK: %[[J:.*]] = kiln.concat %[[FA]], %[[B]], %[[FC]] {axis = 0 : i64} : (tensor<12xf32>, tensor<3xf32>, tensor<1xf32>) -> tensor<16xf32>
// CHECK: %[[ALL:.*]] = kiln.all_reduce mean, %[[J]] : tensor<16xf32>
// CHECK: %[[SA:.*]] = kiln.slice %[[ALL]] {limit = array<i64: 12>, start = array<i64: 0>, stride = array<i64: 1>}
// CHECK: %[[RA:.*]] = kiln.reshape %[[SA]] : tensor<12xf32> -> tensor<4x3xf32>
// CHECK: %[[RB:.*]] = kiln.slice %[[ALL]] {limit = array<i64: 15>, start = array<i64: 12>, stride = array<i64: 1>}
// CHECK: %[[SC:.*]] = kiln.slice %[[ALL]] {limit = array<i64: 16>, start = array<i64: 15>, stride = array<i64: 1>}
// CHECK: %[[RC:.*]] = kiln.reshape %[[SC]] : tensor<1xf32> -> tensor<f32>
// CHECK: %[[RD:.*]] = kiln.all_reduce mean, %[[D]] : tensor<2xf64>
// CHECK: %[[U:.*]] = kiln.neg %[[RB]]
// CHECK: %[[RE:.*]] = kiln.all_reduce mean, %[[E]] : tensor<5xf32>
// CHECK: return %[[RA]], %[[U]], %[[RC]], %[[RD]], %[[RE]]
// With buckets of 48 bytes, a and b (60 bytes) do not fit together.
// SMALL-LABEL: func.func @step
// SMALL: kiln.all_reduce mean, %{{.*}} : tensor<4x3xf32>
// SMALL: kiln.concat %{{.*}}, %{{.*}} {axis = 0 : i64} : (tensor<3xf32>, tensor<1xf32>) -> tensor<4xf32>
// SMALL: kiln.all_reduce mean, %{{.*}} : tensor<4xf32>
func.func @step(%a: tensor<4x3xf32>, %b: tensor<3xf32>, %c: tensor<f32>, %d: tensor<2xf64>, %e: tensor<5xf32>) -> (tensor<4x3xf32>, tensor<3xf32>, tensor<f32>, tensor<2xf64>, tensor<5xf32>) {
  %0 = kiln.all_reduce mean, %a : tensor<4x3xf32>
  %1 = kiln.all_reduce mean, %b : tensor<3xf32>
  %2 = kiln.all_reduce mean, %c : tensor<f32>
  %3 = kiln.all_reduce mean, %d : tensor<2xf64>
  %u = kiln.neg %1 : tensor<3xf32>
  %4 = kiln.all_reduce mean, %e : tensor<5xf32>
  return %0, %u, %2, %3, %4 : tensor<4x3xf32>, tensor<3xf32>, tensor<f32>, tensor<2xf64>, tensor<5xf32>
}

// -----

// Different reductions or groups, another collective between two
// all-reduces, open extents: nothing merges, the order stays.
// CHECK-LABEL: func.func @apart
// CHECK-NOT: kiln.concat
// CHECK: kiln.all_reduce sum, %{{.*}} : tensor<3xf32>
// CHECK: kiln.all_reduce max, %{{.*}} : tensor<3xf32>
// CHECK: kiln.all_reduce max, %{{.*}} {group = "rows"} : tensor<3xf32>
// CHECK: kiln.broadcast_from
// CHECK: kiln.all_reduce max, %{{.*}} {group = "rows"} : tensor<3xf32>
// CHECK: kiln.all_reduce max, %{{.*}} {group = "rows"} : tensor<?xf32>
// CHECK-NOT: kiln.concat
func.func @apart(%x: tensor<3xf32>, %y: tensor<?xf32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<?xf32>) {
  %0 = kiln.all_reduce sum, %x : tensor<3xf32>
  %1 = kiln.all_reduce max, %x : tensor<3xf32>
  %2 = kiln.all_reduce max, %x {group = "rows"} : tensor<3xf32>
  %3 = kiln.broadcast_from %x : tensor<3xf32>
  %4 = kiln.all_reduce max, %x {group = "rows"} : tensor<3xf32>
  %5 = kiln.all_reduce max, %y {group = "rows"} : tensor<?xf32>
  return %0, %1, %2, %3, %4, %5 : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<?xf32>
}
