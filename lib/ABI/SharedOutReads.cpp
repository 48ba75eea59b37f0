//===- SharedOutReads.cpp - Tiles read from the loop's own output ---------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-shared-out-reads: once eliminate-empty-tensors has made a parallel
// loop write a variable's buffer (its shared output initialized with the
// variable), a tile that reads the old value of the variable at exactly
// the slice it writes (an optimizer step fused into a weight gradient's
// tiles: w[tile] - lr * dW[tile]) still reads the variable from outside
// the loop. One-shot bufferization sees a loop that reads a tensor it also
// overwrites, and copies the whole variable before the loop and back after
// it. Read through the loop's shared output instead, the read and the
// write are the same subset of the same buffer, which it writes in place.
// The value read is the same: each iteration writes only its own slice.
//
//===----------------------------------------------------------------------===//

#include "kiln/ABI/Passes.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNSHAREDOUTREADS
#include "kiln/ABI/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

/// Whether two slices have the same offsets, sizes and strides.
bool sameSlice(OffsetSizeAndStrideOpInterface a,
               OffsetSizeAndStrideOpInterface b) {
  auto equal = [](ArrayRef<OpFoldResult> x, ArrayRef<OpFoldResult> y) {
    return x.size() == y.size() &&
           llvm::all_of(llvm::zip_equal(x, y), [](auto pair) {
             return std::get<0>(pair) == std::get<1>(pair);
           });
  };
  return equal(a.getMixedOffsets(), b.getMixedOffsets()) &&
         equal(a.getMixedSizes(), b.getMixedSizes()) &&
         equal(a.getMixedStrides(), b.getMixedStrides());
}

struct SharedOutReadsPass
    : public mlir::kiln::impl::KilnSharedOutReadsBase<SharedOutReadsPass> {
  void runOnOperation() override {
    getOperation()->walk([](scf::ForallOp loop) {
      auto inserts = llvm::to_vector(
          loop.getTerminator().getBody()->getOps<tensor::ParallelInsertSliceOp>());
      for (auto [init, shared] :
           llvm::zip_equal(loop.getOutputs(), loop.getRegionIterArgs())) {
        // The slice this iteration writes, if it writes one.
        tensor::ParallelInsertSliceOp write;
        for (tensor::ParallelInsertSliceOp insert : inserts)
          if (insert.getDest() == shared)
            write = write ? tensor::ParallelInsertSliceOp() : insert;
        if (!write)
          continue;
        for (Operation &op : loop.getBody()->without_terminator())
          if (auto read = dyn_cast<tensor::ExtractSliceOp>(op))
            if (read.getSource() == init &&
                read.getType() == write.getSourceType() && sameSlice(read, write))
              read.getSourceMutable().assign(shared);
      }
    });
  }
};

} // namespace
