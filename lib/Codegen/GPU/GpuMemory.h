//===- GpuMemory.h - Which buffers of a GPU entry are GPU memory -*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// In an entry compiled for the GPU, the arguments (inputs, outputs,
// variables) and the temporaries that kernels use are GPU memory; the
// bookkeeping buffers of the ownership-based deallocation (pointers and
// flags that the host fills and a host helper reads) are host memory.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_LIB_CODEGEN_GPU_GPUMEMORY_H
#define KILN_LIB_CODEGEN_GPU_GPUMEMORY_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::kiln {

/// Whether `op` is kernel code: inside a `gpu.launch`, or in the body of a
/// linalg op (which becomes a kernel).
bool inKernelCode(Operation *op);

/// Whether the buffer an allocation (`memref.alloc`, `memref.alloca`) makes
/// only serves host code: every use, through casts, is a host load or
/// store, a call, a deallocation (the ownership flags and pointer lists of
/// the deallocation pipeline) or a copy from the GPU (`gpu.memcpy`). Such a
/// buffer stays in host memory; every other temporary goes to the GPU.
bool isHostScratch(Operation *allocation);

/// Whether `memref`, a value in host code of a GPU entry, holds GPU memory:
/// traced back through views, casts and structured control flow to an entry
/// argument, a `gpu.alloc`, or a `memref.alloc` that is not host scratch.
/// Constants (`memref.get_global`) are host memory here: the host keeps
/// its own copy, and kernels get theirs (kiln-gpu-sink-into-kernels).
bool holdsGpuMemory(Value memref);

/// Whether `value` is an argument of an entry point (a buffer of its own in
/// Kiln's entry ABI: an input, an output or a variable).
bool isEntryArgument(Value value);

/// Whether the buffer `memref` starts at an address its allocation aligned
/// (16 bytes or more): an entry point's argument or an allocation, through
/// reshapes and casts only (a subview may start anywhere).
bool startsAligned(Value memref);

/// The buffer a memref value views: through view-like ops (subviews,
/// reshapes, casts) to an allocation, a global or a block argument.
Value rootOf(Value memref);

/// Whether two roots (rootOf) may be the same memory. Distinct allocations
/// are distinct; so are distinct arguments of an entry point (inputs,
/// outputs and variables are separate buffers in Kiln's entry ABI), but not
/// those of other functions (a caller may pass one buffer twice), though
/// none of them is an allocation the function makes; a global
/// (memref.get_global) is only its own symbol's memory; anything else (a
/// buffer from a call, a loop's argument) may alias what it is compared
/// with.
bool mayAlias(Value a, Value b);

/// Whether a root of `a` may alias a root of `b`.
bool anyAlias(ArrayRef<Value> a, ArrayRef<Value> b);

/// Creates `make(start)`, an async GPU op that depends on `start`, a new
/// stream, and waits for its token (its last result): the op is complete
/// when the host code goes on. Returns the op.
template <typename MakeFn>
Operation *createWaitedFor(OpBuilder &builder, Location loc, MakeFn make) {
  auto tokenType = gpu::AsyncTokenType::get(builder.getContext());
  Value start =
      gpu::WaitOp::create(builder, loc, tokenType, ValueRange{}).getAsyncToken();
  Operation *op = make(start);
  gpu::WaitOp::create(builder, loc, Type(),
                      ValueRange{op->getResult(op->getNumResults() - 1)});
  return op;
}

/// Creates a `gpu.launch` of one block of one thread at the insertion point
/// and sets the insertion point into its body, before the terminator.
gpu::LaunchOp createOneThreadLaunch(RewriterBase &rewriter, Location loc);

/// Creates a `gpu.launch` of ceil(`count` / `threads`) blocks of `threads`
/// threads at the insertion point, sets the insertion point into its body,
/// before the terminator, and returns the thread's flat index (block x
/// threads + thread; it may reach past `count`). At least one block, even
/// for a `count` of 0.
Value createFlatLaunch(RewriterBase &rewriter, Location loc, Value count,
                       int64_t threads);

/// Moves `op` into a new launch of one thread, in its place.
void runInOneThread(RewriterBase &rewriter, Operation *op);

} // namespace mlir::kiln

#endif // KILN_LIB_CODEGEN_GPU_GPUMEMORY_H
