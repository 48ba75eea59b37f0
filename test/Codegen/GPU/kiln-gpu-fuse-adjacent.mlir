// RUN: tensor-opt %s --split-input-file --kiln-gpu-fuse-adjacent=everywhere=true | FileCheck %s
// RUN: tensor-opt %s --split-input-file --kiln-gpu-fuse-adjacent | FileCheck %s --check-prefix=GPU-ONLY
// (Without everywhere, only GPU entries: these functions keep their ops.)
// GPU-ONLY-LABEL: func.func @adam
// GPU-ONLY-COUNT-4: linalg.generic

#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (j)>
#scalar = affine_map<(i, j) -> ()>
#s0 = affine_map<() -> ()>

// Adam's step for one weight: the moments are updated in place, a scalar
// op computes the step size, the weight update reads the new moments. The
// two moment loops join, move past the scalar op (it touches none of
// their buffers) and join the weight's: one loop nest with three outputs,
// in which the weight reads the moments' new values.
// CHECK-LABEL: func.func @adam
// CHECK: linalg.generic {{.*}}iterator_types = []
// CHECK-SAME: outs(%[[STEP:[a-z0-9_]+]] : memref<f32>)
// CHECK: linalg.generic
// CHECK-SAME: ins(%arg1, %arg0, %arg2, %arg0, %arg4, %[[STEP]] :
// CHECK-SAME: outs(%arg1, %arg2, %arg3 :
// CHECK: ^bb0(%[[M:[a-z0-9_]+]]: f32, %[[G:[a-z0-9_]+]]: f32, %[[V:[a-z0-9_]+]]: f32, %[[G2:[a-z0-9_]+]]: f32, %[[W:[a-z0-9_]+]]: f32, %[[S:[a-z0-9_]+]]: f32,
// CHECK: %[[NM:.*]] = arith.addf
// CHECK: %[[NV:.*]] = arith.addf
// CHECK: %[[Q:.*]] = arith.divf %[[NM]], %[[NV]]
// CHECK: %[[D:.*]] = arith.mulf %[[Q]], %[[S]]
// CHECK: %[[NW:.*]] = arith.subf %[[W]], %[[D]]
// CHECK: linalg.yield %[[NM]], %[[NV]], %[[NW]]
// CHECK-NOT: linalg.generic
func.func @adam(%g: memref<8x4xf32>, %m: memref<8x4xf32>, %v: memref<8x4xf32>, %w: memref<8x4xf32>, %w0: memref<8x4xf32>, %lr: memref<f32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cpu>} {
  %step = memref.alloc() : memref<f32>
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m, %g : memref<8x4xf32>, memref<8x4xf32>) outs(%m : memref<8x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%v, %g : memref<8x4xf32>, memref<8x4xf32>) outs(%v : memref<8x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %b, %b : f32
    %s = arith.addf %a, %p : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#s0, #s0], iterator_types = []}
      ins(%lr : memref<f32>) outs(%step : memref<f32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.mulf %a, %a : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#id, #id, #id, #scalar, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m, %v, %w0, %step : memref<8x4xf32>, memref<8x4xf32>, memref<8x4xf32>, memref<f32>) outs(%w : memref<8x4xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32, %d: f32, %o: f32):
    %q = arith.divf %a, %b : f32
    %e = arith.mulf %q, %d : f32
    %n = arith.subf %c, %e : f32
    linalg.yield %n : f32
  }
  memref.dealloc %step : memref<f32>
  return
}

// -----

#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (j)>

// A bias add (the bias read as a broadcast) and a relu of its result,
// which is kept (the gradient reads it again): one op, two outputs.
// CHECK-LABEL: func.func @bias_relu
// CHECK: linalg.generic
// CHECK-SAME: ins(%arg0, %arg1 :
// CHECK-SAME: outs(%[[PRE:[a-z0-9_]+]], %arg2 :
// CHECK: %[[S:.*]] = arith.addf
// CHECK: %[[R:.*]] = arith.maximumf %[[S]]
// CHECK: linalg.yield %[[S]], %[[R]]
// CHECK-NOT: linalg.generic {
// CHECK: return %[[PRE]]
func.func @bias_relu(%x: memref<8x4xf32>, %b: memref<4xf32>, %out: memref<8x4xf32>) -> memref<8x4xf32> attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cpu>} {
  %pre = memref.alloc() : memref<8x4xf32>
  linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %b : memref<8x4xf32>, memref<4xf32>) outs(%pre : memref<8x4xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %s = arith.addf %a, %c : f32
    linalg.yield %s : f32
  }
  %zero = arith.constant 0.0 : f32
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%pre : memref<8x4xf32>) outs(%out : memref<8x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.maximumf %a, %zero : f32
    linalg.yield %r : f32
  }
  return %pre : memref<8x4xf32>
}

// -----

#id = affine_map<(i, j) -> (i, j)>
#t = affine_map<(i, j) -> (j, i)>

// Not fused: the second reads the first's output transposed (another
// point); an op between writes what the first reads; a call between
// (effects unknown); other extents; both write the same buffer.
// CHECK-LABEL: func.func @transposed
// CHECK-COUNT-2: linalg.generic
// CHECK-LABEL: func.func @clobbered
// CHECK-COUNT-3: linalg
// CHECK-LABEL: func.func @call_between
// CHECK-COUNT-2: linalg.generic
// CHECK-LABEL: func.func @other_extents
// CHECK-COUNT-2: linalg.generic
// CHECK-LABEL: func.func @same_output
// CHECK-COUNT-2: linalg.generic
func.func @transposed(%x: memref<4x4xf32>, %y: memref<4x4xf32>, %z: memref<4x4xf32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cpu>} {
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x4xf32>) outs(%y : memref<4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  }
  linalg.generic {indexing_maps = [#t, #id], iterator_types = ["parallel", "parallel"]}
      ins(%y : memref<4x4xf32>) outs(%z : memref<4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  }
  return
}
func.func @clobbered(%x: memref<4x4xf32>, %y: memref<4x4xf32>, %z: memref<4x4xf32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cpu>} {
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x4xf32>) outs(%y : memref<4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  }
  %one = arith.constant 1.0 : f32
  linalg.fill ins(%one : f32) outs(%x : memref<4x4xf32>)
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x4xf32>) outs(%z : memref<4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  return
}
func.func private @opaque(memref<4x4xf32>)
func.func @call_between(%x: memref<4x4xf32>, %y: memref<4x4xf32>, %z: memref<4x4xf32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cpu>} {
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x4xf32>) outs(%y : memref<4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  }
  func.call @opaque(%x) : (memref<4x4xf32>) -> ()
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x4xf32>) outs(%z : memref<4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  return
}
func.func @other_extents(%x: memref<4x4xf32>, %y: memref<4x4xf32>, %z: memref<4x8xf32>, %w: memref<4x8xf32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cpu>} {
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x4xf32>) outs(%y : memref<4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%z : memref<4x8xf32>) outs(%w : memref<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  return
}
func.func @same_output(%x: memref<4x4xf32>, %y: memref<4x4xf32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cpu>} {
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x4xf32>) outs(%y : memref<4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x4xf32>) outs(%y : memref<4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  }
  return
}

// -----

#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (j)>

// Outside an entry point, two arguments may be one buffer (a caller can
// pass it twice): the second loop writes %w while the first may read it
// as %x at other points, so they stay apart. In an entry they join. A
// loop with a scalar operand is not this pass's.
// CHECK-LABEL: func.func @callee
// CHECK-COUNT-2: linalg.generic
// CHECK-LABEL: func.func @entry
// CHECK-COUNT-1: linalg.generic
// CHECK-NOT: linalg.generic
// CHECK-LABEL: func.func @scalar_operand
// CHECK-COUNT-2: linalg.generic
func.func @callee(%x: memref<8x4xf32>, %y: memref<8x4xf32>, %w: memref<8x4xf32>) {
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<8x4xf32>) outs(%y : memref<8x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%y : memref<8x4xf32>) outs(%w : memref<8x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  return
}
func.func @entry(%x: memref<8x4xf32>, %y: memref<8x4xf32>, %w: memref<8x4xf32>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cpu>} {
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<8x4xf32>) outs(%y : memref<8x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%y : memref<8x4xf32>) outs(%w : memref<8x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  return
}
func.func @scalar_operand(%x: memref<8x4xf32>, %y: memref<8x4xf32>, %w: memref<8x4xf32>, %s: f32) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cpu>} {
  linalg.generic {indexing_maps = [#id, affine_map<(i, j) -> ()>, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %s : memref<8x4xf32>, f32) outs(%y : memref<8x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %n = arith.addf %a, %b : f32
    linalg.yield %n : f32
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%y : memref<8x4xf32>) outs(%w : memref<8x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  return
}

// -----

#id = affine_map<(i, j) -> (i, j)>

// Gathers: a body that loads the other op's output at computed indices
// reads it at other points than its own, so the two stay apart whichever
// comes first (fused, the gather of element [0, 0] by every point would see
// it before the first loop wrote it, once it did); a gather from a table
// neither writes joins. A body that stores is not this pass's.
// CHECK-LABEL: func.func @gather_of_the_first
// CHECK-COUNT-2: linalg.generic
// CHECK-LABEL: func.func @gather_before_its_writer
// CHECK-COUNT-2: linalg.generic
// CHECK-LABEL: func.func @gather_of_a_table
// CHECK: linalg.generic
// CHECK-SAME: outs(%{{.*}}, %{{.*}} : memref<4x4xi64>, memref<4x4xi64>)
// CHECK: arith.muli
// CHECK: memref.load %arg2
// CHECK-NOT: linalg.generic
// CHECK-LABEL: func.func @body_store
// CHECK-COUNT-2: linalg.generic
func.func @gather_of_the_first(%x: memref<4x4xi64>, %y: memref<4x4xi64>, %z: memref<4x4xi64>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cpu>} {
  %c0 = arith.constant 0 : index
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x4xi64>) outs(%y : memref<4x4xi64>) {
  ^bb0(%a: i64, %o: i64):
    %m = arith.muli %a, %a : i64
    linalg.yield %m : i64
  }
  linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", "parallel"]}
      outs(%z : memref<4x4xi64>) {
  ^bb0(%o: i64):
    %g = memref.load %y[%c0, %c0] : memref<4x4xi64>
    linalg.yield %g : i64
  }
  return
}
func.func @gather_before_its_writer(%x: memref<4x4xi64>, %y: memref<4x4xi64>, %z: memref<4x4xi64>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cpu>} {
  %c3 = arith.constant 3 : index
  linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", "parallel"]}
      outs(%z : memref<4x4xi64>) {
  ^bb0(%o: i64):
    %g = memref.load %y[%c3, %c3] : memref<4x4xi64>
    linalg.yield %g : i64
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x4xi64>) outs(%y : memref<4x4xi64>) {
  ^bb0(%a: i64, %o: i64):
    %m = arith.muli %a, %a : i64
    linalg.yield %m : i64
  }
  return
}
func.func @gather_of_a_table(%x: memref<4x4xi64>, %y: memref<4x4xi64>, %t: memref<4x4xi64>, %z: memref<4x4xi64>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cpu>} {
  %c0 = arith.constant 0 : index
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x4xi64>) outs(%y : memref<4x4xi64>) {
  ^bb0(%a: i64, %o: i64):
    %m = arith.muli %a, %a : i64
    linalg.yield %m : i64
  }
  linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", "parallel"]}
      outs(%z : memref<4x4xi64>) {
  ^bb0(%o: i64):
    %g = memref.load %t[%c0, %c0] : memref<4x4xi64>
    linalg.yield %g : i64
  }
  return
}
func.func @body_store(%x: memref<4x4xi64>, %y: memref<4x4xi64>, %t: memref<4x4xi64>, %z: memref<4x4xi64>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cpu>} {
  %c0 = arith.constant 0 : index
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x4xi64>) outs(%y : memref<4x4xi64>) {
  ^bb0(%a: i64, %o: i64):
    %m = arith.muli %a, %a : i64
    linalg.yield %m : i64
  }
  linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", "parallel"]}
      outs(%z : memref<4x4xi64>) {
  ^bb0(%o: i64):
    memref.store %o, %t[%c0, %c0] : memref<4x4xi64>
    linalg.yield %o : i64
  }
  return
}

// -----

#id = affine_map<(i, j) -> (i, j)>

// A body that loads a buffer it names itself (a global): its accesses are
// not known from the values it captures, so it is not fused.
// CHECK-LABEL: func.func @global_in_body
// CHECK-COUNT-2: linalg.generic
memref.global "private" @table : memref<4x4xi64> = dense<0>
func.func @global_in_body(%x: memref<4x4xi64>, %z: memref<4x4xi64>) attributes {kiln.entry = #kiln.entry<inputs = [], outputs = [], variables = [], checks = [], device = cpu>} {
  %c3 = arith.constant 3 : index
  %y = memref.get_global @table : memref<4x4xi64>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x4xi64>) outs(%y : memref<4x4xi64>) {
  ^bb0(%a: i64, %o: i64):
    %m = arith.muli %a, %a : i64
    linalg.yield %m : i64
  }
  linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", "parallel"]}
      outs(%z : memref<4x4xi64>) {
  ^bb0(%o: i64):
    %t = memref.get_global @table : memref<4x4xi64>
    %g = memref.load %t[%c3, %c3] : memref<4x4xi64>
    linalg.yield %g : i64
  }
  return
}
