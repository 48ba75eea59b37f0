// The CPU stage alone, on what the tensor stage hands it (linalg on tensors,
// entries described by #kiln.entry): LLVM dialect out, with the C entry
// points and the manifest written from the descriptions.
// RUN: tensor-opt %s --kiln-cpu-codegen-pipeline="target-cpu=x86-64-v3" | FileCheck %s
// RUN: tensor-opt %s --kiln-cpu-codegen-pipeline --dump-pass-pipeline -o /dev/null 2>&1 | FileCheck %s --check-prefix=STAGE

// CHECK-LABEL: llvm.func internal @kiln.fn.step(
// CHECK-SAME: target_cpu = "x86-64-v3"
// CHECK-LABEL: llvm.func @kiln_entry_step(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr) -> i32
// CHECK: llvm.call @kiln.fn.step(
// CHECK: llvm.mlir.global external constant @kiln_manifest("kiln-manifest 4\0Avariable w f32 1 2\0Aentry step 2 1 1 cpu\0Ain f32 2 4 3\0Ain f32 2 3 2\0Aout f32 2 4 2\0Avar w rw f32 1 2\0Aend\0A\00")

// The stage starts with the CPU's tiling (convolutions, contractions) and loop order and
// ends with the target CPU and the entry points.
// STAGE: builtin.module(
// STAGE-NEXT: func.func(
// STAGE-NEXT: kiln-cpu-tile-convolutions{vector-bits={{256|512|128}}},
// STAGE-NEXT: kiln-cpu-convolutions-to-gemm,
// STAGE-NEXT: kiln-cpu-tile-contractions{vector-bits={{256|512|128}}},
// STAGE-NEXT: kiln-cpu-split-reductions{vector-bits={{256|512|128}}},
// STAGE-NEXT: kiln-cpu-parallel-chunks
// STAGE-NEXT: ),
// STAGE-NEXT: kiln-contraction-loop-order,
// STAGE-NEXT: eliminate-empty-tensors,
// STAGE-NEXT: kiln-materialize-variable-updates,
// STAGE-NEXT: eliminate-empty-tensors,
// STAGE-NEXT: kiln-shared-out-reads,
// STAGE-NEXT: kiln-distinct-results,
// STAGE-NEXT: one-shot-bufferize{
// STAGE: kiln-drop-variable-results,
// STAGE: kiln-copies-to-linalg,
// STAGE-NEXT: func.func(
// STAGE-NEXT: kiln-cpu-parallel-chunks
// STAGE-NEXT: ),
// STAGE-NEXT: func.func(
// STAGE-NEXT: kiln-cpu-vectorize-loops{vector-bits={{256|512|128}}}
// STAGE-NEXT: ),
// STAGE-NEXT: kiln-cpu-parallel-loops{threads=true},
// STAGE: kiln-cpu-lower-vectors
// STAGE: kiln-copies-to-linalg,
// STAGE: convert-linalg-to-loops
// STAGE: finalize-memref-to-llvm{{.*}}use-generic-functions=true
// STAGE: convert-to-llvm
// STAGE: kiln-cpu-target{cpu=host},
// STAGE-NEXT: kiln-emit-entry-points
// STAGE-NEXT: )

#rows = affine_map<(d0, d1) -> (d0, d1)>
#cols = affine_map<(d0, d1) -> (d1)>
module attributes {kiln.variables = {w = tensor<2xf32>}} {
  func.func @step(%x: tensor<4x3xf32>, %m: tensor<3x2xf32>, %w: tensor<2xf32> {kiln.variable = @w}) -> (tensor<4x2xf32>, tensor<2xf32>) attributes {kiln.assigned = [@w], kiln.entry = #kiln.entry<inputs = [tensor<4x3xf32>, tensor<3x2xf32>], outputs = [tensor<4x2xf32>], variables = [#kiln.binding<@w : tensor<2xf32>, read_write>], checks = [], device = cpu>} {
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty() : tensor<4x2xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
    %p = linalg.matmul ins(%x, %m : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
    %y = linalg.generic {indexing_maps = [#rows, #cols, #rows], iterator_types = ["parallel", "parallel"]} ins(%p, %w : tensor<4x2xf32>, tensor<2xf32>) outs(%e : tensor<4x2xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %s = arith.addf %a, %b : f32
      linalg.yield %s : f32
    } -> tensor<4x2xf32>
    %ew = tensor.empty() : tensor<2xf32>
    %w1 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%w : tensor<2xf32>) outs(%ew : tensor<2xf32>) {
    ^bb0(%a: f32, %o: f32):
      %s = arith.mulf %a, %a : f32
      linalg.yield %s : f32
    } -> tensor<2xf32>
    return %y, %w1 : tensor<4x2xf32>, tensor<2xf32>
  }
}
