// The CPU JIT compiles a module's LLVM IR in partitions on threads; the
// result is the same (docs/pipeline.md). KILN_COMPILE_TIMING=1 reports
// the phases, the partitions and the threads (KILN_COMPILE_THREADS caps
// them).
// RUN: env KILN_COMPILE_TIMING=1 KILN_COMPILE_THREADS=1 tensor-run %s --entry f --print --codegen-partitions=2 2>&1 | FileCheck %s --check-prefixes=CHECK,TWO
// RUN: env KILN_COMPILE_TIMING=1 tensor-run %s --entry f --print 2>&1 | FileCheck %s --check-prefixes=CHECK,ONE
// RUN: tensor-run %s --entry f --print 2>&1 | FileCheck %s --check-prefix=QUIET

// CHECK: Total Execution Time
// TWO: kiln compile: MLIR passes {{[0-9.]+}} s, translation to LLVM IR {{[0-9.]+}} s, LLVM optimization and code generation {{[0-9.]+}} s (2 partitions, 1 thread), linking {{[0-9.]+}} s, total {{[0-9.]+}} s
// ONE: (1 partition, 1 thread)
// CHECK: output 0: 10
// QUIET-NOT: kiln compile
// QUIET: output 0: 10
func.func @f() -> tensor<f32> {
  %a = kiln.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %s = kiln.reduce_sum %a {axes = array<i64: 0>} : tensor<4xf32> -> tensor<f32>
  return %s : tensor<f32>
}
func.func @g(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = kiln.exp %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}
