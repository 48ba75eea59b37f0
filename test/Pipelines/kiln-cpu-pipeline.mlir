// The CPU pipeline end to end: Kiln in, LLVM dialect with Kiln's entry point
// and manifest out.
// RUN: tensor-opt %s --kiln-cpu-pipeline | FileCheck %s
// Stage by stage: after the Kiln lowering and fusion, the bias add and relu
// are one linalg.generic consuming the matmul.
// RUN: tensor-opt %s --kiln-tensor-pipeline | FileCheck %s --check-prefix=FUSED
// Bufferized: the result is a caller-provided out-parameter.
// RUN: tensor-opt %s --pass-pipeline="builtin.module(kiln-prepare-entry-points,convert-kiln-to-linalg,canonicalize,kiln-fuse-elementwise,cse,eliminate-empty-tensors,one-shot-bufferize{bufferize-function-boundaries=true function-boundary-type-conversion=identity-layout-map allow-return-allocs-from-loops=true},buffer-results-to-out-params{hoist-static-allocs=true modify-public-functions=true})" | FileCheck %s --check-prefix=BUF

// FUSED-LABEL: func.func @affine
// FUSED: linalg.matmul
// FUSED: linalg.generic
// FUSED: arith.addf
// FUSED: arith.maximumf
// FUSED-NOT: linalg.generic
// FUSED: return

// BUF-LABEL: func.func @affine
// BUF-SAME: (%{{.*}}: memref<4x3xf32>, %{{.*}}: memref<3x2xf32>, %{{.*}}: memref<2xf32>, %[[OUT:.*]]: memref<4x2xf32>)
// BUF: linalg.generic {{.*}} outs(%[[OUT]] : memref<4x2xf32>)
// BUF-NOT: memref.copy

// CHECK: llvm.func internal @kiln.fn.affine(
// CHECK-LABEL: llvm.func @kiln_entry_affine(%{{.*}}: !llvm.ptr) -> i32
// CHECK: llvm.getelementptr %{{.*}}[3] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: llvm.call @kiln.fn.affine(
// CHECK: llvm.return %{{.*}} : i32
// CHECK: llvm.mlir.global external constant @kiln_manifest("kiln-manifest 4\0Aentry affine 3 1 0 cpu\0Ain f32 2 4 3\0Ain f32 2 3 2\0Ain f32 1 2\0Aout f32 2 4 2\0Aend\0A\00")

// kiln-cpu-pipeline is the tensor stage, then the CPU stage, with the
// options of both.
// RUN: tensor-opt %s --kiln-cpu-pipeline="fuse-elementwise=false target-cpu=x86-64-v4" --dump-pass-pipeline -o /dev/null 2>&1 | FileCheck %s --check-prefix=STAGES
// STAGES: builtin.module(
// STAGES-NEXT: kiln-expand-optimizers,
// STAGES: kiln-split-shape-functions,
// STAGES-NEXT: kiln-widen-half-accumulators{keep-plain-contractions=false},
// STAGES-NEXT: cse,
// STAGES-NEXT: func.func(
// STAGES-NEXT: kiln-cpu-tile-convolutions{vector-bits=512},
// STAGES-NEXT: kiln-cpu-convolutions-to-gemm,
// STAGES-NEXT: kiln-cpu-tile-contractions{vector-bits=512},
// STAGES-NEXT: kiln-cpu-split-reductions{vector-bits=512},
// STAGES-NEXT: kiln-cpu-parallel-chunks
// STAGES-NEXT: ),
// STAGES-NEXT: kiln-contraction-loop-order,
// STAGES: kiln-cpu-vectorize-loops{vector-bits=512}
// STAGES: kiln-cpu-target{cpu=x86-64-v4},
// STAGES-NEXT: kiln-emit-entry-points
// STAGES-NEXT: )
func.func @affine(%x: tensor<4x3xf32>, %w: tensor<3x2xf32>, %b: tensor<2xf32>) -> tensor<4x2xf32> {
  %0 = kiln.matmul %x, %w : tensor<4x3xf32>, tensor<3x2xf32> -> tensor<4x2xf32>
  %1 = kiln.add %0, %b : tensor<4x2xf32>, tensor<2xf32> -> tensor<4x2xf32>
  %2 = kiln.relu %1 : tensor<4x2xf32>
  return %2 : tensor<4x2xf32>
}

// The contraction's reduction loop moves outside the last parallel loop, so
// the innermost loop runs along contiguous rows of B and C.
// RUN: tensor-opt %s --pass-pipeline="builtin.module(convert-kiln-to-linalg,kiln-contraction-loop-order)" | FileCheck %s --check-prefix=ORDER
// ORDER-DAG: #[[A:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// ORDER-DAG: #[[B:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// ORDER-DAG: #[[C:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// ORDER-LABEL: func.func @affine
// ORDER: linalg.generic {indexing_maps = [#[[A]], #[[B]], #[[C]]], iterator_types = ["parallel", "reduction", "parallel"]}
