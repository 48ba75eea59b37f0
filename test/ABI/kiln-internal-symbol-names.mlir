// RUN: tensor-opt %s --kiln-internal-symbol-names | FileCheck %s
// Functions leave the C namespace; entry points keep their public name;
// calls follow. A second run changes nothing.
// RUN: tensor-opt %s --kiln-internal-symbol-names --kiln-internal-symbol-names | FileCheck %s

// A declaration (defined by the runtime or a library) keeps its name.
// CHECK: func.func private @kiln_check_failed(i32)
func.func private @kiln_check_failed(i32)

// CHECK-LABEL: func.func private @kiln.fn.exp(
// CHECK-NOT: kiln.entry_name
func.func private @exp(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = kiln.exp %x : tensor<3xf32>
  return %0 : tensor<3xf32>
}

// CHECK-LABEL: func.func @kiln.fn.erf(
// CHECK-SAME: kiln.entry_name = "erf"
// CHECK: call @kiln.fn.exp(
func.func @erf(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = call @exp(%x) : (tensor<3xf32>) -> tensor<3xf32>
  %1 = kiln.erf %0 : tensor<3xf32>
  return %1 : tensor<3xf32>
}
