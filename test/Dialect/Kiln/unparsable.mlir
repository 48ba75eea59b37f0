// Text that crashes MLIR's parser (LLVM 22: Parser::parseDenseArrayAttr
// dereferences a null pointer on a dense array of `index`) is an error at
// its position instead, in tensor-opt and in everything that compiles .mlir
// text (tensor-run, tensor-compile, the Python binding).
// RUN: not tensor-opt %s 2>&1 | FileCheck %s
// RUN: not tensor-opt %s --split-input-file --kiln-cpu-pipeline 2>&1 | FileCheck %s
// RUN: not tensor-run %s 2>&1 | FileCheck %s --check-prefix=JIT
// RUN: cat %s | not tensor-opt - 2>&1 | FileCheck %s --check-prefix=STDIN

// In a comment, array<index> is harmless; in a string too:
func.func @f(%x: tensor<1x3xf32>) -> tensor<3xf32> attributes {note = "array<index>"} {
  // CHECK: unparsable.mlir:[[@LINE+4]]:32: error: a dense array of 'index' elements (array<index...>) is not supported: MLIR's parser crashes on it; use array<i64: ...>
  // CHECK-NOT: Stack dump
  // JIT: unparsable.mlir:[[@LINE+2]]:32: a dense array of 'index' elements
  // STDIN: <stdin>:[[@LINE+1]]:32: error: a dense array of 'index'
  %0 = kiln.squeeze %x {axes = array < index>} : tensor<1x3xf32> -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

