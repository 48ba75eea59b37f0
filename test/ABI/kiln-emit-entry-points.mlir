// kiln-emit-entry-points writes the C entry points and the manifest from the
// entries' descriptions; it refuses code generated for another device than
// the entries were described for, and a module whose public functions were
// never described.
// RUN: tensor-opt %s --kiln-tensor-pipeline --kiln-cpu-codegen-pipeline | FileCheck %s
// RUN: not tensor-opt %s --kiln-tensor-pipeline="device=cuda" --kiln-cpu-codegen-pipeline 2>&1 | FileCheck %s --check-prefix=CUDA
// RUN: not tensor-opt %s --convert-kiln-to-linalg --kiln-cpu-codegen-pipeline 2>&1 | FileCheck %s --check-prefix=UNDESCRIBED

// CHECK-LABEL: llvm.func @kiln_entry_twice
// CHECK: llvm.mlir.global external constant @kiln_manifest("kiln-manifest 4\0Aentry twice 1 1 0 cpu\0Ain f32 1 4\0Aout f32 1 4\0Aend\0A\00")
// CUDA: error: entry point 'twice' is described for cuda but its code was generated for cpu
// UNDESCRIBED: error: 'twice' is public but not described as an entry point: run kiln-prepare-entry-points (the tensor stage) before lowering
func.func @twice(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = kiln.add %x, %x : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  return %y : tensor<4xf32>
}
