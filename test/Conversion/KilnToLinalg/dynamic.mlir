// RUN: tensor-opt %s --convert-kiln-to-linalg --canonicalize --split-input-file -verify-diagnostics | FileCheck %s

// Open extents come from the operands; where two must agree, a cf.assert
// names the op's location and the dimension. A static 1 broadcasts.
// CHECK-LABEL: func.func @add
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>, %[[Y:.*]]: tensor<?x4xf32>, %[[B:.*]]: tensor<1x4xf32>)
// CHECK-DAG: %[[XR:.*]] = tensor.dim %[[X]], %c0
// CHECK-DAG: %[[YR:.*]] = tensor.dim %[[Y]], %c0
// CHECK: %[[SAME:.*]] = arith.cmpi eq, %[[YR]], %[[XR]] : index
// CHECK: cf.assert %[[SAME]], "{{.*}}dynamic.mlir:{{[0-9]+}}:8: dimension 0 of operand #1 does not match the other operands"
// CHECK: tensor.empty(%[[XR]]) : tensor<?x4xf32>
// CHECK: linalg.generic
// CHECK-NOT: cf.assert
// CHECK: tensor.empty(%[[XR]]) : tensor<?x4xf32>
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[BCAST:.*]], #{{.*}}]
func.func @add(%x: tensor<?x4xf32>, %y: tensor<?x4xf32>, %b: tensor<1x4xf32>) -> tensor<?x4xf32> {
  %0 = kiln.add %x, %y : tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x4xf32>
  %1 = kiln.mul %0, %b : tensor<?x4xf32>, tensor<1x4xf32> -> tensor<?x4xf32>
  return %1 : tensor<?x4xf32>
}

// -----

// An open extent meeting a static one is checked against it.
// CHECK-LABEL: func.func @bias
// CHECK: %[[N:.*]] = tensor.dim %arg1, %c0
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[N]], %c4
// CHECK: cf.assert %[[OK]], "{{.*}}dimension 1 of operand #1 does not match the other operands"
func.func @bias(%x: tensor<?x4xf32>, %b: tensor<?xf32>) -> tensor<?x4xf32> {
  %0 = kiln.add %x, %b : tensor<?x4xf32>, tensor<?xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// matmul: rows from the lhs, columns from the rhs; open contraction extents
// are checked.
// CHECK-LABEL: func.func @matmul
// CHECK-DAG: %[[M:.*]] = tensor.dim %arg0, %c0
// CHECK-DAG: %[[K1:.*]] = tensor.dim %arg0, %c1
// CHECK-DAG: %[[K2:.*]] = tensor.dim %arg1, %c0
// CHECK-DAG: %[[N:.*]] = tensor.dim %arg1, %c1
// CHECK: %[[SAME:.*]] = arith.cmpi eq, %[[K1]], %[[K2]]
// CHECK: cf.assert %[[SAME]], "{{.*}}the contraction dimensions of 'kiln.matmul' differ"
// CHECK: %[[INIT:.*]] = tensor.empty(%[[M]], %[[N]]) : tensor<?x?xf32>
// CHECK: linalg.matmul {{.*}} -> tensor<?x?xf32>
func.func @matmul(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %0 = kiln.matmul %a, %b : tensor<?x?xf32>, tensor<?x?xf32> -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}

// -----

// reduce_mean over an open extent divides by its run-time size; keepdims
// reshapes with the open extent computed from the element count.
// CHECK-LABEL: func.func @mean
// CHECK: %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[ROWS:.*]] = tensor.empty(%[[N]]) : tensor<?xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK: arith.index_cast
// CHECK: arith.uitofp
// CHECK: arith.divf
// CHECK: tensor.expand_shape {{.*}} output_shape [%{{.*}}, 1] : tensor<?xf32> into tensor<?x1xf32>
func.func @mean(%x: tensor<?x?xf32>) -> tensor<?x1xf32> {
  %0 = kiln.reduce_mean %x {axes = array<i64: 1>, keepdims = true} : tensor<?x?xf32> -> tensor<?x1xf32>
  return %0 : tensor<?x1xf32>
}

// -----

// Softmax cross-entropy: labels and logits must agree in every open extent.
// CHECK-LABEL: func.func @xent
// CHECK: cf.assert %{{.*}}, "{{.*}}the operands differ in dimension 0"
// CHECK: tensor.empty(%{{.*}}) : tensor<?xf32>
func.func @xent(%labels: tensor<?x10xf32>, %logits: tensor<?x10xf32>) -> tensor<?xf32> {
  %0 = kiln.softmax_cross_entropy %labels, %logits : tensor<?x10xf32>, tensor<?x10xf32> -> tensor<?xf32>
  return %0 : tensor<?xf32>
}

// -----

// A result written less refined than its static operands takes their
// extents.
// CHECK-LABEL: func.func @less_refined
// CHECK: tensor.empty() : tensor<4x3xf32>
// CHECK: tensor.cast %{{.*}} : tensor<4x3xf32> to tensor<?x3xf32>
func.func @less_refined(%x: tensor<4x3xf32>, %y: tensor<1x3xf32>) -> tensor<?x3xf32> {
  %0 = kiln.add %x, %y : tensor<4x3xf32>, tensor<1x3xf32> -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

// A broadcast to open extents reads them from `like` (the gradient of a
// mean over a dynamic batch); the input's extents are checked against them.
// CHECK-LABEL: func.func @broadcast_like
// CHECK-SAME: (%[[S:.*]]: tensor<1x3xf32>, %[[L:.*]]: tensor<?x3xf32>)
// CHECK: %[[N:.*]] = tensor.dim %[[L]], %c0
// CHECK: tensor.empty(%[[N]]) : tensor<?x3xf32>
// CHECK: linalg.generic
func.func @broadcast_like(%s: tensor<1x3xf32>, %l: tensor<?x3xf32>) -> tensor<?x3xf32> {
  %0 = kiln.broadcast_to %s like %l : tensor<1x3xf32>, tensor<?x3xf32> -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

// One-hot of labels with an open batch extent.
// CHECK-LABEL: func.func @one_hot
// CHECK-SAME: (%[[I:.*]]: tensor<?xi64>)
// CHECK: %[[N:.*]] = tensor.dim %[[I]], %c0
// CHECK: tensor.empty(%[[N]]) : tensor<?x10xf32>
func.func @one_hot(%i: tensor<?xi64>) -> tensor<?x10xf32> {
  %0 = kiln.one_hot %i {depth = 10 : i64} : tensor<?xi64> -> tensor<?x10xf32>
  return %0 : tensor<?x10xf32>
}

// -----

// A reshape to one open extent: the element count over the static ones.
// CHECK-LABEL: func.func @expand
// CHECK: tensor.expand_shape {{.*}} : tensor<?xf32> into tensor<?x1xf32>
func.func @expand(%x: tensor<?xf32>) -> tensor<?x1xf32> {
  %0 = kiln.expand_dims %x {axis = 1 : i64} : tensor<?xf32> -> tensor<?x1xf32>
  return %0 : tensor<?x1xf32>
}

// -----

// An open input reshaped to fixed extents: its element count is checked at
// run time, then the view is cast to the fixed size (without the check a
// wrong count would read past the buffer).
// CHECK-LABEL: func.func @to_fixed
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %arg0 {{.*}} into tensor<?xf32>
// CHECK: %[[N:.*]] = tensor.dim %[[FLAT]], %c0
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[N]], %c6
// CHECK: cf.assert %[[OK]], "{{.*}}dynamic.mlir:{{[0-9]+}}:{{[0-9]+}}: kiln.reshape: the input does not have the 6 elements of tensor<2x3xf32>"
// CHECK: %[[FIXED:.*]] = tensor.cast %[[FLAT]] : tensor<?xf32> to tensor<6xf32>
// CHECK: tensor.expand_shape %[[FIXED]] {{.*}} : tensor<6xf32> into tensor<2x3xf32>
func.func @to_fixed(%x: tensor<?x3xf32>) -> tensor<2x3xf32> {
  %0 = kiln.reshape %x : tensor<?x3xf32> -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// An open input reshaped to another open extent: the static extents must
// divide the element count.
// CHECK-LABEL: func.func @regroup
// CHECK: %[[N:.*]] = tensor.dim %{{.*}}, %c0 : tensor<?xf32>
// CHECK: %[[R:.*]] = arith.remui %[[N]], %c2
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[R]], %c0
// CHECK: cf.assert %[[OK]], "{{.*}}kiln.reshape: the input's element count is not a multiple of 2, as tensor<?x2xf32> needs"
// CHECK: arith.divui %[[N]], %c2
func.func @regroup(%x: tensor<?x3xf32>) -> tensor<?x2xf32> {
  %0 = kiln.reshape %x : tensor<?x3xf32> -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}

// -----

// A fixed input to an open result: no check (canonicalization then folds
// the open view back to the fixed one).
// CHECK-LABEL: func.func @to_open
// CHECK-NOT: cf.assert
// CHECK: tensor.expand_shape {{.*}} : tensor<6xf32> into tensor<3x2xf32>
// CHECK: tensor.cast %{{.*}} : tensor<3x2xf32> to tensor<?x2xf32>
func.func @to_open(%x: tensor<2x3xf32>) -> tensor<?x2xf32> {
  %0 = kiln.reshape %x : tensor<2x3xf32> -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}

// -----

// Several open extents come from `like` (what the gradient of a reshape of
// such a tensor builds); the count is checked against their product.
// CHECK-LABEL: func.func @like
// CHECK-DAG: %[[D1:.*]] = tensor.dim %arg1, %c1
// CHECK-DAG: %[[D2:.*]] = tensor.dim %arg1, %c2
// CHECK: %[[Q:.*]] = arith.muli %{{.*}}, %[[D2]]
// CHECK: %[[OK:.*]] = arith.cmpi eq, %{{.*}}, %[[Q]]
// CHECK: cf.assert %[[OK]], "{{.*}}kiln.reshape: the input's element count differs from that of 'like' in the shape tensor<2x?x?xf32>"
// CHECK: %[[SHAPE:.*]] = tensor.from_elements %c2, %[[D1]], %[[D2]]
// CHECK: tensor.reshape %arg0(%[[SHAPE]]) : (tensor<?xf32>, tensor<3xindex>) -> tensor<2x?x?xf32>
func.func @like(%g: tensor<?xf32>, %x: tensor<2x?x?xf32>) -> tensor<2x?x?xf32> {
  %0 = kiln.reshape %g like %x : tensor<?xf32>, tensor<2x?x?xf32> -> tensor<2x?x?xf32>
  return %0 : tensor<2x?x?xf32>
}

// -----

// expand_dims and squeeze with several open extents: each open extent
// groups with the 1s beside it, the extents read from the input.
// CHECK-LABEL: func.func @two_open
// CHECK-DAG: %[[D0:.*]] = tensor.dim %arg0, %c0
// CHECK-DAG: %[[D1:.*]] = tensor.dim %arg0, %c1
// CHECK: tensor.expand_shape %arg0 {{\[}}[0, 1], [2]] output_shape [%[[D0]], 1, %[[D1]]] : tensor<?x?xf32> into tensor<?x1x?xf32>
// CHECK: tensor.collapse_shape %arg1 {{\[}}[0], [1, 2, 3]] : tensor<?x?x1x1xf32> into tensor<?x?xf32>
func.func @two_open(%x: tensor<?x?xf32>, %y: tensor<?x?x1x1xf32>) -> (tensor<?x1x?xf32>, tensor<?x?xf32>) {
  %0 = kiln.expand_dims %x {axis = 1 : i64} : tensor<?x?xf32> -> tensor<?x1x?xf32>
  %1 = kiln.squeeze %y {axes = array<i64: 2, 3>} : tensor<?x?x1x1xf32> -> tensor<?x?xf32>
  return %0, %1 : tensor<?x1x?xf32>, tensor<?x?xf32>
}

// -----

// Data movement with open extents: a transpose moves them with their
// dimensions; a slice takes open dimensions whole (limit -1); padding
// leaves them alone; a concatenation along a static axis checks that the
// open extents of its operands agree.
// CHECK-LABEL: func.func @moves
// CHECK-SAME: (%[[X:.*]]: tensor<?x3xf32>, %[[Y:.*]]: tensor<?x2xf32>)
// CHECK: %[[N:.*]] = tensor.dim %[[X]], %c0
// CHECK: %[[T0:.*]] = tensor.empty(%[[N]]) : tensor<3x?xf32>
// CHECK: linalg.transpose ins(%[[X]] : tensor<?x3xf32>) outs(%[[T0]] : tensor<3x?xf32>) permutation = [1, 0]
// CHECK: %[[N1:.*]] = tensor.dim %[[X]], %c0
// CHECK: tensor.extract_slice %[[X]][0, 1] [%[[N1]], 2] [1, 1] : tensor<?x3xf32> to tensor<?x2xf32>
// CHECK: %[[N2:.*]] = tensor.dim %[[X]], %c0
// CHECK: %[[P:.*]] = linalg.fill {{.*}} -> tensor<?x5xf32>
// CHECK: tensor.insert_slice %[[X]] into %[[P]][0, 2] [%[[N2]], 3] [1, 1]
// CHECK: %[[N3:.*]] = tensor.dim %[[X]], %c0
// CHECK-NOT: cf.assert
// CHECK: %[[M:.*]] = tensor.dim %[[Y]], %c0
// CHECK: %[[SAME:.*]] = arith.cmpi eq, %[[M]], %[[N3]]
// CHECK: cf.assert %[[SAME]], "{{.*}}kiln.concat: operand 1 differs from the others in dimension 0"
// CHECK: %[[C:.*]] = tensor.empty(%[[N3]]) : tensor<?x5xf32>
// CHECK: tensor.insert_slice %[[X]] into %[[C]][0, 0] [%{{.*}}, 3] [1, 1]
// CHECK: %[[M1:.*]] = tensor.dim %[[Y]], %c0
// CHECK: tensor.insert_slice %[[Y]] into %{{.*}}[0, 3] [%[[M1]], 2] [1, 1]
func.func @moves(%x: tensor<?x3xf32>, %y: tensor<?x2xf32>)
    -> (tensor<3x?xf32>, tensor<?x2xf32>, tensor<?x5xf32>, tensor<?x5xf32>) {
  %t = kiln.transpose %x {permutation = array<i64: 1, 0>} : tensor<?x3xf32> -> tensor<3x?xf32>
  %s = kiln.slice %x {start = array<i64: 0, 1>, limit = array<i64: -1, 3>, stride = array<i64: 1, 1>} : tensor<?x3xf32> -> tensor<?x2xf32>
  %p = kiln.pad %x {low = array<i64: 0, 2>, high = array<i64: 0, 0>} : tensor<?x3xf32> -> tensor<?x5xf32>
  %c = kiln.concat %x, %y {axis = 1 : i64} : (tensor<?x3xf32>, tensor<?x2xf32>) -> tensor<?x5xf32>
  return %t, %s, %p, %c : tensor<3x?xf32>, tensor<?x2xf32>, tensor<?x5xf32>, tensor<?x5xf32>
}

// -----

// A concatenation along an open axis: each operand goes at the sum of the
// extents before it, the result is as long as all of them.
// CHECK-LABEL: func.func @concat_open_axis
// CHECK-SAME: (%[[X:.*]]: tensor<?x3xf32>, %[[Y:.*]]: tensor<2x3xf32>, %[[Z:.*]]: tensor<?x3xf32>)
// CHECK: %[[N:.*]] = tensor.dim %[[X]], %c0
// CHECK: %[[NY:.*]] = arith.addi %[[N]], %c2
// CHECK: %[[M:.*]] = tensor.dim %[[Z]], %c0
// CHECK: %[[T:.*]] = arith.addi %[[NY]], %[[M]]
// CHECK: %[[E:.*]] = tensor.empty(%[[T]]) : tensor<?x3xf32>
// CHECK: %[[A:.*]] = tensor.insert_slice %[[X]] into %[[E]][0, 0] [%{{.*}}, 3] [1, 1]
// CHECK: %[[B:.*]] = tensor.insert_slice %[[Y]] into %[[A]][%[[N]], 0] [2, 3] [1, 1]
// CHECK: tensor.insert_slice %[[Z]] into %[[B]][%[[NY]], 0] [%{{.*}}, 3] [1, 1]
func.func @concat_open_axis(%x: tensor<?x3xf32>, %y: tensor<2x3xf32>, %z: tensor<?x3xf32>) -> tensor<?x3xf32> {
  %c = kiln.concat %x, %y, %z {axis = 0 : i64} : (tensor<?x3xf32>, tensor<2x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
  return %c : tensor<?x3xf32>
}

// -----

// kiln.split cuts consecutive pieces as long as its `like` operands along
// the axis and checks that they cover the input.
// CHECK-LABEL: func.func @split
// CHECK-SAME: (%[[X:.*]]: tensor<?x3xf32>, %[[A:.*]]: tensor<?x3xf32>, %[[B:.*]]: tensor<2x3xf32>)
// CHECK: %[[N:.*]] = tensor.dim %[[X]], %c0
// CHECK: %[[NA:.*]] = tensor.dim %[[A]], %c0
// CHECK: %[[P:.*]] = tensor.extract_slice %[[X]][0, 0] [%[[NA]], 3] [1, 1] : tensor<?x3xf32> to tensor<?x3xf32>
// CHECK: %[[Q:.*]] = tensor.extract_slice %[[X]][%[[NA]], 0] [2, 3] [1, 1] : tensor<?x3xf32> to tensor<2x3xf32>
// CHECK: %[[S:.*]] = arith.addi %[[NA]], %c2
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[S]], %[[N]]
// CHECK: cf.assert %[[OK]], "{{.*}}kiln.split: the pieces' extents along axis 0 do not add up to the input's"
// CHECK: return %[[P]], %[[Q]]
func.func @split(%x: tensor<?x3xf32>, %a: tensor<?x3xf32>, %b: tensor<2x3xf32>) -> (tensor<?x3xf32>, tensor<2x3xf32>) {
  %p:2 = kiln.split %x like %a, %b {axis = 0 : i64} : tensor<?x3xf32> like tensor<?x3xf32>, tensor<2x3xf32> -> tensor<?x3xf32>, tensor<2x3xf32>
  return %p#0, %p#1 : tensor<?x3xf32>, tensor<2x3xf32>
}

// -----

// A result type more refined than the operands give (hand-written IR may
// say so): the static extent is used and checked when the code runs.
// CHECK-LABEL: func.func @split_refined
// CHECK: %[[N:.*]] = tensor.dim %arg1, %c0
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[N]], %c2
// CHECK: cf.assert %[[OK]], "{{.*}}kiln.split: dimension 0 is not the result's 2"
// CHECK: tensor.extract_slice %arg0[0, 0] [2, 3] [1, 1] : tensor<?x3xf32> to tensor<2x3xf32>
func.func @split_refined(%x: tensor<?x3xf32>, %a: tensor<?x3xf32>) -> tensor<2x3xf32> {
  %p = kiln.split %x like %a {axis = 0 : i64} : tensor<?x3xf32> like tensor<?x3xf32> -> tensor<2x3xf32>
  return %p : tensor<2x3xf32>
}

// -----

// (The same for a concatenation: its sum checked against the type's 5.)
// CHECK-LABEL: func.func @concat_refined
// CHECK: %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[S:.*]] = arith.addi %[[N]], %c2
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[S]], %c5
// CHECK: cf.assert %[[OK]], "{{.*}}kiln.concat: dimension 0 is not the result's 5"
// CHECK: tensor.empty() : tensor<5x3xf32>
func.func @concat_refined(%x: tensor<?x3xf32>, %y: tensor<2x3xf32>) -> tensor<5x3xf32> {
  %c = kiln.concat %x, %y {axis = 0 : i64} : (tensor<?x3xf32>, tensor<2x3xf32>) -> tensor<5x3xf32>
  return %c : tensor<5x3xf32>
}

// -----

// An iota takes its open extents from `like` (never its elements).
// CHECK-LABEL: func.func @iota_like
// CHECK-SAME: (%[[X:.*]]: tensor<?x?xf32>)
// CHECK-DAG: %[[M:.*]] = tensor.dim %[[X]], %c0
// CHECK-DAG: %[[N:.*]] = tensor.dim %[[X]], %c1
// CHECK: %[[E:.*]] = tensor.empty(%[[M]], %[[N]]) : tensor<?x?xi64>
// CHECK: linalg.generic {{.*}} outs(%[[E]] : tensor<?x?xi64>)
// CHECK: %[[I:.*]] = linalg.index 1 : index
// CHECK: arith.index_cast %[[I]] : index to i64
func.func @iota_like(%x: tensor<?x?xf32>) -> tensor<?x?xi64> {
  %i = kiln.iota like %x {dimension = 1 : i64} : tensor<?x?xi64>, tensor<?x?xf32>
  return %i : tensor<?x?xi64>
}

// -----

// kiln.dim reads the open extent, never the elements.
// CHECK-LABEL: func.func @dim
// CHECK: %[[N:.*]] = tensor.dim %arg0, %c1 : tensor<2x?xf32>
// CHECK: %[[I:.*]] = arith.index_cast %[[N]] : index to i64
// CHECK: tensor.from_elements %[[I]] : tensor<i64>
func.func @dim(%x: tensor<2x?xf32>) -> tensor<i64> {
  %0 = kiln.dim %x {axis = 1 : i64} : tensor<2x?xf32> -> tensor<i64>
  return %0 : tensor<i64>
}

// -----

// A gather from a static table takes its open extents from the ids; a
// scatter_add of static rows into a static base loops over the open batch.
// CHECK-LABEL: func.func @gather_scatter
// CHECK-DAG: %[[N:.*]] = tensor.dim %arg1, %c0 : tensor<?xi32>
// CHECK: tensor.empty(%[[N]]) : tensor<?x3xf32>
// CHECK: linalg.generic
// CHECK: scf.for %{{.*}} = %c0 to %[[N]] step %c1
func.func @gather_scatter(%t: tensor<5x3xf32>, %ids: tensor<?xi32>) -> (tensor<?x3xf32>, tensor<5x3xf32>) {
  %g = kiln.gather %t, %ids : tensor<5x3xf32>, tensor<?xi32> -> tensor<?x3xf32>
  %s = kiln.scatter_add %t, %ids, %g {axis = 0 : i64} : tensor<5x3xf32>, tensor<?xi32>, tensor<?x3xf32> -> tensor<5x3xf32>
  return %g, %s : tensor<?x3xf32>, tensor<5x3xf32>
}

// -----

// A table open along the indexed axis: the ids are compared with its
// extent at run time, and the read happens under a branch only (the table
// may be empty); a scatter into it clamps against the same extent.
// CHECK-LABEL: func.func @open_table
// CHECK: %[[N:.*]] = tensor.dim %arg0, %c0 : tensor<?x3xf32>
// CHECK: linalg.generic
// CHECK: %[[I:.*]] = arith.index_cast
// CHECK: arith.cmpi slt, %[[I]], %[[N]] : index
// CHECK: scf.if
// CHECK-NEXT: tensor.extract %arg0
// CHECK: } else {
// CHECK-NEXT: scf.yield %cst
// CHECK: scf.for
// CHECK: %[[M:.*]] = tensor.dim %{{.*}}, %c0 : tensor<?x3xf32>
// CHECK: arith.cmpi slt, %{{.*}}, %[[M]] : index
func.func @open_table(%t: tensor<?x3xf32>, %ids: tensor<2xi32>, %u: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<?x3xf32>) {
  %g = kiln.gather %t, %ids : tensor<?x3xf32>, tensor<2xi32> -> tensor<2x3xf32>
  %s = kiln.scatter_add %t, %ids, %u {axis = 0 : i64} : tensor<?x3xf32>, tensor<2xi32>, tensor<2x3xf32> -> tensor<?x3xf32>
  return %g, %s : tensor<2x3xf32>, tensor<?x3xf32>
}

// -----

// Updates and indices of open extents must agree when the code runs.
// CHECK-LABEL: func.func @scatter_counts
// CHECK-DAG: %[[U:.*]] = tensor.dim %arg2, %c0 : tensor<?x3xf32>
// CHECK-DAG: %[[I:.*]] = tensor.dim %arg1, %c0 : tensor<?xi32>
// CHECK: %[[SAME:.*]] = arith.cmpi eq, %[[U]], %[[I]] : index
// CHECK: cf.assert %[[SAME]], "{{.*}}dynamic.mlir:{{[0-9]+}}:8: scatter_add: dimension 0 of the updates does not match the indices"
func.func @scatter_counts(%b: tensor<5x3xf32>, %ids: tensor<?xi32>, %u: tensor<?x3xf32>) -> tensor<5x3xf32> {
  %s = kiln.scatter_add %b, %ids, %u {axis = 0 : i64} : tensor<5x3xf32>, tensor<?xi32>, tensor<?x3xf32> -> tensor<5x3xf32>
  return %s : tensor<5x3xf32>
}

// -----

// A result type less refined than the operands give is refused by name.
func.func @loose_gather(%t: tensor<5x3xf32>, %ids: tensor<?xi32>) -> tensor<?x?xf32> {
  // expected-error@+1 {{cannot lower 'kiln.gather' with dynamic shape}}
  %g = kiln.gather %t, %ids : tensor<5x3xf32>, tensor<?xi32> -> tensor<?x?xf32>
  return %g : tensor<?x?xf32>
}

// -----

func.func @loose_scatter(%b: tensor<5x3xf32>, %ids: tensor<?xi32>, %u: tensor<?x3xf32>) -> tensor<?x3xf32> {
  // expected-error@+1 {{cannot lower 'kiln.scatter_add' with dynamic shape}}
  %s = kiln.scatter_add %b, %ids, %u {axis = 0 : i64} : tensor<5x3xf32>, tensor<?xi32>, tensor<?x3xf32> -> tensor<?x3xf32>
  return %s : tensor<?x3xf32>
}

// -----

// A reshape to several open extents without `like`, where each open
// extent stands in a group of its own: collapsed and expanded group by
// group, the open extents read from the input.
// CHECK-LABEL: func.func @grouped
// CHECK-DAG: %[[D0:.*]] = tensor.dim %arg0, %c0
// CHECK-DAG: %[[D1:.*]] = tensor.dim %arg0, %c1
// CHECK: %[[C:.*]] = tensor.collapse_shape %arg0 {{\[}}[0], [1], [2, 3]] : tensor<?x?x4x2xf32> into tensor<?x?x8xf32>
// CHECK: tensor.expand_shape %[[C]] {{\[}}[0], [1], [2, 3]] output_shape [%[[D0]], %[[D1]], 2, 4] : tensor<?x?x8xf32> into tensor<?x?x2x4xf32>
func.func @grouped(%x: tensor<?x?x4x2xf32>) -> tensor<?x?x2x4xf32> {
  %0 = kiln.reshape %x : tensor<?x?x4x2xf32> -> tensor<?x?x2x4xf32>
  return %0 : tensor<?x?x2x4xf32>
}
