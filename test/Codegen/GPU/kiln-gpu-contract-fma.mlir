// RUN: tensor-opt %s --pass-pipeline="builtin.module(gpu.module(kiln-gpu-contract-fma))" | FileCheck %s

// In kernels, float arithmetic may contract (mul + add -> fma); flags that
// were there stay.
// CHECK-LABEL: gpu.module @kernels
// CHECK: arith.mulf %{{.*}}, %{{.*}} fastmath<contract> : f32
// CHECK: arith.addf %{{.*}}, %{{.*}} fastmath<nnan,contract> : f32
// CHECK: arith.maximumf %{{.*}}, %{{.*}} fastmath<contract> : f32
// CHECK: arith.addi %{{.*}}, %{{.*}} : i32
// Casts do not contract: extf(truncf(x)) would fold to x, losing the rounding.
// CHECK: %[[H:.*]] = arith.truncf %{{.*}} : f32 to f16
// CHECK: arith.extf %[[H]] : f16 to f32
// Host code is not a kernel: untouched.
// CHECK-LABEL: func.func @host
// CHECK: arith.mulf %{{.*}}, %{{.*}} : f32
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%a: f32, %b: f32, %c: f32, %i: i32) kernel {
      %m = arith.mulf %a, %b : f32
      %s = arith.addf %m, %c fastmath<nnan> : f32
      %r = arith.maximumf %s, %a : f32
      %j = arith.addi %i, %i : i32
      %h = arith.truncf %a : f32 to f16
      %w = arith.extf %h : f16 to f32
      gpu.return
    }
  }
  func.func @host(%a: f32, %b: f32) -> f32 {
    %m = arith.mulf %a, %b : f32
    return %m : f32
  }
}
