// RUN: tensor-opt %s --kiln-autodiff --split-input-file -verify-diagnostics

func.func @f(%x: tensor<f32>, %i: tensor<i32>) -> tensor<f32> {
  return %x : tensor<f32>
}
func.func @int_wrt(%x: tensor<f32>, %i: tensor<i32>) -> tensor<i32> {
  // expected-error@+1 {{cannot differentiate with respect to argument #1 of type 'tensor<i32>': only floating-point arguments have gradients}}
  %g = kiln.grad @f(%x, %i) {wrt = array<i64: 1>} : (tensor<f32>, tensor<i32>) -> tensor<i32>
  return %g : tensor<i32>
}

// -----

func.func @vec(%x: tensor<3xf32>) -> tensor<3xf32> {
  return %x : tensor<3xf32>
}
func.func @no_seed(%x: tensor<3xf32>) -> tensor<3xf32> {
  // expected-error@+1 {{@vec returns 'tensor<3xf32>'; without seeds (one cotangent per result) the gradient is only defined for a function returning one floating-point scalar}}
  %g = kiln.grad @vec(%x) {wrt = array<i64: 0>} : (tensor<3xf32>) -> tensor<3xf32>
  return %g : tensor<3xf32>
}

// -----

func.func @missing(%x: tensor<f32>) -> tensor<f32> {
  // expected-error@+1 {{refers to 'nowhere', which is not a function in this module}}
  %g = kiln.grad @nowhere(%x) {wrt = array<i64: 0>} : (tensor<f32>) -> tensor<f32>
  return %g : tensor<f32>
}

// -----

func.func @f(%x: tensor<f32>) -> tensor<f32> {
  return %x : tensor<f32>
}
func.func @bad_index(%x: tensor<f32>) -> tensor<f32> {
  // expected-error@+1 {{wrt index 3 is out of range: @f has 1 arguments}}
  %g = kiln.grad @f(%x) {wrt = array<i64: 3>} : (tensor<f32>) -> tensor<f32>
  return %g : tensor<f32>
}

// -----

func.func @f(%x: tensor<f32>) -> tensor<f32> {
  return %x : tensor<f32>
}
func.func @twice(%x: tensor<f32>) -> (tensor<f32>, tensor<f32>) {
  // expected-error@+1 {{wrt lists argument #0 twice}}
  %g:2 = kiln.grad @f(%x) {wrt = array<i64: 0, 0>} : (tensor<f32>) -> (tensor<f32>, tensor<f32>)
  return %g#0, %g#1 : tensor<f32>, tensor<f32>
}

// -----

func.func @f(%x: tensor<f32>) -> tensor<f32> {
  return %x : tensor<f32>
}
func.func @wrong_args(%x: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error@+1 {{arguments 'tensor<2xf32>' do not match @f's 'tensor<f32>'}}
  %g = kiln.grad @f(%x) {wrt = array<i64: 0>} : (tensor<2xf32>) -> tensor<2xf32>
  return %g : tensor<2xf32>
}

// -----

func.func @f(%x: tensor<f32>) -> tensor<f32> {
  return %x : tensor<f32>
}
func.func @wrong_results(%x: tensor<f32>) -> tensor<f64> {
  // expected-error@+1 {{results 'tensor<f64>' should be 'tensor<f32>'}}
  %g = kiln.grad @f(%x) {wrt = array<i64: 0>} : (tensor<f32>) -> tensor<f64>
  return %g : tensor<f64>
}

// -----

func.func @f(%x: tensor<3xf32>) -> tensor<3xf32> {
  return %x : tensor<3xf32>
}
func.func @bad_seed(%x: tensor<3xf32>, %s: tensor<2xf32>) -> tensor<3xf32> {
  // expected-error@+1 {{seeds 'tensor<2xf32>' must match @f's results 'tensor<3xf32>'}}
  %g = kiln.grad @f(%x) seeds(%s : tensor<2xf32>) {wrt = array<i64: 0>} : (tensor<3xf32>) -> tensor<3xf32>
  return %g : tensor<3xf32>
}

// -----

func.func @self(%x: tensor<f32>) -> tensor<f32> {
  // expected-error@+1 {{gradient requests form a cycle: a function requests its own gradient}}
  %g = kiln.grad @self(%x) {wrt = array<i64: 0>} : (tensor<f32>) -> tensor<f32>
  return %g : tensor<f32>
}

// -----

kiln.variable @v : tensor<f32>
func.func @sets(%x: tensor<f32>) -> tensor<f32> {
  %v = kiln.read_variable @v : tensor<f32>
  %y = kiln.mul %x, %v : tensor<f32>, tensor<f32> -> tensor<f32>
  kiln.assign_variable @v, %y : tensor<f32>
  return %y : tensor<f32>
}
func.func @d(%x: tensor<f32>) -> tensor<f32> {
  // expected-error@+1 {{cannot differentiate @sets with respect to @v: it assigns that variable}}
  %g = kiln.grad @sets(%x) {wrt_variables = [@v]} : (tensor<f32>) -> tensor<f32>
  return %g : tensor<f32>
}

// -----

// The reverse pass replays the body from the carried values; a condition
// that passes on something else (here after constant propagation) cannot be
// differentiated.
func.func @passes_other(%x: tensor<f32>, %limit: tensor<f32>) -> tensor<f32> {
  %one = kiln.constant dense<1.0> : tensor<f32>
  // expected-error@+1 {{cannot differentiate a kiln.while whose condition passes on other values than its arguments: the reverse pass replays the body from the carried values}}
  %r = kiln.while (%x : tensor<f32>) cond {
  ^bb0(%v: tensor<f32>):
    %p = kiln.compare lt, %v, %limit : tensor<f32>, tensor<f32> -> tensor<i1>
    kiln.condition(%p) %one : tensor<f32>
  } do {
  ^bb0(%v: tensor<f32>):
    %n = kiln.mul %v, %v : tensor<f32>, tensor<f32> -> tensor<f32>
    kiln.yield %n : tensor<f32>
  }
  return %r : tensor<f32>
}
func.func @d_passes_other(%x: tensor<f32>, %limit: tensor<f32>) -> tensor<f32> {
  %g = kiln.grad @passes_other(%x, %limit) {wrt = array<i64: 0>} : (tensor<f32>, tensor<f32>) -> tensor<f32>
  return %g : tensor<f32>
}

// -----

// Sorting rows whose extents are known only at run time: the scatter of
// the gradient needs them.
func.func @sorted(%x: tensor<?x3xf32>) -> tensor<?x3xf32> {
  // expected-error@+1 {{'kiln.sort' op differentiating kiln.sort needs static extents, not 'tensor<?x3xf32>'}}
  %v, %i = kiln.sort %x : tensor<?x3xf32> -> tensor<?x3xf32>, tensor<?x3xi32>
  return %v : tensor<?x3xf32>
}
func.func @dsorted(%x: tensor<?x3xf32>, %s: tensor<?x3xf32>) -> tensor<?x3xf32> {
  %g = kiln.grad @sorted(%x) seeds(%s : tensor<?x3xf32>) {wrt = array<i64: 0>} : (tensor<?x3xf32>) -> tensor<?x3xf32>
  return %g : tensor<?x3xf32>
}

// -----

// The gradient of polygamma is polygamma of the next order: none beyond 100.
func.func @deep(%x: tensor<f32>) -> tensor<f32> {
  // expected-error@+1 {{'kiln.polygamma' op the gradient of order 100 would need order 101, beyond the largest (100)}}
  %y = kiln.polygamma %x {order = 100 : i64} : tensor<f32>
  return %y : tensor<f32>
}
func.func @deep_grad(%x: tensor<f32>) -> tensor<f32> {
  %g = kiln.grad @deep(%x) {wrt = array<i64: 0>} : (tensor<f32>) -> tensor<f32>
  return %g : tensor<f32>
}
