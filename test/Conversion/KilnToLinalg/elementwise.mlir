// RUN: tensor-opt %s --convert-kiln-to-linalg --split-input-file | FileCheck %s

// Broadcasting is in the indexing maps: the rank-1 operand reads d1 only.
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @add_broadcast
// CHECK-SAME: (%[[A:.*]]: tensor<4x3xf32>, %[[B:.*]]: tensor<3xf32>)
// CHECK: %[[E:.*]] = tensor.empty() : tensor<4x3xf32>
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[ROW]], #[[ID]]], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME: ins(%[[A]], %[[B]] : tensor<4x3xf32>, tensor<3xf32>) outs(%[[E]] : tensor<4x3xf32>)
// CHECK: arith.addf
// CHECK-NOT: kiln.
func.func @add_broadcast(%a: tensor<4x3xf32>, %b: tensor<3xf32>) -> tensor<4x3xf32> {
  %0 = kiln.add %a, %b : tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

// The special functions are arithmetic in the loop body (no library call,
// so the same body serves every target): lgamma's Lanczos sum and
// reflection; erfinv in f64 refined by Newton steps on erf and erfc; a
// 16-bit polygamma computed in f32.
// CHECK-LABEL: func.func @special
// CHECK: linalg.generic
// CHECK: math.log1p
// CHECK: math.sin
// CHECK: linalg.generic
// CHECK-COUNT-2: math.erf {{.*}} : f64
// CHECK-COUNT-4: math.erfc {{.*}} : f64
// CHECK: math.copysign
// CHECK: linalg.generic
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: math.cos {{.*}} : f32
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK-NOT: call
func.func @special(%a: tensor<4xf32>, %b: tensor<4xf64>, %c: tensor<4xbf16>) -> (tensor<4xf32>, tensor<4xf64>, tensor<4xbf16>) {
  %0 = kiln.lgamma %a : tensor<4xf32>
  %1 = kiln.erfinv %b : tensor<4xf64>
  %2 = kiln.polygamma %c {order = 1 : i64} : tensor<4xbf16>
  return %0, %1, %2 : tensor<4xf32>, tensor<4xf64>, tensor<4xbf16>
}

// -----

// An extent of 1 that stretches reads index 0.
// CHECK-DAG: #[[COL:.*]] = affine_map<(d0, d1) -> (d0, 0)>
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1) -> (0, d1)>
// CHECK-LABEL: func.func @outer
// CHECK: linalg.generic {indexing_maps = [#[[COL]], #[[ROW]], #{{.*}}]
// CHECK: arith.mulf
func.func @outer(%a: tensor<4x1xf32>, %b: tensor<1x5xf32>) -> tensor<4x5xf32> {
  %0 = kiln.mul %a, %b : tensor<4x1xf32>, tensor<1x5xf32> -> tensor<4x5xf32>
  return %0 : tensor<4x5xf32>
}

// -----

// Integer division defines x / 0 = 0 and x / -1 = -x instead of trapping.
// CHECK-LABEL: func.func @div_int
// CHECK: %[[Z:.*]] = arith.cmpi eq, %[[Y:.*]], %c0
// CHECK: %[[M:.*]] = arith.cmpi eq, %[[Y]], %c-1
// CHECK: %[[SAFE:.*]] = arith.select %{{.*}}, %c1{{.*}}, %[[Y]]
// CHECK: %[[Q:.*]] = arith.divsi %{{.*}}, %[[SAFE]]
// CHECK: arith.select %[[M]]
// CHECK: arith.select %[[Z]]
func.func @div_int(%a: tensor<4xi32>, %b: tensor<4xi32>) -> tensor<4xi32> {
  %0 = kiln.div %a, %b : tensor<4xi32>, tensor<4xi32> -> tensor<4xi32>
  return %0 : tensor<4xi32>
}

// -----

// CHECK-LABEL: func.func @unary_bodies
// CHECK: math.exp
// CHECK: math.log1p
// CHECK: math.rsqrt
// CHECK: math.tanh
// sigmoid: e = exp(-|x|), t = 1 / (1 + e), t for x >= 0 and e t below
// (no overflow of exp(-x) flushing the subnormal results to 0)
// CHECK: %[[ABS:.*]] = math.absf %[[X:[a-z0-9_]+]]
// CHECK-NEXT: %[[NEG:.*]] = arith.negf %[[ABS]]
// CHECK-NEXT: %[[E:.*]] = math.exp %[[NEG]]
// CHECK: %[[SUM:.*]] = arith.addf %{{.*}}, %[[E]]
// CHECK-NEXT: %[[T:.*]] = arith.divf %{{.*}}, %[[SUM]]
// CHECK: %[[POS:.*]] = arith.cmpf oge, %[[X]]
// CHECK-NEXT: %[[ET:.*]] = arith.mulf %[[E]], %[[T]]
// CHECK-NEXT: arith.select %[[POS]], %[[T]], %[[ET]]
// relu keeps NaN (maximumf propagates it)
// CHECK: arith.maximumf
// CHECK: math.absi
// CHECK: math.floor
// CHECK: math.ceil
func.func @unary_bodies(%x: tensor<3xf32>, %i: tensor<3xi64>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xi64>, tensor<3xf32>, tensor<3xf32>) {
  %0 = kiln.exp %x : tensor<3xf32>
  %1 = kiln.log1p %x : tensor<3xf32>
  %2 = kiln.rsqrt %x : tensor<3xf32>
  %3 = kiln.tanh %x : tensor<3xf32>
  %4 = kiln.sigmoid %x : tensor<3xf32>
  %5 = kiln.relu %x : tensor<3xf32>
  %6 = kiln.abs %i : tensor<3xi64>
  %7 = kiln.floor %x : tensor<3xf32>
  %8 = kiln.ceil %x : tensor<3xf32>
  return %0, %1, %2, %3, %4, %5, %6, %7, %8 : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xi64>, tensor<3xf32>, tensor<3xf32>
}

// -----

// Float comparisons are ordered except `ne`; booleans compare unsigned.
// CHECK-LABEL: func.func @compares
// CHECK: arith.cmpf olt
// CHECK: arith.cmpf une
// CHECK: arith.cmpi slt
// CHECK: arith.cmpi ult
func.func @compares(%x: tensor<3xf32>, %i: tensor<3xi32>, %b: tensor<3xi1>) -> (tensor<3xi1>, tensor<3xi1>, tensor<3xi1>, tensor<3xi1>) {
  %0 = kiln.compare lt, %x, %x : tensor<3xf32>, tensor<3xf32> -> tensor<3xi1>
  %1 = kiln.compare ne, %x, %x : tensor<3xf32>, tensor<3xf32> -> tensor<3xi1>
  %2 = kiln.compare lt, %i, %i : tensor<3xi32>, tensor<3xi32> -> tensor<3xi1>
  %3 = kiln.compare lt, %b, %b : tensor<3xi1>, tensor<3xi1> -> tensor<3xi1>
  return %0, %1, %2, %3 : tensor<3xi1>, tensor<3xi1>, tensor<3xi1>, tensor<3xi1>
}

// -----

// CHECK-LABEL: func.func @casts
// CHECK: arith.fptosi {{.*}} : f32 to i32
// CHECK: arith.uitofp {{.*}} : i1 to f32
// CHECK: arith.cmpf une
// CHECK: arith.extsi {{.*}} : i32 to i64
// bf16 <-> f16 goes through f32
// CHECK: arith.extf {{.*}} : f16 to f32
// CHECK-NEXT: arith.truncf {{.*}} : f32 to bf16
func.func @casts(%x: tensor<2xf32>, %b: tensor<2xi1>, %i: tensor<2xi32>, %h: tensor<2xf16>) -> (tensor<2xi32>, tensor<2xf32>, tensor<2xi1>, tensor<2xi64>, tensor<2xbf16>) {
  %0 = kiln.cast %x : tensor<2xf32> -> tensor<2xi32>
  %1 = kiln.cast %b : tensor<2xi1> -> tensor<2xf32>
  %2 = kiln.cast %x : tensor<2xf32> -> tensor<2xi1>
  %3 = kiln.cast %i : tensor<2xi32> -> tensor<2xi64>
  %4 = kiln.cast %h : tensor<2xf16> -> tensor<2xbf16>
  return %0, %1, %2, %3, %4 : tensor<2xi32>, tensor<2xf32>, tensor<2xi1>, tensor<2xi64>, tensor<2xbf16>
}

// -----

// CHECK-LABEL: func.func @select_constant_iota
// CHECK: arith.constant dense<{{\[}}1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK: linalg.generic
// CHECK: arith.select
// CHECK: linalg.generic
// CHECK: linalg.index 1
// CHECK: arith.sitofp
func.func @select_constant_iota(%c: tensor<2xi1>, %x: tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32>, tensor<2x3xf32>) {
  %k = kiln.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %0 = kiln.select %c, %x, %k : tensor<2xi1>, tensor<2xf32>, tensor<2xf32> -> tensor<2xf32>
  %1 = kiln.iota {dimension = 1 : i64} : tensor<2x3xf32>
  return %0, %k, %1 : tensor<2xf32>, tensor<2xf32>, tensor<2x3xf32>
}

// -----

// Random numbers: SplitMix64 of (seed, linear index), then the affine map to
// [minval, maxval), computed in f64 and rounded to the element type.
// CHECK-LABEL: func.func @random
// CHECK: linalg.generic
// CHECK-DAG: arith.constant -4658895280553007687 : i64
// CHECK-DAG: arith.constant -7723592293110705685 : i64
// CHECK: arith.uitofp {{.*}} : i64 to f64
// CHECK: arith.truncf {{.*}} : f64 to f32
// CHECK: arith.cmpf oge
// CHECK: arith.select
// normal: Box-Muller
// CHECK: linalg.generic
// CHECK: math.log
// CHECK: math.sqrt
// CHECK: math.cos
func.func @random(%seed: tensor<i64>) -> (tensor<8xf32>, tensor<8xf32>) {
  %0 = kiln.random_uniform {static_seed = 1 : i64} : tensor<8xf32>
  %1 = kiln.random_normal %seed : tensor<8xf32>
  return %0, %1 : tensor<8xf32>, tensor<8xf32>
}

// -----

// Open extents of a random tensor come from `like`; the linear index
// multiplies by the extents read at run time.
// CHECK-LABEL: func.func @random_open
// CHECK-SAME: (%[[SEED:.*]]: tensor<i64>, %[[X:.*]]: tensor<?x?xf32>)
// CHECK: %[[C1:.*]] = arith.constant 1 : index
// CHECK: %[[D1:.*]] = tensor.dim %[[X]], %[[C1]]
// CHECK: %[[E:.*]] = tensor.empty(%[[D1]]) : tensor<5x?xf32>
// CHECK: linalg.generic {{.*}} outs(%[[E]] : tensor<5x?xf32>)
// CHECK: %[[J:.*]] = arith.index_cast %[[D1]] : index to i64
// CHECK: arith.muli %{{.*}}, %[[J]] : i64
// CHECK: math.log
func.func @random_open(%seed: tensor<i64>, %x: tensor<?x?xf32>) -> tensor<5x?xf32> {
  %0 = kiln.random_normal %seed like %x : tensor<5x?xf32>, tensor<?x?xf32>
  return %0 : tensor<5x?xf32>
}

// -----

// expm1 stays expm1 (accurate near 0; each target lowers it to libm or
// libdevice), not exp(x) - 1.
// CHECK-LABEL: func.func @expm1
// CHECK: linalg.generic
// CHECK: math.expm1 %{{.*}} : f64
// CHECK-NOT: math.exp
func.func @expm1(%x: tensor<5xf64>) -> tensor<5xf64> {
  %0 = kiln.expm1 %x : tensor<5xf64>
  return %0 : tensor<5xf64>
}

// -----

// erfc stays erfc (1 - erf(x) would lose its tail above x = 4 in f32).
// CHECK-LABEL: func.func @erfc
// CHECK: linalg.generic
// CHECK: math.erfc %{{.*}} : f32
// CHECK-NOT: math.erf %
func.func @erfc(%x: tensor<5xf32>) -> tensor<5xf32> {
  %0 = kiln.erfc %x : tensor<5xf32>
  return %0 : tensor<5xf32>
}

// -----

// Float remainder is arith.remf (fmod, exact); the integer one guards its
// divisor as kiln.div does: x rem 0 = x, x rem -1 = 0.
// CHECK-LABEL: func.func @rem
// CHECK: arith.remf %{{.*}}, %{{.*}} : f32
// CHECK: %[[Z:.*]] = arith.cmpi eq, %[[Y:.*]], %c0
// CHECK: %[[M:.*]] = arith.cmpi eq, %[[Y]], %c-1
// CHECK: %[[SAFE:.*]] = arith.select %{{.*}}, %c1{{.*}}, %[[Y]]
// CHECK: %[[R:.*]] = arith.remsi %[[X:.*]], %[[SAFE]]
// CHECK: %[[R1:.*]] = arith.select %[[M]], %c0{{.*}}, %[[R]]
// CHECK: arith.select %[[Z]], %[[X]], %[[R1]]
func.func @rem(%x: tensor<4xf32>, %y: tensor<4xf32>, %a: tensor<4xi32>, %b: tensor<4xi32>) -> (tensor<4xf32>, tensor<4xi32>) {
  %0 = kiln.rem %x, %y : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  %1 = kiln.rem %a, %b : tensor<4xi32>, tensor<4xi32> -> tensor<4xi32>
  return %0, %1 : tensor<4xf32>, tensor<4xi32>
}

// -----

// known_value is its known operand; what computed the other is left dead
// (removed by the canonicalizer that follows in every pipeline).
// CHECK-LABEL: func.func @known_value
// CHECK-SAME: (%{{.*}}: tensor<4xf32>, %[[K:[a-zA-Z0-9_]+]]: tensor<4xf32>)
// CHECK-NOT: kiln.known_value
// CHECK: return %[[K]] : tensor<4xf32>
func.func @known_value(%x: tensor<4xf32>, %k: tensor<4xf32>) -> tensor<4xf32> {
  %e = kiln.exp %x : tensor<4xf32>
  %0 = kiln.known_value %e, %k : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Compatible types (shape refinement gave the result a size the known
// value's type leaves open): a cast to the result's type.
// CHECK-LABEL: func.func @known_value_open
// CHECK-SAME: (%{{.*}}: tensor<4x3xf32>, %[[K:[a-zA-Z0-9_]+]]: tensor<?x3xf32>)
// CHECK: %[[C:.*]] = tensor.cast %[[K]] : tensor<?x3xf32> to tensor<4x3xf32>
// CHECK: return %[[C]] : tensor<4x3xf32>
func.func @known_value_open(%x: tensor<4x3xf32>, %k: tensor<?x3xf32>) -> tensor<4x3xf32> {
  %0 = kiln.known_value %x, %k : tensor<4x3xf32>, tensor<?x3xf32> -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

// arith's shifts are poison for an amount outside [0, width): Kiln's compare
// the amount unsigned with the width and shift only by one in range.
// CHECK-LABEL: func.func @shifts
// CHECK: %[[IN:.*]] = arith.cmpi ult, %[[N:.*]], %c32_i32
// CHECK: %[[AMT:.*]] = arith.select %[[IN]], %[[N]], %c0_i32
// CHECK: %[[SH:.*]] = arith.shli %{{.*}}, %[[AMT]]
// CHECK: arith.select %[[IN]], %[[SH]], %c0_i32
// CHECK: %[[IN2:.*]] = arith.cmpi ult, %[[M:.*]], %c64_i64
// CHECK: %[[AMT2:.*]] = arith.select %[[IN2]], %[[M]], %c63_i64
// CHECK: arith.shrsi %{{.*}}, %[[AMT2]]
// CHECK: arith.cmpi ult
// CHECK: arith.shrui
// CHECK: arith.xori %{{.*}}, %c-1_i32
func.func @shifts(%a: tensor<4xi32>, %b: tensor<4xi32>, %c: tensor<4xi64>, %d: tensor<4xi64>) -> (tensor<4xi32>, tensor<4xi64>, tensor<4xi64>, tensor<4xi32>) {
  %0 = kiln.shift_left %a, %b : tensor<4xi32>, tensor<4xi32> -> tensor<4xi32>
  %1 = kiln.shift_right_arithmetic %c, %d : tensor<4xi64>, tensor<4xi64> -> tensor<4xi64>
  %2 = kiln.shift_right_logical %c, %d : tensor<4xi64>, tensor<4xi64> -> tensor<4xi64>
  %3 = kiln.bitwise_not %a : tensor<4xi32>
  return %0, %1, %2, %3 : tensor<4xi32>, tensor<4xi64>, tensor<4xi64>, tensor<4xi32>
}

// -----

// A bitcast of equal widths is arith.bitcast per element; to a narrower
// type each piece is shifted down and truncated (piece k from bit k * 32),
// to a wider one the pieces are widened, shifted up and or-ed.
// CHECK-LABEL: func.func @bitcast
// CHECK: arith.bitcast %{{.*}} : f32 to i32
// CHECK: linalg.generic
// CHECK: %[[K:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK: %[[S:.*]] = arith.muli %[[K]], %c32_i64
// CHECK: arith.shrui %{{.*}}, %[[S]] : i64
// CHECK: arith.trunci %{{.*}} : i64 to i32
// CHECK: linalg.generic
// CHECK: arith.extui %{{.*}} : i32 to i64
// CHECK: arith.shli %{{.*}}, %c32_i64
// CHECK: arith.ori
// CHECK: arith.bitcast %{{.*}} : i64 to f64
func.func @bitcast(%f: tensor<4xf32>, %d: tensor<3xf64>, %p: tensor<3x2xi32>) -> (tensor<4xi32>, tensor<3x2xi32>, tensor<3xf64>) {
  %0 = kiln.bitcast %f : tensor<4xf32> -> tensor<4xi32>
  %1 = kiln.bitcast %d : tensor<3xf64> -> tensor<3x2xi32>
  %2 = kiln.bitcast %p : tensor<3x2xi32> -> tensor<3xf64>
  return %0, %1, %2 : tensor<4xi32>, tensor<3x2xi32>, tensor<3xf64>
}
