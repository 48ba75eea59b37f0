// Folders of Kiln ops: identities and constant folding.
// RUN: tensor-opt %s --canonicalize --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @unary_constants
func.func @unary_constants() -> (tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>,
                                 tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) {
  %c = kiln.constant dense<[1.0, 4.0]> : tensor<2xf32>
  %n = kiln.constant dense<[-2.5, 0.5]> : tensor<2xf32>
  // CHECK-DAG: kiln.constant dense<[-1.000000e+00, -4.000000e+00]>
  %0 = kiln.neg %c : tensor<2xf32>
  // CHECK-DAG: kiln.constant dense<[2.71828175, 54.5981483]>
  %1 = kiln.exp %c : tensor<2xf32>
  // CHECK-DAG: kiln.constant dense<[0.000000e+00, 1.38629436]>
  %2 = kiln.log %c : tensor<2xf32>
  // CHECK-DAG: kiln.constant dense<[1.000000e+00, 2.000000e+00]>
  %3 = kiln.sqrt %c : tensor<2xf32>
  // CHECK-DAG: kiln.constant dense<[1.000000e+00, 5.000000e-01]>
  %4 = kiln.rsqrt %c : tensor<2xf32>
  // CHECK-DAG: kiln.constant dense<[-3.000000e+00, 0.000000e+00]>
  %5 = kiln.floor %n : tensor<2xf32>
  // CHECK-DAG: kiln.constant dense<[-2.000000e+00, 1.000000e+00]>
  %6 = kiln.ceil %n : tensor<2xf32>
  // CHECK-DAG: kiln.constant dense<[0.000000e+00, 5.000000e-01]>
  %7 = kiln.relu %n : tensor<2xf32>
  // CHECK-NOT: kiln.neg
  // CHECK-NOT: kiln.exp
  return %0, %1, %2, %3, %4, %5, %6, %7 : tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>
}

// -----

// CHECK-LABEL: func.func @more_unary_constants
func.func @more_unary_constants() -> (tensor<3xf64>, tensor<3xf64>, tensor<3xf64>, tensor<3xf64>,
                                      tensor<3xf64>, tensor<3xf64>, tensor<3xf64>, tensor<3xf64>) {
  %c = kiln.constant dense<[-2.0, 0.0, 0.5]> : tensor<3xf64>
  // CHECK-DAG: kiln.constant dense<[2.000000e+00, 0.000000e+00, 5.000000e-01]>
  %0 = kiln.abs %c : tensor<3xf64>
  // CHECK-DAG: kiln.constant dense<[-1.000000e+00, 0.000000e+00, 1.000000e+00]>
  %1 = kiln.sign %c : tensor<3xf64>
  // CHECK-DAG: kiln.constant dense<[4.000000e+00, 0.000000e+00, 2.500000e-01]>
  %2 = kiln.square %c : tensor<3xf64>
  // CHECK-DAG: kiln.constant dense<[-5.000000e-01, 0x7FF0000000000000, 2.000000e+00]>
  %3 = kiln.reciprocal %c : tensor<3xf64>
  // CHECK-DAG: kiln.constant dense<[-0.9640275800758169, 0.000000e+00, 0.46211715726000974]>
  %4 = kiln.tanh %c : tensor<3xf64>
  // CHECK-DAG: kiln.constant dense<[0.11920292202211755, 5.000000e-01, 0.62245933120185459]>
  %5 = kiln.sigmoid %c : tensor<3xf64>
  // CHECK-DAG: kiln.constant dense<[-0.90929742682568171, 0.000000e+00, 0.47942553860420301]>
  %6 = kiln.sin %c : tensor<3xf64>
  // CHECK-DAG: kiln.constant dense<[-0.41614683654714241, 1.000000e+00, 0.87758256189037276]>
  %7 = kiln.cos %c : tensor<3xf64>
  return %0, %1, %2, %3, %4, %5, %6, %7 : tensor<3xf64>, tensor<3xf64>, tensor<3xf64>, tensor<3xf64>, tensor<3xf64>, tensor<3xf64>, tensor<3xf64>, tensor<3xf64>
}

// -----

// lgamma folds through the C library (|Gamma(-2.5)| = 0.9453, a pole at 0,
// Gamma(1/2) = sqrt(pi)); digamma and erfinv are left to the lowering's
// expansion.
// CHECK-LABEL: func.func @special_functions
// CHECK-DAG: kiln.constant dense<[-0.05624371649767{{[0-9]*}}, 0x7FF0000000000000, 0.57236494292470{{[0-9]*}}]>
// CHECK-DAG: kiln.digamma
// CHECK-DAG: kiln.erfinv
func.func @special_functions() -> (tensor<3xf64>, tensor<3xf64>, tensor<3xf64>) {
  %c = kiln.constant dense<[-2.5, 0.0, 0.5]> : tensor<3xf64>
  %0 = kiln.lgamma %c : tensor<3xf64>
  %1 = kiln.digamma %c : tensor<3xf64>
  %2 = kiln.erfinv %c : tensor<3xf64>
  return %0, %1, %2 : tensor<3xf64>, tensor<3xf64>, tensor<3xf64>
}

// -----

// CHECK-LABEL: func.func @integer_unary
func.func @integer_unary() -> (tensor<3xi32>, tensor<3xi32>, tensor<3xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2xi1>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>) {
  %c = kiln.constant dense<[-3, 0, 5]> : tensor<3xi32>
  %b = kiln.constant dense<[true, false]> : tensor<2xi1>
  %p = kiln.constant dense<0.5> : tensor<1xf32>
  // CHECK-DAG: kiln.constant dense<[3, 0, -5]> : tensor<3xi32>
  %0 = kiln.neg %c : tensor<3xi32>
  // CHECK-DAG: kiln.constant dense<[3, 0, 5]> : tensor<3xi32>
  %1 = kiln.abs %c : tensor<3xi32>
  // CHECK-DAG: kiln.constant dense<[-1, 0, 1]> : tensor<3xi32>
  %2 = kiln.sign %c : tensor<3xi32>
  // CHECK-DAG: kiln.constant dense<[9, 0, 25]> : tensor<3xi32>
  %3 = kiln.square %c : tensor<3xi32>
  // CHECK-DAG: kiln.constant dense<[0, 0, 5]> : tensor<3xi32>
  %4 = kiln.relu %c : tensor<3xi32>
  // CHECK-DAG: kiln.constant dense<[false, true]> : tensor<2xi1>
  %5 = kiln.logical_not %b : tensor<2xi1>
  // CHECK-DAG: kiln.constant dense<0.405465096> : tensor<1xf32>
  %6 = kiln.log1p %p : tensor<1xf32>
  // expm1(0.5) = 0.6487212707
  // CHECK-DAG: kiln.constant dense<0.648721277> : tensor<1xf32>
  %7 = kiln.expm1 %p : tensor<1xf32>
  // erfc(0.5) = 0.4795001222
  // CHECK-DAG: kiln.constant dense<0.479500115> : tensor<1xf32>
  %8 = kiln.erfc %p : tensor<1xf32>
  return %0, %1, %2, %3, %4, %5, %6, %7, %8 : tensor<3xi32>, tensor<3xi32>, tensor<3xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2xi1>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>
}

// -----

// Involutions and idempotent ops fold away.
// CHECK-LABEL: func.func @involutions
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>, %[[B:.*]]: tensor<4xi1>)
func.func @involutions(%x: tensor<4xf32>, %b: tensor<4xi1>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xi1>) {
  %0 = kiln.neg %x : tensor<4xf32>
  %1 = kiln.neg %0 : tensor<4xf32>
  // CHECK: %[[ABS:.*]] = kiln.abs %[[X]]
  // CHECK-NOT: kiln.abs
  %2 = kiln.abs %x : tensor<4xf32>
  %3 = kiln.abs %2 : tensor<4xf32>
  // CHECK: %[[RELU:.*]] = kiln.relu %[[X]]
  // CHECK-NOT: kiln.relu
  %4 = kiln.relu %x : tensor<4xf32>
  %5 = kiln.relu %4 : tensor<4xf32>
  %6 = kiln.logical_not %b : tensor<4xi1>
  %7 = kiln.logical_not %6 : tensor<4xi1>
  // CHECK: return %[[X]], %[[ABS]], %[[RELU]], %[[B]]
  return %1, %3, %5, %7 : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xi1>
}

// -----

// CHECK-LABEL: func.func @identities
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>, %[[I:.*]]: tensor<3xi32>, %[[B:.*]]: tensor<3xi1>)
func.func @identities(%x: tensor<2x3xf32>, %i: tensor<3xi32>, %b: tensor<3xi1>)
    -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>,
        tensor<3xi32>, tensor<3xi32>, tensor<2x3xf32>, tensor<3xi1>, tensor<3xi1>, tensor<3xi32>) {
  %zero = kiln.constant dense<0.0> : tensor<f32>
  %one = kiln.constant dense<1.0> : tensor<3xf32>
  %izero = kiln.constant dense<0> : tensor<3xi32>
  %ione = kiln.constant dense<1> : tensor<i32>
  %t = kiln.constant dense<true> : tensor<i1>
  %f = kiln.constant dense<false> : tensor<i1>
  %0 = kiln.add %x, %zero : tensor<2x3xf32>, tensor<f32> -> tensor<2x3xf32>
  %1 = kiln.add %zero, %x : tensor<f32>, tensor<2x3xf32> -> tensor<2x3xf32>
  %2 = kiln.sub %x, %zero : tensor<2x3xf32>, tensor<f32> -> tensor<2x3xf32>
  %3 = kiln.mul %one, %x : tensor<3xf32>, tensor<2x3xf32> -> tensor<2x3xf32>
  %4 = kiln.div %x, %one : tensor<2x3xf32>, tensor<3xf32> -> tensor<2x3xf32>
  %5 = kiln.add %i, %izero : tensor<3xi32>, tensor<3xi32> -> tensor<3xi32>
  %6 = kiln.mul %i, %ione : tensor<3xi32>, tensor<i32> -> tensor<3xi32>
  %7 = kiln.pow %x, %one : tensor<2x3xf32>, tensor<3xf32> -> tensor<2x3xf32>
  %8 = kiln.logical_and %b, %t : tensor<3xi1>, tensor<i1> -> tensor<3xi1>
  %9 = kiln.logical_or %b, %f : tensor<3xi1>, tensor<i1> -> tensor<3xi1>
  %10 = kiln.maximum %i, %i : tensor<3xi32>, tensor<3xi32> -> tensor<3xi32>
  // CHECK-NOT: kiln.add
  // CHECK-NOT: kiln.sub
  // CHECK-NOT: kiln.mul
  // CHECK-NOT: kiln.div
  // CHECK-NOT: kiln.pow
  // CHECK-NOT: kiln.logical_and
  // CHECK-NOT: kiln.maximum
  // CHECK: return %[[X]], %[[X]], %[[X]], %[[X]], %[[X]], %[[I]], %[[I]], %[[X]], %[[B]], %[[B]], %[[I]]
  return %0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10 : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<3xi32>, tensor<3xi32>, tensor<2x3xf32>, tensor<3xi1>, tensor<3xi1>, tensor<3xi32>
}

// -----

// An identity that would drop a broadcast does not fold.
// CHECK-LABEL: func.func @identity_keeps_broadcast
func.func @identity_keeps_broadcast(%x: tensor<3xf32>) -> tensor<2x3xf32> {
  %zero = kiln.constant dense<0.0> : tensor<2x3xf32>
  // CHECK: kiln.add
  %0 = kiln.add %x, %zero : tensor<3xf32>, tensor<2x3xf32> -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// CHECK-LABEL: func.func @binary_constants
func.func @binary_constants() -> (tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>,
                                  tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>) {
  %a = kiln.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = kiln.constant dense<[10.0, 0.5]> : tensor<2xf32>
  %c = kiln.constant dense<[[2.0], [3.0]]> : tensor<2x1xf32>
  // CHECK-DAG: kiln.constant dense<{{\[}}[1.100000e+01, 2.500000e+00], [1.300000e+01, 4.500000e+00]]>
  %0 = kiln.add %a, %b : tensor<2x2xf32>, tensor<2xf32> -> tensor<2x2xf32>
  // CHECK-DAG: kiln.constant dense<{{\[}}[-1.000000e+00, 0.000000e+00], [0.000000e+00, 1.000000e+00]]>
  %1 = kiln.sub %a, %c : tensor<2x2xf32>, tensor<2x1xf32> -> tensor<2x2xf32>
  // CHECK-DAG: kiln.constant dense<{{\[}}[2.000000e+01, 1.000000e+00], [3.000000e+01, 1.500000e+00]]>
  %2 = kiln.mul %c, %b : tensor<2x1xf32>, tensor<2xf32> -> tensor<2x2xf32>
  // CHECK-DAG: kiln.constant dense<{{\[}}[1.000000e-01, 4.000000e+00], [3.000000e-01, 8.000000e+00]]>
  %3 = kiln.div %a, %b : tensor<2x2xf32>, tensor<2xf32> -> tensor<2x2xf32>
  // CHECK-DAG: kiln.constant dense<{{\[}}[1.000000e+00, 4.000000e+00], [2.700000e+01, 6.400000e+01]]>
  %4 = kiln.pow %a, %c : tensor<2x2xf32>, tensor<2x1xf32> -> tensor<2x2xf32>
  // CHECK-DAG: kiln.constant dense<{{\[}}[1.000000e+01, 2.000000e+00], [1.000000e+01, 4.000000e+00]]>
  %5 = kiln.maximum %a, %b : tensor<2x2xf32>, tensor<2xf32> -> tensor<2x2xf32>
  // CHECK-DAG: kiln.constant dense<{{\[}}[1.000000e+00, 5.000000e-01], [3.000000e+00, 5.000000e-01]]>
  %6 = kiln.minimum %a, %b : tensor<2x2xf32>, tensor<2xf32> -> tensor<2x2xf32>
  return %0, %1, %2, %3, %4, %5, %6 : tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>
}

// -----

// CHECK-LABEL: func.func @integer_binary_constants
func.func @integer_binary_constants() -> (tensor<3xi64>, tensor<3xi64>, tensor<3xi64>, tensor<3xi64>, tensor<3xi64>, tensor<3xi1>, tensor<3xi1>, tensor<3xi64>, tensor<3xi64>, tensor<2xf64>) {
  %a = kiln.constant dense<[7, -7, 2]> : tensor<3xi64>
  %b = kiln.constant dense<[2, 2, 10]> : tensor<3xi64>
  %z = kiln.constant dense<[0, 1, 0]> : tensor<3xi64>
  %t = kiln.constant dense<[true, true, false]> : tensor<3xi1>
  %f = kiln.constant dense<[true, false, false]> : tensor<3xi1>
  // CHECK-DAG: kiln.constant dense<[3, -3, 0]> : tensor<3xi64>
  %0 = kiln.div %a, %b : tensor<3xi64>, tensor<3xi64> -> tensor<3xi64>
  // CHECK-DAG: kiln.constant dense<[49, 49, 1024]> : tensor<3xi64>
  %1 = kiln.pow %a, %b : tensor<3xi64>, tensor<3xi64> -> tensor<3xi64>
  // CHECK-DAG: kiln.constant dense<[7, 2, 10]> : tensor<3xi64>
  %2 = kiln.maximum %a, %b : tensor<3xi64>, tensor<3xi64> -> tensor<3xi64>
  // CHECK-DAG: kiln.constant dense<[5, -9, -8]> : tensor<3xi64>
  %3 = kiln.sub %a, %b : tensor<3xi64>, tensor<3xi64> -> tensor<3xi64>
  // Division by zero is left for run time.
  // CHECK-DAG: kiln.div %{{.*}}, %{{.*}} : tensor<3xi64>, tensor<3xi64>
  %4 = kiln.div %a, %z : tensor<3xi64>, tensor<3xi64> -> tensor<3xi64>
  // CHECK-DAG: kiln.constant dense<[true, false, false]> : tensor<3xi1>
  %5 = kiln.logical_and %t, %f : tensor<3xi1>, tensor<3xi1> -> tensor<3xi1>
  // CHECK-DAG: kiln.constant dense<[true, true, false]> : tensor<3xi1>
  %6 = kiln.logical_or %t, %f : tensor<3xi1>, tensor<3xi1> -> tensor<3xi1>
  // Remainders: truncated (the dividend's sign); x rem 0 = x, as at run time.
  // CHECK-DAG: kiln.constant dense<[1, -1, 2]> : tensor<3xi64>
  %7 = kiln.rem %a, %b : tensor<3xi64>, tensor<3xi64> -> tensor<3xi64>
  // CHECK-DAG: kiln.constant dense<[7, 0, 2]> : tensor<3xi64>
  %8 = kiln.rem %a, %z : tensor<3xi64>, tensor<3xi64> -> tensor<3xi64>
  // fmod, exact: 1e10 rem 3 = 1 (f64), -7.5 rem 2 = -1.5.
  // CHECK-DAG: kiln.constant dense<[1.000000e+00, -1.500000e+00]> : tensor<2xf64>
  %fx = kiln.constant dense<[1.0e10, -7.5]> : tensor<2xf64>
  %fy = kiln.constant dense<[3.0, 2.0]> : tensor<2xf64>
  %9 = kiln.rem %fx, %fy : tensor<2xf64>, tensor<2xf64> -> tensor<2xf64>
  return %0, %1, %2, %3, %4, %5, %6, %7, %8, %9 : tensor<3xi64>, tensor<3xi64>, tensor<3xi64>, tensor<3xi64>, tensor<3xi64>, tensor<3xi1>, tensor<3xi1>, tensor<3xi64>, tensor<3xi64>, tensor<2xf64>
}

// -----

// CHECK-LABEL: func.func @compare_constants
func.func @compare_constants() -> (tensor<3xi1>, tensor<3xi1>, tensor<3xi1>, tensor<3xi1>, tensor<3xi1>, tensor<3xi1>) {
  %a = kiln.constant dense<[1.0, 2.0, 0x7FC00000]> : tensor<3xf32>
  %b = kiln.constant dense<2.0> : tensor<f32>
  // CHECK-DAG: %[[EQ:.*]] = kiln.constant dense<[false, true, false]>
  %0 = kiln.compare eq, %a, %b : tensor<3xf32>, tensor<f32> -> tensor<3xi1>
  // NaN is unordered: only `ne` holds.
  // CHECK-DAG: %[[NE:.*]] = kiln.constant dense<[true, false, true]>
  %1 = kiln.compare ne, %a, %b : tensor<3xf32>, tensor<f32> -> tensor<3xi1>
  // CHECK-DAG: %[[LT:.*]] = kiln.constant dense<[true, false, false]>
  %2 = kiln.compare lt, %a, %b : tensor<3xf32>, tensor<f32> -> tensor<3xi1>
  // CHECK-DAG: %[[LE:.*]] = kiln.constant dense<[true, true, false]>
  %3 = kiln.compare le, %a, %b : tensor<3xf32>, tensor<f32> -> tensor<3xi1>
  // CHECK-DAG: %[[GT:.*]] = kiln.constant dense<false>
  %4 = kiln.compare gt, %a, %b : tensor<3xf32>, tensor<f32> -> tensor<3xi1>
  %i = kiln.constant dense<[-1, 2, 3]> : tensor<3xi32>
  %j = kiln.constant dense<2> : tensor<i32>
  // CHECK-DAG: %[[GE:.*]] = kiln.constant dense<[false, true, true]>
  %5 = kiln.compare ge, %i, %j : tensor<3xi32>, tensor<i32> -> tensor<3xi1>
  // CHECK: return %[[EQ]], %[[NE]], %[[LT]], %[[LE]], %[[GT]], %[[GE]]
  return %0, %1, %2, %3, %4, %5 : tensor<3xi1>, tensor<3xi1>, tensor<3xi1>, tensor<3xi1>, tensor<3xi1>, tensor<3xi1>
}

// -----

// CHECK-LABEL: func.func @select
// CHECK-SAME: (%[[A:.*]]: tensor<3xf32>, %[[B:.*]]: tensor<3xf32>, %[[C:.*]]: tensor<3xi1>)
func.func @select(%a: tensor<3xf32>, %b: tensor<3xf32>, %c: tensor<3xi1>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) {
  %t = kiln.constant dense<true> : tensor<i1>
  %f = kiln.constant dense<false> : tensor<i1>
  %0 = kiln.select %t, %a, %b : tensor<i1>, tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %1 = kiln.select %f, %a, %b : tensor<i1>, tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %2 = kiln.select %c, %a, %a : tensor<3xi1>, tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  // CHECK: return %[[A]], %[[B]], %[[A]]
  return %0, %1, %2 : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
}

// -----

// CHECK-LABEL: func.func @casts
// CHECK-SAME: (%[[X:.*]]: tensor<2xf32>)
func.func @casts(%x: tensor<2xf32>) -> (tensor<2xf32>, tensor<3xi32>, tensor<3xf32>, tensor<3xi1>, tensor<2xf32>, tensor<3xi64>) {
  %f = kiln.constant dense<[-1.7, 0.0, 2.5]> : tensor<3xf32>
  %b = kiln.constant dense<[true, false]> : tensor<2xi1>
  %i = kiln.constant dense<[-3, 0, 7]> : tensor<3xi32>
  %0 = kiln.cast %x : tensor<2xf32> -> tensor<2xf32>
  // CHECK-DAG: kiln.constant dense<[-1, 0, 2]> : tensor<3xi32>
  %1 = kiln.cast %f : tensor<3xf32> -> tensor<3xi32>
  // CHECK-DAG: kiln.constant dense<[-3.000000e+00, 0.000000e+00, 7.000000e+00]> : tensor<3xf32>
  %2 = kiln.cast %i : tensor<3xi32> -> tensor<3xf32>
  // CHECK-DAG: kiln.constant dense<[true, false, true]> : tensor<3xi1>
  %3 = kiln.cast %f : tensor<3xf32> -> tensor<3xi1>
  // CHECK-DAG: kiln.constant dense<[1.000000e+00, 0.000000e+00]> : tensor<2xf32>
  %4 = kiln.cast %b : tensor<2xi1> -> tensor<2xf32>
  // CHECK-DAG: kiln.constant dense<[-3, 0, 7]> : tensor<3xi64>
  %5 = kiln.cast %i : tensor<3xi32> -> tensor<3xi64>
  // CHECK: return %[[X]],
  return %0, %1, %2, %3, %4, %5 : tensor<2xf32>, tensor<3xi32>, tensor<3xf32>, tensor<3xi1>, tensor<2xf32>, tensor<3xi64>
}

// -----

// CHECK-LABEL: func.func @reductions_over_nothing
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>)
func.func @reductions_over_nothing(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
  %0 = kiln.reduce_sum %x {axes = array<i64>} : tensor<2x3xf32> -> tensor<2x3xf32>
  %1 = kiln.reduce_mean %x {axes = array<i64>} : tensor<2x3xf32> -> tensor<2x3xf32>
  %2 = kiln.reduce_max %x {axes = array<i64>} : tensor<2x3xf32> -> tensor<2x3xf32>
  %3 = kiln.reduce_min %x {axes = array<i64>} : tensor<2x3xf32> -> tensor<2x3xf32>
  %4 = kiln.reduce_prod %x {axes = array<i64>} : tensor<2x3xf32> -> tensor<2x3xf32>
  // CHECK: return %[[X]], %[[X]], %[[X]], %[[X]], %[[X]]
  return %0, %1, %2, %3, %4 : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}

// -----

// CHECK-LABEL: func.func @reshapes
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>)
func.func @reshapes(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<3x2xf32>, tensor<2x2xf32>) {
  %0 = kiln.reshape %x : tensor<2x3xf32> -> tensor<6xf32>
  %1 = kiln.reshape %0 : tensor<6xf32> -> tensor<2x3xf32>
  // CHECK-DAG: %[[R:.*]] = kiln.reshape %[[X]] : tensor<2x3xf32> -> tensor<3x2xf32>
  %2 = kiln.reshape %0 : tensor<6xf32> -> tensor<3x2xf32>
  // CHECK-DAG: %[[C:.*]] = kiln.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
  %c = kiln.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %3 = kiln.reshape %c : tensor<4xf32> -> tensor<2x2xf32>
  // CHECK: return %[[X]], %[[R]], %[[C]]
  return %1, %2, %3 : tensor<2x3xf32>, tensor<3x2xf32>, tensor<2x2xf32>
}

// -----

// CHECK-LABEL: func.func @transposes
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x4xf32>)
func.func @transposes(%x: tensor<2x3x4xf32>) -> (tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<4x3x2xf32>, tensor<3x2xf32>) {
  %0 = kiln.transpose %x {permutation = array<i64: 0, 1, 2>} : tensor<2x3x4xf32> -> tensor<2x3x4xf32>
  %1 = kiln.transpose %x {permutation = array<i64: 1, 2, 0>} : tensor<2x3x4xf32> -> tensor<3x4x2xf32>
  %2 = kiln.transpose %1 {permutation = array<i64: 2, 0, 1>} : tensor<3x4x2xf32> -> tensor<2x3x4xf32>
  %3 = kiln.transpose %1 {permutation = array<i64: 1, 2, 0>} : tensor<3x4x2xf32> -> tensor<4x2x3xf32>
  // Three transposes compose into one.
  // CHECK-DAG: %[[T:.*]] = kiln.transpose %[[X]] {permutation = array<i64: 2, 1, 0>} : tensor<2x3x4xf32> -> tensor<4x3x2xf32>
  %4 = kiln.transpose %3 {permutation = array<i64: 0, 2, 1>} : tensor<4x2x3xf32> -> tensor<4x3x2xf32>
  // CHECK-DAG: %[[S:.*]] = kiln.constant dense<5.000000e+00> : tensor<3x2xf32>
  %c = kiln.constant dense<5.0> : tensor<2x3xf32>
  %5 = kiln.transpose %c {permutation = array<i64: 1, 0>} : tensor<2x3xf32> -> tensor<3x2xf32>
  // CHECK: return %[[X]], %[[X]], %[[T]], %[[S]]
  return %0, %2, %4, %5 : tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<4x3x2xf32>, tensor<3x2xf32>
}

// -----

// CHECK-LABEL: func.func @trivial_shape_ops
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>)
func.func @trivial_shape_ops(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<4x3xf32>, tensor<1x2xf32>) {
  %0 = kiln.broadcast_to %x : tensor<2x3xf32> -> tensor<2x3xf32>
  %1 = kiln.concat %x {axis = 1 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %2 = kiln.slice %x {start = array<i64: 0, 0>, limit = array<i64: 2, 3>, stride = array<i64: 1, 1>} : tensor<2x3xf32> -> tensor<2x3xf32>
  %3 = kiln.pad %x {low = array<i64: 0, 0>, high = array<i64: 0, 0>} : tensor<2x3xf32> -> tensor<2x3xf32>
  // CHECK-DAG: %[[B:.*]] = kiln.constant dense<1.000000e+00> : tensor<4x3xf32>
  %c = kiln.constant dense<1.0> : tensor<3xf32>
  %4 = kiln.broadcast_to %c : tensor<3xf32> -> tensor<4x3xf32>
  // CHECK-DAG: %[[S:.*]] = kiln.constant dense<2.000000e+00> : tensor<1x2xf32>
  %d = kiln.constant dense<2.0> : tensor<4x4xf32>
  %5 = kiln.slice %d {start = array<i64: 1, 0>, limit = array<i64: 2, 4>, stride = array<i64: 1, 2>} : tensor<4x4xf32> -> tensor<1x2xf32>
  // CHECK: return %[[X]], %[[X]], %[[X]], %[[X]], %[[B]], %[[S]]
  return %0, %1, %2, %3, %4, %5 : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<4x3xf32>, tensor<1x2xf32>
}

// -----

// Large constants are not folded elementwise (only splats are).
// CHECK-LABEL: func.func @fold_limit
func.func @fold_limit(%x: tensor<2048xf32>) -> tensor<2048xf32> {
  %c = kiln.iota {dimension = 0 : i64} : tensor<2048xf32>
  %s = kiln.constant dense<2.0> : tensor<2048xf32>
  // CHECK: kiln.constant dense<4.000000e+00> : tensor<2048xf32>
  %0 = kiln.mul %s, %s : tensor<2048xf32>, tensor<2048xf32> -> tensor<2048xf32>
  // CHECK: kiln.add
  %1 = kiln.add %0, %c : tensor<2048xf32>, tensor<2048xf32> -> tensor<2048xf32>
  return %1 : tensor<2048xf32>
}

// -----

// known_value folds only when the promise is trivial (the same value); any
// other stays for kiln-autodiff.
// CHECK-LABEL: func.func @known_value
// CHECK-SAME: (%[[X:[a-zA-Z0-9_]+]]: tensor<3xf32>, %[[K:[a-zA-Z0-9_]+]]: tensor<3xf32>)
// CHECK: %[[R:.*]] = kiln.known_value %[[X]], %[[K]] : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
// CHECK: return %[[X]], %[[R]]
func.func @known_value(%x: tensor<3xf32>, %k: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %0 = kiln.known_value %x, %x : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %1 = kiln.known_value %x, %k : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  return %0, %1 : tensor<3xf32>, tensor<3xf32>
}

// -----

// A static extent folds to a constant; an open one stays.
// CHECK-LABEL: func.func @dim
// CHECK-DAG: %[[C:.*]] = kiln.constant dense<3> : tensor<i64>
// CHECK-DAG: %[[D:.*]] = kiln.dim %arg0 {axis = 0 : i64}
// CHECK: return %[[D]], %[[C]]
func.func @dim(%x: tensor<?x3xf32>) -> (tensor<i64>, tensor<i64>) {
  %0 = kiln.dim %x {axis = 0 : i64} : tensor<?x3xf32> -> tensor<i64>
  %1 = kiln.dim %x {axis = 1 : i64} : tensor<?x3xf32> -> tensor<i64>
  return %0, %1 : tensor<i64>, tensor<i64>
}

// -----

// Trigonometric ops of constants fold, in double rounded to the type
// (atan2's first operand is the y coordinate).
// CHECK-LABEL: func.func @fold_trigonometry
// CHECK-DAG: kiln.constant dense<[0.463647604, -0.321750551]> : tensor<2xf32>
// CHECK-DAG: kiln.constant dense<[0.78539816339744828, -0.78539816339744828]> : tensor<2xf64>
// CHECK-DAG: kiln.constant dense<1.1752011936438014> : tensor<f64>
// CHECK-NOT: kiln.atan
// CHECK-NOT: kiln.sinh
func.func @fold_trigonometry() -> (tensor<2xf32>, tensor<2xf64>, tensor<f64>) {
  %a = kiln.constant dense<[1.0, -1.0]> : tensor<2xf32>
  %b = kiln.constant dense<[2.0, 3.0]> : tensor<2xf32>
  %c = kiln.atan2 %a, %b : tensor<2xf32>, tensor<2xf32> -> tensor<2xf32>
  %d = kiln.constant dense<[1.0, -1.0]> : tensor<2xf64>
  %e = kiln.atan %d : tensor<2xf64>
  %one = kiln.constant dense<1.0> : tensor<f64>
  %s = kiln.sinh %one : tensor<f64>
  return %c, %e, %s : tensor<2xf32>, tensor<2xf64>, tensor<f64>
}

// -----

// Bitwise ops of constants fold; the shifts fold every amount as they run
// (outside [0, width): 0, or the sign for shift_right_arithmetic).
// CHECK-LABEL: func.func @fold_bitwise
// CHECK-DAG: kiln.constant dense<[4, 0, 12]> : tensor<3xi32>
// CHECK-DAG: kiln.constant dense<[14, -1, 14]> : tensor<3xi32>
// CHECK-DAG: kiln.constant dense<[10, -1, 2]> : tensor<3xi32>
// CHECK-DAG: kiln.constant dense<[-7, 0, -13]> : tensor<3xi32>
// CHECK-DAG: kiln.constant dense<[24, -2147483648, 0, 0, 0]> : tensor<5xi32>
// CHECK-DAG: kiln.constant dense<[3, -1, -1, 0, -1]> : tensor<5xi32>
// CHECK-DAG: kiln.constant dense<[3, 1, 0, 0, 1]> : tensor<5xi32>
// CHECK-DAG: kiln.constant dense<-9223372036854775808> : tensor<i64>
// CHECK-NOT: kiln.bitwise
// CHECK-NOT: kiln.shift
func.func @fold_bitwise() -> (tensor<3xi32>, tensor<3xi32>, tensor<3xi32>, tensor<3xi32>, tensor<5xi32>, tensor<5xi32>, tensor<5xi32>, tensor<i64>) {
  %a = kiln.constant dense<[6, -1, 12]> : tensor<3xi32>
  %b = kiln.constant dense<[12, 0, 14]> : tensor<3xi32>
  %0 = kiln.bitwise_and %a, %b : tensor<3xi32>, tensor<3xi32> -> tensor<3xi32>
  %1 = kiln.bitwise_or %a, %b : tensor<3xi32>, tensor<3xi32> -> tensor<3xi32>
  %2 = kiln.bitwise_xor %a, %b : tensor<3xi32>, tensor<3xi32> -> tensor<3xi32>
  %3 = kiln.bitwise_not %a : tensor<3xi32>
  %x = kiln.constant dense<[12, -7, -7, 7, -2147483648]> : tensor<5xi32>
  %n = kiln.constant dense<[1, 31, 32, -1, 31]> : tensor<5xi32>
  %m = kiln.constant dense<[2, 31, 40, -1, 31]> : tensor<5xi32>
  %4 = kiln.shift_left %x, %n : tensor<5xi32>, tensor<5xi32> -> tensor<5xi32>
  %5 = kiln.shift_right_arithmetic %x, %m : tensor<5xi32>, tensor<5xi32> -> tensor<5xi32>
  %6 = kiln.shift_right_logical %x, %m : tensor<5xi32>, tensor<5xi32> -> tensor<5xi32>
  %one = kiln.constant dense<1> : tensor<i64>
  %s = kiln.constant dense<63> : tensor<i64>
  %7 = kiln.shift_left %one, %s : tensor<i64>, tensor<i64> -> tensor<i64>
  return %0, %1, %2, %3, %4, %5, %6, %7 : tensor<3xi32>, tensor<3xi32>, tensor<3xi32>, tensor<3xi32>, tensor<5xi32>, tensor<5xi32>, tensor<5xi32>, tensor<i64>
}

// -----

// Identities: x & x, x | x, x & -1, x | 0, x ^ 0, a shift by 0, ~~x.
// CHECK-LABEL: func.func @bitwise_identities
// CHECK-SAME: (%[[X:.*]]: tensor<4xi64>)
// CHECK-NOT: kiln.bitwise
// CHECK-NOT: kiln.shift
// CHECK: return %[[X]], %[[X]], %[[X]], %[[X]], %[[X]], %[[X]], %[[X]]
func.func @bitwise_identities(%x: tensor<4xi64>) -> (tensor<4xi64>, tensor<4xi64>, tensor<4xi64>, tensor<4xi64>, tensor<4xi64>, tensor<4xi64>, tensor<4xi64>) {
  %ones = kiln.constant dense<-1> : tensor<4xi64>
  %zero = kiln.constant dense<0> : tensor<4xi64>
  %0 = kiln.bitwise_and %x, %x : tensor<4xi64>, tensor<4xi64> -> tensor<4xi64>
  %1 = kiln.bitwise_or %x, %x : tensor<4xi64>, tensor<4xi64> -> tensor<4xi64>
  %2 = kiln.bitwise_and %x, %ones : tensor<4xi64>, tensor<4xi64> -> tensor<4xi64>
  %3 = kiln.bitwise_or %x, %zero : tensor<4xi64>, tensor<4xi64> -> tensor<4xi64>
  %4 = kiln.bitwise_xor %x, %zero : tensor<4xi64>, tensor<4xi64> -> tensor<4xi64>
  %5 = kiln.shift_right_logical %x, %zero : tensor<4xi64>, tensor<4xi64> -> tensor<4xi64>
  %n = kiln.bitwise_not %x : tensor<4xi64>
  %6 = kiln.bitwise_not %n : tensor<4xi64>
  return %0, %1, %2, %3, %4, %5, %6 : tensor<4xi64>, tensor<4xi64>, tensor<4xi64>, tensor<4xi64>, tensor<4xi64>, tensor<4xi64>, tensor<4xi64>
}
