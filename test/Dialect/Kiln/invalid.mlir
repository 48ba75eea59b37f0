// Every diagnostic of the Kiln dialect, each with the input that causes it.
// RUN: tensor-opt %s -split-input-file -verify-diagnostics

func.func @broadcast_mismatch(%a: tensor<4x3xf32>, %b: tensor<4xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{shapes [4, 3] and [4] are not broadcast-compatible: dimension 1 of the result would be 3 and 4}}
  %0 = kiln.add %a, %b : tensor<4x3xf32>, tensor<4xf32> -> tensor<4x3xf32>
  return
}

// -----

// The larger extent on the left (a rule accepting a >= b instead of a == b
// would take it).
func.func @broadcast_mismatch_left(%a: tensor<3x4xf32>, %b: tensor<2x4xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{shapes [3, 4] and [2, 4] are not broadcast-compatible: dimension 0 of the result would be 3 and 2}}
  %0 = kiln.add %a, %b : tensor<3x4xf32>, tensor<2x4xf32> -> tensor<3x4xf32>
  return
}

// -----

func.func @element_mismatch(%a: tensor<4xf32>, %b: tensor<4xf64>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{operands must have the same element type, got 'f32' and 'f64'}}
  %0 = kiln.mul %a, %b : tensor<4xf32>, tensor<4xf64> -> tensor<4xf32>
  return
}

// -----

func.func @wrong_result_type(%a: tensor<4x3xf32>, %b: tensor<3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{'kiln.add' op inferred type(s) 'tensor<4x3xf32>' are incompatible with return type(s) of operation 'tensor<4x4xf32>'}}
  %0 = kiln.add %a, %b : tensor<4x3xf32>, tensor<3xf32> -> tensor<4x4xf32>
  return
}

// -----

func.func @float_only(%a: tensor<4xi32>) {
  // expected-error@+1 {{'kiln.exp' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<4xi32>'}}
  %0 = kiln.exp %a : tensor<4xi32>
  return
}

// -----

func.func @unsupported_element(%a: tensor<4xi8>) {
  // expected-error@+1 {{'kiln.neg' op operand #0 must be ranked tensor of floating-point or 32/64-bit integer values, but got 'tensor<4xi8>'}}
  %0 = kiln.neg %a : tensor<4xi8>
  return
}

// -----

func.func @compare_elements(%a: tensor<4xf32>, %b: tensor<4xi32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{operands must have the same element type, got 'f32' and 'i32'}}
  %0 = kiln.compare lt, %a, %b : tensor<4xf32>, tensor<4xi32> -> tensor<4xi1>
  return
}

// -----

func.func @bad_direction(%a: tensor<4xf32>) {
  // expected-error@+1 {{expected string or keyword containing one of the following enum values for attribute 'direction' [eq, ne, lt, le, gt, ge]}}
  %0 = kiln.compare less, %a, %a : tensor<4xf32>, tensor<4xf32> -> tensor<4xi1>
  return
}

// -----

func.func @select_elements(%c: tensor<4xi1>, %a: tensor<4xf32>, %b: tensor<4xi32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{on_true and on_false must have the same element type, got 'f32' and 'i32'}}
  %0 = kiln.select %c, %a, %b : tensor<4xi1>, tensor<4xf32>, tensor<4xi32> -> tensor<4xf32>
  return
}

// -----

func.func @select_condition(%c: tensor<4xf32>, %a: tensor<4xf32>) {
  // expected-error@+1 {{'kiln.select' op operand #0 must be ranked tensor of 1-bit signless integer values}}
  %0 = kiln.select %c, %a, %a : tensor<4xf32>, tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  return
}

// -----

func.func @cast_shape(%a: tensor<4xf32>) {
  // expected-error@+1 {{'kiln.cast' op requires the same shape for all operands and results}}
  %0 = kiln.cast %a : tensor<4xf32> -> tensor<5xi32>
  return
}

// -----

func.func @axis_out_of_range(%a: tensor<2x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{axis 2 is out of range for rank 2 (expected -2 <= axis < 2)}}
  %0 = kiln.reduce_sum %a {axes = array<i64: 2>} : tensor<2x3xf32> -> tensor<2xf32>
  return
}

// -----

func.func @duplicate_axes(%a: tensor<2x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{axis -1 appears twice in [1, -1]}}
  %0 = kiln.reduce_max %a {axes = array<i64: 1, -1>} : tensor<2x3xf32> -> tensor<2xf32>
  return
}

// -----

func.func @mean_of_integers(%a: tensor<2x3xi32>) {
  // expected-error@+1 {{'kiln.reduce_mean' op operand #0 must be ranked tensor of floating-point values}}
  %0 = kiln.reduce_mean %a {axes = array<i64: 1>} : tensor<2x3xi32> -> tensor<2xi32>
  return
}

// -----

func.func @argmax_axis(%a: tensor<2x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{axis -3 is out of range for rank 2}}
  %0 = kiln.argmax %a {axis = -3 : i64} : tensor<2x3xf32> -> tensor<2xi64>
  return
}

// -----

func.func @reshape_count(%a: tensor<2x3xf32>) {
  // expected-error@+1 {{'kiln.reshape' op cannot reshape [2, 3] (6 elements) to [4] (4 elements)}}
  %0 = kiln.reshape %a : tensor<2x3xf32> -> tensor<4xf32>
  return
}

// -----

func.func @reshape_empty_open(%a: tensor<?x0x2xf32>) {
  // expected-error@+1 {{'kiln.reshape' op cannot reshape [?, 0, 2] (0 elements) to [2, 3] (6 elements)}}
  %0 = kiln.reshape %a : tensor<?x0x2xf32> -> tensor<2x3xf32>
  return
}

// -----

func.func @reshape_like_rank(%a: tensor<?xf32>, %l: tensor<?xf32>) {
  // expected-error@+1 {{'kiln.reshape' op 'like' has rank 1 but the result has rank 2}}
  %0 = kiln.reshape %a like %l : tensor<?xf32>, tensor<?xf32> -> tensor<?x?xf32>
  return
}

// -----

func.func @reshape_like_extent(%a: tensor<?xf32>, %l: tensor<2x?xf32>) {
  // expected-error@+1 {{'kiln.reshape' op dimension 0 of 'like' is 2 but the result's is 3}}
  %0 = kiln.reshape %a like %l : tensor<?xf32>, tensor<2x?xf32> -> tensor<3x?xf32>
  return
}

// -----

func.func @reshape_element(%a: tensor<2x3xf32>) {
  // expected-error@+1 {{input and result must have the same element type, got 'f32' and 'f64'}}
  %0 = kiln.reshape %a : tensor<2x3xf32> -> tensor<6xf64>
  return
}

// -----

func.func @permutation_length(%a: tensor<2x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{permutation [0] has 1 entries but the input has rank 2}}
  %0 = kiln.transpose %a {permutation = array<i64: 0>} : tensor<2x3xf32> -> tensor<2xf32>
  return
}

// -----

func.func @not_a_permutation(%a: tensor<2x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{permutation [1, 1] is not a permutation of [0, 2)}}
  %0 = kiln.transpose %a {permutation = array<i64: 1, 1>} : tensor<2x3xf32> -> tensor<3x3xf32>
  return
}

// -----

func.func @broadcast_to_fewer(%a: tensor<2x3xf32>) {
  // expected-error@+1 {{cannot broadcast shape [2, 3] to [3]: the target has fewer dimensions}}
  %0 = kiln.broadcast_to %a : tensor<2x3xf32> -> tensor<3xf32>
  return
}

// -----

func.func @broadcast_to_like_rank(%a: tensor<3xf32>, %l: tensor<?xf32>) {
  // expected-error@+1 {{'like' has rank 1 but the result has rank 2}}
  %0 = kiln.broadcast_to %a like %l : tensor<3xf32>, tensor<?xf32> -> tensor<?x3xf32>
  return
}

// -----

func.func @broadcast_to_like_extent(%a: tensor<3xf32>, %l: tensor<?x4xf32>) {
  // expected-error@+1 {{dimension 1 of 'like' is 4 but the result's is 3}}
  %0 = kiln.broadcast_to %a like %l : tensor<3xf32>, tensor<?x4xf32> -> tensor<?x3xf32>
  return
}

// -----

func.func @broadcast_to_mismatch(%a: tensor<2x3xf32>) {
  // expected-error@+1 {{cannot broadcast shape [2, 3] to [4, 3]: dimension 0 is 2 but the target has 4}}
  %0 = kiln.broadcast_to %a : tensor<2x3xf32> -> tensor<4x3xf32>
  return
}

// -----

func.func @expand_dims_axis(%a: tensor<3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{axis 2 is out of range for rank 2 (expected -2 <= axis < 2); the new axis indexes the result, which has one more dimension than the input (rank 1)}}
  %0 = kiln.expand_dims %a {axis = 2 : i64} : tensor<3xf32> -> tensor<3x1xf32>
  return
}

// -----

func.func @squeeze_not_one(%a: tensor<2x1xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{cannot squeeze dimension 0 of [2, 1]: its size is not 1}}
  %0 = kiln.squeeze %a {axes = array<i64: 0>} : tensor<2x1xf32> -> tensor<1xf32>
  return
}

// -----

func.func @squeeze_unknown(%a: tensor<?x1xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{cannot squeeze all size-1 dimensions of [?, 1]: dimension 0 has unknown size (list the axes)}}
  %0 = kiln.squeeze %a {axes = array<i64>} : tensor<?x1xf32> -> tensor<?xf32>
  return
}

// -----

func.func @concat_none() {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{needs at least one operand}}
  %0 = kiln.concat {axis = 0 : i64} : () -> tensor<0xf32>
  return
}

// -----

func.func @concat_rank0(%a: tensor<f32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{cannot concatenate rank-0 tensors}}
  %0 = kiln.concat %a, %a {axis = 0 : i64} : (tensor<f32>, tensor<f32>) -> tensor<2xf32>
  return
}

// -----

func.func @split_sum(%x: tensor<5x3xf32>, %a: tensor<2x3xf32>, %b: tensor<2x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{the pieces' extents along axis 0 add up to 4, not the input's 5}}
  %0:2 = kiln.split %x like %a, %b {axis = 0 : i64} : tensor<5x3xf32> like tensor<2x3xf32>, tensor<2x3xf32> -> tensor<2x3xf32>, tensor<2x3xf32>
  return
}

// -----

func.func @split_rank(%x: tensor<5x3xf32>, %a: tensor<5xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{'like' operand 0 has rank 1 but the input has rank 2}}
  %0 = kiln.split %x like %a {axis = 0 : i64} : tensor<5x3xf32> like tensor<5xf32> -> tensor<5x3xf32>
  return
}

// -----

func.func @split_result(%x: tensor<?x3xf32>, %a: tensor<?x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{'kiln.split' op inferred type(s) 'tensor<?x3xf32>' are incompatible with return type(s) of operation 'tensor<?x4xf32>'}}
  %0 = kiln.split %x like %a {axis = 0 : i64} : tensor<?x3xf32> like tensor<?x3xf32> -> tensor<?x4xf32>
  return
}

// -----

func.func @concat_rank(%a: tensor<2x3xf32>, %b: tensor<3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{operand 1 has rank 1 but operand 0 has rank 2}}
  %0 = kiln.concat %a, %b {axis = 0 : i64} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<3x3xf32>
  return
}

// -----

func.func @concat_dims(%a: tensor<2x3xf32>, %b: tensor<2x4xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{operand 1 has shape [2, 4], which differs from [2, 3] in dimension 1 (only the concatenation axis 0 may differ)}}
  %0 = kiln.concat %a, %b {axis = 0 : i64} : (tensor<2x3xf32>, tensor<2x4xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @concat_elements(%a: tensor<2xf32>, %b: tensor<2xi32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{operands must have the same element type, got 'f32' and 'i32'}}
  %0 = kiln.concat %a, %b {axis = 0 : i64} : (tensor<2xf32>, tensor<2xi32>) -> tensor<4xf32>
  return
}

// -----

func.func @slice_length(%a: tensor<4x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{start [0] has 1 entries but the input has rank 2}}
  %0 = kiln.slice %a {start = array<i64: 0>, limit = array<i64: 4, 3>, stride = array<i64: 1, 1>} : tensor<4x3xf32> -> tensor<4x3xf32>
  return
}

// -----

func.func @slice_limit(%a: tensor<4xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{limit 5 in dimension 0 exceeds the dimension size 4}}
  %0 = kiln.slice %a {start = array<i64: 0>, limit = array<i64: 5>, stride = array<i64: 1>} : tensor<4xf32> -> tensor<5xf32>
  return
}

// -----

func.func @slice_start(%a: tensor<4xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{slice [3, 2) in dimension 0 must satisfy 0 <= start <= limit}}
  %0 = kiln.slice %a {start = array<i64: 3>, limit = array<i64: 2>, stride = array<i64: 1>} : tensor<4xf32> -> tensor<0xf32>
  return
}

// -----

func.func @slice_stride(%a: tensor<4xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{stride 0 in dimension 0 must be positive}}
  %0 = kiln.slice %a {start = array<i64: 0>, limit = array<i64: 4>, stride = array<i64: 0>} : tensor<4xf32> -> tensor<4xf32>
  return
}

// -----

func.func @pad_negative(%a: tensor<4xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{padding in dimension 0 must be non-negative (use slice to crop)}}
  %0 = kiln.pad %a {low = array<i64: -1>, high = array<i64: 0>} : tensor<4xf32> -> tensor<3xf32>
  return
}

// -----

func.func @pad_length(%a: tensor<4xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{high padding [0, 0] has 2 entries but the input has rank 1}}
  %0 = kiln.pad %a {low = array<i64: 1>, high = array<i64: 0, 0>} : tensor<4xf32> -> tensor<5xf32>
  return
}

// -----

func.func @gather_rank0(%a: tensor<f32>, %i: tensor<2xi32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{cannot gather from a rank-0 tensor}}
  %0 = kiln.gather %a, %i : tensor<f32>, tensor<2xi32> -> tensor<2xf32>
  return
}

// -----

func.func @gather_indices(%a: tensor<4xf32>, %i: tensor<2xf32>) {
  // expected-error@+1 {{'kiln.gather' op operand #1 must be ranked tensor of 32/64-bit signless integer values}}
  %0 = kiln.gather %a, %i : tensor<4xf32>, tensor<2xf32> -> tensor<2xf32>
  return
}

// -----

func.func @gather_axis(%a: tensor<4xf32>, %i: tensor<2xi32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{axis 1 is out of range for rank 1}}
  %0 = kiln.gather %a, %i {axis = 1 : i64} : tensor<4xf32>, tensor<2xi32> -> tensor<2xf32>
  return
}

// -----

func.func @scatter_updates(%b: tensor<10x4xf32>, %i: tensor<3xi32>, %u: tensor<3x5xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{updates have shape [3, 5] but base and indices imply [3, 4]}}
  %0 = kiln.scatter_add %b, %i, %u : tensor<10x4xf32>, tensor<3xi32>, tensor<3x5xf32> -> tensor<10x4xf32>
  return
}

// -----

func.func @scatter_rank0(%b: tensor<f32>, %i: tensor<3xi32>, %u: tensor<3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{cannot scatter into a rank-0 tensor}}
  %0 = kiln.scatter_add %b, %i, %u : tensor<f32>, tensor<3xi32>, tensor<3xf32> -> tensor<f32>
  return
}

// -----

func.func @scatter_elements(%b: tensor<4xf32>, %i: tensor<3xi32>, %u: tensor<3xf64>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{base and updates must have the same element type, got 'f32' and 'f64'}}
  %0 = kiln.scatter_add %b, %i, %u : tensor<4xf32>, tensor<3xi32>, tensor<3xf64> -> tensor<4xf32>
  return
}

// -----

func.func @scatter_reduce_updates(%b: tensor<10x4xf32>, %i: tensor<3xi32>, %u: tensor<4x4xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{updates have shape [4, 4] but base and indices imply [3, 4]}}
  %0 = kiln.scatter_reduce min, %b, %i, %u : tensor<10x4xf32>, tensor<3xi32>, tensor<4x4xf32> -> tensor<10x4xf32>
  return
}

// -----

func.func @scatter_reduce_kind(%b: tensor<10x4xf32>, %i: tensor<3xi32>, %u: tensor<3x4xf32>) {
  // expected-error@+1 {{expected string or keyword containing one of the following enum values for attribute 'reduction' [max, min, prod]}}
  %0 = kiln.scatter_reduce sum, %b, %i, %u : tensor<10x4xf32>, tensor<3xi32>, tensor<3x4xf32> -> tensor<10x4xf32>
  return
}

// -----

func.func @scatter_reduce_bool(%b: tensor<4xi1>, %i: tensor<3xi32>, %u: tensor<3xi1>) {
  // expected-error@+1 {{operand #0 must be ranked tensor of}}
  %0 = kiln.scatter_reduce max, %b, %i, %u : tensor<4xi1>, tensor<3xi32>, tensor<3xi1> -> tensor<4xi1>
  return
}

// -----

func.func @one_hot_shape(%l: tensor<5xi32>) {
  // expected-error@+1 {{'kiln.one_hot' op result has shape [5, 3] but the other operands imply [5, 4]}}
  %0 = kiln.one_hot %l {depth = 4 : i64} : tensor<5xi32> -> tensor<5x3xf32>
  return
}

// -----

func.func @one_hot_depth(%l: tensor<5xi32>) {
  // expected-error@+1 {{'kiln.one_hot' op depth must be non-negative, got -1}}
  %0 = kiln.one_hot %l {depth = -1 : i64} : tensor<5xi32> -> tensor<5x0xf32>
  return
}

// -----

func.func @one_hot_axis(%l: tensor<5xi32>) {
  // expected-error@+1 {{'kiln.one_hot' op axis 3 is out of range for rank 2 (expected -2 <= axis < 2); the new axis indexes the result, which has one more dimension than the input (rank 1)}}
  %0 = kiln.one_hot %l {depth = 4 : i64, axis = 3 : i64} : tensor<5xi32> -> tensor<5x4xf32>
  return
}

// -----

func.func @iota_dimension() {
  // expected-error@+1 {{'kiln.iota' op dimension 2 is out of range for a result of rank 2}}
  %0 = kiln.iota {dimension = 2 : i64} : tensor<2x3xf32>
  return
}

// -----

func.func @iota_like(%x: tensor<?x4xf32>) {
  // expected-error@+1 {{'kiln.iota' op dimension 1 of 'like' is 4 but the result's is 3}}
  %0 = kiln.iota like %x {dimension = 0 : i64} : tensor<?x3xi32>, tensor<?x4xf32>
  return
}

// -----

func.func @random_no_seed() {
  // expected-error@+1 {{'kiln.random_uniform' op needs exactly one seed: a 'static_seed' attribute or a seed operand}}
  %0 = kiln.random_uniform : tensor<4xf32>
  return
}

// -----

func.func @random_two_seeds(%s: tensor<i64>) {
  // expected-error@+1 {{'kiln.random_normal' op needs exactly one seed}}
  %0 = kiln.random_normal %s {static_seed = 1 : i64} : tensor<4xf32>
  return
}

// -----

func.func @random_like_rank(%s: tensor<i64>, %x: tensor<?xf32>) {
  // expected-error@+1 {{'kiln.random_uniform' op 'like' has rank 1 but the result has rank 2}}
  %0 = kiln.random_uniform %s like %x : tensor<?x4xf32>, tensor<?xf32>
  return
}

// -----

func.func @random_like_extent(%x: tensor<?x3xf32>) {
  // expected-error@+1 {{'kiln.truncated_normal' op dimension 1 of 'like' is 3 but the result's is 4}}
  %0 = kiln.truncated_normal like %x {static_seed = 1 : i64} : tensor<?x4xf32>, tensor<?x3xf32>
  return
}

// -----

func.func @random_range() {
  // expected-error@+1 {{'kiln.random_uniform' op needs minval < maxval, got [1.000000e+00, 1.000000e+00)}}
  %0 = kiln.random_uniform {static_seed = 1 : i64, minval = 1.0 : f64, maxval = 1.0 : f64} : tensor<4xf32>
  return
}

// -----

func.func @random_stddev() {
  // expected-error@+1 {{'kiln.truncated_normal' op needs a non-negative stddev, got -1.000000e+00}}
  %0 = kiln.truncated_normal {static_seed = 1 : i64, stddev = -1.0 : f64} : tensor<4xf32>
  return
}

// -----

func.func @random_integer() {
  // expected-error@+1 {{'kiln.random_uniform' op result #0 must be ranked tensor of floating-point values}}
  %0 = kiln.random_uniform {static_seed = 1 : i64} : tensor<4xi32>
  return
}

// -----

func.func @matmul_contraction(%a: tensor<4x8xf32>, %b: tensor<7x2xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{contraction dimensions differ: [4, 8] x [7, 2] contracts 8 with 7}}
  %0 = kiln.matmul %a, %b : tensor<4x8xf32>, tensor<7x2xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @matmul_transposed(%a: tensor<4x8xf32>, %b: tensor<8x2xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{contraction dimensions differ: [4, 8] x [8, 2]^T contracts 8 with 2}}
  %0 = kiln.matmul %a, %b {transpose_rhs = true} : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x8xf32>
  return
}

// -----

func.func @matmul_rank(%a: tensor<2x4x8xf32>, %b: tensor<8x2xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{matmul expects rank-2 operands, got [2, 4, 8] and [8, 2] (use batch_matmul for more)}}
  %0 = kiln.matmul %a, %b : tensor<2x4x8xf32>, tensor<8x2xf32> -> tensor<2x4x2xf32>
  return
}

// -----

func.func @batch_matmul_batch(%a: tensor<2x4x8xf32>, %b: tensor<3x8x2xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{batch dimensions: shapes [2] and [3] are not broadcast-compatible}}
  %0 = kiln.batch_matmul %a, %b : tensor<2x4x8xf32>, tensor<3x8x2xf32> -> tensor<2x4x2xf32>
  return
}

// -----

func.func @batch_matmul_rank(%a: tensor<8xf32>, %b: tensor<8x2xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{batch_matmul expects operands of rank >= 2, got [8] and [8, 2]}}
  %0 = kiln.batch_matmul %a, %b : tensor<8xf32>, tensor<8x2xf32> -> tensor<2xf32>
  return
}

// -----

func.func @batch_matmul_contraction(%a: tensor<2x4x8xf32>, %b: tensor<2x7x2xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{contraction dimensions differ: [2, 4, 8] x [2, 7, 2] contracts 8 with 7}}
  %0 = kiln.batch_matmul %a, %b : tensor<2x4x8xf32>, tensor<2x7x2xf32> -> tensor<2x4x2xf32>
  return
}

// -----

func.func @conv_channels(%x: tensor<1x5x5x2xf32>, %w: tensor<3x3x1x4xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{input has 2 channels but the filter expects 1}}
  %0 = kiln.conv2d %x, %w : tensor<1x5x5x2xf32>, tensor<3x3x1x4xf32> -> tensor<1x3x3x4xf32>
  return
}

// -----

func.func @conv_rank(%x: tensor<5x5x2xf32>, %w: tensor<3x3x2x4xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{input must have rank 4 (NHWC), got [5, 5, 2]}}
  %0 = kiln.conv2d %x, %w : tensor<5x5x2xf32>, tensor<3x3x2x4xf32> -> tensor<3x3x4xf32>
  return
}

// -----

func.func @conv_filter_rank(%x: tensor<1x5x5x2xf32>, %w: tensor<3x3x2xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{filter must have rank 4 (HWIO), got [3, 3, 2]}}
  %0 = kiln.conv2d %x, %w : tensor<1x5x5x2xf32>, tensor<3x3x2xf32> -> tensor<1x3x3x4xf32>
  return
}

// -----

func.func @conv_strides(%x: tensor<1x5x5x2xf32>, %w: tensor<3x3x2x4xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{strides must have 2 entries (height, width), got [1, 1, 1, 1]}}
  %0 = kiln.conv2d %x, %w {strides = array<i64: 1, 1, 1, 1>} : tensor<1x5x5x2xf32>, tensor<3x3x2x4xf32> -> tensor<1x3x3x4xf32>
  return
}

// -----

func.func @conv_dilations(%x: tensor<1x5x5x2xf32>, %w: tensor<3x3x2x4xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{dilations must have 2 entries (height, width), got [2]}}
  %0 = kiln.conv2d %x, %w {dilations = array<i64: 2>} : tensor<1x5x5x2xf32>, tensor<3x3x2x4xf32> -> tensor<1x3x3x4xf32>
  return
}

// -----

func.func @conv_window(%x: tensor<1x2x2x2xf32>, %w: tensor<3x3x2x4xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{window of effective size 3 does not fit in an input of size 2 with VALID padding}}
  %0 = kiln.conv2d %x, %w : tensor<1x2x2x2xf32>, tensor<3x3x2x4xf32> -> tensor<1x1x1x4xf32>
  return
}

// -----

func.func @conv_stride_zero(%x: tensor<1x5x5x2xf32>, %w: tensor<3x3x2x4xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{window size, stride and dilation must be positive (got 3, 0, 1)}}
  %0 = kiln.conv2d %x, %w {strides = array<i64: 0, 1>} : tensor<1x5x5x2xf32>, tensor<3x3x2x4xf32> -> tensor<1x3x3x4xf32>
  return
}

// -----

func.func @conv_padding_kind(%x: tensor<1x5x5x2xf32>, %w: tensor<3x3x2x4xf32>) {
  // expected-error@+2 {{expected one of [VALID, SAME] for implicit padding of a sliding-window op (TensorFlow's rules), got: FULL}}
  // expected-error@+1 {{failed to parse Kiln_PaddingAttr parameter 'value'}}
  %0 = kiln.conv2d %x, %w {padding = #kiln.padding<FULL>} : tensor<1x5x5x2xf32>, tensor<3x3x2x4xf32> -> tensor<1x3x3x4xf32>
  return
}

// -----

func.func @conv_dynamic_filter(%x: tensor<1x5x5x2xf32>, %w: tensor<?x3x2x4xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{filter spatial dimensions must be static}}
  %0 = kiln.conv2d %x, %w : tensor<1x5x5x2xf32>, tensor<?x3x2x4xf32> -> tensor<1x3x3x4xf32>
  return
}

// -----

func.func @conv_backprop_input(%w: tensor<3x3x2x4xf32>, %dy: tensor<1x3x3x4xf32>) {
  // expected-error@+1 {{'kiln.conv2d_backprop_input' op out_backprop has shape [1, 3, 3, 4] but the other operands imply [1, 4, 4, 4]}}
  %0 = kiln.conv2d_backprop_input %w, %dy : tensor<3x3x2x4xf32>, tensor<1x3x3x4xf32> -> tensor<1x6x6x2xf32>
  return
}

// -----

func.func @conv_backprop_filter(%x: tensor<1x5x5x2xf32>, %dy: tensor<1x3x3x4xf32>) {
  // expected-error@+1 {{'kiln.conv2d_backprop_filter' op out_backprop has shape [1, 3, 3, 4] but the other operands imply [1, 4, 4, 4]}}
  %0 = kiln.conv2d_backprop_filter %x, %dy : tensor<1x5x5x2xf32>, tensor<1x3x3x4xf32> -> tensor<2x2x2x4xf32>
  return
}

// -----

func.func @conv_backprop_elements(%w: tensor<3x3x2x4xf32>, %dy: tensor<1x3x3x4xf64>) {
  // expected-error@+1 {{operands and result must have the same element type, got 'f32' and 'f64'}}
  %0 = kiln.conv2d_backprop_input %w, %dy : tensor<3x3x2x4xf32>, tensor<1x3x3x4xf64> -> tensor<1x5x5x2xf32>
  return
}

// -----

func.func @pool_window(%x: tensor<1x4x4x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{window must have 2 entries (height, width), got [2]}}
  %0 = kiln.max_pool2d %x {window = array<i64: 2>} : tensor<1x4x4x3xf32> -> tensor<1x2x2x3xf32>
  return
}

// -----

func.func @pool_rank(%x: tensor<4x4x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{input must have rank 4 (NHWC), got [4, 4, 3]}}
  %0 = kiln.avg_pool2d %x {window = array<i64: 2, 2>} : tensor<4x4x3xf32> -> tensor<2x2x3xf32>
  return
}

// -----

func.func @max_pool_grad(%x: tensor<1x4x4x3xf32>, %dy: tensor<1x3x3x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{out_backprop has shape [1, 3, 3, 3] but pooling the input gives [1, 2, 2, 3]}}
  %0 = kiln.max_pool2d_grad %x, %dy {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<1x4x4x3xf32>, tensor<1x3x3x3xf32> -> tensor<1x4x4x3xf32>
  return
}

// -----

func.func @avg_pool_grad(%dy: tensor<1x3x3x3xf32>) {
  // expected-error@+1 {{'kiln.avg_pool2d_grad' op out_backprop has shape [1, 3, 3, 3] but the other operands imply [1, 2, 2, 3]}}
  %0 = kiln.avg_pool2d_grad %dy {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<1x3x3x3xf32> -> tensor<1x4x4x3xf32>
  return
}

// -----

func.func @softmax_axis(%x: tensor<4x10xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{axis 2 is out of range for rank 2}}
  %0 = kiln.softmax %x {axis = 2 : i64} : tensor<4x10xf32> -> tensor<4x10xf32>
  return
}

// -----

func.func @xent_labels(%l: tensor<4x10xf32>, %y: tensor<4x9xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{labels have shape [4, 9] but logits have shape [4, 10]}}
  %0 = kiln.softmax_cross_entropy %l, %y : tensor<4x10xf32>, tensor<4x9xf32> -> tensor<4xf32>
  return
}

// -----

func.func @xent_rank0(%l: tensor<f32>, %y: tensor<f32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{logits need a class dimension, got rank 0}}
  %0 = kiln.softmax_cross_entropy %l, %y : tensor<f32>, tensor<f32> -> tensor<f32>
  return
}

// -----

func.func @sparse_xent_labels(%l: tensor<4x10xf32>, %y: tensor<5xi32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{labels have shape [5] but logits of shape [4, 10] need labels of shape [4]}}
  %0 = kiln.sparse_softmax_cross_entropy %l, %y : tensor<4x10xf32>, tensor<5xi32> -> tensor<4xf32>
  return
}

// -----

func.func @cond_yield_count(%p: tensor<i1>, %x: tensor<f32>) {
  // expected-error@+1 {{'kiln.cond' op the 'then' region's yield has 0 value(s) but 1 are expected}}
  %0 = kiln.cond %p -> (tensor<f32>) {
    kiln.yield
  } else {
    kiln.yield %x : tensor<f32>
  }
  return
}

// -----

func.func @cond_yield_type(%p: tensor<i1>, %x: tensor<f32>, %y: tensor<2xf32>) {
  // expected-error@+1 {{'kiln.cond' op the 'else' region's yield value #0 has type 'tensor<2xf32>' but 'tensor<f32>' is expected}}
  %0 = kiln.cond %p -> (tensor<f32>) {
    kiln.yield %x : tensor<f32>
  } else {
    kiln.yield %y : tensor<2xf32>
  }
  return
}

// -----

func.func @cond_predicate(%p: tensor<2xi1>, %x: tensor<f32>) {
  // expected-error@+1 {{'kiln.cond' op operand #0 must be 0D tensor of 1-bit signless integer values}}
  %0 = "kiln.cond"(%p) ({
    kiln.yield %x : tensor<f32>
  }, {
    kiln.yield %x : tensor<f32>
  }) : (tensor<2xi1>) -> tensor<f32>
  return
}

// -----

func.func @while_arguments(%x: tensor<f32>, %p: tensor<i1>) {
  // expected-error@+1 {{'kiln.while' op the 'cond' region's arguments has 0 value(s) but 1 are expected}}
  %0 = kiln.while (%x : tensor<f32>) cond {
    kiln.condition(%p)
  } do {
  ^bb0(%v: tensor<f32>):
    kiln.yield %v : tensor<f32>
  }
  return
}

// -----

func.func @while_condition(%x: tensor<f32>, %p: tensor<i1>) {
  // expected-error@+1 {{'kiln.while' op the 'cond' region must end with kiln.condition (the predicate, then the region's arguments: `kiln.condition(%p) %x : tensor<f32>`)}}
  %0 = kiln.while (%x : tensor<f32>) cond {
  ^bb0(%v: tensor<f32>):
    kiln.yield %p : tensor<i1>
  } do {
  ^bb0(%v: tensor<f32>):
    kiln.yield %v : tensor<f32>
  }
  return
}

// -----

func.func @while_condition_values(%x: tensor<f32>, %p: tensor<i1>, %y: tensor<2xf32>) {
  // expected-error@+1 {{'kiln.while' op the values kiln.condition passes on value #0 has type 'tensor<2xf32>' but 'tensor<f32>' is expected}}
  %0 = kiln.while (%x : tensor<f32>) cond {
  ^bb0(%v: tensor<f32>):
    kiln.condition(%p) %y : tensor<2xf32>
  } do {
  ^bb0(%v: tensor<f32>):
    kiln.yield %v : tensor<f32>
  }
  return
}

// -----

func.func @condition_parent(%p: tensor<i1>) {
  // expected-error@+1 {{'kiln.condition' op expects parent op 'kiln.while'}}
  kiln.condition(%p)
}

// -----

func.func @while_body(%x: tensor<f32>, %p: tensor<i1>, %y: tensor<2xf32>) {
  // expected-error@+1 {{'kiln.while' op the 'do' region's yield value #0 has type 'tensor<2xf32>' but 'tensor<f32>' is expected}}
  %0 = kiln.while (%x : tensor<f32>) cond {
  ^bb0(%v: tensor<f32>):
    kiln.condition(%p) %v : tensor<f32>
  } do {
  ^bb0(%v: tensor<f32>):
    kiln.yield %y : tensor<2xf32>
  }
  return
}

// -----

func.func @for_counter(%x: tensor<f32>, %n: tensor<i64>) {
  // expected-error@+1 {{'kiln.for' op the body's arguments (counter, then carried) value #0 has type 'tensor<i32>' but 'tensor<i64>' is expected}}
  %0 = kiln.for %n to %n step %n iter_args(%x : tensor<f32>) do {
  ^bb0(%i: tensor<i32>, %acc: tensor<f32>):
    kiln.yield %acc : tensor<f32>
  }
  return
}

// -----

func.func @for_yield(%x: tensor<f32>, %n: tensor<i64>) {
  // expected-error@+1 {{'kiln.for' op the body's yield has 0 value(s) but 1 are expected}}
  %0 = kiln.for %n to %n step %n iter_args(%x : tensor<f32>) do {
  ^bb0(%i: tensor<i64>, %acc: tensor<f32>):
    kiln.yield
  }
  return
}

// -----

func.func @for_step(%x: tensor<f32>, %n: tensor<i64>) {
  %zero = kiln.constant dense<0> : tensor<i64>
  // expected-error@+1 {{'kiln.for' op step must be positive, got 0}}
  %0 = kiln.for %n to %n step %zero iter_args(%x : tensor<f32>) do {
  ^bb0(%i: tensor<i64>, %acc: tensor<f32>):
    kiln.yield %acc : tensor<f32>
  }
  return
}

// -----

func.func @yield_outside(%x: tensor<f32>) {
  // expected-error@+1 {{'kiln.yield' op expects parent op to be one of 'kiln.cond, kiln.while, kiln.for'}}
  kiln.yield %x : tensor<f32>
}

// -----

func.func @constant_element() {
  // expected-error@+1 {{'kiln.constant' op result #0 must be ranked tensor of Kiln element (f32, f64, f16, bf16, i1, i32, i64, i8, i16, ui8, ui16, ui32) values, but got 'tensor<2xui64>'}}
  %0 = kiln.constant dense<1> : tensor<2xui64>
  return
}

// -----

func.func @unknown_op(%x: tensor<f32>) {
  // expected-error@+1 {{custom op 'kiln.frobnicate' is unknown}}
  %0 = kiln.frobnicate %x : tensor<f32>
  return
}

// -----

func.func @logical_on_float(%a: tensor<4xf32>) {
  // expected-error@+1 {{'kiln.logical_and' op operand #0 must be ranked tensor of 1-bit signless integer values, but got 'tensor<4xf32>'}}
  %0 = kiln.logical_and %a, %a : tensor<4xf32>, tensor<4xf32> -> tensor<4xi1>
  return
}

// -----

func.func @unary_result_type(%a: tensor<2x3xf32>) {
  // expected-error@+1 {{'kiln.exp' op requires the same type for all operands and results}}
  %0 = "kiln.exp"(%a) : (tensor<2x3xf32>) -> tensor<2x3xf64>
  return
}

// -----

func.func @select_broadcast(%c: tensor<2x1xi1>, %a: tensor<1x3xf32>, %b: tensor<4x1xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{shapes [2, 3] and [4, 1] are not broadcast-compatible: dimension 0 of the result would be 2 and 4}}
  %0 = kiln.select %c, %a, %b : tensor<2x1xi1>, tensor<1x3xf32>, tensor<4x1xf32> -> tensor<2x3xf32>
  return
}

// -----

func.func @broadcast_to_element(%a: tensor<3xf32>) {
  // expected-error@+1 {{input and result must have the same element type, got 'f32' and 'i32'}}
  %0 = kiln.broadcast_to %a : tensor<3xf32> -> tensor<2x3xi32>
  return
}

// -----

func.func @squeeze_duplicate(%a: tensor<1x1xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{axis -2 appears twice in [0, -2]}}
  %0 = kiln.squeeze %a {axes = array<i64: 0, -2>} : tensor<1x1xf32> -> tensor<1xf32>
  return
}

// -----

func.func @slice_limit_length(%a: tensor<4x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{limit [4] has 1 entries but the input has rank 2}}
  %0 = kiln.slice %a {start = array<i64: 0, 0>, limit = array<i64: 4>, stride = array<i64: 1, 1>} : tensor<4x3xf32> -> tensor<4x3xf32>
  return
}

// -----

func.func @slice_stride_length(%a: tensor<4x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{stride [1, 1, 1] has 3 entries but the input has rank 2}}
  %0 = kiln.slice %a {start = array<i64: 0, 0>, limit = array<i64: 4, 3>, stride = array<i64: 1, 1, 1>} : tensor<4x3xf32> -> tensor<4x3xf32>
  return
}

// -----

func.func @pad_low_length(%a: tensor<4xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{low padding [1, 1] has 2 entries but the input has rank 1}}
  %0 = kiln.pad %a {low = array<i64: 1, 1>, high = array<i64: 0>} : tensor<4xf32> -> tensor<5xf32>
  return
}

// -----

func.func @one_hot_dynamic(%l: tensor<?xi32>) {
  // expected-error@+1 {{'kiln.one_hot' op result has shape [3, 5] but the other operands imply [?, 4]}}
  %0 = kiln.one_hot %l {depth = 4 : i64} : tensor<?xi32> -> tensor<3x5xf32>
  return
}

// -----

func.func @random_normal_stddev() {
  // expected-error@+1 {{'kiln.random_normal' op needs a non-negative stddev, got -5.000000e-01}}
  %0 = kiln.random_normal {static_seed = 1 : i64, stddev = -0.5 : f64} : tensor<4xf32>
  return
}

// -----

func.func @matmul_elements(%a: tensor<4x8xf32>, %b: tensor<8x2xf64>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{operands must have the same element type, got 'f32' and 'f64'}}
  %0 = kiln.matmul %a, %b : tensor<4x8xf32>, tensor<8x2xf64> -> tensor<4x2xf32>
  return
}

// -----

func.func @conv_elements(%x: tensor<1x5x5x2xf32>, %w: tensor<3x3x2x4xf64>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{input and filter must have the same element type, got 'f32' and 'f64'}}
  %0 = kiln.conv2d %x, %w : tensor<1x5x5x2xf32>, tensor<3x3x2x4xf64> -> tensor<1x3x3x4xf32>
  return
}

// -----

func.func @conv_backprop_filter_rank(%x: tensor<1x5x5x2xf32>, %dy: tensor<1x3x3x4xf32>) {
  // The filter here is the result type.
  // expected-error@+1 {{filter must have rank 4 (HWIO), got [3, 3, 2]}}
  %0 = kiln.conv2d_backprop_filter %x, %dy : tensor<1x5x5x2xf32>, tensor<1x3x3x4xf32> -> tensor<3x3x2xf32>
  return
}

// -----

func.func @pool_strides(%x: tensor<1x4x4x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{strides must have 2 entries (height, width), got [2]}}
  %0 = kiln.max_pool2d %x {window = array<i64: 2, 2>, strides = array<i64: 2>} : tensor<1x4x4x3xf32> -> tensor<1x2x2x3xf32>
  return
}

// -----

func.func @pool_does_not_fit(%x: tensor<1x1x4x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{window of effective size 2 does not fit in an input of size 1 with VALID padding}}
  %0 = kiln.avg_pool2d %x {window = array<i64: 2, 2>} : tensor<1x1x4x3xf32> -> tensor<1x1x3x3xf32>
  return
}

// -----

func.func @max_pool_grad_elements(%x: tensor<1x4x4x3xf32>, %dy: tensor<1x2x2x3xf64>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{input and out_backprop must have the same element type, got 'f32' and 'f64'}}
  %0 = kiln.max_pool2d_grad %x, %dy {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<1x4x4x3xf32>, tensor<1x2x2x3xf64> -> tensor<1x4x4x3xf32>
  return
}

// -----

func.func @avg_pool_grad_elements(%dy: tensor<1x2x2x3xf64>) {
  // expected-error@+1 {{out_backprop and result must have the same element type, got 'f32' and 'f64'}}
  %0 = kiln.avg_pool2d_grad %dy {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<1x2x2x3xf64> -> tensor<1x4x4x3xf32>
  return
}

// -----

func.func @avg_pool_grad_rank(%dy: tensor<1x2x2x3xf32>) {
  // The pooled input here is the result type.
  // expected-error@+1 {{input must have rank 4 (NHWC), got [4, 4, 3]}}
  %0 = kiln.avg_pool2d_grad %dy {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<1x2x2x3xf32> -> tensor<4x4x3xf32>
  return
}

// -----

func.func @xent_elements(%l: tensor<4x10xf32>, %y: tensor<4x10xf64>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{logits and labels must have the same element type, got 'f32' and 'f64'}}
  %0 = kiln.softmax_cross_entropy %l, %y : tensor<4x10xf32>, tensor<4x10xf64> -> tensor<4xf32>
  return
}

// -----

func.func @sparse_xent_rank0(%l: tensor<f32>, %y: tensor<i32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{logits need a class dimension, got rank 0}}
  %0 = kiln.sparse_softmax_cross_entropy %l, %y : tensor<f32>, tensor<i32> -> tensor<f32>
  return
}

// -----

func.func @cond_region_arguments(%p: tensor<i1>, %x: tensor<f32>) {
  // expected-error@+1 {{'kiln.cond' op region #0 should have no arguments}}
  %0 = kiln.cond %p -> (tensor<f32>) {
  ^bb0(%v: tensor<f32>):
    kiln.yield %x : tensor<f32>
  } else {
    kiln.yield %x : tensor<f32>
  }
  return
}

// -----

func.func @cond_empty_region(%p: tensor<i1>, %x: tensor<f32>) {
  // expected-error@+1 {{'kiln.cond' op region #0 ('then_region') failed to verify constraint: region with 1 blocks}}
  %0 = kiln.cond %p -> (tensor<f32>) {
  } else {
    kiln.yield %x : tensor<f32>
  }
  return
}

// -----

func.func @yield_not_last(%p: tensor<i1>, %x: tensor<f32>) {
  // expected-error@+1 {{'kiln.cond' op the 'then' region must end with kiln.yield}}
  %0 = kiln.cond %p -> (tensor<f32>) {
    kiln.yield %x : tensor<f32>
    %n = kiln.neg %x : tensor<f32>
  } else {
    kiln.yield %x : tensor<f32>
  }
  return
}

// -----

func.func @while_do_arguments(%x: tensor<f32>, %p: tensor<i1>) {
  // expected-error@+1 {{'kiln.while' op the 'do' region's arguments value #0 has type 'tensor<2xf32>' but 'tensor<f32>' is expected}}
  %0 = kiln.while (%x : tensor<f32>) cond {
  ^bb0(%v: tensor<f32>):
    kiln.condition(%p) %v : tensor<f32>
  } do {
  ^bb0(%v: tensor<2xf32>):
    kiln.yield %x : tensor<f32>
  }
  return
}

// -----

func.func @while_result_type(%x: tensor<f32>, %p: tensor<i1>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{'kiln.while' op inferred type(s) 'tensor<f32>' are incompatible with return type(s) of operation 'tensor<2xf32>'}}
  %0 = "kiln.while"(%x) ({
  ^bb0(%v: tensor<f32>):
    kiln.condition(%p) %v : tensor<f32>
  }, {
  ^bb0(%v: tensor<f32>):
    kiln.yield %v : tensor<f32>
  }) : (tensor<f32>) -> tensor<2xf32>
  return
}

// -----

func.func @while_refined_yield(%x: tensor<2xf32>, %p: tensor<i1>, %y: tensor<3xf32>) {
  // expected-error@+1 {{'kiln.while' op the 'do' region's yield value #0 has type 'tensor<3xf32>' but 'tensor<2xf32>' is expected}}
  %0 = kiln.while (%x : tensor<2xf32>) cond {
  ^bb0(%v: tensor<2xf32>):
    kiln.condition(%p) %v : tensor<2xf32>
  } do {
  ^bb0(%v: tensor<2xf32>):
    kiln.yield %y : tensor<3xf32>
  }
  return
}

// -----

func.func @for_negative_step(%x: tensor<f32>, %n: tensor<i64>) {
  %step = arith.constant dense<-2> : tensor<i64>
  // expected-error@+1 {{'kiln.for' op step must be positive, got -2}}
  %0 = kiln.for %n to %n step %step iter_args(%x : tensor<f32>) do {
  ^bb0(%i: tensor<i64>, %acc: tensor<f32>):
    kiln.yield %acc : tensor<f32>
  }
  return
}

// -----

func.func @grad_missing_callee(%x: tensor<f32>) -> tensor<f32> {
  // expected-error@+1 {{'kiln.grad' op refers to 'nowhere', which is not a function in this module}}
  %g = kiln.grad @nowhere(%x) {wrt = array<i64: 0>} : (tensor<f32>) -> tensor<f32>
  return %g : tensor<f32>
}

// -----

func.func @f(%x: tensor<f32>) -> tensor<f32> {
  return %x : tensor<f32>
}
func.func @grad_arguments(%x: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error@+1 {{'kiln.grad' op arguments 'tensor<2xf32>' do not match @f's 'tensor<f32>'}}
  %g = kiln.grad @f(%x) {wrt = array<i64: 0>} : (tensor<2xf32>) -> tensor<2xf32>
  return %g : tensor<2xf32>
}

// -----

func.func @f(%x: tensor<f32>) -> tensor<f32> {
  return %x : tensor<f32>
}
func.func @grad_wrt_range(%x: tensor<f32>) -> tensor<f32> {
  // expected-error@+1 {{'kiln.grad' op wrt index -1 is out of range: @f has 1 arguments}}
  %g = kiln.grad @f(%x) {wrt = array<i64: -1>} : (tensor<f32>) -> tensor<f32>
  return %g : tensor<f32>
}

// -----

func.func @f(%x: tensor<f32>) -> tensor<f32> {
  return %x : tensor<f32>
}
func.func @grad_wrt_twice(%x: tensor<f32>) -> (tensor<f32>, tensor<f32>) {
  // expected-error@+1 {{'kiln.grad' op wrt lists argument #0 twice}}
  %g:2 = kiln.grad @f(%x) {wrt = array<i64: 0, 0>} : (tensor<f32>) -> (tensor<f32>, tensor<f32>)
  return %g#0, %g#1 : tensor<f32>, tensor<f32>
}

// -----

func.func @f(%x: tensor<f32>, %i: tensor<i32>) -> tensor<f32> {
  return %x : tensor<f32>
}
func.func @grad_integer_wrt(%x: tensor<f32>, %i: tensor<i32>) -> tensor<i32> {
  // expected-error@+1 {{'kiln.grad' op cannot differentiate with respect to argument #1 of type 'tensor<i32>': only floating-point arguments have gradients}}
  %g = kiln.grad @f(%x, %i) {wrt = array<i64: 1>} : (tensor<f32>, tensor<i32>) -> tensor<i32>
  return %g : tensor<i32>
}

// -----

func.func @f(%x: tensor<f32>) -> tensor<f32> {
  return %x : tensor<f32>
}
func.func @grad_empty_wrt(%x: tensor<f32>) {
  // expected-error@+1 {{'kiln.grad' op needs at least one argument in 'wrt'}}
  kiln.grad @f(%x) {wrt = array<i64>} : (tensor<f32>) -> ()
  return
}

// -----

func.func @vec(%x: tensor<3xf32>) -> tensor<3xf32> {
  return %x : tensor<3xf32>
}
func.func @grad_without_seeds(%x: tensor<3xf32>) -> tensor<3xf32> {
  // expected-error@+1 {{'kiln.grad' op @vec returns 'tensor<3xf32>'; without seeds (one cotangent per result) the gradient is only defined for a function returning one floating-point scalar}}
  %g = kiln.grad @vec(%x) {wrt = array<i64: 0>} : (tensor<3xf32>) -> tensor<3xf32>
  return %g : tensor<3xf32>
}

// -----

func.func @vec(%x: tensor<3xf32>) -> tensor<3xf32> {
  return %x : tensor<3xf32>
}
func.func @grad_seeds(%x: tensor<3xf32>, %s: tensor<2xf32>) -> tensor<3xf32> {
  // expected-error@+1 {{'kiln.grad' op seeds 'tensor<2xf32>' must match @vec's results 'tensor<3xf32>'}}
  %g = kiln.grad @vec(%x) seeds(%s : tensor<2xf32>) {wrt = array<i64: 0>} : (tensor<3xf32>) -> tensor<3xf32>
  return %g : tensor<3xf32>
}

// -----

func.func @f(%x: tensor<f32>) -> tensor<f32> {
  return %x : tensor<f32>
}
func.func @value_and_grad_results(%x: tensor<f32>) {
  // expected-error@+1 {{'kiln.value_and_grad' op results 'tensor<f32>', 'tensor<f64>' should be 'tensor<f32>', 'tensor<f32>'}}
  %v, %g = kiln.value_and_grad @f(%x) {wrt = array<i64: 0>} : (tensor<f32>) -> (tensor<f32>, tensor<f64>)
  return
}

// -----

func.func @missing_attribute(%a: tensor<2x3xf32>) {
  // expected-error@+1 {{'kiln.transpose' op requires attribute 'permutation'}}
  %0 = kiln.transpose %a : tensor<2x3xf32> -> tensor<3x2xf32>
  return
}

// -----

func.func @attribute_type(%a: tensor<2x3xf32>) {
  // expected-error@+1 {{attribute 'axis' failed to satisfy constraint: 64-bit signless integer attribute}}
  %0 = kiln.argmax %a {axis = 1.0 : f32} : tensor<2x3xf32> -> tensor<2xi64>
  return
}

// -----

func.func @compare_direction_value(%a: tensor<4xf32>) {
  // expected-error@+1 {{'kiln.compare' op attribute 'direction' failed to satisfy constraint: comparison of two tensors, elementwise}}
  %0 = "kiln.compare"(%a, %a) {direction = 9 : i32} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>
  return
}

// -----

func.func @unknown_attribute(%x: tensor<1x4x4x3xf32>) {
  // expected-error@+1 {{unknown attribute `pad` in dialect `kiln`}}
  %0 = kiln.max_pool2d %x {window = array<i64: 2, 2>, padding = #kiln.pad<SAME>} : tensor<1x4x4x3xf32> -> tensor<1x4x4x3xf32>
  return
}

// -----

func.func @missing_type(%a: tensor<2x3xf32>) {
  // expected-error@+1 {{expected ':'}}
  %0 = kiln.exp %a
  return
}

// -----

func.func @cond_bad_terminator(%p: tensor<i1>, %x: tensor<f32>) {
  // expected-error@+1 {{'kiln.cond' op the 'then' region must end with kiln.yield}}
  %0 = kiln.cond %p -> (tensor<f32>) {
    llvm.unreachable
  } else {
    kiln.yield %x : tensor<f32>
  }
  return
}

// -----

func.func @pad_overflow(%a: tensor<0xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{padding dimension 0 overflows a 64-bit size}}
  %0 = kiln.pad %a {low = array<i64: 9223372036854775807>, high = array<i64: 1>} : tensor<0xf32> -> tensor<5xf32>
  return
}

// -----

func.func @slice_huge_stride(%a: tensor<4xf32>) -> tensor<1xf32> {
  %0 = kiln.slice %a {start = array<i64: 0>, limit = array<i64: 4>, stride = array<i64: 9223372036854775807>} : tensor<4xf32> -> tensor<1xf32>
  return %0 : tensor<1xf32>
}

// -----

func.func @dilation_overflow(%x: tensor<1x5x5x2xf32>, %w: tensor<3x3x2x4xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{window 3 with dilation 9223372036854775807 overflows a 64-bit size}}
  %0 = kiln.conv2d %x, %w {dilations = array<i64: 9223372036854775807, 1>} : tensor<1x5x5x2xf32>, tensor<3x3x2x4xf32> -> tensor<1x3x3x4xf32>
  return
}

// -----

func.func @reshape_overflow(%a: tensor<4294967296x4294967296xf32>) {
  // expected-error@+1 {{'kiln.reshape' op has a tensor too large to address: 'tensor<4294967296x4294967296xf32>' holds more than 2^63 - 1 bytes}}
  %0 = kiln.reshape %a : tensor<4294967296x4294967296xf32> -> tensor<0xf32>
  return
}

// -----

func.func @squeeze_unknown_axis(%a: tensor<?x1xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{cannot squeeze dimension 0 of [?, 1]: its size is unknown (it must be 1)}}
  %0 = kiln.squeeze %a {axes = array<i64: 0>} : tensor<?x1xf32> -> tensor<1xf32>
  return
}

// -----

func.func @tape_static_rows(%n: tensor<i64>) {
  // expected-error@+1 {{'kiln.tape_new' op a tape has a dynamic leading dimension (the rows), like tensor<?x3xf32>; got 'tensor<4x3xf32>'}}
  %0 = kiln.tape_new %n : tensor<4x3xf32>
  return
}

// -----

func.func @tape_dynamic_row(%n: tensor<i64>) {
  // expected-error@+1 {{'kiln.tape_new' op rows 'tensor<?xf32>' with open extents need `like`, a tensor of the row type to take them from}}
  %0 = kiln.tape_new %n : tensor<?x?xf32>
  return
}

// -----

func.func @tape_like_type(%n: tensor<i64>, %h: tensor<?x4xf32>) {
  // expected-error@+1 {{'kiln.tape_new' op takes the open extents of its rows from a 'tensor<?x4xf32>', not of the row type 'tensor<?x3xf32>'}}
  %0 = kiln.tape_new %n like %h : tensor<?x?x3xf32>, tensor<?x4xf32>
  return
}

// -----

func.func @tape_scalar(%n: tensor<i64>) {
  // expected-error@+1 {{'kiln.tape_new' op a tape has a dynamic leading dimension (the rows), like tensor<?x3xf32>; got 'tensor<f32>'}}
  %0 = kiln.tape_new %n : tensor<f32>
  return
}

// -----

func.func @tape_write_row_type(%t: tensor<?x3xf32>, %i: tensor<i64>, %v: tensor<4xf32>) {
  // expected-error@+1 {{'kiln.tape_write' op writes a 'tensor<4xf32>' into a tape whose rows are 'tensor<3xf32>'}}
  %0 = kiln.tape_write %t[%i], %v : tensor<?x3xf32>, tensor<4xf32>
  return
}

// -----

func.func @tape_write_element_type(%t: tensor<?x3xf32>, %i: tensor<i64>, %v: tensor<3xf64>) {
  // expected-error@+1 {{'kiln.tape_write' op writes a 'tensor<3xf64>' into a tape whose rows are 'tensor<3xf32>'}}
  %0 = kiln.tape_write %t[%i], %v : tensor<?x3xf32>, tensor<3xf64>
  return
}

// -----

func.func @tape_read_type(%t: tensor<?x3xf32>, %i: tensor<i64>) {
  // expected-error@+1 {{'kiln.tape_read' op result 'tensor<2xf32>' is not the tape's row type 'tensor<3xf32>'}}
  %0 = kiln.tape_read %t[%i] : tensor<?x3xf32> -> tensor<2xf32>
  return
}

// -----

func.func @tape_index_type(%t: tensor<?x3xf32>, %i: tensor<i32>) {
  // expected-error@+1 {{'kiln.tape_read' op operand #1 must be}}
  %0 = "kiln.tape_read"(%t, %i) : (tensor<?x3xf32>, tensor<i32>) -> tensor<3xf32>
  return
}

// -----

func.func @max_pool2d_select_source_shape(%x: tensor<1x4x4x3xf32>, %s: tensor<1x4x5x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{source has shape [1, 4, 5, 3] but input has shape [1, 4, 4, 3]}}
  %0 = kiln.max_pool2d_select %x, %s {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<1x4x4x3xf32>, tensor<1x4x5x3xf32> -> tensor<1x2x2x3xf32>
  return
}

// -----

func.func @max_pool2d_select_result(%x: tensor<1x4x4x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{'kiln.max_pool2d_select' op inferred type(s) 'tensor<1x2x2x3xf32>' are incompatible with return type(s) of operation 'tensor<1x4x4x3xf32>'}}
  %0 = kiln.max_pool2d_select %x, %x {window = array<i64: 2, 2>, strides = array<i64: 2, 2>} : tensor<1x4x4x3xf32>, tensor<1x4x4x3xf32> -> tensor<1x4x4x3xf32>
  return
}

// -----

// expected-error@+1 {{'kiln.variable' op variable @v must have a statically shaped tensor type, got 'tensor<?x3xf32>'}}
kiln.variable @v : tensor<?x3xf32>

// -----

// expected-error@+1 {{'kiln.variable' op initial value of @v has type 'tensor<2xf32>', but the variable is 'tensor<3xf32>'}}
"kiln.variable"() <{sym_name = "v", type = tensor<3xf32>, initial_value = dense<[1.0, 2.0]> : tensor<2xf32>}> : () -> ()

// -----

// expected-error@+1 {{inferred shape of elements literal ([2]) does not match type ([3])}}
kiln.variable @v : tensor<3xf32> = dense<[1.0, 2.0]>

// -----

func.func @read_unknown() {
  // expected-error@+1 {{'kiln.read_variable' op refers to @nope, which is not a kiln.variable in this module}}
  %0 = kiln.read_variable @nope : tensor<f32>
  return
}

// -----

kiln.variable @v : tensor<3xf32>
func.func @read_wrong_type() {
  // expected-error@+1 {{'kiln.read_variable' op reads a 'tensor<4xf32>' but @v is 'tensor<3xf32>'}}
  %0 = kiln.read_variable @v : tensor<4xf32>
  return
}

// -----

kiln.variable @v : tensor<3xf32>
func.func @assign_wrong_type(%x: tensor<3xf64>) {
  // expected-error@+1 {{'kiln.assign_variable' op assigns a 'tensor<3xf64>' but @v is 'tensor<3xf32>'}}
  kiln.assign_variable @v, %x : tensor<3xf64>
  return
}

// -----

func.func @not_a_variable() {
  return
}
func.func @assign_function(%x: tensor<f32>) {
  // expected-error@+1 {{'kiln.assign_variable' op refers to @not_a_variable, which is not a kiln.variable in this module}}
  kiln.assign_variable @not_a_variable, %x : tensor<f32>
  return
}

// -----

kiln.variable @v : tensor<f32>
func.func @f(%x: tensor<f32>) -> tensor<f32> {
  return %x : tensor<f32>
}
func.func @grad_unknown_variable(%x: tensor<f32>) {
  // expected-error@+1 {{'kiln.grad' op wrt_variables names @u, which is not a kiln.variable in this module}}
  %0 = kiln.grad @f(%x) {wrt_variables = [@u]} : (tensor<f32>) -> tensor<f32>
  return
}

// -----

kiln.variable @v : tensor<f32>
func.func @f(%x: tensor<f32>) -> tensor<f32> {
  return %x : tensor<f32>
}
func.func @grad_variable_twice(%x: tensor<f32>) {
  // expected-error@+1 {{'kiln.grad' op wrt_variables lists @v twice}}
  %0:2 = kiln.grad @f(%x) {wrt_variables = [@v, @v]} : (tensor<f32>) -> (tensor<f32>, tensor<f32>)
  return
}

// -----

kiln.variable @count : tensor<i64>
func.func @f(%x: tensor<f32>) -> tensor<f32> {
  return %x : tensor<f32>
}
func.func @grad_integer_variable(%x: tensor<f32>) {
  // expected-error@+1 {{'kiln.grad' op cannot differentiate with respect to @count of type 'tensor<i64>': only floating-point variables have gradients}}
  %0 = kiln.grad @f(%x) {wrt_variables = [@count]} : (tensor<f32>) -> tensor<i64>
  return
}

// -----

kiln.variable @v : tensor<f32>
func.func @f(%x: tensor<f32>) -> tensor<f32> {
  return %x : tensor<f32>
}
func.func @grad_all_of_nothing(%x: tensor<f32>) {
  // expected-error@+1 {{'kiln.grad' op has nothing to differentiate: @f reads no floating-point variable}}
  %0 = kiln.grad @f(%x) {wrt_all_variables} : (tensor<f32>) -> tensor<f32>
  return
}

// -----

kiln.variable @v : tensor<f32>
func.func @f(%x: tensor<f32>) -> tensor<f32> {
  %v = kiln.read_variable @v : tensor<f32>
  %y = kiln.mul %x, %v : tensor<f32>, tensor<f32> -> tensor<f32>
  return %y : tensor<f32>
}
func.func @grad_variable_result_types(%x: tensor<f32>) {
  // expected-error@+1 {{'kiln.grad' op results 'tensor<f32>' should be 'tensor<f32>', 'tensor<f32>'}}
  %0 = kiln.grad @f(%x) {wrt = array<i64: 0>, wrt_all_variables} : (tensor<f32>) -> tensor<f32>
  return
}

// -----

kiln.variable @v : tensor<f32>
func.func @f(%x: tensor<f32>) -> tensor<f32> {
  return %x : tensor<f32>
}
func.func @grad_both_variable_lists(%x: tensor<f32>) {
  // expected-error@+1 {{'kiln.grad' op takes 'wrt_variables' or 'wrt_all_variables', not both}}
  %0 = kiln.grad @f(%x) {wrt_variables = [@v], wrt_all_variables} : (tensor<f32>) -> tensor<f32>
  return
}

// -----

kiln.variable @w : tensor<3xf32>
func.func @apply_wrong_gradient(%g: tensor<4xf32>, %lr: tensor<f32>) {
  // expected-error@+1 {{'kiln.apply_gradient_descent' op applies a gradient of type 'tensor<4xf32>' but @w is 'tensor<3xf32>'}}
  kiln.apply_gradient_descent @w, %g, %lr : tensor<4xf32>, tensor<f32>
  return
}

// -----

kiln.variable @w : tensor<3xf32>
func.func @apply_vector_rate(%g: tensor<3xf32>, %lr: tensor<3xf32>, %t: tensor<i64>) {
  // expected-error@+1 {{'kiln.apply_adam' op learning rate must be a rank-0 tensor of 'f32', got 'tensor<3xf32>'}}
  kiln.apply_adam @w, %g, %lr, %t : tensor<3xf32>, tensor<3xf32>
  return
}

// -----

func.func @apply_unknown(%g: tensor<3xf32>, %lr: tensor<f32>) {
  // expected-error@+1 {{'kiln.apply_momentum' op refers to @nope, which is not a kiln.variable in this module}}
  kiln.apply_momentum @nope, %g, %lr : tensor<3xf32>, tensor<f32>
  return
}

// -----

func.func @print_texts(%x: tensor<3xf32>) {
  // expected-error@+1 {{needs one more text than inputs (text, input, text, ..., text), got 1 texts for 1 inputs}}
  kiln.print ["x"] %x : tensor<3xf32>
  return
}

// -----

func.func @print_stream(%x: tensor<3xf32>) {
  // expected-error@+1 {{stream is 1 (standard output) or 2 (standard error), got 3}}
  kiln.print ["", "\0A"] %x : tensor<3xf32> {stream = 3 : i64}
  return
}

// -----

func.func private @cv_fwd(%x: tensor<3xf32>) -> tensor<3xf32> {
  return %x : tensor<3xf32>
}
func.func @custom_missing(%x: tensor<3xf32>) -> tensor<3xf32> {
  // expected-error@+1 {{refers to 'nowhere' as its backward, which is not a function in this module}}
  %y = kiln.custom_vjp @cv_fwd, @nowhere(%x) : (tensor<3xf32>) -> tensor<3xf32>
  return %y : tensor<3xf32>
}

// -----

func.func private @cv_fwd(%x: tensor<3xf32>) -> tensor<3xf32> {
  return %x : tensor<3xf32>
}
func.func private @cv_bwd(%x: tensor<3xf32>, %dy: tensor<3xf32>) -> tensor<3xf32> {
  return %dy : tensor<3xf32>
}
func.func @custom_backward_type(%x: tensor<3xf32>) -> tensor<3xf32> {
  // expected-error@+1 {{@cv_bwd has type '(tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>', but a backward function takes the inputs, the results and their cotangents}}
  %y = kiln.custom_vjp @cv_fwd, @cv_bwd(%x) : (tensor<3xf32>) -> tensor<3xf32>
  return %y : tensor<3xf32>
}

// -----

func.func @summary_rank(%l: tensor<2xf32>, %s: tensor<i64>) {
  // expected-error@+1 {{takes a rank-0 value and step, got 'tensor<2xf32>' and 'tensor<i64>'}}
  kiln.summary_scalar "loss" = %l at %s to "s.csv" : tensor<2xf32>, tensor<i64>
  return
}

// -----

func.func @assert_rank(%ok: tensor<2xi1>) {
  // expected-error@+1 {{takes a rank-0 condition, got 'tensor<2xi1>'}}
  kiln.assert %ok, "no" : tensor<2xi1>
  return
}

// -----

kiln.variable @w : tensor<3xf32>
func.func @rmsprop_bad_rate(%g: tensor<3xf32>, %lr: tensor<f64>) {
  // expected-error@+1 {{'kiln.apply_rmsprop' op learning rate must be a rank-0 tensor of 'f32', got 'tensor<f64>'}}
  kiln.apply_rmsprop @w, %g, %lr : tensor<3xf32>, tensor<f64>
  return
}

// -----

kiln.variable @w : tensor<3xf32>
func.func @adagrad_bad_grad(%g: tensor<2xf32>, %lr: tensor<f32>) {
  // expected-error@+1 {{'kiln.apply_adagrad' op applies a gradient of type 'tensor<2xf32>' but @w is 'tensor<3xf32>'}}
  kiln.apply_adagrad @w, %g, %lr : tensor<2xf32>, tensor<f32>
  return
}

// -----

func.func @adamax_no_variable(%g: tensor<2xf32>, %lr: tensor<f32>, %t: tensor<i64>) {
  // expected-error@+1 {{'kiln.apply_adamax' op refers to @v, which is not a kiln.variable in this module}}
  kiln.apply_adamax @v, %g, %lr, %t : tensor<2xf32>, tensor<f32>
  return
}

// -----

func.func @sort_rank0(%x: tensor<f32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{cannot sort a rank-0 tensor (it has no axis to sort along)}}
  %v, %i = kiln.sort %x : tensor<f32> -> tensor<f32>, tensor<i32>
  return
}

// -----

func.func @sort_long_rows(%x: tensor<2x4294967296xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{cannot sort rows of 4294967296 elements: the indices are i32}}
  %v, %i = kiln.sort %x : tensor<2x4294967296xf32> -> tensor<2x4294967296xf32>, tensor<2x4294967296xi32>
  return
}

// -----

func.func @sort_bool(%x: tensor<3xi1>) {
  // expected-error@+1 {{'kiln.sort' op operand #0 must be ranked tensor of 32-bit float or 64-bit float or 32-bit signless integer or 64-bit signless integer values}}
  %v, %i = kiln.sort %x : tensor<3xi1> -> tensor<3xi1>, tensor<3xi32>
  return
}

// -----

func.func @sort_wrong_indices(%x: tensor<3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{'kiln.sort' op inferred type(s) 'tensor<3xf32>', 'tensor<3xi32>' are incompatible with return type(s) of operation 'tensor<3xf32>', 'tensor<4xi32>'}}
  %v, %i = kiln.sort %x : tensor<3xf32> -> tensor<3xf32>, tensor<4xi32>
  return
}

// -----

kiln.variable @w : tensor<3xf32>
func.func @nadam_product(%g: tensor<3xf32>, %lr: tensor<f32>, %t: tensor<i64>, %u: tensor<3xf32>) {
  // expected-error@+1 {{'kiln.apply_nadam' op takes u_product as a scalar of the gradient's element type, not 'tensor<3xf32>'}}
  kiln.apply_nadam @w, %g, %lr, %t, %u : tensor<3xf32>, tensor<f32>, tensor<3xf32>
  return
}

// -----

kiln.variable @w : tensor<3xf32>
func.func @ftrl_bad_grad(%g: tensor<2xf32>, %lr: tensor<f32>) {
  // expected-error@+1 {{'kiln.apply_ftrl' op applies a gradient of type 'tensor<2xf32>' but @w is 'tensor<3xf32>'}}
  kiln.apply_ftrl @w, %g, %lr : tensor<2xf32>, tensor<f32>
  return
}

// -----

func.func @argmax_empty_axis(%x: tensor<3x0xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{the index of the largest or smallest element along an empty axis (axis 1 of 'tensor<3x0xf32>') does not exist}}
  %0 = kiln.argmax %x {axis = 1 : i64} : tensor<3x0xf32> -> tensor<3xi64>
  return
}

// -----

// A shape whose size in bytes overflows int64 (INT64_MAX elements).
func.func @too_large(%x: tensor<9223372036854775807xf32>) {
  // expected-error@+1 {{'kiln.neg' op has a tensor too large to address: 'tensor<9223372036854775807xf32>' holds more than 2^63 - 1 bytes}}
  %0 = kiln.neg %x : tensor<9223372036854775807xf32>
  return
}

// -----

func.func @too_large_product(%x: tensor<1073741824x4294967296xf32>) {
  // expected-error@+1 {{'kiln.abs' op has a tensor too large to address}}
  %0 = kiln.abs %x : tensor<1073741824x4294967296xf32>
  return
}

// -----

// Each op's own diagnostic (ops that shared another op's case before).
func.func @ceil_int(%x: tensor<4xi32>) {
  // expected-error@+1 {{'kiln.ceil' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<4xi32>'}}
  %0 = kiln.ceil %x : tensor<4xi32>
  return
}

// -----

func.func @cos_int(%x: tensor<4xi32>) {
  // expected-error@+1 {{'kiln.cos' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<4xi32>'}}
  %0 = kiln.cos %x : tensor<4xi32>
  return
}

// -----

func.func @erf_int(%x: tensor<4xi32>) {
  // expected-error@+1 {{'kiln.erf' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<4xi32>'}}
  %0 = kiln.erf %x : tensor<4xi32>
  return
}

// -----

func.func @floor_int(%x: tensor<4xi32>) {
  // expected-error@+1 {{'kiln.floor' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<4xi32>'}}
  %0 = kiln.floor %x : tensor<4xi32>
  return
}

// -----

func.func @log_int(%x: tensor<4xi32>) {
  // expected-error@+1 {{'kiln.log' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<4xi32>'}}
  %0 = kiln.log %x : tensor<4xi32>
  return
}

// -----

func.func @expm1_int(%x: tensor<4xi32>) {
  // expected-error@+1 {{'kiln.expm1' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<4xi32>'}}
  %0 = kiln.expm1 %x : tensor<4xi32>
  return
}

// -----

func.func @log1p_int(%x: tensor<4xi32>) {
  // expected-error@+1 {{'kiln.log1p' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<4xi32>'}}
  %0 = kiln.log1p %x : tensor<4xi32>
  return
}

// -----

func.func @reciprocal_int(%x: tensor<4xi32>) {
  // expected-error@+1 {{'kiln.reciprocal' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<4xi32>'}}
  %0 = kiln.reciprocal %x : tensor<4xi32>
  return
}

// -----

func.func @rsqrt_int(%x: tensor<4xi32>) {
  // expected-error@+1 {{'kiln.rsqrt' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<4xi32>'}}
  %0 = kiln.rsqrt %x : tensor<4xi32>
  return
}

// -----

func.func @sigmoid_int(%x: tensor<4xi32>) {
  // expected-error@+1 {{'kiln.sigmoid' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<4xi32>'}}
  %0 = kiln.sigmoid %x : tensor<4xi32>
  return
}

// -----

func.func @sin_int(%x: tensor<4xi32>) {
  // expected-error@+1 {{'kiln.sin' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<4xi32>'}}
  %0 = kiln.sin %x : tensor<4xi32>
  return
}

// -----

func.func @sqrt_int(%x: tensor<4xi32>) {
  // expected-error@+1 {{'kiln.sqrt' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<4xi32>'}}
  %0 = kiln.sqrt %x : tensor<4xi32>
  return
}

// -----

func.func @polygamma_order(%x: tensor<4xf32>) {
  // expected-error@+1 {{'kiln.polygamma' op order 101 is not in [0, 100]}}
  %0 = kiln.polygamma %x {order = 101 : i64} : tensor<4xf32>
  return
}

// -----

func.func @polygamma_int(%x: tensor<4xi32>) {
  // expected-error@+1 {{'kiln.polygamma' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<4xi32>'}}
  %0 = kiln.polygamma %x {order = 1 : i64} : tensor<4xi32>
  return
}

// -----

func.func @tanh_int(%x: tensor<4xi32>) {
  // expected-error@+1 {{'kiln.tanh' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<4xi32>'}}
  %0 = kiln.tanh %x : tensor<4xi32>
  return
}

// -----

func.func @relu_bool(%x: tensor<4xi1>) {
  // expected-error@+1 {{'kiln.relu' op operand #0 must be ranked tensor of floating-point or 32/64-bit integer values, but got 'tensor<4xi1>'}}
  %0 = kiln.relu %x : tensor<4xi1>
  return
}

// -----

func.func @sign_bool(%x: tensor<4xi1>) {
  // expected-error@+1 {{'kiln.sign' op operand #0 must be ranked tensor of floating-point or 32/64-bit integer values, but got 'tensor<4xi1>'}}
  %0 = kiln.sign %x : tensor<4xi1>
  return
}

// -----

func.func @square_bool(%x: tensor<4xi1>) {
  // expected-error@+1 {{'kiln.square' op operand #0 must be ranked tensor of floating-point or 32/64-bit integer values, but got 'tensor<4xi1>'}}
  %0 = kiln.square %x : tensor<4xi1>
  return
}

// -----

func.func @logical_not_float(%x: tensor<4xf32>) {
  // expected-error@+1 {{'kiln.logical_not' op operand #0 must be ranked tensor of 1-bit signless integer values, but got 'tensor<4xf32>'}}
  %0 = kiln.logical_not %x : tensor<4xf32>
  return
}

// -----

func.func @stop_gradient_type(%x: tensor<4xf32>) {
  // expected-error@+1 {{'kiln.stop_gradient' op all non-scalar operands/results must have the same shape and base type}}
  %0 = "kiln.stop_gradient"(%x) : (tensor<4xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @known_value_shape(%x: tensor<4xf32>, %k: tensor<3xf32>) {
  // expected-error@+1 {{'kiln.known_value' op requires the same type for all operands and results}}
  %0 = "kiln.known_value"(%x, %k) : (tensor<4xf32>, tensor<3xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @known_value_dtype(%x: tensor<4xf32>, %k: tensor<4xf64>) {
  // expected-error@+1 {{'kiln.known_value' op requires the same type for all operands and results}}
  %0 = "kiln.known_value"(%x, %k) : (tensor<4xf32>, tensor<4xf64>) -> tensor<4xf32>
  return
}

// -----

func.func @sub_mismatch(%a: tensor<3xf32>, %b: tensor<4xf32>) {
  // expected-error@+2 {{shapes [3] and [4] are not broadcast-compatible: dimension 0 of the result would be 3 and 4}}
  // expected-error@+1 {{'kiln.sub' op failed to infer returned types}}
  %0 = kiln.sub %a, %b : tensor<3xf32>, tensor<4xf32> -> tensor<4xf32>
  return
}

// -----

func.func @div_mismatch(%a: tensor<3xf32>, %b: tensor<4xf32>) {
  // expected-error@+2 {{shapes [3] and [4] are not broadcast-compatible: dimension 0 of the result would be 3 and 4}}
  // expected-error@+1 {{'kiln.div' op failed to infer returned types}}
  %0 = kiln.div %a, %b : tensor<3xf32>, tensor<4xf32> -> tensor<4xf32>
  return
}

// -----

func.func @pow_mismatch(%a: tensor<3xf32>, %b: tensor<4xf32>) {
  // expected-error@+2 {{shapes [3] and [4] are not broadcast-compatible: dimension 0 of the result would be 3 and 4}}
  // expected-error@+1 {{'kiln.pow' op failed to infer returned types}}
  %0 = kiln.pow %a, %b : tensor<3xf32>, tensor<4xf32> -> tensor<4xf32>
  return
}

// -----

func.func @maximum_mismatch(%a: tensor<3xf32>, %b: tensor<4xf32>) {
  // expected-error@+2 {{shapes [3] and [4] are not broadcast-compatible: dimension 0 of the result would be 3 and 4}}
  // expected-error@+1 {{'kiln.maximum' op failed to infer returned types}}
  %0 = kiln.maximum %a, %b : tensor<3xf32>, tensor<4xf32> -> tensor<4xf32>
  return
}

// -----

func.func @minimum_mismatch(%a: tensor<3xf32>, %b: tensor<4xf32>) {
  // expected-error@+2 {{shapes [3] and [4] are not broadcast-compatible: dimension 0 of the result would be 3 and 4}}
  // expected-error@+1 {{'kiln.minimum' op failed to infer returned types}}
  %0 = kiln.minimum %a, %b : tensor<3xf32>, tensor<4xf32> -> tensor<4xf32>
  return
}

// -----

func.func @logical_or_float(%a: tensor<3xf32>, %b: tensor<3xf32>) {
  // expected-error@+1 {{'kiln.logical_or' op operand #0 must be ranked tensor of 1-bit signless integer values, but got 'tensor<3xf32>'}}
  %0 = kiln.logical_or %a, %b : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  return
}

// -----

func.func @argmin_axis(%x: tensor<2x3xf32>) {
  // expected-error@+2 {{axis 2 is out of range for rank 2 (expected -2 <= axis < 2)}}
  // expected-error@+1 {{'kiln.argmin' op failed to infer returned types}}
  %0 = kiln.argmin %x {axis = 2 : i64} : tensor<2x3xf32> -> tensor<2xi64>
  return
}

// -----

func.func @reduce_min_axis(%x: tensor<2x3xf32>) {
  // expected-error@+2 {{axis 3 is out of range for rank 2 (expected -2 <= axis < 2)}}
  // expected-error@+1 {{'kiln.reduce_min' op failed to infer returned types}}
  %0 = kiln.reduce_min %x {axes = array<i64: 3>} : tensor<2x3xf32> -> tensor<2xf32>
  return
}

// -----

func.func @reduce_prod_axis(%x: tensor<2x3xf32>) {
  // expected-error@+2 {{axis 3 is out of range for rank 2 (expected -2 <= axis < 2)}}
  // expected-error@+1 {{'kiln.reduce_prod' op failed to infer returned types}}
  %0 = kiln.reduce_prod %x {axes = array<i64: 3>} : tensor<2x3xf32> -> tensor<2xf32>
  return
}

// -----

func.func @log_softmax_axis(%x: tensor<2x3xf32>) {
  // expected-error@+2 {{axis 5 is out of range for rank 2 (expected -2 <= axis < 2)}}
  // expected-error@+1 {{'kiln.log_softmax' op failed to infer returned types}}
  %0 = kiln.log_softmax %x {axis = 5 : i64} : tensor<2x3xf32> -> tensor<2x3xf32>
  return
}

// -----

kiln.variable @w : tensor<3xf32>
func.func @adadelta_bad_grad(%g: tensor<2xf32>, %lr: tensor<f32>) {
  // expected-error@+1 {{'kiln.apply_adadelta' op applies a gradient of type 'tensor<2xf32>' but @w is 'tensor<3xf32>'}}
  kiln.apply_adadelta @w, %g, %lr : tensor<2xf32>, tensor<f32>
  return
}

// -----

func.func @all_reduce_mean_of_integers(%x: tensor<4xi32>) {
  // expected-error@+1 {{a mean across processes needs floating-point values, not 'i32' (reduce with sum and divide)}}
  %0 = kiln.all_reduce mean, %x : tensor<4xi32>
  return
}

// -----

func.func @all_reduce_empty_group(%x: tensor<4xf32>) {
  // expected-error@+2 {{a collective's group must be a non-empty name without NUL characters, got ""}}
  // expected-error@+1 {{'kiln.all_reduce' op failed to infer returned types}}
  %0 = kiln.all_reduce sum, %x {group = ""} : tensor<4xf32>
  return
}

// -----

func.func @all_reduce_bool(%x: tensor<4xi1>) {
  // expected-error@+1 {{'kiln.all_reduce' op operand #0 must be ranked tensor of 32-bit float or 64-bit float or 32-bit signless integer or 64-bit signless integer values}}
  %0 = kiln.all_reduce sum, %x : tensor<4xi1>
  return
}

// -----

func.func @all_reduce_start_read_early(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{'kiln.all_reduce_start' op needs exactly one user, its kiln.all_reduce_done (the pending value is not the result until then)}}
  %p = kiln.all_reduce_start sum, %x : tensor<4xf32>
  %y = kiln.neg %p : tensor<4xf32>
  %r = kiln.all_reduce_done %p : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @all_reduce_done_of_no_start(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{'kiln.all_reduce_done' op waits for a value that no kiln.all_reduce_start produced}}
  %r = kiln.all_reduce_done %x : tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

func.func @all_reduce_done_in_another_block(%p: tensor<i1>, %x: tensor<4xf32>) -> tensor<4xf32> {
  %s = kiln.all_reduce_start sum, %x : tensor<4xf32>
  %y = kiln.cond %p -> (tensor<4xf32>) {
    // expected-error@+1 {{'kiln.all_reduce_done' op must be in the block of its kiln.all_reduce_start}}
    %r = kiln.all_reduce_done %s : tensor<4xf32>
    kiln.yield %r : tensor<4xf32>
  } else {
    kiln.yield %x : tensor<4xf32>
  }
  return %y : tensor<4xf32>
}

// -----

func.func @broadcast_from_negative_root(%x: tensor<4xf32>) {
  // expected-error@+2 {{root -1 is not a process rank}}
  // expected-error@+1 {{'kiln.broadcast_from' op failed to infer returned types}}
  %0 = kiln.broadcast_from %x {root = -1 : i64} : tensor<4xf32>
  return
}

// -----

func.func @all_gather_not_a_multiple(%x: tensor<4x3xf32>) {
  // expected-error@+1 {{'kiln.all_gather' op the result's extent 6 along axis 0 is not a multiple of the input's, 4}}
  %0 = kiln.all_gather %x : tensor<4x3xf32> -> tensor<6x3xf32>
  return
}

// -----

func.func @all_gather_other_extent(%x: tensor<4x3xf32>) {
  // expected-error@+1 {{'kiln.all_gather' op the input and the result differ in extent 1 (not the axis, 0): 'tensor<4x3xf32>' and 'tensor<8x5xf32>'}}
  %0 = kiln.all_gather %x : tensor<4x3xf32> -> tensor<8x5xf32>
  return
}

// -----

func.func @all_gather_scalar(%x: tensor<f32>) {
  // expected-error@+1 {{'kiln.all_gather' op needs an input and a result of the same rank, at least 1; got 'tensor<f32>' and 'tensor<f32>'}}
  %0 = kiln.all_gather %x : tensor<f32> -> tensor<f32>
  return
}

// -----

func.func @all_gather_element_type(%x: tensor<4xf32>) {
  // expected-error@+1 {{'kiln.all_gather' op the result's element type 'f64' differs from the input's}}
  %0 = kiln.all_gather %x : tensor<4xf32> -> tensor<8xf64>
  return
}

// -----

func.func @all_gather_axis(%x: tensor<4xf32>) {
  // expected-error@+1 {{'kiln.all_gather' op axis 2 is out of range for rank 1 (expected -1 <= axis < 1)}}
  %0 = kiln.all_gather %x {axis = 2 : i64} : tensor<4xf32> -> tensor<8xf32>
  return
}

// -----

func.func @reduce_scatter_not_a_multiple(%x: tensor<6x3xf32>) {
  // expected-error@+1 {{'kiln.reduce_scatter' op the input's extent 6 along axis 0 is not a multiple of the result's, 4}}
  %0 = kiln.reduce_scatter sum, %x : tensor<6x3xf32> -> tensor<4x3xf32>
  return
}

// -----

func.func @reduce_scatter_mean_of_integers(%x: tensor<6xi64>) {
  // expected-error@+1 {{a mean across processes needs floating-point values, not 'i64' (reduce with sum and divide)}}
  %0 = kiln.reduce_scatter mean, %x : tensor<6xi64> -> tensor<?xi64>
  return
}

// -----

func.func @group_rank_type() {
  // expected-error@+1 {{'kiln.group_rank' op result #0 must be}}
  %0 = kiln.group_rank : tensor<i32>
  return
}

// -----

func.func @dim_axis(%x: tensor<?x3xf32>) {
  // expected-error@+1 {{'kiln.dim' op axis 2 is out of range for a tensor of rank 2}}
  %0 = kiln.dim %x {axis = 2 : i64} : tensor<?x3xf32> -> tensor<i64>
  return
}

// -----

func.func @dim_negative_axis(%x: tensor<?x3xf32>) {
  // expected-error@+1 {{'kiln.dim' op axis -1 is out of range for a tensor of rank 2}}
  %0 = kiln.dim %x {axis = -1 : i64} : tensor<?x3xf32> -> tensor<i64>
  return
}

// -----

func.func @dim_type(%x: tensor<?x3xf32>) {
  // expected-error@+1 {{'kiln.dim' op result #0 must be}}
  %0 = kiln.dim %x {axis = 0 : i64} : tensor<?x3xf32> -> tensor<i32>
  return
}

// -----

func.func @slice_open_part(%x: tensor<?x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{dimension 0 has an open extent: a slice takes it whole (start 0, limit -1, stride 1)}}
  %0 = kiln.slice %x {start = array<i64: 0, 0>, limit = array<i64: 2, 3>, stride = array<i64: 1, 1>} : tensor<?x3xf32> -> tensor<2x3xf32>
  return
}

// -----

func.func @slice_whole_from_one(%x: tensor<4x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{a limit of -1 in dimension 0 (the whole dimension) needs start 0 and stride 1}}
  %0 = kiln.slice %x {start = array<i64: 1, 0>, limit = array<i64: -1, 3>, stride = array<i64: 1, 1>} : tensor<4x3xf32> -> tensor<3x3xf32>
  return
}

// -----

func.func @pad_open(%x: tensor<?x3xf32>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{dimension 0 has an open extent and cannot be padded}}
  %0 = kiln.pad %x {low = array<i64: 1, 0>, high = array<i64: 0, 0>} : tensor<?x3xf32> -> tensor<?x3xf32>
  return
}

// -----

func.func @bitwise_and_float(%a: tensor<3xf32>) {
  // expected-error@+1 {{'kiln.bitwise_and' op operand #0 must be ranked tensor of 32/64-bit signless integer values, but got 'tensor<3xf32>'}}
  %0 = kiln.bitwise_and %a, %a : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  return
}

// -----

func.func @bitwise_not_bool(%a: tensor<3xi1>) {
  // expected-error@+1 {{'kiln.bitwise_not' op operand #0 must be ranked tensor of 32/64-bit signless integer values, but got 'tensor<3xi1>'}}
  %0 = kiln.bitwise_not %a : tensor<3xi1>
  return
}

// -----

func.func @shift_mixed_widths(%a: tensor<3xi32>, %b: tensor<3xi64>) {
  // expected-error@+2 {{failed to infer returned types}}
  // expected-error@+1 {{operands must have the same element type, got 'i32' and 'i64'}}
  %0 = kiln.shift_left %a, %b : tensor<3xi32>, tensor<3xi64> -> tensor<3xi32>
  return
}

// -----

func.func @bitcast_join_extent(%a: tensor<3x3xi32>) {
  // expected-error@+1 {{'kiln.bitcast' op joining 'i32' elements into 'f64' needs a last dimension of 2, got [3, 3]}}
  %0 = kiln.bitcast %a : tensor<3x3xi32> -> tensor<3xf64>
  return
}

// -----

func.func @bitcast_split_shape(%a: tensor<3xf64>) {
  // expected-error@+1 {{'kiln.bitcast' op a bitcast of [3] 'f64' to 'f32' has shape [3, 2], not [3]}}
  %0 = kiln.bitcast %a : tensor<3xf64> -> tensor<3xf32>
  return
}

// -----

func.func @bitcast_bool(%a: tensor<8xi1>) {
  // expected-error@+1 {{'kiln.bitcast' op bools (i1) have no bit layout to reinterpret}}
  %0 = kiln.bitcast %a : tensor<8xi1> -> tensor<8xi32>
  return
}

// -----

func.func @cast_unsigned_flag_on_float(%x: tensor<2xf32>) -> tensor<2xi32> {
  // expected-error@+1 {{'kiln.cast' op unsigned_input needs a signless i8, i16 or i32 input, not 'f32'}}
  %0 = kiln.cast %x {unsigned_input} : tensor<2xf32> -> tensor<2xi32>
  return %0 : tensor<2xi32>
}

// -----

func.func @cast_unsigned_flag_on_i64(%x: tensor<2xf32>) -> tensor<2xi64> {
  // expected-error@+1 {{'kiln.cast' op unsigned_result needs a signless i8, i16 or i32 result, not 'i64'}}
  %0 = kiln.cast %x {unsigned_result} : tensor<2xf32> -> tensor<2xi64>
  return %0 : tensor<2xi64>
}

// -----

func.func @add_on_storage_type(%x: tensor<2xui8>) -> tensor<2xui8> {
  // expected-error@+1 {{'kiln.add' op operand #0 must be ranked tensor of floating-point or 32/64-bit integer values, but got 'tensor<2xui8>'}}
  %0 = kiln.add %x, %x : tensor<2xui8>, tensor<2xui8> -> tensor<2xui8>
  return %0 : tensor<2xui8>
}
