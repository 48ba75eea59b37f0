// The NVIDIA GPU pipeline end to end: Kiln in; host code in the LLVM
// dialect with Kiln's entry point and a manifest that says cuda out, the
// kernel compiled through NVVM to PTX for sm_90 in a gpu.binary.
// RUN: tensor-opt %s --kiln-gpu-pipeline | FileCheck %s
// RUN: tensor-opt %s --kiln-gpu-pipeline="chip=sm_80 features=+ptx70 block-size=128" | FileCheck %s --check-prefix=SM80
// The tensor stage then the GPU stage, as two pipelines.
// RUN: tensor-opt %s --kiln-tensor-pipeline=device=cuda --kiln-gpu-codegen-pipeline | FileCheck %s

// The bias add and the relu are one kernel: four consecutive elements of a
// row per thread (16-byte loads of x and of the bias, one 16-byte store),
// the grid over blocks of 256 threads, consecutive threads on consecutive
// groups.
// CHECK: llvm.func internal @affine(
// CHECK: gpu.launch_func @kiln_kernels::@affine_kernel blocks in
// CHECK: gpu.binary @kiln_kernels [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80"{{.*}}>, {{.*}}assembly = "{{.*}}.target sm_90{{.*}}.visible .entry affine_kernel({{.*}}.maxntid 256, 1, 1{{.*}}%ctaid.x{{.*}}%tid.x{{.*}}ld.global.v4.b32{{.*}}ld.global.v4.b32{{.*}}add{{(.rn)?}}.f32{{.*}}max.NaN.f32{{.*}}st.global.v4.b32
// CHECK-LABEL: llvm.func @kiln_entry_affine(
// CHECK: llvm.mlir.global external constant @kiln_manifest("kiln-manifest 4\0Aentry affine 2 1 0 cuda\0Ain f32 2 512 64\0Ain f32 1 64\0Aout f32 2 512 64\0Aend\0A\00")
// SM80: gpu.binary @kiln_kernels [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx70"{{.*}}.version 7.0{{.*}}.target sm_80{{.*}}.maxntid 128, 1, 1
func.func @affine(%x: tensor<512x64xf32>, %b: tensor<64xf32>) -> tensor<512x64xf32> {
  %0 = kiln.add %x, %b : tensor<512x64xf32>, tensor<64xf32> -> tensor<512x64xf32>
  %1 = kiln.relu %0 : tensor<512x64xf32>
  return %1 : tensor<512x64xf32>
}

