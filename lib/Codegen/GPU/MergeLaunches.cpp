//===- MergeLaunches.cpp - One launch for neighbouring independent kernels ===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-merge-launches: neighbouring gpu.launch ops of small grids that
// touch no buffer one writes and the other reads or writes become one
// launch whose blocks are split between the bodies: blocks 0 .. n1 - 1 run
// the first body, the next n2 the second, and so on (horizontal fusion);
// neighbouring kernels of one thread each become one thread running their
// bodies in order, dependent or not (see the pass description).
//
//===----------------------------------------------------------------------===//

#include "GpuMemory.h"

#include "kiln/Codegen/GPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/CallInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Transforms/RegionUtils.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUMERGELAUNCHES
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

/// Static shared memory a merged kernel may declare (the limit without
/// opting in to more).
constexpr int64_t kSharedLimit = 48 * 1024;

/// A launch this pass may merge, with what it needs to know about it.
struct Kernel {
  gpu::LaunchOp launch;
  int64_t grid[3], block[3];
  int64_t blocks = 1, threads = 1, sharedBytes = 0;
  // Whether the body depends on how many threads its block has beyond its
  // own ids: barriers, warp-level ops, shared memory.
  bool threadSensitive = false;
  // The roots (kiln::rootOf) of the buffers it reads and writes.
  SmallVector<Value> reads, writes;
};

std::optional<int64_t> constantOf(Value v) {
  APInt value;
  if (!matchPattern(v, m_ConstantInt(&value)))
    return std::nullopt;
  return value.getSExtValue();
}

/// How an op of a kernel body uses `memref` (a captured buffer or a view of
/// one): adds the views it makes to `views`; sets `read` / `written`. An op
/// whose effects on it are not known counts as both.
void classifyUse(Operation *user, Value memref, SmallVectorImpl<Value> &views,
                 bool &read, bool &written) {
  if (auto view = dyn_cast<ViewLikeOpInterface>(user);
      view && view.getViewSource() == memref) {
    for (Value result : user->getResults())
      if (isa<BaseMemRefType>(result.getType()))
        views.push_back(result);
    return;
  }
  if (isa<memref::DimOp>(user))
    return;
  auto effects = dyn_cast<MemoryEffectOpInterface>(user);
  if (!effects) {
    read = written = true;
    return;
  }
  SmallVector<MemoryEffects::EffectInstance> instances;
  effects.getEffectsOnValue(memref, instances);
  if (instances.empty()) {
    // Effects not tied to the value (or none at all, e.g. a pointer taken
    // from it): assume the worst.
    read = written = true;
    return;
  }
  for (const MemoryEffects::EffectInstance &instance : instances) {
    if (isa<MemoryEffects::Read>(instance.getEffect()))
      read = true;
    else
      written = true; // writes, and anything else
  }
}

/// The kernel's facts, or nothing when this pass leaves it alone: grids and
/// blocks of constant extents, no async tokens, clusters or dynamic shared
/// memory, one block of body, only buffers and scalars from the host.
std::optional<Kernel> describe(gpu::LaunchOp launch, int64_t maxBlocks) {
  if (launch.getAsyncToken() || !launch.getAsyncDependencies().empty() ||
      launch.hasClusterSize() || launch.getDynamicSharedMemorySize() ||
      launch.getFunctionAttr() || launch.getModuleAttr() ||
      !launch.getBody().hasOneBlock())
    return std::nullopt;
  Kernel k;
  k.launch = launch;
  gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
  gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
  Value extents[6] = {grid.x, grid.y, grid.z, block.x, block.y, block.z};
  for (int i = 0; i < 6; ++i) {
    std::optional<int64_t> extent = constantOf(extents[i]);
    if (!extent || *extent < 1)
      return std::nullopt;
    (i < 3 ? k.grid[i] : k.block[i - 3]) = *extent;
  }
  k.blocks = k.grid[0] * k.grid[1] * k.grid[2];
  k.threads = k.block[0] * k.block[1] * k.block[2];
  if (k.blocks > maxBlocks)
    return std::nullopt;
  for (BlockArgument shared : launch.getWorkgroupAttributions()) {
    auto type = cast<MemRefType>(shared.getType());
    if (!type.hasStaticShape() || !type.getElementType().isIntOrFloat())
      return std::nullopt;
    // (each buffer 16-byte aligned: see kiln-gpu-merge-kernel-modules)
    k.sharedBytes += llvm::alignTo(
        type.getNumElements() * ((type.getElementTypeBitWidth() + 7) / 8), 16);
    k.threadSensitive = true;
  }
  for (BlockArgument local : launch.getPrivateAttributions())
    if (!cast<MemRefType>(local.getType()).hasStaticShape())
      return std::nullopt;
  // Ids this pass cannot rebuild, and memory it cannot see: a call, a
  // global, an access through a pointer rather than a captured buffer.
  bool unknown = false;
  launch.getBody().walk([&](Operation *op) {
    if (isa<gpu::GlobalIdOp, gpu::ClusterIdOp, gpu::ClusterDimOp,
            gpu::ClusterBlockIdOp, gpu::ClusterDimBlocksOp, CallOpInterface,
            memref::GetGlobalOp>(op) ||
        op->getName().getStringRef().starts_with("nvvm.read.ptx.sreg."))
      unknown = true;
    Dialect *dialect = op->getDialect();
    StringRef name = dialect ? dialect->getNamespace() : StringRef();
    if (auto effects = dyn_cast<MemoryEffectOpInterface>(op);
        effects && name != "gpu") {
      // (gpu's barriers and shuffles touch no buffer of the program.)
      SmallVector<MemoryEffects::EffectInstance> instances;
      effects.getEffects(instances);
      for (const MemoryEffects::EffectInstance &instance : instances) {
        if (isa<MemoryEffects::Allocate, MemoryEffects::Free>(
                instance.getEffect()))
          continue;
        Value on = instance.getValue();
        if (!on || !isa<BaseMemRefType>(on.getType()))
          unknown = true;
      }
    }
    if ((name == "gpu" && !isa<gpu::TerminatorOp, gpu::BlockIdOp,
                               gpu::ThreadIdOp, gpu::BlockDimOp,
                               gpu::GridDimOp>(op)) ||
        name == "nvvm" || name == "nvgpu" || name == "llvm")
      k.threadSensitive = true;
  });
  if (unknown)
    return std::nullopt;
  // The buffers it touches, through the views its body makes of them.
  SetVector<Value> captured;
  getUsedValuesDefinedAbove(launch.getBody(), captured);
  for (Value value : captured) {
    Type type = value.getType();
    if (value.getDefiningOp<memref::ExtractAlignedPointerAsIndexOp>())
      return std::nullopt; // (an address: unknown accesses)
    if (type.isIntOrIndexOrFloat() || isa<VectorType>(type))
      continue; // (a value, e.g. a constant the body uses)
    if (!isa<MemRefType>(type))
      return std::nullopt; // (a descriptor, a pointer: unknown accesses)
    bool read = false, written = false;
    SmallVector<Value> worklist{value};
    while (!worklist.empty()) {
      Value memref = worklist.pop_back_val();
      for (OpOperand &use : memref.getUses())
        if (launch->isProperAncestor(use.getOwner()))
          classifyUse(use.getOwner(), memref, worklist, read, written);
    }
    Value root = kiln::rootOf(value);
    if (read)
      k.reads.push_back(root);
    if (written)
      k.writes.push_back(root);
  }
  return k;
}

/// Whether the kernel is one thread of one block.
bool oneThread(const Kernel &k) { return k.blocks == 1 && k.threads == 1; }

/// Whether `b` may run at the same time as `a`: neither writes what the
/// other reads or writes.
bool independent(const Kernel &a, const Kernel &b) {
  return !kiln::anyAlias(a.writes, b.reads) &&
         !kiln::anyAlias(a.writes, b.writes) &&
         !kiln::anyAlias(b.writes, a.reads);
}

/// Whether a launch may move down past `op` (which lies between it and the
/// next launch): `op` touches no memory the kernels see (index arithmetic,
/// the allocation of a new temporary, a wait with no kernel in flight).
bool canSinkPast(Operation *op) {
  return isa<gpu::AllocOp, gpu::WaitOp>(op) ||
         (isMemoryEffectFree(op) && op->getNumRegions() == 0);
}

class Merger {
public:
  Merger(int64_t maxKernels) : maxKernels(maxKernels) {}

  /// Whether `next` may join the group.
  bool accepts(const Kernel &next) const {
    if (group.empty())
      return true;
    if (static_cast<int64_t>(group.size()) >= maxKernels)
      return false;
    int64_t shared = next.sharedBytes, threads = next.threads;
    bool sensitive = next.threadSensitive;
    if (serial()) {
      // One thread runs the bodies in order: dependences are kept. (Once
      // two are merged so, they may depend on each other, and another
      // kind of kernel would split them between blocks.)
      if (oneThread(next)) {
        for (const Kernel &k : group)
          shared += k.sharedBytes;
        return shared <= kSharedLimit;
      }
      if (group.size() > 1)
        return false;
    }
    for (const Kernel &k : group) {
      if (!independent(k, next))
        return false;
      shared += k.sharedBytes;
      sensitive = sensitive || k.threadSensitive;
      if (k.threads != threads)
        threads = -1;
    }
    // Blocks of different sizes: the smaller body's extra threads skip
    // it, which only bodies without barriers and warp ops may do.
    if (threads < 0 && sensitive)
      return false;
    return shared <= kSharedLimit;
  }

  SmallVector<Kernel> group;

  /// Whether every kernel of the group is one thread: they merge into one
  /// thread running the bodies in order.
  bool serial() const { return llvm::all_of(group, oneThread); }

  /// Replaces the group by one launch at its last member's place.
  void merge(RewriterBase &rewriter) {
    if (group.size() < 2) {
      group.clear();
      return;
    }
    gpu::LaunchOp last = group.back().launch;
    Location loc = last.getLoc();
    rewriter.setInsertionPoint(last);
    bool inOrder = serial();
    int64_t blocks = 0, threads = 0;
    SmallVector<Type> shared, local;
    for (Kernel &k : group) {
      blocks = inOrder ? 1 : blocks + k.blocks;
      threads = std::max(threads, k.threads);
      for (BlockArgument a : k.launch.getWorkgroupAttributions())
        shared.push_back(a.getType());
      for (BlockArgument a : k.launch.getPrivateAttributions())
        local.push_back(a.getType());
    }
    auto constant = [&](OpBuilder &b, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    Value one = constant(rewriter, 1);
    auto merged = gpu::LaunchOp::create(
        rewriter, loc, constant(rewriter, blocks), one, one,
        constant(rewriter, threads), one, one,
        /*dynamicSharedMemorySize=*/nullptr, /*asyncTokenType=*/nullptr,
        /*asyncDependencies=*/ValueRange{}, shared, local);
    Block &body = merged.getBody().front();
    rewriter.setInsertionPointToEnd(&body);
    gpu::TerminatorOp::create(rewriter, loc);
    rewriter.setInsertionPointToStart(&body);
    Value blockId = merged.getBlockIds().x, threadId = merged.getThreadIds().x;
    // The bodies' constants, made once at the top of the merged body.
    OpBuilder top(rewriter.getContext());
    DenseMap<int64_t, Value> constants;
    auto index = [&](int64_t v) {
      Value &c = constants[v];
      if (!c) {
        top.setInsertionPointToStart(&body);
        c = arith::ConstantIndexOp::create(top, loc, v);
      }
      return c;
    };
    // A chain of ifs on the block id: body i for blocks [start, start + n);
    // for one-thread kernels, the bodies one after the other.
    int64_t start = 0;
    unsigned sharedAt = 0, localAt = 0;
    OpBuilder b = rewriter;
    for (size_t i = 0; i < group.size(); ++i) {
      Kernel &k = group[i];
      bool lastOne = inOrder || i + 1 == group.size();
      scf::IfOp choice;
      if (!lastOne) {
        Value inside = arith::CmpIOp::create(
            b, loc, arith::CmpIPredicate::ult, blockId,
            index(start + k.blocks));
        choice = scf::IfOp::create(b, loc, inside, /*withElseRegion=*/true);
        b.setInsertionPointToStart(choice.thenBlock());
      }
      {
        OpBuilder::InsertionGuard guard(b);
        Value local = start == 0 ? blockId
                                  : arith::SubIOp::create(b, loc, blockId,
                                                          index(start))
                                        .getResult();
        Value ids[3], tids[3];
        unflatten(b, local, k.grid, ids, index);
        if (k.threads != threads) {
          Value active = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                               threadId, index(k.threads));
          auto guardIf =
              scf::IfOp::create(b, loc, active, /*withElseRegion=*/false);
          b.setInsertionPointToStart(guardIf.thenBlock());
        }
        unflatten(b, threadId, k.block, tids, index);
        IRMapping mapping;
        gpu::LaunchOp from = k.launch;
        gpu::KernelDim3 fromBlocks = from.getBlockIds(),
                        fromThreads = from.getThreadIds(),
                        fromGrid = from.getGridSize(),
                        fromBlock = from.getBlockSize();
        Value gridValues[3], blockValues[3];
        for (int d = 0; d < 3; ++d) {
          gridValues[d] = index(k.grid[d]);
          blockValues[d] = index(k.block[d]);
        }
        auto mapDims = [&](gpu::KernelDim3 from, Value to[3]) {
          mapping.map(from.x, to[0]);
          mapping.map(from.y, to[1]);
          mapping.map(from.z, to[2]);
        };
        mapDims(fromBlocks, ids);
        mapDims(fromThreads, tids);
        mapDims(fromGrid, gridValues);
        mapDims(fromBlock, blockValues);
        for (BlockArgument a : from.getWorkgroupAttributions())
          mapping.map(a, merged.getWorkgroupAttributions()[sharedAt++]);
        for (BlockArgument a : from.getPrivateAttributions())
          mapping.map(a, merged.getPrivateAttributions()[localAt++]);
        for (Operation &op : from.getBody().front().without_terminator()) {
          Operation *copy = b.clone(op, mapping);
          // The id ops of the body (rather than the region's arguments).
          copy->walk([&](Operation *inner) {
            Value replacement;
            if (auto id = dyn_cast<gpu::BlockIdOp>(inner))
              replacement = ids[static_cast<int>(id.getDimension())];
            else if (auto id = dyn_cast<gpu::ThreadIdOp>(inner))
              replacement = tids[static_cast<int>(id.getDimension())];
            else if (auto dim = dyn_cast<gpu::GridDimOp>(inner))
              replacement = gridValues[static_cast<int>(dim.getDimension())];
            else if (auto dim = dyn_cast<gpu::BlockDimOp>(inner))
              replacement = blockValues[static_cast<int>(dim.getDimension())];
            if (replacement) {
              inner->getResult(0).replaceAllUsesWith(replacement);
              inner->erase();
            }
          });
        }
      }
      if (!lastOne)
        b.setInsertionPointToStart(choice.elseBlock());
      if (!inOrder)
        start += k.blocks;
    }
    for (const Kernel &k : group)
      rewriter.eraseOp(k.launch);
    group.clear();
  }

private:
  int64_t maxKernels;

  /// The 3-d position of `flat` in `extents`, x fastest (CUDA's order of
  /// block and thread ids); `flat` is less than their product.
  template <typename IndexFn>
  static void unflatten(OpBuilder &b, Value flat, const int64_t extents[3],
                        Value out[3], IndexFn &&index) {
    Location loc = flat.getLoc();
    Value rest = flat;
    for (int d = 0; d < 3; ++d) {
      bool last = d == 2 || llvm::all_of(ArrayRef(extents + d + 1, 2 - d),
                                         [](int64_t e) { return e == 1; });
      if (extents[d] == 1) {
        out[d] = index(0);
        continue;
      }
      if (last) {
        out[d] = rest;
        for (int e = d + 1; e < 3; ++e)
          out[e] = index(0);
        return;
      }
      out[d] = arith::RemUIOp::create(b, loc, rest, index(extents[d]));
      rest = arith::DivUIOp::create(b, loc, rest, index(extents[d]));
    }
  }
};

struct GPUMergeLaunchesPass
    : public mlir::kiln::impl::KilnGPUMergeLaunchesBase<GPUMergeLaunchesPass> {
  using Base::Base;

  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    int64_t maxBlocks = blocksPerMultiprocessor * multiprocessors;
    SmallVector<Block *> blocks;
    getOperation().walk([&](Block *block) {
      if (!block->getParentOp() ||
          !block->getParentOp()->getParentOfType<gpu::LaunchOp>())
        blocks.push_back(block);
    });
    for (Block *block : blocks) {
      Merger merger(maxKernels);
      for (Operation &op : llvm::make_early_inc_range(*block)) {
        auto launch = dyn_cast<gpu::LaunchOp>(op);
        if (!launch) {
          if (!canSinkPast(&op))
            merger.merge(rewriter);
          continue;
        }
        std::optional<Kernel> kernel = describe(launch, maxBlocks);
        if (!kernel) {
          merger.merge(rewriter);
          continue;
        }
        if (!merger.accepts(*kernel))
          merger.merge(rewriter);
        merger.group.push_back(std::move(*kernel));
      }
      merger.merge(rewriter);
    }
  }
};

} // namespace
