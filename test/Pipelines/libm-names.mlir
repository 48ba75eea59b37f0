// A module whose functions are named like the C math functions the
// lowering calls (math.erf becomes a libm call to erf; exp to the exp
// intrinsic): they must not be taken for them. The entry keeps its name.
// RUN: tensor-opt %s --kiln-cpu-pipeline | FileCheck %s

// CHECK-DAG: llvm.func @erf(f64) -> f64
// CHECK-DAG: llvm.func @kiln_entry_erf(
// CHECK-DAG: llvm.func internal @kiln.fn.erf(
// CHECK-DAG: llvm.func @kiln.fn.exp(
// CHECK: @kiln_manifest("kiln-manifest 4\0Aentry erf 1 1 0 cpu
func.func private @exp(%x: tensor<8xf64>) -> tensor<8xf64> {
  %0 = kiln.exp %x : tensor<8xf64>
  return %0 : tensor<8xf64>
}

func.func @erf(%x: tensor<8xf64>) -> tensor<8xf64> {
  %0 = call @exp(%x) : (tensor<8xf64>) -> tensor<8xf64>
  %1 = kiln.erf %0 : tensor<8xf64>
  return %1 : tensor<8xf64>
}
