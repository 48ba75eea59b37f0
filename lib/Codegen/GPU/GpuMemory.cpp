//===- GpuMemory.cpp - Which buffers of a GPU entry are GPU memory --------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "GpuMemory.h"

#include "GpuEntries.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

#include "llvm/ADT/SmallPtrSet.h"

using namespace mlir;

bool mlir::kiln::inKernelCode(Operation *op) {
  for (Operation *parent = op->getParentOp(); parent;
       parent = parent->getParentOp())
    if (isa<gpu::LaunchOp, linalg::LinalgOp>(parent))
      return true;
  return false;
}

bool mlir::kiln::isHostScratch(Operation *allocation) {
  SmallVector<Value> worklist{allocation->getResult(0)};
  while (!worklist.empty()) {
    Value value = worklist.pop_back_val();
    for (Operation *user : value.getUsers()) {
      if (auto cast = dyn_cast<memref::CastOp>(user)) {
        worklist.push_back(cast.getResult());
        continue;
      }
      if (kiln::inKernelCode(user))
        return false;
      // The extents of a reshape (tensor.reshape of an open shape), read on
      // the host to build the result's descriptor.
      if (auto reshape = dyn_cast<memref::ReshapeOp>(user)) {
        if (reshape.getShape() != value)
          return false;
        continue;
      }
      if (!isa<memref::LoadOp, memref::StoreOp, memref::DeallocOp,
               func::CallOp, gpu::MemcpyOp>(user))
        return false;
      // A function compiled for the GPU reads and writes it with kernels.
      if (auto call = dyn_cast<func::CallOp>(user)) {
        auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
            call, call.getCalleeAttr());
        if (!callee || kiln::isGpuFunction(callee))
          return false;
      }
      if (auto copy = dyn_cast<gpu::MemcpyOp>(user))
        if (copy.getDst() != value)
          return false;
    }
  }
  return true;
}

namespace {

bool traceGpuMemory(Value memref, llvm::SmallPtrSetImpl<Value> &seen);

/// The values a region argument or an op result of structured control
/// flow takes: the loop's initial values and what the regions yield.
SmallVector<Value> incoming(Value value) {
  SmallVector<Value> sources;
  if (auto arg = dyn_cast<BlockArgument>(value)) {
    Operation *parent = arg.getOwner()->getParentOp();
    if (auto loop = dyn_cast<scf::ForOp>(parent)) {
      if (arg.getArgNumber() > 0) {
        unsigned i = arg.getArgNumber() - 1;
        sources.push_back(loop.getInitArgs()[i]);
        sources.push_back(loop.getYieldedValues()[i]);
      }
    } else if (auto loop = dyn_cast<scf::WhileOp>(parent)) {
      unsigned i = arg.getArgNumber();
      if (arg.getOwner() == loop.getBeforeBody()) {
        sources.push_back(loop.getInits()[i]);
        sources.push_back(loop.getYieldOp().getResults()[i]);
      } else {
        sources.push_back(loop.getConditionOp().getArgs()[i]);
      }
    }
    return sources;
  }
  auto result = cast<OpResult>(value);
  Operation *op = result.getOwner();
  unsigned i = result.getResultNumber();
  if (auto branch = dyn_cast<scf::IfOp>(op)) {
    sources.push_back(branch.thenYield().getResults()[i]);
    if (!branch.getElseRegion().empty())
      sources.push_back(branch.elseYield().getResults()[i]);
  } else if (auto loop = dyn_cast<scf::ForOp>(op)) {
    sources.push_back(loop.getInitArgs()[i]);
    sources.push_back(loop.getYieldedValues()[i]);
  } else if (auto loop = dyn_cast<scf::WhileOp>(op)) {
    sources.push_back(loop.getConditionOp().getArgs()[i]);
  }
  return sources;
}

bool traceGpuMemory(Value memref, llvm::SmallPtrSetImpl<Value> &seen) {
  if (!seen.insert(memref).second)
    return false;
  if (auto arg = dyn_cast<BlockArgument>(memref)) {
    if (isa<func::FuncOp>(arg.getOwner()->getParentOp()))
      return true; // an input, output or variable of the entry
  } else {
    Operation *op = memref.getDefiningOp();
    if (isa<gpu::AllocOp>(op))
      return true;
    if (isa<memref::AllocOp, memref::AllocaOp>(op))
      return !kiln::isHostScratch(op);
    if (auto view = dyn_cast<ViewLikeOpInterface>(op))
      return traceGpuMemory(view.getViewSource(), seen);
    if (auto cast = dyn_cast<memref::CastOp>(op))
      return traceGpuMemory(cast.getSource(), seen);
    if (auto metadata = dyn_cast<memref::ExtractStridedMetadataOp>(op))
      return traceGpuMemory(metadata.getSource(), seen);
  }
  for (Value source : incoming(memref))
    if (traceGpuMemory(source, seen))
      return true;
  return false;
}

} // namespace

bool mlir::kiln::holdsGpuMemory(Value memref) {
  llvm::SmallPtrSet<Value, 8> seen;
  return traceGpuMemory(memref, seen);
}

gpu::LaunchOp mlir::kiln::createOneThreadLaunch(RewriterBase &rewriter,
                                                Location loc) {
  Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
  auto launch = gpu::LaunchOp::create(rewriter, loc, one, one, one, one, one,
                                      one);
  Block &body = launch.getBody().front();
  rewriter.setInsertionPointToEnd(&body);
  auto terminator = gpu::TerminatorOp::create(rewriter, loc);
  rewriter.setInsertionPoint(terminator);
  return launch;
}

Value mlir::kiln::createFlatLaunch(RewriterBase &rewriter, Location loc,
                                   Value count, int64_t threads) {
  Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
  Value size = arith::ConstantIndexOp::create(rewriter, loc, threads);
  // (At least one block: a grid of none is no launch.)
  Value blocks = rewriter.createOrFold<arith::MaxUIOp>(
      loc, rewriter.createOrFold<arith::CeilDivUIOp>(loc, count, size), one);
  auto launch =
      gpu::LaunchOp::create(rewriter, loc, blocks, one, one, size, one, one);
  rewriter.setInsertionPointToEnd(&launch.getBody().front());
  auto terminator = gpu::TerminatorOp::create(rewriter, loc);
  rewriter.setInsertionPoint(terminator);
  return arith::AddIOp::create(
      rewriter, loc,
      arith::MulIOp::create(rewriter, loc, launch.getBlockIds().x, size),
      launch.getThreadIds().x);
}

void mlir::kiln::runInOneThread(RewriterBase &rewriter, Operation *op) {
  rewriter.setInsertionPoint(op);
  gpu::LaunchOp launch = createOneThreadLaunch(rewriter, op->getLoc());
  rewriter.moveOpBefore(op, launch.getBody().front().getTerminator());
}

bool mlir::kiln::isEntryArgument(Value value) {
  auto arg = dyn_cast<BlockArgument>(value);
  if (!arg)
    return false;
  auto func = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
  return func && func->hasAttr("kiln.entry") && arg.getOwner()->isEntryBlock();
}

bool mlir::kiln::startsAligned(Value memref) {
  while (Operation *def = memref.getDefiningOp()) {
    if (isa<gpu::AllocOp, memref::AllocOp>(def))
      return true;
    if (auto collapse = dyn_cast<memref::CollapseShapeOp>(def))
      memref = collapse.getSrc();
    else if (auto expand = dyn_cast<memref::ExpandShapeOp>(def))
      memref = expand.getSrc();
    else if (auto cast = dyn_cast<memref::CastOp>(def))
      memref = cast.getSource();
    else
      return false;
  }
  return isEntryArgument(memref);
}

Value mlir::kiln::rootOf(Value memref) {
  while (Operation *def = memref.getDefiningOp()) {
    auto view = dyn_cast<ViewLikeOpInterface>(def);
    if (!view)
      break;
    memref = view.getViewSource();
  }
  return memref;
}

bool mlir::kiln::mayAlias(Value a, Value b) {
  if (a == b)
    return true;
  auto global = [](Value v) {
    auto get = v.getDefiningOp<memref::GetGlobalOp>();
    return get ? get.getNameAttr() : FlatSymbolRefAttr();
  };
  auto isAllocation = [](Value v) {
    Operation *def = v.getDefiningOp();
    return def && hasSingleEffect<MemoryEffects::Allocate>(def, v);
  };
  auto known = [&](Value v) {
    return global(v) || isAllocation(v) || kiln::isEntryArgument(v);
  };
  if (global(a) && global(b))
    return global(a) == global(b);
  if (known(a) && known(b))
    return false;
  // An allocation is new memory: no argument of its function holds it.
  auto isFunctionArgument = [](Value v) {
    auto arg = dyn_cast<BlockArgument>(v);
    return arg && isa<func::FuncOp>(arg.getOwner()->getParentOp()) &&
           arg.getOwner()->isEntryBlock();
  };
  return !((isAllocation(a) && isFunctionArgument(b)) ||
           (isAllocation(b) && isFunctionArgument(a)));
}

bool mlir::kiln::anyAlias(ArrayRef<Value> a, ArrayRef<Value> b) {
  for (Value x : a)
    for (Value y : b)
      if (mayAlias(x, y))
        return true;
  return false;
}
