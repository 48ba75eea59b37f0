// RUN: tensor-opt %s --convert-kiln-to-linalg --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @cond
// CHECK-SAME: (%[[P:.*]]: tensor<i1>, %[[X:.*]]: tensor<f32>)
// CHECK: %[[B:.*]] = tensor.extract %[[P]][] : tensor<i1>
// CHECK: %[[R:.*]] = scf.if %[[B]] -> (tensor<f32>) {
// CHECK:   scf.yield %[[X]] : tensor<f32>
// CHECK: } else {
// CHECK:   arith.negf
// CHECK:   scf.yield
// CHECK: return %[[R]]
func.func @cond(%p: tensor<i1>, %x: tensor<f32>) -> tensor<f32> {
  %r = kiln.cond %p -> (tensor<f32>) {
    kiln.yield %x : tensor<f32>
  } else {
    %n = kiln.neg %x : tensor<f32>
    kiln.yield %n : tensor<f32>
  }
  return %r : tensor<f32>
}

// -----

// The counter is an index; the body sees it as a rank-0 i64 tensor. A step
// that is not positive at run time runs no iteration.
// CHECK-LABEL: func.func @for
// CHECK: arith.index_cast
// CHECK: arith.index_cast
// CHECK: %[[STEP:.*]] = arith.index_cast
// CHECK: %[[POS:.*]] = arith.cmpi sgt, %[[STEP]], %c0
// CHECK: %[[UB:.*]] = arith.select %[[POS]]
// CHECK: %[[ST:.*]] = arith.select %[[POS]], %[[STEP]], %c1
// CHECK: scf.for %[[IV:.*]] = %{{.*}} to %[[UB]] step %[[ST]] iter_args(%{{.*}} = %{{.*}}) -> (tensor<f32>)
// CHECK: %[[I:.*]] = arith.index_cast %[[IV]] : index to i64
// CHECK: tensor.from_elements %[[I]] : tensor<i64>
// CHECK: scf.yield
func.func @for(%x: tensor<f32>, %n: tensor<i64>, %s: tensor<i64>) -> tensor<f32> {
  %one = kiln.constant dense<1> : tensor<i64>
  %r = kiln.for %one to %n step %s iter_args(%x : tensor<f32>) do {
  ^bb0(%i: tensor<i64>, %acc: tensor<f32>):
    %f = kiln.cast %i : tensor<i64> -> tensor<f32>
    %next = kiln.add %acc, %f : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.yield %next : tensor<f32>
  }
  return %r : tensor<f32>
}

// -----

// CHECK-LABEL: func.func @while
// CHECK: scf.while (%[[A:.*]] = %{{.*}}) : (tensor<f32>) -> tensor<f32> {
// CHECK:   arith.cmpf olt
// CHECK:   %[[C:.*]] = tensor.extract %{{.*}}[] : tensor<i1>
// CHECK:   scf.condition(%[[C]]) %[[A]] : tensor<f32>
// CHECK: } do {
// CHECK:   arith.addf
// CHECK:   scf.yield
func.func @while(%x: tensor<f32>, %limit: tensor<f32>) -> tensor<f32> {
  %w = kiln.while (%x : tensor<f32>) cond {
  ^bb0(%v: tensor<f32>):
    %c = kiln.compare lt, %v, %limit : tensor<f32>, tensor<f32> -> tensor<i1>
    kiln.condition(%c) %v : tensor<f32>
  } do {
  ^bb0(%v: tensor<f32>):
    %d = kiln.add %v, %v : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.yield %d : tensor<f32>
  }
  return %w : tensor<f32>
}

// -----

// Tapes: a dynamic leading dimension of at least one row, zero-filled; a
// write inside the tape is an insert_slice (in place after bufferization),
// one outside it changes nothing; a read clamps its row.
// CHECK-LABEL: func.func @tapes
// CHECK-SAME: (%[[N:.*]]: tensor<i64>, %[[I:.*]]: tensor<i64>, %[[V:.*]]: tensor<3xf32>)
// CHECK: %[[NI:.*]] = arith.index_cast
// CHECK: %[[ROWS:.*]] = arith.maxsi %[[NI]], %{{.*}} : index
// CHECK: %[[EMPTY:.*]] = tensor.empty(%[[ROWS]]) : tensor<?x3xf32>
// CHECK: %[[TAPE:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[EMPTY]] : tensor<?x3xf32>)
// CHECK: %[[ROW:.*]] = arith.index_cast
// CHECK: %[[DIM:.*]] = tensor.dim %[[TAPE]]
// CHECK: arith.cmpi sge, %[[ROW]]
// CHECK: arith.cmpi slt, %[[ROW]], %[[DIM]]
// CHECK: %[[W:.*]] = scf.if
// CHECK:   tensor.insert_slice %[[V]] into %[[TAPE]][%[[ROW]], 0] [1, 3] [1, 1] : tensor<3xf32> into tensor<?x3xf32>
// CHECK: } else {
// CHECK:   scf.yield %[[TAPE]]
// CHECK: arith.minsi
// CHECK: %[[CLAMPED:.*]] = arith.maxsi
// CHECK: tensor.extract_slice %[[W]][%[[CLAMPED]], 0] [1, 3] [1, 1] : tensor<?x3xf32> to tensor<3xf32>
func.func @tapes(%n: tensor<i64>, %i: tensor<i64>, %v: tensor<3xf32>) -> tensor<3xf32> {
  %t = kiln.tape_new %n : tensor<?x3xf32>
  %w = kiln.tape_write %t[%i], %v : tensor<?x3xf32>, tensor<3xf32>
  %r = kiln.tape_read %w[%i] : tensor<?x3xf32> -> tensor<3xf32>
  return %r : tensor<3xf32>
}

// -----

// Rows with an open extent (a loop carrying an open batch): the tape takes
// it from `like`, and the row slices from the tape.
// CHECK-LABEL: func.func @open_rows
// CHECK-SAME: (%[[N:.*]]: tensor<i64>, %[[I:.*]]: tensor<i64>, %[[H:.*]]: tensor<?x3xf32>)
// CHECK: %[[B:.*]] = tensor.dim %[[H]], %c0
// CHECK: %[[T:.*]] = tensor.empty(%{{.*}}, %[[B]]) : tensor<?x?x3xf32>
// CHECK: %[[TB:.*]] = tensor.dim %{{.*}}, %c1
// CHECK: tensor.insert_slice %[[H]] into %{{.*}}[%{{.*}}, 0, 0] [1, %[[TB]], 3] [1, 1, 1] : tensor<?x3xf32> into tensor<?x?x3xf32>
// CHECK: tensor.extract_slice %{{.*}}[%{{.*}}, 0, 0] [1, %{{.*}}, 3] [1, 1, 1] : tensor<?x?x3xf32> to tensor<?x3xf32>
func.func @open_rows(%n: tensor<i64>, %i: tensor<i64>, %h: tensor<?x3xf32>) -> tensor<?x3xf32> {
  %t = kiln.tape_new %n like %h : tensor<?x?x3xf32>, tensor<?x3xf32>
  %w = kiln.tape_write %t[%i], %h : tensor<?x?x3xf32>, tensor<?x3xf32>
  %r = kiln.tape_read %w[%i] : tensor<?x?x3xf32> -> tensor<?x3xf32>
  return %r : tensor<?x3xf32>
}

// -----

// A loop variable with an open extent keeps it: each iteration's next value
// is checked against the current one where they are not the same value.
// CHECK-LABEL: func.func @carried_extents
// CHECK-SAME: (%[[X:.*]]: tensor<?xf32>, %[[Y:.*]]: tensor<?xf32>
// CHECK: scf.for {{.*}} iter_args(%[[ACC:.*]] = %[[X]], %[[SAME:.*]] = %[[X]])
// CHECK-DAG: %[[GOT:.*]] = tensor.dim %[[Y]], %c0
// CHECK-DAG: %[[HAD:.*]] = tensor.dim %[[ACC]], %c0
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[GOT]], %[[HAD]]
// CHECK: cf.assert %[[OK]], "{{.*}}control-flow.mlir:{{[0-9]+}}:{{[0-9]+}}: kiln.for: loop variable #0 changes its extent in dimension 0 (a loop variable keeps its shape)"
// CHECK-NOT: cf.assert
// CHECK: scf.yield
func.func @carried_extents(%x: tensor<?xf32>, %y: tensor<?xf32>, %n: tensor<i64>) -> (tensor<?xf32>, tensor<?xf32>) {
  %zero = kiln.constant dense<0> : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %r:2 = kiln.for %zero to %n step %one iter_args(%x, %x : tensor<?xf32>, tensor<?xf32>) do {
  ^bb0(%i: tensor<i64>, %acc: tensor<?xf32>, %same: tensor<?xf32>):
    kiln.yield %y, %same : tensor<?xf32>, tensor<?xf32>
  }
  return %r#0, %r#1 : tensor<?xf32>, tensor<?xf32>
}
