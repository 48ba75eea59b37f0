// RUN: tensor-opt %s --kiln-widen-half-accumulators --split-input-file | FileCheck %s
// RUN: tensor-opt %s --kiln-widen-half-accumulators=keep-plain-contractions=true --split-input-file | FileCheck %s --check-prefix=KEEP

#lhs = affine_map<(b, m, n, k) -> (b, m, k)>
#rhs = affine_map<(b, m, n, k) -> (b, k, n)>
#out = affine_map<(b, m, n, k) -> (b, m, n)>

// A batch matmul with a cast to f16 fused into it: the cast still rounds
// (truncf, then extf to compute on), the product and the sum are f32, the
// init is extended and the result rounded to f16 once.
// CHECK-LABEL: func.func @fused_cast
// CHECK: %[[INIT:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<2x5x3xf16>) outs(%{{.*}} : tensor<2x5x3xf32>)
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<2x5x7xf32>, tensor<2x7x3xf16>) outs(%[[INIT]] : tensor<2x5x3xf32>)
// CHECK: ^bb0(%[[A:.*]]: f32, %[[B:.*]]: f16, %[[ACC:.*]]: f32):
// CHECK: %[[BW:.*]] = arith.extf %[[B]] : f16 to f32
// CHECK: %[[R:.*]] = arith.truncf %[[A]] : f32 to f16
// CHECK: %[[RW:.*]] = arith.extf %[[R]] : f16 to f32
// CHECK: %[[P:.*]] = arith.mulf %[[RW]], %[[BW]] : f32
// CHECK: %[[S:.*]] = arith.addf %[[ACC]], %[[P]] : f32
// CHECK: linalg.yield %[[S]] : f32
// CHECK: linalg.generic {{.*}} ins(%[[SUM]] : tensor<2x5x3xf32>) outs(%{{.*}} : tensor<2x5x3xf16>)
// CHECK: arith.truncf %{{.*}} : f32 to f16
// KEEP-LABEL: func.func @fused_cast
// KEEP: arith.addf %{{.*}}, %{{.*}} : f32
func.func @fused_cast(%a: tensor<2x5x7xf32>, %b: tensor<2x7x3xf16>, %c: tensor<2x5x3xf16>) -> tensor<2x5x3xf16> {
  %0 = linalg.generic {indexing_maps = [#lhs, #rhs, #out], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%a, %b : tensor<2x5x7xf32>, tensor<2x7x3xf16>) outs(%c : tensor<2x5x3xf16>) {
  ^bb0(%x: f32, %y: f16, %acc: f16):
    %r = arith.truncf %x : f32 to f16
    %p = arith.mulf %r, %y : f16
    %s = arith.addf %acc, %p : f16
    linalg.yield %s : f16
  } -> tensor<2x5x3xf16>
  return %0 : tensor<2x5x3xf16>
}

// -----

#lhs = affine_map<(b, m, n, k) -> (b, m, k)>
#rhs = affine_map<(b, m, n, k) -> (b, k, n)>
#out = affine_map<(b, m, n, k) -> (b, m, n)>

// A plain `acc + a * b` of bf16: widened on the CPU; left to the GPU's
// tiled products with keep-plain-contractions.
// CHECK-LABEL: func.func @plain
// CHECK: ^bb0(%{{.*}}: bf16, %{{.*}}: bf16, %{{.*}}: f32):
// CHECK: arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: arith.addf %{{.*}}, %{{.*}} : f32
// KEEP-LABEL: func.func @plain
// KEEP-NOT: f32
// KEEP: arith.addf %{{.*}}, %{{.*}} : bf16
func.func @plain(%a: tensor<2x5x7xbf16>, %b: tensor<2x7x3xbf16>, %c: tensor<2x5x3xbf16>) -> tensor<2x5x3xbf16> {
  %0 = linalg.generic {indexing_maps = [#lhs, #rhs, #out], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%a, %b : tensor<2x5x7xbf16>, tensor<2x7x3xbf16>) outs(%c : tensor<2x5x3xbf16>) {
  ^bb0(%x: bf16, %y: bf16, %acc: bf16):
    %p = arith.mulf %x, %y : bf16
    %s = arith.addf %acc, %p : bf16
    linalg.yield %s : bf16
  } -> tensor<2x5x3xbf16>
  return %0 : tensor<2x5x3xbf16>
}

// -----

// A body with an op that cannot take f32 in place of f16 (a bitcast) stays
// as it is.
// CHECK-LABEL: func.func @bitcast
// CHECK-NOT: f32
// CHECK: arith.bitcast %{{.*}} : f16 to i16
func.func @bitcast(%a: tensor<8xf16>, %c: tensor<f16>) -> tensor<f16> {
  %0 = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> ()>], iterator_types = ["reduction"]}
      ins(%a : tensor<8xf16>) outs(%c : tensor<f16>) {
  ^bb0(%x: f16, %acc: f16):
    %s = arith.addf %acc, %x : f16
    %i = arith.bitcast %s : f16 to i16
    %k = arith.bitcast %i : i16 to f16
    linalg.yield %k : f16
  } -> tensor<f16>
  return %0 : tensor<f16>
}

// -----

#lhs = affine_map<(b, c, m, n, k) -> (b, c, m, k)>
#rhs = affine_map<(b, c, m, n, k) -> (b, c, k, n)>
#out = affine_map<(b, c, m, n, k) -> (b, c, m, n)>

// Two batch loops: not a product the GPU tiles (it runs as plain loops),
// so it is widened even with keep-plain-contractions.
// KEEP-LABEL: func.func @two_batches
// KEEP: ^bb0(%{{.*}}: f16, %{{.*}}: f16, %{{.*}}: f32):
// KEEP: arith.addf %{{.*}}, %{{.*}} : f32
func.func @two_batches(%a: tensor<2x2x5x7xf16>, %b: tensor<2x2x7x3xf16>, %c: tensor<2x2x5x3xf16>) -> tensor<2x2x5x3xf16> {
  %0 = linalg.generic {indexing_maps = [#lhs, #rhs, #out], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%a, %b : tensor<2x2x5x7xf16>, tensor<2x2x7x3xf16>) outs(%c : tensor<2x2x5x3xf16>) {
  ^bb0(%x: f16, %y: f16, %acc: f16):
    %p = arith.mulf %x, %y : f16
    %s = arith.addf %acc, %p : f16
    linalg.yield %s : f16
  } -> tensor<2x2x5x3xf16>
  return %0 : tensor<2x2x5x3xf16>
}

// -----

// A comparison with a half value from outside the body (a hoisted
// constant) takes it extended; a maximum is exact in f16 and is left alone.
// CHECK-LABEL: func.func @captured
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction"]
// CHECK-NEXT: ^bb0(%[[X:.*]]: f16, %[[ACC:.*]]: f32):
// CHECK: %[[XW:[0-9]+]] = arith.extf %[[X]] : f16 to f32
// CHECK-NEXT: %[[CW:[0-9]+]] = arith.extf %{{.*}} : f16 to f32
// CHECK-NEXT: arith.cmpf ogt, %[[XW]], %[[CW]] : f32
// CHECK: arith.addf %[[ACC]], %{{.*}} : f32
// CHECK-LABEL: func.func @maximum
// CHECK-NOT: f32
// CHECK: arith.maximumf %{{.*}}, %{{.*}} : f16
func.func @captured(%a: tensor<8xf16>, %c: tensor<f16>) -> tensor<f16> {
  %zero = arith.constant 0.0 : f16
  %0 = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> ()>], iterator_types = ["reduction"]}
      ins(%a : tensor<8xf16>) outs(%c : tensor<f16>) {
  ^bb0(%x: f16, %acc: f16):
    %p = arith.cmpf ogt, %x, %zero : f16
    %s = arith.select %p, %x, %zero : f16
    %r = arith.addf %acc, %s : f16
    linalg.yield %r : f16
  } -> tensor<f16>
  return %0 : tensor<f16>
}
func.func @maximum(%a: tensor<8xf16>, %c: tensor<f16>) -> tensor<f16> {
  %0 = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> ()>], iterator_types = ["reduction"]}
      ins(%a : tensor<8xf16>) outs(%c : tensor<f16>) {
  ^bb0(%x: f16, %acc: f16):
    %r = arith.maximumf %acc, %x : f16
    linalg.yield %r : f16
  } -> tensor<f16>
  return %0 : tensor<f16>
}

// -----

// A plain product over several reduction loops (a filter gradient): the
// GPU stage rewrites it as a patch gather and a tiled product, so with
// keep-plain-contractions it stays; the CPU widens it.
// CHECK-LABEL: func.func @filter_gradient
// CHECK: arith.addf %{{.*}}, %{{.*}} : f32
// KEEP-LABEL: func.func @filter_gradient
// KEEP-NOT: f32
// KEEP: arith.addf %{{.*}}, %{{.*}} : f16
func.func @filter_gradient(%x: tensor<2x6x6x3xf16>, %dy: tensor<2x4x4x5xf16>, %c: tensor<3x3x3x5xf16>) -> tensor<3x3x3x5xf16> {
  %0 = linalg.generic {indexing_maps = [affine_map<(kh, kw, ci, co, n, h, w) -> (n, h + kh, w + kw, ci)>,
                                        affine_map<(kh, kw, ci, co, n, h, w) -> (n, h, w, co)>,
                                        affine_map<(kh, kw, ci, co, n, h, w) -> (kh, kw, ci, co)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
      ins(%x, %dy : tensor<2x6x6x3xf16>, tensor<2x4x4x5xf16>) outs(%c : tensor<3x3x3x5xf16>) {
  ^bb0(%a: f16, %b: f16, %acc: f16):
    %p = arith.mulf %a, %b : f16
    %s = arith.addf %acc, %p : f16
    linalg.yield %s : f16
  } -> tensor<3x3x3x5xf16>
  return %0 : tensor<3x3x3x5xf16>
}
