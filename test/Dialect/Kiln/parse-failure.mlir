// A kiln.cond or kiln.while that fails to parse after one of its regions
// parsed, while an op above refers forward to a value defined in that
// region, is an error at its position: the region's values let go of that
// use before the region is freed (before, ODS's generated parser freed it
// with the use in place, and the parser's cleanup wrote into freed memory).
// Found by the .mlir fuzzer; under valgrind where it is installed.
// RUN: %memcheck tensor-opt %s --split-input-file --verify-diagnostics --allow-unregistered-dialect

func.func @while_body_fails(%x: tensor<f32>, %limit: tensor<f32>) -> tensor<f32> {
  "test.use"(%p) : (tensor<i1>) -> ()
  %r = kiln.while (%x : tensor<f32>) cond {
  ^bb0(%v: tensor<f32>):
    %p = kiln.compare lt, %v, %limit : tensor<f32>, tensor<f32> -> tensor<i1>
    kiln.condition(%p) %v : tensor<f32>
  } do {
  ^bb0(%v: tensor<f32>):
    // expected-error @+1 {{expected non-function type}}
    %w = kiln.add %v, %v : tensor<f32>, tensor<f-9223372036854775808> -> tensor<f32>
    kiln.yield %w : tensor<f32>
  }
  return %r : tensor<f32>
}

// -----

// expected-note @+1 {{prior use here}}
func.func @while_operands_fail(%x: tensor<f32>) -> tensor<f32> {
  "test.use"(%p) : (tensor<i1>) -> ()
  // expected-error @+1 {{use of value '%x' expects different type than prior uses}}
  %r = kiln.while (%x : tensor<i32>) cond {
  ^bb0(%v: tensor<f32>):
    %p = "test.pred"(%v) : (tensor<f32>) -> tensor<i1>
    kiln.condition(%p) %v : tensor<f32>
  } do {
  ^bb0(%v: tensor<f32>):
    kiln.yield %v : tensor<f32>
  }
  return %r : tensor<f32>
}

// -----

func.func @cond_attributes_fail(%x: tensor<f32>, %p: tensor<i1>) -> tensor<f32> {
  "test.use"(%q) : (tensor<f32>) -> ()
  %r = kiln.cond %p -> (tensor<f32>) {
    %q = kiln.neg %x : tensor<f32>
    kiln.yield %q : tensor<f32>
  } else {
    kiln.yield %x : tensor<f32>
  // expected-error @+1 {{expected attribute value}}
  } {note = }
  return %r : tensor<f32>
}

// -----

func.func @cond_else_fails(%x: tensor<f32>, %p: tensor<i1>) -> tensor<f32> {
  "test.use"(%q) : (tensor<f32>) -> ()
  %r = kiln.cond %p -> (tensor<f32>) {
    %q = kiln.neg %x : tensor<f32>
    kiln.yield %q : tensor<f32>
  } else {
    // expected-error @+1 {{custom op 'kiln.nonexistent' is unknown}}
    %n = kiln.nonexistent %x : tensor<f32>
    kiln.yield %n : tensor<f32>
  }
  return %r : tensor<f32>
}

// -----

// expected-note @+1 {{prior use here}}
func.func @for_types_fail(%x: tensor<f32>, %n: tensor<i32>) -> tensor<f32> {
  "test.use"(%e) : (tensor<f32>) -> ()
  %zero = kiln.constant dense<0> : tensor<i64>
  // expected-error @+1 {{use of value '%n' expects different type than prior uses}}
  %r = kiln.for %zero to %n step %n iter_args(%x : tensor<f32>) do {
  ^bb0(%i: tensor<i64>, %acc: tensor<f32>):
    %e = kiln.exp %acc : tensor<f32>
    kiln.yield %e : tensor<f32>
  }
  return %r : tensor<f32>
}
