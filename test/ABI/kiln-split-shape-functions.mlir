// RUN: tensor-opt %s --kiln-prepare-entry-points --convert-kiln-to-linalg --canonicalize --kiln-split-shape-functions --split-input-file -verify-diagnostics | FileCheck %s

// The sum needs equal row counts: the check moves from the entry into the
// shape function, which returns (status, the output's row count), and its
// message becomes a check of the entry (a `check` line of the manifest).
// CHECK-LABEL: func.func @add(
// CHECK-SAME: checks = ["{{.*}}kiln-split-shape-functions.mlir:19:8: dimension 0 of operand #1 does not match the other operands"]
// CHECK-NOT: cf.assert
// CHECK: linalg.generic
// CHECK-LABEL: func.func @add_kiln_shape(
// CHECK-SAME: %[[X:.*]]: tensor<?x4xf32>, %[[Y:.*]]: tensor<?x4xf32>) -> (i32, index)
// CHECK-SAME: kiln.shape_function = @add
// CHECK-DAG: %[[XR:.*]] = tensor.dim %[[X]]
// CHECK-DAG: %[[YR:.*]] = tensor.dim %[[Y]]
// CHECK: %[[SAME:.*]] = arith.cmpi eq, %[[YR]], %[[XR]]
// CHECK-NOT: linalg
// CHECK: return %{{.*}}, %[[XR]] : i32, index
func.func @add(%x: tensor<?x4xf32>, %y: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = kiln.add %x, %y : tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// Output extents through a matmul and a reduction; no checks (the
// contraction extents are static), so status 0.
// CHECK-LABEL: func.func @logits_kiln_shape(
// CHECK-SAME: %[[X:.*]]: tensor<?x3xf32>, %{{.*}}: tensor<3x?xf32>) -> (i32, index, index, index)
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : i32
// CHECK-DAG: %[[B:.*]] = tensor.dim %[[X]], %c0
// CHECK-DAG: %[[N:.*]] = tensor.dim %{{.*}}, %c1
// CHECK: return %[[ZERO]], %[[B]], %[[N]], %[[B]] : i32, index, index, index
func.func @logits(%x: tensor<?x3xf32>, %w: tensor<3x?xf32>) -> (tensor<?x?xf32>, tensor<?xf32>) {
  %0 = kiln.matmul %x, %w : tensor<?x3xf32>, tensor<3x?xf32> -> tensor<?x?xf32>
  %1 = kiln.reduce_max %0 {axes = array<i64: 1>} : tensor<?x?xf32> -> tensor<?xf32>
  return %0, %1 : tensor<?x?xf32>, tensor<?xf32>
}

// -----

// A fully static entry gets no shape function.
// CHECK-LABEL: func.func @fixed(
// CHECK-NOT: fixed_kiln_shape
func.func @fixed(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = kiln.exp %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// An output whose extent is read from the data.
// expected-error@+1 {{entry point 'data': the shapes of its outputs cannot be computed from the shapes of its inputs alone (they depend on 'tensor.extract'}}
func.func @data(%n: tensor<i64>) -> tensor<?xf32> {
  %i = tensor.extract %n[] : tensor<i64>
  %c = arith.index_cast %i : i64 to index
  %e = tensor.empty(%c) : tensor<?xf32>
  return %e : tensor<?xf32>
}

// -----

// Checks inside a loop move before it when they read only extents known
// there (a loop variable keeps its extents, so %acc's are %h's): they join
// the entry's checks, run before the call; the check that %acc + %x keeps
// %acc's extents is then %h's against themselves, and folds away. The loop's result has its
// initial value's extents, so the shape function reads them from %h.
// CHECK-LABEL: func.func @loop(
// CHECK-SAME: checks = ["{{.*}}: dimension 0 of operand #1 does not match the other operands"]
// CHECK-NOT: cf.assert
// CHECK: scf.for
// CHECK-LABEL: func.func @loop_kiln_shape(
// CHECK-SAME: %[[H:[^:]*]]: tensor<?x3xf32>, %[[X:[^:]*]]: tensor<?x3xf32>
// CHECK-NOT: scf.for
// CHECK-DAG: %[[N:.*]] = tensor.dim %[[H]], %c0
// CHECK-DAG: tensor.dim %[[X]], %c0
// CHECK: return %{{.*}}, %[[N]]
func.func @loop(%h: tensor<?x3xf32>, %x: tensor<?x3xf32>, %n: tensor<i64>) -> tensor<?x3xf32> {
  %zero = kiln.constant dense<0> : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %r = kiln.for %zero to %n step %one iter_args(%h : tensor<?x3xf32>) do {
  ^bb0(%i: tensor<i64>, %acc: tensor<?x3xf32>):
    %next = kiln.add %acc, %x : tensor<?x3xf32>, tensor<?x3xf32> -> tensor<?x3xf32>
    kiln.yield %next : tensor<?x3xf32>
  }
  return %r : tensor<?x3xf32>
}

// -----

// Value checks and prints are the entry's work: the shape function drops
// their calls (and the loop around a check dies with them), so the
// extents still come from the inputs alone.
// CHECK-LABEL: func.func @checked(
// CHECK: call @kiln_check_failed
// CHECK: call @kiln_print_tensor_i64
// CHECK-LABEL: func.func @checked_kiln_shape(
// CHECK-NOT: call
// CHECK-NOT: linalg.generic
// CHECK: return
func.func @checked(%l: tensor<?x10xf32>, %ids: tensor<?xi64>) -> tensor<?xf32> {
  %0 = kiln.sparse_softmax_cross_entropy %l, %ids {bounds_check} : tensor<?x10xf32>, tensor<?xi64> -> tensor<?xf32>
  kiln.print ["", "\0A"] %ids : tensor<?xi64>
  return %0 : tensor<?xf32>
}

// -----

// A scatter into an open base: its result (an scf.if that writes the
// update, or not, into the base) has the base's extents.
// CHECK-LABEL: func.func @scatter_kiln_shape(
// CHECK-SAME: %[[BASE:[^:]*]]: tensor<5x?x3xf32>
// CHECK-NOT: scf.if
// CHECK: %[[N:.*]] = tensor.dim %[[BASE]], %c1
// CHECK: return %{{.*}}, %[[N]]
func.func @scatter(%base: tensor<5x?x3xf32>, %t: tensor<i32>, %u: tensor<?x3xf32>) -> tensor<5x?x3xf32> {
  %0 = kiln.scatter_add %base, %t, %u {axis = 0 : i64} : tensor<5x?x3xf32>, tensor<i32>, tensor<?x3xf32> -> tensor<5x?x3xf32>
  return %0 : tensor<5x?x3xf32>
}

// -----

// A branch that computes a new value (an elementwise op into a new tensor
// of an outer value's extents) still takes its extents from outside the
// scf.if: the output's extent is the input's.
// CHECK-LABEL: func.func @cond_same_kiln_shape(
// CHECK-SAME: %[[A:[^:]*]]: tensor<?xf32>
// CHECK-NOT: scf.if
// CHECK-NOT: tensor.empty
// CHECK: %[[N:.*]] = tensor.dim %[[A]], %c0
// CHECK: return %{{.*}}, %[[N]]
func.func @cond_same(%a: tensor<?xf32>, %p: tensor<i1>) -> tensor<?xf32> {
  %c = kiln.cond %p -> (tensor<?xf32>) {
    kiln.yield %a : tensor<?xf32>
  } else {
    %three = kiln.constant dense<3.0> : tensor<f32>
    %m = kiln.mul %a, %three : tensor<?xf32>, tensor<f32> -> tensor<?xf32>
    kiln.yield %m : tensor<?xf32>
  }
  return %c : tensor<?xf32>
}

// -----

// Branches of different extents: the output's extent is the one the
// condition picks, which is data the shape function cannot read.
// expected-error@+1 {{the shapes of its outputs cannot be computed from the shapes of its inputs alone (they depend on 'tensor.extract'}}
func.func @cond_picks(%a: tensor<?xf32>, %b: tensor<?xf32>, %p: tensor<i1>) -> tensor<?xf32> {
  %c = kiln.cond %p -> (tensor<?xf32>) {
    %e = kiln.exp %a : tensor<?xf32>
    kiln.yield %e : tensor<?xf32>
  } else {
    %m = kiln.mul %b, %b : tensor<?xf32>, tensor<?xf32> -> tensor<?xf32>
    kiln.yield %m : tensor<?xf32>
  }
  return %c : tensor<?xf32>
}

// -----

// A check on extents only known inside the loop (a value one branch or the
// other makes) cannot run before the call: an error, as is a check in a
// private function.
func.func @branchy(%h: tensor<?xf32>, %a: tensor<?xf32>, %b: tensor<?xf32>, %p: tensor<i1>, %n: tensor<i64>) -> tensor<?xf32> {
  %zero = kiln.constant dense<0> : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %r = kiln.for %zero to %n step %one iter_args(%h : tensor<?xf32>) do {
  ^bb0(%i: tensor<i64>, %acc: tensor<?xf32>):
    %c = kiln.cond %p -> (tensor<?xf32>) {
      kiln.yield %a : tensor<?xf32>
    } else {
      kiln.yield %b : tensor<?xf32>
    }
    // expected-error@+1 {{a run-time shape check}}
    %next = kiln.add %acc, %c : tensor<?xf32>, tensor<?xf32> -> tensor<?xf32>
    kiln.yield %next : tensor<?xf32>
  }
  return %r : tensor<?xf32>
}

// -----

// A while loop whose first result goes unused (canonicalization drops it
// from the scf.while, not from its initial values): each remaining result
// takes the extents of the value its condition passes on, here the
// second carried value's initial %b, not %a.
// CHECK-LABEL: func.func @while_kiln_shape(
// CHECK-SAME: %[[A:[^:]*]]: tensor<?xf32>, %[[B:[^:]*]]: tensor<?x2xf32>
// CHECK: %[[N:.*]] = tensor.dim %[[B]], %c0
// CHECK: return %{{.*}}, %[[N]]
func.func @while(%a: tensor<?xf32>, %b: tensor<?x2xf32>, %limit: tensor<f32>) -> tensor<?x2xf32> {
  %w:2 = kiln.while (%a, %b : tensor<?xf32>, tensor<?x2xf32>) cond {
  ^bb0(%u: tensor<?xf32>, %v: tensor<?x2xf32>):
    %s = kiln.reduce_sum %v {axes = array<i64: 0, 1>} : tensor<?x2xf32> -> tensor<f32>
    %c = kiln.compare lt, %s, %limit : tensor<f32>, tensor<f32> -> tensor<i1>
    kiln.condition(%c) %u, %v : tensor<?xf32>, tensor<?x2xf32>
  } do {
  ^bb0(%u: tensor<?xf32>, %v: tensor<?x2xf32>):
    %d = kiln.add %v, %v : tensor<?x2xf32>, tensor<?x2xf32> -> tensor<?x2xf32>
    kiln.yield %u, %d : tensor<?xf32>, tensor<?x2xf32>
  }
  return %w#1 : tensor<?x2xf32>
}

// -----

// A condition that passes its values on swapped: each is checked against
// the carried value it stands for (here %a's extent against %b's, before
// the call), so the results' extents are still their initial values'.
// CHECK-LABEL: func.func @swapped(
// CHECK-SAME: checks = ["{{.*}}: kiln.while: loop variable #0 changes its extent in dimension 0{{.*}}"
func.func @swapped(%a: tensor<?xf32>, %b: tensor<?xf32>, %p: tensor<i1>) -> tensor<?xf32> {
  %w:2 = kiln.while (%a, %b : tensor<?xf32>, tensor<?xf32>) cond {
  ^bb0(%u: tensor<?xf32>, %v: tensor<?xf32>):
    kiln.condition(%p) %v, %u : tensor<?xf32>, tensor<?xf32>
  } do {
  ^bb0(%u: tensor<?xf32>, %v: tensor<?xf32>):
    kiln.yield %u, %v : tensor<?xf32>, tensor<?xf32>
  }
  return %w#0 : tensor<?xf32>
}
