// REQUIRES: ptxas
// f16 and bf16 products on the tensor cores from sm_80 (mma.sync), f32
// ones too with allow-tf32; the PTX assembled by ptxas for sm_80 and sm_90.
// RUN: tensor-opt %s --kiln-gpu-pipeline="chip=sm_80 features=+ptx80 format=isa" | FileCheck %s
// RUN: tensor-opt %s --kiln-gpu-pipeline="chip=sm_80 features=+ptx80 format=isa allow-tf32=true" | FileCheck %s --check-prefixes=CHECK,TF32
// RUN: tensor-opt %s --kiln-gpu-pipeline="chip=sm_80 features=+ptx80 format=bin allow-tf32=true" | FileCheck %s --check-prefix=BIN
// RUN: tensor-opt %s --kiln-gpu-pipeline="chip=sm_90 format=bin allow-tf32=true" | FileCheck %s --check-prefix=BIN
// Before sm_80, or with tensor-cores=false, the FMA kernel:
// RUN: tensor-opt %s --kiln-gpu-pipeline="chip=sm_75 features=+ptx80 format=isa" | FileCheck %s --check-prefixes=NONE,OLD
// RUN: tensor-opt %s --kiln-gpu-pipeline="chip=sm_90 format=isa tensor-cores=false allow-tf32=true" | FileCheck %s --check-prefix=NONE
// which sums f16 and bf16 products in f32 too (operands converted, FMAs
// on f32, each result rounded once), assembled by ptxas:
// RUN: tensor-opt %s --kiln-gpu-pipeline="chip=sm_90 format=isa tensor-cores=false" | FileCheck %s --check-prefix=WIDE --implicit-check-not=fma.rn.f16 --implicit-check-not=fma.rn.bf16 --implicit-check-not=add.rn.f16 --implicit-check-not=add.rn.bf16
// RUN: tensor-opt %s --kiln-gpu-pipeline="chip=sm_75 features=+ptx80 format=bin" | FileCheck %s --check-prefix=BIN
// Without tiled products (one thread per output), half products are
// computed on f32 operands by the tensor-level lowering instead:
// RUN: tensor-opt %s --kiln-gpu-pipeline="chip=sm_90 format=isa tile-contractions=false" | FileCheck %s --check-prefix=WIDE --implicit-check-not=fma.rn.f16 --implicit-check-not=fma.rn.bf16 --implicit-check-not=add.rn.f16 --implicit-check-not=add.rn.bf16

// CHECK-DAG: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// CHECK-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// TF32-DAG: mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
// BIN: gpu.binary @kiln_kernels [#gpu.object<{{.*}}properties = {ISAToBinaryTimeInMs
// NONE-NOT: mma.sync
// (Before sm_80 there is no cp.async nor ldmatrix: one stage, plain loads.)
// OLD-NOT: cp.async
// OLD-NOT: ldmatrix
// From sm_80 the halves' fragments come through ldmatrix (transposed from
// a depth-major tile, as they are from a K-contiguous one), and @pipelined's
// tiles (entry arguments with rows of whole 16-byte vectors) through
// 16-byte cp.async into two stages, waited for step by step and at the end.
// CHECK-DAG: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// CHECK-DAG: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// CHECK-DAG: cp.async.cg.shared.global{{[^;]*}}, 16, %r
// CHECK-DAG: cp.async.commit_group
// CHECK-DAG: cp.async.wait_group{{[^;]*}}1;
// CHECK-DAG: cp.async.wait_group{{[^;]*}}0;
// WIDE-DAG: cvt.f32.f16
// WIDE-DAG: cvt.f32.bf16
// WIDE-DAG: fma.rn.f32
// WIDE-DAG: cvt.rn.f16.f32
// WIDE-DAG: cvt.rn.bf16.f32
func.func @half(%a: tensor<70x40xf16>, %b: tensor<40x33xf16>) -> tensor<70x33xf16> {
  %0 = kiln.matmul %a, %b : tensor<70x40xf16>, tensor<40x33xf16> -> tensor<70x33xf16>
  return %0 : tensor<70x33xf16>
}
func.func @brain(%a: tensor<70x40xbf16>, %b: tensor<33x40xbf16>) -> tensor<70x33xbf16> {
  %0 = kiln.matmul %a, %b {transpose_rhs = true} : tensor<70x40xbf16>, tensor<33x40xbf16> -> tensor<70x33xbf16>
  return %0 : tensor<70x33xbf16>
}
func.func @single(%a: tensor<3x70x40xf32>, %b: tensor<3x40x33xf32>) -> tensor<3x70x33xf32> {
  %0 = kiln.batch_matmul %a, %b : tensor<3x70x40xf32>, tensor<3x40x33xf32> -> tensor<3x70x33xf32>
  return %0 : tensor<3x70x33xf32>
}
func.func @pipelined(%a: tensor<64x64xbf16>, %b: tensor<64x64xbf16>) -> tensor<64x64xbf16> {
  %0 = kiln.matmul %a, %b : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xbf16>
  return %0 : tensor<64x64xbf16>
}
