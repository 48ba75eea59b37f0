// Storage types (i8, i16, ui8, ui16, ui32) through convert-kiln-to-linalg:
// signedness is erased everywhere (function types, constants, variables)
// after each cast from or to an unsigned type has recorded it, and casts
// zero-extend, convert as unsigned and saturate at 0 and 2^w - 1.
// RUN: tensor-opt %s --convert-kiln-to-linalg | FileCheck %s
// RUN: tensor-opt %s --canonicalize | FileCheck %s --check-prefix=FOLD

// CHECK-LABEL: func.func @from_unsigned(
// CHECK-SAME: %[[X:.*]]: tensor<4xi8>) -> (tensor<4xf32>, tensor<4xi32>, tensor<2x2xi8>)
// CHECK: ^bb0(%[[IN:.*]]: i8, %{{.*}}: f32):
// CHECK-NEXT: arith.uitofp %[[IN]] : i8 to f32
// CHECK: ^bb0(%[[IN2:.*]]: i8, %{{.*}}: i32):
// CHECK-NEXT: arith.extui %[[IN2]] : i8 to i32
// CHECK: tensor.expand_shape %[[X]]
// CHECK-NOT: ui8
func.func @from_unsigned(%x: tensor<4xui8>) -> (tensor<4xf32>, tensor<4xi32>, tensor<2x2xui8>) {
  %f = kiln.cast %x : tensor<4xui8> -> tensor<4xf32>
  %i = kiln.cast %x : tensor<4xui8> -> tensor<4xi32>
  %r = kiln.reshape %x : tensor<4xui8> -> tensor<2x2xui8>
  return %f, %i, %r : tensor<4xf32>, tensor<4xi32>, tensor<2x2xui8>
}

// A float to ui16 saturates at 0 and 65535 (NaN is 0); to i8 at -128 and
// 127; a signed i8 sign-extends.
// CHECK-LABEL: func.func @to_unsigned(
// CHECK: arith.fptoui %{{.*}} : f32 to i16
// CHECK-DAG: arith.constant 0.000000e+00 : f32
// CHECK-DAG: arith.constant 6.553600e+04 : f32
// CHECK-DAG: arith.constant -1 : i16
// CHECK: arith.fptosi %{{.*}} : f32 to i8
// CHECK-DAG: arith.constant -1.280000e+02 : f32
// CHECK-DAG: arith.constant 127 : i8
// CHECK: arith.extsi %{{.*}} : i8 to i32
func.func @to_unsigned(%x: tensor<4xf32>, %y: tensor<4xi8>) -> (tensor<4xui16>, tensor<4xi8>, tensor<4xi32>) {
  %a = kiln.cast %x : tensor<4xf32> -> tensor<4xui16>
  %b = kiln.cast %x : tensor<4xf32> -> tensor<4xi8>
  %c = kiln.cast %y : tensor<4xi8> -> tensor<4xi32>
  return %a, %b, %c : tensor<4xui16>, tensor<4xi8>, tensor<4xi32>
}

// i32 to ui8 keeps the low bits; ui32 to i64 zero-extends.
// CHECK-LABEL: func.func @between_integers(
// CHECK: arith.trunci %{{.*}} : i32 to i8
// CHECK: arith.extui %{{.*}} : i32 to i64
func.func @between_integers(%x: tensor<4xi32>, %y: tensor<4xui32>) -> (tensor<4xui8>, tensor<4xi64>) {
  %a = kiln.cast %x : tensor<4xi32> -> tensor<4xui8>
  %b = kiln.cast %y : tensor<4xui32> -> tensor<4xi64>
  return %a, %b : tensor<4xui8>, tensor<4xi64>
}

// Constants of unsigned types keep their bits.
// CHECK-LABEL: func.func @constants(
// CHECK: arith.constant dense<[-56, -1]> : tensor<2xi8>
func.func @constants() -> tensor<2xui8> {
  %c = kiln.constant dense<[200, 255]> : tensor<2xui8>
  return %c : tensor<2xui8>
}

// Folds read unsigned constants as unsigned, signed ones as signed.
// FOLD-LABEL: func.func @folds(
// FOLD-DAG: kiln.constant dense<[2.000000e+02, 2.550000e+02]> : tensor<2xf32>
// FOLD-DAG: kiln.constant dense<[-5.600000e+01, -1.000000e+00]> : tensor<2xf32>
// FOLD-DAG: kiln.constant dense<[0, 255, 7]> : tensor<3xui8>
// FOLD-DAG: kiln.constant dense<[200, 65535]> : tensor<2xi32>
// FOLD-DAG: kiln.constant dense<[200, 255]> : tensor<2xi32>
func.func @folds() -> (tensor<2xf32>, tensor<2xf32>, tensor<3xui8>, tensor<2xi32>, tensor<2xi32>) {
  %u = kiln.constant dense<[200, 255]> : tensor<2xui8>
  %s = kiln.constant dense<[-56, -1]> : tensor<2xi8>
  %a = kiln.cast %u : tensor<2xui8> -> tensor<2xf32>
  %b = kiln.cast %s : tensor<2xi8> -> tensor<2xf32>
  %f = kiln.constant dense<[-3.0, 300.0, 7.9]> : tensor<3xf32>
  %c = kiln.cast %f : tensor<3xf32> -> tensor<3xui8>
  %w = kiln.constant dense<[200, -1]> : tensor<2xi16>
  %d = kiln.cast %w {unsigned_input} : tensor<2xi16> -> tensor<2xi32>
  %e = kiln.cast %u : tensor<2xui8> -> tensor<2xi32>
  return %a, %b, %c, %d, %e : tensor<2xf32>, tensor<2xf32>, tensor<3xui8>, tensor<2xi32>, tensor<2xi32>
}
