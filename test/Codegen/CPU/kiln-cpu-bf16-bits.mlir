// RUN: tensor-opt %s --kiln-cpu-bf16-bits | FileCheck %s

// bf16 loads, stores and block arguments carry i16 (x86 LLVM without
// AVX512-BF16 keeps a bf16 phi in f32 and calls __truncsfbf2 to store it).
// CHECK-LABEL: llvm.func @copy_through_a_phi
// The casts between meet and fold away: the value is only copied.
// CHECK: %[[L:.*]] = llvm.load %{{.*}} : !llvm.ptr -> i16
// CHECK: %[[V:.*]] = llvm.load %{{.*}} : !llvm.ptr -> vector<8xi16>
// CHECK: %[[Z:.*]] = llvm.mlir.constant(0.000000e+00 : bf16) : bf16
// CHECK: %[[ZI:.*]] = llvm.bitcast %[[Z]] : bf16 to i16
// CHECK: llvm.cond_br %{{.*}}, ^[[X:.*]](%[[L]], %[[V]] : i16, vector<8xi16>), ^[[X]](%[[ZI]], %[[V]] : i16, vector<8xi16>)
// CHECK: ^[[X]](%[[S:.*]]: i16, %[[W:.*]]: vector<8xi16>):
// CHECK-NEXT: llvm.store %[[S]], %{{.*}} : i16, !llvm.ptr
// CHECK-NEXT: llvm.intr.masked.store %[[W]], %{{.*}}, %{{.*}} {alignment = 2 : i32} : vector<8xi16>, vector<8xi1> into !llvm.ptr
// Other types are left alone.
// CHECK-NEXT: llvm.load %{{.*}} : !llvm.ptr -> f16
llvm.func @copy_through_a_phi(%c: i1, %p: !llvm.ptr, %m: vector<8xi1>) {
  %l = llvm.load %p : !llvm.ptr -> bf16
  %v = llvm.load %p : !llvm.ptr -> vector<8xbf16>
  %z = llvm.mlir.constant(0.0 : bf16) : bf16
  llvm.cond_br %c, ^x(%l, %v : bf16, vector<8xbf16>), ^x(%z, %v : bf16, vector<8xbf16>)
^x(%s: bf16, %w: vector<8xbf16>):
  llvm.store %s, %p : bf16, !llvm.ptr
  llvm.intr.masked.store %w, %p, %m {alignment = 2 : i32} : vector<8xbf16>, vector<8xi1> into !llvm.ptr
  %h = llvm.load %p : !llvm.ptr -> f16
  llvm.return
}

// A masked load's pass-through value is cast with it.
// CHECK-LABEL: llvm.func @masked_load
// CHECK: %[[P:.*]] = llvm.bitcast %{{.*}} : vector<4xbf16> to vector<4xi16>
// CHECK: %[[M:.*]] = llvm.intr.masked.load %{{.*}}, %{{.*}}, %[[P]] {alignment = 2 : i32} : (!llvm.ptr, vector<4xi1>, vector<4xi16>) -> vector<4xi16>
// CHECK: %[[MB:.*]] = llvm.bitcast %[[M]] : vector<4xi16> to vector<4xbf16>
// CHECK: llvm.return %[[MB]]
llvm.func @masked_load(%p: !llvm.ptr, %m: vector<4xi1>, %pass: vector<4xbf16>) -> vector<4xbf16> {
  %r = llvm.intr.masked.load %p, %m, %pass {alignment = 2 : i32} : (!llvm.ptr, vector<4xi1>, vector<4xbf16>) -> vector<4xbf16>
  llvm.return %r : vector<4xbf16>
}
