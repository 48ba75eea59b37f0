// RUN: tensor-opt %s --kiln-cpu-precise-math --split-input-file --verify-diagnostics | FileCheck %s

// expm1 and log1p call libm (f32 and f64 names; a vector one call per
// lane); other math ops are left for convert-math-to-llvm.
// CHECK-DAG: func.func private @expm1f(f32) -> f32
// CHECK-DAG: func.func private @expm1(f64) -> f64
// CHECK-DAG: func.func private @log1pf(f32) -> f32
// CHECK-LABEL: func.func @calls
// CHECK-NOT: math.expm1
// CHECK-NOT: math.log1p
// CHECK: call @expm1f(%{{.*}}) : (f32) -> f32
// CHECK: call @log1pf(%{{.*}}) : (f32) -> f32
// CHECK-COUNT-2: call @expm1(%{{.*}}) : (f64) -> f64
// CHECK-NOT: call @expm1(
// CHECK: math.exp %{{.*}} : f32
func.func @calls(%s: f32, %v: vector<2xf64>) -> (f32, f32, vector<2xf64>, f32) {
  %a = math.expm1 %s : f32
  %b = math.log1p %s : f32
  %c = math.expm1 %v : vector<2xf64>
  %d = math.exp %s : f32
  return %a, %b, %c, %d : f32, f32, vector<2xf64>, f32
}

// -----

// f16 and bf16 are computed in f32.
// CHECK-LABEL: func.func @half
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: call @expm1f
// CHECK: arith.truncf %{{.*}} : f32 to f16
func.func @half(%h: f16) -> f16 {
  %a = math.expm1 %h : f16
  return %a : f16
}

// -----

// A type libm has no function for is an error, not exp(x) - 1.
func.func @wide(%h: f80) -> f80 {
  // expected-error@+1 {{'math.expm1' op has no libm function for its type 'f80'}}
  %a = math.expm1 %h : f80
  return %a : f80
}
