//===- CheckUniformity.cpp - Collective ops under uniform control flow ----===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln-gpu-check-uniformity: a barrier every thread of the block must reach,
// or a warp collective every lane must reach, under control flow whose
// condition may differ between those threads is refused (see the pass
// description).
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/GPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Matchers.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNGPUCHECKUNIFORMITY
#include "kiln/Codegen/GPU/Passes.h.inc"
} // namespace mlir::kiln

using namespace mlir;

namespace {

/// How widely a value is shared: by the whole block, by each warp, or by no
/// two threads for certain.
enum class Level { Block = 0, Warp = 1, Thread = 2 };

constexpr int64_t kWarp = 32;

Level join(Level a, Level b) { return a < b ? b : a; }

/// The analysis of one kernel.
class Uniformity {
public:
  explicit Uniformity(gpu::GPUFuncOp kernel) {
    // Warps are 32 consecutive linear thread ids (x fastest): with x's
    // extent a multiple of 32 (or the only extent), a warp lies in one row.
    if (std::optional<ArrayRef<int32_t>> block = kernel.getKnownBlockSize()) {
      ArrayRef<int32_t> size = *block;
      rowsHoldWarps = size.size() == 3 &&
                      (size[0] % kWarp == 0 || (size[1] == 1 && size[2] == 1));
      xHoldsWarps = size.size() == 3 && size[0] % kWarp == 0;
    }
    bool changed = true;
    while (changed) {
      changed = false;
      kernel.walk([&](Operation *op) { changed |= visit(op); });
    }
  }

  Level of(Value v) const {
    auto it = levels.find(v);
    return it == levels.end() ? Level::Block : it->second;
  }

private:
  /// Raises `v` to at least `level`; whether it changed.
  bool raise(Value v, Level level) {
    Level &current = levels[v];
    if (current >= level)
      return false;
    current = level;
    return true;
  }

  Level operandsLevel(Operation *op) const {
    Level level = Level::Block;
    for (Value v : op->getOperands())
      level = join(level, of(v));
    return level;
  }

  /// The level of what `region`'s terminators yield at `position`.
  Level yielded(Region &region, unsigned position) const {
    Level level = Level::Block;
    for (Block &block : region)
      if (Operation *term = block.getTerminator())
        if (term->hasTrait<OpTrait::ReturnLike>() &&
            position < term->getNumOperands())
          level = join(level, of(term->getOperand(position)));
    return level;
  }

  /// A thread id divided by a multiple of the warp's size.
  bool warpIndex(Operation *op) const {
    if (!isa<arith::DivUIOp, arith::DivSIOp, arith::ShRUIOp>(op))
      return false;
    auto id = op->getOperand(0).getDefiningOp<gpu::ThreadIdOp>();
    APInt divisor;
    if (!id || id.getDimension() != gpu::Dimension::x || !rowsHoldWarps ||
        !matchPattern(op->getOperand(1), m_ConstantInt(&divisor)))
      return false;
    if (isa<arith::ShRUIOp>(op))
      return divisor.getZExtValue() >= 5;
    return divisor.getZExtValue() > 0 &&
           divisor.getZExtValue() % kWarp == 0;
  }

  bool visit(Operation *op) {
    if (isa<gpu::GPUFuncOp>(op))
      return false; // (its arguments are the same in every thread)
    bool changed = false;
    auto all = [&](ValueRange values, Level level) {
      for (Value v : values)
        changed |= raise(v, level);
    };
    if (auto id = dyn_cast<gpu::ThreadIdOp>(op)) {
      bool row = id.getDimension() != gpu::Dimension::x && xHoldsWarps;
      all(op->getResults(), row ? Level::Warp : Level::Thread);
    } else if (isa<gpu::LaneIdOp, gpu::GlobalIdOp, gpu::ShuffleOp,
                   memref::AtomicRMWOp, memref::GenericAtomicRMWOp>(op)) {
      all(op->getResults(), Level::Thread);
    } else if (isa<gpu::SubgroupIdOp>(op)) {
      all(op->getResults(), Level::Warp);
    } else if (op->getName().getStringRef().starts_with(
                   "nvvm.read.ptx.sreg.")) {
      StringRef reg = op->getName().getStringRef().drop_front(
          strlen("nvvm.read.ptx.sreg."));
      bool block = reg.starts_with("ctaid") || reg.starts_with("nctaid") ||
                   reg.starts_with("ntid") || reg.starts_with("nclusterid") ||
                   reg.starts_with("clusterid");
      all(op->getResults(), block ? Level::Block : Level::Thread);
    } else if (warpIndex(op)) {
      all(op->getResults(), Level::Warp);
    } else if (auto loop = dyn_cast<scf::ForOp>(op)) {
      Level bounds = join(of(loop.getLowerBound()),
                          join(of(loop.getUpperBound()), of(loop.getStep())));
      changed |= raise(loop.getInductionVar(), bounds);
      for (auto [i, init] : llvm::enumerate(loop.getInitArgs())) {
        Level level = join(bounds, join(of(init), yielded(loop.getRegion(), i)));
        changed |= raise(loop.getRegionIterArgs()[i], level);
        changed |= raise(loop.getResult(i), level);
      }
    } else if (auto branch = dyn_cast<scf::IfOp>(op)) {
      for (unsigned i = 0; i < branch.getNumResults(); ++i)
        changed |= raise(branch.getResult(i),
                         join(of(branch.getCondition()),
                              join(yielded(branch.getThenRegion(), i),
                                   yielded(branch.getElseRegion(), i))));
    } else if (op->getNumRegions() > 0) {
      // Any other region op (scf.while, scf.index_switch, ...): everything
      // it defines at the level of everything it takes and yields.
      Level level = operandsLevel(op);
      for (Region &region : op->getRegions())
        for (Block &block : region)
          level = join(level, operandsLevel(block.getTerminator()));
      all(op->getResults(), level);
      for (Region &region : op->getRegions())
        for (Block &block : region)
          all(block.getArguments(), level);
    } else {
      all(op->getResults(), operandsLevel(op));
    }
    return changed;
  }

  DenseMap<Value, Level> levels;
  bool rowsHoldWarps = false, xHoldsWarps = false;
};

/// The level of threads `op` needs to agree: the block, a warp, or none.
std::optional<Level> collective(Operation *op) {
  StringRef name = op->getName().getStringRef();
  if (isa<gpu::BarrierOp>(op) || name.starts_with("nvvm.wgmma.") ||
      name.starts_with("nvvm.barrier"))
    return Level::Block;
  if (isa<gpu::ShuffleOp>(op) || name.starts_with("nvvm.mma.sync") ||
      name.starts_with("nvvm.ldmatrix") || name.starts_with("nvvm.shfl."))
    return Level::Warp;
  return std::nullopt;
}

/// What decides whether (or how often) the ops of `op`'s regions run.
SmallVector<Value> conditions(Operation *op) {
  if (auto branch = dyn_cast<scf::IfOp>(op))
    return {branch.getCondition()};
  if (auto loop = dyn_cast<scf::ForOp>(op))
    return {loop.getLowerBound(), loop.getUpperBound(), loop.getStep()};
  if (auto loop = dyn_cast<scf::WhileOp>(op))
    return {loop.getConditionOp().getCondition()};
  if (auto cases = dyn_cast<scf::IndexSwitchOp>(op))
    return {cases.getArg()};
  return llvm::to_vector(op->getOperands());
}

struct GPUCheckUniformityPass
    : public mlir::kiln::impl::KilnGPUCheckUniformityBase<
          GPUCheckUniformityPass> {
  void runOnOperation() override {
    bool failed = false;
    getOperation().walk([&](gpu::GPUFuncOp kernel) {
      if (!kernel.isKernel())
        return;
      Uniformity uniformity(kernel);
      kernel.walk([&](Operation *op) {
        std::optional<Level> needs = collective(op);
        if (!needs)
          return;
        for (Operation *parent = op->getParentOp(); parent != kernel;
             parent = parent->getParentOp()) {
          for (Value condition : conditions(parent)) {
            if (uniformity.of(condition) <= *needs)
              continue;
            InFlightDiagnostic diag = op->emitError()
                << "'" << op->getName() << "' in kernel @" << kernel.getName()
                << " runs under control flow that may differ between the "
                << (*needs == Level::Block ? "threads of a block"
                                           : "lanes of a warp")
                << ", which must all reach it";
            diag.attachNote(parent->getLoc())
                << "'" << parent->getName() << "' decides on a value that "
                << "depends on the thread";
            failed = true;
            return;
          }
        }
      });
    });
    if (failed)
      signalPassFailure();
  }
};

} // namespace
