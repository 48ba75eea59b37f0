// Shape functions of GPU entries run on the host and read only extents:
// the run-time check that an open-extent tensor reshaped to a fixed shape
// has as many elements computes their product with affine.apply, which
// the GPU target must accept (it refused it as host code touching GPU
// memory; found by the random programs' GPU mode).
// A reduction keeping its axis over open extents ends in a reshape whose
// extents are a small buffer the host reads to build the result's
// descriptor: host memory (it was moved to the GPU and read from there).
// RUN: tensor-opt %s --kiln-gpu-pipeline | FileCheck %s

// CHECK: llvm.func internal @f_kiln_shape(
// CHECK: llvm.mul
// CHECK: llvm.func internal @g_kiln_shape(
// CHECK: llvm.func @kiln_entry_f(
// CHECK: llvm.func @kiln_entry_g(
// CHECK: llvm.func @kiln_entry_keepdims(
func.func @f(%x: tensor<5x?xf64>) -> tensor<5xf64> {
  %t = kiln.tanh %x : tensor<5x?xf64>
  %r = kiln.reshape %t : tensor<5x?xf64> -> tensor<5xf64>
  return %r : tensor<5xf64>
}

func.func @g(%x: tensor<?x?xf64>) -> tensor<0xf64> {
  %r = kiln.reshape %x : tensor<?x?xf64> -> tensor<0xf64>
  return %r : tensor<0xf64>
}

func.func @keepdims(%x: tensor<3x?x?xf64>) -> tensor<1x?x?xf64> {
  %r = kiln.reduce_max %x {axes = array<i64: 0>, keepdims = true} : tensor<3x?x?xf64> -> tensor<1x?x?xf64>
  return %r : tensor<1x?x?xf64>
}
