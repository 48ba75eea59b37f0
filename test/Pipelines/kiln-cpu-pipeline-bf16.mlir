// bf16 code on an x86 CPU without AVX512-BF16 calls no helper: the bounds-
// checked loads of the emulated tensor-core kernels pass bf16 values from
// block to block, which load, store and travel as i16 bits
// (kiln-cpu-bf16-bits); no bf16 arithmetic or bf16 rounding is left for
// LLVM (kiln-cpu-float-casts). Even without LLVM's optimizations (-O0).
// RUN: tensor-opt %s --kiln-cpu-pipeline="emulate-gpu-kernels target-cpu=x86-64-v3" | FileCheck %s
// RUN: tensor-opt %s --kiln-cpu-pipeline="emulate-gpu-kernels target-cpu=x86-64-v3" | \
// RUN:   mlir-translate --mlir-to-llvmir | llc -O0 -mcpu=x86-64-v3 -o - | \
// RUN:   FileCheck %s --check-prefix=ASM

// CHECK-LABEL: @kiln.fn.f(
// CHECK-NOT: {{\^bb[0-9]+\([^)]*: (bf16|vector<[0-9]+xbf16>)}}
// CHECK-NOT: llvm.load {{.*}} -> bf16
// CHECK-NOT: llvm.load {{.*}} -> vector<{{[0-9]+}}xbf16>
// CHECK-NOT: llvm.fptrunc {{.*}} to bf16
// CHECK-NOT: llvm.fptrunc {{.*}} to vector<{{[0-9]+}}xbf16>
// CHECK-NOT: llvm.fadd {{.*}} : bf16
// CHECK: llvm.return
func.func @f(%a: tensor<4x8xbf16>, %b: tensor<8x3xbf16>) -> tensor<4x3xbf16> {
  %p = kiln.matmul %a, %b : tensor<4x8xbf16>, tensor<8x3xbf16> -> tensor<4x3xbf16>
  return %p : tensor<4x3xbf16>
}

// ASM-LABEL: kiln.fn.f:
// ASM-NOT: __truncsfbf2
// ASM-NOT: __extendbfsf2
// ASM: retq
