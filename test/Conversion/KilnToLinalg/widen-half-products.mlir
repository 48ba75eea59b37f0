// RUN: tensor-opt %s --convert-kiln-to-linalg | FileCheck %s
// RUN: tensor-opt %s --convert-kiln-to-linalg=widen-half-products=false | FileCheck %s --check-prefix=HALF

// f16 products are computed on f32 operands (the CPU's choice: sums in
// f32), the result rounded to f16 once; GPU code keeps them in f16 for
// the tensor cores, which accumulate in f32 themselves.
// CHECK-LABEL: func.func @matmul
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<4x3000xf32>, tensor<3000x3xf32>) outs(%{{.*}} : tensor<4x3xf32>)
// CHECK: arith.truncf %{{.*}} : f32 to f16
// HALF-LABEL: func.func @matmul
// HALF-NOT: f32
// HALF: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<4x3000xf16>, tensor<3000x3xf16>) outs(%{{.*}} : tensor<4x3xf16>)
func.func @matmul(%a: tensor<4x3000xf16>, %b: tensor<3000x3xf16>) -> tensor<4x3xf16> {
  %0 = kiln.matmul %a, %b : tensor<4x3000xf16>, tensor<3000x3xf16> -> tensor<4x3xf16>
  return %0 : tensor<4x3xf16>
}

// Sums and means of half types accumulate in f32 on every target; the
// mean divides in f32 before rounding (a mean of 10^5 ones is 1, their
// sum no f16).
// CHECK-LABEL: func.func @mean
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4xf32>)
// CHECK: ^bb0(%[[X:.*]]: bf16, %[[ACC:.*]]: f32):
// CHECK: %[[W:.*]] = arith.extf %[[X]] : bf16 to f32
// CHECK: arith.addf %[[ACC]], %[[W]] : f32
// CHECK: arith.divf %{{.*}}, %{{.*}} : f32
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// HALF-LABEL: func.func @mean
// HALF: arith.addf %{{.*}}, %{{.*}} : f32
func.func @mean(%a: tensor<4x3000xbf16>) -> tensor<4xbf16> {
  %0 = kiln.reduce_mean %a {axes = array<i64: 1>} : tensor<4x3000xbf16> -> tensor<4xbf16>
  return %0 : tensor<4xbf16>
}
