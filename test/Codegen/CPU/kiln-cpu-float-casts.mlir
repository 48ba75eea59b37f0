// RUN: tensor-opt %s --kiln-cpu-float-casts --split-input-file | FileCheck %s
// RUN: tensor-opt %s --split-input-file --math-extend-to-supported-types \
// RUN:   --kiln-cpu-float-casts --canonicalize | FileCheck %s --check-prefix=CHAIN

// Casts lose `contract` (other flags stay); other ops keep theirs.
// CHECK-LABEL: func.func @flags
// CHECK: %[[H:.*]] = arith.truncf %{{.*}} : f32 to f16
// CHECK: arith.extf %[[H]] fastmath<nnan> : f16 to f32
// CHECK: arith.mulf %{{.*}}, %{{.*}} fastmath<contract> : f32
func.func @flags(%x: f32) -> f32 {
  %h = arith.truncf %x fastmath<contract> : f32 to f16
  %w = arith.extf %h fastmath<nnan,contract> : f16 to f32
  %m = arith.mulf %w, %x fastmath<contract> : f32
  return %m : f32
}

// f16 math is computed in f32 and each result rounded: floor reads erf's
// result rounded to f16, not erf's f32 value (the casts used to fold).
// CHAIN-LABEL: func.func @chain
// CHAIN: %[[E:.*]] = math.erf %{{.*}} : f32
// CHAIN: %[[R:.*]] = arith.truncf %[[E]] : f32 to f16
// CHAIN: %[[W:.*]] = arith.extf %[[R]] : f16 to f32
// CHAIN: math.floor %[[W]] : f32
func.func @chain(%x: f16) -> f16 {
  %e = math.erf %x : f16
  %f = math.floor %e : f16
  return %f : f16
}

// -----

// f64 to bf16: to f32 rounded to odd (toward zero, then the last bit set
// when the first step was inexact), then to nearest even, in integer
// operations (a NaN becomes bf16's quiet NaN).
// CHECK-LABEL: func.func @to_bf16
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i32
// CHECK: %[[N:.*]] = arith.truncf %[[X:.*]] : f64 to f32
// CHECK: %[[B:.*]] = arith.extf %[[N]] : f32 to f64
// CHECK: %[[IN:.*]] = arith.cmpf one, %[[B]], %[[X]] : f64
// CHECK: %[[AB:.*]] = math.absf %[[B]] : f64
// CHECK: %[[AX:.*]] = math.absf %[[X]] : f64
// CHECK: %[[AWAY:.*]] = arith.cmpf ogt, %[[AB]], %[[AX]] : f64
// CHECK: %[[BITS:.*]] = arith.bitcast %[[N]] : f32 to i32
// CHECK: %[[DOWN:.*]] = arith.subi %[[BITS]], %[[ONE]] : i32
// CHECK: %[[TZ:.*]] = arith.select %[[AWAY]], %[[DOWN]], %[[BITS]] : i32
// CHECK: %[[ODD:.*]] = arith.ori %[[TZ]], %[[ONE]] : i32
// CHECK: %[[F:.*]] = arith.bitcast %[[ODD]] : i32 to f32
// CHECK: %[[R:.*]] = arith.select %[[IN]], %[[F]], %[[N]] : f32
// CHECK: %[[NAN:.*]] = arith.cmpf une, %[[R]], %[[R]] : f32
// CHECK-DAG: %[[BIAS:.*]] = arith.constant 32767 : i32
// CHECK-DAG: %[[QNAN:.*]] = arith.constant 32704 : i16
// CHECK: %[[RB:.*]] = arith.bitcast %[[R]] : f32 to i32
// CHECK: arith.addi %{{.*}}, %[[BIAS]] : i32
// CHECK: %[[T:.*]] = arith.trunci %{{.*}} : i32 to i16
// CHECK: %[[S:.*]] = arith.select %[[NAN]], %[[QNAN]], %[[T]] : i16
// CHECK: arith.bitcast %[[S]] : i16 to bf16
// CHECK-NOT: arith.truncf
func.func @to_bf16(%x: f64) -> bf16 {
  %b = arith.truncf %x : f64 to bf16
  return %b : bf16
}

// Vectors lane by lane; f64 to f16 likewise (its last step left to LLVM,
// which has F16C or inline code for it); f64 to f32 is LLVM's.
// CHECK-LABEL: func.func @others
// CHECK: arith.constant dense<1> : vector<4xi32>
// CHECK: arith.truncf %{{.*}} : vector<4xf64> to vector<4xf32>
// CHECK: arith.bitcast %{{.*}} : vector<4xi16> to vector<4xbf16>
// CHECK: arith.bitcast %{{.*}} : i16 to bf16
// CHECK: arith.truncf %{{.*}} : f64 to f32
// CHECK: arith.ori
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: arith.truncf %{{.*}} : f64 to f32
// CHECK-NOT: arith.truncf
func.func @others(%v: vector<4xf64>, %s: f32, %d: f64) -> (vector<4xbf16>, bf16, f16, f32) {
  %b = arith.truncf %v : vector<4xf64> to vector<4xbf16>
  %c = arith.truncf %s : f32 to bf16
  %h = arith.truncf %d : f64 to f16
  %f = arith.truncf %d : f64 to f32
  return %b, %c, %h, %f : vector<4xbf16>, bf16, f16, f32
}

// bf16 arithmetic is computed in f32, each result rounded (in integer
// operations) before the next op reads it; widening is a shift.
// CHECK-LABEL: func.func @bf16_arithmetic
// CHECK: arith.shli
// CHECK: arith.shli
// CHECK: %[[S:.*]] = arith.addf %{{.*}}, %{{.*}} : vector<4xf32>
// CHECK: arith.bitcast %[[S]] : vector<4xf32> to vector<4xi32>
// CHECK: %[[H:.*]] = arith.bitcast %{{.*}} : vector<4xi16> to vector<4xbf16>
// CHECK: %[[HI:.*]] = arith.bitcast %[[H]] : vector<4xbf16> to vector<4xi16>
// CHECK: %[[W:.*]] = arith.extui %[[HI]]
// CHECK: %[[WS:.*]] = arith.shli %[[W]]
// CHECK: %[[WF:.*]] = arith.bitcast %[[WS]] : vector<4xi32> to vector<4xf32>
// CHECK: arith.maximumf %[[WF]], %{{.*}} : vector<4xf32>
// CHECK-NOT: arith.addf {{.*}}bf16
func.func @bf16_arithmetic(%a: vector<4xbf16>, %b: vector<4xbf16>) -> vector<4xbf16> {
  %s = arith.addf %a, %b : vector<4xbf16>
  %m = arith.maximumf %s, %a : vector<4xbf16>
  return %m : vector<4xbf16>
}

// -----

// math.fma on half types: one f32 fma, rounded once.
// CHECK-LABEL: func.func @half_fma
// CHECK-COUNT-3: arith.extf %{{.*}} : f16 to f32
// CHECK: %[[F:.*]] = math.fma %{{.*}}, %{{.*}}, %{{.*}} : f32
// CHECK: arith.truncf %[[F]] : f32 to f16
// CHECK-NOT: math.fma {{.*}}f16
func.func @half_fma(%a: f16, %b: f16, %c: f16) -> f16 {
  %f = math.fma %a, %b, %c : f16
  return %f : f16
}
