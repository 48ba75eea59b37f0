//===- BucketCollectives.cpp - One all-reduce per bucket of tensors -------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-bucket-collectives: a data-parallel step averages every gradient
// with its own kiln.all_reduce; each is a round of messages whose latency
// (tens of microseconds between processes, more between machines) dwarfs
// the time to send a small bias. Consecutive compatible all-reduces become
//
//   %flat_i = kiln.reshape %x_i -> tensor<n_i x T>
//   %joined = kiln.concat %flat_0, %flat_1, ... {axis = 0}
//   %all    = kiln.all_reduce <reduction>, %joined {group}
//   %r_i    = kiln.reshape (kiln.slice %all [o_i, o_i + n_i)) -> x_i's type
//
// at the place of the bucket's last all-reduce. A block's first bucket is
// smaller (first-bucket-bytes, 1 MiB): after kiln-schedule-collectives it
// holds the gradients the backward pass computes first, and a small one
// can start communicating while the rest are computed.
//
//===----------------------------------------------------------------------===//

#include "kiln/Dialect/Kiln/KilnOps.h"
#include "kiln/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNBUCKETCOLLECTIVES
#include "kiln/Transforms/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;
using namespace mlir::kiln;

namespace {

bool isCollective(Operation *op) {
  return isa<AllReduceOp, BroadcastFromOp, AllGatherOp, ReduceScatterOp>(op);
}

/// A bucket's all-reduces, in order, and what they share.
struct Bucket {
  SmallVector<AllReduceOp> members;
  int64_t bytes = 0;

  bool accepts(AllReduceOp op) const {
    if (members.empty())
      return true;
    AllReduceOp first = members.front();
    return first.getReduction() == op.getReduction() &&
           first.getGroup() == op.getGroup() &&
           getElementTypeOrSelf(first.getType()) ==
               getElementTypeOrSelf(op.getType());
  }

  bool produced(Value v) const {
    return llvm::any_of(members, [&](AllReduceOp m) {
      return m.getResult() == v;
    });
  }
};

int64_t bytesOf(RankedTensorType type) {
  return type.getNumElements() *
         static_cast<int64_t>(
             llvm::divideCeil(type.getElementTypeBitWidth(), 8));
}

/// `x` as `type` (itself when it already is).
Value reshaped(OpBuilder &b, Location loc, Value x, Type type) {
  if (x.getType() == type)
    return x;
  return ReshapeOp::create(b, loc, type, x);
}

/// Replaces the bucket's members (two or more) by one all-reduce at the
/// place of the last.
void merge(Bucket &bucket) {
  if (bucket.members.size() < 2)
    return;
  AllReduceOp last = bucket.members.back();
  OpBuilder b(last);
  Location loc = last.getLoc();
  Type element = getElementTypeOrSelf(last.getType());
  SmallVector<Value> flat;
  SmallVector<int64_t> sizes;
  for (AllReduceOp m : bucket.members) {
    int64_t n = cast<RankedTensorType>(m.getType()).getNumElements();
    flat.push_back(
        reshaped(b, loc, m.getInput(), RankedTensorType::get({n}, element)));
    sizes.push_back(n);
  }
  Value joined = ConcatOp::create(b, loc, flat, b.getI64IntegerAttr(0));
  Value all = AllReduceOp::create(b, loc, last.getReduction(), joined,
                                  last.getGroupAttr());
  int64_t offset = 0;
  for (auto [m, n] : llvm::zip(bucket.members, sizes)) {
    Value part = SliceOp::create(b, loc, all, b.getDenseI64ArrayAttr({offset}),
                                 b.getDenseI64ArrayAttr({offset + n}),
                                 b.getDenseI64ArrayAttr({1}));
    offset += n;
    m.getResult().replaceAllUsesWith(reshaped(b, loc, part, m.getType()));
  }
  for (AllReduceOp m : bucket.members)
    m.erase();
}

struct BucketCollectivesPass
    : public kiln::impl::KilnBucketCollectivesBase<BucketCollectivesPass> {
  using Base::Base;

  void runOnOperation() override {
    if (bucketBytes <= 0)
      return;
    SmallVector<Block *> blocks;
    getOperation()->walk([&](Block *block) { blocks.push_back(block); });
    for (Block *block : blocks)
      bucketBlock(*block);
  }

  void bucketBlock(Block &block) {
    Bucket bucket;
    int64_t buckets = 0; // of this block, so far
    auto flush = [&] {
      buckets += !bucket.members.empty();
      merge(bucket);
      bucket = Bucket();
    };
    for (Operation &op : llvm::make_early_inc_range(block)) {
      auto reduce = dyn_cast<AllReduceOp>(op);
      auto type = reduce ? cast<RankedTensorType>(reduce.getType())
                         : RankedTensorType();
      bool mergeable = reduce && type.hasStaticShape() &&
                       bytesOf(type) <= bucketBytes;
      // A use of a member's result must come after the merged op.
      if (llvm::any_of(op.getOperands(),
                       [&](Value v) { return bucket.produced(v); }))
        flush();
      if (mergeable) {
        int64_t limit = buckets == 0
                            ? std::min<int64_t>(firstBucketBytes, bucketBytes)
                            : bucketBytes;
        if (!bucket.accepts(reduce) || bucket.bytes + bytesOf(type) > limit)
          flush();
        bucket.members.push_back(reduce);
        bucket.bytes += bytesOf(type);
        continue;
      }
      // Another collective (or one inside a region) keeps its place
      // relative to the bucket's.
      if (isCollective(&op) || op.getNumRegions() != 0 ||
          op.hasTrait<mlir::OpTrait::IsTerminator>())
        flush();
    }
    flush();
  }
};

} // namespace
