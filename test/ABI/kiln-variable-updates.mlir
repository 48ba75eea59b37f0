// RUN: tensor-opt %s --kiln-externalize-variables --kiln-prepare-entry-points --convert-kiln-to-linalg --kiln-materialize-variable-updates | FileCheck %s --check-prefix=TENSOR
// RUN: tensor-opt %s --kiln-externalize-variables --kiln-prepare-entry-points --convert-kiln-to-linalg --kiln-materialize-variable-updates --eliminate-empty-tensors --one-shot-bufferize="bufferize-function-boundaries=true function-boundary-type-conversion=identity-layout-map allow-return-allocs-from-loops=true" --kiln-drop-variable-results --canonicalize | FileCheck %s --check-prefix=BUFFER

// Before bufferization: a new value that is not computed after the last
// read of the old ones (here: each is the other variable's old value) is
// first copied into a fresh allocation (all copies come before any write,
// so a swap reads both old values), then materialized in its variable's
// argument; only assigned variables are writable.
// TENSOR-LABEL: func.func @swap(
// TENSOR-SAME: %[[A:.*]]: tensor<3xf32> {bufferization.writable = true, kiln.variable = @a}
// TENSOR-SAME: %[[B:.*]]: tensor<3xf32> {bufferization.writable = true, kiln.variable = @b}
// TENSOR: bufferization.alloc_tensor()
// TENSOR: %[[CA:.*]] = linalg.copy ins(%[[B]] : tensor<3xf32>)
// TENSOR: bufferization.alloc_tensor()
// TENSOR: %[[CB:.*]] = linalg.copy ins(%[[A]] : tensor<3xf32>)
// TENSOR: %[[WA:.*]] = bufferization.materialize_in_destination %[[CA]] in %[[A]]
// TENSOR: %[[WB:.*]] = bufferization.materialize_in_destination %[[CB]] in %[[B]]
// TENSOR: return %{{.*}}, %[[WA]], %[[WB]]

// After bufferization the updates are writes into the variables' buffers
// and no longer results.
// BUFFER-LABEL: func.func @swap(
// BUFFER-SAME: %[[A:.*]]: memref<3xf32> {kiln.variable = @a}, %[[B:.*]]: memref<3xf32> {kiln.variable = @b}) -> memref<3xf32>
// BUFFER: memref.copy %{{.*}}, %[[A]]
// BUFFER: memref.copy %{{.*}}, %[[B]]
// BUFFER: return %{{.*}} : memref<3xf32>

// An entry point that others call keeps a private functional copy for them.
// TENSOR-LABEL: func.func @count(
// TENSOR-SAME: %{{.*}}: tensor<i64> {bufferization.writable = true, kiln.variable = @n}
// TENSOR-LABEL: func.func private @count_impl(
// TENSOR-NOT: bufferization.materialize_in_destination
// TENSOR: return
// TENSOR-LABEL: func.func @count_twice(
// TENSOR: call @count_impl
// TENSOR: call @count_impl
// An update computed after the last read of the old value needs no copy:
// the op that computes it writes the variable's buffer directly.
// TENSOR-LABEL: func.func @sgd(
// TENSOR-NOT: linalg.copy
// TENSOR: bufferization.materialize_in_destination
// BUFFER-LABEL: func.func @sgd(
// BUFFER-SAME: %[[G:.*]]: memref<4xf32>, %[[W:.*]]: memref<4xf32> {kiln.variable = @w}
// BUFFER-NOT: memref.copy
// BUFFER-NOT: memref.alloc
// BUFFER: linalg.generic {{.*}} ins(%[[W]], %[[G]] : memref<4xf32>, memref<4xf32>) outs(%[[W]] : memref<4xf32>)
// BUFFER-NOT: memref.copy
// BUFFER: return

// A variable updated in place by a loop and also returned: the output gets
// its own copy, taken before the write (it aliases the variable's buffer),
// so bufferization has no read-after-write to avoid.
// TENSOR-LABEL: func.func @loop_updates(
// TENSOR: %[[LOOP:.*]] = scf.for
// TENSOR: linalg.copy ins(%[[LOOP]] : tensor<2xf32>)
// TENSOR: %[[OUT:.*]] = linalg.copy ins(%[[LOOP]] : tensor<2xf32>)
// TENSOR: bufferization.materialize_in_destination
// TENSOR: return %[[OUT]],
// BUFFER-LABEL: func.func @loop_updates(
// BUFFER: scf.for
// BUFFER: return

kiln.variable @a : tensor<3xf32>
kiln.variable @b : tensor<3xf32>
kiln.variable @n : tensor<i64>
kiln.variable @w : tensor<4xf32>
func.func @swap() -> tensor<3xf32> {
  %a = kiln.read_variable @a : tensor<3xf32>
  %b = kiln.read_variable @b : tensor<3xf32>
  kiln.assign_variable @a, %b : tensor<3xf32>
  kiln.assign_variable @b, %a : tensor<3xf32>
  %s = kiln.add %a, %b : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  return %s : tensor<3xf32>
}
func.func @count() {
  %n = kiln.read_variable @n : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  %n1 = kiln.add %n, %one : tensor<i64>, tensor<i64> -> tensor<i64>
  kiln.assign_variable @n, %n1 : tensor<i64>
  return
}
func.func @count_twice() {
  func.call @count() : () -> ()
  func.call @count() : () -> ()
  return
}
func.func @sgd(%g: tensor<4xf32>) {
  %w = kiln.read_variable @w : tensor<4xf32>
  %w1 = kiln.sub %w, %g : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  kiln.assign_variable @w, %w1 : tensor<4xf32>
  return
}
kiln.variable @v : tensor<2xf32>
func.func @loop_updates(%n: tensor<i64>) -> tensor<2xf32> {
  %zero = kiln.constant dense<0> : tensor<i64>
  %one = kiln.constant dense<1> : tensor<i64>
  kiln.for %zero to %n step %one do {
  ^bb0(%i: tensor<i64>):
    %v = kiln.read_variable @v : tensor<2xf32>
    %c = kiln.constant dense<1.0> : tensor<2xf32>
    %v1 = kiln.add %v, %c : tensor<2xf32>, tensor<2xf32> -> tensor<2xf32>
    kiln.assign_variable @v, %v1 : tensor<2xf32>
    kiln.yield
  }
  %r = kiln.read_variable @v : tensor<2xf32>
  return %r : tensor<2xf32>
}
